/*
 * tree_internal.h - what the two halves of the pure core share: tree.c
 * (the supervision rules) and tree_data.c (the data they work on, its
 * construction and read access, and the primitives that emit actions and
 * queue messages). Not an API: only tree*.c include it. Pure, like them.
 *
 * A supervisor does one job at a time (M5); what arrives meanwhile waits in
 * its queue (Q_*) and is drained, in arrival order, when the job is done.
 * A job walks a group of its children [first, last] with a cursor: its
 * terminate phase in reverse order (T1), its start phase in order (S1).
 * Each step waits for one child's answer (MSG_TERMINATED, MSG_STARTED or
 * MSG_START_FAILED) before the cursor moves on.
 *
 *   job          begun by                 phases             done ->
 *   NONE         -                        -                  drain the queue
 *   INIT         MSG_START from parent    start all          UP; MSG_STARTED
 *                (S1, I7)                                    to the parent
 *   INIT_ABORT   a start failed during    terminate the      DOWN;
 *                INIT (S3)                started, reverse   MSG_START_FAILED
 *                                                            (root: EXIT 1)
 *   RESTART      a child's exit that      terminate group,   drain the queue;
 *                restarts (ST1-ST3, R1)   then start it      a failed start
 *                                                            queues Q_RETRY
 *   SHUTDOWN     parent's MSG_SHUTDOWN,   terminate all,     STOPPING: DOWN,
 *                giveup (E1), auto        reverse            MSG_TERMINATED;
 *                shutdown (A5)                               else EXITED with
 *                                                            reason shutdown
 *                                                            (root: EXIT)
 *   REQUEST      an operator's start,     stop: terminate;   REPLY OK, drain;
 *                stop or restart of one   start: start;      a failed start:
 *                child (D2, D3)           restart: both      REPLY START_FAILED
 *
 * Events that find nothing to do (a stale exit, a READY=1 of a service that
 * is not waiting for it, a timer that lost its reason) are not errors: the
 * step counts each such (state, event) pair in `ignored`, which tests read
 * through arb_tree_ignored().
 */
#ifndef ARB_TREE_INTERNAL_H
#define ARB_TREE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spec.h"
#include "tree.h"

enum sup_job {
	JOB_NONE,
	JOB_INIT,       /* start every child in order (S1) */
	JOB_INIT_ABORT, /* a start failed during INIT: stop the started (S3) */
	JOB_RESTART,    /* terminate a group in reverse, start it in order */
	JOB_SHUTDOWN,   /* terminate every child in reverse order (T1) */
	JOB_REQUEST,    /* an operator's stop, start or restart of one child */
};

enum shutdown_why {
	WHY_REQUESTED, /* by the parent, or SIGTERM for the root */
	WHY_GIVEUP,    /* intensity exceeded (E1) */
	WHY_AUTO,      /* auto_shutdown (A5) */
};

/* What waits in a busy supervisor's queue (M5). */
enum qitem_kind {
	Q_EXIT,
	Q_RETRY,   /* R2: restart again, counted */
	Q_DELAYED, /* M7: a counted restart whose delay is over */
	Q_SHUTDOWN,
	Q_REQUEST,
};

struct qitem {
	enum qitem_kind kind;
	uint32_t child; /* node index */
	uint32_t incarnation;
	enum arb_request_kind request; /* Q_REQUEST */
	uint64_t req_id;
	enum arb_request_origin origin; /* ADD, REMOVE */
	uint32_t pos;                   /* ADD */
	const uint32_t *order;          /* REORDER */
	uint32_t norder;
};

struct sup {
	enum sup_job job;
	bool terminating; /* the job's phase: terminating, else starting */
	int32_t cursor;   /* position in spec children of the current step */
	int32_t first, last; /* the group, as positions */
	enum shutdown_why why;
	/* WHY_AUTO: the status, as a shell reports it, of the significant
	 * service whose exit began this shutdown, through the supervisors
	 * it cascaded up (1: one of them gave up). exit_status = "significant"
	 * makes it arbord's once it reaches the root. */
	int auto_status;
	enum arb_request_kind request; /* JOB_REQUEST */
	uint64_t req_id;
	enum arb_request_origin origin;
	uint32_t target; /* JOB_REQUEST: the child it is about */
	/* A pool stops its instances all at once: how many are still going. */
	uint32_t outstanding;
	uint64_t next_instance; /* a pool's next instance name (its counter) */

	/* Restart history: a ring of the last intensity + 1 restarts (M8). */
	int64_t *history;
	uint32_t hist_cap, hist_head, hist_len;

	struct qitem *queue;
	uint32_t q_head, q_len, q_cap;
};

/* Wider fields first, the flags together at the end: the tree holds one
 * node per service, and this order leaves no holes (104 bytes, not 128). */
