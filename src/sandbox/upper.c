/* SPDX-License-Identifier: MIT */
/*
 * upper.c - the upper layer, on the host: the sized tmpfs that holds it, what the sandbox and
 * the caller put into it before the run, and reading what the guest left in it afterwards.
 *
 * Files come back as bytes read from a regular file with one link, never by linking or
 * copying the file itself: a hard link the guest makes to a lower-layer file copies that file
 * up, so a file with two links may be a host file in disguise.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <linux/mount.h>

#include "pikaci-contract.h"
#include "sandbox-private.h"

#define OPAQUE_XATTR "trusted.overlay.opaque"

/* --- The tmpfs --------------------------------------------------------------------------- */

static int fs_set(int fs, const char *key, const char *value)
{
	return (int)syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, key, value, 0);
}

/*
 * Without the new mount API (Linux before 5.2, or valgrind 3.19, which does not know fsopen):
 * the upper layer in the per-run folder on disk, with no bound on its size.
 */
static int upper_on_disk(struct pikaci_sandbox *sandbox)
{
	char path[PATH_MAX];

	for (const char *const *sub = (const char *const[]){ "upper", "work", NULL }; *sub; sub++) {
		snprintf(path, sizeof(path), "%s/%s", sandbox->base, *sub);
		if (mkdir(path, 0755) < 0)
			return sandbox_fail(sandbox, -errno, "cannot create %s: %s", path,
			                    strerror(errno));
	}
	if (asprintf(&sandbox->upper, "%s/upper", sandbox->base) < 0) {
		sandbox->upper = NULL;
		return sandbox_fail(sandbox, -ENOMEM, "out of memory");
	}
	return 0;
}

/* Async-signal-safe (getdents64, unlinkat, no allocation): removes name under parent. */
static void remove_at(int parent, const char *name, int depth)
{
	char buffer[2048];
	bool removed = true;
	int dir;

	if (unlinkat(parent, name, 0) == 0 || errno != EISDIR || depth > 64)
		return;
	dir = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir < 0)
		return;
	/* Entries removed while reading may move the others: read again until nothing goes. */
	while (removed) {
		long n;

		removed = false;
		lseek(dir, 0, SEEK_SET);
		while ((n = syscall(SYS_getdents64, dir, buffer, sizeof(buffer))) > 0) {
			for (long offset = 0; offset < n;) {
				struct dirent64 *entry = (struct dirent64 *)(buffer + offset);

				offset += entry->d_reclen;
				if (strcmp(entry->d_name, ".") == 0 ||
				    strcmp(entry->d_name, "..") == 0)
					continue;
				remove_at(dir, entry->d_name, depth + 1);
				removed = true;
			}
		}
		if (n < 0)
			break;
	}
	close(dir);
	unlinkat(parent, name, AT_REMOVEDIR);
}

void upper_remove_on_disk(const struct pikaci_sandbox *sandbox)
{
	int base;

	if (sandbox->upper_mount >= 0 || !sandbox->base)
		return;
	base = open(sandbox->base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (base < 0)
		return;
	remove_at(base, "upper", 0);
	remove_at(base, "work", 0);
	close(base);
}

/*
 * A tmpfs made with the new mount API and never attached anywhere on the host: the caller
 * reaches it through /proc/self/fd/N, init through the same path (it inherits the descriptor),
 * and it disappears with the last descriptor, whatever ends this process.
 */
int upper_mount_new(struct pikaci_sandbox *sandbox)
{
	int fs, mnt = -1;

	fs = (int)syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
	if (fs < 0 && errno == ENOSYS)
		return upper_on_disk(sandbox);
	if (fs < 0)
		return sandbox_fail(sandbox, -errno, "cannot make the upper layer's tmpfs: %s",
		                    strerror(errno));
	if (fs_set(fs, "size", SANDBOX_UPPER_SIZE) < 0 ||
	    fs_set(fs, "nr_inodes", SANDBOX_UPPER_INODES) < 0 || fs_set(fs, "mode", "0755") < 0 ||
	    syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0 ||
	    (mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC,
	                        MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)) < 0) {
		int r = sandbox_fail(sandbox, -errno, "cannot make the upper layer's tmpfs: %s",
		                     strerror(errno));

		close(fs);
		return r;
	}
	close(fs);
	if (mkdirat(mnt, "upper", 0755) < 0 || mkdirat(mnt, "work", 0755) < 0) {
		int r = sandbox_fail(sandbox, -errno, "cannot make the upper layer's folders: %s",
		                     strerror(errno));

		close(mnt);
		return r;
	}
	sandbox->upper_mount = mnt;
	if (asprintf(&sandbox->upper, "/proc/self/fd/%d/upper", mnt) < 0) {
		sandbox->upper = NULL;
		return sandbox_fail(sandbox, -ENOMEM, "out of memory");
	}
	return 0;
}

