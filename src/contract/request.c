/* SPDX-License-Identifier: MIT */
/* request.c - the run request, schema_version 2 (CONTRACT §2). */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "contract-private.h"

/* The five directory members of version 1 that version 2 removed. */
static const char *const version1_path_fields[] = {
	"workspace_dir", "cargo_home_dir", "target_dir", "xdg_state_home_dir", "home_dir",
};

static const char *request_unknown_hint(const char *name)
{
	for (size_t i = 0; i < sizeof(version1_path_fields) / sizeof(version1_path_fields[0]); i++)
		if (strcmp(name, version1_path_fields[i]) == 0)
			return ", a version-1 path field: in version 2 the guest image owns its "
			       "layout";
	return ": version 2 has exactly schema_version, command, timeout_secs and run_as_root";
}

static int check_command(const struct pikaci_field *f, const json_t *value,
                         struct pikaci_error *err)
{
	size_t length = json_string_length(value);
	const char *text = json_string_value(value);
	const char *nul;

	if (length == 0) {
		pikaci_error_set(err, PIKACI_REASON_INVALID_VALUE, f->name, -1,
		                 "\"%s\" is empty; it must name something to run", f->name);
		return -EINVAL;
	}
	nul = memchr(text, '\0', length);
	if (nul) {
		pikaci_error_set(err, PIKACI_REASON_INVALID_VALUE, f->name, -1,
		                 "\"%s\" contains a NUL character (\\u0000) at character offset "
		                 "%td; a shell command cannot carry one",
		                 f->name, nul - text);
		return -EINVAL;
	}
	return 0;
}

static int check_timeout(const struct pikaci_field *f, const json_t *value,
                         struct pikaci_error *err)
{
	long long seconds;
	bool overflow;
	char shown[48];

	/* The kind already matched: a string here can only be a too-large integer's sentinel. */
	pikaci_json_integer(value, true, &seconds, &overflow);
	if (!overflow && seconds >= 1 && seconds <= PIKACI_TIMEOUT_SECS_MAX)
		return 0;
	/* Only a rejection shows the value: rendering it is a json_dumps() (bench/). */
	pikaci_json_render(value, true, shown, sizeof(shown));
	if (!overflow && seconds < 1) {
		pikaci_error_set(err, PIKACI_REASON_INVALID_VALUE, f->name, -1,
		                 "\"%s\" is %s; it must be at least 1", f->name, shown);
		return -EINVAL;
	}
	/* [R6]: reject, never wrap. A negative overflow is below 1 as well. */
	if (overflow && seconds < 0)
		pikaci_error_set(err, PIKACI_REASON_INVALID_VALUE, f->name, -1,
		                 "\"%s\" is %s; it must be at least 1", f->name, shown);
	else
		pikaci_error_set(err, PIKACI_REASON_TOO_LARGE, f->name, -1,
		                 "\"%s\" is %s, more than %lld, the largest timeout this "
		                 "implementation represents exactly",
		                 f->name, shown, PIKACI_TIMEOUT_SECS_MAX);
	return -EINVAL;
}

#define REQUEST_FIELD(name, kind, member, check)                                               \
	{                                                                                      \
		name, PIKACI_KIND_##kind, true, offsetof(struct pikaci_request, member), check \
	}

/* Version 2's members, in the order they are checked and dumped. */
static const struct pikaci_field request_fields[] = {
	{ "schema_version", PIKACI_KIND_INTEGER, true, PIKACI_NO_STORE, NULL },
	REQUEST_FIELD("command", STRING, command, check_command),
	REQUEST_FIELD("timeout_secs", INTEGER, timeout_secs, check_timeout),
	REQUEST_FIELD("run_as_root", BOOLEAN, run_as_root, NULL),
};

static const struct pikaci_schema request_schema = {
	.what = "request",
	.version_member = "schema_version",
	.version = PIKACI_REQUEST_SCHEMA_VERSION,
	.fields = request_fields,
	.n_fields = sizeof(request_fields) / sizeof(request_fields[0]),
	.unknown_hint = request_unknown_hint,
};

static int request_validate(const json_t *document, bool sentinels,
                            struct pikaci_request **ret_request, struct pikaci_error *err)
{
	struct pikaci_request *request;
	int r;

	request = calloc(1, sizeof(*request));
	if (!request)
		return -ENOMEM;
	r = pikaci_schema_validate(&request_schema, document, sentinels, request, err);
	if (r < 0) {
		free(request);
		return r;
	}
	request->schema_version = PIKACI_REQUEST_SCHEMA_VERSION;
	if (ret_request)
		*ret_request = request;
	else
		pikaci_request_free(request);
	return 0;
}

PIKACI_EXPORT int pikaci_request_validate(const json_t *document,
                                          struct pikaci_request **ret_request,
                                          struct pikaci_error *err)
{
	return request_validate(document, false, ret_request, err);
}

/* At most this many too-large integers are stood in for; beyond, the first one is reported. */
#define OVERFLOW_PATCHES_MAX 16

/*
 * Replaces the too-large integer that ends at byte `end` (jansson's error position) with a
 * sentinel string of the same length (contract-private.h). False when the token there is not
 * a plain integer of at least PIKACI_SENTINEL_MIN characters (a real such as 1e999).
 */
static bool patch_overflow(char *bytes, size_t length, size_t end)
{
	size_t start = end;
	bool negative;

	if (end > length)
		return false;
	while (start > 0 &&
	       ((bytes[start - 1] >= '0' && bytes[start - 1] <= '9') || bytes[start - 1] == '-'))
		start--;
	negative = bytes[start] == '-';
	if (end - start < PIKACI_SENTINEL_MIN ||
	    (end < length && (bytes[end] == '.' || bytes[end] == 'e' || bytes[end] == 'E')))
		return false;
	for (size_t i = start + negative; i < end; i++)
		if (bytes[i] < '0' || bytes[i] > '9')
			return false;
	/* "\u0001" is six bytes of JSON for the one byte \x01. */
	bytes[start] = '"';
	memcpy(bytes + start + 1, "\\u0001", 6);
	memset(bytes + start + 7, negative ? 'n' : 'p', end - start - 8);
	bytes[end - 1] = '"';
	return true;
}

