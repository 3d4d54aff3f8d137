/* SPDX-License-Identifier: MIT */
/*
 * parse.c - requests parsed and validated per second by pikaci_request_parse(), against bare
 * json_loadb() of the same bytes (flags 0, with an error struct as any caller passes), for a
 * small valid request, a ~100 KB command and three rejected inputs. Rounds of each alternate
 * (ABAB...); the rate of a round is calls over the CPU time the thread spent on them.
 *
 * Beside it, callgrind's instruction count per call, which a noisy machine does not change:
 * this program runs itself under valgrind with collection switched on only inside the loop.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "pikaci-contract.h"

/* Iterations callgrind counts; the large input runs fewer. */
#define CALLGRIND_CALLS       200
#define CALLGRIND_CALLS_LARGE 20
#define LARGE_COMMAND_BYTES   (100 * 1024)

struct input {
	const char *name;
	const char *label;
	const char *text;          /* NULL: the large command, built at run time */
	enum pikaci_reason reason; /* what parsing must say: NONE for valid */
};

static const struct input inputs[] = {
	{ "small", "small valid request",
	  "{\"schema_version\":2,\"command\":\"cargo test --workspace --locked\","
	  "\"timeout_secs\":3600,\"run_as_root\":false}",
	  PIKACI_REASON_NONE },
	{ "large", "valid, ~100 KB command", NULL, PIKACI_REASON_NONE },
	{ "v1", "rejected: a version-1 payload",
	  "{\"schema_version\":1,\"command\":\"cargo test --workspace --locked\","
	  "\"timeout_secs\":3600,\"run_as_root\":false,\"workspace_dir\":\"/workspace/snapshot\","
	  "\"cargo_home_dir\":\"/cargo-home\",\"target_dir\":\"/cargo-target\","
	  "\"xdg_state_home_dir\":\"/run/pika-cloud/xdg-state\",\"home_dir\":\"/root\"}",
	  PIKACI_REASON_UNSUPPORTED_SCHEMA_VERSION },
	{ "stray", "rejected: a stray field",
	  "{\"schema_version\":2,\"command\":\"cargo test --workspace --locked\","
	  "\"timeout_secs\":3600,\"run_as_root\":false,\"workspace_dir\":\"/workspace/snapshot\"}",
	  PIKACI_REASON_UNKNOWN_FIELD },
	{ "invalid", "rejected: invalid JSON",
	  "{\"schema_version\":2,\"command\":\"cargo test --workspace --locked\","
	  "\"timeout_secs\":3600,\"run_as_root\":fals}",
	  PIKACI_REASON_INVALID_JSON },
};

#define N_INPUTS (sizeof(inputs) / sizeof(inputs[0]))

/* The bytes of an input; free() them. */
static char *input_bytes(const struct input *in, size_t *ret_length)
{
	static const char head[] =
	        "{\"schema_version\":2,\"timeout_secs\":3600,\"run_as_root\":true,\"command\":\"";
	static const char step[] = "cargo test -p crate-%04d --locked && ";
	char *bytes;
	size_t length;

	if (in->text) {
		bytes = strdup(in->text);
		*ret_length = bytes ? strlen(bytes) : 0;
		return bytes;
	}
	bytes = malloc(LARGE_COMMAND_BYTES + 256);
	if (!bytes)
		return NULL;
	length = (size_t)sprintf(bytes, "%s", head);
	for (int i = 0; length < LARGE_COMMAND_BYTES; i++)
		length += (size_t)sprintf(bytes + length, step, i);
	length += (size_t)sprintf(bytes + length, "true\"}");
	*ret_length = length;
	return bytes;
}

/* Kept out of line and unrenamed: callgrind switches collection on by these names. */
__attribute__((noinline, noclone)) static void bench_loop_parse(const char *bytes, size_t length,
                                                                long calls)
{
	for (long i = 0; i < calls; i++) {
		struct pikaci_request *request = NULL;
		struct pikaci_error err;

		pikaci_request_parse(bytes, length, &request, &err);
		pikaci_request_free(request);
	}
}

__attribute__((noinline, noclone)) static void bench_loop_load(const char *bytes, size_t length,
                                                               long calls)
{
	for (long i = 0; i < calls; i++) {
		json_error_t jerr;

		json_decref(json_loadb(bytes, length, 0, &jerr));
	}
}

typedef void (*loop_fn)(const char *bytes, size_t length, long calls);

