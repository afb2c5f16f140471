/*
 * capture.c - capture of services' output, and the dispatch of each line to
 * its sinks (capture.h).
 */
#include "capture.h"
#include "capture_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fdutil.h"
#include "core/limits.h"
#include "sink.h"

/* Reads of one pipe when its process died: a bound, as the group may
 * still hold it open and write. */
#define EXIT_READS_MAX 16

/* At most this many pipes' events per wake-up. */
#define EPOLL_BATCH 64

/* What the lines of one read share, formatted once. */
struct batch {
	const char *path; /* the node's, "/" for arbord's own lines */
	const char *name; /* in prefixes and SYSLOG_IDENTIFIER: "arbord" */
	int64_t time_us;
	int pid;
	enum arb_log_stream stream;
	char file_prefix[ARB_LOG_PATH_FIELD + 96];
	size_t file_prefix_len;
	char console_prefix[ARB_LOG_PATH_FIELD];
	size_t console_prefix_len;
};

static void
batch_init(struct arb_logs *l, struct batch *b, uint32_t node,
	   enum arb_log_stream stream)
{
	struct capture *cap = &l->caps[node];
	bool root = node == ARB_ROOT;

	b->path = l->spec->nodes[node].path;
	b->name = root ? "arbord" : b->path;
	b->time_us = arb_wall_us();
	b->pid = root ? l->self_pid : cap->pid;
	b->stream = stream;
	b->file_prefix_len = 0;
	if (cap->file)
		b->file_prefix_len = arb_logfile_prefix(
			b->file_prefix, sizeof(b->file_prefix), b->time_us,
			b->name, b->pid, stream, 0);
	/* arbord's events carry their path already. */
	b->console_prefix_len = 0;
	if (!root && (cap->sinks & ARB_SINK_CONSOLE))
		b->console_prefix_len = (size_t)snprintf(
			b->console_prefix, sizeof(b->console_prefix), "%s: ",
			b->name);
}

/*
 * The marker of lines dropped goes first, with the seq and time of the
 * line it comes before: it is no line of the ring's.
 */
static void
send_journal(struct arb_logs *l, struct capture *cap, const struct batch *b,
	     const struct arb_log_line *line)
{
	if (cap->journal_dropped > 0) {
		char text[64];
		struct arb_log_line marker = *line;

		marker.stream = ARB_STREAM_ARBOR;
		marker.flags = 0;
		marker.len = (uint16_t)arb_log_dropped_text(
			text, sizeof(text), cap->journal_dropped);
		marker.text = text;
		if (arb_journal_send(&l->journal, b->name, b->path,
				     &marker) < 0) {
			cap->journal_dropped++;
			return;
		}
		cap->journal_dropped = 0;
	}
	if (arb_journal_send(&l->journal, b->name, b->path, line) == 0)
		return;
	cap->journal_dropped++;
	if (!l->journal.warned && l->journal.fd < 0) {
		l->journal.warned = true;
		fprintf(stderr, "arbord: warning: no journal at %s: the lines "
			"of services that log to it are dropped\n",
			l->journal.socket_path);
	}
}

/* Into node's ring, made at its first line: a quiet service has none. */
void
arb_logs_put_ring(struct arb_logs *l, uint32_t node,
		  const struct arb_log_line *line)
{
	struct capture *cap = &l->caps[node];

	if (!cap->ring) {
		cap->ring = malloc(sizeof(*cap->ring));
		if (!cap->ring)
			return;
		arb_logring_init(cap->ring, l->spec->nodes[node].log.ring_size);
		/* arbord's events fill a ring of any size: all of it at once. */
		if (node == ARB_ROOT)
			(void)arb_logring_reserve(cap->ring);
	}
	(void)arb_logring_put(cap->ring, line);
}

