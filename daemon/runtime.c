/*
 * runtime.c - the imperative shell: libev watchers in, core events out.
 *
 * The core decides; this file only does. Its reaper (reaper.h) finds each
 * child that ended by its pid, and this file looks at the zombie before
 * reaping it and turns it into ARB_EV_EXITED (looked up by pid in O(1));
 * one ev_timer per node carries stop deadlines; ev_signal delivers SIGTERM, SIGINT and
 * SIGHUP. Results of actions (a spawn's pid or errno) are queued and fed
 * back in order, so the core sees one event at a time. No reaping but the
 * reaper's, no work in signal handlers, no periodic wake-up.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "clock.h"
#include "jarena.h"
#include "control/control.h"
#include "envp.h"
#include "faults.h"
#include "logs/event_log.h"
#include "core/limits.h"
#include "fdlimit.h"
#include "listen.h"
#include "logs/capture.h"
#include "loop.h"
#include "systemd.h"
#include "notify.h"
#include "runtime.h"
#include "service_procs.h"
#include "spawn.h"
#include "init/init.h"
#include "core/tree.h"
#include "core/tree_state.h"
#include "living.h"
#include "protocol.h"
#include "reaper.h"
#include "reexec.h"
#include "runtime_internal.h"
#include "runtime_state.h"

#ifndef P_PIDFD
#define P_PIDFD 3 /* waitid(2) on a pidfd; glibc < 2.36 lacks the name */
#endif

_Static_assert(ARB_SIGTERM == SIGTERM, "spec.h's SIGTERM is Linux's");
_Static_assert(ARB_SIGKILL == SIGKILL, "spec.h's SIGKILL is Linux's");
_Static_assert(ARB_ECANCELED == ECANCELED, "tree.h's ECANCELED is Linux's");

extern char **environ;

/*
 * Appends ev. A full queue "cannot happen" (one event per node and kind),
 * but an init must not die of a broken invariant: the queue doubles, and
 * the caller says so. 0, 1 when it had to grow, or -ENOMEM.
 */
static int
fifo_push(struct event_fifo *f, const struct arb_event *ev)
{
	int grown = 0;

	if (f->len == f->cap) {
		uint32_t cap = f->cap ? f->cap * 2 : 1;
		struct arb_event *v = arb_faults_queue_may_grow()
					      ? calloc(cap, sizeof(*v))
					      : NULL;

		if (!v)
			return -ENOMEM;
		for (uint32_t i = 0; i < f->len; i++)
			v[i] = f->v[(f->head + i) % f->cap];
		free(f->v);
		f->v = v;
		f->cap = cap;
		f->head = 0;
		grown = 1;
	}
	f->v[(f->head + f->len++) % f->cap] = *ev;
	return grown;
}

static struct arb_event
fifo_pop(struct event_fifo *f)
{
	struct arb_event ev = f->v[f->head];

	f->head = (f->head + 1) % f->cap;
	f->len--;
	/* Empty: the next events go at the front again, so the queue only
	 * ever touches as many pages as it has held events at once. */
	if (f->len == 0)
		f->head = 0;
	return ev;
}

static int
fifo_init(struct event_fifo *f, uint32_t cap)
{
	f->v = cap ? calloc(cap, sizeof(*f->v)) : NULL;
	f->cap = cap;
	return f->v || cap == 0 ? 0 : -ENOMEM;
}

static void feed(struct runtime *rt, const struct arb_event *ev);
static void reload_settled(struct runtime *rt);
static void timer_set(struct runtime *rt, uint32_t node, int64_t at_ms);
static void perform(struct runtime *rt, const struct arb_action *a);
static int runtime_grow(struct runtime *rt);
static void raise_nofile(const struct arb_spec *spec,
			 struct arb_spawner *sp, bool with_room);
static void node_forget(struct runtime *rt, uint32_t i);
static void runtime_shrink(struct runtime *rt);
static void on_trim_timer(struct ev_loop *loop, ev_timer *w, int revents);
static void queue_event(struct runtime *rt, struct event_fifo *f,
			const struct arb_event *ev);
static void core_lost(struct runtime *rt, const char *why);
static void lost_reaped(struct runtime *rt);

void
rt_feed(struct runtime *rt, const struct arb_event *ev)
{
	feed(rt, ev);
}

void
rt_timer_set(struct runtime *rt, uint32_t node, int64_t at_ms)
{
	timer_set(rt, node, at_ms);
}

bool
rt_settled(const struct runtime *rt)
{
	if (rt->feeding || rt->pending.len > 0 || rt->failed.len > 0 ||
	    rt->exits.len > 0 || arb_emptying_busy(&rt->emptying) ||
	    rt->lost || rt->down ||
	    arb_living_busy(rt->living) || !arb_tree_savable(rt->tree))
		return false;
	for (uint32_t i = 0; i < rt->nnodes; i++)
		if (rt->nodes[i]->start.pid > 0)
			return false;
	return true;
}

/* Queues a failed start; on_failed_idle feeds it when the loop is idle. */
static void
defer_failed(struct runtime *rt, const struct arb_event *ev)
{
	queue_event(rt, &rt->failed, ev);
	ev_idle_start(rt->loop, &rt->failed_idle);
}

/* An operator's request the core will never carry out: arbord is
 * stopping, as it says to a request that comes after the root's end. */
static void
refuse_request(struct runtime *rt, const struct arb_event *ev)
{
	struct arb_action a = {.kind = ARB_ACT_REPLY, .node = ev->node,
			       .req_id = ev->req_id,
			       .reply = ARB_REPLY_ABORTED};

	arb_control_reply(rt->control, &a);
}

/* Feeds ev and everything its actions cause, one event at a time. */
static void
feed(struct runtime *rt, const struct arb_event *ev)
{
	if (rt->lost) {
		if (ev->kind == ARB_EV_REQUEST)
			refuse_request(rt, ev);
		lost_reaped(rt); /* of the rest, only deaths matter */
		return;
	}
	queue_event(rt, &rt->pending, ev);
	if (rt->feeding)
		return;
	rt->feeding = true;
	while (rt->pending.len > 0 && !rt->lost) {
		struct arb_event next = fifo_pop(&rt->pending);

		next.now_ms = arb_monotonic_ms();
		if (arb_tree_step(rt->tree, &next, &rt->out) < 0) {
			core_lost(rt, "out of memory in the core");
			break;
		}
		/* A pool's start makes instances: their slots come first. */
		if (runtime_grow(rt) < 0) {
			core_lost(rt, "out of memory for new children");
			break;
		}
		for (size_t i = 0; i < rt->out.n && !rt->lost; i++)
			perform(rt, &rt->out.v[i]);
		if (!rt->lost) {
			arb_tree_collect(rt->tree);
			runtime_shrink(rt);
		}
		arb_manager_step(rt->tree, &next, &rt->out);
	}
	rt->feeding = false;
	reload_settled(rt);
}

/* ---- when the core cannot go on ---------------------------------------- */

/* One line on the events' way, counted: tests and people read both. */
static void
say_internal_error(struct runtime *rt, const char *event, const char *what)
{
	struct arb_logfmt l;

	rt->internal_errors++;
	arb_logfmt_init(&l);
	arb_logfmt_str(&l, "event", event);
	arb_logfmt_str(&l, "error", what);
	arb_logfmt_int(&l, "count", rt->internal_errors);
	arb_logfmt_end(&l);
	arb_logs_event(rt->logs, l.buf, l.len);
}

/* fifo_push, and what a queue that had to grow, or could not, means. */
static void
queue_event(struct runtime *rt, struct event_fifo *f,
	    const struct arb_event *ev)
{
	int r = fifo_push(f, ev);

	if (r == 1)
		say_internal_error(rt, "internal_error", "event queue full: "
				   "grown");
	else if (r < 0)
		core_lost(rt, "out of memory for the event queue");
}

/*
 * KILL with pid 0: the core cancels a start whose process has not exec'ed
 * (a stop came). Before exec it has no group of its own for sure, and
 * blocks every signal but SIGKILL; a FUSE or NFS wait it sits in yields
 * to SIGKILL. Its death ends the start (child_reaped).
 */
static void
kill_start_before_exec(struct runtime *rt, uint32_t node)
{
	int pid = rt->nodes[node]->start.pid;

	if (pid > 0)
		(void)kill(pid, SIGKILL);
}

