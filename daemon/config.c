/*
 * config.c - arbor.conf and conf.d/ into a spec (DESIGN.md "Configuration").
 *
 * Reads each file with libconfig, checks every key of every child, resolves
 * exec[0] against $PATH, and collects every problem as "FILE:LINE: message"
 * instead of stopping at the first. No pointer into libconfig survives a
 * call. It reports through arb_diag only: main.c decides what to print.
 */
#include <dirent.h>
#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "limits.h"
#include "mem.h"
#include "signames.h"
#include "spec.h"

/* The search path when arbord's environment has no $PATH. */
#define DEFAULT_PATH \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

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

/* ---- diagnostics ---------------------------------------------------- */

void
arb_diag_done(struct arb_diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		arb_free(d->entries[i].text);
	arb_free(d->entries);
	memset(d, 0, sizeof(*d));
}

/* `fmt` formatted into fresh memory from arb_calloc; NULL on OOM. */
static PRINTF(1, 0) char *
vformat(const char *fmt, va_list ap)
{
	va_list aq;
	char *buf;
	int len;

	va_copy(aq, ap);
	len = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (len < 0)
		return NULL;
	buf = arb_calloc((size_t)len + 1, 1);
	if (buf)
		(void)vsnprintf(buf, (size_t)len + 1, fmt, ap);
	return buf;
}

static PRINTF(2, 3) char *
format(struct loader *ld, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = vformat(fmt, ap);
	va_end(ap);
	if (!s)
		ld->oom = true;
	return s;
}

