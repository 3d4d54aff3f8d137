/* SPDX-License-Identifier: MIT */
/*
 * command.c - the image's layout (§3) and the command's run (§4, §6): bash in its own process
 * group, output pumped byte for byte through one fixed buffer, a hard timeout, and no waiting
 * on orphans that inherited the output pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guest.h"

extern char **environ;

/* In a coverage build (-Db_coverage=true), the child's counters; nothing otherwise. */
#ifdef PIKACI_COVERAGE
void __gcov_dump(void);
#define coverage_dump() __gcov_dump()
#else
#define coverage_dump() ((void)0)
#endif

/* --- Layout ------------------------------------------------------------------------------- */

/* mkdir -p; 0 when the folder exists afterwards. */
static int make_dirs(const char *path, char *why, size_t size)
{
	char partial[256];
	size_t length = strlen(path);
	struct stat st;

	if (length >= sizeof(partial))
		return -ENAMETOOLONG;
	for (size_t i = 1; i <= length; i++) {
		if (i < length && path[i] != '/')
			continue;
		memcpy(partial, path, i);
		partial[i] = '\0';
		if (mkdir(partial, 0755) == 0)
			continue;
		/* What is there already must be a folder (or a link to one), as for mkdir -p. */
		if (errno == EEXIST) {
			if (stat(partial, &st) == 0 && S_ISDIR(st.st_mode))
				continue;
			errno = EEXIST;
		}
		snprintf(why, size, "cannot create %s: %s", partial, strerror(errno));
		return -errno;
	}
	return 0;
}

int layout_prepare(char *why, size_t size)
{
	/* The folders a command as pikaci writes to belong to pikaci. */
	static const struct {
		const char *path;
		bool user_owned;
	} folders[] = {
		{ PIKACI_WORKSPACE_DIR, false }, { PIKACI_ARTIFACTS_DIR, false },
		{ PIKACI_USER_HOME, true },      { PIKACI_CARGO_HOME, true },
		{ PIKACI_CARGO_TARGET, true },   { PIKACI_XDG_STATE_HOME, true },
		{ PIKACI_XDG_CACHE_HOME, true },
	};
	int r;

	for (size_t i = 0; i < sizeof(folders) / sizeof(folders[0]); i++) {
		r = make_dirs(folders[i].path, why, size);
		if (r < 0)
			return r;
		/* "Where the filesystem allows": a read-only or foreign filesystem is not fatal. */
		if (folders[i].user_owned &&
		    chown(folders[i].path, PIKACI_USER_UID, PIKACI_USER_GID) < 0 &&
		    errno != EPERM && errno != EROFS && errno != EOPNOTSUPP) {
			snprintf(why, size, "cannot hand %s to %s: %s", folders[i].path,
			         PIKACI_USER_NAME, strerror(errno));
			return -errno;
		}
	}
	return 0;
}

/* --- Environment -------------------------------------------------------------------------- */

static bool is_replaced(const char *entry)
{
	static const char *const names[] = {
#define NAME(name, value) name,
		PIKACI_FIXED_ENVIRONMENT(NAME)
#undef NAME
		        "HOME",
		"USER",
		"LOGNAME",
		"PATH",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t length = strlen(names[i]);

		if (strncmp(entry, names[i], length) == 0 && entry[length] == '=')
			return true;
	}
	return false;
}

/* §3: the inherited environment, with HOME, USER, PATH and the fixed variables set. */
static char **environment_new(bool run_as_root)
{
	static const char *const fixed[] = {
#define ENTRY(name, value) name "=" value,
		PIKACI_FIXED_ENVIRONMENT(ENTRY)
#undef ENTRY
	};
	const char *inherited = getenv("PATH") && *getenv("PATH") ? getenv("PATH") : NULL;
	const char *user = run_as_root ? "root" : PIKACI_USER_NAME;
	size_t n = 0, count = 0;
	char **env;

	while (environ[count])
		count++;
	env = calloc(count + sizeof(fixed) / sizeof(fixed[0]) + 5, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < count; i++)
		if (!is_replaced(environ[i]))
			env[n++] = strdup(environ[i]);
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		env[n++] = strdup(fixed[i]);
	if (asprintf(&env[n++], "HOME=%s", run_as_root ? PIKACI_ROOT_HOME : PIKACI_USER_HOME) < 0)
		env[n - 1] = NULL;
	if (asprintf(&env[n++], "USER=%s", user) < 0)
		env[n - 1] = NULL;
	if (asprintf(&env[n++], "LOGNAME=%s", user) < 0)
		env[n - 1] = NULL;
	/* No inherited PATH: the system profile alone, never a trailing ':' (the cwd). */
	if (asprintf(&env[n++], "PATH=%s%s%s", PIKACI_SYSTEM_BIN_DIR, inherited ? ":" : "",
	             inherited ? inherited : "") < 0)
		env[n - 1] = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!env[i]) {
			for (size_t k = 0; k < n; k++)
				free(env[k]);
			free(env);
			return NULL;
		}
	}
	return env;
}

