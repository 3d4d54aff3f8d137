/* SPDX-License-Identifier: MIT */
/*
 * sandbox.c - the only place in the project that creates namespaces and mounts.
 *
 * Process layout of a run: the caller clone()s a child straight into new mount, pid, net, ipc
 * and uts namespaces (never unshare() in the caller: its own mounts and later forks would change,
 * see SANDBOX.md). That child is the namespace's init: it mounts the overlay root, /proc, /dev
 * and /tmp, pivots into it, forks the guest and reaps. When the guest exits, init reports the
 * guest's wait status over a pipe and exits, and the kernel kills whatever is left in the
 * namespace. At the deadline the caller kills init, with the same effect.
 *
 * This isolates a guest's files and processes; it is not a security boundary against a hostile
 * guest (that runs as real root), though the dangerous capabilities are dropped before exec.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/close_range.h>

#include "pikaci-contract.h"
#include "sandbox.h"

#define CAPTURE_LIMIT (32u << 20)

/*
 * A coverage build (-Db_coverage=true) counts init's code too: init is clone()d, not fork()ed,
 * so it starts with the caller's counters (reset them) and leaves by _exit() (write them).
 */
#ifdef PIKACI_COVERAGE
void __gcov_reset(void);
void __gcov_dump(void);
#define coverage_reset() __gcov_reset()
#define coverage_dump()  __gcov_dump()
#else
#define coverage_reset() ((void)0)
#define coverage_dump()  ((void)0)
#endif

/* The host's variables of a coverage run that guests inherit, so counters find their way. */
static const char *const passed_through[] = { "GCOV_ERROR_FILE", "GCOV_PREFIX",
	                                      "GCOV_PREFIX_STRIP" };
/*
 * Bind, remount and propagation mounts ignore the source and type; "none" rather than NULL
 * keeps valgrind, which reads both as strings, quiet.
 */
/* After init is killed, output pipes close at once; this only guards against the impossible. */
#define DRAIN_GRACE 5.0

extern char **environ;

char *const pikaci_sandbox_default_environment[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root",
	"USER=root",
	"LANG=C.UTF-8",
	NULL,
};

struct bind {
	char *path;
	bool writable;
	bool directory;
};

struct pikaci_sandbox {
	char *base;  /* the per-run folder: upper/, work/, root/ */
	char *upper; /* base/upper */
	char *const *environment;
	bool keep;
	bool ran;
	char **prepared; /* paths inside the sandbox the sandbox or caller made, not the guest */
	size_t n_prepared;
	struct bind *binds;
	size_t n_binds;
	char error[512];
};

