/* SPDX-License-Identifier: MIT */
/*
 * pikaci-conform - replays the fixture corpus against any guest and judges it clause by clause.
 *
 *   pikaci-conform [options] -- GUEST [ARG...]
 *
 * Each case runs in a fresh sandbox: acting as the host, the runner delivers the request, runs
 * the guest with the request path appended (as a host does, [D2]), brings the four files back
 * (all through pikaci_exchange(), the same path pikaci-host uses) and only judges.
 *
 * This file is the top-level flow: the command line is options.c's, one case case.c's, the
 * workers and their schedule scheduler.c's, repro bundles bundle.c's, --expect expect.c's.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clauses.h"
#include "fixture.h"
#include "runner.h"
#include "sandbox.h"
#include "shared.h"
#include "transport.h"

static int lint(const struct options *opt, const struct corpus *corpus, struct problems *problems)
{
	for (size_t i = 0; i < corpus->n_cases; i++)
		fixture_lint_verdict(&corpus->cases[i], problems);
	for (size_t i = 0; i < problems->n_items; i++)
		printf("%s\n", problems->items[i]);
	printf("%zu case(s) in %s, %zu problem(s)\n", corpus->n_cases + corpus->n_malformed,
	       opt->fixtures, problems->n_items);
	return problems->n_items ? EXIT_SOME_FAILED : EXIT_ALL_AS_EXPECTED;
}

/* --list: the selected cases, their profile, clauses and description. */
static void list_print(FILE *out, const struct options *opt, const struct corpus *corpus)
{
	for (size_t i = 0; i < corpus->n_cases; i++) {
		const struct fixture *f = &corpus->cases[i];

		if (!options_select(opt, f))
			continue;
		fprintf(out, "%-44s %-10s", f->id, profile_name(f->profile));
		for (size_t k = 0; k < f->n_clauses; k++)
			fprintf(out, "%s%s", k ? "," : " ", f->clauses[k]);
		fprintf(out, "  %s\n", f->description);
	}
}

/*
 * --list and --coverage-report, in text or JSON (--format, --report), each report put in place
 * whole: the exit code.
 */
static int corpus_reports(const struct options *opt, const struct corpus *corpus)
{
	struct report r = { 0 };
	bool *selected = calloc(corpus->n_cases + 1, sizeof(*selected));
	int code = EXIT_ALL_AS_EXPECTED;

	for (size_t i = 0; i < opt->n_reports; i++)
		if (opt->reports[i].format != FORMAT_TEXT &&
		    opt->reports[i].format != FORMAT_JSON) {
			fprintf(stderr,
			        "pikaci-conform: --%s writes text or json, not %s\nTry "
			        "'pikaci-conform --help' for more information.\n",
			        opt->coverage ? "coverage-report" : "list",
			        report_format_name(opt->reports[i].format));
			free(selected);
			return EXIT_USAGE;
		}
	if (!selected || report_open(&r, opt->reports, opt->n_reports) < 0) {
		free(selected);
		return selected ? EXIT_USAGE : EXIT_HARNESS;
	}
	for (size_t i = 0; i < corpus->n_cases; i++)
		selected[i] = options_select(opt, &corpus->cases[i]);
	for (size_t i = 0; i < r.n_sinks; i++) {
		FILE *out = r.sinks[i].out;
		json_t *doc = NULL;

		if (r.sinks[i].target.format == FORMAT_TEXT && opt->coverage)
			coverage_print(out, corpus);
		else if (r.sinks[i].target.format == FORMAT_TEXT)
			list_print(out, opt, corpus);
		else {
			doc = opt->coverage ? coverage_document_json(corpus)
			                    : list_document_json(corpus, selected);
			if (!doc || json_dumpf(doc, out, JSON_INDENT(2)) < 0 ||
			    fputc('\n', out) < 0)
				r.failed = true;
			json_decref(doc);
		}
	}
	free(selected);
	r.ended = true;
	if (report_finish(&r) < 0)
		code = EXIT_REPORT_FAILED;
	return code;
}

/*
 * Can this machine run cases at all? Locally one empty sandbox run tells; with Incus, one
 * container made and deleted. Either says why not.
 */
