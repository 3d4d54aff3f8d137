/* SPDX-License-Identifier: MIT */
/*
 * test-guest.c - the reference guest, run in the sandbox exactly as a host runs it ([D1]-[D3]):
 * lifecycle files (§5), layout and environment (§3), exit codes (§4), rejections without side
 * effects ([R1]-[R5], [L6], [B5]), robustness ([B1]-[B4]), and the guest's own failures: a
 * command that cannot start, lifecycle files that cannot be written.
 *
 *   test-guest GUEST_PROGRAM
 *
 * PIKACI_GUEST_WRAPPER (the 'valgrind' test setup) is prepended to the guest's argv, so the guest
 * itself runs under memcheck inside the sandbox. Its findings fail a test twice over: the guest
 * exits 97 (the --error-exitcode the valgrind setup gives guests, which no test expects) and
 * writes "==<pid>==" lines.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "pikaci-contract.h"
#include "sandbox.h"
#include "transport.h"

/* What a command the guest must never run would leave behind ([B5]). */
#define MARKER             PIKACI_WORKSPACE_DIR "/command-ran"
#define TOUCH_MARKER       "touch " MARKER
#define LIFECYCLE_MAX      (1 << 20)
#define ENVIRONMENT_SCRIPT "echo uid=$(id -u) gid=$(id -g) user=$(id -un) cwd=$(pwd -P); env"

static const char *guest_program;
/* PIKACI_GUEST_WRAPPER split into words; NULL without one. */
static char **wrapper;
static size_t wrapper_words;
/* A run may take this long before the sandbox kills it: beyond every bound asserted here. */
static double deadline = 60;
/* Added to each asserted time bound: memcheck starts and ends the guest slowly. */
static double slack = 0;

struct run {
	struct pikaci_sandbox *sandbox;
	struct pikaci_sandbox_result result;
	char *log;
	size_t log_length;
	json_t *status;  /* status.json */
	json_t *events;  /* events.jsonl, as an array */
	json_t *outcome; /* result.json */
};

static struct run *run_new(const struct pikaci_sandbox_options *given)
{
	struct pikaci_sandbox_options options =
	        given ? *given : (struct pikaci_sandbox_options){ 0 };
	struct run *run = calloc(1, sizeof(*run));
	char errbuf[512] = "", **binds = NULL;
	int r;

	/* The coverage lane's build folder, as the programs bind it. */
	if (pikaci_sandbox_binds_split(getenv("PIKACI_SANDBOX_BIND"), &binds) < 0)
		fail_msg("out of memory");
	options.writable_binds = binds;
	r = run ? pikaci_sandbox_new(&options, &run->sandbox, errbuf, sizeof(errbuf)) : -ENOMEM;
	pikaci_sandbox_binds_free(binds);
	if (r < 0) {
		free(run);
		fail_msg("sandbox: %s", errbuf);
	}
	return run;
}

static void run_free(struct run *run)
{
	if (!run)
		return;
	pikaci_sandbox_result_clear(&run->result);
	pikaci_sandbox_free(run->sandbox);
	free(run->log);
	json_decref(run->status);
	json_decref(run->events);
	json_decref(run->outcome);
	free(run);
}

static int setup(void **state)
{
	*state = run_new(NULL);
	return 0;
}

static int teardown(void **state)
{
	run_free(*state);
	return 0;
}

/* --- Delivering and running ([D1], [D2]) -------------------------------------------------- */

static void deliver(struct run *run, const char *bytes, size_t length)
{
	if (pikaci_sandbox_write_file(run->sandbox, PIKACI_REQUEST_PATH, bytes, length, 0644) < 0)
		fail_msg("cannot deliver the request: %s", pikaci_sandbox_error(run->sandbox));
}

/* The request exactly as the reference host writes it ([R7]). */
static void deliver_request(struct run *run, const char *command, long long timeout_secs,
                            bool run_as_root)
{
	struct pikaci_request *request = NULL;
	struct pikaci_error err = { 0 };
	char *text;

	if (pikaci_request_new(command, timeout_secs, run_as_root, &request, &err) < 0)
		fail_msg("cannot build the request: %s", err.text);
	text = pikaci_request_dump(request);
	pikaci_request_free(request);
	assert_non_null(text);
	deliver(run, text, strlen(text));
	free(text);
}

static bool contains(const char *bytes, size_t length, const char *needle)
{
	return bytes && memmem(bytes, length, needle, strlen(needle)) != NULL;
}

/* memcheck (--quiet) writes only its findings, each line as "==<pid>== ...". */
static void assert_memcheck_clean(const struct pikaci_sandbox_result *result)
{
	const char *p = result->err;

	if (!wrapper || !p)
		return;
	while ((p = strstr(p, "=="))) {
		size_t digits = strspn(p + 2, "0123456789");

		if (digits > 0 && strncmp(p + 2 + digits, "==", 2) == 0)
			fail_msg("memcheck found errors in the guest:\n%s", result->err);
		p += 2;
	}
}

/*
 * The guest wrote nothing on stderr. Under a wrapper, its own notes ("--<pid>-- ...", such as
 * valgrind 3.19's warning about pidfd_open, which it does not know) are not the guest's.
 */
static void assert_stderr_empty(const struct pikaci_sandbox_result *result)
{
	const char *line = result->err;

	for (; line && *line; line = strchr(line, '\n'), line += !!line) {
		size_t digits =
		        line[0] == '-' && line[1] == '-' ? strspn(line + 2, "0123456789") : 0;

		if (!wrapper || digits == 0 || strncmp(line + 2 + digits, "--", 2) != 0)
			fail_msg("unexpected output on stderr: %s", result->err);
	}
}

/*
 * [D2]: `<guest> ARGUMENT...` (the NULL-terminated arguments: PIKACI_REQUEST_PATH, options, or
 * none) as root, wrapped if asked; the sandbox kills everything after `limit` seconds.
 */
static struct pikaci_sandbox_result *guest_launch_argv(struct run *run,
                                                       const char *const *arguments, double limit)
{
	size_t count = 0, n = 0;
	char **argv;
	int r;

	while (arguments[count])
		count++;
	argv = calloc(wrapper_words + count + 2, sizeof(*argv));
	assert_non_null(argv);
	for (size_t i = 0; i < wrapper_words; i++)
		argv[n++] = wrapper[i];
	argv[n++] = (char *)guest_program;
	for (size_t i = 0; i < count; i++)
		argv[n++] = (char *)arguments[i];
	r = pikaci_sandbox_run(run->sandbox, argv, limit, NULL, NULL, &run->result);
	free(argv);
	if (r < 0)
		fail_msg("cannot run the guest: %s", pikaci_sandbox_error(run->sandbox));
	assert_memcheck_clean(&run->result);
	return &run->result;
}

/* `<guest> ARGUMENT`, or the guest alone when argument is NULL. */
static struct pikaci_sandbox_result *guest_launch_with(struct run *run, const char *argument,
                                                       double limit)
{
	const char *const arguments[] = { argument, NULL };

	return guest_launch_argv(run, arguments, limit);
}

static struct pikaci_sandbox_result *guest_launch(struct run *run, bool with_request_path,
                                                  double limit)
{
	return guest_launch_with(run, with_request_path ? PIKACI_REQUEST_PATH : NULL, limit);
}

static struct pikaci_sandbox_result *guest_start(struct run *run, bool with_request_path)
{
	guest_launch(run, with_request_path, deadline);
	if (run->result.timed_out)
		fail_msg("the guest was still running after %g s", deadline);
	return &run->result;
}

static struct pikaci_sandbox_result *guest_run(struct run *run)
{
	return guest_start(run, true);
}

