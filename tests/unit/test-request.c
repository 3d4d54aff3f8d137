/* SPDX-License-Identifier: MIT */
/* test-request.c - request v2 parsing and validation: every class of [R1]-[R6], round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pikaci-contract.h"

#define VALID_TAIL "\"command\":\"make test\",\"timeout_secs\":60,\"run_as_root\":false"
#define V2(extra)  "{\"schema_version\":2," VALID_TAIL extra "}"

/* Parses text (of explicit length) and asserts the rejection's reason code and member. */
static void reject_n(const char *text, size_t length, enum pikaci_reason reason, const char *member)
{
	struct pikaci_request *request = NULL;
	struct pikaci_error err;

	memset(&err, 0, sizeof(err));
	assert_int_equal(pikaci_request_parse(text, length, &request, &err), -EINVAL);
	assert_null(request);
	if (err.reason != reason)
		fail_msg("reason %s, expected %s (%s)", pikaci_reason_name(err.reason),
		         pikaci_reason_name(reason), err.text);
	assert_string_equal(err.member, member);
	assert_true(strlen(err.text) > 10);
}

static void reject(const char *text, enum pikaci_reason reason, const char *member)
{
	reject_n(text, strlen(text), reason, member);
}

static struct pikaci_request *accept(const char *text)
{
	struct pikaci_request *request = NULL;
	struct pikaci_error err;

	if (pikaci_request_parse(text, strlen(text), &request, &err) != 0)
		fail_msg("rejected: %s", err.text);
	assert_non_null(request);
	return request;
}

/* --- [R1] versions ------------------------------------------------------------------------ */

static void test_v1_full_payload_is_version_mismatch(void **state)
{
	(void)state;
	/* Version first: the stray path fields are not what is reported. */
	reject("{\"schema_version\":1,\"command\":\"make\",\"timeout_secs\":60,"
	       "\"run_as_root\":false,\"workspace_dir\":\"/w\",\"cargo_home_dir\":\"/c\","
	       "\"target_dir\":\"/t\",\"xdg_state_home_dir\":\"/x\",\"home_dir\":\"/h\"}",
	       PIKACI_REASON_UNSUPPORTED_SCHEMA_VERSION, "schema_version");
}

static void test_v1_without_path_fields(void **state)
{
	(void)state;
	reject("{\"schema_version\":1," VALID_TAIL "}", PIKACI_REASON_UNSUPPORTED_SCHEMA_VERSION,
	       "schema_version");
}

static void test_versions_other_than_two(void **state)
{
	static const char *const versions[] = { "0",    "3",    "\"2\"", "2.0", "2e0",
		                                "null", "true", "-2",    "[2]", "{}" };
	char text[256];

	(void)state;
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		snprintf(text, sizeof(text), "{\"schema_version\":%s," VALID_TAIL "}", versions[i]);
		reject(text, PIKACI_REASON_UNSUPPORTED_SCHEMA_VERSION, "schema_version");
	}
}

static void test_version_missing(void **state)
{
	(void)state;
	reject("{" VALID_TAIL "}", PIKACI_REASON_MISSING_FIELD, "schema_version");
}

static void test_version_checked_before_everything_else(void **state)
{
	(void)state;
	reject("{\"schema_version\":3,\"nonsense\":1}", PIKACI_REASON_UNSUPPORTED_SCHEMA_VERSION,
	       "schema_version");
}

static void test_huge_version(void **state)
{
	(void)state;
	reject("{\"schema_version\":18446744073709551618," VALID_TAIL "}",
	       PIKACI_REASON_UNSUPPORTED_SCHEMA_VERSION, "schema_version");
}

/* --- [R2] stray members ------------------------------------------------------------------- */

static void test_each_v1_path_field_alone(void **state)
{
	static const char *const fields[] = { "workspace_dir", "cargo_home_dir", "target_dir",
		                              "xdg_state_home_dir", "home_dir" };
	char text[256];

	(void)state;
	for (size_t i = 0; i < 5; i++) {
		snprintf(text, sizeof(text), V2(",\"%s\":\"/somewhere\""), fields[i]);
		reject(text, PIKACI_REASON_UNKNOWN_FIELD, fields[i]);
	}
}