/* Appends "FILE:LINE: PREFIXmessage" (no ":LINE" when line <= 0). */
static PRINTF(6, 0) void
diag_vadd(struct loader *ld, enum arb_diag_level level, const char *file,
	  int line, const char *prefix, const char *fmt, va_list ap)
{
	struct arb_diag *d = ld->diag;
	struct arb_diag_entry *entries;
	char *msg, *text;

	entries = arb_reallocarray(d->entries, d->n + 1, sizeof(*entries));
	if (!entries) {
		ld->oom = true;
		return;
	}
	d->entries = entries;
	msg = vformat(fmt, ap);
	if (!msg) {
		ld->oom = true;
		return;
	}
	if (line > 0)
		text = format(ld, "%s:%d: %s%s", file, line, prefix, msg);
	else
		text = format(ld, "%s: %s%s", file, prefix, msg);
	arb_free(msg);
	if (!text)
		return;
	/* One entry is one line, whatever the user's strings hold. */
	for (char *p = text; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	d->entries[d->n].level = level;
	d->entries[d->n].text = text;
	d->n++;
	if (level == ARB_DIAG_ERROR)
		d->nerrors++;
	else
		d->nwarnings++;
}

/* An error at FILE:LINE, or at FILE alone when line <= 0. */
static PRINTF(4, 5) void
at_err(struct loader *ld, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(ld, ARB_DIAG_ERROR, file, line, "", fmt, ap);
	va_end(ap);
}

/* "DIR/NAME" from the first dirlen bytes of dir; NULL (and oom) on OOM. */
static char *
join(struct loader *ld, const char *dir, size_t dirlen, const char *name)
{
	return format(ld, "%.*s%s%s", (int)dirlen, dir,
		      dirlen && dir[dirlen - 1] != '/' ? "/" : "", name);
}

/*
 * libconfig names an @include'd file as written, though it opened it
 * relative to the include directory: this is the path it really read.
 */
static char *
included_name(struct loader *ld, const char *f)
{
	if (f[0] == '/' || strcmp(ld->include_dir, ".") == 0)
		return format(ld, "%s", f);
	return join(ld, ld->include_dir, strlen(ld->include_dir), f);
}

/*
 * The spec's copy of the file a setting came from: the file being read,
 * or one it pulled in with @include.
 */
static const char *
file_of(struct loader *ld, const config_setting_t *s)
{
	const char *f = config_setting_source_file(s);
	const char *copy = NULL;
	char *name;

	if (!f || strcmp(f, ld->file) == 0)
		return ld->file;
	name = included_name(ld, f);
	if (!name)
		return ld->file;
	for (uint32_t i = 0; i < ld->spec->nfiles && !copy; i++)
		if (strcmp(ld->spec->files[i], name) == 0)
			copy = ld->spec->files[i];
	if (!copy)
		copy = arb_spec_add_file(ld->spec, name);
	arb_free(name);
	if (!copy) {
		ld->oom = true;
		return ld->file;
	}
	return copy;
}

/* An error at setting `at`, outside any child. */
static PRINTF(3, 4) void
top_err(struct loader *ld, const config_setting_t *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(ld, ARB_DIAG_ERROR, file_of(ld, at),
		  (int)config_setting_source_line(at), "", fmt, ap);
	va_end(ap);
}

/* An error or warning about node c->idx, quoting its path. */
static PRINTF(4, 0) void
node_vdiag(struct node_ctx *c, enum arb_diag_level level,
	   const config_setting_t *at, const char *fmt, va_list ap)
{
	struct loader *ld = c->ld;
	const char *prefix = c->top ? "" : "supervisor: ";
	char *child = NULL;

	if (!c->top && c->idx != ARB_ROOT) {
		child = format(ld, "child '%s': ",
			       ld->spec->nodes[c->idx].path);
		if (!child)
			return;
		prefix = child;
	}
	diag_vadd(ld, level, file_of(ld, at),
		  (int)config_setting_source_line(at), prefix, fmt, ap);
	arb_free(child);
}

static PRINTF(3, 4) void
node_err(struct node_ctx *c, const config_setting_t *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	node_vdiag(c, ARB_DIAG_ERROR, at, fmt, ap);
	va_end(ap);
}

static PRINTF(3, 4) void
node_warn(struct node_ctx *c, const config_setting_t *at, const char *fmt,
	  ...)
{
	va_list ap;

	va_start(ap, fmt);
	node_vdiag(c, ARB_DIAG_WARNING, at, fmt, ap);
	va_end(ap);
}

/* ---- typed values ----------------------------------------------------- */

static const char *
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

static int
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

static struct arb_spec_node *
node(struct node_ctx *c)
{
	return &c->ld->spec->nodes[c->idx];
}

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

static void
free_strv(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		arb_free(*p);
	arb_free(v);
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
	free_strv(v);
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
	free_strv(node(c)->argv);
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
	free_strv(node(c)->env);
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

/* Where a key may appear. */
enum {
	IN_SERVICE = 1u << 0,
	IN_SUPERVISOR = 1u << 1,
	IN_ROOT = 1u << 2, /* the top-level `supervisor = { ... }` group */
};

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
static void
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

/* ---- the tree ---------------------------------------------------------- */

static void load_children(struct loader *ld, uint32_t parent,
			  const config_setting_t *list);

/* C5: the first rule wins when both apply. */
static void
check_significant(struct node_ctx *c)
{
	const struct arb_spec_node *n = node(c);
	const struct arb_spec_node *p = &c->ld->spec->nodes[n->parent];

	if (!n->significant)
		return;
	if (p->auto_shutdown == ARB_AUTO_NEVER)
		node_err(c, c->significant, "significant = true needs "
			 "auto_shutdown on its supervisor, and %s%s%s has "
			 "auto_shutdown = \"never\" (C5)",
			 n->parent == ARB_ROOT ? "the root" : "'",
			 n->parent == ARB_ROOT ? "" : p->path,
			 n->parent == ARB_ROOT ? "" : "'");
	else if (n->restart == ARB_PERMANENT)
		node_err(c, c->significant, "significant = true cannot be "
			 "combined with restart = \"permanent\" (C5)");
}

/*
 * What to call a child whose name is missing or invalid: "#3" for the
 * third entry of its children list, so that messages can still say which.
 */
static const char *
child_name(const config_setting_t *g, int pos, char *buf, size_t size)
{
	const config_setting_t *s = config_setting_get_member(g, "name");

	if (s && config_setting_type(s) == CONFIG_TYPE_STRING &&
	    arb_spec_name_valid(config_setting_get_string(s)))
		return config_setting_get_string(s);
	(void)snprintf(buf, size, "#%d", pos);
	return buf;
}

/* Reports a missing or bad name of node c->idx. */
static void
check_name(struct node_ctx *c, const config_setting_t *g)
{
	const config_setting_t *s = config_setting_get_member(g, "name");
	const char *name;

	if (!s) {
		node_err(c, g, "missing key 'name'");
		return;
	}
	if (get_string(c, s, &name) < 0)
		return;
	if (!arb_spec_name_valid(name))
		node_err(c, s, "invalid name '%s' (use letters, digits, '_', "
			 "'.' and '-', at most %d characters, not '.' or '..')",
			 name, ARB_NAME_MAX);
}

/* Appends a node under `parent`, enforcing ARB_NODES_MAX. */
static uint32_t
add_node(struct loader *ld, uint32_t parent, enum arb_node_kind kind,
	 const char *name, const config_setting_t *g)
{
	uint32_t idx;

	if (ld->spec->nnodes >= ARB_NODES_MAX) {
		if (!ld->nodes_full)
			top_err(ld, g, "more than %d children in the whole "
				"tree", ARB_NODES_MAX - 1);
		ld->nodes_full = true;
		return ARB_NONE;
	}
	idx = arb_spec_add(ld->spec, parent, kind, name, file_of(ld, g),
			   (int)config_setting_source_line(g));
	if (idx == ARB_NONE)
		ld->oom = true;
	return idx;
}

/* One element of a `children` list: a service or a supervisor. */
static void
load_child(struct loader *ld, uint32_t parent, const config_setting_t *g,
	   int pos)
{
	const config_setting_t *exec = config_setting_get_member(g, "exec");
	const config_setting_t *children =
		config_setting_get_member(g, "children");
	struct node_ctx c = {.ld = ld};
	char buf[16];
	const char *name = child_name(g, pos, buf, sizeof(buf));
	uint32_t dup = name == buf ? ARB_NONE :
		arb_spec_find_child(ld->spec, parent, name);

	c.idx = add_node(ld, parent, exec ? ARB_NODE_SERVICE :
			 ARB_NODE_SUPERVISOR, name, g);
	if (c.idx == ARB_NONE)
		return;
	check_name(&c, g);
	if (dup != ARB_NONE)
		node_err(&c, config_setting_get_member(g, "name"),
			 "duplicate name, first defined at %s:%d",
			 ld->spec->nodes[dup].file,
			 ld->spec->nodes[dup].line);
	if (exec && children) {
		node_err(&c, g, "has both 'exec' and 'children' (a service "
			 "has exec, a supervisor has children)");
		return;
	}
	if (!exec && !children) {
		node_err(&c, g, "has neither 'exec' (a service) nor "
			 "'children' (a supervisor)");
		return;
	}
	parse_keys(&c, g, exec ? IN_SERVICE : IN_SUPERVISOR);
	check_significant(&c);
	if (children && !ld->oom)
		load_children(ld, c.idx, children);
}

/* The `children = ( { ... }, ... )` of supervisor `parent`. */
static void
load_children(struct loader *ld, uint32_t parent,
	      const config_setting_t *list)
{
	struct node_ctx pc = {
		.ld = ld, .idx = parent, .top = parent == ARB_ROOT,
	};
	const struct arb_spec_node *p = &ld->spec->nodes[parent];
	int n;

	if (!config_setting_is_list(list)) {
		node_err(&pc, list, "children: expected a list "
			 "( { ... }, ... ), got %s", type_name(list));
		return;
	}
	n = config_setting_length(list);
	if (n > 0 && p->depth >= ARB_DEPTH_MAX) {
		node_err(&pc, list, "children: nested more than %d levels "
			 "below the root", ARB_DEPTH_MAX);
		return;
	}
	if ((long)p->nchildren + n > ARB_CHILDREN_MAX) {
		node_err(&pc, list, "children: more than %d children under "
			 "'%s'", ARB_CHILDREN_MAX, p->path);
		return;
	}
	for (int i = 0; i < n && !ld->oom && !ld->nodes_full; i++) {
		const config_setting_t *g = config_setting_get_elem(list, i);

		if (!config_setting_is_group(g)) {
			node_err(&pc, g, "children: element %d is %s, expected "
				 "a group { ... }", i + 1, type_name(g));
			continue;
		}
		load_child(ld, parent, g, i + 1);
	}
}

/* The main file's `supervisor = { ... }`: the root's flags. */
static void
load_root_flags(struct loader *ld, const config_setting_t *g)
{
	struct node_ctx c = {.ld = ld, .idx = ARB_ROOT};

	if (!config_setting_is_group(g)) {
		top_err(ld, g, "supervisor: expected a group { ... }, got %s",
			type_name(g));
		return;
	}
	parse_keys(&c, g, IN_ROOT);
}

/*
 * The top level of one file. The main file holds the root's flags and
 * children; a fragment may only add children, so that one file decides
 * how the root behaves.
 */
static void
load_top(struct loader *ld, const config_setting_t *root, bool fragment)
{
	const config_setting_t *sup =
		config_setting_get_member(root, "supervisor");
	int n = config_setting_length(root);

	if (sup && !fragment)
		load_root_flags(ld, sup);
	for (int i = 0; i < n && !ld->oom; i++) {
		const config_setting_t *m = config_setting_get_elem(root, i);
		const char *name = config_setting_name(m);

		if (strcmp(name, "children") == 0)
			load_children(ld, ARB_ROOT, m);
		else if (strcmp(name, "supervisor") == 0 && fragment)
			top_err(ld, m, "key 'supervisor' is not allowed in a "
				"conf.d fragment (only 'children'); the root's "
				"flags belong in %s", ld->main_file);
		else if (strcmp(name, "supervisor") != 0)
			top_err(ld, m, "unknown key '%s'", name);
	}
}

/* ---- files ------------------------------------------------------------- */

/*
 * 0 when `path` can be opened for reading as a file, else -errno: libconfig
 * only says "file I/O error", and fopen succeeds on a directory.
 */
static int
check_readable(const char *path)
{
	struct stat st;
	FILE *f = fopen(path, "r");
	int r = 0;

	if (!f)
		return -errno;
	if (fstat(fileno(f), &st) < 0)
		r = -errno;
	else if (S_ISDIR(st.st_mode))
		r = -EISDIR;
	(void)fclose(f);
	return r;
}

static void
report_syntax_error(struct loader *ld, const config_t *cfg, const char *path)
{
	const char *f = config_error_file(cfg);
	char *name = NULL;

	if (f && strcmp(f, path) != 0) {
		name = included_name(ld, f);
		if (!name)
			return;
	}
	at_err(ld, name ? name : path, config_error_line(cfg), "%s",
	       config_error_text(cfg));
	arb_free(name);
}

/* Reads and loads one file; every problem goes to the diag. */
static void
load_file(struct loader *ld, const char *path, const char *include_dir,
	  bool fragment)
{
	config_t cfg;
	int r;

	ld->file = arb_spec_add_file(ld->spec, path);
	if (!ld->file) {
		ld->oom = true;
		return;
	}
	r = check_readable(path);
	if (r < 0) {
		at_err(ld, path, 0, "cannot read: %s", strerror(-r));
		return;
	}
	config_init(&cfg);
	ld->include_dir = include_dir;
	config_set_include_dir(&cfg, include_dir);
	errno = 0;
	if (!config_read_file(&cfg, path)) {
		if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
			at_err(ld, path, 0, "cannot read: %s",
			       strerror(errno ? errno : EIO));
		else
			report_syntax_error(ld, &cfg, path);
		config_destroy(&cfg);
		return;
	}
	load_top(ld, config_root_setting(&cfg), fragment);
	config_destroy(&cfg);
}

/* The directory part of `path`: "." when there is none, "/" for "/x". */
static char *
dir_of(struct loader *ld, const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return format(ld, ".");
	if (slash == path)
		return format(ld, "/");
	return format(ld, "%.*s", (int)(slash - path), path);
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool
is_fragment_name(const char *name)
{
	size_t len = strlen(name);

	/* Hidden files are editor and package-manager leftovers. */
	return name[0] != '.' && len > 5 &&
	       strcmp(name + len - 5, ".conf") == 0;
}

/*
 * The *.conf names in `confd`, sorted with strcmp; 0 with *ret_n = 0 when
 * the directory does not exist, -1 after reporting any other problem.
 */
static int
list_fragments(struct loader *ld, const char *confd, char ***ret_names,
	       size_t *ret_n)
{
	char **names = NULL, **grown;
	size_t n = 0;
	struct dirent *e;
	DIR *d;

	*ret_names = NULL;
	*ret_n = 0;
	d = opendir(confd);
	if (!d) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		at_err(ld, confd, 0, "cannot read: %s", strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		if (!is_fragment_name(e->d_name))
			continue;
		if (n == ARB_CONF_FILES_MAX) {
			at_err(ld, confd, 0, "more than %d *.conf files",
			       ARB_CONF_FILES_MAX);
			goto fail;
		}
		grown = arb_reallocarray(names, n + 1, sizeof(*names));
		if (!grown)
			goto oom;
		names = grown;
		names[n] = arb_strdup(e->d_name);
		if (!names[n])
			goto oom;
		n++;
	}
	(void)closedir(d);
	qsort(names, n, sizeof(*names), cmp_names);
	*ret_names = names;
	*ret_n = n;
	return 0;
oom:
	ld->oom = true;
fail:
	(void)closedir(d);
	for (size_t i = 0; i < n; i++)
		arb_free(names[i]);
	arb_free(names);
	return -1;
}

/* Every conf.d/NAME.conf next to the main file, in lexical order. */
static void
load_fragments(struct loader *ld, const char *dir)
{
	char *confd = strcmp(dir, ".") == 0 ? format(ld, "conf.d") :
		join(ld, dir, strlen(dir), "conf.d");
	char **names = NULL;
	size_t n = 0;

	if (!confd || list_fragments(ld, confd, &names, &n) < 0)
		goto done;
	for (size_t i = 0; i < n && !ld->oom; i++) {
		char *path = join(ld, confd, strlen(confd), names[i]);

		if (!path)
			break;
		load_file(ld, path, dir, true);
		arb_free(path);
	}
done:
	for (size_t i = 0; i < n; i++)
		arb_free(names[i]);
	arb_free(names);
	arb_free(confd);
}

int
arb_config_load(const char *path, struct arb_spec **ret_spec,
		struct arb_diag *diag)
{
	struct loader ld = {.diag = diag};
	size_t nerrors = diag->nerrors;
	char *dir = NULL;
	int r;

	ld.spec = arb_spec_new();
	if (!ld.spec)
		return -ENOMEM;
	dir = dir_of(&ld, path);
	if (dir) {
		load_file(&ld, path, dir, false);
		ld.main_file = ld.file;
	}
	if (!ld.oom)
		load_fragments(&ld, dir);
	if (ld.oom) {
		r = -ENOMEM;
		goto fail;
	}
	if (diag->nerrors > nerrors) {
		r = -EINVAL;
		goto fail;
	}
	arb_free(dir);
	*ret_spec = ld.spec;
	return 0;
fail:
	arb_free(dir);
	arb_spec_free(ld.spec);
	return r;
}
