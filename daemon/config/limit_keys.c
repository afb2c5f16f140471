/*
 * limit_keys.c - the cgroup limit keys of a service, a supervisor (its
 * whole subtree) or a pool's template (each instance): memory_max,
 * memory_high, memory_swap_max, cpu_weight, cpu_max, pids_max, io_weight.
 *
 * The values are read here through core/cg_limits.c's parsers; whether
 * the cgroup2 arbord finds can apply them is a separate check
 * (arb_config_check_limits), made on a loaded spec, that looks at no
 * cgroup itself: the caller says what was found.
 */
#include <errno.h>
#include <libconfig.h>
#include <stdio.h>
#include <string.h>

#include "cgroup.h"
#include "config.h"
#include "internal.h"
#include "core/cg_limits.h"
#include "core/mem.h"

/* The node's limits, made when its first limit key is read. */
static struct arb_cg_limits *
limits_of(struct node_ctx *c)
{
	struct arb_spec_node *n = node(c);

	if (!n->limits) {
		n->limits = arb_calloc(1, sizeof(*n->limits));
		if (!n->limits) {
			c->ld->oom = true;
			return NULL;
		}
		n->limits->cpu_period_us = ARB_CG_DEFAULT_CPU_PERIOD_US;
	}
	return n->limits;
}

/* A memory key: bytes as an integer, or "512M", "1.5G", "max". */
static int
get_bytes(struct node_ctx *c, const config_setting_t *s, uint64_t *ret)
{
	char most[32];
	const char *text;
	long long v;
	int r;

	if (is_int(s)) {
		v = config_setting_get_int64(s);
		if (v < 0 || (unsigned long long)v > ARB_CG_BYTES_MAX) {
			arb_cg_format_bytes(ARB_CG_BYTES_MAX, most,
					    sizeof(most));
			node_err(c, s, "%s: %lld is out of range (0 to %s, "
				 "or \"max\")", key_of(s), v, most);
			return -1;
		}
		*ret = (uint64_t)v;
		return 0;
	}
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		node_err(c, s, "%s: expected a size (bytes, or a string such "
			 "as \"512M\" or \"max\"), got %s", key_of(s),
			 type_name(s));
		return -1;
	}
	text = config_setting_get_string(s);
	r = arb_cg_parse_bytes(text, ret);
	if (r == -2) {
		arb_cg_format_bytes(ARB_CG_BYTES_MAX, most, sizeof(most));
		node_err(c, s, "%s: '%s' is out of range (at most %s, or "
			 "\"max\")", key_of(s), text, most);
		return -1;
	}
	if (r < 0) {
		node_err(c, s, "%s: invalid size '%s' (expected bytes, or a "
			 "number with K, M, G or T: \"512M\", \"1.5G\"; or "
			 "\"max\")", key_of(s), text);
		return -1;
	}
	return 0;
}

/* cpu_weight, io_weight: the kernel's 1 to 10000, 100 by default. */
static int
get_weight(struct node_ctx *c, const config_setting_t *s, uint32_t *ret)
{
	long long v;

	if (get_int(c, s, &v) < 0)
		return -1;
	if (v < ARB_CG_WEIGHT_MIN || v > ARB_CG_WEIGHT_MAX) {
		node_err(c, s, "%s: %lld is out of range (%u to %u)",
			 key_of(s), v, ARB_CG_WEIGHT_MIN, ARB_CG_WEIGHT_MAX);
		return -1;
	}
	*ret = (uint32_t)v;
	return 0;
}

static int
get_cpu_max(struct node_ctx *c, const config_setting_t *s,
	    struct arb_cg_limits *l)
{
	const char *text;
	int r;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		node_err(c, s, "cpu_max: expected a string such as \"50%%\", "
			 "\"max\" or \"50000 100000\", got %s", type_name(s));
		return -1;
	}
	text = config_setting_get_string(s);
	r = arb_cg_parse_cpu_max(text, &l->cpu_max_us, &l->cpu_period_us);
	if (r == -2) {
		node_err(c, s, "cpu_max: '%s' is out of range (a quota of at "
			 "least %u us and at most %u CPUs, in a period of %u "
			 "to %u us)", text, ARB_CG_CPU_QUOTA_MIN_US,
			 ARB_CG_CPU_CPUS_MAX, ARB_CG_CPU_PERIOD_MIN_US,
			 ARB_CG_CPU_PERIOD_MAX_US);
		return -1;
	}
	if (r < 0) {
		node_err(c, s, "cpu_max: invalid value '%s' (expected a share "
			 "of one CPU such as \"50%%\" or \"150%%\", \"max\", "
			 "or \"QUOTA PERIOD\" in microseconds such as \"50000 "
			 "100000\")", text);
		return -1;
	}
	return 0;
}

