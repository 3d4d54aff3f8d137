/* SPDX-License-Identifier: MIT */
/*
 * transport-incus.c - the `incus` transport: a real Incus over its REST API (CONTRACT §1).
 *
 * The only file of the project that speaks HTTP. One libcurl easy handle per transport, reset
 * and reused for every request (its connection stays open). The bodies are read and written by
 * incus-api.c; this file decides what to ask and what an answer means. Incus can answer HTTP
 * 200 with an error body, so every JSON answer is judged by its "type" and "error_code" too.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "incus-api.h"
#include "incus-config.h"
#include "pikaci-contract.h"
#include "sandbox.h"
#include "shared.h"
#include "transport.h"

#define DEFAULT_SOCKET "/var/lib/incus/unix.socket"
/* Any host name does over the unix socket. */
#define SOCKET_BASE_URL "http://incus"
/*
 * Bounds (transport.h says what they add up to). Every request carries the time left of its
 * phase; these bound one connection and a server that sends nothing at all.
 */
#define CONNECT_MS    10000L
#define STALL_SECONDS 10L
/* Extra tries of a file request answered with HTTP 5xx. */
#define FILE_RETRIES 2
/* A stopped exec's operation settles at once; its logs are worth this much waiting. */
#define SETTLE_SECONDS 5.0
/* A /wait answered early with the operation still running: pause this, doubled each time. */
#define POLL_FLOOR_SECONDS   0.25
#define POLL_CEILING_SECONDS 2.0

/* Overlay isolation: where the helper lives in an instance, and the runs' folders. */
#define HELPER_PATH "/tmp/pikaci/pikaci-incus-case"
#define CASES_DIR   "/tmp/pikaci/cases"

/* The helper's bytes (src/sandbox/incus-case.c, static), embedded by src/host/embed.py. */
extern const unsigned char pikaci_incus_case_helper[];
extern const size_t pikaci_incus_case_helper_size;

/* A NULL-terminated list of malloc'd strings. */
struct strv {
	char **items;
	size_t count, capacity;
};

struct incus {
	struct pikaci_transport base;
	CURL *curl;
	char curl_error[CURL_ERROR_SIZE];
	char *base_url; /* "http://incus" over the socket, else the server's URL */
	char *socket;   /* NULL over HTTPS */
	char *cert, *key, *ca;
	bool ca_pinned; /* ca is the server's own certificate: its host name is not checked */
	char *project;  /* NULL: the default project */
	char *instance; /* the container everything happens in */
	bool owned;     /* created from an image by us: free() stops and deletes it */
	/* Issue 12: what a new instance is (incus-config.h) and how long a VM's agent may take. */
	char *instance_type;               /* NULL: a container */
	struct pikaci_incus_source source; /* borrowed from image */
	struct pikaci_incus_image image;   /* the resolved image argument */
	const char *target;                /* borrowed from the options; NULL: none */
	/* --instance-config KEY=VALUE words, borrowed from the options */
	const char *config[PIKACI_INCUS_INSTANCE_CONFIG_MAX];
	size_t n_config;
	double agent_seconds;
	/* Overlay isolation: the run's folder in the instance and its view (guest paths are
	 * under it); a prepared view is cleaned by free(). */
	char *case_id;
	char *view;
	bool file_head; /* the server answers HEAD on files (API extension instance_file_head) */
	double setup_seconds;    /* the bound of each phase around the run */
	double deadline;         /* when the current phase's time is up (monotonic) */
	struct strv environment; /* the guest's, NAME=VALUE */
	/* [B5]: what existed before the first deliver/make_dir/run, and what the host made. */
	bool snapshot_taken;
	struct strv before;
	struct strv prepared;
};

/* One HTTP answer. */
struct reply {
	long http;
	struct buffer body; /* NUL-terminated once incus_http() returns 0 */
	size_t max;         /* a body beyond this many bytes is too big: the transfer stops */
	bool keep_going;    /* ... keeping the first max bytes (logs), rather than none (files) */
	bool too_big;
	char file_type[16]; /* X-Incus-Type: file, directory, symlink; "" when not a file answer */
};

/* Tells the reaper (pikaci_incus_reaper_start()) about a container: '+' made, '-' deleted. */
static void reaper_note(char kind, const char *name);
/* Waits for a virtual machine's Incus agent (issue 12). */
static int incus_agent_wait(struct incus *incus);

/* --- Small helpers ------------------------------------------------------------------------- */

static bool strv_contains(const struct strv *strv, const char *item)
{
	for (size_t i = 0; i < strv->count; i++)
		if (strcmp(strv->items[i], item) == 0)
			return true;
	return false;
}

static int strv_add(struct strv *strv, const char *item)
{
	char *copy;

	if (strv_contains(strv, item))
		return 0;
	if (ARRAY_GROW(strv->items, strv->capacity, strv->count + 2) < 0 || !(copy = strdup(item)))
		return -ENOMEM;
	strv->items[strv->count++] = copy;
	strv->items[strv->count] = NULL;
	return 0;
}

static void strv_clear(struct strv *strv)
{
	for (size_t i = 0; i < strv->count; i++)
		free(strv->items[i]);
	free(strv->items);
	memset(strv, 0, sizeof(*strv));
}

static void reply_clear(struct reply *reply)
{
	buffer_clear(&reply->body);
	memset(reply, 0, sizeof(*reply));
}

/* An Incus error_code (HTTP-like) as a negative errno. */
static int error_code_errno(long code)
{
	switch (code) {
	case 400:
		return -EINVAL;
	case 403:
		return -EACCES;
	case 404:
		return -ENOENT;
	case 409:
		return -EEXIST;
	default:
		return -EIO;
	}
}

/* --- HTTP ---------------------------------------------------------------------------------- */

static size_t reply_write(char *bytes, size_t size, size_t count, void *userdata)
{
	struct reply *reply = userdata;
	size_t length = size * count, room;

	/* Past the cap the transfer stops, so an endless body costs neither memory nor time. */
	if (reply->too_big)
		return 0;
	room = reply->max - reply->body.length;
	if (length > room) {
		reply->too_big = true;
		if (!reply->keep_going || room == 0)
			return 0;
		length = room;
	}
	if (buffer_append(&reply->body, bytes, length) < 0)
		return 0;
	return reply->too_big ? 0 : size * count;
}

static size_t reply_header(char *bytes, size_t size, size_t count, void *userdata)
{
	struct reply *reply = userdata;

	pikaci_incus_file_type_parse(bytes, size * count, reply->file_type,
	                             sizeof(reply->file_type));
	return size * count;
}

static int curl_errno(CURLcode code)
{
	switch (code) {
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	default:
		return -EIO;
	}
}

/*
 * "Expect:" and then the caller's headers: curl sends "Expect: 100-continue" with large
 * bodies, and Incus needs no such round trip. NULL when out of memory.
 */
static struct curl_slist *http_headers(const struct curl_slist *headers)
{
	struct curl_slist *all = curl_slist_append(NULL, "Expect:"), *added;

	for (const struct curl_slist *h = headers; all && h; h = h->next) {
		added = curl_slist_append(all, h->data);
		if (!added) {
			curl_slist_free_all(all);
			return NULL;
		}
		all = added;
	}
	return all;
}

