/*
 * test_tree.c - the pure core against SEMANTICS.md, rule by rule.
 *
 * Each test names the rule it checks. Traces use the OTP oracle's
 * vocabulary; where a test mirrors an oracle scenario, the expected trace
 * is the one real OTP printed (../shared/oracle/expected/).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/mem.h"
#include "scenario.h"

#define assert_trace(f, expected) assert_string_equal((f)->trace, expected)

static struct fake *
flat(enum arb_strategy strategy, uint32_t intensity, int64_t period_ms,
     const char *names)
{
	struct arb_spec *s = arb_spec_new();
	char buf[256], *save = NULL;

	assert_non_null(s);
	fake_root(s, strategy, intensity, period_ms);
	strcpy(buf, names);
	for (char *n = strtok_r(buf, " ", &save); n;
	     n = strtok_r(NULL, " ", &save))
		fake_svc(s, ARB_ROOT, n, ARB_PERMANENT);
	return fake_new(s);
}

/* S1, T1: depth-first start in order; shutdown in reverse, sub-trees whole. */
static void
test_S1_T1_start_order_and_reverse_stop(void **state)
{
	struct arb_spec *s = arb_spec_new();
	struct fake *f;
	uint32_t sub;

	fake_svc(s, ARB_ROOT, "a", ARB_PERMANENT);
	sub = fake_sup(s, ARB_ROOT, "s", ARB_ONE_FOR_ONE, 1, 5000);
	fake_svc(s, sub, "x", ARB_PERMANENT);
	fake_svc(s, sub, "y", ARB_PERMANENT);
	fake_svc(s, ARB_ROOT, "b", ARB_PERMANENT);
	f = fake_new(s);
	fake_boot(f);
	fake_shutdown(f);
	assert_trace(f, "start root\nstart a\nstart s\nstart s/x\nstart s/y\n"
			"start b\n"
			"stop b\nstop s/y\nstop s/x\nstop s\nstop a\ndown\n");
	assert_int_equal(f->exit_code, 0); /* M10: requested shutdown */
	fake_free(f);
}

/* ST1: oracle 01_one_for_one. */
static void
test_ST1_one_for_one(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ONE, 3, 5000, "a b c");

	fake_boot(f);
	fake_exit(f, "b", 1);
	fake_shutdown(f);
	assert_trace(f, "start root\nstart a\nstart b\nstart c\n"
			"exit b crash\nstart b\n"
			"stop c\nstop b\nstop a\ndown\n");
	fake_free(f);
}

/* ST2: oracle 02_one_for_all. */
static void
test_ST2_one_for_all(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ALL, 3, 5000, "a b c");

	fake_boot(f);
	fake_exit(f, "b", 1);
	fake_shutdown(f);
	assert_trace(f, "start root\nstart a\nstart b\nstart c\n"
			"exit b crash\nstop c\nstop a\n"
			"start a\nstart b\nstart c\n"
			"stop c\nstop b\nstop a\ndown\n");
	fake_free(f);
}

/* ST2.2-3: a stopped transient comes back; a temporary is dropped. */
static void
test_ST2_stopped_return_temporary_dropped(void **state)
{
	struct arb_spec *s = arb_spec_new();
	struct fake *f;

	fake_root(s, ARB_ONE_FOR_ALL, 5, 5000);
	fake_svc(s, ARB_ROOT, "t", ARB_TRANSIENT);
	fake_svc(s, ARB_ROOT, "a", ARB_PERMANENT);
	fake_svc(s, ARB_ROOT, "tmp", ARB_TEMPORARY);
	fake_svc(s, ARB_ROOT, "c", ARB_PERMANENT);
	f = fake_new(s);
	fake_boot(f);
	fake_exit(f, "t", 0); /* X2: transient normal: stays stopped */
	fake_clear(f);
	fake_exit(f, "a", 1);
	assert_trace(f, "exit a crash\nstop c\nstop tmp\n"
			"start t\nstart a\nstart c\n");
	assert_false(arb_tree_present(f->tree, fake_node(f, "tmp")));
	fake_free(f);
}

/* ST3: oracle 03_rest_for_one. */
static void
test_ST3_rest_for_one(void **state)
{
	struct fake *f = flat(ARB_REST_FOR_ONE, 3, 5000, "a b c d");

	fake_boot(f);
	fake_exit(f, "b", 1);
	fake_exit(f, "d", 1);
	fake_shutdown(f);
	assert_trace(f, "start root\nstart a\nstart b\nstart c\nstart d\n"
			"exit b crash\nstop d\nstop c\n"
			"start b\nstart c\nstart d\n"
			"exit d crash\nstart d\n"
			"stop d\nstop c\nstop b\nstop a\ndown\n");
	fake_free(f);
}

/* X2: oracle 07_restart_types. */
static void
test_X2_restart_types(void **state)
{
	struct arb_spec *s = arb_spec_new();
	struct fake *f;

	fake_root(s, ARB_ONE_FOR_ONE, 10, 5000);
	fake_svc(s, ARB_ROOT, "p", ARB_PERMANENT);
	fake_svc(s, ARB_ROOT, "t1", ARB_TRANSIENT);
	fake_svc(s, ARB_ROOT, "t2", ARB_TRANSIENT);
	fake_svc(s, ARB_ROOT, "t3", ARB_TRANSIENT);
	fake_svc(s, ARB_ROOT, "tmp", ARB_TEMPORARY);
	f = fake_new(s);
	fake_boot(f);
	fake_exit(f, "p", 0);
	fake_kill(f, "p", ARB_SIGTERM);
	fake_exit(f, "t1", 0);
	fake_kill(f, "t2", ARB_SIGTERM);
	fake_exit(f, "t3", 1);
	fake_exit(f, "tmp", 1);
	fake_shutdown(f);
	assert_trace(f, "start root\nstart p\nstart t1\nstart t2\nstart t3\n"
			"start tmp\n"
			"exit p normal\nstart p\nexit p shutdown\nstart p\n"
			"exit t1 normal\nexit t2 shutdown\nexit t3 crash\n"
			"start t3\nexit tmp crash\n"
			"stop t3\nstop p\ndown\n");
	fake_free(f);
}

/* X4: exits that are not restarted cost no intensity, touch nobody. */
static void
test_X4_unrestarted_exits_not_counted(void **state)
{
	struct arb_spec *s = arb_spec_new();
	struct fake *f;

	fake_root(s, ARB_ONE_FOR_ALL, 0, 5000);
	fake_svc(s, ARB_ROOT, "t", ARB_TRANSIENT);
	fake_svc(s, ARB_ROOT, "tmp", ARB_TEMPORARY);
	fake_svc(s, ARB_ROOT, "p", ARB_PERMANENT);
	f = fake_new(s);
	fake_boot(f);
	fake_clear(f);
	fake_exit(f, "t", 0);
	fake_exit(f, "tmp", 1);
	assert_trace(f, "exit t normal\nexit tmp crash\n");
	assert_int_equal(f->exit_code, -1);
	assert_int_equal(arb_tree_state(f->tree, fake_node(f, "p")),
			 ARB_CHILD_UP);
	fake_free(f);
}