static void test_path_field_whatever_its_value(void **state)
{
	(void)state;
	reject(V2(",\"home_dir\":null"), PIKACI_REASON_UNKNOWN_FIELD, "home_dir");
	reject(V2(",\"target_dir\":\"\""), PIKACI_REASON_UNKNOWN_FIELD, "target_dir");
	reject(V2(",\"cargo_home_dir\":{\"a\":1}"), PIKACI_REASON_UNKNOWN_FIELD, "cargo_home_dir");
}

static void test_all_five_path_fields_first_is_named(void **state)
{
	(void)state;
	reject("{\"schema_version\":2,\"xdg_state_home_dir\":\"/x\",\"workspace_dir\":\"/w\","
	       "\"cargo_home_dir\":\"/c\",\"target_dir\":\"/t\",\"home_dir\":\"/h\"," VALID_TAIL
	       "}",
	       PIKACI_REASON_UNKNOWN_FIELD, "xdg_state_home_dir");
}

static void test_path_field_message_explains(void **state)
{
	struct pikaci_error err;

	(void)state;
	assert_int_equal(pikaci_request_parse(V2(",\"workspace_dir\":\"/w\""),
	                                      strlen(V2(",\"workspace_dir\":\"/w\"")), NULL, &err),
	                 -EINVAL);
	assert_non_null(strstr(err.text, "version-1 path field"));
}

static void test_other_unknown_member(void **state)
{
	(void)state;
	reject(V2(",\"env\":{}"), PIKACI_REASON_UNKNOWN_FIELD, "env");
	reject(V2(",\"Command\":\"x\""), PIKACI_REASON_UNKNOWN_FIELD, "Command");
}

static void test_unknown_member_name_is_escaped(void **state)
{
	(void)state;
	reject(V2(",\"a\\tb\":1"), PIKACI_REASON_UNKNOWN_FIELD, "a\\x09b");
}

static void test_long_unknown_member_name_is_cut(void **state)
{
	char text[512], name[201];
	struct pikaci_error err;

	(void)state;
	memset(name, 'n', 200);
	name[200] = '\0';
	snprintf(text, sizeof(text), V2(",\"%s\":1"), name);
	assert_int_equal(pikaci_request_parse(text, strlen(text), NULL, &err), -EINVAL);
	assert_int_equal(err.reason, PIKACI_REASON_UNKNOWN_FIELD);
	assert_int_equal(strlen(err.member), PIKACI_ERROR_MEMBER_LENGTH - 1);
	assert_string_equal(err.member + strlen(err.member) - 3, "...");
}

/* --- [R3] missing, type and range --------------------------------------------------------- */

static void test_missing_members(void **state)
{
	(void)state;
	reject("{\"schema_version\":2,\"timeout_secs\":5,\"run_as_root\":true}",
	       PIKACI_REASON_MISSING_FIELD, "command");
	reject("{\"schema_version\":2,\"command\":\"x\",\"run_as_root\":true}",
	       PIKACI_REASON_MISSING_FIELD, "timeout_secs");
	reject("{\"schema_version\":2,\"command\":\"x\",\"timeout_secs\":5}",
	       PIKACI_REASON_MISSING_FIELD, "run_as_root");
	reject("{\"schema_version\":2}", PIKACI_REASON_MISSING_FIELD, "command");
}

static void test_command_types(void **state)
{
	static const char *const values[] = { "1", "null", "true", "[\"make\"]", "{}", "1.5" };
	char text[256];

	(void)state;
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		snprintf(text, sizeof(text),
		         "{\"schema_version\":2,\"command\":%s,\"timeout_secs\":5,"
		         "\"run_as_root\":true}",
		         values[i]);
		reject(text, PIKACI_REASON_INVALID_TYPE, "command");
	}
}

