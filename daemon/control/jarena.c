/*
 * jarena.c - the arena behind jarena.h: a list of blocks and a bump
 * pointer, newest first. Single-threaded, like arbord.
 */
#include <stddef.h>
#include <stdlib.h>

#include <jansson.h>

#include "jarena.h"

/* Under malloc's mmap threshold: blocks are reused, not faulted in anew. */
#define BLOCK_SIZE (256 * 1024)

/* Under ASan the arena would hide use-after-free: let malloc do it all. */
#ifdef __SANITIZE_ADDRESS__
#define ARENA_ENABLED 0
#else
#define ARENA_ENABLED 1
#endif

struct block {
	struct block *next;
	size_t used, size;
	max_align_t data[]; /* aligned for anything */
};

static struct block *blocks;

static void *
arena_malloc(size_t n)
{
	struct block *b = blocks;
	void *p;

	n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	if (!b || b->used + n > b->size) {
		size_t size = n > BLOCK_SIZE ? n : BLOCK_SIZE;

		b = malloc(sizeof(*b) + size);
		if (!b)
			return NULL;
		b->used = 0;
		b->size = size;
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

/*
 * The oldest block is kept for the next reply, emptied: getting it from
 * the kernel again each time, page by page, cost more than filling it.
 */
void
arb_jarena_end(void)
{
	json_set_alloc_funcs(malloc, free);
	while (blocks && blocks->next) {
		struct block *next = blocks->next;

		free(blocks);
		blocks = next;
	}
	if (blocks)
		blocks->used = 0;
}
