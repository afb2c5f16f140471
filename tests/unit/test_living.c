/*
 * test_living.c - the living tree in the pure core (issue 12): children
 * added, removed, changed and reordered while the tree runs, and pools.
 *
 * The spec is OTP's where OTP has the call (start_child, terminate_child +
 * delete_child, simple_one_for_one): traces use the oracle's vocabulary,
 * and where a test mirrors an oracle scenario (../shared/oracle/expected/
 * 30, 34, 35) it says how arbor's trace differs: `delete PATH` lines (the
 * fake traces ARB_ACT_DELETE, OTP prints nothing), and a pool's instances
 * stopped all at once traced in the order their deaths were fed, where
 * the oracle sorts them by name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "scenario.h"

#define assert_trace(f, expected) assert_string_equal((f)->trace, expected)

#define OP ARB_ORIGIN_OPERATOR
#define CONFIG ARB_ORIGIN_CONFIG

/* Root (strategy, intensity 5, 60 s) with permanent services `names`. */
static struct fake *
flat(enum arb_strategy strategy, const char *names)
{
	struct arb_spec *s = arb_spec_new();
	char buf[256], *save = NULL;

	assert_non_null(s);
	fake_root(s, strategy, 5, 60000);
	strcpy(buf, names);
	for (char *n = strtok_r(buf, " ", &save); n;
	     n = strtok_r(NULL, " ", &save))
		fake_svc(s, ARB_ROOT, n, ARB_PERMANENT);
	return fake_new(s);
}

/* Root one_for_one: a, s (one_for_one: x, y), b. */
static struct fake *
with_sub(void)
{
	struct arb_spec *s = arb_spec_new();
	uint32_t sub;

	fake_root(s, ARB_ONE_FOR_ONE, 5, 60000);
	fake_svc(s, ARB_ROOT, "a", ARB_PERMANENT);
	sub = fake_sup(s, ARB_ROOT, "s", ARB_ONE_FOR_ONE, 5, 60000);
	fake_svc(s, sub, "x", ARB_PERMANENT);
	fake_svc(s, sub, "y", ARB_PERMANENT);
	fake_svc(s, ARB_ROOT, "b", ARB_PERMANENT);
	return fake_new(s);
}

/* The names of sup's children in order, space-separated. */
static const char *
children_of(const struct fake *f, uint32_t sup)
{
	static char buf[1024];
	const struct arb_spec_node *n = &f->spec->nodes[sup];
	size_t len = 0;

	buf[0] = '\0';
	for (uint32_t i = 0; i < n->nchildren; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s",
					i ? " " : "",
					f->spec->nodes[n->children[i]].name);
	return buf;
}

static int
count_words(const char *text)
{
	int n = 0;

	for (const char *c = text; *c; c++)
		n += *c != ' ' && (c == text || c[-1] == ' ');
	return n;
}

/* ---- ADD ------------------------------------------------------------- */

/* start_child: the new child starts at the end, then the reply. */
static void
test_add_running_supervisor(void **state)
{
	struct fake *f = with_sub();
	uint32_t x;

	fake_boot(f);
	fake_clear(f);
	x = fake_add(f, "s", "z", ARB_PERMANENT, ARB_NONE);
	assert_trace(f, "start s/z\nreply s/z ok\n");
	assert_string_equal(children_of(f, fake_node(f, "s")), "x y z");
	assert_int_equal(arb_tree_state(f->tree, x), ARB_CHILD_UP);
	assert_true(arb_tree_present(f->tree, x));
	fake_clear(f);
	fake_shutdown(f);
	/* s's instance ends: what was added at run time leaves with it. */
	assert_trace(f, "stop b\nstop s/z\nstop s/y\nstop s/x\ndelete s/z\n"
			"stop s\nstop a\ndown\n");
	fake_free(f);
}

/* ADD at a position: it is there in the start and stop orders. */
static void
test_add_at_position(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ALL, "a b");

	fake_boot(f);
	fake_clear(f);
	fake_add(f, "/", "x", ARB_PERMANENT, 1);
	assert_trace(f, "start x\nreply x ok\n");
	assert_string_equal(children_of(f, ARB_ROOT), "a x b");
	fake_clear(f);
	fake_exit(f, "a", 1);
	assert_trace(f, "exit a crash\nstop b\nstop x\n"
			"start a\nstart x\nstart b\n");
	fake_free(f);
}

/* start_child of a name the supervisor has: never replaced, refused. */
static void
test_add_existing_name(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ONE, "a b");
	uint32_t a = fake_node(f, "a");
	uint32_t dup;
	int pid;

	fake_boot(f);
	pid = arb_tree_pid(f->tree, a);
	fake_clear(f);
	dup = fake_add(f, "/", "a", ARB_PERMANENT, ARB_NONE);
	assert_trace(f, "delete a\nreply a exists\n");
	assert_int_equal(f->procs[dup].spawns, 0);
	assert_string_equal(children_of(f, ARB_ROOT), "a b");
	assert_int_equal(arb_tree_pid(f->tree, a), pid);
	/* Its slot is free at the next step. */
	fake_request(f, "b", ARB_REQ_RESTART);
	assert_true(f->spec->nodes[dup].unused);
	fake_free(f);
}

/* An operator's ADD under a supervisor that is down: OTP's noproc. */
static void
test_add_operator_to_down_supervisor(void **state)
{
	struct fake *f = with_sub();
	uint32_t z;

	fake_boot(f);
	fake_request(f, "s", ARB_REQ_STOP);
	fake_clear(f);
	z = fake_add(f, "s", "z", ARB_PERMANENT, ARB_NONE);
	assert_trace(f, "delete s/z\nreply s/z not_running\n");
	assert_int_equal(f->procs[z].spawns, 0);
	assert_string_equal(children_of(f, fake_node(f, "s")), "x y");
	fake_free(f);
}

/* A reload's ADD under a supervisor that is down: attached, started
 * with its supervisor. */
static void
test_add_config_to_down_supervisor(void **state)
{
	struct fake *f = with_sub();
	uint32_t z;

	fake_boot(f);
	fake_request(f, "s", ARB_REQ_STOP);
	z = fake_graft_svc(f, fake_node(f, "s"), "z", ARB_PERMANENT, false);
	fake_clear(f);
	fake_request_at(f, z, ARB_REQ_ADD, CONFIG, ARB_NONE);
	assert_trace(f, "reply s/z ok\n");
	assert_int_equal(f->procs[z].spawns, 0);
	assert_int_equal(arb_tree_state(f->tree, z), ARB_CHILD_DOWN);
	assert_string_equal(children_of(f, fake_node(f, "s")), "x y z");
	fake_clear(f);
	fake_request(f, "s", ARB_REQ_START);
	assert_trace(f, "start s\nstart s/x\nstart s/y\nstart s/z\n"
			"reply s ok\n");
	assert_int_equal(arb_tree_state(f->tree, z), ARB_CHILD_UP);
	fake_free(f);
}