/* Issue 15: an OOM kill is abnormal: a transient service is restarted. */
static void
test_oom_restarts_transient(void **state)
{
	struct arb_spec *s = arb_spec_new();
	struct fake *f;
	uint32_t t;

	fake_root(s, ARB_ONE_FOR_ONE, 3, 5000);
	t = fake_svc(s, ARB_ROOT, "t", ARB_TRANSIENT);
	f = fake_new(s);
	fake_boot(f);
	fake_clear(f);
	fake_push(f, (struct arb_event){.kind = ARB_EV_EXITED, .node = t,
					.pid = f->procs[t].pid, .code = -1,
					.signo = ARB_SIGKILL, .oom = true});
	f->procs[t].zombie = f->procs[t].pid;
	f->procs[t].pid = 0;
	fake_run(f);
	assert_trace(f, "exit t oom\nstart t\n");
	fake_free(f);
}

/* M2: how a death arbord did not ask for is classified. */
static void
test_M2_exit_reasons(void **state)
{
	struct arb_spec *s = arb_spec_new();
	uint32_t a = fake_svc(s, ARB_ROOT, "a", ARB_TRANSIENT);
	const struct arb_spec_node *n;

	arb_spec_set_normal_exit(&s->nodes[a], 3);
	n = &s->nodes[a];
	assert_int_equal(arb_exit_reason(n, 0, 0, false), ARB_REASON_NORMAL);
	assert_int_equal(arb_exit_reason(n, 3, 0, false), ARB_REASON_NORMAL);
	assert_int_equal(arb_exit_reason(n, 1, 0, false), ARB_REASON_CRASH);
	assert_int_equal(arb_exit_reason(n, -1, ARB_SIGTERM, false),
			 ARB_REASON_SHUTDOWN);
	assert_int_equal(arb_exit_reason(n, -1, ARB_SIGKILL, false),
			 ARB_REASON_CRASH);
	assert_int_equal(arb_exit_reason(n, -1, 1 /* HUP */, false),
			 ARB_REASON_CRASH);
	/* oom names a SIGKILL only: the OOM killer sends nothing else. */
	assert_int_equal(arb_exit_reason(n, -1, ARB_SIGKILL, true),
			 ARB_REASON_OOM);
	assert_int_equal(arb_exit_reason(n, 0, 0, true), ARB_REASON_NORMAL);
	assert_int_equal(arb_exit_reason(n, 1, 0, true), ARB_REASON_CRASH);
	assert_true(arb_reason_abnormal(ARB_REASON_OOM));
	assert_true(arb_reason_abnormal(ARB_REASON_CRASH));
	assert_false(arb_reason_abnormal(ARB_REASON_NORMAL));
	assert_false(arb_reason_abnormal(ARB_REASON_SHUTDOWN));
	arb_spec_free(s);
}

/* I2: oracle 04_intensity_giveup_root; E4/M10: the root's giveup exits 1. */
static void
test_I2_giveup_root(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ONE, 2, 5000, "a b c");

	fake_boot(f);
	fake_exit(f, "b", 1);
	fake_exit(f, "b", 1);
	fake_exit(f, "b", 1);
	assert_trace(f, "start root\nstart a\nstart b\nstart c\n"
			"exit b crash\nstart b\nexit b crash\nstart b\n"
			"exit b crash\ngiveup root\nstop c\nstop a\ndown\n");
	assert_int_equal(f->exit_code, 1);
	fake_free(f);
}

/* I2: intensity 0 gives up at the first restart. */
static void
test_I2_intensity_zero(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ONE, 0, 5000, "a b");

	fake_boot(f);
	fake_clear(f);
	fake_exit(f, "a", 1);
	assert_trace(f, "exit a crash\ngiveup root\nstop b\ndown\n");
	fake_free(f);
}

/* M8: the window is in milliseconds and inclusive: t >= now - period. */
static void
test_M8_window_milliseconds(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ONE, 1, 1000, "a");

	fake_boot(f);
	fake_exit(f, "a", 1);  /* t=0 */
	fake_advance(f, 1001);
	fake_exit(f, "a", 1);  /* t=1001: 0 < 1, expired */
	assert_int_equal(f->exit_code, -1);
	fake_advance(f, 1000);
	fake_exit(f, "a", 1);  /* t=2001: 1001 >= 1001, counts: 2 > 1 */
	assert_int_equal(f->exit_code, 1);
	fake_free(f);
}

/* I4: one window per supervisor, shared by all children. */
static void
test_I4_shared_window(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ONE, 1, 5000, "a b");

	fake_boot(f);
	fake_exit(f, "a", 1);
	fake_advance(f, 100);
	fake_exit(f, "b", 1);
	assert_int_equal(f->exit_code, 1);
	fake_free(f);
}

static struct fake *
two_levels(void)
{
	struct arb_spec *s = arb_spec_new();
	uint32_t sub;

	fake_root(s, ARB_ONE_FOR_ONE, 1, 5000);
	fake_svc(s, ARB_ROOT, "a", ARB_PERMANENT);
	sub = fake_sup(s, ARB_ROOT, "s", ARB_ONE_FOR_ONE, 1, 5000);
	fake_svc(s, sub, "x", ARB_PERMANENT);
	fake_svc(s, sub, "y", ARB_PERMANENT);
	fake_svc(s, ARB_ROOT, "b", ARB_PERMANENT);
	return fake_new(s);
}

/* E1, E2, I7, I9: oracle 06_escalation_two_levels. */
static void
test_E2_I9_escalation_two_levels(void **state)
{
	struct fake *f = two_levels();

	fake_boot(f);
	for (int i = 0; i < 4; i++)
		fake_exit(f, "s/x", 1);
	assert_trace(f, "start root\nstart a\nstart s\nstart s/x\nstart s/y\n"
			"start b\n"
			"exit s/x crash\nstart s/x\nexit s/x crash\n"
			"giveup s\nstop s/y\n"
			"start s\nstart s/x\nstart s/y\n"
			"exit s/x crash\nstart s/x\nexit s/x crash\n"
			"giveup s\nstop s/y\n"
			"giveup root\nstop b\nstop a\ndown\n");
	assert_int_equal(f->exit_code, 1);
	fake_free(f);
}

