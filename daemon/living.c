/*
 * living.c - the living tree in the shell (living.h): reloads by diff, one
 * step at a time, and the operator's adds, removes and spawns.
 *
 * A reload loads the whole configuration first; an error leaves the tree
 * as it was. Its plan (core/plan.c) is applied in its own order, each step
 * a request to the core whose answer starts the next: the core decides
 * when a supervisor is free to act (M5), this file only what to ask.
 */
#include "living.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/protocol.h"
#include "config/config.h"
#include "control/plan_json.h"
#include "core/limits.h"
#include "core/plan.h"
#include "fdlimit.h"

/* A limit of limits.h as text, for a message. */
#define ARB_STR_(x) #x
#define ARB_STR(x) ARB_STR_(x)

/* A call waiting for the core: a reload step, or an operator's change. */
enum op_kind {
	OP_RELOAD_STEP,
	OP_ADD,
	OP_REMOVE,
	OP_SPAWN,
};

struct op {
	enum op_kind kind;
	uint64_t core_id; /* the request's id, with ARB_LIVING_REQ_BIT */
	uint64_t call_id; /* the caller's (control) id; 0: none */
	uint32_t node;
	char *path;       /* the node's path when asked */
	struct op *next;
};

/* A reload asked while another runs waits here, in order. */
struct reload_call {
	uint64_t call_id; /* 0: SIGHUP */
	bool dry_run;
	struct reload_call *next;
};

struct reload {
	uint64_t call_id;
	struct arb_spec *next;
	struct arb_plan plan;
	/* Where each step's live node was when the plan was made: a step is
	 * carried out on the node found there when it runs, since slots are
	 * reused (an operator may remove and add while the reload runs). */
	struct place {
		char *path;
		const char *kind; /* arb_plan_kind_name */
		bool dynamic;
	} *places;
	json_t *plan_json;
	uint32_t step;     /* the step being applied */
	uint32_t *order;   /* REORDER: borrowed by the core until its reply */
};

struct arb_living {
	struct arb_spec *spec;
	struct arb_tree *const *tree;
	const char *config_path;
	struct arb_living_hooks hooks;
	void *ctx;
	uint64_t next_id;
	struct op *ops;
	struct reload *running;
	struct reload_call *waiting, **waiting_tail;
	/* The tree's descriptor need, counted at a pool's first instance
	 * past the counted ones and grown by each (spawn_beyond_fd_limit);
	 * counted again after an add or a reload. */
	struct arb_fd_need fd_need;
	bool fd_counted;
	const struct arb_cgroup *cg; /* what limits can apply; NULL: unchecked */
};

static void reload_next_step(struct arb_living *l);
static int keep_places(struct arb_living *l, struct reload *r);
static void reload_begin(struct arb_living *l, uint64_t call_id,
			 bool dry_run);

struct arb_living *
arb_living_new(struct arb_spec *spec, struct arb_tree *const *tree,
	       const char *config_path, const struct arb_living_hooks *hooks,
	       void *ctx)
{
	struct arb_living *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->spec = spec;
	l->tree = tree;
	l->config_path = config_path;
	l->hooks = *hooks;
	l->ctx = ctx;
	l->waiting_tail = &l->waiting;
	return l;
}

void
arb_living_set_cgroup(struct arb_living *l, const struct arb_cgroup *cg)
{
	l->cg = cg;
}

/*
 * The limits of spec (a reload's next one, an added child's scratch) the
 * cgroup2 in force cannot apply, as errors in *diag: 0 when there are
 * none, -EINVAL, or -ENOMEM.
 */
static int
limits_unavailable(const struct arb_living *l, const struct arb_spec *spec,
		   struct arb_diag *diag)
{
	int n;

	if (!l->cg)
		return 0;
	n = arb_config_check_limits(spec, l->cg, diag);
	return n < 0 ? n : n > 0 ? -EINVAL : 0;
}

bool
arb_living_busy(const struct arb_living *l)
{
	return l->ops || l->running || l->waiting;
}

static void
reload_free(struct reload *r)
{
	if (!r)
		return;
	for (uint32_t i = 0; r->places && i < r->plan.nsteps; i++)
		free(r->places[i].path);
	free(r->places);
	arb_plan_free(&r->plan);
	arb_spec_free(r->next);
	json_decref(r->plan_json);
	free(r->order);
	free(r);
}

void
arb_living_free(struct arb_living *l)
{
	if (!l)
		return;
	while (l->ops) {
		struct op *next = l->ops->next;

		free(l->ops->path);
		free(l->ops);
		l->ops = next;
	}
	while (l->waiting) {
		struct reload_call *next = l->waiting->next;

		free(l->waiting);
		l->waiting = next;
	}
	reload_free(l->running);
	free(l);
}

/* ---- events ------------------------------------------------------------- */