/* --- Walking a tree without following links or crossing mounts --------------------------- */

/* Called for each entry below the root, parents before children (pre) or after (post). */
typedef int (*tree_fn)(void *userdata, int dir, const char *name, const char *path,
                       const struct stat *st);

struct tree_walk {
	tree_fn pre, post;
	void *userdata;
	dev_t dev;
	int depth;
};

static int tree_walk_dir(struct tree_walk *w, int dir, char *path, size_t length);

static int tree_walk_entry(struct tree_walk *w, int dir, const char *name, char *path,
                           size_t length)
{
	size_t added = strlen(name) + 1;
	struct stat st;
	int r = 0;

	if (length + added >= PATH_MAX)
		return -ENAMETOOLONG;
	path[length] = '/';
	memcpy(path + length + 1, name, added);
	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (w->pre)
		r = w->pre(w->userdata, dir, name, path, &st);
	if (r == 0 && S_ISDIR(st.st_mode) && st.st_dev == w->dev) {
		int sub = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (sub < 0)
			return -errno;
		r = tree_walk_dir(w, sub, path, length + added);
		path[length + added] = '\0';
		/* tree_walk_dir closed sub */
	}
	if (r == 0 && w->post)
		r = w->post(w->userdata, dir, name, path, &st);
	return r;
}

/* Walks dir (which it closes); path[0..length) names it. */
static int tree_walk_dir(struct tree_walk *w, int dir, char *path, size_t length)
{
	DIR *d;
	struct dirent *entry;
	int r = 0;

	if (++w->depth > 256) {
		close(dir);
		return -ELOOP;
	}
	d = fdopendir(dir);
	if (!d) {
		r = -errno;
		close(dir);
		return r;
	}
	while (r == 0 && (errno = 0, entry = readdir(d))) {
		if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
			continue;
		r = tree_walk_entry(w, dirfd(d), entry->d_name, path, length);
		path[length] = '\0';
	}
	if (r == 0 && errno != 0)
		r = -errno;
	closedir(d);
	w->depth--;
	return r;
}

/* Walks what lies under root; entries' paths are given relative to it, with a leading '/'. */
static int tree_walk(const char *root, tree_fn pre, tree_fn post, void *userdata)
{
	struct tree_walk w = { .pre = pre, .post = post, .userdata = userdata };
	char path[PATH_MAX] = "";
	struct stat st;
	int dir = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dir < 0)
		return -errno;
	if (fstat(dir, &st) < 0) {
		close(dir);
		return -errno;
	}
	w.dev = st.st_dev;
	return tree_walk_dir(&w, dir, path, 0);
}

/* --- Preparing the upper layer ------------------------------------------------------------ */

bool upper_is_prepared(const struct pikaci_sandbox *sandbox, const char *path)
{
	for (size_t i = 0; i < sandbox->n_prepared; i++)
		if (strcmp(sandbox->prepared[i], path) == 0)
			return true;
	return false;
}

static int add_prepared(struct pikaci_sandbox *sandbox, const char *path)
{
	size_t n = sandbox->n_prepared;
	char *copy;

	if (upper_is_prepared(sandbox, path))
		return 0;
	if (ARRAY_GROW(sandbox->prepared, sandbox->prepared_capacity, n + 1) < 0 ||
	    !(copy = strdup(path)))
		return -ENOMEM;
	sandbox->prepared[sandbox->n_prepared++] = copy;
	return 0;
}

/* A directory of the lower layer, made in the upper one with the same mode and owner. */
static int upper_copy_dir(struct pikaci_sandbox *sandbox, const char *host,
                          const struct stat *lower)
{
	if (mkdir(host, lower->st_mode & 07777) == 0) {
		if (chown(host, lower->st_uid, lower->st_gid) < 0)
			return sandbox_fail(sandbox, -errno, "chown %s: %s", host, strerror(errno));
	} else if (errno != EEXIST) {
		return sandbox_fail(sandbox, -errno, "cannot create %s: %s", host, strerror(errno));
	}
	return 0;
}

/*
 * Makes every missing directory of `path` (inside the sandbox) in the upper layer. A directory
 * that exists in the lower layer gets its mode and owner, so the merged view does not change.
 */
