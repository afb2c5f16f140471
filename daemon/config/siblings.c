/*
 * siblings.c - the names of every supervisor's children, indexed, so that
 * each child's duplicate check costs the same however many siblings it
 * has (comparing with every earlier sibling made 16,000 of them take
 * 0.76 s). A hash table of node indices keyed by (parent, name); it reads
 * the spec, never changes it.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"
#include "core/mem.h"
#include "core/spec.h"

/* FNV-1a over the name, mixed with the parent's index. */
static uint32_t
hash(uint32_t parent, const char *name)
{
	uint32_t h = 2166136261u ^ (parent * 2654435761u);

	for (const unsigned char *c = (const unsigned char *)name; *c; c++)
		h = (h ^ *c) * 16777619u;
	return h;
}

/* The slot holding (parent, name), or the empty slot where it would go. */
static uint32_t
slot_of(const struct sibling_index *x, const struct arb_spec *spec,
	uint32_t parent, const char *name)
{
	uint32_t mask = x->cap - 1, i = hash(parent, name) & mask;

	for (;; i = (i + 1) & mask) {
		const struct arb_spec_node *n;

		if (x->slots[i] == ARB_ROOT)
			return i;
		n = &spec->nodes[x->slots[i]];
		if (n->parent == parent && strcmp(n->name, name) == 0)
			return i;
	}
}

uint32_t
sibling_index_find(const struct sibling_index *x,
		   const struct arb_spec *spec, uint32_t parent,
		   const char *name)
{
	uint32_t idx;

	if (x->n == 0)
		return ARB_NONE;
	/* An empty slot holds ARB_ROOT: the root is nobody's child. */
	idx = x->slots[slot_of(x, spec, parent, name)];
	return idx == ARB_ROOT ? ARB_NONE : idx;
}

/* Twice the room, every entry placed again; -ENOMEM leaves x as it was. */
static int
grow(struct sibling_index *x, const struct arb_spec *spec)
{
	struct sibling_index bigger = {.cap = x->cap ? x->cap * 2 : 64};

	bigger.slots = arb_calloc(bigger.cap, sizeof(*bigger.slots));
	if (!bigger.slots)
		return -ENOMEM;
	for (uint32_t i = 0; i < x->cap; i++) {
		const struct arb_spec_node *n;

		if (x->slots[i] == ARB_ROOT)
			continue;
		n = &spec->nodes[x->slots[i]];
		bigger.slots[slot_of(&bigger, spec, n->parent, n->name)] =
			x->slots[i];
	}
	bigger.n = x->n;
	arb_free(x->slots);
	*x = bigger;
	return 0;
}

int
sibling_index_add(struct sibling_index *x, const struct arb_spec *spec,
		  uint32_t idx)
{
	const struct arb_spec_node *n = &spec->nodes[idx];

	/* At most half full, so that a probe ends soon. */
	if ((x->n + 1) * 2 > x->cap && grow(x, spec) < 0)
		return -ENOMEM;
	x->slots[slot_of(x, spec, n->parent, n->name)] = idx;
	x->n++;
	return 0;
}

void
sibling_index_done(struct sibling_index *x)
{
	arb_free(x->slots);
	memset(x, 0, sizeof(*x));
}
