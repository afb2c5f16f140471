/*
 * capture.h - capture of every service's output (DESIGN.md "Layout": logs/).
 *
 * Each service's stdout and stderr are pipes that arbord makes at its
 * first start and keeps for its life, across restarts: what a dying
 * process wrote is still in the pipe after its death and is read then,
 * before its exit is handled. The bytes are cut into lines, each stamped
 * with the wall clock, the stream and the pid of the service's process,
 * and given to the service's sinks (spec.h arb_log_sink): its ring, a
 * file, the journal, the console. arbord's own events are lines of the
 * root node and take the same way, always to arbord's stderr too.
 *
 * Back-pressure: one read of at most ARB_LOG_READ_MAX per pipe per
 * wake-up; a service that writes faster than its sinks take waits in
 * write(2) on its full pipe, as it would on a terminal. Memory is bounded
 * by the rings' sizes, a file buffer per file and the console's queue;
 * the console and the journal drop what they cannot take at once and say
 * how much (sink.h).
 */
#ifndef ARB_LOGS_H
#define ARB_LOGS_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>

#include "ring.h"
#include "core/spec.h"
#include "state/state.h"

struct arb_logs;

/* Called for every line captured or event logged, for `logs -f`. */
typedef void (*arb_logs_line_fn)(void *ctx, uint32_t node,
				 const struct arb_log_line *line);

/*
 * Sets up capture for the nodes of spec (borrowed) and opens every log
 * file. default_sinks is added to the sinks of every node whose
 * configuration did not choose them (ARB_SINK_CONSOLE in a container).
 * A file that cannot be opened is reported on stderr; its lines are
 * dropped until `arborctl logs --reopen` succeeds. 0 or -ENOMEM.
 */
int arb_logs_new(struct arb_logs **ret, struct ev_loop *loop,
		 const struct arb_spec *spec, unsigned default_sinks);

/*
 * The spec has room for more node slots (the living tree): so do the
 * captures. 0 or -ENOMEM.
 */
int arb_logs_grow(struct arb_logs *l);

/* The spec has less room for node slots: the room past it goes (the
 * slots there were forgotten). */
void arb_logs_shrink(struct arb_logs *l);

/* Node is new, or its log settings changed: its sinks follow the spec
 * (a new file is opened). 0 or -ENOMEM. */
int arb_logs_node_changed(struct arb_logs *l, uint32_t node);

/* Node left the tree: what its pipes hold is read, then its pipes, ring
 * and partial lines are gone; its slot is ready for another node. */
void arb_logs_forget(struct arb_logs *l, uint32_t node);

/* Reads what is left in every pipe, writes every file, closes all. */
void arb_logs_free(struct arb_logs *l);

void arb_logs_set_follower(struct arb_logs *l, arb_logs_line_fn fn,
			   void *ctx);

/*
 * The write ends of node's pipes, for a start (borrowed until
 * arb_logs_pipes_given). The pipes are made, and watched, at the first
 * call; the read ends stay open for arbord's life. 0 or -errno.
 */
int arb_logs_pipes(struct arb_logs *l, uint32_t node, int *ret_stdout,
		   int *ret_stderr);

/*
 * The start is done (or failed): arbord closes its copies of the write
 * ends, which it opens again from the read ends (/proc/self/fd) at the
 * next start; without /proc it keeps them.
 */
void arb_logs_pipes_given(struct arb_logs *l, uint32_t node);

/* Node's process is now pid: its lines are stamped with it. */
void arb_logs_started(struct arb_logs *l, uint32_t node, int pid);

/*
 * Node's process died: reads what it left in the pipes and ends a last
 * line that had no newline, so all of it comes before the death.
 */
void arb_logs_exited(struct arb_logs *l, uint32_t node);

/* One line of arbord's own (an event), without its newline. */
void arb_logs_event(struct arb_logs *l, const char *text, size_t len);

/* Reopens every log file (after an outside rotation). 0 or the first
 * -errno; *ret_failed names the file that failed. */
int arb_logs_reopen(struct arb_logs *l, const char **ret_failed);

/* Node's ring, or NULL when it keeps none. */
const struct arb_logring *arb_logs_ring(const struct arb_logs *l,
					uint32_t node);

/* Writes what waits for arbord's stdout and stderr, for up to timeout_ms. */
void arb_logs_drain_console(struct arb_logs *l, int timeout_ms);

/* ---- across a re-exec (capture_state.c; state/FORMAT.md "logs") ---- */

/*
 * The state's "logs" object, a new reference in *ret_obj: the counter of
 * lines, and per node slot its pipes (named in o: passed, never read
 * here), its pid, its partial lines and its ring's lines (into o's bulk).
 * Reads, drains and changes nothing: the loop goes on if the exec fails.
 * 0 or -ENOMEM (*ret_obj untouched).
 */
int arb_logs_save(const struct arb_logs *l, struct arb_state_out *o,
		  json_t **ret_obj);

/*
 * Puts a saved "logs" object (obj, in in's document) back into l, a fresh
 * arb_logs_new() for the restored spec (the same node slots): takes each
 * node's pipes from in and watches them as after a start (what was
 * written meanwhile waits in them and is read by the loop), puts its
 * partial lines and pid back, gives its ring the saved lines again (sized
 * as the spec says now: a smaller ring keeps the newest) and goes on
 * numbering lines after the last saved. Checks everything: 0, -EINVAL
 * with in->error (l then holds what was taken: arb_logs_free it), or
 * -ENOMEM.
 */
int arb_logs_restore(struct arb_logs *l, struct arb_state_in *in,
		     const json_t *obj);

/*
 * Frees l as an image whose pipes now belong to a state it saved (an
 * in-process round trip of the state; a real re-exec never frees): the
 * pipes are neither read nor closed, since their descriptors are named in
 * the state, to be taken by arb_logs_restore or closed by
 * arb_state_in_done. The rest goes as arb_logs_free does it.
 */
void arb_logs_free_saved(struct arb_logs *l);

#endif
