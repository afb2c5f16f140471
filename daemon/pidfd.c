/*
 * pidfd.c - signals by identity. A pid number is reused as soon as its
 * process is reaped and its group is empty; a pidfd names the process
 * itself, and since Linux 6.9 the group it leads as well. No decisions
 * here and no logging: callers get 0 or -errno.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pidfd.h"

#ifndef PIDFD_SIGNAL_PROCESS_GROUP
#define PIDFD_SIGNAL_PROCESS_GROUP (1u << 2) /* Linux 6.9 */
#endif

static int
send_signal(int fd, int signo, unsigned int flags)
{
	return syscall(SYS_pidfd_send_signal, fd, signo, NULL, flags) == 0
		       ? 0 : -errno;
}

void
arb_pidfd_init(struct arb_pidfd *p)
{
	p->pid = 0;
	p->fd = -1;
	p->gone = false;
	p->child = false;
}

int
arb_pidfd_hold(struct arb_pidfd *p, int pid)
{
	arb_pidfd_release(p);
	p->pid = pid;
	/* Close-on-exec always: pidfd_open(2) sets it. */
	p->fd = (int)syscall(SYS_pidfd_open, pid, 0);
	return p->fd < 0 ? -errno : 0;
}

void
arb_pidfd_hold_child(struct arb_pidfd *p, int pid)
{
	arb_pidfd_release(p);
	p->pid = pid;
	p->child = true;
}

int
arb_pidfd_before_reap(struct arb_pidfd *p)
{
	if (p->fd >= 0)
		return 0;
	if (p->pid <= 0 || p->gone)
		return -ESRCH;
	p->fd = (int)syscall(SYS_pidfd_open, p->pid, 0);
	return p->fd < 0 ? -errno : 0;
}

void
arb_pidfd_drop(struct arb_pidfd *p)
{
	if (p->fd >= 0)
		(void)close(p->fd);
	p->fd = -1;
	p->gone = true;
}

void
arb_pidfd_release(struct arb_pidfd *p)
{
	if (p->fd >= 0)
		(void)close(p->fd);
	arb_pidfd_init(p);
}

void
arb_pidfd_reaped(struct arb_pidfd *p)
{
	p->gone = true;
}

/* Whether p's number still is its process's: not reaped yet. */
static bool
number_is_its(const struct arb_pidfd *p)
{
	if (p->pid <= 0)
		return false;
	if (p->fd >= 0)
		return send_signal(p->fd, 0, 0) == 0;
	return !p->gone;
}

int
arb_pidfd_signal(const struct arb_pidfd *p, int signo)
{
	if (p->pid <= 0)
		return -ESRCH;
	if (p->fd >= 0)
		return send_signal(p->fd, signo, 0);
	if (p->gone)
		return -ESRCH;
	return kill(p->pid, signo) == 0 ? 0 : -errno;
}

int
arb_pidfd_signal_group(const struct arb_pidfd *p, int signo)
{
	static bool by_number; /* the kernel has no group signal by pidfd */
	int r;

	if (p->fd >= 0 && !by_number) {
		r = send_signal(p->fd, signo, PIDFD_SIGNAL_PROCESS_GROUP);
		if (r != -EINVAL)
			return r;
		by_number = true;
	}
	/*
	 * By number only while the leader holds it: a group outlives its
	 * leader's reap, but then its number may be another's. A leader that
	 * is arbord's child (a service's first process, or an orphan arbord
	 * adopted) is reaped only by the loop, never between the check and
	 * the kill; one whose own parent reaps it could be, before Linux 6.9.
	 * A group of the number of arbord's unreaped child is the one that
	 * child made (no other can have it while it lives): no check.
	 */
	if (!number_is_its(p) ||
	    (!p->child && getpgid(p->pid) != p->pid))
		return -ESRCH;
	return kill(-p->pid, signo) == 0 ? 0 : -errno;
}
