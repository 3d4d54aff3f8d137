/* SPDX-License-Identifier: MIT */
/*
 * clauses.c - the clause table. A test (clauses-match-contract) checks that these ids are exactly
 * the ones CONTRACT.md defines, so a clause added to the contract cannot go unreported.
 */
#include <string.h>
#include <strings.h>

#include "clauses.h"

const struct clause contract_clauses[] = {
	{ "D1", "1", true, CLAUSE_HOST, "the host writes the request to its fixed path" },
	{ "D2", "1", true, CLAUSE_BOTH, "the guest runs as root with the request path" },
	{ "D3", "1", true, CLAUSE_BOTH, "the four lifecycle files at their fixed paths" },
	{ "D4", "1", true, CLAUSE_BOTH, "pass or fail is decided from result.json" },
	{ "D5", "1", false, CLAUSE_HOST,
	  "the host waits at most timeout_secs plus a grace margin" },
	{ "R1", "2", true, CLAUSE_GUEST, "reject a schema_version other than 2, checked first" },
	{ "R2", "2", true, CLAUSE_GUEST, "reject any member outside the table (stray fields)" },
	{ "R3", "2", true, CLAUSE_GUEST, "reject a missing member or a wrong type or range" },
	{ "R4", "2", true, CLAUSE_GUEST, "reject a duplicate member name" },
	{ "R5", "2", true, CLAUSE_GUEST,
	  "reject invalid JSON or UTF-8, a non-object, an empty, missing or oversized file" },
	{ "R6", "2", true, CLAUSE_GUEST, "accept timeout_secs 1 to 2^53-1, reject larger" },
	{ "R7", "2", true, CLAUSE_HOST, "the host emits exactly the four members, version 2" },
	{ "G1", "3", true, CLAUSE_GUEST, "the guest's own layout and environment" },
	{ "X1", "4", true, CLAUSE_GUEST,
	  "bash --noprofile --norc -lc, in the workspace, as the user" },
	{ "X2", "4", true, CLAUSE_GUEST,
	  "output merged, streamed and logged once, whole, among [pikaci] lines" },
	{ "X3", "4", true, CLAUSE_GUEST, "stopped at timeout_secs with exit code 124" },
	{ "X4", "4", true, CLAUSE_GUEST,
	  "the guest exits with the command's code, 2 on rejection" },
	{ "X5", "4", true, CLAUSE_GUEST, "no request path: usage on stderr, exit 2" },
	{ "X6", "4", true, CLAUSE_GUEST, "the command starts with no signal blocked or ignored" },
	{ "X7", "4", true, CLAUSE_GUEST, "as the user: uids 1000, gids 100, no other group" },
	{ "L1", "5", true, CLAUSE_GUEST, "guest.log: the boot line, the output, failure lines" },
	{ "L2", "5", true, CLAUSE_GUEST, "status.json: the latest state" },
	{ "L3", "5", true, CLAUSE_GUEST, "events.jsonl: one event per line, seq 1, 2, 3, ..." },
	{ "L4", "5", true, CLAUSE_GUEST, "result.json: completed if and only if exit code 0" },
	{ "L5", "5", true, CLAUSE_GUEST,
	  "accepted: booted, starting, completed or failed, result" },
	{ "L6", "5", true, CLAUSE_GUEST, "rejected: booted, failed, result exit 2, nothing ran" },
	{ "L7", "5", true, CLAUSE_GUEST,
	  "an earlier run's files: result removed, events afresh, log appended" },
	{ "B1", "6", true, CLAUSE_GUEST, "SIGTERM within 0.5 s, SIGKILL 2 s later, exit 124" },
	{ "B2", "6", true, CLAUSE_GUEST, "orphans holding the output do not keep the guest alive" },
	{ "B3", "6", true, CLAUSE_GUEST, "non-UTF-8 output passes through" },
	{ "B4", "6", true, CLAUSE_GUEST, "status.json and result.json replaced atomically" },
	{ "B5", "6", true, CLAUSE_GUEST, "no side effects before the request is valid" },
	{ "B6", "6", true, CLAUSE_GUEST, "nothing of the command's group outlives the guest" },
};

const size_t n_contract_clauses = sizeof(contract_clauses) / sizeof(contract_clauses[0]);

const struct clause *clause_find(const char *id)
{
	for (size_t i = 0; i < n_contract_clauses; i++)
		if (strcasecmp(contract_clauses[i].id, id) == 0)
			return &contract_clauses[i];
	return NULL;
}

const char *clause_party_name(enum clause_party party)
{
	switch (party) {
	case CLAUSE_GUEST:
		return "guest";
	case CLAUSE_HOST:
		return "host";
	case CLAUSE_BOTH:
		return "both";
	}
	return "?";
}
