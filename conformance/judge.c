/* SPDX-License-Identifier: MIT */
/*
 * judge.c - the checks of fixtures/README.md "What every case checks", each citing the clause it
 * proves, each failing with a message that says exactly what was seen and what was due.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "judge.h"
#include "pikaci-contract.h"

static void add(struct verdict *v, const char *clause, bool ok, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void add(struct verdict *v, const char *clause, bool ok, const char *fmt, ...)
{
	struct check *grown = realloc(v->checks, (v->n_checks + 1) * sizeof(*grown));
	va_list ap;
	char *message = NULL;

	if (!grown)
		abort(); /* a judge that cannot record a finding must not report a pass */
	v->checks = grown;
	va_start(ap, fmt);
	if (vasprintf(&message, fmt, ap) < 0)
		abort();
	va_end(ap);
	grown[v->n_checks++] = (struct check){ .clause = clause, .ok = ok, .message = message };
	if (!ok)
		v->n_failed++;
}

static void not_applicable(struct verdict *v, const char *clause, const char *why)
{
	char **grown = realloc(v->not_applicable, (v->n_not_applicable + 1) * sizeof(*grown));

	if (!grown || asprintf(&grown[v->n_not_applicable], "%s: %s", clause, why) < 0)
		abort();
	v->not_applicable = grown;
	v->n_not_applicable++;
}

void verdict_clear(struct verdict *v)
{
	for (size_t i = 0; i < v->n_checks; i++)
		free(v->checks[i].message);
	for (size_t i = 0; i < v->n_not_applicable; i++)
		free(v->not_applicable[i]);
	free(v->checks);
	free(v->not_applicable);
	memset(v, 0, sizeof(*v));
}

const char *verdict_first_failure(const struct verdict *v, const char **ret_clause)
{
	for (size_t i = 0; i < v->n_checks; i++) {
		if (!v->checks[i].ok) {
			if (ret_clause)
				*ret_clause = v->checks[i].clause;
			return v->checks[i].message;
		}
	}
	return NULL;
}

/* Renders bytes for a message: printable ASCII as is, the rest escaped, cut at `max`. */
static void excerpt(const char *bytes, size_t length, size_t max, char *out, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < length && i < max && o + 8 < size; i++) {
		unsigned char c = (unsigned char)bytes[i];

		if (c == '\n')
			o += (size_t)snprintf(out + o, size - o, "\\n");
		else if (c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, size - o, "\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
	}
	if (length > max && o + 4 < size)
		o += (size_t)snprintf(out + o, size - o, "...");
	out[o] = '\0';
}

/* "expected ..., got ..." from the first differing byte on. */
static bool bytes_equal(const char *what, struct verdict *v, const char *clause, const char *want,
                        size_t want_length, const char *got, size_t got_length)
{
	size_t at = 0;
	char a[160], b[160];
	size_t line = 1;

	while (at < want_length && at < got_length && want[at] == got[at]) {
		if (want[at] == '\n')
			line++;
		at++;
	}
	if (at == want_length && at == got_length) {
		add(v, clause, true, "%s as expected (%zu bytes)", what, want_length);
		return true;
	}
	excerpt(want + at, want_length - at, 40, a, sizeof(a));
	excerpt(got + at, got_length - at, 40, b, sizeof(b));
	add(v, clause, false,
	    "%s differs from byte %zu (line %zu) on: expected \"%s\", got \"%s\" (%zu bytes "
	    "expected, %zu received)",
	    what, at, line, a, b, want_length, got_length);
	return false;
}

static const char *kind_of(const json_t *event)
{
	const char *kind = json_string_value(json_object_get(event, "kind"));

	return kind ? kind : "?";
}

static void kinds_list(const json_t *events, char *out, size_t size)
{
	size_t i, o = 0;
	json_t *event;

	out[0] = '\0';
	json_array_foreach(events, i, event)
	{
		int n = snprintf(out + o, size - o, "%s%s", i ? ", " : "", kind_of(event));

		if (n < 0 || (size_t)n >= size - o)
			break;
		o += (size_t)n;
	}
}