static void test_timeout_types(void **state)
{
	static const char *const values[] = { "1.5",   "5.0",   "5e0",  "true",
		                              "false", "\"5\"", "null", "[5]" };
	char text[256];

	(void)state;
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		snprintf(text, sizeof(text),
		         "{\"schema_version\":2,\"command\":\"x\",\"timeout_secs\":%s,"
		         "\"run_as_root\":true}",
		         values[i]);
		reject(text, PIKACI_REASON_INVALID_TYPE, "timeout_secs");
	}
}

static void test_timeout_range(void **state)
{
	(void)state;
	reject("{\"schema_version\":2,\"command\":\"x\",\"timeout_secs\":0,\"run_as_root\":true}",
	       PIKACI_REASON_INVALID_VALUE, "timeout_secs");
	reject("{\"schema_version\":2,\"command\":\"x\",\"timeout_secs\":-1,\"run_as_root\":true}",
	       PIKACI_REASON_INVALID_VALUE, "timeout_secs");
	reject("{\"schema_version\":2,\"command\":\"x\",\"timeout_secs\":-0,\"run_as_root\":true}",
	       PIKACI_REASON_INVALID_VALUE, "timeout_secs");
}

static void test_run_as_root_types(void **state)
{
	static const char *const values[] = { "1", "0", "\"true\"", "null", "\"yes\"" };
	char text[256];

	(void)state;
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		snprintf(text, sizeof(text),
		         "{\"schema_version\":2,\"command\":\"x\",\"timeout_secs\":5,"
		         "\"run_as_root\":%s}",
		         values[i]);
		reject(text, PIKACI_REASON_INVALID_TYPE, "run_as_root");
	}
}

static void test_empty_command(void **state)
{
	(void)state;
	reject("{\"schema_version\":2,\"command\":\"\",\"timeout_secs\":5,\"run_as_root\":true}",
	       PIKACI_REASON_INVALID_VALUE, "command");
}

static void test_nul_in_command(void **state)
{
	struct pikaci_error err;
	const char *text =
	        "{\"schema_version\":2,\"command\":\"true\\u0000rm -rf /\",\"timeout_secs\":5,"
	        "\"run_as_root\":true}";

	(void)state;
	reject(text, PIKACI_REASON_INVALID_VALUE, "command");
	pikaci_request_parse(text, strlen(text), NULL, &err);
	assert_non_null(strstr(err.text, "offset 4"));
}

/* --- [R6] timeouts too large ---------------------------------------------------------- */

static void test_timeout_largest_accepted(void **state)
{
	struct pikaci_request *request;

	(void)state;
	request = accept("{\"schema_version\":2,\"command\":\"x\",\"timeout_secs\":"
	                 "9007199254740991,\"run_as_root\":true}");
	assert_true(request->timeout_secs == PIKACI_TIMEOUT_SECS_MAX);
	pikaci_request_free(request);
}

static void test_timeout_2_pow_53_too_large(void **state)
{
	(void)state;
	reject("{\"schema_version\":2,\"command\":\"x\",\"timeout_secs\":9007199254740992,"
	       "\"run_as_root\":true}",
	       PIKACI_REASON_TOO_LARGE, "timeout_secs");
}

static void test_timeout_2_pow_63_too_large(void **state)
{
	(void)state;
	/* Beyond jansson's integers: the member must still be named, never wrapped. */
	reject("{\"schema_version\":2,\"command\":\"x\",\"timeout_secs\":9223372036854775808,"
	       "\"run_as_root\":true}",
	       PIKACI_REASON_TOO_LARGE, "timeout_secs");
}

static void test_timeout_2_pow_64_too_large(void **state)
{
	(void)state;
	reject("{\"schema_version\":2,\"command\":\"x\",\"timeout_secs\":18446744073709551616,"
	       "\"run_as_root\":true}",
	       PIKACI_REASON_TOO_LARGE, "timeout_secs");
	reject("{\"schema_version\":2,\"command\":\"x\",\"timeout_secs\":"
	       "100000000000000000000000000000000000000,\"run_as_root\":true}",
	       PIKACI_REASON_TOO_LARGE, "timeout_secs");
}

