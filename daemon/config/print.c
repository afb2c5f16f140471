/*
 * print.c - a spec written back as arbor.conf (`arbord --check`).
 *
 * The output is libconfig text that arb_config_load reads back to the same
 * tree: root children of every fragment merged, every key written out,
 * values the configuration left out marked "# default". It only writes to
 * the stream it is given, and looks up the name of a service's group (the
 * spec keeps the gid the loader resolved).
 */
#include <grp.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "signames.h"
#include "core/cg_limits.h"
#include "core/spec.h"

#define INDENT "    "

static void
indent(FILE *out, unsigned depth)
{
	for (unsigned i = 0; i < depth; i++)
		fputs(INDENT, out);
}

/* A libconfig string literal: quotes, backslashes and controls escaped. */
static void
print_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		case '\r':
			fputs("\\r", out);
			break;
		case '\f':
			fputs("\\f", out);
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(out, "\\x%02x", *p);
			else
				fputc(*p, out);
		}
	}
	fputc('"', out);
}

/* Ends a key's line, marking it when the value was filled in. */
static void
end_line(FILE *out, const struct arb_spec_node *n, uint32_t bit)
{
	fputs(n->defaulted & bit ? "; # default\n" : ";\n", out);
}

static void
print_key_string(FILE *out, unsigned depth, const char *key,
		 const char *value)
{
	indent(out, depth);
	fprintf(out, "%s = ", key);
	print_string(out, value);
}

static void
print_duration(FILE *out, unsigned depth, const char *key, int64_t ms)
{
	char buf[32];

	arb_spec_format_duration(ms, buf, sizeof(buf));
	print_key_string(out, depth, key, buf);
}

static void
print_strv(FILE *out, unsigned depth, const char *key, char *const *v)
{
	indent(out, depth);
	fprintf(out, "%s = [", key);
	for (size_t i = 0; v && v[i]; i++) {
		fputs(i ? ", " : " ", out);
		print_string(out, v[i]);
	}
	fputs(" ]", out);
}

/* exec as written, and where $PATH led when that is not argv[0] itself. */
static void
print_exec(FILE *out, unsigned depth, const struct arb_spec_node *n)
{
	print_strv(out, depth, "exec", n->argv);
	fputc(';', out);
	if (n->exec_path && n->argv && strcmp(n->exec_path, n->argv[0]) != 0) {
		fputs(" # resolved: ", out);
		fputs(n->exec_path, out);
	}
	fputc('\n', out);
}

static void
print_normal_exit(FILE *out, unsigned depth, const struct arb_spec_node *n)
{
	const char *sep = " ";

	indent(out, depth);
	fputs("normal_exit = [", out);
	for (int code = 1; code <= 255; code++) {
		if (arb_spec_exit_is_normal(n, code)) {
			fprintf(out, "%s%d", sep, code);
			sep = ", ";
		}
	}
	fputs(" ]", out);
	end_line(out, n, ARB_DEF_NORMAL_EXIT);
}

/* A key whose default has no literal: a comment saying what happens. */
static void
print_unset(FILE *out, unsigned depth, const char *key, const char *what)
{
	indent(out, depth);
	fprintf(out, "# %s: unset, %s # default\n", key, what);
}

/* M6: start_timeout only matters with a readiness protocol. */
static void
print_readiness(FILE *out, unsigned depth, const struct arb_spec_node *n)
{
	char buf[32];

	if (n->ready == ARB_READY_FD) {
		(void)snprintf(buf, sizeof(buf), "fd:%d", n->ready_fd);
		print_key_string(out, depth, "ready", buf);
	} else {
		print_key_string(out, depth, "ready", arb_ready_name(n->ready));
	}
	end_line(out, n, ARB_DEF_READY);
	if (n->ready == ARB_READY_EXEC &&
	    (n->defaulted & ARB_DEF_START_TIMEOUT)) {
		indent(out, depth);
		fputs("# start_timeout: unused with ready = \"exec\" "
		      "# default\n", out);
	} else {
		print_duration(out, depth, "start_timeout",
			       n->start_timeout_ms);
		end_line(out, n, ARB_DEF_START_TIMEOUT);
	}
	print_duration(out, depth, "watchdog", n->watchdog_ms);
	end_line(out, n, ARB_DEF_WATCHDOG);
	print_duration(out, depth, "restart_delay", n->restart_delay_ms);
	end_line(out, n, ARB_DEF_RESTART_DELAY);
	print_duration(out, depth, "restart_delay_max",
		       n->restart_delay_max_ms);
	end_line(out, n, ARB_DEF_RESTART_DELAY_MAX);
}