/* Oracle 30's tail: an added child is last in the start order; a
 * one_for_all restart stops it first and starts it last. */
static void
test_add_joins_group_restart_order(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ALL, "a b");

	fake_boot(f);
	fake_add(f, "/", "c", ARB_PERMANENT, ARB_NONE);
	fake_clear(f);
	fake_exit(f, "b", 1);
	fake_shutdown(f);
	assert_trace(f, "exit b crash\nstop c\nstop a\n"
			"start a\nstart b\nstart c\n"
			"stop c\nstop b\nstop a\ndelete c\ndown\n");
	fake_free(f);
}

/* OTP's start_child: a child whose start fails is not kept. */
static void
test_add_operator_start_fails(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ONE, "a");
	uint32_t x;

	fake_boot(f);
	x = fake_graft_svc(f, ARB_ROOT, "x", ARB_PERMANENT, true);
	f->procs[x].fail_spawns = 1;
	fake_clear(f);
	fake_request_at(f, x, ARB_REQ_ADD, OP, ARB_NONE);
	assert_trace(f, "start_failed x\nreply x start_failed\ndelete x\n");
	assert_string_equal(children_of(f, ARB_ROOT), "a");
	assert_int_equal(arb_tree_restarts(f->tree, ARB_ROOT), 0);
	assert_int_equal(f->exit_code, -1);
	fake_free(f);
}

/* A reload's child whose start fails stays, down, as at boot after D3. */
static void
test_add_config_start_fails(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ONE, "a");
	uint32_t x;

	fake_boot(f);
	x = fake_graft_svc(f, ARB_ROOT, "x", ARB_PERMANENT, false);
	f->procs[x].fail_spawns = 1;
	fake_clear(f);
	fake_request_at(f, x, ARB_REQ_ADD, CONFIG, ARB_NONE);
	assert_trace(f, "start_failed x\nreply x start_failed\n");
	assert_string_equal(children_of(f, ARB_ROOT), "a x");
	assert_true(arb_tree_present(f->tree, x));
	assert_int_equal(arb_tree_state(f->tree, x), ARB_CHILD_DOWN);
	fake_clear(f);
	fake_request(f, "x", ARB_REQ_START);
	assert_trace(f, "start x\nreply x ok\n");
	fake_free(f);
}

/* ---- REMOVE ---------------------------------------------------------- */

/* Oracle 30, with arbor's delete lines; s/x under a removed supervisor
 * is a node that no longer exists (OTP: noproc, from the dead s). */
static void
test_remove_oracle_30(void **state)
{
	struct arb_spec *s = arb_spec_new();
	uint32_t sub, a, t, x;
	struct fake *f;

	fake_root(s, ARB_ONE_FOR_ALL, 5, 60000);
	a = fake_svc(s, ARB_ROOT, "a", ARB_PERMANENT);
	t = fake_svc(s, ARB_ROOT, "t", ARB_TEMPORARY);
	sub = fake_sup(s, ARB_ROOT, "s", ARB_ONE_FOR_ONE, 3, 5000);
	x = fake_svc(s, sub, "x", ARB_PERMANENT);
	fake_svc(s, sub, "y", ARB_PERMANENT);
	fake_svc(s, ARB_ROOT, "b", ARB_PERMANENT);
	f = fake_new(s);
	fake_boot(f);
	fake_request_at(f, a, ARB_REQ_REMOVE, OP, 0);
	fake_request_at(f, a, ARB_REQ_REMOVE, OP, 0);
	fake_request_at(f, t, ARB_REQ_REMOVE, OP, 0);
	fake_request_at(f, sub, ARB_REQ_REMOVE, OP, 0);
	fake_request_at(f, x, ARB_REQ_REMOVE, OP, 0);
	fake_add(f, "/", "a", ARB_PERMANENT, ARB_NONE);
	fake_exit(f, "b", 1);
	fake_shutdown(f);
	assert_trace(f, "start root\nstart a\nstart t\nstart s\nstart s/x\n"
			"start s/y\nstart b\n"
			"stop a\ndelete a\nreply a ok\n"
			"reply ? not_found\n"
			"stop t\ndelete t\nreply t ok\n"
			"stop s/y\nstop s/x\nstop s\n"
			"delete s/y\ndelete s/x\ndelete s\nreply s ok\n"
			"reply ? not_found\n"
			"start a\nreply a ok\n"
			"exit b crash\nstop a\nstart b\nstart a\n"
			"stop a\nstop b\ndelete a\ndown\n");
	assert_int_equal(f->replies, 6);
	fake_free(f);
}

/* A temporary child that ended: the operator's remove finds nothing; a
 * reload's drops its spec. */
static void
test_remove_ended_temporary(void **state)
{
	struct arb_spec *s = arb_spec_new();
	struct fake *f;
	uint32_t t1, t2;

	fake_root(s, ARB_ONE_FOR_ONE, 5, 60000);
	t1 = fake_svc(s, ARB_ROOT, "t1", ARB_TEMPORARY);
	t2 = fake_svc(s, ARB_ROOT, "t2", ARB_TEMPORARY);
	fake_svc(s, ARB_ROOT, "b", ARB_PERMANENT);
	f = fake_new(s);
	fake_boot(f);
	fake_exit(f, "t1", 0);
	fake_exit(f, "t2", 1);
	fake_clear(f);
	fake_request_at(f, t1, ARB_REQ_REMOVE, OP, 0);
	fake_request_at(f, t2, ARB_REQ_REMOVE, CONFIG, 0);
	assert_trace(f, "reply t1 not_found\ndelete t2\nreply t2 ok\n");
	assert_string_equal(children_of(f, ARB_ROOT), "t1 b");
	fake_free(f);
}

