/* SPDX-License-Identifier: MIT */
/* options.c - pikaci-conform's command line: the options, their bounds and the usage text. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "corpus-path.h"
#include "pikaci-contract.h"
#include "runner.h"
#include "shared.h"

/* clang-format off */
static const char usage_text[] =
	"usage: pikaci-conform [OPTION...] -- GUEST [ARG...]\n"
	"       pikaci-conform [OPTION...] --incus-image ALIAS [--socket PATH | --url URL\n"
	"                      --cert FILE --key FILE [--ca FILE] | --remote NAME]\n"
	"                      [--instance-type T] [--target MEMBER...]\n"
	"                      [--instance-config KEY=VALUE...]\n"
	"                      [--incus-isolation overlay|container] [-- GUEST [ARG...]]\n"
	"       pikaci-conform [OPTION...] --guest NAME=COMMAND... [--incus-image ALIAS...]\n"
	"       pikaci-conform --lint | --list | --coverage-report [--fixtures DIR]\n"
	"       pikaci-conform compare [--format text|json] BASE.json HEAD.json\n"
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
	"  --report FORMAT:FILE  write a report in FORMAT (text, tap, junit, json, jsonl or\n"
	"                      markdown) to FILE (- for stdout), put in place whole at the\n"
	"                      end; repeatable: several reports from one run. Without a report\n"
	"                      on stdout, the text lines still go there\n"
	"  --format FORMAT     one of those formats for --output (default: text); --list and\n"
	"                      --coverage-report take text or json\n"
	"  --output FILE       write that report to FILE (- for stdout)\n"
	"  --expect FILE       lines \"CASE fail|skip|pass REASON\" (CASE may be a glob; the last\n"
	"                      matching line wins): known failures and skips. A listed failure\n"
	"                      that passes is an unexpected pass (xpass) and fails the run;\n"
	"                      a regular file of at most 1 MiB\n"
	"  --keep DIR          a repro bundle per failing case: request, expectation, the\n"
	"                      guest's files and output, verdict.txt and replay.sh\n";
/* The rest of the text (ISO C's longest string literal is 4095 bytes). */
static const char usage_more[] =
	"  --incus-image ALIAS validate a guest image: each case sees a fresh, unmodified image\n"
	"                      ALIAS, the guest run at its contract path (or GUEST, inside it);\n"
	"                      repeatable: each image a guest of the matrix, named ALIAS\n"
	"  --guest NAME=COMMAND  a guest of a matrix run (COMMAND split on spaces and tabs);\n"
	"                      repeatable: every guest runs the selected cases, then a case x\n"
	"                      guest matrix (text, markdown, json or jsonl; not tap or junit);\n"
	"                      --expect applies to each guest\n"
	"  --repeat N          run each case N times (1 to 100); a case whose verdict changes\n"
	"                      is flaky\n"
	"  --shard I/N         only shard I of N (1 <= I <= N <= 1000): a stable share of the\n"
	"                      cases by a hash of their id; the N shards together are the whole\n"
	"  --update-expect FILE  write FILE, the --expect file that expects this run's failures\n"
	"                      (fail, timeout: fail; flaky: skip), replaced whole\n"
	"  --socket PATH       Incus's unix socket (default /var/lib/incus/unix.socket)\n"
	"  --url URL           or a remote Incus over HTTPS, with --cert, --key and --ca\n"
	"  --project NAME      the Incus project\n";

/* And the Incus options and the end, a third string for the same reason. */
static const char usage_incus_and_more[] =
	PIKACI_INCUS_USAGE
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
	"2 usage error; 3 nothing failed but some case is flaky (--repeat); 4 the report\n"
	"could not be written (e.g. a full disk); 77 cannot sandbox here (needs root and\n"
	"overlayfs); 99 harness failure.\n";
/* clang-format on */

static void usage(FILE *out)
{
	fprintf(out, usage_text, corpus_default_path());
	fputs(usage_more, out);
	fputs(usage_incus_and_more, out);
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
	OPT_REPORT,
	OPT_EXPECT,
	OPT_KEEP,
	OPT_CHECK_REASON,
	OPT_LIST,
	OPT_LINT,
	OPT_COVERAGE,
	OPT_VERSION,
	OPT_INCUS_IMAGE,
	OPT_REPEAT,
	OPT_SHARD,
	OPT_UPDATE_EXPECT,
	OPT_GUEST,
	OPT_INCUS_BASE, /* the Incus options: OPT_INCUS_BASE + 0 ... (transport.h), last */
};

