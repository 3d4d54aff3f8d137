/* SPDX-License-Identifier: MIT */
/*
 * inside.c - the code that runs inside the namespaces: the sandbox's init and the guest's
 * start. Nothing here runs on the host's side of a namespace.
 *
 * init (pid 1 of the new pid namespace, in its own mount namespace) waits until the caller has
 * put it into the run's cgroups, mounts the overlay root, /proc with runc's masked and
 * read-only paths, a minimal /dev, sized tmpfs on /tmp and /dev/shm and the binds, pivots into
 * the root, forks the guest and reaps. When the guest exits it lists the processes still alive
 * in the namespace, reports over a pipe and exits; the kernel then kills whatever is left.
 *
 * The guest starts as root with supplementary groups 4 and 27, SIGTERM blocked and SIGPIPE
 * ignored (so a guest that does not clean up what it hands its command shows: [X6], [X7]), a
 * bounded capability set, no_new_privs and the seccomp filter of sandbox.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/close_range.h>

#include "sandbox-private.h"

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

/* The guest's supplementary groups (besides root's 0): adm and sudo on Debian. */
static const gid_t guest_groups[] = { 0, 4, 27 };

static _Noreturn void init_exit(int code)
{
	coverage_dump();
	_exit(code);
}

static void init_report(int fd, const struct init_message *message)
{
	(void)!write(fd, message, sizeof(*message));
}

static _Noreturn void init_fail(int fd, enum init_message_kind kind, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static _Noreturn void init_fail(int fd, enum init_message_kind kind, const char *fmt, ...)
{
	struct init_message message = { .kind = kind };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message.text, sizeof(message.text), fmt, ap);
	va_end(ap);
	init_report(fd, &message);
	/* The guest's process (a fork of init) leaves without writing init's counters twice. */
	if (kind == INIT_MESSAGE_EXEC_FAILED)
		_exit(127);
	init_exit(1);
}

#define SETUP_FAIL(fd, ...) init_fail(fd, INIT_MESSAGE_SETUP_FAILED, __VA_ARGS__)

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

/* --- /dev, /proc, /tmp and binds ---------------------------------------------------------- */

static void make_dev_nodes(int report, const char *dev)
{
	static const char *const nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
	static const char *const links[][2] = {
		{ "/proc/self/fd", "fd" },       { "/proc/self/fd/0", "stdin" },
		{ "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" },
		{ "pts/ptmx", "ptmx" },
	};
	char path[PATH_MAX * 2], host[64];

	for (size_t i = 0; i < ELEMENTSOF(nodes); i++) {
		int fd;

		snprintf(path, sizeof(path), "%s/%s", dev, nodes[i]);
		snprintf(host, sizeof(host), "/dev/%s", nodes[i]);
		fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
		if (fd < 0)
			SETUP_FAIL(report, "cannot create %s: %s", path, strerror(errno));
		close(fd);
		if (mount(host, path, "none", MS_BIND, NULL) < 0)
			SETUP_FAIL(report, "cannot bind %s: %s", host, strerror(errno));
	}
	for (size_t i = 0; i < ELEMENTSOF(links); i++) {
		snprintf(path, sizeof(path), "%s/%s", dev, links[i][1]);
		if (symlink(links[i][0], path) < 0)
			SETUP_FAIL(report, "cannot create %s: %s", path, strerror(errno));
	}
}

static void make_dev(int report, const char *root)
{
	char dev[PATH_MAX], path[PATH_MAX * 2];

	if (snprintf(dev, sizeof(dev), "%s/dev", root) >= (int)sizeof(dev))
		SETUP_FAIL(report, "sandbox folder name too long: %s", root);
	if (mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=1m") < 0)
		SETUP_FAIL(report, "cannot mount a tmpfs on /dev: %s", strerror(errno));
	make_dev_nodes(report, dev);
	snprintf(path, sizeof(path), "%s/pts", dev);
	if (mkdir(path, 0755) < 0 || mount("devpts", path, "devpts", MS_NOSUID | MS_NOEXEC,
	                                   "newinstance,ptmxmode=0666,mode=0620") < 0)
		SETUP_FAIL(report, "cannot mount /dev/pts: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/shm", dev);
	if (mkdir(path, 01777) < 0 ||
	    mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV,
	          "mode=1777,size=" SANDBOX_TMPFS_SIZE ",nr_inodes=" SANDBOX_TMPFS_INODES) < 0)
		SETUP_FAIL(report, "cannot mount /dev/shm: %s", strerror(errno));
}

