/*
 * spec_json.c - the live spec as the re-exec state's "spec" member and
 * back (FORMAT.md "spec"): every slot, every key that differs from the
 * format's default node, nothing derived.
 *
 * The reader trusts nothing: every value goes through state.h's checked
 * getters, and the spec read is handed out only once arb_spec_check
 * (core/spec_check.c) found it one arbord could have made.
 */
#include "spec_json.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/limits.h"
#include "core/mem.h"

/* More than any spec holds: conf.d files, includes, files of reloads. */
#define FILES_MAX (1u << 20)

/* The longest duration the loader reads (arb_spec_parse_duration). */
#define DURATION_MAX_MS (366LL * 24 * 3600 * 1000)

#define LOG_SINK_BITS 4

/*
 * The format's default node (FORMAT.md "spec"): a node's key equal to its
 * value is not written, and an absent key reads as it. These are version
 * 1's values, those spec.c's arb_spec_add gave a new node when it was
 * written (kind apart: "service" when absent). They are the format, not
 * spec.h's defaults: changing one is a new version, whatever spec.h's
 * become (test_default_node_is_not_written says when they differ).
 */
static const struct arb_spec_node format_default = {
	.kind = ARB_NODE_SERVICE,
	.parent = ARB_NONE,
	.defaulted = ~0u,
	.restart = ARB_PERMANENT,
	.strategy = ARB_ONE_FOR_ONE,
	.intensity = 3,
	.period_ms = 5000,
	.auto_shutdown = ARB_AUTO_NEVER,
	.shutdown = ARB_SHUTDOWN_ORDERED,
	.stop_signal = 15,
	.stop_timeout_ms = 5000,
	.ready = ARB_READY_EXEC,
	.ready_fd = -1,
	.start_timeout_ms = 90000,
	.umask = -1,
	.log = {
		.sinks = ARB_SINK_RING,
		.ring_size = 64u * 1024,
		.max_size = 10ull * 1024 * 1024,
		.keep = 5,
	},
	.on_change = ARB_ON_CHANGE_RESTART,
	.template_node = ARB_NONE,
};

/* ---- saving ---- */

/* The arb_state_put* functions (state.h) write obj[key] only when the
 * value differs from the default node's; false on OOM. */

/* An enum by name (a table's literal: no UTF-8 check either). */
static bool
put_name(json_t *obj, const char *key, int v, int def, const char *name)
{
	return v == def || (name && arb_state_put(obj, key, json_string_nocheck(name)));
}

/* A duration; -1 for ARB_INFINITY_MS. */
static bool
put_duration(json_t *obj, const char *key, int64_t ms, int64_t def)
{
	return arb_state_put_int(obj, key, ms == ARB_INFINITY_MS ? -1 : ms,
		       def == ARB_INFINITY_MS ? -1 : def);
}

/* An index; -1 for ARB_NONE. */
static bool
put_index(json_t *obj, const char *key, uint32_t i, uint32_t def)
{
	return arb_state_put_int(obj, key, i == ARB_NONE ? -1 : (json_int_t)i,
		       def == ARB_NONE ? -1 : (json_int_t)def);
}

