/*
 * tree.h - the pure supervision core.
 *
 * The core is one verb, arb_tree_step(): it is fed one event (a child's
 * process was spawned or died, a timer fired, the tree must start or stop,
 * with the current monotonic time) and returns actions (spawn this service,
 * signal that process group, arm this timer, report this supervision event,
 * exit). It makes no syscalls and reads no clock (STYLE.md 1; `make lint`
 * checks), so every rule of SEMANTICS.md is testable with a fake clock.
 *
 * Every node of the spec (tree.c mirrors spec indices) is a child of its
 * supervisor and has a state:
 *
 *   state        meaning                                  leaves on
 *   DOWN         no process; spec kept (OTP "stopped")    start
 *   STARTING     start requested, not yet started: its    SPAWNED -> UP, or
 *                process is being made, or runs but has   READY -> UP;
 *                not said it is ready yet (M6)            SPAWN_FAILED, death,
 *                                                         start_timeout -> DOWN;
 *                                                         a stop before exec
 *                                                         -> KILLING
 *   UP           running                                  own death -> EXITED,
 *                                                         terminate -> STOPPING
 *   EXITED       died by itself; its supervisor has not   supervisor decides
 *                yet decided (X2); a terminate absorbs it (X2) -> DOWN or a
 *                (ST6)                                     restart
 *   STOPPING     stop_signal sent (or, for a supervisor,  death -> DOWN,
 *                its shutdown requested)                  stop_timeout -> KILLING
 *   KILLING      SIGKILL sent to the process group        death -> DOWN
 *   RESTARTING   a restart attempt failed; a retry is     retry -> restart path
 *                queued to its supervisor (R1); or a
 *                restart waits out its restart_delay (M7) delay over -> restart
 *
 * A temporary child whose process is gone loses its spec (C2, T5): it is
 * DOWN and no longer `present` until its supervisor is rebuilt (I7).
 *
 * Each supervisor handles one thing at a time (M5). Its transactions are
 * jobs: INIT (start children in order, S1), INIT_ABORT (a start failed
 * during INIT: stop the started ones in reverse, S3), RESTART (terminate the
 * strategy's group in reverse, then start it in order, ST1-ST3) and SHUTDOWN
 * (terminate all in reverse order, T1). While a job runs, exits of other
 * children, retries and shutdown requests wait in the supervisor's own
 * queue, in arrival order. One exception: a stop of the child whose start
 * the job waits for, or a shutdown, while that child's process has not
 * exec'ed yet (a cwd or program on a hung file system can hold it there
 * for ever), cancels that start first: SIGKILL, and the start fails with
 * ARB_ECANCELED (a supervisor being started passes it on to the start its
 * own init waits for; the root's init so cancelled is a shutdown, exit
 * status 0, not a failed boot). Supervisors talk to each other only through one
 * message queue drained inside arb_tree_step(), never by recursion.
 */
#ifndef ARB_TREE_H
#define ARB_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spec.h"

enum arb_child_state {
	ARB_CHILD_DOWN,
	ARB_CHILD_STARTING,
	ARB_CHILD_UP,
	ARB_CHILD_EXITED,
	ARB_CHILD_STOPPING,
	ARB_CHILD_KILLING,
	ARB_CHILD_RESTARTING,
	_ARB_CHILD_STATE_MAX
};

enum arb_event_kind {
	ARB_EV_BOOT,         /* start the tree from the root */
	ARB_EV_SHUTDOWN,     /* stop the tree: parent-requested shutdown of the root (M10) */
	ARB_EV_SPAWNED,      /* node's process has exec'ed (or died before
				a word): pid */
	ARB_EV_SPAWN_FAILED, /* node's fork or exec failed: err (a positive errno) */
	ARB_EV_EXITED,       /* node's process pid died: code >= 0, or signo > 0 */
	ARB_EV_TIMER,        /* node's timer fired */
	ARB_EV_REQUEST,      /* an operator's request on node: request, req_id */
	ARB_EV_READY,        /* node's process pid said it is ready (M6) */
	ARB_EV_WATCHDOG,     /* node's keep-alive (WATCHDOG=1) */
	ARB_EV_WATCHDOG_TRIGGER, /* node asked to be treated as hung */
	ARB_EV_EXTEND_TIMEOUT,   /* node's start or stop deadline moves to at
				    least now + ms (EXTEND_TIMEOUT_USEC) */
	ARB_EV_MAINPID,      /* node's main process is now pid (MAINPID=) */
	_ARB_EV_MAX
};

