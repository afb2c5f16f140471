/*
 * load.c - arbor.conf and conf.d/ into a spec (DESIGN.md "Configuration").
 *
 * Reads the main file and each fragment with libconfig, walks the tree of
 * children and checks what spans nodes: names, duplicates, C5, limits. The
 * keys of one node are keys.c's. It collects every problem as
 * "FILE:LINE: message" and reports through arb_diag only: main.c decides
 * what to print. No pointer into libconfig survives a call.
 */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <libconfig.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "internal.h"
#include "core/limits.h"
#include "core/mem.h"
#include "core/spec.h"

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

/*
 * A pool's `template = { ... }`: every key of a service but name, read
 * into a service node that is nobody's child (its instances are made from
 * it at run time). It logs as the pool does, as a child would.
 */
static void
load_template(struct loader *ld, uint32_t pool, const config_setting_t *g)
{
	struct node_ctx c = {.ld = ld};
	const config_setting_t *name = config_setting_get_member(g, "name");

	c.idx = add_node(ld, pool, ARB_NODE_SERVICE, "template", g);
	if (c.idx == ARB_NONE)
		return;
	arb_spec_detach(ld->spec, c.idx);
	ld->spec->nodes[c.idx].is_template = true;
	ld->spec->nodes[pool].template_node = c.idx;
	if (name)
		node_err(&c, name, "a template has no name (its instances "
			 "are named by spawn, or numbered)");
	if (config_setting_get_member(g, "children")) {
		node_err(&c, g, "a template is a service: it has 'exec', not "
			 "'children'");
		return;
	}
	if (!config_setting_get_member(g, "exec")) {
		node_err(&c, g, "missing key 'exec' (a template is a "
			 "service)");
		return;
	}
	parse_keys(&c, g, IN_SERVICE);
	finish_service(&c, g);
	check_significant(&c);
}

/* One element of a `children` list: a service, a supervisor or a pool. */
void
load_child(struct loader *ld, uint32_t parent, const config_setting_t *g,
	   int pos)
{
	const config_setting_t *exec = config_setting_get_member(g, "exec");
	const config_setting_t *children =
		config_setting_get_member(g, "children");
	const config_setting_t *template =
		config_setting_get_member(g, "template");
	struct node_ctx c = {.ld = ld};
	char buf[16];
	const char *name = child_name(g, pos, buf, sizeof(buf));
	uint32_t dup = name == buf ? ARB_NONE :
		sibling_index_find(&ld->siblings, ld->spec, parent, name);

	c.idx = add_node(ld, parent, exec ? ARB_NODE_SERVICE :
			 ARB_NODE_SUPERVISOR, name, g);
	if (c.idx == ARB_NONE)
		return;
	/* The first of two with one name stays the one found. */
	if (name != buf && dup == ARB_NONE &&
	    sibling_index_add(&ld->siblings, ld->spec, c.idx) < 0) {
		ld->oom = true;
		return;
	}
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
	if (!exec && !children && !template) {
		/* A misspelt exec says more than "neither". */
		if (report_unknown_keys(&c, g) > 0)
			return;
		node_err(&c, g, "has neither 'exec' (a service), 'children' "
			 "(a supervisor) nor 'template' (a pool)");
		return;
	}
	/* A service, or a pool's instance, may sit under the deepest
	 * supervisor. */
	if (!exec && node(&c)->depth > ARB_DEPTH_MAX) {
		node_err(&c, children ? children : template, "%s: a supervisor "
			 "nested more than %d levels below the root",
			 children ? "children" : "template", ARB_DEPTH_MAX);
		return;
	}
	parse_keys(&c, g, exec ? IN_SERVICE : IN_SUPERVISOR);
	if (exec)
		finish_service(&c, g);
	else
		finish_supervisor(&c, g);
	check_significant(&c);
	if (ld->oom)
		return;
	if (c.template_group && node(&c)->strategy == ARB_SIMPLE_ONE_FOR_ONE)
		load_template(ld, c.idx, c.template_group);
	if (children)
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
	if (p->strategy == ARB_SIMPLE_ONE_FOR_ONE) {
		node_err(&pc, list, "children: %s is a pool (strategy = "
			 "\"simple_one_for_one\"): its instances are made from "
			 "its 'template', it has no children of its own",
			 parent == ARB_ROOT ? "the root" : "it");
		return;
	}
	n = config_setting_length(list);
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
	/* Where the root's keys are, for what is said of them later (a
	 * cgroup limit no controller can apply). */
	ld->spec->nodes[ARB_ROOT].file = file_of(ld, g);
	ld->spec->nodes[ARB_ROOT].line = (int)config_setting_source_line(g);
	parse_keys(&c, g, IN_ROOT);
	finish_supervisor(&c, g);
	finish_exit_policy(&c, g);
	/* The root may be a pool, as in OTP: then it has no children. */
	if (c.template_group && !ld->oom &&
	    ld->spec->nodes[ARB_ROOT].strategy == ARB_SIMPLE_ONE_FOR_ONE)
		load_template(ld, ARB_ROOT, c.template_group);
}

