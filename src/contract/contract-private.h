/* SPDX-License-Identifier: MIT */
/* contract-private.h - internals shared by the contract library's files; not installed. */
#ifndef PIKACI_CONTRACT_PRIVATE_H
#define PIKACI_CONTRACT_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include "pikaci-contract.h"

#define PIKACI_EXPORT __attribute__((visibility("default")))

/* JSON kinds a member can be declared with. */
enum pikaci_kind {
	PIKACI_KIND_INTEGER,
	PIKACI_KIND_STRING,
	PIKACI_KIND_BOOLEAN,
	PIKACI_KIND_OBJECT,
};

/* Marks a member that is validated but not copied into the output struct. */
#define PIKACI_NO_STORE ((size_t)-1)

/*
 * One member of a document: its name, JSON kind, whether it must be present, where a valid
 * value is stored in the output struct (integers as long long, strings as malloc'd char *,
 * booleans as bool), and an optional range check run after the kind matched.
 */
struct pikaci_field {
	const char *name;
	enum pikaci_kind kind;
	bool required;
	size_t offset;
	int (*check)(const struct pikaci_field *field, const json_t *value,
	             struct pikaci_error *err);
};

/* A document's shape: its version member (checked first) and its member table. */
struct pikaci_schema {
	const char *what; /* "request", "status.json", ... for messages */
	const char *version_member;
	long long version;
	const struct pikaci_field *fields;
	size_t n_fields;
	/* Extra message for an unknown member (e.g. a version-1 path field); may be NULL. */
	const char *(*unknown_hint)(const char *name);
};

/*
 * Validates object against schema: version first, then unknown members in document order,
 * then each table member in table order. With sentinels, strings that pikaci_overflow_sentinel()
 * recognises count as integers too large for 64 bits (used only on a patched request).
 * When ret is not NULL, valid members with an offset are stored into it; on failure, strings
 * already stored are freed again.
 */
int pikaci_schema_validate(const struct pikaci_schema *schema, const json_t *object, bool sentinels,
                           void *ret, struct pikaci_error *err);

/*
 * jansson refuses integers beyond 64 bits without saying where they stand. A request that has
 * one is parsed again with each such number replaced by a string of the same length: \x01
 * then 'p' (positive) or 'n' (negative) repeated. Positions in the input stay as they were,
 * and the checks still run in their order: a too-large schema_version is a version mismatch.
 * PIKACI_SENTINEL_MIN is the shortest such string; an overflowing integer has 19 digits or more.
 */
#define PIKACI_SENTINEL_MIN 11
/* 1 or -1 for a sentinel (its sign), 0 for any other value. */
int pikaci_overflow_sentinel(const json_t *value);

/* Integer value of a member (sentinels included, if asked); false when it is no integer. */
bool pikaci_json_integer(const json_t *value, bool sentinels, long long *ret_value,
                         bool *ret_overflow);

/* Name of a value's JSON kind for messages ("a string", "a real number", ...). */
const char *pikaci_json_kind_name(const json_t *value);

/* Short rendering of a value for messages; writes at most size bytes, NUL-terminated. */
void pikaci_json_render(const json_t *value, bool sentinels, char *buffer, size_t size);

/* Byte offset of the first invalid UTF-8 sequence, or -1 when all of it is valid. */
long long pikaci_utf8_invalid_offset(const char *bytes, size_t length);

/*
 * Loads a JSON document with duplicate members rejected; maps jansson's errors to reasons.
 * flags are added to JSON_REJECT_DUPLICATES | JSON_DECODE_ANY. *ret_number_overflow (if not
 * NULL) says whether the load failed on a number too large for jansson.
 */
json_t *pikaci_json_load(const char *bytes, size_t length, size_t flags, const char *what,
                         bool *ret_number_overflow, struct pikaci_error *err);

/*
 * Walks events.jsonl line by line ([L3]), handing each valid event (borrowed) to each, which
 * may stop the walk with a negative code; *ret_count is the number of events. See lifecycle.c.
 */
int pikaci_events_foreach(const char *bytes, size_t length,
                          int (*each)(void *userdata, size_t index, const json_t *event,
                                      struct pikaci_error *err),
                          void *userdata, size_t *ret_count, struct pikaci_error *err);

#endif
