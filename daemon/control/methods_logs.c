/*
 * methods_logs.c - Logs and ReopenLogs: the lines the rings hold, merged
 * in the order they were read, and those that follow as they come.
 *
 * A follower that reads slower than its services write is not waited
 * for: past ARB_LOG_FOLLOW_QUEUE of unsent output its lines are dropped
 * and counted, and a line "arbor: N lines dropped" tells it so once it
 * catches up. The services and the other readers never notice, and a
 * line costs the same however many follow it (see "the fan-out").
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logtext.h"
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

static json_t *
line_json(const struct arb_control *ctl, uint32_t node,
	  const struct arb_log_line *l)
{
	json_t *o = json_object();
	bool exact;

	if (!o)
		return NULL;
	json_object_set_new_nocheck(o, "seq", json_integer((json_int_t)l->seq));
	json_object_set_new_nocheck(o, "time",
				    arb_logtext_time_json(l->time_us));
	json_object_set_new_nocheck(o, "path",
				    json_string(ctl->spec->nodes[node].path));
	json_object_set_new_nocheck(o, "pid", json_integer(l->pid));
	json_object_set_new_nocheck(
		o, "stream",
		json_string(arb_log_stream_name((enum arb_log_stream)l->stream)));
	json_object_set_new_nocheck(o, "line",
				    arb_logtext_json(l->text, l->len, &exact));
	if (!exact)
		json_object_set_new_nocheck(
			o, "raw", arb_logtext_raw_json(l->text, l->len));
	if (l->flags & ARB_LINE_CUT)
		json_object_set_new_nocheck(o, "cut", json_true());
	return o;
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

static bool
in_subtree(const struct arb_spec *spec, uint32_t node, uint32_t top)
{
	for (; node != ARB_NONE; node = spec->nodes[node].parent)
		if (node == top)
			return true;
	return false;
}

/* ---- following: the fan-out ----------------------------------------- */

/*
 * A line reaches its followers in batches. It is copied, as it came, to
 * the batch of each feed (the followers of one subtree) it belongs to;
 * when the loop is about to wait, or a batch holds FEED_BATCH_BYTES, the
 * batch is made JSON and encoded once, as one reply, and that one buffer
 * is queued on every follower of the feed with room for it
 * (arb_wire_shared). So a line costs the same for one follower as for a
 * hundred, and a follower costs a pointer per batch. A follower too far
 * behind misses whole batches, counted, and the marker tells it how many
 * lines; a batch no follower has room for is never made JSON at all.
 */
#define FEED_BATCH_BYTES (64 * 1024)

/* A line in a batch: the line but its text, which is in the batch's. */
struct batched {
	struct arb_log_line line; /* text: NULL, at text_off in the batch */
	uint32_t node;
	size_t text_off;
};

/* The followers of one subtree, and their lines not yet sent. */
struct feed {
	struct feed *next;
	uint32_t top;
	unsigned nfollowers;
	struct batched *batch; /* the lines gathered */
	size_t batch_n, batch_cap;
	char *text;            /* their texts, one after another */
	size_t text_len, text_cap;
	size_t batch_bytes;    /* the json_bound of the lines */
	size_t lines;          /* batch_n, and any that could not be kept */
	uint64_t last_seq;     /* the newest line's */
	uint32_t last_node;
};

/* Every feed (ctl->logs_fanout), while anyone follows. */
struct logs_fanout {
	ev_prepare send;    /* started while a batch waits */
	struct feed *feeds;
	struct arb_control *ctl;
};

/* What a connection following Logs holds (its conn's stream_data). */
struct follower {
	struct feed *feed;     /* the subtree it follows */
	uint64_t dropped;      /* lines it was too slow for, to announce */
	uint64_t dropped_seq;  /* the last of them */
	uint32_t dropped_node;
};

static void follow_drained(struct conn *c);
static void follow_end(struct conn *c, const char *error, json_t *params);
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

/* Whether a follower with queued bytes unsent has room for size more. */
static bool
has_room(const struct conn *c, size_t size)
{
	return !c->closing &&
	       arb_wire_outq_queued(&c->out) + size <= ARB_LOG_FOLLOW_QUEUE;
}

/* Whether any follower of fd has room for its batch (at its bound). */
static bool
feed_wanted(const struct arb_control *ctl, const struct feed *fd)
{
	for (const struct conn *x = ctl->conns; x; x = x->next) {
		const struct follower *f = follower_of(x);

		if (f && f->feed == fd && has_room(x, fd->batch_bytes))
			return true;
	}
	return false;
}

/* The feed's batch as one reply; NULL when it cannot be. */
static struct arb_wire_shared *
feed_encode(const struct arb_control *ctl, struct feed *fd)
{
	json_t *lines = json_array(), *p;
	char *buf = NULL;
	size_t len = 0;

	for (size_t i = 0; lines && i < fd->batch_n; i++) {
		struct batched *b = &fd->batch[i];

		b->line.text = b->line.len > 0 ? fd->text + b->text_off : "";
		if (json_array_append_new(lines, line_json(ctl, b->node,
							   &b->line)) < 0) {
			json_decref(lines);
			return NULL;
		}
	}
	p = json_pack("{s:o}", "lines", lines);
	if (!p || arb_wire_encode_reply(p, true, &buf, &len) < 0) {
		json_decref(p);
		return NULL;
	}
	json_decref(p);
	return arb_wire_shared_new(&buf, len);
}

