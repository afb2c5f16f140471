/*
 * spec.c - the configuration model: construction, defaults, name tables,
 * durations.
 *
 * Part of the pure core: no syscalls, no library headers with side effects
 * (STYLE.md 1); memory comes through mem.h. config/load.c fills a spec in,
 * tree.c reads it.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "limits.h"
#include "mem.h"
#include "spec.h"
#include "spec_internal.h"

static const char *const strategy_names[_ARB_STRATEGY_MAX] = {
	[ARB_ONE_FOR_ONE] = "one_for_one",
	[ARB_ONE_FOR_ALL] = "one_for_all",
	[ARB_REST_FOR_ONE] = "rest_for_one",
	[ARB_SIMPLE_ONE_FOR_ONE] = "simple_one_for_one",
};

static const char *const on_change_names[_ARB_ON_CHANGE_MAX] = {
	[ARB_ON_CHANGE_RESTART] = "restart",
	[ARB_ON_CHANGE_NEXT_START] = "next-start",
};

static const char *const restart_names[_ARB_RESTART_MAX] = {
	[ARB_PERMANENT] = "permanent",
	[ARB_TRANSIENT] = "transient",
	[ARB_TEMPORARY] = "temporary",
};

static const char *const auto_shutdown_names[_ARB_AUTO_SHUTDOWN_MAX] = {
	[ARB_AUTO_NEVER] = "never",
	[ARB_AUTO_ANY_SIGNIFICANT] = "any_significant",
	[ARB_AUTO_ALL_SIGNIFICANT] = "all_significant",
};

static const char *const shutdown_order_names[_ARB_SHUTDOWN_ORDER_MAX] = {
	[ARB_SHUTDOWN_ORDERED] = "ordered",
	[ARB_SHUTDOWN_PARALLEL] = "parallel",
};

static const char *const node_kind_names[_ARB_NODE_KIND_MAX] = {
	[ARB_NODE_SERVICE] = "service",
	[ARB_NODE_SUPERVISOR] = "supervisor",
};

static const char *const ready_names[_ARB_READY_MAX] = {
	[ARB_READY_EXEC] = "exec",
	[ARB_READY_NOTIFY] = "notify",
	[ARB_READY_FD] = "fd",
};

/* Indexed by Linux's RLIMIT_* number: <sys/resource.h> is not ours to use. */
static const char *const rlimit_names[ARB_RLIMIT_COUNT] = {
	"cpu", "fsize", "data", "stack", "core", "rss", "nproc", "nofile",
	"memlock", "as", "locks", "sigpending", "msgqueue", "nice", "rtprio",
	"rttime",
};

static int
lookup(const char *const *table, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(table[i], name) == 0)
			return i;
	return -1;
}

const char *
arb_strategy_name(enum arb_strategy v)
{
	return v < _ARB_STRATEGY_MAX ? strategy_names[v] : "?";
}

const char *
arb_restart_name(enum arb_restart v)
{
	return v < _ARB_RESTART_MAX ? restart_names[v] : "?";
}

static const char *const giveup_names[_ARB_GIVEUP_MAX] = {
	[ARB_GIVEUP_REBOOT] = "reboot",
	[ARB_GIVEUP_POWEROFF] = "poweroff",
	[ARB_GIVEUP_HALT] = "halt",
	[ARB_GIVEUP_RESTART] = "restart",
	[ARB_GIVEUP_SHELL] = "shell",
};

const char *
arb_giveup_name(enum arb_giveup v)
{
	return v < _ARB_GIVEUP_MAX ? giveup_names[v] : "?";
}

int
arb_giveup_from_name(const char *name)
{
	return lookup(giveup_names, _ARB_GIVEUP_MAX, name);
}

static const char *const exit_status_names[_ARB_EXIT_STATUS_MAX] = {
	[ARB_EXIT_STATUS_ROOT] = "root",
	[ARB_EXIT_STATUS_SIGNIFICANT] = "significant",
};

