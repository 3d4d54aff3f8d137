/* SPDX-License-Identifier: MIT */
/* options.c - pikaci-conform's command line: the options, their bounds and the usage text. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "corpus-path.h"
#include "pikaci-contract.h"
#include "runner.h"
#include "shared.h"

/* clang-format off */
static const char usage_text[] =
	"usage: pikaci-conform [OPTION...] -- GUEST [ARG...]\n"
	"       pikaci-conform [OPTION...] --incus-image ALIAS [--socket PATH | --url URL\n"
	"                      --cert FILE --key FILE [--ca FILE]] [-- GUEST [ARG...]]\n"
	"       pikaci-conform --lint | --list | --coverage-report [--fixtures DIR]\n"
	"\n"
	"Replays the fixture corpus against GUEST, a guest command line to which the runner\n"
	"appends the request path as a host does, each case in a fresh sandbox, and reports\n"
	"a verdict per case with the contract clauses it proves.\n"
	"\n"
	"  --fixtures DIR      the corpus (default: %s)\n"
	"  --profile NAME      contract, robustness or all (default: all, each reported)\n"
	"  --filter PATTERN    only cases whose id matches the glob, or that cite the clause,\n"
	"                      carry the tag or belong to the profile; repeatable (any matches)\n"
	"  -j, --jobs N        cases run in parallel (default: the number of CPUs); cases that\n"
	"                      wait out a timeout (exit 124) run beside them, using no CPU\n"
	"  --case-timeout S    seconds before a guest still running is killed: TIMEOUT (30;\n"
	"                      at most 86400)\n"
	"  --time-scale F      stretch time bounds and timeouts (slow wrappers such as valgrind;\n"
	"                      at most 100)\n"
	"  --format FORMAT     text, tap, junit or json (default: text)\n"
	"  --output FILE       write the report to FILE; progress still goes to stdout\n"
	"  --expect FILE       lines \"CASE fail|skip|pass REASON\" (CASE may be a glob; the last\n"
	"                      matching line wins): known failures and skips. A listed failure\n"
	"                      that passes is an unexpected pass (xpass) and fails the run;\n"
	"                      a regular file of at most 1 MiB\n"
	"  --keep DIR          a repro bundle per failing case: request, expectation, the\n"
	"                      guest's files and output, verdict.txt and replay.sh\n"
	"  --incus-image ALIAS validate a guest image: each case sees a fresh, unmodified image\n"
	"                      ALIAS, the guest run at its contract path (or GUEST, inside it)\n"
	"  --incus-isolation overlay|container\n"
	"                      overlay (default): each case in its own overlay over one of -j\n"
	"                      running instances of ALIAS; container: a container per case\n"
	"  --target MEMBER     create the instances on this Incus cluster member\n"
	"  --socket PATH       Incus's unix socket (default /var/lib/incus/unix.socket)\n"
	"  --url URL           or a remote Incus over HTTPS, with --cert, --key and --ca\n"
	"  --project NAME      the Incus project\n"
	"  --check-reason      also require result.json's details.reason to be the contract\n"
	"                      library's reason code (the reference guest reports one)\n"
	"  --list              list the selected cases and exit\n"
	"  --lint              check the corpus itself and exit\n"
	"  --coverage-report   every clause of the contract with the cases that cover it\n"
	"  -h, --help          this text\n"
	"  --version           the version\n"
	"\n"
	"Environment: PIKACI_GUEST_WRAPPER (words put before GUEST, e.g. valgrind),\n"
	"PIKACI_TIME_SCALE, PIKACI_FIXTURES, PIKACI_SANDBOX_BIND (colon-separated host folders\n"
	"bound read-write into every sandbox, e.g. a coverage build).\n"
	"\n"
	"Exit status: 0 every case as expected; 1 some case failed (fail, timeout or xpass);\n"
	"2 usage error; 4 the report could not be written (e.g. a full disk); 77 cannot\n"
	"sandbox here (needs root and overlayfs); 99 harness failure.\n";
