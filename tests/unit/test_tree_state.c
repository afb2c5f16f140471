/*
 * test_tree_state.c - the core's save and restore (core/tree_state.h).
 *
 * Equivalence: each scenario is run once with its events recorded; then,
 * at every step boundary k, a tree replayed to k is saved and restored
 * into a fresh tree on a spec replayed to k, and both trees are fed the
 * events from k on: their actions must be the same, field by field.
 * Robustness: saved states with one field set to a random or boundary
 * value are either refused or, accepted, survive a few steps (run under
 * `make SANITIZE=1`). And the savable rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/tree_state.h"
#include "scenario.h"

/* ---- saving a whole tree into memory the test owns ---- */

/* Room in each history and queue array beyond what was saved, so that a
 * mutated count never makes restore read past the test's arrays. */
#define ROOM 64

struct saved {
	struct arb_tree_globals g;
	uint32_t n;
	bool *is_node, *is_sup;
	struct arb_node_state *nodes;
	struct arb_sup_state *sups;
	int64_t **hist;
	struct arb_queued **queue;
};

static void
saved_free(struct saved *s)
{
	for (uint32_t i = 0; i < s->n; i++) {
		free(s->hist[i]);
		free(s->queue[i]);
	}
	free(s->is_node);
	free(s->is_sup);
	free(s->nodes);
	free(s->sups);
	free(s->hist);
	free(s->queue);
	memset(s, 0, sizeof(*s));
}

static void
save_tree(const struct arb_tree *t, struct saved *ret)
{
	const struct arb_spec *spec = arb_tree_spec(t);
	uint32_t n = spec->nnodes;

	memset(ret, 0, sizeof(*ret));
	assert_true(arb_tree_savable(t));
	ret->n = n;
	ret->is_node = calloc(n, sizeof(bool));
	ret->is_sup = calloc(n, sizeof(bool));
	ret->nodes = calloc(n, sizeof(*ret->nodes));
	ret->sups = calloc(n, sizeof(*ret->sups));
	ret->hist = calloc(n, sizeof(*ret->hist));
	ret->queue = calloc(n, sizeof(*ret->queue));
	assert_non_null(ret->queue);
	arb_tree_save_globals(t, &ret->g);
	for (uint32_t i = 0; i < n; i++) {
		struct arb_sup_state *s = &ret->sups[i];

		if (!arb_spec_is_node(spec, i))
			continue;
		ret->is_node[i] = true;
		arb_tree_save_node(t, i, &ret->nodes[i]);
		if (spec->nodes[i].kind != ARB_NODE_SUPERVISOR)
			continue;
		ret->is_sup[i] = true;
		arb_tree_save_sup(t, i, s);
		assert_true(s->nhistory <= ROOM && s->nqueue <= ROOM);
		ret->hist[i] = calloc(ROOM, sizeof(int64_t));
		ret->queue[i] = calloc(ROOM, sizeof(struct arb_queued));
		for (uint32_t k = 0; k < s->nhistory; k++)
			ret->hist[i][k] = arb_tree_save_history(t, i, k);
		for (uint32_t k = 0; k < s->nqueue; k++)
			arb_tree_save_queued(t, i, k, &ret->queue[i][k]);
		s->history = ret->hist[i];
		s->queue = ret->queue[i];
	}
}

/* 0, or the first restore's error with its reason in *why. */
static int
restore_tree(struct arb_tree *t, const struct saved *s, const char **why)
{
	int r = arb_tree_restore_globals(t, &s->g, why);

	for (uint32_t i = 0; r == 0 && i < s->n; i++)
		if (s->is_node[i])
			r = arb_tree_restore_node(t, i, &s->nodes[i], why);
	for (uint32_t i = 0; r == 0 && i < s->n; i++)
		if (s->is_sup[i])
			r = arb_tree_restore_sup(t, i, &s->sups[i], why);
	return r == 0 ? arb_tree_restore_done(t, why) : r;
}

/* ---- scenarios: a spec, and what happens to it ---- */

struct scenario {
	const char *name;
	void (*build)(struct arb_spec *s);
	void (*drive)(struct fake *f);
};

