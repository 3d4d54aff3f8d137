/* SPDX-License-Identifier: MIT */
/*
 * sandbox.c - the public new/run/free, on the host: the only place that creates namespaces.
 *
 * Process layout of a run: the caller clone()s a child straight into new mount, pid, net, ipc
 * and uts namespaces (never unshare() in the caller: its own mounts and later forks would
 * change, see SANDBOX.md), puts it into the run's cgroups and tells it to go. That child is the
 * namespace's init (inside.c). When the guest exits, init reports the guest's wait status and
 * the processes still alive over a pipe and exits, and the kernel kills whatever is left in
 * the namespace. At the deadline the caller kills init, with the same effect.
 *
 * sandbox.h says what the guest may and may not do, and why the design is what it is.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox-private.h"

#define CAPTURE_LIMIT (32u << 20)
/* After init is killed, output pipes close at once; this only guards against the impossible. */
#define DRAIN_GRACE 5.0
/* Live sandboxes a signal handler can clean up; more run unregistered (see abandon_all). */
#define LIVE_MAX 64

/* The host's variables of a coverage run that guests inherit, so counters find their way. */
static const char *const passed_through[] = { "GCOV_ERROR_FILE", "GCOV_PREFIX",
	                                      "GCOV_PREFIX_STRIP" };

extern char **environ;

char *const pikaci_sandbox_default_environment[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root",
	"USER=root",
	"LANG=C.UTF-8",
	NULL,
};

/*
 * The sandboxes of this process a SIGINT/SIGTERM handler must clean up. A handler can only
 * reach what is process-wide; slots are claimed and released with atomic operations.
 */
static struct pikaci_sandbox *volatile live[LIVE_MAX];

static void live_add(struct pikaci_sandbox *sandbox)
{
	for (size_t i = 0; i < LIVE_MAX; i++)
		if (__sync_bool_compare_and_swap(&live[i], NULL, sandbox))
			return;
}

static void live_remove(struct pikaci_sandbox *sandbox)
{
	for (size_t i = 0; i < LIVE_MAX; i++)
		if (__sync_bool_compare_and_swap(&live[i], sandbox, NULL))
			return;
}

/* Async-signal-safe: kill, waitpid, rmdir and the cgroups' rmdir. */
void pikaci_sandbox_abandon_all(void)
{
	for (size_t i = 0; i < LIVE_MAX; i++) {
		struct pikaci_sandbox *sandbox = __sync_lock_test_and_set(&live[i], NULL);
		char root[PATH_MAX];

		if (!sandbox)
			continue;
		if (sandbox->init > 0) {
			kill(sandbox->init, SIGKILL);
			waitpid(sandbox->init, NULL, 0);
		}
		limits_remove(&sandbox->limits);
		upper_remove_on_disk(sandbox);
		if (strlen(sandbox->base) + 6 < sizeof(root)) {
			memcpy(root, sandbox->base, strlen(sandbox->base));
			memcpy(root + strlen(sandbox->base), "/root", 6);
			rmdir(root);
		}
		rmdir(sandbox->base);
	}
}

int sandbox_fail(struct pikaci_sandbox *sandbox, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	code = error_vformat(sandbox->error, sizeof(sandbox->error), code, fmt, ap);
	va_end(ap);
	return code;
}

const char *pikaci_sandbox_error(const struct pikaci_sandbox *sandbox)
{
	return sandbox->error;
}

const char *pikaci_sandbox_upper(const struct pikaci_sandbox *sandbox)
{
	return sandbox->upper;
}

char *pikaci_sandbox_upper_path(const struct pikaci_sandbox *sandbox, const char *path)
{
	char *joined;

	if (asprintf(&joined, "%s%s%s", sandbox->upper, path[0] == '/' ? "" : "/", path) < 0)
		return NULL;
	return joined;
}

/* --- Binds -------------------------------------------------------------------------------- */

