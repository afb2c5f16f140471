/*
 * manager.h - arbord under its own service manager (systemd): the notify
 * protocol for arbord itself (READY=1, STATUS=, STOPPING=1, WATCHDOG=1).
 * The readiness protocol of arbord's children is another module's job.
 *
 * One instance per process, like the environment it is read from; without
 * NOTIFY_SOCKET, every call does nothing.
 */
#ifndef ARB_MANAGER_H
#define ARB_MANAGER_H

#include "tree.h"

/*
 * Reads NOTIFY_SOCKET and WATCHDOG_USEC/WATCHDOG_PID, and removes them from
 * the environment so no service inherits them. With a watchdog, arms a
 * timer on libev's default loop that answers it at half its interval. Call
 * once, before any child is spawned. 0, or -ENOMEM or -ENOSYS (no loop;
 * nothing is kept then).
 */
int arb_manager_init(void);

/*
 * Tells the manager what the core did with one event (ev, and the actions
 * in done, already carried out). Sends READY=1 once the root supervisor is
 * up, STOPPING=1 once the tree begins to stop, and STATUS= with the
 * services' counts when they change, at most about once a second.
 * Borrows t until arb_manager_done().
 */
void arb_manager_step(const struct arb_tree *t, const struct arb_event *ev,
		      const struct arb_actions *done);

/* Stops the timers, frees. */
void arb_manager_done(void);

#endif
