/* SPDX-License-Identifier: MIT */
/*
 * pikaci-conform - replays the fixture corpus against any guest and judges it clause by clause.
 *
 *   pikaci-conform [options] -- GUEST [ARG...]
 *
 * Each case runs in a fresh sandbox: acting as the host, the runner delivers the request, runs
 * the guest with the request path appended (as a host does, [D2]), brings the four files back
 * (all through pikaci_exchange(), the same path pikaci-host uses) and only judges.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clauses.h"
#include "corpus-path.h"
#include "expect.h"
#include "fixture.h"
#include "judge.h"
#include "pikaci-contract.h"
#include "report.h"
#include "shared.h"
#include "sandbox.h"
#include "transport.h"

#define EXIT_ALL_AS_EXPECTED 0
#define EXIT_SOME_FAILED     1
#define EXIT_USAGE           2
#define EXIT_REPORT_FAILED   4 /* the report could not be written whole */
#define EXIT_CANNOT_SANDBOX  77

/* The longest check message sent from a worker or kept (a check quotes at most a few lines). */
#define CHECK_MESSAGE_MAX 4096
#define EXIT_HARNESS      99

struct options {
	const char *fixtures;
	long jobs;
	char **filters;
	size_t n_filters;
	bool profiles[_PROFILE_MAX];
	bool list;
	bool lint;
	bool coverage;
	double case_timeout;
	double time_scale;
	enum report_format format;
	const char *output;
	const char *expect;
	const char *keep;
	bool check_reason;
	struct pikaci_incus_options incus; /* with --incus-image: Incus instead of a sandbox */
	char **guest_argv;                 /* wrapper words, then the guest command line */
	char *guest_text;                  /* the guest command line as typed, for reports */
};

/* clang-format off */
static const char usage_text[] =
	"usage: pikaci-conform [OPTION...] -- GUEST [ARG...]\n"
	"       pikaci-conform [OPTION...] --incus-image ALIAS [--socket PATH | --url URL\n"
	"                      --cert FILE --key FILE [--ca FILE]] [-- GUEST [ARG...]]\n"
	"       pikaci-conform --lint | --list | --coverage-report [--fixtures DIR]\n"
	"\n"
	"Replays the fixture corpus against GUEST, a guest command line to which the runner\n"
	"appends the request path as a host does, each case in a fresh sandbox, and reports\n"
	"a verdict per case with the contract clauses it proves.\n"
	"\n"
	"  --fixtures DIR      the corpus (default: %s)\n"
	"  --profile NAME      contract, robustness or all (default: all, each reported)\n"
	"  --filter PATTERN    only cases whose id matches the glob, or that cite the clause,\n"
	"                      carry the tag or belong to the profile; repeatable (any matches)\n"
	"  -j, --jobs N        cases run in parallel (default: the number of CPUs); cases that\n"
	"                      wait out a timeout (exit 124) run beside them, using no CPU\n"
	"  --case-timeout S    seconds before a guest still running is killed: TIMEOUT (30;\n"
	"                      at most 86400)\n"
	"  --time-scale F      stretch time bounds and timeouts (slow wrappers such as valgrind;\n"
	"                      at most 100)\n"
	"  --format FORMAT     text, tap, junit or json (default: text)\n"
	"  --output FILE       write the report to FILE; progress still goes to stdout\n"
	"  --expect FILE       lines \"CASE fail|skip|pass REASON\" (CASE may be a glob; the last\n"
	"                      matching line wins): known failures and skips. A listed failure\n"
	"                      that passes is an unexpected pass (xpass) and fails the run;\n"
	"                      a regular file of at most 1 MiB\n"
	"  --keep DIR          a repro bundle per failing case: request, expectation, the\n"
	"                      guest's files and output, verdict.txt and replay.sh\n"
	"  --incus-image ALIAS validate a guest image: each case in a fresh container from ALIAS,\n"
	"                      the guest run at its contract path (or GUEST, inside the image)\n"
	"  --socket PATH       Incus's unix socket (default /var/lib/incus/unix.socket)\n"
	"  --url URL           or a remote Incus over HTTPS, with --cert, --key and --ca\n"
	"  --project NAME      the Incus project\n"
	"  --check-reason      also require result.json's details.reason to be the contract\n"
	"                      library's reason code (the reference guest reports one)\n"
	"  --list              list the selected cases and exit\n"
	"  --lint              check the corpus itself and exit\n"
	"  --coverage-report   every clause of the contract with the cases that cover it\n"
	"  -h, --help          this text\n"
	"  --version           the version\n"
	"\n"
	"Environment: PIKACI_GUEST_WRAPPER (words put before GUEST, e.g. valgrind),\n"
	"PIKACI_TIME_SCALE, PIKACI_FIXTURES, PIKACI_SANDBOX_BIND (colon-separated host folders\n"
	"bound read-write into every sandbox, e.g. a coverage build).\n"
	"\n"
	"Exit status: 0 every case as expected; 1 some case failed (fail, timeout or xpass);\n"
	"2 usage error; 4 the report could not be written (e.g. a full disk); 77 cannot\n"
	"sandbox here (needs root and overlayfs); 99 harness failure.\n";