static const char *exit_clause(int expected)
{
	return expected == PIKACI_EXIT_TIMEOUT ? "X3" : "X4";
}

static void check_exit(const struct observation *o, struct verdict *v)
{
	const struct pikaci_transport_result *run = &o->exchange->run;
	int want = o->fixture->exit_code;
	const char *clause = o->fixture->outcome == OUTCOME_USAGE ? "X5" : exit_clause(want);

	if (run->signal)
		add(v, clause, false, "the guest was killed by signal %d; expected exit code %d",
		    run->signal, want);
	else
		add(v, clause, run->exit_code == want, "the guest exited %d, expected %d",
		    run->exit_code, want);
}

static void check_bounds(const struct observation *o, struct verdict *v)
{
	const struct fixture *f = o->fixture;
	const char *clause = f->clauses[0];
	double seconds = o->exchange->run.seconds, max = f->max_seconds * o->time_scale;

	for (size_t i = 0; i < f->n_clauses; i++)
		if (!strcmp(f->clauses[i], "X3") || !strcmp(f->clauses[i], "B1") ||
		    !strcmp(f->clauses[i], "B2"))
			clause = f->clauses[i];
	if (f->max_seconds > 0)
		add(v, clause, seconds <= max, "the guest ran %.2f s; the bound is %.2f s", seconds,
		    max);
	if (f->min_seconds > 0)
		add(v, clause, seconds >= f->min_seconds,
		    "the guest ran %.2f s, less than %.2f s: the command cannot have run until its "
		    "timeout",
		    seconds, f->min_seconds);
}

/* [D3]: the four files, as regular files, at exactly their paths. */
static bool check_files(const struct observation *o, struct verdict *v)
{
	bool all = true;

	for (int i = 0; i < _PIKACI_FILE_MAX; i++) {
		int error = o->exchange->files[i].error;

		if (error == 0)
			continue;
		all = false;
		add(v, "D3", false, "%s %s", pikaci_file_path((enum pikaci_file)i),
		    error == -ENOENT ? "is missing" : "is not a readable regular file");
	}
	if (all)
		add(v, "D3", true, "the four files are at their paths");
	return all;
}

struct documents {
	json_t *status;
	json_t *events;
	json_t *result;
};

static void check_documents(const struct observation *o, struct verdict *v, struct documents *docs)
{
	const struct pikaci_exchange *x = o->exchange;
	struct pikaci_error err;

	if (pikaci_status_parse(x->files[PIKACI_FILE_STATUS].bytes,
	                        x->files[PIKACI_FILE_STATUS].length, &docs->status, &err) < 0)
		add(v, "L2", false, "status.json is invalid: %s (%s)", err.text,
		    pikaci_reason_name(err.reason));
	else
		add(v, "L2", true, "status.json is valid");
	if (pikaci_events_parse(x->files[PIKACI_FILE_EVENTS].bytes,
	                        x->files[PIKACI_FILE_EVENTS].length, &docs->events, &err) < 0)
		add(v, "L3", false, "events.jsonl is invalid: %s", err.text);
	else
		add(v, "L3", true, "events.jsonl is valid, seq 1..%zu, one terminal event",
		    json_array_size(docs->events));
	if (pikaci_result_parse(x->files[PIKACI_FILE_RESULT].bytes,
	                        x->files[PIKACI_FILE_RESULT].length, &docs->result, &err) < 0)
		add(v, "L4", false, "result.json is invalid: %s (%s)", err.text,
		    pikaci_reason_name(err.reason));
	else
		add(v, "L4", true, "result.json is valid");
}

