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
#include <dirent.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pikaci-contract.h"
#include "shared.h"
#include "sandbox.h"
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

/* Not a verdict: --out could not be written whole (the verdict is still printed on stderr). */
#define EXIT_OUT_FAILED 10

/* Bounds of the time options (README "Limits"). */
#define TIMEOUT_MAX 604800LL /* a week: --timeout, and the wait for a --request's timeout */
#define GRACE_MAX   3600.0

/* --request: a little over the contract's limit, so a guest's own too_large check is probed. */
#define REQUEST_FILE_MAX (PIKACI_REQUEST_MAX_BYTES * 2)

/* The files --out holds, and nothing else: an --out folder with other files is refused. */
#define VERDICT_NAME "verdict.json"

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
	"                       [--socket PATH | --url URL --cert FILE --key FILE [--ca FILE]\n"
	"                        | --remote NAME] [--instance-type T] [--target MEMBER]\n"
	"                       [--incus-isolation overlay|container]\n"
	"                       [--instance-config KEY=VALUE...]\n"
	"\n"
	"Runs one job through a guest as a CI host does: builds the version-2 request, delivers\n"
	"it to " PIKACI_REQUEST_PATH ", runs the guest (its output streams here),\n"
	"collects the four lifecycle files and decides from result.json.\n"
	"\n"
	"  --command CMD       the job's command (run as bash --noprofile --norc -lc CMD)\n"
	"  --timeout N         timeout_secs of the request, 1 to 604800 (default 3600)\n"
	"  --root              run_as_root true (default: the command runs as pikaci)\n"
	"  --request FILE      deliver FILE's bytes as they are instead of a request built from\n"
	"                      a job: replays a fixture, or probes how a guest rejects\n"
	"  --out DIR           collect the four files into DIR, plus verdict.json: written whole\n"
	"                      into a fresh sibling folder, then renamed over DIR, which must be\n"
	"                      missing, empty or an earlier --out (nothing else in it)\n"
	"  --grace S           how long past timeout_secs the host waits for the guest, 0 to\n"
	"                      3600 seconds (default 30)\n"
	"  --local GUEST       run GUEST, a guest executable, in a local sandbox (needs root)\n"
	"  --incus INSTANCE    run the image's guest in this running Incus instance\n"
	"  --incus-image ALIAS ... or in a fresh, unmodified view of this image: an overlay over\n"
	"                      an instance of it made for the run and deleted afterwards\n"
	"  --socket PATH       Incus's unix socket (default /var/lib/incus/unix.socket)\n"
	"  --url URL           or a remote Incus over HTTPS, with --cert, --key and --ca\n"
	"  --project NAME      the Incus project\n"
	PIKACI_INCUS_USAGE
	"  -h, --help, --version\n";
/* Apart: one string literal is at most 4095 bytes (-Werror=overlength-strings). */
static const char usage_status_text[] =
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
	" 10                   --out could not be written (the verdict is still printed)\n"
	" 77 cannot_sandbox    --local needs root (namespaces and an overlay mount)\n";
/* clang-format on */

/* --help: the text in its two strings. */
static void usage(void)
{
	fputs(usage_text, stdout);
	fputs(usage_status_text, stdout);
}

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
	OPT_INCUS_BASE, /* the Incus options: OPT_INCUS_BASE + 0 ... (transport.h), last */
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

static _Noreturn void version_print(void)
{
	printf("pikaci-host %s (request schema_version %d)\n", PIKACI_VERSION,
	       PIKACI_REQUEST_SCHEMA_VERSION);
	exit(0);
}

static int timeout_parse(const char *arg, struct host_options *opt)
{
	char *end;

	errno = 0;
	opt->timeout = strtoll(arg, &end, 10);
	if (end == arg || *end || errno || opt->timeout < 1 || opt->timeout > TIMEOUT_MAX) {
		fprintf(stderr,
		        "pikaci-host: --timeout takes whole seconds from 1 to %lld, not \"%s\"\n",
		        TIMEOUT_MAX, arg);
		return -EINVAL;
	}
	return 0;
}

static int grace_parse(const char *arg, struct host_options *opt)
{
	char *end;
	double grace;

	errno = 0;
	grace = strtod(arg, &end);
	if (end == arg || *end || errno || !isfinite(grace) || !(grace >= 0) || grace > GRACE_MAX) {
		fprintf(stderr, "pikaci-host: --grace takes seconds from 0 to %g, not \"%s\"\n",
		        GRACE_MAX, arg);
		return -EINVAL;
	}
	opt->grace = grace;
	return 0;
}