/* clang-format on */

static void usage(FILE *out)
{
	fprintf(out, usage_text, corpus_default_path());
}

/* --- Small helpers ------------------------------------------------------------------------ */

/* A fixture's file copied into a repro bundle: mode 0644, from its bytes. */
static int copy_file(const char *from, const char *to)
{
	char *bytes = NULL;
	size_t length = 0;
	int r = read_file(from, FIXTURE_FILE_MAX, &bytes, &length);

	if (r == 0)
		r = write_file(to, bytes, length, 0644);
	free(bytes);
	return r;
}

/*
 * One line of verdict.txt from text the guest controls (a message quoting it, a path it
 * created): valid UTF-8, control characters as '?', so no file name can forge a line.
 */
static void line_put(FILE *out, const char *text)
{
	char *clean = text_sanitize_dup(text, strlen(text), CHECK_MESSAGE_MAX);

	for (const char *p = clean ? clean : ""; *p; p++)
		fputc((unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p, out);
	fputc('\n', out);
	free(clean);
}

/* Shell-quotes one word for replay.sh. */
static void shell_quote(FILE *out, const char *word)
{
	fputc('\'', out);
	for (; *word; word++) {
		if (*word == '\'')
			fputs("'\\''", out);
		else
			fputc(*word, out);
	}
	fputc('\'', out);
}

/* --- One case, in a worker process -------------------------------------------------------- */

static void read_watch(int fd, struct observation *o)
{
	char buffer[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	unsigned long number = 0;
	ssize_t n;

	while ((n = read(fd, buffer, sizeof(buffer))) > 0) {
		for (char *p = buffer; p < buffer + n;) {
			struct inotify_event *event = (struct inotify_event *)p;
			const char *name = event->len ? event->name : "";
			bool written = event->mask & (IN_CREATE | IN_MODIFY | IN_MOVED_TO);
			unsigned bits = 0;

			number++;
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
			/* A descriptor closed at exit is no write: IN_CLOSE_WRITE does not count.
			 */
			if (strcmp(name, "events.jsonl") == 0 && written) {
				if (!o->events_first_write)
					o->events_first_write = number;
				o->events_last_write = number;
			}
			p += sizeof(*event) + event->len;
		}
	}
}

/* A bundle file that could not be written is said; the verdict stands. */
static void bundle_failed(const struct fixture *f, const char *path, int r)
{
	if (r < 0)
		fprintf(stderr, "pikaci-conform: repro bundle for %s: cannot write %s: %s\n", f->id,
		        path, read_file_error(r));
}

/* dir/name holds bytes (mode 0644), or is removed when bytes is NULL. */
static void bundle_put(const struct fixture *f, const char *dir, const char *name,
                       const char *bytes, size_t length)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (bytes)
		bundle_failed(f, path, write_file(path, bytes, length, 0644));
	else if (unlink(path) < 0 && errno != ENOENT)
		bundle_failed(f, path, -errno);
}

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
	if (a->n_items == a->capacity) {
		size_t capacity = a->capacity ? a->capacity * 2 : 64;
		struct arrival *grown = realloc(a->items, capacity * sizeof(*grown));

		if (!grown)
			return; /* the check then says it cannot tell */
		a->items = grown;
		a->capacity = capacity;
	}
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

static void keep_bundle(const struct options *opt, const struct fixture *f,
                        const struct pikaci_exchange *x, const struct verdict *v,
                        const struct observation *o, const char *status)
{
	char dir[PATH_MAX], path[PATH_MAX + 64], cwd[PATH_MAX];
	FILE *out;

	snprintf(dir, sizeof(dir), "%s/%s", opt->keep, f->id);
	snprintf(path, sizeof(path), "%s/actual", dir);
	if ((mkdir(opt->keep, 0755) < 0 && errno != EEXIST) ||
	    (mkdir(dir, 0755) < 0 && errno != EEXIST) ||
	    (mkdir(path, 0755) < 0 && errno != EEXIST)) {
		/* The verdict stands; the bundle that was asked for is said to be missing. */
		fprintf(stderr, "pikaci-conform: no repro bundle for %s: cannot create %s: %s\n",
		        f->id, path, strerror(errno));
		return;
	}
	snprintf(path, sizeof(path), "%s/case.json", dir);
	{
		char from[PATH_MAX + 16];

		snprintf(from, sizeof(from), "%s/case.json", f->dir);
		bundle_failed(f, path, copy_file(from, path));
	}
	/* Every file is this run's: one this run has not is removed, never left from an earlier. */
	bundle_put(f, dir, "request.json", f->request, f->request_length);
	bundle_put(f, dir, "expected-stdout", f->has_stdout ? f->stdout_bytes : NULL,
	           f->stdout_length);
	bundle_put(f, dir, "stdout", x ? x->run.out : NULL, x ? x->run.out_length : 0);
	bundle_put(f, dir, "stderr", x ? x->run.err : NULL, x ? x->run.err_length : 0);
	for (int i = 0; i < _PIKACI_FILE_MAX; i++) {
		const char *name = strrchr(pikaci_file_path((enum pikaci_file)i), '/') + 1;
		char actual[PATH_MAX + 64];
		bool have = x && !x->files[i].error;

		snprintf(actual, sizeof(actual), "actual/%s", name);
		bundle_put(f, dir, actual, have ? x->files[i].bytes : NULL,
		           have ? x->files[i].length : 0);
	}
	snprintf(path, sizeof(path), "%s/verdict.txt", dir);
	out = fopen(path, "w");
	if (out) {
		fprintf(out, "%s %s\n", status, f->id);
		for (size_t i = 0; v && i < v->n_checks; i++) {
			fprintf(out, "%s [%s] ", v->checks[i].ok ? "ok  " : "FAIL",
			        v->checks[i].clause);
			line_put(out, v->checks[i].message);
		}
		for (size_t i = 0; v && i < v->n_not_applicable; i++)
			fprintf(out, "n/a  %s\n", v->not_applicable[i]);
		if (o && o->have_changes) {
			fprintf(out, "\nchanges the run made:\n");
			for (size_t i = 0; i < o->n_changes; i++) {
				fprintf(out, "%c ", o->changes[i].kind);
				line_put(out, o->changes[i].path);
			}
		}
		if (fclose(out) != 0)
			fprintf(stderr, "pikaci-conform: repro bundle for %s: cannot write %s\n",
			        f->id, path);
	}
	snprintf(path, sizeof(path), "%s/replay.sh", dir);
	out = fopen(path, "w");
	if (out) {
		char self[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		char *fixtures = realpath(opt->fixtures, NULL);

		self[n > 0 ? n : 0] = '\0';
		fprintf(out, "#!/bin/sh\n# Replays case %s against the same guest.\ncd ", f->id);
		shell_quote(out, getcwd(cwd, sizeof(cwd)) ? cwd : ".");
		fprintf(out, " || exit 2\nexec ");
		shell_quote(out, self);
		fprintf(out, " --fixtures ");
		shell_quote(out, fixtures ? fixtures : opt->fixtures);
		fprintf(out, " --filter ");
		shell_quote(out, f->id);
		fprintf(out, "%s --case-timeout %g --time-scale %g",
		        opt->check_reason ? " --check-reason" : "", opt->case_timeout,
		        opt->time_scale);
		if (opt->incus.image) {
			const char *flags[] = { "--incus-image", "--socket", "--url",    "--cert",
				                "--key",         "--ca",     "--project" };
			const char *values[] = { opt->incus.image,  opt->incus.socket,
				                 opt->incus.url,    opt->incus.cert,
				                 opt->incus.key,    opt->incus.ca,
				                 opt->incus.project };

			for (size_t i = 0; i < ELEMENTSOF(flags); i++) {
				if (!values[i])
					continue;
				fprintf(out, " %s ", flags[i]);
				shell_quote(out, values[i]);
			}
		}
		fprintf(out, " --");
		for (char **w = opt->guest_argv; *w; w++) {
			fputc(' ', out);
			shell_quote(out, *w);
		}
		fputc('\n', out);
		fclose(out);
		chmod(path, 0755);
		free(fixtures);
	}
}

static struct pikaci_transport *transport_new(const struct options *opt, char *errbuf, size_t size,
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

static json_t *run_case(const struct options *opt, const struct fixture *f)
{
	struct observation o = { .fixture = f,
		                 .marker = -1,
		                 .cut_marker = -1,
		                 .check_reason = opt->check_reason,
		                 .time_scale = opt->time_scale };
	struct pikaci_exchange exchange = { 0 };
	struct arrivals arrivals = { 0 };
	struct pikaci_change *changes = NULL;
	struct verdict verdict = { 0 };
	struct pikaci_transport *t;
	double deadline =
	        (f->case_timeout > 0 ? f->case_timeout : opt->case_timeout) * opt->time_scale;
	const char *status, *clause = "", *message;
	char errbuf[512], text[640];
	json_t *detail;
	int watch = -1, r;

	t = transport_new(opt, errbuf, sizeof(errbuf), &r);
	if (!t)
		return json_pack("{s:s, s:s, s:f}", "status", "error", "message", errbuf, "seconds",
		                 0.0);
	r = lay_down(t, f);
	if (r < 0) {
		detail = json_pack("{s:s, s:s, s:f}", "status", "error", "message",
		                   pikaci_transport_error(t), "seconds", 0.0);
		goto out;
	}
	/*
	 * [B4], [L5]'s order of writes and [L7] are watched from before the guest starts (after
	 * the earlier run's files are down); the state folder exists for it.
	 */
	if (f->outcome != OUTCOME_USAGE && t->ops->watch &&
	    t->ops->make_dir(t, PIKACI_STATE_DIR) == 0) {
		watch = t->ops->watch(t, PIKACI_STATE_DIR,
		                      IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO |
		                              IN_DELETE | IN_MOVED_FROM);
		o.have_watch = watch >= 0;
	}
	arrivals.start = monotonic_seconds();
	r = pikaci_exchange(t, f->deliver, f->request, f->request_length, opt->guest_argv, deadline,
	                    output_arrived, &arrivals, &exchange);
	o.ended = monotonic_seconds() - arrivals.start;
	/* Incus records a guest's output and hands it over at the end: no arrival times there. */
	if (strcmp(t->ops->name, "local") == 0) {
		o.have_arrivals = true;
		o.arrivals = arrivals.items;
		o.n_arrivals = arrivals.n_items;
	}
	if (r < 0) {
		detail = json_pack("{s:s, s:s, s:f}", "status", "error", "message",
		                   pikaci_transport_error(t), "seconds", 0.0);
		goto out;
	}
	o.exchange = &exchange;
	if (watch >= 0)
		read_watch(watch, &o);
	if (t->ops->changes && t->ops->changes(t, &changes, &o.n_changes) == 0) {
		o.have_changes = true;
		o.changes = changes;
	}
	if (f->marker)
		o.marker = t->ops->exists(t, f->marker);
	if (f->cut_marker)
		o.cut_marker = t->ops->exists(t, f->cut_marker);

	if (exchange.run.timed_out) {
		status = "timeout";
		clause = "D5";
		snprintf(text, sizeof(text),
		         "the guest was still running after %.1f s (the per-case timeout) and was "
		         "killed",
		         deadline);
		message = text;
	} else {
		judge(&o, &verdict);
		message = verdict_first_failure(&verdict, &clause);
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
	                   "clause", clause, "seconds", exchange.run.seconds, "exit_code",
	                   exchange.run.exit_code, "checks", checks_json(&verdict));
	if (detail && verdict.n_not_applicable) {
		json_t *na = json_array();

		for (size_t i = 0; i < verdict.n_not_applicable; i++)
			json_array_append_new(na, json_string(verdict.not_applicable[i]));
		json_object_set_new(detail, "not_applicable", na);
	}
	if (opt->keep && strcmp(status, "pass") != 0)
		keep_bundle(opt, f, &exchange, &verdict, &o, status);
out:
	if (watch >= 0)
		close(watch);
	pikaci_changes_free(changes, o.n_changes);
	free(arrivals.items);
	verdict_clear(&verdict);
	pikaci_exchange_clear(&exchange);
	pikaci_transport_free(t);
	return detail;
}

/* --- Scheduling --------------------------------------------------------------------------- */

struct worker {
	pid_t pid;
	bool slot; /* holds one of the -j slots */
	int fd;
	size_t index;
	struct buffer message; /* the result as JSON, as it arrives */
};

/*
 * A case whose command is expected to run into its timeout (exit code 124) spends its time
 * sleeping, not on a CPU: it does not take a -j slot, or the corpus would wait on it.
 */
static bool waits_out(const struct fixture *f)
{
	return f->outcome == OUTCOME_ACCEPTED && f->exit_code == PIKACI_EXIT_TIMEOUT;
}

static _Noreturn void worker_main(const struct options *opt, const struct fixture *f, int fd)
{
	json_t *detail;
	char *text;

	/* If the runner dies, so does the worker, cleaning up its sandbox (on_stop_signal). */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	detail = run_case(opt, f);
	text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
	json_decref(detail);
	if (!text) {
		/* The runner itself failed on this case: said as such, not as a silent worker. */
		detail = json_pack("{s:s, s:s, s:f}", "status", "error", "message",
		                   "the runner's worker could not encode this case's result "
		                   "(out of memory)",
		                   "seconds", 0.0);
		text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
		json_decref(detail);
	}
	if (!text || write_all(fd, text, strlen(text)) < 0)
		_exit(EXIT_HARNESS);
	free(text);
	close(fd);
	exit(0);
}

static int worker_start(const struct options *opt, const struct fixture *f, size_t index,
                        struct worker *w)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	fflush(NULL);
	w->pid = fork();
	if (w->pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -errno;
	}
	if (w->pid == 0) {
		close(fds[0]);
		worker_main(opt, f, fds[1]);
	}
	close(fds[1]);
	w->fd = fds[0];
	w->index = index;
	w->message = (struct buffer){ 0 };
	return 0;
}

/* Reads what the worker sent; true once it is done (EOF). */
static bool worker_read(struct worker *w)
{
	char chunk[65536];
	ssize_t n = read(w->fd, chunk, sizeof(chunk));

	if (n < 0)
		return errno != EINTR && errno != EAGAIN;
	if (n == 0)
		return true;
	return buffer_append(&w->message, chunk, (size_t)n) < 0;
}

static void worker_finish(struct worker *w, struct case_result *result)
{
	int status = 0;
	json_error_t error;
	json_t *detail =
	        w->message.data ? json_loadb(w->message.data, w->message.length, 0, &error) : NULL;
	const char *s;

	close(w->fd);
	waitpid(w->pid, &status, 0);
	if (!detail) {
		char why[320];

		if (WIFSIGNALED(status))
			error_format(why, sizeof(why), 0,
			             "the runner's worker died of signal %d (%s)", WTERMSIG(status),
			             strsignal(WTERMSIG(status)));
		else if (w->message.length)
			error_format(
			        why, sizeof(why), 0,
			        "the runner's worker (exit %d) sent %zu bytes that are not its "
			        "result: %s",
			        WEXITSTATUS(status), w->message.length, error.text);
		else
			error_format(why, sizeof(why), 0,
			             "the runner's worker exited %d without a result",
			             WEXITSTATUS(status));
		detail = json_pack("{s:s, s:s, s:f}", "status", "error", "message", why, "seconds",
		                   0.0);
	}
	buffer_clear(&w->message);
	s = json_string_value(json_object_get(detail, "status"));
	result->detail = detail;
	if (s && strcmp(s, "pass") == 0)
		result->status = result->expectation ? STATUS_XPASS : STATUS_PASS;
	else if (s && strcmp(s, "fail") == 0)
		result->status = result->expectation ? STATUS_XFAIL : STATUS_FAIL;
	else if (s && strcmp(s, "timeout") == 0)
		result->status = result->expectation ? STATUS_XFAIL : STATUS_TIMEOUT;
	else
		result->status = STATUS_ERROR;
}

/* --- main ----------------------------------------------------------------------------------- */

/* Bounds of the time options (README "Limits"): a day per case, a hundredfold stretch. */
#define CASE_TIMEOUT_MAX 86400.0
#define TIME_SCALE_MAX   100.0

/*
 * A positive finite number up to max for the option (or variable) named: inf, NaN, negatives,
 * zero and absurd values are refused, naming the option, or a hung guest would never be killed.
 */
static int seconds_parse(const char *name, const char *text, double max, double *ret)
{
	char *end;
	double value;

	errno = 0;
	value = strtod(text, &end);
	if (end == text || *end || errno || !isfinite(value) || !(value > 0) || value > max) {
		fprintf(stderr, "pikaci-conform: %s takes a positive number up to %g, not \"%s\"\n",
		        name, max, text);
		return -EINVAL;
	}
	*ret = value;
	return 0;
}

static int parse_options(int argc, char **argv, struct options *opt)
{
	enum {
		OPT_FIXTURES = 256,
		OPT_PROFILE,
		OPT_FILTER,
		OPT_CASE_TIMEOUT,
		OPT_TIME_SCALE,
		OPT_FORMAT,
		OPT_OUTPUT,
		OPT_EXPECT,
		OPT_KEEP,
		OPT_CHECK_REASON,
		OPT_LIST,
		OPT_LINT,
		OPT_COVERAGE,
		OPT_VERSION,
		OPT_INCUS_IMAGE,
		OPT_INCUS_BASE, /* the connection options: OPT_INCUS_BASE + 0 ... + 5 */
	};
	static const struct option long_options[] = {
		{ "incus-image", required_argument, NULL, OPT_INCUS_IMAGE },
		PIKACI_INCUS_GETOPT(OPT_INCUS_BASE),
		{ "fixtures", required_argument, NULL, OPT_FIXTURES },
		{ "profile", required_argument, NULL, OPT_PROFILE },
		{ "filter", required_argument, NULL, OPT_FILTER },
		{ "jobs", required_argument, NULL, 'j' },
		{ "case-timeout", required_argument, NULL, OPT_CASE_TIMEOUT },
		{ "time-scale", required_argument, NULL, OPT_TIME_SCALE },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "expect", required_argument, NULL, OPT_EXPECT },
		{ "keep", required_argument, NULL, OPT_KEEP },
		{ "check-reason", no_argument, NULL, OPT_CHECK_REASON },
		{ "list", no_argument, NULL, OPT_LIST },
		{ "lint", no_argument, NULL, OPT_LINT },
		{ "coverage-report", no_argument, NULL, OPT_COVERAGE },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ 0 },
	};
	const char *scale = getenv("PIKACI_TIME_SCALE");
	bool profile_given = false;
	char *end;
	int c;

	opt->fixtures =
	        getenv("PIKACI_FIXTURES") ? getenv("PIKACI_FIXTURES") : corpus_default_path();
	opt->jobs = sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1;
	opt->case_timeout = 30;
	opt->time_scale = 1;
	if (scale &&
	    seconds_parse("PIKACI_TIME_SCALE", scale, TIME_SCALE_MAX, &opt->time_scale) < 0)
		return -EINVAL;
	opt->filters = calloc((size_t)argc + 1, sizeof(*opt->filters));
	if (!opt->filters)
		return -ENOMEM;

	while ((c = getopt_long(argc, argv, "+j:h", long_options, NULL)) != -1) {
		switch (c) {
		case OPT_FIXTURES:
			opt->fixtures = optarg;
			break;
		case OPT_PROFILE: {
			enum fixture_profile p;

			profile_given = true;
			if (strcmp(optarg, "all") == 0) {
				opt->profiles[PROFILE_CONTRACT] =
				        opt->profiles[PROFILE_ROBUSTNESS] = true;
			} else if (profile_parse(optarg, &p) == 0) {
				opt->profiles[p] = true;
			} else {
				fprintf(stderr,
				        "pikaci-conform: --profile is contract, robustness or "
				        "all, not \"%s\"\n",
				        optarg);
				return -EINVAL;
			}
			break;
		}
		case OPT_FILTER:
			opt->filters[opt->n_filters++] = optarg;
			break;
		case 'j':
			opt->jobs = strtol(optarg, &end, 10);
			if (*end || opt->jobs < 1 || opt->jobs > 1024) {
				fprintf(stderr,
				        "pikaci-conform: -j takes a number from 1 to 1024\n");
				return -EINVAL;
			}
			break;
		case OPT_CASE_TIMEOUT:
			if (seconds_parse("--case-timeout", optarg, CASE_TIMEOUT_MAX,
			                  &opt->case_timeout) < 0)
				return -EINVAL;
			break;
		case OPT_TIME_SCALE:
			if (seconds_parse("--time-scale", optarg, TIME_SCALE_MAX,
			                  &opt->time_scale) < 0)
				return -EINVAL;
			break;
		case OPT_FORMAT:
			if (strcmp(optarg, "text") == 0)
				opt->format = FORMAT_TEXT;
			else if (strcmp(optarg, "tap") == 0)
				opt->format = FORMAT_TAP;
			else if (strcmp(optarg, "junit") == 0)
				opt->format = FORMAT_JUNIT;
			else if (strcmp(optarg, "json") == 0)
				opt->format = FORMAT_JSON;
			else {
				fprintf(stderr,
				        "pikaci-conform: --format is text, tap, junit or json\n");
				return -EINVAL;
			}
			break;
		case OPT_OUTPUT:
			opt->output = optarg;
			break;
		case OPT_EXPECT:
			opt->expect = optarg;
			break;
		case OPT_KEEP:
			opt->keep = optarg;
			break;
		case OPT_CHECK_REASON:
			opt->check_reason = true;
			break;
		case OPT_INCUS_IMAGE:
			opt->incus.image = optarg;
			break;
		case OPT_LIST:
			opt->list = true;
			break;
		case OPT_LINT:
			opt->lint = true;
			break;
		case OPT_COVERAGE:
			opt->coverage = true;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_ALL_AS_EXPECTED);
		case OPT_VERSION:
			printf("pikaci-conform %s (request schema_version %d)\n", PIKACI_VERSION,
			       PIKACI_REQUEST_SCHEMA_VERSION);
			exit(EXIT_ALL_AS_EXPECTED);
		default:
			if (c >= OPT_INCUS_BASE && c < OPT_INCUS_BASE + _PIKACI_INCUS_OPTION_MAX) {
				pikaci_incus_option_set(&opt->incus, c - OPT_INCUS_BASE, optarg);
				break;
			}
			usage(stderr);
			return -EINVAL;
		}
	}
	if (!profile_given)
		opt->profiles[PROFILE_CONTRACT] = opt->profiles[PROFILE_ROBUSTNESS] = true;
	if (opt->list || opt->lint || opt->coverage)
		return 0;
	if (pikaci_incus_options_given(&opt->incus) && !opt->incus.image) {
		fprintf(stderr, "pikaci-conform: --socket and --url go with --incus-image\n");
		return -EINVAL;
	}
	if (pikaci_incus_options_problem(&opt->incus)) {
		fprintf(stderr, "pikaci-conform: %s\n", pikaci_incus_options_problem(&opt->incus));
		return -EINVAL;
	}
	if (opt->incus.image && optind >= argc) {
		/* [D2]: in an image, the guest is at its contract path. */
		opt->guest_argv = calloc(2, sizeof(char *));
		opt->guest_text = strdup(opt->incus.image);
		if (!opt->guest_argv || !opt->guest_text ||
		    !(opt->guest_argv[0] = strdup(PIKACI_GUEST_PATH)))
			return -ENOMEM;
		return 0;
	}
	if (optind >= argc) {
		fprintf(stderr,
		        "pikaci-conform: no guest given: pikaci-conform [OPTION...] -- GUEST "
		        "[ARG...]\n");
		return -EINVAL;
	}
	/* A wrapper is a host program: it cannot reach into an Incus instance. */
	if (pikaci_guest_argv_new(opt->incus.image ? NULL : getenv("PIKACI_GUEST_WRAPPER"),
	                          argv + optind, (size_t)(argc - optind), &opt->guest_argv) < 0)
		return -ENOMEM;
	{
		struct buffer text = { 0 };

		for (int i = optind; i < argc; i++)
			if (buffer_printf(&text, "%s%s", i > optind ? " " : "", argv[i]) < 0) {
				buffer_clear(&text);
				return -ENOMEM;
			}
		opt->guest_text = buffer_steal(&text, NULL);
		if (!opt->guest_text)
			return -ENOMEM;
	}
	return 0;
}