/* One line to every sink of its node. */
static void
emit(struct arb_logs *l, uint32_t node, const struct batch *b,
     const char *text, size_t len, unsigned flags)
{
	struct capture *cap = &l->caps[node];
	struct arb_log_line line = {
		.seq = l->seq++, .time_us = b->time_us, .pid = b->pid,
		.stream = (uint8_t)b->stream, .flags = (uint8_t)flags,
		.len = (uint16_t)len, .text = text,
	};

	if (cap->sinks & ARB_SINK_RING)
		arb_logs_put_ring(l, node, &line);
	if (cap->file) {
		char prefix[sizeof(b->file_prefix)];

		if (flags == 0) {
			arb_logfile_put(cap->file, b->file_prefix,
					b->file_prefix_len, text, len);
		} else {
			size_t plen = arb_logfile_prefix(
				prefix, sizeof(prefix), b->time_us, b->name,
				b->pid, b->stream, flags);

			arb_logfile_put(cap->file, prefix, plen, text, len);
		}
	}
	if (cap->sinks & ARB_SINK_JOURNAL)
		send_journal(l, cap, b, &line);
	if (cap->sinks & ARB_SINK_CONSOLE)
		arb_console_put(b->stream == ARB_STREAM_STDERR ||
					b->stream == ARB_STREAM_ARBOR
				? &l->err : &l->out,
				b->console_prefix, b->console_prefix_len,
				text, len);
	if (l->follow)
		l->follow(l->follow_ctx, node, &line);
}

/*
 * Cuts data into lines and emits them; what follows the last newline is
 * kept as the stream's partial line, unless it is a whole piece of a long
 * line already.
 */
static void
split(struct arb_logs *l, uint32_t node, int s, const struct batch *b,
      const char *data, size_t n)
{
	struct capture *cap = &l->caps[node];
	const char *p = data, *end = data + n;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);

		while (len > ARB_LOG_LINE_MAX) {
			emit(l, node, b, p, ARB_LOG_LINE_MAX, ARB_LINE_CUT);
			p += ARB_LOG_LINE_MAX;
			len -= ARB_LOG_LINE_MAX;
		}
		if (!nl)
			break;
		emit(l, node, b, p, len, 0);
		p = nl + 1;
	}
	cap->partial_len[s] = 0;
	if (p < end) {
		if (!cap->partial)
			cap->partial = malloc(2 * ARB_LOG_LINE_MAX);
		if (!cap->partial) {
			emit(l, node, b, p, (size_t)(end - p), 0);
			return;
		}
		memcpy(cap->partial + s * ARB_LOG_LINE_MAX, p,
		       (size_t)(end - p));
		cap->partial_len[s] = (uint16_t)(end - p);
	}
}

/*
 * The stream of what pipe s carries: its own, unless the service's stdout
 * and stderr share pipe 0 (merged), whose lines may be either.
 */
static enum arb_log_stream
stream_of(const struct capture *cap, int s)
{
	if (cap->fd[0] >= 0 && cap->fd[1] < 0)
		return ARB_STREAM_OUTPUT;
	return (enum arb_log_stream)s;
}

/* Ends a partial line of stream s as a line of its own. */
static void
flush_partial(struct arb_logs *l, uint32_t node, int s)
{
	struct capture *cap = &l->caps[node];
	struct batch b;

	if (cap->partial_len[s] == 0)
		return;
	batch_init(l, &b, node, stream_of(cap, s));
	emit(l, node, &b, cap->partial + s * ARB_LOG_LINE_MAX,
	     cap->partial_len[s], 0);
	cap->partial_len[s] = 0;
}

/*
 * One read of node's stream s: true when it got bytes (and may have more).
 * The partial line goes first into the scratch buffer so that a line
 * split between two reads is emitted whole.
 */
static bool
read_once(struct arb_logs *l, uint32_t node, int s)
{
	struct capture *cap = &l->caps[node];
	size_t keep = cap->partial_len[s];
	struct batch b;
	ssize_t n;

	if (keep)
		memcpy(l->scratch, cap->partial + s * ARB_LOG_LINE_MAX, keep);
	do {
		n = read(cap->fd[s], l->scratch + keep, ARB_LOG_READ_MAX);
	} while (n < 0 && errno == EINTR);
	if (n <= 0) {
		/* EAGAIN: all read. EOF cannot come while arbord holds the
		 * write end; stop watching rather than spin if it does. */
		if (n == 0 && (cap->watching & (1u << s))) {
			(void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, cap->fd[s],
					NULL);
			cap->watching &= (uint8_t)~(1u << s);
		}
		return false;
	}
	batch_init(l, &b, node, stream_of(cap, s));
	split(l, node, s, &b, l->scratch, keep + (size_t)n);
	/* A full pipe: its writer waits on arbord; give it more room (the
	 * kernel may refuse past the user's pipe quota: then it stays). */
	if ((size_t)n >= 64 * 1024 && !(cap->grown & (1u << s))) {
		(void)fcntl(cap->fd[s], F_SETPIPE_SZ, ARB_LOG_PIPE_BUSY);
		cap->grown |= 1u << s;
	}
	return true;
}

