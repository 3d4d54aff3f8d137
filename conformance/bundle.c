/* SPDX-License-Identifier: MIT */
/*
 * bundle.c - repro bundles (--keep): for a case that did not pass, everything needed to look at
 * it and replay it, under KEEP/ID/: case.json, request.json, expected-stdout, the guest's
 * stdout, stderr and files (actual/), verdict.txt, replay.sh and corpus/ID/, a corpus of this
 * one case (a copy of its fixture folder) that replay.sh runs, so the bundle stands alone.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pikaci-contract.h"
#include "runner.h"
#include "shared.h"

/* A fixture's file copied into a repro bundle: mode 0644, from its bytes. */
static int copy_file(const char *from, const char *to)
{
	char *bytes = NULL;
	size_t length = 0;
	int r = read_file(from, FIXTURE_FILE_MAX, &bytes, &length);

	if (r == 0)
		r = write_file(to, bytes, length, 0644);
	free(bytes);
	return r;
}

/*
 * One line of verdict.txt from text the guest controls (a message quoting it, a path it
 * created): valid UTF-8, control characters as '?', so no file name can forge a line.
 */
static void line_put(FILE *out, const char *text)
{
	char *clean = text_sanitize_dup(text, strlen(text), CHECK_MESSAGE_MAX);

	for (const char *p = clean ? clean : ""; *p; p++)
		fputc((unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p, out);
	fputc('\n', out);
	free(clean);
}

/* Shell-quotes one word for replay.sh. */
static void shell_quote(FILE *out, const char *word)
{
	fputc('\'', out);
	for (; *word; word++) {
		if (*word == '\'')
			fputs("'\\''", out);
		else
			fputc(*word, out);
	}
	fputc('\'', out);
}

/* A bundle file that could not be written is said; the verdict stands. */
static void bundle_failed(const struct fixture *f, const char *path, int r)
{
	if (r < 0)
		fprintf(stderr, "pikaci-conform: repro bundle for %s: cannot write %s: %s\n", f->id,
		        path, read_file_error(r));
}

/* dir/name holds bytes (mode 0644), or is removed when bytes is NULL. */
static void bundle_put(const struct fixture *f, const char *dir, const char *name,
                       const char *bytes, size_t length)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (bytes)
		bundle_failed(f, path, write_file(path, bytes, length, 0644));
	else if (unlink(path) < 0 && errno != ENOENT)
		bundle_failed(f, path, -errno);
}

/* KEEP/ID/actual/ exists afterwards, or the missing bundle is said: -errno. */
static int bundle_make_dirs(const struct options *opt, const struct fixture *f, char *dir,
                            size_t size)
{
	char path[PATH_MAX + 64];

	snprintf(dir, size, "%s/%s", opt->keep, f->id);
	snprintf(path, sizeof(path), "%s/actual", dir);
	if ((mkdir(opt->keep, 0755) < 0 && errno != EEXIST) ||
	    (mkdir(dir, 0755) < 0 && errno != EEXIST) ||
	    (mkdir(path, 0755) < 0 && errno != EEXIST)) {
		int r = -errno;

		/* The verdict stands; the bundle that was asked for is said to be missing. */
		fprintf(stderr, "pikaci-conform: no repro bundle for %s: cannot create %s: %s\n",
		        f->id, path, strerror(-r));
		return r;
	}
	return 0;
}