/* Sets the reset handle up for one request: where, how long, with what, into *reply. */
static void http_setup(struct incus *incus, const char *method, const char *url,
                       struct curl_slist *headers, const void *body, size_t length, long left_ms,
                       long quiet, struct reply *reply)
{
	curl_easy_reset(incus->curl);
	incus->curl_error[0] = '\0';
	curl_easy_setopt(incus->curl, CURLOPT_URL, url);
	curl_easy_setopt(incus->curl, CURLOPT_ERRORBUFFER, incus->curl_error);
	curl_easy_setopt(incus->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(incus->curl, CURLOPT_CONNECTTIMEOUT_MS,
	                 left_ms < CONNECT_MS ? left_ms : CONNECT_MS);
	curl_easy_setopt(incus->curl, CURLOPT_TIMEOUT_MS, left_ms);
	/* Not one byte for this long (beyond a wait asked for): a server that is stuck. */
	curl_easy_setopt(incus->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(incus->curl, CURLOPT_LOW_SPEED_TIME, quiet + STALL_SECONDS);
	curl_easy_setopt(incus->curl, CURLOPT_PROTOCOLS_STR, incus->socket ? "http" : "https");
	if (incus->socket) {
		curl_easy_setopt(incus->curl, CURLOPT_UNIX_SOCKET_PATH, incus->socket);
	} else {
		curl_easy_setopt(incus->curl, CURLOPT_SSLCERT, incus->cert);
		curl_easy_setopt(incus->curl, CURLOPT_SSLKEY, incus->key);
		if (incus->ca)
			curl_easy_setopt(incus->curl, CURLOPT_CAINFO, incus->ca);
		/* As the incus CLI: a pinned certificate is trusted whatever name it carries. */
		if (incus->ca_pinned)
			curl_easy_setopt(incus->curl, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	curl_easy_setopt(incus->curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(incus->curl, CURLOPT_WRITEFUNCTION, reply_write);
	curl_easy_setopt(incus->curl, CURLOPT_WRITEDATA, reply);
	curl_easy_setopt(incus->curl, CURLOPT_HEADERFUNCTION, reply_header);
	curl_easy_setopt(incus->curl, CURLOPT_HEADERDATA, reply);
	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(incus->curl, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(incus->curl, CURLOPT_NOBODY, 1L);
	} else {
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(incus->curl, CURLOPT_CUSTOMREQUEST, method);
		if (body || strcmp(method, "DELETE") != 0) {
			curl_easy_setopt(incus->curl, CURLOPT_POSTFIELDSIZE_LARGE,
			                 (curl_off_t)length);
			curl_easy_setopt(incus->curl, CURLOPT_POSTFIELDS, body ? body : "");
		}
	}
}

/*
 * One request: method on path (relative to the base URL), an optional body, the answer in
 * *reply (whatever its HTTP status), all by `deadline` (monotonic); `quiet` is how long the
 * server may rightly send nothing (a /wait's own timeout). Negative only when no HTTP answer
 * came (-ETIMEDOUT when time ran out); `what` says in the error what the request was for.
 */
static int incus_http(struct incus *incus, const char *what, const char *method, const char *path,
                      struct curl_slist *headers, const void *body, size_t length, double deadline,
                      long quiet, struct reply *reply)
{
	struct curl_slist *all = NULL;
	double left = deadline - monotonic_seconds();
	char *url = NULL;
	CURLcode code;
	int r;

	if (left <= 0.001)
		return pikaci_transport_fail(
		        &incus->base, -ETIMEDOUT,
		        "%s (%s %s): out of time (the bound of this phase is spent)", what, method,
		        path);
	all = http_headers(headers);
	if (!all || asprintf(&url, "%s%s", incus->base_url, path) < 0) {
		url = NULL;
		r = pikaci_transport_fail(&incus->base, -ENOMEM, "out of memory");
		goto out;
	}
	http_setup(incus, method, url, all, body, length, (long)ceil(left * 1000), quiet, reply);
	code = curl_easy_perform(incus->curl);
	/* A log still coming when time is up is cut there, as one past its size cap is. */
	if (code == CURLE_OPERATION_TIMEDOUT && reply->keep_going && reply->body.length > 0)
		reply->too_big = true;
	if (code != CURLE_OK && !reply->too_big) {
		r = pikaci_transport_fail(
		        &incus->base, curl_errno(code),
		        "%s (%s %s): no answer from Incus at %s: %s", what, method, path,
		        incus->socket ? incus->socket : incus->base_url,
		        incus->curl_error[0] ? incus->curl_error : curl_easy_strerror(code));
		goto out;
	}
	curl_easy_getinfo(incus->curl, CURLINFO_RESPONSE_CODE, &reply->http);
	r = 0;
	if (!reply->body.data && buffer_append(&reply->body, "", 0) < 0)
		r = pikaci_transport_fail(&incus->base, -ENOMEM, "out of memory");
out:
	curl_slist_free_all(all);
	free(url);
	return r;
}

/*
 * A JSON request: the answer parsed into *ret_response, whatever it says. Negative (with the
 * transport's error set) when there was no answer or it was not an Incus response.
 */
static int incus_json(struct incus *incus, const char *what, const char *method, const char *path,
                      const json_t *body, double deadline, long quiet, long *ret_http,
                      struct pikaci_incus_response *ret_response)
{
	struct curl_slist *headers = NULL;
	struct reply reply = { .max = PIKACI_INCUS_BODY_MAX };
	char *text = NULL, why[256];
	int r;

	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		headers = curl_slist_append(NULL, "Content-Type: application/json");
		if (!text || !headers) {
			r = pikaci_transport_fail(&incus->base, -ENOMEM, "out of memory");
			goto out;
		}
	}
	r = incus_http(incus, what, method, path, headers, text, text ? strlen(text) : 0, deadline,
	               quiet, &reply);
	if (r < 0)
		goto out;
	if (reply.too_big) {
		r = pikaci_transport_fail(&incus->base, -EFBIG,
		                          "%s (%s %s): Incus answered HTTP %ld with over %zu bytes",
		                          what, method, path, reply.http, reply.max);
		goto out;
	}
	r = pikaci_incus_response_parse(reply.body.data, reply.body.length, ret_response, why,
	                                sizeof(why));
	if (r < 0) {
		r = pikaci_transport_fail(&incus->base, r == -ENOMEM ? r : -EPROTO,
		                          "%s (%s %s): Incus answered HTTP %ld and %s: %.80s", what,
		                          method, path, reply.http, why, reply.body.data);
		goto out;
	}
	*ret_http = reply.http;
out:
	reply_clear(&reply);
	curl_slist_free_all(headers);
	free(text);
	return r;
}

/* Fails, naming what was asked and what Incus answered, unless the answer is a success. */
static int incus_check(struct incus *incus, const char *what, const char *method, const char *path,
                       long http, const struct pikaci_incus_response *response)
{
	if (!pikaci_incus_response_failed(response) && http < 400)
		return 0;
	return pikaci_transport_fail(
	        &incus->base, error_code_errno(response->error_code ? response->error_code : http),
	        "%s (%s %s): Incus answered HTTP %ld, error_code %d: %s", what, method, path, http,
	        response->error_code,
	        response->error && response->error[0] ? response->error : "(no error text)");
}

/* incus_json() then incus_check(), by deadline. */
static int incus_ask(struct incus *incus, const char *what, const char *method, const char *path,
                     const json_t *body, double deadline,
                     struct pikaci_incus_response *ret_response)
{
	struct pikaci_incus_response response = { 0 };
	long http = 0;
	int r;

	r = incus_json(incus, what, method, path, body, deadline, 0, &http, &response);
	if (r < 0)
		goto out;
	r = incus_check(incus, what, method, path, http, &response);
	if (r < 0)
		goto out;
	if (ret_response) {
		*ret_response = response;
		memset(&response, 0, sizeof(response));
	}
out:
	pikaci_incus_response_clear(&response);
	return r;
}

/* Sleeps `seconds`, but not past `deadline`. */
static void sleep_until(double seconds, double deadline)
{
	double left = deadline - monotonic_seconds();
	struct timespec ts;

	if (seconds > left)
		seconds = left;
	if (seconds <= 0)
		return;
	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

/*
 * A /wait came back with the operation still running. When the server kept it for the time
 * asked, ask again at once; when it answered early (a server that ignores ?timeout=), back off:
 * *pause starts at the floor and doubles up to the ceiling.
 */
static void wait_back_off(double asked_at, long seconds, double deadline, double *pause)
{
	if (monotonic_seconds() - asked_at >= (double)seconds - 0.5) {
		*pause = 0;
		return;
	}
	*pause = *pause <= 0 ? POLL_FLOOR_SECONDS : fmin(*pause * 2, POLL_CEILING_SECONDS);
	sleep_until(*pause, deadline);
}

/*
 * Waits for an operation until `deadline` (monotonic), in /wait calls of at most the time
 * left (each request allowed PIKACI_INCUS_WAIT_SLACK more, for the answer). Returns 0 with
 * *ret_operation filled when it finished (successfully or not), -ETIME when the deadline
 * passed first, another negative code (error set) when Incus failed us.
 */
static int incus_wait(struct incus *incus, const char *what, const char *operation, double deadline,
                      bool exec, struct pikaci_incus_operation *ret_operation)
{
	struct pikaci_incus_response response = { 0 };
	char *path = NULL, why[256];
	double pause = 0;
	long http = 0;
	int r;

	for (;;) {
		double left = deadline - monotonic_seconds(), asked_at;
		long seconds;

		if (left <= 0) {
			r = -ETIME;
			goto out;
		}
		seconds = left < 1 ? 1 : (long)ceil(left);
		free(path);
		path = pikaci_incus_wait_url_new(operation, seconds, incus->project);
		if (!path) {
			r = pikaci_transport_fail(&incus->base, -ENOMEM, "out of memory");
			goto out;
		}
		pikaci_incus_response_clear(&response);
		asked_at = monotonic_seconds();
		r = incus_json(incus, what, "GET", path, NULL, deadline + PIKACI_INCUS_WAIT_SLACK,
		               seconds, &http, &response);
		/* The server held the answer past the deadline: the operation is still running. */
		if (r == -ETIMEDOUT && monotonic_seconds() >= deadline) {
			r = -ETIME;
			goto out;
		}
		if (r < 0)
			goto out;
		/* Still running when the wait ran out: HTTP 200, an error body. */
		if (pikaci_incus_response_wait_timed_out(&response)) {
			wait_back_off(asked_at, seconds, deadline, &pause);
			continue;
		}
		if (pikaci_incus_response_failed(&response) || http >= 400) {
			/*
			 * An operation that failed answers its /wait with its error ("Command not
			 * found", HTTP 200, error_code 400); the operation itself still tells how
			 * it ended and where its logs are.
			 */
			struct pikaci_incus_response state = { 0 };
			char *state_path = pikaci_incus_url_new(operation, incus->project);
			long state_http = 0;

			if (!state_path) {
				r = pikaci_transport_fail(&incus->base, -ENOMEM, "out of memory");
				goto out;
			}
			r = incus_json(incus, what, "GET", state_path, NULL,
			               deadline + PIKACI_INCUS_WAIT_SLACK, 0, &state_http, &state);
			free(state_path);
			if (r == 0 && !pikaci_incus_response_failed(&state) && state_http < 400 &&
			    pikaci_incus_operation_parse(state.metadata, exec, ret_operation, why,
			                                 sizeof(why)) == 0) {
				/* The /wait answer stays in the error text, for the caller's
				 * message. */
				incus_check(incus, what, "GET", path, http, &response);
				pikaci_incus_response_clear(&state);
				r = 0;
				goto out;
			}
			pikaci_incus_response_clear(&state);
			r = incus_check(incus, what, "GET", path, http, &response);
			goto out;
		}
		r = pikaci_incus_operation_parse(response.metadata, exec, ret_operation, why,
		                                 sizeof(why));
		if (r == -EINPROGRESS) {
			wait_back_off(asked_at, seconds, deadline, &pause);
			continue;
		}
		if (r < 0) {
			r = pikaci_transport_fail(&incus->base, r == -ENOMEM ? r : -EPROTO,
			                          "%s (GET %s): Incus answered HTTP %ld and %s",
			                          what, path, http, why);
			goto out;
		}
		goto out;
	}
out:
	pikaci_incus_response_clear(&response);
	free(path);
	return r;
}

/* Asks for an operation (method on path) and waits for it to succeed. */
static int incus_operate(struct incus *incus, const char *what, const char *method,
                         const char *path, const json_t *body)
{
	struct pikaci_incus_response response = { 0 };
	struct pikaci_incus_operation operation = { 0 };
	int r;

	r = incus_ask(incus, what, method, path, body, incus->deadline, &response);
	if (r < 0)
		goto out;
	if (response.type != PIKACI_INCUS_ASYNC) {
		r = 0; /* done at once */
		goto out;
	}
	r = incus_wait(incus, what, response.operation, incus->deadline, false, &operation);
	if (r == -ETIME) {
		r = pikaci_transport_fail(&incus->base, -ETIMEDOUT,
		                          "%s (%s %s): operation %s still running when the %.0f s "
		                          "bound of this phase was spent",
		                          what, method, path, response.operation,
		                          incus->setup_seconds);
		goto out;
	}
	if (r < 0)
		goto out;
	if (operation.status_code != 200) {
		r = pikaci_transport_fail(&incus->base, -EIO,
		                          "%s (%s %s): operation %s ended %s (%d): %s", what,
		                          method, path, response.operation, operation.status,
		                          operation.status_code, operation.err);
		goto out;
	}
out:
	pikaci_incus_operation_clear(&operation);
	pikaci_incus_response_clear(&response);
	return r;
}

/* --- Files --------------------------------------------------------------------------------- */

/* The file API's URL of a guest path: in the run's view under overlay isolation. */
static char *incus_file_url_new(struct incus *incus, const char *guest_path)
{
	char *full = NULL, *url;

	if (!incus->view)
		return pikaci_incus_file_url_new(incus->instance, guest_path, incus->project);
	if (asprintf(&full, "%s%s", incus->view, guest_path) < 0)
		return NULL;
	url = pikaci_incus_file_url_new(incus->instance, full, incus->project);
	free(full);
	return url;
}

/*
 * GET (or HEAD) of a guest path. Returns 0 with *reply filled when the guest has it (its type
 * in reply->file_type), -ENOENT when not, another negative code (error set) on failure.
 */
static int incus_file_get(struct incus *incus, const char *method, const char *guest_path,
                          size_t max, struct reply *reply)
{
	struct pikaci_incus_response response = { 0 };
	char *path = NULL, what[PATH_MAX + 64], why[256];
	int r;

	snprintf(what, sizeof(what), "reading %s in %s", guest_path, incus->instance);
	path = incus_file_url_new(incus, guest_path);
	if (!path) {
		r = pikaci_transport_fail(&incus->base, -ENOMEM, "out of memory");
		goto out;
	}
	/*
	 * Right after a container starts, Incus has been seen to answer a file request with a
	 * passing HTTP 500: such an answer gets two more tries before it counts.
	 */
	for (int attempt = 0;; attempt++) {
		bool keep_going = reply->keep_going;

		reply->max = max;
		r = incus_http(incus, what, method, path, NULL, NULL, 0, incus->deadline, 0, reply);
		if (r < 0 || reply->http < 500 || attempt == FILE_RETRIES)
			break;
		reply_clear(reply);
		reply->keep_going = keep_going;
		sleep_until(0.1 * (1 << attempt), incus->deadline);
	}
	if (r < 0)
		goto out;
	/* A file answer carries its type; anything else is an Incus response. */
	if (reply->http == 200 && reply->file_type[0]) {
		r = 0;
		goto out;
	}
	if (reply->http == 404) {
		r = pikaci_transport_fail(&incus->base, -ENOENT, "%s: not found (HTTP 404)", what);
		goto out;
	}
	if (strcmp(method, "HEAD") == 0) {
		r = pikaci_transport_fail(&incus->base, error_code_errno(reply->http),
		                          "%s (HEAD %s): Incus answered HTTP %ld", what, path,
		                          reply->http);
		goto out;
	}
	r = pikaci_incus_response_parse(reply->body.data, reply->body.length, &response, why,
	                                sizeof(why));
	if (r < 0) {
		r = pikaci_transport_fail(&incus->base, -EPROTO,
		                          "%s (GET %s): Incus answered HTTP %ld and %s", what, path,
		                          reply->http, why);
		goto out;
	}
	r = incus_check(incus, what, "GET", path, reply->http, &response);
	if (r == 0)
		r = pikaci_transport_fail(
		        &incus->base, -EPROTO,
		        "%s (GET %s): Incus answered HTTP %ld without X-Incus-Type", what, path,
		        reply->http);
out:
	pikaci_incus_response_clear(&response);
	free(path);
	return r;
}

/* 1 when the guest has the path, 0 when not. */
static int incus_exists(struct pikaci_transport *t, const char *guest_path)
{
	struct incus *incus = (struct incus *)t;
	struct reply reply = { 0 };
	int r;

	/* Without HEAD, a GET cut short: only the headers matter (and an error body). */
	r = incus_file_get(incus, incus->file_head ? "HEAD" : "GET", guest_path, 64u << 10, &reply);
	reply_clear(&reply);
	if (r == -ENOENT)
		return 0;
	return r < 0 ? r : 1;
}

/* The names in a guest directory, as full paths added to *list; nothing when it is missing. */
static int incus_list(struct incus *incus, const char *guest_dir, struct strv *list)
{
	struct pikaci_incus_response response = { 0 };
	struct reply reply = { 0 };
	char why[256], entry[PATH_MAX];
	const json_t *name;
	size_t i;
	int r;

	r = incus_file_get(incus, "GET", guest_dir, 16u << 20, &reply);
	if (r == -ENOENT) {
		r = 0;
		goto out;
	}
	if (r < 0)
		goto out;
	if (strcmp(reply.file_type, "directory") != 0) {
		r = 0; /* a file where the folder should be: it has no entries */
		goto out;
	}
	r = pikaci_incus_response_parse(reply.body.data, reply.body.length, &response, why,
	                                sizeof(why));
	if (r < 0 || !json_is_array(response.metadata)) {
		r = pikaci_transport_fail(&incus->base, -EPROTO,
		                          "listing %s in %s: Incus answered %s", guest_dir,
		                          incus->instance, r < 0 ? why : "no list of names");
		goto out;
	}
	json_array_foreach(response.metadata, i, name)
	{
		if (!json_is_string(name))
			continue;
		snprintf(entry, sizeof(entry), "%s/%s", guest_dir, json_string_value(name));
		r = strv_add(list, entry);
		if (r < 0) {
			r = pikaci_transport_fail(&incus->base, r, "out of memory");
			goto out;
		}
	}
	r = 0;
out:
	pikaci_incus_response_clear(&response);
	reply_clear(&reply);
	return r;
}

/* [B5]: the paths a run may create and the state folder's entries, as they are now. */
static int incus_scan(struct incus *incus, struct strv *list)
{
	static const char *const watched[] = {
		PIKACI_WORKSPACE_DIR, PIKACI_USER_HOME,      PIKACI_CARGO_HOME,
		PIKACI_CARGO_TARGET,  PIKACI_XDG_STATE_HOME, PIKACI_XDG_CACHE_HOME,
		PIKACI_ARTIFACTS_DIR,
	};
	int r;

	for (size_t i = 0; i < sizeof(watched) / sizeof(watched[0]); i++) {
		r = incus_exists(&incus->base, watched[i]);
		if (r < 0)
			return r;
		if (r == 1 && strv_add(list, watched[i]) < 0)
			return pikaci_transport_fail(&incus->base, -ENOMEM, "out of memory");
	}
	return incus_list(incus, PIKACI_STATE_DIR, list);
}

/* Before the host's first change to the guest. */
static int incus_snapshot(struct incus *incus)
{
	int r;

	if (incus->snapshot_taken)
		return 0;
	r = incus_scan(incus, &incus->before);
	if (r < 0)
		return r;
	incus->snapshot_taken = true;
	return 0;
}

/* POST a file (mode 0644, or 0700 when executable) or a directory, as root. */
static int incus_push(struct incus *incus, const char *guest_path, bool directory, bool executable,
                      const void *bytes, size_t length)
{
	struct pikaci_incus_response response = { 0 };
	struct curl_slist *headers = NULL, *added;
	struct reply reply = { .max = 1u << 20 };
	const char *header_lines[] = {
		"Content-Type: application/octet-stream",
		directory ? "X-Incus-type: directory" : "X-Incus-type: file",
		directory    ? "X-Incus-mode: 0755"
		: executable ? "X-Incus-mode: 0700"
		             : "X-Incus-mode: 0644",
		"X-Incus-uid: 0",
		"X-Incus-gid: 0",
		"X-Incus-write: overwrite",
	};
	char *path = NULL, what[PATH_MAX + 64], why[256];
	int r;

	snprintf(what, sizeof(what), "%s %s in %s", directory ? "making directory" : "writing",
	         guest_path, incus->instance);
	path = incus_file_url_new(incus, guest_path);
	if (!path) {
		r = pikaci_transport_fail(&incus->base, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < sizeof(header_lines) / sizeof(header_lines[0]); i++) {
		added = curl_slist_append(headers, header_lines[i]);
		if (!added) {
			r = pikaci_transport_fail(&incus->base, -ENOMEM, "out of memory");
			goto out;
		}
		headers = added;
	}
	r = incus_http(incus, what, "POST", path, headers, bytes, length, incus->deadline, 0,
	               &reply);
	if (r < 0)
		goto out;
	r = pikaci_incus_response_parse(reply.body.data, reply.body.length, &response, why,
	                                sizeof(why));
	if (r < 0) {
		r = pikaci_transport_fail(&incus->base, -EPROTO,
		                          "%s (POST %s): Incus answered HTTP %ld and %s", what,
		                          path, reply.http, why);
		goto out;
	}
	/* A directory that is there already is what was asked for. */
	if (directory && pikaci_incus_response_failed(&response) && response.error &&
	    strstr(response.error, "exists")) {
		r = 0;
		goto out;
	}
	r = incus_check(incus, what, "POST", path, reply.http, &response);
out:
	pikaci_incus_response_clear(&response);
	reply_clear(&reply);
	curl_slist_free_all(headers);
	free(path);
	return r;
}

/*
 * Makes the missing directories of guest_path (the last component too when including_last),
 * recording those it made as the host's own.
 */
static int incus_make_parents(struct incus *incus, const char *guest_path, bool including_last)
{
	size_t length = strlen(guest_path);
	char prefix[PATH_MAX];
	bool missing = false;
	int r;

	if (guest_path[0] != '/' || length >= sizeof(prefix))
		return pikaci_transport_fail(&incus->base, -EINVAL, "not an absolute path: %s",
		                             guest_path);
	for (size_t i = 1; i <= length; i++) {
		if (i < length && guest_path[i] != '/')
			continue;
		if (i == length && !including_last)
			break;
		memcpy(prefix, guest_path, i);
		prefix[i] = '\0';
		/* Once one is missing, so is everything below it. */
		if (!missing) {
			r = incus_exists(&incus->base, prefix);
			if (r < 0)
				return r;
			if (r == 1)
				continue;
			missing = true;
		}
		r = incus_push(incus, prefix, true, false, NULL, 0);
		if (r < 0)
			return r;
		if (strv_add(&incus->prepared, prefix) < 0)
			return pikaci_transport_fail(&incus->base, -ENOMEM, "out of memory");
	}
	return 0;
}

/* --- The transport ------------------------------------------------------------------------- */

static int incus_deliver(struct pikaci_transport *t, const char *guest_path, const void *bytes,
                         size_t length)
{
	struct incus *incus = (struct incus *)t;
	int r;

	r = incus_snapshot(incus);
	if (r < 0)
		return r;
	r = incus_make_parents(incus, guest_path, false);
	if (r < 0)
		return r;
	r = incus_push(incus, guest_path, false, false, bytes, length);
	if (r < 0)
		return r;
	if (strv_add(&incus->prepared, guest_path) < 0)
		return pikaci_transport_fail(t, -ENOMEM, "out of memory");
	return 0;
}

static int incus_make_dir(struct pikaci_transport *t, const char *guest_path)
{
	struct incus *incus = (struct incus *)t;
	int r;

	r = incus_snapshot(incus);
	if (r < 0)
		return r;
	return incus_make_parents(incus, guest_path, true);
}

/* GETs an exec log (raw bytes, cut at the capture limit) and DELETEs it. */
static int incus_fetch_log(struct incus *incus, const char *log, char **ret_bytes,
                           size_t *ret_length, bool *truncated)
{
	struct pikaci_incus_response response = { 0 };
	struct reply reply = { .max = PIKACI_COLLECT_MAX, .keep_going = true };
	char *path = NULL, why[256];
	long http = 0;
	int r;

	path = pikaci_incus_url_new(log, incus->project);
	if (!path) {
		r = pikaci_transport_fail(&incus->base, -ENOMEM, "out of memory");
		goto out;
	}
	r = incus_http(incus, "reading the exec output", "GET", path, NULL, NULL, 0,
	               incus->deadline, 0, &reply);
	if (r < 0)
		goto out;
	if (reply.http != 200) {
		if (pikaci_incus_response_parse(reply.body.data, reply.body.length, &response, why,
		                                sizeof(why)) == 0)
			r = incus_check(incus, "reading the exec output", "GET", path, reply.http,
			                &response);
		if (r == 0)
			r = pikaci_transport_fail(
			        &incus->base, -EIO,
			        "reading the exec output (GET %s): Incus answered "
			        "HTTP %ld",
			        path, reply.http);
		goto out;
	}
	*truncated = *truncated || reply.too_big;
	*ret_bytes = buffer_steal(&reply.body, ret_length);
	/* Best effort: a log left behind costs disk, not correctness. */
	incus_json(incus, "deleting the exec output", "DELETE", path, NULL, incus->deadline, 0,
	           &http, &response);
	r = 0;
out:
	pikaci_incus_response_clear(&response);
	reply_clear(&reply);
	free(path);
	return r;
}

/* Deletes an exec's logs without reading them. */
static void incus_drop_logs(struct incus *incus, const struct pikaci_incus_operation *operation)
{
	const char *logs[] = { operation->stdout_log, operation->stderr_log };

	for (size_t i = 0; i < 2; i++) {
		struct pikaci_incus_response response = { 0 };
		char *path = logs[i] ? pikaci_incus_url_new(logs[i], incus->project) : NULL;
		long http = 0;

		if (path)
			incus_json(incus, "deleting the exec output", "DELETE", path, NULL,
			           incus->deadline, 0, &http, &response);
		pikaci_incus_response_clear(&response);
		free(path);
	}
}

static int incus_helper(struct incus *incus, const char *what, const char *program,
                        const char *command, const char *id);

/*
 * [D5]: the guest outlived the deadline; stop it as far as Incus lets us. *ret_final gets the
 * exec operation's end (and so its logs) when it ended.
 */
static void incus_stop_guest(struct incus *incus, const char *operation,
                             struct pikaci_incus_operation *ret_final)
{
	struct pikaci_incus_response response = { 0 };
	json_t *body = NULL;
	char *path = NULL;
	long http = 0;

	if (incus->view) {
		/* Overlay: the run's pid namespace dies; the instance goes on hosting other runs.
		 */
		incus_helper(incus, "stopping the timed-out guest", HELPER_PATH, "kill",
		             incus->case_id);
		incus_wait(incus, "waiting for the stopped exec", operation,
		           fmin(monotonic_seconds() + SETTLE_SECONDS, incus->deadline), false,
		           ret_final);
	} else if (incus->owned) {
		/* Ours: a forced stop ends every process in it; its files stay readable. */
		body = json_pack("{s:s, s:b}", "action", "stop", "force", 1);
		path = pikaci_incus_instance_url_new(incus->instance, "/state", incus->project);
		if (body && path)
			incus_operate(incus, "stopping the timed-out guest", "PUT", path, body);
		/* The exec operation ends with it. */
		incus_wait(incus, "waiting for the stopped exec", operation,
		           fmin(monotonic_seconds() + SETTLE_SECONDS, incus->deadline), false,
		           ret_final);
	} else {
		/* Someone else's instance: cancel the exec (Incus may refuse: best effort). */
		path = pikaci_incus_url_new(operation, incus->project);
		if (path)
			incus_json(incus, "cancelling the timed-out exec", "DELETE", path, NULL,
			           incus->deadline, 0, &http, &response);
	}
	pikaci_incus_response_clear(&response);
	json_decref(body);
	free(path);
}

/*
 * Asks Incus to start argv (POST /exec) by `deadline`: *ret_response holds the exec's
 * operation. `what` names the run in errors.
 */
static int incus_exec_start(struct incus *incus, char *const argv[], const char *what,
                            double deadline, struct pikaci_incus_response *ret_response)
{
	json_t *body = NULL;
	char *path = NULL;
	int r;

	path = pikaci_incus_instance_url_new(incus->instance, "/exec", incus->project);
	if (!path) {
		r = pikaci_transport_fail(&incus->base, -ENOMEM, "out of memory");
		goto out;
	}
	/* The environment was checked by new(): only an argument can be refused here. */
	body = pikaci_incus_exec_request_new(argv, incus->environment.items);
	if (!body) {
		r = pikaci_transport_fail(&incus->base, -EINVAL,
		                          "%s: an argument is not UTF-8 (or out of memory)", what);
		goto out;
	}
	r = incus_ask(incus, what, "POST", path, body, deadline, ret_response);
	if (r < 0)
		goto out;
	if (ret_response->type != PIKACI_INCUS_ASYNC)
		r = pikaci_transport_fail(
		        &incus->base, -EPROTO,
		        "%s (POST %s): Incus answered a %s body, not an operation", what, path,
		        ret_response->type == PIKACI_INCUS_SYNC ? "sync" : "error");
out:
	json_decref(body);
	free(path);
	return r;
}

/*
 * Waits for the exec `operation` begun at `started` until started + deadline and fills
 * *result's end (exit code or timeout, seconds); *ret_final gets the operation's end.
 */
static int incus_exec_end(struct incus *incus, const char *what, const char *operation,
                          double started, double deadline, struct pikaci_incus_operation *ret_final,
                          struct pikaci_transport_result *result)
{
	struct pikaci_transport *t = &incus->base;
	char answer[sizeof(t->error)];
	int r;

	t->error[0] = '\0';
	r = incus_wait(incus, what, operation, started + deadline, true, ret_final);
	/* What follows (stopping, the output, collecting) has the bound of a phase. */
	incus->deadline = monotonic_seconds() + incus->setup_seconds;
	if (r == -ETIME) {
		/* [D5]: what it wrote until it was stopped still comes back, when Incus has it. */
		result->timed_out = true;
		result->exit_code = -1;
		result->seconds = monotonic_seconds() - started;
		incus_stop_guest(incus, operation, ret_final);
		return 0;
	}
	if (r < 0)
		return r;
	if (ret_final->status_code == 200 && ret_final->has_return) {
		result->seconds = monotonic_seconds() - started;
		result->exit_code = ret_final->return_code;
		return 0;
	}
	/* "Command not found" and the like: the guest never ran. */
	snprintf(answer, sizeof(answer), "%s", t->error);
	incus_drop_logs(incus, ret_final);
	return pikaci_transport_fail(t, strstr(ret_final->err, "not found") ? -ENOENT : -EIO,
	                             "%s: the exec operation %s ended %s (status_code %d): %s%s%s",
	                             what, operation, ret_final->status, ret_final->status_code,
	                             ret_final->err[0] ? ret_final->err : "(no error text)",
	                             answer[0] ? "; its wait said: " : "", answer);
}

/* Fetches the exec's two logs into *result (never NULL after: an empty output is ""). */
static int incus_exec_output(struct incus *incus, const struct pikaci_incus_operation *operation,
                             struct pikaci_transport_result *result)
{
	int r;

	for (int stream = 1; stream <= 2; stream++) {
		const char *log = stream == 1 ? operation->stdout_log : operation->stderr_log;

		if (!log)
			continue;
		r = incus_fetch_log(incus, log, stream == 1 ? &result->out : &result->err,
		                    stream == 1 ? &result->out_length : &result->err_length,
		                    &result->truncated);
		/*
		 * After a timeout the output is a bonus: a log Incus lost does not fail the run;
		 * nor does one the phase's time ran out for (the output is then cut).
		 */
		if (r == -ETIMEDOUT)
			result->truncated = true;
		else if (r < 0 && !result->timed_out)
			return r;
	}
	if (!result->out)
		result->out = calloc(1, 1);
	if (!result->err)
		result->err = calloc(1, 1);
	if (!result->out || !result->err)
		return pikaci_transport_fail(&incus->base, -ENOMEM, "out of memory");
	return 0;
}

/*
 * Overlay isolation: the helper runs a program, by incus->deadline. 0 when it exited 0, else
 * fails with `what` and the helper's own words. Its output logs stay with the instance (they
 * go when it is deleted): deleting them would cost two more requests a call.
 */
static int incus_helper(struct incus *incus, const char *what, const char *program,
                        const char *command, const char *id)
{
	char *argv[] = { (char *)program, (char *)command, (char *)id, NULL };
	struct pikaci_incus_response response = { 0 };
	struct pikaci_incus_operation operation = { 0 };
	bool truncated = false;
	size_t length = 0;
	char *err = NULL;
	int r;

	r = incus_exec_start(incus, argv, what, incus->deadline, &response);
	if (r < 0)
		goto out;
	r = incus_wait(incus, what, response.operation, incus->deadline, true, &operation);
	if (r == -ETIME)
		r = pikaci_transport_fail(&incus->base, -ETIMEDOUT,
		                          "%s: still running when the %.0f s bound of this phase "
		                          "was spent",
		                          what, incus->setup_seconds);
	if (r < 0)
		goto out;
	if (operation.status_code == 200 && operation.has_return && operation.return_code == 0)
		goto out;
	if (operation.stderr_log)
		incus_fetch_log(incus, operation.stderr_log, &err, &length, &truncated);
	r = pikaci_transport_fail(&incus->base, -EIO, "%s in %s: %s %s exited %d: %.300s", what,
	                          incus->instance, program, command,
	                          operation.has_return ? operation.return_code : -1,
	                          err && err[0] ? err : operation.err);
out:
	free(err);
	pikaci_incus_operation_clear(&operation);
	pikaci_incus_response_clear(&response);
	return r;
}

/* Overlay isolation: argv as the helper runs it in the run's view (NULL: out of memory). */
static char **overlay_argv_new(const struct incus *incus, char *const argv[])
{
	size_t n = 0;
	char **all;

	while (argv[n])
		n++;
	all = calloc(n + 4, sizeof(*all));
	if (!all)
		return NULL;
	all[0] = (char *)HELPER_PATH;
	all[1] = (char *)"run";
	all[2] = incus->case_id;
	memcpy(all + 3, argv, n * sizeof(*all));
	return all;
}

static int incus_run(struct pikaci_transport *t, char *const argv[], double deadline,
                     pikaci_output_fn output, void *userdata, struct pikaci_transport_result *ret)
{
	struct incus *incus = (struct incus *)t;
	struct pikaci_transport_result result = { 0 };
	struct pikaci_incus_response response = { 0 };
	struct pikaci_incus_operation operation = { 0 };
	char what[PATH_MAX + 64], **wrapped = NULL;
	double started;
	int r;

	r = incus_snapshot(incus);
	if (r < 0)
		goto out;
	snprintf(what, sizeof(what), "running %s in %s", argv[0], incus->instance);
	if (incus->view && !(wrapped = overlay_argv_new(incus, argv))) {
		r = pikaci_transport_fail(t, -ENOMEM, "out of memory");
		goto out;
	}
	/* [D5]: the run, from the exec request on, has the caller's deadline. */
	started = monotonic_seconds();
	r = incus_exec_start(incus, wrapped ? wrapped : argv, what, started + deadline, &response);
	if (r < 0)
		goto out;
	r = incus_exec_end(incus, what, response.operation, started, deadline, &operation, &result);
	if (r < 0)
		goto out;
	r = incus_exec_output(incus, &operation, &result);
	if (r < 0)
		goto out;
	/* Incus records the output: it arrives whole, once the guest has finished. */
	if (output) {
		output(userdata, 1, result.out, result.out_length);
		output(userdata, 2, result.err, result.err_length);
	}
	*ret = result;
	memset(&result, 0, sizeof(result));
out:
	free(wrapped);
	pikaci_transport_result_clear(&result);
	pikaci_incus_operation_clear(&operation);
	pikaci_incus_response_clear(&response);
	return r;
}

static int incus_collect(struct pikaci_transport *t, const char *guest_path, size_t max_length,
                         char **ret_bytes, size_t *ret_length)
{
	struct incus *incus = (struct incus *)t;
	struct reply reply = { 0 };
	int r;

	r = incus_file_get(incus, "GET", guest_path, max_length, &reply);
	if (r < 0)
		goto out;
	if (strcmp(reply.file_type, "directory") == 0) {
		r = pikaci_transport_fail(t, -EISDIR, "%s in %s is a directory", guest_path,
		                          incus->instance);
		goto out;
	}
	if (strcmp(reply.file_type, "symlink") == 0) {
		r = pikaci_transport_fail(t, -ELOOP, "%s in %s is a symbolic link", guest_path,
		                          incus->instance);
		goto out;
	}
	if (strcmp(reply.file_type, "file") != 0) {
		r = pikaci_transport_fail(t, -EINVAL, "%s in %s is not a regular file (%s)",
		                          guest_path, incus->instance, reply.file_type);
		goto out;
	}
	if (reply.too_big) {
		r = pikaci_transport_fail(t, -EFBIG, "%s in %s is over %zu bytes", guest_path,
		                          incus->instance, max_length);
		goto out;
	}
	*ret_bytes = buffer_steal(&reply.body, ret_length);
	r = 0;
out:
	reply_clear(&reply);
	return r;
}

static int change_compare(const void *a, const void *b)
{
	return strcmp(((const struct pikaci_change *)a)->path,
	              ((const struct pikaci_change *)b)->path);
}

static int incus_changes(struct pikaci_transport *t, struct pikaci_change **ret_changes,
                         size_t *ret_count)
{
	struct incus *incus = (struct incus *)t;
	struct pikaci_change *changes = NULL;
	struct strv after = { 0 };
	size_t count = 0;
	int r;

	if (!incus->snapshot_taken) {
		r = pikaci_transport_fail(t, -ENODATA,
		                          "no changes to tell: nothing was delivered or run yet");
		goto out;
	}
	r = incus_scan(incus, &after);
	if (r < 0)
		goto out;
	changes = calloc(after.count ? after.count : 1, sizeof(*changes));
	if (!changes) {
		r = pikaci_transport_fail(t, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < after.count; i++) {
		if (strv_contains(&incus->before, after.items[i]) ||
		    strv_contains(&incus->prepared, after.items[i]))
			continue;
		changes[count].kind = '+';
		changes[count].path = strdup(after.items[i]);
		if (!changes[count].path) {
			r = pikaci_transport_fail(t, -ENOMEM, "out of memory");
			goto out;
		}
		count++;
	}
	if (count > 1)
		qsort(changes, count, sizeof(*changes), change_compare);
	*ret_changes = changes;
	*ret_count = count;
	changes = NULL;
	count = 0;
	r = 0;
out:
	pikaci_changes_free(changes, count);
	strv_clear(&after);
	return r;
}

/*
 * Whether a container is gone (HTTP 404): a delete that failed because another process (the
 * reaper, or the program it reaps for) deleted it at the same moment still leaves it gone.
 */
static bool incus_instance_gone(struct incus *incus, const char *name)
{
	struct pikaci_incus_response response = { 0 };
	char *path = pikaci_incus_instance_url_new(name, "", incus->project);
	long http = 0;
	bool gone;

	gone = path &&
	       incus_json(incus, "looking up a guest", "GET", path, NULL, incus->deadline, 0, &http,
	                  &response) == 0 &&
	       response.error_code == 404;
	pikaci_incus_response_clear(&response);
	free(path);
	return gone;
}

/* Stops an instance of ours hard and deletes it, waiting for both, each in half the phase. */
static void incus_delete_instance(struct incus *incus, const char *name)
{
	json_t *body = json_pack("{s:s, s:b}", "action", "stop", "force", 1);
	char *state = pikaci_incus_instance_url_new(name, "/state", incus->project);
	char *path = pikaci_incus_instance_url_new(name, "", incus->project);
	int r = -ENOMEM;

	incus->deadline = monotonic_seconds() + incus->setup_seconds / 2;
	if (body && state)
		incus_operate(incus, "stopping the guest", "PUT", state, body);
	incus->deadline = monotonic_seconds() + incus->setup_seconds / 2;
	if (path)
		r = incus_operate(incus, "deleting the guest", "DELETE", path, NULL);
	/* Gone (or never made): the reaper can forget it; else it tries again at exit. */
	if (r == 0 || r == -ENOENT || incus_instance_gone(incus, name))
		reaper_note('-', name);
	json_decref(body);
	free(state);
	free(path);
}

static void incus_free(struct pikaci_transport *t)
{
	struct incus *incus = (struct incus *)t;

	if (!incus)
		return;
	/* A run's view in an instance hosting others goes; in one of ours, with the instance. */
	if (incus->case_id && !incus->owned && incus->curl) {
		incus->deadline = monotonic_seconds() + incus->setup_seconds / 2;
		incus_helper(incus, "removing the run's view", HELPER_PATH, "clean",
		             incus->case_id);
	}
	if (incus->owned && incus->curl)
		incus_delete_instance(incus, incus->instance);
	if (incus->curl)
		curl_easy_cleanup(incus->curl);
	curl_global_cleanup();
	strv_clear(&incus->before);
	strv_clear(&incus->prepared);
	strv_clear(&incus->environment);
	free(incus->base_url);
	free(incus->socket);
	free(incus->cert);
	free(incus->key);
	free(incus->ca);
	free(incus->project);
	free(incus->instance);
	free(incus->instance_type);
	pikaci_incus_image_clear(&incus->image);
	free(incus->case_id);
	free(incus->view);
	free(incus);
}

static const struct pikaci_transport_ops incus_ops = {
	.name = "incus",
	.deliver = incus_deliver,
	.make_dir = incus_make_dir,
	.run = incus_run,
	.collect = incus_collect,
	.exists = incus_exists,
	.changes = incus_changes,
	.watch = NULL,
	.free = incus_free,
};

/* --- Connecting ---------------------------------------------------------------------------- */

static int copy_option(const char *value, char **ret_copy)
{
	if (!value)
		return 0;
	*ret_copy = strdup(value);
	return *ret_copy ? 0 : -ENOMEM;
}

/* GET /1.0 must answer a sync success; notes which API extensions matter. */
static int incus_connect(struct incus *incus)
{
	struct pikaci_incus_response response = { 0 };
	const json_t *extension;
	char *path = NULL;
	size_t i;
	int r;

	path = pikaci_incus_url_new("/1.0", incus->project);
	if (!path) {
		r = pikaci_transport_fail(&incus->base, -ENOMEM, "out of memory");
		goto out;
	}
	r = incus_ask(incus, "connecting to Incus", "GET", path, NULL, incus->deadline, &response);
	if (r < 0)
		goto out;
	if (response.type != PIKACI_INCUS_SYNC || !json_is_object(response.metadata)) {
		r = pikaci_transport_fail(&incus->base, -EPROTO,
		                          "connecting to Incus (GET %s): the answer is not the "
		                          "server's description",
		                          path);
		goto out;
	}
	json_array_foreach(json_object_get(response.metadata, "api_extensions"), i, extension)
	{
		if (json_is_string(extension) &&
		    strcmp(json_string_value(extension), "instance_file_head") == 0)
			incus->file_head = true;
	}
out:
	pikaci_incus_response_clear(&response);
	free(path);
	return r;
}

/* A given instance must exist and run: the guest is exec'd in it. */
static int incus_check_instance(struct incus *incus)
{
	struct pikaci_incus_response response = { 0 };
	char *path = NULL, what[256];
	const char *status, *type;
	int r;

	snprintf(what, sizeof(what), "looking up instance %s", incus->instance);
	path = pikaci_incus_instance_url_new(incus->instance, "", incus->project);
	if (!path) {
		r = pikaci_transport_fail(&incus->base, -ENOMEM, "out of memory");
		goto out;
	}
	r = incus_ask(incus, what, "GET", path, NULL, incus->deadline, &response);
	if (r < 0)
		goto out;
	status = json_string_value(json_object_get(response.metadata, "status"));
	if (!status || strcmp(status, "Running") != 0) {
		r = pikaci_transport_fail(&incus->base, -ENOTCONN,
		                          "%s (GET %s): it is %s, not Running", what, path,
		                          status ? status : "in no known state");
		goto out;
	}
	/* A running VM may still be booting: its agent must answer before files and exec. */
	type = json_string_value(json_object_get(response.metadata, "type"));
	if (type && strcmp(type, "virtual-machine") == 0)
		r = incus_agent_wait(incus);
out:
	pikaci_incus_response_clear(&response);
	free(path);
	return r;
}

/* --- Issue 12: virtual machines, image servers, cluster members ------------------------------ */

/* The create request for this transport's instance type and image source. */
static json_t *incus_create_request_new(const struct incus *incus, const char *name,
                                        const char *alias)
{
	struct pikaci_incus_source source = incus->source;
	json_t *request;

	source.alias = alias;
	request = pikaci_incus_instance_request_new(name, incus->instance_type, &source);
	if (request &&
	    pikaci_incus_instance_request_config(request, incus->config, incus->n_config) < 0) {
		json_decref(request);
		return NULL;
	}
	return request;
}

/*
 * A virtual machine runs commands and serves files through its Incus agent, which answers some
 * seconds after the VM starts: GET .../state until its process count is above 0 (how
 * `incus wait NAME agent` decides), twice a second, for at most agent_seconds. The wait does
 * not eat the set-up phase's bound: that moves on by the time it took.
 */
static int incus_agent_wait(struct incus *incus)
{
	double started = monotonic_seconds(), deadline = started + incus->agent_seconds;
	char *path = pikaci_incus_instance_url_new(incus->instance, "/state", incus->project);
	char what[256], status[32] = "unknown";
	unsigned polls = 0;
	int r;

	if (!path)
		return pikaci_transport_fail(&incus->base, -ENOMEM, "out of memory");
	snprintf(what, sizeof(what), "waiting for the Incus agent of virtual machine %s",
	         incus->instance);
	for (;; polls++) {
		struct pikaci_incus_response response = { 0 };
		const char *now = NULL;

		r = incus_ask(incus, what, "GET", path, NULL, deadline, &response);
		if (r == 0) {
			r = pikaci_incus_agent_ready_parse(response.metadata, &now);
			if (now)
				snprintf(status, sizeof(status), "%s", now);
		}
		pikaci_incus_response_clear(&response);
		if (r == -EBADMSG) {
			r = pikaci_transport_fail(
			        &incus->base, -EPROTO,
			        "%s (GET %s): the answer is not an instance state", what, path);
			goto out;
		}
		if (r == -ETIMEDOUT && monotonic_seconds() >= deadline)
			break;
		if (r < 0)
			goto out;
		if (r == 1) {
			r = 0;
			goto out;
		}
		if (strcmp(status, "Running") != 0 && strcmp(status, "Starting") != 0) {
			r = pikaci_transport_fail(&incus->base, -ENOTCONN,
			                          "%s (GET %s): it is %s, not Running", what, path,
			                          status);
			goto out;
		}
		if (monotonic_seconds() >= deadline)
			break;
		sleep_until(0.5, deadline);
	}
	r = pikaci_transport_fail(
	        &incus->base, -ETIMEDOUT,
	        "virtual machine %s: its Incus agent did not answer within %.1f s "
	        "(%u polls of GET %s, status %s, no processes): is incus-agent "
	        "in the image and started at boot?",
	        incus->instance, incus->agent_seconds, polls + 1, path, status);
out:
	incus->deadline += monotonic_seconds() - started;
	free(path);
	return r;
}

/* A name unlikely to collide: "PREFIXPID-N-XXXXXXXX" (instances: "pikaci-"). */
static void unique_name(char *name, size_t size, const char *prefix)
{
	static unsigned counter;
	unsigned char random_bytes[4] = { 0 };

	if (getrandom(random_bytes, sizeof(random_bytes), 0) != (ssize_t)sizeof(random_bytes)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		memcpy(random_bytes, &ts.tv_nsec, sizeof(random_bytes));
	}
	snprintf(name, size, "%s%ld-%u-%02x%02x%02x%02x", prefix, (long)getpid(),
	         __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED), random_bytes[0],
	         random_bytes[1], random_bytes[2], random_bytes[3]);
}

/* "creating virtual machine NAME from image [SERVER ]ALIAS[ on TARGET]", for errors. */
static void create_what(const struct incus *incus, const char *name, const char *alias, char *what,
                        size_t size)
{
	snprintf(what, size, "creating %s %s from image %s%s%s%s%s",
	         incus->instance_type ? "virtual machine" : "container", name,
	         incus->source.server ? incus->source.server : "", incus->source.server ? " " : "",
	         alias, incus->target ? " on " : "", incus->target ? incus->target : "");
}

/*
 * Asks for an instance named `name` from the image alias (of this transport's type and image
 * source, on incus->target), started: *ret_operation (NULL when Incus did it at once) is what
 * to wait for. Ours from the moment it is asked for: a create
 * that fails or hangs may still leave it behind, and deleting a name nobody else uses costs a
 * 404 at worst.
 */
static int incus_create_start(struct incus *incus, const char *name, const char *alias,
                              char **ret_operation)
{
	struct pikaci_incus_response response = { 0 };
	char what[256];
	json_t *body = NULL;
	char *path = NULL;
	int r;

	body = incus_create_request_new(incus, name, alias);
	path = pikaci_incus_create_url_new(incus->project, incus->target);
	if (!body || !path) {
		r = pikaci_transport_fail(&incus->base, -ENOMEM, "out of memory");
		goto out;
	}
	create_what(incus, name, alias, what, sizeof(what));
	reaper_note('+', name);
	r = incus_ask(incus, what, "POST", path, body, incus->deadline, &response);
	if (r < 0)
		goto out;
	*ret_operation = NULL;
	if (response.type == PIKACI_INCUS_ASYNC && !(*ret_operation = strdup(response.operation)))
		r = pikaci_transport_fail(&incus->base, -ENOMEM, "out of memory");
out:
	pikaci_incus_response_clear(&response);
	json_decref(body);
	free(path);
	return r;
}

/* Waits for incus_create_start()'s operation to succeed. */
static int incus_create_wait(struct incus *incus, const char *name, const char *operation)
{
	struct pikaci_incus_operation result = { 0 };
	char what[256];
	int r;

	if (!operation)
		return 0;
	snprintf(what, sizeof(what), "creating %s %s",
	         incus->instance_type ? "virtual machine" : "container", name);
	r = incus_wait(incus, what, operation, incus->deadline, false, &result);
	if (r == -ETIME)
		r = pikaci_transport_fail(&incus->base, -ETIMEDOUT,
		                          "%s: operation %s still running when the %.0f s bound of "
		                          "this phase was spent",
		                          what, operation, incus->setup_seconds);
	else if (r == 0 && result.status_code != 200)
		r = pikaci_transport_fail(&incus->base, -EIO, "%s: operation %s ended %s (%d): %s",
		                          what, operation, result.status, result.status_code,
		                          result.err);
	pikaci_incus_operation_clear(&result);
	return r;
}

/*
 * A fresh instance from the image alias (on incus->target), started, a VM's agent waited for;
 * owned (deleted by free) once it exists.
 */
static int incus_create(struct incus *incus, const char *alias)
{
	char name[64], what[256];
	json_t *body = NULL;
	char *path = NULL;
	int r;

	unique_name(name, sizeof(name), "pikaci-");
	incus->instance = strdup(name);
	body = incus_create_request_new(incus, name, alias);
	path = pikaci_incus_create_url_new(incus->project, incus->target);
	if (!incus->instance || !body || !path) {
		r = pikaci_transport_fail(&incus->base, -ENOMEM, "out of memory");
		goto out;
	}
	create_what(incus, name, alias, what, sizeof(what));
	/*
	 * Ours from the moment it is asked for: a create that fails or hangs may still leave it
	 * behind, and deleting a name nobody else uses costs a 404 at worst.
	 */
	incus->owned = true;
	reaper_note('+', name);
	r = incus_operate(incus, what, "POST", path, body);
	if (r == 0 && incus->instance_type)
		r = incus_agent_wait(incus);
out:
	json_decref(body);
	free(path);
	return r;
}

/*
 * Overlay isolation: pushes the helper into the image's /tmp of a fresh instance and sets it
 * up there (it hides itself under a tmpfs and unlinks the pushed copy: the image's files stay
 * as they were).
 */
static int incus_helper_install(struct incus *incus)
{
	char path[96];
	int r;

	unique_name(path, sizeof(path), "/tmp/.pikaci-incus-case-");
	r = incus_push(incus, path, false, true, pikaci_incus_case_helper,
	               pikaci_incus_case_helper_size);
	if (r < 0)
		return r;
	return incus_helper(incus, "setting up overlay isolation", path, "setup", NULL);
}

/*
 * Overlay isolation: the run's view, in one of the pool's instances (picked by process id:
 * each case of pikaci-conform is a process of its own) or in an instance of its own.
 */
static int incus_overlay_start(struct incus *incus, const struct pikaci_incus_options *options)
{
	char id[64];
	size_t n = 0;
	int r;

	while (options->pool && options->pool[n])
		n++;
	if (n > 0) {
		incus->instance = strdup(options->pool[(size_t)getpid() % n]);
		if (!incus->instance)
			return pikaci_transport_fail(&incus->base, -ENOMEM, "out of memory");
	} else {
		incus->target = pikaci_incus_target_next(options);
		r = incus_create(incus, incus->image.alias);
		if (r == 0)
			r = incus_helper_install(incus);
		if (r < 0)
			return r;
	}
	unique_name(id, sizeof(id), "");
	incus->case_id = strdup(id);
	if (!incus->case_id || asprintf(&incus->view, "%s/%s/root", CASES_DIR, id) < 0) {
		incus->view = NULL;
		return pikaci_transport_fail(&incus->base, -ENOMEM, "out of memory");
	}
	r = incus_helper(incus, "preparing the run's view", HELPER_PATH, "prepare", id);
	if (r < 0) {
		free(incus->view);
		incus->view = NULL;
	}
	return r;
}

/* Copies the environment, refusing what an exec request could not carry. */
static int environment_copy(char *const *environment, struct strv *copy)
{
	char *const probe[] = { "true", NULL };
	json_t *request;

	for (size_t i = 0; environment[i]; i++)
		if (strv_add(copy, environment[i]) < 0)
			return -ENOMEM;
	/* An empty environment is an empty list, not none. */
	if (!copy->items) {
		copy->items = calloc(1, sizeof(*copy->items));
		if (!copy->items)
			return -ENOMEM;
	}
	request = pikaci_incus_exec_request_new(probe, copy->items);
	if (!request)
		return -EINVAL;
	json_decref(request);
	return 0;
}

static int incus_alloc_resolved(const struct pikaci_incus_options *options,
                                struct incus **ret_incus, char *errbuf, size_t errsize);

/*
 * A transport's connection (no instance yet) from the options: *ret_incus, which
 * incus_free() frees, even on failure (then with its error set).
 */
static int incus_alloc(const struct pikaci_incus_options *options, struct incus **ret_incus,
                       char *errbuf, size_t errsize)
{
	struct pikaci_incus_options resolved;
	struct pikaci_incus_connection connection = { 0 };
	struct pikaci_incus_image image = { 0 };
	struct incus *incus;
	int r = 0;

	/* --remote, the client configuration's default remote, REMOTE:ALIAS (incus-config.h). */
	r = pikaci_incus_options_resolve(options, &resolved, &connection, &image, errbuf, errsize);
	if (r < 0)
		return r;
	options = &resolved;
	r = incus_alloc_resolved(options, &incus, errbuf, errsize);
	if (incus) {
		incus->image = image;
		incus->source.server = image.server;
		incus->source.protocol = image.protocol;
		memset(&image, 0, sizeof(image));
		incus->ca_pinned = options->ca_pinned;
		incus->n_config = options->n_instance_config < PIKACI_INCUS_INSTANCE_CONFIG_MAX
		                          ? options->n_instance_config
		                          : PIKACI_INCUS_INSTANCE_CONFIG_MAX;
		memcpy(incus->config, options->instance_config,
		       incus->n_config * sizeof(incus->config[0]));
		incus->agent_seconds = options->agent_seconds > 0 ? options->agent_seconds
		                                                  : PIKACI_INCUS_AGENT_SECONDS;
		if (r == 0 && options->instance_type &&
		    strcmp(options->instance_type, "virtual-machine") == 0 &&
		    copy_option(options->instance_type, &incus->instance_type) < 0)
			r = pikaci_transport_fail(&incus->base, -ENOMEM, "out of memory");
		*ret_incus = incus;
	}
	pikaci_incus_connection_clear(&connection);
	pikaci_incus_image_clear(&image);
	return r;
}

static int incus_alloc_resolved(const struct pikaci_incus_options *options,
                                struct incus **ret_incus, char *errbuf, size_t errsize)
{
	struct incus *incus;
	int r = 0;

	*ret_incus = NULL;
	if (options->url && (!options->cert || !options->key)) {
		snprintf(errbuf, errsize, "incus transport: %s needs a client certificate and key",
		         options->url);
		return -EINVAL;
	}
	if (!(options->setup_seconds >= 0 && options->setup_seconds <= 86400)) {
		snprintf(errbuf, errsize,
		         "incus transport: the set-up bound must be 0 to 86400 seconds, not %g",
		         options->setup_seconds);
		return -EINVAL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(errbuf, errsize, "incus transport: libcurl could not be initialised");
		return -EIO;
	}
	incus = calloc(1, sizeof(*incus));
	if (!incus) {
		curl_global_cleanup();
		snprintf(errbuf, errsize, "out of memory");
		return -ENOMEM;
	}
	incus->base.ops = &incus_ops;
	incus->setup_seconds =
	        options->setup_seconds > 0 ? options->setup_seconds : PIKACI_INCUS_SETUP_SECONDS;
	incus->deadline = monotonic_seconds() + incus->setup_seconds;
	if (options->url) {
		size_t length = strlen(options->url);

		while (length > 0 && options->url[length - 1] == '/')
			length--;
		incus->base_url = strndup(options->url, length);
		if (!incus->base_url)
			r = -ENOMEM;
	} else {
		incus->base_url = strdup(SOCKET_BASE_URL);
		r = copy_option(options->socket ? options->socket : DEFAULT_SOCKET, &incus->socket);
		if (!incus->base_url)
			r = -ENOMEM;
	}
	if (r == 0)
		r = copy_option(options->cert, &incus->cert);
	if (r == 0)
		r = copy_option(options->key, &incus->key);
	if (r == 0)
		r = copy_option(options->ca, &incus->ca);
	if (r == 0)
		r = copy_option(options->project, &incus->project);
	if (r == 0) {
		incus->curl = curl_easy_init();
		if (!incus->curl)
			r = -ENOMEM;
	}
	if (r < 0)
		pikaci_transport_fail(&incus->base, r, "out of memory");
	*ret_incus = incus;
	return r;
}

int pikaci_transport_incus_new(const struct pikaci_incus_options *options,
                               struct pikaci_transport **ret, char *errbuf, size_t errsize)
{
	struct pikaci_incus_options none = { 0 };
	struct incus *incus = NULL;
	int r;

	if (!options)
		options = &none;
	if (options->instance && pikaci_incus_placement_problem(options)) {
		snprintf(errbuf, errsize, "incus transport: %s",
		         pikaci_incus_placement_problem(options));
		return -EINVAL;
	}
	if (!options->instance == !options->image) {
		snprintf(errbuf, errsize,
		         "incus transport: give exactly one of an instance and an "
		         "image");
		return -EINVAL;
	}
	r = incus_alloc(options, &incus, errbuf, errsize);
	if (r < 0)
		goto out;
	if (options->instance) {
		r = copy_option(options->instance, &incus->instance);
		if (r < 0) {
			pikaci_transport_fail(&incus->base, r, "out of memory");
			goto out;
		}
	}
	r = environment_copy(options->environment ? options->environment
	                                          : pikaci_sandbox_default_environment,
	                     &incus->environment);
	if (r < 0) {
		pikaci_transport_fail(&incus->base, r,
		                      "incus transport: the environment has an entry that is not "
		                      "NAME=VALUE in UTF-8");
		goto out;
	}
	r = incus_connect(incus);
	if (r < 0)
		goto out;
	/* A new instance goes on the next --target in turn (none for a pool's: they are made). */
	if (options->instance)
		r = incus_check_instance(incus);
	else if (options->isolation == PIKACI_INCUS_CONTAINER) {
		incus->target = pikaci_incus_target_next(options);
		r = incus_create(incus, incus->image.alias);
	} else
		r = incus_overlay_start(incus, options);
	if (r < 0)
		goto out;
	*ret = &incus->base;
	incus = NULL;
out:
	if (incus) {
		snprintf(errbuf, errsize, "%s", incus->base.error);
		incus_free(&incus->base);
	}
	return r;
}

/* --- The pool of overlay isolation ---------------------------------------------------------- */

/*
 * Asks for method on every instance's URL + suffix at once, then waits for them all (each in
 * the phase's bound). Best effort: what fails here, incus_delete_instance() tries again.
 */
static void incus_operate_all(struct incus *incus, char **names, const char *method,
                              const char *suffix, const json_t *body)
{
	size_t n = 0;
	char **operations;

	while (names[n])
		n++;
	operations = calloc(n ? n : 1, sizeof(*operations));
	if (!operations)
		return;
	incus->deadline = monotonic_seconds() + incus->setup_seconds / 2;
	for (size_t i = 0; i < n; i++) {
		struct pikaci_incus_response response = { 0 };
		char *path = pikaci_incus_instance_url_new(names[i], suffix, incus->project);

		if (path &&
		    incus_ask(incus, "ending the pool", method, path, body, incus->deadline,
		              &response) == 0 &&
		    response.type == PIKACI_INCUS_ASYNC)
			operations[i] = strdup(response.operation);
		pikaci_incus_response_clear(&response);
		free(path);
	}
	for (size_t i = 0; i < n; i++) {
		struct pikaci_incus_operation operation = { 0 };

		if (operations[i])
			incus_wait(incus, "ending the pool", operations[i], incus->deadline, false,
			           &operation);
		pikaci_incus_operation_clear(&operation);
		free(operations[i]);
	}
	free(operations);
}

void pikaci_incus_pool_free(const struct pikaci_incus_options *options, char **names)
{
	struct incus *incus = NULL;
	char errbuf[256];

	if (!names)
		return;
	/* Without a connection the reaper deletes them when the program ends. */
	if (incus_alloc(options, &incus, errbuf, sizeof(errbuf)) == 0) {
		json_t *stop = json_pack("{s:s, s:b}", "action", "stop", "force", 1);

		/* All stopped at once, then all deleted at once: Incus does them side by side. */
		if (stop)
			incus_operate_all(incus, names, "PUT", "/state", stop);
		incus_operate_all(incus, names, "DELETE", "", NULL);
		json_decref(stop);
		for (size_t i = 0; names[i]; i++)
			incus_delete_instance(incus, names[i]);
	}
	if (incus)
		incus_free(&incus->base);
	for (size_t i = 0; names[i]; i++)
		free(names[i]);
	free(names);
}

int pikaci_incus_pool_new(const struct pikaci_incus_options *options, size_t n, char ***ret_names,
                          char *errbuf, size_t errsize)
{
	struct incus *incus = NULL;
	char **names = NULL, **operations = NULL, name[64];
	int r;

	if (!options->image || n == 0) {
		snprintf(errbuf, errsize, "incus pool: needs an image and at least one instance");
		return -EINVAL;
	}
	r = incus_alloc(options, &incus, errbuf, errsize);
	if (r < 0)
		goto out;
	names = calloc(n + 1, sizeof(*names));
	operations = calloc(n, sizeof(*operations));
	if (!names || !operations) {
		r = pikaci_transport_fail(&incus->base, -ENOMEM, "out of memory");
		goto out;
	}
	r = incus_connect(incus);
	/*
	 * All asked for at once, then waited for: Incus makes them side by side. Each goes on
	 * the next --target in turn, so the cases spread over the cluster's members.
	 */
	for (size_t i = 0; r == 0 && i < n; i++) {
		unique_name(name, sizeof(name), "pikaci-");
		names[i] = strdup(name);
		incus->target = pikaci_incus_target_next(options);
		if (!names[i])
			r = pikaci_transport_fail(&incus->base, -ENOMEM, "out of memory");
		else
			r = incus_create_start(incus, names[i], incus->image.alias, &operations[i]);
	}
	incus->target = NULL;
	for (size_t i = 0; r == 0 && i < n; i++)
		r = incus_create_wait(incus, names[i], operations[i]);
	/* A VM's helper goes in through its agent: waited for first. */
	for (size_t i = 0; r == 0 && i < n; i++) {
		incus->instance = names[i];
		if (incus->instance_type)
			r = incus_agent_wait(incus);
		if (r == 0)
			r = incus_helper_install(incus);
		incus->instance = NULL;
	}
	if (r < 0)
		goto out;
	*ret_names = names;
	names = NULL;
out:
	if (incus && r < 0)
		snprintf(errbuf, errsize, "%s", incus->base.error);
	if (incus)
		incus_free(&incus->base);
	for (size_t i = 0; operations && i < n; i++)
		free(operations[i]);
	free(operations);
	pikaci_incus_pool_free(options, names);
	return r;
}

/* --- The reaper ---------------------------------------------------------------------------- */

/*
 * One SOCK_SEQPACKET pair: the program and its forked workers send "+name" before creating a
 * container and "-name" once it is deleted, "!" to have everything listed deleted now (the
 * reaper answers one byte when done). Messages are records, so workers never interleave, and
 * the reaper sees end-of-file only when every process holding the program's end is gone.
 */
static int reaper_fd = -1;
static pid_t reaper_pid;
static struct sigaction reaper_previous[NSIG];

static void reaper_note(char kind, const char *name)
{
	char message[128];
	int n;

	if (reaper_fd < 0)
		return;
	n = snprintf(message, sizeof(message), "%c%s", kind, name);
	if (n > 0 && (size_t)n < sizeof(message))
		(void)send(reaper_fd, message, (size_t)n, MSG_NOSIGNAL);
}

void pikaci_incus_reap(void)
{
	int saved = errno;
	char ack;

	if (reaper_fd >= 0 && send(reaper_fd, "!", 1, MSG_NOSIGNAL) == 1)
		while (recv(reaper_fd, &ack, 1, 0) < 0 && errno == EINTR)
			;
	errno = saved;
}

static void reaper_signal(int sig)
{
	const struct sigaction *previous = &reaper_previous[sig];

	pikaci_incus_reap();
	if (!(previous->sa_flags & SA_SIGINFO) && previous->sa_handler != SIG_DFL &&
	    previous->sa_handler != SIG_IGN) {
		previous->sa_handler(sig);
		return;
	}
	coverage_flush();
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * Stops and deletes one container within the reaper's bound: 0 when deleted, -ENOENT when
 * not there; what went wrong is said on the first round only (it is tried again).
 */
static int reaper_delete(struct incus *incus, const char *name, int round)
{
	json_t *body = json_pack("{s:s, s:b}", "action", "stop", "force", 1);
	char *state = pikaci_incus_instance_url_new(name, "/state", incus->project);
	char *path = pikaci_incus_instance_url_new(name, "", incus->project);
	int r = -ENOMEM;

	if (body && state)
		incus_operate(incus, "stopping a left-over guest", "PUT", state, body);
	if (path)
		r = incus_operate(incus, "deleting a left-over guest", "DELETE", path, NULL);
	if (r < 0 && r != -ENOENT && incus_instance_gone(incus, name))
		r = -ENOENT;
	if (r == 0)
		fprintf(stderr, "pikaci: deleted container %s of a stopped run\n", name);
	else if (r != -ENOENT && round == 0)
		fprintf(stderr, "pikaci: container %s of a stopped run not deleted yet: %s\n", name,
		        incus->base.error);
	json_decref(body);
	free(state);
	free(path);
	return r;
}

/*
 * Deletes what is listed, within one phase bound, trying again every half second while Incus
 * says a container is busy (being created or started). A name Incus does not know (yet: its
 * create may be on its way) is tried for 3 s; mid-run it stays listed, at the end it goes.
 */
static void reaper_sweep(struct incus *incus, struct strv *names, bool final)
{
	const int unknown_rounds = 6;
	bool again = true;

	incus->deadline = monotonic_seconds() + incus->setup_seconds;
	for (int round = 0; again && names->count > 0 && monotonic_seconds() < incus->deadline;
	     round++) {
		if (round > 0)
			sleep_until(0.5, incus->deadline);
		again = false;
		for (size_t i = 0; i < names->count;) {
			int r = reaper_delete(incus, names->items[i], round);

			if (r == 0 || (r == -ENOENT && final && round >= unknown_rounds)) {
				free(names->items[i]);
				names->items[i] = names->items[--names->count];
				names->items[names->count] = NULL;
				continue;
			}
			if (r != -ENOENT || round < unknown_rounds)
				again = true;
			i++;
		}
	}
}

static _Noreturn void reaper_main(struct incus *incus, int fd)
{
	struct strv names = { 0 };
	char message[128];

	for (;;) {
		ssize_t n = recv(fd, message, sizeof(message) - 1, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		message[n] = '\0';
		if (message[0] == '+') {
			strv_add(&names, message + 1);
		} else if (message[0] == '-') {
			for (size_t i = 0; i < names.count; i++) {
				if (strcmp(names.items[i], message + 1) != 0)
					continue;
				free(names.items[i]);
				names.items[i] = names.items[--names.count];
				names.items[names.count] = NULL;
				break;
			}
		} else if (message[0] == '!') {
			reaper_sweep(incus, &names, false);
			(void)send(fd, "!", 1, MSG_NOSIGNAL);
		}
	}
	reaper_sweep(incus, &names, true);
	coverage_flush();
	_exit(0);
}

int pikaci_incus_reaper_start(const struct pikaci_incus_options *options, char *errbuf,
                              size_t errsize)
{
	static const int signals[] = { SIGINT, SIGTERM, SIGHUP };
	struct incus *incus = NULL;
	int fds[2], r;

	if (reaper_fd >= 0)
		return 0;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0) {
		snprintf(errbuf, errsize, "incus reaper: socketpair: %s", strerror(errno));
		return -errno;
	}
	fflush(NULL);
	reaper_pid = fork();
	if (reaper_pid < 0) {
		r = -errno;
		snprintf(errbuf, errsize, "incus reaper: fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return r;
	}
	if (reaper_pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		/* Out of the program's session; only stderr stays, for what it deletes. */
		setsid();
		signal(SIGPIPE, SIG_IGN);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
		}
		if (dup2(fds[1], 3) < 0)
			_exit(1);
		close_range(4, ~0u, 0);
		if (incus_alloc(options, &incus, errbuf, errsize) < 0)
			_exit(1);
		reaper_main(incus, 3);
	}
	close(fds[1]);
	reaper_fd = fds[0];
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++) {
		struct sigaction action = { .sa_handler = reaper_signal };

		if (sigaction(signals[i], NULL, &reaper_previous[signals[i]]) < 0 ||
		    reaper_previous[signals[i]].sa_handler == SIG_IGN)
			continue;
		sigemptyset(&action.sa_mask);
		action.sa_flags = SA_RESETHAND;
		sigaction(signals[i], &action, NULL);
	}
	return 0;
}
