/*
 * pidmap.h - a hash from live pid to node index, so each exit is looked up
 * in O(1) (DESIGN.md principle 6).
 */
#ifndef ARB_PIDMAP_H
#define ARB_PIDMAP_H

#include <stdint.h>

struct arb_pidmap {
	struct arb_pidmap_slot {
		int pid; /* 0: empty */
		uint32_t node;
	} *slots;
	uint32_t mask; /* capacity - 1; capacity a power of two */
	uint32_t len;
};

/*
 * Room for at least `max` pids at load <= 3/4 (linear probing stays short
 * there, and at 10,000 services each map is a page-touching cost). 0 or
 * -ENOMEM.
 */
int arb_pidmap_init(struct arb_pidmap *m, uint32_t max);
void arb_pidmap_done(struct arb_pidmap *m);

/* Room for at least `max` pids, keeping those it has. 0 or -ENOMEM
 * (then it is as it was). */
int arb_pidmap_grow(struct arb_pidmap *m, uint32_t max);

/* Room for `max` pids (at least those it has) when it holds far more: the
 * memory goes back. 0 or -ENOMEM (then it is as it was). */
int arb_pidmap_fit(struct arb_pidmap *m, uint32_t max);

/*
 * Adds or replaces pid -> node. -EINVAL for pid <= 0 (no process);
 * -ENOSPC when full (never at <= max).
 */
int arb_pidmap_put(struct arb_pidmap *m, int pid, uint32_t node);

/* The node of pid, or UINT32_MAX when unknown (always for pid <= 0). */
uint32_t arb_pidmap_get(const struct arb_pidmap *m, int pid);

/* Removes pid and returns its node, or UINT32_MAX when unknown. */
uint32_t arb_pidmap_take(struct arb_pidmap *m, int pid);

#endif
