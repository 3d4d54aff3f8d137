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
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake-server.h"
#include "shared.h"
#include "transport.h"

#define SETUP  (5.0 * time_scale)
#define MARGIN (1.5 * time_scale)

static double time_scale = 1;

struct fixture {
	struct fake_server server;
	char conf[96]; /* config.yml in the server's folder, for test_remote's INCUS_CONF */
	struct pikaci_transport *t;
	char errbuf[512];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (fake_server_init(&f->server) < 0) {
		free(f);
		return -1;
	}
	snprintf(f->conf, sizeof(f->conf), "%s/config.yml", f->server.dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	pikaci_transport_free(f->t);
	unlink(f->conf);
	fake_server_clear(&f->server);
	unsetenv("INCUS_CONF");
	free(f);
	return 0;
}

/* The n-th (from 0) logged line containing needle, copied into line; false when none. */
static bool request_line(const struct fixture *f, const char *needle, size_t n, char *line,
                         size_t size)
{
	FILE *log = fopen(f->server.log, "r");
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
	FILE *log = fopen(f->server.log, "r");
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
		.socket = f->server.socket,
		.image = "pikaci-lane",
		.setup_seconds = SETUP,
	};
	char line[4096];

	fake_server_start(&f->server, "ok");
	assert_int_equal(transport_new(f, &options), 0);
	assert_true(request_line(f, "BODY ", 0, line, sizeof(line)));
	assert_non_null(strstr(line, "\"type\":\"container\""));
	assert_non_null(strstr(line, "\"source\":{\"type\":\"image\",\"alias\":\"pikaci-lane\"}"));
	assert_int_equal(fake_server_requests(&f->server, "/state\n"), 0);
	assert_int_equal(fake_server_requests(&f->server, "POST /1.0/instances\n"), 1);
}

/* A VM whose agent answers at the 4th poll: nothing reaches it before that. */
static void test_vm_agent_late(void **state)
{
	struct fixture *f = *state;
	struct pikaci_incus_options options = {
		.socket = f->server.socket,
		.image = "pikaci-lane",
		.setup_seconds = SETUP,
		.agent_seconds = SETUP,
		.instance_type = "virtual-machine",
	};
	char line[4096];
	char *argv[] = { "/bin/true", NULL };
	struct pikaci_transport_result result = { 0 };

	fake_server_start(&f->server, "vm-late");
	assert_int_equal(transport_new(f, &options), 0);
	assert_true(request_line(f, "BODY ", 0, line, sizeof(line)));
	assert_non_null(strstr(line, "\"type\":\"virtual-machine\""));
	assert_int_equal(fake_server_requests(&f->server, "GET /1.0/instances/pikaci-"), 4);
	assert_int_equal(fake_server_requests(&f->server, "/state\n"), 4);
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
		.socket = f->server.socket,
		.image = "pikaci-lane",
		.setup_seconds = SETUP,
		.agent_seconds = 1.5 * time_scale,
		.instance_type = "virtual-machine",
	};
	char expected[128];
	double started;
	size_t polls;

	fake_server_start(&f->server, "vm-never");
	started = monotonic_seconds();
	assert_int_equal(transport_new(f, &options), -ETIMEDOUT);
	printf("# took %.2f s\n", monotonic_seconds() - started);
	assert_true(monotonic_seconds() - started <= 1.5 * time_scale + SETUP + MARGIN);
	assert_non_null(strstr(f->errbuf, "virtual machine pikaci-"));
	snprintf(expected, sizeof(expected), "Incus agent did not answer within %.1f s",
	         options.agent_seconds);
	assert_non_null(strstr(f->errbuf, expected));
	polls = fake_server_requests(&f->server, "/state\n");
	printf("# %zu polls\n", polls);
	/* Twice a second, and one more at the deadline. */
	assert_true(polls >= 2 && polls <= (size_t)(2 * options.agent_seconds) + 2);
	assert_int_equal(fake_server_requests(&f->server, "/exec"), 0);
	assert_int_equal(fake_server_instance_deletes(&f->server), 1);
}

/* Several --target: each new instance asks for the next member in turn. */
static void test_targets(void **state)
{
	struct fixture *f = *state;
	struct pikaci_incus_options options = {
		.socket = f->server.socket,
		.image = "pikaci-lane",
		.setup_seconds = SETUP,
	};
	const char *expected[] = { "?target=m1\n", "?target=%40arm\n", "?target=m1\n" };
	char line[4096];

	pikaci_incus_option_set(&options, PIKACI_INCUS_OPTION_TARGET, "m1");
	pikaci_incus_option_set(&options, PIKACI_INCUS_OPTION_TARGET, "@arm");
	fake_server_start(&f->server, "ok");
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
		.socket = f->server.socket,
		.image = "nixos/25.05",
		.image_server = "https://images.example.org",
		.image_protocol = "incus",
		.setup_seconds = SETUP,
	};
	char line[4096];

	fake_server_start(&f->server, "ok");
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
	        f->server.socket);
	assert_int_equal(fclose(conf), 0);
	setenv("INCUS_CONF", f->server.dir, 1);
	fake_server_start(&f->server, "ok");
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
		.socket = f->server.socket,
		.instance = "vm-lab",
		.setup_seconds = SETUP,
		.agent_seconds = SETUP,
	};

	fake_server_start(&f->server, "vm-late");
	assert_int_equal(transport_new(f, &options), 0);
	assert_int_equal(fake_server_requests(&f->server, "GET /1.0/instances/vm-lab/state\n"), 4);
	pikaci_transport_free(f->t);
	f->t = NULL;
	pikaci_incus_option_set(&options, PIKACI_INCUS_OPTION_TARGET, "m1");
	assert_int_equal(pikaci_transport_incus_new(&options, &f->t, f->errbuf, sizeof(f->errbuf)),
	                 -EINVAL);
	assert_non_null(strstr(f->errbuf, "not with an existing one"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_container, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vm_agent_late, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vm_agent_never, setup, teardown),
		cmocka_unit_test_setup_teardown(test_targets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_image_server, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remote, setup, teardown),
		cmocka_unit_test_setup_teardown(test_existing_vm, setup, teardown),
	};

	time_scale = fake_server_time_scale();
	if (!fake_server_runnable())
		return 77;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
