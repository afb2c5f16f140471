/*
 * test_shutdown.c - the final shutdown sequence (daemon/shutdown.c) with a
 * fake clock: scenario tables of {at_ms, event} -> the actions expected,
 * written as one string per step ("signal TERM; timer 5100").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/shutdown.h"
#include "core/spec.h"

#define TERM_MS 5000
#define KILL_MS 2000

struct step {
	int64_t at_ms;
	enum arb_sd_event_kind kind;
	enum arb_final final; /* BEGIN */
	int exit_code;        /* BEGIN */
	bool tree_down;       /* BEGIN */
	const char *expect;   /* the actions, "; "-separated; "" for none */
	enum arb_sd_state state; /* after the step */
};

static void
describe(const struct arb_sd_actions *out, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < out->n; i++) {
		const struct arb_sd_action *a = &out->v[i];
		const char *sep = i ? "; " : "";
		int n = 0;

		switch (a->kind) {
		case ARB_SD_STOP_TREE:
			n = snprintf(buf + len, size - len, "%sstop tree", sep);
			break;
		case ARB_SD_SIGNAL_ALL:
			n = snprintf(buf + len, size - len, "%ssignal %s", sep,
				     a->signo == ARB_SIGTERM	? "TERM"
				     : a->signo == ARB_SIGKILL ? "KILL"
								: "?");
			break;
		case ARB_SD_TIMER_SET:
			n = snprintf(buf + len, size - len, "%stimer %lld", sep,
				     (long long)a->at_ms);
			break;
		case ARB_SD_TIMER_CANCEL:
			n = snprintf(buf + len, size - len, "%scancel", sep);
			break;
		case ARB_SD_SYNC:
			n = snprintf(buf + len, size - len, "%ssync", sep);
			break;
		case ARB_SD_UNMOUNT:
			n = snprintf(buf + len, size - len, "%sunmount", sep);
			break;
		case ARB_SD_REBOOT:
			n = snprintf(buf + len, size - len, "%sreboot %s", sep,
				     arb_final_name(a->final));
			break;
		case ARB_SD_EXIT:
			n = snprintf(buf + len, size - len, "%sexit %d", sep,
				     a->exit_code);
			break;
		case _ARB_SD_ACT_MAX:
			break;
		}
		len += (size_t)n;
	}
}

static void
run(const struct step *steps, size_t n)
{
	struct arb_shutdown s;
	struct arb_sd_actions out;
	char got[512];

	arb_shutdown_init(&s, TERM_MS, KILL_MS);
	assert_int_equal(s.state, ARB_SD_IDLE);
	for (size_t i = 0; i < n; i++) {
		struct arb_sd_event ev = {
			.kind = steps[i].kind, .final = steps[i].final,
			.exit_code = steps[i].exit_code,
			.tree_down = steps[i].tree_down,
			.now_ms = steps[i].at_ms,
		};

		arb_shutdown_step(&s, &ev, &out);
		describe(&out, got, sizeof(got));
		if (strcmp(got, steps[i].expect) != 0)
			fail_msg("step %zu at %lld ms: expected \"%s\", got "
				 "\"%s\"", i, (long long)steps[i].at_ms,
				 steps[i].expect, got);
		if (s.state != steps[i].state)
			fail_msg("step %zu: state %s, expected %s", i,
				 arb_sd_state_name(s.state),
				 arb_sd_state_name(steps[i].state));
	}
}

#define RUN(steps) run(steps, sizeof(steps) / sizeof(steps[0]))

/* The whole sequence, every process gone after SIGTERM. */
static void
test_poweroff_clean(void **state)
{
	static const struct step steps[] = {
		{100, ARB_SD_BEGIN, ARB_FINAL_POWEROFF, 0, false, "stop tree",
		 ARB_SD_TREE},
		/* Orphans may go before the tree is down: nothing yet. */
		{150, ARB_SD_NO_PROCESSES, 0, 0, false, "", ARB_SD_TREE},
		{2100, ARB_SD_TREE_DOWN, 0, 0, false,
		 "signal TERM; timer 7100", ARB_SD_TERM},
		{2300, ARB_SD_NO_PROCESSES, 0, 0, false,
		 "cancel; sync; unmount; reboot poweroff", ARB_SD_DONE},
		/* The cancelled timer, had it fired anyway: nothing. */
		{7100, ARB_SD_TIMER, 0, 0, false, "", ARB_SD_DONE},
	};

	RUN(steps);
}

/* A process that ignores SIGTERM is killed at the deadline. */
static void
test_term_deadline_then_kill(void **state)
{
	static const struct step steps[] = {
		{0, ARB_SD_BEGIN, ARB_FINAL_REBOOT, 0, false, "stop tree",
		 ARB_SD_TREE},
		{10, ARB_SD_TREE_DOWN, 0, 0, false, "signal TERM; timer 5010",
		 ARB_SD_TERM},
		{5010, ARB_SD_TIMER, 0, 0, false, "signal KILL; timer 7010",
		 ARB_SD_KILL},
		{5020, ARB_SD_NO_PROCESSES, 0, 0, false,
		 "cancel; sync; unmount; reboot reboot", ARB_SD_DONE},
	};

	RUN(steps);
}

