/* SPDX-License-Identifier: MIT */
/*
 * pikaci-contract.h - the guest run contract, version 2, as a C library.
 *
 * This is the one public header of the contract library and the single place in C where the
 * contract's fixed paths, user and environment are written (CONTRACT.md §1 and §3).
 *
 * Ownership: functions named _new return a new reference or allocation owned by the caller;
 * _dump returns a malloc'd string the caller frees with free(); parameters documented as
 * "stolen" are owned by the callee afterwards, even on failure. Every _free accepts NULL.
 *
 * Errors: functions return 0 on success or a negative errno-style code (-EINVAL for input that
 * breaks the contract, -ENOMEM). On -EINVAL the caller's struct pikaci_error says why; ret_*
 * out-parameters are untouched on failure. The library performs no I/O and never logs.
 */
#ifndef PIKACI_CONTRACT_H
#define PIKACI_CONTRACT_H

#include <errno.h> /* the negative codes functions return */
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* --- Schema versions and limits (CONTRACT §2, §5) --------------------------------------- */

#define PIKACI_REQUEST_SCHEMA_VERSION   2
#define PIKACI_LIFECYCLE_SCHEMA_VERSION 1
/* [R5]: a request document over 1 MiB is rejected. */
#define PIKACI_REQUEST_MAX_BYTES (1024 * 1024)
/*
 * [R6]: the largest timeout_secs this implementation represents exactly. 2^53 - 1 is the
 * largest integer every JSON implementation holds exactly (I-JSON, RFC 7493), and seconds up to
 * it still add to a monotonic clock reading without overflow.
 */
#define PIKACI_TIMEOUT_SECS_MAX 9007199254740991LL
/*
 * The largest lifecycle document a reader takes (events.jsonl included): a run writes a few
 * hundred bytes, so anything near this is broken or hostile, and it bounds a reader's memory.
 */
#define PIKACI_LIFECYCLE_MAX_BYTES (64u << 20)

/* --- Fixed paths (CONTRACT §1, §3). Written here and nowhere else in C. ---------------- */

#define PIKACI_GUEST_PATH     "/run/current-system/sw/bin/pikaci-incus-run"
#define PIKACI_SYSTEM_BIN_DIR "/run/current-system/sw/bin"
#define PIKACI_SYSTEM_SW_DIR  "/run/current-system/sw"
#define PIKACI_STATE_DIR      "/run/pika-cloud"
#define PIKACI_REQUEST_PATH   "/run/pika-cloud/guest-request.json"
#define PIKACI_LOGS_DIR       "/run/pika-cloud/logs"
#define PIKACI_LOG_PATH       "/run/pika-cloud/logs/guest.log"
#define PIKACI_STATUS_PATH    "/run/pika-cloud/status.json"
#define PIKACI_EVENTS_PATH    "/run/pika-cloud/events.jsonl"
#define PIKACI_RESULT_PATH    "/run/pika-cloud/result.json"
#define PIKACI_ARTIFACTS_DIR  "/run/pika-cloud/artifacts"
#define PIKACI_WORKSPACE_DIR  "/workspace/snapshot"
#define PIKACI_CARGO_HOME     "/cargo-home"
#define PIKACI_CARGO_TARGET   "/cargo-target"
#define PIKACI_XDG_STATE_HOME "/run/pika-cloud/xdg-state"
#define PIKACI_XDG_CACHE_HOME "/cargo-home/xdg-cache"
#define PIKACI_ROOT_HOME      "/root"
#define PIKACI_USER_HOME      "/home/pikaci"
#define PIKACI_PGSHAREDIR     "/run/current-system/sw/share/postgresql"
#define PIKACI_SSL_CERT_FILE  "/etc/ssl/certs/ca-bundle.crt"

/* The user a command runs as when run_as_root is false. */
#define PIKACI_USER_NAME       "pikaci"
#define PIKACI_USER_UID        1000
#define PIKACI_USER_GID        100
#define PIKACI_USER_GROUP_NAME "users"