/* E2: a transient sub-supervisor that gives up stays stopped, uncounted. */
static void
test_E2_transient_subsup_not_restarted(void **state)
{
	struct arb_spec *s = arb_spec_new();
	struct fake *f;
	uint32_t sub;

	fake_root(s, ARB_ONE_FOR_ONE, 0, 5000);
	sub = fake_sup(s, ARB_ROOT, "s", ARB_ONE_FOR_ONE, 0, 5000);
	s->nodes[sub].restart = ARB_TRANSIENT;
	fake_svc(s, sub, "x", ARB_PERMANENT);
	fake_svc(s, ARB_ROOT, "b", ARB_PERMANENT);
	f = fake_new(s);
	fake_boot(f);
	fake_clear(f);
	fake_exit(f, "s/x", 1);
	assert_trace(f, "exit s/x crash\ngiveup s\n");
	assert_int_equal(arb_tree_state(f->tree, sub), ARB_CHILD_DOWN);
	assert_true(arb_tree_present(f->tree, sub));
	assert_int_equal(f->exit_code, -1); /* root intensity 0 untouched */
	fake_free(f);
}

/* E2: a temporary sub-supervisor that gives up is dropped. */
static void
test_E2_temporary_subsup_dropped(void **state)
{
	struct arb_spec *s = arb_spec_new();
	struct fake *f;
	uint32_t sub;

	fake_root(s, ARB_ONE_FOR_ALL, 0, 5000);
	sub = fake_sup(s, ARB_ROOT, "s", ARB_ONE_FOR_ONE, 0, 5000);
	s->nodes[sub].restart = ARB_TEMPORARY;
	fake_svc(s, sub, "x", ARB_PERMANENT);
	fake_svc(s, sub, "y", ARB_PERMANENT);
	fake_svc(s, ARB_ROOT, "b", ARB_PERMANENT);
	f = fake_new(s);
	fake_boot(f);
	fake_clear(f);
	fake_exit(f, "s/y", 1);
	fake_shutdown(f);
	assert_trace(f, "exit s/y crash\ngiveup s\nstop s/x\nstop b\ndown\n");
	assert_false(arb_tree_present(f->tree, sub));
	fake_free(f);
}

/* ST6: two deaths at once under one_for_all are one group restart. */
static void
test_ST6_absorbed_death_one_for_all(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ALL, 1, 5000, "a b c");

	fake_boot(f);
	fake_clear(f);
	fake_die(f, fake_node(f, "a"), 1, 0);
	fake_die(f, fake_node(f, "b"), 1, 0);
	fake_run(f);
	assert_trace(f, "exit a crash\nexit b crash\nstop c\n"
			"start a\nstart b\nstart c\n");
	assert_int_equal(f->exit_code, -1);
	fake_free(f);
}

/* ST6: the same two deaths under one_for_one are two restarts. */
static void
test_ST6_two_deaths_one_for_one(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ONE, 1, 5000, "a b c");

	fake_boot(f);
	fake_die(f, fake_node(f, "a"), 1, 0);
	fake_die(f, fake_node(f, "b"), 1, 0);
	fake_run(f);
	assert_int_equal(f->exit_code, 1);
	fake_free(f);
}

/*
 * ST6, T3: a sibling that died in the same instant, but whose death is not
 * reaped yet, is terminated like a live one; its death ends the termination
 * and is not a second exit.
 */
static void
test_ST6_unreaped_death_ends_termination(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ALL, 1, 5000, "a b");

	fake_boot(f);
	fake_clear(f);
	fake_die(f, fake_node(f, "a"), 1, 0);
	fake_die(f, fake_node(f, "b"), 0, 0);
	fake_run(f);
	assert_trace(f, "exit a crash\nstop b\nstart a\nstart b\n");
	assert_int_equal(f->exit_code, -1);
	fake_free(f);
}

/* M3: a child that ignores its stop signal is killed after stop_timeout. */
static void
test_M3_stop_timeout_then_kill(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ONE, 3, 5000, "a b");
	uint32_t b = fake_node(f, "b");

	fake_boot(f);
	f->procs[b].ignore_term = true;
	fake_clear(f);
	fake_shutdown(f);
	assert_trace(f, ""); /* T1: a waits until b is really dead */
	assert_int_equal(arb_tree_state(f->tree, b), ARB_CHILD_STOPPING);
	fake_advance(f, 4999);
	assert_int_equal(arb_tree_state(f->tree, b), ARB_CHILD_STOPPING);
	fake_advance(f, 1);
	assert_trace(f, "stop b\nstop a\ndown\n");
	fake_free(f);
}

/* M3: stop_timeout 0 is brutal_kill; infinity never kills. */
static void
test_M3_stop_timeout_zero_and_infinity(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ONE, 3, 5000, "a b");
	uint32_t a = fake_node(f, "a"), b = fake_node(f, "b");

	f->spec->nodes[a].stop_timeout_ms = ARB_INFINITY_MS;
	f->spec->nodes[b].stop_timeout_ms = 0;
	fake_boot(f);
	f->procs[a].ignore_term = true;
	f->procs[b].ignore_term = true;
	fake_shutdown(f);
	assert_int_equal(arb_tree_state(f->tree, b), ARB_CHILD_DOWN);
	assert_false(f->procs[b].timer_armed);
	assert_int_equal(arb_tree_state(f->tree, a), ARB_CHILD_STOPPING);
	assert_false(f->procs[a].timer_armed);
	fake_advance(f, 3600 * 1000);
	assert_int_equal(arb_tree_state(f->tree, a), ARB_CHILD_STOPPING);
	fake_kill(f, "a", ARB_SIGKILL);
	assert_int_equal(f->exit_code, 0);
	fake_free(f);
}

/*
 * The services the last step sent their stop signal (ACT_TERMINATE), in
 * the order the core emitted them.
 */
static const char *
terminated_in_last_step(struct fake *f)
{
	static char buf[256];
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < f->out.n; i++) {
		const struct arb_action *a = &f->out.v[i];

		if (a->kind == ARB_ACT_TERMINATE)
			len += (size_t)snprintf(buf + len, sizeof(buf) - len,
						"%s%s", len ? " " : "",
						fake_path(f, a->node));
	}
	return buf;
}

static void
ignore_term(struct fake *f, const char *names)
{
	char buf[64], *save = NULL;

	strcpy(buf, names);
	for (char *n = strtok_r(buf, " ", &save); n;
	     n = strtok_r(NULL, " ", &save))
		f->procs[fake_node(f, n)].ignore_term = true;
}

/* T1 (shutdown = "ordered", the default): one stop signal at a time, the
 * next only once the one before is dead. */
