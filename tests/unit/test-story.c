/* SPDX-License-Identifier: MIT */
/*
 * test-story.c - pikaci_story_parse(): the four documents and the exit code tell one story
 * ([D4], [L5], [L6]); every disagreement it detects, with the clause it names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pikaci-contract.h"

#define TS "2026-03-25T20:00:00+00:00"

#define EV(seq, kind, message, details)                                                    \
	"{\"schema_version\":1,\"seq\":" #seq ",\"kind\":\"" kind "\",\"timestamp\":\"" TS \
	"\",\"message\":\"" message "\"" details "}\n"
#define STATUS(state, message)                                               \
	"{\"schema_version\":1,\"state\":\"" state "\",\"updated_at\":\"" TS \
	"\",\"message\":\"" message "\"}"
#define RESULT(status, code, details)                                          \
	"{\"schema_version\":1,\"status\":\"" status "\",\"exit_code\":" #code \
	",\"finished_at\":\"" TS "\",\"message\":\"done\"" details "}"

#define BOOTED EV(1, "booted", "booted", "")
#define STARTING \
	EV(2, "starting", "run", ",\"details\":{\"command\":\"true\",\"run_as_root\":true}")
#define DONE0    EV(3, "completed", "ok", ",\"details\":{\"exit_code\":0}")
#define FAILED3  EV(3, "failed", "bad", ",\"details\":{\"exit_code\":3}")
#define REJECTED EV(2, "failed", "Incus guest bootstrap failed: unknown member", "")

#define BOOT_FAILED "Incus guest bootstrap failed: unknown member"

static struct pikaci_documents docs(const char *status, const char *events, const char *result,
                                    int exit_code)
{
	return (struct pikaci_documents){
		.status = status,
		.status_length = status ? strlen(status) : 0,
		.events = events,
		.events_length = events ? strlen(events) : 0,
		.result = result,
		.result_length = result ? strlen(result) : 0,
		.exit_code = exit_code,
	};
}

/* The story is refused, naming the clause, with a text holding `needle`. */
static void disagrees(const struct pikaci_documents *d, const char *clause, const char *needle)
{
	struct pikaci_story story = { .exit_code = 77 };
	struct pikaci_error err;

	assert_int_equal(pikaci_story_parse(d, &story, &err), -EINVAL);
	assert_int_equal(story.exit_code, 77); /* untouched on failure */
	if (strcmp(err.clause, clause) != 0 || !strstr(err.text, needle))
		fail_msg("clause [%s] \"%s\", expected [%s] with \"%s\"", err.clause, err.text,
		         clause, needle);
}

static void test_accepted_story(void **state)
{
	struct pikaci_documents d = docs(STATUS("completed", "ok"), BOOTED STARTING DONE0,
	                                 RESULT("completed", 0, ""), 0);
	struct pikaci_request *request = NULL;
	struct pikaci_story story;

	(void)state;
	assert_int_equal(pikaci_story_parse(&d, &story, NULL), 0);
	assert_false(story.rejected);
	assert_int_equal(story.terminal, PIKACI_STATE_COMPLETED);
	assert_int_equal(story.exit_code, 0);
	assert_int_equal(story.n_events, 3);
	assert_string_equal(story.reason, "");

	assert_int_equal(pikaci_request_new("true", 5, true, &request, NULL), 0);
	d.request = request;
	assert_int_equal(pikaci_story_parse(&d, NULL, NULL), 0);
	pikaci_request_free(request);
}

static void test_failed_command_story(void **state)
{
	struct pikaci_documents d =
	        docs(STATUS("failed", "bad"), BOOTED STARTING FAILED3, RESULT("failed", 3, ""), 3);
	struct pikaci_story story;

	(void)state;
	assert_int_equal(pikaci_story_parse(&d, &story, NULL), 0);
	assert_false(story.rejected);
	assert_int_equal(story.terminal, PIKACI_STATE_FAILED);
	assert_int_equal(story.exit_code, 3);
}

static void test_rejected_story(void **state)
{
	struct pikaci_documents d =
	        docs(STATUS("failed", BOOT_FAILED), BOOTED REJECTED,
	             RESULT("failed", 2, ",\"details\":{\"reason\":\"unknown_field\"}"), 2);
	struct pikaci_story story;

	(void)state;
	assert_int_equal(pikaci_story_parse(&d, &story, NULL), 0);
	assert_true(story.rejected);
	assert_int_equal(story.exit_code, 2);
	assert_int_equal(story.n_events, 2);
	assert_string_equal(story.reason, "unknown_field");
}

