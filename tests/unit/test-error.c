/* SPDX-License-Identifier: MIT */
/* test-error.c - reason codes are stable strings; the error struct is filled predictably. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pikaci-contract.h"

static void test_reason_names_are_stable(void **state)
{
	(void)state;
	/* Hosts and reports match on these strings: changing one is a contract change. */
	assert_string_equal(pikaci_reason_name(PIKACI_REASON_UNSUPPORTED_SCHEMA_VERSION),
	                    "unsupported_schema_version");
	assert_string_equal(pikaci_reason_name(PIKACI_REASON_UNKNOWN_FIELD), "unknown_field");
	assert_string_equal(pikaci_reason_name(PIKACI_REASON_MISSING_FIELD), "missing_field");
	assert_string_equal(pikaci_reason_name(PIKACI_REASON_INVALID_TYPE), "invalid_type");
	assert_string_equal(pikaci_reason_name(PIKACI_REASON_INVALID_VALUE), "invalid_value");
	assert_string_equal(pikaci_reason_name(PIKACI_REASON_DUPLICATE_FIELD), "duplicate_field");
	assert_string_equal(pikaci_reason_name(PIKACI_REASON_INVALID_JSON), "invalid_json");
	assert_string_equal(pikaci_reason_name(PIKACI_REASON_INVALID_UTF8), "invalid_utf8");
	assert_string_equal(pikaci_reason_name(PIKACI_REASON_NOT_AN_OBJECT), "not_an_object");
	assert_string_equal(pikaci_reason_name(PIKACI_REASON_EMPTY), "empty_input");
	assert_string_equal(pikaci_reason_name(PIKACI_REASON_UNREADABLE), "unreadable");
	assert_string_equal(pikaci_reason_name(PIKACI_REASON_TOO_LARGE), "too_large");
	assert_string_equal(pikaci_reason_name(PIKACI_REASON_INCONSISTENT), "inconsistent");
	assert_null(pikaci_reason_name(_PIKACI_REASON_MAX));
}

static void test_reason_parse_round_trip(void **state)
{
	enum pikaci_reason reason = PIKACI_REASON_NONE;

	(void)state;
	for (int i = 0; i < _PIKACI_REASON_MAX; i++) {
		assert_int_equal(
		        pikaci_reason_parse(pikaci_reason_name((enum pikaci_reason)i), &reason), 0);
		assert_int_equal(reason, i);
	}
	assert_int_equal(pikaci_reason_parse("no_such_reason", &reason), -EINVAL);
	assert_int_equal(pikaci_reason_parse(NULL, &reason), -EINVAL);
}

static void test_error_set_fills_every_field(void **state)
{
	struct pikaci_error err;

	(void)state;
	pikaci_error_set(&err, PIKACI_REASON_INVALID_VALUE, "timeout_secs", 12, "is %d", 0);
	assert_int_equal(err.reason, PIKACI_REASON_INVALID_VALUE);
	assert_string_equal(err.member, "timeout_secs");
	assert_int_equal(err.position, 12);
	assert_string_equal(err.text, "is 0");
	pikaci_error_set(&err, PIKACI_REASON_EMPTY, NULL, -1, "x");
	assert_string_equal(err.member, "");
	pikaci_error_set(NULL, PIKACI_REASON_EMPTY, NULL, -1, "ignored");
}

static void test_error_member_escapes_control_bytes(void **state)
{
	struct pikaci_error err;

	(void)state;
	pikaci_error_set(&err, PIKACI_REASON_UNKNOWN_FIELD, "a\nb\\\xff", -1, "x");
	assert_string_equal(err.member, "a\\x0ab\\x5c\\xff");
}

static void test_error_text_is_truncated_not_overflowed(void **state)
{
	struct pikaci_error err;
	char long_text[1000];

	(void)state;
	memset(long_text, 'x', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	pikaci_error_set(&err, PIKACI_REASON_INVALID_JSON, NULL, -1, "%s", long_text);
	assert_int_equal(strlen(err.text), PIKACI_ERROR_TEXT_LENGTH - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reason_names_are_stable),
		cmocka_unit_test(test_reason_parse_round_trip),
		cmocka_unit_test(test_error_set_fills_every_field),
		cmocka_unit_test(test_error_member_escapes_control_bytes),
		cmocka_unit_test(test_error_text_is_truncated_not_overflowed),
	};

	return cmocka_run_group_tests_name("error", tests, NULL, NULL);
}
