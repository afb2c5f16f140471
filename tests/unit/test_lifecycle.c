/*
 * test_lifecycle.c - the core's service lifecycle beyond OTP: readiness
 * (SEMANTICS.md M6), the watchdog, delayed restarts with backoff (M7),
 * MAINPID= and EXTEND_TIMEOUT_USEC=, with the fake clock of scenario.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "scenario.h"

#define assert_trace(f, expected) assert_string_equal((f)->trace, expected)

static uint32_t
svc(struct arb_spec *s, const char *name, enum arb_ready ready)
{
	uint32_t i = fake_svc(s, ARB_ROOT, name, ARB_PERMANENT);

	s->nodes[i].ready = ready;
	return i;
}

static struct arb_spec *
spec_new(enum arb_strategy strategy, uint32_t intensity, int64_t period_ms)
{
	struct arb_spec *s = arb_spec_new();

	assert_non_null(s);
	fake_root(s, strategy, intensity, period_ms);
	return s;
}

/* M6: the next sibling starts only once the previous one is ready. */
static void
test_M6_next_sibling_waits_for_ready(void **state)
{
	struct arb_spec *s = spec_new(ARB_ONE_FOR_ONE, 3, 5000);
	struct fake *f;

	svc(s, "db", ARB_READY_NOTIFY);
	svc(s, "web", ARB_READY_EXEC);
	f = fake_new(s);
	fake_boot(f);
	assert_trace(f, "start root\nstart db\n");
	assert_int_equal(arb_tree_state(f->tree, 1), ARB_CHILD_STARTING);
	fake_advance(f, 1000);
	assert_trace(f, "start root\nstart db\n");
	fake_notify(f, "db", ARB_EV_READY);
	assert_trace(f, "start root\nstart db\nready db\nstart web\n");
	assert_int_equal(arb_tree_ignored(f->tree, ARB_CHILD_UP,
					  ARB_EV_READY), 0);
	/* A second READY=1 (after RELOADING=1, say) changes nothing. */
	fake_notify(f, "db", ARB_EV_READY);
	assert_int_equal(arb_tree_ignored(f->tree, ARB_CHILD_UP,
					  ARB_EV_READY), 1);
	fake_shutdown(f);
	assert_trace(f, "start root\nstart db\nready db\nstart web\n"
			"stop web\nstop db\ndown\n");
	fake_free(f);
}

/* M6, S3: dying before ready is a start failure; during init, fatal. */
static void
test_M6_exit_before_ready_fails_init(void **state)
{
	struct arb_spec *s = spec_new(ARB_ONE_FOR_ONE, 3, 5000);
	struct fake *f;

	svc(s, "a", ARB_READY_EXEC);
	svc(s, "b", ARB_READY_FD);
	svc(s, "c", ARB_READY_EXEC);
	f = fake_new(s);
	fake_boot(f);
	fake_exit(f, "b", 0);
	assert_trace(f, "start root\nstart a\nstart b\n"
			"start_failed b exit\nstop a\n"
			"start_failed root\ndown\n");
	assert_int_equal(f->exit_code, 1);
	fake_free(f);
}

/* M6: start_timeout stops it with the stop protocol, then it failed. */
static void
test_M6_start_timeout(void **state)
{
	struct arb_spec *s = spec_new(ARB_ONE_FOR_ONE, 3, 5000);
	struct fake *f;
	uint32_t a;

	a = svc(s, "a", ARB_READY_NOTIFY);
	s->nodes[a].start_timeout_ms = 2000;
	s->nodes[a].stop_timeout_ms = 500;
	f = fake_new(s);
	f->procs[a].ignore_term = true;
	fake_boot(f);
	fake_advance(f, 1999);
	assert_trace(f, "start root\nstart a\n");
	fake_advance(f, 1);
	/* SIGTERM ignored: SIGKILL after stop_timeout. */
	assert_trace(f, "start root\nstart a\n");
	assert_int_equal(arb_tree_state(f->tree, a), ARB_CHILD_STOPPING);
	fake_advance(f, 500);
	assert_trace(f, "start root\nstart a\nstart_failed a timeout\n"
			"start_failed root\ndown\n");
	fake_free(f);
}