static void options_clear(struct options *opt)
{
	free(opt->filters);
	pikaci_guest_argv_free(opt->guest_argv);
	free(opt->guest_text);
}

static bool selected(const struct options *opt, const struct fixture *f)
{
	if (!opt->profiles[f->profile])
		return false;
	if (opt->n_filters == 0)
		return true;
	for (size_t i = 0; i < opt->n_filters; i++)
		if (fixture_matches(f, opt->filters[i]))
			return true;
	return false;
}

static int lint(const struct options *opt, const struct corpus *corpus, struct problems *problems)
{
	for (size_t i = 0; i < corpus->n_cases; i++)
		fixture_lint_verdict(&corpus->cases[i], problems);
	for (size_t i = 0; i < problems->n_items; i++)
		printf("%s\n", problems->items[i]);
	printf("%zu case(s) in %s, %zu problem(s)\n", corpus->n_cases + corpus->n_malformed,
	       opt->fixtures, problems->n_items);
	return problems->n_items ? EXIT_SOME_FAILED : EXIT_ALL_AS_EXPECTED;
}

/*
 * Can this machine run cases at all? Locally one empty sandbox run tells; with Incus, one
 * container made and deleted. Either says why not.
 */
static int probe(const struct options *opt)
{
	struct pikaci_transport *t;
	struct pikaci_transport_result result = { 0 };
	char *argv[] = { "/bin/true", NULL };
	char errbuf[512];
	int r;

	t = transport_new(opt, errbuf, sizeof(errbuf), &r);
	if (!t) {
		fprintf(stderr, "pikaci-conform: cannot %s here: %s\n",
		        opt->incus.image ? "reach Incus" : "sandbox", errbuf);
		return r == -EPERM || opt->incus.image ? EXIT_CANNOT_SANDBOX : EXIT_HARNESS;
	}
	r = opt->incus.image ? 0 : t->ops->run(t, argv, 30, NULL, NULL, &result);
	if (r < 0)
		fprintf(stderr, "pikaci-conform: cannot sandbox here: %s\n",
		        pikaci_transport_error(t));
	pikaci_transport_result_clear(&result);
	pikaci_transport_free(t);
	return r < 0 ? EXIT_CANNOT_SANDBOX : 0;
}

