/*
 * spawn.h - fork/exec of one service with its execution context.
 */
#ifndef ARB_SPAWN_H
#define ARB_SPAWN_H

#include <stdint.h>

#include "spec.h"

/* What every spawn shares: made once, reused for each child. */
struct arb_spawner {
	int stdin_fd;     /* the children's stdin (borrowed) */
	uint64_t altered; /* bit s-1: signal s is not at SIG_DFL in arbord */
	char *stack;      /* the child's stack while it runs before exec */
	void *map;        /* the stack's mapping, guard page included */
	size_t map_size;
	int max_fd;       /* where the pre-5.11 descriptor sweep stops */
};

/*
 * Prepares spawning with stdin_fd as the children's stdin, and snapshots
 * which signal dispositions of arbord are not the default: the child resets
 * exactly those. Call it after arbord has set up its signal handling, and
 * arb_spawner_refresh() whenever a disposition changes. 0 or -errno.
 */
int arb_spawner_init(struct arb_spawner *sp, int stdin_fd);
void arb_spawner_refresh(struct arb_spawner *sp);
void arb_spawner_done(struct arb_spawner *sp);

/*
 * Starts the service `n` in a new session and process group, with stdin on
 * the spawner's stdin_fd, stdout and stderr inherited, every other
 * descriptor closed, the signal mask empty and every disposition default,
 * and environment envp. Everything is resolved before this call; the child
 * side only makes async-signal-safe syscalls.
 *
 * Returns only once the child has exec'ed or failed to (the parent is
 * suspended meanwhile, as with vfork), so success means the program runs:
 * 0 and *ret_pid; -errno when fork or exec failed (*ret_pid untouched; a
 * child whose exec failed has exited with status 127 and is reaped as an
 * unknown pid).
 */
int arb_spawn_service(const struct arb_spawner *sp,
		      const struct arb_spec_node *n, char *const *envp,
		      int *ret_pid);

/*
 * A new environment: base with every KEY=value of overrides replacing or
 * added. NULL-terminated; free with arb_spawn_env_free(). NULL on OOM.
 */
char **arb_spawn_env_new(char *const *base, char *const *overrides);
void arb_spawn_env_free(char **env);

#endif
