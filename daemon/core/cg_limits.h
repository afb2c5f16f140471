/*
 * cg_limits.h - the values of the cgroup limit keys (spec.h's
 * arb_cg_limits) as arbor.conf writes them: read, written back, checked.
 *
 * Pure core (STYLE.md 1): the loader (config/limit_keys.c), --check's
 * printer, the reload plan and the re-exec state share these, so that a
 * value reads back as it was written. Writing them into a cgroup is the
 * shell's (cgroup_limits.c).
 */
#ifndef ARB_CG_LIMITS_H
#define ARB_CG_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spec.h"

/* Every key of enum arb_cg_limit_key. */
#define ARB_CG_LIMIT_KEYS_ALL                                            \
	(ARB_CG_MEMORY_MAX | ARB_CG_MEMORY_HIGH | ARB_CG_MEMORY_SWAP_MAX | \
	 ARB_CG_CPU_WEIGHT | ARB_CG_CPU_MAX | ARB_CG_PIDS_MAX |            \
	 ARB_CG_IO_WEIGHT)

/* The most a memory key may say short of "max": 1 PiB. */
#define ARB_CG_BYTES_MAX (1ull << 50)
/* cpu.weight and io.weight, as the kernel takes them. */
#define ARB_CG_WEIGHT_MIN 1u
#define ARB_CG_WEIGHT_MAX 10000u
/* cpu.max: the kernel's bounds of a period and of a quota, microseconds;
 * a quota of more than 1000 CPUs is taken for a mistake. */
#define ARB_CG_CPU_PERIOD_MIN_US 1000u
#define ARB_CG_CPU_PERIOD_MAX_US 1000000u
#define ARB_CG_CPU_QUOTA_MIN_US 1000u
#define ARB_CG_CPU_CPUS_MAX 1000u
/* pids.max: Linux's PID_MAX_LIMIT. */
#define ARB_CG_PIDS_LIMIT 4194304u

/* The controller (enum arb_cg_controller) whose files a key writes; 0
 * for anything but one key. */
unsigned arb_cg_key_controller(unsigned key);

/* A controller's name ("memory") for one bit of enum arb_cg_controller;
 * NULL for anything else. */
const char *arb_cg_controller_name(unsigned bit);

/* A key's name in arbor.conf ("memory_max"); NULL for anything but one
 * bit of enum arb_cg_limit_key. */
const char *arb_cg_limit_key_name(enum arb_cg_limit_key key);

/* The bit of a key named `name`, 0 when it is none. */
unsigned arb_cg_limit_key_from_name(const char *name);

/*
 * A memory key's text: "max" (ARB_CG_UNLIMITED), or a number of bytes
 * with an optional fraction and K, M, G or T (powers of 1024: "512M",
 * "1.5G"); what a fraction leaves below a byte is dropped. 0 and *ret;
 * -1 when malformed, -2 above ARB_CG_BYTES_MAX (*ret untouched).
 */
int arb_cg_parse_bytes(const char *text, uint64_t *ret);

/* Writes bytes as "max" or in the largest unit that is exact ("512M",
 * "1536M", "1000"). */
void arb_cg_format_bytes(uint64_t bytes, char *buf, size_t size);

/*
 * cpu_max's text: "max"; "P%" of one CPU (P may have a fraction: "150%"
 * is 1.5 CPUs, "12.5%"), a quota of P * period / 100 in the default
 * period; or the kernel's own "QUOTA PERIOD" / "max PERIOD" in
 * microseconds. 0 with *ret_quota_us (ARB_CG_UNLIMITED for max) and
 * *ret_period_us; -1 malformed, -2 out of the bounds above (both
 * untouched).
 */
int arb_cg_parse_cpu_max(const char *text, uint64_t *ret_quota_us,
			 uint64_t *ret_period_us);

/* Writes a cpu_max as it reads back: "50%" when the period is the
 * default one and the share a whole percent, "max", else "QUOTA PERIOD". */
void arb_cg_format_cpu_max(uint64_t quota_us, uint64_t period_us, char *buf,
			   size_t size);

/* Writes a pids_max: "max" or the number. */
void arb_cg_format_count(uint64_t v, char *buf, size_t size);

/*
 * Writes l's value of `key` as arbor.conf's value text, quoted where
 * libconfig needs a string ("\"512M\"", "\"max\"", "200"); "" when l
 * does not give it.
 */
void arb_cg_format_value(const struct arb_cg_limits *l,
			 enum arb_cg_limit_key key, char *buf, size_t size);

/*
 * Why l could not have been read from a configuration (a value out of
 * bounds, a bit given with no key), or NULL: the re-exec state's check.
 */
const char *arb_cg_limits_problem(const struct arb_cg_limits *l);

#endif
