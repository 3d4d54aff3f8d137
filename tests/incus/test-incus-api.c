/* SPDX-License-Identifier: MIT */
/*
 * test-incus-api.c - the Incus REST bodies the transport relies on, recorded from Incus 6.0.4
 * over its unix socket: sync, async and error bodies (errors also come with HTTP 200 from
 * /wait), finished exec operations, malformed and incomplete bodies; URLs and request bodies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "incus-api.h"

/* What each test fills; teardown frees it, so a failed assertion leaks nothing. */
struct fixture {
	struct pikaci_incus_response response;
	struct pikaci_incus_operation operation;
	char errbuf[256];
	char *url;
	json_t *json;
};

static int setup(void **state)
{
	*state = calloc(1, sizeof(struct fixture));
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	pikaci_incus_response_clear(&f->response);
	pikaci_incus_operation_clear(&f->operation);
	free(f->url);
	json_decref(f->json);
	free(f);
	return 0;
}

static int parse(struct fixture *f, const char *body)
{
	pikaci_incus_response_clear(&f->response);
	f->errbuf[0] = '\0';
	return pikaci_incus_response_parse(body, strlen(body), &f->response, f->errbuf,
	                                   sizeof(f->errbuf));
}

/* Parses a /wait body and then its operation. */
static int parse_operation(struct fixture *f, const char *body, bool exec)
{
	assert_int_equal(parse(f, body), 0);
	pikaci_incus_operation_clear(&f->operation);
	return pikaci_incus_operation_parse(f->response.metadata, exec, &f->operation, f->errbuf,
	                                    sizeof(f->errbuf));
}

/* --- Recorded bodies ----------------------------------------------------------------------- */

static const char server_body[] =
        "{\"type\":\"sync\",\"status\":\"Success\",\"status_code\":200,\"operation\":\"\","
        "\"error_code\":0,\"error\":\"\",\"metadata\":{\"config\":{},\"api_extensions\":["
        "\"instance_file_head\"],\"api_status\":\"stable\",\"api_version\":\"1.0\"}}";

static const char create_body[] =
        "{\"type\":\"async\",\"status\":\"Operation created\",\"status_code\":100,"
        "\"operation\":\"/1.0/operations/4c600c79-8da8-47c3-bf11-ecc04816ecd1\","
        "\"error_code\":0,\"error\":\"\",\"metadata\":{\"id\":\"4c600c79-8da8-47c3-bf11-"
        "ecc04816ecd1\",\"class\":\"task\",\"description\":\"Creating instance\","
        "\"status\":\"Running\",\"status_code\":103,\"resources\":{\"instances\":["
        "\"/1.0/instances/pikaci-probe\"]},\"metadata\":null,\"may_cancel\":false,\"err\":\"\","
        "\"location\":\"none\"}}";

static const char not_found_body[] = "{\"type\":\"error\",\"status\":\"\",\"status_code\":0,"
                                     "\"operation\":\"\",\"error_code\":404,\"error\":\"Not "
                                     "Found\",\"metadata\":null}";

/* GET /1.0/operations/<id>/wait?timeout=1 while the command still runs: HTTP 200. */
static const char wait_deadline_body[] =
        "{\"type\":\"error\",\"status\":\"\",\"status_code\":0,\"operation\":\"\","
        "\"error_code\":500,\"error\":\"context deadline exceeded\",\"metadata\":null}";

/* /wait of an exec whose command does not exist: HTTP 200 too. */
static const char wait_not_found_body[] =
        "{\"type\":\"error\",\"status\":\"\",\"status_code\":0,\"operation\":\"\","
        "\"error_code\":400,\"error\":\"Command not found\",\"metadata\":null}";

