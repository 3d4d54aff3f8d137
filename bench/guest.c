/* SPDX-License-Identifier: MIT */
/*
 * guest.c - the reference guest's own cost: the guest running `true` (a valid request,
 * run_as_root true) in the overlay sandbox, against the floor, the same sandbox running
 * `bash --noprofile --norc -c true` directly, and a null guest (bench/null-guest.c: exec'd,
 * forks bash, waits; no request, no files) that shows what any guest of this shape costs.
 * The three rotate run by run, with per-run folders where the sandbox puts them by default
 * ($TMPDIR, else /tmp), then on a tmpfs (/dev/shm) as a real guest's /run is.
 *
 * Time is the sandbox's own account of the run, from the fork of the program to its exit
 * (pikaci_sandbox_result.seconds): what the guest adds over bash and nothing of the sandbox.
 * The whole cycle (folder, namespaces, mounts, removal) is reported beside it.
 *
 * Peak RSS is the guest process's own VmHWM, read under ptrace at its exit (PTRACE_EVENT_EXIT,
 * the address space is still there): wait4's ru_maxrss would also count the bash it forks.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "pikaci-contract.h"
#include "sandbox.h"

#define REQUEST_TRUE \
	"{\"schema_version\":2,\"command\":\"true\",\"timeout_secs\":60,\"run_as_root\":true}"
#define RSS_TAG "pikaci-bench-rss "

/* One sandbox cycle, in seconds. */
struct cycle {
	double setup;    /* pikaci_sandbox_new and the request written */
	double run;      /* pikaci_sandbox_run: clone, mounts, the program, namespace teardown */
	double program;  /* the program alone, fork to exit, as init measured it */
	double teardown; /* pikaci_sandbox_free: the per-run folder removed */
	long vmhwm_kib;  /* with the rss probe: the program's own peak RSS */
	long maxrss_kib; /* and wait4's, which includes its children */
};

static int cycle_run(const char *base_dir, char *const argv[], bool check_result, struct cycle *ret)
{
	struct pikaci_sandbox_options options = { .base_dir = base_dir };
	struct pikaci_sandbox_result result = { 0 };
	struct pikaci_sandbox *sandbox = NULL;
	char errbuf[512];
	double t0, t1, t2, t3;
	int r;

	memset(ret, 0, sizeof(*ret));
	t0 = bench_now();
	r = pikaci_sandbox_new(&options, &sandbox, errbuf, sizeof(errbuf));
	if (r < 0) {
		fprintf(stderr, "pikaci-bench: cannot make a sandbox: %s\n", errbuf);
		return r;
	}
	r = pikaci_sandbox_write_file(sandbox, PIKACI_REQUEST_PATH, REQUEST_TRUE,
	                              strlen(REQUEST_TRUE), 0644);
	t1 = bench_now();
	if (r == 0)
		r = pikaci_sandbox_run(sandbox, argv, 30, NULL, NULL, &result);
	t2 = bench_now();
	if (r < 0) {
		fprintf(stderr, "pikaci-bench: cannot run %s in the sandbox: %s\n", argv[0],
		        pikaci_sandbox_error(sandbox));
		goto out;
	}
	if (result.timed_out || !WIFEXITED(result.status) || WEXITSTATUS(result.status) != 0) {
		fprintf(stderr, "pikaci-bench: %s did not exit 0 in the sandbox: %s\n", argv[0],
		        result.err ? result.err : "");
		r = -EIO;
		goto out;
	}
	if (check_result) {
		/* Outside the timed phases: the guest did its whole job. */
		char *bytes = NULL;
		size_t length = 0;

		r = pikaci_sandbox_read_file(sandbox, PIKACI_RESULT_PATH, 1 << 20, &bytes, &length);
		if (r < 0 || !strstr(bytes, "\"status\":\"completed\"")) {
			fprintf(stderr, "pikaci-bench: the guest left no completed result.json\n");
			r = -EIO;
		}
		free(bytes);
		if (r < 0)
			goto out;
	}
	if (result.err) {
		const char *tag = strstr(result.err, RSS_TAG);

		if (tag)
			sscanf(tag, RSS_TAG "vmhwm_kib=%ld maxrss_kib=%ld", &ret->vmhwm_kib,
			       &ret->maxrss_kib);
	}
	ret->setup = t1 - t0;
	ret->run = t2 - t1;
	ret->program = result.seconds;
out:
	pikaci_sandbox_result_clear(&result);
	t2 = bench_now();
	pikaci_sandbox_free(sandbox);
	t3 = bench_now();
	ret->teardown = t3 - t2;
	return r;
}

struct side {
	struct samples program, total, setup, in_run, teardown;
};

