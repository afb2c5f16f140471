/*
 * config_keys.c - the keys of one child, read into its spec node.
 *
 * One reader per value type (string, integer, boolean, duration, enum,
 * array) and one parser per key, dispatched from the key table; exec[0] is
 * resolved against $PATH here. It sees one node at a time: checks that span
 * nodes and files are config.c's. No pointer into libconfig survives a call.
 */
#include <errno.h>
#include <libconfig.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_internal.h"
#include "limits.h"
#include "mem.h"
#include "signames.h"
#include "spec.h"

/* The search path when arbord's environment has no $PATH. */
#define DEFAULT_PATH \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ---- typed values ----------------------------------------------------- */

const char *
type_name(const config_setting_t *s)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_GROUP:
		return "a group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a float";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "a boolean";
	case CONFIG_TYPE_ARRAY:
		return "an array";
	case CONFIG_TYPE_LIST:
		return "a list";
	default:
		return "nothing";
	}
}

static bool
is_int(const config_setting_t *s)
{
	return config_setting_type(s) == CONFIG_TYPE_INT ||
	       config_setting_type(s) == CONFIG_TYPE_INT64;
}

/* The key a setting is the value of, or of whose array it is an element. */
static const char *
key_of(const config_setting_t *s)
{
	const config_setting_t *p = config_setting_parent(s);

	if (!config_setting_name(s) && p && config_setting_name(p))
		return config_setting_name(p);
	return config_setting_name(s) ? config_setting_name(s) : "?";
}

int
get_string(struct node_ctx *c, const config_setting_t *s, const char **ret)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		node_err(c, s, "%s: expected a string, got %s", key_of(s),
			 type_name(s));
		return -1;
	}
	*ret = config_setting_get_string(s);
	return 0;
}

static int
get_int(struct node_ctx *c, const config_setting_t *s, long long *ret)
{
	if (!is_int(s)) {
		node_err(c, s, "%s: expected an integer, got %s", key_of(s),
			 type_name(s));
		return -1;
	}
	*ret = config_setting_get_int64(s);
	return 0;
}

static int
get_bool(struct node_ctx *c, const config_setting_t *s, bool *ret)
{
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		node_err(c, s, "%s: expected a boolean (true or false), got %s",
			 key_of(s), type_name(s));
		return -1;
	}
	*ret = config_setting_get_bool(s);
	return 0;
}

/* An array [ ... ] or a list ( ... ) of scalars: either reads the same. */
static int
get_sequence(struct node_ctx *c, const config_setting_t *s)
{
	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		node_err(c, s, "%s: expected an array [ ... ], got %s",
			 key_of(s), type_name(s));
		return -1;
	}
	return 0;
}

/*
 * A name from one of spec.c's tables; `expected` lists the valid names
 * for the message.
 */
static int
get_enum(struct node_ctx *c, const config_setting_t *s,
	 int (*from_name)(const char *), const char *expected, int *ret)
{
	const char *text;
	int v;

	if (get_string(c, s, &text) < 0)
		return -1;
	v = from_name(text);
	if (v < 0) {
		node_err(c, s, "%s: unknown value '%s' (expected %s)",
			 key_of(s), text, expected);
		return -1;
	}
	*ret = v;
	return 0;
}

/*
 * A duration: a libconfig number is seconds, a string goes through
 * arb_spec_parse_duration. Numbers are turned into text so that both
 * forms share one parser and one set of limits.
 */
