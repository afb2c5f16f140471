/*
 * methods.c - the methods of org.arbor.supervisor and org.varlink.service
 * (interface.c describes them): checking parameters and
 * permissions, reading the tree for Status, handing requests to the core.
 * It never writes to a socket itself; socket.c does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "protocol.h"
#include "wire.h"
#include "core/shutdown.h"
#include "clock.h"
#include "config/config.h"
#include "connection.h"
#include "logs/event_log.h"
#include "interface.h"
#include "status_reply.h"
#include "signames.h"

/* ---- paths ------------------------------------------------------------- */

/* "web/app", "/web/app/" and "/" name nodes; leading/trailing '/' are dropped. */
static uint32_t
find_node(const struct arb_spec *spec, const char *path)
{
	size_t len;
	char buf[4096];

	while (*path == '/' && path[1] != '\0')
		path++;
	len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		len--;
	if (len == 0 || len >= sizeof(buf))
		return ARB_NONE;
	memcpy(buf, path, len);
	buf[len] = '\0';
	return arb_spec_find(spec, buf);
}

/*
 * Edit distance with adjacent swaps counted as one edit (optimal string
 * alignment), bounded: anything above max is max + 1. Rows i-2, i-1, i.
 */
static size_t
distance(const char *a, const char *b, size_t max)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t rows[3][256], *r0 = rows[0], *r1 = rows[1], *r2 = rows[2];

	if (la > 255 || lb > 255 || (la > lb ? la - lb : lb - la) > max)
		return max + 1;
	for (size_t j = 0; j <= lb; j++)
		r1[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t best = r2[0] = i, *t;

		for (size_t j = 1; j <= lb; j++) {
			size_t cost = r1[j - 1] + (a[i - 1] != b[j - 1]);

			if (r1[j] + 1 < cost)
				cost = r1[j] + 1;
			if (r2[j - 1] + 1 < cost)
				cost = r2[j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && r0[j - 2] + 1 < cost)
				cost = r0[j - 2] + 1;
			r2[j] = cost;
			if (cost < best)
				best = cost;
		}
		if (best > max)
			return max + 1;
		t = r0;
		r0 = r1;
		r1 = r2;
		r2 = t;
	}
	return r1[lb];
}

/* The existing path closest to a mistyped one, or NULL if none is close. */
static const char *
nearest_path(const struct arb_spec *spec, const char *path)
{
	size_t max = strlen(path) / 3 + 1, best = max + 1;
	const char *found = NULL;

	for (uint32_t i = 1; i < spec->nnodes; i++) {
		size_t d;

		if (!arb_spec_is_node(spec, i))
			continue;
		d = distance(path, spec->nodes[i].path, max);

		if (d < best) {
			best = d;
			found = spec->nodes[i].path;
		}
	}
	return found;
}

static void
no_such_child(struct conn *c, const char *path)
{
	const char *nearest = nearest_path(c->ctl->spec, path);
	json_t *p = json_pack("{s:s}", "path", path);

	if (p && nearest)
		json_object_set_new(p, "nearest", json_string(nearest));
	conn_error(c, ARB_ERR_NO_SUCH_CHILD, p);
	json_decref(p);
}

/* The node of path's parent ("a/b" -> "a", "b" -> the root), or ARB_NONE. */
static uint32_t
parent_node(const struct arb_spec *spec, const char *path)
{
	const char *slash;
	char buf[4096];
	size_t len;

	while (*path == '/')
		path++;
	slash = strrchr(path, '/');
	if (!slash)
		return ARB_ROOT;
	len = (size_t)(slash - path);
	if (len == 0 || len >= sizeof(buf))
		return ARB_NONE;
	memcpy(buf, path, len);
	buf[len] = '\0';
	return find_node(spec, buf);
}

