/*
 * reaper.c - SIGCHLD through a signalfd: a sweep reaps every child that
 * ended; while the tree stops, the child a signal names is reaped by pid
 * and the sweep is spaced by its own cost.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "reaper.h"

/* A sweep waits this many times the last one's cost after a SIGCHLD. */
#define SWEEP_SPACING 20.0
#define SWEEP_MIN_S 0.001
#define SWEEP_MAX_S 0.050

/* Reaps pid if it is a zombie child of arbord (looked at, not waited on). */
static void
reap_if_ended(struct arb_reaper *r, int pid)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
	    si.si_pid == pid)
		(void)r->reap(r->ctx, pid);
}

void
arb_reaper_sweep(struct arb_reaper *r, struct ev_loop *loop)
{
	int64_t t0 = arb_monotonic_us();
	siginfo_t si;

	ev_timer_stop(loop, &r->sweep);
	for (;;) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 ||
		    si.si_pid <= 0)
			break; /* none left (ECHILD), or none ended */
		if (!r->reap(r->ctx, si.si_pid))
			break;
	}
	r->sweep_cost = (double)(arb_monotonic_us() - t0) / 1e6;
}

static void
on_sweep(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	arb_reaper_sweep(w->data, loop);
}

static void
sweep_soon(struct arb_reaper *r, struct ev_loop *loop)
{
	double after = r->sweep_cost * SWEEP_SPACING;

	if (ev_is_active(&r->sweep))
		return;
	if (after < SWEEP_MIN_S)
		after = SWEEP_MIN_S;
	if (after > SWEEP_MAX_S)
		after = SWEEP_MAX_S;
	ev_timer_set(&r->sweep, after, 0.0);
	ev_timer_start(loop, &r->sweep);
}

static void
on_sigchld(struct ev_loop *loop, ev_io *w, int revents)
{
	struct arb_reaper *r = w->data;
	struct signalfd_siginfo info[32];
	ssize_t got;

	bool spread = r->spread(r->ctx);

	(void)revents;
	while ((got = read(w->fd, info, sizeof(info))) > 0) {
		for (size_t i = 0; spread && i < (size_t)got / sizeof(info[0]);
		     i++)
			if (info[i].ssi_signo == SIGCHLD && info[i].ssi_pid > 0)
				reap_if_ended(r, (int)info[i].ssi_pid);
		if ((size_t)got < sizeof(info))
			break;
	}
	if (spread)
		sweep_soon(r, loop);
	else
		arb_reaper_sweep(r, loop);
}

int
arb_reaper_start(struct arb_reaper *r, struct ev_loop *loop,
		 arb_reap_fn reap, arb_spread_fn spread, void *ctx)
{
	sigset_t chld;
	int fd;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &chld, NULL) < 0)
		return -errno;
	fd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	r->reap = reap;
	r->spread = spread;
	r->ctx = ctx;
	r->sweep_cost = 0.0;
	ev_io_init(&r->watch, on_sigchld, fd, EV_READ);
	r->watch.data = r;
	ev_io_start(loop, &r->watch);
	ev_timer_init(&r->sweep, on_sweep, 0.0, 0.0);
	r->sweep.data = r;
	return 0;
}

void
arb_reaper_stop(struct arb_reaper *r, struct ev_loop *loop)
{
	if (!r->reap || r->watch.fd < 0)
		return; /* never started */
	ev_io_stop(loop, &r->watch);
	ev_timer_stop(loop, &r->sweep);
	(void)close(r->watch.fd);
	ev_io_set(&r->watch, -1, EV_READ);
}
