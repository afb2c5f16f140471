/*
 * spec.h - the validated configuration model.
 *
 * A spec is the immutable description of a supervision tree: what the
 * loader (config/) produces from arbor.conf and conf.d/, and what tree.c
 * runs. It is a flat array of nodes in depth-first pre-order; node 0 is
 * the root supervisor. Every string is owned by the spec and freed with
 * it. Nothing here reads files or makes syscalls (STYLE.md 1): spec.c is
 * part of the pure core.
 */
#ifndef ARB_SPEC_H
#define ARB_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A duration that never ends: stop_timeout = "infinity". */
#define ARB_INFINITY_MS INT64_MAX

/* The root's index in arb_spec.nodes, and "no node". */
#define ARB_ROOT 0u
#define ARB_NONE UINT32_MAX

/*
 * Linux's SIGTERM and SIGKILL. The core may not include <signal.h>; the
 * shell checks these against it with _Static_assert (runtime.c).
 */
#define ARB_SIGTERM 15
#define ARB_SIGKILL 9

enum arb_node_kind {
	ARB_NODE_SERVICE,
	ARB_NODE_SUPERVISOR,
	_ARB_NODE_KIND_MAX
};

enum arb_strategy {
	ARB_ONE_FOR_ONE,
	ARB_ONE_FOR_ALL,
	ARB_REST_FOR_ONE,
	ARB_SIMPLE_ONE_FOR_ONE, /* a pool: instances of one template */
	_ARB_STRATEGY_MAX
};

enum arb_restart {
	ARB_PERMANENT,
	ARB_TRANSIENT,
	ARB_TEMPORARY,
	_ARB_RESTART_MAX
};

/* M6: when a started service counts as started. */
enum arb_ready {
	ARB_READY_EXEC,   /* once exec succeeded */
	ARB_READY_NOTIFY, /* once it sends READY=1 to NOTIFY_SOCKET */
	ARB_READY_FD,     /* once it writes a line to descriptor ready_fd */
	_ARB_READY_MAX
};

/* What a reload does with a service whose spec changed. */
enum arb_on_change {
	ARB_ON_CHANGE_RESTART,    /* restart it alone, now */
	ARB_ON_CHANGE_NEXT_START, /* it takes the new spec when it next starts */
	_ARB_ON_CHANGE_MAX
};

enum arb_auto_shutdown {
	ARB_AUTO_NEVER,
	ARB_AUTO_ANY_SIGNIFICANT,
	ARB_AUTO_ALL_SIGNIFICANT,
	_ARB_AUTO_SHUTDOWN_MAX
};

/*
 * How a supervisor's shutdown (its own stop, the tree's) terminates its
 * children. ORDERED is OTP's (T1): one at a time in reverse start order,
 * each dead before the next. PARALLEL, arbor's deviation for children
 * whose order does not matter: all at once, then it waits for all. Only
 * the shutdown: a one_for_all or rest_for_one restart terminates its group
 * one at a time either way. A pool's instances always stop at once.
 */
enum arb_shutdown_order {
	ARB_SHUTDOWN_ORDERED,
	ARB_SHUTDOWN_PARALLEL,
	_ARB_SHUTDOWN_ORDER_MAX
};

/*
 * M10: what arbord does, as the system's init, when the root gives up,
 * shuts down automatically or fails to start. Outside that mode the key
 * is read but arbord exits instead.
 */
enum arb_giveup {
	ARB_GIVEUP_REBOOT,
	ARB_GIVEUP_POWEROFF,
	ARB_GIVEUP_HALT,
	ARB_GIVEUP_RESTART, /* rebuild the tree from the spec and boot it (I7) */
	ARB_GIVEUP_SHELL,   /* run emergency_shell, then reboot */
	_ARB_GIVEUP_MAX
};

/*
 * M10: the status arbord exits with after an automatic shutdown of the
 * root (where it exits: not as the system's init). ROOT: 0, as OTP's
 * supervisor ends with reason shutdown. SIGNIFICANT: the status of the
 * significant service whose exit began the shutdown, as a shell reports
 * it (a container then ends as its main service did).
 */
