/*
 * spec_json.c - the live spec as the re-exec state's "spec" member and
 * back (FORMAT.md "spec"): every slot, every key, nothing derived.
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

/* ---- saving ---- */

/* Sets obj[key] to v (consumed); false when v is NULL or on OOM. */
static bool
set(json_t *obj, const char *key, json_t *v)
{
	return v && json_object_set_new(obj, key, v) == 0;
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

/* A duration; -1 for ARB_INFINITY_MS. */
static json_t *
duration_json(int64_t ms)
{
	return json_integer(ms == ARB_INFINITY_MS ? -1 : ms);
}

/* An index; -1 for ARB_NONE. */
static json_t *
index_json(uint32_t i)
{
	return json_integer(i == ARB_NONE ? -1 : (json_int_t)i);
}

static json_t *
u64_json(uint64_t v)
{
	char buf[24];

	arb_spec_format_uint(v, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *
rlim_json(uint64_t v)
{
	return v == ARB_RLIM_INFINITY ? json_string("infinity") : u64_json(v);
}

static json_t *
normal_exit_json(const struct arb_spec_node *n)
{
	json_t *a = json_array();

	for (int code = 0; a && code < 256; code++)
		if ((n->normal_exit[code / 8] & (1u << (code % 8))) &&
		    json_array_append_new(a, json_integer(code)) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *
groups_json(const struct arb_spec_node *n)
{
	json_t *a = json_array();

	for (uint32_t i = 0; a && i < n->ngroups; i++)
		if (json_array_append_new(a, json_integer(n->groups[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *
rlimits_json(const struct arb_spec_node *n)
{
	json_t *a = json_array();

	for (uint32_t i = 0; a && i < n->nrlimits; i++) {
		const struct arb_rlimit *r = &n->rlimits[i];
		const char *name = arb_rlimit_name(r->resource);
		json_t *o = json_object();

		if (!o || !name || !set(o, "resource", json_string(name)) ||
		    !set(o, "soft", rlim_json(r->soft)) ||
		    !set(o, "hard", rlim_json(r->hard)) ||
		    json_array_append_new(a, o) < 0) {
			json_decref(o);
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *
log_json(const struct arb_log_spec *log)
{
	json_t *o = json_object(), *sinks = json_array();

	if (!o || !sinks) {
		json_decref(sinks);
		goto fail;
	}
	for (unsigned bit = 0; bit < LOG_SINK_BITS; bit++)
		if ((log->sinks & (1u << bit)) &&
		    json_array_append_new(sinks, json_string(
				arb_log_sink_name(1u << bit))) < 0) {
			json_decref(sinks);
			goto fail;
		}
	/* set() consumes sinks, whether it succeeds or not. */
	if (!set(o, "sinks", sinks) ||
	    !set(o, "ring_size", json_integer(log->ring_size)) ||
	    !set(o, "file", str_or_null(log->file)) ||
	    !set(o, "max_size", json_integer((json_int_t)log->max_size)) ||
	    !set(o, "keep", json_integer(log->keep)) ||
	    !set(o, "given", json_integer(log->given)))
		goto fail;
	return o;
fail:
	json_decref(o);
	return NULL;
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

/* The keys a node takes from a configuration: also a pending node's. */
static bool
keys_json(json_t *o, const struct arb_spec *s, const struct arb_spec_node *n)
{
	return set(o, "kind", json_string(arb_node_kind_name(n->kind))) &&
	       set(o, "file", json_integer(file_index(s, n->file))) &&
	       set(o, "line", json_integer(n->line)) &&
	       set(o, "defaulted", json_integer(n->defaulted)) &&
	       set(o, "restart", json_string(arb_restart_name(n->restart))) &&
	       set(o, "significant", json_boolean(n->significant)) &&
	       set(o, "strategy", json_string(arb_strategy_name(n->strategy))) &&
	       set(o, "intensity", json_integer(n->intensity)) &&
	       set(o, "period_ms", duration_json(n->period_ms)) &&
	       set(o, "auto_shutdown", json_string(
			   arb_auto_shutdown_name(n->auto_shutdown))) &&
	       set(o, "exec_path", str_or_null(n->exec_path)) &&
	       set(o, "argv", strv_json(n->argv)) &&
	       set(o, "env", strv_json(n->env)) &&
	       set(o, "cwd", str_or_null(n->cwd)) &&
	       set(o, "stop_signal", json_integer(n->stop_signal)) &&
	       set(o, "stop_timeout_ms", duration_json(n->stop_timeout_ms)) &&
	       set(o, "normal_exit", normal_exit_json(n)) &&
	       set(o, "ready", json_string(arb_ready_name(n->ready))) &&
	       set(o, "ready_fd", json_integer(n->ready_fd)) &&
	       set(o, "start_timeout_ms", duration_json(n->start_timeout_ms)) &&
	       set(o, "watchdog_ms", duration_json(n->watchdog_ms)) &&
	       set(o, "restart_delay_ms", duration_json(n->restart_delay_ms)) &&
	       set(o, "restart_delay_max_ms",
		   duration_json(n->restart_delay_max_ms)) &&
	       set(o, "listen", strv_json(n->listen)) &&
	       set(o, "set_ids", json_boolean(n->set_ids)) &&
	       set(o, "uid", json_integer(n->uid)) &&
	       set(o, "gid", json_integer(n->gid)) &&
	       set(o, "groups", groups_json(n)) &&
	       set(o, "user_name", str_or_null(n->user_name)) &&
	       set(o, "home", str_or_null(n->home)) &&
	       set(o, "shell", str_or_null(n->shell)) &&
	       set(o, "umask", json_integer(n->umask)) &&
	       set(o, "set_nice", json_boolean(n->set_nice)) &&
	       set(o, "nice", json_integer(n->nice)) &&
	       set(o, "rlimits", rlimits_json(n)) &&
	       set(o, "no_new_privileges", json_boolean(n->no_new_privileges)) &&
	       set(o, "inherit_env", json_boolean(n->inherit_env)) &&
	       set(o, "log", log_json(&n->log)) &&
	       set(o, "forward_signals", json_integer(n->forward_signals)) &&
	       set(o, "on_change", json_string(
			   arb_on_change_name(n->on_change))) &&
	       set(o, "max_children", json_integer(n->max_children)) &&
	       set(o, "instances", json_integer(n->instances));
}

static json_t *
children_json(const struct arb_spec_node *n)
{
	json_t *a = json_array();

	for (uint32_t i = 0; a && i < n->nchildren; i++)
		if (json_array_append_new(a, json_integer(n->children[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *
pending_json(const struct arb_spec *s, const struct arb_spec_node *pending)
{
	json_t *o;

	if (!pending)
		return json_null();
	o = json_object();
	if (o && keys_json(o, s, pending))
		return o;
	json_decref(o);
	return NULL;
}

static json_t *
node_json(const struct arb_spec *s, const struct arb_spec_node *n)
{
	json_t *o;

	if (n->unused)
		return json_null();
	o = json_object();
	if (o && set(o, "name", json_string(n->name)) &&
	    set(o, "path", json_string(n->path)) &&
	    set(o, "parent", index_json(n->parent)) &&
	    set(o, "depth", json_integer(n->depth)) &&
	    set(o, "children", children_json(n)) &&
	    set(o, "template_node", index_json(n->template_node)) &&
	    set(o, "is_template", json_boolean(n->is_template)) &&
	    set(o, "dynamic", json_boolean(n->dynamic)) &&
	    set(o, "leaving", json_boolean(n->leaving)) &&
	    set(o, "pending", pending_json(s, n->pending)) &&
	    keys_json(o, s, n))
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
	if (!o || !set(o, "nodes", json_incref(nodes)) ||
	    !set(o, "files", json_incref(files)) ||
	    !set(o, "generation", u64_json(spec->generation)) ||
	    !set(o, "control_group", str_or_null(spec->control_group)) ||
	    !set(o, "control_gid", json_integer(spec->control_gid)) ||
	    !set(o, "control_read_logs",
		 json_boolean(spec->control_read_logs)) ||
	    !set(o, "on_giveup", json_string(arb_giveup_name(spec->on_giveup))) ||
	    !set(o, "emergency_shell", strv_json(spec->emergency_shell)))
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

static int
read_int(struct reader *r, const json_t *o, const char *key, int64_t min,
	 int64_t max, int64_t *ret)
{
	return arb_state_int(r->in, o, r->what, key, min, max, ret);
}

static int
read_u32(struct reader *r, const json_t *o, const char *key, uint32_t max,
	 uint32_t *ret)
{
	int64_t v;

	if (read_int(r, o, key, 0, max, &v) < 0)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

static int
read_enum(struct reader *r, const json_t *o, const char *key,
	  int (*from_name)(const char *name), int *ret)
{
	return arb_state_enum(r->in, o, r->what, key, from_name, ret);
}

/* -1 for ARB_INFINITY_MS where that is allowed. */
static int
read_duration(struct reader *r, const json_t *o, const char *key,
	      bool infinity_ok, int64_t *ret)
{
	int64_t v;

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
	int64_t v;

	if (read_int(r, o, key, -1, (int64_t)limit - 1, &v) < 0)
		return -EINVAL;
	*ret = v < 0 ? ARB_NONE : (uint32_t)v;
	return 0;
}

/* A copy of the string at key, or NULL for null; -ENOMEM, -EINVAL. */
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

/* An array at key of at most max integers from min to max_value. */
static int
read_int_array(struct reader *r, const json_t *o, const char *key, size_t max,
	       int64_t min, int64_t max_value, const json_t **ret)
{
	const json_t *a, *e;
	size_t i;

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
	count = json_array_size(a);
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

		if (read_enum(r, e, "resource", arb_rlimit_from_name,
			      &l->resource) < 0 ||
		    read_rlim(r, e, "soft", &l->soft) < 0 ||
		    read_rlim(r, e, "hard", &l->hard) < 0)
			return -EINVAL;
	}
	return 0;
}

static int
read_log(struct reader *r, const json_t *o, struct arb_log_spec *log)
{
	const json_t *lo, *sinks, *e;
	int64_t max_size;
	size_t i;
	int err;

	if (arb_state_object(r->in, o, r->what, "log", &lo) < 0 ||
	    arb_state_array(r->in, lo, r->what, "sinks", &sinks) < 0)
		return -EINVAL;
	log->sinks = 0;
	json_array_foreach(sinks, i, e) {
		unsigned bit = json_is_string(e) ?
			       arb_log_sink_from_name(json_string_value(e)) : 0;

		if (!bit)
			return arb_state_fail(r->in, "%s: log: sinks[%zu]: "
					      "unknown", r->what, i);
		log->sinks |= bit;
	}
	err = read_str_copy(r, lo, "file", true, &log->file);
	if (err < 0)
		return err;
	if (read_u32(r, lo, "ring_size", ARB_LOG_RING_MAX, &log->ring_size) < 0 ||
	    read_int(r, lo, "max_size", 0, (int64_t)ARB_SIZE_MAX,
		     &max_size) < 0 ||
	    read_u32(r, lo, "keep", ARB_LOG_KEEP_MAX, &log->keep) < 0 ||
	    read_u32(r, lo, "given", UINT32_MAX, &log->given) < 0)
		return -EINVAL;
	log->max_size = (uint64_t)max_size;
	return 0;
}

/* The strings and vectors a node owns. */
static int
read_owned_keys(struct reader *r, const json_t *o, struct arb_spec_node *n)
{
	int err;

	if ((err = read_str_copy(r, o, "exec_path", true, &n->exec_path)) < 0 ||
	    (err = read_strv(r, o, "argv", ARB_ARGV_MAX, &n->argv)) < 0 ||
	    (err = read_strv(r, o, "env", ARB_ENV_MAX + 1, &n->env)) < 0 ||
	    (err = read_str_copy(r, o, "cwd", true, &n->cwd)) < 0 ||
	    (err = read_strv(r, o, "listen", ARB_LISTEN_MAX, &n->listen)) < 0 ||
	    (err = read_str_copy(r, o, "user_name", true, &n->user_name)) < 0 ||
	    (err = read_str_copy(r, o, "home", true, &n->home)) < 0 ||
	    (err = read_str_copy(r, o, "shell", true, &n->shell)) < 0 ||
	    (err = read_groups(r, o, n)) < 0 ||
	    (err = read_rlimits(r, o, n)) < 0 ||
	    (err = read_log(r, o, &n->log)) < 0)
		return err;
	return 0;
}

static int
read_enums(struct reader *r, const json_t *o, struct arb_spec_node *n)
{
	int kind, restart, strategy, auto_shutdown, ready, on_change;

	if (read_enum(r, o, "kind", node_kind_from_name, &kind) < 0 ||
	    read_enum(r, o, "restart", arb_restart_from_name, &restart) < 0 ||
	    read_enum(r, o, "strategy", arb_strategy_from_name, &strategy) < 0 ||
	    read_enum(r, o, "auto_shutdown", arb_auto_shutdown_from_name,
		      &auto_shutdown) < 0 ||
	    read_enum(r, o, "ready", arb_ready_from_name, &ready) < 0 ||
	    read_enum(r, o, "on_change", arb_on_change_from_name,
		      &on_change) < 0)
		return -EINVAL;
	n->kind = (enum arb_node_kind)kind;
	n->restart = (enum arb_restart)restart;
	n->strategy = (enum arb_strategy)strategy;
	n->auto_shutdown = (enum arb_auto_shutdown)auto_shutdown;
	n->ready = (enum arb_ready)ready;
	n->on_change = (enum arb_on_change)on_change;
	return 0;
}

static int
read_numbers(struct reader *r, const json_t *o, struct arb_spec_node *n)
{
	int64_t line, stop_signal, ready_fd, umask, nice;

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
	struct arb_state_in *in = r->in;

	if (arb_state_bool(in, o, r->what, "significant", &n->significant) < 0 ||
	    arb_state_bool(in, o, r->what, "set_ids", &n->set_ids) < 0 ||
	    arb_state_bool(in, o, r->what, "set_nice", &n->set_nice) < 0 ||
	    arb_state_bool(in, o, r->what, "no_new_privileges",
			   &n->no_new_privileges) < 0 ||
	    arb_state_bool(in, o, r->what, "inherit_env", &n->inherit_env) < 0)
		return -EINVAL;
	return 0;
}

/* The keys (keys_json's), into n, which owns what they hold. */
static int
read_keys(struct reader *r, const json_t *o, struct arb_spec_node *n)
{
	uint32_t file;
	int err;

	if (read_index(r, o, "file", r->spec->nfiles, &file) < 0 ||
	    read_enums(r, o, n) < 0 || read_numbers(r, o, n) < 0 ||
	    read_flags(r, o, n) < 0 || read_normal_exit(r, o, n) < 0)
		return -EINVAL;
	n->file = file == ARB_NONE ? NULL : r->spec->files[file];
	n->template_node = ARB_NONE;
	n->parent = ARB_NONE;
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
	count = json_array_size(a);
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
	(void)snprintf(r->what + len, sizeof(r->what) - len, ".pending");
	err = read_keys(r, po, n->pending);
	r->what[len] = '\0';
	return err;
}

static int
read_node(struct reader *r, const json_t *o, struct arb_spec_node *n)
{
	struct arb_state_in *in = r->in;
	int64_t depth;
	int err;

	if ((err = read_keys(r, o, n)) < 0)
		return err;
	if ((err = read_str_copy(r, o, "name", false, &n->name)) < 0 ||
	    (err = read_str_copy(r, o, "path", false, &n->path)) < 0 ||
	    (err = read_children(r, o, n)) < 0 ||
	    (err = read_pending(r, o, n)) < 0)
		return err;
	if (read_index(r, o, "parent", r->spec->nnodes, &n->parent) < 0 ||
	    read_int(r, o, "depth", 0, ARB_DEPTH_MAX + 1, &depth) < 0 ||
	    read_index(r, o, "template_node", r->spec->nnodes,
		       &n->template_node) < 0 ||
	    arb_state_bool(in, o, r->what, "is_template", &n->is_template) < 0 ||
	    arb_state_bool(in, o, r->what, "dynamic", &n->dynamic) < 0 ||
	    arb_state_bool(in, o, r->what, "leaving", &n->leaving) < 0)
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
		node->unused = false;
		if ((err = read_node(r, e, node)) < 0)
			return err;
	}
	return 0;
}

static int
read_globals(struct reader *r, const json_t *obj)
{
	struct arb_spec *s = r->spec;
	int64_t gid;
	int giveup, err;

	(void)snprintf(r->what, sizeof(r->what), "spec");
	if (arb_state_u64(r->in, obj, "spec", "generation", &s->generation) < 0 ||
	    read_int(r, obj, "control_gid", -1, UINT32_MAX, &gid) < 0 ||
	    arb_state_bool(r->in, obj, "spec", "control_read_logs",
			   &s->control_read_logs) < 0 ||
	    read_enum(r, obj, "on_giveup", arb_giveup_from_name, &giveup) < 0)
		return -EINVAL;
	s->control_gid = (int)gid;
	s->on_giveup = (enum arb_giveup)giveup;
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
