/* SPDX-License-Identifier: MIT */
/*
 * test-judge.c - the runner's judge on made-up runs: [X2]/[L1] framing (guest lines around the
 * output are allowed, and every way the output can go wrong is named), and headlines in causal
 * order citing the case's own profile.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "judge.h"
#include "pikaci-contract.h"

#define TS "2026-03-25T20:00:00+00:00"
#define REQUEST                                     \
	"{\"schema_version\":2,\"command\":\"echo " \
	"hello\",\"timeout_secs\":5,\"run_as_root\":true}"
#define BOOT "[pikaci] incus guest booted at " TS "\n"
#define STATUS                                                               \
	"{\"schema_version\":1,\"state\":\"completed\",\"updated_at\":\"" TS \
	"\",\"message\":\"ok\"}"
#define EVENTS                                                                                  \
	"{\"schema_version\":1,\"seq\":1,\"kind\":\"booted\",\"timestamp\":\"" TS               \
	"\",\"message\":\"b\"}\n"                                                               \
	"{\"schema_version\":1,\"seq\":2,\"kind\":\"starting\",\"timestamp\":\"" TS             \
	"\",\"message\":\"s\",\"details\":{\"command\":\"echo hello\",\"run_as_root\":true}}\n" \
	"{\"schema_version\":1,\"seq\":3,\"kind\":\"completed\",\"timestamp\":\"" TS            \
	"\",\"message\":\"c\",\"details\":{\"exit_code\":0}}\n"
#define RESULT                                                                                 \
	"{\"schema_version\":1,\"status\":\"completed\",\"exit_code\":0,\"finished_at\":\"" TS \
	"\",\"message\":\"ok\"}"

struct run {
	struct fixture fixture;
	struct pikaci_exchange exchange;
	struct observation observation;
	struct verdict verdict;
	char *clauses[3];
};

static void set_file(struct run *r, enum pikaci_file file, const char *text)
{
	r->exchange.files[file].bytes = (char *)text;
	r->exchange.files[file].length = text ? strlen(text) : 0;
	r->exchange.files[file].error = text ? 0 : -ENOENT;
}

/* An accepted case "echo hello" run by a guest that did everything right. */
static void run_init(struct run *r, const char *want_stdout)
{
	memset(r, 0, sizeof(*r));
	r->clauses[0] = "X2";
	r->fixture = (struct fixture){
		.id = "x2-test",
		.profile = PROFILE_CONTRACT,
		.clauses = r->clauses,
		.n_clauses = 1,
		.outcome = OUTCOME_ACCEPTED,
		.has_stdout = true,
		.stdout_bytes = (char *)want_stdout,
		.stdout_length = strlen(want_stdout),
		.request = REQUEST,
		.request_length = strlen(REQUEST),
	};
	r->exchange.run.out = (char *)want_stdout;
	r->exchange.run.out_length = strlen(want_stdout);
	r->exchange.run.seconds = 0.1;
	set_file(r, PIKACI_FILE_STATUS, STATUS);
	set_file(r, PIKACI_FILE_EVENTS, EVENTS);
	set_file(r, PIKACI_FILE_RESULT, RESULT);
	r->observation = (struct observation){ .fixture = &r->fixture,
		                               .exchange = &r->exchange,
		                               .marker = -1,
		                               .cut_marker = -1,
		                               .time_scale = 1 };
}

static void set_stdout(struct run *r, const char *out)
{
	r->exchange.run.out = (char *)out;
	r->exchange.run.out_length = strlen(out);
}

/* Judges; the headline must be [clause] and hold needle, or there must be none (clause NULL). */
static void headline_is(struct run *r, const char *clause, const char *needle)
{
	const char *got_clause = NULL, *message;

	judge(&r->observation, &r->verdict);
	message = verdict_first_failure(&r->verdict, &got_clause);
	if (!clause) {
		if (message)
			fail_msg("expected a pass, got [%s] %s", got_clause, message);
	} else if (!message || strcmp(got_clause, clause) != 0 || !strstr(message, needle)) {
		fail_msg("expected [%s] \"%s\", got [%s] %s", clause, needle,
		         got_clause ? got_clause : "", message ? message : "(a pass)");
	}
	verdict_clear(&r->verdict);
}

static void test_guest_lines_around_the_output_pass(void **state)
{
	struct run r;

	(void)state;
	run_init(&r, "hello\n");
	set_stdout(&r, BOOT "[pikaci] note\nhello\n[pikaci] done\n");
	set_file(&r, PIKACI_FILE_LOG, BOOT "[pikaci] leaving /cargo-home owned by 0:0\nhello\n");
	headline_is(&r, NULL, NULL);
}

