/*
 * control.c - the control socket: binding it, accepting clients, framing,
 * permissions, and writing without ever blocking on a client.
 *
 * Every socket is non-blocking. A connection is read only while it has no
 * request waiting for the core and less than ARB_CONN_OUT_MAX queued, so a
 * client that sends without reading cannot grow arbord's memory; an Events
 * subscriber that falls that far behind is dropped. A malformed frame
 * closes that one connection. What the methods do is in methods.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
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
#include "control_internal.h"
#include "limits.h"

static void conn_close(struct conn *c);
static void conn_process(struct conn *c);

/* ---- writing ------------------------------------------------------------ */

static void
conn_flush(struct conn *c)
{
	ssize_t left = arb_wire_outq_flush(&c->out, c->fd);

	if (left < 0) {
		conn_close(c);
		return;
	}
	if (left > 0) {
		ev_io_start(c->ctl->loop, &c->wio);
		return;
	}
	ev_io_stop(c->ctl->loop, &c->wio);
	if (c->closing)
		conn_close(c);
}

/* Queues an encoded message (taking buf), then writes what the peer takes. */
static void
conn_push(struct conn *c, char *buf, size_t len)
{
	if (arb_wire_outq_push(&c->out, &buf, len) < 0) {
		c->closing = true;
		return;
	}
	/* Written from the loop, not here: the caller may still use c. */
	ev_io_start(c->ctl->loop, &c->wio);
}

void
conn_reply(struct conn *c, json_t *parameters, bool continues)
{
	char *buf;
	size_t len;

	if (c->oneway)
		return;
	if (arb_wire_encode_reply(parameters, continues, &buf, &len) < 0) {
		c->closing = true;
		return;
	}
	conn_push(c, buf, len);
}

