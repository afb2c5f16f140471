/*
 * render.c - the human output of arborctl: the Status reply's flat,
 * depth-first node list drawn as a tree with aligned columns, and events
 * as one line each. Pure formatting onto a FILE: no socket, no exit
 * status, so unit tests can compare the text.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"
#include "wire.h"

#define C_GREEN "\033[32m"
#define C_RED "\033[31m"
#define C_YELLOW "\033[33m"
#define C_DIM "\033[2m"
#define C_RESET "\033[0m"

void
arb_render_safe(FILE *f, const char *s)
{
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		/* C1 controls (U+0080-U+009F: CSI is one) in UTF-8. */
		if (c[0] == 0xc2 && c[1] >= 0x80 && c[1] <= 0x9f) {
			fputc('?', f);
			c++;
			continue;
		}
		fputc(*c < 0x20 || *c == 0x7f ? '?' : *c, f);
	}
}

static const char *
str_of(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool
int_of(json_t *obj, const char *key, json_int_t *ret)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v))
		return false;
	*ret = json_integer_value(v);
	return true;
}

struct row {
	json_t *node;
	const char *name;
	char kind[64];
	char state[80];
	char pid[56]; /* or a pool's "instances 3/10" */
	char uptime[48];
	char restarts[32];
	char last_exit[96];
	char note[96];
	/* With stats: memory, peak, CPU time, tasks; "-" when unknown. */
	char memory[16], peak[16], cpu[16], tasks[24];
	const char *state_word; /* the state alone, "restarting" */
	bool has_stats;
	const char *color;
	int depth; /* below the first node */
	bool last; /* the last of its siblings */
};

/* Two units at most, and a zero second one dropped: "3m", not "3m0s". */
void
arb_render_duration(char *buf, size_t size, long long ms)
{
	static const struct {
		long long secs;
		const char *unit;
	} units[] = {{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}};
	long long s = ms > 0 ? ms / 1000 : 0;
	size_t i = 0;

	while (i < 3 && s < units[i].secs)
		i++;
	if (i == 3 || s % units[i].secs / units[i + 1].secs == 0)
		snprintf(buf, size, "%lld%s", s / units[i].secs, units[i].unit);
	else
		snprintf(buf, size, "%lld%s%lld%s", s / units[i].secs,
			 units[i].unit, s % units[i].secs / units[i + 1].secs,
			 units[i + 1].unit);
}

/* One decimal below 100 (12.3M), none above (512M, 1023K). */
/* bytes in 1024s, one decimal below `decimal_below` of the unit. */
static void
bytes_text(char *buf, size_t size, unsigned long long bytes,
	   double decimal_below)
{
	static const char units[] = "KMGTPE";
	double v = (double)bytes;
	int u = -1;

	if (bytes < 1024) {
		snprintf(buf, size, "%lluB", bytes);
		return;
	}
	/* 1023.5M would round to "1024M": "1.0G" from there. */
	while (v >= (u < 0 ? 1024 : 1023.5) && u < 5) {
		v /= 1024;
		u++;
	}
	/* 99.96 would round to "100.0": the integer form from there. */
	if (v < decimal_below - 0.05)
		snprintf(buf, size, "%.1f%c", v, units[u]);
	else
		snprintf(buf, size, "%.0f%c", v, units[u]);
}

void
arb_render_bytes(char *buf, size_t size, unsigned long long bytes)
{
	bytes_text(buf, size, bytes, 100);
}

void
arb_render_bytes_narrow(char *buf, size_t size, unsigned long long bytes)
{
	bytes_text(buf, size, bytes, 10);
}

/* "/" is depth 0, "web" 1, "web/app" 2. */
int
arb_render_path_depth(const char *path)
{
	int d = 1;

	if (strcmp(path, "/") == 0)
		return 0;
	for (; *path; path++)
		d += *path == '/';
	return d;
}

/* Seconds to the hundredth below 10 s, then m:s, h:m, d:h. */
void
arb_render_cpu(char *buf, size_t size, unsigned long long usec)
{
	unsigned long long s = usec / 1000000;

	if (usec < 9995000)
		snprintf(buf, size, "%.2fs", (double)usec / 1e6);
	else if (usec < 59950000)
		snprintf(buf, size, "%.1fs", (double)usec / 1e6);
	else if (s < 3600)
		snprintf(buf, size, "%llum%02llus", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, size, "%lluh%02llum", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, size, "%llud%02lluh", s / 86400, s % 86400 / 3600);
}