/* Some pipes have bytes: one bounded read of each. */
static void
on_pipes(struct ev_loop *loop, ev_io *w, int revents)
{
	struct arb_logs *l = w->data;
	struct epoll_event evs[EPOLL_BATCH];
	int n = epoll_wait(l->epfd, evs, EPOLL_BATCH, 0);

	for (int i = 0; i < n; i++) {
		uint32_t node = (uint32_t)(evs[i].data.u64 >> 1);
		int s = (int)(evs[i].data.u64 & 1);

		(void)read_once(l, node, s);
		if (l->caps[node].file)
			(void)arb_logfile_flush(l->caps[node].file);
	}
}

/* The file sink of path, shared with the nodes that named it before. */
static struct arb_logfile *
file_for(struct arb_logs *l, const struct arb_spec_node *n)
{
	struct arb_logfile *f;

	for (f = l->files; f; f = f->next)
		if (strcmp(f->path, n->log.file) == 0)
			return f;
	f = arb_logfile_new(n->log.file, n->log.max_size, n->log.keep);
	if (!f)
		return NULL;
	if (f->err)
		fprintf(stderr, "arbord: child '%s': cannot open log file %s: "
			"%s; its lines are dropped until `arborctl logs "
			"--reopen` succeeds\n", n->path, n->log.file,
			strerror(f->err));
	f->next = l->files;
	l->files = f;
	return f;
}

/* Sinks and file of node as its spec says now; 0 or -ENOMEM. */
static int
setup_sinks(struct arb_logs *l, uint32_t node)
{
	const struct arb_spec_node *n = &l->spec->nodes[node];
	struct capture *cap = &l->caps[node];

	cap->file = NULL;
	cap->sinks = n->log.sinks;
	if (!(n->log.given & ARB_LOG_SINKS))
		cap->sinks |= l->default_sinks;
	/* arbord's events always reach its stderr. */
	if (node == ARB_ROOT)
		cap->sinks |= ARB_SINK_CONSOLE;
	/* Supervisors other than the root write nothing. */
	if (n->kind == ARB_NODE_SUPERVISOR && node != ARB_ROOT)
		return 0;
	if ((cap->sinks & ARB_SINK_FILE) && n->log.file) {
		cap->file = file_for(l, n);
		if (!cap->file)
			return -ENOMEM;
		/* The latest settings of a shared file win. */
		cap->file->max_size = n->log.max_size;
		cap->file->keep = n->log.keep;
	}
	return 0;
}

static void
cap_init(struct capture *cap)
{
	memset(cap, 0, sizeof(*cap));
	for (int s = 0; s < 2; s++) {
		cap->fd[s] = -1;
		cap->write_fd[s] = -1;
	}
}

int
arb_logs_grow(struct arb_logs *l)
{
	uint32_t n = l->spec->nnodes;
	struct capture *caps;

	if (n <= l->ncaps)
		return 0;
	/* Room as the spec has (it doubles), but only the nodes' slots are
	 * touched: the rest may never be. */
	if (l->spec->cap > l->room) {
		caps = realloc(l->caps, l->spec->cap * sizeof(*caps));
		if (!caps)
			return -ENOMEM;
		l->caps = caps;
		l->room = l->spec->cap;
	}
	for (uint32_t i = l->ncaps; i < n; i++)
		cap_init(&l->caps[i]);
	l->ncaps = n;
	return 0;
}

int
arb_logs_new(struct arb_logs **ret, struct ev_loop *loop,
	     const struct arb_spec *spec, unsigned default_sinks)
{
	struct arb_logs *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->loop = loop;
	l->spec = spec;
	l->epfd = -1;
	l->default_sinks = default_sinks;
	l->self_pid = (int)getpid();
	l->scratch = malloc(ARB_LOG_LINE_MAX + ARB_LOG_READ_MAX);
	/* All closed before anything can fail: arb_logs_free closes fds. */
	if (arb_logs_grow(l) < 0 || !l->scratch)
		goto oom;
	arb_console_init(&l->out, loop, STDOUT_FILENO);
	arb_console_init(&l->err, loop, STDERR_FILENO);
	arb_journal_init(&l->journal);
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		goto oom;
	ev_io_init(&l->epoll_watch, on_pipes, l->epfd, EV_READ);
	l->epoll_watch.data = l;
	ev_io_start(loop, &l->epoll_watch);
	for (uint32_t i = 0; i < spec->nnodes; i++)
		if (arb_spec_is_node(spec, i) && setup_sinks(l, i) < 0)
			goto oom;
	*ret = l;
	return 0;
oom:
	arb_logs_free(l);
	return -ENOMEM;
}