static void test_one_newline_before_a_guest_line(void **state)
{
	struct run r;

	(void)state;
	run_init(&r, "no newline");
	set_file(&r, PIKACI_FILE_LOG, BOOT "no newline\n[pikaci] done\n");
	set_stdout(&r, "no newline\n[pikaci] done\n");
	headline_is(&r, NULL, NULL);
	set_stdout(&r, "no newline[pikaci] done\n");
	headline_is(&r, "X2",
	            "only whole lines beginning \"[pikaci] \" may follow it, after "
	            "exactly one \\n");
	set_stdout(&r, "no newline\n");
	headline_is(&r, "X2", "after the output (which ends at byte 10) comes \"\\n\"");
}

static void test_guest_line_inside_the_output(void **state)
{
	struct run r;

	(void)state;
	run_init(&r, "one\ntwo\n");
	set_file(&r, PIKACI_FILE_LOG, BOOT "one\ntwo\n");
	set_stdout(&r, "one\n[pikaci] oops\ntwo\n");
	headline_is(&r, "X2",
	            "standard output: a guest line inside the output at byte 4 (after 4 of the "
	            "output's 8 bytes): \"[pikaci] oops\"");
	set_stdout(&r, "one\ntwo\n");
	set_file(&r, PIKACI_FILE_LOG, BOOT "one\n[pikaci] oops\ntwo\n");
	headline_is(&r, "X2",
	            "guest.log after the boot line: a guest line inside the output at "
	            "byte 61");
}

static void test_output_missing_cut_twice_differs(void **state)
{
	struct run r;

	(void)state;
	run_init(&r, "hello\n");
	set_file(&r, PIKACI_FILE_LOG, BOOT "hello\n");
	set_stdout(&r, BOOT);
	headline_is(&r, "X2",
	            "output missing: expected 6 bytes (\"hello\\n\"), got only 57 bytes "
	            "of the guest's own lines");
	set_stdout(&r, "");
	headline_is(&r, "X2", "output missing: expected 6 bytes (\"hello\\n\"), got nothing");
	set_stdout(&r, "hel");
	headline_is(&r, "X2", "output cut at byte 3: 3 of its 6 bytes came");
	set_stdout(&r, "hello\nhello\n");
	headline_is(&r, "X2", "the output appears twice");
	set_stdout(&r, "hellO\n");
	headline_is(&r, "X2",
	            "standard output differs from byte 4 (byte 4 of the output, line 1): "
	            "expected \"o\\n\", got \"O\\n\"");
	/* The log used to say: expected "[pikaci] incus guest booted...", got "". */
	set_stdout(&r, "hello\n");
	set_file(&r, PIKACI_FILE_LOG, BOOT);
	headline_is(&r, "X2", "guest.log after the boot line: output missing");
}

static void test_log_without_case_output_follows_stdout(void **state)
{
	struct run r;

	(void)state;
	run_init(&r, "");
	r.fixture.has_stdout = false;
	set_stdout(&r, BOOT "streamed\n[pikaci] done\n");
	set_file(&r, PIKACI_FILE_LOG, BOOT "[pikaci] note\nstreamed\n");
	headline_is(&r, NULL, NULL);
	set_file(&r, PIKACI_FILE_LOG, BOOT "streamed\nstreamed\n");
	headline_is(&r, "X2", "appears twice");
}

/* A guest that wrote nothing: the cause is that nothing ran, or that the files are missing. */
static void test_silent_guest_headline_is_the_cause(void **state)
{
	struct run r;

	(void)state;
	run_init(&r, "hello\n");
	set_stdout(&r, "");
	for (int i = 0; i < _PIKACI_FILE_MAX; i++)
		set_file(&r, (enum pikaci_file)i, NULL);
	headline_is(&r, "D3", "/run/pika-cloud/logs/guest.log is missing");
	r.fixture.marker = "/run/marker";
	r.observation.marker = 0;
	headline_is(&r, "X1", "did not run (marker /run/marker is absent)");
}

/* Documents come before the output; agreement before the exit code. */
static void test_documents_before_output(void **state)
{
	struct run r;

	(void)state;
	run_init(&r, "hello\n");
	set_stdout(&r, "");
	set_file(&r, PIKACI_FILE_LOG, BOOT "hello\n");
	set_file(&r, PIKACI_FILE_STATUS, "{\"schema_version\":1,\"state\":\"passed\"}");
	headline_is(&r, "L2", "\"passed\"");
	set_file(&r, PIKACI_FILE_STATUS, STATUS);
	r.exchange.run.exit_code = 1;
	headline_is(&r, "D4", "result.json says exit code 0 but the guest exited 1");
}