static const struct option long_options[] = {
	{ "incus-image", required_argument, NULL, OPT_INCUS_IMAGE },
	PIKACI_INCUS_GETOPT(OPT_INCUS_BASE),
	{ "fixtures", required_argument, NULL, OPT_FIXTURES },
	{ "profile", required_argument, NULL, OPT_PROFILE },
	{ "filter", required_argument, NULL, OPT_FILTER },
	{ "jobs", required_argument, NULL, 'j' },
	{ "case-timeout", required_argument, NULL, OPT_CASE_TIMEOUT },
	{ "time-scale", required_argument, NULL, OPT_TIME_SCALE },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "output", required_argument, NULL, OPT_OUTPUT },
	{ "report", required_argument, NULL, OPT_REPORT },
	{ "expect", required_argument, NULL, OPT_EXPECT },
	{ "keep", required_argument, NULL, OPT_KEEP },
	{ "check-reason", no_argument, NULL, OPT_CHECK_REASON },
	{ "list", no_argument, NULL, OPT_LIST },
	{ "lint", no_argument, NULL, OPT_LINT },
	{ "coverage-report", no_argument, NULL, OPT_COVERAGE },
	{ "repeat", required_argument, NULL, OPT_REPEAT },
	{ "shard", required_argument, NULL, OPT_SHARD },
	{ "update-expect", required_argument, NULL, OPT_UPDATE_EXPECT },
	{ "guest", required_argument, NULL, OPT_GUEST },
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
	{ OPT_UPDATE_EXPECT, offsetof(struct options, update_expect), false },
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
		fprintf(stderr, "pikaci-conform: -j takes a number from 1 to 1024, not \"%s\"\n",
		        arg);
		return -EINVAL;
	}
	return 0;
}

static const char format_names_text[] = "text, tap, junit, json, jsonl or markdown";

static int format_set(struct options *opt, const char *arg)
{
	if (report_format_parse(arg, &opt->format) < 0) {
		fprintf(stderr, "pikaci-conform: --format is %s, not \"%s\"\n", format_names_text,
		        arg);
		return -EINVAL;
	}
	opt->format_given = true;
	return 0;
}

/* --report FORMAT:FILE, FILE "-" for stdout: 0 or -EINVAL (said). */
static int report_add(struct options *opt, char *arg)
{
	char *colon = strchr(arg, ':');
	struct report_target *t = &opt->reports[opt->n_reports];

	if (!colon || colon == arg || !colon[1]) {
		fprintf(stderr, "pikaci-conform: --report takes FORMAT:FILE, not \"%s\"\n", arg);
		return -EINVAL;
	}
	*colon = '\0';
	if (report_format_parse(arg, &t->format) < 0) {
		fprintf(stderr, "pikaci-conform: --report: \"%s\" is not a format (%s)\n", arg,
		        format_names_text);
		return -EINVAL;
	}
	t->path = strcmp(colon + 1, "-") == 0 ? NULL : colon + 1;
	opt->n_reports++;
	return 0;
}

/*
 * --format and --output become one more report, and at most one report is written on stdout
 * (two would interleave): 0 or -EINVAL (said).
 */
static int reports_check(struct options *opt)
{
	size_t on_stdout = 0;

	if (opt->format_given || opt->output)
		opt->reports[opt->n_reports++] = (struct report_target){
			opt->format,
			opt->output && strcmp(opt->output, "-") != 0 ? opt->output : NULL
		};
	for (size_t i = 0; i < opt->n_reports; i++) {
		on_stdout += opt->reports[i].path == NULL;
		for (size_t k = 0; opt->reports[i].path && k < i; k++)
			if (opt->reports[k].path &&
			    strcmp(opt->reports[i].path, opt->reports[k].path) == 0) {
				fprintf(stderr, "pikaci-conform: two reports to %s\n",
				        opt->reports[i].path);
				return -EINVAL;
			}
	}
	if (on_stdout > 1) {
		fprintf(stderr, "pikaci-conform: %zu reports on stdout: give all but one a FILE\n",
		        on_stdout);
		return -EINVAL;
	}
	return 0;
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
	case OPT_CASE_TIMEOUT:
		return seconds_parse("--case-timeout", arg, CASE_TIMEOUT_MAX, &opt->case_timeout);
	case OPT_TIME_SCALE:
		return seconds_parse("--time-scale", arg, TIME_SCALE_MAX, &opt->time_scale);
	case OPT_FORMAT:
		return format_set(opt, arg);
	case OPT_REPORT:
		return report_add(opt, arg);
	case OPT_REPEAT:
		return repeat_parse(opt, arg);
	case OPT_SHARD:
		return shard_parse(opt, arg);
	case OPT_GUEST:
		return matrix_guest_add(opt, arg);
	case OPT_INCUS_IMAGE:
		return matrix_image_add(opt, arg);
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
		return -EINVAL; /* getopt_long()'s '?' and ':' are said by option_problem() */
	}
}

