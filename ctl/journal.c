/*
 * journal.c - the lines of arbord's journal sink, read back with
 * sd-journal (journal.h).
 *
 * Reads only: it never writes to the journal, and never talks to arbord.
 * Entries are read from the newest backwards, so that -n N reads N of
 * them, not the journal's whole history; every field may be missing or
 * malformed (anyone may send ARBOR_PATH=), and such an entry is skipped.
 */
#include "journal.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-journal.h>

#include "logtext.h"

/* The SYSLOG_IDENTIFIER of arbord's own lines, whose ARBOR_PATH is "/". */
#define ARBORD_IDENTIFIER "arbord"

/*
 * --until reads from this long after the range by journald's time, which
 * is when an entry reached it: a busy journald stamps entries seconds
 * after arbord read their lines (ARBOR_TIME_USEC). The lines read that
 * are after the range are left out by line_wanted, by their own time.
 */
#define UNTIL_MARGIN_US (5 * 60 * 1000000LL)

/* The ARBOR_STREAM values arbord writes: an entry of another is not its. */
static const char *const stream_names[] = {"stdout", "stderr", "arbor",
					   "output"};

/*
 * The value of field in the current entry (not NUL-terminated): 1, 0
 * when the entry has no such field, or -errno (a damaged entry).
 */
static int
field_of(sd_journal *j, const char *field, const char **ret, size_t *ret_len)
{
	size_t flen = strlen(field), len;
	const void *data;
	int r;

	r = sd_journal_get_data(j, field, &data, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (len <= flen || memcmp(data, field, flen) != 0 ||
	    ((const char *)data)[flen] != '=')
		return -EBADMSG;
	*ret = (const char *)data + flen + 1;
	*ret_len = len - flen - 1;
	return 1;
}

/* The field as a C string in buf (size bytes): 1, 0 absent or too long
 * or holding a NUL, or -errno. */
static int
text_field(sd_journal *j, const char *field, char *buf, size_t size)
{
	const char *v;
	size_t len;
	int r = field_of(j, field, &v, &len);

	if (r <= 0)
		return r;
	if (len >= size || memchr(v, '\0', len))
		return 0;
	memcpy(buf, v, len);
	buf[len] = '\0';
	return 1;
}

/* The field as a number from 0 to INT64_MAX, or -1 (absent, or not one). */
static long long
number_field(sd_journal *j, const char *field)
{
	char buf[32], *end;
	long long v;

	if (text_field(j, field, buf, sizeof(buf)) <= 0 || buf[0] < '0' ||
	    buf[0] > '9')
		return -1;
	errno = 0;
	v = strtoll(buf, &end, 10);
	return errno || *end ? -1 : v;
}

/* The SYSLOG_IDENTIFIER that arbord writes with ARBOR_PATH=path. */
static const char *
identifier_of(const char *path)
{
	return strcmp(path, "/") == 0 ? ARBORD_IDENTIFIER : path;
}

/* Whether an ARBOR_PATH value may be a path of arbord's: text and JSON. */
static bool
path_value_ok(const char *v, size_t len)
{
	return len > 0 && arb_logtext_is_utf8(v, len);
}

static void
free_paths(char **paths, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

/*
 * Every ARBOR_PATH value of the journal that may be a path of arbord's,
 * from its index of values, into *ret_paths (*ret_n of them, the caller
 * frees them): 0, or -errno (-ENOMEM, or an index that could not be read
 * to its end: a damaged file), with nothing returned.
 */
static int
gather_paths(sd_journal *j, char ***ret_paths, size_t *ret_n)
{
	static const char arbor_path[] = "ARBOR_PATH=";
	const size_t plen = sizeof(arbor_path) - 1;
	char **paths = NULL;
	size_t n = 0, cap = 0;
	const void *data;
	size_t len;
	int r;

	r = sd_journal_query_unique(j, "ARBOR_PATH");
	if (r < 0)
		return r;
	/* Not SD_JOURNAL_FOREACH_UNIQUE, which ends silently on an error. */
	while ((r = sd_journal_enumerate_available_unique(j, &data, &len)) >
	       0) {
		const char *v = (const char *)data + plen;
		char *path;

		if (len <= plen || !path_value_ok(v, len - plen))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **np = realloc(paths, ncap * sizeof(*np));

			if (!np) {
				r = -ENOMEM;
				break;
			}
			paths = np;
			cap = ncap;
		}
		path = strndup(v, len - plen);
		if (!path) {
			r = -ENOMEM;
			break;
		}
		paths[n++] = path;
	}
	if (r < 0) {
		free_paths(paths, n);
		return r;
	}
	*ret_paths = paths;
	*ret_n = n;
	return 0;
}

/* Matches one more path's entries: ARBOR_PATH and SYSLOG_IDENTIFIER. */
static int
match_path(sd_journal *j, const char *path)
{
	char *m;
	int r;

	if (asprintf(&m, "ARBOR_PATH=%s", path) < 0)
		return -ENOMEM;
	r = sd_journal_add_match(j, m, 0);
	free(m);
	if (r < 0)
		return r;
	if (asprintf(&m, "SYSLOG_IDENTIFIER=%s", identifier_of(path)) < 0)
		return -ENOMEM;
	r = sd_journal_add_match(j, m, 0);
	free(m);
	if (r < 0)
		return r;
	return sd_journal_add_disjunction(j);
}

/*
 * Matches the entries of every path the journal holds that q wants;
 * *ret_any says whether there was one. The paths are gathered first:
 * adding a match while enumerating is not allowed. An index of paths
 * that cannot be read (a damaged file) matches nothing: every entry is
 * read, and entry_line asks path_wanted of each. 0 or -errno.
 */
static int
match_paths(sd_journal *j, const struct arb_journal_query *q, bool *ret_any)
{
	char **paths;
	size_t n;
	bool any = false;
	int r = gather_paths(j, &paths, &n);

	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		*ret_any = true;
		return 0;
	}
	for (size_t i = 0; r == 0 && i < n; i++) {
		if (!q->path_wanted(q->ctx, paths[i]))
			continue;
		any = true;
		r = match_path(j, paths[i]);
	}
	free_paths(paths, n);
	if (r < 0)
		return r;
	*ret_any = any;
	return 0;
}

