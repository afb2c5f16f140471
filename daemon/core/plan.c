/*
 * plan.c - the reload plan: a diff of the running tree's spec and a newly
 * loaded one, as steps the shell applies in order (plan.h has the rules).
 *
 * Part of the pure core: no syscalls, no library headers with side effects
 * (STYLE.md 1); memory comes through mem.h. It reads both specs and
 * changes neither. Walks recurse once per tree level, which the loader and
 * AddChild bound by ARB_DEPTH_MAX.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mem.h"
#include "plan.h"
#include "plan_keys.h"
#include "spec.h"

static const char *const op_names[_ARB_PLAN_OP_MAX] = {
	[ARB_PLAN_REMOVE] = "remove",
	[ARB_PLAN_CHANGE] = "change",
	[ARB_PLAN_REORDER] = "reorder",
	[ARB_PLAN_ADD] = "add",
};

static const char *const apply_names[_ARB_APPLY_MAX] = {
	[ARB_APPLY_IN_PLACE] = "in-place",
	[ARB_APPLY_RESTART] = "restart",
	[ARB_APPLY_NEXT_START] = "next-start",
};

const char *
arb_plan_op_name(enum arb_plan_op v)
{
	return v < _ARB_PLAN_OP_MAX ? op_names[v] : "?";
}

const char *
arb_plan_apply_name(enum arb_plan_apply v)
{
	return v < _ARB_APPLY_MAX ? apply_names[v] : "?";
}

/* What a node is, for matching: a change of kind is a REMOVE and an ADD. */
enum plan_kind { KIND_SERVICE, KIND_SUPERVISOR, KIND_POOL };

static enum plan_kind
kind_of(const struct arb_spec_node *n)
{
	if (n->kind == ARB_NODE_SERVICE)
		return KIND_SERVICE;
	return n->strategy == ARB_SIMPLE_ONE_FOR_ONE ? KIND_POOL :
						       KIND_SUPERVISOR;
}

const char *
arb_plan_kind_name(const struct arb_spec_node *n)
{
	switch (kind_of(n)) {
	case KIND_SERVICE:
		return "service";
	case KIND_SUPERVISOR:
		return "supervisor";
	case KIND_POOL:
		return "pool";
	}
	return "?";
}

uint64_t
arb_plan_digest_add(uint64_t digest, const void *bytes, size_t n)
{
	const unsigned char *p = bytes;

	for (size_t i = 0; i < n; i++) {
		digest ^= p[i];
		digest *= 0x100000001b3ull; /* FNV-1a's 64-bit prime */
	}
	return digest;
}

void
arb_plan_digest_hex(uint64_t digest, char buf[ARB_PLAN_DIGEST_HEX])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 15; i >= 0; i--, digest >>= 4)
		buf[i] = hex[digest & 0xf];
	buf[16] = '\0';
}

/* ---- The diff ---- */

/* What becomes of a live node: matched or replaced by one of next's. */
enum live_fate {
	LIVE_UNSEEN,   /* no node of next has its name (or never compared) */
	LIVE_KEPT,     /* matched: the same name and kind */
	LIVE_REPLACED, /* next has its name with another kind */
};

struct differ {
	const struct arb_spec *live, *next;
	uint32_t *match;   /* next's node -> its live node, or ARB_NONE */
	uint8_t *fate;     /* live's node -> enum live_fate */
	uint32_t *by_name; /* scratch: a live supervisor's children by name */
	struct arb_plan_values values;
	/* The CHANGE being built, moved into its step when done. */
	struct arb_plan_key *keys;
	uint32_t nkeys, keys_cap;
	struct arb_plan plan;
};

/* A node of live's tree among a supervisor's children: not a free slot,
 * not a pool's template. */
static bool
is_tree_node(const struct arb_spec_node *n)
{
	return !n->unused && !n->is_template;
}

static void
keys_free(struct arb_plan_key *keys, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		arb_free(keys[i].key);
		arb_free(keys[i].old_value);
		arb_free(keys[i].new_value);
	}
	arb_free(keys);
}

