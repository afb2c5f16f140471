/*
 * tree.c - the supervision core: OTP's supervisor rules over a tree of
 * services and supervisors (SEMANTICS.md sections 1-10 and 13).
 *
 * Pure: no syscalls, no clock, no libev (STYLE.md 1). Time arrives in each
 * event; effects leave as actions. Supervisors never call into each other:
 * they post messages to one queue that arb_tree_step() drains, so a deep
 * tree never recurses and every step is bounded by the work it causes.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mem.h"
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
enum qitem_kind { Q_EXIT, Q_RETRY, Q_SHUTDOWN, Q_REQUEST };

struct qitem {
	enum qitem_kind kind;
	uint32_t child; /* node index */
	uint32_t incarnation;
	enum arb_request_kind request; /* Q_REQUEST */
	uint64_t req_id;
};

struct sup {
	enum sup_job job;
	bool terminating; /* the job's phase: terminating, else starting */
	int32_t cursor;   /* position in spec children of the current step */
	int32_t first, last; /* the group, as positions */
	enum shutdown_why why;
	enum arb_request_kind request; /* JOB_REQUEST */
	uint64_t req_id;

	/* Restart history: a ring of the last intensity + 1 restarts (M8). */
	int64_t *history;
	uint32_t hist_cap, hist_head, hist_len;

	struct qitem *queue;
	uint32_t q_head, q_len, q_cap;
};

struct node {
	const struct arb_spec_node *spec;
	uint32_t pos; /* position among its supervisor's children */
	enum arb_child_state state;
	bool present;
	int pid;
	uint32_t incarnation; /* bumped at every start; tags queued exits */
	uint32_t restarts;
	bool timer_armed;
	int64_t since_ms;
	int last_err; /* errno of its last failed spawn */
	bool exited;  /* the last death by itself: */
	int exit_pid, exit_code, exit_signo;
	enum arb_reason last_reason;
	struct sup *sup; /* supervisors only */
};

/* Messages between nodes, drained by arb_tree_step(). */
enum msg_kind {
	MSG_START,        /* parent -> sup: run your INIT */
	MSG_SHUTDOWN,     /* parent -> sup: terminate yourself */
	MSG_STARTED,      /* child -> parent: my start succeeded */
	MSG_START_FAILED, /* child -> parent: my start failed */
	MSG_TERMINATED,   /* child -> parent: the termination you asked is done */
	MSG_EXITED,       /* child -> parent: I died by myself */
};

struct msg {
	enum msg_kind kind;
	uint32_t to, from;
	uint32_t incarnation;
};

struct arb_tree {
	const struct arb_spec *spec;
	struct node *nodes;
	uint32_t nnodes;
	struct msg *msgs;
	uint32_t m_head, m_len, m_cap;
	int64_t now_ms;
	struct arb_actions *out;
	bool oom;
	bool down; /* the root is gone; only stray events may follow */
};

static const char *const state_names[_ARB_CHILD_STATE_MAX] = {
	[ARB_CHILD_DOWN] = "down",
	[ARB_CHILD_STARTING] = "starting",
	[ARB_CHILD_UP] = "up",
	[ARB_CHILD_EXITED] = "exited",
	[ARB_CHILD_STOPPING] = "stopping",
	[ARB_CHILD_KILLING] = "killing",
	[ARB_CHILD_RESTARTING] = "restarting",
};

static const char *const reason_names[_ARB_REASON_MAX] = {
	[ARB_REASON_NORMAL] = "normal",
	[ARB_REASON_SHUTDOWN] = "shutdown",
	[ARB_REASON_CRASH] = "crash",
};

static const char *const reply_names[_ARB_REPLY_MAX] = {
	[ARB_REPLY_OK] = "ok",
	[ARB_REPLY_ALREADY_RUNNING] = "already_running",
	[ARB_REPLY_RESTARTING] = "restarting",
	[ARB_REPLY_NOT_FOUND] = "not_found",
	[ARB_REPLY_NOT_RUNNING] = "not_running",
	[ARB_REPLY_START_FAILED] = "start_failed",
	[ARB_REPLY_ABORTED] = "aborted",
	[ARB_REPLY_TEMPORARY] = "temporary",
};

static const char *const report_names[_ARB_REP_MAX] = {
	[ARB_REP_START] = "start",
	[ARB_REP_EXIT] = "exit",
	[ARB_REP_STOP] = "stop",
	[ARB_REP_GIVEUP] = "giveup",
	[ARB_REP_START_FAILED] = "start_failed",
	[ARB_REP_DOWN] = "down",
};

const char *
arb_child_state_name(enum arb_child_state s)
{
	return s < _ARB_CHILD_STATE_MAX ? state_names[s] : "?";
}

const char *
arb_reason_name(enum arb_reason r)
{
	return r < _ARB_REASON_MAX ? reason_names[r] : "?";
}