static void assert_exit(const struct pikaci_sandbox_result *result, int code)
{
	if (!WIFEXITED(result->status) || WEXITSTATUS(result->status) != code)
		fail_msg("expected the guest to exit %d, got status 0x%x; stderr: %s", code,
		         result->status, result->err ? result->err : "");
}

static void assert_within(const struct pikaci_sandbox_result *result, double bound)
{
	if (result->seconds > bound + slack)
		fail_msg("the guest took %.2f s, more than %.2f s", result->seconds, bound + slack);
}

/* --- Reading what the guest left ([D3]) --------------------------------------------------- */

static char *read_upper(struct run *run, const char *path, size_t *ret_length)
{
	char *bytes = NULL;
	size_t length = 0;
	int r = pikaci_sandbox_read_file(run->sandbox, path, LIFECYCLE_MAX, &bytes, &length);

	if (r < 0)
		fail_msg("cannot read %s: %s", path, strerror(-r));
	*ret_length = length;
	return bytes;
}

/* The four files at their exact paths, each valid on its own ([L2]-[L4]). */
static void collect(struct run *run)
{
	struct pikaci_error err = { 0 };
	size_t length;
	char *text;

	run->log = read_upper(run, PIKACI_LOG_PATH, &run->log_length);

	text = read_upper(run, PIKACI_STATUS_PATH, &length);
	if (pikaci_status_parse(text, length, &run->status, &err) < 0)
		fail_msg("invalid status.json (%s): %s\n%s", pikaci_reason_name(err.reason),
		         err.text, text);
	free(text);

	text = read_upper(run, PIKACI_EVENTS_PATH, &length);
	if (pikaci_events_parse(text, length, &run->events, &err) < 0)
		fail_msg("invalid events.jsonl (%s): %s\n%s", pikaci_reason_name(err.reason),
		         err.text, text);
	free(text);

	text = read_upper(run, PIKACI_RESULT_PATH, &length);
	if (pikaci_result_parse(text, length, &run->outcome, &err) < 0)
		fail_msg("invalid result.json (%s): %s\n%s", pikaci_reason_name(err.reason),
		         err.text, text);
	free(text);
}

static const char *string_member(const json_t *object, const char *name)
{
	const char *value = json_string_value(json_object_get(object, name));

	if (!value)
		fail_msg("no string member \"%s\"", name);
	return value;
}

static long long integer_member(const json_t *object, const char *name)
{
	const json_t *value = json_object_get(object, name);

	if (!json_is_integer(value))
		fail_msg("no integer member \"%s\"", name);
	return json_integer_value(value);
}

static bool starts_with(const char *text, const char *prefix)
{
	return strncmp(text, prefix, strlen(prefix)) == 0;
}

/*
 * [L1]: this run's part of the log, from `from`, starts with the boot line and a valid
 * timestamp; returns where the rest of the log starts.
 */
static size_t assert_boot_line_at(const struct run *run, size_t from)
{
	const char *line = run->log + from;
	const char *end = memchr(line, '\n', run->log_length - from);
	size_t prefix = strlen(PIKACI_LOG_BOOT_PREFIX);
	struct pikaci_error err = { 0 };
	char timestamp[2 * PIKACI_TIMESTAMP_LENGTH];
	size_t length;

	if (!end || !starts_with(line, PIKACI_LOG_BOOT_PREFIX))
		fail_msg("the run's log does not start with a boot line:\n%s", line);
	length = (size_t)(end - line) - prefix;
	if (length >= sizeof(timestamp))
		fail_msg("the boot line's timestamp is too long:\n%s", line);
	memcpy(timestamp, line + prefix, length);
	timestamp[length] = '\0';
	if (pikaci_timestamp_validate(timestamp, &err) < 0)
		fail_msg("the boot line's timestamp \"%s\" is invalid: %s", timestamp, err.text);
	return (size_t)(end - run->log) + 1;
}

static size_t assert_boot_line(const struct run *run)
{
	return assert_boot_line_at(run, 0);
}

static void assert_optional_equal(const json_t *a, const json_t *b, const char *what)
{
	if (!json_equal(a, b) && (a || b)) {
		char *x = a ? pikaci_document_dump(a) : NULL,
		     *y = b ? pikaci_document_dump(b) : NULL;

		fail_msg("%s differ: %s vs %s", what, x ? x : "(none)", y ? y : "(none)");
	}
}

/*
 * [L3], [L5], [L6]: the events are exactly `kinds` with seq 1, 2, ...; status.json is the last
 * event; result.json agrees with both and carries exit_code.
 */
static void assert_lifecycle(const struct run *run, const char *const *kinds, size_t count,
                             int exit_code)
{
	const json_t *last, *details;

	if (json_array_size(run->events) != count) {
		char *dump = pikaci_document_dump(run->events);

		fail_msg("expected %zu events, got %s", count, dump);
	}
	for (size_t i = 0; i < count; i++) {
		const json_t *event = json_array_get(run->events, i);

		assert_int_equal(integer_member(event, "seq"), i + 1);
		assert_string_equal(string_member(event, "kind"), kinds[i]);
		assert_optional_equal(json_object_get(event, "boot_id"),
		                      json_object_get(run->status, "boot_id"), "boot ids");
	}
	last = json_array_get(run->events, count - 1);
	assert_string_equal(string_member(run->status, "state"), kinds[count - 1]);
	assert_string_equal(string_member(run->status, "updated_at"),
	                    string_member(last, "timestamp"));
	assert_string_equal(string_member(run->status, "message"), string_member(last, "message"));
	assert_optional_equal(json_object_get(run->status, "details"),
	                      json_object_get(last, "details"), "status and event details");

	details = json_object_get(run->status, "details");
	assert_int_equal(integer_member(details, "exit_code"), exit_code);
	assert_string_equal(string_member(run->outcome, "status"),
	                    exit_code == 0 ? "completed" : "failed");
	assert_int_equal(integer_member(run->outcome, "exit_code"), exit_code);
	assert_string_equal(string_member(run->outcome, "message"),
	                    string_member(run->status, "message"));
	assert_optional_equal(json_object_get(run->outcome, "details"), details,
	                      "result and status details");
}

/* [L5], [X2], [X4]: an accepted request ran `command` and the guest exited `exit_code`. */
static void assert_accepted(struct run *run, const char *command, bool run_as_root, int exit_code)
{
	const char *const kinds[] = { "booted", "starting",
		                      exit_code == 0 ? "completed" : "failed" };
	const json_t *starting;
	size_t rest;

	assert_exit(&run->result, exit_code);
	collect(run);
	assert_lifecycle(run, kinds, 3, exit_code);
	starting = json_object_get(json_array_get(run->events, 1), "details");
	assert_string_equal(string_member(starting, "command"), command);
	assert_true(json_is_boolean(json_object_get(starting, "run_as_root")));
	assert_int_equal(json_is_true(json_object_get(starting, "run_as_root")), run_as_root);

	/* The output, byte for byte, on stdout and after the boot line; nothing on stderr. */
	rest = assert_boot_line(run);
	assert_int_equal(run->log_length - rest, run->result.out_length);
	if (run->result.out_length > 0)
		assert_memory_equal(run->log + rest, run->result.out, run->result.out_length);
	assert_stderr_empty(&run->result);
}

static void run_command(struct run *run, const char *command, long long timeout_secs,
                        bool run_as_root, int exit_code)
{
	deliver_request(run, command, timeout_secs, run_as_root);
	guest_run(run);
	assert_accepted(run, command, run_as_root, exit_code);
}

static const char *output(const struct run *run)
{
	return run->result.out ? run->result.out : "";
}

/* --- Changes the run made ------------------------------------------------------------------ */

