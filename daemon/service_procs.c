/*
 * service_procs.c - which processes are a service's, and how a signal
 * reaches them. Taken out of runtime.c, which keeps the libev wiring: here
 * are the pid maps that route exits and notify messages to nodes, the
 * checks MAINPID= must pass, and the signal rule. No logging, no core
 * events: callers get answers and 0 or -errno.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/spec.h"
#include "service_procs.h"

int
arb_service_procs_init(struct arb_service_procs *ps, uint32_t n)
{
	ps->n = n;
	ps->pgid = calloc(n, sizeof(*ps->pgid));
	if (!ps->pgid || arb_pidmap_init(&ps->mains, n) < 0 ||
	    arb_pidmap_init(&ps->groups, n) < 0)
		return -ENOMEM;
	return 0;
}

void
arb_service_procs_done(struct arb_service_procs *ps)
{
	free(ps->pgid);
	ps->pgid = NULL;
	arb_pidmap_done(&ps->mains);
	arb_pidmap_done(&ps->groups);
}

int
arb_service_procs_spawned(struct arb_service_procs *ps, uint32_t node,
			  int pid)
{
	int r = arb_pidmap_put(&ps->mains, pid, node);

	if (r == 0)
		r = arb_pidmap_put(&ps->groups, pid, node);
	if (r == 0)
		ps->pgid[node] = pid;
	return r;
}

uint32_t
arb_service_procs_main_of(const struct arb_service_procs *ps, int pid)
{
	return arb_pidmap_get(&ps->mains, pid);
}

void
arb_service_procs_main_died(struct arb_service_procs *ps, uint32_t node,
			    int pid)
{
	(void)arb_pidmap_take(&ps->mains, pid);
	/* Its group speaks for it no more; the pgid stays for the last KILL. */
	if (ps->pgid[node] > 0)
		(void)arb_pidmap_take(&ps->groups, ps->pgid[node]);
}

uint32_t
arb_service_procs_sender(const struct arb_service_procs *ps, int pid)
{
	uint32_t node = arb_pidmap_get(&ps->mains, pid);

	if (node == ARB_NONE)
		node = arb_pidmap_get(&ps->groups, getpgid(pid));
	return node;
}

/* Whether pid descends from arbord: /proc's parent links, bounded. */
static bool
is_descendant(int pid)
{
	int self = getpid();

	for (int depth = 0; depth < 64 && pid > 1; depth++) {
		char path[64], buf[512], *p;
		ssize_t n;
		int fd;

		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return false;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			return false;
		buf[n] = '\0';
		/* "pid (comm) state ppid": comm may hold anything but ends at
		 * the last ')'. */
		p = strrchr(buf, ')');
		if (!p || sscanf(p + 1, " %*c %d", &pid) != 1)
			return false;
		if (pid == self)
			return true;
	}
	return false;
}

/* The owner of pid, from /proc; -1 when it is gone. */
static long
uid_of(int pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d", pid);
	return stat(path, &st) == 0 ? (long)st.st_uid : -1;
}

bool
arb_service_procs_mainpid_allowed(const struct arb_service_procs *ps,
				  uint32_t node, int pid, long uid)
{
	uint32_t other;

	if (pid == getpid() || !is_descendant(pid) ||
	    arb_pidmap_get(&ps->mains, pid) != ARB_NONE)
		return false;
	other = arb_pidmap_get(&ps->groups, getpgid(pid));
	if (other != ARB_NONE && other != node)
		return false;
	other = arb_pidmap_get(&ps->groups, getsid(pid));
	if (other != ARB_NONE && other != node)
		return false;
	return uid == 0 || uid_of(pid) == uid;
}

void
arb_service_procs_move_main(struct arb_service_procs *ps, uint32_t node,
			    int old, int pid)
{
	(void)arb_pidmap_take(&ps->mains, old);
	(void)arb_pidmap_put(&ps->mains, pid, node);
}

void
arb_service_procs_signal(const struct arb_service_procs *ps, uint32_t node,
			 int pid, int signo, bool alive)
{
	int pgid = ps->pgid[node];

	if (pgid > 0)
		(void)kill(-pgid, signo);
	if (pid > 0 && pid != pgid && kill(-pid, signo) < 0 && alive)
		(void)kill(pid, signo);
}
