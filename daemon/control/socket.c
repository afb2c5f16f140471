/*
 * socket.c - the control socket: binding it, accepting clients, framing,
 * permissions, and writing without ever blocking on a client.
 *
 * Every socket is non-blocking. A connection is read only while it has no
 * request waiting for the core and less than ARB_CONN_OUT_MAX queued, so a
 * client that sends without reading cannot grow arbord's memory; an Events
 * subscriber that falls that far behind is dropped. A malformed frame
 * closes that one connection, and so does ARB_CONN_IDLE_MS of idleness.
 * Slots are kept for root and arbord's user, and a client refused for
 * want of one is told so. What the methods do is in methods.c and
 * methods_logs.c; a stream they begin drives its own hooks (connection.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "protocol.h"
#include "clock.h"
#include "connection.h"
#include "core/limits.h"
#include "fdlimit.h"
#include "systemd.h"

static void conn_process(struct conn *c);

/* ---- idleness ------------------------------------------------------------ */

/*
 * A connection is busy while a call of its waits for the core or while it
 * is a stream; otherwise it has ARB_CONN_IDLE_MS from its last progress (a
 * complete call received, some of its answers read) before it is closed,
 * so that idle clients cannot hold every slot. Bytes that complete no call
 * are no progress: a client dribbling an endless call is closed all the
 * same.
 */
static void
conn_idle_restart(struct conn *c)
{
	if (c->waiting || conn_streaming(c))
		ev_timer_stop(c->ctl->loop, &c->idle);
	else
		ev_timer_again(c->ctl->loop, &c->idle);
}

static void
on_conn_idle(struct ev_loop *loop, ev_timer *w, int revents)
{
	conn_close(w->data);
}

/* ---- writing ------------------------------------------------------------ */

static void
conn_flush(struct conn *c)
{
	size_t before = arb_wire_outq_queued(&c->out);
	ssize_t left = arb_wire_outq_flush(&c->out, c->fd);

	if (left < 0) {
		conn_close(c);
		return;
	}
	if ((size_t)left < before)
		conn_idle_restart(c); /* it reads: not idle */
	if (left > 0) {
		ev_io_start(c->ctl->loop, &c->wio);
		return;
	}
	ev_io_stop(c->ctl->loop, &c->wio);
	if (c->closing) {
		conn_close(c);
		return;
	}
	if (c->stream && c->stream->drained)
		c->stream->drained(c);
	/* Output was the only thing holding it back: take the next calls. */
	if (!c->waiting && !conn_streaming(c))
		conn_process(c);
}

/*
 * Queues what an encoder made (taking buf); written from the loop, not
 * here, as the caller may still use c. An encoder's failure closes c.
 */
static void
conn_queue(struct conn *c, int encoded, char *buf, size_t len)
{
	if (encoded < 0 || arb_wire_outq_push(&c->out, &buf, len) < 0) {
		c->closing = true;
		return;
	}
	ev_io_start(c->ctl->loop, &c->wio);
}

void
conn_reply(struct conn *c, json_t *parameters, bool continues)
{
	char *buf = NULL;
	size_t len = 0;
	int r;

	if (c->oneway)
		return;
	r = arb_wire_encode_reply(parameters, continues, &buf, &len);
	conn_queue(c, r, buf, len);
}

void
conn_reply_encoded(struct conn *c, int encoded, char *buf, size_t len)
{
	if (c->oneway) {
		free(buf);
		return;
	}
	conn_queue(c, encoded, buf, len);
}

void
conn_error(struct conn *c, const char *name, json_t *parameters)
{
	char *buf = NULL;
	size_t len = 0;
	int r;

	if (c->oneway)
		return;
	r = arb_wire_encode_error(name, parameters, &buf, &len);
	conn_queue(c, r, buf, len);
}

void
conn_error_str(struct conn *c, const char *name, const char *key,
	       const char *value)
{
	json_t *p = json_object();

	if (p && value)
		json_object_set_new(p, key, json_string(value));
	conn_error(c, name, p);
	json_decref(p);
}

/* ---- reading -------------------------------------------------------------- */

