/* SPDX-License-Identifier: MIT */
/* test-sandbox.c - the overlay sandbox isolates files, processes and network, and cleans up. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "pikaci-contract.h"
#include "sandbox.h"

struct run {
	struct pikaci_sandbox *sandbox;
	struct pikaci_sandbox_result result;
};

static int setup(void **state)
{
	struct run *run = calloc(1, sizeof(*run));
	char errbuf[512];

	if (!run || pikaci_sandbox_new(NULL, &run->sandbox, errbuf, sizeof(errbuf)) < 0) {
		fprintf(stderr, "# sandbox: %s\n", errbuf);
		free(run);
		return -1;
	}
	*state = run;
	return 0;
}

static int teardown(void **state)
{
	struct run *run = *state;

	pikaci_sandbox_result_clear(&run->result);
	pikaci_sandbox_free(run->sandbox);
	free(run);
	return 0;
}

/* Runs a bash script inside and asserts that the sandbox itself worked. */
static struct pikaci_sandbox_result *sh(void **state, const char *script, double deadline)
{
	struct run *run = *state;
	char *argv[] = { "/bin/bash", "-c", (char *)script, NULL };

	if (pikaci_sandbox_run(run->sandbox, argv, deadline, NULL, NULL, &run->result) < 0)
		fail_msg("run failed: %s", pikaci_sandbox_error(run->sandbox));
	return &run->result;
}

static void assert_exit(const struct pikaci_sandbox_result *result, int code)
{
	if (result->timed_out || !WIFEXITED(result->status) || WEXITSTATUS(result->status) != code)
		fail_msg("expected exit %d, got status 0x%x (timed out: %d); stderr: %s", code,
		         result->status, result->timed_out, result->err ? result->err : "");
}

static void test_captures_stdout_stderr_and_status(void **state)
{
	struct pikaci_sandbox_result *r = sh(state, "echo out; echo err >&2; exit 3", 10);

	assert_exit(r, 3);
	assert_string_equal(r->out, "out\n");
	assert_string_equal(r->err, "err\n");
	assert_false(r->truncated);
}

static void test_writes_land_in_upper_layer_only(void **state)
{
	struct run *run = *state;
	struct pikaci_sandbox_result *r;
	char *bytes = NULL;
	size_t length = 0;
	struct stat st;

	/* Neither exists on a machine that runs the suite: the test would be meaningless. */
	assert_int_equal(stat(PIKACI_CARGO_HOME, &st), -1);
	assert_int_equal(stat("/workspace", &st), -1);
	r = sh(state,
	       "mkdir -p " PIKACI_CARGO_HOME "/registry && echo data > " PIKACI_WORKSPACE_DIR
	       "/file && echo ok",
	       10);
	assert_exit(r, 0);
	assert_int_equal(stat(PIKACI_CARGO_HOME, &st), -1);
	assert_int_equal(stat("/workspace", &st), -1);
	assert_int_equal(pikaci_sandbox_read_file(run->sandbox, PIKACI_WORKSPACE_DIR "/file", 100,
	                                          &bytes, &length),
	                 0);
	assert_string_equal(bytes, "data\n");
	free(bytes);
	assert_true(pikaci_sandbox_path_exists(run->sandbox, PIKACI_CARGO_HOME "/registry"));
}

static void test_real_etc_passwd_untouched(void **state)
{
	char before[8192] = "", after[8192] = "";
	FILE *f = fopen("/etc/passwd", "r");

	assert_non_null(f);
	(void)!fread(before, 1, sizeof(before) - 1, f);
	fclose(f);
	assert_exit(sh(state, "echo 'intruder:x:0:0::/:/bin/sh' >> /etc/passwd", 10), 0);
	f = fopen("/etc/passwd", "r");
	(void)!fread(after, 1, sizeof(after) - 1, f);
	fclose(f);
	assert_string_equal(before, after);
}

static void test_user_pikaci_and_layout(void **state)
{
	struct pikaci_sandbox_result *r =
	        sh(state,
	           "getent passwd 1000; getent group 100 | cut -d: -f1,3; "
	           "test -d " PIKACI_WORKSPACE_DIR " && test -d " PIKACI_SYSTEM_BIN_DIR
	           " && echo layout",
	           10);

	assert_exit(r, 0);
	assert_string_equal(r->out, "pikaci:x:1000:100:pikaci:" PIKACI_USER_HOME ":/bin/bash\n"
	                            "users:100\nlayout\n");
}

