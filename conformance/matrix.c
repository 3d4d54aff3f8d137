/* SPDX-License-Identifier: MIT */
/*
 * matrix.c - several guests in one run (--guest NAME=COMMAND, --incus-image ALIAS, each
 * repeatable): every guest runs the selected cases, then a case x guest matrix and each guest's
 * summary, in text, Markdown, JSON or JSON Lines.
 *
 * The reports are opened once and shared: each guest's run is schedule_guest()'s, writing its
 * text lines and JSON Lines as its cases finish and handing its results back; at the end
 * report_matrix_end() writes what covers every guest (report.c and its writers).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pikaci-contract.h"
#include "runner.h"
#include "shared.h"

/* The longest guest name: it heads a column of the matrix. */
#define GUEST_NAME_MAX 64

/* A name is letters, digits, '.', '_' and '-', so it reads as a column and a JSON key. */
static bool name_valid(const char *name, size_t length)
{
	if (length == 0 || length > GUEST_NAME_MAX)
		return false;
	for (size_t i = 0; i < length; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
		            name[i]))
			return false;
	return true;
}

/* A new guest named name (length bytes), unique: the entry, or NULL (said, or out of memory). */
static struct matrix_guest *guest_new(struct options *opt, const char *name, size_t length,
                                      const char *option)
{
	struct matrix_guest *g;

	if (!name_valid(name, length)) {
		fprintf(stderr,
		        "pikaci-conform: %s: the guest name \"%.*s\" is not 1 to %d letters, "
		        "digits, "
		        "'.', '_' or '-'\n",
		        option, (int)(length > 200 ? 200 : length), name, GUEST_NAME_MAX);
		return NULL;
	}
	for (size_t i = 0; i < opt->n_guests; i++)
		if (strlen(opt->guests[i].name) == length &&
		    strncmp(opt->guests[i].name, name, length) == 0) {
			fprintf(stderr, "pikaci-conform: %s: a second guest named \"%.*s\"\n",
			        option, (int)length, name);
			return NULL;
		}
	if (ARRAY_GROW(opt->guests, opt->guests_capacity, opt->n_guests + 1) < 0)
		return NULL;
	g = &opt->guests[opt->n_guests];
	*g = (struct matrix_guest){ .name = strndup(name, length) };
	if (!g->name)
		return NULL;
	opt->n_guests++;
	return g;
}

int matrix_guest_add(struct options *opt, const char *arg)
{
	const char *equals = strchr(arg, '=');
	struct matrix_guest *g;
	char *copy = NULL, **words = NULL;
	size_t n = 0;
	int r = -ENOMEM;

	if (!equals) {
		fprintf(stderr, "pikaci-conform: --guest takes NAME=COMMAND, not \"%s\"\n", arg);
		return -EINVAL;
	}
	g = guest_new(opt, arg, (size_t)(equals - arg), "--guest");
	if (!g)
		return -EINVAL;
	copy = strdup(equals + 1);
	words = calloc(strlen(equals + 1) / 2 + 2, sizeof(*words));
	if (!copy || !words)
		goto out;
	for (char *save = NULL, *w = strtok_r(copy, " \t", &save); w;
	     w = strtok_r(NULL, " \t", &save))
		words[n++] = w;
	if (n == 0) {
		fprintf(stderr, "pikaci-conform: --guest %s: no command after the '='\n", arg);
		r = -EINVAL;
		goto out;
	}
	if (pikaci_guest_argv_new(getenv("PIKACI_GUEST_WRAPPER"), words, n, &g->argv) < 0)
		goto out;
	g->text = strdup(equals + 1 + strspn(equals + 1, " \t"));
	g->command = strdup(words[0]);
	r = g->text && g->command ? 0 : -ENOMEM;
out:
	free(words);
	free(copy);
	return r;
}

