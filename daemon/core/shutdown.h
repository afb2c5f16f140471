/*
 * shutdown.h - the final shutdown of arbord as an init, as a pure machine.
 *
 * What PID 1 does once it has been asked to power off, reboot or halt (or,
 * as a container's init, to end): stop the tree in reverse order with its
 * own timeouts, then SIGTERM to every process that is left, a deadline,
 * SIGKILL to the rest and a second deadline, then sync, unmount, and
 * reboot(2) with the requested action (or exit, in a container). Like
 * tree.c it makes no syscalls and reads no clock: it is fed events with
 * now_ms and returns actions, which init/pid1.c and init/init.c carry out.
 *
 *   state  meaning                                leaves on
 *   IDLE   nothing asked                          BEGIN -> TREE, or TERM when
 *                                                 the tree is already down
 *   TREE   the tree stops (tree.c's T1 order,     TREE_DOWN -> TERM
 *          each service's stop_timeout)
 *   TERM   SIGTERM sent to every process;         NO_PROCESSES -> DONE,
 *          deadline term_ms                       TIMER -> KILL
 *   KILL   SIGKILL sent to every process;         NO_PROCESSES or TIMER -> DONE
 *          deadline kill_ms (a process in D
 *          state cannot hold the machine)
 *   DONE   sync, unmount, reboot (or exit) were   nothing
 *          returned
 *
 * A BEGIN while the machine runs changes only the final action (the last
 * request wins); the sequence goes on where it is.
 */
#ifndef ARB_SHUTDOWN_H
#define ARB_SHUTDOWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the machine ends with. */
enum arb_final {
	ARB_FINAL_POWEROFF,
	ARB_FINAL_REBOOT,
	ARB_FINAL_HALT,
	ARB_FINAL_EXIT, /* a container's init: exit with exit_code */
	_ARB_FINAL_MAX
};

enum arb_sd_state {
	ARB_SD_IDLE,
	ARB_SD_TREE,
	ARB_SD_TERM,
	ARB_SD_KILL,
	ARB_SD_DONE,
	_ARB_SD_STATE_MAX
};

enum arb_sd_event_kind {
	ARB_SD_BEGIN,        /* final, exit_code; tree_down: nothing to stop */
	ARB_SD_TREE_DOWN,    /* the root supervisor is down: exit_code */
	ARB_SD_TIMER,        /* the deadline set last has passed */
	ARB_SD_NO_PROCESSES, /* arbord has no child left (ECHILD) */
	_ARB_SD_EV_MAX
};

struct arb_sd_event {
	enum arb_sd_event_kind kind;
	enum arb_final final; /* BEGIN */
	int exit_code;        /* BEGIN, TREE_DOWN: the status of ARB_FINAL_EXIT;
				 the root's, once it is down, wins */
	bool tree_down;       /* BEGIN */
	int64_t now_ms;       /* monotonic */
};

enum arb_sd_action_kind {
	ARB_SD_STOP_TREE,    /* ask the tree to stop (tree.c's SHUTDOWN) */
	ARB_SD_SIGNAL_ALL,   /* signo to every process but arbord: kill(-1) */
	ARB_SD_TIMER_SET,    /* arm the one timer for at_ms */
	ARB_SD_TIMER_CANCEL,
	ARB_SD_SYNC,
	ARB_SD_UNMOUNT,      /* unmount, or remount read-only, what can be */
	ARB_SD_REBOOT,       /* reboot(2) with final (never EXIT) */
	ARB_SD_EXIT,         /* leave with exit_code */
	_ARB_SD_ACT_MAX
};

struct arb_sd_action {
	enum arb_sd_action_kind kind;
	int signo;            /* SIGNAL_ALL: ARB_SIGTERM or ARB_SIGKILL */
	int64_t at_ms;        /* TIMER_SET */
	enum arb_final final; /* REBOOT */
	int exit_code;        /* EXIT */
};

/* One step never returns more than this many actions. */
#define ARB_SD_ACTIONS_MAX 4

struct arb_sd_actions {
	struct arb_sd_action v[ARB_SD_ACTIONS_MAX];
	size_t n;
};

struct arb_shutdown {
	enum arb_sd_state state;
	enum arb_final final;
	int exit_code;
	int64_t term_ms, kill_ms;
};

/* An IDLE machine that waits term_ms after SIGTERM, kill_ms after SIGKILL. */
void arb_shutdown_init(struct arb_shutdown *s, int64_t term_ms,
		       int64_t kill_ms);

/*
 * Feeds one event; out->n is reset, then the actions to carry out, in
 * order, are appended. Events that mean nothing in the current state (a
 * late timer, NO_PROCESSES while the tree still stops) return none.
 */
void arb_shutdown_step(struct arb_shutdown *s, const struct arb_sd_event *ev,
		       struct arb_sd_actions *out);

/* "poweroff", "reboot", "halt", "exit"; the lookup returns -1 if unknown. */
const char *arb_final_name(enum arb_final f);
int arb_final_from_name(const char *name);
const char *arb_sd_state_name(enum arb_sd_state s);

#endif
