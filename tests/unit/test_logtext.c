/*
 * test_logtext.c - a captured line's bytes and time as arbord's Logs and
 * arborctl's journal reader both write them (common/logtext.c): the time
 * format and its limits, and which text goes into JSON as it is.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "logtext.h"

static void
test_time_is_rfc3339_utc_to_the_microsecond(void **state)
{
	char buf[64];
	json_t *t;

	assert_int_equal(arb_log_format_time(buf, sizeof(buf),
					     1763719200000042LL), 27);
	assert_string_equal(buf, "2025-11-21T10:00:00.000042Z");
	assert_int_equal(arb_log_format_time(buf, sizeof(buf), 0), 27);
	assert_string_equal(buf, "1970-01-01T00:00:00.000000Z");
	t = arb_logtext_time_json(1763719200123456LL);
	assert_non_null(t);
	assert_string_equal(json_string_value(t),
			    "2025-11-21T10:00:00.123456Z");
	json_decref(t);
}

/* A buffer too small gives an empty string and 0, never a partial time;
 * the largest time a journal entry may hold is still written whole. */
static void
test_time_that_does_not_fit(void **state)
{
	char buf[64];

	assert_int_equal(arb_log_format_time(buf, 27, 1763719200000042LL), 0);
	assert_string_equal(buf, "");
	assert_int_equal(arb_log_format_time(buf, 0, 0), 0);
	assert_int_equal(arb_log_format_time(buf, sizeof(buf), INT64_MAX), 29);
	assert_string_equal(buf, "294247-01-10T04:00:54.775807Z");
}

static void
test_utf8_without_nul_goes_in_as_it_is(void **state)
{
	bool exact;
	json_t *j;

	assert_true(arb_logtext_is_utf8("h\xc3\xa9", 3));
	assert_false(arb_logtext_is_utf8("a\0b", 3));
	assert_false(arb_logtext_is_utf8("\xff\xfe", 2));
	assert_false(arb_logtext_is_utf8("\xc3", 1));
	j = arb_logtext_json("a\xffz", 3, &exact);
	assert_non_null(j);
	assert_false(exact);
	assert_string_equal(json_string_value(j), "a\xef\xbf\xbdz");
	json_decref(j);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time_is_rfc3339_utc_to_the_microsecond),
		cmocka_unit_test(test_time_that_does_not_fit),
		cmocka_unit_test(test_utf8_without_nul_goes_in_as_it_is),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