enum arb_exit_status {
	ARB_EXIT_STATUS_ROOT,
	ARB_EXIT_STATUS_SIGNIFICANT,
	_ARB_EXIT_STATUS_MAX
};

/*
 * Which keys of a node were filled in from defaults rather than written in
 * the configuration; `arbord --check` marks them.
 */
enum arb_spec_default {
	ARB_DEF_RESTART = 1u << 0,
	ARB_DEF_SIGNIFICANT = 1u << 1,
	ARB_DEF_STRATEGY = 1u << 2,
	ARB_DEF_INTENSITY = 1u << 3,
	ARB_DEF_PERIOD = 1u << 4,
	ARB_DEF_AUTO_SHUTDOWN = 1u << 5,
	ARB_DEF_STOP_SIGNAL = 1u << 6,
	ARB_DEF_STOP_TIMEOUT = 1u << 7,
	ARB_DEF_NORMAL_EXIT = 1u << 8,
	ARB_DEF_ENV = 1u << 9,
	ARB_DEF_CWD = 1u << 10,
	ARB_DEF_READY = 1u << 11,
	ARB_DEF_START_TIMEOUT = 1u << 12,
	ARB_DEF_WATCHDOG = 1u << 13,
	ARB_DEF_RESTART_DELAY = 1u << 14,
	ARB_DEF_RESTART_DELAY_MAX = 1u << 15,
	ARB_DEF_USER = 1u << 16,
	ARB_DEF_UMASK = 1u << 17,
	ARB_DEF_NICE = 1u << 18,
	ARB_DEF_INHERIT_ENV = 1u << 19,
	ARB_DEF_NO_NEW_PRIVILEGES = 1u << 20,
	ARB_DEF_GROUP = 1u << 21,
	ARB_DEF_ON_GIVEUP = 1u << 22,       /* the root's */
	ARB_DEF_EMERGENCY_SHELL = 1u << 23, /* the root's */
	ARB_DEF_FORWARD_SIGNALS = 1u << 24,
	ARB_DEF_ON_CHANGE = 1u << 25,
	ARB_DEF_MAX_CHILDREN = 1u << 26, /* pools */
	ARB_DEF_INSTANCES = 1u << 27,    /* pools */
	ARB_DEF_SHUTDOWN = 1u << 28,
	ARB_DEF_EXIT_STATUS = 1u << 29,     /* the root's */
	ARB_DEF_EXIT_SIGTERM_OK = 1u << 30, /* the root's */
};

/* Defaults: Elixir's Supervisor, not Erlang's (SEMANTICS.md M13). */
#define ARB_DEFAULT_STRATEGY ARB_ONE_FOR_ONE
#define ARB_DEFAULT_INTENSITY 3u
#define ARB_DEFAULT_PERIOD_MS 5000
#define ARB_DEFAULT_AUTO_SHUTDOWN ARB_AUTO_NEVER
#define ARB_DEFAULT_SHUTDOWN ARB_SHUTDOWN_ORDERED
#define ARB_DEFAULT_RESTART ARB_PERMANENT
#define ARB_DEFAULT_STOP_SIGNAL ARB_SIGTERM
#define ARB_DEFAULT_STOP_TIMEOUT_MS 5000
#define ARB_DEFAULT_READY ARB_READY_EXEC
#define ARB_DEFAULT_START_TIMEOUT_MS 90000 /* notify and fd:N */
#define ARB_DEFAULT_ON_GIVEUP ARB_GIVEUP_REBOOT
#define ARB_DEFAULT_EXIT_STATUS ARB_EXIT_STATUS_ROOT
#define ARB_DEFAULT_ON_CHANGE ARB_ON_CHANGE_RESTART
#define ARB_DEFAULT_MAX_CHILDREN 0u /* no limit but ARB_CHILDREN_MAX */
#define ARB_DEFAULT_INSTANCES 0u
#define ARB_DEFAULT_EMERGENCY_SHELL "/bin/sh" /* emergency_shell unset */

/* An unlimited resource limit (RLIM_INFINITY on Linux). */
#define ARB_RLIM_INFINITY UINT64_MAX