static void cap_release(struct arb_logs *l, uint32_t node);

void
arb_logs_shrink(struct arb_logs *l)
{
	uint32_t n = l->spec->nnodes;
	struct capture *caps;

	if (n < l->ncaps) {
		/* Past the end: forgotten when their nodes left (nothing
		 * open). */
		for (uint32_t i = n; i < l->ncaps; i++)
			cap_release(l, i);
		l->ncaps = n;
	}
	if (l->spec->cap >= l->room)
		return;
	caps = realloc(l->caps, l->spec->cap * sizeof(*caps));
	if (caps) {
		l->caps = caps;
		l->room = l->spec->cap;
	}
}

int
arb_logs_node_changed(struct arb_logs *l, uint32_t node)
{
	int r = arb_logs_grow(l);

	return r < 0 ? r : setup_sinks(l, node);
}

/* What its pipes still hold is read; then they are closed. */
static void
close_pipes(struct arb_logs *l, uint32_t node)
{
	struct capture *cap = &l->caps[node];

	if (cap->fd[0] >= 0)
		arb_logs_exited(l, node);
	for (int s = 0; s < 2; s++) {
		if (cap->fd[s] >= 0)
			close(cap->fd[s]); /* leaves the epoll set with it */
		if (cap->write_fd[s] >= 0)
			close(cap->write_fd[s]);
		cap->fd[s] = cap->write_fd[s] = -1;
		cap->partial_len[s] = 0;
	}
	cap->watching = 0;
	cap->grown = 0;
}

/* Its pipes, its ring and its lines go. */
static void
cap_release(struct arb_logs *l, uint32_t node)
{
	struct capture *cap = &l->caps[node];

	close_pipes(l, node);
	free(cap->partial);
	if (cap->ring)
		arb_logring_done(cap->ring);
	free(cap->ring);
}

void
arb_logs_forget(struct arb_logs *l, uint32_t node)
{
	if (node >= l->ncaps)
		return;
	cap_release(l, node);
	cap_init(&l->caps[node]);
}

void
arb_logs_free(struct arb_logs *l)
{
	if (!l)
		return;
	for (uint32_t i = 0; l->caps && i < l->ncaps; i++)
		cap_release(l, i);
	while (l->files) {
		struct arb_logfile *next = l->files->next;

		arb_logfile_free(l->files);
		l->files = next;
	}
	if (l->caps) {
		arb_console_drain(&l->out, ARB_EXIT_FLUSH_MS);
		arb_console_drain(&l->err, ARB_EXIT_FLUSH_MS);
		arb_console_done(&l->out);
		arb_console_done(&l->err);
		arb_journal_done(&l->journal);
	}
	if (l->epfd >= 0) {
		ev_io_stop(l->loop, &l->epoll_watch);
		close(l->epfd);
	}
	free(l->caps);
	free(l->scratch);
	free(l);
}

void
arb_logs_set_follower(struct arb_logs *l, arb_logs_line_fn fn, void *ctx)
{
	l->follow = fn;
	l->follow_ctx = ctx;
}

int
arb_logs_watch(struct arb_logs *l, uint32_t node, int s)
{
	struct capture *cap = &l->caps[node];
	struct epoll_event ev = {
		.events = EPOLLIN,
		.data.u64 = (uint64_t)node << 1 | (uint64_t)s,
	};

	if (cap->watching & (1u << s))
		return 0;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, cap->fd[s], &ev) < 0)
		return -errno;
	cap->watching |= (uint8_t)(1u << s);
	return 0;
}

/* The pipes node's spec asks for: one (merged streams) or two. */
static int
pipes_wanted(const struct arb_logs *l, uint32_t node)
{
	return l->spec->nodes[node].log.streams == ARB_STREAMS_MERGED ? 1 : 2;
}

static int
pipes_held(const struct capture *cap)
{
	return (cap->fd[0] >= 0) + (cap->fd[1] >= 0);
}