/* The batch of fd (msg; NULL: lost) for its follower c. */
static void
follower_take(struct conn *c, struct follower *f, const struct feed *fd,
	      struct arb_wire_shared *msg)
{
	if (!msg || !has_room(c, arb_wire_shared_len(msg))) {
		f->dropped += fd->lines;
		f->dropped_seq = fd->last_seq;
		f->dropped_node = fd->last_node;
		return;
	}
	if (f->dropped > 0)
		send_dropped(c, f);
	if (arb_wire_outq_push_shared(&c->out, msg) < 0) {
		c->closing = true;
		return;
	}
	ev_io_start(c->ctl->loop, &c->wio);
}

/* Sends fd's batch, if any, to its followers, and empties it. */
static void
feed_send(struct arb_control *ctl, struct feed *fd)
{
	struct arb_wire_shared *msg = NULL;

	if (fd->lines == 0)
		return;
	/* A line that could not be kept loses the batch, counted. */
	if (fd->lines == fd->batch_n && feed_wanted(ctl, fd))
		msg = feed_encode(ctl, fd);
	for (struct conn *x = ctl->conns; x; x = x->next) {
		struct follower *f = follower_of(x);

		if (f && f->feed == fd && !x->closing)
			follower_take(x, f, fd, msg);
	}
	arb_wire_shared_unref(msg);
	fd->batch_n = 0;
	fd->text_len = 0;
	fd->batch_bytes = 0;
	fd->lines = 0;
}

static void
fanout_send_all(struct logs_fanout *fo)
{
	for (struct feed *fd = fo->feeds; fd; fd = fd->next)
		feed_send(fo->ctl, fd);
	ev_prepare_stop(fo->ctl->loop, &fo->send);
}

/* The loop is about to wait: what was gathered goes out now. */
static void
on_fanout_send(struct ev_loop *loop, ev_prepare *w, int revents)
{
	fanout_send_all(w->data);
}

/* Grows *p, of *cap elements of size each, to hold need; false on OOM. */
static bool
reserve(void **p, size_t *cap, size_t need, size_t size)
{
	size_t ncap = *cap ? *cap : 64;
	void *np;

	if (need <= *cap)
		return true;
	while (ncap < need)
		ncap *= 2;
	np = realloc(*p, ncap * size);
	if (!np)
		return false;
	*p = np;
	*cap = ncap;
	return true;
}

/* Copies line l of node into fd's batch, its JSON at most bound bytes. */
static void
feed_add(struct feed *fd, uint32_t node, const struct arb_log_line *l,
	 size_t bound)
{
	struct batched *b;

	fd->lines++;
	fd->last_seq = l->seq;
	fd->last_node = node;
	fd->batch_bytes += bound;
	if (!reserve((void **)&fd->batch, &fd->batch_cap, fd->batch_n + 1,
		     sizeof(*fd->batch)) ||
	    !reserve((void **)&fd->text, &fd->text_cap, fd->text_len + l->len,
		     1))
		return; /* counted, not kept: the batch is lost (feed_send) */
	b = &fd->batch[fd->batch_n++];
	b->line = *l;
	b->line.text = NULL;
	b->node = node;
	b->text_off = fd->text_len;
	if (l->len > 0)
		memcpy(fd->text + fd->text_len, l->text, l->len);
	fd->text_len += l->len;
}

void
arb_control_log_line(void *ctx, uint32_t node, const struct arb_log_line *l)
{
	struct arb_control *ctl = ctx;
	struct logs_fanout *fo = ctl ? ctl->logs_fanout : NULL;
	size_t bound = 0;

	if (!fo)
		return;
	for (struct feed *fd = fo->feeds; fd; fd = fd->next) {
		if (!in_subtree(ctl->spec, node, fd->top))
			continue;
		if (bound == 0)
			bound = json_bound(l);
		feed_add(fd, node, l, bound);
		if (fd->batch_bytes >= FEED_BATCH_BYTES)
			feed_send(ctl, fd);
		else
			ev_prepare_start(ctl->loop, &fo->send);
	}
}

/* The feed of the subtree at top, made if needed; NULL on OOM. */
static struct feed *
feed_join(struct arb_control *ctl, uint32_t top)
{
	struct logs_fanout *fo = ctl->logs_fanout;
	struct feed *fd;

	if (!fo) {
		fo = calloc(1, sizeof(*fo));
		if (!fo)
			return NULL;
		fo->ctl = ctl;
		ev_prepare_init(&fo->send, on_fanout_send);
		fo->send.data = fo;
		ctl->logs_fanout = fo;
	}
	for (fd = fo->feeds; fd; fd = fd->next)
		if (fd->top == top)
			break;
	if (fd) {
		/* What is gathered predates the join: its backlog has it. */
		feed_send(ctl, fd);
	} else {
		fd = calloc(1, sizeof(*fd));
		if (!fd) {
			if (!fo->feeds) {
				free(fo);
				ctl->logs_fanout = NULL;
			}
			return NULL;
		}
		fd->top = top;
		fd->next = fo->feeds;
		fo->feeds = fd;
	}
	fd->nfollowers++;
	return fd;
}

