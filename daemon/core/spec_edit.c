/*
 * spec_edit.c - the living tree's changes to a spec: nodes grafted from
 * another spec (reload, add), pool instances made from their template,
 * children attached, detached, released and reordered, a node's keys
 * replaced at once or at its next start.
 *
 * Pure, as spec.c (STYLE.md 1). Indices are stable: a released node's
 * slot is kept for the next node (spec_internal.h), so whoever keeps state
 * per node index (tree.c, the shell) keeps it across changes.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "limits.h"
#include "mem.h"
#include "spec.h"
#include "spec_internal.h"

#define INSTANCE_VAR "ARBOR_INSTANCE="

static char **
strv_dup(char *const *v, uint32_t extra)
{
	uint32_t n = arb_spec_strv_len(v);
	char **copy;

	if (!v && extra == 0)
		return NULL;
	copy = arb_calloc(n + extra + 1, sizeof(*copy));
	if (!copy)
		return NULL;
	for (uint32_t i = 0; i < n; i++) {
		copy[i] = arb_strdup(v[i]);
		if (!copy[i]) {
			arb_spec_strv_free(copy);
			return NULL;
		}
	}
	return copy;
}

/* A string of src (which may be NULL) copied: false on OOM only. */
static bool
str_dup(char **ret, const char *src)
{
	*ret = src ? arb_strdup(src) : NULL;
	return !src || *ret;
}

static bool
mem_dup(void **ret, const void *src, size_t n, size_t size)
{
	*ret = NULL;
	if (!src || n == 0)
		return true;
	*ret = arb_calloc(n, size);
	if (!*ret)
		return false;
	memcpy(*ret, src, n * size);
	return true;
}

/* The spec's own copy of a file name (node->file points into s->files). */
static const char *
intern_file(struct arb_spec *s, const char *file)
{
	if (!file)
		return NULL;
	for (uint32_t i = 0; i < s->nfiles; i++)
		if (strcmp(s->files[i], file) == 0)
			return s->files[i];
	return arb_spec_add_file(s, file);
}

/*
 * out becomes a copy of src's keys, owning its memory, with none of src's
 * place in a tree (name, path, children, template, pending). 0, or -1 on
 * OOM with out owning nothing.
 */
static int
dup_keys(struct arb_spec *s, struct arb_spec_node *out,
	 const struct arb_spec_node *src)
{
	bool ok;

	*out = *src;
	out->name = NULL;
	out->path = NULL;
	out->children = NULL;
	out->nchildren = 0;
	out->children_cap = 0;
	out->child_index = NULL;
	out->child_index_cap = 0;
	out->template_node = ARB_NONE;
	out->pending = NULL;
	out->unused = false;
	out->is_template = false;
	out->dynamic = false;
	out->leaving = false;
	out->file = intern_file(s, src->file);
	out->argv = arb_spec_strv_pack(src->argv);
	out->env = strv_dup(src->env, 0);
	out->listen = strv_dup(src->listen, 0);
	ok = (!src->file || out->file) && (!src->argv || out->argv) &&
	     (!src->env || out->env) && (!src->listen || out->listen);
	ok = str_dup(&out->exec_path, src->exec_path) && ok;
	ok = str_dup(&out->cwd, src->cwd) && ok;
	out->account = NULL; /* src's: not ours to free if the copy fails */
	ok = arb_spec_set_account(out, src->user_name, src->home,
				  src->shell) == 0 && ok;
	ok = str_dup(&out->log.file, src->log.file) && ok;
	ok = mem_dup((void **)&out->groups, src->groups, src->ngroups,
		     sizeof(*src->groups)) && ok;
	ok = mem_dup((void **)&out->rlimits, src->rlimits, src->nrlimits,
		     sizeof(*src->rlimits)) && ok;
	ok = mem_dup((void **)&out->limits, src->limits, src->limits ? 1 : 0,
		     sizeof(*src->limits)) && ok;
	if (ok)
		return 0;
	spec_node_free_keys(out);
	memset(out, 0, sizeof(*out));
	return -1;
}

