/* SPDX-License-Identifier: MIT */
/* shared.c - the helpers of shared.h: files, arrays, buffers, time, error text, sanitizing. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shared.h"

/* --- Files --------------------------------------------------------------------------------- */

int write_all(int fd, const void *bytes, size_t length)
{
	const char *p = bytes;

	while (length > 0) {
		ssize_t n = write(fd, p, length);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		length -= (size_t)n;
	}
	return 0;
}

int write_file(const char *path, const void *bytes, size_t length, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	int r;

	if (fd < 0)
		return -errno;
	r = write_all(fd, bytes, length);
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

int read_fd(int fd, size_t max, char **ret_bytes, size_t *ret_length)
{
	struct buffer b = { 0 };
	struct stat st;
	int r = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uintmax_t)st.st_size > max)
		return -EFBIG;
	/* The size is a hint: the file may grow or shrink while it is read. */
	if (array_grow(&b.data, &b.capacity, (size_t)st.st_size + 1, 1) < 0)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (b.capacity - b.length < 2 &&
		    array_grow(&b.data, &b.capacity, b.length + 4096, 1) < 0) {
			r = -ENOMEM;
			break;
		}
		n = read(fd, b.data + b.length, b.capacity - b.length - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		b.length += (size_t)n;
		if (b.length > max) {
			r = -EFBIG;
			break;
		}
	}
	if (r < 0) {
		buffer_clear(&b);
		return r;
	}
	b.data[b.length] = '\0';
	*ret_bytes = b.data;
	*ret_length = b.length;
	return 0;
}

int read_file(const char *path, size_t max, char **ret_bytes, size_t *ret_length)
{
	/* O_NONBLOCK: opening a FIFO must not wait for a writer before fstat can refuse it. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	int r;

	if (fd < 0)
		return -errno;
	r = read_fd(fd, max, ret_bytes, ret_length);
	close(fd);
	return r;
}

ssize_t read_file_head(const char *path, char *buffer, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	struct stat st;
	size_t length = 0;
	ssize_t r = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode))
		r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	while (r == 0 && length + 1 < size) {
		ssize_t n = read(fd, buffer + length, size - 1 - length);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = -errno;
		if (n <= 0)
			break;
		length += (size_t)n;
	}
	close(fd);
	if (r < 0)
		return r;
	if (size > 0)
		buffer[length] = '\0';
	return (ssize_t)length;
}

const char *read_file_error(int r)
{
	switch (r) {
	case -EINVAL:
		return "not a regular file (a FIFO, socket or device)";
	case -EISDIR:
		return "a folder, not a file";
	case -EFBIG:
		return "larger than its size limit";
	default:
		return strerror(-r);
	}
}

/* --- A growable array ---------------------------------------------------------------------- */

int array_grow(void *array, size_t *capacity, size_t needed, size_t item_size)
{
	void **items = array;
	size_t wanted = *capacity ? *capacity : 8;
	void *grown;

	if (needed <= *capacity)
		return 0;
	while (wanted < needed) {
		if (wanted > SIZE_MAX / 2)
			return -ENOMEM;
		wanted *= 2;
	}
	if (item_size && wanted > SIZE_MAX / item_size)
		return -ENOMEM;
	grown = realloc(*items, wanted * item_size);
	if (!grown)
		return -ENOMEM;
	*items = grown;
	*capacity = wanted;
	return 0;
}

/* --- A byte buffer ------------------------------------------------------------------------- */

int buffer_append(struct buffer *b, const void *bytes, size_t length)
{
	if (length > SIZE_MAX - b->length - 1)
		return -ENOMEM;
	if (array_grow(&b->data, &b->capacity, b->length + length + 1, 1) < 0)
		return -ENOMEM;
	if (length)
		memcpy(b->data + b->length, bytes, length);
	b->length += length;
	b->data[b->length] = '\0';
	return 0;
}

int buffer_printf(struct buffer *b, const char *fmt, ...)
{
	va_list ap;
	char *text = NULL;
	int n, r;

	va_start(ap, fmt);
	n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	r = buffer_append(b, text, (size_t)n);
	free(text);
	return r;
}

char *buffer_steal(struct buffer *b, size_t *ret_length)
{
	char *data;

	if (!b->data && buffer_append(b, "", 0) < 0)
		return NULL;
	data = b->data;
	if (ret_length)
		*ret_length = b->length;
	*b = (struct buffer){ 0 };
	return data;
}

void buffer_clear(struct buffer *b)
{
	free(b->data);
	*b = (struct buffer){ 0 };
}

/* --- Time ---------------------------------------------------------------------------------- */

double monotonic_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

long long monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- Error buffers ------------------------------------------------------------------------- */

int error_vformat(char *errbuf, size_t size, int code, const char *fmt, va_list ap)
{
	if (!errbuf || size == 0)
		return code;
	vsnprintf(errbuf, size, fmt, ap);
	text_sanitize_in_place(errbuf, size);
	return code;
}

int error_format(char *errbuf, size_t size, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vformat(errbuf, size, code, fmt, ap);
	va_end(ap);
	return code;
}

/* --- Guest-controlled text ----------------------------------------------------------------- */

static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */

/* The length of the valid UTF-8 character at p (at most `left` bytes), or 0 when invalid. */
static size_t character_length(const unsigned char *p, size_t left)
{
	unsigned char c = p[0];
	size_t n;
	uint32_t code;

	if (c == 0)
		return 0;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		code = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		code = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		code = c & 0x07;
	} else {
		return 0; /* a continuation byte, 0xc0/0xc1 (always overlong), or above 0xf4 */
	}
	if (left < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		code = (code << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && code < 0x800) || (n == 4 && code < 0x10000) || code > 0x10ffff ||
	    (code >= 0xd800 && code <= 0xdfff))
		return 0;
	return n;
}

