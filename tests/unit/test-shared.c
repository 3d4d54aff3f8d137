/* SPDX-License-Identifier: MIT */
/* test-shared.c - the shared layer: files, arrays, buffers, time, error text, the sanitizer. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "shared.h"

struct folder {
	char path[64];
	char file[96];
};

static int folder_setup(void **state)
{
	struct folder *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->path, sizeof(f->path), "/tmp/test-shared.XXXXXX");
	if (!mkdtemp(f->path)) {
		free(f);
		return -1;
	}
	snprintf(f->file, sizeof(f->file), "%s/file", f->path);
	*state = f;
	return 0;
}

static int folder_teardown(void **state)
{
	struct folder *f = *state;
	char fifo[128];

	snprintf(fifo, sizeof(fifo), "%s/fifo", f->path);
	unlink(fifo);
	unlink(f->file);
	rmdir(f->path);
	free(f);
	return 0;
}

static void test_write_then_read(void **state)
{
	struct folder *f = *state;
	char *bytes = NULL;
	size_t length = 0;
	struct stat st;

	assert_int_equal(write_file(f->file, "hello\0world", 11, 0640), 0);
	assert_int_equal(stat(f->file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640 & ~(mode_t)022 & 0777);
	assert_int_equal(read_file(f->file, 100, &bytes, &length), 0);
	assert_int_equal(length, 11);
	assert_memory_equal(bytes, "hello\0world", 12);
	free(bytes);
}

/* program_find(): through PATH only an executable regular file, resolved; a path as it is. */
static void test_program_find(void **state)
{
	struct folder *f = *state;
	char *saved = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
	char *found, *expected;

	assert_int_equal(write_file(f->file, "#!/bin/sh\n", 10, 0644), 0);
	assert_int_equal(setenv("PATH", f->path, 1), 0);
	errno = 0;
	assert_null(program_find("file"));
	assert_int_equal(errno, EACCES); /* there, but not executable */
	errno = 0;
	assert_null(program_find("no-such-program"));
	assert_int_equal(errno, ENOENT);
	assert_int_equal(chmod(f->file, 0755), 0);
	expected = realpath(f->file, NULL);
	assert_non_null(expected);
	found = program_find("file");
	assert_non_null(found);
	assert_string_equal(found, expected);
	free(found);
	found = program_find(f->file); /* a path: resolved, not searched */
	assert_non_null(found);
	assert_string_equal(found, expected);
	free(found);
	free(expected);
	if (saved)
		setenv("PATH", saved, 1);
	else
		unsetenv("PATH");
	free(saved);
}

static void test_read_cap(void **state)
{
	struct folder *f = *state;
	char *bytes = (char *)"untouched";
	size_t length = 7;

	assert_int_equal(write_file(f->file, "0123456789", 10, 0644), 0);
	assert_int_equal(read_file(f->file, 9, &bytes, &length), -EFBIG);
	assert_string_equal(bytes, "untouched");
	assert_int_equal(length, 7);
	assert_int_equal(read_file(f->file, 10, &bytes, &length), 0);
	assert_int_equal(length, 10);
	free(bytes);
}

static void test_read_refuses_what_is_not_a_file(void **state)
{
	struct folder *f = *state;
	char fifo[128], *bytes = NULL;
	size_t length = 0;

	snprintf(fifo, sizeof(fifo), "%s/fifo", f->path);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	/* Would block forever without O_NONBLOCK and the fstat check. */
	assert_int_equal(read_file(fifo, 100, &bytes, &length), -EINVAL);
	assert_int_equal(read_file(f->path, 100, &bytes, &length), -EISDIR);
	assert_int_equal(read_file("/dev/zero", 100, &bytes, &length), -EINVAL);
	assert_int_equal(read_file("/nonexistent/x", 100, &bytes, &length), -ENOENT);
	assert_null(bytes);
	assert_string_equal(read_file_error(-EINVAL),
	                    "not a regular file (a FIFO, socket or device)");
	assert_string_equal(read_file_error(-EISDIR), "a folder, not a file");
	assert_string_equal(read_file_error(-EFBIG), "larger than its size limit");
	assert_string_equal(read_file_error(-ENOENT), strerror(ENOENT));
}

