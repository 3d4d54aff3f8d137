/* SPDX-License-Identifier: MIT */
/* test-guest-argv.c - the one PIKACI_GUEST_WRAPPER parser (src/host/transport.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shared.h"
#include "transport.h"

static void test_no_wrapper(void **state)
{
	char *command[] = { "/bin/guest", "--flag" };
	char **argv = NULL;

	(void)state;
	assert_int_equal(pikaci_guest_argv_new(NULL, command, 2, &argv), 0);
	assert_string_equal(argv[0], "/bin/guest");
	assert_string_equal(argv[1], "--flag");
	assert_null(argv[2]);
	pikaci_guest_argv_free(argv);
	assert_int_equal(pikaci_guest_argv_new(" \t ", command, 1, &argv), 0);
	assert_string_equal(argv[0], "/bin/guest");
	assert_null(argv[1]);
	pikaci_guest_argv_free(argv);
}

static void test_words_split_on_spaces_and_tabs(void **state)
{
	char *command[] = { "/bin/guest" };
	char **argv = NULL;

	(void)state;
	assert_int_equal(pikaci_guest_argv_new("  valgrind\t--quiet   --error-exitcode=97 ",
	                                       command, 1, &argv),
	                 0);
	assert_string_equal(argv[0], "valgrind");
	assert_string_equal(argv[1], "--quiet");
	assert_string_equal(argv[2], "--error-exitcode=97");
	assert_string_equal(argv[3], "/bin/guest");
	assert_null(argv[4]);
	pikaci_guest_argv_free(argv);
}

/* No fixed limit: host.c used to stop at 60 words. */
static void test_many_words(void **state)
{
	struct buffer wrapper = { 0 };
	char **argv = NULL;
	size_t n = 0;

	(void)state;
	for (int i = 0; i < 500; i++)
		assert_int_equal(buffer_printf(&wrapper, "w%d ", i), 0);
	assert_int_equal(pikaci_guest_argv_new(wrapper.data, NULL, 0, &argv), 0);
	while (argv[n])
		n++;
	assert_int_equal(n, 500);
	assert_string_equal(argv[499], "w499");
	pikaci_guest_argv_free(argv);
	buffer_clear(&wrapper);
	pikaci_guest_argv_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_wrapper),
		cmocka_unit_test(test_words_split_on_spaces_and_tabs),
		cmocka_unit_test(test_many_words),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