static uint32_t
svc(struct arb_spec *s, uint32_t parent, const char *name,
    enum arb_restart restart)
{
	uint32_t i = fake_svc(s, parent, name, restart);

	s->nodes[i].stop_timeout_ms = 1000;
	return i;
}

static void
build_flat(struct arb_spec *s, enum arb_strategy strategy, uint32_t intensity)
{
	fake_root(s, strategy, intensity, 5000);
	svc(s, ARB_ROOT, "a", ARB_PERMANENT);
	svc(s, ARB_ROOT, "b", ARB_TRANSIENT);
	svc(s, ARB_ROOT, "c", ARB_PERMANENT);
}

static void
build_one_for_one(struct arb_spec *s)
{
	build_flat(s, ARB_ONE_FOR_ONE, 3);
}

static void
build_one_for_all(struct arb_spec *s)
{
	build_flat(s, ARB_ONE_FOR_ALL, 3);
}

static void
build_rest_for_one(struct arb_spec *s)
{
	build_flat(s, ARB_REST_FOR_ONE, 3);
}

static void
build_near_giveup(struct arb_spec *s)
{
	uint32_t sub;

	fake_root(s, ARB_ONE_FOR_ONE, 1, 1000);
	svc(s, ARB_ROOT, "a", ARB_PERMANENT);
	sub = fake_sup(s, ARB_ROOT, "s", ARB_ONE_FOR_ALL, 2, 1000);
	svc(s, sub, "x", ARB_PERMANENT);
	svc(s, sub, "y", ARB_PERMANENT);
}

/* Services whose stops take their stop_timeout: restarts with timers. */
static void
drive_slow_stops(struct fake *f)
{
	fake_boot(f);
	f->procs[fake_node(f, "c")].ignore_term = true;
	fake_exit(f, "b", 1);
	fake_advance(f, 300);
	fake_kill(f, "a", 9);
	/* While the group's stop waits for c, b dies too: queued (M5). */
	fake_exit(f, "b", 2);
	fake_advance(f, 1500);
	f->procs[fake_node(f, "c")].ignore_term = false;
	fake_exit(f, "b", 0); /* transient, normal: not restarted */
	fake_advance(f, 100);
	fake_shutdown(f);
	fake_advance(f, 2000);
}

static void
drive_near_giveup(struct fake *f)
{
	fake_boot(f);
	fake_exit(f, "s/x", 1);
	fake_advance(f, 100);
	fake_exit(f, "s/y", 1);
	fake_advance(f, 1200);
	fake_exit(f, "s/x", 1);
	fake_advance(f, 100);
	fake_exit(f, "s/x", 1);
	fake_advance(f, 100);
	fake_exit(f, "s/y", 1); /* s gives up; root restarts it */
	fake_advance(f, 100);
	fake_exit(f, "a", 1);
	fake_advance(f, 10);
	fake_exit(f, "a", 1); /* root gives up */
	fake_advance(f, 2000);
}

static void
build_backoff(struct arb_spec *s)
{
	uint32_t a;

	fake_root(s, ARB_ONE_FOR_ONE, 10, 5000);
	a = svc(s, ARB_ROOT, "a", ARB_PERMANENT);
	s->nodes[a].restart_delay_ms = 100;
	s->nodes[a].restart_delay_max_ms = 1600;
	svc(s, ARB_ROOT, "b", ARB_PERMANENT);
}

static void
drive_backoff(struct fake *f)
{
	fake_boot(f);
	for (int i = 0; i < 5; i++) {
		fake_exit(f, "a", 1);
		fake_advance(f, 50 + 100 * i);
	}
	f->procs[fake_node(f, "a")].fail_spawns = 2;
	fake_exit(f, "a", 1);
	fake_advance(f, 3000);
	fake_request(f, "a", ARB_REQ_STOP);
	fake_exit(f, "b", 1);
	fake_advance(f, 6000);
	fake_exit(f, "b", 1);
	fake_shutdown(f);
	fake_advance(f, 2000);
}