const char *
arb_reply_name(enum arb_reply_kind r)
{
	return r < _ARB_REPLY_MAX ? reply_names[r] : "?";
}

const char *
arb_report_name(enum arb_report_kind r)
{
	return r < _ARB_REP_MAX ? report_names[r] : "?";
}

enum arb_reason
arb_exit_reason(const struct arb_spec_node *n, int code, int signo)
{
	if (signo == 0 && arb_spec_exit_is_normal(n, code))
		return ARB_REASON_NORMAL;
	if (signo == ARB_SIGTERM)
		return ARB_REASON_SHUTDOWN;
	return ARB_REASON_CRASH;
}

/* ---- actions ---------------------------------------------------------- */

void
arb_actions_init(struct arb_actions *a)
{
	memset(a, 0, sizeof(*a));
}

void
arb_actions_done(struct arb_actions *a)
{
	arb_free(a->v);
	memset(a, 0, sizeof(*a));
}

static struct arb_action *
emit(struct arb_tree *t, enum arb_action_kind kind, uint32_t node)
{
	struct arb_actions *a = t->out;
	struct arb_action *act;

	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		struct arb_action *v = arb_reallocarray(a->v, cap, sizeof(*v));

		if (!v) {
			t->oom = true;
			return NULL;
		}
		a->v = v;
		a->cap = cap;
	}
	act = &a->v[a->n++];
	memset(act, 0, sizeof(*act));
	act->kind = kind;
	act->node = node;
	return act;
}

static void
emit_signal(struct arb_tree *t, enum arb_action_kind kind, uint32_t node,
	    int pid)
{
	struct arb_action *act = emit(t, kind, node);

	if (act)
		act->pid = pid;
}

static struct arb_action *
report(struct arb_tree *t, enum arb_report_kind what, uint32_t node)
{
	struct arb_action *act = emit(t, ARB_ACT_REPORT, node);

	if (act)
		act->report = what;
	return act;
}

/*
 * An invariant broke (STYLE.md 3). The core cannot log or abort: it says
 * so, and the shell decides (tests abort; arbord logs and carries on).
 */
static void
tree_bug(struct arb_tree *t, uint32_t node, const char *what)
{
	struct arb_action *act = emit(t, ARB_ACT_BUG, node);

	if (act)
		act->what = what;
}

static void
reply(struct arb_tree *t, uint32_t node, uint64_t req_id,
      enum arb_reply_kind what, int err)
{
	struct arb_action *act = emit(t, ARB_ACT_REPLY, node);

	if (!act)
		return;
	act->req_id = req_id;
	act->reply = what;
	act->err = err;
}

static void
timer_set(struct arb_tree *t, uint32_t node, int64_t at_ms)
{
	struct arb_action *act = emit(t, ARB_ACT_TIMER_SET, node);

	if (act)
		act->at_ms = at_ms;
	t->nodes[node].timer_armed = true;
}

static void
timer_cancel(struct arb_tree *t, uint32_t node)
{
	if (!t->nodes[node].timer_armed)
		return;
	emit(t, ARB_ACT_TIMER_CANCEL, node);
	t->nodes[node].timer_armed = false;
}

/* ---- queues ----------------------------------------------------------- */

static bool
grow_ring(void **v, uint32_t *cap, uint32_t head, uint32_t len, size_t size)
{
	uint32_t ncap = *cap ? *cap * 2 : 8;
	char *nv = arb_calloc(ncap, size);

	if (!nv)
		return false;
	for (uint32_t i = 0; i < len; i++)
		memcpy(nv + i * size, (char *)*v + ((head + i) % *cap) * size,
		       size);
	arb_free(*v);
	*v = nv;
	*cap = ncap;
	return true;
}

static void
post(struct arb_tree *t, enum msg_kind kind, uint32_t to, uint32_t from)
{
	struct msg *m;

	if (t->m_len == t->m_cap) {
		void *v = t->msgs;

		if (!grow_ring(&v, &t->m_cap, t->m_head, t->m_len,
			       sizeof(*t->msgs))) {
			t->oom = true;
			return;
		}
		t->msgs = v;
		t->m_head = 0;
	}
	m = &t->msgs[(t->m_head + t->m_len++) % t->m_cap];
	m->kind = kind;
	m->to = to;
	m->from = from;
	m->incarnation = from == ARB_NONE ? 0 : t->nodes[from].incarnation;
}

static struct qitem *
enqueue(struct arb_tree *t, struct sup *s, enum qitem_kind kind,
	uint32_t child, uint32_t incarnation)
{
	struct qitem *q;

	if (s->q_len == s->q_cap) {
		void *v = s->queue;

		if (!grow_ring(&v, &s->q_cap, s->q_head, s->q_len,
			       sizeof(*s->queue))) {
			t->oom = true;
			return NULL;
		}
		s->queue = v;
		s->q_head = 0;
	}
	q = &s->queue[(s->q_head + s->q_len++) % s->q_cap];
	memset(q, 0, sizeof(*q));
	q->kind = kind;
	q->child = child;
	q->incarnation = incarnation;
	return q;
}

