/* SPDX-License-Identifier: MIT */
/*
 * test-adversary.c - hostile guests against the sandbox (issue 11): each attack gets its named
 * outcome, and after each run the host is untouched: the per-run folder gone, no cgroup, mount
 * or process of the run left, nothing created on the host's root.
 *
 * TAP; the survey table (what a guest sees inside, and the guest as the host sees it) is
 * printed as comment lines. Exit 77 when this process cannot make sandboxes (not root).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"

#define ESCAPE_PATH "/pikaci-adversary-escape"

static const char *hostile; /* the hostile guest program */
static char tag[64];        /* the last argument of every guest this test starts */
static unsigned enforced;   /* PIKACI_SANDBOX_LIMIT_* this machine lets the sandbox set */
static int test_number;
static int failures;

/* One hostile run. */
struct attempt {
	char base[64];  /* a fresh folder the sandbox makes its per-run folder in */
	char name[256]; /* the per-run folder's name, which is also its cgroups' */
	struct pikaci_sandbox *sandbox;
	struct pikaci_sandbox_result result;
	int run_error;
	char error[512];
};

static void tap(bool ok, const char *description, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void tap(bool ok, const char *description, const char *fmt, ...)
{
	char why[1024] = "";
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
	}
	printf("%s %d - %s\n", ok ? "ok" : "not ok", ++test_number, description);
	if (!ok) {
		printf("# %s\n", why);
		failures++;
	}
	fflush(stdout);
}

static void skip(const char *description, const char *why)
{
	printf("ok %d - %s # SKIP %s\n", ++test_number, description, why);
}

/* A test function's early ends. */
#define FAIL(...)                        \
	do {                             \
		tap(false, __VA_ARGS__); \
		return;                  \
	} while (0)
#define SKIP_TEST(...)             \
	do {                       \
		skip(__VA_ARGS__); \
		return;            \
	} while (0)

/* Runs argv in a fresh sandbox; the result or the error stays in the attempt. */
static int attempt_run(struct attempt *a, char *const argv[], char *const *binds, double deadline,
                       pikaci_sandbox_output_fn output, void *userdata)
{
	struct pikaci_sandbox_options options = { .base_dir = a->base, .writable_binds = binds };
	struct dirent *entry;
	DIR *dir;

	snprintf(a->base, sizeof(a->base), "/tmp/pikaci-adversary.XXXXXX");
	if (!mkdtemp(a->base))
		return -errno;
	a->run_error = pikaci_sandbox_new(&options, &a->sandbox, a->error, sizeof(a->error));
	if (a->run_error < 0)
		return a->run_error;
	dir = opendir(a->base);
	while (dir && (entry = readdir(dir)))
		if (entry->d_name[0] != '.')
			snprintf(a->name, sizeof(a->name), "%s", entry->d_name);
	if (dir)
		closedir(dir);
	{
		/* The tag names this test's guests: a bash -c script's $0, hostile ignores it. */
		char *tagged[8] = { 0 };
		size_t n = 0;

		while (argv[n] && n < 6) {
			tagged[n] = argv[n];
			n++;
		}
		tagged[n] = tag;
		a->run_error = pikaci_sandbox_run(a->sandbox, tagged, deadline, output, userdata,
		                                  &a->result);
	}
	if (a->run_error < 0)
		snprintf(a->error, sizeof(a->error), "%s", pikaci_sandbox_error(a->sandbox));
	return a->run_error;
}

static bool cgroup_left(const char *name)
{
	static const char *const controllers[] = { "pids", "memory", "cpu", "" };
	char line[1024], path[2048];
	bool left = false;
	FILE *f = fopen("/proc/self/cgroup", "re");

	while (f && fgets(line, sizeof(line), f)) {
		char *names = strchr(line, ':'), *own = names ? strchr(names + 1, ':') : NULL;
		struct stat st;

		if (!own)
			continue;
		*own++ = '\0';
		own[strcspn(own, "\n")] = '\0';
		for (size_t i = 0; i < 4; i++) {
			if (strcmp(names + 1, controllers[i]) != 0)
				continue;
			snprintf(path, sizeof(path), "/sys/fs/cgroup%s%s%s/%s",
			         *controllers[i] ? "/" : "", controllers[i],
			         strcmp(own, "/") ? own : "", name);
			left = left || stat(path, &st) == 0;
		}
	}
	if (f)
		fclose(f);
	return left;
}

static bool mount_left(const char *name)
{
	char line[4096];
	bool left = false;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	while (f && fgets(line, sizeof(line), f))
		left = left || strstr(line, name) != NULL;
	if (f)
		fclose(f);
	return left;
}

