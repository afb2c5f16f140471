/*
 * runtime_state.c - the runtime's state into a re-exec state document and
 * back (runtime_state.h, state/FORMAT.md): the spec, the core's tree, and
 * what the shell holds per node (listen sockets, readiness pipes, the
 * pidfds of its processes, what it said), the log capture, the notify
 * socket and systemd's connection. The control socket is handed over by
 * control/ itself.
 */
#include "runtime_state.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "config/config.h"
#include "core/tree_state.h"
#include "runtime.h"
#include "runtime_internal.h"
#include "state/spec_json.h"
#include "systemd.h"

/* ---- saving -------------------------------------------------------------- */

static json_t *
u64_json(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return json_string(buf);
}

/* A node's state: its state by name, and what is not zero or false. */
static json_t *
node_state_json(const struct arb_node_state *s)
{
	json_t *o = json_object();
	bool oom;

	if (!o)
		return NULL;
	oom = !arb_state_put(o, "state", json_string(
				    arb_child_state_name(s->state)));
	oom |= !arb_state_put_bool(o, "present", s->present, false);
	oom |= !arb_state_put_int(o, "pid", s->pid, 0);
	oom |= !arb_state_put_int(o, "incarnation", s->incarnation, 0);
	oom |= !arb_state_put_int(o, "restarts", s->restarts, 0);
	oom |= !arb_state_put_bool(o, "timer_armed", s->timer_armed, false);
	oom |= !arb_state_put_int(o, "deadline_ms", s->deadline_ms, 0);
	oom |= !arb_state_put_int(o, "since_ms", s->since_ms, 0);
	oom |= !arb_state_put_int(o, "up_ms", s->up_ms, 0);
	oom |= !arb_state_put_bool(o, "start_failing", s->start_failing, false);
	oom |= !arb_state_put_bool(o, "start_cancelled", s->start_cancelled, false);
	oom |= !arb_state_put_bool(o, "aborting", s->aborting, false);
	oom |= !arb_state_put_bool(o, "delayed", s->delayed, false);
	oom |= !arb_state_put_int(o, "backoff_ms", s->backoff_ms, 0);
	oom |= !arb_state_put_int(o, "last_err", s->last_err, 0);
	if (s->last_failure != 0)
		oom |= !arb_state_put(o, "last_failure", json_string(
				 arb_start_failure_name(s->last_failure)));
	oom |= !arb_state_put_bool(o, "exited", s->exited, false);
	oom |= !arb_state_put_int(o, "exit_pid", s->exit_pid, 0);
	oom |= !arb_state_put_int(o, "exit_code", s->exit_code, 0);
	oom |= !arb_state_put_int(o, "exit_signo", s->exit_signo, 0);
	if (s->last_reason != 0)
		oom |= !arb_state_put(o, "last_reason", json_string(
				 arb_reason_name(s->last_reason)));
	if (oom) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *
queued_json(const struct arb_queued *q)
{
	return json_pack("{s:s,s:I,s:I,s:s,s:o,s:s,s:I}", "kind",
			 arb_queued_kind_name(q->kind), "child",
			 q->child == ARB_NONE ? (json_int_t)-1
					      : (json_int_t)q->child,
			 "incarnation", (json_int_t)q->incarnation, "request",
			 arb_request_name(q->request), "req_id",
			 u64_json(q->req_id), "origin",
			 arb_origin_name(q->origin), "pos",
			 q->pos == ARB_NONE ? (json_int_t)-1
					    : (json_int_t)q->pos);
}

static json_t *
sup_state_json(const struct arb_tree *t, uint32_t node,
	       const struct arb_sup_state *s)
{
	json_t *history = json_array(), *queue = json_array(), *o;

	for (uint32_t i = 0; history && i < s->nhistory; i++)
		if (json_array_append_new(history, json_integer(
				arb_tree_save_history(t, node, i))) < 0)
			goto fail;
	for (uint32_t i = 0; queue && i < s->nqueue; i++) {
		struct arb_queued q;

		arb_tree_save_queued(t, node, i, &q);
		if (json_array_append_new(queue, queued_json(&q)) < 0)
			goto fail;
	}
	if (!history || !queue)
		goto fail;
	o = json_pack("{s:I,s:s,s:b,s:i,s:i,s:i,s:s,s:i,s:s,s:o,s:s,s:I,s:I,"
		      "s:o,s:o,s:o}",
		      "node", (json_int_t)node, "job", arb_job_name(s->job),
		      "terminating", s->terminating, "cursor", s->cursor,
		      "first", s->first, "last", s->last, "why",
		      arb_job_why_name(s->why), "auto_status", s->auto_status,
		      "request",
		      arb_request_name(s->request), "req_id",
		      u64_json(s->req_id), "origin", arb_origin_name(s->origin),
		      "target",
		      s->target == ARB_NONE ? (json_int_t)-1
					    : (json_int_t)s->target,
		      "outstanding", (json_int_t)s->outstanding,
		      "next_instance", u64_json(s->next_instance), "history",
		      history, "queue", queue);
	return o;
fail:
	json_decref(history);
	json_decref(queue);
	return NULL;
}

static json_t *
save_tree(const struct runtime *rt)
{
	const struct arb_spec *spec = rt->spec;
	struct arb_tree_globals g;
	json_t *nodes = json_array(), *sups = json_array();

	if (!nodes || !sups)
		goto fail;
	for (uint32_t i = 0; i < spec->nnodes; i++) {
		struct arb_node_state s;
		struct arb_sup_state sup;

		if (!arb_spec_is_node(spec, i)) {
			if (json_array_append_new(nodes, json_null()) < 0)
				goto fail;
			continue;
		}
		arb_tree_save_node(rt->tree, i, &s);
		if (json_array_append_new(nodes, node_state_json(&s)) < 0)
			goto fail;
		if (spec->nodes[i].kind != ARB_NODE_SUPERVISOR)
			continue;
		arb_tree_save_sup(rt->tree, i, &sup);
		if (json_array_append_new(sups, sup_state_json(rt->tree, i, &sup)) < 0)
			goto fail;
	}
	arb_tree_save_globals(rt->tree, &g);
	return json_pack("{s:I,s:o,s:b,s:o,s:o}", "incarnations",
			 (json_int_t)g.incarnations, "rng", u64_json(g.rng),
			 "down", g.down, "nodes", nodes, "sups", sups);
fail:
	json_decref(nodes);
	json_decref(sups);
	return NULL;
}

static json_t *
save_listen(const struct rt_node *r, struct arb_state_out *o)
{
	json_t *a = json_array();

	for (uint32_t i = 0; a && i < r->nlisten; i++) {
		json_t *fd = arb_state_out_fd(o, r->listen_fds[i]);

		if (!fd || json_array_append_new(
				   a, json_pack("{s:o,s:s}", "fd", fd, "addr",
						r->listen_addrs[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* What a service said of itself, when it said anything; false on OOM. */
static bool
save_note(json_t *node, const struct arb_service_note *n)
{
	json_t *o;
	bool ok;

	if (!n->status && n->errno_value < 0 && !n->reloading && !n->stopping)
		return true;
	o = json_object();
	ok = o && arb_state_put_str(o, "status", n->status) &&
	     arb_state_put_int(o, "errno", n->errno_value, -1) &&
	     arb_state_put_bool(o, "reloading", n->reloading, false) &&
	     arb_state_put_bool(o, "stopping", n->stopping, false);
	if (!ok) {
		json_decref(o);
		return false;
	}
	return arb_state_put(node, "note", o);
}

/* Keys left out: no listen socket, no readiness pipe, no process, a
 * note of nothing, sinks not set. */
static json_t *
save_rt_node(const struct runtime *rt, uint32_t i, struct arb_state_out *o)
{
	const struct rt_node *r = rt->nodes[i];
	json_t *n = json_object(), *procs;
	bool oom = !n;

	if (oom)
		return NULL;
	if (r->nlisten > 0)
		oom |= !arb_state_put(n, "listen", save_listen(r, o));
	if (r->ready_pipe && r->ready_pipe->io.fd >= 0)
		oom |= !arb_state_put(n, "ready_fd", arb_state_out_fd(
					     o, r->ready_pipe->io.fd));
	procs = arb_service_procs_save(&rt->procs, i, o);
	if (procs && json_is_null(procs))
		json_decref(procs);
	else
		oom |= !arb_state_put(n, "procs", procs);
	oom |= !save_note(n, &r->note);
	oom |= !arb_state_put_bool(n, "sinks_set", r->sinks_set, false);
	if (oom) {
		json_decref(n);
		return NULL;
	}
	return n;
}

static json_t *
save_runtime(const struct runtime *rt, struct arb_state_out *o)
{
	json_t *nodes = json_array();

	for (uint32_t i = 0; nodes && i < rt->spec->nnodes; i++) {
		json_t *n = arb_spec_is_node(rt->spec, i) &&
					    rt->spec->nodes[i].kind ==
						    ARB_NODE_SERVICE
				    ? save_rt_node(rt, i, o)
				    : json_null();

		if (json_array_append_new(nodes, n) < 0) {
			json_decref(nodes);
			return NULL;
		}
	}
	if (!nodes)
		return NULL;
	return json_pack("{s:i,s:I,s:o,s:o,s:b,s:o}", "exit_code",
			 rt->exit_code, "internal_errors",
			 (json_int_t)rt->internal_errors, "nofile_cur",
			 u64_json(rt->spawner.nofile_cur), "nofile_max",
			 u64_json(rt->spawner.nofile_max), "restore_nofile",
			 rt->spawner.restore_nofile, "nodes", nodes);
}

static json_t *
save_argv(char *const *argv)
{
	json_t *a = json_array();

	for (size_t i = 0; a && argv[i]; i++)
		if (json_array_append_new(a, json_string(argv[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

int
rt_save(struct runtime *rt, struct arb_state_out *o, const char *binary)
{
	json_t *logs = NULL;
	int r;

	r = arb_logs_save(rt->logs, o, &logs);
	if (r < 0)
		return r;
	if (json_object_set_new(o->root, "arbord", json_string(ARB_VERSION)) < 0 ||
	    json_object_set_new(o->root, "saved_us",
				json_integer(arb_monotonic_us())) < 0 ||
	    json_object_set_new(o->root, "binary", json_string(binary)) < 0 ||
	    json_object_set_new(o->root, "argv", save_argv(rt->argv)) < 0 ||
	    json_object_set_new(o->root, "spec",
				arb_spec_json_save(rt->spec)) < 0 ||
	    json_object_set_new(o->root, "tree", save_tree(rt)) < 0 ||
	    json_object_set_new(o->root, "runtime", save_runtime(rt, o)) < 0 ||
	    json_object_set_new(o->root, "logs", logs) < 0 ||
	    json_object_set_new(o->root, "notify",
				arb_notify_save(rt->notify, o)) < 0 ||
	    json_object_set_new(o->root, "manager", arb_manager_save()) < 0 ||
	    json_object_set_new(o->root, "cgroup", rt_cgroup_save(rt)) < 0)
		return -ENOMEM;
	return 0;
}

/* ---- restoring ----------------------------------------------------------- */

static int
get_u32(struct arb_state_in *in, const json_t *o, const char *what,
	const char *key, uint32_t *ret)
{
	int64_t v;

	if (arb_state_int(in, o, what, key, 0, UINT32_MAX, &v) < 0)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

/* An index or -1 (ARB_NONE). */
static int
get_index(struct arb_state_in *in, const json_t *o, const char *what,
	  const char *key, uint32_t *ret)
{
	int64_t v;

	if (arb_state_int(in, o, what, key, -1, INT32_MAX, &v) < 0)
		return -EINVAL;
	*ret = v < 0 ? ARB_NONE : (uint32_t)v;
	return 0;
}

static int
get_i32_opt(struct arb_state_in *in, const json_t *o, const char *what,
	    const char *key, int *ret)
{
	int64_t v = *ret;

	if (arb_state_int_opt(in, o, what, key, INT32_MIN, INT32_MAX, &v) < 0)
		return -EINVAL;
	*ret = (int)v;
	return 0;
}

static int
get_u32_opt(struct arb_state_in *in, const json_t *o, const char *what,
	    const char *key, uint32_t *ret)
{
	int64_t v = *ret;

	if (arb_state_int_opt(in, o, what, key, 0, UINT32_MAX, &v) < 0)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

static int
get_ms_opt(struct arb_state_in *in, const json_t *o, const char *what,
	   const char *key, int64_t *ret)
{
	return arb_state_int_opt(in, o, what, key, INT64_MIN / 4,
				 INT64_MAX / 4, ret);
}

/* An enum by name; absent: value 0. */
static int
get_enum_opt(struct arb_state_in *in, const json_t *o, const char *what,
	     const char *key, int (*from_name)(const char *), int *ret)
{
	if (!json_object_get(o, key)) {
		*ret = 0;
		return json_is_object(o) ? 0
					 : arb_state_fail(in, "%s: not an "
							  "object", what);
	}
	return arb_state_enum(in, o, what, key, from_name, ret);
}

/* Absent keys are zero, false or the first name (node_state_json). */
static int
read_node_state(struct arb_state_in *in, const json_t *o, const char *what,
		struct arb_node_state *s)
{
	int state, failure, reason;

	memset(s, 0, sizeof(*s));
	if (arb_state_enum(in, o, what, "state", arb_child_state_from_name,
			   &state) < 0 ||
	    arb_state_bool_opt(in, o, what, "present", &s->present) < 0 ||
	    get_i32_opt(in, o, what, "pid", &s->pid) < 0 ||
	    get_u32_opt(in, o, what, "incarnation", &s->incarnation) < 0 ||
	    get_u32_opt(in, o, what, "restarts", &s->restarts) < 0 ||
	    arb_state_bool_opt(in, o, what, "timer_armed", &s->timer_armed) < 0 ||
	    get_ms_opt(in, o, what, "deadline_ms", &s->deadline_ms) < 0 ||
	    get_ms_opt(in, o, what, "since_ms", &s->since_ms) < 0 ||
	    get_ms_opt(in, o, what, "up_ms", &s->up_ms) < 0 ||
	    arb_state_bool_opt(in, o, what, "start_failing",
			       &s->start_failing) < 0 ||
	    arb_state_bool_opt(in, o, what, "start_cancelled",
			       &s->start_cancelled) < 0 ||
	    arb_state_bool_opt(in, o, what, "aborting", &s->aborting) < 0 ||
	    arb_state_bool_opt(in, o, what, "delayed", &s->delayed) < 0 ||
	    get_ms_opt(in, o, what, "backoff_ms", &s->backoff_ms) < 0 ||
	    get_i32_opt(in, o, what, "last_err", &s->last_err) < 0 ||
	    get_enum_opt(in, o, what, "last_failure",
			 arb_start_failure_from_name, &failure) < 0 ||
	    arb_state_bool_opt(in, o, what, "exited", &s->exited) < 0 ||
	    get_i32_opt(in, o, what, "exit_pid", &s->exit_pid) < 0 ||
	    get_i32_opt(in, o, what, "exit_code", &s->exit_code) < 0 ||
	    get_i32_opt(in, o, what, "exit_signo", &s->exit_signo) < 0 ||
	    get_enum_opt(in, o, what, "last_reason", arb_reason_from_name,
			 &reason) < 0)
		return -EINVAL;
	s->state = (enum arb_child_state)state;
	s->last_failure = (enum arb_start_failure)failure;
	s->last_reason = (enum arb_reason)reason;
	return 0;
}

static int
read_queued(struct arb_state_in *in, const json_t *o, const char *what,
	    struct arb_queued *q)
{
	int kind, request, origin;

	if (arb_state_enum(in, o, what, "kind", arb_queued_kind_from_name,
			   &kind) < 0 ||
	    get_index(in, o, what, "child", &q->child) < 0 ||
	    get_u32(in, o, what, "incarnation", &q->incarnation) < 0 ||
	    arb_state_enum(in, o, what, "request", arb_request_from_name,
			   &request) < 0 ||
	    arb_state_u64(in, o, what, "req_id", &q->req_id) < 0 ||
	    arb_state_enum(in, o, what, "origin", arb_origin_from_name,
			   &origin) < 0 ||
	    get_index(in, o, what, "pos", &q->pos) < 0)
		return -EINVAL;
	q->kind = (enum arb_queued_kind)kind;
	q->request = (enum arb_request_kind)request;
	q->origin = (enum arb_request_origin)origin;
	return 0;
}

/* One supervisor's part; its arrays live in *history and *queue (the
 * caller frees them). */
static int
read_sup_state(struct arb_state_in *in, const json_t *o, const char *what,
	       struct arb_sup_state *s, int64_t **history,
	       struct arb_queued **queue)
{
	const json_t *h, *q, *v;
	int job, why, request, origin;
	int64_t cursor, first, last;
	size_t i;

	memset(s, 0, sizeof(*s));
	if (arb_state_enum(in, o, what, "job", arb_job_from_name, &job) < 0 ||
	    arb_state_bool(in, o, what, "terminating", &s->terminating) < 0 ||
	    arb_state_int(in, o, what, "cursor", -2, INT32_MAX, &cursor) < 0 ||
	    arb_state_int(in, o, what, "first", -2, INT32_MAX, &first) < 0 ||
	    arb_state_int(in, o, what, "last", -2, INT32_MAX, &last) < 0 ||
	    arb_state_enum(in, o, what, "why", arb_job_why_from_name,
			   &why) < 0 ||
	    /* Absent from a writer before exit_status: then read only as
	     * exit_status = "root" reads it, 0. */
	    get_i32_opt(in, o, what, "auto_status", &s->auto_status) < 0 ||
	    arb_state_enum(in, o, what, "request", arb_request_from_name,
			   &request) < 0 ||
	    arb_state_u64(in, o, what, "req_id", &s->req_id) < 0 ||
	    arb_state_enum(in, o, what, "origin", arb_origin_from_name,
			   &origin) < 0 ||
	    get_index(in, o, what, "target", &s->target) < 0 ||
	    get_u32(in, o, what, "outstanding", &s->outstanding) < 0 ||
	    arb_state_u64(in, o, what, "next_instance", &s->next_instance) < 0 ||
	    arb_state_array(in, o, what, "history", &h) < 0 ||
	    arb_state_array(in, o, what, "queue", &q) < 0)
		return -EINVAL;
	s->job = (enum arb_job)job;
	s->why = (enum arb_job_why)why;
	s->request = (enum arb_request_kind)request;
	s->origin = (enum arb_request_origin)origin;
	s->cursor = (int32_t)cursor;
	s->first = (int32_t)first;
	s->last = (int32_t)last;
	if (json_array_size(h) > ARB_INTENSITY_MAX + 1u ||
	    json_array_size(q) > 4u * ARB_NODES_MAX)
		return arb_state_fail(in, "%s: history or queue too long", what);
	*history = calloc(json_array_size(h) + 1, sizeof(**history));
	*queue = calloc(json_array_size(q) + 1, sizeof(**queue));
	if (!*history || !*queue)
		return -ENOMEM;
	json_array_foreach(h, i, v) {
		if (!json_is_integer(v))
			return arb_state_fail(in, "%s: history[%zu]: not an "
					      "integer", what, i);
		(*history)[i] = json_integer_value(v);
	}
	json_array_foreach(q, i, v)
		if (read_queued(in, v, what, &(*queue)[i]) < 0)
			return -EINVAL;
	s->history = *history;
	s->nhistory = (uint32_t)json_array_size(h);
	s->queue = *queue;
	s->nqueue = (uint32_t)json_array_size(q);
	return 0;
}

static int
core_refused(struct arb_state_in *in, int r, const char *what,
	     const char *why)
{
	if (r == -ENOMEM)
		return r;
	return arb_state_fail(in, "%s: %s", what, why ? why : "refused");
}

static int
restore_sups(struct arb_tree *t, struct arb_state_in *in, const json_t *sups)
{
	const json_t *v;
	size_t i;

	json_array_foreach(sups, i, v) {
		struct arb_sup_state s;
		int64_t *history = NULL;
		struct arb_queued *queue = NULL;
		const char *why = NULL;
		char what[48];
		uint32_t node;
		int r;

		snprintf(what, sizeof(what), "tree.sups[%zu]", i);
		r = get_u32(in, v, what, "node", &node);
		if (r == 0)
			r = read_sup_state(in, v, what, &s, &history, &queue);
		if (r == 0 && (node >= arb_tree_spec(t)->nnodes ||
			       !arb_spec_is_node(arb_tree_spec(t), node) ||
			       arb_tree_spec(t)->nodes[node].kind !=
				       ARB_NODE_SUPERVISOR))
			r = arb_state_fail(in, "%s: not a supervisor", what);
		if (r == 0) {
			r = arb_tree_restore_sup(t, node, &s, &why);
			if (r < 0)
				r = core_refused(in, r, what, why);
		}
		free(history);
		free(queue);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The core's state, into t (fresh, for spec). */
static int
restore_tree(struct arb_tree *t, const struct arb_spec *spec,
	     struct arb_state_in *in, const json_t *obj)
{
	struct arb_tree_globals g;
	const json_t *nodes, *sups;
	const char *why = NULL;
	int64_t inc;
	int r;

	if (arb_state_int(in, obj, "tree", "incarnations", 0, UINT32_MAX,
			  &inc) < 0 ||
	    arb_state_u64(in, obj, "tree", "rng", &g.rng) < 0 ||
	    arb_state_bool(in, obj, "tree", "down", &g.down) < 0 ||
	    arb_state_array(in, obj, "tree", "nodes", &nodes) < 0 ||
	    arb_state_array(in, obj, "tree", "sups", &sups) < 0)
		return -EINVAL;
	g.incarnations = (uint32_t)inc;
	if (json_array_size(nodes) != spec->nnodes)
		return arb_state_fail(in, "tree: %zu nodes for a spec of %u",
				      json_array_size(nodes), spec->nnodes);
	r = arb_tree_restore_globals(t, &g, &why);
	if (r < 0)
		return core_refused(in, r, "tree", why);
	for (uint32_t i = 0; i < spec->nnodes; i++) {
		const json_t *v = json_array_get(nodes, i);
		struct arb_node_state s;
		char what[32];

		snprintf(what, sizeof(what), "tree.nodes[%u]", i);
		if (!arb_spec_is_node(spec, i)) {
			if (!json_is_null(v))
				return arb_state_fail(in, "%s: not a node", what);
			continue;
		}
		if (read_node_state(in, v, what, &s) < 0)
			return -EINVAL;
		r = arb_tree_restore_node(t, i, &s, &why);
		if (r < 0)
			return core_refused(in, r, what, why);
	}
	r = restore_sups(t, in, sups);
	if (r < 0)
		return r;
	r = arb_tree_restore_done(t, &why);
	if (r < 0)
		return core_refused(in, r, "tree", why);
	return 0;
}

static void
arm_timers(struct runtime *rt)
{
	for (uint32_t i = 0; i < rt->spec->nnodes; i++) {
		struct arb_node_state s;

		if (!arb_spec_is_node(rt->spec, i))
			continue;
		arb_tree_save_node(rt->tree, i, &s);
		if (s.timer_armed)
			rt_timer_set(rt, i, s.deadline_ms);
	}
}

static int
restore_listen(struct rt_node *r, struct arb_state_in *in, const json_t *a,
	       const char *what)
{
	const json_t *v;
	size_t i;

	if (json_array_size(a) > ARB_LISTEN_MAX)
		return arb_state_fail(in, "%s: too many listen sockets", what);
	if (json_array_size(a) == 0)
		return 0;
	r->listen_fds = calloc(json_array_size(a), sizeof(*r->listen_fds));
	/* NULL-terminated, as drop_listens frees it. */
	r->listen_addrs = calloc(json_array_size(a) + 1,
				 sizeof(*r->listen_addrs));
	if (!r->listen_fds || !r->listen_addrs)
		return -ENOMEM;
	json_array_foreach(a, i, v) {
		const char *addr;
		int fd;

		if (arb_state_str(in, v, what, "addr", &addr) < 0 ||
		    arb_state_fd(in, v, what, "fd", &fd) < 0)
			return -EINVAL;
		if (fd < 0)
			return arb_state_fail(in, "%s: a listen socket without "
					      "a descriptor", what);
		r->listen_fds[r->nlisten] = fd;
		r->listen_addrs[r->nlisten] = strdup(addr);
		r->nlisten++;
		if (!r->listen_addrs[r->nlisten - 1])
			return -ENOMEM;
	}
	return 0;
}

static int
restore_note(struct arb_service_note *n, struct arb_state_in *in,
	     const json_t *o, const char *what)
{
	const char *status = NULL;
	int64_t e = -1;

	if (!o)
		return 0;
	if (arb_state_str_opt(in, o, what, "status", &status) < 0 ||
	    arb_state_int_opt(in, o, what, "errno", -1, INT32_MAX, &e) < 0 ||
	    arb_state_bool_opt(in, o, what, "reloading", &n->reloading) < 0 ||
	    arb_state_bool_opt(in, o, what, "stopping", &n->stopping) < 0)
		return -EINVAL;
	n->errno_value = (int)e;
	if (status && !(n->status = strndup(status, ARB_STATUS_TEXT_MAX)))
		return -ENOMEM;
	return 0;
}

static int
restore_rt_node(struct runtime *rt, uint32_t i, struct arb_state_in *in,
		const json_t *o, const char *what)
{
	struct rt_node *r = rt->nodes[i];
	const json_t *listen = NULL, *procs = NULL, *note = NULL;
	int ready_fd, e;

	if (arb_state_array_opt(in, o, what, "listen", &listen) < 0 ||
	    arb_state_fd(in, o, what, "ready_fd", &ready_fd) < 0)
		return -EINVAL;
	if (ready_fd >= 0) {
		if (rt_ready_pipe(r) < 0) {
			close(ready_fd);
			return -ENOMEM;
		}
		ev_io_set(&r->ready_pipe->io, ready_fd, EV_READ);
		ev_io_start(rt->loop, &r->ready_pipe->io);
	}
	if (arb_state_object_opt(in, o, what, "note", &note) < 0 ||
	    arb_state_bool_opt(in, o, what, "sinks_set", &r->sinks_set) < 0)
		return -EINVAL;
	e = listen ? restore_listen(r, in, listen, what) : 0;
	if (e == 0)
		e = restore_note(&r->note, in, note, what);
	procs = json_object_get(o, "procs");
	if (e == 0)
		e = arb_service_procs_restore(&rt->procs, i, in, procs, what);
	if (e == 0 && rt->procs.v[i].main.fd >= 0 &&
	    arb_service_procs_main_of(&rt->procs, rt->procs.v[i].main.pid) == i)
		rt_main_watch(rt, i, rt->procs.v[i].main.fd);
	return e;
}

static int
restore_runtime(struct runtime *rt, struct arb_state_in *in, const json_t *obj)
{
	const json_t *nodes;
	int64_t code, errors;
	int e;

	if (arb_state_int(in, obj, "runtime", "exit_code", 0, 255, &code) < 0 ||
	    arb_state_int(in, obj, "runtime", "internal_errors", 0, INT64_MAX,
			  &errors) < 0 ||
	    arb_state_u64(in, obj, "runtime", "nofile_cur",
			  &rt->spawner.nofile_cur) < 0 ||
	    arb_state_u64(in, obj, "runtime", "nofile_max",
			  &rt->spawner.nofile_max) < 0 ||
	    arb_state_bool(in, obj, "runtime", "restore_nofile",
			   &rt->spawner.restore_nofile) < 0 ||
	    arb_state_array(in, obj, "runtime", "nodes", &nodes) < 0)
		return -EINVAL;
	rt->exit_code = (int)code;
	rt->internal_errors = errors;
	if (json_array_size(nodes) != rt->spec->nnodes)
		return arb_state_fail(in, "runtime: %zu nodes for a spec of %u",
				      json_array_size(nodes), rt->spec->nnodes);
	for (uint32_t i = 0; i < rt->spec->nnodes; i++) {
		const json_t *v = json_array_get(nodes, i);
		char what[32];

		if (json_is_null(v))
			continue;
		snprintf(what, sizeof(what), "runtime.nodes[%u]", i);
		if (!arb_spec_is_node(rt->spec, i) ||
		    rt->spec->nodes[i].kind != ARB_NODE_SERVICE)
			return arb_state_fail(in, "%s: not a service", what);
		e = restore_rt_node(rt, i, in, v, what);
		if (e < 0)
			return e;
	}
	return 0;
}

int
rt_restore(struct runtime *rt, struct arb_state_in *in)
{
	const json_t *tree, *runtime, *logs, *notify = NULL, *manager = NULL;
	int e;

	if (arb_state_object(in, in->root, "state", "tree", &tree) < 0 ||
	    arb_state_object(in, in->root, "state", "runtime", &runtime) < 0 ||
	    arb_state_object(in, in->root, "state", "logs", &logs) < 0 ||
	    arb_state_object_opt(in, in->root, "state", "notify", &notify) < 0 ||
	    arb_state_object_opt(in, in->root, "state", "manager", &manager) < 0)
		return -EINVAL;
	e = restore_tree(rt->tree, rt->spec, in, tree);
	if (e == 0)
		e = restore_runtime(rt, in, runtime);
	if (e == 0)
		e = arb_logs_restore(rt->logs, in, logs);
	if (e == 0 && notify)
		e = arb_notify_resume(&rt->notify, rt->loop, rt_on_notify, rt,
				      in, notify);
	if (e == 0)
		e = arb_manager_resume(in, manager);
	if (e == 0)
		arm_timers(rt);
	return e;
}

/* ---- the probe ----------------------------------------------------------- */

int
arb_state_probe(int fd, const char *config_path, FILE *out, FILE *err)
{
	struct arb_state_in in;
	struct arb_spec *spec = NULL, *disk = NULL;
	struct arb_diag diag = {0};
	const json_t *spec_obj;
	int e;

	e = arb_state_in_read(&in, fd);
	if (e == 0)
		e = arb_state_object(&in, in.root, "state", "spec", &spec_obj);
	if (e == 0)
		e = arb_spec_json_load(&in, spec_obj, &spec);
	if (e == 0)
		e = arb_runtime_probe(spec, &in);
	if (e < 0) {
		fprintf(err, "arbord %s cannot resume this state: %s\n",
			ARB_VERSION, in.error[0] ? in.error : strerror(-e));
		goto out;
	}
	/* What a resume that fails falls back to. */
	e = arb_config_load(config_path, &disk, &diag);
	if (e < 0) {
		fprintf(err, "%s\n", diag.n ? diag.entries[0].text
					   : "the configuration has errors");
		goto out;
	}
	fprintf(out, "arbord %s state %d\n", ARB_VERSION, ARB_STATE_VERSION);
out:
	arb_diag_done(&diag);
	arb_spec_free(disk);
	arb_spec_free(spec);
	arb_state_in_done(&in);
	return e < 0 ? 1 : 0;
}
