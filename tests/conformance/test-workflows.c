/* SPDX-License-Identifier: MIT */
/*
 * test-workflows.c - workflows.c alone: --repeat's verdict over scripted runs (case_run() is
 * stubbed here), --shard's parsing and its stable split, --repeat's bounds, and the file
 * --update-expect writes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "runner.h"
#include "shared.h"

/* The statuses case_run() gives, one per call. */
static const char *const *script;
static size_t script_next;

json_t *case_run(const struct options *opt, const struct fixture *f)
{
	const char *status = script[script_next++];

	return json_pack("{s:s, s:s, s:f}", "status", status, "message",
	                 strcmp(status, "pass") == 0 ? "" : "it broke", "seconds", 0.5);
}

static json_t *repeated(long n, const char *const *statuses)
{
	struct options opt = { .repeat = n };
	struct fixture f = { .id = "x4-exit-0" };

	script = statuses;
	script_next = 0;
	return case_run_repeated(&opt, &f);
}

static void test_repeat_steady(void **state)
{
	static const char *const runs[] = { "fail", "fail", "fail" };
	json_t *d = repeated(3, runs);

	assert_non_null(d);
	assert_string_equal(json_string_value(json_object_get(d, "status")), "fail");
	assert_string_equal(json_string_value(json_object_get(d, "message")), "it broke");
	assert_int_equal(json_array_size(json_object_get(d, "runs")), 3);
	assert_int_equal(script_next, 3);
	json_decref(d);
}

static void test_repeat_flaky(void **state)
{
	static const char *const runs[] = { "pass", "pass", "timeout", "pass" };
	json_t *d = repeated(4, runs);

	assert_non_null(d);
	assert_string_equal(json_string_value(json_object_get(d, "status")), "flaky");
	assert_string_equal(json_string_value(json_object_get(d, "message")),
	                    "verdict changed across 4 runs (pass, pass, timeout, pass); the "
	                    "timeout: it broke");
	assert_string_equal(json_string_value(json_array_get(json_object_get(d, "runs"), 2)),
	                    "timeout");
	json_decref(d);
}

/* fail then timeout: both fail the run, but the verdict changed, so it is flaky too. */
static void test_repeat_two_failures(void **state)
{
	static const char *const runs[] = { "fail", "timeout" };
	json_t *d = repeated(2, runs);

	assert_string_equal(json_string_value(json_object_get(d, "status")), "flaky");
	json_decref(d);
}

static void test_repeat_parse(void **state)
{
	struct options opt = { .repeat = 1 };

	assert_int_equal(repeat_parse(&opt, "100"), 0);
	assert_int_equal(opt.repeat, 100);
	assert_int_equal(repeat_parse(&opt, "1"), 0);
	assert_int_equal(opt.repeat, 1);
	for (const char *const *bad = (const char *const[]){ "0", "101", "", "-3", "+3", " 3", "3x",
	                                                     "99999999999999999999", NULL };
	     *bad; bad++)
		assert_int_equal(repeat_parse(&opt, *bad), -EINVAL);
	assert_int_equal(opt.repeat, 1);
}

static void test_shard_parse(void **state)
{
	struct options opt = { 0 };

	assert_int_equal(shard_parse(&opt, "3/7"), 0);
	assert_int_equal(opt.shard_index, 3);
	assert_int_equal(opt.shard_count, 7);
	assert_int_equal(shard_parse(&opt, "1000/1000"), 0);
	for (const char *const *bad =
	             (const char *const[]){ "0/3", "4/3", "1/0", "3", "/3", "1/", "a/3", "1/b",
	                                    "1/1001", "1/3/", "-1/3",
	                                    "01234567890123456789012345678901234/9", NULL };
	     *bad; bad++)
		assert_int_equal(shard_parse(&opt, *bad), -EINVAL);
	assert_int_equal(opt.shard_index, 1000);
}

/* Every id in exactly one shard, for several shard counts; without --shard, in every run. */
static void test_shard_split(void **state)
{
	char id[32];

	for (unsigned long n = 1; n <= 9; n++) {
		size_t sizes[9] = { 0 };

		for (int k = 0; k < 500; k++) {
			size_t in = 0;

			snprintf(id, sizeof(id), "x4-case-%d", k);
			for (unsigned long i = 1; i <= n; i++) {
				struct options opt = { .shard_index = i, .shard_count = n };

				if (shard_selects(&opt, id)) {
					in++;
					sizes[i - 1]++;
				}
			}
			assert_int_equal(in, 1);
		}
		/* A hash, not a position: no shard is empty or holds most of 500 ids. */
		for (unsigned long i = 0; i < n; i++)
			assert_true(sizes[i] > 500 / n / 2 && sizes[i] < 500 / n * 2);
	}
	assert_true(shard_selects(&(struct options){ 0 }, "anything"));
}

static void test_update_expect(void **state)
{
	struct fixture f[5] = { { .id = "a-fails" },
		                { .id = "b-passes" },
		                { .id = "c-flaky" },
		                { .id = "d-xfail" },
		                { .id = "e-not-selected" } };
	struct case_result r[5] = {
		{ &f[0], STATUS_FAIL, json_pack("{s:s}", "message", "line one\nline two"), NULL },
		{ &f[1], STATUS_PASS, json_object(), NULL },
		{ &f[2], STATUS_FLAKY, json_object(), NULL },
		{ &f[3], STATUS_XFAIL, json_object(), "known since March" },
		{ &f[4], STATUS_FAIL, json_object(), NULL },
	};
	bool selected[5] = { true, true, true, true, false };
	char path[] = "/tmp/test-workflows-XXXXXX";
	int fd = mkstemp(path);
	char *text = NULL;
	size_t length;

	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(expect_update_write(path, r, selected, 5), 0);
	assert_int_equal(read_file(path, 1 << 20, &text, &length), 0);
	assert_non_null(strstr(text, "\na-fails fail line one line two\n"));
	assert_null(strstr(text, "b-passes"));
	assert_non_null(strstr(text, "\nc-flaky skip flaky (--repeat)\n"));
	assert_non_null(strstr(text, "\nd-xfail fail known since March\n"));
	assert_null(strstr(text, "e-not-selected"));
	free(text);
	unlink(path);
	assert_int_equal(expect_update_write("/nonexistent/folder/expect", r, selected, 5),
	                 EXIT_REPORT_FAILED);
	for (int i = 0; i < 5; i++)
		json_decref(r[i].detail);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_repeat_steady),       cmocka_unit_test(test_repeat_flaky),
		cmocka_unit_test(test_repeat_two_failures), cmocka_unit_test(test_repeat_parse),
		cmocka_unit_test(test_shard_parse),         cmocka_unit_test(test_shard_split),
		cmocka_unit_test(test_update_expect),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
