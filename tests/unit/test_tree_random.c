/*
 * test_tree_random.c - random trees, random events, invariants after each.
 *
 * Scenario tests check what the rules say; this checks what must never
 * happen, whatever the sequence: a live process behind a node the core
 * thinks is dead (a leak), a node the core thinks is running with no
 * process, a supervisor busy with no timer that could ever move it on (a
 * hang), a shutdown that does not reach `down`, a request that is never
 * answered, or a core bug report.
 * Seeds run 1..N (ARB_RANDOM_SEEDS, default 3000); a failure names its seed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "scenario.h"

static uint64_t rng;

static unsigned
rnd(unsigned n)
{
	rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)((rng >> 33) % n);
}

static void
build(struct arb_spec *s, uint32_t sup, int depth, int *count)
{
	struct arb_spec_node *p = &s->nodes[sup];
	int n = 1 + (int)rnd(4);

	p->strategy = (enum arb_strategy)rnd(_ARB_STRATEGY_MAX);
	p->intensity = rnd(2) ? rnd(4) : rnd(40);
	p->period_ms = 500 + rnd(5000);
	p->auto_shutdown = (enum arb_auto_shutdown)rnd(_ARB_AUTO_SHUTDOWN_MAX);
	for (int i = 0; i < n; i++) {
		bool is_sup = depth < 4 && rnd(3) == 0;
		char name[16];
		uint32_t c;

		snprintf(name, sizeof(name), "n%d", (*count)++);
		c = arb_spec_add(s, sup, is_sup ? ARB_NODE_SUPERVISOR
						: ARB_NODE_SERVICE, name, "t", 1);
		s->nodes[c].restart = (enum arb_restart)rnd(_ARB_RESTART_MAX);
		if (is_sup) {
			build(s, c, depth + 1, count);
		} else {
			static const int64_t timeouts[] = {0, 100, 3000};
			struct arb_spec_node *svc = &s->nodes[c];

			svc->stop_timeout_ms = timeouts[rnd(3)];
			svc->ready = (enum arb_ready)rnd(_ARB_READY_MAX);
			svc->start_timeout_ms = 100 + timeouts[rnd(3)];
			svc->watchdog_ms = rnd(3) == 0 ? 50 + rnd(2000) : 0;
			if (rnd(3) == 0) {
				svc->restart_delay_ms = 1 + rnd(500);
				svc->restart_delay_max_ms =
					svc->restart_delay_ms * (1 + rnd(8));
			}
		}
		/* Only valid combinations (C5), as the config loader guarantees. */
		if (s->nodes[sup].auto_shutdown != ARB_AUTO_NEVER &&
		    s->nodes[c].restart != ARB_PERMANENT && rnd(2))
			s->nodes[c].significant = true;
	}
}

static void
violation(struct fake *f, unsigned long seed, const char *what, uint32_t node)
{
	fail_msg("seed %lu: %s at '%s'\n%s", seed, what,
		 fake_path(f, node), f->trace);
}

static const enum arb_request_kind requests[] = {
	ARB_REQ_START, ARB_REQ_STOP, ARB_REQ_RESTART, ARB_REQ_CHANGE,
};

static void
check(struct fake *f, unsigned long seed)
{
	bool timer = false;

	for (uint32_t i = 0; i < f->spec->nnodes; i++) {
		enum arb_child_state st = arb_tree_state(f->tree, i);
		int pid = f->procs[i].pid;

		if (f->spec->nodes[i].kind != ARB_NODE_SERVICE)
			continue;
		timer |= f->procs[i].timer_armed;
		switch (st) {
		case ARB_CHILD_UP:
			if (pid == 0 || pid != arb_tree_pid(f->tree, i))
				violation(f, seed, "up without its process", i);
			break;
		case ARB_CHILD_STOPPING:
		case ARB_CHILD_KILLING:
			if (pid == 0)
				violation(f, seed, "stopping a dead process", i);
			break;
		case ARB_CHILD_STARTING: /* waiting for readiness (M6) */
			if (pid != arb_tree_pid(f->tree, i))
				violation(f, seed, "starting a stray process", i);
			break;
		default:
			if (pid != 0)
				violation(f, seed, "a process left running", i);
		}
	}
	if (f->exit_code >= 0 || timer)
		return;
	for (uint32_t i = 0; i < f->spec->nnodes; i++)
		if (arb_tree_busy(f->tree, i))
			violation(f, seed, "busy with nothing to wait for", i);
}

static void
random_events(struct fake *f, unsigned long seed)
{
	uint32_t nn = f->spec->nnodes;

	for (int step = 0; step < 200 && f->exit_code < 0; step++) {
		uint32_t i = 1 + rnd(nn - 1), j = 1 + rnd(nn - 1);

		switch (rnd(9)) {
		case 0:
		case 1:
			if (rnd(3) == 2)
				fake_die(f, i, -1, rnd(2) ? ARB_SIGTERM : ARB_SIGKILL);
			else
				fake_die(f, i, (int)rnd(2), 0);
			break;
		case 2: /* two deaths in the same instant (ST6) */
			fake_die(f, i, 1, 0);
			fake_die(f, j, 0, 0);
			break;
		case 3:
			f->procs[i].ignore_term = !f->procs[i].ignore_term;
			break;
		case 4:
			f->procs[i].fail_spawns = (int)rnd(3);
			break;
		case 5:
			fake_advance(f, rnd(4000));
			break;
		case 6:
			if (rnd(10) == 0)
				fake_shutdown(f);
			break;
		case 7: /* an operator's stop, start or restart (D2, D3), or
			   a reload's restart into new keys */
			fake_push(f, (struct arb_event){
				.kind = ARB_EV_REQUEST, .node = i,
				.request = requests[rnd(4)]});
			f->requests++;
			break;
		case 8: /* what the notify socket says (M6, watchdog) */
			fake_push(f, (struct arb_event){
				.kind = rnd(4) ? ARB_EV_READY
				       : rnd(2) ? ARB_EV_WATCHDOG
						: ARB_EV_WATCHDOG_TRIGGER,
				.node = i, .pid = f->procs[i].pid});
			break;
		}
		fake_run(f);
		check(f, seed);
	}
}

static void
test_random_trees_keep_invariants(void **state)
{
	const char *env = getenv("ARB_RANDOM_SEEDS");
	unsigned long seeds = env ? strtoul(env, NULL, 10) : 3000;

	for (unsigned long seed = 1; seed <= seeds; seed++) {
		struct arb_spec *s = arb_spec_new();
		struct fake *f;
		int count = 0;

		rng = seed;
		build(s, ARB_ROOT, 0, &count);
		f = fake_new(s);
		for (uint32_t i = 0; i < s->nnodes; i++)
			f->procs[i].fail_spawns = rnd(8) == 0;
		fake_boot(f);
		check(f, seed);
		random_events(f, seed);
		if (f->exit_code < 0) {
			for (uint32_t i = 0; i < s->nnodes; i++)
				f->procs[i].fail_spawns = 0;
			fake_shutdown(f);
			for (int k = 0; k < 20 && f->exit_code < 0; k++)
				fake_advance(f, 10000);
		}
		if (f->exit_code < 0)
			violation(f, seed, "shutdown never reached down", ARB_ROOT);
		for (uint32_t i = 0; i < s->nnodes; i++)
			if (f->procs[i].pid != 0)
				violation(f, seed, "alive after down", i);
		if (f->replies != f->requests)
			violation(f, seed, "a request never answered", ARB_ROOT);
		fake_free(f);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_trees_keep_invariants),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