/*
 * signo to every service whose main process has not been reaped, through
 * the one rule of service_procs.c (by pidfd: a reaped pid may be another
 * process's by now).
 */
static void
signal_every_service(struct runtime *rt, int signo)
{
	for (uint32_t i = 0; i < rt->nnodes; i++) {
		int pid = arb_tree_pid(rt->tree, i);

		if (!arb_spec_is_node(rt->spec, i))
			continue;
		if (pid > 0 && arb_service_procs_main_of(&rt->procs, pid) == i) {
			(void)arb_service_procs_signal(&rt->procs, i, signo);
		} else if (rt->nodes[i]->start.pid > 0) {
			/* A start the core never saw end, or it runs unwatched:
			 * its group too, if it exec'ed and forked meanwhile. */
			kill_start_before_exec(rt, i);
			(void)arb_service_procs_signal(&rt->procs, i, SIGKILL);
		}
	}
}

static void
lost_leave(struct runtime *rt)
{
	ev_timer_stop(rt->loop, &rt->lost_timer);
	rt->exit_code = 1;
	rt->down = true;
	ev_break(rt->loop, EVBREAK_ALL);
}

/* The stop deadline passed: what is left is killed, and arbord leaves. */
static void
on_lost_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct runtime *rt = w->data;

	signal_every_service(rt, SIGKILL);
	lost_leave(rt);
}

/* A process ended after the core was lost: the end once none is left. */
static void
lost_reaped(struct runtime *rt)
{
	if (rt->system)
		arb_system_reaped(rt->system, 0, 0);
	else if (!rt->down && !arb_pid1_children_left())
		lost_leave(rt);
}

/*
 * The core ran out of memory, or a queue could not grow: it cannot be
 * fed another event. abort() would panic the kernel as PID 1, and orphan
 * the tree anywhere. Instead arbord says so, stops every service it knows
 * without the core, and ends as if the root had given up: as an init
 * through the shutdown machine (init.c), elsewhere by leaving with status
 * 1 once they are gone, or killed after ARB_SHUTDOWN_TERM_MS.
 */
static void
core_lost(struct runtime *rt, const char *why)
{
	if (rt->lost)
		return;
	rt->lost = true;
	while (rt->pending.len > 0) {
		struct arb_event ev = fifo_pop(&rt->pending);

		if (ev.kind == ARB_EV_REQUEST)
			refuse_request(rt, &ev);
	}
	say_internal_error(rt, "core_lost", why);
	fprintf(stderr, "arbord: %s: the tree cannot be supervised any "
		"more; stopping every service\n", why);
	signal_every_service(rt, SIGTERM);
	signal_every_service(rt, SIGCONT);
	if (rt->system) {
		arb_system_core_lost(rt->system);
		return;
	}
	ev_timer_set(&rt->lost_timer, ARB_SHUTDOWN_TERM_MS / 1000.0, 0.0);
	ev_timer_start(rt->loop, &rt->lost_timer);
	lost_reaped(rt);
}

static void
note_clear(struct arb_service_note *note)
{
	free(note->status);
	memset(note, 0, sizeof(*note));
	note->errno_value = -1;
}

/*
 * Whether n's environment is the plain one: the clean base of arbord's own
 * user and nothing else. Those services share a single copy.
 */
static bool
env_is_plain(const struct arb_spec_node *n)
{
	return !n->inherit_env && !n->set_ids && (!n->env || !n->env[0]) &&
	       (!n->listen || !n->listen[0]) && n->watchdog_ms == 0 &&
	       n->ready != ARB_READY_NOTIFY;
}

/* NULL on OOM. */
static struct arb_envp *
env_of(struct runtime *rt, uint32_t node)
{
	const struct arb_spec_node *n = &rt->spec->nodes[node];
	struct rt_node *r = rt->nodes[node];
	const char *notify = rt->notify ? arb_notify_address(rt->notify)
					: NULL;

	if (r->env)
		return r->env;
	if (!env_is_plain(n)) {
		r->env = arb_envp_new(n, environ, notify);
		return r->env;
	}
	if (!rt->plain_env)
		rt->plain_env = arb_envp_new(n, environ, notify);
	r->env = rt->plain_env;
	return r->env;
}

static void
start_failed(struct runtime *rt, uint32_t node, int err, const char *step)
{
	struct arb_event ev = {.kind = ARB_EV_SPAWN_FAILED, .node = node,
			       .err = err};
	char words[128];

	fprintf(stderr, "arbord: child '%s': cannot start %s: %s: %s\n",
		rt->spec->nodes[node].path, rt->spec->nodes[node].exec_path,
		step, arb_fdlimit_error_text(err, words, sizeof(words)));
	defer_failed(rt, &ev);
}

/*
 * The start of node is over: r 0, it exec'ed (or died without a word, its
 * death follows); r < 0, it failed before exec, and its pid is nobody's.
 * reaped: its process is gone already (child_reaped), else it is not yet.
 */
static void
start_over(struct runtime *rt, uint32_t node, int pid, int r,
	   const char *step, bool reaped)
{
	struct rt_node *rn = rt->nodes[node];

	ev_io_stop(rt->loop, &rn->start_watch);
	if (r < 0) {
		/* A status pipe that could not be read leaves a child that may
		 * still exec: it must not run unwatched. Unreaped, its pid is
		 * still its own. */
		if (!reaped)
			(void)kill(pid, SIGKILL);
		/* Nothing is left of it to signal, or to speak for node. */
		arb_service_procs_main_died(&rt->procs, node, pid);
		start_failed(rt, node, -r, step);
		return;
	}
	note_clear(&rn->note);
	feed(rt, &(struct arb_event){.kind = ARB_EV_SPAWNED, .node = node,
				     .pid = pid});
}

/*
 * Before anything node's new process says (a notify message, a readiness
 * line) reaches the core, its start must be over there: it has exec'ed,
 * so its status pipe has its last word already, read now if the loop has
 * not yet (its watcher runs first in an iteration, but not across two).
 */
static void
settle_start(struct runtime *rt, uint32_t node)
{
	struct rt_node *rn = rt->nodes[node];
	const char *step = "exec";
	int pid = rn->start.pid;
	int r;

	if (pid <= 0)
		return;
	r = arb_start_read(&rt->spawner, &rn->start, &step);
	if (r != ARB_START_PENDING)
		start_over(rt, node, pid, r, step, false);
}

/* The status pipe of a start under way has something to say. */
static void
on_start_status(struct ev_loop *loop, ev_io *w, int revents)
{
	struct rt_node *rn = w->data;

	(void)loop;
	(void)revents;
	settle_start(rn->rt, rn->index);
}

/*
 * A copy of the socket another service holds for addr, or -1: two services
 * that swap addresses in one reload hand them over (with the clients
 * queued on them) rather than fail to bind what the other still holds.
 */
static int
held_elsewhere(struct runtime *rt, uint32_t node, const char *addr)
{
	for (uint32_t i = 0; i < rt->nnodes; i++) {
		const struct rt_node *r = rt->nodes[i];

		for (uint32_t j = 0; i != node && j < r->nlisten; j++)
			if (r->listen_fds[j] >= 0 &&
			    strcmp(r->listen_addrs[j], addr) == 0)
				return fcntl(r->listen_fds[j], F_DUPFD_CLOEXEC,
					     3);
	}
	return -1;
}

/*
 * Closes node's socket for addr; a Unix socket's path is removed only when
 * no other service holds that address (one handed over in a reload).
 */
static void
release_listen(struct runtime *rt, uint32_t node, const char *addr, int fd)
{
	int other = held_elsewhere(rt, node, addr);

	if (other >= 0) {
		close(other);
		close(fd);
		return;
	}
	arb_listen_close(addr, fd);
}

/*
 * The probe's copies of the listen sockets: closed, and nothing else.
 * arb_listen_close would remove a Unix socket's path, which is the
 * running arbord's.
 */
static void
close_listen_copies(struct runtime *rt)
{
	for (uint32_t i = 0; i < rt->nnodes; i++) {
		struct rt_node *r = rt->nodes[i];

		for (uint32_t j = 0; j < r->nlisten; j++)
			if (r->listen_fds[j] >= 0)
				close(r->listen_fds[j]);
		free(r->listen_fds);
		arb_spec_strv_free(r->listen_addrs);
		r->listen_fds = NULL;
		r->listen_addrs = NULL;
		r->nlisten = 0;
	}
}