static int
get_duration(struct node_ctx *c, const config_setting_t *s,
	     bool allow_infinity, int64_t *ret_ms)
{
	char buf[64], shown[64];
	const char *text;

	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		(void)snprintf(buf, sizeof(buf), "%lld",
			       config_setting_get_int64(s));
		text = buf;
		(void)snprintf(shown, sizeof(shown), "%s", buf);
		break;
	case CONFIG_TYPE_FLOAT:
		(void)snprintf(buf, sizeof(buf), "%.6f",
			       config_setting_get_float(s));
		text = buf;
		(void)snprintf(shown, sizeof(shown), "%g",
			       config_setting_get_float(s));
		break;
	case CONFIG_TYPE_STRING:
		text = config_setting_get_string(s);
		(void)snprintf(shown, sizeof(shown), "%s", text);
		break;
	default:
		node_err(c, s, "%s: expected a duration (seconds, or a string "
			 "such as \"5s\"), got %s", key_of(s), type_name(s));
		return -1;
	}
	if (!allow_infinity && strcmp(text, "infinity") == 0) {
		node_err(c, s, "%s: \"infinity\" is not allowed here",
			 key_of(s));
		return -1;
	}
	if (arb_spec_parse_duration(text, allow_infinity, ret_ms) < 0) {
		node_err(c, s, "%s: invalid duration '%s' (expected seconds, "
			 "or a number with a unit: \"250ms\", \"5s\", "
			 "\"2min\", \"1h\"; at most a year%s)", key_of(s),
			 shown, allow_infinity ? "; or \"infinity\"" : "");
		return -1;
	}
	return 0;
}

/* ---- keys common to every child -------------------------------------- */

static int
parse_restart(struct node_ctx *c, const config_setting_t *s)
{
	int v;

	if (get_enum(c, s, arb_restart_from_name,
		     "permanent, transient or temporary", &v) < 0)
		return -1;
	node(c)->restart = (enum arb_restart)v;
	return 0;
}

static int
parse_significant(struct node_ctx *c, const config_setting_t *s)
{
	bool v;

	if (get_bool(c, s, &v) < 0)
		return -1;
	node(c)->significant = v;
	if (v)
		c->significant = s;
	return 0;
}

/* ---- supervisor flags ---------------------------------------------------- */

static int
parse_strategy(struct node_ctx *c, const config_setting_t *s)
{
	const char *text;
	int v;

	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		text = config_setting_get_string(s);
		if (strcmp(text, "simple_one_for_one") == 0) {
			node_err(c, s, "strategy: 'simple_one_for_one' is not "
				 "supported (arbor has no dynamic children)");
			return -1;
		}
	}
	if (get_enum(c, s, arb_strategy_from_name,
		     "one_for_one, one_for_all or rest_for_one", &v) < 0)
		return -1;
	node(c)->strategy = (enum arb_strategy)v;
	return 0;
}

/* F3: an integer >= 0; the cap bounds the ring of restart times. */
static int
parse_intensity(struct node_ctx *c, const config_setting_t *s)
{
	long long v;

	if (get_int(c, s, &v) < 0)
		return -1;
	if (v < 0 || v > ARB_INTENSITY_MAX) {
		node_err(c, s, "intensity: %lld is out of range (0 to %d)", v,
			 ARB_INTENSITY_MAX);
		return -1;
	}
	node(c)->intensity = (uint32_t)v;
	return 0;
}

/* F3: a period > 0; "infinity" is rejected. */
static int
parse_period(struct node_ctx *c, const config_setting_t *s)
{
	int64_t ms;

	if (get_duration(c, s, false, &ms) < 0)
		return -1;
	if (ms <= 0) {
		node_err(c, s, "period: must be greater than 0");
		return -1;
	}
	node(c)->period_ms = ms;
	return 0;
}

static int
parse_auto_shutdown(struct node_ctx *c, const config_setting_t *s)
{
	int v;

	if (get_enum(c, s, arb_auto_shutdown_from_name,
		     "never, any_significant or all_significant", &v) < 0)
		return -1;
	node(c)->auto_shutdown = (enum arb_auto_shutdown)v;
	return 0;
}

/* ---- service keys -------------------------------------------------------- */

/*
 * 0 when `path` is an executable regular file, else -errno (-EACCES for
 * anything that exists but cannot be executed).
 */
static int
check_executable(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return errno == ENOTDIR ? -ENOENT : -errno;
	if (!S_ISREG(st.st_mode) || access(path, X_OK) < 0)
		return -EACCES;
	return 0;
}