static void test_fresh_private_tmp(void **state)
{
	char marker[] = "/tmp/pikaci-host-marker.XXXXXX";
	struct pikaci_sandbox_result *r;
	int fd = mkstemp(marker);
	char script[256];
	struct stat st;

	assert_true(fd >= 0);
	close(fd);
	snprintf(script, sizeof(script),
	         "test -e %s && echo leaked; ls -A /tmp | wc -l; touch /tmp/inside-only; "
	         "stat -c %%a /tmp",
	         marker);
	r = sh(state, script, 10);
	unlink(marker);
	assert_exit(r, 0);
	assert_string_equal(r->out, "0\n1777\n");
	assert_int_equal(stat("/tmp/inside-only", &st), -1);
}

static void test_pid_namespace(void **state)
{
	/* init is 1, the guest 2, and nothing of the host is visible (the glob forks nothing). */
	struct pikaci_sandbox_result *r = sh(state, "pids=(/proc/[0-9]*); echo $$ ${#pids[@]}", 10);

	assert_exit(r, 0);
	assert_string_equal(r->out, "2 2\n");
}

static void test_network_is_loopback_only(void **state)
{
	struct pikaci_sandbox_result *r =
	        sh(state,
	           "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; "
	           "grep -q ' 00000001 ' /proc/net/route && echo routed || echo no-routes",
	           10);

	assert_exit(r, 0);
	assert_string_equal(r->out, "lo\nno-routes\n");
}

static void test_hostname_and_proc_sys_read_only(void **state)
{
	struct pikaci_sandbox_result *r =
	        sh(state,
	           "hostname; echo 1 > /proc/sys/vm/drop_caches 2>/dev/null || echo ro; "
	           "mount -t tmpfs none /mnt 2>/dev/null || echo no-mount",
	           10);

	assert_exit(r, 0);
	assert_string_equal(r->out, "pikaci-sandbox\nro\nno-mount\n");
}

static void test_environment_is_exactly_the_given_one(void **state)
{
	struct pikaci_sandbox_result *r =
	        sh(state, "env | grep -v '^_=\\|^SHLVL=\\|^PWD=\\|^GCOV_' | sort", 10);

	assert_exit(r, 0);
	assert_string_equal(r->out,
	                    "HOME=/root\nLANG=C.UTF-8\n"
	                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
	                    "USER=root\n");
}