static bool
dequeue(struct sup *s, struct qitem *ret)
{
	if (s->q_len == 0)
		return false;
	*ret = s->queue[s->q_head];
	s->q_head = (s->q_head + 1) % s->q_cap;
	s->q_len--;
	return true;
}

/* ---- tree construction ------------------------------------------------ */

struct arb_tree *
arb_tree_new(const struct arb_spec *spec)
{
	struct arb_tree *t = arb_calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->spec = spec;
	t->nnodes = spec->nnodes;
	t->nodes = arb_calloc(spec->nnodes, sizeof(*t->nodes));
	if (!t->nodes)
		goto fail;
	for (uint32_t i = 0; i < spec->nnodes; i++) {
		struct node *n = &t->nodes[i];

		n->spec = &spec->nodes[i];
		n->present = true;
		if (n->spec->kind != ARB_NODE_SUPERVISOR)
			continue;
		for (uint32_t j = 0; j < n->spec->nchildren; j++)
			t->nodes[n->spec->children[j]].pos = j;
		n->sup = arb_calloc(1, sizeof(*n->sup));
		if (!n->sup)
			goto fail;
		n->sup->hist_cap = n->spec->intensity + 1;
		n->sup->history = arb_calloc(n->sup->hist_cap,
					     sizeof(*n->sup->history));
		if (!n->sup->history)
			goto fail;
	}
	return t;
fail:
	arb_tree_free(t);
	return NULL;
}

void
arb_tree_free(struct arb_tree *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; t->nodes && i < t->nnodes; i++) {
		struct sup *s = t->nodes[i].sup;

		if (!s)
			continue;
		arb_free(s->history);
		arb_free(s->queue);
		arb_free(s);
	}
	arb_free(t->nodes);
	arb_free(t->msgs);
	arb_free(t);
}

enum arb_child_state
arb_tree_state(const struct arb_tree *t, uint32_t node)
{
	return t->nodes[node].state;
}

int
arb_tree_pid(const struct arb_tree *t, uint32_t node)
{
	return t->nodes[node].pid;
}

bool
arb_tree_present(const struct arb_tree *t, uint32_t node)
{
	return t->nodes[node].present;
}

uint32_t
arb_tree_restarts(const struct arb_tree *t, uint32_t node)
{
	return t->nodes[node].restarts;
}

void
arb_tree_view(const struct arb_tree *t, uint32_t node,
	      struct arb_node_view *ret)
{
	const struct node *n = &t->nodes[node];

	memset(ret, 0, sizeof(*ret));
	ret->state = n->state;
	ret->present = n->present;
	ret->pid = n->pid;
	ret->since_ms = n->since_ms;
	ret->restarts = n->restarts;
	ret->exited = n->exited;
	ret->exit_pid = n->exit_pid;
	ret->exit_code = n->exit_code;
	ret->exit_signo = n->exit_signo;
	ret->exit_reason = n->last_reason;
}

bool
arb_tree_busy(const struct arb_tree *t, uint32_t node)
{
	return t->nodes[node].sup && t->nodes[node].sup->job != JOB_NONE;
}

const struct arb_spec *
arb_tree_spec(const struct arb_tree *t)
{
	return t->spec;
}

/* ---- helpers ------------------------------------------------------------ */

static uint32_t
child_at(const struct arb_tree *t, uint32_t sup, int32_t pos)
{
	return t->spec->nodes[sup].children[pos];
}

static uint32_t
parent_of(const struct arb_tree *t, uint32_t node)
{
	return t->spec->nodes[node].parent;
}

/* The only place that assigns a node's state (STYLE.md 2). */
static void
child_enter(struct arb_tree *t, uint32_t node, enum arb_child_state state)
{
	if (t->nodes[node].state != state)
		t->nodes[node].since_ms = t->now_ms;
	t->nodes[node].state = state;
}

/* After a termination or a death that is not restarted (C2, T5). */
static void
child_stopped(struct arb_tree *t, uint32_t node)
{
	struct node *n = &t->nodes[node];

	n->pid = 0;
	if (n->spec->restart == ARB_TEMPORARY)
		n->present = false;
	child_enter(t, node, ARB_CHILD_DOWN);
}

/* Alive from the supervisor's point of view: it must be terminated. */
static bool
needs_termination(const struct node *n)
{
	return n->state == ARB_CHILD_UP || n->state == ARB_CHILD_EXITED;
}

/* ---- intensity (SEMANTICS.md section 6, M8) -------------------------- */

/*
 * Records a restart at now and tells whether the limit is exceeded: keep
 * restarts with t >= now - period, add now, exceeded when the count is
 * greater than intensity (I2). The ring holds intensity + 1 entries, which
 * is all the test needs.
 */
