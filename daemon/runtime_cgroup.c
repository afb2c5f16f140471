/*
 * runtime_cgroup.c - the runtime's side of containment (cgroup.h): the
 * base opened at the start (or taken from a re-exec's state) and said in
 * the log, a service's cgroup made and opened for its spawn, its death
 * held until its leaf is empty (emptying.h) and named "oom" when the OOM
 * killer took it, and everything let go at the end. runtime.c calls these
 * at its few points; the cgroup files themselves are cgroup.c's.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "logs/event_log.h"
#include "runtime.h"
#include "runtime_internal.h"
#include "state/state.h"

void
rt_cgroup_say(struct runtime *rt)
{
	struct arb_event_fields f = {.n = 0};
	struct arb_logfmt line;
	char names[64];

	f.v[f.n++] = (struct arb_event_field){.key = "event",
					       .str = "containment"};
	if (rt->cg.on) {
		f.v[f.n++] = (struct arb_event_field){.key = "mode",
						       .str = "cgroup2"};
		f.v[f.n++] = (struct arb_event_field){.key = "cgroup",
						       .str = rt->cg.base};
		f.v[f.n++] = (struct arb_event_field){
			.key = "controllers",
			.str = arb_cgroup_controller_names(rt->cg.controllers,
							   names,
							   sizeof(names))};
	} else {
		f.v[f.n++] = (struct arb_event_field){.key = "mode",
						       .str = "process-group"};
		f.v[f.n++] = (struct arb_event_field){.key = "why",
						       .str = rt->cg.why_off};
	}
	arb_events_format_fields(&f, &line);
	arb_logs_event(rt->logs, line.buf, line.len);
}

/* event=cgroup_not_empty: a killed leaf outlived the wait (a process in
 * D state); its service's death goes on anyway. */
static void
say_not_empty(struct runtime *rt, uint32_t node)
{
	struct arb_event_fields f = {.n = 0};
	struct arb_logfmt line;

	f.v[f.n++] = (struct arb_event_field){.key = "event",
					       .str = "cgroup_not_empty"};
	f.v[f.n++] = (struct arb_event_field){
		.key = "path", .str = rt->spec->nodes[node].path};
	arb_events_format_fields(&f, &line);
	arb_logs_event(rt->logs, line.buf, line.len);
	arb_control_event(rt->control, &f);
}

/* emptying.h's hook: a held death goes on. */
static void
on_emptied(void *ctx, const struct arb_event *ev, bool timed_out)
{
	struct runtime *rt = ctx;

	if (timed_out)
		say_not_empty(rt, ev->node);
	else
		rt->nodes[ev->node]->cg_empty = true;
	rt_queue_exit(rt, ev);
}

/* The base a re-exec handed over: the state's "cgroup" (state/FORMAT.md). */
static const char *
handed_base(struct arb_state_in *in)
{
	const json_t *cg = NULL;
	const char *base = NULL;

	if (!in || arb_state_object_opt(in, in->root, "state", "cgroup",
					&cg) < 0 || !cg)
		return NULL;
	if (arb_state_str_opt(in, cg, "cgroup", "base", &base) < 0)
		return NULL;
	return base;
}

void
rt_cgroup_open(struct runtime *rt, const struct arb_runtime_args *a)
{
	/* Only the system's init owns the hierarchy's root: a container's
	 * init, and --init or --container outside PID 1 (the tests), take a
	 * base as anyone does. */
	bool system_init = a->mode->real_pid1 && !a->mode->in_container;

	if (a->no_cgroups)
		arb_cgroup_off(&rt->cg, "--no-cgroups");
	else
		arb_cgroup_open(&rt->cg, system_init, handed_base(a->resume));
	arb_emptying_init(&rt->emptying, rt->loop, &rt->cg, &rt->spec,
			  on_emptied, rt);
}

void
rt_cgroup_close(struct runtime *rt)
{
	arb_emptying_done(&rt->emptying);
	arb_cgroup_close(&rt->cg);
}

