/*
 * test_oracle.c - every conformance scenario, replayed on the pure core.
 *
 * tests/conformance/ holds scenarios with the traces real OTP supervisors
 * printed for them. The pytest suite replays them against the real arbord
 * with real processes; this replays them on tree.c with fake processes and
 * a fake clock, so a semantic slip shows up here first, in milliseconds,
 * without timing noise. crash = exit status 1, normal = exit 0, shutdown =
 * death by a SIGTERM arbord did not send (SEMANTICS.md M2); omitted keys
 * take OTP's defaults (M13). Operator steps (terminate, restart_child,
 * start_child, delete_child, remove, spawn) are asked of the core the way
 * the shell asks them (daemon/living.c, control/), and the core's reply is
 * written as the oracle's `reply PATH RESULT` line, with the mapping of
 * tests/conformance/test_conformance.py.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "scenario.h"

static const char *scenario_dir = "tests/conformance/scenarios";
static const char *expected_dir = "tests/conformance/expected";

static const char *
str_or(json_t *obj, const char *key, const char *dflt)
{
	json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : dflt;
}

static json_int_t
int_or(json_t *obj, const char *key, json_int_t dflt)
{
	json_t *v = json_object_get(obj, key);

	return json_is_integer(v) ? json_integer_value(v) : dflt;
}

/*
 * Scenarios where the core disagrees with OTP: each is skipped, not
 * failed, until the core is fixed; remove its name then. Everything else
 * must pass.
 */
static const char *const core_disagrees[] = {
	NULL,
};

/* One scenario being played. */
struct replay {
	struct fake *f;
	const char *root_id; /* the oracle's name of the root */
	bool skip_dead;
	json_t *pools;       /* every pool's path: a set (object keys) */
	json_t *spawned;     /* unnamed spawns per pool path, so far */
	uint64_t req_id;
};

/* Sets a supervisor's flags from a scenario node, OTP defaults (F1). */
static void
set_flags(struct arb_spec_node *n, json_t *j)
{
	n->strategy = arb_strategy_from_name(str_or(j, "strategy",
						    "one_for_one"));
	n->intensity = (uint32_t)int_or(j, "intensity", 1);
	n->period_ms = int_or(j, "period", 5) * 1000;
	n->auto_shutdown = arb_auto_shutdown_from_name(
		str_or(j, "auto_shutdown", "never"));
	assert_true((int)n->strategy >= 0 && (int)n->auto_shutdown >= 0);
}

static bool
is_pool_json(json_t *node)
{
	return strcmp(str_or(node, "strategy", ""), "simple_one_for_one") == 0;
}

/*
 * A pool's template, as config/load.c makes it: a service under the pool
 * that leaves its children at once (nobody's child, never runs).
 */
static void
add_template(struct arb_spec *s, uint32_t pool, json_t *tmpl)
{
	uint32_t idx = arb_spec_add(s, pool, ARB_NODE_SERVICE, "template",
				    "t", 1);

	assert_int_not_equal(idx, ARB_NONE);
	arb_spec_detach(s, idx);
	s->nodes[idx].is_template = true;
	s->nodes[idx].restart = arb_restart_from_name(str_or(tmpl, "restart",
							     "permanent"));
	assert_true((int)s->nodes[idx].restart >= 0);
	s->nodes[pool].template_node = idx;
}

static void add_children(struct arb_spec *s, uint32_t parent,
			 json_t *children);

/* A scenario child (worker, supervisor or pool) as the last of parent's. */
static uint32_t
add_child(struct arb_spec *s, uint32_t parent, json_t *c)
{
	bool sup = strcmp(str_or(c, "type", "worker"), "supervisor") == 0;
	uint32_t idx = arb_spec_add(s, parent,
				    sup ? ARB_NODE_SUPERVISOR
					: ARB_NODE_SERVICE,
				    str_or(c, "id", "?"), "t", 1);
	struct arb_spec_node *n;

	assert_int_not_equal(idx, ARB_NONE);
	n = &s->nodes[idx];
	n->restart = arb_restart_from_name(str_or(c, "restart", "permanent"));
	n->significant = json_is_true(json_object_get(c, "significant"));
	assert_true((int)n->restart >= 0);
	if (!sup)
		return idx;
	set_flags(n, c);
	if (is_pool_json(c))
		add_template(s, idx, json_object_get(c, "template"));
	else
		add_children(s, idx, json_object_get(c, "children"));
	return idx;
}

