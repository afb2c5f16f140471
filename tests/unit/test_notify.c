/*
 * test_notify.c - parsing of sd_notify datagrams (notify.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "notify.h"

static void
parse(const char *text, struct arb_notify_msg *m, char *buf, size_t size)
{
	size_t len = strlen(text);

	assert_true(len < size);
	memcpy(buf, text, len);
	arb_notify_parse(buf, len, m);
}

static void
test_every_assignment(void **state)
{
	char buf[256];
	struct arb_notify_msg m;

	parse("READY=1\nSTATUS=Serving 3 clients\nMAINPID=4242\n"
	      "EXTEND_TIMEOUT_USEC=1500\nERRNO=2\nWATCHDOG=1\n"
	      "RELOADING=1\nSTOPPING=1", &m, buf, sizeof(buf));
	assert_true(m.ready);
	assert_string_equal(m.status, "Serving 3 clients");
	assert_int_equal(m.mainpid, 4242);
	assert_int_equal(m.extend_ms, 2); /* rounded up */
	assert_int_equal(m.errno_value, 2);
	assert_true(m.watchdog);
	assert_false(m.watchdog_trigger);
	assert_true(m.reloading);
	assert_true(m.stopping);
}

static void
test_absent_and_malformed(void **state)
{
	char buf[256];
	struct arb_notify_msg m;

	parse("READY=0\nMAINPID=-3\nERRNO=x\nEXTEND_TIMEOUT_USEC=\n"
	      "WATCHDOG=trigger\nFOO=1\nnoequals\n\n=1", &m, buf, sizeof(buf));
	assert_false(m.ready);
	assert_int_equal(m.mainpid, 0);
	assert_int_equal(m.errno_value, -1);
	assert_int_equal(m.extend_ms, 0);
	assert_true(m.watchdog_trigger);
	assert_false(m.watchdog);
	assert_null(m.status);
	parse("MAINPID=99999999999999999999\nSTATUS=", &m, buf, sizeof(buf));
	assert_int_equal(m.mainpid, 0);
	assert_string_equal(m.status, "");
}

/* A NUL in a datagram ends its line early and nothing worse. */
static void
test_embedded_nul(void **state)
{
	char buf[64] = "STATUS=a\0b\nREADY=1";
	struct arb_notify_msg m;

	arb_notify_parse(buf, 18, &m);
	assert_string_equal(m.status, "a");
	assert_true(m.ready);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_assignment),
		cmocka_unit_test(test_absent_and_malformed),
		cmocka_unit_test(test_embedded_nul),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
