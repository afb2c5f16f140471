/*
 * systemd.h - arbord under its own service manager (systemd): the notify
 * protocol for arbord itself (READY=1, STATUS=, STOPPING=1, WATCHDOG=1)
 * and the control socket systemd may pass it (socket activation). The
 * readiness protocol of arbord's children is another module's job.
 *
 * One instance per process, like the environment it is read from; with
 * neither NOTIFY_SOCKET nor LISTEN_FDS set, every call does nothing.
 */
#ifndef ARB_MANAGER_H
#define ARB_MANAGER_H

#include <stdbool.h>

#include <jansson.h>

#include "core/tree.h"
#include "state/state.h"

/* What systemd passed, for main.c to report. */
struct arb_manager_passed {
	int first_fd;   /* descriptors first_fd .. first_fd + nfds - 1 */
	int nfds;       /* how many LISTEN_FDS passed for this process */
	int control_fd; /* the one kept as the control socket, or -1 */
	int err;        /* LISTEN_FDS could not be read: -errno, else 0 */
};

/*
 * Reads NOTIFY_SOCKET, WATCHDOG_USEC/WATCHDOG_PID and LISTEN_FDS/
 * LISTEN_PID/LISTEN_FDNAMES, and removes them all from the environment so
 * no service inherits them. Of the passed descriptors, the first listening
 * Unix stream socket is kept (close-on-exec) for arb_control_open(); the
 * others are closed. With a watchdog, arms a timer on arbord's loop
 * (arb_loop) that answers it at half its interval. Call once, before any
 * child is spawned. 0, or -ENOMEM or -ENOSYS (no loop; nothing is kept then).
 */
int arb_manager_init(struct arb_manager_passed *ret);

/*
 * The control socket systemd passed, or -1: the caller takes ownership, and
 * a second call returns -1.
 */
int arb_manager_take_control_fd(void);

/*
 * Tells the manager what the core did with one event (ev, and the actions
 * in done, already carried out). Sends READY=1 once the root supervisor is
 * up, STOPPING=1 once the tree begins to stop, and STATUS= with the
 * services' counts when they change, at most about once a second.
 * Borrows t until arb_manager_done().
 */
void arb_manager_step(const struct arb_tree *t, const struct arb_event *ev,
		      const struct arb_actions *done);

/* Stops the timers, closes a control socket nobody took, frees. */
void arb_manager_done(void);

/*
 * Type=notify-reload: RELOADING=1 with MONOTONIC_USEC when a reload or a
 * re-exec begins, READY=1 when it is done. Nothing without NOTIFY_SOCKET.
 */
void arb_manager_reloading(void);
void arb_manager_reloaded(void);
bool arb_manager_is_reloading(void);

/*
 * Across a re-exec: what systemd passed (taken out of the environment at
 * the first start), as the state's "manager" (json null: nothing), and
 * back in the new image instead of arb_manager_init. 0, -EINVAL (in's
 * error set), -ENOMEM or -ENOSYS.
 */
json_t *arb_manager_save(void);
int arb_manager_resume(struct arb_state_in *in, const json_t *obj);

#endif
