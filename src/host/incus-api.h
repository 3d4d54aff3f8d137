/* SPDX-License-Identifier: MIT */
/*
 * incus-api.h - the Incus REST API as data: response bodies in, request bodies and URLs out.
 *
 * Pure functions with no I/O, so that what the Incus transport relies on can be unit-tested
 * against recorded bodies. The transport (transport-incus.c) does the talking.
 *
 * Ownership: functions named _new return a new allocation (free()) or a new json_t reference
 * (json_decref()); _parse fills a caller's struct whose members it owns until _clear. Out
 * structs are untouched on failure. Errors are negative codes with a sentence in errbuf.
 */
#ifndef PIKACI_INCUS_API_H
#define PIKACI_INCUS_API_H

#include <errno.h> /* the negative codes functions return */
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* The three kinds of body every Incus endpoint (but file and log downloads) answers with. */
enum pikaci_incus_type {
	PIKACI_INCUS_SYNC,
	PIKACI_INCUS_ASYNC,
	PIKACI_INCUS_ERROR,
};

struct pikaci_incus_response {
	enum pikaci_incus_type type;
	int status_code;  /* 200 for sync, 100 (operation created) for async, 0 for error */
	int error_code;   /* the HTTP-like code of an error body (it may come with HTTP 200) */
	char *error;      /* the error text; "" when none */
	char *operation;  /* the operation's path of an async body; "" when none */
	json_t *metadata; /* new reference; NULL when absent or null */
};

/*
 * Parses a response body. Requires a JSON object with a known "type"; an async body needs a
 * non-empty "operation", an error body "error_code" and "error"; members present must have
 * the right types. -EBADMSG (errbuf says why) when the body is not such a document.
 */
int pikaci_incus_response_parse(const char *body, size_t length,
                                struct pikaci_incus_response *ret_response, char *errbuf,
                                size_t errsize);
void pikaci_incus_response_clear(struct pikaci_incus_response *response);

/* An error body, or one that can only mean the daemon refused (error_code set). */
bool pikaci_incus_response_failed(const struct pikaci_incus_response *response);
/* /wait's error body for "the operation is still running when the wait timed out". */
bool pikaci_incus_response_wait_timed_out(const struct pikaci_incus_response *response);

/*
 * One header line of a file answer (any bytes, as libcurl hands them over, no NUL needed):
 * when it is "X-Incus-Type: VALUE", VALUE ("file", "directory", "symlink") into ret_type, cut
 * to fit and NUL-terminated, and true; false for any other line (ret_type untouched).
 * With pikaci_incus_response_parse() and pikaci_incus_operation_parse() this is everything
 * the transport reads from the server: the entry points for fuzzing.
 */
bool pikaci_incus_file_type_parse(const char *line, size_t length, char *ret_type, size_t size);

/* What a finished operation says; for an exec (CONTRACT §1 [D2]) its result too. */
struct pikaci_incus_operation {
	int status_code;  /* the operation's: 200 success, 400 failure, 401 cancelled */
	char *status;     /* "Success", "Failure", ... */
	char *err;        /* the operation's own error text; "" when none */
	bool has_return;  /* metadata.return was there */
	int return_code;  /* the command's exit code (a non-zero exit is still a success) */
	char *stdout_log; /* metadata.output["1"], a path to GET then DELETE; NULL when none */
	char *stderr_log; /* metadata.output["2"] */
};

/*
 * Reads an operation object (the metadata of GET /1.0/operations/<id>[/wait]). Returns 0 for
 * a finished operation (status_code >= 200) with *ret_operation filled: the caller checks
 * status_code. With exec, a success must carry an integer "return". -EINPROGRESS while the
 * operation is pending or running, -EBADMSG when the object is not an operation.
 */
int pikaci_incus_operation_parse(const json_t *operation, bool exec,
                                 struct pikaci_incus_operation *ret_operation, char *errbuf,
                                 size_t errsize);
void pikaci_incus_operation_clear(struct pikaci_incus_operation *operation);

/*
 * URLs (paths on the server, to append to http://incus or https://host:port). Names and paths
 * are percent-escaped; project (NULL: none, the default project) is added as ?project= or
 * &project=. NULL when out of memory.
 */
/* "/1.0/instances/<instance><suffix>": suffix is literal ("", "/exec", "/state"). */
char *pikaci_incus_instance_url_new(const char *instance, const char *suffix, const char *project);
/* "/1.0/instances/<instance>/files?path=<path>". */
char *pikaci_incus_file_url_new(const char *instance, const char *path, const char *project);
/* A path as given (one Incus sent, such as an operation or a log), with the project added. */
char *pikaci_incus_url_new(const char *path, const char *project);
/* "<operation>/wait?timeout=<seconds>". */
char *pikaci_incus_wait_url_new(const char *operation, long seconds, const char *project);

/* Request bodies. */
/* {"name":..,"source":{"type":"image","alias":..},"start":true} */
json_t *pikaci_incus_create_request_new(const char *name, const char *alias);
/*
 * {"command":argv,"environment":{..},"wait-for-websocket":false,"record-output":true,
 * "interactive":false}; environment is NAME=VALUE strings, NULL-terminated. NULL when an
 * entry has no '=' or memory runs out.
 */
json_t *pikaci_incus_exec_request_new(char *const argv[], char *const environment[]);

/* --- Placement, image sources and virtual machines (issue 12) ------------------------------ */

/* Where a new instance's root comes from: an image alias, local or on an image server. */
struct pikaci_incus_source {
	const char *alias;    /* the image alias (or fingerprint) */
	const char *server;   /* NULL: the daemon's own images; else an image server's URL */
	const char *protocol; /* with server: "simplestreams" or "incus" */
};

/*
 * The create request: {"name":..,"type":..,"source":{"type":"image","alias":..},"start":true};
 * with a server, source also has "mode":"pull","server":..,"protocol":.. so the daemon pulls
 * the image and keeps it in its cache. type is "container" (NULL too) or "virtual-machine".
 * NULL when a member is missing or memory runs out.
 */
json_t *pikaci_incus_instance_request_new(const char *name, const char *type,
                                          const struct pikaci_incus_source *source);
/*
 * Adds "config":{KEY:VALUE,...} to a create request from n words KEY=VALUE (--instance-config,
 * as `incus launch -c`; a later KEY wins). 0, -EINVAL for a word without '=', -ENOMEM.
 */
int pikaci_incus_instance_request_config(json_t *request, const char *const config[], size_t n);
/* "/1.0/instances", with ?project= and &target= (a cluster member or "@group") when given. */
char *pikaci_incus_create_url_new(const char *project, const char *target);

/*
 * Whether a virtual machine's Incus agent answers, from the metadata of GET
 * /1.0/instances/<name>/state: its "processes" count is above 0 once the agent runs (-1 before;
 * how `incus wait NAME agent` decides). 1 ready, 0 not yet (*ret_status, borrowed from state,
 * says the instance's status: "Running", "Stopped", ...), -EBADMSG when state is not an
 * instance state.
 */
int pikaci_incus_agent_ready_parse(const json_t *state, const char **ret_status);

#endif