/* The case's files and the guest's. Every file is this run's: one it has not is removed. */
static void bundle_put_files(const struct fixture *f, const char *dir,
                             const struct pikaci_exchange *x)
{
	char path[PATH_MAX + 64], from[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/case.json", dir);
	snprintf(from, sizeof(from), "%s/case.json", f->dir);
	bundle_failed(f, path, copy_file(from, path));
	bundle_put(f, dir, "request.json", f->request, f->request_length);
	bundle_put(f, dir, "expected-stdout", f->has_stdout ? f->stdout_bytes : NULL,
	           f->stdout_length);
	bundle_put(f, dir, "stdout", x ? x->run.out : NULL, x ? x->run.out_length : 0);
	bundle_put(f, dir, "stderr", x ? x->run.err : NULL, x ? x->run.err_length : 0);
	for (int i = 0; i < _PIKACI_FILE_MAX; i++) {
		const char *name = strrchr(pikaci_file_path((enum pikaci_file)i), '/') + 1;
		char actual[PATH_MAX + 64];
		bool have = x && !x->files[i].error;

		snprintf(actual, sizeof(actual), "actual/%s", name);
		bundle_put(f, dir, actual, have ? x->files[i].bytes : NULL,
		           have ? x->files[i].length : 0);
	}
}

/* verdict.txt: the status, each check, what did not apply and the changes the run made. */
static void bundle_put_verdict(const struct fixture *f, const char *dir, const struct verdict *v,
                               const struct observation *o, const char *status)
{
	char path[PATH_MAX + 64];
	FILE *out;

	snprintf(path, sizeof(path), "%s/verdict.txt", dir);
	out = fopen(path, "w");
	if (!out)
		return;
	fprintf(out, "%s %s\n", status, f->id);
	for (size_t i = 0; v && i < v->n_checks; i++) {
		fprintf(out, "%s [%s] ", v->checks[i].ok ? "ok  " : "FAIL", v->checks[i].clause);
		line_put(out, v->checks[i].message);
	}
	for (size_t i = 0; v && i < v->n_not_applicable; i++)
		fprintf(out, "n/a  %s\n", v->not_applicable[i]);
	if (o && o->have_changes) {
		fprintf(out, "\nchanges the run made:\n");
		for (size_t i = 0; i < o->n_changes; i++) {
			fprintf(out, "%c ", o->changes[i].kind);
			line_put(out, o->changes[i].path);
		}
	}
	if (fclose(out) != 0)
		fprintf(stderr, "pikaci-conform: repro bundle for %s: cannot write %s\n", f->id,
		        path);
}

/* The Incus options of the run, as replay.sh passes them again. */
static void replay_incus_options(FILE *out, const struct pikaci_incus_options *incus)
{
	const struct {
		const char *flag, *value;
	} given[] = {
		{ "--incus-image", incus->image },
		{ "--socket", incus->socket },
		{ "--url", incus->url },
		{ "--cert", incus->cert },
		{ "--key", incus->key },
		{ "--ca", incus->ca },
		{ "--project", incus->project },
		{ "--remote", incus->remote },
		{ "--instance-type", incus->instance_type },
		{ "--image-server", incus->image_server },
		{ "--image-protocol", incus->image_protocol },
		{ "--incus-isolation", incus->isolation_name },
	};

	for (size_t i = 0; i < ELEMENTSOF(given); i++) {
		if (!given[i].value)
			continue;
		fprintf(out, " %s ", given[i].flag);
		shell_quote(out, given[i].value);
	}
	for (size_t i = 0; i < incus->n_targets && i < PIKACI_INCUS_TARGETS_MAX; i++) {
		fprintf(out, " --target ");
		shell_quote(out, incus->targets[i]);
	}
	for (size_t i = 0; i < incus->n_instance_config && i < PIKACI_INCUS_INSTANCE_CONFIG_MAX;
	     i++) {
		fprintf(out, " --instance-config ");
		shell_quote(out, incus->instance_config[i]);
	}
}

/* KEEP/ID/corpus/ID/: every file of the case's fixture folder, so replay.sh needs no corpus. */
static void bundle_put_corpus(const struct fixture *f, const char *dir)
{
	char path[PATH_MAX + 64], from[PATH_MAX + 256], to[PATH_MAX + 320];
	struct dirent *entry;
	bool ok;
	DIR *d;

	snprintf(path, sizeof(path), "%s/corpus", dir);
	ok = mkdir(path, 0755) == 0 || errno == EEXIST;
	if (ok)
		snprintf(path, sizeof(path), "%s/corpus/%s", dir, f->id);
	ok = ok && (mkdir(path, 0755) == 0 || errno == EEXIST);
	d = ok ? opendir(f->dir) : NULL;
	if (!d) {
		bundle_failed(f, path, -errno);
		return;
	}
	while ((entry = readdir(d))) {
		struct stat st;

		snprintf(from, sizeof(from), "%s/%s", f->dir, entry->d_name);
		if (entry->d_name[0] == '.' || stat(from, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		snprintf(to, sizeof(to), "%s/%s", path, entry->d_name);
		bundle_failed(f, to, copy_file(from, to));
	}
	closedir(d);
}

/*
 * One word of the guest's command line for replay.sh, which runs from any folder: a relative
 * path that exists here is made absolute (not resolved: a symlink stays one).
 */
static void replay_word(FILE *out, const char *word, const char *cwd)
{
	char absolute[PATH_MAX * 2 + 2];

	fputc(' ', out);
	if (cwd && word[0] != '/' && word[0] != '-' && strchr(word, '/') &&
	    access(word, F_OK) == 0) {
		snprintf(absolute, sizeof(absolute), "%s/%s", cwd, word);
		word = absolute;
	}
	shell_quote(out, word);
}

/*
 * replay.sh: from any folder, the runner on the bundle's own copy of the case, with the run's
 * options and guest (the wrapper's words included, so PIKACI_GUEST_WRAPPER is unset). The
 * runner is $PIKACI_CONFORM, else the one that wrote the bundle if it is still there, else
 * pikaci-conform from PATH.
 */
static void bundle_put_replay(const struct options *opt, const struct fixture *f, const char *dir)
{
	char path[PATH_MAX + 64], self[PATH_MAX], cwd[PATH_MAX];
	bool have_cwd = getcwd(cwd, sizeof(cwd)) != NULL;
	ssize_t n;
	FILE *out;

	snprintf(path, sizeof(path), "%s/replay.sh", dir);
	out = fopen(path, "w");
	if (!out)
		return;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = '\0';
	fprintf(out,
	        "#!/bin/sh\n"
	        "# Replays case %s against the same guest, from any folder, on this bundle's own\n"
	        "# copy of the case (corpus/; edit its request.json to try a variation). The "
	        "runner:\n"
	        "# $PIKACI_CONFORM, else the one that wrote this bundle, else pikaci-conform in "
	        "PATH.\n"
	        "here=$(cd \"$(dirname \"$0\")\" && pwd) || exit 2\n"
	        "runner=${PIKACI_CONFORM:-",
	        f->id);
	shell_quote(out, self);
	fprintf(out,
	        "}\n"
	        "[ -n \"${PIKACI_CONFORM:-}\" ] || [ -x \"$runner\" ] || runner=pikaci-conform\n"
	        "# The wrapper's words, if any, are the guest command line's first words.\n"
	        "unset PIKACI_GUEST_WRAPPER\n"
	        "exec \"$runner\" --fixtures \"$here/corpus\" --filter ");
	shell_quote(out, f->id);
	fprintf(out, "%s --case-timeout %g --time-scale %g",
	        opt->check_reason ? " --check-reason" : "", opt->case_timeout, opt->time_scale);
	if (opt->incus.image)
		replay_incus_options(out, &opt->incus);
	fprintf(out, " --");
	for (char **w = opt->guest_argv; *w; w++)
		replay_word(out, *w, have_cwd && !opt->incus.image ? cwd : NULL);
	fputc('\n', out);
	fclose(out);
	chmod(path, 0755);
}

void bundle_keep(const struct options *opt, const struct fixture *f,
                 const struct pikaci_exchange *x, const struct verdict *v,
                 const struct observation *o, const char *status)
{
	char dir[PATH_MAX];

	if (bundle_make_dirs(opt, f, dir, sizeof(dir)) < 0)
		return;
	bundle_put_files(f, dir, x);
	bundle_put_verdict(f, dir, v, o, status);
	bundle_put_corpus(f, dir);
	bundle_put_replay(opt, f, dir);
}