static const char exec_done_body[] =
        "{\"type\":\"sync\",\"status\":\"Success\",\"status_code\":200,\"operation\":\"\","
        "\"error_code\":0,\"error\":\"\",\"metadata\":{\"id\":\"17e0e1af-e5d5-4762-9288-"
        "ff61dac1b65e\",\"class\":\"task\",\"description\":\"Executing command\","
        "\"status\":\"Success\",\"status_code\":200,\"resources\":{\"instances\":["
        "\"/1.0/instances/pikaci-probe\"]},\"metadata\":{\"output\":{\"1\":\"/1.0/instances/"
        "pikaci-probe/logs/exec-output/exec_17e0e1af-e5d5-4762-9288-ff61dac1b65e.stdout\","
        "\"2\":\"/1.0/instances/pikaci-probe/logs/exec-output/exec_17e0e1af-e5d5-4762-9288-"
        "ff61dac1b65e.stderr\"},\"return\":3},\"may_cancel\":false,\"err\":\"\","
        "\"location\":\"none\"}}";

/* GET /1.0/operations/<id> of the exec whose command was not found. */
static const char exec_failed_body[] =
        "{\"type\":\"sync\",\"status\":\"Success\",\"status_code\":200,\"operation\":\"\","
        "\"error_code\":0,\"error\":\"\",\"metadata\":{\"id\":\"f583e560-6deb-4f91-94a0-"
        "107c318902cc\",\"class\":\"task\",\"description\":\"Executing command\","
        "\"status\":\"Failure\",\"status_code\":400,\"metadata\":{\"output\":{\"1\":\"/1.0/"
        "instances/pikaci-probe/logs/exec-output/exec_f583e560.stdout\",\"2\":\"/1.0/"
        "instances/pikaci-probe/logs/exec-output/exec_f583e560.stderr\"},\"return\":127},"
        "\"may_cancel\":false,\"err\":\"Command not found\",\"location\":\"none\"}}";

/* GET /1.0/operations/<id> of an exec still running. */
static const char exec_running_body[] =
        "{\"type\":\"sync\",\"status\":\"Success\",\"status_code\":200,\"operation\":\"\","
        "\"error_code\":0,\"error\":\"\",\"metadata\":{\"id\":\"fbb9e146\",\"class\":\"task\","
        "\"description\":\"Executing command\",\"status\":\"Running\",\"status_code\":103,"
        "\"metadata\":null,\"may_cancel\":false,\"err\":\"\",\"location\":\"none\"}}";

/* GET on a directory: its names. */
static const char listing_body[] = "{\"type\":\"sync\",\"status\":\"Success\",\"status_code\":"
                                   "200,\"operation\":\"\",\"error_code\":0,\"error\":\"\","
                                   "\"metadata\":[\"f\",\"empty\",\"newdir\"]}";

/* --- Responses ----------------------------------------------------------------------------- */

static void test_sync_body(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, server_body), 0);
	assert_int_equal(f->response.type, PIKACI_INCUS_SYNC);
	assert_int_equal(f->response.status_code, 200);
	assert_int_equal(f->response.error_code, 0);
	assert_string_equal(f->response.error, "");
	assert_string_equal(f->response.operation, "");
	assert_true(json_is_object(f->response.metadata));
	assert_false(pikaci_incus_response_failed(&f->response));
	assert_false(pikaci_incus_response_wait_timed_out(&f->response));
}

static void test_async_body(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, create_body), 0);
	assert_int_equal(f->response.type, PIKACI_INCUS_ASYNC);
	assert_int_equal(f->response.status_code, 100);
	assert_string_equal(f->response.operation,
	                    "/1.0/operations/4c600c79-8da8-47c3-bf11-ecc04816ecd1");
	assert_false(pikaci_incus_response_failed(&f->response));
	/* The operation in its first state: not finished. */
	pikaci_incus_operation_clear(&f->operation);
	assert_int_equal(pikaci_incus_operation_parse(f->response.metadata, false, &f->operation,
	                                              f->errbuf, sizeof(f->errbuf)),
	                 -EINPROGRESS);
}

static void test_not_found_body(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, not_found_body), 0);
	assert_int_equal(f->response.type, PIKACI_INCUS_ERROR);
	assert_int_equal(f->response.error_code, 404);
	assert_string_equal(f->response.error, "Not Found");
	assert_null(f->response.metadata);
	assert_true(pikaci_incus_response_failed(&f->response));
	assert_false(pikaci_incus_response_wait_timed_out(&f->response));
}

