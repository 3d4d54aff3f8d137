/* SPDX-License-Identifier: MIT */
/* clauses.h - every clause id of CONTRACT.md, who owes it, and how binding it is. */
#ifndef PIKACI_CLAUSES_H
#define PIKACI_CLAUSES_H

#include <stdbool.h>
#include <stddef.h>

enum clause_party {
	CLAUSE_GUEST, /* the guest owes it: fixtures prove it */
	CLAUSE_HOST,  /* the host owes it: pikaci-host's tests prove it */
	CLAUSE_BOTH,
};

struct clause {
	const char *id;
	const char *section;
	bool must; /* MUST, or only SHOULD */
	enum clause_party party;
	const char *title;
};

extern const struct clause contract_clauses[];
extern const size_t n_contract_clauses;

/* NULL when the id is not a clause of the contract. */
const struct clause *clause_find(const char *id);
const char *clause_party_name(enum clause_party party);

#endif
