/* SPDX-License-Identifier: MIT */
/*
 * bench.h - the benchmark's parts: samples and the results table (bench.c), and the three
 * measurements: guest overhead (guest.c), validation throughput (parse.c), corpus (corpus.c).
 *
 * Every figure with a goal is a ratio of two things measured in the same invocation, run in
 * alternation (ABAB...), so a machine that is slower or noisier today shifts both alike.
 */
#ifndef PIKACI_BENCH_H
#define PIKACI_BENCH_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* A set of measurements of one thing. */
struct samples {
	double *values;
	size_t n, capacity;
};

int samples_add(struct samples *s, double value);
double samples_median(const struct samples *s);
double samples_min(const struct samples *s);
double samples_max(const struct samples *s);
double samples_sum(const struct samples *s);
void samples_clear(struct samples *s);

/* Whether a row's goal is met; NONE for a row that only informs. */
enum goal_met {
	GOAL_NONE,
	GOAL_MET,
	GOAL_MISSED,
};

struct bench {
	const char *build_dir;  /* the meson build folder: the guest and the runner */
	const char *source_dir; /* the source tree: fixtures/ */
	char self[4096];        /* this program, run again inside the sandbox and under callgrind */
	char guest[4096];       /* build/src/guest/pikaci-incus-run */
	char null_guest[4096];  /* pikaci-bench-null-guest, beside this program */
	int guest_runs;         /* per program (guest, floor, null guest) and folder */
	int rss_runs;
	int corpus_runs; /* per -j setting */
	double parse_round_seconds;
	int parse_rounds; /* per side */
	json_t *rows;     /* the table, in order */
	json_t *details;  /* section -> object with everything else measured */
};

/*
 * Adds a row to the table. unit is the unit of median/min/max; ratio is NAN when the row has
 * none; goal is how the goal reads ("<= 1.3x"), NULL without one.
 */
void bench_row(struct bench *b, const char *name, const char *unit, double median, double min,
               double max, double ratio, const char *goal, enum goal_met met);
/* The same, from samples. */
void bench_row_samples(struct bench *b, const char *name, const char *unit, const struct samples *s,
                       double scale, double ratio, const char *goal, enum goal_met met);
/* Details of a section (a new or borrowed object of b->details). */
json_t *bench_details(struct bench *b, const char *section);
json_t *samples_json(const struct samples *s, double scale);

double bench_now(void);
/* Runs argv, stdout and stderr to /dev/null unless quiet is false; the wait status, or -1. */
int bench_spawn(char *const argv[], bool quiet);

/* The filesystem a folder is on, for labels: "ext4", "tmpfs", ... */
const char *bench_filesystem(const char *path);

int bench_guest(struct bench *b);
int bench_parse(struct bench *b);
int bench_corpus(struct bench *b);

/* Run inside the sandbox: runs argv under ptrace and reports its own peak RSS on stderr. */
int bench_rss_probe(int argc, char **argv);
/* Runs argv once in a sandbox with the `true` request (to profile it by hand). */
int bench_in_sandbox(int argc, char **argv);
/* Run under callgrind: parses one input n times inside a function callgrind collects. */
int bench_parse_loop(int argc, char **argv);

#endif