/* runc's masked paths: files read as /dev/null, folders as an empty read-only tmpfs. */
static void mask_proc(int report, const char *root)
{
	static const char *const masked[] = {
		"/proc/acpi",        "/proc/asound",        "/proc/interrupts", "/proc/kcore",
		"/proc/keys",        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
		"/proc/sched_debug", "/proc/scsi",          "/proc/kallsyms",   "/proc/kpagecount",
		"/proc/kpageflags",  "/proc/kpagecgroup",   "/proc/sysvipc",    "/proc/config.gz",
	};
	char path[PATH_MAX * 2];
	struct stat st;

	for (size_t i = 0; i < ELEMENTSOF(masked); i++) {
		snprintf(path, sizeof(path), "%s%s", root, masked[i]);
		if (lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)
		            ? mount("tmpfs", path, "tmpfs",
		                    MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0")
		            : mount("/dev/null", path, "none", MS_BIND, NULL))
			SETUP_FAIL(report, "cannot mask %s: %s", masked[i], strerror(errno));
	}
}

/* runc's read-only paths: host-wide settings stay out of reach. */
static void protect_proc(int report, const char *root)
{
	static const char *const read_only[] = { "/proc/sys", "/proc/sysrq-trigger", "/proc/irq",
		                                 "/proc/bus", "/proc/fs" };
	char path[PATH_MAX * 2];

	for (size_t i = 0; i < ELEMENTSOF(read_only); i++) {
		snprintf(path, sizeof(path), "%s%s", root, read_only[i]);
		if (access(path, F_OK) < 0)
			continue;
		if (mount(path, path, "none", MS_BIND | MS_REC, NULL) < 0 ||
		    mount("none", path, "none",
		          MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		          NULL) < 0)
			SETUP_FAIL(report, "cannot make %s read-only: %s", read_only[i],
			           strerror(errno));
	}
}

/* The fresh /tmp is empty: make the way to a bind's mount point in it. */
static void make_tmp_mount_point(char *path, size_t root_length, bool directory)
{
	for (char *slash = path + root_length + 5; (slash = strchr(slash, '/')); slash++) {
		*slash = '\0';
		mkdir(path, 0755);
		*slash = '/';
	}
	if (directory) {
		mkdir(path, 0755);
	} else {
		int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);

		if (fd >= 0)
			close(fd);
	}
}

static void bind_in(int report, const char *root, const struct bind *bind)
{
	unsigned long flags = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV;
	char path[PATH_MAX * 2];

	snprintf(path, sizeof(path), "%s%s", root, bind->path);
	if (strncmp(bind->path, "/tmp/", 5) == 0)
		make_tmp_mount_point(path, strlen(root), bind->directory);
	if (mount(bind->path, path, "none", MS_BIND | MS_REC, NULL) < 0)
		SETUP_FAIL(report, "cannot bind %s into the sandbox: %s", bind->path,
		           strerror(errno));
	if (mount("none", path, "none", flags | (bind->writable ? 0 : MS_RDONLY), NULL) < 0)
		SETUP_FAIL(report, "cannot restrict %s: %s", bind->path, strerror(errno));
}

static void loopback_up(void)
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

static void mount_overlay(int report, const struct pikaci_sandbox *sandbox, const char *root)
{
	char options[PATH_MAX * 3];
	int mounted;

	/*
	 * volatile (Linux 5.10): the guest's fsync()s stop at the page cache. An upper layer
	 * lives for one run and is never mounted again, so no flush protects anything. Older
	 * kernels refuse the option: mount without it.
	 */
	if (sandbox->upper_mount >= 0)
		snprintf(options, sizeof(options),
		         "lowerdir=/,upperdir=/proc/self/fd/%d/upper,workdir=/proc/self/fd/%d/work,"
		         "volatile",
		         sandbox->upper_mount, sandbox->upper_mount);
	else /* on disk: see upper_on_disk() */
		snprintf(options, sizeof(options),
		         "lowerdir=/,upperdir=%s,workdir=%s/work,volatile", sandbox->upper,
		         sandbox->base);
	mounted = mount("overlay", root, "overlay", MS_NOSUID | MS_NODEV, options);
	if (mounted < 0 && errno == EINVAL) {
		options[strlen(options) - strlen(",volatile")] = '\0';
		mounted = mount("overlay", root, "overlay", MS_NOSUID | MS_NODEV, options);
	}
	if (mounted < 0)
		SETUP_FAIL(report, "cannot mount an overlay of /: %s%s", strerror(errno),
		           errno == ENODEV ? " (this kernel has no overlayfs)" : "");
}

