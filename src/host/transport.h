/* SPDX-License-Identifier: MIT */
/*
 * transport.h - how a request reaches a guest and the four files come back (CONTRACT §1).
 *
 * One small interface with two implementations: `local` runs a guest executable in the overlay
 * sandbox, `incus` talks to a real Incus over its REST API. pikaci_exchange() is the single
 * delivery-and-collection path of the project: the host and the conformance runner both use it,
 * and only judge what it brings back.
 */
#ifndef PIKACI_TRANSPORT_H
#define PIKACI_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

struct pikaci_transport;

/* A process still alive in the guest when it exited, as seen inside its pid namespace. */
struct pikaci_process {
	int pid, pgid, sid;
	char comm[16];
};

#define PIKACI_LEFTOVERS_MAX 32

/* Bounds a run reached (pikaci_transport_result.limits_hit); the local transport's alone. */
enum {
	PIKACI_LIMIT_PIDS = 1,   /* a fork failed at the task limit */
	PIKACI_LIMIT_MEMORY = 2, /* the memory limit's OOM killer killed a process */
};

/* What running the guest gave. */
struct pikaci_transport_result {
	int exit_code;  /* the guest process's exit code, -1 when it did not exit by itself */
	int signal;     /* the signal that ended it, or 0 */
	bool timed_out; /* the host-side deadline passed and the guest was killed ([D5]) */
	double seconds; /* from start to exit, as precisely as the transport can tell */
	char *out;      /* the guest's standard output, NUL-terminated */
	size_t out_length;
	char *err; /* and its standard error (empty where the transport merges them) */
	size_t err_length;
	bool truncated;
	unsigned limits_hit; /* PIKACI_LIMIT_* */
	/*
	 * When the transport can see them ([B6]): the guest's pid and the processes still alive
	 * when it exited, neither the sandbox's init nor zombies nor ones being killed.
	 */
	bool have_leftovers;
	int guest_pid;
	size_t n_leftovers;
	bool leftovers_truncated;
	struct pikaci_process leftovers[PIKACI_LEFTOVERS_MAX];
};

/* A path the run created ('+'), changed ('~') or removed ('-'). */
struct pikaci_change {
	char kind;
	char *path;
};

typedef void (*pikaci_output_fn)(void *userdata, int stream, const char *bytes, size_t length);

struct pikaci_transport_ops {
	const char *name;
	/* [D1]: place a file (parents made as needed), or a directory, before the run. */
	int (*deliver)(struct pikaci_transport *t, const char *path, const void *bytes,
	               size_t length);
	int (*make_dir)(struct pikaci_transport *t, const char *path);
	/* [D2]: run argv as root in the guest; output streams to `output` as it arrives. */
	int (*run)(struct pikaci_transport *t, char *const argv[], double deadline,
	           pikaci_output_fn output, void *userdata, struct pikaci_transport_result *ret);
	/* [D3]: bring a regular file back; -ENOENT when there is none. */
	int (*collect)(struct pikaci_transport *t, const char *path, size_t max_length,
	               char **ret_bytes, size_t *ret_length);
	/* 1 when the path exists in the guest after the run, 0 when not, or a negative code. */
	int (*exists)(struct pikaci_transport *t, const char *path);
	/* Optional: every path the run created, changed or removed. */
	int (*changes)(struct pikaci_transport *t, struct pikaci_change **ret_changes,
	               size_t *ret_count);
	/* Optional: an inotify descriptor watching a guest folder, set up before the run. */
	int (*watch)(struct pikaci_transport *t, const char *dir, unsigned mask);
	void (*free)(struct pikaci_transport *t);
};

/* Every implementation starts with this. */
struct pikaci_transport {
	const struct pikaci_transport_ops *ops;
	char error[512];
};