/* EXTEND_TIMEOUT_USEC moves the deadline later, never earlier. */
static void
test_extend_timeout(void **state)
{
	struct arb_spec *s = spec_new(ARB_ONE_FOR_ONE, 3, 5000);
	struct fake *f;
	uint32_t a;

	a = svc(s, "a", ARB_READY_NOTIFY);
	s->nodes[a].start_timeout_ms = 1000;
	f = fake_new(s);
	fake_boot(f);
	fake_advance(f, 500);
	fake_push(f, (struct arb_event){.kind = ARB_EV_EXTEND_TIMEOUT,
					.node = a, .ms = 100});
	fake_run(f);
	assert_int_equal(f->procs[a].timer_at, 1000);
	fake_push(f, (struct arb_event){.kind = ARB_EV_EXTEND_TIMEOUT,
					.node = a, .ms = 3000});
	fake_run(f);
	fake_advance(f, 3000 - 1);
	assert_trace(f, "start root\nstart a\n");
	fake_notify(f, "a", ARB_EV_READY);
	assert_trace(f, "start root\nstart a\nready a\n");
	assert_false(f->procs[a].timer_armed);
	fake_free(f);
}

/* M6 with R1: a restart whose process dies before ready is retried. */
static void
test_M6_restart_not_ready_is_retried(void **state)
{
	struct arb_spec *s = spec_new(ARB_ONE_FOR_ONE, 2, 5000);
	struct fake *f;

	svc(s, "a", ARB_READY_NOTIFY);
	f = fake_new(s);
	fake_boot(f);
	fake_notify(f, "a", ARB_EV_READY);
	fake_exit(f, "a", 1);
	fake_exit(f, "a", 1); /* the restarted one, before READY=1 */
	fake_notify(f, "a", ARB_EV_READY);
	assert_trace(f, "start root\nstart a\nready a\n"
			"exit a crash\nstart a\nstart_failed a exit\n"
			"start a\nready a\n");
	assert_int_equal(arb_tree_restarts(f->tree, 1), 2);
	fake_free(f);
}

/* The watchdog: keep-alives keep it; silence is SIGABRT and a crash. */
static void
test_watchdog_missed_is_a_crash(void **state)
{
	struct arb_spec *s = spec_new(ARB_ONE_FOR_ONE, 3, 5000);
	struct fake *f;
	uint32_t a;

	a = svc(s, "a", ARB_READY_NOTIFY);
	s->nodes[a].watchdog_ms = 1000;
	f = fake_new(s);
	fake_boot(f);
	fake_advance(f, 5000); /* before ready, start_timeout governs */
	fake_notify(f, "a", ARB_EV_READY);
	for (int i = 0; i < 10; i++) {
		fake_advance(f, 900);
		fake_notify(f, "a", ARB_EV_WATCHDOG);
	}
	assert_trace(f, "start root\nstart a\nready a\n");
	fake_advance(f, 1000);
	assert_trace(f, "start root\nstart a\nready a\n"
			"watchdog a\nexit a crash\nstart a\n");
	fake_free(f);
}

/* A hung service that ignores SIGABRT is killed after stop_timeout. */
static void
test_watchdog_hung_is_killed(void **state)
{
	struct arb_spec *s = spec_new(ARB_ONE_FOR_ONE, 3, 5000);
	struct fake *f;
	uint32_t a;

	a = svc(s, "a", ARB_READY_EXEC);
	s->nodes[a].watchdog_ms = 1000;
	s->nodes[a].stop_timeout_ms = 300;
	f = fake_new(s);
	f->procs[a].ignore_term = true;
	fake_boot(f);
	fake_advance(f, 1000);
	assert_trace(f, "start root\nstart a\nwatchdog a\n");
	/* Keep-alives after the verdict change nothing. */
	fake_notify(f, "a", ARB_EV_WATCHDOG);
	fake_advance(f, 299);
	assert_trace(f, "start root\nstart a\nwatchdog a\n");
	fake_advance(f, 1);
	assert_trace(f, "start root\nstart a\nwatchdog a\n"
			"exit a crash\nstart a\n");
	fake_free(f);
}

