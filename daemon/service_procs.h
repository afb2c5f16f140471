/*
 * service_procs.h - the processes of each service as the shell knows them:
 * its main process (the one spawned, or the one MAINPID= named), the
 * process group it was spawned as, which senders on the notify socket
 * speak for it, and the one rule by which a signal reaches them (M1, M12).
 */
#ifndef ARB_SERVICE_PROCS_H
#define ARB_SERVICE_PROCS_H

#include <stdbool.h>
#include <stdint.h>

#include "pidmap.h"

struct arb_service_procs {
	int *pgid; /* per node: the process group its process was spawned as */
	uint32_t n;
	struct arb_pidmap mains;  /* live main pid -> node */
	struct arb_pidmap groups; /* first process's pid (its group) -> node */
};

/* For n nodes. 0 or -ENOMEM. */
int arb_service_procs_init(struct arb_service_procs *ps, uint32_t n);
void arb_service_procs_done(struct arb_service_procs *ps);

/*
 * node's process pid was just spawned: it is the main process and its
 * group speaks for node. 0 or -errno (-ENOSPC, -EINVAL).
 */
int arb_service_procs_spawned(struct arb_service_procs *ps, uint32_t node,
			      int pid);

/* The node whose main process is pid, or ARB_NONE. */
uint32_t arb_service_procs_main_of(const struct arb_service_procs *ps,
				   int pid);

/*
 * node's main process pid is dead (reaped, by arbord or another): neither
 * it nor its group speaks for node any more. The pgid stays for the last
 * KILL.
 */
void arb_service_procs_main_died(struct arb_service_procs *ps, uint32_t node,
				 int pid);

/*
 * The node a notify message from pid speaks for: pid is its main process,
 * or in the group its first process leads. ARB_NONE for any other sender.
 */
uint32_t arb_service_procs_sender(const struct arb_service_procs *ps,
				  int pid);

/*
 * Whether MAINPID=pid, sent by a process of uid for node, may be believed:
 * a descendant of arbord, not arbord, not any service's main process, not
 * in another service's process group or session, and, from a sender other
 * than root, one of the sender's own processes.
 */
bool arb_service_procs_mainpid_allowed(const struct arb_service_procs *ps,
				       uint32_t node, int pid, long uid);

/* The core took MAINPID=pid for node, whose main process was old. */
void arb_service_procs_move_main(struct arb_service_procs *ps, uint32_t node,
				 int old, int pid);

/*
 * Signals a service (M1): the process group it was spawned as (its first
 * process leads its own session; after it is reaped this reaches what is
 * left of the group), and pid's own group, or pid alone (if alive), when
 * MAINPID= moved the main process elsewhere (M12).
 */
void arb_service_procs_signal(const struct arb_service_procs *ps,
			      uint32_t node, int pid, int signo, bool alive);

#endif
