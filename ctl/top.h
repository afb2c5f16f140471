/*
 * top.h - `arborctl top`: a live view of the tree (state, restarts, CPU %,
 * memory, tasks a node), refreshed through one Status connection, in the
 * terminal or, in batch mode, as plain text for scripts.
 */
#ifndef ARB_TOP_H
#define ARB_TOP_H

#include <stdbool.h>

struct arb_top_opts {
	const char *socket; /* the control socket's path */
	const char *path;   /* the subtree shown, or NULL for all */
	long long delay_ms; /* between refreshes, > 0 */
	long iterations;    /* refreshes before exiting; 0: until q */
	bool batch;	    /* plain text on stdout, no terminal */
};

/* How top ended; arborctl turns it into its exit status. */
enum arb_top_end {
	ARB_TOP_QUIT,	/* q, Ctrl-C, or the iterations done */
	ARB_TOP_FAILED, /* an error reply, a bad reply, out of memory */
	ARB_TOP_GONE,	/* no arbord on the socket, or it went away */
};

/*
 * Runs top until it ends, having written why on stderr (after the
 * terminal is restored). The interactive mode needs stdin and stdout on
 * a terminal (the caller checks): it takes the terminal raw on the
 * alternate screen and gives it back on every way out; SIGINT, SIGTERM
 * and SIGHUP give it back, then end the process by the same signal. A
 * closed connection (arbord's idle limit, a re-exec) is opened again; a
 * refused one ends top.
 */
enum arb_top_end arb_top_run(const struct arb_top_opts *o);

#endif