/*
 * Looks a bare program name up in $PATH, as execvp would, but only in
 * absolute directories: the result is stored and used after arbord or
 * the child may have changed directory. *ret is NULL when not found.
 */
static int
search_path(struct loader *ld, const char *prog, char **ret)
{
	const char *path = getenv("PATH");
	int r = -ENOENT;

	*ret = NULL;
	if (!path || !*path)
		path = DEFAULT_PATH;
	for (const char *p = path; *p;) {
		size_t len = strcspn(p, ":");
		char *cand;
		int k;

		if (len > 0 && p[0] == '/') {
			cand = join(ld, p, len, prog);
			if (!cand)
				return -ENOMEM;
			k = check_executable(cand);
			if (k == 0) {
				*ret = cand;
				return 0;
			}
			arb_free(cand);
			if (k == -EACCES)
				r = k;
		}
		p += len;
		if (*p == ':')
			p++;
	}
	return r;
}

/* Sets exec_path from exec[0] (`at`), or reports why it cannot. */
static int
resolve_program(struct node_ctx *c, const config_setting_t *at,
		const char *prog)
{
	char *resolved = NULL;
	int r;

	if (!*prog) {
		node_err(c, at, "exec: the program name is empty");
		return -1;
	}
	if (strchr(prog, '/')) {
		if (prog[0] != '/') {
			node_err(c, at, "exec: program '%s' is a relative path "
				 "(write an absolute path, or a bare name to "
				 "search $PATH)", prog);
			return -1;
		}
		r = check_executable(prog);
		if (r == 0) {
			resolved = arb_strdup(prog);
			if (!resolved)
				r = -ENOMEM;
		}
	} else {
		r = search_path(c->ld, prog, &resolved);
	}
	switch (r) {
	case 0:
		arb_free(node(c)->exec_path);
		node(c)->exec_path = resolved;
		return 0;
	case -ENOMEM:
		c->ld->oom = true;
		return -1;
	case -ENOENT:
		node_err(c, at, "exec: program '%s' not found%s", prog,
			 strchr(prog, '/') ? "" : " in $PATH");
		return -1;
	case -EACCES:
		node_err(c, at, "exec: program '%s' is not an executable file",
			 prog);
		return -1;
	default:
		node_err(c, at, "exec: program '%s': %s", prog, strerror(-r));
		return -1;
	}
}

/*
 * Copies a sequence of strings into a NULL-terminated vector; NULL with
 * an error reported (or ld->oom set) when an element is not a string.
 */
static char **
copy_strings(struct node_ctx *c, const config_setting_t *s, int max)
{
	int n = config_setting_length(s);
	char **v;

	if (n > max) {
		node_err(c, s, "%s: more than %d entries", key_of(s), max);
		return NULL;
	}
	v = arb_calloc((size_t)n + 1, sizeof(*v));
	if (!v)
		goto oom;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);
		const char *text;

		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			node_err(c, e, "%s: element %d is %s, expected a "
				 "string", key_of(s), i + 1, type_name(e));
			goto fail;
		}
		text = config_setting_get_string(e);
		v[i] = arb_strdup(text);
		if (!v[i])
			goto oom;
	}
	return v;
oom:
	c->ld->oom = true;
fail:
	arb_spec_strv_free(v);
	return NULL;
}

static int
parse_exec(struct node_ctx *c, const config_setting_t *s)
{
	char **argv;

	if (get_sequence(c, s) < 0)
		return -1;
	if (config_setting_length(s) == 0) {
		node_err(c, s, "exec: must name a program (the array is "
			 "empty)");
		return -1;
	}
	argv = copy_strings(c, s, ARB_ARGV_MAX);
	if (!argv)
		return -1;
	arb_spec_strv_free(node(c)->argv);
	node(c)->argv = argv;
	return resolve_program(c, config_setting_get_elem(s, 0), argv[0]);
}

