/*
 * test_plan.c - the reload plan (core/plan.c) and its JSON
 * (control/plan_json.c): issue 12 item 1, rule by rule.
 *
 * Each test builds a live spec and a next one from the same base tree,
 * edits one of them, and compares the plan written one step a line:
 *   "remove PATH" / "add PATH" / "reorder PATH [a b c]" /
 *   "change PATH APPLY key=old->new ..." (an unset value is "-").
 * The last tests load the golden configurations through the loader.
 * Until spec_edit.c lands, the living tree's marks (dynamic, unused,
 * is_template, pending) are set by hand.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "control/plan_json.h"
#include "core/mem.h"
#include "core/plan.h"
#include "core/spec.h"
#include "signames.h"

/* ---- Building specs ---- */

static char **
strv(const char *first, va_list ap)
{
	char **v = arb_calloc(16, sizeof(*v));
	uint32_t n = 0;

	assert_non_null(v);
	for (const char *a = first; a; a = va_arg(ap, const char *)) {
		assert_true(n < 15);
		v[n] = arb_strdup(a);
		assert_non_null(v[n++]);
	}
	return v;
}

static void
set_argv(struct arb_spec *s, uint32_t i, const char *first, ...)
{
	va_list ap;
	char **words;

	va_start(ap, first);
	words = strv(first, ap);
	va_end(ap);
	/* A node's argv is packed in one block (arb_spec_strv_pack). */
	arb_free(s->nodes[i].argv);
	s->nodes[i].argv = arb_spec_strv_pack(words);
	assert_non_null(s->nodes[i].argv);
	arb_spec_strv_free(words);
	arb_free(s->nodes[i].exec_path);
	s->nodes[i].exec_path = arb_strdup(s->nodes[i].argv[0]);
}

static void
set_env(struct arb_spec *s, uint32_t i, const char *first, ...)
{
	va_list ap;

	va_start(ap, first);
	arb_spec_strv_free(s->nodes[i].env);
	s->nodes[i].env = strv(first, ap);
	va_end(ap);
}

static uint32_t
svc(struct arb_spec *s, uint32_t parent, const char *name)
{
	uint32_t i = arb_spec_add(s, parent, ARB_NODE_SERVICE, name, "t.conf",
				  1);

	assert_int_not_equal(i, ARB_NONE);
	set_argv(s, i, "/bin/sleep", "1000", NULL);
	return i;
}

static uint32_t
sup(struct arb_spec *s, uint32_t parent, const char *name)
{
	uint32_t i = arb_spec_add(s, parent, ARB_NODE_SUPERVISOR, name,
				  "t.conf", 1);

	assert_int_not_equal(i, ARB_NONE);
	return i;
}

/* Takes node i out of its parent's children, as the living tree has it
 * (a free slot, a template); the spec still frees it. */
static void
unlink_child(struct arb_spec *s, uint32_t i)
{
	struct arb_spec_node *p = &s->nodes[s->nodes[i].parent];

	for (uint32_t j = 0; j < p->nchildren; j++) {
		if (p->children[j] != i)
			continue;
		memmove(&p->children[j], &p->children[j + 1],
			(p->nchildren - j - 1) * sizeof(*p->children));
		p->nchildren--;
		return;
	}
	fail_msg("%s is not a child", s->nodes[i].path);
}

/* A pool whose template runs `exec`; its instances are added by hand. */
static uint32_t
pool(struct arb_spec *s, uint32_t parent, const char *name)
{
	uint32_t p = sup(s, parent, name), t;

	s->nodes[p].strategy = ARB_SIMPLE_ONE_FOR_ONE;
	t = svc(s, p, "template");
	unlink_child(s, t);
	s->nodes[t].is_template = true;
	s->nodes[p].template_node = t;
	return p;
}

/*
 *   /  (root)
 *     web (supervisor): app, worker
 *     db
 *     cache
 */
static struct arb_spec *
base(void)
{
	struct arb_spec *s = arb_spec_new();
	uint32_t web;

	assert_non_null(s);
	web = sup(s, ARB_ROOT, "web");
	svc(s, web, "app");
	svc(s, web, "worker");
	svc(s, ARB_ROOT, "db");
	svc(s, ARB_ROOT, "cache");
	return s;
}

static uint32_t
node(const struct arb_spec *s, const char *path)
{
	uint32_t i = arb_spec_find(s, path);

	assert_int_not_equal(i, ARB_NONE);
	return i;
}

/* ---- The plan, written one step a line ---- */

static char written[8192];

