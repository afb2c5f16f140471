/*
 * clock.h - the shell's one clock: CLOCK_MONOTONIC in milliseconds (M8).
 * The pure core never reads it; the shell passes it in every event.
 */
#ifndef ARB_CLOCK_H
#define ARB_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t
arb_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