static void environment_free(char **env)
{
	for (size_t i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}

/* bash, searched on the command's own PATH ([X1]: the image's profile comes first). */
static char *find_shell(char **env)
{
	const char *path = NULL;
	char candidate[4096];

	for (size_t i = 0; env[i]; i++)
		if (strncmp(env[i], "PATH=", 5) == 0)
			path = env[i] + 5;
	while (path && *path) {
		size_t length = strcspn(path, ":");

		if (length > 0) {
			snprintf(candidate, sizeof(candidate), "%.*s/%s", (int)length, path,
			         PIKACI_SHELL);
			if (access(candidate, X_OK) == 0)
				return strdup(candidate);
		}
		path += length + (path[length] == ':');
	}
	return NULL;
}

/* --- Running ------------------------------------------------------------------------------ */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Why the child could not become the command, sent before it gives up. */
struct child_failure {
	int stage; /* 0: standard streams, 1: workspace, 2: dropping to pikaci, 3: exec */
	int error;
};

static _Noreturn void child_fail(int report, int stage)
{
	struct child_failure failure = { .stage = stage, .error = errno };

	(void)!write(report, &failure, sizeof(failure));
	_exit(stage == 3 ? GUEST_EXIT_NO_SHELL : GUEST_EXIT_GUEST_FAILURE);
}

/* In the child, between fork and exec: only async-signal-safe calls. */
static _Noreturn void child_exec(const struct pikaci_request *request, const char *shell,
                                 char **env, int output, int report)
{
	char *argv[] = { PIKACI_SHELL, PIKACI_SHELL_ARGS, request->command, NULL };
	sigset_t none;
	int devnull;

	setpgid(0, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	devnull = open("/dev/null", O_RDONLY);
	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(output, 1) < 0 || dup2(output, 2) < 0)
		child_fail(report, 0);
	if (chdir(PIKACI_WORKSPACE_DIR) < 0)
		child_fail(report, 1);
	if (!request->run_as_root) {
		gid_t groups[] = { PIKACI_USER_GID };

		/* Counters are written at exec, which pikaci could not: write them as root now. */
		coverage_dump();

		/* Groups first, then gid, then uid: afterwards none of it can be undone. */
		if (setgroups(1, groups) < 0 || setgid(PIKACI_USER_GID) < 0 ||
		    setuid(PIKACI_USER_UID) < 0)
			child_fail(report, 2);
		if (getuid() != PIKACI_USER_UID || geteuid() != PIKACI_USER_UID) {
			errno = EPERM;
			child_fail(report, 2);
		}
	}
	execve(shell, argv, env);
	child_fail(report, 3);
}

/* Waits for the child's exec; true when it failed, with why in outcome->failure. */
static bool child_failed(int report, const char *shell, struct command_outcome *outcome)
{
	static const char *const stages[] = {
		"cannot set up the command's standard streams",
		"cannot enter the workspace " PIKACI_WORKSPACE_DIR,
		"cannot drop to user " PIKACI_USER_NAME,
		"cannot execute",
	};
	struct child_failure failure;
	ssize_t n;

	do
		n = read(report, &failure, sizeof(failure));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(failure))
		return false; /* EOF: the exec succeeded and closed the descriptor */
	snprintf(outcome->failure, sizeof(outcome->failure), "%s%s%s: %s",
	         stages[failure.stage & 3], failure.stage == 3 ? " " : "",
	         failure.stage == 3 ? shell : "", strerror(failure.error));
	return true;
}

static void pump(int fd, struct journal *journal, bool *stdout_open)
{
	/* One buffer for the whole run: no allocation per byte of output. */
	static char buffer[65536];
	ssize_t n = read(fd, buffer, sizeof(buffer));
	size_t length;

	if (n <= 0)
		return;
	length = (size_t)n;
	if (*stdout_open) {
		for (size_t done = 0; done < length;) {
			ssize_t w = write(STDOUT_FILENO, buffer + done, length - done);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				/* The host stopped reading; the log still gets everything. */
				*stdout_open = false;
				break;
			}
			done += (size_t)w;
		}
	}
	journal_log_bytes(journal, buffer, length);
}

/* After the command exited: take what is already in the pipe, never wait for EOF ([B2]). */
static void drain(int fd, struct journal *journal, bool *stdout_open)
{
	int flags = fcntl(fd, F_GETFL);

	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	for (int rounds = 0; rounds < 4096; rounds++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN))
			break;
		pump(fd, journal, stdout_open);
	}
}

static int signals_block(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, old) < 0)
		return -1;
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

void command_run(const struct pikaci_request *request, struct journal *journal,
                 struct command_outcome *outcome)
{
	char **env = environment_new(request->run_as_root);
	char *shell = NULL;
	int pipefd[2] = { -1, -1 }, report[2] = { -1, -1 }, pidfd = -1, sigfd = -1;
	bool stdout_open = true, exited = false, pipe_eof = false;
	long long deadline, kill_at = -1;
	sigset_t old_mask;
	int status = 0;
	pid_t child;