static void test_read_head(void **state)
{
	struct folder *f = *state;
	char head[4];

	assert_int_equal(write_file(f->file, "abcdef", 6, 0644), 0);
	/* The head, cut to fit and NUL-terminated; a short file whole. */
	assert_int_equal(read_file_head(f->file, head, sizeof(head)), 3);
	assert_string_equal(head, "abc");
	assert_int_equal(write_file(f->file, "x", 1, 0644), 0);
	assert_int_equal(read_file_head(f->file, head, sizeof(head)), 1);
	assert_string_equal(head, "x");
	/* A kernel file whose size says 0 is read all the same. */
	assert_true(read_file_head("/proc/self/stat", head, sizeof(head)) > 0);
	/* Refusals: as read_file()'s. */
	assert_int_equal(read_file_head(f->path, head, sizeof(head)), -EISDIR);
	assert_int_equal(read_file_head("/dev/null", head, sizeof(head)), -EINVAL);
	assert_int_equal(read_file_head("/nonexistent/x", head, sizeof(head)), -ENOENT);
}

static void test_read_error_is_an_error(void **state)
{
	char *bytes = NULL;
	size_t length = 0;
	int fd = open("/tmp", O_RDONLY | O_DIRECTORY);

	(void)state;
	/* A descriptor read(2) refuses: an error, never an empty success. */
	assert_true(fd >= 0);
	assert_int_equal(read_fd(fd, 100, &bytes, &length), -EISDIR);
	close(fd);
	assert_int_equal(read_fd(-1, 100, &bytes, &length), -EBADF);
	assert_null(bytes);
}

static void test_write_all_errors(void **state)
{
	int fd = open("/dev/full", O_WRONLY);

	(void)state;
	if (fd < 0)
		skip();
	assert_int_equal(write_all(fd, "x", 1), -ENOSPC);
	close(fd);
	assert_int_equal(write_all(-1, "x", 1), -EBADF);
	assert_int_equal(write_file("/nonexistent/x", "x", 1, 0644), -ENOENT);
	assert_int_equal(write_file("/dev/full", "x", 1, 0644), -ENOSPC);
}

static void test_array_grow(void **state)
{
	int *items = NULL;
	size_t capacity = 0;

	(void)state;
	assert_int_equal(ARRAY_GROW(items, capacity, 1), 0);
	assert_true(capacity >= 1);
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(ARRAY_GROW(items, capacity, (size_t)i + 1), 0);
		items[i] = i;
	}
	assert_true(capacity >= 1000);
	assert_int_equal(items[999], 999);
	/* Overflow is refused, the array kept. */
	assert_int_equal(ARRAY_GROW(items, capacity, SIZE_MAX / 2), -ENOMEM);
	assert_int_equal(items[999], 999);
	free(items);
}

static void test_buffer(void **state)
{
	struct buffer b = { 0 };
	size_t length = 0;
	char *text;

	(void)state;
	text = buffer_steal(&b, &length);
	assert_string_equal(text, "");
	assert_int_equal(length, 0);
	free(text);
	assert_int_equal(buffer_append(&b, "ab", 2), 0);
	assert_int_equal(buffer_printf(&b, "%d-%s", 42, "x"), 0);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(buffer_append(&b, "z", 1), 0);
	assert_int_equal(b.length, 2 + 4 + 10000);
	assert_memory_equal(b.data, "ab42-xz", 7);
	assert_int_equal(b.data[b.length], '\0');
	assert_int_equal(buffer_append(&b, "x", SIZE_MAX), -ENOMEM);
	text = buffer_steal(&b, &length);
	assert_int_equal(length, 10006);
	assert_null(b.data);
	free(text);
	buffer_clear(&b);
}

