/*
 * emptying.h - a service is gone only when its cgroup is empty (issue 15).
 *
 * When a service's main process is reaped and its leaf still holds
 * processes (a setsid escapee, a double fork, a fork bomb), the leaf is
 * killed as a whole (cgroup.kill) and the death's ARB_EV_EXITED is held
 * here until cgroup.events says "populated 0": arbord's one inotify
 * descriptor (cgroup.h's inotify_fd), watched by an ev_io, wakes it; no
 * polling. Then the watch goes and the event is handed back to be fed.
 * The common case, a leaf empty at the reap, costs one read of
 * cgroup.events and no watch.
 *
 * A leaf that never empties (a process in uninterruptible sleep, D
 * state) holds the event at most ARB_EMPTYING_WAIT_MIN_MS ..
 * ARB_EMPTYING_WAIT_MAX_MS (the service's stop_timeout, bounded): then
 * the event goes on and the caller says so (timed_out).
 */
#ifndef ARB_EMPTYING_H
#define ARB_EMPTYING_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>

#include "cgroup.h"
#include "core/spec.h"
#include "core/tree.h"

#define ARB_EMPTYING_WAIT_MIN_MS 1000
#define ARB_EMPTYING_WAIT_MAX_MS 30000

/* An event held is given back: now fed; timed_out: the leaf is still
 * populated after the wait. */
typedef void arb_emptying_fn(void *ctx, const struct arb_event *ev,
			     bool timed_out);

struct arb_emptying {
	struct ev_loop *loop;
	struct arb_cgroup *cg;
	struct arb_spec *const *spec; /* the runtime's live spec */
	arb_emptying_fn *release;
	void *ctx;
	ev_io watch;     /* on cg->inotify_fd while anything is held */
	ev_timer expiry; /* the earliest held event's deadline */
	struct arb_held {
		struct arb_event ev; /* its node is ev.node */
		int wd;              /* its watch of cgroup.events */
		int64_t until_ms;    /* monotonic */
	} *v;
	uint32_t n, cap;
};

void arb_emptying_init(struct arb_emptying *e, struct ev_loop *loop,
		       struct arb_cgroup *cg, struct arb_spec *const *spec,
		       arb_emptying_fn *release, void *ctx);
/* Stops its watchers, removes the watches; what is held is dropped. */
void arb_emptying_done(struct arb_emptying *e);

/*
 * ev (an ARB_EV_EXITED) for a service whose main process is gone: 0 when
 * its leaf is empty (feed ev now); 1 when it was killed and ev is held
 * (copied) until it is empty; -errno when it cannot be watched (feed ev
 * now). *ret_killed: whether its leaf was killed (cgroup.kill).
 */
int arb_emptying_hold(struct arb_emptying *e, const struct arb_event *ev,
		      bool *ret_killed);

/* Whether an event is held (a re-exec waits until none is). */
bool arb_emptying_busy(const struct arb_emptying *e);

/* node left the tree: an event held for it is dropped. */
void arb_emptying_forget(struct arb_emptying *e, uint32_t node);

#endif