/* The known stream name of field ARBOR_STREAM, or NULL (absent, other). */
static const char *
stream_of(sd_journal *j)
{
	const char *v;
	size_t len;

	if (field_of(j, "ARBOR_STREAM", &v, &len) <= 0)
		return NULL;
	for (size_t i = 0;
	     i < sizeof(stream_names) / sizeof(stream_names[0]); i++)
		if (strlen(stream_names[i]) == len &&
		    memcmp(stream_names[i], v, len) == 0)
			return stream_names[i];
	return NULL;
}

/*
 * Whether the current entry is one of arbord's that q wants: an
 * ARBOR_PATH that JSON holds, into path (size bytes), and the
 * SYSLOG_IDENTIFIER arbord writes with it. False too when damaged.
 */
static bool
wanted_path(sd_journal *j, const struct arb_journal_query *q, char *path,
	    size_t size)
{
	char ident[4096];

	if (text_field(j, "ARBOR_PATH", path, size) <= 0 ||
	    !path_value_ok(path, strlen(path)) ||
	    text_field(j, "SYSLOG_IDENTIFIER", ident, sizeof(ident)) <= 0 ||
	    strcmp(identifier_of(path), ident) != 0)
		return false;
	/* Matched by path already, unless the journal's index was damaged. */
	return q->path_wanted(q->ctx, path);
}

/*
 * The current entry's MESSAGE as "line" (and "raw" when it is not UTF-8)
 * of l. Read last of the entry's fields: sd_journal_get_data's data is
 * valid only until the next call into sd-journal (a compressed field is
 * decompressed into one buffer of the file's). 1, 0 (no MESSAGE), or
 * -ENOMEM.
 */
static int
put_message(sd_journal *j, json_t *l)
{
	const char *text;
	size_t len;
	bool exact;

	if (field_of(j, "MESSAGE", &text, &len) <= 0)
		return 0;
	if (json_object_set_new(l, "line",
				arb_logtext_json(text, len, &exact)) < 0 ||
	    (!exact &&
	     json_object_set_new(l, "raw", arb_logtext_raw_json(text, len)) <
		     0))
		return -ENOMEM;
	return 1;
}

/*
 * The current entry as a LogLine, into *ret (NULL: not wanted, or not
 * one of arbord's, or damaged); *ret_time_us its time. 0 or -ENOMEM.
 */
