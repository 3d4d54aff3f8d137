/* SPDX-License-Identifier: MIT */
/*
 * fake-server.h - tests/incus/fake-incus (a Python fake Incus on a unix socket, no daemon) for
 * the C tests that talk to it: its temporary folder, socket and request log, starting it in a
 * mode, and counting what it logged. Each test embeds a struct fake_server in its fixture.
 */
#ifndef PIKACI_TESTS_FAKE_SERVER_H
#define PIKACI_TESTS_FAKE_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct fake_server {
	pid_t pid;       /* the running fake, 0 before fake_server_start() */
	char dir[40];    /* a fresh /tmp folder; a test may put its own files in it */
	char socket[80]; /* dir/unix.socket */
	char log[80];    /* dir/requests: a line per request (and BODY lines), as the fake logs */
};

/* Makes the temporary folder and names the socket and log in it; 0, or -1 with errno. */
int fake_server_init(struct fake_server *s);

/*
 * Kills the fake (if started) and removes its socket, log and folder: the test removes any file
 * of its own from s->dir first.
 */
void fake_server_clear(struct fake_server *s);

/*
 * Starts fake-incus ($PIKACI_FAKE_INCUS) in `mode` and waits until it takes connections;
 * fails the test otherwise. Returns when it listened (monotonic_seconds()).
 */
double fake_server_start(struct fake_server *s, const char *mode);

/* How many logged lines contain `needle`. */
size_t fake_server_requests(const struct fake_server *s, const char *needle);

/* How many DELETEs of an instance itself (not of its logs) the fake saw. */
size_t fake_server_instance_deletes(const struct fake_server *s);

/* PIKACI_TIME_SCALE (1 to 100: memcheck stretches time bounds); 1 if unset or out of range. */
double fake_server_time_scale(void);

/* Whether the fake can run here; prints the TAP skip line when not (the test then exits 77). */
bool fake_server_runnable(void);

#endif