/* A death that needs a look: a crash or an OOM kill (arbord(8), M2). */
static bool
reason_abnormal(const char *reason)
{
	return reason &&
	       (strcmp(reason, "crash") == 0 || strcmp(reason, "oom") == 0);
}

static const char *
state_color(const char *state, json_t *node)
{
	json_t *last = json_object_get(node, "last_exit");
	const char *reason = str_of(last, "reason");

	if (strcmp(state, "up") == 0)
		return C_GREEN;
	if (strcmp(state, "exited") == 0)
		return C_RED;
	/* Down after a crash (a temporary child, a supervisor that gave
	 * up) needs a look; down on purpose does not. */
	if (strcmp(state, "down") == 0 || strcmp(state, "gone") == 0)
		return reason_abnormal(reason) ? C_RED : C_DIM;
	if (strcmp(state, "starting") == 0 || strcmp(state, "stopping") == 0 ||
	    strcmp(state, "killing") == 0 || strcmp(state, "restarting") == 0)
		return C_YELLOW;
	return NULL;
}

/* "starting (not ready)", "restarting (in 3s)", "up (reloading)". */
static void
describe_state(struct row *w, json_t *node, const char *state)
{
	char in[48];
	json_int_t v;

	if (str_of(node, "waiting"))
		snprintf(w->state, sizeof(w->state), "%s (not ready)", state);
	else if (int_of(node, "restart_in_ms", &v)) {
		arb_render_duration(in, sizeof(in), (long long)v + 999);
		snprintf(w->state, sizeof(w->state), "%s (in %s)", state, in);
	} else if (json_is_true(json_object_get(node, "stopping")))
		snprintf(w->state, sizeof(w->state), "%s (stopping)", state);
	else if (json_is_true(json_object_get(node, "reloading")))
		snprintf(w->state, sizeof(w->state), "%s (reloading)", state);
	else
		snprintf(w->state, sizeof(w->state), "%s", state);
}

/* What the service said: its STATUS= text, else its ERRNO=. */
static void
describe_note(struct row *w, json_t *node)
{
	const char *status = str_of(node, "status");
	const char *error = str_of(node, "error");

	w->note[0] = '\0';
	if (status && *status)
		snprintf(w->note, sizeof(w->note), "\"%.80s\"", status);
	else if (error)
		snprintf(w->note, sizeof(w->note), "error: %.80s", error);
}

/* A pool has no pid: the column holds "instances 3/10" instead. */
static void
describe_pool(struct row *w, json_t *node)
{
	json_int_t n = 0, max;

	(void)int_of(node, "instances", &n);
	if (int_of(node, "max_children", &max))
		snprintf(w->pid, sizeof(w->pid),
			 "instances %" JSON_INTEGER_FORMAT
			 "/%" JSON_INTEGER_FORMAT,
			 n, max);
	else
		snprintf(w->pid, sizeof(w->pid),
			 "instances %" JSON_INTEGER_FORMAT, n);
}

/* A stats member as text: through fmt, or "-" when absent. */
static void
describe_number(char *buf, size_t size, json_t *stats, const char *key,
		void (*fmt)(char *, size_t, unsigned long long))
{
	json_int_t v;

	if (!int_of(stats, key, &v) || v < 0)
		snprintf(buf, size, "-");
	else if (fmt)
		fmt(buf, size, (unsigned long long)v);
	else
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT, v);
}

static void
describe_stats(struct row *w, json_t *node)
{
	json_t *stats = json_object_get(node, "stats");

	w->has_stats = json_is_object(stats);
	describe_number(w->memory, sizeof(w->memory), stats, "memory",
			arb_render_bytes);
	describe_number(w->peak, sizeof(w->peak), stats, "memory_peak",
			arb_render_bytes);
	describe_number(w->cpu, sizeof(w->cpu), stats, "cpu_usec",
			arb_render_cpu);
	describe_number(w->tasks, sizeof(w->tasks), stats, "tasks", NULL);
}

