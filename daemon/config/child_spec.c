/*
 * child_spec.c - one child given as text at run time (`arborctl add
 * PARENT SPEC`), read into a spec as the loader reads a child of a file.
 *
 * The text is the body of a group, or a group in braces; it is wrapped
 * into `children = ( ... );` on the same lines, so that libconfig's lines
 * are the text's, and handed to load.c's load_child: one code path for a
 * child, whether it comes from a file or from a client. It never reads a
 * file the text names (@include is refused) and keeps no pointer into
 * libconfig past the call.
 */
#include <errno.h>
#include <libconfig.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "internal.h"
#include "core/limits.h"
#include "core/mem.h"
#include "core/spec.h"

/* Past blanks, newlines and comments (#, //, and C's). */
static const char *
skip_space(const char *p)
{
	for (;;) {
		p += strspn(p, " \t\r\n\f");
		if (*p == '#' || (p[0] == '/' && p[1] == '/'))
			p += strcspn(p, "\n");
		else if (p[0] == '/' && p[1] == '*' && strstr(p + 2, "*/"))
			p = strstr(p + 2, "*/") + 2;
		else
			return p;
	}
}

/* The text without its trailing blanks and one trailing ';' after them. */
static size_t
trimmed_length(const char *text)
{
	size_t len = strlen(text);

	while (len > 0 && strchr(" \t\r\n\f", text[len - 1]))
		len--;
	if (len > 0 && text[len - 1] == ';')
		len--;
	return len;
}

/*
 * `children = ( TEXT );` for a group in braces, `children = ( { TEXT } );`
 * for a body: nothing before TEXT on its first line but the wrapper, and
 * the closing on a line of its own, after any comment TEXT ends with.
 */
static char *
wrap(struct loader *ld, const char *text)
{
	if (*skip_space(text) == '{')
		return format(ld, "children = ( %.*s\n);",
			      (int)trimmed_length(text), text);
	return format(ld, "children = ( { %s\n} );", text);
}

/*
 * libconfig reads `@include "FILE"` at the start of any line: a client
 * must not make arbord read a file. 0, or -1 after reporting each.
 */
static int
refuse_includes(struct loader *ld, const char *text)
{
	int line = 1, bad = 0;

	for (const char *p = text; p; line++) {
		const char *start = p + strspn(p, " \t");

		if (strncmp(start, "@include", 8) == 0) {
			at_err_column(ld, ld->file, line,
				      (int)(start - p) + 1, "@include is not "
				      "allowed in a child spec");
			bad = -1;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return bad;
}

/* The number of lines of text: an error past its end is on the last. */
static int
count_lines(const char *text)
{
	int n = 1;

	for (const char *p = strchr(text, '\n'); p; p = strchr(p + 1, '\n'))
		n += p[1] != '\0';
	return n;
}

/*
 * libconfig's syntax error; one in the wrapper's closing is one the text
 * left open, at its end.
 */
static void
report_spec_syntax_error(struct loader *ld, const config_t *cfg,
			 const char *text)
{
	int line = config_error_line(cfg), last = count_lines(text);

	at_err(ld, ld->file, line > last ? last : line, "%s%s",
	       config_error_text(cfg), line > last ? " at the end of the "
	       "spec (a brace or a bracket left open?)" : "");
}

/* Whether `parent` can take a child; -1 after reporting why not. */
static int
check_parent(struct loader *ld, uint32_t parent)
{
	const struct arb_spec_node *p;

	if (parent >= ld->spec->nnodes) {
		at_err(ld, ld->file, 0, "no parent #%u", parent);
		return -1;
	}
	p = &ld->spec->nodes[parent];
	if (p->kind != ARB_NODE_SUPERVISOR) {
		at_err(ld, ld->file, 0, "'%s' is a service, not a supervisor",
		       p->path);
		return -1;
	}
	if (p->strategy == ARB_SIMPLE_ONE_FOR_ONE) {
		at_err(ld, ld->file, 0, "'%s' is a pool: its children are "
		       "instances of its template (spawn)", p->path);
		return -1;
	}
	if (p->nchildren >= ARB_CHILDREN_MAX) {
		at_err(ld, ld->file, 0, "'%s' already has %d children",
		       p->path, ARB_CHILDREN_MAX);
		return -1;
	}
	return 0;
}

/*
 * The wrapped text's top level: one `children` list of one group. Braces
 * the text closed early leave keys or groups outside the child's.
 */
static void
load_spec(struct loader *ld, uint32_t parent, const config_setting_t *root)
{
	const config_setting_t *list = NULL, *g;
	int n = config_setting_length(root);
	bool outside = false;

	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(root, i);

		if (strcmp(config_setting_name(m), "children") == 0) {
			list = m;
			continue;
		}
		top_err(ld, m, "'%s' is outside the child's group (a brace "
			"closed too early?)", config_setting_name(m));
		outside = true;
	}
	if (!list || !config_setting_is_list(list) ||
	    config_setting_length(list) != 1) {
		at_err(ld, ld->file, list ? (int)config_setting_source_line(
			       list) : 0, "a spec is exactly one child { ... }");
		return;
	}
	g = config_setting_get_elem(list, 0);
	if (!config_setting_is_group(g)) {
		top_err(ld, g, "a spec is one child { ... }, not %s",
			type_name(g));
		return;
	}
	if (!outside)
		load_child(ld, parent, g, 1);
}

/* Reads the text, once it is known to be safe to hand to libconfig. */
static void
parse_text(struct loader *ld, uint32_t parent, const char *text)
{
	char *wrapped = wrap(ld, text);
	config_t cfg;

	if (!wrapped)
		return;
	config_init(&cfg);
	if (!config_read_string(&cfg, wrapped))
		report_spec_syntax_error(ld, &cfg, text);
	else
		load_spec(ld, parent, config_root_setting(&cfg));
	config_destroy(&cfg);
	arb_free(wrapped);
}

int
arb_config_parse_child(const char *text, struct arb_spec *spec,
		       uint32_t parent, uint32_t *ret_node,
		       struct arb_diag *diag)
{
	/* A relative env_file is taken from "/": a client has no directory
	 * of its own here. */
	struct loader ld = {
		.spec = spec, .diag = diag, .text = text, .include_dir = "/",
	};
	size_t nerrors = diag->nerrors;
	uint32_t pos = parent < spec->nnodes ?
		spec->nodes[parent].nchildren : 0;
	int r = -EINVAL;

	ld.file = arb_spec_add_file(spec, ARB_CONFIG_SPEC_NAME);
	if (!ld.file)
		return -ENOMEM;
	ld.main_file = ld.file;
	if (strlen(text) > ARB_CONF_SIZE_MAX)
		at_err(&ld, ld.file, 0, "longer than %dM",
		       ARB_CONF_SIZE_MAX >> 20);
	else if (check_parent(&ld, parent) == 0 &&
		 refuse_includes(&ld, text) == 0)
		parse_text(&ld, parent, text);
	if (ld.oom)
		r = -ENOMEM;
	else if (diag->nerrors == nerrors)
		r = 0;
	if (r == 0)
		*ret_node = spec->nodes[parent].children[pos];
	loader_exec_done(&ld);
	sibling_index_done(&ld.siblings);
	return r;
}
