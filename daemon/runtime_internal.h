/*
 * runtime_internal.h - what the runtime's files share: runtime.c (the loop,
 * actions and events), runtime_state.c (its state saved and restored across
 * a re-exec) and reexec.c (the re-exec itself). Not an API: only they
 * include it.
 */
#ifndef ARB_RUNTIME_INTERNAL_H
#define ARB_RUNTIME_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <sys/stat.h>

#include <ev.h>

#include "cgroup.h"
#include "control/control.h"
#include "core/spec.h"
#include "core/tree.h"
#include "emptying.h"
#include "init/init.h"
#include "logs/capture.h"
#include "notify.h"
#include "reaper.h"
#include "service_procs.h"
#include "spawn.h"

struct arb_reexec;

struct runtime;

/* Events kept for later, in order; one per node at most. */
struct event_fifo {
	struct arb_event *v;
	uint32_t head, len, cap;
};

struct rt_node {
	ev_timer timer; /* its data points back to this rt_node */
	struct runtime *rt;
	uint32_t index;
	struct arb_envp *env; /* made at the first start, then reused */
	int *listen_fds;      /* its listen sockets, held while it names them */
	char **listen_addrs;  /* their addresses, as its spec named them */
	uint32_t nlisten;
	bool sinks_set;       /* its log sinks follow its spec (a new node's
				 are set at its first start) */
	struct arb_start start; /* its process before exec; pid 0: none */
	ev_io start_watch;      /* on start.status_fd */
	ev_io main_watch; /* the pidfd of a MAINPID= process; fd -1: none */
	/* ready = "fd:N": made at its first start, kept for the next;
	 * NULL for the services that use none. */
	struct arb_ready_pipe *ready_pipe;
	struct arb_service_note note;     /* what it said about itself */
	bool cg_made;          /* its cgroup was made (cgroup.h), once */
	bool cg_killed;        /* ... and killed since: made anew (below) */
	bool limits_written;   /* its cgroup's limit files may differ from
				* the kernel's defaults (runtime_limits.c) */
	bool cg_empty;         /* ... and known empty since its last death */
	uint64_t oom_kills;    /* its cgroup's oom_kill count at its spawn */
};

struct runtime {
	struct ev_loop *loop;
	struct arb_spec *spec; /* the live one: the living tree changes it */
	const struct arb_mode *mode;
	struct arb_system *system; /* as PID 1 only: the root's end is its */
	struct arb_tree *tree;
	struct arb_actions out;
	/* One per node slot of the spec, allocated one by one: libev holds
	 * pointers to their watchers, and the living tree adds slots. */
	struct rt_node **nodes;
	uint32_t nnodes, nodes_cap; /* slots, and room: the spec's cap */
	uint32_t nofile_nodes; /* the descriptor limit holds this many */
	struct arb_living *living;
	const char *config_path;
	struct arb_service_procs procs; /* whose each process is */
	struct arb_notify *notify; /* NULL when no service uses it */
	struct arb_envp *plain_env; /* shared by the services of env_is_plain() */
	struct arb_spawner spawner;
	struct arb_control *control;
	struct arb_logs *logs;
	struct arb_reaper reaper; /* libev's is not in arb_loop() */
	ev_signal sig_term, sig_int, sig_hup;
	int devnull;
	int exit_code;
	bool down; /* the root is gone: leave the loop */

	/* The core failed (core_lost): it is fed nothing more, and the
	 * services are stopped without it; the kill deadline, when no init
	 * ends the tree. internal_errors counts broken invariants. */
	bool lost;
	ev_timer lost_timer;
	ev_timer trim_timer; /* the heap's return after a shrink */
	long long internal_errors;

	/* Events waiting to be fed, in order; one per node at most, + signals. */
	struct event_fifo pending;
	bool feeding;

	/*
	 * Failed starts wait here for the loop to be idle: the retry they
	 * cause (R1) must let reaps and signals in between (R3), or a program
	 * that can no longer start would spin here until intensity runs out.
	 */
	struct event_fifo failed;
	ev_idle failed_idle;

	/*
	 * Deaths wait here until the loop is about to poll again. The reaper
	 * reaps until no child is left dead; a restart made from inside that
	 * loop makes a new child that can die before the loop ends, so
	 * services that crash at once would keep arbord from ever polling its
	 * sockets and signals again.
	 */
	struct event_fifo exits;
	ev_prepare exits_prepare;

	/* Re-exec (reexec.c): the binary arbord was started from, its
	 * command line, and the re-exec under way (NULL: none). */
	const char *self_exe;
	struct stat self_stat; /* the running binary as it was at the start */
	bool self_known;
	char *const *argv;
	struct arb_reexec *reexec;
	const char *socket_path;

	/* Containment (cgroup.h): off unless arb_runtime_run found a
	 * cgroup2 to use; deaths held until their leaf is empty. */
	struct arb_cgroup cg;
	struct arb_emptying emptying;
};


/* runtime.c: feeds ev and everything its actions cause. */
void rt_feed(struct runtime *rt, const struct arb_event *ev);
/* (Re)arms node's timer to fire at at_ms (monotonic). */
void rt_timer_set(struct runtime *rt, uint32_t node, int64_t at_ms);
/* Starts watching a MAINPID= process's pidfd for node. */
void rt_main_watch(struct runtime *rt, uint32_t node, int fd);
/* Makes r's ready pipe (closed) unless it has one. 0 or -ENOMEM. */
int rt_ready_pipe(struct rt_node *r);
/* What services say on the notify socket (an arb_notify_fn; ctx: rt). */
void rt_on_notify(void *ctx, int pid, long uid, const struct arb_notify_msg *m);
/* Queues a death to be fed when the loop is about to poll. */
void rt_queue_exit(struct runtime *rt, const struct arb_event *ev);

/* runtime_cgroup.c: containment (cgroup.h, emptying.h). */
struct arb_runtime_args;
/* Opens the base (--no-cgroups: off; a re-exec: the one handed over). */
void rt_cgroup_open(struct runtime *rt, const struct arb_runtime_args *a);
/* event=containment: which containment is in force (once the logs are
 * arbord's: a resumed image's after they are restored). */
void rt_cgroup_say(struct runtime *rt);
/* arbord leaves: the tree's cgroups removed, arbord back where it was. */
void rt_cgroup_close(struct runtime *rt);
/* The state's "cgroup": {"base": S}, or null when off. */
json_t *rt_cgroup_save(const struct runtime *rt);
/* A resumed tree: each node's cgroup made anew before its next spawn. */
void rt_cgroup_resumed(struct runtime *rt);
/* node's cgroup made (once) and opened for its spawn: the descriptor to
 * close after it, -1 when off (rt->cg.on tells -1 from -EPERM), or
 * -errno. */
int rt_cgroup_spawn_fd(struct runtime *rt, uint32_t node);
/* A service's main process died (ev, ARB_EV_EXITED): ev->oom is set, and
 * true when ev is held until its leaf is empty (then fed by itself). */
bool rt_cgroup_hold_exit(struct runtime *rt, struct arb_event *ev);
/* SIGKILL to everything in node's cgroup (ARB_ACT_KILL). */
void rt_cgroup_kill(struct runtime *rt, uint32_t node);
/* node left the tree: its held death, if any, dropped; its cgroup removed. */
void rt_cgroup_forget(struct runtime *rt, uint32_t node);

/* runtime_limits.c: cgroup limits (cgroup_limits.h). */
/* At the start, before any child: each limit of the spec that the
 * cgroup2 in force cannot apply said on stderr (FILE:LINE), and then
 * -ENOTSUP; 0 when all can; -ENOMEM. */
int rt_limits_check(struct runtime *rt);
/* Before node's spawn into its leaf dirfd: its limits written (every
 * file once some were, so that a removed one is lifted), and, when the
 * leaf was just made, its supervisors' (made with it). 0, or -errno
 * said on stderr with the file. */
int rt_limits_spawn(struct runtime *rt, uint32_t node, int dirfd, bool made);
/* A reload changed node's limits in place: its cgroup's files follow,
 * if it has a cgroup yet (else they are written when it is made). */
void rt_limits_changed(struct runtime *rt, uint32_t node);

/* Whether nothing is under way that a saved state could not carry: no
 * start before its exec, no event waiting to be fed, no reload. */
bool rt_settled(const struct runtime *rt);

#endif