	memset(outcome, 0, sizeof(*outcome));
	if (!env) {
		snprintf(outcome->failure, sizeof(outcome->failure), "out of memory");
		outcome->exit_code = GUEST_EXIT_GUEST_FAILURE;
		return;
	}
	shell = find_shell(env);
	if (!shell) {
		snprintf(outcome->failure, sizeof(outcome->failure),
		         "%s is not on the command's PATH", PIKACI_SHELL);
		outcome->exit_code = GUEST_EXIT_NO_SHELL;
		goto out;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0 || pipe2(report, O_CLOEXEC) < 0) {
		snprintf(outcome->failure, sizeof(outcome->failure), "cannot make a pipe: %s",
		         strerror(errno));
		outcome->exit_code = GUEST_EXIT_GUEST_FAILURE;
		goto out;
	}
	sigfd = signals_block(&old_mask);
	fflush(NULL);
	child = fork();
	if (child < 0) {
		snprintf(outcome->failure, sizeof(outcome->failure), "cannot fork: %s",
		         strerror(errno));
		outcome->exit_code = GUEST_EXIT_GUEST_FAILURE;
		goto restore;
	}
	if (child == 0)
		child_exec(request, shell, env, pipefd[1], report[1]);
	/* Both sides set the group, so a kill can never miss it. */
	setpgid(child, child);
	close(pipefd[1]);
	close(report[1]);
	pipefd[1] = report[1] = -1;
	if (child_failed(report[0], shell, outcome)) {
		waitpid(child, &status, 0);
		outcome->exit_code =
		        WIFEXITED(status) ? WEXITSTATUS(status) : GUEST_EXIT_GUEST_FAILURE;
		goto restore;
	}
	pidfd = (int)syscall(SYS_pidfd_open, child, 0);

	/* Saturates instead of wrapping: the largest timeout is 2^53 - 1 seconds. */
	deadline = request->timeout_secs > (LLONG_MAX - now_ms()) / 1000
	                   ? LLONG_MAX
	                   : now_ms() + request->timeout_secs * 1000;
	while (!exited) {
		struct pollfd fds[3] = {
			{ .fd = pipe_eof ? -1 : pipefd[0], .events = POLLIN },
			{ .fd = pidfd, .events = POLLIN },
			{ .fd = sigfd, .events = POLLIN },
		};
		long long now = now_ms(), wake = kill_at >= 0 ? kill_at : deadline;
		int timeout = wake - now > 60000 ? 60000 : (int)(wake > now ? wake - now : 0);

		/* Without a pidfd (old kernels), look at the child every 50 ms. */
		if (pidfd < 0 && timeout > 50)
			timeout = 50;
		if (poll(fds, 3, timeout) < 0 && errno != EINTR)
			break;
		if (fds[0].revents & POLLIN)
			pump(pipefd[0], journal, &stdout_open);
		else if (fds[0].revents & (POLLHUP | POLLERR))
			pipe_eof = true;
		if (fds[2].revents & POLLIN && !outcome->interrupted) {
			struct signalfd_siginfo info;

			if (read(sigfd, &info, sizeof(info)) == (ssize_t)sizeof(info)) {
				/* The guest is being stopped: stop the command the same way. */
				outcome->interrupted = (int)info.ssi_signo;
				killpg(child, SIGTERM);
				kill_at = now_ms() + GUEST_KILL_GRACE_MS;
			}
		}
		if (pidfd < 0 || fds[1].revents & POLLIN) {
			pid_t done = waitpid(child, &status, pidfd < 0 ? WNOHANG : 0);

			if (done == child) {
				exited = true;
				break;
			}
		}
		now = now_ms();
		if (kill_at < 0 && now >= deadline) {
			/* [X3], [B1]: TERM the whole group now, KILL it after a short grace. */
			outcome->timed_out = true;
			killpg(child, SIGTERM);
			kill_at = now + GUEST_KILL_GRACE_MS;
		} else if (kill_at >= 0 && now >= kill_at) {
			killpg(child, SIGKILL);
			kill(child, SIGKILL);
			kill_at = LLONG_MAX;
		}
	}
	/* [B2]: what is left of the group goes; what it already wrote is kept. */
	killpg(child, SIGKILL);
	if (!pipe_eof)
		drain(pipefd[0], journal, &stdout_open);

	if (outcome->timed_out)
		outcome->exit_code = PIKACI_EXIT_TIMEOUT;
	else if (outcome->interrupted)
		outcome->exit_code = 128 + outcome->interrupted;
	else if (WIFEXITED(status))
		outcome->exit_code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		outcome->exit_code = 128 + WTERMSIG(status);
	if (WIFSIGNALED(status))
		outcome->signal = WTERMSIG(status);
restore:
	if (sigfd >= 0)
		sigprocmask(SIG_SETMASK, &old_mask, NULL);
out:
	for (int i = 0; i < 2; i++) {
		if (pipefd[i] >= 0)
			close(pipefd[i]);
		if (report[i] >= 0)
			close(report[i]);
	}
	if (pidfd >= 0)
		close(pidfd);
	if (sigfd >= 0)
		close(sigfd);
	free(shell);
	environment_free(env);
}
