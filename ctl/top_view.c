/*
 * top_view.c - the model and the drawing of `arborctl top`: rows from a
 * Status reply with stats, CPU % from two replies, the sorts, and the
 * screen as lines of plain ASCII within a width and a height. No clock,
 * no terminal and no socket here (top.c has them), so unit tests can
 * compare the lines.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"
#include "top_view.h"

/* Longer than any row: a path is at most 33 names of 64 bytes. */
#define LINE_BYTES 4096

/* The columns after PATH, each after a gap of two blanks. */
#define STATE_W 10
#define RESTARTS_W 8
#define CPU_W 6
#define MEM_W 6
#define TASKS_W 5
#define COLUMNS_W (STATE_W + RESTARTS_W + CPU_W + MEM_W + TASKS_W + 5 * 2)
/* PATH is what the width leaves, but never narrower than this. */
#define PATH_MIN_W 12

static const char *const sort_names[_ARB_TOP_SORT_MAX] = {
	[ARB_TOP_SORT_TREE] = "tree",
	[ARB_TOP_SORT_CPU] = "cpu",
	[ARB_TOP_SORT_MEMORY] = "memory",
	[ARB_TOP_SORT_RESTARTS] = "restarts",
	[ARB_TOP_SORT_STATE] = "state",
};

/*
 * The states in the order the state sort and the header's counts use:
 * what needs a look first, up last. A state arbord adds later counts as
 * "other".
 */
static const char *const state_order[] = {
	"exited", "restarting", "killing", "stopping", "starting",
	"down",	  "gone",	"up",
};
#define N_STATES (sizeof(state_order) / sizeof(state_order[0]))

const char *
arb_top_sort_name(enum arb_top_sort s)
{
	return s < _ARB_TOP_SORT_MAX ? sort_names[s] : "?";
}

void
arb_top_view_init(struct arb_top_view *v)
{
	memset(v, 0, sizeof(*v));
	snprintf(v->containment, sizeof(v->containment), "containment: ?");
	snprintf(v->usage, sizeof(v->usage), "usage: ?");
}

static void
free_rows(struct arb_top_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(rows[i].path);
	free(rows);
}

void
arb_top_view_done(struct arb_top_view *v)
{
	free_rows(v->rows, v->n);
	free(v->shown);
	v->rows = NULL;
	v->shown = NULL;
	v->n = 0;
}