int pikaci_sandbox_binds_split(const char *list, char ***ret)
{
	char **binds = NULL;
	size_t n = 0, capacity = 0;

	*ret = NULL;
	for (const char *p = list; p && *p;) {
		size_t length = strcspn(p, ":");

		if (length > 0) {
			if (ARRAY_GROW(binds, capacity, n + 2) < 0 ||
			    !(binds[n] = strndup(p, length))) {
				if (binds)
					binds[n] = NULL;
				pikaci_sandbox_binds_free(binds);
				return -ENOMEM;
			}
			binds[++n] = NULL;
		}
		p += length + (p[length] == ':');
	}
	*ret = binds;
	return 0;
}

void pikaci_sandbox_binds_free(char **binds)
{
	for (size_t i = 0; binds && binds[i]; i++)
		free(binds[i]);
	free(binds);
}

/* A host path bound at the same path: a read-write folder, or a read-only file. */
static int add_bind(struct pikaci_sandbox *sandbox, const char *path, bool writable_folder)
{
	char *copy;

	if (ARRAY_GROW(sandbox->binds, sandbox->binds_capacity, sandbox->n_binds + 1) < 0 ||
	    !(copy = strdup(path)))
		return sandbox_fail(sandbox, -ENOMEM, "out of memory");
	sandbox->binds[sandbox->n_binds++] = (struct bind){ .path = copy,
		                                            .writable = writable_folder,
		                                            .directory = writable_folder };
	return 0;
}

/* A host folder bound read-write at the same path; it must be named absolutely. */
static int add_writable_bind(struct pikaci_sandbox *sandbox, const char *path)
{
	if (path[0] != '/')
		return sandbox_fail(sandbox, -EINVAL,
		                    "a folder bound into the sandbox is not an absolute path: %s",
		                    path);
	return add_bind(sandbox, path, true);
}

/* A host file bound read-only at the same path (a guest program the overlay hides). */
static int add_file_bind(struct pikaci_sandbox *sandbox, const char *path)
{
	int r;

	for (size_t i = 0; i < sandbox->n_binds; i++)
		if (strcmp(sandbox->binds[i].path, path) == 0)
			return 0;
	r = add_bind(sandbox, path, false);
	if (r < 0)
		return r;
	/* Outside /tmp the mount point lands in the upper layer: the sandbox's, not the guest's. */
	if (strncmp(path, "/tmp/", 5) != 0)
		return upper_write_file(sandbox, path, "", 0, 0644);
	return 0;
}

/*
 * The lower layer is the root filesystem alone: what lives on another mount, or under the
 * folders the sandbox covers with fresh mounts, is invisible inside unless bound in.
 */
bool visible_inside(const char *path)
{
	static const char *const covered[] = { "/tmp/", "/proc/", "/dev/", "/sys/" };
	struct stat root, st;

	for (size_t i = 0; i < ELEMENTSOF(covered); i++)
		if (strncmp(path, covered[i], strlen(covered[i])) == 0)
			return false;
	if (stat("/", &root) < 0 || stat(path, &st) < 0)
		return false;
	return st.st_dev == root.st_dev;
}

/* --- new and free ------------------------------------------------------------------------- */

static int sandbox_make_folders(struct pikaci_sandbox *sandbox, const char *base_dir)
{
	char root[PATH_MAX];

	if (asprintf(&sandbox->base, "%s/pikaci-sandbox.XXXXXX", base_dir) < 0) {
		sandbox->base = NULL;
		return sandbox_fail(sandbox, -ENOMEM, "out of memory");
	}
	if (!mkdtemp(sandbox->base)) {
		int r = sandbox_fail(sandbox, -errno, "cannot create a sandbox folder in %s: %s",
		                     base_dir, strerror(errno));

		free(sandbox->base);
		sandbox->base = NULL;
		return r;
	}
	snprintf(root, sizeof(root), "%s/root", sandbox->base);
	if (mkdir(root, 0755) < 0)
		return sandbox_fail(sandbox, -errno, "cannot create %s: %s", root, strerror(errno));
	return upper_mount_new(sandbox);
}