static void test_timeout_huge_negative(void **state)
{
	(void)state;
	reject("{\"schema_version\":2,\"command\":\"x\",\"timeout_secs\":-18446744073709551616,"
	       "\"run_as_root\":true}",
	       PIKACI_REASON_INVALID_VALUE, "timeout_secs");
}

static void test_overflow_elsewhere_is_named(void **state)
{
	(void)state;
	reject(V2(",\"extra\":99999999999999999999999"), PIKACI_REASON_UNKNOWN_FIELD, "extra");
	reject("{\"schema_version\":2,\"command\":99999999999999999999999,\"timeout_secs\":5,"
	       "\"run_as_root\":true}",
	       PIKACI_REASON_INVALID_TYPE, "command");
}

static void test_overflow_keeps_the_order_of_checks(void **state)
{
	(void)state;
	/* The version is checked first even when another member overflows. */
	reject("{\"schema_version\":2.0,\"command\":\"x\",\"timeout_secs\":99999999999999999999,"
	       "\"run_as_root\":true}",
	       PIKACI_REASON_UNSUPPORTED_SCHEMA_VERSION, "schema_version");
	/* Table order: timeout_secs (5.0) is reported before run_as_root (the overflow). */
	reject("{\"schema_version\":2,\"command\":\"x\",\"timeout_secs\":5.0,"
	       "\"run_as_root\":99999999999999999999}",
	       PIKACI_REASON_INVALID_TYPE, "timeout_secs");
	reject("{\"schema_version\":2,\"command\":\"x\",\"timeout_secs\":5,"
	       "\"run_as_root\":-99999999999999999999}",
	       PIKACI_REASON_INVALID_TYPE, "run_as_root");
	/* Faults behind the number are still found, at their own byte. */
	reject("{\"schema_version\":2,\"timeout_secs\":99999999999999999999,\"timeout_secs\":1,"
	       "\"command\":\"x\",\"run_as_root\":true}",
	       PIKACI_REASON_DUPLICATE_FIELD, "timeout_secs");
}

static void test_overflow_error_positions_are_the_input_s(void **state)
{
	const char *text = "{\"timeout_secs\":99999999999999999999, x}";
	struct pikaci_error err;

	(void)state;
	assert_int_equal(pikaci_request_parse(text, strlen(text), NULL, &err), -EINVAL);
	assert_int_equal(err.reason, PIKACI_REASON_INVALID_JSON);
	assert_int_equal(err.position, 39);
}

static void test_many_overflows_are_too_large(void **state)
{
	char text[2048] = "{\"a\":[";

	(void)state;
	for (int i = 0; i < 20; i++)
		strcat(text, i ? ",99999999999999999999" : "99999999999999999999");
	strcat(text, "]}");
	reject(text, PIKACI_REASON_TOO_LARGE, "");
	/* Fewer than the limit: the member holding them is named. */
	reject("{\"schema_version\":2,\"a\":[99999999999999999999,99999999999999999999]}",
	       PIKACI_REASON_UNKNOWN_FIELD, "a");
}

static void test_sentinel_text_is_an_ordinary_string_otherwise(void **state)
{
	struct pikaci_request *request;

	(void)state;
	request = accept("{\"schema_version\":2,\"command\":\"\\u0001ppppppppppppppppppp\","
	                 "\"timeout_secs\":5,\"run_as_root\":true}");
	assert_string_equal(request->command, "\x01ppppppppppppppppppp");
	pikaci_request_free(request);
}

static void test_real_overflow(void **state)
{
	(void)state;
	reject("{\"schema_version\":2,\"command\":\"x\",\"timeout_secs\":1e999,"
	       "\"run_as_root\":true}",
	       PIKACI_REASON_TOO_LARGE, "");
}

/* --- [R4] duplicates ---------------------------------------------------------------------- */

static void test_duplicate_members(void **state)
{
	(void)state;
	reject("{\"schema_version\":2,\"command\":\"ls\",\"command\":\"rm -rf /\","
	       "\"timeout_secs\":5,\"run_as_root\":true}",
	       PIKACI_REASON_DUPLICATE_FIELD, "command");
	reject(V2(",\"run_as_root\":false"), PIKACI_REASON_DUPLICATE_FIELD, "run_as_root");
	reject("{\"schema_version\":2,\"schema_version\":2," VALID_TAIL "}",
	       PIKACI_REASON_DUPLICATE_FIELD, "schema_version");
}

