/*
 * tree_data.c - the data of the supervision core: name tables, the action
 * and message primitives, construction, and read access for status.
 *
 * Pure, as tree.c (STYLE.md 1): no syscalls, no clock; memory from mem.h.
 * The rules that use all this are in tree.c.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mem.h"
#include "tree_internal.h"

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
	[ARB_REASON_OOM] = "oom",
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
	[ARB_REPLY_POOL_FULL] = "pool_full",
	[ARB_REPLY_EXISTS] = "exists",
	[ARB_REPLY_POOL_INSTANCE] = "pool_instance",
};

static const char *const report_names[_ARB_REP_MAX] = {
	[ARB_REP_START] = "start",
	[ARB_REP_EXIT] = "exit",
	[ARB_REP_STOP] = "stop",
	[ARB_REP_GIVEUP] = "giveup",
	[ARB_REP_START_FAILED] = "start_failed",
	[ARB_REP_DOWN] = "down",
	[ARB_REP_READY] = "ready",
	[ARB_REP_WATCHDOG] = "watchdog",
	[ARB_REP_BACKOFF] = "backoff",
	[ARB_REP_SHUTDOWN] = "shutdown",
};

static const char *const failure_names[_ARB_FAIL_MAX] = {
	[ARB_FAIL_SPAWN] = "spawn",
	[ARB_FAIL_EXIT] = "exit",
	[ARB_FAIL_TIMEOUT] = "timeout",
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

const char *
arb_start_failure_name(enum arb_start_failure f)
{
	return f < _ARB_FAIL_MAX ? failure_names[f] : "?";
}

enum arb_reason
arb_exit_reason(const struct arb_spec_node *n, int code, int signo,
		bool oom)
{
	if (signo == 0 && arb_spec_exit_is_normal(n, code))
		return ARB_REASON_NORMAL;
	if (signo == ARB_SIGTERM)
		return ARB_REASON_SHUTDOWN;
	if (signo == ARB_SIGKILL && oom)
		return ARB_REASON_OOM;
	return ARB_REASON_CRASH;
}

bool
arb_reason_abnormal(enum arb_reason r)
{
	return r == ARB_REASON_CRASH || r == ARB_REASON_OOM;
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

struct arb_action *
tree_emit(struct arb_tree *t, enum arb_action_kind kind, uint32_t node)
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

void
tree_emit_signal(struct arb_tree *t, enum arb_action_kind kind, uint32_t node,
	    int pid)
{
	struct arb_action *act = tree_emit(t, kind, node);

	if (act)
		act->pid = pid;
}

struct arb_action *
tree_report(struct arb_tree *t, enum arb_report_kind what, uint32_t node)
{
	struct arb_action *act = tree_emit(t, ARB_ACT_REPORT, node);

	if (act)
		act->report = what;
	return act;
}

/*
 * An invariant broke (STYLE.md 3). The core cannot log or abort: it says
 * so, and the shell decides (tests abort; arbord logs and carries on).
 */
void
tree_bug(struct arb_tree *t, uint32_t node, const char *what)
{
	struct arb_action *act = tree_emit(t, ARB_ACT_BUG, node);

	if (act)
		act->what = what;
}

void
tree_reply(struct arb_tree *t, uint32_t node, uint64_t req_id,
      enum arb_reply_kind what, int err)
{
	struct arb_action *act = tree_emit(t, ARB_ACT_REPLY, node);

	if (!act)
		return;
	act->req_id = req_id;
	act->reply = what;
	act->err = err;
	if (what == ARB_REPLY_START_FAILED)
		act->failure = t->nodes[node].last_failure;
}

void
tree_timer_set(struct arb_tree *t, uint32_t node, int64_t at_ms)
{
	struct arb_action *act = tree_emit(t, ARB_ACT_TIMER_SET, node);

	if (act)
		act->at_ms = at_ms;
	t->nodes[node].timer_armed = true;
	t->nodes[node].deadline_ms = at_ms;
}