static void
put(const char *fmt, ...)
{
	size_t len = strlen(written);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(written + len, sizeof(written) - len, fmt, ap);
	va_end(ap);
}

static const char *
write_plan(const struct arb_plan *p, const struct arb_spec *live,
	   const struct arb_spec *next)
{
	uint32_t counts[_ARB_PLAN_OP_MAX] = {0};

	written[0] = '\0';
	for (uint32_t i = 0; i < p->nsteps; i++) {
		const struct arb_plan_step *st = &p->steps[i];

		counts[st->op]++;
		put("%s ", arb_plan_op_name(st->op));
		switch (st->op) {
		case ARB_PLAN_REMOVE:
			assert_int_equal(st->next, ARB_NONE);
			put("%s", live->nodes[st->live].path);
			break;
		case ARB_PLAN_ADD:
			assert_int_equal(st->live, ARB_NONE);
			put("%s", next->nodes[st->next].path);
			break;
		case ARB_PLAN_CHANGE:
			assert_string_equal(live->nodes[st->live].path,
					    next->nodes[st->next].path);
			put("%s %s", next->nodes[st->next].path,
			    arb_plan_apply_name(st->apply));
			for (uint32_t k = 0; k < st->nkeys; k++)
				put(" %s=%s->%s", st->keys[k].key,
				    st->keys[k].old_value ?
					    st->keys[k].old_value : "-",
				    st->keys[k].new_value ?
					    st->keys[k].new_value : "-");
			break;
		case ARB_PLAN_REORDER:
			put("%s [", next->nodes[st->next].path);
			for (uint32_t k = 0; k < st->norder; k++)
				put("%s%s", k ? " " : "", st->order[k]);
			put("]");
			break;
		default:
			fail();
		}
		put("\n");
	}
	assert_int_equal(p->removes, counts[ARB_PLAN_REMOVE]);
	assert_int_equal(p->changes, counts[ARB_PLAN_CHANGE]);
	assert_int_equal(p->reorders, counts[ARB_PLAN_REORDER]);
	assert_int_equal(p->adds, counts[ARB_PLAN_ADD]);
	return written;
}

/* Diffs, checks the plan's lines, frees both specs. */
static void
assert_plan(struct arb_spec *live, struct arb_spec *next,
	    const char *expected)
{
	struct arb_plan p;

	assert_int_equal(arb_plan_diff(live, next, &p), 0);
	assert_string_equal(write_plan(&p, live, next), expected);
	arb_plan_free(&p);
	arb_spec_free(live);
	arb_spec_free(next);
}

/* ---- Tests ---- */

/* The same configuration loaded twice: nothing to do. */
static void
test_no_change(void **state)
{
	struct arb_spec *next = base();
	struct arb_spec_node *app = &next->nodes[node(next, "web/app")];

	/* An explicit default is no change: values are compared. */
	app->defaulted &= ~(unsigned)(ARB_DEF_STOP_TIMEOUT | ARB_DEF_ENV);
	app->stop_timeout_ms = ARB_DEFAULT_STOP_TIMEOUT_MS;
	set_env(next, node(next, "web/app"), NULL);
	app = &next->nodes[node(next, "web/app")];
	app->log.given |= ARB_LOG_KEEP;
	/* Where a node is defined is not a key. */
	app->line = 42;
	assert_plan(base(), next, "");
}

/* Only in next: one ADD for the top of an added subtree. */
static void
test_add(void **state)
{
	struct arb_spec *next = base();
	uint32_t q = sup(next, node(next, "web"), "queue");

	svc(next, q, "broker");
	svc(next, q, "relay");
	svc(next, ARB_ROOT, "metrics");
	assert_plan(base(), next, "add web/queue\nadd metrics\n");
}

/* Only in live: one REMOVE for the top of a removed subtree. */
static void
test_remove(void **state)
{
	struct arb_spec *live = base();
	uint32_t q = sup(live, node(live, "web"), "queue");

	svc(live, q, "broker");
	assert_plan(live, base(), "remove web/queue\n");
}

/* Issue 12 item 2: a reload leaves children added at run time alone. */
static void
test_dynamic_child_left_alone(void **state)
{
	struct arb_spec *live = base();
	uint32_t d = svc(live, node(live, "web"), "extra");

	live->nodes[d].dynamic = true;
	d = sup(live, ARB_ROOT, "added");
	live->nodes[d].dynamic = true;
	svc(live, d, "below");
	assert_plan(live, base(), "");
}

