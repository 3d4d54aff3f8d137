/* SPDX-License-Identifier: MIT */
/* incus-api.c - Incus REST bodies and URLs as data; no I/O (see incus-api.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "incus-api.h"
#include "shared.h"

/* Operation status codes (Incus doc/rest-api.md, "Status codes"). */
#define OPERATION_SUCCESS 200

static int bad(int code, char *errbuf, size_t errsize, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int bad(int code, char *errbuf, size_t errsize, const char *fmt, ...)
{
	va_list ap;

	/* The text may quote the server: valid UTF-8, cut on a character boundary. */
	va_start(ap, fmt);
	error_vformat(errbuf, errsize, code, fmt, ap);
	va_end(ap);
	return code;
}

/* An optional integer member that fits an int: 0 when absent, -EBADMSG when mistyped. */
static int member_int(const json_t *object, const char *name, bool required, int *ret_value,
                      char *errbuf, size_t errsize)
{
	const json_t *value = json_object_get(object, name);
	json_int_t n;

	if (!value) {
		if (required)
			return bad(-EBADMSG, errbuf, errsize, "the body has no \"%s\"", name);
		*ret_value = 0;
		return 0;
	}
	if (!json_is_integer(value))
		return bad(-EBADMSG, errbuf, errsize, "\"%s\" is not an integer", name);
	n = json_integer_value(value);
	if (n < -2147483647LL - 1 || n > 2147483647LL)
		return bad(-EBADMSG, errbuf, errsize, "\"%s\" is out of range: %lld", name,
		           (long long)n);
	*ret_value = (int)n;
	return 0;
}

/* A string member, copied; "" when absent and not required. */
static int member_string(const json_t *object, const char *name, bool required, char **ret_value,
                         char *errbuf, size_t errsize)
{
	const json_t *value = json_object_get(object, name);
	char *copy;

	if (!value && required)
		return bad(-EBADMSG, errbuf, errsize, "the body has no \"%s\"", name);
	if (value && !json_is_string(value))
		return bad(-EBADMSG, errbuf, errsize, "\"%s\" is not a string", name);
	copy = strdup(value ? json_string_value(value) : "");
	if (!copy)
		return bad(-ENOMEM, errbuf, errsize, "out of memory");
	*ret_value = copy;
	return 0;
}

int pikaci_incus_response_parse(const char *body, size_t length,
                                struct pikaci_incus_response *ret_response, char *errbuf,
                                size_t errsize)
{
	struct pikaci_incus_response response = { 0 };
	json_error_t error;
	json_t *document = NULL;
	const char *type;
	int r;

	if (!body || length == 0) {
		r = bad(-EBADMSG, errbuf, errsize, "the body is empty");
		goto out;
	}
	document = json_loadb(body, length, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &error);
	if (!document) {
		r = bad(-EBADMSG, errbuf, errsize, "the body is not JSON: %s (at byte %d)",
		        error.text, error.position);
		goto out;
	}
	if (!json_is_object(document)) {
		r = bad(-EBADMSG, errbuf, errsize, "the body is not a JSON object");
		goto out;
	}
	type = json_string_value(json_object_get(document, "type"));
	if (!type) {
		r = bad(-EBADMSG, errbuf, errsize, "the body has no string \"type\"");
		goto out;
	}
	if (strcmp(type, "sync") == 0) {
		response.type = PIKACI_INCUS_SYNC;
	} else if (strcmp(type, "async") == 0) {
		response.type = PIKACI_INCUS_ASYNC;
	} else if (strcmp(type, "error") == 0) {
		response.type = PIKACI_INCUS_ERROR;
	} else {
		r = bad(-EBADMSG, errbuf, errsize, "the body has an unknown \"type\": \"%.40s\"",
		        type);
		goto out;
	}
	r = member_int(document, "status_code", response.type != PIKACI_INCUS_ERROR,
	               &response.status_code, errbuf, errsize);
	if (r < 0)
		goto out;
	r = member_int(document, "error_code", response.type == PIKACI_INCUS_ERROR,
	               &response.error_code, errbuf, errsize);
	if (r < 0)
		goto out;
	r = member_string(document, "error", response.type == PIKACI_INCUS_ERROR, &response.error,
	                  errbuf, errsize);
	if (r < 0)
		goto out;
	r = member_string(document, "operation", response.type == PIKACI_INCUS_ASYNC,
	                  &response.operation, errbuf, errsize);
	if (r < 0)
		goto out;
	if (response.type == PIKACI_INCUS_ASYNC && response.operation[0] != '/') {
		r = bad(-EBADMSG, errbuf, errsize,
		        "an async body's \"operation\" is not a path: \"%.60s\"",
		        response.operation);
		goto out;
	}
	if (response.type == PIKACI_INCUS_ERROR && response.error_code == 0) {
		r = bad(-EBADMSG, errbuf, errsize, "an error body has \"error_code\" 0");
		goto out;
	}
	response.metadata = json_incref(json_object_get(document, "metadata"));
	if (json_is_null(response.metadata)) {
		json_decref(response.metadata);
		response.metadata = NULL;
	}
	*ret_response = response;
	memset(&response, 0, sizeof(response));
	r = 0;
out:
	pikaci_incus_response_clear(&response);
	json_decref(document);
	return r;
}

void pikaci_incus_response_clear(struct pikaci_incus_response *response)
{
	if (!response)
		return;
	free(response->error);
	free(response->operation);
	json_decref(response->metadata);
	memset(response, 0, sizeof(*response));
}

bool pikaci_incus_response_failed(const struct pikaci_incus_response *response)
{
	return response->type == PIKACI_INCUS_ERROR || response->error_code != 0;
}

bool pikaci_incus_response_wait_timed_out(const struct pikaci_incus_response *response)
{
	/* Go's context.DeadlineExceeded, passed through as an internal error. */
	return response->type == PIKACI_INCUS_ERROR && response->error_code == 500 &&
	       response->error && strstr(response->error, "deadline exceeded");
}

bool pikaci_incus_file_type_parse(const char *line, size_t length, char *ret_type, size_t size)
{
	static const char name[] = "X-Incus-Type:";
	const size_t name_length = sizeof(name) - 1;
	size_t start = name_length, n = 0;

	if (!line || !ret_type || size == 0 || length < name_length ||
	    strncasecmp(line, name, name_length) != 0)
		return false;
	while (start < length && (line[start] == ' ' || line[start] == '\t'))
		start++;
	while (start + n < length && line[start + n] != '\r' && line[start + n] != '\n' &&
	       n + 1 < size)
		n++;
	memcpy(ret_type, line + start, n);
	ret_type[n] = '\0';
	return true;
}

int pikaci_incus_operation_parse(const json_t *operation, bool exec,
                                 struct pikaci_incus_operation *ret_operation, char *errbuf,
                                 size_t errsize)
{
	struct pikaci_incus_operation result = { 0 };
	const json_t *metadata, *output, *value;
	int r;

	if (!json_is_object(operation)) {
		r = bad(-EBADMSG, errbuf, errsize, "the operation is not a JSON object");
		goto out;
	}
	r = member_int(operation, "status_code", true, &result.status_code, errbuf, errsize);
	if (r < 0)
		goto out;
	/* 1xx: created, started, running, cancelling, pending, ...: not finished yet. */
	if (result.status_code < 200) {
		r = bad(-EINPROGRESS, errbuf, errsize, "the operation is still running (%d)",
		        result.status_code);
		goto out;
	}
	r = member_string(operation, "status", false, &result.status, errbuf, errsize);
	if (r < 0)
		goto out;
	r = member_string(operation, "err", false, &result.err, errbuf, errsize);
	if (r < 0)
		goto out;
	metadata = json_object_get(operation, "metadata");
	if (metadata && !json_is_null(metadata) && !json_is_object(metadata)) {
		r = bad(-EBADMSG, errbuf, errsize, "the operation's \"metadata\" is not an object");
		goto out;
	}
	value = json_object_get(metadata, "return");
	if (value) {
		r = member_int(metadata, "return", true, &result.return_code, errbuf, errsize);
		if (r < 0)
			goto out;
		result.has_return = true;
	} else if (exec && result.status_code == OPERATION_SUCCESS) {
		r = bad(-EBADMSG, errbuf, errsize,
		        "the finished exec operation has no \"return\" in its metadata");
		goto out;
	}
	output = json_object_get(metadata, "output");
	if (output && !json_is_object(output)) {
		r = bad(-EBADMSG, errbuf, errsize, "the operation's \"output\" is not an object");
		goto out;
	}
	for (int stream = 1; stream <= 2; stream++) {
		const char *name = stream == 1 ? "1" : "2";
		char **log = stream == 1 ? &result.stdout_log : &result.stderr_log;
		const char *path;

		value = json_object_get(output, name);
		if (!value)
			continue;
		path = json_string_value(value);
		if (!path || path[0] != '/') {
			r = bad(-EBADMSG, errbuf, errsize,
			        "the operation's output \"%s\" is not a path", name);
			goto out;
		}
		*log = strdup(path);
		if (!*log) {
			r = bad(-ENOMEM, errbuf, errsize, "out of memory");
			goto out;
		}
	}
	*ret_operation = result;
	memset(&result, 0, sizeof(result));
	r = 0;
out:
	pikaci_incus_operation_clear(&result);
	return r;
}

void pikaci_incus_operation_clear(struct pikaci_incus_operation *operation)
{
	if (!operation)
		return;
	free(operation->status);
	free(operation->err);
	free(operation->stdout_log);
	free(operation->stderr_log);
	memset(operation, 0, sizeof(*operation));
}

/* --- URLs ---------------------------------------------------------------------------------- */

/* A growing string; any allocation failure sticks and makes the result NULL. */
struct text {
	struct buffer buffer;
	bool failed;
};

static void text_add(struct text *text, const char *bytes, size_t length)
{
	if (!text->failed && buffer_append(&text->buffer, bytes, length) < 0)
		text->failed = true;
}

static void text_add_string(struct text *text, const char *string)
{
	text_add(text, string, strlen(string));
}

/* RFC 3986 unreserved characters stay; keep_slash also keeps '/' (fine inside a query). */
static void text_add_escaped(struct text *text, const char *string, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)string; *p; p++) {
		char escaped[3] = { '%', hex[*p >> 4], hex[*p & 15] };

		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~' ||
		    (keep_slash && *p == '/'))
			text_add(text, (const char *)p, 1);
		else
			text_add(text, escaped, sizeof(escaped));
	}
}

