/*
 * config_print.c - a spec written back as arbor.conf (`arbord --check`).
 *
 * The output is libconfig text that arb_config_load reads back to the same
 * tree: root children of every fragment merged, every key written out,
 * values the configuration left out marked "# default". It only writes to
 * the stream it is given.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "signames.h"
#include "spec.h"

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
	print_strv(out, depth, "env", n->env);
	end_line(out, n, ARB_DEF_ENV);
	if (n->cwd) {
		print_key_string(out, depth, "cwd", n->cwd);
		end_line(out, n, ARB_DEF_CWD);
	} else {
		/* No value means "arbord's own", which has no literal. */
		indent(out, depth);
		fputs("# cwd: unset, arbord's working directory # default\n",
		      out);
	}
}

/* strategy, intensity, period, auto_shutdown: the root's and others'. */
static void
print_flags(FILE *out, unsigned depth, const struct arb_spec_node *n)
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
		print_flags(out, depth + 1, n);
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
	print_flags(out, 1, root);
	fputs("};\n", out);
	if (spec->control_group)
		fprintf(out, "control_group = \"%s\";\n", spec->control_group);
	print_children(out, 0, spec, root);
}