static void
build_pool(struct arb_spec *s)
{
	uint32_t p;

	fake_root(s, ARB_ONE_FOR_ONE, 5, 60000);
	svc(s, ARB_ROOT, "a", ARB_PERMANENT);
	p = fake_pool(s, ARB_ROOT, "p", 5, 60000, ARB_PERMANENT);
	s->nodes[p].instances = 3;
	s->nodes[s->nodes[p].template_node].stop_timeout_ms = 1000;
	svc(s, ARB_ROOT, "b", ARB_PERMANENT);
}

static void
drive_pool(struct fake *f)
{
	uint32_t p = fake_node(f, "p");
	const struct arb_spec_node *pool = &f->spec->nodes[p];

	fake_boot(f);
	fake_exit(f, f->spec->nodes[pool->children[0]].path, 1);
	fake_advance(f, 100);
	f->procs[pool->children[1]].ignore_term = true;
	/* A restart of the pool (root's one_for_one): all stopped at once,
	 * one of them slowly. */
	fake_request(f, "p", ARB_REQ_RESTART);
	fake_advance(f, 1500);
	fake_exit(f, f->spec->nodes[pool->children[2]].path, 0);
	fake_advance(f, 100);
	f->procs[pool->children[0]].ignore_term = true;
	fake_shutdown(f);
	fake_advance(f, 3000);
}

/* shutdown = "parallel" on the root and a sub-supervisor: children
 * stopped all at once, some slowly, saved at every step. */
static void
build_parallel(struct arb_spec *s)
{
	uint32_t sub;

	fake_root(s, ARB_ONE_FOR_ONE, 5, 5000);
	s->nodes[ARB_ROOT].shutdown = ARB_SHUTDOWN_PARALLEL;
	svc(s, ARB_ROOT, "a", ARB_PERMANENT);
	sub = fake_sup(s, ARB_ROOT, "s", ARB_ONE_FOR_ALL, 3, 5000);
	s->nodes[sub].shutdown = ARB_SHUTDOWN_PARALLEL;
	svc(s, sub, "x", ARB_PERMANENT);
	svc(s, sub, "y", ARB_PERMANENT);
	svc(s, ARB_ROOT, "b", ARB_PERMANENT);
}

static void
drive_parallel(struct fake *f)
{
	fake_boot(f);
	f->procs[fake_node(f, "s/y")].ignore_term = true;
	fake_exit(f, "s/x", 1); /* a group restart: one at a time */
	fake_advance(f, 6000);
	fake_request(f, "s", ARB_REQ_STOP);
	fake_request(f, "s", ARB_REQ_START);
	f->procs[fake_node(f, "a")].ignore_term = true;
	fake_shutdown(f);
	fake_exit(f, "b", 0);
	fake_advance(f, 6000);
}

static void
build_notify(struct arb_spec *s)
{
	uint32_t n, m;

	fake_root(s, ARB_ONE_FOR_ONE, 5, 5000);
	n = svc(s, ARB_ROOT, "n", ARB_PERMANENT);
	s->nodes[n].ready = ARB_READY_NOTIFY;
	s->nodes[n].start_timeout_ms = 1000;
	s->nodes[n].watchdog_ms = 500;
	m = svc(s, ARB_ROOT, "m", ARB_PERMANENT);
	s->nodes[m].ready = ARB_READY_NOTIFY;
	s->nodes[m].start_timeout_ms = 700;
}

static void
drive_notify(struct fake *f)
{
	fake_boot(f); /* n STARTING, waiting for READY=1 */
	fake_advance(f, 200);
	fake_notify(f, "n", ARB_EV_READY);
	fake_advance(f, 300);
	fake_notify(f, "n", ARB_EV_WATCHDOG);
	/* n ignores the watchdog's SIGABRT: aborting until its SIGKILL. */
	f->procs[fake_node(f, "n")].ignore_term = true;
	fake_advance(f, 800); /* m's start times out: retried; n's watchdog */
	f->procs[fake_node(f, "n")].ignore_term = false;
	fake_notify(f, "m", ARB_EV_READY);
	fake_advance(f, 100);
	fake_notify(f, "n", ARB_EV_READY);
	fake_advance(f, 2000);
	fake_shutdown(f);
	fake_advance(f, 2000);
}