static void
fill_row(struct row *w, json_t *node, bool first)
{
	const char *path = str_of(node, "path");
	const char *kind = str_of(node, "kind");
	const char *state = str_of(node, "state");
	const char *how, *slash, *reason, *signame;
	json_t *last = json_object_get(node, "last_exit");
	bool dynamic = json_is_true(json_object_get(node, "dynamic"));
	json_int_t v;

	w->node = node;
	if (!path)
		path = "?";
	slash = strrchr(path, '/');
	w->name = first || !slash || !slash[1] ? path : slash + 1;
	if (!kind)
		kind = "?";
	how = str_of(node, strcmp(kind, "supervisor") == 0 ? "strategy"
							   : "restart");
	/* Two columns in one: "supervisor" is the longest kind. A child
	 * added at run time, or a pool's instance, says so after them. */
	if (how)
		snprintf(w->kind, sizeof(w->kind), "%-10s %.32s%s", kind, how,
			 dynamic ? " dynamic" : "");
	else
		snprintf(w->kind, sizeof(w->kind), "%.32s%s", kind,
			 dynamic ? " dynamic" : "");
	if (!state)
		state = "?";
	describe_state(w, node, state);
	w->state_word = state;
	w->color = state_color(state, node);
	w->pid[0] = w->uptime[0] = w->restarts[0] = w->last_exit[0] = '\0';
	describe_note(w, node);
	if (int_of(node, "pid", &v) && v > 0)
		snprintf(w->pid, sizeof(w->pid), "pid %" JSON_INTEGER_FORMAT,
			 v);
	else if (json_is_true(json_object_get(node, "pool")))
		describe_pool(w, node);
	if (int_of(node, "since_ms", &v))
		arb_render_duration(w->uptime, sizeof(w->uptime), (long long)v);
	if (int_of(node, "restarts", &v) && v > 0)
		snprintf(w->restarts, sizeof(w->restarts),
			 "restarts %" JSON_INTEGER_FORMAT, v);
	if (json_is_object(last)) {
		char death[48] = "";

		signame = str_of(last, "signal");
		if (int_of(last, "code", &v))
			snprintf(death, sizeof(death),
				 " code=%" JSON_INTEGER_FORMAT, v);
		else if (signame)
			snprintf(death, sizeof(death), " signal=%.32s", signame);
		else if (int_of(last, "signal", &v))
			snprintf(death, sizeof(death),
				 " signal=%" JSON_INTEGER_FORMAT, v);
		reason = str_of(last, "reason");
		snprintf(w->last_exit, sizeof(w->last_exit), "last:%s%s%.32s",
			 death, reason ? " " : "", reason ? reason : "");
	}
	describe_stats(w, node);
}

static void
pad(FILE *f, size_t n)
{
	while (n-- > 0)
		fputc(' ', f);
}

/*
 * One line of the tree, built in memory so it ends without trailing blanks;
 * one buffer serves every row. Writing a large tree a character at a time
 * through a memstream per row was half of rendering it.
 */
struct line {
	char *buf;
	size_t len, size;
	bool failed; /* out of memory: the line is cut short */
};

static bool
line_reserve(struct line *l, size_t more)
{
	size_t size = l->size ? l->size : 256;
	char *buf;

	if (l->failed)
		return false;
	if (l->len + more <= l->size)
		return true;
	while (size < l->len + more)
		size *= 2;
	buf = realloc(l->buf, size);
	if (!buf) {
		l->failed = true;
		return false;
	}
	l->buf = buf;
	l->size = size;
	return true;
}

static void
line_put(struct line *l, const char *s)
{
	size_t n = strlen(s);

	if (!line_reserve(l, n))
		return;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void
line_pad(struct line *l, size_t n)
{
	if (!line_reserve(l, n))
		return;
	memset(l->buf + l->len, ' ', n);
	l->len += n;
}

/* s with control characters as '?', as arb_render_safe writes it. */
static void
line_put_safe(struct line *l, const char *s)
{
	if (!line_reserve(l, strlen(s)))
		return;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		/* C1 controls (U+0080-U+009F: CSI is one) in UTF-8. */
		if (c[0] == 0xc2 && c[1] >= 0x80 && c[1] <= 0x9f) {
			l->buf[l->len++] = '?';
			c++;
			continue;
		}
		l->buf[l->len++] = *c < 0x20 || *c == 0x7f ? '?' : (char)*c;
	}
}