static void test_wait_deadline_is_an_error_body(void **state)
{
	struct fixture *f = *state;

	/* Arrives with HTTP 200: only the body tells it is not a result. */
	assert_int_equal(parse(f, wait_deadline_body), 0);
	assert_int_equal(f->response.type, PIKACI_INCUS_ERROR);
	assert_int_equal(f->response.error_code, 500);
	assert_true(pikaci_incus_response_failed(&f->response));
	assert_true(pikaci_incus_response_wait_timed_out(&f->response));
}

static void test_wait_command_not_found_is_not_a_timeout(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, wait_not_found_body), 0);
	assert_int_equal(f->response.type, PIKACI_INCUS_ERROR);
	assert_int_equal(f->response.error_code, 400);
	assert_string_equal(f->response.error, "Command not found");
	assert_true(pikaci_incus_response_failed(&f->response));
	assert_false(pikaci_incus_response_wait_timed_out(&f->response));
}

static void test_other_500_is_not_a_timeout(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, "{\"type\":\"error\",\"error_code\":500,\"error\":\"sftp: "
	                          "\\\"lstat /tmp/f/g: not a directory\\\"\"}"),
	                 0);
	assert_false(pikaci_incus_response_wait_timed_out(&f->response));
}

static void test_listing_metadata_is_an_array(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, listing_body), 0);
	assert_true(json_is_array(f->response.metadata));
	assert_int_equal(json_array_size(f->response.metadata), 3);
	assert_string_equal(json_string_value(json_array_get(f->response.metadata, 1)), "empty");
}

static void test_malformed_bodies(void **state)
{
	static const char *const bodies[] = {
		"",
		"{",
		"not json",
		"[]",
		"\"sync\"",
		"null",
		"{\"type\":\"sync\",\"type\":\"error\",\"status_code\":200}", /* duplicate member */
		"{\"type\":\"sync\",\"status_code\":200}garbage",
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		if (parse(f, bodies[i]) != -EBADMSG)
			fail_msg("accepted body %zu: %s", i, bodies[i]);
		assert_true(f->errbuf[0] != '\0');
	}
}

static void test_missing_or_mistyped_members(void **state)
{
	static const char *const bodies[] = {
		"{}",
		"{\"status_code\":200,\"metadata\":{}}",
		"{\"type\":1,\"status_code\":200}",
		"{\"type\":\"weird\",\"status_code\":200}",
		"{\"type\":\"sync\"}",                             /* no status_code */
		"{\"type\":\"sync\",\"status_code\":\"200\"}",     /* a string */
		"{\"type\":\"sync\",\"status_code\":200.5}",       /* a real */
		"{\"type\":\"sync\",\"status_code\":99999999999}", /* beyond an int */
		"{\"type\":\"async\",\"status_code\":100}",        /* no operation */
		"{\"type\":\"async\",\"status_code\":100,\"operation\":\"\"}",
		"{\"type\":\"async\",\"status_code\":100,\"operation\":5}",
		"{\"type\":\"async\",\"status_code\":100,\"operation\":\"operations/x\"}",
		"{\"type\":\"error\",\"error\":\"boom\"}", /* no error_code */
		"{\"type\":\"error\",\"error_code\":404}", /* no error */
		"{\"type\":\"error\",\"error_code\":0,\"error\":\"\"}",
		"{\"type\":\"error\",\"error_code\":404,\"error\":null}",
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		if (parse(f, bodies[i]) != -EBADMSG)
			fail_msg("accepted body %zu: %s", i, bodies[i]);
		assert_true(f->errbuf[0] != '\0');
	}
	/* The out-parameter is untouched on failure. */
	assert_null(f->response.error);
	assert_null(f->response.metadata);
}

static void test_minimal_bodies(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, "{\"type\":\"sync\",\"status_code\":200}"), 0);
	assert_null(f->response.metadata);
	assert_string_equal(f->response.error, "");
	/* A sync body carrying an error code still failed. */
	assert_int_equal(parse(f, "{\"type\":\"sync\",\"status_code\":200,\"error_code\":403,"
	                          "\"error\":\"not allowed\"}"),
	                 0);
	assert_true(pikaci_incus_response_failed(&f->response));
}