/* A child waiting out its restart_delay: the restart is cancelled. */
static void
test_remove_in_backoff(void **state)
{
	struct arb_spec *s = arb_spec_new();
	struct fake *f;
	uint32_t a;

	fake_root(s, ARB_ONE_FOR_ONE, 5, 60000);
	a = fake_svc(s, ARB_ROOT, "a", ARB_PERMANENT);
	s->nodes[a].restart_delay_ms = 1000;
	s->nodes[a].restart_delay_max_ms = 1000;
	fake_svc(s, ARB_ROOT, "b", ARB_PERMANENT);
	f = fake_new(s);
	fake_boot(f);
	fake_clear(f);
	fake_exit(f, "a", 1);
	assert_int_equal(arb_tree_state(f->tree, a), ARB_CHILD_RESTARTING);
	fake_request_at(f, a, ARB_REQ_REMOVE, OP, 0);
	fake_advance(f, 5000);
	assert_trace(f, "exit a crash\nbackoff a 1000\ndelete a\nreply a ok\n");
	assert_int_equal(f->procs[a].spawns, 0); /* cleared, never again */
	assert_string_equal(children_of(f, ARB_ROOT), "b");
	fake_free(f);
}

/* A child under a supervisor that is down: refused for an operator,
 * deleted for a reload. */
static void
test_remove_under_down_supervisor(void **state)
{
	struct fake *f = with_sub();
	uint32_t x = fake_node(f, "s/x"), y = fake_node(f, "s/y");

	fake_boot(f);
	fake_request(f, "s", ARB_REQ_STOP);
	fake_clear(f);
	fake_request_at(f, x, ARB_REQ_REMOVE, OP, 0);
	fake_request_at(f, y, ARB_REQ_REMOVE, CONFIG, 0);
	assert_trace(f, "reply s/x not_running\ndelete s/y\nreply s/y ok\n");
	assert_string_equal(children_of(f, fake_node(f, "s")), "x");
	fake_clear(f);
	fake_request(f, "s", ARB_REQ_START);
	assert_trace(f, "start s\nstart s/x\nreply s ok\n");
	fake_free(f);
}

/* ---- CHANGE ---------------------------------------------------------- */

/* Keys for node from a one-service spec, pending for its next start. */
static void
pend_stop_timeout(struct fake *f, uint32_t node, int64_t stop_timeout_ms)
{
	struct arb_spec *src = arb_spec_new();
	uint32_t i = fake_svc(src, ARB_ROOT, "new",
			      f->spec->nodes[node].restart);

	src->nodes[i].stop_timeout_ms = stop_timeout_ms;
	assert_int_equal(arb_spec_set_pending(f->spec, node, src, i), 0);
	arb_spec_free(src);
}

/* A changed service restarts alone: no strategy, nothing counted. */
static void
test_change_restarts_alone(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ALL, "a b c");
	uint32_t a = fake_node(f, "a"), b = fake_node(f, "b");
	int pid_a;

	fake_boot(f);
	pid_a = arb_tree_pid(f->tree, a);
	pend_stop_timeout(f, b, 1234);
	fake_clear(f);
	fake_request_at(f, b, ARB_REQ_CHANGE, CONFIG, 0);
	assert_trace(f, "stop b\nstart b\nreply b ok\n");
	assert_int_equal(arb_tree_restarts(f->tree, b), 0);
	assert_int_equal(arb_tree_pid(f->tree, a), pid_a);
	assert_int_equal(f->spec->nodes[b].stop_timeout_ms, 1234);
	assert_null(f->spec->nodes[b].pending);
	/* Intensity 0 would have given up on a counted restart. */
	f->spec->nodes[ARB_ROOT].intensity = 0;
	f->spec->generation++;
	pend_stop_timeout(f, b, 4321);
	fake_clear(f);
	fake_request_at(f, b, ARB_REQ_CHANGE, CONFIG, 0);
	assert_trace(f, "stop b\nstart b\nreply b ok\n");
	assert_int_equal(f->exit_code, -1);
	fake_free(f);
}

/* A temporary child keeps its spec through its CHANGE restart (C2 is
 * about deaths, not this). */
static void
test_change_temporary_survives(void **state)
{
	struct arb_spec *s = arb_spec_new();
	struct fake *f;
	uint32_t t;

	fake_root(s, ARB_ONE_FOR_ONE, 5, 60000);
	t = fake_svc(s, ARB_ROOT, "t", ARB_TEMPORARY);
	f = fake_new(s);
	fake_boot(f);
	pend_stop_timeout(f, t, 1000);
	fake_clear(f);
	fake_request_at(f, t, ARB_REQ_CHANGE, CONFIG, 0);
	assert_trace(f, "stop t\nstart t\nreply t ok\n");
	assert_true(arb_tree_present(f->tree, t));
	assert_int_equal(arb_tree_state(f->tree, t), ARB_CHILD_UP);
	fake_free(f);
}

/* A stopped child takes its keys when it next starts: no spawn now. */
static void
test_change_down_child(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ONE, "a b");
	uint32_t b = fake_node(f, "b");

	fake_boot(f);
	fake_request(f, "b", ARB_REQ_STOP);
	pend_stop_timeout(f, b, 777);
	fake_clear(f);
	fake_request_at(f, b, ARB_REQ_CHANGE, CONFIG, 0);
	assert_trace(f, "reply b ok\n");
	assert_int_equal(f->procs[b].spawns, 1);
	assert_int_equal(arb_tree_state(f->tree, b), ARB_CHILD_DOWN);
	fake_request(f, "b", ARB_REQ_START);
	assert_int_equal(f->spec->nodes[b].stop_timeout_ms, 777);
	fake_free(f);
}

/* ---- REORDER --------------------------------------------------------- */

/* The new order rules the next group restart: stop in reverse, start in
 * order. Nothing is restarted by the reorder itself. */
static void
test_reorder_rules_group_restart(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ALL, "a b c");
	uint32_t a = fake_node(f, "a"), b = fake_node(f, "b"),
		 c = fake_node(f, "c");
	const uint32_t order[] = {c, a, b};

	fake_boot(f);
	fake_clear(f);
	fake_reorder(f, ARB_ROOT, order, 3);
	assert_trace(f, "reply root ok\n");
	assert_string_equal(children_of(f, ARB_ROOT), "c a b");
	fake_clear(f);
	fake_exit(f, "a", 1);
	fake_shutdown(f);
	assert_trace(f, "exit a crash\nstop b\nstop c\n"
			"start c\nstart a\nstart b\n"
			"stop b\nstop a\nstop c\ndown\n");
	fake_free(f);
}

/* An order naming what is not a child is taken as far as it goes; the
 * children it does not name keep their order after. */
