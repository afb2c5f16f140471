/*
 * clock.h - the shell's clocks: CLOCK_MONOTONIC in milliseconds for
 * supervision (M8), and the wall clock in microseconds for the stamps of
 * log lines. The pure core never reads either; the shell passes the
 * monotonic one in every event.
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

static inline int64_t
arb_monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t
arb_wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif
