/* SPDX-License-Identifier: MIT */
/* test-sandbox.c - the overlay sandbox isolates files, processes and network, and cleans up. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
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
	char errbuf[512] = "out of memory", **binds = NULL;
	/* The coverage lane's build folder, as the programs bind it. */
	struct pikaci_sandbox_options options = { 0 };

	if (pikaci_sandbox_binds_split(getenv("PIKACI_SANDBOX_BIND"), &binds) < 0 || !run ||
	    (options.writable_binds = binds,
	     pikaci_sandbox_new(&options, &run->sandbox, errbuf, sizeof(errbuf)) < 0)) {
		fprintf(stderr, "# sandbox: %s\n", errbuf);
		pikaci_sandbox_binds_free(binds);
		free(run);
		return -1;
	}
	pikaci_sandbox_binds_free(binds);
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
	char script[1024], skip[512] = "";
	const char *binds = getenv("PIKACI_SANDBOX_BIND");
	struct stat st;

	assert_true(fd >= 0);
	close(fd);
	/* Folders bound in under /tmp (a coverage build in a clone there) are the only entries. */
	while (binds && *binds) {
		size_t length = strcspn(binds, ":");

		if (length > 5 && strncmp(binds, "/tmp/", 5) == 0) {
			size_t top = strcspn(binds + 5, ":/");

			snprintf(skip + strlen(skip), sizeof(skip) - strlen(skip), " -e '%.*s'",
			         (int)top, binds + 5);
		}
		binds += length + (binds[length] == ':');
	}
	snprintf(script, sizeof(script),
	         "test -e %s && echo leaked; ls -A /tmp | grep -v -x -F -e '' %s | wc -l; "
	         "touch /tmp/inside-only; stat -c %%a /tmp",
	         marker, skip);
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
	/* Below a file there is nothing: absent, not an error of another kind. */
	assert_int_equal(
	        pikaci_sandbox_read_file(run->sandbox, "/etc/passwd/x", 1 << 20, &bytes, &length),
	        -ENOENT);
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
	assert_int_equal(pikaci_sandbox_make_dir(run->sandbox, "/x", 0755), -EBUSY);
}

static void test_empty_command_is_an_error(void **state)
{
	struct run *run = *state;
	char *argv[] = { NULL };

	assert_int_equal(pikaci_sandbox_run(run->sandbox, argv, 10, NULL, NULL, &run->result),
	                 -EINVAL);
	assert_string_equal(pikaci_sandbox_error(run->sandbox), "no command to run");
}

/* The sandbox's init, the caller's one child: killed as an OOM killer or an operator would. */
static void kill_init(void *userdata, int stream, const char *bytes, size_t length)
{
	DIR *proc = opendir("/proc");
	struct dirent *entry;
	int *killed = userdata;

	while (!*killed && proc && (entry = readdir(proc))) {
		char path[300], stat[512] = "";
		const char *end;
		int ppid = 0;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%s/stat", entry->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		(void)!fread(stat, 1, sizeof(stat) - 1, f);
		fclose(f);
		end = strrchr(stat, ')');
		if (end && sscanf(end, ") %*c %d", &ppid) == 1 && ppid == getpid())
			*killed = kill(atoi(entry->d_name), SIGKILL) == 0;
	}
	if (proc)
		closedir(proc);
}

static void test_init_killed_from_outside_is_an_error(void **state)
{
	struct run *run = *state;
	char *argv[] = { "/bin/sh", "-c", "echo ready; exec sleep 30", NULL };
	struct timespec t0, t1;
	int killed = 0, r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = pikaci_sandbox_run(run->sandbox, argv, 20, kill_init, &killed, &run->result);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(killed);
	/* Not a status the guest never had, and not a wait for the deadline. */
	assert_int_equal(r, -EIO);
	assert_non_null(strstr(pikaci_sandbox_error(run->sandbox), "init vanished"));
	assert_true(t1.tv_sec - t0.tv_sec < 5);
}

/* A host file's content (NUL-terminated), or NULL. */
static char *host_read(const char *path)
{
	char *bytes = calloc(1, 4096);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (!bytes || fd < 0) {
		free(bytes);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	n = read(fd, bytes, 4095);
	close(fd);
	if (n < 0) {
		free(bytes);
		return NULL;
	}
	return bytes;
}

/* The entries of a host folder, "." and ".." aside; -1 when it cannot be read. */
static int entries(const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *entry;
	int count = 0;

	if (!dir)
		return -1;
	while ((entry = readdir(dir)))
		if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0)
			count++;
	closedir(dir);
	return count;
}

static void assert_host_exists(const char *path)
{
	struct stat st;

	/* The test removes them inside: without them on the host it would prove nothing. */
	if (lstat(path, &st) < 0)
		fail_msg("%s is not on this host: the test needs it", path);
}

static void test_whiteouts_and_opaque_folders(void **state)
{
	struct run *run = *state;
	struct pikaci_sandbox_change *changes = NULL;
	size_t count = 0;
	char listing[1024] = "";

	assert_host_exists("/etc/debian_version");
	assert_host_exists("/etc/default/useradd");
	assert_host_exists("/etc/skel/.bashrc");
	/* A file removed, a folder removed, a folder replaced by a new one of the same name. */
	assert_exit(sh(state,
	               "rm /etc/debian_version && rm -r /etc/default && rm -r /etc/skel && "
	               "mkdir /etc/skel && touch /etc/skel/new",
	               10),
	            0);
	assert_false(pikaci_sandbox_path_exists(run->sandbox, "/etc/debian_version"));
	assert_false(pikaci_sandbox_path_exists(run->sandbox, "/etc/default"));
	assert_false(pikaci_sandbox_path_exists(run->sandbox, "/etc/default/useradd"));
	assert_true(pikaci_sandbox_path_exists(run->sandbox, "/etc/skel"));
	assert_true(pikaci_sandbox_path_exists(run->sandbox, "/etc/skel/new"));
	assert_false(pikaci_sandbox_path_exists(run->sandbox, "/etc/skel/.bashrc"));
	/* Untouched: as the lower layer has it. */
	assert_true(pikaci_sandbox_path_exists(run->sandbox, "/etc/hostname"));
	assert_false(pikaci_sandbox_path_exists(run->sandbox, "/etc/pikaci-never-there"));

	assert_int_equal(pikaci_sandbox_changes(run->sandbox, &changes, &count), 0);
	for (size_t i = 0; i < count; i++) {
		char line[300];

		snprintf(line, sizeof(line), "%c %s\n", changes[i].kind, changes[i].path);
		strcat(listing, line);
	}
	pikaci_sandbox_changes_free(changes, count);
	/* The replaced folder is a change of its own: what it held is gone. */
	assert_string_equal(listing, "- /etc/debian_version\n- /etc/default\n~ /etc/skel\n"
	                             "+ /etc/skel/new\n");
}

static void test_write_file_and_make_dir_refuse_what_is_in_the_way(void **state)
{
	struct run *run = *state;

	assert_int_equal(pikaci_sandbox_write_file(run->sandbox, "relative/file", "", 0, 0644),
	                 -EINVAL);
	assert_non_null(strstr(pikaci_sandbox_error(run->sandbox), "relative/file"));
	assert_int_equal(pikaci_sandbox_make_dir(run->sandbox, "relative/dir", 0755), -EINVAL);
	assert_non_null(strstr(pikaci_sandbox_error(run->sandbox), "relative/dir"));

	/* A folder below a file, and a file where a folder is. */
	assert_int_equal(
	        pikaci_sandbox_write_file(run->sandbox, PIKACI_REQUEST_PATH, "{}", 2, 0644), 0);
	assert_int_equal(pikaci_sandbox_make_dir(run->sandbox, PIKACI_REQUEST_PATH "/below", 0755),
	                 -ENOTDIR);
	assert_non_null(strstr(pikaci_sandbox_error(run->sandbox), PIKACI_REQUEST_PATH "/below"));
	assert_int_equal(pikaci_sandbox_make_dir(run->sandbox, PIKACI_ARTIFACTS_DIR, 0755), 0);
	assert_int_equal(
	        pikaci_sandbox_write_file(run->sandbox, PIKACI_ARTIFACTS_DIR, "x", 1, 0644),
	        -EISDIR);
	assert_non_null(strstr(pikaci_sandbox_error(run->sandbox), PIKACI_ARTIFACTS_DIR));

	/* What succeeded is there, untouched by what failed. */
	assert_exit(sh(state,
	               "cat " PIKACI_REQUEST_PATH "; test -d " PIKACI_ARTIFACTS_DIR
	               " && ls -A " PIKACI_ARTIFACTS_DIR " | wc -l",
	               10),
	            0);
	assert_string_equal(run->result.out, "{}0\n");
}

static void test_program_found_on_path(void **state)
{
	struct run *run = *state;
	char *argv[] = { "sh", "-c", "echo found", NULL };

	assert_int_equal(pikaci_sandbox_run(run->sandbox, argv, 10, NULL, NULL, &run->result), 0);
	assert_exit(&run->result, 0);
	assert_string_equal(run->result.out, "found\n");
}

/* `valgrind ./guest`: a relative path to a host file names it from the caller's folder. */
static void test_relative_file_argument_made_absolute(void **state)
{
	struct run *run = *state;
	char folder[] = "/tmp/pikaci-cwd.XXXXXX", sub[64], script[128];
	char *argv[] = { "/bin/sh", "sub/script", "arg", NULL };
	const char *text = "echo \"script ran: $1 from $0\"\n";
	int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd, r;

	assert_true(cwd >= 0);
	assert_non_null(mkdtemp(folder));
	snprintf(sub, sizeof(sub), "%s/sub", folder);
	snprintf(script, sizeof(script), "%s/script", sub);
	assert_int_equal(mkdir(sub, 0755), 0);
	fd = open(script, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);

	assert_int_equal(chdir(folder), 0);
	r = pikaci_sandbox_run(run->sandbox, argv, 10, NULL, NULL, &run->result);
	assert_int_equal(fchdir(cwd), 0);
	close(cwd);
	unlink(script);
	rmdir(sub);
	rmdir(folder);
	if (r < 0)
		fail_msg("run failed: %s", pikaci_sandbox_error(run->sandbox));
	assert_exit(&run->result, 0);
	/* Inside, the working folder is /: only the absolute path names the script there. */
	assert_true(strncmp(run->result.out, "script ran: arg from ", 21) == 0);
	assert_non_null(strstr(run->result.out, folder));
}

/* Replaces the setup's sandbox with one made with `options`. */
static void sandbox_renew(struct run *run, const struct pikaci_sandbox_options *options)
{
	char errbuf[512] = "";

	pikaci_sandbox_free(run->sandbox);
	run->sandbox = NULL;
	if (pikaci_sandbox_new(options, &run->sandbox, errbuf, sizeof(errbuf)) < 0)
		fail_msg("sandbox: %s", errbuf);
}

static void test_writable_binds_from_options_and_a_list(void **state)
{
	struct run *run = *state;
	char by_options[] = "/tmp/pikaci-bind.XXXXXX", by_list[] = "/tmp/pikaci-env.XXXXXX";
	char deep[64], files[2][128], script[1024];
	char *contents[2], *list = NULL, **binds = NULL, *bytes = NULL;
	struct pikaci_sandbox_options options = { 0 };
	size_t length = 0, n = 0;

	assert_non_null(mkdtemp(by_options));
	assert_non_null(mkdtemp(by_list));
	/* Under /tmp, which is fresh inside: the way to a deep folder is made there. */
	snprintf(deep, sizeof(deep), "%s/a", by_options);
	assert_int_equal(mkdir(deep, 0755), 0);
	strcat(deep, "/b");
	assert_int_equal(mkdir(deep, 0755), 0);
	snprintf(files[0], sizeof(files[0]), "%s/written", deep);
	snprintf(files[1], sizeof(files[1]), "%s/written", by_list);

	/* PIKACI_SANDBOX_BIND's format, as programs split it: an empty entry is nothing. */
	assert_true(asprintf(&list, "%s::%s:", deep, by_list) > 0);
	assert_int_equal(pikaci_sandbox_binds_split(list, &binds), 0);
	free(list);
	while (binds[n])
		n++;
	assert_int_equal(n, 2);
	options.writable_binds = binds;
	sandbox_renew(run, &options);
	pikaci_sandbox_binds_free(binds);
	assert_int_equal(pikaci_sandbox_binds_split("", &binds), 0);
	assert_null(binds);

	snprintf(script, sizeof(script),
	         "echo options > %s && echo environment > %s && cat %s %s && id -u", files[0],
	         files[1], files[0], files[1]);
	sh(state, script, 10);
	for (int i = 0; i < 2; i++) {
		contents[i] = host_read(files[i]);
		unlink(files[i]);
	}
	rmdir(deep);
	*strrchr(deep, '/') = '\0';
	rmdir(deep);
	rmdir(by_options);
	rmdir(by_list);

	assert_exit(&run->result, 0);
	assert_string_equal(run->result.out, "options\nenvironment\n0\n");
	/* Written through to the host, not into the upper layer. */
	assert_string_equal(contents[0] ? contents[0] : "(none)", "options\n");
	assert_string_equal(contents[1] ? contents[1] : "(none)", "environment\n");
	free(contents[0]);
	free(contents[1]);
	assert_int_equal(pikaci_sandbox_read_file(run->sandbox, files[0], 100, &bytes, &length),
	                 -ENOENT);
	assert_null(bytes);
}

/*
 * In a mount namespace of its own, a tmpfs on `mount_point`, as a build folder on a disk of
 * its own: the guest program and a folder there are not in the lower layer (the root
 * filesystem alone), so the sandbox must bind the program in and make the folder's mount
 * point. Returns 0 when the program ran, wrote to the host through the bind, and the sandbox
 * reported no change of the guest's.
 */
static int bind_on_another_filesystem(const char *mount_point)
{
	static const char text[] = "#!/bin/sh\necho through > \"$1/counters\"\n";
	char folder[128], file[128], program[128], errbuf[512] = "", list[4096];
	char **binds = NULL, *argv[] = { program, folder, NULL }, *content;
	const char *coverage = getenv("PIKACI_SANDBOX_BIND");
	struct pikaci_sandbox_options options = { 0 };
	struct pikaci_sandbox_result result = { 0 };
	struct pikaci_sandbox_change *changes = NULL;
	struct pikaci_sandbox *sandbox = NULL;
	size_t count = 0;
	int code = 0, fd;

	snprintf(folder, sizeof(folder), "%s/build", mount_point);
	snprintf(file, sizeof(file), "%s/build/counters", mount_point);
	snprintf(program, sizeof(program), "%s/guest", mount_point);
	/* The folder, and the coverage lane's build folder as the programs bind it. */
	snprintf(list, sizeof(list), "%s%s%s", folder, coverage && *coverage ? ":" : "",
	         coverage ? coverage : "");
	if (pikaci_sandbox_binds_split(list, &binds) < 0)
		return 2;
	options.writable_binds = binds;
	if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", mount_point, "tmpfs", 0, "size=1m") < 0 || mkdir(folder, 0755) < 0 ||
	    (fd = open(program, O_WRONLY | O_CREAT | O_CLOEXEC, 0755)) < 0) {
		fprintf(stderr, "# cannot prepare a tmpfs on %s: %s\n", mount_point,
		        strerror(errno));
		code = 2;
	} else if (write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd) < 0) {
		code = 2;
	} else if (pikaci_sandbox_new(&options, &sandbox, errbuf, sizeof(errbuf)) < 0) {
		fprintf(stderr, "# sandbox: %s\n", errbuf);
		code = 3;
	} else if (pikaci_sandbox_run(sandbox, argv, 10, NULL, NULL, &result) < 0) {
		fprintf(stderr, "# run failed: %s\n", pikaci_sandbox_error(sandbox));
		code = 4;
	} else if (!WIFEXITED(result.status) || WEXITSTATUS(result.status) != 0) {
		fprintf(stderr, "# the guest failed (0x%x): %s\n", result.status,
		        result.err ? result.err : "");
		code = 5;
	} else if (pikaci_sandbox_changes(sandbox, &changes, &count) < 0 || count != 0) {
		fprintf(stderr, "# %zu changes, the first %s\n", count,
		        count ? changes[0].path : "(none)");
		code = 6;
	}
	pikaci_sandbox_changes_free(changes, count);
	content = code ? NULL : host_read(file);
	if (!code && (!content || strcmp(content, "through\n") != 0)) {
		fprintf(stderr, "# %s holds %s\n", file, content ? content : "nothing");
		code = 7;
	}
	free(content);
	pikaci_sandbox_result_clear(&result);
	pikaci_sandbox_free(sandbox);
	pikaci_sandbox_binds_free(binds);
	return code;
}

static void test_guest_and_bind_on_another_filesystem(void **state)
{
	char mount_point[] = "/var/tmp/pikaci-mount.XXXXXX";
	int status = 0;
	pid_t child;

	(void)state;
	assert_non_null(mkdtemp(mount_point));
	fflush(NULL);
	child = fork();
	/* exit(), not _exit(): a coverage build writes the child's counters then. */
	if (child == 0)
		exit(bind_on_another_filesystem(mount_point));
	waitpid(child, &status, 0);
	/* The tmpfs went with the child's namespace: the folder is empty again. */
	assert_int_equal(rmdir(mount_point), 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_bad_writable_bind_is_a_clean_error(void **state)
{
	static char *missing[] = { "/nonexistent/pikaci-bind", NULL };
	static char *relative[] = { "pikaci-relative-bind", NULL };
	static const struct {
		char *const *binds;
		int code;
		const char *message;
	} cases[] = {
		{ missing, -EIO, "cannot bind /nonexistent/pikaci-bind into the sandbox" },
		{ relative, -EINVAL, "not an absolute path: pikaci-relative-bind" },
	};
	char base[] = "/tmp/pikaci-base.XXXXXX";
	char *argv[] = { "/bin/true", NULL };

	(void)state;
	assert_non_null(mkdtemp(base));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pikaci_sandbox_options options = { .base_dir = base,
			                                  .writable_binds = cases[i].binds };
		struct pikaci_sandbox_result result = { 0 };
		struct pikaci_sandbox *sandbox = NULL;
		char errbuf[512] = "", error[512];
		int r;

		/* A relative path is refused when the sandbox is made, a missing one at the run. */
		r = pikaci_sandbox_new(&options, &sandbox, errbuf, sizeof(errbuf));
		if (r == 0) {
			r = pikaci_sandbox_run(sandbox, argv, 10, NULL, NULL, &result);
			snprintf(error, sizeof(error), "%s", pikaci_sandbox_error(sandbox));
			pikaci_sandbox_result_clear(&result);
			pikaci_sandbox_free(sandbox);
		} else {
			snprintf(error, sizeof(error), "%s", errbuf);
		}
		/* The run failed as a whole: no result, and nothing left behind. */
		assert_int_equal(r, cases[i].code);
		if (!strstr(error, cases[i].message))
			fail_msg("the error \"%s\" does not say \"%s\"", error, cases[i].message);
		assert_int_equal(entries(base), 0);
	}
	assert_int_equal(rmdir(base), 0);
}

/* The sandbox's capture limit, per stream. */
#define CAPTURE_LIMIT (32u << 20)

/* "1\n2\n...": the next line of `seq`, in `line` (a counter kept as text). */
static size_t next_line(char line[16], size_t *digits)
{
	size_t i = *digits;

	while (i > 0 && line[i - 1] == '9')
		line[--i] = '0';
	if (i == 0) {
		memmove(line + 1, line, *digits);
		line[0] = '1';
		(*digits)++;
	} else {
		line[i - 1]++;
	}
	line[*digits] = '\n';
	return *digits + 1;
}

static void test_output_beyond_the_capture_limit(void **state)
{
	struct run *run = *state;
	/*
	 * About 35 MB in which no stretch repeats, so a gap in the capture cannot hide. The
	 * first byte alone puts every read's end off the 4 KiB blocks of seq and so off the limit:
	 * a read always straddles it.
	 */
	char *argv[] = { "/bin/sh", "-c", "printf x; exec seq 1 4500000", NULL };
	struct seen seen = { 0 };
	char line[16] = "0";
	size_t digits = 1, at = 1, total = 1;

	assert_int_equal(
	        pikaci_sandbox_run(run->sandbox, argv, 30, count_output, &seen, &run->result), 0);
	assert_exit(&run->result, 0);
	assert_true(run->result.out_length > 0);
	assert_int_equal(run->result.out[0], 'x');
	for (int n = 1; n <= 4500000; n++) {
		size_t length = next_line(line, &digits);

		if (at < run->result.out_length) {
			size_t take = length < run->result.out_length - at
			                      ? length
			                      : run->result.out_length - at;

			if (memcmp(run->result.out + at, line, take) != 0)
				fail_msg(
				        "the capture is not the output's start: it differs at byte "
				        "%zu",
				        at);
			at += take;
		}
		total += length;
	}
	/* Everything was streamed; the capture is exactly the first 32 MiB. */
	assert_int_equal(seen.out, total);
	assert_true(total > CAPTURE_LIMIT);
	assert_true(run->result.truncated);
	assert_int_equal(run->result.out_length, CAPTURE_LIMIT);
	assert_int_equal(run->result.out[run->result.out_length], '\0');
}

static void test_folder_removed_and_bad_base_dir(void **state)
{
	struct pikaci_sandbox *sandbox = NULL;
	struct pikaci_sandbox_options options = { .base_dir = "/nonexistent/pikaci" };
	char errbuf[512], upper[4096], base[] = "/tmp/pikaci-base.XXXXXX";
	struct stat st;

	(void)state;
	assert_int_equal(pikaci_sandbox_new(&options, &sandbox, errbuf, sizeof(errbuf)), -ENOENT);
	assert_null(sandbox);
	assert_non_null(strstr(errbuf, "/nonexistent/pikaci"));
	assert_non_null(mkdtemp(base));
	options.base_dir = base;
	assert_int_equal(pikaci_sandbox_new(&options, &sandbox, errbuf, sizeof(errbuf)), 0);
	snprintf(upper, sizeof(upper), "%s", pikaci_sandbox_upper(sandbox));
	assert_int_equal(stat(upper, &st), 0);
	/* A tmpfs this process holds, or (without fsopen: valgrind) the per-run folder. */
	assert_true(strncmp(upper, "/proc/self/fd/", 14) == 0 ||
	            strncmp(upper, base, strlen(base)) == 0);
	pikaci_sandbox_free(sandbox);
	assert_int_equal(stat(upper, &st), -1);
	/* The per-run folder went with it: its parent is empty again. */
	assert_int_equal(rmdir(base), 0);
}

static void test_keep_copies_the_upper_layer(void **state)
{
	struct pikaci_sandbox_options options = { .keep = true };
	struct pikaci_sandbox_result result = { 0 };
	struct pikaci_sandbox *sandbox = NULL;
	char base[] = "/tmp/pikaci-keep.XXXXXX", errbuf[512], path[512], command[600];
	char *argv[] = { "/bin/bash", "-c",
		         "mkdir /kept && echo bytes > /kept/file && ln -s file /kept/link && "
		         "rm /etc/hostname",
		         NULL };
	struct dirent *entry;
	struct stat st;
	DIR *dir;

	(void)state;
	assert_non_null(mkdtemp(base));
	options.base_dir = base;
	assert_int_equal(pikaci_sandbox_new(&options, &sandbox, errbuf, sizeof(errbuf)), 0);
	assert_int_equal(pikaci_sandbox_run(sandbox, argv, 10, NULL, NULL, &result), 0);
	assert_exit(&result, 0);
	pikaci_sandbox_result_clear(&result);
	pikaci_sandbox_free(sandbox);
	dir = opendir(base);
	assert_non_null(dir);
	while ((entry = readdir(dir)) && entry->d_name[0] == '.')
		;
	assert_non_null(entry);
	snprintf(path, sizeof(path), "%s/%s/upper/kept/file", base, entry->d_name);
	closedir(dir);
	{
		char *content = host_read(path);

		assert_string_equal(content ? content : "(none)", "bytes\n");
		free(content);
	}
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	strcpy(strrchr(path, '/'), "/link");
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	/* The removal is kept as the overlay's whiteout. */
	strcpy(strstr(path, "/kept/link"), "/etc/hostname");
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISCHR(st.st_mode) && st.st_rdev == 0);
	snprintf(command, sizeof(command), "rm -rf %s", base);
	assert_int_equal(system(command), 0);
}