void
tree_timer_cancel(struct arb_tree *t, uint32_t node)
{
	if (!t->nodes[node].timer_armed)
		return;
	tree_emit(t, ARB_ACT_TIMER_CANCEL, node);
	t->nodes[node].timer_armed = false;
}

/* ---- queues ----------------------------------------------------------- */

/* Room kept in an empty queue or message ring; more is given back. */
#define QUEUE_KEPT 64

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

void
tree_post(struct arb_tree *t, enum msg_kind kind, uint32_t to, uint32_t from)
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

struct qitem *
tree_enqueue(struct arb_tree *t, struct sup *s, enum qitem_kind kind,
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

bool
tree_dequeue(struct sup *s, struct qitem *ret)
{
	if (s->q_len == 0)
		return false;
	*ret = s->queue[s->q_head];
	s->q_head = (s->q_head + 1) % s->q_cap;
	s->q_len--;
	if (s->q_len == 0 && s->q_cap > QUEUE_KEPT) {
		/* A burst (a thousand requests to a pool) is over: its room
		 * goes back; a queue of a few is kept for the next. */
		arb_free(s->queue);
		s->queue = NULL;
		s->q_cap = 0;
		s->q_head = 0;
	}
	return true;
}

/* ---- the spec's shape ------------------------------------------------ */

static void
node_clear(struct node *n)
{
	if (n->sup) {
		arb_free(n->sup->history);
		arb_free(n->sup->queue);
		arb_free(n->sup);
	}
	memset(n, 0, sizeof(*n));
}

static struct sup *
sup_new(uint32_t intensity)
{
	struct sup *s = arb_calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->hist_cap = intensity + 1;
	s->history = arb_calloc(s->hist_cap, sizeof(*s->history));
	if (!s->history) {
		arb_free(s);
		return NULL;
	}
	return s;
}

/*
 * A new intensity keeps the newest restarts that the new ring holds: the
 * history goes on (a reload changes the rule, not the past).
 */
static bool
sup_resize_history(struct sup *s, uint32_t intensity)
{
	uint32_t cap = intensity + 1;
	int64_t *h = arb_calloc(cap, sizeof(*h));
	uint32_t keep = s->hist_len < cap ? s->hist_len : cap;

	if (!h)
		return false;
	for (uint32_t i = 0; i < keep; i++)
		h[i] = s->history[(s->hist_head + s->hist_len - keep + i) %
				  s->hist_cap];
	arb_free(s->history);
	s->history = h;
	s->hist_cap = cap;
	s->hist_head = 0;
	s->hist_len = keep;
	return true;
}

void
tree_number_children(struct arb_tree *t, uint32_t sup)
{
	const struct arb_spec_node *spec = &t->spec->nodes[sup];

	for (uint32_t j = 0; j < spec->nchildren; j++)
		t->nodes[spec->children[j]].pos = j;
}

/* The tree's slots are the spec's: as many, more or fewer. */
static bool
fit_nodes(struct arb_tree *t)
{
	uint32_t cap = t->spec->cap;
	struct node *v;

	if (t->ncap > cap) {
		/* The spec gave slots back: so does the tree. */
		for (uint32_t i = cap; i < t->ncleared; i++)
			node_clear(&t->nodes[i]);
		if (t->ncleared > cap)
			t->ncleared = cap;
		v = arb_reallocarray(t->nodes, cap, sizeof(*v));
		if (v) {
			t->nodes = v;
			t->ncap = cap;
		}
		return true;
	}
	if (t->ncap == cap)
		return true;
	v = arb_reallocarray(t->nodes, cap, sizeof(*v));
	if (!v)
		return false;
	/* Not cleared here: the room a doubling adds is cleared as the spec's
	 * slots reach it (clear_new_slots), so no page of it is touched before
	 * then. */
	t->nodes = v;
	t->ncap = cap;
	return true;
}

/*
 * One slot as the spec has it now. A slot the tree has not seen in use
 * (new, or freed and taken again) is a new node: DOWN and present.
 */
static bool
sync_node(struct arb_tree *t, uint32_t i)
{
	const struct arb_spec_node *spec = &t->spec->nodes[i];
	struct node *n = &t->nodes[i];

	if (spec->unused || spec->is_template) {
		if (n->spec || n->sup)
			node_clear(n);
		return true;
	}
	if (!n->spec) {
		n->present = true;
		n->since_ms = t->now_ms;
	}
	n->spec = spec;
	if (spec->kind != ARB_NODE_SUPERVISOR)
		return true;
	if (!n->sup) {
		n->sup = sup_new(spec->intensity);
		return n->sup != NULL;
	}
	if (n->sup->hist_cap != spec->intensity + 1)
		return sup_resize_history(n->sup, spec->intensity);
	return true;
}

/* Slots up to the spec's count, cleared the first time they are in it. */
static void
clear_new_slots(struct arb_tree *t, uint32_t nnodes)
{
	if (nnodes <= t->ncleared)
		return;
	memset(t->nodes + t->ncleared, 0,
	       (nnodes - t->ncleared) * sizeof(*t->nodes));
	t->ncleared = nnodes;
}

/* Slots first..last as the spec has them now. */
static bool
sync_range(struct arb_tree *t, uint32_t first, uint32_t last)
{
	for (uint32_t i = first; i <= last && i < t->nnodes; i++) {
		if (!sync_node(t, i)) {
			t->oom = true;
			return false;
		}
		if (t->nodes[i].sup && arb_spec_is_node(t->spec, i))
			tree_number_children(t, i);
	}
	return true;
}

bool
tree_sync(struct arb_tree *t)
{
	struct arb_spec *s = t->spec;
	bool moved = t->spec_base != s->nodes || t->ncap != s->cap ||
		     t->nnodes > s->nnodes;
	uint32_t first = s->touched_lo, last = s->touched_hi;

	if (t->generation == s->generation && !moved &&
	    t->nnodes == s->nnodes)
		return true;
	if (!fit_nodes(t)) {
		t->oom = true;
		return false;
	}
	if (moved) {
		/* Every pointer into the old array: all of it again. */
		first = 0;
		last = s->nnodes - 1;
	} else if (t->nnodes < s->nnodes) {
		/* Slots new at the end: read with the touched ones. */
		first = first <= last && first < t->nnodes ? first : t->nnodes;
		last = s->nnodes - 1;
	}
	clear_new_slots(t, s->nnodes);
	t->nnodes = s->nnodes;
	if (first <= last && !sync_range(t, first, last))
		return false;
	s->touched_lo = 1;
	s->touched_hi = 0;
	t->generation = s->generation;
	t->spec_base = s->nodes;
	return true;
}

static void
delete_subtree(struct arb_tree *t, uint32_t node)
{
	const struct arb_spec_node *spec = &t->spec->nodes[node];

	for (uint32_t i = spec->nchildren; i-- > 0;)
		delete_subtree(t, spec->children[i]);
	tree_timer_cancel(t, node);
	t->nodes[node].deleted = true;
	t->nodes[node].present = false;
	t->spec->nodes[node].leaving = true;
	tree_emit(t, ARB_ACT_DELETE, node);
}

/*
 * What waits in sup's queue for node, which leaves the tree: a request is
 * answered (a removal is done: OK), the rest (exits, retries) has no one
 * left to act on. Nothing may outlive the node: its slot is reused.
 */
static void
purge_queue(struct arb_tree *t, uint32_t sup, uint32_t node)
{
	struct sup *s = t->nodes[sup].sup;
	uint32_t n = s->q_len;
	struct qitem q;

	for (uint32_t i = 0; i < n && tree_dequeue(s, &q); i++) {
		if (q.child != node) {
			/* Room: one was just taken out. */
			struct qitem *back = tree_enqueue(t, s, q.kind, q.child,
							  q.incarnation);

			if (back)
				*back = q;
			continue;
		}
		if (q.kind == Q_REQUEST)
			tree_reply(t, node, q.req_id,
				   q.request == ARB_REQ_REMOVE
					   ? ARB_REPLY_OK : ARB_REPLY_NOT_FOUND,
				   0);
	}
}

void
tree_delete(struct arb_tree *t, uint32_t node)
{
	uint32_t parent = t->spec->nodes[node].parent;

	if (t->ndeleted == t->deleted_cap) {
		uint32_t cap = t->deleted_cap ? t->deleted_cap * 2 : 8;
		uint32_t *v = arb_reallocarray(t->deleted, cap, sizeof(*v));

		if (!v) {
			t->oom = true;
			return;
		}
		t->deleted = v;
		t->deleted_cap = cap;
	}
	delete_subtree(t, node);
	if (t->nodes[parent].sup)
		purge_queue(t, parent, node);
	arb_spec_detach(t->spec, node);
	tree_number_children(t, parent);
	t->deleted[t->ndeleted++] = node;
}

static void
clear_subtree(struct arb_tree *t, uint32_t node)
{
	const struct arb_spec_node *spec = &t->spec->nodes[node];

	for (uint32_t i = 0; i < spec->nchildren; i++)
		clear_subtree(t, spec->children[i]);
	node_clear(&t->nodes[node]);
}

void
tree_release_deleted(struct arb_tree *t)
{
	for (uint32_t i = 0; i < t->ndeleted; i++) {
		clear_subtree(t, t->deleted[i]);
		arb_spec_release(t->spec, t->deleted[i]);
	}
	t->ndeleted = 0;
	(void)tree_sync(t);
}

uint32_t *
tree_scratch(struct arb_tree *t, uint32_t n)
{
	if (n > t->scratch_cap) {
		uint32_t *v = arb_reallocarray(t->scratch, n, sizeof(*v));

		if (!v) {
			t->oom = true;
			return NULL;
		}
		t->scratch = v;
		t->scratch_cap = n;
	}
	return t->scratch;
}

/* ---- tree construction ------------------------------------------------ */

struct arb_tree *
arb_tree_new(struct arb_spec *spec)
{
	struct arb_tree *t = arb_calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->spec = spec;
	arb_tree_seed(t, 0);
	t->generation = spec->generation - 1; /* read it all */
	if (!tree_sync(t)) {
		arb_tree_free(t);
		return NULL;
	}
	return t;
}

void
arb_tree_collect(struct arb_tree *t)
{
	tree_release_deleted(t);
}

void
arb_tree_free(struct arb_tree *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; t->nodes && i < t->ncleared; i++)
		node_clear(&t->nodes[i]);
	arb_free(t->nodes);
	arb_free(t->msgs);
	arb_free(t->deleted);
	arb_free(t->scratch);
	arb_free(t);
}