/* [X1]: the command runs as `bash --noprofile --norc -lc <command>`. */
#define PIKACI_SHELL      "bash"
#define PIKACI_SHELL_ARGS "--noprofile", "--norc", "-lc"
/* [X3]: the exit code reported for a command stopped at timeout_secs. */
#define PIKACI_EXIT_TIMEOUT 124
/* [X4], [X5]: the guest's exit code for a rejected request or a usage error. */
#define PIKACI_EXIT_REJECTED 2

/* [L1], [L6]: fixed texts of the log and of a rejection's message. */
#define PIKACI_LOG_BOOT_PREFIX    "[pikaci] incus guest booted at "
#define PIKACI_LOG_FAILURE_PREFIX "[pikaci] "
#define PIKACI_BOOTSTRAP_FAILED   "Incus guest bootstrap failed: "

/*
 * §3: the environment every command gets, besides HOME, USER and PATH (which depend on the
 * run). X(name, value) for each variable, in a fixed order.
 */
#define PIKACI_FIXED_ENVIRONMENT(X)                \
	X("CARGO_HOME", PIKACI_CARGO_HOME)         \
	X("CARGO_TARGET_DIR", PIKACI_CARGO_TARGET) \
	X("XDG_STATE_HOME", PIKACI_XDG_STATE_HOME) \
	X("XDG_CACHE_HOME", PIKACI_XDG_CACHE_HOME) \
	X("CARGO_TERM_COLOR", "never")             \
	X("CARGO_INCREMENTAL", "0")                \
	X("PGSYSCONFDIR", PIKACI_SYSTEM_SW_DIR)    \
	X("PGSHAREDIR", PIKACI_PGSHAREDIR)         \
	X("SSL_CERT_FILE", PIKACI_SSL_CERT_FILE)   \
	X("NIX_SSL_CERT_FILE", PIKACI_SSL_CERT_FILE)

/* --- Errors ------------------------------------------------------------------------------- */

/* Stable reason codes; pikaci_reason_name() gives the string used in reports and results. */
enum pikaci_reason {
	PIKACI_REASON_NONE = 0,
	PIKACI_REASON_UNSUPPORTED_SCHEMA_VERSION, /* "unsupported_schema_version" [R1] */
	PIKACI_REASON_UNKNOWN_FIELD,              /* "unknown_field" [R2] */
	PIKACI_REASON_MISSING_FIELD,              /* "missing_field" [R3] */
	PIKACI_REASON_INVALID_TYPE,               /* "invalid_type" [R3] */
	PIKACI_REASON_INVALID_VALUE,              /* "invalid_value" [R3] */
	PIKACI_REASON_DUPLICATE_FIELD,            /* "duplicate_field" [R4] */
	PIKACI_REASON_INVALID_JSON,               /* "invalid_json" [R5] */
	PIKACI_REASON_INVALID_UTF8,               /* "invalid_utf8" [R5] */
	PIKACI_REASON_NOT_AN_OBJECT,              /* "not_an_object" [R5] */
	PIKACI_REASON_EMPTY,                      /* "empty_input" [R5] */
	PIKACI_REASON_UNREADABLE,                 /* "unreadable" [R5], set by programs that read */
	PIKACI_REASON_TOO_LARGE,                  /* "too_large" [R5] document, [R6] timeout */
	PIKACI_REASON_INCONSISTENT,               /* "inconsistent" lifecycle documents disagree */
	_PIKACI_REASON_MAX,
};

#define PIKACI_ERROR_MEMBER_LENGTH 64
#define PIKACI_ERROR_TEXT_LENGTH   256

/*
 * Why an input was rejected. The first error wins. member is the JSON member concerned
 * ("" for the document as a whole), printable (other bytes escaped as \xNN) and truncated.
 * position is a byte offset into the input, or -1 when no single byte is to blame.
 */