static void side_add(struct side *s, const struct cycle *c)
{
	samples_add(&s->program, c->program);
	samples_add(&s->total, c->setup + c->run + c->teardown);
	samples_add(&s->setup, c->setup);
	samples_add(&s->in_run, c->run - c->program);
	samples_add(&s->teardown, c->teardown);
}

static void side_clear(struct side *s)
{
	samples_clear(&s->program);
	samples_clear(&s->total);
	samples_clear(&s->setup);
	samples_clear(&s->in_run);
	samples_clear(&s->teardown);
}

static json_t *side_json(const struct side *s)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o}", "program_ms", samples_json(&s->program, 1e3),
	                 "cycle_ms", samples_json(&s->total, 1e3), "setup_ms",
	                 samples_json(&s->setup, 1e3), "in_run_ms", samples_json(&s->in_run, 1e3),
	                 "teardown_ms", samples_json(&s->teardown, 1e3));
}

/*
 * One configuration: the guest, the floor and the null guest, rotated run by run (GFN, FNG,
 * NGF, ...) so that none always follows the same one.
 */
static int series_run(struct bench *b, const char *base_dir, struct side *guest,
                      struct side *floor_, struct side *null, struct samples *pair_ratio)
{
	char *guest_argv[] = { b->guest, PIKACI_REQUEST_PATH, NULL };
	char *floor_argv[] = { "bash", "--noprofile", "--norc", "-c", "true", NULL };
	char *null_argv[] = { b->null_guest, "true", NULL };
	char *const *argvs[3] = { guest_argv, floor_argv, null_argv };
	struct side *sides[3] = { guest, floor_, null };
	struct cycle c[3];

	/* Warm the page cache and the kernel's slabs; these runs are not counted. */
	for (int i = 0; i < 3 * 3; i++)
		if (cycle_run(base_dir, argvs[i % 3], i % 3 == 0, &c[0]) < 0)
			return -1;
	for (int i = 0; i < b->guest_runs; i++) {
		for (int k = 0; k < 3; k++) {
			int which = (i + k) % 3;

			if (cycle_run(base_dir, argvs[which], which == 0, &c[which]) < 0)
				return -1;
		}
		for (int k = 0; k < 3; k++)
			side_add(sides[k], &c[k]);
		samples_add(pair_ratio, c[0].program / c[1].program);
	}
	return 0;
}

static void series_rows(struct bench *b, const char *where, const struct side *guest,
                        const struct side *floor_, const struct side *null)
{
	double floor_median = samples_median(&floor_->program);
	double ratio = samples_median(&guest->program) / floor_median;
	char name[128];

	snprintf(name, sizeof(name), "guest `true`, fork->exit [%s]", where);
	bench_row_samples(b, name, "ms", &guest->program, 1e3, ratio, "<= 1.3x",
	                  ratio <= 1.3 ? GOAL_MET : GOAL_MISSED);
	bench_row_samples(b, "  floor `bash -c true`, fork->exit", "ms", &floor_->program, 1e3, NAN,
	                  NULL, GOAL_NONE);
	bench_row_samples(b, "  null guest: fork bash -lc, wait; no I/O", "ms", &null->program, 1e3,
	                  samples_median(&null->program) / floor_median, NULL, GOAL_NONE);
	snprintf(name, sizeof(name), "  guest, whole sandbox cycle [%s]", where);
	bench_row_samples(b, name, "ms", &guest->total, 1e3,
	                  samples_median(&guest->total) / samples_median(&floor_->total), NULL,
	                  GOAL_NONE);
	bench_row_samples(b, "  floor, whole sandbox cycle", "ms", &floor_->total, 1e3, NAN, NULL,
	                  GOAL_NONE);
	bench_row_samples(b, "  sandbox set-up (folder, passwd, request)", "ms", &guest->setup, 1e3,
	                  NAN, NULL, GOAL_NONE);
	bench_row_samples(b, "  sandbox in-run (clone, mounts, exit) - guest", "ms", &guest->in_run,
	                  1e3, NAN, NULL, GOAL_NONE);
	bench_row_samples(b, "  sandbox teardown (folder removed)", "ms", &guest->teardown, 1e3,
	                  NAN, NULL, GOAL_NONE);
}