static bool
intensity_exceeded(struct sup *s, const struct arb_spec_node *spec,
		   int64_t now_ms)
{
	while (s->hist_len > 0 &&
	       s->history[s->hist_head] < now_ms - spec->period_ms) {
		s->hist_head = (s->hist_head + 1) % s->hist_cap;
		s->hist_len--;
	}
	if (s->hist_len == s->hist_cap) {
		s->hist_head = (s->hist_head + 1) % s->hist_cap;
		s->hist_len--;
	}
	s->history[(s->hist_head + s->hist_len++) % s->hist_cap] = now_ms;
	return s->hist_len > spec->intensity;
}

/* ---- starting and terminating one child -------------------------------- */

/* Begins the start of child; its parent's job waits for STARTED/START_FAILED. */
static void
start_child(struct arb_tree *t, uint32_t child)
{
	struct node *n = &t->nodes[child];

	n->incarnation++;
	child_enter(t, child, ARB_CHILD_STARTING);
	if (n->spec->kind == ARB_NODE_SERVICE)
		emit(t, ARB_ACT_SPAWN, child);
	else
		post(t, MSG_START, child, ARB_NONE);
}

/*
 * Begins the termination of child (T2, M3). Returns true when it is over at
 * once: the child had already died and its pending exit is absorbed (ST6).
 */
static bool
terminate_child(struct arb_tree *t, uint32_t child)
{
	struct node *n = &t->nodes[child];

	if (n->state == ARB_CHILD_EXITED) {
		child_stopped(t, child);
		return true;
	}
	if (n->spec->kind == ARB_NODE_SUPERVISOR) {
		child_enter(t, child, ARB_CHILD_STOPPING);
		post(t, MSG_SHUTDOWN, child, ARB_NONE);
		return false;
	}
	if (n->spec->stop_timeout_ms == 0) {
		emit_signal(t, ARB_ACT_KILL, child, n->pid);
		child_enter(t, child, ARB_CHILD_KILLING);
		return false;
	}
	emit_signal(t, ARB_ACT_TERMINATE, child, n->pid);
	if (n->spec->stop_timeout_ms != ARB_INFINITY_MS)
		timer_set(t, child, t->now_ms + n->spec->stop_timeout_ms);
	child_enter(t, child, ARB_CHILD_STOPPING);
	return false;
}

/* ---- supervisor jobs ------------------------------------------------------ */

static void sup_advance(struct arb_tree *t, uint32_t sup);
static void sup_drain(struct arb_tree *t, uint32_t sup);

/* Whether the job starts its group once it is terminated. */
static bool
job_starts(const struct sup *s)
{
	return s->job == JOB_RESTART ||
	       (s->job == JOB_REQUEST && s->request != ARB_REQ_STOP);
}

static void
job_begin(struct arb_tree *t, uint32_t sup, enum sup_job job, int32_t first,
	  int32_t last)
{
	struct sup *s = t->nodes[sup].sup;

	s->job = job;
	s->first = first;
	s->last = last;
	s->terminating = job != JOB_INIT &&
			 !(job == JOB_REQUEST && s->request == ARB_REQ_START);
	s->cursor = s->terminating ? last : first;
	sup_advance(t, sup);
}

static void
shutdown_begin(struct arb_tree *t, uint32_t sup, enum shutdown_why why)
{
	const struct arb_spec_node *spec = &t->spec->nodes[sup];

	t->nodes[sup].sup->why = why;
	job_begin(t, sup, JOB_SHUTDOWN, 0, (int32_t)spec->nchildren - 1);
}

/* The root has no parent: its end is the end of arbord (M10). */
static void
root_down(struct arb_tree *t, int exit_code)
{
	struct arb_action *act;

	report(t, ARB_REP_DOWN, ARB_ROOT);
	act = emit(t, ARB_ACT_EXIT, ARB_ROOT);
	if (act)
		act->exit_code = exit_code;
	t->down = true;
}

/* The instance is gone: its queue with it; pending requests are answered. */
static void
sup_reset_queue(struct arb_tree *t, struct sup *s)
{
	struct qitem q;

	while (dequeue(s, &q))
		if (q.kind == Q_REQUEST)
			reply(t, q.child, q.req_id, ARB_REPLY_ABORTED, 0);
	s->q_head = 0;
}

static void
init_done(struct arb_tree *t, uint32_t sup)
{
	child_enter(t, sup, ARB_CHILD_UP);
	if (sup != ARB_ROOT)
		post(t, MSG_STARTED, parent_of(t, sup), sup);
	sup_drain(t, sup);
}