/*
 * The last follower of fd left. With the last feed goes the fan-out, and
 * the heap it grew: a flood's batches leave it full of free pages that
 * glibc keeps without malloc_trim.
 */
static void
feed_leave(struct arb_control *ctl, struct feed *fd)
{
	struct logs_fanout *fo = ctl->logs_fanout;

	if (--fd->nfollowers > 0)
		return;
	for (struct feed **p = &fo->feeds; *p; p = &(*p)->next)
		if (*p == fd) {
			*p = fd->next;
			break;
		}
	free(fd->batch);
	free(fd->text);
	free(fd);
	if (fo->feeds)
		return;
	ev_prepare_stop(ctl->loop, &fo->send);
	free(fo);
	ctl->logs_fanout = NULL;
	(void)malloc_trim(0);
}

/* c follows the subtree at top from now on; OOM closes c. */
static void
follow_begin(struct conn *c, uint32_t top)
{
	struct follower *f = calloc(1, sizeof(*f));

	if (f)
		f->feed = feed_join(c->ctl, top);
	if (!f || !f->feed) {
		free(f);
		c->closing = true;
		return;
	}
	c->stream = &follow_stream;
	c->stream_data = f;
}

/* Its queue is written: a follower that missed lines learns how many. */
static void
follow_drained(struct conn *c)
{
	struct follower *f = c->stream_data;

	if (f->dropped > 0)
		send_dropped(c, f);
}

/* arbord is exiting or re-executing: what was gathered, and the last
 * reply (an empty one, or error). */
static void
follow_end(struct conn *c, const char *error, json_t *params)
{
	json_t *p = json_pack("{s:[]}", "lines");

	fanout_send_all(c->ctl->logs_fanout);
	if (error)
		conn_error(c, error, params);
	else
		conn_reply(c, p, false);
	json_decref(p);
	c->closing = true;
}

static void
follow_closed(struct conn *c)
{
	struct follower *f = c->stream_data;

	c->stream = NULL;
	c->stream_data = NULL;
	feed_leave(c->ctl, f->feed);
	free(f);
}

/* ---- Logs ------------------------------------------------------------- */

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

/* Which lines a Logs call asks for. */
struct wanted {
	uint32_t top;  /* the subtree */
	uint32_t last; /* at most the newest `last` */
	bool after_set;
	uint64_t after; /* if after_set, only those with a larger seq */
};

/*
 * The newest lines of the subtree that w asks for, oldest first, in *ret
 * (texts point into the rings: use them before anything is captured).
 */
static int
gather(const struct arb_control *ctl, const struct wanted *w,
       struct entry **ret, size_t *ret_n)
{
	uint32_t top = w->top, last = w->last;
	struct entry *v = NULL;
	size_t n = 0, cap = 0;

	for (uint32_t i = 0; i < ctl->spec->nnodes; i++) {
		const struct arb_logring *ring = arb_logs_ring(ctl->logs, i);
		struct arb_logring_iter it;
		struct arb_log_line l;

		if (!ring || ring->count == 0 || !arb_spec_is_node(ctl->spec, i) ||
		    !in_subtree(ctl->spec, i, top))
			continue;
		arb_logring_iter_last(ring, last, &it);
		while (arb_logring_next(ring, &it, &l)) {
			if (w->after_set && l.seq <= w->after)
				continue;
			if (!reserve((void **)&v, &cap, n + 1, sizeof(*v))) {
				free(v);
				return -ENOMEM;
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

/*
 * "after": a seq. A follower that reconnects (arbord re-executed, seqs
 * carry over) passes the last it printed, to see no line twice.
 */
static int
after_param(struct conn *c, json_t *params, struct wanted *w)
{
	json_t *v = json_object_get(params, "after");

	w->after_set = false;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		conn_error_str(c, ARB_ERR_INVALID_PARAMETER, "parameter",
			       "after");
		return -1;
	}
	w->after_set = true;
	w->after = (uint64_t)json_integer_value(v);
	return 0;
}

void
method_logs(struct conn *c, json_t *params, bool more)
{
	struct arb_control *ctl = c->ctl;
	json_t *fv = json_object_get(params, "follow");
	struct entry *v = NULL;
	struct wanted w = {0};
	const char *path;
	size_t n = 0;
	bool follow;

	/* Output can hold secrets: not for every reader (arbord(8)). */
	if (!methods_may_read_logs(c))
		return;
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
	w.top = methods_path_param(c, params, true, &path);
	if (w.top == ARB_NONE || lines_param(c, params, &w.last) < 0 ||
	    after_param(c, params, &w) < 0)
		return;
	if (ctl->logs && gather(ctl, &w, &v, &n) < 0) {
		c->closing = true;
		return;
	}
	send_backlog(c, v, n, follow);
	free(v);
	if (follow)
		follow_begin(c, w.top);
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