/* Sets t->error; returns code. */
int pikaci_transport_fail(struct pikaci_transport *t, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
const char *pikaci_transport_error(const struct pikaci_transport *t);
void pikaci_transport_free(struct pikaci_transport *t);
void pikaci_transport_result_clear(struct pikaci_transport_result *result);
void pikaci_changes_free(struct pikaci_change *changes, size_t count);

/* --- local: the overlay sandbox ----------------------------------------------------------- */

/*
 * A fresh sandbox (per-run folder in $TMPDIR or /tmp; the guest gets PATH, HOME=/root,
 * USER=root, LANG=C.UTF-8), with host folders bound read-write (NULL: none; programs pass
 * PIKACI_SANDBOX_BIND's, split by pikaci_sandbox_binds_split()). -EPERM when this process
 * cannot make namespaces (not root): callers skip, exit 77.
 */
int pikaci_transport_local_new(char *const *writable_binds, struct pikaci_transport **ret,
                               char *errbuf, size_t errsize);

/* --- incus: a real Incus over its REST API ----------------------------------------------- */

#define PIKACI_INCUS_TARGETS_MAX         64
#define PIKACI_INCUS_INSTANCE_CONFIG_MAX 32

struct pikaci_incus_options {
	const char *socket; /* the unix socket; NULL and no url: /var/lib/incus/unix.socket */
	const char *url;    /* or a remote server, https://host:8443 */
	const char *cert;   /* its client certificate and key (PEM), for url */
	const char *key;
	const char *ca;       /* the server's CA bundle; NULL: the system's */
	bool ca_pinned;       /* ca is the server's own certificate (servercerts/NAME.crt) */
	const char *instance; /* an existing, running instance to use as it is */
	const char *image;    /* or: a fresh container from this image alias, deleted afterwards */
	const char *project;  /* NULL: the default project */
	char *const *environment; /* the guest's environment; NULL: as the local transport's */
	double setup_seconds;     /* the bound of each phase around the run; 0: the default */
	/* Issue 12 (incus-config.h): VMs, remotes of the user's Incus client, image servers. */
	const char *instance_type;  /* "container" (NULL too) or "virtual-machine" */
	const char *remote;         /* a remote of the user's config.yml, instead of socket/url */
	const char *image_server;   /* image is an alias on this image server ... */
	const char *image_protocol; /* ... speaking "simplestreams" (NULL too) or "incus" */
	double agent_seconds;       /* a VM's agent must answer within this; 0: the default */
	const char *targets[PIKACI_INCUS_TARGETS_MAX]; /* cluster members or "@group"s */
	size_t n_targets;         /* how many --target; beyond the array's size: refused */
	unsigned *target_counter; /* shared with forked workers: the round-robin's next turn */
	/* With image: how each run gets its fresh, unmodified view of the image (--incus-isolation,
	 * as given in isolation_name; NULL: the default). */
	const char *isolation_name;
	enum pikaci_incus_isolation {
		/*
		 * The default: the run in an overlay (lower layer: the root of a running instance
		 * of the image, never written to; upper: a fresh tmpfs folder) in its own mount
		 * and pid namespaces, made by a static helper pushed into the instance
		 * (src/sandbox/incus-case.c). The instance is one of `pool`, else one of its own.
		 */
		PIKACI_INCUS_OVERLAY,
		/* A fresh container from the image for every run, deleted afterwards. */
		PIKACI_INCUS_CONTAINER,
	} isolation;
	/* Overlay: running instances pikaci_incus_pool_new() set up (NULL-terminated); NULL:
	 * the transport makes and deletes an instance of its own. */
	char *const *pool;
	/* --instance-config KEY=VALUE: set in every new instance's config (`incus launch -c`). */
	const char *instance_config[PIKACI_INCUS_INSTANCE_CONFIG_MAX];
	size_t n_instance_config; /* how many given; beyond the array's size: refused */
};

/* "overlay" or "container" as an isolation; -EINVAL for anything else. */
int pikaci_incus_isolation_parse(const char *text, enum pikaci_incus_isolation *ret);

/*
 * Overlay isolation for many runs: n instances from options->image, started and set up to
 * host runs side by side (a run in any of them is as fresh as in a container of its own; more
 * instances spread the runs, over a cluster's members too), all created at once.
 * *ret_names (NULL-terminated, each its own allocation) goes into options->pool; free it with
 * pikaci_incus_pool_free(), which deletes the instances (the reaper does when the program
 * dies first). Negative with errbuf saying why; nothing is left behind then.
 */
int pikaci_incus_pool_new(const struct pikaci_incus_options *options, size_t n, char ***ret_names,
                          char *errbuf, size_t errsize);
void pikaci_incus_pool_free(const struct pikaci_incus_options *options, char **names);

/*
 * How long the incus transport may take, whatever the server does (CONTRACT §1 [D5] bounds
 * the run itself): each of three phases gets at most setup_seconds (default
 * PIKACI_INCUS_SETUP_SECONDS) — before the run (connect, create and start, deliver), after it
 * (the output, collect, changes) and the teardown (stop and delete a container of ours) —
 * and the run at most its deadline plus PIKACI_INCUS_WAIT_SLACK for the server's answer. So
 * one exchange ends within deadline + 3 * setup_seconds + 1 s (a virtual machine's: plus
 * agent_seconds, its agent's wait, which has its own bound). Every request carries the time
 * left (libcurl's overall timeout), gives up a connection after 10 s and a server silent
 * for 10 s (beyond a server-side wait it asked for). An answer is at most
 * PIKACI_INCUS_BODY_MAX bytes, a collected file at most the caller's cap, an output log at
 * most PIKACI_COLLECT_MAX (cut there, marked truncated). /wait asks the server to wait and,
 * when it answers early anyway, backs off from 4 requests a second to one every 2 s.
 */
#define PIKACI_INCUS_SETUP_SECONDS 30.0
#define PIKACI_INCUS_WAIT_SLACK    1.0
#define PIKACI_INCUS_BODY_MAX      (16u << 20)
/* A virtual machine boots before its Incus agent answers: at most this much more set-up. */
#define PIKACI_INCUS_AGENT_SECONDS 120.0

/*
 * The connection options both programs take, in this order: --socket, --url, --cert, --key,
 * --ca, --project, and issue 12's --instance-type, --remote, --image-server, --image-protocol,
 * --target (repeatable), and issue 12's --incus-isolation, and --instance-config (repeatable).
 * PIKACI_INCUS_GETOPT(base) gives their struct option entries with the values base + 0 ...
 * base + _PIKACI_INCUS_OPTION_MAX - 1; pikaci_incus_option_set() stores one.
 */
enum {
	PIKACI_INCUS_OPTION_SOCKET,
	PIKACI_INCUS_OPTION_URL,
	PIKACI_INCUS_OPTION_CERT,
	PIKACI_INCUS_OPTION_KEY,
	PIKACI_INCUS_OPTION_CA,
	PIKACI_INCUS_OPTION_PROJECT,
	PIKACI_INCUS_OPTION_INSTANCE_TYPE,
	PIKACI_INCUS_OPTION_REMOTE,
	PIKACI_INCUS_OPTION_IMAGE_SERVER,
	PIKACI_INCUS_OPTION_IMAGE_PROTOCOL,
	PIKACI_INCUS_OPTION_TARGET,
	PIKACI_INCUS_OPTION_ISOLATION,
	PIKACI_INCUS_OPTION_INSTANCE_CONFIG,
	_PIKACI_INCUS_OPTION_MAX,
};
#define PIKACI_INCUS_GETOPT(base)                                                             \
	{ "socket", required_argument, NULL, (base) + PIKACI_INCUS_OPTION_SOCKET },           \
	        { "url", required_argument, NULL, (base) + PIKACI_INCUS_OPTION_URL },         \
	        { "cert", required_argument, NULL, (base) + PIKACI_INCUS_OPTION_CERT },       \
	        { "key", required_argument, NULL, (base) + PIKACI_INCUS_OPTION_KEY },         \
	        { "ca", required_argument, NULL, (base) + PIKACI_INCUS_OPTION_CA },           \
	        { "project", required_argument, NULL, (base) + PIKACI_INCUS_OPTION_PROJECT }, \
	        { "instance-type", required_argument, NULL,                                   \
		  (base) + PIKACI_INCUS_OPTION_INSTANCE_TYPE },                               \
	        { "remote", required_argument, NULL, (base) + PIKACI_INCUS_OPTION_REMOTE },   \
	        { "image-server", required_argument, NULL,                                    \
		  (base) + PIKACI_INCUS_OPTION_IMAGE_SERVER },                                \
	        { "image-protocol", required_argument, NULL,                                  \
		  (base) + PIKACI_INCUS_OPTION_IMAGE_PROTOCOL },                              \
	        { "target", required_argument, NULL, (base) + PIKACI_INCUS_OPTION_TARGET },   \
	        { "incus-isolation", required_argument, NULL,                                 \
		  (base) + PIKACI_INCUS_OPTION_ISOLATION },                                   \
	{                                                                                     \
		"instance-config", required_argument, NULL,                                   \
		        (base) + PIKACI_INCUS_OPTION_INSTANCE_CONFIG                          \
	}
/* Their help lines (after --project's), the same in both programs' usage. */
/* clang-format off */
#define PIKACI_INCUS_USAGE                                                                      \
	"  --remote NAME       a remote of the incus client's config.yml (in $INCUS_CONF, else\n" \
	"                      ~/.config/incus): its address, certificates and project; without\n" \
	"                      --remote, --socket or --url its default-remote when it exists\n"     \
	"  --instance-type T   container (default) or virtual-machine (its agent waited for)\n"    \
	"  --image-server URL  the image is an alias there, pulled and cached by the daemon\n"     \
	"                      (or: --incus-image REMOTE:ALIAS, an image remote of config.yml)\n" \
	"  --image-protocol P  the image server's: simplestreams (default) or incus\n"             \
	"  --target MEMBER     create instances on this cluster member, or @GROUP; repeated:\n"  \
	"                      each new instance on the next one in turn\n"                     \
	"  --incus-isolation overlay|container\n"                                                \
	"                      with --incus-image, how each run sees a fresh image: overlay\n"  \
	"                      (default), an overlay of its own over a running instance of\n"  \
	"                      the image; container, a fresh container per run\n"              \
	"  --instance-config KEY=VALUE\n"                                                        \
	"                      set KEY in every new instance's config, as incus launch -c\n"  \
	"                      (e.g. security.secureboot=false); repeatable, at most 32\n"
/* clang-format on */
void pikaci_incus_option_set(struct pikaci_incus_options *options, int which, const char *value);
/* NULL when the connection options go together, else what is wrong with them. */
const char *pikaci_incus_options_problem(const struct pikaci_incus_options *options);
/* Whether any connection option was given. */
bool pikaci_incus_options_given(const struct pikaci_incus_options *options);
/* The first connection option given, as typed ("--target"), for a usage error; NULL: none. */
const char *pikaci_incus_option_given_name(const struct pikaci_incus_options *options);

/*
 * The guest's command line as both programs build it: the words of wrapper (the value of
 * PIKACI_GUEST_WRAPPER, split on spaces and tabs, e.g. "valgrind --quiet"; NULL or empty for
 * none), then the n_command words of command. *ret_argv is NULL-terminated, every string its
 * own allocation: free with pikaci_guest_argv_free(). 0 or -ENOMEM; any number of words.
 */
int pikaci_guest_argv_new(const char *wrapper, char *const command[], size_t n_command,
                          char ***ret_argv);
void pikaci_guest_argv_free(char **argv);

/*
 * Connects (GET /1.0 must answer), and with `image` creates and starts a fresh instance
 * (incus-config.h: the remote, the image source, the type and cluster member); a virtual
 * machine's, or a given one's that is a VM, Incus agent is waited for before anything else.
 * Output arrives when the guest has finished (Incus records it), not streamed; stderr is
 * separate. changes() compares the §3 folders and the state folder's entries before and
 * after the run through the file API; watch() is not available (-EOPNOTSUPP).
 * Returns -ENOTSUP when built without libcurl.
 */
int pikaci_transport_incus_new(const struct pikaci_incus_options *options,
                               struct pikaci_transport **ret, char *errbuf, size_t errsize);

/*
 * Containers made from an image are deleted even when the program is stopped. Call once in
 * main(), before any worker is forked, when an image is used: it starts a reaper process (its
 * own session, so a terminal's ^C or a test runner's group kill does not reach it) that
 * every incus transport of this program and its forked workers tells about each container
 * it creates and deletes. When the last of them is gone — by exit, SIGKILL or anything — the
 * reaper deletes the containers still listed, then exits. It also installs SIGINT, SIGTERM
 * and SIGHUP handlers (not where a signal is ignored; a handler already there runs after)
 * that call pikaci_incus_reap() before the program dies, so its containers are gone before
 * it exits. Negative when the reaper could not be started (errbuf says why).
 */
int pikaci_incus_reaper_start(const struct pikaci_incus_options *options, char *errbuf,
                              size_t errsize);
/*
 * Async-signal-safe: the reaper deletes every container listed now; returns once it has
 * (within PIKACI_INCUS_SETUP_SECONDS), at once without a reaper. For a program's own signal
 * handler.
 */
void pikaci_incus_reap(void);

/* --- The exchange ------------------------------------------------------------------------- */

enum pikaci_file {
	PIKACI_FILE_LOG,
	PIKACI_FILE_STATUS,
	PIKACI_FILE_EVENTS,
	PIKACI_FILE_RESULT,
	_PIKACI_FILE_MAX,
};

/* The guest path of one of the four files of [D3]. */
const char *pikaci_file_path(enum pikaci_file file);

enum pikaci_delivery {
	PIKACI_DELIVER_FILE,        /* the request at its path, and the path as argument */
	PIKACI_DELIVER_ABSENT,      /* no file at the path, which is still passed */
	PIKACI_DELIVER_DIRECTORY,   /* a directory at the path */
	PIKACI_DELIVER_NO_ARGUMENT, /* the guest is started without the path ([X5]) */
};

struct pikaci_exchange {
	struct pikaci_transport_result run;
	struct {
		char *bytes; /* NUL-terminated */
		size_t length;
		int error; /* 0, or why it could not be collected (-ENOENT: not there) */
	} files[_PIKACI_FILE_MAX];
};

/* The largest lifecycle file collected; the log may hold a lot of output. */
#define PIKACI_COLLECT_MAX (64u << 20)

/*
 * [D1] delivers the request, [D2] runs guest_argv with the request path appended, [D3]
 * collects the four files. Returns 0 when the guest ran (whatever it did), a negative code
 * with the transport's error set when the exchange itself failed.
 */
int pikaci_exchange(struct pikaci_transport *t, enum pikaci_delivery delivery, const char *request,
                    size_t request_length, char *const guest_argv[], double deadline,
                    pikaci_output_fn output, void *userdata, struct pikaci_exchange *ret);
void pikaci_exchange_clear(struct pikaci_exchange *exchange);

#endif
