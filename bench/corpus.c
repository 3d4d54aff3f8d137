/* SPDX-License-Identifier: MIT */
/*
 * corpus.c - the whole conformance corpus against the reference guest, -j1 and -j2 in
 * alternation, and what a 2-worker run can and cannot reach.
 *
 * The runner's JSON report gives each case's "seconds": the guest's own run time. With -j1 the
 * rest of the wall time is the runner's: start-up once (corpus, probe run), then per case a
 * worker fork, the sandbox's set-up and teardown, collection and judging. A one-case run
 * separates the two: its wall time less its guest time is fixed + o, a full run's is
 * fixed + n*o, so o = (full - sum(s) - (single - s1)) / (n - 1).
 *
 * With each case's duration d = s + o, the 2-worker model then gives: the corpus order the
 * runner uses today, longest-first orders, and the best any order can do (a subset-sum split of
 * the durations between two workers), also with a shorter kill grace for the cases whose
 * command ignores SIGTERM (tag "sigterm"; they wait GUEST_KILL_GRACE_MS before SIGKILL).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "guest.h"

#define GOAL_SECONDS   5.0
#define WORKERS        2
#define SHORTER_GRACE  0.25 /* seconds: the what-if kill grace */
#define SINGLE_CASE_ID "x4-exit-0"

struct run {
	double wall;
	json_t *report; /* the runner's JSON report */
	bool all_passed;
};

static int corpus_run(const struct bench *b, const char *jobs, const char *filter, struct run *ret)
{
	char out[] = "/tmp/pikaci-bench-report.XXXXXX";
	char runner[4096], fixtures[4096];
	json_error_t jerr;
	double started;
	int fd, status;

	fd = mkstemp(out);
	if (fd < 0)
		return -errno;
	close(fd);
	snprintf(runner, sizeof(runner), "%s/conformance/pikaci-conform", b->build_dir);
	snprintf(fixtures, sizeof(fixtures), "%s/fixtures", b->source_dir);
	{
		char *argv[16];
		size_t k = 0;

		argv[k++] = runner;
		argv[k++] = "--check-reason";
		argv[k++] = "--format=json";
		argv[k++] = "--output";
		argv[k++] = out;
		argv[k++] = "--fixtures";
		argv[k++] = fixtures;
		argv[k++] = "-j";
		argv[k++] = (char *)jobs;
		if (filter) {
			argv[k++] = "--filter";
			argv[k++] = (char *)filter;
		}
		argv[k++] = "--";
		argv[k++] = (char *)b->guest;
		argv[k] = NULL;
		started = bench_now();
		status = bench_spawn(argv, true);
		ret->wall = bench_now() - started;
	}
	ret->report = json_load_file(out, 0, &jerr);
	unlink(out);
	if (status < 0 || !ret->report) {
		fprintf(stderr, "pikaci-bench: %s -j%s gave no report (wait status %d)\n", runner,
		        jobs, status);
		return -EIO;
	}
	ret->all_passed = status == 0;
	if (!ret->all_passed)
		fprintf(stderr,
		        "pikaci-bench: warning: the corpus did not pass (-j%s); timing anyway\n",
		        jobs);
	return 0;
}

static json_t *report_cases(const struct run *run)
{
	return json_object_get(run->report, "cases");
}

static double cases_seconds(const struct run *run)
{
	double sum = 0;
	size_t i;
	json_t *c;

	json_array_foreach(report_cases(run), i, c)
	{
		sum += json_number_value(json_object_get(c, "seconds"));
	}
	return sum;
}

/* A fixture's case.json (NULL when it cannot be read). */
static json_t *fixture_case(const struct bench *b, const char *id)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/fixtures/%s/case.json", b->source_dir, id);
	return json_load_file(path, 0, NULL);
}

/*
 * The runner starts a case whose command waits out its timeout (accepted, exit code 124)
 * beside its -j slots (conformance/main.c); the others share the slots.
 */
static bool case_waits(const struct bench *b, const char *id)
{
	json_t *c = fixture_case(b, id);
	bool waits = json_is_string(json_object_get(c, "outcome")) &&
	             strcmp(json_string_value(json_object_get(c, "outcome")), "accepted") == 0 &&
	             json_integer_value(json_object_get(c, "exit_code")) == 124;

	json_decref(c);
	return waits;
}

/* The guest time of the cases that hold a slot, and how many there are. */
static double slot_seconds(const struct bench *b, const struct run *run, size_t *ret_count)
{
	double sum = 0;
	size_t i, count = 0;
	json_t *c;

	json_array_foreach(report_cases(run), i, c)
	{
		if (case_waits(b, json_string_value(json_object_get(c, "id"))))
			continue;
		sum += json_number_value(json_object_get(c, "seconds"));
		count++;
	}
	*ret_count = count;
	return sum;
}