/* A live (not zombie) process this test started as a guest: its command line holds the tag. */
static int tagged_process(void)
{
	struct dirent *entry;
	DIR *proc = opendir("/proc");
	int found = 0;

	while (proc && !found && (entry = readdir(proc))) {
		char path[300], line[4096], stat[512] = "";
		int pid = atoi(entry->d_name);
		size_t n;
		FILE *f;

		if (pid <= 0 || pid == getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
		f = fopen(path, "re");
		if (!f)
			continue;
		n = fread(line, 1, sizeof(line) - 1, f);
		fclose(f);
		line[n] = '\0';
		for (size_t i = 0; i < n; i++)
			if (line[i] == '\0')
				line[i] = ' ';
		if (!strstr(line, tag))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		f = fopen(path, "re");
		if (f && fgets(stat, sizeof(stat), f) && !strstr(stat, ") Z "))
			found = pid;
		if (f)
			fclose(f);
	}
	if (proc)
		closedir(proc);
	return found;
}

/* Frees the sandbox; then nothing of the run may be left on the host. */
static bool attempt_finish(struct attempt *a, char *why, size_t size)
{
	struct stat st;
	int pid;

	pikaci_sandbox_result_clear(&a->result);
	pikaci_sandbox_free(a->sandbox);
	a->sandbox = NULL;
	if (rmdir(a->base) < 0) {
		snprintf(why, size, "the per-run folder is left in %s (%s)", a->base,
		         strerror(errno));
		return false;
	}
	if (*a->name && cgroup_left(a->name)) {
		snprintf(why, size, "the run's cgroup %s is left", a->name);
		return false;
	}
	if (*a->name && mount_left(a->name)) {
		snprintf(why, size, "a mount of %s is left on the host", a->name);
		return false;
	}
	if ((pid = tagged_process()) > 0) {
		snprintf(why, size, "a guest of this test is still alive on the host (pid %d)",
		         pid);
		return false;
	}
	if (lstat(ESCAPE_PATH, &st) == 0) {
		snprintf(why, size, "the guest created %s on the host", ESCAPE_PATH);
		unlink(ESCAPE_PATH);
		return false;
	}
	return true;
}

/* Runs, checks the host afterwards; returns the output (or NULL, reported) for assertions. */
static bool attack(const char *description, char *const argv[], char *const *binds, double deadline,
                   char *out, size_t size, struct pikaci_sandbox_result *ret)
{
	struct attempt a = { 0 };
	char why[512] = "";
	bool untouched;

	attempt_run(&a, argv, binds, deadline, NULL, NULL);
	if (a.run_error == 0) {
		snprintf(out, size, "%s", a.result.out ? a.result.out : "");
		if (ret) {
			*ret = a.result;
			ret->out = ret->err = NULL;
		}
	}
	untouched = attempt_finish(&a, why, sizeof(why));
	if (a.run_error < 0) {
		tap(false, description, "the sandbox could not run the guest: %s", a.error);
		return false;
	}
	if (!untouched) {
		tap(false, description, "host touched: %s", why);
		return false;
	}
	return true;
}

static void expect_lines(const char *description, char *const argv[], char *const *binds,
                         const char *const *expected)
{
	char out[8192];

	if (!attack(description, argv, binds, 20, out, sizeof(out), NULL))
		return;
	for (const char *const *line = expected; *line; line++)
		if (!strstr(out, *line)) {
			tap(false, description, "expected \"%s\" in the guest's output, got: %s",
			    *line, out);
			return;
		}
	tap(true, description, NULL);
}

/* --- The survey --------------------------------------------------------------------------- */

static void print_host_view(int pid)
{
	static const char *const keys[] = { "Uid:",    "Gid:",        "CapEff:",  "CapBnd:",
		                            "CapPrm:", "NoNewPrivs:", "Seccomp:", "NSpid:" };
	char path[64], line[512];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	printf("# | %-12s | the guest as the host sees it (host pid %d)\n", "seen outside", pid);
	while (f && fgets(line, sizeof(line), f))
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (strncmp(line, keys[i], strlen(keys[i])) == 0) {
				char *value = line + strlen(keys[i]);

				value += strspn(value, " \t");
				value[strcspn(value, "\n")] = '\0';
				printf("# | %-12.*s | %s\n", (int)strlen(keys[i]) - 1, keys[i],
				       value);
			}
	if (f)
		fclose(f);
}

struct survey {
	bool seen;
	unsigned long long host_cap_eff;
	int host_seccomp;
	int host_uid;
};

static void survey_output(void *userdata, int stream, const char *bytes, size_t length)
{
	struct survey *s = userdata;
	char path[64], line[512];
	int pid;
	FILE *f;

	if (s->seen || !memmem(bytes, length, "ready\n", 6) || (pid = tagged_process()) <= 0)
		return;
	s->seen = true;
	print_host_view(pid);
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "CapEff:", 7))
			s->host_cap_eff = strtoull(line + 7, NULL, 16);
		else if (!strncmp(line, "Seccomp:", 8))
			s->host_seccomp = atoi(line + 8);
		else if (!strncmp(line, "Uid:", 4))
			s->host_uid = atoi(line + 4);
	}
	if (f)
		fclose(f);
}

