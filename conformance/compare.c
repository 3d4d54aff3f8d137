/* SPDX-License-Identifier: MIT */
/*
 * compare.c - pikaci-conform compare BASE.json HEAD.json: what changed between two JSON
 * reports (the pre-merge check of a guest change: run the candidate, compare with the accepted
 * baseline). Regressions, fixes, other status changes, new and removed cases, per guest of a
 * matrix by name, and the clauses the corpus covers in one report but not the other.
 *
 * A report is untrusted input: read with a size cap, and every member this file reads is
 * type-checked first; a malformed report is named with the JSON path of the first problem.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report-private.h"
#include "runner.h"
#include "shared.h"

/* The largest report read: a full corpus with every check is a few MiB. */
#define COMPARE_FILE_MAX (64u << 20)
/* The report versions understood: 1 (no report_version member) and 2. */
#define REPORT_VERSION_MAX 2

#define EXIT_REGRESSION 1

/* --- Reading a report ----------------------------------------------------------------------- */

struct side {
	FILE *errors; /* where a malformed report is said */
	const char *path;
	json_t *doc;
	long version;
};

/* Says what is wrong at a JSON path of a report; -EINVAL. */
static int malformed(const struct side *s, const char *where, const char *what)
{
	fprintf(s->errors, "pikaci-conform compare: %s: malformed report at %s: %s\n", s->path,
	        where, what);
	return -EINVAL;
}

/* The statuses a case can have. */
static bool status_known(const char *status)
{
	static const char *const names[] = { "pass",  "fail",  "timeout", "skip",
		                             "xfail", "xpass", "error",   "flaky" };

	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (strcmp(status, names[i]) == 0)
			return true;
	return false;
}

/* Whether a status is one a run passes with (BASE's side of a regression). */
static bool status_good(const char *status)
{
	return strcmp(status, "pass") == 0 || strcmp(status, "xfail") == 0 ||
	       strcmp(status, "skip") == 0;
}

