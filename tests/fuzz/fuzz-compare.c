/* SPDX-License-Identifier: MIT */
/*
 * fuzz-compare.c - pikaci-conform compare (conformance/compare.c) on arbitrary reports: the
 * input's first half as BASE, its second half as HEAD, and the whole input against itself.
 *
 * Properties: the exit code is 0, 1 (a regression) or 2 (malformed), 99 only when memory runs
 * out; a report compared with itself never has a regression; the JSON output, when written,
 * is JSON.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "fuzz.h"
#include "runner.h"

/* Compares base with head, in JSON: the exit code, with the output checked. */
static int compare_checked(const char *base, size_t base_length, const char *head,
                           size_t head_length)
{
	char *out = NULL;
	size_t out_length = 0;
	FILE *stream = open_memstream(&out, &out_length);
	FILE *errors = fopen("/dev/null", "we");
	int code;

	FUZZ_CHECK(stream != NULL && errors != NULL);
	code = compare_bytes("base.json", base, base_length, "head.json", head, head_length, true,
	                     stream, errors);
	fclose(stream);
	fclose(errors);
	FUZZ_CHECK(code == 0 || code == 1 || code == 2 || code == 99);
	FUZZ_CHECK((code == 0 || code == 1) == (out_length > 0));
	if (out_length > 0) {
		json_t *doc = json_loadb(out, out_length, 0, NULL);

		FUZZ_CHECK(doc != NULL);
		json_decref(doc);
	}
	free(out);
	return code;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;

	compare_checked(text, size / 2, text + size / 2, size - size / 2);
	FUZZ_CHECK(compare_checked(text, size, text, size) != 1);
	return 0;
}