static bool listed(const char *path, const char *const *paths, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (strcmp(path, paths[i]) == 0)
			return true;
	return false;
}

/* Every change the run made is the creation of an allowed path; the required ones are there. */
static void assert_changes(struct run *run, const char *const *allowed, size_t n_allowed,
                           const char *const *required, size_t n_required)
{
	struct pikaci_sandbox_change *changes = NULL;
	size_t count = 0;

	assert_int_equal(pikaci_sandbox_changes(run->sandbox, &changes, &count), 0);
	for (size_t i = 0; i < count; i++) {
		if (changes[i].kind != '+' || !listed(changes[i].path, allowed, n_allowed))
			fail_msg("unexpected change: %c %s", changes[i].kind, changes[i].path);
	}
	for (size_t i = 0; i < n_required; i++) {
		bool found = false;

		for (size_t k = 0; k < count; k++)
			found = found || strcmp(changes[k].path, required[i]) == 0;
		if (!found)
			fail_msg("%s was not created", required[i]);
	}
	pikaci_sandbox_changes_free(changes, count);
}

static const char *const lifecycle_files[] = {
	PIKACI_LOG_PATH,
	PIKACI_STATUS_PATH,
	PIKACI_EVENTS_PATH,
	PIKACI_RESULT_PATH,
};

static const char *const lifecycle_paths[] = {
	PIKACI_STATE_DIR,   PIKACI_LOGS_DIR,    PIKACI_LOG_PATH,
	PIKACI_STATUS_PATH, PIKACI_EVENTS_PATH, PIKACI_RESULT_PATH,
};

#define N(array) (sizeof(array) / sizeof((array)[0]))

/* --- Usage ([X5]) --------------------------------------------------------------------------- */

/* The guest left no lifecycle file and changed nothing at all. */
static void assert_nothing_changed(struct run *run)
{
	struct pikaci_sandbox_change *changes = NULL;
	size_t count = 0;

	for (size_t i = 0; i < N(lifecycle_files); i++)
		assert_false(pikaci_sandbox_path_exists(run->sandbox, lifecycle_files[i]));
	assert_int_equal(pikaci_sandbox_changes(run->sandbox, &changes, &count), 0);
	if (count > 0)
		fail_msg("unexpected change: %c %s", changes[0].kind, changes[0].path);
	pikaci_sandbox_changes_free(changes, count);
}

static void test_no_argument_prints_usage_and_exits_2(void **state)
{
	struct run *run = *state;
	struct pikaci_sandbox_result *r = guest_start(run, false);

	assert_exit(r, PIKACI_EXIT_REJECTED);
	assert_true(contains(r->err, r->err_length, "usage"));
	assert_int_equal(r->out_length, 0);
	assert_nothing_changed(run);
}

static void test_help_prints_usage_on_stdout(void **state)
{
	struct run *run = *state;
	struct pikaci_sandbox_result *r = guest_launch_with(run, "--help", deadline);

	assert_false(r->timed_out);
	assert_exit(r, 0);
	assert_true(starts_with(output(run), "usage: pikaci-incus-run "));
	assert_true(contains(r->out, r->out_length, PIKACI_REQUEST_PATH));
	assert_stderr_empty(r);
	assert_nothing_changed(run);
}

static void test_version_names_the_request_schema(void **state)
{
	struct run *run = *state;
	struct pikaci_sandbox_result *r = guest_launch_with(run, "--version", deadline);
	char schema[64];
	size_t length;

	assert_false(r->timed_out);
	assert_exit(r, 0);
	snprintf(schema, sizeof(schema), " (request schema_version %d)\n",
	         PIKACI_REQUEST_SCHEMA_VERSION);
	length = strlen(schema);
	assert_true(starts_with(output(run), "pikaci-incus-run "));
	assert_true(r->out_length > length);
	assert_string_equal(r->out + r->out_length - length, schema);
	assert_stderr_empty(r);
	assert_nothing_changed(run);
}

/*
 * [X5]: a command line that is not one request path is a usage error, decided before anything is
 * written: exit 2, one line on stderr naming the bad word and pointing at --help. Each launch
 * gets a fresh sandbox (a sandbox runs once) with a valid request waiting at the path, so a
 * guest that ran it would show.
 */
static void assert_usage_error(const char *const *arguments, const char *word)
{
	struct run *run = run_new(NULL);
	struct pikaci_sandbox_result *r;
	const char *newline;

	deliver_request(run, "echo ran", 30, true);
	r = guest_launch_argv(run, arguments, deadline);
	assert_false(r->timed_out);
	assert_exit(r, PIKACI_EXIT_REJECTED);
	assert_int_equal(r->out_length, 0);
	assert_non_null(r->err);
	newline = memchr(r->err, '\n', r->err_length);
	if (!newline || (size_t)(newline - r->err) + 1 != r->err_length)
		fail_msg("not one line on stderr: %s", r->err);
	assert_true(contains(r->err, r->err_length, "Try 'pikaci-incus-run --help'"));
	if (word && !contains(r->err, r->err_length, word))
		fail_msg("stderr does not name '%s': %s", word, r->err);
	assert_nothing_changed(run);
	run_free(run);
}

static void test_unknown_options_are_usage_errors(void **state)
{
	static const char *const words[] = { "--bogus", "-x", "-", "--help=1", "--versions" };

	(void)state;
	for (size_t i = 0; i < N(words); i++) {
		const char *alone[] = { words[i], NULL };
		const char *before_path[] = { words[i], PIKACI_REQUEST_PATH, NULL };
		const char *after_path[] = { PIKACI_REQUEST_PATH, words[i], NULL };

		assert_usage_error(alone, words[i]);
		assert_usage_error(before_path, words[i]);
		assert_usage_error(after_path, words[i]);
	}
}

static void test_wrong_argument_counts_are_usage_errors(void **state)
{
	const char *const none[] = { NULL };
	const char *const two[] = { PIKACI_REQUEST_PATH, "/tmp/other.json", NULL };
	const char *const dash_only[] = { "--", NULL };

	(void)state;
	assert_usage_error(none, "usage: pikaci-incus-run REQUEST_PATH");
	assert_usage_error(two, "/tmp/other.json");
	assert_usage_error(dash_only, "usage: pikaci-incus-run REQUEST_PATH");
}

/* `--` ends the options: the word after it is the request path, even one that reads like one. */
static void test_double_dash_ends_options(void **state)
{
	const char *const arguments[] = { "--", PIKACI_REQUEST_PATH, NULL };
	const char *const dash_path[] = { "--", "--help", NULL };
	struct run *run = *state, *other;

	deliver_request(run, "echo dashed", 30, true);
	guest_launch_argv(run, arguments, deadline);
	assert_false(run->result.timed_out);
	assert_accepted(run, "echo dashed", true, 0);
	assert_string_equal(output(run), "dashed\n");

	/* `-- --help` is a request path (there is none there): a rejection, not the usage. */
	other = run_new(NULL);
	guest_launch_argv(other, dash_path, deadline);
	assert_false(other->result.timed_out);
	assert_exit(&other->result, PIKACI_EXIT_REJECTED);
	assert_int_equal(other->result.out_length, 0);
	assert_true(pikaci_sandbox_path_exists(other->sandbox, PIKACI_RESULT_PATH));
	assert_true(contains(other->result.err, other->result.err_length, "--help"));
	run_free(other);
}

/* --- Accepted runs ([L1]-[L5], [X2]-[X4]) --------------------------------------------------- */

static void test_completed_run_leaves_four_valid_files(void **state)
{
	struct run *run = *state;

	run_command(run, "echo hello; echo to-stderr >&2", 30, true, 0);
	assert_string_equal(output(run), "hello\nto-stderr\n");
	assert_string_equal(string_member(run->outcome, "status"), "completed");
}