/* The identity after user and group were combined, as id(1) shows it. */
static void
print_ids(FILE *out, const struct arb_spec_node *n)
{
	fprintf(out, "; # uid=%" PRIu32 " gid=%" PRIu32 " groups=", n->uid,
		n->gid);
	for (uint32_t i = 0; i < n->ngroups; i++)
		fprintf(out, "%s%" PRIu32, i ? "," : "", n->groups[i]);
	fputc('\n', out);
}

/*
 * user by the name it resolved to; group by the name of the gid, or the
 * number when the group database no longer has it. Without either the
 * service runs as arbord, whose identity depends on who runs --check.
 */
static void
print_identity(FILE *out, unsigned depth, const struct arb_spec_node *n)
{
	bool user = !(n->defaulted & ARB_DEF_USER);
	bool group = !(n->defaulted & ARB_DEF_GROUP);
	const struct group *gr;
	char buf[16];

	if (user) {
		print_key_string(out, depth, "user", n->user_name);
		print_ids(out, n);
	} else {
		print_unset(out, depth, "user", "arbord's");
	}
	if (group) {
		gr = getgrgid(n->gid);
		(void)snprintf(buf, sizeof(buf), "%" PRIu32, n->gid);
		print_key_string(out, depth, "group", gr ? gr->gr_name : buf);
		if (user)
			fputs(";\n", out);
		else
			fprintf(out, "; # gid=%" PRIu32 "\n", n->gid);
	} else {
		print_unset(out, depth, "group", user ? "the user's" :
			    "arbord's");
	}
}

static void
print_rlimit_value(FILE *out, uint64_t v)
{
	if (v == ARB_RLIM_INFINITY)
		fputs("infinity", out);
	else
		fprintf(out, "%" PRIu64, v);
}

/*
 * A number when soft = hard (libconfig reads one past 32 bits only with
 * an L, and none past 63 bits: those are strings), else a string
 * "SOFT:HARD".
 */
static void
print_rlimits(FILE *out, unsigned depth, const struct arb_spec_node *n)
{
	indent(out, depth);
	if (n->nrlimits == 0) {
		fputs("rlimits = { }; # default\n", out);
		return;
	}
	fputs("rlimits = {\n", out);
	for (uint32_t i = 0; i < n->nrlimits; i++) {
		const struct arb_rlimit *r = &n->rlimits[i];
		const char *name = arb_rlimit_name(r->resource);

		indent(out, depth + 1);
		fprintf(out, "%s = ", name ? name : "?");
		if (r->soft != r->hard) {
			fputc('"', out);
			print_rlimit_value(out, r->soft);
			fputc(':', out);
			print_rlimit_value(out, r->hard);
			fputc('"', out);
		} else if (r->soft == ARB_RLIM_INFINITY) {
			fputs("\"infinity\"", out);
		} else if (r->soft > INT64_MAX) {
			fprintf(out, "\"%" PRIu64 "\"", r->soft);
		} else {
			fprintf(out, "%" PRIu64 "%s", r->soft,
				r->soft > INT32_MAX ? "L" : "");
		}
		fputs(";\n", out);
	}
	indent(out, depth);
	fputs("};\n", out);
}

