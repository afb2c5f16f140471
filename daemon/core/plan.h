/*
 * plan.h - what a reload would do: the diff of the running tree's spec
 * and a freshly loaded one (issue 12, item 1).
 *
 * The plan is computed, shown (arborctl reload --dry-run, the Reload
 * reply, the reload event) and then applied step by step by the shell;
 * the plan that is applied is the one that was shown. Pure core: no
 * syscalls, memory through mem.h (STYLE.md 1).
 *
 * The rules (issue 12; SEMANTICS.md):
 *   - Children are matched per supervisor, by name. A child only in the
 *     new spec is an ADD, one only in the live spec a REMOVE: one step for
 *     the top of a subtree, never for the nodes below it. A child moved to
 *     another supervisor is a REMOVE under the old one and an ADD under
 *     the new one. A child whose kind changed (service, supervisor, pool)
 *     is a REMOVE and an ADD.
 *   - A live child added while the tree ran (`dynamic`) is left alone,
 *     unless the new spec names a child the same: the configuration wins (a
 *     CHANGE, possibly without keys, or a REMOVE and an ADD). The
 *     instances of a live pool are never compared.
 *   - A service whose keys differ is a CHANGE listing every differing key
 *     with its old and new values as arbor.conf writes them; a service
 *     with pending keys is compared as what it will become (pending).
 *   - A supervisor whose flags differ is a CHANGE, applied in place; a
 *     pool's template keys are its keys `template.KEY`; the spec-wide
 *     keys are the root's.
 *   - A supervisor whose kept children (in both specs) are in another
 *     relative order is a REORDER.
 *   - Steps come in application order: REMOVEs, CHANGEs, REORDERs, ADDs
 *     (arb_plan_diff says which walk gives each its order). The same
 *     inputs give the same plan, byte for byte.
 */
#ifndef ARB_PLAN_H
#define ARB_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "spec.h"

enum arb_plan_op {
	ARB_PLAN_REMOVE,
	ARB_PLAN_CHANGE,
	ARB_PLAN_REORDER,
	ARB_PLAN_ADD,
	_ARB_PLAN_OP_MAX
};

/* How a CHANGE of a service is applied (a supervisor's: always in place). */
enum arb_plan_apply {
	ARB_APPLY_IN_PLACE,   /* only keys arbord itself reads: no process touched */
	ARB_APPLY_RESTART,    /* the service is restarted alone, now */
	ARB_APPLY_NEXT_START, /* on_change = "next-start": taken at its next start */
	_ARB_APPLY_MAX
};

/*
 * One differing key, named as in arbor.conf ("exec", "log.file",
 * "template.env"), its values written as the configuration would
 * (durations "5s", signals "TERM", arrays `[ "a", "b" ]`). All owned; a
 * NULL value: the key is unset on that side (cwd, user, log.file, ...).
 */
struct arb_plan_key {
	char *key;
	char *old_value;
	char *new_value;
};

struct arb_plan_step {
	enum arb_plan_op op;
	/* The node in the live spec: REMOVE, CHANGE; REORDER: the
	 * supervisor; ADD: ARB_NONE. */
	uint32_t live;
	/* The node in the new spec: ADD, CHANGE; REORDER: the supervisor;
	 * REMOVE: ARB_NONE. */
	uint32_t next;
	enum arb_plan_apply apply; /* CHANGE */
	struct arb_plan_key *keys; /* CHANGE: in arbor.conf's order */
	uint32_t nkeys;
	/* REORDER: every child's name in its final order: the new spec's
	 * children in its order (those yet to be added too), then the live
	 * dynamic children kept, in their live order. Owned. */
	char **order;
	uint32_t norder;
};

struct arb_plan {
	struct arb_plan_step *steps;
	uint32_t nsteps, cap;
	uint32_t adds, removes, changes, reorders;
};

/*
 * The plan that makes `live` (the running tree's spec: holes, dynamic
 * children, pending keys) into `next` (a freshly loaded configuration).
 * Both roots are node 0 and are always matched.
 *
 * Order of the steps:
 *   - REMOVE: live's tree from its last child backwards, deeper first
 *     (the reverse of pre-order), so a subtree stops as at shutdown;
 *   - CHANGE, REORDER, then ADD: each in pre-order of next. An ADD's
 *     position is its index among next's children of its supervisor:
 *     every earlier sibling is there by then.
 *
 * A CHANGE of a service is IN_PLACE when what the process runs is
 * unchanged: only the keys arbord reads itself differ between its current
 * keys and next's (so reverting a pending change is in place: the node
 * takes next's keys and drops its pending ones). Otherwise NEXT_START when
 * next's on_change is "next-start", else RESTART. The keys listed are
 * those of the pending spec when there is one. A CHANGE of a live dynamic
 * child that the configuration now names may have no keys: it becomes
 * configured.
 *
 * Returns 0 and fills *ret (the caller frees it with arb_plan_free), or
 * -1 on OOM with nothing allocated and *ret untouched.
 */
int arb_plan_diff(const struct arb_spec *live, const struct arb_spec *next,
		  struct arb_plan *ret);

/* Frees what the plan owns and empties it. NULL is a no-op. */
void arb_plan_free(struct arb_plan *p);

/* "add", "remove", "change", "reorder"; and "in-place", "restart",
 * "next-start". */
const char *arb_plan_op_name(enum arb_plan_op v);
const char *arb_plan_apply_name(enum arb_plan_apply v);

/* "service", "supervisor", or "pool" (simple_one_for_one): a change
 * between any two is a REMOVE and an ADD. */
const char *arb_plan_kind_name(const struct arb_spec_node *n);

/*
 * The configuration's digest: FNV-1a 64 over the bytes of every file read,
 * fed in order through arb_plan_digest_add from ARB_PLAN_DIGEST_INIT, then
 * written as 16 lower-case hex digits and a NUL.
 */
#define ARB_PLAN_DIGEST_INIT 0xcbf29ce484222325ull
#define ARB_PLAN_DIGEST_HEX 17
uint64_t arb_plan_digest_add(uint64_t digest, const void *bytes, size_t n);
void arb_plan_digest_hex(uint64_t digest, char buf[ARB_PLAN_DIGEST_HEX]);

#endif
