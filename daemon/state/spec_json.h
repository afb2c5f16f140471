/*
 * spec_json.h - the live spec as JSON, exactly: every slot (free ones
 * too, so indices survive), every key of every node that differs from
 * the format's default node (an absent key reads as it), what the
 * configuration did not say (dynamic, template, pending keys), the
 * spec-wide keys. The re-exec state's "spec" member (FORMAT.md).
 *
 * Saving then loading gives a spec that arb_plan (core/plan.h) finds no
 * step in against the original, that arb_config_print prints the same,
 * and that saves to the same JSON.
 */
#ifndef ARB_SPEC_JSON_H
#define ARB_SPEC_JSON_H

#include <jansson.h>

#include "core/spec.h"
#include "state.h"

/* The spec as a new JSON object; NULL on OOM. */
json_t *arb_spec_json_save(const struct arb_spec *spec);

/*
 * A new spec from obj, checked as arb_spec_check (core/spec.h) checks
 * one: 0 and *ret_spec (the caller's), -EINVAL with in->error, or
 * -ENOMEM. `in` supplies the getters and the error; obj is in->root's.
 */
int arb_spec_json_load(struct arb_state_in *in, const json_t *obj,
		       struct arb_spec **ret_spec);

#endif
