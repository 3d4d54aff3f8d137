/* SPDX-License-Identifier: MIT */
/*
 * fuzz-request.c - the request parser on arbitrary bytes ([R1]-[R6]).
 *
 * Properties: a rejection is well-formed (fuzz.h); an accepted request dumps ([R7]) to text
 * that parses back to equal fields, through pikaci_request_parse, pikaci_request_validate and
 * pikaci_request_new alike; a rejection leaves *ret_request untouched.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static void check_same(const struct pikaci_request *a, const struct pikaci_request *b)
{
	FUZZ_CHECK(a->schema_version == PIKACI_REQUEST_SCHEMA_VERSION);
	FUZZ_CHECK(b->schema_version == a->schema_version);
	FUZZ_CHECK(strcmp(a->command, b->command) == 0);
	FUZZ_CHECK(a->timeout_secs == b->timeout_secs);
	FUZZ_CHECK(a->run_as_root == b->run_as_root);
}

/* The dump of an accepted request is itself an accepted request with the same fields. */
static void check_round_trip(const struct pikaci_request *request)
{
	struct pikaci_request *again = NULL, *validated = NULL, *built = NULL;
	struct pikaci_error err;
	json_t *document;
	char *dump;
	int r;

	FUZZ_CHECK(request->command && request->command[0] != '\0');
	FUZZ_CHECK(request->timeout_secs >= 1 && request->timeout_secs <= PIKACI_TIMEOUT_SECS_MAX);

	dump = pikaci_request_dump(request);
	if (!dump)
		return; /* out of memory */
	FUZZ_CHECK(strlen(dump) <= PIKACI_REQUEST_MAX_BYTES);

	fuzz_error_init(&err);
	r = pikaci_request_parse(dump, strlen(dump), &again, &err);
	if (r == -ENOMEM)
		goto out;
	if (r != 0)
		fprintf(stderr, "dump rejected: %s: %s\n", pikaci_reason_name(err.reason),
		        err.text);
	FUZZ_CHECK(r == 0);
	check_same(request, again);

	document = json_loads(dump, 0, NULL);
	if (document) {
		fuzz_error_init(&err);
		r = pikaci_request_validate(document, &validated, &err);
		json_decref(document);
		FUZZ_CHECK(r == 0 || r == -ENOMEM);
		if (r == 0)
			check_same(request, validated);
	}

	fuzz_error_init(&err);
	r = pikaci_request_new(request->command, request->timeout_secs, request->run_as_root,
	                       &built, &err);
	FUZZ_CHECK(r == 0 || r == -ENOMEM);
	if (r == 0)
		check_same(request, built);
out:
	pikaci_request_free(built);
	pikaci_request_free(validated);
	pikaci_request_free(again);
	free(dump);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pikaci_request sentinel = { 0 };
	struct pikaci_request *request = &sentinel;
	struct pikaci_error err;
	int r;

	fuzz_error_init(&err);
	r = pikaci_request_parse((const char *)data, size, &request, &err);
	if (r < 0) {
		FUZZ_CHECK(request == &sentinel);
		fuzz_check_rejection(r, &err, size);
		return 0;
	}
	FUZZ_CHECK(r == 0 && request != &sentinel && request != NULL);
	FUZZ_CHECK(size <= PIKACI_REQUEST_MAX_BYTES);
	check_round_trip(request);
	pikaci_request_free(request);
	return 0;
}
