/*
 * living.h - the living tree in the shell: a reload by diff (Reload,
 * SIGHUP), children added and removed at run time (AddChild, RemoveChild)
 * and pool instances (Spawn).
 *
 * It reads the configuration and the caller's text, changes the live spec
 * (spec_edit.c) and asks the core to carry each change out as a request
 * (tree.h: ADD, REMOVE, CHANGE, REORDER), one reload step at a time. The
 * core's answers come back through arb_living_reply; the caller's through
 * the complete hook. Nothing here touches a process.
 */
#ifndef ARB_LIVING_H
#define ARB_LIVING_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/fdbudget.h"
#include "core/spec.h"
#include "core/tree.h"
#include "logs/event_log.h"

/* The request ids of the living tree's own requests to the core. */
#define ARB_LIVING_REQ_BIT (1ull << 63)

struct arb_living;

struct arb_living_hooks {
	/* Feed ev (a REQUEST) to the core. */
	void (*request)(void *ctx, const struct arb_event *ev);
	/* The live spec has new nodes (grafted, instantiated): what the
	 * shell keeps per node must cover them. 0 or -ENOMEM. */
	int (*grow)(void *ctx);
	/* An add or a reload that fits the hard descriptor limit will need
	 * need (fdbudget.h): the soft limit follows before it is applied. */
	void (*fd_need)(void *ctx, const struct arb_fd_need *need);
	/* Node's keys changed in place (log settings, stop_signal...):
	 * what the shell derived from them follows. */
	void (*keys_changed)(void *ctx, uint32_t node);
	/* A living-tree event (add, remove, change, reload, reload_failed):
	 * logged and streamed as the core's are. */
	void (*event)(void *ctx, const struct arb_event_fields *f);
	/* The answer to a control call (req_id): error NULL and params
	 * (borrowed, may be NULL) on success. */
	void (*complete)(void *ctx, uint64_t req_id, const char *error,
			 json_t *params);
	/* The tree is stopping: no reload may begin. */
	bool (*stopping)(void *ctx);
	/* Node has pending keys: if it has no process, it takes them now
	 * and its listen sockets follow. */
	void (*settle)(void *ctx, uint32_t node);
};

/*
 * spec is the live one (borrowed, changed here); *tree is read at each
 * use (the runtime may replace its tree); config_path is arbor.conf's
 * path (borrowed). NULL on OOM.
 */
struct arb_living *arb_living_new(struct arb_spec *spec,
				  struct arb_tree *const *tree,
				  const char *config_path,
				  const struct arb_living_hooks *hooks,
				  void *ctx);
void arb_living_free(struct arb_living *l);

struct arb_cgroup;

/*
 * The cgroup2 in force (borrowed; cgroup.h): a reload or an added child
 * whose cgroup limits it cannot apply fails, as a configuration with
 * errors does (arb_config_check_limits). Until it is set, or with NULL,
 * limits are not checked.
 */
void arb_living_set_cgroup(struct arb_living *l, const struct arb_cgroup *cg);

/*
 * Reads the configuration again and makes the running tree follow it, or,
 * with dry_run, only answers the plan. req_id 0: SIGHUP (no caller). A
 * reload asked while one runs waits its turn.
 */
void arb_living_reload(struct arb_living *l, bool dry_run, uint64_t req_id);

/* AddChild: text is one child in arbor.conf's syntax, under parent. */
void arb_living_add(struct arb_living *l, uint32_t parent, const char *text,
		    uint64_t req_id);

/* RemoveChild: terminate_child, then delete_child. */
void arb_living_remove(struct arb_living *l, uint32_t node, uint64_t req_id);

/*
 * Spawn: a new instance of pool, named name (NULL: the pool's next
 * number), with args (NULL-terminated, may be NULL) after its template's
 * exec.
 */
void arb_living_spawn(struct arb_living *l, uint32_t pool, const char *name,
		      char *const *args, uint64_t req_id);

/* The core answered one of the living tree's requests (req_id has
 * ARB_LIVING_REQ_BIT); false when it was not one of them. */
bool arb_living_reply(struct arb_living *l, const struct arb_action *a);

/*
 * Whether a reload, an add, a remove or a spawn is under way: the core
 * holds requests of theirs (a re-exec waits for them to end).
 */
bool arb_living_busy(const struct arb_living *l);

#endif
