/*
 * tree.c - the supervision core: OTP's supervisor rules over a tree of
 * services and supervisors (SEMANTICS.md sections 1-10 and 13).
 *
 * Pure: no syscalls, no clock, no libev (STYLE.md 1). Time arrives in each
 * event; effects leave as actions. Supervisors never call into each other:
 * they post messages to one queue that arb_tree_step() drains, so a deep
 * tree never recurses and every step is bounded by the work it causes.
 * The data and its primitives are in tree_data.c.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "limits.h"
#include "mem.h"
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

static bool
is_pool(const struct arb_tree *t, uint32_t sup)
{
	return t->spec->nodes[sup].strategy == ARB_SIMPLE_ONE_FOR_ONE;
}

/* The child whose spec a CHANGE request is restarting it into. */
static bool
changing(const struct arb_tree *t, uint32_t node)
{
	uint32_t parent = parent_of(t, node);
	const struct sup *s = parent == ARB_NONE ? NULL : t->nodes[parent].sup;

	return s && s->job == JOB_REQUEST && s->request == ARB_REQ_CHANGE &&
	       s->target == node;
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
	/* A pool's instance is gone once it stopped, whatever its restart
	 * type (OTP's simple_one_for_one). */
	if (!changing(t, node) && (n->spec->restart == ARB_TEMPORARY ||
				   arb_tree_is_instance(t, node)))
		n->present = false;
	child_enter(t, node, ARB_CHILD_DOWN);
}

/*
 * Children added at run time that are gone (or all of them, when their
 * supervisor's instance ends: OTP's comes back with its configured
 * children only) leave the tree. Only while sup runs no job: positions
 * move.
 */
static void
drop_dynamic_children(struct arb_tree *t, uint32_t sup, bool all)
{
	for (uint32_t i = t->spec->nodes[sup].nchildren; i-- > 0;) {
		uint32_t c = t->spec->nodes[sup].children[i];

		if (t->spec->nodes[c].dynamic && (all || !t->nodes[c].present))
			tree_delete(t, c);
	}
}

/*
 * The same for the positions first..last a job or a death just went
 * over: only there can a child added at run time have gone, and a pool
 * of thousands is not walked whole for each of its instances.
 */
static void
drop_gone(struct arb_tree *t, uint32_t sup, int32_t first, int32_t last)
{
	for (int32_t i = last; i >= first; i--) {
		uint32_t c;

		if (i < 0 || i >= (int32_t)t->spec->nodes[sup].nchildren)
			continue;
		c = child_at(t, sup, i);
		if (t->spec->nodes[c].dynamic && !t->nodes[c].present)
			tree_delete(t, c);
	}
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

	/* A delayed restart overtaken by its group's restart (M7). */
	tree_timer_cancel(t, child);
	n->delayed = false;
	n->start_failing = false;
	n->start_cancelled = false;
	n->aborting = false;
	/* From one counter for the whole tree: a slot reused by another
	 * node never takes up an old node's number. */
	n->incarnation = ++t->incarnations;
	child_enter(t, child, ARB_CHILD_STARTING);
	if (n->spec->kind == ARB_NODE_SERVICE)
		tree_emit(t, ARB_ACT_SPAWN, child);
	else
		tree_post(t, MSG_START, child, ARB_NONE);
}

/*
 * M3 for a service whose process runs: stop_signal then the stop_timeout,
 * or SIGKILL at once when it is 0. Whatever its timer waited for (the
 * watchdog, start_timeout) is replaced.
 */
static void
stop_service(struct arb_tree *t, uint32_t node)
{
	struct node *n = &t->nodes[node];

	tree_timer_cancel(t, node);
	if (n->spec->stop_timeout_ms == 0) {
		tree_emit_signal(t, ARB_ACT_KILL, node, n->pid);
		child_enter(t, node, ARB_CHILD_KILLING);
		return;
	}
	tree_emit_signal(t, ARB_ACT_TERMINATE, node, n->pid);
	if (n->spec->stop_timeout_ms != ARB_INFINITY_MS)
		tree_timer_set(t, node, t->now_ms + n->spec->stop_timeout_ms);
	child_enter(t, node, ARB_CHILD_STOPPING);
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
	n->aborting = false;
	stop_service(t, child);
	return false;
}

/*
 * A stop or shutdown reached sup while its job waits for the start of a
 * service whose process has not exec'ed yet (pid 0): its cwd or program on
 * a file system that does not answer could hold it there for ever, and
 * the stop behind it (M5). That start is cancelled: SIGKILL to the process
 * being made, which nothing else reaches before exec; its end fails the
 * start with ARB_ECANCELED, and the job goes on as for any failed start.
 * When the child being started is a supervisor, the start its own init
 * waits for is the one (a loop down the tree, no recursion). A start past
 * exec waits for its readiness as before (M6). `only`: cancel only the
 * start of that child of sup (ARB_NONE: whichever).
 */
static void
cancel_start_before_exec(struct arb_tree *t, uint32_t sup, uint32_t only)
{
	struct node *n;
	uint32_t child;

	for (;;) {
		struct sup *s = t->nodes[sup].sup;

		if (s->job == JOB_NONE || s->terminating ||
		    s->cursor < s->first || s->cursor > s->last)
			return;
		child = child_at(t, sup, s->cursor);
		n = &t->nodes[child];
		if ((only != ARB_NONE && child != only) ||
		    n->state != ARB_CHILD_STARTING)
			return;
		if (n->spec->kind == ARB_NODE_SERVICE)
			break;
		sup = child;
		only = ARB_NONE;
	}
	if (n->pid != 0)
		return;
	n->start_failing = true;
	n->start_cancelled = true;
	tree_timer_cancel(t, child);
	tree_emit_signal(t, ARB_ACT_KILL, child, 0);
	child_enter(t, child, ARB_CHILD_KILLING);
}

/* ---- supervisor jobs ------------------------------------------------------ */

static void sup_advance(struct arb_tree *t, uint32_t sup);
static void sup_drain(struct arb_tree *t, uint32_t sup);
static void cancel_restart(struct arb_tree *t, uint32_t child);