int pikaci_sandbox_new(const struct pikaci_sandbox_options *options,
                       struct pikaci_sandbox **ret_sandbox, char *errbuf, size_t errsize)
{
	static const struct pikaci_sandbox_options defaults = { 0 };
	struct pikaci_sandbox *sandbox;
	const char *base_dir;
	int r;

	if (!options)
		options = &defaults;
	if (geteuid() != 0) {
		snprintf(errbuf, errsize,
		         "the sandbox needs root (CAP_SYS_ADMIN) for namespaces and an overlay "
		         "mount; this process runs as uid %u",
		         (unsigned)geteuid());
		return -EPERM;
	}
	sandbox = calloc(1, sizeof(*sandbox));
	if (!sandbox)
		return -ENOMEM;
	sandbox->upper_mount = -1;
	sandbox->environment =
	        options->environment ? options->environment : pikaci_sandbox_default_environment;
	sandbox->keep = options->keep;
	base_dir = options->base_dir ? options->base_dir : getenv("TMPDIR");
	if (!base_dir || !*base_dir)
		base_dir = "/tmp";

	r = sandbox_make_folders(sandbox, base_dir);
	for (char *const *bind = options->writable_binds; r == 0 && bind && *bind; bind++)
		r = add_writable_bind(sandbox, *bind);
	if (r == 0)
		r = upper_prepare_layout(sandbox);
	if (r < 0) {
		snprintf(errbuf, errsize, "%s", sandbox->error);
		sandbox->keep = false;
		pikaci_sandbox_free(sandbox);
		return r;
	}
	live_add(sandbox);
	*ret_sandbox = sandbox;
	return 0;
}

void pikaci_sandbox_free(struct pikaci_sandbox *sandbox)
{
	char root[PATH_MAX];

	if (!sandbox)
		return;
	live_remove(sandbox);
	limits_remove(&sandbox->limits);
	if (sandbox->base && sandbox->keep && sandbox->upper)
		(void)upper_keep(sandbox);
	if (sandbox->upper_mount >= 0)
		close(sandbox->upper_mount);
	if (sandbox->base && !sandbox->keep) {
		upper_remove_on_disk(sandbox);
		snprintf(root, sizeof(root), "%s/root", sandbox->base);
		rmdir(root);
		/* Only an empty folder goes: whatever else is there is not ours to delete. */
		rmdir(sandbox->base);
	}
	for (size_t i = 0; i < sandbox->n_prepared; i++)
		free(sandbox->prepared[i]);
	for (size_t i = 0; i < sandbox->n_binds; i++)
		free(sandbox->binds[i].path);
	free(sandbox->prepared);
	free(sandbox->binds);
	free(sandbox->upper);
	free(sandbox->base);
	free(sandbox);
}

/* --- The run, step by step ---------------------------------------------------------------- */

/* The guest's environment: the given one, plus passed_through[] where the host sets them. */
static char **environment_new(char *const *given)
{
	size_t n = 0, k = 0;
	char **environment;

	while (given[n])
		n++;
	environment = calloc(n + ELEMENTSOF(passed_through) + 1, sizeof(*environment));
	if (!environment)
		return NULL;
	memcpy(environment, given, n * sizeof(*environment));
	for (size_t i = 0; i < ELEMENTSOF(passed_through); i++) {
		const char *name = passed_through[i];
		size_t length = strlen(name);
		bool given_already = false;

		for (size_t g = 0; g < n; g++)
			if (!strncmp(given[g], name, length) && given[g][length] == '=')
				given_already = true;
		/* environ's own "NAME=value" string: it outlives the run. */
		for (char **e = environ; !given_already && *e; e++)
			if (!strncmp(*e, name, length) && (*e)[length] == '=')
				environment[n + k++] = *e;
	}
	return environment;
}

struct capture {
	int fd;
	char **buffer;
	size_t *length;
	size_t capacity;
	bool open;
};