static json_t *
str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* NULL (none) and an empty vector differ: both are written as they are. */
static json_t *
strv_json(char *const *v)
{
	json_t *a;

	if (!v)
		return json_null();
	a = json_array();
	for (uint32_t i = 0; a && v[i]; i++)
		if (json_array_append_new(a, json_string(v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* Every default vector is NULL (absent); [] is written. */
static bool
put_strv(json_t *obj, const char *key, char *const *v)
{
	return !v || arb_state_put(obj, key, strv_json(v));
}

/* An array of n integers from v, written when there are some. */
static bool
put_u32s(json_t *obj, const char *key, const uint32_t *v, uint32_t n)
{
	json_t *a;

	if (n == 0)
		return true;
	a = json_array();
	for (uint32_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_integer(v[i])) < 0) {
			json_decref(a);
			return false;
		}
	return arb_state_put(obj, key, a);
}

static json_t *
u64_json(uint64_t v)
{
	char buf[24];

	arb_spec_format_uint(v, buf, sizeof(buf));
	return json_string_nocheck(buf);
}

static json_t *
rlim_json(uint64_t v)
{
	return v == ARB_RLIM_INFINITY ? json_string_nocheck("infinity") :
					u64_json(v);
}

static bool
put_normal_exit(json_t *obj, const struct arb_spec_node *n)
{
	json_t *a;

	if (memcmp(n->normal_exit, format_default.normal_exit,
		   sizeof(n->normal_exit)) == 0)
		return true;
	a = json_array();
	for (int code = 0; a && code < 256; code++)
		if ((n->normal_exit[code / 8] & (1u << (code % 8))) &&
		    json_array_append_new(a, json_integer(code)) < 0) {
			json_decref(a);
			return false;
		}
	return arb_state_put(obj, "normal_exit", a);
}

static bool
put_rlimits(json_t *obj, const struct arb_spec_node *n)
{
	json_t *a;

	if (n->nrlimits == 0)
		return true;
	a = json_array();
	for (uint32_t i = 0; a && i < n->nrlimits; i++) {
		const struct arb_rlimit *r = &n->rlimits[i];
		const char *name = arb_rlimit_name(r->resource);
		json_t *o = json_object();

		if (!o || !name ||
		    !arb_state_put(o, "resource", json_string_nocheck(name)) ||
		    !arb_state_put(o, "soft", rlim_json(r->soft)) ||
		    !arb_state_put(o, "hard", rlim_json(r->hard)) ||
		    json_array_append_new(a, o) < 0) {
			json_decref(o);
			json_decref(a);
			return false;
		}
	}
	return arb_state_put(obj, "rlimits", a);
}

/* A cgroup limit: "max" or a decimal string (bytes past 2^53). */
static json_t *
cg_json(uint64_t v)
{
	return v == ARB_CG_UNLIMITED ? json_string_nocheck("max") : u64_json(v);
}

/* A cgroup limit, only when given. */
static bool
put_cg(json_t *o, const struct arb_cg_limits *l, unsigned key,
       const char *name, json_t *(*make)(uint64_t), uint64_t v)
{
	if (!(l->given & key))
		return true;
	return arb_state_put(o, name, make(v));
}

static json_t *
weight_json(uint64_t v)
{
	return json_integer((json_int_t)v);
}

/* The cgroup limits given, each only when it is; none: not written. */
static bool
put_limits(json_t *obj, const struct arb_cg_limits *l)
{
	json_t *o;

	if (!l)
		return true;
	o = json_object();
	if (!o || !arb_state_put_int(o, "given", l->given, -1) ||
	    !put_cg(o, l, ARB_CG_MEMORY_MAX, "memory_max", cg_json,
		    l->memory_max) ||
	    !put_cg(o, l, ARB_CG_MEMORY_HIGH, "memory_high", cg_json,
		    l->memory_high) ||
	    !put_cg(o, l, ARB_CG_MEMORY_SWAP_MAX, "memory_swap_max", cg_json,
		    l->memory_swap_max) ||
	    !put_cg(o, l, ARB_CG_CPU_WEIGHT, "cpu_weight", weight_json,
		    l->cpu_weight) ||
	    !put_cg(o, l, ARB_CG_CPU_MAX, "cpu_max_us", cg_json,
		    l->cpu_max_us) ||
	    !put_cg(o, l, ARB_CG_CPU_MAX, "cpu_period_us", weight_json,
		    l->cpu_period_us) ||
	    !put_cg(o, l, ARB_CG_PIDS_MAX, "pids_max", cg_json, l->pids_max) ||
	    !put_cg(o, l, ARB_CG_IO_WEIGHT, "io_weight", weight_json,
		    l->io_weight)) {
		json_decref(o);
		return false;
	}
	return arb_state_put(obj, "limits", o);
}

static bool
put_sinks(json_t *obj, unsigned sinks, unsigned def)
{
	json_t *a;

	if (sinks == def)
		return true;
	a = json_array();
	for (unsigned bit = 0; a && bit < LOG_SINK_BITS; bit++)
		if ((sinks & (1u << bit)) &&
		    json_array_append_new(a, json_string_nocheck(
				arb_log_sink_name(1u << bit))) < 0) {
			json_decref(a);
			return false;
		}
	return arb_state_put(obj, "sinks", a);
}

/* The log group, with its keys that differ from the default's; none
 * differs: not written. */
static bool
put_log(json_t *obj, const struct arb_log_spec *log)
{
	const struct arb_log_spec *def = &format_default.log;
	json_t *o = json_object();

	if (!o || !put_sinks(o, log->sinks, def->sinks) ||
	    !arb_state_put_int(o, "ring_size", log->ring_size, def->ring_size) ||
	    !arb_state_put_str(o, "file", log->file) ||
	    !arb_state_put_int(o, "max_size", (json_int_t)log->max_size,
		     (json_int_t)def->max_size) ||
	    !arb_state_put_int(o, "keep", log->keep, def->keep) ||
	    !put_name(o, "streams", log->streams, def->streams,
		      arb_log_streams_name(log->streams)) ||
	    !arb_state_put_int(o, "given", log->given, def->given)) {
		json_decref(o);
		return false;
	}
	if (json_object_size(o) == 0) {
		json_decref(o);
		return true;
	}
	return arb_state_put(obj, "log", o);
}

/* file's index in s->files (where node->file points), or -1. */
static json_int_t
file_index(const struct arb_spec *s, const char *file)
{
	if (!file)
		return -1;
	for (uint32_t i = 0; i < s->nfiles; i++)
		if (s->files[i] == file)
			return i;
	for (uint32_t i = 0; i < s->nfiles; i++)
		if (strcmp(s->files[i], file) == 0)
			return i;
	return -1;
}

static bool
put_enums(json_t *o, const struct arb_spec_node *n)
{
	const struct arb_spec_node *d = &format_default;

	return put_name(o, "kind", n->kind, d->kind,
			arb_node_kind_name(n->kind)) &&
	       put_name(o, "restart", n->restart, d->restart,
			arb_restart_name(n->restart)) &&
	       put_name(o, "strategy", n->strategy, d->strategy,
			arb_strategy_name(n->strategy)) &&
	       put_name(o, "auto_shutdown", n->auto_shutdown, d->auto_shutdown,
			arb_auto_shutdown_name(n->auto_shutdown)) &&
	       put_name(o, "shutdown", n->shutdown, d->shutdown,
			arb_shutdown_order_name(n->shutdown)) &&
	       put_name(o, "ready", n->ready, d->ready,
			arb_ready_name(n->ready)) &&
	       put_name(o, "on_change", n->on_change, d->on_change,
			arb_on_change_name(n->on_change));
}

static bool
put_numbers(json_t *o, const struct arb_spec_node *n)
{
	const struct arb_spec_node *d = &format_default;

	return arb_state_put_int(o, "line", n->line, d->line) &&
	       arb_state_put_int(o, "defaulted", n->defaulted, d->defaulted) &&
	       arb_state_put_int(o, "intensity", n->intensity, d->intensity) &&
	       put_duration(o, "period_ms", n->period_ms, d->period_ms) &&
	       arb_state_put_int(o, "stop_signal", n->stop_signal, d->stop_signal) &&
	       put_duration(o, "stop_timeout_ms", n->stop_timeout_ms,
			    d->stop_timeout_ms) &&
	       arb_state_put_int(o, "ready_fd", n->ready_fd, d->ready_fd) &&
	       put_duration(o, "start_timeout_ms", n->start_timeout_ms,
			    d->start_timeout_ms) &&
	       put_duration(o, "watchdog_ms", n->watchdog_ms,
			    d->watchdog_ms) &&
	       put_duration(o, "restart_delay_ms", n->restart_delay_ms,
			    d->restart_delay_ms) &&
	       put_duration(o, "restart_delay_max_ms",
			    n->restart_delay_max_ms,
			    d->restart_delay_max_ms) &&
	       arb_state_put_int(o, "uid", n->uid, d->uid) &&
	       arb_state_put_int(o, "gid", n->gid, d->gid) &&
	       arb_state_put_int(o, "umask", n->umask, d->umask) &&
	       arb_state_put_int(o, "nice", n->nice, d->nice) &&
	       arb_state_put_int(o, "forward_signals", n->forward_signals,
		       d->forward_signals) &&
	       arb_state_put_int(o, "max_children", n->max_children,
		       d->max_children) &&
	       arb_state_put_int(o, "instances", n->instances, d->instances);
}

static bool
put_flags(json_t *o, const struct arb_spec_node *n)
{
	const struct arb_spec_node *d = &format_default;

	return arb_state_put_bool(o, "significant", n->significant, d->significant) &&
	       arb_state_put_bool(o, "set_ids", n->set_ids, d->set_ids) &&
	       arb_state_put_bool(o, "set_nice", n->set_nice, d->set_nice) &&
	       arb_state_put_bool(o, "no_new_privileges", n->no_new_privileges,
			d->no_new_privileges) &&
	       arb_state_put_bool(o, "inherit_env", n->inherit_env, d->inherit_env);
}

static bool
put_owned(json_t *o, const struct arb_spec_node *n)
{
	return arb_state_put_str(o, "exec_path", n->exec_path) &&
	       put_strv(o, "argv", n->argv) && put_strv(o, "env", n->env) &&
	       arb_state_put_str(o, "cwd", n->cwd) && put_strv(o, "listen", n->listen) &&
	       put_u32s(o, "groups", n->groups, n->ngroups) &&
	       arb_state_put_str(o, "user_name", n->user_name) &&
	       arb_state_put_str(o, "home", n->home) && arb_state_put_str(o, "shell", n->shell) &&
	       put_normal_exit(o, n) && put_rlimits(o, n) &&
	       put_log(o, &n->log) && put_limits(o, n->limits);
}

/* The keys a node takes from a configuration: also a pending node's. */
static bool
keys_json(json_t *o, const struct arb_spec *s, const struct arb_spec_node *n)
{
	return arb_state_put_int(o, "file", file_index(s, n->file), -1) &&
	       put_enums(o, n) && put_numbers(o, n) && put_flags(o, n) &&
	       put_owned(o, n);
}

static bool
put_pending(json_t *obj, const struct arb_spec *s,
	    const struct arb_spec_node *pending)
{
	json_t *o;

	if (!pending)
		return true;
	o = json_object();
	if (o && keys_json(o, s, pending))
		return arb_state_put(obj, "pending", o);
	json_decref(o);
	return false;
}

static json_t *
node_json(const struct arb_spec *s, const struct arb_spec_node *n)
{
	const struct arb_spec_node *d = &format_default;
	json_t *o;

	if (n->unused)
		return json_null();
	o = json_object();
	if (o && arb_state_put(o, "name", json_string(n->name)) &&
	    arb_state_put(o, "path", json_string(n->path)) &&
	    put_index(o, "parent", n->parent, d->parent) &&
	    arb_state_put_int(o, "depth", n->depth, d->depth) &&
	    put_u32s(o, "children", n->children, n->nchildren) &&
	    put_index(o, "template_node", n->template_node,
		      d->template_node) &&
	    arb_state_put_bool(o, "is_template", n->is_template, d->is_template) &&
	    arb_state_put_bool(o, "dynamic", n->dynamic, d->dynamic) &&
	    arb_state_put_bool(o, "leaving", n->leaving, d->leaving) &&
	    put_pending(o, s, n->pending) && keys_json(o, s, n))
		return o;
	json_decref(o);
	return NULL;
}

json_t *
arb_spec_json_save(const struct arb_spec *spec)
{
	json_t *o = json_object(), *nodes = json_array(), *files = json_array();

	for (uint32_t i = 0; nodes && i < spec->nnodes; i++)
		if (json_array_append_new(nodes, node_json(spec,
							   &spec->nodes[i])) < 0)
			goto fail;
	for (uint32_t i = 0; files && i < spec->nfiles; i++)
		if (json_array_append_new(files,
					  json_string(spec->files[i])) < 0)
			goto fail;
	if (!o || !arb_state_put(o, "nodes", json_incref(nodes)) ||
	    !arb_state_put(o, "files", json_incref(files)) ||
	    !arb_state_put(o, "generation", u64_json(spec->generation)) ||
	    !arb_state_put(o, "control_group", str_or_null(spec->control_group)) ||
	    !arb_state_put(o, "control_gid", json_integer(spec->control_gid)) ||
	    !arb_state_put(o, "control_read_logs",
		 json_boolean(spec->control_read_logs)) ||
	    !arb_state_put(o, "on_giveup", json_string_nocheck(
			arb_giveup_name(spec->on_giveup))) ||
	    !arb_state_put(o, "emergency_shell",
			   strv_json(spec->emergency_shell)) ||
	    !arb_state_put(o, "exit_status", json_string_nocheck(
			arb_exit_status_name(spec->exit_status))) ||
	    !arb_state_put(o, "exit_sigterm_ok",
			   json_boolean(spec->exit_sigterm_ok)))
		goto fail;
	json_decref(nodes);
	json_decref(files);
	return o;
fail:
	json_decref(nodes);
	json_decref(files);
	json_decref(o);
	return NULL;
}

/* ---- loading ---- */

/* Where the reader is, for messages: "spec.nodes[3]". */
struct reader {
	struct arb_state_in *in;
	struct arb_spec *spec;
	uint32_t nfiles_in;
	char what[48];
};

static int
node_kind_from_name(const char *name)
{
	for (int k = 0; k < _ARB_NODE_KIND_MAX; k++)
		if (strcmp(arb_node_kind_name((enum arb_node_kind)k), name) == 0)
			return k;
	return -1;
}

/*
 * A node's key that is absent holds the default node's value: the read_*
 * functions below leave *ret as it is then (the caller's default). A
 * null is no absence: it is refused where the value is not a string.
 */
static bool
absent(const json_t *o, const char *key)
{
	return json_object_get(o, key) == NULL;
}

static int
read_int(struct reader *r, const json_t *o, const char *key, int64_t min,
	 int64_t max, int64_t *ret)
{
	if (absent(o, key))
		return 0;
	return arb_state_int(r->in, o, r->what, key, min, max, ret);
}

static int
read_u32(struct reader *r, const json_t *o, const char *key, uint32_t max,
	 uint32_t *ret)
{
	int64_t v = *ret;

	if (read_int(r, o, key, 0, max, &v) < 0)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

static int
read_bool(struct reader *r, const json_t *o, const char *key, bool *ret)
{
	if (absent(o, key))
		return 0;
	return arb_state_bool(r->in, o, r->what, key, ret);
}

static int
read_enum(struct reader *r, const json_t *o, const char *key,
	  int (*from_name)(const char *name), int *ret)
{
	if (absent(o, key))
		return 0;
	return arb_state_enum(r->in, o, r->what, key, from_name, ret);
}

/* -1 for ARB_INFINITY_MS where that is allowed. */
static int
read_duration(struct reader *r, const json_t *o, const char *key,
	      bool infinity_ok, int64_t *ret)
{
	int64_t v = *ret == ARB_INFINITY_MS ? -1 : *ret;

	if (read_int(r, o, key, infinity_ok ? -1 : 0, DURATION_MAX_MS, &v) < 0)
		return -EINVAL;
	*ret = v == -1 ? ARB_INFINITY_MS : v;
	return 0;
}

/* An index, -1 for ARB_NONE; below limit. */
static int
read_index(struct reader *r, const json_t *o, const char *key, uint32_t limit,
	   uint32_t *ret)
{
	int64_t v = *ret == ARB_NONE ? -1 : (int64_t)*ret;

	if (read_int(r, o, key, -1, (int64_t)limit - 1, &v) < 0)
		return -EINVAL;
	*ret = v < 0 ? ARB_NONE : (uint32_t)v;
	return 0;
}

/* A copy of the string at key, or NULL for null or absent (every
 * default string is NULL); -ENOMEM, -EINVAL. */
static int
read_str_copy(struct reader *r, const json_t *o, const char *key,
	      bool optional, char **ret)
{
	const char *s = NULL;

	if ((optional ? arb_state_str_opt(r->in, o, r->what, key, &s) :
	     arb_state_str(r->in, o, r->what, key, &s)) < 0)
		return -EINVAL;
	*ret = s ? arb_strdup(s) : NULL;
	return s && !*ret ? -ENOMEM : 0;
}

/* null, or an array of at most max strings: a NULL-terminated copy. */
static int
read_strv(struct reader *r, const json_t *o, const char *key, size_t max,
	  char ***ret)
{
	const json_t *a = NULL;
	size_t n;
	char **v;

	if (arb_state_array_opt(r->in, o, r->what, key, &a) < 0)
		return -EINVAL;
	if (!a)
		return 0;
	n = json_array_size(a);
	if (n > max)
		return arb_state_fail(r->in, "%s: %s: more than %zu", r->what,
				      key, max);
	v = arb_calloc(n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	*ret = v;
	for (size_t i = 0; i < n; i++) {
		const json_t *e = json_array_get(a, i);

		if (!json_is_string(e) ||
		    strlen(json_string_value(e)) != json_string_length(e))
			return arb_state_fail(r->in, "%s: %s[%zu]: not a string",
					      r->what, key, i);
		v[i] = arb_strdup(json_string_value(e));
		if (!v[i])
			return -ENOMEM;
	}
	return 0;
}

/* An array at key of at most max integers from min to max_value; NULL
 * when absent. */
static int
read_int_array(struct reader *r, const json_t *o, const char *key, size_t max,
	       int64_t min, int64_t max_value, const json_t **ret)
{
	const json_t *a, *e;
	size_t i;

	*ret = NULL;
	if (absent(o, key))
		return 0;
	if (arb_state_array(r->in, o, r->what, key, &a) < 0)
		return -EINVAL;
	if (json_array_size(a) > max)
		return arb_state_fail(r->in, "%s: %s: more than %zu", r->what,
				      key, max);
	json_array_foreach(a, i, e) {
		json_int_t v = json_is_integer(e) ? json_integer_value(e) : 0;

		if (!json_is_integer(e) || v < min || v > max_value)
			return arb_state_fail(r->in, "%s: %s[%zu]: not an "
					      "integer in range", r->what,
					      key, i);
	}
	*ret = a;
	return 0;
}

static int
read_normal_exit(struct reader *r, const json_t *o, struct arb_spec_node *n)
{
	const json_t *a, *e;
	size_t i;

	if (read_int_array(r, o, "normal_exit", 256, 0, 255, &a) < 0)
		return -EINVAL;
	if (!a)
		return 0;
	memset(n->normal_exit, 0, sizeof(n->normal_exit));
	json_array_foreach(a, i, e) {
		int code = (int)json_integer_value(e);

		n->normal_exit[code / 8] |= (uint8_t)(1u << (code % 8));
	}
	return 0;
}

static int
read_groups(struct reader *r, const json_t *o, struct arb_spec_node *n)
{
	const json_t *a;
	size_t count;

	if (read_int_array(r, o, "groups", ARB_GROUPS_MAX, 0, UINT32_MAX,
			   &a) < 0)
		return -EINVAL;
	count = a ? json_array_size(a) : 0;
	if (count == 0)
		return 0;
	n->groups = arb_calloc(count, sizeof(*n->groups));
	if (!n->groups)
		return -ENOMEM;
	n->ngroups = (uint32_t)count;
	for (size_t i = 0; i < count; i++)
		n->groups[i] = (uint32_t)json_integer_value(json_array_get(a, i));
	return 0;
}

/* "infinity" or a decimal string. */
static int
read_rlim(struct reader *r, const json_t *o, const char *key, uint64_t *ret)
{
	const json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;

	if (json_is_string(v) && strcmp(json_string_value(v), "infinity") == 0) {
		*ret = ARB_RLIM_INFINITY;
		return 0;
	}
	return arb_state_u64(r->in, o, r->what, key, ret);
}

static int
read_rlimits(struct reader *r, const json_t *o, struct arb_spec_node *n)
{
	const json_t *a, *e;
	size_t i, count;

	if (absent(o, "rlimits"))
		return 0;
	if (arb_state_array(r->in, o, r->what, "rlimits", &a) < 0)
		return -EINVAL;
	count = json_array_size(a);
	if (count > ARB_RLIMIT_COUNT)
		return arb_state_fail(r->in, "%s: rlimits: more than %d",
				      r->what, ARB_RLIMIT_COUNT);
	if (count == 0)
		return 0;
	n->rlimits = arb_calloc(count, sizeof(*n->rlimits));
	if (!n->rlimits)
		return -ENOMEM;
	n->nrlimits = (uint32_t)count;
	json_array_foreach(a, i, e) {
		struct arb_rlimit *l = &n->rlimits[i];

		/* An entry has every key: no default resource. */
		if (arb_state_enum(r->in, e, r->what, "resource",
				   arb_rlimit_from_name, &l->resource) < 0 ||
		    read_rlim(r, e, "soft", &l->soft) < 0 ||
		    read_rlim(r, e, "hard", &l->hard) < 0)
			return -EINVAL;
	}
	return 0;
}

/* A cgroup limit: "max" or a decimal string; absent leaves *ret. */
static int
read_cg(struct reader *r, const json_t *o, const char *key, uint64_t *ret)
{
	const json_t *v = json_object_get(o, key);

	if (!v)
		return 0;
	if (json_is_string(v) && strcmp(json_string_value(v), "max") == 0) {
		*ret = ARB_CG_UNLIMITED;
		return 0;
	}
	return arb_state_u64(r->in, o, r->what, key, ret);
}

/* The cgroup limits; their ranges are the spec check's
 * (arb_cg_limits_problem). */
static int
read_limits(struct reader *r, const json_t *o, struct arb_spec_node *n)
{
	struct arb_cg_limits *l;
	const json_t *lo;
	int64_t period = ARB_CG_DEFAULT_CPU_PERIOD_US;

	if (absent(o, "limits"))
		return 0;
	if (arb_state_object(r->in, o, r->what, "limits", &lo) < 0)
		return -EINVAL;
	l = arb_calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	n->limits = l; /* freed with the node, even half read */
	if (read_u32(r, lo, "given", UINT32_MAX, &l->given) < 0 ||
	    read_cg(r, lo, "memory_max", &l->memory_max) < 0 ||
	    read_cg(r, lo, "memory_high", &l->memory_high) < 0 ||
	    read_cg(r, lo, "memory_swap_max", &l->memory_swap_max) < 0 ||
	    read_u32(r, lo, "cpu_weight", UINT32_MAX, &l->cpu_weight) < 0 ||
	    read_cg(r, lo, "cpu_max_us", &l->cpu_max_us) < 0 ||
	    read_int(r, lo, "cpu_period_us", 0, INT32_MAX, &period) < 0 ||
	    read_cg(r, lo, "pids_max", &l->pids_max) < 0 ||
	    read_u32(r, lo, "io_weight", UINT32_MAX, &l->io_weight) < 0)
		return -EINVAL;
	l->cpu_period_us = (uint64_t)period;
	return 0;
}

static int
read_sinks(struct reader *r, const json_t *lo, unsigned *ret)
{
	const json_t *sinks, *e;
	unsigned bits = 0;
	size_t i;

	if (absent(lo, "sinks"))
		return 0;
	if (arb_state_array(r->in, lo, r->what, "sinks", &sinks) < 0)
		return -EINVAL;
	json_array_foreach(sinks, i, e) {
		unsigned bit = json_is_string(e) ?
			       arb_log_sink_from_name(json_string_value(e)) : 0;

		if (!bit)
			return arb_state_fail(r->in, "%s: log: sinks[%zu]: "
					      "unknown", r->what, i);
		bits |= bit;
	}
	*ret = bits;
	return 0;
}

static int
read_log(struct reader *r, const json_t *o, struct arb_log_spec *log)
{
	const json_t *lo;
	int64_t max_size = (int64_t)log->max_size;
	int streams = (int)log->streams;
	int err;

	if (absent(o, "log"))
		return 0;
	if (arb_state_object(r->in, o, r->what, "log", &lo) < 0 ||
	    read_sinks(r, lo, &log->sinks) < 0)
		return -EINVAL;
	err = read_str_copy(r, lo, "file", true, &log->file);
	if (err < 0)
		return err;
	if (read_u32(r, lo, "ring_size", ARB_LOG_RING_MAX, &log->ring_size) < 0 ||
	    read_int(r, lo, "max_size", 0, (int64_t)ARB_SIZE_MAX,
		     &max_size) < 0 ||
	    read_u32(r, lo, "keep", ARB_LOG_KEEP_MAX, &log->keep) < 0 ||
	    read_enum(r, lo, "streams", arb_log_streams_from_name,
		      &streams) < 0 ||
	    read_u32(r, lo, "given", UINT32_MAX, &log->given) < 0)
		return -EINVAL;
	log->max_size = (uint64_t)max_size;
	log->streams = (enum arb_log_streams)streams;
	return 0;
}

/* USER, HOME and SHELL, null or absent each: the node's account block. */
static int
read_account(struct reader *r, const json_t *o, struct arb_spec_node *n)
{
	const char *user_name = NULL, *home = NULL, *shell = NULL;

	if (arb_state_str_opt(r->in, o, r->what, "user_name", &user_name) < 0 ||
	    arb_state_str_opt(r->in, o, r->what, "home", &home) < 0 ||
	    arb_state_str_opt(r->in, o, r->what, "shell", &shell) < 0)
		return -EINVAL;
	return arb_spec_set_account(n, user_name, home, shell) < 0 ? -ENOMEM
								     : 0;
}

/* argv, packed in one block as a node holds it. */
static int
read_argv(struct reader *r, const json_t *o, struct arb_spec_node *n)
{
	char **words = NULL;
	int err = read_strv(r, o, "argv", ARB_ARGV_MAX, &words);

	if (err == 0 && words) {
		n->argv = arb_spec_strv_pack(words);
		if (!n->argv)
			err = -ENOMEM;
	}
	arb_spec_strv_free(words);
	return err;
}

/* The strings and vectors a node owns. */
static int
read_owned_keys(struct reader *r, const json_t *o, struct arb_spec_node *n)
{
	int err;

	if ((err = read_str_copy(r, o, "exec_path", true, &n->exec_path)) < 0 ||
	    (err = read_argv(r, o, n)) < 0 ||
	    (err = read_strv(r, o, "env", ARB_ENV_MAX + 1, &n->env)) < 0 ||
	    (err = read_str_copy(r, o, "cwd", true, &n->cwd)) < 0 ||
	    (err = read_strv(r, o, "listen", ARB_LISTEN_MAX, &n->listen)) < 0 ||
	    (err = read_account(r, o, n)) < 0 ||
	    (err = read_groups(r, o, n)) < 0 ||
	    (err = read_rlimits(r, o, n)) < 0 ||
	    (err = read_log(r, o, &n->log)) < 0 ||
	    (err = read_limits(r, o, n)) < 0)
		return err;
	return 0;
}

static int
read_enums(struct reader *r, const json_t *o, struct arb_spec_node *n)
{
	int kind = n->kind, restart = n->restart, strategy = n->strategy;
	int auto_shutdown = n->auto_shutdown, ready = n->ready;
	int on_change = n->on_change, shutdown = n->shutdown;

	if (read_enum(r, o, "kind", node_kind_from_name, &kind) < 0 ||
	    read_enum(r, o, "restart", arb_restart_from_name, &restart) < 0 ||
	    read_enum(r, o, "strategy", arb_strategy_from_name, &strategy) < 0 ||
	    read_enum(r, o, "auto_shutdown", arb_auto_shutdown_from_name,
		      &auto_shutdown) < 0 ||
	    read_enum(r, o, "shutdown", arb_shutdown_order_from_name,
		      &shutdown) < 0 ||
	    read_enum(r, o, "ready", arb_ready_from_name, &ready) < 0 ||
	    read_enum(r, o, "on_change", arb_on_change_from_name,
		      &on_change) < 0)
		return -EINVAL;
	n->kind = (enum arb_node_kind)kind;
	n->restart = (enum arb_restart)restart;
	n->strategy = (enum arb_strategy)strategy;
	n->auto_shutdown = (enum arb_auto_shutdown)auto_shutdown;
	n->shutdown = (enum arb_shutdown_order)shutdown;
	n->ready = (enum arb_ready)ready;
	n->on_change = (enum arb_on_change)on_change;
	return 0;
}

static int
read_numbers(struct reader *r, const json_t *o, struct arb_spec_node *n)
{
	int64_t line = n->line, stop_signal = n->stop_signal;
	int64_t ready_fd = n->ready_fd, umask = n->umask, nice = n->nice;

	if (read_int(r, o, "line", 0, INT32_MAX, &line) < 0 ||
	    read_u32(r, o, "defaulted", UINT32_MAX, &n->defaulted) < 0 ||
	    read_u32(r, o, "intensity", ARB_INTENSITY_MAX, &n->intensity) < 0 ||
	    read_duration(r, o, "period_ms", false, &n->period_ms) < 0 ||
	    read_int(r, o, "stop_signal", 1, 64, &stop_signal) < 0 ||
	    read_duration(r, o, "stop_timeout_ms", true,
			  &n->stop_timeout_ms) < 0 ||
	    read_int(r, o, "ready_fd", -1, ARB_READY_FD_MAX, &ready_fd) < 0 ||
	    read_duration(r, o, "start_timeout_ms", true,
			  &n->start_timeout_ms) < 0 ||
	    read_duration(r, o, "watchdog_ms", false, &n->watchdog_ms) < 0 ||
	    read_duration(r, o, "restart_delay_ms", false,
			  &n->restart_delay_ms) < 0 ||
	    read_duration(r, o, "restart_delay_max_ms", false,
			  &n->restart_delay_max_ms) < 0 ||
	    read_u32(r, o, "uid", UINT32_MAX, &n->uid) < 0 ||
	    read_u32(r, o, "gid", UINT32_MAX, &n->gid) < 0 ||
	    read_int(r, o, "umask", -1, 0777, &umask) < 0 ||
	    read_int(r, o, "nice", -20, 19, &nice) < 0 ||
	    read_u32(r, o, "forward_signals", UINT32_MAX,
		     &n->forward_signals) < 0 ||
	    read_u32(r, o, "max_children", ARB_CHILDREN_MAX,
		     &n->max_children) < 0 ||
	    read_u32(r, o, "instances", ARB_CHILDREN_MAX, &n->instances) < 0)
		return -EINVAL;
	n->line = (int)line;
	n->stop_signal = (int)stop_signal;
	n->ready_fd = (int)ready_fd;
	n->umask = (int)umask;
	n->nice = (int)nice;
	return 0;
}

static int
read_flags(struct reader *r, const json_t *o, struct arb_spec_node *n)
{
	if (read_bool(r, o, "significant", &n->significant) < 0 ||
	    read_bool(r, o, "set_ids", &n->set_ids) < 0 ||
	    read_bool(r, o, "set_nice", &n->set_nice) < 0 ||
	    read_bool(r, o, "no_new_privileges", &n->no_new_privileges) < 0 ||
	    read_bool(r, o, "inherit_env", &n->inherit_env) < 0)
		return -EINVAL;
	return 0;
}

/* The keys (keys_json's), into n (the default node until then), which
 * owns what they hold. */
static int
read_keys(struct reader *r, const json_t *o, struct arb_spec_node *n)
{
	uint32_t file = ARB_NONE;
	int err;

	if (read_index(r, o, "file", r->spec->nfiles, &file) < 0 ||
	    read_enums(r, o, n) < 0 || read_numbers(r, o, n) < 0 ||
	    read_flags(r, o, n) < 0 || read_normal_exit(r, o, n) < 0)
		return -EINVAL;
	n->file = file == ARB_NONE ? NULL : r->spec->files[file];
	err = read_owned_keys(r, o, n);
	return err;
}

static int
read_children(struct reader *r, const json_t *o, struct arb_spec_node *n)
{
	const json_t *a;
	size_t count;

	if (read_int_array(r, o, "children", ARB_CHILDREN_MAX, 0,
			   (int64_t)r->spec->nnodes - 1, &a) < 0)
		return -EINVAL;
	count = a ? json_array_size(a) : 0;
	if (count == 0)
		return 0;
	n->children = arb_calloc(count, sizeof(*n->children));
	if (!n->children)
		return -ENOMEM;
	n->nchildren = n->children_cap = (uint32_t)count;
	for (size_t i = 0; i < count; i++)
		n->children[i] = (uint32_t)json_integer_value(json_array_get(a, i));
	return 0;
}

static int
read_pending(struct reader *r, const json_t *o, struct arb_spec_node *n)
{
	const json_t *po = NULL;
	size_t len = strlen(r->what);
	int err;

	if (arb_state_object_opt(r->in, o, r->what, "pending", &po) < 0)
		return -EINVAL;
	if (!po)
		return 0;
	n->pending = arb_calloc(1, sizeof(*n->pending));
	if (!n->pending)
		return -ENOMEM;
	*n->pending = format_default;
	(void)snprintf(r->what + len, sizeof(r->what) - len, ".pending");
	err = read_keys(r, po, n->pending);
	r->what[len] = '\0';
	return err;
}

/* Name and path: the name is the path's last part, as arbord writes them. */
static int
read_place(struct reader *r, const json_t *o, struct arb_spec_node *n)
{
	const char *name, *path;
	size_t nlen, plen;

	if (arb_state_str(r->in, o, r->what, "name", &name) < 0 ||
	    arb_state_str(r->in, o, r->what, "path", &path) < 0)
		return -EINVAL;
	nlen = strlen(name);
	plen = strlen(path);
	if (nlen == 0 || nlen > plen || strcmp(path + plen - nlen, name) != 0 ||
	    (nlen < plen && path[plen - nlen - 1] != '/'))
		return arb_state_fail(r->in, "%s: name '%s' is not the last "
				      "part of path '%s'", r->what, name, path);
	return arb_spec_set_path(n, path, nlen) < 0 ? -ENOMEM : 0;
}

static int
read_node(struct reader *r, const json_t *o, struct arb_spec_node *n)
{
	int64_t depth = n->depth;
	int err;

	if ((err = read_keys(r, o, n)) < 0)
		return err;
	if ((err = read_place(r, o, n)) < 0 ||
	    (err = read_children(r, o, n)) < 0 ||
	    (err = read_pending(r, o, n)) < 0)
		return err;
	if (read_index(r, o, "parent", r->spec->nnodes, &n->parent) < 0 ||
	    read_int(r, o, "depth", 0, ARB_DEPTH_MAX + 1, &depth) < 0 ||
	    read_index(r, o, "template_node", r->spec->nnodes,
		       &n->template_node) < 0 ||
	    read_bool(r, o, "is_template", &n->is_template) < 0 ||
	    read_bool(r, o, "dynamic", &n->dynamic) < 0 ||
	    read_bool(r, o, "leaving", &n->leaving) < 0)
		return -EINVAL;
	n->depth = (uint32_t)depth;
	return 0;
}

static int
read_files(struct reader *r, const json_t *obj)
{
	struct arb_spec *s = r->spec;
	const json_t *a, *e;
	size_t i;

	if (arb_state_array(r->in, obj, "spec", "files", &a) < 0)
		return -EINVAL;
	if (json_array_size(a) > FILES_MAX)
		return arb_state_fail(r->in, "spec: files: more than %u",
				      FILES_MAX);
	s->files = arb_calloc(json_array_size(a) + 1, sizeof(*s->files));
	if (!s->files)
		return -ENOMEM;
	json_array_foreach(a, i, e) {
		if (!json_is_string(e) ||
		    strlen(json_string_value(e)) != json_string_length(e))
			return arb_state_fail(r->in, "spec: files[%zu]: not a "
					      "string", i);
		s->files[i] = arb_strdup(json_string_value(e));
		if (!s->files[i])
			return -ENOMEM;
		s->nfiles++;
	}
	return 0;
}

/* Room for every node, as spec.c keeps it: a power of two, 16 at least,
 * and a free list that can hold every slot (spec_free_slot). */
static int
make_slots(struct reader *r, uint32_t n)
{
	struct arb_spec *s = r->spec;
	uint32_t cap = 16;

	while (cap < n)
		cap *= 2;
	s->nodes = arb_calloc(cap, sizeof(*s->nodes));
	s->free_slots = arb_calloc(cap, sizeof(*s->free_slots));
	if (!s->nodes || !s->free_slots)
		return -ENOMEM;
	s->cap = s->free_cap = cap;
	s->nnodes = n;
	for (uint32_t i = 0; i < n; i++) {
		s->nodes[i].parent = ARB_NONE;
		s->nodes[i].template_node = ARB_NONE;
		s->nodes[i].unused = true;
	}
	return 0;
}

static int
read_nodes(struct reader *r, const json_t *obj)
{
	struct arb_spec *s = r->spec;
	const json_t *a, *e;
	size_t i, n;
	int err;

	if (arb_state_array(r->in, obj, "spec", "nodes", &a) < 0)
		return -EINVAL;
	n = json_array_size(a);
	if (n == 0 || n > ARB_NODES_MAX)
		return arb_state_fail(r->in, "spec: nodes: %zu of them", n);
	if ((err = make_slots(r, (uint32_t)n)) < 0)
		return err;
	json_array_foreach(a, i, e) {
		struct arb_spec_node *node = &s->nodes[i];

		if (json_is_null(e)) {
			s->free_slots[s->nfree++] = (uint32_t)i;
			continue;
		}
		(void)snprintf(r->what, sizeof(r->what), "spec.nodes[%zu]", i);
		if (!json_is_object(e))
			return arb_state_fail(r->in, "%s: not an object",
					      r->what);
		/* Every key absent holds the default node's value. */
		*node = format_default;
		if ((err = read_node(r, e, node)) < 0)
			return err;
	}
	return 0;
}

static int
read_globals(struct reader *r, const json_t *obj)
{
	struct arb_spec *s = r->spec;
	int64_t gid = -1;
	int giveup = ARB_GIVEUP_REBOOT, exit_status = ARB_DEFAULT_EXIT_STATUS;
	int err;

	/* The spec-wide keys are all written: none may be missing, ... */
	(void)snprintf(r->what, sizeof(r->what), "spec");
	if (arb_state_u64(r->in, obj, "spec", "generation", &s->generation) < 0 ||
	    arb_state_int(r->in, obj, "spec", "control_gid", -1, UINT32_MAX,
			  &gid) < 0 ||
	    arb_state_bool(r->in, obj, "spec", "control_read_logs",
			   &s->control_read_logs) < 0 ||
	    arb_state_enum(r->in, obj, "spec", "on_giveup",
			   arb_giveup_from_name, &giveup) < 0)
		return -EINVAL;
	s->control_gid = (int)gid;
	s->on_giveup = (enum arb_giveup)giveup;
	/* But these two, which came after version 1 was written: absent,
	 * they are the defaults, as they were then. */
	if ((json_object_get(obj, "exit_status") &&
	     arb_state_enum(r->in, obj, "spec", "exit_status",
			    arb_exit_status_from_name, &exit_status) < 0) ||
	    arb_state_bool_opt(r->in, obj, "spec", "exit_sigterm_ok",
			       &s->exit_sigterm_ok) < 0)
		return -EINVAL;
	s->exit_status = (enum arb_exit_status)exit_status;
	if ((err = read_str_copy(r, obj, "control_group", true,
				 &s->control_group)) < 0 ||
	    (err = read_strv(r, obj, "emergency_shell", ARB_ARGV_MAX,
			     &s->emergency_shell)) < 0)
		return err;
	return 0;
}

int
arb_spec_json_load(struct arb_state_in *in, const json_t *obj,
		   struct arb_spec **ret_spec)
{
	struct reader r = {.in = in};
	char why[160];
	int err;

	if (!json_is_object(obj))
		return arb_state_fail(in, "spec: not an object");
	r.spec = arb_calloc(1, sizeof(*r.spec));
	if (!r.spec)
		return -ENOMEM;
	/* Nothing was touched since the tree last read the spec: it reads
	 * the whole of it when made (arb_tree_new). */
	r.spec->touched_lo = 1;
	if ((err = read_globals(&r, obj)) < 0 ||
	    (err = read_files(&r, obj)) < 0 || (err = read_nodes(&r, obj)) < 0)
		goto fail;
	if (arb_spec_check(r.spec, why, sizeof(why)) < 0) {
		err = arb_state_fail(in, "spec: %s", why);
		goto fail;
	}
	*ret_spec = r.spec;
	return 0;
fail:
	arb_spec_free(r.spec);
	return err;
}
