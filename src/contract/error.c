/* SPDX-License-Identifier: MIT */
/* error.c - reason codes and the error struct. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "contract-private.h"

static const char *const reason_names[_PIKACI_REASON_MAX] = {
	[PIKACI_REASON_NONE] = "none",
	[PIKACI_REASON_UNSUPPORTED_SCHEMA_VERSION] = "unsupported_schema_version",
	[PIKACI_REASON_UNKNOWN_FIELD] = "unknown_field",
	[PIKACI_REASON_MISSING_FIELD] = "missing_field",
	[PIKACI_REASON_INVALID_TYPE] = "invalid_type",
	[PIKACI_REASON_INVALID_VALUE] = "invalid_value",
	[PIKACI_REASON_DUPLICATE_FIELD] = "duplicate_field",
	[PIKACI_REASON_INVALID_JSON] = "invalid_json",
	[PIKACI_REASON_INVALID_UTF8] = "invalid_utf8",
	[PIKACI_REASON_NOT_AN_OBJECT] = "not_an_object",
	[PIKACI_REASON_EMPTY] = "empty_input",
	[PIKACI_REASON_UNREADABLE] = "unreadable",
	[PIKACI_REASON_TOO_LARGE] = "too_large",
	[PIKACI_REASON_INCONSISTENT] = "inconsistent",
};

PIKACI_EXPORT const char *pikaci_reason_name(enum pikaci_reason reason)
{
	if ((unsigned)reason >= _PIKACI_REASON_MAX)
		return NULL;
	return reason_names[reason];
}

PIKACI_EXPORT int pikaci_reason_parse(const char *name, enum pikaci_reason *ret_reason)
{
	if (!name)
		return -EINVAL;
	for (unsigned i = 0; i < _PIKACI_REASON_MAX; i++) {
		if (strcmp(reason_names[i], name) == 0) {
			*ret_reason = (enum pikaci_reason)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* Member names come from untrusted input: keep them printable, and mark a cut with "...". */
static void member_copy(char *dest, size_t size, const char *member)
{
	size_t out = 0;

	for (const unsigned char *p = (const unsigned char *)member; *p; p++) {
		char piece[5];
		size_t n;

		if (*p >= 0x20 && *p < 0x7f && *p != '\\') {
			piece[0] = (char)*p;
			n = 1;
		} else {
			n = (size_t)snprintf(piece, sizeof(piece), "\\x%02x", *p);
		}
		if (out + n + sizeof("...") > size) {
			memcpy(dest + out, "...", sizeof("..."));
			return;
		}
		memcpy(dest + out, piece, n);
		out += n;
	}
	dest[out] = '\0';
}

/*
 * The text quotes input (jansson's "near '...'"), and truncation can split a character: keep it
 * valid UTF-8, so it can go into JSON documents and terminals as it is.
 */
static void text_make_utf8(char *text)
{
	size_t length = strlen(text);
	long long bad;

	while ((bad = pikaci_utf8_invalid_offset(text, length)) >= 0)
		text[bad] = '?';
}

PIKACI_EXPORT void pikaci_error_set(struct pikaci_error *err, enum pikaci_reason reason,
                                    const char *member, long long position, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	err->reason = reason;
	err->member[0] = '\0';
	err->clause[0] = '\0';
	if (member)
		member_copy(err->member, sizeof(err->member), member);
	err->position = position;
	va_start(ap, fmt);
	vsnprintf(err->text, sizeof(err->text), fmt, ap);
	va_end(ap);
	text_make_utf8(err->text);
}