/* Whether c may take another call now (see the top of this file). */
static bool
conn_ready(const struct conn *c)
{
	return !c->waiting && !c->closing &&
	       arb_wire_outq_queued(&c->out) < ARB_CONN_REPLY_LOW;
}

static void
conn_call(struct conn *c, const char *msg, size_t len)
{
	struct arb_wire_call call;
	struct arb_wire_err err;
	int r = arb_wire_decode_call(msg, len, &call, &err);

	c->oneway = false;
	if (r == -EBADMSG || r == -ENOMEM) {
		/* Not even a JSON object: the stream cannot be trusted. */
		c->closing = true;
		return;
	}
	if (r < 0) {
		conn_error_str(c, ARB_ERR_INVALID_PARAMETER, "parameter",
			       err.field[0] ? err.field : err.text);
		return;
	}
	c->oneway = call.oneway;
	methods_dispatch(c, call.method, call.parameters, call.more);
	arb_wire_call_done(&call);
}

/* Handles every complete message buffered, as long as c is ready. */
static void
conn_process(struct conn *c)
{
	const char *msg;
	size_t len;
	int r = 1;

	while (conn_ready(c) && !conn_streaming(c)) {
		r = arb_wire_reader_next(&c->in, &msg, &len);
		if (r == 0)
			break;
		if (r < 0) {
			c->closing = true; /* oversized or empty frame */
			break;
		}
		conn_call(c, msg, len);
		conn_idle_restart(c);
	}
	if (c->eof && r == 0 && !c->waiting)
		c->closing = true; /* every call it sent is answered */
	if (c->closing && arb_wire_outq_queued(&c->out) == 0) {
		conn_close(c);
		return;
	}
	if (conn_ready(c) && !conn_streaming(c) && !c->eof)
		ev_io_start(c->ctl->loop, &c->rio);
	else if (!conn_streaming(c))
		ev_io_stop(c->ctl->loop, &c->rio);
}

/*
 * After an end of file: whether the peer closed its side for writing
 * only (it still reads a stream), or closed the socket. A Unix stream
 * socket whose peer is gone polls POLLHUP; a quiet stream would never
 * find out by writing.
 */
static bool
peer_gone(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

static void
on_conn_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;
	ssize_t n;

	if (revents & EV_CUSTOM) {
		/* Its request was answered: the calls behind it, if any. */
		conn_process(c);
		return;
	}
	if (conn_streaming(c)) {
		/* A subscriber only listens: anything it sends, or an
		 * error, ends the stream. */
		char byte;

		n = recv(c->fd, &byte, 1, MSG_DONTWAIT);
		if (n == 0 && peer_gone(c->fd))
			conn_close(c); /* closed, not half-closed: nobody reads */
		else if (n == 0)
			ev_io_stop(loop, w); /* half-closed: still listening */
		else if (n > 0 || (errno != EAGAIN && errno != EINTR))
			conn_close(c);
		return;
	}
	n = arb_wire_reader_read(&c->in, c->fd);
	if (n == -EAGAIN)
		return;
	if (n == 0) {
		/* Half-closed: answer what it sent, then close. */
		ev_io_stop(loop, &c->rio);
		c->eof = true;
	} else if (n < 0 && n != -EMSGSIZE) {
		conn_close(c); /* error: the client is gone */
		return;
	}
	conn_process(c);
}

static void
on_conn_write(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;

	conn_flush(c);
}

/* ---- connections --------------------------------------------------------- */

