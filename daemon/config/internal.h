/*
 * internal.h - what the loader's files share. Not an API.
 *
 * Only daemon/config/ includes this header; the rest of arbord knows the
 * loader through config.h alone. The files depend on each other one way:
 *
 *   child_spec.c  one child given as text at run time (arborctl add)
 *   load.c        the walk over files and the tree of children
 *     source.c    the text of one file, and the files it includes checked
 *     siblings.c  the names of each supervisor's children, indexed
 *     keys.c      the keys of one node, through its key table
 *       exec_context.c, log_keys.c   a service's execution keys, `log`
 *       limit_keys.c  the cgroup limits of any node
 *         values.c  typed values of a setting
 *           diag.c  "FILE:LINE: message" diagnostics
 *
 * each using only those below it, never one above (load.c also frees what
 * exec_context.c looked up, and print.c stands apart: it reads a spec).
 * Nothing declared here keeps a pointer into libconfig past the
 * arb_config_load call it belongs to.
 */
#ifndef ARB_CONFIG_INTERNAL_H
#define ARB_CONFIG_INTERNAL_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "core/spec.h"

#define PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Children's names by (parent, name): siblings.c. */
struct sibling_index {
	uint32_t *slots; /* node indices; ARB_ROOT marks an empty slot */
	uint32_t cap, n;
};

/* State of one arb_config_load call. */
struct loader {
	struct arb_spec *spec;
	struct arb_diag *diag;
	const char *main_file; /* spec-owned copy of the main file's name */
	const char *file;      /* spec-owned name of the file being read */
	const char *include_dir; /* the main file's directory, for @include */
	/* A child spec's text (arb_config_parse_child), for the columns of
	 * its diagnostics; NULL when reading files. */
	const char *text;
	bool oom;
	bool nodes_full; /* ARB_NODES_MAX reported once, not per child */
	struct sibling_index siblings; /* every named child so far */

	/* arbord's own account, looked up once for every service without
	 * `user` (exec_context.c); freed by arb_config_load. */
	struct {
		bool known;
		uint32_t uid, gid;
		char *name, *home, *shell;
	} self;
};

/* One node whose keys are being read. */
struct node_ctx {
	struct loader *ld;
	uint32_t idx;
	bool top; /* the root's children list: no "supervisor: " prefix */
	const config_setting_t *significant; /* "significant = true", for C5 */

	/*
	 * A service's keys that are checked together once all are read
	 * (finish_service): each is set only when its value was valid.
	 */
	const config_setting_t *ready, *start_timeout, *restart_delay,
		*restart_delay_max, *user, *group, *env_file;
	uint32_t group_gid;
	char **file_env; /* env_file's entries, one per KEY, until merged */

