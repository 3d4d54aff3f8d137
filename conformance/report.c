/* SPDX-License-Identifier: MIT */
/*
 * report.c - drives the reports of a run: opens each (a temporary file beside its name, put in
 * place whole at the end), hands each case to every format's writer as it finishes or in corpus
 * order, and keeps the terminal's progress line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report-private.h"
#include "shared.h"

static const char *const format_names[] = {
	[FORMAT_TEXT] = "text", [FORMAT_TAP] = "tap",     [FORMAT_JUNIT] = "junit",
	[FORMAT_JSON] = "json", [FORMAT_JSONL] = "jsonl", [FORMAT_MARKDOWN] = "markdown",
};

const char *report_format_name(enum report_format format)
{
	return format_names[format];
}

int report_format_parse(const char *name, enum report_format *ret)
{
	for (size_t i = 0; i < ELEMENTSOF(format_names); i++)
		if (strcmp(name, format_names[i]) == 0) {
			*ret = (enum report_format)i;
			return 0;
		}
	return -EINVAL;
}

const char *case_status_name(enum case_status status)
{
	static const char *const names[] = {
		[STATUS_PASS] = "pass",   [STATUS_FAIL] = "fail",   [STATUS_TIMEOUT] = "timeout",
		[STATUS_SKIP] = "skip",   [STATUS_XFAIL] = "xfail", [STATUS_XPASS] = "xpass",
		[STATUS_ERROR] = "error", [STATUS_FLAKY] = "flaky",
	};

	return names[status];
}

bool case_status_is_failure(enum case_status status)
{
	return status == STATUS_FAIL || status == STATUS_TIMEOUT || status == STATUS_XPASS ||
	       status == STATUS_ERROR;
}

void totals_add(struct totals *t, enum case_status status)
{
	size_t *counts[] = {
		[STATUS_PASS] = &t->pass,       [STATUS_FAIL] = &t->fail,
		[STATUS_TIMEOUT] = &t->timeout, [STATUS_SKIP] = &t->skip,
		[STATUS_XFAIL] = &t->xfail,     [STATUS_XPASS] = &t->xpass,
		[STATUS_ERROR] = &t->error,     [STATUS_FLAKY] = &t->flaky,
	};

	(*counts[status])++;
}

size_t totals_count(const struct totals *t)
{
	return t->pass + t->fail + t->timeout + t->skip + t->xfail + t->xpass + t->error + t->flaky;
}

void totals_line(const struct totals *t, char *out, size_t size)
{
	int n = snprintf(out, size, "%zu passed, %zu failed, %zu skipped", t->pass,
	                 t->fail + t->timeout + t->xpass + t->error, t->skip + t->xfail);

	if (t->flaky && n >= 0 && (size_t)n < size)
		snprintf(out + n, size - (size_t)n, ", %zu flaky", t->flaky);
}

/* --- What the writers share --------------------------------------------------------------- */

const char *report_detail_string(const struct case_result *c, const char *key)
{
	const char *s = json_string_value(json_object_get(c->detail, key));

	return s ? s : "";
}

const struct case_result *report_column_result(const struct report_column *col,
                                               const struct fixture *f)
{
	for (size_t i = 0; i < col->n; i++)
		if (col->results[i].fixture == f)
			return &col->results[i];
	return NULL;
}

void report_clauses_joined(const struct fixture *f, const char *separator, char *out, size_t size)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < f->n_clauses && o < size; i++)
		o += (size_t)snprintf(out + o, size - o, "%s%s", i ? separator : "", f->clauses[i]);
}

char *report_clean(const char *s, size_t max)
{
	return text_sanitize_dup(s ? s : "", s ? strlen(s) : 0, max);
}

json_t *json_text_new(const char *s)
{
	char *text = report_clean(s, REPORT_TEXT_MAX);
	json_t *string = json_string(text ? text : "");

	free(text);
	return string;
}

void report_text_escaped(FILE *out, const char *s)
{
	char *text = report_clean(s, REPORT_TEXT_MAX);

	for (const char *p = text ? text : ""; *p; p++)
		fputc((unsigned char)*p < 0x20 || *p == 0x7f ? ' ' : *p, out);
	free(text);
}

/* --- The files ---------------------------------------------------------------------------- */

/*
 * A regular file (or a new one) is written as FILE.XXXXXX beside it and renamed at the end, so
 * a reader never sees half a report; a device or a pipe (/dev/stdout, /dev/full) is written
 * directly.
 */