/* One option from getopt_long(): 0, or -EINVAL (said); --help and --version exit. */
static int option_set(struct host_options *opt, int c, const char *arg)
{
	switch (c) {
	case OPT_COMMAND:
		opt->command = arg;
		return 0;
	case OPT_REQUEST:
		opt->request = arg;
		return 0;
	case OPT_TIMEOUT:
		return timeout_parse(arg, opt);
	case OPT_ROOT:
		opt->root = true;
		return 0;
	case OPT_OUT:
		opt->out = arg;
		return 0;
	case OPT_GRACE:
		return grace_parse(arg, opt);
	case OPT_LOCAL:
		opt->local = arg;
		return 0;
	case OPT_INCUS:
		opt->instance = arg;
		return 0;
	case OPT_INCUS_IMAGE:
		opt->image = arg;
		return 0;
	case 'h':
		usage();
		exit(0);
	case OPT_VERSION:
		version_print();
	default:
		if (c >= OPT_INCUS_BASE && c < OPT_INCUS_BASE + _PIKACI_INCUS_OPTION_MAX) {
			pikaci_incus_option_set(&opt->incus, c - OPT_INCUS_BASE, arg);
			return 0;
		}
		return -EINVAL; /* getopt_long()'s '?' and ':' are said by option_problem() */
	}
}

/* The first word is not `run` (nor --help or --version): named. Always -EINVAL. */
static int subcommand_problem(int argc, char **argv)
{
	if (argc < 2)
		fprintf(stderr, "pikaci-host: no command given: pikaci-host run ...\n");
	else
		fprintf(stderr,
		        "pikaci-host: unknown command \"%s\" (the one command is run: "
		        "pikaci-host run OPTION...)\n",
		        argv[1]);
	return -EINVAL;
}

/* The options go together: a job or a request, one target, Incus options with Incus. */
static int options_check(struct host_options *opt)
{
	int targets = !!opt->local + !!opt->instance + !!opt->image;

	if (!opt->command == !opt->request) {
		fprintf(stderr,
		        "pikaci-host: --command is required (or --request FILE, not both)\n");
		return -EINVAL;
	}
	if (targets != 1) {
		fprintf(stderr,
		        "pikaci-host: give exactly one of --local, --incus and --incus-image\n");
		return -EINVAL;
	}
	if (opt->local && pikaci_incus_options_given(&opt->incus)) {
		const char *name = pikaci_incus_option_given_name(&opt->incus);
		/* These make a new instance: --incus (an existing one) refuses them too. */
		bool image_only = strcmp(name, "--instance-type") == 0 ||
		                  strcmp(name, "--image-server") == 0 ||
		                  strcmp(name, "--image-protocol") == 0 ||
		                  strcmp(name, "--target") == 0 ||
		                  strcmp(name, "--incus-isolation") == 0 ||
		                  strcmp(name, "--instance-config") == 0;

		fprintf(stderr, "pikaci-host: %s goes with %s\n", name,
		        image_only ? "--incus-image" : "--incus or --incus-image");
		return -EINVAL;
	}
	/* Before the check: --target and --instance-type do not go with an existing instance. */
	opt->incus.instance = opt->instance;
	opt->incus.image = opt->image;
	if (pikaci_incus_options_problem(&opt->incus)) {
		fprintf(stderr, "pikaci-host: %s\n", pikaci_incus_options_problem(&opt->incus));
		return -EINVAL;
	}
	return 0;
}

static int parse_options(int argc, char **argv, struct host_options *opt)
{
	int c, r;

	opt->timeout = 3600;
	opt->grace = 30;
	if (argc < 2 || strcmp(argv[1], "run") != 0) {
		if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
			usage();
			exit(0);
		}
		if (argc >= 2 && strcmp(argv[1], "--version") == 0)
			version_print();
		return subcommand_problem(argc, argv);
	}
	optind = 2;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
		r = c == '?' || c == ':' ? option_problem("pikaci-host", c, argv)
		                         : option_set(opt, c, optarg);
		if (r < 0)
			return r;
	}
	if (optind < argc) {
		fprintf(stderr, "pikaci-host: unexpected argument \"%s\"\n", argv[optind]);
		return -EINVAL;
	}
	return options_check(opt);
}

/* --request: the bytes as they are, up to REQUEST_FILE_MAX; a FIFO or device is refused. */
static int request_file_read(const char *path, char **ret_bytes, size_t *ret_length)
{
	int r = read_file(path, REQUEST_FILE_MAX, ret_bytes, ret_length);

	if (r < 0)
		fprintf(stderr, "pikaci-host: cannot read --request %s: %s\n", path,
		        r == -EFBIG ? "larger than 2 MiB" : read_file_error(r));
	return r;
}

/* --- Collecting into --out ---------------------------------------------------------------- */

/* The name of the collected file i in --out: the lifecycle file's own name. */
static const char *out_name(int i)
{
	return strrchr(pikaci_file_path((enum pikaci_file)i), '/') + 1;
}

static bool out_name_known(const char *name)
{
	if (strcmp(name, VERDICT_NAME) == 0)
		return true;
	for (int i = 0; i < _PIKACI_FILE_MAX; i++)
		if (strcmp(name, out_name(i)) == 0)
			return true;
	return false;
}

/*
 * Removes what an --out folder may hold, then the folder. Anything else in it (a user's own
 * file, a subfolder) is left, and the folder with it: -ENOTEMPTY.
 */
static int out_dir_remove(const char *dir)
{
	for (int i = -1; i < _PIKACI_FILE_MAX; i++) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/%s", dir, i < 0 ? VERDICT_NAME : out_name(i));
		if (unlink(path) < 0 && errno != ENOENT)
			return -errno;
	}
	return rmdir(dir) < 0 ? -errno : 0;
}

/*
 * --out can take this run's files: DIR is missing (its parent is where the fresh folder will
 * be made), or a folder holding only what an --out holds. Checked before the job starts, so a
 * long job's files have somewhere to go.
 */
static int out_dir_ready(const char *dir)
{
	struct dirent *entry;
	struct stat st;
	DIR *d;

	if (stat(dir, &st) < 0) {
		char parent[PATH_MAX], *slash;

		if (errno != ENOENT) {
			fprintf(stderr, "pikaci-host: --out %s: %s\n", dir, strerror(errno));
			return -errno;
		}
		snprintf(parent, sizeof(parent), "%s", dir);
		slash = strrchr(parent, '/');
		if (!slash)
			snprintf(parent, sizeof(parent), ".");
		else if (slash == parent)
			parent[1] = '\0';
		else
			*slash = '\0';
		if (access(parent, W_OK) < 0) {
			fprintf(stderr, "pikaci-host: --out: cannot create %s: %s\n", dir,
			        strerror(errno));
			return -errno;
		}
		return 0;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "pikaci-host: --out: %s is not a folder\n", dir);
		return -ENOTDIR;
	}
	d = opendir(dir);
	if (!d) {
		fprintf(stderr, "pikaci-host: --out %s: %s\n", dir, strerror(errno));
		return -errno;
	}
	while ((entry = readdir(d))) {
		if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
			continue;
		if (out_name_known(entry->d_name)) {
			if (fstatat(dirfd(d), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISREG(st.st_mode))
				continue;
			fprintf(stderr, "pikaci-host: --out: %s/%s is not a file of an --out\n",
			        dir, entry->d_name);
			closedir(d);
			return -ENOTEMPTY;
		}
		fprintf(stderr,
		        "pikaci-host: --out: %s holds \"%s\", which is no file of an --out: give a "
		        "missing, empty or earlier --out folder\n",
		        dir, entry->d_name);
		closedir(d);
		return -ENOTEMPTY;
	}
	closedir(d);
	return 0;
}

/* A file of this run, from its bytes, mode 0644 whatever the umask or the guest's mode was. */
static int save_file(const char *dir, const char *name, const char *bytes, size_t length)
{
	char path[PATH_MAX];
	int fd, r;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	r = write_all(fd, bytes, length);
	if (r == 0 && (fchmod(fd, 0644) < 0 || fsync(fd) < 0))
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

/*
 * --out describes this run and no other: every file is written into a fresh sibling folder
 * (DIR.XXXXXX), which then takes DIR's place in one rename (exchanged with an earlier --out,
 * which is then removed). A file the guest did not leave is absent, never an earlier run's.
 * On any failure DIR is left as it was and the fresh folder removed. 0 or the first error.
 */
static int save_collected(const char *out, const struct pikaci_exchange *x, const json_t *verdict)
{
	char dir[PATH_MAX], fresh[PATH_MAX + 16];
	const char *failed = NULL;
	char *text = NULL;
	size_t length;
	int r = 0;

	snprintf(dir, sizeof(dir), "%s", out);
	for (length = strlen(dir); length > 1 && dir[length - 1] == '/'; length--)
		dir[length - 1] = '\0';
	snprintf(fresh, sizeof(fresh), "%s.XXXXXX", dir);
	if (!mkdtemp(fresh)) {
		r = -errno;
		fprintf(stderr, "pikaci-host: --out: cannot create %s: %s\n", fresh, strerror(-r));
		return r;
	}
	for (int i = 0; r == 0 && i < _PIKACI_FILE_MAX; i++) {
		if (x && !x->files[i].error)
			r = save_file(fresh, out_name(i), x->files[i].bytes, x->files[i].length);
		failed = out_name(i);
	}
	if (r == 0) {
		text = json_dumps(verdict, JSON_INDENT(2));
		failed = VERDICT_NAME;
		if (!text)
			r = -ENOMEM;
	}
	if (r == 0) {
		length = strlen(text);
		text[length] = '\n';
		r = save_file(fresh, VERDICT_NAME, text, length + 1);
	}
	if (r == 0 && chmod(fresh, 0755) < 0)
		r = -errno;
	if (r == 0)
		failed = dir;
	if (r == 0 && renameat2(AT_FDCWD, fresh, AT_FDCWD, dir, RENAME_EXCHANGE) == 0) {
		/* fresh now names the earlier --out. */
		r = out_dir_remove(fresh);
		if (r < 0)
			fprintf(stderr, "pikaci-host: --out: the earlier %s is left as %s: %s\n",
			        dir, fresh, strerror(-r));
		r = 0;
		goto out;
	}
	if (r == 0 && errno != ENOENT) {
		/* No exchange here (an old kernel, a file system without it): clear, then rename.
		 */
		r = out_dir_remove(dir);
		if (r == -ENOENT)
			r = 0;
	}
	if (r == 0 && rename(fresh, dir) < 0)
		r = -errno;
	if (r < 0)
		out_dir_remove(fresh);
out:
	if (r < 0 && failed == dir)
		fprintf(stderr, "pikaci-host: --out: cannot put %s in place: %s\n", dir,
		        strerror(-r));
	else if (r < 0)
		fprintf(stderr, "pikaci-host: --out: cannot write %s into %s: %s\n", failed, fresh,
		        strerror(-r));
	free(text);
	return r;
}

/* --- Deciding ([D4]) ---------------------------------------------------------------------- */

struct decision {
	enum outcome outcome;
	int exit_code; /* the command's, when known; else -1 */
	char reason[64];
	char message[768];
};

static const char *file_bytes(const struct pikaci_exchange *x, enum pikaci_file file)
{
	return x->files[file].error ? NULL : x->files[file].bytes;
}

/*
 * The verdict's message: what the host saw, then the guest's message, or the guest's message
 * alone when it already starts with what the host would say (said once, not twice).
 */
static void decision_say(struct decision *d, const char *what, const char *message)
{
	if (!message)
		message = "";
	if (strncmp(message, what, strlen(what)) == 0)
		snprintf(d->message, sizeof(d->message), "%s", message);
	else
		snprintf(d->message, sizeof(d->message), "%s: %s", what, message);
}

/*
 * The verdict comes from result.json ([D4]), trusted only when the documents tell one story:
 * pikaci_story_parse() is the conformance runner's judge of the same agreement, so the host and
 * the runner cannot decide the same documents differently.
 */
static void decide(const struct pikaci_exchange *x, const struct pikaci_request *request,
                   double deadline, struct decision *d)
{
	const struct pikaci_transport_result *run = &x->run;
	const struct pikaci_documents documents = {
		.status = file_bytes(x, PIKACI_FILE_STATUS),
		.status_length = x->files[PIKACI_FILE_STATUS].length,
		.events = file_bytes(x, PIKACI_FILE_EVENTS),
		.events_length = x->files[PIKACI_FILE_EVENTS].length,
		.result = file_bytes(x, PIKACI_FILE_RESULT),
		.result_length = x->files[PIKACI_FILE_RESULT].length,
		.exit_code = run->signal ? -1 : run->exit_code,
		.request = request,
	};
	struct pikaci_story story;
	json_t *result = NULL;
	struct pikaci_error err;
	const char *message;

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
	d->exit_code = (int)json_integer_value(json_object_get(result, "exit_code"));
	message = json_string_value(json_object_get(result, "message"));

	/* The other documents must tell the same story, or the result cannot be trusted. */
	if (pikaci_story_parse(&documents, &story, &err) < 0) {
		d->outcome = OUTCOME_RESULT_INCONSISTENT;
		snprintf(d->message, sizeof(d->message), "[%s] %s", err.clause, err.text);
		goto out;
	}
	if (story.exit_code == 0) {
		d->outcome = OUTCOME_PASSED;
		snprintf(d->message, sizeof(d->message), "%s", message);
	} else if (story.rejected) {
		d->outcome = OUTCOME_REQUEST_REJECTED;
		snprintf(d->reason, sizeof(d->reason), "%s", story.reason);
		snprintf(d->message, sizeof(d->message), "the guest rejected the request%s%s%s: %s",
		         story.reason[0] ? " (" : "", story.reason, story.reason[0] ? ")" : "",
		         message);
	} else if (story.exit_code == PIKACI_EXIT_TIMEOUT) {
		d->outcome = OUTCOME_COMMAND_TIMED_OUT;
		decision_say(d, "the command timed out", message);
	} else {
		char what[64];

		d->outcome = OUTCOME_COMMAND_FAILED;
		snprintf(what, sizeof(what), "the command failed with exit code %d", d->exit_code);
		decision_say(d, what, message);
	}
out:
	json_decref(result);
}

/*
 * verdict.json: the outcome, the exit code, the message and the reason. The message and reason
 * quote the guest, so they are made valid UTF-8 here (cut on a character boundary, invalid
 * bytes replaced): a guest's bytes can never keep the verdict from being written. NULL only
 * when memory runs out.
 */
static json_t *verdict_json_new(struct decision *d, const char *transport)
{
	json_t *verdict;

	text_sanitize_in_place(d->message, sizeof(d->message));
	text_sanitize_in_place(d->reason, sizeof(d->reason));
	verdict =
	        json_pack("{s:s, s:i, s:s, s:s}", "outcome", outcome_name(d->outcome), "exit_code",
	                  d->exit_code, "message", d->message, "transport", transport);
	if (verdict && d->reason[0] &&
	    json_object_set_new(verdict, "reason", json_string(d->reason)) < 0) {
		json_decref(verdict);
		return NULL;
	}
	return verdict;
}

/* SIGINT/SIGTERM: no per-run sandbox folder, mount or process outlives the host. */
static void on_stop_signal(int sig)
{
	pikaci_sandbox_abandon_all();
	coverage_flush();
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * The request's bytes: --request's as they are (its valid timeout then sets the deadline), or
 * built from the job. OUTCOME_PASSED, or the exit code (said).
 */
static enum outcome request_prepare(struct host_options *opt, struct pikaci_request **ret_request,
                                    char **ret_bytes, size_t *ret_length)
{
	struct pikaci_error err;

	if (opt->request) {
		if (request_file_read(opt->request, ret_bytes, ret_length) < 0)
			return OUTCOME_USAGE;
		/* The deadline follows the request's own timeout when it has a valid one. */
		if (pikaci_request_parse(*ret_bytes, *ret_length, ret_request, NULL) == 0)
			opt->timeout = (*ret_request)->timeout_secs;
		return OUTCOME_PASSED;
	}
	/* [R7]: the request comes from the contract library: exactly four members. */
	if (pikaci_request_new(opt->command, opt->timeout, opt->root, ret_request, &err) < 0) {
		fprintf(stderr, "pikaci-host: cannot build the request: %s (%s)\n", err.text,
		        pikaci_reason_name(err.reason));
		return OUTCOME_USAGE;
	}
	*ret_bytes = pikaci_request_dump(*ret_request);
	if (!*ret_bytes)
		return OUTCOME_TRANSPORT_FAILED;
	*ret_length = strlen(*ret_bytes);
	return OUTCOME_PASSED;
}

/* The local sandbox or Incus: 0, or the error with errbuf saying why. */
static int transport_open(const struct host_options *opt, struct pikaci_transport **ret,
                          char *errbuf, size_t size)
{
	char **binds = NULL;
	int r;

	if (!opt->local)
		return pikaci_transport_incus_new(&opt->incus, ret, errbuf, size);
	/* PIKACI_SANDBOX_BIND: host folders bound read-write (the coverage lane's). */
	r = pikaci_sandbox_binds_split(getenv("PIKACI_SANDBOX_BIND"), &binds);
	if (r == 0)
		r = pikaci_transport_local_new(binds, ret, errbuf, size);
	else
		snprintf(errbuf, size, "out of memory");
	pikaci_sandbox_binds_free(binds);
	return r;
}

/* A run that never reached a verdict from the guest: the outcome and why. */
static void decision_failed(struct decision *d, enum outcome outcome, const char *why)
{
	d->outcome = outcome;
	d->exit_code = -1;
	snprintf(d->message, sizeof(d->message), "%s", why);
}

/*
 * Says the verdict and writes --out. A guest killed mid-run leaves files that describe no
 * finished run: not collected. Whether --out failed.
 */
static bool verdict_report(const struct host_options *opt, const struct pikaci_exchange *x,
                           struct decision *d)
{
	json_t *verdict = verdict_json_new(d, opt->local ? "local" : "incus");
	bool out_failed =
	        opt->out &&
	        (!verdict ||
	         save_collected(opt->out, x->run.out && d->outcome != OUTCOME_GUEST_HUNG ? x : NULL,
	                        verdict) < 0);

	fprintf(stderr, "pikaci-host: %s: %s\n", outcome_name(d->outcome), d->message);
	json_decref(verdict);
	return out_failed;
}

int main(int argc, char **argv)
{
	struct host_options opt = { 0 };
	struct pikaci_request *request = NULL;
	struct pikaci_transport *t = NULL;
	struct pikaci_exchange exchange = { 0 };
	struct decision d = { 0 };
	char **guest_argv = NULL, errbuf[512], *bytes = NULL;
	size_t length = 0;
	double deadline;
	bool out_failed = false;
	int r = 0, code;

	signal(SIGINT, on_stop_signal);
	signal(SIGTERM, on_stop_signal);

	if (parse_options(argc, argv, &opt) < 0) {
		fprintf(stderr, "Try 'pikaci-host --help' for more information.\n");
		return OUTCOME_USAGE;
	}
	/* A container made from the image is deleted even when the host is stopped. */
	if (opt.image && pikaci_incus_reaper_start(&opt.incus, errbuf, sizeof(errbuf)) < 0)
		fprintf(stderr, "pikaci-host: %s; a stopped run may leave its container\n", errbuf);
	/* A long job's files must have somewhere to go before the job starts. */
	if (opt.out && out_dir_ready(opt.out) < 0)
		return OUTCOME_USAGE;
	code = (int)request_prepare(&opt, &request, &bytes, &length);
	if (code != OUTCOME_PASSED)
		goto out_free;

	r = transport_open(&opt, &t, errbuf, sizeof(errbuf));
	if (r < 0) {
		/* Said once, by the verdict line. */
		decision_failed(&d,
		                r == -EPERM && opt.local ? OUTCOME_CANNOT_SANDBOX
		                                         : OUTCOME_TRANSPORT_FAILED,
		                errbuf);
		goto report;
	}
	/* [D2]: the guest at its contract path in an image, or the given one locally. */
	{
		char *guest[] = { (char *)(opt.local ? opt.local : PIKACI_GUEST_PATH) };

		r = pikaci_guest_argv_new(opt.local ? getenv("PIKACI_GUEST_WRAPPER") : NULL, guest,
		                          1, &guest_argv);
		if (r < 0)
			goto out;
	}
	/* [D5]: timeout_secs plus the grace margin, and not a second more. */
	deadline = (double)(opt.timeout < TIMEOUT_MAX ? opt.timeout : TIMEOUT_MAX) + opt.grace;
	r = pikaci_exchange(t, PIKACI_DELIVER_FILE, bytes, length, guest_argv, deadline,
	                    stream_output, NULL, &exchange);
	if (r < 0)
		decision_failed(&d, OUTCOME_TRANSPORT_FAILED, pikaci_transport_error(t));
	else
		decide(&exchange, request, deadline, &d);
report:
	out_failed = verdict_report(&opt, &exchange, &d);
out:
	code = r == -ENOMEM ? OUTCOME_TRANSPORT_FAILED : (int)d.outcome;
	if (out_failed) {
		fprintf(stderr, "pikaci-host: --out %s does not hold this run: exit %d\n", opt.out,
		        EXIT_OUT_FAILED);
		code = EXIT_OUT_FAILED;
	}
out_free:
	pikaci_exchange_clear(&exchange);
	pikaci_transport_free(t);
	pikaci_guest_argv_free(guest_argv);
	free(bytes);
	pikaci_request_free(request);
	return code;
}
