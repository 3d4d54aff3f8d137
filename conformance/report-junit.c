/* SPDX-License-Identifier: MIT */
/*
 * report-junit.c - the JUnit XML report: a testsuite per profile; a failure or error carries
 * every failed check in its body and the guest's output in system-out and system-err; an
 * expected failure keeps its detail in its skipped element.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report-private.h"

/* The code point of the UTF-8 character at p (valid, as report_clean() leaves it), and its
 * length. */
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
 * Text for an XML attribute or element, at most max bytes of it: markup escaped; in an
 * attribute, tab, newline and carriage return as character references (it would otherwise
 * fold them into spaces); the characters XML 1.0 does not allow at all (other C0 controls,
 * U+FFFE, U+FFFF) spelled as \xNN or replaced by U+FFFD, so no guest byte can end an
 * attribute, open an element or close a CDATA section (there is none: "]]>" is "]]&gt;").
 */
static void xml_escaped(FILE *out, const char *s, size_t max, bool attribute)
{
	char *text = report_clean(s, max);

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
			/* An attribute folds all three into spaces, a parser any CR into LF. */
			if (attribute || c != '\n')
				fprintf(out, "&#%u;", c);
			else
				fputc((int)c, out);
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

/* Every failed check of the case, one "[CLAUSE] message" a line (or its message alone). */
static void failed_checks(FILE *out, const struct case_result *c)
{
	json_t *checks = json_object_get(c->detail, "checks"), *check;
	size_t i, failed = 0;

	json_array_foreach(checks, i, check)
	{
		if (json_is_true(json_object_get(check, "ok")))
			continue;
		fputc('[', out);
		xml_escaped(out, json_string_value(json_object_get(check, "clause")),
		            REPORT_TEXT_MAX, false);
		fputs("] ", out);
		xml_escaped(out, json_string_value(json_object_get(check, "message")),
		            REPORT_TEXT_MAX, false);
		fputc('\n', out);
		failed++;
	}
	if (failed == 0) {
		xml_escaped(out, report_detail_string(c, "message"), REPORT_TEXT_MAX, false);
		fputc('\n', out);
	}
}

/* system-out and system-err: what the guest wrote (case.c cut and sanitized it already). */
static void guest_output(FILE *out, const struct case_result *c)
{
	static const char *const streams[][3] = { { "output", "output_cut", "system-out" },
		                                  { "stderr", "stderr_cut", "system-err" } };

	for (size_t i = 0; i < 2; i++) {
		const char *text = report_detail_string(c, streams[i][0]);

		if (!*text)
			continue;
		fprintf(out, "<%s>", streams[i][2]);
		xml_escaped(out, text, REPORT_OUTPUT_MAX, false);
		if (json_is_true(json_object_get(c->detail, streams[i][1])))
			fprintf(out, "\n[pikaci-conform: cut at %d bytes]\n", REPORT_OUTPUT_MAX);
		fprintf(out, "</%s>", streams[i][2]);
	}
}

static void junit_case(FILE *out, const struct case_result *c)
{
	const char *element;

	fprintf(out, "    <testcase classname=\"%s\" name=\"", profile_name(c->fixture->profile));
	xml_escaped(out, c->fixture->id, REPORT_TEXT_MAX, true);
	fprintf(out, "\" time=\"%.3f\">", json_number_value(json_object_get(c->detail, "seconds")));
	switch (c->status) {
	case STATUS_PASS:
		break;
	case STATUS_SKIP:
		fputs("<skipped message=\"", out);
		xml_escaped(out, c->expectation ? c->expectation : "", REPORT_TEXT_MAX, true);
		fputs("\"/>", out);
		break;
	case STATUS_XFAIL:
		/* Expected, so skipped; what failed is still there to read. */
		fputs("<skipped message=\"", out);
		xml_escaped(out, c->expectation ? c->expectation : "", REPORT_TEXT_MAX, true);
		fputs("\">", out);
		failed_checks(out, c);
		fputs("</skipped>", out);
		break;
	case STATUS_XPASS:
		fputs("<failure message=\"unexpectedly passed\" type=\"xpass\">listed as failing: ",
		      out);
		xml_escaped(out, c->expectation ? c->expectation : "", REPORT_TEXT_MAX, false);
		fputs("</failure>", out);
		break;
	default:
		/* A flaky case is a failure to look at, not the harness's error. */
		element =
		        c->status == STATUS_FAIL || c->status == STATUS_FLAKY ? "failure" : "error";
		fprintf(out, "<%s message=\"", element);
		xml_escaped(out, report_detail_string(c, "message"), REPORT_TEXT_MAX, true);
		fprintf(out, "\" type=\"%s\">", case_status_name(c->status));
		failed_checks(out, c);
		fprintf(out, "</%s>", element);
		break;
	}
	guest_output(out, c);
	fputs("</testcase>\n", out);
}

void report_junit_write(FILE *out, const struct case_result *results, size_t n)
{
	struct totals per[_PROFILE_MAX] = { 0 };

	for (size_t i = 0; i < n; i++)
		totals_add(&per[results[i].fixture->profile], results[i].status);
	fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites "
	             "name=\"pikaci-conform\">\n");
	for (int p = 0; p < _PROFILE_MAX; p++) {
		const struct totals *t = &per[p];

		if (totals_count(t) == 0)
			continue;
		fprintf(out,
		        "  <testsuite name=\"%s\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" "
		        "skipped=\"%zu\">\n",
		        profile_name((enum fixture_profile)p), totals_count(t),
		        t->fail + t->xpass + t->flaky, t->timeout + t->error, t->skip + t->xfail);
		for (size_t i = 0; i < n; i++)
			if (results[i].fixture->profile == (enum fixture_profile)p)
				junit_case(out, &results[i]);
		fputs("  </testsuite>\n", out);
	}
	fputs("</testsuites>\n", out);
}