/*
 * Linux's RLIMIT_* numbers run from 0 to ARB_RLIMIT_COUNT - 1; the shell
 * checks the table against <sys/resource.h> (config/exec_context.c).
 */
#define ARB_RLIMIT_COUNT 16

/* One `rlimits` entry. resource is Linux's RLIMIT_* number. */
struct arb_rlimit {
	int resource;
	uint64_t soft, hard; /* ARB_RLIM_INFINITY: unlimited */
};

/* Where a node's output lines go (logs/capture.c); any combination. */
enum arb_log_sink {
	ARB_SINK_RING = 1u << 0,    /* memory, for arborctl logs */
	ARB_SINK_FILE = 1u << 1,    /* a file, rotated by size */
	ARB_SINK_JOURNAL = 1u << 2, /* systemd-journald, when present */
	ARB_SINK_CONSOLE = 1u << 3, /* arbord's stdout and stderr */
};

/* The keys of a `log` group, as bits of arb_log_spec.given. */
enum arb_log_key {
	ARB_LOG_SINKS = 1u << 0,
	ARB_LOG_RING_SIZE = 1u << 1,
	ARB_LOG_FILE = 1u << 2,
	ARB_LOG_MAX_SIZE = 1u << 3,
	ARB_LOG_KEEP = 1u << 4,
	ARB_LOG_STREAMS = 1u << 5,
};

/*
 * How a service's stdout and stderr reach arbord: a pipe each (each line
 * knows its stream), or one pipe given as both (one descriptor in arbord
 * per service instead of two; a line's stream is then unknown).
 */
enum arb_log_streams {
	ARB_STREAMS_SEPARATE,
	ARB_STREAMS_MERGED,
	_ARB_STREAMS_MAX
};

#define ARB_DEFAULT_LOG_SINKS ARB_SINK_RING
#define ARB_DEFAULT_LOG_RING_SIZE (64u * 1024)
#define ARB_DEFAULT_LOG_MAX_SIZE (10ull * 1024 * 1024)
#define ARB_DEFAULT_LOG_KEEP 5u

/*
 * A node's `log` settings: its own keys over its supervisor's, over the
 * defaults. `given` says which keys came from a configuration (this node's
 * or an ancestor's) rather than a default.
 */
struct arb_log_spec {
	unsigned sinks;     /* enum arb_log_sink bits */
	uint32_t ring_size; /* bytes */
	char *file;         /* absolute path; NULL: none */
	uint64_t max_size;  /* rotate before the file would exceed it; 0: never */
	uint32_t keep;      /* rotated files kept: file.1 .. file.keep */
	enum arb_log_streams streams;
	unsigned given;     /* enum arb_log_key bits */
};

/* The spec holds one per service: fields are grouped by meaning, and
 * within a group placed so that the node has as few holes as it can. */
/*
 * cgroup v2 limits (issue 15) of a service's leaf, or of a supervisor's
 * whole subtree. Each is written only when given; the kernel's default
 * ("max", weight 100) stands for the others.
 */
enum arb_cg_limit_key {
	ARB_CG_MEMORY_MAX = 1u << 0,      /* memory.max */
	ARB_CG_MEMORY_HIGH = 1u << 1,     /* memory.high */
	ARB_CG_MEMORY_SWAP_MAX = 1u << 2, /* memory.swap.max */
	ARB_CG_CPU_WEIGHT = 1u << 3,      /* cpu.weight */
	ARB_CG_CPU_MAX = 1u << 4,         /* cpu.max */
	ARB_CG_PIDS_MAX = 1u << 5,        /* pids.max */
	ARB_CG_IO_WEIGHT = 1u << 6,       /* io.weight */
};

/* The cgroup v2 controllers arbord enables, and the limits need. */
enum arb_cg_controller {
	ARB_CGC_CPU = 1u << 0,
	ARB_CGC_IO = 1u << 1,
	ARB_CGC_MEMORY = 1u << 2,
	ARB_CGC_PIDS = 1u << 3,
};

#define ARB_CG_UNLIMITED UINT64_MAX /* "max" */
#define ARB_CG_DEFAULT_CPU_PERIOD_US 100000u
#define ARB_CG_DEFAULT_WEIGHT 100u