/* clang-format on */

static void usage(FILE *out)
{
	fprintf(out, usage_text, corpus_default_path());
}

/* Bounds of the time options (README "Limits"): a day per case, a hundredfold stretch. */
#define CASE_TIMEOUT_MAX 86400.0
#define TIME_SCALE_MAX   100.0

/*
 * A positive finite number up to max for the option (or variable) named: inf, NaN, negatives,
 * zero and absurd values are refused, naming the option, or a hung guest would never be killed.
 */
static int seconds_parse(const char *name, const char *text, double max, double *ret)
{
	char *end;
	double value;

	errno = 0;
	value = strtod(text, &end);
	if (end == text || *end || errno || !isfinite(value) || !(value > 0) || value > max) {
		fprintf(stderr, "pikaci-conform: %s takes a positive number up to %g, not \"%s\"\n",
		        name, max, text);
		return -EINVAL;
	}
	*ret = value;
	return 0;
}

enum {
	OPT_FIXTURES = 256,
	OPT_PROFILE,
	OPT_FILTER,
	OPT_CASE_TIMEOUT,
	OPT_TIME_SCALE,
	OPT_FORMAT,
	OPT_OUTPUT,
	OPT_EXPECT,
	OPT_KEEP,
	OPT_CHECK_REASON,
	OPT_LIST,
	OPT_LINT,
	OPT_COVERAGE,
	OPT_VERSION,
	OPT_INCUS_IMAGE,
	OPT_INCUS_ISOLATION,
	OPT_INCUS_TARGET,
	OPT_INCUS_BASE, /* the connection options: OPT_INCUS_BASE + 0 ... + 5 */
};

/* --incus-isolation was given (it goes with --incus-image). */
static bool isolation_given;

static const struct option long_options[] = {
	{ "incus-image", required_argument, NULL, OPT_INCUS_IMAGE },
	{ "incus-isolation", required_argument, NULL, OPT_INCUS_ISOLATION },
	{ "target", required_argument, NULL, OPT_INCUS_TARGET },
	PIKACI_INCUS_GETOPT(OPT_INCUS_BASE),
	{ "fixtures", required_argument, NULL, OPT_FIXTURES },
	{ "profile", required_argument, NULL, OPT_PROFILE },
	{ "filter", required_argument, NULL, OPT_FILTER },
	{ "jobs", required_argument, NULL, 'j' },
	{ "case-timeout", required_argument, NULL, OPT_CASE_TIMEOUT },
	{ "time-scale", required_argument, NULL, OPT_TIME_SCALE },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "output", required_argument, NULL, OPT_OUTPUT },
	{ "expect", required_argument, NULL, OPT_EXPECT },
	{ "keep", required_argument, NULL, OPT_KEEP },
	{ "check-reason", no_argument, NULL, OPT_CHECK_REASON },
	{ "list", no_argument, NULL, OPT_LIST },
	{ "lint", no_argument, NULL, OPT_LINT },
	{ "coverage-report", no_argument, NULL, OPT_COVERAGE },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ 0 },
};

/* The options that only store their argument (a string) or set a flag, by offset in options. */
static const struct {
	int option;
	size_t offset;
	bool flag;
} stored_options[] = {
	{ OPT_FIXTURES, offsetof(struct options, fixtures), false },
	{ OPT_OUTPUT, offsetof(struct options, output), false },
	{ OPT_EXPECT, offsetof(struct options, expect), false },
	{ OPT_KEEP, offsetof(struct options, keep), false },
	{ OPT_INCUS_IMAGE, offsetof(struct options, incus.image), false },
	{ OPT_INCUS_TARGET, offsetof(struct options, incus.target), false },
	{ OPT_CHECK_REASON, offsetof(struct options, check_reason), true },
	{ OPT_LIST, offsetof(struct options, list), true },
	{ OPT_LINT, offsetof(struct options, lint), true },
	{ OPT_COVERAGE, offsetof(struct options, coverage), true },
};

