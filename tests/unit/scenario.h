/*
 * scenario.h - a fake shell around the pure core, for unit tests.
 *
 * It carries out the core's actions the way runtime.c does, against fake
 * processes and a fake clock: SPAWN gives a new pid (or fails on request),
 * TERMINATE makes the process die of SIGTERM unless told to ignore it, KILL
 * makes it die of SIGKILL, timers fire when the test advances the clock.
 * Every REPORT becomes one line of an OTP-oracle style trace ("start a",
 * "exit b crash", "stop c", "giveup root", "down"), so tests compare whole
 * traces with what real OTP supervisors print.
 */
#ifndef ARB_TEST_SCENARIO_H
#define ARB_TEST_SCENARIO_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/spec.h"
#include "core/tree.h"

#define FAKE_MAX_NODES 1024 /* slots, added nodes included */
#define FAKE_TRACE_MAX (256 * 1024)

struct fake_proc {
	int pid;          /* live pid, 0 when dead */
	int zombie;       /* dead, but its death not yet fed to the core */
	bool ignore_term; /* survives TERMINATE and ABORT */
	int fail_spawns;  /* this many next spawns fail */
	bool hang_spawns; /* spawns stay before exec (a hung cwd) */
	int prexec;       /* the pid of a process not exec'ed yet, or 0 */
	int prexec_err;   /* it reports this failure before a KILL lands */
	int failed_err;   /* err of its last START_FAILED report */
	bool timer_armed;
	int64_t timer_at;
	int spawns;
};

struct fake {
	struct arb_spec *spec;
	struct arb_tree *tree;
	struct arb_actions out;
	int64_t now;
	int next_pid;
	struct fake_proc procs[FAKE_MAX_NODES];
	struct arb_event pending[1024];
	int npending;
	char trace[FAKE_TRACE_MAX];
	size_t trace_len;
	int exit_code; /* -1 until the root is down */
	int requests, replies;
	/* The core's latest REPLY; traced as "reply PATH NAME" unless
	 * replies_untraced (a test that writes its own reply lines). */
	struct arb_action last_reply;
	bool replies_untraced;
	int signals_sent;
	int auto_shutdowns; /* ARB_REP_SHUTDOWN reports */
	/* Every event fed to the core, as fed, while recording (a test that
	 * replays them into another tree: test_tree_state). */
	bool recording;
	struct arb_event *record;
	size_t nrecord, record_cap;
};

/* ---- building specs ---- */

static inline uint32_t
fake_sup(struct arb_spec *s, uint32_t parent, const char *name,
	 enum arb_strategy strategy, uint32_t intensity, int64_t period_ms)
{
	uint32_t i = arb_spec_add(s, parent, ARB_NODE_SUPERVISOR, name, "t", 1);
	struct arb_spec_node *n = &s->nodes[i];

	n->strategy = strategy;
	n->intensity = intensity;
	n->period_ms = period_ms;
	return i;
}

static inline uint32_t
fake_svc(struct arb_spec *s, uint32_t parent, const char *name,
	 enum arb_restart restart)
{
	uint32_t i = arb_spec_add(s, parent, ARB_NODE_SERVICE, name, "t", 1);

	s->nodes[i].restart = restart;
	return i;
}

static inline void
fake_root(struct arb_spec *s, enum arb_strategy strategy, uint32_t intensity,
	  int64_t period_ms)
{
	s->nodes[ARB_ROOT].strategy = strategy;
	s->nodes[ARB_ROOT].intensity = intensity;
	s->nodes[ARB_ROOT].period_ms = period_ms;
}

/* ---- running ---- */

static inline void
fake_trace(struct fake *f, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(f->trace + f->trace_len, FAKE_TRACE_MAX - f->trace_len,
		      fmt, ap);
	va_end(ap);
	if (n > 0)
		f->trace_len += (size_t)n;
	if (f->trace_len >= FAKE_TRACE_MAX)
		abort();
}

static inline const char *
fake_path(const struct fake *f, uint32_t node)
{
	if (node == ARB_ROOT)
		return "root";
	/* A reply may name a node whose slot is free (removed already). */
	if (node >= f->spec->nnodes || f->spec->nodes[node].unused)
		return "?";
	return f->spec->nodes[node].path;
}

static inline void
fake_push(struct fake *f, struct arb_event ev)
{
	if (f->npending == (int)(sizeof(f->pending) / sizeof(f->pending[0])))
		abort();
	f->pending[f->npending++] = ev;
}