/* One run in progress. */
struct run {
	char **argv; /* resolved */
	size_t argc;
	char **environment;
	int out[2], err[2], report[2], go[2];
	pid_t child;
	double started, kill_time;
	bool killed, reported;
	struct init_message message;
	struct capture captures[2];
	bool report_open;
};

static void run_clear(struct run *run)
{
	int *fds[] = { run->out, run->err, run->report, run->go };

	for (size_t i = 0; i < ELEMENTSOF(fds); i++)
		for (int end = 0; end < 2; end++)
			if (fds[i][end] >= 0)
				close(fds[i][end]);
	for (size_t i = 0; run->argv && i < run->argc; i++)
		free(run->argv[i]);
	free(run->argv);
	free(run->environment);
}

/*
 * Inside, the working folder is /: a relative path to a host file (a guest behind a wrapper,
 * `valgrind ./guest`) would name nothing, so it becomes absolute.
 */
static int run_resolve_argv(struct pikaci_sandbox *sandbox, char *const argv[], struct run *run)
{
	while (argv[run->argc])
		run->argc++;
	run->argv = calloc(run->argc + 1, sizeof(*run->argv));
	if (!run->argv)
		return sandbox_fail(sandbox, -ENOMEM, "out of memory");
	for (size_t i = 0; i < run->argc; i++) {
		struct stat st;

		if (i == 0)
			run->argv[i] = program_find(argv[0]);
		else if (argv[i][0] != '/' && strchr(argv[i], '/') && stat(argv[i], &st) == 0 &&
		         S_ISREG(st.st_mode))
			run->argv[i] = realpath(argv[i], NULL);
		else
			run->argv[i] = strdup(argv[i]);
		if (!run->argv[i])
			return i == 0 ? sandbox_fail(sandbox, -ENOENT, "cannot find %s: %s",
			                             argv[0],
			                             strchr(argv[0], '/') ? strerror(errno)
			                                                  : "not on PATH")
			              : sandbox_fail(sandbox, -ENOMEM, "out of memory");
	}
	return 0;
}

