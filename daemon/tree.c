/*
 * tree.c - the supervision core: OTP's supervisor rules over a tree of
 * services and supervisors (SEMANTICS.md sections 1-10 and 13).
 *
 * Pure: no syscalls, no clock, no libev (STYLE.md 1). Time arrives in each
 * event; effects leave as actions. Supervisors never call into each other:
 * they post messages to one queue that arb_tree_step() drains, so a deep
 * tree never recurses and every step is bounded by the work it causes.
 * The data and its primitives are in tree_base.c.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "spec.h"
#include "tree.h"
#include "tree_internal.h"

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
		tree_emit(t, ARB_ACT_SPAWN, child);
	else
		tree_post(t, MSG_START, child, ARB_NONE);
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
		tree_post(t, MSG_SHUTDOWN, child, ARB_NONE);
		return false;
	}
	if (n->spec->stop_timeout_ms == 0) {
		tree_emit_signal(t, ARB_ACT_KILL, child, n->pid);
		child_enter(t, child, ARB_CHILD_KILLING);
		return false;
	}
	tree_emit_signal(t, ARB_ACT_TERMINATE, child, n->pid);
	if (n->spec->stop_timeout_ms != ARB_INFINITY_MS)
		tree_timer_set(t, child, t->now_ms + n->spec->stop_timeout_ms);
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

	tree_report(t, ARB_REP_DOWN, ARB_ROOT);
	act = tree_emit(t, ARB_ACT_EXIT, ARB_ROOT);
	if (act)
		act->exit_code = exit_code;
	t->down = true;
}

/* The instance is gone: its queue with it; pending requests are answered. */
static void
sup_reset_queue(struct arb_tree *t, struct sup *s)
{
	struct qitem q;

	while (tree_dequeue(s, &q))
		if (q.kind == Q_REQUEST)
			tree_reply(t, q.child, q.req_id, ARB_REPLY_ABORTED, 0);
	s->q_head = 0;
}

static void
init_done(struct arb_tree *t, uint32_t sup)
{
	child_enter(t, sup, ARB_CHILD_UP);
	if (sup != ARB_ROOT)
		tree_post(t, MSG_STARTED, parent_of(t, sup), sup);
	sup_drain(t, sup);
}

/* S3: the supervisor could not start; its started children are stopped. */
static void
init_failed(struct arb_tree *t, uint32_t sup)
{
	sup_reset_queue(t, t->nodes[sup].sup);
	tree_report(t, ARB_REP_START_FAILED, sup);
	child_enter(t, sup, ARB_CHILD_DOWN);
	if (sup == ARB_ROOT)
		root_down(t, 1);
	else
		tree_post(t, MSG_START_FAILED, parent_of(t, sup), sup);
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
			tree_report(t, ARB_REP_STOP, sup);
		child_stopped(t, sup);
		tree_post(t, MSG_TERMINATED, parent_of(t, sup), sup);
		return;
	}
	n->last_reason = ARB_REASON_SHUTDOWN;
	n->exited = true;
	n->exit_pid = 0;
	n->exit_code = -1;
	n->exit_signo = 0;
	child_enter(t, sup, ARB_CHILD_EXITED);
	tree_post(t, MSG_EXITED, parent_of(t, sup), sup);
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
		tree_reply(t, child_at(t, sup, s->first), s->req_id, ARB_REPLY_OK, 0);
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
		tree_report(t, ARB_REP_GIVEUP, sup);
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
		tree_reply(t, q->child, q->req_id, ARB_REPLY_NOT_FOUND, 0);
		return;
	}
	switch (q->request) {
	case ARB_REQ_START:
		if (running || n->state == ARB_CHILD_RESTARTING) {
			tree_reply(t, q->child, q->req_id,
			      running ? ARB_REPLY_ALREADY_RUNNING
				      : ARB_REPLY_RESTARTING, 0);
			return;
		}
		break;
	case ARB_REQ_STOP:
		if (!running) {
			/* D2: a pending retry is cancelled. */
			child_enter(t, q->child, ARB_CHILD_DOWN);
			tree_reply(t, q->child, q->req_id, ARB_REPLY_OK, 0);
			return;
		}
		break;
	case ARB_REQ_RESTART:
		/* C2: stopping deletes its spec, so it could not start again;
		 * OTP refuses restart_child of a temporary child too. */
		if (n->spec->restart == ARB_TEMPORARY) {
			tree_reply(t, q->child, q->req_id, ARB_REPLY_TEMPORARY, 0);
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

	while (s->job == JOB_NONE && !t->oom && tree_dequeue(s, &q)) {
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
	tree_report(t, ARB_REP_START, sup);
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
		tree_reply(t, child, s->req_id, ARB_REPLY_START_FAILED,
		      t->nodes[child].last_err);
		sup_drain(t, sup);
		return;
	}
	if (s->job != JOB_RESTART) {
		tree_bug(t, child, "a failed start no job was waiting for");
		return;
	}
	child_enter(t, child, ARB_CHILD_RESTARTING);
	tree_enqueue(t, s, Q_RETRY, child, t->nodes[child].incarnation);
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
			tree_enqueue(t, s, Q_SHUTDOWN, ARB_NONE, 0);
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
			tree_enqueue(t, s, Q_EXIT, m->from, m->incarnation);
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
	act = tree_report(t, ARB_REP_START, node);
	if (act)
		act->pid = pid;
	tree_post(t, MSG_STARTED, parent_of(t, node), node);
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
	act = tree_report(t, ARB_REP_START_FAILED, node);
	if (act)
		act->err = err;
	tree_post(t, MSG_START_FAILED, parent_of(t, node), node);
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
	tree_emit_signal(t, ARB_ACT_KILL, ev->node, ev->pid);
	switch (n->state) {
	case ARB_CHILD_UP:
		n->last_reason = arb_exit_reason(n->spec, ev->code, ev->signo);
		n->exited = true;
		n->exit_pid = ev->pid;
		n->exit_code = ev->code;
		n->exit_signo = ev->signo;
		act = tree_report(t, ARB_REP_EXIT, ev->node);
		fill_exit(act, ev);
		if (act)
			act->reason = n->last_reason;
		n->pid = 0;
		child_enter(t, ev->node, ARB_CHILD_EXITED);
		tree_post(t, MSG_EXITED, parent_of(t, ev->node), ev->node);
		return;
	case ARB_CHILD_STOPPING:
	case ARB_CHILD_KILLING:
		/* T4: how it died is logged, never acted on. */
		tree_timer_cancel(t, ev->node);
		fill_exit(tree_report(t, ARB_REP_STOP, ev->node), ev);
		child_stopped(t, ev->node);
		tree_post(t, MSG_TERMINATED, parent_of(t, ev->node), ev->node);
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
	tree_emit_signal(t, ARB_ACT_KILL, node, n->pid);
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
		tree_reply(t, ev->node < t->nnodes ? ev->node : ARB_ROOT,
		      ev->req_id, ARB_REPLY_NOT_FOUND, 0);
		return;
	}
	sup = parent_of(t, ev->node);
	if (t->down || t->nodes[sup].state != ARB_CHILD_UP) {
		tree_reply(t, ev->node, ev->req_id,
		      t->down ? ARB_REPLY_ABORTED : ARB_REPLY_NOT_RUNNING, 0);
		return;
	}
	q = tree_enqueue(t, t->nodes[sup].sup, Q_REQUEST, ev->node, 0);
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
			tree_post(t, MSG_SHUTDOWN, ARB_ROOT, ARB_NONE);
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