/* Makes node's npipes pipes, write ends included. 0 or -errno (none). */
static int
make_pipes(struct capture *cap, int npipes)
{
	int rfd[2] = {-1, -1}, wfd[2] = {-1, -1}, r = 0;

	for (int s = 0; s < npipes && r == 0; s++)
		r = arb_reader_pipe(&rfd[s], &wfd[s]);
	if (r < 0) {
		for (int s = 0; s < 2; s++)
			if (rfd[s] >= 0) {
				close(rfd[s]);
				close(wfd[s]);
			}
		return r;
	}
	for (int s = 0; s < 2; s++) {
		cap->fd[s] = rfd[s];
		cap->write_fd[s] = wfd[s];
	}
	return 0;
}

int
arb_logs_pipes(struct arb_logs *l, uint32_t node, int *ret_stdout,
	       int *ret_stderr)
{
	struct capture *cap = &l->caps[node];
	int wanted = pipes_wanted(l, node), r;

	/* A reload changed `streams`: the restart takes the new pipes. */
	if (pipes_held(cap) != 0 && pipes_held(cap) != wanted)
		close_pipes(l, node);
	if (cap->fd[0] < 0 && (r = make_pipes(cap, wanted)) < 0)
		return r;
	for (int s = 0; s < wanted; s++) {
		if (cap->write_fd[s] < 0) {
			int w = arb_reopen(cap->fd[s], O_WRONLY);

			if (w < 0) {
				if (s == 1) {
					close(cap->write_fd[0]);
					cap->write_fd[0] = -1;
				}
				return w;
			}
			cap->write_fd[s] = w;
		}
		/* New, or left at an end of file: every writer was gone. */
		r = arb_logs_watch(l, node, s);
		if (r < 0)
			return r;
	}
	*ret_stdout = cap->write_fd[0];
	*ret_stderr = cap->write_fd[wanted - 1];
	return 0;
}

void
arb_logs_pipes_given(struct arb_logs *l, uint32_t node)
{
	struct capture *cap = &l->caps[node];

	if (l->keep_write_ends)
		return;
	for (int s = 0; s < 2; s++) {
		if (cap->write_fd[s] < 0)
			continue;
		/* Without /proc (a chroot), the write ends stay with arbord. */
		if (s == 0) {
			int probe = arb_reopen(cap->fd[0], O_WRONLY);

			if (probe < 0) {
				l->keep_write_ends = true;
				return;
			}
			close(probe);
		}
		close(cap->write_fd[s]);
		cap->write_fd[s] = -1;
	}
}

void
arb_logs_started(struct arb_logs *l, uint32_t node, int pid)
{
	l->caps[node].pid = pid;
}

void
arb_logs_exited(struct arb_logs *l, uint32_t node)
{
	struct capture *cap = &l->caps[node];

	if (cap->fd[0] < 0)
		return;
	for (int s = 0; s < 2; s++) {
		if (cap->fd[s] < 0)
			continue; /* merged: one pipe */
		for (int i = 0; i < EXIT_READS_MAX && read_once(l, node, s);
		     i++)
			;
		flush_partial(l, node, s);
	}
	if (cap->file)
		(void)arb_logfile_flush(cap->file);
}

void
arb_logs_event(struct arb_logs *l, const char *text, size_t len)
{
	struct batch b;

	batch_init(l, &b, ARB_ROOT, ARB_STREAM_ARBOR);
	if (len > ARB_LOG_LINE_MAX)
		len = ARB_LOG_LINE_MAX;
	emit(l, ARB_ROOT, &b, text, len, 0);
	if (l->caps[ARB_ROOT].file)
		(void)arb_logfile_flush(l->caps[ARB_ROOT].file);
}

int
arb_logs_reopen(struct arb_logs *l, const char **ret_failed)
{
	int first = 0;

	for (struct arb_logfile *f = l->files; f; f = f->next) {
		int r = arb_logfile_reopen(f);

		if (r < 0 && first == 0) {
			first = r;
			*ret_failed = f->path;
		}
	}
	return first;
}

const struct arb_logring *
arb_logs_ring(const struct arb_logs *l, uint32_t node)
{
	return l->caps[node].ring;
}

void
arb_logs_drain_console(struct arb_logs *l, int timeout_ms)
{
	arb_console_drain(&l->out, timeout_ms);
	arb_console_drain(&l->err, timeout_ms);
}