void
arb_plan_free(struct arb_plan *p)
{
	if (!p)
		return;
	for (uint32_t i = 0; i < p->nsteps; i++) {
		struct arb_plan_step *st = &p->steps[i];

		keys_free(st->keys, st->nkeys);
		for (uint32_t j = 0; j < st->norder; j++)
			arb_free(st->order[j]);
		arb_free(st->order);
	}
	arb_free(p->steps);
	memset(p, 0, sizeof(*p));
}

/* A new step at the end of the plan, counted; NULL on OOM. */
static struct arb_plan_step *
push_step(struct differ *d, enum arb_plan_op op, uint32_t live, uint32_t next)
{
	struct arb_plan *p = &d->plan;
	struct arb_plan_step *st;

	if (p->nsteps == p->cap) {
		uint32_t cap = p->cap ? p->cap * 2 : 16;

		st = arb_reallocarray(p->steps, cap, sizeof(*st));
		if (!st)
			return NULL;
		p->steps = st;
		p->cap = cap;
	}
	st = &p->steps[p->nsteps++];
	memset(st, 0, sizeof(*st));
	st->op = op;
	st->live = live;
	st->next = next;
	switch (op) {
	case ARB_PLAN_REMOVE:
		p->removes++;
		break;
	case ARB_PLAN_CHANGE:
		p->changes++;
		break;
	case ARB_PLAN_REORDER:
		p->reorders++;
		break;
	case ARB_PLAN_ADD:
		p->adds++;
		break;
	default:
		break;
	}
	return st;
}

/* Appends a differing key to the change being built. -1 on OOM. */
static int
record_key(struct differ *d, const char *prefix, const char *name)
{
	struct arb_plan_key *k;
	size_t plen = strlen(prefix), nlen = strlen(name);
	bool oom = false;

	if (d->nkeys == d->keys_cap) {
		uint32_t cap = d->keys_cap ? d->keys_cap * 2 : 8;

		k = arb_reallocarray(d->keys, cap, sizeof(*k));
		if (!k)
			return -1;
		d->keys = k;
		d->keys_cap = cap;
	}
	k = &d->keys[d->nkeys];
	memset(k, 0, sizeof(*k));
	k->key = arb_calloc(plen + nlen + 1, 1);
	if (!k->key)
		return -1;
	memcpy(k->key, prefix, plen);
	memcpy(k->key + plen, name, nlen + 1);
	k->old_value = arb_plan_text_copy(&d->values.old, &oom);
	k->new_value = arb_plan_text_copy(&d->values.new, &oom);
	d->nkeys++; /* counted even half-built, so that it is freed */
	return oom ? -1 : 0;
}

/*
 * Compares live's node a and next's b on every key of the table. Records
 * each that differs (named prefix + key) when `record`; sets *restart
 * when one of them is not applied in place. -1 on OOM.
 */
static int
compare_keys(struct differ *d, const struct arb_plan_keys *keys,
	     const char *prefix, bool record, const struct arb_spec_node *a,
	     const struct arb_spec_node *b, bool *restart)
{
	for (uint32_t i = 0; i < keys->n; i++) {
		const struct arb_plan_key_def *def = &keys->def[i];
		int r = arb_plan_key_compare(&d->values, def, d->live, a,
					     d->next, b);

		if (r < 0)
			return -1;
		if (r == 0)
			continue;
		if (!def->in_place)
			*restart = true;
		if (record && record_key(d, prefix, def->name) < 0)
			return -1;
	}
	return 0;
}

/* Moves the keys built into a new CHANGE step. -1 on OOM. */
static int
push_change(struct differ *d, uint32_t live, uint32_t next,
	    enum arb_plan_apply apply)
{
	struct arb_plan_step *st = push_step(d, ARB_PLAN_CHANGE, live, next);

	if (!st)
		return -1;
	st->apply = apply;
	st->keys = d->keys;
	st->nkeys = d->nkeys;
	d->keys = NULL;
	d->nkeys = d->keys_cap = 0;
	return 0;
}

/*
 * A service: its keys against next's, or its pending keys when a reload
 * already gave it some. Whether its process must restart is a question
 * of what it runs now, its current keys.
 */
