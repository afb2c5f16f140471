/*
 * runtime.h - the shell around the core: carries out the core's actions
 * with libev and feeds what happens back to it as events.
 */
#ifndef ARB_RUNTIME_H
#define ARB_RUNTIME_H

#include "init/pid1.h"
#include "core/spec.h"

struct arb_state_in;

struct arb_runtime_args {
	struct arb_spec *spec;   /* borrowed; the living tree changes it */
	const char *config_path; /* a reload reads it again */
	const char *socket_path;
	const struct arb_mode *mode;
	const char *self_exe;    /* the file arbord was started from: what
				  * a re-exec runs by default */
	char *const *argv;       /* arbord's command line (a re-exec passes it
				  * on, but for --resume and --probe-state) */
	struct arb_state_in *resume; /* a re-exec's state, or NULL: boot */
	bool no_cgroups;         /* --no-cgroups: process groups alone */
};

/*
 * Runs the tree of `spec` on libev's default loop until the root is down,
 * serving the control socket at socket_path, as `mode` says: as a service
 * manager, or as PID 1 (init/init.h), where the root's end is not
 * arbord's. With `resume`, the tree is not booted but taken over from the
 * state of the image that re-exec'd into this one (runtime_state.h).
 * Returns arbord's exit status (M10): 0 after a requested stop or an auto
 * shutdown, 1 after the root gave up or failed to start; -errno if the
 * runtime itself could not be set up (nothing was started then):
 * -EALREADY when another arbord serves socket_path, -EINVAL when the
 * resume state was refused. As the system's init it returns only when it
 * is not PID 1 after all (--init).
 */
int arb_runtime_run(const struct arb_runtime_args *args);

/*
 * What a resume would do with the state in `in` for `spec` (its spec,
 * read already), in a runtime of its own that serves nothing, starts
 * nothing and is freed at once: every part is read and checked, every
 * descriptor taken (then closed). 0, -EINVAL (in's error says why) or
 * -ENOMEM. For --probe-state and the tests.
 */
int arb_runtime_probe(struct arb_spec *spec, struct arb_state_in *in);

#endif