/* How the process is set up: environment, directory, identity, limits. */
static void
print_context(FILE *out, unsigned depth, const struct arb_spec_node *n)
{
	char buf[16];

	indent(out, depth);
	fprintf(out, "inherit_env = %s", n->inherit_env ? "true" : "false");
	end_line(out, n, ARB_DEF_INHERIT_ENV);
	if (n->cwd) {
		print_key_string(out, depth, "cwd", n->cwd);
		end_line(out, n, ARB_DEF_CWD);
	} else {
		print_unset(out, depth, "cwd", "arbord's working directory");
	}
	print_identity(out, depth, n);
	if (n->umask >= 0) {
		(void)snprintf(buf, sizeof(buf), "%04o", (unsigned)n->umask);
		print_key_string(out, depth, "umask", buf);
		end_line(out, n, ARB_DEF_UMASK);
	} else {
		print_unset(out, depth, "umask", "arbord's");
	}
	if (n->set_nice) {
		indent(out, depth);
		fprintf(out, "nice = %d", n->nice);
		end_line(out, n, ARB_DEF_NICE);
	} else {
		print_unset(out, depth, "nice", "arbord's");
	}
	print_rlimits(out, depth, n);
	indent(out, depth);
	fprintf(out, "no_new_privileges = %s",
		n->no_new_privileges ? "true" : "false");
	end_line(out, n, ARB_DEF_NO_NEW_PRIVILEGES);
}

/*
 * The node's log settings, resolved (its own keys over its supervisor's),
 * when a configuration gave any of them; all defaults print nothing.
 */
static void
print_log(FILE *out, unsigned depth, const struct arb_spec_node *n)
{
	const struct arb_log_spec *log = &n->log;
	char size[32];
	bool first = true;

	if (!log->given)
		return;
	indent(out, depth);
	fputs("log = {\n", out);
	indent(out, depth + 1);
	/* Not written, the sinks are arbord's default, which depends on how
	 * it runs (an init adds the console): written out they would not be
	 * the same configuration. */
	fputs(log->given & ARB_LOG_SINKS ? "sinks = [" : "# sinks = [", out);
	for (unsigned bit = 1; bit <= ARB_SINK_CONSOLE; bit <<= 1) {
		if (!(log->sinks & bit))
			continue;
		fprintf(out, "%s\"%s\"", first ? " " : ", ",
			arb_log_sink_name(bit));
		first = false;
	}
	fprintf(out, " ];%s\n", log->given & ARB_LOG_SINKS ? "" : " # default");
	arb_spec_format_size(log->ring_size, size, sizeof(size));
	print_key_string(out, depth + 1, "ring_size", size);
	fputs(log->given & ARB_LOG_RING_SIZE ? ";\n" : "; # default\n", out);
	if (log->file) {
		print_key_string(out, depth + 1, "file", log->file);
		fputs(";\n", out);
	}
	arb_spec_format_size(log->max_size, size, sizeof(size));
	print_key_string(out, depth + 1, "max_size", size);
	fputs(log->given & ARB_LOG_MAX_SIZE ? ";\n" : "; # default\n", out);
	indent(out, depth + 1);
	fprintf(out, "keep = %u;%s\n", log->keep,
		log->given & ARB_LOG_KEEP ? "" : " # default");
	print_key_string(out, depth + 1, "streams",
			 arb_log_streams_name(log->streams));
	fputs(log->given & ARB_LOG_STREAMS ? ";\n" : "; # default\n", out);
	indent(out, depth);
	fputs("};\n", out);
}

/*
 * The node's cgroup limits that a configuration gave, in arbor.conf(5)'s
 * order; none given prints nothing (the kernel's defaults stand).
 */
static void
print_limits(FILE *out, unsigned depth, const struct arb_spec_node *n)
{
	char value[64];

	if (!n->limits)
		return;
	for (unsigned key = ARB_CG_MEMORY_MAX; key <= ARB_CG_IO_WEIGHT;
	     key <<= 1) {
		arb_cg_format_value(n->limits, key, value, sizeof(value));
		if (!value[0])
			continue;
		indent(out, depth);
		fprintf(out, "%s = %s;\n", arb_cg_limit_key_name(key), value);
	}
}