static void test_monotonic(void **state)
{
	double a = monotonic_seconds(), b;
	long long a_ms = monotonic_ms(), b_ms;

	(void)state;
	usleep(10000);
	b = monotonic_seconds();
	b_ms = monotonic_ms();
	assert_true(a > 0);
	assert_true(b - a >= 0.009);
	assert_true(b - a < 10);
	/* The two read the same clock (read one after the other, so under load a little apart). */
	assert_true(b_ms - a_ms >= 9);
	assert_true(b_ms - a_ms < 10000);
	assert_true(b_ms - (long long)(b * 1000) >= -1 && b_ms - (long long)(b * 1000) < 5000);
}

/* The quoting form: ASCII out, escapes whole, "..." when cut. */
static void test_sanitize_escaped(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(text_sanitize_escaped(out, sizeof(out), "a\"b\\c\nd", 7, 40), 10);
	assert_string_equal(out, "a\\\"b\\\\c\\nd");
	text_sanitize_escaped(out, sizeof(out), "\x00\t\xc3\xa9\x7f", 5, 40);
	assert_string_equal(out, "\\x00\\x09\\xc3\\xa9\\x7f");
	text_sanitize_escaped(out, sizeof(out), "abcdefgh", 8, 3);
	assert_string_equal(out, "abc...");
	text_sanitize_escaped(out, sizeof(out), "abc", 3, 3);
	assert_string_equal(out, "abc");
	/* A small buffer: never a torn escape, always terminated. */
	assert_true(text_sanitize_escaped(out, 12, "\x01\x02\x03\x04\x05", 5, 40) < 12);
	assert_string_equal(out, "\\x01");
	text_sanitize_escaped(out, 1, "abc", 3, 40);
	assert_string_equal(out, "");
}

static void test_error_format(void **state)
{
	char buf[8];

	(void)state;
	assert_int_equal(error_format(buf, sizeof(buf), -EIO, "%s", "abc"), -EIO);
	assert_string_equal(buf, "abc");
	/* "abcde" + "é" (2 bytes) + "x": cut to 7 bytes would split é; it is dropped. */
	assert_int_equal(error_format(buf, sizeof(buf), -1, "abcdef\xc3\xa9x"), -1);
	assert_true(text_is_valid(buf, strlen(buf)));
	assert_true(strncmp(buf, "abcdef", 6) == 0);
	/* Invalid bytes become U+FFFD as far as room allows. */
	error_format(buf, sizeof(buf), 0, "a\xffz");
	assert_string_equal(buf, "a\xef\xbf\xbdz");
	assert_int_equal(error_format(NULL, 0, -5, "x"), -5);
}

static void test_sanitize_valid_is_kept(void **state)
{
	static const char *const valid[] = {
		"",
		"plain ASCII # TODO \\ \n\t",
		"caf\xc3\xa9",
		"\xe2\x82\xac euro",
		"\xf0\x9f\x98\x80 emoji",
		"\xef\xbf\xbf",
		"\xf4\x8f\xbf\xbf",
	};
	char out[64];

	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(valid); i++) {
		assert_true(text_is_valid(valid[i], strlen(valid[i])));
		assert_int_equal(text_sanitize(out, sizeof(out), valid[i], strlen(valid[i]), NULL),
		                 strlen(valid[i]));
		assert_string_equal(out, valid[i]);
	}
}