static int
entry_line(sd_journal *j, const struct arb_journal_query *q, json_t **ret,
	   long long *ret_time_us)
{
	char path[4096];
	const char *stream;
	long long time_us, seq, pid;
	uint64_t realtime;
	bool exact;
	json_t *l, *time;
	int r;

	*ret = NULL;
	if (!wanted_path(j, q, path, sizeof(path)) ||
	    !(stream = stream_of(j)) ||
	    sd_journal_get_realtime_usec(j, &realtime) < 0 ||
	    realtime > INT64_MAX)
		return 0;
	time_us = number_field(j, "ARBOR_TIME_USEC");
	seq = number_field(j, "ARBOR_SEQ");
	pid = number_field(j, "SYSLOG_PID");
	exact = time_us >= 0;
	if (!exact)
		time_us = (long long)realtime;
	*ret_time_us = time_us;
	if (q->in_ring && q->in_ring(q->ctx, path, time_us, seq, exact))
		return 0;
	time = arb_logtext_time_json(time_us);
	if (!time)
		return 0; /* no time of this world: a malformed field */
	/* Every string is valid UTF-8 here: NULL means no memory. */
	l = json_pack("{s:o,s:s,s:I,s:s}", "time", time, "path", path, "pid",
		      (json_int_t)(pid > INT32_MAX ? -1 : pid), "stream",
		      stream);
	if (!l)
		return -ENOMEM;
	r = put_message(j, l);
	if (r > 0 && json_object_set_new(l, "journal", json_true()) < 0)
		r = -ENOMEM;
	if (r <= 0 || (q->line_wanted && !q->line_wanted(q->ctx, l))) {
		json_decref(l);
		return r < 0 ? r : 0;
	}
	*ret = l;
	return 0;
}

/* Where reading starts: after --until, or at the newest entry. */
static int
seek_start(sd_journal *j, const struct arb_journal_query *q)
{
	if (q->has_until && q->until_us >= 0 &&
	    q->until_us < INT64_MAX - UNTIL_MARGIN_US)
		return sd_journal_seek_realtime_usec(
			j, (uint64_t)(q->until_us + UNTIL_MARGIN_US));
	return sd_journal_seek_tail(j);
}

/*
 * Reads from the newest entry backwards into rev (newest first) until it
 * holds max_lines, or the entries are older than --since. 0 or -errno.
 */
static int
read_backwards(sd_journal *j, const struct arb_journal_query *q, json_t *rev)
{
	int r = seek_start(j, q);

	if (r < 0)
		return r;
	while (q->max_lines < 0 ||
	       json_array_size(rev) < (size_t)q->max_lines) {
		uint64_t realtime;
		long long time_us;
		json_t *l;

		/* A damaged file is left out by sd-journal, which goes on
		 * with the others; an error here ends the reading. */
		r = sd_journal_previous(j);
		if (r <= 0)
			return r;
		if (q->has_since &&
		    sd_journal_get_realtime_usec(j, &realtime) == 0 &&
		    (long long)realtime < q->since_us)
			return 0; /* its line was read earlier still */
		r = entry_line(j, q, &l, &time_us);
		if (r < 0)
			return r;
		if (l && json_array_append_new(rev, l) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* Opens the journal q names: 0, or -errno (-ENOENT: nothing to read). */
static int
open_journal(const struct arb_journal_query *q, sd_journal **ret)
{
	sd_journal *j = NULL;
	int r;

	if (q->directory)
		r = sd_journal_open_directory(&j, q->directory, 0);
	else
		r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY);
	if (r < 0)
		return r;
	/* Files it could not open (none, no access, or no journal files)
	 * are no error to sd-journal: a journal without an entry is none to
	 * us. It opens at its head, where the first entry is. */
	if (sd_journal_next(j) == 0) {
		sd_journal_close(j);
		return -ENOENT;
	}
	*ret = j;
	return 0;
}

int
arb_journal_lines(const struct arb_journal_query *q, json_t *lines)
{
	json_t *rev = json_array();
	sd_journal *j = NULL;
	bool any = false;
	int r;

	if (!rev)
		return -ENOMEM;
	r = open_journal(q, &j);
	if (r == 0)
		r = match_paths(j, q, &any);
	if (r == 0 && any)
		r = read_backwards(j, q, rev);
	for (size_t i = json_array_size(rev); r == 0 && i > 0; i--)
		if (json_array_append(lines, json_array_get(rev, i - 1)) < 0)
			r = -ENOMEM;
	json_decref(rev);
	if (j)
		sd_journal_close(j);
	return r;
}