/* As a container's init only; names in signal order. */
static void
print_forward_signals(FILE *out, unsigned depth,
		      const struct arb_spec_node *n)
{
	const char *sep = " ";

	indent(out, depth);
	fputs("forward_signals = [", out);
	for (int signo = 1; signo < 32; signo++) {
		const char *name = arb_signal_name(signo);

		if (!(n->forward_signals & (1u << signo)) || !name)
			continue;
		fprintf(out, "%s\"%s\"", sep, name);
		sep = ", ";
	}
	fputs(" ]", out);
	end_line(out, n, ARB_DEF_FORWARD_SIGNALS);
}

/* What the root does when it gives up as the system's init (M10). */
static void
print_giveup(FILE *out, const struct arb_spec *spec)
{
	const struct arb_spec_node *root = &spec->nodes[ARB_ROOT];
	char *const plain[] = {ARB_DEFAULT_EMERGENCY_SHELL, NULL};

	print_key_string(out, 1, "on_giveup",
			 arb_giveup_name(spec->on_giveup));
	end_line(out, root, ARB_DEF_ON_GIVEUP);
	print_strv(out, 1, "emergency_shell",
		   spec->emergency_shell ? spec->emergency_shell : plain);
	end_line(out, root, ARB_DEF_EMERGENCY_SHELL);
}

/* What arbord exits with after an automatic shutdown (M10). */
static void
print_exit_policy(FILE *out, const struct arb_spec *spec)
{
	const struct arb_spec_node *root = &spec->nodes[ARB_ROOT];

	print_key_string(out, 1, "exit_status",
			 arb_exit_status_name(spec->exit_status));
	end_line(out, root, ARB_DEF_EXIT_STATUS);
	indent(out, 1);
	fprintf(out, "exit_sigterm_ok = %s",
		spec->exit_sigterm_ok ? "true" : "false");
	end_line(out, root, ARB_DEF_EXIT_SIGTERM_OK);
}

static void
print_service(FILE *out, unsigned depth, const struct arb_spec_node *n)
{
	const char *sig = arb_signal_name(n->stop_signal);

	print_exec(out, depth, n);
	print_key_string(out, depth, "restart", arb_restart_name(n->restart));
	end_line(out, n, ARB_DEF_RESTART);
	indent(out, depth);
	fprintf(out, "significant = %s", n->significant ? "true" : "false");
	end_line(out, n, ARB_DEF_SIGNIFICANT);
	/* Only names can be configured, so sig is NULL only on a bug. */
	print_key_string(out, depth, "stop_signal", sig ? sig : "?");
	end_line(out, n, ARB_DEF_STOP_SIGNAL);
	print_duration(out, depth, "stop_timeout", n->stop_timeout_ms);
	end_line(out, n, ARB_DEF_STOP_TIMEOUT);
	print_normal_exit(out, depth, n);
	print_readiness(out, depth, n);
	print_strv(out, depth, "listen", n->listen);
	fputs(n->listen ? ";\n" : "; # default\n", out);
	/* env_file's entries were merged in: this is the whole list. */
	print_strv(out, depth, "env", n->env);
	end_line(out, n, ARB_DEF_ENV);
	print_context(out, depth, n);
	print_log(out, depth, n);
	print_limits(out, depth, n);
	print_forward_signals(out, depth, n);
	print_key_string(out, depth, "on_change",
			 arb_on_change_name(n->on_change));
	end_line(out, n, ARB_DEF_ON_CHANGE);
}

/* A pool's bounds, and the template its instances are made from. */
static void
print_pool(FILE *out, unsigned depth, const struct arb_spec *spec,
	   const struct arb_spec_node *n)
{
	indent(out, depth);
	fprintf(out, "max_children = %u", n->max_children);
	end_line(out, n, ARB_DEF_MAX_CHILDREN);
	indent(out, depth);
	fprintf(out, "instances = %u", n->instances);
	end_line(out, n, ARB_DEF_INSTANCES);
	indent(out, depth);
	fputs("template = {\n", out);
	if (n->template_node != ARB_NONE)
		print_service(out, depth + 1, &spec->nodes[n->template_node]);
	indent(out, depth);
	fputs("};\n", out);
}

/*
 * strategy, intensity, period, auto_shutdown, shutdown: the root's and
 * others';
 * a pool's keys too.
 */
