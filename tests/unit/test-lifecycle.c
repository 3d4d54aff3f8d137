/* SPDX-License-Identifier: MIT */
/* test-lifecycle.c - status, event, result documents and the events stream (CONTRACT §5). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pikaci-contract.h"

#define TS "2026-03-25T20:00:00+00:00"

static void status_rejects(const char *text, enum pikaci_reason reason, const char *member)
{
	struct pikaci_error err;
	json_t *document = NULL;

	assert_int_equal(pikaci_status_parse(text, strlen(text), &document, &err), -EINVAL);
	assert_null(document);
	if (err.reason != reason)
		fail_msg("reason %s, expected %s (%s)", pikaci_reason_name(err.reason),
		         pikaci_reason_name(reason), err.text);
	assert_string_equal(err.member, member);
}

static void result_rejects(const char *text, enum pikaci_reason reason, const char *member)
{
	struct pikaci_error err;

	assert_int_equal(pikaci_result_parse(text, strlen(text), NULL, &err), -EINVAL);
	if (err.reason != reason)
		fail_msg("reason %s, expected %s (%s)", pikaci_reason_name(err.reason),
		         pikaci_reason_name(reason), err.text);
	assert_string_equal(err.member, member);
}

static void events_reject(const char *text, enum pikaci_reason reason, const char *member,
                          long long position)
{
	struct pikaci_error err;
	json_t *events = NULL;

	assert_int_equal(pikaci_events_parse(text, strlen(text), &events, &err), -EINVAL);
	assert_null(events);
	if (err.reason != reason)
		fail_msg("reason %s, expected %s (%s)", pikaci_reason_name(err.reason),
		         pikaci_reason_name(reason), err.text);
	assert_string_equal(err.member, member);
	assert_int_equal(err.position, position);
}

/* --- State vocabulary --------------------------------------------------------------------- */

static void test_state_vocabulary_round_trip(void **state)
{
	static const char *const names[] = { "requested", "provisioning", "booted",   "unreachable",
		                             "stopped",   "destroyed",    "starting", "ready",
		                             "failed",    "completed" };
	enum pikaci_state parsed;

	(void)state;
	for (int i = 0; i < _PIKACI_STATE_MAX; i++) {
		assert_string_equal(pikaci_state_name((enum pikaci_state)i), names[i]);
		assert_int_equal(pikaci_state_parse(names[i], &parsed), 0);
		assert_int_equal(parsed, i);
	}
	assert_null(pikaci_state_name(_PIKACI_STATE_MAX));
}

static void test_passed_is_not_a_state(void **state)
{
	enum pikaci_state parsed = PIKACI_STATE_READY;

	(void)state;
	assert_int_equal(pikaci_state_parse("passed", &parsed), -EINVAL);
	assert_int_equal(pikaci_state_parse("Completed", &parsed), -EINVAL);
	assert_int_equal(pikaci_state_parse(NULL, &parsed), -EINVAL);
	assert_int_equal(parsed, PIKACI_STATE_READY);
}

static void test_terminal_states(void **state)
{
	(void)state;
	for (int i = 0; i < _PIKACI_STATE_MAX; i++)
		assert_int_equal(pikaci_state_is_terminal((enum pikaci_state)i),
		                 i == PIKACI_STATE_COMPLETED || i == PIKACI_STATE_FAILED);
}

/* --- status.json -------------------------------------------------------------------------- */

static void test_status_round_trip(void **state)
{
	json_t *status, *parsed = NULL;
	char *text, *again;

	(void)state;
	status = pikaci_status_new(PIKACI_STATE_STARTING, TS, "running",
	                           json_pack("{s:s, s:b}", "command", "make", "run_as_root", 0));
	assert_non_null(status);
	assert_int_equal(pikaci_status_validate(status, NULL), 0);
	text = pikaci_document_dump(status);
	assert_int_equal(pikaci_status_parse(text, strlen(text), &parsed, NULL), 0);
	again = pikaci_document_dump(parsed);
	assert_string_equal(text, again);
	assert_null(strchr(text, '\n'));
	free(text);
	free(again);
	json_decref(status);
	json_decref(parsed);
}

static void test_status_with_boot_id(void **state)
{
	(void)state;
	assert_int_equal(pikaci_status_parse("{\"schema_version\":1,\"state\":\"booted\","
	                                     "\"updated_at\":\"" TS "\",\"message\":\"m\","
	                                     "\"boot_id\":\"b-1\"}",
	                                     strlen("{\"schema_version\":1,\"state\":\"booted\","
	                                            "\"updated_at\":\"" TS "\",\"message\":\"m\","
	                                            "\"boot_id\":\"b-1\"}"),
	                                     NULL, NULL),
	                 0);
}