uint32_t
methods_child_param(struct conn *c, json_t *params, bool start,
		    const char **ret_path)
{
	json_t *v = json_object_get(params, "path");
	const struct arb_spec *spec = c->ctl->spec;
	uint32_t node, parent;

	if (!json_is_string(v))
		return methods_node_param(c, params, "path", ret_path);
	*ret_path = json_string_value(v);
	node = find_node(spec, *ret_path);
	if (node != ARB_NONE)
		return node; /* the core answers for a child that is there */
	parent = parent_node(spec, *ret_path);
	if (start && parent != ARB_NONE &&
	    spec->nodes[parent].kind == ARB_NODE_SUPERVISOR &&
	    spec->nodes[parent].strategy == ARB_SIMPLE_ONE_FOR_ONE) {
		/* OTP's restart_child under a pool, even of an instance that
		 * is gone: simple_one_for_one. */
		conn_error_str(c, ARB_ERR_POOL_INSTANCE, "path", *ret_path);
		return ARB_NONE;
	}
	if (parent == ARB_NONE) {
		/* Its supervisor is not there (OTP: noproc). */
		conn_error_str(c, ARB_ERR_NOT_RUNNING, "path", *ret_path);
		return ARB_NONE;
	}
	no_such_child(c, *ret_path);
	return ARB_NONE;
}

uint32_t
methods_path_param(struct conn *c, json_t *params, bool optional,
	   const char **ret_path)
{
	if (!json_object_get(params, "path") && optional) {
		*ret_path = "/";
		return ARB_ROOT;
	}
	return methods_node_param(c, params, "path", ret_path);
}

uint32_t
methods_node_param(struct conn *c, json_t *params, const char *key,
		   const char **ret_path)
{
	json_t *v = json_object_get(params, key);
	uint32_t node;

	if (!json_is_string(v)) {
		conn_error_str(c, ARB_ERR_INVALID_PARAMETER, "parameter", key);
		return ARB_NONE;
	}
	*ret_path = json_string_value(v);
	node = find_node(c->ctl->spec, *ret_path);
	if (node == ARB_NONE)
		no_such_child(c, *ret_path);
	return node;
}

/* ---- Status ----------------------------------------------------------------- */

static void
method_status(struct conn *c, json_t *params)
{
	const char *path;
	json_t *stats = json_object_get(params, "stats");
	uint32_t node;
	char *buf = NULL;
	size_t len = 0;
	int r;

	if (stats && !json_is_boolean(stats)) {
		conn_error_str(c, ARB_ERR_INVALID_PARAMETER, "parameter",
			       "stats");
		return;
	}
	node = methods_path_param(c, params, true, &path);
	if (node == ARB_NONE)
		return;
	r = arb_status_reply_encode(c->ctl, node, arb_monotonic_ms(),
				    json_is_true(stats), &buf, &len);
	conn_reply_encoded(c, r, buf, len);
}

/*
 * Show(path): the node's resolved spec as `arbord --check` prints it.
 * Only for those who may change the tree: a spec holds env values, which
 * may be secrets that Status never shows.
 */
static void
method_show(struct conn *c, json_t *params)
{
	const char *path;
	char *text = NULL;
	size_t len = 0;
	uint32_t node;
	json_t *p;
	FILE *out;

	if (!methods_allowed(c))
		return;
	node = methods_path_param(c, params, false, &path);
	if (node == ARB_NONE)
		return;
	out = open_memstream(&text, &len);
	if (!out) {
		c->closing = true; /* no memory: as a reply too large */
		return;
	}
	arb_config_print_node(c->ctl->spec, node, out);
	if (fclose(out) != 0) {
		free(text);
		c->closing = true;
		return;
	}
	p = json_pack("{s:s%}", "spec", text, len);
	free(text);
	if (!p) {
		c->closing = true;
		return;
	}
	conn_reply(c, p, false);
	json_decref(p);
}

/* ---- requests that change the tree -------------------------------------- */

