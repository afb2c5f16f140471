/*
 * spawn.h - fork/exec of one service with its execution context.
 */
#ifndef ARB_SPAWN_H
#define ARB_SPAWN_H

#include "spec.h"

/*
 * Starts the service `n` in a new session and process group, with stdin on
 * stdin_fd (not consumed), stdout and stderr inherited, every other
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
int arb_spawn_service(const struct arb_spec_node *n, char *const *envp,
		      int stdin_fd, int *ret_pid);

/*
 * A new environment: base with every KEY=value of overrides replacing or
 * added. NULL-terminated; free with arb_spawn_env_free(). NULL on OOM.
 */
char **arb_spawn_env_new(char *const *base, char *const *overrides);
void arb_spawn_env_free(char **env);

#endif