static void test_deadline_kills_everything(void **state)
{
	struct timespec t0, t1;
	struct pikaci_sandbox_result *r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = sh(state, "trap '' TERM; sleep 30", 0.5);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(r->timed_out);
	assert_true((double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9 < 3.0);
}

static bool host_runs(const char *needle)
{
	DIR *proc = opendir("/proc");
	struct dirent *entry;
	bool found = false;

	while (proc && (entry = readdir(proc))) {
		char path[300], cmdline[4096] = "";
		FILE *f;
		size_t n;

		snprintf(path, sizeof(path), "/proc/%s/cmdline", entry->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		n = fread(cmdline, 1, sizeof(cmdline) - 1, f);
		fclose(f);
		for (size_t i = 0; i < n; i++)
			if (!cmdline[i])
				cmdline[i] = ' ';
		if (strstr(cmdline, needle))
			found = true;
	}
	if (proc)
		closedir(proc);
	return found;
}

static void test_orphans_gone_when_guest_exits(void **state)
{
	struct timespec t0, t1;
	struct pikaci_sandbox_result *r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* The orphan holds stdout: the run must still end when the guest does. */
	r = sh(state, "setsid sleep 301.5 & echo started", 20);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_exit(r, 0);
	assert_string_equal(r->out, "started\n");
	assert_true(t1.tv_sec - t0.tv_sec < 5);
	assert_false(host_runs("sleep 301.5"));
}

static void test_request_delivery(void **state)
{
	struct run *run = *state;
	struct pikaci_sandbox_result *r;

	assert_int_equal(
	        pikaci_sandbox_write_file(run->sandbox, PIKACI_REQUEST_PATH, "{\"a\":1}", 7, 0644),
	        0);
	r = sh(state, "cat " PIKACI_REQUEST_PATH "; stat -c ' %a %U' " PIKACI_REQUEST_PATH, 10);
	assert_exit(r, 0);
	assert_string_equal(r->out, "{\"a\":1} 644 root\n");
}

static void test_changes_list_what_the_guest_did(void **state)
{
	struct run *run = *state;
	struct pikaci_sandbox_change *changes = NULL;
	size_t count = 0;
	char listing[1024] = "";

	assert_int_equal(
	        pikaci_sandbox_write_file(run->sandbox, PIKACI_REQUEST_PATH, "{}", 2, 0644), 0);
	assert_exit(sh(state,
	               "mkdir -p " PIKACI_CARGO_HOME "/x " PIKACI_USER_HOME
	               " && echo > /etc/motd && rm /etc/debian_version && "
	               "touch " PIKACI_STATUS_PATH,
	               10),
	            0);
	assert_int_equal(pikaci_sandbox_changes(run->sandbox, &changes, &count), 0);
	for (size_t i = 0; i < count; i++) {
		char line[300];

		snprintf(line, sizeof(line), "%c %s\n", changes[i].kind, changes[i].path);
		strcat(listing, line);
	}
	pikaci_sandbox_changes_free(changes, count);
	/* Prepared paths (passwd, the workspace, the request) and copied-up folders are absent. */
	assert_string_equal(listing, "+ " PIKACI_CARGO_HOME "\n+ " PIKACI_CARGO_HOME "/x\n"
	                             "- /etc/debian_version\n~ /etc/motd\n+ " PIKACI_USER_HOME "\n"
	                             "+ " PIKACI_STATUS_PATH "\n");
}

static void test_read_file_refuses_links_and_reports_absence(void **state)
{
	struct run *run = *state;
	char *bytes = NULL;
	size_t length;

	assert_exit(sh(state,
	               "mkdir -p " PIKACI_STATE_DIR " && ln -s /etc/shadow " PIKACI_STATUS_PATH
	               " && mkdir " PIKACI_RESULT_PATH,
	               10),
	            0);
	assert_int_equal(pikaci_sandbox_read_file(run->sandbox, PIKACI_STATUS_PATH, 1 << 20, &bytes,
	                                          &length),
	                 -ELOOP);
	assert_int_equal(pikaci_sandbox_read_file(run->sandbox, PIKACI_RESULT_PATH, 1 << 20, &bytes,
	                                          &length),
	                 -EISDIR);
	assert_int_equal(
	        pikaci_sandbox_read_file(run->sandbox, PIKACI_LOG_PATH, 1 << 20, &bytes, &length),
	        -ENOENT);
	assert_int_equal(pikaci_sandbox_read_file(run->sandbox, "/etc/passwd", 10, &bytes, &length),
	                 -EFBIG);
	assert_null(bytes);
}

static void test_program_under_host_tmp_is_bound_in(void **state)
{
	struct run *run = *state;
	char path[] = "/tmp/pikaci-guest.XXXXXX";
	const char *script = "#!/bin/sh\necho \"bound: $1\"\n";
	char *argv[] = { path, "arg", NULL };
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, script, strlen(script)), (ssize_t)strlen(script));
	fchmod(fd, 0755);
	close(fd);
	assert_int_equal(pikaci_sandbox_run(run->sandbox, argv, 10, NULL, NULL, &run->result), 0);
	unlink(path);
	assert_exit(&run->result, 0);
	assert_string_equal(run->result.out, "bound: arg\n");
}

static void test_missing_program_is_an_error(void **state)
{
	struct run *run = *state;
	char *argv[] = { "pikaci-no-such-program", NULL };

	assert_int_equal(pikaci_sandbox_run(run->sandbox, argv, 10, NULL, NULL, &run->result),
	                 -ENOENT);
	assert_non_null(strstr(pikaci_sandbox_error(run->sandbox), "pikaci-no-such-program"));
}

static void test_unexecutable_program_is_an_error(void **state)
{
	struct run *run = *state;
	char *argv[] = { "/etc/hostname", NULL };

	assert_int_equal(pikaci_sandbox_run(run->sandbox, argv, 10, NULL, NULL, &run->result),
	                 -EIO);
	assert_non_null(strstr(pikaci_sandbox_error(run->sandbox), "cannot execute"));
}