/* Stores option c if it is one of stored_options: true when it was. */
static bool option_store(struct options *opt, int c, const char *arg)
{
	for (size_t i = 0; i < ELEMENTSOF(stored_options); i++) {
		char *field = (char *)opt + stored_options[i].offset;

		if (stored_options[i].option != c)
			continue;
		if (stored_options[i].flag)
			*(bool *)field = true;
		else
			*(const char **)field = arg;
		return true;
	}
	return false;
}

static int profile_set(struct options *opt, const char *arg)
{
	enum fixture_profile p;

	if (strcmp(arg, "all") == 0) {
		opt->profiles[PROFILE_CONTRACT] = opt->profiles[PROFILE_ROBUSTNESS] = true;
	} else if (profile_parse(arg, &p) == 0) {
		opt->profiles[p] = true;
	} else {
		fprintf(stderr,
		        "pikaci-conform: --profile is contract, robustness or all, not \"%s\"\n",
		        arg);
		return -EINVAL;
	}
	return 0;
}

static int jobs_set(struct options *opt, const char *arg)
{
	char *end;

	opt->jobs = strtol(arg, &end, 10);
	if (*end || opt->jobs < 1 || opt->jobs > 1024) {
		fprintf(stderr, "pikaci-conform: -j takes a number from 1 to 1024\n");
		return -EINVAL;
	}
	return 0;
}

static int format_set(struct options *opt, const char *arg)
{
	static const char *const names[] = {
		[FORMAT_TEXT] = "text",
		[FORMAT_TAP] = "tap",
		[FORMAT_JUNIT] = "junit",
		[FORMAT_JSON] = "json",
	};

	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (strcmp(arg, names[i]) == 0) {
			opt->format = (enum report_format)i;
			return 0;
		}
	fprintf(stderr, "pikaci-conform: --format is text, tap, junit or json\n");
	return -EINVAL;
}

/* One option from getopt_long(): 0, or -EINVAL (said); --help and --version exit. */
static int option_set(struct options *opt, int c, char *arg, bool *profile_given)
{
	if (option_store(opt, c, arg))
		return 0;
	switch (c) {
	case OPT_PROFILE:
		*profile_given = true;
		return profile_set(opt, arg);
	case OPT_FILTER:
		opt->filters[opt->n_filters++] = arg;
		return 0;
	case 'j':
		return jobs_set(opt, arg);
	case OPT_INCUS_ISOLATION:
		isolation_given = true;
		if (pikaci_incus_isolation_parse(arg, &opt->incus.isolation) == 0)
			return 0;
		fprintf(stderr,
		        "pikaci-conform: --incus-isolation is overlay or container, not %s\n", arg);
		return -EINVAL;
	case OPT_CASE_TIMEOUT:
		return seconds_parse("--case-timeout", arg, CASE_TIMEOUT_MAX, &opt->case_timeout);
	case OPT_TIME_SCALE:
		return seconds_parse("--time-scale", arg, TIME_SCALE_MAX, &opt->time_scale);
	case OPT_FORMAT:
		return format_set(opt, arg);
	case 'h':
		usage(stdout);
		exit(EXIT_ALL_AS_EXPECTED);
	case OPT_VERSION:
		printf("pikaci-conform %s (request schema_version %d)\n", PIKACI_VERSION,
		       PIKACI_REQUEST_SCHEMA_VERSION);
		exit(EXIT_ALL_AS_EXPECTED);
	default:
		if (c >= OPT_INCUS_BASE && c < OPT_INCUS_BASE + _PIKACI_INCUS_OPTION_MAX) {
			pikaci_incus_option_set(&opt->incus, c - OPT_INCUS_BASE, arg);
			return 0;
		}
		usage(stderr);
		return -EINVAL;
	}
}