static int
change_service(struct differ *d, uint32_t l, uint32_t n)
{
	const struct arb_spec_node *cur = &d->live->nodes[l];
	const struct arb_spec_node *was = cur->pending ? cur->pending : cur;
	const struct arb_spec_node *to = &d->next->nodes[n];
	enum arb_plan_apply apply = ARB_APPLY_IN_PLACE;
	bool restart = false;

	if (compare_keys(d, &arb_plan_service_keys, "", true, was, to,
			 &restart) < 0)
		return -1;
	if (d->nkeys == 0 && !cur->dynamic)
		return 0;
	if (cur->pending) {
		restart = false;
		if (compare_keys(d, &arb_plan_service_keys, "", false, cur, to,
				 &restart) < 0)
			return -1;
	}
	if (restart)
		apply = to->on_change == ARB_ON_CHANGE_NEXT_START ?
				ARB_APPLY_NEXT_START : ARB_APPLY_RESTART;
	return push_change(d, l, n, apply);
}

/* The template of pool p of spec s, or NULL. */
static const struct arb_spec_node *
template_of(const struct arb_spec *s, const struct arb_spec_node *p)
{
	if (kind_of(p) != KIND_POOL || p->template_node == ARB_NONE)
		return NULL;
	return &s->nodes[p->template_node];
}

/* A supervisor's flags, a pool's keys and template, the spec-wide keys:
 * all arbord's own, applied in place. */
static int
change_supervisor(struct differ *d, uint32_t l, uint32_t n)
{
	const struct arb_spec_node *a = &d->live->nodes[l];
	const struct arb_spec_node *b = &d->next->nodes[n];
	const struct arb_spec_node *at = template_of(d->live, a);
	const struct arb_spec_node *bt = template_of(d->next, b);
	bool restart = false;

	if (compare_keys(d, &arb_plan_supervisor_keys, "", true, a, b,
			 &restart) < 0)
		return -1;
	if (kind_of(a) == KIND_POOL &&
	    compare_keys(d, &arb_plan_pool_keys, "", true, a, b, &restart) < 0)
		return -1;
	if (at && bt &&
	    compare_keys(d, &arb_plan_service_keys, "template.", true, at, bt,
			 &restart) < 0)
		return -1;
	if (l == ARB_ROOT &&
	    compare_keys(d, &arb_plan_root_keys, "", true, a, b, &restart) < 0)
		return -1;
	if (d->nkeys == 0 && !a->dynamic)
		return 0;
	return push_change(d, l, n, ARB_APPLY_IN_PLACE);
}

/* Orders idx[0..n) by the names of live's nodes (heapsort: no libc). */
static int
name_cmp(const struct differ *d, uint32_t a, uint32_t b)
{
	return strcmp(d->live->nodes[a].name, d->live->nodes[b].name);
}

static void
sift_down(const struct differ *d, uint32_t *idx, uint32_t root, uint32_t n)
{
	for (;;) {
		uint32_t child = 2 * root + 1, tmp;

		if (child >= n)
			return;
		if (child + 1 < n &&
		    name_cmp(d, idx[child], idx[child + 1]) < 0)
			child++;
		if (name_cmp(d, idx[root], idx[child]) >= 0)
			return;
		tmp = idx[root];
		idx[root] = idx[child];
		idx[child] = tmp;
		root = child;
	}
}

static void
sort_by_name(const struct differ *d, uint32_t *idx, uint32_t n)
{
	for (uint32_t i = n / 2; i-- > 0;)
		sift_down(d, idx, i, n);
	for (uint32_t end = n; end-- > 1;) {
		uint32_t tmp = idx[0];

		idx[0] = idx[end];
		idx[end] = tmp;
		sift_down(d, idx, 0, end);
	}
}

