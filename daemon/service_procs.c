/*
 * service_procs.c - which processes are a service's, and how a signal
 * reaches them: the pid maps that route exits and notify messages to
 * nodes, the checks MAINPID= must pass, and the signal rule. runtime.c
 * keeps the libev wiring around them. No logging, no core events here:
 * callers get answers and 0 or -errno.
 */
#include <errno.h>
#include <fcntl.h>
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
	ps->n = ps->room = n;
	ps->v = calloc(n ? n : 1, sizeof(*ps->v));
	if (!ps->v || arb_pidmap_init(&ps->mains, n) < 0 ||
	    arb_pidmap_init(&ps->groups, n) < 0 ||
	    arb_pidmap_init(&ps->firsts, n) < 0)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		arb_pidfd_init(&ps->v[i].first);
		arb_pidfd_init(&ps->v[i].main);
	}
	return 0;
}

int
arb_service_procs_grow(struct arb_service_procs *ps, uint32_t n)
{
	struct arb_service_proc *v;

	if (n <= ps->n)
		return 0;
	if (arb_pidmap_grow(&ps->mains, n) < 0 ||
	    arb_pidmap_grow(&ps->groups, n) < 0 ||
	    arb_pidmap_grow(&ps->firsts, n) < 0)
		return -ENOMEM;
	if (n > ps->room) {
		uint32_t room = ps->room ? ps->room : 16;

		while (room < n)
			room *= 2;
		v = realloc(ps->v, room * sizeof(*v));
		if (!v)
			return -ENOMEM;
		ps->v = v;
		ps->room = room;
	}
	for (uint32_t i = ps->n; i < n; i++) {
		arb_pidfd_init(&ps->v[i].first);
		arb_pidfd_init(&ps->v[i].main);
	}
	ps->n = n;
	return 0;
}

void
arb_service_procs_shrink(struct arb_service_procs *ps, uint32_t n)
{
	struct arb_service_proc *v;

	if (n >= ps->n)
		return;
	for (uint32_t i = n; i < ps->n; i++)
		arb_service_procs_forget(ps, i);
	v = realloc(ps->v, (n ? n : 1) * sizeof(*v));
	if (v) {
		ps->v = v;
		ps->room = n ? n : 1;
	}
	ps->n = n;
	(void)arb_pidmap_fit(&ps->mains, n);
	(void)arb_pidmap_fit(&ps->groups, n);
	(void)arb_pidmap_fit(&ps->firsts, n);
}

/* Takes key -> node out of m only if node owns it: a number that another
 * node's process has since been given is that node's. */
static void
take_if_owner(struct arb_pidmap *m, int key, uint32_t node)
{
	if (arb_pidmap_get(m, key) == node)
		(void)arb_pidmap_take(m, key);
}

void
arb_service_procs_forget(struct arb_service_procs *ps, uint32_t node)
{
	struct arb_service_proc *p = &ps->v[node];

	take_if_owner(&ps->mains, p->first.pid, node);
	take_if_owner(&ps->mains, p->main.pid, node);
	take_if_owner(&ps->groups, p->first.pid, node);
	take_if_owner(&ps->firsts, p->first.pid, node);
	arb_pidfd_release(&p->first);
	arb_pidfd_release(&p->main);
}

void
arb_service_procs_done(struct arb_service_procs *ps)
{
	for (uint32_t i = 0; ps->v && i < ps->n; i++) {
		arb_pidfd_release(&ps->v[i].first);
		arb_pidfd_release(&ps->v[i].main);
	}
	free(ps->v);
	ps->v = NULL;
	arb_pidmap_done(&ps->mains);
	arb_pidmap_done(&ps->groups);
	arb_pidmap_done(&ps->firsts);
}

int
arb_service_procs_spawned(struct arb_service_procs *ps, uint32_t node,
			  int pid)
{
	struct arb_service_proc *s = &ps->v[node];
	int r;

	/* A group of the last process still held: let go, the number may be
	 * this new process's own. */
	take_if_owner(&ps->firsts, s->first.pid, node);
	r = arb_pidmap_put(&ps->mains, pid, node);
	if (r == 0)
		r = arb_pidmap_put(&ps->groups, pid, node);
	if (r == 0)
		r = arb_pidmap_put(&ps->firsts, pid, node);
	if (r < 0) {
		take_if_owner(&ps->mains, pid, node);
		take_if_owner(&ps->groups, pid, node);
		arb_pidfd_release(&s->first);
		return r;
	}
	arb_pidfd_release(&s->main);
	arb_pidfd_hold_child(&s->first, pid);
	return 0;
}

/* Whether node's first process is pid, and held: not reaped yet, or by a
 * pidfd of its group. */
static bool
first_held(const struct arb_service_procs *ps, uint32_t node, int pid)
{
	const struct arb_pidfd *f;

	if (node == ARB_NONE)
		return false;
	f = &ps->v[node].first;
	return f->pid == pid && (!f->gone || f->fd >= 0);
}

