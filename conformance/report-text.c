/* SPDX-License-Identifier: MIT */
/* report-text.c - the reports people read: text lines, TAP and the Markdown summary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report-private.h"

/* Failing cases the Markdown report lists; the rest are counted (a CI job page stays small). */
#define MARKDOWN_FAILURES_MAX 100
/* A headline in a Markdown table cell is cut to this many bytes. */
#define MARKDOWN_CELL_MAX 300

/*
 * A TAP description or directive text (TAP 14): backslash and '#' escaped as \\ and \#, and
 * every control character (a newline would end the line) written as a space.
 */
static void tap_escaped(FILE *out, const char *s)
{
	char *text = report_clean(s, REPORT_TEXT_MAX);

	for (const char *p = text ? text : ""; *p; p++) {
		if (*p == '\\' || *p == '#')
			fputc('\\', out);
		fputc((unsigned char)*p < 0x20 || *p == 0x7f ? ' ' : *p, out);
	}
	free(text);
}

/*
 * Text a guest controls goes below its test point as comment lines ("# ..."), never into the
 * test line itself: every TAP consumer (meson's parser among them, which takes the first '#'
 * of a line, escaped or not, for a directive) ignores a comment.
 */
static void tap_diagnostic(FILE *out, const char *s)
{
	char *text = report_clean(s, REPORT_TEXT_MAX);

	fputs("# ", out);
	for (const char *p = text ? text : ""; *p; p++) {
		if (*p == '\n')
			fputs("\n# ", out);
		else
			fputc((unsigned char)*p < 0x20 || *p == 0x7f ? ' ' : *p, out);
	}
	fputc('\n', out);
	free(text);
}

/* "pikaci-conform: N case(s) against GUEST": the guest's command line is the user's bytes. */
void report_text_header(FILE *out, const struct report *r)
{
	fprintf(out, "pikaci-conform: %zu case(s) against ", r->n_planned);
	report_text_escaped(out, r->run ? r->run->guest : "");
	fputc('\n', out);
}

/* One line a person reads: the status, the id, the clauses, and why. */
void report_text_line(FILE *out, const struct case_result *c)
{
	char clauses[128];
	const char *message = report_detail_string(c, "message");

	report_clauses_joined(c->fixture, " ", clauses, sizeof(clauses));
	fprintf(out, "%-7s %s [%s] %.2fs", case_status_name(c->status), c->fixture->id, clauses,
	        json_number_value(json_object_get(c->detail, "seconds")));
	if (c->status != STATUS_PASS && *message) {
		fputs(": ", out);
		report_text_escaped(out, message);
	}
	if (c->expectation) {
		fputs(" (expected: ", out);
		report_text_escaped(out, c->expectation);
		fputc(')', out);
	}
	fputc('\n', out);
}

/* One TAP test point; what the guest said follows it as comment lines. */
void report_tap_line(FILE *out, size_t number, const struct case_result *c)
{
	const char *message = report_detail_string(c, "message");
	char clauses[128];

	report_clauses_joined(c->fixture, " ", clauses, sizeof(clauses));
	fprintf(out, "%sok %zu - ",
	        c->status == STATUS_PASS || c->status == STATUS_SKIP ? "" : "not ", number);
	tap_escaped(out, c->fixture->id);
	switch (c->status) {
	case STATUS_PASS:
		fputs(" [", out);
		tap_escaped(out, clauses);
		fputs("]\n", out);
		return;
	case STATUS_SKIP:
		fputs(" # SKIP ", out);
		tap_escaped(out, c->expectation ? c->expectation : message);
		fputc('\n', out);
		return;
	case STATUS_XFAIL:
		fputs(" # TODO ", out);
		tap_escaped(out, c->expectation ? c->expectation : "expected to fail");
		fputc('\n', out);
		break;
	case STATUS_FLAKY:
		/* Not ok, and no directive: a flaky case needs looking at. */
		fputs(": flaky (its verdict changed across --repeat runs)\n", out);
		break;
	case STATUS_XPASS:
		/* The expectation is the user's text: a comment, like a guest's. */
		fputs(": unexpectedly passed\n# listed as failing: ", out);
		tap_escaped(out, c->expectation ? c->expectation : "");
		fputc('\n', out);
		return;
	default:
		fputs(" [", out);
		tap_escaped(out, clauses);
		fprintf(out, "] %s\n", case_status_name(c->status));
		break;
	}
	if (*message)
		tap_diagnostic(out, message);
}

static void totals_per_profile(const struct case_result *results, size_t n, struct totals *all,
                               struct totals per[_PROFILE_MAX])
{
	for (size_t i = 0; i < n; i++) {
		totals_add(all, results[i].status);
		totals_add(&per[results[i].fixture->profile], results[i].status);
	}
}