/* dst's keys become keys's (which it takes over); its place stays. */
static void
take_keys(struct arb_spec_node *dst, const struct arb_spec_node *keys)
{
	struct arb_spec_node place = *dst;

	spec_node_free_keys(dst);
	*dst = *keys;
	dst->name = place.name;
	dst->path = place.path;
	dst->parent = place.parent;
	dst->depth = place.depth;
	dst->kind = place.kind;
	dst->children = place.children;
	dst->nchildren = place.nchildren;
	dst->children_cap = place.children_cap;
	dst->child_index = place.child_index;
	dst->child_index_cap = place.child_index_cap;
	dst->template_node = place.template_node;
	dst->pending = place.pending;
	dst->unused = place.unused;
	dst->is_template = place.is_template;
	dst->dynamic = place.dynamic;
	dst->leaving = place.leaving;
}

/* Name and path of a node placed under parent. 0, or -1 on OOM. */
static int
place_under(struct arb_spec *s, uint32_t node, uint32_t parent,
	    const char *name)
{
	struct arb_spec_node *n = &s->nodes[node];

	if (spec_place(n, s->nodes[parent].path, name) < 0)
		return -1;
	n->parent = parent;
	n->depth = s->nodes[parent].depth + 1;
	return 0;
}

uint32_t
arb_spec_graft(struct arb_spec *s, uint32_t parent, const struct arb_spec *src,
	       uint32_t src_node)
{
	struct arb_spec_node keys;
	uint32_t idx, nchildren, tmpl;

	if (dup_keys(s, &keys, &src->nodes[src_node]) < 0)
		return ARB_NONE;
	idx = spec_new_slot(s); /* src may be s: index it, never point */
	if (idx == ARB_NONE) {
		spec_node_free_keys(&keys);
		return ARB_NONE;
	}
	s->nodes[idx] = keys;
	if (place_under(s, idx, parent, src->nodes[src_node].name) < 0)
		goto fail;
	nchildren = src->nodes[src_node].nchildren;
	if (spec_children_reserve(&s->nodes[idx], nchildren) < 0)
		goto fail;
	for (uint32_t i = 0; i < nchildren; i++) {
		uint32_t c = arb_spec_graft(s, idx, src,
					    src->nodes[src_node].children[i]);

		if (c == ARB_NONE)
			goto fail;
		s->nodes[idx].children[s->nodes[idx].nchildren++] = c;
	}
	tmpl = src->nodes[src_node].template_node;
	if (tmpl != ARB_NONE) {
		uint32_t t = arb_spec_graft(s, idx, src, tmpl);

		if (t == ARB_NONE)
			goto fail;
		s->nodes[t].is_template = true;
		s->nodes[idx].template_node = t;
	}
	return idx;
fail:
	arb_spec_release(s, idx);
	return ARB_NONE;
}

/* Appends one string to a NULL-terminated vector. 0, or -1 on OOM. */
static int
strv_append(char ***v, const char *text)
{
	uint32_t n = arb_spec_strv_len(*v);
	char *copy = arb_strdup(text);
	char **grown;

	if (!copy)
		return -1;
	grown = arb_reallocarray(*v, n + 2, sizeof(**v));
	if (!grown) {
		arb_free(copy);
		return -1;
	}
	grown[n] = copy;
	grown[n + 1] = NULL;
	*v = grown;
	return 0;
}

/* argv (packed) with extra's words after its own, packed again. 0, or -1
 * on OOM with argv unchanged. */
static int
argv_extend(char ***argv, char *const *extra)
{
	uint32_t n = arb_spec_strv_len(*argv), k = arb_spec_strv_len(extra);
	char **words, **packed;

	if (k == 0)
		return 0;
	words = arb_calloc(n + k + 1, sizeof(*words));
	if (!words)
		return -1;
	for (uint32_t i = 0; i < n; i++)
		words[i] = (*argv)[i];
	for (uint32_t i = 0; i < k; i++)
		words[n + i] = extra[i];
	packed = arb_spec_strv_pack(words);
	arb_free(words); /* the pointers only: the words are argv's, extra's */
	if (!packed)
		return -1;
	arb_free(*argv);
	*argv = packed;
	return 0;
}