static void
field(struct arb_event_fields *f, const char *key, const char *str,
      long long num)
{
	if (f->n == sizeof(f->v) / sizeof(f->v[0]))
		return;
	f->v[f->n].key = key;
	f->v[f->n].str = str;
	f->v[f->n].num = num;
	f->n++;
}

static void
say(struct arb_living *l, const char *event, const char *path,
    const char *key, const char *value)
{
	struct arb_event_fields f = {.n = 0};

	field(&f, "event", event, 0);
	if (path)
		field(&f, "path", path, 0);
	if (key)
		field(&f, key, value, 0);
	l->hooks.event(l->ctx, &f);
}

/* ---- requests to the core ------------------------------------------------- */

/*
 * Asks the core for a change of shape and keeps op until it answers. The
 * answer may come before this returns (an idle supervisor acts at once).
 */
static void
op_request(struct arb_living *l, struct op *op, enum arb_request_kind kind,
	   enum arb_request_origin origin, uint32_t pos,
	   const uint32_t *order, uint32_t norder)
{
	struct arb_event ev = {
		.kind = ARB_EV_REQUEST, .node = op->node, .request = kind,
		.origin = origin, .pos = pos, .order = order, .norder = norder,
	};

	op->core_id = ARB_LIVING_REQ_BIT | ++l->next_id;
	ev.req_id = op->core_id;
	op->next = l->ops;
	l->ops = op;
	l->hooks.request(l->ctx, &ev);
}

static struct op *
op_new(enum op_kind kind, uint64_t call_id, uint32_t node, const char *path)
{
	struct op *op = calloc(1, sizeof(*op));

	if (!op)
		return NULL;
	op->kind = kind;
	op->call_id = call_id;
	op->node = node;
	op->path = path ? strdup(path) : NULL;
	if (path && !op->path) {
		free(op);
		return NULL;
	}
	return op;
}

static struct op *
op_take(struct arb_living *l, uint64_t core_id)
{
	for (struct op **p = &l->ops; *p; p = &(*p)->next) {
		struct op *op = *p;

		if (op->core_id == core_id) {
			*p = op->next;
			return op;
		}
	}
	return NULL;
}

/* ---- answers to the caller ------------------------------------------------ */

static void
complete_path(struct arb_living *l, uint64_t call_id, const char *error,
	      const char *path)
{
	json_t *p = path ? json_pack("{s:s}", "path", path) : NULL;

	l->hooks.complete(l->ctx, call_id, error, p);
	json_decref(p);
}

static void
complete_oom(struct arb_living *l, uint64_t call_id)
{
	fprintf(stderr, "arbord: out of memory for a change of the tree\n");
	l->hooks.complete(l->ctx, call_id, ARB_ERR_SHUTTING_DOWN, NULL);
}

/* The control error of one of the core's refusals, with its parameters. */
static const char *
refusal_error(struct arb_living *l, const struct arb_action *a,
	      const struct op *op, json_t *p)
{
	const struct arb_spec_node *n = &l->spec->nodes[op->node];

	switch (a->reply) {
	case ARB_REPLY_EXISTS: {
		uint32_t other = arb_spec_find_child(l->spec, n->parent,
						     n->name);
		enum arb_child_state st = other == ARB_NONE
			? ARB_CHILD_DOWN : arb_tree_state(*l->tree, other);

		json_object_set_new(p, "running",
				    json_boolean(st != ARB_CHILD_DOWN));
		return ARB_ERR_ALREADY_PRESENT;
	}
	case ARB_REPLY_POOL_FULL:
		json_object_set_new(p, "max_children",
				    json_integer(l->spec->nodes[n->parent]
							 .max_children));
		json_object_set_new(p, "path", json_string(
			l->spec->nodes[n->parent].path));
		return ARB_ERR_POOL_FULL;
	case ARB_REPLY_NOT_FOUND:
		return ARB_ERR_NO_SUCH_CHILD;
	case ARB_REPLY_NOT_RUNNING:
		return ARB_ERR_NOT_RUNNING;
	case ARB_REPLY_START_FAILED:
		json_object_set_new(p, "error", json_string(strerror(
			a->err > 0 ? a->err : EIO)));
		return ARB_ERR_START_FAILED;
	case ARB_REPLY_ABORTED:
		return ARB_ERR_SHUTTING_DOWN;
	default:
		return ARB_ERR_NOT_RUNNING;
	}
}

/* The core answered an operator's add, remove or spawn. */
static void
operator_done(struct arb_living *l, const struct op *op,
	      const struct arb_action *a)
{
	json_t *p;
	const char *error;

	if (a->reply == ARB_REPLY_OK) {
		say(l, op->kind == OP_REMOVE ? "remove" : "add", op->path,
		    "reason", op->kind == OP_SPAWN ? "spawn" : "operator");
		complete_path(l, op->call_id, NULL,
			      op->kind == OP_REMOVE ? NULL : op->path);
		return;
	}
	p = json_pack("{s:s}", "path", op->path);
	error = refusal_error(l, a, op, p);
	l->hooks.complete(l->ctx, op->call_id, error, p);
	json_decref(p);
}

