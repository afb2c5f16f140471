/*
 * cgroup.h - the supervision tree as a cgroup v2 tree (issue 15).
 *
 * arbord finds a cgroup2 directory it may write (its "base"), moves itself
 * into a leaf of its own there (base/arbord: cgroup v2's no-internal-
 * processes rule), and mirrors the tree below base/tree: a cgroup per
 * supervisor, a leaf per service (pool instances included), named after
 * the nodes. A service starts directly in its leaf (spawn.c, clone3's
 * CLONE_INTO_CGROUP), is killed as a whole (cgroup.kill), and is gone only
 * when its leaf is empty (cgroup.events "populated 0", watched with
 * inotify through the loop). Where no writable cgroup2 is found, `on` is
 * false and arbord works with process groups alone, as before.
 *
 * Where the base is:
 *   - as PID 1: cgroup2 mounted at /sys/fs/cgroup (if it is not yet), its
 *     root;
 *   - otherwise the cgroup arbord runs in (/proc/self/cgroup's "0::"
 *     line, under the cgroup2 mount found in /proc/self/mountinfo: at
 *     /sys/fs/cgroup on a unified host, /sys/fs/cgroup/unified on a hybrid
 *     one), when arbord is the only process in it (systemd's Delegate=yes,
 *     a container's init): base is that cgroup;
 *   - when others share it (a shell's session): base is a new cgroup
 *     "arbord-PID" beside them, made and removed by arbord.
 *   A re-executed arbord takes its base from the state it was handed.
 *
 * A node's cgroup, relative to base: the root supervisor is "tree", its
 * children "tree/NAME", and so on down the path. A name that holds a '.'
 * or begins with '_' is written with a '_' before it, so no child's name
 * can be taken for one of cgroup's own files (memory.max) and no two names
 * meet.
 *
 * Controllers: those of base's cgroup.controllers among cpu, io, memory
 * and pids are enabled in base's and every supervisor's
 * cgroup.subtree_control. On a hybrid host there are none: placement,
 * kill and tracking still work, limits are unavailable.
 */
#ifndef ARB_CGROUP_H
#define ARB_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/spec.h"

/* enum arb_cg_controller: core/spec.h, beside the limits they serve. */

/* Longest relative path of a node's cgroup, NUL included. */
#define ARB_CG_REL_MAX 4096

struct arb_cgroup {
	bool on;           /* false: process groups alone (no writable cgroup2) */
	int base_fd;       /* base's directory (O_DIRECTORY), -1 when !on */
	char *base;        /* its absolute path, /sys/fs/cgroup/... */
	char *origin;      /* arbord's cgroup before it moved, to go back to at
			    * exit, absolute; NULL: none to go back to */
	bool made_base;    /* base is arbord-PID, made by arbord: removed at exit */
	unsigned controllers; /* enum arb_cg_controller bits enabled below base */
	bool has_kill;     /* cgroup.kill exists (Linux 5.14) */
	int inotify_fd;    /* cgroup.events of leaves being emptied; -1: none */
	const char *why_off; /* !on: why, for status and the log ("no cgroup2
			      * mount", "read-only", ...) */
};

/*
 * Finds the base and settles arbord in it, as above; as_pid1 (the
 * system's init: PID 1 outside any container): mount cgroup2 at
 * /sys/fs/cgroup first, and take the hierarchy's root as base. Anyone
 * else never takes the real root (a PID 1 of a mere pid namespace sees
 * only itself in its cgroup.procs). resumed_base: the base a re-exec
 * handed over (NULL otherwise). Never fails: *cg is off, with why_off
 * set, when there is nothing to use.
 */
void arb_cgroup_open(struct arb_cgroup *cg, bool as_pid1,
		     const char *resumed_base);

/* cg off, with why (--no-cgroups), as arb_cgroup_open() leaves it when
 * nothing is usable. */
void arb_cgroup_off(struct arb_cgroup *cg, const char *why);

/*
 * What arb_cgroup_open() would find, without changing anything: whether
 * a cgroup2 is usable, where base would be and which controllers it
 * offers (for --check). Free what it holds with arb_cgroup_release().
 */
void arb_cgroup_probe(struct arb_cgroup *cg);

/*
 * arbord leaves for good (not a re-exec): the tree's cgroups, empty by
 * now, are removed, arbord goes back to its origin, and a base it made is
 * removed. Closes everything.
 */
void arb_cgroup_close(struct arb_cgroup *cg);

/* A re-exec: descriptors closed, nothing removed. */
void arb_cgroup_release(struct arb_cgroup *cg);

/*
 * node's cgroup relative to base ("tree/web/_app.1") into buf. Its
 * length, or -ENAMETOOLONG.
 */
int arb_cgroup_rel(const struct arb_spec *spec, uint32_t node, char *buf,
		   size_t size);

/*
 * Makes node's cgroup, and its supervisors' that do not exist yet,
 * enabling the controllers in each supervisor's subtree_control. 0 when
 * it exists, or -errno.
 */
int arb_cgroup_make(struct arb_cgroup *cg, const struct arb_spec *spec,
		    uint32_t node);

/* A directory descriptor of node's cgroup for clone3 (O_CLOEXEC), or -errno. */
int arb_cgroup_open_dir(struct arb_cgroup *cg, const struct arb_spec *spec,
			uint32_t node);

/* Removes node's cgroup (it is empty), its children's first. 0 or -errno. */
int arb_cgroup_remove(struct arb_cgroup *cg, const struct arb_spec *spec,
		      uint32_t node);

/*
 * SIGKILL to every process in node's cgroup: cgroup.kill, or before 5.14
 * each pid of cgroup.procs until none is left. 0 or -errno.
 */
int arb_cgroup_kill(struct arb_cgroup *cg, const struct arb_spec *spec,
		    uint32_t node);

/* Whether node's cgroup still holds a process: 1, 0, or -errno. */
int arb_cgroup_populated(struct arb_cgroup *cg, const struct arb_spec *spec,
			 uint32_t node);

/*
 * An inotify watch (IN_MODIFY) of node's cgroup.events on cg->inotify_fd,
 * while runtime.c waits for a killed leaf to empty: the watch descriptor
 * or -errno. Re-read populated after it: it may have emptied before.
 */
int arb_cgroup_watch(struct arb_cgroup *cg, const struct arb_spec *spec,
		     uint32_t node);

/* Removes a watch arb_cgroup_watch() gave (-1: none). */
void arb_cgroup_unwatch(struct arb_cgroup *cg, int wd);

/* The oom_kill count of node's memory.events; 0 without the memory
 * controller or the file. */
uint64_t arb_cgroup_oom_kills(struct arb_cgroup *cg,
			      const struct arb_spec *spec, uint32_t node);

/* Names of the controllers in bits, space-separated ("cpu memory"), or "". */
const char *arb_cgroup_controller_names(unsigned bits, char *buf,
					size_t size);

#endif