/* Node holds no listen socket any more. */
static void
drop_listens(struct runtime *rt, uint32_t node)
{
	struct rt_node *r = rt->nodes[node];

	for (uint32_t j = 0; j < r->nlisten; j++)
		if (r->listen_fds[j] >= 0)
			release_listen(rt, node, r->listen_addrs[j],
				       r->listen_fds[j]);
	free(r->listen_fds);
	arb_spec_strv_free(r->listen_addrs);
	r->listen_fds = NULL;
	r->listen_addrs = NULL;
	r->nlisten = 0;
}

/*
 * Node's listen sockets become those its spec names: an address it named
 * before keeps its socket (and the clients queued on it), a new one is
 * bound, one it no longer names is closed. 0, or -errno with what it held
 * kept (*ret_addr: the address that failed).
 */
static int
node_listen(struct runtime *rt, uint32_t node, const char **ret_addr)
{
	const struct arb_spec_node *n = &rt->spec->nodes[node];
	struct rt_node *r = rt->nodes[node];
	uint32_t count = arb_spec_strv_len(n->listen);
	int *fds = NULL;
	char **addrs = NULL;
	int e = 0;

	if (count > ARB_LISTEN_MAX)
		return -E2BIG;
	if (count > 0) {
		fds = calloc(count, sizeof(*fds));
		addrs = calloc(count + 1, sizeof(*addrs));
		if (!fds || !addrs)
			e = -ENOMEM;
	}
	for (uint32_t i = 0; i < count; i++)
		fds[i] = -1;
	for (uint32_t i = 0; i < count && e == 0; i++) {
		*ret_addr = n->listen[i];
		addrs[i] = strdup(n->listen[i]);
		if (!addrs[i]) {
			e = -ENOMEM;
			break;
		}
		for (uint32_t j = 0; j < r->nlisten; j++) {
			if (r->listen_fds[j] >= 0 &&
			    strcmp(r->listen_addrs[j], n->listen[i]) == 0) {
				fds[i] = r->listen_fds[j];
				r->listen_fds[j] = -1; /* taken over */
				break;
			}
		}
		if (fds[i] < 0)
			fds[i] = held_elsewhere(rt, node, n->listen[i]);
		if (fds[i] < 0)
			e = arb_listen_open(n->listen[i], &fds[i]);
	}
	if (e < 0) {
		/* What it held goes back; what was new is closed. */
		for (uint32_t i = 0; i < count; i++) {
			for (uint32_t j = 0; fds[i] >= 0 && j < r->nlisten; j++)
				if (r->listen_fds[j] < 0 &&
				    strcmp(r->listen_addrs[j], addrs[i]) == 0) {
					r->listen_fds[j] = fds[i];
					fds[i] = -1;
				}
			if (fds[i] >= 0)
				release_listen(rt, node, addrs[i], fds[i]);
		}
		free(fds);
		arb_spec_strv_free(addrs);
		return e;
	}
	drop_listens(rt, node);
	r->listen_fds = fds;
	r->listen_addrs = addrs;
	r->nlisten = count;
	return 0;
}

/* Whether any of n's keys needs the notify socket. */
static bool
uses_notify(const struct arb_spec_node *n)
{
	return n->kind == ARB_NODE_SERVICE &&
	       (n->ready == ARB_READY_NOTIFY || n->watchdog_ms > 0);
}

static void on_notify(void *ctx, int pid, long uid,
		      const struct arb_notify_msg *m);

/* The notify socket, opened when the first service that speaks it is
 * about to start (at boot, or one a reload added). */
static int
ensure_notify(struct runtime *rt, uint32_t node)
{
	if (rt->notify || !uses_notify(&rt->spec->nodes[node]))
		return 0;
	return arb_notify_open(&rt->notify, rt->loop, on_notify, rt);
}

/*
 * Before a start: keys a reload left pending are taken now (the process
 * is gone), and what the shell derives from a node's keys follows them:
 * its environment, log sinks and listen sockets. 0 or -errno; *ret_step
 * says what failed.
 */
static int
prepare_start(struct runtime *rt, uint32_t node, const char **ret_step)
{
	struct rt_node *rn = rt->nodes[node];
	const char *addr = NULL;
	int r;

	if (arb_spec_take_pending(rt->spec, node)) {
		if (rn->env != rt->plain_env)
			arb_envp_free(rn->env);
		rn->env = NULL;
		rn->sinks_set = false;
	}
	if (!rn->sinks_set) {
		*ret_step = "log sinks";
		r = arb_logs_node_changed(rt->logs, node);
		if (r < 0)
			return r;
		rn->sinks_set = true;
	}
	*ret_step = "notify socket";
	r = ensure_notify(rt, node);
	if (r < 0)
		return r;
	*ret_step = "listen sockets";
	r = node_listen(rt, node, &addr);
	if (r < 0)
		fprintf(stderr, "arbord: child '%s': cannot listen on %s: %s\n",
			rt->spec->nodes[node].path, addr ? addr : "?",
			strerror(-r));
	return r;
}

/*
 * Starts node's process and returns at once: what it does before exec (a
 * cwd on a mount that does not answer) never holds the loop. Its status
 * pipe says how it went (on_start_status), or its death does
 * (child_reaped).
 */
static void
do_spawn(struct runtime *rt, uint32_t node)
{
	const struct arb_spec_node *n = &rt->spec->nodes[node];
	struct rt_node *rn = rt->nodes[node];
	const char *step = "keys";
	int r = prepare_start(rt, node, &step);
	struct arb_envp *env = r == 0 ? env_of(rt, node) : NULL;
	struct arb_spawn_io io = {.listen_fds = rn->listen_fds,
				  .nlisten = (int)rn->nlisten,
				  .ready_fd = -1,
				  .cgroup_fd = -1};
	int pid;

	if (r == 0 && !env) {
		step = "environment";
		r = -ENOMEM;
	}
	if (r == 0) {
		step = "cgroup";
		io.cgroup_fd = rt_cgroup_spawn_fd(rt, node);
		if (rt->cg.on && io.cgroup_fd < 0)
			r = io.cgroup_fd;
	}
	if (r == 0) {
		step = "output pipes";
		r = arb_logs_pipes(rt->logs, node, &io.stdout_fd,
				   &io.stderr_fd);
	}

	if (r == 0 && n->ready == ARB_READY_FD) {
		step = "readiness pipe";
		r = rt_ready_pipe(rn);
		if (r == 0)
			r = arb_ready_pipe_open(rn->ready_pipe, rt->loop);
		if (r == 0)
			io.ready_fd = rn->ready_pipe->write_fd;
	}
	if (r == 0)
		r = arb_spawn_service(&rt->spawner, n, env, &io, &rn->start,
				      &step);
	if (io.cgroup_fd >= 0)
		(void)close(io.cgroup_fd);
	arb_ready_pipe_spawned(rn->ready_pipe);
	arb_logs_pipes_given(rt->logs, node);
	pid = r == 0 ? rn->start.pid : 0;
	if (r == 0) {
		step = "process table";
		r = arb_service_procs_spawned(&rt->procs, node, pid);
	}
	if (r < 0) {
		if (pid > 0) {
			(void)kill(pid, SIGKILL);
			arb_start_abandon(&rt->spawner, &rn->start);
		}
		start_failed(rt, node, -r, step);
		return;
	}
	/* Its output may come before the loop reads its exec. */
	arb_logs_started(rt->logs, node, pid);
	ev_io_set(&rn->start_watch, rn->start.status_fd, EV_READ);
	ev_io_start(rt->loop, &rn->start_watch);
}

static void
timer_set(struct runtime *rt, uint32_t node, int64_t at_ms)
{
	ev_timer *w = &rt->nodes[node]->timer;
	int64_t delay = at_ms - arb_monotonic_ms();

	/* libev counts from its cached time: make it now, or we fire early. */
	ev_now_update(rt->loop);
	ev_timer_stop(rt->loop, w);
	ev_timer_set(w, delay > 0 ? (double)delay / 1000.0 : 0.0, 0.0);
	ev_timer_start(rt->loop, w);
}

