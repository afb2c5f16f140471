/*
 * plan.c - the reload plan: a diff of the running tree's spec and a newly
 * loaded one, as steps the shell applies in order (plan.h has the rules).
 *
 * Part of the pure core: no syscalls, no library headers with side effects
 * (STYLE.md 1); memory comes through mem.h. It reads both specs and
 * changes neither. Walks recurse once per tree level, which the loader and
 * AddChild bound by ARB_DEPTH_MAX.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "limits.h"
#include "mem.h"
#include "plan.h"
#include "spec.h"

static const char *const op_names[_ARB_PLAN_OP_MAX] = {
	[ARB_PLAN_REMOVE] = "remove",
	[ARB_PLAN_CHANGE] = "change",
	[ARB_PLAN_REORDER] = "reorder",
	[ARB_PLAN_ADD] = "add",
};

static const char *const apply_names[_ARB_APPLY_MAX] = {
	[ARB_APPLY_IN_PLACE] = "in-place",
	[ARB_APPLY_RESTART] = "restart",
	[ARB_APPLY_NEXT_START] = "next-start",
};

/*
 * Signal names by Linux's numbers (asm-generic, as ARB_SIGTERM): the core
 * may not include <signal.h>. test_plan checks the table against
 * signames.c, which the configuration is read with.
 */
static const char *const signal_names[32] = {
	NULL,   "HUP",  "INT",    "QUIT", "ILL",    "TRAP",  "ABRT", "BUS",
	"FPE",  "KILL", "USR1",   "SEGV", "USR2",   "PIPE",  "ALRM", "TERM",
	"STKFLT", "CHLD", "CONT", "STOP", "TSTP",   "TTIN",  "TTOU", "URG",
	"XCPU", "XFSZ", "VTALRM", "PROF", "WINCH",  "IO",    "PWR",  "SYS",
};

const char *
arb_plan_op_name(enum arb_plan_op v)
{
	return v < _ARB_PLAN_OP_MAX ? op_names[v] : "?";
}

const char *
arb_plan_apply_name(enum arb_plan_apply v)
{
	return v < _ARB_APPLY_MAX ? apply_names[v] : "?";
}

/* What a node is, for matching: a change of kind is a REMOVE and an ADD. */
enum plan_kind { KIND_SERVICE, KIND_SUPERVISOR, KIND_POOL };

static enum plan_kind
kind_of(const struct arb_spec_node *n)
{
	if (n->kind == ARB_NODE_SERVICE)
		return KIND_SERVICE;
	return n->strategy == ARB_SIMPLE_ONE_FOR_ONE ? KIND_POOL :
						       KIND_SUPERVISOR;
}

const char *
arb_plan_kind_name(const struct arb_spec_node *n)
{
	switch (kind_of(n)) {
	case KIND_SERVICE:
		return "service";
	case KIND_SUPERVISOR:
		return "supervisor";
	case KIND_POOL:
		return "pool";
	}
	return "?";
}

uint64_t
arb_plan_digest_add(uint64_t digest, const void *bytes, size_t n)
{
	const unsigned char *p = bytes;

	for (size_t i = 0; i < n; i++) {
		digest ^= p[i];
		digest *= 0x100000001b3ull; /* FNV-1a's 64-bit prime */
	}
	return digest;
}

void
arb_plan_digest_hex(uint64_t digest, char buf[ARB_PLAN_DIGEST_HEX])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 15; i >= 0; i--, digest >>= 4)
		buf[i] = hex[digest & 0xf];
	buf[16] = '\0';
}

/* ---- Values as text ---- */

/*
 * A key's value written out, in a buffer reused from key to key so that
 * comparing equal keys allocates nothing. `unset`: the key has no value.
 */
struct text {
	char *buf;
	size_t len, cap;
	bool unset;
	bool oom;
};

static void
text_reset(struct text *t)
{
	t->len = 0;
	t->unset = false;
	if (t->buf)
		t->buf[0] = '\0';
}

static void
text_done(struct text *t)
{
	arb_free(t->buf);
	memset(t, 0, sizeof(*t));
}

static void
text_putn(struct text *t, const char *s, size_t n)
{
	if (t->oom)
		return;
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 64;
		char *buf;

		while (cap < t->len + n + 1)
			cap *= 2;
		buf = arb_reallocarray(t->buf, cap, 1);
		if (!buf) {
			t->oom = true;
			return;
		}
		t->buf = buf;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len] = '\0';
}

static void
text_put(struct text *t, const char *s)
{
	text_putn(t, s, strlen(s));
}

