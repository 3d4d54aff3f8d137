/* SPDX-License-Identifier: MIT */
/*
 * incus-case.c - pikaci-incus-case, the helper the incus transport's overlay isolation pushes
 * into a running instance of the image under test (statically linked: it must run whatever C
 * library the image has, or none). Each case gets a fresh, unmodified view of the image
 * without a container of its own: an overlay whose lower layer is the instance's root file
 * system (the image itself: nothing is ever written to it) and whose upper layer is a folder on
 * a tmpfs the helper mounts over /tmp in the instance's own mount namespace. The guest runs in
 * fresh mount and pid namespaces rooted at that overlay.
 *
 *   pikaci-incus-case setup
 *       Mounts the tmpfs over /tmp (the image's /tmp stays the lower layer's), copies itself
 *       there as /tmp/pikaci/pikaci-incus-case and unlinks the copy it was started as, so the
 *       image's files are as they were. Run once per instance, from the file the transport
 *       pushed into the image's /tmp.
 *   pikaci-incus-case prepare ID
 *       Makes /tmp/pikaci/cases/ID/{upper,work,root} and mounts the overlay on root, in the
 *       instance's mount namespace: Incus's file API reads and writes the case's view there.
 *   pikaci-incus-case run ID COMMAND [ARG...]
 *       Runs COMMAND (found in PATH as `incus exec` would) as pid 2 of a fresh pid namespace
 *       whose root is the case's view, with a fresh /proc and the instance's /dev and /sys;
 *       exits with its exit code, or 128 + the signal that ended it (127: no such command).
 *       When COMMAND exits, the namespace ends and every process left in it is killed.
 *   pikaci-incus-case kill ID
 *       SIGKILL to the case's pid namespace (its first process): a guest that outlived its
 *       deadline, and everything it started.
 *   pikaci-incus-case clean ID
 *       kill, then unmount the case's view and remove its folder.
 *
 * Exit status (but for run's): 0 done, 1 failure (said on stderr), 2 usage.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define BASE  "/tmp/pikaci"
#define CASES BASE "/cases"
#define SELF  BASE "/pikaci-incus-case"

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
	va_list ap;

	fputs("pikaci-incus-case: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* A case id names one folder: letters, digits, '-' and '_' only. */
