/*
 * methods_living.c - the methods that change the tree's shape: Reload,
 * AddChild, RemoveChild and Spawn, and Reexec, which changes arbord under
 * it. They check who asks and what, then hand the call to the runtime
 * (living.c, reexec.c), which answers it when it is carried out
 * (arb_control_complete).
 */
#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "connection.h"
#include "core/limits.h"

/* The call waits for the runtime's answer; later calls on c wait too. */
static uint64_t
call_begins(struct conn *c, const char *path)
{
	c->req_path = strdup(path);
	if (!c->req_path) {
		c->closing = true;
		return 0;
	}
	c->waiting = true;
	c->req_id = c->ctl->next_req_id++;
	return c->req_id;
}

/* Common to all four: who may, and whether the tree still takes them. */
static bool
may_change(struct conn *c)
{
	if (!methods_allowed(c))
		return false;
	if (c->ctl->down) {
		conn_error(c, ARB_ERR_SHUTTING_DOWN, NULL);
		return false;
	}
	return true;
}

static bool
bool_param(struct conn *c, json_t *params, const char *key, bool *ret)
{
	json_t *v = json_object_get(params, key);

	*ret = false;
	if (!v || json_is_null(v))
		return true;
	if (!json_is_boolean(v)) {
		conn_error_str(c, ARB_ERR_INVALID_PARAMETER, "parameter", key);
		return false;
	}
	*ret = json_is_true(v);
	return true;
}

void
methods_reload(struct conn *c, json_t *params)
{
	bool dry_run;
	uint64_t id;

	/* A dry run changes nothing, but its plan shows keys (env) that
	 * may hold secrets: only those who may change the tree see it. */
	if (!may_change(c) || !bool_param(c, params, "dryRun", &dry_run))
		return;
	id = call_begins(c, "/");
	if (id)
		c->ctl->hooks.reload(c->ctl->ctx, dry_run, id);
}

void
methods_add_child(struct conn *c, json_t *params)
{
	json_t *text = json_object_get(params, "spec");
	const char *path;
	uint32_t parent;
	uint64_t id;

	if (!may_change(c))
		return;
	if (!json_is_string(text)) {
		conn_error_str(c, ARB_ERR_INVALID_PARAMETER, "parameter",
			       "spec");
		return;
	}
	parent = methods_node_param(c, params, "parent", &path);
	if (parent == ARB_NONE)
		return;
	if (c->ctl->spec->nodes[parent].kind != ARB_NODE_SUPERVISOR) {
		conn_error_str(c, ARB_ERR_NOT_A_SUPERVISOR, "path", path);
		return;
	}
	id = call_begins(c, c->ctl->spec->nodes[parent].path);
	if (id)
		c->ctl->hooks.add_child(c->ctl->ctx, parent,
					json_string_value(text), id);
}

void
methods_remove_child(struct conn *c, json_t *params)
{
	const char *path;
	uint32_t node;
	uint64_t id;

	if (!may_change(c))
		return;
	node = methods_child_param(c, params, false, &path);
	if (node == ARB_NONE)
		return;
	if (node == ARB_ROOT) {
		/* The root has no supervisor; Shutdown stops it. */
		conn_error_str(c, ARB_ERR_INVALID_PATH, "path", path);
		return;
	}
	id = call_begins(c, c->ctl->spec->nodes[node].path);
	if (id)
		c->ctl->hooks.remove_child(c->ctl->ctx, node, id);
}

/* Spawn's args: strings, at most ARB_ARGV_MAX; NULL-terminated copy. */
static char **
args_param(struct conn *c, json_t *params, bool *ok)
{
	json_t *v = json_object_get(params, "args");
	size_t n = json_is_array(v) ? json_array_size(v) : 0;
	char **args;

	*ok = true;
	if (!v || json_is_null(v))
		return NULL;
	if (!json_is_array(v) || n >= ARB_ARGV_MAX) {
		*ok = false;
		conn_error_str(c, ARB_ERR_INVALID_PARAMETER, "parameter",
			       "args");
		return NULL;
	}
	args = calloc(n + 1, sizeof(*args));
	if (!args) {
		*ok = false;
		c->closing = true;
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *a = json_array_get(v, i);

		if (!json_is_string(a)) {
			free(args);
			*ok = false;
			conn_error_str(c, ARB_ERR_INVALID_PARAMETER,
				       "parameter", "args");
			return NULL;
		}
		args[i] = (char *)json_string_value(a);
	}
	return args;
}

