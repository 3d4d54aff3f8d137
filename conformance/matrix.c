/* SPDX-License-Identifier: MIT */
/*
 * matrix.c - several guests in one run (--guest NAME=COMMAND, --incus-image ALIAS, each
 * repeatable): every guest runs the selected cases with its own report, then a case x guest
 * matrix and each guest's summary, in text or JSON.
 *
 * Each guest's run is schedule_guest()'s, with its report written to memory (or, for text on
 * standard output, as it goes); the JSON matrix report is the first guest's report with the
 * `guests` array and the `matrix` added, built from each guest's own JSON report.
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
	r = g->text ? 0 : -ENOMEM;
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
	if (opt->format == FORMAT_TAP || opt->format == FORMAT_JUNIT) {
		fprintf(stderr, "pikaci-conform: a matrix of guests is reported as text or json\n");
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
	}
	free(opt->guests);
	opt->guests = NULL;
	opt->n_guests = opt->guests_capacity = 0;
}

/* --- The run -------------------------------------------------------------------------------- */

/* What one guest left: its report (in memory unless it went to stdout), its statuses. */
struct matrix_column {
	const struct matrix_guest *guest;
	char *report;
	size_t report_length;
	struct guest_run run;
	char *keep; /* --keep DIR/NAME: each guest's bundles apart */
	int code;
};

/* A cell of the text matrix, as wide as its column's name (at least a status), no trailing blank.
 */
static void matrix_cell(FILE *out, const char *name, const char *text, bool last)
{
	int width = strlen(name) > 7 ? (int)strlen(name) : 7;

	if (last)
		fprintf(out, "  %s\n", text);
	else
		fprintf(out, "  %-*s", width, text);
}

/* The text matrix: a row per case that ran, a column per guest, then each guest's summary. */
static void report_matrix_text(FILE *out, const struct corpus *corpus,
                               const struct matrix_column *cols, size_t n)
{
	size_t id_width = 4, rows = 0;

	for (size_t i = 0; i < corpus->n_cases; i++) {
		bool ran = false;

		for (size_t g = 0; g < n; g++)
			ran = ran || cols[g].run.ran[i];
		if (ran && strlen(corpus->cases[i].id) > id_width)
			id_width = strlen(corpus->cases[i].id);
		rows += ran;
	}
	fprintf(out, "\nmatrix: %zu case(s) x %zu guest(s)\n%-*s", rows, n, (int)id_width, "case");
	for (size_t g = 0; g < n; g++)
		matrix_cell(out, cols[g].guest->name, cols[g].guest->name, g + 1 == n);
	for (size_t i = 0; i < corpus->n_cases; i++) {
		bool ran = false;

		for (size_t g = 0; g < n; g++)
			ran = ran || cols[g].run.ran[i];
		if (!ran)
			continue;
		fprintf(out, "%-*s", (int)id_width, corpus->cases[i].id);
		for (size_t g = 0; g < n; g++)
			matrix_cell(out, cols[g].guest->name,
			            cols[g].run.ran[i] ? case_status_name(cols[g].run.status[i])
			                               : "-",
			            g + 1 == n);
	}
	for (size_t g = 0; g < n; g++) {
		struct totals t = { 0 };
		char line[160];

		for (size_t i = 0; i < corpus->n_cases; i++)
			if (cols[g].run.ran[i])
				totals_add(&t, cols[g].run.status[i]);
		totals_line(&t, line, sizeof(line));
		fprintf(out, "guest %s: %s\n", cols[g].guest->name, line);
	}
}

/* The JSON matrix: {case id: {guest name: status}} for every case that ran. */
static json_t *report_matrix_json(const struct corpus *corpus, const struct matrix_column *cols,
                                  size_t n)
{
	json_t *matrix = json_object();

	for (size_t i = 0; matrix && i < corpus->n_cases; i++) {
		json_t *row = json_object();

		for (size_t g = 0; row && g < n; g++)
			if (cols[g].run.ran[i])
				json_object_set_new(
				        row, cols[g].guest->name,
				        json_string(case_status_name(cols[g].run.status[i])));
		if (row && json_object_size(row))
			json_object_set_new(matrix, corpus->cases[i].id, row);
		else
			json_decref(row);
	}
	return matrix;
}

/* The members of a guest's own JSON report that its entry in `guests` carries. */
static const char *const guest_members[] = {
	"guest", "transport", "guest_identity", "summary", "profiles", "cases",
};

