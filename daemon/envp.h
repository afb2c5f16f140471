/*
 * envp.h - the environment a service is started with.
 *
 * Built once per node, before any fork, and reused for each start. Its
 * layers, later winning over earlier for the same KEY:
 *   1. the base: a clean environment (PATH and the user's HOME, USER,
 *      LOGNAME, SHELL), or arbord's own with inherit_env, minus the
 *      protocol variables systemd may have given arbord itself;
 *   2. the node's env entries (env_file's, then env's), in order;
 *   3. the protocol variables: LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID
 *      with listen; WATCHDOG_USEC and WATCHDOG_PID with a watchdog;
 *      NOTIFY_SOCKET with ready = "notify" or a watchdog.
 * The pids in LISTEN_PID and WATCHDOG_PID are the child's own, known only
 * in the child: their strings have room for any pid, and the child writes
 * its pid there before exec (spawn.c).
 */
#ifndef ARB_ENVP_H
#define ARB_ENVP_H

#include <stddef.h>

#include "core/spec.h"

/* The PATH of the clean environment. */
#define ARB_ENVP_PATH \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Room for the digits of any pid (a positive int) and the NUL. */
#define ARB_ENVP_PID_ROOM 11

/* Strings an environment allocates itself: 5 of the clean base (PATH,
 * HOME, USER, LOGNAME, SHELL) and 6 protocol variables at most. */
#define ARB_ENVP_OWN_MAX 11

struct arb_envp {
	char **v;         /* NULL-terminated: what execve gets */
	char *pid_at[2];  /* where the child writes its pid (the value of
			   * LISTEN_PID=, WATCHDOG_PID=), NULL when absent */
	char *own[ARB_ENVP_OWN_MAX]; /* strings owned; the others in v are
				      * the spec's or the inherited ones */
	size_t nown;
};

/*
 * The environment of service n. inherited is arbord's environ, used as
 * the base only with n->inherit_env; borrowed, like the spec's strings,
 * for as long as the result lives. notify_socket (NULL: none) is the
 * address for NOTIFY_SOCKET. NULL on OOM. Makes no syscalls.
 */
struct arb_envp *arb_envp_new(const struct arb_spec_node *n,
			      char *const *inherited,
			      const char *notify_socket);

/* Frees e and the strings it owns. NULL is a no-op. */
void arb_envp_free(struct arb_envp *e);

#endif
