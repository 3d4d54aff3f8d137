/* SPDX-License-Identifier: MIT */
/* report.c - how results are shown: a line per case, summaries per profile, the coverage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clauses.h"
#include "report.h"
#include "shared.h"

const char *case_status_name(enum case_status status)
{
	static const char *const names[] = {
		[STATUS_PASS] = "pass",   [STATUS_FAIL] = "fail",   [STATUS_TIMEOUT] = "timeout",
		[STATUS_SKIP] = "skip",   [STATUS_XFAIL] = "xfail", [STATUS_XPASS] = "xpass",
		[STATUS_ERROR] = "error", [STATUS_FLAKY] = "flaky",
	};

	return names[status];
}

bool case_status_is_failure(enum case_status status)
{
	return status == STATUS_FAIL || status == STATUS_TIMEOUT || status == STATUS_XPASS ||
	       status == STATUS_ERROR;
}

void totals_add(struct totals *t, enum case_status status)
{
	switch (status) {
	case STATUS_PASS:
		t->pass++;
		break;
	case STATUS_FAIL:
		t->fail++;
		break;
	case STATUS_TIMEOUT:
		t->timeout++;
		break;
	case STATUS_SKIP:
		t->skip++;
		break;
	case STATUS_XFAIL:
		t->xfail++;
		break;
	case STATUS_XPASS:
		t->xpass++;
		break;
	case STATUS_ERROR:
		t->error++;
		break;
	case STATUS_FLAKY:
		t->flaky++;
		break;
	}
}

void totals_line(const struct totals *t, char *out, size_t size)
{
	int n = snprintf(out, size, "%zu passed, %zu failed, %zu skipped", t->pass,
	                 t->fail + t->timeout + t->xpass + t->error, t->skip + t->xfail);

	if (t->flaky && n >= 0 && (size_t)n < size)
		snprintf(out + n, size - (size_t)n, ", %zu flaky", t->flaky);
}

static const char *detail_string(const struct case_result *c, const char *key)
{
	const char *s = json_string_value(json_object_get(c->detail, key));

	return s ? s : "";
}

static void clauses_joined(const struct fixture *f, const char *separator, char *out, size_t size)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < f->n_clauses && o < size; i++)
		o += (size_t)snprintf(out + o, size - o, "%s%s", i ? separator : "", f->clauses[i]);
}

/* Guest-controlled text, made valid UTF-8 and cut to a size any report can carry. */
#define REPORT_TEXT_MAX 4096

static char *clean(const char *s)
{
	return text_sanitize_dup(s ? s : "", s ? strlen(s) : 0, REPORT_TEXT_MAX);
}

/* The code point of the UTF-8 character at p (valid, as clean() leaves it), and its length. */
static unsigned code_point(const unsigned char *p, size_t *ret_length)
{
	if (p[0] < 0x80) {
		*ret_length = 1;
		return p[0];
	}
	if (p[0] < 0xe0) {
		*ret_length = 2;
		return (p[0] & 0x1fu) << 6 | (p[1] & 0x3fu);
	}
	if (p[0] < 0xf0) {
		*ret_length = 3;
		return (p[0] & 0x0fu) << 12 | (p[1] & 0x3fu) << 6 | (p[2] & 0x3fu);
	}
	*ret_length = 4;
	return (p[0] & 0x07u) << 18 | (p[1] & 0x3fu) << 12 | (p[2] & 0x3fu) << 6 | (p[3] & 0x3fu);
}

/*
 * Text for an XML attribute or element: markup escaped; tab, newline and carriage return as
 * character references (an attribute would otherwise fold them into spaces); the characters
 * XML 1.0 does not allow at all (other C0 controls, U+FFFE, U+FFFF) spelled as \xNN or
 * replaced by U+FFFD, so no guest byte can end an attribute or open an element.
 */