static void text_add_project(struct text *text, const char *project)
{
	bool has_query = text->buffer.data && strchr(text->buffer.data, '?');

	if (!project)
		return;
	text_add_string(text, has_query ? "&project=" : "?project=");
	text_add_escaped(text, project, false);
}

static char *text_steal(struct text *text)
{
	if (text->failed) {
		buffer_clear(&text->buffer);
		text->failed = false;
		return NULL;
	}
	return buffer_steal(&text->buffer, NULL);
}

char *pikaci_incus_instance_url_new(const char *instance, const char *suffix, const char *project)
{
	struct text text = { 0 };

	text_add_string(&text, "/1.0/instances/");
	text_add_escaped(&text, instance, false);
	text_add_string(&text, suffix ? suffix : "");
	text_add_project(&text, project);
	return text_steal(&text);
}

char *pikaci_incus_file_url_new(const char *instance, const char *path, const char *project)
{
	struct text text = { 0 };

	text_add_string(&text, "/1.0/instances/");
	text_add_escaped(&text, instance, false);
	text_add_string(&text, "/files?path=");
	text_add_escaped(&text, path, true);
	text_add_project(&text, project);
	return text_steal(&text);
}

char *pikaci_incus_url_new(const char *path, const char *project)
{
	struct text text = { 0 };

	text_add_string(&text, path);
	text_add_project(&text, project);
	return text_steal(&text);
}