/* 0 when path is an executable regular file, else -ENOENT or -EACCES. */
static int executable_at(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -ENOENT;
	return S_ISREG(st.st_mode) && access(path, X_OK) == 0 ? 0 : -EACCES;
}

/* program as execvp() would find it: 0, -ENOENT (none) or -EACCES (not an executable file). */
static int executable_find(const char *program)
{
	char *path = program_find(program);
	int r = path ? executable_at(path) : errno == EACCES ? -EACCES : -ENOENT;

	free(path);
	return r;
}

/*
 * The guest's first word (the wrapper's, when PIKACI_GUEST_WRAPPER has one) is an executable:
 * said once here rather than by every case. 0, or -ENOENT/-EACCES (said).
 */
static int guest_check(char *const *argv, const char *image)
{
	const char *wrapper = getenv("PIKACI_GUEST_WRAPPER");
	const char *program = argv[0];
	int r;

	if (image)
		return 0; /* the guest is inside the image */
	r = executable_find(program);
	if (r < 0)
		fprintf(stderr, "pikaci-conform: cannot run the %s \"%s\": %s; no case was run\n",
		        wrapper && wrapper[strspn(wrapper, " \t")] ? "guest wrapper" : "guest",
		        program,
		        r == -EACCES           ? "not an executable file"
		        : strchr(program, '/') ? "no such file"
		                               : "not found in PATH");
	return r;
}

/* A usage error was said: one line on where to look, as other tools do. Returns r. */
static int usage_hint(int r)
{
	if (r == -EINVAL)
		fprintf(stderr, "Try 'pikaci-conform --help' for more information.\n");
	return r;
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
	opt->repeat = 1;
	if (scale &&
	    seconds_parse("PIKACI_TIME_SCALE", scale, TIME_SCALE_MAX, &opt->time_scale) < 0)
		return -EINVAL;
	opt->filters = calloc((size_t)argc + 1, sizeof(*opt->filters));
	opt->reports = calloc((size_t)argc + 1, sizeof(*opt->reports));
	return opt->filters && opt->reports ? 0 : -ENOMEM;
}

/* The connection options go with --incus-image, and together: 0 or -EINVAL (said). */
static int incus_options_check(const struct options *opt)
{
	if (pikaci_incus_options_given(&opt->incus) && !opt->incus.image) {
		fprintf(stderr, "pikaci-conform: %s goes with --incus-image\n",
		        pikaci_incus_option_given_name(&opt->incus));
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
	opt->guest_command = words[0];
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
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:j:h", long_options, NULL)) != -1) {
		r = c == '?' || c == ':' ? option_problem("pikaci-conform", c, argv)
		                         : option_set(opt, c, optarg, &profile_given);
		if (r < 0)
			return usage_hint(r);
	}
	if (!profile_given)
		opt->profiles[PROFILE_CONTRACT] = opt->profiles[PROFILE_ROBUSTNESS] = true;
	r = reports_check(opt);
	if (r < 0)
		return usage_hint(r);
	if (opt->list || opt->lint || opt->coverage)
		return 0;
	r = incus_options_check(opt);
	if (r == 0)
		r = matrix_options_check(opt, argv + optind, (size_t)(argc - optind));
	if (r == 0 && !opt->matrix)
		r = guest_set(opt, argv + optind, (size_t)(argc - optind));
	if (r < 0)
		return usage_hint(r);
	if (!opt->matrix)
		return guest_check(opt->guest_argv, opt->incus.image);
	for (size_t i = 0; i < opt->n_guests; i++) {
		r = guest_check(opt->guests[i].argv, opt->guests[i].image);
		if (r < 0)
			return r;
	}
	return 0;
}

void options_clear(struct options *opt)
{
	free(opt->filters);
	free(opt->reports);
	pikaci_guest_argv_free(opt->guest_argv);
	free(opt->guest_text);
	matrix_guests_clear(opt);
}

bool options_select(const struct options *opt, const struct fixture *f)
{
	if (!opt->profiles[f->profile] || !shard_selects(opt, f->id))
		return false;
	if (opt->n_filters == 0)
		return true;
	for (size_t i = 0; i < opt->n_filters; i++)
		if (fixture_matches(f, opt->filters[i]))
			return true;
	return false;
}
