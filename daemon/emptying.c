/*
 * emptying.c - deaths held until their service's cgroup is empty
 * (emptying.h). Reads cgroup.events through cgroup.c, waits with inotify
 * and one timer; never logs (runtime.c does, through the release hook).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "clock.h"
#include "emptying.h"

static void on_inotify(struct ev_loop *loop, ev_io *w, int revents);
static void on_expiry(struct ev_loop *loop, ev_timer *w, int revents);

void
arb_emptying_init(struct arb_emptying *e, struct ev_loop *loop,
		  struct arb_cgroup *cg, struct arb_spec *const *spec,
		  arb_emptying_fn *release, void *ctx)
{
	memset(e, 0, sizeof(*e));
	e->loop = loop;
	e->cg = cg;
	e->spec = spec;
	e->release = release;
	e->ctx = ctx;
	ev_io_init(&e->watch, on_inotify, cg->inotify_fd, EV_READ);
	e->watch.data = e;
	ev_timer_init(&e->expiry, on_expiry, 0.0, 0.0);
	e->expiry.data = e;
}

void
arb_emptying_done(struct arb_emptying *e)
{
	if (!e->loop)
		return;
	ev_io_stop(e->loop, &e->watch);
	ev_timer_stop(e->loop, &e->expiry);
	for (uint32_t i = 0; i < e->n; i++)
		arb_cgroup_unwatch(e->cg, e->v[i].wd);
	free(e->v);
	e->v = NULL;
	e->n = e->cap = 0;
}

bool
arb_emptying_busy(const struct arb_emptying *e)
{
	return e->n > 0;
}

/* The timer follows the earliest deadline; the watchers run only while
 * something is held, so an idle arbord never wakes. */
static void
rearm(struct arb_emptying *e)
{
	int64_t first = INT64_MAX, now = arb_monotonic_ms();

	ev_timer_stop(e->loop, &e->expiry);
	if (e->n == 0) {
		ev_io_stop(e->loop, &e->watch);
		return;
	}
	for (uint32_t i = 0; i < e->n; i++)
		if (e->v[i].until_ms < first)
			first = e->v[i].until_ms;
	ev_now_update(e->loop);
	ev_timer_set(&e->expiry,
		     first > now ? (double)(first - now) / 1000.0 : 0.0, 0.0);
	ev_timer_start(e->loop, &e->expiry);
	ev_io_start(e->loop, &e->watch);
}

/* How long a service's leaf may take to empty after its kill. */
static int64_t
wait_ms(const struct arb_spec_node *n)
{
	int64_t ms = n->stop_timeout_ms;

	if (ms < ARB_EMPTYING_WAIT_MIN_MS)
		return ARB_EMPTYING_WAIT_MIN_MS;
	return ms > ARB_EMPTYING_WAIT_MAX_MS ? ARB_EMPTYING_WAIT_MAX_MS : ms;
}

int
arb_emptying_hold(struct arb_emptying *e, const struct arb_event *ev,
		  bool *ret_killed)
{
	const struct arb_spec *spec = *e->spec;
	int populated = arb_cgroup_populated(e->cg, spec, ev->node);
	int wd;

	*ret_killed = false;
	if (populated <= 0)
		return populated == -ENOENT ? 0 : populated;
	(void)arb_cgroup_kill(e->cg, spec, ev->node);
	*ret_killed = true;
	wd = arb_cgroup_watch(e->cg, spec, ev->node);
	if (wd < 0)
		return wd;
	/* It may have emptied between the kill and the watch. */
	if (arb_cgroup_populated(e->cg, spec, ev->node) == 0) {
		arb_cgroup_unwatch(e->cg, wd);
		return 0;
	}
	if (e->n == e->cap) {
		uint32_t cap = e->cap ? 2 * e->cap : 8;
		struct arb_held *v = realloc(e->v, cap * sizeof(*v));

		if (!v) {
			arb_cgroup_unwatch(e->cg, wd);
			return -ENOMEM;
		}
		e->v = v;
		e->cap = cap;
	}
	e->v[e->n++] = (struct arb_held){
		.ev = *ev, .wd = wd,
		.until_ms = arb_monotonic_ms() + wait_ms(&spec->nodes[ev->node])};
	rearm(e);
	return 1;
}

/* Takes v[i] out (its watch removed) and gives its event back. */
static void
release_at(struct arb_emptying *e, uint32_t i, bool timed_out)
{
	struct arb_event ev = e->v[i].ev;

	arb_cgroup_unwatch(e->cg, e->v[i].wd);
	e->v[i] = e->v[--e->n];
	rearm(e);
	e->release(e->ctx, &ev, timed_out);
}

void
arb_emptying_forget(struct arb_emptying *e, uint32_t node)
{
	for (uint32_t i = 0; i < e->n; i++)
		if (e->v[i].ev.node == node) {
			arb_cgroup_unwatch(e->cg, e->v[i].wd);
			e->v[i] = e->v[--e->n];
			rearm(e);
			return;
		}
}

/* Reads every inotify event queued: they only say "look again". */
static void
drain(struct arb_emptying *e)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	while (read(e->cg->inotify_fd, buf, sizeof(buf)) > 0)
		;
}

/*
 * Some cgroup.events changed: each held leaf now empty is released. All
 * are looked at (a few at most: one per service killed with leftovers),
 * not just those whose watch fired: simpler, and an overflowed queue
 * loses nothing.
 */
static void
on_inotify(struct ev_loop *loop, ev_io *w, int revents)
{
	struct arb_emptying *e = w->data;

	drain(e);
	for (uint32_t i = 0; i < e->n;) {
		int p = arb_cgroup_populated(e->cg, *e->spec, e->v[i].ev.node);

		if (p == 1) {
			i++;
			continue;
		}
		release_at(e, i, false); /* v[i] is now another: look again */
	}
}

/* Past the deadline: the event goes on, leaf populated or not. */
static void
on_expiry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct arb_emptying *e = w->data;
	int64_t now = arb_monotonic_ms();

	for (uint32_t i = 0; i < e->n;) {
		if (e->v[i].until_ms > now) {
			i++;
			continue;
		}
		release_at(e, i, arb_cgroup_populated(e->cg, *e->spec,
						       e->v[i].ev.node) == 1);
	}
	rearm(e);
}