/* A process in D state survives SIGKILL: the machine goes on without it. */
static void
test_kill_deadline_goes_on(void **state)
{
	static const struct step steps[] = {
		{0, ARB_SD_BEGIN, ARB_FINAL_HALT, 0, false, "stop tree",
		 ARB_SD_TREE},
		{0, ARB_SD_TREE_DOWN, 0, 0, false, "signal TERM; timer 5000",
		 ARB_SD_TERM},
		{5000, ARB_SD_TIMER, 0, 0, false, "signal KILL; timer 7000",
		 ARB_SD_KILL},
		{7000, ARB_SD_TIMER, 0, 0, false,
		 "sync; unmount; reboot halt", ARB_SD_DONE},
		{7001, ARB_SD_NO_PROCESSES, 0, 0, false, "", ARB_SD_DONE},
	};

	RUN(steps);
}

/* After the root gave up there is no tree to stop. */
static void
test_tree_already_down(void **state)
{
	static const struct step steps[] = {
		{300, ARB_SD_BEGIN, ARB_FINAL_REBOOT, 0, true,
		 "signal TERM; timer 5300", ARB_SD_TERM},
		{301, ARB_SD_NO_PROCESSES, 0, 0, false,
		 "cancel; sync; unmount; reboot reboot", ARB_SD_DONE},
	};

	RUN(steps);
}

/* The last request wins; the sequence is not restarted. */
static void
test_second_request_changes_action(void **state)
{
	static const struct step steps[] = {
		{0, ARB_SD_BEGIN, ARB_FINAL_POWEROFF, 0, false, "stop tree",
		 ARB_SD_TREE},
		{50, ARB_SD_BEGIN, ARB_FINAL_REBOOT, 0, false, "", ARB_SD_TREE},
		{60, ARB_SD_TREE_DOWN, 0, 0, false, "signal TERM; timer 5060",
		 ARB_SD_TERM},
		{70, ARB_SD_BEGIN, ARB_FINAL_HALT, 0, true, "", ARB_SD_TERM},
		{80, ARB_SD_NO_PROCESSES, 0, 0, false,
		 "cancel; sync; unmount; reboot halt", ARB_SD_DONE},
		/* Too late: it is done. */
		{90, ARB_SD_BEGIN, ARB_FINAL_POWEROFF, 0, false, "",
		 ARB_SD_DONE},
	};

	RUN(steps);
}

/* A container's init ends by exiting with the root's status: no reboot. */
static void
test_container_exit(void **state)
{
	static const struct step steps[] = {
		{0, ARB_SD_BEGIN, ARB_FINAL_EXIT, 0, false, "stop tree",
		 ARB_SD_TREE},
		{40, ARB_SD_TREE_DOWN, 0, 0, false, "signal TERM; timer 5040",
		 ARB_SD_TERM},
		{41, ARB_SD_NO_PROCESSES, 0, 0, false, "cancel; exit 0",
		 ARB_SD_DONE},
	};
	/* The root's status wins: a stop that was asked for, yet ended in
	 * a give-up (a service that would not stop), exits 1. */
	static const struct step root_status[] = {
		{0, ARB_SD_BEGIN, ARB_FINAL_EXIT, 0, false, "stop tree",
		 ARB_SD_TREE},
		{40, ARB_SD_TREE_DOWN, 0, 1, false, "signal TERM; timer 5040",
		 ARB_SD_TERM},
		{41, ARB_SD_NO_PROCESSES, 0, 0, false, "cancel; exit 1",
		 ARB_SD_DONE},
	};
	static const struct step gave_up[] = {
		{0, ARB_SD_BEGIN, ARB_FINAL_EXIT, 1, true,
		 "signal TERM; timer 5000", ARB_SD_TERM},
		{5000, ARB_SD_TIMER, 0, 0, false, "signal KILL; timer 7000",
		 ARB_SD_KILL},
		{7000, ARB_SD_TIMER, 0, 0, false, "exit 1", ARB_SD_DONE},
	};

	RUN(steps);
	RUN(root_status);
	RUN(gave_up);
}

/* Nothing before BEGIN; and a timer while the tree stops is ignored. */
static void
test_stray_events(void **state)
{
	static const struct step steps[] = {
		{0, ARB_SD_TIMER, 0, 0, false, "", ARB_SD_IDLE},
		{0, ARB_SD_TREE_DOWN, 0, 0, false, "", ARB_SD_IDLE},
		{0, ARB_SD_NO_PROCESSES, 0, 0, false, "", ARB_SD_IDLE},
		{5, ARB_SD_BEGIN, ARB_FINAL_POWEROFF, 0, false, "stop tree",
		 ARB_SD_TREE},
		{9000, ARB_SD_TIMER, 0, 0, false, "", ARB_SD_TREE},
		{9001, ARB_SD_TREE_DOWN, 0, 0, false,
		 "signal TERM; timer 14001", ARB_SD_TERM},
		{9002, ARB_SD_TREE_DOWN, 0, 0, false, "", ARB_SD_TERM},
	};

	RUN(steps);
}

static void
test_names(void **state)
{
	assert_string_equal(arb_final_name(ARB_FINAL_POWEROFF), "poweroff");
	assert_int_equal(arb_final_from_name("reboot"), ARB_FINAL_REBOOT);
	assert_int_equal(arb_final_from_name("halt"), ARB_FINAL_HALT);
	assert_int_equal(arb_final_from_name("kexec"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_poweroff_clean),
		cmocka_unit_test(test_term_deadline_then_kill),
		cmocka_unit_test(test_kill_deadline_goes_on),
		cmocka_unit_test(test_tree_already_down),
		cmocka_unit_test(test_second_request_changes_action),
		cmocka_unit_test(test_container_exit),
		cmocka_unit_test(test_stray_events),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