struct arb_reaping
arb_service_procs_reaping(struct arb_service_procs *ps, int pid)
{
	uint32_t node = arb_pidmap_get(&ps->firsts, pid);
	int group;

	if (node != ARB_NONE && ps->v[node].first.pid == pid) {
		/* Without a pidfd (EMFILE) the group is lost with its leader,
		 * never reached by a number that may be another's. */
		(void)arb_pidfd_before_reap(&ps->v[node].first);
		return (struct arb_reaping){.node = node, .first = true};
	}
	/* Still a member of its group while a zombie. */
	group = getpgid(pid);
	node = arb_pidmap_get(&ps->firsts, group);
	if (group > 0 && first_held(ps, node, group) && ps->v[node].first.gone)
		return (struct arb_reaping){.node = node, .first = false};
	return (struct arb_reaping){.node = ARB_NONE, .first = false};
}

/* node's first process is reaped: its group is held by its pidfd while
 * anyone is left in it, and let go once it is empty. */
static void
first_group_check(struct arb_service_procs *ps, uint32_t node)
{
	struct arb_pidfd *f = &ps->v[node].first;

	if (f->fd >= 0 && arb_pidfd_signal_group(f, 0) == 0)
		return;
	take_if_owner(&ps->firsts, f->pid, node);
	arb_pidfd_drop(f);
}

void
arb_service_procs_reaped(struct arb_service_procs *ps,
			 const struct arb_reaping *r)
{
	if (r->node == ARB_NONE)
		return;
	if (r->first)
		arb_pidfd_reaped(&ps->v[r->node].first);
	first_group_check(ps, r->node);
}

uint32_t
arb_service_procs_main_of(const struct arb_service_procs *ps, int pid)
{
	return arb_pidmap_get(&ps->mains, pid);
}

int
arb_service_procs_mainpid(const struct arb_service_procs *ps, uint32_t node)
{
	return ps->v[node].main.pid;
}

void
arb_service_procs_main_died(struct arb_service_procs *ps, uint32_t node,
			    int pid)
{
	struct arb_service_proc *s = &ps->v[node];

	take_if_owner(&ps->mains, pid, node);
	take_if_owner(&ps->groups, s->first.pid, node);
	if (pid == s->main.pid)
		arb_pidfd_reaped(&s->main);
	if (pid == s->first.pid)
		arb_pidfd_reaped(&s->first);
}