/* Capability bits that reach past the namespaces (linux/capability.h numbers). */
static const struct {
	int bit;
	const char *name;
} dangerous[] = { { 2, "DAC_READ_SEARCH" },
	          { 9, "LINUX_IMMUTABLE" },
	          { 16, "SYS_MODULE" },
	          { 17, "SYS_RAWIO" },
	          { 19, "SYS_PTRACE" },
	          { 21, "SYS_ADMIN" },
	          { 23, "SYS_NICE" },
	          { 24, "SYS_RESOURCE" },
	          { 14, "IPC_LOCK" },
	          { 38, "PERFMON" },
	          { 39, "BPF" },
	          { 27, "MKNOD" } };

static void test_survey(void)
{
	const char *description = "survey: the guest's capabilities, seccomp and namespaces";
	char *argv[] = { (char *)hostile, "survey", NULL };
	struct survey s = { 0 };
	struct attempt a = { 0 };
	char why[512] = "", *line;
	bool untouched;

	attempt_run(&a, argv, NULL, 20, survey_output, &s);
	if (a.run_error == 0) {
		enforced = a.result.limits_enforced;
		printf("# limits enforced here: pids %s, memory %s, cpu %s, upper layer %s\n",
		       enforced & PIKACI_SANDBOX_LIMIT_PIDS ? "yes" : "no",
		       enforced & PIKACI_SANDBOX_LIMIT_MEMORY ? "yes" : "no",
		       enforced & PIKACI_SANDBOX_LIMIT_CPU ? "yes" : "no",
		       enforced & PIKACI_SANDBOX_LIMIT_UPPER ? "yes" : "no");
		for (char *p = a.result.out; p && (line = strsep(&p, "\n"));)
			if (*line == '|')
				printf("# %s\n", line);
	}
	untouched = attempt_finish(&a, why, sizeof(why));
	if (a.run_error < 0)
		FAIL(description, "the sandbox could not run the guest: %s", a.error);
	if (!untouched)
		FAIL(description, "host touched: %s", why);
	if (!s.seen)
		FAIL(description, "the guest was not found from the host while it ran");
	for (size_t i = 0; i < sizeof(dangerous) / sizeof(dangerous[0]); i++)
		if (s.host_cap_eff & (1ull << dangerous[i].bit))
			FAIL(description, "the guest holds CAP_%s", dangerous[i].name);
	if (s.host_seccomp != 2)
		FAIL(description, "no seccomp filter (mode %d)", s.host_seccomp);
	tap(true, description, NULL);
}

/* --- The attacks -------------------------------------------------------------------------- */

static void test_handles_through_program_bind(void)
{
	static const char *const expected[] = { "name_to_handle_at: EPERM",
		                                "open_by_handle_at: EPERM", NULL };
	char folder[] = "/tmp/pikaci-adversary-program.XXXXXX", copy[128], command[512];
	char *argv[] = { copy, "handles", copy, NULL };

	if (!mkdtemp(folder))
		FAIL("open_by_handle_at through the guest's own bind", "mkdtemp");
	snprintf(copy, sizeof(copy), "%s/hostile", folder);
	snprintf(command, sizeof(command), "cp %s %s", hostile, copy);
	if (system(command) != 0)
		FAIL("open_by_handle_at through the guest's own bind", "cannot copy");
	/* Under /tmp the program is bound in: a handle would reach the host's filesystem. */
	expect_lines("open_by_handle_at through the guest's own bind: EPERM", argv, NULL, expected);
	unlink(copy);
	rmdir(folder);
}

