/*
 * cg_limits.c - the cgroup limit keys' values read from and written as
 * arbor.conf's text (byte sizes with K..T, cpu_max's percent or the
 * kernel's "QUOTA PERIOD"), and their bounds.
 *
 * Part of the pure core: no syscalls, no stdio (STYLE.md 1); numbers are
 * written by hand. Nothing here touches a cgroup.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cg_limits.h"
#include "spec.h"

static const struct {
	enum arb_cg_limit_key key;
	const char *name;
} key_names[] = {
	{ARB_CG_MEMORY_MAX, "memory_max"},
	{ARB_CG_MEMORY_HIGH, "memory_high"},
	{ARB_CG_MEMORY_SWAP_MAX, "memory_swap_max"},
	{ARB_CG_CPU_WEIGHT, "cpu_weight"},
	{ARB_CG_CPU_MAX, "cpu_max"},
	{ARB_CG_PIDS_MAX, "pids_max"},
	{ARB_CG_IO_WEIGHT, "io_weight"},
};

#define NKEYS (sizeof(key_names) / sizeof(key_names[0]))

const char *
arb_cg_limit_key_name(enum arb_cg_limit_key key)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (key_names[i].key == key)
			return key_names[i].name;
	return NULL;
}

unsigned
arb_cg_limit_key_from_name(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(key_names[i].name, name) == 0)
			return key_names[i].key;
	return 0;
}

/* ---- reading ---- */

/*
 * A decimal number with an optional fraction at *p, scaled by `scale`
 * (the fraction's digits are multiplied through, so "1.5" with scale 1024
 * is 1536 exactly; below 1 is dropped). Advances *p. -1 when there is no
 * digit, -2 when the whole part scaled passes `max` (at most 2^50).
 */
static int
read_scaled(const char **p, uint64_t scale, uint64_t max, uint64_t *ret)
{
	const char *s = *p;
	uint64_t whole = 0, frac = 0, denom = 1;

	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		whole = whole * 10 + (uint64_t)(*s - '0');
		if (whole > max)
			return -2;
	}
	if (*s == '.') {
		s++;
		if (*s < '0' || *s > '9')
			return -1;
		/* Six places are more than any unit here can show. */
		for (; *s >= '0' && *s <= '9'; s++) {
			if (denom < 1000000u) {
				frac = frac * 10 + (uint64_t)(*s - '0');
				denom *= 10;
			}
		}
	}
	if (whole > max / scale)
		return -2;
	/* frac < denom <= 1e6 < 2^20 and scale <= 2^40: no overflow. */
	*ret = whole * scale + frac * scale / denom;
	*p = s;
	return 0;
}

int
arb_cg_parse_bytes(const char *text, uint64_t *ret)
{
	static const char units[] = "KMGT";
	const char *p = text, *u;
	uint64_t scale = 1, v;
	int r;

	if (strcmp(text, "max") == 0) {
		*ret = ARB_CG_UNLIMITED;
		return 0;
	}
	/* The unit comes after the number: find it first, for the scale. */
	u = p + strspn(p, "0123456789.");
	if (*u) {
		const char *at = strchr(units, *u);

		if (!at || u[1] != '\0')
			return -1;
		for (const char *k = units; k <= at; k++)
			scale *= 1024;
	}
	r = read_scaled(&p, scale, ARB_CG_BYTES_MAX, &v);
	if (r < 0)
		return r;
	if (p != u)
		return -1;
	if (v > ARB_CG_BYTES_MAX)
		return -2;
	*ret = v;
	return 0;
}

/* The decimal number at *p, advancing it; -1 when none or past max. */
static int
read_uint(const char **p, uint64_t max, uint64_t *ret)
{
	const char *s = *p;
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		uint64_t d = (uint64_t)(*s - '0');

		/* Checked before it is made: v * 10 + d must not wrap. */
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*ret = v;
	*p = s;
	return 0;
}

/* "P%" of one CPU in the default period: a whole microsecond of quota. */
static int
parse_cpu_percent(const char *text, uint64_t *ret_quota_us)
{
	const char *p = text, *dot = strchr(text, '.');
	uint64_t quota;
	int r;

	/* 1% of the default period is 1000 us: three places at most. */
	if (dot && strspn(dot + 1, "0123456789") > 3)
		return -1;
	r = read_scaled(&p, ARB_CG_DEFAULT_CPU_PERIOD_US / 100,
			(uint64_t)ARB_CG_DEFAULT_CPU_PERIOD_US *
				ARB_CG_CPU_CPUS_MAX, &quota);
	if (r < 0)
		return r;
	if (strcmp(p, "%") != 0)
		return -1;
	*ret_quota_us = quota;
	return 0;
}