static uint32_t
find_by_name(const struct differ *d, const uint32_t *idx, uint32_t n,
	     const char *name)
{
	uint32_t lo = 0, hi = n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = strcmp(d->live->nodes[idx[mid]].name, name);

		if (c == 0)
			return idx[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return ARB_NONE;
}

/*
 * Matches next's supervisor n's children with live's l's by name, then
 * the children of the supervisors matched. Pools' children (instances)
 * are not compared.
 */
static void
match_children(struct differ *d, uint32_t l, uint32_t n)
{
	const struct arb_spec_node *ln = &d->live->nodes[l];
	const struct arb_spec_node *nn = &d->next->nodes[n];
	uint32_t count = 0;

	for (uint32_t i = 0; i < ln->nchildren; i++)
		if (is_tree_node(&d->live->nodes[ln->children[i]]))
			d->by_name[count++] = ln->children[i];
	sort_by_name(d, d->by_name, count);
	for (uint32_t i = 0; i < nn->nchildren; i++) {
		uint32_t c = nn->children[i];
		const struct arb_spec_node *cn = &d->next->nodes[c];
		uint32_t lc = find_by_name(d, d->by_name, count, cn->name);

		if (lc == ARB_NONE)
			continue;
		if (kind_of(&d->live->nodes[lc]) == kind_of(cn)) {
			d->match[c] = lc;
			d->fate[lc] = LIVE_KEPT;
		} else {
			d->fate[lc] = LIVE_REPLACED;
		}
	}
	/* by_name is free again: the walk below reuses it. */
	for (uint32_t i = 0; i < nn->nchildren; i++) {
		uint32_t c = nn->children[i];

		if (d->match[c] != ARB_NONE &&
		    kind_of(&d->next->nodes[c]) == KIND_SUPERVISOR)
			match_children(d, d->match[c], c);
	}
}

/* A live child that stays where it is: matched, or dynamic and unnamed. */
static bool
stays(const struct differ *d, uint32_t l)
{
	const struct arb_spec_node *n = &d->live->nodes[l];

	if (!is_tree_node(n))
		return false;
	return d->fate[l] == LIVE_KEPT ||
	       (d->fate[l] == LIVE_UNSEEN && n->dynamic);
}

/* A dynamic child next does not name: a reload leaves it alone. */
static bool
left_alone(const struct differ *d, uint32_t l)
{
	return stays(d, l) && d->fate[l] == LIVE_UNSEEN;
}

/* Live's supervisor l, children last first and deeper first. */
static int
walk_removes(struct differ *d, uint32_t l)
{
	const struct arb_spec_node *ln = &d->live->nodes[l];

	for (uint32_t i = ln->nchildren; i-- > 0;) {
		uint32_t c = ln->children[i];
		const struct arb_spec_node *cn = &d->live->nodes[c];

		if (!is_tree_node(cn) || left_alone(d, c))
			continue;
		if (d->fate[c] != LIVE_KEPT) {
			if (!push_step(d, ARB_PLAN_REMOVE, c, ARB_NONE))
				return -1;
		} else if (kind_of(cn) == KIND_SUPERVISOR &&
			   walk_removes(d, c) < 0) {
			return -1;
		}
	}
	return 0;
}

/* Next's node n (matched) and its matched descendants, in pre-order. */
static int
walk_changes(struct differ *d, uint32_t n)
{
	const struct arb_spec_node *nn = &d->next->nodes[n];
	int r;

	if (nn->kind == ARB_NODE_SERVICE)
		r = change_service(d, d->match[n], n);
	else
		r = change_supervisor(d, d->match[n], n);
	if (r < 0)
		return -1;
	if (kind_of(nn) != KIND_SUPERVISOR)
		return 0;
	for (uint32_t i = 0; i < nn->nchildren; i++)
		if (d->match[nn->children[i]] != ARB_NONE &&
		    walk_changes(d, nn->children[i]) < 0)
			return -1;
	return 0;
}

/* The next child of live's l from *pos on that stays, or ARB_NONE. */
static uint32_t
next_staying(const struct differ *d, const struct arb_spec_node *ln,
	     uint32_t *pos)
{
	while (*pos < ln->nchildren) {
		uint32_t c = ln->children[(*pos)++];

		if (stays(d, c))
			return c;
	}
	return ARB_NONE;
}

/*
 * Whether the children that stay are in another relative order than the
 * final one: next's order, then those left alone in their live order.
 */
static bool
order_changed(const struct differ *d, uint32_t l, uint32_t n)
{
	const struct arb_spec_node *ln = &d->live->nodes[l];
	const struct arb_spec_node *nn = &d->next->nodes[n];
	uint32_t pos = 0;

	for (uint32_t i = 0; i < nn->nchildren; i++) {
		uint32_t c = d->match[nn->children[i]];

		if (c != ARB_NONE && next_staying(d, ln, &pos) != c)
			return true;
	}
	for (uint32_t i = 0; i < ln->nchildren; i++) {
		uint32_t c = ln->children[i];

		if (left_alone(d, c) && next_staying(d, ln, &pos) != c)
			return true;
	}
	return false;
}

static int
push_reorder(struct differ *d, uint32_t l, uint32_t n)
{
	const struct arb_spec_node *ln = &d->live->nodes[l];
	const struct arb_spec_node *nn = &d->next->nodes[n];
	struct arb_plan_step *st = push_step(d, ARB_PLAN_REORDER, l, n);
	uint32_t count = nn->nchildren;

	if (!st)
		return -1;
	for (uint32_t i = 0; i < ln->nchildren; i++)
		count += left_alone(d, ln->children[i]);
	st->order = arb_calloc(count, sizeof(*st->order));
	if (!st->order)
		return -1;
	for (uint32_t i = 0; i < nn->nchildren; i++) {
		st->order[st->norder] =
			arb_strdup(d->next->nodes[nn->children[i]].name);
		if (!st->order[st->norder++])
			return -1;
	}
	for (uint32_t i = 0; i < ln->nchildren; i++) {
		if (!left_alone(d, ln->children[i]))
			continue;
		st->order[st->norder] =
			arb_strdup(d->live->nodes[ln->children[i]].name);
		if (!st->order[st->norder++])
			return -1;
	}
	return 0;
}

/* Next's supervisors (matched, not pools) in pre-order. */
static int
walk_reorders(struct differ *d, uint32_t n)
{
	const struct arb_spec_node *nn = &d->next->nodes[n];

	if (kind_of(nn) != KIND_SUPERVISOR)
		return 0;
	if (order_changed(d, d->match[n], n) &&
	    push_reorder(d, d->match[n], n) < 0)
		return -1;
	for (uint32_t i = 0; i < nn->nchildren; i++)
		if (d->match[nn->children[i]] != ARB_NONE &&
		    walk_reorders(d, nn->children[i]) < 0)
			return -1;
	return 0;
}

/* Next's unmatched children in pre-order: the tops of added subtrees. */
static int
walk_adds(struct differ *d, uint32_t n)
{
	const struct arb_spec_node *nn = &d->next->nodes[n];

	if (kind_of(nn) != KIND_SUPERVISOR)
		return 0;
	for (uint32_t i = 0; i < nn->nchildren; i++) {
		uint32_t c = nn->children[i];

		if (d->match[c] == ARB_NONE) {
			if (!push_step(d, ARB_PLAN_ADD, ARB_NONE, c))
				return -1;
		} else if (walk_adds(d, c) < 0) {
			return -1;
		}
	}
	return 0;
}

static void
differ_done(struct differ *d)
{
	arb_free(d->match);
	arb_free(d->fate);
	arb_free(d->by_name);
	arb_plan_values_done(&d->values);
	keys_free(d->keys, d->nkeys);
}

int
arb_plan_diff(const struct arb_spec *live, const struct arb_spec *next,
	      struct arb_plan *ret)
{
	struct differ d = {.live = live, .next = next};

	d.match = arb_calloc(next->nnodes, sizeof(*d.match));
	d.fate = arb_calloc(live->nnodes, sizeof(*d.fate));
	d.by_name = arb_calloc(live->nnodes, sizeof(*d.by_name));
	if (!d.match || !d.fate || !d.by_name)
		goto fail;
	for (uint32_t i = 0; i < next->nnodes; i++)
		d.match[i] = ARB_NONE;
	d.match[ARB_ROOT] = ARB_ROOT;
	d.fate[ARB_ROOT] = LIVE_KEPT;
	/*
	 * The roots always match. A live root that is a pool has instances
	 * for children, never compared: left alone as dynamic children are.
	 */
	if (kind_of(&live->nodes[ARB_ROOT]) == KIND_SUPERVISOR) {
		match_children(&d, ARB_ROOT, ARB_ROOT);
		if (walk_removes(&d, ARB_ROOT) < 0)
			goto fail;
	}
	if (walk_changes(&d, ARB_ROOT) < 0 || walk_reorders(&d, ARB_ROOT) < 0 ||
	    walk_adds(&d, ARB_ROOT) < 0)
		goto fail;
	*ret = d.plan;
	d.plan = (struct arb_plan){0};
	differ_done(&d);
	return 0;
fail:
	arb_plan_free(&d.plan);
	differ_done(&d);
	return -1;
}