	/* A supervisor's pool keys, checked by finish_supervisor; the
	 * template group is read by load.c once the pool's keys are. */
	const config_setting_t *template_group, *max_children, *instances;
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

/* ---- diagnostics (diag.c) ------------------------------------------------ */

/* `fmt` formatted into fresh memory; NULL with ld->oom set on OOM. */
PRINTF(2, 3) char *format(struct loader *ld, const char *fmt, ...);

/* An error at FILE:LINE, or at FILE alone when line <= 0. */
PRINTF(4, 5) void at_err(struct loader *ld, const char *file, int line,
			 const char *fmt, ...);

/* An error at FILE:LINE:COLUMN (column <= 0: unknown). */
PRINTF(5, 6) void at_err_column(struct loader *ld, const char *file,
				int line, int column, const char *fmt, ...);

/* An error at setting `at`, outside any child. */
PRINTF(3, 4) void top_err(struct loader *ld, const config_setting_t *at,
			  const char *fmt, ...);

/*
 * An error or a warning at setting `at` about node c->idx, appended to the
 * diag as "FILE:LINE: child 'PATH': message"; the prefix is "supervisor: "
 * for the root's own flags and empty when c->top. Sets c->ld->oom on OOM.
 */
PRINTF(3, 4) void node_err(struct node_ctx *c, const config_setting_t *at,
			   const char *fmt, ...);
PRINTF(3, 4) void node_warn(struct node_ctx *c, const config_setting_t *at,
			    const char *fmt, ...);

/* As node_err, at line `line` of a file that is not configuration. */
PRINTF(4, 5) void node_err_at(struct node_ctx *c, const char *file, int line,
			      const char *fmt, ...);

/*
 * "DIR/NAME" from the first dirlen bytes of dir, in fresh memory the caller
 * frees with arb_free; NULL with ld->oom set on OOM.
 */
char *join(struct loader *ld, const char *dir, size_t dirlen,
	   const char *name);

/*
 * The path of a file pulled in with @include, as libconfig names it
 * (`f`, as written): libconfig opened it relative to the include
 * directory. Fresh memory, or NULL with ld->oom set.
 */
char *included_name(struct loader *ld, const char *f);

/*
 * The spec's copy of the name of the file setting `s` came from: the file
 * being read, or one it pulled in with @include.
 */
const char *file_of(struct loader *ld, const config_setting_t *s);

/* ---- the tree (load.c) --------------------------------------------------- */

/*
 * Element `pos` (from 1, for messages) of a children list, group `g`, as
 * the last child of `parent`, with its own children or template: every
 * check the loader makes of a child.
 */
void load_child(struct loader *ld, uint32_t parent, const config_setting_t *g,
		int pos);

/* ---- the text of a file (source.c) -------------------------------------- */

/*
 * The text of the configuration file `path` in fresh memory (*ret_text,
 * NUL-terminated, freed with arb_free), for config_read_string. The file
 * must be regular, and with every file it @includes (each checked the same
 * way, relative to ld->include_dir) hold at most ARB_CONF_SIZE_MAX bytes.
 * 0, or -1 after reporting every problem (or with ld->oom set).
 */
int read_config_file(struct loader *ld, const char *path, char **ret_text);

/* ---- children's names (siblings.c) -------------------------------------- */

/* The child of `parent` named `name` in x, or ARB_NONE. */
uint32_t sibling_index_find(const struct sibling_index *x,
			    const struct arb_spec *spec, uint32_t parent,
			    const char *name);

/* Indexes node idx of spec under its parent and name; 0 or -ENOMEM. */
int sibling_index_add(struct sibling_index *x, const struct arb_spec *spec,
		      uint32_t idx);

/* Frees the index and empties it. */
void sibling_index_done(struct sibling_index *x);

/* ---- typed values (values.c) -------------------------------------------- */

/* "a string", "an integer", ...: what a setting is, for messages. */
const char *type_name(const config_setting_t *s);
bool is_int(const config_setting_t *s);

/* The key a setting is the value of, or of whose array it is an element. */
const char *key_of(const config_setting_t *s);

/*
 * Typed values. Each sets *ret and returns 0, or reports the setting as
 * not of its type and returns -1 with *ret untouched. A string is
 * libconfig's memory: copy it before the file is destroyed.
 */
int get_string(struct node_ctx *c, const config_setting_t *s,
	       const char **ret);
int get_int(struct node_ctx *c, const config_setting_t *s, long long *ret);
int get_bool(struct node_ctx *c, const config_setting_t *s, bool *ret);

/* 0 when `s` is an array [ ... ] or a list ( ... ), else -1 (reported). */
int get_sequence(struct node_ctx *c, const config_setting_t *s);

/*
 * A sequence of strings as a NULL-terminated vector of copies; NULL with
 * an error reported (or ld->oom set) when it holds more than `max` or an
 * element is not a string.
 */
char **copy_strings(struct node_ctx *c, const config_setting_t *s, int max);

/* ---- a service's execution context (exec_context.c) --------------------- */

/*
 * The keys of a service's execution context, for keys.c's key table.
 * Each reads one setting into node c->idx and returns 0, or reports and
 * returns -1.
 */
int parse_env(struct node_ctx *c, const config_setting_t *s);
int parse_env_file(struct node_ctx *c, const config_setting_t *s);
int parse_inherit_env(struct node_ctx *c, const config_setting_t *s);
int parse_cwd(struct node_ctx *c, const config_setting_t *s);
int parse_user(struct node_ctx *c, const config_setting_t *s);
int parse_group(struct node_ctx *c, const config_setting_t *s);
int parse_umask(struct node_ctx *c, const config_setting_t *s);
int parse_nice(struct node_ctx *c, const config_setting_t *s);
int parse_rlimits(struct node_ctx *c, const config_setting_t *s);
int parse_no_new_privileges(struct node_ctx *c, const config_setting_t *s);

/* The execution-context half of finish_service. */
void finish_exec(struct node_ctx *c);

/* Frees what the loader looked up about arbord's own account. */
void loader_exec_done(struct loader *ld);

/* ---- the log group (log_keys.c) ------------------------------------------ */

/* The `log` group of any node. */
int parse_log(struct node_ctx *c, const config_setting_t *s);

/* ---- cgroup limits (limit_keys.c) --------------------------------------- */

/* One of memory_max, memory_high, memory_swap_max, cpu_weight, cpu_max,
 * pids_max, io_weight (the setting's name says which). */
int parse_cg_limit(struct node_ctx *c, const config_setting_t *s);

/* ---- the keys of one node (keys.c) --------------------------------------- */

/*
 * After parse_keys on service c->idx (group `g`): the checks that span its
 * keys, and what they leave to resolve (the identity, the environment).
 * Always called, even after errors or OOM: it frees c->file_env.
 */
void finish_service(struct node_ctx *c, const config_setting_t *g);

/*
 * After parse_keys on supervisor c->idx (group `g`, or the root's
 * `supervisor` group): a pool's keys checked together (a template, no
 * automatic shutdown, instances within max_children), and the pool keys
 * of a supervisor that is not a pool reported.
 */
void finish_supervisor(struct node_ctx *c, const config_setting_t *g);

/*
 * After parse_keys on the root's `supervisor` group g: a warning for an
 * exit policy that cannot apply (a root that never shuts down by itself,
 * or 143 mapped under a policy whose statuses are 0 and 1).
 */
void finish_exit_policy(struct node_ctx *c, const config_setting_t *g);

/*
 * Reads every key of group `g` except name and children into node c->idx,
 * in file order, clearing each written key's bit in `defaulted`. `where` is
 * one IN_* bit; a key that does not belong there, an unknown key or a bad
 * value is reported and skipped. Stops early once c->ld->oom is set.
 */
/* Reports each key of g the loader does not know (name and children are
 * known); returns how many. */
unsigned report_unknown_keys(struct node_ctx *c, const config_setting_t *g);

void parse_keys(struct node_ctx *c, const config_setting_t *g,
		unsigned where);

#endif