static void test_nul_in_body_is_kept_in_strings(void **state)
{
	static const char body[] =
	        "{\"type\":\"error\",\"error_code\":500,\"error\":\"a\\u0000b\"}";
	struct fixture *f = *state;

	/* Not refused for the NUL: the text is cut there, which is enough for a message. */
	assert_int_equal(parse(f, body), 0);
	assert_string_equal(f->response.error, "a");
}

/* --- Operations ---------------------------------------------------------------------------- */

static void test_exec_success(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse_operation(f, exec_done_body, true), 0);
	assert_int_equal(f->operation.status_code, 200);
	assert_string_equal(f->operation.status, "Success");
	assert_string_equal(f->operation.err, "");
	assert_true(f->operation.has_return);
	/* A non-zero exit is still a successful operation. */
	assert_int_equal(f->operation.return_code, 3);
	assert_string_equal(f->operation.stdout_log,
	                    "/1.0/instances/pikaci-probe/logs/exec-output/exec_17e0e1af-e5d5-4762-"
	                    "9288-ff61dac1b65e.stdout");
	assert_string_equal(f->operation.stderr_log,
	                    "/1.0/instances/pikaci-probe/logs/exec-output/exec_17e0e1af-e5d5-4762-"
	                    "9288-ff61dac1b65e.stderr");
}

static void test_exec_command_not_found(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse_operation(f, exec_failed_body, true), 0);
	assert_int_equal(f->operation.status_code, 400);
	assert_string_equal(f->operation.status, "Failure");
	assert_string_equal(f->operation.err, "Command not found");
	/* Its logs exist and are for deleting. */
	assert_non_null(f->operation.stdout_log);
	assert_non_null(f->operation.stderr_log);
}

static void test_exec_running(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse_operation(f, exec_running_body, true), -EINPROGRESS);
	assert_null(f->operation.status);
}

static void test_lifecycle_operation_needs_no_return(void **state)
{
	static const char body[] =
	        "{\"type\":\"sync\",\"status_code\":200,\"metadata\":{\"class\":\"task\","
	        "\"description\":\"Creating instance\",\"status\":\"Success\",\"status_code\":200,"
	        "\"metadata\":{\"progress\":{\"percent\":\"100\"}},\"err\":\"\"}}";
	struct fixture *f = *state;

	assert_int_equal(parse_operation(f, body, false), 0);
	assert_int_equal(f->operation.status_code, 200);
	assert_false(f->operation.has_return);
	assert_null(f->operation.stdout_log);
	/* The same body cannot be an exec's result. */
	assert_int_equal(parse_operation(f, body, true), -EBADMSG);
	assert_non_null(strstr(f->errbuf, "return"));
}

static void test_malformed_operations(void **state)
{
	static const char *const bodies[] = {
		/* metadata of the body is not an operation */
		"{\"type\":\"sync\",\"status_code\":200,\"metadata\":[]}",
		"{\"type\":\"sync\",\"status_code\":200}",
		"{\"type\":\"sync\",\"status_code\":200,\"metadata\":{\"status\":\"Success\"}}",
		"{\"type\":\"sync\",\"status_code\":200,\"metadata\":{\"status_code\":\"200\"}}",
		/* an exec success without a usable return */
		"{\"type\":\"sync\",\"status_code\":200,\"metadata\":{\"status_code\":200,"
		"\"metadata\":{\"return\":\"3\"}}}",
		"{\"type\":\"sync\",\"status_code\":200,\"metadata\":{\"status_code\":200,"
		"\"metadata\":{\"return\":1e2}}}",
		"{\"type\":\"sync\",\"status_code\":200,\"metadata\":{\"status_code\":200,"
		"\"metadata\":[]}}",
		/* output that is not paths */
		"{\"type\":\"sync\",\"status_code\":200,\"metadata\":{\"status_code\":200,"
		"\"metadata\":{\"return\":0,\"output\":[]}}}",
		"{\"type\":\"sync\",\"status_code\":200,\"metadata\":{\"status_code\":200,"
		"\"metadata\":{\"return\":0,\"output\":{\"1\":7}}}}",
		"{\"type\":\"sync\",\"status_code\":200,\"metadata\":{\"status_code\":200,"
		"\"metadata\":{\"return\":0,\"output\":{\"2\":\"relative\"}}}}",
		/* texts that are not strings */
		"{\"type\":\"sync\",\"status_code\":200,\"metadata\":{\"status_code\":400,"
		"\"err\":false}}",
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		if (parse_operation(f, bodies[i], true) != -EBADMSG)
			fail_msg("accepted operation %zu: %s", i, bodies[i]);
		assert_null(f->operation.status);
		assert_null(f->operation.stdout_log);
	}
}

