/*
 * malloc_count.so - counts a process's heap calls, for the benchmarks.
 *
 *   LD_PRELOAD=.../malloc_count.so MALLOC_COUNT_OUT=FILE arbord ...
 *
 * Wraps malloc, calloc, realloc and free (around glibc's __libc_*), and keeps
 * four counters in FILE, a shared mapping the benchmark reads at any time
 * without stopping the process: allocations (malloc, calloc, and realloc
 * to a new block), frees, bytes allocated in total and bytes in use now
 * (malloc_usable_size). Only the process that loaded it counts: a forked
 * child before its exec would otherwise add its own calls. Not for
 * production: a getpid(2) per call.
 */
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

struct counters {
	uint64_t allocs;
	uint64_t frees;
	uint64_t bytes_total;
	int64_t bytes_in_use;
};

static struct counters *counters;
static pid_t owner;

__attribute__((constructor)) static void
open_counters(void)
{
	const char *path = getenv("MALLOC_COUNT_OUT");
	if (!path)
		return;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	/* The process's children must neither count nor reset the file. */
	unsetenv("LD_PRELOAD");
	unsetenv("MALLOC_COUNT_OUT");
	if (fd < 0)
		return;
	if (ftruncate(fd, sizeof(struct counters)) == 0) {
		void *m = mmap(NULL, sizeof(struct counters),
			       PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (m != MAP_FAILED) {
			owner = getpid();
			counters = m;
		}
	}
	close(fd);
}

static struct counters *
mine(void)
{
	return counters && getpid() == owner ? counters : NULL;
}

static void
count_alloc(void *p)
{
	struct counters *c = mine();
	if (!c || !p)
		return;
	size_t n = malloc_usable_size(p);
	__atomic_add_fetch(&c->allocs, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&c->bytes_total, n, __ATOMIC_RELAXED);
	__atomic_add_fetch(&c->bytes_in_use, (int64_t)n, __ATOMIC_RELAXED);
}

static void
count_free(void *p)
{
	struct counters *c = mine();
	if (!c || !p)
		return;
	__atomic_add_fetch(&c->frees, 1, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&c->bytes_in_use,
			   (int64_t)malloc_usable_size(p), __ATOMIC_RELAXED);
}

void *
malloc(size_t n)
{
	void *p = __libc_malloc(n);
	count_alloc(p);
	return p;
}

void *
calloc(size_t k, size_t n)
{
	void *p = __libc_calloc(k, n);
	count_alloc(p);
	return p;
}

void *
realloc(void *old, size_t n)
{
	if (!old)
		return malloc(n);
	if (n == 0) {
		free(old);
		return NULL;
	}
	/* Counted as a free of the old block and an allocation of the new
	 * one, even when glibc grows it in place. */
	count_free(old);
	void *p = __libc_realloc(old, n);
	if (!p) {
		count_alloc(old); /* the old block is still there */
		return NULL;
	}
	count_alloc(p);
	return p;
}

void
free(void *p)
{
	count_free(p);
	__libc_free(p);
}
