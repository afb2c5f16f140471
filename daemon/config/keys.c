/*
 * keys.c - the keys of one child, read into its spec node.
 *
 * One parser per key, dispatched from the key table, on the typed values
 * of values.c (durations and enums are read here); exec[0] is resolved
 * against $PATH here, listen addresses checked (never resolved), and the
 * keys of one service checked against each other. The execution context's
 * keys are exec_context.c's, the log group's log_keys.c's. It sees one
 * node at a time: checks that span nodes and files are load.c's. No
 * pointer into libconfig survives a call.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libconfig.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"
#include "core/limits.h"
#include "core/mem.h"
#include "signames.h"
#include "core/spec.h"

/* The search path when arbord's environment has no $PATH. */
#define DEFAULT_PATH \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ---- durations and names ------------------------------------------------ */

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
 * forms share one parser and one set of limits; a float gets the nine
 * places the parser reads, so that a fraction of a millisecond shows.
 */
static int
get_duration(struct node_ctx *c, const config_setting_t *s,
	     bool allow_infinity, int64_t *ret_ms)
{
	char buf[64], shown[64];
	const char *text;
	bool tiny = false; /* a float too small for nine places */
	int r;

	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		(void)snprintf(buf, sizeof(buf), "%lld",
			       config_setting_get_int64(s));
		text = buf;
		(void)snprintf(shown, sizeof(shown), "%s", buf);
		break;
	case CONFIG_TYPE_FLOAT:
		(void)snprintf(buf, sizeof(buf), "%.9f",
			       config_setting_get_float(s));
		text = buf;
		(void)snprintf(shown, sizeof(shown), "%g",
			       config_setting_get_float(s));
		tiny = config_setting_get_float(s) > 0 &&
		       config_setting_get_float(s) < 1e-3;
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
	r = tiny ? -2 : arb_spec_parse_duration(text, allow_infinity, ret_ms);
	if (r == -2) {
		node_err(c, s, "%s: '%s' is not a whole number of milliseconds "
			 "(the finest a duration can be)", key_of(s), shown);
		return -1;
	}
	if (r < 0) {
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
	int v;

	if (get_enum(c, s, arb_strategy_from_name,
		     "one_for_one, one_for_all, rest_for_one or "
		     "simple_one_for_one", &v) < 0)
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

static int
parse_shutdown(struct node_ctx *c, const config_setting_t *s)
{
	int v;

	if (get_enum(c, s, arb_shutdown_order_from_name,
		     "ordered or parallel", &v) < 0)
		return -1;
	node(c)->shutdown = (enum arb_shutdown_order)v;
	return 0;
}

/* ---- pools (strategy simple_one_for_one) --------------------------------- */

/*
 * Only noted here: whether the node is a pool is known once every key is
 * read (finish_supervisor), and load.c reads the group as a service.
 */
static int
parse_template(struct node_ctx *c, const config_setting_t *s)
{
	if (!config_setting_is_group(s)) {
		node_err(c, s, "template: expected a group { ... } of service "
			 "keys, got %s", type_name(s));
		return -1;
	}
	c->template_group = s;
	return 0;
}

/* A count of children from 0 to ARB_CHILDREN_MAX. */
static int
get_count(struct node_ctx *c, const config_setting_t *s, uint32_t *ret)
{
	long long v;

	if (get_int(c, s, &v) < 0)
		return -1;
	if (v < 0 || v > ARB_CHILDREN_MAX) {
		node_err(c, s, "%s: %lld is out of range (0 to %d)", key_of(s),
			 v, ARB_CHILDREN_MAX);
		return -1;
	}
	*ret = (uint32_t)v;
	return 0;
}

/* 0: no limit but ARB_CHILDREN_MAX. */
static int
parse_max_children(struct node_ctx *c, const config_setting_t *s)
{
	if (get_count(c, s, &node(c)->max_children) < 0)
		return -1;
	c->max_children = s;
	return 0;
}

/* Checked against max_children by finish_supervisor. */
static int
parse_instances(struct node_ctx *c, const config_setting_t *s)
{
	if (get_count(c, s, &node(c)->instances) < 0)
		return -1;
	c->instances = s;
	return 0;
}

/* ---- the root's keys as an init (M10) ------------------------------------ */

static int
parse_on_giveup(struct node_ctx *c, const config_setting_t *s)
{
	int v;

	if (get_enum(c, s, arb_giveup_from_name,
		     "reboot, poweroff, halt, restart or shell", &v) < 0)
		return -1;
	c->ld->spec->on_giveup = (enum arb_giveup)v;
	return 0;
}

/* What arbord exits with after an automatic shutdown (M10). */
static int
parse_exit_status(struct node_ctx *c, const config_setting_t *s)
{
	int v;

	if (get_enum(c, s, arb_exit_status_from_name, "root or significant",
		     &v) < 0)
		return -1;
	c->ld->spec->exit_status = (enum arb_exit_status)v;
	return 0;
}

static int
parse_exit_sigterm_ok(struct node_ctx *c, const config_setting_t *s)
{
	return get_bool(c, s, &c->ld->spec->exit_sigterm_ok);
}

void
finish_exit_policy(struct node_ctx *c, const config_setting_t *g)
{
	const struct arb_spec *spec = c->ld->spec;
	const config_setting_t *status =
		config_setting_get_member(g, "exit_status");
	const config_setting_t *sigterm_ok =
		config_setting_get_member(g, "exit_sigterm_ok");

	if (status && spec->exit_status == ARB_EXIT_STATUS_SIGNIFICANT &&
	    spec->nodes[ARB_ROOT].auto_shutdown == ARB_AUTO_NEVER)
		node_warn(c, status, "exit_status: \"significant\" has no "
			  "effect with auto_shutdown = \"never\" (the root "
			  "never shuts down by itself)");
	if (sigterm_ok && spec->exit_sigterm_ok &&
	    spec->exit_status == ARB_EXIT_STATUS_ROOT)
		node_warn(c, sigterm_ok, "exit_sigterm_ok: has no effect "
			  "with exit_status = \"root\" (arbord exits 0 or 1)");
}

static int check_executable(const char *path);

/*
 * An argv as exec's, but never looked up in $PATH: the shell of a system
 * that could not start its services must not depend on its environment.
 */
static int
parse_emergency_shell(struct node_ctx *c, const config_setting_t *s)
{
	char **argv;
	int r;

	if (get_sequence(c, s) < 0)
		return -1;
	if (config_setting_length(s) == 0) {
		node_err(c, s, "emergency_shell: must name a program (the "
			 "array is empty)");
		return -1;
	}
	argv = copy_strings(c, s, ARB_ARGV_MAX);
	if (!argv)
		return -1;
	if (argv[0][0] != '/') {
		node_err(c, config_setting_get_elem(s, 0), "emergency_shell: "
			 "'%s' is not an absolute path", argv[0]);
		arb_spec_strv_free(argv);
		return -1;
	}
	r = check_executable(argv[0]);
	if (r < 0) {
		node_err(c, config_setting_get_elem(s, 0), "emergency_shell: "
			 "'%s': %s", argv[0], strerror(-r));
		arb_spec_strv_free(argv);
		return -1;
	}
	arb_spec_strv_free(c->ld->spec->emergency_shell);
	c->ld->spec->emergency_shell = argv;
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

static int
parse_exec(struct node_ctx *c, const config_setting_t *s)
{
	char **words, **argv;

	if (get_sequence(c, s) < 0)
		return -1;
	if (config_setting_length(s) == 0) {
		node_err(c, s, "exec: must name a program (the array is "
			 "empty)");
		return -1;
	}
	words = copy_strings(c, s, ARB_ARGV_MAX);
	if (!words)
		return -1;
	argv = arb_spec_strv_pack(words);
	arb_spec_strv_free(words);
	if (!argv) {
		c->ld->oom = true;
		return -1;
	}
	arb_free(node(c)->argv);
	node(c)->argv = argv;
	return resolve_program(c, config_setting_get_elem(s, 0), argv[0]);
}

/*
 * The signals a container's init passes on; TERM is not one of them (it
 * stops the tree), nor are KILL, STOP and the signals of faults.
 */
#define FORWARDABLE                                                        \
	((1u << SIGHUP) | (1u << SIGINT) | (1u << SIGQUIT) | (1u << SIGUSR1) | \
	 (1u << SIGUSR2) | (1u << SIGWINCH))

static int
parse_forward_signals(struct node_ctx *c, const config_setting_t *s)
{
	int n = config_setting_length(s);
	uint32_t mask = 0;

	if (get_sequence(c, s) < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);
		const char *text;
		int signo;

		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			node_err(c, e, "forward_signals: element %d is %s, "
				 "expected a string", i + 1, type_name(e));
			return -1;
		}
		text = config_setting_get_string(e);
		signo = arb_signal_from_name(text);
		if (signo < 0 || signo >= 32 || !(FORWARDABLE & (1u << signo))) {
			node_err(c, e, "forward_signals: cannot forward '%s' "
				 "(only HUP, INT, QUIT, USR1, USR2 and WINCH; "
				 "TERM stops the tree)", text);
			return -1;
		}
		mask |= 1u << signo;
	}
	node(c)->forward_signals = mask;
	return 0;
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

/* What a reload does with this service once its spec changed. */
static int
parse_on_change(struct node_ctx *c, const config_setting_t *s)
{
	int v;

	if (get_enum(c, s, arb_on_change_from_name,
		     "restart or next-start", &v) < 0)
		return -1;
	node(c)->on_change = (enum arb_on_change)v;
	return 0;
}

/* ---- readiness, watchdog, backoff (SEMANTICS.md M6, M7) ------------------ */

/* "exec", "notify", or "fd:N" with N a descriptor from 3 to 1023. */
static int
parse_ready(struct node_ctx *c, const config_setting_t *s)
{
	const char *text;
	int v, fd = 0;

	if (get_string(c, s, &text) < 0)
		return -1;
	if (strncmp(text, "fd:", 3) == 0) {
		const char *p = text + 3;

		for (; *p >= '0' && *p <= '9' && fd <= ARB_READY_FD_MAX; p++)
			fd = fd * 10 + (*p - '0');
		if (p == text + 3 || *p || fd < 3 || fd > ARB_READY_FD_MAX) {
			node_err(c, s, "ready: '%s': the descriptor must be a "
				 "number from 3 to %d", text, ARB_READY_FD_MAX);
			return -1;
		}
		node(c)->ready = ARB_READY_FD;
		node(c)->ready_fd = fd;
		c->ready = s;
		return 0;
	}
	v = arb_ready_from_name(text);
	if (v < 0 || v == ARB_READY_FD) {
		node_err(c, s, "ready: unknown value '%s' (expected \"exec\", "
			 "\"notify\" or \"fd:N\")", text);
		return -1;
	}
	node(c)->ready = (enum arb_ready)v;
	node(c)->ready_fd = -1;
	c->ready = s;
	return 0;
}

/* M6: how long a service may take to become ready; > 0 or "infinity". */
static int
parse_start_timeout(struct node_ctx *c, const config_setting_t *s)
{
	int64_t ms;

	if (get_duration(c, s, true, &ms) < 0)
		return -1;
	if (ms <= 0) {
		node_err(c, s, "start_timeout: must be greater than 0 "
			 "(\"infinity\" for no limit)");
		return -1;
	}
	node(c)->start_timeout_ms = ms;
	c->start_timeout = s;
	return 0;
}

/* 0 is no watchdog; a keep-alive every "infinity" would be no watchdog. */
static int
parse_watchdog(struct node_ctx *c, const config_setting_t *s)
{
	int64_t ms;

	if (get_duration(c, s, false, &ms) < 0)
		return -1;
	node(c)->watchdog_ms = ms;
	return 0;
}

/* M7: the first delay before a restart; 0 restarts at once. */
static int
parse_restart_delay(struct node_ctx *c, const config_setting_t *s)
{
	int64_t ms;

	if (get_duration(c, s, false, &ms) < 0)
		return -1;
	node(c)->restart_delay_ms = ms;
	c->restart_delay = s;
	return 0;
}

/* M7: the ceiling the delay grows to; checked against restart_delay. */
static int
parse_restart_delay_max(struct node_ctx *c, const config_setting_t *s)
{
	int64_t ms;

	if (get_duration(c, s, false, &ms) < 0)
		return -1;
	node(c)->restart_delay_max_ms = ms;
	c->restart_delay_max = s;
	return 0;
}

/* ---- socket activation --------------------------------------------------- */

enum listen_type { LISTEN_TCP, LISTEN_UDP, LISTEN_UNIX };

/* A listen address reduced to what makes two of them the same socket. */
struct listen_addr {
	enum listen_type type;
	int family; /* AF_INET or AF_INET6; "*" is AF_INET6's any */
	unsigned char addr[16];
	unsigned port;
	const char *path; /* LISTEN_UNIX: "/path" or "@name", in the text */
};

/* The longest path or abstract name that fits sun_path with its NUL. */
#define SUN_PATH_MAX ((int)sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

static int
parse_unix_address(struct node_ctx *c, const config_setting_t *e,
		   const char *text, struct listen_addr *ret)
{
	const char *p = text + strlen("unix:");

	if (*p != '/' && *p != '@') {
		node_err(c, e, "listen: '%s': a unix socket is an absolute "
			 "path (unix:/run/x.sock) or an abstract name "
			 "(unix:@name)", text);
		return -1;
	}
	if (p[1] == '\0') {
		node_err(c, e, "listen: '%s': the %s is empty", text,
			 *p == '@' ? "abstract name" : "path");
		return -1;
	}
	if ((int)strlen(p + (*p == '@')) > SUN_PATH_MAX) {
		node_err(c, e, "listen: '%s': longer than a unix socket "
			 "address (%d bytes)", text, SUN_PATH_MAX);
		return -1;
	}
	ret->type = LISTEN_UNIX;
	ret->path = p;
	return 0;
}

/* "HOST:PORT" of tcp: and udp:, numeric only: no DNS at load time. */
static int
parse_inet_address(struct node_ctx *c, const config_setting_t *e,
		   const char *text, const char *p, struct listen_addr *ret)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *end;
	size_t len;
	long port = 0;

	if (*p == '[') {
		end = strchr(p, ']');
		len = end ? (size_t)(end - p - 1) : 0;
		if (!end || end[1] != ':' || len >= sizeof(host))
			goto bad_host;
		memcpy(host, p + 1, len);
		host[len] = '\0';
		if (inet_pton(AF_INET6, host, ret->addr) != 1)
			goto bad_host;
		ret->family = AF_INET6;
		end++;
	} else if (*p == '*' && p[1] == ':') {
		ret->family = AF_INET6; /* in6addr_any: dual-stack */
		end = p + 1;
	} else {
		end = strchr(p, ':');
		len = end ? (size_t)(end - p) : strlen(p);
		if (len >= sizeof(host))
			goto bad_host;
		memcpy(host, p, len);
		host[len] = '\0';
		if (inet_pton(AF_INET, host, ret->addr) != 1) {
			if (end && strchr(end + 1, ':'))
				node_err(c, e, "listen: '%s': an IPv6 address "
					 "goes in brackets, as in "
					 "tcp:[::1]:80", text);
			else
				goto bad_host;
			return -1;
		}
		if (!end) {
			node_err(c, e, "listen: '%s': no port (write "
				 "HOST:PORT)", text);
			return -1;
		}
		ret->family = AF_INET;
	}
	/* end is at the ':' before the port. */
	for (p = end + 1; *p >= '0' && *p <= '9' && port <= 65535; p++)
		port = port * 10 + (*p - '0');
	if (p == end + 1 || *p || port < 1 || port > 65535) {
		node_err(c, e, "listen: '%s': the port must be a number from "
			 "1 to 65535", text);
		return -1;
	}
	ret->port = (unsigned)port;
	return 0;
bad_host:
	node_err(c, e, "listen: '%s': the host must be a numeric IPv4 "
		 "address, an IPv6 address in brackets, or * (host names "
		 "are not resolved)", text);
	return -1;
}

/* One address of `listen`, reduced into *ret; -1 after reporting. */
static int
parse_listen_address(struct node_ctx *c, const config_setting_t *e,
		     const char *text, struct listen_addr *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (strncmp(text, "unix:", 5) == 0)
		return parse_unix_address(c, e, text, ret);
	if (strncmp(text, "tcp:", 4) == 0) {
		ret->type = LISTEN_TCP;
		return parse_inet_address(c, e, text, text + 4, ret);
	}
	if (strncmp(text, "udp:", 4) == 0) {
		ret->type = LISTEN_UDP;
		return parse_inet_address(c, e, text, text + 4, ret);
	}
	node_err(c, e, "listen: '%s': expected tcp:HOST:PORT, "
		 "udp:HOST:PORT, unix:/path or unix:@name", text);
	return -1;
}

static bool
listen_same(const struct listen_addr *a, const struct listen_addr *b)
{
	if (a->type != b->type)
		return false;
	if (a->type == LISTEN_UNIX)
		return strcmp(a->path, b->path) == 0;
	return a->family == b->family && a->port == b->port &&
	       memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

/*
 * The sockets passed as descriptors 3.. (LISTEN_FDS), kept as written:
 * the shell binds them, this only checks that it can make sense of them.
 */
static int
parse_listen(struct node_ctx *c, const config_setting_t *s)
{
	struct listen_addr addrs[ARB_LISTEN_MAX];
	bool valid[ARB_LISTEN_MAX];
	char **listen;
	int bad = 0;

	if (get_sequence(c, s) < 0)
		return -1;
	listen = copy_strings(c, s, ARB_LISTEN_MAX);
	if (!listen)
		return -1;
	for (int i = 0; listen[i]; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);

		valid[i] = parse_listen_address(c, e, listen[i],
						&addrs[i]) == 0;
		if (!valid[i]) {
			bad = -1;
			continue;
		}
		for (int j = 0; j < i; j++) {
			if (!valid[j] || !listen_same(&addrs[i], &addrs[j]))
				continue;
			if (strcmp(listen[i], listen[j]) == 0)
				node_err(c, e, "listen: '%s' is given twice",
					 listen[i]);
			else
				node_err(c, e, "listen: '%s' is the same "
					 "address as '%s'", listen[i],
					 listen[j]);
			bad = -1;
			break;
		}
	}
	arb_spec_strv_free(node(c)->listen);
	node(c)->listen = listen;
	return bad;
}

/* ---- what spans keys ----------------------------------------------------- */

void
finish_service(struct node_ctx *c, const config_setting_t *g)
{
	struct arb_spec_node *n = node(c);
	uint32_t nlisten = arb_spec_strv_len(n->listen);
	char a[32], b[32];

	if (c->ld->oom)
		goto done;
	if (c->ready && n->ready == ARB_READY_FD &&
	    (uint32_t)n->ready_fd < 3 + nlisten)
		node_err(c, c->ready, "ready: fd:%d is the descriptor of "
			 "listen '%s' (the %u listen sockets are descriptors 3 "
			 "to %u)", n->ready_fd, n->listen[n->ready_fd - 3],
			 nlisten, 2 + nlisten);
	/* Warn only about a value that was read, on a ready that was. */
	if (c->start_timeout && n->ready == ARB_READY_EXEC &&
	    (c->ready || !config_setting_get_member(g, "ready")))
		node_warn(c, c->start_timeout, "start_timeout: has no effect "
			  "with ready = \"exec\" (a service is started once "
			  "exec succeeded)");
	if (c->restart_delay_max && !config_setting_get_member(g,
							       "restart_delay"))
		node_err(c, c->restart_delay_max, "restart_delay_max: needs "
			 "restart_delay, the first delay that grows up to it");
	if (c->restart_delay && c->restart_delay_max) {
		arb_spec_format_duration(n->restart_delay_max_ms, a,
					 sizeof(a));
		arb_spec_format_duration(n->restart_delay_ms, b, sizeof(b));
		if (n->restart_delay_max_ms < n->restart_delay_ms)
			node_err(c, c->restart_delay_max, "restart_delay_max: "
				 "%s is less than restart_delay %s", a, b);
		else if (n->restart_delay_ms == 0 &&
			 n->restart_delay_max_ms > 0)
			node_err(c, c->restart_delay_max, "restart_delay_max: "
				 "a delay of 0 does not grow (set "
				 "restart_delay above 0)");
	} else if (c->restart_delay) {
		/* A constant delay: growth is opt-in. */
		n->restart_delay_max_ms = n->restart_delay_ms;
	}
done:
	finish_exec(c);
}

#define POOL "a pool (strategy = \"simple_one_for_one\")"

void
finish_supervisor(struct node_ctx *c, const config_setting_t *g)
{
	static const char *const pool_keys[] = {
		"template", "max_children", "instances",
	};
	const struct arb_spec_node *n = node(c);
	const config_setting_t *s;

	if (n->strategy != ARB_SIMPLE_ONE_FOR_ONE) {
		for (size_t i = 0; i < sizeof(pool_keys) / sizeof(*pool_keys);
		     i++) {
			s = config_setting_get_member(g, pool_keys[i]);
			if (s)
				node_err(c, s, "key '%s' applies only to %s",
					 pool_keys[i], POOL);
		}
		return;
	}
	if (!config_setting_get_member(g, "template"))
		node_err(c, g, "%s needs a 'template': the keys of its "
			 "instances", POOL);
	s = config_setting_get_member(g, "auto_shutdown");
	/* OTP refuses it: a pool's instances cannot be significant. */
	if (s && n->auto_shutdown != ARB_AUTO_NEVER)
		node_err(c, s, "auto_shutdown: %s does not shut down by "
			 "itself (only \"never\")", POOL);
	s = config_setting_get_member(g, "shutdown");
	/* OTP's: its instances stop all at once; --check says so. */
	if (s && n->shutdown != ARB_SHUTDOWN_PARALLEL)
		node_err(c, s, "shutdown: %s stops its instances all at once "
			 "(only \"parallel\")", POOL);
	node(c)->shutdown = ARB_SHUTDOWN_PARALLEL;
	if (c->instances && n->max_children > 0 &&
	    n->instances > n->max_children)
		node_err(c, c->instances, "instances: %u is more than "
			 "max_children %u", n->instances, n->max_children);
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
	{"shutdown", IN_SUPERVISOR | IN_ROOT, ARB_DEF_SHUTDOWN, parse_shutdown},
	{"on_giveup", IN_ROOT, ARB_DEF_ON_GIVEUP, parse_on_giveup},
	{"emergency_shell", IN_ROOT, ARB_DEF_EMERGENCY_SHELL,
	 parse_emergency_shell},
	{"exit_status", IN_ROOT, ARB_DEF_EXIT_STATUS, parse_exit_status},
	{"exit_sigterm_ok", IN_ROOT, ARB_DEF_EXIT_SIGTERM_OK,
	 parse_exit_sigterm_ok},
	{"stop_signal", IN_SERVICE, ARB_DEF_STOP_SIGNAL, parse_stop_signal},
	{"stop_timeout", IN_SERVICE, ARB_DEF_STOP_TIMEOUT, parse_stop_timeout},
	{"normal_exit", IN_SERVICE, ARB_DEF_NORMAL_EXIT, parse_normal_exit},
	{"ready", IN_SERVICE, ARB_DEF_READY, parse_ready},
	{"start_timeout", IN_SERVICE, ARB_DEF_START_TIMEOUT,
	 parse_start_timeout},
	{"watchdog", IN_SERVICE, ARB_DEF_WATCHDOG, parse_watchdog},
	{"restart_delay", IN_SERVICE, ARB_DEF_RESTART_DELAY,
	 parse_restart_delay},
	{"restart_delay_max", IN_SERVICE, ARB_DEF_RESTART_DELAY_MAX,
	 parse_restart_delay_max},
	{"listen", IN_SERVICE, 0, parse_listen},
	{"env", IN_SERVICE, ARB_DEF_ENV, parse_env},
	{"env_file", IN_SERVICE, ARB_DEF_ENV, parse_env_file},
	{"inherit_env", IN_SERVICE, ARB_DEF_INHERIT_ENV, parse_inherit_env},
	{"cwd", IN_SERVICE, ARB_DEF_CWD, parse_cwd},
	{"user", IN_SERVICE, ARB_DEF_USER, parse_user},
	{"group", IN_SERVICE, ARB_DEF_GROUP, parse_group},
	{"umask", IN_SERVICE, ARB_DEF_UMASK, parse_umask},
	{"nice", IN_SERVICE, ARB_DEF_NICE, parse_nice},
	{"rlimits", IN_SERVICE, 0, parse_rlimits},
	{"no_new_privileges", IN_SERVICE, ARB_DEF_NO_NEW_PRIVILEGES,
	 parse_no_new_privileges},
	{"log", IN_SERVICE | IN_SUPERVISOR | IN_ROOT, 0, parse_log},
	{"forward_signals", IN_SERVICE, ARB_DEF_FORWARD_SIGNALS,
	 parse_forward_signals},
	{"on_change", IN_SERVICE, ARB_DEF_ON_CHANGE, parse_on_change},
	/* A supervisor's cap its whole subtree; a template's each instance. */
	{"memory_max", IN_SERVICE | IN_SUPERVISOR | IN_ROOT, 0, parse_cg_limit},
	{"memory_high", IN_SERVICE | IN_SUPERVISOR | IN_ROOT, 0,
	 parse_cg_limit},
	{"memory_swap_max", IN_SERVICE | IN_SUPERVISOR | IN_ROOT, 0,
	 parse_cg_limit},
	{"cpu_weight", IN_SERVICE | IN_SUPERVISOR | IN_ROOT, 0, parse_cg_limit},
	{"cpu_max", IN_SERVICE | IN_SUPERVISOR | IN_ROOT, 0, parse_cg_limit},
	{"pids_max", IN_SERVICE | IN_SUPERVISOR | IN_ROOT, 0, parse_cg_limit},
	{"io_weight", IN_SERVICE | IN_SUPERVISOR | IN_ROOT, 0, parse_cg_limit},
	/* Pools only: finish_supervisor rejects them anywhere else. */
	{"template", IN_SUPERVISOR | IN_ROOT, 0, parse_template},
	{"max_children", IN_SUPERVISOR | IN_ROOT, ARB_DEF_MAX_CHILDREN,
	 parse_max_children},
	{"instances", IN_SUPERVISOR | IN_ROOT, ARB_DEF_INSTANCES,
	 parse_instances},
};

static const struct key *
find_key(const char *name)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static void
report_misplaced(struct node_ctx *c, const config_setting_t *m,
		 const struct key *k, unsigned where)
{
	const char *name = config_setting_name(m);

	if (where == IN_ROOT)
		node_err(c, m, "key '%s' does not belong in the root's "
			 "'supervisor' group", name);
	else if (k->where == IN_ROOT)
		node_err(c, m, "key '%s' belongs only in the root's "
			 "'supervisor' group", name);
	else if (k->where & IN_SUPERVISOR)
		node_err(c, m, "key '%s' applies only to supervisors (this "
			 "child has 'exec')", name);
	else
		node_err(c, m, "key '%s' applies only to services (this child "
			 "has 'children')", name);
}

unsigned
report_unknown_keys(struct node_ctx *c, const config_setting_t *g)
{
	int n = config_setting_length(g);
	unsigned unknown = 0;

	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(g, i);
		const char *name = config_setting_name(m);

		if (name && strcmp(name, "name") != 0 &&
		    strcmp(name, "children") != 0 && !find_key(name)) {
			node_err(c, m, "unknown key '%s'", name);
			unknown++;
		}
	}
	return unknown;
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

