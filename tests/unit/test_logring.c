/*
 * test_logring.c - the ring of a service's lines against a plain list of
 * every line put: what the ring holds is always the newest lines, whole,
 * in order, within its size, whatever their lengths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include <cmocka.h>

#include "logs/ring.h"

#define PUTS 50000
#define LEN_MAX 700

static char texts[PUTS][LEN_MAX];
static uint16_t lens[PUTS];

/* The ring holds lines first..n-1 of texts[], exactly. */
static void
assert_holds_suffix(const struct arb_logring *r, uint32_t n)
{
	struct arb_logring_iter it;
	struct arb_log_line l;
	uint32_t first = n - r->count, i = first;
	size_t bytes = 0;

	arb_logring_iter_last(r, UINT32_MAX, &it);
	while (arb_logring_next(r, &it, &l)) {
		assert_int_equal(l.seq, i);
		assert_int_equal(l.len, lens[i]);
		assert_int_equal(l.pid, (int32_t)i * 3);
		assert_int_equal(l.stream, i % _ARB_STREAM_MAX);
		assert_memory_equal(l.text, texts[i], l.len);
		bytes += arb_logring_record_size(l.len);
		i++;
	}
	assert_int_equal(i, n);
	assert_true(bytes <= r->size && r->size <= r->max);
	/* Lines are forgotten only at the largest size, and room is not
	 * wasted: at most the stretch a wrap leaves unused and the hole of
	 * the record being put. */
	if (first > 0) {
		assert_int_equal(r->size, r->max);
		assert_true(bytes + 2 * arb_logring_record_size(LEN_MAX) >=
			    r->size);
	}
}

static void
put_random(struct arb_logring *r, uint32_t i, uint16_t len)
{
	struct arb_log_line l = {
		.seq = i, .time_us = (int64_t)i * 1000, .pid = (int32_t)i * 3,
		.stream = (uint8_t)(i % _ARB_STREAM_MAX), .len = len,
		.text = texts[i],
	};

	lens[i] = len;
	for (uint16_t k = 0; k < len; k++)
		texts[i][k] = (char)rand();
	assert_int_equal(arb_logring_put(r, &l), 0);
}

static void
test_random_lengths_keep_newest_suffix(void **state)
{
	uint32_t sizes[] = {1024, 4096, 65536, 1000 * 8};

	srand(4242);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		struct arb_logring r;

		arb_logring_init(&r, sizes[s]);
		assert_null(r.buf); /* nothing allocated before a line */
		assert_int_equal(r.size, 0);
		for (uint32_t i = 0; i < PUTS; i++) {
			uint16_t len = (uint16_t)(rand() % (i % 7 == 0 ?
					LEN_MAX : 40));

			if (arb_logring_record_size(len) > r.max)
				len = 0;
			put_random(&r, i, len);
			assert_true(r.count >= 1);
			if (i % 97 == 0 || i + 1 == PUTS)
				assert_holds_suffix(&r, i + 1);
		}
		arb_logring_done(&r);
	}
}

static void
test_last_n(void **state)
{
	struct arb_logring r;
	struct arb_logring_iter it;
	struct arb_log_line l;

	arb_logring_init(&r, 1 << 16);
	for (uint32_t i = 0; i < 100; i++)
		put_random(&r, i, 10);
	arb_logring_iter_last(&r, 3, &it);
	for (uint64_t want = 97; want < 100; want++) {
		assert_true(arb_logring_next(&r, &it, &l));
		assert_int_equal(l.seq, want);
	}
	assert_false(arb_logring_next(&r, &it, &l));
	arb_logring_iter_last(&r, 0, &it);
	assert_false(arb_logring_next(&r, &it, &l));
	arb_logring_done(&r);
}

static void
test_grows_with_what_is_written(void **state)
{
	struct arb_logring r;

	arb_logring_init(&r, 1 << 20);
	put_random(&r, 0, 10);
	assert_int_equal(r.size, ARB_LOGRING_FIRST);
	for (uint32_t i = 1; i < 100; i++)
		put_random(&r, i, 10);
	assert_int_equal(r.size, 4096); /* 100 x 40 bytes */
	for (uint32_t i = 100; i < 1000; i++)
		put_random(&r, i, 10);
	assert_int_equal(r.size, 65536);
	assert_holds_suffix(&r, 1000);
	arb_logring_done(&r);
}

static void
test_reserved_ring_never_grows(void **state)
{
	struct arb_logring r;

	arb_logring_init(&r, 1 << 16);
	assert_int_equal(arb_logring_reserve(&r), 0);
	assert_int_equal(r.size, 1 << 16);
	for (uint32_t i = 0; i < 5000; i++) {
		put_random(&r, i, (uint16_t)(i % 50));
		assert_int_equal(r.size, 1 << 16);
	}
	assert_holds_suffix(&r, 5000);
	arb_logring_done(&r);
}

static void
test_too_long_refused(void **state)
{
	struct arb_logring r;
	struct arb_log_line l = {.len = 200, .text = texts[0]};

	arb_logring_init(&r, 128);
	assert_int_equal(arb_logring_put(&r, &l), -E2BIG);
	arb_logring_done(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_lengths_keep_newest_suffix),
		cmocka_unit_test(test_last_n),
		cmocka_unit_test(test_grows_with_what_is_written),
		cmocka_unit_test(test_reserved_ring_never_grows),
		cmocka_unit_test(test_too_long_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
