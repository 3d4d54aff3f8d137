/* SPDX-License-Identifier: MIT */
/*
 * test-incus-remote.c - issue 12's ways to make an instance, against tests/incus/fake-incus
 * (no real Incus; virtual machines cannot start on these machines: no vhost_vsock). The fake
 * checks each create request's body as Incus does and logs it; these tests assert what was
 * asked: a VM's type and the wait for its agent (answering late, never), the ?target= of each
 * instance in turn, an image pulled from an image server, and a remote of the user's Incus
 * client configuration reached over its unix socket.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "transport.h"

#define SETUP  (5.0 * time_scale)
#define MARGIN (1.5 * time_scale)

static double time_scale = 1;

struct fixture {
	pid_t server;
	char dir[40];
	char socket[80];
	char log[80];
	char conf[96];
	struct pikaci_transport *t;
	char errbuf[512];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/pikaci-fake-incus-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->socket, sizeof(f->socket), "%s/unix.socket", f->dir);
	snprintf(f->log, sizeof(f->log), "%s/requests", f->dir);
	snprintf(f->conf, sizeof(f->conf), "%s/config.yml", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	pikaci_transport_free(f->t);
	if (f->server > 0) {
		kill(f->server, SIGKILL);
		waitpid(f->server, NULL, 0);
	}
	unlink(f->socket);
	unlink(f->log);
	unlink(f->conf);
	rmdir(f->dir);
	unsetenv("INCUS_CONF");
	free(f);
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool server_listens(const struct fixture *f)
{
	struct sockaddr_un address = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool listens;

	snprintf(address.sun_path, sizeof(address.sun_path), "%s", f->socket);
	listens = fd >= 0 && connect(fd, (struct sockaddr *)&address, sizeof(address)) == 0;
	if (fd >= 0)
		close(fd);
	return listens;
}

/* Starts fake-incus in this mode and waits for its socket. */
static void server_start(struct fixture *f, const char *mode)
{
	const char *fake = getenv("PIKACI_FAKE_INCUS");

	assert_non_null(fake);
	f->server = fork();
	assert_true(f->server >= 0);
	if (f->server == 0) {
		execl(fake, fake, f->socket, mode, f->log, (char *)NULL);
		_exit(127);
	}
	/* The socket file appears at bind(), before listen(): wait until a connection is taken. */
	for (int i = 0; i < 200 && !server_listens(f); i++)
		usleep(50000);
	assert_true(server_listens(f));
}

/* How many requests the server saw whose line contains `needle`. */
static size_t requests(const struct fixture *f, const char *needle)
{
	FILE *log = fopen(f->log, "r");
	char line[1024];
	size_t count = 0;

	if (!log)
		return 0;
	while (fgets(line, sizeof(line), log))
		if (strstr(line, needle))
			count++;
	fclose(log);
	return count;
}

/* How many DELETEs of a container itself (not of its logs) the server saw. */
static size_t instance_deletes(const struct fixture *f)
{
	static const char prefix[] = "DELETE /1.0/instances/";
	FILE *log = fopen(f->log, "r");
	char line[1024];
	size_t count = 0;

	if (!log)
		return 0;
	while (fgets(line, sizeof(line), log))
		if (strncmp(line, prefix, strlen(prefix)) == 0 &&
		    !strchr(line + strlen(prefix), '/'))
			count++;
	fclose(log);
	return count;
}

/* The n-th (from 0) logged line containing needle, copied into line; false when none. */
static bool request_line(const struct fixture *f, const char *needle, size_t n, char *line,
                         size_t size)
{
	FILE *log = fopen(f->log, "r");
	bool found = false;

	if (!log)
		return false;
	while (!found && fgets(line, (int)size, log))
		if (strstr(line, needle) && n-- == 0)
			found = true;
	fclose(log);
	return found;
}

/* Where in the log (line number from 0) the first line containing needle is; -1: nowhere. */
static long request_index(const struct fixture *f, const char *needle, bool last)
{
	FILE *log = fopen(f->log, "r");
	char line[4096];
	long index = -1;

	if (!log)
		return -1;
	for (long i = 0; fgets(line, sizeof(line), log); i++)
		if (strstr(line, needle)) {
			index = i;
			if (!last)
				break;
		}
	fclose(log);
	return index;
}

static int transport_new(struct fixture *f, const struct pikaci_incus_options *options)
{
	int r = pikaci_transport_incus_new(options, &f->t, f->errbuf, sizeof(f->errbuf));

	if (r < 0)
		printf("# %s\n", f->errbuf);
	return r;
}