static inline void
fake_die(struct fake *f, uint32_t node, int code, int signo)
{
	struct fake_proc *p = &f->procs[node];
	struct arb_event ev = {.kind = ARB_EV_EXITED, .node = node,
			       .pid = p->pid, .code = code, .signo = signo};

	if (p->pid == 0)
		return;
	p->zombie = p->pid;
	p->pid = 0;
	fake_push(f, ev);
}

static inline void
fake_perform(struct fake *f, const struct arb_action *a)
{
	struct fake_proc *p;
	struct arb_event ev = {.node = a->node};

	if (a->node >= FAKE_MAX_NODES)
		abort(); /* raise FAKE_MAX_NODES */
	p = &f->procs[a->node];

	switch (a->kind) {
	case ARB_ACT_SPAWN:
		p->spawns++;
		/* As the shell: a start takes the keys a reload left pending
		 * (on_change next-start, CHANGE). */
		(void)arb_spec_take_pending(f->spec, a->node);
		if (p->hang_spawns) {
			p->prexec = ++f->next_pid;
			break;
		}
		if (p->fail_spawns > 0) {
			p->fail_spawns--;
			ev.kind = ARB_EV_SPAWN_FAILED;
			ev.err = 2;
		} else {
			p->pid = ++f->next_pid;
			ev.kind = ARB_EV_SPAWNED;
			ev.pid = p->pid;
		}
		fake_push(f, ev);
		break;
	case ARB_ACT_TERMINATE:
		f->signals_sent++;
		/* A zombie may be signalled: its death is not reaped yet. */
		if (a->pid != p->pid && a->pid != p->zombie)
			abort(); /* signalled a process that is not current */
		if (!p->ignore_term)
			fake_die(f, a->node, -1, ARB_SIGTERM);
		break;
	case ARB_ACT_ABORT:
		f->signals_sent++;
		if (a->pid != p->pid)
			abort(); /* the watchdog aims at the main process */
		if (!p->ignore_term)
			fake_die(f, a->node, -1, 6);
		break;
	case ARB_ACT_KILL:
		f->signals_sent++;
		if (a->pid == 0) {
			/* As runtime.c: a start cancelled before exec ends
			 * with EOF on its status pipe, then its death. */
			if (p->prexec == 0)
				abort(); /* nothing before exec to kill */
			if (p->prexec_err) {
				p->prexec = 0;
				fake_push(f, (struct arb_event){
					.kind = ARB_EV_SPAWN_FAILED,
					.node = a->node, .err = p->prexec_err});
				break;
			}
			p->pid = p->prexec;
			p->prexec = 0;
			fake_push(f, (struct arb_event){.kind = ARB_EV_SPAWNED,
				  .node = a->node, .pid = p->pid});
			fake_die(f, a->node, -1, ARB_SIGKILL);
			break;
		}
		if (p->pid != 0 && a->pid == p->pid)
			fake_die(f, a->node, -1, ARB_SIGKILL);
		break;
	case ARB_ACT_TIMER_SET:
		p->timer_armed = true;
		p->timer_at = a->at_ms;
		break;
	case ARB_ACT_TIMER_CANCEL:
		p->timer_armed = false;
		break;
	case ARB_ACT_REPORT:
		if (a->report == ARB_REP_START_FAILED)
			p->failed_err = a->err;
		if (a->report == ARB_REP_SHUTDOWN)
			f->auto_shutdowns++; /* not in OTP's traces */
		else if (a->report == ARB_REP_DOWN)
			fake_trace(f, "down\n");
		else if (a->report == ARB_REP_EXIT)
			fake_trace(f, "exit %s %s\n", fake_path(f, a->node),
				   arb_reason_name(a->reason));
		else if (a->report == ARB_REP_BACKOFF)
			fake_trace(f, "backoff %s %lld\n", fake_path(f, a->node),
				   (long long)a->delay_ms);
		else if (a->report == ARB_REP_START_FAILED &&
			 a->failure != ARB_FAIL_SPAWN)
			fake_trace(f, "start_failed %s %s\n",
				   fake_path(f, a->node),
				   arb_start_failure_name(a->failure));
		else
			fake_trace(f, "%s %s\n", arb_report_name(a->report),
				   fake_path(f, a->node));
		break;
	case ARB_ACT_EXIT:
		f->exit_code = a->exit_code;
		break;
	case ARB_ACT_REPLY:
		f->replies++;
		f->last_reply = *a;
		if (!f->replies_untraced)
			fake_trace(f, "reply %s %s\n", fake_path(f, a->node),
				   arb_reply_name(a->reply));
		break;
	case ARB_ACT_DELETE:
		fake_trace(f, "delete %s\n", fake_path(f, a->node));
		if (p->pid != 0 || p->timer_armed)
			abort(); /* a node leaves the tree only once down */
		memset(p, 0, sizeof(*p));
		break;
	case ARB_ACT_BUG:
		fprintf(stderr, "core bug: %s\n%s", a->what, f->trace);
		abort();
	case _ARB_ACT_MAX:
		abort();
	}
}