static void
build_requests(struct arb_spec *s)
{
	uint32_t sub;

	fake_root(s, ARB_ONE_FOR_ONE, 5, 5000);
	svc(s, ARB_ROOT, "a", ARB_PERMANENT);
	sub = fake_sup(s, ARB_ROOT, "s", ARB_REST_FOR_ONE, 3, 5000);
	svc(s, sub, "x", ARB_PERMANENT);
	svc(s, sub, "y", ARB_TEMPORARY);
	svc(s, sub, "z", ARB_PERMANENT);
	svc(s, ARB_ROOT, "h", ARB_PERMANENT);
}

static void
drive_requests(struct fake *f)
{
	fake_boot(f);
	f->procs[fake_node(f, "s/z")].ignore_term = true;
	/* A restart in progress (z slow to stop); a stop and an exit wait. */
	fake_request(f, "s/x", ARB_REQ_RESTART);
	fake_request(f, "s/y", ARB_REQ_STOP);
	fake_exit(f, "s/x", 1);
	fake_advance(f, 1200);
	f->procs[fake_node(f, "s/z")].ignore_term = false;
	/* A start that hangs before exec, stopped: cancelled (KILL pid 0). */
	f->procs[fake_node(f, "h")].hang_spawns = true;
	fake_request(f, "h", ARB_REQ_RESTART);
	fake_request(f, "h", ARB_REQ_STOP);
	f->procs[fake_node(f, "h")].hang_spawns = false;
	fake_request(f, "h", ARB_REQ_START);
	fake_request(f, "s", ARB_REQ_RESTART);
	fake_advance(f, 100);
	fake_shutdown(f);
	fake_advance(f, 2000);
}

/*
 * exit_status = "significant": a cascade of automatic shutdowns whose
 * stops take time, so that a restore lands while the root's shutdown
 * carries the status of the service that began it (sub/job's 3).
 */
static void
build_significant(struct arb_spec *s)
{
	uint32_t sub, job;

	fake_root(s, ARB_ONE_FOR_ONE, 3, 5000);
	s->exit_status = ARB_EXIT_STATUS_SIGNIFICANT;
	s->nodes[ARB_ROOT].auto_shutdown = ARB_AUTO_ANY_SIGNIFICANT;
	svc(s, ARB_ROOT, "a", ARB_PERMANENT);
	sub = fake_sup(s, ARB_ROOT, "sub", ARB_ONE_FOR_ONE, 3, 5000);
	s->nodes[sub].restart = ARB_TRANSIENT;
	s->nodes[sub].significant = true;
	s->nodes[sub].auto_shutdown = ARB_AUTO_ANY_SIGNIFICANT;
	job = svc(s, sub, "job", ARB_TEMPORARY);
	s->nodes[job].significant = true;
	svc(s, sub, "side", ARB_PERMANENT);
	svc(s, ARB_ROOT, "b", ARB_PERMANENT);
}

static void
drive_significant(struct fake *f)
{
	fake_boot(f);
	f->procs[fake_node(f, "sub/side")].ignore_term = true;
	f->procs[fake_node(f, "a")].ignore_term = true;
	fake_exit(f, "b", 1);
	fake_advance(f, 100);
	fake_exit(f, "sub/job", 3);
	fake_advance(f, 1200);
	fake_advance(f, 1200);
	assert_int_equal(f->exit_code, 3);
}

static const struct scenario scenarios[] = {
	{"one_for_one", build_one_for_one, drive_slow_stops},
	{"one_for_all", build_one_for_all, drive_slow_stops},
	{"rest_for_one", build_rest_for_one, drive_slow_stops},
	{"near_giveup", build_near_giveup, drive_near_giveup},
	{"backoff", build_backoff, drive_backoff},
	{"pool", build_pool, drive_pool},
	{"notify", build_notify, drive_notify},
	{"requests", build_requests, drive_requests},
	{"parallel", build_parallel, drive_parallel},
	{"significant", build_significant, drive_significant},
};

/* ---- replay ---- */

struct recording {
	struct arb_event *ev;
	size_t n;
};

static void
record(const struct scenario *sc, struct recording *ret)
{
	struct arb_spec *s = arb_spec_new();
	struct fake *f;

	assert_non_null(s);
	sc->build(s);
	f = fake_new(s);
	f->recording = true;
	sc->drive(f);
	ret->ev = f->record;
	ret->n = f->nrecord;
	f->record = NULL;
	fake_free(f);
}