/* The JSON matrix report: NULL when a guest's report is not JSON (said) or memory runs out. */
static json_t *matrix_document(const struct corpus *corpus, const struct matrix_column *cols,
                               size_t n)
{
	json_t *doc = NULL, *guests = json_array();

	for (size_t g = 0; guests && g < n; g++) {
		json_error_t error;
		json_t *own = json_loadb(cols[g].report ? cols[g].report : "",
		                         cols[g].report_length, 0, &error);
		json_t *entry = json_pack("{s:s}", "name", cols[g].guest->name);

		if (!own || !entry) {
			fprintf(stderr, "pikaci-conform: guest %s left no JSON report: %s\n",
			        cols[g].guest->name, error.text);
			json_decref(own);
			json_decref(entry);
			json_decref(guests);
			json_decref(doc);
			return NULL;
		}
		for (size_t k = 0; k < ELEMENTSOF(guest_members); k++)
			if (json_object_get(own, guest_members[k]))
				json_object_set(entry, guest_members[k],
				                json_object_get(own, guest_members[k]));
		json_array_append_new(guests, entry);
		if (g == 0)
			doc = own; /* the top level is the first guest's */
		else
			json_decref(own);
	}
	if (!doc || !guests) {
		json_decref(guests);
		json_decref(doc);
		return NULL;
	}
	json_object_set_new(doc, "guests", guests);
	json_object_set_new(doc, "matrix", report_matrix_json(corpus, cols, n));
	return doc;
}

/* Writes the matrix report to --output or stdout: 0 or EXIT_REPORT_FAILED / EXIT_USAGE (said). */
static int matrix_report(const struct options *opt, const struct corpus *corpus,
                         const struct matrix_column *cols, size_t n)
{
	FILE *out = opt->output ? fopen(opt->output, "w") : stdout;
	int code = 0;

	if (!out) {
		fprintf(stderr, "pikaci-conform: cannot write %s: %s\n", opt->output,
		        strerror(errno));
		return EXIT_USAGE;
	}
	if (opt->format == FORMAT_JSON) {
		json_t *doc = matrix_document(corpus, cols, n);
		char *text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;

		if (text)
			fprintf(out, "%s\n", text);
		else
			code = EXIT_REPORT_FAILED;
		free(text);
		json_decref(doc);
	} else {
		for (size_t g = 0; g < n; g++)
			if (cols[g].report)
				fwrite(cols[g].report, 1, cols[g].report_length, out);
		report_matrix_text(out, corpus, cols, n);
		if (opt->output)
			report_matrix_text(stdout, corpus, cols, n);
	}
	if (fflush(out) != 0 || ferror(out) || (out != stdout && fclose(out) != 0)) {
		fprintf(stderr, "pikaci-conform: cannot write the report to %s\n",
		        opt->output ? opt->output : "stdout");
		code = EXIT_REPORT_FAILED;
	}
	return code;
}

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

/* The options of one guest's run: opt's, with its command, transport and no --output. */
static struct options guest_options(const struct options *opt, const struct matrix_guest *g)
{
	struct options own = *opt;

	own.guest_argv = g->argv;
	own.guest_text = g->text;
	own.incus.image = g->image;
	own.output = NULL;
	own.matrix = false;
	return own;
}

/* One guest's cases. Its exit code; the column filled. */
static int matrix_run_guest(const struct options *opt, const struct corpus *corpus,
                            struct matrix_column *col)
{
	struct options own = guest_options(opt, col->guest);
	bool to_stdout = opt->format == FORMAT_TEXT && !opt->output;

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

	col->run.out = to_stdout ? stdout : open_memstream(&col->report, &col->report_length);
	col->run.progress = opt->output != NULL;
	if (!col->run.out)
		return EXIT_HARNESS;
	return schedule_guest(&own, corpus, &col->run);
}

int matrix_run(const struct options *opt, const struct corpus *corpus,
               int (*probe)(const struct options *))
{
	struct matrix_column *cols = calloc(opt->n_guests, sizeof(*cols));
	int code = 0;

	if (!cols)
		return EXIT_HARNESS;
	/* Every guest's transport is tried before any case runs: one clear error, at once. */
	for (size_t g = 0; g < opt->n_guests; g++) {
		struct options own = guest_options(opt, &opt->guests[g]);

		code = probe(&own);
		if (code != 0) {
			free(cols);
			return code;
		}
	}
	for (size_t g = 0; g < opt->n_guests; g++) {
		cols[g].guest = &opt->guests[g];
		cols[g].code = matrix_run_guest(opt, corpus, &cols[g]);
		/* A usage error or a machine that cannot run cases ends the run: said already. */
		if (cols[g].code == EXIT_USAGE || cols[g].code == EXIT_CANNOT_SANDBOX ||
		    !cols[g].run.ran) {
			code = cols[g].code ? cols[g].code : EXIT_HARNESS;
			break;
		}
	}
	if (code == 0) {
		code = matrix_report(opt, corpus, cols, opt->n_guests);
		if (code == 0)
			code = matrix_code(cols, opt->n_guests);
	}
	for (size_t g = 0; g < opt->n_guests; g++) {
		free(cols[g].report);
		free(cols[g].run.status);
		free(cols[g].run.ran);
		free(cols[g].keep);
	}
	free(cols);
	return code;
}