static void
perform(struct runtime *rt, const struct arb_action *a)
{
	switch (a->kind) {
	case ARB_ACT_SPAWN:
		do_spawn(rt, a->node);
		return;
	case ARB_ACT_TERMINATE:
		(void)arb_service_procs_signal(
			&rt->procs, a->node, rt->spec->nodes[a->node].stop_signal);
		(void)arb_service_procs_signal(&rt->procs, a->node, SIGCONT);
		return;
	case ARB_ACT_KILL:
		if (a->pid == 0) {
			kill_start_before_exec(rt, a->node);
			return;
		}
		/* After a death too: what is left of its groups (M3), and
		 * of its cgroup, escapees from its groups included. */
		(void)arb_service_procs_signal(&rt->procs, a->node, SIGKILL);
		rt_cgroup_kill(rt, a->node);
		return;
	case ARB_ACT_ABORT:
		(void)arb_service_procs_signal_main(&rt->procs, a->node, a->pid,
						    SIGABRT);
		return;
	case ARB_ACT_TIMER_SET:
		timer_set(rt, a->node, a->at_ms);
		return;
	case ARB_ACT_TIMER_CANCEL:
		ev_timer_stop(rt->loop, &rt->nodes[a->node]->timer);
		return;
	case ARB_ACT_REPORT: {
		struct arb_logfmt line;

		arb_events_format(rt->spec, a, &line);
		arb_logs_event(rt->logs, line.buf, line.len);
		arb_control_report(rt->control, a);
		return;
	}
	case ARB_ACT_REPLY:
		if (!arb_living_reply(rt->living, a))
			arb_control_reply(rt->control, a);
		return;
	case ARB_ACT_DELETE:
		rt_cgroup_forget(rt, a->node);
		node_forget(rt, a->node);
		return;
	case ARB_ACT_EXIT:
		if (rt->system) {
			/* Not arbord's end: arborctl keeps being served. */
			arb_control_set_tree(rt->control, rt->tree);
			arb_system_root_down(rt->system, a->exit_code,
					     a->exit_auto);
			return;
		}
		rt->exit_code = a->exit_code;
		rt->down = true;
		ev_break(rt->loop, EVBREAK_ALL);
		return;
	case ARB_ACT_BUG:
		fprintf(stderr, "arbord: internal error at '%s': %s\n",
			rt->spec->nodes[a->node].path, a->what);
		return;
	case _ARB_ACT_MAX:
		return;
	}
}

/* The pidfd stays open: service_procs holds it, for the last SIGKILL. */
static void
main_watch_stop(struct runtime *rt, struct rt_node *r)
{
	if (r->main_watch.fd < 0)
		return;
	ev_io_stop(rt->loop, &r->main_watch);
	ev_io_set(&r->main_watch, -1, EV_READ);
}

/*
 * The main process of node is gone: code >= 0, or signo > 0, or code -1
 * and signo 0 when another process reaped it and its status is unknown.
 * Fed when the loop is about to poll (on_exits_prepare).
 */
static void
main_died(struct runtime *rt, uint32_t node, int pid, int code, int signo)
{
	struct rt_node *r = rt->nodes[node];
	struct arb_event ev = {.kind = ARB_EV_EXITED, .node = node, .pid = pid,
			       .code = code, .signo = signo};

	arb_service_procs_main_died(&rt->procs, node, pid);
	arb_ready_pipe_close(r->ready_pipe, rt->loop);
	main_watch_stop(rt, r);
	/* Its last words come before its death. */
	arb_logs_exited(rt->logs, node);
	/* Gone only when its cgroup is empty: leftovers are killed first. */
	if (rt_cgroup_hold_exit(rt, &ev))
		return;
	rt_queue_exit(rt, &ev);
}

void
rt_queue_exit(struct runtime *rt, const struct arb_event *ev)
{
	queue_event(rt, &rt->exits, ev);
	ev_prepare_start(rt->loop, &rt->exits_prepare);
}

/* The child pid was reaped with status: whoever it was, it is told. */
static void
child_reaped(struct runtime *rt, int pid, int status)
{
	uint32_t node = arb_service_procs_main_of(&rt->procs, pid);

	if (node != ARB_NONE && rt->nodes[node]->start.pid == pid) {
		/* Dead before its status pipe was read: its last word first. */
		const char *step = "exec";
		int r = arb_start_reaped(&rt->spawner, &rt->nodes[node]->start,
					 &step);

		start_over(rt, node, pid, r, step, true);
		if (r < 0)
			node = ARB_NONE; /* it failed: nobody's process */
	}
	if (node == ARB_NONE) {
		if (arb_reexec_reaped(rt, pid, status))
			return;
		/* M11, X1: an orphan, or a child whose exec failed. */
		if (rt->system)
			arb_system_reaped(rt->system, pid, status);
		else if (rt->lost)
			lost_reaped(rt); /* it may have been the last one */
		return;
	}
	if (WIFSIGNALED(status))
		main_died(rt, node, pid, -1, WTERMSIG(status));
	else
		main_died(rt, node, pid, WEXITSTATUS(status), 0);
}

/*
 * Reaps the zombie child pid. service_procs.c looks at it first: a
 * service's first process, held by number while it ran, is held by a pidfd
 * from its zombie on while its group outlives it. false when pid was not
 * there to reap (nothing else reaps: "cannot happen").
 */
static bool
reap(struct runtime *rt, int pid)
{
	struct arb_reaping seen = arb_service_procs_reaping(&rt->procs, pid);
	int status;

	if (waitpid(pid, &status, WNOHANG) != pid) {
		say_internal_error(rt, "internal_error", "a zombie child "
				   "could not be reaped");
		return false;
	}
	arb_service_procs_reaped(&rt->procs, &seen);
	child_reaped(rt, pid, status);
	return true;
}

/* The reaper found pid ended (reaper.h). */
static bool
reap_child(void *ctx, int pid)
{
	return reap(ctx, pid);
}

/* The whole tree stops: a death per stopped child (reaper.h). */
static bool
reap_spread(void *ctx)
{
	struct runtime *rt = ctx;

	return rt->tree && arb_tree_stopping(rt->tree);
}

/*
 * A main process named by MAINPID= ended. If it is arbord's child it is
 * reaped here as the reaper would (if it has not yet); if another process
 * reaped it (a shell that waited for it), the status is lost, but not the
 * death (M12).
 */
static void
on_main_gone(struct ev_loop *loop, ev_io *w, int revents)
{
	struct rt_node *r = w->data;
	struct runtime *rt = r->rt;
	int pid = arb_service_procs_mainpid(&rt->procs, r->index);
	siginfo_t si;
	long ret;

	memset(&si, 0, sizeof(si));
	if (arb_service_procs_main_of(&rt->procs, pid) != r->index) {
		main_watch_stop(rt, r);
		return; /* the reaper came first */
	}
	ret = syscall(SYS_waitid, P_PIDFD, w->fd, &si,
		      WEXITED | WNOHANG | WNOWAIT, NULL);
	if (ret == 0 && si.si_pid == pid) {
		(void)reap(rt, pid); /* arbord's child: as any other */
		return;
	}
	if (ret == 0)
		return; /* our child, not gone yet: a spurious wake-up */
	main_died(rt, r->index, pid, -1, 0); /* not ours: reaped elsewhere */
}

/* Every death reaped since the last poll, in the order they were reaped. */
static void
on_exits_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct runtime *rt = w->data;

	ev_prepare_stop(loop, w);
	while (rt->exits.len > 0) {
		struct arb_event ev = fifo_pop(&rt->exits);

		feed(rt, &ev);
	}
}

/* ---- what services say (notify.c) ------------------------------------- */

/*
 * The service a notify message speaks for (service_procs.c says whose the
 * sender is); messages for a service not running are ignored.
 */
static uint32_t
sender_node(struct runtime *rt, int pid)
{
	uint32_t node = arb_service_procs_sender(&rt->procs, pid);

	if (node != ARB_NONE)
		settle_start(rt, node);
	if (node == ARB_NONE || arb_tree_pid(rt->tree, node) <= 0)
		return ARB_NONE;
	return node;
}

/*
 * M12: MAINPID=. The core takes it only from a running service; then the
 * new main process is looked up by its pid when it is reaped, and watched
 * through a pidfd in case another process reaps it.
 */
