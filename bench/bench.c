/* SPDX-License-Identifier: MIT */
/*
 * pikaci-bench - the project's benchmarks: guest overhead, validation throughput, corpus time.
 *
 *   pikaci-bench [--build DIR] [--source DIR] [--output FILE] [--only guest|parse|corpus]...
 *
 * Prints one table (median, min, max, ratio, goal, met?) and writes it, with every sample and
 * the machine, to FILE as JSON. bench/run builds the project and runs this; see its header.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/magic.h>

#include "bench.h"

/* --- Samples ------------------------------------------------------------------------------ */

int samples_add(struct samples *s, double value)
{
	if (s->n == s->capacity) {
		size_t capacity = s->capacity ? s->capacity * 2 : 64;
		double *grown = realloc(s->values, capacity * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		s->values = grown;
		s->capacity = capacity;
	}
	s->values[s->n++] = value;
	return 0;
}

static int double_compare(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double samples_median(const struct samples *s)
{
	double *sorted, median;

	if (s->n == 0)
		return NAN;
	sorted = malloc(s->n * sizeof(*sorted));
	if (!sorted)
		return NAN;
	memcpy(sorted, s->values, s->n * sizeof(*sorted));
	qsort(sorted, s->n, sizeof(*sorted), double_compare);
	median = s->n % 2 ? sorted[s->n / 2] : (sorted[s->n / 2 - 1] + sorted[s->n / 2]) / 2;
	free(sorted);
	return median;
}

double samples_min(const struct samples *s)
{
	double min = s->n ? s->values[0] : NAN;

	for (size_t i = 1; i < s->n; i++)
		if (s->values[i] < min)
			min = s->values[i];
	return min;
}

double samples_max(const struct samples *s)
{
	double max = s->n ? s->values[0] : NAN;

	for (size_t i = 1; i < s->n; i++)
		if (s->values[i] > max)
			max = s->values[i];
	return max;
}

double samples_sum(const struct samples *s)
{
	double sum = 0;

	for (size_t i = 0; i < s->n; i++)
		sum += s->values[i];
	return sum;
}

void samples_clear(struct samples *s)
{
	free(s->values);
	memset(s, 0, sizeof(*s));
}

json_t *samples_json(const struct samples *s, double scale)
{
	json_t *array = json_array();

	for (size_t i = 0; array && i < s->n; i++)
		json_array_append_new(array, json_real(s->values[i] * scale));
	return array;
}

/* --- The table ---------------------------------------------------------------------------- */

static json_t *number_or_null(double value)
{
	return isfinite(value) ? json_real(value) : json_null();
}

void bench_row(struct bench *b, const char *name, const char *unit, double median, double min,
               double max, double ratio, const char *goal, enum goal_met met)
{
	json_t *row = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:s?}", "name", name, "unit", unit,
	                        "median", number_or_null(median), "min", number_or_null(min), "max",
	                        number_or_null(max), "ratio", number_or_null(ratio), "goal", goal);

	if (!row)
		return;
	json_object_set_new(row, "met",
	                    met == GOAL_NONE ? json_null() : json_boolean(met == GOAL_MET));
	json_array_append_new(b->rows, row);
}

void bench_row_samples(struct bench *b, const char *name, const char *unit, const struct samples *s,
                       double scale, double ratio, const char *goal, enum goal_met met)
{
	bench_row(b, name, unit, samples_median(s) * scale, samples_min(s) * scale,
	          samples_max(s) * scale, ratio, goal, met);
}

json_t *bench_details(struct bench *b, const char *section)
{
	json_t *object = json_object_get(b->details, section);

	if (!object) {
		object = json_object();
		json_object_set_new(b->details, section, object);
	}
	return object;
}

static void format_number(char *buffer, size_t size, json_t *value)
{
	double x;

	if (!json_is_number(value)) {
		snprintf(buffer, size, "-");
		return;
	}
	x = json_number_value(value);
	if (fabs(x) >= 10000)
		snprintf(buffer, size, "%.0f", x);
	else if (fabs(x) >= 100)
		snprintf(buffer, size, "%.1f", x);
	else
		snprintf(buffer, size, "%.3g", x);
}