/* ---- AddChild, RemoveChild, Spawn ----------------------------------------- */

/*
 * A scratch spec whose root stands for parent: the child is read as the
 * loader reads one of parent's (depth, inherited log settings, C5).
 */
static struct arb_spec *
scratch_for(const struct arb_spec *live, uint32_t parent)
{
	const struct arb_spec_node *p = &live->nodes[parent];
	struct arb_spec *s = arb_spec_new();
	struct arb_spec_node *root;

	if (!s)
		return NULL;
	root = &s->nodes[ARB_ROOT];
	free(root->path);
	root->path = strdup(p->path);
	root->depth = p->depth;
	root->strategy = p->strategy;
	root->auto_shutdown = p->auto_shutdown;
	root->log = p->log;
	root->log.file = p->log.file ? strdup(p->log.file) : NULL;
	if (!root->path || (p->log.file && !root->log.file)) {
		arb_spec_free(s);
		return NULL;
	}
	return s;
}

/* The first error of a child's text, as ConfigInvalid's parameters. */
static json_t *
spec_error_json(const struct arb_diag *d)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct arb_diag_entry *e = &d->entries[i];

		if (e->level != ARB_DIAG_ERROR)
			continue;
		json_t *p = json_pack("{s:i, s:s}", "line", e->line,
				      "message", e->message);

		if (p && e->column > 0)
			json_object_set_new(p, "column",
					    json_integer(e->column));
		return p;
	}
	return json_pack("{s:s}", "message", "invalid child");
}

/* Nodes of the tree now (its slots, less the free ones). */
static uint32_t
live_nodes(const struct arb_living *l)
{
	return l->spec->nnodes - l->spec->nfree;
}

/*
 * What an added child (scratch's, with the instances its pools start)
 * would take past limits.h: NULL when it fits.
 */
static const char *
too_large(const struct arb_living *l, uint32_t parent,
	  const struct arb_spec *scratch)
{
	uint64_t more = scratch->nnodes - 1; /* not its stand-in root */

	if (l->spec->nodes[parent].nchildren >= ARB_CHILDREN_MAX)
		return "the supervisor has " ARB_STR(ARB_CHILDREN_MAX)
		       " children already (ARB_CHILDREN_MAX)";
	for (uint32_t i = 1; i < scratch->nnodes; i++)
		if (scratch->nodes[i].kind == ARB_NODE_SUPERVISOR)
			more += scratch->nodes[i].instances;
	if (live_nodes(l) + more > ARB_NODES_MAX)
		return "the tree would have more than "
		       ARB_STR(ARB_NODES_MAX) " nodes (ARB_NODES_MAX)";
	return NULL;
}

/*
 * Why a tree that needs need is too large for arbord's hard descriptor
 * limit (fdlimit.h), in buf; NULL when it fits (or the limit cannot be
 * read: the starts will say), and then the soft limit follows the need.
 */
static const char *
need_beyond_fd_limit(struct arb_living *l, const struct arb_fd_need *need,
		     char *buf, size_t size)
{
	struct arb_fdlimit f;
	int r = arb_fdlimit_check_need(need, &f);

	if (r == -EMFILE) {
		arb_fdlimit_refusal(&f, buf, size);
		return buf;
	}
	if (r == 0) {
		l->fd_counted = false; /* the tree changes: counted again */
		l->hooks.fd_need(l->ctx, need);
	}
	return NULL;
}

/* The same for the live spec, a child just grafted in. */
static const char *
beyond_fd_limit(struct arb_living *l, char *buf, size_t size)
{
	struct arb_fd_need need;

	arb_fd_budget(l->spec, &need);
	return need_beyond_fd_limit(l, &need, buf, size);
}

/* The same for the tree a reload to next makes: next, and the dynamic
 * children of the live spec it keeps. */
static const char *
reload_beyond_fd_limit(struct arb_living *l, const struct arb_spec *next,
		       char *buf, size_t size)
{
	struct arb_fd_need need;

	arb_fd_budget(next, &need);
	arb_fd_budget_add_dynamic(l->spec, &need);
	return need_beyond_fd_limit(l, &need, buf, size);
}

/* A growth refused for the descriptors it needs: the reply's message. */
static void
complete_fd_limit(struct arb_living *l, uint64_t req_id, const char *why)
{
	json_t *p = json_pack("{s:s}", "message", why);

	l->hooks.complete(l->ctx, req_id, ARB_ERR_CONFIG_INVALID, p);
	json_decref(p);
}

/*
 * Why one more instance of pool is too many for the hard descriptor
 * limit, in buf; NULL when it fits. A pool with a max_children was
 * counted at it, and one without at its instances at start: only an
 * instance past those adds to the need (its template's). The tree is
 * counted once, and each such instance added to that count; a count
 * gone past the limit (instances removed meanwhile are still in it) is
 * made again before anything is refused.
 */