/* A positive integer or "max". */
static int
get_pids(struct node_ctx *c, const config_setting_t *s, uint64_t *ret)
{
	long long v;

	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		if (strcmp(config_setting_get_string(s), "max") == 0) {
			*ret = ARB_CG_UNLIMITED;
			return 0;
		}
		node_err(c, s, "pids_max: invalid value '%s' (expected a "
			 "positive integer or \"max\")",
			 config_setting_get_string(s));
		return -1;
	}
	if (!is_int(s)) {
		node_err(c, s, "pids_max: expected a positive integer or "
			 "\"max\", got %s", type_name(s));
		return -1;
	}
	v = config_setting_get_int64(s);
	if (v < 1 || v > ARB_CG_PIDS_LIMIT) {
		node_err(c, s, "pids_max: %lld is out of range (1 to %u, or "
			 "\"max\")", v, ARB_CG_PIDS_LIMIT);
		return -1;
	}
	*ret = (uint64_t)v;
	return 0;
}

int
parse_cg_limit(struct node_ctx *c, const config_setting_t *s)
{
	unsigned key = arb_cg_limit_key_from_name(config_setting_name(s));
	struct arb_cg_limits *l = limits_of(c);
	struct arb_cg_limits v;
	int r = -1;

	if (!l)
		return -1;
	v = *l; /* a bad value leaves the limits as they were */
	switch (key) {
	case ARB_CG_MEMORY_MAX:
		r = get_bytes(c, s, &v.memory_max);
		break;
	case ARB_CG_MEMORY_HIGH:
		r = get_bytes(c, s, &v.memory_high);
		break;
	case ARB_CG_MEMORY_SWAP_MAX:
		r = get_bytes(c, s, &v.memory_swap_max);
		break;
	case ARB_CG_CPU_WEIGHT:
		r = get_weight(c, s, &v.cpu_weight);
		break;
	case ARB_CG_IO_WEIGHT:
		r = get_weight(c, s, &v.io_weight);
		break;
	case ARB_CG_CPU_MAX:
		r = get_cpu_max(c, s, &v);
		break;
	case ARB_CG_PIDS_MAX:
		r = get_pids(c, s, &v.pids_max);
		break;
	}
	if (r < 0) {
		if (l->given == 0) { /* nothing else given: none at all */
			arb_free(node(c)->limits);
			node(c)->limits = NULL;
		}
		return -1;
	}
	v.given |= key;
	*l = v;
	return 0;
}

/* ---- whether they can be applied ---- */

/* Each limit of node idx that cg cannot apply, as an error; why is the
 * parenthesis of every message. */
static void
check_node(struct loader *ld, const struct arb_cgroup *cg, uint32_t idx,
	   const char *why)
{
	const struct arb_spec_node *n = &ld->spec->nodes[idx];
	struct node_ctx c = {.ld = ld, .idx = idx};

	for (unsigned bit = 1; bit <= ARB_CG_LIMIT_KEYS_ALL && !ld->oom;
	     bit <<= 1) {
		const char *key = arb_cg_limit_key_name(bit);
		unsigned controller = arb_cg_key_controller(bit);

		if (!(n->limits->given & bit))
			continue;
		if (!cg->on)
			node_err_at(&c, n->file, n->line, "%s: limits need "
				    "cgroup2, which arbord does not use (%s)",
				    key, why);
		else if (!(cg->controllers & controller))
			node_err_at(&c, n->file, n->line, "%s: the %s "
				    "controller is not available (%s)", key,
				    arb_cg_controller_name(controller), why);
	}
}

/*
 * The names of the controllers in bits ("cpu pids"), or "none": cgroup.c
 * has the same, but the loader links without the shell.
 */
static const char *
controller_names(unsigned bits, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (unsigned bit = 1; bit <= ARB_CGC_PIDS; bit <<= 1)
		if (bits & bit)
			len += (size_t)snprintf(buf + len, size - len, "%s%s",
						len ? " " : "",
						arb_cg_controller_name(bit));
	return len ? buf : "none";
}

/* Why a limit cannot apply, for every message: the probe's reason, or
 * where cgroup2 is and what it offers. */
static void
unavailable_why(const struct arb_cgroup *cg, char *buf, size_t size)
{
	const char *base = cg->base ? cg->base : "?";
	const char *slash = strrchr(base, '/');
	int len = (int)strlen(base);
	char names[64];

	if (!cg->on) {
		snprintf(buf, size, "%s", cg->why_off ? cg->why_off
						      : "no cgroup2");
		return;
	}
	/* An arbord-PID base is made beside arbord's other processes: the
	 * cgroup it runs in is the one that offers them. */
	if (cg->made_base && slash && slash != base)
		len = (int)(slash - base);
	snprintf(buf, size, "cgroup2 at %.*s offers %s", len, base,
		 controller_names(cg->controllers, names, sizeof(names)));
}

int
arb_config_check_limits(const struct arb_spec *spec,
			const struct arb_cgroup *cg, struct arb_diag *diag)
{
	struct loader ld = {.spec = (struct arb_spec *)spec, .diag = diag};
	size_t before = diag->nerrors;
	char why[512];

	unavailable_why(cg, why, sizeof(why));
	for (uint32_t i = 0; i < spec->nnodes && !ld.oom; i++) {
		const struct arb_spec_node *n = &spec->nodes[i];

		if (!n->unused && n->limits)
			check_node(&ld, cg, i, why);
	}
	if (ld.oom)
		return -ENOMEM;
	return (int)(diag->nerrors - before);
}
