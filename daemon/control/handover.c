/*
 * handover.c - the control socket across a re-exec (arborctl reexec):
 * handing it over to the next image, taking it back when the exec failed,
 * and resuming it in the new image (daemon/state/FORMAT.md, "control").
 *
 * The listening socket never closes, so clients that connect meanwhile
 * wait in its backlog. Streams end with Reexecuting (their clients
 * reconnect), other clients are closed, and only the connection that
 * asked for the re-exec crosses it, to be answered by the new image. No
 * method is known here; streams end through their hooks (connection.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "protocol.h"
#include "connection.h"
#include "state/state.h"

/* How long the last replies may take to write, for all clients together:
 * no image serves anyone meanwhile. */
#define HANDOVER_FLUSH_MS 100

static struct conn *
waiting_conn(struct arb_control *ctl, uint64_t req_id)
{
	for (struct conn *c = ctl->conns; c; c = c->next)
		if (c->waiting && c->req_id == req_id)
			return c;
	return NULL;
}

/*
 * Every stream, and every call but the caller's still waiting, ends with
 * Reexecuting {from, to}: the call is over, the client may call again.
 */
static void
tell_reexecuting(struct arb_control *ctl, const struct conn *caller,
		 const char *from, const char *to)
{
	json_t *p = json_pack("{s:s,s:s}", "from", from, "to", to);

	for (struct conn *c = ctl->conns; c; c = c->next) {
		if (c == caller || c->closing)
			continue;
		if (c->stream && c->stream->end) {
			c->stream->end(c, ARB_ERR_REEXECUTING, p);
		} else if (c->events || c->waiting) {
			conn_error(c, ARB_ERR_REEXECUTING, p);
			c->closing = true;
		}
	}
	json_decref(p);
}

static void
stop_watchers(struct arb_control *ctl, struct conn *caller)
{
	ev_io_stop(ctl->loop, &ctl->accept_io);
	ev_timer_stop(ctl->loop, &ctl->accept_retry);
	if (!caller)
		return;
	ev_io_stop(ctl->loop, &caller->rio);
	ev_io_stop(ctl->loop, &caller->wio);
	ev_timer_stop(ctl->loop, &caller->idle);
}

/* The caller's connection: {"fd", "uid", "may_write"}, or null. */
static json_t *
caller_json(struct arb_state_out *o, const struct conn *caller)
{
	json_t *fd;

	if (!caller)
		return json_null();
	fd = arb_state_out_fd(o, caller->fd);
	if (!fd)
		return NULL;
	return json_pack("{s:o,s:I,s:b}", "fd", fd, "uid",
			 (json_int_t)caller->uid, "may_write",
			 caller->may_write);
}

static json_t *
control_json(struct arb_control *ctl, struct arb_state_out *o,
	     const struct conn *caller)
{
	json_t *fd = arb_state_out_fd(o, ctl->fd);
	json_t *lock = ctl->lock_fd >= 0 ? arb_state_out_fd(o, ctl->lock_fd)
					 : json_integer(-1);
	json_t *path = ctl->path ? json_string(ctl->path) : json_null();
	json_t *who = caller_json(o, caller);
	char next[24];

	if (!fd || !lock || !path || !who) {
		json_decref(fd);
		json_decref(lock);
		json_decref(path);
		json_decref(who);
		return NULL;
	}
	/* The core may answer requests of before the exec: their ids are
	 * never given again. */
	snprintf(next, sizeof(next), "%" PRIu64, ctl->next_req_id);
	return json_pack("{s:o,s:o,s:o,s:o,s:s}", "fd", fd, "lock_fd", lock,
			 "path", path, "caller", who, "next_req_id", next);
}

int
arb_control_hand_over(struct arb_control *ctl, uint64_t caller_req_id,
		      const char *from, const char *to,
		      struct arb_state_out *o, json_t **ret_obj)
{
	struct conn *caller = waiting_conn(ctl, caller_req_id);
	json_t *obj;

	if (ctl->fd < 0)
		return -EBADF;
	tell_reexecuting(ctl, caller, from, to);
	control_flush_all(ctl, HANDOVER_FLUSH_MS);
	for (struct conn *c = ctl->conns, *next; c; c = next) {
		next = c->next;
		if (c != caller)
			conn_close(c);
	}
	stop_watchers(ctl, caller);
	obj = control_json(ctl, o, caller);
	if (!obj)
		return -ENOMEM;
	*ret_obj = obj;
	return 0;
}

void
arb_control_take_back(struct arb_control *ctl)
{
	if (!ctl || ctl->fd < 0)
		return;
	ev_io_start(ctl->loop, &ctl->accept_io);
	/* Only the caller is left, its request waiting: it is not read
	 * until answered (socket.c), and not idle meanwhile. */
	for (struct conn *c = ctl->conns; c; c = c->next)
		if (arb_wire_outq_queued(&c->out) > 0)
			ev_io_start(ctl->loop, &c->wio);
}