/* ... unless the configuration now names the same child: its spec wins. */
static void
test_dynamic_child_named_by_the_configuration(void **state)
{
	struct arb_spec *live = base(), *next = base();
	uint32_t d = svc(live, ARB_ROOT, "same");

	live->nodes[d].dynamic = true;
	d = svc(live, ARB_ROOT, "other");
	live->nodes[d].dynamic = true;
	d = svc(live, ARB_ROOT, "kind");
	live->nodes[d].dynamic = true;
	svc(next, ARB_ROOT, "same");
	d = svc(next, ARB_ROOT, "other");
	next->nodes[d].stop_timeout_ms = 1000;
	sup(next, ARB_ROOT, "kind");
	assert_plan(live, next,
		    "remove kind\n"
		    "change same in-place\n"
		    "change other in-place stop_timeout=5s->1s\n"
		    "add kind\n");
}

/*
 * The same sinks, written or left to arbord's default (which adds the
 * console as an init): a change, since the sinks in force differ.
 */
static void
test_log_sinks_written_or_default(void **state)
{
	struct arb_spec *next = base();
	struct arb_spec_node *app = &next->nodes[node(next, "web/app")];

	app->log.given |= ARB_LOG_SINKS;
	assert_plan(base(), next,
		    "change web/app in-place log.sinks=[ \"ring\" ] # default"
		    "->[ \"ring\" ]\n");
}

static struct arb_cg_limits *
limits_of(struct arb_spec_node *n)
{
	n->limits = arb_calloc(1, sizeof(*n->limits));
	assert_non_null(n->limits);
	n->limits->cpu_period_us = ARB_CG_DEFAULT_CPU_PERIOD_US;
	return n->limits;
}

/*
 * Issue 15: cgroup limits are written into a running service's cgroup,
 * and a supervisor's into its subtree's: in place, no restart; one given
 * and one lifted show as set and unset.
 */
static void
test_cg_limits_change_in_place(void **state)
{
	struct arb_spec *live = base(), *next = base();
	struct arb_cg_limits *was = limits_of(&live->nodes[node(live,
								"web/app")]);
	struct arb_cg_limits *l = limits_of(&next->nodes[node(next,
							      "web/app")]);
	struct arb_cg_limits *web = limits_of(&next->nodes[node(next, "web")]);

	was->memory_max = 32u << 20;
	was->pids_max = 20;
	was->given = ARB_CG_MEMORY_MAX | ARB_CG_PIDS_MAX;
	l->memory_max = 64u << 20;
	l->cpu_max_us = 10000;
	l->given = ARB_CG_MEMORY_MAX | ARB_CG_CPU_MAX;
	web->memory_max = 1ull << 30;
	web->given = ARB_CG_MEMORY_MAX;
	assert_plan(live, next,
		    "change web in-place memory_max=-->\"1G\"\n"
		    "change web/app in-place memory_max=\"32M\"->\"64M\""
		    " cpu_max=-->\"10%\" pids_max=20->-\n");
}

/* Keys arbord reads itself: applied in place, no process touched. */
static void
test_service_change_in_place(void **state)
{
	struct arb_spec *next = base();
	struct arb_spec_node *app = &next->nodes[node(next, "web/app")];

	app->stop_timeout_ms = 10000;
	app->stop_signal = 2;
	app->restart = ARB_TRANSIENT;
	arb_spec_set_normal_exit(app, 3);
	arb_spec_set_normal_exit(app, 143);
	app->log.file = arb_strdup("/var/log/app.log");
	app->log.sinks |= ARB_SINK_FILE;
	app->log.given |= ARB_LOG_SINKS; /* written, as the loader marks it */
	app->forward_signals = 1u << 1 | 1u << 10;
	assert_plan(base(), next,
		    "change web/app in-place restart=permanent->transient"
		    " stop_signal=TERM->INT stop_timeout=5s->10s"
		    " normal_exit=[ ]->[ 3, 143 ]"
		    " log.sinks=[ \"ring\" ] # default->[ \"ring\", \"file\" ]"
		    " log.file=-->/var/log/app.log"
		    " forward_signals=[ ]->[ \"HUP\", \"USR1\" ]\n");
}