struct arb_cg_limits {
	uint64_t memory_max, memory_high, memory_swap_max; /* bytes */
	uint64_t cpu_max_us;       /* quota per period, microseconds */
	uint64_t cpu_period_us;    /* ARB_CG_DEFAULT_CPU_PERIOD_US unless given */
	uint64_t pids_max;
	uint32_t cpu_weight;       /* 1 .. 10000 */
	uint32_t io_weight;        /* 1 .. 10000 */
	unsigned given;            /* enum arb_cg_limit_key bits */
};

struct arb_spec_node {
	/* "app", the root's "/": a view into path, its last part (one
	 * allocation, not two, per node; spec_place, arb_spec_set_path) */
	const char *name;
	char *path;   /* "web/app"; the root's is "/" */
	const char *file; /* where it was defined (owned by arb_spec.files) */
	int line;
	enum arb_node_kind kind;
	uint32_t parent;     /* ARB_NONE for the root */
	uint32_t depth;      /* root 0 */
	uint32_t defaulted;  /* enum arb_spec_default bits */

	/* As a child of its supervisor. */
	enum arb_restart restart;
	bool significant;

	/* Supervisor only. children[] holds node indices in start order. */
	enum arb_strategy strategy;
	uint32_t intensity;
	enum arb_auto_shutdown auto_shutdown;
	enum arb_shutdown_order shutdown; /* the `shutdown` key */
	int64_t period_ms;
	uint32_t *children;
	uint32_t nchildren, children_cap;
	/* Many children: their names hashed to their indices (spec.c's
	 * arb_spec_find_child), made at the first lookup; NULL: none yet. */
	uint32_t *child_index; /* node + 1; 0: empty */
	uint32_t child_index_cap; /* a power of two, or 0 */

	/* Service only. */
	int stop_signal;
	char *exec_path;   /* resolved absolute path of argv[0]'s program */
	char **argv;       /* NULL-terminated; one block with its strings
			    * (arb_spec_strv_pack), freed whole */
	char **env;        /* NULL-terminated KEY=value overrides, may be empty */
	char *cwd;         /* NULL: arbord's own */
	int64_t stop_timeout_ms; /* 0: kill at once; ARB_INFINITY_MS: wait */
	uint8_t normal_exit[32]; /* bitmap of exit codes that count as normal */

	/* Readiness, watchdog and backoff (SEMANTICS.md M6, M7). */
	enum arb_ready ready;
	int ready_fd;              /* ARB_READY_FD: the descriptor N of fd:N */
	int64_t start_timeout_ms;  /* until ready; ARB_INFINITY_MS: no limit */
	int64_t watchdog_ms;       /* 0: no watchdog */
	int64_t restart_delay_ms;  /* 0: restart at once (the default) */
	int64_t restart_delay_max_ms; /* the backoff's ceiling, >= restart_delay */

	/* Socket activation: addresses as written ("tcp:127.0.0.1:80"),
	 * NULL-terminated, possibly empty; bound by the shell at start-up. */
	char **listen;

	/* Execution context, resolved when the configuration is loaded. */
	bool set_ids;         /* user or group given: change identity */
	uint32_t uid, gid;    /* the identity to run as (arbord's when !set_ids) */
	uint32_t ngroups;
	uint32_t *groups;     /* supplementary groups (initgroups) */
	/* USER and LOGNAME, HOME and SHELL of the clean environment: views
	 * into `account`, one block that owns the three (set only through
	 * arb_spec_set_account); NULL: not set. One block, not three: the
	 * spec holds them for every service. */
	char *account;
	const char *user_name;
	const char *home;
	const char *shell;
	int umask;            /* -1: arbord's */
	bool set_nice;
	int nice;
	uint32_t nrlimits;
	struct arb_rlimit *rlimits;
	bool no_new_privileges;
	bool inherit_env;     /* start from arbord's environment, not a clean one */

	/* Where its output goes; a supervisor's is its services' default.
	 * The root's also takes arbord's own events. */
	struct arb_log_spec log;

