/*
 * spec_check.c - whether a spec is one arbord could have made: a tree
 * rooted at 0 whose parents and children agree, names and paths as the
 * loader makes them, every value in the range the loader allows. The
 * re-exec state's reader (state/spec_json.c) trusts a spec only once it
 * passed, so nothing corrupted reaches arb_tree_new or arb_plan.
 *
 * Pure, as spec.c (STYLE.md 1): no syscalls, no stdio; the message is
 * written by hand.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cg_limits.h"
#include "limits.h"
#include "mem.h"
#include "spec.h"

/* The longest duration the loader reads (arb_spec_parse_duration). */
#define DURATION_MAX_MS (366LL * 24 * 3600 * 1000)

#define LOG_SINKS_ALL (ARB_SINK_RING | ARB_SINK_FILE | ARB_SINK_JOURNAL | \
		       ARB_SINK_CONSOLE)
#define LOG_KEYS_ALL (ARB_LOG_SINKS | ARB_LOG_RING_SIZE | ARB_LOG_FILE | \
		      ARB_LOG_MAX_SIZE | ARB_LOG_KEEP | ARB_LOG_STREAMS)

/* Where a check writes why it failed. */
struct why {
	char *buf;
	size_t size;
	size_t len;
};

static void
put(struct why *w, const char *text)
{
	for (; *text && w->len + 1 < w->size; text++)
		w->buf[w->len++] = *text;
	if (w->size > 0)
		w->buf[w->len] = '\0';
}

/* "nodes[i]: problem" (i ARB_NONE: the spec's own keys); returns -1. */
static int
fail(struct why *w, uint32_t node, const char *problem)
{
	char num[24];

	w->len = 0;
	if (node != ARB_NONE) {
		arb_spec_format_uint(node, num, sizeof(num));
		put(w, "nodes[");
		put(w, num);
		put(w, "]: ");
	} else {
		put(w, "spec: ");
	}
	put(w, problem);
	return -1;
}

static bool
duration_ok(int64_t ms, bool infinity_ok)
{
	return (ms >= 0 && ms <= DURATION_MAX_MS) ||
	       (infinity_ok && ms == ARB_INFINITY_MS);
}

static bool
strv_ok(char *const *v, uint32_t max)
{
	uint32_t n = 0;

	for (; v && v[n]; n++)
		if (n >= max)
			return false;
	return true;
}

/* What the loader allows of a log group (config/log_keys.c). */
static const char *
log_problem(const struct arb_log_spec *log)
{
	if (log->sinks & ~(unsigned)LOG_SINKS_ALL)
		return "log: unknown sinks";
	if (log->ring_size < ARB_LOG_RING_MIN ||
	    log->ring_size > ARB_LOG_RING_MAX)
		return "log: ring_size out of range";
	if (log->max_size > ARB_SIZE_MAX)
		return "log: max_size out of range";
	if (log->keep > ARB_LOG_KEEP_MAX)
		return "log: keep out of range";
	if ((unsigned)log->streams >= _ARB_STREAMS_MAX)
		return "log: unknown streams";
	if (log->given & ~(unsigned)LOG_KEYS_ALL)
		return "log: unknown keys given";
	if (log->file && log->file[0] != '/')
		return "log: file is not an absolute path";
	return NULL;
}