/* s, coloured when color is set, then spaces up to width and a gap. */
static void
put_cell(struct line *l, const char *s, const char *color, size_t width)
{
	size_t n = strlen(s);

	if (color)
		line_put(l, color);
	line_put_safe(l, s);
	if (color)
		line_put(l, C_RESET);
	line_pad(l, (width > n ? width - n : 0) + 2);
}

/*
 * The flat depth-first list becomes a tree: a node is the last of its
 * siblings when no later node at its depth comes before one shallower.
 */
static int
mark_last(struct row *rows, size_t n, int max_depth)
{
	bool *seen = calloc((size_t)max_depth + 2, sizeof(*seen));

	if (!seen)
		return -ENOMEM;
	for (size_t i = n; i-- > 0;) {
		int d = rows[i].depth;

		rows[i].last = !seen[d];
		seen[d] = true;
		for (int k = d + 1; k <= max_depth; k++)
			seen[k] = false;
	}
	free(seen);
	return 0;
}

/*
 * The columns of a tree with stats: name, state, then the right-aligned
 * numbers; kind, restarts and last exit give way to them, within 80
 * columns for names a few levels deep.
 */
enum stats_column {
	SC_NAME,
	SC_STATE,
	SC_PID,
	SC_MEMORY,
	SC_PEAK,
	SC_CPU,
	SC_TASKS,
	_SC_MAX,
};

static const char *const stats_heading[_SC_MAX] = {
	"NAME", "STATE", "PID", "MEM", "PEAK", "CPU", "TASKS",
};

/* A number's cell: aligned right in width, and a gap. */
static void
put_number(struct line *l, const char *s, size_t width)
{
	size_t n = strlen(s);

	line_pad(l, width > n ? width - n : 0);
	line_put_safe(l, s);
	line_pad(l, 2);
}

/* The line ends without blanks; the gap of two was trimmed: room for
 * the newline. */
static int
end_line(FILE *out, struct line *l)
{
	if (l->failed)
		return -ENOMEM;
	while (l->len > 0 && l->buf[l->len - 1] == ' ')
		l->len--;
	l->buf[l->len++] = '\n';
	fwrite(l->buf, 1, l->len, out);
	return 0;
}

static void
put_stats_cells(struct line *l, const struct arb_render *r,
		const struct row *w, const size_t *width)
{
	const char *pid = strncmp(w->pid, "pid ", 4) == 0 ? w->pid + 4 : "";

	/* The state alone: its details would push the numbers past 80
	 * columns, and plain status has them. */
	put_cell(l, w->state_word, r->color ? w->color : NULL,
		 width[SC_STATE]);
	put_number(l, pid, width[SC_PID]);
	put_number(l, w->memory, width[SC_MEMORY]);
	put_number(l, w->peak, width[SC_PEAK]);
	put_number(l, w->cpu, width[SC_CPU]);
	put_number(l, w->tasks, width[SC_TASKS]);
}

static int
draw_stats_heading(FILE *out, const size_t *width, struct line *l)
{
	l->len = 0;
	put_cell(l, stats_heading[SC_NAME], NULL, width[SC_NAME]);
	put_cell(l, stats_heading[SC_STATE], NULL, width[SC_STATE]);
	for (int c = SC_PID; c < _SC_MAX; c++)
		put_number(l, stats_heading[c], width[c]);
	return end_line(out, l);
}

static size_t
max_size(size_t a, size_t b)
{
	return a > b ? a : b;
}

/* Writes one row after its tree glyphs, columns padded to width[]. */
static int
draw_row(FILE *out, const struct arb_render *r, const struct row *w,
	 const bool *anc_last, const size_t *width, bool stats,
	 struct line *l)
{
	static const char *const utf8[] = {"\u251c\u2500 ", "\u2514\u2500 ",
					   "\u2502  ", "   "};
	static const char *const ascii[] = {"|- ", "`- ", "|  ", "   "};
	const char *const *g = r->utf8 ? utf8 : ascii;