static void test_robustness_time_bound_cites_its_own_clause(void **state)
{
	struct run r;

	(void)state;
	run_init(&r, "hello\n");
	set_file(&r, PIKACI_FILE_LOG, BOOT "hello\n");
	r.clauses[0] = "B2";
	r.clauses[1] = "X3";
	r.fixture.n_clauses = 2;
	r.fixture.profile = PROFILE_ROBUSTNESS;
	r.fixture.max_seconds = 3;
	r.exchange.run.seconds = 30;
	headline_is(&r, "B2", "the guest ran 30.00 s; the bound is 3.00 s");
	r.fixture.profile = PROFILE_CONTRACT;
	headline_is(&r, "X3", "the guest ran 30.00 s");
}

static void test_late_deadline_is_named(void **state)
{
	struct run r;

	(void)state;
	run_init(&r, "hello\n");
	set_file(&r, PIKACI_FILE_LOG, BOOT "hello\n");
	r.clauses[0] = "B1";
	r.clauses[1] = "X3";
	r.fixture.n_clauses = 2;
	r.fixture.profile = PROFILE_ROBUSTNESS;
	r.fixture.cut_marker = "/run/late";
	r.observation.cut_marker = 1;
	headline_is(&r, "B1", "the command ran past its timeout: it created /run/late");
}

static void test_result_written_too_early(void **state)
{
	struct run r;

	(void)state;
	run_init(&r, "hello\n");
	set_file(&r, PIKACI_FILE_LOG, BOOT "hello\n");
	r.observation.have_watch = true;
	r.observation.status_last_write = 5;
	r.observation.events_last_write = 6;
	r.observation.result_appeared = 7;
	headline_is(&r, NULL, NULL);
	r.observation.result_appeared = 4;
	headline_is(&r, "L5", "result.json appeared before the last write to events.jsonl");
	r.observation.events_last_write = 3;
	headline_is(&r, "L5", "result.json appeared before status.json's last write");
}

static void test_output_held_until_exit(void **state)
{
	struct arrival arrivals[] = { { 6, 2.01 }, { 11, 2.02 } };
	struct run r;

	(void)state;
	run_init(&r, "early\nlate\n");
	set_file(&r, PIKACI_FILE_LOG, BOOT "early\nlate\n");
	r.fixture.streamed = 1.0;
	r.observation.have_arrivals = true;
	r.observation.arrivals = arrivals;
	r.observation.n_arrivals = 2;
	r.observation.ended = 2.05;
	headline_is(&r, "X2", "the output's first line arrived 0.04 s before the guest ended");
	arrivals[0].seconds = 0.02;
	headline_is(&r, NULL, NULL);
}

