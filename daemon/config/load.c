/*
 * config.c - arbor.conf and conf.d/ into a spec (DESIGN.md "Configuration").
 *
 * Reads the main file and each fragment with libconfig, walks the tree of
 * children and checks what spans nodes: names, duplicates, C5, limits. The
 * keys of one node are config_keys.c's. It collects every problem as
 * "FILE:LINE: message" and reports through arb_diag only: main.c decides
 * what to print. No pointer into libconfig survives a call.
 */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "internal.h"
#include "core/limits.h"
#include "core/mem.h"
#include "core/spec.h"

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

/* Appends "FILE:LINE: " + prefix + message (no ":LINE" when line <= 0). */
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
char *
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

/* An error or warning about node c->idx at FILE:LINE, quoting its path. */
static PRINTF(5, 0) void
node_vdiag(struct node_ctx *c, enum arb_diag_level level, const char *file,
	   int line, const char *fmt, va_list ap)
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
	diag_vadd(ld, level, file, line, prefix, fmt, ap);
	arb_free(child);
}

PRINTF(3, 4) void
node_err(struct node_ctx *c, const config_setting_t *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	node_vdiag(c, ARB_DIAG_ERROR, file_of(c->ld, at),
		   (int)config_setting_source_line(at), fmt, ap);
	va_end(ap);
}

PRINTF(3, 4) void
node_warn(struct node_ctx *c, const config_setting_t *at, const char *fmt,
	  ...)
{
	va_list ap;

	va_start(ap, fmt);
	node_vdiag(c, ARB_DIAG_WARNING, file_of(c->ld, at),
		   (int)config_setting_source_line(at), fmt, ap);
	va_end(ap);
}

PRINTF(4, 5) void
node_err_at(struct node_ctx *c, const char *file, int line, const char *fmt,
	    ...)
{
	va_list ap;

	va_start(ap, fmt);
	node_vdiag(c, ARB_DIAG_ERROR, file, line, fmt, ap);
	va_end(ap);
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
	if (exec)
		finish_service(&c, g);
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
	if (config_setting_type(m) != CONFIG_TYPE_BOOL) {
		top_err(ld, m, "control_read_logs: expected a boolean (true or "
			"false), got %s", type_name(m));
		return;
	}
	ld->spec->control_read_logs = config_setting_get_bool(m);
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
	loader_exec_done(&ld);
	arb_free(dir);
	*ret_spec = ld.spec;
	return 0;
fail:
	loader_exec_done(&ld);
	arb_free(dir);
	arb_spec_free(ld.spec);
	return r;
}