/* A container unless asked: the body says so, and there is no agent to wait for. */
static void test_container(void **state)
{
	struct fixture *f = *state;
	struct pikaci_incus_options options = {
		.socket = f->socket,
		.image = "pikaci-lane",
		.setup_seconds = SETUP,
	};
	char line[4096];

	server_start(f, "ok");
	assert_int_equal(transport_new(f, &options), 0);
	assert_true(request_line(f, "BODY ", 0, line, sizeof(line)));
	assert_non_null(strstr(line, "\"type\":\"container\""));
	assert_non_null(strstr(line, "\"source\":{\"type\":\"image\",\"alias\":\"pikaci-lane\"}"));
	assert_int_equal(requests(f, "/state\n"), 0);
	assert_int_equal(requests(f, "POST /1.0/instances\n"), 1);
}

/* A VM whose agent answers at the 4th poll: nothing reaches it before that. */
static void test_vm_agent_late(void **state)
{
	struct fixture *f = *state;
	struct pikaci_incus_options options = {
		.socket = f->socket,
		.image = "pikaci-lane",
		.setup_seconds = SETUP,
		.agent_seconds = SETUP,
		.instance_type = "virtual-machine",
	};
	char line[4096];
	char *argv[] = { "/bin/true", NULL };
	struct pikaci_transport_result result = { 0 };

	server_start(f, "vm-late");
	assert_int_equal(transport_new(f, &options), 0);
	assert_true(request_line(f, "BODY ", 0, line, sizeof(line)));
	assert_non_null(strstr(line, "\"type\":\"virtual-machine\""));
	assert_int_equal(requests(f, "GET /1.0/instances/pikaci-"), 4);
	assert_int_equal(requests(f, "/state\n"), 4);
	/* Files and exec go through the agent: the fake refuses them before it answers. */
	assert_int_equal(f->t->ops->deliver(f->t, "/srv/x", "x", 1), 0);
	assert_int_equal(f->t->ops->run(f->t, argv, 5, NULL, NULL, &result), 0);
	assert_int_equal(result.exit_code, 0);
	pikaci_transport_result_clear(&result);
	assert_true(request_index(f, "/state\n", true) < request_index(f, "/files?", false));
	assert_true(request_index(f, "/state\n", true) < request_index(f, "/exec", false));
}

/* An agent that never answers: a clear error naming the VM, on time, and the VM deleted. */
static void test_vm_agent_never(void **state)
{
	struct fixture *f = *state;
	struct pikaci_incus_options options = {
		.socket = f->socket,
		.image = "pikaci-lane",
		.setup_seconds = SETUP,
		.agent_seconds = 1.5 * time_scale,
		.instance_type = "virtual-machine",
	};
	char expected[128];
	double started;
	size_t polls;

	server_start(f, "vm-never");
	started = now();
	assert_int_equal(transport_new(f, &options), -ETIMEDOUT);
	printf("# took %.2f s\n", now() - started);
	assert_true(now() - started <= 1.5 * time_scale + SETUP + MARGIN);
	assert_non_null(strstr(f->errbuf, "virtual machine pikaci-"));
	snprintf(expected, sizeof(expected), "Incus agent did not answer within %.1f s",
	         options.agent_seconds);
	assert_non_null(strstr(f->errbuf, expected));
	polls = requests(f, "/state\n");
	printf("# %zu polls\n", polls);
	/* Twice a second, and one more at the deadline. */
	assert_true(polls >= 2 && polls <= (size_t)(2 * options.agent_seconds) + 2);
	assert_int_equal(requests(f, "/exec"), 0);
	assert_int_equal(instance_deletes(f), 1);
}

/* Several --target: each new instance asks for the next member in turn. */
static void test_targets(void **state)
{
	struct fixture *f = *state;
	struct pikaci_incus_options options = {
		.socket = f->socket,
		.image = "pikaci-lane",
		.setup_seconds = SETUP,
	};
	const char *expected[] = { "?target=m1\n", "?target=%40arm\n", "?target=m1\n" };
	char line[4096];

	pikaci_incus_option_set(&options, PIKACI_INCUS_OPTION_TARGET, "m1");
	pikaci_incus_option_set(&options, PIKACI_INCUS_OPTION_TARGET, "@arm");
	server_start(f, "ok");
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(transport_new(f, &options), 0);
		pikaci_transport_free(f->t);
		f->t = NULL;
	}
	for (size_t i = 0; i < 3; i++) {
		assert_true(request_line(f, "POST /1.0/instances?", i, line, sizeof(line)));
		printf("# %s", line);
		assert_non_null(strstr(line, expected[i]));
	}
}

