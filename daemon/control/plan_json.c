/*
 * plan_json.c - a reload plan as JSON (plan_json.h has its shape).
 *
 * Reads the plan and the two specs it was computed from; writes nothing
 * but the JSON it returns. Steps keep the plan's order: the order in which
 * they are applied.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "control/plan_json.h"
#include "wire.h"

/* The path of a node's supervisor: "/" for the root's children. */
static const char *
parent_path(const struct arb_spec *s, uint32_t i)
{
	uint32_t parent = s->nodes[i].parent;

	return parent == ARB_NONE ? "/" : s->nodes[parent].path;
}

static json_t *
keys_json(const struct arb_plan_step *st)
{
	json_t *keys = json_array();

	if (!keys)
		return NULL;
	for (uint32_t i = 0; i < st->nkeys; i++) {
		const struct arb_plan_key *k = &st->keys[i];
		json_t *o = json_object();

		if (!o || json_array_append_new(keys, o) < 0 ||
		    json_object_set_new(o, "key", arb_wire_text(k->key)) < 0 ||
		    json_object_set_new(o, "old",
					arb_wire_text(k->old_value)) < 0 ||
		    json_object_set_new(o, "new",
					arb_wire_text(k->new_value)) < 0)
			goto fail;
	}
	return keys;
fail:
	json_decref(keys);
	return NULL;
}

static json_t *
order_json(const struct arb_plan_step *st)
{
	json_t *order = json_array();

	if (!order)
		return NULL;
	for (uint32_t i = 0; i < st->norder; i++)
		if (json_array_append_new(order, arb_wire_text(st->order[i])) < 0)
			goto fail;
	return order;
fail:
	json_decref(order);
	return NULL;
}

static json_t *
step_json(const struct arb_plan_step *st, const struct arb_spec *live,
	  const struct arb_spec *next)
{
	/* A removed node is only in live; every other step's is in next. */
	const struct arb_spec *s = st->op == ARB_PLAN_REMOVE ? live : next;
	uint32_t i = st->op == ARB_PLAN_REMOVE ? st->live : st->next;
	const struct arb_spec_node *n = &s->nodes[i];
	bool own_group = st->op == ARB_PLAN_REORDER || i == ARB_ROOT;
	json_t *o = json_object();

	if (!o)
		return NULL;
	if (json_object_set_new(o, "op",
				json_string(arb_plan_op_name(st->op))) < 0 ||
	    json_object_set_new(o, "path", arb_wire_text(n->path)) < 0 ||
	    json_object_set_new(o, "supervisor",
				arb_wire_text(own_group ? n->path :
						      parent_path(s, i))) < 0)
		goto fail;
	if (st->op != ARB_PLAN_REORDER &&
	    json_object_set_new(o, "kind",
				json_string(arb_plan_kind_name(n))) < 0)
		goto fail;
	if (st->op == ARB_PLAN_CHANGE &&
	    (json_object_set_new(o, "apply", json_string(arb_plan_apply_name(
						     st->apply))) < 0 ||
	     json_object_set_new(o, "keys", keys_json(st)) < 0))
		goto fail;
	if (st->op == ARB_PLAN_REORDER &&
	    json_object_set_new(o, "order", order_json(st)) < 0)
		goto fail;
	return o;
fail:
	json_decref(o);
	return NULL;
}

json_t *
arb_plan_json(const struct arb_plan *p, const struct arb_spec *live,
	      const struct arb_spec *next, const char *digest)
{
	json_t *o = json_object(), *steps = json_array();
	bool failed;

	if (!o || !steps)
		goto fail;
	for (uint32_t i = 0; i < p->nsteps; i++)
		if (json_array_append_new(steps, step_json(&p->steps[i], live,
							   next)) < 0)
			goto fail;
	if (json_object_set_new(o, "digest", arb_wire_text(digest ? digest : ""))
		    < 0 ||
	    json_object_set_new(o, "adds", json_integer(p->adds)) < 0 ||
	    json_object_set_new(o, "removes", json_integer(p->removes)) < 0 ||
	    json_object_set_new(o, "changes", json_integer(p->changes)) < 0 ||
	    json_object_set_new(o, "reorders", json_integer(p->reorders)) < 0)
		goto fail;
	/* set_new takes the reference to steps even when it fails. */
	failed = json_object_set_new(o, "steps", steps) < 0;
	steps = NULL;
	if (failed)
		goto fail;
	return o;
fail:
	json_decref(steps);
	json_decref(o);
	return NULL;
}
