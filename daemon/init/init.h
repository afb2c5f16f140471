/*
 * init.h - arbord as an init, in the shell: which signal means what in
 * each mode (pid1.h's struct arb_mode), the root's give-up action (M10,
 * on_giveup), and the final shutdown (shutdown.h) carried out with pid1.c
 * on libev's loop. runtime.c creates one only when arbord is PID 1 (or
 * told to act as one); as a plain service manager it has none.
 *
 * Signals, the system's init:
 *   SIGINT (ctrl-alt-del), SIGRTMIN+5   reboot
 *   SIGTERM, SIGUSR2, SIGRTMIN+4        power off
 *   SIGUSR1, SIGRTMIN+3                 halt
 *   SIGHUP                              reload the configuration
 *   SIGQUIT, SIGWINCH                   ignored
 * A container's init:
 *   SIGTERM                             stop the tree, exit with its status
 *   SIGINT, SIGHUP, SIGQUIT             forwarded to the services whose
 *                                       forward_signals name it; if none
 *                                       does, as SIGTERM
 *   SIGUSR1, SIGUSR2, SIGWINCH          forwarded likewise; else ignored
 */
#ifndef ARB_SYSTEM_H
#define ARB_SYSTEM_H

#include <stdbool.h>

#include <ev.h>

#include "pid1.h"
#include "core/spec.h"

struct arb_system;

/* What the system asks of the runtime. */
struct arb_system_hooks {
	/* Stop the tree: the root's parent-requested shutdown (M10). */
	void (*stop_tree)(void *ctx);
	/* Rebuild the tree from the spec, with empty histories (I7), and
	 * boot it. 0, or -ENOMEM (the old tree is kept, down). */
	int (*restart_tree)(void *ctx);
	/* signo to the process group of every running service whose
	 * forward_signals has it. */
	void (*forward)(void *ctx, int signo);
	/* Leave the loop: arbord exits with code. */
	void (*leave)(void *ctx, int code);
	/* One line of arbord's own (a step), with the events (logs/capture.c). */
	void (*say)(void *ctx, const char *line, size_t len);
	/* Write out what waits for the console: the machine is going. */
	void (*flush)(void *ctx);
	/* SIGHUP: the tree follows its configuration (living.h). */
	void (*reload)(void *ctx);
};

/*
 * Watches the mode's signals on loop (before the runtime unblocks them).
 * mode and spec are borrowed. 0, or -ENOMEM.
 */
int arb_system_new(struct arb_system **ret, struct ev_loop *loop,
		   const struct arb_mode *mode, const struct arb_spec *spec,
		   const struct arb_system_hooks *hooks, void *ctx);

/* Stops every watcher and frees. NULL is a no-op. */
void arb_system_free(struct arb_system *s);

/*
 * The root is down (ARB_ACT_EXIT) with M10's exit_code, automatic after
 * an automatic shutdown (else it gave up or failed to start): the end of
 * a shutdown that was asked for, or else on_giveup (the system's init) or
 * the end (a container's). Acted on once the current core step is over.
 */
void arb_system_root_down(struct arb_system *s, int exit_code,
			  bool automatic);

/*
 * The core cannot go on (runtime.c has already signalled the services it
 * knew): the final shutdown from its kill(-1) on, as the root's give-up
 * ends it when no tree can be restarted or run beside a shell: on_giveup's
 * power-off or halt, else a reboot; a container's init exits with 1. A
 * shutdown that waited for the tree goes on without it.
 */
void arb_system_core_lost(struct arb_system *s);

/*
 * The control socket's Shutdown: action is an enum arb_final, or -1 for
 * none (the system's init powers off; a container's init ends). 0, or
 * -EPERM when an action is asked of a container's init.
 */
int arb_system_request(struct arb_system *s, int action);

/* A process that is not a service's was reaped: an orphan, or the shell. */
void arb_system_reaped(struct arb_system *s, int pid, int status);

#endif
