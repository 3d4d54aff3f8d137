/* SPDX-License-Identifier: MIT */
/*
 * fuzz-judge.c - the judge (conformance/judge.c) and every report writer (report.c) on what a
 * guest controls: its four lifecycle files, its output and its exit.
 *
 * The input is split on FUZZ_SEPARATOR into a control part and guest.log, status.json,
 * events.jsonl, result.json, stdout and stderr (a missing file part: the file was not
 * there). The control part's bytes choose the case's declared outcome, exit code, expected
 * output and options, the guest's exit, and the status the harness gives the case.
 * The verdict becomes a case detail as the runner's worker builds it, crosses the worker
 * protocol (dump, load) and goes through the text, TAP, JUnit and JSON writers.
 *
 * Properties: the detail is always built (guest bytes never make json_pack fail) and survives
 * the protocol; every report is valid UTF-8; the JSON report loads; no TAP test line carries a
 * directive it should not (meson's parser takes any '#' on it for one); the JUnit report has
 * only the elements the writer makes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "judge.h"
#include "report.h"
#include "shared.h"

enum {
	PART_CONTROL,
	PART_FILES,
	PART_STDOUT = PART_FILES + _PIKACI_FILE_MAX,
	PART_STDERR,
	N_PARTS
};

static unsigned control(const struct fuzz_part *part, size_t i)
{
	return part->bytes && i < part->length ? (unsigned char)part->bytes[i] : 0;
}

/* The case's detail as the worker builds it (conformance/main.c run_case and checks_json). */
static json_t *detail_new(const struct verdict *v, const struct pikaci_exchange *x)
{
	const char *clause = "", *message = verdict_first_failure(v, &clause);
	json_t *checks = json_array(), *detail;
	char text[640];

	for (size_t i = 0; i < v->n_checks; i++) {
		char *m =
		        text_sanitize_dup(v->checks[i].message, strlen(v->checks[i].message), 4096);

		FUZZ_CHECK(m != NULL);
		json_array_append_new(checks,
		                      json_pack("{s:s, s:b, s:s}", "clause", v->checks[i].clause,
		                                "ok", v->checks[i].ok, "message", m));
		free(m);
	}
	if (message) {
		snprintf(text, sizeof(text), "[%s] %s", clause, message);
		text_sanitize_in_place(text, sizeof(text));
	} else {
		text[0] = '\0';
		clause = "";
	}
	detail = json_pack("{s:s, s:s, s:s, s:f, s:i, s:o}", "status", message ? "fail" : "pass",
	                   "message", text, "clause", clause, "seconds", x->run.seconds,
	                   "exit_code", x->run.exit_code, "checks", checks);
	FUZZ_CHECK(detail != NULL);
	return detail;
}

/* A line of a TAP report is one the writer makes, and a failing test line has no directive. */
static void check_tap(const char *report, enum case_status status)
{
	const char *line = report;

	FUZZ_CHECK(strncmp(report, "TAP version 13\n1..1\n", 20) == 0);
	while (*line) {
		const char *end = strchr(line, '\n');
		size_t length = end ? (size_t)(end - line) : strlen(line);

		FUZZ_CHECK(end != NULL);
		FUZZ_CHECK(length == 0 || line[0] == '#' || strncmp(line, "ok ", 3) == 0 ||
		           strncmp(line, "not ok ", 7) == 0 || strncmp(line, "1..", 3) == 0 ||
		           strncmp(line, "TAP version", 11) == 0);
		if (strncmp(line, "not ok ", 7) == 0 && status != STATUS_XFAIL)
			FUZZ_CHECK(memchr(line, '#', length) == NULL);
		line += length + 1;
	}
}

/* Every '<' of the JUnit report opens or closes an element the writer makes. */
static void check_junit(const char *report)
{
	static const char *const tags[] = { "?xml ",       "testsuites ", "/testsuites>",
		                            "testsuite ",  "/testsuite>", "testcase ",
		                            "/testcase>",  "skipped ",    "failure ",
		                            "error ",      "/skipped>",   "/failure>",
		                            "/error>",     "system-out>", "/system-out>",
		                            "system-err>", "/system-err>" };

	for (const char *p = strchr(report, '<'); p; p = strchr(p + 1, '<')) {
		bool known = false;

		for (size_t i = 0; i < ELEMENTSOF(tags); i++)
			known = known || strncmp(p + 1, tags[i], strlen(tags[i])) == 0;
		FUZZ_CHECK(known);
	}
	for (const unsigned char *p = (const unsigned char *)report; *p; p++)
		FUZZ_CHECK(*p >= 0x20 || *p == '\n');
}

