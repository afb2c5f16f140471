/*
 * connection.h - what socket.c (the socket and its connections) and the
 * methods (methods.c, methods_logs.c) share. Not an API: only those files
 * include it. socket.c knows no method by name: a method that streams
 * installs its hooks on the connection (struct conn_stream).
 */
#ifndef ARB_CONTROL_INTERNAL_H
#define ARB_CONTROL_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <ev.h>
#include <jansson.h>

#include "wire.h"
#include "control.h"

struct conn;

/*
 * A stream that a method began on a connection (Logs with follow), as
 * the method's hooks: the socket drives them without knowing the method.
 * Every hook may be NULL.
 */
struct conn_stream {
	/* Everything queued on c has been written. */
	void (*drained)(struct conn *c);
	/* arbord is exiting (error NULL: queue the stream's last reply) or
	 * re-executing (queue that error, params borrowed, instead). */
	void (*end)(struct conn *c, const char *error, json_t *params);
	/* c is being closed: let go of c->stream_data. */
	void (*closed)(struct conn *c);
};

struct conn {
	struct arb_control *ctl;
	int fd;
	ev_io rio, wio;
	ev_timer idle;  /* closes it after ARB_CONN_IDLE_MS idle (socket.c) */
	struct arb_wire_reader in;
	struct arb_wire_outq out;
	uid_t uid;      /* the peer, from SO_PEERCRED */
	bool may_write; /* root or arbord's own uid: may change the tree */
	bool events;    /* subscribed to Events */
	const struct conn_stream *stream; /* NULL: none */
	void *stream_data;                /* the stream's, for its hooks */
	bool oneway;    /* the call being answered wants no reply */
	bool waiting;   /* a request is with the core: later calls wait */
	uint64_t req_id;
	char *req_path; /* the path of the waiting request, for errors */
	bool closing;   /* close once out is drained */
	bool eof;       /* the peer half-closed */
	struct conn *prev, *next;
};

struct arb_control {
	struct ev_loop *loop;
	const struct arb_spec *spec;
	const struct arb_tree *tree;
	struct arb_control_hooks hooks;
	void *ctx;
	int fd, lock_fd;
	char *path, *lock_path;
	ev_io accept_io;
	ev_timer accept_retry; /* after EMFILE (tmux) */
	struct conn *conns;
	unsigned nconns;
	uint64_t next_req_id;
	struct arb_logs *logs; /* NULL: no Logs method (tests) */
	struct arb_cgroup *cg; /* containment and stats; NULL: none known */
	struct logs_fanout *logs_fanout; /* methods_logs.c's; NULL: no
					  * one follows Logs */
	bool down; /* the root is gone: no new work */
	bool full; /* refusing clients for want of a slot (logged once) */
};

/* ---- socket.c: connections ---- */

/* Serves fd (taken, even on failure), reading its calls; NULL on OOM. */
struct conn *conn_new(struct arb_control *ctl, int fd, uid_t uid,
		      bool may_write);
/* Stops its watchers, closes its fd and frees it (its stream let go). */
void conn_close(struct conn *c);

/*
 * Writes what is still queued (the answer to Shutdown, the end of
 * streams) while arbord exits or re-executes, for all clients together
 * within limit_ms: a client that does not read cannot hold arbord up.
 */
void control_flush_all(struct arb_control *ctl, int64_t limit_ms);

/* Serves ctl->fd, the listening socket, from now on. 0. */
int control_start_accepting(struct arb_control *ctl);

/* A control socket with nothing open yet (fd -1), serving through hooks;
 * NULL on OOM. arb_control_open and arb_control_resume fill it. */
struct arb_control *control_new(struct ev_loop *loop,
				const struct arb_spec *spec,
				const struct arb_tree *tree,
				const struct arb_control_hooks *hooks,
				void *ctx);

/* ---- socket.c: replies on one connection ---- */

/* Queues a reply (parameters borrowed, NULL for {}) unless oneway. */
void conn_reply(struct conn *c, json_t *parameters, bool continues);
/*
 * Queues a reply message encoded by the caller (encoded: its encoder's 0
 * or -errno, which closes the connection), taking ownership of the heap
 * buffer buf of len bytes with its NUL, unless oneway.
 */
void conn_reply_encoded(struct conn *c, int encoded, char *buf, size_t len);
void conn_error(struct conn *c, const char *name, json_t *parameters);
/* An error whose parameters are one string field. */
void conn_error_str(struct conn *c, const char *name, const char *key,
		    const char *value);

/* Whether c is a stream (Events, or a method's): it takes no calls. */
static inline bool
conn_streaming(const struct conn *c)
{
	return c->events || c->stream;
}

/* ---- methods.c ---- */

/*
 * The "path" parameter as a node: ARB_NONE after an error reply when it is
 * missing, not a string, or names nothing. optional: absent means the root.
 */
uint32_t methods_path_param(struct conn *c, json_t *params, bool optional,
			    const char **ret_path);

/*
 * The child a request names in "path": as methods_path_param, but a path
 * under a supervisor that is not there is NotRunning (OTP's noproc), and,
 * with start, a name under a pool that is no child is PoolInstance (OTP's
 * simple_one_for_one error for restart_child; the core gives it for an
 * instance that is there).
 */
uint32_t methods_child_param(struct conn *c, json_t *params, bool start,
			     const char **ret_path);

/* The same for the node named by parameter `key` (required). */
uint32_t methods_node_param(struct conn *c, json_t *params, const char *key,
			    const char **ret_path);

/* Whether c may change the tree; else answers PermissionDenied. */
bool methods_allowed(struct conn *c);

/*
 * Whether c may read the services' output (Logs): those who may change
 * the tree, and readers when control_read_logs allows; else answers
 * PermissionDenied.
 */
bool methods_may_read_logs(struct conn *c);

/* ---- methods_logs.c ---- */

void method_logs(struct conn *c, json_t *params, bool more);
void method_reopen_logs(struct conn *c);

/*
 * Answers one decoded call on c: every method of org.arbor.supervisor and
 * org.varlink.service. May set c->waiting (a request went to the core),
 * c->events or c->stream (a stream began).
 */
void methods_dispatch(struct conn *c, const char *method, json_t *params,
		      bool more);

/* ---- methods_living.c: Reload, AddChild, RemoveChild, Spawn, Reexec -- */
void methods_reload(struct conn *c, json_t *params);
void methods_add_child(struct conn *c, json_t *params);
void methods_remove_child(struct conn *c, json_t *params);
void methods_spawn(struct conn *c, json_t *params);
void methods_reexec(struct conn *c, json_t *params);

struct arb_event_fields;
/* An event's fields as the Events stream's object. */
json_t *methods_fields_json(const struct arb_event_fields *f);

/* The JSON of one supervision event (REPORT action); NULL on OOM. */
json_t *methods_event_json(const struct arb_control *ctl,
			   const struct arb_action *a);

#endif