static void test_operation_of_null(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(pikaci_incus_operation_parse(NULL, true, &f->operation, f->errbuf,
	                                              sizeof(f->errbuf)),
	                 -EBADMSG);
	/* No errbuf is fine too. */
	assert_int_equal(pikaci_incus_operation_parse(NULL, true, &f->operation, NULL, 0),
	                 -EBADMSG);
}

/* --- URLs ---------------------------------------------------------------------------------- */

static void test_file_url(void **state)
{
	struct fixture *f = *state;

	f->url = pikaci_incus_file_url_new("pikaci-1-0-ab", "/srv/job/request.json", NULL);
	assert_string_equal(f->url, "/1.0/instances/pikaci-1-0-ab/files?path=/srv/job/"
	                            "request.json");
	free(f->url);
	f->url = pikaci_incus_file_url_new("pikaci-1", "/a b/c&d=e?f#g%h+i", "my project");
	assert_string_equal(f->url, "/1.0/instances/pikaci-1/files?path=/a%20b/"
	                            "c%26d%3De%3Ff%23g%25h%2Bi&project=my%20project");
	free(f->url);
	/* Bytes beyond ASCII are escaped one by one. */
	f->url = pikaci_incus_file_url_new("x", "/caf\xc3\xa9", NULL);
	assert_string_equal(f->url, "/1.0/instances/x/files?path=/caf%C3%A9");
}

static void test_instance_url(void **state)
{
	struct fixture *f = *state;

	f->url = pikaci_incus_instance_url_new("pikaci-7", "/exec", NULL);
	assert_string_equal(f->url, "/1.0/instances/pikaci-7/exec");
	free(f->url);
	/* A name cannot smuggle a path or a query. */
	f->url = pikaci_incus_instance_url_new("a/../b?c", "", "p&q");
	assert_string_equal(f->url, "/1.0/instances/a%2F..%2Fb%3Fc?project=p%26q");
	free(f->url);
	f->url = pikaci_incus_instance_url_new("n", "/state", "default");
	assert_string_equal(f->url, "/1.0/instances/n/state?project=default");
}

static void test_project_url(void **state)
{
	struct fixture *f = *state;

	f->url = pikaci_incus_url_new("/1.0", NULL);
	assert_string_equal(f->url, "/1.0");
	free(f->url);
	f->url = pikaci_incus_url_new("/1.0/instances", "ci");
	assert_string_equal(f->url, "/1.0/instances?project=ci");
	free(f->url);
	/* A path Incus gave that has a query already. */
	f->url = pikaci_incus_url_new("/1.0/x?recursion=1", "ci");
	assert_string_equal(f->url, "/1.0/x?recursion=1&project=ci");
}

static void test_wait_url(void **state)
{
	struct fixture *f = *state;

	f->url = pikaci_incus_wait_url_new("/1.0/operations/4c600c79", 17, NULL);
	assert_string_equal(f->url, "/1.0/operations/4c600c79/wait?timeout=17");
	free(f->url);
	f->url = pikaci_incus_wait_url_new("/1.0/operations/4c600c79", 1, "ci");
	assert_string_equal(f->url, "/1.0/operations/4c600c79/wait?timeout=1&project=ci");
}

/* --- Request bodies ------------------------------------------------------------------------ */