static void
test_T1_ordered_shutdown_one_at_a_time(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ONE, 3, 5000, "a b c");

	fake_boot(f);
	ignore_term(f, "a b c");
	fake_clear(f);
	f->signals_sent = 0;
	fake_shutdown(f);
	assert_string_equal(terminated_in_last_step(f), "c");
	assert_int_equal(f->signals_sent, 1);
	assert_int_equal(arb_tree_state(f->tree, fake_node(f, "b")),
			 ARB_CHILD_UP);
	fake_kill(f, "c", ARB_SIGTERM);
	assert_string_equal(terminated_in_last_step(f), "b");
	fake_kill(f, "b", ARB_SIGTERM);
	assert_string_equal(terminated_in_last_step(f), "a");
	fake_kill(f, "a", ARB_SIGTERM);
	assert_trace(f, "stop c\nstop b\nstop a\ndown\n");
	fake_free(f);
}

/* shutdown = "parallel": every running child gets its stop signal in the
 * one step, in reverse start order; the supervisor is down once the last
 * is dead, in whatever order they die. A stopped child is skipped. */
static void
test_shutdown_parallel_all_at_once(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ONE, 3, 5000, "a b c d");

	f->spec->nodes[ARB_ROOT].shutdown = ARB_SHUTDOWN_PARALLEL;
	fake_boot(f);
	fake_request(f, "b", ARB_REQ_STOP);
	ignore_term(f, "a c d");
	fake_clear(f);
	f->signals_sent = 0;
	fake_shutdown(f);
	assert_string_equal(terminated_in_last_step(f), "d c a");
	assert_int_equal(f->signals_sent, 3);
	assert_trace(f, "");
	fake_kill(f, "c", ARB_SIGTERM);
	assert_string_equal(terminated_in_last_step(f), "");
	fake_kill(f, "a", ARB_SIGTERM);
	assert_trace(f, "stop c\nstop a\n");
	assert_int_equal(f->exit_code, -1);
	fake_kill(f, "d", ARB_SIGTERM);
	assert_trace(f, "stop c\nstop a\nstop d\ndown\n");
	assert_int_equal(f->exit_code, 0);
	fake_free(f);
}

/* shutdown = "parallel": stop_timeout runs for each child at once, and a
 * sub-supervisor stops its own children by its own key (ordered here) at
 * the same time as its siblings. */
static void
test_shutdown_parallel_timeouts_and_subsupervisor(void **state)
{
	struct arb_spec *s = arb_spec_new();
	struct fake *f;
	uint32_t sub;

	fake_svc(s, ARB_ROOT, "a", ARB_PERMANENT);
	sub = fake_sup(s, ARB_ROOT, "s", ARB_ONE_FOR_ONE, 1, 5000);
	fake_svc(s, sub, "x", ARB_PERMANENT);
	fake_svc(s, sub, "y", ARB_PERMANENT);
	fake_svc(s, ARB_ROOT, "b", ARB_PERMANENT);
	s->nodes[ARB_ROOT].shutdown = ARB_SHUTDOWN_PARALLEL;
	f = fake_new(s);
	fake_boot(f);
	ignore_term(f, "a s/x s/y b");
	fake_clear(f);
	fake_shutdown(f);
	assert_string_equal(terminated_in_last_step(f), "b a s/y");
	/* The three deadlines are one: the fake fires them in node order. */
	fake_advance(f, 5000);
	assert_trace(f, "stop a\nstop s/y\nstop b\n");
	assert_int_equal(arb_tree_state(f->tree, fake_node(f, "s/x")),
			 ARB_CHILD_STOPPING);
	fake_advance(f, 5000);
	assert_trace(f, "stop a\nstop s/y\nstop b\nstop s/x\nstop s\ndown\n");
	fake_free(f);
}

/* The key is about shutdown: a one_for_all restart still terminates its
 * group one at a time in reverse (T1), as OTP does. */
static void
test_shutdown_parallel_not_for_group_restart(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ALL, 3, 5000, "a b c");

	f->spec->nodes[ARB_ROOT].shutdown = ARB_SHUTDOWN_PARALLEL;
	fake_boot(f);
	ignore_term(f, "b c");
	fake_clear(f);
	fake_kill(f, "a", 9);
	assert_string_equal(terminated_in_last_step(f), "c");
	fake_kill(f, "c", ARB_SIGTERM);
	assert_string_equal(terminated_in_last_step(f), "b");
	fake_kill(f, "b", ARB_SIGTERM);
	assert_trace(f, "exit a crash\nstop c\nstop b\n"
			"start a\nstart b\nstart c\n");
	fake_free(f);
}

/* S3: a start failure during init stops the started ones; no retry. */
static void
test_S3_init_failure(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ONE, 5, 5000, "a b c");

	f->procs[fake_node(f, "b")].fail_spawns = 1;
	fake_boot(f);
	assert_trace(f, "start root\nstart a\nstart_failed b\nstop a\n"
			"start_failed root\ndown\n");
	assert_int_equal(f->procs[fake_node(f, "c")].spawns, 0);
	assert_int_equal(f->exit_code, 1);
	fake_free(f);
}

/* S4: a sub-supervisor failing during its parent's init aborts the tree. */
static void
test_S4_nested_init_failure(void **state)
{
	struct fake *f = two_levels();

	f->procs[fake_node(f, "s/y")].fail_spawns = 1;
	fake_boot(f);
	assert_trace(f, "start root\nstart a\nstart s\nstart s/x\n"
			"start_failed s/y\nstop s/x\nstart_failed s\nstop a\n"
			"start_failed root\ndown\n");
	assert_int_equal(f->exit_code, 1);
	fake_free(f);
}

/* R1, R2: every retry counts; intensity 4 allows exactly 4 attempts. */
static void
test_R2_retries_eat_intensity(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ONE, 4, 5000, "a");
	uint32_t a = fake_node(f, "a");

	fake_boot(f);
	f->procs[a].fail_spawns = 100;
	fake_exit(f, "a", 1);
	assert_int_equal(f->procs[a].spawns, 1 + 4);
	assert_int_equal(f->exit_code, 1);
	fake_free(f);
}

/* R1: a failed restart that later succeeds. */
static void
test_R1_retry_succeeds(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ONE, 5, 5000, "a");
	uint32_t a = fake_node(f, "a");

	fake_boot(f);
	f->procs[a].fail_spawns = 2;
	fake_clear(f);
	fake_exit(f, "a", 1);
	assert_trace(f, "exit a crash\nstart_failed a\nstart_failed a\n"
			"start a\n");
	assert_int_equal(arb_tree_state(f->tree, a), ARB_CHILD_UP);
	fake_free(f);
}

/* R5: one_for_all retry terminates everything again, then starts all. */
static void
test_R5_one_for_all_retry(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ALL, 5, 5000, "a b c");

	fake_boot(f);
	f->procs[fake_node(f, "b")].fail_spawns = 1;
	fake_clear(f);
	fake_exit(f, "a", 1);
	assert_trace(f, "exit a crash\nstop c\nstop b\nstart a\n"
			"start_failed b\n"
			"stop a\nstart a\nstart b\nstart c\n");
	fake_free(f);
}

