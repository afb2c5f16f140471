/*
 * test_cgroup_rel.c - a node's cgroup path below base (cgroup.c's
 * arb_cgroup_rel): "tree" for the root, the path's names below it, a '_'
 * before a name with a '.' or a leading '_' so that no name is taken for
 * one of cgroup's files and no two meet, and a buffer too small.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cgroup.h"
#include "core/spec.h"

static void
assert_rel(const struct arb_spec *s, uint32_t node, const char *want)
{
	char buf[ARB_CG_REL_MAX];

	assert_int_equal(arb_cgroup_rel(s, node, buf, sizeof(buf)),
			 (int)strlen(want));
	assert_string_equal(buf, want);
}

static void
test_plain_names(void **state)
{
	struct arb_spec *s = arb_spec_new();
	uint32_t web, app;

	assert_non_null(s);
	web = arb_spec_add(s, ARB_ROOT, ARB_NODE_SUPERVISOR, "web", "f", 1);
	app = arb_spec_add(s, web, ARB_NODE_SERVICE, "app-2", "f", 2);
	assert_rel(s, ARB_ROOT, "tree");
	assert_rel(s, web, "tree/web");
	assert_rel(s, app, "tree/web/app-2");
	arb_spec_free(s);
}

static void
test_escaped_names(void **state)
{
	struct arb_spec *s = arb_spec_new();
	uint32_t sup, a, b, c, d, e;

	assert_non_null(s);
	sup = arb_spec_add(s, ARB_ROOT, ARB_NODE_SUPERVISOR, "pool.1", "f", 1);
	a = arb_spec_add(s, sup, ARB_NODE_SERVICE, "memory.max", "f", 2);
	b = arb_spec_add(s, sup, ARB_NODE_SERVICE, "_memory.max", "f", 3);
	c = arb_spec_add(s, sup, ARB_NODE_SERVICE, "_x", "f", 4);
	d = arb_spec_add(s, sup, ARB_NODE_SERVICE, "x_", "f", 5);
	e = arb_spec_add(s, sup, ARB_NODE_SERVICE, "cgroup.procs", "f", 6);
	assert_rel(s, sup, "tree/_pool.1");
	assert_rel(s, a, "tree/_pool.1/_memory.max");
	assert_rel(s, b, "tree/_pool.1/__memory.max");
	assert_rel(s, c, "tree/_pool.1/__x");
	assert_rel(s, d, "tree/_pool.1/x_");
	assert_rel(s, e, "tree/_pool.1/_cgroup.procs");
	arb_spec_free(s);
}

static void
test_too_long(void **state)
{
	struct arb_spec *s = arb_spec_new();
	uint32_t web;
	char buf[9];

	assert_non_null(s);
	web = arb_spec_add(s, ARB_ROOT, ARB_NODE_SUPERVISOR, "web", "f", 1);
	/* "tree/web" and its NUL fit in 9 bytes, not in 8 or 4. */
	assert_int_equal(arb_cgroup_rel(s, web, buf, 9), 8);
	assert_int_equal(arb_cgroup_rel(s, web, buf, 8), -ENAMETOOLONG);
	assert_int_equal(arb_cgroup_rel(s, ARB_ROOT, buf, 4), -ENAMETOOLONG);
	arb_spec_free(s);
}

static void
test_controller_names(void **state)
{
	char buf[64], tiny[8];

	assert_string_equal(arb_cgroup_controller_names(0, buf, sizeof(buf)),
			    "");
	assert_string_equal(arb_cgroup_controller_names(ARB_CGC_CPU |
								ARB_CGC_IO |
								ARB_CGC_MEMORY |
								ARB_CGC_PIDS,
							buf, sizeof(buf)),
			    "cpu io memory pids");
	assert_string_equal(arb_cgroup_controller_names(ARB_CGC_MEMORY |
								ARB_CGC_PIDS,
							buf, sizeof(buf)),
			    "memory pids");
	/* Cut between names, never inside one. */
	assert_string_equal(arb_cgroup_controller_names(ARB_CGC_CPU |
								ARB_CGC_MEMORY,
							tiny, sizeof(tiny)),
			    "cpu");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_names),
		cmocka_unit_test(test_escaped_names),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_controller_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