static void
add_children(struct arb_spec *s, uint32_t parent, json_t *children)
{
	size_t i;
	json_t *c;

	json_array_foreach(children, i, c)
		(void)add_child(s, parent, c);
}

static char *
read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long len;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)len + 1);
	if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* ---- paths ---- */

/*
 * The node at an oracle path in the live tree, or ARB_NONE. It walks the
 * children from the root: arb_spec_find scans slots, and a node deleted
 * by the last step is still in its slot until the next one.
 */
static uint32_t
live_node(const struct replay *r, const char *path)
{
	char buf[1024], *save = NULL;
	uint32_t node = ARB_ROOT;

	if (strcmp(path, r->root_id) == 0)
		return ARB_ROOT;
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *name = strtok_r(buf, "/", &save);
	     name && node != ARB_NONE; name = strtok_r(NULL, "/", &save))
		node = arb_spec_find_child(r->f->spec, node, name);
	return node;
}

/* The oracle's path of path's supervisor: the root's id for a top child. */
static void
parent_path(const struct replay *r, const char *path, char *buf,
	    size_t size)
{
	const char *slash = strrchr(path, '/');

	if (slash)
		snprintf(buf, size, "%.*s", (int)(slash - path), path);
	else
		snprintf(buf, size, "%s", r->root_id);
}

/* The oracle's path of child id under parent: no prefix under the root. */
static void
child_path(const struct replay *r, const char *parent, const char *id,
	   char *buf, size_t size)
{
	if (strcmp(parent, r->root_id) == 0)
		snprintf(buf, size, "%s", id);
	else
		snprintf(buf, size, "%s/%s", parent, id);
}

static bool
is_pool(const struct replay *r, uint32_t node)
{
	return r->f->spec->nodes[node].kind == ARB_NODE_SUPERVISOR &&
	       r->f->spec->nodes[node].strategy == ARB_SIMPLE_ONE_FOR_ONE;
}

/* Every pool of the tree as written and of start_child steps. */
static void
collect_pools(struct replay *r, json_t *node, const char *path)
{
	size_t i;
	json_t *c;
	char sub[1024];

	if (is_pool_json(node))
		json_object_set_new(r->pools, path, json_true());
	json_array_foreach(json_object_get(node, "children"), i, c) {
		child_path(r, path, str_or(c, "id", "?"), sub, sizeof(sub));
		collect_pools(r, c, sub);
	}
}

/* ---- operator steps ---- */

static bool
is_running(const struct replay *r, uint32_t node)
{
	return node != ARB_NONE &&
	       arb_tree_state(r->f->tree, node) != ARB_CHILD_DOWN;
}

/*
 * OTP's already_started or already_present, from AlreadyPresent's
 * `running` (living.c): whether the child of that name runs.
 */
static const char *
exists_result(const struct replay *r, uint32_t parent, const char *name)
{
	return is_running(r, arb_spec_find_child(r->f->spec, parent, name))
		       ? "error:already_started"
		       : "error:already_present";
}

/* The core's reply as the oracle's RESULT (test_conformance.py's map). */
static const char *
reply_result(const struct replay *r, enum arb_reply_kind reply,
	     uint32_t parent, const char *name)
{
	switch (reply) {
	case ARB_REPLY_OK:
		return "ok";
	case ARB_REPLY_ALREADY_RUNNING:
		return "error:running";
	case ARB_REPLY_RESTARTING:
		return "error:restarting";
	case ARB_REPLY_NOT_FOUND:
		return "error:not_found";
	case ARB_REPLY_NOT_RUNNING:
		return "error:noproc";
	case ARB_REPLY_EXISTS:
		return exists_result(r, parent, name);
	case ARB_REPLY_POOL_INSTANCE:
		return "error:simple_one_for_one";
	/* No OTP counterpart: OTP never answers these. */
	case ARB_REPLY_START_FAILED:
		return "error:start_failed";
	case ARB_REPLY_ABORTED:
		return "error:shutting_down";
	case ARB_REPLY_TEMPORARY:
		return "error:temporary";
	case ARB_REPLY_POOL_FULL:
		return "error:pool_full";
	case _ARB_REPLY_MAX:
		break;
	}
	return "error:unknown_reply";
}