char *pikaci_incus_wait_url_new(const char *operation, long seconds, const char *project)
{
	struct text text = { 0 };
	char number[32];

	snprintf(number, sizeof(number), "%ld", seconds);
	text_add_string(&text, operation);
	text_add_string(&text, "/wait?timeout=");
	text_add_string(&text, number);
	text_add_project(&text, project);
	return text_steal(&text);
}

/* --- Request bodies ------------------------------------------------------------------------ */

json_t *pikaci_incus_create_request_new(const char *name, const char *alias)
{
	if (!name || !alias)
		return NULL;
	return json_pack("{s:s, s:{s:s, s:s}, s:b}", "name", name, "source", "type", "image",
	                 "alias", alias, "start", 1);
}

json_t *pikaci_incus_exec_request_new(char *const argv[], char *const environment[])
{
	json_t *command = json_array(), *env = json_object(), *request = NULL;

	if (!command || !env || !argv || !argv[0])
		goto out;
	for (size_t i = 0; argv[i]; i++)
		if (json_array_append_new(command, json_string(argv[i])) < 0)
			goto out;
	for (size_t i = 0; environment && environment[i]; i++) {
		const char *equals = strchr(environment[i], '=');
		char *name;
		int r;

		if (!equals || equals == environment[i])
			goto out;
		name = strndup(environment[i], (size_t)(equals - environment[i]));
		if (!name)
			goto out;
		r = json_object_set_new(env, name, json_string(equals + 1));
		free(name);
		if (r < 0)
			goto out;
	}
	request = json_pack("{s:O, s:O, s:b, s:b, s:b}", "command", command, "environment", env,
	                    "wait-for-websocket", 0, "record-output", 1, "interactive", 0);
out:
	json_decref(command);
	json_decref(env);
	return request;
}

