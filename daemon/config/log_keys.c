/*
 * log_keys.c - the `log = { ... }` group of a service or a supervisor.
 *
 * A node starts with its supervisor's log settings (spec.c copies them at
 * arb_spec_add); the keys of its own group replace them one by one, so
 * `log = { file = "/var/log/web.log"; }` on a supervisor sends all its
 * services to one file and a service can still keep a ring of its own
 * size.
 */
#include <errno.h>
#include <libconfig.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "core/limits.h"
#include "core/mem.h"

/* A size: a number of bytes, or a string such as "64K" or "10M". */
static int
get_size(struct node_ctx *c, const config_setting_t *s, uint64_t min,
	 uint64_t max, uint64_t *ret)
{
	char text[32], lo[32], hi[32];
	uint64_t v;

	if (is_int(s) && config_setting_get_int64(s) >= 0) {
		v = (uint64_t)config_setting_get_int64(s);
	} else if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		if (arb_spec_parse_size(config_setting_get_string(s), &v) < 0) {
			node_err(c, s, "%s: invalid size '%s' (expected bytes, "
				 "or a number with K, M or G: \"64K\", "
				 "\"10M\")", key_of(s),
				 config_setting_get_string(s));
			return -1;
		}
	} else {
		node_err(c, s, "%s: expected a size (bytes, or a string such "
			 "as \"64K\"), got %s", key_of(s), type_name(s));
		return -1;
	}
	if (v < min || v > max) {
		arb_spec_format_size(v, text, sizeof(text));
		arb_spec_format_size(min, lo, sizeof(lo));
		arb_spec_format_size(max, hi, sizeof(hi));
		node_err(c, s, "%s: %s is out of range (%s to %s)", key_of(s),
			 text, lo, hi);
		return -1;
	}
	*ret = v;
	return 0;
}

static int
parse_sinks(struct node_ctx *c, const config_setting_t *s, unsigned *ret)
{
	unsigned sinks = 0;
	int n;

	if (get_sequence(c, s) < 0)
		return -1;
	n = config_setting_length(s);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);
		const char *name;
		unsigned bit;

		if (get_string(c, e, &name) < 0)
			return -1;
		bit = arb_log_sink_from_name(name);
		if (!bit) {
			node_err(c, e, "sinks: unknown sink '%s' (expected "
				 "ring, file, journal or console)", name);
			return -1;
		}
		if (sinks & bit) {
			node_err(c, e, "sinks: '%s' is listed twice", name);
			return -1;
		}
		sinks |= bit;
	}
	*ret = sinks;
	return 0;
}

/*
 * 0 when the directory of the absolute file `path` exists, else -errno
 * (-ENOTDIR for something else): arbord opens the file, never creates
 * the directory, so --check must say so rather than the start.
 */
static int
check_directory(const char *path)
{
	const char *slash = strrchr(path, '/');
	char dir[4096];
	struct stat st;

	if (slash == path)
		return 0;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';
	if (stat(dir, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static int
parse_file(struct node_ctx *c, const config_setting_t *s)
{
	struct arb_log_spec *log = &node(c)->log;
	const char *path;
	char *copy;
	int r, dirlen;

	if (get_string(c, s, &path) < 0)
		return -1;
	if (path[0] != '/' || path[strlen(path) - 1] == '/') {
		node_err(c, s, "file: '%s' is not an absolute path to a file",
			 path);
		return -1;
	}
	if (strlen(path) + 8 > 4096) { /* room for ".1000" when rotated */
		node_err(c, s, "file: path too long");
		return -1;
	}
	r = check_directory(path);
	dirlen = (int)(strrchr(path, '/') - path);
	if (r == -ENOTDIR) {
		node_err(c, s, "file: '%s': '%.*s' is not a directory", path,
			 dirlen, path);
		return -1;
	}
	if (r < 0) {
		node_err(c, s, "file: '%s': directory '%.*s': %s", path,
			 dirlen, path, strerror(-r));
		return -1;
	}
	copy = arb_strdup(path);
	if (!copy) {
		c->ld->oom = true;
		return -1;
	}
	arb_free(log->file);
	log->file = copy;
	return 0;
}

/* One key of the group; 0 or -1 (reported). */
static int
parse_log_key(struct node_ctx *c, const config_setting_t *m)
{
	struct arb_log_spec *log = &node(c)->log;
	const char *name = config_setting_name(m);
	uint64_t v;

	if (strcmp(name, "sinks") == 0) {
		if (parse_sinks(c, m, &log->sinks) < 0)
			return -1;
		log->given |= ARB_LOG_SINKS;
	} else if (strcmp(name, "ring_size") == 0) {
		if (get_size(c, m, ARB_LOG_RING_MIN, ARB_LOG_RING_MAX, &v) < 0)
			return -1;
		log->ring_size = (uint32_t)v;
		log->given |= ARB_LOG_RING_SIZE;
	} else if (strcmp(name, "file") == 0) {
		if (parse_file(c, m) < 0)
			return -1;
		log->given |= ARB_LOG_FILE;
	} else if (strcmp(name, "max_size") == 0) {
		if (get_size(c, m, 0, ARB_SIZE_MAX, &log->max_size) < 0)
			return -1;
		log->given |= ARB_LOG_MAX_SIZE;
	} else if (strcmp(name, "keep") == 0) {
		long long keep;

		if (get_int(c, m, &keep) < 0)
			return -1;
		if (keep < 0 || keep > ARB_LOG_KEEP_MAX) {
			node_err(c, m, "keep: %lld is out of range (0 to %d)",
				 keep, ARB_LOG_KEEP_MAX);
			return -1;
		}
		log->keep = (uint32_t)keep;
		log->given |= ARB_LOG_KEEP;
	} else if (strcmp(name, "streams") == 0) {
		const char *text;
		int streams;

		if (get_string(c, m, &text) < 0)
			return -1;
		streams = arb_log_streams_from_name(text);
		if (streams < 0) {
			node_err(c, m, "streams: unknown value '%s' (expected "
				 "separate or merged)", text);
			return -1;
		}
		log->streams = (enum arb_log_streams)streams;
		log->given |= ARB_LOG_STREAMS;
	} else {
		node_err(c, m, "log: unknown key '%s' (expected sinks, "
			 "ring_size, file, max_size, keep or streams)", name);
		return -1;
	}
	return 0;
}

int
parse_log(struct node_ctx *c, const config_setting_t *s)
{
	struct arb_log_spec *log = &node(c)->log;
	int n, bad = 0;

	if (!config_setting_is_group(s)) {
		node_err(c, s, "log: expected a group { ... }, got %s",
			 type_name(s));
		return -1;
	}
	n = config_setting_length(s);
	for (int i = 0; i < n && !c->ld->oom; i++)
		bad |= parse_log_key(c, config_setting_get_elem(s, i));
	if (bad)
		return -1;
	/* A file named without a sinks list is meant to be written. */
	if (config_setting_get_member(s, "file") &&
	    !config_setting_get_member(s, "sinks")) {
		log->sinks |= ARB_SINK_FILE;
		log->given |= ARB_LOG_SINKS;
	}
	if ((log->sinks & ARB_SINK_FILE) && !log->file) {
		node_err(c, s, "log: sink 'file' needs a file = \"/path\"");
		return -1;
	}
	return 0;
}