/* An operator's request on node, and all it causes; the core's reply. */
static enum arb_reply_kind
ask(struct replay *r, uint32_t node, enum arb_request_kind kind)
{
	struct fake *f = r->f;
	int replies = f->replies;

	fake_push(f, (struct arb_event){.kind = ARB_EV_REQUEST, .node = node,
					.request = kind, .req_id = ++r->req_id,
					.origin = ARB_ORIGIN_OPERATOR,
					.pos = ARB_NONE});
	f->requests++;
	fake_run(f);
	if (f->replies == replies || f->last_reply.req_id != r->req_id)
		fail_msg("no reply to request %d on %s", (int)kind,
			 f->spec->nodes[node].path);
	return f->last_reply.reply;
}

/*
 * What the shell must answer for a path the core does not have (it has
 * no node to ask about): OTP's noproc when the supervisor above is not
 * running or gone, simple_one_for_one for restart_child and delete_child
 * in a pool (whatever the id), else not_found.
 */
static const char *
missing_result(const struct replay *r, const char *path, const char *op)
{
	char sup_path[1024];
	uint32_t sup;

	parent_path(r, path, sup_path, sizeof(sup_path));
	sup = live_node(r, sup_path);
	if (sup == ARB_NONE ||
	    arb_tree_state(r->f->tree, sup) != ARB_CHILD_UP)
		return "error:noproc";
	if (is_pool(r, sup) && (strcmp(op, "restart_child") == 0 ||
				strcmp(op, "delete_child") == 0))
		return "error:simple_one_for_one";
	return "error:not_found";
}

/*
 * delete_child is played as remove, as test_conformance.py plays it with
 * `arborctl remove`: the same request only on a child that is not
 * running and not a pool instance.
 */
static void
check_deletable(const struct replay *r, uint32_t node, const char *path)
{
	if (is_running(r, node) || is_pool(r, r->f->spec->nodes[node].parent))
		fail_msg("delete_child %s: a running child or a pool instance"
			 " cannot be replayed (arbor has no delete_child)",
			 path);
}

static enum arb_request_kind
request_of(const char *op)
{
	if (strcmp(op, "terminate") == 0)
		return ARB_REQ_STOP;
	if (strcmp(op, "restart_child") == 0)
		return ARB_REQ_START;
	return ARB_REQ_REMOVE; /* remove, delete_child */
}

/* terminate, restart_child, remove, delete_child on an existing path. */
static void
play_request(struct replay *r, const char *op, const char *path)
{
	uint32_t node = live_node(r, path);
	const char *result;

	if (node == ARB_NONE) {
		result = missing_result(r, path, op);
	} else {
		if (strcmp(op, "delete_child") == 0)
			check_deletable(r, node, path);
		result = reply_result(r, ask(r, node, request_of(op)), ARB_NONE,
				      NULL);
	}
	fake_trace(r->f, "reply %s %s\n", path, result);
}

/*
 * C5, as the configuration loader checks it (config/load.c): OTP's
 * bad_combination for start_child.
 */
static bool
significant_valid(const struct arb_spec *s)
{
	for (uint32_t i = 1; i < s->nnodes; i++) {
		const struct arb_spec_node *n = &s->nodes[i];

		if (!arb_spec_is_node(s, i) || !n->significant)
			continue;
		if (s->nodes[n->parent].auto_shutdown == ARB_AUTO_NEVER ||
		    n->restart == ARB_PERMANENT)
			return false;
	}
	return true;
}

/*
 * As arb_living_add: the child is read into a scratch spec whose root
 * stands for parent, grafted into the live spec, marked dynamic and
 * added by the operator.
 */