/*
 * Operators' requests on one child, carried out by its supervisor between
 * its other work (M5), as OTP's terminate_child and restart_child (D2, D3).
 * None counts towards intensity, runs a strategy or triggers auto shutdown.
 */
enum arb_request_kind {
	ARB_REQ_START,   /* D3: start a stopped child */
	ARB_REQ_STOP,    /* D2: terminate it and keep it stopped */
	ARB_REQ_RESTART, /* terminate it if running, then start it */
	/*
	 * The living tree. ADD: node is in the spec but nobody's child yet
	 * (arb_spec_graft, arb_spec_instantiate); it becomes its parent's
	 * child at position pos (ARB_NONE: last) and is started as by
	 * OTP's start_child. REMOVE: terminate_child, then delete_child.
	 * CHANGE: a service with pending keys (arb_spec_set_pending) is
	 * restarted alone if it runs, so it takes them. REORDER: node is a
	 * supervisor whose children become order[0..norder).
	 */
	ARB_REQ_ADD,
	ARB_REQ_REMOVE,
	ARB_REQ_CHANGE,
	ARB_REQ_REORDER,
	_ARB_REQ_MAX
};

/*
 * Who asks for a change of shape. The configuration (a reload) changes the
 * spec whatever runs: a child of a supervisor that is down is added or
 * removed all the same. An operator (AddChild, RemoveChild, Spawn) gets
 * OTP's answers: NOT_RUNNING when the supervisor is not running, and a
 * child it added is gone again if its start fails.
 */
enum arb_request_origin {
	ARB_ORIGIN_OPERATOR,
	ARB_ORIGIN_CONFIG,
};

enum arb_reply_kind {
	ARB_REPLY_OK,
	ARB_REPLY_ALREADY_RUNNING, /* START of a running child */
	ARB_REPLY_RESTARTING,      /* START of a child with a retry pending */
	ARB_REPLY_NOT_FOUND,       /* a temporary child that is gone, the root */
	ARB_REPLY_NOT_RUNNING,     /* its supervisor is not running */
	ARB_REPLY_START_FAILED,    /* err: the start failed; it stays stopped */
	ARB_REPLY_ABORTED,         /* its supervisor went down first */
	ARB_REPLY_TEMPORARY,       /* RESTART of a temporary child: it would
				      lose its spec when stopped (C2) */
	ARB_REPLY_POOL_FULL,       /* ADD to a pool at its max_children */
	ARB_REPLY_EXISTS,          /* ADD of a name its parent already has */
	ARB_REPLY_POOL_INSTANCE,   /* RESTART of a pool instance (OTP's
				      simple_one_for_one error) */
	_ARB_REPLY_MAX
};

struct arb_event {
	enum arb_event_kind kind;
	uint32_t node;
	int pid;
	int code;  /* exit status, or -1 when killed by a signal */
	int signo; /* the killing signal, or 0 */
	int err;
	enum arb_request_kind request; /* REQUEST */
	uint64_t req_id;               /* REQUEST: echoed in its REPLY */
	enum arb_request_origin origin; /* REQUEST ADD and REMOVE */
	uint32_t pos;                  /* REQUEST ADD: ARB_NONE for last */
	const uint32_t *order;         /* REQUEST REORDER: borrowed until */
	uint32_t norder;               /* its REPLY */
	int64_t ms;                    /* EXTEND_TIMEOUT */
	int64_t now_ms; /* monotonic */
	bool oom;       /* EXITED: its cgroup's oom_kill count grew while it
			 * ran (the shell reads memory.events) */
};

