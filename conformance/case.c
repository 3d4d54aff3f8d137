/* SPDX-License-Identifier: MIT */
/*
 * case.c - one case, in a worker process: lay down the earlier run's files, watch the state
 * folder, run the guest through pikaci_exchange() (timing its output), observe what it left
 * and judge it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "pikaci-contract.h"
#include "runner.h"
#include "sandbox.h"
#include "shared.h"

struct pikaci_transport *transport_new(const struct options *opt, char *errbuf, size_t size,
                                       int *ret_error)
{
	struct pikaci_transport *t = NULL;

	if (opt->incus.image)
		*ret_error = pikaci_transport_incus_new(&opt->incus, &t, errbuf, size);
	else {
		/* PIKACI_SANDBOX_BIND: host folders bound read-write (the coverage lane's). */
		char **binds = NULL;

		*ret_error = pikaci_sandbox_binds_split(getenv("PIKACI_SANDBOX_BIND"), &binds);
		if (*ret_error == 0)
			*ret_error = pikaci_transport_local_new(binds, &t, errbuf, size);
		else
			snprintf(errbuf, size, "out of memory");
		pikaci_sandbox_binds_free(binds);
	}
	return *ret_error < 0 ? NULL : t;
}

/* --- Watching the state folder ------------------------------------------------------------ */

/* The events the state folder is watched for: [B4], [L5]'s order of writes and [L7]. */
#define WATCH_EVENTS \
	(IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM)

/* Records one event, the number-th, on a file of the state folder. */
static void watch_event(const struct inotify_event *event, unsigned long number,
                        struct observation *o)
{
	const char *name = event->len ? event->name : "";
	bool written = event->mask & (IN_CREATE | IN_MODIFY | IN_MOVED_TO);
	unsigned bits = 0;

	if (event->mask & IN_Q_OVERFLOW)
		o->watch_overflow = true;
	bits |= event->mask & IN_CREATE ? SEEN_CREATE : 0;
	bits |= event->mask & IN_MODIFY ? SEEN_MODIFY : 0;
	bits |= event->mask & IN_CLOSE_WRITE ? SEEN_CLOSE_WRITE : 0;
	bits |= event->mask & IN_MOVED_TO ? SEEN_MOVED_TO : 0;
	if (strcmp(name, "status.json") == 0) {
		o->status_seen |= bits;
		if (written)
			o->status_last_write = number;
	}
	if (strcmp(name, "result.json") == 0) {
		o->result_seen |= bits;
		if (event->mask & (IN_CREATE | IN_MOVED_TO) && !o->result_appeared)
			o->result_appeared = number;
		if (event->mask & (IN_DELETE | IN_MOVED_FROM) && !o->result_removed)
			o->result_removed = number;
	}
	/* A descriptor closed at exit is no write: IN_CLOSE_WRITE does not count. */
	if (strcmp(name, "events.jsonl") == 0 && written) {
		if (!o->events_first_write)
			o->events_first_write = number;
		o->events_last_write = number;
	}
}