static const char *
spawn_beyond_fd_limit(struct arb_living *l, uint32_t pool, char *buf,
		      size_t size)
{
	const struct arb_spec_node *p = &l->spec->nodes[pool];
	struct arb_fd_need need;
	struct arb_fdlimit f;
	int r;

	if (p->max_children != 0 || p->nchildren < p->instances ||
	    p->template_node == ARB_NONE)
		return NULL;
	for (bool recount = !l->fd_counted;; recount = true) {
		if (recount) {
			arb_fd_budget(l->spec, &l->fd_need);
			l->fd_counted = true;
		}
		need = l->fd_need;
		arb_fd_need_add_service(&need,
					&l->spec->nodes[p->template_node], 1);
		r = arb_fdlimit_check_need(&need, &f);
		if (r != -EMFILE || recount)
			break;
	}
	if (r == 0) {
		l->fd_need = need;
		l->hooks.fd_need(l->ctx, &need);
	}
	if (r != -EMFILE)
		return NULL; /* fits, or the limit unread: the starts say */
	arb_fdlimit_refusal(&f, buf, size);
	return buf;
}

void
arb_living_add(struct arb_living *l, uint32_t parent, const char *text,
	       uint64_t req_id)
{
	char why[256];
	struct arb_diag diag = {0};
	struct arb_spec *scratch;
	uint32_t child, node;
	struct op *op;
	int r;

	if (l->spec->nodes[parent].strategy == ARB_SIMPLE_ONE_FOR_ONE) {
		/* A pool's children are its instances: Spawn. */
		complete_path(l, req_id, ARB_ERR_NOT_A_SUPERVISOR,
			      l->spec->nodes[parent].path);
		return;
	}
	scratch = scratch_for(l->spec, parent);
	if (!scratch) {
		complete_oom(l, req_id);
		return;
	}
	r = arb_config_parse_child(text, scratch, ARB_ROOT, &child, &diag);
	if (r == 0)
		r = limits_unavailable(l, scratch, &diag);
	if (r == -EINVAL) {
		json_t *p = spec_error_json(&diag);

		l->hooks.complete(l->ctx, req_id, ARB_ERR_CONFIG_INVALID, p);
		json_decref(p);
		goto out;
	}
	if (r < 0) {
		complete_oom(l, req_id);
		goto out;
	}
	if (too_large(l, parent, scratch)) {
		json_t *p = json_pack("{s:s}", "message", too_large(l, parent,
								  scratch));

		l->hooks.complete(l->ctx, req_id, ARB_ERR_CONFIG_INVALID, p);
		json_decref(p);
		goto out;
	}
	node = arb_spec_graft(l->spec, parent, scratch, child);
	if (node != ARB_NONE &&
	    beyond_fd_limit(l, why, sizeof(why))) {
		arb_spec_release(l->spec, node);
		complete_fd_limit(l, req_id, why);
		goto out;
	}
	if (node == ARB_NONE || l->hooks.grow(l->ctx) < 0) {
		if (node != ARB_NONE)
			arb_spec_release(l->spec, node);
		complete_oom(l, req_id);
		goto out;
	}
	l->spec->nodes[node].dynamic = true;
	op = op_new(OP_ADD, req_id, node, l->spec->nodes[node].path);
	if (!op) {
		arb_spec_release(l->spec, node);
		complete_oom(l, req_id);
		goto out;
	}
	op_request(l, op, ARB_REQ_ADD, ARB_ORIGIN_OPERATOR, ARB_NONE, NULL, 0);
out:
	arb_diag_done(&diag);
	arb_spec_free(scratch);
}

void
arb_living_remove(struct arb_living *l, uint32_t node, uint64_t req_id)
{
	struct op *op = op_new(OP_REMOVE, req_id, node,
			       l->spec->nodes[node].path);

	if (!op) {
		complete_oom(l, req_id);
		return;
	}
	op_request(l, op, ARB_REQ_REMOVE, ARB_ORIGIN_OPERATOR, 0, NULL, 0);
}