static inline void
fake_record(struct fake *f, const struct arb_event *ev)
{
	if (f->nrecord == f->record_cap) {
		size_t cap = f->record_cap ? f->record_cap * 2 : 64;
		struct arb_event *v = realloc(f->record, cap * sizeof(*v));

		if (!v)
			abort();
		f->record = v;
		f->record_cap = cap;
	}
	f->record[f->nrecord++] = *ev;
}

/* Feeds every pending event, and the events their actions cause. */
static inline void
fake_run(struct fake *f)
{
	while (f->npending > 0) {
		struct arb_event ev = f->pending[0];

		memmove(f->pending, f->pending + 1,
			(size_t)(--f->npending) * sizeof(ev));
		ev.now_ms = f->now;
		if (ev.kind == ARB_EV_EXITED && f->procs[ev.node].zombie == ev.pid)
			f->procs[ev.node].zombie = 0;
		if (f->recording)
			fake_record(f, &ev);
		if (arb_tree_step(f->tree, &ev, &f->out) != 0)
			abort();
		for (size_t i = 0; i < f->out.n; i++)
			fake_perform(f, &f->out.v[i]);
	}
}

static inline struct fake *
fake_new(struct arb_spec *spec)
{
	struct fake *f = calloc(1, sizeof(*f));

	if (!f || spec->nnodes > FAKE_MAX_NODES)
		abort();
	f->spec = spec;
	f->tree = arb_tree_new(spec);
	if (!f->tree)
		abort();
	arb_actions_init(&f->out);
	f->next_pid = 100;
	f->exit_code = -1;
	return f;
}

static inline void
fake_boot(struct fake *f)
{
	fake_push(f, (struct arb_event){.kind = ARB_EV_BOOT});
	fake_run(f);
}

static inline void
fake_free(struct fake *f)
{
	arb_actions_done(&f->out);
	free(f->record);
	arb_tree_free(f->tree);
	arb_spec_free(f->spec);
	free(f);
}

static inline uint32_t
fake_node(const struct fake *f, const char *path)
{
	uint32_t i = arb_spec_find(f->spec, path);

	if (i == ARB_NONE)
		abort();
	return i;
}

/* The service at path exits by itself with code (>= 0) or signal. */
static inline void
fake_exit(struct fake *f, const char *path, int code)
{
	fake_die(f, fake_node(f, path), code, 0);
	fake_run(f);
}

static inline void
fake_kill(struct fake *f, const char *path, int signo)
{
	fake_die(f, fake_node(f, path), -1, signo);
	fake_run(f);
}

/* Moves the clock forward, firing due timers in deadline order. */
static inline void
fake_advance(struct fake *f, int64_t ms)
{
	int64_t until = f->now + ms;

	for (;;) {
		int best = -1;

		for (uint32_t i = 0; i < f->spec->nnodes && i < FAKE_MAX_NODES;
		     i++)
			if (f->procs[i].timer_armed &&
			    f->procs[i].timer_at <= until &&
			    (best < 0 ||
			     f->procs[i].timer_at < f->procs[best].timer_at))
				best = (int)i;
		if (best < 0)
			break;
		f->now = f->procs[best].timer_at;
		f->procs[best].timer_armed = false;
		fake_push(f, (struct arb_event){.kind = ARB_EV_TIMER,
						.node = (uint32_t)best});
		fake_run(f);
	}
	f->now = until;
}

/* An operator's request on path (arborctl start/stop/restart). */
static inline void
fake_request(struct fake *f, const char *path, enum arb_request_kind kind)
{
	fake_push(f, (struct arb_event){.kind = ARB_EV_REQUEST,
					.node = fake_node(f, path),
					.request = kind, .req_id = 7});
	f->requests++;
	fake_run(f);
}

/* What the shell learns from a service's notify socket or fd:N. */
static inline void
fake_notify(struct fake *f, const char *path, enum arb_event_kind kind)
{
	uint32_t node = fake_node(f, path);

	fake_push(f, (struct arb_event){.kind = kind, .node = node,
					.pid = f->procs[node].pid});
	fake_run(f);
}

/* ---- the living tree: what the shell does for add, spawn, reload ---- */