/* R5: rest_for_one retry restarts from the failed child on. */
static void
test_R5_rest_for_one_retry(void **state)
{
	struct fake *f = flat(ARB_REST_FOR_ONE, 5, 5000, "a b c d");

	fake_boot(f);
	f->procs[fake_node(f, "c")].fail_spawns = 1;
	fake_clear(f);
	fake_exit(f, "b", 1);
	assert_trace(f, "exit b crash\nstop d\nstop c\nstart b\n"
			"start_failed c\nstart c\nstart d\n");
	fake_free(f);
}

static struct fake *
significant_tree(enum arb_auto_shutdown mode, enum arb_strategy strategy)
{
	struct arb_spec *s = arb_spec_new();
	uint32_t t1, t2;

	fake_root(s, strategy, 5, 5000);
	s->nodes[ARB_ROOT].auto_shutdown = mode;
	fake_svc(s, ARB_ROOT, "p", ARB_PERMANENT);
	t1 = fake_svc(s, ARB_ROOT, "t1", ARB_TRANSIENT);
	t2 = fake_svc(s, ARB_ROOT, "t2", ARB_TEMPORARY);
	s->nodes[t1].significant = true;
	s->nodes[t2].significant = true;
	return fake_new(s);
}

/* A3: any_significant ends the supervisor at the first one. */
static void
test_A3_any_significant(void **state)
{
	struct fake *f = significant_tree(ARB_AUTO_ANY_SIGNIFICANT,
					  ARB_ONE_FOR_ONE);

	fake_boot(f);
	fake_clear(f);
	fake_exit(f, "t1", 0);
	assert_trace(f, "exit t1 normal\nstop t2\nstop p\ndown\n");
	assert_int_equal(f->exit_code, 0); /* M10: auto shutdown exits 0 */
	fake_free(f);
}

/* A3: all_significant waits for the last; A2: a crash is only restarted. */
static void
test_A3_all_significant_A2_crash_restarts(void **state)
{
	struct fake *f = significant_tree(ARB_AUTO_ALL_SIGNIFICANT,
					  ARB_ONE_FOR_ONE);

	fake_boot(f);
	fake_clear(f);
	fake_exit(f, "t1", 1);
	fake_exit(f, "t1", 0);
	assert_int_equal(f->exit_code, -1);
	fake_exit(f, "t2", 1);
	assert_trace(f, "exit t1 crash\nstart t1\nexit t1 normal\n"
			"exit t2 crash\nstop p\ndown\n");
	assert_int_equal(f->exit_code, 0);
	fake_free(f);
}

/* A4: a significant child terminated in a group restart is a bystander. */
static void
test_A4_bystander(void **state)
{
	struct fake *f = significant_tree(ARB_AUTO_ANY_SIGNIFICANT,
					  ARB_ONE_FOR_ALL);

	fake_boot(f);
	fake_clear(f);
	fake_exit(f, "p", 1);
	assert_trace(f, "exit p crash\nstop t2\nstop t1\nstart p\nstart t1\n");
	assert_int_equal(f->exit_code, -1);
	fake_free(f);
}

/* A5, E2: auto shutdown of a significant sub-supervisor propagates up. */
static void
test_A5_propagates_up(void **state)
{
	struct arb_spec *s = arb_spec_new();
	struct fake *f;
	uint32_t sub, w;

	s->nodes[ARB_ROOT].auto_shutdown = ARB_AUTO_ANY_SIGNIFICANT;
	fake_svc(s, ARB_ROOT, "a", ARB_PERMANENT);
	sub = fake_sup(s, ARB_ROOT, "s", ARB_ONE_FOR_ONE, 1, 5000);
	s->nodes[sub].restart = ARB_TRANSIENT;
	s->nodes[sub].significant = true;
	s->nodes[sub].auto_shutdown = ARB_AUTO_ANY_SIGNIFICANT;
	w = fake_svc(s, sub, "w", ARB_TRANSIENT);
	s->nodes[w].significant = true;
	fake_svc(s, sub, "x", ARB_PERMANENT);
	f = fake_new(s);
	fake_boot(f);
	fake_clear(f);
	fake_exit(f, "s/w", 0);
	assert_trace(f, "exit s/w normal\nstop s/x\nstop a\ndown\n");
	assert_int_equal(f->exit_code, 0);
	fake_free(f);
}

/* significant_tree with arbord's exit_status policy set. */
static struct fake *
exit_policy_tree(enum arb_auto_shutdown mode, enum arb_exit_status policy,
		 bool sigterm_ok)
{
	struct fake *f = significant_tree(mode, ARB_ONE_FOR_ONE);

	f->spec->exit_status = policy;
	f->spec->exit_sigterm_ok = sigterm_ok;
	fake_boot(f);
	return f;
}

/*
 * M10, exit_status: "significant" ends arbord as the service whose exit
 * began the automatic shutdown ended, as a shell reports it (its code, or
 * 128 + its signal); "root", the default, with 0 whatever it said.
 */
static void
test_M10_exit_status_of_the_significant_service(void **state)
{
	struct fake *f;

	f = exit_policy_tree(ARB_AUTO_ANY_SIGNIFICANT,
			     ARB_EXIT_STATUS_SIGNIFICANT, false);
	fake_exit(f, "t2", 3);
	assert_int_equal(f->exit_code, 3);
	fake_free(f);
	f = exit_policy_tree(ARB_AUTO_ANY_SIGNIFICANT,
			     ARB_EXIT_STATUS_SIGNIFICANT, false);
	fake_exit(f, "t1", 0);
	assert_int_equal(f->exit_code, 0);
	fake_free(f);
	f = exit_policy_tree(ARB_AUTO_ANY_SIGNIFICANT,
			     ARB_EXIT_STATUS_SIGNIFICANT, false);
	fake_kill(f, "t2", 9);
	assert_int_equal(f->exit_code, 137);
	fake_free(f);
	f = exit_policy_tree(ARB_AUTO_ANY_SIGNIFICANT, ARB_EXIT_STATUS_ROOT,
			     false);
	fake_exit(f, "t2", 3);
	assert_int_equal(f->exit_code, 0);
	fake_free(f);
}

/*
 * A status nobody could know (code -1: a MAINPID its own parent reaped)
 * ends arbord with 1, as a crash, never with a negative status that
 * arbord's main would take for an error of its own, nor a state its
 * re-exec would refuse.
 */
static void
test_M10_exit_status_unknown_is_1(void **state)
{
	struct fake *f = exit_policy_tree(ARB_AUTO_ANY_SIGNIFICANT,
					  ARB_EXIT_STATUS_SIGNIFICANT, false);

	fake_exit(f, "t2", -1);
	assert_int_equal(f->exit_code, 1);
	fake_free(f);
}

