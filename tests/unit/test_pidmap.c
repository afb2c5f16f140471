/*
 * test_pidmap.c - the pid -> node hash against a plain array, through
 * random puts and takes (backward-shift deletion is easy to get wrong).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pidmap.h"

#define MAX_PID 4096

static void
test_random_against_reference(void **state)
{
	static uint32_t ref[MAX_PID]; /* UINT32_MAX: absent */
	struct arb_pidmap m;
	uint32_t live = 0;

	srand(12345);
	memset(ref, 0xff, sizeof(ref));
	assert_int_equal(arb_pidmap_init(&m, 1000), 0);
	for (int i = 0; i < 200000; i++) {
		int pid = 1 + rand() % (MAX_PID - 1);

		if (rand() % 2 && (ref[pid] != UINT32_MAX || live < 1000)) {
			uint32_t node = (uint32_t)rand();

			assert_int_equal(arb_pidmap_put(&m, pid, node), 0);
			live += ref[pid] == UINT32_MAX;
			ref[pid] = node;
		} else {
			assert_int_equal(arb_pidmap_take(&m, pid), ref[pid]);
			live -= ref[pid] != UINT32_MAX;
			ref[pid] = UINT32_MAX;
		}
		assert_int_equal(m.len, live);
	}
	for (int pid = 1; pid < MAX_PID; pid++)
		assert_int_equal(arb_pidmap_take(&m, pid), ref[pid]);
	assert_int_equal(m.len, 0);
	arb_pidmap_done(&m);
}

static void
test_full_map_refuses(void **state)
{
	struct arb_pidmap m;
	int pid = 1;

	assert_int_equal(arb_pidmap_init(&m, 4), 0);
	while (arb_pidmap_put(&m, pid, 7) == 0)
		pid++;
	assert_true(pid - 1 >= 4);
	assert_int_equal(arb_pidmap_take(&m, 1), 7);
	assert_int_equal(arb_pidmap_put(&m, pid, 8), 0);
	arb_pidmap_done(&m);
}

/*
 * Issue 11 bug 14: pid 0 marks an empty slot, so get(0) answered node 0
 * from the first empty slot it met, and put(0) returned 0 without storing.
 * Pids <= 0 are no process: refused, and never found.
 */
static void
test_pid_zero_and_negative_are_refused(void **state)
{
	static const int bad[] = {0, -1, -42};
	struct arb_pidmap m;

	assert_int_equal(arb_pidmap_init(&m, 8), 0);
	assert_int_equal(arb_pidmap_put(&m, 5, 3), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(arb_pidmap_put(&m, bad[i], 7), -EINVAL);
		assert_int_equal(arb_pidmap_get(&m, bad[i]), UINT32_MAX);
		assert_int_equal(arb_pidmap_take(&m, bad[i]), UINT32_MAX);
	}
	assert_int_equal(m.len, 1);
	assert_int_equal(arb_pidmap_get(&m, 5), 3);
	arb_pidmap_done(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_against_reference),
		cmocka_unit_test(test_full_map_refuses),
		cmocka_unit_test(test_pid_zero_and_negative_are_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