int upper_make_parents(struct pikaci_sandbox *sandbox, const char *path, bool including_last,
                       mode_t mode)
{
	char inner[PATH_MAX], host[PATH_MAX * 2];
	size_t length = strlen(path);

	if (path[0] != '/' || length >= sizeof(inner))
		return sandbox_fail(sandbox, -EINVAL, "not an absolute path: %s", path);
	for (size_t i = 1; i <= length; i++) {
		struct stat lower;
		bool last = i == length;
		int r;

		if (!last && path[i] != '/')
			continue;
		if (last && !including_last)
			break;
		memcpy(inner, path, i);
		inner[i] = '\0';
		snprintf(host, sizeof(host), "%s%s", sandbox->upper, inner);
		if (lstat(inner, &lower) == 0 && S_ISDIR(lower.st_mode)) {
			r = upper_copy_dir(sandbox, host, &lower);
			if (r < 0)
				return r;
			continue;
		}
		if (mkdir(host, last ? mode : 0755) < 0) {
			if (errno == EEXIST)
				continue;
			return sandbox_fail(sandbox, -errno, "cannot create %s: %s", host,
			                    strerror(errno));
		}
		if (add_prepared(sandbox, inner) < 0)
			return sandbox_fail(sandbox, -ENOMEM, "out of memory");
	}
	return 0;
}

/* Also the sandbox's own, for mount points and masks. */
int upper_write_file(struct pikaci_sandbox *sandbox, const char *path, const void *bytes,
                     size_t length, mode_t mode)
{
	char *host;
	int fd, r;

	r = upper_make_parents(sandbox, path, false, 0755);
	if (r < 0)
		return r;
	host = pikaci_sandbox_upper_path(sandbox, path);
	if (!host)
		return sandbox_fail(sandbox, -ENOMEM, "out of memory");
	fd = open(host, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0) {
		r = sandbox_fail(sandbox, -errno, "cannot create %s: %s", host, strerror(errno));
		free(host);
		return r;
	}
	r = write_all(fd, bytes, length);
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0) {
		sandbox_fail(sandbox, r, "cannot write %s: %s", host, strerror(-r));
		unlink(host);
		free(host);
		return r;
	}
	free(host);
	if (add_prepared(sandbox, path) < 0)
		return sandbox_fail(sandbox, -ENOMEM, "out of memory");
	return 0;
}

int pikaci_sandbox_write_file(struct pikaci_sandbox *sandbox, const char *path, const void *bytes,
                              size_t length, mode_t mode)
{
	if (sandbox->ran)
		return sandbox_fail(sandbox, -EBUSY, "the sandbox has already run");
	return upper_write_file(sandbox, path, bytes, length, mode);
}

int pikaci_sandbox_make_dir(struct pikaci_sandbox *sandbox, const char *path, mode_t mode)
{
	if (sandbox->ran)
		return sandbox_fail(sandbox, -EBUSY, "the sandbox has already run");
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
		return sandbox_fail(sandbox, -ENOMEM, "out of memory");
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
		return sandbox_fail(sandbox, -ENOMEM, "out of memory");
	}
	r = upper_write_file(sandbox, path, content, size, 0644);
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

/*
 * Host secrets stay unreadable: files become empty, folders empty and opaque (the lower
 * layer's entries do not show through). Only what exists on the host is masked.
 */
