/*
 * usage.h - what a node uses (Status with stats, arborctl top and
 * metrics): from its cgroup when arbord has cgroup v2, else from /proc
 * for a service's main process.
 */
#ifndef ARB_USAGE_H
#define ARB_USAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "cgroup.h"
#include "core/spec.h"

#define ARB_USAGE_UNKNOWN UINT64_MAX

enum arb_usage_source {
	ARB_USAGE_CGROUP,       /* every number from the node's cgroup */
	ARB_USAGE_CGROUP_PROC,  /* cgroup, but memory from the main process's
				 * /proc (no memory controller: hybrid host) */
	ARB_USAGE_PROC,         /* the main process's /proc alone */
};

struct arb_usage {
	enum arb_usage_source source;
	uint64_t memory;      /* bytes now; ARB_USAGE_UNKNOWN */
	uint64_t memory_peak; /* bytes, the most so far; ARB_USAGE_UNKNOWN */
	uint64_t cpu_usec;    /* user + system; ARB_USAGE_UNKNOWN */
	uint64_t tasks;       /* processes and threads; ARB_USAGE_UNKNOWN */
	uint64_t oom_kills;   /* memory.events oom_kill; ARB_USAGE_UNKNOWN */
};

/*
 * What node uses now. A service's main process is main_pid (0: none). A
 * supervisor's numbers are its subtree's: its cgroup's, or without one
 * the sum of its services' (the caller sums: see arb_usage_add() and
 * arb_usage_fill_unknown(), which give it its memory without the memory
 * controller, its tasks without the pids controller, and everything
 * without cgroup2). Reads a few small files, cgroup.threads whole.
 */
void arb_usage_read(struct arb_cgroup *cg, const struct arb_spec *spec,
		    uint32_t node, int main_pid, struct arb_usage *ret);

/* sum += u, field by field; an unknown stays unknown only if both are. */
void arb_usage_add(struct arb_usage *sum, const struct arb_usage *u);

/*
 * The fields u does not know, from `from`: a supervisor's own read first
 * (its cgroup's numbers), the sum of its children's for the rest (all of
 * them without cgroup2, memory without the memory controller).
 */
void arb_usage_fill_unknown(struct arb_usage *u, const struct arb_usage *from);

const char *arb_usage_source_name(enum arb_usage_source s);

#endif