int matrix_image_add(struct options *opt, const char *alias)
{
	struct matrix_guest *g = guest_new(opt, alias, strlen(alias), "--incus-image");

	if (!g)
		return -EINVAL;
	g->image = alias;
	/* The first image is the one a single-guest run, the probe and the reaper use. */
	if (!opt->incus.image)
		opt->incus.image = alias;
	return 0;
}

/* An image guest's command: words inside the image, or the guest at its contract path. */
static int image_command_set(struct matrix_guest *g, char **words, size_t n)
{
	char *contract_path[] = { PIKACI_GUEST_PATH };
	struct buffer text = { 0 };

	if (pikaci_guest_argv_new(NULL, n ? words : contract_path, n ? n : 1, &g->argv) < 0)
		return -ENOMEM;
	if (n == 0)
		return (g->text = strdup(g->image)) ? 0 : -ENOMEM;
	if (!(g->command = strdup(words[0])))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (buffer_printf(&text, "%s%s", i > 0 ? " " : "", words[i]) < 0) {
			buffer_clear(&text);
			return -ENOMEM;
		}
	g->text = buffer_steal(&text, NULL);
	return g->text ? 0 : -ENOMEM;
}

int matrix_options_check(struct options *opt, char **words, size_t n)
{
	size_t n_images = 0;

	for (size_t i = 0; i < opt->n_guests; i++)
		n_images += opt->guests[i].image != NULL;
	opt->matrix = opt->n_guests > n_images || n_images > 1;
	if (!opt->matrix)
		return 0;
	if (n > 0 && n_images == 0) {
		fprintf(stderr, "pikaci-conform: with --guest, name every guest with --guest "
		                "NAME=COMMAND (a command after -- is for --incus-image)\n");
		return -EINVAL;
	}
	for (size_t i = 0; i < opt->n_reports; i++)
		if (opt->reports[i].format == FORMAT_TAP ||
		    opt->reports[i].format == FORMAT_JUNIT) {
			fprintf(stderr,
			        "pikaci-conform: a matrix of guests is reported as text, json, "
			        "jsonl "
			        "or markdown, not %s\n",
			        report_format_name(opt->reports[i].format));
			return -EINVAL;
		}
	if (opt->update_expect) {
		fprintf(stderr, "pikaci-conform: --update-expect takes one guest, not a matrix\n");
		return -EINVAL;
	}
	for (size_t i = 0; i < opt->n_guests; i++)
		if (opt->guests[i].image && image_command_set(&opt->guests[i], words, n) < 0)
			return -ENOMEM;
	return 0;
}

void matrix_guests_clear(struct options *opt)
{
	for (size_t i = 0; i < opt->n_guests; i++) {
		free(opt->guests[i].name);
		pikaci_guest_argv_free(opt->guests[i].argv);
		free(opt->guests[i].text);
		free(opt->guests[i].command);
	}
	free(opt->guests);
	opt->guests = NULL;
	opt->n_guests = opt->guests_capacity = 0;
}

/* --- The run -------------------------------------------------------------------------------- */

/* What one guest left: its run (identity, results) and exit code. */
struct matrix_column {
	const struct matrix_guest *guest;
	struct guest_run run;
	char *keep; /* --keep DIR/NAME: each guest's bundles apart */
	int code;
};

/* The run's exit code from the guests': a harness error, a lost report, a failure, a flake. */
static int matrix_code(const struct matrix_column *cols, size_t n)
{
	static const int order[] = { EXIT_HARNESS, EXIT_REPORT_FAILED, EXIT_SOME_FAILED,
		                     EXIT_FLAKY };

	for (size_t k = 0; k < ELEMENTSOF(order); k++)
		for (size_t g = 0; g < n; g++)
			if (cols[g].code == order[k])
				return order[k];
	return EXIT_ALL_AS_EXPECTED;
}

/* The options of one guest's run: opt's, with its command and transport. */
static struct options guest_options(const struct options *opt, const struct matrix_guest *g)
{
	struct options own = *opt;

	own.guest_argv = g->argv;
	own.guest_text = g->text;
	own.guest_command = g->command;
	own.incus.image = g->image;
	own.matrix = false;
	return own;
}

