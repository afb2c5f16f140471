/*
 * runtime_state.h - the runtime's whole state saved into a re-exec state
 * document, and restored from one by the new image (state/FORMAT.md).
 */
#ifndef ARB_RUNTIME_STATE_H
#define ARB_RUNTIME_STATE_H

#include <stdio.h>

#include "state/state.h"

struct runtime;

/*
 * Everything but the control socket (arb_control_hand_over's) into o:
 * spec, tree, runtime, logs, notify, manager, with binary and argv. The
 * runtime must be settled (rt_settled). 0 or -ENOMEM.
 */
int rt_save(struct runtime *rt, struct arb_state_out *o, const char *binary);

/*
 * Into rt, fresh from runtime_init for the restored spec: the tree, the
 * shell's nodes, logs, notify socket. 0, -EINVAL (in->error says why) or
 * -ENOMEM.
 */
int rt_restore(struct runtime *rt, struct arb_state_in *in);

/*
 * `arbord --probe-state FD`: reads the state in fd as a resume would,
 * and the configuration file its command line names, without taking
 * anything over (config_path: the file a failed resume would fall back
 * to, which must load too). Prints "arbord VERSION state VERSION" on out and returns
 * 0, or prints the first problem on err and returns 1.
 */
int arb_state_probe(int fd, const char *config_path, FILE *out, FILE *err);

#endif