/* Any other key: the service restarts alone. */
static void
test_service_change_restart(void **state)
{
	struct arb_spec *next = base();
	uint32_t app = node(next, "web/app");

	set_argv(next, app, "/bin/sleep", "2000", NULL);
	set_env(next, app, "A=1", "B=two words", NULL);
	next->nodes[app].cwd = arb_strdup("/srv");
	next->nodes[app].stop_timeout_ms = 1500;
	next->nodes[app].umask = 022;
	next->nodes[app].ready = ARB_READY_FD;
	next->nodes[app].ready_fd = 3;
	assert_plan(base(), next,
		    "change web/app restart"
		    " exec=[ \"/bin/sleep\", \"1000\" ]->"
		    "[ \"/bin/sleep\", \"2000\" ]"
		    " stop_timeout=5s->1500ms ready=exec->fd:3"
		    " env=[ ]->[ \"A=1\", \"B=two words\" ] cwd=-->/srv"
		    " umask=-->0022\n");
}

/* on_change = "next-start": taken at the service's next start. */
static void
test_service_change_next_start(void **state)
{
	struct arb_spec *live = base(), *next = base();
	uint32_t app = node(next, "web/app");

	set_env(next, app, "A=2", NULL);
	next->nodes[app].on_change = ARB_ON_CHANGE_NEXT_START;
	/* Only keys arbord reads: in place even so. */
	next->nodes[node(next, "db")].on_change = ARB_ON_CHANGE_NEXT_START;
	next->nodes[node(next, "db")].restart_delay_ms = 100;
	assert_plan(live, next,
		    "change web/app next-start env=[ ]->[ \"A=2\" ]"
		    " on_change=restart->next-start\n"
		    "change db in-place restart_delay=0ms->100ms"
		    " on_change=restart->next-start\n");
}

/*
 * user and group are reported once, not each field they resolve to: a
 * new user's primary group is the user's change, a group given where
 * there was none the group's alone.
 */
static void
test_identity(void **state)
{
	struct arb_spec *live = base(), *next = base();
	struct arb_spec_node *a = &live->nodes[node(live, "db")];
	struct arb_spec_node *b = &next->nodes[node(next, "db")];

	a->defaulted &= ~(unsigned)ARB_DEF_USER;
	a->set_ids = true;
	a->uid = a->gid = 33;
	assert_int_equal(arb_spec_set_account(a, "www", "/var/www", "/bin/sh"),
			 0);
	b->defaulted &= ~(unsigned)(ARB_DEF_USER | ARB_DEF_GROUP);
	b->set_ids = true;
	b->uid = 33;
	b->gid = 50;
	assert_int_equal(arb_spec_set_account(b, "www", "/var/www", "/bin/sh"),
			 0);
	/* The same name resolved to another home: still a change. */
	a = &live->nodes[node(live, "cache")];
	b = &next->nodes[node(next, "cache")];
	a->defaulted &= ~(unsigned)ARB_DEF_USER;
	b->defaulted &= ~(unsigned)ARB_DEF_USER;
	assert_int_equal(arb_spec_set_account(a, "app", "/home/app", NULL), 0);
	assert_int_equal(arb_spec_set_account(b, "app", "/srv/app", NULL), 0);
	assert_plan(live, next,
		    "change db restart group=-->50\n"
		    "change cache restart"
		    " user=app # uid=0 gid=0 groups= home=/home/app shell=->"
		    "app # uid=0 gid=0 groups= home=/srv/app shell=\n");
}

/* A supervisor's flags and the spec-wide keys (the root's): in place. */
static void
test_supervisor_flags(void **state)
{
	struct arb_spec *next = base();
	struct arb_spec_node *web = &next->nodes[node(next, "web")];

	web->strategy = ARB_REST_FOR_ONE;
	web->intensity = 10;
	web->period_ms = 60000;
	web->auto_shutdown = ARB_AUTO_ANY_SIGNIFICANT;
	web->shutdown = ARB_SHUTDOWN_PARALLEL;
	next->nodes[ARB_ROOT].intensity = 1;
	next->control_group = arb_strdup("wheel");
	next->control_gid = 10;
	next->on_giveup = ARB_GIVEUP_SHELL;
	next->exit_status = ARB_EXIT_STATUS_SIGNIFICANT;
	next->exit_sigterm_ok = true;
	assert_plan(base(), next,
		    "change / in-place intensity=3->1 control_group=-->wheel"
		    " on_giveup=reboot->shell exit_status=root->significant"
		    " exit_sigterm_ok=false->true\n"
		    "change web in-place strategy=one_for_one->rest_for_one"
		    " intensity=3->10 period=5s->1min"
		    " auto_shutdown=never->any_significant"
		    " shutdown=ordered->parallel\n");
}

/* The kept children's relative order changed; an add in the middle
 * alone is no reorder. */
