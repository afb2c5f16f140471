/*
 * plan_keys.c - every key a reload plan compares, and its value written
 * as arbor.conf writes it (durations "5s", signals "TERM", arrays
 * `[ "a", "b" ]`), in buffers reused from key to key.
 *
 * Part of the pure core: no syscalls, no stdio (STYLE.md 1), so values
 * are written by hand; memory comes through mem.h.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cg_limits.h"
#include "mem.h"
#include "plan_keys.h"
#include "spec.h"

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

/* ---- Values as text ---- */

static void
text_reset(struct arb_plan_text *t)
{
	t->len = 0;
	t->unset = false;
	if (t->buf)
		t->buf[0] = '\0';
}

static void
text_done(struct arb_plan_text *t)
{
	arb_free(t->buf);
	memset(t, 0, sizeof(*t));
}

void
arb_plan_values_done(struct arb_plan_values *v)
{
	text_done(&v->old);
	text_done(&v->new);
	text_done(&v->old_resolved);
	text_done(&v->new_resolved);
}

static void
text_putn(struct arb_plan_text *t, const char *s, size_t n)
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
text_put(struct arb_plan_text *t, const char *s)
{
	text_putn(t, s, strlen(s));
}

static void
text_unsigned(struct arb_plan_text *t, uint64_t v)
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
text_signed(struct arb_plan_text *t, int64_t v)
{
	if (v < 0) {
		text_put(t, "-");
		text_unsigned(t, 0 - (uint64_t)v);
	} else {
		text_unsigned(t, (uint64_t)v);
	}
}

static void
text_bool(struct arb_plan_text *t, bool v)
{
	text_put(t, v ? "true" : "false");
}

static void
text_duration(struct arb_plan_text *t, int64_t ms)
{
	char buf[32];

	arb_spec_format_duration(ms, buf, sizeof(buf));
	text_put(t, buf);
}

static void
text_size(struct arb_plan_text *t, uint64_t bytes)
{
	char buf[32];

	arb_spec_format_size(bytes, buf, sizeof(buf));
	text_put(t, buf);
}

static void
text_signal(struct arb_plan_text *t, int signo)
{
	if (signo > 0 && signo < 32)
		text_put(t, signal_names[signo]);
	else
		text_signed(t, signo);
}

/* A string as libconfig reads it back, escaped as print.c does. */
static void
text_quoted(struct arb_plan_text *t, const char *s)
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
text_strv(struct arb_plan_text *t, char *const *v)
{
	text_put(t, "[");
	for (size_t i = 0; v && v[i]; i++) {
		text_put(t, i ? ", " : " ");
		text_quoted(t, v[i]);
	}
	text_put(t, " ]");
}

static bool
text_equal(const struct arb_plan_text *a, const struct arb_plan_text *b)
{
	if (a->unset || b->unset)
		return a->unset == b->unset;
	return a->len == b->len && memcmp(a->buf, b->buf, a->len) == 0;
}

char *
arb_plan_text_copy(const struct arb_plan_text *t, bool *oom)
{
	char *copy;

	if (t->unset)
		return NULL;
	copy = arb_strdup(t->buf ? t->buf : "");
	if (!copy)
		*oom = true;
	return copy;
}

/* ---- Each key's value ---- */

static void
value_exec(struct arb_plan_text *t, const struct arb_spec *s,
	   const struct arb_spec_node *n)
{
	text_strv(t, n->argv);
}

static void
resolved_exec(struct arb_plan_text *t, const struct arb_spec *s,
	      const struct arb_spec_node *n, const struct arb_spec_node *other)
{
	text_put(t, "resolved: ");
	text_put(t, n->exec_path ? n->exec_path : "?");
}

static void
value_restart(struct arb_plan_text *t, const struct arb_spec *s,
	      const struct arb_spec_node *n)
{
	text_put(t, arb_restart_name(n->restart));
}

static void
value_significant(struct arb_plan_text *t, const struct arb_spec *s,
		  const struct arb_spec_node *n)
{
	text_bool(t, n->significant);
}

