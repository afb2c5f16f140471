/*
 * render.h - arborctl's output for people: the Status tree and the event
 * lines. --json output does not come here; it is jansson's own.
 */
#ifndef ARB_RENDER_H
#define ARB_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include <jansson.h>

struct arb_render {
	bool color; /* ANSI colours for states and events */
	bool utf8;  /* box-drawing glyphs; else |- `- | */
};

/*
 * Draws the nodes array of a Status reply (depth-first, the subtree's top
 * first) as a tree, one aligned line a node: name, kind and strategy or
 * restart type, state, pid, time in the state, restarts, last exit. When
 * the nodes have stats: a heading, then name, state, pid, memory, peak,
 * CPU time and tasks ("-" when unknown), within 80 columns for names a
 * few levels deep. Tolerates missing or mistyped fields. 0 or -ENOMEM.
 */
int arb_render_tree(FILE *out, const struct arb_render *r, json_t *nodes);

/*
 * A Status reply's containment as one line: "containment: cgroup2
 * /sys/fs/cgroup/unified/arbord-42 (no controllers)", "... (cpu memory)",
 * "containment: process groups (no cgroup2 mount)". Nothing when it has
 * no mode.
 */
void arb_render_containment(FILE *out, json_t *containment);

/* Where the stats of a Status reply come from, in one line (the first
 * node's source); nothing without stats. */
void arb_render_stats_source(FILE *out, json_t *nodes);

/* Bytes as 512B, 12.3K, 512M, 1.5G: at most 5 characters. */
void arb_render_bytes(char *buf, size_t size, unsigned long long bytes);

/* The same in at most 4 (top's column): 512B, 4.0K, 12M, 1.5G. */
void arb_render_bytes_narrow(char *buf, size_t size,
			     unsigned long long bytes);

/* A path's depth: "/" 0, "web" 1, "web/app" 2. */
int arb_render_path_depth(const char *path);

/* CPU time as 0.03s, 12.3s, 1m02s, 2h05m, 3d04h. */
void arb_render_cpu(char *buf, size_t size, unsigned long long usec);

/*
 * Writes one event object as "HH:MM:SS  event  path  key=value...", at
 * local time when; a value that is not one plain word is written as JSON.
 */
void arb_render_event(FILE *out, const struct arb_render *r, json_t *ev,
		      time_t when);

/*
 * Writes one line of a Logs reply as "2026-11-21 10:00:00.123
 * web/app[4242]: text" (local time), a line of standard error as
 * "web/app[4242] stderr: text", a line from the journal as
 * "web/app[4242] journal: text" ("journal stderr:"), arbord's own as
 * "arbord[PID]", control
 * characters but tabs as '?', a piece of a cut line ending in " [cut]".
 */
void arb_render_log_line(FILE *out, const struct arb_render *r, json_t *l);

/*
 * Writes the plan of a Reload reply for a person: a summary line with
 * the digest's first 16 digits and the counts, the steps grouped by
 * supervisor (in the order each first appears, "/" for the root's
 * children), each as "+ add", "- remove", "~ change" (with one line per
 * key: "key: old -> new", an unset value as "(unset)") or "= reorder",
 * then "applied", "dry run: nothing changed" or "nothing to do".
 * Tolerates missing or mistyped fields. 0 or -ENOMEM.
 */
int arb_render_plan(FILE *out, const struct arb_render *r, json_t *plan,
		    bool applied);

/*
 * Writes a Reexec reply as "reexec: arbord FROM -> TO (BINARY), away N
 * ms". -EINVAL (nothing written) when a field is missing or mistyped.
 */
int arb_render_reexec(FILE *out, json_t *reply);

/* ms as 45s, 3m12s, 2h5m or 3d4h (negative counts as 0). */
void arb_render_duration(char *buf, size_t size, long long ms);

/*
 * Writes s with control characters as '?': a terminal takes escape
 * sequences from nobody, not even arbord.
 */
void arb_render_safe(FILE *out, const char *s);

#endif