static void
test_reorder(void **state)
{
	struct arb_spec *live = base(), *next = arb_spec_new();
	uint32_t web, d;

	d = svc(live, ARB_ROOT, "late");
	live->nodes[d].dynamic = true;
	svc(next, ARB_ROOT, "cache");
	web = sup(next, ARB_ROOT, "web");
	svc(next, web, "app");
	svc(next, web, "new");
	svc(next, web, "worker");
	svc(next, ARB_ROOT, "mid");
	svc(next, ARB_ROOT, "db");
	assert_plan(live, next,
		    "reorder / [cache web mid db late]\n"
		    "add web/new\nadd mid\n");
}

/* A child that keeps its place among kept ones but trails a dynamic one
 * moves behind it: configured children come first. */
static void
test_reorder_dynamic_last(void **state)
{
	struct arb_spec *live = arb_spec_new(), *next = arb_spec_new();
	uint32_t d;

	svc(live, ARB_ROOT, "a");
	d = svc(live, ARB_ROOT, "dyn");
	live->nodes[d].dynamic = true;
	svc(live, ARB_ROOT, "b");
	svc(next, ARB_ROOT, "a");
	svc(next, ARB_ROOT, "b");
	assert_plan(live, next, "reorder / [a b dyn]\n");
}

/* A child moved to another supervisor: a remove and an add. */
static void
test_move_between_parents(void **state)
{
	struct arb_spec *next = arb_spec_new();
	uint32_t web, jobs;

	web = sup(next, ARB_ROOT, "web");
	svc(next, web, "worker");
	svc(next, ARB_ROOT, "db");
	svc(next, ARB_ROOT, "cache");
	jobs = sup(next, ARB_ROOT, "jobs");
	svc(next, jobs, "app");
	assert_plan(base(), next, "remove web/app\nadd jobs\n");
}

/* service <-> supervisor, pool <-> supervisor: a remove and an add. */
static void
test_kind_change(void **state)
{
	struct arb_spec *live = base(), *next = base();

	pool(live, ARB_ROOT, "p");
	sup(next, ARB_ROOT, "p");
	/* db becomes a supervisor; web becomes a pool. */
	arb_spec_free(next);
	next = arb_spec_new();
	pool(next, ARB_ROOT, "web");
	sup(next, ARB_ROOT, "db");
	svc(next, ARB_ROOT, "cache");
	sup(next, ARB_ROOT, "p");
	assert_plan(live, next,
		    "remove p\nremove db\nremove web\n"
		    "add web\nadd db\nadd p\n");
}

/* A pool: its flags, max_children, instances and template.KEY; its
 * instances are never compared. */
static void
test_pool_template_change(void **state)
{
	struct arb_spec *live = base(), *next = base();
	uint32_t lp = pool(live, ARB_ROOT, "jobs");
	uint32_t np = pool(next, ARB_ROOT, "jobs"), i;

	i = svc(live, lp, "1");
	live->nodes[i].dynamic = true;
	svc(live, lp, "2"); /* even one not marked */
	next->nodes[np].max_children = 10;
	next->nodes[np].instances = 2;
	set_argv(next, next->nodes[np].template_node, "/bin/worker", NULL);
	next->nodes[next->nodes[np].template_node].stop_signal = 9;
	assert_plan(live, next,
		    "change jobs in-place max_children=0->10 instances=0->2"
		    " template.exec=[ \"/bin/sleep\", \"1000\" ]->"
		    "[ \"/bin/worker\" ] template.stop_signal=TERM->KILL\n");
}

/* A service with pending keys is compared as what it will become. */
static void
test_pending_compared(void **state)
{
	struct arb_spec *live = base(), *pend = base(), *next;
	uint32_t app = node(live, "web/app"), worker = node(live, "web/worker");
	struct arb_plan p;

	set_argv(pend, node(pend, "web/app"), "/bin/new", NULL);
	live->nodes[app].pending = &pend->nodes[node(pend, "web/app")];
	set_argv(pend, node(pend, "web/worker"), "/bin/new", NULL);
	live->nodes[worker].pending = &pend->nodes[node(pend, "web/worker")];

	/* next is the pending spec: nothing more to do. */
	next = base();
	set_argv(next, node(next, "web/app"), "/bin/new", NULL);
	set_argv(next, node(next, "web/worker"), "/bin/new", NULL);
	assert_int_equal(arb_plan_diff(live, next, &p), 0);
	assert_string_equal(write_plan(&p, live, next), "");
	arb_plan_free(&p);
	arb_spec_free(next);

	/* Another exec: from the pending one. Back to the running exec with
	 * a new stop_timeout: in place, the process runs it already. */
	next = base();
	set_argv(next, node(next, "web/app"), "/bin/newer", NULL);
	next->nodes[node(next, "web/worker")].stop_timeout_ms = 1000;
	assert_int_equal(arb_plan_diff(live, next, &p), 0);
	assert_string_equal(write_plan(&p, live, next),
			    "change web/app restart exec=[ \"/bin/new\" ]->"
			    "[ \"/bin/newer\" ]\n"
			    "change web/worker in-place"
			    " exec=[ \"/bin/new\" ]->"
			    "[ \"/bin/sleep\", \"1000\" ]"
			    " stop_timeout=5s->1s\n");
	arb_plan_free(&p);
	arb_spec_free(next);
	live->nodes[app].pending = NULL;
	live->nodes[worker].pending = NULL;
	arb_spec_free(live);
	arb_spec_free(pend);
}

