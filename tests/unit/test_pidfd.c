/*
 * test_pidfd.c - signals by identity (pidfd.c), with real processes: a
 * group is reached after its leader is reaped, and never once it is empty;
 * without a pidfd a number is used only until its process is reaped.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "pidfd.h"

/* A leader of its own session and group, with one more member; both wait
 * for a signal. The member is reparented to this test (a subreaper). */
static void
start_group(int *leader, int *member)
{
	int fds[2];

	assert_int_equal(pipe(fds), 0);
	*leader = fork();
	assert_true(*leader >= 0);
	if (*leader == 0) {
		int m;

		setsid();
		m = fork();
		if (m == 0) {
			for (;;)
				pause();
		}
		if (write(fds[1], &m, sizeof(m)) != sizeof(m))
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], member, sizeof(*member)),
			 sizeof(*member));
	close(fds[0]);
}

static int
reap(int pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

/* PIDFD_SIGNAL_PROCESS_GROUP came with Linux 6.9. */
static int
kernel_signals_groups_by_pidfd(void)
{
	struct utsname u;
	int major = 0, minor = 0;

	assert_int_equal(uname(&u), 0);
	sscanf(u.release, "%d.%d", &major, &minor);
	return major > 6 || (major == 6 && minor >= 9);
}

static void
test_a_group_is_reached_after_its_leader_is_reaped(void **state)
{
	struct arb_pidfd p;
	int leader, member;

	start_group(&leader, &member);
	arb_pidfd_init(&p);
	assert_int_equal(arb_pidfd_hold(&p, leader), 0);
	assert_int_equal(arb_pidfd_signal(&p, SIGKILL), 0);
	assert_true(WIFSIGNALED(reap(leader)));
	assert_int_equal(arb_pidfd_signal(&p, 0), -ESRCH);
	if (!kernel_signals_groups_by_pidfd()) {
		/* Before 6.9 the group is lost with its leader. */
		assert_int_equal(arb_pidfd_signal_group(&p, SIGTERM), -ESRCH);
		(void)kill(member, SIGKILL);
		(void)reap(member);
		arb_pidfd_release(&p);
		return;
	}
	assert_int_equal(arb_pidfd_signal_group(&p, SIGTERM), 0);
	assert_int_equal(WTERMSIG(reap(member)), SIGTERM);
	/* Empty now: its number may be anyone's. */
	assert_int_equal(arb_pidfd_signal_group(&p, 0), -ESRCH);
	arb_pidfd_release(&p);
}

static void
test_without_a_pidfd_a_number_serves_until_the_reap(void **state)
{
	struct arb_pidfd p;
	int leader, member;

	start_group(&leader, &member);
	arb_pidfd_init(&p);
	assert_int_equal(arb_pidfd_hold(&p, leader), 0);
	close(p.fd); /* as when pidfd_open(2) failed */
	p.fd = -1;
	assert_int_equal(arb_pidfd_signal_group(&p, 0), 0);
	assert_int_equal(kill(leader, SIGKILL), 0);
	(void)reap(leader);
	arb_pidfd_reaped(&p);
	/* The member still holds the number, but it is not asked. */
	assert_int_equal(arb_pidfd_signal_group(&p, 0), -ESRCH);
	assert_int_equal(arb_pidfd_signal(&p, 0), -ESRCH);
	assert_int_equal(kill(member, SIGKILL), 0);
	(void)reap(member);
	arb_pidfd_release(&p);
}

static void
test_a_process_that_leads_no_group(void **state)
{
	struct arb_pidfd p;
	int pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		for (;;)
			pause();
	}
	arb_pidfd_init(&p);
	assert_int_equal(arb_pidfd_hold(&p, pid), 0);
	assert_int_equal(arb_pidfd_signal_group(&p, 0), -ESRCH);
	assert_int_equal(arb_pidfd_signal(&p, SIGTERM), 0);
	assert_int_equal(WTERMSIG(reap(pid)), SIGTERM);
	arb_pidfd_release(&p);
	assert_int_equal(p.fd, -1);
	assert_int_equal(arb_pidfd_signal(&p, 0), -ESRCH);
}

/* Until the zombie stage, nothing is opened for a child held by number;
 * a pidfd taken of its zombie reaches its group after the reap, and is
 * dropped once the group is empty. */
static void
test_by_number_then_by_pidfd_from_the_zombie(void **state)
{
	struct arb_pidfd p;
	siginfo_t si;
	int leader, member;

	start_group(&leader, &member);
	arb_pidfd_init(&p);
	arb_pidfd_hold_child(&p, leader);
	assert_int_equal(p.fd, -1);
	assert_int_equal(arb_pidfd_signal_group(&p, 0), 0);
	assert_int_equal(kill(leader, SIGKILL), 0);
	memset(&si, 0, sizeof(si));
	assert_int_equal(waitid(P_PID, leader, &si, WEXITED | WNOWAIT), 0);
	assert_int_equal(arb_pidfd_before_reap(&p), 0);
	assert_true(p.fd >= 0);
	(void)reap(leader);
	arb_pidfd_reaped(&p);
	assert_int_equal(arb_pidfd_signal(&p, 0), -ESRCH);
	if (kernel_signals_groups_by_pidfd()) {
		assert_int_equal(arb_pidfd_signal_group(&p, SIGTERM), 0);
		assert_int_equal(WTERMSIG(reap(member)), SIGTERM);
	} else {
		assert_int_equal(arb_pidfd_signal_group(&p, 0), -ESRCH);
		(void)kill(member, SIGKILL);
		(void)reap(member);
	}
	assert_int_equal(arb_pidfd_signal_group(&p, 0), -ESRCH);
	arb_pidfd_drop(&p);
	assert_int_equal(p.fd, -1);
	assert_int_equal(p.pid, leader); /* a name only */
	assert_int_equal(arb_pidfd_signal_group(&p, 0), -ESRCH);
	assert_int_equal(arb_pidfd_signal(&p, 0), -ESRCH);
	arb_pidfd_release(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_group_is_reached_after_its_leader_is_reaped),
		cmocka_unit_test(test_without_a_pidfd_a_number_serves_until_the_reap),
		cmocka_unit_test(test_a_process_that_leads_no_group),
		cmocka_unit_test(test_by_number_then_by_pidfd_from_the_zombie),
	};

	/* Orphaned members come to this test, which reaps them. */
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
