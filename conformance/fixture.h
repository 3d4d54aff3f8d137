/* SPDX-License-Identifier: MIT */
/* fixture.h - the fixture corpus: one directory per case (fixtures/README.md). */
#ifndef PIKACI_FIXTURE_H
#define PIKACI_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>

#include "transport.h"

/*
 * The largest case.json or request.json read (stdout: eight times this); a larger file, or one
 * that is not a regular file (a FIFO, a device, a folder), is a malformed case.
 */
#define FIXTURE_FILE_MAX (PIKACI_REQUEST_MAX_BYTES * 2)

enum fixture_profile {
	PROFILE_CONTRACT,
	PROFILE_ROBUSTNESS,
	_PROFILE_MAX,
};

enum fixture_outcome {
	OUTCOME_ACCEPTED,
	OUTCOME_REJECTED,
	OUTCOME_USAGE,
};

/* A file laid down in the sandbox before the guest starts ([L7]): an earlier run's leftovers. */
struct preexisting {
	char *path; /* normalised absolute path inside PIKACI_STATE_DIR */
	char *bytes;
	size_t length;
};

struct fixture {
	char *id;
	char *dir;
	char *description;
	enum fixture_profile profile;
	char **clauses;
	size_t n_clauses;
	char **tags;
	size_t n_tags;
	enum pikaci_delivery deliver;
	enum fixture_outcome outcome;
	char *reason; /* NULL when not given */
	char *member; /* NULL when not given */
	int exit_code;
	bool has_stdout;
	char *stdout_bytes;
	size_t stdout_length;
	char *marker;
	char *cut_marker; /* created only by a command that outlived its timeout: must be absent */
	double streamed;  /* the output's first line arrives this long before the guest ends */
	struct preexisting *preexisting;
	size_t n_preexisting;
	double max_seconds; /* 0: no bound */
	double min_seconds;
	bool side_effects_none;
	bool atomic;
	double case_timeout; /* 0: the runner's default */
	char *request;       /* request.json's bytes, NULL without one */
	size_t request_length;
};

struct corpus {
	struct fixture *cases;
	size_t n_cases;
	size_t cases_capacity; /* ARRAY_GROW's */
	size_t n_malformed;    /* case folders not loaded, their problems reported */
};

/* A growing list of lint findings, each "case-id: what is wrong". */
struct problems {
	char **items;
	size_t n_items;
	size_t items_capacity; /* ARRAY_GROW's */
};

void problems_add(struct problems *problems, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
void problems_clear(struct problems *problems);

const char *profile_name(enum fixture_profile profile);
int profile_parse(const char *name, enum fixture_profile *ret);

/*
 * Loads every case under dir, sorted by id. Structural problems (unknown or missing members,
 * wrong types, clauses not in the contract, missing files) go to problems; such a case is not
 * loaded. Returns a negative code only when dir itself cannot be read.
 */
int corpus_load(const char *dir, struct corpus *ret, struct problems *problems);
void corpus_clear(struct corpus *corpus);

/* Checks the declared outcome against the contract library; adds to problems when it differs. */
void fixture_lint_verdict(const struct fixture *f, struct problems *problems);

/* The preexisting file at path, or NULL. */
const struct preexisting *fixture_preexisting(const struct fixture *f, const char *path);

/* Case id (glob), clause id, tag or profile name. */
bool fixture_matches(const struct fixture *f, const char *pattern);
bool fixture_cites(const struct fixture *f, const char *clause);

#endif