static void assert_json(const json_t *value, const char *expected)
{
	char *text = json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS);

	assert_non_null(text);
	if (strcmp(text, expected) != 0) {
		print_error("got      %s\nexpected %s\n", text, expected);
		free(text);
		fail();
	}
	free(text);
}

static void test_create_request(void **state)
{
	struct fixture *f = *state;

	f->json = pikaci_incus_create_request_new("pikaci-1-0-ab", "pikaci-guest");
	assert_json(f->json, "{\"name\":\"pikaci-1-0-ab\",\"source\":{\"alias\":\"pikaci-guest\","
	                     "\"type\":\"image\"},\"start\":true}");
	assert_null(pikaci_incus_create_request_new(NULL, "x"));
}

static void test_exec_request(void **state)
{
	char *const argv[] = { "/usr/bin/guest", "/srv/job/request.json", NULL };
	char *const environment[] = { "PATH=/usr/bin:/bin", "HOME=/root", "EMPTY=", "EQ=a=b",
		                      NULL };
	struct fixture *f = *state;

	f->json = pikaci_incus_exec_request_new(argv, environment);
	assert_json(f->json,
	            "{\"command\":[\"/usr/bin/guest\",\"/srv/job/request.json\"],"
	            "\"environment\":{\"EMPTY\":\"\","
	            "\"EQ\":\"a=b\",\"HOME\":\"/root\",\"PATH\":\"/usr/bin:/bin\"},"
	            "\"interactive\":false,\"record-output\":true,\"wait-for-websocket\":false}");
	json_decref(f->json);
	f->json = pikaci_incus_exec_request_new(argv, NULL);
	assert_non_null(f->json);
	assert_int_equal(json_object_size(json_object_get(f->json, "environment")), 0);
}

static void test_exec_request_refusals(void **state)
{
	char *const argv[] = { "true", NULL };
	char *const bad_argv[] = { "\xff", NULL };
	char *const no_argv[] = { NULL };
	char *const no_equals[] = { "PATH", NULL };
	char *const no_name[] = { "=x", NULL };
	char *const not_utf8[] = { "X=\xff", NULL };

	(void)state;
	assert_null(pikaci_incus_exec_request_new(bad_argv, NULL));
	assert_null(pikaci_incus_exec_request_new(no_argv, NULL));
	assert_null(pikaci_incus_exec_request_new(argv, no_equals));
	assert_null(pikaci_incus_exec_request_new(argv, no_name));
	assert_null(pikaci_incus_exec_request_new(argv, not_utf8));
}

/* X-Incus-Type as libcurl hands over a header line: any case, padded, cut to fit. */
static void test_file_type_header(void **state)
{
	char type[16] = "untouched";
	static const char long_value[] = "X-Incus-Type: a-type-name-longer-than-the-buffer\r\n";

	(void)state;
	assert_true(pikaci_incus_file_type_parse("X-Incus-Type: file\r\n", 20, type, sizeof(type)));
	assert_string_equal(type, "file");
	assert_true(pikaci_incus_file_type_parse("x-incus-type:directory", 22, type, sizeof(type)));
	assert_string_equal(type, "directory");
	/* Not NUL-terminated: only `length` bytes are read. */
	assert_true(
	        pikaci_incus_file_type_parse("X-Incus-Type: symlinkXXXX", 21, type, sizeof(type)));
	assert_string_equal(type, "symlink");
	assert_true(pikaci_incus_file_type_parse(long_value, sizeof(long_value) - 1, type,
	                                         sizeof(type)));
	assert_int_equal(strlen(type), sizeof(type) - 1);
	assert_true(pikaci_incus_file_type_parse("X-Incus-Type:", 13, type, sizeof(type)));
	assert_string_equal(type, "");
	strcpy(type, "untouched");
	assert_false(
	        pikaci_incus_file_type_parse("X-Incus-Mode: 0644\r\n", 20, type, sizeof(type)));
	assert_false(pikaci_incus_file_type_parse("X-Incus-Typ", 11, type, sizeof(type)));
	assert_false(pikaci_incus_file_type_parse("HTTP/1.1 200 OK\r\n", 17, type, sizeof(type)));
	assert_string_equal(type, "untouched");
}