static void test_missing_files(void **state)
{
	struct pikaci_documents d;

	(void)state;
	d = docs(NULL, BOOTED STARTING DONE0, RESULT("completed", 0, ""), 0);
	disagrees(&d, "D3", "status.json is missing");
	d = docs(STATUS("completed", "ok"), NULL, RESULT("completed", 0, ""), 0);
	disagrees(&d, "D3", "events.jsonl is missing");
	d = docs(STATUS("completed", "ok"), BOOTED STARTING DONE0, NULL, 0);
	disagrees(&d, "D3", "result.json is missing");
}

static void test_invalid_documents(void **state)
{
	struct pikaci_documents d;

	(void)state;
	d = docs(STATUS("passed", "ok"), BOOTED STARTING DONE0, RESULT("completed", 0, ""), 0);
	disagrees(&d, "L2", "passed");
	d = docs(STATUS("completed", "ok"), BOOTED EV(3, "starting", "run", "") DONE0,
	         RESULT("completed", 0, ""), 0);
	disagrees(&d, "L3", "seq");
	d = docs(STATUS("completed", "ok"), BOOTED STARTING, RESULT("completed", 0, ""), 0);
	disagrees(&d, "L3", "no terminal event");
	d = docs(STATUS("completed", "ok"), "", RESULT("completed", 0, ""), 0);
	disagrees(&d, "L3", "no events");
	d = docs(STATUS("completed", "ok"), BOOTED STARTING DONE0, RESULT("completed", 1, ""), 1);
	disagrees(&d, "L4", "completed");
}

/* The events stream is capped: its length alone is refused, before any line is read. */
static void test_events_over_the_cap(void **state)
{
	struct pikaci_documents d = docs(STATUS("completed", "ok"), BOOTED STARTING DONE0,
	                                 RESULT("completed", 0, ""), 0);
	struct pikaci_error err;

	(void)state;
	d.events_length = (size_t)PIKACI_LIFECYCLE_MAX_BYTES + 1; /* never read that far */
	assert_int_equal(pikaci_story_parse(&d, NULL, &err), -EINVAL);
	assert_int_equal(err.reason, PIKACI_REASON_TOO_LARGE);
	assert_string_equal(err.clause, "L3");
}

/*
 * The stream pikaci-host once passed: many starting events, completed, no booted (550,000 in
 * the report; 20,000 keep the test quick under valgrind, and the walk is the same).
 */
static void test_many_starting_no_booted(void **state)
{
	size_t n = 20000, size = (n + 1) * 160, o = 0;
	char *events = malloc(size);
	struct pikaci_documents d;

	(void)state;
	assert_non_null(events);
	for (size_t i = 1; i <= n; i++)
		o += (size_t)snprintf(events + o, size - o,
		                      "{\"schema_version\":1,\"seq\":%zu,\"kind\":\"starting\","
		                      "\"timestamp\":\"" TS "\",\"message\":\"m\"}\n",
		                      i);
	snprintf(events + o, size - o,
	         "{\"schema_version\":1,\"seq\":%zu,\"kind\":\"completed\",\"timestamp\":\"" TS
	         "\",\"message\":\"m\",\"details\":{\"exit_code\":0}}\n",
	         n + 1);
	d = docs(STATUS("completed", "ok"), events, RESULT("completed", 0, ""), 0);
	disagrees(&d, "L5", "starting x20000, completed");
	free(events);
}

static void test_wrong_sequences(void **state)
{
	struct pikaci_documents d;

	(void)state;
	d = docs(STATUS("completed", "ok"),
	         EV(1, "completed", "ok", ",\"details\":{\"exit_code\":0}"),
	         RESULT("completed", 0, ""), 0);
	disagrees(&d, "L5", "the events are completed;");
	d = docs(STATUS("completed", "ok"),
	         BOOTED STARTING EV(3, "ready", "r", "") EV(4, "completed", "ok", ""),
	         RESULT("completed", 0, ""), 0);
	disagrees(&d, "L5", "booted, starting, ready, completed");
	d = docs(STATUS("completed", "ok"), BOOTED EV(2, "completed", "ok", ""),
	         RESULT("completed", 0, ""), 0);
	disagrees(&d, "L5", "booted, completed");
}