/* S3: the supervisor could not start; its started children are stopped. */
static void
init_failed(struct arb_tree *t, uint32_t sup)
{
	sup_reset_queue(t, t->nodes[sup].sup);
	report(t, ARB_REP_START_FAILED, sup);
	child_enter(t, sup, ARB_CHILD_DOWN);
	if (sup == ARB_ROOT)
		root_down(t, 1);
	else
		post(t, MSG_START_FAILED, parent_of(t, sup), sup);
}

/*
 * All children terminated. A supervisor whose parent asked for it reports
 * the termination done (T7); one that gave up or shut itself down exits by
 * itself with reason shutdown (E1, A5, M9) and its parent decides (E2).
 */
static void
shutdown_done(struct arb_tree *t, uint32_t sup)
{
	const struct arb_spec_node *spec = &t->spec->nodes[sup];
	struct node *n = &t->nodes[sup];
	enum shutdown_why why = n->sup->why;

	/* The instance is gone, and with it its queue and pending retries. */
	sup_reset_queue(t, n->sup);
	for (uint32_t i = 0; i < spec->nchildren; i++)
		if (t->nodes[spec->children[i]].state == ARB_CHILD_RESTARTING)
			child_enter(t, spec->children[i], ARB_CHILD_DOWN);
	if (sup == ARB_ROOT) {
		root_down(t, why == WHY_GIVEUP ? 1 : 0);
		return;
	}
	if (n->state == ARB_CHILD_STOPPING) {
		/* Its parent is waiting for it: this is that termination. */
		if (why == WHY_REQUESTED)
			report(t, ARB_REP_STOP, sup);
		child_stopped(t, sup);
		post(t, MSG_TERMINATED, parent_of(t, sup), sup);
		return;
	}
	n->last_reason = ARB_REASON_SHUTDOWN;
	n->exited = true;
	n->exit_pid = 0;
	n->exit_code = -1;
	n->exit_signo = 0;
	child_enter(t, sup, ARB_CHILD_EXITED);
	post(t, MSG_EXITED, parent_of(t, sup), sup);
}

static void
job_done(struct arb_tree *t, uint32_t sup)
{
	struct sup *s = t->nodes[sup].sup;
	enum sup_job job = s->job;

	s->job = JOB_NONE;
	switch (job) {
	case JOB_INIT:
		init_done(t, sup);
		return;
	case JOB_INIT_ABORT:
		init_failed(t, sup);
		return;
	case JOB_RESTART:
		sup_drain(t, sup);
		return;
	case JOB_REQUEST:
		reply(t, child_at(t, sup, s->first), s->req_id, ARB_REPLY_OK, 0);
		sup_drain(t, sup);
		return;
	case JOB_SHUTDOWN:
		shutdown_done(t, sup);
		return;
	case JOB_NONE:
		return;
	}
}

/*
 * Runs the current job of sup as far as it goes without waiting: the
 * terminate phase walks the group in reverse (T1), skipping children that
 * are not running; the start phase walks it in order (S1) starting every
 * child that still has a spec, stopped ones included (ST2, ST3).
 */
static void
sup_advance(struct arb_tree *t, uint32_t sup)
{
	struct sup *s = t->nodes[sup].sup;

	if (s->terminating) {
		for (; s->cursor >= s->first; s->cursor--) {
			uint32_t child = child_at(t, sup, s->cursor);

			if (!needs_termination(&t->nodes[child]))
				continue;
			if (!terminate_child(t, child))
				return;
		}
		if (!job_starts(s)) {
			job_done(t, sup);
			return;
		}
		s->terminating = false;
		s->cursor = s->first;
	}
	for (; s->cursor <= s->last; s->cursor++) {
		uint32_t child = child_at(t, sup, s->cursor);

		if (t->nodes[child].present) {
			start_child(t, child);
			return;
		}
	}
	job_done(t, sup);
}

/* ---- what a supervisor does with a child's death (section 4) ---------- */

/*
 * A8-A5: after a significant child ended without restart. Stopped children
 * do not count as running; restarting ones do (A3).
 */
static void
auto_shutdown_check(struct arb_tree *t, uint32_t sup, uint32_t child)
{
	const struct arb_spec_node *spec = &t->spec->nodes[sup];

	if (spec->auto_shutdown == ARB_AUTO_NEVER ||
	    !t->spec->nodes[child].significant)
		return;
	if (spec->auto_shutdown == ARB_AUTO_ALL_SIGNIFICANT) {
		for (uint32_t i = 0; i < spec->nchildren; i++) {
			const struct node *n = &t->nodes[spec->children[i]];

			if (n->spec->significant && n->present &&
			    n->state != ARB_CHILD_DOWN)
				return;
		}
	}
	shutdown_begin(t, sup, WHY_AUTO);
}