/* Binds in the programs and files named on the command line that the overlay hides. */
static int run_prepare_binds(struct pikaci_sandbox *sandbox, struct run *run)
{
	int r;

	for (size_t i = 0; i < run->argc; i++) {
		struct stat st;

		if (run->argv[i][0] != '/' || stat(run->argv[i], &st) < 0 || !S_ISREG(st.st_mode) ||
		    visible_inside(run->argv[i]))
			continue;
		r = add_file_bind(sandbox, run->argv[i]);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < sandbox->n_binds; i++) {
		struct bind *bind = &sandbox->binds[i];

		if (bind->directory && strncmp(bind->path, "/tmp/", 5) != 0 &&
		    !visible_inside(bind->path)) {
			r = upper_make_parents(sandbox, bind->path, true, 0755);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* Clones init into the namespaces, puts it into the run's cgroups and lets it go. */
static int run_start(struct pikaci_sandbox *sandbox, struct run *run)
{
	const char *name = strrchr(sandbox->base, '/') + 1;
	unsigned char go = GO_START;

	if (pipe2(run->out, O_CLOEXEC) < 0 || pipe2(run->err, O_CLOEXEC) < 0 ||
	    pipe2(run->report, O_CLOEXEC) < 0 || pipe2(run->go, O_CLOEXEC) < 0)
		return sandbox_fail(sandbox, -errno, "cannot make pipes: %s", strerror(errno));
	limits_new(&sandbox->limits, name);
	fflush(NULL);
	run->started = monotonic_seconds();
	run->child = (pid_t)syscall(SYS_clone,
	                            CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |
	                                    CLONE_NEWUTS | SIGCHLD,
	                            NULL, NULL, NULL, NULL);
	if (run->child < 0)
		return sandbox_fail(sandbox, -errno, "cannot create the sandbox's namespaces: %s%s",
		                    strerror(errno),
		                    errno == EPERM
		                            ? " (needs CAP_SYS_ADMIN: run as root, outside a "
		                              "restricted container)"
		                            : "");
	if (run->child == 0) {
		struct init_args args = { .sandbox = sandbox,
			                  .argv = run->argv,
			                  .environment = run->environment,
			                  .out = run->out[1],
			                  .err = run->err[1],
			                  .report = run->report[1],
			                  .go = run->go[0] };

		close(run->out[0]);
		close(run->err[0]);
		close(run->report[0]);
		close(run->go[1]);
		init_main(&args);
	}
	sandbox->init = run->child;
	close(run->out[1]);
	close(run->err[1]);
	close(run->report[1]);
	close(run->go[0]);
	run->out[1] = run->err[1] = run->report[1] = run->go[0] = -1;
	if (limits_enter(&sandbox->limits, run->child) < 0 || write(run->go[1], &go, 1) != 1)
		return sandbox_fail(sandbox, -EIO, "cannot start the sandbox's init: %s",
		                    strerror(errno));
	close(run->go[1]);
	run->go[1] = -1;
	return 0;
}

static int capture_read(struct capture *c, int stream, bool *truncated,
                        pikaci_sandbox_output_fn output, void *userdata)
{
	char chunk[65536];
	ssize_t n = read(c->fd, chunk, sizeof(chunk));

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : -errno;
	if (n == 0)
		return 0;
	if (output)
		output(userdata, stream, chunk, (size_t)n);
	/* The capture is the output's first CAPTURE_LIMIT bytes, without a gap. */
	if (*c->length + (size_t)n > CAPTURE_LIMIT) {
		*truncated = true;
		n = (ssize_t)(CAPTURE_LIMIT - *c->length);
		if (n == 0)
			return 1;
	}
	if (array_grow(c->buffer, &c->capacity, *c->length + (size_t)n + 1, 1) < 0)
		return -ENOMEM;
	memcpy(*c->buffer + *c->length, chunk, (size_t)n);
	*c->length += (size_t)n;
	(*c->buffer)[*c->length] = '\0';
	return 1;
}

static void run_read_report(struct run *run)
{
	struct init_message incoming;
	ssize_t got = read(run->report[0], &incoming, sizeof(incoming));

	if (got == (ssize_t)sizeof(incoming)) {
		/* The first failure wins over the status that follows it. */
		if (!run->reported || run->message.kind == INIT_MESSAGE_STATUS)
			run->message = incoming;
		run->reported = true;
	} else if (got == 0) {
		run->report_open = false;
	}
}

/* One poll round over the open streams; <0 on error. */
static int run_poll_once(struct pikaci_sandbox *sandbox, struct run *run, int timeout_ms,
                         struct pikaci_sandbox_result *result, pikaci_sandbox_output_fn output,
                         void *userdata)
{
	struct pollfd fds[3];
	int map[3];
	nfds_t n = 0;

	for (int i = 0; i < 2; i++)
		if (run->captures[i].open) {
			fds[n] = (struct pollfd){ .fd = run->captures[i].fd, .events = POLLIN };
			map[n++] = i;
		}
	if (run->report_open) {
		fds[n] = (struct pollfd){ .fd = run->report[0], .events = POLLIN };
		map[n++] = 2;
	}
	if (poll(fds, n, timeout_ms) < 0)
		return errno == EINTR ? 0
		                      : sandbox_fail(sandbox, -errno, "poll: %s", strerror(errno));
	for (nfds_t k = 0; k < n; k++) {
		int which = map[k], status;

		if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (which == 2) {
			run_read_report(run);
			continue;
		}
		status = capture_read(&run->captures[which], which + 1, &result->truncated, output,
		                      userdata);
		if (status <= 0)
			run->captures[which].open = false;
		if (status < 0)
			return sandbox_fail(sandbox, status, "reading output: %s",
			                    strerror(-status));
	}
	return 0;
}

/* Streams output until every pipe has closed, killing init at the deadline. */
static int run_collect(struct pikaci_sandbox *sandbox, struct run *run, double deadline,
                       struct pikaci_sandbox_result *result, pikaci_sandbox_output_fn output,
                       void *userdata)
{
	run->captures[0] =
	        (struct capture){ run->out[0], &result->out, &result->out_length, 0, true };
	run->captures[1] =
	        (struct capture){ run->err[0], &result->err, &result->err_length, 0, true };
	run->report_open = true;
	while (run->captures[0].open || run->captures[1].open || run->report_open) {
		double left = run->killed ? run->kill_time + DRAIN_GRACE - monotonic_seconds()
		                          : run->started + deadline - monotonic_seconds();
		int r;

		if (left <= 0) {
			if (run->killed)
				break;
			kill(run->child, SIGKILL);
			run->killed = true;
			result->timed_out = !run->reported;
			run->kill_time = monotonic_seconds();
			continue;
		}
		r = run_poll_once(sandbox, run, left > 1e6 ? 1000000000 : (int)(left * 1000) + 1,
		                  result, output, userdata);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Reaps init and turns its report into the result. */
static int run_finish(struct pikaci_sandbox *sandbox, struct run *run, double deadline,
                      struct pikaci_sandbox_result *result)
{
	const struct init_message *m = &run->message;

	result->limits_hit = limits_hit(&sandbox->limits);
	result->limits_enforced = limits_enforced(&sandbox->limits) |
	                          (sandbox->upper_mount >= 0 ? PIKACI_SANDBOX_LIMIT_UPPER : 0);
	limits_remove(&sandbox->limits);
	if (run->reported && m->kind != INIT_MESSAGE_STATUS)
		return sandbox_fail(sandbox, -EIO, "%s", m->text);
	if (!run->reported && !result->timed_out)
		return sandbox_fail(sandbox, -EIO, "the sandbox's init vanished without a word");
	result->status = m->status;
	result->seconds = result->timed_out ? deadline : m->seconds;
	result->have_leftovers = run->reported;
	result->guest_pid = m->guest;
	result->n_leftovers = m->n_leftovers;
	result->leftovers_truncated = m->leftovers_truncated;
	memcpy(result->leftovers, m->leftovers, sizeof(result->leftovers));
	return 0;
}

void pikaci_sandbox_result_clear(struct pikaci_sandbox_result *result)
{
	if (!result)
		return;
	free(result->out);
	free(result->err);
	memset(result, 0, sizeof(*result));
}

int pikaci_sandbox_run(struct pikaci_sandbox *sandbox, char *const argv[], double deadline,
                       pikaci_sandbox_output_fn output, void *userdata,
                       struct pikaci_sandbox_result *ret_result)
{
	struct pikaci_sandbox_result result = { 0 };
	struct run run = { .out = { -1, -1 },
		           .err = { -1, -1 },
		           .report = { -1, -1 },
		           .go = { -1, -1 },
		           .child = -1 };
	int r;

	if (sandbox->ran)
		return sandbox_fail(sandbox, -EBUSY, "a sandbox runs once");
	sandbox->ran = true;
	if (!argv || !argv[0])
		return sandbox_fail(sandbox, -EINVAL, "no command to run");

	r = run_resolve_argv(sandbox, argv, &run);
	if (r == 0)
		r = run_prepare_binds(sandbox, &run);
	if (r == 0 && !(run.environment = environment_new(sandbox->environment)))
		r = sandbox_fail(sandbox, -ENOMEM, "out of memory");
	if (r == 0)
		r = run_start(sandbox, &run);
	if (r == 0)
		r = run_collect(sandbox, &run, deadline, &result, output, userdata);
	if (run.child > 0) {
		if (run.killed || r < 0)
			kill(run.child, SIGKILL);
		waitpid(run.child, NULL, 0);
		sandbox->init = 0;
	}
	if (r == 0)
		r = run_finish(sandbox, &run, deadline, &result);
	limits_remove(&sandbox->limits);
	if (r == 0) {
		*ret_result = result;
		memset(&result, 0, sizeof(result));
	}
	pikaci_sandbox_result_clear(&result);
	run_clear(&run);
	return r;
}
