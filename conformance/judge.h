/* SPDX-License-Identifier: MIT */
/* judge.h - what a case's run shows, checked clause by clause. */
#ifndef PIKACI_JUDGE_H
#define PIKACI_JUDGE_H

#include <stdbool.h>

#include "fixture.h"
#include "transport.h"

/* inotify's view of one lifecycle document ([B4]). */
enum {
	SEEN_CREATE = 1,
	SEEN_MODIFY = 2,
	SEEN_CLOSE_WRITE = 4,
	SEEN_MOVED_TO = 8,
};

/* Everything known about one run of one case. */
struct observation {
	const struct fixture *fixture;
	const struct pikaci_exchange *exchange;
	/* [B5]: the run's changes, when the transport can see them. */
	bool have_changes;
	const struct pikaci_change *changes;
	size_t n_changes;
	/* The marker: 1 present, 0 absent, -1 unknown. */
	int marker;
	/* [B4]: inotify bits for status.json and result.json, when watched. */
	bool have_watch;
	bool watch_overflow;
	unsigned status_seen;
	unsigned result_seen;
	/* Options. */
	bool check_reason;
	double time_scale;
};

struct check {
	const char *clause;
	bool ok;
	char *message;
};

struct verdict {
	struct check *checks;
	size_t n_checks;
	size_t n_failed;
	size_t n_not_applicable;
	char **not_applicable; /* "B5: why" for checks the transport cannot make */
};

void judge(const struct observation *o, struct verdict *ret);
void verdict_clear(struct verdict *v);
/* The first failed check as "[X4] message", or NULL when all passed. */
const char *verdict_first_failure(const struct verdict *v, const char **ret_clause);

#endif