static int mask_secrets(struct pikaci_sandbox *sandbox)
{
	static const char *const files[] = { "/etc/shadow", "/etc/gshadow", "/etc/shadow-",
		                             "/etc/gshadow-" };
	static const char *const folders[] = { "/root", "/home", "/etc/ssh", "/etc/ssl/private" };
	struct stat st;
	int r;

	for (size_t i = 0; i < ELEMENTSOF(files); i++) {
		if (lstat(files[i], &st) < 0)
			continue;
		r = upper_write_file(sandbox, files[i], "", 0, 0);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < ELEMENTSOF(folders); i++) {
		char host[PATH_MAX * 2];

		if (lstat(folders[i], &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		r = upper_make_parents(sandbox, folders[i], true, 0755);
		if (r < 0)
			return r;
		snprintf(host, sizeof(host), "%s%s", sandbox->upper, folders[i]);
		if (lsetxattr(host, OPAQUE_XATTR, "y", 1, 0) < 0)
			return sandbox_fail(sandbox, -errno, "cannot mask %s: %s", folders[i],
			                    strerror(errno));
		if (add_prepared(sandbox, folders[i]) < 0)
			return sandbox_fail(sandbox, -ENOMEM, "out of memory");
	}
	return 0;
}

int upper_prepare_layout(struct pikaci_sandbox *sandbox)
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
	r = mask_secrets(sandbox);
	if (r < 0)
		return r;
	/* The image's layout: the workspace exists and so does the system profile's bin. */
	r = upper_make_parents(sandbox, PIKACI_WORKSPACE_DIR, true, 0755);
	if (r < 0)
		return r;
	return upper_make_parents(sandbox, PIKACI_SYSTEM_BIN_DIR, true, 0755);
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

/* Why a file found in the upper layer cannot be read back, or 0. */
static int upper_refusal(const struct stat *st, size_t max_length)
{
	if (!S_ISREG(st->st_mode)) {
		if (is_whiteout(st))
			return -ENOENT;
		return S_ISDIR(st->st_mode) ? -EISDIR : -EINVAL;
	}
	if (st->st_nlink > 1)
		return -EMLINK;
	if ((size_t)st->st_size > max_length)
		return -EFBIG;
	return 0;
}

int pikaci_sandbox_read_file(struct pikaci_sandbox *sandbox, const char *path, size_t max_length,
                             char **ret_bytes, size_t *ret_length)
{
	struct stat st;
	int fd, r;

	fd = upper_open(sandbox, path, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	/* The sandbox's own rules first; then the shared reader, whose read errors stay errors. */
	r = upper_refusal(&st, max_length);
	if (r == 0)
		r = read_fd(fd, max_length, ret_bytes, ret_length);
	close(fd);
	return r;
}

static bool upper_is_opaque(const char *host_path)
{
	char value[4];
	ssize_t n = lgetxattr(host_path, OPAQUE_XATTR, value, sizeof(value));

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

struct changes_walk {
	struct pikaci_sandbox *sandbox;
	struct pikaci_sandbox_change *changes;
	size_t count, capacity;
};

static char change_kind(const struct pikaci_sandbox *sandbox, const char *inner,
                        const struct stat *st)
{
	char host[PATH_MAX * 2];
	struct stat lower;
	bool in_lower = lstat(inner, &lower) == 0;

	if (is_whiteout(st))
		return '-';
	if (S_ISDIR(st->st_mode) && in_lower && S_ISDIR(lower.st_mode)) {
		snprintf(host, sizeof(host), "%s%s", sandbox->upper, inner);
		return upper_is_opaque(host) ? '~' : 0;
	}
	return in_lower ? '~' : '+';
}

static int changes_entry(void *userdata, int dir, const char *name, const char *inner,
                         const struct stat *st)
{
	struct changes_walk *walk = userdata;
	char *copy;
	char kind;

	if (upper_is_prepared(walk->sandbox, inner))
		return 0;
	kind = change_kind(walk->sandbox, inner, st);
	if (!kind)
		return 0;
	if (ARRAY_GROW(walk->changes, walk->capacity, walk->count + 1) < 0 ||
	    !(copy = strdup(inner)))
		return -ENOMEM;
	walk->changes[walk->count++] = (struct pikaci_sandbox_change){ .kind = kind, .path = copy };
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
	struct changes_walk walk = { .sandbox = sandbox };
	int r;

	r = tree_walk(sandbox->upper, changes_entry, NULL, &walk);
	if (r < 0) {
		pikaci_sandbox_changes_free(walk.changes, walk.count);
		return sandbox_fail(sandbox, r, "cannot walk %s: %s", sandbox->upper, strerror(-r));
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

/* --- Keeping the upper layer -------------------------------------------------------------- */

static int copy_bytes(int from, int to)
{
	char chunk[65536];
	ssize_t n;

	while ((n = read(from, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		int r = write_all(to, chunk, (size_t)n);

		if (r < 0)
			return r;
	}
	return 0;
}

static int keep_entry(void *userdata, int dir, const char *name, const char *inner,
                      const struct stat *st)
{
	const char *kept = userdata;
	char target[PATH_MAX * 2], link[PATH_MAX];
	int from, to, r = 0;
	ssize_t n;

	snprintf(target, sizeof(target), "%s%s", kept, inner);
	if (S_ISDIR(st->st_mode))
		return mkdir(target, 0755) < 0 && errno != EEXIST ? -errno : 0;
	if (S_ISLNK(st->st_mode)) {
		n = readlinkat(dir, name, link, sizeof(link) - 1);
		if (n < 0)
			return -errno;
		link[n] = '\0';
		return symlink(link, target) < 0 ? -errno : 0;
	}
	if (is_whiteout(st))
		return mknod(target, S_IFCHR | 0000, makedev(0, 0)) < 0 ? -errno : 0;
	if (!S_ISREG(st->st_mode))
		return 0;
	/* Bytes into a fresh file, mode 0644: never a link to what the guest left. */
	from = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (from < 0)
		return -errno;
	to = open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (to < 0) {
		r = -errno;
		close(from);
		return r;
	}
	r = copy_bytes(from, to);
	close(from);
	if (close(to) < 0 && r == 0)
		r = -errno;
	return r;
}

/* Copies the upper layer to <per-run folder>/upper before the tmpfs goes away. */
int upper_keep(struct pikaci_sandbox *sandbox)
{
	char kept[PATH_MAX];

	if (sandbox->upper_mount < 0)
		return 0; /* on disk already */
	snprintf(kept, sizeof(kept), "%s/upper", sandbox->base);
	if (mkdir(kept, 0755) < 0 && errno != EEXIST)
		return -errno;
	return tree_walk(sandbox->upper, keep_entry, NULL, kept);
}
