/*
 * loop.c - arbord's one event loop (loop.h says why it is not libev's
 * default one). Signal watchers work in it as in the default loop (libev
 * 4: any one loop per signal); child watchers do not, and none is used.
 */
#include <stddef.h>

#include "loop.h"

struct ev_loop *
arb_loop(void)
{
	static struct ev_loop *loop;

	if (!loop)
		loop = ev_loop_new(EVFLAG_AUTO);
	return loop;
}
