/*
 * runtime_limits.c - the runtime's side of cgroup limits (issue 15): a
 * configuration whose limits the cgroup2 in force cannot apply refused
 * at the start, a service's limits written into its leaf before each
 * spawn, its supervisors' when its leaf is made, and a node's again when
 * a reload changed them in place. The files are cgroup_limits.c's; the
 * check is config/limit_keys.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "cgroup_limits.h"
#include "config/config.h"
#include "runtime_internal.h"

int
rt_limits_check(struct runtime *rt)
{
	struct arb_diag diag = {0};
	int n;

	n = arb_config_check_limits(rt->spec, &rt->cg, &diag);
	for (size_t i = 0; i < diag.n; i++)
		fprintf(stderr, "arbord: %s\n", diag.entries[i].text);
	arb_diag_done(&diag);
	if (n < 0)
		return n;
	return n > 0 ? -ENOTSUP : 0;
}

/* l into the cgroup dirfd is, for the controllers asked and enabled;
 * a failure said with node's path. 0 or -errno. */
static int
write_limits(struct runtime *rt, uint32_t node, int dirfd,
	     const struct arb_cg_limits *l, unsigned controllers)
{
	const char *file = "?";
	int r;

	controllers &= rt->cg.controllers;
	if (controllers == 0)
		return 0;
	r = arb_cg_limits_write(dirfd, l, controllers, &file);
	if (r < 0)
		fprintf(stderr, "arbord: child '%s': cgroup limits: cannot "
			"write %s: %s\n", rt->spec->nodes[node].path, file,
			strerror(-r));
	return r;
}

/* node's limits into its cgroup, if it has any (a supervisor's is made
 * with its first service's). */
static int
write_node(struct runtime *rt, uint32_t node, unsigned controllers)
{
	const struct arb_cg_limits *l = rt->spec->nodes[node].limits;
	int fd, r;

	fd = arb_cgroup_open_dir(&rt->cg, rt->spec, node);
	if (fd == -ENOENT)
		return 0; /* made later, and written then */
	if (fd < 0)
		return fd;
	r = write_limits(rt, node, fd, l, controllers);
	(void)close(fd);
	return r;
}

int
rt_limits_spawn(struct runtime *rt, uint32_t node, int dirfd, bool made)
{
	const struct arb_cg_limits *l = rt->spec->nodes[node].limits;
	struct rt_node *rn = rt->nodes[node];
	int r = 0;

	if (!rt->cg.on)
		return 0;
	/* A new cgroup holds the kernel's defaults: only what is given is
	 * written; its supervisors' may have been made with it. */
	for (uint32_t p = rt->spec->nodes[node].parent; made && p != ARB_NONE;
	     p = rt->spec->nodes[p].parent) {
		const struct arb_cg_limits *pl = rt->spec->nodes[p].limits;

		if (pl && r == 0)
			r = write_node(rt, p, arb_cg_limits_controllers(pl));
	}
	if (r < 0)
		return r;
	/* Its own before each start: a restart may bring new keys. Once
	 * some were written, every file is, so a lifted one is lifted. */
	if (!l && !rn->limits_written)
		return 0;
	r = write_limits(rt, node, dirfd, l,
			 rn->limits_written && !made ?
				 ARB_CGC_CPU | ARB_CGC_IO | ARB_CGC_MEMORY |
					 ARB_CGC_PIDS :
				 arb_cg_limits_controllers(l));
	if (r == 0)
		rn->limits_written = l != NULL;
	return r;
}

void
rt_limits_changed(struct runtime *rt, uint32_t node)
{
	if (!rt->cg.on)
		return;
	/* Every file: a limit the reload removed goes back to the
	 * kernel's default. */
	if (write_node(rt, node, ARB_CGC_CPU | ARB_CGC_IO | ARB_CGC_MEMORY |
					 ARB_CGC_PIDS) == 0 &&
	    rt->nodes[node])
		rt->nodes[node]->limits_written =
			rt->spec->nodes[node].limits != NULL;
}
