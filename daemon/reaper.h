/*
 * reaper.h - arbord's children that ended, found without walking them all.
 *
 * SIGCHLD signals coalesce, so a wake-up finds its deaths by a sweep: a
 * wait for "any child" (waitid(P_ALL)) until none is left, which reaps them
 * in the order they were forked, every death pending at the wake-up seen
 * in it (as OTP's mailbox would hold them, SEMANTICS.md ST6). But that wait
 * makes the kernel walk every child of arbord: O(services) a death. While
 * the whole tree stops, a death comes per stopped child and that would make
 * the stop O(services^2); then the death's SIGCHLD, read with its siginfo
 * from a signalfd, names the child, which is reaped by its pid (the kernel
 * finds it at once), and the sweep, for deaths whose signals coalesced
 * with it, runs after at most SWEEP_SPACING times its own last cost: a
 * small share of the stop, and a few milliseconds at most.
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

/* Whether sweeps are to be spaced out now (the tree stops). */
typedef bool (*arb_spread_fn)(void *ctx);

struct arb_reaper {
	ev_io watch;      /* the signalfd */
	ev_timer sweep;   /* armed by a SIGCHLD, until the next sweep */
	double sweep_cost; /* seconds the last sweep took */
	arb_reap_fn reap;
	arb_spread_fn spread;
	void *ctx;
};

/* Blocks SIGCHLD and watches it in loop. 0 or -errno. */
int arb_reaper_start(struct arb_reaper *r, struct ev_loop *loop,
		     arb_reap_fn reap, arb_spread_fn spread, void *ctx);

/* Stops it, if it was started (r zeroed otherwise). */
void arb_reaper_stop(struct arb_reaper *r, struct ev_loop *loop);

/* Every child that ended is reaped now (after a re-exec's window). */
void arb_reaper_sweep(struct arb_reaper *r, struct ev_loop *loop);

#endif