/* "QUOTA PERIOD" or "max PERIOD", the kernel's cpu.max. */
static int
parse_cpu_pair(const char *text, uint64_t *ret_quota_us,
	       uint64_t *ret_period_us)
{
	const char *p = text;
	uint64_t quota = ARB_CG_UNLIMITED, period;

	if (strncmp(p, "max", 3) == 0)
		p += 3;
	else if (read_uint(&p, UINT64_MAX / 10, &quota) < 0)
		return -1;
	if (*p != ' ')
		return -1;
	p += strspn(p, " ");
	if (read_uint(&p, UINT64_MAX / 10, &period) < 0 || *p)
		return -1;
	*ret_quota_us = quota;
	*ret_period_us = period;
	return 0;
}

int
arb_cg_parse_cpu_max(const char *text, uint64_t *ret_quota_us,
		     uint64_t *ret_period_us)
{
	uint64_t quota = ARB_CG_UNLIMITED;
	uint64_t period = ARB_CG_DEFAULT_CPU_PERIOD_US;
	int r = 0;

	if (strcmp(text, "max") == 0)
		;
	else if (text[0] && text[strlen(text) - 1] == '%')
		r = parse_cpu_percent(text, &quota);
	else
		r = parse_cpu_pair(text, &quota, &period);
	if (r < 0)
		return r;
	if (period < ARB_CG_CPU_PERIOD_MIN_US ||
	    period > ARB_CG_CPU_PERIOD_MAX_US)
		return -2;
	if (quota != ARB_CG_UNLIMITED &&
	    (quota < ARB_CG_CPU_QUOTA_MIN_US ||
	     quota > period * ARB_CG_CPU_CPUS_MAX))
		return -2;
	*ret_quota_us = quota;
	*ret_period_us = period;
	return 0;
}

/* ---- writing ---- */

/* Appends s at *len, cut to fit size (a NUL always). */
static void
put(char *buf, size_t size, size_t *len, const char *s)
{
	while (*s && *len + 1 < size)
		buf[(*len)++] = *s++;
	buf[*len] = '\0';
}

static void
put_uint(char *buf, size_t size, size_t *len, uint64_t v)
{
	arb_spec_format_uint(v, buf + *len, size - *len);
	*len += strlen(buf + *len);
}

void
arb_cg_format_bytes(uint64_t bytes, char *buf, size_t size)
{
	static const char *const suffix[] = {"T", "G", "M", "K"};
	uint64_t unit = 1ull << 40;
	size_t len = 0;

	if (size == 0)
		return;
	buf[0] = '\0';
	if (bytes == ARB_CG_UNLIMITED) {
		put(buf, size, &len, "max");
		return;
	}
	for (size_t i = 0; i < 4; i++, unit /= 1024) {
		if (bytes != 0 && bytes % unit == 0) {
			put_uint(buf, size, &len, bytes / unit);
			put(buf, size, &len, suffix[i]);
			return;
		}
	}
	put_uint(buf, size, &len, bytes);
}

void
arb_cg_format_cpu_max(uint64_t quota_us, uint64_t period_us, char *buf,
		      size_t size)
{
	const uint64_t per_percent = ARB_CG_DEFAULT_CPU_PERIOD_US / 100;
	size_t len = 0;

	if (size == 0)
		return;
	buf[0] = '\0';
	if (period_us == ARB_CG_DEFAULT_CPU_PERIOD_US) {
		if (quota_us == ARB_CG_UNLIMITED) {
			put(buf, size, &len, "max");
			return;
		}
		put_uint(buf, size, &len, quota_us / per_percent);
		if (quota_us % per_percent) {
			char places[4] = {'0', '0', '0', '\0'};
			uint64_t rest = quota_us % per_percent;

			for (int i = 2; i >= 0; i--, rest /= 10)
				places[i] = (char)('0' + rest % 10);
			for (int i = 2; i > 0 && places[i] == '0'; i--)
				places[i] = '\0';
			put(buf, size, &len, ".");
			put(buf, size, &len, places);
		}
		put(buf, size, &len, "%");
		return;
	}
	if (quota_us == ARB_CG_UNLIMITED)
		put(buf, size, &len, "max");
	else
		put_uint(buf, size, &len, quota_us);
	put(buf, size, &len, " ");
	put_uint(buf, size, &len, period_us);
}

void
arb_cg_format_count(uint64_t v, char *buf, size_t size)
{
	size_t len = 0;

	if (size == 0)
		return;
	buf[0] = '\0';
	if (v == ARB_CG_UNLIMITED)
		put(buf, size, &len, "max");
	else
		put_uint(buf, size, &len, v);
}

/* A string value in quotes: libconfig reads "512M" only as a string. */
static void
put_quoted(char *buf, size_t size, const char *text)
{
	size_t len = 0;

	put(buf, size, &len, "\"");
	put(buf, size, &len, text);
	put(buf, size, &len, "\"");
}