void
arb_living_spawn(struct arb_living *l, uint32_t pool, const char *name,
		 char *const *args, uint64_t req_id)
{
	char number[ARB_INSTANCE_NAME_SIZE], why[256];
	uint32_t node;
	struct op *op;

	if (l->spec->nodes[pool].kind != ARB_NODE_SUPERVISOR ||
	    l->spec->nodes[pool].strategy != ARB_SIMPLE_ONE_FOR_ONE) {
		complete_path(l, req_id, ARB_ERR_NOT_A_POOL,
			      l->spec->nodes[pool].path);
		return;
	}
	/* Each unnamed spawn takes a number, failed ones too; one that an
	 * instance named by hand holds is passed over. */
	while (!name || (name == number &&
			 arb_spec_find_child(l->spec, pool, name) != ARB_NONE)) {
		arb_tree_next_instance(*l->tree, pool, number);
		name = number;
	}
	if (live_nodes(l) >= ARB_NODES_MAX) {
		json_t *p = json_pack("{s:s, s:i}", "path",
				      l->spec->nodes[pool].path, "nodes_max",
				      ARB_NODES_MAX);

		l->hooks.complete(l->ctx, req_id, ARB_ERR_POOL_FULL, p);
		json_decref(p);
		return;
	}
	if (arb_spec_find_child(l->spec, pool, name) != ARB_NONE) {
		uint32_t other = arb_spec_find_child(l->spec, pool, name);
		json_t *p = json_pack("{s:s, s:b}", "path",
				      l->spec->nodes[other].path, "running",
				      arb_tree_state(*l->tree, other) !=
					      ARB_CHILD_DOWN);

		l->hooks.complete(l->ctx, req_id, ARB_ERR_ALREADY_PRESENT, p);
		json_decref(p);
		return;
	}
	if (spawn_beyond_fd_limit(l, pool, why, sizeof(why))) {
		complete_fd_limit(l, req_id, why);
		return;
	}
	node = arb_spec_instantiate(l->spec, pool, name, args);
	if (node == ARB_NONE || l->hooks.grow(l->ctx) < 0) {
		if (node != ARB_NONE)
			arb_spec_release(l->spec, node);
		complete_oom(l, req_id);
		return;
	}
	op = op_new(OP_SPAWN, req_id, node, l->spec->nodes[node].path);
	if (!op) {
		arb_spec_release(l->spec, node);
		complete_oom(l, req_id);
		return;
	}
	op_request(l, op, ARB_REQ_ADD, ARB_ORIGIN_OPERATOR, ARB_NONE, NULL, 0);
}

/* ---- Reload ----------------------------------------------------------------- */

/* The digest of every file the configuration was read from (plan.h). */
static void
config_digest(const struct arb_spec *s, char buf[ARB_PLAN_DIGEST_HEX])
{
	uint64_t h = ARB_PLAN_DIGEST_INIT;

	for (uint32_t i = 0; i < s->nfiles; i++) {
		char chunk[4096];
		ssize_t n;
		int fd = open(s->files[i], O_RDONLY | O_CLOEXEC | O_NONBLOCK);

		if (fd < 0)
			continue;
		while ((n = read(fd, chunk, sizeof(chunk))) > 0)
			h = arb_plan_digest_add(h, chunk, (size_t)n);
		close(fd);
	}
	arb_plan_digest_hex(h, buf);
}

/*
 * ConfigInvalid's parameters for a diagnostic "FILE:LINE: message" (or
 * "FILE: message" about a whole file): file, line and message apart.
 */
static json_t *
config_error_json(const struct arb_diag_entry *e)
{
	size_t prefix = e->message && e->message > e->text
				? (size_t)(e->message - e->text) : 0;
	json_t *p;
	char *file;

	/* The prefix ends with ": ", after ":LINE" (and ":COLUMN"). */
	while (prefix > 0 && (e->text[prefix - 1] == ' ' ||
			      e->text[prefix - 1] == ':'))
		prefix--;
	for (int colon = e->line > 0 ? 1 + (e->column > 0) : 0; colon > 0;
	     colon--) {
		while (prefix > 0 && e->text[prefix - 1] != ':')
			prefix--;
		if (prefix > 0)
			prefix--;
	}
	file = strndup(e->text, prefix);
	p = json_pack("{s:s, s:s}", "file", file ? file : "",
		      "message", e->message ? e->message : e->text);
	free(file);
	if (p && e->line > 0)
		json_object_set_new(p, "line", json_integer(e->line));
	return p;
}

static void
reload_failed(struct arb_living *l, uint64_t call_id,
	      const struct arb_diag *d)
{
	const struct arb_diag_entry *e = NULL;
	json_t *p;

	for (size_t i = 0; i < d->n && !e; i++)
		if (d->entries[i].level == ARB_DIAG_ERROR)
			e = &d->entries[i];
	say(l, "reload_failed", NULL, "error",
	    e ? e->text : "cannot read the configuration");
	for (size_t i = 0; i < d->n; i++)
		if (d->entries[i].level == ARB_DIAG_ERROR)
			fprintf(stderr, "arbord: reload: %s\n",
				d->entries[i].text);
	if (!call_id)
		return;
	p = e ? config_error_json(e)
	      : json_pack("{s:s}", "message", "cannot read the configuration");
	if (p)
		json_object_set_new(p, "errors",
				    json_integer((json_int_t)d->nerrors));
	l->hooks.complete(l->ctx, call_id, ARB_ERR_CONFIG_INVALID, p);
	json_decref(p);
}

/*
 * What a reload cannot do while the tree runs: the root is the tree, it
 * cannot become a pool or stop being one. NULL when next is fine.
 */