/* WATCHDOG=trigger; a normal status after it is still a crash. */
static void
test_watchdog_trigger(void **state)
{
	struct arb_spec *s = spec_new(ARB_ONE_FOR_ONE, 3, 5000);
	struct fake *f;
	uint32_t a;

	a = fake_svc(s, ARB_ROOT, "a", ARB_TRANSIENT);
	s->nodes[a].watchdog_ms = 10000;
	f = fake_new(s);
	f->procs[a].ignore_term = true;
	fake_boot(f);
	fake_notify(f, "a", ARB_EV_WATCHDOG_TRIGGER);
	fake_exit(f, "a", 0);
	assert_trace(f, "start root\nstart a\nwatchdog a\n"
			"exit a crash\nstart a\n");
	fake_free(f);
}

/* A stop cancels the watchdog: no verdict on a stopping service. */
static void
test_watchdog_stops_with_the_service(void **state)
{
	struct arb_spec *s = spec_new(ARB_ONE_FOR_ONE, 3, 5000);
	struct fake *f;
	uint32_t a;

	a = svc(s, "a", ARB_READY_EXEC);
	s->nodes[a].watchdog_ms = 1000;
	s->nodes[a].stop_timeout_ms = ARB_INFINITY_MS;
	f = fake_new(s);
	f->procs[a].ignore_term = true;
	fake_boot(f);
	fake_shutdown(f);
	fake_advance(f, 10000);
	assert_trace(f, "start root\nstart a\n");
	assert_false(f->procs[a].timer_armed);
	fake_free(f);
}

static uint32_t
delayed_svc(struct arb_spec *s, const char *name, int64_t delay, int64_t max)
{
	uint32_t i = svc(s, name, ARB_READY_EXEC);

	s->nodes[i].restart_delay_ms = delay;
	s->nodes[i].restart_delay_max_ms = max;
	return i;
}

/* M7: a constant delay is exact; the restart is counted when decided. */
static void
test_M7_constant_delay(void **state)
{
	struct arb_spec *s = spec_new(ARB_ONE_FOR_ONE, 1, 10000);
	struct fake *f;
	uint32_t a;

	a = delayed_svc(s, "a", 250, 250);
	f = fake_new(s);
	fake_boot(f);
	fake_exit(f, "a", 1);
	assert_int_equal(arb_tree_state(f->tree, a), ARB_CHILD_RESTARTING);
	fake_advance(f, 249);
	assert_trace(f, "start root\nstart a\nexit a crash\nbackoff a 250\n");
	fake_advance(f, 1);
	fake_exit(f, "a", 1); /* the second restart within period */
	assert_trace(f, "start root\nstart a\nexit a crash\nbackoff a 250\n"
			"start a\nexit a crash\ngiveup root\ndown\n");
	fake_free(f);
}

/* The delay of the n-th consecutive restart, read from the trace. */
static int64_t
crash_and_delay(struct fake *f, const char *path)
{
	long long d = -1;
	const char *p;

	fake_clear(f);
	fake_exit(f, path, 1);
	p = strstr(f->trace, "backoff ");
	assert_non_null(p);
	assert_int_equal(sscanf(p, "backoff %*s %lld", &d), 1);
	fake_advance(f, d);
	return d;
}

/* M7: the delay doubles up to the maximum, with at most 10% off. */
static void
test_M7_exponential_backoff_and_reset(void **state)
{
	struct arb_spec *s = spec_new(ARB_ONE_FOR_ONE, 100, 10000);
	static const int64_t nominal[] = {100, 200, 400, 800, 1000, 1000};
	struct fake *f;

	delayed_svc(s, "a", 100, 1000);
	f = fake_new(s);
	arb_tree_seed(f->tree, 42);
	fake_boot(f);
	for (size_t i = 0; i < sizeof(nominal) / sizeof(nominal[0]); i++) {
		int64_t d = crash_and_delay(f, "a");

		assert_true(d <= nominal[i]);
		assert_true(d >= nominal[i] - nominal[i] / 10);
	}
	/* Up for a whole period: the next delay starts over. */
	fake_advance(f, 10000);
	assert_true(crash_and_delay(f, "a") <= 100);
	fake_free(f);
}