static void
step(struct arb_tree *t, const struct arb_event *ev, struct arb_actions *out)
{
	assert_int_equal(arb_tree_step(t, ev, out), 0);
}

/* A tree on a new spec of sc, fed the first k events, collected. */
static struct arb_tree *
replay(const struct scenario *sc, const struct recording *r, size_t k,
       struct arb_spec **ret_spec)
{
	struct arb_spec *s = arb_spec_new();
	struct arb_tree *t;
	struct arb_actions out;

	assert_non_null(s);
	sc->build(s);
	t = arb_tree_new(s);
	assert_non_null(t);
	arb_actions_init(&out);
	for (size_t i = 0; i < k; i++)
		step(t, &r->ev[i], &out);
	arb_actions_done(&out);
	arb_tree_collect(t);
	*ret_spec = s;
	return t;
}

/* A fresh tree on a spec replayed to k (the spec the shell restores). */
static struct arb_tree *
fresh(const struct scenario *sc, const struct recording *r, size_t k,
      struct arb_spec **ret_spec)
{
	struct arb_tree *t = replay(sc, r, k, ret_spec);

	arb_tree_free(t);
	t = arb_tree_new(*ret_spec);
	assert_non_null(t);
	return t;
}

static void
assert_same_action(const struct arb_action *a, const struct arb_action *b,
		   const char *name, size_t k, size_t i, size_t j)
{
	if (a->kind == b->kind && a->node == b->node && a->pid == b->pid &&
	    a->at_ms == b->at_ms && a->report == b->report &&
	    a->reason == b->reason && a->code == b->code &&
	    a->signo == b->signo && a->err == b->err &&
	    a->failure == b->failure && a->delay_ms == b->delay_ms &&
	    a->exit_code == b->exit_code && a->exit_auto == b->exit_auto &&
	    a->what == b->what &&
	    a->req_id == b->req_id && a->reply == b->reply)
		return;
	fail_msg("%s: restored at %zu, event %zu, action %zu differs: "
		 "kind %d/%d node %u/%u pid %d/%d at %lld/%lld report %d/%d",
		 name, k, i, j, a->kind, b->kind, a->node, b->node, a->pid,
		 b->pid, (long long)a->at_ms, (long long)b->at_ms, a->report,
		 b->report);
}

/* Saved at k and restored, the tree acts as the one that went on. */
static void
check_equivalent_at(const struct scenario *sc, const struct recording *r,
		    size_t k)
{
	struct arb_spec *s1, *s2;
	struct arb_tree *t1 = replay(sc, r, k, &s1);
	struct arb_tree *t2 = fresh(sc, r, k, &s2);
	struct arb_actions o1, o2;
	struct saved saved;
	const char *why = NULL;

	save_tree(t1, &saved);
	if (restore_tree(t2, &saved, &why) != 0)
		fail_msg("%s: restore at %zu refused: %s", sc->name, k, why);
	arb_actions_init(&o1);
	arb_actions_init(&o2);
	for (size_t i = k; i < r->n; i++) {
		step(t1, &r->ev[i], &o1);
		step(t2, &r->ev[i], &o2);
		if (o1.n != o2.n)
			fail_msg("%s: restored at %zu, event %zu: %zu actions, "
				 "not %zu", sc->name, k, i, o2.n, o1.n);
		for (size_t j = 0; j < o1.n; j++)
			assert_same_action(&o1.v[j], &o2.v[j], sc->name, k, i, j);
	}
	arb_actions_done(&o1);
	arb_actions_done(&o2);
	saved_free(&saved);
	arb_tree_free(t1);
	arb_tree_free(t2);
	arb_spec_free(s1);
	arb_spec_free(s2);
}

static void
test_restored_tree_acts_the_same(void **state)
{
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		struct recording r;

		record(&scenarios[i], &r);
		assert_true(r.n > 10);
		for (size_t k = 0; k <= r.n; k++)
			check_equivalent_at(&scenarios[i], &r, k);
		free(r.ev);
	}
}

/* ---- robustness: one field corrupted at a time ---- */

static uint64_t rng = 42;