static const char *
reload_impossible(const struct arb_spec *live, const struct arb_spec *next)
{
	bool was_pool = live->nodes[ARB_ROOT].strategy == ARB_SIMPLE_ONE_FOR_ONE;
	bool is_pool = next->nodes[ARB_ROOT].strategy == ARB_SIMPLE_ONE_FOR_ONE;

	if (was_pool != is_pool)
		return "the root cannot become a pool, or stop being one, "
		       "while it runs: restart arbord";
	return NULL;
}

static void
reload_refused(struct arb_living *l, uint64_t call_id, const char *why)
{
	json_t *p;

	say(l, "reload_failed", NULL, "error", why);
	fprintf(stderr, "arbord: reload: %s\n", why);
	if (!call_id)
		return;
	p = json_pack("{s:s}", "message", why);
	l->hooks.complete(l->ctx, call_id, ARB_ERR_CONFIG_INVALID, p);
	json_decref(p);
}

/* The reply of a Reload: the plan and whether it was applied. */
static void
reload_complete(struct arb_living *l, struct reload *r, bool applied)
{
	json_t *p;

	if (!r->call_id)
		return;
	p = json_pack("{s:O, s:b}", "plan", r->plan_json, "applied", applied);
	l->hooks.complete(l->ctx, r->call_id, NULL, p);
	json_decref(p);
}

/* The next reload that waited, if any. */
static void
reload_done(struct arb_living *l)
{
	struct reload_call *c = l->waiting;

	reload_free(l->running);
	l->running = NULL;
	if (!c)
		return;
	l->waiting = c->next;
	if (!l->waiting)
		l->waiting_tail = &l->waiting;
	reload_begin(l, c->call_id, c->dry_run);
	free(c);
}

static void
reload_begin(struct arb_living *l, uint64_t call_id, bool dry_run)
{
	struct arb_diag diag = {0};
	struct reload *r;
	char digest[ARB_PLAN_DIGEST_HEX], why[256];
	int e;

	if (l->hooks.stopping(l->ctx)) {
		if (call_id)
			l->hooks.complete(l->ctx, call_id,
					  ARB_ERR_SHUTTING_DOWN, NULL);
		reload_done(l);
		return;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		complete_oom(l, call_id);
		return;
	}
	r->call_id = call_id;
	l->running = r;
	e = arb_config_load(l->config_path, &r->next, &diag);
	if (e == 0)
		e = limits_unavailable(l, r->next, &diag);
	if (e < 0) {
		if (e == -EINVAL)
			reload_failed(l, call_id, &diag);
		else
			complete_oom(l, call_id);
		arb_diag_done(&diag);
		reload_done(l);
		return;
	}
	arb_diag_done(&diag);
	if (reload_impossible(l->spec, r->next)) {
		reload_refused(l, call_id, reload_impossible(l->spec, r->next));
		reload_done(l);
		return;
	}
	if (reload_beyond_fd_limit(l, r->next, why, sizeof(why))) {
		reload_refused(l, call_id, why);
		reload_done(l);
		return;
	}
	config_digest(r->next, digest);
	if (arb_plan_diff(l->spec, r->next, &r->plan) < 0 ||
	    !(r->plan_json = arb_plan_json(&r->plan, l->spec, r->next,
					   digest))) {
		complete_oom(l, call_id);
		reload_done(l);
		return;
	}
	if (dry_run) {
		reload_complete(l, r, false);
		reload_done(l);
		return;
	}
	if (keep_places(l, r) < 0) {
		complete_oom(l, call_id);
		reload_done(l);
		return;
	}
	{
		struct arb_event_fields f = {.n = 0};

		field(&f, "event", "reload", 0);
		field(&f, "digest", digest, 0);
		field(&f, "adds", NULL, r->plan.adds);
		field(&f, "removes", NULL, r->plan.removes);
		field(&f, "changes", NULL, r->plan.changes);
		field(&f, "reorders", NULL, r->plan.reorders);
		l->hooks.event(l->ctx, &f);
	}
	r->step = 0;
	reload_next_step(l);
}

void
arb_living_reload(struct arb_living *l, bool dry_run, uint64_t req_id)
{
	struct reload_call *c;

	if (!l->running) {
		reload_begin(l, req_id, dry_run);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		complete_oom(l, req_id);
		return;
	}
	c->call_id = req_id;
	c->dry_run = dry_run;
	*l->waiting_tail = c;
	l->waiting_tail = &c->next;
}

static int
keep_places(struct arb_living *l, struct reload *r)
{
	r->places = calloc(r->plan.nsteps ? r->plan.nsteps : 1,
			   sizeof(*r->places));
	if (!r->places)
		return -1;
	for (uint32_t i = 0; i < r->plan.nsteps; i++) {
		const struct arb_spec_node *n;
		uint32_t live = r->plan.steps[i].live;

		if (live == ARB_NONE)
			continue;
		n = &l->spec->nodes[live];
		r->places[i].path = strdup(n->path);
		r->places[i].kind = arb_plan_kind_name(n);
		r->places[i].dynamic = n->dynamic;
		if (!r->places[i].path)
			return -1;
	}
	return 0;
}