/* An instance's argv, the template's and args, must fit ARB_ARGV_MAX. */
static bool
too_many_args(const struct arb_spec *spec, uint32_t pool, char *const *args)
{
	uint32_t tmpl = spec->nodes[pool].template_node;

	if (tmpl == ARB_NONE)
		return false; /* not a pool: NotAPool says so */
	return arb_spec_strv_len(spec->nodes[tmpl].argv) +
		       arb_spec_strv_len(args) > ARB_ARGV_MAX;
}

void
methods_spawn(struct conn *c, json_t *params)
{
	json_t *name = json_object_get(params, "name");
	const char *path;
	uint32_t pool;
	char **args;
	bool ok;
	uint64_t id;

	if (!may_change(c))
		return;
	if (name && !json_is_null(name) &&
	    (!json_is_string(name) ||
	     !arb_spec_name_valid(json_string_value(name)))) {
		conn_error_str(c, ARB_ERR_INVALID_PARAMETER, "parameter",
			       "name");
		return;
	}
	pool = methods_node_param(c, params, "pool", &path);
	if (pool == ARB_NONE)
		return;
	args = args_param(c, params, &ok);
	if (!ok)
		return;
	if (too_many_args(c->ctl->spec, pool, args)) {
		free(args);
		conn_error_str(c, ARB_ERR_INVALID_PARAMETER, "parameter",
			       "args");
		return;
	}
	id = call_begins(c, c->ctl->spec->nodes[pool].path);
	if (id)
		c->ctl->hooks.spawn(c->ctl->ctx, pool,
				    json_is_string(name)
					    ? json_string_value(name) : NULL,
				    args, id);
	free(args);
}

/* Reexec's binary: absent or null (NULL: arbord's own), else absolute. */
static bool
binary_param(struct conn *c, json_t *params, const char **ret)
{
	json_t *v = json_object_get(params, "binary");

	*ret = NULL;
	if (!v || json_is_null(v))
		return true;
	if (!json_is_string(v) || json_string_value(v)[0] != '/' ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		conn_error_str(c, ARB_ERR_INVALID_PARAMETER, "parameter",
			       "binary");
		return false;
	}
	*ret = json_string_value(v);
	return true;
}

static bool
timeout_param(struct conn *c, json_t *params, int64_t *ret)
{
	json_t *v = json_object_get(params, "timeout");

	*ret = ARB_REEXEC_TIMEOUT_MS;
	if (!v || json_is_null(v))
		return true;
	if (!json_is_integer(v) ||
	    json_integer_value(v) < ARB_REEXEC_TIMEOUT_MIN_MS ||
	    json_integer_value(v) > ARB_REEXEC_TIMEOUT_MAX_MS) {
		conn_error_str(c, ARB_ERR_INVALID_PARAMETER, "parameter",
			       "timeout");
		return false;
	}
	*ret = json_integer_value(v);
	return true;
}

void
methods_reexec(struct conn *c, json_t *params)
{
	const char *binary;
	int64_t timeout_ms;
	uint64_t id;

	if (!may_change(c) || !binary_param(c, params, &binary) ||
	    !timeout_param(c, params, &timeout_ms))
		return;
	if (!c->ctl->hooks.reexec) {
		/* A runtime without it (tests): refused, not a crash. */
		json_t *p = json_pack("{s:s,s:s}", "step", "exec", "reason",
				      "this arbord cannot re-execute");

		conn_error(c, ARB_ERR_REEXEC_FAILED, p);
		json_decref(p);
		return;
	}
	id = call_begins(c, "/");
	if (id)
		c->ctl->hooks.reexec(c->ctl->ctx, binary, timeout_ms, id);
}