static int probe(const struct options *opt)
{
	struct pikaci_transport *t;
	struct pikaci_transport_result result = { 0 };
	char *argv[] = { "/bin/true", NULL };
	char errbuf[512];
	int r;

	t = transport_new(opt, errbuf, sizeof(errbuf), &r);
	if (!t) {
		fprintf(stderr, "pikaci-conform: cannot %s here: %s\n",
		        opt->incus.image ? "reach Incus" : "sandbox", errbuf);
		return r == -EPERM || opt->incus.image ? EXIT_CANNOT_SANDBOX : EXIT_HARNESS;
	}
	r = opt->incus.image ? 0 : t->ops->run(t, argv, 30, NULL, NULL, &result);
	if (r < 0)
		fprintf(stderr, "pikaci-conform: cannot sandbox here: %s\n",
		        pikaci_transport_error(t));
	pikaci_transport_result_clear(&result);
	pikaci_transport_free(t);
	return r < 0 ? EXIT_CANNOT_SANDBOX : 0;
}

/*
 * --incus-image with overlay isolation: -j running instances of the image that the cases
 * share, each in an overlay of its own (so -j scales with instances). The reaper deletes them
 * if the run dies first.
 */
int incus_pool_start(struct options *opt, char ***ret_pool)
{
	char errbuf[512];

	if (!opt->incus.image || opt->incus.isolation != PIKACI_INCUS_OVERLAY)
		return 0;
	if (pikaci_incus_pool_new(&opt->incus, (size_t)opt->jobs, ret_pool, errbuf,
	                          sizeof(errbuf)) < 0) {
		fprintf(stderr, "pikaci-conform: cannot reach Incus here: %s\n", errbuf);
		return EXIT_CANNOT_SANDBOX;
	}
	opt->incus.pool = *ret_pool;
	return 0;
}

/* SIGINT/SIGTERM: no per-run sandbox folder, mount or process outlives the run. */
static void on_stop_signal(int sig)
{
	pikaci_sandbox_abandon_all();
	report_stop();
	coverage_flush();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* The corpus, read and whole (or --lint's): 0, or the exit code with the problems said. */
static int corpus_read(const struct options *opt, struct corpus *corpus, struct problems *problems)
{
	int r = corpus_load(opt->fixtures, corpus, problems);

	if (r < 0) {
		fprintf(stderr, "pikaci-conform: cannot read the fixtures in %s: %s\n",
		        opt->fixtures, strerror(-r));
		return EXIT_USAGE;
	}
	if (opt->lint || !problems->n_items)
		return 0;
	for (size_t i = 0; i < problems->n_items; i++)
		fprintf(stderr, "pikaci-conform: %s\n", problems->items[i]);
	fprintf(stderr, "pikaci-conform: the corpus in %s is malformed (see --lint)\n",
	        opt->fixtures);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	struct options opt = { 0 };
	struct corpus corpus = { 0 };
	struct problems problems = { 0 };
	char **pool = NULL;
	int code;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_stop_signal);
	signal(SIGTERM, on_stop_signal);
	/* A subcommand that runs nothing: it reads two reports. */
	if (argc > 1 && strcmp(argv[1], "compare") == 0)
		return compare_main(argc - 1, argv + 1);
	if (options_parse(argc, argv, &opt) < 0) {
		code = EXIT_USAGE;
		goto out;
	}
	/* Containers made from the image (one per case) are deleted even when it is stopped. */
	if (opt.incus.image && pikaci_incus_reaper_start(&opt.incus, NULL, 0) < 0)
		fprintf(stderr, "pikaci-conform: no reaper: a stopped run may leave containers\n");
	code = corpus_read(&opt, &corpus, &problems);
	if (code != 0)
		goto out;
	if (opt.lint)
		code = lint(&opt, &corpus, &problems);
	else if (opt.coverage || opt.list)
		code = corpus_reports(&opt, &corpus);
	else if (opt.matrix)
		code = matrix_run(&opt, &corpus, probe);
	else {
		code = incus_pool_start(&opt, &pool);
		if (code == 0)
			code = probe(&opt);
		if (code == 0)
			code = schedule_all(&opt, &corpus);
		pikaci_incus_pool_free(&opt.incus, pool);
	}
out:
	/* --list, --lint, --coverage-report and progress are reports too: none lost silently. */
	if ((fflush(stdout) != 0 || ferror(stdout)) &&
	    (code == EXIT_ALL_AS_EXPECTED || code == EXIT_SOME_FAILED || code == EXIT_FLAKY)) {
		fprintf(stderr, "pikaci-conform: cannot write to stdout\n");
		code = EXIT_REPORT_FAILED;
	}
	problems_clear(&problems);
	corpus_clear(&corpus);
	options_clear(&opt);
	return code;
}