/*
 * control_group: the group whose members may read the control socket
 * (Status, Events). A name, or a number for a group without one.
 */
static void
load_control_group(struct loader *ld, const config_setting_t *m)
{
	struct node_ctx c = {.ld = ld, .idx = ARB_ROOT};
	const char *name;
	struct group *gr;
	char *end;
	long gid;

	if (get_string(&c, m, &name) < 0)
		return;
	gr = getgrnam(name);
	gid = gr ? (long)gr->gr_gid : strtol(name, &end, 10);
	if (!gr && (*name == '\0' || *end != '\0' || gid < 0 ||
		    gid > 0x7fffffff)) {
		top_err(ld, m, "control_group: no group named '%s'", name);
		return;
	}
	arb_free(ld->spec->control_group);
	ld->spec->control_group = arb_strdup(name);
	if (!ld->spec->control_group)
		ld->oom = true;
	ld->spec->control_gid = (int)gid;
}

/* control_read_logs: whether control_group readers may call Logs. */
static void
load_control_read_logs(struct loader *ld, const config_setting_t *m)
{
	/* top: a key of the file, not a flag of the root ("supervisor: "). */
	struct node_ctx c = {.ld = ld, .idx = ARB_ROOT, .top = true};

	(void)get_bool(&c, m, &ld->spec->control_read_logs);
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
		else if ((strcmp(name, "supervisor") == 0 ||
			  strcmp(name, "control_group") == 0 ||
			  strcmp(name, "control_read_logs") == 0) && fragment)
			top_err(ld, m, "key '%s' is not allowed in a "
				"conf.d fragment (only 'children'); it belongs "
				"in %s", name, ld->main_file);
		else if (strcmp(name, "control_group") == 0)
			load_control_group(ld, m);
		else if (strcmp(name, "control_read_logs") == 0)
			load_control_read_logs(ld, m);
		else if (strcmp(name, "supervisor") != 0)
			top_err(ld, m, "unknown key '%s'", name);
	}
}

/* ---- files ------------------------------------------------------------- */

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

/*
 * Reads and loads one file; every problem goes to the diag. libconfig
 * gets the text, not the file: source.c read it, safely.
 */
static void
load_file(struct loader *ld, const char *path, const char *include_dir,
	  bool fragment)
{
	config_t cfg;
	char *text;

	ld->file = arb_spec_add_file(ld->spec, path);
	if (!ld->file) {
		ld->oom = true;
		return;
	}
	ld->include_dir = include_dir;
	if (read_config_file(ld, path, &text) < 0)
		return;
	config_init(&cfg);
	config_set_include_dir(&cfg, include_dir);
	if (!config_read_string(&cfg, text))
		report_syntax_error(ld, &cfg, path);
	else
		load_top(ld, config_root_setting(&cfg), fragment);
	config_destroy(&cfg);
	arb_free(text);
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
 * there is no conf.d, -1 after reporting any other problem (one that is
 * not a directory too).
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
		if (errno == ENOENT)
			return 0;
		/* A conf.d that is a file would be fragments lost unsaid. */
		at_err(ld, confd, 0, "cannot read: %s", errno == ENOTDIR ?
		       "not a directory (fragments go in a directory conf.d)" :
		       strerror(errno));
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
	if (n > 0)
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

/*
 * The instances pools start at boot are nodes too: with the tree they
 * must fit ARB_NODES_MAX, or the tree could not be built.
 */
static void
check_instances_fit(struct loader *ld)
{
	const struct arb_spec *spec = ld->spec;
	uint64_t total = spec->nnodes;

	for (uint32_t i = 0; i < spec->nnodes; i++) {
		const struct arb_spec_node *n = &spec->nodes[i];

		if (n->strategy != ARB_SIMPLE_ONE_FOR_ONE || n->is_template)
			continue;
		total += n->instances;
		if (total <= ARB_NODES_MAX)
			continue;
		if (i == ARB_ROOT)
			at_err(ld, ld->main_file, 0, "supervisor: instances: "
			       "more than %d children in the whole tree with "
			       "the pools' instances", ARB_NODES_MAX - 1);
		else
			at_err(ld, n->file, n->line, "child '%s': instances: "
			       "more than %d children in the whole tree with "
			       "the pools' instances", n->path,
			       ARB_NODES_MAX - 1);
		return;
	}
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
	if (!ld.oom && diag->nerrors == nerrors)
		check_instances_fit(&ld);
	if (ld.oom) {
		r = -ENOMEM;
		goto fail;
	}
	if (diag->nerrors > nerrors) {
		r = -EINVAL;
		goto fail;
	}
	loader_exec_done(&ld);
	sibling_index_done(&ld.siblings);
	arb_free(dir);
	*ret_spec = ld.spec;
	return 0;
fail:
	loader_exec_done(&ld);
	sibling_index_done(&ld.siblings);
	arb_free(dir);
	arb_spec_free(ld.spec);
	return r;
}