static void
test_reorder_partial_and_foreign(void **state)
{
	struct fake *f = with_sub();
	uint32_t b = fake_node(f, "b"), x = fake_node(f, "s/x");
	const uint32_t order[] = {9999, b, x, ARB_ROOT, b};

	fake_boot(f);
	fake_clear(f);
	fake_reorder(f, ARB_ROOT, order, 5);
	assert_trace(f, "reply root ok\n");
	assert_string_equal(children_of(f, ARB_ROOT), "b a s");
	assert_string_equal(children_of(f, fake_node(f, "s")), "x y");
	fake_clear(f);
	fake_shutdown(f);
	assert_trace(f, "stop s/y\nstop s/x\nstop s\nstop a\nstop b\ndown\n");
	fake_free(f);
}

/* ---- supervisors restarted by their parent --------------------------- */

/* OTP: a supervisor restarted by its parent comes back with its
 * configured children only. */
static void
test_restarted_supervisor_drops_dynamic(void **state)
{
	struct fake *f = with_sub();

	fake_boot(f);
	fake_add(f, "s", "d", ARB_PERMANENT, ARB_NONE);
	fake_clear(f);
	fake_request(f, "s", ARB_REQ_RESTART);
	assert_trace(f, "stop s/d\nstop s/y\nstop s/x\ndelete s/d\nstop s\n"
			"start s\nstart s/x\nstart s/y\nreply s ok\n");
	assert_string_equal(children_of(f, fake_node(f, "s")), "x y");
	/* The same by a give-up and the root's restart. */
	fake_add(f, "s", "d", ARB_PERMANENT, ARB_NONE);
	f->spec->nodes[fake_node(f, "s")].intensity = 0;
	f->spec->generation++;
	fake_clear(f);
	fake_exit(f, "s/x", 1);
	assert_trace(f, "exit s/x crash\ngiveup s\nstop s/d\nstop s/y\n"
			"delete s/d\nstart s\nstart s/x\nstart s/y\n");
	assert_string_equal(children_of(f, fake_node(f, "s")), "x y");
	fake_free(f);
}

/* ---- pools ----------------------------------------------------------- */

/* Root one_for_one (5, 60 s): a, pool p (intensity, 60 s), b. */
static struct fake *
with_pool(uint32_t intensity, enum arb_restart restart, uint32_t instances,
	  uint32_t max_children)
{
	struct arb_spec *s = arb_spec_new();
	uint32_t p;

	fake_root(s, ARB_ONE_FOR_ONE, 5, 60000);
	fake_svc(s, ARB_ROOT, "a", ARB_PERMANENT);
	p = fake_pool(s, ARB_ROOT, "p", intensity, 60000, restart);
	s->nodes[p].instances = instances;
	s->nodes[p].max_children = max_children;
	fake_svc(s, ARB_ROOT, "b", ARB_PERMANENT);
	return fake_new(s);
}

/* Oracle 34: spawns, a crash restarts only its instance, a permanent
 * instance's normal exit too; the shutdown stops them all at once. */
static void
test_pool_oracle_34(void **state)
{
	struct fake *f = with_pool(5, ARB_PERMANENT, 0, 0);
	uint32_t p1, p3;

	fake_boot(f);
	p1 = fake_spawn(f, "p", NULL);
	fake_spawn(f, "p", NULL);
	p3 = fake_spawn(f, "p", NULL);
	fake_spawn(f, "p", "web");
	fake_exit(f, "p/2", 1);
	fake_exit(f, "p/web", 0);
	fake_die(f, p1, 1, 0);
	fake_die(f, p3, -1, ARB_SIGTERM);
	fake_run(f);
	fake_shutdown(f);
	/* The oracle prints the stop lines of p's instances sorted by name. */
	assert_trace(f, "start root\nstart a\nstart p\nstart b\n"
			"start p/1\nreply p/1 ok\nstart p/2\nreply p/2 ok\n"
			"start p/3\nreply p/3 ok\nstart p/web\nreply p/web ok\n"
			"exit p/2 crash\nstart p/2\n"
			"exit p/web normal\nstart p/web\n"
			"exit p/1 crash\nexit p/3 shutdown\n"
			"start p/1\nstart p/3\n"
			"stop b\n"
			"stop p/web\nstop p/3\nstop p/2\nstop p/1\n"
			"delete p/web\ndelete p/3\ndelete p/2\ndelete p/1\n"
			"stop p\nstop a\ndown\n");
	fake_free(f);
}

/* A transient instance that ends normally leaves the pool. */
static void
test_pool_transient_normal_exit_deletes(void **state)
{
	struct fake *f = with_pool(5, ARB_TRANSIENT, 0, 0);
	uint32_t p1;

	fake_boot(f);
	p1 = fake_spawn(f, "p", NULL);
	fake_spawn(f, "p", NULL);
	fake_clear(f);
	fake_exit(f, "p/1", 0);
	assert_trace(f, "exit p/1 normal\ndelete p/1\n");
	fake_request(f, "b", ARB_REQ_RESTART); /* a step: the slot is freed */
	assert_true(f->spec->nodes[p1].unused);
	assert_string_equal(children_of(f, fake_node(f, "p")), "2");
	fake_free(f);
}

/* The pool's instances get their stop signal together: every one is
 * signalled before any of them is gone. */
static void
test_pool_stops_instances_at_once(void **state)
{
	struct fake *f = with_pool(5, ARB_PERMANENT, 0, 0);
	uint32_t inst[3];

	fake_boot(f);
	for (int i = 0; i < 3; i++) {
		inst[i] = fake_spawn(f, "p", NULL);
		f->procs[inst[i]].ignore_term = true;
	}
	fake_clear(f);
	f->signals_sent = 0;
	fake_request(f, "p", ARB_REQ_STOP);
	assert_int_equal(f->signals_sent, 3);
	assert_trace(f, "");
	for (int i = 0; i < 3; i++)
		assert_int_equal(arb_tree_state(f->tree, inst[i]),
				 ARB_CHILD_STOPPING);
	fake_advance(f, 5000); /* stop_timeout: SIGKILL to each */
	assert_trace(f, "stop p/1\nstop p/2\nstop p/3\n"
			"delete p/3\ndelete p/2\ndelete p/1\n"
			"stop p\nreply p ok\n");
	assert_string_equal(children_of(f, fake_node(f, "p")), "");
	fake_free(f);
}