void
conn_error(struct conn *c, const char *name, json_t *parameters)
{
	char *buf;
	size_t len;

	if (c->oneway)
		return;
	if (arb_wire_encode_error(name, parameters, &buf, &len) < 0) {
		c->closing = true;
		return;
	}
	conn_push(c, buf, len);
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
	       arb_wire_outq_queued(&c->out) < ARB_CONN_OUT_MAX;
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
	int r;

	while (conn_ready(c) && !c->events) {
		r = arb_wire_reader_next(&c->in, &msg, &len);
		if (r == 0)
			break;
		if (r < 0) {
			c->closing = true; /* oversized or empty frame */
			break;
		}
		conn_call(c, msg, len);
	}
	if (c->closing && arb_wire_outq_queued(&c->out) == 0) {
		conn_close(c);
		return;
	}
	if (conn_ready(c) && !c->events)
		ev_io_start(c->ctl->loop, &c->rio);
	else if (!c->events)
		ev_io_stop(c->ctl->loop, &c->rio);
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
	if (c->events) {
		/* A subscriber only listens: anything it sends, or its EOF,
		 * ends the stream. */
		char byte;

		n = recv(c->fd, &byte, 1, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			conn_close(c);
		else if (n > 0)
			conn_close(c);
		return;
	}
	n = arb_wire_reader_read(&c->in, c->fd);
	if (n == -EAGAIN)
		return;
	if (n <= 0 && n != -EMSGSIZE) {
		conn_close(c); /* EOF or error: the client is gone */
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

static void
conn_close(struct conn *c)
{
	struct arb_control *ctl = c->ctl;

	ev_io_stop(ctl->loop, &c->rio);
	ev_io_stop(ctl->loop, &c->wio);
	close(c->fd);
	arb_wire_reader_done(&c->in);
	arb_wire_outq_done(&c->out);
	free(c->req_path);
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

static void
conn_new(struct arb_control *ctl, int fd)
{
	struct conn *c = calloc(1, sizeof(*c));
	int w;

	if (!c) {
		close(fd);
		return;
	}
	w = peer_may_write(fd, &c->uid);
	if (w < 0) {
		free(c);
		close(fd);
		return;
	}
	c->may_write = w;
	c->ctl = ctl;
	c->fd = fd;
	arb_wire_reader_init(&c->in, ARB_MSG_MAX);
	arb_wire_outq_init(&c->out);
	ev_io_init(&c->rio, on_conn_read, fd, EV_READ);
	ev_io_init(&c->wio, on_conn_write, fd, EV_WRITE);
	c->rio.data = c;
	c->wio.data = c;
	c->next = ctl->conns;
	if (ctl->conns)
		ctl->conns->prev = c;
	ctl->conns = c;
	ctl->nconns++;
	ev_io_start(ctl->loop, &c->rio);
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
			}
			return;
		}
		if (ctl->nconns >= ARB_CLIENTS_MAX || ctl->down) {
			close(fd);
			continue;
		}
		conn_new(ctl, fd);
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
 * An existing directory must not let another user swap our socket or lock
 * (think /tmp/arbor-UID made by someone else): it must be a directory
 * owned by us or root, and not writable by others unless sticky (/tmp).
 */
static int
check_socket_dir(const char *dir)
{
	struct stat st;

	if (lstat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (st.st_uid != geteuid() && st.st_uid != 0)
		return -EPERM;
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
		return -EPERM;
	return 0;
}

/* The socket's directory, if missing: ours, closed to others. */
static int
make_socket_dir(const char *path, int gid)
{
	char *copy = strdup(path);
	const char *dir;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	dir = dirname(copy);
	if (mkdir(dir, gid >= 0 ? 0750 : 0700) == 0) {
		if (gid >= 0 && chown(dir, (uid_t)-1, (gid_t)gid) < 0)
			r = -errno;
	} else if (errno == EEXIST) {
		r = check_socket_dir(dir);
	} else {
		r = -errno;
	}
	free(copy);
	return r;
}

/*
 * Holds path.lock for arbord's lifetime. The lock, not the socket file,
 * says whether an arbord is alive: a socket left by one that crashed has
 * no lock holder and is replaced.
 */
static int
take_lock(struct arb_control *ctl)
{
	ctl->lock_fd = open(ctl->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (ctl->lock_fd < 0)
		return -errno;
	if (flock(ctl->lock_fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? -EADDRINUSE : -errno;
	return 0;
}

static int
bind_socket(struct arb_control *ctl, int gid)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	mode_t old;
	int r;

	if (strlen(ctl->path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, ctl->path);
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

int
arb_control_open(struct arb_control **ret, struct ev_loop *loop,
		 const char *path, const struct arb_spec *spec,
		 const struct arb_tree *tree,
		 const struct arb_control_hooks *hooks, void *ctx)
{
	struct arb_control *ctl = calloc(1, sizeof(*ctl));
	int r;

	if (!ctl)
		return -ENOMEM;
	ctl->loop = loop;
	ctl->spec = spec;
	ctl->tree = tree;
	ctl->hooks = *hooks;
	ctl->ctx = ctx;
	ctl->fd = -1;
	ctl->lock_fd = -1;
	ctl->next_req_id = 1;
	ctl->path = strdup(path);
	if (!ctl->path || asprintf(&ctl->lock_path, "%s.lock", path) < 0) {
		ctl->lock_path = NULL;
		r = -ENOMEM;
		goto fail;
	}
	r = make_socket_dir(path, spec->control_gid);
	if (r == 0)
		r = take_lock(ctl);
	if (r == 0)
		r = bind_socket(ctl, spec->control_gid);
	if (r < 0)
		goto fail;
	ev_io_init(&ctl->accept_io, on_accept, ctl->fd, EV_READ);
	ctl->accept_io.data = ctl;
	ev_timer_init(&ctl->accept_retry, on_accept_retry, 1.0, 0.0);
	ctl->accept_retry.data = ctl;
	ev_io_start(loop, &ctl->accept_io);
	*ret = ctl;
	return 0;
fail:
	/* The socket of a live arbord is not ours to remove. */
	if (r == -EADDRINUSE) {
		free(ctl->path);
		ctl->path = NULL;
	}
	arb_control_close(ctl);
	return r;
}

/* ---- from the runtime --------------------------------------------------- */

void
arb_control_report(struct arb_control *c, const struct arb_action *a)
{
	json_t *params;
	char *buf;
	size_t len;
	bool last = a->report == ARB_REP_DOWN;

	if (!c || !c->conns)
		return;
	params = json_object();
	if (!params || json_object_set_new(params, "event",
					   methods_event_json(c, a)) < 0 ||
	    arb_wire_encode_reply(params, !last, &buf, &len) < 0) {
		json_decref(params);
		return;
	}
	json_decref(params);
	for (struct conn *x = c->conns, *next; x; x = next) {
		next = x->next;
		if (!x->events)
			continue;
		if (arb_wire_outq_queued(&x->out) + len > ARB_CONN_OUT_MAX ||
		    arb_wire_outq_push_copy(&x->out, buf, len) < 0) {
			conn_close(x); /* too slow a reader: dropped */
			continue;
		}
		if (last)
			x->closing = true;
		ev_io_start(c->loop, &x->wio);
	}
	free(buf);
	if (last)
		c->down = true;
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
	};
	json_t *p;

	if (a->reply == ARB_REPLY_OK || a->reply >= _ARB_REPLY_MAX) {
		conn_reply(c, NULL, false);
		return;
	}
	p = json_object();
	if (p && a->reply != ARB_REPLY_ABORTED)
		json_object_set_new(p, "path", json_string(c->req_path));
	if (p && a->reply == ARB_REPLY_START_FAILED && a->err > 0)
		json_object_set_new(p, "error", json_string(strerror(a->err)));
	conn_error(c, errors[a->reply], p);
	json_decref(p);
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
	c->waiting = false;
	free(c->req_path);
	c->req_path = NULL;
	/* Its next calls are handled from the loop, not from inside the
	 * core's step that produced this reply. */
	ev_feed_event(ctl->loop, &c->rio, EV_READ | EV_CUSTOM);
	ev_io_start(ctl->loop, &c->wio);
}

/* Writes what is queued, giving each client a moment; then closes it. */
static void
conn_last_flush(struct conn *c)
{
	struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
	int flags = fcntl(c->fd, F_GETFL);

	if (arb_wire_outq_queued(&c->out) == 0)
		return;
	(void)setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (flags >= 0)
		(void)fcntl(c->fd, F_SETFL, flags & ~O_NONBLOCK);
	(void)arb_wire_outq_flush(&c->out, c->fd);
}

void
arb_control_close(struct arb_control *ctl)
{
	if (!ctl)
		return;
	while (ctl->conns) {
		conn_last_flush(ctl->conns);
		conn_close(ctl->conns);
	}
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
