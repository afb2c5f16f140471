/*
 * test_spec.c - the configuration model: durations, names, exit codes,
 * name tables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/fdbudget.h"
#include "core/limits.h"
#include "core/spec.h"

static int64_t
ms(const char *text, bool infinity_ok)
{
	int64_t v = -42;

	if (arb_spec_parse_duration(text, infinity_ok, &v) < 0)
		return -1;
	return v;
}

static void
test_durations(void **state)
{
	assert_int_equal(ms("5", false), 5000);
	assert_int_equal(ms("2.5", false), 2500);
	assert_int_equal(ms("250ms", false), 250);
	assert_int_equal(ms("5s", false), 5000);
	assert_int_equal(ms("1.5min", false), 90000);
	assert_int_equal(ms("2h", false), 7200000);
	assert_int_equal(ms("0", false), 0);
	assert_int_equal(ms(".5s", false), 500);
	assert_int_equal(ms("infinity", true), ARB_INFINITY_MS);
	assert_int_equal(ms("infinity", false), -1);
	assert_int_equal(ms("", false), -1);
	assert_int_equal(ms("s", false), -1);
	assert_int_equal(ms("-1s", false), -1);
	assert_int_equal(ms("5 s", false), -1);
	assert_int_equal(ms("5sec", false), -1);
	assert_int_equal(ms("99999999999999999999", false), -1);
	assert_int_equal(ms("400days", false), -1);
	assert_int_equal(ms("9000h", false), -1); /* over a year */
}

/* Bug 9: "0.0001ms" read as 0 disabled a watchdog without a word. */
static void
test_duration_finer_than_a_millisecond_is_refused(void **state)
{
	int64_t v = -42;

	assert_int_equal(arb_spec_parse_duration("0.0001ms", false, &v), -2);
	assert_int_equal(arb_spec_parse_duration("0.0000001ms", true, &v), -2);
	assert_int_equal(arb_spec_parse_duration("1.5ms", false, &v), -2);
	assert_int_equal(arb_spec_parse_duration("0.0001", false, &v), -2);
	assert_int_equal(arb_spec_parse_duration("1.0000000001s", false, &v),
			 -2);
	assert_int_equal(arb_spec_parse_duration("0.000001h", false, &v), -2);
	assert_int_equal(v, -42);
	/* Whole milliseconds, however written, are read. */
	assert_int_equal(ms("0.001", false), 1);
	assert_int_equal(ms("0.0015min", false), 90);
	assert_int_equal(ms("0.00001h", false), 36);
	assert_int_equal(ms("1.000000000000ms", false), 1);
	assert_int_equal(ms("2.675", false), 2675);
}

static void
test_duration_format_round_trips(void **state)
{
	static const int64_t values[] = {0, 1, 250, 1000, 1500, 5000, 60000,
					 90000, 3600000, 7200001,
					 ARB_INFINITY_MS};
	char buf[32];

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		arb_spec_format_duration(values[i], buf, sizeof(buf));
		assert_int_equal(ms(buf, true), values[i]);
	}
	arb_spec_format_duration(5000, buf, sizeof(buf));
	assert_string_equal(buf, "5s");
	arb_spec_format_duration(120000, buf, sizeof(buf));
	assert_string_equal(buf, "2min");
	arb_spec_format_duration(1500, buf, sizeof(buf));
	assert_string_equal(buf, "1500ms");
}