/*
 * This thread's CPU time: on a shared machine, other processes then only cost cache misses,
 * not whole rounds of preemption. (The wall-clock rate is kept in the details.)
 */
static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Calls per CPU second of one round; its rate per wall second into *ret_wall_rate. */
static double round_rate(loop_fn loop, const char *bytes, size_t length, long calls,
                         double *ret_wall_rate)
{
	double started = cpu_now(), wall = bench_now();

	loop(bytes, length, calls);
	*ret_wall_rate = (double)calls / (bench_now() - wall);
	return (double)calls / (cpu_now() - started);
}

/* How many calls fill a round. */
static long calibrate(loop_fn loop, const char *bytes, size_t length, double seconds)
{
	long calls = 1;

	for (;;) {
		double started = cpu_now(), took;

		loop(bytes, length, calls);
		took = cpu_now() - started;
		if (took >= seconds / 4 || calls > (1L << 30))
			return (long)((double)calls * seconds / (took > 0 ? took : 1e-9)) + 1;
		calls *= 4;
	}
}

/* Instructions per call as callgrind counts them, or NAN. */
static double callgrind_count(const struct bench *b, const char *input, const char *function,
                              long calls)
{
	char out[] = "/tmp/pikaci-bench-callgrind.XXXXXX";
	char toggle[64], out_arg[64], calls_text[32], line[256];
	double total = NAN;
	FILE *in;
	int fd, status;

	fd = mkstemp(out);
	if (fd < 0)
		return NAN;
	close(fd);
	snprintf(toggle, sizeof(toggle), "--toggle-collect=bench_loop_%s", function);
	snprintf(out_arg, sizeof(out_arg), "--callgrind-out-file=%s", out);
	snprintf(calls_text, sizeof(calls_text), "%ld", calls);
	{
		char *argv[] = { "valgrind",
			         "--tool=callgrind",
			         "--collect-atstart=no",
			         toggle,
			         out_arg,
			         (char *)b->self,
			         "parse-loop",
			         (char *)input,
			         (char *)function,
			         calls_text,
			         NULL };

		status = bench_spawn(argv, true);
	}
	in = status == 0 ? fopen(out, "re") : NULL;
	while (in && fgets(line, sizeof(line), in))
		if (strncmp(line, "totals:", 7) == 0 || strncmp(line, "summary:", 8) == 0)
			total = strtod(strchr(line, ':') + 1, NULL);
	if (in)
		fclose(in);
	unlink(out);
	return total / (double)calls;
}

int bench_parse_loop(int argc, char **argv)
{
	const struct input *in = NULL;
	size_t length;
	char *bytes;

	if (argc != 3) {
		fprintf(stderr, "usage: pikaci-bench parse-loop INPUT parse|load CALLS\n");
		return 2;
	}
	for (size_t i = 0; i < N_INPUTS; i++)
		if (strcmp(inputs[i].name, argv[0]) == 0)
			in = &inputs[i];
	if (!in)
		return 2;
	bytes = input_bytes(in, &length);
	if (!bytes)
		return 1;
	/* One call outside the count: jansson seeds its hash function on first use. */
	bench_loop_parse(bytes, length, 1);
	bench_loop_load(bytes, length, 1);
	if (strcmp(argv[1], "parse") == 0)
		bench_loop_parse(bytes, length, atol(argv[2]));
	else
		bench_loop_load(bytes, length, atol(argv[2]));
	free(bytes);
	return 0;
}

/* The input gives the outcome the contract says; anything else makes the figures moot. */
static int input_check(const struct input *in, const char *bytes, size_t length)
{
	struct pikaci_request *request = NULL;
	struct pikaci_error err = { 0 };
	int r = pikaci_request_parse(bytes, length, &request, &err);

	pikaci_request_free(request);
	if ((in->reason == PIKACI_REASON_NONE) != (r == 0) || (r < 0 && err.reason != in->reason)) {
		fprintf(stderr, "pikaci-bench: input %s parsed as %s, not %s\n", in->name,
		        r == 0 ? "valid" : pikaci_reason_name(err.reason),
		        pikaci_reason_name(in->reason));
		return -EINVAL;
	}
	return 0;
}