void
conn_close(struct conn *c)
{
	struct arb_control *ctl = c->ctl;

	ev_io_stop(ctl->loop, &c->rio);
	ev_io_stop(ctl->loop, &c->wio);
	ev_timer_stop(ctl->loop, &c->idle);
	close(c->fd);
	arb_wire_reader_done(&c->in);
	arb_wire_outq_done(&c->out);
	free(c->req_path);
	if (c->stream && c->stream->closed)
		c->stream->closed(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		ctl->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ctl->nconns--;
	free(c);
}

/*
 * Root and arbord's own user may change the tree; anyone else who could
 * connect (the socket's group, with control_group) may only read.
 */
static int
peer_may_write(int fd, uid_t *ret_uid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	*ret_uid = cred.uid;
	return cred.uid == 0 || cred.uid == geteuid();
}

/*
 * The connections a peer may find open when it comes. Readers leave the
 * last ARB_CLIENTS_RESERVED to root and arbord's user, and arbord's user
 * (any service that runs as it) leaves the last ARB_CLIENTS_ROOT of those
 * to root: neither can lock root out by holding every slot.
 */
static unsigned
slots_for(uid_t uid, bool may_write)
{
	if (uid == 0)
		return ARB_CLIENTS_MAX;
	if (may_write)
		return ARB_CLIENTS_MAX - ARB_CLIENTS_ROOT;
	return ARB_CLIENTS_MAX - ARB_CLIENTS_RESERVED;
}

/*
 * Tells a client there is no slot for it (TooManyClients), so that it can
 * say why, and closes fd. The one small message fits in the empty buffer
 * of a socket just accepted: a send that does not wait is enough, and a
 * client that sends its call after the close still finds it to read.
 */
static void
refuse(int fd)
{
	char *buf = NULL;
	size_t len = 0;

	if (arb_wire_encode_error(ARB_ERR_TOO_MANY_CLIENTS, NULL, &buf,
				  &len) == 0)
		(void)send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	free(buf);
	close(fd);
}

struct conn *
conn_new(struct arb_control *ctl, int fd, uid_t uid, bool may_write)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c) {
		close(fd);
		return NULL;
	}
	c->uid = uid;
	c->may_write = may_write;
	c->ctl = ctl;
	c->fd = fd;
	arb_wire_reader_init(&c->in, ARB_MSG_MAX);
	arb_wire_outq_init(&c->out);
	ev_io_init(&c->rio, on_conn_read, fd, EV_READ);
	ev_io_init(&c->wio, on_conn_write, fd, EV_WRITE);
	ev_init(&c->idle, on_conn_idle);
	c->idle.repeat = ARB_CONN_IDLE_MS / 1000.0;
	c->rio.data = c;
	c->wio.data = c;
	c->idle.data = c;
	c->next = ctl->conns;
	if (ctl->conns)
		ctl->conns->prev = c;
	ctl->conns = c;
	ctl->nconns++;
	ev_io_start(ctl->loop, &c->rio);
	conn_idle_restart(c);
	return c;
}

/* A connection just accepted (fd, taken): served if its peer has a slot. */
static void
admit(struct arb_control *ctl, int fd)
{
	uid_t uid = (uid_t)-1; /* set unless w < 0 */
	int w = peer_may_write(fd, &uid);

	if (w < 0) {
		close(fd);
		return;
	}
	if (ctl->nconns >= slots_for(uid, w)) {
		/* Once per burst: a flood must not flood the log. */
		if (!ctl->full)
			fprintf(stderr, "arbord: control: %u clients "
				"connected, no slot left for uid %u: told "
				"TooManyClients\n", ctl->nconns, (unsigned)uid);
		ctl->full = true;
		refuse(fd);
		return;
	}
	ctl->full = false;
	(void)conn_new(ctl, fd, uid, w);
}

static void
on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct arb_control *ctl = w->data;

	for (;;) {
		int fd = accept4(ctl->fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/* Out of descriptors: pause, do not spin. */
				ev_io_stop(loop, &ctl->accept_io);
				ev_timer_start(loop, &ctl->accept_retry);
				fprintf(stderr, "arbord: control: cannot accept "
					"(%s); pausing for 1 s\n",
					strerror(errno));
			}
			return;
		}
		if (ctl->down) {
			close(fd); /* exiting: no new work */
			continue;
		}
		admit(ctl, fd);
	}
}

static void
on_accept_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct arb_control *ctl = w->data;

	ev_io_start(loop, &ctl->accept_io);
}

/* ---- the socket ------------------------------------------------------------ */

