/*
 * tree_state.c - the core's state read out and put back, for a re-exec of
 * arbord (tree_state.h). Pure, as tree.c: no syscalls, no clock.
 *
 * Saving copies fields out. Restoring trusts nothing: each piece is checked
 * on its own (ranges, indices, the pid a state needs), then the whole in
 * arb_tree_restore_done() (what a job waits for, what a parent must be
 * doing for its child to be), so that a restored tree never makes tree.c
 * read out of bounds, signal a process group it does not own, or hang.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mem.h"
#include "tree_internal.h"
#include "tree_state.h"

/* Linux's, as tree_state.h says: the core has no errno.h. */
#define RESTORE_EINVAL 22
#define RESTORE_ENOMEM 12

/* The public enums are tree_internal.h's, value for value. */
_Static_assert((int)ARB_JOB_NONE == JOB_NONE, "job");
_Static_assert((int)ARB_JOB_INIT == JOB_INIT, "job");
_Static_assert((int)ARB_JOB_INIT_ABORT == JOB_INIT_ABORT, "job");
_Static_assert((int)ARB_JOB_RESTART == JOB_RESTART, "job");
_Static_assert((int)ARB_JOB_SHUTDOWN == JOB_SHUTDOWN, "job");
_Static_assert((int)ARB_JOB_REQUEST == JOB_REQUEST, "job");
_Static_assert(_ARB_JOB_MAX == JOB_REQUEST + 1, "a job is missing");
_Static_assert((int)ARB_WHY_REQUESTED == WHY_REQUESTED, "why");
_Static_assert((int)ARB_WHY_GIVEUP == WHY_GIVEUP, "why");
_Static_assert((int)ARB_WHY_AUTO == WHY_AUTO, "why");
_Static_assert(_ARB_WHY_MAX == WHY_AUTO + 1, "a why is missing");
_Static_assert((int)ARB_QUEUED_EXIT == Q_EXIT, "qitem");
_Static_assert((int)ARB_QUEUED_RETRY == Q_RETRY, "qitem");
_Static_assert((int)ARB_QUEUED_DELAYED == Q_DELAYED, "qitem");
_Static_assert((int)ARB_QUEUED_SHUTDOWN == Q_SHUTDOWN, "qitem");
_Static_assert((int)ARB_QUEUED_REQUEST == Q_REQUEST, "qitem");
_Static_assert(_ARB_QUEUED_MAX == Q_REQUEST + 1, "a qitem is missing");

/* ---- names ----------------------------------------------------------- */

static const char *const job_names[_ARB_JOB_MAX] = {
	[ARB_JOB_NONE] = "none",
	[ARB_JOB_INIT] = "init",
	[ARB_JOB_INIT_ABORT] = "init_abort",
	[ARB_JOB_RESTART] = "restart",
	[ARB_JOB_SHUTDOWN] = "shutdown",
	[ARB_JOB_REQUEST] = "request",
};

static const char *const why_names[_ARB_WHY_MAX] = {
	[ARB_WHY_REQUESTED] = "requested",
	[ARB_WHY_GIVEUP] = "giveup",
	[ARB_WHY_AUTO] = "auto",
};

static const char *const queued_names[_ARB_QUEUED_MAX] = {
	[ARB_QUEUED_EXIT] = "exit",
	[ARB_QUEUED_RETRY] = "retry",
	[ARB_QUEUED_DELAYED] = "delayed",
	[ARB_QUEUED_SHUTDOWN] = "shutdown",
	[ARB_QUEUED_REQUEST] = "request",
};

static const char *const request_names[_ARB_REQ_MAX] = {
	[ARB_REQ_START] = "start",
	[ARB_REQ_STOP] = "stop",
	[ARB_REQ_RESTART] = "restart",
	[ARB_REQ_ADD] = "add",
	[ARB_REQ_REMOVE] = "remove",
	[ARB_REQ_CHANGE] = "change",
	[ARB_REQ_REORDER] = "reorder",
};

