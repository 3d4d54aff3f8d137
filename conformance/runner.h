/* SPDX-License-Identifier: MIT */
/*
 * runner.h - the seams of pikaci-conform, private to conformance/: the command line
 * (options.c), one case (case.c), the scheduler and its workers (scheduler.c) and the repro
 * bundles (bundle.c). main.c holds the top-level flow.
 */
#ifndef PIKACI_RUNNER_H
#define PIKACI_RUNNER_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "fixture.h"
#include "judge.h"
#include "report.h"
#include "transport.h"

#define EXIT_ALL_AS_EXPECTED 0
#define EXIT_SOME_FAILED     1
#define EXIT_USAGE           2
#define EXIT_REPORT_FAILED   4 /* the report could not be written whole */
#define EXIT_CANNOT_SANDBOX  77
#define EXIT_HARNESS         99

/* The longest check message sent from a worker or kept (a check quotes at most a few lines). */
#define CHECK_MESSAGE_MAX 4096
/* The most of each output stream of the guest a case's result carries (JUnit system-out). */
#define OUTPUT_EXCERPT_MAX 65536

struct options {
	const char *fixtures;
	long jobs;
	char **filters;
	size_t n_filters;
	bool profiles[_PROFILE_MAX];
	bool list;
	bool lint;
	bool coverage;
	double case_timeout;
	double time_scale;
	enum report_format format; /* --format and --output: one more report */
	bool format_given;
	const char *output;
	struct report_target *reports; /* every report asked for (none: text on stdout) */
	size_t n_reports;
	const char *expect;
	const char *keep;
	bool check_reason;
	struct pikaci_incus_options incus; /* with --incus-image: Incus instead of a sandbox */
	char **guest_argv;                 /* wrapper words, then the guest command line */
	char *guest_text;                  /* the guest command line as typed, for reports */
	const char *guest_command;         /* GUEST as typed (NULL: the image's own guest) */
};

/* --- options.c: the command line --------------------------------------------------------- */

/*
 * Fills opt from argv and the environment; --help and --version print and exit. 0, or
 * -EINVAL (said on stderr) or -ENOMEM. options_clear() frees what it allocated.
 */
int options_parse(int argc, char **argv, struct options *opt);
void options_clear(struct options *opt);
/* Whether the options select case f (its profile, then any --filter). */
bool options_select(const struct options *opt, const struct fixture *f);

/* --- case.c: one case, in a worker process ------------------------------------------------ */

/*
 * The local sandbox or, with --incus-image, Incus. NULL on failure, with errbuf saying why and
 * *ret_error the code. The caller frees it with pikaci_transport_free().
 */
struct pikaci_transport *transport_new(const struct options *opt, char *errbuf, size_t size,
                                       int *ret_error);

/*
 * Runs case f and judges it: a new JSON object with status (pass, fail, timeout or error),
 * message, seconds and, once judged, clause, exit_code, checks and not_applicable; NULL when
 * memory runs out. A case that does not pass leaves a repro bundle under --keep.
 */
json_t *case_run(const struct options *opt, const struct fixture *f);

/* --- bundle.c: repro bundles (--keep) ----------------------------------------------------- */

/*
 * Writes opt->keep/ID/: the case, the request, what the guest left (x may be NULL), the
 * verdict (v, o may be NULL) under the status, and replay.sh. A file that cannot be written is
 * said on stderr; the verdict stands.
 */
void bundle_keep(const struct options *opt, const struct fixture *f,
                 const struct pikaci_exchange *x, const struct verdict *v,
                 const struct observation *o, const char *status);

/* --- scheduler.c: the cases in worker processes, at most -j at a time --------------------- */

/* Runs the selected cases of corpus and reports them: the runner's exit code. */
int schedule_all(const struct options *opt, const struct corpus *corpus);

#endif