	l->len = 0;
	for (int k = 1; k < w->depth; k++)
		line_put(l, g[anc_last[k] ? 3 : 2]);
	if (w->depth > 0)
		line_put(l, g[w->last ? 1 : 0]);
	put_cell(l, w->name, NULL, width[0] - 3 * (size_t)w->depth);
	if (stats) {
		put_stats_cells(l, r, w, width);
		return end_line(out, l);
	}
	put_cell(l, w->kind, NULL, width[1]);
	put_cell(l, w->state, r->color ? w->color : NULL, width[2]);
	put_cell(l, w->pid, NULL, width[3]);
	line_pad(l, width[4] - strlen(w->uptime)); /* durations align right */
	put_cell(l, w->uptime, NULL, 0);
	put_cell(l, w->restarts, NULL, width[5]);
	put_cell(l, w->last_exit, NULL, 0);
	put_cell(l, w->note, NULL, 0);
	return end_line(out, l);
}

/* The widths of the plain columns, grown to hold w. */
static void
fit_plain(size_t *width, const struct row *w)
{
	width[1] = max_size(width[1], strlen(w->kind));
	width[2] = max_size(width[2], strlen(w->state));
	width[3] = max_size(width[3], strlen(w->pid));
	width[4] = max_size(width[4], strlen(w->uptime));
	width[5] = max_size(width[5], strlen(w->restarts));
}

/* The widths of the stats columns, grown to hold w. */
static void
fit_stats(size_t *width, const struct row *w)
{
	const char *pid = strncmp(w->pid, "pid ", 4) == 0 ? w->pid + 4 : "";

	width[SC_STATE] = max_size(width[SC_STATE], strlen(w->state_word));
	width[SC_PID] = max_size(width[SC_PID], strlen(pid));
	width[SC_MEMORY] = max_size(width[SC_MEMORY], strlen(w->memory));
	width[SC_PEAK] = max_size(width[SC_PEAK], strlen(w->peak));
	width[SC_CPU] = max_size(width[SC_CPU], strlen(w->cpu));
	width[SC_TASKS] = max_size(width[SC_TASKS], strlen(w->tasks));
}

int
arb_render_tree(FILE *out, const struct arb_render *r, json_t *nodes)
{
	size_t n = json_array_size(nodes), width[_SC_MAX] = {0};
	struct row *rows;
	bool *anc_last = NULL, stats = false;
	struct line line = {0};
	int base = 0, max_depth = 0, rc = 0;

	rows = calloc(n ? n : 1, sizeof(*rows));
	if (!rows)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		struct row *w = &rows[i];
		const char *path;

		fill_row(w, json_array_get(nodes, i), i == 0);
		path = str_of(w->node, "path");
		w->depth = path ? arb_render_path_depth(path) : 0;
		if (i == 0)
			base = w->depth;
		/* A malformed list stays drawable: all below the first. */
		if (i == 0)
			w->depth = 0;
		else if (w->depth - base < 1)
			w->depth = 1;
		else
			w->depth -= base;
		if (w->depth > max_depth)
			max_depth = w->depth;
		stats = stats || w->has_stats;
		width[0] = max_size(width[0],
				    3 * (size_t)w->depth + strlen(w->name));
	}
	/* Stats for one node are stats for all: one layout for the tree. */
	for (size_t i = 0; i < n; i++) {
		if (stats)
			fit_stats(width, &rows[i]);
		else
			fit_plain(width, &rows[i]);
	}
	if (stats) {
		for (int c = 0; c < _SC_MAX; c++)
			width[c] = max_size(width[c], strlen(stats_heading[c]));
		rc = draw_stats_heading(out, width, &line);
	}
	anc_last = calloc((size_t)max_depth + 1, sizeof(*anc_last));
	if (!anc_last || mark_last(rows, n, max_depth) < 0)
		goto fail;
	for (size_t i = 0; i < n && rc == 0; i++) {
		anc_last[rows[i].depth] = rows[i].last;
		rc = draw_row(out, r, &rows[i], anc_last, width, stats, &line);
	}
	free(line.buf);
	free(anc_last);
	free(rows);
	return rc;
fail:
	free(line.buf);
	free(anc_last);
	free(rows);
	return -ENOMEM;
}