/*
 * The socket's directory: made if missing, 0700, or 0750 owned by the
 * control group. An existing one must not let another user swap our
 * socket or lock (think /tmp/arbor-UID made by someone else): owned by us
 * or root, and not writable by others unless sticky (/tmp). One of ours
 * (owned by us, 0700 or 0750, as arbord makes them) is given the mode and
 * group asked for now, whatever an earlier run or the umask left; any
 * other directory is used as it is. Checked and changed through one
 * descriptor, so it cannot be swapped in between.
 */
static int
prepare_dir(const char *dir, int gid)
{
	mode_t want = gid >= 0 ? 0750 : 0700, have;
	struct stat st;
	int fd, r = 0;

	if (mkdir(dir, want) < 0 && errno != EEXIST)
		return -errno;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	have = st.st_mode & 07777;
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		r = -EPERM;
		goto out;
	}
	if ((have & (S_IWGRP | S_IWOTH)) && !(have & S_ISVTX)) {
		r = -EPERM;
		goto out;
	}
	if (st.st_uid != geteuid() || (have != 0700 && have != 0750))
		goto out;
	if (gid >= 0 && st.st_gid != (gid_t)gid &&
	    fchown(fd, (uid_t)-1, (gid_t)gid) < 0)
		r = -errno;
	else if (have != want && fchmod(fd, want) < 0)
		r = -errno;
out:
	close(fd);
	return r;
}

static int
make_socket_dir(const char *path, int gid)
{
	char *copy = strdup(path);
	int r;

	if (!copy)
		return -ENOMEM;
	r = prepare_dir(dirname(copy), gid);
	free(copy);
	return r;
}

/*
 * The lock file, opened or made. An existing one is opened without
 * O_CREAT, so that one of another user's in a sticky directory can be
 * looked at (fs.protected_regular refuses O_CREAT on it, even to root),
 * and non-blocking, so that a FIFO planted there cannot hold us in
 * open(2). Read-only: flock needs no more, and as PID 1 a file open for
 * writing would keep /run from being remounted read-only. The fd, or
 * -errno.
 */
static int
open_lock(const char *path)
{
	const int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;

	/* Only a file removed or made between the two opens loops. */
	for (int tries = 0; tries < 8; tries++) {
		int fd = open(path, flags);

		if (fd >= 0 || errno != ENOENT)
			return fd >= 0 ? fd : -errno;
		fd = open(path, flags | O_CREAT | O_EXCL, 0600);
		if (fd >= 0 || errno != EEXIST)
			return fd >= 0 ? fd : -errno;
	}
	return -EEXIST;
}

/*
 * Why the lock file at path, open as fd, is not ours to lock, written on
 * stderr: another user's could be locked by its owner for ever (arbord
 * would never start) or swapped; -EPERM. 0 when it is a regular file of
 * our user's.
 */
static int
check_lock_owner(const char *path, int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		fprintf(stderr, "arbord: control: %s is not a regular file",
			path);
	else if (st.st_uid != geteuid())
		fprintf(stderr, "arbord: control: %s is owned by uid %u, not "
			"by arbord's uid %u", path, (unsigned)st.st_uid,
			(unsigned)geteuid());
	else
		return 0;
	fputs(": not ours to lock; remove it, or choose another socket "
	      "path\n", stderr);
	return -EPERM;
}

/*
 * Holds path.lock for arbord's lifetime. The lock, not the socket file,
 * says whether an arbord is alive: a socket left by one that crashed has
 * no lock holder and is replaced.
 */
