/*
 * test_spawn.c - a service starts in its cgroup (spawn.c): through clone3's
 * CLONE_INTO_CGROUP, or, once clone3 has refused (a kernel before 5.7,
 * forced here with ARBOR_FAULT_CLONE3), by moving itself there first;
 * with the spawner's slots and without. Real processes, and a cgroup of
 * its own under the cgroup2 mount for each test, removed however the test
 * ends; skipped where no cgroup2 is writable (not root, no mount).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "envp.h"
#include "spawn.h"

/* The cgroup2 mount: a unified host's, or a hybrid one's beside v1. */
static const char *const mounts[] = {"/sys/fs/cgroup/unified",
				     "/sys/fs/cgroup"};

struct fixture {
	char dir[512];   /* the test's cgroup; "": none could be made */
	char rel[300];   /* its path as /proc/PID/cgroup writes it */
	int dir_fd;
	int devnull;
	struct arb_spawner sp;
	struct arb_spec_node n;
	struct arb_envp env;
};

static char *child_argv[] = {
	"sh", "-c", "cat /proc/self/cgroup && exec ls /proc/self/fd", NULL};
static char *child_env[] = {"PATH=/usr/bin:/bin", NULL};

/* Whether mount is cgroup2 (cgroup.procs at its top, no v1 "tasks"). */
static bool
is_cgroup2(const char *mount)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/cgroup.procs", mount);
	if (access(path, F_OK) != 0)
		return false;
	snprintf(path, sizeof(path), "%s/tasks", mount);
	return access(path, F_OK) != 0;
}

/* This process's cgroup2 path ("/" or "/a/b"), from its "0::" line. */
static void
own_cgroup(char *buf, size_t size)
{
	FILE *f = fopen("/proc/self/cgroup", "r");
	char line[256];

	buf[0] = '\0';
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "0::", 3) == 0) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(buf, size, "%s", line + 3);
		}
	if (f)
		fclose(f);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char own[128];
	size_t i;

	assert_non_null(f);
	own_cgroup(own, sizeof(own));
	f->dir_fd = -1;
	for (i = 0; i < sizeof(mounts) / sizeof(mounts[0]); i++)
		if (is_cgroup2(mounts[i]))
			break;
	if (i < sizeof(mounts) / sizeof(mounts[0])) {
		snprintf(f->rel, sizeof(f->rel), "%s/arbor-test-spawn-%d",
			 strcmp(own, "/") == 0 ? "" : own, (int)getpid());
		snprintf(f->dir, sizeof(f->dir), "%s%s", mounts[i], f->rel);
		if (mkdir(f->dir, 0755) == 0)
			f->dir_fd = open(f->dir,
					 O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		else
			f->dir[0] = '\0';
	}
	f->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	assert_true(f->devnull >= 0);
	assert_int_equal(arb_spawner_init(&f->sp, f->devnull), 0);
	f->n.exec_path = "/bin/sh";
	f->n.argv = child_argv;
	f->n.umask = -1;
	f->n.ready_fd = -1;
	f->env.v = child_env;
	*state = f;
	return 0;
}

/* Every child reaped: an exited child is out of its cgroup already. */
static void
reap_all(void)
{
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
}

/* The test's cgroup removed, with what a failed test left in it. */
static void
remove_cgroup(struct fixture *f)
{
	char path[600];
	int fd;

	snprintf(path, sizeof(path), "%s/cgroup.kill", f->dir);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		/* Unkilled, the processes would hang reap_all(). */
		assert_int_equal(write(fd, "1", 1), 1);
		close(fd);
	}
	reap_all();
	if (f->dir_fd >= 0)
		close(f->dir_fd);
	snprintf(path, sizeof(path), "%s/gone", f->dir);
	(void)rmdir(path);
	if (rmdir(f->dir) < 0)
		fprintf(stderr, "test_spawn: cannot remove %s: %s\n", f->dir,
			strerror(errno));
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	unsetenv("ARBOR_FAULT_CLONE3");
	if (f->dir[0])
		remove_cgroup(f);
	reap_all();
	arb_spawner_done(&f->sp);
	close(f->devnull);
	free(f);
	return 0;
}

/* The test needs a cgroup of its own; skipped when none could be made. */
static void
need_cgroup(const struct fixture *f)
{
	if (f->dir_fd < 0)
		skip();
}

/* Starts take the path that copies the table (as with few descriptors). */
static void
drop_slots(struct arb_spawner *sp)
{
	for (int i = 0; i < sp->nslots; i++)
		close(sp->slots[i]);
	sp->nslots = 0;
	sp->slot_top = 0;
}

/* The start's outcome, waiting for its status pipe up to 5 s. */
static int
start_outcome(struct fixture *f, struct arb_start *st, const char **step)
{
	int r;

	for (;;) {
		struct pollfd p = {.fd = st->status_fd, .events = POLLIN};

		r = arb_start_read(&f->sp, st, step);
		if (r != ARB_START_PENDING)
			return r;
		assert_int_equal(poll(&p, 1, 5000), 1);
	}
}

/*
 * Starts the child with cgroup_fd (a copy the test closes as soon as the
 * start returns, as arbord does) and reads what it printed: its cgroup
 * (the "0::" line) into cgroup, its descriptors after exec into fds
 * ("0 1 2 3": ls's own, with its directory's). The start must succeed.
 */