const char *
arb_exit_status_name(enum arb_exit_status v)
{
	return v < _ARB_EXIT_STATUS_MAX ? exit_status_names[v] : "?";
}

int
arb_exit_status_from_name(const char *name)
{
	return lookup(exit_status_names, _ARB_EXIT_STATUS_MAX, name);
}

const char *
arb_auto_shutdown_name(enum arb_auto_shutdown v)
{
	return v < _ARB_AUTO_SHUTDOWN_MAX ? auto_shutdown_names[v] : "?";
}

const char *
arb_shutdown_order_name(enum arb_shutdown_order v)
{
	return v < _ARB_SHUTDOWN_ORDER_MAX ? shutdown_order_names[v] : "?";
}

const char *
arb_node_kind_name(enum arb_node_kind v)
{
	return v < _ARB_NODE_KIND_MAX ? node_kind_names[v] : "?";
}

const char *
arb_ready_name(enum arb_ready v)
{
	return v < _ARB_READY_MAX ? ready_names[v] : "?";
}

const char *
arb_rlimit_name(int resource)
{
	if (resource < 0 || resource >= ARB_RLIMIT_COUNT)
		return NULL;
	return rlimit_names[resource];
}

int
arb_strategy_from_name(const char *name)
{
	return lookup(strategy_names, _ARB_STRATEGY_MAX, name);
}

const char *
arb_on_change_name(enum arb_on_change v)
{
	return v < _ARB_ON_CHANGE_MAX ? on_change_names[v] : "?";
}

int
arb_on_change_from_name(const char *name)
{
	return lookup(on_change_names, _ARB_ON_CHANGE_MAX, name);
}

int
arb_restart_from_name(const char *name)
{
	return lookup(restart_names, _ARB_RESTART_MAX, name);
}

int
arb_auto_shutdown_from_name(const char *name)
{
	return lookup(auto_shutdown_names, _ARB_AUTO_SHUTDOWN_MAX, name);
}

int
arb_shutdown_order_from_name(const char *name)
{
	return lookup(shutdown_order_names, _ARB_SHUTDOWN_ORDER_MAX, name);
}

int
arb_ready_from_name(const char *name)
{
	return lookup(ready_names, _ARB_READY_MAX, name);
}

int
arb_rlimit_from_name(const char *name)
{
	return lookup(rlimit_names, ARB_RLIMIT_COUNT, name);
}

static void
node_defaults(struct arb_spec_node *n)
{
	n->restart = ARB_DEFAULT_RESTART;
	n->significant = false;
	n->strategy = ARB_DEFAULT_STRATEGY;
	n->intensity = ARB_DEFAULT_INTENSITY;
	n->period_ms = ARB_DEFAULT_PERIOD_MS;
	n->auto_shutdown = ARB_DEFAULT_AUTO_SHUTDOWN;
	n->shutdown = ARB_DEFAULT_SHUTDOWN;
	n->stop_signal = ARB_DEFAULT_STOP_SIGNAL;
	n->stop_timeout_ms = ARB_DEFAULT_STOP_TIMEOUT_MS;
	n->ready = ARB_DEFAULT_READY;
	n->ready_fd = -1;
	n->start_timeout_ms = ARB_DEFAULT_START_TIMEOUT_MS;
	n->umask = -1;
	n->log.sinks = ARB_DEFAULT_LOG_SINKS;
	n->log.ring_size = ARB_DEFAULT_LOG_RING_SIZE;
	n->log.max_size = ARB_DEFAULT_LOG_MAX_SIZE;
	n->log.keep = ARB_DEFAULT_LOG_KEEP;
	n->on_change = ARB_DEFAULT_ON_CHANGE;
	n->template_node = ARB_NONE;
	n->max_children = ARB_DEFAULT_MAX_CHILDREN;
	n->instances = ARB_DEFAULT_INSTANCES;
	n->defaulted = ~0u;
	n->parent = ARB_NONE;
}