/*
 * The living tree's array: not in pre-order, with free slots and a
 * template that are nobody's child. Only children[] is walked.
 */
static void
test_holes_and_order_of_the_array(void **state)
{
	struct arb_spec *live = base();
	uint32_t web = node(live, "web"), hole, tmp;
	struct arb_spec_node *root = &live->nodes[ARB_ROOT];

	hole = svc(live, web, "gone");
	unlink_child(live, hole);
	live->nodes[hole].unused = true;
	/* A node later in the array that starts first. */
	svc(live, ARB_ROOT, "first");
	tmp = root->children[root->nchildren - 1];
	memmove(&root->children[1], &root->children[0],
		(root->nchildren - 1) * sizeof(*root->children));
	root->children[0] = tmp;
	{
		struct arb_spec *next = arb_spec_new();
		uint32_t w;

		svc(next, ARB_ROOT, "first");
		w = sup(next, ARB_ROOT, "web");
		svc(next, w, "app");
		svc(next, w, "worker");
		svc(next, ARB_ROOT, "db");
		svc(next, ARB_ROOT, "cache");
		assert_plan(live, next, "");
	}
}

/*
 * Steps come in application order: removes from the last child back,
 * deeper first; then changes, reorders and adds in next's pre-order.
 */
static void
test_application_order(void **state)
{
	struct arb_spec *live = base(), *next = arb_spec_new();
	uint32_t a, b, web;

	a = sup(live, ARB_ROOT, "a");
	svc(live, a, "a1");
	b = sup(live, a, "b");
	svc(live, b, "b1");
	svc(live, b, "b2");
	svc(live, a, "a2");
	svc(live, ARB_ROOT, "z");

	a = sup(next, ARB_ROOT, "a");
	b = sup(next, a, "b");
	svc(next, b, "b3");
	next->nodes[b].intensity = 9;
	svc(next, a, "a3");
	svc(next, a, "a1");
	web = sup(next, ARB_ROOT, "web");
	svc(next, web, "worker");
	svc(next, web, "app");
	next->nodes[node(next, "web/app")].stop_timeout_ms = 0;
	svc(next, web, "new");
	svc(next, ARB_ROOT, "cache");
	svc(next, ARB_ROOT, "db");
	next->nodes[ARB_ROOT].period_ms = 1000;
	assert_plan(live, next,
		    "remove z\nremove a/a2\nremove a/b/b2\nremove a/b/b1\n"
		    "change / in-place period=5s->1s\n"
		    "change a/b in-place intensity=3->9\n"
		    "change web/app in-place stop_timeout=5s->0ms\n"
		    "reorder / [a web cache db]\nreorder a [b a3 a1]\n"
		    "reorder web [worker app new]\n"
		    "add a/b/b3\nadd a/a3\nadd web/new\n");
}

/* The same inputs, the same plan, byte for byte (JSON included). */
static void
test_deterministic(void **state)
{
	struct arb_spec *live = base(), *next = base();
	struct arb_plan p1, p2;
	json_t *j1, *j2;
	char *t1, *t2;

	svc(live, ARB_ROOT, "old");
	svc(next, ARB_ROOT, "new");
	set_env(next, node(next, "db"), "X=1", NULL);
	assert_int_equal(arb_plan_diff(live, next, &p1), 0);
	assert_int_equal(arb_plan_diff(live, next, &p2), 0);
	j1 = arb_plan_json(&p1, live, next, "0123456789abcdef");
	j2 = arb_plan_json(&p2, live, next, "0123456789abcdef");
	t1 = json_dumps(j1, JSON_COMPACT);
	t2 = json_dumps(j2, JSON_COMPACT);
	assert_string_equal(t1, t2);
	assert_string_equal(write_plan(&p1, live, next),
			    "remove old\nchange db restart env=[ ]->[ \"X=1\" ]\n"
			    "add new\n");
	free(t1);
	free(t2);
	json_decref(j1);
	json_decref(j2);
	arb_plan_free(&p1);
	arb_plan_free(&p2);
	arb_spec_free(live);
	arb_spec_free(next);
}