static bool case_has_tag(json_t *c, const char *tag)
{
	size_t i;
	json_t *t;

	json_array_foreach(json_object_get(c, "tags"), i, t)
	{
		if (json_is_string(t) && strcmp(json_string_value(t), tag) == 0)
			return true;
	}
	return false;
}

/* --- The 2-worker model ------------------------------------------------------------------- */

struct job {
	const char *id;
	double duration;    /* s + o */
	double min_seconds; /* the fixture's lower time bound: what a runner knows beforehand */
	bool sigterm;
	size_t index; /* corpus order */
};

/* List scheduling: each job in the given order goes to the first free worker. */
static double list_schedule(const struct job *jobs, size_t n)
{
	double free_at[WORKERS] = { 0 }, makespan = 0;

	for (size_t i = 0; i < n; i++) {
		size_t w = 0;

		for (size_t k = 1; k < WORKERS; k++)
			if (free_at[k] < free_at[w])
				w = k;
		free_at[w] += jobs[i].duration;
		if (free_at[w] > makespan)
			makespan = free_at[w];
	}
	return makespan;
}

/* The best makespan of any order on two workers: the subset sum closest to half (in ms). */
static double best_split(const struct job *jobs, size_t n)
{
	long total = 0, best;
	long *ms = calloc(n ? n : 1, sizeof(*ms));
	unsigned char *reach;

	if (!ms)
		return NAN;
	for (size_t i = 0; i < n; i++) {
		/* A measured overhead can come out below zero on a noisy machine: no less than 0.
		 */
		ms[i] = jobs[i].duration > 0 ? lround(jobs[i].duration * 1000) : 0;
		total += ms[i];
	}
	reach = calloc((size_t)total + 1, 1);
	if (!reach) {
		free(ms);
		return NAN;
	}
	reach[0] = 1;
	for (size_t i = 0; i < n; i++)
		for (long s = total; s >= ms[i]; s--)
			reach[s] |= reach[s - ms[i]];
	best = total;
	for (long s = 0; s <= total; s++)
		if (reach[s] && (s > total - s ? s : total - s) < best)
			best = s > total - s ? s : total - s;
	free(reach);
	free(ms);
	return (double)best / 1000;
}

