/* SPDX-License-Identifier: MIT */
/*
 * pikaci-incus-run - the reference guest of the run contract, version 2.
 *
 *   pikaci-incus-run /run/pika-cloud/guest-request.json
 *   pikaci-incus-run --help | --version
 *
 * Validates the request before doing anything else ([B5]), then leaves the lifecycle files
 * (§5) while running the command (§4) in the image's own layout (§3). Exits with the
 * command's exit code, 124 on timeout, 2 for a rejected request or a usage error ([X4], [X5]).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest.h"
#include "shared.h"

#define UNRECORDABLE "the run's state cannot be recorded: the command was not run"

/* What main() does next, when the command line says anything but "run this request". */
#define ARGUMENTS_RUN (-1)

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: pikaci-incus-run REQUEST_PATH   (the host passes %s)\n"
	        "       pikaci-incus-run --help | --version\n",
	        PIKACI_REQUEST_PATH);
}

/* One line on standard error naming the problem (and the word, when not NULL). */
static int usage_error(const char *problem, const char *word)
{
	if (word)
		fprintf(stderr, "pikaci-incus-run: %s '%s'. Try 'pikaci-incus-run --help'.\n",
		        problem, word);
	else
		fprintf(stderr, "pikaci-incus-run: %s. Try 'pikaci-incus-run --help'.\n", problem);
	return PIKACI_EXIT_REJECTED; /* [X5] */
}

/*
 * [X5]: exactly one request path. `--help` and `--version` answer and exit; any other word
 * beginning with `-` is a usage error (a path that begins with `-` follows `--`). Decided before
 * anything is written: ARGUMENTS_RUN with *ret_path set, or the exit code.
 */
