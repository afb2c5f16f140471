/*
 * fdlimit.h - arbord's RLIMIT_NOFILE against its tree's need
 * (core/fdbudget.h): raised to the need at start-up and as the tree grows,
 * a tree the hard limit cannot hold refused with the numbers, and a start
 * that failed for want of descriptors said so.
 */
#ifndef ARB_FDLIMIT_H
#define ARB_FDLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spawn.h"
#include "core/fdbudget.h"
#include "core/spec.h"

struct arb_fdlimit {
	struct arb_fd_need need;
	uint64_t soft, hard; /* as found; ARB_RLIM_INFINITY: unlimited */
};

/*
 * The need of spec and arbord's limits in *ret. 0 when the hard limit
 * holds the need, -EMFILE when it cannot (*ret filled either way), or
 * -errno of getrlimit.
 */
int arb_fdlimit_check(const struct arb_spec *spec, struct arb_fdlimit *ret);

/* The same for a need counted by the caller (arb_fd_budget_add_dynamic). */
int arb_fdlimit_check_need(const struct arb_fd_need *need,
			   struct arb_fdlimit *ret);

/*
 * As arb_fdlimit_check, then raises the soft limit to the need (never
 * lowers it): the children get back what arbord had before its first
 * raise (sp->nofile_cur, restore_nofile; spawn.c), unless a service sets
 * its own nofile. with_room: room for the services' need again, for a
 * tree that grows while it runs (a pool's spawns raise it a few times,
 * not each). -EMFILE changes nothing; -errno of setrlimit.
 */
int arb_fdlimit_raise(const struct arb_spec *spec, struct arb_spawner *sp,
		      bool with_room, struct arb_fdlimit *ret);

/*
 * As an init: a tree the hard limit cannot hold lifts it (up to
 * fs.nr_open, with CAP_SYS_RESOURCE), as the kernel's 4096 for PID 1 is
 * nobody's choice; services keep the limits arbord was given. 0 when
 * nothing was needed or it was lifted, -EMFILE when fs.nr_open cannot hold
 * the tree, -errno of setrlimit.
 */
int arb_fdlimit_lift_hard(const struct arb_spec *spec);

/* The same for a need counted by the caller (a reload's, an add's). */
int arb_fdlimit_raise_need(const struct arb_fd_need *need,
			   struct arb_spawner *sp, bool with_room,
			   struct arb_fdlimit *ret);

/* Why a tree is refused: "20000 services need 40012 descriptors; the
 * limit is 20000: set log streams = "merged" or raise LimitNOFILE". */
void arb_fdlimit_refusal(const struct arb_fdlimit *f, char *buf,
			 size_t size);

/* "descriptors: 2012 needed, limit 20000" (the hard limit). */
void arb_fdlimit_summary(const struct arb_fdlimit *f, char *buf,
			 size_t size);

/*
 * err (a positive errno) in words for a start that failed: strerror's,
 * but EMFILE and ENFILE say how many descriptors arbord holds of its
 * limit ("too many open files: arbord holds 19998 of its limit of 20000
 * descriptors"). Returns buf, or strerror's text.
 */
const char *arb_fdlimit_error_text(int err, char *buf, size_t size);

#endif