static void test_starting_details(void **state)
{
	struct pikaci_request *request = NULL;
	struct pikaci_documents d;

	(void)state;
	d = docs(STATUS("completed", "ok"),
	         BOOTED EV(2, "starting", "run", ",\"details\":{\"run_as_root\":true}") DONE0,
	         RESULT("completed", 0, ""), 0);
	disagrees(&d, "L5", "lack the command");
	d = docs(STATUS("completed", "ok"),
	         BOOTED EV(2, "starting", "run", ",\"details\":{\"command\":\"true\"}") DONE0,
	         RESULT("completed", 0, ""), 0);
	disagrees(&d, "L5", "lack run_as_root");
	d = docs(STATUS("completed", "ok"), BOOTED STARTING DONE0, RESULT("completed", 0, ""), 0);
	assert_int_equal(pikaci_request_new("false", 5, true, &request, NULL), 0);
	d.request = request;
	disagrees(&d, "L5", "another command or run_as_root");
	pikaci_request_free(request);
	assert_int_equal(pikaci_request_new("true", 5, false, &request, NULL), 0);
	d.request = request;
	disagrees(&d, "L5", "another command or run_as_root");
	pikaci_request_free(request);
}

static void test_terminal_exit_code(void **state)
{
	struct pikaci_documents d;

	(void)state;
	d = docs(STATUS("completed", "ok"), BOOTED STARTING EV(3, "completed", "ok", ""),
	         RESULT("completed", 0, ""), 0);
	disagrees(&d, "L5", "has no details.exit_code");
	d = docs(STATUS("failed", "bad"), BOOTED STARTING FAILED3, RESULT("failed", 4, ""), 4);
	disagrees(&d, "L5", "details.exit_code 3 is not result.json's exit_code 4");
}

static void test_rejection_rules(void **state)
{
	struct pikaci_documents d;

	(void)state;
	d = docs(STATUS("failed", BOOT_FAILED), BOOTED EV(2, "failed", "it broke", ""),
	         RESULT("failed", 2, ""), 2);
	disagrees(&d, "L6", "the failed event's message");
	d = docs(STATUS("failed", "it broke"), BOOTED REJECTED, RESULT("failed", 2, ""), 2);
	disagrees(&d, "L6", "status.json's message");
	d = docs(STATUS("failed", BOOT_FAILED), BOOTED REJECTED, RESULT("failed", 1, ""), 1);
	disagrees(&d, "L6", "exit_code 2, not 1");
}

static void test_agreement(void **state)
{
	struct pikaci_documents d;

	(void)state;
	d = docs(STATUS("starting", "run"), BOOTED STARTING DONE0, RESULT("completed", 0, ""), 0);
	disagrees(&d, "D4",
	          "status.json's state \"starting\" is not the last event's \"completed\"");
	d = docs(STATUS("failed", "bad"),
	         BOOTED STARTING EV(3, "failed", "bad", ",\"details\":{\"exit_code\":0}"),
	         RESULT("completed", 0, ""), 0);
	disagrees(&d, "D4", "result.json's status \"completed\" is not the terminal event's");
	d = docs(STATUS("completed", "ok"), BOOTED STARTING DONE0, RESULT("completed", 0, ""), 1);
	disagrees(&d, "D4", "result.json says exit code 0 but the guest exited 1");
	d = docs(STATUS("completed", "ok"), BOOTED STARTING DONE0, RESULT("completed", 0, ""), -1);
	disagrees(&d, "D4", "did not exit by itself");
	d = docs(STATUS("failed", BOOT_FAILED), BOOTED REJECTED, RESULT("failed", 2, ""), 0);
	disagrees(&d, "D4", "the guest exited 0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted_story),
		cmocka_unit_test(test_failed_command_story),
		cmocka_unit_test(test_rejected_story),
		cmocka_unit_test(test_missing_files),
		cmocka_unit_test(test_invalid_documents),
		cmocka_unit_test(test_events_over_the_cap),
		cmocka_unit_test(test_many_starting_no_booted),
		cmocka_unit_test(test_wrong_sequences),
		cmocka_unit_test(test_starting_details),
		cmocka_unit_test(test_terminal_exit_code),
		cmocka_unit_test(test_rejection_rules),
		cmocka_unit_test(test_agreement),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