struct arb_spec *
arb_spec_new(void)
{
	struct arb_spec *s = arb_calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->cap = 16;
	s->nodes = arb_calloc(s->cap, sizeof(*s->nodes));
	if (!s->nodes)
		goto fail;
	s->nnodes = 1;
	s->touched_lo = 1; /* none */
	s->control_gid = -1;
	s->on_giveup = ARB_DEFAULT_ON_GIVEUP;
	s->exit_status = ARB_DEFAULT_EXIT_STATUS;
	node_defaults(&s->nodes[0]);
	s->nodes[0].kind = ARB_NODE_SUPERVISOR;
	if (arb_spec_set_path(&s->nodes[0], "/", 1) < 0)
		goto fail;
	return s;
fail:
	arb_spec_free(s);
	return NULL;
}

uint32_t
arb_spec_strv_len(char *const *v)
{
	uint32_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

void
arb_spec_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		arb_free(*p);
	arb_free(v);
}

char **
arb_spec_strv_pack(char *const *v)
{
	uint32_t n = arb_spec_strv_len(v);
	size_t room = (n + 1) * sizeof(char *);
	char **packed;
	char *p;

	if (!v)
		return NULL;
	for (uint32_t i = 0; i < n; i++)
		room += strlen(v[i]) + 1;
	packed = arb_calloc(room, 1);
	if (!packed)
		return NULL;
	p = (char *)(packed + n + 1);
	for (uint32_t i = 0; i < n; i++) {
		size_t len = strlen(v[i]) + 1;

		packed[i] = memcpy(p, v[i], len);
		p += len;
	}
	packed[n] = NULL;
	return packed;
}

void
spec_node_free_keys(struct arb_spec_node *n)
{
	arb_free(n->exec_path);
	arb_free(n->argv); /* packed: one block */
	arb_spec_strv_free(n->env);
	arb_free(n->cwd);
	arb_spec_strv_free(n->listen);
	arb_free(n->groups);
	arb_free(n->account);
	arb_free(n->rlimits);
	arb_free(n->limits);
	arb_free(n->log.file);
}

void
spec_node_free(struct arb_spec_node *n)
{
	arb_free(n->path); /* and the name, a view into it */
	arb_free(n->children);
	arb_free(n->child_index);
	spec_node_free_keys(n);
	if (n->pending) {
		spec_node_free_keys(n->pending);
		arb_free(n->pending);
	}
}

void
arb_spec_free(struct arb_spec *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; i < s->nnodes; i++)
		spec_node_free(&s->nodes[i]);
	arb_free(s->nodes);
	arb_free(s->free_slots);
	for (uint32_t i = 0; i < s->nfiles; i++)
		arb_free(s->files[i]);
	arb_free(s->files);
	arb_free(s->control_group);
	arb_spec_strv_free(s->emergency_shell);
	arb_free(s);
}

const char *
arb_spec_add_file(struct arb_spec *s, const char *file)
{
	char **files = arb_reallocarray(s->files, s->nfiles + 1,
					sizeof(*files));
	char *copy;

	if (!files)
		return NULL;
	s->files = files;
	copy = arb_strdup(file);
	if (!copy)
		return NULL;
	s->files[s->nfiles++] = copy;
	return copy;
}

char *
spec_join_path(const char *parent, const char *name)
{
	size_t plen = strcmp(parent, "/") == 0 ? 0 : strlen(parent);
	size_t nlen = strlen(name);
	char *path = arb_calloc(plen + nlen + 2, 1);

	if (!path)
		return NULL;
	if (plen) {
		memcpy(path, parent, plen);
		path[plen++] = '/';
	}
	memcpy(path + plen, name, nlen + 1);
	return path;
}

/* n takes path (its own allocation); its name is the last name_len bytes. */
static void
own_path(struct arb_spec_node *n, char *path, size_t name_len)
{
	arb_free(n->path);
	n->path = path;
	n->name = path + strlen(path) - name_len;
}

int
spec_place(struct arb_spec_node *n, const char *parent_path, const char *name)
{
	size_t name_len = strlen(name);
	char *path = spec_join_path(parent_path, name);

	if (!path)
		return -1;
	own_path(n, path, name_len);
	return 0;
}

