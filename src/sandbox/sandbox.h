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
 * Least privilege, and why not a user namespace. The guest is untrusted code. A user namespace
 * (bubblewrap's way) cannot carry the contract here: the lower layer is the host's own root,
 * whose files belong to host uid 0; with the guest's root mapped to an unprivileged host uid,
 * those files show as the overflow uid, and the guest's root could neither create /cargo-home
 * or /workspace entries in directories owned by host root nor chown them to 1000:100, which the
 * contract requires of it (an idmapped lower layer would, but overlayfs over idmapped mounts of
 * `/` is not something this machine kind offers). So the guest stays uid 0 of the host, made
 * small the way runc and systemd-nspawn do it:
 *  - capability bounding set allowlisted to CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID,
 *    SETUID, SETPCAP, NET_BIND_SERVICE, SYS_CHROOT, AUDIT_WRITE, SETFCAP (Docker's default set
 *    without MKNOD and NET_RAW); inheritable and ambient sets empty; no_new_privs set;
 *  - a seccomp filter (libseccomp) returning EPERM for open_by_handle_at, name_to_handle_at,
 *    bpf, perf_event_open, kexec_*, module loading, keyctl/add_key/request_key, ptrace,
 *    process_vm_*, the mount family, pivot_root, swapon/off, reboot, syslog, acct, setns,
 *    unshare/clone into new namespaces, userfaultfd, iopl/ioperm, clock setting; clone3 answers
 *    ENOSYS so libc
 *    falls back to clone, whose flags the filter can see; other architectures' calls kill;
 *  - runc's masked paths (/proc/kcore, /proc/keys, /proc/timer_list, /proc/sched_debug,
 *    /proc/latency_stats, /proc/acpi, /proc/scsi, ...) and read-only paths (/proc/sys,
 *    /proc/sysrq-trigger, /proc/irq, /proc/bus, /proc/fs); binds nosuid,nodev, read-only unless
 *    they must be written;
 *  - host secrets masked in the upper layer: /etc/shadow, /etc/gshadow and their backups are
 *    empty files, /root, /home, /etc/ssh and /etc/ssl/private are empty (opaque) folders;
 *  - per-run limits: SANDBOX_PIDS_MAX tasks, SANDBOX_MEMORY_BYTES of memory (tmpfs pages
 *    included), one CPU, through cgroup v2 where this process's cgroup delegates the
 *    controllers, else the v1 hierarchies where writable; /tmp and /dev/shm are 64 MiB tmpfs;
 *    the upper layer lives on a 256 MiB tmpfs that is never mounted on the host (a detached
 *    mount this process holds open), so it vanishes with this process whatever kills it.
 *    Without fsopen() (Linux before 5.2, or under valgrind 3.19, which does not know it) the
 *    upper layer is in the per-run folder on disk, unbounded, and limits_enforced says so.
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
	 * Host directories bound read-write (nosuid, nodev) at the same path, e.g. a coverage
	 * build folder. The library never reads the environment: programs split
	 * PIKACI_SANDBOX_BIND with pikaci_sandbox_binds_split() and pass it here.
	 */
	char *const *writable_binds;
	/* Keep the per-run folder when the sandbox is freed (for repro bundles and debugging). */
	bool keep;
};

/* PATH, HOME, USER and LANG as a host's exec would give them. */
extern char *const pikaci_sandbox_default_environment[];

/* A process seen inside the sandbox's pid namespace. */
struct pikaci_sandbox_process {
	int pid, pgid, sid;
	char comm[16];
};

#define PIKACI_SANDBOX_LEFTOVERS_MAX 32

/* Bounds the run reached (pikaci_sandbox_result.limits_hit). */
enum {
	PIKACI_SANDBOX_LIMIT_PIDS = 1,   /* a fork failed at the pids limit */
	PIKACI_SANDBOX_LIMIT_MEMORY = 2, /* the memory limit's OOM killer killed a process */
	PIKACI_SANDBOX_LIMIT_CPU = 4,    /* (enforced only: a CPU quota is never "hit") */
	PIKACI_SANDBOX_LIMIT_UPPER = 8,  /* (enforced only) the upper layer is a sized tmpfs */
};

/* What one run did. */
struct pikaci_sandbox_result {
	int status;     /* the guest's wait status (WIFEXITED, WEXITSTATUS, ...) */
	bool timed_out; /* killed at the deadline: status is then meaningless */
	double seconds; /* from the guest's exec to its exit (or to the deadline) */
	char *out;      /* everything it wrote on stdout (NUL-terminated for convenience) */
	size_t out_length;
	char *err; /* and on stderr */
	size_t err_length;
	bool truncated;           /* output beyond the capture limit was dropped (still streamed) */
	unsigned limits_hit;      /* PIKACI_SANDBOX_LIMIT_* the run reached */
	unsigned limits_enforced; /* PIKACI_SANDBOX_LIMIT_* this machine let the sandbox set */
	/*
	 * When the guest exited by itself: its pid inside the namespace and the processes still
	 * alive there at that moment (neither init, nor zombies, nor ones with SIGKILL pending).
	 */
	bool have_leftovers;
	int guest_pid;
	size_t n_leftovers;
	bool leftovers_truncated; /* more than PIKACI_SANDBOX_LEFTOVERS_MAX */
	struct pikaci_sandbox_process leftovers[PIKACI_SANDBOX_LEFTOVERS_MAX];
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
 * in) as root inside the sandbox, with stdin from /dev/null, supplementary groups 4 and 27
 * besides 0, SIGTERM blocked and SIGPIPE ignored (a guest must give its command a clean start,
 * [X6] and [X7]). Waits until the guest has exited and all of its output has been read, or until
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
 * not a regular file, -EMLINK when it has another hard link (a link made inside the sandbox
 * to a lower-layer file, /etc/shadow say, copies that file up: refused), -EFBIG beyond
 * max_length bytes. *ret_bytes is NUL-terminated; free() it.
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

/*
 * The upper layer's folder as this process reaches it (for inotify watches and repro bundles):
 * /proc/self/fd/N/upper, through the detached tmpfs this sandbox holds; valid in this process
 * until pikaci_sandbox_free().
 */
const char *pikaci_sandbox_upper(const struct pikaci_sandbox *sandbox);
/* The host path of a path inside the sandbox's upper layer; free() it. */
char *pikaci_sandbox_upper_path(const struct pikaci_sandbox *sandbox, const char *path);
/* Why the last call failed. */
const char *pikaci_sandbox_error(const struct pikaci_sandbox *sandbox);

/*
 * Removes the per-run folder and the run's cgroups; with `keep`, first copies the upper layer
 * (regular files, folders, symbolic links, whiteouts) to <per-run folder>/upper.
 */
void pikaci_sandbox_free(struct pikaci_sandbox *sandbox);

/*
 * For a SIGINT/SIGTERM handler (async-signal-safe): kills every sandbox of this process that
 * is running and removes every live sandbox's per-run folder and cgroups. Nothing is mounted on
 * the host, and the upper layers vanish when the process exits. The sandboxes must not be used
 * afterwards; the handler then re-raises the signal.
 */
void pikaci_sandbox_abandon_all(void);

/*
 * Splits a colon-separated list of absolute folders (PIKACI_SANDBOX_BIND's format) into a
 * NULL-terminated array for pikaci_sandbox_options.writable_binds; NULL for NULL or "".
 * Free with pikaci_sandbox_binds_free(). *ret is NULL on -ENOMEM.
 */
int pikaci_sandbox_binds_split(const char *list, char ***ret);
void pikaci_sandbox_binds_free(char **binds);

#endif