/* M7, D2: a stop cancels a pending delayed restart. */
static void
test_M7_stop_cancels_delayed_restart(void **state)
{
	struct arb_spec *s = spec_new(ARB_ONE_FOR_ONE, 3, 5000);
	struct fake *f;
	uint32_t a;

	a = delayed_svc(s, "a", 1000, 1000);
	f = fake_new(s);
	fake_boot(f);
	fake_exit(f, "a", 1);
	fake_request(f, "a", ARB_REQ_STOP);
	assert_false(f->procs[a].timer_armed);
	fake_advance(f, 5000);
	assert_trace(f, "start root\nstart a\nexit a crash\nbackoff a 1000\n"
			"reply a ok\n");
	assert_int_equal(arb_tree_state(f->tree, a), ARB_CHILD_DOWN);
	/* And it can be started again at once. */
	fake_request(f, "a", ARB_REQ_START);
	assert_int_equal(arb_tree_state(f->tree, a), ARB_CHILD_UP);
	fake_free(f);
}

/* M7: shutting down while a restart waits stops the rest, starts none. */
static void
test_M7_shutdown_during_delay(void **state)
{
	struct arb_spec *s = spec_new(ARB_ONE_FOR_ONE, 3, 5000);
	struct fake *f;
	uint32_t a;

	a = delayed_svc(s, "a", 1000, 1000);
	svc(s, "b", ARB_READY_EXEC);
	f = fake_new(s);
	fake_boot(f);
	fake_exit(f, "a", 1);
	fake_shutdown(f);
	fake_advance(f, 5000);
	assert_trace(f, "start root\nstart a\nstart b\nexit a crash\n"
			"backoff a 1000\nstop b\ndown\n");
	assert_false(f->procs[a].timer_armed);
	fake_free(f);
}

/* M7 with ST2: the group's restart overtakes a waiting one. */
static void
test_M7_group_restart_overtakes_delay(void **state)
{
	struct arb_spec *s = spec_new(ARB_ONE_FOR_ALL, 5, 5000);
	struct fake *f;
	uint32_t a;

	a = delayed_svc(s, "a", 1000, 1000);
	svc(s, "b", ARB_READY_EXEC);
	f = fake_new(s);
	fake_boot(f);
	fake_exit(f, "a", 1);
	/* During a's delay the group keeps running; then b crashes. */
	fake_advance(f, 100);
	fake_exit(f, "b", 1);
	assert_false(f->procs[a].timer_armed);
	fake_advance(f, 5000);
	assert_trace(f, "start root\nstart a\nstart b\nexit a crash\n"
			"backoff a 1000\nexit b crash\nstart a\nstart b\n");
	assert_int_equal(arb_tree_state(f->tree, a), ARB_CHILD_UP);
	fake_free(f);
}

/* M7 with ST2: once the delay is over the whole group restarts. */
static void
test_M7_delay_then_group_restart(void **state)
{
	struct arb_spec *s = spec_new(ARB_ONE_FOR_ALL, 5, 5000);
	struct fake *f;

	delayed_svc(s, "a", 1000, 1000);
	svc(s, "b", ARB_READY_EXEC);
	f = fake_new(s);
	fake_boot(f);
	fake_exit(f, "a", 1);
	fake_advance(f, 1000);
	assert_trace(f, "start root\nstart a\nstart b\nexit a crash\n"
			"backoff a 1000\nstop b\nstart a\nstart b\n");
	fake_free(f);
}