static void xml_escaped(FILE *out, const char *s)
{
	char *text = clean(s);

	for (const unsigned char *p = (const unsigned char *)(text ? text : ""); *p;) {
		size_t n;
		unsigned c = code_point(p, &n);

		switch (c) {
		case '<':
			fputs("&lt;", out);
			break;
		case '>':
			fputs("&gt;", out);
			break;
		case '&':
			fputs("&amp;", out);
			break;
		case '"':
			fputs("&quot;", out);
			break;
		case '\'':
			fputs("&apos;", out);
			break;
		case '\t':
		case '\n':
		case '\r':
			fprintf(out, "&#%u;", c);
			break;
		default:
			if (c < 0x20)
				fprintf(out, "\\x%02x", c);
			else if (c == 0xfffe || c == 0xffff)
				fputs("\xef\xbf\xbd", out);
			else
				fwrite(p, 1, n, out);
		}
		p += n;
	}
	free(text);
}

/*
 * A TAP description or directive text (TAP 14): backslash and '#' escaped as \\ and \#, and
 * every control character (a newline would end the line) written as a space.
 */
static void tap_escaped(FILE *out, const char *s)
{
	char *text = clean(s);

	for (const char *p = text ? text : ""; *p; p++) {
		if (*p == '\\' || *p == '#')
			fputc('\\', out);
		fputc((unsigned char)*p < 0x20 || *p == 0x7f ? ' ' : *p, out);
	}
	free(text);
}

/*
 * Text a guest controls goes below its test point as comment lines ("# ..."), never into the
 * test line itself: every TAP consumer (meson's parser among them, which takes the first '#'
 * of a line, escaped or not, for a directive) ignores a comment.
 */
static void tap_diagnostic(FILE *out, const char *s)
{
	char *text = clean(s);

	fputs("# ", out);
	for (const char *p = text ? text : ""; *p; p++) {
		if (*p == '\n')
			fputs("\n# ", out);
		else
			fputc((unsigned char)*p < 0x20 || *p == 0x7f ? ' ' : *p, out);
	}
	fputc('\n', out);
	free(text);
}

/* A line of the text report: the guest's text on one line, control characters as spaces. */
static void text_escaped(FILE *out, const char *s)
{
	char *text = clean(s);

	for (const char *p = text ? text : ""; *p; p++)
		fputc((unsigned char)*p < 0x20 || *p == 0x7f ? ' ' : *p, out);
	free(text);
}

/* A JSON string of guest-controlled text: valid UTF-8 whatever the bytes, so never NULL. */
static json_t *json_text(const char *s)
{
	char *text = clean(s);
	json_t *string = json_string(text ? text : "");

	free(text);
	return string;
}

/* One line a person reads: the status, the id, the clauses, and why. */
static void text_line(FILE *out, const struct case_result *c)
{
	char clauses[128];
	const char *message = detail_string(c, "message");

	clauses_joined(c->fixture, " ", clauses, sizeof(clauses));
	fprintf(out, "%-7s %s [%s] %.2fs", case_status_name(c->status), c->fixture->id, clauses,
	        json_number_value(json_object_get(c->detail, "seconds")));
	if (c->status != STATUS_PASS && *message) {
		fputs(": ", out);
		text_escaped(out, message);
	}
	if (c->expectation) {
		fputs(" (expected: ", out);
		text_escaped(out, c->expectation);
		fputc(')', out);
	}
	fputc('\n', out);
}

