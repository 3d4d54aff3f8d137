/* SPDX-License-Identifier: MIT */
/*
 * pikaci-host - the reference host of the run contract, version 2.
 *
 *   pikaci-host run --command CMD [--timeout N] [--root] [--out DIR] [--grace S]
 *                   (--local GUEST | --incus INSTANCE | --incus-image ALIAS)
 *                   [--socket PATH | --url URL --cert FILE --key FILE [--ca FILE]]
 *
 * Builds the request from the job with exactly the four members of version 2 ([R7]), delivers
 * it ([D1]), runs the guest and streams its output ([D2]), waits at most timeout_secs plus a
 * grace margin ([D5]), collects the four files ([D3]) and decides from result.json ([D4]).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pikaci-contract.h"
#include "transport.h"

/* What the host concluded, each with its own exit code (documented in --help and README). */
enum outcome {
	OUTCOME_PASSED = 0,
	OUTCOME_COMMAND_FAILED = 1,
	OUTCOME_USAGE = 2,
	OUTCOME_COMMAND_TIMED_OUT = 3,
	OUTCOME_REQUEST_REJECTED = 4,
	OUTCOME_GUEST_HUNG = 5,
	OUTCOME_RESULT_MISSING = 6,
	OUTCOME_RESULT_INVALID = 7,
	OUTCOME_RESULT_INCONSISTENT = 8,
	OUTCOME_TRANSPORT_FAILED = 9,
	OUTCOME_CANNOT_SANDBOX = 77,
};

static const char *outcome_name(enum outcome outcome)
{
	switch (outcome) {
	case OUTCOME_PASSED:
		return "passed";
	case OUTCOME_COMMAND_FAILED:
		return "command_failed";
	case OUTCOME_USAGE:
		return "usage_error";
	case OUTCOME_COMMAND_TIMED_OUT:
		return "command_timed_out";
	case OUTCOME_REQUEST_REJECTED:
		return "request_rejected";
	case OUTCOME_GUEST_HUNG:
		return "guest_hung";
	case OUTCOME_RESULT_MISSING:
		return "result_missing";
	case OUTCOME_RESULT_INVALID:
		return "result_invalid";
	case OUTCOME_RESULT_INCONSISTENT:
		return "result_inconsistent";
	case OUTCOME_TRANSPORT_FAILED:
		return "transport_failed";
	case OUTCOME_CANNOT_SANDBOX:
		return "cannot_sandbox";
	}
	return "?";
}

/* clang-format off */
static const char usage_text[] =
	"usage: pikaci-host run (--command CMD [--timeout N] [--root] | --request FILE)\n"
	"                       [--out DIR] [--grace S]\n"
	"                       (--local GUEST | --incus INSTANCE | --incus-image ALIAS)\n"
	"                       [--socket PATH | --url URL --cert FILE --key FILE [--ca FILE]]\n"
	"\n"
	"Runs one job through a guest as a CI host does: builds the version-2 request, delivers\n"
	"it to " PIKACI_REQUEST_PATH ", runs the guest (its output streams here),\n"
	"collects the four lifecycle files and decides from result.json.\n"
	"\n"
	"  --command CMD       the job's command (run as bash --noprofile --norc -lc CMD)\n"
	"  --timeout N         timeout_secs of the request (default 3600)\n"
	"  --root              run_as_root true (default: the command runs as pikaci)\n"
	"  --request FILE      deliver FILE's bytes as they are instead of a request built from\n"
	"                      a job: replays a fixture, or probes how a guest rejects\n"
	"  --out DIR           collect the four files into DIR (made if missing), plus verdict.json\n"
	"  --grace S           how long past timeout_secs the host waits for the guest (default 30)\n"
	"  --local GUEST       run GUEST, a guest executable, in a local sandbox (needs root)\n"
	"  --incus INSTANCE    run the image's guest in this running Incus instance\n"
	"  --incus-image ALIAS ... or in a fresh container from this image, deleted afterwards\n"
	"  --socket PATH       Incus's unix socket (default /var/lib/incus/unix.socket)\n"
	"  --url URL           or a remote Incus over HTTPS, with --cert, --key and --ca\n"
	"  --project NAME      the Incus project\n"
	"  -h, --help, --version\n"
	"\n"
	"Exit status and verdicts:\n"
	"  0 passed            result.json: completed, exit code 0\n"
	"  1 command_failed    the command failed; its exit code is printed and in verdict.json\n"
	"  2 usage_error       bad arguments, e.g. a timeout the contract does not allow\n"
	"  3 command_timed_out the guest stopped the command at its timeout (exit code 124)\n"
	"  4 request_rejected  the guest rejected the request; its reason is printed\n"
	"  5 guest_hung        the guest was still running past timeout + grace and was killed\n"
	"  6 result_missing    the guest ended without result.json (it vanished or crashed)\n"
	"  7 result_invalid    result.json is torn or breaks the contract\n"
	"  8 result_inconsistent  result.json disagrees with status.json, the events or the exit\n"
	"  9 transport_failed  the request could not be delivered or the guest not run\n"
	" 77 cannot_sandbox    --local needs root (namespaces and an overlay mount)\n";