static void
text_unsigned(struct text *t, uint64_t v)
{
	char digits[24];
	size_t n = sizeof(digits);

	do {
		digits[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	text_putn(t, digits + n, sizeof(digits) - n);
}

static void
text_signed(struct text *t, int64_t v)
{
	if (v < 0) {
		text_put(t, "-");
		text_unsigned(t, 0 - (uint64_t)v);
	} else {
		text_unsigned(t, (uint64_t)v);
	}
}

static void
text_bool(struct text *t, bool v)
{
	text_put(t, v ? "true" : "false");
}

static void
text_duration(struct text *t, int64_t ms)
{
	char buf[32];

	arb_spec_format_duration(ms, buf, sizeof(buf));
	text_put(t, buf);
}

static void
text_size(struct text *t, uint64_t bytes)
{
	char buf[32];

	arb_spec_format_size(bytes, buf, sizeof(buf));
	text_put(t, buf);
}

static void
text_signal(struct text *t, int signo)
{
	if (signo > 0 && signo < 32)
		text_put(t, signal_names[signo]);
	else
		text_signed(t, signo);
}

/* A string as libconfig reads it back, escaped as print.c does. */
static void
text_quoted(struct text *t, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	text_put(t, "\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[5] = {'\\', 'x', hex[*p >> 4], hex[*p & 0xf], '\0'};

		switch (*p) {
		case '"':
			text_put(t, "\\\"");
			break;
		case '\\':
			text_put(t, "\\\\");
			break;
		case '\n':
			text_put(t, "\\n");
			break;
		case '\t':
			text_put(t, "\\t");
			break;
		case '\r':
			text_put(t, "\\r");
			break;
		case '\f':
			text_put(t, "\\f");
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				text_put(t, esc);
			else
				text_putn(t, (const char *)p, 1);
		}
	}
	text_put(t, "\"");
}

/* `[ "a", "b" ]`; NULL and empty alike are `[ ]`. */
static void
text_strv(struct text *t, char *const *v)
{
	text_put(t, "[");
	for (size_t i = 0; v && v[i]; i++) {
		text_put(t, i ? ", " : " ");
		text_quoted(t, v[i]);
	}
	text_put(t, " ]");
}

static bool
text_equal(const struct text *a, const struct text *b)
{
	if (a->unset || b->unset)
		return a->unset == b->unset;
	return a->len == b->len && memcmp(a->buf, b->buf, a->len) == 0;
}

/* An owned copy of the value, NULL when unset; *oom on failure. */
static char *
text_copy(const struct text *t, bool *oom)
{
	char *copy;

	if (t->unset)
		return NULL;
	copy = arb_strdup(t->buf ? t->buf : "");
	if (!copy)
		*oom = true;
	return copy;
}

/* ---- Keys: each one's name, whether arbord alone reads it, its value ---- */

/*
 * Each writes node n's value of one key into t (s: the spec n belongs to,
 * for the spec-wide keys). `resolved`, where a key has one, writes what
 * the loader derived from the value: an equal value that resolved
 * differently ($PATH, the user database) is still a change.
 */
struct key_def {
	const char *name;
	bool in_place; /* arbord reads it itself: no process restarts */
	void (*value)(struct text *t, const struct arb_spec *s,
		      const struct arb_spec_node *n);
	void (*resolved)(struct text *t, const struct arb_spec *s,
			 const struct arb_spec_node *n);
};

static void
value_exec(struct text *t, const struct arb_spec *s,
	   const struct arb_spec_node *n)
{
	text_strv(t, n->argv);
}

static void
resolved_exec(struct text *t, const struct arb_spec *s,
	      const struct arb_spec_node *n)
{
	text_put(t, "resolved: ");
	text_put(t, n->exec_path ? n->exec_path : "?");
}

static void
value_restart(struct text *t, const struct arb_spec *s,
	      const struct arb_spec_node *n)
{
	text_put(t, arb_restart_name(n->restart));
}

static void
value_significant(struct text *t, const struct arb_spec *s,
		  const struct arb_spec_node *n)
{
	text_bool(t, n->significant);
}

static void
value_stop_signal(struct text *t, const struct arb_spec *s,
		  const struct arb_spec_node *n)
{
	text_signal(t, n->stop_signal);
}

static void
value_stop_timeout(struct text *t, const struct arb_spec *s,
		   const struct arb_spec_node *n)
{
	text_duration(t, n->stop_timeout_ms);
}

static void
value_normal_exit(struct text *t, const struct arb_spec *s,
		  const struct arb_spec_node *n)
{
	const char *sep = " ";

	text_put(t, "[");
	for (int code = 1; code <= 255; code++) {
		if (!arb_spec_exit_is_normal(n, code))
			continue;
		text_put(t, sep);
		text_signed(t, code);
		sep = ", ";
	}
	text_put(t, " ]");
}

static void
value_ready(struct text *t, const struct arb_spec *s,
	    const struct arb_spec_node *n)
{
	text_put(t, arb_ready_name(n->ready));
	if (n->ready == ARB_READY_FD) {
		text_put(t, ":");
		text_signed(t, n->ready_fd);
	}
}

static void
value_start_timeout(struct text *t, const struct arb_spec *s,
		    const struct arb_spec_node *n)
{
	text_duration(t, n->start_timeout_ms);
}

static void
value_watchdog(struct text *t, const struct arb_spec *s,
	       const struct arb_spec_node *n)
{
	text_duration(t, n->watchdog_ms);
}

static void
value_restart_delay(struct text *t, const struct arb_spec *s,
		    const struct arb_spec_node *n)
{
	text_duration(t, n->restart_delay_ms);
}

static void
value_restart_delay_max(struct text *t, const struct arb_spec *s,
			const struct arb_spec_node *n)
{
	text_duration(t, n->restart_delay_max_ms);
}

static void
value_listen(struct text *t, const struct arb_spec *s,
	     const struct arb_spec_node *n)
{
	text_strv(t, n->listen);
}

static void
value_env(struct text *t, const struct arb_spec *s,
	  const struct arb_spec_node *n)
{
	text_strv(t, n->env);
}

static void
value_inherit_env(struct text *t, const struct arb_spec *s,
		  const struct arb_spec_node *n)
{
	text_bool(t, n->inherit_env);
}

static void
value_cwd(struct text *t, const struct arb_spec *s,
	  const struct arb_spec_node *n)
{
	if (n->cwd)
		text_put(t, n->cwd);
	else
		t->unset = true;
}

/* The name it resolved to (print.c writes the same). */
static void
value_user(struct text *t, const struct arb_spec *s,
	   const struct arb_spec_node *n)
{
	if (n->defaulted & ARB_DEF_USER)
		t->unset = true;
	else if (n->user_name)
		text_put(t, n->user_name);
	else
		text_unsigned(t, n->uid);
}

/* What user resolved to, as print.c's comment shows it (the gid is
 * group's). */
static void
resolved_identity(struct text *t, const struct arb_spec *s,
		  const struct arb_spec_node *n)
{
	text_put(t, "uid=");
	text_unsigned(t, n->uid);
	text_put(t, " groups=");
	for (uint32_t i = 0; i < n->ngroups; i++) {
		if (i)
			text_put(t, ",");
		text_unsigned(t, n->groups[i]);
	}
	text_put(t, " home=");
	text_put(t, n->home ? n->home : "");
	text_put(t, " shell=");
	text_put(t, n->shell ? n->shell : "");
}

/* Unset, the gid is the user's primary group, which may have changed. */
static void
resolved_group(struct text *t, const struct arb_spec *s,
	       const struct arb_spec_node *n)
{
	text_put(t, "gid=");
	text_unsigned(t, n->gid);
}

/* The gid: the core has no group database to name it with. */
static void
value_group(struct text *t, const struct arb_spec *s,
	    const struct arb_spec_node *n)
{
	if (n->defaulted & ARB_DEF_GROUP)
		t->unset = true;
	else
		text_unsigned(t, n->gid);
}

static void
value_umask(struct text *t, const struct arb_spec *s,
	    const struct arb_spec_node *n)
{
	char digits[5] = {'0', '0', '0', '0', '\0'};
	unsigned v = (unsigned)n->umask;

	if (n->umask < 0) {
		t->unset = true;
		return;
	}
	for (int i = 3; i >= 0; i--, v >>= 3)
		digits[i] = (char)('0' + (v & 7));
	text_put(t, digits);
}

static void
value_nice(struct text *t, const struct arb_spec *s,
	   const struct arb_spec_node *n)
{
	if (n->set_nice)
		text_signed(t, n->nice);
	else
		t->unset = true;
}

static void
text_rlimit_value(struct text *t, uint64_t v)
{
	if (v == ARB_RLIM_INFINITY)
		text_put(t, "infinity");
	else
		text_unsigned(t, v);
}

/* `{ nofile = 1024; core = "0:infinity"; }` in resource order, so the
 * order they were written in is no change. */
static void
value_rlimits(struct text *t, const struct arb_spec *s,
	      const struct arb_spec_node *n)
{
	text_put(t, "{");
	for (int resource = 0; resource < ARB_RLIMIT_COUNT; resource++) {
		for (uint32_t i = 0; i < n->nrlimits; i++) {
			const struct arb_rlimit *r = &n->rlimits[i];

			if (r->resource != resource)
				continue;
			text_put(t, " ");
			text_put(t, arb_rlimit_name(resource));
			text_put(t, " = ");
			if (r->soft == r->hard) {
				text_rlimit_value(t, r->soft);
			} else {
				text_put(t, "\"");
				text_rlimit_value(t, r->soft);
				text_put(t, ":");
				text_rlimit_value(t, r->hard);
				text_put(t, "\"");
			}
			text_put(t, ";");
		}
	}
	text_put(t, " }");
}

static void
value_no_new_privileges(struct text *t, const struct arb_spec *s,
			const struct arb_spec_node *n)
{
	text_bool(t, n->no_new_privileges);
}

static void
value_forward_signals(struct text *t, const struct arb_spec *s,
		      const struct arb_spec_node *n)
{
	const char *sep = " ";

	text_put(t, "[");
	for (int signo = 1; signo < 32; signo++) {
		if (!(n->forward_signals & (1u << signo)))
			continue;
		text_put(t, sep);
		text_put(t, "\"");
		text_signal(t, signo);
		text_put(t, "\"");
		sep = ", ";
	}
	text_put(t, " ]");
}

static void
value_on_change(struct text *t, const struct arb_spec *s,
		const struct arb_spec_node *n)
{
	text_put(t, arb_on_change_name(n->on_change));
}

static void
value_log_sinks(struct text *t, const struct arb_spec *s,
		const struct arb_spec_node *n)
{
	const char *sep = " ";

	text_put(t, "[");
	for (unsigned bit = 1; bit <= ARB_SINK_CONSOLE; bit <<= 1) {
		if (!(n->log.sinks & bit))
			continue;
		text_put(t, sep);
		text_quoted(t, arb_log_sink_name(bit));
		sep = ", ";
	}
	text_put(t, " ]");
}

static void
value_log_ring_size(struct text *t, const struct arb_spec *s,
		    const struct arb_spec_node *n)
{
	text_size(t, n->log.ring_size);
}

static void
value_log_file(struct text *t, const struct arb_spec *s,
	       const struct arb_spec_node *n)
{
	if (n->log.file)
		text_put(t, n->log.file);
	else
		t->unset = true;
}

static void
value_log_max_size(struct text *t, const struct arb_spec *s,
		   const struct arb_spec_node *n)
{
	text_size(t, n->log.max_size);
}

static void
value_log_keep(struct text *t, const struct arb_spec *s,
	       const struct arb_spec_node *n)
{
	text_unsigned(t, n->log.keep);
}

static void
value_strategy(struct text *t, const struct arb_spec *s,
	       const struct arb_spec_node *n)
{
	text_put(t, arb_strategy_name(n->strategy));
}

static void
value_intensity(struct text *t, const struct arb_spec *s,
		const struct arb_spec_node *n)
{
	text_unsigned(t, n->intensity);
}

static void
value_period(struct text *t, const struct arb_spec *s,
	     const struct arb_spec_node *n)
{
	text_duration(t, n->period_ms);
}

static void
value_auto_shutdown(struct text *t, const struct arb_spec *s,
		    const struct arb_spec_node *n)
{
	text_put(t, arb_auto_shutdown_name(n->auto_shutdown));
}

static void
value_max_children(struct text *t, const struct arb_spec *s,
		   const struct arb_spec_node *n)
{
	text_unsigned(t, n->max_children);
}

static void
value_instances(struct text *t, const struct arb_spec *s,
		const struct arb_spec_node *n)
{
	text_unsigned(t, n->instances);
}

static void
value_control_group(struct text *t, const struct arb_spec *s,
		    const struct arb_spec_node *n)
{
	if (s->control_group)
		text_put(t, s->control_group);
	else
		t->unset = true;
}

static void
resolved_control_group(struct text *t, const struct arb_spec *s,
		       const struct arb_spec_node *n)
{
	text_put(t, "gid=");
	text_signed(t, s->control_gid);
}

static void
value_control_read_logs(struct text *t, const struct arb_spec *s,
			const struct arb_spec_node *n)
{
	text_bool(t, s->control_read_logs);
}

static void
value_on_giveup(struct text *t, const struct arb_spec *s,
		const struct arb_spec_node *n)
{
	text_put(t, arb_giveup_name(s->on_giveup));
}

/* Unset is the default shell: writing it out is no change. */
static void
value_emergency_shell(struct text *t, const struct arb_spec *s,
		      const struct arb_spec_node *n)
{
	char *const plain[] = {ARB_DEFAULT_EMERGENCY_SHELL, NULL};

	text_strv(t, s->emergency_shell ? s->emergency_shell : plain);
}

/* A service's keys in arbor.conf's order (print.c's). */
static const struct key_def service_keys[] = {
	{"exec", false, value_exec, resolved_exec},
	{"restart", true, value_restart, NULL},
	{"significant", true, value_significant, NULL},
	{"stop_signal", true, value_stop_signal, NULL},
	{"stop_timeout", true, value_stop_timeout, NULL},
	{"normal_exit", true, value_normal_exit, NULL},
	{"ready", false, value_ready, NULL},
	{"start_timeout", true, value_start_timeout, NULL},
	{"watchdog", false, value_watchdog, NULL},
	{"restart_delay", true, value_restart_delay, NULL},
	{"restart_delay_max", true, value_restart_delay_max, NULL},
	{"listen", false, value_listen, NULL},
	{"env", false, value_env, NULL},
	{"inherit_env", false, value_inherit_env, NULL},
	{"cwd", false, value_cwd, NULL},
	{"user", false, value_user, resolved_identity},
	{"group", false, value_group, resolved_group},
	{"umask", false, value_umask, NULL},
	{"nice", false, value_nice, NULL},
	{"rlimits", false, value_rlimits, NULL},
	{"no_new_privileges", false, value_no_new_privileges, NULL},
	{"log.sinks", true, value_log_sinks, NULL},
	{"log.ring_size", true, value_log_ring_size, NULL},
	{"log.file", true, value_log_file, NULL},
	{"log.max_size", true, value_log_max_size, NULL},
	{"log.keep", true, value_log_keep, NULL},
	{"forward_signals", true, value_forward_signals, NULL},
	{"on_change", true, value_on_change, NULL},
};

/* A supervisor's, a pool's and the root's: all applied in place. */
static const struct key_def supervisor_keys[] = {
	{"restart", true, value_restart, NULL},
	{"significant", true, value_significant, NULL},
	{"strategy", true, value_strategy, NULL},
	{"intensity", true, value_intensity, NULL},
	{"period", true, value_period, NULL},
	{"auto_shutdown", true, value_auto_shutdown, NULL},
	{"log.sinks", true, value_log_sinks, NULL},
	{"log.ring_size", true, value_log_ring_size, NULL},
	{"log.file", true, value_log_file, NULL},
	{"log.max_size", true, value_log_max_size, NULL},
	{"log.keep", true, value_log_keep, NULL},
};

static const struct key_def pool_keys[] = {
	{"max_children", true, value_max_children, NULL},
	{"instances", true, value_instances, NULL},
};

/* The spec-wide keys, shown as the root's. */
static const struct key_def root_keys[] = {
	{"control_group", true, value_control_group, resolved_control_group},
	{"control_read_logs", true, value_control_read_logs, NULL},
	{"on_giveup", true, value_on_giveup, NULL},
	{"emergency_shell", true, value_emergency_shell, NULL},
};

#define NKEYS(table) ((uint32_t)(sizeof(table) / sizeof((table)[0])))

/* ---- The diff ---- */

/* What becomes of a live node: matched or replaced by one of next's. */
enum live_fate {
	LIVE_UNSEEN,   /* no node of next has its name (or never compared) */
	LIVE_KEPT,     /* matched: the same name and kind */
	LIVE_REPLACED, /* next has its name with another kind */
};

struct differ {
	const struct arb_spec *live, *next;
	uint32_t *match;   /* next's node -> its live node, or ARB_NONE */
	uint8_t *fate;     /* live's node -> enum live_fate */
	uint32_t *by_name; /* scratch: a live supervisor's children by name */
	struct text old, new, old_resolved, new_resolved;
	/* The CHANGE being built, moved into its step when done. */
	struct arb_plan_key *keys;
	uint32_t nkeys, keys_cap;
	struct arb_plan plan;
};

/* A node of live's tree among a supervisor's children: not a free slot,
 * not a pool's template. */
static bool
is_tree_node(const struct arb_spec_node *n)
{
	return !n->unused && !n->is_template;
}

static void
keys_free(struct arb_plan_key *keys, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		arb_free(keys[i].key);
		arb_free(keys[i].old_value);
		arb_free(keys[i].new_value);
	}
	arb_free(keys);
}

void
arb_plan_free(struct arb_plan *p)
{
	if (!p)
		return;
	for (uint32_t i = 0; i < p->nsteps; i++) {
		struct arb_plan_step *st = &p->steps[i];

		keys_free(st->keys, st->nkeys);
		for (uint32_t j = 0; j < st->norder; j++)
			arb_free(st->order[j]);
		arb_free(st->order);
	}
	arb_free(p->steps);
	memset(p, 0, sizeof(*p));
}

/* A new step at the end of the plan, counted; NULL on OOM. */
static struct arb_plan_step *
push_step(struct differ *d, enum arb_plan_op op, uint32_t live, uint32_t next)
{
	struct arb_plan *p = &d->plan;
	struct arb_plan_step *st;

	if (p->nsteps == p->cap) {
		uint32_t cap = p->cap ? p->cap * 2 : 16;

		st = arb_reallocarray(p->steps, cap, sizeof(*st));
		if (!st)
			return NULL;
		p->steps = st;
		p->cap = cap;
	}
	st = &p->steps[p->nsteps++];
	memset(st, 0, sizeof(*st));
	st->op = op;
	st->live = live;
	st->next = next;
	switch (op) {
	case ARB_PLAN_REMOVE:
		p->removes++;
		break;
	case ARB_PLAN_CHANGE:
		p->changes++;
		break;
	case ARB_PLAN_REORDER:
		p->reorders++;
		break;
	case ARB_PLAN_ADD:
		p->adds++;
		break;
	default:
		break;
	}
	return st;
}

/* Appends a differing key to the change being built. -1 on OOM. */
static int
record_key(struct differ *d, const char *prefix, const char *name)
{
	struct arb_plan_key *k;
	size_t plen = strlen(prefix), nlen = strlen(name);
	bool oom = false;

	if (d->nkeys == d->keys_cap) {
		uint32_t cap = d->keys_cap ? d->keys_cap * 2 : 8;

		k = arb_reallocarray(d->keys, cap, sizeof(*k));
		if (!k)
			return -1;
		d->keys = k;
		d->keys_cap = cap;
	}
	k = &d->keys[d->nkeys];
	memset(k, 0, sizeof(*k));
	k->key = arb_calloc(plen + nlen + 1, 1);
	if (!k->key)
		return -1;
	memcpy(k->key, prefix, plen);
	memcpy(k->key + plen, name, nlen + 1);
	k->old_value = text_copy(&d->old, &oom);
	k->new_value = text_copy(&d->new, &oom);
	d->nkeys++; /* counted even half-built, so that it is freed */
	return oom ? -1 : 0;
}

/*
 * Whether key `def` differs between a (of spec as) and b (of spec bs),
 * leaving both values in d->old and d->new; an equal value that resolved
 * differently gets what it resolved to appended on both sides.
 * -1 on OOM.
 */
static int
key_differs(struct differ *d, const struct key_def *def,
	    const struct arb_spec *as, const struct arb_spec_node *a,
	    const struct arb_spec *bs, const struct arb_spec_node *b)
{
	text_reset(&d->old);
	text_reset(&d->new);
	def->value(&d->old, as, a);
	def->value(&d->new, bs, b);
	if (!text_equal(&d->old, &d->new) || !def->resolved)
		goto done;
	text_reset(&d->old_resolved);
	text_reset(&d->new_resolved);
	def->resolved(&d->old_resolved, as, a);
	def->resolved(&d->new_resolved, bs, b);
	if (d->old_resolved.oom || d->new_resolved.oom ||
	    text_equal(&d->old_resolved, &d->new_resolved))
		goto done;
	text_put(&d->old, d->old.unset ? "# " : " # ");
	text_put(&d->old, d->old_resolved.buf);
	text_put(&d->new, d->new.unset ? "# " : " # ");
	text_put(&d->new, d->new_resolved.buf);
	d->old.unset = d->new.unset = false;
done:
	if (d->old.oom || d->new.oom || d->old_resolved.oom ||
	    d->new_resolved.oom)
		return -1;
	return text_equal(&d->old, &d->new) ? 0 : 1;
}

/*
 * Compares a and b on every key of the table. Records each that differs
 * (named prefix + key) when `record`; sets *restart when one of them is
 * not applied in place. -1 on OOM.
 */
static int
compare_keys(struct differ *d, const struct key_def *table, uint32_t n,
	     const char *prefix, bool record,
	     const struct arb_spec *as, const struct arb_spec_node *a,
	     const struct arb_spec *bs, const struct arb_spec_node *b,
	     bool *restart)
{
	for (uint32_t i = 0; i < n; i++) {
		int r = key_differs(d, &table[i], as, a, bs, b);

		if (r < 0)
			return -1;
		if (r == 0)
			continue;
		if (!table[i].in_place)
			*restart = true;
		if (record && record_key(d, prefix, table[i].name) < 0)
			return -1;
	}
	return 0;
}

/* Moves the keys built into a new CHANGE step. -1 on OOM. */
static int
push_change(struct differ *d, uint32_t live, uint32_t next,
	    enum arb_plan_apply apply)
{
	struct arb_plan_step *st = push_step(d, ARB_PLAN_CHANGE, live, next);

	if (!st)
		return -1;
	st->apply = apply;
	st->keys = d->keys;
	st->nkeys = d->nkeys;
	d->keys = NULL;
	d->nkeys = d->keys_cap = 0;
	return 0;
}

/*
 * A service: its keys against next's, or its pending keys when a reload
 * already gave it some. Whether its process must restart is a question
 * of what it runs now, its current keys.
 */
static int
change_service(struct differ *d, uint32_t l, uint32_t n)
{
	const struct arb_spec_node *cur = &d->live->nodes[l];
	const struct arb_spec_node *was = cur->pending ? cur->pending : cur;
	const struct arb_spec_node *to = &d->next->nodes[n];
	enum arb_plan_apply apply = ARB_APPLY_IN_PLACE;
	bool restart = false;

	if (compare_keys(d, service_keys, NKEYS(service_keys), "", true,
			 d->live, was, d->next, to, &restart) < 0)
		return -1;
	if (d->nkeys == 0 && !cur->dynamic)
		return 0;
	if (cur->pending) {
		restart = false;
		if (compare_keys(d, service_keys, NKEYS(service_keys), "",
				 false, d->live, cur, d->next, to,
				 &restart) < 0)
			return -1;
	}
	if (restart)
		apply = to->on_change == ARB_ON_CHANGE_NEXT_START ?
				ARB_APPLY_NEXT_START : ARB_APPLY_RESTART;
	return push_change(d, l, n, apply);
}

/* A supervisor's flags, a pool's keys and template, the spec-wide keys:
 * all arbord's own, applied in place. */
static int
change_supervisor(struct differ *d, uint32_t l, uint32_t n)
{
	const struct arb_spec_node *a = &d->live->nodes[l];
	const struct arb_spec_node *b = &d->next->nodes[n];
	bool restart = false;

	if (compare_keys(d, supervisor_keys, NKEYS(supervisor_keys), "", true,
			 d->live, a, d->next, b, &restart) < 0)
		return -1;
	if (kind_of(a) == KIND_POOL &&
	    compare_keys(d, pool_keys, NKEYS(pool_keys), "", true, d->live, a,
			 d->next, b, &restart) < 0)
		return -1;
	if (kind_of(a) == KIND_POOL && a->template_node != ARB_NONE &&
	    b->template_node != ARB_NONE &&
	    compare_keys(d, service_keys, NKEYS(service_keys), "template.",
			 true, d->live, &d->live->nodes[a->template_node],
			 d->next, &d->next->nodes[b->template_node],
			 &restart) < 0)
		return -1;
	if (l == ARB_ROOT &&
	    compare_keys(d, root_keys, NKEYS(root_keys), "", true, d->live, a,
			 d->next, b, &restart) < 0)
		return -1;
	if (d->nkeys == 0 && !a->dynamic)
		return 0;
	return push_change(d, l, n, ARB_APPLY_IN_PLACE);
}

/* Orders idx[0..n) by the names of live's nodes (heapsort: no libc). */
static int
name_cmp(const struct differ *d, uint32_t a, uint32_t b)
{
	return strcmp(d->live->nodes[a].name, d->live->nodes[b].name);
}

static void
sift_down(const struct differ *d, uint32_t *idx, uint32_t root, uint32_t n)
{
	for (;;) {
		uint32_t child = 2 * root + 1, tmp;

		if (child >= n)
			return;
		if (child + 1 < n && name_cmp(d, idx[child], idx[child + 1]) < 0)
			child++;
		if (name_cmp(d, idx[root], idx[child]) >= 0)
			return;
		tmp = idx[root];
		idx[root] = idx[child];
		idx[child] = tmp;
		root = child;
	}
}

static void
sort_by_name(const struct differ *d, uint32_t *idx, uint32_t n)
{
	for (uint32_t i = n / 2; i-- > 0;)
		sift_down(d, idx, i, n);
	for (uint32_t end = n; end-- > 1;) {
		uint32_t tmp = idx[0];

		idx[0] = idx[end];
		idx[end] = tmp;
		sift_down(d, idx, 0, end);
	}
}

static uint32_t
find_by_name(const struct differ *d, const uint32_t *idx, uint32_t n,
	     const char *name)
{
	uint32_t lo = 0, hi = n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = strcmp(d->live->nodes[idx[mid]].name, name);

		if (c == 0)
			return idx[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return ARB_NONE;
}

/*
 * Matches next's supervisor n's children with live's l's by name, then
 * the children of the supervisors matched. Pools' children (instances)
 * are not compared.
 */
static void
match_children(struct differ *d, uint32_t l, uint32_t n)
{
	const struct arb_spec_node *ln = &d->live->nodes[l];
	const struct arb_spec_node *nn = &d->next->nodes[n];
	uint32_t count = 0;

	for (uint32_t i = 0; i < ln->nchildren; i++)
		if (is_tree_node(&d->live->nodes[ln->children[i]]))
			d->by_name[count++] = ln->children[i];
	sort_by_name(d, d->by_name, count);
	for (uint32_t i = 0; i < nn->nchildren; i++) {
		uint32_t c = nn->children[i];
		uint32_t lc = find_by_name(d, d->by_name, count,
					   d->next->nodes[c].name);

		if (lc == ARB_NONE)
			continue;
		if (kind_of(&d->live->nodes[lc]) == kind_of(&d->next->nodes[c])) {
			d->match[c] = lc;
			d->fate[lc] = LIVE_KEPT;
		} else {
			d->fate[lc] = LIVE_REPLACED;
		}
	}
	/* by_name is free again: the walk below reuses it. */
	for (uint32_t i = 0; i < nn->nchildren; i++) {
		uint32_t c = nn->children[i];

		if (d->match[c] != ARB_NONE &&
		    kind_of(&d->next->nodes[c]) == KIND_SUPERVISOR)
			match_children(d, d->match[c], c);
	}
}

/* A live child that stays where it is: matched, or dynamic and unnamed. */
static bool
stays(const struct differ *d, uint32_t l)
{
	const struct arb_spec_node *n = &d->live->nodes[l];

	if (!is_tree_node(n))
		return false;
	return d->fate[l] == LIVE_KEPT ||
	       (d->fate[l] == LIVE_UNSEEN && n->dynamic);
}

/* A dynamic child next does not name: a reload leaves it alone. */
static bool
left_alone(const struct differ *d, uint32_t l)
{
	return stays(d, l) && d->fate[l] == LIVE_UNSEEN;
}

/* Live's supervisor l, children last first and deeper first. */
static int
walk_removes(struct differ *d, uint32_t l)
{
	const struct arb_spec_node *ln = &d->live->nodes[l];

	for (uint32_t i = ln->nchildren; i-- > 0;) {
		uint32_t c = ln->children[i];
		const struct arb_spec_node *cn = &d->live->nodes[c];

		if (!is_tree_node(cn) || left_alone(d, c))
			continue;
		if (d->fate[c] != LIVE_KEPT) {
			if (!push_step(d, ARB_PLAN_REMOVE, c, ARB_NONE))
				return -1;
		} else if (kind_of(cn) == KIND_SUPERVISOR &&
			   walk_removes(d, c) < 0) {
			return -1;
		}
	}
	return 0;
}

/* Next's node n (matched) and its matched descendants, in pre-order. */
static int
walk_changes(struct differ *d, uint32_t n)
{
	const struct arb_spec_node *nn = &d->next->nodes[n];
	int r;

	if (nn->kind == ARB_NODE_SERVICE)
		r = change_service(d, d->match[n], n);
	else
		r = change_supervisor(d, d->match[n], n);
	if (r < 0)
		return -1;
	if (kind_of(nn) != KIND_SUPERVISOR)
		return 0;
	for (uint32_t i = 0; i < nn->nchildren; i++)
		if (d->match[nn->children[i]] != ARB_NONE &&
		    walk_changes(d, nn->children[i]) < 0)
			return -1;
	return 0;
}

/* The next child of live's l from *pos on that stays, or ARB_NONE. */
static uint32_t
next_staying(const struct differ *d, const struct arb_spec_node *ln,
	     uint32_t *pos)
{
	while (*pos < ln->nchildren) {
		uint32_t c = ln->children[(*pos)++];

		if (stays(d, c))
			return c;
	}
	return ARB_NONE;
}

/*
 * Whether the children that stay are in another relative order than the
 * final one: next's order, then those left alone in their live order.
 */
static bool
order_changed(const struct differ *d, uint32_t l, uint32_t n)
{
	const struct arb_spec_node *ln = &d->live->nodes[l];
	const struct arb_spec_node *nn = &d->next->nodes[n];
	uint32_t pos = 0;

	for (uint32_t i = 0; i < nn->nchildren; i++) {
		uint32_t c = d->match[nn->children[i]];

		if (c != ARB_NONE && next_staying(d, ln, &pos) != c)
			return true;
	}
	for (uint32_t i = 0; i < ln->nchildren; i++) {
		uint32_t c = ln->children[i];

		if (left_alone(d, c) && next_staying(d, ln, &pos) != c)
			return true;
	}
	return false;
}

static int
push_reorder(struct differ *d, uint32_t l, uint32_t n)
{
	const struct arb_spec_node *ln = &d->live->nodes[l];
	const struct arb_spec_node *nn = &d->next->nodes[n];
	struct arb_plan_step *st = push_step(d, ARB_PLAN_REORDER, l, n);
	uint32_t count = nn->nchildren;

	if (!st)
		return -1;
	for (uint32_t i = 0; i < ln->nchildren; i++)
		count += left_alone(d, ln->children[i]);
	st->order = arb_calloc(count, sizeof(*st->order));
	if (!st->order)
		return -1;
	for (uint32_t i = 0; i < nn->nchildren; i++) {
		st->order[st->norder] =
			arb_strdup(d->next->nodes[nn->children[i]].name);
		if (!st->order[st->norder++])
			return -1;
	}
	for (uint32_t i = 0; i < ln->nchildren; i++) {
		if (!left_alone(d, ln->children[i]))
			continue;
		st->order[st->norder] =
			arb_strdup(d->live->nodes[ln->children[i]].name);
		if (!st->order[st->norder++])
			return -1;
	}
	return 0;
}

/* Next's supervisors (matched, not pools) in pre-order. */
static int
walk_reorders(struct differ *d, uint32_t n)
{
	const struct arb_spec_node *nn = &d->next->nodes[n];

	if (kind_of(nn) != KIND_SUPERVISOR)
		return 0;
	if (order_changed(d, d->match[n], n) && push_reorder(d, d->match[n], n) < 0)
		return -1;
	for (uint32_t i = 0; i < nn->nchildren; i++)
		if (d->match[nn->children[i]] != ARB_NONE &&
		    walk_reorders(d, nn->children[i]) < 0)
			return -1;
	return 0;
}

/* Next's unmatched children in pre-order: the tops of added subtrees. */
static int
walk_adds(struct differ *d, uint32_t n)
{
	const struct arb_spec_node *nn = &d->next->nodes[n];

	if (kind_of(nn) != KIND_SUPERVISOR)
		return 0;
	for (uint32_t i = 0; i < nn->nchildren; i++) {
		uint32_t c = nn->children[i];

		if (d->match[c] == ARB_NONE) {
			if (!push_step(d, ARB_PLAN_ADD, ARB_NONE, c))
				return -1;
		} else if (walk_adds(d, c) < 0) {
			return -1;
		}
	}
	return 0;
}

static void
differ_done(struct differ *d)
{
	arb_free(d->match);
	arb_free(d->fate);
	arb_free(d->by_name);
	text_done(&d->old);
	text_done(&d->new);
	text_done(&d->old_resolved);
	text_done(&d->new_resolved);
	keys_free(d->keys, d->nkeys);
}

int
arb_plan_diff(const struct arb_spec *live, const struct arb_spec *next,
	      struct arb_plan *ret)
{
	struct differ d = {.live = live, .next = next};

	d.match = arb_calloc(next->nnodes, sizeof(*d.match));
	d.fate = arb_calloc(live->nnodes, sizeof(*d.fate));
	d.by_name = arb_calloc(live->nnodes, sizeof(*d.by_name));
	if (!d.match || !d.fate || !d.by_name)
		goto fail;
	for (uint32_t i = 0; i < next->nnodes; i++)
		d.match[i] = ARB_NONE;
	d.match[ARB_ROOT] = ARB_ROOT;
	d.fate[ARB_ROOT] = LIVE_KEPT;
	/*
	 * The roots always match. A live root that is a pool has instances
	 * for children, never compared: left alone as dynamic children are.
	 */
	if (kind_of(&live->nodes[ARB_ROOT]) == KIND_SUPERVISOR) {
		match_children(&d, ARB_ROOT, ARB_ROOT);
		if (walk_removes(&d, ARB_ROOT) < 0)
			goto fail;
	}
	if (walk_changes(&d, ARB_ROOT) < 0 || walk_reorders(&d, ARB_ROOT) < 0 ||
	    walk_adds(&d, ARB_ROOT) < 0)
		goto fail;
	*ret = d.plan;
	d.plan = (struct arb_plan){0};
	differ_done(&d);
	return 0;
fail:
	arb_plan_free(&d.plan);
	differ_done(&d);
	return -1;
}
