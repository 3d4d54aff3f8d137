/* SPDX-License-Identifier: MIT */
/*
 * journal.c - the lifecycle files of a run (CONTRACT §5): guest.log appended, status.json and
 * result.json replaced atomically, one whole line per event ([B4]).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "guest.h"
#include "shared.h"

static void timestamp_now(char buffer[PIKACI_TIMESTAMP_LENGTH])
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	pikaci_timestamp_dump(&now, buffer, PIKACI_TIMESTAMP_LENGTH);
}

static int make_dir(const char *path)
{
	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		return 0;
	fprintf(stderr, "pikaci-incus-run: cannot create %s: %s\n", path, strerror(errno));
	return -errno;
}

/* The kernel's boot id, or "" when there is none to read. */
static void read_boot_id(char *buffer, size_t size)
{
	if (read_file_head("/proc/sys/kernel/random/boot_id", buffer, size) < 0)
		buffer[0] = '\0';
	buffer[strcspn(buffer, "\n")] = '\0';
}

int journal_open(struct journal *journal)
{
	int r;

	memset(journal, 0, sizeof(*journal));
	journal->log_fd = journal->events_fd = -1;
	r = make_dir(PIKACI_STATE_DIR);
	if (r == 0)
		r = make_dir(PIKACI_LOGS_DIR);
	if (r < 0)
		return r;
	/*
	 * The log is appended across runs ([L1]: "the first line of a run"); the events start
	 * over at seq 1, and a previous run's result must never be read as this run's: a
	 * result that cannot be removed could not be replaced either, so nothing runs.
	 */
	if (unlink(PIKACI_RESULT_PATH) < 0 && errno != ENOENT) {
		r = -errno;
		fprintf(stderr, "pikaci-incus-run: cannot remove a stale %s: %s\n",
		        PIKACI_RESULT_PATH, strerror(errno));
		return r;
	}
	journal->log_fd =
	        open(PIKACI_LOG_PATH, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
	journal->events_fd =
	        open(PIKACI_EVENTS_PATH,
	             O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (journal->log_fd < 0 || journal->events_fd < 0) {
		r = -errno;
		fprintf(stderr, "pikaci-incus-run: cannot open %s: %s\n",
		        journal->log_fd < 0 ? PIKACI_LOG_PATH : PIKACI_EVENTS_PATH,
		        strerror(errno));
		journal_close(journal);
		return r;
	}
	read_boot_id(journal->boot_id, sizeof(journal->boot_id));
	return 0;
}

void journal_close(struct journal *journal)
{
	if (journal->log_fd >= 0)
		close(journal->log_fd);
	if (journal->events_fd >= 0)
		close(journal->events_fd);
	journal->log_fd = journal->events_fd = -1;
}

int journal_log_bytes(struct journal *journal, const char *bytes, size_t length)
{
	return write_all(journal->log_fd, bytes, length);
}

int journal_log_line(struct journal *journal, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	memcpy(line, PIKACI_LOG_FAILURE_PREFIX, strlen(PIKACI_LOG_FAILURE_PREFIX));
	va_start(ap, fmt);
	n = vsnprintf(line + strlen(PIKACI_LOG_FAILURE_PREFIX),
	              sizeof(line) - strlen(PIKACI_LOG_FAILURE_PREFIX) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	n = (int)strlen(line);
	line[n++] = '\n';
	return write_all(journal->log_fd, line, (size_t)n);
}

/* [B4]: a temporary file in the same folder, flushed, then renamed over the document. */
static int replace_atomically(const char *path, const json_t *document)
{
	char temporary[256];
	char *text = pikaci_document_dump(document);
	size_t length;
	int fd, dir, r = 0;

	if (!text)
		return -ENOMEM;
	snprintf(temporary, sizeof(temporary), "%s/.%s.XXXXXX", PIKACI_STATE_DIR,
	         strrchr(path, '/') + 1);
	fd = mkostemp(temporary, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	length = strlen(text);
	text[length++] = '\n'; /* replaces the NUL; the length is explicit from here on */
	r = write_all(fd, text, length);
	if (r == 0 && (fchmod(fd, 0644) < 0 || fsync(fd) < 0))
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(temporary, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(temporary);
		goto out;
	}
	/* The rename itself survives a crash only once the folder is flushed. */
	dir = open(PIKACI_STATE_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir >= 0) {
		fsync(dir);
		close(dir);
	}
out:
	if (r < 0)
		fprintf(stderr, "pikaci-incus-run: cannot write %s: %s\n", path, strerror(-r));
	free(text);
	return r;
}

static int add_boot_id(struct journal *journal, json_t *document)
{
	if (!document)
		return -ENOMEM;
	if (journal->boot_id[0] &&
	    json_object_set_new(document, "boot_id", json_string(journal->boot_id)) < 0)
		return -ENOMEM;
	return 0;
}

int journal_state(struct journal *journal, enum pikaci_state state, const char *message,
                  json_t *details)
{
	char timestamp[PIKACI_TIMESTAMP_LENGTH];
	json_t *status, *event;
	char *line = NULL;
	int r;

	timestamp_now(timestamp);
	/* Both documents carry the same details: the status gets its own reference. */
	status = pikaci_status_new(state, timestamp, message, json_incref(details));
	event = pikaci_event_new(++journal->seq, state, timestamp, message, details);
	r = add_boot_id(journal, status);
	if (r == 0)
		r = add_boot_id(journal, event);
	if (r == 0)
		r = replace_atomically(PIKACI_STATUS_PATH, status);
	if (r == 0) {
		line = pikaci_document_dump(event);
		if (!line) {
			r = -ENOMEM;
		} else {
			size_t length = strlen(line);

			line[length++] = '\n';
			/* One write of the whole line, on an O_APPEND descriptor ([B4]). */
			r = write_all(journal->events_fd, line, length);
			if (r < 0)
				fprintf(stderr, "pikaci-incus-run: cannot append to %s: %s\n",
				        PIKACI_EVENTS_PATH, strerror(-r));
		}
	}
	free(line);
	json_decref(status);
	json_decref(event);
	return r;
}

int journal_result(struct journal *journal, int exit_code, const char *message, json_t *details)
{
	char timestamp[PIKACI_TIMESTAMP_LENGTH];
	json_t *result;
	int r;

	timestamp_now(timestamp);
	result = pikaci_result_new(exit_code, timestamp, message, details);
	if (!result)
		return -ENOMEM;
	r = replace_atomically(PIKACI_RESULT_PATH, result);
	json_decref(result);
	return r;
}
