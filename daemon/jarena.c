/*
 * jarena.c - the arena behind jarena.h: a list of blocks and a bump
 * pointer, newest first. Single-threaded, like arbord.
 */
#include "jarena.h"

#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <jansson.h>

/* A reply's usual size; a larger value gets a block of its own. */
#define BLOCK_SIZE (256 * 1024)

/*
 * Under AddressSanitizer the arena would hide use-after-free: malloc does
 * it all, and a value used after end is a report.
 */
#if defined(__SANITIZE_ADDRESS__)
#define ARENA_ENABLED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_ENABLED 0
#endif
#endif
#ifndef ARENA_ENABLED
#define ARENA_ENABLED 1
#endif

struct block {
	struct block *next;
	size_t used, size;
	max_align_t data[]; /* aligned for anything */
};

static struct block *blocks;

/* Mapped, not from malloc: given back whole at end, never a hole in
 * the heap. */
static struct block *
block_new(size_t size)
{
	struct block *b = mmap(NULL, sizeof(*b) + size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (b == MAP_FAILED)
		return NULL;
	b->used = 0;
	b->size = size;
	return b;
}

static void
block_free(struct block *b)
{
	(void)munmap(b, sizeof(*b) + b->size);
}

static void *
arena_malloc(size_t n)
{
	struct block *b = blocks;
	void *p;

	n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	if (!b || b->used + n > b->size) {
		b = block_new(n > BLOCK_SIZE ? n : BLOCK_SIZE);
		if (!b)
			return NULL;
		b->next = blocks;
		blocks = b;
	}
	p = (char *)b->data + b->used;
	b->used += n;
	return p;
}

static void
arena_free(void *p)
{
	(void)p; /* everything goes at arb_jarena_end */
}

void
arb_jarena_begin(void)
{
	if (ARENA_ENABLED)
		json_set_alloc_funcs(arena_malloc, arena_free);
}

void
arb_jarena_end(void)
{
	json_set_alloc_funcs(malloc, free);
	while (blocks) {
		struct block *next = blocks->next;

		block_free(blocks);
		blocks = next;
	}
}