/* [L7]: each way of mishandling an earlier run's files is named. */
static void test_earlier_run_files(void **state)
{
	static const char earlier_events[] = "{\"schema_version\":1,\"seq\":1,\"kind\":\"booted\","
	                                     "\"timestamp\":\"" TS "\",\"message\":\"old\"}\n";
	static const char earlier_log[] = "[pikaci] incus guest booted at " TS "\nold\n";
	struct preexisting files[] = {
		{ PIKACI_EVENTS_PATH, (char *)earlier_events, sizeof(earlier_events) - 1 },
		{ PIKACI_STATUS_PATH, (char *)STATUS, sizeof(STATUS) - 1 },
		{ PIKACI_LOG_PATH, (char *)earlier_log, sizeof(earlier_log) - 1 },
		{ PIKACI_RESULT_PATH, (char *)RESULT, sizeof(RESULT) - 1 },
	};
	char *continued = NULL, *kept = NULL;
	struct run r;

	(void)state;
	run_init(&r, "hello\n");
	set_file(&r, PIKACI_FILE_LOG, BOOT "hello\n");
	set_file(&r, PIKACI_FILE_STATUS,
	         "{\"schema_version\":1,\"state\":\"completed\",\"updated_at\":\"" TS
	         "\",\"message\":\"this run\"}");
	r.fixture.preexisting = files;
	r.fixture.n_preexisting = 1;
	assert_true(asprintf(&kept, "%s%s", earlier_events, EVENTS) > 0);
	set_file(&r, PIKACI_FILE_EVENTS, kept);
	headline_is(&r, "L7", "events.jsonl still begins with the earlier run's");
	/* Truncated, but seq continued from the earlier stream. */
	continued = strdup(EVENTS);
	assert_non_null(continued);
	for (char *p = continued; (p = strstr(p, "\"seq\":")); p += 6)
		p[6] = (char)(p[6] + 3);
	set_file(&r, PIKACI_FILE_EVENTS, continued);
	headline_is(&r, "L7", "events.jsonl starts afresh at seq 1 (its first seq is 4)");
	set_file(&r, PIKACI_FILE_EVENTS, EVENTS);
	headline_is(&r, NULL, NULL);

	r.fixture.n_preexisting = 2;
	set_file(&r, PIKACI_FILE_STATUS, STATUS);
	headline_is(&r, "L7", "status.json is still the earlier run's");
	set_file(&r, PIKACI_FILE_STATUS,
	         "{\"schema_version\":1,\"state\":\"completed\",\"updated_at\":\"" TS
	         "\",\"message\":\"this run\"}");

	r.fixture.n_preexisting = 3;
	headline_is(&r, "L7", "guest.log lost the earlier run's content");
	set_file(&r, PIKACI_FILE_LOG,
	         "[pikaci] incus guest booted at " TS "\nold\n" BOOT "hello\n");
	headline_is(&r, NULL, NULL);

	r.fixture.n_preexisting = 4;
	r.observation.have_watch = true;
	r.observation.events_first_write = 2;
	r.observation.events_last_write = 4;
	r.observation.status_last_write = 5;
	r.observation.result_appeared = 6;
	headline_is(&r, "L7", "the earlier run's result.json was still there");
	r.observation.result_removed = 1;
	headline_is(&r, NULL, NULL);
	free(kept);
	free(continued);
}

/*
 * [L7]: an earlier log without its final newline: the boot line follows it directly or after the
 * one `\n` a guest MAY add; two newlines, another byte between or the earlier content changed
 * (the boot line glued over its last byte) fail.
 */
static void test_earlier_log_without_final_newline(void **state)
{
	static const char earlier_log[] = "[pikaci] incus guest booted at " TS "\nold";
	struct preexisting files[] = {
		{ PIKACI_LOG_PATH, (char *)earlier_log, sizeof(earlier_log) - 1 },
	};
	static const struct {
		const char *log;
		const char *clause; /* NULL: passes */
		const char *needle;
	} logs[] = {
		{ "[pikaci] incus guest booted at " TS "\nold" BOOT "hello\n", NULL, NULL },
		{ "[pikaci] incus guest booted at " TS "\nold\n" BOOT "hello\n", NULL, NULL },
		{ "[pikaci] incus guest booted at " TS "\nold\n\n" BOOT "hello\n", "L1",
		  "guest.log (this run's part) does not begin with" },
		{ "[pikaci] incus guest booted at " TS "\nold\r\n" BOOT "hello\n", "L1",
		  "guest.log (this run's part) does not begin with" },
		{ "[pikaci] incus guest booted at " TS "\nol" BOOT "hello\n", "L7",
		  "guest.log lost the earlier run's content" },
		{ "[pikaci] incus guest booted at " TS "\nold\nhello\n", "L1",
		  "guest.log (this run's part) does not begin with" },
	};
	struct run r;

	(void)state;
	for (size_t i = 0; i < sizeof(logs) / sizeof(logs[0]); i++) {
		run_init(&r, "hello\n");
		r.fixture.preexisting = files;
		r.fixture.n_preexisting = 1;
		set_file(&r, PIKACI_FILE_LOG, logs[i].log);
		headline_is(&r, logs[i].clause, logs[i].needle);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guest_lines_around_the_output_pass),
		cmocka_unit_test(test_one_newline_before_a_guest_line),
		cmocka_unit_test(test_guest_line_inside_the_output),
		cmocka_unit_test(test_output_missing_cut_twice_differs),
		cmocka_unit_test(test_log_without_case_output_follows_stdout),
		cmocka_unit_test(test_silent_guest_headline_is_the_cause),
		cmocka_unit_test(test_documents_before_output),
		cmocka_unit_test(test_robustness_time_bound_cites_its_own_clause),
		cmocka_unit_test(test_late_deadline_is_named),
		cmocka_unit_test(test_result_written_too_early),
		cmocka_unit_test(test_output_held_until_exit),
		cmocka_unit_test(test_earlier_run_files),
		cmocka_unit_test(test_earlier_log_without_final_newline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