static void setup_root(int report, const struct pikaci_sandbox *sandbox)
{
	char root[PATH_MAX];

	snprintf(root, sizeof(root), "%s/root", sandbox->base);
	if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0)
		SETUP_FAIL(report, "cannot make the mount namespace private: %s", strerror(errno));
	mount_overlay(report, sandbox, root);
	if (mount_at(root, "/proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		SETUP_FAIL(report, "cannot mount /proc: %s", strerror(errno));
	mask_proc(report, root);
	protect_proc(report, root);
	make_dev(report, root);
	if (mount_at(root, "/tmp", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV,
	             "mode=1777,size=" SANDBOX_TMPFS_SIZE ",nr_inodes=" SANDBOX_TMPFS_INODES) < 0)
		SETUP_FAIL(report, "cannot mount a tmpfs on /tmp: %s", strerror(errno));
	for (size_t i = 0; i < sandbox->n_binds; i++)
		bind_in(report, root, &sandbox->binds[i]);

	if (chdir(root) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
		SETUP_FAIL(report, "cannot pivot into the sandbox root: %s", strerror(errno));
	if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		SETUP_FAIL(report, "cannot detach the old root: %s", strerror(errno));
	sethostname("pikaci-sandbox", strlen("pikaci-sandbox"));
	loopback_up();
}

/* --- The guest's privileges --------------------------------------------------------------- */

static bool cap_allowed(int cap)
{
	static const int allowed[] = {
		CAP_CHOWN,   CAP_DAC_OVERRIDE,     CAP_FOWNER,     CAP_FSETID,
		CAP_KILL,    CAP_SETGID,           CAP_SETUID,     CAP_SETPCAP,
		CAP_SETFCAP, CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_AUDIT_WRITE,
	};

	for (size_t i = 0; i < ELEMENTSOF(allowed); i++)
		if (allowed[i] == cap)
			return true;
	return false;
}

/* Bounding set to the allowlist; nothing inheritable or ambient. */
static int restrict_capabilities(void)
{
	struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { 0 };

	for (int cap = 0; cap <= 63; cap++) {
		if (cap_allowed(cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return -errno;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	if (syscall(SYS_capget, &header, data) < 0)
		return -errno;
	data[0].inheritable = data[1].inheritable = 0;
	if (syscall(SYS_capset, &header, data) < 0)
		return -errno;
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -errno : 0;
}

static int deny(scmp_filter_ctx filter, int syscall_number)
{
	return seccomp_rule_add(filter, SCMP_ACT_ERRNO(EPERM), syscall_number, 0);
}

/* unshare() and clone() into a new namespace are denied, one flag at a time. */
static int deny_namespaces(scmp_filter_ctx filter)
{
	static const unsigned long flags[] = { CLONE_NEWNS,    CLONE_NEWUSER, CLONE_NEWPID,
		                               CLONE_NEWNET,   CLONE_NEWIPC,  CLONE_NEWUTS,
		                               CLONE_NEWCGROUP };
	int r = 0;

	for (size_t i = 0; r == 0 && i < ELEMENTSOF(flags); i++) {
		r = seccomp_rule_add(filter, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1,
		                     SCMP_A0(SCMP_CMP_MASKED_EQ, flags[i], flags[i]));
		if (r == 0)
			r = seccomp_rule_add(filter, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
			                     SCMP_A0(SCMP_CMP_MASKED_EQ, flags[i], flags[i]));
	}
	/* clone3's flags sit in memory the filter cannot read: ENOSYS makes libc use clone. */
	if (r == 0)
		r = seccomp_rule_add(filter, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	return r;
}

static int load_seccomp(void)
{
	static const int denied[] = {
		SCMP_SYS(open_by_handle_at),
		SCMP_SYS(name_to_handle_at),
		SCMP_SYS(bpf),
		SCMP_SYS(perf_event_open),
		SCMP_SYS(kexec_load),
		SCMP_SYS(kexec_file_load),
		SCMP_SYS(init_module),
		SCMP_SYS(finit_module),
		SCMP_SYS(delete_module),
		SCMP_SYS(keyctl),
		SCMP_SYS(add_key),
		SCMP_SYS(request_key),
		SCMP_SYS(ptrace),
		SCMP_SYS(process_vm_readv),
		SCMP_SYS(process_vm_writev),
		SCMP_SYS(mount),
		SCMP_SYS(umount2),
		SCMP_SYS(pivot_root),
		SCMP_SYS(move_mount),
		SCMP_SYS(open_tree),
		SCMP_SYS(fsopen),
		SCMP_SYS(fsconfig),
		SCMP_SYS(fsmount),
		SCMP_SYS(fspick),
		SCMP_SYS(mount_setattr),
		SCMP_SYS(swapon),
		SCMP_SYS(swapoff),
		SCMP_SYS(reboot),
		SCMP_SYS(syslog),
		SCMP_SYS(acct),
		SCMP_SYS(setns),
		SCMP_SYS(userfaultfd),
		SCMP_SYS(iopl),
		SCMP_SYS(ioperm),
		SCMP_SYS(quotactl),
		SCMP_SYS(lookup_dcookie),
		SCMP_SYS(fanotify_init),
		SCMP_SYS(settimeofday),
		SCMP_SYS(clock_settime),
		SCMP_SYS(clock_adjtime),
		SCMP_SYS(adjtimex),
		SCMP_SYS(personality),
	};
	scmp_filter_ctx filter = seccomp_init(SCMP_ACT_ALLOW);
	int r = filter ? 0 : -ENOMEM;

	for (size_t i = 0; r == 0 && i < ELEMENTSOF(denied); i++)
		r = deny(filter, denied[i]);
	if (r == 0)
		r = deny_namespaces(filter);
	/* Another architecture's system calls (int 0x80, x32) would slip past: they kill. */
	if (r == 0)
		r = seccomp_attr_set(filter, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	/* Where libseccomp cannot probe the seccomp() call (valgrind): the thread, not all. */
	if (r == -EINVAL)
		r = seccomp_attr_set(filter, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL);
	if (r == 0)
		r = seccomp_load(filter);
	seccomp_release(filter);
	return r;
}

/* --- The guest ---------------------------------------------------------------------------- */

/* SIGTERM blocked and SIGPIPE ignored, everything else default ([X6]'s observation). */
static void guest_signals(void)
{
	sigset_t blocked;

	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&blocked);
	sigaddset(&blocked, SIGTERM);
	sigprocmask(SIG_SETMASK, &blocked, NULL);
}

static _Noreturn void guest_start(const struct init_args *args, int devnull)
{
	int r;

	setsid();
	if (setgroups(ELEMENTSOF(guest_groups), guest_groups) < 0)
		init_fail(args->report, INIT_MESSAGE_EXEC_FAILED,
		          "cannot set the guest's groups: %s", strerror(errno));
	if (dup2(devnull, 0) < 0 || dup2(args->out, 1) < 0 || dup2(args->err, 2) < 0)
		init_fail(args->report, INIT_MESSAGE_EXEC_FAILED,
		          "cannot set up the guest's standard streams: %s", strerror(errno));
	/* Nothing else of the caller's leaks into the guest. */
	syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
	r = restrict_capabilities();
	if (r == 0)
		r = load_seccomp();
	if (r < 0)
		init_fail(args->report, INIT_MESSAGE_EXEC_FAILED,
		          "cannot restrict the guest's privileges: %s", strerror(-r));
	guest_signals();
	execve(args->argv[0], args->argv, args->environment);
	init_fail(args->report, INIT_MESSAGE_EXEC_FAILED,
	          "cannot execute %s inside the sandbox: %s", args->argv[0], strerror(errno));
}

/* --- After the guest: what is still alive ------------------------------------------------- */

/* SIGKILL (signal 9) pending in a /proc/PID/status mask line. */
static bool kill_pending(const char *status_line)
{
	unsigned long long mask = strtoull(status_line, NULL, 16);

	return mask & (1ull << (SIGKILL - 1));
}

static bool process_dying(int pid)
{
	char path[64], line[256];
	bool dying = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f)
		return true;
	while (!dying && fgets(line, sizeof(line), f))
		if (!strncmp(line, "ShdPnd:", 7) || !strncmp(line, "SigPnd:", 7))
			dying = kill_pending(line + 7);
	fclose(f);
	return dying;
}

/* One process from /proc/PID/stat; false when it is gone, a zombie or dying. */
static bool process_read(int pid, struct pikaci_sandbox_process *ret)
{
	char path[64], stat[1024], state;
	const char *open_paren, *close_paren;
	size_t comm_length;
	unsigned flags;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (read_file_head(path, stat, sizeof(stat)) < 0)
		return false;
	open_paren = strchr(stat, '(');
	close_paren = strrchr(stat, ')');
	if (!open_paren || !close_paren || close_paren < open_paren)
		return false;
	memset(ret, 0, sizeof(*ret));
	if (sscanf(close_paren + 1, " %c %*d %d %d %*d %*d %u", &state, &ret->pgid, &ret->sid,
	           &flags) != 4)
		return false;
	/* PF_EXITING (0x4): a killed process on its way out, its signal already taken. */
	if (state == 'Z' || state == 'X' || (flags & 0x4) || process_dying(pid))
		return false;
	comm_length = (size_t)(close_paren - open_paren - 1);
	if (comm_length >= sizeof(ret->comm))
		comm_length = sizeof(ret->comm) - 1;
	memcpy(ret->comm, open_paren + 1, comm_length);
	ret->pid = pid;
	return true;
}

static void survey_leftovers(struct init_message *message)
{
	struct dirent *entry;
	DIR *proc = opendir("/proc");

	if (!proc)
		return;
	while ((entry = readdir(proc))) {
		struct pikaci_sandbox_process process;
		int pid = atoi(entry->d_name);

		if (pid <= 1 || !process_read(pid, &process))
			continue;
		if (message->n_leftovers == PIKACI_SANDBOX_LEFTOVERS_MAX) {
			message->leftovers_truncated = true;
			break;
		}
		message->leftovers[message->n_leftovers++] = process;
	}
	closedir(proc);
}

/* --- init --------------------------------------------------------------------------------- */

static void init_wait_for_go(int go, int report)
{
	unsigned char byte = 0;
	ssize_t n;

	do
		n = read(go, &byte, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1 || byte != GO_START)
		SETUP_FAIL(report, "the caller went away before the run");
	close(go);
}

static _Noreturn void init_reap(const struct init_args *args, pid_t guest, double started)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, 0);

		if (pid == guest) {
			struct init_message message = {
				.kind = INIT_MESSAGE_STATUS,
				.status = status,
				.seconds = monotonic_seconds() - started,
				.guest = guest,
			};

			survey_leftovers(&message);
			/*
			 * A process the guest killed just before it exited may not be gone yet
			 * (its signal taken, its exit not done): look again a few times, briefly,
			 * so only what really stays is reported. Costs nothing when none is left.
			 */
			for (int i = 0; i < 4 && message.n_leftovers > 0; i++) {
				struct timespec pause = { .tv_nsec = 50 * 1000 * 1000 };

				nanosleep(&pause, NULL);
				message.n_leftovers = 0;
				message.leftovers_truncated = false;
				survey_leftovers(&message);
			}
			init_report(args->report, &message);
			/* Leaving kills everything else in the namespace. */
			init_exit(0);
		}
		if (pid < 0 && errno != EINTR)
			SETUP_FAIL(args->report, "lost the guest: %s", strerror(errno));
	}
}

_Noreturn void init_main(const struct init_args *args)
{
	double started;
	pid_t guest;
	int devnull;

	coverage_reset();
	/* The caller's handlers (a SIGTERM cleanup, say) are not init's. */
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	init_wait_for_go(args->go, args->report);
	setup_root(args->report, args->sandbox);

	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		SETUP_FAIL(args->report, "cannot open /dev/null: %s", strerror(errno));
	started = monotonic_seconds();
	guest = fork();
	if (guest < 0)
		SETUP_FAIL(args->report, "cannot fork the guest: %s", strerror(errno));
	if (guest == 0)
		guest_start(args, devnull);
	close(args->out);
	close(args->err);
	close(devnull);
	/* The memory limit's OOM killer picks the guest's processes, never init. */
	{
		int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);

		if (fd >= 0) {
			(void)!write(fd, "-1000", 5);
			close(fd);
		}
	}
	init_reap(args, guest, started);
}