/* What init tells the caller; smaller than PIPE_BUF, so each write arrives whole. */
struct init_message {
	char kind; /* 'S': the guest's status; 'E': setup failed */
	int status;
	double seconds;
	char text[256];
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(struct pikaci_sandbox *sandbox, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int fail(struct pikaci_sandbox *sandbox, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sandbox->error, sizeof(sandbox->error), fmt, ap);
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

/* --- Removing a folder tree (the per-run folder) ------------------------------------------ */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_DP || flag == FTW_D)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static void remove_tree(const char *path)
{
	nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* --- Preparing the upper layer ------------------------------------------------------------ */

static bool is_prepared(const struct pikaci_sandbox *sandbox, const char *path)
{
	for (size_t i = 0; i < sandbox->n_prepared; i++)
		if (strcmp(sandbox->prepared[i], path) == 0)
			return true;
	return false;
}

static int add_prepared(struct pikaci_sandbox *sandbox, const char *path)
{
	char **grown;

	if (is_prepared(sandbox, path))
		return 0;
	grown = realloc(sandbox->prepared, (sandbox->n_prepared + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	sandbox->prepared = grown;
	grown[sandbox->n_prepared] = strdup(path);
	if (!grown[sandbox->n_prepared])
		return -ENOMEM;
	sandbox->n_prepared++;
	return 0;
}

/*
 * Makes every missing directory of `path` (inside the sandbox) in the upper layer. A directory
 * that exists in the lower layer gets its mode and owner, so the merged view does not change.
 */
static int upper_make_parents(struct pikaci_sandbox *sandbox, const char *path, bool including_last,
                              mode_t mode)
{
	char inner[PATH_MAX], host[PATH_MAX * 2];
	size_t length = strlen(path);

	if (path[0] != '/' || length >= sizeof(inner))
		return fail(sandbox, -EINVAL, "not an absolute path: %s", path);
	for (size_t i = 1; i <= length; i++) {
		struct stat lower;
		bool last = i == length;

		if (!last && path[i] != '/')
			continue;
		if (last && !including_last)
			break;
		memcpy(inner, path, i);
		inner[i] = '\0';
		snprintf(host, sizeof(host), "%s%s", sandbox->upper, inner);
		if (lstat(inner, &lower) == 0 && S_ISDIR(lower.st_mode)) {
			if (mkdir(host, lower.st_mode & 07777) == 0) {
				if (chown(host, lower.st_uid, lower.st_gid) < 0)
					return fail(sandbox, -errno, "chown %s: %s", host,
					            strerror(errno));
			} else if (errno != EEXIST) {
				return fail(sandbox, -errno, "cannot create %s: %s", host,
				            strerror(errno));
			}
			continue;
		}
		if (mkdir(host, last ? mode : 0755) < 0) {
			if (errno == EEXIST)
				continue;
			return fail(sandbox, -errno, "cannot create %s: %s", host, strerror(errno));
		}
		if (add_prepared(sandbox, inner) < 0)
			return fail(sandbox, -ENOMEM, "out of memory");
	}
	return 0;
}

static int write_all(int fd, const void *bytes, size_t length)
{
	const char *p = bytes;

	while (length > 0) {
		ssize_t n = write(fd, p, length);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		length -= (size_t)n;
	}
	return 0;
}

/* Also the sandbox's own, for the mount points of a run (pikaci_sandbox_run). */
static int upper_write_file(struct pikaci_sandbox *sandbox, const char *path, const void *bytes,
                            size_t length, mode_t mode)
{
	char *host;
	int fd, r;

	r = upper_make_parents(sandbox, path, false, 0755);
	if (r < 0)
		return r;
	host = pikaci_sandbox_upper_path(sandbox, path);
	if (!host)
		return fail(sandbox, -ENOMEM, "out of memory");
	fd = open(host, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0) {
		r = fail(sandbox, -errno, "cannot create %s: %s", host, strerror(errno));
		free(host);
		return r;
	}
	r = write_all(fd, bytes, length);
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0) {
		fail(sandbox, r, "cannot write %s: %s", host, strerror(-r));
		unlink(host);
		free(host);
		return r;
	}
	free(host);
	if (add_prepared(sandbox, path) < 0)
		return fail(sandbox, -ENOMEM, "out of memory");
	return 0;
}

int pikaci_sandbox_write_file(struct pikaci_sandbox *sandbox, const char *path, const void *bytes,
                              size_t length, mode_t mode)
{
	if (sandbox->ran)
		return fail(sandbox, -EBUSY, "the sandbox has already run");
	return upper_write_file(sandbox, path, bytes, length, mode);
}

int pikaci_sandbox_make_dir(struct pikaci_sandbox *sandbox, const char *path, mode_t mode)
{
	if (sandbox->ran)
		return fail(sandbox, -EBUSY, "the sandbox has already run");
	return upper_make_parents(sandbox, path, true, mode);
}

/* Host's /etc/passwd (or group) without the lines `drop` rejects, plus `add`. */
static int write_account_file(struct pikaci_sandbox *sandbox, const char *path,
                              bool (*drop)(const char *line), const char *add)
{
	char *content = NULL, *line = NULL;
	size_t size = 0, capacity = 0;
	FILE *in, *out;
	int r;

	out = open_memstream(&content, &size);
	if (!out)
		return fail(sandbox, -ENOMEM, "out of memory");
	in = fopen(path, "re");
	if (in) {
		while (getline(&line, &capacity, in) > 0)
			if (!drop(line))
				fputs(line, out);
		fclose(in);
		free(line);
	}
	fputs(add, out);
	if (fclose(out) != 0) {
		free(content);
		return fail(sandbox, -ENOMEM, "out of memory");
	}
	r = pikaci_sandbox_write_file(sandbox, path, content, size, 0644);
	free(content);
	return r;
}

/* Field n (0-based) of a colon-separated line equals value. */
static bool field_is(const char *line, int n, const char *value)
{
	size_t length = strlen(value);

	for (int i = 0; i < n; i++) {
		line = strchr(line, ':');
		if (!line)
			return false;
		line++;
	}
	return strncmp(line, value, length) == 0 && (line[length] == ':' || line[length] == '\n');
}

/* uid 1000 may be somebody else on the host: in the sandbox it is pikaci. */
static bool drop_passwd(const char *line)
{
	char uid[16];

	snprintf(uid, sizeof(uid), "%d", PIKACI_USER_UID);
	return field_is(line, 0, PIKACI_USER_NAME) || field_is(line, 2, uid);
}

static bool drop_group(const char *line)
{
	char gid[16];

	snprintf(gid, sizeof(gid), "%d", PIKACI_USER_GID);
	return field_is(line, 0, PIKACI_USER_GROUP_NAME) || field_is(line, 2, gid);
}

static int prepare_layout(struct pikaci_sandbox *sandbox)
{
	char passwd[256], group[128];
	int r;

	snprintf(passwd, sizeof(passwd), "%s:x:%d:%d:%s:%s:/bin/bash\n", PIKACI_USER_NAME,
	         PIKACI_USER_UID, PIKACI_USER_GID, PIKACI_USER_NAME, PIKACI_USER_HOME);
	snprintf(group, sizeof(group), "%s:x:%d:%s\n", PIKACI_USER_GROUP_NAME, PIKACI_USER_GID,
	         PIKACI_USER_NAME);
	r = write_account_file(sandbox, "/etc/passwd", drop_passwd, passwd);
	if (r < 0)
		return r;
	r = write_account_file(sandbox, "/etc/group", drop_group, group);
	if (r < 0)
		return r;
	/* The image's layout: the workspace exists and so does the system profile's bin. */
	r = upper_make_parents(sandbox, PIKACI_WORKSPACE_DIR, true, 0755);
	if (r < 0)
		return r;
	return upper_make_parents(sandbox, PIKACI_SYSTEM_BIN_DIR, true, 0755);
}

/* A host folder bound read-write at the same path; it must be named absolutely. */
static int add_writable_bind(struct pikaci_sandbox *sandbox, const char *path, size_t length,
                             char *errbuf, size_t errsize)
{
	struct bind *grown;

	if (path[0] != '/') {
		snprintf(errbuf, errsize,
		         "a folder bound into the sandbox is not an absolute path: %.*s",
		         (int)length, path);
		return -EINVAL;
	}
	grown = realloc(sandbox->binds, (sandbox->n_binds + 1) * sizeof(*grown));
	if (!grown) {
		snprintf(errbuf, errsize, "out of memory");
		return -ENOMEM;
	}
	sandbox->binds = grown;
	grown[sandbox->n_binds] = (struct bind){ .writable = true, .directory = true };
	grown[sandbox->n_binds].path = strndup(path, length);
	if (!grown[sandbox->n_binds].path) {
		snprintf(errbuf, errsize, "out of memory");
		return -ENOMEM;
	}
	sandbox->n_binds++;
	return 0;
}

int pikaci_sandbox_new(const struct pikaci_sandbox_options *options,
                       struct pikaci_sandbox **ret_sandbox, char *errbuf, size_t errsize)
{
	static const struct pikaci_sandbox_options defaults = { 0 };
	struct pikaci_sandbox *sandbox;
	const char *base_dir;
	char *path = NULL;
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
	sandbox->environment =
	        options->environment ? options->environment : pikaci_sandbox_default_environment;
	sandbox->keep = options->keep;

	base_dir = options->base_dir ? options->base_dir : getenv("TMPDIR");
	if (!base_dir || !*base_dir)
		base_dir = "/tmp";
	if (asprintf(&path, "%s/pikaci-sandbox.XXXXXX", base_dir) < 0) {
		free(sandbox);
		return -ENOMEM;
	}
	if (!mkdtemp(path)) {
		r = -errno;
		snprintf(errbuf, errsize, "cannot create a sandbox folder in %s: %s", base_dir,
		         strerror(errno));
		free(path);
		free(sandbox);
		return r;
	}
	sandbox->base = path;
	if (asprintf(&sandbox->upper, "%s/upper", path) < 0) {
		sandbox->upper = NULL;
		r = -ENOMEM;
		snprintf(errbuf, errsize, "out of memory");
		goto fail;
	}
	for (const char *const *sub = (const char *const[]){ "upper", "work", "root", NULL }; *sub;
	     sub++) {
		char folder[PATH_MAX];

		snprintf(folder, sizeof(folder), "%s/%s", path, *sub);
		if (mkdir(folder, 0755) < 0) {
			r = -errno;
			snprintf(errbuf, errsize, "cannot create %s: %s", folder, strerror(errno));
			goto fail;
		}
	}
	for (char *const *bind = options->writable_binds; bind && *bind; bind++) {
		r = add_writable_bind(sandbox, *bind, strlen(*bind), errbuf, errsize);
		if (r < 0)
			goto fail;
	}
	/*
	 * PIKACI_SANDBOX_BIND adds host folders bound read-write into every sandbox, whoever
	 * makes it: a coverage build's counters must reach the host from guests run inside.
	 */
	for (const char *extra = getenv("PIKACI_SANDBOX_BIND"); extra && *extra;) {
		size_t length = strcspn(extra, ":");

		if (length > 0) {
			r = add_writable_bind(sandbox, extra, length, errbuf, errsize);
			if (r < 0)
				goto fail;
		}
		extra += length + (extra[length] == ':');
	}
	r = prepare_layout(sandbox);
	if (r < 0) {
		snprintf(errbuf, errsize, "%s", sandbox->error);
		goto fail;
	}
	*ret_sandbox = sandbox;
	return 0;

fail:
	sandbox->keep = false;
	pikaci_sandbox_free(sandbox);
	return r;
}

void pikaci_sandbox_free(struct pikaci_sandbox *sandbox)
{
	if (!sandbox)
		return;
	if (sandbox->base && !sandbox->keep)
		remove_tree(sandbox->base);
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

/* --- Resolving what the guest needs from the host ----------------------------------------- */

/*
 * The lower layer is the root filesystem alone: what lives on another mount, or under the
 * folders the sandbox covers with fresh mounts, is invisible inside unless bound in.
 */
static bool visible_inside(const char *path)
{
	static const char *const covered[] = { "/tmp/", "/proc/", "/dev/", "/sys/" };
	struct stat root, st;

	for (size_t i = 0; i < sizeof(covered) / sizeof(covered[0]); i++)
		if (strncmp(path, covered[i], strlen(covered[i])) == 0)
			return false;
	if (stat("/", &root) < 0 || stat(path, &st) < 0)
		return false;
	return st.st_dev == root.st_dev;
}

static char *resolve_program(const char *name)
{
	const char *search = getenv("PATH");
	char candidate[PATH_MAX];

	if (strchr(name, '/'))
		return realpath(name, NULL);
	if (!search)
		search = "/usr/local/bin:/usr/bin:/bin";
	while (*search) {
		size_t length = strcspn(search, ":");

		snprintf(candidate, sizeof(candidate), "%.*s/%s", (int)length, search, name);
		if (access(candidate, X_OK) == 0)
			return realpath(candidate, NULL);
		search += length + (search[length] == ':');
	}
	return NULL;
}

static int add_file_bind(struct pikaci_sandbox *sandbox, const char *path)
{
	struct bind *grown;
	int r;

	for (size_t i = 0; i < sandbox->n_binds; i++)
		if (strcmp(sandbox->binds[i].path, path) == 0)
			return 0;
	grown = realloc(sandbox->binds, (sandbox->n_binds + 1) * sizeof(*grown));
	if (!grown)
		return fail(sandbox, -ENOMEM, "out of memory");
	sandbox->binds = grown;
	grown[sandbox->n_binds] = (struct bind){ .path = strdup(path) };
	if (!grown[sandbox->n_binds].path)
		return fail(sandbox, -ENOMEM, "out of memory");
	sandbox->n_binds++;
	/* Outside /tmp the mount point lands in the upper layer: it is the sandbox's, not the
	 * guest's. */
	if (strncmp(path, "/tmp/", 5) != 0) {
		r = upper_write_file(sandbox, path, "", 0, 0644);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The guest's environment: the given one, plus passed_through[] where the host sets them. */
static char **environment_new(char *const *given)
{
	size_t n = 0, k = 0;
	char **environment;

	while (given[n])
		n++;
	environment = calloc(n + sizeof(passed_through) / sizeof(passed_through[0]) + 1,
	                     sizeof(*environment));
	if (!environment)
		return NULL;
	memcpy(environment, given, n * sizeof(*environment));
	for (size_t i = 0; i < sizeof(passed_through) / sizeof(passed_through[0]); i++) {
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

/* --- Inside: init ------------------------------------------------------------------------- */

static _Noreturn void init_exit(int code)
{
	coverage_dump();
	_exit(code);
}

static void init_report(int fd, char kind, int status, double seconds, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

static void init_report(int fd, char kind, int status, double seconds, const char *fmt, ...)
{
	struct init_message message = { .kind = kind, .status = status, .seconds = seconds };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message.text, sizeof(message.text), fmt, ap);
	va_end(ap);
	(void)!write(fd, &message, sizeof(message));
}

#define INIT_FAIL(fd, ...)                               \
	do {                                             \
		init_report(fd, 'E', 0, 0, __VA_ARGS__); \
		init_exit(1);                            \
	} while (0)

static int mount_at(const char *root, const char *target, const char *source, const char *type,
                    unsigned long flags, const char *data)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s%s", root, target) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return mount(source, path, type, flags, data);
}

static void init_make_dev(int report, const char *root)
{
	static const char *const nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
	static const char *const links[][2] = {
		{ "/proc/self/fd", "fd" },       { "/proc/self/fd/0", "stdin" },
		{ "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" },
		{ "pts/ptmx", "ptmx" },
	};
	char dev[PATH_MAX], path[PATH_MAX * 2], host[64];

	if (snprintf(dev, sizeof(dev), "%s/dev", root) >= (int)sizeof(dev))
		INIT_FAIL(report, "sandbox folder name too long: %s", root);
	if (mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=1m") < 0)
		INIT_FAIL(report, "cannot mount a tmpfs on /dev: %s", strerror(errno));
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		int fd;

		snprintf(path, sizeof(path), "%s/%s", dev, nodes[i]);
		snprintf(host, sizeof(host), "/dev/%s", nodes[i]);
		fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
		if (fd < 0)
			INIT_FAIL(report, "cannot create %s: %s", path, strerror(errno));
		close(fd);
		if (mount(host, path, "none", MS_BIND, NULL) < 0)
			INIT_FAIL(report, "cannot bind %s: %s", host, strerror(errno));
	}
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dev, links[i][1]);
		if (symlink(links[i][0], path) < 0)
			INIT_FAIL(report, "cannot create %s: %s", path, strerror(errno));
	}
	snprintf(path, sizeof(path), "%s/pts", dev);
	if (mkdir(path, 0755) < 0 || mount("devpts", path, "devpts", MS_NOSUID | MS_NOEXEC,
	                                   "newinstance,ptmxmode=0666,mode=0620") < 0)
		INIT_FAIL(report, "cannot mount /dev/pts: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/shm", dev);
	if (mkdir(path, 01777) < 0 ||
	    mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0)
		INIT_FAIL(report, "cannot mount /dev/shm: %s", strerror(errno));
}

static void init_bind(int report, const char *root, const struct bind *bind)
{
	char path[PATH_MAX * 2];

	snprintf(path, sizeof(path), "%s%s", root, bind->path);
	if (strncmp(bind->path, "/tmp/", 5) == 0) {
		/* The fresh /tmp is empty: make the way to the mount point in it. */
		for (char *slash = path + strlen(root) + 5; (slash = strchr(slash, '/')); slash++) {
			*slash = '\0';
			mkdir(path, 0755);
			*slash = '/';
		}
		if (bind->directory) {
			mkdir(path, 0755);
		} else {
			int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);

			if (fd >= 0)
				close(fd);
		}
	}
	if (mount(bind->path, path, "none", MS_BIND | MS_REC, NULL) < 0)
		INIT_FAIL(report, "cannot bind %s into the sandbox: %s", bind->path,
		          strerror(errno));
	if (!bind->writable &&
	    mount("none", path, "none", MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID, NULL) < 0)
		INIT_FAIL(report, "cannot make %s read-only: %s", bind->path, strerror(errno));
}

static void init_loopback_up(void)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	close(fd);
}

static void init_setup(const struct pikaci_sandbox *sandbox, int report)
{
	char root[PATH_MAX], options[PATH_MAX * 3];
	int mounted;

	snprintf(root, sizeof(root), "%s/root", sandbox->base);
	if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0)
		INIT_FAIL(report, "cannot make the mount namespace private: %s", strerror(errno));
	/*
	 * volatile (Linux 5.10): the guest's fsync()s stop at the page cache. An upper layer
	 * lives for one run and is never mounted again, so no flush protects anything; on a disk
	 * the guest's eight flushes were most of its run (bench/, BENCHMARKS.md). Older kernels
	 * refuse the option: mount without it.
	 */
	snprintf(options, sizeof(options), "lowerdir=/,upperdir=%s,workdir=%s/work,volatile",
	         sandbox->upper, sandbox->base);
	mounted = mount("overlay", root, "overlay", 0, options);
	if (mounted < 0 && errno == EINVAL) {
		options[strlen(options) - strlen(",volatile")] = '\0';
		mounted = mount("overlay", root, "overlay", 0, options);
	}
	if (mounted < 0)
		INIT_FAIL(report, "cannot mount an overlay of / (upper layer %s): %s%s",
		          sandbox->upper, strerror(errno),
		          errno == ENODEV ? " (this kernel has no overlayfs)"
		          : errno == EINVAL
		                  ? " (the folder's filesystem cannot hold an upper layer; "
		                    "set TMPDIR to an ext4, xfs or tmpfs folder)"
		                  : "");
	if (mount_at(root, "/proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		INIT_FAIL(report, "cannot mount /proc: %s", strerror(errno));
	/* Host-wide sysctls stay out of reach. */
	{
		char sys[PATH_MAX * 2];

		snprintf(sys, sizeof(sys), "%s/proc/sys", root);
		if (mount(sys, sys, "none", MS_BIND, NULL) < 0 ||
		    mount("none", sys, "none", MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
			INIT_FAIL(report, "cannot make /proc/sys read-only: %s", strerror(errno));
	}
	init_make_dev(report, root);
	if (mount_at(root, "/tmp", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0)
		INIT_FAIL(report, "cannot mount a tmpfs on /tmp: %s", strerror(errno));
	for (size_t i = 0; i < sandbox->n_binds; i++)
		init_bind(report, root, &sandbox->binds[i]);

	if (chdir(root) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
		INIT_FAIL(report, "cannot pivot into the sandbox root: %s", strerror(errno));
	if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		INIT_FAIL(report, "cannot detach the old root: %s", strerror(errno));
	sethostname("pikaci-sandbox", strlen("pikaci-sandbox"));
	init_loopback_up();
}

/* Root inside, but without the capabilities that reach past the namespaces. */
static void drop_capabilities(void)
{
	static const int dropped[] = { CAP_SYS_ADMIN,  CAP_SYS_MODULE,   CAP_SYS_RAWIO,
		                       CAP_SYS_BOOT,   CAP_MKNOD,        CAP_SYS_TIME,
		                       CAP_MAC_ADMIN,  CAP_MAC_OVERRIDE, CAP_SYSLOG,
		                       CAP_WAKE_ALARM, CAP_BLOCK_SUSPEND };

	for (size_t i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++)
		prctl(PR_CAPBSET_DROP, dropped[i], 0, 0, 0);
}

static void reset_signals(void)
{
	sigset_t all;

	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
}

static _Noreturn void init_main(const struct pikaci_sandbox *sandbox, char *const argv[],
                                char *const environment[], int out, int err, int report)
{
	double started;
	pid_t guest;
	int devnull;

	coverage_reset();
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	init_setup(sandbox, report);

	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		INIT_FAIL(report, "cannot open /dev/null: %s", strerror(errno));
	started = now();
	guest = fork();
	if (guest < 0)
		INIT_FAIL(report, "cannot fork the guest: %s", strerror(errno));
	if (guest == 0) {
		reset_signals();
		setsid();
		if (dup2(devnull, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
			INIT_FAIL(report, "cannot set up the guest's standard streams: %s",
			          strerror(errno));
		/* Nothing else of the caller's leaks into the guest. */
		syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
		drop_capabilities();
		execve(argv[0], argv, environment);
		init_report(report, 'E', 127, 0, "cannot execute %s inside the sandbox: %s",
		            argv[0], strerror(errno));
		_exit(127);
	}
	close(out);
	close(err);
	close(devnull);
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, 0);

		if (pid == guest) {
			init_report(report, 'S', status, now() - started, "exited");
			/* Leaving kills everything else in the namespace. */
			init_exit(0);
		}
		if (pid < 0 && errno != EINTR)
			INIT_FAIL(report, "lost the guest: %s", strerror(errno));
	}
}

/* --- Outside: the run --------------------------------------------------------------------- */

struct capture {
	int fd;
	char **buffer;
	size_t *length;
	size_t capacity;
};

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
	if (*c->length + (size_t)n + 1 > c->capacity) {
		size_t capacity = c->capacity ? c->capacity : 4096;
		char *grown;

		while (capacity < *c->length + (size_t)n + 1)
			capacity *= 2;
		grown = realloc(*c->buffer, capacity);
		if (!grown)
			return -ENOMEM;
		*c->buffer = grown;
		c->capacity = capacity;
	}
	memcpy(*c->buffer + *c->length, chunk, (size_t)n);
	*c->length += (size_t)n;
	(*c->buffer)[*c->length] = '\0';
	return 1;
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
	struct init_message message = { 0 };
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, report[2] = { -1, -1 };
	char **resolved = NULL, **environment = NULL;
	size_t argc = 0;
	bool reported = false, killed = false;
	double started, kill_time = 0;
	pid_t child;
	int r = 0;

	if (sandbox->ran)
		return fail(sandbox, -EBUSY, "a sandbox runs once");
	sandbox->ran = true;
	if (!argv || !argv[0])
		return fail(sandbox, -EINVAL, "no command to run");

	while (argv[argc])
		argc++;
	resolved = calloc(argc + 1, sizeof(*resolved));
	if (!resolved)
		return fail(sandbox, -ENOMEM, "out of memory");
	for (size_t i = 0; i < argc; i++) {
		struct stat st;

		/*
		 * Inside, the working folder is /: a relative path to a host file (a guest behind a
		 * wrapper, `valgrind ./guest`) would name nothing, so it becomes absolute.
		 */
		if (i == 0)
			resolved[i] = resolve_program(argv[0]);
		else if (argv[i][0] != '/' && strchr(argv[i], '/') && stat(argv[i], &st) == 0 &&
		         S_ISREG(st.st_mode))
			resolved[i] = realpath(argv[i], NULL);
		else
			resolved[i] = strdup(argv[i]);
		if (!resolved[i]) {
			r = i == 0 ? fail(sandbox, -ENOENT, "cannot find %s: %s", argv[0],
			                  strchr(argv[0], '/') ? strerror(errno) : "not on PATH")
			           : fail(sandbox, -ENOMEM, "out of memory");
			goto out;
		}
	}
	/* Bind in the programs and files named on the command line that the overlay hides. */
	for (size_t i = 0; i < argc; i++) {
		struct stat st;

		if (resolved[i][0] != '/' || stat(resolved[i], &st) < 0 || !S_ISREG(st.st_mode) ||
		    visible_inside(resolved[i]))
			continue;
		r = add_file_bind(sandbox, resolved[i]);
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; i < sandbox->n_binds; i++) {
		struct bind *bind = &sandbox->binds[i];

		if (bind->directory && strncmp(bind->path, "/tmp/", 5) != 0 &&
		    !visible_inside(bind->path)) {
			r = upper_make_parents(sandbox, bind->path, true, 0755);
			if (r < 0)
				goto out;
		}
	}

	environment = environment_new(sandbox->environment);
	if (!environment) {
		r = fail(sandbox, -ENOMEM, "out of memory");
		goto out;
	}
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
	    pipe2(report, O_CLOEXEC) < 0) {
		r = fail(sandbox, -errno, "cannot make pipes: %s", strerror(errno));
		goto out;
	}
	fflush(NULL);
	started = now();
	child = (pid_t)syscall(SYS_clone,
	                       CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |
	                               CLONE_NEWUTS | SIGCHLD,
	                       NULL, NULL, NULL, NULL);
	if (child < 0) {
		r = fail(sandbox, -errno, "cannot create the sandbox's namespaces: %s%s",
		         strerror(errno),
		         errno == EPERM ? " (needs CAP_SYS_ADMIN: run as root, outside a "
		                          "restricted container)"
		                        : "");
		goto out;
	}
	if (child == 0) {
		close(out[0]);
		close(err[0]);
		close(report[0]);
		init_main(sandbox, resolved, environment, out[1], err[1], report[1]);
	}
	close(out[1]);
	close(err[1]);
	close(report[1]);
	out[1] = err[1] = report[1] = -1;

	{
		struct capture captures[2] = {
			{ out[0], &result.out, &result.out_length, 0 },
			{ err[0], &result.err, &result.err_length, 0 },
		};
		bool open_fds[3] = { true, true, true };

		while (open_fds[0] || open_fds[1] || open_fds[2]) {
			struct pollfd fds[3];
			nfds_t n = 0;
			int map[3];
			double left;
			int timeout_ms;

			for (int i = 0; i < 3; i++) {
				if (!open_fds[i])
					continue;
				fds[n] = (struct pollfd){ .fd = i < 2 ? captures[i].fd : report[0],
					                  .events = POLLIN };
				map[n++] = i;
			}
			left = killed ? kill_time + DRAIN_GRACE - now()
			              : started + deadline - now();
			if (left <= 0) {
				if (killed)
					break;
				kill(child, SIGKILL);
				killed = true;
				result.timed_out = !reported;
				kill_time = now();
				continue;
			}
			timeout_ms = left > 1e6 ? 1000000000 : (int)(left * 1000) + 1;
			if (poll(fds, n, timeout_ms) < 0) {
				if (errno == EINTR)
					continue;
				r = fail(sandbox, -errno, "poll: %s", strerror(errno));
				break;
			}
			for (nfds_t k = 0; k < n; k++) {
				int which = map[k], status;

				if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR)))
					continue;
				if (which < 2) {
					status = capture_read(&captures[which], which + 1,
					                      &result.truncated, output, userdata);
					if (status < 0) {
						r = fail(sandbox, status, "reading output: %s",
						         strerror(-status));
						open_fds[which] = false;
					} else if (status == 0) {
						open_fds[which] = false;
					}
					continue;
				}
				{
					struct init_message incoming;
					ssize_t got = read(report[0], &incoming, sizeof(incoming));

					if (got == (ssize_t)sizeof(incoming)) {
						/* The first error wins over the status that follows
						 * it. */
						if (!reported || message.kind != 'E')
							message = incoming;
						reported = true;
					} else if (got == 0) {
						open_fds[2] = false;
					}
				}
			}
		}
	}
	if (killed || r < 0)
		kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	if (r < 0)
		goto out;

	if (message.kind == 'E') {
		r = fail(sandbox, -EIO, "%s", message.text);
		goto out;
	}
	if (!reported && !result.timed_out) {
		r = fail(sandbox, -EIO, "the sandbox's init vanished without a word");
		goto out;
	}
	result.status = message.status;
	result.seconds = result.timed_out ? deadline : message.seconds;
	*ret_result = result;
	memset(&result, 0, sizeof(result));
out:
	pikaci_sandbox_result_clear(&result);
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
		if (report[i] >= 0)
			close(report[i]);
	}
	for (size_t i = 0; resolved && i < argc; i++)
		free(resolved[i]);
	free(resolved);
	free(environment);
	return r;
}

/* --- Reading what the guest left ---------------------------------------------------------- */

static bool is_whiteout(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

/* Opens `path` under the upper layer, one component at a time, never following a link. */
static int upper_open(const struct pikaci_sandbox *sandbox, const char *path, int flags)
{
	char copy[PATH_MAX];
	char *save = NULL, *part, *next;
	int dir, fd;

	if (path[0] != '/' || strlen(path) >= sizeof(copy))
		return -EINVAL;
	snprintf(copy, sizeof(copy), "%s", path + 1);
	dir = open(sandbox->upper, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (dir < 0)
		return -errno;
	part = strtok_r(copy, "/", &save);
	while (part) {
		next = strtok_r(NULL, "/", &save);
		fd = openat(dir, part,
		            (next ? O_DIRECTORY | O_RDONLY : flags) | O_NOFOLLOW | O_CLOEXEC);
		close(dir);
		if (fd < 0)
			return errno == ENOTDIR && next ? -ENOENT : -errno;
		dir = fd;
		part = next;
	}
	return dir;
}

int pikaci_sandbox_read_file(struct pikaci_sandbox *sandbox, const char *path, size_t max_length,
                             char **ret_bytes, size_t *ret_length)
{
	struct stat st;
	char *bytes;
	size_t length = 0;
	int fd;

	fd = upper_open(sandbox, path, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -errno;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		if (is_whiteout(&st))
			return -ENOENT;
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	}
	if ((size_t)st.st_size > max_length) {
		close(fd);
		return -EFBIG;
	}
	bytes = malloc((size_t)st.st_size + 1);
	if (!bytes) {
		close(fd);
		return -ENOMEM;
	}
	while (length < (size_t)st.st_size) {
		ssize_t n = read(fd, bytes + length, (size_t)st.st_size - length);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		length += (size_t)n;
	}
	close(fd);
	bytes[length] = '\0';
	*ret_bytes = bytes;
	*ret_length = length;
	return 0;
}

static bool upper_is_opaque(const char *host_path)
{
	char value[4];
	ssize_t n = lgetxattr(host_path, "trusted.overlay.opaque", value, sizeof(value));

	return n > 0 && value[0] == 'y';
}

bool pikaci_sandbox_path_exists(struct pikaci_sandbox *sandbox, const char *path)
{
	char host[PATH_MAX * 2], inner[PATH_MAX];
	struct stat st;
	size_t length = strlen(path);

	if (path[0] != '/' || length >= sizeof(inner))
		return false;
	/* The merged view: the first upper component that is a whiteout or opaque decides. */
	for (size_t i = 1; i <= length; i++) {
		if (i < length && path[i] != '/')
			continue;
		memcpy(inner, path, i);
		inner[i] = '\0';
		snprintf(host, sizeof(host), "%s%s", sandbox->upper, inner);
		if (lstat(host, &st) < 0)
			continue;
		if (is_whiteout(&st))
			return false;
		if (i == length)
			return true;
		if (!S_ISDIR(st.st_mode))
			return false;
		if (upper_is_opaque(host)) {
			snprintf(host, sizeof(host), "%s%s", sandbox->upper, path);
			return lstat(host, &st) == 0 && !is_whiteout(&st);
		}
	}
	return lstat(path, &st) == 0;
}

/* nftw has no user pointer; a walk is short and single-threaded. */
static struct {
	struct pikaci_sandbox *sandbox;
	struct pikaci_sandbox_change *changes;
	size_t count;
	int error;
} walk;

static int walk_entry(const char *host, const struct stat *st, int flag, struct FTW *ftw)
{
	const char *inner = host + strlen(walk.sandbox->upper);
	struct pikaci_sandbox_change *grown;
	struct stat lower;
	bool in_lower;
	char kind;

	if (*inner == '\0' || is_prepared(walk.sandbox, inner))
		return 0;
	in_lower = lstat(inner, &lower) == 0;
	if (is_whiteout(st))
		kind = '-';
	else if (S_ISDIR(st->st_mode) && in_lower && S_ISDIR(lower.st_mode))
		kind = upper_is_opaque(host) ? '~' : 0;
	else
		kind = in_lower ? '~' : '+';
	if (!kind)
		return 0;
	grown = realloc(walk.changes, (walk.count + 1) * sizeof(*grown));
	if (!grown) {
		walk.error = -ENOMEM;
		return 1;
	}
	walk.changes = grown;
	grown[walk.count].kind = kind;
	grown[walk.count].path = strdup(inner);
	if (!grown[walk.count].path) {
		walk.error = -ENOMEM;
		return 1;
	}
	walk.count++;
	return 0;
}

static int change_compare(const void *a, const void *b)
{
	return strcmp(((const struct pikaci_sandbox_change *)a)->path,
	              ((const struct pikaci_sandbox_change *)b)->path);
}

int pikaci_sandbox_changes(struct pikaci_sandbox *sandbox,
                           struct pikaci_sandbox_change **ret_changes, size_t *ret_count)
{
	int r;

	walk.sandbox = sandbox;
	walk.changes = NULL;
	walk.count = 0;
	walk.error = 0;
	r = nftw(sandbox->upper, walk_entry, 16, FTW_PHYS | FTW_MOUNT);
	if (r < 0 || walk.error < 0) {
		pikaci_sandbox_changes_free(walk.changes, walk.count);
		return walk.error < 0 ? walk.error
		                      : fail(sandbox, -errno, "cannot walk %s: %s", sandbox->upper,
		                             strerror(errno));
	}
	if (walk.count > 1)
		qsort(walk.changes, walk.count, sizeof(*walk.changes), change_compare);
	*ret_changes = walk.changes;
	*ret_count = walk.count;
	return 0;
}

void pikaci_sandbox_changes_free(struct pikaci_sandbox_change *changes, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(changes[i].path);
	free(changes);
}