/* X3, ST1-ST4, E1: count the restart, then give up or restart the group. */
static void
try_restart(struct arb_tree *t, uint32_t sup, uint32_t child)
{
	const struct arb_spec_node *spec = &t->spec->nodes[sup];
	struct node *n = &t->nodes[child];
	int32_t pos = (int32_t)n->pos;
	int32_t last = (int32_t)spec->nchildren - 1;

	if (intensity_exceeded(t->nodes[sup].sup, spec, t->now_ms)) {
		report(t, ARB_REP_GIVEUP, sup);
		child_enter(t, child, ARB_CHILD_DOWN);
		shutdown_begin(t, sup, WHY_GIVEUP);
		return;
	}
	n->restarts++;
	n->pid = 0;
	child_enter(t, child, ARB_CHILD_DOWN);
	switch (spec->strategy) {
	case ARB_ONE_FOR_ALL:
		job_begin(t, sup, JOB_RESTART, 0, last);
		return;
	case ARB_REST_FOR_ONE:
		job_begin(t, sup, JOB_RESTART, pos, last);
		return;
	case ARB_ONE_FOR_ONE:
	case _ARB_STRATEGY_MAX:
		job_begin(t, sup, JOB_RESTART, pos, pos);
		return;
	}
}

/* X1, X2, X4: the decision for a child that died by itself. */
static void
handle_exit(struct arb_tree *t, uint32_t sup, uint32_t child,
	    uint32_t incarnation)
{
	struct node *n = &t->nodes[child];
	bool normal = n->last_reason != ARB_REASON_CRASH;

	if (n->state != ARB_CHILD_EXITED || n->incarnation != incarnation)
		return; /* X1: absorbed by a termination, or stale */
	if (n->spec->restart == ARB_TEMPORARY ||
	    (n->spec->restart == ARB_TRANSIENT && normal)) {
		child_stopped(t, child);
		auto_shutdown_check(t, sup, child);
		return;
	}
	try_restart(t, sup, child);
}

/*
 * R2: a retry is the whole restart path again, counted. Two retries of one
 * child may be queued (its group restarted it, then failed it again); each
 * acts only if the child is still restarting, as OTP's try_again_restart.
 */
static void
handle_retry(struct arb_tree *t, uint32_t sup, uint32_t child)
{
	if (t->nodes[child].state == ARB_CHILD_RESTARTING)
		try_restart(t, sup, child);
}

/*
 * D2, D3 and restart, for an idle supervisor: answered at once when there
 * is nothing to do, else carried out as a job over the child's one slot.
 */
static void
handle_request(struct arb_tree *t, uint32_t sup, const struct qitem *q)
{
	struct node *n = &t->nodes[q->child];
	struct sup *s = t->nodes[sup].sup;
	bool running = needs_termination(n);

	if (!n->present) {
		reply(t, q->child, q->req_id, ARB_REPLY_NOT_FOUND, 0);
		return;
	}
	switch (q->request) {
	case ARB_REQ_START:
		if (running || n->state == ARB_CHILD_RESTARTING) {
			reply(t, q->child, q->req_id,
			      running ? ARB_REPLY_ALREADY_RUNNING
				      : ARB_REPLY_RESTARTING, 0);
			return;
		}
		break;
	case ARB_REQ_STOP:
		if (!running) {
			/* D2: a pending retry is cancelled. */
			child_enter(t, q->child, ARB_CHILD_DOWN);
			reply(t, q->child, q->req_id, ARB_REPLY_OK, 0);
			return;
		}
		break;
	case ARB_REQ_RESTART:
		/* C2: stopping deletes its spec, so it could not start again;
		 * OTP refuses restart_child of a temporary child too. */
		if (n->spec->restart == ARB_TEMPORARY) {
			reply(t, q->child, q->req_id, ARB_REPLY_TEMPORARY, 0);
			return;
		}
		if (n->state == ARB_CHILD_RESTARTING)
			child_enter(t, q->child, ARB_CHILD_DOWN);
		break;
	case _ARB_REQ_MAX:
		return;
	}
	s->request = q->request;
	s->req_id = q->req_id;
	job_begin(t, sup, JOB_REQUEST, (int32_t)n->pos, (int32_t)n->pos);
}

/* M5: the queued work of an idle supervisor, in arrival order. */
static void
sup_drain(struct arb_tree *t, uint32_t sup)
{
	struct sup *s = t->nodes[sup].sup;
	struct qitem q;

	while (s->job == JOB_NONE && !t->oom && dequeue(s, &q)) {
		switch (q.kind) {
		case Q_EXIT:
			handle_exit(t, sup, q.child, q.incarnation);
			break;
		case Q_RETRY:
			handle_retry(t, sup, q.child);
			break;
		case Q_SHUTDOWN:
			shutdown_begin(t, sup, WHY_REQUESTED);
			break;
		case Q_REQUEST:
			handle_request(t, sup, &q);
			break;
		}
	}
}

/* ---- messages --------------------------------------------------------- */