/* Oracle 35: the instances share the pool's intensity; the pool gives up,
 * comes back empty, its names go on; the second give-up is the root's. */
static void
test_pool_oracle_35(void **state)
{
	struct arb_spec *s = arb_spec_new();
	struct fake *f;

	fake_root(s, ARB_ONE_FOR_ONE, 1, 60000);
	fake_svc(s, ARB_ROOT, "a", ARB_PERMANENT);
	fake_pool(s, ARB_ROOT, "p", 2, 60000, ARB_TRANSIENT);
	f = fake_new(s);
	fake_boot(f);
	for (int i = 0; i < 4; i++)
		fake_spawn(f, "p", NULL);
	fake_exit(f, "p/1", 1);
	fake_exit(f, "p/2", 0);
	fake_exit(f, "p/3", 1);
	fake_exit(f, "p/1", 1);
	fake_spawn(f, "p", NULL);
	fake_spawn(f, "p", NULL);
	fake_exit(f, "p/5", 1);
	fake_exit(f, "p/6", 1);
	fake_exit(f, "p/5", 1);
	assert_trace(f, "start root\nstart a\nstart p\n"
			"start p/1\nreply p/1 ok\nstart p/2\nreply p/2 ok\n"
			"start p/3\nreply p/3 ok\nstart p/4\nreply p/4 ok\n"
			"exit p/1 crash\nstart p/1\n"
			"exit p/2 normal\ndelete p/2\n"
			"exit p/3 crash\nstart p/3\n"
			"exit p/1 crash\ngiveup p\nstop p/4\nstop p/3\n"
			"delete p/4\ndelete p/3\ndelete p/1\n"
			"start p\n"
			"start p/5\nreply p/5 ok\nstart p/6\nreply p/6 ok\n"
			"exit p/5 crash\nstart p/5\nexit p/6 crash\nstart p/6\n"
			"exit p/5 crash\ngiveup p\nstop p/6\n"
			"delete p/6\ndelete p/5\n"
			"giveup root\nstop a\ndown\n");
	assert_int_equal(f->exit_code, 1);
	fake_free(f);
}

/* instances = K: K new instances at each start of the pool, numbered on. */
static void
test_pool_instances_numbered_across_restarts(void **state)
{
	struct fake *f = with_pool(5, ARB_PERMANENT, 2, 0);

	fake_boot(f);
	assert_trace(f, "start root\nstart a\nstart p\nstart p/1\nstart p/2\n"
			"start b\n");
	fake_clear(f);
	fake_request(f, "p", ARB_REQ_RESTART);
	assert_trace(f, "stop p/2\nstop p/1\ndelete p/2\ndelete p/1\nstop p\n"
			"start p\nstart p/3\nstart p/4\nreply p ok\n");
	assert_string_equal(children_of(f, fake_node(f, "p")), "3 4");
	/* A spawn goes on from there. */
	fake_clear(f);
	fake_spawn(f, "p", NULL);
	assert_trace(f, "start p/5\nreply p/5 ok\n");
	fake_free(f);
}

/* max_children: one more is refused, and does not use up a place. */
static void
test_pool_full(void **state)
{
	struct fake *f = with_pool(5, ARB_TEMPORARY, 0, 2);

	fake_boot(f);
	fake_spawn(f, "p", NULL);
	fake_spawn(f, "p", NULL);
	fake_clear(f);
	fake_spawn(f, "p", NULL);
	assert_trace(f, "delete p/3\nreply p/3 pool_full\n");
	fake_exit(f, "p/1", 0); /* temporary: gone, a place is free */
	fake_clear(f);
	fake_spawn(f, "p", NULL);
	assert_trace(f, "start p/4\nreply p/4 ok\n");
	assert_string_equal(children_of(f, fake_node(f, "p")), "2 4");
	fake_free(f);
}

/* OTP's simple_one_for_one refuses restart_child; terminate_child of an
 * instance is its end. */
static void
test_pool_instance_requests(void **state)
{
	struct fake *f = with_pool(5, ARB_PERMANENT, 0, 0);
	uint32_t p1;

	fake_boot(f);
	p1 = fake_spawn(f, "p", NULL);
	fake_spawn(f, "p", NULL);
	fake_clear(f);
	fake_request(f, "p/1", ARB_REQ_RESTART);
	assert_trace(f, "reply p/1 pool_instance\n");
	assert_int_equal(f->procs[p1].spawns, 1);
	fake_clear(f);
	fake_request(f, "p/1", ARB_REQ_STOP);
	assert_trace(f, "stop p/1\ndelete p/1\nreply p/1 ok\n");
	assert_string_equal(children_of(f, fake_node(f, "p")), "2");
	fake_free(f);
}

/* ---- auto shutdown, slots, intensity --------------------------------- */

/* A5: a supervisor that shuts itself down says so (event=shutdown). */
static void
test_auto_shutdown_reported(void **state)
{
	struct arb_spec *s = arb_spec_new();
	struct fake *f;
	uint32_t sub, x;

	fake_root(s, ARB_ONE_FOR_ONE, 5, 60000);
	sub = fake_sup(s, ARB_ROOT, "s", ARB_ONE_FOR_ONE, 5, 60000);
	s->nodes[sub].restart = ARB_TRANSIENT;
	s->nodes[sub].auto_shutdown = ARB_AUTO_ANY_SIGNIFICANT;
	x = fake_svc(s, sub, "x", ARB_TRANSIENT);
	s->nodes[x].significant = true;
	fake_svc(s, sub, "y", ARB_PERMANENT);
	f = fake_new(s);
	fake_boot(f);
	fake_clear(f);
	fake_exit(f, "s/x", 0);
	assert_trace(f, "exit s/x normal\nstop s/y\n");
	assert_int_equal(f->auto_shutdowns, 1);
	assert_int_equal(arb_tree_state(f->tree, sub), ARB_CHILD_DOWN);
	assert_int_equal(f->exit_code, -1);
	fake_free(f);
}

