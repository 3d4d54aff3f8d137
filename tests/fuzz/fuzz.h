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

#endif