static void test_sanitize_invalid_is_replaced(void **state)
{
	static const struct {
		const char *in;
		size_t length;
		const char *out;
	} cases[] = {
		{ "a\x80z", 3, "a\xef\xbf\xbdz" },             /* lone continuation */
		{ "\xc3", 1, "\xef\xbf\xbd" },                 /* cut inside */
		{ "\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd" }, /* overlong / */
		{ "\xe0\x80\xaf", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" }, /* overlong */
		{ "\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" }, /* surrogate */
		{ "\xf4\x90\x80\x80", 4,
		  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" }, /* above U+10FFFF */
		{ "\xff", 1, "\xef\xbf\xbd" },
		{ "a\0b", 3,
		  "a\xef\xbf\xbd"
		  "b" }, /* NUL */
	};
	char out[64];

	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		assert_false(text_is_valid(cases[i].in, cases[i].length));
		text_sanitize(out, sizeof(out), cases[i].in, cases[i].length, NULL);
		assert_string_equal(out, cases[i].out);
		assert_true(text_is_valid(out, strlen(out)));
	}
}

static void test_sanitize_cuts_on_boundaries(void **state)
{
	const char *in = "ab\xe2\x82\xac"
	                 "cd";
	char out[16];
	bool cut = false;

	(void)state;
	/* Room for 4 bytes: "ab" and not half of the euro sign. */
	assert_int_equal(text_sanitize(out, 5, in, strlen(in), &cut), 2);
	assert_string_equal(out, "ab");
	assert_true(cut);
	assert_int_equal(text_sanitize(out, 6, in, strlen(in), &cut), 5);
	assert_false(strcmp(out, "ab\xe2\x82\xac"));
	assert_true(cut);
	assert_int_equal(text_sanitize(out, sizeof(out), in, strlen(in), &cut), 7);
	assert_false(cut);
	assert_int_equal(text_sanitize(out, 1, in, strlen(in), &cut), 0);
	assert_string_equal(out, "");
}

static void test_sanitize_dup_and_in_place(void **state)
{
	char buffer[8] = "ab\xff";
	char *copy;

	(void)state;
	copy = text_sanitize_dup("x\xfey", 3, 100);
	assert_string_equal(copy, "x\xef\xbf\xbdy");
	free(copy);
	copy = text_sanitize_dup("\xe2\x82\xac\xe2\x82\xac", 6, 4);
	assert_string_equal(copy, "\xe2\x82\xac");
	free(copy);
	text_sanitize_in_place(buffer, sizeof(buffer));
	assert_string_equal(buffer, "ab\xef\xbf\xbd");
	/* An unterminated buffer is terminated within its size. */
	memcpy(buffer, "abcdefgh", 8);
	text_sanitize_in_place(buffer, sizeof(buffer));
	assert_string_equal(buffer, "abcdefg");
}

/* Every input, whatever its bytes, comes out valid and within size. */
static void test_sanitize_random(void **state)
{
	char in[64], out[48];

	(void)state;
	srand(7);
	for (int round = 0; round < 20000; round++) {
		size_t length = (size_t)rand() % sizeof(in), n;

		for (size_t i = 0; i < length; i++)
			in[i] = (char)(rand() % 4 == 0 ? 0x80 | rand() : rand());
		n = text_sanitize(out, sizeof(out), in, length, NULL);
		assert_true(n < sizeof(out));
		assert_int_equal(strlen(out), n);
		assert_true(text_is_valid(out, n));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_then_read, folder_setup,
		                                folder_teardown),
		cmocka_unit_test_setup_teardown(test_read_cap, folder_setup, folder_teardown),
		cmocka_unit_test_setup_teardown(test_program_find, folder_setup, folder_teardown),
		cmocka_unit_test_setup_teardown(test_read_refuses_what_is_not_a_file, folder_setup,
		                                folder_teardown),
		cmocka_unit_test_setup_teardown(test_read_head, folder_setup, folder_teardown),
		cmocka_unit_test(test_read_error_is_an_error),
		cmocka_unit_test(test_write_all_errors),
		cmocka_unit_test(test_array_grow),
		cmocka_unit_test(test_buffer),
		cmocka_unit_test(test_monotonic),
		cmocka_unit_test(test_sanitize_escaped),
		cmocka_unit_test(test_error_format),
		cmocka_unit_test(test_sanitize_valid_is_kept),
		cmocka_unit_test(test_sanitize_invalid_is_replaced),
		cmocka_unit_test(test_sanitize_cuts_on_boundaries),
		cmocka_unit_test(test_sanitize_dup_and_in_place),
		cmocka_unit_test(test_sanitize_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
