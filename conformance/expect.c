/* SPDX-License-Identifier: MIT */
/*
 * expect.c - the expectations file. A pattern is a case id or a glob over ids, the last line
 * that matches a case decides, and a pattern matching no case is an error (a typo must not
 * silently expect nothing). `pass` takes a case back out of an earlier glob.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"
#include "shared.h"

/* One line: 0, -EINVAL (said on errors) or -ENOMEM. */
static int expectation_line(char *line, const char *name, size_t number,
                            const struct corpus *corpus, struct case_result *results, bool *skip,
                            FILE *errors)
{
	char pattern[256], kind[16];
	int consumed = 0;
	size_t matched = 0;

	if (line[strspn(line, " \t\r")] == '#' || line[strspn(line, " \t\r")] == '\0')
		return 0;
	if (sscanf(line, " %255s %15s %n", pattern, kind, &consumed) < 2 || !line[consumed] ||
	    (strcmp(kind, "fail") != 0 && strcmp(kind, "skip") != 0 && strcmp(kind, "pass") != 0)) {
		fprintf(errors,
		        "pikaci-conform: %s:%zu: expected \"CASE-ID fail|skip|pass REASON\"\n",
		        name, number);
		return -EINVAL;
	}
	for (size_t k = 0; k < corpus->n_cases; k++) {
		char *reason = NULL;

		if (fnmatch(pattern, corpus->cases[k].id, 0) != 0)
			continue;
		matched++;
		if (strcmp(kind, "pass") != 0) {
			reason = text_sanitize_dup(line + consumed, strlen(line + consumed),
			                           EXPECT_REASON_MAX);
			if (!reason)
				return -ENOMEM;
		}
		free(results[k].expectation);
		results[k].expectation = reason;
		skip[k] = strcmp(kind, "skip") == 0;
	}
	if (!matched) {
		fprintf(errors, "pikaci-conform: %s:%zu: no case \"%s\" in the corpus\n", name,
		        number, pattern);
		return -EINVAL;
	}
	return 0;
}

int expectations_parse(const char *text, size_t length, const char *name,
                       const struct corpus *corpus, struct case_result *results, bool *skip,
                       FILE *errors)
{
	char *copy, *line, *next;
	size_t number = 0;
	int r = 0;

	if (memchr(text, '\0', length)) {
		fprintf(errors,
		        "pikaci-conform: cannot read %s (--expect): a text file has no NUL "
		        "byte\n",
		        name);
		return -EINVAL;
	}
	copy = strndup(text, length);
	if (!copy)
		return -ENOMEM;
	for (line = copy; *line; line = next) {
		int k;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		else
			next = line + strlen(line);
		number++;
		k = expectation_line(line, name, number, corpus, results, skip, errors);
		if (k == -ENOMEM) {
			r = k;
			break;
		}
		if (k < 0)
			r = k;
	}
	free(copy);
	return r;
}

int expectations_load(const char *path, const struct corpus *corpus, struct case_result *results,
                      bool *skip, FILE *errors)
{
	char *text = NULL;
	size_t length = 0;
	/* A FIFO, a device (/dev/zero) or a folder is refused before any read; a size cap. */
	int r = read_file(path, EXPECT_FILE_MAX, &text, &length);

	if (r < 0) {
		fprintf(errors, "pikaci-conform: cannot read %s (--expect): %s\n", path,
		        r == -EFBIG ? "larger than 1 MiB" : read_file_error(r));
		return r;
	}
	r = expectations_parse(text, length, path, corpus, results, skip, errors);
	free(text);
	return r;
}
