/* SPDX-License-Identifier: MIT */
/*
 * scheduler.c - runs the selected cases, each in a worker process, at most -j at a time (plus
 * the cases that only wait out a timeout), and reports them in corpus order as they finish.
 *
 * The worker protocol: a worker runs one case and writes its result, one JSON object (see
 * case_run()), on a pipe, then exits; end of file on the pipe ends the message. Anything else
 * (no message, bytes that are not JSON, a death by signal) is a harness error for that case.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "expect.h"
#include "pikaci-contract.h"
#include "runner.h"
#include "shared.h"

/* What reading a worker's pipe found. */
enum worker_read {
	WORKER_MORE, /* part of the message, or nothing yet: keep reading */
	WORKER_DONE, /* end of file (or a read error): the message is whole */
};

/* One running case: its worker and the message it is sending. */
struct slot {
	pid_t pid;      /* 0: the slot is free */
	bool takes_job; /* holds one of the -j jobs */
	int fd;
	size_t index;          /* the case, in the corpus */
	struct buffer message; /* the result as JSON, as it arrives */
};

/* Where one case of the corpus stands. */
struct plan {
	bool selected; /* by --profile and --filter */
	bool beside;   /* runs beside the -j jobs (see waits_out()) */
	bool started;
	bool done;
	bool shown;
};

struct scheduler {
	const struct options *opt;
	const struct corpus *corpus;
	size_t n, chosen, printed, active, jobs_used;
	struct case_result *results; /* one per case of the corpus */
	bool *skip;                  /* one per case: skipped by --expect */
	struct plan *plans;          /* one per case */
	struct slot *slots;          /* n_slots */
	struct pollfd *fds;          /* one per slot */
	size_t n_slots;
	struct report own_report;
	struct report *report; /* own_report, or the matrix's */
	struct guest_run *run; /* one guest of a matrix, or NULL */
};

/* --- Workers ------------------------------------------------------------------------------- */

/*
 * A case whose command is expected to run into its timeout (exit code 124) spends its time
 * sleeping, not on a CPU: it does not take a -j job, or the corpus would wait on it.
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
	detail = opt->repeat > 1 ? case_run_repeated(opt, f) : case_run(opt, f);
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
                        struct slot *s)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	fflush(NULL);
	s->pid = fork();
	if (s->pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -errno;
	}
	if (s->pid == 0) {
		close(fds[0]);
		worker_main(opt, f, fds[1]);
	}
	close(fds[1]);
	s->fd = fds[0];
	s->index = index;
	s->message = (struct buffer){ 0 };
	return 0;
}

/* Reads what the worker sent. */
static enum worker_read worker_read(struct slot *s)
{
	char chunk[65536];
	ssize_t n = read(s->fd, chunk, sizeof(chunk));

	if (n < 0)
		return errno != EINTR && errno != EAGAIN ? WORKER_DONE : WORKER_MORE;
	if (n == 0)
		return WORKER_DONE;
	return buffer_append(&s->message, chunk, (size_t)n) < 0 ? WORKER_DONE : WORKER_MORE;
}

/* A worker that sent no result, said as the harness error it is. */
static json_t *worker_failure(const struct slot *s, int status, const json_error_t *error)
{
	char why[320];

	if (WIFSIGNALED(status))
		error_format(why, sizeof(why), 0, "the runner's worker died of signal %d (%s)",
		             WTERMSIG(status), strsignal(WTERMSIG(status)));
	else if (s->message.length)
		error_format(why, sizeof(why), 0,
		             "the runner's worker (exit %d) sent %zu bytes that are not its "
		             "result: %s",
		             WEXITSTATUS(status), s->message.length, error->text);
	else
		error_format(why, sizeof(why), 0, "the runner's worker exited %d without a result",
		             WEXITSTATUS(status));
	return json_pack("{s:s, s:s, s:f}", "status", "error", "message", why, "seconds", 0.0);
}

static void worker_finish(struct slot *s, struct case_result *result)
{
	int status = 0;
	json_error_t error;
	json_t *detail =
	        s->message.data ? json_loadb(s->message.data, s->message.length, 0, &error) : NULL;
	const char *text;

	close(s->fd);
	waitpid(s->pid, &status, 0);
	if (!detail)
		detail = worker_failure(s, status, &error);
	buffer_clear(&s->message);
	text = json_string_value(json_object_get(detail, "status"));
	result->detail = detail;
	if (text && strcmp(text, "flaky") == 0)
		result->status = STATUS_FLAKY; /* whatever was expected: it needs looking at */
	else if (text && strcmp(text, "pass") == 0)
		result->status = result->expectation ? STATUS_XPASS : STATUS_PASS;
	else if (text && strcmp(text, "fail") == 0)
		result->status = result->expectation ? STATUS_XFAIL : STATUS_FAIL;
	else if (text && strcmp(text, "timeout") == 0)
		result->status = result->expectation ? STATUS_XFAIL : STATUS_TIMEOUT;
	else
		result->status = STATUS_ERROR;
}