/* The defaults, some from the environment: 0, -EINVAL (said) or -ENOMEM. */
static int options_defaults(int argc, struct options *opt)
{
	const char *scale = getenv("PIKACI_TIME_SCALE");

	opt->fixtures =
	        getenv("PIKACI_FIXTURES") ? getenv("PIKACI_FIXTURES") : corpus_default_path();
	opt->jobs = sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1;
	opt->case_timeout = 30;
	opt->time_scale = 1;
	if (scale &&
	    seconds_parse("PIKACI_TIME_SCALE", scale, TIME_SCALE_MAX, &opt->time_scale) < 0)
		return -EINVAL;
	opt->filters = calloc((size_t)argc + 1, sizeof(*opt->filters));
	return opt->filters ? 0 : -ENOMEM;
}

/* The connection options go with --incus-image, and together: 0 or -EINVAL (said). */
static int incus_options_check(const struct options *opt)
{
	if ((isolation_given || opt->incus.target) && !opt->incus.image) {
		fprintf(stderr, "pikaci-conform: --incus-isolation and --target go with "
		                "--incus-image\n");
		return -EINVAL;
	}
	if (pikaci_incus_options_given(&opt->incus) && !opt->incus.image) {
		fprintf(stderr, "pikaci-conform: --socket and --url go with --incus-image\n");
		return -EINVAL;
	}
	if (pikaci_incus_options_problem(&opt->incus)) {
		fprintf(stderr, "pikaci-conform: %s\n", pikaci_incus_options_problem(&opt->incus));
		return -EINVAL;
	}
	return 0;
}

/* The guest's command line, words[0...n-1] (none: the image's guest at its contract path). */
static int guest_set(struct options *opt, char **words, size_t n)
{
	struct buffer text = { 0 };

	if (opt->incus.image && n == 0) {
		/* [D2]: in an image, the guest is at its contract path. */
		opt->guest_argv = calloc(2, sizeof(char *));
		opt->guest_text = strdup(opt->incus.image);
		if (!opt->guest_argv || !opt->guest_text ||
		    !(opt->guest_argv[0] = strdup(PIKACI_GUEST_PATH)))
			return -ENOMEM;
		return 0;
	}
	if (n == 0) {
		fprintf(stderr,
		        "pikaci-conform: no guest given: pikaci-conform [OPTION...] -- GUEST "
		        "[ARG...]\n");
		return -EINVAL;
	}
	/* A wrapper is a host program: it cannot reach into an Incus instance. */
	if (pikaci_guest_argv_new(opt->incus.image ? NULL : getenv("PIKACI_GUEST_WRAPPER"), words,
	                          n, &opt->guest_argv) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (buffer_printf(&text, "%s%s", i > 0 ? " " : "", words[i]) < 0) {
			buffer_clear(&text);
			return -ENOMEM;
		}
	opt->guest_text = buffer_steal(&text, NULL);
	return opt->guest_text ? 0 : -ENOMEM;
}

int options_parse(int argc, char **argv, struct options *opt)
{
	bool profile_given = false;
	int c, r;

	r = options_defaults(argc, opt);
	if (r < 0)
		return r;
	while ((c = getopt_long(argc, argv, "+j:h", long_options, NULL)) != -1) {
		r = option_set(opt, c, optarg, &profile_given);
		if (r < 0)
			return r;
	}
	if (!profile_given)
		opt->profiles[PROFILE_CONTRACT] = opt->profiles[PROFILE_ROBUSTNESS] = true;
	if (opt->list || opt->lint || opt->coverage)
		return 0;
	r = incus_options_check(opt);
	if (r < 0)
		return r;
	return guest_set(opt, argv + optind, (size_t)(argc - optind));
}

void options_clear(struct options *opt)
{
	free(opt->filters);
	pikaci_guest_argv_free(opt->guest_argv);
	free(opt->guest_text);
}

bool options_select(const struct options *opt, const struct fixture *f)
{
	if (!opt->profiles[f->profile])
		return false;
	if (opt->n_filters == 0)
		return true;
	for (size_t i = 0; i < opt->n_filters; i++)
		if (fixture_matches(f, opt->filters[i]))
			return true;
	return false;
}