/* A service's exec and its context (config/keys.c, exec_context.c). */
static const char *
exec_problem(const struct arb_spec_node *n)
{
	uint32_t nlisten = arb_spec_strv_len(n->listen);

	if (!n->exec_path || n->exec_path[0] != '/')
		return "a service without an absolute exec_path";
	if (!n->argv || !n->argv[0] || !strv_ok(n->argv, ARB_ARGV_MAX))
		return "argv empty or too long";
	/* An instance's env has ARBOR_INSTANCE= besides the template's. */
	if (!strv_ok(n->env, ARB_ENV_MAX + 1))
		return "env too long";
	if (!strv_ok(n->listen, ARB_LISTEN_MAX))
		return "listen too long";
	if (n->ready == ARB_READY_FD ?
	    n->ready_fd < 3 + (int)nlisten || n->ready_fd > ARB_READY_FD_MAX :
	    n->ready_fd != -1)
		return "ready_fd out of range";
	if (n->ngroups > ARB_GROUPS_MAX || (n->ngroups > 0 && !n->groups))
		return "groups out of range";
	if (n->nrlimits > ARB_RLIMIT_COUNT || (n->nrlimits > 0 && !n->rlimits))
		return "too many rlimits";
	for (uint32_t i = 0; i < n->nrlimits; i++)
		if (n->rlimits[i].resource < 0 ||
		    n->rlimits[i].resource >= ARB_RLIMIT_COUNT ||
		    n->rlimits[i].soft > n->rlimits[i].hard)
			return "an rlimit out of range";
	return NULL;
}

/* The keys of a node (or pending keys) by value: enums, ranges, caps. */
static const char *
keys_problem(const struct arb_spec_node *n)
{
	const char *problem;

	if ((unsigned)n->kind >= _ARB_NODE_KIND_MAX ||
	    (unsigned)n->restart >= _ARB_RESTART_MAX ||
	    (unsigned)n->strategy >= _ARB_STRATEGY_MAX ||
	    (unsigned)n->auto_shutdown >= _ARB_AUTO_SHUTDOWN_MAX ||
	    (unsigned)n->shutdown >= _ARB_SHUTDOWN_ORDER_MAX ||
	    (unsigned)n->ready >= _ARB_READY_MAX ||
	    (unsigned)n->on_change >= _ARB_ON_CHANGE_MAX)
		return "an enum out of range";
	if (n->line < 0)
		return "line out of range";
	if (n->intensity > ARB_INTENSITY_MAX)
		return "intensity out of range";
	if (n->period_ms <= 0 || !duration_ok(n->period_ms, false))
		return "period_ms out of range";
	if (n->stop_signal < 1 || n->stop_signal > 64)
		return "stop_signal out of range";
	if (n->forward_signals & 1u)
		return "forward_signals names signal 0";
	if (!duration_ok(n->stop_timeout_ms, true) ||
	    n->start_timeout_ms <= 0 || !duration_ok(n->start_timeout_ms, true) ||
	    !duration_ok(n->watchdog_ms, false) ||
	    !duration_ok(n->restart_delay_ms, false) ||
	    !duration_ok(n->restart_delay_max_ms, false))
		return "a duration out of range";
	if (n->restart_delay_max_ms < n->restart_delay_ms)
		return "restart_delay_max_ms below restart_delay_ms";
	if (n->umask < -1 || n->umask > 0777)
		return "umask out of range";
	if (n->nice < -20 || n->nice > 19)
		return "nice out of range";
	if (n->max_children > ARB_CHILDREN_MAX ||
	    n->instances > ARB_CHILDREN_MAX ||
	    (n->max_children > 0 && n->instances > n->max_children))
		return "max_children or instances out of range";
	if (n->limits && (problem = arb_cg_limits_problem(n->limits)))
		return problem;
	problem = log_problem(&n->log);
	if (problem)
		return problem;
	return n->kind == ARB_NODE_SERVICE ? exec_problem(n) : NULL;
}

/* path is parent's path, "/" and name (under the root: name alone). */
static bool
path_ok(const struct arb_spec_node *n, const struct arb_spec_node *p)
{
	size_t plen;

	if (strcmp(p->path, "/") == 0)
		return strcmp(n->path, n->name) == 0;
	plen = strlen(p->path);
	return strncmp(n->path, p->path, plen) == 0 && n->path[plen] == '/' &&
	       strcmp(n->path + plen + 1, n->name) == 0;
}

