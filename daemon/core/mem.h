/*
 * mem.h - the allocator the pure core uses.
 *
 * tree.c and spec.c may include no library header with side effects
 * (STYLE.md 1), so they allocate through these three functions, which
 * mem.c implements on malloc. The indirection is also where unit tests
 * inject allocation failures.
 */
#ifndef ARB_MEM_H
#define ARB_MEM_H

#include <stddef.h>

/* Zeroed memory for n objects of size bytes; NULL on OOM or overflow. */
void *arb_calloc(size_t n, size_t size);

/* Resizes p to n objects of size bytes; NULL on OOM (p stays valid). */
void *arb_reallocarray(void *p, size_t n, size_t size);

/* A copy of s; NULL on OOM. */
char *arb_strdup(const char *s);

/* Frees p; NULL is a no-op. */
void arb_free(void *p);

/*
 * Test hook: make the n-th allocation from now fail (0 disables).
 * Only tests reach it: the unit tests, and faults.c in the test build
 * arbord-faults (ARBOR_FAULT_CORE_ALLOC); arbord itself never calls it.
 */
void arb_mem_fail_after(unsigned n);

#endif
