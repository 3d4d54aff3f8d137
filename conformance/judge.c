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

#include "clauses.h"
#include "judge.h"
#include "pikaci-contract.h"
#include "shared.h"

static void add(struct verdict *v, const char *clause, bool ok, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void add(struct verdict *v, const char *clause, bool ok, const char *fmt, ...)
{
	va_list ap;
	char *message = NULL;

	/* A judge that cannot record a finding must not report a pass. */
	if (ARRAY_GROW(v->checks, v->checks_capacity, v->n_checks + 1) < 0)
		abort();
	va_start(ap, fmt);
	if (vasprintf(&message, fmt, ap) < 0)
		abort();
	va_end(ap);
	v->checks[v->n_checks++] = (struct check){ .clause = clause, .ok = ok, .message = message };
	if (!ok)
		v->n_failed++;
}

static void not_applicable(struct verdict *v, const char *clause, const char *why)
{
	size_t n = v->n_not_applicable;

	if (ARRAY_GROW(v->not_applicable, v->not_applicable_capacity, n + 1) < 0 ||
	    asprintf(&v->not_applicable[n], "%s: %s", clause, why) < 0)
		abort();
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

/* --- [X2] / [L1]: the command's output once, whole, among the guest's own lines ------------ */

#define GUEST_LINE_PREFIX "[pikaci] "

/* The end of the whole guest line that starts at `at`, or 0 when none starts there. */
static size_t guest_line_end(const char *bytes, size_t length, size_t at)
{
	size_t prefix = strlen(GUEST_LINE_PREFIX);
	const char *newline;

	if (length - at < prefix || memcmp(bytes + at, GUEST_LINE_PREFIX, prefix) != 0)
		return 0;
	newline = memchr(bytes + at + prefix, '\n', length - at - prefix);
	return newline ? (size_t)(newline - bytes) + 1 : 0;
}

/*
 * What may follow the output from `at` on: zero or more whole guest lines, the first preceded
 * by exactly one '\n' when the output lacks its final newline. *ret_bad is the first byte that
 * is none of that.
 */
static bool tail_ok(const char *bytes, size_t length, size_t at, bool needs_newline,
                    size_t *ret_bad)
{
	if (at == length)
		return true;
	if (needs_newline) {
		if (bytes[at] != '\n' || at + 1 == length) {
			*ret_bad = at;
			return false;
		}
		at++;
	}
	while (at < length) {
		size_t end = guest_line_end(bytes, length, at);

		if (!end) {
			*ret_bad = at;
			return false;
		}
		at = end;
	}
	return true;
}

static size_t common_prefix(const char *a, size_t a_length, const char *b, size_t b_length)
{
	size_t at = 0;

	while (at < a_length && at < b_length && a[at] == b[at])
		at++;
	return at;
}

/*
 * Checks that `got` is zero or more whole "[pikaci] " lines, then `want` exactly once and
 * contiguous, then zero or more such lines (after one '\n' if `want` lacks a final newline),
 * and says what differs when it is not. `base` is the offset of `got` in its file.
 */
static bool output_framed(struct verdict *v, const char *clause, const char *what, size_t base,
                          const char *want, size_t want_length, const char *got, size_t got_length)
{
	bool needs_newline = want_length > 0 && want[want_length - 1] != '\n';
	size_t at = 0, best_at = 0, best = 0, bad = 0, c, end;
	char a[160], b[160];

	for (;;) {
		c = common_prefix(want, want_length, got + at, got_length - at);
		if (c == want_length && tail_ok(got, got_length, at + c, needs_newline, &bad)) {
			add(v, clause, true,
			    "%s holds the command's output once, whole (%zu bytes)%s", what,
			    want_length,
			    got_length > want_length ? ", among the guest's own lines" : "");
			return true;
		}
		if (c >= best) {
			best = c;
			best_at = at;
		}
		end = guest_line_end(got, got_length, at);
		if (!end)
			break;
		at = end;
	}
	at = best_at;
	c = best;
	if (c == want_length) {
		tail_ok(got, got_length, at + c, needs_newline, &bad);
		if (want_length > 0 &&
		    memmem(got + at + c, got_length - at - c, want, want_length) != NULL) {
			add(v, clause, false,
			    "%s: the output appears twice (again after byte %zu): it must appear "
			    "exactly once",
			    what, base + at + c);
			return false;
		}
		text_sanitize_escaped(b, sizeof(b), got + bad, got_length - bad, 40);
		add(v, clause, false,
		    "%s: after the output (which ends at byte %zu) comes \"%s\" at byte %zu; only "
		    "whole lines beginning \"%s\" may follow it%s",
		    what, base + at + c, b, base + bad, GUEST_LINE_PREFIX,
		    needs_newline ? ", after exactly one \\n" : "");
		return false;
	}
	if (at + c == got_length) {
		text_sanitize_escaped(a, sizeof(a), want + c, want_length - c, 40);
		if (c == 0 && got_length == 0)
			add(v, clause, false,
			    "%s: output missing: expected %zu bytes (\"%s\"), got nothing", what,
			    want_length, a);
		else if (c == 0)
			add(v, clause, false,
			    "%s: output missing: expected %zu bytes (\"%s\"), got only %zu bytes "
			    "of "
			    "the guest's own lines",
			    what, want_length, a, got_length);
		else
			add(v, clause, false,
			    "%s: output cut at byte %zu: %zu of its %zu bytes came, \"%s\" is "
			    "missing",
			    what, base + at + c, c, want_length, a);
		return false;
	}
	end = (c == 0 || got[at + c - 1] == '\n') ? at + c : 0;
	if (got[at + c] == '\n' && guest_line_end(got, got_length, at + c + 1))
		end = at + c + 1;
	if (end && guest_line_end(got, got_length, end)) {
		size_t line_end = guest_line_end(got, got_length, end);

		text_sanitize_escaped(b, sizeof(b), got + end, line_end - end - 1, 60);
		add(v, clause, false,
		    "%s: a guest line inside the output at byte %zu (after %zu of the output's %zu "
		    "bytes): \"%s\"",
		    what, base + end, c, want_length, b);
		return false;
	}
	{
		size_t line = 1;

		for (size_t i = 0; i < c; i++)
			line += want[i] == '\n';
		text_sanitize_escaped(a, sizeof(a), want + c, want_length - c, 40);
		text_sanitize_escaped(b, sizeof(b), got + at + c, got_length - at - c, 40);
		add(v, clause, false,
		    "%s differs from byte %zu (byte %zu of the output, line %zu): expected \"%s\", "
		    "got \"%s\"",
		    what, base + at + c, c, line, a, b);
	}
	return false;
}

/*
 * The command's output as the guest streamed it: standard output without its leading and
 * trailing guest lines. Used when the case does not state the output.
 */
static void command_output(const char *out, size_t length, size_t *ret_start, size_t *ret_length)
{
	size_t start = 0, end = length;

	while (start < length && guest_line_end(out, length, start))
		start = guest_line_end(out, length, start);
	while (end > start && out[end - 1] == '\n') {
		const char *previous = memrchr(out + start, '\n', end - 1 - start);
		size_t line = previous ? (size_t)(previous - out) + 1 : start;

		if (guest_line_end(out, end, line) != end)
			break;
		end = line;
	}
	*ret_start = start;
	*ret_length = end - start;
}

/* --- The checks, in causal order ------------------------------------------------------------ */

static const char *exit_clause(const struct fixture *f)
{
	if (f->outcome == OUTCOME_USAGE)
		return "X5";
	if (f->exit_code != PIKACI_EXIT_TIMEOUT)
		return "X4";
	/* [B1]: "exit code still 124" belongs to a robustness case's own clause. */
	return f->profile == PROFILE_ROBUSTNESS && fixture_cites(f, "B1") ? "B1" : "X3";
}

/* A time bound cites the case's own profile: [B1]/[B2] for robustness, [X3] for the contract. */
static const char *bound_clause(const struct fixture *f)
{
	if (f->profile == PROFILE_ROBUSTNESS) {
		for (size_t i = 0; i < f->n_clauses; i++)
			if (f->clauses[i][0] == 'B')
				return f->clauses[i];
	}
	return fixture_cites(f, "X3") ? "X3" : f->clauses[0];
}

static void check_exit(const struct observation *o, struct verdict *v)
{
	const struct pikaci_transport_result *run = &o->exchange->run;
	int want = o->fixture->exit_code;
	const char *clause = exit_clause(o->fixture);

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
	const char *clause = bound_clause(f);
	double seconds = o->exchange->run.seconds, max = f->max_seconds * o->time_scale;

	if (f->max_seconds > 0)
		add(v, clause, seconds <= max, "the guest ran %.2f s; the bound is %.2f s", seconds,
		    max);
	if (f->min_seconds > 0)
		add(v, clause, seconds >= f->min_seconds,
		    "the guest ran %.2f s, less than %.2f s: the command cannot have run until its "
		    "timeout",
		    seconds, f->min_seconds);
}

/* A command cut at its timeout never reaches what it would do after it. */
static void check_cut(const struct observation *o, struct verdict *v)
{
	const struct fixture *f = o->fixture;

	if (f->cut_marker && o->cut_marker >= 0)
		add(v, bound_clause(f), o->cut_marker == 0,
		    o->cut_marker ? "the command ran past its timeout: it created %s, which it "
		                    "does only after the deadline"
		                  : "the command was stopped at its timeout (%s is absent)",
		    f->cut_marker);
}

/* [X1] / [L6]: did the command run? */
static void check_ran(const struct observation *o, struct verdict *v)
{
	const struct fixture *f = o->fixture;

	if (!f->marker || o->marker < 0)
		return;
	if (f->outcome == OUTCOME_REJECTED)
		add(v, "L6", o->marker == 0, "the command %s (marker %s %s)",
		    o->marker ? "ran although the request was rejected" : "never ran", f->marker,
		    o->marker ? "exists" : "is absent");
	else
		add(v, "X1", o->marker == 1, "the command %s (marker %s %s)",
		    o->marker ? "ran" : "did not run", f->marker,
		    o->marker ? "exists" : "is absent");
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
		    error == -ENOENT  ? "is missing"
		    : error == -EFBIG ? "is larger than the runner collects (64 MiB)"
		                      : "is not a readable regular file");
	}
	if (all)
		add(v, "D3", true, "the four files are at their paths");
	return all;
}