static void
value_stop_signal(struct arb_plan_text *t, const struct arb_spec *s,
		  const struct arb_spec_node *n)
{
	text_signal(t, n->stop_signal);
}

static void
value_stop_timeout(struct arb_plan_text *t, const struct arb_spec *s,
		   const struct arb_spec_node *n)
{
	text_duration(t, n->stop_timeout_ms);
}

static void
value_normal_exit(struct arb_plan_text *t, const struct arb_spec *s,
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
value_ready(struct arb_plan_text *t, const struct arb_spec *s,
	    const struct arb_spec_node *n)
{
	text_put(t, arb_ready_name(n->ready));
	if (n->ready == ARB_READY_FD) {
		text_put(t, ":");
		text_signed(t, n->ready_fd);
	}
}

static void
value_start_timeout(struct arb_plan_text *t, const struct arb_spec *s,
		    const struct arb_spec_node *n)
{
	text_duration(t, n->start_timeout_ms);
}

static void
value_watchdog(struct arb_plan_text *t, const struct arb_spec *s,
	       const struct arb_spec_node *n)
{
	text_duration(t, n->watchdog_ms);
}

static void
value_restart_delay(struct arb_plan_text *t, const struct arb_spec *s,
		    const struct arb_spec_node *n)
{
	text_duration(t, n->restart_delay_ms);
}

static void
value_restart_delay_max(struct arb_plan_text *t, const struct arb_spec *s,
			const struct arb_spec_node *n)
{
	text_duration(t, n->restart_delay_max_ms);
}

static void
value_listen(struct arb_plan_text *t, const struct arb_spec *s,
	     const struct arb_spec_node *n)
{
	text_strv(t, n->listen);
}

static void
value_env(struct arb_plan_text *t, const struct arb_spec *s,
	  const struct arb_spec_node *n)
{
	text_strv(t, n->env);
}

static void
value_inherit_env(struct arb_plan_text *t, const struct arb_spec *s,
		  const struct arb_spec_node *n)
{
	text_bool(t, n->inherit_env);
}

static void
value_cwd(struct arb_plan_text *t, const struct arb_spec *s,
	  const struct arb_spec_node *n)
{
	if (n->cwd)
		text_put(t, n->cwd);
	else
		t->unset = true;
}

/* The name it resolved to (print.c writes the same). */
static void
value_user(struct arb_plan_text *t, const struct arb_spec *s,
	   const struct arb_spec_node *n)
{
	if (n->defaulted & ARB_DEF_USER)
		t->unset = true;
	else if (n->user_name)
		text_put(t, n->user_name);
	else
		text_unsigned(t, n->uid);
}

/*
 * What user resolved to, as print.c's comment shows it. The gid is the
 * user's primary group only when group is unset, on both sides: else the
 * group key shows it.
 */
static void
resolved_identity(struct arb_plan_text *t, const struct arb_spec *s,
		  const struct arb_spec_node *n,
		  const struct arb_spec_node *other)
{
	text_put(t, "uid=");
	text_unsigned(t, n->uid);
	if ((n->defaulted & ARB_DEF_GROUP) &&
	    (other->defaulted & ARB_DEF_GROUP)) {
		text_put(t, " gid=");
		text_unsigned(t, n->gid);
	}
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

/* The gid: the core has no group database to name it with. */
static void
value_group(struct arb_plan_text *t, const struct arb_spec *s,
	    const struct arb_spec_node *n)
{
	if (n->defaulted & ARB_DEF_GROUP)
		t->unset = true;
	else
		text_unsigned(t, n->gid);
}

static void
value_umask(struct arb_plan_text *t, const struct arb_spec *s,
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
value_nice(struct arb_plan_text *t, const struct arb_spec *s,
	   const struct arb_spec_node *n)
{
	if (n->set_nice)
		text_signed(t, n->nice);
	else
		t->unset = true;
}

static void
text_rlimit_value(struct arb_plan_text *t, uint64_t v)
{
	if (v == ARB_RLIM_INFINITY)
		text_put(t, "infinity");
	else
		text_unsigned(t, v);
}

/* `{ nofile = 1024; core = "0:infinity"; }` in resource order, so the
 * order they were written in is no change. */
static void
value_rlimits(struct arb_plan_text *t, const struct arb_spec *s,
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
value_no_new_privileges(struct arb_plan_text *t, const struct arb_spec *s,
			const struct arb_spec_node *n)
{
	text_bool(t, n->no_new_privileges);
}

static void
value_forward_signals(struct arb_plan_text *t, const struct arb_spec *s,
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
value_on_change(struct arb_plan_text *t, const struct arb_spec *s,
		const struct arb_spec_node *n)
{
	text_put(t, arb_on_change_name(n->on_change));
}

static void
value_log_sinks(struct arb_plan_text *t, const struct arb_spec *s,
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
	/* Not written: arbord adds its mode's default (the console, as an
	 * init), so written or not is part of the value. */
	if (!(n->log.given & ARB_LOG_SINKS))
		text_put(t, " # default");
}

static void
value_log_ring_size(struct arb_plan_text *t, const struct arb_spec *s,
		    const struct arb_spec_node *n)
{
	text_size(t, n->log.ring_size);
}

static void
value_log_file(struct arb_plan_text *t, const struct arb_spec *s,
	       const struct arb_spec_node *n)
{
	if (n->log.file)
		text_put(t, n->log.file);
	else
		t->unset = true;
}

static void
value_log_max_size(struct arb_plan_text *t, const struct arb_spec *s,
		   const struct arb_spec_node *n)
{
	text_size(t, n->log.max_size);
}

static void
value_log_keep(struct arb_plan_text *t, const struct arb_spec *s,
	       const struct arb_spec_node *n)
{
	text_unsigned(t, n->log.keep);
}

static void
value_log_streams(struct arb_plan_text *t, const struct arb_spec *s,
		  const struct arb_spec_node *n)
{
	text_put(t, arb_log_streams_name(n->log.streams));
}

/* A cgroup limit as arbor.conf writes it; unset: the kernel's default. */
static void
text_cg_limit(struct arb_plan_text *t, const struct arb_spec_node *n,
	      enum arb_cg_limit_key key)
{
	char buf[64];

	arb_cg_format_value(n->limits, key, buf, sizeof(buf));
	if (buf[0])
		text_put(t, buf);
	else
		t->unset = true;
}

static void
value_memory_max(struct arb_plan_text *t, const struct arb_spec *s,
		 const struct arb_spec_node *n)
{
	text_cg_limit(t, n, ARB_CG_MEMORY_MAX);
}

static void
value_memory_high(struct arb_plan_text *t, const struct arb_spec *s,
		  const struct arb_spec_node *n)
{
	text_cg_limit(t, n, ARB_CG_MEMORY_HIGH);
}

static void
value_memory_swap_max(struct arb_plan_text *t, const struct arb_spec *s,
		      const struct arb_spec_node *n)
{
	text_cg_limit(t, n, ARB_CG_MEMORY_SWAP_MAX);
}

static void
value_cpu_weight(struct arb_plan_text *t, const struct arb_spec *s,
		 const struct arb_spec_node *n)
{
	text_cg_limit(t, n, ARB_CG_CPU_WEIGHT);
}

static void
value_cpu_max(struct arb_plan_text *t, const struct arb_spec *s,
	      const struct arb_spec_node *n)
{
	text_cg_limit(t, n, ARB_CG_CPU_MAX);
}

static void
value_pids_max(struct arb_plan_text *t, const struct arb_spec *s,
	       const struct arb_spec_node *n)
{
	text_cg_limit(t, n, ARB_CG_PIDS_MAX);
}

static void
value_io_weight(struct arb_plan_text *t, const struct arb_spec *s,
		const struct arb_spec_node *n)
{
	text_cg_limit(t, n, ARB_CG_IO_WEIGHT);
}

static void
value_strategy(struct arb_plan_text *t, const struct arb_spec *s,
	       const struct arb_spec_node *n)
{
	text_put(t, arb_strategy_name(n->strategy));
}

static void
value_intensity(struct arb_plan_text *t, const struct arb_spec *s,
		const struct arb_spec_node *n)
{
	text_unsigned(t, n->intensity);
}

static void
value_period(struct arb_plan_text *t, const struct arb_spec *s,
	     const struct arb_spec_node *n)
{
	text_duration(t, n->period_ms);
}

static void
value_auto_shutdown(struct arb_plan_text *t, const struct arb_spec *s,
		    const struct arb_spec_node *n)
{
	text_put(t, arb_auto_shutdown_name(n->auto_shutdown));
}

/* Read at the supervisor's next shutdown only: nothing to restart. */
static void
value_shutdown(struct arb_plan_text *t, const struct arb_spec *s,
	       const struct arb_spec_node *n)
{
	text_put(t, arb_shutdown_order_name(n->shutdown));
}

static void
value_max_children(struct arb_plan_text *t, const struct arb_spec *s,
		   const struct arb_spec_node *n)
{
	text_unsigned(t, n->max_children);
}

static void
value_instances(struct arb_plan_text *t, const struct arb_spec *s,
		const struct arb_spec_node *n)
{
	text_unsigned(t, n->instances);
}

static void
value_control_group(struct arb_plan_text *t, const struct arb_spec *s,
		    const struct arb_spec_node *n)
{
	if (s->control_group)
		text_put(t, s->control_group);
	else
		t->unset = true;
}

static void
resolved_control_group(struct arb_plan_text *t, const struct arb_spec *s,
		       const struct arb_spec_node *n,
		       const struct arb_spec_node *other)
{
	text_put(t, "gid=");
	text_signed(t, s->control_gid);
}

static void
value_control_read_logs(struct arb_plan_text *t, const struct arb_spec *s,
			const struct arb_spec_node *n)
{
	text_bool(t, s->control_read_logs);
}

static void
value_on_giveup(struct arb_plan_text *t, const struct arb_spec *s,
		const struct arb_spec_node *n)
{
	text_put(t, arb_giveup_name(s->on_giveup));
}

static void
value_exit_status(struct arb_plan_text *t, const struct arb_spec *s,
		  const struct arb_spec_node *n)
{
	text_put(t, arb_exit_status_name(s->exit_status));
}

static void
value_exit_sigterm_ok(struct arb_plan_text *t, const struct arb_spec *s,
		      const struct arb_spec_node *n)
{
	text_bool(t, s->exit_sigterm_ok);
}

/* Unset is the default shell: writing it out is no change. */
static void
value_emergency_shell(struct arb_plan_text *t, const struct arb_spec *s,
		      const struct arb_spec_node *n)
{
	char *const plain[] = {ARB_DEFAULT_EMERGENCY_SHELL, NULL};

	text_strv(t, s->emergency_shell ? s->emergency_shell : plain);
}

/* A service's keys in arbor.conf's order (print.c's). */
static const struct arb_plan_key_def service_defs[] = {
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
	{"group", false, value_group, NULL},
	{"umask", false, value_umask, NULL},
	{"nice", false, value_nice, NULL},
	{"rlimits", false, value_rlimits, NULL},
	{"no_new_privileges", false, value_no_new_privileges, NULL},
	{"log.sinks", true, value_log_sinks, NULL},
	{"log.ring_size", true, value_log_ring_size, NULL},
	{"log.file", true, value_log_file, NULL},
	{"log.max_size", true, value_log_max_size, NULL},
	{"log.keep", true, value_log_keep, NULL},
	/* The pipes are made at the first start and kept: a new number of
	 * them takes a new process. */
	{"log.streams", false, value_log_streams, NULL},
	/* Written into its cgroup's files while it runs (keys_changed). */
	{"memory_max", true, value_memory_max, NULL},
	{"memory_high", true, value_memory_high, NULL},
	{"memory_swap_max", true, value_memory_swap_max, NULL},
	{"cpu_weight", true, value_cpu_weight, NULL},
	{"cpu_max", true, value_cpu_max, NULL},
	{"pids_max", true, value_pids_max, NULL},
	{"io_weight", true, value_io_weight, NULL},
	{"forward_signals", true, value_forward_signals, NULL},
	{"on_change", true, value_on_change, NULL},
};

/* A supervisor's, a pool's and the root's: all applied in place. */
static const struct arb_plan_key_def supervisor_defs[] = {
	{"restart", true, value_restart, NULL},
	{"significant", true, value_significant, NULL},
	{"strategy", true, value_strategy, NULL},
	{"intensity", true, value_intensity, NULL},
	{"period", true, value_period, NULL},
	{"auto_shutdown", true, value_auto_shutdown, NULL},
	{"shutdown", true, value_shutdown, NULL},
	{"log.sinks", true, value_log_sinks, NULL},
	{"log.ring_size", true, value_log_ring_size, NULL},
	{"log.file", true, value_log_file, NULL},
	{"log.max_size", true, value_log_max_size, NULL},
	{"log.keep", true, value_log_keep, NULL},
	/* A supervisor has no pipes: its services' own keys say. */
	{"log.streams", true, value_log_streams, NULL},
	/* Its cgroup's, the cap of its whole subtree. */
	{"memory_max", true, value_memory_max, NULL},
	{"memory_high", true, value_memory_high, NULL},
	{"memory_swap_max", true, value_memory_swap_max, NULL},
	{"cpu_weight", true, value_cpu_weight, NULL},
	{"cpu_max", true, value_cpu_max, NULL},
	{"pids_max", true, value_pids_max, NULL},
	{"io_weight", true, value_io_weight, NULL},
};

static const struct arb_plan_key_def pool_defs[] = {
	{"max_children", true, value_max_children, NULL},
	{"instances", true, value_instances, NULL},
};

/* The spec-wide keys, shown as the root's. */
static const struct arb_plan_key_def root_defs[] = {
	{"control_group", true, value_control_group, resolved_control_group},
	{"control_read_logs", true, value_control_read_logs, NULL},
	{"on_giveup", true, value_on_giveup, NULL},
	{"emergency_shell", true, value_emergency_shell, NULL},
	{"exit_status", true, value_exit_status, NULL},
	{"exit_sigterm_ok", true, value_exit_sigterm_ok, NULL},
};

#define NKEYS(table) ((uint32_t)(sizeof(table) / sizeof((table)[0])))

const struct arb_plan_keys arb_plan_service_keys = {
	service_defs, NKEYS(service_defs)};
const struct arb_plan_keys arb_plan_supervisor_keys = {
	supervisor_defs, NKEYS(supervisor_defs)};
const struct arb_plan_keys arb_plan_pool_keys = {
	pool_defs, NKEYS(pool_defs)};
const struct arb_plan_keys arb_plan_root_keys = {
	root_defs, NKEYS(root_defs)};

int
arb_plan_key_compare(struct arb_plan_values *v,
		     const struct arb_plan_key_def *def,
		     const struct arb_spec *as, const struct arb_spec_node *a,
		     const struct arb_spec *bs, const struct arb_spec_node *b)
{
	text_reset(&v->old);
	text_reset(&v->new);
	def->value(&v->old, as, a);
	def->value(&v->new, bs, b);
	if (!text_equal(&v->old, &v->new) || !def->resolved)
		goto done;
	text_reset(&v->old_resolved);
	text_reset(&v->new_resolved);
	def->resolved(&v->old_resolved, as, a, b);
	def->resolved(&v->new_resolved, bs, b, a);
	if (v->old_resolved.oom || v->new_resolved.oom ||
	    text_equal(&v->old_resolved, &v->new_resolved))
		goto done;
	text_put(&v->old, v->old.unset ? "# " : " # ");
	text_put(&v->old, v->old_resolved.buf);
	text_put(&v->new, v->new.unset ? "# " : " # ");
	text_put(&v->new, v->new_resolved.buf);
	v->old.unset = v->new.unset = false;
done:
	if (v->old.oom || v->new.oom || v->old_resolved.oom ||
	    v->new_resolved.oom)
		return -1;
	return text_equal(&v->old, &v->new) ? 0 : 1;
}