static void test_duplicate_with_same_value(void **state)
{
	(void)state;
	reject(V2(",\"timeout_secs\":60"), PIKACI_REASON_DUPLICATE_FIELD, "timeout_secs");
}

/* --- [R5] documents that are not a request at all ----------------------------------------- */

static void test_empty_input(void **state)
{
	(void)state;
	reject_n("", 0, PIKACI_REASON_EMPTY, "");
}

static void test_whitespace_only(void **state)
{
	(void)state;
	reject(" \n\t ", PIKACI_REASON_INVALID_JSON, "");
}

static void test_not_an_object(void **state)
{
	static const char *const texts[] = { "[]",   "[{\"schema_version\":2}]",
		                             "2",    "\"x\"",
		                             "null", "true" };

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		reject(texts[i], PIKACI_REASON_NOT_AN_OBJECT, "");
}

static void test_invalid_json(void **state)
{
	static const char *const texts[] = {
		"{",
		"{\"schema_version\":2,}",
		"{schema_version:2}",
		"{'a':1}",
		V2("") " trailing",
		V2("") "{}",
		"{\"a\":1 \"b\":2}",
		"{\"a\":\"\\ud800\"}",
		"{\"a\":\"tab\there\"}",
		"{\"a\\u0000\":1}",
	};
	struct pikaci_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		reject(texts[i], PIKACI_REASON_INVALID_JSON, "");
	pikaci_request_parse("{\n\"a\" 1}", 8, NULL, &err);
	assert_non_null(strstr(err.text, "line 2"));
}

static void test_bom(void **state)
{
	(void)state;
	reject("\xef\xbb\xbf" V2(""), PIKACI_REASON_INVALID_JSON, "");
}

static void test_invalid_utf8(void **state)
{
	struct pikaci_error err;
	const char *text = "{\"schema_version\":2,\"command\":\"\xff\",\"timeout_secs\":5,"
	                   "\"run_as_root\":true}";

	(void)state;
	reject(text, PIKACI_REASON_INVALID_UTF8, "");
	pikaci_request_parse(text, strlen(text), NULL, &err);
	assert_int_equal(err.position, 31);
	/* Overlong encoding, a surrogate, beyond U+10FFFF, a truncated sequence. */
	reject("{\"a\":\"\xc0\xaf\"}", PIKACI_REASON_INVALID_UTF8, "");
	reject("{\"a\":\"\xed\xa0\x80\"}", PIKACI_REASON_INVALID_UTF8, "");
	reject("{\"a\":\"\xf4\x90\x80\x80\"}", PIKACI_REASON_INVALID_UTF8, "");
	reject("{\"a\":\"\xe2\x82", PIKACI_REASON_INVALID_UTF8, "");
}

static void test_valid_utf8_command(void **state)
{
	struct pikaci_request *request;

	(void)state;
	request = accept("{\"schema_version\":2,\"command\":\"echo h\xc3\xa9 \xe2\x82\xac "
	                 "\xf0\x9f\x90\xa7\",\"timeout_secs\":5,\"run_as_root\":true}");
	assert_string_equal(request->command, "echo h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xa7");
	pikaci_request_free(request);
}

static char *big_request(size_t total)
{
	const char *head = "{\"schema_version\":2,\"command\":\"";
	const char *tail = "\",\"timeout_secs\":5,\"run_as_root\":true}";
	char *text = malloc(total + 1);
	size_t filler = total - strlen(head) - strlen(tail);

	assert_non_null(text);
	memcpy(text, head, strlen(head));
	memset(text + strlen(head), 'a', filler);
	memcpy(text + strlen(head) + filler, tail, strlen(tail) + 1);
	assert_int_equal(strlen(text), total);
	return text;
}

