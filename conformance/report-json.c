/* SPDX-License-Identifier: MIT */
/*
 * report-json.c - the JSON report (schemas/report.schema.json, report_version 2), its JSON
 * Lines form, and the run's identity: when, on which host, which corpus (a digest of its
 * files), which guest (a digest of its executable).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "report-private.h"
#include "sha256.h"
#include "shared.h"

/* --- The run's identity ------------------------------------------------------------------- */

/* An RFC 3339 UTC timestamp: new reference. */
static json_t *timestamp_json(time_t t)
{
	struct tm tm;
	char text[32];

	if (!gmtime_r(&t, &tm) || strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return json_string("1970-01-01T00:00:00Z");
	return json_string(text);
}

static json_t *identity_json(const char *guest_path, const char *image)
{
	char digest[SHA256_TEXT_SIZE];
	char *path;
	json_t *o;

	if (image)
		return json_pack("{s:s, s:o}", "kind", "incus-image", "alias",
		                 json_text_new(image));
	o = json_pack("{s:s}", "kind", "command");
	path = guest_path ? program_find(guest_path) : NULL;
	if (o && path) {
		json_object_set_new(o, "path", json_text_new(path));
		if (sha256_file(path, digest) == 0)
			json_object_set_new(o, "sha256", json_string(digest));
	}
	free(path);
	return o;
}

static json_t *host_json(void)
{
	struct utsname u;
	char name[256] = "";
	char system[3 * sizeof(u.sysname) + 3];

	if (gethostname(name, sizeof(name) - 1) < 0)
		name[0] = '\0';
	if (uname(&u) < 0)
		snprintf(system, sizeof(system), "unknown");
	else
		snprintf(system, sizeof(system), "%s %s %s", u.sysname, u.release, u.machine);
	return json_pack("{s:o, s:o}", "hostname", json_text_new(name), "system",
	                 json_text_new(system));
}

void report_run_init(struct report_run *run, const char *guest, const char *guest_path,
                     const char *image, const char *fixtures, const struct corpus *corpus)
{
	char revision[SHA256_TEXT_SIZE];

	run->guest = guest ? guest : "";
	run->transport = image ? "incus" : "local";
	run->identity = identity_json(guest_path, image);
	run->host = host_json();
	run->corpus = json_pack("{s:o, s:I}", "path", json_text_new(fixtures), "cases",
	                        (json_int_t)corpus->n_cases);
	if (run->corpus && corpus_revision(fixtures, revision) == 0)
		json_object_set_new(run->corpus, "revision", json_string(revision));
	run->started = time(NULL);
	run->finished = run->started;
}

void report_run_clear(struct report_run *run)
{
	json_decref(run->identity);
	json_decref(run->host);
	json_decref(run->corpus);
	run->identity = run->host = run->corpus = NULL;
}

/* --- The report --------------------------------------------------------------------------- */

json_t *report_case_json(const struct case_result *c)
{
	json_t *clauses = json_array(), *tags = json_array();
	json_t *o;

	for (size_t i = 0; i < c->fixture->n_clauses; i++)
		json_array_append_new(clauses, json_string(c->fixture->clauses[i]));
	for (size_t i = 0; i < c->fixture->n_tags; i++)
		json_array_append_new(tags, json_string(c->fixture->tags[i]));
	o = json_pack("{s:o, s:s, s:s, s:o, s:o, s:o, s:o}", "id", json_text_new(c->fixture->id),
	              "profile", profile_name(c->fixture->profile), "status",
	              case_status_name(c->status), "clauses", clauses, "tags", tags, "description",
	              json_text_new(c->fixture->description), "message",
	              json_text_new(report_detail_string(c, "message")));
	if (!o)
		return NULL;
	if (*report_detail_string(c, "clause"))
		json_object_set_new(o, "failed_clause",
		                    json_text_new(report_detail_string(c, "clause")));
	json_object_set(o, "seconds", json_object_get(c->detail, "seconds"));
	if (json_object_get(c->detail, "checks"))
		json_object_set(o, "checks", json_object_get(c->detail, "checks"));
	if (json_object_get(c->detail, "not_applicable"))
		json_object_set(o, "not_applicable", json_object_get(c->detail, "not_applicable"));
	if (c->expectation)
		json_object_set_new(o, "expectation", json_text_new(c->expectation));
	/* --repeat: each run's verdict, in order (workflows.c). */
	if (json_is_array(json_object_get(c->detail, "runs")))
		json_object_set(o, "runs", json_object_get(c->detail, "runs"));
	return o;
}

json_t *report_totals_json(const struct totals *t)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "pass", (json_int_t)t->pass,
	                 "fail", (json_int_t)t->fail, "timeout", (json_int_t)t->timeout, "skip",
	                 (json_int_t)t->skip, "xfail", (json_int_t)t->xfail, "xpass",
	                 (json_int_t)t->xpass, "error", (json_int_t)t->error, "flaky",
	                 (json_int_t)t->flaky);
}