static const char *
root_problem(const struct arb_spec *s)
{
	const struct arb_spec_node *r = &s->nodes[ARB_ROOT];

	if (r->unused || r->kind != ARB_NODE_SUPERVISOR ||
	    r->parent != ARB_NONE || r->depth != 0 || r->is_template ||
	    r->dynamic || r->leaving || r->pending)
		return "the root is not a supervisor at the top";
	if (!r->name || !r->path || strcmp(r->name, "/") != 0 ||
	    strcmp(r->path, "/") != 0)
		return "the root is not named '/'";
	return NULL;
}

/* Where node sits: its parent, depth, path, and a pool's template. */
static const char *
place_problem(const struct arb_spec *s, uint32_t i)
{
	const struct arb_spec_node *n = &s->nodes[i];
	const struct arb_spec_node *p;
	uint32_t depth_max = ARB_DEPTH_MAX +
			     (n->kind == ARB_NODE_SERVICE ? 1 : 0);

	if (!n->name || !n->path || !arb_spec_name_valid(n->name))
		return "an invalid name";
	if (n->parent >= s->nnodes || n->parent == i)
		return "parent out of range";
	p = &s->nodes[n->parent];
	if (p->unused || p->kind != ARB_NODE_SUPERVISOR || p->is_template ||
	    !p->path)
		return "parent is not a supervisor";
	if (n->depth != p->depth + 1 || n->depth > depth_max)
		return "depth is not its parent's + 1, or too deep";
	if (!path_ok(n, p))
		return "path is not its parent's and its name";
	if (n->is_template &&
	    (n->kind != ARB_NODE_SERVICE || p->template_node != i))
		return "a template that is not its pool's service";
	if (n->pending && (n->kind != ARB_NODE_SERVICE || n->is_template))
		return "pending keys on a node that is no service";
	return NULL;
}

static const char *
pool_problem(const struct arb_spec *s, uint32_t i)
{
	const struct arb_spec_node *n = &s->nodes[i];
	const struct arb_spec_node *t;

	if (n->kind != ARB_NODE_SUPERVISOR ||
	    n->strategy != ARB_SIMPLE_ONE_FOR_ONE)
		return n->template_node == ARB_NONE ? NULL :
		       "a template_node on a node that is no pool";
	if (n->template_node >= s->nnodes)
		return "a pool without a template";
	t = &s->nodes[n->template_node];
	if (t->unused || !t->is_template || t->parent != i)
		return "a pool whose template is not its own";
	return NULL;
}

/*
 * A supervisor's children: each a used node that names it as parent and
 * no template, none twice in the whole spec (seen), names unique among
 * those that have not left (table: scratch of cap slots, a power of two
 * above ARB_CHILDREN_MAX * 2, zeroed on return).
 */
static const char *
children_problem(const struct arb_spec *s, uint32_t sup, uint8_t *seen,
		 uint32_t *table, uint32_t cap)
{
	const struct arb_spec_node *p = &s->nodes[sup];
	const char *problem = NULL;

	if (p->nchildren > ARB_CHILDREN_MAX || p->nchildren > p->children_cap ||
	    (p->nchildren > 0 && !p->children))
		return "children out of range";
	if (p->kind != ARB_NODE_SUPERVISOR && p->nchildren > 0)
		return "a service with children";
	for (uint32_t k = 0; k < p->nchildren && !problem; k++) {
		uint32_t c = p->children[k], h = 2166136261u;
		const struct arb_spec_node *n;

		if (c >= s->nnodes || c == ARB_ROOT)
			return "a child out of range";
		n = &s->nodes[c];
		if (n->unused || n->is_template || n->parent != sup)
			return "a child that is not its own";
		if (seen[c]++)
			return "a child listed twice";
		if (n->leaving || !n->name)
			continue;
		for (const char *x = n->name; *x; x++)
			h = (h ^ (uint8_t)*x) * 16777619u;
		for (h &= cap - 1; table[h]; h = (h + 1) & (cap - 1)) {
			if (strcmp(s->nodes[table[h] - 1].name, n->name) == 0) {
				problem = "two children of one name";
				break;
			}
		}
		table[h] = c + 1;
	}
	for (uint32_t k = 0; k < p->nchildren; k++) {
		uint32_t c = p->children[k];
		uint32_t h = 2166136261u;

		if (c >= s->nnodes || !s->nodes[c].name)
			continue;
		/* Clearing the whole table per supervisor would cost
		 * cap per supervisor: clear what was set. */
		for (const char *x = s->nodes[c].name; *x; x++)
			h = (h ^ (uint8_t)*x) * 16777619u;
		for (h &= cap - 1; table[h]; h = (h + 1) & (cap - 1))
			table[h] = 0;
	}
	return problem;
}