static const char *
add_live_child(struct replay *r, uint32_t parent, json_t *child)
{
	struct arb_spec *live = r->f->spec;
	struct arb_spec *scratch = arb_spec_new();
	const char *result = "error:bad_spec";
	const char *name = str_or(child, "id", "?");
	uint32_t top, node;

	assert_non_null(scratch);
	scratch->nodes[ARB_ROOT].strategy = live->nodes[parent].strategy;
	scratch->nodes[ARB_ROOT].auto_shutdown =
		live->nodes[parent].auto_shutdown;
	top = add_child(scratch, ARB_ROOT, child);
	if (significant_valid(scratch)) {
		node = arb_spec_graft(live, parent, scratch, top);
		assert_int_not_equal(node, ARB_NONE);
		live->nodes[node].dynamic = true;
		result = reply_result(r, ask(r, node, ARB_REQ_ADD), parent,
				      name);
	}
	arb_spec_free(scratch);
	return result;
}

static void
play_start_child(struct replay *r, json_t *step)
{
	const char *parent_name = str_or(step, "start_child", "?");
	json_t *child = json_object_get(step, "child");
	uint32_t parent = live_node(r, parent_name);
	char path[1024];

	child_path(r, parent_name, str_or(child, "id", "?"), path,
		   sizeof(path));
	collect_pools(r, child, path);
	fake_trace(r->f, "reply %s %s\n", path,
		   parent == ARB_NONE ? "error:noproc"
				      : add_live_child(r, parent, child));
}

/*
 * As arb_living_spawn: an unnamed instance takes the pool's next number
 * from the core; a name the pool has is AlreadyPresent before the core
 * is asked.
 */
static const char *
spawn_instance(struct replay *r, uint32_t pool, const char *name)
{
	char number[24];
	uint32_t node;

	if (!name) {
		arb_tree_next_instance(r->f->tree, pool, number);
		name = number;
	}
	if (arb_spec_find_child(r->f->spec, pool, name) != ARB_NONE)
		return exists_result(r, pool, name);
	node = arb_spec_instantiate(r->f->spec, pool, name, NULL);
	assert_int_not_equal(node, ARB_NONE);
	return reply_result(r, ask(r, node, ARB_REQ_ADD), pool, name);
}

/*
 * The oracle's name of an instance: the step's, else the number of that
 * pool's unnamed spawn steps so far (its README, "spawn").
 */
static void
oracle_instance_name(struct replay *r, json_t *step, char *buf, size_t size)
{
	const char *pool = str_or(step, "spawn", "?");
	json_int_t n;

	if (json_is_string(json_object_get(step, "name"))) {
		snprintf(buf, size, "%s", str_or(step, "name", "?"));
		return;
	}
	n = int_or(r->spawned, pool, 0) + 1;
	json_object_set_new(r->spawned, pool, json_integer(n));
	snprintf(buf, size, "%lld", (long long)n);
}

static void
play_spawn(struct replay *r, json_t *step)
{
	const char *pool_path = str_or(step, "spawn", "?");
	uint32_t pool = live_node(r, pool_path);
	char name[256], path[1024];

	oracle_instance_name(r, step, name, sizeof(name));
	child_path(r, pool_path, name, path, sizeof(path));
	fake_trace(r->f, "reply %s %s\n", path,
		   pool == ARB_NONE
			   ? "error:noproc"
			   : spawn_instance(r, pool, str_or(step, "name",
							    NULL)));
}

/* ---- exits ---- */

/* The live worker at path, or ARB_NONE (skip_dead) or a failure. */
static uint32_t
live_worker(const struct replay *r, const char *path)
{
	uint32_t node = live_node(r, path);

	if (node != ARB_NONE && r->f->procs[node].pid != 0)
		return node;
	if (!r->skip_dead)
		fail_msg("exit %s: no live worker there", path);
	return ARB_NONE;
}

/* Node's process dies by itself, the death not yet fed to the core. */
static void
die(struct fake *f, uint32_t node, const char *reason)
{
	if (strcmp(reason, "normal") == 0)
		fake_die(f, node, 0, 0);
	else if (strcmp(reason, "shutdown") == 0)
		fake_die(f, node, -1, ARB_SIGTERM);
	else
		fake_die(f, node, 1, 0);
}