void report_text_summary(FILE *out, const char *prefix, const struct case_result *results, size_t n)
{
	struct totals all = { 0 }, per[_PROFILE_MAX] = { 0 };
	char line[160];

	totals_per_profile(results, n, &all, per);
	for (int p = 0; p < _PROFILE_MAX; p++) {
		if (totals_count(&per[p]) == 0)
			continue;
		totals_line(&per[p], line, sizeof(line));
		fprintf(out, "%sprofile %s: %s", prefix, profile_name((enum fixture_profile)p),
		        line);
		if (per[p].timeout || per[p].xfail || per[p].xpass || per[p].error)
			fprintf(out, " (timeout %zu, xfail %zu, xpass %zu, error %zu)",
			        per[p].timeout, per[p].xfail, per[p].xpass, per[p].error);
		fputc('\n', out);
	}
	totals_line(&all, line, sizeof(line));
	fprintf(out, "%s%s\n", prefix, line);
}

/* --- Markdown (GitHub's job summary, GitLab's job page) ----------------------------------- */

/*
 * Text in a table cell: valid UTF-8, on one line, cut to max bytes; '|' and every character
 * Markdown or HTML give a meaning to escaped, so no guest byte can end a cell, start a link,
 * an emphasis or a tag.
 */
static void markdown_escaped(FILE *out, const char *s, size_t max)
{
	char *text = report_clean(s, max);

	for (const char *p = text ? text : ""; *p; p++) {
		unsigned char ch = (unsigned char)*p;

		if (ch == '<')
			fputs("&lt;", out);
		else if (ch == '>')
			fputs("&gt;", out);
		else if (ch == '&')
			fputs("&amp;", out);
		else if (ch < 0x20 || ch == 0x7f)
			fputc(' ', out);
		else if (strchr("\\|`*_[]#!~", ch))
			fprintf(out, "\\%c", ch);
		else
			fputc(ch, out);
	}
	free(text);
	if (s && strlen(s) > max)
		fputs(" …", out);
}

/* The totals' header cells, after the first column's. */
static const char markdown_totals_header[] =
        " pass | fail | timeout | xpass | error | flaky | xfail | skip | total |\n";
static const char markdown_totals_rule[] = "---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";

static void markdown_totals_cells(FILE *out, const struct totals *t)
{
	fprintf(out, " %zu | %zu | %zu | %zu | %zu | %zu | %zu | %zu | %zu |\n", t->pass, t->fail,
	        t->timeout, t->xpass, t->error, t->flaky, t->xfail, t->skip, totals_count(t));
}

static void markdown_totals_row(FILE *out, const char *name, const struct totals *t)
{
	fprintf(out, "| %s |", name);
	markdown_totals_cells(out, t);
}

/* A case the failing-case table lists: a failure, or a verdict that changed (flaky). */
static bool markdown_listed(enum case_status status)
{
	return case_status_is_failure(status) || status == STATUS_FLAKY;
}

void report_markdown_write(FILE *out, const struct report_run *run,
                           const struct case_result *results, size_t n)
{
	struct totals all = { 0 }, per[_PROFILE_MAX] = { 0 };
	size_t failing = 0, shown = 0;
	char line[160];

	totals_per_profile(results, n, &all, per);
	totals_line(&all, line, sizeof(line));
	fputs("## pikaci-conform: ", out);
	markdown_escaped(out, run ? run->guest : "", REPORT_TEXT_MAX);
	fprintf(out, "\n\n**%s** (%zu case(s), %s transport)\n\n", line, n,
	        run && run->transport ? run->transport : "local");
	fprintf(out, "| profile |%s|---|%s", markdown_totals_header, markdown_totals_rule);
	for (int p = 0; p < _PROFILE_MAX; p++)
		if (totals_count(&per[p]))
			markdown_totals_row(out, profile_name((enum fixture_profile)p), &per[p]);
	markdown_totals_row(out, "**all**", &all);
	for (size_t i = 0; i < n; i++)
		failing += markdown_listed(results[i].status);
	if (failing == 0) {
		fputs("\nNo failing case.\n", out);
		return;
	}
	fprintf(out,
	        "\n### Failing cases (%zu)\n\n| case | status | clauses | why |\n"
	        "|---|---|---|---|\n",
	        failing);
	for (size_t i = 0; i < n && shown < MARKDOWN_FAILURES_MAX; i++) {
		const struct case_result *c = &results[i];
		char clauses[128];

		if (!markdown_listed(c->status))
			continue;
		shown++;
		report_clauses_joined(c->fixture, " ", clauses, sizeof(clauses));
		fputs("| ", out);
		markdown_escaped(out, c->fixture->id, REPORT_TEXT_MAX);
		fprintf(out, " | %s | ", case_status_name(c->status));
		markdown_escaped(out, clauses, sizeof(clauses));
		fputs(" | ", out);
		markdown_escaped(out,
		                 c->status == STATUS_XPASS ? "unexpectedly passed"
		                                           : report_detail_string(c, "message"),
		                 MARKDOWN_CELL_MAX);
		fputs(" |\n", out);
	}
	if (failing > shown)
		fprintf(out, "\n%zu more failing case(s) not shown here: see the full report.\n",
		        failing - shown);
}

/* --- A matrix of guests ------------------------------------------------------------------- */

/* Whether any guest ran case f. */
static bool matrix_ran(const struct report_column *cols, size_t n, const struct fixture *f)
{
	for (size_t g = 0; g < n; g++)
		if (report_column_result(&cols[g], f))
			return true;
	return false;
}

