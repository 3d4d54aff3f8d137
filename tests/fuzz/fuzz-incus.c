/* SPDX-License-Identifier: MIT */
/*
 * fuzz-incus.c - the Incus REST response parser (src/host/incus-api.c) on arbitrary bodies: the
 * bytes a server, or anything answering on its socket, sends the host.
 *
 * Every input is parsed as a response; when it parses, its metadata is read as an operation,
 * both as an exec and not. Properties: the codes are the documented ones; a refusal says why
 * in valid UTF-8 (it may go into a verdict.json); a parsed response has the members its type
 * promises; nothing leaks.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "incus-api.h"

static void check_operation(const json_t *metadata, bool exec)
{
	struct pikaci_incus_operation op;
	char errbuf[256] = "";
	int r;

	memset(&op, 0x5a, sizeof(op));
	r = pikaci_incus_operation_parse(metadata, exec, &op, errbuf, sizeof(errbuf));
	FUZZ_CHECK(r == 0 || r == -EINPROGRESS || r == -EBADMSG || r == -ENOMEM);
	if (r < 0) {
		FUZZ_CHECK(fuzz_utf8_valid(errbuf, strlen(errbuf)));
		return;
	}
	FUZZ_CHECK(op.status_code >= 200);
	FUZZ_CHECK(op.status && op.err);
	FUZZ_CHECK(!exec || op.status_code != 200 || op.has_return);
	pikaci_incus_operation_clear(&op);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pikaci_incus_response response;
	char errbuf[256] = "";
	int r;

	memset(&response, 0x5a, sizeof(response));
	r = pikaci_incus_response_parse((const char *)data, size, &response, errbuf,
	                                sizeof(errbuf));
	FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -ENOMEM);
	if (r < 0) {
		FUZZ_CHECK(fuzz_utf8_valid(errbuf, strlen(errbuf)));
		return 0;
	}
	FUZZ_CHECK(response.error && response.operation);
	FUZZ_CHECK(response.type != PIKACI_INCUS_ASYNC || response.operation[0] != '\0');
	(void)pikaci_incus_response_failed(&response);
	(void)pikaci_incus_response_wait_timed_out(&response);
	if (response.metadata) {
		check_operation(response.metadata, false);
		check_operation(response.metadata, true);
	}
	pikaci_incus_response_clear(&response);
	return 0;
}
