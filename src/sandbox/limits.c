/* SPDX-License-Identifier: MIT */
/*
 * limits.c - the run's cgroups, on the host: a task limit, a memory limit and one CPU.
 *
 * cgroup v2 when this process's own cgroup offers pids, memory and cpu to its children (a
 * delegated subtree); otherwise each controller's v1 hierarchy where this process's cgroup in
 * it is writable. A controller that neither offers is not enforced: the run goes ahead and
 * README.md says what is left (the pid namespace still ends every process at the deadline;
 * /tmp, /dev/shm and the upper layer stay sized tmpfs).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sandbox-private.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

static const char *const v1_names[_CGROUP_MAX] = { "pids", "memory", "cpu" };

/* This process's cgroup in a hierarchy ("" for v2's "0::"), from /proc/self/cgroup. */
static bool own_cgroup(const char *controller, char *out, size_t size)
{
	char line[1024];
	bool found = false;
	FILE *f = fopen("/proc/self/cgroup", "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *names = strchr(line, ':'), *path;

		if (!names || !(path = strchr(names + 1, ':')))
			continue;
		*path++ = '\0';
		path[strcspn(path, "\n")] = '\0';
		names++;
		if (controller[0] == '\0' ? names[0] == '\0' : strstr(names, controller) != NULL) {
			snprintf(out, size, "%s", strcmp(path, "/") == 0 ? "" : path);
			found = true;
		}
	}
	fclose(f);
	return found;
}

static int write_value(const char *dir, const char *file, const char *value)
{
	char path[1200];
	int fd, r = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, value, strlen(value)) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* The number after `key ` in a flat keyed file (pids.events, memory.events, ...); 0 if none. */
static uint64_t read_key(const char *dir, const char *file, const char *key)
{
	char path[1200], line[256];
	uint64_t value = 0;
	size_t length = strlen(key);
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, length) == 0 && line[length] == ' ')
			value = strtoull(line + length + 1, NULL, 10);
	fclose(f);
	return value;
}

static bool has_word(const char *dir, const char *file, const char *word)
{
	char path[1200], text[512];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (read_file_head(path, text, sizeof(text)) < 0)
		return false;
	for (char *p = strtok(text, " \n"); p; p = strtok(NULL, " \n"))
		if (strcmp(p, word) == 0)
			return true;
	return false;
}

static int settings_v2(const char *dir)
{
	char value[64];
	int r;

	snprintf(value, sizeof(value), "%d", SANDBOX_PIDS_MAX);
	r = write_value(dir, "pids.max", value);
	snprintf(value, sizeof(value), "%llu", SANDBOX_MEMORY_BYTES);
	if (r == 0)
		r = write_value(dir, "memory.max", value);
	if (r == 0)
		(void)write_value(dir, "memory.swap.max", "0");
	snprintf(value, sizeof(value), "%d 100000", SANDBOX_CPU_QUOTA_US);
	if (r == 0)
		r = write_value(dir, "cpu.max", value);
	return r;
}

static bool try_v2(struct limits *limits, const char *name)
{
	char own[256], dir[768];

	if (!own_cgroup("", own, sizeof(own)) || access(CGROUP_ROOT "/cgroup.controllers", F_OK))
		return false;
	snprintf(dir, sizeof(dir), CGROUP_ROOT "%s", own);
	if (!has_word(dir, "cgroup.subtree_control", "pids") ||
	    !has_word(dir, "cgroup.subtree_control", "memory") ||
	    !has_word(dir, "cgroup.subtree_control", "cpu"))
		return false;
	snprintf(limits->groups[CGROUP_PIDS].path, sizeof(limits->groups[0].path), "%s/%s", dir,
	         name);
	if (mkdir(limits->groups[CGROUP_PIDS].path, 0755) < 0 ||
	    settings_v2(limits->groups[CGROUP_PIDS].path) < 0) {
		rmdir(limits->groups[CGROUP_PIDS].path);
		limits->groups[CGROUP_PIDS].path[0] = '\0';
		return false;
	}
	limits->unified = true;
	return true;
}