	/* As a container's init: the signals arbord passes on to this
	 * service's process group; bit 1 << signo. */
	uint32_t forward_signals;

	/* Its cgroup's limits; NULL: none given. Owned. */
	struct arb_cg_limits *limits;

	/* What a reload does when this service's spec changed. */
	enum arb_on_change on_change;

	/*
	 * Pools (strategy simple_one_for_one): the template its instances
	 * are made from (a service node that is nobody's child and never
	 * runs), the most instances at once (0: ARB_CHILDREN_MAX), and how
	 * many it starts with at each of its starts.
	 */
	uint32_t template_node; /* ARB_NONE unless a pool */
	uint32_t max_children;
	uint32_t instances;

	/* ---- the living tree: what the configuration did not say ---- */

	bool unused;      /* a free slot (a deleted node's), reused later */
	bool is_template; /* a pool's template */
	bool dynamic;     /* added while it runs (add, spawn), not configured */
	bool leaving;     /* has left the tree; its slot is freed soon */
	/* The spec a reload gave it, taken at its next start; owned. */
	struct arb_spec_node *pending;
};

struct arb_spec {
	struct arb_spec_node *nodes; /* nodes[0] is the root */
	uint32_t nnodes; /* slots in use or free (unused) */
	uint32_t cap;
	uint32_t *free_slots; /* unused slots, reused first */
	uint32_t nfree, free_cap;
	/* Bumped by every change of shape (nodes added, removed, moved) or
	 * of a supervisor's flags: the tree re-reads what it derived. The
	 * slots made, freed or given new keys since the tree last read them
	 * lie in touched_lo..touched_hi (none when lo > hi): the tree reads
	 * just those, unless the array moved. */
	uint64_t generation;
	uint32_t touched_lo, touched_hi;
	char **files;   /* every file read, in order */
	uint32_t nfiles;

	/* Who may read the control socket besides its owner: none when NULL. */
	char *control_group;
	int control_gid;
	/* Whether those readers may also read the services' output (Logs):
	 * it can hold secrets. */
	bool control_read_logs;

	/* The root's give-up action as the system's init (M10), and the argv
	 * of the emergency shell (NULL: ARB_DEFAULT_EMERGENCY_SHELL alone). */
	enum arb_giveup on_giveup;
	char **emergency_shell;
	/* The status arbord exits with after an automatic shutdown, and
	 * whether 143 (SIGTERM's) becomes 0 then (tree.c's root_down). */
	enum arb_exit_status exit_status;
	bool exit_sigterm_ok;
};

/* A new spec with only a root supervisor, all defaults. NULL on OOM. */
struct arb_spec *arb_spec_new(void);

/* Frees the spec and everything it owns. NULL is a no-op. */
void arb_spec_free(struct arb_spec *s);

/*
 * n's path becomes a copy of path, and its name the path's last part,
 * name_len bytes long (the caller has checked that it is: the root's "/"
 * is its whole path). 0, or -1 on OOM with n unchanged.
 */
int arb_spec_set_path(struct arb_spec_node *n, const char *path,
		      size_t name_len);

/*
 * Sets n's user_name, home and shell (each may be NULL) to copies in one
 * block that n owns, freeing the block it had; the arguments may point
 * into that block. 0, or -1 on OOM with n unchanged.
 */
int arb_spec_set_account(struct arb_spec_node *n, const char *user_name,
			 const char *home, const char *shell);

/*
 * Appends a node named `name` as the last child of supervisor `parent`,
 * with every default filled in; returns its index, or ARB_NONE on OOM.
 * Pointers into spec->nodes are invalidated by this call.
 */
uint32_t arb_spec_add(struct arb_spec *s, uint32_t parent,
		      enum arb_node_kind kind, const char *name,
		      const char *file, int line);

/* Frees a NULL-terminated vector of strings (env, listen; not a node's
 * argv, which is packed). NULL is a no-op. */
void arb_spec_strv_free(char **v);

/*
 * A copy of v (NULL-terminated, or NULL) in one block: the pointers, then
 * the strings they point to. Freed with arb_free, not arb_spec_strv_free;
 * NULL for NULL, or on OOM. A node's argv is one, so that a service's
 * command line costs one allocation, not one per word and one more.
 */
