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
#define EXIT_FLAKY           3 /* nothing failed, but some case is flaky (--repeat) */
#define EXIT_REPORT_FAILED   4 /* the report could not be written whole */
#define EXIT_CANNOT_SANDBOX  77
#define EXIT_HARNESS         99

/* The longest check message sent from a worker or kept (a check quotes at most a few lines). */
#define CHECK_MESSAGE_MAX 4096
/* The most of each output stream of the guest a case's result carries (JUnit system-out). */
#define OUTPUT_EXCERPT_MAX 65536

/* One guest of a matrix run (--guest NAME=COMMAND or --incus-image ALIAS, repeatable). */
struct matrix_guest {
	char *name;
	const char *image; /* an Incus image alias, or NULL for a local command */
	char **argv;       /* wrapper words, then the command (NULL: options' guest_argv) */
	char *text;        /* the command line as typed, for reports */
	char *command;     /* its first word as typed (guest_identity), or NULL */
};

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
	/* workflows.c */
	long repeat;               /* --repeat N: each case N times (1: once) */
	unsigned long shard_index; /* --shard I/N: I from 1 (0: no shard) */
	unsigned long shard_count;
	const char *update_expect; /* --update-expect FILE */
	/* matrix.c */
	struct matrix_guest *guests; /* in command-line order */
	size_t n_guests, guests_capacity;
	bool matrix; /* several guests, or any --guest */
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

/* --- workflows.c: --repeat, --shard and --update-expect -------------------------------------- */

/* --repeat N and --shard I/N: 0, or -EINVAL said on stderr naming the bad value. */
int repeat_parse(struct options *opt, const char *arg);
int shard_parse(struct options *opt, const char *arg);
/* Whether --shard selects the case with this id (always, without --shard). */
bool shard_selects(const struct options *opt, const char *id);

/*
 * Runs case f opt->repeat times (see case_run()): the first run's result when every run gave
 * the same verdict, else status "flaky" with the verdicts in "runs" and the message of the
 * first run that did not pass. NULL when memory runs out.
 */
json_t *case_run_repeated(const struct options *opt, const struct fixture *f);

/*
 * --update-expect: writes the expectations file that makes the results' failures expected
 * (fail, timeout, xfail as "fail"; skip and flaky as "skip"), swapped in whole with a rename.
 * selected[i] says which of the n results ran. 0, or EXIT_REPORT_FAILED (said).
 */
int expect_update_write(const char *path, const struct case_result *results, const bool *selected,
                        size_t n);

/* --- matrix.c: several guests in one run ---------------------------------------------------- */

/* --guest NAME=COMMAND and --incus-image ALIAS: 0, -EINVAL (said) or -ENOMEM. */
int matrix_guest_add(struct options *opt, const char *arg);
int matrix_image_add(struct options *opt, const char *alias);
/*
 * After the options: a matrix run (any --guest, or several images) takes words (after --) as
 * the command inside each image; sets opt->matrix. 0, -EINVAL (said) or -ENOMEM.
 */
int matrix_options_check(struct options *opt, char **words, size_t n);
void matrix_guests_clear(struct options *opt);
/*
 * Runs the selected cases against every guest (each first checked with probe, main.c's) and
 * reports the matrix: the exit code.
 */
int matrix_run(const struct options *opt, const struct corpus *corpus,
               int (*probe)(const struct options *));
/*
 * main.c: with --incus-image and overlay isolation, -j running instances of the image that the
 * cases share (*ret_pool, also put in opt->incus.pool; free with pikaci_incus_pool_free()).
 * 0, or EXIT_CANNOT_SANDBOX (said).
 */
int incus_pool_start(struct options *opt, char ***ret_pool);

/* --- compare.c: pikaci-conform compare BASE.json HEAD.json ---------------------------------- */

/* The compare subcommand, argv[0] being "compare": its exit code. */
int compare_main(int argc, char **argv);
/*
 * Compares two reports given as bytes (named base_name, head_name in messages), writing to out
 * (text, or JSON with json) and saying a malformed report on errors: 0, 1 on a regression, 2
 * for a malformed report, 99 when memory runs out.
 */
int compare_bytes(const char *base_name, const char *base_text, size_t base_length,
                  const char *head_name, const char *head_text, size_t head_length, bool json,
                  FILE *out, FILE *errors);

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

/* One guest of a matrix: the reports it shares, and what its run leaves for them. */
struct guest_run {
	struct report *report;       /* the matrix's reports: opened, ended and finished by it */
	struct report_run identity;  /* identity.name given; the rest filled (report_run_clear()) */
	struct case_result *results; /* the cases that ran, in corpus order (caller frees each
	                                detail and expectation, then the array) */
	size_t n_results;
};

/* schedule_all() for one guest of a matrix: fills run (run->report and identity.name given). */
int schedule_guest(const struct options *opt, const struct corpus *corpus, struct guest_run *run);

#endif
