/*
 * ring.c - the ring of one service's recent lines (ring.h).
 *
 * While not wrapped the records fill [head, tail). Once a record does not
 * fit before the end of the buffer, it goes to offset 0 and the ring is
 * wrapped: records fill [head, end) and then [0, tail), with the free room
 * [tail, head) between. Forgetting the oldest record moves head; when head
 * reaches end the ring is unwrapped again.
 */
#include "ring.h"

#include <errno.h>
#include <string.h>

#include "core/mem.h"

struct record {
	uint64_t seq;
	int64_t time_us;
	int32_t pid;
	uint8_t stream;
	uint8_t flags;
	uint16_t len;
	/* then len bytes of text, padded to 8 */
};

_Static_assert(sizeof(struct record) == 24, "record header is 24 bytes");

size_t
arb_logring_record_size(size_t len)
{
	return (sizeof(struct record) + len + 7) & ~(size_t)7;
}

void
arb_logring_init(struct arb_logring *r, uint32_t size)
{
	memset(r, 0, sizeof(*r));
	r->max = size & ~7u;
}

void
arb_logring_done(struct arb_logring *r)
{
	arb_free(r->buf);
	arb_logring_init(r, r->max);
}

int
arb_logring_reserve(struct arb_logring *r)
{
	if (r->buf)
		return 0;
	r->buf = arb_calloc(r->max, 1);
	if (!r->buf)
		return -ENOMEM;
	r->size = r->max;
	return 0;
}

static struct record *
record_at(const struct arb_logring *r, uint32_t off)
{
	return (struct record *)(void *)(r->buf + off);
}

/* Forgets the oldest record. */
static void
drop_oldest(struct arb_logring *r)
{
	r->head += (uint32_t)arb_logring_record_size(record_at(r, r->head)->len);
	r->count--;
	if (r->count == 0) {
		r->head = r->tail = 0;
		r->wrapped = false;
	} else if (r->wrapped && r->head >= r->end) {
		r->head = 0;
		r->wrapped = false;
	}
}

/*
 * Moves the records, oldest first, to the start of a buffer twice as large
 * (at most max). false on OOM: the ring stays as it was.
 */
static bool
grow(struct arb_logring *r)
{
	uint32_t size = r->size > r->max / 2 ? r->max : r->size * 2;
	char *buf = arb_calloc(size, 1);
	uint32_t off = r->head, at = 0;

	if (!buf)
		return false;
	for (uint32_t i = 0; i < r->count; i++) {
		uint32_t len = (uint32_t)arb_logring_record_size(
			record_at(r, off)->len);

		memcpy(buf + at, r->buf + off, len);
		at += len;
		off += len;
		if (r->wrapped && off == r->end)
			off = 0;
	}
	arb_free(r->buf);
	r->buf = buf;
	r->size = size;
	r->head = 0;
	r->tail = at;
	r->wrapped = false;
	return true;
}

/* Makes room for need bytes at tail; false only when need > max. */
static bool
make_room(struct arb_logring *r, uint32_t need)
{
	if (need > r->max)
		return false;
	while (need > r->size && grow(r))
		;
	if (need > r->size)
		return false;
	for (;;) {
		if (!r->wrapped) {
			if (r->size - r->tail >= need)
				return true;
			if (r->count == 0) {
				r->head = r->tail = 0;
				continue;
			}
			/* The stretch from head ends here; go on at 0. */
			r->end = r->tail;
			r->tail = 0;
			r->wrapped = true;
		}
		if (r->head - r->tail >= need)
			return true;
		if (r->size < r->max && grow(r))
			continue;
		drop_oldest(r);
	}
}

int
arb_logring_put(struct arb_logring *r, const struct arb_log_line *line)
{
	uint32_t need = (uint32_t)arb_logring_record_size(line->len);
	struct record *rec;

	if (need > r->max)
		return -E2BIG;
	if (!r->buf) {
		r->size = ARB_LOGRING_FIRST < r->max ? ARB_LOGRING_FIRST : r->max;
		while (r->size < need)
			r->size = r->size > r->max / 2 ? r->max : r->size * 2;
		r->buf = arb_calloc(r->size, 1);
		if (!r->buf)
			return -ENOMEM;
	}
	if (!make_room(r, need))
		return -E2BIG;
	rec = record_at(r, r->tail);
	rec->seq = line->seq;
	rec->time_us = line->time_us;
	rec->pid = line->pid;
	rec->stream = line->stream;
	rec->flags = line->flags;
	rec->len = line->len;
	memcpy(rec + 1, line->text, line->len);
	r->tail += need;
	r->count++;
	return 0;
}

/* The offset of the record after the one at off. */
static uint32_t
next_offset(const struct arb_logring *r, uint32_t off)
{
	off += (uint32_t)arb_logring_record_size(record_at(r, off)->len);
	if (r->wrapped && off == r->end)
		off = 0;
	return off;
}

void
arb_logring_iter_last(const struct arb_logring *r, uint32_t last,
		      struct arb_logring_iter *it)
{
	it->off = r->head;
	it->left = r->count;
	while (it->left > last) {
		it->off = next_offset(r, it->off);
		it->left--;
	}
}

bool
arb_logring_next(const struct arb_logring *r, struct arb_logring_iter *it,
		 struct arb_log_line *ret)
{
	const struct record *rec;

	if (it->left == 0)
		return false;
	rec = record_at(r, it->off);
	ret->seq = rec->seq;
	ret->time_us = rec->time_us;
	ret->pid = rec->pid;
	ret->stream = rec->stream;
	ret->flags = rec->flags;
	ret->len = rec->len;
	ret->text = (const char *)(rec + 1);
	it->off = next_offset(r, it->off);
	it->left--;
	return true;
}
