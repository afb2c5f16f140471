/*
 * cgroup_limits.h - writing a node's cgroup v2 limits (spec.h's
 * arb_cg_limits) into its cgroup's files.
 */
#ifndef ARB_CGROUP_LIMITS_H
#define ARB_CGROUP_LIMITS_H

#include "core/spec.h"

/* The controllers (cgroup.h's enum arb_cg_controller bits) l needs. */
unsigned arb_cg_limits_controllers(const struct arb_cg_limits *l);

/*
 * Writes l into the cgroup whose directory is dirfd: every limit file of
 * the controllers given (cgroup.h's bits, those enabled there) gets l's
 * value, or the kernel's default when l does not give it (l NULL: none
 * given), so a limit a reload removed is lifted. 0, or -errno with
 * *ret_file naming the file that could not be written.
 */
int arb_cg_limits_write(int dirfd, const struct arb_cg_limits *l,
			unsigned controllers, const char **ret_file);

#endif
