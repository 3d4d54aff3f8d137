/* SPDX-License-Identifier: MIT */
/* fixture.c - loading and linting the corpus. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clauses.h"
#include "fixture.h"
#include "pikaci-contract.h"
#include "shared.h"

void problems_add(struct problems *problems, const char *fmt, ...)
{
	char *text;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	/* A problem may quote the file (jansson's error text does): valid UTF-8 to print it. */
	if (text && !text_is_valid(text, strlen(text))) {
		char *clean = text_sanitize_dup(text, strlen(text), strlen(text) * 3);

		free(text);
		text = clean;
	}
	if (!text ||
	    ARRAY_GROW(problems->items, problems->items_capacity, problems->n_items + 1) < 0) {
		free(text);
		return;
	}
	problems->items[problems->n_items++] = text;
}

void problems_clear(struct problems *problems)
{
	for (size_t i = 0; i < problems->n_items; i++)
		free(problems->items[i]);
	free(problems->items);
	problems->items = NULL;
	problems->n_items = problems->items_capacity = 0;
}

const char *profile_name(enum fixture_profile profile)
{
	return profile == PROFILE_ROBUSTNESS ? "robustness" : "contract";
}

int profile_parse(const char *name, enum fixture_profile *ret)
{
	if (strcmp(name, "contract") == 0)
		*ret = PROFILE_CONTRACT;
	else if (strcmp(name, "robustness") == 0)
		*ret = PROFILE_ROBUSTNESS;
	else
		return -EINVAL;
	return 0;
}

static void fixture_clear(struct fixture *f)
{
	free(f->id);
	free(f->dir);
	free(f->description);
	for (size_t i = 0; i < f->n_clauses; i++)
		free(f->clauses[i]);
	free(f->clauses);
	for (size_t i = 0; i < f->n_tags; i++)
		free(f->tags[i]);
	free(f->tags);
	free(f->reason);
	free(f->member);
	free(f->stdout_bytes);
	free(f->marker);
	free(f->cut_marker);
	for (size_t i = 0; i < f->n_preexisting; i++) {
		free(f->preexisting[i].path);
		free(f->preexisting[i].bytes);
	}
	free(f->preexisting);
	free(f->request);
	memset(f, 0, sizeof(*f));
}

void corpus_clear(struct corpus *corpus)
{
	for (size_t i = 0; i < corpus->n_cases; i++)
		fixture_clear(&corpus->cases[i]);
	free(corpus->cases);
	corpus->cases = NULL;
	corpus->n_cases = corpus->cases_capacity = 0;
}

/* The members case.json may hold, and the JSON type each must have. */
static const struct {
	const char *name;
	json_type type;
	bool required;
} case_members[] = {
	{ "description", JSON_STRING, true },  { "profile", JSON_STRING, true },
	{ "clauses", JSON_ARRAY, true },       { "tags", JSON_ARRAY, false },
	{ "deliver", JSON_STRING, false },     { "outcome", JSON_STRING, true },
	{ "reason", JSON_STRING, false },      { "member", JSON_STRING, false },
	{ "exit_code", JSON_INTEGER, false },  { "stdout", JSON_STRING, false },
	{ "marker", JSON_STRING, false },      { "max_seconds", JSON_REAL, false },
	{ "min_seconds", JSON_REAL, false },   { "side_effects", JSON_STRING, false },
	{ "atomic", JSON_TRUE, false },        { "case_timeout", JSON_REAL, false },
	{ "cut_marker", JSON_STRING, false },  { "streamed", JSON_REAL, false },
	{ "preexisting", JSON_OBJECT, false },
};

static bool type_ok(json_type want, const json_t *value)
{
	switch (want) {
	case JSON_REAL: /* any number */
		return json_is_number(value);
	case JSON_TRUE: /* any boolean */
		return json_is_boolean(value);
	default:
		return json_typeof(value) == want;
	}
}

