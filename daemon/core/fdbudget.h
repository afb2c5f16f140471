/*
 * fdbudget.h - the descriptors a tree needs arbord to hold (issue 14): the
 * shell raises its soft RLIMIT_NOFILE to it, and refuses a tree (at its
 * start, --check, a reload, an add) that its hard limit cannot hold.
 */
#ifndef ARB_FDBUDGET_H
#define ARB_FDBUDGET_H

#include <stdint.h>

#include "spec.h"

struct arb_fd_need {
	uint64_t total;    /* the services' and ARB_FD_RESERVE */
	uint64_t services; /* services counted, a pool's at its most */
	uint64_t separate; /* of them, those with two log pipes */
};

/*
 * What one running service holds for its life: its log pipes' read ends
 * (two, or one with merged streams), its listen sockets, and the read end
 * of its readiness pipe (ready = "fd:N"). No pidfd: a running child is
 * signalled by its pid.
 */
uint64_t arb_fd_service_need(const struct arb_spec_node *n);

/*
 * The need of spec's whole tree: every service's, a pool's instances
 * counted at its max_children (or, without one, at the most of its
 * instances and the instances it has), one per log file, and
 * ARB_FD_RESERVE.
 */
void arb_fd_budget(const struct arb_spec *spec, struct arb_fd_need *ret);

/* count services such as n, added to need. */
void arb_fd_need_add_service(struct arb_fd_need *need,
			     const struct arb_spec_node *n, uint64_t count);

/*
 * Adds to *need what the dynamic children of live (added or spawned while
 * it runs, with their subtrees) hold: a reload keeps those its new
 * configuration does not name, so the need after it is the new
 * configuration's and theirs. Instances of a pool with a max_children
 * are left out, counted with the pool; those of one without are all
 * counted, its first `instances` twice (a bound, not an exact count).
 */
void arb_fd_budget_add_dynamic(const struct arb_spec *live,
			       struct arb_fd_need *need);

#endif