char **arb_spec_strv_pack(char *const *v);

/* The number of strings in a NULL-terminated vector; NULL has none. */
uint32_t arb_spec_strv_len(char *const *v);

/* Records a file name; returns the spec's copy, NULL on OOM. */
const char *arb_spec_add_file(struct arb_spec *s, const char *file);

/* Whether `name` is a valid node name ([A-Za-z0-9_.-]+, bounded). */
bool arb_spec_name_valid(const char *name);

/* Exit code `code` (0-255) counts as a normal exit for `n` (SEMANTICS M2). */
bool arb_spec_exit_is_normal(const struct arb_spec_node *n, int code);
void arb_spec_set_normal_exit(struct arb_spec_node *n, int code);

/*
 * Durations: "250ms", "5s", "2min", "1h", a bare number of seconds
 * ("1.5"), or "infinity" when allow_infinity. Returns 0 and sets *ret_ms,
 * or -1 (and *ret_ms untouched) when malformed, negative or too large, or
 * -2 when it is not a whole number of milliseconds ("0.0001ms", "1.5ms"),
 * which would be cut without a word.
 */
int arb_spec_parse_duration(const char *text, bool allow_infinity,
			    int64_t *ret_ms);

/* Writes v in decimal, cut to fit size (a NUL always, when size > 0). */
void arb_spec_format_uint(uint64_t v, char *buf, size_t size);

/* Writes ms as the shortest exact unit ("5s", "250ms", "2min", "infinity"). */
void arb_spec_format_duration(int64_t ms, char *buf, size_t size);

/*
 * Sizes in bytes: a bare number, or a number with K, M or G (powers of
 * 1024: "64K", "10M"). 0 and *ret, or -1 when malformed or above 1 TiB.
 */
int arb_spec_parse_size(const char *text, uint64_t *ret);

/* Writes bytes in the largest unit that is exact ("64K", "1536", "10M"). */
void arb_spec_format_size(uint64_t bytes, char *buf, size_t size);

/* A log sink's name ("ring", "file", "journal", "console") and its bit;
 * 0 for an unknown name. */
const char *arb_log_sink_name(enum arb_log_sink v);
unsigned arb_log_sink_from_name(const char *name);
/* "separate", "merged"; from_name: -1 when unknown. */
const char *arb_log_streams_name(enum arb_log_streams v);
int arb_log_streams_from_name(const char *name);

/* Name tables; the lookups return -1 for an unknown name. */
const char *arb_strategy_name(enum arb_strategy v);
const char *arb_restart_name(enum arb_restart v);
const char *arb_auto_shutdown_name(enum arb_auto_shutdown v);
const char *arb_shutdown_order_name(enum arb_shutdown_order v);
const char *arb_node_kind_name(enum arb_node_kind v);
const char *arb_ready_name(enum arb_ready v); /* "exec", "notify", "fd" */
const char *arb_giveup_name(enum arb_giveup v);
const char *arb_exit_status_name(enum arb_exit_status v);
int arb_strategy_from_name(const char *name);
int arb_restart_from_name(const char *name);
int arb_auto_shutdown_from_name(const char *name);
int arb_shutdown_order_from_name(const char *name);
int arb_ready_from_name(const char *name);
int arb_giveup_from_name(const char *name);
int arb_exit_status_from_name(const char *name);

/*
 * The rlimits key's names ("nofile", "core", ...) of Linux's RLIMIT_*
 * numbers: NULL for a number that has none, -1 for an unknown name.
 */
const char *arb_rlimit_name(int resource);
int arb_rlimit_from_name(const char *name);

/* "restart", "next-start"; -1 for an unknown name. */
const char *arb_on_change_name(enum arb_on_change v);
int arb_on_change_from_name(const char *name);

/*
 * Whether s is a spec arbord could have made (spec_check.c): a tree of
 * supervisors rooted at 0 whose parents and children agree, valid names
 * unique among siblings, paths that are their parents' plus the name,
 * pools with their templates, every count within limits.h and every value
 * in the range the loader allows. 0, or -1 with the first problem in why
 * ("nodes[3]: ..."). What reads a spec from outside (the re-exec state)
 * checks it before arb_tree_new or arb_plan may see it.
 */