static void
run_child(struct fixture *f, int cgroup_fd, char *cgroup, size_t size,
	  char *fds, size_t fds_size)
{
	struct arb_start st = {0};
	struct arb_spawn_io io = {.stderr_fd = -1, .ready_fd = -1};
	const char *step = NULL;
	char out[4096], *line, *save;
	size_t got = 0;
	ssize_t r;
	int pipefd[2], status;

	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	io.stdout_fd = pipefd[1];
	io.cgroup_fd = cgroup_fd >= 0 ? fcntl(cgroup_fd, F_DUPFD_CLOEXEC, 3)
				      : -1;
	assert_int_equal(arb_spawn_service(&f->sp, &f->n, &f->env, &io, &st,
					   &step), 0);
	if (io.cgroup_fd >= 0)
		close(io.cgroup_fd);
	close(pipefd[1]);
	assert_int_equal(start_outcome(f, &st, &step), 0);
	while ((r = read(pipefd[0], out + got, sizeof(out) - 1 - got)) > 0)
		got += (size_t)r;
	close(pipefd[0]);
	out[got] = '\0';
	assert_true(waitpid(-1, &status, 0) > 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	cgroup[0] = fds[0] = '\0';
	for (line = strtok_r(out, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "0::", 3) == 0)
			snprintf(cgroup, size, "%s", line + 3);
		else if (line[0] >= '0' && line[0] <= '9' && !strchr(line, ':'))
			snprintf(fds + strlen(fds), fds_size - strlen(fds),
				 "%s%s", fds[0] ? " " : "", line);
	}
}

/* The child runs in the test's cgroup, holding only 0-2 (and ls's 3). */
static void
assert_child_in_cgroup(struct fixture *f)
{
	char cgroup[256], fds[64];

	run_child(f, f->dir_fd, cgroup, sizeof(cgroup), fds, sizeof(fds));
	assert_string_equal(cgroup, f->rel);
	assert_string_equal(fds, "0 1 2 3");
}

static void
test_without_a_cgroup_the_child_stays_in_arbords(void **state)
{
	struct fixture *f = *state;
	char cgroup[256], fds[64], own[256];

	own_cgroup(own, sizeof(own));
	run_child(f, -1, cgroup, sizeof(cgroup), fds, sizeof(fds));
	assert_string_equal(cgroup, own);
	assert_string_equal(fds, "0 1 2 3");
	assert_false(f->sp.cgroup_by_procs);
}

static void
test_clone3_starts_the_child_in_its_cgroup(void **state)
{
	struct fixture *f = *state;

	need_cgroup(f);
	assert_true(f->sp.nslots > 0);
	assert_child_in_cgroup(f);
	assert_false(f->sp.cgroup_by_procs);
}

static void
test_clone3_without_slots(void **state)
{
	struct fixture *f = *state;

	need_cgroup(f);
	drop_slots(&f->sp);
	assert_child_in_cgroup(f);
	assert_false(f->sp.cgroup_by_procs);
}

/* The bug it guards against: a kernel before 5.7 fails every start. */
static void
test_a_missing_clone3_is_learnt_and_the_child_moves_itself(void **state)
{
	struct fixture *f = *state;

	need_cgroup(f);
	assert_true(f->sp.nslots > 0);
	setenv("ARBOR_FAULT_CLONE3", "38", 1); /* ENOSYS: before 5.3 */
	assert_child_in_cgroup(f);
	assert_true(f->sp.cgroup_by_procs);
	/* Learnt: no clone3 is tried again, the fault notwithstanding. */
	assert_child_in_cgroup(f);
}

static void
test_clone3_without_clone_into_cgroup_and_without_slots(void **state)
{
	struct fixture *f = *state;

	need_cgroup(f);
	drop_slots(&f->sp);
	setenv("ARBOR_FAULT_CLONE3", "7", 1); /* E2BIG: 5.3 to 5.6 */
	assert_child_in_cgroup(f);
	assert_true(f->sp.cgroup_by_procs);
	assert_child_in_cgroup(f);
}

/* A cgroup gone before the start: the start fails at step "cgroup". */
static void
assert_start_fails_in_a_removed_cgroup(struct fixture *f)
{
	struct arb_start st = {0};
	struct arb_spawn_io io = {.stdout_fd = -1, .stderr_fd = -1,
				  .ready_fd = -1};
	char gone[600];
	const char *step = NULL;
	int r, status;

	snprintf(gone, sizeof(gone), "%s/gone", f->dir);
	assert_int_equal(mkdir(gone, 0755), 0);
	io.cgroup_fd = open(gone, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(io.cgroup_fd >= 0);
	assert_int_equal(rmdir(gone), 0);
	r = arb_spawn_service(&f->sp, &f->n, &f->env, &io, &st, &step);
	close(io.cgroup_fd);
	if (r == 0) { /* the child found out */
		r = start_outcome(f, &st, &step);
		assert_true(waitpid(-1, &status, 0) > 0);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 127);
	}
	assert_true(r < 0);
	assert_non_null(step);
	assert_string_equal(step, "cgroup");
}

static void
test_clone3_into_a_removed_cgroup_fails_at_step_cgroup(void **state)
{
	struct fixture *f = *state;

	need_cgroup(f);
	assert_start_fails_in_a_removed_cgroup(f);
	assert_false(f->sp.cgroup_by_procs);
}

static void
test_a_child_that_cannot_move_itself_fails_at_step_cgroup(void **state)
{
	struct fixture *f = *state;

	need_cgroup(f);
	f->sp.cgroup_by_procs = true;
	assert_start_fails_in_a_removed_cgroup(f);
	drop_slots(&f->sp);
	assert_start_fails_in_a_removed_cgroup(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_without_a_cgroup_the_child_stays_in_arbords, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_clone3_starts_the_child_in_its_cgroup, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_clone3_without_slots,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_a_missing_clone3_is_learnt_and_the_child_moves_itself,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_clone3_without_clone_into_cgroup_and_without_slots,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_clone3_into_a_removed_cgroup_fails_at_step_cgroup,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_a_child_that_cannot_move_itself_fails_at_step_cgroup,
			setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