/* [L5] / [L6]: exactly the states of the outcome, in order. */
static void check_sequence(const struct observation *o, struct verdict *v,
                           const struct documents *docs)
{
	bool accepted = o->fixture->outcome == OUTCOME_ACCEPTED;
	const char *clause = accepted ? "L5" : "L6";
	const char *terminal = o->fixture->exit_code == 0 ? "completed" : "failed";
	char seen[256], want[128];
	size_t n = json_array_size(docs->events);
	bool ok;

	snprintf(want, sizeof(want), accepted ? "booted, starting, %s" : "booted, failed",
	         terminal);
	kinds_list(docs->events, seen, sizeof(seen));
	ok = strcmp(seen, want) == 0;
	add(v, clause, ok, "the events are %s%s%s", seen, ok ? "" : "; expected ", ok ? "" : want);
	if (!ok || n < 2)
		return;

	if (accepted) {
		const json_t *details = json_object_get(json_array_get(docs->events, 1), "details");
		const json_t *command = json_object_get(details, "command");
		const json_t *root = json_object_get(details, "run_as_root");
		struct pikaci_request *request = NULL;

		if (pikaci_request_parse(o->fixture->request, o->fixture->request_length, &request,
		                         NULL) == 0) {
			add(v, "L5",
			    json_is_string(command) &&
			            strcmp(json_string_value(command), request->command) == 0 &&
			            json_is_boolean(root) &&
			            json_is_true(root) == request->run_as_root,
			    "the starting event's details carry the request's command and "
			    "run_as_root");
			pikaci_request_free(request);
		}
	} else {
		const char *message = json_string_value(
		        json_object_get(json_array_get(docs->events, 1), "message"));
		const char *status_message =
		        json_string_value(json_object_get(docs->status, "message"));
		size_t prefix = strlen(PIKACI_BOOTSTRAP_FAILED);

		add(v, "L6", message && strncmp(message, PIKACI_BOOTSTRAP_FAILED, prefix) == 0,
		    "the failed event's message begins \"%s\" (it is \"%.60s\")",
		    PIKACI_BOOTSTRAP_FAILED, message ? message : "");
		if (status_message)
			add(v, "L6", strncmp(status_message, PIKACI_BOOTSTRAP_FAILED, prefix) == 0,
			    "status.json's message begins \"%s\" (it is \"%.60s\")",
			    PIKACI_BOOTSTRAP_FAILED, status_message);
	}
}

/* [D4]: status.json, the terminal event, result.json and the exit code tell one story. */
static void check_agreement(const struct observation *o, struct verdict *v,
                            const struct documents *docs)
{
	const json_t *last = json_array_get(docs->events, json_array_size(docs->events) - 1);
	const char *state = json_string_value(json_object_get(docs->status, "state"));
	const char *status = json_string_value(json_object_get(docs->result, "status"));
	json_int_t code = json_integer_value(json_object_get(docs->result, "exit_code"));
	const json_t *event_code = json_object_get(json_object_get(last, "details"), "exit_code");
	const char *clause = o->fixture->outcome == OUTCOME_ACCEPTED ? "L5" : "L6";

	add(v, "L2", state && strcmp(state, kind_of(last)) == 0,
	    "status.json's state \"%s\" is the last event's \"%s\"", state ? state : "",
	    kind_of(last));
	add(v, "D4", status && strcmp(status, kind_of(last)) == 0,
	    "result.json's status \"%s\" matches the terminal event \"%s\"", status ? status : "",
	    kind_of(last));
	add(v, "D4", code == o->exchange->run.exit_code,
	    "result.json's exit_code %lld is the guest's exit code %d", (long long)code,
	    o->exchange->run.exit_code);
	add(v, clause, code == o->fixture->exit_code, "result.json's exit_code %lld, expected %d",
	    (long long)code, o->fixture->exit_code);
	if (o->fixture->outcome == OUTCOME_ACCEPTED)
		add(v, "L5", json_is_integer(event_code) && json_integer_value(event_code) == code,
		    "the terminal event's details.exit_code is result.json's exit code %lld",
		    (long long)code);
	if (o->check_reason && o->fixture->outcome == OUTCOME_REJECTED && o->fixture->reason) {
		const char *reason = json_string_value(
		        json_object_get(json_object_get(docs->result, "details"), "reason"));

		add(v, "L6", reason && strcmp(reason, o->fixture->reason) == 0,
		    "result.json's details.reason is \"%s\", expected \"%s\" (--check-reason)",
		    reason ? reason : "(none)", o->fixture->reason);
	}
}