static int
take_lock(struct arb_control *ctl)
{
	int fd = open_lock(ctl->lock_path), r;

	if (fd < 0)
		return fd;
	ctl->lock_fd = fd;
	r = check_lock_owner(ctl->lock_path, ctl->lock_fd);
	if (r < 0)
		return r;
	if (flock(ctl->lock_fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? -EALREADY : -errno;
	return 0;
}

static int
bind_socket(struct arb_control *ctl, int gid)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	mode_t old;
	int r;

	if (strlen(ctl->path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, ctl->path);
	/* We hold the lock: a socket there is a dead arbord's. Nothing else
	 * is ours to remove. */
	if (lstat(ctl->path, &st) == 0 && !S_ISSOCK(st.st_mode))
		return -EEXIST;
	if (unlink(ctl->path) < 0 && errno != ENOENT)
		return -errno;
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			 0);
	if (ctl->fd < 0)
		return -errno;
	/* Never a moment with wider permissions than asked for. */
	old = umask(0177);
	r = bind(ctl->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0)
		return -errno;
	if (gid >= 0 && (chown(ctl->path, (uid_t)-1, (gid_t)gid) < 0 ||
			 chmod(ctl->path, 0660) < 0))
		return -errno;
	if (listen(ctl->fd, 128) < 0)
		return -errno;
	return 0;
}

/*
 * The socket at path, made by arbord: its directory, the lock, the socket
 * with its mode and group. ctl->path is set, so that close removes it.
 */
static int
open_path(struct arb_control *ctl, const char *path, int gid)
{
	int r;

	ctl->path = strdup(path);
	if (!ctl->path || asprintf(&ctl->lock_path, "%s.lock", path) < 0) {
		ctl->lock_path = NULL;
		return -ENOMEM;
	}
	r = make_socket_dir(path, gid);
	if (r == 0)
		r = take_lock(ctl);
	if (r == 0)
		r = bind_socket(ctl, gid);
	return r;
}

/*
 * The socket systemd passed (socket activation); takes ownership of fd.
 * Its path, mode, group and lifetime are the socket unit's, and systemd
 * runs one arbord per unit: no lock, no chmod, and ctl->path stays NULL so
 * that nothing is removed at exit.
 */
static int
adopt_socket(struct arb_control *ctl, int fd)
{
	int flags;

	ctl->fd = fd;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}

int
control_start_accepting(struct arb_control *ctl)
{
	ev_io_init(&ctl->accept_io, on_accept, ctl->fd, EV_READ);
	ctl->accept_io.data = ctl;
	ev_timer_init(&ctl->accept_retry, on_accept_retry, 1.0, 0.0);
	ctl->accept_retry.data = ctl;
	ev_io_start(ctl->loop, &ctl->accept_io);
	return 0;
}

struct arb_control *
control_new(struct ev_loop *loop, const struct arb_spec *spec,
	    const struct arb_tree *tree, const struct arb_control_hooks *hooks,
	    void *ctx)
{
	struct arb_control *ctl = calloc(1, sizeof(*ctl));

	if (!ctl)
		return NULL;
	ctl->loop = loop;
	ctl->spec = spec;
	ctl->tree = tree;
	ctl->hooks = *hooks;
	ctl->ctx = ctx;
	ctl->fd = -1;
	ctl->lock_fd = -1;
	ctl->next_req_id = 1;
	return ctl;
}

int
arb_control_open(struct arb_control **ret, struct ev_loop *loop,
		 const char *path, const struct arb_spec *spec,
		 const struct arb_tree *tree,
		 const struct arb_control_hooks *hooks, void *ctx)
{
	struct arb_control *ctl = control_new(loop, spec, tree, hooks, ctx);
	int fd, r;

	if (!ctl)
		return -ENOMEM;
	fd = arb_manager_take_control_fd();
	if (fd >= 0)
		r = adopt_socket(ctl, fd);
	else
		r = open_path(ctl, path, spec->control_gid);
	if (r == 0)
		r = control_start_accepting(ctl);
	if (r < 0)
		goto fail;
	*ret = ctl;
	return 0;
fail:
	/* The socket of a live arbord is not ours to remove. */
	if (r == -EALREADY) {
		free(ctl->path);
		ctl->path = NULL;
	}
	arb_control_close(ctl);
	return r;
}

/* ---- from the runtime --------------------------------------------------- */

void
arb_control_set_tree(struct arb_control *c, const struct arb_tree *tree)
{
	if (!c)
		return;
	c->tree = tree;
	c->down = false;
}

/*
 * An event goes out now, not when the loop comes back to the subscriber's
 * socket: an exit event comes with the restart's actions, and a watcher
 * would otherwise hear of the death only after the spawn (a fork, about a
 * millisecond). Only a write that the socket takes without waiting; what
 * is left, an error and a stream's end are the write watcher's, as for
 * any output (the watcher is started only then).
 */
static void
event_write_now(struct arb_control *c, struct conn *x)
{
	if (arb_wire_outq_flush(&x->out, x->fd) != 0 || x->closing)
		ev_io_start(c->loop, &x->wio);
}

/* One event object to every Events stream; last: the stream ends. */
static void
broadcast_event(struct arb_control *c, json_t *event, bool last)
{
	json_t *params;
	char *buf;
	size_t len;
	struct arb_wire_shared *msg;

	params = json_object();
	if (!params) {
		json_decref(event);
		return;
	}
	/* set_new takes event, even when it fails. */
	if (json_object_set_new(params, "event", event) < 0 ||
	    arb_wire_encode_reply(params, !last, &buf, &len) < 0) {
		json_decref(params);
		return;
	}
	json_decref(params);
	/* One buffer for every subscriber, as the Logs fan-out does. */
	msg = arb_wire_shared_new(&buf, len);
	for (struct conn *x = c->conns, *next; x; x = next) {
		next = x->next;
		if (!x->events)
			continue;
		if (!msg ||
		    arb_wire_outq_queued(&x->out) + len > ARB_CONN_OUT_MAX ||
		    arb_wire_outq_push_shared(&x->out, msg) < 0) {
			/* Too slow a reader: dropped, and said so. */
			fprintf(stderr, "arbord: control: dropped an events "
				"reader (uid %u) more than %d MiB behind\n",
				(unsigned)x->uid, ARB_CONN_OUT_MAX >> 20);
			conn_close(x);
			continue;
		}
		if (last)
			x->closing = true;
		event_write_now(c, x);
	}
	arb_wire_shared_unref(msg);
}

void
arb_control_report(struct arb_control *c, const struct arb_action *a)
{
	bool last = a->report == ARB_REP_DOWN;

	if (!c)
		return;
	if (last)
		c->down = true;
	if (!c->conns)
		return;
	broadcast_event(c, methods_event_json(c, a), last);
}

void
arb_control_event(struct arb_control *c, const struct arb_event_fields *f)
{
	if (c && c->conns)
		broadcast_event(c, methods_fields_json(f), false);
}

void
arb_control_set_logs(struct arb_control *c, struct arb_logs *logs)
{
	c->logs = logs;
}

void
arb_control_set_cgroup(struct arb_control *c, struct arb_cgroup *cg)
{
	c->cg = cg;
}

/* Why a start failed, in words (M6); buf holds EMFILE's numbers. */
static const char *
start_failure_text(const struct arb_action *a, char *buf, size_t size)
{
	switch (a->failure) {
	case ARB_FAIL_EXIT:
		return "exited before it was ready";
	case ARB_FAIL_TIMEOUT:
		return "not ready within start_timeout";
	case ARB_FAIL_SPAWN:
	case _ARB_FAIL_MAX:
		break;
	}
	return arb_fdlimit_error_text(a->err, buf, size);
}

/* The core's answer, as the reply to the call that asked. */
static void
answer(struct conn *c, const struct arb_action *a)
{
	static const char *const errors[_ARB_REPLY_MAX] = {
		[ARB_REPLY_ALREADY_RUNNING] = ARB_ERR_ALREADY_RUNNING,
		[ARB_REPLY_RESTARTING] = ARB_ERR_RESTARTING,
		[ARB_REPLY_NOT_FOUND] = ARB_ERR_NO_SUCH_CHILD,
		[ARB_REPLY_NOT_RUNNING] = ARB_ERR_NOT_RUNNING,
		[ARB_REPLY_START_FAILED] = ARB_ERR_START_FAILED,
		[ARB_REPLY_ABORTED] = ARB_ERR_SHUTTING_DOWN,
		[ARB_REPLY_TEMPORARY] = ARB_ERR_TEMPORARY,
		[ARB_REPLY_POOL_FULL] = ARB_ERR_POOL_FULL,
		[ARB_REPLY_POOL_INSTANCE] = ARB_ERR_POOL_INSTANCE,
		[ARB_REPLY_EXISTS] = ARB_ERR_ALREADY_PRESENT,
	};
	char words[128];
	json_t *p;

	if (a->reply == ARB_REPLY_OK || a->reply >= _ARB_REPLY_MAX) {
		conn_reply(c, NULL, false);
		return;
	}
	p = json_object();
	if (p && a->reply != ARB_REPLY_ABORTED)
		json_object_set_new(p, "path", json_string(c->req_path));
	if (p && a->reply == ARB_REPLY_START_FAILED)
		json_object_set_new(p, "error", json_string(start_failure_text(
			a, words, sizeof(words))));
	conn_error(c, errors[a->reply], p);
	json_decref(p);
}

/* The call c waited on is answered: it may take its next. */
static void
call_answered(struct conn *c)
{
	c->waiting = false;
	free(c->req_path);
	c->req_path = NULL;
	conn_idle_restart(c);
	/* Its next calls are handled from the loop, not from inside the
	 * core's step that produced this reply. */
	ev_feed_event(c->ctl->loop, &c->rio, EV_READ | EV_CUSTOM);
	ev_io_start(c->ctl->loop, &c->wio);
}

void
arb_control_reply(struct arb_control *ctl, const struct arb_action *a)
{
	struct conn *c;

	if (!ctl)
		return;
	for (c = ctl->conns; c; c = c->next)
		if (c->waiting && c->req_id == a->req_id)
			break;
	if (!c)
		return; /* the client left before the answer */
	answer(c, a);
	call_answered(c);
}

void
arb_control_complete(struct arb_control *ctl, uint64_t req_id,
		      const char *error, json_t *params)
{
	struct conn *c;

	if (!ctl)
		return;
	for (c = ctl->conns; c; c = c->next)
		if (c->waiting && c->req_id == req_id)
			break;
	if (!c)
		return; /* the client left before the answer */
	if (error)
		conn_error(c, error, params);
	else
		conn_reply(c, params, false);
	call_answered(c);
}

void
control_flush_all(struct arb_control *ctl, int64_t limit_ms)
{
	int64_t deadline = arb_monotonic_ms() + limit_ms;
	struct pollfd fds[ARB_CLIENTS_MAX];

	for (;;) {
		int64_t left = deadline - arb_monotonic_ms();
		nfds_t n = 0;

		for (struct conn *c = ctl->conns; c; c = c->next) {
			ssize_t r;

			if (arb_wire_outq_queued(&c->out) == 0)
				continue;
			r = arb_wire_outq_flush(&c->out, c->fd);
			if (r < 0) {
				/* A broken connection: nothing more to send. */
				arb_wire_outq_done(&c->out);
				arb_wire_outq_init(&c->out);
			} else if (r > 0 && n < ARB_CLIENTS_MAX) {
				fds[n].fd = c->fd;
				fds[n].events = POLLOUT;
				n++;
			}
		}
		if (n == 0 || left <= 0)
			return;
		(void)poll(fds, n, (int)left);
	}
}

void
arb_control_close(struct arb_control *ctl)
{
	if (!ctl)
		return;
	for (struct conn *c = ctl->conns; c; c = c->next)
		if (c->stream && c->stream->end)
			c->stream->end(c, NULL, NULL);
	control_flush_all(ctl, ARB_EXIT_FLUSH_MS);
	while (ctl->conns)
		conn_close(ctl->conns);
	if (ctl->fd >= 0) {
		ev_io_stop(ctl->loop, &ctl->accept_io);
		ev_timer_stop(ctl->loop, &ctl->accept_retry);
		close(ctl->fd);
		if (ctl->path)
			(void)unlink(ctl->path);
	}
	/*
	 * The lock file stays: removing it would let a second arbord that
	 * opened it a moment ago lock an orphaned inode while a third
	 * creates a new one.
	 */
	if (ctl->lock_fd >= 0)
		close(ctl->lock_fd);
	free(ctl->path);
	free(ctl->lock_path);
	free(ctl);
}
