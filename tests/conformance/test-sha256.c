/* SPDX-License-Identifier: MIT */
/* test-sha256.c - the reports' SHA-256 against FIPS 180-4's examples (cmocka). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sha256.h"

static void digest_is(const void *bytes, size_t length, size_t chunk, const char *expected)
{
	struct sha256 h;
	char text[SHA256_TEXT_SIZE];
	const char *p = bytes;

	sha256_init(&h);
	for (size_t done = 0; done < length; done += chunk)
		sha256_update(&h, p + done, length - done < chunk ? length - done : chunk);
	sha256_text(&h, text);
	assert_string_equal(text, expected);
}

static void test_fips_examples(void **state)
{
	static const char two_blocks[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

	(void)state;
	digest_is("", 0, 1,
	          "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	digest_is("abc", 3, 3,
	          "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	/* 56 bytes: the length no longer fits the first block's padding. */
	for (size_t chunk = 1; chunk <= 64; chunk *= 2)
		digest_is(
		        two_blocks, strlen(two_blocks), chunk,
		        "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_million_a(void **state)
{
	char *a = malloc(1000000);

	(void)state;
	assert_non_null(a);
	memset(a, 'a', 1000000);
	digest_is(a, 1000000, 4096,
	          "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(a);
}

static void test_file(void **state)
{
	char path[] = "/tmp/test-sha256-XXXXXX";
	char text[SHA256_TEXT_SIZE] = "untouched";
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "abc", 3), 3);
	close(fd);
	assert_int_equal(sha256_file(path, text), 0);
	assert_string_equal(text, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f"
	                          "20015ad");
	unlink(path);
	/* A file that is not there: an error, and the text as it was. */
	strcpy(text, "untouched");
	assert_true(sha256_file(path, text) < 0);
	assert_string_equal(text, "untouched");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fips_examples),
		cmocka_unit_test(test_million_a),
		cmocka_unit_test(test_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