static void test_completed_run_as_pikaci(void **state)
{
	run_command(*state, "echo as-pikaci", 30, false, 0);
	assert_string_equal(output(*state), "as-pikaci\n");
}

static void test_exit_code_3_fails_the_run(void **state)
{
	struct run *run = *state;

	run_command(run, "exit 3", 30, true, 3);
	assert_string_equal(string_member(run->outcome, "status"), "failed");
}

static void test_exit_code_42_as_pikaci(void **state)
{
	struct run *run = *state;

	run_command(run, "echo before; exit 42", 30, false, 42);
	assert_string_equal(output(run), "before\n");
}

static void test_changes_are_layout_and_lifecycle_only(void **state)
{
	/* The marker proves a command that runs is seen: the rejection tests rely on it. */
	static const char *const created[] = {
		PIKACI_ARTIFACTS_DIR, PIKACI_CARGO_HOME,  PIKACI_XDG_CACHE_HOME,
		PIKACI_CARGO_TARGET,  PIKACI_USER_HOME,   PIKACI_XDG_STATE_HOME,
		PIKACI_LOGS_DIR,      PIKACI_LOG_PATH,    PIKACI_STATUS_PATH,
		PIKACI_EVENTS_PATH,   PIKACI_RESULT_PATH, MARKER,
	};
	struct run *run = *state;

	run_command(run, TOUCH_MARKER, 30, true, 0);
	assert_changes(run, created, N(created), created, N(created));
}

/* --- Layout and environment (§3, [X1]) ------------------------------------------------------ */

/* The value of NAME in `env` output, which must hold exactly one such line. */
static char *env_value(const char *text, const char *name)
{
	size_t length = strlen(name);
	const char *found = NULL;

	for (const char *line = text; line && *line; line = strchr(line, '\n'), line += !!line) {
		if (strncmp(line, name, length) == 0 && line[length] == '=') {
			if (found)
				fail_msg("%s is set twice:\n%s", name, text);
			found = line + length + 1;
		}
	}
	if (!found)
		fail_msg("%s is not set:\n%s", name, text);
	return strndup(found, strcspn(found, "\n"));
}

static void assert_env(const char *text, const char *name, const char *expected)
{
	char *value = env_value(text, name);

	if (strcmp(value, expected) != 0)
		fail_msg("%s=%s, expected %s", name, value, expected);
	free(value);
}

static const char *environment_path(char *const *environment)
{
	for (size_t i = 0; environment[i]; i++)
		if (starts_with(environment[i], "PATH="))
			return environment[i] + 5;
	fail_msg("the sandbox's environment has no PATH");
	return NULL;
}

static void assert_fixed_environment(const char *text, const char *inherited_path)
{
	char *path = NULL;

#define ASSERT_FIXED(name, value) assert_env(text, name, value);
	PIKACI_FIXED_ENVIRONMENT(ASSERT_FIXED)
#undef ASSERT_FIXED
	assert_true(asprintf(&path, "%s:%s", PIKACI_SYSTEM_BIN_DIR, inherited_path) > 0);
	assert_env(text, "PATH", path);
	free(path);
}

/* §3: the directories exist, and the ones a pikaci command writes to belong to 1000:100. */
static void assert_layout(struct run *run)
{
	static const struct {
		const char *path;
		bool user_owned;
	} folders[] = {
		{ PIKACI_WORKSPACE_DIR, false }, { PIKACI_ARTIFACTS_DIR, false },
		{ PIKACI_USER_HOME, true },      { PIKACI_CARGO_HOME, true },
		{ PIKACI_CARGO_TARGET, true },   { PIKACI_XDG_STATE_HOME, true },
		{ PIKACI_XDG_CACHE_HOME, true },
	};

	for (size_t i = 0; i < N(folders); i++) {
		char *host = pikaci_sandbox_upper_path(run->sandbox, folders[i].path);
		struct stat st;

		assert_non_null(host);
		if (stat(host, &st) < 0 || !S_ISDIR(st.st_mode))
			fail_msg("%s is not a directory after the run", folders[i].path);
		free(host);
		if (folders[i].user_owned &&
		    (st.st_uid != PIKACI_USER_UID || st.st_gid != PIKACI_USER_GID))
			fail_msg("%s belongs to %u:%u, not %d:%d", folders[i].path,
			         (unsigned)st.st_uid, (unsigned)st.st_gid, PIKACI_USER_UID,
			         PIKACI_USER_GID);
	}
	assert_true(pikaci_sandbox_path_exists(run->sandbox, PIKACI_ROOT_HOME));
}

static void test_environment_as_root(void **state)
{
	struct run *run = *state;

	run_command(run, ENVIRONMENT_SCRIPT, 30, true, 0);
	assert_true(
	        starts_with(output(run), "uid=0 gid=0 user=root cwd=" PIKACI_WORKSPACE_DIR "\n"));
	assert_env(output(run), "HOME", PIKACI_ROOT_HOME);
	assert_env(output(run), "USER", "root");
	assert_fixed_environment(output(run), environment_path(pikaci_sandbox_default_environment));
	assert_layout(run);
}

static void test_environment_as_pikaci(void **state)
{
	struct run *run = *state;
	char first[128];

	run_command(run, "echo groups=$(id -G); " ENVIRONMENT_SCRIPT, 30, false, 0);
	snprintf(first, sizeof(first), "groups=%d\nuid=%d gid=%d user=%s cwd=%s\n", PIKACI_USER_GID,
	         PIKACI_USER_UID, PIKACI_USER_GID, PIKACI_USER_NAME, PIKACI_WORKSPACE_DIR);
	assert_true(starts_with(output(run), first));
	assert_env(output(run), "HOME", PIKACI_USER_HOME);
	assert_env(output(run), "USER", PIKACI_USER_NAME);
	assert_fixed_environment(output(run), environment_path(pikaci_sandbox_default_environment));
	assert_layout(run);
}

static void test_pikaci_can_write_its_folders(void **state)
{
	run_command(*state,
	            "for d in \"$HOME\" \"$CARGO_HOME\" \"$CARGO_TARGET_DIR\" \"$XDG_STATE_HOME\" "
	            "\"$XDG_CACHE_HOME\"; do touch \"$d/written\" || exit 9; done",
	            30, false, 0);
}

static void test_inherited_environment_kept_fixed_variables_win(void **state)
{
	char *environment[] = {
		"PATH=/usr/bin:/bin",    "HOME=/nowhere",
		"USER=somebody",         "CARGO_HOME=/wrong",
		"CARGO_INCREMENTAL=1",   "LANG=C.UTF-8",
		"PIKACI_INHERITED=kept", NULL,
	};
	struct pikaci_sandbox_options options = { .environment = environment };
	struct run *run = run_new(&options);

	run_free(*state);
	*state = run;
	run_command(run, "env", 30, false, 0);
	assert_env(output(run), "PIKACI_INHERITED", "kept");
	assert_env(output(run), "LANG", "C.UTF-8");
	assert_env(output(run), "HOME", PIKACI_USER_HOME);
	assert_env(output(run), "USER", PIKACI_USER_NAME);
	assert_fixed_environment(output(run), "/usr/bin:/bin");
}

/* --- Timeouts and robustness ([X3], [B1]-[B3]) ---------------------------------------------- */

static void test_timeout_reports_124(void **state)
{
	struct run *run = *state;
	const json_t *details;

	run_command(run, "echo waiting; sleep 30", 1, true, PIKACI_EXIT_TIMEOUT);
	assert_string_equal(output(run), "waiting\n");
	details = json_object_get(run->status, "details");
	assert_true(json_is_true(json_object_get(details, "timed_out")));
	assert_true(run->result.seconds >= 1.0);
	assert_within(&run->result, 1 + 3);
}

