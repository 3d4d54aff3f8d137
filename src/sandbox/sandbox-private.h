/* SPDX-License-Identifier: MIT */
/*
 * sandbox-private.h - what the sandbox's three parts share: the sandbox itself, the messages
 * between the caller and the sandbox's init, and each part's entry points.
 *
 *   sandbox.c  the public new/run/free, on the host
 *   upper.c    preparing the upper layer before the run and reading it after, on the host
 *   limits.c   the per-run cgroups (pids, memory, CPU), on the host
 *   inside.c   init and the guest's start, inside the namespaces
 */
#ifndef PIKACI_SANDBOX_PRIVATE_H
#define PIKACI_SANDBOX_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "sandbox.h"
#include "shared.h"

/* The bounds of one run; README.md "The sandbox" documents each. */
#define SANDBOX_PIDS_MAX     512
#define SANDBOX_MEMORY_BYTES (1024ull << 20)
#define SANDBOX_CPU_QUOTA_US 100000 /* per 100 ms: one CPU */
#define SANDBOX_TMPFS_SIZE   "64m"  /* /tmp and /dev/shm each */
#define SANDBOX_TMPFS_INODES "16384"
#define SANDBOX_UPPER_SIZE   "256m" /* upper layer and overlay work folder together */
#define SANDBOX_UPPER_INODES "65536"

struct bind {
	char *path;
	bool writable;
	bool directory;
};

/* One cgroup controller's per-run folder ("" when that controller is not enforced). */
struct cgroup {
	char path[1024];
};

enum cgroup_controller {
	CGROUP_PIDS,
	CGROUP_MEMORY,
	CGROUP_CPU,
	_CGROUP_MAX,
};

struct limits {
	bool unified; /* cgroup v2: all three share one folder, in pids */
	struct cgroup groups[_CGROUP_MAX];
};

struct pikaci_sandbox {
	char *base;      /* the per-run folder on disk: root/ (the mount point), upper/ if kept */
	char *upper;     /* the upper layer as this process reaches it: /proc/self/fd/N/upper */
	int upper_mount; /* the detached, sized tmpfs holding upper/ and work/; -1: on disk */
	char *const *environment;
	bool keep;
	bool ran;
	pid_t init;      /* while running: the sandbox's init, as the host sees it */
	char **prepared; /* paths inside the sandbox the sandbox or caller made, not the guest */
	size_t n_prepared, prepared_capacity;
	struct bind *binds;
	size_t n_binds, binds_capacity;
	struct limits limits;
	char error[512];
};

/* --- Messages between the caller and init (each smaller than PIPE_BUF: arrives whole) ---- */

/* Caller to init, once it has put init into the run's cgroups. */
enum go_message {
	GO_START = 'g',
};

/* Init to caller. */
enum init_message_kind {
	INIT_MESSAGE_NONE,
	INIT_MESSAGE_STATUS,       /* the guest exited: status, seconds, guest, leftovers */
	INIT_MESSAGE_SETUP_FAILED, /* the sandbox could not be made: text says why */
	INIT_MESSAGE_EXEC_FAILED,  /* the guest could not be executed: text says why */
};

struct init_message {
	enum init_message_kind kind;
	int status;
	double seconds;
	pid_t guest; /* the guest's pid inside the namespace */
	size_t n_leftovers;
	bool leftovers_truncated;
	struct pikaci_sandbox_process leftovers[PIKACI_SANDBOX_LEFTOVERS_MAX];
	char text[256];
};

/* What init needs; it only reads the sandbox. */
struct init_args {
	const struct pikaci_sandbox *sandbox;
	char *const *argv;
	char *const *environment;
	int out, err; /* the guest's stdout and stderr */
	int report;   /* init_message to the caller */
	int go;       /* go_message from the caller */
};

/* sandbox.c */
int sandbox_fail(struct pikaci_sandbox *sandbox, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* upper.c */
int upper_mount_new(struct pikaci_sandbox *sandbox);
int upper_make_parents(struct pikaci_sandbox *sandbox, const char *path, bool including_last,
                       mode_t mode);
int upper_write_file(struct pikaci_sandbox *sandbox, const char *path, const void *bytes,
                     size_t length, mode_t mode);
int upper_prepare_layout(struct pikaci_sandbox *sandbox);
int upper_keep(struct pikaci_sandbox *sandbox);
void upper_remove_on_disk(const struct pikaci_sandbox *sandbox);
bool upper_is_prepared(const struct pikaci_sandbox *sandbox, const char *path);

/* limits.c */
void limits_new(struct limits *limits, const char *name);
int limits_enter(const struct limits *limits, pid_t pid);
unsigned limits_hit(const struct limits *limits);
unsigned limits_enforced(const struct limits *limits);
void limits_remove(struct limits *limits);

/* inside.c */
_Noreturn void init_main(const struct init_args *args);

/* Whether a path on the host is visible inside through the lower layer (upper.c). */
bool visible_inside(const char *path);

#endif