void
rt_cgroup_resumed(struct runtime *rt)
{
	if (!rt->cg.on)
		return;
	/*
	 * The image before made these cgroups, may have killed them (which
	 * a child cloned into one would not survive, above) and wrote
	 * limits this image does not know: each is made anew before its
	 * next spawn, with its limits from the spec alone. Its leaf is
	 * empty by then.
	 */
	for (uint32_t i = 0; i < rt->spec->nnodes; i++) {
		if (!rt->nodes[i])
			continue;
		rt->nodes[i]->cg_made = true;
		rt->nodes[i]->cg_killed = true;
		/* What the OOM killer did before counts not against the
		 * death to come of the process that runs now. */
		if ((rt->cg.controllers & ARB_CGC_MEMORY) &&
		    rt->spec->nodes[i].kind == ARB_NODE_SERVICE)
			rt->nodes[i]->oom_kills =
				arb_cgroup_oom_kills(&rt->cg, rt->spec, i);
	}
}

json_t *
rt_cgroup_save(const struct runtime *rt)
{
	if (!rt->cg.on)
		return json_null();
	return json_pack("{s:s}", "base", rt->cg.base);
}

int
rt_cgroup_spawn_fd(struct runtime *rt, uint32_t node)
{
	struct rt_node *rn = rt->nodes[node];
	bool made = false;
	int r, e;

	if (!rt->cg.on)
		return -1;
	/*
	 * A leaf once killed through cgroup.kill is not spawned into again:
	 * on Linux 6.18 (seen here) a child cloned into it with
	 * CLONE_INTO_CGROUP is killed at birth. It is empty by now (its
	 * death was held until it was): a new one costs an rmdir and a
	 * mkdir, and only after a kill.
	 */
	if (rn->cg_killed) {
		/* Still populated (a process in D state, a watch that
		 * could not be had): no child goes in to die at birth; the
		 * start fails, and the next one tries again. */
		r = arb_cgroup_remove(&rt->cg, rt->spec, node);
		if (r < 0)
			return r;
		rn->cg_made = rn->cg_killed = false;
	}
	if (!rn->cg_made) {
		r = arb_cgroup_make(&rt->cg, rt->spec, node);
		if (r < 0)
			return r;
		rn->cg_made = made = true;
	}
	r = arb_cgroup_open_dir(&rt->cg, rt->spec, node);
	/* Removed meanwhile: the DELETE of a node of the same path (an add
	 * refused, a child removed and added again) takes its cgroup. */
	if (r == -ENOENT && arb_cgroup_make(&rt->cg, rt->spec, node) == 0) {
		made = true;
		r = arb_cgroup_open_dir(&rt->cg, rt->spec, node);
	}
	/* Limits before the first process: none runs unlimited. */
	if (r >= 0 && (e = rt_limits_spawn(rt, node, r, made)) < 0) {
		(void)close(r);
		return e;
	}
	if (r >= 0 && (rt->cg.controllers & ARB_CGC_MEMORY))
		rn->oom_kills = arb_cgroup_oom_kills(&rt->cg, rt->spec, node);
	rn->cg_empty = false;
	return r;
}

bool
rt_cgroup_hold_exit(struct runtime *rt, struct arb_event *ev)
{
	struct rt_node *rn = rt->nodes[ev->node];
	bool killed;
	int r;

	if (!rt->cg.on)
		return false;
	/* The OOM killer sends SIGKILL and counts it in memory.events. */
	if (ev->signo == SIGKILL && (rt->cg.controllers & ARB_CGC_MEMORY))
		ev->oom = arb_cgroup_oom_kills(&rt->cg, rt->spec, ev->node) >
			  rn->oom_kills;
	r = arb_emptying_hold(&rt->emptying, ev, &killed);
	rn->cg_killed |= killed;
	rn->cg_empty = r == 0;
	return r == 1;
}

void
rt_cgroup_kill(struct runtime *rt, uint32_t node)
{
	/* After a death its leaf is known empty (the death was held until
	 * it was): no read, and no kill that would spoil the leaf. */
	if (!rt->cg.on || rt->nodes[node]->cg_empty ||
	    arb_cgroup_populated(&rt->cg, rt->spec, node) == 0)
		return;
	(void)arb_cgroup_kill(&rt->cg, rt->spec, node);
	rt->nodes[node]->cg_killed = true;
}

void
rt_cgroup_forget(struct runtime *rt, uint32_t node)
{
	if (!rt->cg.on)
		return;
	arb_emptying_forget(&rt->emptying, node);
	(void)arb_cgroup_remove(&rt->cg, rt->spec, node);
}
