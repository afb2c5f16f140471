/*
 * notify.h - what services say about themselves (SEMANTICS.md M6): the
 * notify protocol of systemd's sd_notify(3) on one datagram socket shared
 * by every service, and s6's readiness protocol on a pipe per service
 * (`ready = "fd:N"`: the service writes a line to descriptor N).
 *
 * This module only reads and parses. Which service a sender belongs to,
 * and whether it may speak for it, is the runtime's decision.
 */
#ifndef ARB_NOTIFY_H
#define ARB_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <jansson.h>

#include "state/state.h"

/* One datagram, parsed. Unknown assignments are ignored, as systemd does. */
struct arb_notify_msg {
	bool ready;            /* READY=1 */
	bool reloading;        /* RELOADING=1 */
	bool stopping;         /* STOPPING=1 */
	bool watchdog;         /* WATCHDOG=1 */
	bool watchdog_trigger; /* WATCHDOG=trigger */
	int mainpid;           /* MAINPID=; 0 when absent or malformed */
	int64_t extend_ms;     /* EXTEND_TIMEOUT_USEC=, rounded up; 0: absent */
	int errno_value;       /* ERRNO=; -1 when absent or malformed */
	const char *status;    /* STATUS= (into the parsed buffer), or NULL */
};

/*
 * Parses a datagram of len bytes in buf, which must have room for one more
 * byte; assignments are newline-separated KEY=VALUE. buf is modified and
 * ret->status points into it. A later assignment of a key wins.
 */
void arb_notify_parse(char *buf, size_t len, struct arb_notify_msg *ret);

struct arb_notify;

/* Called for each datagram with the sender's pid and uid (SCM_CREDENTIALS). */
typedef void arb_notify_fn(void *ctx, int pid, long uid,
			   const struct arb_notify_msg *m);

/*
 * Opens the notify socket: an abstract AF_UNIX datagram socket with
 * SO_PASSCRED, so every message carries its sender's pid, and any user a
 * service runs as can reach it. 0 or -errno.
 */
int arb_notify_open(struct arb_notify **ret, struct ev_loop *loop,
		    arb_notify_fn *fn, void *ctx);

/* The NOTIFY_SOCKET value services get ("@arbor/notify/..."). */
const char *arb_notify_address(const struct arb_notify *n);

/* NULL is a no-op. */
void arb_notify_close(struct arb_notify *n);

/*
 * Across a re-exec (state/FORMAT.md "notify"): the socket, its descriptor
 * passed (json null for none; NULL on OOM), and taken back by the new
 * image under the same address. 0, -EINVAL (in's error set) or -ENOMEM.
 */
json_t *arb_notify_save(const struct arb_notify *n, struct arb_state_out *o);
int arb_notify_resume(struct arb_notify **ret, struct ev_loop *loop,
		      arb_notify_fn *fn, void *ctx, struct arb_state_in *in,
		      const json_t *obj);

/* ---- fd:N readiness ---------------------------------------------------- */

/* A readiness pipe of one service: the read end is watched by the loop. */
struct arb_ready_pipe {
	ev_io io;       /* on the read end; fd -1 when closed */
	int write_fd;   /* the service's end until it is spawned, else -1 */
	void (*ready)(struct arb_ready_pipe *p); /* a full line arrived */
	void *data;     /* the owner's */
};

/*
 * A closed pipe whose line calls ready(p); data is the owner's. NULL on
 * OOM. Made at the first start of a service with ready = "fd:N", so that
 * the others carry none (one per node adds up at thousands of services).
 */
struct arb_ready_pipe *arb_ready_pipe_new(
	void (*ready)(struct arb_ready_pipe *p), void *data);

/* Closes p and frees it; NULL is a no-op. */
void arb_ready_pipe_free(struct arb_ready_pipe *p, struct ev_loop *loop);

/* A new pipe for the next spawn; the old one is closed. 0 or -errno. */
int arb_ready_pipe_open(struct arb_ready_pipe *p, struct ev_loop *loop);

/* After the spawn: arbord closes its copy of the service's end. NULL (no
 * pipe was made): nothing. */
void arb_ready_pipe_spawned(struct arb_ready_pipe *p);

/* Closes both ends, if open; NULL (no pipe was made): nothing. */
void arb_ready_pipe_close(struct arb_ready_pipe *p, struct ev_loop *loop);

#endif