static int run_all(const struct options *opt, const struct corpus *corpus)
{
	size_t n = corpus->n_cases, chosen = 0, printed = 0, active = 0, slots_used = 0;
	/* A worker per -j slot, and one per case that mostly waits (see waits_out() below). */
	size_t capacity = (size_t)opt->jobs + n;
	struct case_result *results = calloc(n + 1, sizeof(*results));
	struct worker *workers = calloc(capacity, sizeof(*workers));
	struct pollfd *fds = calloc(capacity, sizeof(*fds));
	bool *skip = calloc(n + 1, sizeof(*skip)), *run = calloc(n + 1, sizeof(*run));
	bool *done = calloc(n + 1, sizeof(*done)), *shown = calloc(n + 1, sizeof(*shown));
	bool *started = calloc(n + 1, sizeof(*started)), *beside = calloc(n + 1, sizeof(*beside));
	struct report report = { .format = opt->format, .out = stdout, .guest = opt->guest_text };
	int code = EXIT_ALL_AS_EXPECTED;

	if (!results || !workers || !fds || !skip || !run || !done || !shown || !started ||
	    !beside) {
		code = EXIT_HARNESS;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		results[i].fixture = &corpus->cases[i];
		run[i] = selected(opt, &corpus->cases[i]);
		beside[i] = waits_out(&corpus->cases[i]);
		chosen += run[i];
	}
	if (opt->expect && expectations_load(opt->expect, corpus, results, skip, stderr) < 0) {
		code = EXIT_USAGE;
		goto out;
	}
	if (chosen == 0) {
		fprintf(stderr, "pikaci-conform: no case matches the filters and profiles given\n");
		code = EXIT_USAGE;
		goto out;
	}
	if (opt->output) {
		report.out = fopen(opt->output, "w");
		if (!report.out) {
			fprintf(stderr, "pikaci-conform: cannot write %s: %s\n", opt->output,
			        strerror(errno));
			report.out = stdout;
			code = EXIT_USAGE;
			goto out;
		}
		report.progress = true;
	}
	report.n_planned = chosen;
	report_begin(&report);

	while (printed < chosen) {
		/*
		 * Cases that wait out a timeout start at once, beside the -j slots: they use no CPU
		 * while they wait. The others fill the slots in corpus order. Skipped cases are
		 * decided without running.
		 */
		for (size_t i = 0; i < n; i++) {
			bool slot;

			if (!run[i] || started[i] ||
			    (!beside[i] && slots_used >= (size_t)opt->jobs))
				continue;
			started[i] = true;
			if (skip[i]) {
				results[i].status = STATUS_SKIP;
				results[i].detail = json_pack("{s:s, s:f}", "message", "skipped",
				                              "seconds", 0.0);
				done[i] = true;
				continue;
			}
			slot = !beside[i];
			for (size_t w = 0; w < capacity; w++) {
				if (workers[w].pid)
					continue;
				if (worker_start(opt, &corpus->cases[i], i, &workers[w]) < 0) {
					fprintf(stderr,
					        "pikaci-conform: cannot start a worker: %s\n",
					        strerror(errno));
					code = EXIT_HARNESS;
					goto out;
				}
				workers[w].slot = slot;
				slots_used += slot;
				active++;
				break;
			}
		}
		/* Print every finished case that comes next in corpus order. */
		for (size_t i = 0; i < n && printed < chosen; i++) {
			if (!run[i])
				continue;
			if (!done[i])
				break;
			if (!shown[i]) {
				report_case(&report, &results[i]);
				shown[i] = true;
				printed++;
			}
		}
		if (active == 0)
			continue;
		for (size_t w = 0; w < capacity; w++)
			fds[w] = (struct pollfd){ .fd = workers[w].pid ? workers[w].fd : -1,
				                  .events = POLLIN };
		if (poll(fds, (nfds_t)capacity, -1) < 0 && errno != EINTR) {
			code = EXIT_HARNESS;
			goto out;
		}
		for (size_t w = 0; w < capacity; w++) {
			if (!workers[w].pid || !(fds[w].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (worker_read(&workers[w])) {
				worker_finish(&workers[w], &results[workers[w].index]);
				done[workers[w].index] = true;
				workers[w].pid = 0;
				slots_used -= workers[w].slot;
				active--;
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (!run[i])
			continue;
		if (results[i].status == STATUS_ERROR)
			code = EXIT_HARNESS;
		else if (case_status_is_failure(results[i].status) && code == EXIT_ALL_AS_EXPECTED)
			code = EXIT_SOME_FAILED;
	}
	{
		/* The end report covers the cases that ran, in order. */
		struct case_result *ran = calloc(chosen, sizeof(*ran));
		size_t k = 0;

		for (size_t i = 0; ran && i < n; i++)
			if (run[i])
				ran[k++] = results[i];
		report_end(&report, ran ? ran : results, ran ? k : 0, corpus,
		           opt->incus.image ? "incus" : "local");
		free(ran);
	}
out:
	/* A lost report must not pass for a run that passed (or failed). */
	if (report.out && report_finish(&report) < 0 && code != EXIT_USAGE &&
	    code != EXIT_HARNESS) {
		fprintf(stderr, "pikaci-conform: cannot write the report to %s\n",
		        opt->output ? opt->output : "stdout");
		code = EXIT_REPORT_FAILED;
	}
	for (size_t i = 0; results && i < n; i++) {
		json_decref(results[i].detail);
		free(results[i].expectation);
	}
	free(results);
	free(workers);
	free(skip);
	free(run);
	free(done);
	free(shown);
	free(started);
	free(beside);
	free(fds);
	return code;
}

/* SIGINT/SIGTERM: no per-run sandbox folder, mount or process outlives the run. */
static void on_stop_signal(int sig)
{
	pikaci_sandbox_abandon_all();
	signal(sig, SIG_DFL);
	raise(sig);
}

int main(int argc, char **argv)
{
	struct options opt = { 0 };
	struct corpus corpus = { 0 };
	struct problems problems = { 0 };
	int code, r;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_stop_signal);
	signal(SIGTERM, on_stop_signal);
	if (parse_options(argc, argv, &opt) < 0) {
		code = EXIT_USAGE;
		goto out;
	}
	/* Containers made from the image (one per case) are deleted even when it is stopped. */
	if (opt.incus.image && pikaci_incus_reaper_start(&opt.incus, NULL, 0) < 0)
		fprintf(stderr, "pikaci-conform: no reaper: a stopped run may leave containers\n");
	r = corpus_load(opt.fixtures, &corpus, &problems);
	if (r < 0) {
		fprintf(stderr, "pikaci-conform: cannot read the fixtures in %s: %s\n",
		        opt.fixtures, strerror(-r));
		code = EXIT_USAGE;
		goto out;
	}
	if (opt.lint) {
		code = lint(&opt, &corpus, &problems);
		goto out;
	}
	if (problems.n_items) {
		for (size_t i = 0; i < problems.n_items; i++)
			fprintf(stderr, "pikaci-conform: %s\n", problems.items[i]);
		fprintf(stderr, "pikaci-conform: the corpus in %s is malformed (see --lint)\n",
		        opt.fixtures);
		code = EXIT_USAGE;
		goto out;
	}
	if (opt.coverage) {
		coverage_print(stdout, &corpus);
		code = EXIT_ALL_AS_EXPECTED;
		goto out;
	}
	if (opt.list) {
		for (size_t i = 0; i < corpus.n_cases; i++) {
			const struct fixture *f = &corpus.cases[i];

			if (!selected(&opt, f))
				continue;
			printf("%-44s %-10s", f->id, profile_name(f->profile));
			for (size_t k = 0; k < f->n_clauses; k++)
				printf("%s%s", k ? "," : " ", f->clauses[k]);
			printf("  %s\n", f->description);
		}
		code = EXIT_ALL_AS_EXPECTED;
		goto out;
	}
	code = probe(&opt);
	if (code == 0)
		code = run_all(&opt, &corpus);
out:
	/* --list, --lint, --coverage-report and progress are reports too: none lost silently. */
	if ((fflush(stdout) != 0 || ferror(stdout)) &&
	    (code == EXIT_ALL_AS_EXPECTED || code == EXIT_SOME_FAILED)) {
		fprintf(stderr, "pikaci-conform: cannot write to stdout\n");
		code = EXIT_REPORT_FAILED;
	}
	problems_clear(&problems);
	corpus_clear(&corpus);
	options_clear(&opt);
	return code;
}