/* Member name of o, if present, has the JSON type wanted: 0 or -EINVAL (said). */
static int member_check(const struct side *s, json_t *o, const char *where, const char *name,
                        json_type type, bool required)
{
	static const char *const type_names[] = {
		[JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array",
		[JSON_STRING] = "a string",  [JSON_INTEGER] = "an integer",
		[JSON_REAL] = "a number",    [JSON_TRUE] = "a boolean",
		[JSON_FALSE] = "a boolean",  [JSON_NULL] = "null",
	};
	json_t *v = json_object_get(o, name);
	char path[512], what[32];

	snprintf(path, sizeof(path), "%s.%s", where, name);
	if (!v)
		return required ? malformed(s, path, "missing") : 0;
	if (type == JSON_TRUE   ? !json_is_boolean(v)
	    : type == JSON_REAL ? !json_is_number(v)
	                        : json_typeof(v) != type) {
		snprintf(what, sizeof(what), "must be %s", type_names[type]);
		return malformed(s, path, what);
	}
	return 0;
}

/* An array of strings at o.name, if present: 0 or -EINVAL. */
static int strings_check(const struct side *s, json_t *o, const char *where, const char *name)
{
	json_t *v;
	size_t i;

	if (member_check(s, o, where, name, JSON_ARRAY, false) < 0)
		return -EINVAL;
	json_array_foreach(json_object_get(o, name), i, v) if (!json_is_string(v))
	{
		char path[512];

		snprintf(path, sizeof(path), "%s.%s[%zu]", where, name, i);
		return malformed(s, path, "must be a string");
	}
	return 0;
}

/* The cases array at where: objects with a unique id and a known status. */
static int cases_check(const struct side *s, json_t *cases, const char *where)
{
	json_t *seen = json_object(), *c;
	size_t i;
	int r = 0;

	if (!seen)
		return -ENOMEM;
	json_array_foreach(cases, i, c)
	{
		char path[256];
		const char *id, *status;

		snprintf(path, sizeof(path), "%s[%zu]", where, i);
		if (!json_is_object(c)) {
			r = malformed(s, path, "must be an object");
			break;
		}
		if (member_check(s, c, path, "id", JSON_STRING, true) < 0 ||
		    member_check(s, c, path, "status", JSON_STRING, true) < 0 ||
		    member_check(s, c, path, "message", JSON_STRING, false) < 0 ||
		    member_check(s, c, path, "failed_clause", JSON_STRING, false) < 0 ||
		    member_check(s, c, path, "profile", JSON_STRING, false) < 0 ||
		    member_check(s, c, path, "seconds", JSON_REAL, false) < 0 ||
		    strings_check(s, c, path, "clauses") < 0) {
			r = -EINVAL;
			break;
		}
		id = json_string_value(json_object_get(c, "id"));
		status = json_string_value(json_object_get(c, "status"));
		strncat(path, ".id", sizeof(path) - strlen(path) - 1);
		if (!*id || !text_is_valid(id, strlen(id))) {
			r = malformed(s, path, "a case id is a non-empty UTF-8 string");
			break;
		}
		if (json_object_get(seen, id)) {
			r = malformed(s, path, "a second case with this id");
			break;
		}
		json_object_set_new(seen, id, json_true());
		if (!status_known(status)) {
			path[strlen(path) - 3] = '\0';
			strncat(path, ".status", sizeof(path) - strlen(path) - 1);
			r = malformed(s, path,
			              "not a case status (pass, fail, timeout, skip, xfail, "
			              "xpass, error, flaky)");
			break;
		}
	}
	json_decref(seen);
	return r;
}

/* The coverage array: objects {clause: string, covered: boolean}. */
static int coverage_check(const struct side *s, json_t *coverage)
{
	json_t *c;
	size_t i;

	json_array_foreach(coverage, i, c)
	{
		char path[64];

		snprintf(path, sizeof(path), "$.coverage[%zu]", i);
		if (!json_is_object(c))
			return malformed(s, path, "must be an object");
		if (member_check(s, c, path, "clause", JSON_STRING, true) < 0 ||
		    member_check(s, c, path, "covered", JSON_TRUE, true) < 0)
			return -EINVAL;
	}
	return 0;
}

/* A summary: {status: count}, every count a whole number. */
static int summary_check(const struct side *s, json_t *summary, const char *where)
{
	const char *key;
	json_t *v;

	json_object_foreach(summary, key, v) if (!json_is_integer(v) || json_integer_value(v) < 0)
	{
		char path[320];

		snprintf(path, sizeof(path), "%s.%.200s", where, key);
		return malformed(s, path, "a count is a whole number");
	}
	return 0;
}

/* The matrix: {case id: {guest name: status}}. */
static int matrix_check(const struct side *s, json_t *matrix)
{
	const char *id, *guest;
	json_t *row, *v;

	json_object_foreach(matrix, id, row)
	{
		char path[320];

		snprintf(path, sizeof(path), "$.matrix.%.200s", id);
		if (!json_is_object(row))
			return malformed(s, path, "must be an object");
		json_object_foreach(row, guest, v) if (!json_is_string(v) ||
		                                       !status_known(json_string_value(v)))
		{
			snprintf(path, sizeof(path), "$.matrix.%.150s.%.64s", id, guest);
			return malformed(s, path, "not a case status");
		}
	}
	return 0;
}

/* A matrix report's guests: objects with a unique name and their cases. */
static int guests_check(const struct side *s, json_t *guests)
{
	json_t *g;
	size_t i;

	json_array_foreach(guests, i, g)
	{
		char path[64];
		const char *name;

		snprintf(path, sizeof(path), "$.guests[%zu]", i);
		if (!json_is_object(g))
			return malformed(s, path, "must be an object");
		if (member_check(s, g, path, "name", JSON_STRING, true) < 0 ||
		    member_check(s, g, path, "cases", JSON_ARRAY, true) < 0 ||
		    member_check(s, g, path, "summary", JSON_OBJECT, false) < 0 ||
		    member_check(s, g, path, "guest", JSON_STRING, false) < 0)
			return -EINVAL;
		strncat(path, ".summary", sizeof(path) - strlen(path) - 1);
		if (summary_check(s, json_object_get(g, "summary"), path) < 0)
			return -EINVAL;
		path[strlen(path) - strlen(".summary")] = '\0';
		name = json_string_value(json_object_get(g, "name"));
		for (size_t k = 0; k < i; k++)
			if (strcmp(name, json_string_value(json_object_get(
			                         json_array_get(guests, k), "name"))) == 0)
				return malformed(s, path, "a second guest with this name");
		strncat(path, ".cases", sizeof(path) - strlen(path) - 1);
		if (cases_check(s, json_object_get(g, "cases"), path) < 0)
			return -EINVAL;
	}
	return 0;
}

/* Parses and checks a report's bytes: 0 or -EINVAL (said). */
static int side_parse(struct side *s, const char *text, size_t length)
{
	json_error_t error;
	json_t *v;

	s->doc = json_loadb(text, length, JSON_REJECT_DUPLICATES, &error);
	if (!s->doc) {
		fprintf(s->errors,
		        "pikaci-conform compare: %s: not JSON (line %d, column %d): %s\n", s->path,
		        error.line, error.column, error.text);
		return -EINVAL;
	}
	if (!json_is_object(s->doc))
		return malformed(s, "$", "a report is a JSON object");
	if (member_check(s, s->doc, "$", "tool", JSON_STRING, true) < 0)
		return -EINVAL;
	if (strcmp(json_string_value(json_object_get(s->doc, "tool")), "pikaci-conform") != 0)
		return malformed(s, "$.tool", "not a pikaci-conform report");
	v = json_object_get(s->doc, "report_version");
	s->version = 1; /* reports before report_version */
	if (v && (!json_is_integer(v) || json_integer_value(v) < 1 ||
	          json_integer_value(v) > REPORT_VERSION_MAX))
		return malformed(s, "$.report_version",
		                 "this compare reads report versions 1 and 2 (an integer)");
	if (v)
		s->version = (long)json_integer_value(v);
	if (member_check(s, s->doc, "$", "cases", JSON_ARRAY, true) < 0 ||
	    member_check(s, s->doc, "$", "coverage", JSON_ARRAY, false) < 0 ||
	    member_check(s, s->doc, "$", "summary", JSON_OBJECT, false) < 0 ||
	    member_check(s, s->doc, "$", "guest", JSON_STRING, false) < 0 ||
	    member_check(s, s->doc, "$", "guests", JSON_ARRAY, false) < 0 ||
	    member_check(s, s->doc, "$", "matrix", JSON_OBJECT, false) < 0 ||
	    member_check(s, s->doc, "$", "version", JSON_STRING, false) < 0 ||
	    member_check(s, s->doc, "$", "transport", JSON_STRING, false) < 0 ||
	    member_check(s, s->doc, "$", "profiles", JSON_OBJECT, false) < 0)
		return -EINVAL;
	if (cases_check(s, json_object_get(s->doc, "cases"), "$.cases") < 0 ||
	    summary_check(s, json_object_get(s->doc, "summary"), "$.summary") < 0 ||
	    matrix_check(s, json_object_get(s->doc, "matrix")) < 0 ||
	    coverage_check(s, json_object_get(s->doc, "coverage")) < 0 ||
	    guests_check(s, json_object_get(s->doc, "guests")) < 0)
		return -EINVAL;
	return 0;
}

/* Reads and checks a report: 0, or -EINVAL / a read error (said). */
static int side_load(struct side *s)
{
	char *text = NULL;
	size_t length = 0;
	int r = read_file(s->path, COMPARE_FILE_MAX, &text, &length);

	if (r < 0) {
		fprintf(s->errors, "pikaci-conform compare: cannot read %s: %s\n", s->path,
		        r == -EFBIG ? "larger than 64 MiB" : read_file_error(r));
		return r;
	}
	r = side_parse(s, text, length);
	free(text);
	return r;
}

/* --- The comparison ------------------------------------------------------------------------- */

struct counts {
	size_t regressions, fixes, changed, added, removed, coverage;
};

/* {id: case} of a cases array (borrowed references). */
static json_t *cases_by_id(json_t *cases)
{
	json_t *index = json_object(), *c;
	size_t i;

	json_array_foreach(cases, i, c)
	        json_object_set(index, json_string_value(json_object_get(c, "id")), c);
	return index;
}

static const char *member_string(json_t *o, const char *name)
{
	const char *s = json_string_value(json_object_get(o, name));

	return s ? s : "";
}

/* Appends {id, base, head[, message]} to list. */
static void change_add(json_t *list, const char *id, json_t *base, json_t *head)
{
	json_t *o = json_pack("{s:s, s:s, s:s}", "id", id, "base", member_string(base, "status"),
	                      "head", member_string(head, "status"));

	if (o && *member_string(head, "message"))
		json_object_set_new(o, "message", json_string(member_string(head, "message")));
	json_array_append_new(list, o);
}

/* One guest's cases, BASE against HEAD: {name, regressions, fixes, changed, new, removed}. */
static json_t *cases_compare(const char *name, json_t *base_cases, json_t *head_cases,
                             struct counts *n)
{
	json_t *base = cases_by_id(base_cases), *head = cases_by_id(head_cases);
	json_t *regressions = json_array(), *fixes = json_array(), *changed = json_array();
	json_t *added = json_array(), *removed = json_array(), *c;
	size_t i;

	json_array_foreach(base_cases, i, c)
	{
		const char *id = member_string(c, "id");
		json_t *h = json_object_get(head, id);
		const char *was = member_string(c, "status");

		if (!h) {
			json_array_append_new(removed,
			                      json_pack("{s:s, s:s}", "id", id, "status", was));
			continue;
		}
		if (strcmp(was, member_string(h, "status")) == 0)
			continue;
		if (status_good(was) && !status_good(member_string(h, "status")))
			change_add(regressions, id, c, h);
		else if (!status_good(was) && status_good(member_string(h, "status")))
			change_add(fixes, id, c, h);
		else
			change_add(changed, id, c, h);
	}
	json_array_foreach(head_cases, i, c) if (!json_object_get(base, member_string(c, "id")))
	        json_array_append_new(added, json_pack("{s:s, s:s}", "id", member_string(c, "id"),
	                                               "status", member_string(c, "status")));
	n->regressions += json_array_size(regressions);
	n->fixes += json_array_size(fixes);
	n->changed += json_array_size(changed);
	n->added += json_array_size(added);
	n->removed += json_array_size(removed);
	json_decref(base);
	json_decref(head);
	return json_pack("{s:o?, s:o, s:o, s:o, s:o, s:o}", "name", name ? json_string(name) : NULL,
	                 "regressions", regressions, "fixes", fixes, "changed", changed, "new",
	                 added, "removed", removed);
}

/* {clause: covered} of a report's coverage. */
static json_t *coverage_by_clause(json_t *doc)
{
	json_t *index = json_object(), *c;
	size_t i;

	json_array_foreach(json_object_get(doc, "coverage"), i, c)
	        json_object_set_new(index, member_string(c, "clause"),
	                            json_boolean(json_is_true(json_object_get(c, "covered"))));
	return index;
}

/* The clauses covered in one report and not the other (or present in only one). */
static json_t *coverage_compare(json_t *base_doc, json_t *head_doc, struct counts *n)
{
	json_t *base = coverage_by_clause(base_doc), *head = coverage_by_clause(head_doc);
	json_t *covered = json_array(), *uncovered = json_array(), *added = json_array();
	json_t *removed = json_array(), *v;
	const char *clause;

	json_object_foreach(base, clause, v)
	{
		json_t *h = json_object_get(head, clause);

		if (!h)
			json_array_append_new(removed, json_string(clause));
		else if (json_is_true(v) && !json_is_true(h))
			json_array_append_new(uncovered, json_string(clause));
		else if (!json_is_true(v) && json_is_true(h))
			json_array_append_new(covered, json_string(clause));
	}
	json_object_foreach(head, clause, v) if (!json_object_get(base, clause))
	        json_array_append_new(added, json_string(clause));
	n->coverage += json_array_size(covered) + json_array_size(uncovered) +
	               json_array_size(added) + json_array_size(removed);
	json_decref(base);
	json_decref(head);
	return json_pack("{s:o, s:o, s:o, s:o}", "newly_covered", covered, "newly_uncovered",
	                 uncovered, "added", added, "removed", removed);
}

/* The guest named name in a matrix report, or NULL. */
static json_t *guest_find(json_t *doc, const char *name)
{
	json_t *g;
	size_t i;

	json_array_foreach(json_object_get(doc, "guests"), i,
	                   g) if (strcmp(member_string(g, "name"), name) == 0) return g;
	return NULL;
}

/* The whole comparison as JSON. */
static json_t *compare(const struct side *base, const struct side *head, struct counts *n)
{
	json_t *guests = json_array(), *added = json_array(), *removed = json_array(), *g;
	size_t i;

	if (json_object_get(base->doc, "guests") && json_object_get(head->doc, "guests")) {
		/* Two matrices: guest by guest, by name. */
		json_array_foreach(json_object_get(base->doc, "guests"), i, g)
		{
			const char *name = member_string(g, "name");
			json_t *h = guest_find(head->doc, name);

			if (h)
				json_array_append_new(
				        guests, cases_compare(name, json_object_get(g, "cases"),
				                              json_object_get(h, "cases"), n));
			else
				json_array_append_new(removed, json_string(name));
		}
		json_array_foreach(json_object_get(head->doc, "guests"), i,
		                   g) if (!guest_find(base->doc, member_string(g, "name")))
		        json_array_append_new(added, json_string(member_string(g, "name")));
	} else {
		/* One guest each (a matrix's top level is its first guest's). */
		json_array_append_new(guests,
		                      cases_compare(NULL, json_object_get(base->doc, "cases"),
		                                    json_object_get(head->doc, "cases"), n));
	}
	return json_pack("{s:s, s:s, s:i, s:i, s:o, s:o, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I, "
	                 "s:I}}",
	                 "base", base->path, "head", head->path, "base_report_version",
	                 (int)base->version, "head_report_version", (int)head->version, "guests",
	                 guests, "guests_added", added, "guests_removed", removed, "coverage",
	                 coverage_compare(base->doc, head->doc, n), "summary", "regressions",
	                 (json_int_t)n->regressions, "fixes", (json_int_t)n->fixes, "changed",
	                 (json_int_t)n->changed, "new", (json_int_t)n->added, "removed",
	                 (json_int_t)n->removed, "coverage_changes", (json_int_t)n->coverage);
}

/* --- Text ----------------------------------------------------------------------------------- */

static void changes_text(FILE *out, const char *label, const char *guest, json_t *list)
{
	json_t *c;
	size_t i;

	json_array_foreach(list, i, c)
	{
		fprintf(out, "%-11s ", label);
		if (guest) {
			fputc('[', out);
			report_text_escaped(out, guest);
			fputs("] ", out);
		}
		report_text_escaped(out, member_string(c, "id"));
		if (json_object_get(c, "base"))
			fprintf(out, ": %s -> %s", member_string(c, "base"),
			        member_string(c, "head"));
		else
			fprintf(out, ": %s", member_string(c, "status"));
		if (*member_string(c, "message")) {
			fputs(": ", out);
			report_text_escaped(out, member_string(c, "message"));
		}
		fputc('\n', out);
	}
}

static void clauses_text(FILE *out, json_t *list, const char *what)
{
	json_t *c;
	size_t i;

	json_array_foreach(list, i, c)
	{
		fputs("clause      ", out);
		report_text_escaped(out, json_string_value(c));
		fprintf(out, ": %s\n", what);
	}
}

static void compare_text(FILE *out, json_t *result, const struct counts *n)
{
	json_t *g, *coverage = json_object_get(result, "coverage");
	size_t i;

	fputs("pikaci-conform compare: ", out);
	report_text_escaped(out, member_string(result, "base"));
	fputs(" -> ", out);
	report_text_escaped(out, member_string(result, "head"));
	fputc('\n', out);
	json_array_foreach(json_object_get(result, "guests"), i, g)
	{
		const char *name = json_string_value(json_object_get(g, "name"));

		changes_text(out, "regression", name, json_object_get(g, "regressions"));
		changes_text(out, "fixed", name, json_object_get(g, "fixes"));
		changes_text(out, "changed", name, json_object_get(g, "changed"));
		changes_text(out, "new", name, json_object_get(g, "new"));
		changes_text(out, "removed", name, json_object_get(g, "removed"));
	}
	json_array_foreach(json_object_get(result, "guests_added"), i, g)
	{
		fputs("guest       ", out);
		report_text_escaped(out, json_string_value(g));
		fputs(": only in HEAD\n", out);
	}
	json_array_foreach(json_object_get(result, "guests_removed"), i, g)
	{
		fputs("guest       ", out);
		report_text_escaped(out, json_string_value(g));
		fputs(": only in BASE\n", out);
	}
	clauses_text(out, json_object_get(coverage, "newly_uncovered"),
	             "covered in BASE, uncovered in HEAD");
	clauses_text(out, json_object_get(coverage, "newly_covered"),
	             "uncovered in BASE, covered in HEAD");
	clauses_text(out, json_object_get(coverage, "added"), "only in HEAD's coverage");
	clauses_text(out, json_object_get(coverage, "removed"), "only in BASE's coverage");
	fprintf(out,
	        "%zu regression(s), %zu fix(es), %zu changed, %zu new, %zu removed, %zu coverage "
	        "change(s)\n",
	        n->regressions, n->fixes, n->changed, n->added, n->removed, n->coverage);
}

/* --- The command ---------------------------------------------------------------------------- */

/* Compares two checked reports and writes the result: 0, EXIT_REGRESSION or EXIT_HARNESS. */
static int compare_write(const struct side *base, const struct side *head, bool json, FILE *out)
{
	struct counts n = { 0 };
	json_t *result = compare(base, head, &n);
	char *text = NULL;

	if (result && json)
		text = json_dumps(result, JSON_INDENT(2));
	if (!result || (json && !text)) {
		fprintf(base->errors, "pikaci-conform compare: out of memory\n");
		json_decref(result);
		return EXIT_HARNESS;
	}
	if (json)
		fprintf(out, "%s\n", text);
	else
		compare_text(out, result, &n);
	free(text);
	json_decref(result);
	return n.regressions ? EXIT_REGRESSION : EXIT_ALL_AS_EXPECTED;
}

/* clang-format off */
static const char compare_usage[] =
	"usage: pikaci-conform compare [--format text|json] BASE.json HEAD.json\n"
	"\n"
	"Compares two JSON reports of pikaci-conform (--format json; report_version 1 or 2):\n"
	"regressions (pass, xfail or skip in BASE; fail, timeout, xpass, error or flaky in\n"
	"HEAD), fixes (the other way), other status changes, new and removed cases, guest by\n"
	"guest name for two matrix reports, and the clauses covered in one report but not the\n"
	"other.\n"
	"\n"
	"  --format FORMAT     text (default) or json\n"
	"  -h, --help          this text\n"
	"\n"
	"Exit status: 0 no regression; 1 some regression; 2 usage error, or a report that cannot\n"
	"be read or is malformed (named with the JSON path of the problem); 4 the output could\n"
	"not be written.\n";
/* clang-format on */

/* A usage error was said: one line on where to look, as pikaci-conform's own. EXIT_USAGE. */
static int compare_usage_hint(void)
{
	fputs("Try 'pikaci-conform compare --help' for more information.\n", stderr);
	return EXIT_USAGE;
}

int compare_main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct side base = { .errors = stderr }, head = { .errors = stderr };
	bool json = false;
	int c, code = EXIT_USAGE;

	opterr = 0; /* said below, naming the word as typed */
	while ((c = getopt_long(argc, argv, "+:h", options, NULL)) != -1) {
		if (c == '?' || c == ':') {
			option_problem("pikaci-conform compare", c, argv);
			return compare_usage_hint();
		}
		if (c == 'h') {
			fputs(compare_usage, stdout);
			return EXIT_ALL_AS_EXPECTED;
		}
		if (c == 'f' && (strcmp(optarg, "text") == 0 || strcmp(optarg, "json") == 0)) {
			json = strcmp(optarg, "json") == 0;
			continue;
		}
		fprintf(stderr, "pikaci-conform compare: --format is text or json, not \"%s\"\n",
		        optarg);
		return compare_usage_hint();
	}
	if (argc - optind != 2) {
		fprintf(stderr,
		        "pikaci-conform compare: takes two reports, BASE.json and HEAD.json (%d "
		        "given)\n",
		        argc - optind);
		return compare_usage_hint();
	}
	base.path = argv[optind];
	head.path = argv[optind + 1];
	if (side_load(&base) == 0 && side_load(&head) == 0)
		code = compare_write(&base, &head, json, stdout);
	if (code != EXIT_USAGE && (fflush(stdout) != 0 || ferror(stdout))) {
		fprintf(stderr, "pikaci-conform compare: cannot write to stdout\n");
		code = EXIT_REPORT_FAILED;
	}
	json_decref(base.doc);
	json_decref(head.doc);
	return code;
}

int compare_bytes(const char *base_name, const char *base_text, size_t base_length,
                  const char *head_name, const char *head_text, size_t head_length, bool json,
                  FILE *out, FILE *errors)
{
	struct side base = { .errors = errors, .path = base_name };
	struct side head = { .errors = errors, .path = head_name };
	int code = EXIT_USAGE;

	if (side_parse(&base, base_text, base_length) == 0 &&
	    side_parse(&head, head_text, head_length) == 0)
		code = compare_write(&base, &head, json, out);
	json_decref(base.doc);
	json_decref(head.doc);
	return code;
}