static void
test_json(void **state)
{
	struct arb_spec *live = base(), *next = base();
	struct arb_plan p;
	json_t *j;
	char *text;
	uint32_t web = node(next, "web"), d;

	svc(live, ARB_ROOT, "old");
	next->nodes[node(next, "db")].cwd = arb_strdup("/srv");
	next->nodes[web].intensity = 4;
	d = svc(next, web, "new");
	(void)d;
	{
		struct arb_spec_node *w = &next->nodes[web];
		uint32_t t = w->children[0];

		w->children[0] = w->children[1];
		w->children[1] = t;
	}
	pool(next, ARB_ROOT, "jobs");
	assert_int_equal(arb_plan_diff(live, next, &p), 0);
	j = arb_plan_json(&p, live, next, "00000000000000ff");
	assert_non_null(j);
	text = json_dumps(j, JSON_COMPACT);
	assert_string_equal(text,
		"{\"digest\":\"00000000000000ff\",\"adds\":2,\"removes\":1,"
		"\"changes\":2,\"reorders\":1,\"steps\":["
		"{\"op\":\"remove\",\"path\":\"old\",\"supervisor\":\"/\","
		"\"kind\":\"service\"},"
		"{\"op\":\"change\",\"path\":\"web\",\"supervisor\":\"/\","
		"\"kind\":\"supervisor\",\"apply\":\"in-place\",\"keys\":"
		"[{\"key\":\"intensity\",\"old\":\"3\",\"new\":\"4\"}]},"
		"{\"op\":\"change\",\"path\":\"db\",\"supervisor\":\"/\","
		"\"kind\":\"service\",\"apply\":\"restart\",\"keys\":"
		"[{\"key\":\"cwd\",\"old\":null,\"new\":\"/srv\"}]},"
		"{\"op\":\"reorder\",\"path\":\"web\",\"supervisor\":\"web\","
		"\"order\":[\"worker\",\"app\",\"new\"]},"
		"{\"op\":\"add\",\"path\":\"web/new\",\"supervisor\":\"web\","
		"\"kind\":\"service\"},"
		"{\"op\":\"add\",\"path\":\"jobs\",\"supervisor\":\"/\","
		"\"kind\":\"pool\"}]}");
	free(text);
	json_decref(j);
	arb_plan_free(&p);
	arb_spec_free(live);
	arb_spec_free(next);
}

/* The core's signal names are signames.c's, number for number. */
static void
test_signal_names_agree(void **state)
{
	for (int signo = 1; signo < 32; signo++) {
		const char *name = arb_signal_name(signo);
		struct arb_spec *next = base();
		char want[64];

		if (signo == ARB_SIGTERM) {
			arb_spec_free(next);
			continue;
		}
		assert_non_null(name);
		next->nodes[node(next, "db")].stop_signal = signo;
		snprintf(want, sizeof(want),
			 "change db in-place stop_signal=TERM->%s\n", name);
		assert_plan(base(), next, want);
	}
}

/* Out of memory anywhere: -1, nothing leaked (ASan), ret untouched. */
static void
test_out_of_memory(void **state)
{
	struct arb_spec *live = base(), *next = base();
	struct arb_plan p;
	unsigned n;
	int r;

	svc(live, ARB_ROOT, "old");
	svc(next, ARB_ROOT, "new");
	svc(live, ARB_ROOT, "late");
	svc(next, ARB_ROOT, "late");
	set_env(next, node(next, "db"), "X=1", NULL);
	next->nodes[node(next, "web")].intensity = 7;
	for (n = 1;; n++) {
		memset(&p, 0x5a, sizeof(p));
		arb_mem_fail_after(n);
		r = arb_plan_diff(live, next, &p);
		arb_mem_fail_after(0);
		if (r == 0)
			break;
		assert_int_equal(r, -1);
		assert_int_equal(p.nsteps, 0x5a5a5a5a);
	}
	assert_true(n > 10);
	assert_int_equal(p.nsteps, 4);
	arb_plan_free(&p);
	arb_spec_free(live);
	arb_spec_free(next);
}

