/*
 * control.h - the control socket: arborctl's way into a running arbord.
 */
#ifndef ARB_CONTROL_H
#define ARB_CONTROL_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>
#include <jansson.h>

#include "core/spec.h"
#include "core/tree.h"

struct arb_control;

/* What a service said about itself (notify protocol), for Status. */
struct arb_service_note {
	char *status;    /* STATUS= text; NULL: none */
	int errno_value; /* ERRNO=; -1: none */
	bool reloading;  /* RELOADING=1 until READY=1 */
	bool stopping;   /* STOPPING=1 */
};

/* What the control socket asks of the runtime. */
struct arb_control_hooks {
	/* Feed an operator's request on node to the core; it answers with
	 * an ARB_ACT_REPLY carrying req_id (arb_control_reply). */
	void (*request)(void *ctx, uint32_t node, enum arb_request_kind kind,
			uint64_t req_id);
	/* Stop the whole tree (M10); as the system's init, then power off,
	 * reboot or halt: action is an enum arb_final, or -1 for none. */
	void (*shutdown)(void *ctx, int action);
	/* Whether Shutdown may name an action: arbord is the system's init. */
	bool (*takes_action)(void *ctx);
	/* signo to running service node's processes, by the rule of stops
	 * and kills (arb_service_procs_signal). 0, or -ESRCH when none
	 * got it. */
	int (*signal)(void *ctx, uint32_t node, int signo);
	/* What service node last said about itself; never NULL. */
	const struct arb_service_note *(*note)(void *ctx, uint32_t node);
	/*
	 * The living tree (living.h): each answers later, with
	 * arb_control_complete(req_id). text, name and args are borrowed
	 * for the call only.
	 */
	void (*reload)(void *ctx, bool dry_run, uint64_t req_id);
	void (*add_child)(void *ctx, uint32_t parent, const char *text,
			  uint64_t req_id);
	void (*remove_child)(void *ctx, uint32_t node, uint64_t req_id);
	void (*spawn)(void *ctx, uint32_t pool, const char *name,
		      char *const *args, uint64_t req_id);
	/*
	 * Reexec: replace arbord by binary (an absolute path; NULL: the
	 * binary arbord was started from), waiting at most timeout_ms for a
	 * moment the state can be saved. Answered with
	 * arb_control_complete(req_id): by the new image on success
	 * ({from, to, binary, away_ms}), else by this one with
	 * ReexecFailed {step, reason}. binary is borrowed for the call only.
	 */
	void (*reexec)(void *ctx, const char *binary, int64_t timeout_ms,
		       uint64_t req_id);
};

/*
 * Binds the control socket at path, mode 0600, or 0660 owned by
 * spec->control_gid when set, creating its directory (0700, or 0750 with a
 * group) if missing. A lock beside the socket (path.lock) tells a live
 * arbord from a stale socket: a stale one is replaced, a live one is never
 * taken (-EALREADY). When systemd passed a listening socket instead
 * (arb_manager_take_control_fd()), that one is served as it is: no path is
 * bound, locked, changed or, at close, removed. spec and tree are borrowed
 * for status. 0 or -errno.
 */
int arb_control_open(struct arb_control **ret, struct ev_loop *loop,
		     const char *path, const struct arb_spec *spec,
		     const struct arb_tree *tree,
		     const struct arb_control_hooks *hooks, void *ctx);

/* A supervision event (REPORT action), for the Events streams. */
void arb_control_report(struct arb_control *c, const struct arb_action *a);

struct arb_logs;
struct arb_log_line;
struct arb_cgroup;

/*
 * The containment Status reports, and where its stats are read
 * (borrowed; NULL, the default: none, "process-group", why "not set").
 */
void arb_control_set_cgroup(struct arb_control *c, struct arb_cgroup *cg);

/* The logs Logs reads and ReopenLogs reopens (borrowed). */
void arb_control_set_logs(struct arb_control *c, struct arb_logs *logs);

/*
 * A line captured for node (an arb_logs_line_fn, ctx the arb_control):
 * to the Logs streams that follow its subtree.
 */
void arb_control_log_line(void *ctx, uint32_t node,
			  const struct arb_log_line *l);

/* The core's answer (REPLY action) to a request. */
void arb_control_reply(struct arb_control *c, const struct arb_action *a);

/*
 * The answer to a living-tree call (Reload, AddChild, RemoveChild, Spawn):
 * error NULL with params (borrowed, may be NULL), or an error name with
 * its parameters. A client that left is not answered.
 */
void arb_control_complete(struct arb_control *c, uint64_t req_id,
			  const char *error, json_t *params);

struct arb_event_fields;

/* An event that is not the core's (the living tree's), for Events. */
void arb_control_event(struct arb_control *c,
		       const struct arb_event_fields *f);

/*
 * The tree was rebuilt (on_giveup = "restart"), or the old one may be
 * asked about again: serve tree from now on and accept new clients.
 */
void arb_control_set_tree(struct arb_control *c, const struct arb_tree *tree);

struct arb_state_out;
struct arb_state_in;

/*
 * Re-exec (arborctl reexec), in the old image just before the execve:
 * every stream (Events, Logs follow) and every other waiting call ends
 * with the error Reexecuting {from, to}; what is queued is written
 * (within about 100 ms for all); every connection but the caller's (the
 * one whose request caller_req_id waits) is closed; the watchers are
 * stopped. The listening socket, its lock and the caller's connection
 * stay open, named in o (arb_state_out_fd); *ret_obj (a new reference)
 * is the document's "control" object (FORMAT.md). Nothing else is freed.
 * 0, or -ENOMEM (the state is incomplete: take back).
 */
int arb_control_hand_over(struct arb_control *c, uint64_t caller_req_id,
			  const char *from, const char *to,
			  struct arb_state_out *o, json_t **ret_obj);

/*
 * The exec failed: the old image goes on. Accepts again and writes to
 * the caller, still waiting for its answer (ReexecFailed, by
 * arb_control_complete). The clients closed by the hand-over are gone.
 */
void arb_control_take_back(struct arb_control *c);

/*
 * In the new image: the control socket from the state's "control" object
 * obj (read from in: every value checked, each descriptor taken). The
 * listening socket is served again (its path and lock kept, so that close
 * removes it as before; systemd's stays systemd's), and the caller's
 * connection waits, under *ret_caller_req_id (0: no caller), for the
 * answer the runtime gives with arb_control_complete. spec, tree, hooks
 * and ctx as for arb_control_open. 0; -EINVAL (in->error says why),
 * -ENOMEM or -errno, when every descriptor it took is closed again and
 * the socket file is left where it is.
 */
int arb_control_resume(struct arb_control **ret, struct ev_loop *loop,
		       struct arb_state_in *in, const json_t *obj,
		       const struct arb_spec *spec, const struct arb_tree *tree,
		       const struct arb_control_hooks *hooks, void *ctx,
		       uint64_t *ret_caller_req_id);

/*
 * Ends every stream, writes what is queued (briefly waiting for slow
 * readers), closes every connection and removes the socket and its lock.
 * NULL is a no-op.
 */
void arb_control_close(struct arb_control *c);

#endif