bool
methods_allowed(struct conn *c)
{
	if (c->may_write)
		return true;
	conn_error(c, ARB_ERR_PERMISSION_DENIED, NULL);
	return false;
}

bool
methods_may_read_logs(struct conn *c)
{
	if (c->ctl->spec->control_read_logs)
		return true;
	return methods_allowed(c);
}

static void
method_request(struct conn *c, json_t *params, enum arb_request_kind kind)
{
	struct arb_control *ctl = c->ctl;
	const char *path;
	uint32_t node;

	if (!methods_allowed(c))
		return;
	node = methods_child_param(c, params, kind != ARB_REQ_STOP, &path);
	if (node == ARB_NONE)
		return;
	if (node == ARB_ROOT) {
		/* The root has no supervisor to ask; Shutdown stops it. */
		conn_error_str(c, ARB_ERR_INVALID_PATH, "path", path);
		return;
	}
	if (ctl->down) {
		conn_error(c, ARB_ERR_SHUTTING_DOWN, NULL);
		return;
	}
	c->req_path = strdup(ctl->spec->nodes[node].path);
	if (!c->req_path) {
		c->closing = true;
		return;
	}
	c->waiting = true;
	c->req_id = ctl->next_req_id++;
	ctl->hooks.request(ctl->ctx, node, kind, c->req_id);
}

static void
method_signal(struct conn *c, json_t *params)
{
	const struct arb_spec *spec = c->ctl->spec;
	json_t *sv = json_object_get(params, "signal");
	struct arb_node_view v;
	const char *path;
	uint32_t node;
	int signo;

	if (!methods_allowed(c))
		return;
	if (!json_is_string(sv) ||
	    (signo = arb_signal_from_name(json_string_value(sv))) < 0) {
		conn_error_str(c, ARB_ERR_INVALID_PARAMETER, "parameter",
			       "signal");
		return;
	}
	node = methods_path_param(c, params, false, &path);
	if (node == ARB_NONE)
		return;
	arb_tree_view(c->ctl->tree, node, &v);
	/* Only the runtime signals processes: it knows which are the
	 * service's now (M1, M12). */
	if (spec->nodes[node].kind != ARB_NODE_SERVICE || v.pid <= 0 ||
	    c->ctl->hooks.signal(c->ctl->ctx, node, signo) < 0) {
		conn_error_str(c, ARB_ERR_NOT_RUNNING, "path",
			       spec->nodes[node].path);
		return;
	}
	conn_reply(c, NULL, false);
}

static void
method_events(struct conn *c, bool more)
{
	if (!more) {
		conn_error(c, ARB_ERR_EXPECTED_MORE, NULL);
		return;
	}
	if (c->ctl->down) {
		conn_error(c, ARB_ERR_SHUTTING_DOWN, NULL);
		return;
	}
	c->events = true;
}

/*
 * Shutdown(action): poweroff, reboot or halt, only arbord as the system's
 * init takes; the reply comes first, since the machine may be gone next.
 */
static void
method_shutdown(struct conn *c, json_t *params)
{
	json_t *av = json_object_get(params, "action");
	int action = -1;

	if (!methods_allowed(c))
		return;
	if (av && !json_is_null(av)) {
		if (!json_is_string(av) ||
		    (action = arb_final_from_name(json_string_value(av))) < 0 ||
		    action == ARB_FINAL_EXIT) {
			conn_error_str(c, ARB_ERR_INVALID_PARAMETER,
				       "parameter", "action");
			return;
		}
	}
	if (action >= 0 && !c->ctl->hooks.takes_action(c->ctl->ctx)) {
		conn_error(c, ARB_ERR_NOT_INIT, NULL);
		return;
	}
	conn_reply(c, NULL, false);
	/* Out now: the machine may go down before the loop writes again. */
	(void)arb_wire_outq_flush(&c->out, c->fd);
	c->ctl->hooks.shutdown(c->ctl->ctx, action);
}

/* ---- org.varlink.service -------------------------------------------------- */