enum arb_action_kind {
	ARB_ACT_SPAWN,        /* fork+exec node; answer SPAWNED or SPAWN_FAILED */
	ARB_ACT_TERMINATE,    /* stop_signal, then SIGCONT, to process group pid */
	ARB_ACT_KILL,         /* SIGKILL to process group pid; pid 0: to
				 the process of a start that has not
				 exec'ed yet (the shell knows it) */
	ARB_ACT_ABORT,        /* SIGABRT to process pid alone (the watchdog) */
	ARB_ACT_TIMER_SET,    /* (re)arm node's one timer to fire at at_ms */
	ARB_ACT_TIMER_CANCEL, /* disarm node's timer */
	ARB_ACT_REPORT,       /* a supervision event to log */
	ARB_ACT_EXIT,         /* the root is down; exit with exit_code (M10) */
	ARB_ACT_BUG,          /* an invariant broke: log `what`; tests abort */
	ARB_ACT_REPLY,        /* a REQUEST is done: req_id, reply, err */
	ARB_ACT_DELETE,       /* node has left the tree (removed, a pool
				 instance or added child that ended): drop
				 what is kept for it. Its spec node stays
				 readable until the next step, then its slot
				 is free (reused by a later node). */
	_ARB_ACT_MAX
};

enum arb_report_kind {
	ARB_REP_START,        /* started: a service with its pid, or a supervisor */
	ARB_REP_EXIT,         /* a service died by itself: pid, code/signo, reason */
	ARB_REP_STOP,         /* terminated by its supervisor (a service: how it died) */
	ARB_REP_GIVEUP,       /* a supervisor exceeded its restart intensity */
	ARB_REP_START_FAILED, /* a start failed: err for a service */
	ARB_REP_DOWN,         /* the root is gone */
	ARB_REP_READY,        /* a service with a readiness protocol is ready */
	ARB_REP_WATCHDOG,     /* a service missed its keep-alive: pid */
	ARB_REP_BACKOFF,      /* a restart waits delay_ms (M7) */
	ARB_REP_SHUTDOWN,     /* a supervisor shuts itself down (auto_shutdown) */
	_ARB_REP_MAX
};

enum arb_reason {
	ARB_REASON_NORMAL,   /* exit 0, or a normal_exit code */
	ARB_REASON_SHUTDOWN, /* killed by a SIGTERM arbord did not send (M2) */
	ARB_REASON_CRASH,    /* anything else */
	ARB_REASON_OOM,      /* SIGKILLed by the kernel's OOM killer in its
			      * cgroup: abnormal, as a crash is */
	_ARB_REASON_MAX
};

/*
 * Linux's ECANCELED (the shell checks): the err of a start that a stop or
 * shutdown cancelled before its process exec'ed.
 */
#define ARB_ECANCELED 125

/* Why a start failed (REPORT START_FAILED). */
enum arb_start_failure {
	ARB_FAIL_SPAWN,   /* fork or exec failed: err */
	ARB_FAIL_EXIT,    /* it died before it was ready: pid, code/signo */
	ARB_FAIL_TIMEOUT, /* not ready within start_timeout; then stopped */
	_ARB_FAIL_MAX
};

struct arb_action {
	enum arb_action_kind kind;
	uint32_t node;
	int pid;
	int64_t at_ms;             /* TIMER_SET */
	enum arb_report_kind report; /* REPORT */
	enum arb_reason reason;    /* REPORT EXIT */
	int code, signo;           /* REPORT EXIT and STOP */
	int err;                   /* REPORT START_FAILED, SPAWN */
	enum arb_start_failure failure; /* REPORT START_FAILED */
	int64_t delay_ms;          /* REPORT BACKOFF */
	int exit_code;             /* EXIT */
	bool exit_auto;            /* EXIT: after an automatic shutdown (A5),
				      not a give-up or a failed start */
	const char *what;          /* BUG: a static description */
	uint64_t req_id;           /* REPLY */
	enum arb_reply_kind reply; /* REPLY */
};

/* A growable array of actions; reuse one across steps (n is reset). */
struct arb_actions {
	struct arb_action *v;
	size_t n, cap;
};

void arb_actions_init(struct arb_actions *a);
void arb_actions_done(struct arb_actions *a);

