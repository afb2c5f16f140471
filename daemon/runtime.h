/*
 * runtime.h - the shell around the core: carries out the core's actions
 * with libev and feeds what happens back to it as events.
 */
#ifndef ARB_RUNTIME_H
#define ARB_RUNTIME_H

#include "init/pid1.h"
#include "core/spec.h"

/*
 * Runs the tree of `spec` (borrowed; the living tree changes it, and a
 * reload reads config_path again) on libev's default loop until the root
 * is down, serving the control socket at socket_path. `mode` (borrowed)
 * says how: as a service manager, or as PID 1 (init/init.h), where the root's
 * end is not arbord's. Returns arbord's exit status (M10): 0 after a
 * requested stop or an auto shutdown, 1 after the root gave up or failed
 * to start; -errno if the runtime itself could not be set up (nothing was
 * started then): -EALREADY when another arbord serves socket_path. As the
 * system's init it returns only when it is not PID 1 after all (--init).
 */
int arb_runtime_run(struct arb_spec *spec, const char *config_path,
		    const char *socket_path, const struct arb_mode *mode);

#endif
