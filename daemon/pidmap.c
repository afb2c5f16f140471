/*
 * pidmap.c - open addressing with linear probing and backward-shift
 * deletion, so there are no tombstones and lookups stay short forever.
 */
#include <errno.h>
#include <stdlib.h>

#include "pidmap.h"

static uint32_t
slot_of(const struct arb_pidmap *m, int pid)
{
	/* Pids are sequential: a multiplicative hash spreads neighbours. */
	return ((uint32_t)pid * 2654435761u) & m->mask;
}

int
arb_pidmap_init(struct arb_pidmap *m, uint32_t max)
{
	uint32_t cap = 16;

	while (cap / 4 * 3 < max)
		cap *= 2;
	m->slots = calloc(cap, sizeof(*m->slots));
	if (!m->slots)
		return -ENOMEM;
	m->mask = cap - 1;
	m->len = 0;
	return 0;
}

static int
rehash(struct arb_pidmap *m, uint32_t max)
{
	struct arb_pidmap bigger;

	if (arb_pidmap_init(&bigger, max) < 0)
		return -ENOMEM;
	for (uint32_t i = 0; i <= m->mask; i++)
		if (m->slots[i].pid > 0)
			(void)arb_pidmap_put(&bigger, m->slots[i].pid,
					     m->slots[i].node);
	free(m->slots);
	*m = bigger;
	return 0;
}

int
arb_pidmap_grow(struct arb_pidmap *m, uint32_t max)
{
	if ((m->mask + 1) / 4 * 3 >= max)
		return 0;
	return rehash(m, max);
}

int
arb_pidmap_fit(struct arb_pidmap *m, uint32_t max)
{
	if (max < m->len)
		max = m->len;
	/* Only a map four times too large is worth moving. */
	if ((m->mask + 1) / 8 < max || m->mask + 1 <= 16)
		return 0;
	return rehash(m, max);
}

void
arb_pidmap_done(struct arb_pidmap *m)
{
	free(m->slots);
	m->slots = NULL;
}

int
arb_pidmap_put(struct arb_pidmap *m, int pid, uint32_t node)
{
	uint32_t i = slot_of(m, pid);

	if (pid <= 0)
		return -EINVAL; /* 0 marks an empty slot; neither is a process */
	for (;; i = (i + 1) & m->mask) {
		if (m->slots[i].pid == pid) {
			m->slots[i].node = node;
			return 0;
		}
		if (m->slots[i].pid == 0)
			break;
	}
	if (m->len + 1 > (m->mask + 1) / 4 * 3)
		return -ENOSPC;
	m->slots[i].pid = pid;
	m->slots[i].node = node;
	m->len++;
	return 0;
}

uint32_t
arb_pidmap_get(const struct arb_pidmap *m, int pid)
{
	uint32_t i = slot_of(m, pid);

	if (pid <= 0)
		return UINT32_MAX; /* else 0 would match the first empty slot */
	while (m->slots[i].pid != pid) {
		if (m->slots[i].pid == 0)
			return UINT32_MAX;
		i = (i + 1) & m->mask;
	}
	return m->slots[i].node;
}

uint32_t
arb_pidmap_take(struct arb_pidmap *m, int pid)
{
	uint32_t i = slot_of(m, pid), node;

	if (pid <= 0)
		return UINT32_MAX;
	while (m->slots[i].pid != pid) {
		if (m->slots[i].pid == 0)
			return UINT32_MAX;
		i = (i + 1) & m->mask;
	}
	node = m->slots[i].node;
	m->len--;
	/* Backward shift: pull later entries of the run into the hole. */
	for (uint32_t hole = i, j = (i + 1) & m->mask;; j = (j + 1) & m->mask) {
		uint32_t home;

		if (m->slots[j].pid == 0) {
			m->slots[hole].pid = 0;
			break;
		}
		home = slot_of(m, m->slots[j].pid);
		/* Move j into the hole unless its home lies in (hole, j]. */
		if (((j - home) & m->mask) >= ((j - hole) & m->mask)) {
			m->slots[hole] = m->slots[j];
			hole = j;
		}
	}
	return node;
}