/* R1 with M7: failed starts back off too. */
static void
test_M7_failed_starts_back_off(void **state)
{
	struct arb_spec *s = spec_new(ARB_ONE_FOR_ONE, 3, 60000);
	struct fake *f;
	uint32_t a;

	a = delayed_svc(s, "a", 100, 100);
	f = fake_new(s);
	fake_boot(f);
	f->procs[a].fail_spawns = 2;
	fake_exit(f, "a", 1);
	fake_advance(f, 1000);
	assert_trace(f, "start root\nstart a\nexit a crash\nbackoff a 100\n"
			"start_failed a\nbackoff a 100\n"
			"start_failed a\nbackoff a 100\nstart a\n");
	assert_int_equal(arb_tree_restarts(f->tree, a), 3);
	fake_free(f);
}

/* M12: MAINPID= moves the main process; the old one's death is noise. */
static void
test_M12_mainpid(void **state)
{
	struct arb_spec *s = spec_new(ARB_ONE_FOR_ONE, 3, 5000);
	struct fake *f;
	uint32_t a;
	int old;

	a = svc(s, "a", ARB_READY_NOTIFY);
	f = fake_new(s);
	fake_boot(f);
	old = f->procs[a].pid;
	fake_push(f, (struct arb_event){.kind = ARB_EV_MAINPID, .node = a,
					.pid = 4242});
	fake_notify(f, "a", ARB_EV_READY);
	fake_push(f, (struct arb_event){.kind = ARB_EV_EXITED, .node = a,
					.pid = old, .code = 0});
	fake_run(f);
	assert_int_equal(arb_tree_pid(f->tree, a), 4242);
	assert_trace(f, "start root\nstart a\nready a\n");
	/* X1: the launcher's death is no longer the service's. */
	assert_int_equal(arb_tree_ignored(f->tree, ARB_CHILD_UP,
					  ARB_EV_EXITED), 1);
	fake_push(f, (struct arb_event){.kind = ARB_EV_EXITED, .node = a,
					.pid = 4242, .code = 3});
	f->procs[a].pid = 0;
	fake_run(f);
	assert_trace(f, "start root\nstart a\nready a\nexit a crash\n"
			"start a\n");
	fake_free(f);
}

/*
 * The core's ignored (state, event) pairs: a clean start, restart and stop
 * ignores nothing; stray events are counted, each under the state its node
 * was in, and change nothing.
 */
static void
test_ignored_pairs_are_counted(void **state)
{
	struct arb_spec *s = spec_new(ARB_ONE_FOR_ONE, 3, 5000);
	struct fake *f;
	uint32_t a, total = 0;

	a = svc(s, "a", ARB_READY_EXEC);
	f = fake_new(s);
	fake_boot(f);
	fake_exit(f, "a", 1);
	for (int st = 0; st < _ARB_CHILD_STATE_MAX; st++)
		for (int ev = 0; ev < _ARB_EV_MAX; ev++)
			total += arb_tree_ignored(f->tree, st, ev);
	assert_int_equal(total, 0);

	fake_notify(f, "a", ARB_EV_READY);     /* nobody waits for it */
	fake_notify(f, "a", ARB_EV_WATCHDOG);  /* it has no watchdog */
	fake_push(f, (struct arb_event){.kind = ARB_EV_SPAWNED, .node = a,
					.pid = 99});
	fake_push(f, (struct arb_event){.kind = ARB_EV_TIMER, .node = 77});
	fake_run(f);
	assert_int_equal(arb_tree_ignored(f->tree, ARB_CHILD_UP,
					  ARB_EV_READY), 1);
	assert_int_equal(arb_tree_ignored(f->tree, ARB_CHILD_UP,
					  ARB_EV_WATCHDOG), 1);
	assert_int_equal(arb_tree_ignored(f->tree, ARB_CHILD_UP,
					  ARB_EV_SPAWNED), 1);
	assert_int_equal(arb_tree_ignored(f->tree, _ARB_CHILD_STATE_MAX,
					  _ARB_EV_MAX), 1); /* node 77 */
	assert_int_equal(arb_tree_pid(f->tree, a), f->procs[a].pid);
	assert_trace(f, "start root\nstart a\nexit a crash\nstart a\n");

	fake_shutdown(f);
	fake_shutdown(f); /* the root is down already */
	assert_int_equal(arb_tree_ignored(f->tree,
					  arb_tree_state(f->tree, ARB_ROOT),
					  ARB_EV_SHUTDOWN), 1);
	fake_free(f);
}