int bench_guest(struct bench *b)
{
	char *probe_guest[] = { b->self, "rss-probe", b->guest, PIKACI_REQUEST_PATH, NULL };
	char *probe_floor[] = { b->self,  "rss-probe", "/bin/bash", "--noprofile",
		                "--norc", "-c",        "true",      NULL };
	const char *default_dir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	bool have_tmpfs = strcmp(bench_filesystem("/dev/shm"), "tmpfs") == 0 &&
	                  strcmp(bench_filesystem(default_dir), "tmpfs") != 0;
	struct side guest = { 0 }, floor_ = { 0 }, null = { 0 };
	struct side tmpfs_guest = { 0 }, tmpfs_floor = { 0 }, tmpfs_null = { 0 };
	struct samples vmhwm = { 0 }, maxrss = { 0 }, floor_vmhwm = { 0 }, pair_ratio = { 0 },
	               tmpfs_pair_ratio = { 0 };
	char where[128], tmpfs_where[] = "/dev/shm, tmpfs";
	json_t *details;
	struct cycle c;
	double started = bench_now();
	int r = -1;

	snprintf(where, sizeof(where), "%s, %s", default_dir, bench_filesystem(default_dir));
	printf("guest overhead: %d runs each of the guest, the floor and a null guest, rotating, "
	       "per-run folders in %s%s...\n",
	       b->guest_runs, where, have_tmpfs ? ", then in /dev/shm (tmpfs)" : "");
	fflush(stdout);
	if (series_run(b, NULL, &guest, &floor_, &null, &pair_ratio) < 0)
		goto out;
	if (have_tmpfs && series_run(b, "/dev/shm", &tmpfs_guest, &tmpfs_floor, &tmpfs_null,
	                             &tmpfs_pair_ratio) < 0)
		goto out;
	for (int i = 0; i < b->rss_runs; i++) {
		if (cycle_run(NULL, probe_guest, true, &c) < 0 || c.vmhwm_kib <= 0) {
			fprintf(stderr, "pikaci-bench: the rss probe reported nothing\n");
			goto out;
		}
		samples_add(&vmhwm, (double)c.vmhwm_kib);
		samples_add(&maxrss, (double)c.maxrss_kib);
		if (cycle_run(NULL, probe_floor, false, &c) < 0)
			goto out;
		samples_add(&floor_vmhwm, (double)c.vmhwm_kib);
	}

	series_rows(b, where, &guest, &floor_, &null);
	if (have_tmpfs)
		series_rows(b, tmpfs_where, &tmpfs_guest, &tmpfs_floor, &tmpfs_null);
	bench_row_samples(b, "guest peak RSS, own (VmHWM at exit)", "KiB", &vmhwm, 1, NAN,
	                  "<= 2048 KiB", samples_max(&vmhwm) <= 2048 ? GOAL_MET : GOAL_MISSED);
	bench_row_samples(b, "  guest wait4 ru_maxrss (counts its bash)", "KiB", &maxrss, 1, NAN,
	                  NULL, GOAL_NONE);
	bench_row_samples(b, "  floor bash peak RSS (VmHWM at exit)", "KiB", &floor_vmhwm, 1, NAN,
	                  NULL, GOAL_NONE);

	details = bench_details(b, "guest");
	json_object_set_new(details, "runs_per_program", json_integer(b->guest_runs));
	json_object_set_new(details, "folder", json_string(where));
	json_object_set_new(details, "paired_ratio_median", json_real(samples_median(&pair_ratio)));
	json_object_set_new(details, "guest", side_json(&guest));
	json_object_set_new(details, "floor", side_json(&floor_));
	json_object_set_new(details, "null_guest", side_json(&null));
	if (have_tmpfs) {
		json_object_set_new(
		        details, "tmpfs",
		        json_pack("{s:s, s:f, s:o, s:o, s:o}", "folder", "/dev/shm",
		                  "paired_ratio_median", samples_median(&tmpfs_pair_ratio), "guest",
		                  side_json(&tmpfs_guest), "floor", side_json(&tmpfs_floor),
		                  "null_guest", side_json(&tmpfs_null)));
	}
	json_object_set_new(details, "guest_vmhwm_kib", samples_json(&vmhwm, 1));
	json_object_set_new(details, "guest_wait4_maxrss_kib", samples_json(&maxrss, 1));
	json_object_set_new(details, "floor_vmhwm_kib", samples_json(&floor_vmhwm, 1));
	json_object_set_new(details, "seconds", json_real(bench_now() - started));
	r = 0;
out:
	side_clear(&guest);
	side_clear(&floor_);
	side_clear(&null);
	side_clear(&tmpfs_guest);
	side_clear(&tmpfs_floor);
	side_clear(&tmpfs_null);
	samples_clear(&vmhwm);
	samples_clear(&maxrss);
	samples_clear(&floor_vmhwm);
	samples_clear(&pair_ratio);
	samples_clear(&tmpfs_pair_ratio);
	return r;
}

/* --- One run by hand, to profile it ------------------------------------------------------- */

