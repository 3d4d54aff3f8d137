/* SPDX-License-Identifier: MIT */
/*
 * fuzz-expect.c - the expectations parser (--expect, conformance/expect.c) on arbitrary bytes,
 * against a small corpus of three cases.
 *
 * Properties: the result is 0, -EINVAL or -ENOMEM; every expectation kept is valid UTF-8 of
 * at most EXPECT_REASON_MAX bytes (it goes into every report); a skip always has a reason.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "expect.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char ids[][24] = { "x4-exit-0", "x1-root-identity", "b5-side-effects" };
	struct fixture cases[3] = { { .id = ids[0] }, { .id = ids[1] }, { .id = ids[2] } };
	struct corpus corpus = { .cases = cases, .n_cases = 3 };
	struct case_result results[3] = { 0 };
	bool skip[3] = { false };
	FILE *errors = fopen("/dev/null", "we");
	int r;

	FUZZ_CHECK(errors != NULL);
	r = expectations_parse((const char *)data, size, "fuzz.expect", &corpus, results, skip,
	                       errors);
	fclose(errors);
	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
	for (size_t k = 0; k < 3; k++) {
		const char *e = results[k].expectation;

		FUZZ_CHECK(!skip[k] || e != NULL);
		if (e) {
			FUZZ_CHECK(strlen(e) <= EXPECT_REASON_MAX);
			FUZZ_CHECK(fuzz_utf8_valid(e, strlen(e)));
		}
		free(results[k].expectation);
	}
	return 0;
}
