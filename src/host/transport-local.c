/* SPDX-License-Identifier: MIT */
/* transport-local.c - the `local` transport: a guest executable run in the overlay sandbox. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox.h"
#include "transport.h"

struct local {
	struct pikaci_transport base;
	struct pikaci_sandbox *sandbox;
};

static int local_status(struct local *local, int r)
{
	if (r < 0)
		pikaci_transport_fail(&local->base, r, "%s", pikaci_sandbox_error(local->sandbox));
	return r;
}

static int local_deliver(struct pikaci_transport *t, const char *path, const void *bytes,
                         size_t length)
{
	struct local *local = (struct local *)t;

	return local_status(local,
	                    pikaci_sandbox_write_file(local->sandbox, path, bytes, length, 0644));
}

static int local_make_dir(struct pikaci_transport *t, const char *path)
{
	struct local *local = (struct local *)t;

	return local_status(local, pikaci_sandbox_make_dir(local->sandbox, path, 0755));
}

static int local_run(struct pikaci_transport *t, char *const argv[], double deadline,
                     pikaci_output_fn output, void *userdata, struct pikaci_transport_result *ret)
{
	struct local *local = (struct local *)t;
	struct pikaci_sandbox_result result = { 0 };
	int r;

	r = pikaci_sandbox_run(local->sandbox, argv, deadline, output, userdata, &result);
	if (r < 0)
		return local_status(local, r);
	memset(ret, 0, sizeof(*ret));
	ret->timed_out = result.timed_out;
	ret->exit_code =
	        !result.timed_out && WIFEXITED(result.status) ? WEXITSTATUS(result.status) : -1;
	ret->signal = !result.timed_out && WIFSIGNALED(result.status) ? WTERMSIG(result.status) : 0;
	ret->seconds = result.seconds;
	ret->out = result.out;
	ret->out_length = result.out_length;
	ret->err = result.err;
	ret->err_length = result.err_length;
	ret->truncated = result.truncated;
	ret->limits_hit = result.limits_hit;
	ret->have_leftovers = result.have_leftovers;
	ret->guest_pid = result.guest_pid;
	ret->n_leftovers = result.n_leftovers;
	ret->leftovers_truncated = result.leftovers_truncated;
	for (size_t i = 0; i < result.n_leftovers && i < PIKACI_LEFTOVERS_MAX; i++) {
		const struct pikaci_sandbox_process *p = &result.leftovers[i];

		ret->leftovers[i] =
		        (struct pikaci_process){ .pid = p->pid, .pgid = p->pgid, .sid = p->sid };
		memcpy(ret->leftovers[i].comm, p->comm, sizeof(ret->leftovers[i].comm));
	}
	/* Never NULL: an empty output is an empty string. */
	if (!ret->out)
		ret->out = calloc(1, 1);
	if (!ret->err)
		ret->err = calloc(1, 1);
	if (!ret->out || !ret->err) {
		pikaci_transport_result_clear(ret);
		return pikaci_transport_fail(t, -ENOMEM, "out of memory");
	}
	return 0;
}

static int local_collect(struct pikaci_transport *t, const char *path, size_t max_length,
                         char **ret_bytes, size_t *ret_length)
{
	struct local *local = (struct local *)t;
	int r = pikaci_sandbox_read_file(local->sandbox, path, max_length, ret_bytes, ret_length);

	if (r < 0)
		pikaci_transport_fail(t, r, "%s: %s", path, strerror(-r));
	return r;
}

static int local_exists(struct pikaci_transport *t, const char *path)
{
	struct local *local = (struct local *)t;

	return pikaci_sandbox_path_exists(local->sandbox, path) ? 1 : 0;
}

static int local_changes(struct pikaci_transport *t, struct pikaci_change **ret_changes,
                         size_t *ret_count)
{
	struct local *local = (struct local *)t;
	struct pikaci_sandbox_change *changes = NULL;
	struct pikaci_change *copy;
	size_t count = 0;
	int r;

	r = pikaci_sandbox_changes(local->sandbox, &changes, &count);
	if (r < 0)
		return local_status(local, r);
	/* Same layout; the sandbox's type stays private to the sandbox. */
	copy = calloc(count ? count : 1, sizeof(*copy));
	if (!copy) {
		pikaci_sandbox_changes_free(changes, count);
		return pikaci_transport_fail(t, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < count; i++) {
		copy[i].kind = changes[i].kind;
		copy[i].path = changes[i].path;
		changes[i].path = NULL;
	}
	pikaci_sandbox_changes_free(changes, count);
	*ret_changes = copy;
	*ret_count = count;
	return 0;
}

static int local_watch(struct pikaci_transport *t, const char *dir, unsigned mask)
{
	struct local *local = (struct local *)t;
	char *host = pikaci_sandbox_upper_path(local->sandbox, dir);
	int fd;

	if (!host)
		return pikaci_transport_fail(t, -ENOMEM, "out of memory");
	/* The guest's writes show up on the upper layer's folder. */
	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0 || inotify_add_watch(fd, host, mask) < 0) {
		int r = pikaci_transport_fail(t, -errno, "cannot watch %s: %s", host,
		                              strerror(errno));

		if (fd >= 0)
			close(fd);
		free(host);
		return r;
	}
	free(host);
	return fd;
}

static void local_free(struct pikaci_transport *t)
{
	struct local *local = (struct local *)t;

	pikaci_sandbox_free(local->sandbox);
	free(local);
}

static const struct pikaci_transport_ops local_ops = {
	.name = "local",
	.deliver = local_deliver,
	.make_dir = local_make_dir,
	.run = local_run,
	.collect = local_collect,
	.exists = local_exists,
	.changes = local_changes,
	.watch = local_watch,
	.free = local_free,
};

int pikaci_transport_local_new(char *const *writable_binds, struct pikaci_transport **ret,
                               char *errbuf, size_t errsize)
{
	struct pikaci_sandbox_options options = { .writable_binds = writable_binds };
	struct local *local;
	int r;

	local = calloc(1, sizeof(*local));
	if (!local)
		return -ENOMEM;
	local->base.ops = &local_ops;
	r = pikaci_sandbox_new(&options, &local->sandbox, errbuf, errsize);
	if (r < 0) {
		free(local);
		return r;
	}
	*ret = &local->base;
	return 0;
}

_Static_assert((int)PIKACI_LIMIT_PIDS == (int)PIKACI_SANDBOX_LIMIT_PIDS &&
                       (int)PIKACI_LIMIT_MEMORY == (int)PIKACI_SANDBOX_LIMIT_MEMORY &&
                       PIKACI_LEFTOVERS_MAX == PIKACI_SANDBOX_LEFTOVERS_MAX,
               "the transport passes the sandbox's limits and leftovers through as they are");
