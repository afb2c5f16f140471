/*
 * reaper.h - arbord's children that ended, found without walking them all.
 *
 * A wait for "any child" (waitpid(-1), waitid(P_ALL)) makes the kernel walk
 * every child of arbord, so with one per service each death would cost
 * O(services), and stopping a tree O(services^2). A death's SIGCHLD,
 * read with its siginfo from a signalfd, names the child: it is looked at
 * and reaped by its pid, which the kernel finds at once. Signals of one
 * kind coalesce, so a death whose SIGCHLD came while another was pending
 * is found by a sweep over all children, run after any SIGCHLD but at most
 * once per SWEEP_SPACING times the last sweep's own cost: its share of the
 * loop stays small, and no death waits for more than a few milliseconds.
 *
 * SIGCHLD stays blocked in arbord (the signalfd reads it); its children
 * get their own mask at their start.
 */
#ifndef ARB_REAPER_H
#define ARB_REAPER_H

#include <stdbool.h>

#include <ev.h>

/* pid is a zombie child of arbord: reap it. false when it could not be. */
typedef bool (*arb_reap_fn)(void *ctx, int pid);

struct arb_reaper {
	ev_io watch;      /* the signalfd */
	ev_timer sweep;   /* armed by a SIGCHLD, until the next sweep */
	double sweep_cost; /* seconds the last sweep took */
	arb_reap_fn reap;
	void *ctx;
};

/* Blocks SIGCHLD and watches it in loop. 0 or -errno. */
int arb_reaper_start(struct arb_reaper *r, struct ev_loop *loop,
		     arb_reap_fn reap, void *ctx);

void arb_reaper_stop(struct arb_reaper *r, struct ev_loop *loop);

/* Every child that ended is reaped now (after a re-exec's window). */
void arb_reaper_sweep(struct arb_reaper *r, struct ev_loop *loop);

#endif