static void
print_flags(FILE *out, unsigned depth, const struct arb_spec *spec,
	    const struct arb_spec_node *n)
{
	print_key_string(out, depth, "strategy",
			 arb_strategy_name(n->strategy));
	end_line(out, n, ARB_DEF_STRATEGY);
	indent(out, depth);
	fprintf(out, "intensity = %u", n->intensity);
	end_line(out, n, ARB_DEF_INTENSITY);
	print_duration(out, depth, "period", n->period_ms);
	end_line(out, n, ARB_DEF_PERIOD);
	print_key_string(out, depth, "auto_shutdown",
			 arb_auto_shutdown_name(n->auto_shutdown));
	end_line(out, n, ARB_DEF_AUTO_SHUTDOWN);
	print_key_string(out, depth, "shutdown",
			 arb_shutdown_order_name(n->shutdown));
	end_line(out, n, ARB_DEF_SHUTDOWN);
	print_log(out, depth, n);
	print_limits(out, depth, n);
	if (n->strategy == ARB_SIMPLE_ONE_FOR_ONE)
		print_pool(out, depth, spec, n);
}

static void print_children(FILE *out, unsigned depth,
			   const struct arb_spec *spec,
			   const struct arb_spec_node *p);

/* One child as a group; recursion is bounded by ARB_DEPTH_MAX. */
static void
print_child(FILE *out, unsigned depth, const struct arb_spec *spec,
	    const struct arb_spec_node *n, bool last)
{
	indent(out, depth);
	fputs("{\n", out);
	print_key_string(out, depth + 1, "name", n->name);
	fputs(";\n", out);
	if (n->kind == ARB_NODE_SERVICE) {
		print_service(out, depth + 1, n);
	} else {
		print_key_string(out, depth + 1, "restart",
				 arb_restart_name(n->restart));
		end_line(out, n, ARB_DEF_RESTART);
		indent(out, depth + 1);
		fprintf(out, "significant = %s",
			n->significant ? "true" : "false");
		end_line(out, n, ARB_DEF_SIGNIFICANT);
		print_flags(out, depth + 1, spec, n);
		/* A pool has a template instead. */
		if (n->strategy != ARB_SIMPLE_ONE_FOR_ONE)
			print_children(out, depth + 1, spec, n);
	}
	indent(out, depth);
	fputs(last ? "}\n" : "},\n", out);
}

static void
print_children(FILE *out, unsigned depth, const struct arb_spec *spec,
	       const struct arb_spec_node *p)
{
	indent(out, depth);
	if (p->nchildren == 0) {
		fputs("children = ( );\n", out);
		return;
	}
	fputs("children = (\n", out);
	for (uint32_t i = 0; i < p->nchildren; i++)
		print_child(out, depth + 1, spec, &spec->nodes[p->children[i]],
			    i + 1 == p->nchildren);
	indent(out, depth);
	fputs(");\n", out);
}

void
arb_config_print(const struct arb_spec *spec, FILE *out)
{
	const struct arb_spec_node *root = &spec->nodes[ARB_ROOT];

	fputs("# The resolved tree; \"# default\" marks values that were not"
	      " written.\n", out);
	fputs("supervisor = {\n", out);
	print_flags(out, 1, spec, root);
	print_giveup(out, spec);
	print_exit_policy(out, spec);
	fputs("};\n", out);
	if (spec->control_group)
		fprintf(out, "control_group = \"%s\";\n", spec->control_group);
	if (spec->control_group || spec->control_read_logs)
		fprintf(out, "control_read_logs = %s;%s\n",
			spec->control_read_logs ? "true" : "false",
			spec->control_read_logs ? "" : " # default");
	if (root->strategy != ARB_SIMPLE_ONE_FOR_ONE)
		print_children(out, 0, spec, root);
}

void
arb_config_print_node(const struct arb_spec *spec, uint32_t node, FILE *out)
{
	if (node == ARB_ROOT) {
		arb_config_print(spec, out);
		return;
	}
	print_child(out, 0, spec, &spec->nodes[node], true);
}
