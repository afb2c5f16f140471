/*
 * test_sockpath.c - the control socket's default path for root, for a
 * user with and without XDG_RUNTIME_DIR, the ARBOR_SOCKET override, and
 * paths too long for sun_path (common/sockpath.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sockpath.h"

static void
test_defaults(void **state)
{
	char buf[256];

	assert_int_equal(arb_sockpath_default_for(0, "/run/user/0", buf,
						  sizeof(buf)),
			 0);
	assert_string_equal(buf, "/run/arbor/arbor.sock");
	assert_int_equal(arb_sockpath_default_for(1000, "/run/user/1000", buf,
						  sizeof(buf)),
			 0);
	assert_string_equal(buf, "/run/user/1000/arbor/arbor.sock");
	assert_int_equal(arb_sockpath_default_for(1000, NULL, buf, sizeof(buf)),
			 0);
	assert_string_equal(buf, "/tmp/arbor-1000/arbor.sock");
	/* A relative or empty XDG_RUNTIME_DIR is ignored, as the spec says. */
	assert_int_equal(arb_sockpath_default_for(1000, "run/user", buf,
						  sizeof(buf)),
			 0);
	assert_string_equal(buf, "/tmp/arbor-1000/arbor.sock");
	assert_int_equal(arb_sockpath_default_for(4294967294UL, "", buf,
						  sizeof(buf)),
			 0);
	assert_string_equal(buf, "/tmp/arbor-4294967294/arbor.sock");
}

static void
test_too_long(void **state)
{
	char dir[200], buf[256];

	memset(dir, 'd', sizeof(dir) - 1);
	dir[0] = '/';
	dir[sizeof(dir) - 1] = '\0';
	strcpy(buf, "untouched");
	assert_int_equal(arb_sockpath_default_for(1000, dir, buf, sizeof(buf)),
			 -ENAMETOOLONG);
	assert_string_equal(buf, "untouched");
	/* Exactly sun_path less its NUL fits; one more byte does not. */
	dir[ARB_SOCKPATH_MAX - strlen("/arbor/arbor.sock")] = '\0';
	assert_int_equal(arb_sockpath_default_for(1000, dir, buf, sizeof(buf)),
			 0);
	assert_int_equal(strlen(buf), ARB_SOCKPATH_MAX);
	/* A buffer too small for a path that sun_path would take. */
	assert_int_equal(arb_sockpath_default_for(0, NULL, buf, 10),
			 -ENAMETOOLONG);
}

static void
test_pick(void **state)
{
	char buf[256];

	assert_int_equal(setenv("ARBOR_SOCKET", "/x/env.sock", 1), 0);
	assert_int_equal(arb_sockpath_pick("/x/opt.sock", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/x/opt.sock");
	assert_int_equal(arb_sockpath_pick(NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/x/env.sock");
	assert_int_equal(setenv("ARBOR_SOCKET", "", 1), 0);
	assert_int_equal(arb_sockpath_pick(NULL, buf, sizeof(buf)), 0);
	assert_true(strstr(buf, "/arbor.sock") != NULL);
	assert_int_equal(unsetenv("ARBOR_SOCKET"), 0);
}

static void
test_addr(void **state)
{
	struct sockaddr_un sa;
	socklen_t len = 0;
	char longpath[ARB_SOCKPATH_MAX + 2];

	assert_int_equal(arb_sockpath_addr("/a/b.sock", &sa, &len), 0);
	assert_int_equal(sa.sun_family, AF_UNIX);
	assert_string_equal(sa.sun_path, "/a/b.sock");
	assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + 10);
	assert_int_equal(arb_sockpath_addr("", &sa, &len), -EINVAL);
	memset(longpath, 'p', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(arb_sockpath_addr(longpath, &sa, &len),
			 -ENAMETOOLONG);
	longpath[ARB_SOCKPATH_MAX] = '\0';
	assert_int_equal(arb_sockpath_addr(longpath, &sa, &len), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_pick),
		cmocka_unit_test(test_addr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