/*
 * The live node step i is about, found by its path now; ARB_NONE when it
 * is gone, or is no longer what the plan saw there: another kind, or a
 * child added at run time in its place, which a reload leaves alone.
 */
static uint32_t
step_node(struct arb_living *l, const struct reload *r, uint32_t i)
{
	const struct place *p = &r->places[i];
	uint32_t node = arb_spec_find(l->spec, p->path);
	const struct arb_spec_node *n;

	if (node == ARB_NONE)
		return ARB_NONE;
	n = &l->spec->nodes[node];
	if (strcmp(arb_plan_kind_name(n), p->kind) != 0 ||
	    (n->dynamic && !p->dynamic))
		return ARB_NONE;
	return node;
}

/* The live node at next's node's path (the live tree's shape by now). */
static uint32_t
live_of(struct arb_living *l, const struct reload *r, uint32_t next_node)
{
	return arb_spec_find(l->spec, r->next->nodes[next_node].path);
}

/* Every key the change lists, for the change event: "key,key". */
static void
change_keys(const struct arb_plan_step *s, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (uint32_t i = 0; i < s->nkeys && len + 1 < size; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s",
					i ? "," : "", s->keys[i].key);
}

/*
 * A pool's log settings and cgroup limits reach its running instances at
 * once, as any service's do (an instance keeps the rest of the keys it
 * was made with).
 */
static int
instances_as_template(struct arb_living *l, uint32_t pool)
{
	const struct arb_spec_node *p = &l->spec->nodes[pool];

	if (p->kind != ARB_NODE_SUPERVISOR ||
	    p->strategy != ARB_SIMPLE_ONE_FOR_ONE || p->template_node == ARB_NONE)
		return 0;
	for (uint32_t i = 0; i < p->nchildren; i++) {
		if (arb_spec_copy_log(l->spec, p->children[i],
				      p->template_node) < 0 ||
		    arb_spec_copy_limits(l->spec, p->children[i],
					 p->template_node) < 0)
			return -1;
		l->hooks.keys_changed(l->ctx, p->children[i]);
	}
	return 0;
}

/*
 * A change that needs no request: keys arbord reads itself take effect at
 * once, a next-start change waits in the node. True when done here.
 */
static bool
apply_change(struct arb_living *l, struct reload *r,
	     const struct arb_plan_step *s, uint32_t node)
{
	char keys[512];
	int e;

	change_keys(s, keys, sizeof(keys));
	if (s->apply == ARB_APPLY_IN_PLACE) {
		/* Keys left pending by an earlier reload are dropped: next's
		 * are the ones it takes. */
		(void)arb_spec_take_pending(l->spec, node);
		e = arb_spec_assign(l->spec, node, r->next, s->next);
		if (e == 0 && node == ARB_ROOT)
			e = arb_spec_assign_globals(l->spec, r->next);
		if (e == 0)
			l->hooks.keys_changed(l->ctx, node);
		if (e == 0)
			e = instances_as_template(l, node);
	} else {
		e = arb_spec_set_pending(l->spec, node, r->next, s->next);
	}
	if (e < 0) {
		fprintf(stderr, "arbord: reload: out of memory changing '%s'\n",
			l->spec->nodes[node].path);
		return true;
	}
	if (s->apply != ARB_APPLY_RESTART) {
		struct arb_event_fields f = {.n = 0};

		field(&f, "event", "change", 0);
		field(&f, "path", l->spec->nodes[node].path, 0);
		field(&f, "apply", arb_plan_apply_name(s->apply), 0);
		field(&f, "keys", keys, 0);
		l->hooks.event(l->ctx, &f);
		return true;
	}
	return false;
}

/* The children's new order as live nodes (names the live tree lacks are
 * skipped; the core keeps the others after). NULL on OOM. */
static uint32_t *
live_order(struct arb_living *l, uint32_t sup, const struct arb_plan_step *s,
	   uint32_t *ret_n)
{
	uint32_t *order = calloc(s->norder ? s->norder : 1, sizeof(*order));
	uint32_t n = 0;

	if (!order)
		return NULL;
	for (uint32_t i = 0; i < s->norder; i++) {
		uint32_t c = arb_spec_find_child(l->spec, sup, s->order[i]);

		if (c != ARB_NONE)
			order[n++] = c;
	}
	*ret_n = n;
	return order;
}

/* Position of next's node among its siblings: where it is added. */
static uint32_t
position_in(const struct arb_spec *s, uint32_t node)
{
	const struct arb_spec_node *p = &s->nodes[s->nodes[node].parent];

	for (uint32_t i = 0; i < p->nchildren; i++)
		if (p->children[i] == node)
			return i;
	return ARB_NONE;
}