struct node {
	const struct arb_spec_node *spec;
	struct sup *sup; /* supervisors only */
	int64_t deadline_ms; /* what the armed timer waits for */
	int64_t since_ms;
	int64_t up_ms;       /* when it last became UP (backoff reset) */
	int64_t backoff_ms;  /* the last nominal restart delay; 0: none yet */
	uint32_t pos; /* position among its supervisor's children */
	enum arb_child_state state;
	int pid;
	uint32_t incarnation; /* bumped at every start; tags queued exits */
	uint32_t restarts;
	int last_err; /* errno of its last failed spawn */
	enum arb_start_failure last_failure;
	int exit_pid, exit_code, exit_signo; /* the last death by itself */
	enum arb_reason last_reason;
	bool present;
	bool timer_armed;
	/* Services: why the timer runs, besides the state's own deadline. */
	bool start_failing;  /* STOPPING/KILLING after start_timeout */
	bool start_cancelled; /* KILLING: a stop came before it exec'ed */
	bool aborting;       /* UP, SIGABRT sent by the watchdog */
	bool delayed;        /* RESTARTING until its restart_delay is over */
	bool exited;  /* the last death was by itself: exit_* say how */
	bool deleted;    /* has left the tree; its slot is freed next step */
};

/* Messages between nodes, drained by arb_tree_step(). */
enum msg_kind {
	MSG_START,        /* parent -> sup: run your INIT */
	MSG_SHUTDOWN,     /* parent -> sup: terminate yourself */
	MSG_STARTED,      /* child -> parent: my start succeeded */
	MSG_START_FAILED, /* child -> parent: my start failed */
	MSG_TERMINATED,   /* child -> parent: the termination you asked is done */
	MSG_EXITED,       /* child -> parent: I died by myself */
	MSG_DELAY_OVER,   /* child -> parent: my restart_delay is over (M7) */
};

struct msg {
	enum msg_kind kind;
	uint32_t to, from;
	uint32_t incarnation;
};

struct arb_tree {
	struct arb_spec *spec;
	struct node *nodes;
	uint32_t nnodes, ncap;
	/* Slots below this have been cleared once; those above it (room the
	 * array doubled into) are untouched, and their pages unmapped. */
	uint32_t ncleared;
	/* The spec's generation last read: its shape and supervisors' flags. */
	uint64_t generation;
	const struct arb_spec_node *spec_base; /* spec->nodes when last read */
	/* Nodes that left the tree in the last step, freed at the next. */
	uint32_t *deleted;
	uint32_t ndeleted, deleted_cap;
	uint32_t *scratch; /* room for one supervisor's children (reorder) */
	uint32_t scratch_cap;
	struct msg *msgs;
	uint32_t m_head, m_len, m_cap;
	int64_t now_ms;
	struct arb_actions *out;
	bool oom;
	bool down; /* the root is gone; only stray events may follow */
	/* Events that changed nothing, by the node's state when they came;
	 * ignored_stray: for a node the tree does not have. */
	uint32_t ignored[_ARB_CHILD_STATE_MAX][_ARB_EV_MAX];
	uint32_t ignored_stray;
	uint64_t rng; /* the backoff's jitter (xorshift64*) */
	uint32_t incarnations; /* the last start's number, tree-wide */
};

/* ---- tree_data.c: actions ---- */

/* Appends an action (NULL, with t->oom set, when memory ran out). */
struct arb_action *tree_emit(struct arb_tree *t, enum arb_action_kind kind,
			     uint32_t node);
/* TERMINATE or KILL of node's process group pid. */
void tree_emit_signal(struct arb_tree *t, enum arb_action_kind kind,
		      uint32_t node, int pid);
/* A supervision event; fields beyond node are the caller's to fill. */
struct arb_action *tree_report(struct arb_tree *t, enum arb_report_kind what,
			       uint32_t node);
/* An invariant broke (STYLE.md 3): the shell decides what to do. */
void tree_bug(struct arb_tree *t, uint32_t node, const char *what);
/* The answer to an operator's request. */
void tree_reply(struct arb_tree *t, uint32_t node, uint64_t req_id,
		enum arb_reply_kind what, int err);
void tree_timer_set(struct arb_tree *t, uint32_t node, int64_t at_ms);
void tree_timer_cancel(struct arb_tree *t, uint32_t node);

/* ---- tree_data.c: the spec's shape ---- */

/*
 * Re-reads what the tree derives from the spec after its shape or a
 * supervisor's flags changed (nodes, positions, restart history rings).
 * False, with t->oom set, when memory ran out.
 */
bool tree_sync(struct arb_tree *t);
/* Positions of sup's children after they moved. */
void tree_number_children(struct arb_tree *t, uint32_t sup);
/* Node (with its subtree) has left the tree: DELETE actions, deepest first;
 * its slots are freed at the next step. It must be down. */
void tree_delete(struct arb_tree *t, uint32_t node);
/* Frees the slots of the nodes deleted in the last step. */
void tree_release_deleted(struct arb_tree *t);
/* Pool's next instance name (ARB_INSTANCE_NAME_SIZE bytes), its counter
 * moved on. */
void tree_next_instance(struct arb_tree *t, uint32_t pool, char *name);

/* Room for n indices, valid until the next call; NULL (t->oom) on OOM. */
uint32_t *tree_scratch(struct arb_tree *t, uint32_t n);

/* ---- tree_data.c: queues ---- */

/* A message to node `to` from `from` (ARB_NONE: from the parent). */
void tree_post(struct arb_tree *t, enum msg_kind kind, uint32_t to,
	       uint32_t from);
/* Appends to a supervisor's queue (M5); NULL, with t->oom set, on OOM. */
struct qitem *tree_enqueue(struct arb_tree *t, struct sup *s,
			   enum qitem_kind kind, uint32_t child,
			   uint32_t incarnation);
bool tree_dequeue(struct sup *s, struct qitem *ret);

#endif