static void test_handles_through_writable_bind(void)
{
	static const char *const expected[] = { "name_to_handle_at: EPERM",
		                                "open_by_handle_at: EPERM", NULL };
	char folder[] = "/tmp/pikaci-adversary-bind.XXXXXX";
	char *binds[] = { folder, NULL }, *argv[] = { (char *)hostile, "handles", folder, NULL };
	struct stat st;

	if (!mkdtemp(folder))
		FAIL("open_by_handle_at through a writable bind", "mkdtemp");
	expect_lines("open_by_handle_at through a writable bind (PIKACI_SANDBOX_BIND): EPERM", argv,
	             binds, expected);
	if (lstat(ESCAPE_PATH, &st) == 0)
		unlink(ESCAPE_PATH);
	rmdir(folder);
}

static void test_syscalls(void)
{
	static const char *const perf[] = { "perf_event_open: EPERM", NULL };
	static const char *const bpf[] = { "bpf: EPERM", NULL };
	static const char *const ptrace[] = { "ptrace: EPERM", NULL };
	static const char *const unshare[] = { "unshare: EPERM", NULL };
	static const char *const mount[] = { "mount: EPERM", NULL };
	char *perf_argv[] = { (char *)hostile, "perf", NULL };
	char *bpf_argv[] = { (char *)hostile, "bpf", NULL };
	char *ptrace_argv[] = { (char *)hostile, "ptrace", NULL };
	char *unshare_argv[] = { (char *)hostile, "unshare", NULL };
	char *mount_argv[] = { (char *)hostile, "mount", NULL };

	expect_lines("system-wide perf_event_open: EPERM", perf_argv, NULL, perf);
	expect_lines("a kprobe BPF program: EPERM", bpf_argv, NULL, bpf);
	expect_lines("ptrace of the sandbox's init: EPERM", ptrace_argv, NULL, ptrace);
	expect_lines("a new user namespace: EPERM", unshare_argv, NULL, unshare);
	expect_lines("a mount after setup: EPERM", mount_argv, NULL, mount);
}

static void test_proc_writes(void)
{
	static const char *const expected[] = { "irq: Read-only file system",
		                                "sys: Read-only file system",
		                                "kcore 0",
		                                "keys 0",
		                                "ro /proc/fs",
		                                "ro /proc/irq",
		                                "ro /proc/sys",
		                                NULL };
	char *argv[] = {
		"/bin/bash", "-c",
		"(echo 1 > /proc/irq/default_smp_affinity) 2>&1 | sed 's/.*: /irq: /';"
		"(echo x > /proc/sys/kernel/hostname) 2>&1 | sed 's/.*: /sys: /';"
		"awk '$5 ~ /^\\/proc\\/(sys|irq|fs|bus)$/ && $6 ~ /^ro/ { print \"ro \" $5 }'"
		" /proc/self/mountinfo;"
		"echo kcore $(head -c 64 /proc/kcore | wc -c);"
		"echo keys $(wc -c < /proc/keys)",
		NULL
	};

	expect_lines("/proc/irq, /proc/sys, /proc/fs read-only; kcore, keys masked", argv, NULL,
	             expected);
}

static void test_secrets(void)
{
	static const char *const expected[] = { "shadow 0", "gshadow 0", "root 0", "ssh 0", NULL };
	char *argv[] = { "/bin/bash", "-c",
		         "echo shadow $(cat /etc/shadow 2>/dev/null | wc -c);"
		         "echo gshadow $(cat /etc/gshadow 2>/dev/null | wc -c);"
		         "echo root $(ls -A /root | wc -l);"
		         "echo ssh $(ls -A /etc/ssh 2>/dev/null | grep -c key)",
		         NULL };

	expect_lines("/etc/shadow, /etc/gshadow, /root and ssh host keys unreadable", argv, NULL,
	             expected);
}

static void test_hard_link_into_result(void)
{
	const char *description = "a hard link to /etc/shadow as result.json is refused: EMLINK";
	char *argv[] = {
		"/bin/bash", "-c",
		"mkdir -p /run/pika-cloud && ln /etc/shadow /run/pika-cloud/result.json && "
		"ln /etc/hostname /run/pika-cloud/status.json && echo linked",
		NULL
	};
	struct attempt a = { 0 };
	char why[512] = "", *bytes = NULL;
	size_t length = 0;
	int shadow = 0, hostname = 0;
	bool untouched, linked = false;

	attempt_run(&a, argv, NULL, 20, NULL, NULL);
	if (a.run_error == 0) {
		linked = a.result.out && strstr(a.result.out, "linked");
		shadow = pikaci_sandbox_read_file(a.sandbox, "/run/pika-cloud/result.json", 1 << 20,
		                                  &bytes, &length);
		free(bytes);
		bytes = NULL;
		hostname = pikaci_sandbox_read_file(a.sandbox, "/run/pika-cloud/status.json",
		                                    1 << 20, &bytes, &length);
		free(bytes);
	}
	untouched = attempt_finish(&a, why, sizeof(why));
	if (a.run_error < 0)
		FAIL(description, "the sandbox could not run the guest: %s", a.error);
	if (!untouched)
		FAIL(description, "host touched: %s", why);
	if (!linked)
		FAIL(description, "the guest could not even make the links");
	if (shadow != -EMLINK || hostname != -EMLINK)
		FAIL(description, "read back: %s and %s, not EMLINK", strerror(-shadow),
		     strerror(-hostname));
	tap(true, description, NULL);
}