int arb_spec_check(const struct arb_spec *s, char *why, size_t size);

/*
 * ---- The living tree (spec_edit.c) ----
 *
 * A running tree's spec changes: children are added (reload, add, spawn)
 * and removed, reordered, given new keys. Node indices are stable: a
 * removed node's slot is marked `unused` and reused by a later node, so
 * the tree and the shell keep per-node state by index. The array is no
 * longer in pre-order once it changed: walk children[], never indices,
 * for an order. Every change of shape bumps `generation`.
 */

/* Slot i holds a node of the tree: not free, not a pool's template. */
bool arb_spec_is_node(const struct arb_spec *s, uint32_t i);

/*
 * A deep copy of src's subtree at src_node (src may be s) as a new node
 * of s that is not yet anyone's child: parent, path and depth are those
 * of a child of `parent`; its own children (and a pool's template) come
 * with it, attached. Returns its index, or ARB_NONE on OOM.
 */
uint32_t arb_spec_graft(struct arb_spec *s, uint32_t parent,
			const struct arb_spec *src, uint32_t src_node);

/*
 * A new instance of pool's template, named `name`, with `extra` (NULL or
 * NULL-terminated) appended to its argv and ARBOR_INSTANCE=name to its
 * env; dynamic, not yet a child. ARB_NONE on OOM.
 */
uint32_t arb_spec_instantiate(struct arb_spec *s, uint32_t pool,
			      const char *name, char *const *extra);

/* Makes a node that is nobody's child the child of its parent at
 * position pos (past the end: last). 0, or -1 on OOM. */
int arb_spec_attach(struct arb_spec *s, uint32_t node, uint32_t pos);

/* Takes node out of its parent's children; its subtree stays with it. */
void arb_spec_detach(struct arb_spec *s, uint32_t node);

/* Frees a node that is nobody's child, with its subtree and template;
 * their slots become unused. */
void arb_spec_release(struct arb_spec *s, uint32_t node);

/* parent's children become order[0..n) (the same nodes, reordered). */
void arb_spec_reorder(struct arb_spec *s, uint32_t parent,
		      const uint32_t *order, uint32_t n);

/*
 * Node takes every key of src's src_node (a pool: its template's too),
 * keeping its name, place, children and what the living tree says of it.
 * 0, or -1 on OOM with nothing changed.
 */
int arb_spec_assign(struct arb_spec *s, uint32_t node,
		    const struct arb_spec *src, uint32_t src_node);

/* The spec-wide keys of src (control_group, control_read_logs,
 * on_giveup, emergency_shell, exit_status, exit_sigterm_ok): 0, or -1 on
 * OOM with nothing changed. */
int arb_spec_assign_globals(struct arb_spec *s, const struct arb_spec *src);

/* Node `to` logs as node `from` does (its log settings copied). 0, or -1
 * on OOM with nothing changed. */
int arb_spec_copy_log(struct arb_spec *s, uint32_t to, uint32_t from);

/* Node `to`'s cgroup limits become a copy of node `from`'s (a pool's
 * template's, for its running instances). 0, or -1 on OOM with nothing
 * changed. */
int arb_spec_copy_limits(struct arb_spec *s, uint32_t to, uint32_t from);

/* The keys node takes at its next start (a copy of src's src_node),
 * replacing any it had pending. 0, or -1 on OOM. */
int arb_spec_set_pending(struct arb_spec *s, uint32_t node,
			 const struct arb_spec *src, uint32_t src_node);

/* Node takes its pending keys, if any: true when it had some. */
bool arb_spec_take_pending(struct arb_spec *s, uint32_t node);

/* Index of the child of `parent` named `name`, or ARB_NONE. */
uint32_t arb_spec_find_child(const struct arb_spec *s, uint32_t parent,
			     const char *name);

/* Index of the node at `path` ("/" is the root), or ARB_NONE. */
uint32_t arb_spec_find(const struct arb_spec *s, const char *path);

#endif