/*
 * jansson refuses integers beyond 64 bits outright, without saying which member held one. Each
 * is replaced by a sentinel of the same length and the document loaded again, so the member
 * can be named and the usual order of checks still holds (version first).
 */
static int request_validate_overflowing(const char *bytes, size_t length, struct pikaci_error *err)
{
	struct pikaci_error first = *err;
	json_t *document = NULL;
	char *copy = malloc(length ? length : 1);
	bool overflow = true;
	int r = -EINVAL;

	if (!copy)
		return -ENOMEM;
	memcpy(copy, bytes, length);
	for (int patches = 0; overflow && patches < OVERFLOW_PATCHES_MAX; patches++) {
		if (!patch_overflow(copy, length, (size_t)err->position))
			break;
		document =
		        pikaci_json_load(copy, length, JSON_ALLOW_NUL, "request", &overflow, err);
	}
	if (!document) {
		/* Another fault, found with the numbers out of the way, or one they still hide. */
		if (overflow)
			*err = first;
		goto out;
	}
	r = request_validate(document, true, NULL, err);
	if (r == 0) {
		/* Cannot happen: some member holds the sentinel. Stay on the safe side. */
		*err = first;
		r = -EINVAL;
	}
out:
	json_decref(document);
	free(copy);
	return r;
}

PIKACI_EXPORT int pikaci_request_parse(const char *bytes, size_t length,
                                       struct pikaci_request **ret_request,
                                       struct pikaci_error *err)
{
	struct pikaci_error local;
	long long bad;
	json_t *document;
	bool overflow;
	int r;

	if (!err)
		err = &local;
	if (!bytes && length > 0)
		return -EINVAL;
	if (length > PIKACI_REQUEST_MAX_BYTES) {
		pikaci_error_set(err, PIKACI_REASON_TOO_LARGE, NULL, PIKACI_REQUEST_MAX_BYTES,
		                 "request is %zu bytes, over the limit of %d bytes (1 MiB)", length,
		                 PIKACI_REQUEST_MAX_BYTES);
		return -EINVAL;
	}
	if (length == 0) {
		pikaci_error_set(err, PIKACI_REASON_EMPTY, NULL, 0, "request is empty (0 bytes)");
		return -EINVAL;
	}
	if (length >= 3 && memcmp(bytes, "\xef\xbb\xbf", 3) == 0) {
		pikaci_error_set(err, PIKACI_REASON_INVALID_JSON, NULL, 0,
		                 "request starts with a byte order mark (EF BB BF at byte 0); "
		                 "send UTF-8 JSON without one");
		return -EINVAL;
	}
	bad = pikaci_utf8_invalid_offset(bytes, length);
	if (bad >= 0) {
		pikaci_error_set(err, PIKACI_REASON_INVALID_UTF8, NULL, bad,
		                 "request is not valid UTF-8: byte 0x%02x at offset %lld",
		                 (unsigned char)bytes[bad], bad);
		return -EINVAL;
	}

	document = pikaci_json_load(bytes, length, JSON_ALLOW_NUL, "request", &overflow, err);
	if (!document)
		return overflow ? request_validate_overflowing(bytes, length, err) : -EINVAL;
	r = request_validate(document, false, ret_request, err);
	json_decref(document);
	return r;
}

PIKACI_EXPORT int pikaci_request_new(const char *command, long long timeout_secs, bool run_as_root,
                                     struct pikaci_request **ret_request, struct pikaci_error *err)
{
	json_t *document;
	json_t *command_value;
	long long bad;
	int r;

	if (!command) {
		pikaci_error_set(err, PIKACI_REASON_MISSING_FIELD, "command", -1,
		                 "request has no \"command\"");
		return -EINVAL;
	}
	bad = pikaci_utf8_invalid_offset(command, strlen(command));
	if (bad >= 0) {
		pikaci_error_set(err, PIKACI_REASON_INVALID_UTF8, "command", bad,
		                 "\"command\" is not valid UTF-8: byte 0x%02x at offset %lld",
		                 (unsigned char)command[bad], bad);
		return -EINVAL;
	}
	command_value = json_string(command);
	document = json_pack("{s:i, s:o?, s:I, s:b}", "schema_version",
	                     PIKACI_REQUEST_SCHEMA_VERSION, "command", command_value,
	                     "timeout_secs", (json_int_t)timeout_secs, "run_as_root", run_as_root);
	if (!document)
		return -ENOMEM;
	r = request_validate(document, false, ret_request, err);
	json_decref(document);
	return r;
}

PIKACI_EXPORT char *pikaci_request_dump(const struct pikaci_request *request)
{
	json_t *document;
	char *text;

	if (!request || !request->command)
		return NULL;
	/* [R7]: exactly the four members, version 2, whatever the struct says. */
	document =
	        json_pack("{s:i, s:s, s:I, s:b}", "schema_version", PIKACI_REQUEST_SCHEMA_VERSION,
	                  "command", request->command, "timeout_secs",
	                  (json_int_t)request->timeout_secs, "run_as_root", request->run_as_root);
	if (!document)
		return NULL;
	text = json_dumps(document, JSON_COMPACT);
	json_decref(document);
	return text;
}

PIKACI_EXPORT void pikaci_request_free(struct pikaci_request *request)
{
	if (!request)
		return;
	free(request->command);
	free(request);
}
