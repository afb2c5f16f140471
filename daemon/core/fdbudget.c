/*
 * fdbudget.c - the descriptors a tree needs (fdbudget.h). Pure arithmetic
 * on the spec: no syscalls; the shell (fdlimit.c) compares the result with
 * the process's limits.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fdbudget.h"
#include "limits.h"
#include "spec.h"

uint64_t
arb_fd_service_need(const struct arb_spec_node *n)
{
	uint64_t need = n->log.streams == ARB_STREAMS_MERGED ? 1 : 2;

	need += arb_spec_strv_len(n->listen);
	if (n->ready == ARB_READY_FD)
		need++;
	/* MAINPID= may name a process that is not arbord's child: it is
	 * watched, and signalled, through a pidfd. */
	if (n->ready == ARB_READY_NOTIFY)
		need++;
	return need;
}

/*
 * Whether n opens a log file of its own: files are shared by path, and a
 * node whose file is its supervisor's shares that one (a few nodes naming
 * one path apart count once each: a bound, not an exact count).
 */
static bool
opens_file(const struct arb_spec *spec, const struct arb_spec_node *n)
{
	const struct arb_spec_node *p;

	if (!n->log.file)
		return false;
	if (n->parent == ARB_NONE)
		return true;
	p = &spec->nodes[n->parent];
	return !p->log.file || strcmp(p->log.file, n->log.file) != 0;
}

void
arb_fd_need_add_service(struct arb_fd_need *need,
			 const struct arb_spec_node *n, uint64_t count)
{
	need->services += count;
	if (n->log.streams != ARB_STREAMS_MERGED)
		need->separate += count;
	need->total += count * arb_fd_service_need(n);
}

/* A pool's instances at their most, each as its template. */
static void
add_pool(const struct arb_spec *spec, const struct arb_spec_node *pool,
	 struct arb_fd_need *need)
{
	const struct arb_spec_node *t;
	uint64_t most = pool->max_children;

	if (pool->template_node == ARB_NONE)
		return;
	t = &spec->nodes[pool->template_node];
	if (most == 0)
		most = pool->instances > pool->nchildren ? pool->instances
							 : pool->nchildren;
	arb_fd_need_add_service(need, t, most);
	if (opens_file(spec, t)) /* its parent is the pool (spec_check.c) */
		need->total++;
}

static bool
in_pool(const struct arb_spec *spec, const struct arb_spec_node *n)
{
	return n->parent != ARB_NONE &&
	       spec->nodes[n->parent].strategy == ARB_SIMPLE_ONE_FOR_ONE &&
	       spec->nodes[n->parent].kind == ARB_NODE_SUPERVISOR;
}

/* Node n's own (a pool's: its instances at their most). */
static void
add_node(const struct arb_spec *spec, const struct arb_spec_node *n,
	 struct arb_fd_need *need)
{
	if (opens_file(spec, n))
		need->total++;
	if (n->kind == ARB_NODE_SUPERVISOR) {
		if (n->strategy == ARB_SIMPLE_ONE_FOR_ONE)
			add_pool(spec, n, need);
		return;
	}
	arb_fd_need_add_service(need, n, 1);
}

void
arb_fd_budget(const struct arb_spec *spec, struct arb_fd_need *ret)
{
	struct arb_fd_need need = {.total = ARB_FD_RESERVE};

	for (uint32_t i = 0; i < spec->nnodes; i++)
		if (arb_spec_is_node(spec, i) && !in_pool(spec, &spec->nodes[i]))
			add_node(spec, &spec->nodes[i], &need);
	*ret = need;
}

/* Whether n or one of its supervisors was added while the tree runs. */
static bool
in_dynamic_subtree(const struct arb_spec *spec, const struct arb_spec_node *n)
{
	for (;; n = &spec->nodes[n->parent]) {
		if (n->dynamic)
			return true;
		if (n->parent == ARB_NONE)
			return false;
	}
}

void
arb_fd_budget_add_dynamic(const struct arb_spec *live,
			  struct arb_fd_need *need)
{
	for (uint32_t i = 0; i < live->nnodes; i++) {
		const struct arb_spec_node *n = &live->nodes[i];

		if (!arb_spec_is_node(live, i) || !in_dynamic_subtree(live, n))
			continue;
		/* A pool's instances: counted at its max_children, if any. */
		if (in_pool(live, n) && live->nodes[n->parent].max_children)
			continue;
		add_node(live, n, need);
	}
}
