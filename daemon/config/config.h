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
#include <stdio.h>

#include "core/spec.h"

enum arb_diag_level { ARB_DIAG_ERROR, ARB_DIAG_WARNING };

struct arb_diag_entry {
	enum arb_diag_level level;
	char *text; /* "FILE:LINE: message", no trailing newline */
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

/*
 * Writes the resolved tree as libconfig text that arb_config_load reads
 * back to the same spec, each defaulted value marked "# default".
 */
void arb_config_print(const struct arb_spec *spec, FILE *out);

#endif
