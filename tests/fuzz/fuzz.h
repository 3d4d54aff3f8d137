/* SPDX-License-Identifier: MIT */
/*
 * fuzz.h - what the fuzz targets share: the libFuzzer entry point, which replay.c also calls,
 * and the checks every rejection must pass.
 *
 * A target reports a broken property with abort(), so libFuzzer, the sanitizers and the replay
 * tests all see it as a crash, with or without assertions compiled in.
 */
#ifndef PIKACI_FUZZ_H
#define PIKACI_FUZZ_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pikaci-contract.h"

/* Feeds one input to the target; always returns 0 (libFuzzer's convention). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(condition)                                                               \
	do {                                                                                \
		if (!(condition)) {                                                         \
			fprintf(stderr, "%s:%d: property broken: %s\n", __FILE__, __LINE__, \
			        #condition);                                                \
			abort();                                                            \
		}                                                                           \
	} while (0)

/* A fresh error struct: reason NONE, so a rejection that fills nothing is caught. */
static inline void fuzz_error_init(struct pikaci_error *err)
{
	memset(err, 0, sizeof(*err));
	err->position = -2;
}

/*
 * What every rejection owes its reader (STYLE "Errors are values with a place"): -EINVAL with
 * a stable reason, a printable member, a position that is a byte offset into the size bytes
 * read or -1, and a non-empty
 * text that is valid UTF-8, so it can go into a JSON document as it is. -ENOMEM fills nothing.
 */
static inline void fuzz_check_rejection(int r, const struct pikaci_error *err, size_t size)
{
	json_t *text;

	if (r == -ENOMEM)
		return;
	FUZZ_CHECK(r == -EINVAL);
	FUZZ_CHECK(err->reason > PIKACI_REASON_NONE && err->reason < _PIKACI_REASON_MAX);
	FUZZ_CHECK(pikaci_reason_name(err->reason) != NULL);
	FUZZ_CHECK(memchr(err->member, '\0', sizeof(err->member)) != NULL);
	for (const char *p = err->member; *p; p++)
		FUZZ_CHECK(*p >= 0x20 && *p < 0x7f);
	FUZZ_CHECK(err->position >= -1 && err->position <= (long long)size);
	FUZZ_CHECK(memchr(err->text, '\0', sizeof(err->text)) != NULL);
	FUZZ_CHECK(err->text[0] != '\0');
	/* jansson refuses to make a string of invalid UTF-8. */
	text = json_string(err->text);
	FUZZ_CHECK(text != NULL);
	json_decref(text);
}

/*
 * Inputs made of several files (the judge's, the host's, a fixture's) are split on this byte,
 * the ASCII record separator: part i is the bytes between the i-th and (i+1)-th separator.
 * Returns how many parts were found (at most max); a part missing from the input is NULL.
 */
#define FUZZ_SEPARATOR '\x1e'

struct fuzz_part {
	const char *bytes; /* NULL when the input has fewer parts */
	size_t length;
};

static inline size_t fuzz_split(const uint8_t *data, size_t size, struct fuzz_part *parts,
                                size_t max)
{
	const char *p = (const char *)data, *end = p + size;
	size_t n = 0;

	memset(parts, 0, max * sizeof(*parts));
	while (n < max) {
		const char *next = memchr(p, FUZZ_SEPARATOR, (size_t)(end - p));

		parts[n].bytes = p;
		parts[n].length = next ? (size_t)(next - p) : (size_t)(end - p);
		n++;
		if (!next)
			break;
		p = next + 1;
	}
	return n;
}

/* A NUL-terminated copy of a part (""), which the caller frees; aborts when out of memory. */
static inline char *fuzz_part_dup(const struct fuzz_part *part)
{
	char *copy = malloc(part->length + 1);

	FUZZ_CHECK(copy != NULL);
	if (part->length)
		memcpy(copy, part->bytes, part->length);
	copy[part->length] = '\0';
	return copy;
}

/* Whether length bytes are valid UTF-8 without NUL (the shared sanitizer's rule). */
static inline bool fuzz_utf8_valid(const char *bytes, size_t length)
{
	json_t *s = json_stringn(bytes, length);
	bool ok = s != NULL && memchr(bytes, '\0', length) == NULL;

	json_decref(s);
	return ok;
}

#endif