static void
play_exit(struct replay *r, json_t *step)
{
	uint32_t node = live_worker(r, str_or(step, "exit", "?"));

	if (node == ARB_NONE)
		return;
	die(r->f, node, str_or(step, "reason", "crash"));
	fake_run(r->f);
}

/*
 * Several deaths the supervisor finds queued together, in the order the
 * workers were last started (pids grow with each start).
 */
static void
play_exits(struct replay *r, json_t *exits)
{
	uint32_t nodes[64];
	json_t *reasons[64];
	size_t i, n = 0;
	json_t *e;

	assert_true(json_array_size(exits) <= 64);
	json_array_foreach(exits, i, e) {
		uint32_t node = live_worker(r, str_or(e, "exit", "?"));
		size_t k = n;

		if (node == ARB_NONE)
			continue;
		for (; k > 0 && r->f->procs[nodes[k - 1]].pid >
				       r->f->procs[node].pid; k--) {
			nodes[k] = nodes[k - 1];
			reasons[k] = reasons[k - 1];
		}
		nodes[k] = node;
		reasons[k] = e;
		n++;
	}
	for (i = 0; i < n; i++)
		die(r->f, nodes[i], str_or(reasons[i], "reason", "crash"));
	fake_run(r->f);
}

static const char *const operator_steps[] = {
	"terminate", "restart_child", "remove", "delete_child",
};

static void
play_step(struct replay *r, json_t *step)
{
	if (json_object_get(step, "exit")) {
		play_exit(r, step);
		return;
	}
	if (json_object_get(step, "exits")) {
		play_exits(r, json_object_get(step, "exits"));
		return;
	}
	if (json_object_get(step, "start_child")) {
		play_start_child(r, step);
		return;
	}
	if (json_object_get(step, "spawn")) {
		play_spawn(r, step);
		return;
	}
	for (size_t i = 0; i < sizeof(operator_steps) / sizeof(*operator_steps);
	     i++) {
		const char *path = str_or(step, operator_steps[i], NULL);

		if (path) {
			play_request(r, operator_steps[i], path);
			return;
		}
	}
	fake_advance(r->f, int_or(step, "sleep_ms", 0));
}

/* Every step, until the root is down (the oracle skips the rest). */
static void
play(struct replay *r, json_t *steps)
{
	size_t i;
	json_t *step;

	json_array_foreach(steps, i, step) {
		if (r->f->exit_code >= 0)
			break;
		play_step(r, step);
	}
}

/* ---- comparing ---- */

/* The pool whose instance a `stop` line names, or NULL. */
static const char *
pool_of_stop(const struct replay *r, const char *line, char *buf,
	     size_t size)
{
	if (strncmp(line, "stop ", 5) != 0)
		return NULL;
	parent_path(r, line + 5, buf, size);
	return json_object_get(r->pools, buf) ? buf : NULL;
}

static bool
all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* The oracle's order of a pool's instances: names of digits only first,
 * numerically, then the others in byte order. */
static int
by_instance_name(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	const char *nx = strrchr(x, '/') ? strrchr(x, '/') + 1 : x + 5;
	const char *ny = strrchr(y, '/') ? strrchr(y, '/') + 1 : y + 5;
	bool dx = all_digits(nx), dy = all_digits(ny);

	if (dx != dy)
		return dx ? -1 : 1;
	if (dx && strlen(nx) != strlen(ny))
		return strlen(nx) < strlen(ny) ? -1 : 1;
	return strcmp(nx, ny);
}

/*
 * The core's trace as the oracle writes it: without the fake's `delete`
 * lines (OTP has none), each run of consecutive stops of one pool's
 * instances sorted by name (OTP stops them all at once, SO5). Caller
 * frees.
 */