static void
test_names(void **state)
{
	assert_true(arb_spec_name_valid("web-1.app_x"));
	assert_false(arb_spec_name_valid(""));
	assert_false(arb_spec_name_valid("a/b"));
	assert_false(arb_spec_name_valid("a b"));
	assert_false(arb_spec_name_valid("."));
	assert_false(arb_spec_name_valid(".."));
	assert_false(arb_spec_name_valid(
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

static void
test_paths_and_lookup(void **state)
{
	struct arb_spec *s = arb_spec_new();
	uint32_t web, app;

	web = arb_spec_add(s, ARB_ROOT, ARB_NODE_SUPERVISOR, "web", "f", 1);
	app = arb_spec_add(s, web, ARB_NODE_SERVICE, "app", "f", 2);
	assert_string_equal(s->nodes[app].path, "web/app");
	assert_int_equal(s->nodes[app].depth, 2);
	assert_int_equal(arb_spec_find(s, "web/app"), app);
	assert_int_equal(arb_spec_find(s, "/"), ARB_ROOT);
	assert_int_equal(arb_spec_find(s, "web/nope"), ARB_NONE);
	assert_int_equal(arb_spec_find_child(s, web, "app"), app);
	arb_spec_free(s);
}

static void
test_normal_exit(void **state)
{
	struct arb_spec *s = arb_spec_new();
	uint32_t a = arb_spec_add(s, ARB_ROOT, ARB_NODE_SERVICE, "a", "f", 1);

	arb_spec_set_normal_exit(&s->nodes[a], 255);
	arb_spec_set_normal_exit(&s->nodes[a], 256); /* ignored */
	assert_true(arb_spec_exit_is_normal(&s->nodes[a], 0));
	assert_true(arb_spec_exit_is_normal(&s->nodes[a], 255));
	assert_false(arb_spec_exit_is_normal(&s->nodes[a], 254));
	assert_false(arb_spec_exit_is_normal(&s->nodes[a], -1));
	arb_spec_free(s);
}

static void
test_ready_names(void **state)
{
	for (int v = 0; v < _ARB_READY_MAX; v++)
		assert_int_equal(arb_ready_from_name(
					 arb_ready_name((enum arb_ready)v)), v);
	assert_string_equal(arb_ready_name(ARB_READY_NOTIFY), "notify");
	assert_int_equal(arb_ready_from_name("fd:3"), -1);
	assert_int_equal(arb_ready_from_name("Notify"), -1);
	assert_string_equal(arb_ready_name(_ARB_READY_MAX), "?");
}

/* The table is indexed by Linux's RLIMIT_* numbers (asm-generic). */
static void
test_rlimit_names(void **state)
{
	assert_int_equal(arb_rlimit_from_name("cpu"), 0);
	assert_int_equal(arb_rlimit_from_name("core"), 4);
	assert_int_equal(arb_rlimit_from_name("nofile"), 7);
	assert_int_equal(arb_rlimit_from_name("as"), 9);
	assert_int_equal(arb_rlimit_from_name("rttime"), 15);
	assert_int_equal(arb_rlimit_from_name("NOFILE"), -1);
	assert_int_equal(arb_rlimit_from_name("files"), -1);
	for (int r = 0; r < ARB_RLIMIT_COUNT; r++)
		assert_int_equal(arb_rlimit_from_name(arb_rlimit_name(r)), r);
	assert_null(arb_rlimit_name(-1));
	assert_null(arb_rlimit_name(ARB_RLIMIT_COUNT));
}

/*
 * Many children are found by name through an index that follows them as
 * they are added, detached (their slots then reused), reordered and
 * grafted; a few are scanned.
 */
static void
test_find_child_many(void **state)
{
	struct arb_spec *s = arb_spec_new();
	uint32_t idx[200];
	char name[16];

	assert_non_null(s);
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		idx[i] = arb_spec_add(s, ARB_ROOT, ARB_NODE_SERVICE, name, "t", 1);
		assert_int_not_equal(idx[i], ARB_NONE);
	}
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		assert_int_equal(arb_spec_find_child(s, ARB_ROOT, name), idx[i]);
	}
	/* Every other one leaves; the rest are still found, they are not. */
	for (int i = 0; i < 200; i += 2) {
		arb_spec_detach(s, idx[i]);
		arb_spec_release(s, idx[i]);
	}
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		assert_int_equal(arb_spec_find_child(s, ARB_ROOT, name),
				 i % 2 ? idx[i] : ARB_NONE);
	}
	/* New ones in the freed slots, under names that were there. */
	for (int i = 0; i < 200; i += 2) {
		uint32_t g = arb_spec_graft(s, ARB_ROOT, s, idx[1]);

		assert_int_not_equal(g, ARB_NONE);
		snprintf(name, sizeof(name), "n%d", i);
		/* Under the root, the path is the name. */
		assert_int_equal(arb_spec_set_path(&s->nodes[g], name,
						   strlen(name)), 0);
		assert_int_equal(arb_spec_attach(s, g, 0), 0);
		assert_int_equal(arb_spec_find_child(s, ARB_ROOT, name), g);
	}
	assert_int_equal(s->nodes[ARB_ROOT].nchildren, 200);
	assert_int_equal(arb_spec_find_child(s, ARB_ROOT, "c1"), idx[1]);
	assert_int_equal(arb_spec_find_child(s, ARB_ROOT, "c0"), ARB_NONE);
	assert_int_equal(arb_spec_find(s, "n198"),
			 arb_spec_find_child(s, ARB_ROOT, "n198"));
	arb_spec_free(s);
}

