/*
 * test_state.c - the re-exec state of a release, read by this code.
 *
 * fixtures/state-v1.state is what a real arbord of the first release with
 * re-exec saved (fixtures/make_state_fixture.py): the reader of every
 * later release must take it over. Its descriptors are recreated at the
 * numbers it names, each of its kind (pipe read ends, sockets, pidfds),
 * and the whole state goes through what a resume does (the spec, the
 * core's tree, the runtime's nodes, logs, the notify socket), in a
 * runtime that runs nothing (arb_runtime_probe).
 *
 * Then the same file corrupted byte by byte, and cut short: the reader
 * refuses or takes it, never crashes. Each attempt runs in a child
 * process: a corrupted list of descriptors may name one the test's own
 * libev loop holds, which a real new image, that has opened nothing yet,
 * does not have.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "runtime.h"
#include "state/spec_json.h"
#include "state/state.h"
#include "../fuzz/state_holders.h"

#ifndef FIXTURE
#define FIXTURE "tests/unit/fixtures/state-v1.state"
#endif

static char *fixture;
static size_t fixture_len;
static struct holders holders;

static void
make_holders(void)
{
	assert_int_equal(holders_make(&holders), 0);
}

static void
close_holders(void)
{
	holders_close(&holders);
}

static int
memfd_of(const char *data, size_t len)
{
	int fd = memfd_create("state", 0);

	assert_true(fd >= 0);
	assert_true(write(fd, data, len) == (ssize_t)len);
	assert_true(lseek(fd, 0, SEEK_SET) == 0);
	return fd;
}

/*
 * What a resume does with the state in data: 0 when taken over,
 * -EINVAL (with why) when refused, or another -errno.
 */
static int
read_state(const char *data, size_t len, char *why, size_t size)
{
	struct arb_state_in in;
	struct arb_spec *spec = NULL;
	const json_t *obj;
	int r;

	r = arb_state_in_read(&in, memfd_of(data, len));
	if (r == 0)
		r = arb_state_object(&in, in.root, "state", "spec", &obj);
	if (r == 0)
		r = arb_spec_json_load(&in, obj, &spec);
	if (r == 0)
		r = arb_runtime_probe(spec, &in);
	snprintf(why, size, "%s", in.error);
	arb_state_in_done(&in);
	arb_spec_free(spec);
	return r;
}

/* read_state in a child process: its exit status (0: it returned). */
static int
read_state_apart(const char *data, size_t len)
{
	char why[256];
	int status, pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		make_holders();
		(void)read_state(data, len, why, sizeof(why));
		_exit(0);
	}
	assert_true(waitpid(pid, &status, 0) == pid);
	return status;
}

static int
setup(void **state)
{
	FILE *f = fopen(FIXTURE, "rb");
	json_t *root;
	long len;

	assert_non_null(f);
	assert_true(fseek(f, 0, SEEK_END) == 0);
	len = ftell(f);
	rewind(f);
	fixture = malloc((size_t)len);
	assert_non_null(fixture);
	assert_true(fread(fixture, 1, (size_t)len, f) == (size_t)len);
	fclose(f);
	fixture_len = (size_t)len;
	root = json_loads(fixture, 0, NULL);
	assert_non_null(root);
	holders_find(&holders, root);
	json_decref(root);
	holders.pid = fork();
	if (holders.pid == 0) {
		/* Gone with the test, however it ends. */
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		pause();
		_exit(0);
	}
	assert_true(holders.pid > 0);
	return 0;
}

static int
teardown(void **state)
{
	kill(holders.pid, SIGKILL);
	waitpid(holders.pid, NULL, 0);
	free(fixture);
	return 0;
}

static void
test_fixture_is_taken_over(void **state)
{
	char why[256];
	int r;

	make_holders();
	r = read_state(fixture, fixture_len, why, sizeof(why));
	close_holders();
	if (r != 0)
		fail_msg("the release's state is refused: %s (%d)", why, r);
}

static void
test_fixture_without_its_descriptors_is_refused(void **state)
{
	char why[256];

	assert_int_equal(read_state(fixture, fixture_len, why, sizeof(why)),
			 -EINVAL);
	assert_non_null(strstr(why, "not an open descriptor"));
}

/*
 * Bug (second review): a list of descriptors with a bad one (not open)
 * was read up to it only, and those after it were never closed: in the
 * boot a failed resume falls back to, a pipe's write end kept open for
 * ever. Named twice, one was closed twice.
 */
static void
test_passed_descriptors_are_closed_whatever_the_list(void **state)
{
	char doc[256];
	struct arb_state_in in;
	int p[2], q[2];

	assert_int_equal(pipe(p), 0);
	assert_int_equal(pipe(q), 0);
	close(p[1]);
	close(q[1]);
	/* 1000: not open here; q[0] twice. */
	snprintf(doc, sizeof(doc), "{\"format\":\"arbord-state\","
		 "\"version\":1,\"fds\":[1000,%d,%d,%d]}", p[0], q[0], q[0]);
	assert_int_equal(arb_state_in_read(&in, memfd_of(doc, strlen(doc) + 1)),
			 -EINVAL);
	assert_non_null(strstr(in.error, "not an open descriptor"));
	assert_int_equal(in.nfds, 2);
	arb_state_in_done(&in);
	assert_int_equal(fcntl(p[0], F_GETFD), -1);
	assert_int_equal(fcntl(q[0], F_GETFD), -1);
}

/* How many attempts: every one, or ARB_STATE_ATTEMPTS of them spread
 * over the file (the sanitizers make each one slow). */
static size_t
stride(size_t len)
{
	const char *env = getenv("ARB_STATE_ATTEMPTS");
	size_t attempts = env ? strtoul(env, NULL, 10) : 1500;

	if (attempts == 0 || attempts >= len)
		return 1;
	return len / attempts;
}

static void
test_corrupted_byte_by_byte_never_crashes(void **state)
{
	static const unsigned char values[] = {'0', '9', '-', '"', '{', ']',
					       'x', 0, 0xff, ' ', ','};
	char *copy = malloc(fixture_len);
	size_t step = stride(fixture_len);
	unsigned n = 0;

	assert_non_null(copy);
	for (size_t i = n % step; i < fixture_len; i += step, n++) {
		int status;

		memcpy(copy, fixture, fixture_len);
		copy[i] = (char)values[n % sizeof(values)];
		if (copy[i] == fixture[i])
			copy[i] ^= 0x20;
		status = read_state_apart(copy, fixture_len);
		if (status != 0)
			fail_msg("byte %zu set to 0x%02x: the reader ended with "
				 "status 0x%x", i, (unsigned char)copy[i],
				 status);
	}
	free(copy);
}

static void
test_cut_short_never_crashes(void **state)
{
	size_t step = stride(fixture_len) * 4;

	for (size_t len = 0; len < fixture_len; len += step) {
		int status = read_state_apart(fixture, len);

		if (status != 0)
			fail_msg("cut at %zu: status 0x%x", len, status);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixture_is_taken_over),
		cmocka_unit_test(test_fixture_without_its_descriptors_is_refused),
		cmocka_unit_test(
			test_passed_descriptors_are_closed_whatever_the_list),
		cmocka_unit_test(test_corrupted_byte_by_byte_never_crashes),
		cmocka_unit_test(test_cut_short_never_crashes),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