/* arb_request_origin has no _MAX: its last value is CONFIG. */
#define ORIGIN_COUNT (ARB_ORIGIN_CONFIG + 1)

static const char *const origin_names[ORIGIN_COUNT] = {
	[ARB_ORIGIN_OPERATOR] = "operator",
	[ARB_ORIGIN_CONFIG] = "config",
};

const char *
arb_job_name(enum arb_job v)
{
	return (unsigned)v < _ARB_JOB_MAX ? job_names[v] : "?";
}

const char *
arb_job_why_name(enum arb_job_why v)
{
	return (unsigned)v < _ARB_WHY_MAX ? why_names[v] : "?";
}

const char *
arb_queued_kind_name(enum arb_queued_kind v)
{
	return (unsigned)v < _ARB_QUEUED_MAX ? queued_names[v] : "?";
}

const char *
arb_request_name(enum arb_request_kind v)
{
	return (unsigned)v < _ARB_REQ_MAX ? request_names[v] : "?";
}

const char *
arb_origin_name(enum arb_request_origin v)
{
	return (unsigned)v < ORIGIN_COUNT ? origin_names[v] : "?";
}

/* The index of name in names[0..n), or -1. */
static int
index_of(const char *const *names, int n, const char *name)
{
	for (int i = 0; name && i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

int
arb_job_from_name(const char *name)
{
	return index_of(job_names, _ARB_JOB_MAX, name);
}

int
arb_job_why_from_name(const char *name)
{
	return index_of(why_names, _ARB_WHY_MAX, name);
}

int
arb_queued_kind_from_name(const char *name)
{
	return index_of(queued_names, _ARB_QUEUED_MAX, name);
}

int
arb_request_from_name(const char *name)
{
	return index_of(request_names, _ARB_REQ_MAX, name);
}

int
arb_origin_from_name(const char *name)
{
	return index_of(origin_names, ORIGIN_COUNT, name);
}

/* The tables of tree_data.c are reached through their name functions. */
int
arb_child_state_from_name(const char *name)
{
	for (int v = 0; name && v < _ARB_CHILD_STATE_MAX; v++)
		if (strcmp(arb_child_state_name((enum arb_child_state)v),
			   name) == 0)
			return v;
	return -1;
}

int
arb_reason_from_name(const char *name)
{
	for (int v = 0; name && v < _ARB_REASON_MAX; v++)
		if (strcmp(arb_reason_name((enum arb_reason)v), name) == 0)
			return v;
	return -1;
}

int
arb_start_failure_from_name(const char *name)
{
	for (int v = 0; name && v < _ARB_FAIL_MAX; v++)
		if (strcmp(arb_start_failure_name((enum arb_start_failure)v),
			   name) == 0)
			return v;
	return -1;
}

/* ---- save ------------------------------------------------------------- */

static const struct qitem *
queued_at(const struct sup *s, uint32_t i)
{
	return &s->queue[(s->q_head + i) % s->q_cap];
}

bool
arb_tree_savable(const struct arb_tree *t)
{
	if (t->oom || t->m_len > 0 || t->ndeleted > 0)
		return false;
	for (uint32_t i = 0; i < t->nnodes; i++) {
		const struct sup *s = t->nodes[i].sup;

		for (uint32_t k = 0; s && k < s->q_len; k++)
			if (queued_at(s, k)->kind == Q_REQUEST &&
			    queued_at(s, k)->request == ARB_REQ_REORDER)
				return false;
	}
	return true;
}

void
arb_tree_save_globals(const struct arb_tree *t, struct arb_tree_globals *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->incarnations = t->incarnations;
	ret->rng = t->rng;
	ret->down = t->down;
}

void
arb_tree_save_node(const struct arb_tree *t, uint32_t node,
		   struct arb_node_state *ret)
{
	const struct node *n = &t->nodes[node];

	memset(ret, 0, sizeof(*ret));
	ret->state = n->state;
	ret->present = n->present;
	ret->pid = n->pid;
	ret->incarnation = n->incarnation;
	ret->restarts = n->restarts;
	ret->timer_armed = n->timer_armed;
	ret->deadline_ms = n->deadline_ms;
	ret->since_ms = n->since_ms;
	ret->up_ms = n->up_ms;
	ret->start_failing = n->start_failing;
	ret->start_cancelled = n->start_cancelled;
	ret->aborting = n->aborting;
	ret->delayed = n->delayed;
	ret->backoff_ms = n->backoff_ms;
	ret->last_err = n->last_err;
	ret->last_failure = n->last_failure;
	ret->exited = n->exited;
	ret->exit_pid = n->exit_pid;
	ret->exit_code = n->exit_code;
	ret->exit_signo = n->exit_signo;
	ret->last_reason = n->last_reason;
}

void
arb_tree_save_sup(const struct arb_tree *t, uint32_t node,
		  struct arb_sup_state *ret)
{
	const struct sup *s = t->nodes[node].sup;

	memset(ret, 0, sizeof(*ret));
	ret->job = (enum arb_job)s->job;
	ret->terminating = s->terminating;
	ret->cursor = s->cursor;
	ret->first = s->first;
	ret->last = s->last;
	ret->why = (enum arb_job_why)s->why;
	ret->auto_status = s->auto_status;
	ret->request = s->request;
	ret->req_id = s->req_id;
	ret->origin = s->origin;
	ret->target = s->target;
	ret->outstanding = s->outstanding;
	ret->next_instance = s->next_instance;
	ret->nhistory = s->hist_len;
	ret->nqueue = s->q_len;
}

int64_t
arb_tree_save_history(const struct arb_tree *t, uint32_t node, uint32_t i)
{
	const struct sup *s = t->nodes[node].sup;

	return s->history[(s->hist_head + i) % s->hist_cap];
}

void
arb_tree_save_queued(const struct arb_tree *t, uint32_t node, uint32_t i,
		     struct arb_queued *ret)
{
	const struct qitem *q = queued_at(t->nodes[node].sup, i);

	memset(ret, 0, sizeof(*ret));
	ret->kind = (enum arb_queued_kind)q->kind;
	ret->child = q->child;
	ret->incarnation = q->incarnation;
	ret->request = q->request;
	ret->req_id = q->req_id;
	ret->origin = q->origin;
	ret->pos = q->pos;
}

/* ---- restore: one piece at a time ------------------------------------ */

static int
refuse(const char **ret_why, const char *why)
{
	*ret_why = why;
	return -RESTORE_EINVAL;
}

static bool
is_sup_node(const struct arb_tree *t, uint32_t node)
{
	return arb_spec_is_node(t->spec, node) &&
	       t->spec->nodes[node].kind == ARB_NODE_SUPERVISOR &&
	       t->nodes[node].sup != NULL;
}

/* Whether node is, right now, its parent's child (not one still to add). */
static bool
attached_to(const struct arb_tree *t, uint32_t node, uint32_t parent)
{
	const struct arb_spec_node *p = &t->spec->nodes[parent];
	uint32_t pos = t->nodes[node].pos;

	return t->spec->nodes[node].parent == parent && pos < p->nchildren &&
	       p->children[pos] == node;
}

int
arb_tree_restore_globals(struct arb_tree *t, const struct arb_tree_globals *g,
			 const char **ret_why)
{
	if (g->rng == 0)
		return refuse(ret_why, "rng is 0 (xorshift would stay at 0)");
	t->incarnations = g->incarnations;
	t->rng = g->rng;
	t->down = g->down;
	return 0;
}

static const char *
node_values_invalid(const struct arb_tree *t, const struct arb_node_state *s)
{
	if ((unsigned)s->state >= _ARB_CHILD_STATE_MAX)
		return "node state out of range";
	if ((unsigned)s->last_failure >= _ARB_FAIL_MAX)
		return "last_failure out of range";
	if ((unsigned)s->last_reason >= _ARB_REASON_MAX)
		return "last_reason out of range";
	if (s->incarnation > t->incarnations)
		return "incarnation after the tree's last";
	if (s->since_ms < 0 || s->up_ms < 0 || s->deadline_ms < 0 ||
	    s->backoff_ms < 0)
		return "a negative time";
	return NULL;
}

/* Only services have processes and timers (tree.c). */
static const char *
sup_node_invalid(const struct arb_node_state *s)
{
	if (s->pid != 0)
		return "a supervisor with a pid";
	if (s->state == ARB_CHILD_KILLING)
		return "a supervisor killing";
	if (s->timer_armed || s->start_failing || s->start_cancelled ||
	    s->aborting || s->delayed || s->backoff_ms != 0)
		return "a supervisor with a service's timer or flags";
	return NULL;
}

/*
 * The pid each state has in tree.c: TERMINATE or KILL of pid 0 would
 * signal arbord's own process group. KILLING with pid 0 is a start
 * cancelled before exec, whose SIGKILL went to the process being made.
 */
static const char *
service_node_invalid(const struct arb_node_state *s)
{
	switch (s->state) {
	case ARB_CHILD_DOWN:
	case ARB_CHILD_EXITED:
	case ARB_CHILD_RESTARTING:
		if (s->pid != 0)
			return "a pid in a state without a process";
		break;
	case ARB_CHILD_STARTING:
		if (s->pid < 0)
			return "a negative pid";
		break;
	case ARB_CHILD_UP:
	case ARB_CHILD_STOPPING:
		if (s->pid <= 0)
			return "a running service without a pid";
		break;
	case ARB_CHILD_KILLING:
		if (s->pid < 0 || (s->pid == 0 && !s->start_cancelled))
			return "a service killing without a pid";
		break;
	case _ARB_CHILD_STATE_MAX:
		return "node state out of range";
	}
	if (s->delayed && s->state != ARB_CHILD_RESTARTING)
		return "delayed outside restarting";
	if (s->start_cancelled && s->state != ARB_CHILD_KILLING)
		return "a cancelled start outside killing";
	if (s->start_failing && s->state != ARB_CHILD_STOPPING &&
	    s->state != ARB_CHILD_KILLING)
		return "a failing start outside stopping or killing";
	if (s->aborting && s->state != ARB_CHILD_UP)
		return "aborting outside up";
	if (s->timer_armed && (s->state == ARB_CHILD_DOWN ||
			       s->state == ARB_CHILD_EXITED ||
			       s->state == ARB_CHILD_KILLING))
		return "a timer in a state that waits for none";
	return NULL;
}

int
arb_tree_restore_node(struct arb_tree *t, uint32_t node,
		      const struct arb_node_state *s, const char **ret_why)
{
	const char *why;
	struct node *n;

	if (node >= t->nnodes || !arb_spec_is_node(t->spec, node))
		return refuse(ret_why, "node state for a slot that is no node");
	why = node_values_invalid(t, s);
	if (!why)
		why = t->spec->nodes[node].kind == ARB_NODE_SUPERVISOR
			      ? sup_node_invalid(s)
			      : service_node_invalid(s);
	if (!why && !s->present && s->state != ARB_CHILD_DOWN)
		why = "a node gone from the tree but not down";
	if (!why && node == ARB_ROOT && !s->present)
		why = "the root gone from the tree";
	if (why)
		return refuse(ret_why, why);
	n = &t->nodes[node];
	n->state = s->state;
	n->present = s->present;
	n->pid = s->pid;
	n->incarnation = s->incarnation;
	n->restarts = s->restarts;
	n->timer_armed = s->timer_armed;
	n->deadline_ms = s->deadline_ms;
	n->since_ms = s->since_ms;
	n->up_ms = s->up_ms;
	n->start_failing = s->start_failing;
	n->start_cancelled = s->start_cancelled;
	n->aborting = s->aborting;
	n->delayed = s->delayed;
	n->backoff_ms = s->backoff_ms;
	n->last_err = s->last_err;
	n->last_failure = s->last_failure;
	n->exited = s->exited;
	n->exit_pid = s->exit_pid;
	n->exit_code = s->exit_code;
	n->exit_signo = s->exit_signo;
	n->last_reason = s->last_reason;
	return 0;
}

/*
 * A running job walks [first, last] with its cursor and, between steps,
 * waits for the child at the cursor, or (a shutdown all at once) for
 * `outstanding` children stopped at once, the cursor past them.
 */
static const char *
job_range_invalid(const struct arb_tree *t, uint32_t sup,
		  const struct arb_sup_state *s)
{
	const struct arb_spec_node *spec = &t->spec->nodes[sup];
	int32_t n = (int32_t)spec->nchildren;

	if (s->first < 0 || s->first > n || s->last < -1 || s->last >= n ||
	    s->first > s->last + 1)
		return "a job's group outside the children";
	if (s->outstanding > 0) {
		/* A pool's, or with shutdown = "parallel" (which a reload
		 * may have changed since: not checked). */
		if (s->job != ARB_JOB_SHUTDOWN || !s->terminating ||
		    s->cursor != s->first - 1 ||
		    s->outstanding > (uint32_t)(s->last - s->first + 1))
			return "outstanding stops outside a shutdown all at "
			       "once";
		return NULL;
	}
	if (s->cursor < s->first || s->cursor > s->last)
		return "a job's cursor outside its group";
	if (s->job == ARB_JOB_REQUEST &&
	    (s->first != s->last ||
	     s->target != spec->children[s->first] ||
	     s->request == ARB_REQ_REORDER))
		return "a request job not about its one child";
	return NULL;
}

static const char *
sup_values_invalid(const struct arb_tree *t, uint32_t sup,
		   const struct arb_sup_state *s)
{
	uint32_t cap = t->nodes[sup].sup->hist_cap;

	if ((unsigned)s->job >= _ARB_JOB_MAX || (unsigned)s->why >= _ARB_WHY_MAX ||
	    (unsigned)s->request >= _ARB_REQ_MAX ||
	    (unsigned)s->origin >= ORIGIN_COUNT)
		return "a supervisor's enum out of range";
	if (s->auto_status < 0 || s->auto_status > 255)
		return "an automatic shutdown's status out of 0-255";
	if (s->nhistory > cap)
		return "a restart history longer than intensity + 1";
	if ((s->nhistory > 0 && !s->history) || (s->nqueue > 0 && !s->queue))
		return "a history or queue without its items";
	for (uint32_t i = 0; i < s->nhistory; i++)
		if (s->history[i] < 0 ||
		    (i > 0 && s->history[i] < s->history[i - 1]))
			return "a restart history not in time order";
	if (s->job == ARB_JOB_NONE) {
		/* An idle supervisor drains its queue at once (M5). */
		if (s->nqueue > 0 || s->outstanding > 0)
			return "queued work with no job running";
		return NULL;
	}
	return job_range_invalid(t, sup, s);
}

/* What tree.c may do with q: its child must be sup's (tree_enqueue). */
static const char *
queued_invalid(const struct arb_tree *t, uint32_t sup,
	       const struct arb_queued *q)
{
	bool node = q->child < t->nnodes &&
		    arb_spec_is_node(t->spec, q->child) &&
		    t->spec->nodes[q->child].parent == sup;

	if ((unsigned)q->kind >= _ARB_QUEUED_MAX ||
	    (unsigned)q->request >= _ARB_REQ_MAX ||
	    (unsigned)q->origin >= ORIGIN_COUNT)
		return "a queued item's enum out of range";
	if (q->incarnation > t->incarnations)
		return "a queued item after the tree's last incarnation";
	switch (q->kind) {
	case ARB_QUEUED_SHUTDOWN:
		return q->child == ARB_NONE ? NULL : "a queued shutdown of a child";
	case ARB_QUEUED_REQUEST:
		if (q->request == ARB_REQ_REORDER)
			return "a queued reorder (its order is not saved)";
		/* A child to add is nobody's child yet; any other is one. */
		if (!node ||
		    (q->request == ARB_REQ_ADD) == attached_to(t, q->child, sup))
			return "a queued request for no child of its supervisor";
		return NULL;
	case ARB_QUEUED_EXIT:
	case ARB_QUEUED_RETRY:
	case ARB_QUEUED_DELAYED:
		if (!node || !attached_to(t, q->child, sup))
			return "a queued item for no child of its supervisor";
		return NULL;
	case _ARB_QUEUED_MAX:
		break;
	}
	return "a queued item's enum out of range";
}

/* The queue as tree_data.c keeps it: a ring, here starting at 0. */
static int
restore_queue(struct arb_tree *t, struct sup *sup, uint32_t node,
	      const struct arb_sup_state *s, const char **ret_why)
{
	struct qitem *v = NULL;

	for (uint32_t i = 0; i < s->nqueue; i++) {
		const char *why = queued_invalid(t, node, &s->queue[i]);

		if (why)
			return refuse(ret_why, why);
	}
	if (s->nqueue > 0) {
		v = arb_calloc(s->nqueue, sizeof(*v));
		if (!v)
			return -RESTORE_ENOMEM;
	}
	for (uint32_t i = 0; i < s->nqueue; i++) {
		const struct arb_queued *q = &s->queue[i];

		v[i].kind = (enum qitem_kind)q->kind;
		v[i].child = q->child;
		v[i].incarnation = q->incarnation;
		v[i].request = q->request;
		v[i].req_id = q->req_id;
		v[i].origin = q->origin;
		v[i].pos = q->pos;
	}
	arb_free(sup->queue);
	sup->queue = v;
	sup->q_head = 0;
	sup->q_len = s->nqueue;
	sup->q_cap = s->nqueue;
	return 0;
}

int
arb_tree_restore_sup(struct arb_tree *t, uint32_t node,
		     const struct arb_sup_state *s, const char **ret_why)
{
	const char *why;
	struct sup *sup;
	int r;

	if (node >= t->nnodes || !is_sup_node(t, node))
		return refuse(ret_why, "supervisor state for no supervisor");
	why = sup_values_invalid(t, node, s);
	if (why)
		return refuse(ret_why, why);
	sup = t->nodes[node].sup;
	r = restore_queue(t, sup, node, s, ret_why);
	if (r < 0)
		return r;
	sup->job = (enum sup_job)s->job;
	sup->terminating = s->terminating;
	sup->why = (enum shutdown_why)s->why;
	sup->auto_status = s->auto_status;
	sup->request = s->request;
	sup->req_id = s->req_id;
	sup->origin = s->origin;
	sup->outstanding = s->outstanding;
	sup->next_instance = s->next_instance;
	/* An idle supervisor's cursor and target are a finished job's,
	 * never read again: kept as they came, but never as an index. */
	sup->cursor = s->cursor;
	sup->first = s->first;
	sup->last = s->last;
	sup->target = s->job == ARB_JOB_NONE && s->target >= t->nnodes
			      ? ARB_NONE : s->target;
	memcpy(sup->history, s->history, s->nhistory * sizeof(*s->history));
	sup->hist_head = 0;
	sup->hist_len = s->nhistory;
	return 0;
}

/* ---- restore: the whole ------------------------------------------------ */

static bool
in_progress(enum arb_child_state state)
{
	return state == ARB_CHILD_STARTING || state == ARB_CHILD_STOPPING ||
	       state == ARB_CHILD_KILLING;
}

/* The state the child at a job's cursor is in while the job waits for it. */
static bool
awaited_state_valid(const struct sup *s, const struct node *c)
{
	if (s->terminating)
		return c->state == ARB_CHILD_STOPPING ||
		       c->state == ARB_CHILD_KILLING;
	return c->state == ARB_CHILD_STARTING ||
	       (c->state == ARB_CHILD_KILLING && c->start_cancelled) ||
	       (in_progress(c->state) && c->start_failing);
}

static bool
queues_shutdown(const struct sup *s)
{
	for (uint32_t i = 0; i < s->q_len; i++)
		if (queued_at(s, i)->kind == Q_SHUTDOWN)
			return true;
	return false;
}

/* A supervisor's job against its own state and its children's. */
static const char *
sup_job_inconsistent(const struct arb_tree *t, uint32_t node)
{
	const struct node *n = &t->nodes[node];
	const struct sup *s = n->sup;
	const struct arb_spec_node *spec = &t->spec->nodes[node];
	uint32_t stopping = 0;

	switch (s->job) {
	case JOB_NONE:
		if (n->state == ARB_CHILD_STARTING ||
		    n->state == ARB_CHILD_STOPPING)
			return "a supervisor starting or stopping with no job";
		return NULL;
	case JOB_INIT:
	case JOB_INIT_ABORT:
		if (n->state != ARB_CHILD_STARTING)
			return "an init job of a supervisor not starting";
		break;
	case JOB_SHUTDOWN:
		if (n->state != ARB_CHILD_UP && n->state != ARB_CHILD_STOPPING &&
		    n->state != ARB_CHILD_STARTING)
			return "a shutdown job of a supervisor not running";
		break;
	case JOB_RESTART:
	case JOB_REQUEST:
		if (n->state != ARB_CHILD_UP && n->state != ARB_CHILD_STOPPING)
			return "a job of a supervisor not running";
		break;
	}
	if (n->state == ARB_CHILD_STOPPING && s->job != JOB_SHUTDOWN &&
	    !queues_shutdown(s))
		return "a supervisor stopping with no shutdown to do";
	if (s->outstanding == 0)
		return awaited_state_valid(s, &t->nodes[spec->children[s->cursor]])
			       ? NULL
			       : "a job waiting for a child that is not busy";
	for (int32_t i = s->first; i <= s->last; i++) {
		const struct node *c = &t->nodes[spec->children[i]];

		stopping += c->state == ARB_CHILD_STOPPING ||
			    c->state == ARB_CHILD_KILLING;
	}
	return stopping == s->outstanding
		       ? NULL
		       : "outstanding stops not the children stopping";
}

/*
 * A child starting or stopping is what its parent's job waits for; a
 * child with anything going on has a parent that runs.
 */
static const char *
child_inconsistent(const struct arb_tree *t, uint32_t node)
{
	const struct node *c = &t->nodes[node];
	uint32_t parent = t->spec->nodes[node].parent;
	const struct node *p;
	const struct sup *s;

	if (node == ARB_ROOT)
		return NULL;
	if (!attached_to(t, node, parent))
		return c->state == ARB_CHILD_DOWN
			       ? NULL : "a node to add that is not down";
	p = &t->nodes[parent];
	s = p->sup;
	if (c->state != ARB_CHILD_DOWN && p->state != ARB_CHILD_STARTING &&
	    p->state != ARB_CHILD_UP && p->state != ARB_CHILD_STOPPING)
		return "a child not down under a supervisor not running";
	if (!in_progress(c->state))
		return NULL;
	if (s->job == JOB_NONE)
		return "a child starting or stopping that no job waits for";
	if (s->outstanding > 0 && (int32_t)c->pos >= s->first &&
	    (int32_t)c->pos <= s->last)
		return NULL;
	if (s->outstanding == 0 && s->cursor == (int32_t)c->pos)
		return NULL;
	return "a child starting or stopping that no job waits for";
}

int
arb_tree_restore_done(struct arb_tree *t, const char **ret_why)
{
	for (uint32_t i = 0; i < t->nnodes; i++) {
		const char *why;

		if (!arb_spec_is_node(t->spec, i))
			continue;
		why = child_inconsistent(t, i);
		if (!why && t->nodes[i].sup)
			why = sup_job_inconsistent(t, i);
		if (!why && t->down && i != ARB_ROOT &&
		    t->nodes[i].state != ARB_CHILD_DOWN)
			why = "a node not down in a tree that is down";
		if (!why && t->down && t->nodes[i].sup &&
		    t->nodes[i].sup->job != JOB_NONE)
			why = "a job running in a tree that is down";
		if (why)
			return refuse(ret_why, why);
	}
	return 0;
}
