/* SPDX-License-Identifier: MIT */
/* timestamp.c - RFC 3339 date-times with an offset (CONTRACT §5). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "contract-private.h"

PIKACI_EXPORT int pikaci_timestamp_dump(const struct timespec *when, char *buffer, size_t size)
{
	struct tm tm;
	int n;

	if (!when || !buffer || !gmtime_r(&when->tv_sec, &tm))
		return -EINVAL;
	n = snprintf(buffer, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
	             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	             when->tv_nsec / 1000);
	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	return 0;
}

/* Reads exactly `digits` decimal digits at *p; advances *p. */
static bool read_number(const char **p, int digits, int *ret)
{
	int value = 0;

	for (int i = 0; i < digits; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		value = value * 10 + ((*p)[i] - '0');
	}
	*p += digits;
	*ret = value;
	return true;
}

static int days_in_month(int year, int month)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

static int invalid(struct pikaci_error *err, const char *text, long long at, const char *why)
{
	/* A text that stops short is wrong where it stops, never past its end. */
	if (at > (long long)strlen(text))
		at = (long long)strlen(text);
	pikaci_error_set(err, PIKACI_REASON_INVALID_VALUE, NULL, at,
	                 "\"%.48s\" is not an RFC 3339 timestamp with offset: %s", text, why);
	return -EINVAL;
}

PIKACI_EXPORT int pikaci_timestamp_validate(const char *text, struct pikaci_error *err)
{
	const char *p = text;
	int year, month, day, hour, minute, second, oh, om;

	if (!text)
		return invalid(err, "", 0, "missing");
	if (!read_number(&p, 4, &year) || *p++ != '-' || !read_number(&p, 2, &month) ||
	    *p++ != '-' || !read_number(&p, 2, &day))
		return invalid(err, text, p - text, "expected a date YYYY-MM-DD");
	if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month))
		return invalid(err, text, 5, "no such calendar date");
	if (*p != 'T' && *p != 't')
		return invalid(err, text, p - text, "expected T between date and time");
	p++;
	if (!read_number(&p, 2, &hour) || *p++ != ':' || !read_number(&p, 2, &minute) ||
	    *p++ != ':' || !read_number(&p, 2, &second))
		return invalid(err, text, p - text, "expected a time HH:MM:SS");
	/* 60 allows a leap second. */
	if (hour > 23 || minute > 59 || second > 60)
		return invalid(err, text, 11, "time out of range");
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return invalid(err, text, p - text, "expected digits after '.'");
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		p++;
		if (!read_number(&p, 2, &oh) || *p++ != ':' || !read_number(&p, 2, &om) ||
		    oh > 23 || om > 59)
			return invalid(err, text, p - text, "expected an offset +HH:MM");
	} else {
		return invalid(err, text, p - text, "expected an offset (Z or +HH:MM)");
	}
	if (*p != '\0')
		return invalid(err, text, p - text, "trailing characters");
	return 0;
}
