/* SPDX-License-Identifier: MIT */
/* json-util.c - loading with duplicate rejection, UTF-8 checks and value rendering. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "contract-private.h"

long long pikaci_utf8_invalid_offset(const char *bytes, size_t length)
{
	const unsigned char *s = (const unsigned char *)bytes;
	size_t i = 0;

	while (i < length) {
		unsigned char c = s[i];
		size_t need;
		unsigned char lo = 0x80, hi = 0xbf;

		if (c < 0x80) {
			/* ASCII, nearly all of a request: 8 bytes at a time (bench/). */
			uint64_t word;

			for (i++; length - i >= sizeof(word); i += sizeof(word)) {
				memcpy(&word, s + i, sizeof(word));
				if (word & UINT64_C(0x8080808080808080))
					break;
			}
			continue;
		}
		/* RFC 3629 table: no overlongs, no surrogates, nothing above U+10FFFF. */
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else {
			return (long long)i;
		}
		if (length - i <= need)
			return (long long)i;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return (long long)i;
		for (size_t k = 2; k <= need; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return (long long)i;
		i += need + 1;
	}
	return -1;
}

const char *pikaci_json_kind_name(const json_t *value)
{
	switch (json_typeof(value)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number with a fraction or exponent";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "an unknown value";
}

void pikaci_json_render(const json_t *value, bool sentinels, char *buffer, size_t size)
{
	char *text;

	if (sentinels && pikaci_overflow_sentinel(value)) {
		snprintf(buffer, size, "an integer beyond 64 bits");
		return;
	}
	text = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT | JSON_ALLOW_NUL);

	if (!text) {
		snprintf(buffer, size, "%s", pikaci_json_kind_name(value));
		return;
	}
	if (strlen(text) >= size && size > 4)
		snprintf(buffer, size, "%.*s...", (int)(size - 4), text);
	else
		snprintf(buffer, size, "%s", text);
	free(text);
}

int pikaci_overflow_sentinel(const json_t *value)
{
	const char *text = json_string_value(value);
	size_t length = json_string_length(value);

	if (!text || length < PIKACI_SENTINEL_MIN || text[0] != '\x01' ||
	    (text[1] != 'p' && text[1] != 'n'))
		return 0;
	for (size_t i = 2; i < length; i++)
		if (text[i] != text[1])
			return 0;
	return text[1] == 'p' ? 1 : -1;
}

bool pikaci_json_integer(const json_t *value, bool sentinels, long long *ret_value,
                         bool *ret_overflow)
{
	int sign;

	*ret_overflow = false;
	if (json_is_integer(value)) {
		*ret_value = json_integer_value(value);
		return true;
	}
	sign = sentinels ? pikaci_overflow_sentinel(value) : 0;
	if (sign) {
		*ret_overflow = true;
		*ret_value = sign > 0 ? LLONG_MAX : LLONG_MIN;
		return true;
	}
	return false;
}

/* jansson names the offending token in its text as "... near '<token>'". */
static bool duplicate_key_name(const json_error_t *jerr, char *buffer, size_t size)
{
	const char *near = strstr(jerr->text, " near '");
	json_t *key;
	size_t length;

	if (!near)
		return false;
	near += strlen(" near '");
	length = strlen(near);
	if (length < 3 || near[length - 1] != '\'')
		return false;
	key = json_loadb(near, length - 1, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (!json_is_string(key)) {
		json_decref(key);
		return false;
	}
	snprintf(buffer, size, "%s", json_string_value(key));
	json_decref(key);
	return true;
}

json_t *pikaci_json_load(const char *bytes, size_t length, size_t flags, const char *what,
                         bool *ret_number_overflow, struct pikaci_error *err)
{
	json_error_t jerr;
	json_t *document;
	char key[PIKACI_ERROR_MEMBER_LENGTH * 2];

	if (ret_number_overflow)
		*ret_number_overflow = false;
	document =
	        json_loadb(bytes, length, flags | JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (document)
		return document;

	switch (json_error_code(&jerr)) {
	case json_error_duplicate_key:
		if (duplicate_key_name(&jerr, key, sizeof(key)))
			pikaci_error_set(err, PIKACI_REASON_DUPLICATE_FIELD, key, jerr.position,
			                 "%s has member \"%s\" twice (byte %d): two readers could "
			                 "see different values",
			                 what, key, jerr.position);
		else
			pikaci_error_set(err, PIKACI_REASON_DUPLICATE_FIELD, NULL, jerr.position,
			                 "%s has a duplicate member near byte %d", what,
			                 jerr.position);
		break;
	case json_error_numeric_overflow:
		if (ret_number_overflow)
			*ret_number_overflow = true;
		pikaci_error_set(err, PIKACI_REASON_TOO_LARGE, NULL, jerr.position,
		                 "%s has a number too large to represent exactly: %s (byte %d)",
		                 what, jerr.text, jerr.position);
		break;
	case json_error_invalid_utf8:
		pikaci_error_set(err, PIKACI_REASON_INVALID_UTF8, NULL, jerr.position,
		                 "%s is not valid UTF-8: %s (byte %d)", what, jerr.text,
		                 jerr.position);
		break;
	default:
		pikaci_error_set(err, PIKACI_REASON_INVALID_JSON, NULL, jerr.position,
		                 "%s is not valid JSON: %s (line %d, column %d, byte %d)", what,
		                 jerr.text, jerr.line, jerr.column, jerr.position);
		break;
	}
	return NULL;
}
