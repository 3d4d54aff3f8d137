/* SPDX-License-Identifier: MIT */
/* expect.h - the expectations file (--expect): known failures, skips and passes by case. */
#ifndef PIKACI_EXPECT_H
#define PIKACI_EXPECT_H

#include <stdbool.h>
#include <stdio.h>

#include "fixture.h"
#include "report.h"

/* The largest expectations file read. */
#define EXPECT_FILE_MAX (1u << 20)
/* The longest reason kept (longer ones are cut on a character boundary). */
#define EXPECT_REASON_MAX 1024

/*
 * Parses length bytes of text, lines "PATTERN fail|skip|pass REASON" (blank lines and '#'
 * comments skipped), against corpus: for every case results[k].expectation (the reason, valid
 * UTF-8; NULL for pass) and skip[k] follow the last line that matches it. Each malformed line
 * and each pattern matching no case is said on errors as "NAME:LINE: ..." and makes the result
 * -EINVAL, after every line was read. -ENOMEM when memory runs out.
 */
int expectations_parse(const char *text, size_t length, const char *name,
                       const struct corpus *corpus, struct case_result *results, bool *skip,
                       FILE *errors);

/* Reads path (a regular file of at most EXPECT_FILE_MAX bytes) and parses it. */
int expectations_load(const char *path, const struct corpus *corpus, struct case_result *results,
                      bool *skip, FILE *errors);

#endif
