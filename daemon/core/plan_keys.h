/*
 * plan_keys.h - the keys a reload plan compares, and their values written
 * as arbor.conf writes them: the half of plan.c that knows every key.
 *
 * Pure core (STYLE.md 1). Only plan.c uses it.
 */
#ifndef ARB_PLAN_KEYS_H
#define ARB_PLAN_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spec.h"

/* A value written out; `unset`: the key has none (cwd, log.file, ...). */
struct arb_plan_text {
	char *buf;
	size_t len, cap;
	bool unset;
	bool oom;
};

/*
 * One key's values on both sides, and what they resolved to: buffers
 * reused from key to key, so that comparing equal keys allocates nothing.
 */
struct arb_plan_values {
	struct arb_plan_text old, new;
	struct arb_plan_text old_resolved, new_resolved;
};

/* Frees the buffers. */
void arb_plan_values_done(struct arb_plan_values *v);

/* An owned copy of a value, NULL when unset; sets *oom on failure. */
char *arb_plan_text_copy(const struct arb_plan_text *t, bool *oom);

/*
 * A key: its name in arbor.conf, whether arbord alone reads it (a change
 * is applied without touching a process), how its value is written, and
 * what the loader derived from it (NULL: nothing): an equal value that
 * resolved differently ($PATH, the user database) is still a change.
 * s is the spec n belongs to (for the spec-wide keys); `other` is the
 * node n is compared with, for what is compared only when both sides
 * have it.
 */
struct arb_plan_key_def {
	const char *name;
	bool in_place;
	void (*value)(struct arb_plan_text *t, const struct arb_spec *s,
		      const struct arb_spec_node *n);
	void (*resolved)(struct arb_plan_text *t, const struct arb_spec *s,
			 const struct arb_spec_node *n,
			 const struct arb_spec_node *other);
};

struct arb_plan_keys {
	const struct arb_plan_key_def *def;
	uint32_t n;
};

/* In arbor.conf's order (print.c's): a service's keys; a supervisor's
 * (all in place); a pool's own; the spec-wide ones, shown as the root's. */
extern const struct arb_plan_keys arb_plan_service_keys;
extern const struct arb_plan_keys arb_plan_supervisor_keys;
extern const struct arb_plan_keys arb_plan_pool_keys;
extern const struct arb_plan_keys arb_plan_root_keys;

/*
 * Whether key `def` differs between a (of spec as) and b (of spec bs):
 * 1 or 0, both values left in v->old and v->new (an equal value that
 * resolved differently has what it resolved to appended, " # ..."); -1 on
 * OOM.
 */
int arb_plan_key_compare(struct arb_plan_values *v,
			 const struct arb_plan_key_def *def,
			 const struct arb_spec *as,
			 const struct arb_spec_node *a,
			 const struct arb_spec *bs,
			 const struct arb_spec_node *b);

#endif