/* clang-format on */

struct host_options {
	const char *command;
	const char *request;
	long long timeout;
	bool root;
	const char *out;
	double grace;
	const char *local;
	const char *instance;
	const char *image;
	struct pikaci_incus_options incus;
};

static void stream_output(void *userdata, int stream, const char *bytes, size_t length)
{
	FILE *out = stream == 1 ? stdout : stderr;

	fwrite(bytes, 1, length, out);
	fflush(out);
}

static int parse_options(int argc, char **argv, struct host_options *opt)
{
	enum {
		OPT_COMMAND = 256,
		OPT_TIMEOUT,
		OPT_ROOT,
		OPT_OUT,
		OPT_GRACE,
		OPT_LOCAL,
		OPT_INCUS,
		OPT_INCUS_IMAGE,
		OPT_VERSION,
		OPT_REQUEST,
		OPT_INCUS_BASE, /* the connection options: OPT_INCUS_BASE + 0 ... + 5 */
	};
	static const struct option long_options[] = {
		{ "command", required_argument, NULL, OPT_COMMAND },
		{ "request", required_argument, NULL, OPT_REQUEST },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "root", no_argument, NULL, OPT_ROOT },
		{ "out", required_argument, NULL, OPT_OUT },
		{ "grace", required_argument, NULL, OPT_GRACE },
		{ "local", required_argument, NULL, OPT_LOCAL },
		{ "incus", required_argument, NULL, OPT_INCUS },
		{ "incus-image", required_argument, NULL, OPT_INCUS_IMAGE },
		PIKACI_INCUS_GETOPT(OPT_INCUS_BASE),
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ 0 },
	};
	char *end;
	int c, targets;

	opt->timeout = 3600;
	opt->grace = 30;
	if (argc < 2 || strcmp(argv[1], "run") != 0) {
		if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
			fputs(usage_text, stdout);
			exit(0);
		}
		if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
			printf("pikaci-host %s (request schema_version %d)\n", PIKACI_VERSION,
			       PIKACI_REQUEST_SCHEMA_VERSION);
			exit(0);
		}
		fputs(usage_text, stderr);
		return -EINVAL;
	}
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
		switch (c) {
		case OPT_COMMAND:
			opt->command = optarg;
			break;
		case OPT_REQUEST:
			opt->request = optarg;
			break;
		case OPT_TIMEOUT:
			errno = 0;
			opt->timeout = strtoll(optarg, &end, 10);
			if (*end || errno) {
				fprintf(stderr,
				        "pikaci-host: --timeout takes whole seconds, not \"%s\"\n",
				        optarg);
				return -EINVAL;
			}
			break;
		case OPT_ROOT:
			opt->root = true;
			break;
		case OPT_OUT:
			opt->out = optarg;
			break;
		case OPT_GRACE:
			opt->grace = strtod(optarg, &end);
			if (*end || !(opt->grace >= 0)) {
				fprintf(stderr, "pikaci-host: --grace takes seconds\n");
				return -EINVAL;
			}
			break;
		case OPT_LOCAL:
			opt->local = optarg;
			break;
		case OPT_INCUS:
			opt->instance = optarg;
			break;
		case OPT_INCUS_IMAGE:
			opt->image = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		case OPT_VERSION:
			printf("pikaci-host %s (request schema_version %d)\n", PIKACI_VERSION,
			       PIKACI_REQUEST_SCHEMA_VERSION);
			exit(0);
		default:
			if (c >= OPT_INCUS_BASE && c < OPT_INCUS_BASE + _PIKACI_INCUS_OPTION_MAX) {
				pikaci_incus_option_set(&opt->incus, c - OPT_INCUS_BASE, optarg);
				break;
			}
			fputs(usage_text, stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pikaci-host: unexpected argument \"%s\"\n", argv[optind]);
		return -EINVAL;
	}
	if (!opt->command == !opt->request) {
		fprintf(stderr,
		        "pikaci-host: --command is required (or --request FILE, not both)\n");
		return -EINVAL;
	}
	targets = !!opt->local + !!opt->instance + !!opt->image;
	if (targets != 1) {
		fprintf(stderr,
		        "pikaci-host: give exactly one of --local, --incus and --incus-image\n");
		return -EINVAL;
	}
	if (opt->local && pikaci_incus_options_given(&opt->incus)) {
		fprintf(stderr, "pikaci-host: --socket and --url go with --incus\n");
		return -EINVAL;
	}
	if (pikaci_incus_options_problem(&opt->incus)) {
		fprintf(stderr, "pikaci-host: %s\n", pikaci_incus_options_problem(&opt->incus));
		return -EINVAL;
	}
	opt->incus.instance = opt->instance;
	opt->incus.image = opt->image;
	return 0;
}