static void test_status_rejections(void **state)
{
	(void)state;
	status_rejects("{\"schema_version\":1,\"state\":\"passed\",\"updated_at\":\"" TS
	               "\",\"message\":\"m\"}",
	               PIKACI_REASON_INVALID_VALUE, "state");
	status_rejects("{\"schema_version\":2,\"state\":\"booted\",\"updated_at\":\"" TS
	               "\",\"message\":\"m\"}",
	               PIKACI_REASON_UNSUPPORTED_SCHEMA_VERSION, "schema_version");
	status_rejects("{\"schema_version\":1,\"state\":\"booted\",\"message\":\"m\"}",
	               PIKACI_REASON_MISSING_FIELD, "updated_at");
	status_rejects("{\"schema_version\":1,\"state\":\"booted\",\"updated_at\":\"yesterday\","
	               "\"message\":\"m\"}",
	               PIKACI_REASON_INVALID_VALUE, "updated_at");
	status_rejects("{\"schema_version\":1,\"state\":\"booted\",\"updated_at\":\"" TS
	               "\",\"message\":\"m\",\"details\":[]}",
	               PIKACI_REASON_INVALID_TYPE, "details");
	status_rejects("{\"schema_version\":1,\"state\":\"booted\",\"updated_at\":\"" TS
	               "\",\"message\":\"m\",\"pid\":7}",
	               PIKACI_REASON_UNKNOWN_FIELD, "pid");
	status_rejects("{\"schema_version\":1,\"state\":\"booted\",\"state\":\"failed\"}",
	               PIKACI_REASON_DUPLICATE_FIELD, "state");
	status_rejects("{\"schema_version\":1,\"state\":\"boo", PIKACI_REASON_INVALID_JSON, "");
	status_rejects("", PIKACI_REASON_EMPTY, "");
}

static void test_builders_refuse_bad_arguments(void **state)
{
	(void)state;
	assert_null(pikaci_status_new(_PIKACI_STATE_MAX, TS, "m", NULL));
	assert_null(pikaci_status_new(PIKACI_STATE_BOOTED, NULL, "m", json_object()));
	assert_null(pikaci_event_new(0, PIKACI_STATE_BOOTED, TS, "m", NULL));
	assert_null(pikaci_result_new(0, TS, NULL, json_object()));
	assert_null(pikaci_document_dump(NULL));
}

/* --- result.json -------------------------------------------------------------------------- */

static void test_result_status_follows_exit_code(void **state)
{
	json_t *ok = pikaci_result_new(0, TS, "done", NULL);
	json_t *bad = pikaci_result_new(42, TS, "exit 42", json_pack("{s:i}", "exit_code", 42));

	(void)state;
	assert_string_equal(json_string_value(json_object_get(ok, "status")), "completed");
	assert_string_equal(json_string_value(json_object_get(bad, "status")), "failed");
	assert_int_equal(pikaci_result_validate(ok, NULL), 0);
	assert_int_equal(pikaci_result_validate(bad, NULL), 0);
	json_decref(ok);
	json_decref(bad);
}

static void test_result_rejections(void **state)
{
	(void)state;
	result_rejects("{\"schema_version\":1,\"status\":\"completed\",\"exit_code\":1,"
	               "\"finished_at\":\"" TS "\",\"message\":\"m\"}",
	               PIKACI_REASON_INCONSISTENT, "status");
	result_rejects("{\"schema_version\":1,\"status\":\"failed\",\"exit_code\":0,"
	               "\"finished_at\":\"" TS "\",\"message\":\"m\"}",
	               PIKACI_REASON_INCONSISTENT, "status");
	result_rejects("{\"schema_version\":1,\"status\":\"passed\",\"exit_code\":0,"
	               "\"finished_at\":\"" TS "\",\"message\":\"m\"}",
	               PIKACI_REASON_INVALID_VALUE, "status");
	result_rejects("{\"schema_version\":1,\"status\":\"failed\",\"exit_code\":\"2\","
	               "\"finished_at\":\"" TS "\",\"message\":\"m\"}",
	               PIKACI_REASON_INVALID_TYPE, "exit_code");
	result_rejects("{\"schema_version\":1,\"status\":\"failed\",\"exit_code\":4294967296,"
	               "\"finished_at\":\"" TS "\",\"message\":\"m\"}",
	               PIKACI_REASON_INVALID_VALUE, "exit_code");
	result_rejects("{\"schema_version\":1,\"status\":\"failed\",\"exit_code\":2,"
	               "\"finished_at\":\"" TS "\",\"message\":\"m\",\"boot_id\":\"b\"}",
	               PIKACI_REASON_UNKNOWN_FIELD, "boot_id");
	result_rejects("{\"schema_version\":1,\"status\":\"failed\",\"exit_code\":2,"
	               "\"message\":\"m\"}",
	               PIKACI_REASON_MISSING_FIELD, "finished_at");
}