/* Slots are reused: adding and removing for ever does not grow the spec. */
static void
test_slot_reuse_bounded(void **state)
{
	struct fake *f = with_sub();
	uint32_t nnodes = 0;

	fake_boot(f);
	for (int i = 0; i < 1000; i++) {
		uint32_t x = fake_add(f, "s", "z", ARB_PERMANENT, ARB_NONE);

		assert_int_equal(arb_tree_state(f->tree, x), ARB_CHILD_UP);
		fake_request_at(f, x, ARB_REQ_REMOVE, OP, 0);
		/* Never more slots than the second round had: freed ones at
		 * the end are even given back. */
		if (i == 1)
			nnodes = f->spec->nnodes;
		if (i > 1)
			assert_true(f->spec->nnodes <= nnodes);
	}
	assert_string_equal(children_of(f, fake_node(f, "s")), "x y");
	assert_int_equal(f->replies, 2000);
	fake_clear(f);
	fake_shutdown(f);
	assert_trace(f, "stop b\nstop s/y\nstop s/x\nstop s\nstop a\ndown\n");
	fake_free(f);
}

/* The same with pool instances, through restarts of the pool. */
static void
test_slot_reuse_pool(void **state)
{
	struct fake *f = with_pool(1000, ARB_TRANSIENT, 2, 0);

	fake_boot(f);
	for (int i = 0; i < 300; i++) {
		fake_spawn(f, "p", NULL);
		fake_request(f, "p", ARB_REQ_RESTART);
		/* Root, pool, template, at most three instances, and the
		 * three that left last step: the slots stay few. */
		assert_true(f->spec->nnodes <= 10);
	}
	assert_int_equal(count_words(children_of(f, fake_node(f, "p"))), 2);
	fake_free(f);
}

/*
 * A new intensity keeps the restart history (sup_resize_history): s has
 * restarted once with intensity 2; at 1, the next crash gives up, which a
 * fresh history would not.
 */
static void
test_intensity_lowered_keeps_history(void **state)
{
	struct fake *f = with_sub();
	uint32_t sub = fake_node(f, "s");
	struct arb_spec *src = arb_spec_new();
	uint32_t keys = fake_sup(src, ARB_ROOT, "s", ARB_ONE_FOR_ONE, 1, 60000);

	fake_boot(f);
	f->spec->nodes[sub].intensity = 2;
	f->spec->generation++;
	fake_exit(f, "s/x", 1);
	assert_int_equal(arb_spec_assign(f->spec, sub, src, keys), 0);
	arb_spec_free(src);
	assert_int_equal(f->spec->nodes[sub].intensity, 1);
	fake_clear(f);
	fake_exit(f, "s/y", 1);
	assert_trace(f, "exit s/y crash\ngiveup s\nstop s/x\n"
			"start s\nstart s/x\nstart s/y\n");
	fake_free(f);
}

/* Raised from 1 to 3 after one restart: three more give up, not four. */
static void
test_intensity_raised_keeps_history(void **state)
{
	struct fake *f = with_sub();
	uint32_t sub = fake_node(f, "s");

	fake_boot(f);
	f->spec->nodes[sub].intensity = 1;
	f->spec->generation++;
	fake_exit(f, "s/x", 1);
	f->spec->nodes[sub].intensity = 3;
	f->spec->generation++;
	fake_exit(f, "s/x", 1);
	fake_exit(f, "s/x", 1);
	fake_clear(f);
	fake_exit(f, "s/x", 1);
	assert_trace(f, "exit s/x crash\ngiveup s\nstop s/y\n"
			"start s\nstart s/x\nstart s/y\n");
	fake_free(f);
}

/* ---- what may go wrong with queues and slots -------------------------- */

/*
 * A reload removes a dynamic temporary child that a group restart has
 * just terminated: the restart's end already deletes it (it is gone and
 * was added at run time), then the queued REMOVE finds it not present.
 * It must be deleted once: a slot freed twice would be handed out twice.
 */
static void
test_remove_queued_behind_restart_deletes_once(void **state)
{
	struct fake *f;
	uint32_t a, d, n1, n2;

	f = flat(ARB_ONE_FOR_ALL, "a b");
	a = fake_node(f, "a");
	fake_boot(f);
	d = fake_add(f, "/", "d", ARB_TEMPORARY, ARB_NONE);
	f->procs[a].ignore_term = true; /* the restart waits for a */
	fake_exit(f, "b", 1);
	fake_request_at(f, d, ARB_REQ_REMOVE, CONFIG, 0); /* queued */
	fake_clear(f);
	fake_advance(f, 5000);
	assert_trace(f, "stop a\nstart a\nstart b\ndelete d\nreply d ok\n");
	fake_request(f, "a", ARB_REQ_START); /* a step: d's slot is freed */
	/* Once: the last slot, it is given back whole, not listed free. */
	assert_int_equal(f->spec->nfree, 0);
	assert_int_equal(f->spec->nnodes, d);
	n1 = fake_graft_svc(f, ARB_ROOT, "n1", ARB_PERMANENT, true);
	n2 = fake_graft_svc(f, ARB_ROOT, "n2", ARB_PERMANENT, true);
	assert_int_equal(n1, d);
	assert_int_not_equal(n1, n2);
	fake_free(f);
}

/* The same for an operator's REMOVE: not_found (its spec is gone), no
 * second delete. */
static void
test_remove_operator_queued_behind_restart(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ALL, "a b");
	uint32_t a = fake_node(f, "a"), d;

	fake_boot(f);
	d = fake_add(f, "/", "d", ARB_TEMPORARY, ARB_NONE);
	f->procs[a].ignore_term = true;
	fake_exit(f, "b", 1);
	fake_request_at(f, d, ARB_REQ_REMOVE, OP, 0);
	fake_clear(f);
	fake_advance(f, 5000);
	/* Gone as asked: the removal is done. */
	assert_trace(f, "stop a\nstart a\nstart b\ndelete d\n"
			"reply d ok\n");
	fake_free(f);
}

/* A supervisor removed while one of its children waits out a delay. */
static void
test_remove_supervisor_with_child_in_backoff(void **state)
{
	struct fake *f = with_sub();
	uint32_t x = fake_node(f, "s/x");

	f->spec->nodes[x].restart_delay_ms = 1000;
	f->spec->nodes[x].restart_delay_max_ms = 1000;
	fake_boot(f);
	fake_exit(f, "s/x", 1);
	fake_clear(f);
	fake_request(f, "s", ARB_REQ_REMOVE);
	fake_advance(f, 5000);
	assert_trace(f, "stop s/y\nstop s\ndelete s/y\ndelete s/x\n"
			"delete s\nreply s ok\n");
	assert_string_equal(children_of(f, ARB_ROOT), "a b");
	fake_free(f);
}

/*
 * An operator's ADD waiting behind a job of a supervisor whose stop is
 * asked meanwhile: the supervisor is STOPPING when the ADD comes out of
 * its queue, so it is refused as not running and the node leaves, never
 * started. (OTP's supervisor would run start_child first: the call came
 * before the exit signal. arbor does not start what it is stopping.)
 */