static char *
oracle_view(const struct replay *r, const char *trace)
{
	char *copy = strdup(trace), *save = NULL, *out;
	char **lines = calloc(strlen(trace) + 1, sizeof(*lines));
	char pool[1024], other[1024];
	size_t n = 0, len = 0;

	assert_non_null(copy);
	assert_non_null(lines);
	for (char *l = strtok_r(copy, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save))
		if (strncmp(l, "delete ", 7) != 0)
			lines[n++] = l;
	for (size_t i = 0, j; i < n; i = j) {
		j = i + 1;
		if (!pool_of_stop(r, lines[i], pool, sizeof(pool)))
			continue;
		while (j < n && pool_of_stop(r, lines[j], other, sizeof(other)) &&
		       strcmp(pool, other) == 0)
			j++;
		qsort(lines + i, j - i, sizeof(*lines), by_instance_name);
	}
	out = calloc(1, strlen(trace) + 1);
	assert_non_null(out);
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(out + len, "%s\n", lines[i]);
	free(lines);
	free(copy);
	return out;
}

static bool
core_disagrees_with(const char *name)
{
	for (size_t i = 0; core_disagrees[i]; i++)
		if (strcmp(core_disagrees[i], name) == 0)
			return true;
	return false;
}

static void
replay(void **state)
{
	const char *name = *state;
	char path[1024];
	json_error_t jerr;
	json_t *sc, *tree;
	struct arb_spec *s;
	struct replay r = {0};
	char *expected, *actual;

	if (core_disagrees_with(name))
		skip();
	snprintf(path, sizeof(path), "%s/%s.json", scenario_dir, name);
	sc = json_load_file(path, 0, &jerr);
	assert_non_null(sc);
	snprintf(path, sizeof(path), "%s/%s.trace", expected_dir, name);
	expected = read_file(path);
	assert_non_null(expected);

	tree = json_object_get(sc, "tree");
	s = arb_spec_new();
	set_flags(&s->nodes[ARB_ROOT], tree);
	if (is_pool_json(tree))
		add_template(s, ARB_ROOT, json_object_get(tree, "template"));
	else
		add_children(s, ARB_ROOT, json_object_get(tree, "children"));
	r.f = fake_new(s);
	r.f->replies_untraced = true;
	r.root_id = str_or(tree, "id", "root");
	r.skip_dead = json_is_true(json_object_get(sc, "skip_dead"));
	r.pools = json_object();
	r.spawned = json_object();
	collect_pools(&r, tree, r.root_id);
	fake_boot(r.f);
	play(&r, json_object_get(sc, "steps"));
	if (r.f->exit_code < 0)
		fake_shutdown(r.f);
	actual = oracle_view(&r, r.f->trace);
	if (strcmp(actual, expected) != 0)
		print_error("scenario %s\n--- expected\n%s--- core\n%s", name,
			    expected, actual);
	assert_string_equal(actual, expected);
	free(actual);
	json_decref(r.pools);
	json_decref(r.spawned);
	fake_free(r.f);
	free(expected);
	json_decref(sc);
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
main(int argc, char **argv)
{
	struct CMUnitTest *tests;
	char **names = NULL;
	size_t n = 0;
	struct dirent *d;
	DIR *dir;
	int r;

	if (argc > 2) {
		scenario_dir = argv[1];
		expected_dir = argv[2];
	}
	dir = opendir(scenario_dir);
	if (!dir) {
		fprintf(stderr, "test_oracle: cannot open %s\n", scenario_dir);
		return 1;
	}
	while ((d = readdir(dir))) {
		size_t len = strlen(d->d_name);

		if (len < 6 || strcmp(d->d_name + len - 5, ".json") != 0)
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		names[n++] = strndup(d->d_name, len - 5);
	}
	closedir(dir);
	if (n == 0) {
		fprintf(stderr, "test_oracle: no scenario in %s\n", scenario_dir);
		return 1;
	}
	qsort(names, n, sizeof(*names), by_name);
	tests = calloc(n, sizeof(*tests));
	for (size_t i = 0; i < n; i++) {
		tests[i].name = names[i];
		tests[i].test_func = replay;
		tests[i].initial_state = names[i];
	}
	r = _cmocka_run_group_tests("oracle", tests, n, NULL, NULL);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(tests);
	return r;
}