static void
method_get_info(struct conn *c)
{
	json_t *p = json_pack("{s:s,s:s,s:s,s:s,s:[s,s]}", "vendor", "arbor",
			      "product", "arbord", "version", ARB_VERSION,
			      "url", "https://arbor.invalid/", "interfaces",
			      "org.varlink.service", ARB_INTERFACE);

	conn_reply(c, p, false);
	json_decref(p);
}

static void
method_get_interface(struct conn *c, json_t *params)
{
	json_t *name = json_object_get(params, "interface");
	json_t *p;

	if (!json_is_string(name)) {
		conn_error_str(c, ARB_ERR_INVALID_PARAMETER, "parameter",
			       "interface");
		return;
	}
	if (strcmp(json_string_value(name), ARB_INTERFACE) == 0) {
		p = json_pack("{s:s}", "description",
			      arb_interface_description);
	} else if (strcmp(json_string_value(name), "org.varlink.service") == 0) {
		p = json_pack("{s:s}", "description",
			      arb_varlink_service_description);
	} else {
		conn_error_str(c, ARB_ERR_INTERFACE_NOT_FOUND, "interface",
			       json_string_value(name));
		return;
	}
	conn_reply(c, p, false);
	json_decref(p);
}

void
methods_dispatch(struct conn *c, const char *method, json_t *params,
		 bool more)
{
	if (strcmp(method, ARB_METHOD_STATUS) == 0)
		method_status(c, params);
	else if (strcmp(method, ARB_METHOD_SHOW) == 0)
		method_show(c, params);
	else if (strcmp(method, ARB_METHOD_START) == 0)
		method_request(c, params, ARB_REQ_START);
	else if (strcmp(method, ARB_METHOD_STOP) == 0)
		method_request(c, params, ARB_REQ_STOP);
	else if (strcmp(method, ARB_METHOD_RESTART) == 0)
		method_request(c, params, ARB_REQ_RESTART);
	else if (strcmp(method, ARB_METHOD_SIGNAL) == 0)
		method_signal(c, params);
	else if (strcmp(method, ARB_METHOD_EVENTS) == 0)
		method_events(c, more);
	else if (strcmp(method, ARB_METHOD_SHUTDOWN) == 0)
		method_shutdown(c, params);
	else if (strcmp(method, ARB_METHOD_LOGS) == 0)
		method_logs(c, params, more);
	else if (strcmp(method, ARB_METHOD_REOPEN_LOGS) == 0)
		method_reopen_logs(c);
	else if (strcmp(method, ARB_METHOD_RELOAD) == 0)
		methods_reload(c, params);
	else if (strcmp(method, ARB_METHOD_ADD_CHILD) == 0)
		methods_add_child(c, params);
	else if (strcmp(method, ARB_METHOD_REMOVE_CHILD) == 0)
		methods_remove_child(c, params);
	else if (strcmp(method, ARB_METHOD_SPAWN) == 0)
		methods_spawn(c, params);
	else if (strcmp(method, ARB_METHOD_REEXEC) == 0)
		methods_reexec(c, params);
	else if (strcmp(method, ARB_METHOD_GET_INFO) == 0)
		method_get_info(c);
	else if (strcmp(method, ARB_METHOD_GET_INTERFACE) == 0)
		method_get_interface(c, params);
	else
		conn_error_str(c, ARB_ERR_METHOD_NOT_FOUND, "method", method);
}

json_t *
methods_fields_json(const struct arb_event_fields *f)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	for (size_t i = 0; i < f->n; i++)
		json_object_set_new(o, f->v[i].key,
				    f->v[i].str ? json_string(f->v[i].str)
						: json_integer(f->v[i].num));
	return o;
}

json_t *
methods_event_json(const struct arb_control *ctl, const struct arb_action *a)
{
	struct arb_event_fields f;

	arb_events_fields(ctl->spec, a, &f);
	return methods_fields_json(&f);
}
