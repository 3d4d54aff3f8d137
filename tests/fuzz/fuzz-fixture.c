/* SPDX-License-Identifier: MIT */
/*
 * fuzz-fixture.c - the fixture loader and its lint (conformance/fixture.c) on arbitrary files:
 * a corpus a user points --fixtures at.
 *
 * The input is split on FUZZ_SEPARATOR into case.json, request.json and stdout (each written
 * only when present) of one case in a scratch corpus, which corpus_load() reads and
 * fixture_lint_verdict() checks. Properties: a case is loaded or has a problem, never both
 * silently; every problem is valid UTF-8 (the lint prints them, reports quote them); a loaded
 * case has the members its loader promises.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixture.h"
#include "fuzz.h"
#include "shared.h"

static char scratch[64];
static char case_dir[128];

static void scratch_remove(void)
{
	static const char *const names[] = { "case.json", "request.json", "stdout" };
	char path[192];

	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		snprintf(path, sizeof(path), "%s/%s", case_dir, names[i]);
		unlink(path);
	}
	rmdir(case_dir);
	rmdir(scratch);
}

static void scratch_make(void)
{
	if (scratch[0])
		return;
	snprintf(scratch, sizeof(scratch), "%s/fuzz-fixture.XXXXXX",
	         access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	FUZZ_CHECK(mkdtemp(scratch) != NULL);
	snprintf(case_dir, sizeof(case_dir), "%s/x4-fuzz-case", scratch);
	FUZZ_CHECK(mkdir(case_dir, 0755) == 0);
	atexit(scratch_remove);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "case.json", "request.json", "stdout" };
	struct fuzz_part parts[3];
	struct corpus corpus = { 0 };
	struct problems problems = { 0 };
	char path[192];
	int r;

	scratch_make();
	fuzz_split(data, size, parts, ELEMENTSOF(parts));
	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		snprintf(path, sizeof(path), "%s/%s", case_dir, names[i]);
		unlink(path);
		if (parts[i].bytes)
			FUZZ_CHECK(write_file(path, parts[i].bytes, parts[i].length, 0644) == 0);
	}
	r = corpus_load(scratch, &corpus, &problems);
	FUZZ_CHECK(r == 0);
	FUZZ_CHECK(corpus.n_cases + corpus.n_malformed == 1);
	FUZZ_CHECK(corpus.n_cases == 1 || problems.n_items > 0);
	for (size_t i = 0; i < corpus.n_cases; i++) {
		const struct fixture *f = &corpus.cases[i];

		FUZZ_CHECK(f->id && f->dir && f->description);
		FUZZ_CHECK(f->n_clauses > 0 && f->clauses);
		FUZZ_CHECK(!f->has_stdout || f->stdout_bytes);
		FUZZ_CHECK(f->deliver != PIKACI_DELIVER_FILE || f->request);
		fixture_lint_verdict(f, &problems);
		(void)fixture_matches(f, "X4");
		(void)fixture_matches(f, "x4-*");
	}
	for (size_t i = 0; i < problems.n_items; i++)
		FUZZ_CHECK(fuzz_utf8_valid(problems.items[i], strlen(problems.items[i])));
	problems_clear(&problems);
	corpus_clear(&corpus);
	return 0;
}