static int arguments_parse(int argc, char **argv, const char **ret_path)
{
	const char *path = NULL;
	bool options = true;

	for (int i = 1; i < argc; i++) {
		const char *word = argv[i];

		if (options && strcmp(word, "--") == 0) {
			options = false;
		} else if (options && strcmp(word, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (options && strcmp(word, "--version") == 0) {
			printf("pikaci-incus-run %s (request schema_version %d)\n", PIKACI_VERSION,
			       PIKACI_REQUEST_SCHEMA_VERSION);
			return 0;
		} else if (options && word[0] == '-') {
			return usage_error("unknown option", word);
		} else if (path) {
			return usage_error("one request path only, unexpected", word);
		} else {
			path = word;
		}
	}
	if (!path)
		return usage_error("usage: pikaci-incus-run REQUEST_PATH (no request path given)",
		                   NULL);
	*ret_path = path;
	return ARGUMENTS_RUN;
}

/* [R5]: a missing, unreadable or oversized file is a rejection like any other. */
static int request_read(const char *path, char **ret_bytes, size_t *ret_length,
                        struct pikaci_error *err)
{
	/* One byte more than the limit is enough for the parser to know it is too large. */
	int r = read_file(path, PIKACI_REQUEST_MAX_BYTES + 1, ret_bytes, ret_length);

	if (r == -EFBIG)
		pikaci_error_set(err, PIKACI_REASON_TOO_LARGE, NULL, PIKACI_REQUEST_MAX_BYTES,
		                 "request is over the limit of %d bytes (1 MiB)",
		                 PIKACI_REQUEST_MAX_BYTES);
	else if (r < 0)
		pikaci_error_set(err, PIKACI_REASON_UNREADABLE, NULL, -1,
		                 "cannot read the request %s: %s", path, read_file_error(r));
	return r;
}

static int reject(struct journal *journal, const struct pikaci_error *err)
{
	char message[PIKACI_ERROR_TEXT_LENGTH + 64];
	json_t *details;

	snprintf(message, sizeof(message), "%s%s", PIKACI_BOOTSTRAP_FAILED, err->text);
	fprintf(stderr, "pikaci-incus-run: %s\n", message);
	journal_log_line(journal, "%s", message);
	/* details.reason lets a host act on the rejection without parsing the message. */
	details = json_pack("{s:i, s:s}", "exit_code", PIKACI_EXIT_REJECTED, "reason",
	                    pikaci_reason_name(err->reason));
	if (details && err->member[0])
		json_object_set_new(details, "member", json_string(err->member));
	journal_state(journal, PIKACI_STATE_FAILED, message, json_incref(details));
	journal_result(journal, PIKACI_EXIT_REJECTED, message, details);
	return PIKACI_EXIT_REJECTED;
}

static void describe(const struct pikaci_request *request, const struct command_outcome *outcome,
                     char *message, size_t size)
{
	if (outcome->failure[0])
		snprintf(message, size, "the command could not start: %s", outcome->failure);
	else if (outcome->timed_out)
		snprintf(message, size, "the command timed out after %lld s",
		         request->timeout_secs);
	else if (outcome->interrupted)
		snprintf(message, size, "the guest was stopped by signal %d", outcome->interrupted);
	else if (outcome->signal)
		snprintf(message, size, "the command was killed by signal %d (%s)", outcome->signal,
		         strsignal(outcome->signal));
	else if (outcome->exit_code == 0)
		snprintf(message, size, "the command completed");
	else
		snprintf(message, size, "the command failed with exit code %d", outcome->exit_code);
}

static int run(struct journal *journal, const struct pikaci_request *request)
{
	struct command_outcome outcome;
	char message[512], why[256];
	enum pikaci_state state;
	json_t *details;

	/* [L5]: every accepted request is starting, even one whose layout then fails. */
	journal_state(journal, PIKACI_STATE_STARTING, "running the command",
	              json_pack("{s:s, s:b}", "command", request->command, "run_as_root",
	                        request->run_as_root));
	if (layout_prepare(why, sizeof(why)) < 0) {
		snprintf(outcome.failure, sizeof(outcome.failure), "%s", why);
		outcome.exit_code = GUEST_EXIT_GUEST_FAILURE;
		outcome.timed_out = false;
		outcome.interrupted = outcome.signal = 0;
	} else {
		command_run(request, journal, &outcome);
	}
	describe(request, &outcome, message, sizeof(message));
	if (outcome.failure[0]) {
		fprintf(stderr, "pikaci-incus-run: %s\n", message);
		journal_log_line(journal, "%s", message);
	}
	details = json_pack("{s:i}", "exit_code", outcome.exit_code);
	if (details && outcome.timed_out)
		json_object_set_new(details, "timed_out", json_true());
	state = outcome.exit_code == 0 ? PIKACI_STATE_COMPLETED : PIKACI_STATE_FAILED;
	journal_state(journal, state, message, json_incref(details));
	journal_result(journal, outcome.exit_code, message, details);
	return outcome.exit_code;
}

/* [L1]: this run's part of guest.log begins with the boot line. */
static void boot_line_write(struct journal *journal)
{
	char booted[PIKACI_TIMESTAMP_LENGTH];
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	pikaci_timestamp_dump(&now, booted, sizeof(booted));
	journal_log_bytes(journal, PIKACI_LOG_BOOT_PREFIX, strlen(PIKACI_LOG_BOOT_PREFIX));
	journal_log_bytes(journal, booted, strlen(booted));
	journal_log_bytes(journal, "\n", 1);
}

int main(int argc, char **argv)
{
	struct pikaci_request *request = NULL;
	struct pikaci_error err = { 0 };
	struct journal journal;
	const char *path = NULL;
	char *bytes = NULL;
	size_t length = 0;
	int code;

	code = arguments_parse(argc, argv, &path);
	if (code != ARGUMENTS_RUN)
		return code;
	/* A host that stops reading must not kill the guest before the result is written. */
	signal(SIGPIPE, SIG_IGN);

	/* [B5]: everything about the request is decided before the first side effect. */
	if (request_read(path, &bytes, &length, &err) == 0)
		pikaci_request_parse(bytes, length, &request, &err);
	free(bytes);

	if (journal_open(&journal) < 0) {
		pikaci_request_free(request);
		return GUEST_EXIT_GUEST_FAILURE;
	}
	boot_line_write(&journal);
	if (journal_state(&journal, PIKACI_STATE_BOOTED, "guest booted", NULL) < 0 && request) {
		/* A run whose states cannot be recorded ([L2], [L3]) is not started. */
		fprintf(stderr, "pikaci-incus-run: %s\n", UNRECORDABLE);
		journal_log_line(&journal, "%s", UNRECORDABLE);
		code = GUEST_EXIT_GUEST_FAILURE;
	} else {
		code = request ? run(&journal, request) : reject(&journal, &err);
	}
	journal_close(&journal);
	pikaci_request_free(request);
	return code;
}