void
tree_next_instance(struct arb_tree *t, uint32_t pool, char *name)
{
	arb_spec_format_uint(++t->nodes[pool].sup->next_instance, name,
			     ARB_INSTANCE_NAME_SIZE);
}

void
arb_tree_next_instance(struct arb_tree *t, uint32_t pool,
		       char name[ARB_INSTANCE_NAME_SIZE])
{
	name[0] = '\0';
	if (tree_sync(t) && t->nodes[pool].sup)
		tree_next_instance(t, pool, name);
}

bool
arb_tree_stopping(const struct arb_tree *t)
{
	const struct sup *s = t->nodes[ARB_ROOT].sup;

	if (t->down || s->job == JOB_SHUTDOWN)
		return true;
	for (uint32_t i = 0; i < s->q_len; i++)
		if (s->queue[(s->q_head + i) % s->q_cap].kind == Q_SHUTDOWN)
			return true;
	return false;
}

bool
arb_tree_is_instance(const struct arb_tree *t, uint32_t node)
{
	uint32_t parent = t->spec->nodes[node].parent;

	return parent != ARB_NONE &&
	       t->spec->nodes[parent].strategy == ARB_SIMPLE_ONE_FOR_ONE &&
	       t->spec->nodes[parent].kind == ARB_NODE_SUPERVISOR;
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
	ret->ready_wait = n->state == ARB_CHILD_STARTING && n->pid > 0;
	ret->restart_at_ms = n->delayed ? n->deadline_ms : 0;
}

void
arb_tree_seed(struct arb_tree *t, uint64_t seed)
{
	/* xorshift must not start at 0. */
	t->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
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
