/* SPDX-License-Identifier: MIT */
/*
 * story.c - whether status.json, events.jsonl, result.json and the guest's exit code tell one
 * story ([D4], [L5], [L6]). The conformance runner and the host both decide with it, so they
 * cannot judge the same documents differently.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "contract-private.h"

/* Runs of equal kinds, enough to name what a stream holds: "starting x550000, completed". */
#define STORY_RUNS 6

struct events_seen {
	const struct pikaci_request *request;
	size_t n;
	struct {
		enum pikaci_state kind;
		size_t count;
	} runs[STORY_RUNS];
	size_t n_runs;
	bool runs_cut;
	enum pikaci_state kinds[3]; /* the first three */
	/* The second event's details, checked only when the stream has the accepted shape. */
	bool starting_has_command, starting_has_root, starting_matches;
	/* The last event. */
	enum pikaci_state last;
	bool last_has_exit_code;
	long long last_exit_code;
	bool last_message_bootstrap;
};

static void fail(struct pikaci_error *err, const char *clause, enum pikaci_reason reason,
                 const char *member, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void fail(struct pikaci_error *err, const char *clause, enum pikaci_reason reason,
                 const char *member, const char *fmt, ...)
{
	char text[PIKACI_ERROR_TEXT_LENGTH];
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	pikaci_error_set(err, reason, member, -1, "%s", text);
	snprintf(err->clause, sizeof(err->clause), "%s", clause);
}

/* Keeps the error a parser gave and names its clause. */
static void blame(struct pikaci_error *err, const char *clause)
{
	if (err)
		snprintf(err->clause, sizeof(err->clause), "%s", clause);
}

static bool begins_bootstrap_failed(const char *message)
{
	return message &&
	       strncmp(message, PIKACI_BOOTSTRAP_FAILED, strlen(PIKACI_BOOTSTRAP_FAILED)) == 0;
}

static int event_seen(void *userdata, size_t index, const json_t *event, struct pikaci_error *err)
{
	struct events_seen *seen = userdata;
	const json_t *details = json_object_get(event, "details");
	enum pikaci_state kind;

	(void)err;
	pikaci_state_parse(json_string_value(json_object_get(event, "kind")), &kind);
	seen->n = index + 1;
	if (index < 3)
		seen->kinds[index] = kind;
	if (seen->n_runs > 0 && seen->runs[seen->n_runs - 1].kind == kind)
		seen->runs[seen->n_runs - 1].count++;
	else if (seen->n_runs < STORY_RUNS)
		seen->runs[seen->n_runs++] = (typeof(seen->runs[0])){ kind, 1 };
	else
		seen->runs_cut = true;
	if (index == 1) {
		const json_t *command = json_object_get(details, "command");
		const json_t *root = json_object_get(details, "run_as_root");

		seen->starting_has_command = json_is_string(command);
		seen->starting_has_root = json_is_boolean(root);
		seen->starting_matches =
		        !seen->request ||
		        (json_is_string(command) && json_is_boolean(root) &&
		         strcmp(json_string_value(command), seen->request->command) == 0 &&
		         json_is_true(root) == seen->request->run_as_root);
	}
	seen->last = kind;
	seen->last_has_exit_code = json_is_integer(json_object_get(details, "exit_code"));
	seen->last_exit_code = json_integer_value(json_object_get(details, "exit_code"));
	seen->last_message_bootstrap =
	        begins_bootstrap_failed(json_string_value(json_object_get(event, "message")));
	return 0;
}

static void runs_text(const struct events_seen *seen, char *out, size_t size)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < seen->n_runs && o < size; i++) {
		int n = seen->runs[i].count > 1
		                ? snprintf(out + o, size - o, "%s%s x%zu", i ? ", " : "",
		                           pikaci_state_name(seen->runs[i].kind),
		                           seen->runs[i].count)
		                : snprintf(out + o, size - o, "%s%s", i ? ", " : "",
		                           pikaci_state_name(seen->runs[i].kind));

		if (n < 0)
			return;
		o += (size_t)n;
	}
	if (seen->runs_cut && o < size)
		snprintf(out + o, size - o, ", ...");
}

static int documents_check(const struct pikaci_documents *d, json_t *status, json_t *result,
                           struct events_seen *seen, struct pikaci_error *err)
{
	const char *state = json_string_value(json_object_get(status, "state"));
	const char *result_status = json_string_value(json_object_get(result, "status"));
	long long code = json_integer_value(json_object_get(result, "exit_code"));
	const char *last = pikaci_state_name(seen->last);
	bool accepted = seen->n == 3 && seen->kinds[0] == PIKACI_STATE_BOOTED &&
	                seen->kinds[1] == PIKACI_STATE_STARTING;
	bool rejected = seen->n == 2 && seen->kinds[0] == PIKACI_STATE_BOOTED &&
	                seen->kinds[1] == PIKACI_STATE_FAILED;
	char kinds[160];