/* all_significant: the last significant child's exit is the one. */
static void
test_M10_exit_status_all_significant_the_last(void **state)
{
	struct fake *f = exit_policy_tree(ARB_AUTO_ALL_SIGNIFICANT,
					  ARB_EXIT_STATUS_SIGNIFICANT, false);

	fake_exit(f, "t2", 4);
	assert_int_equal(f->exit_code, -1);
	fake_exit(f, "t1", 0);
	assert_trace(f, "start root\nstart p\nstart t1\nstart t2\n"
			"exit t2 crash\nexit t1 normal\nstop p\ndown\n");
	assert_int_equal(f->exit_code, 0);
	fake_free(f);
}

/*
 * exit_sigterm_ok: 143, SIGTERM's (a service killed by it, or a shell
 * that reports its command was), becomes 0; nothing else changes.
 */
static void
test_M10_exit_sigterm_ok(void **state)
{
	struct fake *f;

	f = exit_policy_tree(ARB_AUTO_ANY_SIGNIFICANT,
			     ARB_EXIT_STATUS_SIGNIFICANT, false);
	fake_kill(f, "t2", 15);
	assert_int_equal(f->exit_code, 143);
	fake_free(f);
	f = exit_policy_tree(ARB_AUTO_ANY_SIGNIFICANT,
			     ARB_EXIT_STATUS_SIGNIFICANT, true);
	fake_kill(f, "t2", 15);
	assert_int_equal(f->exit_code, 0);
	fake_free(f);
	f = exit_policy_tree(ARB_AUTO_ANY_SIGNIFICANT,
			     ARB_EXIT_STATUS_SIGNIFICANT, true);
	fake_exit(f, "t2", 143);
	assert_int_equal(f->exit_code, 0);
	fake_free(f);
	f = exit_policy_tree(ARB_AUTO_ANY_SIGNIFICANT,
			     ARB_EXIT_STATUS_SIGNIFICANT, true);
	fake_kill(f, "t2", 2);
	assert_int_equal(f->exit_code, 130);
	fake_free(f);
}

/*
 * exit_status = "significant" changes only what an automatic shutdown
 * exits with: a shutdown asked for is 0, though its services die of
 * SIGTERM (T4); a give-up and a failed start are 1.
 */
static void
test_M10_exit_status_only_after_auto_shutdown(void **state)
{
	struct fake *f;

	f = exit_policy_tree(ARB_AUTO_ANY_SIGNIFICANT,
			     ARB_EXIT_STATUS_SIGNIFICANT, false);
	fake_shutdown(f);
	assert_int_equal(f->exit_code, 0);
	fake_free(f);
	f = flat(ARB_ONE_FOR_ONE, 0, 5000, "a b");
	f->spec->exit_status = ARB_EXIT_STATUS_SIGNIFICANT;
	fake_boot(f);
	fake_exit(f, "b", 3);
	assert_int_equal(f->exit_code, 1);
	fake_free(f);
	f = flat(ARB_ONE_FOR_ONE, 3, 5000, "a b");
	f->spec->exit_status = ARB_EXIT_STATUS_SIGNIFICANT;
	f->procs[fake_node(f, "b")].fail_spawns = 1;
	fake_boot(f);
	assert_int_equal(f->exit_code, 1);
	fake_free(f);
}

/* A significant sub-supervisor whose shutdown cascades to the root. */
static struct fake *
cascade_tree(enum arb_exit_status policy)
{
	struct arb_spec *s = arb_spec_new();
	uint32_t sub, w;

	s->exit_status = policy;
	s->nodes[ARB_ROOT].auto_shutdown = ARB_AUTO_ANY_SIGNIFICANT;
	fake_svc(s, ARB_ROOT, "a", ARB_PERMANENT);
	sub = fake_sup(s, ARB_ROOT, "s", ARB_ONE_FOR_ONE, 0, 5000);
	s->nodes[sub].restart = ARB_TRANSIENT;
	s->nodes[sub].significant = true;
	s->nodes[sub].auto_shutdown = ARB_AUTO_ANY_SIGNIFICANT;
	w = fake_svc(s, sub, "w", ARB_TEMPORARY);
	s->nodes[w].significant = true;
	fake_svc(s, sub, "x", ARB_PERMANENT);
	return fake_new(s);
}

/*
 * A5 with exit_status = "significant": the root's status is that of the
 * service whose exit began the cascade, two levels down; a significant
 * supervisor that gave up (and so ended with reason shutdown, E1) began
 * it with 1. "root" keeps 0 for both.
 */
static void
test_M10_exit_status_through_a_cascade(void **state)
{
	struct fake *f = cascade_tree(ARB_EXIT_STATUS_SIGNIFICANT);

	fake_boot(f);
	fake_clear(f);
	fake_exit(f, "s/w", 4);
	assert_trace(f, "exit s/w crash\nstop s/x\nstop a\ndown\n");
	assert_int_equal(f->exit_code, 4);
	fake_free(f);
	f = cascade_tree(ARB_EXIT_STATUS_SIGNIFICANT);
	fake_boot(f);
	fake_clear(f);
	fake_exit(f, "s/x", 2); /* s's intensity is 0: it gives up */
	assert_trace(f, "exit s/x crash\ngiveup s\nstop s/w\nstop a\n"
			"down\n");
	assert_int_equal(f->exit_code, 1);
	fake_free(f);
	f = cascade_tree(ARB_EXIT_STATUS_ROOT);
	fake_boot(f);
	fake_exit(f, "s/w", 4);
	assert_int_equal(f->exit_code, 0);
	fake_free(f);
}

/* X1: a death report for a pid that is not current is ignored. */
static void
test_X1_stale_pid(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ONE, 3, 5000, "a");
	struct arb_event ev = {.kind = ARB_EV_EXITED, .node = 1, .pid = 4242,
			       .code = 1};

	fake_boot(f);
	fake_clear(f);
	fake_push(f, ev);
	fake_run(f);
	assert_trace(f, "");
	fake_free(f);
}

/* M5: a death during a group restart waits for the restart to finish. */
static void
test_M5_exit_queued_during_job(void **state)
{
	struct fake *f = flat(ARB_REST_FOR_ONE, 5, 5000, "a b c");
	uint32_t c = fake_node(f, "c");

	fake_boot(f);
	f->procs[c].ignore_term = true;
	fake_clear(f);
	fake_exit(f, "b", 1);     /* terminating c, which ignores SIGTERM */
	fake_exit(f, "a", 1);     /* queued: b's restart is not done */
	assert_trace(f, "exit b crash\nexit a crash\n");
	f->procs[c].ignore_term = false;
	fake_advance(f, 5000);    /* c killed; b, c start; then a's crash */
	assert_trace(f, "exit b crash\nexit a crash\nstop c\n"
			"start b\nstart c\n"
			"stop c\nstop b\nstart a\nstart b\nstart c\n");
	fake_free(f);
}