/* [L7]: an earlier run's status.json and events.jsonl were replaced, not kept or continued. */
static void check_fresh_documents(const struct observation *o, struct verdict *v)
{
	const struct pikaci_exchange *x = o->exchange;
	const struct preexisting *events = fixture_preexisting(o->fixture, PIKACI_EVENTS_PATH);
	const struct preexisting *status = fixture_preexisting(o->fixture, PIKACI_STATUS_PATH);

	if (events) {
		const char *bytes = x->files[PIKACI_FILE_EVENTS].bytes;
		size_t length = x->files[PIKACI_FILE_EVENTS].length;
		const char *newline = memchr(bytes, '\n', length);
		json_t *first =
		        newline ? json_loadb(bytes, (size_t)(newline - bytes), 0, NULL) : NULL;
		json_t *seq = json_object_get(first, "seq");
		bool kept = events->length > 0 && length >= events->length &&
		            memcmp(bytes, events->bytes, events->length) == 0;

		if (kept)
			add(v, "L7", false,
			    "events.jsonl still begins with the earlier run's %zu bytes: it must "
			    "start "
			    "afresh with this run's events only",
			    events->length);
		else
			add(v, "L7", json_is_integer(seq) && json_integer_value(seq) == 1,
			    "events.jsonl starts afresh at seq 1 (its first seq is %lld)",
			    json_is_integer(seq) ? (long long)json_integer_value(seq) : -1LL);
		json_decref(first);
	}
	if (status) {
		bool kept = x->files[PIKACI_FILE_STATUS].length == status->length &&
		            memcmp(x->files[PIKACI_FILE_STATUS].bytes, status->bytes,
		                   status->length) == 0;

		add(v, "L7", !kept, "status.json %s",
		    kept ? "is still the earlier run's: it must be "
		           "rewritten"
		         : "was rewritten for this run");
	}
}