static int by_duration(const void *a, const void *b)
{
	const struct job *x = a, *y = b;

	if (x->duration != y->duration)
		return x->duration < y->duration ? 1 : -1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* What a runner can know beforehand: the fixture's min_seconds, then the sigterm tag. */
static int by_known_length(const void *a, const void *b)
{
	const struct job *x = a, *y = b;

	if (x->min_seconds != y->min_seconds)
		return x->min_seconds < y->min_seconds ? 1 : -1;
	if (x->sigterm != y->sigterm)
		return x->sigterm ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

static double fixture_min_seconds(const struct bench *b, const char *id)
{
	json_t *c = fixture_case(b, id);
	double value = json_is_number(json_object_get(c, "min_seconds"))
	                       ? json_number_value(json_object_get(c, "min_seconds"))
	                       : 0;

	json_decref(c);
	return value;
}

struct model {
	double corpus_order, longest_first, known_first, best;
	double sleepers_aside; /* cases that sleep (min_seconds >= 1) beside the two slots */
};

static void model_compute(struct job *jobs, size_t n, double fixed, struct model *m)
{
	struct job *copy = malloc(n * sizeof(*copy));

	m->corpus_order = fixed + list_schedule(jobs, n);
	m->best = fixed + best_split(jobs, n);
	if (!copy) {
		m->longest_first = m->known_first = m->sleepers_aside = NAN;
		return;
	}
	{
		/* The sleepers start at once, beside the slots; the rest share the two slots. */
		size_t rest = 0;
		double aside = 0, shared;

		for (size_t i = 0; i < n; i++) {
			if (jobs[i].min_seconds >= 1)
				aside = jobs[i].duration > aside ? jobs[i].duration : aside;
			else
				copy[rest++] = jobs[i];
		}
		shared = list_schedule(copy, rest);
		m->sleepers_aside = fixed + (aside > shared ? aside : shared);
	}
	memcpy(copy, jobs, n * sizeof(*copy));
	qsort(copy, n, sizeof(*copy), by_duration);
	m->longest_first = fixed + list_schedule(copy, n);
	qsort(copy, n, sizeof(*copy), by_known_length);
	m->known_first = fixed + list_schedule(copy, n);
	free(copy);
}

static json_t *model_json(const struct model *m)
{
	return json_pack("{s:f, s:f, s:f, s:f, s:f}", "corpus_order_s", m->corpus_order,
	                 "longest_first_s", m->longest_first, "min_seconds_first_s", m->known_first,
	                 "best_any_order_s", m->best, "sleepers_aside_s", m->sleepers_aside);
}

/* --- The measurement ---------------------------------------------------------------------- */

/* Where the runner's sandboxes make their per-run folders, and what it gave there. */
struct setting {
	char label[64];
	const char *tmpdir; /* NULL: as inherited */
	int j1_runs, j2_runs;
	struct run *j1; /* the -j1 reports */
	struct samples wall1, wall2, single, overhead, fixed, guest_sum;
	double o, fixed_s; /* medians of overhead and fixed */
	bool all_passed;
};

static int setting_run(const struct bench *b, struct setting *s, const char *jobs,
                       const char *filter, struct run *ret)
{
	const char *saved = getenv("TMPDIR");
	char *copy = saved ? strdup(saved) : NULL;
	int r;

	if (s->tmpdir)
		setenv("TMPDIR", s->tmpdir, 1);
	r = corpus_run(b, jobs, filter, ret);
	if (s->tmpdir) {
		if (copy)
			setenv("TMPDIR", copy, 1);
		else
			unsetenv("TMPDIR");
	}
	free(copy);
	if (r == 0)
		s->all_passed = s->all_passed && ret->all_passed;
	return r;
}

/* Round k of a setting: its -j1 run, its -j2 run and two one-case runs, as many as it has. */
static int setting_round(const struct bench *b, struct setting *s, int k)
{
	if (k < s->j1_runs) {
		if (setting_run(b, s, "1", NULL, &s->j1[k]) < 0)
			return -1;
		samples_add(&s->wall1, s->j1[k].wall);
		samples_add(&s->guest_sum, cases_seconds(&s->j1[k]));
		for (int i = 0; i < 2; i++) {
			struct run one = { 0 };

			if (setting_run(b, s, "1", SINGLE_CASE_ID, &one) < 0)
				return -1;
			samples_add(&s->single, one.wall - cases_seconds(&one));
			json_decref(one.report);
		}
	}
	if (k < s->j2_runs) {
		struct run two = { 0 };

		if (setting_run(b, s, "2", NULL, &two) < 0)
			return -1;
		samples_add(&s->wall2, two.wall);
		json_decref(two.report);
	}
	return 0;
}

/*
 * o and the fixed start-up, per -j1 run, from it and the median one-case run (fixed + o).
 * With -j1 the cases that hold the slot run one after the other; the ones that wait out a
 * timeout run beside it and end before the others do, so they are left out of the sum.
 */
static void setting_overhead(const struct bench *b, struct setting *s)
{
	double single = samples_median(&s->single);

	for (int k = 0; k < s->j1_runs; k++) {
		size_t in_slot;
		double guest = slot_seconds(b, &s->j1[k], &in_slot);
		double o =
		        (s->j1[k].wall - single - guest) / (double)(in_slot > 1 ? in_slot - 1 : 1);

		samples_add(&s->overhead, o);
		samples_add(&s->fixed, single - o);
	}
	s->o = samples_median(&s->overhead);
	s->fixed_s = samples_median(&s->fixed);
}

static void setting_clear(struct setting *s)
{
	for (int k = 0; s->j1 && k < s->j1_runs; k++)
		json_decref(s->j1[k].report);
	free(s->j1);
	samples_clear(&s->wall1);
	samples_clear(&s->wall2);
	samples_clear(&s->single);
	samples_clear(&s->overhead);
	samples_clear(&s->fixed);
	samples_clear(&s->guest_sum);
}

static json_t *setting_json(const struct setting *s)
{
	return json_pack("{s:s, s:s?, s:b, s:o, s:o, s:o, s:o, s:o, s:o}", "folder", s->label,
	                 "TMPDIR", s->tmpdir, "all_passed", s->all_passed, "wall_j1_s",
	                 samples_json(&s->wall1, 1), "wall_j2_s", samples_json(&s->wall2, 1),
	                 "guest_seconds_sum_j1", samples_json(&s->guest_sum, 1),
	                 "overhead_per_case_ms", samples_json(&s->overhead, 1e3),
	                 "fixed_startup_ms", samples_json(&s->fixed, 1e3),
	                 "one_case_wall_minus_guest_ms", samples_json(&s->single, 1e3));
}

/* Each case's duration in the model: its guest time plus the setting's overhead. */
static void jobs_set(struct job *jobs, size_t n, const double *seconds, double o, double grace,
                     double shorter)
{
	for (size_t i = 0; i < n; i++)
		jobs[i].duration = seconds[i] + o - (jobs[i].sigterm ? grace - shorter : 0);
}

/* The longest kill grace (10 ms steps) with which the best 2-worker order stays under 5 s. */
static double grace_reaching_goal(struct job *jobs, size_t n, const double *seconds, double o,
                                  double fixed, double grace)
{
	for (double g = grace; g >= 0; g -= 0.01) {
		jobs_set(jobs, n, seconds, o, grace, g);
		if (fixed + best_split(jobs, n) < GOAL_SECONDS)
			return g;
	}
	return NAN;
}

int bench_corpus(struct bench *b)
{
	struct setting disk = { .j1_runs = b->corpus_runs,
		                .j2_runs = b->corpus_runs,
		                .all_passed = true },
	               tmpfs = { .tmpdir = "/dev/shm",
		                 .j1_runs = 1,
		                 .j2_runs = b->corpus_runs,
		                 .all_passed = true };
	const char *inherited = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	bool have_tmpfs = strcmp(bench_filesystem("/dev/shm"), "tmpfs") == 0 &&
	                  strcmp(bench_filesystem(inherited), "tmpfs") != 0;
	json_t *details = bench_details(b, "corpus"), *c;
	struct samples case_seconds = { 0 };
	struct model disk_model, tmpfs_model = { 0 }, best_model = { 0 };
	double grace = GUEST_KILL_GRACE_MS / 1000.0, started = bench_now(), *seconds = NULL;
	double disk_grace, tmpfs_grace = NAN;
	struct job *jobs = NULL;
	size_t n, i;
	int r = -1;

	snprintf(disk.label, sizeof(disk.label), "%s, %s", inherited, bench_filesystem(inherited));
	snprintf(tmpfs.label, sizeof(tmpfs.label), "/dev/shm, tmpfs");
	disk.j1 = calloc((size_t)disk.j1_runs, sizeof(*disk.j1));
	tmpfs.j1 = calloc((size_t)tmpfs.j1_runs, sizeof(*tmpfs.j1));
	if (!disk.j1 || !tmpfs.j1)
		goto out;
	printf("corpus: %d runs each of -j1 and -j2, alternating, per-run folders in %s%s...\n",
	       b->corpus_runs, disk.label,
	       have_tmpfs ? "; then -j2 and one -j1 with TMPDIR=/dev/shm (tmpfs)" : "");
	fflush(stdout);
	for (int k = 0; k < b->corpus_runs; k++) {
		if (setting_round(b, &disk, k) < 0)
			goto out;
		if (have_tmpfs && setting_round(b, &tmpfs, k) < 0)
			goto out;
	}
	n = json_array_size(report_cases(&disk.j1[0]));
	if (n < 2)
		goto out;
	setting_overhead(b, &disk);
	if (have_tmpfs)
		setting_overhead(b, &tmpfs);

	/* Each case's guest time: its median over the -j1 runs (same order in every report). */
	jobs = calloc(n, sizeof(*jobs));
	seconds = calloc(n, sizeof(*seconds));
	if (!jobs || !seconds)
		goto out;
	json_array_foreach(report_cases(&disk.j1[0]), i, c)
	{
		struct samples s = { 0 };

		for (int k = 0; k < disk.j1_runs; k++)
			samples_add(&s, json_number_value(json_object_get(
			                        json_array_get(report_cases(&disk.j1[k]), i),
			                        "seconds")));
		seconds[i] = samples_median(&s);
		jobs[i].id = json_string_value(json_object_get(c, "id"));
		jobs[i].sigterm = case_has_tag(c, "sigterm");
		jobs[i].min_seconds = fixture_min_seconds(b, jobs[i].id);
		jobs[i].index = i;
		samples_add(&case_seconds, seconds[i]);
		samples_clear(&s);
	}
	jobs_set(jobs, n, seconds, disk.o, grace, grace);
	model_compute(jobs, n, disk.fixed_s, &disk_model);
	disk_grace = grace_reaching_goal(jobs, n, seconds, disk.o, disk.fixed_s, grace);
	if (have_tmpfs) {
		jobs_set(jobs, n, seconds, tmpfs.o, grace, grace);
		model_compute(jobs, n, tmpfs.fixed_s, &tmpfs_model);
		tmpfs_grace = grace_reaching_goal(jobs, n, seconds, tmpfs.o, tmpfs.fixed_s, grace);
		jobs_set(jobs, n, seconds, tmpfs.o, grace, SHORTER_GRACE);
		model_compute(jobs, n, tmpfs.fixed_s, &best_model);
	}

	bench_row_samples(b, "corpus -j1: wall", "s", &disk.wall1, 1, NAN, NULL, GOAL_NONE);
	bench_row_samples(b, "corpus -j2: wall", "s", &disk.wall2, 1,
	                  samples_median(&disk.wall1) / samples_median(&disk.wall2), "< 5 s",
	                  samples_max(&disk.wall2) < GOAL_SECONDS ? GOAL_MET : GOAL_MISSED);
	bench_row_samples(b, "  guest's own time, all cases", "s", &disk.guest_sum, 1, NAN, NULL,
	                  GOAL_NONE);
	bench_row_samples(b, "  guest's own time per case", "ms", &case_seconds, 1e3, NAN, NULL,
	                  GOAL_NONE);
	bench_row_samples(b, "  runner overhead per case", "ms", &disk.overhead, 1e3,
	                  disk.o / samples_median(&case_seconds), NULL, GOAL_NONE);
	bench_row_samples(b, "  runner start-up (corpus, probe, report)", "ms", &disk.fixed, 1e3,
	                  NAN, NULL, GOAL_NONE);
	bench_row(b, "  model -j2, every case in a slot, corpus order", "s",
	          disk_model.corpus_order, NAN, NAN, NAN, NULL, GOAL_NONE);
	bench_row(b, "  model -j2, every case in a slot, long first", "s", disk_model.known_first,
	          NAN, NAN, NAN, NULL, GOAL_NONE);
	/* What-ifs of other schedules: figures to compare, not goals. */
	bench_row(b, "  bound -j2, any order, each case in a slot", "s", disk_model.best, NAN, NAN,
	          NAN, NULL, GOAL_NONE);
	bench_row(b, "  kill grace that lets that bound reach 5 s", "ms", disk_grace * 1e3, NAN,
	          NAN, NAN, NULL, GOAL_NONE);
	bench_row(b, "  model -j2, waiting cases beside (the runner)", "s",
	          disk_model.sleepers_aside, NAN, NAN, NAN, NULL, GOAL_NONE);
	if (have_tmpfs) {
		bench_row_samples(
		        b, "corpus -j2: wall, TMPDIR=/dev/shm (tmpfs)", "s", &tmpfs.wall2, 1, NAN,
		        "< 5 s", samples_max(&tmpfs.wall2) < GOAL_SECONDS ? GOAL_MET : GOAL_MISSED);
		bench_row_samples(b, "  runner overhead per case (tmpfs)", "ms", &tmpfs.overhead,
		                  1e3, tmpfs.o / samples_median(&case_seconds), NULL, GOAL_NONE);
		bench_row(b, "  bound, same, tmpfs overhead", "s", tmpfs_model.best, NAN, NAN, NAN,
		          NULL, GOAL_NONE);
		bench_row(b, "  kill grace that lets that bound reach 5 s", "ms", tmpfs_grace * 1e3,
		          NAN, NAN, NAN, NULL, GOAL_NONE);
		bench_row(b, "  model -j2, tmpfs, 250 ms grace, long first", "s",
		          best_model.known_first, NAN, NAN, NAN, NULL, GOAL_NONE);
	}

	json_object_set_new(details, "cases", json_integer((json_int_t)n));
	json_object_set_new(details, "kill_grace_ms", json_integer(GUEST_KILL_GRACE_MS));
	json_object_set_new(details, "per_run_folders", setting_json(&disk));
	json_object_set_new(details, "model", model_json(&disk_model));
	json_object_set_new(details, "grace_for_goal_ms", json_real(disk_grace * 1e3));
	if (have_tmpfs) {
		json_object_set_new(details, "tmpfs_per_run_folders", setting_json(&tmpfs));
		json_object_set_new(details, "tmpfs_model", model_json(&tmpfs_model));
		json_object_set_new(details, "tmpfs_grace_for_goal_ms",
		                    json_real(tmpfs_grace * 1e3));
		json_object_set_new(details, "tmpfs_250ms_grace_model", model_json(&best_model));
	}
	{
		json_t *per_case = json_object();

		for (i = 0; i < n; i++)
			json_object_set_new(per_case, jobs[i].id, json_real(seconds[i]));
		json_object_set_new(details, "guest_seconds_per_case", per_case);
	}
	json_object_set_new(details, "seconds", json_real(bench_now() - started));
	r = 0;
out:
	setting_clear(&disk);
	setting_clear(&tmpfs);
	samples_clear(&case_seconds);
	free(jobs);
	free(seconds);
	return r;
}