/* A sub-supervisor starts afresh: empty history and queue, full spec (I7). */
static void
sup_init(struct arb_tree *t, uint32_t sup)
{
	const struct arb_spec_node *spec = &t->spec->nodes[sup];
	struct sup *s = t->nodes[sup].sup;

	s->hist_head = 0;
	s->hist_len = 0;
	sup_reset_queue(t, s);
	for (uint32_t i = 0; i < spec->nchildren; i++) {
		t->nodes[spec->children[i]].present = true;
		child_enter(t, spec->children[i], ARB_CHILD_DOWN);
	}
	report(t, ARB_REP_START, sup);
	job_begin(t, sup, JOB_INIT, 0, (int32_t)spec->nchildren - 1);
}

/* The child at the cursor answered; the job moves on. */
static void
job_step_done(struct arb_tree *t, uint32_t sup, uint32_t child)
{
	struct sup *s = t->nodes[sup].sup;

	if (s->job == JOB_NONE || s->cursor < 0 ||
	    s->cursor >= (int32_t)t->spec->nodes[sup].nchildren ||
	    child_at(t, sup, s->cursor) != child) {
		tree_bug(t, child, "an answer no job was waiting for");
		return;
	}
	if (s->terminating)
		s->cursor--;
	else
		s->cursor++;
	sup_advance(t, sup);
}

/* S3 during INIT; R1 and R5 during a restart. */
static void
job_start_failed(struct arb_tree *t, uint32_t sup, uint32_t child)
{
	struct sup *s = t->nodes[sup].sup;

	if (s->job == JOB_INIT) {
		job_begin(t, sup, JOB_INIT_ABORT, 0, s->cursor - 1);
		return;
	}
	if (s->job == JOB_REQUEST) {
		/* D3: no retry, nothing counted; the child stays stopped. */
		s->job = JOB_NONE;
		reply(t, child, s->req_id, ARB_REPLY_START_FAILED,
		      t->nodes[child].last_err);
		sup_drain(t, sup);
		return;
	}
	if (s->job != JOB_RESTART) {
		tree_bug(t, child, "a failed start no job was waiting for");
		return;
	}
	child_enter(t, child, ARB_CHILD_RESTARTING);
	enqueue(t, s, Q_RETRY, child, t->nodes[child].incarnation);
	job_done(t, sup);
}

static void
deliver(struct arb_tree *t, const struct msg *m)
{
	struct sup *s = t->nodes[m->to].sup;

	switch (m->kind) {
	case MSG_START:
		sup_init(t, m->to);
		return;
	case MSG_SHUTDOWN:
		if (s->job == JOB_NONE)
			shutdown_begin(t, m->to, WHY_REQUESTED);
		else
			enqueue(t, s, Q_SHUTDOWN, ARB_NONE, 0);
		return;
	case MSG_STARTED:
	case MSG_TERMINATED:
		job_step_done(t, m->to, m->from);
		return;
	case MSG_START_FAILED:
		job_start_failed(t, m->to, m->from);
		return;
	case MSG_EXITED:
		if (s->job == JOB_NONE)
			handle_exit(t, m->to, m->from, m->incarnation);
		else
			enqueue(t, s, Q_EXIT, m->from, m->incarnation);
		return;
	}
}

static void
drain_messages(struct arb_tree *t)
{
	while (t->m_len > 0 && !t->oom) {
		struct msg m = t->msgs[t->m_head];

		t->m_head = (t->m_head + 1) % t->m_cap;
		t->m_len--;
		deliver(t, &m);
	}
}

/* ---- service events --------------------------------------------------- */

static void
service_spawned(struct arb_tree *t, uint32_t node, int pid)
{
	struct node *n = &t->nodes[node];
	struct arb_action *act;

	if (n->state != ARB_CHILD_STARTING)
		return;
	n->pid = pid;
	child_enter(t, node, ARB_CHILD_UP);
	act = report(t, ARB_REP_START, node);
	if (act)
		act->pid = pid;
	post(t, MSG_STARTED, parent_of(t, node), node);
}

static void
service_start_failed(struct arb_tree *t, uint32_t node, int err)
{
	struct arb_action *act;

	if (t->nodes[node].state != ARB_CHILD_STARTING)
		return;
	t->nodes[node].pid = 0;
	t->nodes[node].last_err = err;
	child_enter(t, node, ARB_CHILD_DOWN);
	act = report(t, ARB_REP_START_FAILED, node);
	if (act)
		act->err = err;
	post(t, MSG_START_FAILED, parent_of(t, node), node);
}

static void
fill_exit(struct arb_action *act, const struct arb_event *ev)
{
	if (!act)
		return;
	act->pid = ev->pid;
	act->code = ev->code;
	act->signo = ev->signo;
}

/*
 * The main process of a service died. Whatever is left of its process group
 * is killed at once (M1, M3), whatever the state.
 */
