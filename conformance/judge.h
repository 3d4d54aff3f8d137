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

/* When a piece of the guest's standard output arrived ([X2]: streamed, not held until exit). */
struct arrival {
	size_t end;     /* standard output's length once this piece had arrived */
	double seconds; /* since the exchange began */
};

/* Everything known about one run of one case. */
struct observation {
	const struct fixture *fixture;
	const struct pikaci_exchange *exchange;
	/* [B5]: the run's changes, when the transport can see them. */
	bool have_changes;
	const struct pikaci_change *changes;
	size_t n_changes;
	/* The marker and the cut marker: 1 present, 0 absent, -1 unknown. */
	int marker;
	int cut_marker;
	/* [B4]: inotify bits for status.json and result.json, when watched. */
	bool have_watch;
	bool watch_overflow;
	unsigned status_seen;
	unsigned result_seen;
	/* [L5] order and [L7]: inotify's numbering (1, 2, ...) of writes; 0 when never seen. */
	unsigned long result_appeared;    /* first IN_CREATE or IN_MOVED_TO of result.json */
	unsigned long result_removed;     /* first IN_DELETE or IN_MOVED_FROM of result.json */
	unsigned long events_first_write; /* first IN_CREATE, IN_MODIFY or IN_MOVED_TO */
	unsigned long events_last_write;  /* last of them */
	unsigned long status_last_write;  /* last IN_CREATE, IN_MODIFY or IN_MOVED_TO */
	/* [X2] streaming: standard output's arrival, and when the exchange ended. */
	bool have_arrivals; /* the transport streams output as it comes */
	const struct arrival *arrivals;
	size_t n_arrivals;
	double ended;
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
	size_t checks_capacity, not_applicable_capacity; /* ARRAY_GROW's */
};

void judge(const struct observation *o, struct verdict *ret);
void verdict_clear(struct verdict *v);
/* The first failed check as "[X4] message", or NULL when all passed. */
const char *verdict_first_failure(const struct verdict *v, const char **ret_clause);

#endif
