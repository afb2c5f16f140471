/*
 * runtime.h - the shell around the core: carries out the core's actions
 * with libev and feeds what happens back to it as events.
 */
#ifndef ARB_RUNTIME_H
#define ARB_RUNTIME_H

#include "spec.h"

/*
 * Runs the tree of `spec` (borrowed) on libev's default loop until the root
 * is down, serving the control socket at socket_path. Returns arbord's exit
 * status (M10): 0 after a requested stop or an auto shutdown, 1 after the
 * root gave up or failed to start; -errno if the runtime itself could not
 * be set up (nothing was started then): -EALREADY when another arbord
 * serves socket_path.
 */
int arb_runtime_run(const struct arb_spec *spec, const char *socket_path);

#endif
