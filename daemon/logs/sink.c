/*
 * sink.c - the file, console and journal sinks of captured lines
 * (sink.h).
 */
#include "sink.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "logtext.h"
#include "fdutil.h"
#include "core/limits.h"

#define FILE_BUF_SIZE (256 * 1024)
/* PIPE_BUF on Linux: a write this small to a pipe that polls writable
 * cannot block (daemon/limits.h hides <limits.h>). */
#define CONSOLE_CHUNK 4096
#define JOURNAL_SOCKET "/run/systemd/journal/socket"

static const char *const stream_names[] = {
	[ARB_STREAM_STDOUT] = "stdout",
	[ARB_STREAM_STDERR] = "stderr",
	[ARB_STREAM_ARBOR] = "arbor",
	[ARB_STREAM_OUTPUT] = "output",
};

size_t
arb_log_dropped_text(char *buf, size_t size, uint64_t n)
{
	int len = snprintf(buf, size, ARB_LOG_DROPPED_PREFIX "%" PRIu64
			   " lines dropped", n);

	return len < 0 ? 0 : (size_t)len < size ? (size_t)len : size - 1;
}

const char *
arb_log_stream_name(enum arb_log_stream s)
{
	return s < _ARB_STREAM_MAX ? stream_names[s] : "?";
}

/* write(2) of everything, through EINTR; 0 or -errno. */
static int
write_all(int fd, const char *p, size_t len, size_t *ret_written)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, p + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*ret_written = done;
			return n < 0 ? -errno : -EIO;
		}
		done += (size_t)n;
	}
	*ret_written = done;
	return 0;
}

/* ---- a file, rotated by size ------------------------------------------- */

size_t
arb_logfile_prefix(char *buf, size_t size, int64_t time_us, const char *path,
		   int pid, enum arb_log_stream stream, unsigned flags)
{
	size_t t = arb_log_format_time(buf, size, time_us);
	int n;

	n = snprintf(buf + t, size - t, " %s[%d] %s%s: ", path, pid,
		     arb_log_stream_name(stream),
		     flags & ARB_LINE_CUT ? "(cut)" : "");
	if (n < 0)
		return t;
	return t + (size_t)n < size ? t + (size_t)n : size - 1;
}