static void test_one_mib_accepted(void **state)
{
	struct pikaci_request *request = NULL;
	char *text = big_request(PIKACI_REQUEST_MAX_BYTES);

	(void)state;
	assert_int_equal(pikaci_request_parse(text, PIKACI_REQUEST_MAX_BYTES, &request, NULL), 0);
	pikaci_request_free(request);
	free(text);
}

static void test_one_mib_plus_one_rejected(void **state)
{
	char *text = big_request(PIKACI_REQUEST_MAX_BYTES + 1);

	(void)state;
	reject_n(text, PIKACI_REQUEST_MAX_BYTES + 1, PIKACI_REASON_TOO_LARGE, "");
	free(text);
}

/* --- Accepted requests and round trips ---------------------------------------------------- */

static void test_valid_request_fields(void **state)
{
	struct pikaci_request *request;

	(void)state;
	request = accept(V2(""));
	assert_int_equal(request->schema_version, 2);
	assert_string_equal(request->command, "make test");
	assert_true(request->timeout_secs == 60);
	assert_false(request->run_as_root);
	pikaci_request_free(request);
}

static void test_member_order_and_whitespace_do_not_matter(void **state)
{
	struct pikaci_request *request;

	(void)state;
	request = accept(" \n{ \"run_as_root\" : true ,\r\n\t\"timeout_secs\":1,"
	                 "\"command\":\"x\", \"schema_version\" :2 }\n ");
	assert_true(request->run_as_root);
	assert_true(request->timeout_secs == 1);
	pikaci_request_free(request);
}

static void test_round_trip(void **state)
{
	struct pikaci_request *request, *again;
	char *dumped, *dumped_again;

	(void)state;
	request = accept("{\"run_as_root\":true,\"timeout_secs\":7,\"command\":"
	                 "\"printf '%s\\\\n' \\\"a b\\\"\",\"schema_version\":2}");
	dumped = pikaci_request_dump(request);
	assert_non_null(dumped);
	again = accept(dumped);
	assert_string_equal(again->command, request->command);
	assert_true(again->timeout_secs == 7);
	assert_true(again->run_as_root);
	dumped_again = pikaci_request_dump(again);
	assert_string_equal(dumped, dumped_again);
	free(dumped);
	free(dumped_again);
	pikaci_request_free(request);
	pikaci_request_free(again);
}

static void test_dump_has_exactly_four_members(void **state)
{
	struct pikaci_request *request = NULL;
	json_t *document;
	char *dumped;

	(void)state;
	assert_int_equal(pikaci_request_new("echo hi", 30, false, &request, NULL), 0);
	request->schema_version = 1; /* [R7]: the dump states version 2 regardless. */
	dumped = pikaci_request_dump(request);
	assert_string_equal(dumped, "{\"schema_version\":2,\"command\":\"echo hi\","
	                            "\"timeout_secs\":30,\"run_as_root\":false}");
	document = json_loads(dumped, 0, NULL);
	assert_int_equal(json_object_size(document), 4);
	json_decref(document);
	free(dumped);
	pikaci_request_free(request);
}

static void test_new_applies_the_rules(void **state)
{
	struct pikaci_request *request = NULL;
	struct pikaci_error err;

	(void)state;
	assert_int_equal(pikaci_request_new("", 5, true, &request, &err), -EINVAL);
	assert_int_equal(err.reason, PIKACI_REASON_INVALID_VALUE);
	assert_int_equal(pikaci_request_new("x", 0, true, &request, &err), -EINVAL);
	assert_string_equal(err.member, "timeout_secs");
	assert_int_equal(pikaci_request_new("x", PIKACI_TIMEOUT_SECS_MAX + 1, true, &request, &err),
	                 -EINVAL);
	assert_int_equal(err.reason, PIKACI_REASON_TOO_LARGE);
	assert_int_equal(pikaci_request_new("\xff", 5, true, &request, &err), -EINVAL);
	assert_int_equal(err.reason, PIKACI_REASON_INVALID_UTF8);
	assert_string_equal(err.member, "command");
	assert_int_equal(pikaci_request_new(NULL, 5, true, &request, &err), -EINVAL);
	assert_null(request);
}