/* --image-server: the daemon pulls the alias from there (and caches it). */
static void test_image_server(void **state)
{
	struct fixture *f = *state;
	struct pikaci_incus_options options = {
		.socket = f->socket,
		.image = "nixos/25.05",
		.image_server = "https://images.example.org",
		.image_protocol = "incus",
		.setup_seconds = SETUP,
	};
	char line[4096];

	server_start(f, "ok");
	assert_int_equal(transport_new(f, &options), 0);
	assert_true(request_line(f, "BODY ", 0, line, sizeof(line)));
	printf("# %s", line);
	assert_non_null(strstr(line, "\"alias\":\"nixos/25.05\""));
	assert_non_null(strstr(line, "\"mode\":\"pull\""));
	assert_non_null(strstr(line, "\"protocol\":\"incus\""));
	assert_non_null(strstr(line, "\"server\":\"https://images.example.org\""));
}

/* --remote NAME of config.yml, over its unix socket, with its project; REMOTE:ALIAS pulled. */
static void test_remote(void **state)
{
	struct fixture *f = *state;
	struct pikaci_incus_options options = {
		.remote = "fake",
		.image = "mirror:debian/12",
		.setup_seconds = SETUP,
	};
	char line[4096];
	FILE *conf = fopen(f->conf, "w");

	assert_non_null(conf);
	fprintf(conf,
	        "default-remote: local\n"
	        "remotes:\n"
	        "  fake:\n"
	        "    addr: unix://%s\n"
	        "    project: lab\n"
	        "    public: false\n"
	        "  mirror:\n"
	        "    addr: https://mirror.example.org\n"
	        "    protocol: simplestreams\n"
	        "    public: true\n",
	        f->socket);
	assert_int_equal(fclose(conf), 0);
	setenv("INCUS_CONF", f->dir, 1);
	server_start(f, "ok");
	assert_int_equal(transport_new(f, &options), 0);
	assert_true(request_line(f, "POST /1.0/instances", 0, line, sizeof(line)));
	assert_non_null(strstr(line, "?project=lab"));
	assert_true(request_line(f, "BODY ", 0, line, sizeof(line)));
	assert_non_null(strstr(line, "\"alias\":\"debian/12\""));
	assert_non_null(strstr(line, "\"server\":\"https://mirror.example.org\""));
	assert_non_null(strstr(line, "\"protocol\":\"simplestreams\""));
	/* The remote's name is checked before anything is asked. */
	options.remote = "nowhere";
	assert_int_equal(pikaci_transport_incus_new(&options, &f->t, f->errbuf, sizeof(f->errbuf)),
	                 -ENOENT);
	assert_non_null(strstr(f->errbuf, "config.yml: no remote called \"nowhere\""));
	/* An instance server cannot be an image source without a secret. */
	options.remote = "mirror";
	assert_int_equal(pikaci_transport_incus_new(&options, &f->t, f->errbuf, sizeof(f->errbuf)),
	                 -EINVAL);
	assert_non_null(strstr(f->errbuf, "is an image server"));
}

/* --incus NAME of a running VM: its agent is waited for too; --target makes no sense there. */
static void test_existing_vm(void **state)
{
	struct fixture *f = *state;
	struct pikaci_incus_options options = {
		.socket = f->socket,
		.instance = "vm-lab",
		.setup_seconds = SETUP,
		.agent_seconds = SETUP,
	};

	server_start(f, "vm-late");
	assert_int_equal(transport_new(f, &options), 0);
	assert_int_equal(requests(f, "GET /1.0/instances/vm-lab/state\n"), 4);
	pikaci_transport_free(f->t);
	f->t = NULL;
	pikaci_incus_option_set(&options, PIKACI_INCUS_OPTION_TARGET, "m1");
	assert_int_equal(pikaci_transport_incus_new(&options, &f->t, f->errbuf, sizeof(f->errbuf)),
	                 -EINVAL);
	assert_non_null(strstr(f->errbuf, "not with an existing one"));
}

int main(void)
{
	const char *scale = getenv("PIKACI_TIME_SCALE");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_container, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vm_agent_late, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vm_agent_never, setup, teardown),
		cmocka_unit_test_setup_teardown(test_targets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_image_server, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remote, setup, teardown),
		cmocka_unit_test_setup_teardown(test_existing_vm, setup, teardown),
	};

	if (scale && atof(scale) >= 1 && atof(scale) <= 100)
		time_scale = atof(scale);
	if (access("/usr/bin/python3", X_OK) < 0) {
		printf("1..0 # SKIP the fake Incus server needs /usr/bin/python3\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