static int sink_open(struct report_sink *s)
{
	struct stat st;
	int fd;

	if (!s->target.path) {
		s->out = stdout;
		return 0;
	}
	if (stat(s->target.path, &st) == 0 && !S_ISREG(st.st_mode)) {
		s->out = fopen(s->target.path, "we");
		return s->out ? 0 : -errno;
	}
	if (asprintf(&s->temp, "%s.XXXXXX", s->target.path) < 0) {
		s->temp = NULL;
		return -ENOMEM;
	}
	fd = mkostemp(s->temp, O_CLOEXEC);
	if (fd < 0) {
		int r = -errno;

		free(s->temp);
		s->temp = NULL;
		return r;
	}
	/* mkstemp makes it 0600; a report is as readable as any file this user writes. */
	mode_t mask = umask(0);

	umask(mask);
	if (fchmod(fd, 0666 & ~mask) < 0 || !(s->out = fdopen(fd, "w"))) {
		int r = -errno;

		close(fd);
		return r;
	}
	return 0;
}

/* The reports being written, for report_stop(). */
static struct report *volatile open_report;

void report_stop(void)
{
	struct report *r = open_report;

	for (size_t i = 0; r && i < r->n_sinks; i++)
		if (r->sinks[i].temp)
			unlink(r->sinks[i].temp);
}

/* Closes what report_open() opened and removes its temporary files: nothing is written. */
static void report_abandon(struct report *r)
{
	for (size_t i = 0; i < r->n_sinks; i++) {
		if (r->sinks[i].out != stdout)
			fclose(r->sinks[i].out);
		if (r->sinks[i].temp)
			unlink(r->sinks[i].temp);
		free(r->sinks[i].temp);
	}
	free(r->sinks);
	r->sinks = NULL;
	r->n_sinks = 0;
}

int report_open(struct report *r, const struct report_target *targets, size_t n)
{
	static const struct report_target text_on_stdout = { FORMAT_TEXT, NULL };

	if (n == 0) {
		targets = &text_on_stdout;
		n = 1;
	}
	r->sinks = calloc(n, sizeof(*r->sinks));
	if (!r->sinks)
		return -ENOMEM;
	r->progress = true;
	for (size_t i = 0; i < n; i++) {
		struct report_sink *s = &r->sinks[r->n_sinks];
		int e;

		s->target = targets[i];
		e = sink_open(s);
		if (e < 0) {
			fprintf(stderr, "pikaci-conform: cannot write %s: %s\n", s->target.path,
			        strerror(-e));
			report_abandon(r);
			return e;
		}
		r->n_sinks++;
		if (s->out == stdout)
			r->progress = false;
	}
	r->tty = isatty(STDERR_FILENO);
	open_report = r;
	return 0;
}

/* --- The progress line on a terminal ------------------------------------------------------ */

static void progress_clear(const struct report *r)
{
	if (r->tty && r->n_finished)
		fputs("\r\033[K", stderr);
}

static void progress_draw(const struct report *r)
{
	if (!r->tty || !r->last_finished)
		return;
	fprintf(stderr, "\r\033[K[%zu/%zu] ", r->n_finished, r->n_planned);
	report_text_escaped(stderr, r->last_finished->id);
	fflush(stderr);
}

/* --- Each step, for every report ---------------------------------------------------------- */

void report_begin(struct report *r)
{
	for (size_t i = 0; i < r->n_sinks; i++) {
		struct report_sink *s = &r->sinks[i];

		if (s->target.format == FORMAT_TAP)
			fprintf(s->out, "TAP version 13\n1..%zu\n", r->n_planned);
		else if (s->target.format == FORMAT_TEXT)
			report_text_header(s->out, r);
		fflush(s->out);
	}
	if (r->progress) {
		report_text_header(stdout, r);
		fflush(stdout);
	}
}

void report_case_finished(struct report *r, const struct case_result *c)
{
	r->n_finished++;
	r->last_finished = c->fixture;
	for (size_t i = 0; i < r->n_sinks; i++) {
		struct report_sink *s = &r->sinks[i];

		if (s->target.format != FORMAT_JSONL)
			continue;
		progress_clear(r);
		report_jsonl_case(s->out, r->run, c);
		fflush(s->out);
	}
	progress_draw(r);
}

void report_case(struct report *r, const struct case_result *c)
{
	bool shown = false;

	r->n_done++;
	for (size_t i = 0; i < r->n_sinks; i++) {
		struct report_sink *s = &r->sinks[i];

		if (s->target.format != FORMAT_TEXT && s->target.format != FORMAT_TAP)
			continue;
		progress_clear(r);
		shown = true;
		s->n_done++;
		if (s->target.format == FORMAT_TEXT)
			report_text_line(s->out, c);
		else
			report_tap_line(s->out, s->n_done, c);
		fflush(s->out);
	}
	if (r->progress) {
		progress_clear(r);
		shown = true;
		report_text_line(stdout, c);
		fflush(stdout);
	}
	if (shown)
		progress_draw(r);
}