static void column_totals(const struct report_column *col, struct totals *t)
{
	for (size_t i = 0; i < col->n; i++)
		totals_add(t, col->results[i].status);
}

/* A text matrix cell, as wide as its column's name (at least a status), no trailing blank. */
static void matrix_cell(FILE *out, const char *name, const char *text, bool last)
{
	int width = strlen(name) > 7 ? (int)strlen(name) : 7;

	if (last)
		fprintf(out, "  %s\n", text);
	else
		fprintf(out, "  %-*s", width, text);
}

void report_matrix_text_write(FILE *out, const struct corpus *corpus,
                              const struct report_column *cols, size_t n)
{
	size_t id_width = 4, rows = 0;

	for (size_t i = 0; i < corpus->n_cases; i++) {
		if (!matrix_ran(cols, n, &corpus->cases[i]))
			continue;
		if (strlen(corpus->cases[i].id) > id_width)
			id_width = strlen(corpus->cases[i].id);
		rows++;
	}
	fprintf(out, "\nmatrix: %zu case(s) x %zu guest(s)\n%-*s", rows, n, (int)id_width, "case");
	for (size_t g = 0; g < n; g++)
		matrix_cell(out, cols[g].name, cols[g].name, g + 1 == n);
	for (size_t i = 0; i < corpus->n_cases; i++) {
		const struct fixture *f = &corpus->cases[i];

		if (!matrix_ran(cols, n, f))
			continue;
		fprintf(out, "%-*s", (int)id_width, f->id);
		for (size_t g = 0; g < n; g++) {
			const struct case_result *c = report_column_result(&cols[g], f);

			matrix_cell(out, cols[g].name, c ? case_status_name(c->status) : "-",
			            g + 1 == n);
		}
	}
	for (size_t g = 0; g < n; g++) {
		struct totals t = { 0 };
		char line[160];

		column_totals(&cols[g], &t);
		totals_line(&t, line, sizeof(line));
		fprintf(out, "guest %s: %s\n", cols[g].name, line);
	}
}

/* A row of the Markdown matrix: the guests differ on case f, or one of them did not pass it. */
static bool matrix_row_worth_showing(const struct report_column *cols, size_t n,
                                     const struct fixture *f)
{
	const struct case_result *first = report_column_result(&cols[0], f);

	for (size_t g = 0; g < n; g++) {
		const struct case_result *c = report_column_result(&cols[g], f);

		if (!c != !first ||
		    (c && (c->status != first->status || markdown_listed(c->status))))
			return true;
	}
	return false;
}

void report_matrix_markdown_write(FILE *out, const struct corpus *corpus,
                                  const struct report_column *cols, size_t n)
{
	size_t rows = 0, worth = 0, shown = 0;

	for (size_t i = 0; i < corpus->n_cases; i++)
		if (matrix_ran(cols, n, &corpus->cases[i])) {
			rows++;
			worth += matrix_row_worth_showing(cols, n, &corpus->cases[i]);
		}
	fprintf(out,
	        "## pikaci-conform: %zu case(s) x %zu guest(s)\n\n| guest | command |%s|---|---|%s",
	        rows, n, markdown_totals_header, markdown_totals_rule);
	for (size_t g = 0; g < n; g++) {
		struct totals t = { 0 };

		column_totals(&cols[g], &t);
		fputs("| ", out);
		markdown_escaped(out, cols[g].name, REPORT_TEXT_MAX);
		fputs(" | ", out);
		markdown_escaped(out, cols[g].run ? cols[g].run->guest : "", MARKDOWN_CELL_MAX);
		fputs(" |", out);
		markdown_totals_cells(out, &t);
	}
	if (worth == 0) {
		fputs("\nEvery guest gave every case the same verdict, and none failed.\n", out);
		return;
	}
	fprintf(out, "\n### Cases where the guests differ or fail (%zu)\n\n| case |", worth);
	for (size_t g = 0; g < n; g++) {
		fputc(' ', out);
		markdown_escaped(out, cols[g].name, REPORT_TEXT_MAX);
		fputs(" |", out);
	}
	fputs("\n|---|", out);
	for (size_t g = 0; g < n; g++)
		fputs("---|", out);
	fputc('\n', out);
	for (size_t i = 0; i < corpus->n_cases && shown < MARKDOWN_FAILURES_MAX; i++) {
		const struct fixture *f = &corpus->cases[i];

		if (!matrix_ran(cols, n, f) || !matrix_row_worth_showing(cols, n, f))
			continue;
		shown++;
		fputs("| ", out);
		markdown_escaped(out, f->id, REPORT_TEXT_MAX);
		fputs(" |", out);
		for (size_t g = 0; g < n; g++) {
			const struct case_result *c = report_column_result(&cols[g], f);

			fprintf(out, " %s |", c ? case_status_name(c->status) : "-");
		}
		fputc('\n', out);
	}
	if (worth > shown)
		fprintf(out, "\n%zu more case(s) not shown here: see the full report.\n",
		        worth - shown);
}
