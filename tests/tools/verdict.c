/* SPDX-License-Identifier: MIT */
/*
 * verdict KIND FILE - the contract library's verdict on one document, as one JSON line:
 * {"valid":true} or {"valid":false,"reason":...,"member":...,"position":...,"text":...}.
 * KIND is request, status, event, result or events. Used by differential tests (the JSON
 * Schemas must agree) and when writing fixtures. Exit 0 with a verdict, 1 when FILE cannot be
 * read, 2 on usage errors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pikaci-contract.h"

static int event_parse(const char *bytes, size_t length, json_t **ret, struct pikaci_error *err)
{
	json_t *document =
	        json_loadb(bytes, length, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
	int r;

	if (!document) {
		pikaci_error_set(err, PIKACI_REASON_INVALID_JSON, NULL, -1, "not valid JSON");
		return -EINVAL;
	}
	r = pikaci_event_validate(document, err);
	json_decref(document);
	return r;
}

static int request_parse(const char *bytes, size_t length, json_t **ret, struct pikaci_error *err)
{
	struct pikaci_request *request = NULL;
	int r = pikaci_request_parse(bytes, length, &request, err);

	pikaci_request_free(request);
	return r;
}

static const struct {
	const char *kind;
	int (*parse)(const char *, size_t, json_t **, struct pikaci_error *);
} kinds[] = {
	{ "request", request_parse },      { "status", pikaci_status_parse },
	{ "event", event_parse },          { "result", pikaci_result_parse },
	{ "events", pikaci_events_parse },
};

int main(int argc, char **argv)
{
	struct pikaci_error err = { 0 };
	char *bytes = NULL;
	size_t length = 0;
	FILE *file;
	json_t *verdict;
	char *line;
	int r = -1;

	if (argc != 3) {
		fprintf(stderr, "usage: verdict request|status|event|result|events FILE\n");
		return 2;
	}
	file = fopen(argv[2], "rb");
	if (!file) {
		fprintf(stderr, "verdict: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	/* Read one byte past the request limit, so "too large" is seen as such. */
	bytes = malloc(PIKACI_REQUEST_MAX_BYTES * 4 + 2);
	if (!bytes)
		return 1;
	length = fread(bytes, 1, PIKACI_REQUEST_MAX_BYTES * 4 + 1, file);
	fclose(file);

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(argv[1], kinds[i].kind) == 0)
			r = kinds[i].parse(bytes, length, NULL, &err);
	free(bytes);
	if (r == -1) {
		fprintf(stderr, "verdict: unknown kind %s\n", argv[1]);
		return 2;
	}
	if (r == 0)
		verdict = json_pack("{s:b}", "valid", 1);
	else
		verdict = json_pack("{s:b, s:s, s:s, s:I, s:s}", "valid", 0, "reason",
		                    pikaci_reason_name(err.reason), "member", err.member,
		                    "position", (json_int_t)err.position, "text", err.text);
	line = json_dumps(verdict, JSON_COMPACT);
	puts(line);
	free(line);
	json_decref(verdict);
	return 0;
}
