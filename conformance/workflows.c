/* SPDX-License-Identifier: MIT */
/*
 * workflows.c - what CI and a guest's maintainers do around a run: --repeat (find flaky cases),
 * --shard (split the corpus across CI jobs) and --update-expect (write the expectations file
 * that accepts today's failures).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner.h"
#include "shared.h"

/* Bounds (README "Limits"): a hundred runs of each case, a thousand shards. */
#define REPEAT_MAX      100
#define SHARD_COUNT_MAX 1000

/* A whole decimal number from 1 to max, or -EINVAL. */
static int number_parse(const char *text, unsigned long max, unsigned long *ret)
{
	char *end;
	unsigned long value;

	if (!text[0] || text[0] < '0' || text[0] > '9')
		return -EINVAL;
	errno = 0;
	value = strtoul(text, &end, 10);
	if (*end || errno || value < 1 || value > max)
		return -EINVAL;
	*ret = value;
	return 0;
}

int repeat_parse(struct options *opt, const char *arg)
{
	unsigned long n;

	if (number_parse(arg, REPEAT_MAX, &n) < 0) {
		fprintf(stderr,
		        "pikaci-conform: --repeat takes a number from 1 to %d, not \"%s\"\n",
		        REPEAT_MAX, arg);
		return -EINVAL;
	}
	opt->repeat = (long)n;
	return 0;
}

int shard_parse(struct options *opt, const char *arg)
{
	const char *slash = strchr(arg, '/');
	char index[32];
	unsigned long i, n;

	if (!slash || (size_t)(slash - arg) >= sizeof(index)) {
		fprintf(stderr, "pikaci-conform: --shard takes I/N (e.g. 2/4), not \"%s\"\n", arg);
		return -EINVAL;
	}
	memcpy(index, arg, (size_t)(slash - arg));
	index[slash - arg] = '\0';
	if (number_parse(slash + 1, SHARD_COUNT_MAX, &n) < 0) {
		fprintf(stderr,
		        "pikaci-conform: --shard %s: the shard count \"%s\" is not a number from 1 "
		        "to %d\n",
		        arg, slash + 1, SHARD_COUNT_MAX);
		return -EINVAL;
	}
	if (number_parse(index, n, &i) < 0) {
		fprintf(stderr,
		        "pikaci-conform: --shard %s: the shard \"%s\" is not a number from 1 to "
		        "%lu\n",
		        arg, index, n);
		return -EINVAL;
	}
	opt->shard_index = i;
	opt->shard_count = n;
	return 0;
}

/*
 * FNV-1a (64 bits) of the case id: a case's shard depends on its id alone, so adding or
 * removing a case moves no other case to another shard.
 */
static uint64_t id_hash(const char *id)
{
	uint64_t h = 14695981039346656037ull;

	for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
		h ^= *p;
		h *= 1099511628211ull;
	}
	return h;
}

bool shard_selects(const struct options *opt, const char *id)
{
	if (opt->shard_count == 0)
		return true;
	return id_hash(id) % opt->shard_count == opt->shard_index - 1;
}

/* --- --repeat ------------------------------------------------------------------------------ */

static const char *run_status(json_t *detail)
{
	const char *s = json_string_value(json_object_get(detail, "status"));

	return s ? s : "error";
}

/* The flaky result: the first run that did not pass, its status "flaky", the verdicts listed. */
static json_t *flaky_detail(json_t *runs, json_t *const *details, size_t n)
{
	struct buffer message = { 0 };
	json_t *worst = details[0];
	char *text;

	for (size_t i = 0; i < n; i++)
		if (strcmp(run_status(details[i]), "pass") != 0) {
			worst = details[i];
			break;
		}
	worst = json_deep_copy(worst);
	if (!worst)
		return NULL;
	buffer_printf(&message, "verdict changed across %zu runs (", n);
	for (size_t i = 0; i < n; i++)
		buffer_printf(&message, "%s%s", i ? ", " : "", run_status(details[i]));
	buffer_printf(&message, "); the %s: %s", run_status(worst),
	              json_string_value(json_object_get(worst, "message"))
	                      ? json_string_value(json_object_get(worst, "message"))
	                      : "");
	text = buffer_steal(&message, NULL);
	if (!text || json_object_set_new(worst, "message", json_string(text)) < 0 ||
	    json_object_set_new(worst, "status", json_string("flaky")) < 0 ||
	    json_object_set(worst, "runs", runs) < 0) {
		free(text);
		json_decref(worst);
		return NULL;
	}
	free(text);
	return worst;
}

