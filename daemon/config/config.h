/*
 * config.h - loading arbor.conf and the *.conf files of conf.d/ into a spec,
 * and printing a spec back as configuration (`arbord --check`).
 *
 * The loader reports every problem it finds, not just the first, each as
 * one line "FILE:LINE: message" in an arb_diag; a spec is produced only
 * when there is no error. No pointer into libconfig's tree outlives
 * arb_config_load (STYLE.md 4).
 */
#ifndef ARB_CONFIG_H
#define ARB_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/spec.h"

enum arb_diag_level { ARB_DIAG_ERROR, ARB_DIAG_WARNING };

struct arb_diag_entry {
	enum arb_diag_level level;
	/* "FILE:LINE: message", or "FILE:LINE:COLUMN: message" when the
	 * column is known; no trailing newline. */
	char *text;
	int line;            /* from 1; 0: the entry is about a whole file */
	int column;          /* from 1; 0: unknown (always, in a file) */
	const char *message; /* within text, past "FILE:LINE:COLUMN: " */
};

struct arb_diag {
	struct arb_diag_entry *entries;
	size_t n;
	size_t nerrors;
	size_t nwarnings;
};

/* Frees what a diag holds and empties it; the struct itself is the caller's. */
void arb_diag_done(struct arb_diag *d);

/*
 * Reads `path`, then every *.conf file in the conf.d/ directory next to
 * `path`, in lexical order, and validates the result (DESIGN.md
 * "Configuration"). Entries are appended to *diag, which the caller
 * zero-initialises and empties with arb_diag_done.
 * Returns 0 and sets *ret_spec (owned by the caller) when there is no
 * error; warnings may still be in *diag. Returns -EINVAL when there are
 * errors (all of them in *diag; *ret_spec untouched), -ENOMEM on OOM.
 */
int arb_config_load(const char *path, struct arb_spec **ret_spec,
		    struct arb_diag *diag);

/* The file name in the diagnostics of arb_config_parse_child. */
#define ARB_CONFIG_SPEC_NAME "spec"

/*
 * Reads `text`, one child in arbor.conf syntax (the body of a group,
 * `name = "x"; exec = [ "sleep", "9" ];`, or the same in braces), as a
 * new last child of supervisor `parent` of `spec`, validated exactly as
 * arb_config_load validates a child: its keys, its own children or
 * template, names, depth, the caps of limits.h, C5. What is relative to
 * `parent` is read from spec->nodes[parent]: its depth and path (depth
 * caps, the child's path in messages), strategy (a pool takes no child),
 * auto_shutdown (C5), log (inherited), nchildren (ARB_CHILDREN_MAX);
 * spec->nnodes counts toward ARB_NODES_MAX. Whether `parent` already has
 * a child of that name is not checked here. A relative env_file is taken
 * from "/"; @include is refused.
 *
 * Entries go to *diag as with arb_config_load, their file named
 * ARB_CONFIG_SPEC_NAME, with a line in `text` and, where one can be
 * found, a column. Returns 0 and sets *ret_node (the new child's index)
 * when there is no error; -EINVAL with the errors in *diag, or -ENOMEM.
 * On failure spec may hold the child half-built, attached to `parent`:
 * it is a scratch spec, to be freed.
 */
int arb_config_parse_child(const char *text, struct arb_spec *spec,
			   uint32_t parent, uint32_t *ret_node,
			   struct arb_diag *diag);

struct arb_cgroup;

/*
 * Each cgroup limit of spec (memory_max, cpu_max, ...: every one is
 * given explicitly) that the cgroup2 described by cg cannot apply, as an
 * error "FILE:LINE: child 'PATH': memory_max: the memory controller is
 * not available (cgroup2 at BASE offers none)" at the node's line, or
 * "...: limits need cgroup2, and arbord has none (WHY)" when !cg->on.
 * cg is only read (on, base, controllers, why_off: what
 * arb_cgroup_probe or arb_cgroup_open found, or a test's): no cgroup is
 * looked at. Returns the number of errors appended to *diag, or -ENOMEM.
 * The same check refuses a configuration at start-up, in --check and in
 * a reload.
 */
int arb_config_check_limits(const struct arb_spec *spec,
			    const struct arb_cgroup *cg, struct arb_diag *diag);

/*
 * Writes the resolved tree as libconfig text that arb_config_load reads
 * back to the same spec, each defaulted value marked "# default".
 */
void arb_config_print(const struct arb_spec *spec, FILE *out);

/*
 * Writes one node as arb_config_print writes it among its siblings: a
 * child as its group, "{ name = ...; ... }" (what AddChild takes back),
 * the root as the whole tree.
 */
void arb_config_print_node(const struct arb_spec *spec, uint32_t node,
			   FILE *out);

#endif