json_t *report_guest_json(const struct report_run *run, const struct case_result *results, size_t n,
                          bool with_cases)
{
	struct totals all = { 0 }, per[_PROFILE_MAX] = { 0 };
	json_t *profiles = json_object(), *o;

	for (size_t i = 0; i < n; i++) {
		totals_add(&all, results[i].status);
		totals_add(&per[results[i].fixture->profile], results[i].status);
	}
	for (int p = 0; p < _PROFILE_MAX; p++)
		json_object_set_new(profiles, profile_name((enum fixture_profile)p),
		                    report_totals_json(&per[p]));
	o = json_pack("{s:o, s:s, s:O, s:o, s:o}", "guest", json_text_new(run->guest), "transport",
	              run->transport, "guest_identity", run->identity, "summary",
	              report_totals_json(&all), "profiles", profiles);
	if (o && with_cases) {
		json_t *cases = json_array();

		for (size_t i = 0; i < n; i++)
			json_array_append_new(cases, report_case_json(&results[i]));
		json_object_set_new(o, "cases", cases);
	}
	return o;
}

/* The members every JSON document of pikaci-conform begins with. */
static json_t *document_new(void)
{
	return json_pack("{s:s, s:s, s:i}", "tool", "pikaci-conform", "version", PIKACI_VERSION,
	                 "report_version", REPORT_VERSION);
}

json_t *report_document_json(const struct report_run *run, const struct case_result *results,
                             size_t n, const struct corpus *corpus, bool with_cases)
{
	json_t *doc = document_new();
	json_t *guest = report_guest_json(run, results, n, with_cases);

	if (!doc || !guest || json_object_update(doc, guest) < 0) {
		json_decref(doc);
		json_decref(guest);
		return NULL;
	}
	json_decref(guest);
	json_object_set_new(doc, "started", timestamp_json(run->started));
	json_object_set_new(doc, "finished", timestamp_json(run->finished));
	json_object_set(doc, "host", run->host);
	json_object_set(doc, "corpus", run->corpus);
	json_object_set_new(doc, "coverage", coverage_json(corpus));
	return doc;
}

/* The matrix: {case id: {guest name: status}} for every case some guest ran. */
static json_t *matrix_json(const struct corpus *corpus, const struct report_column *cols, size_t n)
{
	json_t *matrix = json_object();

	for (size_t i = 0; matrix && i < corpus->n_cases; i++) {
		json_t *row = json_object();

		for (size_t g = 0; row && g < n; g++) {
			const struct case_result *c =
			        report_column_result(&cols[g], &corpus->cases[i]);

			if (c)
				json_object_set_new(row, cols[g].name,
				                    json_string(case_status_name(c->status)));
		}
		if (row && json_object_size(row))
			json_object_set_new(matrix, corpus->cases[i].id, row);
		else
			json_decref(row);
	}
	return matrix;
}

json_t *report_matrix_document_json(const struct corpus *corpus, const struct report_column *cols,
                                    size_t n, bool with_cases)
{
	json_t *doc =
	        report_document_json(cols[0].run, cols[0].results, cols[0].n, corpus, with_cases);
	json_t *guests = json_array();

	for (size_t g = 0; doc && guests && g < n; g++) {
		json_t *entry =
		        report_guest_json(cols[g].run, cols[g].results, cols[g].n, with_cases);

		if (!entry || json_object_set_new(entry, "name", json_string(cols[g].name)) < 0 ||
		    json_array_append_new(guests, entry) < 0) {
			json_decref(guests);
			guests = NULL;
		}
	}
	if (!doc || !guests) {
		json_decref(doc);
		json_decref(guests);
		return NULL;
	}
	/* The run ends with its last guest. */
	json_object_set_new(doc, "finished", timestamp_json(cols[n - 1].run->finished));
	json_object_set_new(doc, "guests", guests);
	json_object_set_new(doc, "matrix", matrix_json(corpus, cols, n));
	return doc;
}

int report_json_dump(FILE *out, json_t *doc, bool compact)
{
	char *text = json_dumps(doc, compact ? JSON_COMPACT : JSON_INDENT(2));

	if (!text)
		return -ENOMEM;
	fprintf(out, "%s\n", text);
	free(text);
	return 0;
}

void report_jsonl_case(FILE *out, const struct report_run *run, const struct case_result *c)
{
	json_t *line = json_pack("{s:s, s:o}", "type", "case", "guest",
	                         json_text_new(run->name ? run->name : run->guest));
	json_t *o = report_case_json(c);

	if (line && o && json_object_update(line, o) == 0)
		report_json_dump(out, line, true);
	json_decref(o);
	json_decref(line);
}