void
arb_render_containment(FILE *out, json_t *containment)
{
	const char *mode = str_of(containment, "mode");
	const char *cgroup = str_of(containment, "cgroup");
	const char *why = str_of(containment, "why");
	json_t *controllers = json_object_get(containment, "controllers");
	size_t i;
	json_t *c;

	if (!mode)
		return;
	fputs("containment: ", out);
	if (strcmp(mode, "process-group") == 0)
		fputs("process groups", out);
	else
		arb_render_safe(out, mode);
	if (cgroup) {
		fputc(' ', out);
		arb_render_safe(out, cgroup);
	}
	fputs(" (", out);
	if (why) {
		arb_render_safe(out, why);
	} else if (json_array_size(controllers) == 0) {
		fputs("no controllers", out);
	} else {
		json_array_foreach(controllers, i, c) {
			if (i > 0)
				fputc(' ', out);
			arb_render_safe(out, json_is_string(c)
						     ? json_string_value(c)
						     : "?");
		}
	}
	fputs(")\n", out);
}

void
arb_render_stats_source(FILE *out, json_t *nodes)
{
	static const struct {
		const char *source, *text;
	} sources[] = {
		{"cgroup", "stats: from the cgroups (a supervisor's: its "
			   "subtree)\n"},
		{"cgroup+proc", "stats: cgroups, memory of main processes (no "
				"memory controller)\n"},
		{"proc", "stats: main processes from /proc, supervisors their "
			 "sums\n"},
	};
	const char *source =
		str_of(json_object_get(json_array_get(nodes, 0), "stats"),
		       "source");

	for (size_t i = 0; source && i < sizeof(sources) / sizeof(sources[0]);
	     i++)
		if (strcmp(source, sources[i].source) == 0)
			fputs(sources[i].text, out);
}

/* Whether s can be written bare: one word of printable characters. */
static bool
is_word(const char *s)
{
	if (!*s)
		return false;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		if (*c <= ' ' || *c == 0x7f || *c == '"' || *c == '=' ||
		    *c == '\\')
			return false;
	return true;
}

/* A value as text: a string bare when it is one word, else as JSON. */
static void
put_value(FILE *out, json_t *v)
{
	const char *s = json_string_value(v);
	char *dump;

	if (s && is_word(s)) {
		arb_render_safe(out, s);
		return;
	}
	dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (dump)
		arb_render_safe(out, dump);
	arb_wire_free_dump(dump);
}

static const char *
event_color(json_t *ev)
{
	const char *name = str_of(ev, "event");
	const char *reason = str_of(ev, "reason");

	if (!name)
		return NULL;
	if (strcmp(name, "start") == 0 || strcmp(name, "ready") == 0)
		return C_GREEN;
	if (strcmp(name, "exit") == 0)
		return reason_abnormal(reason) ? C_RED : C_YELLOW;
	if (strcmp(name, "start_failed") == 0 || strcmp(name, "giveup") == 0 ||
	    strcmp(name, "reload_failed") == 0)
		return C_RED;
	if (strcmp(name, "stop") == 0)
		return C_YELLOW;
	return C_DIM;
}

/* "14:02:11  exit          web/app pid=4242 code=1 reason=crash" */
void
arb_render_event(FILE *out, const struct arb_render *r, json_t *ev,
		 time_t when)
{
	const char *name = str_of(ev, "event"), *path = str_of(ev, "path");
	const char *key, *color = r->color ? event_color(ev) : NULL;
	char stamp[16] = "";
	struct tm tm;
	json_t *v;

	if (localtime_r(&when, &tm))
		strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
	fprintf(out, "%s  ", stamp);
	if (color)
		fputs(color, out);
	arb_render_safe(out, name ? name : "?");
	if (color)
		fputs(C_RESET, out);
	if (path) {
		/* Event names are at most 12 long (start_failed) but one,
		 * reload_failed, which takes a column more than it should
		 * rather than widen every line. */
		pad(out, 14 - (name && strlen(name) < 13 ? strlen(name) : 13));
		arb_render_safe(out, path);
	}
	json_object_foreach(ev, key, v) {
		if (strcmp(key, "event") == 0 || strcmp(key, "path") == 0)
			continue;
		fputc(' ', out);
		arb_render_safe(out, key);
		fputc('=', out);
		put_value(out, v);
	}
	fputc('\n', out);
}


/* "2026-11-21T10:00:00.123456Z" as local "2026-11-21 10:00:00.123". */
static void
put_local_time(FILE *out, const char *iso)
{
	struct tm tm = {0};
	const char *frac = iso ? strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	time_t t;
	char buf[32];

	if (!frac) {
		fputs("-", out); /* no time: say so, do not guess */
		return;
	}
	t = timegm(&tm);
	localtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
	fputs(buf, out);
	if (*frac == '.' && strlen(frac) >= 4)
		fprintf(out, ".%.3s", frac + 1);
}