/* M5, M10: SIGTERM during a group restart waits for it, then stops all. */
static void
test_M5_shutdown_queued_during_job(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ALL, 5, 5000, "a b");
	uint32_t b = fake_node(f, "b");

	fake_boot(f);
	f->procs[b].ignore_term = true;
	fake_clear(f);
	fake_exit(f, "a", 1);
	fake_shutdown(f);
	fake_advance(f, 5000);
	assert_trace(f, "exit a crash\nstop b\nstart a\nstart b\n");
	fake_advance(f, 5000); /* b ignores SIGTERM again */
	assert_trace(f, "exit a crash\nstop b\nstart a\nstart b\n"
			"stop b\nstop a\ndown\n");
	fake_free(f);
}

/* T3, ST6: a child that dies during the root's shutdown is absorbed. */
static void
test_T3_death_during_shutdown(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ONE, 5, 5000, "a b");
	uint32_t b = fake_node(f, "b");

	fake_boot(f);
	f->procs[b].ignore_term = true;
	fake_clear(f);
	fake_shutdown(f);
	fake_exit(f, "a", 1); /* not restarted: it is absorbed */
	fake_advance(f, 5000);
	assert_trace(f, "exit a crash\nstop b\ndown\n");
	fake_free(f);
}

/* D2: stop keeps a child stopped; nothing counted, no strategy, siblings
 * untouched even under one_for_all; a second stop is fine. */
static void
test_D2_stop_child(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ALL, 0, 5000, "a b c");

	fake_boot(f);
	fake_clear(f);
	fake_request(f, "b", ARB_REQ_STOP);
	fake_request(f, "b", ARB_REQ_STOP);
	assert_trace(f, "stop b\nreply b ok\nreply b ok\n");
	assert_int_equal(arb_tree_state(f->tree, fake_node(f, "b")),
			 ARB_CHILD_DOWN);
	assert_int_equal(f->exit_code, -1); /* intensity 0 untouched */
	fake_free(f);
}

/* D3: start of a stopped child; errors for running and gone children. */
static void
test_D3_start_child(void **state)
{
	struct arb_spec *s = arb_spec_new();
	struct fake *f;

	fake_root(s, ARB_ONE_FOR_ONE, 0, 5000);
	fake_svc(s, ARB_ROOT, "a", ARB_PERMANENT);
	fake_svc(s, ARB_ROOT, "tmp", ARB_TEMPORARY);
	f = fake_new(s);
	fake_boot(f);
	fake_clear(f);
	fake_request(f, "a", ARB_REQ_START);
	fake_request(f, "a", ARB_REQ_STOP);
	fake_request(f, "a", ARB_REQ_START);
	fake_request(f, "tmp", ARB_REQ_STOP); /* C2: its spec is deleted */
	fake_request(f, "tmp", ARB_REQ_START);
	assert_trace(f, "reply a already_running\nstop a\nreply a ok\n"
			"start a\nreply a ok\n"
			"stop tmp\nreply tmp ok\nreply tmp not_found\n");
	assert_int_equal(f->exit_code, -1);
	fake_free(f);
}

/* A restart request stops and starts one child, or a whole subtree as a
 * fresh instance (I7), and counts nothing. */
static void
test_request_restart_subtree(void **state)
{
	struct fake *f = two_levels();

	fake_boot(f);
	fake_exit(f, "s/x", 1); /* s's history: one restart */
	fake_clear(f);
	fake_request(f, "s", ARB_REQ_RESTART);
	fake_request(f, "b", ARB_REQ_RESTART);
	assert_trace(f, "stop s/y\nstop s/x\nstop s\n"
			"start s\nstart s/x\nstart s/y\nreply s ok\n"
			"stop b\nstart b\nreply b ok\n");
	fake_exit(f, "s/x", 1); /* a fresh s tolerates one restart again */
	assert_int_equal(arb_tree_state(f->tree, fake_node(f, "s")),
			 ARB_CHILD_UP);
	fake_free(f);
}

/* D3: a start that fails is answered, not retried, and counts nothing. */
static void
test_D3_start_failure(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ONE, 0, 5000, "a");
	uint32_t a = fake_node(f, "a");

	fake_boot(f);
	fake_request(f, "a", ARB_REQ_STOP);
	f->procs[a].fail_spawns = 1;
	fake_clear(f);
	fake_request(f, "a", ARB_REQ_START);
	assert_trace(f, "start_failed a\nreply a start_failed\n");
	assert_int_equal(arb_tree_state(f->tree, a), ARB_CHILD_DOWN);
	assert_int_equal(f->exit_code, -1);
	fake_free(f);
}

/* D2: stopping a child whose restart failed cancels its retry. */
static void
test_D2_stop_cancels_retry(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ONE, 100, 5000, "a b");
	uint32_t a = fake_node(f, "a"), b = fake_node(f, "b");

	fake_boot(f);
	f->procs[b].ignore_term = true;
	f->procs[a].fail_spawns = 1;
	fake_request(f, "b", ARB_REQ_STOP); /* busy: b ignores SIGTERM */
	fake_exit(f, "a", 1); /* queued behind the stop */
	fake_clear(f);
	fake_advance(f, 5000); /* b killed; a restarted, fails, retry queued */
	assert_trace(f, "stop b\nreply b ok\nstart_failed a\nstart a\n");
	fake_free(f);
}

/* M5: a request waits for the job in progress; a request under a stopped
 * or stopping supervisor is refused; queued requests are answered when
 * their supervisor goes down before it could carry them out. */
static void
test_M5_requests_queue_and_abort(void **state)
{
	struct fake *f = two_levels();
	uint32_t y = fake_node(f, "s/y");

	f->spec->nodes[fake_node(f, "s")].intensity = 0;
	f->spec->nodes[fake_node(f, "s")].restart = ARB_TRANSIENT;
	fake_boot(f);
	f->procs[y].ignore_term = true;
	fake_clear(f);
	fake_exit(f, "s/x", 1);                /* s gives up; s/y is stubborn */
	fake_request(f, "s/x", ARB_REQ_START); /* queued at the busy s */
	fake_request(f, "a", ARB_REQ_STOP);    /* the root is idle */
	fake_advance(f, 5000);
	assert_trace(f, "exit s/x crash\ngiveup s\nstop a\nreply a ok\n"
			"stop s/y\nreply s/x aborted\n");
	fake_clear(f);
	fake_request(f, "s/x", ARB_REQ_START);
	assert_trace(f, "reply s/x not_running\n");
	fake_request(f, "s", ARB_REQ_START);   /* D3 on the stopped transient */
	assert_trace(f, "reply s/x not_running\nstart s\nstart s/x\n"
			"start s/y\nreply s ok\n");
	fake_free(f);
}