void report_end(struct report *r, const struct case_result *results, size_t n,
                const struct corpus *corpus)
{
	progress_clear(r);
	r->run->finished = time(NULL);
	if (r->matrix) {
		/* One guest of several: its text summary now, the rest at the matrix's end. */
		for (size_t i = 0; i < r->n_sinks; i++)
			if (r->sinks[i].target.format == FORMAT_TEXT) {
				report_text_summary(r->sinks[i].out, "", results, n);
				fflush(r->sinks[i].out);
			}
		if (r->progress)
			report_text_summary(stdout, "", results, n);
		fflush(stdout);
		return;
	}
	r->tty = false;
	r->ended = true;
	for (size_t i = 0; i < r->n_sinks; i++) {
		struct report_sink *s = &r->sinks[i];
		json_t *doc = NULL;

		switch (s->target.format) {
		case FORMAT_TEXT:
			report_text_summary(s->out, "", results, n);
			break;
		case FORMAT_TAP:
			report_text_summary(s->out, "# ", results, n);
			break;
		case FORMAT_JUNIT:
			report_junit_write(s->out, results, n);
			break;
		case FORMAT_MARKDOWN:
			report_markdown_write(s->out, r->run, results, n);
			break;
		case FORMAT_JSON:
		case FORMAT_JSONL:
			doc = report_document_json(r->run, results, n, corpus,
			                           s->target.format == FORMAT_JSON);
			if (doc && s->target.format == FORMAT_JSONL)
				json_object_set_new(doc, "type", json_string("summary"));
			if (!doc ||
			    report_json_dump(s->out, doc, s->target.format == FORMAT_JSONL) < 0)
				r->failed = true;
			json_decref(doc);
			break;
		case _FORMAT_MAX:
			break;
		}
		fflush(s->out);
	}
	if (r->progress)
		report_text_summary(stdout, "", results, n);
	fflush(stdout);
}

void report_matrix_end(struct report *r, const struct corpus *corpus,
                       const struct report_column *cols, size_t n)
{
	progress_clear(r);
	r->tty = false;
	r->ended = true;
	for (size_t i = 0; i < r->n_sinks; i++) {
		struct report_sink *s = &r->sinks[i];
		bool jsonl = s->target.format == FORMAT_JSONL;
		json_t *doc = NULL;

		switch (s->target.format) {
		case FORMAT_TEXT:
			report_matrix_text_write(s->out, corpus, cols, n);
			break;
		case FORMAT_MARKDOWN:
			report_matrix_markdown_write(s->out, corpus, cols, n);
			break;
		case FORMAT_JSON:
		case FORMAT_JSONL:
			doc = report_matrix_document_json(corpus, cols, n, !jsonl);
			if (doc && jsonl)
				json_object_set_new(doc, "type", json_string("summary"));
			if (!doc || report_json_dump(s->out, doc, jsonl) < 0)
				r->failed = true;
			json_decref(doc);
			break;
		case FORMAT_TAP:
		case FORMAT_JUNIT: /* refused with a matrix (matrix_options_check()) */
		case _FORMAT_MAX:
			break;
		}
		fflush(s->out);
	}
	if (r->progress)
		report_matrix_text_write(stdout, corpus, cols, n);
	fflush(stdout);
}

int report_finish(struct report *r)
{
	bool any_failed = false;

	progress_clear(r);
	open_report = NULL;
	for (size_t i = 0; i < r->n_sinks; i++) {
		struct report_sink *s = &r->sinks[i];
		bool failed = r->failed;

		if (fflush(s->out) != 0 || ferror(s->out))
			failed = true;
		if (s->out != stdout && fclose(s->out) != 0)
			failed = true;
		if (s->temp && !failed && r->ended && rename(s->temp, s->target.path) < 0)
			failed = true;
		if (s->temp && (failed || !r->ended))
			unlink(s->temp);
		if (failed && s->target.path)
			fprintf(stderr, "pikaci-conform: cannot write the report to %s\n",
			        s->target.path);
		else if (failed)
			fprintf(stderr, "pikaci-conform: cannot write to stdout\n");
		any_failed |= failed;
		free(s->temp);
	}
	free(r->sinks);
	r->sinks = NULL;
	r->n_sinks = 0;
	return any_failed ? -EIO : 0;
}
