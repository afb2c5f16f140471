/*
 * mem.c - malloc behind mem.h, with a failure-injection hook for tests.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

static unsigned fail_countdown;

static int
should_fail(void)
{
	if (fail_countdown == 0)
		return 0;
	return --fail_countdown == 0;
}

void
arb_mem_fail_after(unsigned n)
{
	fail_countdown = n;
}

void *
arb_calloc(size_t n, size_t size)
{
	if (should_fail())
		return NULL;
	return calloc(n ? n : 1, size ? size : 1);
}

void *
arb_reallocarray(void *p, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size)
		return NULL;
	if (should_fail())
		return NULL;
	return realloc(p, n * size != 0 ? n * size : 1);
}

char *
arb_strdup(const char *s)
{
	size_t len = strlen(s) + 1;
	char *copy = arb_calloc(len, 1);

	if (copy)
		memcpy(copy, s, len);
	return copy;
}

void
arb_free(void *p)
{
	free(p);
}