int bench_parse(struct bench *b)
{
	json_t *details = bench_details(b, "parse");
	bool have_valgrind = bench_spawn((char *[]){ "valgrind", "--version", NULL }, true) == 0;
	double started = bench_now();

	printf("validation throughput: %zu inputs, %d rounds each way%s...\n", N_INPUTS,
	       b->parse_rounds, have_valgrind ? ", then callgrind" : "");
	fflush(stdout);
	for (size_t i = 0; i < N_INPUTS; i++) {
		const struct input *in = &inputs[i];
		struct samples parse = { 0 }, load = { 0 }, parse_wall = { 0 }, load_wall = { 0 },
		               pair = { 0 };
		char name[96], goal_name[96];
		size_t length;
		char *bytes = input_bytes(in, &length);
		long parse_calls, load_calls;
		double ratio, ir_parse = NAN, ir_load = NAN, ir_ratio;

		if (!bytes || input_check(in, bytes, length) < 0) {
			free(bytes);
			return -1;
		}
		parse_calls = calibrate(bench_loop_parse, bytes, length, b->parse_round_seconds);
		load_calls = calibrate(bench_loop_load, bytes, length, b->parse_round_seconds);
		for (int round = 0; round < b->parse_rounds; round++) {
			double p, l, p_wall, l_wall;

			/* ABAB, then BABA: neither side always runs on a cache the other warmed. */
			if (round % 2 == 0) {
				p = round_rate(bench_loop_parse, bytes, length, parse_calls,
				               &p_wall);
				l = round_rate(bench_loop_load, bytes, length, load_calls, &l_wall);
			} else {
				l = round_rate(bench_loop_load, bytes, length, load_calls, &l_wall);
				p = round_rate(bench_loop_parse, bytes, length, parse_calls,
				               &p_wall);
			}
			samples_add(&parse, p);
			samples_add(&load, l);
			samples_add(&parse_wall, p_wall);
			samples_add(&load_wall, l_wall);
			samples_add(&pair, p / l);
		}
		ratio = samples_median(&parse) / samples_median(&load);
		snprintf(name, sizeof(name), "parse: %s", in->label);
		bench_row_samples(b, name, "k/cpu-s", &parse, 1e-3, ratio, ">= 0.8x",
		                  ratio >= 0.8 ? GOAL_MET : GOAL_MISSED);
		snprintf(name, sizeof(name), "  json_loadb alone (%zu bytes)", length);
		bench_row_samples(b, name, "k/cpu-s", &load, 1e-3, NAN, NULL, GOAL_NONE);

		if (have_valgrind) {
			long calls = in->text ? CALLGRIND_CALLS : CALLGRIND_CALLS_LARGE;

			ir_parse = callgrind_count(b, in->name, "parse", calls);
			ir_load = callgrind_count(b, in->name, "load", calls);
		}
		/* Oriented like the throughput: json_loadb's instructions over parsing's. */
		ir_ratio = ir_load / ir_parse;
		snprintf(goal_name, sizeof(goal_name), "  callgrind: parse, instr/call");
		bench_row(b, goal_name, "Ir", ir_parse, ir_parse, ir_parse, ir_ratio, ">= 0.8x",
		          isnan(ir_ratio)   ? GOAL_NONE
		          : ir_ratio >= 0.8 ? GOAL_MET
		                            : GOAL_MISSED);
		bench_row(b, "  callgrind: json_loadb, instr/call", "Ir", ir_load, ir_load, ir_load,
		          NAN, NULL, GOAL_NONE);

		json_object_set_new(
		        details, in->name,
		        json_pack("{s:s, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:f, s:f, s:o, s:o}",
		                  "input", in->label, "bytes", (json_int_t)length,
		                  "parse_calls_per_round", (json_int_t)parse_calls,
		                  "load_calls_per_round", (json_int_t)load_calls,
		                  "parse_per_cpu_second", samples_json(&parse, 1),
		                  "load_per_cpu_second", samples_json(&load, 1),
		                  "parse_per_wall_second", samples_json(&parse_wall, 1),
		                  "load_per_wall_second", samples_json(&load_wall, 1), "ratio",
		                  ratio, "paired_ratio_median", samples_median(&pair),
		                  "callgrind_parse_ir",
		                  isnan(ir_parse) ? json_null() : json_real(ir_parse),
		                  "callgrind_load_ir",
		                  isnan(ir_load) ? json_null() : json_real(ir_load)));
		samples_clear(&parse_wall);
		samples_clear(&load_wall);
		samples_clear(&pair);
		samples_clear(&parse);
		samples_clear(&load);
		free(bytes);
	}
	json_object_set_new(details, "seconds", json_real(bench_now() - started));
	return 0;
}