static void test_guest_starts_with_groups_and_signals(void **state)
{
	struct pikaci_sandbox_result *r =
	        sh(state, "grep -E '^(Groups|SigBlk|SigIgn|NoNewPrivs|Seccomp):' /proc/self/status",
	           10);

	assert_exit(r, 0);
	/* bash itself leaves neither alone: SIGTERM stays blocked, SIGPIPE ignored. */
	assert_string_equal(r->out, "Groups:\t0 4 27 \nSigBlk:\t0000000000004000\n"
	                            "SigIgn:\t0000000000001000\nNoNewPrivs:\t1\nSeccomp:\t2\n");
}

static void test_leftovers_listed(void **state)
{
	struct pikaci_sandbox_result *r =
	        sh(state, "sleep 30 & setsid sleep 31 & sleep 0.3; exec sleep 0", 10);
	bool same_group = false, own_session = false;

	assert_exit(r, 0);
	assert_true(r->have_leftovers);
	assert_int_equal(r->guest_pid, 2);
	assert_int_equal(r->n_leftovers, 2);
	for (size_t i = 0; i < r->n_leftovers; i++) {
		const struct pikaci_sandbox_process *p = &r->leftovers[i];

		assert_string_equal(p->comm, "sleep");
		same_group = same_group || (p->pgid == r->guest_pid && p->sid == r->guest_pid);
		own_session = own_session || (p->pgid == p->pid && p->sid == p->pid);
	}
	assert_true(same_group);
	assert_true(own_session);
}

