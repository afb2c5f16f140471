/*
 * journal.h - arborctl's reader of the lines arbord's journal sink wrote,
 * through libsystemd's sd-journal: the history older than the rings.
 *
 * arbord writes the journal's native protocol itself (daemon/logs/sink.c);
 * reading is another matter, the journal's files being a format of
 * systemd's own, so arborctl reads them as journalctl does. An entry of
 * arbord's has ARBOR_PATH and SYSLOG_IDENTIFIER set to the service's path
 * (for arbord's own lines ARBOR_PATH=/ and SYSLOG_IDENTIFIER=arbord),
 * ARBOR_STREAM (stdout, stderr, arbor or output), SYSLOG_PID, and
 * ARBOR_SEQ and ARBOR_TIME_USEC, the seq and read time its line has in
 * the ring. Any other entry is not arbord's, and is left out.
 */
#ifndef ARB_CTL_JOURNAL_H
#define ARB_CTL_JOURNAL_H

#include <stdbool.h>

#include <jansson.h>

/* Which entries arb_journal_lines returns, and from where. */
struct arb_journal_query {
	/* A directory of journal files (journalctl -D), or NULL: this
	 * machine's journal (/run/log/journal, /var/log/journal). */
	const char *directory;
	/* The range asked for, microseconds since the epoch: where reading
	 * starts and stops; the exact test is line_wanted's. */
	bool has_since, has_until;
	long long since_us, until_us;
	/* The newest this many lines that pass (-1: all). */
	long long max_lines;
	void *ctx;
	/* Whether the entries of this path ("/" for arbord's) are wanted:
	 * asked of each path the journal holds, and of each entry read. */
	bool (*path_wanted)(void *ctx, const char *path);
	/*
	 * Whether the ring holds this line of path too, so that it is left
	 * out: time_us is when arbord read it, seq its seq (-1: unknown, an
	 * entry of an arbord before ARBOR_SEQ); exact is false when the time
	 * is only journald's (no ARBOR_TIME_USEC), which is later. NULL: no
	 * ring to compare with.
	 */
	bool (*in_ring)(void *ctx, const char *path, long long time_us,
			long long seq, bool exact);
	/* Whether a line (its JSON) passes the other filters. */
	bool (*line_wanted)(void *ctx, json_t *line);
};

/*
 * Appends to lines, oldest first, the newest q->max_lines entries of
 * arbord's that q lets through, each a LogLine as Logs returns it but
 * for seq (the journal's lines are not the ring's) and with "journal":
 * true. A file that is not a journal, or a damaged one, is skipped, as
 * sd-journal does: what the others hold is still read. 0; -ENOENT no
 * such directory, or no journal file that may be read (none, not one,
 * or no access: no entry at all); -ENOMEM; another -errno from
 * sd-journal.
 */
int arb_journal_lines(const struct arb_journal_query *q, json_t *lines);

#endif
