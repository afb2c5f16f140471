/*
 * pidfd.h - a process held by a pidfd, so that it and the process group it
 * leads are signalled by identity: a number the kernel has since handed to
 * another process is never signalled (SEMANTICS.md M1). A child of arbord
 * is held by its number alone until its reap (no descriptor while it
 * runs): before the reap its number, and its group's, cannot be reused.
 */
#ifndef ARB_PIDFD_H
#define ARB_PIDFD_H

#include <stdbool.h>

struct arb_pidfd {
	int pid;   /* 0: none held */
	int fd;    /* -1 when pidfd_open(2) failed (Linux < 5.3, EMFILE) */
	bool gone; /* reaped; only consulted without fd */
	bool child; /* arbord's child, held by number (arb_pidfd_hold_child) */
};

/* Holds nothing. */
void arb_pidfd_init(struct arb_pidfd *p);

/*
 * Holds pid, which must not have been reaped yet (a child of arbord that
 * the loop has not reaped, or a process just checked by its caller).
 * Whatever p held before is released. Without a pidfd (-errno returned)
 * pid is kept and signalled by number until arb_pidfd_reaped().
 */
int arb_pidfd_hold(struct arb_pidfd *p, int pid);

/*
 * Holds pid, a child of arbord not reaped yet, by its number alone: no
 * descriptor is opened. The number is its own, and the group it leads is
 * reached by it, until arbord reaps it; arb_pidfd_before_reap() then
 * keeps it by identity. Whatever p held before is released.
 */
void arb_pidfd_hold_child(struct arb_pidfd *p, int pid);

/*
 * p's process is a zombie child of arbord about to be reaped: it is held
 * by a pidfd from now on (pidfd_open(2) takes a zombie), so that the group
 * it leads is reached by identity after the reap. 0, also when a pidfd is
 * held already, or -errno: then it is lost at arb_pidfd_reaped().
 */
int arb_pidfd_before_reap(struct arb_pidfd *p);

/*
 * Nothing of the process is left to reach (it is reaped and its group is
 * empty): the pidfd is closed. pid stays, as a name only.
 */
void arb_pidfd_drop(struct arb_pidfd *p);

/* Releases what p holds (closes the pidfd). */
void arb_pidfd_release(struct arb_pidfd *p);

/* The process is reaped: without a pidfd, its number is no longer its. */
void arb_pidfd_reaped(struct arb_pidfd *p);

/* signo to the process itself. 0, or -ESRCH when it is gone. */
int arb_pidfd_signal(const struct arb_pidfd *p, int signo);

/*
 * signo to the process group the process leads, also after the leader
 * itself is gone, while any of the group is left (Linux 6.9 and later).
 * Before 6.9 the group is reached only while its leader is there to hold
 * its number. 0, or -ESRCH when it leads no group with anyone left in it.
 */
int arb_pidfd_signal_group(const struct arb_pidfd *p, int signo);

#endif
