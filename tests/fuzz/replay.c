/* SPDX-License-Identifier: MIT */
/*
 * replay.c - runs a fuzz target's LLVMFuzzerTestOneInput over saved inputs, without libFuzzer,
 * so every build (gcc included, and under valgrind) keeps the seeds and every crash ever found
 * covered.
 *
 * replay PATH...: each PATH is a file or a directory, read recursively (names starting with
 * '.' are skipped, in sorted order). TAP, one test point per PATH. A broken property aborts
 * the process, as it would under libFuzzer; the input being replayed is named on stderr first.
 * Exit 0, 1 when a PATH cannot be read, 99 when the harness itself fails.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "shared.h"

/* The largest input replayed: far past every target's max_len. */
#define INPUT_MAX (64u << 20)

/* The input being replayed, for the crash handler; written before each input. */
static char current[PATH_MAX];

static void crash_handler(int sig)
{
	static const char before[] = "replay: crashed on input ";

	/* Only async-signal-safe calls here. */
	if (write(STDERR_FILENO, before, sizeof(before) - 1) < 0 ||
	    write(STDERR_FILENO, current, strlen(current)) < 0 || write(STDERR_FILENO, "\n", 1) < 0)
		_exit(99);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Replays path, a file or a directory tree; counts inputs in *count. */
static int replay(const char *path, size_t *count)
{
	struct dirent **entries = NULL;
	struct stat st;
	char *data = NULL;
	size_t size = 0;
	int n, r = 0;

	if (stat(path, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode)) {
		r = read_file(path, INPUT_MAX, &data, &size);
		if (r < 0)
			return r;
		snprintf(current, sizeof(current), "%s", path);
		LLVMFuzzerTestOneInput((const uint8_t *)data, size);
		free(data);
		(*count)++;
		return 0;
	}
	if (!S_ISDIR(st.st_mode))
		return 0;
	n = scandir(path, &entries, NULL, alphasort);
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		char child[PATH_MAX];

		if (r == 0 && entries[i]->d_name[0] != '.') {
			if ((size_t)snprintf(child, sizeof(child), "%s/%s", path,
			                     entries[i]->d_name) >= sizeof(child))
				r = -ENAMETOOLONG;
			else
				r = replay(child, count);
		}
		free(entries[i]);
	}
	free(entries);
	return r;
}

int main(int argc, char **argv)
{
	static const int signals[] = { SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL };
	int status = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIRECTORY...\n", argv[0]);
		return 99;
	}
	for (size_t i = 0; i < ELEMENTSOF(signals); i++)
		signal(signals[i], crash_handler);

	printf("1..%d\n", argc - 1);
	for (int i = 1; i < argc; i++) {
		size_t count = 0;
		int r = replay(argv[i], &count);

		if (r < 0) {
			printf("not ok %d - %s: %s\n", i, argv[i], strerror(-r));
			status = 1;
		} else {
			printf("ok %d - %s: %zu input(s) replayed\n", i, argv[i], count);
		}
		fflush(stdout);
	}
	return status;
}