static void
move_main_pid(struct runtime *rt, uint32_t node, int pid, long uid)
{
	struct rt_node *r = rt->nodes[node];
	int old = arb_tree_pid(rt->tree, node);
	enum arb_child_state st = arb_tree_state(rt->tree, node);
	struct arb_event ev = {.kind = ARB_EV_MAINPID, .node = node,
			       .pid = pid};
	int fd;

	if (pid == old || old <= 0 ||
	    (st != ARB_CHILD_UP && st != ARB_CHILD_STARTING))
		return;
	if (!arb_service_procs_mainpid_allowed(&rt->procs, node, pid, uid)) {
		fprintf(stderr, "arbord: child '%s': MAINPID=%d ignored: not "
			"a process of this service\n",
			rt->spec->nodes[node].path, pid);
		return;
	}
	feed(rt, &ev);
	if (arb_tree_pid(rt->tree, node) != pid)
		return;
	main_watch_stop(rt, r);
	fd = arb_service_procs_move_main(&rt->procs, node, old, pid);
	if (fd < 0)
		return; /* before Linux 5.3: only a reap by arbord is seen */
	arb_logs_started(rt->logs, node, pid);
	ev_io_set(&r->main_watch, fd, EV_READ);
	ev_io_start(rt->loop, &r->main_watch);
}

/* STATUS=, ERRNO=, RELOADING=1, STOPPING=1: kept for Status. */
static void
note_update(struct arb_service_note *note, const struct arb_notify_msg *m)
{
	if (m->status) {
		char *copy = strndup(m->status, ARB_STATUS_TEXT_MAX);

		if (copy) {
			free(note->status);
			note->status = copy;
		}
	}
	if (m->errno_value >= 0)
		note->errno_value = m->errno_value;
	if (m->reloading)
		note->reloading = true;
	if (m->ready)
		note->reloading = false;
	if (m->stopping)
		note->stopping = true;
}

static void
feed_node(struct runtime *rt, enum arb_event_kind kind, uint32_t node,
	  int64_t ms)
{
	struct arb_event ev = {.kind = kind, .node = node, .ms = ms};

	feed(rt, &ev);
}

static void
on_notify(void *ctx, int pid, long uid, const struct arb_notify_msg *m)
{
	struct runtime *rt = ctx;
	uint32_t node = sender_node(rt, pid);
	const struct arb_spec_node *n;

	if (node == ARB_NONE)
		return;
	n = &rt->spec->nodes[node];
	note_update(&rt->nodes[node]->note, m);
	if (m->mainpid > 0)
		move_main_pid(rt, node, m->mainpid, uid);
	if (m->ready && n->ready == ARB_READY_NOTIFY)
		feed_node(rt, ARB_EV_READY, node, 0);
	if (m->extend_ms > 0)
		feed_node(rt, ARB_EV_EXTEND_TIMEOUT, node, m->extend_ms);
	if (m->watchdog && n->watchdog_ms > 0)
		feed_node(rt, ARB_EV_WATCHDOG, node, 0);
	if (m->watchdog_trigger && n->watchdog_ms > 0)
		feed_node(rt, ARB_EV_WATCHDOG_TRIGGER, node, 0);
}

/* fd:N: a line on the pipe. The pipe belongs to the process it was made for. */
static void
on_ready_line(struct arb_ready_pipe *p)
{
	struct rt_node *r = p->data;

	settle_start(r->rt, r->index);
	feed_node(r->rt, ARB_EV_READY, r->index, 0);
}

int
rt_ready_pipe(struct rt_node *r)
{
	if (!r->ready_pipe)
		r->ready_pipe = arb_ready_pipe_new(on_ready_line, r);
	return r->ready_pipe ? 0 : -ENOMEM;
}

static const struct arb_service_note *
control_note(void *ctx, uint32_t node)
{
	struct runtime *rt = ctx;

	return &rt->nodes[node]->note;
}

void
rt_on_notify(void *ctx, int pid, long uid, const struct arb_notify_msg *m)
{
	on_notify(ctx, pid, uid, m);
}

void
rt_main_watch(struct runtime *rt, uint32_t node, int fd)
{
	struct rt_node *r = rt->nodes[node];

	main_watch_stop(rt, r);
	ev_io_set(&r->main_watch, fd, EV_READ);
	ev_io_start(rt->loop, &r->main_watch);
}

/* Whether any service speaks the notify protocol: else no socket at all. */
static bool
notify_needed(const struct arb_spec *spec)
{
	for (uint32_t i = 0; i < spec->nnodes; i++)
		if (arb_spec_is_node(spec, i) && uses_notify(&spec->nodes[i]))
			return true;
	return false;
}

static void
on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct rt_node *r = w->data;
	struct arb_event ev = {.kind = ARB_EV_TIMER, .node = r->index};

	feed(r->rt, &ev);
}

static void
on_failed_idle(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct runtime *rt = w->data;
	struct arb_event ev = fifo_pop(&rt->failed);

	if (rt->failed.len == 0)
		ev_idle_stop(loop, w);
	feed(rt, &ev);
}

static void
on_stop_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct runtime *rt = w->data;
	struct arb_event ev = {.kind = ARB_EV_SHUTDOWN};

	feed(rt, &ev);
}

/* The control socket's requests become core events. */
static void
control_request(void *ctx, uint32_t node, enum arb_request_kind kind,
		uint64_t req_id)
{
	struct arb_event ev = {.kind = ARB_EV_REQUEST, .node = node,
			       .request = kind, .req_id = req_id};

	feed(ctx, &ev);
}

/* ---- the living tree (living.c) ------------------------------------------ */

static void
living_request(void *ctx, const struct arb_event *ev)
{
	feed(ctx, ev);
}

static int
living_grow(void *ctx)
{
	return runtime_grow(ctx);
}

static void
living_fd_need(void *ctx, const struct arb_fd_need *need)
{
	struct runtime *rt = ctx;
	struct arb_fdlimit f;

	(void)arb_fdlimit_raise_need(need, &rt->spawner, true, &f);
}

/* Keys arbord reads itself changed in place: the log sinks and the
 * cgroup limits follow. */
static void
living_keys_changed(void *ctx, uint32_t node)
{
	struct runtime *rt = ctx;

	rt_limits_changed(rt, node);
	if (arb_logs_node_changed(rt->logs, node) < 0)
		fprintf(stderr, "arbord: child '%s': out of memory for its "
			"log settings\n", rt->spec->nodes[node].path);
}

static void
living_event(void *ctx, const struct arb_event_fields *f)
{
	struct runtime *rt = ctx;
	struct arb_logfmt line;

	arb_events_format_fields(f, &line);
	arb_logs_event(rt->logs, line.buf, line.len);
	arb_control_event(rt->control, f);
}

static void
living_complete(void *ctx, uint64_t req_id, const char *error,
		json_t *params)
{
	struct runtime *rt = ctx;

	arb_control_complete(rt->control, req_id, error, params);
}

static bool
living_stopping(void *ctx)
{
	struct runtime *rt = ctx;

	return rt->down || rt->lost || arb_tree_stopping(rt->tree);
}

/* A service with no process takes its pending keys at once: its held
 * sockets are then those its new keys name, for clients to queue on. */
static void
living_settle(void *ctx, uint32_t node)
{
	struct runtime *rt = ctx;
	const char *step = "keys";

	if (!rt->spec->nodes[node].pending ||
	    rt->spec->nodes[node].kind != ARB_NODE_SERVICE ||
	    arb_tree_pid(rt->tree, node) > 0 || rt->nodes[node]->start.pid > 0)
		return;
	(void)prepare_start(rt, node, &step); /* it says what failed */
}

static const struct arb_living_hooks living_hooks = {
	.request = living_request,
	.grow = living_grow,
	.fd_need = living_fd_need,
	.keys_changed = living_keys_changed,
	.event = living_event,
	.complete = living_complete,
	.stopping = living_stopping,
	.settle = living_settle,
};

/*
 * Type=notify-reload: systemd hears RELOADING=1 when a reload begins and
 * READY=1 once no reload is left under way (nor a re-exec: the new image
 * says READY=1 itself).
 */
static void
reload_settled(struct runtime *rt)
{
	if (arb_manager_is_reloading() && !rt->reexec &&
	    !arb_living_busy(rt->living))
		arb_manager_reloaded();
}

static void
reload(struct runtime *rt, bool dry_run, uint64_t req_id)
{
	if (!dry_run)
		arb_manager_reloading();
	arb_living_reload(rt->living, dry_run, req_id);
	reload_settled(rt);
}

static void
on_reload_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	reload(w->data, false, 0);
}

static void
control_reload(void *ctx, bool dry_run, uint64_t req_id)
{
	reload(ctx, dry_run, req_id);
}

static void
control_add_child(void *ctx, uint32_t parent, const char *text,
		  uint64_t req_id)
{
	struct runtime *rt = ctx;

	arb_living_add(rt->living, parent, text, req_id);
}

