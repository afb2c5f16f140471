/*
 * spec_internal.h - what spec.c (construction) and spec_edit.c (the living
 * tree's changes) share: slots, and a node's owned memory. Not an API:
 * only spec*.c include it. Pure, like them.
 */
#ifndef ARB_SPEC_INTERNAL_H
#define ARB_SPEC_INTERNAL_H

#include <stdint.h>

#include "spec.h"

/*
 * A slot for a new node, every key at its default and nobody's child: a
 * free one first, else a new one at the end. ARB_NONE on OOM. Pointers
 * into s->nodes are invalidated.
 */
uint32_t spec_new_slot(struct arb_spec *s);

/* Slot idx changed for the tree (spec.h's touched range, generation). */
void spec_touch(struct arb_spec *s, uint32_t idx);

/* Marks a slot unused (its memory already freed) for spec_new_slot. */
void spec_free_slot(struct arb_spec *s, uint32_t idx);

/* Frees what a node owns: its keys (spec_node_free_keys), name, path,
 * children array and pending keys. */
void spec_node_free(struct arb_spec_node *n);

/* Frees the keys a node owns (exec, env, user, log file...), not its
 * name, path or children. */
void spec_node_free_keys(struct arb_spec_node *n);

/* Room for n children of p. 0, or -1 on OOM. */
int spec_children_reserve(struct arb_spec_node *p, uint32_t n);

/*
 * Child (a child of parent's now, or no longer) enters or leaves parent's
 * index of children by name, if it has one. An index that cannot grow is
 * dropped (made again at the next lookup).
 */
void spec_index_add(struct arb_spec *s, uint32_t parent, uint32_t child);
void spec_index_remove(struct arb_spec *s, uint32_t parent, uint32_t child);

/* "parent/name", or "name" under the root; NULL on OOM. */
char *spec_join_path(const char *parent, const char *name);

/* n's path becomes parent_path/name and its name the path's last part.
 * 0, or -1 on OOM with n unchanged. */
int spec_place(struct arb_spec_node *n, const char *parent_path,
	       const char *name);

#endif