/*
 * Starts step r->step as a request; true when it waits for the core's
 * answer, false when it was done at once (or could not be done).
 */
static bool
reload_step(struct arb_living *l, struct reload *r)
{
	const struct arb_plan_step *s = &r->plan.steps[r->step];
	uint32_t node = ARB_NONE, norder = 0;
	struct op *op;

	if (s->op != ARB_PLAN_ADD) {
		node = step_node(l, r, r->step);
		if (node == ARB_NONE) {
			fprintf(stderr, "arbord: reload: '%s' is gone or "
				"another child by now: step skipped\n",
				r->places[r->step].path);
			return false;
		}
	}
	switch (s->op) {
	case ARB_PLAN_REMOVE:
		break;
	case ARB_PLAN_CHANGE:
		/* A child added at run time that the configuration now names
		 * is the configuration's (its CHANGE may list no key). */
		l->spec->nodes[node].dynamic = false;
		if (apply_change(l, r, s, node))
			return false;
		break;
	case ARB_PLAN_REORDER:
		free(r->order);
		r->order = live_order(l, node, s, &norder);
		if (!r->order)
			return false;
		break;
	case _ARB_PLAN_OP_MAX:
		return false;
	case ARB_PLAN_ADD: {
		uint32_t parent = live_of(l, r, r->next->nodes[s->next].parent);

		if (parent == ARB_NONE)
			return false;
		node = arb_spec_graft(l->spec, parent, r->next, s->next);
		if (node == ARB_NONE)
			return false;
		if (l->hooks.grow(l->ctx) < 0) {
			arb_spec_release(l->spec, node);
			return false;
		}
		break;
	}
	}
	op = op_new(OP_RELOAD_STEP, 0, node, l->spec->nodes[node].path);
	if (!op)
		return false;
	switch (s->op) {
	case ARB_PLAN_REMOVE:
		op_request(l, op, ARB_REQ_REMOVE, ARB_ORIGIN_CONFIG, 0, NULL, 0);
		break;
	case ARB_PLAN_CHANGE:
		op_request(l, op, ARB_REQ_CHANGE, ARB_ORIGIN_CONFIG, 0, NULL, 0);
		break;
	case ARB_PLAN_REORDER:
		op_request(l, op, ARB_REQ_REORDER, ARB_ORIGIN_CONFIG, 0,
			   r->order, norder);
		break;
	case ARB_PLAN_ADD:
	case _ARB_PLAN_OP_MAX:
		op_request(l, op, ARB_REQ_ADD, ARB_ORIGIN_CONFIG,
			   position_in(r->next, s->next), NULL, 0);
		break;
	}
	return true;
}

/* Applies the steps one after the other; each request's answer calls
 * this again (arb_living_reply). */
static void
reload_next_step(struct arb_living *l)
{
	struct reload *r = l->running;

	while (r->step < r->plan.nsteps) {
		if (reload_step(l, r))
			return;
		r->step++;
	}
	reload_complete(l, r, true);
	reload_done(l);
}

/* The core answered the step being applied. */
static void
reload_step_done(struct arb_living *l, const struct op *op,
		 const struct arb_action *a)
{
	struct reload *r = l->running;
	const struct arb_plan_step *s;

	if (!r || r->step >= r->plan.nsteps)
		return;
	s = &r->plan.steps[r->step];
	switch (s->op) {
	case ARB_PLAN_ADD:
		say(l, "add", op->path, "reason", "reload");
		break;
	case ARB_PLAN_REMOVE:
		say(l, "remove", op->path, "reason", "reload");
		break;
	case ARB_PLAN_CHANGE: {
		char keys[512];

		/* Not running, it has no process to restart: its new keys
		 * are its own now (its sockets follow them at once). */
		l->hooks.settle(l->ctx, op->node);
		change_keys(s, keys, sizeof(keys));
		say(l, "change", op->path, "keys", keys);
		break;
	}
	case ARB_PLAN_REORDER:
	case _ARB_PLAN_OP_MAX:
		say(l, "reorder", op->path, NULL, NULL);
		break;
	}
	if (a->reply != ARB_REPLY_OK && a->reply != ARB_REPLY_NOT_FOUND)
		fprintf(stderr, "arbord: reload: %s '%s': %s\n",
			s->op == ARB_PLAN_ADD ? "add" : "change", op->path,
			arb_reply_name(a->reply));
	r->step++;
	reload_next_step(l);
}

bool
arb_living_reply(struct arb_living *l, const struct arb_action *a)
{
	struct op *op;

	if (!(a->req_id & ARB_LIVING_REQ_BIT))
		return false;
	op = op_take(l, a->req_id);
	if (!op)
		return true;
	if (op->kind == OP_RELOAD_STEP)
		reload_step_done(l, op, a);
	else
		operator_done(l, op, a);
	free(op->path);
	free(op);
	return true;
}