static void
control_remove_child(void *ctx, uint32_t node, uint64_t req_id)
{
	struct runtime *rt = ctx;

	arb_living_remove(rt->living, node, req_id);
}

static void
control_spawn(void *ctx, uint32_t pool, const char *name, char *const *args,
	      uint64_t req_id)
{
	struct runtime *rt = ctx;

	arb_living_spawn(rt->living, pool, name, args, req_id);
}

static void
control_reexec(void *ctx, const char *binary, int64_t timeout_ms,
	       uint64_t req_id)
{
	arb_reexec_request(ctx, binary, timeout_ms, req_id);
}

/* arborctl kill: by the same rule as stops and kills (M1, M12). */
static int
control_signal(void *ctx, uint32_t node, int signo)
{
	struct runtime *rt = ctx;

	return arb_service_procs_signal(&rt->procs, node, signo);
}

static void
control_shutdown(void *ctx, int action)
{
	struct runtime *rt = ctx;
	struct arb_event ev = {.kind = ARB_EV_SHUTDOWN};

	if (rt->system)
		(void)arb_system_request(rt->system, action);
	else
		feed(rt, &ev);
}

/* Power is the system init's alone to cut. */
static bool
control_takes_action(void *ctx)
{
	struct runtime *rt = ctx;

	return arb_mode_is_init(rt->mode);
}

/* ---- as PID 1 (init/init.c) -------------------------------------------- */

static void
sys_stop_tree(void *ctx)
{
	struct arb_event ev = {.kind = ARB_EV_SHUTDOWN};

	feed(ctx, &ev);
}

/* on_giveup = "restart": a new instance of every supervisor (I7). */
static int
sys_restart_tree(void *ctx)
{
	struct runtime *rt = ctx;
	struct arb_tree *t;
	struct arb_event boot = {.kind = ARB_EV_BOOT};

	/* What left the old tree is freed first: the new one must not take
	 * those slots for nodes of its own. */
	arb_tree_collect(rt->tree);
	t = arb_tree_new(rt->spec);
	if (!t)
		return -ENOMEM;
	for (uint32_t i = 0; i < rt->nnodes; i++)
		ev_timer_stop(rt->loop, &rt->nodes[i]->timer);
	arb_tree_free(rt->tree);
	rt->tree = t;
	arb_control_set_tree(rt->control, t);
	feed(rt, &boot);
	return 0;
}

static void
sys_forward(void *ctx, int signo)
{
	struct runtime *rt = ctx;

	for (uint32_t i = 0; i < rt->spec->nnodes; i++) {
		int pid = arb_tree_pid(rt->tree, i);

		if (arb_spec_is_node(rt->spec, i) &&
		    rt->spec->nodes[i].kind == ARB_NODE_SERVICE && pid > 0 &&
		    (rt->spec->nodes[i].forward_signals & (1u << signo)))
			(void)arb_service_procs_signal(&rt->procs, i, signo);
	}
}

static void
sys_leave(void *ctx, int code)
{
	struct runtime *rt = ctx;

	rt->exit_code = code;
	rt->down = true;
	ev_break(rt->loop, EVBREAK_ALL);
}

static void
sys_say(void *ctx, const char *line, size_t len)
{
	struct runtime *rt = ctx;

	arb_logs_event(rt->logs, line, len);
}

static void
sys_reload(void *ctx)
{
	reload(ctx, false, 0);
}

static void
sys_flush(void *ctx)
{
	struct runtime *rt = ctx;

	arb_logs_drain_console(rt->logs, ARB_EXIT_FLUSH_MS);
}

static void
watch_signal(struct runtime *rt, ev_signal *w, int signo)
{
	ev_signal_init(w, on_stop_signal, signo);
	w->data = rt;
	ev_signal_start(rt->loop, w);
}

/* ---- node slots: the living tree adds them and frees them ---------------- */

static void
node_init(struct runtime *rt, struct rt_node *r, uint32_t i)
{
	memset(r, 0, sizeof(*r));
	ev_timer_init(&r->timer, on_timer, 0.0, 0.0);
	r->timer.data = r;
	r->rt = rt;
	r->index = i;
	r->note.errno_value = -1;
	ev_io_init(&r->main_watch, on_main_gone, -1, EV_READ);
	r->main_watch.data = r;
	r->start.status_fd = -1;
	ev_io_init(&r->start_watch, on_start_status, -1, EV_READ);
	/* An exec is seen before what the new program does. */
	ev_set_priority(&r->start_watch, EV_MAXPRI);
	r->start_watch.data = r;
	r->ready_pipe = NULL;
}

/* What the shell holds for node: its watchers, start, sockets, notes. */
static void
node_release(struct runtime *rt, uint32_t i)
{
	struct rt_node *r = rt->nodes[i];

	ev_timer_stop(rt->loop, &r->timer);
	ev_io_stop(rt->loop, &r->start_watch);
	arb_start_abandon(&rt->spawner, &r->start);
	arb_ready_pipe_free(r->ready_pipe, rt->loop);
	r->ready_pipe = NULL;
	main_watch_stop(rt, r);
	note_clear(&r->note);
	if (r->env != rt->plain_env)
		arb_envp_free(r->env);
	r->env = NULL;
	drop_listens(rt, i);
}

/*
 * Node left the tree (ARB_ACT_DELETE): its process is gone; what is left
 * in its pipes is read, then everything it held goes, and its slot is
 * ready for the next node.
 */
static void
node_forget(struct runtime *rt, uint32_t i)
{
	node_release(rt, i);
	arb_logs_forget(rt->logs, i);
	arb_service_procs_forget(&rt->procs, i);
	node_init(rt, rt->nodes[i], i);
}

