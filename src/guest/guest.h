/* SPDX-License-Identifier: MIT */
/* guest.h - the reference guest's parts: the journal (lifecycle files) and the command. */
#ifndef PIKACI_GUEST_H
#define PIKACI_GUEST_H

#include <stdbool.h>

#include "pikaci-contract.h"

/*
 * Exit codes of the guest itself, beyond the command's own ([X4]): 2 for a rejected request or a
 * usage error, 125 when the guest could not prepare or start the command, 127 when bash is not
 * on PATH (as a shell reports a missing command), 124 for a timeout ([X3]).
 */
#define GUEST_EXIT_GUEST_FAILURE 125
#define GUEST_EXIT_NO_SHELL      127
/* [B1]: how long a command has after SIGTERM before its process group gets SIGKILL. */
#define GUEST_KILL_GRACE_MS 1000

/* The four lifecycle files of one run ([L1]-[L4]). */
struct journal {
	int log_fd;
	int events_fd;
	long long seq;
	char boot_id[64];
};

/*
 * Creates the state and logs folders, removes a previous run's result and opens the log and
 * events; errors go to stderr.
 */
int journal_open(struct journal *journal);
void journal_close(struct journal *journal);
/* Appends raw bytes (the command's output) to guest.log. */
int journal_log_bytes(struct journal *journal, const char *bytes, size_t length);
/* Appends "[pikaci] <text>\n" to guest.log. */
int journal_log_line(struct journal *journal, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* Rewrites status.json atomically and appends the matching event ([L2], [L3], [B4]). */
int journal_state(struct journal *journal, enum pikaci_state state, const char *message,
                  json_t *details);
/* Writes result.json atomically, once ([L4]). */
int journal_result(struct journal *journal, int exit_code, const char *message, json_t *details);

struct command_outcome {
	int exit_code;
	bool timed_out;
	int signal;        /* the signal that ended the command, or 0 */
	int interrupted;   /* the signal that ended the guest's wait early, or 0 */
	char failure[256]; /* why the command could not be started, or "" */
};

/* Creates the directories of §3 and hands the non-root ones to pikaci. */
int layout_prepare(char *why, size_t size);
/*
 * Runs the request's command ([X1]-[X3], [B1]-[B3]): output to stdout and the journal's log,
 * byte for byte, until it exits or the timeout passes.
 */
void command_run(const struct pikaci_request *request, struct journal *journal,
                 struct command_outcome *outcome);

#endif