/*
 * Services a and b; b crashed and its restart hangs before exec (failing
 * at last with prexec_err, 0: never). The trace is cleared.
 */
static struct fake *
fake_with_hung_restart(uint32_t *ret_b, int prexec_err)
{
	struct arb_spec *s = spec_new(ARB_ONE_FOR_ONE, 3, 5000);
	struct fake *f;
	uint32_t b;

	svc(s, "a", ARB_READY_EXEC);
	b = svc(s, "b", ARB_READY_EXEC);
	f = fake_new(s);
	fake_boot(f);
	f->procs[b].hang_spawns = true;
	f->procs[b].prexec_err = prexec_err;
	fake_exit(f, "b", 1);
	fake_clear(f);
	*ret_b = b;
	return f;
}

/*
 * A start whose process hangs before exec (its cwd on a file system that
 * never answers) holds its supervisor's job (M5): b crashed, its restart
 * hangs, and a stop of b must not wait behind it for ever. The stop
 * cancels the start (SIGKILL to the process being made), the start fails,
 * and the stop is then carried out.
 */
static void
test_stop_cancels_a_start_hung_before_exec(void **state)
{
	uint32_t b;
	struct fake *f = fake_with_hung_restart(&b, 0);

	assert_int_equal(arb_tree_state(f->tree, b), ARB_CHILD_STARTING);
	fake_request(f, "b", ARB_REQ_STOP);
	assert_trace(f, "start_failed b\nreply b ok\n");
	assert_int_equal(f->procs[b].failed_err, ARB_ECANCELED);
	assert_int_equal(arb_tree_state(f->tree, b), ARB_CHILD_DOWN);
	assert_int_equal(f->procs[b].pid, 0);
	assert_int_equal(f->procs[b].prexec, 0);
	fake_free(f);
}

/*
 * The child's own failure (its hung mount went away: ENOTCONN) may come
 * before the SIGKILL lands: the start was still cancelled by the stop.
 */
static void
test_a_cancelled_start_that_fails_by_itself_is_cancelled(void **state)
{
	uint32_t b;
	struct fake *f = fake_with_hung_restart(&b, 107); /* ENOTCONN */

	fake_request(f, "b", ARB_REQ_STOP);
	assert_trace(f, "start_failed b\nreply b ok\n");
	assert_int_equal(f->procs[b].failed_err, ARB_ECANCELED);
	assert_int_equal(arb_tree_state(f->tree, b), ARB_CHILD_DOWN);
	fake_free(f);
}

/* The same hung start must not hold a shutdown of arbord either. */
static void
test_shutdown_cancels_a_start_hung_before_exec(void **state)
{
	uint32_t b;
	struct fake *f = fake_with_hung_restart(&b, 0);

	fake_shutdown(f);
	assert_trace(f, "start_failed b\nstop a\ndown\n");
	assert_int_equal(f->exit_code, 0);
	assert_int_equal(f->procs[b].prexec, 0);
	fake_free(f);
}

/*
 * A shutdown during the boot (the root's init) that cancels a start hung
 * before exec stops the tree; it is not a failed boot (exit status 0).
 */
static void
test_shutdown_during_boot_cancels_a_hung_start(void **state)
{
	struct arb_spec *s = spec_new(ARB_ONE_FOR_ONE, 3, 5000);
	struct fake *f;
	uint32_t b;

	svc(s, "a", ARB_READY_EXEC);
	b = svc(s, "b", ARB_READY_EXEC);
	svc(s, "c", ARB_READY_EXEC);
	f = fake_new(s);
	f->procs[b].hang_spawns = true;
	fake_boot(f);
	assert_trace(f, "start root\nstart a\n");
	fake_shutdown(f);
	assert_trace(f, "start root\nstart a\nstart_failed b\nstop a\n"
			"down\n");
	assert_int_equal(f->exit_code, 0);
	fake_free(f);
}