/*
 * A tree in which every node is DOWN, for `spec` (borrowed: it must outlive
 * the tree). The tree changes the spec's shape (pool instances, children
 * that leave); whoever else changes it (a reload, an add) tells the tree
 * through the next event it feeds it. NULL on OOM.
 */
struct arb_tree *arb_tree_new(struct arb_spec *spec);

/*
 * Seeds the generator of the backoff's jitter (M7); the shell passes
 * something random, tests a constant. Any value, 0 included, is fine.
 */
void arb_tree_seed(struct arb_tree *t, uint64_t seed);
void arb_tree_free(struct arb_tree *t);

/*
 * Feeds one event. Actions are appended to out (out->n is reset first) and
 * must be carried out in order; the results of SPAWN come back as events.
 * Returns 0, or -1 when memory ran out (the tree is then unusable).
 */
int arb_tree_step(struct arb_tree *t, const struct arb_event *ev,
		  struct arb_actions *out);

/* What status shows of one node. */
struct arb_node_view {
	enum arb_child_state state;
	bool present;      /* false: a temporary child that is gone */
	int pid;           /* running services only */
	int64_t since_ms;  /* when it entered state (monotonic) */
	uint32_t restarts; /* restarts its supervisor decided */
	bool exited;       /* it died by itself at least once: */
	int exit_pid, exit_code, exit_signo; /* code -1 when signalled */
	enum arb_reason exit_reason;
	bool ready_wait;   /* STARTING with its process running, not ready */
	int64_t restart_at_ms; /* RESTARTING after a delay: when; else 0 */
};

void arb_tree_view(const struct arb_tree *t, uint32_t node,
		   struct arb_node_view *ret);

/* Read access for status and tests. */
enum arb_child_state arb_tree_state(const struct arb_tree *t, uint32_t node);
int arb_tree_pid(const struct arb_tree *t, uint32_t node);
bool arb_tree_present(const struct arb_tree *t, uint32_t node);
uint32_t arb_tree_restarts(const struct arb_tree *t, uint32_t node);
/* A supervisor in the middle of a start, restart or stop (M5). */
bool arb_tree_busy(const struct arb_tree *t, uint32_t node);
const struct arb_spec *arb_tree_spec(const struct arb_tree *t);

/* Room for an instance's name: a 64-bit counter in decimal, and a NUL. */
#define ARB_INSTANCE_NAME_SIZE 21

/*
 * The name of pool's next instance, in name: a counter per pool, in
 * decimal, that never goes back, not even across its restarts (a failed
 * spawn uses its number).
 */
void arb_tree_next_instance(struct arb_tree *t, uint32_t pool,
			    char name[ARB_INSTANCE_NAME_SIZE]);

/*
 * Frees the slots of the nodes that left the tree in the last step (each
 * step does it first anyway): call once its actions are carried out.
 */
void arb_tree_collect(struct arb_tree *t);

/* The tree is stopping (the root's shutdown began or waits) or down. */
bool arb_tree_stopping(const struct arb_tree *t);

/* Whether node is a pool's instance. */
bool arb_tree_is_instance(const struct arb_tree *t, uint32_t node);

/*
 * How many events of `kind` found nothing to do on a node in `state` (a
 * stale exit, a READY=1 nobody waits for, a timer that lost its reason).
 * Out-of-range arguments give the count of events for nodes the tree does
 * not have. For tests: an ignored pair is never an error.
 */
uint32_t arb_tree_ignored(const struct arb_tree *t, enum arb_child_state state,
			  enum arb_event_kind kind);

const char *arb_child_state_name(enum arb_child_state s);
const char *arb_reason_name(enum arb_reason r);
const char *arb_report_name(enum arb_report_kind r);
const char *arb_start_failure_name(enum arb_start_failure f);
const char *arb_reply_name(enum arb_reply_kind r);

/*
 * The M2 classification of a death arbord did not ask for; oom: the
 * shell saw the OOM killer act in its cgroup, which names a SIGKILL.
 */
enum arb_reason arb_exit_reason(const struct arb_spec_node *n, int code,
				int signo, bool oom);

/* Whether a death counts as abnormal: a crash or an OOM kill (M2). */
bool arb_reason_abnormal(enum arb_reason r);

#endif
