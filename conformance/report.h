/* SPDX-License-Identifier: MIT */
/* report.h - case results and the report formats: text, TAP, JUnit XML, JSON. */
#ifndef PIKACI_REPORT_H
#define PIKACI_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "fixture.h"

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
};

/* One case's result, as the worker sent it (a JSON object) plus the final status. */
struct case_result {
	const struct fixture *fixture;
	enum case_status status;
	json_t *detail;    /* {"message", "clause", "seconds", "checks": [...], "not_applicable"} */
	char *expectation; /* the --expect reason, or NULL */
};

struct totals {
	size_t pass, fail, timeout, skip, xfail, xpass, error, flaky;
};

const char *case_status_name(enum case_status status);
bool case_status_is_failure(enum case_status status);
void totals_add(struct totals *t, enum case_status status);
/*
 * "N passed, N failed, N skipped[, N flaky]": xfail counts as skipped, timeout/xpass/error as
 * failed; flaky is said only when some case is.
 */
void totals_line(const struct totals *t, char *out, size_t size);

struct report {
	enum report_format format;
	FILE *out;
	bool progress; /* text lines on stdout while a file gets the report */
	size_t n_planned;
	size_t n_done;
	const char *guest; /* the guest command line, for the reports' headers */
	bool failed;       /* a report could not be built */
};

/* Once, before the first case. */
void report_begin(struct report *r);
/* Each case, in corpus order. */
void report_case(struct report *r, const struct case_result *c);
/* At the end: per-profile summaries, the coverage, the final line. */
void report_end(struct report *r, const struct case_result *results, size_t n,
                const struct corpus *corpus, const char *transport);

/*
 * Flushes the report and closes its file (unless stdout): -EIO when any of it could not be
 * written (a full disk, /dev/full, a closed pipe), so the run cannot pass on a lost report.
 */
int report_finish(struct report *r);

/* The clause coverage report of the corpus (--coverage-report); returns the uncovered MUSTs. */
size_t coverage_print(FILE *out, const struct corpus *corpus);
json_t *coverage_json(const struct corpus *corpus);

#endif