int
arb_spec_set_path(struct arb_spec_node *n, const char *path, size_t name_len)
{
	char *copy = arb_strdup(path);

	if (!copy)
		return -1;
	own_path(n, copy, name_len);
	return 0;
}

/* Copies s (when not NULL) to *p and moves *p past it; the copy, or NULL. */
static const char *
put_string(char **p, const char *s, size_t len)
{
	char *copy = *p;

	if (!s)
		return NULL;
	memcpy(copy, s, len);
	*p += len;
	return copy;
}

int
arb_spec_set_account(struct arb_spec_node *n, const char *user_name,
		     const char *home, const char *shell)
{
	size_t lu = user_name ? strlen(user_name) + 1 : 0;
	size_t lh = home ? strlen(home) + 1 : 0;
	size_t ls = shell ? strlen(shell) + 1 : 0;
	char *block = NULL, *p;

	if (lu + lh + ls > 0) {
		block = arb_calloc(lu + lh + ls, 1);
		if (!block)
			return -1;
	}
	p = block;
	n->user_name = put_string(&p, user_name, lu);
	n->home = put_string(&p, home, lh);
	n->shell = put_string(&p, shell, ls);
	arb_free(n->account);
	n->account = block;
	return 0;
}

uint32_t
spec_new_slot(struct arb_spec *s)
{
	uint32_t idx;

	if (s->nfree > 0) {
		idx = s->free_slots[--s->nfree];
	} else {
		/* Room to free every slot later without an allocation. */
		if (s->free_cap < s->nnodes + 1) {
			uint32_t cap = s->cap * 2;
			uint32_t *v = arb_reallocarray(s->free_slots, cap,
						       sizeof(*v));

			if (!v)
				return ARB_NONE;
			s->free_slots = v;
			s->free_cap = cap;
		}
		if (s->nnodes == s->cap) {
			struct arb_spec_node *nodes = arb_reallocarray(
				s->nodes, (size_t)s->cap * 2, sizeof(*nodes));

			if (!nodes)
				return ARB_NONE;
			/* The new room is left untouched (its pages unmapped
			 * until used): a slot is cleared when it is taken. */
			s->nodes = nodes;
			s->cap *= 2;
		}
		idx = s->nnodes++;
	}
	memset(&s->nodes[idx], 0, sizeof(s->nodes[idx]));
	node_defaults(&s->nodes[idx]);
	spec_touch(s, idx);
	return idx;
}

void
spec_touch(struct arb_spec *s, uint32_t idx)
{
	if (s->touched_lo > s->touched_hi) {
		s->touched_lo = idx;
		s->touched_hi = idx;
	} else if (idx < s->touched_lo) {
		s->touched_lo = idx;
	} else if (idx > s->touched_hi) {
		s->touched_hi = idx;
	}
	s->generation++;
}

void
spec_free_slot(struct arb_spec *s, uint32_t idx)
{
	memset(&s->nodes[idx], 0, sizeof(s->nodes[idx]));
	s->nodes[idx].unused = true;
	s->nodes[idx].parent = ARB_NONE;
	s->nodes[idx].template_node = ARB_NONE;
	/* Its room was reserved when the slot was made (spec_new_slot). */
	s->free_slots[s->nfree++] = idx;
	spec_touch(s, idx);
}

int
spec_children_reserve(struct arb_spec_node *p, uint32_t n)
{
	uint32_t cap;
	uint32_t *children;

	if (n <= p->children_cap)
		return 0;
	/* Doubling: one more each time would copy it whole per child. */
	cap = p->children_cap ? p->children_cap : 4;
	while (cap < n)
		cap *= 2;
	children = arb_reallocarray(p->children, cap, sizeof(*children));
	if (!children)
		return -1;
	p->children = children;
	p->children_cap = cap;
	return 0;
}

