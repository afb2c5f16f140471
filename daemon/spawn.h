/*
 * spawn.h - fork/exec of one service with its execution context.
 */
#ifndef ARB_SPAWN_H
#define ARB_SPAWN_H

#include <stdbool.h>
#include <stdint.h>

#include "envp.h"
#include "core/limits.h"
#include "core/spec.h"

/* What every spawn shares: made once, reused for each child. */
struct arb_spawner {
	int stdin_fd;     /* the children's stdin (borrowed) */
	uint64_t altered; /* bit s-1: signal s is not at SIG_DFL in arbord */
	size_t page;
	/* Blocks (a child's stack and arguments) no child uses, for reuse. */
	void *blocks[ARB_SPAWN_BLOCKS_KEPT];
	int nblocks;
	int max_fd;       /* where the pre-5.11 descriptor sweep stops */
	/* The descriptor limit arbord had before raising its own for the
	 * pipes of many services: what every child gets back. */
	uint64_t nofile_cur, nofile_max;
	bool restore_nofile;
	/*
	 * Low descriptors held on /dev/null (close-on-exec), where a start
	 * puts what it hands the child: the child then shares arbord's table
	 * (CLONE_FILES) and keeps only the descriptors below slot_top
	 * (close_range's CLOSE_RANGE_UNSHARE), instead of a copy of all of
	 * them, two per service's log pipes, to close again at exec.
	 */
	int slots[ARB_SPAWN_SLOTS];
	int nslots;
	int slot_top; /* above every slot; 0: no slots */
	uint32_t slots_busy; /* bit i: slots[i] is a child's until it has
			      * its own table */
	/* clone3 refused to start a child in its cgroup (a kernel before
	 * 5.7): from then on each child moves itself there. */
	bool cgroup_by_procs;
};

/* A start under way: the child runs, its exec is not known yet. */
struct arb_start {
	int pid;        /* the child; 0: no start under way */
	int status_fd;  /* its status pipe (non-blocking), to watch; -1: none */
	uint32_t slots; /* the slots it holds until it has its own table */
	void *block;    /* its stack and arguments, until it is done */
};

/* arb_start_read(): nothing decisive yet; call again when readable. */
#define ARB_START_PENDING 1

/*
 * Prepares spawning with stdin_fd as the children's stdin, and snapshots
 * which signal dispositions of arbord are not the default: the child resets
 * exactly those. Call it after arbord has set up its signal handling, and
 * arb_spawner_refresh() whenever a disposition changes. 0 or -errno.
 */
int arb_spawner_init(struct arb_spawner *sp, int stdin_fd);
void arb_spawner_refresh(struct arb_spawner *sp);
void arb_spawner_done(struct arb_spawner *sp);

/* Keeps one start's stack of those kept: after a burst of starts, the
 * rest goes back to the system. */
void arb_spawner_trim(struct arb_spawner *sp);

/* Every signal, for arb_spawn_reset_signals(). */
#define ARB_SIGNALS_ALL UINT64_MAX

/*
 * For a child between fork and exec (a service's, the emergency shell's):
 * the signals of which (bit s-1: signal s) back to SIG_DFL, with no flags
 * and an empty mask, through the raw rt_sigaction, because glibc's
 * sigaction() refuses its reserved 32 and 33. Async-signal-safe.
 */
void arb_spawn_reset_signals(uint64_t which);

/*
 * The descriptors a start passes on besides 0-2. Every pointer and fd is
 * borrowed: the caller keeps them open and closes them itself.
 */
struct arb_spawn_io {
	int stdout_fd, stderr_fd; /* given as 1 and 2; -1: arbord's own */
	const int *listen_fds; /* nlisten sockets, given as fds 3, 4, ... */
	int nlisten;           /* 0 .. ARB_LISTEN_MAX */
	int ready_fd;          /* the write end of the readiness pipe, given
				* as descriptor n->ready_fd (fd:N); -1: none */
	int cgroup_fd;         /* the directory of the cgroup the child starts
				* in (cgroup.h); -1: arbord's own */
};

/*
 * Starts the service `n` with environment env (envp.h), in the cgroup of
 * io's cgroup_fd when it is not -1: from its first instruction (clone3
 * with CLONE_INTO_CGROUP, Linux 5.7); where clone3 refuses that (learnt at
 * the first refusal, then remembered in sp), the child's first step, once
 * its descriptor table is its own, is to write itself into the cgroup's
 * cgroup.procs, and it fails at step "cgroup" when it cannot. Without a
 * cgroup_fd it stays in arbord's cgroup, at no extra cost. The child, in
 * this order: drops arbord's low descriptors (the spawner's slots among
 * them) that it is not handed; resets every signal disposition arbord
 * changed; leads a new session and process group; sets n's rlimits, nice
 * value and umask; takes n's groups, gid and uid when n->set_ids (the
 * supplementary groups only when it can: an unprivileged arbord running a
 * service as itself keeps its own); changes to n->cwd as that user; sets
 * no_new_privileges; puts stdin on the spawner's stdin_fd, io's stdout_fd
 * and stderr_fd on 1 and 2 (arbord's own when -1), io's sockets on 3, 4,
 * ... and its ready_fd on n->ready_fd, closing every other descriptor at
 * exec; writes its pid into env's LISTEN_PID and WATCHDOG_PID (so env
 * serves no other start until this one is over); and execs with an empty
 * signal mask. Everything is resolved before this call, and n and env stay
 * as they are until the start is over: the child may read them while
 * arbord runs on. The child side only makes raw syscalls. io may be NULL:
 * no descriptors beyond 0-2.
 *
 * Returns as soon as the child exists, whatever it does next (a cwd on a
 * hung mount holds the child, never arbord): 0 and *ret_start, the start
 * under way, whose status_fd the caller watches for reading and hands to
 * arb_start_read(). On failure there is no child: -errno, and
 * *failed_step, when failed_step is not NULL, names what failed ("pipe",
 * "clone", or "cgroup" when clone3 could not place the child: cgroup_fd
 * is no cgroup2 directory, a removed one, or one arbord may not write);
 * -EINVAL when io does not fit n (too many sockets, or a ready_fd below 3
 * or among the sockets'). cgroup_fd may be closed as soon as this
 * returns.
 */
int arb_spawn_service(struct arb_spawner *sp, const struct arb_spec_node *n,
		      struct arb_envp *env, const struct arb_spawn_io *io,
		      struct arb_start *ret_start, const char **failed_step);

/*
 * What the child of st said so far. ARB_START_PENDING: nothing final (it
 * may have freed its slots); 0: it exec'ed, or died without a word
 * (killed before exec: its death follows); -errno: it failed, and
 * *failed_step names the step for a diagnostic ("setrlimit", "chdir",
 * "setresuid", "exec", ...); it exits with status 127. After 0 or -errno
 * the start is over: st's pipe is closed and st->pid is 0.
 */
int arb_start_read(struct arb_spawner *sp, struct arb_start *st,
		   const char **failed_step);

/*
 * The child of st has been reaped before its start was over: its last
 * word, as arb_start_read() gives it, but never ARB_START_PENDING (0
 * when it said nothing). The start is over.
 */
int arb_start_reaped(struct arb_spawner *sp, struct arb_start *st,
		     const char **failed_step);

/*
 * arbord is done with st (it is leaving, or could not keep track of the
 * child): a child still before exec is killed, the pipe closed, the slots
 * freed; the block is left to the child, which may still run on it.
 */
void arb_start_abandon(struct arb_spawner *sp, struct arb_start *st);

#endif