static uint64_t
rnd64(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

static unsigned
rnd(unsigned n)
{
	return (unsigned)(rnd64() % n);
}

static uint64_t
odd_value(uint32_t nnodes)
{
	static const uint64_t edges[] = {
		0, 1, 2, 3, UINT64_MAX, INT32_MAX, (uint64_t)INT32_MIN,
		UINT32_MAX, INT64_MAX, (uint64_t)INT64_MIN, 7, 16, 100, 64,
	};

	switch (rnd(4)) {
	case 0:
		return edges[rnd(sizeof(edges) / sizeof(edges[0]))];
	case 1:
		return rnd(nnodes + 2); /* an index near the real ones */
	case 2:
		return (uint64_t)((int64_t)rnd(20) - 10);
	default:
		return rnd64();
	}
}

struct field {
	size_t off, size;
};

#define FIELD(type, m) {offsetof(type, m), sizeof(((type *)0)->m)}

static const struct field node_fields[] = {
	FIELD(struct arb_node_state, state),
	FIELD(struct arb_node_state, present),
	FIELD(struct arb_node_state, pid),
	FIELD(struct arb_node_state, incarnation),
	FIELD(struct arb_node_state, restarts),
	FIELD(struct arb_node_state, timer_armed),
	FIELD(struct arb_node_state, deadline_ms),
	FIELD(struct arb_node_state, since_ms),
	FIELD(struct arb_node_state, up_ms),
	FIELD(struct arb_node_state, start_failing),
	FIELD(struct arb_node_state, start_cancelled),
	FIELD(struct arb_node_state, aborting),
	FIELD(struct arb_node_state, delayed),
	FIELD(struct arb_node_state, backoff_ms),
	FIELD(struct arb_node_state, last_err),
	FIELD(struct arb_node_state, last_failure),
	FIELD(struct arb_node_state, exited),
	FIELD(struct arb_node_state, exit_pid),
	FIELD(struct arb_node_state, exit_code),
	FIELD(struct arb_node_state, exit_signo),
	FIELD(struct arb_node_state, last_reason),
};

static const struct field sup_fields[] = {
	FIELD(struct arb_sup_state, job),
	FIELD(struct arb_sup_state, terminating),
	FIELD(struct arb_sup_state, cursor),
	FIELD(struct arb_sup_state, first),
	FIELD(struct arb_sup_state, last),
	FIELD(struct arb_sup_state, why),
	FIELD(struct arb_sup_state, auto_status),
	FIELD(struct arb_sup_state, request),
	FIELD(struct arb_sup_state, req_id),
	FIELD(struct arb_sup_state, origin),
	FIELD(struct arb_sup_state, target),
	FIELD(struct arb_sup_state, outstanding),
	FIELD(struct arb_sup_state, next_instance),
	FIELD(struct arb_sup_state, nhistory),
	FIELD(struct arb_sup_state, nqueue),
};

static const struct field queued_fields[] = {
	FIELD(struct arb_queued, kind),
	FIELD(struct arb_queued, child),
	FIELD(struct arb_queued, incarnation),
	FIELD(struct arb_queued, request),
	FIELD(struct arb_queued, req_id),
	FIELD(struct arb_queued, origin),
	FIELD(struct arb_queued, pos),
};

static const struct field globals_fields[] = {
	FIELD(struct arb_tree_globals, incarnations),
	FIELD(struct arb_tree_globals, rng),
	FIELD(struct arb_tree_globals, down),
};

/* Sets one field to v, as the format's reader could (bools are 0 or 1). */
static void
poke(void *base, const struct field *f, uint64_t v)
{
	char *p = (char *)base + f->off;

	if (f->size == sizeof(bool)) {
		bool b = v & 1;

		memcpy(p, &b, 1);
	} else if (f->size == 4) {
		uint32_t w = (uint32_t)v;

		memcpy(p, &w, 4);
	} else {
		memcpy(p, &v, 8);
	}
}

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

static void
mutate(struct saved *s)
{
	uint32_t i = rnd(s->n);
	uint64_t v = odd_value(s->n);

	switch (rnd(5)) {
	case 0:
		poke(&s->g, &globals_fields[rnd(NFIELDS(globals_fields))], v);
		return;
	case 1:
		if (s->is_node[i])
			poke(&s->nodes[i], &node_fields[rnd(NFIELDS(node_fields))],
			     v);
		return;
	case 2:
		if (!s->is_sup[i])
			return;
		poke(&s->sups[i], &sup_fields[rnd(NFIELDS(sup_fields))], v);
		/* The arrays hold ROOM: a longer count would be the
		 * caller's overrun, not the core's. */
		if (s->sups[i].nhistory > ROOM)
			s->sups[i].nhistory = ROOM;
		if (s->sups[i].nqueue > ROOM)
			s->sups[i].nqueue = ROOM;
		return;
	case 3:
		if (s->is_sup[i])
			s->hist[i][rnd(ROOM)] = (int64_t)v;
		return;
	default:
		if (s->is_sup[i])
			poke(&s->queue[i][rnd(ROOM)],
			     &queued_fields[rnd(NFIELDS(queued_fields))], v);
		return;
	}
}

/* A few events a restored tree could get next, sane or not. */
static void
poke_tree(struct arb_tree *t, const struct recording *r, size_t k,
	  int64_t now)
{
	uint32_t n = arb_tree_spec(t)->nnodes;
	struct arb_actions out;

	arb_actions_init(&out);
	for (int e = 0; e < 12; e++) {
		struct arb_event ev = {0};
		uint32_t node = rnd(n + 1);

		if (k + (size_t)e < r->n && rnd(2)) {
			ev = r->ev[k + (size_t)e];
		} else {
			ev.kind = (enum arb_event_kind)rnd(_ARB_EV_MAX);
			ev.node = node;
			ev.pid = node < n ? arb_tree_pid(t, node) : 0;
			if (rnd(4) == 0)
				ev.pid = (int)rnd(300);
			ev.code = (int)rnd(3) - 1;
			ev.signo = ev.code < 0 ? 9 : 0;
			ev.err = 2;
			ev.request = (enum arb_request_kind)rnd(ARB_REQ_REORDER);
			ev.ms = rnd(5000);
			now += rnd(3000);
			ev.now_ms = now;
		}
		if (ev.now_ms < now)
			ev.now_ms = now;
		now = ev.now_ms;
		if (arb_tree_step(t, &ev, &out) != 0)
			break;
		arb_tree_collect(t);
	}
	arb_actions_done(&out);
}

static void
test_corrupt_state_refused_or_harmless(void **state)
{
	const char *env = getenv("ARB_STATE_ITERATIONS");
	unsigned long iterations = env ? strtoul(env, NULL, 10) : 4000;
	unsigned long accepted = 0, refused = 0;

	for (unsigned long it = 0; it < iterations; it++) {
		const struct scenario *sc =
			&scenarios[it % (sizeof(scenarios) / sizeof(scenarios[0]))];
		struct recording r;
		struct arb_spec *s1, *s2;
		struct arb_tree *t1, *t2;
		struct saved saved;
		const char *why = NULL;
		size_t k;

		record(sc, &r);
		k = rnd((unsigned)r.n + 1);
		t1 = replay(sc, &r, k, &s1);
		save_tree(t1, &saved);
		for (unsigned m = 1 + rnd(2); m > 0; m--)
			mutate(&saved);
		t2 = fresh(sc, &r, k, &s2);
		if (restore_tree(t2, &saved, &why) == 0) {
			accepted++;
			poke_tree(t2, &r, k, k > 0 ? r.ev[k - 1].now_ms : 0);
		} else {
			assert_non_null(why);
			refused++;
		}
		saved_free(&saved);
		arb_tree_free(t1);
		arb_tree_free(t2);
		arb_spec_free(s1);
		arb_spec_free(s2);
		free(r.ev);
	}
	print_message("%lu corrupted states accepted and stepped, %lu "
		      "refused\n", accepted, refused);
	/* Both outcomes happen: the mutations reach the checks and pass
	 * some of them. */
	assert_true(accepted > 0 && refused > 0);
}

/* ---- the savable rule ---- */

static void
test_reorder_queued_not_savable(void **state)
{
	struct arb_spec *s = arb_spec_new();
	struct fake *f;
	uint32_t order[3];

	assert_non_null(s);
	build_requests(s);
	f = fake_new(s);
	fake_boot(f);
	assert_true(arb_tree_savable(f->tree));
	/* s busy with a slow restart: the reorder waits in its queue. */
	f->procs[fake_node(f, "s/z")].ignore_term = true;
	fake_request(f, "s/z", ARB_REQ_RESTART);
	assert_true(arb_tree_busy(f->tree, fake_node(f, "s")));
	order[0] = fake_node(f, "s/z");
	order[1] = fake_node(f, "s/y");
	order[2] = fake_node(f, "s/x");
	fake_reorder(f, fake_node(f, "s"), order, 3);
	assert_false(arb_tree_savable(f->tree));
	f->procs[fake_node(f, "s/z")].ignore_term = false;
	fake_advance(f, 1500); /* the restart ends; the reorder is done */
	assert_false(arb_tree_busy(f->tree, fake_node(f, "s")));
	arb_tree_collect(f->tree);
	assert_true(arb_tree_savable(f->tree));
	fake_free(f);
}

/* A history longer than the ring, and a queued child of another
 * supervisor, are refused with a reason. */
static void
test_refusals_name_a_reason(void **state)
{
	const struct scenario *sc = &scenarios[7]; /* requests */
	struct recording r;
	struct arb_spec *s1, *s2;
	struct arb_tree *t1, *t2;
	struct saved saved;
	const char *why = NULL;
	uint32_t sub;

	record(sc, &r);
	t1 = replay(sc, &r, 0, &s1);
	save_tree(t1, &saved);
	sub = arb_spec_find(s1, "s");
	saved.sups[sub].nhistory = 4; /* intensity 3: a ring of 4 */
	t2 = fresh(sc, &r, 0, &s2);
	assert_int_equal(restore_tree(t2, &saved, &why), 0);
	arb_tree_free(t2);
	arb_spec_free(s2);
	saved.sups[sub].nhistory = 5;
	t2 = fresh(sc, &r, 0, &s2);
	assert_int_equal(restore_tree(t2, &saved, &why), -22);
	assert_string_equal(why, "a restart history longer than intensity + 1");
	arb_tree_free(t2);
	saved_free(&saved);
	arb_tree_free(t1);
	arb_spec_free(s1);
	arb_spec_free(s2);
	free(r.ev);
}

static void
test_names_round_trip(void **state)
{
	for (int v = 0; v < _ARB_JOB_MAX; v++)
		assert_int_equal(arb_job_from_name(arb_job_name(v)), v);
	for (int v = 0; v < _ARB_WHY_MAX; v++)
		assert_int_equal(arb_job_why_from_name(arb_job_why_name(v)), v);
	for (int v = 0; v < _ARB_QUEUED_MAX; v++)
		assert_int_equal(
			arb_queued_kind_from_name(arb_queued_kind_name(v)), v);
	for (int v = 0; v < _ARB_REQ_MAX; v++)
		assert_int_equal(arb_request_from_name(arb_request_name(v)), v);
	for (int v = 0; v <= ARB_ORIGIN_CONFIG; v++)
		assert_int_equal(arb_origin_from_name(arb_origin_name(v)), v);
	for (int v = 0; v < _ARB_CHILD_STATE_MAX; v++)
		assert_int_equal(
			arb_child_state_from_name(arb_child_state_name(v)), v);
	for (int v = 0; v < _ARB_REASON_MAX; v++)
		assert_int_equal(arb_reason_from_name(arb_reason_name(v)), v);
	for (int v = 0; v < _ARB_FAIL_MAX; v++)
		assert_int_equal(arb_start_failure_from_name(
					 arb_start_failure_name(v)), v);
	assert_int_equal(arb_job_from_name("?"), -1);
	assert_int_equal(arb_child_state_from_name(NULL), -1);
	assert_int_equal(arb_request_from_name("UP"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_restored_tree_acts_the_same),
		cmocka_unit_test(test_corrupt_state_refused_or_harmless),
		cmocka_unit_test(test_reorder_queued_not_savable),
		cmocka_unit_test(test_refusals_name_a_reason),
		cmocka_unit_test(test_names_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