static uint32_t
add_service(struct arb_spec *s, uint32_t parent, const char *name)
{
	uint32_t i = arb_spec_add(s, parent, ARB_NODE_SERVICE, name, "t", 1);

	assert_int_not_equal(i, ARB_NONE);
	return i;
}

/* A pool under the root with a template, as config/load.c makes one. */
static uint32_t
add_pool(struct arb_spec *s, uint32_t max_children, uint32_t instances)
{
	uint32_t p = arb_spec_add(s, ARB_ROOT, ARB_NODE_SUPERVISOR, "pool", "t",
				  1);
	uint32_t t = add_service(s, p, "template");

	arb_spec_detach(s, t);
	s->nodes[t].is_template = true;
	s->nodes[p].template_node = t;
	s->nodes[p].strategy = ARB_SIMPLE_ONE_FOR_ONE;
	s->nodes[p].max_children = max_children;
	s->nodes[p].instances = instances;
	return p;
}

static uint64_t
need_of(const struct arb_spec *s)
{
	struct arb_fd_need need;

	arb_fd_budget(s, &need);
	return need.total - ARB_FD_RESERVE;
}

/* Per service: two pipes or one, its sockets, its readiness pipe. */
static void
test_fd_budget_services(void **state)
{
	struct arb_spec *s = arb_spec_new();
	struct arb_fd_need need;
	uint32_t a, b;
	char *listen[] = {"tcp:127.0.0.1:80", "unix:/x", NULL};

	assert_non_null(s);
	assert_int_equal(need_of(s), 0);
	a = add_service(s, ARB_ROOT, "a");
	assert_int_equal(need_of(s), 2);
	b = add_service(s, ARB_ROOT, "b");
	s->nodes[b].log.streams = ARB_STREAMS_MERGED;
	assert_int_equal(need_of(s), 3);
	s->nodes[a].ready = ARB_READY_FD;
	s->nodes[a].ready_fd = 3;
	assert_int_equal(need_of(s), 4);
	s->nodes[b].listen = listen; /* borrowed: given back below */
	assert_int_equal(need_of(s), 6);
	arb_fd_budget(s, &need);
	assert_int_equal(need.services, 2);
	assert_int_equal(need.separate, 1);
	s->nodes[b].listen = NULL;
	arb_spec_free(s);
}

/* A log file counts once for the nodes that inherit it. */
static void
test_fd_budget_log_files(void **state)
{
	struct arb_spec *s = arb_spec_new();
	uint32_t g = arb_spec_add(s, ARB_ROOT, ARB_NODE_SUPERVISOR, "g", "t", 1);

	s->nodes[g].log.file = strdup("/var/log/g.log");
	assert_int_equal(need_of(s), 1);
	add_service(s, g, "a"); /* copies its supervisor's log settings */
	add_service(s, g, "b");
	assert_int_equal(need_of(s), 1 + 2 * 2);
	arb_spec_free(s);
}

/* A pool at its max_children, else at its instances or children. */
static void
test_fd_budget_pools(void **state)
{
	struct arb_spec *s = arb_spec_new();
	uint32_t p = add_pool(s, 100, 2);
	struct arb_fd_need need;

	assert_int_equal(need_of(s), 200);
	s->nodes[s->nodes[p].template_node].log.streams = ARB_STREAMS_MERGED;
	assert_int_equal(need_of(s), 100);
	s->nodes[p].max_children = 0;
	assert_int_equal(need_of(s), 2);
	arb_fd_budget(s, &need);
	assert_int_equal(need.services, 2);
	assert_int_equal(need.separate, 0);
	arb_spec_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_duration_finer_than_a_millisecond_is_refused),
		cmocka_unit_test(test_duration_format_round_trips),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_paths_and_lookup),
		cmocka_unit_test(test_normal_exit),
		cmocka_unit_test(test_ready_names),
		cmocka_unit_test(test_rlimit_names),
		cmocka_unit_test(test_find_child_many),
		cmocka_unit_test(test_fd_budget_services),
		cmocka_unit_test(test_fd_budget_log_files),
		cmocka_unit_test(test_fd_budget_pools),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