/* --request: the bytes as they are, up to a little over the contract's limit. */
static int request_file_read(const char *path, char **ret_bytes, size_t *ret_length)
{
	size_t capacity = PIKACI_REQUEST_MAX_BYTES * 2, length = 0, n;
	char *bytes = malloc(capacity);
	FILE *in = fopen(path, "rbe");

	if (!bytes || !in) {
		fprintf(stderr, "pikaci-host: cannot read %s: %s\n", path, strerror(errno));
		free(bytes);
		if (in)
			fclose(in);
		return -errno;
	}
	while ((n = fread(bytes + length, 1, capacity - length, in)) > 0)
		length += n;
	fclose(in);
	*ret_bytes = bytes;
	*ret_length = length;
	return 0;
}

/* --- Collecting into --out ---------------------------------------------------------------- */

/* Each file appears whole or not at all: written aside, then renamed into place. */
static int save_file(const char *dir, const char *name, const char *bytes, size_t length)
{
	char path[PATH_MAX], temporary[PATH_MAX];
	int fd, r = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(temporary, sizeof(temporary), "%s/.%s.XXXXXX", dir, name);
	fd = mkostemp(temporary, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		fprintf(stderr, "pikaci-host: cannot write %s: %s\n", path, strerror(-r));
		return r;
	}
	while (length > 0 && r == 0) {
		ssize_t n = write(fd, bytes, length);

		if (n < 0 && errno != EINTR)
			r = -errno;
		if (n > 0) {
			bytes += n;
			length -= (size_t)n;
		}
	}
	if (r == 0 && (fchmod(fd, 0644) < 0 || fsync(fd) < 0))
		r = -errno;
	close(fd);
	if (r == 0 && rename(temporary, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(temporary);
		fprintf(stderr, "pikaci-host: cannot write %s: %s\n", path, strerror(-r));
	}
	return r;
}

/* --out exists (made if missing) and takes files; else says why. */
static int out_dir_ready(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "pikaci-host: --out: cannot create %s: %s\n", dir, strerror(errno));
		return -errno;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || access(dir, W_OK) < 0) {
		fprintf(stderr, "pikaci-host: --out: %s is not a folder this host can write to\n",
		        dir);
		return -ENOTDIR;
	}
	return 0;
}

