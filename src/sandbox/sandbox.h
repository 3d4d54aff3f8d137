/* SPDX-License-Identifier: MIT */
/*
 * sandbox.h - run one guest process in fresh namespaces over an overlay of the real root.
 *
 * The root filesystem is an overlayfs whose lower layer is the real `/` and whose upper layer is
 * a per-run folder on the host: everything the guest writes lands there, so afterwards the
 * caller reads the guest's files from it and sees every path the guest created, changed or
 * removed. Nothing is written to the real root. Mount, pid, net (loopback only), ipc and uts
 * namespaces are fresh; /proc, /dev and /tmp are new. When the guest exits, or at the deadline,
 * every process in the sandbox is gone (the pid namespace's init exits).
 *
 * Needs CAP_SYS_ADMIN: pikaci_sandbox_new() returns -EPERM without it.
 */
#ifndef PIKACI_SANDBOX_H
#define PIKACI_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct pikaci_sandbox;

struct pikaci_sandbox_options {
	/* Where the per-run folder is made; NULL: $TMPDIR, else /tmp. */
	const char *base_dir;
	/* The guest's environment, NULL-terminated; NULL: pikaci_sandbox_default_environment. */
	char *const *environment;
	/*
	 * Host directories bound read-write at the same path (e.g. a coverage build folder);
	 * the environment's PIKACI_SANDBOX_BIND (colon-separated absolute paths) adds to them.
	 */
	char *const *writable_binds;
	/* Keep the per-run folder when the sandbox is freed (for repro bundles and debugging). */
	bool keep;
};

/* PATH, HOME, USER and LANG as a host's exec would give them. */
extern char *const pikaci_sandbox_default_environment[];

/* What one run did. */
struct pikaci_sandbox_result {
	int status;     /* the guest's wait status (WIFEXITED, WEXITSTATUS, ...) */
	bool timed_out; /* killed at the deadline: status is then meaningless */
	double seconds; /* from the guest's exec to its exit (or to the deadline) */
	char *out;      /* everything it wrote on stdout (NUL-terminated for convenience) */
	size_t out_length;
	char *err; /* and on stderr */
	size_t err_length;
	bool truncated; /* output beyond the capture limit was dropped (still streamed) */
};

/* Called with each chunk of output as it arrives; stream is 1 (stdout) or 2 (stderr). */
typedef void (*pikaci_sandbox_output_fn)(void *userdata, int stream, const char *bytes,
                                         size_t length);

/* A path the guest created ('+'), changed ('~') or removed ('-'), as seen in the upper layer. */
struct pikaci_sandbox_change {
	char kind;
	char *path; /* absolute, as inside the sandbox */
};

/*
 * Makes the per-run folder and prepares the contract layout the way a guest image has it:
 * /workspace/snapshot, /run/current-system/sw/bin, and user pikaci (uid 1000, gid 100, home
 * /home/pikaci) in the sandbox's own /etc/passwd and /etc/group. On failure returns a negative
 * code, writes why into errbuf and leaves nothing behind.
 */
int pikaci_sandbox_new(const struct pikaci_sandbox_options *options,
                       struct pikaci_sandbox **ret_sandbox, char *errbuf, size_t errsize);

/* Before the run: writes a file (parents made as needed) into the sandbox, e.g. the request. */
int pikaci_sandbox_write_file(struct pikaci_sandbox *sandbox, const char *path, const void *bytes,
                              size_t length, mode_t mode);
/* Before the run: makes a directory (and its parents) in the sandbox. */
int pikaci_sandbox_make_dir(struct pikaci_sandbox *sandbox, const char *path, mode_t mode);

/*
 * Runs argv (argv[0] is resolved on the host's PATH, relative paths to host files become
 * absolute, and files outside the lower layer, such as ones under the host's /tmp, are bound
 * in) as root inside the sandbox, with stdin from
 * /dev/null. Waits until the guest has exited and all of its output has been read, or until
 * `deadline` seconds have passed, then kills everything left. A sandbox runs once.
 * output (may be NULL) sees the output as it arrives. Returns 0 when the guest ran (whatever
 * its exit status), a negative code with pikaci_sandbox_error() set when it could not be run.
 */
int pikaci_sandbox_run(struct pikaci_sandbox *sandbox, char *const argv[], double deadline,
                       pikaci_sandbox_output_fn output, void *userdata,
                       struct pikaci_sandbox_result *ret_result);
void pikaci_sandbox_result_clear(struct pikaci_sandbox_result *result);

/*
 * After the run: reads a regular file the guest wrote, from the upper layer, never following
 * a symbolic link. -ENOENT when the guest did not write it, -EISDIR/-ELOOP/-EINVAL when it is
 * not a regular file, -EFBIG beyond max_length bytes. *ret_bytes is NUL-terminated; free() it.
 */
int pikaci_sandbox_read_file(struct pikaci_sandbox *sandbox, const char *path, size_t max_length,
                             char **ret_bytes, size_t *ret_length);
/* Whether the path exists in the sandbox after the run, as the guest left it (upper first). */
bool pikaci_sandbox_path_exists(struct pikaci_sandbox *sandbox, const char *path);

/*
 * After the run: every change the run made, sorted by path, excluding what the sandbox and the
 * caller prepared. Directories that existed already and only gained entries are not listed.
 */
int pikaci_sandbox_changes(struct pikaci_sandbox *sandbox,
                           struct pikaci_sandbox_change **ret_changes, size_t *ret_count);
void pikaci_sandbox_changes_free(struct pikaci_sandbox_change *changes, size_t count);

/* The upper layer's folder on the host (for inotify watches and repro bundles). */
const char *pikaci_sandbox_upper(const struct pikaci_sandbox *sandbox);
/* The host path of a path inside the sandbox's upper layer; free() it. */
char *pikaci_sandbox_upper_path(const struct pikaci_sandbox *sandbox, const char *path);
/* Why the last call failed. */
const char *pikaci_sandbox_error(const struct pikaci_sandbox *sandbox);

/* Unmounts nothing (the namespace is gone), removes the per-run folder unless kept. */
void pikaci_sandbox_free(struct pikaci_sandbox *sandbox);

#endif