/* Whether the job starts its group once it is terminated. */
static bool
job_starts(const struct sup *s)
{
	return s->job == JOB_RESTART ||
	       (s->job == JOB_REQUEST && s->request != ARB_REQ_STOP &&
		s->request != ARB_REQ_REMOVE);
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
			 !(job == JOB_REQUEST && (s->request == ARB_REQ_START ||
						  s->request == ARB_REQ_ADD));
	s->outstanding = 0;
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

/* SIGTERM's status in a shell, which exit_sigterm_ok makes a success. */
#define SIGTERM_STATUS (128 + ARB_SIGTERM)

/*
 * M10: the status arbord exits with when the root is down. A shutdown
 * asked for ends cleanly (0), whatever its services died of while being
 * stopped (T4); a give-up or a failed start is 1; an automatic shutdown
 * 0, or with exit_status = "significant" the status of the service whose
 * exit began it. With exit_sigterm_ok, 143 (SIGTERM's) is 0.
 */
static int
root_exit_status(const struct arb_tree *t, enum shutdown_why why)
{
	const struct sup *root = t->nodes[ARB_ROOT].sup;
	int status = why == WHY_GIVEUP ? 1 : 0;

	if (why == WHY_AUTO &&
	    t->spec->exit_status == ARB_EXIT_STATUS_SIGNIFICANT)
		status = root->auto_status;
	if (status == SIGTERM_STATUS && t->spec->exit_sigterm_ok)
		status = 0;
	return status;
}

/* The root has no parent: its end is the end of arbord (M10). */
static void
root_down(struct arb_tree *t, int exit_code, bool automatic)
{
	struct arb_action *act;

	tree_report(t, ARB_REP_DOWN, ARB_ROOT);
	act = tree_emit(t, ARB_ACT_EXIT, ARB_ROOT);
	if (act) {
		act->exit_code = exit_code;
		act->exit_auto = automatic;
	}
	t->down = true;
}

static void handle_shape_while_down(struct arb_tree *t, uint32_t sup,
				    const struct qitem *q);

/*
 * The instance is gone: its queue with it; pending requests are answered.
 * The configuration's changes of shape still apply, to a supervisor that
 * is down (handle_shape_while_down).
 */
static void
sup_reset_queue(struct arb_tree *t, uint32_t sup)
{
	struct sup *s = t->nodes[sup].sup;
	struct qitem q;

	while (tree_dequeue(s, &q)) {
		if (q.kind != Q_REQUEST)
			continue;
		if (q.request >= ARB_REQ_ADD) {
			handle_shape_while_down(t, sup, &q);
			continue;
		}
		tree_reply(t, q.child, q.req_id, ARB_REPLY_ABORTED, 0);
	}
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
	sup_reset_queue(t, sup);
	drop_dynamic_children(t, sup, true);
	tree_report(t, ARB_REP_START_FAILED, sup);
	child_enter(t, sup, ARB_CHILD_DOWN);
	if (sup == ARB_ROOT)
		root_down(t, 1, false);
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

	/* The instance is gone, and with it its queue and pending retries,
	 * and the children added at run time. */
	sup_reset_queue(t, sup);
	for (uint32_t i = 0; i < spec->nchildren; i++)
		if (t->nodes[spec->children[i]].state == ARB_CHILD_RESTARTING)
			cancel_restart(t, spec->children[i]);
	drop_dynamic_children(t, sup, true);
	if (sup == ARB_ROOT) {
		root_down(t, root_exit_status(t, why), why == WHY_AUTO);
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
		drop_gone(t, sup, s->first, s->last);
		sup_drain(t, sup);
		return;
	case JOB_REQUEST:
		if (s->request == ARB_REQ_REMOVE)
			tree_delete(t, s->target);
		else
			drop_gone(t, sup, s->first, s->first);
		tree_reply(t, s->target, s->req_id, ARB_REPLY_OK, 0);
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
 * Whether sup's shutdown terminates its children all at once: a pool's
 * instances (OTP), or any supervisor's with shutdown = "parallel"
 * (arbor's deviation from T1). Only its shutdown: the terminate phase of
 * a group restart stays one at a time.
 */
static bool
shuts_down_at_once(const struct arb_tree *t, uint32_t sup)
{
	return is_pool(t, sup) ||
	       t->spec->nodes[sup].shutdown == ARB_SHUTDOWN_PARALLEL;
}

/*
 * Such a shutdown stops all the running children at once, then waits for
 * every one: `outstanding` counts them down (job_step_done). True while
 * some are still going.
 */
static bool
stop_all_at_once(struct arb_tree *t, uint32_t sup)
{
	struct sup *s = t->nodes[sup].sup;

	for (; s->cursor >= s->first; s->cursor--) {
		uint32_t child = child_at(t, sup, s->cursor);

		if (needs_termination(&t->nodes[child]) &&
		    !terminate_child(t, child))
			s->outstanding++;
	}
	return s->outstanding > 0;
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

	if (s->terminating && s->job == JOB_SHUTDOWN &&
	    shuts_down_at_once(t, sup)) {
		if (stop_all_at_once(t, sup))
			return;
	} else if (s->terminating) {
		for (; s->cursor >= s->first; s->cursor--) {
			uint32_t child = child_at(t, sup, s->cursor);

			if (!needs_termination(&t->nodes[child]))
				continue;
			if (!terminate_child(t, child))
				return;
		}
	}
	if (s->terminating) {
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
 * How child ended by itself, as a shell reports a status: a service's exit
 * code, or 128 + the signal that killed it; a supervisor's, the status its
 * own automatic shutdown carries (so the root gets the first service of a
 * cascade), or 1 when it gave up. A status nobody could know (a MAINPID
 * reaped by its own parent: code -1) is 1, as its reason is a crash.
 */
static int
end_status(const struct arb_tree *t, uint32_t child)
{
	const struct node *n = &t->nodes[child];

	if (n->sup)
		return n->sup->why == WHY_AUTO ? n->sup->auto_status : 1;
	if (n->exit_signo > 0)
		return 128 + n->exit_signo;
	if (n->exit_code < 0 || n->exit_code > 255)
		return 1;
	return n->exit_code;
}

/*
 * A8-A5: after a significant child ended without restart. Stopped children
 * do not count as running; restarting ones do (A3). The child's status is
 * the shutdown's (under all_significant, the last one's).
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
	tree_report(t, ARB_REP_SHUTDOWN, sup);
	t->nodes[sup].sup->auto_status = end_status(t, child);
	shutdown_begin(t, sup, WHY_AUTO);
}

/* ST1-ST3: terminate the strategy's group in reverse, then start it. */
static void
restart_group(struct arb_tree *t, uint32_t sup, uint32_t child)
{
	const struct arb_spec_node *spec = &t->spec->nodes[sup];
	int32_t pos = (int32_t)t->nodes[child].pos;
	int32_t last = (int32_t)spec->nchildren - 1;

	child_enter(t, child, ARB_CHILD_DOWN);
	switch (spec->strategy) {
	case ARB_ONE_FOR_ALL:
		job_begin(t, sup, JOB_RESTART, 0, last);
		return;
	case ARB_REST_FOR_ONE:
		job_begin(t, sup, JOB_RESTART, pos, last);
		return;
	case ARB_ONE_FOR_ONE:
	case ARB_SIMPLE_ONE_FOR_ONE:
	case _ARB_STRATEGY_MAX:
		job_begin(t, sup, JOB_RESTART, pos, pos);
		return;
	}
}

/* xorshift64*: the jitter needs no more than a cheap, seeded sequence. */
static uint64_t
next_random(struct arb_tree *t)
{
	t->rng ^= t->rng >> 12;
	t->rng ^= t->rng << 25;
	t->rng ^= t->rng >> 27;
	return t->rng * 0x2545f4914f6cdd1dull;
}

/*
 * M7: how long the restart of child waits. The nominal delay starts at
 * restart_delay and doubles at each restart up to restart_delay_max; it
 * starts over once the child ran for at least its supervisor's period.
 * A growing delay loses up to a tenth at random, so that services that
 * failed together do not restart in lockstep; a constant one is exact.
 */
static int64_t
backoff_delay(struct arb_tree *t, struct node *n, int64_t period_ms)
{
	const struct arb_spec_node *spec = n->spec;
	bool ran_long = n->state == ARB_CHILD_EXITED &&
			n->since_ms - n->up_ms >= period_ms;
	int64_t d;

	if (n->backoff_ms == 0 || ran_long)
		d = spec->restart_delay_ms;
	else if (n->backoff_ms > spec->restart_delay_max_ms / 2)
		d = spec->restart_delay_max_ms;
	else
		d = n->backoff_ms * 2;
	n->backoff_ms = d;
	if (spec->restart_delay_max_ms > spec->restart_delay_ms)
		d -= (int64_t)(next_random(t) % (uint64_t)(d / 10 + 1));
	return d;
}

/* X3, E1, M7: count the restart, then give up, wait, or restart. */
static void
try_restart(struct arb_tree *t, uint32_t sup, uint32_t child)
{
	const struct arb_spec_node *spec = &t->spec->nodes[sup];
	struct node *n = &t->nodes[child];
	struct arb_action *act;
	int64_t delay;

	if (intensity_exceeded(t->nodes[sup].sup, spec, t->now_ms)) {
		tree_report(t, ARB_REP_GIVEUP, sup);
		child_enter(t, child, ARB_CHILD_DOWN);
		shutdown_begin(t, sup, WHY_GIVEUP);
		return;
	}
	n->restarts++;
	n->pid = 0;
	if (n->spec->kind != ARB_NODE_SERVICE || n->spec->restart_delay_ms == 0) {
		restart_group(t, sup, child);
		return;
	}
	delay = backoff_delay(t, n, spec->period_ms);
	n->delayed = true;
	child_enter(t, child, ARB_CHILD_RESTARTING);
	tree_timer_set(t, child, t->now_ms + delay);
	act = tree_report(t, ARB_REP_BACKOFF, child);
	if (act)
		act->delay_ms = delay;
}

/* M7: a delayed restart is over; stale when a stop or its group came first. */
static void
handle_delayed(struct arb_tree *t, uint32_t sup, uint32_t child,
	       uint32_t incarnation)
{
	struct node *n = &t->nodes[child];

	if (n->state != ARB_CHILD_RESTARTING || !n->delayed ||
	    n->timer_armed || n->incarnation != incarnation)
		return;
	n->delayed = false;
	restart_group(t, sup, child);
}

/* A pending restart, retry or delayed, is abandoned (D2, T1). */
static void
cancel_restart(struct arb_tree *t, uint32_t child)
{
	tree_timer_cancel(t, child);
	t->nodes[child].delayed = false;
	child_enter(t, child, ARB_CHILD_DOWN);
}

/* X1, X2, X4: the decision for a child that died by itself. */
static void
handle_exit(struct arb_tree *t, uint32_t sup, uint32_t child,
	    uint32_t incarnation)
{
	struct node *n = &t->nodes[child];
	bool normal = !arb_reason_abnormal(n->last_reason);

	if (n->state != ARB_CHILD_EXITED || n->incarnation != incarnation)
		return; /* X1: absorbed by a termination, or stale */
	if (n->spec->restart == ARB_TEMPORARY ||
	    (n->spec->restart == ARB_TRANSIENT && normal)) {
		child_stopped(t, child);
		drop_gone(t, sup, n->pos, n->pos);
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
	if (t->nodes[child].state == ARB_CHILD_RESTARTING &&
	    !t->nodes[child].delayed)
		try_restart(t, sup, child);
}

/*
 * Whether node's name is its parent's other child's. A temporary child
 * that ended has lost its spec (C2): its name is free, and it leaves.
 */
static bool
name_taken(struct arb_tree *t, uint32_t node)
{
	const struct arb_spec_node *n = &t->spec->nodes[node];
	uint32_t other = arb_spec_find_child(t->spec, n->parent, n->name);

	if (other == ARB_NONE || other == node)
		return false;
	if (t->nodes[other].present)
		return true;
	tree_delete(t, other);
	return false;
}

static uint32_t
count_present(const struct arb_tree *t, uint32_t sup)
{
	const struct arb_spec_node *spec = &t->spec->nodes[sup];
	uint32_t n = 0;

	for (uint32_t i = 0; i < spec->nchildren; i++)
		n += t->nodes[spec->children[i]].present;
	return n;
}

/*
 * Whether sup has no room for one more child: ARB_CHILDREN_MAX children
 * in all, or a pool's max_children running (counted only then: a pool
 * of thousands is not walked at each spawn).
 */
static bool
children_full(const struct arb_tree *t, uint32_t sup)
{
	uint32_t max = t->spec->nodes[sup].max_children;

	if (t->spec->nodes[sup].nchildren >= ARB_CHILDREN_MAX)
		return true;
	return is_pool(t, sup) && max > 0 && count_present(t, sup) >= max;
}

/*
 * Makes q's node sup's child, or says why not (and it leaves the tree).
 * True when it is a child now.
 */
static bool
add_attach(struct arb_tree *t, uint32_t sup, const struct qitem *q)
{
	enum arb_reply_kind refusal = ARB_REPLY_OK;

	if (name_taken(t, q->child))
		refusal = ARB_REPLY_EXISTS;
	else if (children_full(t, sup))
		refusal = ARB_REPLY_POOL_FULL;
	else if (arb_spec_attach(t->spec, q->child, q->pos) < 0)
		t->oom = true;
	if (refusal != ARB_REPLY_OK || t->oom) {
		tree_delete(t, q->child);
		tree_reply(t, q->child, q->req_id, refusal, 0);
		return false;
	}
	if (q->pos >= t->spec->nodes[sup].nchildren - 1)
		t->nodes[q->child].pos = t->spec->nodes[sup].nchildren - 1;
	else
		tree_number_children(t, sup); /* the later ones moved */
	t->nodes[q->child].present = true;
	return true;
}

/*
 * The children of sup become the order asked, as far as they still are
 * its children (an instance may have gone meanwhile); those the order
 * does not name keep their order after them.
 */
static void
reorder(struct arb_tree *t, uint32_t sup, const struct qitem *q)
{
	const struct arb_spec_node *spec = &t->spec->nodes[sup];
	uint32_t n = spec->nchildren, k = 0;
	uint32_t *order = n > 0 ? tree_scratch(t, n) : NULL;

	if (!order)
		return;
	for (uint32_t i = 0; i < q->norder && k < n; i++) {
		uint32_t c = q->order[i];

		if (c < t->nnodes && t->spec->nodes[c].parent == sup &&
		    !t->nodes[c].deleted && t->nodes[c].pos < n &&
		    spec->children[t->nodes[c].pos] == c &&
		    t->nodes[c].pos != ARB_NONE) {
			order[k++] = c;
			t->nodes[c].pos = ARB_NONE; /* taken */
		}
	}
	for (uint32_t i = 0; i < n; i++)
		if (t->nodes[spec->children[i]].pos != ARB_NONE)
			order[k++] = spec->children[i];
	arb_spec_reorder(t->spec, sup, order, n);
	tree_number_children(t, sup);
}

/*
 * A request whose child left the tree while it waited in the queue (its
 * supervisor's instance ended, an add before it failed): answered, and
 * nothing else is done with it. A removal is then done already.
 */
static bool
left_meanwhile(struct arb_tree *t, const struct qitem *q)
{
	if (q->request == ARB_REQ_REORDER || !t->nodes[q->child].deleted)
		return false;
	tree_reply(t, q->child, q->req_id,
		   q->request == ARB_REQ_REMOVE ? ARB_REPLY_OK
						: ARB_REPLY_NOT_FOUND, 0);
	return true;
}

/*
 * A change of shape that reached sup while it is down (not running, or
 * its instance just ended): no process to stop or start. The
 * configuration's apply to the spec; an operator's get OTP's noproc.
 */
static void
handle_shape_while_down(struct arb_tree *t, uint32_t sup, const struct qitem *q)
{
	bool config = q->origin == ARB_ORIGIN_CONFIG;

	if (left_meanwhile(t, q))
		return;
	switch (q->request) {
	case ARB_REQ_ADD:
		if (!config) {
			tree_delete(t, q->child);
			tree_reply(t, q->child, q->req_id, ARB_REPLY_NOT_RUNNING, 0);
			return;
		}
		if (add_attach(t, sup, q))
			tree_reply(t, q->child, q->req_id, ARB_REPLY_OK, 0);
		return;
	case ARB_REQ_REMOVE:
		if (config)
			tree_delete(t, q->child);
		tree_reply(t, q->child, q->req_id,
			   config ? ARB_REPLY_OK : ARB_REPLY_NOT_RUNNING, 0);
		return;
	case ARB_REQ_REORDER:
		reorder(t, sup, q);
		tree_reply(t, sup, q->req_id, ARB_REPLY_OK, 0);
		return;
	case ARB_REQ_CHANGE:
	default:
		/* Down: it takes its new keys when it next starts. */
		tree_reply(t, q->child, q->req_id, ARB_REPLY_OK, 0);
		return;
	}
}

/* What a request on a child that does not run or gone is answered. */
static bool
request_answered_at_once(struct arb_tree *t, uint32_t sup,
			 const struct qitem *q)
{
	struct node *n = &t->nodes[q->child];
	bool running = needs_termination(n);
	enum arb_reply_kind reply = ARB_REPLY_OK;

	if (!n->present) {
		if (q->request == ARB_REQ_REMOVE &&
		    q->origin == ARB_ORIGIN_CONFIG)
			tree_delete(t, q->child);
		else
			reply = ARB_REPLY_NOT_FOUND;
		tree_reply(t, q->child, q->req_id, reply, 0);
		return true;
	}
	if ((q->request == ARB_REQ_START || q->request == ARB_REQ_RESTART) &&
	    arb_tree_is_instance(t, q->child)) {
		/* OTP's restart_child of a simple_one_for_one child. */
		tree_reply(t, q->child, q->req_id, ARB_REPLY_POOL_INSTANCE, 0);
		return true;
	}
	switch (q->request) {
	case ARB_REQ_START:
		if (!running && n->state != ARB_CHILD_RESTARTING)
			return false;
		reply = running ? ARB_REPLY_ALREADY_RUNNING
				: ARB_REPLY_RESTARTING;
		break;
	case ARB_REQ_STOP:
		if (running)
			return false;
		/* D2: a pending retry or delayed restart is cancelled; a
		 * pool's instance is gone with it (OTP's terminate_child). */
		cancel_restart(t, q->child);
		if (arb_tree_is_instance(t, q->child))
			tree_delete(t, q->child);
		break;
	case ARB_REQ_REMOVE:
		if (running)
			return false;
		cancel_restart(t, q->child);
		tree_delete(t, q->child);
		break;
	case ARB_REQ_CHANGE:
		/* Down, it takes its new keys when it next starts; a restart
		 * since the reload asked (its group's) took them already. */
		if (running && n->spec->pending)
			return false;
		break;
	case ARB_REQ_RESTART:
		/* C2: stopping deletes its spec, so it could not start again;
		 * OTP refuses restart_child of a temporary child too, and of
		 * a pool's instance. */
		if (n->spec->restart == ARB_TEMPORARY)
			reply = ARB_REPLY_TEMPORARY;
		else
			return false;
		break;
	case ARB_REQ_ADD:
	case ARB_REQ_REORDER:
	case _ARB_REQ_MAX:
		return false;
	}
	(void)sup;
	tree_reply(t, q->child, q->req_id, reply, 0);
	return true;
}

/*
 * D2, D3, restart and the living tree's requests, for an idle supervisor:
 * answered at once when there is nothing to do, else carried out as a
 * job over the child's one slot.
 */
static void
handle_request(struct arb_tree *t, uint32_t sup, const struct qitem *q)
{
	struct sup *s = t->nodes[sup].sup;

	if (left_meanwhile(t, q))
		return;
	if (t->nodes[sup].state != ARB_CHILD_UP && q->request >= ARB_REQ_ADD) {
		handle_shape_while_down(t, sup, q);
		return;
	}
	if (q->request == ARB_REQ_REORDER) {
		reorder(t, sup, q);
		tree_reply(t, sup, q->req_id, ARB_REPLY_OK, 0);
		return;
	}
	if (q->request == ARB_REQ_ADD && !add_attach(t, sup, q))
		return;
	if (q->request != ARB_REQ_ADD && request_answered_at_once(t, sup, q))
		return;
	if (q->request == ARB_REQ_RESTART &&
	    t->nodes[q->child].state == ARB_CHILD_RESTARTING)
		cancel_restart(t, q->child);
	s->request = q->request;
	s->req_id = q->req_id;
	s->origin = q->origin;
	s->target = q->child;
	job_begin(t, sup, JOB_REQUEST, (int32_t)t->nodes[q->child].pos,
		  (int32_t)t->nodes[q->child].pos);
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
		case Q_DELAYED:
			handle_delayed(t, sup, q.child, q.incarnation);
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

/* A pool's `instances`, new ones (numbered on), as its children. */
static void
make_instances(struct arb_tree *t, uint32_t pool)
{
	uint32_t k = t->spec->nodes[pool].instances;

	for (uint32_t i = 0; i < k && !t->oom; i++) {
		char name[ARB_INSTANCE_NAME_SIZE];
		uint32_t node;

		tree_next_instance(t, pool, name);
		node = arb_spec_instantiate(t->spec, pool, name, NULL);
		if (node == ARB_NONE ||
		    arb_spec_attach(t->spec, node, ARB_NONE) < 0) {
			/* The spec may have moved: no stale pointer after. */
			(void)tree_sync(t);
			t->oom = true;
			return;
		}
		if (!tree_sync(t))
			return;
		tree_number_children(t, pool);
	}
}

/* A sub-supervisor starts afresh: empty history and queue, full spec (I7). */
static void
sup_init(struct arb_tree *t, uint32_t sup)
{
	const struct arb_spec_node *spec;
	struct sup *s = t->nodes[sup].sup;

	s->hist_head = 0;
	s->hist_len = 0;
	t->nodes[sup].last_err = 0;
	sup_reset_queue(t, sup);
	drop_dynamic_children(t, sup, true);
	if (is_pool(t, sup))
		make_instances(t, sup);
	if (t->oom)
		return;
	spec = &t->spec->nodes[sup];
	for (uint32_t i = 0; i < spec->nchildren; i++) {
		struct node *c = &t->nodes[spec->children[i]];

		c->present = true;
		c->backoff_ms = 0; /* I7: from its configuration, afresh */
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

	if (s->job != JOB_NONE && s->terminating && s->outstanding > 0) {
		/* One of the children a shutdown stopped all at once. */
		if (--s->outstanding == 0)
			sup_advance(t, sup);
		return;
	}
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

	if (s->job == JOB_INIT && t->nodes[child].last_err == ARB_ECANCELED) {
		if (sup == ARB_ROOT) {
			/* A shutdown cancelled it: the boot was stopped, not
			 * failed. */
			shutdown_begin(t, sup, WHY_REQUESTED);
			return;
		}
		/* Its parent learns why (the same shutdown, or a stop). */
		t->nodes[sup].last_err = ARB_ECANCELED;
	}
	if (s->job == JOB_INIT) {
		job_begin(t, sup, JOB_INIT_ABORT, 0, s->cursor - 1);
		return;
	}
	if (s->job == JOB_REQUEST) {
		/* D3: no retry, nothing counted; the child stays stopped. A
		 * child an operator added is not kept (OTP's start_child). */
		s->job = JOB_NONE;
		tree_reply(t, child, s->req_id, ARB_REPLY_START_FAILED,
		      t->nodes[child].last_err);
		if (s->request == ARB_REQ_ADD &&
		    s->origin == ARB_ORIGIN_OPERATOR)
			tree_delete(t, child);
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
		if (s->job == JOB_NONE) {
			shutdown_begin(t, m->to, WHY_REQUESTED);
			return;
		}
		tree_enqueue(t, s, Q_SHUTDOWN, ARB_NONE, 0);
		cancel_start_before_exec(t, m->to, ARB_NONE);
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
	case MSG_DELAY_OVER:
		if (s->job == JOB_NONE)
			handle_delayed(t, m->to, m->from, m->incarnation);
		else
			tree_enqueue(t, s, Q_DELAYED, m->from, m->incarnation);
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
	if (t->m_len == 0 && t->m_cap > 256) {
		/* A shutdown of thousands is over: its room goes back. */
		arb_free(t->msgs);
		t->msgs = NULL;
		t->m_cap = 0;
		t->m_head = 0;
	}
}

/* ---- service events --------------------------------------------------- */

/* The keep-alive's deadline, when the service has a watchdog. */
static void
watchdog_arm(struct arb_tree *t, uint32_t node)
{
	int64_t ms = t->nodes[node].spec->watchdog_ms;

	if (ms > 0)
		tree_timer_set(t, node, t->now_ms + ms);
}

/* M6: started means ready; the next sibling may start now. */
static void
service_up(struct arb_tree *t, uint32_t node)
{
	struct node *n = &t->nodes[node];

	n->up_ms = t->now_ms;
	child_enter(t, node, ARB_CHILD_UP);
	watchdog_arm(t, node);
	tree_post(t, MSG_STARTED, parent_of(t, node), node);
}

static bool
service_spawned(struct arb_tree *t, uint32_t node, int pid)
{
	struct node *n = &t->nodes[node];
	struct arb_action *act;

	if (n->state == ARB_CHILD_KILLING && n->start_cancelled &&
	    n->pid == 0) {
		/* Its exec came before the SIGKILL: its death ends the start. */
		n->pid = pid;
		return true;
	}
	if (n->state != ARB_CHILD_STARTING || n->pid != 0)
		return false;
	n->pid = pid;
	act = tree_report(t, ARB_REP_START, node);
	if (act)
		act->pid = pid;
	if (n->spec->ready == ARB_READY_EXEC) {
		service_up(t, node);
		return true;
	}
	/* It runs; it is started when it says so (M6). */
	if (n->spec->start_timeout_ms != ARB_INFINITY_MS)
		tree_timer_set(t, node, t->now_ms + n->spec->start_timeout_ms);
	return true;
}

static bool
service_ready(struct arb_tree *t, uint32_t node)
{
	struct node *n = &t->nodes[node];
	struct arb_action *act;

	if (n->state != ARB_CHILD_STARTING || n->pid == 0)
		return false; /* not waiting: a repeated READY=1 means nothing */
	tree_timer_cancel(t, node);
	act = tree_report(t, ARB_REP_READY, node);
	if (act)
		act->pid = n->pid;
	service_up(t, node);
	return true;
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
 * The start of node failed (M6): fork or exec failed, it died before it
 * was ready (death), or it was not ready in time and has been stopped. Its
 * supervisor decides what that means (S3, R1, D3).
 */
static void
service_start_failed(struct arb_tree *t, uint32_t node,
		     enum arb_start_failure why, int err,
		     const struct arb_event *death)
{
	struct node *n = &t->nodes[node];
	struct arb_action *act;

	tree_timer_cancel(t, node);
	n->pid = 0;
	n->last_err = err;
	n->last_failure = why;
	n->start_failing = false;
	n->start_cancelled = false;
	child_enter(t, node, ARB_CHILD_DOWN);
	act = tree_report(t, ARB_REP_START_FAILED, node);
	if (act) {
		act->failure = why;
		act->err = err;
		if (death)
			fill_exit(act, death);
	}
	tree_post(t, MSG_START_FAILED, parent_of(t, node), node);
}

/* Its process failed before exec, or a cancelled start's did, either way. */
static bool
service_spawn_failed(struct arb_tree *t, uint32_t node, int err)
{
	struct node *n = &t->nodes[node];

	if (n->pid != 0)
		return false;
	if (n->state == ARB_CHILD_KILLING && n->start_cancelled)
		service_start_failed(t, node, ARB_FAIL_SPAWN, ARB_ECANCELED,
				     NULL);
	else if (n->state == ARB_CHILD_STARTING)
		service_start_failed(t, node, ARB_FAIL_SPAWN, err, NULL);
	else
		return false;
	return true;
}

/* A death arbord did not ask for, once the service was started. */
static void
service_died(struct arb_tree *t, const struct arb_event *ev)
{
	struct node *n = &t->nodes[ev->node];
	struct arb_action *act;

	tree_timer_cancel(t, ev->node);
	n->last_reason = arb_exit_reason(n->spec, ev->code, ev->signo,
					 ev->oom);
	if (n->aborting)
		n->last_reason = ARB_REASON_CRASH; /* hung, whatever it said */
	n->aborting = false;
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
}

/*
 * The main process of a service died. Whatever is left of its process group
 * is killed at once (M1, M3), whatever the state.
 */
static bool
service_exited(struct arb_tree *t, const struct arb_event *ev)
{
	struct node *n = &t->nodes[ev->node];

	if (ev->pid <= 0 || n->pid != ev->pid)
		return false; /* X1: not a current child */
	tree_emit_signal(t, ARB_ACT_KILL, ev->node, ev->pid);
	switch (n->state) {
	case ARB_CHILD_UP:
		service_died(t, ev);
		return true;
	case ARB_CHILD_STARTING:
		/* M6: dead before it was ready. */
		service_start_failed(t, ev->node, ARB_FAIL_EXIT, 0, ev);
		return true;
	case ARB_CHILD_STOPPING:
	case ARB_CHILD_KILLING:
		if (n->start_cancelled) {
			service_start_failed(t, ev->node, ARB_FAIL_SPAWN,
					     ARB_ECANCELED, NULL);
			return true;
		}
		if (n->start_failing) {
			service_start_failed(t, ev->node, ARB_FAIL_TIMEOUT, 0,
					     NULL);
			return true;
		}
		/* T4: how it died is logged, never acted on. */
		tree_timer_cancel(t, ev->node);
		fill_exit(tree_report(t, ARB_REP_STOP, ev->node), ev);
		child_stopped(t, ev->node);
		tree_post(t, MSG_TERMINATED, parent_of(t, ev->node), ev->node);
		return true;
	case ARB_CHILD_DOWN:
	case ARB_CHILD_EXITED:
	case ARB_CHILD_RESTARTING:
	case _ARB_CHILD_STATE_MAX:
		break;
	}
	return false;
}

/*
 * The watchdog: a hung service gets SIGABRT (so it can leave a core), and
 * SIGKILL to its group after stop_timeout if it is still there. Its death
 * is a crash whatever its status.
 */
static void
watchdog_fire(struct arb_tree *t, uint32_t node)
{
	struct node *n = &t->nodes[node];
	struct arb_action *act;

	act = tree_report(t, ARB_REP_WATCHDOG, node);
	if (act)
		act->pid = n->pid;
	n->aborting = true;
	tree_timer_cancel(t, node);
	if (n->spec->stop_timeout_ms == 0) {
		tree_emit_signal(t, ARB_ACT_KILL, node, n->pid);
		return;
	}
	tree_emit_signal(t, ARB_ACT_ABORT, node, n->pid);
	if (n->spec->stop_timeout_ms != ARB_INFINITY_MS)
		tree_timer_set(t, node, t->now_ms + n->spec->stop_timeout_ms);
}

/* The node's one timer: what it waited for depends on the state. */
static bool
service_timer(struct arb_tree *t, uint32_t node)
{
	struct node *n = &t->nodes[node];

	n->timer_armed = false;
	switch (n->state) {
	case ARB_CHILD_STOPPING:
		/* M3: stop_timeout passed; SIGKILL, keep waiting for the reap. */
		tree_emit_signal(t, ARB_ACT_KILL, node, n->pid);
		child_enter(t, node, ARB_CHILD_KILLING);
		return true;
	case ARB_CHILD_STARTING:
		/* M6: start_timeout passed; stop it, then it failed to start. */
		if (n->pid == 0)
			return false;
		n->start_failing = true;
		stop_service(t, node);
		return true;
	case ARB_CHILD_UP:
		if (n->aborting)
			tree_emit_signal(t, ARB_ACT_KILL, node, n->pid);
		else if (n->spec->watchdog_ms > 0)
			watchdog_fire(t, node);
		else
			return false;
		return true;
	case ARB_CHILD_RESTARTING:
		/* Still delayed until its supervisor acts: a queued retry
		 * must not count it again meanwhile. */
		if (!n->delayed)
			return false;
		tree_post(t, MSG_DELAY_OVER, parent_of(t, node), node);
		return true;
	case ARB_CHILD_DOWN:
	case ARB_CHILD_EXITED:
	case ARB_CHILD_KILLING:
	case _ARB_CHILD_STATE_MAX:
		break;
	}
	return false;
}

/* WATCHDOG=1: the next keep-alive is due a full interval from now. */
static bool
service_keepalive(struct arb_tree *t, uint32_t node)
{
	struct node *n = &t->nodes[node];

	if (n->state != ARB_CHILD_UP || n->aborting ||
	    n->spec->watchdog_ms <= 0)
		return false;
	watchdog_arm(t, node);
	return true;
}

static bool
service_watchdog_trigger(struct arb_tree *t, uint32_t node)
{
	struct node *n = &t->nodes[node];

	if (n->state != ARB_CHILD_UP || n->aborting ||
	    n->spec->watchdog_ms <= 0)
		return false;
	watchdog_fire(t, node);
	return true;
}

/*
 * EXTEND_TIMEOUT_USEC: the start or stop deadline becomes at least now +
 * ms; it never moves closer (as systemd's).
 */
static bool
service_extend(struct arb_tree *t, uint32_t node, int64_t ms)
{
	struct node *n = &t->nodes[node];
	bool waiting = (n->state == ARB_CHILD_STARTING && n->pid > 0) ||
		       n->state == ARB_CHILD_STOPPING;

	if (!waiting || !n->timer_armed || ms <= 0 ||
	    ms > ARB_INFINITY_MS - t->now_ms ||
	    t->now_ms + ms <= n->deadline_ms)
		return false;
	tree_timer_set(t, node, t->now_ms + ms);
	return true;
}

/* M12: MAINPID=; the shell checked who sent it. */
static bool
service_mainpid(struct arb_tree *t, uint32_t node, int pid)
{
	struct node *n = &t->nodes[node];

	if (pid <= 0 || n->pid <= 0 ||
	    (n->state != ARB_CHILD_UP && n->state != ARB_CHILD_STARTING))
		return false;
	n->pid = pid;
	return true;
}

static bool
is_service(const struct arb_tree *t, uint32_t node)
{
	return node < t->nnodes && arb_spec_is_node(t->spec, node) &&
	       !t->nodes[node].deleted &&
	       t->spec->nodes[node].kind == ARB_NODE_SERVICE;
}

/* Whether node is its parent's child now (not one still to add). */
static bool
attached(const struct arb_tree *t, uint32_t node)
{
	const struct arb_spec_node *p = &t->spec->nodes[parent_of(t, node)];
	uint32_t pos = t->nodes[node].pos;

	return pos < p->nchildren && p->children[pos] == node;
}

/* Whether a request may name node: a node of the tree, or one to add. */
static bool
request_target_valid(const struct arb_tree *t, const struct arb_event *ev)
{
	if (ev->node >= t->nnodes || ev->request >= _ARB_REQ_MAX ||
	    !arb_spec_is_node(t->spec, ev->node) || t->nodes[ev->node].deleted)
		return false;
	if (ev->request == ARB_REQ_REORDER)
		return t->spec->nodes[ev->node].kind == ARB_NODE_SUPERVISOR;
	if (ev->node == ARB_ROOT)
		return false;
	/* A node to add is nobody's child yet; any other is a child. */
	return (ev->request == ARB_REQ_ADD) != attached(t, ev->node);
}

/*
 * A request goes to the child's supervisor (REORDER: to the supervisor
 * named), which may be busy (M5). A node to add is dropped with any
 * refusal.
 */
static void
route_request(struct arb_tree *t, const struct arb_event *ev)
{
	bool shape = ev->request >= ARB_REQ_ADD && ev->request < _ARB_REQ_MAX;
	enum arb_reply_kind refusal = ARB_REPLY_OK;
	struct qitem *q;
	uint32_t sup;

	if (!request_target_valid(t, ev)) {
		tree_reply(t, ev->node < t->nnodes ? ev->node : ARB_ROOT,
		      ev->req_id, ARB_REPLY_NOT_FOUND, 0);
		return;
	}
	sup = ev->request == ARB_REQ_REORDER ? ev->node : parent_of(t, ev->node);
	if (t->down)
		refusal = ARB_REPLY_ABORTED;
	else if (t->nodes[sup].state != ARB_CHILD_UP &&
		 (!shape || ev->origin == ARB_ORIGIN_OPERATOR))
		refusal = ARB_REPLY_NOT_RUNNING;
	if (refusal != ARB_REPLY_OK) {
		if (ev->request == ARB_REQ_ADD)
			tree_delete(t, ev->node);
		tree_reply(t, ev->node, ev->req_id, refusal, 0);
		return;
	}
	q = tree_enqueue(t, t->nodes[sup].sup, Q_REQUEST, ev->node, 0);
	if (!q)
		return;
	q->request = ev->request;
	q->req_id = ev->req_id;
	q->origin = ev->origin;
	q->pos = ev->pos;
	q->order = ev->order;
	q->norder = ev->norder;
	if (ev->request == ARB_REQ_STOP || ev->request == ARB_REQ_REMOVE)
		cancel_start_before_exec(t, sup, ev->node);
	sup_drain(t, sup);
}

/*
 * An event that changed nothing, counted by the state its node was in (see
 * tree_internal.h): tests read the counts to tell a rule that acted from
 * one that let the event pass.
 */
static void
ignore_event(struct arb_tree *t, const struct arb_event *ev)
{
	if (ev->node >= t->nnodes || ev->kind >= _ARB_EV_MAX) {
		t->ignored_stray++;
		return;
	}
	t->ignored[t->nodes[ev->node].state][ev->kind]++;
}

/* One event on a service; false when it found nothing to do. */
static bool
service_step(struct arb_tree *t, const struct arb_event *ev)
{
	switch (ev->kind) {
	case ARB_EV_SPAWNED:
		return service_spawned(t, ev->node, ev->pid);
	case ARB_EV_SPAWN_FAILED:
		return service_spawn_failed(t, ev->node, ev->err);
	case ARB_EV_EXITED:
		return service_exited(t, ev);
	case ARB_EV_TIMER:
		return service_timer(t, ev->node);
	case ARB_EV_READY:
		return service_ready(t, ev->node);
	case ARB_EV_WATCHDOG:
		return service_keepalive(t, ev->node);
	case ARB_EV_WATCHDOG_TRIGGER:
		return service_watchdog_trigger(t, ev->node);
	case ARB_EV_EXTEND_TIMEOUT:
		return service_extend(t, ev->node, ev->ms);
	case ARB_EV_MAINPID:
		return service_mainpid(t, ev->node, ev->pid);
	case ARB_EV_BOOT:
	case ARB_EV_SHUTDOWN:
	case ARB_EV_REQUEST:
	case _ARB_EV_MAX:
		break;
	}
	return false;
}

/* The tree as a whole: its start, its stop, an operator's request. */
static bool
tree_level_step(struct arb_tree *t, const struct arb_event *ev)
{
	switch (ev->kind) {
	case ARB_EV_BOOT:
		if (t->nodes[ARB_ROOT].state != ARB_CHILD_DOWN || t->down)
			return false;
		/* Nodes that never start have been down since now. */
		for (uint32_t i = 0; i < t->nnodes; i++)
			t->nodes[i].since_ms = t->now_ms;
		start_child(t, ARB_ROOT);
		return true;
	case ARB_EV_SHUTDOWN:
		if (t->down || t->nodes[ARB_ROOT].state == ARB_CHILD_DOWN)
			return false;
		tree_post(t, MSG_SHUTDOWN, ARB_ROOT, ARB_NONE);
		return true;
	case ARB_EV_REQUEST:
		route_request(t, ev); /* always answered */
		return true;
	default:
		return false;
	}
}

int
arb_tree_step(struct arb_tree *t, const struct arb_event *ev,
	      struct arb_actions *out)
{
	bool acted;

	out->n = 0;
	t->out = out;
	t->now_ms = ev->now_ms;
	if (t->oom)
		return -1;
	/* What left the tree last step is freed now; what the shell changed
	 * (a reload, an add) is read now. */
	tree_release_deleted(t);
	if (!tree_sync(t))
		return -1;
	switch (ev->kind) {
	case ARB_EV_BOOT:
	case ARB_EV_SHUTDOWN:
	case ARB_EV_REQUEST:
		acted = tree_level_step(t, ev);
		break;
	default:
		acted = is_service(t, ev->node) && service_step(t, ev);
		break;
	}
	if (!acted)
		ignore_event(t, ev);
	drain_messages(t);
	return t->oom ? -1 : 0;
}

uint32_t
arb_tree_ignored(const struct arb_tree *t, enum arb_child_state state,
		 enum arb_event_kind kind)
{
	if (state >= _ARB_CHILD_STATE_MAX || kind >= _ARB_EV_MAX)
		return t->ignored_stray;
	return t->ignored[state][kind];
}