uint32_t
arb_spec_add(struct arb_spec *s, uint32_t parent, enum arb_node_kind kind,
	     const char *name, const char *file, int line)
{
	struct arb_spec_node *p, *n;
	uint32_t idx;

	if (spec_children_reserve(&s->nodes[parent],
				  s->nodes[parent].nchildren + 1) < 0)
		return ARB_NONE;
	idx = spec_new_slot(s);
	if (idx == ARB_NONE)
		return ARB_NONE;
	p = &s->nodes[parent];
	n = &s->nodes[idx];
	n->kind = kind;
	n->parent = parent;
	n->depth = p->depth + 1;
	n->file = file;
	n->line = line;
	/* A child logs as its supervisor does unless it says otherwise. */
	n->log = p->log;
	n->log.file = p->log.file ? arb_strdup(p->log.file) : NULL;
	if (spec_place(n, p->path, name) < 0 ||
	    (p->log.file && !n->log.file)) {
		spec_node_free(n);
		spec_free_slot(s, idx);
		return ARB_NONE;
	}
	p->children[p->nchildren++] = idx;
	spec_index_add(s, parent, idx);
	return idx;
}

bool
arb_spec_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > ARB_NAME_MAX)
		return false;
	for (const char *c = name; *c; c++) {
		bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			  (*c >= '0' && *c <= '9') || *c == '_' || *c == '.' ||
			  *c == '-';
		if (!ok)
			return false;
	}
	/* "." and ".." would read as relative paths in arborctl. */
	return strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

bool
arb_spec_exit_is_normal(const struct arb_spec_node *n, int code)
{
	if (code == 0)
		return true;
	if (code < 0 || code > 255)
		return false;
	return n->normal_exit[code / 8] & (1u << (code % 8));
}

void
arb_spec_set_normal_exit(struct arb_spec_node *n, int code)
{
	if (code >= 0 && code <= 255)
		n->normal_exit[code / 8] |= (uint8_t)(1u << (code % 8));
}

/* The largest duration accepted: about 292 years would overflow; 1 year. */
#define DURATION_MAX_MS (366LL * 24 * 3600 * 1000)

static const struct {
	const char *suffix;
	int64_t ms;
} units[] = {
	{"ms", 1}, {"s", 1000}, {"min", 60000}, {"h", 3600000},
};

int
arb_spec_parse_duration(const char *text, bool allow_infinity,
			int64_t *ret_ms)
{
	int64_t whole = 0, frac = 0, frac_scale = 1, unit = 1000, ms;
	const char *c = text;
	bool digits = false, finer = false;

	if (strcmp(text, "infinity") == 0) {
		if (!allow_infinity)
			return -1;
		*ret_ms = ARB_INFINITY_MS;
		return 0;
	}
	for (; *c >= '0' && *c <= '9'; c++, digits = true) {
		whole = whole * 10 + (*c - '0');
		if (whole > DURATION_MAX_MS)
			return -1;
	}
	if (*c == '.') {
		/* Nine places hold any whole millisecond of an hour. */
		for (c++; *c >= '0' && *c <= '9'; c++, digits = true) {
			if (frac_scale < 1000000000) {
				frac = frac * 10 + (*c - '0');
				frac_scale *= 10;
			} else if (*c != '0') {
				finer = true;
			}
		}
	}
	if (!digits)
		return -1;
	if (*c) {
		size_t i;

		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strcmp(c, units[i].suffix) == 0)
				break;
		if (i == sizeof(units) / sizeof(units[0]))
			return -1;
		unit = units[i].ms;
	}
	ms = whole * unit + frac * unit / frac_scale;
	if (ms > DURATION_MAX_MS)
		return -1;
	/* "0.0001ms" would be 0: no watchdog, or a stop that kills at once. */
	if (finer || frac * unit % frac_scale != 0)
		return -2;
	*ret_ms = ms;
	return 0;
}

void
arb_spec_format_uint(uint64_t v, char *buf, size_t size)
{
	char digits[20];
	size_t n = 0, len = 0;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	while (n > 0 && len + 1 < size)
		buf[len++] = digits[--n];
	if (size > 0)
		buf[len] = '\0';
}