static int
parse_stop_signal(struct node_ctx *c, const config_setting_t *s)
{
	const char *text;
	int signo;

	if (get_string(c, s, &text) < 0)
		return -1;
	signo = arb_signal_from_name(text);
	if (signo < 0) {
		node_err(c, s, "stop_signal: unknown signal '%s' (expected a "
			 "name such as \"TERM\" or \"SIGINT\")", text);
		return -1;
	}
	node(c)->stop_signal = signo;
	return 0;
}

/* M3: 0 is brutal_kill; "infinity" is allowed but warned about (C3). */
static int
parse_stop_timeout(struct node_ctx *c, const config_setting_t *s)
{
	int64_t ms;

	if (get_duration(c, s, true, &ms) < 0)
		return -1;
	if (ms == ARB_INFINITY_MS)
		node_warn(c, s, "stop_timeout: \"infinity\": stopping the "
			  "tree waits for this service to exit by itself");
	node(c)->stop_timeout_ms = ms;
	return 0;
}

static int
parse_normal_exit(struct node_ctx *c, const config_setting_t *s)
{
	int n, bad = 0;

	if (get_sequence(c, s) < 0)
		return -1;
	n = config_setting_length(s);
	memset(node(c)->normal_exit, 0, sizeof(node(c)->normal_exit));
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);
		long long code;

		if (!is_int(e)) {
			node_err(c, e, "normal_exit: element %d is %s, "
				 "expected an integer", i + 1, type_name(e));
			bad = -1;
			continue;
		}
		code = config_setting_get_int64(e);
		if (code < 1 || code > 255) {
			node_err(c, e, "normal_exit: %lld is not an exit "
				 "status from 1 to 255 (0 is always normal)",
				 code);
			bad = -1;
			continue;
		}
		arb_spec_set_normal_exit(node(c), (int)code);
	}
	return bad;
}

static bool
is_env_key_char(char ch, bool first)
{
	return ch == '_' || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= 'a' && ch <= 'z') || (!first && ch >= '0' && ch <= '9');
}

/*
 * KEY=value with KEY a portable name, [A-Za-z_][A-Za-z0-9_]*: anything
 * else cannot be read back with getenv or a shell.
 */
static bool
env_entry_valid(const char *e)
{
	const char *p = e;

	if (!is_env_key_char(*p, true))
		return false;
	for (p++; *p && *p != '='; p++)
		if (!is_env_key_char(*p, false))
			return false;
	return *p == '=';
}

static bool
env_same_key(const char *a, const char *b)
{
	size_t la = strcspn(a, "="), lb = strcspn(b, "=");

	return la == lb && memcmp(a, b, la) == 0;
}

static int
parse_env(struct node_ctx *c, const config_setting_t *s)
{
	char **env;
	int bad = 0;

	if (get_sequence(c, s) < 0)
		return -1;
	env = copy_strings(c, s, ARB_ENV_MAX);
	if (!env)
		return -1;
	for (int i = 0; env[i]; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);

		if (!env_entry_valid(env[i])) {
			node_err(c, e, "env: '%s' is not KEY=value with KEY "
				 "made of letters, digits and '_' (not first "
				 "a digit)", env[i]);
			bad = -1;
			continue;
		}
		for (int j = 0; j < i; j++) {
			if (env_same_key(env[i], env[j])) {
				node_err(c, e, "env: '%.*s' is set twice",
					 (int)strcspn(env[i], "="), env[i]);
				bad = -1;
				break;
			}
		}
	}
	arb_spec_strv_free(node(c)->env);
	node(c)->env = env;
	return bad;
}