size_t text_sanitize(char *out, size_t size, const char *in, size_t length, bool *ret_cut)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t o = 0, i = 0;

	while (i < length) {
		size_t n = character_length(p + i, length - i);
		const char *piece = n ? in + i : replacement;
		size_t piece_length = n ? n : sizeof(replacement) - 1;

		if (o + piece_length > size - 1)
			break;
		memcpy(out + o, piece, piece_length);
		o += piece_length;
		i += n ? n : 1;
	}
	out[o] = '\0';
	if (ret_cut)
		*ret_cut = i < length;
	return o;
}

char *text_sanitize_dup(const char *in, size_t length, size_t max)
{
	/* Each input byte gives at most three output bytes. */
	size_t size = length < (SIZE_MAX - 1) / 3 ? length * 3 + 1 : SIZE_MAX;
	char *out;

	if (size > max + 1)
		size = max + 1;
	out = malloc(size);
	if (out)
		text_sanitize(out, size, in, length, NULL);
	return out;
}

void text_sanitize_in_place(char *buffer, size_t size)
{
	size_t length = strnlen(buffer, size);
	char *copy;

	if (length == size) /* not terminated: the last byte becomes the terminator */
		length = size - 1;
	if (text_is_valid(buffer, length)) {
		buffer[length] = '\0';
		return;
	}
	copy = malloc(length + 1);
	if (!copy) {
		/* No memory for a copy: keep the ASCII prefix, which is valid. */
		size_t i = 0;

		while (i < length && (unsigned char)buffer[i] < 0x80)
			i++;
		buffer[i] = '\0';
		return;
	}
	memcpy(copy, buffer, length);
	text_sanitize(buffer, size, copy, length, NULL);
	free(copy);
}

size_t text_sanitize_escaped(char *out, size_t size, const char *in, size_t length, size_t max)
{
	size_t o = 0;

	/* 8 bytes of room: the longest escape (4) and the "..." with its NUL always fit. */
	for (size_t i = 0; i < length && i < max && o + 8 < size; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '\n')
			o += (size_t)snprintf(out + o, size - o, "\\n");
		else if (c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, size - o, "\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
	}
	if (length > max && o + 4 < size)
		o += (size_t)snprintf(out + o, size - o, "...");
	out[o] = '\0';
	return o;
}

bool text_is_valid(const char *in, size_t length)
{
	for (size_t i = 0; i < length;) {
		size_t n = character_length((const unsigned char *)in + i, length - i);

		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

#ifdef PIKACI_COVERAGE
void __gcov_dump(void);
#endif

void coverage_flush(void)
{
#ifdef PIKACI_COVERAGE
	__gcov_dump();
#endif
}

int option_problem(const char *program, int c, char *const *argv)
{
	const char *word = argv[optind - 1];
	int length = (int)strcspn(word, "=");
	const char *what = c == ':' ? "a value is missing after" : "unknown option";

	/* A short option inside a cluster (-xj2) is named alone. */
	if (optopt > 0 && optopt < 256 && strncmp(word, "--", 2) != 0)
		fprintf(stderr, "%s: %s '-%c'\n", program, what, optopt);
	else
		fprintf(stderr, "%s: %s '%.*s'\n", program, what, length, word);
	return -EINVAL;
}

char *program_find(const char *program)
{
	const char *search = getenv("PATH") ? getenv("PATH") : "/usr/local/bin:/usr/bin:/bin";
	int error = ENOENT;

	if (strchr(program, '/'))
		return realpath(program, NULL);
	for (;;) {
		size_t length = strcspn(search, ":");
		char candidate[PATH_MAX];
		struct stat st;

		if ((size_t)snprintf(candidate, sizeof(candidate), "%.*s/%s", (int)length,
		                     length ? search : ".", program) < sizeof(candidate) &&
		    stat(candidate, &st) == 0) {
			if (S_ISREG(st.st_mode) && access(candidate, X_OK) == 0)
				return realpath(candidate, NULL);
			error = EACCES;
		}
		if (!search[length])
			break;
		search += length + 1;
	}
	errno = error;
	return NULL;
}
