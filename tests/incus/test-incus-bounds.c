/* SPDX-License-Identifier: MIT */
/*
 * test-incus-bounds.c - the incus transport ends in bounded time and memory whatever the
 * server does (issue 11): against tests/incus/fake-incus on a unix socket (no real Incus), a
 * server that never answers, one that trickles a byte every half second, a create that never
 * ends, an endless output log and a /wait that answers "Running" at once. Each run must end
 * within its deadline plus three phase bounds (transport.h), and the /wait requests must stay
 * a few a second.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake-server.h"
#include "pikaci-contract.h"
#include "shared.h"
#include "transport.h"

/*
 * Each phase's bound in these tests, the run's deadline, and what the machine's load may add
 * to a bound that holds by construction; all stretched by PIKACI_TIME_SCALE (memcheck).
 */
#define SETUP    (2.0 * time_scale)
#define DEADLINE (3.0 * time_scale)
#define MARGIN   (1.5 * time_scale)

static double time_scale = 1;

struct fixture {
	struct fake_server server;
	struct pikaci_transport *t;
	struct pikaci_exchange exchange;
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
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	pikaci_exchange_clear(&f->exchange);
	pikaci_transport_free(f->t);
	fake_server_clear(&f->server);
	free(f);
	return 0;
}

/*
 * A fresh container from an image through the fake, each phase bounded by SETUP (the fake
 * knows containers, not the overlay isolation's helper).
 */
static int transport_new(struct fixture *f)
{
	struct pikaci_incus_options options = {
		.socket = f->server.socket,
		.image = "pikaci-lane",
		.setup_seconds = SETUP,
		.isolation = PIKACI_INCUS_CONTAINER,
	};

	return pikaci_transport_incus_new(&options, &f->t, f->errbuf, sizeof(f->errbuf));
}

/* Ends the transport, which deletes its container: what the server saw is complete then. */
static void transport_end(struct fixture *f)
{
	pikaci_transport_free(f->t);
	f->t = NULL;
}

/*
 * The set-up every test shares: fake-incus in `mode`, then a transport against it. Sets
 * *ret_started (when not NULL) to when the server listened; returns transport_new()'s result.
 */
static int transport_against(struct fixture *f, const char *mode, double *ret_started)
{
	double started = fake_server_start(&f->server, mode);

	if (ret_started)
		*ret_started = started;
	return transport_new(f);
}

static int exchange(struct fixture *f)
{
	char *argv[] = { PIKACI_GUEST_PATH, NULL };
	static const char request[] = "{}";
	int r;

	r = pikaci_exchange(f->t, PIKACI_DELIVER_FILE, request, sizeof(request) - 1, argv, DEADLINE,
	                    NULL, NULL, &f->exchange);
	if (r < 0)
		printf("# %s\n", pikaci_transport_error(f->t));
	return r;
}

static void assert_within(double started, double bound)
{
	double took = monotonic_seconds() - started;

	printf("# took %.2f s, bound %.2f s\n", took, bound);
	assert_true(took <= bound + MARGIN);
}

/* The fake behaves: the exchange works, and the container is deleted at the end. */
static void test_well_behaved(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(transport_against(f, "ok", NULL), 0);
	assert_int_equal(exchange(f), 0);
	assert_int_equal(f->exchange.run.exit_code, 0);
	assert_false(f->exchange.run.timed_out);
	assert_string_equal(f->exchange.run.out, "hello\n");
	assert_int_equal(f->exchange.files[PIKACI_FILE_RESULT].error, -ENOENT);
	transport_end(f);
	assert_int_equal(fake_server_instance_deletes(&f->server), 1);
}

/* Connects, sends the request, and no answer ever comes: the set-up bound ends it. */
static void test_stalled_connect(void **state)
{
	struct fixture *f = *state;
	double started;

	assert_int_equal(transport_against(f, "stall-connect", &started), -ETIMEDOUT);
	assert_within(started, SETUP);
	assert_non_null(strstr(f->errbuf, "connecting to Incus"));
}

/* A byte every half second never trips a low-speed limit; the phase's overall bound does. */
static void test_slow_loris(void **state)
{
	struct fixture *f = *state;
	double started;

	assert_true(transport_against(f, "slow-loris", &started) < 0);
	assert_within(started, SETUP);
}

/* The create never ends: set-up bound, then a teardown bound to delete what may exist. */
static void test_hung_create(void **state)
{
	struct fixture *f = *state;
	double started;

	assert_int_equal(transport_against(f, "hung-create", &started), -ETIMEDOUT);
	assert_within(started, 2 * SETUP);
	assert_non_null(strstr(f->errbuf, "creating container"));
	assert_int_equal(fake_server_instance_deletes(&f->server), 1);
}

/*
 * An output log that never ends is cut at PIKACI_COLLECT_MAX (or where the phase's time ran
 * out, on a slow machine), and the transfer stops there.
 */
static void test_endless_log(void **state)
{
	struct fixture *f = *state;
	double started;

	assert_int_equal(transport_against(f, "endless-log", &started), 0);
	assert_int_equal(exchange(f), 0);
	assert_true(f->exchange.run.truncated);
	printf("# %zu bytes of output kept\n", f->exchange.run.out_length);
	assert_true(f->exchange.run.out_length > 0);
	assert_true(f->exchange.run.out_length <= PIKACI_COLLECT_MAX);
	transport_end(f);
	assert_within(started, DEADLINE + 3 * SETUP + PIKACI_INCUS_WAIT_SLACK);
}

/* /wait answers "Running" at once: the guest times out on time, polled a few times a second. */
static void test_fast_wait(void **state)
{
	struct fixture *f = *state;
	double started;
	size_t waits;

	assert_int_equal(transport_against(f, "fast-wait", &started), 0);
	assert_int_equal(exchange(f), 0);
	assert_true(f->exchange.run.timed_out);
	transport_end(f);
	assert_within(started, DEADLINE + 3 * SETUP + PIKACI_INCUS_WAIT_SLACK);
	/* The run and the settling after the stop: at most 4 a second, and backing off. */
	waits = fake_server_requests(&f->server, "/wait?timeout=");
	printf("# %zu /wait requests in %.1f s\n", waits, monotonic_seconds() - started);
	assert_true(waits <= (size_t)(4 * (DEADLINE + SETUP) + 4));
	assert_int_equal(fake_server_instance_deletes(&f->server), 1);
}

/* The bound itself is checked: not NaN, infinite or negative. */
static void test_bad_bound(void **state)
{
	struct fixture *f = *state;
	struct pikaci_incus_options options = {
		.socket = f->server.socket,
		.image = "pikaci-lane",
	};
	const double bad[] = { -1, 1e308 * 10, 0.0 / 0.0, 86401 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		options.setup_seconds = bad[i];
		assert_int_equal(
		        pikaci_transport_incus_new(&options, &f->t, f->errbuf, sizeof(f->errbuf)),
		        -EINVAL);
		assert_non_null(strstr(f->errbuf, "set-up bound"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_well_behaved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stalled_connect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_loris, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hung_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_endless_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fast_wait, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_bound, setup, teardown),
	};

	time_scale = fake_server_time_scale();
	if (!fake_server_runnable())
		return 77;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