static int
parse_cwd(struct node_ctx *c, const config_setting_t *s)
{
	const char *dir;
	struct stat st;
	char *copy;

	if (get_string(c, s, &dir) < 0)
		return -1;
	if (dir[0] != '/') {
		node_err(c, s, "cwd: '%s' is not an absolute path", dir);
		return -1;
	}
	if (stat(dir, &st) < 0) {
		node_err(c, s, "cwd: '%s': %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		node_err(c, s, "cwd: '%s' is not a directory", dir);
		return -1;
	}
	copy = arb_strdup(dir);
	if (!copy) {
		c->ld->oom = true;
		return -1;
	}
	arb_free(node(c)->cwd);
	node(c)->cwd = copy;
	return 0;
}

/* ---- the key table ----------------------------------------------------- */

static const struct key {
	const char *name;
	unsigned where;
	uint32_t default_bit; /* cleared in `defaulted` once written */
	int (*parse)(struct node_ctx *c, const config_setting_t *s);
} keys[] = {
	/* name and children are read by load_child, not here. */
	{"name", IN_SERVICE | IN_SUPERVISOR, 0, NULL},
	{"children", IN_SUPERVISOR, 0, NULL},
	{"exec", IN_SERVICE, 0, parse_exec},
	{"restart", IN_SERVICE | IN_SUPERVISOR, ARB_DEF_RESTART,
	 parse_restart},
	{"significant", IN_SERVICE | IN_SUPERVISOR, ARB_DEF_SIGNIFICANT,
	 parse_significant},
	{"strategy", IN_SUPERVISOR | IN_ROOT, ARB_DEF_STRATEGY, parse_strategy},
	{"intensity", IN_SUPERVISOR | IN_ROOT, ARB_DEF_INTENSITY,
	 parse_intensity},
	{"period", IN_SUPERVISOR | IN_ROOT, ARB_DEF_PERIOD, parse_period},
	{"auto_shutdown", IN_SUPERVISOR | IN_ROOT, ARB_DEF_AUTO_SHUTDOWN,
	 parse_auto_shutdown},
	{"stop_signal", IN_SERVICE, ARB_DEF_STOP_SIGNAL, parse_stop_signal},
	{"stop_timeout", IN_SERVICE, ARB_DEF_STOP_TIMEOUT, parse_stop_timeout},
	{"normal_exit", IN_SERVICE, ARB_DEF_NORMAL_EXIT, parse_normal_exit},
	{"env", IN_SERVICE, ARB_DEF_ENV, parse_env},
	{"cwd", IN_SERVICE, ARB_DEF_CWD, parse_cwd},
};

/*
 * Keys DESIGN.md promises that this version does not implement: saying so
 * is clearer than "unknown key", and they must not be silently ignored.
 */
static const char *const unsupported_keys[] = {
	"user", "group", "umask", "rlimits", "ready", "start_timeout",
	"restart_delay", "listen", "watchdog", "log",
};

static const struct key *
find_key(const char *name)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static bool
key_unsupported(const char *name)
{
	for (size_t i = 0;
	     i < sizeof(unsupported_keys) / sizeof(unsupported_keys[0]); i++)
		if (strcmp(unsupported_keys[i], name) == 0)
			return true;
	return false;
}

static void
report_misplaced(struct node_ctx *c, const config_setting_t *m,
		 const struct key *k, unsigned where)
{
	const char *name = config_setting_name(m);

	if (where == IN_ROOT)
		node_err(c, m, "key '%s' does not belong in the root's "
			 "'supervisor' group", name);
	else if (k->where & IN_SUPERVISOR)
		node_err(c, m, "key '%s' applies only to supervisors (this "
			 "child has 'exec')", name);
	else
		node_err(c, m, "key '%s' applies only to services (this child "
			 "has 'children')", name);
}

/* Reads every key of group `g` except name and children, in file order. */
void
parse_keys(struct node_ctx *c, const config_setting_t *g, unsigned where)
{
	int n = config_setting_length(g);

	for (int i = 0; i < n && !c->ld->oom; i++) {
		const config_setting_t *m = config_setting_get_elem(g, i);
		const char *name = config_setting_name(m);
		const struct key *k = find_key(name);

		if (!k) {
			if (key_unsupported(name))
				node_err(c, m, "key '%s' is not supported by "
					 "this version of arbord", name);
			else
				node_err(c, m, "unknown key '%s'", name);
			continue;
		}
		if (!(k->where & where)) {
			report_misplaced(c, m, k, where);
			continue;
		}
		if (k->parse && k->parse(c, m) == 0)
			node(c)->defaulted &= ~k->default_bit;
	}
}