/* --- Issue 12: instance types, image servers, cluster targets, the VM agent ----------------- */

static void test_instance_request(void **state)
{
	struct fixture *f = *state;
	struct pikaci_incus_source local = { .alias = "pikaci-guest" };
	struct pikaci_incus_source pulled = { .alias = "nixos/25.05",
		                              .server = "https://images.example.org",
		                              .protocol = "simplestreams" };

	f->json = pikaci_incus_instance_request_new("pikaci-1-0-ab", NULL, &local);
	assert_json(f->json, "{\"name\":\"pikaci-1-0-ab\",\"source\":{\"alias\":\"pikaci-guest\","
	                     "\"type\":\"image\"},\"start\":true,\"type\":\"container\"}");
	json_decref(f->json);
	f->json = pikaci_incus_instance_request_new("vm1", "virtual-machine", &pulled);
	assert_json(f->json, "{\"name\":\"vm1\",\"source\":{\"alias\":\"nixos/25.05\","
	                     "\"mode\":\"pull\",\"protocol\":\"simplestreams\","
	                     "\"server\":\"https://images.example.org\",\"type\":\"image\"},"
	                     "\"start\":true,\"type\":\"virtual-machine\"}");
	assert_null(pikaci_incus_instance_request_new(NULL, NULL, &local));
	assert_null(pikaci_incus_instance_request_new("x", NULL, NULL));
	pulled.protocol = NULL;
	assert_null(pikaci_incus_instance_request_new("x", NULL, &pulled));
}

/* --instance-config KEY=VALUE words: the create body's "config", as incus launch -c. */
static void test_instance_request_config(void **state)
{
	struct fixture *f = *state;
	struct pikaci_incus_source local = { .alias = "nixos-vm" };
	const char *const config[] = { "security.secureboot=false", "user.note=a=b", "limits.cpu=2",
		                       "limits.cpu=4", "user.empty=" };
	const char *const broken[] = { "user.ok=1", "no-equals" };

	f->json = pikaci_incus_instance_request_new("vm1", "virtual-machine", &local);
	assert_int_equal(pikaci_incus_instance_request_config(f->json, config, 5), 0);
	assert_json(f->json, "{\"config\":{\"limits.cpu\":\"4\",\"security.secureboot\":\"false\","
	                     "\"user.empty\":\"\",\"user.note\":\"a=b\"},\"name\":\"vm1\","
	                     "\"source\":{\"alias\":\"nixos-vm\",\"type\":\"image\"},"
	                     "\"start\":true,\"type\":\"virtual-machine\"}");
	json_decref(f->json);
	/* None: no "config" member at all, the body as before. */
	f->json = pikaci_incus_instance_request_new("c1", NULL, &local);
	assert_int_equal(pikaci_incus_instance_request_config(f->json, NULL, 0), 0);
	assert_null(json_object_get(f->json, "config"));
	/* A word without '=' (the option check refuses it first): -EINVAL, the body untouched. */
	assert_int_equal(pikaci_incus_instance_request_config(f->json, broken, 2), -EINVAL);
	assert_null(json_object_get(f->json, "config"));
}

static void test_create_url(void **state)
{
	struct fixture *f = *state;

	f->url = pikaci_incus_create_url_new(NULL, NULL);
	assert_string_equal(f->url, "/1.0/instances");
	free(f->url);
	f->url = pikaci_incus_create_url_new(NULL, "node 1");
	assert_string_equal(f->url, "/1.0/instances?target=node%201");
	free(f->url);
	f->url = pikaci_incus_create_url_new("ci", "@gpu");
	assert_string_equal(f->url, "/1.0/instances?project=ci&target=%40gpu");
}

/*
 * GET /1.0/instances/<vm>/state, shaped as Incus 6.0 answers it (api.InstanceState; a VM's
 * body cannot be recorded on these machines: no vhost_vsock). While the agent is not there the
 * daemon cannot count processes and says -1 (`incus info` shows "Processes: -1").
 */