/* One TAP test point; what the guest said follows it as comment lines. */
static void tap_line(FILE *out, size_t number, const struct case_result *c)
{
	const char *message = detail_string(c, "message");
	char clauses[128];

	clauses_joined(c->fixture, " ", clauses, sizeof(clauses));
	fprintf(out, "%sok %zu - ",
	        c->status == STATUS_PASS || c->status == STATUS_SKIP ? "" : "not ", number);
	tap_escaped(out, c->fixture->id);
	switch (c->status) {
	case STATUS_PASS:
		fputs(" [", out);
		tap_escaped(out, clauses);
		fputs("]\n", out);
		return;
	case STATUS_SKIP:
		fputs(" # SKIP ", out);
		tap_escaped(out, c->expectation ? c->expectation : message);
		fputc('\n', out);
		return;
	case STATUS_XFAIL:
		fputs(" # TODO ", out);
		tap_escaped(out, c->expectation ? c->expectation : "expected to fail");
		fputc('\n', out);
		break;
	case STATUS_FLAKY:
		/* Not ok, and no directive: a flaky case needs looking at. */
		fputs(": flaky (its verdict changed across --repeat runs)\n", out);
		break;
	case STATUS_XPASS:
		/* The expectation is the user's text: a comment, like a guest's. */
		fputs(": unexpectedly passed\n# listed as failing: ", out);
		tap_escaped(out, c->expectation ? c->expectation : "");
		fputc('\n', out);
		return;
	default:
		fputs(" [", out);
		tap_escaped(out, clauses);
		fprintf(out, "] %s\n", case_status_name(c->status));
		break;
	}
	if (*message)
		tap_diagnostic(out, message);
}

/* "pikaci-conform: N case(s) against GUEST": the guest's command line is the user's bytes. */
static void header_line(FILE *out, const struct report *r)
{
	fprintf(out, "pikaci-conform: %zu case(s) against ", r->n_planned);
	text_escaped(out, r->guest);
	fputc('\n', out);
}

void report_begin(struct report *r)
{
	if (r->format == FORMAT_TAP)
		fprintf(r->out, "TAP version 13\n1..%zu\n", r->n_planned);
	else if (r->format == FORMAT_TEXT)
		header_line(r->out, r);
	if (r->progress)
		header_line(stdout, r);
	fflush(r->out);
}

void report_case(struct report *r, const struct case_result *c)
{
	r->n_done++;
	if (r->format == FORMAT_TEXT)
		text_line(r->out, c);
	if (r->progress)
		text_line(stdout, c);
	if (r->format == FORMAT_TAP)
		tap_line(r->out, r->n_done, c);
	fflush(r->out);
	if (r->progress)
		fflush(stdout);
}

static json_t *case_json(const struct case_result *c)
{
	json_t *clauses = json_array(), *tags = json_array();
	json_t *o;

	for (size_t i = 0; i < c->fixture->n_clauses; i++)
		json_array_append_new(clauses, json_string(c->fixture->clauses[i]));
	for (size_t i = 0; i < c->fixture->n_tags; i++)
		json_array_append_new(tags, json_string(c->fixture->tags[i]));
	o = json_pack("{s:o, s:s, s:s, s:o, s:o, s:o, s:o}", "id", json_text(c->fixture->id),
	              "profile", profile_name(c->fixture->profile), "status",
	              case_status_name(c->status), "clauses", clauses, "tags", tags, "description",
	              json_text(c->fixture->description), "message",
	              json_text(detail_string(c, "message")));
	if (!o)
		return NULL;
	if (*detail_string(c, "clause"))
		json_object_set_new(o, "failed_clause", json_text(detail_string(c, "clause")));
	json_object_set(o, "seconds", json_object_get(c->detail, "seconds"));
	if (json_object_get(c->detail, "checks"))
		json_object_set(o, "checks", json_object_get(c->detail, "checks"));
	if (json_object_get(c->detail, "not_applicable"))
		json_object_set(o, "not_applicable", json_object_get(c->detail, "not_applicable"));
	if (c->expectation)
		json_object_set_new(o, "expectation", json_text(c->expectation));
	return o;
}

