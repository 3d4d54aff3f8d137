/* SPDX-License-Identifier: MIT */
/*
 * shared.h - the small helpers every program of the project needs, written once: writing and
 * reading whole files, a growable array and a byte buffer, monotonic time, error buffers, and
 * the one sanitizer that turns bytes a guest controls into text any report can carry.
 *
 * libc only (no jansson, no libcurl), so that the guest could link it too. Functions that can
 * fail return 0 or a negative errno-style code and leave their ret_* out-parameters untouched
 * on failure.
 */
#ifndef PIKACI_SHARED_H
#define PIKACI_SHARED_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define ELEMENTSOF(array) (sizeof(array) / sizeof((array)[0]))

/* --- Files --------------------------------------------------------------------------------- */

/* Writes all of bytes to fd, retrying short writes and EINTR. 0, or -errno (-EIO for 0). */
int write_all(int fd, const void *bytes, size_t length);

/* Creates or truncates path with mode and writes bytes to it; the close's error counts too. */
int write_file(const char *path, const void *bytes, size_t length, mode_t mode);

/*
 * Reads the whole regular file at path, at most max bytes. On success *ret_bytes (caller frees)
 * holds the bytes plus a terminating NUL not counted in *ret_length. A read error is an error,
 * never a success with the bytes read so far. The file is opened with O_NONBLOCK and checked
 * with fstat before the first read, so a FIFO, a device or a folder is refused at once.
 *
 * Errors: -ENOENT and the other open(2) errors; -EISDIR for a folder; -EINVAL for any other
 * file that is not a regular file (FIFO, socket, device); -EFBIG when longer than max;
 * -ENOMEM; a read(2) error.
 */
int read_file(const char *path, size_t max, char **ret_bytes, size_t *ret_length);

/* The same on an open file descriptor (which it does not close). */
int read_fd(int fd, size_t max, char **ret_bytes, size_t *ret_length);

/*
 * Reads the first size - 1 bytes (at most) of the regular file at path into buffer, NUL-
 * terminated: for short kernel files (/proc, cgroupfs) read into a fixed buffer, where the rest
 * does not matter. The length read, or read_file()'s errors (but never -EFBIG).
 */
ssize_t read_file_head(const char *path, char *buffer, size_t size);

/* A reason for read_file()'s codes, worded for a person: "not a regular file", ... */
const char *read_file_error(int r);

/* --- A growable array ---------------------------------------------------------------------- */

/*
 * Makes room for at least `needed` items of item_size bytes in *array, which holds *capacity
 * items: grows geometrically, checks for overflow. 0 or -ENOMEM (then *array is unchanged).
 */
int array_grow(void *array, size_t *capacity, size_t needed, size_t item_size);

/* ARRAY_GROW(items, capacity, needed): array_grow() with the item size of *items. */
#define ARRAY_GROW(items, capacity, needed) \
	array_grow(&(items), &(capacity), (needed), sizeof(*(items)))

/* --- A byte buffer ------------------------------------------------------------------------- */

/* Bytes, always NUL-terminated once anything is appended. Zero-initialise; buffer_clear() frees. */
struct buffer {
	char *data;
	size_t length;
	size_t capacity;
};

int buffer_append(struct buffer *b, const void *bytes, size_t length);
int buffer_printf(struct buffer *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the bytes to the caller (never NULL on success: an empty buffer gives ""). */
char *buffer_steal(struct buffer *b, size_t *ret_length);
void buffer_clear(struct buffer *b);

/* --- Time ---------------------------------------------------------------------------------- */

/* Seconds on CLOCK_MONOTONIC: for durations and deadlines, never for dates. */
double monotonic_seconds(void);
/* Milliseconds on CLOCK_MONOTONIC, as an integer: for deadlines that must not lose precision. */
long long monotonic_ms(void);

/* --- Error buffers ------------------------------------------------------------------------- */

/*
 * Formats a message into errbuf (size bytes), cut on a character boundary and made valid UTF-8
 * like text_sanitize(), and returns code, so that `return error_format(buf, n, -EIO, ...)` both
 * says why and fails.
 */
int error_format(char *errbuf, size_t size, int code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
int error_vformat(char *errbuf, size_t size, int code, const char *fmt, va_list ap)
        __attribute__((format(printf, 4, 0)));

/* --- Guest-controlled text ----------------------------------------------------------------- */

/*
 * The one sanitizer of text a guest (or any untrusted party) controls.
 *
 * Copies `length` bytes of `in` into out (size bytes, size >= 1) as valid UTF-8 (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF): every byte that does not begin a
 * valid sequence, and every NUL, becomes U+FFFD REPLACEMENT CHARACTER (EF BF BD), one per byte.
 * The output is cut on a character boundary so that it fits in size - 1 bytes, and always
 * NUL-terminated. Other characters, control characters included, are kept: each report format
 * escapes what its syntax needs. Returns the output's length in bytes; sets *ret_cut (when not
 * NULL) to whether input was left out.
 */
size_t text_sanitize(char *out, size_t size, const char *in, size_t length, bool *ret_cut);

/* The same into fresh memory, at most max bytes (plus the NUL): caller frees; NULL on ENOMEM. */
char *text_sanitize_dup(const char *in, size_t length, size_t max);

/* Sanitizes the C string in buffer (size bytes) in place, cut to fit. */
void text_sanitize_in_place(char *buffer, size_t size);

/*
 * The sanitizer's quoting form, for a short excerpt inside a message: at most max bytes of in,
 * printable ASCII as is, `"` and `\` backslash-escaped, newline as `\n`, every other byte
 * (controls, NUL, anything above 0x7e) as `\xNN`, then "..." when input was left out. Output is
 * ASCII, cut on an escape's boundary to fit size (size >= 1), always NUL-terminated. Returns its
 * length.
 */
size_t text_sanitize_escaped(char *out, size_t size, const char *in, size_t length, size_t max);

/* Whether length bytes of in are valid UTF-8 by the rules above (a NUL counts as invalid). */
bool text_is_valid(const char *in, size_t length);

/*
 * The file program names, as execvp() would run it: its own path when it has a '/' (resolved
 * with realpath(), not otherwise checked), else the first executable regular file PATH names
 * (PATH unset: /usr/local/bin:/usr/bin:/bin; an empty entry is the current folder), resolved.
 * Caller frees. NULL with errno set: ENOENT (none), EACCES (a match in PATH that is not an
 * executable regular file) or what realpath() said.
 */
char *program_find(const char *program);

/*
 * Says on stderr what getopt_long() (opterr 0, an optstring starting with ':') refused, as
 * "PROGRAM: unknown option 'WORD'" or "PROGRAM: a value is missing after 'WORD'" (c is ':'),
 * the word as typed without its "=VALUE". Always -EINVAL.
 */
int option_problem(const char *program, int c, char *const *argv);

/*
 * Coverage builds: writes this process's gcov counters now, for a process about to die by a
 * signal or _exit(), which would not write them; nothing in other builds.
 */
void coverage_flush(void);

#endif
