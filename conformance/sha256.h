/* SPDX-License-Identifier: MIT */
/*
 * sha256.h - SHA-256 (FIPS 180-4) for the reports' identities: the guest executable's digest
 * and the corpus revision. Small and dependency-free: a digest is not worth a crypto library.
 */
#ifndef PIKACI_SHA256_H
#define PIKACI_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_SIZE 32
/* "sha256:" and 64 hex digits, NUL-terminated. */
#define SHA256_TEXT_SIZE (7 + 2 * SHA256_DIGEST_SIZE + 1)

struct sha256 {
	uint32_t state[8];
	uint64_t length; /* bytes hashed so far */
	unsigned char block[64];
	size_t used; /* bytes of block filled */
};

void sha256_init(struct sha256 *h);
void sha256_update(struct sha256 *h, const void *bytes, size_t length);
/* Finishes h and writes "sha256:HEX" into text (SHA256_TEXT_SIZE bytes). */
void sha256_text(struct sha256 *h, char text[SHA256_TEXT_SIZE]);

/* "sha256:HEX" of the file at path: 0, or a negative errno code (text untouched). */
int sha256_file(const char *path, char text[SHA256_TEXT_SIZE]);

#endif