struct pikaci_error {
	enum pikaci_reason reason;
	char member[PIKACI_ERROR_MEMBER_LENGTH];
	/* The contract clause broken ("L5"), where the function knows it; "" otherwise. */
	char clause[8];
	long long position;
	char text[PIKACI_ERROR_TEXT_LENGTH];
};

/* The reason's stable name, e.g. "unknown_field"; NULL for an out-of-range value. */
const char *pikaci_reason_name(enum pikaci_reason reason);
/* Looks a stable name up; -EINVAL when it names no reason. */
int pikaci_reason_parse(const char *name, enum pikaci_reason *ret_reason);
/* Fills *err (if not NULL) with reason, member (may be NULL) and a printf-style text. */
void pikaci_error_set(struct pikaci_error *err, enum pikaci_reason reason, const char *member,
                      long long position, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

/* --- The run request, schema_version 2 (CONTRACT §2) ------------------------------------ */

struct pikaci_request {
	int schema_version;     /* always PIKACI_REQUEST_SCHEMA_VERSION once validated */
	char *command;          /* non-empty, no NUL */
	long long timeout_secs; /* 1 .. PIKACI_TIMEOUT_SECS_MAX */
	bool run_as_root;
};

/*
 * Parses and validates request bytes exactly as delivered ([R1]-[R6]). The checks run in this
 * order and the first failure is reported: size, emptiness, byte order mark, UTF-8, JSON syntax
 * and duplicate members, top-level object, schema_version, unknown members, then each member
 * of the table (missing, type, range). On success *ret_request is new; free it with
 * pikaci_request_free().
 */
int pikaci_request_parse(const char *bytes, size_t length, struct pikaci_request **ret_request,
                         struct pikaci_error *err);
/* Validates an already-loaded document; fills *ret_request (if not NULL) on success. */
int pikaci_request_validate(const json_t *document, struct pikaci_request **ret_request,
                            struct pikaci_error *err);
/* Builds a request from a job; applies the same rules as parsing. */
int pikaci_request_new(const char *command, long long timeout_secs, bool run_as_root,
                       struct pikaci_request **ret_request, struct pikaci_error *err);
/* The request as compact JSON with exactly the four members of version 2 ([R7]). */
char *pikaci_request_dump(const struct pikaci_request *request);
void pikaci_request_free(struct pikaci_request *request);

/* --- Lifecycle documents, lifecycle schema_version 1 (CONTRACT §5) ---------------------- */

enum pikaci_state {
	PIKACI_STATE_REQUESTED,
	PIKACI_STATE_PROVISIONING,
	PIKACI_STATE_BOOTED,
	PIKACI_STATE_UNREACHABLE,
	PIKACI_STATE_STOPPED,
	PIKACI_STATE_DESTROYED,
	PIKACI_STATE_STARTING,
	PIKACI_STATE_READY,
	PIKACI_STATE_FAILED,
	PIKACI_STATE_COMPLETED,
	_PIKACI_STATE_MAX,
};

/* The state's name in the vocabulary, e.g. "booted"; NULL for an out-of-range value. */
const char *pikaci_state_name(enum pikaci_state state);
/* -EINVAL for a name outside the vocabulary (for instance "passed"). */
int pikaci_state_parse(const char *name, enum pikaci_state *ret_state);
/* completed and failed end a guest run. */
bool pikaci_state_is_terminal(enum pikaci_state state);

/* Length of a buffer that holds any timestamp pikaci_timestamp_dump() writes. */
#define PIKACI_TIMESTAMP_LENGTH 40
/* Formats an RFC 3339 UTC timestamp with microseconds, e.g. 2026-03-25T20:00:00.123456Z. */
int pikaci_timestamp_dump(const struct timespec *when, char *buffer, size_t size);
/* Checks an RFC 3339 date-time with offset (Z, z or ±HH:MM), calendar included. */
int pikaci_timestamp_validate(const char *text, struct pikaci_error *err);

/*
 * Document builders. details is stolen and may be NULL. They return a new reference, or NULL
 * when an argument is invalid (a state outside the vocabulary, a NULL string) or memory runs out.
 */
json_t *pikaci_status_new(enum pikaci_state state, const char *updated_at, const char *message,
                          json_t *details);
json_t *pikaci_event_new(long long seq, enum pikaci_state kind, const char *timestamp,
                         const char *message, json_t *details);
/* status is "completed" when exit_code is 0, else "failed" ([L4]). */
json_t *pikaci_result_new(int exit_code, const char *finished_at, const char *message,
                          json_t *details);

/* Validate a loaded document: exact members, types, vocabulary, timestamps ([L2]-[L4]). */
int pikaci_status_validate(const json_t *document, struct pikaci_error *err);
int pikaci_event_validate(const json_t *document, struct pikaci_error *err);
int pikaci_result_validate(const json_t *document, struct pikaci_error *err);

/* Load (rejecting duplicate members) and validate; *ret_document is a new reference. */
int pikaci_status_parse(const char *bytes, size_t length, json_t **ret_document,
                        struct pikaci_error *err);
int pikaci_result_parse(const char *bytes, size_t length, json_t **ret_document,
                        struct pikaci_error *err);
/*
 * Parses a whole events.jsonl stream: every line complete (newline-terminated) and a valid
 * event, seq 1, 2, 3, ... and exactly one terminal event, which is the last. *ret_events is a
 * new array of the events in order. err->position is the byte offset of the offending line.
 */
int pikaci_events_parse(const char *bytes, size_t length, json_t **ret_events,
                        struct pikaci_error *err);

/* --- One story: the four documents and the exit code together ([D4], [L5], [L6]) ------- */

/*
 * What a guest left behind, as collected. A NULL document is a missing file. request, when not
 * NULL, is the request the guest was given: the starting event must carry its command and
 * run_as_root.
 */
struct pikaci_documents {
	const char *status;
	size_t status_length;
	const char *events;
	size_t events_length;
	const char *result;
	size_t result_length;
	int exit_code; /* the guest process's exit code; -1 when it did not exit by itself */
	const struct pikaci_request *request;
};

/* The story the documents agree on. */
struct pikaci_story {
	bool rejected;              /* booted, failed: a rejected request ([L6]) */
	enum pikaci_state terminal; /* completed or failed */
	int exit_code;              /* the command's (result.json's), 2 for a rejection */
	size_t n_events;
	char reason[64]; /* result.json's details.reason, "" without one */
};

/*
 * Decides whether the documents tell one story, checking in this order and reporting the first
 * disagreement, with err->clause set: the three files are there ([D3]); status.json ([L2]),
 * every line of events.jsonl ([L3], read line by line: memory does not grow with the stream)
 * and result.json ([L4]) are valid; the events are exactly booted, starting, completed|failed
 * ([L5]) or booted, failed ([L6]); the starting event carries the command and run_as_root
 * (the request's, when given), the terminal event details.exit_code, a rejection's messages
 * begin "Incus guest bootstrap failed: " and its exit code is 2 ([L6]); status.json's state,
 * the terminal event and result.json's status are one state, and result.json's exit_code is
 * the guest's ([D4]). Inputs over PIKACI_LIFECYCLE_MAX_BYTES are rejected as too_large.
 * Fills *ret_story on success. Both the conformance runner and the host decide with this.
 */
int pikaci_story_parse(const struct pikaci_documents *documents, struct pikaci_story *ret_story,
                       struct pikaci_error *err);

/* Compact one-line JSON of a document (no trailing newline); free() it. NULL on failure. */
char *pikaci_document_dump(const json_t *document);

#ifdef __cplusplus
}
#endif

#endif