static void test_term_ignoring_command_is_killed(void **state)
{
	struct run *run = *state;

	run_command(run, "trap '' TERM; echo trapped; sleep 30", 1, true, PIKACI_EXIT_TIMEOUT);
	assert_string_equal(output(run), "trapped\n");
	assert_within(&run->result, 1 + 3);
}

static void test_background_orphan_does_not_delay_the_end(void **state)
{
	struct run *run = *state;

	run_command(run, "sleep 30 & echo started", 60, true, 0);
	assert_string_equal(output(run), "started\n");
	assert_within(&run->result, 2);
}

static void test_setsid_orphan_does_not_delay_the_end(void **state)
{
	struct run *run = *state;

	/*
	 * Until setsid has run, the orphan is still in the command's group, which the guest
	 * kills: wait for it to leave, or the test would pass without an orphan to survive.
	 */
	run_command(run,
	            "setsid sh -c 'touch /tmp/escaped; exec sleep 30' & "
	            "until [ -e /tmp/escaped ]; do sleep 0.01; done; echo started",
	            60, false, 0);
	assert_string_equal(output(run), "started\n");
	assert_within(&run->result, 2);
}

static void test_orphan_does_not_delay_a_timeout(void **state)
{
	struct run *run = *state;

	run_command(run, "setsid sleep 30 & echo started; sleep 30", 1, true, PIKACI_EXIT_TIMEOUT);
	assert_string_equal(output(run), "started\n");
	assert_within(&run->result, 1 + 3);
}

static void test_binary_output_byte_for_byte(void **state)
{
	static const char expected[] = "\xff\xfe\0\x80z";
	struct run *run = *state;

	/* assert_accepted compares the log after the boot line with stdout byte for byte. */
	run_command(run, "printf '\\xff\\xfe'; printf '\\0\\x80z'", 30, true, 0);
	assert_int_equal(run->result.out_length, sizeof(expected) - 1);
	assert_memory_equal(run->result.out, expected, sizeof(expected) - 1);
}

/* [X2]: output written in one go just before the command exits is all there. */
static void test_output_written_just_before_exit_is_kept(void **state)
{
	/* A pipe grown to 1 MiB (F_SETPIPE_SZ) takes it all at once: the guest reads it after the
	 * exit. */
	static const char command[] =
	        "exec perl -e 'fcntl(STDOUT, 1031, 1 << 20) or die \"F_SETPIPE_SZ: $!\"; "
	        "syswrite(STDOUT, \"x\" x 600000 . \"end\\n\")'";
	struct run *run = *state;

	run_command(run, command, 30, true, 0);
	assert_int_equal(run->result.out_length, 600004);
	assert_string_equal(run->result.out + 600000, "end\n");
	assert_int_equal(strspn(run->result.out, "x"), 600000);
}

/* The guest itself is stopped (the machine shuts down): it stops the command the same way. */
static void test_guest_stopped_by_sigterm(void **state)
{
	struct run *run = *state;
	char message[64];

	/* bash's parent is the guest; the trap shows the signal reached the command's group. */
	run_command(run,
	            "trap 'echo got-term; exit 7' TERM; echo started; kill -TERM $PPID; "
	            "sleep 30 & wait",
	            60, true, 128 + SIGTERM);
	assert_string_equal(output(run), "started\ngot-term\n");
	snprintf(message, sizeof(message), "the guest was stopped by signal %d", SIGTERM);
	assert_string_equal(string_member(run->outcome, "message"), message);
	assert_null(json_object_get(json_object_get(run->status, "details"), "timed_out"));
	assert_within(&run->result, 2);
}

/* [X2]: a host that stops reading the guest's output; the log still gets all of it. */
static void test_output_logged_when_the_host_stops_reading(void **state)
{
	static const char *const kinds[] = { "booted", "starting", "completed" };
	/* More than a pipe holds: writes fail once the reader is gone. */
	static const char command[] = "seq 1 50000; echo end";
	struct run *run = *state;
	char **argv = calloc(wrapper_words + 7, sizeof(*argv));
	char *expected = NULL;
	size_t n = 0, rest, length = 0;
	FILE *out;
	int r;

	assert_non_null(argv);
	/* The guest's stdout goes to a reader that exits at once; the pipeline's status is the
	 * guest's. */
	argv[n++] = "/bin/bash";
	argv[n++] = "-c";
	argv[n++] = "\"$@\" | true; exit \"${PIPESTATUS[0]}\"";
	argv[n++] = "bash";
	for (size_t i = 0; i < wrapper_words; i++)
		argv[n++] = wrapper[i];
	argv[n++] = (char *)guest_program;
	argv[n++] = PIKACI_REQUEST_PATH;
	deliver_request(run, command, 30, true);
	r = pikaci_sandbox_run(run->sandbox, argv, deadline, NULL, NULL, &run->result);
	free(argv);
	if (r < 0)
		fail_msg("cannot run the guest: %s", pikaci_sandbox_error(run->sandbox));
	assert_memcheck_clean(&run->result);
	assert_false(run->result.timed_out);
	assert_exit(&run->result, 0);
	assert_int_equal(run->result.out_length, 0);
	assert_stderr_empty(&run->result);

	collect(run);
	assert_lifecycle(run, kinds, N(kinds), 0);
	out = open_memstream(&expected, &length);
	assert_non_null(out);
	for (int i = 1; i <= 50000; i++)
		fprintf(out, "%d\n", i);
	fputs("end\n", out);
	fclose(out);
	rest = assert_boot_line(run);
	assert_int_equal(run->log_length - rest, length);
	assert_memory_equal(run->log + rest, expected, length);
	free(expected);
}

/*
 * [L1], [L3], [D4]: a previous run's files in the same guest. The log is appended to; the
 * events start over; the old result is gone at once, so a host that kills this run ([D5])
 * cannot read the previous run's result as this one's.
 */