static int save_collected(const char *dir, const struct pikaci_exchange *x, const json_t *verdict)
{
	char *text;
	int r = 0;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "pikaci-host: cannot create %s: %s\n", dir, strerror(errno));
		return -errno;
	}
	/* A file from an earlier run must not pass for this run's. */
	for (int i = 0; i < _PIKACI_FILE_MAX; i++) {
		const char *name = strrchr(pikaci_file_path((enum pikaci_file)i), '/') + 1;
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (x && !x->files[i].error)
			r |= save_file(dir, name, x->files[i].bytes, x->files[i].length);
		else
			unlink(path);
	}
	text = json_dumps(verdict, JSON_INDENT(2));
	if (text) {
		size_t length = strlen(text);

		text[length] = '\n';
		r |= save_file(dir, "verdict.json", text, length + 1);
		free(text);
	}
	return r;
}

/* --- Deciding ([D4]) ---------------------------------------------------------------------- */

struct decision {
	enum outcome outcome;
	int exit_code; /* the command's, when known; else -1 */
	char reason[64];
	char message[768];
};

static void decide(const struct pikaci_exchange *x, double deadline, struct decision *d)
{
	const struct pikaci_transport_result *run = &x->run;
	json_t *status = NULL, *events = NULL, *result = NULL;
	struct pikaci_error err;
	const char *result_status, *state, *last_kind, *message, *reason;
	const json_t *details;

	d->exit_code = -1;
	d->reason[0] = '\0';
	if (run->timed_out) {
		d->outcome = OUTCOME_GUEST_HUNG;
		snprintf(d->message, sizeof(d->message),
		         "the guest was still running %.0f s after it started (timeout_secs plus "
		         "the "
		         "grace margin) and was killed",
		         deadline);
		return;
	}
	if (x->files[PIKACI_FILE_RESULT].error) {
		d->outcome = OUTCOME_RESULT_MISSING;
		if (run->signal)
			snprintf(d->message, sizeof(d->message),
			         "the guest vanished: killed by signal %d before writing %s",
			         run->signal, PIKACI_RESULT_PATH);
		else
			snprintf(d->message, sizeof(d->message),
			         "the guest exited %d without a readable %s (%s)", run->exit_code,
			         PIKACI_RESULT_PATH, strerror(-x->files[PIKACI_FILE_RESULT].error));
		return;
	}
	if (pikaci_result_parse(x->files[PIKACI_FILE_RESULT].bytes,
	                        x->files[PIKACI_FILE_RESULT].length, &result, &err) < 0) {
		d->outcome = OUTCOME_RESULT_INVALID;
		snprintf(d->message, sizeof(d->message), "result.json is invalid (%s): %s",
		         pikaci_reason_name(err.reason), err.text);
		return;
	}
	result_status = json_string_value(json_object_get(result, "status"));
	d->exit_code = (int)json_integer_value(json_object_get(result, "exit_code"));
	message = json_string_value(json_object_get(result, "message"));
	details = json_object_get(result, "details");

	/* The other documents must tell the same story, or the result cannot be trusted. */
	d->outcome = OUTCOME_RESULT_INCONSISTENT;
	if (x->files[PIKACI_FILE_STATUS].error ||
	    pikaci_status_parse(x->files[PIKACI_FILE_STATUS].bytes,
	                        x->files[PIKACI_FILE_STATUS].length, &status, &err) < 0) {
		snprintf(d->message, sizeof(d->message), "status.json is %s%s",
		         x->files[PIKACI_FILE_STATUS].error ? "missing" : "invalid: ",
		         x->files[PIKACI_FILE_STATUS].error ? "" : err.text);
		goto out;
	}
	state = json_string_value(json_object_get(status, "state"));
	if (strcmp(state, result_status) != 0) {
		snprintf(d->message, sizeof(d->message),
		         "status.json says \"%s\" but result.json says \"%s\"", state,
		         result_status);
		goto out;
	}
	if (x->files[PIKACI_FILE_EVENTS].error ||
	    pikaci_events_parse(x->files[PIKACI_FILE_EVENTS].bytes,
	                        x->files[PIKACI_FILE_EVENTS].length, &events, &err) < 0) {
		snprintf(d->message, sizeof(d->message), "events.jsonl is %s%s",
		         x->files[PIKACI_FILE_EVENTS].error ? "missing" : "invalid: ",
		         x->files[PIKACI_FILE_EVENTS].error ? "" : err.text);
		goto out;
	}
	last_kind = json_string_value(
	        json_object_get(json_array_get(events, json_array_size(events) - 1), "kind"));
	if (strcmp(last_kind, result_status) != 0) {
		snprintf(d->message, sizeof(d->message),
		         "the last event says \"%s\" but result.json says \"%s\"", last_kind,
		         result_status);
		goto out;
	}
	if (run->exit_code != d->exit_code) {
		snprintf(d->message, sizeof(d->message),
		         "result.json says exit code %d but the guest exited %d", d->exit_code,
		         run->exit_code);
		goto out;
	}

	if (d->exit_code == 0) {
		d->outcome = OUTCOME_PASSED;
		snprintf(d->message, sizeof(d->message), "%s", message);
	} else if (d->exit_code == PIKACI_EXIT_TIMEOUT) {
		d->outcome = OUTCOME_COMMAND_TIMED_OUT;
		snprintf(d->message, sizeof(d->message), "the command timed out: %s", message);
	} else if (d->exit_code == PIKACI_EXIT_REJECTED &&
	           (json_object_get(details, "reason") ||
	            strncmp(message, PIKACI_BOOTSTRAP_FAILED, strlen(PIKACI_BOOTSTRAP_FAILED)) ==
	                    0)) {
		d->outcome = OUTCOME_REQUEST_REJECTED;
		reason = json_string_value(json_object_get(details, "reason"));
		snprintf(d->reason, sizeof(d->reason), "%s", reason ? reason : "");
		snprintf(d->message, sizeof(d->message), "the guest rejected the request%s%s%s: %s",
		         reason ? " (" : "", reason ? reason : "", reason ? ")" : "", message);
	} else {
		d->outcome = OUTCOME_COMMAND_FAILED;
		snprintf(d->message, sizeof(d->message), "the command failed with exit code %d: %s",
		         d->exit_code, message);
	}
out:
	json_decref(status);
	json_decref(events);
	json_decref(result);
}