static int case_dir(const char *id, const char *leaf, char *buf, size_t size)
{
	size_t length = strlen(id);

	if (length == 0 || length > 64 ||
	    strspn(id, "abcdefghijklmnopqrstuvwxyz"
	               "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != length)
		return -EINVAL;
	if (snprintf(buf, size, "%s/%s%s%s", CASES, id, leaf[0] ? "/" : "", leaf) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

static int copy_self(const char *to)
{
	char buf[65536];
	ssize_t n;
	int in, out, r = 0;

	in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);
	if (out < 0) {
		r = -errno;
		close(in);
		return r;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			r = -EIO;
			break;
		}
	if (n < 0)
		r = -errno;
	close(in);
	if (close(out) < 0 && r == 0)
		r = -errno;
	return r;
}

static int cmd_setup(const char *self)
{
	const char *name = strrchr(self, '/');
	int tmp;

	if (access(SELF, X_OK) == 0)
		return 0; /* set up already */
	if (!name || strncmp(self, "/tmp/", 5) != 0 || strchr(self + 5, '/'))
		return fail("setup: run me from the copy pushed into /tmp, not %s", self);
	/* The image's /tmp, kept open: the pushed copy is unlinked from it once hidden. */
	tmp = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tmp < 0)
		return fail("setup: /tmp: %s", strerror(errno));
	if (mount("pikaci", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700") < 0)
		return fail("setup: mounting a tmpfs on /tmp: %s", strerror(errno));
	/* The cases' mounts stay in this namespace: never propagated to the host's. */
	if (mount(NULL, "/tmp", NULL, MS_PRIVATE, NULL) < 0)
		return fail("setup: making /tmp private: %s", strerror(errno));
	if (mkdir(BASE, 0700) < 0 || mkdir(CASES, 0700) < 0)
		return fail("setup: %s: %s", CASES, strerror(errno));
	if (copy_self(SELF) < 0)
		return fail("setup: copying myself to %s: %s", SELF, strerror(errno));
	if (unlinkat(tmp, name + 1, 0) < 0)
		return fail("setup: removing %s from the image's /tmp: %s", self, strerror(errno));
	close(tmp);
	return 0;
}

static int cmd_prepare(const char *id)
{
	static const char *const leaves[] = { "", "upper", "work", "root" };
	char path[PATH_MAX], upper[PATH_MAX], work[PATH_MAX], root[PATH_MAX], data[3 * PATH_MAX];

	for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
		if (case_dir(id, leaves[i], path, sizeof(path)) < 0)
			return fail("prepare: not a case id: %s", id);
		if (mkdir(path, i == 0 ? 0700 : 0755) < 0)
			return fail("prepare: %s: %s", path, strerror(errno));
	}
	case_dir(id, "upper", upper, sizeof(upper));
	case_dir(id, "work", work, sizeof(work));
	case_dir(id, "root", root, sizeof(root));
	snprintf(data, sizeof(data), "lowerdir=/,upperdir=%s,workdir=%s", upper, work);
	if (mount("overlay", root, "overlay", 0, data) < 0)
		return fail("prepare: the overlay on %s: %s", root, strerror(errno));
	return 0;
}

/* Inside the new namespaces (pid 1): the case's view as root, /proc, /dev and /sys. */
static int enter_view(const char *root)
{
	char cwd[PATH_MAX], at[PATH_MAX + 16];
	static const char *const binds[] = { "dev", "sys" };

	if (!getcwd(cwd, sizeof(cwd)))
		strcpy(cwd, "/");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return fail("run: making the mounts private: %s", strerror(errno));
	for (size_t i = 0; i < sizeof(binds) / sizeof(binds[0]); i++) {
		snprintf(at, sizeof(at), "%s/%s", root, binds[i]);
		if (mount(binds[i][0] == 'd' ? "/dev" : "/sys", at, NULL, MS_BIND | MS_REC, NULL) <
		    0)
			return fail("run: binding /%s: %s", binds[i], strerror(errno));
	}
	snprintf(at, sizeof(at), "%s/proc", root);
	if (mount("proc", at, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return fail("run: mounting /proc: %s", strerror(errno));
	/* pivot_root(".", "."): no folder for the old root is needed in the view. */
	if (chdir(root) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
	    umount2(".", MNT_DETACH) < 0)
		return fail("run: entering the view: %s", strerror(errno));
	if (chdir(cwd) < 0 && chdir("/") < 0)
		return fail("run: chdir: %s", strerror(errno));
	return 0;
}

static int exit_code(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* pid 1 of the case: starts the command as pid 2, reaps, and ends with it. */
static _Noreturn void init_main(const char *root, char *const argv[])
{
	pid_t guest;
	int status;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* Its own mount namespace: pivot_root must not move the parent (still outside). */
	if (unshare(CLONE_NEWNS) < 0) {
		fail("run: unshare: %s", strerror(errno));
		_exit(125);
	}
	if (enter_view(root) != 0)
		_exit(125);
	guest = fork();
	if (guest < 0) {
		fail("run: fork: %s", strerror(errno));
		_exit(125);
	}
	if (guest == 0) {
		execvp(argv[0], argv);
		fail("run: %s: %s", argv[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	for (;;) {
		pid_t pid = waitpid(-1, &status, 0);

		if (pid == guest)
			_exit(exit_code(status));
		if (pid < 0 && errno != EINTR)
			_exit(125);
	}
}

static int cmd_run(const char *id, char *const argv[])
{
	char root[PATH_MAX], pidfile[PATH_MAX], text[32];
	pid_t init;
	int status, fd;

	if (case_dir(id, "root", root, sizeof(root)) < 0 || !argv[0])
		return fail("run: not a case id: %s", id);
	case_dir(id, "pid", pidfile, sizeof(pidfile));
	/* The new pid namespace is for the child only (its pid 1); this process stays outside. */
	if (unshare(CLONE_NEWPID) < 0)
		return fail("run: unshare: %s", strerror(errno));
	init = fork();
	if (init < 0)
		return fail("run: fork: %s", strerror(errno));
	if (init == 0)
		init_main(root, argv);
	fd = open(pidfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		int n = snprintf(text, sizeof(text), "%d\n", (int)init);

		if (write(fd, text, (size_t)n) != n)
			fail("run: writing %s", pidfile);
		close(fd);
	}
	while (waitpid(init, &status, 0) < 0)
		if (errno != EINTR)
			return fail("run: waitpid: %s", strerror(errno));
	return exit_code(status);
}

static int cmd_kill(const char *id)
{
	char pidfile[PATH_MAX], text[32] = "";
	ssize_t n;
	int fd;
	long pid;

	if (case_dir(id, "pid", pidfile, sizeof(pidfile)) < 0)
		return fail("kill: not a case id: %s", id);
	fd = open(pidfile, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : fail("kill: %s: %s", pidfile, strerror(errno));
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	pid = n > 0 ? strtol(text, NULL, 10) : 0;
	if (pid > 1 && kill((pid_t)pid, SIGKILL) < 0 && errno != ESRCH)
		return fail("kill: %ld: %s", pid, strerror(errno));
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static int cmd_clean(const char *id)
{
	char dir[PATH_MAX], root[PATH_MAX];

	if (case_dir(id, "", dir, sizeof(dir)) < 0)
		return fail("clean: not a case id: %s", id);
	if (cmd_kill(id) != 0)
		return 1;
	case_dir(id, "root", root, sizeof(root));
	if (umount2(root, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		return fail("clean: unmounting %s: %s", root, strerror(errno));
	if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
		return fail("clean: removing %s: %s", dir, strerror(errno));
	return 0;
}

int main(int argc, char *argv[])
{
	const char *command = argc > 1 ? argv[1] : "";

	if (strcmp(command, "setup") == 0 && argc == 2)
		return cmd_setup(argv[0]);
	if (strcmp(command, "prepare") == 0 && argc == 3)
		return cmd_prepare(argv[2]);
	if (strcmp(command, "run") == 0 && argc >= 4)
		return cmd_run(argv[2], argv + 3);
	if (strcmp(command, "kill") == 0 && argc == 3)
		return cmd_kill(argv[2]);
	if (strcmp(command, "clean") == 0 && argc == 3)
		return cmd_clean(argv[2]);
	fputs("usage: pikaci-incus-case setup | prepare ID | run ID COMMAND [ARG...] | kill ID | "
	      "clean ID\n",
	      stderr);
	return 2;
}