/* --- Placement, image sources and virtual machines ----------------------------------------- */

json_t *pikaci_incus_instance_request_new(const char *name, const char *type,
                                          const struct pikaci_incus_source *source)
{
	json_t *request = NULL, *from = NULL;

	if (!name || !source || !source->alias || (source->server && !source->protocol))
		return NULL;
	from = json_pack("{s:s, s:s}", "type", "image", "alias", source->alias);
	if (from && source->server &&
	    (json_object_set_new(from, "mode", json_string("pull")) < 0 ||
	     json_object_set_new(from, "server", json_string(source->server)) < 0 ||
	     json_object_set_new(from, "protocol", json_string(source->protocol)) < 0)) {
		json_decref(from);
		return NULL;
	}
	if (from)
		request = json_pack("{s:s, s:s, s:o, s:b}", "name", name, "type",
		                    type ? type : "container", "source", from, "start", 1);
	return request;
}

int pikaci_incus_instance_request_config(json_t *request, const char *const config[], size_t n)
{
	json_t *object;

	if (n == 0)
		return 0;
	object = json_object();
	if (!object)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *equals = strchr(config[i], '=');
		char *key;
		int r;

		if (!equals) {
			json_decref(object);
			return -EINVAL;
		}
		key = strndup(config[i], (size_t)(equals - config[i]));
		r = key ? json_object_set_new(object, key, json_string(equals + 1)) : -1;
		free(key);
		if (r < 0) {
			json_decref(object);
			return -ENOMEM;
		}
	}
	return json_object_set_new(request, "config", object) < 0 ? -ENOMEM : 0;
}

char *pikaci_incus_create_url_new(const char *project, const char *target)
{
	struct text text = { 0 };

	text_add_string(&text, "/1.0/instances");
	text_add_project(&text, project);
	if (target) {
		text_add_string(&text, project ? "&target=" : "?target=");
		text_add_escaped(&text, target, false);
	}
	return text_steal(&text);
}

int pikaci_incus_agent_ready_parse(const json_t *state, const char **ret_status)
{
	const json_t *processes = json_object_get(state, "processes");
	const char *status = json_string_value(json_object_get(state, "status"));

	if (!json_is_object(state) || !json_is_integer(processes) || !status)
		return -EBADMSG;
	*ret_status = status;
	return strcmp(status, "Running") == 0 && json_integer_value(processes) > 0;
}