/* Appends the decimal digits of v (>= 0) to buf at *len. */
static void
put_number(char *buf, size_t size, size_t *len, int64_t v)
{
	arb_spec_format_uint((uint64_t)v, buf + *len, size - *len);
	*len += strlen(buf + *len);
}

void
arb_spec_format_duration(int64_t ms, char *buf, size_t size)
{
	size_t len = 0, i = sizeof(units) / sizeof(units[0]);

	if (size == 0)
		return;
	buf[0] = '\0';
	if (ms == ARB_INFINITY_MS) {
		strncpy(buf, "infinity", size - 1);
		buf[size - 1] = '\0';
		return;
	}
	while (--i > 0 && (ms == 0 || ms % units[i].ms != 0))
		;
	put_number(buf, size, &len, ms / units[i].ms);
	for (const char *s = units[i].suffix; *s && len + 1 < size; s++)
		buf[len++] = *s;
	buf[len] = '\0';
}

int
arb_spec_parse_size(const char *text, uint64_t *ret)
{
	uint64_t v = 0, unit = 1;
	const char *p = text;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > ARB_SIZE_MAX)
			return -1;
	}
	switch (*p) {
	case '\0':
		break;
	case 'K':
		unit = 1024;
		p++;
		break;
	case 'M':
		unit = 1024 * 1024;
		p++;
		break;
	case 'G':
		unit = 1024 * 1024 * 1024;
		p++;
		break;
	default:
		return -1;
	}
	if (*p != '\0' || v > ARB_SIZE_MAX / unit)
		return -1;
	*ret = v * unit;
	return 0;
}

void
arb_spec_format_size(uint64_t bytes, char *buf, size_t size)
{
	static const char suffix[] = {'G', 'M', 'K'};
	uint64_t unit = 1024 * 1024 * 1024;
	size_t len = 0;

	if (size == 0)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(suffix); i++, unit /= 1024) {
		if (bytes != 0 && bytes % unit == 0) {
			put_number(buf, size, &len, (int64_t)(bytes / unit));
			if (len + 1 < size) {
				buf[len++] = suffix[i];
				buf[len] = '\0';
			}
			return;
		}
	}
	put_number(buf, size, &len, (int64_t)bytes);
}

static const char *const log_sink_names[] = {
	"ring", "file", "journal", "console",
};

const char *
arb_log_sink_name(enum arb_log_sink v)
{
	for (size_t i = 0; i < sizeof(log_sink_names) / sizeof(*log_sink_names);
	     i++)
		if (v == 1u << i)
			return log_sink_names[i];
	return NULL;
}

unsigned
arb_log_sink_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof(log_sink_names) / sizeof(*log_sink_names);
	     i++)
		if (strcmp(name, log_sink_names[i]) == 0)
			return 1u << i;
	return 0;
}

static const char *const log_streams_names[_ARB_STREAMS_MAX] = {
	[ARB_STREAMS_SEPARATE] = "separate",
	[ARB_STREAMS_MERGED] = "merged",
};

const char *
arb_log_streams_name(enum arb_log_streams v)
{
	return (unsigned)v < _ARB_STREAMS_MAX ? log_streams_names[v] : "?";
}

int
arb_log_streams_from_name(const char *name)
{
	return lookup(log_streams_names, _ARB_STREAMS_MAX, name);
}

/* ---- children by name ---------------------------------------------------- */

/* Below this many children a scan is as quick as a hash. */
#define CHILD_INDEX_MIN 16

static uint32_t
name_hash(const char *name)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *c = (const unsigned char *)name; *c; c++)
		h = (h ^ *c) * 16777619u;
	return h;
}

static void
index_put(const struct arb_spec *s, struct arb_spec_node *p, uint32_t child)
{
	uint32_t mask = p->child_index_cap - 1;
	uint32_t i = name_hash(s->nodes[child].name) & mask;

	while (p->child_index[i] != 0)
		i = (i + 1) & mask;
	p->child_index[i] = child + 1;
}