void
arb_cg_format_value(const struct arb_cg_limits *l, enum arb_cg_limit_key key,
		    char *buf, size_t size)
{
	char text[48];
	uint64_t bytes = 0;

	if (size == 0)
		return;
	buf[0] = '\0';
	if (!l || !(l->given & key))
		return;
	switch (key) {
	case ARB_CG_MEMORY_MAX:
		bytes = l->memory_max;
		break;
	case ARB_CG_MEMORY_HIGH:
		bytes = l->memory_high;
		break;
	case ARB_CG_MEMORY_SWAP_MAX:
		bytes = l->memory_swap_max;
		break;
	case ARB_CG_CPU_WEIGHT:
		arb_spec_format_uint(l->cpu_weight, buf, size);
		return;
	case ARB_CG_IO_WEIGHT:
		arb_spec_format_uint(l->io_weight, buf, size);
		return;
	case ARB_CG_CPU_MAX:
		arb_cg_format_cpu_max(l->cpu_max_us, l->cpu_period_us, text,
				      sizeof(text));
		put_quoted(buf, size, text);
		return;
	case ARB_CG_PIDS_MAX:
		if (l->pids_max == ARB_CG_UNLIMITED)
			put_quoted(buf, size, "max");
		else
			arb_spec_format_uint(l->pids_max, buf, size);
		return;
	}
	arb_cg_format_bytes(bytes, text, sizeof(text));
	/* A bare number of bytes reads back as an integer. */
	if (text[strspn(text, "0123456789")] == '\0')
		arb_spec_format_uint(bytes, buf, size);
	else
		put_quoted(buf, size, text);
}

/* ---- checking ---- */

static bool
bytes_ok(uint64_t v)
{
	return v == ARB_CG_UNLIMITED || v <= ARB_CG_BYTES_MAX;
}

static bool
weight_ok(uint32_t v)
{
	return v >= ARB_CG_WEIGHT_MIN && v <= ARB_CG_WEIGHT_MAX;
}

static bool
cpu_max_ok(uint64_t quota, uint64_t period)
{
	if (period < ARB_CG_CPU_PERIOD_MIN_US ||
	    period > ARB_CG_CPU_PERIOD_MAX_US)
		return false;
	return quota == ARB_CG_UNLIMITED ||
	       (quota >= ARB_CG_CPU_QUOTA_MIN_US &&
		quota <= period * ARB_CG_CPU_CPUS_MAX);
}

const char *
arb_cg_limits_problem(const struct arb_cg_limits *l)
{
	unsigned g = l->given;

	if (g & ~ARB_CG_LIMIT_KEYS_ALL)
		return "an unknown cgroup limit";
	if (g == 0)
		return "cgroup limits that give none";
	if (((g & ARB_CG_MEMORY_MAX) && !bytes_ok(l->memory_max)) ||
	    ((g & ARB_CG_MEMORY_HIGH) && !bytes_ok(l->memory_high)) ||
	    ((g & ARB_CG_MEMORY_SWAP_MAX) && !bytes_ok(l->memory_swap_max)))
		return "a memory limit out of range";
	if (((g & ARB_CG_CPU_WEIGHT) && !weight_ok(l->cpu_weight)) ||
	    ((g & ARB_CG_IO_WEIGHT) && !weight_ok(l->io_weight)))
		return "a weight out of range";
	if ((g & ARB_CG_CPU_MAX) && !cpu_max_ok(l->cpu_max_us,
						l->cpu_period_us))
		return "a cpu_max out of range";
	if ((g & ARB_CG_PIDS_MAX) && l->pids_max != ARB_CG_UNLIMITED &&
	    (l->pids_max < 1 || l->pids_max > ARB_CG_PIDS_LIMIT))
		return "a pids_max out of range";
	return NULL;
}

unsigned
arb_cg_key_controller(unsigned key)
{
	switch (key) {
	case ARB_CG_MEMORY_MAX:
	case ARB_CG_MEMORY_HIGH:
	case ARB_CG_MEMORY_SWAP_MAX:
		return ARB_CGC_MEMORY;
	case ARB_CG_CPU_WEIGHT:
	case ARB_CG_CPU_MAX:
		return ARB_CGC_CPU;
	case ARB_CG_PIDS_MAX:
		return ARB_CGC_PIDS;
	case ARB_CG_IO_WEIGHT:
		return ARB_CGC_IO;
	default:
		return 0;
	}
}

const char *
arb_cg_controller_name(unsigned bit)
{
	switch (bit) {
	case ARB_CGC_CPU:
		return "cpu";
	case ARB_CGC_IO:
		return "io";
	case ARB_CGC_MEMORY:
		return "memory";
	case ARB_CGC_PIDS:
		return "pids";
	default:
		return NULL;
	}
}