static const char *type_name(json_type type)
{
	switch (type) {
	case JSON_STRING:
		return "a string";
	case JSON_ARRAY:
		return "an array";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
		return "a boolean";
	case JSON_OBJECT:
		return "an object";
	default:
		return "?";
	}
}

static bool string_array(const json_t *array, char ***ret, size_t *ret_n)
{
	size_t i;
	json_t *item;
	char **items = calloc(json_array_size(array) + 1, sizeof(*items));

	if (!items)
		return false;
	json_array_foreach(array, i, item)
	{
		if (!json_is_string(item) || !(items[i] = strdup(json_string_value(item)))) {
			for (size_t k = 0; k < i; k++)
				free(items[k]);
			free(items);
			return false;
		}
	}
	*ret = items;
	*ret_n = json_array_size(array);
	return true;
}

static bool id_ok(const char *id)
{
	if (!*id || *id == '-')
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return false;
	return true;
}

/*
 * A normalised absolute path: begins with '/', no empty, "." or ".." component, no trailing
 * '/'. Anything else could name a place other than the one it seems to ("/../../etc/hostname").
 */
static bool path_normalised(const char *path)
{
	if (path[0] != '/' || path[1] == '\0')
		return false;
	for (const char *p = path; *p;) {
		const char *component = ++p, *end = strchrnul(component, '/');
		size_t length = (size_t)(end - component);

		if (length == 0 || (length == 1 && component[0] == '.') ||
		    (length == 2 && component[0] == '.' && component[1] == '.'))
			return false;
		p = end;
	}
	return true;
}

/*
 * "preexisting": {"/run/pika-cloud/NAME": "text" | {"file": "name-in-the-case-folder"}}. The
 * paths are normalised absolute paths strictly inside the state folder, the request path
 * excepted (the runner delivers that one): an earlier run can only have left files there.
 */
static void preexisting_load(struct fixture *f, const json_t *object, struct problems *problems)
{
	size_t state_length = strlen(PIKACI_STATE_DIR), i = 0;
	const char *path;
	json_t *value;

	f->preexisting = calloc(json_object_size(object) + 1, sizeof(*f->preexisting));
	if (!f->preexisting) {
		problems_add(problems, "%s: out of memory", f->id);
		return;
	}
	json_object_foreach((json_t *)object, path, value)
	{
		struct preexisting *p = &f->preexisting[i];
		const char *file = json_string_value(json_object_get(value, "file"));
		int r;

		if (!path_normalised(path) ||
		    strncmp(path, PIKACI_STATE_DIR "/", state_length + 1) ||
		    strcmp(path, PIKACI_REQUEST_PATH) == 0) {
			problems_add(
			        problems,
			        "%s: preexisting \"%s\" is not a normalised absolute path inside "
			        "%s (other than the request path)",
			        f->id, path, PIKACI_STATE_DIR);
			continue;
		}
		if (json_is_string(value)) {
			p->length = json_string_length(value);
			p->bytes = malloc(p->length + 1);
			if (p->bytes)
				memcpy(p->bytes, json_string_value(value), p->length + 1);
		} else if (json_is_object(value) && json_object_size(value) == 1 && file &&
		           !strchr(file, '/') && file[0] != '.' && file[0]) {
			char name[4096];

			snprintf(name, sizeof(name), "%s/%s", f->dir, file);
			r = read_file(name, FIXTURE_FILE_MAX, &p->bytes, &p->length);
			if (r < 0) {
				problems_add(problems, "%s: preexisting \"%s\": cannot read %s: %s",
				             f->id, path, file, strerror(-r));
				continue;
			}
		} else {
			problems_add(
			        problems,
			        "%s: preexisting \"%s\" is a string or {\"file\": NAME}, NAME a "
			        "file of the case's folder",
			        f->id, path);
			continue;
		}
		p->path = strdup(path);
		if (!p->bytes || !p->path) {
			problems_add(problems, "%s: out of memory", f->id);
			free(p->bytes);
			free(p->path);
			*p = (struct preexisting){ 0 };
			continue;
		}
		i++;
	}
	f->n_preexisting = i;
}