static void totals_json_set(json_t *o, const struct totals *t)
{
	json_object_set_new(o, "pass", json_integer((json_int_t)t->pass));
	json_object_set_new(o, "fail", json_integer((json_int_t)t->fail));
	json_object_set_new(o, "timeout", json_integer((json_int_t)t->timeout));
	json_object_set_new(o, "skip", json_integer((json_int_t)t->skip));
	json_object_set_new(o, "xfail", json_integer((json_int_t)t->xfail));
	json_object_set_new(o, "xpass", json_integer((json_int_t)t->xpass));
	json_object_set_new(o, "error", json_integer((json_int_t)t->error));
	json_object_set_new(o, "flaky", json_integer((json_int_t)t->flaky));
}

static void junit(FILE *out, const struct case_result *results, size_t n,
                  const struct totals profile_totals[_PROFILE_MAX])
{
	fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites "
	             "name=\"pikaci-conform\">\n");
	for (int p = 0; p < _PROFILE_MAX; p++) {
		const struct totals *t = &profile_totals[p];
		size_t total = t->pass + t->fail + t->timeout + t->skip + t->xfail + t->xpass +
		               t->error + t->flaky;

		if (total == 0)
			continue;
		fprintf(out,
		        "  <testsuite name=\"%s\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" "
		        "skipped=\"%zu\">\n",
		        profile_name((enum fixture_profile)p), total, t->fail + t->xpass + t->flaky,
		        t->timeout + t->error, t->skip + t->xfail);
		for (size_t i = 0; i < n; i++) {
			const struct case_result *c = &results[i];

			if (c->fixture->profile != (enum fixture_profile)p)
				continue;
			fprintf(out, "    <testcase classname=\"%s\" name=\"",
			        profile_name(c->fixture->profile));
			xml_escaped(out, c->fixture->id);
			fprintf(out, "\" time=\"%.3f\">",
			        json_number_value(json_object_get(c->detail, "seconds")));
			if (c->status == STATUS_SKIP || c->status == STATUS_XFAIL) {
				fputs("<skipped message=\"", out);
				xml_escaped(out, c->expectation ? c->expectation : "");
				fputs("\"/>", out);
			} else if (c->status != STATUS_PASS) {
				fprintf(out, "<%s message=\"",
				        c->status == STATUS_FAIL || c->status == STATUS_XPASS ||
				                        c->status == STATUS_FLAKY
				                ? "failure"
				                : "error");
				xml_escaped(out, c->status == STATUS_XPASS
				                         ? "unexpectedly passed"
				                         : detail_string(c, "message"));
				fprintf(out, "\" type=\"%s\"/>", case_status_name(c->status));
			}
			fputs("</testcase>\n", out);
		}
		fputs("  </testsuite>\n", out);
	}
	fputs("</testsuites>\n", out);
}

