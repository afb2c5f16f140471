/*
 * top_view.h - what `arborctl top` shows, apart from any terminal: the
 * rows of a Status reply with stats, CPU % between two replies, the order
 * of a sort, and the screen as plain lines cut to a width and height.
 */
#ifndef ARB_TOP_VIEW_H
#define ARB_TOP_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/*
 * The sorts. Each orders siblings within their parent, so the tree stays
 * a tree: a supervisor's numbers are its subtree's, so the busiest
 * subtree comes first and the busiest service is found by reading down.
 */
enum arb_top_sort {
	ARB_TOP_SORT_TREE,     /* start order, as Status gives it */
	ARB_TOP_SORT_CPU,      /* CPU %, highest first */
	ARB_TOP_SORT_MEMORY,   /* memory, largest first */
	ARB_TOP_SORT_RESTARTS, /* restarts, most first */
	ARB_TOP_SORT_STATE,    /* troubled states first, up last */
	_ARB_TOP_SORT_MAX,
};

/* "tree", "cpu", "memory", "restarts", "state". */
const char *arb_top_sort_name(enum arb_top_sort s);

/* A number the reply did not give, or CPU % not yet known. */
#define ARB_TOP_UNKNOWN (-1)

struct arb_top_row {
	char *path;	     /* owned */
	const char *name;    /* the last part of path; all of it on row 0 */
	char state[16];
	int depth;	     /* below row 0 */
	long long restarts;  /* or ARB_TOP_UNKNOWN, as are the next */
	long long memory;    /* bytes */
	long long tasks;
	long long cpu_usec;
	double cpu_pct;	     /* 100 is one CPU's whole time */
};

struct arb_top_view {
	struct arb_top_row *rows; /* in the reply's order (depth first) */
	size_t n;
	size_t *shown;		  /* rows in the sort's order; NULL: tree's */
	long long sampled_us;	  /* the rows' monotonic time; 0: none yet */
	enum arb_top_sort sort;
	char containment[192];	  /* "cgroup2 [cpu memory] /sys/fs/..." */
	char usage[96];		  /* where the numbers come from */
};

void arb_top_view_init(struct arb_top_view *v);
void arb_top_view_done(struct arb_top_view *v);

/*
 * Replaces the rows with those of a Status reply's parameters taken at
 * now_us (monotonic). CPU % is the growth of cpu_usec since the last
 * update of the same path over the wall time between them; unknown on
 * the first, for a new path, or when the counter went back (a service's
 * new cgroup). The current sort is applied. 0, -EINVAL (no nodes array:
 * the view is unchanged) or -ENOMEM (likewise).
 */
int arb_top_view_update(struct arb_top_view *v, json_t *params,
			long long now_us);

/* Orders the rows by s, keeping it for the next updates. 0 or -ENOMEM. */
int arb_top_view_sort(struct arb_top_view *v, enum arb_top_sort s);

/* What frames a screen, beyond the view. */
struct arb_top_frame {
	int width;	   /* columns; 0: no limit (batch) */
	int height;	   /* lines; 0: no limit (batch) */
	const char *clock; /* "12:34:56", the time of the rows */
	long long delay_ms;
	bool help;	   /* a line of the keys below the header */
};

/*
 * Writes the screen: header lines (time, sort, containment, usage's
 * source, nodes by state), the column titles, then a row a node in the
 * view's order, indented by depth. Each line ends in '\n', holds at most
 * width bytes before it (all ASCII: control bytes from arbord are '?'),
 * and at most height lines are written; rows that do not fit are counted
 * in the last line. 0 or -ENOMEM.
 */
int arb_top_view_draw(FILE *out, const struct arb_top_view *v,
		      const struct arb_top_frame *f);


#endif