/* STYLE 4: an exit-and-restart cycle allocates nothing once warm. */
static void
test_restart_cycle_does_not_allocate(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ALL, 1000, 5000, "a b c");

	fake_boot(f);
	fake_exit(f, "b", 1); /* warm up queues and action buffers */
	arb_mem_fail_after(1);
	for (int i = 0; i < 50; i++)
		fake_exit(f, "b", 1);
	arb_mem_fail_after(0);
	assert_int_equal(f->exit_code, -1);
	fake_free(f);
}

/* OOM while building a tree returns NULL and leaks nothing (ASan checks). */
static void
test_tree_new_oom(void **state)
{
	struct arb_spec *s = arb_spec_new();
	uint32_t sub = fake_sup(s, ARB_ROOT, "s", ARB_ONE_FOR_ONE, 3, 5000);
	struct arb_tree *t = NULL;
	unsigned n;

	fake_svc(s, sub, "x", ARB_PERMANENT);
	for (n = 1; n < 20; n++) {
		arb_mem_fail_after(n);
		t = arb_tree_new(s);
		arb_mem_fail_after(0);
		if (t)
			break;
	}
	assert_non_null(t);
	assert_true(n > 1);
	arb_tree_free(t);
	arb_spec_free(s);
}

/* Cost grows with the work: 1000 children start and stop in order. */
static void
test_thousand_children(void **state)
{
	struct arb_spec *s = arb_spec_new();
	struct fake *f;
	char name[16];

	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		fake_svc(s, ARB_ROOT, name, ARB_PERMANENT);
	}
	f = calloc(1, sizeof(*f));
	f->spec = s;
	f->tree = arb_tree_new(s);
	arb_actions_init(&f->out);
	f->exit_code = -1;
	/* Not through fake_run: FAKE_MAX_NODES is small; drive by hand. */
	{
		struct arb_event ev = {.kind = ARB_EV_BOOT};
		int started = 0, pid = 1;

		assert_int_equal(arb_tree_step(f->tree, &ev, &f->out), 0);
		while (f->out.n > 0) {
			struct arb_action a = {.kind = _ARB_ACT_MAX};

			for (size_t i = 0; i < f->out.n; i++)
				if (f->out.v[i].kind == ARB_ACT_SPAWN)
					a = f->out.v[i];
			if (a.kind != ARB_ACT_SPAWN)
				break;
			ev = (struct arb_event){.kind = ARB_EV_SPAWNED,
						.node = a.node, .pid = ++pid};
			started++;
			assert_int_equal(arb_tree_step(f->tree, &ev, &f->out), 0);
		}
		assert_int_equal(started, 1000);
		assert_int_equal(arb_tree_state(f->tree, ARB_ROOT), ARB_CHILD_UP);
	}
	arb_actions_done(&f->out);
	arb_tree_free(f->tree);
	arb_spec_free(s);
	free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_S1_T1_start_order_and_reverse_stop),
		cmocka_unit_test(test_ST1_one_for_one),
		cmocka_unit_test(test_ST2_one_for_all),
		cmocka_unit_test(test_ST2_stopped_return_temporary_dropped),
		cmocka_unit_test(test_ST3_rest_for_one),
		cmocka_unit_test(test_X2_restart_types),
		cmocka_unit_test(test_X4_unrestarted_exits_not_counted),
		cmocka_unit_test(test_M2_exit_reasons),
		cmocka_unit_test(test_oom_restarts_transient),
		cmocka_unit_test(test_I2_giveup_root),
		cmocka_unit_test(test_I2_intensity_zero),
		cmocka_unit_test(test_M8_window_milliseconds),
		cmocka_unit_test(test_I4_shared_window),
		cmocka_unit_test(test_E2_I9_escalation_two_levels),
		cmocka_unit_test(test_E2_transient_subsup_not_restarted),
		cmocka_unit_test(test_E2_temporary_subsup_dropped),
		cmocka_unit_test(test_ST6_absorbed_death_one_for_all),
		cmocka_unit_test(test_ST6_two_deaths_one_for_one),
		cmocka_unit_test(test_ST6_unreaped_death_ends_termination),
		cmocka_unit_test(test_M3_stop_timeout_then_kill),
		cmocka_unit_test(test_M3_stop_timeout_zero_and_infinity),
		cmocka_unit_test(test_T1_ordered_shutdown_one_at_a_time),
		cmocka_unit_test(test_shutdown_parallel_all_at_once),
		cmocka_unit_test(test_shutdown_parallel_timeouts_and_subsupervisor),
		cmocka_unit_test(test_shutdown_parallel_not_for_group_restart),
		cmocka_unit_test(test_S3_init_failure),
		cmocka_unit_test(test_S4_nested_init_failure),
		cmocka_unit_test(test_R2_retries_eat_intensity),
		cmocka_unit_test(test_R1_retry_succeeds),
		cmocka_unit_test(test_R5_one_for_all_retry),
		cmocka_unit_test(test_R5_rest_for_one_retry),
		cmocka_unit_test(test_A3_any_significant),
		cmocka_unit_test(test_A3_all_significant_A2_crash_restarts),
		cmocka_unit_test(test_A4_bystander),
		cmocka_unit_test(test_A5_propagates_up),
		cmocka_unit_test(test_M10_exit_status_of_the_significant_service),
		cmocka_unit_test(test_M10_exit_status_unknown_is_1),
		cmocka_unit_test(test_M10_exit_status_all_significant_the_last),
		cmocka_unit_test(test_M10_exit_sigterm_ok),
		cmocka_unit_test(test_M10_exit_status_only_after_auto_shutdown),
		cmocka_unit_test(test_M10_exit_status_through_a_cascade),
		cmocka_unit_test(test_X1_stale_pid),
		cmocka_unit_test(test_M5_exit_queued_during_job),
		cmocka_unit_test(test_M5_shutdown_queued_during_job),
		cmocka_unit_test(test_T3_death_during_shutdown),
		cmocka_unit_test(test_D2_stop_child),
		cmocka_unit_test(test_D3_start_child),
		cmocka_unit_test(test_request_restart_subtree),
		cmocka_unit_test(test_D3_start_failure),
		cmocka_unit_test(test_D2_stop_cancels_retry),
		cmocka_unit_test(test_M5_requests_queue_and_abort),
		cmocka_unit_test(test_restart_cycle_does_not_allocate),
		cmocka_unit_test(test_tree_new_oom),
		cmocka_unit_test(test_thousand_children),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