/* One guest's cases. Its exit code; the column filled. */
static int matrix_run_guest(const struct options *opt, const struct corpus *corpus,
                            struct report *report, struct matrix_column *col)
{
	struct options own = guest_options(opt, col->guest);
	char **pool = NULL;
	int code;

	if (opt->keep) {
		struct buffer keep = { 0 };

		/* bundle.c makes the last folder; a bundle that cannot be made is said there. */
		if (mkdir(opt->keep, 0755) < 0 && errno != EEXIST)
			fprintf(stderr, "pikaci-conform: cannot make %s (--keep): %s\n", opt->keep,
			        strerror(errno));
		if (buffer_printf(&keep, "%s/%s", opt->keep, col->guest->name) < 0)
			return EXIT_HARNESS;
		own.keep = col->keep = buffer_steal(&keep, NULL);
	}
	col->run.report = report;
	col->run.identity.name = col->guest->name;
	/* An image guest's own pool of instances, as a single-image run has. */
	code = incus_pool_start(&own, &pool);
	if (code == 0)
		code = schedule_guest(&own, corpus, &col->run);
	pikaci_incus_pool_free(&own.incus, pool);
	return code;
}

static void matrix_column_clear(struct matrix_column *col)
{
	for (size_t i = 0; i < col->run.n_results; i++) {
		json_decref(col->run.results[i].detail);
		free(col->run.results[i].expectation);
	}
	free(col->run.results);
	report_run_clear(&col->run.identity);
	free(col->keep);
}

/* The reports that cover every guest, once each guest ran: 0 or EXIT_HARNESS. */
static int matrix_report_end(struct report *report, const struct corpus *corpus,
                             const struct matrix_column *cols, size_t n)
{
	struct report_column *columns = calloc(n, sizeof(*columns));

	if (!columns)
		return EXIT_HARNESS;
	for (size_t g = 0; g < n; g++)
		columns[g] = (struct report_column){ cols[g].guest->name, &cols[g].run.identity,
			                             cols[g].run.results, cols[g].run.n_results };
	report_matrix_end(report, corpus, columns, n);
	free(columns);
	return 0;
}

int matrix_run(const struct options *opt, const struct corpus *corpus,
               int (*probe)(const struct options *))
{
	struct matrix_column *cols = calloc(opt->n_guests, sizeof(*cols));
	struct report report = { .matrix = true };
	size_t ran = 0;
	int code = 0;

	if (!cols)
		return EXIT_HARNESS;
	/* Every guest's transport is tried before any case runs: one clear error, at once. */
	for (size_t g = 0; g < opt->n_guests && code == 0; g++) {
		struct options own = guest_options(opt, &opt->guests[g]);

		code = probe(&own);
	}
	if (code == 0 && report_open(&report, opt->reports, opt->n_reports) < 0)
		code = EXIT_USAGE;
	for (size_t g = 0; code == 0 && g < opt->n_guests; g++) {
		cols[g].guest = &opt->guests[g];
		cols[g].code = matrix_run_guest(opt, corpus, &report, &cols[g]);
		ran++;
		/* A usage error or a machine that cannot run cases ends the run: said already. */
		if (cols[g].code == EXIT_USAGE || cols[g].code == EXIT_CANNOT_SANDBOX ||
		    !cols[g].run.results)
			code = cols[g].code ? cols[g].code : EXIT_HARNESS;
	}
	if (code == 0)
		code = matrix_report_end(&report, corpus, cols, opt->n_guests);
	if (code == 0)
		code = matrix_code(cols, opt->n_guests);
	/* A lost report must not pass for a run that passed (or failed). */
	if (report_finish(&report) < 0 && code != EXIT_USAGE && code != EXIT_HARNESS)
		code = EXIT_REPORT_FAILED;
	for (size_t g = 0; g < ran; g++)
		matrix_column_clear(&cols[g]);
	free(cols);
	return code;
}