/* --- The schedule -------------------------------------------------------------------------- */

/* The tables for the corpus and the selection: 0, EXIT_HARNESS or EXIT_USAGE (said). */
static int scheduler_init(struct scheduler *s)
{
	s->n = s->corpus->n_cases;
	/* A slot per -j job, and one per case that mostly waits (see waits_out()). */
	s->n_slots = (size_t)s->opt->jobs + s->n;
	s->results = calloc(s->n + 1, sizeof(*s->results));
	s->skip = calloc(s->n + 1, sizeof(*s->skip));
	s->plans = calloc(s->n + 1, sizeof(*s->plans));
	s->slots = calloc(s->n_slots, sizeof(*s->slots));
	s->fds = calloc(s->n_slots, sizeof(*s->fds));
	if (!s->results || !s->skip || !s->plans || !s->slots || !s->fds)
		return EXIT_HARNESS;
	for (size_t i = 0; i < s->n; i++) {
		s->results[i].fixture = &s->corpus->cases[i];
		s->plans[i].selected = options_select(s->opt, &s->corpus->cases[i]);
		s->plans[i].beside = waits_out(&s->corpus->cases[i]);
		s->chosen += s->plans[i].selected;
	}
	if (s->opt->expect &&
	    expectations_load(s->opt->expect, s->corpus, s->results, s->skip, stderr) < 0)
		return EXIT_USAGE;
	if (s->chosen == 0) {
		fprintf(stderr, "pikaci-conform: no case matches the filters and profiles given\n");
		return EXIT_USAGE;
	}
	return 0;
}

/* The reports asked for (or text on stdout): 0 or EXIT_USAGE (said). */
static int scheduler_open_report(struct scheduler *s)
{
	/* A matrix's guests share the reports the matrix opened; each counts its own cases. */
	if (!s->run && report_open(s->report, s->opt->reports, s->opt->n_reports) < 0)
		return EXIT_USAGE;
	s->report->n_planned = s->chosen;
	s->report->n_done = s->report->n_finished = 0;
	s->report->last_finished = NULL;
	report_begin(s->report);
	return 0;
}

/* Case i in a free slot: 0 or EXIT_HARNESS (said). */
static int scheduler_start(struct scheduler *s, size_t i)
{
	bool takes_job = !s->plans[i].beside;

	for (size_t k = 0; k < s->n_slots; k++) {
		if (s->slots[k].pid)
			continue;
		if (worker_start(s->opt, &s->corpus->cases[i], i, &s->slots[k]) < 0) {
			fprintf(stderr, "pikaci-conform: cannot start a worker: %s\n",
			        strerror(errno));
			return EXIT_HARNESS;
		}
		s->slots[k].takes_job = takes_job;
		s->jobs_used += takes_job;
		s->active++;
		break;
	}
	return 0;
}

/*
 * Cases that wait out a timeout start at once, beside the -j jobs: they use no CPU while they
 * wait. The others fill the jobs in corpus order. Skipped cases are decided without running.
 */
static int scheduler_start_ready(struct scheduler *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct plan *p = &s->plans[i];

		if (!p->selected || p->started ||
		    (!p->beside && s->jobs_used >= (size_t)s->opt->jobs))
			continue;
		p->started = true;
		if (s->skip[i]) {
			s->results[i].status = STATUS_SKIP;
			s->results[i].detail =
			        json_pack("{s:s, s:f}", "message", "skipped", "seconds", 0.0);
			p->done = true;
			report_case_finished(s->report, &s->results[i]);
			continue;
		}
		if (scheduler_start(s, i) != 0)
			return EXIT_HARNESS;
	}
	return 0;
}

/* Prints every finished case that comes next in corpus order. */
static void scheduler_print_ready(struct scheduler *s)
{
	for (size_t i = 0; i < s->n && s->printed < s->chosen; i++) {
		struct plan *p = &s->plans[i];

		if (!p->selected)
			continue;
		if (!p->done)
			break;
		if (!p->shown) {
			report_case(s->report, &s->results[i]);
			p->shown = true;
			s->printed++;
		}
	}
}