void report_end(struct report *r, const struct case_result *results, size_t n,
                const struct corpus *corpus, const char *transport)
{
	struct totals all = { 0 }, per[_PROFILE_MAX] = { 0 };
	char line[160];

	for (size_t i = 0; i < n; i++) {
		totals_add(&all, results[i].status);
		totals_add(&per[results[i].fixture->profile], results[i].status);
	}
	if (r->format == FORMAT_JUNIT)
		junit(r->out, results, n, per);
	if (r->format == FORMAT_JSON) {
		json_t *cases = json_array(), *profiles = json_object(), *summary = json_object();
		json_t *doc;
		char *text;

		for (size_t i = 0; i < n; i++)
			json_array_append_new(cases, case_json(&results[i]));
		for (int p = 0; p < _PROFILE_MAX; p++) {
			json_t *o = json_object();

			totals_json_set(o, &per[p]);
			json_object_set_new(profiles, profile_name((enum fixture_profile)p), o);
		}
		totals_json_set(summary, &all);
		doc = json_pack("{s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:o}", "tool",
		                "pikaci-conform", "version", PIKACI_VERSION, "guest",
		                json_text(r->guest), "transport", transport, "summary", summary,
		                "profiles", profiles, "cases", cases, "coverage",
		                coverage_json(corpus));
		text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
		if (text)
			fprintf(r->out, "%s\n", text);
		else
			r->failed = true;
		free(text);
		json_decref(doc);
	}
	for (int p = 0; p < _PROFILE_MAX; p++) {
		FILE *outs[2] = { r->format == FORMAT_TEXT || r->format == FORMAT_TAP ? r->out
			                                                              : NULL,
			          r->progress ? stdout : NULL };

		if (per[p].pass + per[p].fail + per[p].timeout + per[p].skip + per[p].xfail +
		            per[p].xpass + per[p].error + per[p].flaky ==
		    0)
			continue;
		totals_line(&per[p], line, sizeof(line));
		for (int k = 0; k < 2; k++) {
			if (!outs[k])
				continue;
			fprintf(outs[k], "%sprofile %s: %s",
			        r->format == FORMAT_TAP && k == 0 ? "# " : "",
			        profile_name((enum fixture_profile)p), line);
			if (per[p].timeout || per[p].xfail || per[p].xpass || per[p].error)
				fprintf(outs[k], " (timeout %zu, xfail %zu, xpass %zu, error %zu)",
				        per[p].timeout, per[p].xfail, per[p].xpass, per[p].error);
			fputc('\n', outs[k]);
		}
	}
	totals_line(&all, line, sizeof(line));
	if (r->format == FORMAT_TEXT || r->format == FORMAT_TAP)
		fprintf(r->out, "%s%s\n", r->format == FORMAT_TAP ? "# " : "", line);
	if (r->progress)
		printf("%s\n", line);
	fflush(r->out);
	fflush(stdout);
}

/* --- Clause coverage ---------------------------------------------------------------------- */

json_t *coverage_json(const struct corpus *corpus)
{
	json_t *list = json_array();

	for (size_t i = 0; i < n_contract_clauses; i++) {
		const struct clause *cl = &contract_clauses[i];
		json_t *cases = json_array();

		for (size_t k = 0; k < corpus->n_cases; k++)
			if (fixture_cites(&corpus->cases[k], cl->id))
				json_array_append_new(cases, json_string(corpus->cases[k].id));
		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:o}",
		                                      "clause", cl->id, "section", cl->section,
		                                      "level", cl->must ? "MUST" : "SHOULD",
		                                      "party", clause_party_name(cl->party),
		                                      "title", cl->title, "covered",
		                                      json_array_size(cases) > 0, "cases", cases));
	}
	return list;
}

size_t coverage_print(FILE *out, const struct corpus *corpus)
{
	size_t uncovered = 0;

	fprintf(out, "%-4s %-6s %-5s %5s  %s\n", "id", "level", "party", "cases", "clause");
	for (size_t i = 0; i < n_contract_clauses; i++) {
		const struct clause *cl = &contract_clauses[i];
		size_t count = 0;

		for (size_t k = 0; k < corpus->n_cases; k++)
			count += fixture_cites(&corpus->cases[k], cl->id);
		fprintf(out, "%-4s %-6s %-5s %5zu  %s%s\n", cl->id, cl->must ? "MUST" : "SHOULD",
		        clause_party_name(cl->party), count, cl->title,
		        count                      ? ""
		        : cl->party == CLAUSE_HOST ? "  (host obligation: pikaci-host's tests)"
		                                   : "  <- UNCOVERED");
		if (!count && cl->must && cl->party != CLAUSE_HOST)
			uncovered++;
	}
	if (uncovered)
		fprintf(out, "%zu MUST clause(s) of the guest are covered by no case\n", uncovered);
	else
		fprintf(out, "every MUST clause a guest owes is covered by at least one case\n");
	return uncovered;
}

int report_finish(struct report *r)
{
	bool failed = r->failed;

	if (fflush(r->out) != 0 || ferror(r->out))
		failed = true;
	if (r->out != stdout && r->out != stderr && fclose(r->out) != 0)
		failed = true;
	r->out = NULL;
	return failed ? -EIO : 0;
}