static int
fifo_reserve(struct event_fifo *f, uint32_t cap)
{
	struct arb_event *v;

	if (f->cap >= cap)
		return 0;
	/* Not cleared: a slot is written before it is read, and the room
	 * reserved for every node at once stays untouched until it is used. */
	v = malloc(cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (uint32_t i = 0; i < f->len; i++)
		v[i] = f->v[(f->head + i) % f->cap];
	free(f->v);
	f->v = v;
	f->cap = cap;
	f->head = 0;
	return 0;
}

/*
 * The spec has more slots (nodes grafted, instances made): what the shell
 * keeps per node covers them. 0 or -ENOMEM.
 */
static int
runtime_grow(struct runtime *rt)
{
	uint32_t n = rt->spec->nnodes, cap = rt->spec->cap;

	if (n <= rt->nnodes)
		return 0;
	/*
	 * Room follows the spec's, which doubles: a pool's spawns add a slot
	 * each, and must not copy every array each time.
	 */
	if (cap > rt->nodes_cap) {
		struct rt_node **v = realloc(rt->nodes, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		rt->nodes = v;
		rt->nodes_cap = cap;
		/* Each node has at most one event of each kind in flight. */
		if (fifo_reserve(&rt->pending, arb_faults_queue_cap(cap + 8)) < 0 ||
		    fifo_reserve(&rt->failed, arb_faults_queue_cap(cap + 8)) < 0 ||
		    fifo_reserve(&rt->exits, arb_faults_queue_cap(cap + 8)) < 0)
			return -ENOMEM;
	}
	if (arb_service_procs_grow(&rt->procs, n) < 0 ||
	    (rt->logs && arb_logs_grow(rt->logs) < 0))
		return -ENOMEM;
	if (rt->nnodes > 0 && n > rt->nofile_nodes) {
		/* Grown while it runs: room for as many again, so a pool's
		 * thousand spawns check the limit a few times, not each. */
		raise_nofile(rt->spec, &rt->spawner, true);
		rt->nofile_nodes = 2 * n;
	}
	for (; rt->nnodes < n; rt->nnodes++) {
		struct rt_node *r = malloc(sizeof(*r));

		if (!r)
			return -ENOMEM;
		node_init(rt, r, rt->nnodes);
		rt->nodes[rt->nnodes] = r;
	}
	return 0;
}

static void
fifo_shrink(struct event_fifo *f, uint32_t cap)
{
	struct arb_event *v;

	if (f->cap <= cap * 2 || f->len > cap)
		return;
	v = calloc(cap, sizeof(*v));
	if (!v)
		return; /* the larger one does as well */
	for (uint32_t i = 0; i < f->len; i++)
		v[i] = f->v[(f->head + i) % f->cap];
	free(f->v);
	f->v = v;
	f->cap = cap;
	f->head = 0;
}

/*
 * The spec gave slots back (a pool's instances removed): so does the
 * shell, and the heap goes back to the system. The slots past the spec's
 * end were forgotten (node_forget) when their nodes left.
 */
static void
runtime_shrink(struct runtime *rt)
{
	uint32_t n = rt->spec->nnodes, cap = rt->spec->cap;
	struct rt_node **v;

	if (n + ARB_SHRINK_SLOTS > rt->nnodes)
		return;
	for (uint32_t i = n; i < rt->nnodes; i++)
		free(rt->nodes[i]);
	rt->nnodes = n;
	if (cap < rt->nodes_cap) {
		v = realloc(rt->nodes, cap * sizeof(*v));
		if (v) {
			rt->nodes = v;
			rt->nodes_cap = cap;
		}
	}
	fifo_shrink(&rt->pending, arb_faults_queue_cap(cap + 8));
	fifo_shrink(&rt->failed, arb_faults_queue_cap(cap + 8));
	fifo_shrink(&rt->exits, arb_faults_queue_cap(cap + 8));
	arb_service_procs_shrink(&rt->procs, cap);
	arb_logs_shrink(rt->logs);
	arb_spawner_trim(&rt->spawner);
	if (rt->out.cap > ARB_SHRINK_SLOTS)
		arb_actions_done(&rt->out); /* it grows again as needed */
	/* The heap's free pages go back to the system now, and again once
	 * the burst's replies are written. */
	malloc_trim(0);
	ev_timer_stop(rt->loop, &rt->trim_timer);
	ev_timer_set(&rt->trim_timer, 0.5, 0.0);
	ev_timer_start(rt->loop, &rt->trim_timer);
}

static void
on_trim_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	malloc_trim(0);
}

static void
runtime_done(struct runtime *rt)
{
	/* All released before any is freed: a release looks at the others
	 * (release_listen). */
	for (uint32_t i = 0; rt->nodes && i < rt->nnodes; i++)
		node_release(rt, i);
	for (uint32_t i = 0; rt->nodes && i < rt->nnodes; i++)
		free(rt->nodes[i]);
	arb_living_free(rt->living);
	arb_envp_free(rt->plain_env);
	arb_notify_close(rt->notify);
	/* Before the control socket: what is left reaches its followers. */
	arb_logs_free(rt->logs);
	if (rt->loop) {
		arb_reaper_stop(&rt->reaper, rt->loop);
		ev_idle_stop(rt->loop, &rt->failed_idle);
		ev_timer_stop(rt->loop, &rt->lost_timer);
		ev_timer_stop(rt->loop, &rt->trim_timer);
		ev_prepare_stop(rt->loop, &rt->exits_prepare);
		ev_signal_stop(rt->loop, &rt->sig_term);
		ev_signal_stop(rt->loop, &rt->sig_int);
		ev_signal_stop(rt->loop, &rt->sig_hup);
	}
	arb_system_free(rt->system);
	arb_control_close(rt->control);
	free(rt->nodes);
	free(rt->pending.v);
	free(rt->failed.v);
	free(rt->exits.v);
	arb_service_procs_done(&rt->procs);
	arb_spawner_done(&rt->spawner);
	arb_actions_done(&rt->out);
	arb_tree_free(rt->tree);
	if (rt->devnull >= 0)
		close(rt->devnull);
}

static int
runtime_init(struct runtime *rt, struct arb_spec *spec,
	     const struct arb_mode *mode)
{
	static const struct arb_system_hooks sys_hooks = {
		.stop_tree = sys_stop_tree,
		.restart_tree = sys_restart_tree,
		.forward = sys_forward,
		.leave = sys_leave,
		.say = sys_say,
		.flush = sys_flush,
		.reload = sys_reload,
	};
	uint32_t n = spec->nnodes;
	int r;

	rt->spec = spec;
	rt->mode = mode;
	rt->devnull = -1;
	arb_actions_init(&rt->out);
	rt->loop = arb_loop();
	if (!rt->loop)
		return -ENOSYS;
	rt->tree = arb_tree_new(spec);
	/* Each node has at most one event of each kind in flight. */
	if (!rt->tree ||
	    fifo_init(&rt->pending, arb_faults_queue_cap(n + 8)) < 0 ||
	    fifo_init(&rt->failed, arb_faults_queue_cap(n + 8)) < 0 ||
	    fifo_init(&rt->exits, arb_faults_queue_cap(n + 8)) < 0 ||
	    arb_service_procs_init(&rt->procs, n) < 0 ||
	    runtime_grow(rt) < 0)
		return -ENOMEM;
	rt->living = arb_living_new(spec, &rt->tree, rt->config_path,
				    &living_hooks, rt);
	if (!rt->living)
		return -ENOMEM;
	rt->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (rt->devnull < 0)
		return -errno;
	/* As an init, the console is where people look: services' output
	 * goes there too unless their log settings choose. */
	if (arb_logs_new(&rt->logs, rt->loop, spec,
			 mode->pid1 ? ARB_SINK_CONSOLE : 0) < 0)
		return -ENOMEM;
	ev_idle_init(&rt->failed_idle, on_failed_idle);
	rt->failed_idle.data = rt;
	ev_timer_init(&rt->lost_timer, on_lost_timer, 0.0, 0.0);
	rt->lost_timer.data = rt;
	ev_timer_init(&rt->trim_timer, on_trim_timer, 0.0, 0.0);
	rt->trim_timer.data = rt;
	ev_prepare_init(&rt->exits_prepare, on_exits_prepare);
	rt->exits_prepare.data = rt;
	r = arb_reaper_start(&rt->reaper, rt->loop, reap_child, reap_spread,
			     rt);
	if (r < 0)
		return r;
	if (mode->pid1)
		return arb_system_new(&rt->system, rt->loop, mode, spec,
				      &sys_hooks, rt);
	watch_signal(rt, &rt->sig_term, SIGTERM);
	watch_signal(rt, &rt->sig_int, SIGINT);
	/* The operator's "reload": the tree follows its configuration. */
	ev_signal_init(&rt->sig_hup, on_reload_signal, SIGHUP);
	rt->sig_hup.data = rt;
	ev_signal_start(rt->loop, &rt->sig_hup);
	return 0;
}

/*
 * Binds every service's listen sockets, before anything starts: a service
 * whose address is taken must not run without it. 0, or 1 (arbord's exit
 * status) after saying which one failed.
 */
static int
open_listen(struct runtime *rt)
{
	for (uint32_t i = 0; i < rt->spec->nnodes; i++) {
		const char *addr = NULL;
		int e;

		if (!arb_spec_is_node(rt->spec, i) ||
		    rt->spec->nodes[i].kind != ARB_NODE_SERVICE)
			continue;
		e = node_listen(rt, i, &addr);
		if (e == -E2BIG) {
			fprintf(stderr, "arbord: child '%s': more than %d "
				"listen addresses\n", rt->spec->nodes[i].path,
				ARB_LISTEN_MAX);
			return 1;
		}
		if (e < 0) {
			fprintf(stderr, "arbord: child '%s': cannot listen on "
				"%s: %s\n", rt->spec->nodes[i].path,
				addr ? addr : "?", strerror(-e));
			return 1;
		}
	}
	return 0;
}

/*
 * Raises arbord's soft descriptor limit to what its tree needs
 * (fdlimit.c); children get the original back. Called at start-up, after
 * main.c refused a tree the hard limit cannot hold, and when the living
 * tree has grown: a growth the hard limit cannot hold was refused before
 * it was made (control_add_child, control_spawn, reload), so a failure
 * here can only be a pool's instances beyond what was counted; their
 * starts then fail with EMFILE, said as such.
 */
static void
raise_nofile(const struct arb_spec *spec, struct arb_spawner *sp,
	     bool with_room)
{
	struct arb_fdlimit f;

	(void)arb_fdlimit_raise(spec, sp, with_room, &f);
}

/*
 * A mask inherited from our parent would hide SIGTERM from the loop. But
 * SIGCHLD: the reaper reads it from its signalfd.
 */
static void
unblock_signals(void)
{
	sigset_t chld;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_SETMASK, &chld, NULL);
}

static const struct arb_control_hooks control_hooks = {
	.request = control_request,
	.signal = control_signal,
	.shutdown = control_shutdown,
	.takes_action = control_takes_action,
	.note = control_note,
	.reload = control_reload,
	.add_child = control_add_child,
	.remove_child = control_remove_child,
	.spawn = control_spawn,
	.reexec = control_reexec,
};

/* The parts of a start that are the same after a boot and a resume. */
static int
become_supervisor(struct runtime *rt)
{
	/* M11: orphans of our services are reparented to us, and reaped. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		return -errno;
	/* A closed stderr must not kill the supervisor of a whole tree. */
	signal(SIGPIPE, SIG_IGN);
	unblock_signals();
	raise_nofile(rt->spec, &rt->spawner, false);
	rt->nofile_nodes = rt->spec->nnodes;
	/* After every disposition is set: children reset what differs. */
	return arb_spawner_init(&rt->spawner, rt->devnull);
}

static int
boot(struct runtime *rt, const struct arb_runtime_args *a)
{
	struct arb_event ev = {.kind = ARB_EV_BOOT};
	int r;

	/* Before any child: a second arbord on this socket starts nothing. */
	r = arb_control_open(&rt->control, rt->loop, a->socket_path, rt->spec,
			     rt->tree, &control_hooks, rt);
	if (r < 0)
		return r;
	/* Once the socket is ours (a second arbord moves nowhere), before
	 * any child: each starts in its own cgroup. */
	rt_cgroup_open(rt, a);
	rt_cgroup_say(rt);
	/* Limits no controller here can apply: the configuration is
	 * refused before anything starts; a reload's, later, too. */
	arb_living_set_cgroup(rt->living, &rt->cg);
	r = rt_limits_check(rt);
	if (r < 0)
		return r;
	arb_control_set_logs(rt->control, rt->logs);
	arb_control_set_cgroup(rt->control, &rt->cg);
	arb_logs_set_follower(rt->logs, arb_control_log_line, rt->control);
	/* Clients may queue on them from now on, across every restart. */
	r = open_listen(rt);
	if (r != 0)
		return r;
	if (notify_needed(rt->spec)) {
		r = arb_notify_open(&rt->notify, rt->loop, on_notify, rt);
		if (r < 0) {
			fprintf(stderr, "arbord: cannot open the notify socket: "
				"%s\n", strerror(-r));
			return r;
		}
	}
	r = become_supervisor(rt);
	if (r < 0)
		return r;
	rt->exit_code = 1;
	arb_faults_arm_core();
	feed(rt, &ev);
	return 0;
}

/* What event=resumed says, copied out of the state before it goes. */
struct resumed {
	char from[64];
	char binary[4096];
	int64_t saved_us;
};

static void
resumed_read(struct arb_state_in *in, struct resumed *ret)
{
	const char *from = "?", *binary = "?";

	ret->saved_us = 0;
	(void)arb_state_str_opt(in, in->root, "state", "arbord", &from);
	(void)arb_state_str_opt(in, in->root, "state", "binary", &binary);
	(void)arb_state_int_opt(in, in->root, "state", "saved_us", 0,
				INT64_MAX, &ret->saved_us);
	snprintf(ret->from, sizeof(ret->from), "%s", from);
	snprintf(ret->binary, sizeof(ret->binary), "%s", binary);
}

/* event=resumed, and the answer to the Reexec that caused it. */
static void
say_resumed(struct runtime *rt, const struct resumed *info, uint64_t caller)
{
	struct arb_event_fields f = {.n = 0};
	struct arb_logfmt line;
	int64_t away_ms = (arb_monotonic_us() - info->saved_us) / 1000;
	json_t *p;

	f.v[f.n++] = (struct arb_event_field){.key = "event", .str = "resumed"};
	f.v[f.n++] = (struct arb_event_field){.key = "from", .str = info->from};
	f.v[f.n++] = (struct arb_event_field){.key = "to", .str = ARB_VERSION};
	f.v[f.n++] = (struct arb_event_field){.key = "away_ms", .num = away_ms};
	arb_events_format_fields(&f, &line);
	arb_logs_event(rt->logs, line.buf, line.len);
	arb_control_event(rt->control, &f);
	if (!caller)
		return;
	p = json_pack("{s:s,s:s,s:s,s:I}", "from", info->from, "to",
		      ARB_VERSION, "binary", info->binary, "away_ms",
		      (json_int_t)away_ms);
	arb_control_complete(rt->control, caller, NULL, p);
	json_decref(p);
}

/* The caller of the Reexec hears why the new image could not go on. */
static void
refuse_resume(struct runtime *rt, struct arb_state_in *in, uint64_t caller,
	      int r)
{
	json_t *p;

	if (!caller)
		return;
	p = json_pack("{s:s,s:s}", "step", "resume", "reason",
		      in->error[0] ? in->error : strerror(-r));
	arb_control_complete(rt->control, caller, ARB_ERR_REEXEC_FAILED, p);
	json_decref(p);
}

/*
 * The new image of a re-exec: everything the old one saved is taken over
 * (state/FORMAT.md). Deaths of the exec's window wait as zombies: a
 * SIGCHLD fed to the loop reaps them, and each is matched to its service
 * by pid as any death is.
 */
static int
resume(struct runtime *rt, const struct arb_runtime_args *a)
{
	const json_t *ctl;
	struct resumed info;
	uint64_t caller = 0;
	int r;

	if (arb_state_object(a->resume, a->resume->root, "state", "control",
			     &ctl) < 0)
		return -EINVAL;
	r = arb_control_resume(&rt->control, rt->loop, a->resume, ctl,
			       rt->spec, rt->tree, &control_hooks, rt,
			       &caller);
	if (r < 0)
		return r;
	rt_cgroup_open(rt, a);
	/* Its spec was accepted by the image before: only reloads check. */
	arb_living_set_cgroup(rt->living, &rt->cg);
	arb_control_set_logs(rt->control, rt->logs);
	arb_control_set_cgroup(rt->control, &rt->cg);
	arb_logs_set_follower(rt->logs, arb_control_log_line, rt->control);
	r = become_supervisor(rt);
	if (r == 0 && arb_faults_resume_fails())
		r = arb_state_fail(a->resume, "ARBOR_FAULT_RESUME: refused "
				   "for a test");
	if (r == 0)
		r = rt_restore(rt, a->resume);
	if (r == 0)
		rt_cgroup_resumed(rt);
	if (r < 0) {
		refuse_resume(rt, a->resume, caller, r);
		return r;
	}
	arb_faults_arm_core();
	resumed_read(a->resume, &info);
	/* Everything is taken: the document, its arena and what nobody took
	 * go, before any JSON of arbord's own is made. */
	arb_state_in_done(a->resume);
	arb_jarena_end();
	rt_cgroup_say(rt);
	say_resumed(rt, &info, caller);
	arb_manager_reloaded();
	arb_reaper_sweep(&rt->reaper, rt->loop);
	return 0;
}

int
arb_runtime_probe(struct arb_spec *spec, struct arb_state_in *in)
{
	static const struct arb_mode service_mode;
	struct runtime rt;
	int r;

	memset(&rt, 0, sizeof(rt));
	r = runtime_init(&rt, spec, &service_mode);
	if (r == 0)
		r = rt_restore(&rt, in);
	/* The pipes and sockets are the running arbord's: not a byte is
	 * read here, and no socket's path removed. */
	arb_logs_free_saved(rt.logs);
	rt.logs = NULL;
	close_listen_copies(&rt);
	runtime_done(&rt);
	return r;
}

int
arb_runtime_run(const struct arb_runtime_args *a)
{
	struct runtime rt;
	int r;

	memset(&rt, 0, sizeof(rt));
	rt.config_path = a->config_path;
	rt.socket_path = a->socket_path;
	rt.self_exe = a->self_exe;
	/* The running binary's identity, for a re-exec into the same file
	 * (reexec.c): the inode /proc/self/exe is, not the path's file. */
	rt.self_known = stat("/proc/self/exe", &rt.self_stat) == 0;
	rt.argv = a->argv;
	arb_cgroup_off(&rt.cg, "not opened");
	r = runtime_init(&rt, a->spec, a->mode);
	if (r == 0)
		r = a->resume ? resume(&rt, a) : boot(&rt, a);
	if (r != 0)
		goto out;
	if (!rt.down)
		ev_run(rt.loop, 0);
	r = rt.exit_code;
out:
	rt_cgroup_close(&rt);
	arb_reexec_free(&rt);
	runtime_done(&rt);
	return r;
}