uint32_t
arb_service_procs_sender(const struct arb_service_procs *ps, int pid)
{
	uint32_t node = arb_pidmap_get(&ps->mains, pid);

	if (node != ARB_NONE)
		return node;
	node = arb_pidmap_get(&ps->groups, getpgid(pid));
	/*
	 * The number is the first process's group only while that group,
	 * asked by pidfd (signal 0), has anyone left: once it is empty the
	 * number may lead another process's new group.
	 */
	if (node != ARB_NONE &&
	    arb_pidfd_signal_group(&ps->v[node].first, 0) < 0)
		return ARB_NONE;
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

int
arb_service_procs_move_main(struct arb_service_procs *ps, uint32_t node,
			    int old, int pid)
{
	struct arb_service_proc *s = &ps->v[node];
	int r;

	take_if_owner(&ps->mains, old, node);
	/* Cannot fail: a node has one main pid, and room is made for all.
	 * The first process's reap is still seen: firsts routes it. */
	(void)arb_pidmap_put(&ps->mains, pid, node);
	r = arb_pidfd_hold(&s->main, pid);
	return r < 0 ? r : s->main.fd;
}

int
arb_service_procs_signal(const struct arb_service_procs *ps, uint32_t node,
			 int signo)
{
	const struct arb_service_proc *s = &ps->v[node];
	bool reached = arb_pidfd_signal_group(&s->first, signo) == 0;
	int r;

	if (s->main.pid <= 0)
		return reached ? 0 : -ESRCH;
	r = arb_pidfd_signal_group(&s->main, signo);
	/* It leads no group: alone, unless it got signo with the first's. */
	if (r == -ESRCH && !(reached && getpgid(s->main.pid) == s->first.pid))
		r = arb_pidfd_signal(&s->main, signo);
	return reached || r == 0 ? 0 : -ESRCH;
}

int
arb_service_procs_signal_main(const struct arb_service_procs *ps,
			      uint32_t node, int pid, int signo)
{
	const struct arb_service_proc *s = &ps->v[node];

	if (pid > 0 && pid == s->main.pid)
		return arb_pidfd_signal(&s->main, signo);
	if (pid > 0 && pid == s->first.pid && s->main.pid <= 0)
		return arb_pidfd_signal(&s->first, signo);
	return -ESRCH;
}

/* ---- across a re-exec --------------------------------------------------- */

static json_t *
save_pidfd(const struct arb_pidfd *p, struct arb_state_out *o)
{
	json_t *fd = p->fd >= 0 ? arb_state_out_fd(o, p->fd) : json_integer(-1);

	return fd ? json_pack("{s:i,s:o,s:b}", "pid", p->pid, "fd", fd, "gone",
			      p->gone)
		  : NULL;
}

json_t *
arb_service_procs_save(const struct arb_service_procs *ps, uint32_t node,
		       struct arb_state_out *o)
{
	const struct arb_service_proc *s = &ps->v[node];

	if (s->first.pid == 0 && s->main.pid == 0)
		return json_null();
	return json_pack("{s:o,s:o,s:b,s:b,s:b}", "first",
			 save_pidfd(&s->first, o), "main",
			 save_pidfd(&s->main, o), "first_is_main",
			 arb_pidmap_get(&ps->mains, s->first.pid) == node,
			 "main_is_main",
			 s->main.pid > 0 &&
				 arb_pidmap_get(&ps->mains, s->main.pid) == node,
			 "group",
			 arb_pidmap_get(&ps->groups, s->first.pid) == node);
}

static int
restore_pidfd(struct arb_state_in *in, const json_t *obj, const char *what,
	      const char *key, struct arb_pidfd *ret)
{
	const json_t *p;
	int64_t pid;
	bool gone;
	int fd;

	if (arb_state_object(in, obj, what, key, &p) < 0 ||
	    arb_state_int(in, p, what, "pid", 0, INT32_MAX, &pid) < 0 ||
	    arb_state_bool(in, p, what, "gone", &gone) < 0 ||
	    arb_state_fd(in, p, what, "fd", &fd) < 0)
		return -EINVAL;
	ret->pid = (int)pid;
	ret->fd = fd;
	ret->gone = gone;
	return 0;
}

/*
 * node's first process as restored, held as this image holds it: by
 * number until its reap, then by a pidfd while its group has anyone left;
 * and routed by firsts. 0, -EEXIST (another node's) or -ENOSPC.
 */
static int
first_restored(struct arb_service_procs *ps, uint32_t node)
{
	struct arb_pidfd *f = &ps->v[node].first;

	if (f->pid <= 0)
		return 0;
	if (f->fd >= 0 && !f->gone) {
		/* An older image held a pidfd for a running process too: one
		 * still there is arbord's child, not reaped yet. */
		if (arb_pidfd_signal(f, 0) == 0)
			arb_pidfd_hold_child(f, f->pid);
		else
			arb_pidfd_reaped(f);
	} else if (!f->gone) {
		arb_pidfd_hold_child(f, f->pid); /* as it was: by number */
	}
	if (f->gone && (f->fd < 0 || arb_pidfd_signal_group(f, 0) < 0)) {
		arb_pidfd_drop(f);
		return 0;
	}
	if (arb_pidmap_get(&ps->firsts, f->pid) != ARB_NONE)
		return -EEXIST;
	return arb_pidmap_put(&ps->firsts, f->pid, node);
}

int
arb_service_procs_restore(struct arb_service_procs *ps, uint32_t node,
			  struct arb_state_in *in, const json_t *obj,
			  const char *what)
{
	struct arb_service_proc *s = &ps->v[node];
	bool first_is_main, main_is_main, group;
	int r;

	if (!obj || json_is_null(obj))
		return 0;
	if (restore_pidfd(in, obj, what, "first", &s->first) < 0 ||
	    restore_pidfd(in, obj, what, "main", &s->main) < 0 ||
	    arb_state_bool(in, obj, what, "first_is_main", &first_is_main) < 0 ||
	    arb_state_bool(in, obj, what, "main_is_main", &main_is_main) < 0 ||
	    arb_state_bool(in, obj, what, "group", &group) < 0)
		return -EINVAL;
	if ((first_is_main || group) && s->first.pid <= 0)
		return arb_state_fail(in, "%s: a main process without a pid",
				      what);
	if (main_is_main && s->main.pid <= 0)
		return arb_state_fail(in, "%s: MAINPID without a pid", what);
	if (arb_pidmap_get(&ps->mains, s->first.pid) != ARB_NONE ||
	    arb_pidmap_get(&ps->mains, s->main.pid) != ARB_NONE ||
	    arb_pidmap_get(&ps->groups, s->first.pid) != ARB_NONE)
		return arb_state_fail(in, "%s: a process of two services",
				      what);
	r = first_restored(ps, node);
	if (r == -EEXIST)
		return arb_state_fail(in, "%s: a process of two services",
				      what);
	if (r == 0 && first_is_main)
		r = arb_pidmap_put(&ps->mains, s->first.pid, node);
	if (r == 0 && main_is_main)
		r = arb_pidmap_put(&ps->mains, s->main.pid, node);
	if (r == 0 && group)
		r = arb_pidmap_put(&ps->groups, s->first.pid, node);
	return r == -ENOMEM ? r : r < 0 ? arb_state_fail(in, "%s: pid map: %s",
							 what, strerror(-r))
				      : 0;
}