static void
service_exited(struct arb_tree *t, const struct arb_event *ev)
{
	struct node *n = &t->nodes[ev->node];
	struct arb_action *act;

	if (ev->pid <= 0 || n->pid != ev->pid)
		return; /* X1: not a current child */
	emit_signal(t, ARB_ACT_KILL, ev->node, ev->pid);
	switch (n->state) {
	case ARB_CHILD_UP:
		n->last_reason = arb_exit_reason(n->spec, ev->code, ev->signo);
		n->exited = true;
		n->exit_pid = ev->pid;
		n->exit_code = ev->code;
		n->exit_signo = ev->signo;
		act = report(t, ARB_REP_EXIT, ev->node);
		fill_exit(act, ev);
		if (act)
			act->reason = n->last_reason;
		n->pid = 0;
		child_enter(t, ev->node, ARB_CHILD_EXITED);
		post(t, MSG_EXITED, parent_of(t, ev->node), ev->node);
		return;
	case ARB_CHILD_STOPPING:
	case ARB_CHILD_KILLING:
		/* T4: how it died is logged, never acted on. */
		timer_cancel(t, ev->node);
		fill_exit(report(t, ARB_REP_STOP, ev->node), ev);
		child_stopped(t, ev->node);
		post(t, MSG_TERMINATED, parent_of(t, ev->node), ev->node);
		return;
	case ARB_CHILD_STARTING: /* no pid before SPAWNED: cannot happen */
	case ARB_CHILD_DOWN:
	case ARB_CHILD_EXITED:
	case ARB_CHILD_RESTARTING:
	case _ARB_CHILD_STATE_MAX:
		return;
	}
}

/* M3: stop_timeout passed; SIGKILL the group and keep waiting for the reap. */
static void
service_timer(struct arb_tree *t, uint32_t node)
{
	struct node *n = &t->nodes[node];

	n->timer_armed = false;
	if (n->state != ARB_CHILD_STOPPING)
		return;
	emit_signal(t, ARB_ACT_KILL, node, n->pid);
	child_enter(t, node, ARB_CHILD_KILLING);
}

static bool
is_service(const struct arb_tree *t, uint32_t node)
{
	return node < t->nnodes &&
	       t->spec->nodes[node].kind == ARB_NODE_SERVICE;
}

/* A request goes to the child's supervisor, which may be busy (M5). */
static void
route_request(struct arb_tree *t, const struct arb_event *ev)
{
	struct qitem *q;
	uint32_t sup;

	if (ev->node == ARB_ROOT || ev->node >= t->nnodes ||
	    ev->request >= _ARB_REQ_MAX) {
		reply(t, ev->node < t->nnodes ? ev->node : ARB_ROOT,
		      ev->req_id, ARB_REPLY_NOT_FOUND, 0);
		return;
	}
	sup = parent_of(t, ev->node);
	if (t->down || t->nodes[sup].state != ARB_CHILD_UP) {
		reply(t, ev->node, ev->req_id,
		      t->down ? ARB_REPLY_ABORTED : ARB_REPLY_NOT_RUNNING, 0);
		return;
	}
	q = enqueue(t, t->nodes[sup].sup, Q_REQUEST, ev->node, 0);
	if (!q)
		return;
	q->request = ev->request;
	q->req_id = ev->req_id;
	sup_drain(t, sup);
}

int
arb_tree_step(struct arb_tree *t, const struct arb_event *ev,
	      struct arb_actions *out)
{
	out->n = 0;
	t->out = out;
	t->now_ms = ev->now_ms;
	if (t->oom)
		return -1;
	switch (ev->kind) {
	case ARB_EV_BOOT:
		if (t->nodes[ARB_ROOT].state != ARB_CHILD_DOWN || t->down)
			break;
		/* Nodes that never start have been down since now. */
		for (uint32_t i = 0; i < t->nnodes; i++)
			t->nodes[i].since_ms = t->now_ms;
		start_child(t, ARB_ROOT);
		break;
	case ARB_EV_SHUTDOWN:
		if (!t->down && t->nodes[ARB_ROOT].state != ARB_CHILD_DOWN)
			post(t, MSG_SHUTDOWN, ARB_ROOT, ARB_NONE);
		break;
	case ARB_EV_SPAWNED:
		if (is_service(t, ev->node))
			service_spawned(t, ev->node, ev->pid);
		break;
	case ARB_EV_SPAWN_FAILED:
		if (is_service(t, ev->node))
			service_start_failed(t, ev->node, ev->err);
		break;
	case ARB_EV_EXITED:
		if (is_service(t, ev->node))
			service_exited(t, ev);
		break;
	case ARB_EV_TIMER:
		if (is_service(t, ev->node))
			service_timer(t, ev->node);
		break;
	case ARB_EV_REQUEST:
		route_request(t, ev);
		break;
	case _ARB_EV_MAX:
		break;
	}
	drain_messages(t);
	return t->oom ? -1 : 0;
}
