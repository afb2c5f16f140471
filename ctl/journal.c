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
#include <time.h>

#include <systemd/sd-journal.h>

#include "logtext.h"

/* The journal's name of arbord's own lines, which the ring calls "/". */
#define ARBORD_IDENTIFIER "arbord"

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

/* time_us as "2026-11-21T10:00:00.123456Z", as Logs writes a line's. */
static json_t *
time_json(long long time_us)
{
	time_t secs = (time_t)(time_us / 1000000);
	struct tm tm;
	char buf[64];
	size_t n;

	if (!gmtime_r(&secs, &tm))
		return NULL;
	n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	if (n == 0)
		return NULL;
	(void)snprintf(buf + n, sizeof(buf) - n, ".%06lldZ",
		       time_us % 1000000);
	return json_string(buf);
}

/* The ring's name of an entry's ARBOR_PATH. */
static const char *
ring_path(const char *arbor_path)
{
	return strcmp(arbor_path, ARBORD_IDENTIFIER) == 0 ? "/" : arbor_path;
}

/*
 * Matches the entries of every path the journal holds that q wants:
 * (ARBOR_PATH=p and SYSLOG_IDENTIFIER=p) or ...; *ret_any says whether
 * there was one. 0 or -errno.
 */
static int
match_paths(sd_journal *j, const struct arb_journal_query *q, bool *ret_any)
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
	/* Gathered first: adding a match while enumerating is not allowed. */
	SD_JOURNAL_FOREACH_UNIQUE(j, data, len) {
		const char *v = (const char *)data + plen;
		size_t vlen = len - plen;
		char *path;

		if (len <= plen || memchr(v, '\0', vlen))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **np = realloc(paths, ncap * sizeof(*np));

			if (!np) {
				r = -ENOMEM;
				goto out;
			}
			paths = np;
			cap = ncap;
		}
		path = strndup(v, vlen);
		if (!path) {
			r = -ENOMEM;
			goto out;
		}
		paths[n++] = path;
	}
	*ret_any = false;
	for (size_t i = 0; i < n; i++) {
		char *m;

		if (!q->path_wanted(q->ctx, ring_path(paths[i])))
			continue;
		*ret_any = true;
		if (asprintf(&m, "ARBOR_PATH=%s", paths[i]) < 0) {
			r = -ENOMEM;
			goto out;
		}
		r = sd_journal_add_match(j, m, 0);
		free(m);
		if (r < 0)
			goto out;
		if (asprintf(&m, "SYSLOG_IDENTIFIER=%s", paths[i]) < 0) {
			r = -ENOMEM;
			goto out;
		}
		r = sd_journal_add_match(j, m, 0);
		free(m);
		if (r < 0)
			goto out;
		r = sd_journal_add_disjunction(j);
		if (r < 0)
			goto out;
	}
	r = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	return r;
}

/*
 * The current entry as a LogLine, into *ret (NULL: not wanted, or not
 * one of arbord's, or damaged); *ret_time_us its time. 0 or -ENOMEM.
 */
static int
entry_line(sd_journal *j, const struct arb_journal_query *q, json_t **ret,
	   long long *ret_time_us)
{
	char arbor_path[4096], ident[4096], stream[16];
	long long time_us, seq, pid;
	uint64_t realtime;
	const char *text;
	size_t len;
	bool exact;
	json_t *l, *time;

	*ret = NULL;
	if (text_field(j, "ARBOR_PATH", arbor_path, sizeof(arbor_path)) <= 0 ||
	    text_field(j, "SYSLOG_IDENTIFIER", ident, sizeof(ident)) <= 0 ||
	    strcmp(arbor_path, ident) != 0 ||
	    field_of(j, "MESSAGE", &text, &len) <= 0 ||
	    sd_journal_get_realtime_usec(j, &realtime) < 0 ||
	    realtime > INT64_MAX)
		return 0;
	if (text_field(j, "ARBOR_STREAM", stream, sizeof(stream)) <= 0)
		strcpy(stream, "stdout");
	time_us = number_field(j, "ARBOR_TIME_USEC");
	seq = number_field(j, "ARBOR_SEQ");
	pid = number_field(j, "SYSLOG_PID");
	exact = time_us >= 0;
	if (!exact)
		time_us = (long long)realtime;
	*ret_time_us = time_us;
	if (q->in_ring && q->in_ring(q->ctx, ring_path(arbor_path), time_us,
				     seq, exact))
		return 0;
	time = time_json(time_us);
	if (!time)
		return 0; /* no time of this world: a malformed field */
	l = json_pack("{s:o,s:s,s:I,s:s,s:o*}", "time", time, "path",
		      ring_path(arbor_path), "pid",
		      (json_int_t)(pid > INT32_MAX ? -1 : pid), "stream",
		      stream, "line", arb_logtext_json(text, len, &exact));
	if (!l)
		return -ENOMEM;
	if (!json_object_get(l, "line") ||
	    (!exact && json_object_set_new(l, "raw", arb_logtext_raw_json(
							     text, len)) < 0) ||
	    json_object_set_new(l, "journal", json_true()) < 0) {
		json_decref(l);
		return -ENOMEM;
	}
	if (q->line_wanted && !q->line_wanted(q->ctx, l)) {
		json_decref(l);
		return 0;
	}
	*ret = l;
	return 0;
}

/* Where reading starts: after --until, or at the newest entry. */
static int
seek_start(sd_journal *j, const struct arb_journal_query *q)
{
	/* A line's own time is at most journald's: entries received up to
	 * a second later still hold lines of the range. */
	if (q->has_until && q->until_us >= 0 &&
	    q->until_us < INT64_MAX - 1000000)
		return sd_journal_seek_realtime_usec(
			j, (uint64_t)q->until_us + 1000000);
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
	/* Files it could not open (none, or no access) are no error to
	 * sd-journal: an empty journal is one to us. */
	if (!q->directory && sd_journal_has_runtime_files(j) <= 0 &&
	    sd_journal_has_persistent_files(j) <= 0) {
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
