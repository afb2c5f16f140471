/*
 * methods_logs.c - Logs and ReopenLogs: the lines the rings hold, merged
 * in the order they were read, and those that follow as they come.
 *
 * A follower that reads slower than its services write is not waited
 * for: past ARB_LOG_FOLLOW_QUEUE of unsent output its lines are dropped
 * and counted, and a line "arbor: N lines dropped" tells it so once it
 * catches up. The services and the other readers never notice.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "protocol.h"
#include "clock.h"
#include "connection.h"
#include "core/limits.h"
#include "logs/capture.h"
#include "logs/sink.h"

/* Lines per reply of the backlog: replies stay far below ARB_REPLY_MAX. */
#define LINES_PER_REPLY 256
#define DEFAULT_LINES 10

/* ---- a line as JSON --------------------------------------------------- */

/*
 * The length of the UTF-8 character at p (n bytes left), 0 if invalid.
 * NUL counts as invalid: many JSON readers (jansson by default) refuse
 * \u0000, and a C string would end there.
 */
static size_t
utf8_char(const unsigned char *p, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len;

	if (p[0] == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4;
	else
		return 0;
	/* Overlong forms, surrogates and code points past U+10FFFF. */
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

/*
 * The text as a JSON string, every byte that is not part of valid UTF-8
 * as U+FFFD; *ret_exact tells whether that changed anything.
 */
static json_t *
text_json(const char *text, size_t len, bool *ret_exact)
{
	const unsigned char *p = (const unsigned char *)text;
	char *fixed, *out;
	json_t *j;

	*ret_exact = true;
	for (size_t i = 0; i < len;) {
		size_t n = utf8_char(p + i, len - i);

		if (n == 0) {
			*ret_exact = false;
			break;
		}
		i += n;
	}
	if (*ret_exact)
		return json_stringn(text, len);
	fixed = malloc(len * 3 + 1);
	if (!fixed)
		return NULL;
	out = fixed;
	for (size_t i = 0; i < len;) {
		size_t n = utf8_char(p + i, len - i);

		if (n == 0) {
			memcpy(out, "\xef\xbf\xbd", 3);
			out += 3;
			i++;
			continue;
		}
		memcpy(out, p + i, n);
		out += n;
		i += n;
	}
	j = json_stringn(fixed, (size_t)(out - fixed));
	free(fixed);
	return j;
}

/* The exact bytes, as numbers: only for lines that are not UTF-8. */
static json_t *
raw_json(const char *text, size_t len)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < len; i++)
		if (json_array_append_new(a, json_integer(
				(unsigned char)text[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *
time_json(int64_t time_us)
{
	char buf[64];

	arb_log_format_time(buf, sizeof(buf), time_us);
	return json_string(buf);
}

static json_t *
line_json(const struct arb_control *ctl, uint32_t node,
	  const struct arb_log_line *l)
{
	json_t *o = json_object();
	bool exact;

	if (!o)
		return NULL;
	json_object_set_new_nocheck(o, "seq", json_integer((json_int_t)l->seq));
	json_object_set_new_nocheck(o, "time", time_json(l->time_us));
	json_object_set_new_nocheck(o, "path",
				    json_string(ctl->spec->nodes[node].path));
	json_object_set_new_nocheck(o, "pid", json_integer(l->pid));
	json_object_set_new_nocheck(
		o, "stream",
		json_string(arb_log_stream_name((enum arb_log_stream)l->stream)));
	json_object_set_new_nocheck(o, "line", text_json(l->text, l->len,
							 &exact));
	if (!exact)
		json_object_set_new_nocheck(o, "raw", raw_json(l->text, l->len));
	if (l->flags & ARB_LINE_CUT)
		json_object_set_new_nocheck(o, "cut", json_true());
	return o;
}

/* ---- a follower ------------------------------------------------------ */

/* What a connection following Logs holds (its conn's stream_data). */
struct follower {
	uint32_t top;          /* the subtree it follows */
	uint64_t dropped;      /* lines it was too slow for, to announce */
	uint64_t dropped_seq;  /* the last of them */
	uint32_t dropped_node;
};

static void follow_drained(struct conn *c);
static void follow_end(struct conn *c);
static void follow_closed(struct conn *c);

static const struct conn_stream follow_stream = {
	.drained = follow_drained,
	.end = follow_end,
	.closed = follow_closed,
};

static struct follower *
follower_of(const struct conn *c)
{
	return c->stream == &follow_stream ? c->stream_data : NULL;
}

/* c follows the subtree at top from now on; OOM closes c. */
static void
follow_begin(struct conn *c, uint32_t top)
{
	struct follower *f = calloc(1, sizeof(*f));

	if (!f) {
		c->closing = true;
		return;
	}
	f->top = top;
	c->stream = &follow_stream;
	c->stream_data = f;
	c->ctl->nfollowers++;
}

/*
 * A line of arbord's own about node's lines (how many were left out or
 * dropped), in place of them: it takes seq, and the time of now_us.
 */
static void
send_arbor_line(struct conn *c, uint32_t node, uint64_t seq, int64_t now_us,
		const char *text, size_t len)
{
	struct arb_log_line l = {
		.seq = seq, .time_us = now_us, .pid = (int32_t)getpid(),
		.stream = ARB_STREAM_ARBOR, .len = (uint16_t)len, .text = text,
	};
	json_t *p = json_pack("{s:[o]}", "lines", line_json(c->ctl, node, &l));

	conn_reply(c, p, true);
	json_decref(p);
}

/* The marker that tells a follower how many lines it missed; it takes
 * the place (and the seq) of the last of them. */
static void
send_dropped(struct conn *c, struct follower *f)
{
	char text[64];
	size_t len = arb_log_dropped_text(text, sizeof(text), f->dropped);

	send_arbor_line(c, f->dropped_node, f->dropped_seq, arb_wall_us(),
			text, len);
	f->dropped = 0;
}

/* Its queue is written: a follower that missed lines learns how many. */
static void
follow_drained(struct conn *c)
{
	struct follower *f = c->stream_data;

	if (f->dropped > 0)
		send_dropped(c, f);
}

/* arbord is exiting: the last reply, with no lines. */
static void
follow_end(struct conn *c)
{
	json_t *p = json_pack("{s:[]}", "lines");

	conn_reply(c, p, false);
	json_decref(p);
	c->closing = true;
}

static void
follow_closed(struct conn *c)
{
	free(c->stream_data);
	c->stream_data = NULL;
	c->stream = NULL;
	c->ctl->nfollowers--;
}

/* ---- Logs ------------------------------------------------------------- */

static bool
in_subtree(const struct arb_spec *spec, uint32_t node, uint32_t top)
{
	for (; node != ARB_NONE; node = spec->nodes[node].parent)
		if (node == top)
			return true;
	return false;
}

struct entry {
	struct arb_log_line line;
	uint32_t node;
};

static int
by_seq(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	return x->line.seq < y->line.seq ? -1 : x->line.seq > y->line.seq;
}

/*
 * The newest `last` lines of the subtree at top, oldest first, in *ret
 * (texts point into the rings: use them before anything is captured).
 */
static int
gather(const struct arb_control *ctl, uint32_t top, uint32_t last,
       struct entry **ret, size_t *ret_n)
{
	struct entry *v = NULL;
	size_t n = 0, cap = 0;

	for (uint32_t i = 0; i < ctl->spec->nnodes; i++) {
		const struct arb_logring *ring = arb_logs_ring(ctl->logs, i);
		struct arb_logring_iter it;
		struct arb_log_line l;

		if (!ring || ring->count == 0 || !in_subtree(ctl->spec, i, top))
			continue;
		arb_logring_iter_last(ring, last, &it);
		while (arb_logring_next(ring, &it, &l)) {
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 256;
				struct entry *nv = realloc(v, ncap * sizeof(*v));

				if (!nv) {
					free(v);
					return -ENOMEM;
				}
				v = nv;
				cap = ncap;
			}
			v[n].line = l;
			v[n++].node = i;
		}
	}
	if (n > 0)
		qsort(v, n, sizeof(*v), by_seq);
	if (n > last) {
		memmove(v, v + (n - last), last * sizeof(*v));
		n = last;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/*
 * A bound on a line's JSON: its text, six bytes a byte as numbers in raw
 * and as U+FFFD when it is not UTF-8, and the other fields.
 */
static size_t
json_bound(const struct arb_log_line *l)
{
	for (uint16_t i = 0; i < l->len; i++) {
		unsigned char b = (unsigned char)l->text[i];

		if (b < 0x20 || b >= 0x80 || b == '"' || b == '\\')
			return (size_t)l->len * 6 + 256;
	}
	return (size_t)l->len + 256;
}

/*
 * Replies with lines, a batch at a time; the last one ends the call
 * unless it follows. A backlog is encoded at once, so it is cut to
 * ARB_LOG_BACKLOG_MAX of output (the newest lines kept): one call can
 * neither hold the loop for long nor take much memory.
 */
static void
send_backlog(struct conn *c, const struct entry *v, size_t n, bool follow)
{
	size_t i = n, bytes = 0;

	while (i > 0 && bytes + json_bound(&v[i - 1].line) <=
				ARB_LOG_BACKLOG_MAX)
		bytes += json_bound(&v[--i].line);
	if (i > 0) {
		/* Say where the backlog starts, in place of what is left. */
		char text[96];
		int len = snprintf(text, sizeof(text), "arbor: %zu older lines "
				   "not sent (more than %d MiB)", i,
				   ARB_LOG_BACKLOG_MAX >> 20);

		send_arbor_line(c, v[i - 1].node, v[i - 1].line.seq,
				v[i - 1].line.time_us, text, (size_t)len);
	}
	do {
		json_t *lines = json_array(), *p;

		for (size_t k = 0; k < LINES_PER_REPLY && i < n; k++, i++)
			json_array_append_new(lines, line_json(c->ctl, v[i].node,
							       &v[i].line));
		p = json_pack("{s:o}", "lines", lines);
		conn_reply(c, p, follow || i < n);
		json_decref(p);
	} while (i < n);
}

static int
lines_param(struct conn *c, json_t *params, uint32_t *ret)
{
	json_t *v = json_object_get(params, "lines");

	if (!v) {
		*ret = DEFAULT_LINES;
		return 0;
	}
	if (!json_is_integer(v)) {
		conn_error_str(c, ARB_ERR_INVALID_PARAMETER, "parameter",
			       "lines");
		return -1;
	}
	*ret = json_integer_value(v) < 0 ? UINT32_MAX :
	       json_integer_value(v) > UINT32_MAX ? UINT32_MAX :
	       (uint32_t)json_integer_value(v);
	return 0;
}

void
method_logs(struct conn *c, json_t *params, bool more)
{
	struct arb_control *ctl = c->ctl;
	json_t *fv = json_object_get(params, "follow");
	struct entry *v = NULL;
	const char *path;
	uint32_t top, last;
	size_t n = 0;
	bool follow;

	if (!more) {
		conn_error(c, ARB_ERR_EXPECTED_MORE, NULL);
		return;
	}
	if (fv && !json_is_boolean(fv)) {
		conn_error_str(c, ARB_ERR_INVALID_PARAMETER, "parameter",
			       "follow");
		return;
	}
	follow = json_is_true(fv) && !ctl->down;
	top = methods_path_param(c, params, true, &path);
	if (top == ARB_NONE || lines_param(c, params, &last) < 0)
		return;
	if (ctl->logs && gather(ctl, top, last, &v, &n) < 0) {
		c->closing = true;
		return;
	}
	send_backlog(c, v, n, follow);
	free(v);
	if (follow)
		follow_begin(c, top);
}

void
arb_control_log_line(void *ctx, uint32_t node, const struct arb_log_line *l)
{
	struct arb_control *ctl = ctx;
	char *buf = NULL;
	size_t len = 0;

	if (!ctl || ctl->nfollowers == 0)
		return;
	for (struct conn *x = ctl->conns; x; x = x->next) {
		struct follower *f = follower_of(x);

		if (!f || x->closing || !in_subtree(ctl->spec, node, f->top))
			continue;
		if (!buf) {
			json_t *p = json_pack("{s:[o]}", "lines",
					      line_json(ctl, node, l));

			if (!p || arb_wire_encode_reply(p, true, &buf,
							&len) < 0) {
				json_decref(p);
				return;
			}
			json_decref(p);
		}
		if (arb_wire_outq_queued(&x->out) + len > ARB_LOG_FOLLOW_QUEUE) {
			f->dropped++;
			f->dropped_seq = l->seq;
			f->dropped_node = node;
			continue;
		}
		if (f->dropped > 0)
			send_dropped(x, f);
		if (arb_wire_outq_push_copy(&x->out, buf, len) < 0) {
			x->closing = true;
			continue;
		}
		ev_io_start(ctl->loop, &x->wio);
	}
	free(buf);
}

/* ---- ReopenLogs -------------------------------------------------------- */

void
method_reopen_logs(struct conn *c)
{
	const char *failed = NULL;
	int r;

	if (!methods_allowed(c))
		return;
	r = c->ctl->logs ? arb_logs_reopen(c->ctl->logs, &failed) : 0;
	if (r < 0) {
		json_t *p = json_pack("{s:s,s:s}", "file", failed, "error",
				      strerror(-r));

		conn_error(c, ARB_ERR_REOPEN_FAILED, p);
		json_decref(p);
		return;
	}
	conn_reply(c, NULL, false);
}
