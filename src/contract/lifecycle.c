/* SPDX-License-Identifier: MIT */
/* lifecycle.c - status.json, events.jsonl and result.json (CONTRACT §5). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract-private.h"

/* The state vocabulary, exactly; "passed" is deliberately absent. */
static const char *const state_names[_PIKACI_STATE_MAX] = {
	[PIKACI_STATE_REQUESTED] = "requested", [PIKACI_STATE_PROVISIONING] = "provisioning",
	[PIKACI_STATE_BOOTED] = "booted",       [PIKACI_STATE_UNREACHABLE] = "unreachable",
	[PIKACI_STATE_STOPPED] = "stopped",     [PIKACI_STATE_DESTROYED] = "destroyed",
	[PIKACI_STATE_STARTING] = "starting",   [PIKACI_STATE_READY] = "ready",
	[PIKACI_STATE_FAILED] = "failed",       [PIKACI_STATE_COMPLETED] = "completed",
};

PIKACI_EXPORT const char *pikaci_state_name(enum pikaci_state state)
{
	if ((unsigned)state >= _PIKACI_STATE_MAX)
		return NULL;
	return state_names[state];
}

PIKACI_EXPORT int pikaci_state_parse(const char *name, enum pikaci_state *ret_state)
{
	if (!name)
		return -EINVAL;
	for (unsigned i = 0; i < _PIKACI_STATE_MAX; i++) {
		if (strcmp(state_names[i], name) == 0) {
			*ret_state = (enum pikaci_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

PIKACI_EXPORT bool pikaci_state_is_terminal(enum pikaci_state state)
{
	return state == PIKACI_STATE_COMPLETED || state == PIKACI_STATE_FAILED;
}

/* --- Member checks ------------------------------------------------------------------------ */

static int check_state(const struct pikaci_field *f, const json_t *value, struct pikaci_error *err)
{
	enum pikaci_state state;

	if (pikaci_state_parse(json_string_value(value), &state) == 0)
		return 0;
	pikaci_error_set(err, PIKACI_REASON_INVALID_VALUE, f->name, -1,
	                 "\"%s\" is \"%.40s\", not a state of the vocabulary (requested, "
	                 "provisioning, booted, unreachable, stopped, destroyed, starting, ready, "
	                 "failed, completed)",
	                 f->name, json_string_value(value));
	return -EINVAL;
}

static int check_timestamp(const struct pikaci_field *f, const json_t *value,
                           struct pikaci_error *err)
{
	struct pikaci_error inner;

	if (pikaci_timestamp_validate(json_string_value(value), &inner) == 0)
		return 0;
	pikaci_error_set(err, PIKACI_REASON_INVALID_VALUE, f->name, -1, "\"%s\": %s", f->name,
	                 inner.text);
	return -EINVAL;
}

static int check_seq(const struct pikaci_field *f, const json_t *value, struct pikaci_error *err)
{
	if (json_integer_value(value) >= 1)
		return 0;
	pikaci_error_set(err, PIKACI_REASON_INVALID_VALUE, f->name, -1,
	                 "\"%s\" is %lld; sequence numbers start at 1", f->name,
	                 (long long)json_integer_value(value));
	return -EINVAL;
}

static int check_exit_code(const struct pikaci_field *f, const json_t *value,
                           struct pikaci_error *err)
{
	json_int_t code = json_integer_value(value);

	if (code >= INT_MIN && code <= INT_MAX)
		return 0;
	pikaci_error_set(err, PIKACI_REASON_INVALID_VALUE, f->name, -1,
	                 "\"%s\" is %lld, outside the range of an exit code", f->name,
	                 (long long)code);
	return -EINVAL;
}

static int check_result_status(const struct pikaci_field *f, const json_t *value,
                               struct pikaci_error *err)
{
	const char *status = json_string_value(value);

	if (strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0)
		return 0;
	pikaci_error_set(err, PIKACI_REASON_INVALID_VALUE, f->name, -1,
	                 "\"%s\" is \"%.40s\"; a result is \"completed\" or \"failed\"", f->name,
	                 status);
	return -EINVAL;
}

#define FIELD(name, kind, required, check)                                 \
	{                                                                  \
		name, PIKACI_KIND_##kind, required, PIKACI_NO_STORE, check \
	}

static const struct pikaci_field status_fields[] = {
	FIELD("schema_version", INTEGER, true, NULL),
	FIELD("state", STRING, true, check_state),
	FIELD("updated_at", STRING, true, check_timestamp),
	FIELD("message", STRING, true, NULL),
	FIELD("details", OBJECT, false, NULL),
	FIELD("boot_id", STRING, false, NULL),
};

static const struct pikaci_field event_fields[] = {
	FIELD("schema_version", INTEGER, true, NULL),
	FIELD("seq", INTEGER, true, check_seq),
	FIELD("kind", STRING, true, check_state),
	FIELD("timestamp", STRING, true, check_timestamp),
	FIELD("message", STRING, true, NULL),
	FIELD("details", OBJECT, false, NULL),
	FIELD("boot_id", STRING, false, NULL),
};

static const struct pikaci_field result_fields[] = {
	FIELD("schema_version", INTEGER, true, NULL),
	FIELD("status", STRING, true, check_result_status),
	FIELD("exit_code", INTEGER, true, check_exit_code),
	FIELD("finished_at", STRING, true, check_timestamp),
	FIELD("message", STRING, true, NULL),
	FIELD("details", OBJECT, false, NULL),
};

#define LIFECYCLE_SCHEMA(what_, fields_)                                                \
	{                                                                               \
		.what = what_, .version_member = "schema_version",                      \
		.version = PIKACI_LIFECYCLE_SCHEMA_VERSION, .fields = fields_,          \
		.n_fields = sizeof(fields_) / sizeof(fields_[0]), .unknown_hint = NULL, \
	}

static const struct pikaci_schema status_schema = LIFECYCLE_SCHEMA("status.json", status_fields);
static const struct pikaci_schema event_schema = LIFECYCLE_SCHEMA("event", event_fields);
static const struct pikaci_schema result_schema = LIFECYCLE_SCHEMA("result.json", result_fields);

/* --- Builders ----------------------------------------------------------------------------- */

/* Adds details (stolen) to document (stolen); NULL if either is missing when needed. */
static json_t *with_details(json_t *document, json_t *details)
{
	if (!document) {
		json_decref(details);
		return NULL;
	}
	if (details && json_object_set_new(document, "details", details) < 0) {
		json_decref(document);
		return NULL;
	}
	return document;
}

PIKACI_EXPORT json_t *pikaci_status_new(enum pikaci_state state, const char *updated_at,
                                        const char *message, json_t *details)
{
	const char *name = pikaci_state_name(state);

	if (!name || !updated_at || !message)
		return with_details(NULL, details);
	return with_details(json_pack("{s:i, s:s, s:s, s:s}", "schema_version",
	                              PIKACI_LIFECYCLE_SCHEMA_VERSION, "state", name, "updated_at",
	                              updated_at, "message", message),
	                    details);
}

PIKACI_EXPORT json_t *pikaci_event_new(long long seq, enum pikaci_state kind, const char *timestamp,
                                       const char *message, json_t *details)
{
	const char *name = pikaci_state_name(kind);

	if (!name || !timestamp || !message || seq < 1)
		return with_details(NULL, details);
	return with_details(json_pack("{s:i, s:I, s:s, s:s, s:s}", "schema_version",
	                              PIKACI_LIFECYCLE_SCHEMA_VERSION, "seq", (json_int_t)seq,
	                              "kind", name, "timestamp", timestamp, "message", message),
	                    details);
}

PIKACI_EXPORT json_t *pikaci_result_new(int exit_code, const char *finished_at, const char *message,
                                        json_t *details)
{
	if (!finished_at || !message)
		return with_details(NULL, details);
	return with_details(json_pack("{s:i, s:s, s:i, s:s, s:s}", "schema_version",
	                              PIKACI_LIFECYCLE_SCHEMA_VERSION, "status",
	                              exit_code == 0 ? "completed" : "failed", "exit_code",
	                              exit_code, "finished_at", finished_at, "message", message),
	                    details);
}

/* --- Validation and parsing ----------------------------------------------------------- */

PIKACI_EXPORT int pikaci_status_validate(const json_t *document, struct pikaci_error *err)
{
	return pikaci_schema_validate(&status_schema, document, false, NULL, err);
}

PIKACI_EXPORT int pikaci_event_validate(const json_t *document, struct pikaci_error *err)
{
	return pikaci_schema_validate(&event_schema, document, false, NULL, err);
}

PIKACI_EXPORT int pikaci_result_validate(const json_t *document, struct pikaci_error *err)
{
	const char *status;
	json_int_t code;
	int r;

	r = pikaci_schema_validate(&result_schema, document, false, NULL, err);
	if (r < 0)
		return r;
	/* [L4]: completed if and only if the exit code is 0. */
	status = json_string_value(json_object_get(document, "status"));
	code = json_integer_value(json_object_get(document, "exit_code"));
	if ((strcmp(status, "completed") == 0) != (code == 0)) {
		pikaci_error_set(err, PIKACI_REASON_INCONSISTENT, "status", -1,
		                 "result.json says \"%s\" with exit_code %lld; \"completed\" goes "
		                 "with exit code 0 and only with it",
		                 status, (long long)code);
		return -EINVAL;
	}
	return 0;
}

static int document_parse(const char *bytes, size_t length, const char *what,
                          int (*validate)(const json_t *, struct pikaci_error *),
                          json_t **ret_document, struct pikaci_error *err)
{
	json_t *document;
	long long bad;
	int r;

	if (length == 0) {
		pikaci_error_set(err, PIKACI_REASON_EMPTY, NULL, 0, "%s is empty", what);
		return -EINVAL;
	}
	bad = pikaci_utf8_invalid_offset(bytes, length);
	if (bad >= 0) {
		pikaci_error_set(err, PIKACI_REASON_INVALID_UTF8, NULL, bad,
		                 "%s is not valid UTF-8: byte 0x%02x at offset %lld", what,
		                 (unsigned char)bytes[bad], bad);
		return -EINVAL;
	}
	document = pikaci_json_load(bytes, length, 0, what, NULL, err);
	if (!document)
		return -EINVAL;
	r = validate(document, err);
	if (r < 0) {
		json_decref(document);
		return r;
	}
	if (ret_document)
		*ret_document = document;
	else
		json_decref(document);
	return 0;
}

PIKACI_EXPORT int pikaci_status_parse(const char *bytes, size_t length, json_t **ret_document,
                                      struct pikaci_error *err)
{
	return document_parse(bytes, length, "status.json", pikaci_status_validate, ret_document,
	                      err);
}

PIKACI_EXPORT int pikaci_result_parse(const char *bytes, size_t length, json_t **ret_document,
                                      struct pikaci_error *err)
{
	return document_parse(bytes, length, "result.json", pikaci_result_validate, ret_document,
	                      err);
}

/* Restates an error about one line of the stream with the line's number and offset. */
static int events_fail(struct pikaci_error *err, size_t line, size_t offset)
{
	char inner[PIKACI_ERROR_TEXT_LENGTH];

	if (err) {
		memcpy(inner, err->text, sizeof(inner));
		snprintf(err->text, sizeof(err->text), "events.jsonl line %zu: %.200s", line,
		         inner);
		err->position = (long long)offset;
	}
	return -EINVAL;
}

/*
 * Walks an events.jsonl stream one line at a time and hands each valid event to `each` (a
 * borrowed reference, released after the call): memory stays that of one line, whatever the
 * stream's length. Checks [L3]: whole lines, valid events, seq 1, 2, 3, ..., exactly one
 * terminal event, the last.
 */
int pikaci_events_foreach(const char *bytes, size_t length,
                          int (*each)(void *userdata, size_t index, const json_t *event,
                                      struct pikaci_error *err),
                          void *userdata, size_t *ret_count, struct pikaci_error *err)
{
	size_t offset = 0, line = 0;
	bool terminal_seen = false;

	if (length == 0) {
		pikaci_error_set(err, PIKACI_REASON_EMPTY, NULL, 0, "events.jsonl has no events");
		return -EINVAL;
	}
	if (length > PIKACI_LIFECYCLE_MAX_BYTES) {
		pikaci_error_set(err, PIKACI_REASON_TOO_LARGE, NULL, PIKACI_LIFECYCLE_MAX_BYTES,
		                 "events.jsonl is %zu bytes, over the %u a run can need", length,
		                 PIKACI_LIFECYCLE_MAX_BYTES);
		return -EINVAL;
	}
	while (offset < length) {
		const char *start = bytes + offset;
		const char *end = memchr(start, '\n', length - offset);
		enum pikaci_state kind;
		json_t *event = NULL;
		json_int_t seq;
		int r;

		line++;
		if (!end) {
			/* [B4]: each line is written whole, newline included. */
			pikaci_error_set(err, PIKACI_REASON_INVALID_JSON, NULL, (long long)offset,
			                 "the last line is not terminated by a newline (torn or "
			                 "partial write)");
			return events_fail(err, line, offset);
		}
		if (document_parse(start, (size_t)(end - start), "event", pikaci_event_validate,
		                   &event, err) < 0)
			return events_fail(err, line, offset);
		seq = json_integer_value(json_object_get(event, "seq"));
		pikaci_state_parse(json_string_value(json_object_get(event, "kind")), &kind);
		if (seq != (json_int_t)line) {
			pikaci_error_set(err, PIKACI_REASON_INVALID_VALUE, "seq", (long long)offset,
			                 "\"seq\" is %lld where %zu was due: seq starts at 1 and "
			                 "grows by exactly 1",
			                 (long long)seq, line);
			json_decref(event);
			return events_fail(err, line, offset);
		}
		if (terminal_seen) {
			pikaci_error_set(err, PIKACI_REASON_INCONSISTENT, "kind", (long long)offset,
			                 "event \"%s\" follows the terminal event; exactly one "
			                 "terminal event ends the stream",
			                 pikaci_state_name(kind));
			json_decref(event);
			return events_fail(err, line, offset);
		}
		terminal_seen = pikaci_state_is_terminal(kind);
		r = each ? each(userdata, line - 1, event, err) : 0;
		json_decref(event);
		if (r < 0)
			return r == -EINVAL ? events_fail(err, line, offset) : r;
		offset = (size_t)(end - bytes) + 1;
	}
	if (!terminal_seen) {
		pikaci_error_set(err, PIKACI_REASON_INCONSISTENT, "kind", (long long)length,
		                 "events.jsonl has no terminal event (completed or failed) after "
		                 "%zu event(s)",
		                 line);
		return -EINVAL;
	}
	if (ret_count)
		*ret_count = line;
	return 0;
}

static int events_append(void *userdata, size_t index, const json_t *event,
                         struct pikaci_error *err)
{
	(void)index;
	(void)err;
	return json_array_append(userdata, (json_t *)event) < 0 ? -ENOMEM : 0;
}

PIKACI_EXPORT int pikaci_events_parse(const char *bytes, size_t length, json_t **ret_events,
                                      struct pikaci_error *err)
{
	json_t *events = json_array();
	int r;

	if (!events)
		return -ENOMEM;
	r = pikaci_events_foreach(bytes, length, events_append, events, NULL, err);
	if (r == 0 && ret_events) {
		*ret_events = events;
		events = NULL;
	}
	json_decref(events);
	return r;
}

PIKACI_EXPORT char *pikaci_document_dump(const json_t *document)
{
	if (!document)
		return NULL;
	return json_dumps(document, JSON_COMPACT);
}
