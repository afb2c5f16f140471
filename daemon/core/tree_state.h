/*
 * tree_state.h - the core's state, read out and put back, for a re-exec
 * of arbord (daemon/state/). Pure, like the rest of the core.
 *
 * A tree is saved between two steps: every node's fields, each
 * supervisor's job, restart history and queue, and the tree's counters.
 * The new image builds a tree for the restored spec (arb_tree_new) and puts
 * each saved piece back; times are CLOCK_MONOTONIC milliseconds, which an
 * execve(2) does not change, so deadlines and intensity windows carry over
 * as they are.
 *
 * Restoring trusts nothing (the state may be corrupted): every index, enum
 * and count is checked against the spec, and a state that the rules could
 * not have produced in a way that matters for memory (a cursor past the
 * children, a queued child of another supervisor, a history longer than
 * its ring) is refused with -EINVAL and a reason. A tree that refused a
 * restore is freed, never stepped.
 */
#ifndef ARB_TREE_STATE_H
#define ARB_TREE_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "tree.h"

/* A supervisor's transaction (tree_internal.h's sup_job, by value). */
enum arb_job {
	ARB_JOB_NONE,
	ARB_JOB_INIT,
	ARB_JOB_INIT_ABORT,
	ARB_JOB_RESTART,
	ARB_JOB_SHUTDOWN,
	ARB_JOB_REQUEST,
	_ARB_JOB_MAX
};

/* Why a SHUTDOWN job runs. */
enum arb_job_why {
	ARB_WHY_REQUESTED,
	ARB_WHY_GIVEUP,
	ARB_WHY_AUTO,
	_ARB_WHY_MAX
};

/* What waits in a busy supervisor's queue (M5). */
enum arb_queued_kind {
	ARB_QUEUED_EXIT,
	ARB_QUEUED_RETRY,
	ARB_QUEUED_DELAYED,
	ARB_QUEUED_SHUTDOWN,
	ARB_QUEUED_REQUEST,
	_ARB_QUEUED_MAX
};

/* One node, as struct node holds it (tree_internal.h). */
struct arb_node_state {
	enum arb_child_state state;
	bool present;
	int pid;
	uint32_t incarnation;
	uint32_t restarts;
	bool timer_armed;
	int64_t deadline_ms;
	int64_t since_ms;
	int64_t up_ms;
	bool start_failing;
	bool start_cancelled;
	bool aborting;
	bool delayed;
	int64_t backoff_ms;
	int last_err;
	enum arb_start_failure last_failure;
	bool exited;
	int exit_pid, exit_code, exit_signo;
	enum arb_reason last_reason;
};

struct arb_queued {
	enum arb_queued_kind kind;
	uint32_t child;
	uint32_t incarnation;
	enum arb_request_kind request; /* REQUEST */
	uint64_t req_id;
	enum arb_request_origin origin;
	uint32_t pos;
};

/* A supervisor's own part, as struct sup holds it. */
struct arb_sup_state {
	enum arb_job job;
	bool terminating;
	int32_t cursor;
	int32_t first, last;
	enum arb_job_why why;
	int auto_status; /* 0-255 */
	enum arb_request_kind request;
	uint64_t req_id;
	enum arb_request_origin origin;
	uint32_t target;
	uint32_t outstanding;
	uint64_t next_instance;
	/* Restart times, oldest first, and the queue in arrival order.
	 * Saving gives only the counts (the tree keeps both as rings: read
	 * each item with arb_tree_save_history/_queued); restoring reads
	 * them from these arrays, the caller's. */
	const int64_t *history;
	uint32_t nhistory;
	const struct arb_queued *queue;
	uint32_t nqueue;
};

/* The tree's own counters. */
struct arb_tree_globals {
	uint32_t incarnations;
	uint64_t rng;
	bool down;
};

/*
 * Whether t can be saved now: between steps, with the nodes that left in
 * the last step collected (arb_tree_collect(); their slots are free in
 * the spec saved), and nothing queued that holds a pointer (a REORDER,
 * whose order the living tree owns). The shell waits for a moment when
 * it can. False too after an OOM (the tree is unusable).
 */
bool arb_tree_savable(const struct arb_tree *t);

void arb_tree_save_globals(const struct arb_tree *t,
			   struct arb_tree_globals *ret);
/* Node must be a slot of the spec (unused slots save as DOWN). */
void arb_tree_save_node(const struct arb_tree *t, uint32_t node,
			struct arb_node_state *ret);
/* Node must be a supervisor. ret->history and ret->queue are NULL. */
void arb_tree_save_sup(const struct arb_tree *t, uint32_t node,
		       struct arb_sup_state *ret);
/* The i-th (oldest first) of ret->nhistory restart times of supervisor node. */
int64_t arb_tree_save_history(const struct arb_tree *t, uint32_t node,
			      uint32_t i);
/* The i-th (in arrival order) of ret->nqueue items of node's queue. */
void arb_tree_save_queued(const struct arb_tree *t, uint32_t node, uint32_t i,
			  struct arb_queued *ret);

/*
 * Into t, fresh from arb_tree_new() on the restored spec and not yet
 * stepped: the globals, then every node of the spec (arb_spec_is_node:
 * pool instances too; templates and free slots are no nodes and stay
 * DOWN), then every supervisor's part, then arb_tree_restore_done() to
 * check the whole (what each job waits for, what each parent does).
 * Each returns 0, -EINVAL with a static reason in *ret_why, or -ENOMEM.
 * Errno values are Linux's (the core has no errno.h): EINVAL 22, ENOMEM
 * 12. A node or supervisor left out keeps arb_tree_new()'s state (DOWN,
 * idle), which restore_done refuses where it does not fit. On any
 * failure the tree is to be freed, never stepped.
 */
int arb_tree_restore_globals(struct arb_tree *t,
			     const struct arb_tree_globals *g,
			     const char **ret_why);
int arb_tree_restore_node(struct arb_tree *t, uint32_t node,
			  const struct arb_node_state *s,
			  const char **ret_why);
int arb_tree_restore_sup(struct arb_tree *t, uint32_t node,
			 const struct arb_sup_state *s, const char **ret_why);
int arb_tree_restore_done(struct arb_tree *t, const char **ret_why);

/*
 * Name tables for the format (FORMAT.md), and their lookups (-1: unknown,
 * or NULL). States, reasons and failures use tree.h's names
 * (arb_child_state_name: "up", lower case).
 */
const char *arb_job_name(enum arb_job v);
const char *arb_job_why_name(enum arb_job_why v);
const char *arb_queued_kind_name(enum arb_queued_kind v);
const char *arb_request_name(enum arb_request_kind v);
const char *arb_origin_name(enum arb_request_origin v);
int arb_job_from_name(const char *name);
int arb_job_why_from_name(const char *name);
int arb_queued_kind_from_name(const char *name);
int arb_request_from_name(const char *name);
int arb_origin_from_name(const char *name);
int arb_child_state_from_name(const char *name);
int arb_reason_from_name(const char *name);
int arb_start_failure_from_name(const char *name);

#endif