static void
test_add_queued_then_supervisor_down(void **state)
{
	struct fake *f = with_sub();
	uint32_t y = fake_node(f, "s/y"), z;

	fake_boot(f);
	f->procs[y].ignore_term = true;
	fake_request(f, "s/y", ARB_REQ_STOP); /* s busy until y dies */
	z = fake_graft_svc(f, fake_node(f, "s"), "z", ARB_PERMANENT, true);
	fake_request_at(f, z, ARB_REQ_ADD, OP, ARB_NONE);
	fake_clear(f);
	fake_request(f, "s", ARB_REQ_STOP); /* queued behind s/y's stop */
	fake_advance(f, 5000);
	assert_trace(f, "stop s/y\nreply s/y ok\n"
			"delete s/z\nreply s/z not_running\n"
			"stop s/x\nstop s\nreply s ok\n");
	assert_int_equal(f->procs[z].spawns, 0);
	assert_string_equal(children_of(f, fake_node(f, "s")), "x y");
	fake_free(f);
}

/*
 * OTP deletes a temporary child's spec when it ends, so start_child of
 * its name then succeeds; arbor keeps a configured temporary child that
 * ended (not present) among the children and refuses the name.
 */
static void
test_add_name_of_ended_temporary(void **state)
{
	struct arb_spec *s;
	struct fake *f;

	s = arb_spec_new();
	fake_root(s, ARB_ONE_FOR_ONE, 5, 60000);
	fake_svc(s, ARB_ROOT, "t", ARB_TEMPORARY);
	f = fake_new(s);
	fake_boot(f);
	fake_exit(f, "t", 0);
	fake_clear(f);
	fake_add(f, "/", "t", ARB_TEMPORARY, ARB_NONE);
	/* The ended t had lost its spec (C2): it leaves for the new one. */
	assert_trace(f, "delete t\nstart t\nreply t ok\n");
	fake_free(f);
}

/* An ADD at the front waits for a group restart in progress; positions
 * move after it, and the next restart's group is the right one. */
static void
test_add_at_front_after_group_restart(void **state)
{
	struct fake *f = flat(ARB_REST_FOR_ONE, "a b c");
	uint32_t c = fake_node(f, "c");

	fake_boot(f);
	f->procs[c].ignore_term = true;
	fake_exit(f, "b", 1); /* rest_for_one: stop c (slow), start b c */
	fake_add(f, "/", "x", ARB_PERMANENT, 0); /* queued */
	fake_clear(f);
	fake_advance(f, 5000);
	assert_trace(f, "stop c\nstart b\nstart c\nstart x\nreply x ok\n");
	assert_string_equal(children_of(f, ARB_ROOT), "x a b c");
	f->procs[c].ignore_term = false;
	fake_clear(f);
	fake_exit(f, "a", 1);
	assert_trace(f, "exit a crash\nstop c\nstop b\n"
			"start a\nstart b\nstart c\n");
	fake_free(f);
}

/* ---- subtrees and pools added at run time, instances and requests ----- */

/* start_child of a supervisor with children: its subtree starts in order;
 * its remove stops it in reverse and deletes the deepest first. */
static void
test_add_and_remove_subtree(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ONE, "a");
	struct arb_spec *src = arb_spec_new();
	uint32_t sub = fake_sup(src, ARB_ROOT, "t", ARB_ONE_FOR_ALL, 3, 5000);
	uint32_t inner = fake_sup(src, sub, "u", ARB_ONE_FOR_ONE, 3, 5000);
	uint32_t t;

	fake_svc(src, sub, "x", ARB_PERMANENT);
	fake_svc(src, inner, "y", ARB_PERMANENT);
	fake_boot(f);
	t = fake_graft(f, ARB_ROOT, src, sub, true);
	arb_spec_free(src);
	fake_clear(f);
	fake_request_at(f, t, ARB_REQ_ADD, OP, ARB_NONE);
	assert_trace(f, "start t\nstart t/u\nstart t/u/y\nstart t/x\n"
			"reply t ok\n");
	fake_clear(f);
	fake_request_at(f, t, ARB_REQ_REMOVE, OP, 0);
	assert_trace(f, "stop t/x\nstop t/u/y\nstop t/u\nstop t\n"
			"delete t/x\ndelete t/u/y\ndelete t/u\ndelete t\n"
			"reply t ok\n");
	assert_string_equal(children_of(f, ARB_ROOT), "a");
	fake_free(f);
}

/* A pool added at run time brings its template; spawns work in it. */
static void
test_add_pool_at_run_time(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ONE, "a");
	struct arb_spec *src = arb_spec_new();
	uint32_t pool = fake_pool(src, ARB_ROOT, "q", 3, 5000, ARB_PERMANENT);
	uint32_t q;

	src->nodes[pool].instances = 1;
	fake_boot(f);
	q = fake_graft(f, ARB_ROOT, src, pool, true);
	arb_spec_free(src);
	assert_int_not_equal(f->spec->nodes[q].template_node, ARB_NONE);
	fake_clear(f);
	fake_request_at(f, q, ARB_REQ_ADD, OP, ARB_NONE);
	fake_spawn(f, "q", NULL);
	assert_trace(f, "start q\nstart q/1\nreply q ok\n"
			"start q/2\nreply q/2 ok\n");
	fake_free(f);
}

/* terminate_child of an instance waiting out its restart delay is its
 * end, as for a running one: it leaves the pool. */
static void
test_pool_stop_instance_in_backoff(void **state)
{
	struct fake *f;
	uint32_t tmpl, p1;

	f = with_pool(5, ARB_PERMANENT, 0, 0);
	tmpl = f->spec->nodes[fake_node(f, "p")].template_node;
	f->spec->nodes[tmpl].restart_delay_ms = 1000;
	f->spec->nodes[tmpl].restart_delay_max_ms = 1000;
	fake_boot(f);
	p1 = fake_spawn(f, "p", NULL);
	fake_exit(f, "p/1", 1);
	assert_int_equal(arb_tree_state(f->tree, p1), ARB_CHILD_RESTARTING);
	fake_clear(f);
	fake_request(f, "p/1", ARB_REQ_STOP);
	fake_advance(f, 5000);
	assert_trace(f, "delete p/1\nreply p/1 ok\n");
	assert_string_equal(children_of(f, fake_node(f, "p")), "");
	fake_free(f);
}