static void test_fork_bomb(void)
{
	const char *description = "a fork bomb stops at the pids limit, the host stays healthy";
	char *argv[] = { "/bin/bash", "-c", "bomb() { bomb | bomb & }; bomb; sleep 30", NULL };
	struct pikaci_sandbox_result r = { 0 };
	char out[4096];

	if (!(enforced & PIKACI_SANDBOX_LIMIT_PIDS))
		SKIP_TEST(description, "no writable pids cgroup on this machine");
	if (!attack(description, argv, NULL, 5, out, sizeof(out), &r))
		return;
	if (!(r.limits_hit & PIKACI_SANDBOX_LIMIT_PIDS))
		FAIL(description, "the pids limit was never reached");
	printf("# fork bomb: %s, pids limit reached\n",
	       r.timed_out ? "timed out at the deadline" : "ended by itself");
	tap(true, description, NULL);
}

static void test_memory_hog(void)
{
	const char *description = "a memory hog is killed by the memory limit (SIGKILL)";
	char *argv[] = { (char *)hostile, "memory", NULL };
	struct pikaci_sandbox_result r = { 0 };
	char out[4096];

	if (!(enforced & PIKACI_SANDBOX_LIMIT_MEMORY))
		SKIP_TEST(description, "no writable memory cgroup on this machine");
	if (!attack(description, argv, NULL, 60, out, sizeof(out), &r))
		return;
	if (r.timed_out || !WIFSIGNALED(r.status) || WTERMSIG(r.status) != SIGKILL)
		FAIL(description, "the guest was not killed (status %#x): %s", r.status, out);
	if (!(r.limits_hit & PIKACI_SANDBOX_LIMIT_MEMORY))
		FAIL(description, "killed, but not by the memory limit's OOM killer");
	tap(true, description, NULL);
}

/* dd writes `mib` MiB into `path`; it must stop at ENOSPC with the tmpfs's size. */
static void test_fill(const char *description, const char *path, int mib, long max_kib)
{
	char command[512], out[4096];
	char *argv[] = { "/bin/bash", "-c", command, NULL };
	char *sizes;
	long kib;

	snprintf(command, sizeof(command),
	         "dd if=/dev/zero of=%s bs=1M count=%d 2>&1 | grep -o 'No space left on device'"
	         " | head -1; echo size $(du -k %s | cut -f1)",
	         path, mib, path);
	if (!attack(description, argv, NULL, 60, out, sizeof(out), NULL))
		return;
	sizes = strstr(out, "size ");
	kib = sizes ? atol(sizes + 5) : -1;
	if (!strstr(out, "No space left on device") || kib <= 0 || kib > max_kib)
		FAIL(description, "expected ENOSPC within %ld KiB, got: %s", max_kib, out);
	tap(true, description, NULL);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test-adversary HOSTILE-GUEST\n");
		return 99;
	}
	hostile = argv[1];
	snprintf(tag, sizeof(tag), "pikaci-adversary-%d", (int)getpid());
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0) {
		printf("1..0 # SKIP the sandbox needs root\n");
		return 77;
	}
	printf("1..16\n");
	test_survey();
	test_handles_through_program_bind();
	test_handles_through_writable_bind();
	test_syscalls();
	test_proc_writes();
	test_secrets();
	test_hard_link_into_result();
	test_fork_bomb();
	test_memory_hog();
	test_fill("/tmp fills at 64 MiB: ENOSPC", "/tmp/fill", 100, 64 * 1024);
	test_fill("/dev/shm fills at 64 MiB: ENOSPC", "/dev/shm/fill", 100, 64 * 1024);
	if (enforced & PIKACI_SANDBOX_LIMIT_UPPER)
		test_fill("the upper layer fills at 256 MiB: ENOSPC", "/fill", 400, 256 * 1024);
	else
		skip("the upper layer fills at 256 MiB: ENOSPC",
		     "no fsopen() here: the upper layer is on disk, unbounded");
	return failures ? 1 : 0;
}