/* [D3]-[D4], [L2]-[L6]: the library's one judge of the documents, then the case's outcome. */
static void check_story(const struct observation *o, struct verdict *v)
{
	const struct fixture *f = o->fixture;
	const struct pikaci_exchange *x = o->exchange;
	bool accepted = f->outcome == OUTCOME_ACCEPTED;
	struct pikaci_request *request = NULL;
	struct pikaci_documents documents = {
		.status = x->files[PIKACI_FILE_STATUS].bytes,
		.status_length = x->files[PIKACI_FILE_STATUS].length,
		.events = x->files[PIKACI_FILE_EVENTS].bytes,
		.events_length = x->files[PIKACI_FILE_EVENTS].length,
		.result = x->files[PIKACI_FILE_RESULT].bytes,
		.result_length = x->files[PIKACI_FILE_RESULT].length,
		.exit_code = x->run.signal ? -1 : x->run.exit_code,
	};
	struct pikaci_story story;
	struct pikaci_error err;

	if (accepted && pikaci_request_parse(f->request, f->request_length, &request, NULL) == 0)
		documents.request = request;
	if (pikaci_story_parse(&documents, &story, &err) < 0) {
		const struct clause *clause = clause_find(err.clause);

		/* The clause's id from the table: the check outlives err. */
		add(v, clause ? clause->id : "D4", false, "%s", err.text);
		pikaci_request_free(request);
		return;
	}
	pikaci_request_free(request);
	add(v, "L3", true, "status.json, events.jsonl (seq 1..%zu) and result.json are valid",
	    story.n_events);
	if (accepted && story.rejected)
		add(v, "L5", false, "the guest rejected a valid request%s%s%s",
		    story.reason[0] ? " (" : "", story.reason, story.reason[0] ? ")" : "");
	else if (!accepted && !story.rejected)
		add(v, "L6", false,
		    "the guest accepted a request it must reject: its events are booted, starting, "
		    "%s",
		    pikaci_state_name(story.terminal));
	else
		add(v, accepted ? "L5" : "L6", true, "the events are booted, %s%s",
		    accepted ? "starting, " : "", pikaci_state_name(story.terminal));
	add(v, "D4", true, "status.json, the events, result.json and the exit code agree");
	if (o->check_reason && !accepted && f->reason)
		add(v, "L6", strcmp(story.reason, f->reason) == 0,
		    "result.json's details.reason is \"%s\", expected \"%s\" (--check-reason)",
		    story.reason[0] ? story.reason : "(none)", f->reason);
}