static void
test_digest(void **state)
{
	char hex[ARB_PLAN_DIGEST_HEX];
	uint64_t d = ARB_PLAN_DIGEST_INIT;

	arb_plan_digest_hex(d, hex);
	assert_string_equal(hex, "cbf29ce484222325");
	/* FNV-1a 64 of "a", and fed in pieces as in one go. */
	arb_plan_digest_hex(arb_plan_digest_add(d, "a", 1), hex);
	assert_string_equal(hex, "af63dc4c8601ec8c");
	d = arb_plan_digest_add(d, "foo", 3);
	d = arb_plan_digest_add(d, "bar", 3);
	assert_int_equal(d, arb_plan_digest_add(ARB_PLAN_DIGEST_INIT,
						"foobar", 6));
	arb_plan_digest_hex(d, hex);
	assert_string_equal(hex, "85944171f73967e8");
}

static struct arb_spec *
load(const char *path)
{
	struct arb_spec *s = NULL;
	struct arb_diag diag = {0};
	int r = arb_config_load(path, &s, &diag);

	for (size_t i = 0; r < 0 && i < diag.n; i++)
		print_message("%s\n", diag.entries[i].text);
	arb_diag_done(&diag);
	return r < 0 ? NULL : s;
}

static void
assert_no_step(const struct arb_spec *live, const struct arb_spec *next)
{
	struct arb_plan p;

	assert_int_equal(arb_plan_diff(live, next, &p), 0);
	assert_string_equal(write_plan(&p, live, next), "");
	arb_plan_free(&p);
}

/*
 * A configuration loaded twice, and against its own printed form (every
 * default written out, `arbord --check`): nothing to do. Catches a key
 * compared by how it was written rather than by its value.
 */
static void
test_golden_configurations_are_no_change(void **state)
{
	DIR *dir = opendir("tests/golden");
	char tmp[] = "/tmp/test_plan.XXXXXX", path[512], printed[512];
	struct dirent *e;
	unsigned cases = 0;

	assert_non_null(dir);
	assert_non_null(mkdtemp(tmp));
	snprintf(printed, sizeof(printed), "%s/arbor.conf", tmp);
	while ((e = readdir(dir))) {
		size_t len = strlen(e->d_name);
		struct arb_spec *a, *b, *c;
		FILE *out;

		if (len < 6 || strcmp(e->d_name + len - 5, ".conf") != 0 ||
		    strncmp(e->d_name, "err-", 4) == 0)
			continue;
		snprintf(path, sizeof(path), "tests/golden/%s", e->d_name);
		a = load(path);
		if (!a)
			continue; /* the golden tests say why */
		b = load(path);
		assert_non_null(b);
		assert_no_step(a, b);
		out = fopen(printed, "w");
		assert_non_null(out);
		arb_config_print(a, out);
		assert_int_equal(fclose(out), 0);
		c = load(printed);
		assert_non_null(c);
		assert_no_step(a, c);
		assert_no_step(c, a);
		arb_spec_free(a);
		arb_spec_free(b);
		arb_spec_free(c);
		cases++;
	}
	closedir(dir);
	assert_int_equal(unlink(printed), 0);
	assert_int_equal(rmdir(tmp), 0);
	assert_true(cases >= 10);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_change),
		cmocka_unit_test(test_add),
		cmocka_unit_test(test_remove),
		cmocka_unit_test(test_dynamic_child_left_alone),
		cmocka_unit_test(test_dynamic_child_named_by_the_configuration),
		cmocka_unit_test(test_service_change_in_place),
		cmocka_unit_test(test_cg_limits_change_in_place),
		cmocka_unit_test(test_log_sinks_written_or_default),
		cmocka_unit_test(test_service_change_restart),
		cmocka_unit_test(test_service_change_next_start),
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_supervisor_flags),
		cmocka_unit_test(test_reorder),
		cmocka_unit_test(test_reorder_dynamic_last),
		cmocka_unit_test(test_move_between_parents),
		cmocka_unit_test(test_kind_change),
		cmocka_unit_test(test_pool_template_change),
		cmocka_unit_test(test_pending_compared),
		cmocka_unit_test(test_holes_and_order_of_the_array),
		cmocka_unit_test(test_application_order),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_signal_names_agree),
		cmocka_unit_test(test_out_of_memory),
		cmocka_unit_test(test_digest),
		cmocka_unit_test(test_golden_configurations_are_no_change),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
