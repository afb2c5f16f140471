/*
 * sink.h - where captured lines are written besides the ring: a file
 * rotated by size, arbord's console (stdout and stderr), and the journal.
 *
 * None of them may block arbord's loop for long or grow without bound. A
 * file is written synchronously (a local file's write does not wait for a
 * reader); the console and the journal only ever take what they can take
 * at once, and what they cannot is dropped and counted, then announced in
 * the sink itself as "arbor: N lines dropped" once it takes lines again.
 */
#ifndef ARB_LOGSINK_H
#define ARB_LOGSINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "ring.h"

/* ---- a file, rotated by size ------------------------------------------- */

struct arb_logfile {
	char *path;
	int fd;            /* -1: not open (it could not be opened) */
	uint64_t size;     /* of the file on disk */
	uint64_t max_size; /* 0: never rotated */
	uint32_t keep;
	char *buf;         /* lines formatted and not yet written */
	size_t len;
	uint32_t buf_lines;
	uint64_t dropped;  /* lines lost to write errors, to announce */
	int err;           /* the last error, reported once: 0 or errno */
	struct arb_logfile *next;
};

/* Opens (creating, appending) path; the file's errors are in f->err. */
struct arb_logfile *arb_logfile_new(const char *path, uint64_t max_size,
				    uint32_t keep);
void arb_logfile_free(struct arb_logfile *f);

/*
 * Appends one line: prefix (already formatted: time, path, pid, stream)
 * and text, and a newline. Rotates first when the line would take the file
 * past max_size. Written at the latest by the next arb_logfile_flush.
 */
void arb_logfile_put(struct arb_logfile *f, const char *prefix,
		     size_t prefix_len, const char *text, size_t len);

/* Writes what is buffered; 0 or -errno (the lines are then dropped). */
int arb_logfile_flush(struct arb_logfile *f);

/* Closes and opens the path again (after an outside rotation). 0/-errno. */
int arb_logfile_reopen(struct arb_logfile *f);

/*
 * The prefix of the lines of one file: "2026-11-21T10:00:00.123456Z
 * web/app[4242] stdout: ", and " stdout(cut): " for a piece of a long
 * line. Returns its length (at most size - 1).
 */
size_t arb_logfile_prefix(char *buf, size_t size, int64_t time_us,
			  const char *path, int pid,
			  enum arb_log_stream stream, unsigned flags);

/* ---- the console: arbord's stdout or stderr ---------------------------- */

struct arb_console {
	struct ev_loop *loop;
	int fd;
	bool regular; /* a file: written whole, never waits for a reader */
	bool owned;   /* fd is our own non-blocking open of the console */
	ev_io w;      /* waits for room while something is queued */
	char *buf;    /* ARB_LOG_CONSOLE_QUEUE bytes, allocated at first use */
	size_t off, len;
	uint64_t dropped;
};

/* The console on fd (borrowed: 1 or 2). */
void arb_console_init(struct arb_console *c, struct ev_loop *loop, int fd);
void arb_console_done(struct arb_console *c);

/*
 * Queues "prefix" "text" "\n" and writes what the console takes now;
 * a line that does not fit the queue is dropped and counted.
 */
void arb_console_put(struct arb_console *c, const char *prefix,
		     size_t prefix_len, const char *text, size_t len);

/* Before exit: waits up to timeout_ms for the queue to be written. */
void arb_console_drain(struct arb_console *c, int timeout_ms);

/* ---- the journal: systemd-journald's native protocol ------------------- */

struct arb_journal {
	int fd;          /* -1: not connected */
	const char *socket_path;
	bool warned;     /* that there is no journal, said once */
};

void arb_journal_init(struct arb_journal *j);
void arb_journal_done(struct arb_journal *j);

/*
 * Sends one line as one entry: MESSAGE, PRIORITY by stream,
 * SYSLOG_IDENTIFIER = identifier and ARBOR_PATH = path (the service's path
 * for both; "arbord" and "/" for arbord's own lines, so that a service
 * named arbord is not taken for arbord), SYSLOG_PID = the line's pid,
 * ARBOR_STREAM, and ARBOR_SEQ and ARBOR_TIME_USEC, the line's seq and the
 * time arbord read it (journald stamps the entry when it receives it,
 * later): arborctl logs tells by them which entries the ring holds too.
 * Never waits: 0, or -errno when the journal cannot take it now (-EAGAIN:
 * full) or at all (-ENOENT: no journal); the caller counts the line as
 * dropped.
 */
int arb_journal_send(struct arb_journal *j, const char *identifier,
		     const char *path, const struct arb_log_line *line);


/* "arbor: 1234 lines dropped", the marker of every sink; its length. */
#define ARB_LOG_DROPPED_PREFIX "arbor: "
size_t arb_log_dropped_text(char *buf, size_t size, uint64_t n);

/* The stream's name: "stdout", "stderr", "arbor". */
const char *arb_log_stream_name(enum arb_log_stream s);

#endif
