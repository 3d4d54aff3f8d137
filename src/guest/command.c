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
#include <stdarg.h>
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
#include "shared.h"

extern char **environ;

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
		return error_format(why, size, -errno, "cannot create %s: %s", partial,
		                    strerror(errno));
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

	for (size_t i = 0; i < ELEMENTSOF(folders); i++) {
		r = make_dirs(folders[i].path, why, size);
		if (r < 0)
			return r;
		/* "Where the filesystem allows": a read-only or foreign filesystem is not fatal. */
		if (folders[i].user_owned &&
		    chown(folders[i].path, PIKACI_USER_UID, PIKACI_USER_GID) < 0 &&
		    errno != EPERM && errno != EROFS && errno != EOPNOTSUPP) {
			return error_format(why, size, -errno, "cannot hand %s to %s: %s",
			                    folders[i].path, PIKACI_USER_NAME, strerror(errno));
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

	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
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
	env = calloc(count + ELEMENTSOF(fixed) + 5, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < count; i++)
		if (!is_replaced(environ[i]))
			env[n++] = strdup(environ[i]);
	for (size_t i = 0; i < ELEMENTSOF(fixed); i++)
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

/* Where the child was when it gave up becoming the command: told to the guest over a pipe. */
enum child_stage {
	CHILD_STAGE_STREAMS,
	CHILD_STAGE_WORKSPACE,
	CHILD_STAGE_DROP_USER,
	CHILD_STAGE_EXEC,
	CHILD_STAGE_COUNT,
};

/* Why the child could not become the command, sent before it gives up. */
struct child_failure {
	enum child_stage stage;
	int error;
};

static _Noreturn void child_fail(int report, enum child_stage stage)
{
	struct child_failure failure = { .stage = stage, .error = errno };

	(void)!write(report, &failure, sizeof(failure));
	_exit(stage == CHILD_STAGE_EXEC ? GUEST_EXIT_NO_SHELL : GUEST_EXIT_GUEST_FAILURE);
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
		child_fail(report, CHILD_STAGE_STREAMS);
	if (chdir(PIKACI_WORKSPACE_DIR) < 0)
		child_fail(report, CHILD_STAGE_WORKSPACE);
	if (!request->run_as_root) {
		gid_t groups[] = { PIKACI_USER_GID };

		/* Counters are written at exec, which pikaci could not: write them as root now. */
		coverage_flush();

		/* Groups first, then gid, then uid: afterwards none of it can be undone. */
		if (setgroups(1, groups) < 0 || setgid(PIKACI_USER_GID) < 0 ||
		    setuid(PIKACI_USER_UID) < 0)
			child_fail(report, CHILD_STAGE_DROP_USER);
		if (getuid() != PIKACI_USER_UID || geteuid() != PIKACI_USER_UID) {
			errno = EPERM;
			child_fail(report, CHILD_STAGE_DROP_USER);
		}
	}
	execve(shell, argv, env);
	child_fail(report, CHILD_STAGE_EXEC);
}

/* Waits for the child's exec; true when it failed, with why in outcome->failure. */
static bool child_failed(int report, const char *shell, struct command_outcome *outcome)
{
	static const char *const stages[CHILD_STAGE_COUNT] = {
		[CHILD_STAGE_STREAMS] = "cannot set up the command's standard streams",
		[CHILD_STAGE_WORKSPACE] = "cannot enter the workspace " PIKACI_WORKSPACE_DIR,
		[CHILD_STAGE_DROP_USER] = "cannot drop to user " PIKACI_USER_NAME,
		[CHILD_STAGE_EXEC] = "cannot execute",
	};
	struct child_failure failure;
	ssize_t n;

	do
		n = read(report, &failure, sizeof(failure));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(failure))
		return false; /* EOF: the exec succeeded and closed the descriptor */
	if ((unsigned)failure.stage >= CHILD_STAGE_COUNT)
		failure.stage = CHILD_STAGE_EXEC;
	error_format(outcome->failure, sizeof(outcome->failure), 0, "%s%s%s: %s",
	             stages[failure.stage], failure.stage == CHILD_STAGE_EXEC ? " " : "",
	             failure.stage == CHILD_STAGE_EXEC ? shell : "", strerror(failure.error));
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
	/* The host stopped reading; the log still gets everything. */
	if (*stdout_open && write_all(STDOUT_FILENO, buffer, length) < 0)
		*stdout_open = false;
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

/* One run of the command: what its steps share, from preparing it to the outcome. */
struct run {
	const struct pikaci_request *request;
	struct journal *journal;
	struct command_outcome *outcome;
	char **env;
	char *shell;
	int pipefd[2];
	int report[2];
	int pidfd;
	int sigfd;
	sigset_t old_mask;
	pid_t child;
	int status;
	bool stdout_open;
	bool exited;
	bool pipe_eof;
	long long deadline; /* ms on the monotonic clock */
	long long kill_at;  /* when the group gets SIGKILL; -1 before any signal */
};

/* Records why the command could not start; returns -1 for `return run_fail(...)`. */
static int run_fail(struct run *run, int exit_code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int run_fail(struct run *run, int exit_code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_vformat(run->outcome->failure, sizeof(run->outcome->failure), 0, fmt, ap);
	va_end(ap);
	run->outcome->exit_code = exit_code;
	return -1;
}

/* The environment, the shell and the two pipes (output; the child's failure report). */
static int run_prepare(struct run *run)
{
	run->env = environment_new(run->request->run_as_root);
	if (!run->env)
		return run_fail(run, GUEST_EXIT_GUEST_FAILURE, "out of memory");
	run->shell = find_shell(run->env);
	if (!run->shell)
		return run_fail(run, GUEST_EXIT_NO_SHELL, "%s is not on the command's PATH",
		                PIKACI_SHELL);
	if (pipe2(run->pipefd, O_CLOEXEC) < 0 || pipe2(run->report, O_CLOEXEC) < 0)
		return run_fail(run, GUEST_EXIT_GUEST_FAILURE, "cannot make a pipe: %s",
		                strerror(errno));
	return 0;
}

/* Forks the command in its own process group; 0 once it runs (its exec succeeded). */
static int run_start(struct run *run)
{
	pid_t child;

	run->sigfd = signals_block(&run->old_mask);
	fflush(NULL);
	child = fork();
	if (child < 0)
		return run_fail(run, GUEST_EXIT_GUEST_FAILURE, "cannot fork: %s", strerror(errno));
	if (child == 0)
		child_exec(run->request, run->shell, run->env, run->pipefd[1], run->report[1]);
	run->child = child;
	/* Both sides set the group, so a kill can never miss it. */
	setpgid(child, child);
	close(run->pipefd[1]);
	close(run->report[1]);
	run->pipefd[1] = run->report[1] = -1;
	if (child_failed(run->report[0], run->shell, run->outcome)) {
		waitpid(child, &run->status, 0);
		run->outcome->exit_code = WIFEXITED(run->status) ? WEXITSTATUS(run->status)
		                                                 : GUEST_EXIT_GUEST_FAILURE;
		return -1;
	}
	run->pidfd = (int)syscall(SYS_pidfd_open, child, 0);
	return 0;
}

/* [X3]: timeout_secs from now, in ms; saturates instead of wrapping (up to 2^53 - 1 s). */
static long long deadline_after(long long timeout_secs)
{
	return timeout_secs > (LLONG_MAX - monotonic_ms()) / 1000
	               ? LLONG_MAX
	               : monotonic_ms() + timeout_secs * 1000;
}

/* The guest is being stopped: stop the command the same way. */
static void on_signal(struct run *run)
{
	struct signalfd_siginfo info;

	if (run->outcome->interrupted)
		return;
	if (read(run->sigfd, &info, sizeof(info)) == (ssize_t)sizeof(info)) {
		run->outcome->interrupted = (int)info.ssi_signo;
		killpg(run->child, SIGTERM);
		run->kill_at = monotonic_ms() + GUEST_KILL_GRACE_MS;
	}
}

/* [X3], [B1]: at the deadline TERM the whole group, KILL it after a short grace. */
static void on_clock(struct run *run)
{
	long long now = monotonic_ms();

	if (run->kill_at < 0 && now >= run->deadline) {
		run->outcome->timed_out = true;
		killpg(run->child, SIGTERM);
		run->kill_at = now + GUEST_KILL_GRACE_MS;
	} else if (run->kill_at >= 0 && now >= run->kill_at) {
		killpg(run->child, SIGKILL);
		kill(run->child, SIGKILL);
		run->kill_at = LLONG_MAX;
	}
}

/* How long poll() may sleep: until the next deadline, at most a minute. */
static int poll_timeout(const struct run *run)
{
	long long now = monotonic_ms(), wake = run->kill_at >= 0 ? run->kill_at : run->deadline;
	int timeout = wake - now > 60000 ? 60000 : (int)(wake > now ? wake - now : 0);

	/* Without a pidfd (old kernels), look at the child every 50 ms. */
	if (run->pidfd < 0 && timeout > 50)
		timeout = 50;
	return timeout;
}

/* Pumps output, answers signals and the clock until the command exits. */
static void run_wait(struct run *run)
{
	while (!run->exited) {
		struct pollfd fds[3] = {
			{ .fd = run->pipe_eof ? -1 : run->pipefd[0], .events = POLLIN },
			{ .fd = run->pidfd, .events = POLLIN },
			{ .fd = run->sigfd, .events = POLLIN },
		};

		if (poll(fds, 3, poll_timeout(run)) < 0 && errno != EINTR)
			break;
		if (fds[0].revents & POLLIN)
			pump(run->pipefd[0], run->journal, &run->stdout_open);
		else if (fds[0].revents & (POLLHUP | POLLERR))
			run->pipe_eof = true;
		if (fds[2].revents & POLLIN)
			on_signal(run);
		if (run->pidfd < 0 || fds[1].revents & POLLIN) {
			pid_t done =
			        waitpid(run->child, &run->status, run->pidfd < 0 ? WNOHANG : 0);

			if (done == run->child) {
				run->exited = true;
				break;
			}
		}
		on_clock(run);
	}
}

/* [X3], [X4]: the exit code a host sees for how the command ended. */
static void run_finish(struct run *run)
{
	struct command_outcome *outcome = run->outcome;
	int status = run->status;

	/* [B2]: what is left of the group goes; what it already wrote is kept. */
	killpg(run->child, SIGKILL);
	if (!run->pipe_eof)
		drain(run->pipefd[0], run->journal, &run->stdout_open);

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
}

static void run_free(struct run *run)
{
	if (run->sigfd >= 0)
		sigprocmask(SIG_SETMASK, &run->old_mask, NULL);
	for (int i = 0; i < 2; i++) {
		if (run->pipefd[i] >= 0)
			close(run->pipefd[i]);
		if (run->report[i] >= 0)
			close(run->report[i]);
	}
	if (run->pidfd >= 0)
		close(run->pidfd);
	if (run->sigfd >= 0)
		close(run->sigfd);
	free(run->shell);
	environment_free(run->env);
}

void command_run(const struct pikaci_request *request, struct journal *journal,
                 struct command_outcome *outcome)
{
	struct run run = {
		.request = request,
		.journal = journal,
		.outcome = outcome,
		.pipefd = { -1, -1 },
		.report = { -1, -1 },
		.pidfd = -1,
		.sigfd = -1,
		.stdout_open = true,
		.kill_at = -1,
	};

	memset(outcome, 0, sizeof(*outcome));
	if (run_prepare(&run) == 0 && run_start(&run) == 0) {
		run.deadline = deadline_after(request->timeout_secs);
		run_wait(&run);
		run_finish(&run);
	}
	run_free(&run);
}
