/*
 * bench_time.h - the clock and the median of the C micro-benchmarks
 * (spec_json_bench, render_bench).
 */
#ifndef ARB_BENCH_TIME_H
#define ARB_BENCH_TIME_H

#include <stdlib.h>
#include <time.h>

static inline double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static inline int
by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of v[0..n), n even; v is sorted. */
static inline double
median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), by_value);
	return (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif
