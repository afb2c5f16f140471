/*
 * shell.h - the emergency shell of the system's init: on_giveup = "shell"
 * (init.c), and a configuration that cannot run (main.c).
 */
#ifndef ARB_SHELL_H
#define ARB_SHELL_H

#include "pid1.h"

/*
 * Starts argv as the emergency shell: its own session, /dev/console as its
 * terminal when arbord is PID 1 outside a container (else the descriptors
 * it inherits), default signals. The caller learns of its end through its
 * reaper. 0 and *ret_pid, or -errno: -ENOENT or -EACCES, without forking,
 * when argv[0] is no executable file.
 */
int arb_shell_start(const struct arb_mode *m, char *const argv[],
		    int *ret_pid);

/*
 * Waits for the shell pid to end, reaping every other child meanwhile;
 * only for when no event loop runs (it would reap them). Its wait status,
 * or -errno.
 */
int arb_shell_wait(int pid);

#endif
