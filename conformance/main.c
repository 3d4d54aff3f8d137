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
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clauses.h"
#include "fixture.h"
#include "judge.h"
#include "pikaci-contract.h"
#include "report.h"
#include "transport.h"

#define EXIT_ALL_AS_EXPECTED 0
#define EXIT_SOME_FAILED     1
#define EXIT_USAGE           2
#define EXIT_CANNOT_SANDBOX  77
#define EXIT_HARNESS         99

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
	"  --case-timeout S    seconds before a guest still running is killed: TIMEOUT (30)\n"
	"  --time-scale F      stretch time bounds and timeouts (slow wrappers such as valgrind)\n"
	"  --format FORMAT     text, tap, junit or json (default: text)\n"
	"  --output FILE       write the report to FILE; progress still goes to stdout\n"
	"  --expect FILE       lines \"CASE fail|skip|pass REASON\" (CASE may be a glob; the last\n"
	"                      matching line wins): known failures and skips. A listed failure\n"
	"                      that passes is an unexpected pass (xpass) and fails the run\n"
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
	"2 usage error; 77 cannot sandbox here (needs root and overlayfs); 99 harness failure.\n";
/* clang-format on */

static void usage(FILE *out)
{
	fprintf(out, usage_text, PIKACI_FIXTURES_DIR);
}

/* --- Small helpers ------------------------------------------------------------------------ */

static char **split_words(const char *text, const char *separators)
{
	char *copy = strdup(text ? text : ""), *save = NULL, *word;
	char **words = calloc(strlen(copy) + 2, sizeof(*words));
	size_t n = 0;

	if (!copy || !words) {
		free(copy);
		free(words);
		return NULL;
	}
	for (word = strtok_r(copy, separators, &save); word;
	     word = strtok_r(NULL, separators, &save))
		words[n++] = strdup(word);
	free(copy);
	return words;
}

static void words_free(char **words)
{
	for (size_t i = 0; words && words[i]; i++)
		free(words[i]);
	free(words);
}

static int write_file(const char *path, const void *bytes, size_t length, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	const char *p = bytes;

	if (fd < 0)
		return -errno;
	while (length > 0) {
		ssize_t n = write(fd, p, length);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			return -errno;
		}
		p += n;
		length -= (size_t)n;
	}
	return close(fd) < 0 ? -errno : 0;
}

static int copy_file(const char *from, const char *to)
{
	char *bytes = NULL;
	size_t length = 0;
	FILE *in = fopen(from, "rb");
	FILE *mem = open_memstream(&bytes, &length);
	char chunk[65536];
	size_t n;
	int r;

	if (!in || !mem) {
		if (in)
			fclose(in);
		if (mem)
			fclose(mem);
		free(bytes);
		return -ENOENT;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0)
		fwrite(chunk, 1, n, mem);
	fclose(in);
	fclose(mem);
	r = write_file(to, bytes, length, 0644);
	free(bytes);
	return r;
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
	ssize_t n;

	while ((n = read(fd, buffer, sizeof(buffer))) > 0) {
		for (char *p = buffer; p < buffer + n;) {
			struct inotify_event *event = (struct inotify_event *)p;
			unsigned bits = 0;

			if (event->mask & IN_Q_OVERFLOW)
				o->watch_overflow = true;
			bits |= event->mask & IN_CREATE ? SEEN_CREATE : 0;
			bits |= event->mask & IN_MODIFY ? SEEN_MODIFY : 0;
			bits |= event->mask & IN_CLOSE_WRITE ? SEEN_CLOSE_WRITE : 0;
			bits |= event->mask & IN_MOVED_TO ? SEEN_MOVED_TO : 0;
			if (event->len && strcmp(event->name, "status.json") == 0)
				o->status_seen |= bits;
			if (event->len && strcmp(event->name, "result.json") == 0)
				o->result_seen |= bits;
			p += sizeof(*event) + event->len;
		}
	}
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
		copy_file(from, path);
	}
	if (f->request) {
		snprintf(path, sizeof(path), "%s/request.json", dir);
		write_file(path, f->request, f->request_length, 0644);
	}
	if (f->has_stdout) {
		snprintf(path, sizeof(path), "%s/expected-stdout", dir);
		write_file(path, f->stdout_bytes, f->stdout_length, 0644);
	}
	if (x) {
		snprintf(path, sizeof(path), "%s/stdout", dir);
		write_file(path, x->run.out, x->run.out_length, 0644);
		snprintf(path, sizeof(path), "%s/stderr", dir);
		write_file(path, x->run.err, x->run.err_length, 0644);
		for (int i = 0; i < _PIKACI_FILE_MAX; i++) {
			const char *name = strrchr(pikaci_file_path((enum pikaci_file)i), '/') + 1;

			if (x->files[i].error)
				continue;
			snprintf(path, sizeof(path), "%s/actual/%s", dir, name);
			write_file(path, x->files[i].bytes, x->files[i].length, 0644);
		}
	}
	snprintf(path, sizeof(path), "%s/verdict.txt", dir);
	out = fopen(path, "w");
	if (out) {
		fprintf(out, "%s %s\n", status, f->id);
		for (size_t i = 0; v && i < v->n_checks; i++)
			fprintf(out, "%s [%s] %s\n", v->checks[i].ok ? "ok  " : "FAIL",
			        v->checks[i].clause, v->checks[i].message);
		for (size_t i = 0; v && i < v->n_not_applicable; i++)
			fprintf(out, "n/a  %s\n", v->not_applicable[i]);
		if (o && o->have_changes) {
			fprintf(out, "\nchanges the run made:\n");
			for (size_t i = 0; i < o->n_changes; i++)
				fprintf(out, "%c %s\n", o->changes[i].kind, o->changes[i].path);
		}
		fclose(out);
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

			for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
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
	else
		*ret_error = pikaci_transport_local_new(&t, errbuf, size);
	return *ret_error < 0 ? NULL : t;
}