const struct preexisting *fixture_preexisting(const struct fixture *f, const char *path)
{
	for (size_t i = 0; i < f->n_preexisting; i++)
		if (strcmp(f->preexisting[i].path, path) == 0)
			return &f->preexisting[i];
	return NULL;
}

/* case.json, read and parsed: a new reference, or NULL (with a problem added). */
static json_t *case_json_read(const struct fixture *f, struct problems *problems)
{
	char path[4096], *text = NULL;
	size_t length = 0;
	json_error_t jerr;
	json_t *doc;
	int r;

	snprintf(path, sizeof(path), "%s/case.json", f->dir);
	r = read_file(path, FIXTURE_FILE_MAX, &text, &length);
	if (r < 0) {
		problems_add(problems, "%s: cannot read case.json: %s", f->id, read_file_error(r));
		return NULL;
	}
	doc = json_loadb(text, length, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (json_is_object(doc))
		return doc;
	if (doc)
		problems_add(problems, "%s: case.json is not a JSON object", f->id);
	else
		problems_add(problems, "%s: case.json: %s (line %d)", f->id, jerr.text, jerr.line);
	json_decref(doc);
	return NULL;
}

/* Every member of case.json is in case_members with its type, every required one is there. */
static void case_members_check(const char *id, json_t *doc, struct problems *problems)
{
	const char *name;
	json_t *value;

	json_object_foreach(doc, name, value)
	{
		size_t k;

		for (k = 0; k < ELEMENTSOF(case_members); k++)
			if (strcmp(case_members[k].name, name) == 0)
				break;
		if (k == ELEMENTSOF(case_members))
			problems_add(problems, "%s: case.json: unknown member \"%s\"", id, name);
		else if (!type_ok(case_members[k].type, value))
			problems_add(problems, "%s: case.json: \"%s\" must be %s", id, name,
			             type_name(case_members[k].type));
	}
	for (size_t k = 0; k < ELEMENTSOF(case_members); k++)
		if (case_members[k].required && !json_object_get(doc, case_members[k].name))
			problems_add(problems, "%s: case.json: \"%s\" is required", id,
			             case_members[k].name);
}

/* What the case is: description, profile, clauses and tags. */
static void fixture_load_identity(struct fixture *f, const json_t *doc, struct problems *problems)
{
	json_t *value;

	f->description = strdup(json_string_value(json_object_get(doc, "description")));
	if (profile_parse(json_string_value(json_object_get(doc, "profile")), &f->profile) < 0)
		problems_add(problems, "%s: profile is \"contract\" or \"robustness\"", f->id);
	if (!string_array(json_object_get(doc, "clauses"), &f->clauses, &f->n_clauses) ||
	    f->n_clauses == 0)
		problems_add(problems, "%s: clauses is a non-empty array of clause ids", f->id);
	for (size_t i = 0; i < f->n_clauses; i++)
		if (!clause_find(f->clauses[i]))
			problems_add(problems, "%s: clause \"%s\" is not in CONTRACT.md", f->id,
			             f->clauses[i]);
	if ((value = json_object_get(doc, "tags")) && !string_array(value, &f->tags, &f->n_tags))
		problems_add(problems, "%s: tags is an array of strings", f->id);
}

/* How the request is delivered, and the outcome expected. */
static void fixture_load_delivery(struct fixture *f, const json_t *doc, struct problems *problems)
{
	const char *s = json_string_value(json_object_get(doc, "deliver"));

	if (!s || strcmp(s, "file") == 0)
		f->deliver = PIKACI_DELIVER_FILE;
	else if (strcmp(s, "absent") == 0)
		f->deliver = PIKACI_DELIVER_ABSENT;
	else if (strcmp(s, "directory") == 0)
		f->deliver = PIKACI_DELIVER_DIRECTORY;
	else if (strcmp(s, "no-argument") == 0)
		f->deliver = PIKACI_DELIVER_NO_ARGUMENT;
	else
		problems_add(problems,
		             "%s: deliver \"%s\" is not file, absent, directory or "
		             "no-argument",
		             f->id, s);

	s = json_string_value(json_object_get(doc, "outcome"));
	if (strcmp(s, "accepted") == 0)
		f->outcome = OUTCOME_ACCEPTED;
	else if (strcmp(s, "rejected") == 0)
		f->outcome = OUTCOME_REJECTED;
	else if (strcmp(s, "usage") == 0)
		f->outcome = OUTCOME_USAGE;
	else
		problems_add(problems, "%s: outcome \"%s\" is not accepted, rejected or usage",
		             f->id, s);
}

/* A rejected case's reason (and member); the exit code, stated or implied. */
static void fixture_load_reason(struct fixture *f, const json_t *doc, struct problems *problems)
{
	const char *id = f->id, *s;
	json_t *value;

	if ((s = json_string_value(json_object_get(doc, "reason"))))
		f->reason = strdup(s);
	if ((s = json_string_value(json_object_get(doc, "member"))))
		f->member = strdup(s);
	if (f->reason && f->outcome != OUTCOME_REJECTED)
		problems_add(problems, "%s: only a rejected case has a reason", id);
	if (f->outcome == OUTCOME_REJECTED && !f->reason)
		problems_add(problems, "%s: a rejected case names the library's reason", id);
	if (f->reason) {
		enum pikaci_reason reason;

		if (pikaci_reason_parse(f->reason, &reason) < 0)
			problems_add(problems, "%s: reason \"%s\" is not a reason code", id,
			             f->reason);
	}

	value = json_object_get(doc, "exit_code");
	if (f->outcome == OUTCOME_ACCEPTED) {
		if (!value)
			problems_add(problems, "%s: an accepted case states its exit_code", id);
		/* Checked before it is narrowed: 4294967296 must not pass for 0. */
		if (json_integer_value(value) < 0 || json_integer_value(value) > 255)
			problems_add(problems, "%s: exit_code %lld is not an exit code", id,
			             (long long)json_integer_value(value));
		f->exit_code = (int)json_integer_value(value);
	} else {
		f->exit_code = PIKACI_EXIT_REJECTED;
		if (value && json_integer_value(value) != PIKACI_EXIT_REJECTED)
			problems_add(problems, "%s: a rejected or usage case exits 2", id);
	}
}

/* The output expected: in case.json or the stdout file, not both. */
static void fixture_load_stdout(struct fixture *f, const json_t *doc, struct problems *problems)
{
	char path[4096], *stdout_file = NULL;
	size_t stdout_length = 0;
	json_t *value;
	int r;

	if ((value = json_object_get(doc, "stdout"))) {
		f->has_stdout = true;
		f->stdout_length = json_string_length(value);
		f->stdout_bytes = malloc(f->stdout_length + 1);
		if (f->stdout_bytes) {
			memcpy(f->stdout_bytes, json_string_value(value), f->stdout_length + 1);
		}
	}
	snprintf(path, sizeof(path), "%s/stdout", f->dir);
	r = read_file(path, FIXTURE_FILE_MAX * 8, &stdout_file, &stdout_length);
	if (r == 0) {
		if (f->has_stdout)
			problems_add(problems,
			             "%s: stdout is given both in case.json and as a file", f->id);
		free(f->stdout_bytes);
		f->has_stdout = true;
		f->stdout_bytes = stdout_file;
		f->stdout_length = stdout_length;
		stdout_file = NULL;
	} else if (r != -ENOENT) {
		problems_add(problems, "%s: cannot read stdout: %s", f->id, read_file_error(r));
	}
	free(stdout_file);
	if (f->has_stdout && f->outcome != OUTCOME_ACCEPTED)
		problems_add(problems, "%s: only an accepted case expects output", f->id);
}

/* What the run leaves to look at: markers, streaming, time bounds, side effects. */
static void fixture_load_observed(struct fixture *f, const json_t *doc, struct problems *problems)
{
	const char *id = f->id, *s;

	if ((s = json_string_value(json_object_get(doc, "marker")))) {
		f->marker = strdup(s);
		if (!path_normalised(s))
			problems_add(problems, "%s: marker must be a normalised absolute path", id);
	}
	if ((s = json_string_value(json_object_get(doc, "cut_marker")))) {
		f->cut_marker = strdup(s);
		if (!path_normalised(s))
			problems_add(problems, "%s: cut_marker must be a normalised absolute path",
			             id);
		if (f->outcome != OUTCOME_ACCEPTED || f->exit_code != PIKACI_EXIT_TIMEOUT)
			problems_add(
			        problems,
			        "%s: cut_marker goes with an accepted case that times out (124)",
			        id);
	}
	f->streamed = json_number_value(json_object_get(doc, "streamed"));
	if (json_object_get(doc, "streamed") &&
	    (!(f->streamed > 0) || !f->has_stdout || f->stdout_length == 0))
		problems_add(problems,
		             "%s: streamed is a positive number of seconds, with a stdout to look "
		             "for",
		             id);
}

/* The earlier run's files, the time bounds, side effects and atomicity. */
static void fixture_load_run(struct fixture *f, const json_t *doc, struct problems *problems)
{
	const char *s;
	json_t *value;

	if ((value = json_object_get(doc, "preexisting")))
		preexisting_load(f, value, problems);
	f->max_seconds = json_number_value(json_object_get(doc, "max_seconds"));
	f->min_seconds = json_number_value(json_object_get(doc, "min_seconds"));
	f->case_timeout = json_number_value(json_object_get(doc, "case_timeout"));
	if (f->max_seconds < 0 || f->min_seconds < 0 || f->case_timeout < 0 ||
	    (f->max_seconds > 0 && f->min_seconds > f->max_seconds))
		problems_add(problems, "%s: time bounds must be positive, min below max", f->id);
	if ((s = json_string_value(json_object_get(doc, "side_effects")))) {
		if (strcmp(s, "none") != 0)
			problems_add(problems, "%s: side_effects is \"none\" or absent", f->id);
		f->side_effects_none = true;
	}
	f->atomic = json_is_true(json_object_get(doc, "atomic"));
}

/* request.json: there exactly when it is delivered as a file. */
static void fixture_load_request(struct fixture *f, const json_t *doc, struct problems *problems)
{
	char path[4096];
	int r;

	snprintf(path, sizeof(path), "%s/request.json", f->dir);
	r = read_file(path, FIXTURE_FILE_MAX, &f->request, &f->request_length);
	if (f->deliver == PIKACI_DELIVER_FILE && r < 0)
		problems_add(problems, "%s: cannot read request.json: %s", f->id,
		             read_file_error(r));
	if (f->deliver != PIKACI_DELIVER_FILE && r == 0)
		problems_add(problems, "%s: request.json is never delivered with deliver \"%s\"",
		             f->id, json_string_value(json_object_get(doc, "deliver")));
	if ((f->deliver == PIKACI_DELIVER_NO_ARGUMENT) != (f->outcome == OUTCOME_USAGE))
		problems_add(problems, "%s: a usage case is one with deliver \"no-argument\"",
		             f->id);
}

/* Loads one case; false (with problems added) when it is malformed. */
static bool fixture_load(const char *corpus_dir, const char *id, struct fixture *f,
                         struct problems *problems)
{
	size_t before = problems->n_items;
	json_t *doc = NULL;

	memset(f, 0, sizeof(*f));
	f->id = strdup(id);
	if (asprintf(&f->dir, "%s/%s", corpus_dir, id) < 0)
		f->dir = NULL;
	if (!f->id || !f->dir) {
		problems_add(problems, "%s: out of memory", id);
		goto out;
	}
	if (!id_ok(id))
		problems_add(problems, "%s: a case id is lowercase letters, digits and '-'", id);
	doc = case_json_read(f, problems);
	if (!doc)
		goto out;
	case_members_check(id, doc, problems);
	if (problems->n_items > before)
		goto out;
	fixture_load_identity(f, doc, problems);
	fixture_load_delivery(f, doc, problems);
	fixture_load_reason(f, doc, problems);
	fixture_load_stdout(f, doc, problems);
	fixture_load_observed(f, doc, problems);
	fixture_load_run(f, doc, problems);
	fixture_load_request(f, doc, problems);
out:
	json_decref(doc);
	return problems->n_items == before;
}

static int compare_fixtures(const void *a, const void *b)
{
	return strcmp(((const struct fixture *)a)->id, ((const struct fixture *)b)->id);
}

int corpus_load(const char *dir, struct corpus *ret, struct problems *problems)
{
	struct corpus corpus = { 0 };
	struct dirent *entry;
	DIR *d = opendir(dir);

	if (!d)
		return -errno;
	while ((entry = readdir(d))) {
		char path[4096];
		struct stat st;
		struct fixture f;

		if (entry->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, entry->d_name);
		if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (!fixture_load(dir, entry->d_name, &f, problems)) {
			fixture_clear(&f);
			corpus.n_malformed++;
			continue;
		}
		if (ARRAY_GROW(corpus.cases, corpus.cases_capacity, corpus.n_cases + 1) < 0) {
			fixture_clear(&f);
			closedir(d);
			corpus_clear(&corpus);
			return -ENOMEM;
		}
		corpus.cases[corpus.n_cases++] = f;
	}
	closedir(d);
	if (corpus.n_cases > 1)
		qsort(corpus.cases, corpus.n_cases, sizeof(*corpus.cases), compare_fixtures);
	*ret = corpus;
	return 0;
}

void fixture_lint_verdict(const struct fixture *f, struct problems *problems)
{
	struct pikaci_request *request = NULL;
	struct pikaci_error err = { 0 };
	const char *reason;
	int r;

	if (f->deliver != PIKACI_DELIVER_FILE) {
		if ((f->deliver == PIKACI_DELIVER_ABSENT ||
		     f->deliver == PIKACI_DELIVER_DIRECTORY) &&
		    (f->outcome != OUTCOME_REJECTED || !f->reason ||
		     strcmp(f->reason, pikaci_reason_name(PIKACI_REASON_UNREADABLE)) != 0))
			problems_add(
			        problems,
			        "%s: a request that cannot be read is rejected as \"unreadable\"",
			        f->id);
		return;
	}
	r = pikaci_request_parse(f->request, f->request_length, &request, &err);
	pikaci_request_free(request);
	reason = pikaci_reason_name(err.reason);
	if (f->outcome == OUTCOME_ACCEPTED && r < 0) {
		/* A stray path field or version 1 declared acceptable lands here. */
		problems_add(problems,
		             "%s: declared accepted, but the contract library rejects the request: "
		             "%s (%s)",
		             f->id, err.text, reason);
		return;
	}
	if (f->outcome != OUTCOME_REJECTED)
		return;
	if (r == 0) {
		problems_add(problems, "%s: declared rejected, but the contract library accepts it",
		             f->id);
		return;
	}
	if (f->reason && strcmp(f->reason, reason) != 0)
		problems_add(problems,
		             "%s: declared reason \"%s\", but the contract library says \"%s\": %s",
		             f->id, f->reason, reason, err.text);
	if (strcmp(f->member ? f->member : "", err.member) != 0)
		problems_add(problems,
		             "%s: declared member \"%s\", but the contract library names \"%s\"",
		             f->id, f->member ? f->member : "", err.member);
}

bool fixture_cites(const struct fixture *f, const char *clause)
{
	for (size_t i = 0; i < f->n_clauses; i++)
		if (strcasecmp(f->clauses[i], clause) == 0)
			return true;
	return false;
}

bool fixture_matches(const struct fixture *f, const char *pattern)
{
	if (fnmatch(pattern, f->id, 0) == 0 || fixture_cites(f, pattern) ||
	    strcmp(pattern, profile_name(f->profile)) == 0)
		return true;
	for (size_t i = 0; i < f->n_tags; i++)
		if (strcmp(f->tags[i], pattern) == 0)
			return true;
	return false;
}