/* --- events.jsonl ------------------------------------------------------------------------- */

#define EV(seq, kind)                                                                      \
	"{\"schema_version\":1,\"seq\":" #seq ",\"kind\":\"" kind "\",\"timestamp\":\"" TS \
	"\",\"message\":\"m\"}\n"

static void test_events_valid_stream(void **state)
{
	const char *text = EV(1, "booted") EV(2, "starting") EV(3, "completed");
	json_t *events = NULL;

	(void)state;
	assert_int_equal(pikaci_events_parse(text, strlen(text), &events, NULL), 0);
	assert_int_equal(json_array_size(events), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(events, 2), "kind")),
	                    "completed");
	json_decref(events);
}

static void test_event_builder_round_trip(void **state)
{
	json_t *event = pikaci_event_new(1, PIKACI_STATE_FAILED, TS, "boom",
	                                 json_pack("{s:i}", "exit_code", 3));
	char *line = pikaci_document_dump(event);
	char stream[512];
	json_t *events = NULL;

	(void)state;
	snprintf(stream, sizeof(stream), "%s\n", line);
	assert_int_equal(pikaci_events_parse(stream, strlen(stream), &events, NULL), 0);
	assert_true(json_equal(json_array_get(events, 0), event));
	free(line);
	json_decref(event);
	json_decref(events);
}

static void test_events_seq_must_start_at_one(void **state)
{
	(void)state;
	events_reject(EV(0, "booted"), PIKACI_REASON_INVALID_VALUE, "seq", 0);
	events_reject(EV(2, "booted") EV(3, "completed"), PIKACI_REASON_INVALID_VALUE, "seq", 0);
}

static void test_events_seq_that_skips(void **state)
{
	(void)state;
	events_reject(EV(1, "booted") EV(3, "completed"), PIKACI_REASON_INVALID_VALUE, "seq",
	              (long long)strlen(EV(1, "booted")));
	events_reject(EV(1, "booted") EV(1, "completed"), PIKACI_REASON_INVALID_VALUE, "seq",
	              (long long)strlen(EV(1, "booted")));
}

static void test_events_exactly_one_terminal(void **state)
{
	(void)state;
	events_reject(EV(1, "booted") EV(2, "starting"), PIKACI_REASON_INCONSISTENT, "kind",
	              (long long)strlen(EV(1, "booted") EV(2, "starting")));
	events_reject(EV(1, "booted") EV(2, "failed") EV(3, "completed"),
	              PIKACI_REASON_INCONSISTENT, "kind",
	              (long long)strlen(EV(1, "booted") EV(2, "failed")));
}

static void test_events_torn_last_line(void **state)
{
	const char *text = EV(1, "booted") "{\"schema_version\":1,\"seq\":2";

	(void)state;
	events_reject(text, PIKACI_REASON_INVALID_JSON, "", (long long)strlen(EV(1, "booted")));
}

static void test_events_bad_line(void **state)
{
	(void)state;
	events_reject(EV(1, "booted") EV(2, "passed"), PIKACI_REASON_INVALID_VALUE, "kind",
	              (long long)strlen(EV(1, "booted")));
	events_reject(EV(1, "booted") "\n", PIKACI_REASON_EMPTY, "",
	              (long long)strlen(EV(1, "booted")));
	events_reject("", PIKACI_REASON_EMPTY, "", 0);
	events_reject("[]\n", PIKACI_REASON_NOT_AN_OBJECT, "", 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_vocabulary_round_trip),
		cmocka_unit_test(test_passed_is_not_a_state),
		cmocka_unit_test(test_terminal_states),
		cmocka_unit_test(test_status_round_trip),
		cmocka_unit_test(test_status_with_boot_id),
		cmocka_unit_test(test_status_rejections),
		cmocka_unit_test(test_builders_refuse_bad_arguments),
		cmocka_unit_test(test_result_status_follows_exit_code),
		cmocka_unit_test(test_result_rejections),
		cmocka_unit_test(test_events_valid_stream),
		cmocka_unit_test(test_event_builder_round_trip),
		cmocka_unit_test(test_events_seq_must_start_at_one),
		cmocka_unit_test(test_events_seq_that_skips),
		cmocka_unit_test(test_events_exactly_one_terminal),
		cmocka_unit_test(test_events_torn_last_line),
		cmocka_unit_test(test_events_bad_line),
	};

	return cmocka_run_group_tests_name("lifecycle", tests, NULL, NULL);
}
