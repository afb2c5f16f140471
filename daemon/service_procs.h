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

#include <jansson.h>

#include "pidfd.h"
#include "state/state.h"
#include "pidmap.h"

struct arb_service_procs {
	struct arb_service_proc {
		/* The process spawned, leader of its own session and group:
		 * arbord's child, held by number while it runs (no
		 * descriptor); at its reap by a pidfd taken of its zombie, but
		 * only while its group outlives it, so the last SIGKILL
		 * reaches what is left of the group, and nothing else; until
		 * the group is empty or the next spawn. */
		struct arb_pidfd first;
		/* The process MAINPID= named; pid 0 while the first is the
		 * main process. */
		struct arb_pidfd main;
	} *v;
	uint32_t n;    /* nodes known */
	uint32_t room; /* v's length, which doubles */
	struct arb_pidmap mains;  /* live main pid -> node */
	struct arb_pidmap groups; /* first process's pid (its group) -> node */
	/* first process's pid -> node while first holds it: not reaped yet,
	 * or reaped with a pidfd of its group, which still has members */
	struct arb_pidmap firsts;
};

/* What arb_service_procs_reaping() found of a zombie, for _reaped(). */
struct arb_reaping {
	uint32_t node; /* whose first process, or group, it is; or ARB_NONE */
	bool first;    /* it is node's first process itself */
};

/* For n nodes. 0 or -ENOMEM. */
int arb_service_procs_init(struct arb_service_procs *ps, uint32_t n);
void arb_service_procs_done(struct arb_service_procs *ps);

/*
 * n nodes, keeping what it knows: v doubles, but only the slots of nodes
 * are touched (at 10,000 services the rest is memory never used). 0 or
 * -ENOMEM.
 */
int arb_service_procs_grow(struct arb_service_procs *ps, uint32_t n);

/* Only the first n nodes are left: room for those. */
void arb_service_procs_shrink(struct arb_service_procs *ps, uint32_t n);

/* Node left the tree: nothing of it is kept (its process is gone). */
void arb_service_procs_forget(struct arb_service_procs *ps, uint32_t node);

/*
 * node's process pid was just spawned (not reaped yet): it is the main
 * process and its group speaks for node. Whatever node held before is
 * released. 0 or -errno (-ENOSPC, -EINVAL); then nothing is kept.
 */
int arb_service_procs_spawned(struct arb_service_procs *ps, uint32_t node,
			      int pid);

/*
 * pid is a zombie child of arbord, about to be reaped. When it is a
 * service's first process, a pidfd of it is taken now, so what is left of
 * its group is reached by identity after the reap; when it is in the
 * group of a first process reaped before, that group is noted. Call
 * arb_service_procs_reaped() right after the reap.
 */
struct arb_reaping arb_service_procs_reaping(struct arb_service_procs *ps,
					     int pid);

/*
 * The zombie r was found of is reaped. A first process is gone; its
 * group's pidfd is closed at once when nobody is left in the group.
 */
void arb_service_procs_reaped(struct arb_service_procs *ps,
			      const struct arb_reaping *r);

/* The node whose main process is pid, or ARB_NONE. */
uint32_t arb_service_procs_main_of(const struct arb_service_procs *ps,
				   int pid);

/* The pid MAINPID= last made node's main process; 0 when none. */
int arb_service_procs_mainpid(const struct arb_service_procs *ps,
			      uint32_t node);

/*
 * node's main process pid is dead (reaped, by arbord or another): neither
 * it nor its first process's group speaks for node any more. What node
 * holds stays, for the SIGKILL of what is left of its groups.
 */
void arb_service_procs_main_died(struct arb_service_procs *ps, uint32_t node,
				 int pid);

/*
 * The node a notify message from pid speaks for: pid is its main process,
 * or in the group its first process leads (by identity: not a new group
 * that took the number of an empty one). ARB_NONE for any other sender.
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

/*
 * The core took MAINPID=pid for node, whose main process was old. Returns
 * the pidfd node holds for pid (borrowed: valid until node's next move or
 * spawn), to watch for its death, or -errno when there is none (Linux
 * before 5.3): then only a reap by arbord shows its death.
 */
int arb_service_procs_move_main(struct arb_service_procs *ps, uint32_t node,
				int old, int pid);

/*
 * The one rule for every signal to a service, from a stop, a kill, a
 * forwarded signal or arborctl kill: the group its first process leads,
 * while anyone is left in it; and its MAINPID= process's own group, or
 * that process alone when it leads none and the first did not reach it.
 * Groups and processes are reached by pidfd, never by a number kept after
 * its process. 0 when any process got signo, else -ESRCH.
 */
int arb_service_procs_signal(const struct arb_service_procs *ps,
			     uint32_t node, int signo);

/*
 * signo to node's main process pid alone (the watchdog's SIGABRT), if pid
 * still is what node holds. 0 or -ESRCH.
 */
int arb_service_procs_signal_main(const struct arb_service_procs *ps,
				  uint32_t node, int pid, int signo);

/*
 * Across a re-exec: what node holds (its pidfds passed, json null when
 * nothing; a first process not reaped yet by number: the new image is the
 * same process, its parent), and back into ps in the new image, where
 * nothing is held for node yet. A pidfd an older image passed for a first
 * process not reaped yet is closed (held by number), one of a group left
 * empty too. 0, -EINVAL (in's error set) or -ENOMEM.
 */
json_t *arb_service_procs_save(const struct arb_service_procs *ps,
			       uint32_t node, struct arb_state_out *o);
int arb_service_procs_restore(struct arb_service_procs *ps, uint32_t node,
			      struct arb_state_in *in, const json_t *obj,
			      const char *what);

#endif