void
arb_render_log_line(FILE *out, const struct arb_render *r, json_t *l)
{
	const char *path = str_of(l, "path"), *text = str_of(l, "line");
	const char *stream = str_of(l, "stream");
	json_int_t pid = 0;

	put_local_time(out, str_of(l, "time"));
	(void)int_of(l, "pid", &pid);
	fputc(' ', out);
	if (!path || strcmp(path, "/") == 0)
		fputs("arbord", out);
	else
		arb_render_safe(out, path);
	fprintf(out, "[%lld]", (long long)pid);
	/* A line read back from the journal says so the same way, before
	 * its stream. */
	if (json_is_true(json_object_get(l, "journal")))
		fputs(r->color ? " " C_DIM "journal" C_RESET : " journal", out);
	/* Standard error is marked in words, not only in colour (a pipe has
	 * none); standard output, the common case, reads as before. */
	if (stream && strcmp(stream, "stderr") == 0)
		fputs(r->color ? " " C_RED "stderr" C_RESET ": " : " stderr: ",
		      out);
	else
		fputs(": ", out);
	for (const unsigned char *c = (const unsigned char *)(text ? text : "");
	     *c; c++)
		fputc((*c < 0x20 && *c != '\t') || *c == 0x7f ? '?' : *c, out);
	if (json_is_true(json_object_get(l, "cut")))
		fputs(" [cut]", out);
	fputc('\n', out);
}

/* The plan of a Reload. */

static const struct {
	const char *op, *mark, *color;
} plan_ops[] = {
	{"add", "+", C_GREEN},
	{"remove", "-", C_RED},
	{"change", "~", C_YELLOW},
	{"reorder", "=", C_DIM},
};

/* A step's count: the plan's own figure, else the steps of that op. */
static long long
op_count(json_t *plan, const char *field, const char *op)
{
	json_t *steps = json_object_get(plan, "steps"), *s;
	json_int_t v;
	long long n = 0;
	size_t i;

	if (int_of(plan, field, &v))
		return (long long)v;
	json_array_foreach(steps, i, s) {
		const char *o = str_of(s, "op");

		n += o && strcmp(o, op) == 0;
	}
	return n;
}

/*
 * An item of a list value: a word bare, anything else as JSON (a string
 * with blanks quoted, so the items stay apart).
 */
static void
put_plan_item(FILE *out, json_t *v)
{
	json_t *item;
	size_t i;

	if (!json_is_array(v)) {
		put_value(out, v);
		return;
	}
	fputc('[', out);
	json_array_foreach(v, i, item) {
		if (i > 0)
			fputc(' ', out);
		put_plan_item(out, item);
	}
	fputc(']', out);
}

/*
 * A key's value in a change. arbord sends the text the configuration
 * would hold (`TERM`, `5s`, `[ "sleep", "10" ]`), written as it is;
 * unset is "(unset)". A JSON value of another type is written as an
 * item, a list as "[sleep 10]".
 */
static void
put_plan_value(FILE *out, json_t *v)
{
	const char *s = json_string_value(v);

	if (!v || json_is_null(v))
		fputs("(unset)", out);
	else if (s && *s)
		arb_render_safe(out, s);
	else
		put_plan_item(out, v);
}

/* "web/app" under "web" is "app"; a path elsewhere stays whole. */
static const char *
name_under(const char *path, const char *supervisor)
{
	size_t n = strlen(supervisor);

	if (strcmp(supervisor, "/") == 0 || strncmp(path, supervisor, n) != 0 ||
	    path[n] != '/')
		return path;
	return path + n + 1;
}

