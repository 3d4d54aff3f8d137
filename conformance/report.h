/* SPDX-License-Identifier: MIT */
/*
 * report.h - case results and the reports: text, TAP, JUnit XML, JSON, JSON Lines and
 * Markdown, any number of them from one run (--report FORMAT:FILE).
 *
 * report.c drives them (the files, the order, the terminal progress line); each format has its
 * writer: report-text.c (text, TAP, Markdown), report-junit.c, report-json.c (JSON, JSON Lines,
 * the run's identity). The builders a run over several guests needs are public here:
 * report_guest_json() is one guest's object, report_markdown_write() and report_text_summary()
 * one guest's tables and totals.
 */
#ifndef PIKACI_REPORT_H
#define PIKACI_REPORT_H

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include <jansson.h>

#include "fixture.h"

/* The JSON report's report_version (schemas/report.schema.json). */
#define REPORT_VERSION 2

enum case_status {
	STATUS_PASS,
	STATUS_FAIL,
	STATUS_TIMEOUT,
	STATUS_SKIP,
	STATUS_XFAIL,
	STATUS_XPASS,
	STATUS_ERROR, /* the harness could not run the case */
	STATUS_FLAKY, /* its verdict changed across --repeat runs */
};

enum report_format {
	FORMAT_TEXT,
	FORMAT_TAP,
	FORMAT_JUNIT,
	FORMAT_JSON,
	FORMAT_JSONL,
	FORMAT_MARKDOWN,
	_FORMAT_MAX,
};

/* "text", "tap", ...; format_parse(): 0, or -EINVAL for a name that is none of them. */
const char *report_format_name(enum report_format format);
int report_format_parse(const char *name, enum report_format *ret);

/* One report asked for: a format and where it goes (NULL: standard output). */
struct report_target {
	enum report_format format;
	const char *path;
};

/* One case's result, as the worker sent it (a JSON object) plus the final status. */
struct case_result {
	const struct fixture *fixture;
	enum case_status status;
	json_t *detail;    /* {"message", "clause", "seconds", "checks": [...], "not_applicable",
	                      "output"} */
	char *expectation; /* the --expect reason, or NULL */
};

struct totals {
	size_t pass, fail, timeout, skip, xfail, xpass, error, flaky;
};

const char *case_status_name(enum case_status status);
bool case_status_is_failure(enum case_status status);
void totals_add(struct totals *t, enum case_status status);
size_t totals_count(const struct totals *t);
/*
 * "N passed, N failed, N skipped[, N flaky]": xfail counts as skipped, timeout/xpass/error as
 * failed; flaky is said only when some case is.
 */
void totals_line(const struct totals *t, char *out, size_t size);

/* Who ran what, where and when: the JSON report's header (see report_run_init()). */
struct report_run {
	const char *name;      /* the guest's name in a run over several guests, or NULL */
	const char *guest;     /* the guest command line as typed (or the image alias) */
	const char *transport; /* "local" or "incus" */
	json_t *identity;      /* guest_identity: {kind, path, sha256} or {kind, alias} */
	json_t *host;          /* {hostname, system} */
	json_t *corpus;        /* {path, revision, cases} */
	time_t started, finished;
};

/*
 * Fills run for guest_argv[0] (resolved on PATH; image: the alias instead) and the corpus
 * under fixtures. What cannot be found out (an unreadable guest) is left out of its object,
 * never fatal. report_run_clear() frees it.
 */
void report_run_init(struct report_run *run, const char *guest, const char *guest_path,
                     const char *image, const char *fixtures, const struct corpus *corpus);
void report_run_clear(struct report_run *run);

/* A report being written: its file is a temporary one beside FILE until report_finish(). */
struct report_sink {
	struct report_target target;
	FILE *out;
	char *temp; /* the temporary file renamed to target.path at the end, or NULL */
	size_t n_done;
};

struct report {
	struct report_sink *sinks;
	size_t n_sinks;
	bool progress; /* the text lines on stdout too: no report goes there */
	bool tty;      /* "[N/M] case-id" on stderr, overwritten in place (stderr is a terminal) */
	size_t n_planned;
	size_t n_done;                       /* in corpus order */
	size_t n_finished;                   /* in the order they finish */
	const struct fixture *last_finished; /* the case the progress line names */
	struct report_run *run;              /* finished is set by report_end() */
	bool failed;                         /* a report could not be built */
	bool ended;  /* report_end() ran, or the caller wrote the reports whole itself */
	bool matrix; /* one of several guests: report_end() writes only its text lines' summary,
	                report_matrix_end() the rest */
};