uint32_t
arb_spec_instantiate(struct arb_spec *s, uint32_t pool, const char *name,
		     char *const *extra)
{
	uint32_t tmpl = s->nodes[pool].template_node;
	size_t len = strlen(name);
	char var[sizeof(INSTANCE_VAR) + ARB_NAME_MAX];
	uint32_t idx;

	if (tmpl == ARB_NONE || len > ARB_NAME_MAX)
		return ARB_NONE;
	idx = arb_spec_graft(s, pool, s, tmpl);
	if (idx == ARB_NONE)
		return ARB_NONE;
	memcpy(var, INSTANCE_VAR, sizeof(INSTANCE_VAR) - 1);
	memcpy(var + sizeof(INSTANCE_VAR) - 1, name, len + 1);
	if (place_under(s, idx, pool, name) < 0 ||
	    strv_append(&s->nodes[idx].env, var) < 0 ||
	    argv_extend(&s->nodes[idx].argv, extra) < 0)
		goto fail;
	s->nodes[idx].dynamic = true;
	return idx;
fail:
	arb_spec_release(s, idx);
	return ARB_NONE;
}

int
arb_spec_attach(struct arb_spec *s, uint32_t node, uint32_t pos)
{
	struct arb_spec_node *p = &s->nodes[s->nodes[node].parent];

	if (spec_children_reserve(p, p->nchildren + 1) < 0)
		return -1;
	if (pos > p->nchildren)
		pos = p->nchildren;
	memmove(p->children + pos + 1, p->children + pos,
		(p->nchildren - pos) * sizeof(*p->children));
	p->children[pos] = node;
	p->nchildren++;
	spec_index_add(s, s->nodes[node].parent, node);
	s->generation++;
	return 0;
}

void
arb_spec_detach(struct arb_spec *s, uint32_t node)
{
	struct arb_spec_node *p = &s->nodes[s->nodes[node].parent];

	for (uint32_t i = 0; i < p->nchildren; i++) {
		if (p->children[i] != node)
			continue;
		memmove(p->children + i, p->children + i + 1,
			(p->nchildren - i - 1) * sizeof(*p->children));
		p->nchildren--;
		spec_index_remove(s, s->nodes[node].parent, node);
		s->generation++;
		return;
	}
}

static void
release_subtree(struct arb_spec *s, uint32_t node)
{
	struct arb_spec_node *n = &s->nodes[node];

	for (uint32_t i = 0; i < n->nchildren; i++)
		release_subtree(s, n->children[i]);
	if (n->template_node != ARB_NONE)
		release_subtree(s, n->template_node);
	spec_node_free(n);
	spec_free_slot(s, node);
}

/*
 * Free slots at the end of the array are given up, and the array shrinks
 * when a quarter of it is left: a pool of a thousand instances, removed,
 * gives its memory back.
 */
static void
trim_tail(struct arb_spec *s)
{
	uint32_t n = s->nnodes, k = 0;

	while (n > 1 && s->nodes[n - 1].unused)
		n--;
	if (n == s->nnodes)
		return;
	for (uint32_t i = 0; i < s->nfree; i++)
		if (s->free_slots[i] < n)
			s->free_slots[k++] = s->free_slots[i];
	s->nfree = k;
	s->nnodes = n;
	s->generation++;
	while (s->cap > 16 && n <= s->cap / 4) {
		uint32_t cap = s->cap / 2;
		struct arb_spec_node *nodes =
			arb_reallocarray(s->nodes, cap, sizeof(*nodes));
		uint32_t *free_slots =
			arb_reallocarray(s->free_slots, cap, sizeof(*free_slots));

		/* A smaller block that cannot be had keeps the larger one. */
		if (free_slots) {
			s->free_slots = free_slots;
			s->free_cap = cap;
		}
		if (!nodes)
			return;
		s->nodes = nodes;
		s->cap = cap;
	}
}

