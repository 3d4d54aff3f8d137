/* SPDX-License-Identifier: MIT */
/*
 * report-corpus.c - what is said of the corpus rather than of a run: the clause coverage
 * (--coverage-report), the list of cases (--list) in text or JSON, and the corpus revision.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clauses.h"
#include "report-private.h"
#include "sha256.h"
#include "shared.h"

/* --- Clause coverage ---------------------------------------------------------------------- */

json_t *coverage_json(const struct corpus *corpus)
{
	json_t *list = json_array();

	for (size_t i = 0; i < n_contract_clauses; i++) {
		const struct clause *cl = &contract_clauses[i];
		json_t *cases = json_array();

		for (size_t k = 0; k < corpus->n_cases; k++)
			if (fixture_cites(&corpus->cases[k], cl->id))
				json_array_append_new(cases, json_string(corpus->cases[k].id));
		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:o}",
		                                      "clause", cl->id, "section", cl->section,
		                                      "level", cl->must ? "MUST" : "SHOULD",
		                                      "party", clause_party_name(cl->party),
		                                      "title", cl->title, "covered",
		                                      json_array_size(cases) > 0, "cases", cases));
	}
	return list;
}

/* A MUST of the guest that no case covers (a host's obligation is pikaci-host's to test). */
static bool clause_uncovered(const struct clause *cl, size_t count)
{
	return !count && cl->must && cl->party != CLAUSE_HOST;
}

size_t coverage_print(FILE *out, const struct corpus *corpus)
{
	size_t uncovered = 0;

	fprintf(out, "%-4s %-6s %-5s %5s  %s\n", "id", "level", "party", "cases", "clause");
	for (size_t i = 0; i < n_contract_clauses; i++) {
		const struct clause *cl = &contract_clauses[i];
		size_t count = 0;

		for (size_t k = 0; k < corpus->n_cases; k++)
			count += fixture_cites(&corpus->cases[k], cl->id);
		fprintf(out, "%-4s %-6s %-5s %5zu  %s%s\n", cl->id, cl->must ? "MUST" : "SHOULD",
		        clause_party_name(cl->party), count, cl->title,
		        count                      ? ""
		        : cl->party == CLAUSE_HOST ? "  (host obligation: pikaci-host's tests)"
		                                   : "  <- UNCOVERED");
		uncovered += clause_uncovered(cl, count);
	}
	if (uncovered)
		fprintf(out, "%zu MUST clause(s) of the guest are covered by no case\n", uncovered);
	else
		fprintf(out, "every MUST clause a guest owes is covered by at least one case\n");
	return uncovered;
}

static json_t *corpus_document_new(const char *kind)
{
	return json_pack("{s:s, s:s, s:i, s:s}", "tool", "pikaci-conform", "version",
	                 PIKACI_VERSION, "report_version", REPORT_VERSION, "kind", kind);
}

json_t *coverage_document_json(const struct corpus *corpus)
{
	json_t *doc = corpus_document_new("coverage");
	size_t uncovered = 0;

	for (size_t i = 0; i < n_contract_clauses; i++) {
		size_t count = 0;

		for (size_t k = 0; k < corpus->n_cases; k++)
			count += fixture_cites(&corpus->cases[k], contract_clauses[i].id);
		uncovered += clause_uncovered(&contract_clauses[i], count);
	}
	if (doc) {
		json_object_set_new(doc, "coverage", coverage_json(corpus));
		json_object_set_new(doc, "uncovered_musts", json_integer((json_int_t)uncovered));
	}
	return doc;
}

json_t *list_document_json(const struct corpus *corpus, const bool *selected)
{
	json_t *doc = corpus_document_new("list"), *cases = json_array();

	for (size_t i = 0; i < corpus->n_cases; i++) {
		const struct fixture *f = &corpus->cases[i];
		json_t *clauses = json_array(), *tags = json_array();

		if (!selected[i]) {
			json_decref(clauses);
			json_decref(tags);
			continue;
		}
		for (size_t k = 0; k < f->n_clauses; k++)
			json_array_append_new(clauses, json_string(f->clauses[k]));
		for (size_t k = 0; k < f->n_tags; k++)
			json_array_append_new(tags, json_string(f->tags[k]));
		json_array_append_new(
		        cases, json_pack("{s:s, s:s, s:o, s:o, s:o}", "id", f->id, "profile",
		                         profile_name(f->profile), "clauses", clauses, "tags", tags,
		                         "description", json_text_new(f->description)));
	}
	if (!doc) {
		json_decref(cases);
		return NULL;
	}
	json_object_set_new(doc, "cases", cases);
	return doc;
}

/* --- The corpus revision ------------------------------------------------------------------ */

struct file_list {
	char **items;
	size_t n_items, capacity;
};

/* Every regular file under top/relative, relative to top, appended to list: 0 or -errno. */
static int files_collect(const char *top, const char *relative, struct file_list *list)
{
	char *folder = NULL;
	DIR *d;
	struct dirent *e;
	int r = 0;

	if (asprintf(&folder, "%s%s%s", top, *relative ? "/" : "", relative) < 0)
		return -ENOMEM;
	d = opendir(folder);
	if (!d) {
		r = -errno;
		free(folder);
		return r;
	}
	while (r == 0 && (e = readdir(d))) {
		char *path = NULL, *full = NULL;
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (asprintf(&path, "%s%s%s", relative, *relative ? "/" : "", e->d_name) < 0 ||
		    asprintf(&full, "%s/%s", folder, e->d_name) < 0) {
			free(path);
			r = -ENOMEM;
			break;
		}
		if (lstat(full, &st) < 0)
			r = -errno;
		else if (S_ISDIR(st.st_mode))
			r = files_collect(top, path, list);
		else if (S_ISREG(st.st_mode)) {
			if (ARRAY_GROW(list->items, list->capacity, list->n_items + 1) < 0)
				r = -ENOMEM;
			else {
				list->items[list->n_items++] = path;
				path = NULL;
			}
		}
		free(path);
		free(full);
	}
	closedir(d);
	free(folder);
	return r;
}

static int path_compare(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int corpus_revision(const char *fixtures, char revision[SHA256_TEXT_SIZE])
{
	struct file_list list = { 0 };
	struct sha256 h;
	int r = files_collect(fixtures, "", &list);

	if (list.n_items)
		qsort(list.items, list.n_items, sizeof(*list.items), path_compare);
	sha256_init(&h);
	for (size_t i = 0; r == 0 && i < list.n_items; i++) {
		char *full = NULL, *bytes = NULL, size[32];
		size_t length = 0;

		if (asprintf(&full, "%s/%s", fixtures, list.items[i]) < 0) {
			r = -ENOMEM;
			break;
		}
		r = read_file(full, SIZE_MAX, &bytes, &length);
		free(full);
		if (r < 0)
			break;
		snprintf(size, sizeof(size), "%zu", length);
		sha256_update(&h, list.items[i], strlen(list.items[i]) + 1);
		sha256_update(&h, size, strlen(size) + 1);
		sha256_update(&h, bytes, length);
		free(bytes);
	}
	for (size_t i = 0; i < list.n_items; i++)
		free(list.items[i]);
	free(list.items);
	if (r == 0)
		sha256_text(&h, revision);
	return r;
}
