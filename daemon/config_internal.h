/*
 * config_internal.h - what config.c and config_keys.c share. Not an API.
 *
 * Only config*.c include this header; the rest of arbord knows the loader
 * through config.h alone. config.c owns the diagnostics and the walk over
 * files and the tree of children; config_keys.c reads the keys of one node
 * for it. Nothing declared here keeps a pointer into libconfig past the
 * arb_config_load call it belongs to.
 */
#ifndef ARB_CONFIG_INTERNAL_H
#define ARB_CONFIG_INTERNAL_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "spec.h"

#define PRINTF(f, a) __attribute__((format(printf, f, a)))

/* State of one arb_config_load call. */
struct loader {
	struct arb_spec *spec;
	struct arb_diag *diag;
	const char *main_file; /* spec-owned copy of the main file's name */
	const char *file;      /* spec-owned name of the file being read */
	const char *include_dir; /* the main file's directory, for @include */
	bool oom;
	bool nodes_full; /* ARB_NODES_MAX reported once, not per child */
};

/* One node whose keys are being read. */
struct node_ctx {
	struct loader *ld;
	uint32_t idx;
	bool top; /* the root's children list: no "supervisor: " prefix */
	const config_setting_t *significant; /* "significant = true", for C5 */
};

/* Where a key may appear. */
enum {
	IN_SERVICE = 1u << 0,
	IN_SUPERVISOR = 1u << 1,
	IN_ROOT = 1u << 2, /* the top-level `supervisor = { ... }` group */
};

/* The spec node whose keys c is reading. */
static inline struct arb_spec_node *
node(struct node_ctx *c)
{
	return &c->ld->spec->nodes[c->idx];
}

/* ---- diagnostics (config.c) ------------------------------------------- */

/*
 * An error or a warning at setting `at` about node c->idx, appended to the
 * diag as "FILE:LINE: child 'PATH': message"; the prefix is "supervisor: "
 * for the root's own flags and empty when c->top. Sets c->ld->oom on OOM.
 */
PRINTF(3, 4) void node_err(struct node_ctx *c, const config_setting_t *at,
			   const char *fmt, ...);
PRINTF(3, 4) void node_warn(struct node_ctx *c, const config_setting_t *at,
			    const char *fmt, ...);

/*
 * "DIR/NAME" from the first dirlen bytes of dir, in fresh memory the caller
 * frees with arb_free; NULL with ld->oom set on OOM.
 */
char *join(struct loader *ld, const char *dir, size_t dirlen,
	   const char *name);

/* ---- key parsing (config_keys.c) -------------------------------------- */

/* "a string", "an integer", ...: what a setting is, for messages. */
const char *type_name(const config_setting_t *s);

/*
 * Sets *ret to the string value of `s` (libconfig's memory: copy it before
 * the file is destroyed). -1, after reporting, when `s` is not a string.
 */
int get_string(struct node_ctx *c, const config_setting_t *s,
	       const char **ret);

/*
 * Reads every key of group `g` except name and children into node c->idx,
 * in file order, clearing each written key's bit in `defaulted`. `where` is
 * one IN_* bit; a key that does not belong there, an unknown key or a bad
 * value is reported and skipped. Stops early once c->ld->oom is set.
 */
void parse_keys(struct node_ctx *c, const config_setting_t *g,
		unsigned where);

#endif