static int
open_file(struct arb_logfile *f)
{
	struct stat st;

	f->fd = open(f->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC |
		     O_NOCTTY, 0640);
	if (f->fd < 0)
		return -errno;
	f->size = fstat(f->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	return 0;
}

struct arb_logfile *
arb_logfile_new(const char *path, uint64_t max_size, uint32_t keep)
{
	struct arb_logfile *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->path = strdup(path);
	f->buf = malloc(FILE_BUF_SIZE);
	if (!f->path || !f->buf) {
		arb_logfile_free(f);
		return NULL;
	}
	f->max_size = max_size;
	f->keep = keep;
	f->err = -open_file(f);
	return f;
}

void
arb_logfile_free(struct arb_logfile *f)
{
	if (!f)
		return;
	(void)arb_logfile_flush(f);
	if (f->fd >= 0)
		close(f->fd);
	free(f->path);
	free(f->buf);
	free(f);
}

/*
 * path -> path.1 -> ... -> path.keep (the oldest goes), then a new path.
 * Renames within one directory are atomic, so a reader sees every line in
 * exactly one of the files.
 */
static int
rotate(struct arb_logfile *f)
{
	size_t len = strlen(f->path);
	char *from = malloc(len + 16), *to = malloc(len + 16);
	int r = 0;

	if (!from || !to) {
		r = -ENOMEM;
		goto out;
	}
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	if (f->keep == 0) {
		(void)unlink(f->path);
	} else {
		(void)snprintf(to, len + 16, "%s.%" PRIu32, f->path, f->keep);
		(void)unlink(to);
		for (uint32_t i = f->keep - 1; i >= 1; i--) {
			(void)snprintf(from, len + 16, "%s.%" PRIu32, f->path,
				       i);
			(void)snprintf(to, len + 16, "%s.%" PRIu32, f->path,
				       i + 1);
			(void)rename(from, to);
		}
		(void)snprintf(to, len + 16, "%s.1", f->path);
		if (rename(f->path, to) < 0)
			(void)unlink(f->path); /* never append past max_size */
	}
	r = open_file(f);
out:
	free(from);
	free(to);
	return r;
}

/* Puts the marker of lines dropped before the buffered lines. */
static void
put_dropped_marker(struct arb_logfile *f)
{
	char line[256], text[64];
	size_t plen, tlen, done;
	/* The prefix's stream tag says "arbor: " already. */
	const size_t skip = sizeof(ARB_LOG_DROPPED_PREFIX) - 1;

	plen = arb_logfile_prefix(line, sizeof(line), arb_wall_us(), "arbord",
				  (int)getpid(), ARB_STREAM_ARBOR, 0);
	tlen = arb_log_dropped_text(text, sizeof(text), f->dropped) - skip;
	if (plen + tlen + 1 >= sizeof(line))
		return;
	memcpy(line + plen, text + skip, tlen);
	line[plen + tlen++] = '\n';
	if (write_all(f->fd, line, plen + tlen, &done) == 0) {
		f->size += done;
		f->dropped = 0;
	}
}

int
arb_logfile_flush(struct arb_logfile *f)
{
	size_t done = 0;
	int r = 0;

	if (f->len == 0)
		return 0;
	if (f->fd >= 0 && f->dropped > 0)
		put_dropped_marker(f);
	if (f->fd < 0)
		r = -(f->err ? f->err : EBADF);
	else
		r = write_all(f->fd, f->buf, f->len, &done);
	f->size += done;
	if (r < 0) {
		/* What was not written is lost; say how much, later. */
		f->dropped += f->buf_lines;
		f->err = -r;
	}
	f->len = 0;
	f->buf_lines = 0;
	return r;
}

void
arb_logfile_put(struct arb_logfile *f, const char *prefix, size_t prefix_len,
		const char *text, size_t len)
{
	size_t need = prefix_len + len + 1;

	if (f->max_size && f->fd >= 0 &&
	    f->size + f->len + need > f->max_size && f->size + f->len > 0) {
		(void)arb_logfile_flush(f);
		if (rotate(f) < 0)
			f->err = errno ? errno : EIO;
	}
	if (f->len + need > FILE_BUF_SIZE)
		(void)arb_logfile_flush(f);
	if (need > FILE_BUF_SIZE) { /* cannot happen at ARB_LOG_LINE_MAX */
		f->dropped++;
		return;
	}
	memcpy(f->buf + f->len, prefix, prefix_len);
	memcpy(f->buf + f->len + prefix_len, text, len);
	f->buf[f->len + need - 1] = '\n';
	f->len += need;
	f->buf_lines++;
}

int
arb_logfile_reopen(struct arb_logfile *f)
{
	int r;

	(void)arb_logfile_flush(f);
	if (f->fd >= 0)
		close(f->fd);
	r = open_file(f);
	f->err = -r;
	return r;
}

/* ---- the console -------------------------------------------------------- */

static void write_console(struct arb_console *c);

static void
on_console_writable(struct ev_loop *loop, ev_io *w, int revents)
{
	write_console(w->data);
}

void
arb_console_init(struct arb_console *c, struct ev_loop *loop, int fd)
{
	struct stat st;

	memset(c, 0, sizeof(*c));
	c->loop = loop;
	c->fd = fd;
	c->regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	if (!c->regular) {
		/*
		 * A description of our own that never blocks: a terminal
		 * stopped with ^S (or a serial console) polls writable and
		 * would still hold a write for as long as it stays stopped.
		 * fd's own flags are shared with whoever gave it to us. Not
		 * possible for a socket: poll and small writes guard that.
		 */
		int own = arb_reopen(fd, O_WRONLY | O_NONBLOCK | O_NOCTTY);

		if (own >= 0) {
			c->fd = own;
			c->owned = true;
		}
	}
	ev_io_init(&c->w, on_console_writable, c->fd, EV_WRITE);
	c->w.data = c;
}

void
arb_console_done(struct arb_console *c)
{
	ev_io_stop(c->loop, &c->w);
	if (c->owned)
		close(c->fd);
	c->owned = false;
	free(c->buf);
	c->buf = NULL;
	c->len = c->off = 0;
}

/*
 * Writes what the console takes without waiting. A pipe or a socket that
 * polls writable takes CONSOLE_CHUNK bytes at once; more could block.
 */
static void
write_console(struct arb_console *c)
{
	while (c->len > 0) {
		struct pollfd p = {.fd = c->fd, .events = POLLOUT};
		size_t chunk = c->len;
		ssize_t n;

		if (!c->regular) {
			if (poll(&p, 1, 0) <= 0 || !(p.revents & POLLOUT)) {
				if (!(p.revents & (POLLERR | POLLHUP | POLLNVAL)))
					goto wait;
				goto lost;
			}
			if (chunk > CONSOLE_CHUNK) {
				/* Whole lines: stdout and stderr may share
				 * one pipe, and the other queue's bytes must
				 * not land inside a line. */
				const char *nl = memrchr(c->buf + c->off, '\n',
							 CONSOLE_CHUNK);

				chunk = nl ? (size_t)(nl - (c->buf + c->off)) + 1
					   : CONSOLE_CHUNK;
			}
		}
		n = write(c->fd, c->buf + c->off, chunk);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			goto wait;
		if (n <= 0)
			goto lost;
		c->off += (size_t)n;
		c->len -= (size_t)n;
	}
	c->off = 0;
	ev_io_stop(c->loop, &c->w);
	return;
wait:
	ev_io_start(c->loop, &c->w);
	return;
lost:
	/* Nobody reads it any more (EPIPE, a hangup): nothing to wait for. */
	c->dropped++;
	c->len = c->off = 0;
	ev_io_stop(c->loop, &c->w);
}

/* Appends bytes to the queue; false when they do not fit. */
static bool
queue(struct arb_console *c, const char *p, size_t len)
{
	if (c->len + len > ARB_LOG_CONSOLE_QUEUE)
		return false;
	if (c->off + c->len + len > ARB_LOG_CONSOLE_QUEUE) {
		memmove(c->buf, c->buf + c->off, c->len);
		c->off = 0;
	}
	memcpy(c->buf + c->off + c->len, p, len);
	c->len += len;
	return true;
}

/*
 * Queues the line that says how many lines were dropped, if any were,
 * with room left for `also` bytes after it: false when it does not fit.
 */
static bool
queue_dropped(struct arb_console *c, size_t also)
{
	char marker[64];
	size_t n;

	if (c->dropped == 0)
		return true;
	n = arb_log_dropped_text(marker, sizeof(marker) - 1, c->dropped);
	marker[n++] = '\n';
	if (c->len + n + also > ARB_LOG_CONSOLE_QUEUE)
		return false;
	(void)queue(c, marker, n);
	c->dropped = 0;
	return true;
}

void
arb_console_put(struct arb_console *c, const char *prefix, size_t prefix_len,
		const char *text, size_t len)
{
	size_t need = prefix_len + len + 1;

	if (!c->buf) {
		c->buf = malloc(ARB_LOG_CONSOLE_QUEUE);
		if (!c->buf) {
			c->dropped++;
			return;
		}
	}
	/* The marker and the line, or neither. */
	if (c->len + need > ARB_LOG_CONSOLE_QUEUE || !queue_dropped(c, need)) {
		c->dropped++;
		return;
	}
	(void)queue(c, prefix, prefix_len);
	(void)queue(c, text, len);
	(void)queue(c, "\n", 1);
	if (!ev_is_active(&c->w))
		write_console(c);
}

void
arb_console_drain(struct arb_console *c, int timeout_ms)
{
	struct timespec start, now;

	/* The last word on what was lost. */
	if (c->buf && c->dropped > 0 && queue_dropped(c, 0) &&
	    !ev_is_active(&c->w))
		write_console(c);
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (c->len > 0) {
		struct pollfd p = {.fd = c->fd, .events = POLLOUT};
		long left;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = timeout_ms - ((now.tv_sec - start.tv_sec) * 1000 +
				     (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return;
		write_console(c);
		if (c->len > 0 && !ev_is_active(&c->w))
			return; /* lost */
	}
}

/* ---- the journal -------------------------------------------------------- */

void
arb_journal_init(struct arb_journal *j)
{
	const char *path = getenv("ARBOR_JOURNAL_SOCKET");

	j->fd = -1;
	j->socket_path = path && *path ? path : JOURNAL_SOCKET;
	j->warned = false;
}

void
arb_journal_done(struct arb_journal *j)
{
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
}

static int
journal_connect(struct arb_journal *j)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(j->socket_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, j->socket_path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	j->fd = fd;
	return 0;
}

int
arb_journal_send(struct arb_journal *j, const char *identifier,
		 const char *path, const struct arb_log_line *line)
{
	static const char *const priority[] = {
		[ARB_STREAM_STDOUT] = "PRIORITY=6\n",
		[ARB_STREAM_STDERR] = "PRIORITY=3\n",
		[ARB_STREAM_ARBOR] = "PRIORITY=5\n",
		/* Merged streams: no PRIORITY rather than a guess; the
		 * stream is ARBOR_STREAM=output. */
		[ARB_STREAM_OUTPUT] = "",
	};
	enum arb_log_stream stream = (enum arb_log_stream)line->stream;
	char head[192], ident[ARB_LOG_PATH_FIELD], arbor_path[ARB_LOG_PATH_FIELD];
	uint64_t le = htole64((uint64_t)line->len);
	struct iovec iov[8];
	struct msghdr mh = {.msg_iov = iov};
	int n = 0;

	if (j->fd < 0) {
		int r = journal_connect(j);

		if (r < 0)
			return r;
	}
	/* MESSAGE in the binary form: any byte, newlines included. */
	iov[n++] = (struct iovec){"MESSAGE\n", 8};
	iov[n++] = (struct iovec){&le, sizeof(le)};
	iov[n++] = (struct iovec){(void *)line->text, line->len};
	iov[n++] = (struct iovec){(void *)"\n", 1};
	if (priority[stream][0])
		iov[n++] = (struct iovec){(void *)priority[stream],
					  strlen(priority[stream])};
	iov[n].iov_base = head;
	iov[n++].iov_len = (size_t)snprintf(head, sizeof(head),
					    "SYSLOG_PID=%d\nARBOR_STREAM=%s\n"
					    "ARBOR_SEQ=%" PRIu64 "\n"
					    "ARBOR_TIME_USEC=%" PRId64 "\n",
					    (int)line->pid,
					    arb_log_stream_name(stream),
					    line->seq, line->time_us);
	iov[n].iov_base = ident;
	iov[n++].iov_len = (size_t)snprintf(ident, sizeof(ident),
					    "SYSLOG_IDENTIFIER=%s\n",
					    identifier);
	iov[n].iov_base = arbor_path;
	iov[n++].iov_len = (size_t)snprintf(arbor_path, sizeof(arbor_path),
					    "ARBOR_PATH=%s\n", path);
	mh.msg_iovlen = (size_t)n;
	if (sendmsg(j->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		int err = errno;

		if (err != EAGAIN && err != EINTR) {
			/* journald went away: connect again next time. */
			close(j->fd);
			j->fd = -1;
		}
		return -err;
	}
	return 0;
}