static void test_previous_run_files_do_not_pass_for_this_run(void **state)
{
	static const char old_log[] = "previous run\n";
	static const char *const kinds[] = { "booted", "starting" };
	static const char old_event[] =
	        "{\"schema_version\":1,\"seq\":1,\"kind\":\"completed\","
	        "\"timestamp\":\"2026-03-25T20:00:00Z\",\"message\":\"old\"}\n";
	struct run *run = *state;
	json_t *old_result = pikaci_result_new(0, "2026-03-25T20:00:00Z", "old", NULL);
	char *text = pikaci_document_dump(old_result), *events = NULL, *line, *save = NULL;
	size_t length = 0, count = 0, rest;

	json_decref(old_result);
	assert_non_null(text);
	assert_int_equal(pikaci_sandbox_write_file(run->sandbox, PIKACI_RESULT_PATH, text,
	                                           strlen(text), 0644),
	                 0);
	free(text);
	assert_int_equal(pikaci_sandbox_write_file(run->sandbox, PIKACI_LOG_PATH, old_log,
	                                           strlen(old_log), 0644),
	                 0);
	assert_int_equal(pikaci_sandbox_write_file(run->sandbox, PIKACI_EVENTS_PATH, old_event,
	                                           strlen(old_event), 0644),
	                 0);
	deliver_request(run, "echo started; sleep 30", 60, true);

	/* The host gives up while the command still runs (memcheck needs a while to get there). */
	assert_true(guest_launch(run, true, 3 + slack / 2)->timed_out);
	assert_false(pikaci_sandbox_path_exists(run->sandbox, PIKACI_RESULT_PATH));

	events = read_upper(run, PIKACI_EVENTS_PATH, &length);
	for (line = strtok_r(events, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct pikaci_error err = { 0 };
		json_t *event = json_loads(line, JSON_REJECT_DUPLICATES, NULL);

		if (!event || pikaci_event_validate(event, &err) < 0)
			fail_msg("invalid event (%s): %s", err.text, line);
		if (count >= N(kinds))
			fail_msg("unexpected event: %s", line);
		assert_int_equal(integer_member(event, "seq"), count + 1);
		assert_string_equal(string_member(event, "kind"), kinds[count]);
		json_decref(event);
		count++;
	}
	free(events);
	assert_int_equal(count, N(kinds));

	run->log = read_upper(run, PIKACI_LOG_PATH, &run->log_length);
	assert_true(run->log_length > strlen(old_log));
	assert_memory_equal(run->log, old_log, strlen(old_log));
	rest = assert_boot_line_at(run, strlen(old_log));
	assert_string_equal(run->log + rest, "started\n");
}

/* --- [B4]: status.json and result.json appear by rename only ------------------------------- */

static int watch_state_dir(struct run *run)
{
	char *folder = pikaci_sandbox_upper_path(run->sandbox, PIKACI_STATE_DIR);
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	assert_non_null(folder);
	assert_true(fd >= 0);
	if (inotify_add_watch(fd, folder, IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO) < 0)
		fail_msg("cannot watch %s: %s", folder, strerror(errno));
	free(folder);
	return fd;
}

/* Each document was renamed into place `moves[i]` times and never written in place. */
static void assert_renamed_only(int fd, const unsigned moves[2])
{
	const char *const names[] = { strrchr(PIKACI_STATUS_PATH, '/') + 1,
		                      strrchr(PIKACI_RESULT_PATH, '/') + 1 };
	unsigned seen[2] = { 0, 0 };
	char buffer[65536] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(fd, buffer, sizeof(buffer))) > 0) {
		for (char *p = buffer; p < buffer + n;) {
			const struct inotify_event *event = (const struct inotify_event *)p;

			p += sizeof(*event) + event->len;
			if (event->mask & IN_Q_OVERFLOW)
				fail_msg("the inotify queue overflowed");
			for (int i = 0; i < 2; i++) {
				if (event->len == 0 || strcmp(event->name, names[i]) != 0)
					continue;
				if (event->mask & (IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE))
					fail_msg("%s was written in place (inotify mask 0x%x)",
					         names[i], event->mask);
				if (event->mask & IN_MOVED_TO)
					seen[i]++;
			}
		}
	}
	assert_true(n < 0 && errno == EAGAIN);
	close(fd);
	for (int i = 0; i < 2; i++)
		if (seen[i] != moves[i])
			fail_msg("%s was renamed into place %u times, expected %u", names[i],
			         seen[i], moves[i]);
}

static void test_documents_replaced_by_rename(void **state)
{
	/* One status per state (booted, starting, completed), one result. */
	static const unsigned moves[2] = { 3, 1 };
	struct run *run = *state;
	int fd;

	deliver_request(run, "echo atomic", 30, true);
	fd = watch_state_dir(run);
	guest_run(run);
	assert_accepted(run, "echo atomic", true, 0);
	assert_renamed_only(fd, moves);
}

static void test_rejection_documents_replaced_by_rename(void **state)
{
	static const char request[] = "{\"schema_version\":1}";
	static const unsigned moves[2] = { 2, 1 };
	struct run *run = *state;
	int fd;

	deliver(run, request, strlen(request));
	fd = watch_state_dir(run);
	assert_exit(guest_run(run), PIKACI_EXIT_REJECTED);
	assert_renamed_only(fd, moves);
}

/* --- Accepted requests whose command could not start ([L5], [D4]) ------------------------- */

/*
 * booted, starting, then failed with `exit_code` and the message "the command could not
 * start: <why>", which is on stderr and in the log; no output, and the command never ran.
 */
static void assert_could_not_start(struct run *run, int exit_code, const char *why)
{
	static const char *const kinds[] = { "booted", "starting", "failed" };
	char *message = NULL, *line = NULL;
	size_t rest;

	assert_exit(&run->result, exit_code);
	collect(run);
	assert_lifecycle(run, kinds, N(kinds), exit_code);
	assert_true(asprintf(&message, "the command could not start: %s", why) > 0);
	assert_string_equal(string_member(run->status, "message"), message);
	rest = assert_boot_line(run);
	assert_true(asprintf(&line, "%s%s\n", PIKACI_LOG_FAILURE_PREFIX, message) > 0);
	assert_int_equal(run->log_length - rest, strlen(line));
	assert_memory_equal(run->log + rest, line, strlen(line));
	assert_int_equal(run->result.out_length, 0);
	assert_true(contains(run->result.err, run->result.err_length, message));
	assert_false(pikaci_sandbox_path_exists(run->sandbox, MARKER));
	free(line);
	free(message);
}

/* 127, as a shell reports a command it cannot find or execute. */
#define EXIT_NO_SHELL 127
/* The guest could not prepare the command. */
#define EXIT_GUEST_FAILURE 125

static void test_bash_not_on_path(void **state)
{
	char *environment[] = { "PATH=/nonexistent/bin", "HOME=/root", "USER=root", "LANG=C.UTF-8",
		                NULL };
	struct pikaci_sandbox_options options = { .environment = environment };
	struct run *run = run_new(&options);

	run_free(*state);
	*state = run;
	/* The image's profile comes first on the command's PATH: this one has no bash either. */
	assert_false(
	        pikaci_sandbox_path_exists(run->sandbox, PIKACI_SYSTEM_BIN_DIR "/" PIKACI_SHELL));
	deliver_request(run, TOUCH_MARKER, 30, true);
	guest_run(run);
	assert_could_not_start(run, EXIT_NO_SHELL, PIKACI_SHELL " is not on the command's PATH");
}

static void test_bash_that_cannot_execute(void **state)
{
	static const char not_a_program[] = "not a program\n";
	struct run *run = *state;

	/* The image's bash is broken (another architecture's, say) and comes first. */
	assert_int_equal(pikaci_sandbox_write_file(run->sandbox,
	                                           PIKACI_SYSTEM_BIN_DIR "/" PIKACI_SHELL,
	                                           not_a_program, strlen(not_a_program), 0755),
	                 0);
	deliver_request(run, TOUCH_MARKER, 30, false);
	guest_run(run);
	assert_could_not_start(run, EXIT_NO_SHELL,
	                       "cannot execute " PIKACI_SYSTEM_BIN_DIR "/" PIKACI_SHELL
	                       ": Exec format error");
}

/* §3: a file where the image's layout needs a folder stops the run before the command. */
static void test_file_in_the_way_of_a_layout_folder(void **state)
{
	static const char *const folders[] = {
		PIKACI_ARTIFACTS_DIR, PIKACI_USER_HOME,      PIKACI_CARGO_HOME,
		PIKACI_CARGO_TARGET,  PIKACI_XDG_STATE_HOME, PIKACI_XDG_CACHE_HOME,
	};
	static const char in_the_way[] = "in the way\n";

	for (size_t i = 0; i < N(folders); i++) {
		struct run *run;
		char *why = NULL;

		/* A fresh sandbox for each folder: a sandbox runs once. */
		if (i > 0) {
			run_free(*state);
			*state = run_new(NULL);
		}
		run = *state;
		assert_int_equal(pikaci_sandbox_write_file(run->sandbox, folders[i], in_the_way,
		                                           strlen(in_the_way), 0644),
		                 0);
		deliver_request(run, TOUCH_MARKER, 30, false);
		guest_run(run);
		assert_true(asprintf(&why, "cannot create %s: File exists", folders[i]) > 0);
		assert_could_not_start(run, EXIT_GUEST_FAILURE, why);
		free(why);
	}
}