static void check_reports(const struct case_result *result, const struct corpus *corpus)
{
	static const enum report_format formats[] = { FORMAT_TEXT, FORMAT_TAP,   FORMAT_JUNIT,
		                                      FORMAT_JSON, FORMAT_JSONL, FORMAT_MARKDOWN };

	for (size_t i = 0; i < ELEMENTSOF(formats); i++) {
		char *text = NULL;
		size_t length = 0;
		FILE *out = open_memstream(&text, &length);
		struct report_sink *sink = calloc(1, sizeof(*sink));
		struct report_run run = { .guest = "guest \xff",
			                  .transport = "local",
			                  .identity = json_object(),
			                  .host = json_object(),
			                  .corpus = json_object() };
		struct report r = { .sinks = sink, .n_sinks = 1, .run = &run };

		FUZZ_CHECK(out != NULL && sink != NULL);
		sink->target.format = formats[i];
		sink->target.path = "fuzz";
		sink->out = out;
		r.n_planned = 1;
		report_begin(&r);
		report_case_finished(&r, result);
		report_case(&r, result);
		report_end(&r, result, 1, corpus);
		FUZZ_CHECK(report_finish(&r) == 0);
		report_run_clear(&run);
		FUZZ_CHECK(fuzz_utf8_valid(text, length));
		if (formats[i] == FORMAT_TAP)
			check_tap(text, result->status);
		if (formats[i] == FORMAT_JUNIT)
			check_junit(text);
		if (formats[i] == FORMAT_JSON) {
			json_t *doc = json_loadb(text, length, 0, NULL);

			FUZZ_CHECK(doc != NULL);
			json_decref(doc);
		}
		if (formats[i] == FORMAT_JSONL)
			/* Each line one JSON object: the case, then the summary. */
			for (char *line = text, *end; *line; line = end + 1) {
				json_t *doc;

				end = strchr(line, '\n');
				FUZZ_CHECK(end != NULL);
				doc = json_loadb(line, (size_t)(end - line), 0, NULL);
				FUZZ_CHECK(json_is_object(doc));
				json_decref(doc);
			}
		free(text);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int exit_codes[] = { 0, 1, 2, 124, 42, 64, -1, 137 };
	static char id[] = "x4-fuzz-case", description[] = "A fuzzed case.", x4[] = "X4",
	            l5[] = "L5", stdout_expected[] = "hi\n", reason[] = "unknown_field",
	            marker[] = "/run/pikaci-marker";
	static char *clauses[] = { x4, l5 };
	struct fuzz_part parts[N_PARTS];
	struct fixture f = {
		.id = id, .description = description, .clauses = clauses, .n_clauses = 2
	};
	struct corpus corpus = { .cases = &f, .n_cases = 1 };
	struct pikaci_exchange x = { 0 };
	struct observation o = { .fixture = &f, .exchange = &x, .marker = -1, .time_scale = 1 };
	struct verdict v = { 0 };
	struct case_result result = { .fixture = &f };
	static char expectation[] = "known \xe2\x82 # TODO bad\n";
	unsigned c0, c1, c2;
	char *text;

	fuzz_split(data, size, parts, N_PARTS);
	c0 = control(&parts[PART_CONTROL], 0);
	c1 = control(&parts[PART_CONTROL], 1);
	c2 = control(&parts[PART_CONTROL], 2);
	f.outcome = (enum fixture_outcome)(c0 % 3);
	f.deliver = f.outcome == OUTCOME_USAGE ? PIKACI_DELIVER_NO_ARGUMENT : PIKACI_DELIVER_FILE;
	f.exit_code = exit_codes[(c0 >> 2) % ELEMENTSOF(exit_codes)];
	if (f.exit_code < 0)
		f.exit_code = 0;
	f.has_stdout = c0 & 0x20;
	f.stdout_bytes = stdout_expected;
	f.stdout_length = strlen(stdout_expected);
	f.reason = c0 & 0x40 ? reason : NULL;
	f.marker = c0 & 0x80 ? marker : NULL;
	f.max_seconds = c2 & 1 ? 5 : 0;
	o.check_reason = c2 & 2;
	o.marker = c2 & 4 ? (int)(c2 >> 3 & 1) : -1;
	x.run.exit_code = exit_codes[c1 % ELEMENTSOF(exit_codes)];
	x.run.signal = x.run.exit_code < 0 ? 9 : 0;
	x.run.seconds = (double)(c1 >> 3) / 4;
	x.run.out = fuzz_part_dup(&parts[PART_STDOUT]);
	x.run.out_length = parts[PART_STDOUT].length;
	x.run.err = fuzz_part_dup(&parts[PART_STDERR]);
	x.run.err_length = parts[PART_STDERR].length;
	for (int i = 0; i < _PIKACI_FILE_MAX; i++) {
		const struct fuzz_part *part = &parts[PART_FILES + i];

		x.files[i].error = part->bytes ? 0 : -ENOENT;
		if (part->bytes) {
			x.files[i].bytes = fuzz_part_dup(part);
			x.files[i].length = part->length;
		}
	}

	judge(&o, &v);
	result.detail = detail_new(&v, &x);
	/* The worker protocol: the detail crosses a pipe as compact JSON. */
	text = json_dumps(result.detail, JSON_COMPACT);
	FUZZ_CHECK(text != NULL);
	json_decref(result.detail);
	result.detail = json_loads(text, 0, NULL);
	FUZZ_CHECK(result.detail != NULL);
	free(text);
	result.status = (enum case_status)((c2 >> 4) % (STATUS_ERROR + 1));
	result.expectation = c2 & 0x80 ? expectation : NULL;
	check_reports(&result, &corpus);

	json_decref(result.detail);
	verdict_clear(&v);
	pikaci_exchange_clear(&x);
	return 0;
}