/* [X2]: standard output holds the command's output once, whole, among guest lines. */
static void check_stdout(const struct observation *o, struct verdict *v)
{
	const struct fixture *f = o->fixture;

	if (f->has_stdout && f->outcome == OUTCOME_ACCEPTED)
		output_framed(v, "X2", "standard output", 0, f->stdout_bytes, f->stdout_length,
		              o->exchange->run.out, o->exchange->run.out_length);
}

/* [L1], [X2], [L7]: earlier content kept, the boot line, then the output; a failure line. */
static void check_log(const struct observation *o, struct verdict *v)
{
	const struct pikaci_exchange *x = o->exchange;
	const struct fixture *f = o->fixture;
	const struct preexisting *earlier = fixture_preexisting(f, PIKACI_LOG_PATH);
	const char *log = x->files[PIKACI_FILE_LOG].bytes;
	size_t length = x->files[PIKACI_FILE_LOG].length, start = 0;
	size_t prefix = strlen(PIKACI_LOG_BOOT_PREFIX);
	const char *newline;
	char line[128], stamp[64];

	if (earlier) {
		size_t same = common_prefix(earlier->bytes, earlier->length, log, length);

		add(v, "L7", same == earlier->length,
		    same == earlier->length
		            ? "guest.log keeps the earlier run's %zu bytes and appends to them"
		            : "guest.log lost the earlier run's content (it differs from byte %zu "
		              "of it): the log is appended to",
		    same == earlier->length ? earlier->length : same);
		if (same != earlier->length)
			return;
		start = earlier->length;
		/* After earlier content without its final newline a guest MAY add one ([L7]). */
		if (earlier->length > 0 && earlier->bytes[earlier->length - 1] != '\n' &&
		    start < length && log[start] == '\n')
			start++;
	}
	newline = memchr(log + start, '\n', length - start);
	if (!newline || (size_t)(newline - log) - start < prefix ||
	    strncmp(log + start, PIKACI_LOG_BOOT_PREFIX, prefix) != 0) {
		text_sanitize_escaped(line, sizeof(line), log + start,
		                      newline ? (size_t)(newline - log) - start : length - start,
		                      60);
		add(v, "L1", false, "guest.log%s does not begin with \"%s<timestamp>\": \"%s\"",
		    earlier ? " (this run's part)" : "", PIKACI_LOG_BOOT_PREFIX, line);
		return;
	}
	snprintf(stamp, sizeof(stamp), "%.*s", (int)((size_t)(newline - log) - start - prefix),
	         log + start + prefix);
	add(v, "L1", pikaci_timestamp_validate(stamp, NULL) == 0,
	    "guest.log's boot line carries an RFC 3339 timestamp (\"%s\")", stamp);

	if (f->outcome == OUTCOME_ACCEPTED) {
		size_t rest = (size_t)(newline - log) + 1, out_start = 0, out_length;

		/* The command's output: the case's, else what the guest streamed around its lines.
		 */
		if (f->has_stdout) {
			output_framed(v, "X2", "guest.log after the boot line", rest,
			              f->stdout_bytes, f->stdout_length, log + rest, length - rest);
		} else {
			command_output(x->run.out, x->run.out_length, &out_start, &out_length);
			output_framed(v, "X2", "guest.log after the boot line", rest,
			              x->run.out + out_start, out_length, log + rest,
			              length - rest);
		}
	} else {
		char needle[128];

		snprintf(needle, sizeof(needle), "\n%s%s", PIKACI_LOG_FAILURE_PREFIX,
		         PIKACI_BOOTSTRAP_FAILED);
		add(v, "L1",
		    memmem(newline, length - (size_t)(newline - log), needle, strlen(needle)) !=
		            NULL,
		    "guest.log has a line \"%s%s...\"", PIKACI_LOG_FAILURE_PREFIX,
		    PIKACI_BOOTSTRAP_FAILED);
	}
}