static void table_print(const struct bench *b, FILE *out)
{
	size_t i;
	json_t *row;

	fprintf(out, "\n%-48s %-9s %9s %9s %9s %7s %-10s %s\n", "measure", "unit", "median", "min",
	        "max", "ratio", "goal", "met?");
	json_array_foreach(b->rows, i, row)
	{
		char median[32], min[32], max[32], ratio[32];
		json_t *met = json_object_get(row, "met");
		const char *goal = json_string_value(json_object_get(row, "goal"));

		format_number(median, sizeof(median), json_object_get(row, "median"));
		format_number(min, sizeof(min), json_object_get(row, "min"));
		format_number(max, sizeof(max), json_object_get(row, "max"));
		if (json_is_number(json_object_get(row, "ratio")))
			snprintf(ratio, sizeof(ratio), "%.2fx",
			         json_number_value(json_object_get(row, "ratio")));
		else
			snprintf(ratio, sizeof(ratio), "-");
		fprintf(out, "%-48s %-9s %9s %9s %9s %7s %-10s %s\n",
		        json_string_value(json_object_get(row, "name")),
		        json_string_value(json_object_get(row, "unit")), median, min, max, ratio,
		        goal ? goal : "-",
		        json_is_null(met)   ? "-"
		        : json_is_true(met) ? "yes"
		                            : "NO");
	}
}

/* --- The machine -------------------------------------------------------------------------- */

static void first_line_with(const char *path, const char *prefix, char *buffer, size_t size)
{
	FILE *in = fopen(path, "re");
	char line[512];

	snprintf(buffer, size, "unknown");
	if (!in)
		return;
	while (fgets(line, sizeof(line), in)) {
		if (strncmp(line, prefix, strlen(prefix)) == 0) {
			char *value = strchr(line, ':');

			if (value) {
				value += strspn(value + 1, " \t") + 1;
				value[strcspn(value, "\n")] = '\0';
				snprintf(buffer, size, "%s", value);
			}
			break;
		}
	}
	fclose(in);
}

static json_t *machine_json(void)
{
	char cpu[256], memory[64];
	struct utsname u;

	first_line_with("/proc/cpuinfo", "model name", cpu, sizeof(cpu));
	first_line_with("/proc/meminfo", "MemTotal", memory, sizeof(memory));
	uname(&u);
	return json_pack("{s:s, s:I, s:s, s:s}", "cpu", cpu, "cores",
	                 (json_int_t)sysconf(_SC_NPROCESSORS_ONLN), "kernel", u.release, "memory",
	                 memory);
}

/* The 1-minute load average: other work on the machine makes every figure noisier. */
static double load_average(void)
{
	double load = NAN;
	FILE *in = fopen("/proc/loadavg", "re");

	if (in) {
		if (fscanf(in, "%lf", &load) != 1)
			load = NAN;
		fclose(in);
	}
	return load;
}

/* --- Helpers the measurements share ------------------------------------------------------- */

double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int bench_spawn(char *const argv[], bool quiet)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (quiet) {
			int null = open("/dev/null", O_WRONLY);

			dup2(null, 1);
			dup2(null, 2);
		}
		execvp(argv[0], argv);
		fprintf(stderr, "pikaci-bench: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return status;
}

const char *bench_filesystem(const char *path)
{
	struct statfs st;

	if (statfs(path, &st) < 0)
		return "?";
	switch ((unsigned long)st.f_type) {
	case EXT4_SUPER_MAGIC:
		return "ext4";
	case TMPFS_MAGIC:
		return "tmpfs";
	case XFS_SUPER_MAGIC:
		return "xfs";
	case BTRFS_SUPER_MAGIC:
		return "btrfs";
	case OVERLAYFS_SUPER_MAGIC:
		return "overlay";
	}
	return "other";
}

/* --- main --------------------------------------------------------------------------------- */