/* Every child is where it says it is, once: seen[] counts the listings. */
static int
check_tree(const struct arb_spec *s, struct why *w, uint8_t *seen)
{
	uint32_t cap = 2 * ARB_CHILDREN_MAX;
	uint32_t *table = arb_calloc(cap, sizeof(*table));
	const char *problem = NULL;
	uint32_t i;

	if (!table)
		return fail(w, ARB_NONE, "out of memory");
	for (i = 0; i < s->nnodes && !problem; i++)
		if (!s->nodes[i].unused)
			problem = children_problem(s, i, seen, table, cap);
	arb_free(table);
	if (problem)
		return fail(w, i - 1, problem);
	for (i = 1; i < s->nnodes; i++) {
		const struct arb_spec_node *n = &s->nodes[i];

		if (n->unused || n->is_template)
			continue;
		/* A node that has left may be out of the list already. */
		if (!seen[i] && !n->leaving)
			return fail(w, i, "not among its parent's children");
	}
	return 0;
}

static int
check_nodes(const struct arb_spec *s, struct why *w)
{
	const char *problem = root_problem(s);

	if (problem)
		return fail(w, ARB_ROOT, problem);
	for (uint32_t i = 0; i < s->nnodes; i++) {
		const struct arb_spec_node *n = &s->nodes[i];

		if (n->unused) {
			if (n->name || n->path || n->children || n->pending)
				return fail(w, i, "a free slot that holds a node");
			continue;
		}
		problem = i == ARB_ROOT ? NULL : place_problem(s, i);
		if (!problem)
			problem = keys_problem(n);
		if (!problem)
			problem = pool_problem(s, i);
		if (!problem && n->pending) {
			problem = keys_problem(n->pending);
			if (!problem && (n->pending->kind != ARB_NODE_SERVICE ||
					 n->pending->pending ||
					 n->pending->nchildren))
				problem = "pending keys of no service";
		}
		if (problem)
			return fail(w, i, problem);
	}
	return 0;
}

static int
check_globals(const struct arb_spec *s, struct why *w)
{
	if (!s->nodes || s->nnodes == 0 || s->nnodes > ARB_NODES_MAX ||
	    s->nnodes > s->cap)
		return fail(w, ARB_NONE, "nodes out of range");
	if ((unsigned)s->on_giveup >= _ARB_GIVEUP_MAX)
		return fail(w, ARB_NONE, "on_giveup out of range");
	if ((unsigned)s->exit_status >= _ARB_EXIT_STATUS_MAX)
		return fail(w, ARB_NONE, "exit_status out of range");
	if (s->control_gid < -1)
		return fail(w, ARB_NONE, "control_gid out of range");
	if (s->emergency_shell && (!s->emergency_shell[0] ||
				   !strv_ok(s->emergency_shell, ARB_ARGV_MAX)))
		return fail(w, ARB_NONE, "emergency_shell empty or too long");
	return 0;
}

int
arb_spec_check(const struct arb_spec *s, char *why, size_t size)
{
	struct why w = {.buf = why, .size = size};
	uint8_t *seen;
	int r;

	if (size > 0)
		why[0] = '\0';
	if (check_globals(s, &w) < 0 || check_nodes(s, &w) < 0)
		return -1;
	seen = arb_calloc(s->nnodes, 1);
	if (!seen)
		return fail(&w, ARB_NONE, "out of memory");
	r = check_tree(s, &w, seen);
	arb_free(seen);
	return r;
}