static const char *
str_of(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A count that is not a non-negative integer is unknown. */
static long long
count_of(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return ARB_TOP_UNKNOWN;
	return (long long)json_integer_value(v);
}

/*
 * Depth below the first row. A malformed list stays drawable: nothing
 * above the first row, and no row deeper than one below the row before.
 */
static int
relative_depth(const char *path, int base, int previous, bool first)
{
	int d = arb_render_path_depth(path) - base;

	if (first)
		return 0;
	if (d < 1)
		return 1;
	return d > previous + 1 ? previous + 1 : d;
}

static int
fill_row(struct arb_top_row *w, json_t *node, bool first)
{
	const char *path = str_of(node, "path");
	const char *state = str_of(node, "state");
	json_t *stats = json_object_get(node, "stats");
	const char *slash;

	w->path = strdup(path ? path : "?");
	if (!w->path)
		return -ENOMEM;
	slash = strrchr(w->path, '/');
	w->name = first || !slash || !slash[1] ? w->path : slash + 1;
	snprintf(w->state, sizeof(w->state), "%s", state ? state : "?");
	w->restarts = count_of(node, "restarts");
	/* stats absent (an arbord before them) or a number absent: unknown. */
	w->memory = count_of(stats, "memory");
	w->tasks = count_of(stats, "tasks");
	w->cpu_usec = count_of(stats, "cpu_usec");
	w->cpu_pct = ARB_TOP_UNKNOWN;
	return 0;
}

static int
by_path(const void *a, const void *b, void *rows)
{
	const struct arb_top_row *r = rows;

	return strcmp(r[*(const size_t *)a].path, r[*(const size_t *)b].path);
}

/* The row of path among rows, through index (rows sorted by path). */
static const struct arb_top_row *
find_row(const struct arb_top_row *rows, const size_t *index, size_t n,
	 const char *path)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(rows[index[mid]].path, path);

		if (c == 0)
			return &rows[index[mid]];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* CPU % of each new row against the old row of the same path. */
static int
compute_cpu(struct arb_top_row *rows, size_t n, const struct arb_top_view *old,
	    long long now_us)
{
	long long wall_us = now_us - old->sampled_us;
	size_t *index;

	if (old->n == 0 || old->sampled_us == 0 || wall_us <= 0)
		return 0;
	index = malloc(old->n * sizeof(*index));
	if (!index)
		return -ENOMEM;
	for (size_t i = 0; i < old->n; i++)
		index[i] = i;
	qsort_r(index, old->n, sizeof(*index), by_path, old->rows);
	for (size_t i = 0; i < n; i++) {
		const struct arb_top_row *was =
			find_row(old->rows, index, old->n, rows[i].path);

		if (!was || was->cpu_usec < 0 || rows[i].cpu_usec < 0 ||
		    rows[i].cpu_usec < was->cpu_usec)
			continue;
		rows[i].cpu_pct = 100.0 * (double)(rows[i].cpu_usec -
						   was->cpu_usec) /
				  (double)wall_us;
	}
	free(index);
	return 0;
}

/* "cgroup2 [cpu memory] /sys/fs/cgroup/...", "process groups (why)". */
static void
describe_containment(struct arb_top_view *v, json_t *c)
{
	const char *mode = str_of(c, "mode");
	const char *cgroup = str_of(c, "cgroup");
	const char *why = str_of(c, "why");
	json_t *controllers = json_object_get(c, "controllers"), *name;
	char list[64] = "";
	size_t i, len = 0;

	if (!mode) {
		snprintf(v->containment, sizeof(v->containment),
			 "containment: ?");
		return;
	}
	json_array_foreach(controllers, i, name) {
		if (json_is_string(name) && len < sizeof(list))
			len += (size_t)snprintf(list + len, sizeof(list) - len,
						"%s%s", len ? " " : "",
						json_string_value(name));
	}
	if (strcmp(mode, "cgroup2") == 0)
		snprintf(v->containment, sizeof(v->containment),
			 "cgroup2 [%s] %s", len ? list : "no controllers",
			 cgroup ? cgroup : "");
	else if (strcmp(mode, "process-group") == 0)
		snprintf(v->containment, sizeof(v->containment),
			 "process groups (%s)", why ? why : "no cgroup2");
	else
		snprintf(v->containment, sizeof(v->containment), "%.64s", mode);
}

/* The source of the first node's stats stands for all of them. */
static void
describe_usage(struct arb_top_view *v, json_t *nodes)
{
	const char *source =
		str_of(json_object_get(json_array_get(nodes, 0), "stats"),
		       "source");

	if (!source)
		snprintf(v->usage, sizeof(v->usage),
			 "usage: none (this arbord gives no stats)");
	else if (strcmp(source, "cgroup") == 0)
		snprintf(v->usage, sizeof(v->usage), "usage: cgroups");
	else if (strcmp(source, "cgroup+proc") == 0)
		snprintf(v->usage, sizeof(v->usage),
			 "usage: cgroups; memory of main processes (/proc)");
	else if (strcmp(source, "proc") == 0)
		snprintf(v->usage, sizeof(v->usage),
			 "usage: main processes only (/proc)");
	else
		snprintf(v->usage, sizeof(v->usage), "usage: %.32s", source);
}

int
arb_top_view_update(struct arb_top_view *v, json_t *params, long long now_us)
{
	json_t *nodes = json_object_get(params, "nodes");
	size_t n = json_array_size(nodes);
	struct arb_top_row *rows;
	int base = 0, previous = 0, rc = 0;
	size_t filled = 0;

	if (!json_is_array(nodes))
		return -EINVAL;
	rows = calloc(n ? n : 1, sizeof(*rows));
	if (!rows)
		return -ENOMEM;
	for (; filled < n && rc == 0; filled++) {
		struct arb_top_row *w = &rows[filled];

		rc = fill_row(w, json_array_get(nodes, filled), filled == 0);
		if (rc)
			break;
		if (filled == 0)
			base = arb_render_path_depth(w->path);
		w->depth = relative_depth(w->path, base, previous, filled == 0);
		previous = w->depth;
	}
	if (rc == 0)
		rc = compute_cpu(rows, n, v, now_us);
	if (rc) {
		free_rows(rows, filled);
		return rc;
	}
	free_rows(v->rows, v->n);
	/* The old rows' order: tree order until the sort below. */
	free(v->shown);
	v->shown = NULL;
	v->rows = rows;
	v->n = n;
	v->sampled_us = now_us;
	describe_containment(v, json_object_get(params, "containment"));
	describe_usage(v, nodes);
	return arb_top_view_sort(v, v->sort);
}

static size_t
state_rank(const char *state)
{
	size_t i = 0;

	while (i < N_STATES && strcmp(state, state_order[i]) != 0)
		i++;
	return i;
}

/* a before b: -1; unknown numbers after every known one. */
static int
more_first(double a, double b)
{
	if (a == b)
		return 0;
	return a > b ? -1 : 1;
}

struct sort_ctx {
	const struct arb_top_row *rows;
	enum arb_top_sort sort;
};

/* Ties keep the tree's order. */
static int
sibling_order(const void *pa, const void *pb, void *ctx)
{
	const struct sort_ctx *s = ctx;
	size_t ia = *(const size_t *)pa, ib = *(const size_t *)pb;
	const struct arb_top_row *a = &s->rows[ia], *b = &s->rows[ib];
	int c = 0;

	switch (s->sort) {
	case ARB_TOP_SORT_CPU:
		c = more_first(a->cpu_pct, b->cpu_pct);
		break;
	case ARB_TOP_SORT_MEMORY:
		c = more_first((double)a->memory, (double)b->memory);
		break;
	case ARB_TOP_SORT_RESTARTS:
		c = more_first((double)a->restarts, (double)b->restarts);
		break;
	case ARB_TOP_SORT_STATE:
		c = (int)state_rank(a->state) - (int)state_rank(b->state);
		break;
	case ARB_TOP_SORT_TREE:
	case _ARB_TOP_SORT_MAX:
		break;
	}
	if (c)
		return c;
	return ia < ib ? -1 : ia > ib;
}

/* Each row's parent, from the depths (last[d]: the last row at depth d). */
static void
find_parents(const struct arb_top_row *rows, size_t n, size_t *parent,
	     size_t *last)
{
	last[0] = 0;
	parent[0] = 0;
	for (size_t i = 1; i < n; i++) {
		size_t d = (size_t)rows[i].depth;

		parent[i] = last[d - 1];
		last[d] = i;
	}
}

/*
 * Groups every row but the first by parent, keeping tree order within a
 * group (a counting sort): p's children are kids[first[p]] up to
 * kids[first[p + 1]]. cursor is scratch room of n.
 */
static void
group_by_parent(const size_t *parent, size_t n, size_t *first, size_t *kids,
		size_t *cursor)
{
	memset(first, 0, (n + 1) * sizeof(*first));
	for (size_t i = 1; i < n; i++)
		first[parent[i] + 1]++;
	for (size_t p = 0; p < n; p++)
		first[p + 1] += first[p];
	memcpy(cursor, first, n * sizeof(*cursor));
	for (size_t i = 1; i < n; i++)
		kids[cursor[parent[i]]++] = i;
}

/*
 * The display order: each row's sorted children right after it, depth
 * first, walked with a stack of (row, next child) rather than recursion:
 * a malformed list may be deep.
 */
static void
walk(const size_t *first, const size_t *kids, size_t *stack_row,
     size_t *stack_next, size_t *out)
{
	size_t depth = 0, k = 0;

	out[k++] = 0;
	stack_row[depth] = 0;
	stack_next[depth++] = first[0];
	while (depth > 0) {
		size_t p = stack_row[depth - 1];
		size_t next = stack_next[depth - 1];
		size_t child;

		if (next == first[p + 1]) {
			depth--;
			continue;
		}
		stack_next[depth - 1]++;
		child = kids[next];
		out[k++] = child;
		stack_row[depth] = child;
		stack_next[depth++] = first[child];
	}
}

int
arb_top_view_sort(struct arb_top_view *v, enum arb_top_sort s)
{
	size_t n = v->n;
	struct sort_ctx ctx = {.rows = v->rows, .sort = s};
	size_t *shown, *scratch, *parent, *first, *kids, *a, *b;

	v->sort = s;
	if (n == 0)
		return 0;
	shown = malloc(n * sizeof(*shown));
	scratch = malloc((5 * n + 1) * sizeof(*scratch));
	if (!shown || !scratch) {
		free(shown);
		free(scratch);
		return -ENOMEM;
	}
	parent = scratch;
	kids = parent + n;
	a = kids + n;
	b = a + n;
	first = b + n; /* n + 1 */
	find_parents(v->rows, n, parent, a);
	group_by_parent(parent, n, first, kids, a);
	for (size_t p = 0; p < n; p++)
		qsort_r(kids + first[p], first[p + 1] - first[p],
			sizeof(*kids), sibling_order, &ctx);
	walk(first, kids, a, b, shown);
	free(scratch);
	free(v->shown);
	v->shown = shown;
	return 0;
}

/* One line of the screen, cut at max bytes however much is put. */
struct line {
	char buf[LINE_BYTES];
	size_t len, max;
};

/* s with control and non-ASCII bytes as '?': one byte, one column. */
static void
put(struct line *l, const char *s)
{
	for (const unsigned char *c = (const unsigned char *)s;
	     *c && l->len < l->max; c++)
		l->buf[l->len++] = *c < 0x20 || *c >= 0x7f ? '?' : (char)*c;
}

static void
put_blanks(struct line *l, size_t n)
{
	while (n-- > 0 && l->len < l->max)
		l->buf[l->len++] = ' ';
}

/* A gap, then s flush left in width columns. */
static void
put_left(struct line *l, const char *s, size_t width)
{
	size_t n = strlen(s);

	put_blanks(l, 2);
	put(l, s);
	put_blanks(l, width > n ? width - n : 0);
}

/* A gap, then s flush right in width columns. */
static void
put_right(struct line *l, const char *s, size_t width)
{
	size_t n = strlen(s);

	put_blanks(l, 2 + (width > n ? width - n : 0));
	put(l, s);
}

/* The screen being written: lines left of its height. */
struct screen {
	FILE *out;
	size_t width; /* LINE_BYTES - 1 for none */
	long lines_left;
	struct line l;
};

static void
begin_line(struct screen *s)
{
	s->l.len = 0;
	s->l.max = s->width;
}

/* Writes the line without its trailing blanks, if the height has room. */
static void
end_line(struct screen *s)
{
	if (s->lines_left <= 0)
		return;
	s->lines_left--;
	while (s->l.len > 0 && s->l.buf[s->l.len - 1] == ' ')
		s->l.len--;
	s->l.buf[s->l.len++] = '\n';
	fwrite(s->l.buf, 1, s->l.len, s->out);
}

static void
text_line(struct screen *s, const char *text)
{
	begin_line(s);
	put(&s->l, text);
	end_line(s);
}

/* "7 nodes: 5 up, 1 exited, 1 down", the states in state_order. */
static void
counts_line(struct screen *s, const struct arb_top_view *v)
{
	size_t count[N_STATES + 1] = {0};
	char buf[48];
	bool any = false;

	for (size_t i = 0; i < v->n; i++)
		count[state_rank(v->rows[i].state)]++;
	begin_line(s);
	snprintf(buf, sizeof(buf), "%zu node%s", v->n, v->n == 1 ? "" : "s");
	put(&s->l, buf);
	for (size_t k = 0; k <= N_STATES; k++) {
		if (!count[k])
			continue;
		snprintf(buf, sizeof(buf), "%s %zu %s", any ? "," : ":",
			 count[k], k < N_STATES ? state_order[k] : "other");
		put(&s->l, buf);
		any = true;
	}
	end_line(s);
}

static void
header(struct screen *s, const struct arb_top_view *v,
       const struct arb_top_frame *f)
{
	char buf[160], every[32];

	if (f->delay_ms % 1000 == 0)
		snprintf(every, sizeof(every), "%llds", f->delay_ms / 1000);
	else
		snprintf(every, sizeof(every), "%.1fs",
			 (double)f->delay_ms / 1000);
	snprintf(buf, sizeof(buf),
		 "arbor top  %s  every %s  sort: %s  h: help  q: quit",
		 f->clock ? f->clock : "", every, arb_top_sort_name(v->sort));
	text_line(s, buf);
	counts_line(s, v);
	begin_line(s);
	put(&s->l, v->containment);
	put(&s->l, "; ");
	put(&s->l, v->usage);
	end_line(s);
	if (f->help)
		text_line(s, "keys: c cpu  m memory  r restarts  s state  "
			     "t tree order  h help  q quit");
}

/*
 * PATH's width: the longest indented name, within what the width leaves
 * (0: no width) but at least PATH_MIN_W of it.
 */
static size_t
path_width(const struct arb_top_view *v, size_t width)
{
	size_t room = width == 0 ? LINE_BYTES - 2 - COLUMNS_W
		      : width > COLUMNS_W + PATH_MIN_W ? width - COLUMNS_W
						       : PATH_MIN_W;
	size_t need = 4; /* "PATH" */

	for (size_t i = 0; i < v->n; i++) {
		size_t w = 2 * (size_t)v->rows[i].depth +
			   strlen(v->rows[i].name);

		if (w > need)
			need = w;
	}
	return need < room ? need : room;
}

static void
titles(struct screen *s, size_t path_w)
{
	begin_line(s);
	put(&s->l, "PATH");
	put_blanks(&s->l, path_w - 4);
	put_left(&s->l, "STATE", STATE_W);
	put_right(&s->l, "RESTARTS", RESTARTS_W);
	put_right(&s->l, "CPU%", CPU_W);
	put_right(&s->l, "MEM", MEM_W);
	put_right(&s->l, "TASKS", TASKS_W);
	end_line(s);
}

static void
format_count(char *buf, size_t size, long long v)
{
	if (v < 0)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%lld", v);
}

/*
 * name in room columns; a longer one loses its middle to a '~': the ends
 * tell instances apart ("worker-~-0012", "worker-~-0013").
 */
static void
put_name(struct line *l, const char *name, size_t room)
{
	size_t n = strlen(name), head, start = l->len;

	if (n <= room) {
		put(l, name);
		return;
	}
	if (room < 3) {
		put(l, name);
		l->len = start + room < l->len ? start + room : l->len;
		return;
	}
	head = (room - 1) / 2;
	put(l, name);
	l->len = start + head < l->len ? start + head : l->len;
	put(l, "~");
	put(l, name + n - (room - 1 - head));
}

static void
row_line(struct screen *s, const struct arb_top_row *w, size_t path_w)
{
	size_t indent = 2 * (size_t)w->depth;
	char buf[32];

	begin_line(s);
	put_blanks(&s->l, indent);
	put_name(&s->l, w->name, path_w > indent ? path_w - indent : 0);
	put_blanks(&s->l, path_w > s->l.len ? path_w - s->l.len : 0);
	put_left(&s->l, w->state, STATE_W);
	format_count(buf, sizeof(buf), w->restarts);
	put_right(&s->l, buf, RESTARTS_W);
	if (w->cpu_pct < 0)
		snprintf(buf, sizeof(buf), "-");
	else
		snprintf(buf, sizeof(buf),
			 w->cpu_pct < 999.95 ? "%.1f" : "%.0f", w->cpu_pct);
	put_right(&s->l, buf, CPU_W);
	if (w->memory < 0)
		snprintf(buf, sizeof(buf), "-");
	else
		arb_render_bytes_narrow(buf, sizeof(buf),
					(unsigned long long)w->memory);
	put_right(&s->l, buf, MEM_W);
	format_count(buf, sizeof(buf), w->tasks);
	put_right(&s->l, buf, TASKS_W);
	end_line(s);
}

int
arb_top_view_draw(FILE *out, const struct arb_top_view *v,
		  const struct arb_top_frame *f)
{
	struct screen *s = malloc(sizeof(*s));
	size_t path_w;

	if (!s)
		return -ENOMEM;
	s->out = out;
	s->width = f->width > 0 && f->width < LINE_BYTES ? (size_t)f->width
							 : LINE_BYTES - 2;
	s->lines_left = f->height > 0 ? f->height : LONG_MAX;
	path_w = path_width(v, f->width > 0 ? (size_t)f->width : 0);
	header(s, v, f);
	titles(s, path_w);
	for (size_t k = 0; k < v->n && s->lines_left > 0; k++) {
		char more[64];

		if (s->lines_left == 1 && k + 1 < v->n) {
			snprintf(more, sizeof(more), "(%zu more rows)",
				 v->n - k);
			text_line(s, more);
			break;
		}
		row_line(s, &v->rows[v->shown ? v->shown[k] : k], path_w);
	}
	free(s);
	return 0;
}