int bench_in_sandbox(int argc, char **argv)
{
	struct pikaci_sandbox_options options = { .keep = argc > 0 &&
		                                          strcmp(argv[0], "--keep") == 0 };
	struct pikaci_sandbox_result result = { 0 };
	struct pikaci_sandbox *sandbox = NULL;
	char errbuf[512];
	int r;

	argc -= options.keep;
	argv += options.keep;
	if (argc < 1) {
		fprintf(stderr, "usage: pikaci-bench in-sandbox [--keep] PROGRAM [ARG...]\n");
		return 2;
	}
	r = pikaci_sandbox_new(&options, &sandbox, errbuf, sizeof(errbuf));
	if (r < 0) {
		fprintf(stderr, "pikaci-bench: cannot make a sandbox: %s\n", errbuf);
		return 77;
	}
	r = pikaci_sandbox_write_file(sandbox, PIKACI_REQUEST_PATH, REQUEST_TRUE,
	                              strlen(REQUEST_TRUE), 0644);
	if (r == 0)
		r = pikaci_sandbox_run(sandbox, argv, 600, NULL, NULL, &result);
	if (r < 0) {
		fprintf(stderr, "pikaci-bench: %s\n", pikaci_sandbox_error(sandbox));
	} else {
		if (result.out)
			fwrite(result.out, 1, result.out_length, stdout);
		if (result.err)
			fwrite(result.err, 1, result.err_length, stderr);
		fprintf(stderr, "pikaci-bench: wait status %d, %.3f ms from fork to exit\n",
		        result.status, result.seconds * 1e3);
		if (options.keep)
			fprintf(stderr, "pikaci-bench: kept %s\n", pikaci_sandbox_upper(sandbox));
	}
	pikaci_sandbox_result_clear(&result);
	pikaci_sandbox_free(sandbox);
	return r < 0 ? 1 : 0;
}

/* --- The probe, inside the sandbox -------------------------------------------------------- */

static long status_kib(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t length = strlen(field);
	long value = -1;
	FILE *in;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	in = fopen(path, "re");
	if (!in)
		return -1;
	while (fgets(line, sizeof(line), in))
		if (strncmp(line, field, length) == 0 && line[length] == ':')
			value = strtol(line + length + 1, NULL, 10);
	fclose(in);
	return value;
}

/* Rss of each mapping, summed by file (what a peak RSS is made of), on stderr. */
static void smaps_dump(pid_t pid)
{
	char path[64], line[512], name[256] = "[anonymous]";
	FILE *in;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	in = fopen(path, "re");
	if (!in)
		return;
	while (fgets(line, sizeof(line), in)) {
		unsigned long start, end;
		long kib;
		int consumed = 0;

		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &start, &end, &consumed) >= 2) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(name, sizeof(name), "%s",
			         consumed && line[consumed] ? line + consumed : "[anonymous]");
		} else if (sscanf(line, "Rss: %ld kB", &kib) == 1 && kib > 0) {
			fprintf(stderr, "smaps %6ld KiB %s\n", kib, name);
		}
	}
	fclose(in);
}

int bench_rss_probe(int argc, char **argv)
{
	bool smaps = argc > 0 && strcmp(argv[0], "--smaps") == 0;
	long vmhwm = -1;
	struct rusage usage = { 0 };
	int status;
	pid_t pid;

	argc -= smaps;
	argv += smaps;
	if (argc < 1) {
		fprintf(stderr, "usage: pikaci-bench rss-probe [--smaps] PROGRAM [ARG...]\n");
		return 2;
	}
	pid = fork();
	if (pid < 0)
		return 125;
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		execv(argv[0], argv);
		_exit(127);
	}
	/* The first stop is the SIGTRAP of the exec. */
	if (waitpid(pid, &status, 0) < 0 || !WIFSTOPPED(status))
		return 125;
	ptrace(PTRACE_SETOPTIONS, pid, NULL,
	       (void *)(long)(PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL));
	ptrace(PTRACE_CONT, pid, NULL, NULL);
	for (;;) {
		if (wait4(pid, &status, 0, &usage) < 0) {
			if (errno == EINTR)
				continue;
			return 125;
		}
		if (WIFSTOPPED(status)) {
			int sig = WSTOPSIG(status);

			if (sig == SIGTRAP && status >> 16 == PTRACE_EVENT_EXIT) {
				/* Exiting, the address space still mapped: its high-water mark. */
				vmhwm = status_kib(pid, "VmHWM");
				if (smaps)
					smaps_dump(pid);
				sig = 0;
			}
			ptrace(PTRACE_CONT, pid, NULL, (void *)(long)sig);
			continue;
		}
		break;
	}
	fprintf(stderr, RSS_TAG "vmhwm_kib=%ld maxrss_kib=%ld\n", vmhwm, usage.ru_maxrss);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