/* "  ~ change   app (restart)" and, for a change, its keys below. */
static void
put_step(FILE *out, const struct arb_render *r, json_t *step,
	 const char *supervisor)
{
	const char *op = str_of(step, "op"), *path = str_of(step, "path");
	const char *note = str_of(step, "apply");
	json_t *order = json_object_get(step, "order");
	json_t *keys = json_object_get(step, "keys"), *k;
	size_t i, n = sizeof(plan_ops) / sizeof(plan_ops[0]);

	for (i = 0; i < n && !(op && strcmp(op, plan_ops[i].op) == 0); i++)
		;
	fputs("  ", out);
	if (r->color && i < n)
		fputs(plan_ops[i].color, out);
	fputs(i < n ? plan_ops[i].mark : "?", out);
	fputc(' ', out);
	if (!op)
		op = "?";
	arb_render_safe(out, op);
	if (r->color && i < n)
		fputs(C_RESET, out);
	pad(out, 9 - (strlen(op) < 9 ? strlen(op) : 8));
	if (json_is_array(order)) {
		json_t *name;

		json_array_foreach(order, i, name) {
			if (i > 0)
				fputc(' ', out);
			arb_render_safe(out, json_is_string(name)
						     ? json_string_value(name)
						     : "?");
		}
		fputc('\n', out);
		return;
	}
	arb_render_safe(out, path ? name_under(path, supervisor) : "?");
	if (!note)
		note = str_of(step, "kind");
	if (note) {
		fputs(" (", out);
		arb_render_safe(out, note);
		fputc(')', out);
	}
	fputc('\n', out);
	json_array_foreach(keys, i, k) {
		const char *key = str_of(k, "key");

		fputs("      ", out);
		arb_render_safe(out, key ? key : "?");
		fputs(": ", out);
		put_plan_value(out, json_object_get(k, "old"));
		fputs(" -> ", out);
		put_plan_value(out, json_object_get(k, "new"));
		fputc('\n', out);
	}
}

static const char *
supervisor_of(json_t *step)
{
	const char *s = str_of(step, "supervisor");

	return s ? s : "?";
}

int
arb_render_plan(FILE *out, const struct arb_render *r, json_t *plan,
		bool applied)
{
	json_t *steps = json_object_get(plan, "steps"), *s;
	const char *digest = str_of(plan, "digest");
	size_t n = json_array_size(steps), groups = 0, i, g;
	const char **sups;

	/* Supervisors in the order they first appear: the daemon's order. */
	sups = calloc(n ? n : 1, sizeof(*sups));
	if (!sups)
		return -ENOMEM;
	json_array_foreach(steps, i, s) {
		const char *sup = supervisor_of(s);

		for (g = 0; g < groups && strcmp(sups[g], sup) != 0; g++)
			;
		if (g == groups)
			sups[groups++] = sup;
	}
	fputs("reload", out);
	if (digest) {
		/* 16 digits tell two configs apart; --json has them all. */
		char short_digest[17];

		snprintf(short_digest, sizeof(short_digest), "%s", digest);
		fputc(' ', out);
		arb_render_safe(out, short_digest);
	}
	fprintf(out,
		": %lld to add, %lld to remove, %lld to change, "
		"%lld to reorder\n",
		op_count(plan, "adds", "add"),
		op_count(plan, "removes", "remove"),
		op_count(plan, "changes", "change"),
		op_count(plan, "reorders", "reorder"));
	for (g = 0; g < groups; g++) {
		arb_render_safe(out, sups[g]);
		fputs(":\n", out);
		json_array_foreach(steps, i, s)
			if (strcmp(supervisor_of(s), sups[g]) == 0)
				put_step(out, r, s, sups[g]);
	}
	if (n == 0)
		fputs("nothing to do\n", out);
	else
		fputs(applied ? "applied\n" : "dry run: nothing changed\n",
		      out);
	free(sups);
	return 0;
}

int
arb_render_reexec(FILE *f, json_t *reply)
{
	json_t *from = json_object_get(reply, "from");
	json_t *to = json_object_get(reply, "to");
	json_t *binary = json_object_get(reply, "binary");
	json_t *away = json_object_get(reply, "away_ms");

	if (!json_is_string(from) || !json_is_string(to) ||
	    !json_is_string(binary) || !json_is_integer(away))
		return -EINVAL;
	fputs("reexec: arbord ", f);
	arb_render_safe(f, json_string_value(from));
	fputs(" -> ", f);
	arb_render_safe(f, json_string_value(to));
	fputs(" (", f);
	arb_render_safe(f, json_string_value(binary));
	fprintf(f, "), away %" JSON_INTEGER_FORMAT " ms\n",
		json_integer_value(away));
	return 0;
}