/* --- Lifecycle files that cannot be written ------------------------------------------------ */

/*
 * Something in the way of the journal: the guest says which path on stderr, exits 125 and
 * runs nothing, for a run it cannot record would be judged without its record ([D4]).
 */
static void test_journal_that_cannot_be_written_runs_nothing(void **state)
{
	static const struct {
		const char *path; /* what is in the way: a folder, or a file */
		bool folder;
		bool booted; /* the log has the boot line */
	} cases[] = {
		{ PIKACI_LOGS_DIR, false, false },
		{ PIKACI_EVENTS_PATH, true, false },
		{ PIKACI_RESULT_PATH, true, false },
		{ PIKACI_STATUS_PATH, true, true },
	};
	static const char *const untouched[] = { PIKACI_WORKSPACE_DIR "/x", PIKACI_CARGO_HOME,
		                                 PIKACI_CARGO_TARGET,       PIKACI_USER_HOME,
		                                 PIKACI_ARTIFACTS_DIR,      MARKER };
	static const char not_run[] =
	        PIKACI_LOG_FAILURE_PREFIX "the run's state cannot be recorded: the command was not "
	                                  "run\n";

	for (size_t i = 0; i < N(cases); i++) {
		struct pikaci_sandbox_change *changes = NULL;
		char *bytes = NULL;
		size_t count = 0, length = 0;
		struct run *run;

		if (i > 0) {
			run_free(*state);
			*state = run_new(NULL);
		}
		run = *state;
		if (cases[i].folder)
			assert_int_equal(pikaci_sandbox_make_dir(run->sandbox, cases[i].path, 0755),
			                 0);
		else
			assert_int_equal(
			        pikaci_sandbox_write_file(run->sandbox, cases[i].path, "", 0, 0644),
			        0);
		deliver_request(run, TOUCH_MARKER, 30, true);
		guest_run(run);

		assert_exit(&run->result, EXIT_GUEST_FAILURE);
		assert_int_equal(run->result.out_length, 0);
		if (!contains(run->result.err, run->result.err_length, cases[i].path))
			fail_msg("stderr does not name %s: %s", cases[i].path,
			         run->result.err ? run->result.err : "");
		for (size_t k = 0; k < N(untouched); k++)
			if (pikaci_sandbox_path_exists(run->sandbox, untouched[k]))
				fail_msg("the guest created %s", untouched[k]);
		/* No result.json: only what was in the way. */
		assert_int_equal(pikaci_sandbox_read_file(run->sandbox, PIKACI_RESULT_PATH,
		                                          LIFECYCLE_MAX, &bytes, &length),
		                 strcmp(cases[i].path, PIKACI_RESULT_PATH) == 0 ? -EISDIR
		                                                                : -ENOENT);
		if (cases[i].booted) {
			size_t rest;

			run->log = read_upper(run, PIKACI_LOG_PATH, &run->log_length);
			rest = assert_boot_line(run);
			assert_int_equal(run->log_length - rest, strlen(not_run));
			assert_memory_equal(run->log + rest, not_run, strlen(not_run));
		}
		/* [B4]: no temporary file of a failed replacement is left behind. */
		assert_int_equal(pikaci_sandbox_changes(run->sandbox, &changes, &count), 0);
		for (size_t k = 0; k < count; k++)
			if (strrchr(changes[k].path, '/')[1] == '.')
				fail_msg("left behind: %s", changes[k].path);
		pikaci_sandbox_changes_free(changes, count);
	}
}

/* --- Rejections ([R1]-[R5], [L6], [B5]) ----------------------------------------------------- */

static void assert_absent_on_host(const char *path)
{
	struct stat st;

	/* path_exists falls back to the real root: a host that has it makes the check void. */
	if (lstat(path, &st) == 0)
		fail_msg("%s exists on this host: the test cannot tell whether the guest made it",
		         path);
}

/*
 * Runs the guest on `bytes` (NULL: whatever the test prepared) and asserts a rejection for the
 * contract library's reason, `expected`: booted then failed, exit 2, nothing run or created.
 */
static void assert_rejected(struct run *run, const char *bytes, enum pikaci_reason expected)
{
	static const char *const untouched[] = { PIKACI_CARGO_HOME,    PIKACI_CARGO_TARGET,
		                                 PIKACI_USER_HOME,     PIKACI_XDG_STATE_HOME,
		                                 PIKACI_ARTIFACTS_DIR, MARKER };
	static const char *const kinds[] = { "booted", "failed" };
	struct pikaci_error err = { 0 };
	const char *message;
	const json_t *details;
	char *line = NULL;
	size_t rest;

	if (bytes) {
		assert_int_equal(pikaci_request_parse(bytes, strlen(bytes), NULL, &err), -EINVAL);
		deliver(run, bytes, strlen(bytes));
	} else {
		pikaci_error_set(&err, PIKACI_REASON_UNREADABLE, NULL, -1, "no request");
	}
	if (err.reason != expected)
		fail_msg("the library says %s (%s), the test expects %s",
		         pikaci_reason_name(err.reason), err.text, pikaci_reason_name(expected));
	for (size_t i = 0; i < N(untouched); i++)
		assert_absent_on_host(untouched[i]);

	assert_exit(guest_run(run), PIKACI_EXIT_REJECTED);
	collect(run);
	assert_lifecycle(run, kinds, N(kinds), PIKACI_EXIT_REJECTED);
	message = string_member(run->status, "message");
	if (!starts_with(message, PIKACI_BOOTSTRAP_FAILED))
		fail_msg("the failure's message does not begin \"%s\": %s", PIKACI_BOOTSTRAP_FAILED,
		         message);
	details = json_object_get(run->status, "details");
	assert_string_equal(string_member(details, "reason"), pikaci_reason_name(err.reason));
	if (err.member[0])
		assert_string_equal(string_member(details, "member"), err.member);

	/* The log: the boot line, then the failure's line, and nothing else. */
	rest = assert_boot_line(run);
	assert_true(asprintf(&line, "%s%s\n", PIKACI_LOG_FAILURE_PREFIX, message) > 0);
	assert_int_equal(run->log_length - rest, strlen(line));
	assert_memory_equal(run->log + rest, line, strlen(line));
	free(line);
	assert_int_equal(run->result.out_length, 0);
	assert_true(contains(run->result.err, run->result.err_length, PIKACI_BOOTSTRAP_FAILED));

	for (size_t i = 0; i < N(untouched); i++)
		if (pikaci_sandbox_path_exists(run->sandbox, untouched[i]))
			fail_msg("a rejected request created %s", untouched[i]);
	assert_changes(run, lifecycle_paths, N(lifecycle_paths), lifecycle_files,
	               N(lifecycle_files));
}

/* The five members of version 1 that version 2 removed, with the values a v1 host sent. */
static const char *const v1_fields[][2] = {
	{ "workspace_dir", PIKACI_WORKSPACE_DIR }, { "cargo_home_dir", PIKACI_CARGO_HOME },
	{ "target_dir", PIKACI_CARGO_TARGET },     { "xdg_state_home_dir", PIKACI_XDG_STATE_HOME },
	{ "home_dir", PIKACI_USER_HOME },
};

/* A request that would touch the marker, with `n_fields` of the v1 fields from `first`. */
static char *request_with_fields(int schema_version, size_t first, size_t n_fields)
{
	json_t *document = json_pack("{s:i, s:s, s:i, s:b}", "schema_version", schema_version,
	                             "command", TOUCH_MARKER, "timeout_secs", 30, "run_as_root", 1);
	char *text;

	assert_non_null(document);
	for (size_t i = first; i < first + n_fields; i++)
		json_object_set_new(document, v1_fields[i][0], json_string(v1_fields[i][1]));
	text = json_dumps(document, JSON_COMPACT);
	json_decref(document);
	assert_non_null(text);
	return text;
}

