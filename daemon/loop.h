/*
 * loop.h - arbord's one event loop, shared by the runtime and the service
 * manager link (systemd.c). Not libev's default loop: that one starts a
 * SIGCHLD watcher of libev's own that reaps every child (waitpid(-1))
 * before arbord could look at it, and arbord must see a service's first
 * process as a zombie, to take its pidfd only then (reaper.h).
 */
#ifndef ARB_LOOP_H
#define ARB_LOOP_H

#include <ev.h>

/* The loop, made at the first call; NULL when libev cannot make one. */
struct ev_loop *arb_loop(void);

#endif