/* [L1] and [X2]: the boot line, then the output exactly as streamed; a failure line. */
static void check_log(const struct observation *o, struct verdict *v)
{
	const struct pikaci_exchange *x = o->exchange;
	const char *log = x->files[PIKACI_FILE_LOG].bytes;
	size_t length = x->files[PIKACI_FILE_LOG].length;
	const char *newline = memchr(log, '\n', length);
	size_t prefix = strlen(PIKACI_LOG_BOOT_PREFIX);
	char line[128], stamp[64];

	if (!newline || (size_t)(newline - log) < prefix ||
	    strncmp(log, PIKACI_LOG_BOOT_PREFIX, prefix) != 0) {
		excerpt(log, newline ? (size_t)(newline - log) : length, 60, line, sizeof(line));
		add(v, "L1", false, "guest.log does not start with \"%s<timestamp>\": \"%s\"",
		    PIKACI_LOG_BOOT_PREFIX, line);
		return;
	}
	snprintf(stamp, sizeof(stamp), "%.*s", (int)(newline - log - (ptrdiff_t)prefix),
	         log + prefix);
	add(v, "L1", pikaci_timestamp_validate(stamp, NULL) == 0,
	    "guest.log's boot line carries an RFC 3339 timestamp (\"%s\")", stamp);

	if (o->fixture->outcome == OUTCOME_ACCEPTED) {
		const char *rest = newline + 1;
		size_t rest_length = length - (size_t)(rest - log);

		/* What the guest streamed on stdout is what it logged, right after the boot line.
		 */
		bytes_equal("guest.log after the boot line", v, "X2", x->run.out, x->run.out_length,
		            rest,
		            rest_length < x->run.out_length ? rest_length : x->run.out_length);
	} else {
		char needle[128];

		snprintf(needle, sizeof(needle), "\n%s%s", PIKACI_LOG_FAILURE_PREFIX,
		         PIKACI_BOOTSTRAP_FAILED);
		add(v, "L1", memmem(log, length, needle, strlen(needle)) != NULL,
		    "guest.log has a line \"%s%s...\"", PIKACI_LOG_FAILURE_PREFIX,
		    PIKACI_BOOTSTRAP_FAILED);
	}
}

/* [B5]: a rejected request left nothing outside the state folder. */
static void check_side_effects(const struct observation *o, struct verdict *v)
{
	size_t state_length = strlen(PIKACI_STATE_DIR);
	char found[1024] = "";
	size_t count = 0, o_len = 0;

	if (!o->have_changes) {
		not_applicable(v, "B5", "the transport cannot list what the guest changed");
		return;
	}
	for (size_t i = 0; i < o->n_changes; i++) {
		const char *path = o->changes[i].path;
		bool inside = strncmp(path, PIKACI_STATE_DIR, state_length) == 0 &&
		              (path[state_length] == '\0' || path[state_length] == '/') &&
		              strncmp(path, PIKACI_XDG_STATE_HOME, strlen(PIKACI_XDG_STATE_HOME));

		if (inside)
			continue;
		if (count++ < 6) {
			int n = snprintf(found + o_len, sizeof(found) - o_len, "%s%c%s",
			                 o_len ? ", " : "", o->changes[i].kind, path);

			if (n > 0 && (size_t)n < sizeof(found) - o_len)
				o_len += (size_t)n;
		}
	}
	add(v, "B5", count == 0, "%s%zu change(s) outside %s before the request was valid%s%s",
	    count ? "" : "no side effects: ", count, PIKACI_STATE_DIR, count ? ": " : "", found);
}

static void describe_seen(unsigned seen, char *out, size_t size)
{
	snprintf(out, size, "%s%s%s%s", seen & SEEN_CREATE ? " IN_CREATE" : "",
	         seen & SEEN_MODIFY ? " IN_MODIFY" : "",
	         seen & SEEN_CLOSE_WRITE ? " IN_CLOSE_WRITE" : "",
	         seen & SEEN_MOVED_TO ? " IN_MOVED_TO" : "");
	if (!*out)
		snprintf(out, size, " nothing");
}

/* [B4]: both documents only ever appeared by rename. */
static void check_atomic(const struct observation *o, struct verdict *v)
{
	const struct {
		const char *name;
		unsigned seen;
	} docs[] = { { "status.json", o->status_seen }, { "result.json", o->result_seen } };

	if (!o->have_watch) {
		not_applicable(v, "B4", "the transport cannot watch the guest's state folder");
		return;
	}
	if (o->watch_overflow) {
		add(v, "B4", false, "the inotify queue overflowed: atomicity cannot be told");
		return;
	}
	for (size_t i = 0; i < 2; i++) {
		char seen[96];
		bool ok = docs[i].seen == SEEN_MOVED_TO;

		describe_seen(docs[i].seen, seen, sizeof(seen));
		add(v, "B4", ok, "%s %s (seen:%s)", docs[i].name,
		    ok ? "only appeared by rename" : "was not replaced by rename alone", seen);
	}
}

/*
 * [B6]: when the guest exits, nothing of the command's process group is left. A process whose
 * group leader is gone (the command was the leader) and that is not in the guest's own group
 * is a piece of the command's group the guest left running; one that made its own session
 * (setsid) leads its own group and is not covered.
 */
static void check_leftovers(const struct observation *o, struct verdict *v)
{
	const struct pikaci_transport_result *run = &o->exchange->run;
	char seen[256] = "";
	size_t found = 0;

	if (!run->have_leftovers)
		return; /* the transport cannot see the guest's processes, or it never exited */
	for (size_t i = 0; i < run->n_leftovers; i++) {
		const struct pikaci_process *p = &run->leftovers[i];
		bool leader_alive = false;

		for (size_t k = 0; k < run->n_leftovers; k++)
			leader_alive = leader_alive || run->leftovers[k].pid == p->pgid;
		if (leader_alive || p->pgid == run->guest_pid)
			continue;
		if (found++ < 4)
			snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen),
			         "%s%s (pid %d, pgid %d)", found > 1 ? ", " : "", p->comm, p->pid,
			         p->pgid);
	}
	if (found)
		add(v, "B6", false, "%zu process(es) of the command's group outlived the guest: %s",
		    found, seen);
	else
		add(v, "B6", true, "no process of the command's group outlived the guest");
}

void judge(const struct observation *o, struct verdict *v)
{
	const struct fixture *f = o->fixture;
	const struct pikaci_exchange *x = o->exchange;
	struct documents docs = { 0 };

	memset(v, 0, sizeof(*v));
	check_exit(o, v);
	check_bounds(o, v);
	if (f->outcome == OUTCOME_USAGE) {
		add(v, "X5", x->run.err_length > 0, "the guest %s on standard error",
		    x->run.err_length ? "printed a usage line" : "printed nothing");
		return;
	}
	if (f->has_stdout)
		bytes_equal("standard output", v, f->outcome == OUTCOME_ACCEPTED ? "X2" : "X4",
		            f->stdout_bytes, f->stdout_length, x->run.out, x->run.out_length);
	if (f->marker && o->marker >= 0) {
		if (f->outcome == OUTCOME_REJECTED)
			add(v, "L6", o->marker == 0, "the command %s (marker %s %s)",
			    o->marker ? "ran although the request was rejected" : "never ran",
			    f->marker, o->marker ? "exists" : "is absent");
		else
			add(v, "X1", o->marker == 1, "the command %s (marker %s %s)",
			    o->marker ? "ran" : "did not run", f->marker,
			    o->marker ? "exists" : "is absent");
	}
	if (f->side_effects_none)
		check_side_effects(o, v);
	if (f->atomic)
		check_atomic(o, v);
	check_leftovers(o, v);

	if (check_files(o, v)) {
		check_documents(o, v, &docs);
		if (docs.events) {
			check_sequence(o, v, &docs);
			if (docs.status && docs.result)
				check_agreement(o, v, &docs);
		}
		check_log(o, v);
	}
	json_decref(docs.status);
	json_decref(docs.events);
	json_decref(docs.result);
}