static const char vm_booting_state[] =
        "{\"type\":\"sync\",\"status\":\"Success\",\"status_code\":200,\"operation\":\"\","
        "\"error_code\":0,\"error\":\"\",\"metadata\":{\"status\":\"Running\","
        "\"status_code\":103,\"disk\":{},\"memory\":{\"usage\":0,\"usage_peak\":0,"
        "\"total\":0,\"swap_usage\":0,\"swap_usage_peak\":0},\"network\":null,\"pid\":31337,"
        "\"processes\":-1,\"cpu\":{\"usage\":0}}}";
static const char vm_agent_state[] =
        "{\"type\":\"sync\",\"status\":\"Success\",\"status_code\":200,\"operation\":\"\","
        "\"error_code\":0,\"error\":\"\",\"metadata\":{\"status\":\"Running\","
        "\"status_code\":103,\"disk\":{\"root\":{\"usage\":1234}},\"memory\":{},"
        "\"network\":{},\"pid\":31337,\"processes\":42,\"cpu\":{\"usage\":7}}}";
static const char vm_stopped_state[] =
        "{\"type\":\"sync\",\"status\":\"Success\",\"status_code\":200,\"operation\":\"\","
        "\"error_code\":0,\"error\":\"\",\"metadata\":{\"status\":\"Stopped\","
        "\"status_code\":102,\"disk\":{},\"memory\":{},\"network\":null,\"pid\":0,"
        "\"processes\":0,\"cpu\":{}}}";

static void test_agent_ready(void **state)
{
	struct fixture *f = *state;
	const char *status = NULL;

	assert_int_equal(parse(f, vm_booting_state), 0);
	assert_int_equal(pikaci_incus_agent_ready_parse(f->response.metadata, &status), 0);
	assert_string_equal(status, "Running");
	assert_int_equal(parse(f, vm_agent_state), 0);
	assert_int_equal(pikaci_incus_agent_ready_parse(f->response.metadata, &status), 1);
	assert_int_equal(parse(f, vm_stopped_state), 0);
	assert_int_equal(pikaci_incus_agent_ready_parse(f->response.metadata, &status), 0);
	assert_string_equal(status, "Stopped");
	/* Not an instance state. */
	assert_int_equal(parse(f, server_body), 0);
	assert_int_equal(pikaci_incus_agent_ready_parse(f->response.metadata, &status), -EBADMSG);
	assert_int_equal(pikaci_incus_agent_ready_parse(NULL, &status), -EBADMSG);
	assert_int_equal(parse(f, "{\"type\":\"sync\",\"status\":\"Success\",\"status_code\":200,"
	                          "\"metadata\":{\"status\":\"Running\",\"processes\":\"12\"}}"),
	                 0);
	assert_int_equal(pikaci_incus_agent_ready_parse(f->response.metadata, &status), -EBADMSG);
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_sync_body),
		TEST(test_async_body),
		TEST(test_not_found_body),
		TEST(test_wait_deadline_is_an_error_body),
		TEST(test_wait_command_not_found_is_not_a_timeout),
		TEST(test_other_500_is_not_a_timeout),
		TEST(test_listing_metadata_is_an_array),
		TEST(test_malformed_bodies),
		TEST(test_missing_or_mistyped_members),
		TEST(test_minimal_bodies),
		TEST(test_nul_in_body_is_kept_in_strings),
		TEST(test_exec_success),
		TEST(test_exec_command_not_found),
		TEST(test_exec_running),
		TEST(test_lifecycle_operation_needs_no_return),
		TEST(test_malformed_operations),
		TEST(test_operation_of_null),
		TEST(test_file_url),
		TEST(test_instance_url),
		TEST(test_project_url),
		TEST(test_wait_url),
		TEST(test_create_request),
		TEST(test_exec_request),
		TEST(test_exec_request_refusals),
		TEST(test_file_type_header),
		TEST(test_instance_request),
		TEST(test_instance_request_config),
		TEST(test_create_url),
		TEST(test_agent_ready),
	};

	return cmocka_run_group_tests_name("incus-api", tests, NULL, NULL);
}