static void test_validate_loaded_document(void **state)
{
	struct pikaci_error err;
	json_t *document = json_pack("{s:i, s:s, s:i, s:b, s:s}", "schema_version", 2, "command",
	                             "x", "timeout_secs", 5, "run_as_root", 1, "home_dir", "/h");

	(void)state;
	assert_int_equal(pikaci_request_validate(document, NULL, &err), -EINVAL);
	assert_int_equal(err.reason, PIKACI_REASON_UNKNOWN_FIELD);
	json_object_del(document, "home_dir");
	assert_int_equal(pikaci_request_validate(document, NULL, &err), 0);
	json_decref(document);
	assert_int_equal(pikaci_request_validate(NULL, NULL, &err), -EINVAL);
	assert_int_equal(err.reason, PIKACI_REASON_NOT_AN_OBJECT);
}

static void test_no_error_struct_is_fine(void **state)
{
	(void)state;
	assert_int_equal(pikaci_request_parse("{}", 2, NULL, NULL), -EINVAL);
	assert_int_equal(pikaci_request_parse(V2(""), strlen(V2("")), NULL, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v1_full_payload_is_version_mismatch),
		cmocka_unit_test(test_v1_without_path_fields),
		cmocka_unit_test(test_versions_other_than_two),
		cmocka_unit_test(test_version_missing),
		cmocka_unit_test(test_version_checked_before_everything_else),
		cmocka_unit_test(test_huge_version),
		cmocka_unit_test(test_each_v1_path_field_alone),
		cmocka_unit_test(test_path_field_whatever_its_value),
		cmocka_unit_test(test_all_five_path_fields_first_is_named),
		cmocka_unit_test(test_path_field_message_explains),
		cmocka_unit_test(test_other_unknown_member),
		cmocka_unit_test(test_unknown_member_name_is_escaped),
		cmocka_unit_test(test_long_unknown_member_name_is_cut),
		cmocka_unit_test(test_missing_members),
		cmocka_unit_test(test_command_types),
		cmocka_unit_test(test_timeout_types),
		cmocka_unit_test(test_timeout_range),
		cmocka_unit_test(test_run_as_root_types),
		cmocka_unit_test(test_empty_command),
		cmocka_unit_test(test_nul_in_command),
		cmocka_unit_test(test_timeout_largest_accepted),
		cmocka_unit_test(test_timeout_2_pow_53_too_large),
		cmocka_unit_test(test_timeout_2_pow_63_too_large),
		cmocka_unit_test(test_timeout_2_pow_64_too_large),
		cmocka_unit_test(test_timeout_huge_negative),
		cmocka_unit_test(test_overflow_elsewhere_is_named),
		cmocka_unit_test(test_overflow_keeps_the_order_of_checks),
		cmocka_unit_test(test_overflow_error_positions_are_the_input_s),
		cmocka_unit_test(test_many_overflows_are_too_large),
		cmocka_unit_test(test_sentinel_text_is_an_ordinary_string_otherwise),
		cmocka_unit_test(test_real_overflow),
		cmocka_unit_test(test_duplicate_members),
		cmocka_unit_test(test_duplicate_with_same_value),
		cmocka_unit_test(test_empty_input),
		cmocka_unit_test(test_whitespace_only),
		cmocka_unit_test(test_not_an_object),
		cmocka_unit_test(test_invalid_json),
		cmocka_unit_test(test_bom),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_valid_utf8_command),
		cmocka_unit_test(test_one_mib_accepted),
		cmocka_unit_test(test_one_mib_plus_one_rejected),
		cmocka_unit_test(test_valid_request_fields),
		cmocka_unit_test(test_member_order_and_whitespace_do_not_matter),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_dump_has_exactly_four_members),
		cmocka_unit_test(test_new_applies_the_rules),
		cmocka_unit_test(test_validate_loaded_document),
		cmocka_unit_test(test_no_error_struct_is_fine),
	};

	return cmocka_run_group_tests_name("request", tests, NULL, NULL);
}