json_t *case_run_repeated(const struct options *opt, const struct fixture *f)
{
	json_t **details = calloc((size_t)opt->repeat, sizeof(*details));
	json_t *runs = json_array(), *result = NULL;
	bool same = true;
	size_t n = 0;

	if (!details || !runs)
		goto out;
	for (; n < (size_t)opt->repeat; n++) {
		details[n] = case_run(opt, f);
		if (!details[n])
			goto out;
		json_array_append_new(runs, json_string(run_status(details[n])));
		same = same && strcmp(run_status(details[n]), run_status(details[0])) == 0;
	}
	if (same) {
		result = json_incref(details[0]);
		json_object_set(result, "runs", runs);
	} else {
		result = flaky_detail(runs, details, n);
	}
out:
	for (size_t i = 0; details && i < n; i++)
		json_decref(details[i]);
	free(details);
	json_decref(runs);
	return result;
}

/* --- --update-expect ----------------------------------------------------------------------- */

/* The longest reason written (a line a person reads, not the whole failure). */
#define UPDATE_REASON_MAX 200

/* A reason on one line: the given text cleaned, control characters as spaces, never empty. */
static int reason_append(struct buffer *b, const char *why)
{
	char *text = text_sanitize_dup(why ? why : "", why ? strlen(why) : 0, UPDATE_REASON_MAX);
	int r;

	if (!text)
		return -ENOMEM;
	for (char *p = text; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	r = buffer_printf(b, "%s\n", text[strspn(text, " ")] ? text + strspn(text, " ") : "failed");
	free(text);
	return r;
}

/* The line for one result, or nothing when it passes (or the harness failed it). */
static int expect_line(struct buffer *b, const struct case_result *c)
{
	const char *message = json_string_value(json_object_get(c->detail, "message"));
	const char *kind;

	switch (c->status) {
	case STATUS_FAIL:
	case STATUS_TIMEOUT:
	case STATUS_XFAIL:
		kind = "fail";
		break;
	case STATUS_SKIP:
	case STATUS_FLAKY:
		/* A flaky case would pass and fail the run by turns: skipped until fixed. */
		kind = "skip";
		break;
	default:
		return 0;
	}
	if (buffer_printf(b, "%s %s ", c->fixture->id, kind) < 0)
		return -ENOMEM;
	if (c->expectation)
		return reason_append(b, c->expectation);
	if (c->status == STATUS_FLAKY)
		return reason_append(b, "flaky (--repeat)");
	return reason_append(b, message);
}

int expect_update_write(const char *path, const struct case_result *results, const bool *selected,
                        size_t n)
{
	struct buffer text = { 0 }, temp = { 0 };
	int fd = -1, r = 0;

	r = buffer_printf(&text,
	                  "# Written by pikaci-conform --update-expect: the cases that did not "
	                  "pass.\n# CASE fail|skip REASON (see --expect)\n");
	for (size_t i = 0; r == 0 && i < n; i++)
		if (selected[i])
			r = expect_line(&text, &results[i]);
	if (r == 0)
		r = buffer_printf(&temp, "%s.XXXXXX", path);
	/* Written beside the file and renamed over it: the old file or the new one, never half. */
	if (r == 0 && (fd = mkstemp(temp.data)) < 0)
		r = -errno;
	if (r == 0 && fchmod(fd, 0644) < 0)
		r = -errno;
	if (r == 0)
		r = write_all(fd, text.data, text.length);
	if (fd >= 0 && close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(temp.data, path) < 0)
		r = -errno;
	if (r < 0) {
		fprintf(stderr, "pikaci-conform: cannot write %s (--update-expect): %s\n", path,
		        strerror(-r));
		if (fd >= 0)
			unlink(temp.data);
	}
	buffer_clear(&text);
	buffer_clear(&temp);
	return r < 0 ? EXIT_REPORT_FAILED : 0;
}