static void test_rejects_v1_request(void **state)
{
	char *request = request_with_fields(1, 0, N(v1_fields));

	assert_rejected(*state, request, PIKACI_REASON_UNSUPPORTED_SCHEMA_VERSION);
	free(request);
}

static void test_rejects_each_stray_path_field(void **state)
{
	for (size_t i = 0; i < N(v1_fields); i++) {
		char *request = request_with_fields(PIKACI_REQUEST_SCHEMA_VERSION, i, 1);

		/* A fresh sandbox for each field: a sandbox runs once. */
		if (i > 0) {
			run_free(*state);
			*state = run_new(NULL);
		}
		assert_rejected(*state, request, PIKACI_REASON_UNKNOWN_FIELD);
		free(request);
	}
}

static void test_rejects_all_stray_path_fields(void **state)
{
	char *request = request_with_fields(PIKACI_REQUEST_SCHEMA_VERSION, 0, N(v1_fields));

	assert_rejected(*state, request, PIKACI_REASON_UNKNOWN_FIELD);
	free(request);
}

static void test_rejects_invalid_json(void **state)
{
	assert_rejected(*state,
	                "{\"schema_version\":2,\"command\":\"" TOUCH_MARKER "\","
	                "\"timeout_secs\":30,\"run_as_root\":true",
	                PIKACI_REASON_INVALID_JSON);
}

static void test_rejects_duplicate_member(void **state)
{
	assert_rejected(*state,
	                "{\"schema_version\":2,\"command\":\"true\",\"command\":\"" TOUCH_MARKER
	                "\",\"timeout_secs\":30,\"run_as_root\":true}",
	                PIKACI_REASON_DUPLICATE_FIELD);
}

static void test_rejects_string_run_as_root(void **state)
{
	assert_rejected(*state,
	                "{\"schema_version\":2,\"command\":\"" TOUCH_MARKER "\","
	                "\"timeout_secs\":30,\"run_as_root\":\"true\"}",
	                PIKACI_REASON_INVALID_TYPE);
}

static void test_rejects_missing_request(void **state)
{
	assert_rejected(*state, NULL, PIKACI_REASON_UNREADABLE);
}

static void test_rejects_request_that_is_a_directory(void **state)
{
	struct run *run = *state;

	assert_int_equal(pikaci_sandbox_make_dir(run->sandbox, PIKACI_REQUEST_PATH, 0755), 0);
	assert_rejected(run, NULL, PIKACI_REASON_UNREADABLE);
}

/* A FIFO nobody writes to must not hold the guest: it is not a regular file. */
static void test_rejects_request_that_is_a_fifo(void **state)
{
	struct run *run = *state;
	char *host;

	/* Delivered (so it is the caller's, not the guest's), then replaced by a FIFO. */
	deliver(run, "", 0);
	host = pikaci_sandbox_upper_path(run->sandbox, PIKACI_REQUEST_PATH);
	assert_non_null(host);
	assert_int_equal(unlink(host), 0);
	assert_int_equal(mkfifo(host, 0644), 0);
	free(host);
	assert_rejected(run, NULL, PIKACI_REASON_UNREADABLE);
	assert_non_null(strstr(string_member(run->status, "message"), "not a regular file"));
	assert_within(&run->result, 2);
}

static void test_rejects_request_over_1_mib(void **state)
{
	/* Valid but for its size: a command padded with a comment past the limit. */
	static const char head[] = "{\"schema_version\":2,\"timeout_secs\":30,\"run_as_root\":true,"
	                           "\"command\":\"" TOUCH_MARKER " #";
	static const char tail[] = "\"}";
	size_t size = PIKACI_REQUEST_MAX_BYTES + 4096;
	char *request = malloc(size + 1);

	assert_non_null(request);
	memcpy(request, head, strlen(head));
	memset(request + strlen(head), 'x', size - strlen(head) - strlen(tail));
	memcpy(request + size - strlen(tail), tail, strlen(tail) + 1);
	assert_rejected(*state, request, PIKACI_REASON_TOO_LARGE);
	free(request);
}

/* --- The harness --------------------------------------------------------------------------- */

/* PIKACI_GUEST_WRAPPER, split as the host and the runner split it (src/host/transport.c). */
static int wrapper_parse(const char *text)
{
	int r = pikaci_guest_argv_new(text, NULL, 0, &wrapper);

	if (r < 0)
		return r;
	while (wrapper[wrapper_words])
		wrapper_words++;
	if (wrapper_words == 0) {
		pikaci_guest_argv_free(wrapper);
		wrapper = NULL;
	}
	return 0;
}

static void wrapper_free(void)
{
	pikaci_guest_argv_free(wrapper);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_no_argument_prints_usage_and_exits_2),
		T(test_help_prints_usage_on_stdout),
		T(test_version_names_the_request_schema),
		T(test_unknown_options_are_usage_errors),
		T(test_wrong_argument_counts_are_usage_errors),
		T(test_double_dash_ends_options),
		T(test_completed_run_leaves_four_valid_files),
		T(test_completed_run_as_pikaci),
		T(test_exit_code_3_fails_the_run),
		T(test_exit_code_42_as_pikaci),
		T(test_changes_are_layout_and_lifecycle_only),
		T(test_environment_as_root),
		T(test_environment_as_pikaci),
		T(test_pikaci_can_write_its_folders),
		T(test_inherited_environment_kept_fixed_variables_win),
		T(test_timeout_reports_124),
		T(test_term_ignoring_command_is_killed),
		T(test_background_orphan_does_not_delay_the_end),
		T(test_setsid_orphan_does_not_delay_the_end),
		T(test_orphan_does_not_delay_a_timeout),
		T(test_binary_output_byte_for_byte),
		T(test_output_written_just_before_exit_is_kept),
		T(test_guest_stopped_by_sigterm),
		T(test_output_logged_when_the_host_stops_reading),
		T(test_previous_run_files_do_not_pass_for_this_run),
		T(test_documents_replaced_by_rename),
		T(test_rejection_documents_replaced_by_rename),
		T(test_bash_not_on_path),
		T(test_bash_that_cannot_execute),
		T(test_file_in_the_way_of_a_layout_folder),
		T(test_journal_that_cannot_be_written_runs_nothing),
		T(test_rejects_v1_request),
		T(test_rejects_each_stray_path_field),
		T(test_rejects_all_stray_path_fields),
		T(test_rejects_invalid_json),
		T(test_rejects_duplicate_member),
		T(test_rejects_string_run_as_root),
		T(test_rejects_missing_request),
		T(test_rejects_request_that_is_a_directory),
		T(test_rejects_request_that_is_a_fifo),
		T(test_rejects_request_over_1_mib),
#undef T
	};
	int failed;

	if (argc != 2) {
		fprintf(stderr, "usage: test-guest GUEST_PROGRAM\n");
		printf("Bail out! no guest program given\n");
		return 99;
	}
	if (geteuid() != 0) {
		printf("1..0 # SKIP the sandbox needs root (namespaces and an overlay mount)\n");
		return 0;
	}
	guest_program = argv[1];
	if (wrapper_parse(getenv("PIKACI_GUEST_WRAPPER")) < 0) {
		printf("Bail out! out of memory\n");
		return 99;
	}
	if (wrapper) {
		deadline = 300;
		slack = 15;
	}
	failed = cmocka_run_group_tests_name("guest", tests, NULL, NULL);
	wrapper_free();
	return failed;
}