/* ---- in the new image ------------------------------------------------- */

static int
set_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/* Whether fd is a stream socket, listening or not as listening says. */
static bool
is_stream_socket(int fd, bool listening)
{
	int type = 0, acc = 0;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    type != SOCK_STREAM)
		return false;
	len = sizeof(acc);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) < 0)
		return false;
	return (acc != 0) == listening;
}

/* The listening socket, its lock and path: bound as before the exec. */
static int
resume_socket(struct arb_control *ctl, struct arb_state_in *in,
	      const json_t *obj)
{
	const char *path = NULL;
	int r;

	r = arb_state_fd(in, obj, "control", "fd", &ctl->fd);
	if (r == 0)
		r = arb_state_fd(in, obj, "control", "lock_fd", &ctl->lock_fd);
	if (r == 0)
		r = arb_state_str_opt(in, obj, "control", "path", &path);
	if (r < 0)
		return r;
	if (ctl->fd < 0 || !is_stream_socket(ctl->fd, true))
		return arb_state_fail(in, "control.fd: not a listening socket");
	/* A path is arbord's own socket, held by its lock; none, the
	 * socket systemd passed, which has no lock. */
	if ((path != NULL) != (ctl->lock_fd >= 0) || (path && !*path))
		return arb_state_fail(in, "control: path and lock_fd disagree");
	if (path) {
		ctl->path = strdup(path);
		if (!ctl->path ||
		    asprintf(&ctl->lock_path, "%s.lock", path) < 0) {
			ctl->lock_path = NULL;
			return -ENOMEM;
		}
	}
	return set_nonblocking(ctl->fd);
}

/*
 * The connection that asked for the re-exec, its request waiting under a
 * new req_id (*ret_req_id; 0 when there is none) for the runtime's answer.
 */
static int
resume_caller(struct arb_control *ctl, struct arb_state_in *in,
	      const json_t *obj, uint64_t *ret_req_id)
{
	const json_t *who = NULL;
	int64_t uid = 0;
	bool may_write = false;
	struct conn *c;
	int fd = -1, r;

	r = arb_state_object_opt(in, obj, "control", "caller", &who);
	if (r < 0 || !who) {
		*ret_req_id = 0;
		return r;
	}
	r = arb_state_int(in, who, "control.caller", "uid", 0,
			  (int64_t)(uid_t)-1 - 1, &uid);
	if (r == 0)
		r = arb_state_bool(in, who, "control.caller", "may_write",
				   &may_write);
	if (r == 0)
		r = arb_state_fd(in, who, "control.caller", "fd", &fd);
	if (r < 0)
		return r;
	if (fd < 0 || !is_stream_socket(fd, false)) {
		if (fd >= 0)
			close(fd);
		return arb_state_fail(in, "control.caller.fd: not a "
				      "connected socket");
	}
	r = set_nonblocking(fd);
	if (r < 0) {
		close(fd);
		return r;
	}
	c = conn_new(ctl, fd, (uid_t)uid, may_write);
	if (!c)
		return -ENOMEM;
	c->req_path = strdup("/");
	if (!c->req_path) {
		conn_close(c);
		return -ENOMEM;
	}
	/* As a call just sent to the runtime (methods_living.c). */
	c->waiting = true;
	c->req_id = ctl->next_req_id++;
	ev_io_stop(ctl->loop, &c->rio);
	ev_timer_stop(ctl->loop, &c->idle);
	*ret_req_id = c->req_id;
	return 0;
}

int
arb_control_resume(struct arb_control **ret, struct ev_loop *loop,
		   struct arb_state_in *in, const json_t *obj,
		   const struct arb_spec *spec, const struct arb_tree *tree,
		   const struct arb_control_hooks *hooks, void *ctx,
		   uint64_t *ret_caller_req_id)
{
	struct arb_control *ctl = control_new(loop, spec, tree, hooks, ctx);
	uint64_t req_id = 0;
	int r;

	if (!ctl)
		return -ENOMEM;
	if (!json_is_object(obj)) {
		r = arb_state_fail(in, "control: not an object");
		goto fail;
	}
	r = arb_state_u64(in, obj, "control", "next_req_id", &ctl->next_req_id);
	if (r == 0 && (ctl->next_req_id == 0 ||
		       ctl->next_req_id >= (UINT64_C(1) << 62)))
		r = arb_state_fail(in, "control: next_req_id out of range");
	if (r == 0)
		r = resume_socket(ctl, in, obj);
	if (r == 0)
		r = control_start_accepting(ctl);
	if (r == 0)
		r = resume_caller(ctl, in, obj, &req_id);
	if (r < 0)
		goto fail;
	*ret = ctl;
	*ret_caller_req_id = req_id;
	return 0;
fail:
	/* The socket stays where it is: whatever runs next decides. */
	free(ctl->path);
	ctl->path = NULL;
	arb_control_close(ctl);
	return r;
}