/*
 * A request on node by index, from origin, at pos (ADD). A node to add is
 * nobody's child yet and may share its path with the child it collides
 * with, so it has no path to find it by.
 */
static inline void
fake_request_at(struct fake *f, uint32_t node, enum arb_request_kind kind,
		enum arb_request_origin origin, uint32_t pos)
{
	fake_push(f, (struct arb_event){.kind = ARB_EV_REQUEST, .node = node,
					.request = kind, .req_id = 7,
					.origin = origin, .pos = pos});
	f->requests++;
	fake_run(f);
}

/*
 * A copy of src's src_node (with its subtree) made a node of the live
 * spec under parent, not yet its child, as AddChild and a reload do; the
 * operator's additions are marked dynamic. Returns its index.
 */
static inline uint32_t
fake_graft(struct fake *f, uint32_t parent, const struct arb_spec *src,
	   uint32_t src_node, bool dynamic)
{
	uint32_t i = arb_spec_graft(f->spec, parent, src, src_node);

	if (i == ARB_NONE || f->spec->nnodes > FAKE_MAX_NODES)
		abort(); /* OOM, or more slots than the fake has procs */
	f->spec->nodes[i].dynamic = dynamic;
	return i;
}

/* A new service `name` grafted under parent (see fake_graft). */
static inline uint32_t
fake_graft_svc(struct fake *f, uint32_t parent, const char *name,
	       enum arb_restart restart, bool dynamic)
{
	struct arb_spec *src = arb_spec_new();
	uint32_t i;

	if (!src)
		abort();
	i = fake_graft(f, parent, src, fake_svc(src, ARB_ROOT, name, restart),
		       dynamic);
	arb_spec_free(src);
	return i;
}

/* arborctl add PARENT: a service `name` added by an operator at pos. */
static inline uint32_t
fake_add(struct fake *f, const char *parent, const char *name,
	 enum arb_restart restart, uint32_t pos)
{
	uint32_t i = fake_graft_svc(f, fake_node(f, parent), name, restart,
				    true);

	fake_request_at(f, i, ARB_REQ_ADD, ARB_ORIGIN_OPERATOR, pos);
	return i;
}

/* A reload's reorder of sup's children (order is borrowed until its reply). */
static inline void
fake_reorder(struct fake *f, uint32_t sup, const uint32_t *order, uint32_t n)
{
	fake_push(f, (struct arb_event){.kind = ARB_EV_REQUEST, .node = sup,
					.request = ARB_REQ_REORDER, .req_id = 7,
					.origin = ARB_ORIGIN_CONFIG,
					.order = order, .norder = n});
	f->requests++;
	fake_run(f);
}

/*
 * A pool (simple_one_for_one) under parent whose instances are services
 * of restart type `restart`: its template is a node that is nobody's
 * child, as the loader makes it.
 */
static inline uint32_t
fake_pool(struct arb_spec *s, uint32_t parent, const char *name,
	  uint32_t intensity, int64_t period_ms, enum arb_restart restart)
{
	uint32_t pool = fake_sup(s, parent, name, ARB_SIMPLE_ONE_FOR_ONE,
				 intensity, period_ms);
	uint32_t tmpl = fake_svc(s, pool, "template", restart);

	arb_spec_detach(s, tmpl);
	s->nodes[tmpl].is_template = true;
	s->nodes[pool].template_node = tmpl;
	return pool;
}

/*
 * arborctl spawn POOL [--name N]: a new instance (NULL: named by the
 * pool's counter, as the shell names it), added by an operator.
 */
static inline uint32_t
fake_spawn(struct fake *f, const char *pool, const char *name)
{
	uint32_t p = fake_node(f, pool);
	char num[24];
	uint32_t i;

	if (!name) {
		arb_tree_next_instance(f->tree, p, num);
		name = num;
	}
	i = arb_spec_instantiate(f->spec, p, name, NULL);
	if (i == ARB_NONE || f->spec->nnodes > FAKE_MAX_NODES)
		abort();
	fake_request_at(f, i, ARB_REQ_ADD, ARB_ORIGIN_OPERATOR, ARB_NONE);
	return i;
}

/* SIGTERM to arbord. */
static inline void
fake_shutdown(struct fake *f)
{
	fake_push(f, (struct arb_event){.kind = ARB_EV_SHUTDOWN});
	fake_run(f);
}

/* Forgets the trace so far, to compare only what comes next. */
static inline void
fake_clear(struct fake *f)
{
	f->trace_len = 0;
	f->trace[0] = '\0';
}

#endif