int main(int argc, char **argv)
{
	struct host_options opt = { 0 };
	struct pikaci_request *request = NULL;
	struct pikaci_transport *t = NULL;
	struct pikaci_exchange exchange = { 0 };
	struct pikaci_error err;
	struct decision d = { 0 };
	char **guest_argv = NULL, errbuf[512], *bytes = NULL;
	size_t length = 0;
	const char *wrapper = getenv("PIKACI_GUEST_WRAPPER");
	double deadline;
	json_t *verdict = NULL;
	int r, code;

	if (parse_options(argc, argv, &opt) < 0)
		return OUTCOME_USAGE;
	/* A container made from the image is deleted even when the host is stopped. */
	if (opt.image && pikaci_incus_reaper_start(&opt.incus, errbuf, sizeof(errbuf)) < 0)
		fprintf(stderr, "pikaci-host: %s; a stopped run may leave its container\n", errbuf);
	/* A long job's files must have somewhere to go before the job starts. */
	if (opt.out && out_dir_ready(opt.out) < 0)
		return OUTCOME_USAGE;
	if (opt.request) {
		r = request_file_read(opt.request, &bytes, &length);
		if (r < 0)
			return OUTCOME_USAGE;
		/* The deadline follows the request's own timeout when it has a valid one. */
		if (pikaci_request_parse(bytes, length, &request, NULL) == 0)
			opt.timeout = request->timeout_secs;
	} else {
		/* [R7]: the request comes from the contract library: exactly four members. */
		if (pikaci_request_new(opt.command, opt.timeout, opt.root, &request, &err) < 0) {
			fprintf(stderr, "pikaci-host: cannot build the request: %s (%s)\n",
			        err.text, pikaci_reason_name(err.reason));
			return OUTCOME_USAGE;
		}
		bytes = pikaci_request_dump(request);
		if (!bytes) {
			pikaci_request_free(request);
			return OUTCOME_TRANSPORT_FAILED;
		}
		length = strlen(bytes);
	}

	if (opt.local)
		r = pikaci_transport_local_new(&t, errbuf, sizeof(errbuf));
	else
		r = pikaci_transport_incus_new(&opt.incus, &t, errbuf, sizeof(errbuf));
	if (r < 0) {
		fprintf(stderr, "pikaci-host: %s\n", errbuf);
		d.outcome = r == -EPERM && opt.local ? OUTCOME_CANNOT_SANDBOX
		                                     : OUTCOME_TRANSPORT_FAILED;
		snprintf(d.message, sizeof(d.message), "%s", errbuf);
		d.exit_code = -1;
		goto report;
	}

	/* [D2]: the guest at its contract path in an image, or the given one locally. */
	{
		size_t n = 0;

		guest_argv = calloc(64, sizeof(*guest_argv));
		if (!guest_argv) {
			r = -ENOMEM;
			goto out;
		}
		if (opt.local && wrapper) {
			char *copy = strdup(wrapper), *save = NULL;

			for (char *w = strtok_r(copy, " \t", &save); w && n < 60;
			     w = strtok_r(NULL, " \t", &save))
				guest_argv[n++] = strdup(w);
			free(copy);
		}
		guest_argv[n] = strdup(opt.local ? opt.local : PIKACI_GUEST_PATH);
	}
	/* [D5]: timeout_secs plus the grace margin, and not a second more. */
	deadline = (double)opt.timeout + opt.grace;
	r = pikaci_exchange(t, PIKACI_DELIVER_FILE, bytes, length, guest_argv, deadline,
	                    stream_output, NULL, &exchange);
	if (r < 0) {
		d.outcome = OUTCOME_TRANSPORT_FAILED;
		d.exit_code = -1;
		snprintf(d.message, sizeof(d.message), "%s", pikaci_transport_error(t));
		goto report;
	}
	decide(&exchange, deadline, &d);

report:
	verdict = json_pack("{s:s, s:i, s:s, s:s}", "outcome", outcome_name(d.outcome), "exit_code",
	                    d.exit_code, "message", d.message, "transport",
	                    opt.local ? "local" : "incus");
	if (verdict && d.reason[0])
		json_object_set_new(verdict, "reason", json_string(d.reason));
	/* A guest killed mid-run leaves files that describe no finished run: not collected. */
	if (verdict && opt.out)
		save_collected(opt.out,
		               exchange.run.out && d.outcome != OUTCOME_GUEST_HUNG ? &exchange
		                                                                   : NULL,
		               verdict);
	fprintf(stderr, "pikaci-host: %s: %s\n", outcome_name(d.outcome), d.message);
out:
	code = r == -ENOMEM ? OUTCOME_TRANSPORT_FAILED : (int)d.outcome;
	json_decref(verdict);
	pikaci_exchange_clear(&exchange);
	pikaci_transport_free(t);
	for (size_t i = 0; guest_argv && guest_argv[i]; i++)
		free(guest_argv[i]);
	free(guest_argv);
	free(bytes);
	pikaci_request_free(request);
	return code;
}
