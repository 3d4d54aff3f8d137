/* SPDX-License-Identifier: MIT */
/* report-private.h - what the report writers share (report*.c only). */
#ifndef PIKACI_REPORT_PRIVATE_H
#define PIKACI_REPORT_PRIVATE_H

#include <stdio.h>

#include "report.h"
#include "sha256.h"

/* Guest-controlled text in a line or attribute: made valid UTF-8 and cut to this. */
#define REPORT_TEXT_MAX 4096
/* The guest's output in a JUnit system-out/system-err (case.c cuts it to this already). */
#define REPORT_OUTPUT_MAX 65536

/* The detail's string member key, "" when absent (borrowed). */
const char *report_detail_string(const struct case_result *c, const char *key);
/* The case's clauses joined by separator into out. */
void report_clauses_joined(const struct fixture *f, const char *separator, char *out, size_t size);
/* s made valid UTF-8, at most max bytes: caller frees; NULL when memory runs out. */
char *report_clean(const char *s, size_t max);
/* A JSON string of guest-controlled text: valid UTF-8 whatever the bytes (new reference). */
json_t *json_text_new(const char *s);
/* The guest's text on one line of a text report: control characters as spaces. */
void report_text_escaped(FILE *out, const char *s);

/*
 * report-corpus.c: "sha256:HEX" over the corpus's regular files in byte order of their paths
 * relative to fixtures, each hashed as PATH NUL SIZE-IN-DECIMAL NUL CONTENTS: 0 or -errno.
 */
int corpus_revision(const char *fixtures, char revision[SHA256_TEXT_SIZE]);

/* report-text.c */
void report_text_header(FILE *out, const struct report *r);
void report_text_line(FILE *out, const struct case_result *c);
void report_tap_line(FILE *out, size_t number, const struct case_result *c);
/* A matrix run's case x guest table and each guest's totals, as text and as Markdown. */
void report_matrix_text_write(FILE *out, const struct corpus *corpus,
                              const struct report_column *cols, size_t n);
void report_matrix_markdown_write(FILE *out, const struct corpus *corpus,
                                  const struct report_column *cols, size_t n);
/* Column col's result for case f, or NULL when that guest did not run it. */
const struct case_result *report_column_result(const struct report_column *col,
                                               const struct fixture *f);

/* report-junit.c */
void report_junit_write(FILE *out, const struct case_result *results, size_t n);

/* report-json.c: one JSON Lines line for case c. */
void report_jsonl_case(FILE *out, const struct report_run *run, const struct case_result *c);
/* The JSON document on out, indented (compact: one line): -ENOMEM, or 0. */
int report_json_dump(FILE *out, json_t *doc, bool compact);

#endif
