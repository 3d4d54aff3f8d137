/* SPDX-License-Identifier: MIT */
/* test-timestamp.c - RFC 3339 timestamps with offset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pikaci-contract.h"

static void test_valid_timestamps(void **state)
{
	static const char *const valid[] = {
		"2026-03-25T20:00:00+00:00",        "2026-03-25T20:00:00Z", "2026-03-25t20:00:00z",
		"2024-02-29T23:59:59.999999-07:30", "2016-12-31T23:59:60Z", "0001-01-01T00:00:00Z",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
		if (pikaci_timestamp_validate(valid[i], NULL) != 0)
			fail_msg("rejected %s", valid[i]);
}

static void test_invalid_timestamps(void **state)
{
	static const char *const invalid[] = {
		"",
		"2026-03-25",
		"2026-03-25 20:00:00Z",
		"2026-03-25T20:00:00",
		"2026-03-25T20:00:00+0000",
		"2025-02-29T00:00:00Z",
		"2026-13-01T00:00:00Z",
		"2026-04-31T00:00:00Z",
		"2026-03-25T24:00:00Z",
		"2026-03-25T20:00:00.Z",
		"2026-03-25T20:00:00Zjunk",
		"1774468800",
		"26-03-25T20:00:00Z",
	};
	struct pikaci_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		if (pikaci_timestamp_validate(invalid[i], &err) == 0)
			fail_msg("accepted %s", invalid[i]);
		assert_int_equal(err.reason, PIKACI_REASON_INVALID_VALUE);
	}
	assert_int_equal(pikaci_timestamp_validate(NULL, NULL), -EINVAL);
	/* The position of a text that stops short is its end, not past it. */
	assert_int_equal(pikaci_timestamp_validate("2026", &err), -EINVAL);
	assert_int_equal(err.position, 4);
	assert_int_equal(pikaci_timestamp_validate("2026-03-25T20", &err), -EINVAL);
	assert_int_equal(err.position, 13);
}

static void test_dump_is_valid(void **state)
{
	struct timespec when = { .tv_sec = 1774468800, .tv_nsec = 123456789 };
	char buffer[PIKACI_TIMESTAMP_LENGTH];

	(void)state;
	assert_int_equal(pikaci_timestamp_dump(&when, buffer, sizeof(buffer)), 0);
	assert_string_equal(buffer, "2026-03-25T20:00:00.123456Z");
	assert_int_equal(pikaci_timestamp_validate(buffer, NULL), 0);
	assert_int_equal(pikaci_timestamp_dump(&when, buffer, 10), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_timestamps),
		cmocka_unit_test(test_invalid_timestamps),
		cmocka_unit_test(test_dump_is_valid),
	};

	return cmocka_run_group_tests_name("timestamp", tests, NULL, NULL);
}