/* (Re)makes p's index for its children now: false on OOM (none then). */
static bool
index_build(const struct arb_spec *s, struct arb_spec_node *p)
{
	uint32_t cap = 32;

	while (cap < 2 * (p->nchildren + 1))
		cap *= 2;
	arb_free(p->child_index);
	p->child_index = arb_calloc(cap, sizeof(*p->child_index));
	p->child_index_cap = p->child_index ? cap : 0;
	if (!p->child_index)
		return false;
	for (uint32_t i = 0; i < p->nchildren; i++)
		index_put(s, p, p->children[i]);
	return true;
}

void
spec_index_add(struct arb_spec *s, uint32_t parent, uint32_t child)
{
	struct arb_spec_node *p = &s->nodes[parent];

	if (!p->child_index)
		return; /* made at the first lookup that needs it */
	if (2 * (p->nchildren + 1) > p->child_index_cap) {
		if (!index_build(s, p))
			return;
		return; /* child is among p->children already */
	}
	index_put(s, p, child);
}

void
spec_index_remove(struct arb_spec *s, uint32_t parent, uint32_t child)
{
	struct arb_spec_node *p = &s->nodes[parent];
	uint32_t mask, i;

	if (!p->child_index)
		return;
	mask = p->child_index_cap - 1;
	i = name_hash(s->nodes[child].name) & mask;
	while (p->child_index[i] != child + 1) {
		if (p->child_index[i] == 0)
			return;
		i = (i + 1) & mask;
	}
	/* Backward shift: later entries of the run move into the hole. */
	for (uint32_t hole = i, j = (i + 1) & mask;; j = (j + 1) & mask) {
		uint32_t e = p->child_index[j], home;

		if (e == 0) {
			p->child_index[hole] = 0;
			return;
		}
		home = name_hash(s->nodes[e - 1].name) & mask;
		if (((j - home) & mask) >= ((j - hole) & mask)) {
			p->child_index[hole] = e;
			hole = j;
		}
	}
}

/*
 * The index is a cache of what the children are: made here, at the first
 * lookup that needs it, though the spec is only read.
 */
uint32_t
arb_spec_find_child(const struct arb_spec *s, uint32_t parent,
		    const char *name)
{
	struct arb_spec_node *p = &((struct arb_spec *)s)->nodes[parent];
	uint32_t mask, i;

	if (p->nchildren < CHILD_INDEX_MIN ||
	    (!p->child_index && !index_build(s, p))) {
		for (uint32_t k = 0; k < p->nchildren; k++)
			if (strcmp(s->nodes[p->children[k]].name, name) == 0)
				return p->children[k];
		return ARB_NONE;
	}
	mask = p->child_index_cap - 1;
	for (i = name_hash(name) & mask; p->child_index[i] != 0;
	     i = (i + 1) & mask) {
		uint32_t c = p->child_index[i] - 1;

		if (strcmp(s->nodes[c].name, name) == 0)
			return c;
	}
	return ARB_NONE;
}

/*
 * Walks down from the root, name by name: only nodes that are children
 * now are found (not one grafted and still waiting to be added, nor one
 * that left), whatever their slots.
 */
uint32_t
arb_spec_find(const struct arb_spec *s, const char *path)
{
	char name[ARB_NAME_MAX + 1];
	uint32_t node = ARB_ROOT;

	if (strcmp(path, "/") == 0)
		return ARB_ROOT;
	if (*path == '\0')
		return ARB_NONE;
	while (*path) {
		size_t len = strcspn(path, "/");

		if (len == 0 || len > ARB_NAME_MAX)
			return ARB_NONE;
		memcpy(name, path, len);
		name[len] = '\0';
		node = arb_spec_find_child(s, node, name);
		if (node == ARB_NONE || s->nodes[node].leaving)
			return ARB_NONE;
		path += len + (path[len] == '/');
	}
	return node;
}

bool
arb_spec_is_node(const struct arb_spec *s, uint32_t i)
{
	return i < s->nnodes && !s->nodes[i].unused &&
	       !s->nodes[i].is_template && !s->nodes[i].leaving;
}