static void test_limits_enforced_here(void **state)
{
	struct pikaci_sandbox_result *r = sh(state, "cat /proc/self/cgroup", 10);

	assert_exit(r, 0);
	if (r->limits_enforced == 0)
		skip(); /* a machine without writable cgroups: README says what is left */
	assert_int_equal(r->limits_hit, 0);
	/* The guest is in the run's own cgroup, named after the per-run folder. */
	assert_non_null(strstr(r->out, "/pikaci-sandbox."));
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
		T(test_empty_command_is_an_error),
		T(test_init_killed_from_outside_is_an_error),
		T(test_whiteouts_and_opaque_folders),
		T(test_write_file_and_make_dir_refuse_what_is_in_the_way),
		T(test_program_found_on_path),
		T(test_relative_file_argument_made_absolute),
		T(test_writable_binds_from_options_and_a_list),
		T(test_output_beyond_the_capture_limit),
		cmocka_unit_test(test_guest_and_bind_on_another_filesystem),
		cmocka_unit_test(test_bad_writable_bind_is_a_clean_error),
		cmocka_unit_test(test_folder_removed_and_bad_base_dir),
		cmocka_unit_test(test_needs_root),
		cmocka_unit_test(test_keep_copies_the_upper_layer),
		T(test_guest_starts_with_groups_and_signals),
		T(test_leftovers_listed),
		T(test_limits_enforced_here),
	};

	if (geteuid() != 0) {
		printf("1..0 # SKIP the sandbox needs root (namespaces and an overlay mount)\n");
		return 0;
	}
	return cmocka_run_group_tests_name("sandbox", tests, NULL, NULL);
}
