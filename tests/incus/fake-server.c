/* SPDX-License-Identifier: MIT */
/* fake-server.c - tests/incus/fake-incus for the C tests: see fake-server.h. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake-server.h"
#include "shared.h"

int fake_server_init(struct fake_server *s)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->dir, sizeof(s->dir), "/tmp/pikaci-fake-incus-XXXXXX");
	if (!mkdtemp(s->dir))
		return -1;
	snprintf(s->socket, sizeof(s->socket), "%s/unix.socket", s->dir);
	snprintf(s->log, sizeof(s->log), "%s/requests", s->dir);
	return 0;
}

void fake_server_clear(struct fake_server *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
	unlink(s->socket);
	unlink(s->log);
	rmdir(s->dir);
}

static bool server_listens(const struct fake_server *s)
{
	struct sockaddr_un address = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool listens;

	snprintf(address.sun_path, sizeof(address.sun_path), "%s", s->socket);
	listens = fd >= 0 && connect(fd, (struct sockaddr *)&address, sizeof(address)) == 0;
	if (fd >= 0)
		close(fd);
	return listens;
}

double fake_server_start(struct fake_server *s, const char *mode)
{
	const char *fake = getenv("PIKACI_FAKE_INCUS");

	assert_non_null(fake);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		execl(fake, fake, s->socket, mode, s->log, (char *)NULL);
		_exit(127);
	}
	/* The socket file appears at bind(), before listen(): wait until a connection is taken. */
	for (int i = 0; i < 200 && !server_listens(s); i++)
		usleep(50000);
	assert_true(server_listens(s));
	return monotonic_seconds();
}

/* How many logged lines match(line, argument) holds for. */
static size_t requests_counted(const struct fake_server *s,
                               bool (*match)(const char *, const char *), const char *argument)
{
	FILE *log = fopen(s->log, "r");
	char line[1024];
	size_t count = 0;

	if (!log)
		return 0;
	while (fgets(line, sizeof(line), log))
		if (match(line, argument))
			count++;
	fclose(log);
	return count;
}

static bool line_contains(const char *line, const char *needle)
{
	return strstr(line, needle) != NULL;
}

/* A DELETE of an instance itself, not of its logs. */
static bool line_deletes_instance(const char *line, const char *prefix)
{
	return strncmp(line, prefix, strlen(prefix)) == 0 && !strchr(line + strlen(prefix), '/');
}

size_t fake_server_requests(const struct fake_server *s, const char *needle)
{
	return requests_counted(s, line_contains, needle);
}

size_t fake_server_instance_deletes(const struct fake_server *s)
{
	return requests_counted(s, line_deletes_instance, "DELETE /1.0/instances/");
}

double fake_server_time_scale(void)
{
	const char *scale = getenv("PIKACI_TIME_SCALE");

	if (scale && atof(scale) >= 1 && atof(scale) <= 100)
		return atof(scale);
	return 1;
}

bool fake_server_runnable(void)
{
	if (access("/usr/bin/python3", X_OK) < 0) {
		printf("1..0 # SKIP the fake Incus server needs /usr/bin/python3\n");
		return false;
	}
	return true;
}