	if (!accepted && !rejected) {
		runs_text(seen, kinds, sizeof(kinds));
		fail(err, "L5", PIKACI_REASON_INCONSISTENT, "kind",
		     "the events are %s; a run's are booted, starting, then completed or failed "
		     "([L5]), or booted, failed for a rejected request ([L6])",
		     kinds);
		return -EINVAL;
	}
	if (accepted) {
		if (!seen->starting_has_command || !seen->starting_has_root) {
			fail(err, "L5", PIKACI_REASON_INCONSISTENT, "details",
			     "the starting event's details lack %s",
			     !seen->starting_has_command ? "the command (a string)"
			                                 : "run_as_root (a boolean)");
			return -EINVAL;
		}
		if (!seen->starting_matches) {
			fail(err, "L5", PIKACI_REASON_INCONSISTENT, "details",
			     "the starting event's details carry another command or run_as_root "
			     "than "
			     "the request's");
			return -EINVAL;
		}
		if (!seen->last_has_exit_code) {
			fail(err, "L5", PIKACI_REASON_INCONSISTENT, "details",
			     "the terminal event \"%s\" has no details.exit_code", last);
			return -EINVAL;
		}
		if (seen->last_exit_code != code) {
			fail(err, "L5", PIKACI_REASON_INCONSISTENT, "details",
			     "the terminal event's details.exit_code %lld is not result.json's "
			     "exit_code %lld",
			     seen->last_exit_code, code);
			return -EINVAL;
		}
	} else {
		if (!seen->last_message_bootstrap) {
			fail(err, "L6", PIKACI_REASON_INCONSISTENT, "message",
			     "the failed event's message does not begin \"%s\"",
			     PIKACI_BOOTSTRAP_FAILED);
			return -EINVAL;
		}
		if (!begins_bootstrap_failed(
		            json_string_value(json_object_get(status, "message")))) {
			fail(err, "L6", PIKACI_REASON_INCONSISTENT, "message",
			     "status.json's message does not begin \"%s\"",
			     PIKACI_BOOTSTRAP_FAILED);
			return -EINVAL;
		}
		if (code != PIKACI_EXIT_REJECTED) {
			fail(err, "L6", PIKACI_REASON_INCONSISTENT, "exit_code",
			     "a rejected request's result.json has exit_code %d, not %lld",
			     PIKACI_EXIT_REJECTED, code);
			return -EINVAL;
		}
	}
	if (strcmp(state, last) != 0) {
		fail(err, "D4", PIKACI_REASON_INCONSISTENT, "state",
		     "status.json's state \"%s\" is not the last event's \"%s\"", state, last);
		return -EINVAL;
	}
	if (strcmp(result_status, last) != 0) {
		fail(err, "D4", PIKACI_REASON_INCONSISTENT, "status",
		     "result.json's status \"%s\" is not the terminal event's \"%s\"",
		     result_status, last);
		return -EINVAL;
	}
	if (code != d->exit_code) {
		if (d->exit_code < 0)
			fail(err, "D4", PIKACI_REASON_INCONSISTENT, "exit_code",
			     "result.json says exit code %lld but the guest did not exit by itself",
			     code);
		else
			fail(err, "D4", PIKACI_REASON_INCONSISTENT, "exit_code",
			     "result.json says exit code %lld but the guest exited %d", code,
			     d->exit_code);
		return -EINVAL;
	}
	return 0;
}

PIKACI_EXPORT int pikaci_story_parse(const struct pikaci_documents *d,
                                     struct pikaci_story *ret_story, struct pikaci_error *err)
{
	struct events_seen seen = { .request = d->request };
	json_t *status = NULL, *result = NULL;
	const char *reason;
	int r = -EINVAL;

	if (!d->status || !d->events || !d->result) {
		fail(err, "D3", PIKACI_REASON_UNREADABLE, NULL, "%s is missing",
		     !d->status   ? PIKACI_STATUS_PATH
		     : !d->events ? PIKACI_EVENTS_PATH
		                  : PIKACI_RESULT_PATH);
		return -EINVAL;
	}
	if (d->status_length > PIKACI_LIFECYCLE_MAX_BYTES ||
	    d->result_length > PIKACI_LIFECYCLE_MAX_BYTES) {
		fail(err, d->status_length > PIKACI_LIFECYCLE_MAX_BYTES ? "L2" : "L4",
		     PIKACI_REASON_TOO_LARGE, NULL, "%s is over %u bytes",
		     d->status_length > PIKACI_LIFECYCLE_MAX_BYTES ? "status.json" : "result.json",
		     PIKACI_LIFECYCLE_MAX_BYTES);
		return -EINVAL;
	}
	r = pikaci_status_parse(d->status, d->status_length, &status, err);
	if (r < 0) {
		blame(err, "L2");
		goto out;
	}
	r = pikaci_events_foreach(d->events, d->events_length, event_seen, &seen, NULL, err);
	if (r < 0) {
		blame(err, "L3");
		goto out;
	}
	r = pikaci_result_parse(d->result, d->result_length, &result, err);
	if (r < 0) {
		blame(err, "L4");
		goto out;
	}
	r = documents_check(d, status, result, &seen, err);
	if (r < 0)
		goto out;
	if (ret_story) {
		*ret_story = (struct pikaci_story){
			.rejected = seen.n == 2,
			.terminal = seen.last,
			.exit_code = (int)json_integer_value(json_object_get(result, "exit_code")),
			.n_events = seen.n,
		};
		reason = json_string_value(
		        json_object_get(json_object_get(result, "details"), "reason"));
		snprintf(ret_story->reason, sizeof(ret_story->reason), "%s", reason ? reason : "");
	}
out:
	json_decref(status);
	json_decref(result);
	return r;
}