static int settings_v1(enum cgroup_controller which, const char *dir)
{
	char value[64];
	int r;

	switch (which) {
	case CGROUP_PIDS:
		snprintf(value, sizeof(value), "%d", SANDBOX_PIDS_MAX);
		return write_value(dir, "pids.max", value);
	case CGROUP_MEMORY:
		snprintf(value, sizeof(value), "%llu", SANDBOX_MEMORY_BYTES);
		r = write_value(dir, "memory.limit_in_bytes", value);
		/* With swap accounting, swap counts too (absent without it: fine). */
		(void)write_value(dir, "memory.memsw.limit_in_bytes", value);
		return r;
	case CGROUP_CPU:
		r = write_value(dir, "cpu.cfs_period_us", "100000");
		snprintf(value, sizeof(value), "%d", SANDBOX_CPU_QUOTA_US);
		return r < 0 ? r : write_value(dir, "cpu.cfs_quota_us", value);
	default:
		return -EINVAL;
	}
}

static void try_v1(struct limits *limits, enum cgroup_controller which, const char *name)
{
	struct cgroup *group = &limits->groups[which];
	char own[256];

	if (!own_cgroup(v1_names[which], own, sizeof(own)))
		return;
	snprintf(group->path, sizeof(group->path), CGROUP_ROOT "/%s%s/%s", v1_names[which], own,
	         name);
	if (mkdir(group->path, 0755) < 0 || settings_v1(which, group->path) < 0) {
		rmdir(group->path);
		group->path[0] = '\0';
	}
}

/* Makes the run's cgroups, named `name`; what cannot be made stays unenforced. */
void limits_new(struct limits *limits, const char *name)
{
	memset(limits, 0, sizeof(*limits));
	if (try_v2(limits, name))
		return;
	for (int which = 0; which < _CGROUP_MAX; which++)
		try_v1(limits, (enum cgroup_controller)which, name);
}

int limits_enter(const struct limits *limits, pid_t pid)
{
	char value[32];
	int r = 0;

	snprintf(value, sizeof(value), "%d", (int)pid);
	for (int which = 0; which < _CGROUP_MAX; which++) {
		if (limits->groups[which].path[0] == '\0')
			continue;
		r = write_value(limits->groups[which].path, "cgroup.procs", value);
		if (r < 0)
			return r;
	}
	return 0;
}

unsigned limits_hit(const struct limits *limits)
{
	const char *pids = limits->groups[CGROUP_PIDS].path;
	const char *memory = limits->unified ? pids : limits->groups[CGROUP_MEMORY].path;
	unsigned hit = 0;

	if (pids[0] && read_key(pids, "pids.events", "max") > 0)
		hit |= PIKACI_SANDBOX_LIMIT_PIDS;
	if (memory[0] &&
	    read_key(memory, limits->unified ? "memory.events" : "memory.oom_control", "oom_kill"))
		hit |= PIKACI_SANDBOX_LIMIT_MEMORY;
	return hit;
}

/* Async-signal-safe: rmdir only. Empty once init is reaped (the namespace is gone). */
void limits_remove(struct limits *limits)
{
	for (int which = 0; which < _CGROUP_MAX; which++) {
		if (limits->groups[which].path[0] == '\0')
			continue;
		for (int attempt = 0; attempt < 100; attempt++) {
			if (rmdir(limits->groups[which].path) == 0 || errno != EBUSY)
				break;
			nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
		}
		limits->groups[which].path[0] = '\0';
	}
}

unsigned limits_enforced(const struct limits *limits)
{
	static const unsigned bits[_CGROUP_MAX] = { PIKACI_SANDBOX_LIMIT_PIDS,
		                                    PIKACI_SANDBOX_LIMIT_MEMORY,
		                                    PIKACI_SANDBOX_LIMIT_CPU };
	unsigned enforced = 0;

	if (limits->unified)
		return bits[CGROUP_PIDS] | bits[CGROUP_MEMORY] | bits[CGROUP_CPU];
	for (int which = 0; which < _CGROUP_MAX; which++)
		if (limits->groups[which].path[0])
			enforced |= bits[which];
	return enforced;
}