/* [X2]: output is streamed as it comes; the case's first line must not wait for the exit. */
static void check_streamed(const struct observation *o, struct verdict *v)
{
	const struct fixture *f = o->fixture;
	const struct pikaci_transport_result *run = &o->exchange->run;
	const char *newline = memchr(f->stdout_bytes, '\n', f->stdout_length);
	size_t first = newline ? (size_t)(newline - f->stdout_bytes) + 1 : f->stdout_length;
	const char *found = memmem(run->out, run->out_length, f->stdout_bytes, first);
	size_t need;

	if (!o->have_arrivals) {
		not_applicable(v, "X2", "the transport does not stream the guest's output");
		return;
	}
	if (!found)
		return; /* the output check says what is missing */
	need = (size_t)(found - run->out) + first;
	for (size_t i = 0; i < o->n_arrivals; i++) {
		double gap = o->ended - o->arrivals[i].seconds;

		if (o->arrivals[i].end < need)
			continue;
		add(v, "X2", gap >= f->streamed,
		    "the output's first line arrived %.2f s before the guest ended (due: at least "
		    "%.2f s; output is streamed as it comes, not held until exit)",
		    gap, f->streamed);
		return;
	}
}

/* [L5]/[L6] order and [L7]: the documents were written in the contract's order. */
static void check_order(const struct observation *o, struct verdict *v)
{
	const struct fixture *f = o->fixture;
	const char *clause = f->outcome == OUTCOME_ACCEPTED ? "L5" : "L6";

	if (!o->have_watch) {
		not_applicable(v, clause, "the order of writes: the transport cannot watch");
		return;
	}
	if (o->watch_overflow)
		return; /* nothing can be told; [B4] says so where it is asked */
	if (fixture_preexisting(f, PIKACI_RESULT_PATH))
		add(v, "L7", o->result_removed && o->result_removed < o->events_first_write,
		    o->result_removed && o->result_removed < o->events_first_write
		            ? "the earlier run's result.json was removed before this run's first "
		              "event"
		            : "the earlier run's result.json was still there when this run's first "
		              "event was written: a stale result must be removed first");
	if (!o->result_appeared)
		return;
	if (o->result_appeared < o->events_last_write)
		add(v, clause, false,
		    "result.json appeared before the last write to events.jsonl: it is written "
		    "after the terminal event");
	else if (o->result_appeared < o->status_last_write)
		add(v, clause, false,
		    "result.json appeared before status.json's last write: it is written after "
		    "the terminal status");
	else
		add(v, clause, true,
		    "result.json appeared after the terminal status and the last event");
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

/*
 * The checks run in causal order, so that the first failure, the headline, names the cause: did
 * the command run, are the files there, are the documents valid, do the states agree, then the
 * exit code and time bounds, then the output, then what the case asks besides.
 */
void judge(const struct observation *o, struct verdict *v)
{
	const struct fixture *f = o->fixture;
	const struct pikaci_exchange *x = o->exchange;
	bool files;

	memset(v, 0, sizeof(*v));
	if (f->outcome == OUTCOME_USAGE) {
		check_exit(o, v);
		add(v, "X5", x->run.err_length > 0, "the guest %s on standard error",
		    x->run.err_length ? "printed a usage line" : "printed nothing");
		return;
	}
	check_ran(o, v);
	files = check_files(o, v);
	if (files) {
		check_fresh_documents(o, v);
		check_story(o, v);
	}
	check_cut(o, v);
	check_exit(o, v);
	check_bounds(o, v);
	check_stdout(o, v);
	if (files)
		check_log(o, v);
	if (f->streamed > 0)
		check_streamed(o, v);
	check_order(o, v);
	if (f->side_effects_none)
		check_side_effects(o, v);
	if (f->atomic)
		check_atomic(o, v);
	check_leftovers(o, v);
}