struct seen {
	size_t out, err;
};

static void count_output(void *userdata, int stream, const char *bytes, size_t length)
{
	struct seen *seen = userdata;

	if (stream == 1)
		seen->out += length;
	else
		seen->err += length;
}

static void test_output_is_streamed_and_binary_safe(void **state)
{
	struct run *run = *state;
	char *argv[] = { "/bin/bash", "-c", "printf '\\xff\\xfe\\x00z'; head -c 300000 /dev/zero",
		         NULL };
	struct seen seen = { 0 };

	assert_int_equal(
	        pikaci_sandbox_run(run->sandbox, argv, 10, count_output, &seen, &run->result), 0);
	assert_exit(&run->result, 0);
	assert_int_equal(run->result.out_length, 300004);
	assert_memory_equal(run->result.out, "\xff\xfe\x00z", 4);
	assert_int_equal(seen.out, 300004);
	assert_int_equal(seen.err, 0);
}

static void test_runs_once(void **state)
{
	struct run *run = *state;
	char *argv[] = { "/bin/true", NULL };

	assert_exit(sh(state, "true", 10), 0);
	assert_int_equal(pikaci_sandbox_run(run->sandbox, argv, 10, NULL, NULL, &run->result),
	                 -EBUSY);
	assert_int_equal(pikaci_sandbox_write_file(run->sandbox, "/x", "", 0, 0644), -EBUSY);
}

static void test_folder_removed_and_bad_base_dir(void **state)
{
	struct pikaci_sandbox *sandbox = NULL;
	struct pikaci_sandbox_options options = { .base_dir = "/nonexistent/pikaci" };
	char errbuf[512], upper[4096];
	struct stat st;

	(void)state;
	assert_int_equal(pikaci_sandbox_new(&options, &sandbox, errbuf, sizeof(errbuf)), -ENOENT);
	assert_null(sandbox);
	assert_non_null(strstr(errbuf, "/nonexistent/pikaci"));
	assert_int_equal(pikaci_sandbox_new(NULL, &sandbox, errbuf, sizeof(errbuf)), 0);
	snprintf(upper, sizeof(upper), "%s", pikaci_sandbox_upper(sandbox));
	assert_int_equal(stat(upper, &st), 0);
	pikaci_sandbox_free(sandbox);
	*strrchr(upper, '/') = '\0';
	assert_int_equal(stat(upper, &st), -1);
}

static void test_needs_root(void **state)
{
	pid_t child;
	int status;

	(void)state;
	child = fork();
	if (child == 0) {
		struct pikaci_sandbox *sandbox = NULL;
		char errbuf[256];

		if (setuid(65534) < 0)
			_exit(3);
		_exit(pikaci_sandbox_new(NULL, &sandbox, errbuf, sizeof(errbuf)) == -EPERM &&
		                      strstr(errbuf, "root")
		              ? 0
		              : 1);
	}
	waitpid(child, &status, 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_captures_stdout_stderr_and_status),
		T(test_writes_land_in_upper_layer_only),
		T(test_real_etc_passwd_untouched),
		T(test_user_pikaci_and_layout),
		T(test_fresh_private_tmp),
		T(test_pid_namespace),
		T(test_network_is_loopback_only),
		T(test_hostname_and_proc_sys_read_only),
		T(test_environment_is_exactly_the_given_one),
		T(test_deadline_kills_everything),
		T(test_orphans_gone_when_guest_exits),
		T(test_request_delivery),
		T(test_changes_list_what_the_guest_did),
		T(test_read_file_refuses_links_and_reports_absence),
		T(test_program_under_host_tmp_is_bound_in),
		T(test_missing_program_is_an_error),
		T(test_unexecutable_program_is_an_error),
		T(test_output_is_streamed_and_binary_safe),
		T(test_runs_once),
		cmocka_unit_test(test_folder_removed_and_bad_base_dir),
		cmocka_unit_test(test_needs_root),
	};

	if (geteuid() != 0) {
		printf("1..0 # SKIP the sandbox needs root (namespaces and an overlay mount)\n");
		return 0;
	}
	return cmocka_run_group_tests_name("sandbox", tests, NULL, NULL);
}