/* Waits for any worker to send, and collects those that are done: 0 or EXIT_HARNESS. */
static int scheduler_collect(struct scheduler *s)
{
	for (size_t k = 0; k < s->n_slots; k++)
		s->fds[k] = (struct pollfd){ .fd = s->slots[k].pid ? s->slots[k].fd : -1,
			                     .events = POLLIN };
	if (poll(s->fds, (nfds_t)s->n_slots, -1) < 0 && errno != EINTR)
		return EXIT_HARNESS;
	for (size_t k = 0; k < s->n_slots; k++) {
		struct slot *slot = &s->slots[k];

		if (!slot->pid || !(s->fds[k].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (worker_read(slot) == WORKER_DONE) {
			worker_finish(slot, &s->results[slot->index]);
			s->plans[slot->index].done = true;
			report_case_finished(s->report, &s->results[slot->index]);
			slot->pid = 0;
			s->jobs_used -= slot->takes_job;
			s->active--;
		}
	}
	return 0;
}

/* The run's exit code from the cases that ran. */
static int scheduler_code(const struct scheduler *s)
{
	int code = EXIT_ALL_AS_EXPECTED;

	for (size_t i = 0; i < s->n; i++) {
		if (!s->plans[i].selected)
			continue;
		if (s->results[i].status == STATUS_ERROR)
			code = EXIT_HARNESS;
		else if (case_status_is_failure(s->results[i].status) &&
		         (code == EXIT_ALL_AS_EXPECTED || code == EXIT_FLAKY))
			code = EXIT_SOME_FAILED;
		else if (s->results[i].status == STATUS_FLAKY && code == EXIT_ALL_AS_EXPECTED)
			code = EXIT_FLAKY;
	}
	return code;
}

/* The end report covers the cases that ran, in order. */
static void scheduler_report_end(struct scheduler *s)
{
	struct case_result *ran = calloc(s->chosen, sizeof(*ran));
	size_t k = 0;

	for (size_t i = 0; ran && i < s->n; i++)
		if (s->plans[i].selected)
			ran[k++] = s->results[i];
	report_end(s->report, ran ? ran : s->results, ran ? k : 0, s->corpus);
	free(ran);
}

static void scheduler_clear(struct scheduler *s)
{
	for (size_t i = 0; s->results && i < s->n; i++) {
		json_decref(s->results[i].detail);
		free(s->results[i].expectation);
	}
	free(s->results);
	free(s->skip);
	free(s->plans);
	free(s->slots);
	free(s->fds);
}

/* A matrix keeps the results of the cases that ran (theirs now, not the scheduler's). */
static int scheduler_keep(struct scheduler *s)
{
	s->run->results = calloc(s->chosen + 1, sizeof(*s->run->results));
	if (!s->run->results)
		return EXIT_HARNESS;
	for (size_t i = 0; i < s->n; i++) {
		if (!s->plans[i].selected)
			continue;
		s->run->results[s->run->n_results++] = s->results[i];
		s->results[i].detail = NULL;
		s->results[i].expectation = NULL;
	}
	return 0;
}

/* --update-expect once the run is whole; the run's own exit code stands unless it fails. */
static int scheduler_update_expect(const struct scheduler *s, int code)
{
	bool *selected;
	int r;

	if (!s->opt->update_expect ||
	    (code != EXIT_ALL_AS_EXPECTED && code != EXIT_SOME_FAILED && code != EXIT_FLAKY))
		return code;
	selected = calloc(s->n + 1, sizeof(*selected));
	if (!selected)
		return EXIT_HARNESS;
	for (size_t i = 0; i < s->n; i++)
		selected[i] = s->plans[i].selected;
	r = expect_update_write(s->opt->update_expect, s->results, selected, s->n);
	free(selected);
	return r ? r : code;
}

int schedule_all(const struct options *opt, const struct corpus *corpus)
{
	return schedule_guest(opt, corpus, NULL);
}

int schedule_guest(const struct options *opt, const struct corpus *corpus, struct guest_run *run)
{
	struct report_run own_run = { 0 };
	struct report_run *identity = run ? &run->identity : &own_run;
	struct scheduler s = {
		.opt = opt,
		.corpus = corpus,
		.run = run,
	};
	int code;

	s.report = run ? run->report : &s.own_report;
	report_run_init(identity, opt->guest_text, opt->guest_command, opt->incus.image,
	                opt->fixtures, corpus);
	s.report->run = identity;
	code = scheduler_init(&s);

	if (code == 0)
		code = scheduler_open_report(&s);
	while (code == 0 && s.printed < s.chosen) {
		code = scheduler_start_ready(&s);
		if (code == 0)
			scheduler_print_ready(&s);
		if (code == 0 && s.active > 0)
			code = scheduler_collect(&s);
	}
	if (code == 0) {
		code = scheduler_code(&s);
		scheduler_report_end(&s);
		code = scheduler_update_expect(&s, code);
		if (run && scheduler_keep(&s) != 0)
			code = EXIT_HARNESS;
	}
	/* A lost report must not pass for a run that passed (or failed). */
	if (!run && report_finish(s.report) < 0 && code != EXIT_USAGE && code != EXIT_HARNESS)
		code = EXIT_REPORT_FAILED;
	scheduler_clear(&s);
	if (!run)
		report_run_clear(&own_run);
	return code;
}