/*
 * The hung start may be deeper: the root's init waits for a supervisor
 * whose own init waits for it. The shutdown reaches it all the same.
 */
static void
test_shutdown_during_boot_cancels_a_nested_hung_start(void **state)
{
	struct arb_spec *s = spec_new(ARB_ONE_FOR_ONE, 3, 5000);
	struct fake *f;
	uint32_t sup, h;

	sup = fake_sup(s, ARB_ROOT, "s", ARB_ONE_FOR_ONE, 3, 5000);
	fake_svc(s, sup, "a", ARB_PERMANENT);
	h = fake_svc(s, sup, "h", ARB_PERMANENT);
	svc(s, "c", ARB_READY_EXEC);
	f = fake_new(s);
	f->procs[h].hang_spawns = true;
	fake_boot(f);
	assert_trace(f, "start root\nstart s\nstart s/a\n");
	fake_shutdown(f);
	assert_trace(f, "start root\nstart s\nstart s/a\nstart_failed s/h\n"
			"stop s/a\nstart_failed s\ndown\n");
	assert_int_equal(f->exit_code, 0);
	assert_int_equal(f->procs[h].prexec, 0);
	fake_free(f);
}

/*
 * The exception is for a process that has not exec'ed: one that runs and
 * is not ready yet keeps its start_timeout, and a stop waits (M5, M6).
 */
static void
test_stop_waits_for_a_start_past_exec(void **state)
{
	struct arb_spec *s = spec_new(ARB_ONE_FOR_ONE, 3, 5000);
	struct fake *f;
	uint32_t b;

	svc(s, "a", ARB_READY_EXEC);
	b = svc(s, "b", ARB_READY_NOTIFY);
	f = fake_new(s);
	fake_boot(f);
	fake_notify(f, "b", ARB_EV_READY);
	fake_exit(f, "b", 1);
	fake_clear(f);
	fake_request(f, "b", ARB_REQ_STOP);
	assert_trace(f, "");
	assert_int_equal(arb_tree_state(f->tree, b), ARB_CHILD_STARTING);
	fake_notify(f, "b", ARB_EV_READY);
	assert_trace(f, "ready b\nstop b\nreply b ok\n");
	fake_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_M6_next_sibling_waits_for_ready),
		cmocka_unit_test(test_M6_exit_before_ready_fails_init),
		cmocka_unit_test(test_M6_start_timeout),
		cmocka_unit_test(test_extend_timeout),
		cmocka_unit_test(test_M6_restart_not_ready_is_retried),
		cmocka_unit_test(test_watchdog_missed_is_a_crash),
		cmocka_unit_test(test_watchdog_hung_is_killed),
		cmocka_unit_test(test_watchdog_trigger),
		cmocka_unit_test(test_watchdog_stops_with_the_service),
		cmocka_unit_test(test_M7_constant_delay),
		cmocka_unit_test(test_M7_exponential_backoff_and_reset),
		cmocka_unit_test(test_M7_stop_cancels_delayed_restart),
		cmocka_unit_test(test_M7_shutdown_during_delay),
		cmocka_unit_test(test_M7_group_restart_overtakes_delay),
		cmocka_unit_test(test_M7_delay_then_group_restart),
		cmocka_unit_test(test_M7_failed_starts_back_off),
		cmocka_unit_test(test_M12_mainpid),
		cmocka_unit_test(test_ignored_pairs_are_counted),
		cmocka_unit_test(test_stop_cancels_a_start_hung_before_exec),
		cmocka_unit_test(test_shutdown_cancels_a_start_hung_before_exec),
		cmocka_unit_test(test_stop_waits_for_a_start_past_exec),
		cmocka_unit_test(
			test_a_cancelled_start_that_fails_by_itself_is_cancelled),
		cmocka_unit_test(test_shutdown_during_boot_cancels_a_hung_start),
		cmocka_unit_test(
			test_shutdown_during_boot_cancels_a_nested_hung_start),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