static void read_watch(int fd, struct observation *o)
{
	char buffer[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	unsigned long number = 0;
	ssize_t n;

	while ((n = read(fd, buffer, sizeof(buffer))) > 0) {
		for (char *p = buffer; p < buffer + n;) {
			struct inotify_event *event = (struct inotify_event *)p;

			watch_event(event, ++number, o);
			p += sizeof(*event) + event->len;
		}
	}
}

/*
 * The watch on the state folder, from before the guest starts (after the earlier run's files
 * are down): -1 when the transport cannot watch or the case never reaches a run.
 */
static int watch_start(struct pikaci_transport *t, const struct fixture *f)
{
	if (f->outcome == OUTCOME_USAGE || !t->ops->watch ||
	    t->ops->make_dir(t, PIKACI_STATE_DIR) != 0)
		return -1;
	return t->ops->watch(t, PIKACI_STATE_DIR, WATCH_EVENTS);
}

/* --- Arrivals and the earlier run ---------------------------------------------------------- */

/* [X2] streaming: when each piece of standard output arrived. */
struct arrivals {
	double start;
	size_t out_length;
	struct arrival *items;
	size_t n_items, capacity;
};

static void output_arrived(void *userdata, int stream, const char *bytes, size_t length)
{
	struct arrivals *a = userdata;

	(void)bytes;
	if (stream != 1)
		return;
	a->out_length += length;
	if (ARRAY_GROW(a->items, a->capacity, a->n_items + 1) < 0)
		return; /* the check then says it cannot tell */
	a->items[a->n_items++] =
	        (struct arrival){ .end = a->out_length, .seconds = monotonic_seconds() - a->start };
}

/* [L7]: an earlier run's files, laid down before the guest starts. */
static int lay_down(struct pikaci_transport *t, const struct fixture *f)
{
	for (size_t i = 0; i < f->n_preexisting; i++) {
		int r = t->ops->deliver(t, f->preexisting[i].path, f->preexisting[i].bytes,
		                        f->preexisting[i].length);

		if (r < 0)
			return r;
	}
	return 0;
}

/* --- The case ------------------------------------------------------------------------------ */

/* Everything one case holds while it runs; case_clear() frees it. */
struct case_state {
	const struct options *opt;
	const struct fixture *f;
	struct pikaci_transport *t;
	struct observation o;
	struct pikaci_exchange exchange;
	struct arrivals arrivals;
	struct pikaci_change *changes;
	struct verdict verdict;
	double deadline;
	int watch;
};

static json_t *error_detail(const char *message)
{
	return json_pack("{s:s, s:s, s:f}", "status", "error", "message", message, "seconds", 0.0);
}

/* Runs the guest with the watch and arrivals in place: 0, or the transport's error. */
static int case_exchange(struct case_state *c)
{
	int r;

	c->watch = watch_start(c->t, c->f);
	c->o.have_watch = c->watch >= 0;
	c->arrivals.start = monotonic_seconds();
	r = pikaci_exchange(c->t, c->f->deliver, c->f->request, c->f->request_length,
	                    c->opt->guest_argv, c->deadline, output_arrived, &c->arrivals,
	                    &c->exchange);
	c->o.ended = monotonic_seconds() - c->arrivals.start;
	/* Incus records a guest's output and hands it over at the end: no arrival times there. */
	if (strcmp(c->t->ops->name, "local") == 0) {
		c->o.have_arrivals = true;
		c->o.arrivals = c->arrivals.items;
		c->o.n_arrivals = c->arrivals.n_items;
	}
	return r;
}

/* What the run left besides its files: the watch's events, the changes, the markers. */
static void case_observe(struct case_state *c)
{
	struct pikaci_transport *t = c->t;

	c->o.exchange = &c->exchange;
	if (c->watch >= 0)
		read_watch(c->watch, &c->o);
	if (t->ops->changes && t->ops->changes(t, &c->changes, &c->o.n_changes) == 0) {
		c->o.have_changes = true;
		c->o.changes = c->changes;
	}
	if (c->f->marker)
		c->o.marker = t->ops->exists(t, c->f->marker);
	if (c->f->cut_marker)
		c->o.cut_marker = t->ops->exists(t, c->f->cut_marker);
}

static json_t *checks_json(const struct verdict *v)
{
	json_t *checks = json_array();

	for (size_t i = 0; i < v->n_checks; i++) {
		/* A message quoting the guest may be cut inside a character: made valid here. */
		char *message = text_sanitize_dup(v->checks[i].message,
		                                  strlen(v->checks[i].message), CHECK_MESSAGE_MAX);

		json_array_append_new(checks, json_pack("{s:s, s:b, s:s}", "clause",
		                                        v->checks[i].clause, "ok", v->checks[i].ok,
		                                        "message", message ? message : ""));
		free(message);
	}
	return checks;
}

/*
 * What the guest wrote, for a report to show beside a case that did not pass: each stream made
 * valid UTF-8 and cut to OUTPUT_EXCERPT_MAX bytes ("output_cut" / "stderr_cut" say so).
 */
static void output_excerpts(json_t *detail, const struct pikaci_transport_result *run)
{
	const struct {
		const char *key, *cut_key, *bytes;
		size_t length;
	} streams[] = { { "output", "output_cut", run->out, run->out_length },
		        { "stderr", "stderr_cut", run->err, run->err_length } };
	char *text = malloc(OUTPUT_EXCERPT_MAX + 1);

	for (size_t i = 0; text && i < ELEMENTSOF(streams); i++) {
		bool cut = false;

		if (!streams[i].bytes || !streams[i].length)
			continue;
		text_sanitize(text, OUTPUT_EXCERPT_MAX + 1, streams[i].bytes, streams[i].length,
		              &cut);
		json_object_set_new(detail, streams[i].key, json_string(text));
		if (cut)
			json_object_set_new(detail, streams[i].cut_key, json_true());
	}
	free(text);
}

/* The judged case as JSON (status pass, fail or timeout); a case that failed is kept. */
static json_t *case_verdict(struct case_state *c)
{
	const char *status, *clause = "", *message;
	char text[640];
	json_t *detail;

	if (c->exchange.run.timed_out) {
		status = "timeout";
		clause = "D5";
		snprintf(text, sizeof(text),
		         "the guest was still running after %.1f s (the per-case timeout) and was "
		         "killed",
		         c->deadline);
		message = text;
	} else {
		judge(&c->o, &c->verdict);
		message = verdict_first_failure(&c->verdict, &clause);
		status = message ? "fail" : "pass";
		if (message) {
			snprintf(text, sizeof(text), "[%s] %s", clause, message);
			text_sanitize_in_place(text, sizeof(text));
			message = text;
		} else {
			message = "";
			clause = "";
		}
	}
	detail = json_pack("{s:s, s:s, s:s, s:f, s:i, s:o}", "status", status, "message", message,
	                   "clause", clause, "seconds", c->exchange.run.seconds, "exit_code",
	                   c->exchange.run.exit_code, "checks", checks_json(&c->verdict));
	if (detail && c->verdict.n_not_applicable) {
		json_t *na = json_array();

		for (size_t i = 0; i < c->verdict.n_not_applicable; i++)
			json_array_append_new(na, json_string(c->verdict.not_applicable[i]));
		json_object_set_new(detail, "not_applicable", na);
	}
	if (detail && strcmp(status, "pass") != 0)
		output_excerpts(detail, &c->exchange.run);
	if (c->opt->keep && strcmp(status, "pass") != 0)
		bundle_keep(c->opt, c->f, &c->exchange, &c->verdict, &c->o, status);
	return detail;
}

static void case_clear(struct case_state *c)
{
	if (c->watch >= 0)
		close(c->watch);
	pikaci_changes_free(c->changes, c->o.n_changes);
	free(c->arrivals.items);
	verdict_clear(&c->verdict);
	pikaci_exchange_clear(&c->exchange);
	pikaci_transport_free(c->t);
}

json_t *case_run(const struct options *opt, const struct fixture *f)
{
	struct case_state c = {
		.opt = opt,
		.f = f,
		.o = { .fixture = f,
		       .marker = -1,
		       .cut_marker = -1,
		       .check_reason = opt->check_reason,
		       .time_scale = opt->time_scale },
		.deadline = (f->case_timeout > 0 ? f->case_timeout : opt->case_timeout) *
		            opt->time_scale,
		.watch = -1,
	};
	char errbuf[512];
	json_t *detail;
	int r;

	c.t = transport_new(opt, errbuf, sizeof(errbuf), &r);
	if (!c.t)
		return error_detail(errbuf);
	if (lay_down(c.t, f) < 0 || case_exchange(&c) < 0)
		detail = error_detail(pikaci_transport_error(c.t));
	else {
		case_observe(&c);
		detail = case_verdict(&c);
	}
	case_clear(&c);
	return detail;
}