static json_t *checks_json(const struct verdict *v)
{
	json_t *checks = json_array();

	for (size_t i = 0; i < v->n_checks; i++)
		json_array_append_new(checks, json_pack("{s:s, s:b, s:s}", "clause",
		                                        v->checks[i].clause, "ok", v->checks[i].ok,
		                                        "message", v->checks[i].message));
	return checks;
}

static json_t *run_case(const struct options *opt, const struct fixture *f)
{
	struct observation o = { .fixture = f,
		                 .marker = -1,
		                 .check_reason = opt->check_reason,
		                 .time_scale = opt->time_scale };
	struct pikaci_exchange exchange = { 0 };
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
	/* [B4] is watched from before the guest starts; the state folder exists for it. */
	if (f->atomic && t->ops->watch && t->ops->make_dir(t, PIKACI_STATE_DIR) == 0) {
		watch = t->ops->watch(t, PIKACI_STATE_DIR,
		                      IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO);
		o.have_watch = watch >= 0;
	}
	r = pikaci_exchange(t, f->deliver, f->request, f->request_length, opt->guest_argv, deadline,
	                    NULL, NULL, &exchange);
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
	char *buffer;
	size_t length, capacity;
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
	size_t length;
	const char *p;

	/* If the runner dies, so does the worker, and with it the sandbox. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	detail = run_case(opt, f);
	text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
	json_decref(detail);
	length = text ? strlen(text) : 0;
	for (p = text; length > 0;) {
		ssize_t n = write(fd, p, length);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		p += n;
		length -= (size_t)n;
	}
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
	w->buffer = NULL;
	w->length = w->capacity = 0;
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
	if (w->length + (size_t)n + 1 > w->capacity) {
		size_t capacity = w->capacity ? w->capacity * 2 : 65536;
		char *grown;

		while (capacity < w->length + (size_t)n + 1)
			capacity *= 2;
		grown = realloc(w->buffer, capacity);
		if (!grown)
			return true;
		w->buffer = grown;
		w->capacity = capacity;
	}
	memcpy(w->buffer + w->length, chunk, (size_t)n);
	w->length += (size_t)n;
	w->buffer[w->length] = '\0';
	return false;
}

static void worker_finish(struct worker *w, struct case_result *result)
{
	int status = 0;
	json_t *detail = w->buffer ? json_loads(w->buffer, 0, NULL) : NULL;
	const char *s;

	close(w->fd);
	waitpid(w->pid, &status, 0);
	free(w->buffer);
	if (!detail) {
		char why[160];

		if (WIFSIGNALED(status))
			snprintf(why, sizeof(why), "the runner's worker died of signal %d (%s)",
			         WTERMSIG(status), strsignal(WTERMSIG(status)));
		else
			snprintf(why, sizeof(why), "the runner's worker exited %d without a result",
			         WEXITSTATUS(status));
		detail = json_pack("{s:s, s:s, s:f}", "status", "error", "message", why, "seconds",
		                   0.0);
	}
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

/* --- Expectations ------------------------------------------------------------------------- */

/*
 * Lines "PATTERN fail|skip|pass REASON": PATTERN is a case id or a glob over ids, the last line
 * that matches a case decides, and a pattern matching no case is an error (a typo must not
 * silently expect nothing). `pass` takes a case back out of an earlier glob.
 */
static int expectations_load(const char *path, const struct corpus *corpus,
                             struct case_result *results, bool *skip)
{
	FILE *in = fopen(path, "re");
	char *line = NULL;
	size_t capacity = 0, number = 0;
	int r = 0;

	if (!in) {
		fprintf(stderr, "pikaci-conform: cannot read %s: %s\n", path, strerror(errno));
		return -errno;
	}
	while (getline(&line, &capacity, in) > 0 || !feof(in)) {
		char pattern[256], kind[16];

		/* A read error (a folder given as FILE) must not pass for an empty file. */
		if (ferror(in)) {
			fprintf(stderr, "pikaci-conform: cannot read %s: %s\n", path,
			        strerror(errno));
			r = -EIO;
			break;
		}
		int consumed = 0;
		size_t matched = 0;

		number++;
		line[strcspn(line, "\n")] = '\0';
		if (line[strspn(line, " \t")] == '#' || line[strspn(line, " \t")] == '\0')
			continue;
		if (sscanf(line, " %255s %15s %n", pattern, kind, &consumed) < 2 ||
		    !line[consumed] ||
		    (strcmp(kind, "fail") != 0 && strcmp(kind, "skip") != 0 &&
		     strcmp(kind, "pass") != 0)) {
			fprintf(stderr,
			        "pikaci-conform: %s:%zu: expected \"CASE-ID fail|skip|pass "
			        "REASON\"\n",
			        path, number);
			r = -EINVAL;
			continue;
		}
		for (size_t k = 0; k < corpus->n_cases; k++) {
			if (fnmatch(pattern, corpus->cases[k].id, 0) != 0)
				continue;
			matched++;
			free(results[k].expectation);
			results[k].expectation =
			        strcmp(kind, "pass") == 0 ? NULL : strdup(line + consumed);
			skip[k] = strcmp(kind, "skip") == 0;
		}
		if (!matched) {
			fprintf(stderr, "pikaci-conform: %s:%zu: no case \"%s\" in the corpus\n",
			        path, number, pattern);
			r = -EINVAL;
		}
	}
	free(line);
	fclose(in);
	return r;
}

/* --- main ----------------------------------------------------------------------------------- */

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

	opt->fixtures = getenv("PIKACI_FIXTURES") ? getenv("PIKACI_FIXTURES") : PIKACI_FIXTURES_DIR;
	opt->jobs = sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1;
	opt->case_timeout = 30;
	opt->time_scale = 1;
	if (scale) {
		opt->time_scale = strtod(scale, &end);
		if (*end || !(opt->time_scale > 0)) {
			fprintf(stderr,
			        "pikaci-conform: PIKACI_TIME_SCALE takes a positive number, "
			        "not \"%s\"\n",
			        scale);
			return -EINVAL;
		}
	}
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
		case OPT_TIME_SCALE: {
			double value = strtod(optarg, &end);

			if (*end || !(value > 0)) {
				fprintf(stderr, "pikaci-conform: --%s takes a positive number\n",
				        c == OPT_CASE_TIMEOUT ? "case-timeout" : "time-scale");
				return -EINVAL;
			}
			if (c == OPT_CASE_TIMEOUT)
				opt->case_timeout = value;
			else
				opt->time_scale = value;
			break;
		}
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
	{
		/* A wrapper is a host program: it cannot reach into an Incus instance. */
		char **wrapper = split_words(
		        opt->incus.image ? NULL : getenv("PIKACI_GUEST_WRAPPER"), " \t");
		size_t n_wrapper = 0, n = 0, length = 0;

		if (!wrapper)
			return -ENOMEM;
		while (wrapper[n_wrapper])
			n_wrapper++;
		opt->guest_argv = calloc(n_wrapper + (size_t)(argc - optind) + 1, sizeof(char *));
		if (!opt->guest_argv) {
			words_free(wrapper);
			return -ENOMEM;
		}
		for (size_t i = 0; i < n_wrapper; i++)
			opt->guest_argv[n++] = wrapper[i];
		free(wrapper);
		for (int i = optind; i < argc; i++) {
			opt->guest_argv[n++] = strdup(argv[i]);
			length += strlen(argv[i]) + 1;
		}
		opt->guest_text = calloc(length + 1, 1);
		for (int i = optind; opt->guest_text && i < argc; i++) {
			strcat(opt->guest_text, argv[i]);
			if (i + 1 < argc)
				strcat(opt->guest_text, " ");
		}
	}
	return 0;
}

static void options_clear(struct options *opt)
{
	free(opt->filters);
	words_free(opt->guest_argv);
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
	if (opt->expect && expectations_load(opt->expect, corpus, results, skip) < 0) {
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
	if (report.out && report.out != stdout)
		fclose(report.out);
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

int main(int argc, char **argv)
{
	struct options opt = { 0 };
	struct corpus corpus = { 0 };
	struct problems problems = { 0 };
	int code, r;

	signal(SIGPIPE, SIG_IGN);
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
	problems_clear(&problems);
	corpus_clear(&corpus);
	options_clear(&opt);
	return code;
}
