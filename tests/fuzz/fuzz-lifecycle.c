/* SPDX-License-Identifier: MIT */
/*
 * fuzz-lifecycle.c - the lifecycle document parsers and the timestamp check on arbitrary bytes
 * ([L2]-[L4], §5 timestamps).
 *
 * Every input goes to each reader in turn, since one document is close to all of them: as
 * status.json, as result.json, as one event loaded by the caller (the way the runner and the
 * tests load events), as a whole events.jsonl stream, and as a timestamp. Properties: a
 * rejection is well-formed (fuzz.h) and leaves the out-parameter untouched; a valid document
 * dumps (pikaci_document_dump) to text that the same reader accepts and loads to an equal
 * document; a valid timestamp makes a valid status.json.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

typedef int (*document_parse_fn)(const char *bytes, size_t length, json_t **ret_document,
                                 struct pikaci_error *err);

/* A value no reader returns, to see that a rejection leaves *ret_document alone. */
static json_t *sentinel(void)
{
	static char byte;

	return (json_t *)&byte;
}

/* Parses bytes with parse; returns the document when valid, NULL when rejected. */
static json_t *parse_checked(document_parse_fn parse, const char *bytes, size_t length)
{
	json_t *document = sentinel();
	struct pikaci_error err;
	int r;

	fuzz_error_init(&err);
	r = parse(bytes, length, &document, &err);
	if (r < 0) {
		FUZZ_CHECK(document == sentinel());
		fuzz_check_rejection(r, &err, length);
		return NULL;
	}
	FUZZ_CHECK(r == 0 && document != sentinel() && document != NULL);
	return document;
}

/* A document parse accepted reads back, once dumped, as an equal document. */
static void check_document(document_parse_fn parse, const char *bytes, size_t length)
{
	json_t *document = parse_checked(parse, bytes, length);
	json_t *again;
	char *dump;

	if (!document)
		return;
	dump = pikaci_document_dump(document);
	if (dump) {
		again = parse_checked(parse, dump, strlen(dump));
		FUZZ_CHECK(again != NULL);
		FUZZ_CHECK(json_equal(document, again));
		json_decref(again);
		free(dump);
	}
	json_decref(document);
}

/* One event, loaded by the caller as tests/tools/verdict.c and the guest tests do. */
static void check_event(const char *bytes, size_t length)
{
	const size_t flags = JSON_REJECT_DUPLICATES | JSON_DECODE_ANY;
	struct pikaci_error err;
	json_t *document, *again;
	char *dump;
	int r;

	document = json_loadb(bytes, length, flags, NULL);
	if (!document)
		return;
	fuzz_error_init(&err);
	r = pikaci_event_validate(document, &err);
	if (r < 0) {
		fuzz_check_rejection(r, &err, length);
		json_decref(document);
		return;
	}
	FUZZ_CHECK(json_is_object(document));
	FUZZ_CHECK(json_integer_value(json_object_get(document, "seq")) >= 1);
	dump = pikaci_document_dump(document);
	if (dump) {
		again = json_loads(dump, flags, NULL);
		FUZZ_CHECK(again != NULL);
		FUZZ_CHECK(pikaci_event_validate(again, NULL) == 0);
		FUZZ_CHECK(json_equal(document, again));
		json_decref(again);
		free(dump);
	}
	json_decref(document);
}

/* A stream parse accepted is ordered, ends on its one terminal event, and reads back. */
static void check_events(const char *bytes, size_t length)
{
	json_t *events = parse_checked(pikaci_events_parse, bytes, length);
	json_t *event, *again;
	size_t index, total = 0;
	char *stream = NULL, *line;
	enum pikaci_state kind = _PIKACI_STATE_MAX;

	if (!events)
		return;
	FUZZ_CHECK(json_is_array(events) && json_array_size(events) >= 1);
	json_array_foreach(events, index, event)
	{
		char *grown;
		size_t n;

		FUZZ_CHECK(json_integer_value(json_object_get(event, "seq")) ==
		           (json_int_t)index + 1);
		FUZZ_CHECK(pikaci_state_parse(json_string_value(json_object_get(event, "kind")),
		                              &kind) == 0);
		FUZZ_CHECK(pikaci_state_is_terminal(kind) ==
		           (index + 1 == json_array_size(events)));
		line = pikaci_document_dump(event);
		if (!line)
			goto out;
		n = strlen(line);
		FUZZ_CHECK(memchr(line, '\n', n) == NULL);
		grown = realloc(stream, total + n + 1);
		if (!grown) {
			free(line);
			goto out;
		}
		stream = grown;
		memcpy(stream + total, line, n);
		stream[total + n] = '\n';
		total += n + 1;
		free(line);
	}
	again = parse_checked(pikaci_events_parse, stream, total);
	FUZZ_CHECK(again != NULL);
	FUZZ_CHECK(json_equal(events, again));
	json_decref(again);
out:
	free(stream);
	json_decref(events);
}

/* The input as one C string (cut at its first NUL) checked as a timestamp. */
static void check_timestamp(const char *bytes, size_t length)
{
	struct pikaci_error err;
	json_t *status;
	char *text, *dump;
	int r;

	text = strndup(bytes, length);
	if (!text)
		return;
	fuzz_error_init(&err);
	r = pikaci_timestamp_validate(text, &err);
	if (r < 0) {
		/* Even a text cut short is blamed on a byte within it, or its end. */
		fuzz_check_rejection(r, &err, strlen(text));
		free(text);
		return;
	}
	FUZZ_CHECK(r == 0);
	/* "YYYY-MM-DDTHH:MM:SSZ" is the shortest form. */
	FUZZ_CHECK(strlen(text) >= 20);
	status = pikaci_status_new(PIKACI_STATE_BOOTED, text, "fuzz", NULL);
	if (status) {
		FUZZ_CHECK(pikaci_status_validate(status, NULL) == 0);
		dump = pikaci_document_dump(status);
		if (dump) {
			json_t *again = parse_checked(pikaci_status_parse, dump, strlen(dump));

			FUZZ_CHECK(again != NULL);
			json_decref(again);
			free(dump);
		}
		json_decref(status);
	}
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *bytes = (const char *)data;

	check_document(pikaci_status_parse, bytes, size);
	check_document(pikaci_result_parse, bytes, size);
	check_event(bytes, size);
	check_events(bytes, size);
	check_timestamp(bytes, size);
	return 0;
}
