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
	[ARB_REP_READY] = "ready",
	[ARB_REP_WATCHDOG] = "watchdog",
	[ARB_REP_BACKOFF] = "backoff",
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
	arb_tree_seed(t, 0);
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
