/*
 * plan_json.h - a reload plan as JSON: the Reload reply, the reload
 * event and `arborctl reload --json` show it as this.
 */
#ifndef ARB_PLAN_JSON_H
#define ARB_PLAN_JSON_H

#include <jansson.h>

#include "core/plan.h"
#include "core/spec.h"

/*
 * {"digest": "...", "adds": n, "removes": n, "changes": n, "reorders": n,
 *  "steps": [{"op": "add|remove|change|reorder",
 *             "path": "web/app" (reorder: the supervisor's; "/" the root),
 *             "supervisor": the parent's path, "/" for the root's children
 *                           (reorder, and a change of the root: its own),
 *             "kind": "service|supervisor|pool" (add, remove, change),
 *             "apply": "in-place|restart|next-start" (change),
 *             "keys": [{"key": k, "old": v|null, "new": v|null}] (change),
 *             "order": [names] (reorder)}]}
 * p was computed from live and next. A new reference, NULL on OOM.
 */
json_t *arb_plan_json(const struct arb_plan *p, const struct arb_spec *live,
		      const struct arb_spec *next, const char *digest);

#endif