/* A pool stopped while one of its instances waits out a delay: that
 * restart is cancelled, every instance leaves. */
static void
test_pool_stopped_with_instance_in_backoff(void **state)
{
	struct fake *f = with_pool(5, ARB_PERMANENT, 0, 0);
	uint32_t tmpl = f->spec->nodes[fake_node(f, "p")].template_node;

	f->spec->nodes[tmpl].restart_delay_ms = 1000;
	f->spec->nodes[tmpl].restart_delay_max_ms = 1000;
	fake_boot(f);
	fake_spawn(f, "p", NULL);
	fake_spawn(f, "p", NULL);
	fake_exit(f, "p/1", 1);
	fake_clear(f);
	fake_request(f, "p", ARB_REQ_STOP);
	fake_advance(f, 5000);
	assert_trace(f, "stop p/2\ndelete p/2\ndelete p/1\nstop p\n"
			"reply p ok\n");
	fake_free(f);
}

/* A CHANGE of a running instance (its pool's template changed) restarts
 * it into its new keys, like any service: it stays in the pool. */
static void
test_pool_change_instance(void **state)
{
	struct fake *f;
	uint32_t p1;

	f = with_pool(5, ARB_PERMANENT, 0, 0);
	fake_boot(f);
	p1 = fake_spawn(f, "p", NULL);
	pend_stop_timeout(f, p1, 4321);
	fake_clear(f);
	fake_request_at(f, p1, ARB_REQ_CHANGE, CONFIG, 0);
	assert_trace(f, "stop p/1\nstart p/1\nreply p/1 ok\n");
	assert_int_equal(arb_tree_state(f->tree, p1), ARB_CHILD_UP);
	assert_int_equal(f->spec->nodes[p1].stop_timeout_ms, 4321);
	fake_free(f);
}

/*
 * A remove while the added child's process has not exec'ed (a hung cwd):
 * its start is cancelled (SIGKILL), the ADD fails and the node leaves;
 * the REMOVE behind it finds nothing left.
 */
static void
test_remove_cancels_hung_add(void **state)
{
	struct fake *f = flat(ARB_ONE_FOR_ONE, "a");
	uint32_t x;

	fake_boot(f);
	x = fake_graft_svc(f, ARB_ROOT, "x", ARB_PERMANENT, true);
	f->procs[x].hang_spawns = true;
	fake_request_at(f, x, ARB_REQ_ADD, OP, ARB_NONE);
	assert_int_equal(arb_tree_state(f->tree, x), ARB_CHILD_STARTING);
	fake_clear(f);
	fake_request_at(f, x, ARB_REQ_REMOVE, OP, 0);
	assert_trace(f, "start_failed x\nreply x start_failed\n"
			"delete x\nreply x ok\n");
	assert_string_equal(children_of(f, ARB_ROOT), "a");
	assert_false(arb_tree_busy(f->tree, ARB_ROOT));
	fake_free(f);
}

/* The same removed by a reload: one delete only (see
 * test_remove_queued_behind_restart_deletes_once). */
static void
test_config_remove_cancels_hung_add(void **state)
{
	struct fake *f;
	uint32_t x;

	f = flat(ARB_ONE_FOR_ONE, "a");
	fake_boot(f);
	x = fake_graft_svc(f, ARB_ROOT, "x", ARB_PERMANENT, true);
	f->procs[x].hang_spawns = true;
	fake_request_at(f, x, ARB_REQ_ADD, OP, ARB_NONE);
	fake_clear(f);
	fake_request_at(f, x, ARB_REQ_REMOVE, CONFIG, 0);
	assert_trace(f, "start_failed x\nreply x start_failed\n"
			"delete x\nreply x ok\n");
	fake_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_running_supervisor),
		cmocka_unit_test(test_add_at_position),
		cmocka_unit_test(test_add_existing_name),
		cmocka_unit_test(test_add_operator_to_down_supervisor),
		cmocka_unit_test(test_add_config_to_down_supervisor),
		cmocka_unit_test(test_add_joins_group_restart_order),
		cmocka_unit_test(test_add_operator_start_fails),
		cmocka_unit_test(test_add_config_start_fails),
		cmocka_unit_test(test_remove_oracle_30),
		cmocka_unit_test(test_remove_ended_temporary),
		cmocka_unit_test(test_remove_in_backoff),
		cmocka_unit_test(test_remove_under_down_supervisor),
		cmocka_unit_test(test_change_restarts_alone),
		cmocka_unit_test(test_change_temporary_survives),
		cmocka_unit_test(test_change_down_child),
		cmocka_unit_test(test_reorder_rules_group_restart),
		cmocka_unit_test(test_reorder_partial_and_foreign),
		cmocka_unit_test(test_restarted_supervisor_drops_dynamic),
		cmocka_unit_test(test_pool_oracle_34),
		cmocka_unit_test(test_pool_transient_normal_exit_deletes),
		cmocka_unit_test(test_pool_stops_instances_at_once),
		cmocka_unit_test(test_pool_oracle_35),
		cmocka_unit_test(test_pool_instances_numbered_across_restarts),
		cmocka_unit_test(test_pool_full),
		cmocka_unit_test(test_pool_instance_requests),
		cmocka_unit_test(test_auto_shutdown_reported),
		cmocka_unit_test(test_slot_reuse_bounded),
		cmocka_unit_test(test_slot_reuse_pool),
		cmocka_unit_test(test_intensity_lowered_keeps_history),
		cmocka_unit_test(test_intensity_raised_keeps_history),
		cmocka_unit_test(test_remove_queued_behind_restart_deletes_once),
		cmocka_unit_test(test_remove_operator_queued_behind_restart),
		cmocka_unit_test(test_remove_supervisor_with_child_in_backoff),
		cmocka_unit_test(test_add_queued_then_supervisor_down),
		cmocka_unit_test(test_add_name_of_ended_temporary),
		cmocka_unit_test(test_add_at_front_after_group_restart),
		cmocka_unit_test(test_add_and_remove_subtree),
		cmocka_unit_test(test_add_pool_at_run_time),
		cmocka_unit_test(test_pool_stop_instance_in_backoff),
		cmocka_unit_test(test_pool_stopped_with_instance_in_backoff),
		cmocka_unit_test(test_pool_change_instance),
		cmocka_unit_test(test_remove_cancels_hung_add),
		cmocka_unit_test(test_config_remove_cancels_hung_add),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