/*
 * Opens the targets (none: text on stdout). 0, or -errno with "cannot write FILE" said on
 * stderr; report_finish() then cleans up what was opened.
 */
int report_open(struct report *r, const struct report_target *targets, size_t n);
/*
 * For a SIGINT/SIGTERM handler: removes the temporary files of the reports being written
 * (async-signal-safe), so a stopped run leaves no half report; an earlier one stays.
 */
void report_stop(void);
/* Once, before the first case. */
void report_begin(struct report *r);
/* Each case as it finishes, in any order: JSON Lines and the progress line. */
void report_case_finished(struct report *r, const struct case_result *c);
/* Each case, in corpus order. */
void report_case(struct report *r, const struct case_result *c);
/* At the end: per-profile summaries, the coverage, the final line. */
void report_end(struct report *r, const struct case_result *results, size_t n,
                const struct corpus *corpus);

/* One guest of a run over several (a matrix), for the reports that cover them all. */
struct report_column {
	const char *name;                  /* the guest's name: a column, a key */
	const struct report_run *run;      /* its identity; run->finished set */
	const struct case_result *results; /* the cases it ran, in corpus order */
	size_t n;
};

/*
 * At the end of a matrix run (r->matrix): the case x guest matrix and each guest's summary in
 * text and Markdown, the JSON report with `guests` and `matrix`, the JSON Lines summary line.
 */
void report_matrix_end(struct report *r, const struct corpus *corpus,
                       const struct report_column *cols, size_t n);

/*
 * Flushes each report, closes its file and puts it in place whole (rename): -EIO when any of
 * them could not be written (a full disk, /dev/full, a closed pipe), said on stderr naming the
 * file, so the run cannot pass on a lost report. A report not written, or a run that stopped
 * before report_end(), leaves no file behind (an earlier report of that name stays).
 */
int report_finish(struct report *r);

/* --- Builders, one guest at a time (a run over several guests calls them per guest) --- */

/* One case as the JSON report holds it: new reference, NULL when memory runs out. */
json_t *report_case_json(const struct case_result *c);
/* {pass, fail, ...}: new reference. */
json_t *report_totals_json(const struct totals *t);
/*
 * One guest's object: {guest, transport, guest_identity, summary, profiles, cases}; with_cases
 * false leaves cases out (the JSON Lines summary). New reference, NULL when memory runs out.
 */
json_t *report_guest_json(const struct report_run *run, const struct case_result *results, size_t n,
                          bool with_cases);
/* The whole JSON report (report_version 2) of one guest's run: new reference. */
json_t *report_document_json(const struct report_run *run, const struct case_result *results,
                             size_t n, const struct corpus *corpus, bool with_cases);
/* The Markdown report of one guest's run: a table per profile, then the failing cases. */
void report_markdown_write(FILE *out, const struct report_run *run,
                           const struct case_result *results, size_t n);
/*
 * A matrix run's JSON report: the first guest's report with `guests` (each guest's object and
 * its name) and `matrix` ({case id: {guest name: status}}). New reference, NULL when memory
 * runs out.
 */
json_t *report_matrix_document_json(const struct corpus *corpus, const struct report_column *cols,
                                    size_t n, bool with_cases);
/* The per-profile and total lines of the text report ("# " before each with prefix). */
void report_text_summary(FILE *out, const char *prefix, const struct case_result *results,
                         size_t n);

/* --- --list and --coverage-report ------------------------------------------------------ */

/* The clause coverage report of the corpus (--coverage-report); returns the uncovered MUSTs. */
size_t coverage_print(FILE *out, const struct corpus *corpus);
json_t *coverage_json(const struct corpus *corpus);
/* --coverage-report --format json: {tool, version, report_version, kind, coverage, ...}. */
json_t *coverage_document_json(const struct corpus *corpus);
/* --list --format json: {tool, version, report_version, kind, cases}; selected[i] per case. */
json_t *list_document_json(const struct corpus *corpus, const bool *selected);

#endif