static void usage(FILE *out)
{
	fprintf(out, "usage: pikaci-bench [--build DIR] [--source DIR] [--output FILE]\n"
	             "                    [--only guest|parse|corpus]... [--guest-runs N]\n"
	             "                    [--corpus-runs N] [--quick]\n");
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "build", required_argument, NULL, 'b' },
		{ "source", required_argument, NULL, 's' },
		{ "output", required_argument, NULL, 'o' },
		{ "only", required_argument, NULL, 'O' },
		{ "guest-runs", required_argument, NULL, 'g' },
		{ "corpus-runs", required_argument, NULL, 'c' },
		{ "quick", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct bench b = {
		.build_dir = "build",
		.source_dir = ".",
		.guest_runs = 200,
		.rss_runs = 20,
		.corpus_runs = 3,
		.parse_round_seconds = 0.01,
		.parse_rounds = 31,
	};
	bool only[3] = { false, false, false }, any_only = false;
	const char *output = NULL;
	json_t *results;
	ssize_t n;
	int c, code = 0;

	if (argc >= 2 && strcmp(argv[1], "rss-probe") == 0)
		return bench_rss_probe(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "in-sandbox") == 0)
		return bench_in_sandbox(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "parse-loop") == 0)
		return bench_parse_loop(argc - 2, argv + 2);

	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'b':
			b.build_dir = optarg;
			break;
		case 's':
			b.source_dir = optarg;
			break;
		case 'o':
			output = optarg;
			break;
		case 'O':
			any_only = true;
			if (strcmp(optarg, "guest") == 0)
				only[0] = true;
			else if (strcmp(optarg, "parse") == 0)
				only[1] = true;
			else if (strcmp(optarg, "corpus") == 0)
				only[2] = true;
			else {
				usage(stderr);
				return 2;
			}
			break;
		case 'g':
			b.guest_runs = atoi(optarg) > 0 ? atoi(optarg) : 1;
			break;
		case 'c':
			b.corpus_runs = atoi(optarg) > 0 ? atoi(optarg) : 1;
			break;
		case 'q':
			/* A smoke run of the benchmark itself: figures are not meaningful. */
			b.guest_runs = 10;
			b.rss_runs = 2;
			b.corpus_runs = 1;
			b.parse_rounds = 3;
			b.parse_round_seconds = 0.005;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!any_only)
		only[0] = only[1] = only[2] = true;

	n = readlink("/proc/self/exe", b.self, sizeof(b.self) - 1);
	if (n <= 0) {
		fprintf(stderr, "pikaci-bench: cannot find myself: %s\n", strerror(errno));
		return 99;
	}
	b.self[n] = '\0';
	{
		char *guest = NULL;

		if (asprintf(&guest, "%s/src/guest/pikaci-incus-run", b.build_dir) < 0 ||
		    !realpath(guest, b.guest)) {
			fprintf(stderr, "pikaci-bench: no guest in %s/src/guest: build first\n",
			        b.build_dir);
			free(guest);
			return 99;
		}
		free(guest);
	}
	{
		char *slash = strrchr(b.self, '/');

		snprintf(b.null_guest, sizeof(b.null_guest), "%.*s/pikaci-bench-null-guest",
		         slash ? (int)(slash - b.self) : 1, slash ? b.self : ".");
		if (access(b.null_guest, X_OK) < 0) {
			fprintf(stderr, "pikaci-bench: no %s: build first\n", b.null_guest);
			return 99;
		}
	}
	b.rows = json_array();
	b.details = json_object();
	results = json_pack("{s:o, s:O, s:O}", "machine", machine_json(), "rows", b.rows, "details",
	                    b.details);
	{
		json_t *m = json_object_get(results, "machine");

		printf("machine: %s, %lld cores, kernel %s, %s\n",
		       json_string_value(json_object_get(m, "cpu")),
		       (long long)json_integer_value(json_object_get(m, "cores")),
		       json_string_value(json_object_get(m, "kernel")),
		       json_string_value(json_object_get(m, "memory")));
	}

	if (load_average() > 1.0)
		printf("warning: the load average is %.2f: other work on this machine makes the "
		       "figures noisier (the ratios less so)\n",
		       load_average());
	{
		static const char *const names[] = { "guest", "parse", "corpus" };
		int (*const sections[])(struct bench *) = { bench_guest, bench_parse,
			                                    bench_corpus };

		for (int i = 0; i < 3; i++) {
			double before = load_average();

			if (!only[i])
				continue;
			if (sections[i](&b) < 0)
				code = 1;
			json_object_set_new(
			        bench_details(&b, names[i]), "load_average",
			        json_pack("{s:f, s:f}", "before", before, "after", load_average()));
		}
	}

	table_print(&b, stdout);
	if (output) {
		if (json_dump_file(results, output, JSON_INDENT(2) | JSON_REAL_PRECISION(6)) < 0) {
			fprintf(stderr, "pikaci-bench: cannot write %s\n", output);
			code = 1;
		} else {
			printf("\nwrote %s\n", output);
		}
	}
	json_decref(results);
	json_decref(b.rows);
	json_decref(b.details);
	return code;
}