void
arb_spec_release(struct arb_spec *s, uint32_t node)
{
	release_subtree(s, node);
	trim_tail(s);
}

void
arb_spec_reorder(struct arb_spec *s, uint32_t parent, const uint32_t *order,
		 uint32_t n)
{
	struct arb_spec_node *p = &s->nodes[parent];

	if (n != p->nchildren)
		return;
	memmove(p->children, order, n * sizeof(*order));
	s->generation++;
}

int
arb_spec_assign(struct arb_spec *s, uint32_t node, const struct arb_spec *src,
		uint32_t src_node)
{
	struct arb_spec_node keys, tmpl_keys;
	uint32_t tmpl = s->nodes[node].template_node;
	uint32_t src_tmpl = src->nodes[src_node].template_node;
	bool both = tmpl != ARB_NONE && src_tmpl != ARB_NONE;

	/* Both copies first: a pool changes whole, or not at all. */
	if (dup_keys(s, &keys, &src->nodes[src_node]) < 0)
		return -1;
	if (both && dup_keys(s, &tmpl_keys, &src->nodes[src_tmpl]) < 0) {
		spec_node_free_keys(&keys);
		return -1;
	}
	if (both)
		take_keys(&s->nodes[tmpl], &tmpl_keys);
	take_keys(&s->nodes[node], &keys);
	/* A supervisor's flags are read by the tree: it re-reads them. */
	spec_touch(s, node);
	return 0;
}

int
arb_spec_set_pending(struct arb_spec *s, uint32_t node,
		     const struct arb_spec *src, uint32_t src_node)
{
	struct arb_spec_node *keys = arb_calloc(1, sizeof(*keys));
	struct arb_spec_node *n;

	if (!keys)
		return -1;
	if (dup_keys(s, keys, &src->nodes[src_node]) < 0) {
		arb_free(keys);
		return -1;
	}
	n = &s->nodes[node];
	if (n->pending) {
		spec_node_free_keys(n->pending);
		arb_free(n->pending);
	}
	n->pending = keys;
	return 0;
}

bool
arb_spec_take_pending(struct arb_spec *s, uint32_t node)
{
	struct arb_spec_node *n = &s->nodes[node];
	struct arb_spec_node *keys = n->pending;

	if (!keys)
		return false;
	n->pending = NULL;
	take_keys(n, keys);
	arb_free(keys);
	return true;
}

int
arb_spec_assign_globals(struct arb_spec *s, const struct arb_spec *src)
{
	char *group = NULL;
	char **shell = NULL;

	if ((src->control_group && !(group = arb_strdup(src->control_group))) ||
	    (src->emergency_shell &&
	     !(shell = strv_dup(src->emergency_shell, 0)))) {
		arb_free(group);
		return -1;
	}
	arb_free(s->control_group);
	arb_spec_strv_free(s->emergency_shell);
	s->control_group = group;
	s->emergency_shell = shell;
	s->control_gid = src->control_gid;
	s->control_read_logs = src->control_read_logs;
	s->on_giveup = src->on_giveup;
	s->exit_status = src->exit_status;
	s->exit_sigterm_ok = src->exit_sigterm_ok;
	return 0;
}

int
arb_spec_copy_limits(struct arb_spec *s, uint32_t to, uint32_t from)
{
	struct arb_cg_limits *copy = NULL;

	if (s->nodes[from].limits &&
	    !mem_dup((void **)&copy, s->nodes[from].limits, 1, sizeof(*copy)))
		return -1;
	arb_free(s->nodes[to].limits);
	s->nodes[to].limits = copy;
	return 0;
}

int
arb_spec_copy_log(struct arb_spec *s, uint32_t to, uint32_t from)
{
	struct arb_log_spec log = s->nodes[from].log;

	log.file = NULL;
	if (s->nodes[from].log.file &&
	    !(log.file = arb_strdup(s->nodes[from].log.file)))
		return -1;
	arb_free(s->nodes[to].log.file);
	s->nodes[to].log = log;
	return 0;
}
