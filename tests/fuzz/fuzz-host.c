/* SPDX-License-Identifier: MIT */
/*
 * fuzz-host.c - pikaci-host's verdict ([D4]: decide() and verdict.json, src/host/host.c) on
 * what a guest controls: its lifecycle files and its exit.
 *
 * host.c is compiled into this target with its main renamed, so its file-local decide() and
 * verdict_json_new() are the ones tested; the transports it would start are stubs that refuse.
 * The input is split on FUZZ_SEPARATOR into a control part and guest.log, status.json,
 * events.jsonl and result.json (a missing part: the file was not there).
 *
 * Properties: every outcome is one of the documented ones and passed only with exit code 0;
 * the verdict document is always built, its text valid UTF-8 that loads again.
 */
#include <stdint.h>

#include "fuzz.h"
#include "transport.h"

int pikaci_host_main(int argc, char **argv);

#define main pikaci_host_main
#include "host.c"
#undef main

int pikaci_transport_local_new(char *const *writable_binds, struct pikaci_transport **ret,
                               char *errbuf, size_t errsize)
{
	return error_format(errbuf, errsize, -ENOSYS, "no transport in the fuzz target");
}

int pikaci_transport_incus_new(const struct pikaci_incus_options *options,
                               struct pikaci_transport **ret, char *errbuf, size_t errsize)
{
	return error_format(errbuf, errsize, -ENOSYS, "no transport in the fuzz target");
}

int pikaci_incus_reaper_start(const struct pikaci_incus_options *options, char *errbuf,
                              size_t errsize)
{
	return error_format(errbuf, errsize, -ENOSYS, "no reaper in the fuzz target");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int exit_codes[] = { 0, 1, 2, 124, 42, -1 };
	struct fuzz_part parts[1 + _PIKACI_FILE_MAX];
	struct pikaci_exchange x = { 0 };
	struct decision d = { 0 };
	unsigned c = 0;
	json_t *verdict, *again;
	char *text;

	fuzz_split(data, size, parts, ELEMENTSOF(parts));
	if (parts[0].length)
		c = (unsigned char)parts[0].bytes[0];
	x.run.exit_code = exit_codes[c % ELEMENTSOF(exit_codes)];
	x.run.signal = x.run.exit_code < 0 ? 9 : 0;
	x.run.timed_out = (c & 0xf8) == 0xf8;
	for (int i = 0; i < _PIKACI_FILE_MAX; i++) {
		const struct fuzz_part *part = &parts[1 + i];

		x.files[i].error = part->bytes ? 0 : -ENOENT;
		if (part->bytes) {
			x.files[i].bytes = fuzz_part_dup(part);
			x.files[i].length = part->length;
		}
	}

	/* NULL: the host knows no request when it delivers --request bytes as they are. */
	decide(&x, NULL, 30, &d);
	FUZZ_CHECK(strcmp(outcome_name(d.outcome), "?") != 0);
	FUZZ_CHECK(d.outcome != OUTCOME_PASSED || (d.exit_code == 0 && x.run.exit_code == 0));
	FUZZ_CHECK(memchr(d.message, '\0', sizeof(d.message)) != NULL);
	verdict = verdict_json_new(&d, "local");
	FUZZ_CHECK(verdict != NULL);
	text = json_dumps(verdict, JSON_INDENT(2));
	FUZZ_CHECK(text != NULL && fuzz_utf8_valid(text, strlen(text)));
	again = json_loads(text, 0, NULL);
	FUZZ_CHECK(again != NULL && json_equal(again, verdict));
	json_decref(again);
	free(text);
	json_decref(verdict);
	pikaci_exchange_clear(&x);
	return 0;
}
