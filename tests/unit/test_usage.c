/*
 * test_usage.c - reading what a node uses (usage.c): from a directory laid
 * out as a cgroup (memory.current, pids.current, memory.events... the
 * controller files this host lacks), from a real cgroup2 directory made
 * for the test (cpu.stat, cgroup.threads) when there is one to write, and
 * from /proc. The node's cgroup path is this file's arb_cgroup_rel, a table:
 * the naming rule is cgroup.c's, tested there.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "usage.h"

/* Node i's cgroup, relative to the base: the root supervisor, a service
 * under it, and one whose cgroup was never made. */
static const char *const rel_of[] = {"tree", "tree/svc", "tree/gone"};

int
arb_cgroup_rel(const struct arb_spec *spec, uint32_t node, char *buf,
	       size_t size)
{
	(void)spec;
	if (node >= sizeof(rel_of) / sizeof(rel_of[0]))
		return -ENAMETOOLONG;
	return snprintf(buf, size, "%s", rel_of[node]);
}

enum { ROOT = 0, SVC = 1, GONE = 2 };

/* usage.c reads a node's kind alone. */
static struct arb_spec_node nodes[] = {
	[ROOT] = {.kind = ARB_NODE_SUPERVISOR},
	[SVC] = {.kind = ARB_NODE_SERVICE},
	[GONE] = {.kind = ARB_NODE_SERVICE},
};
static const struct arb_spec no_spec = {.nodes = nodes, .nnodes = 3};

/* ---- a directory laid out as a cgroup ---------------------------------- */

struct fake {
	char base[64];
	struct arb_cgroup cg;
};

static void
put_file(const struct fake *f, const char *rel, const char *text)
{
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->base, rel);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

static void
make_dir(const struct fake *f, const char *rel)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", f->base, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

static int
fake_setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->base, sizeof(f->base), "/tmp/test_usage.XXXXXX");
	assert_non_null(mkdtemp(f->base));
	f->cg.on = true;
	f->cg.base = f->base;
	f->cg.base_fd = open(f->base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->cg.base_fd >= 0);
	f->cg.inotify_fd = -1;
	make_dir(f, "tree");
	make_dir(f, "tree/svc");
	make_dir(f, "tree/svc/inner"); /* the service's own sub-cgroup */
	put_file(f, "tree/cpu.stat", "usage_usec 9000\nuser_usec 6000\n"
				     "system_usec 3000\n");
	put_file(f, "tree/memory.current", "3000000\n");
	put_file(f, "tree/memory.events", "low 0\nhigh 0\nmax 4\noom 2\n"
					  "oom_kill 2\noom_group_kill 0\n");
	put_file(f, "tree/pids.current", "7\n");
	put_file(f, "tree/cgroup.threads", "");
	put_file(f, "tree/svc/cpu.stat", "usage_usec 8000\nuser_usec 5000\n"
					 "system_usec 3000\n"
					 "nr_periods 0\n");
	put_file(f, "tree/svc/memory.current", "2000000\n");
	put_file(f, "tree/svc/memory.peak", "2500000\n");
	put_file(f, "tree/svc/memory.events", "low 0\nhigh 0\nmax 1\n"
					      "oom 1\noom_kill 1\n");
	put_file(f, "tree/svc/pids.current", "5\n");
	put_file(f, "tree/svc/cgroup.threads", "101\n102\n103\n");
	put_file(f, "tree/svc/inner/cgroup.threads", "104\n105\n");
	*state = f;
	return 0;
}

static int
fake_teardown(void **state)
{
	struct fake *f = *state;
	char cmd[128];

	close(f->cg.base_fd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->base);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void
test_every_number_from_the_cgroup_with_its_controllers(void **state)
{
	struct fake *f = *state;
	struct arb_usage u;

	f->cg.controllers = ARB_CGC_MEMORY | ARB_CGC_PIDS | ARB_CGC_CPU;
	arb_usage_read(&f->cg, &no_spec, SVC, getpid(), &u);
	assert_int_equal(u.source, ARB_USAGE_CGROUP);
	assert_string_equal(arb_usage_source_name(u.source), "cgroup");
	assert_int_equal(u.memory, 2000000);
	assert_int_equal(u.memory_peak, 2500000);
	assert_int_equal(u.cpu_usec, 8000);
	assert_int_equal(u.tasks, 5); /* pids.current, not the threads */
	assert_int_equal(u.oom_kills, 1);
}

static void
test_a_kernel_without_memory_peak_leaves_it_unknown(void **state)
{
	struct fake *f = *state;
	struct arb_usage u;

	f->cg.controllers = ARB_CGC_MEMORY | ARB_CGC_PIDS;
	arb_usage_read(&f->cg, &no_spec, ROOT, 0, &u);
	assert_int_equal(u.source, ARB_USAGE_CGROUP);
	assert_int_equal(u.memory, 3000000);
	assert_true(u.memory_peak == ARB_USAGE_UNKNOWN);
	assert_int_equal(u.cpu_usec, 9000);
	assert_int_equal(u.tasks, 7);
	assert_int_equal(u.oom_kills, 2);
}

static void
test_without_pids_the_threads_of_its_cgroups_are_counted(void **state)
{
	struct fake *f = *state;
	struct arb_usage u;

	f->cg.controllers = ARB_CGC_MEMORY;
	arb_usage_read(&f->cg, &no_spec, SVC, 0, &u);
	assert_int_equal(u.tasks, 5); /* 3 in the leaf, 2 in its own child */
	/* A supervisor has none of its own: the caller sums its leaves'. */
	arb_usage_read(&f->cg, &no_spec, ROOT, 0, &u);
	assert_true(u.tasks == ARB_USAGE_UNKNOWN);
}

/* A hybrid host: no memory.current to read, though the fake has one. */
static void
test_without_the_memory_controller_memory_is_the_main_process(void **state)
{
	struct fake *f = *state;
	struct arb_usage u;

	f->cg.controllers = 0;
	arb_usage_read(&f->cg, &no_spec, SVC, getpid(), &u);
	assert_int_equal(u.source, ARB_USAGE_CGROUP_PROC);
	assert_string_equal(arb_usage_source_name(u.source), "cgroup+proc");
	assert_true(u.memory != ARB_USAGE_UNKNOWN && u.memory != 2000000);
	assert_true(u.memory > 100 * 1024 && u.memory <= u.memory_peak);
	assert_int_equal(u.cpu_usec, 8000);
	assert_int_equal(u.tasks, 5);
	assert_true(u.oom_kills == ARB_USAGE_UNKNOWN);
	/* A supervisor's memory is its services' (the caller's sum). */
	arb_usage_read(&f->cg, &no_spec, ROOT, 0, &u);
	assert_true(u.memory == ARB_USAGE_UNKNOWN);
	assert_int_equal(u.cpu_usec, 9000);
}

static void
test_a_cgroup_not_there_knows_nothing(void **state)
{
	struct fake *f = *state;
	struct arb_usage u;

	f->cg.controllers = ARB_CGC_MEMORY | ARB_CGC_PIDS;
	arb_usage_read(&f->cg, &no_spec, GONE, 0, &u);
	assert_int_equal(u.source, ARB_USAGE_CGROUP);
	assert_true(u.memory == ARB_USAGE_UNKNOWN);
	assert_true(u.cpu_usec == ARB_USAGE_UNKNOWN);
	assert_true(u.tasks == ARB_USAGE_UNKNOWN);
}

/* ---- /proc --------------------------------------------------------------- */

static void
spin_ms(long ms)
{
	struct timespec start, now;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &start);
	do
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
	while ((now.tv_sec - start.tv_sec) * 1000 +
		       (now.tv_nsec - start.tv_nsec) / 1000000 <
	       ms);
}

static void
test_without_cgroup2_the_main_process_from_proc(void **state)
{
	struct arb_cgroup off = {.on = false, .base_fd = -1};
	struct arb_usage u, later;

	(void)state;
	arb_usage_read(&off, &no_spec, SVC, getpid(), &u);
	assert_int_equal(u.source, ARB_USAGE_PROC);
	assert_string_equal(arb_usage_source_name(u.source), "proc");
	assert_true(u.memory > 100 * 1024 && u.memory <= u.memory_peak);
	assert_int_equal(u.tasks, 1);
	assert_true(u.cpu_usec != ARB_USAGE_UNKNOWN);
	assert_true(u.oom_kills == ARB_USAGE_UNKNOWN);
	spin_ms(60);
	/* NULL: no cgroup known, the same. */
	arb_usage_read(NULL, &no_spec, SVC, getpid(), &later);
	assert_int_equal(later.source, ARB_USAGE_PROC);
	/* Clock ticks: a 60 ms spin is at least 4 of 10 ms. */
	assert_true(later.cpu_usec >= u.cpu_usec + 40000);
}

static void
test_no_process_no_numbers(void **state)
{
	struct arb_usage u;

	(void)state;
	arb_usage_read(NULL, &no_spec, SVC, 0, &u);
	assert_int_equal(u.source, ARB_USAGE_PROC);
	assert_true(u.memory == ARB_USAGE_UNKNOWN);
	assert_true(u.memory_peak == ARB_USAGE_UNKNOWN);
	assert_true(u.cpu_usec == ARB_USAGE_UNKNOWN);
	assert_true(u.tasks == ARB_USAGE_UNKNOWN);
}

static void
test_sums_and_fills_keep_unknown_apart_from_zero(void **state)
{
	const uint64_t U = ARB_USAGE_UNKNOWN;
	struct arb_usage sum = {ARB_USAGE_PROC, U, U, U, U, U};
	struct arb_usage a = {ARB_USAGE_PROC, 10, 20, 0, 1, U};
	struct arb_usage b = {ARB_USAGE_PROC, 5, U, 7, 2, U};
	struct arb_usage own = {ARB_USAGE_CGROUP_PROC, U, U, 100, 9, U};

	(void)state;
	arb_usage_add(&sum, &a);
	arb_usage_add(&sum, &b);
	assert_int_equal(sum.memory, 15);
	assert_int_equal(sum.memory_peak, 20);
	assert_int_equal(sum.cpu_usec, 7);
	assert_int_equal(sum.tasks, 3);
	assert_true(sum.oom_kills == U);
	arb_usage_fill_unknown(&own, &sum);
	assert_int_equal(own.source, ARB_USAGE_CGROUP_PROC);
	assert_int_equal(own.memory, 15);
	assert_int_equal(own.cpu_usec, 100); /* its cgroup's, kept */
	assert_int_equal(own.tasks, 9);
}

/* ---- a real cgroup2 directory ------------------------------------------- */

#define UNIFIED "/sys/fs/cgroup/unified"

struct real {
	char base[128];
	struct arb_cgroup cg;
	int child; /* in tree/svc; 0: none */
};

static void
real_remove(struct real *r)
{
	static const char *const dirs[] = {"tree/svc", "tree/gone", "tree", ""};
	char path[256];

	if (r->child > 0) {
		(void)kill(r->child, SIGKILL);
		(void)waitpid(r->child, NULL, 0);
		r->child = 0;
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", r->base, dirs[i]);
		(void)rmdir(path);
	}
}

static int
real_setup(void **state)
{
	struct real *r = calloc(1, sizeof(*r));
	char path[256];

	if (!r)
		return -1;
	r->cg.base_fd = -1;
	*state = r;
	snprintf(r->base, sizeof(r->base), UNIFIED "/test_usage.%d",
		 (int)getpid());
	if (geteuid() != 0 || mkdir(r->base, 0755) < 0)
		return 0; /* the test skips */
	snprintf(path, sizeof(path), "%s/tree", r->base);
	if (mkdir(path, 0755) < 0)
		return 0;
	snprintf(path, sizeof(path), "%s/tree/svc", r->base);
	if (mkdir(path, 0755) < 0)
		return 0;
	r->cg.base_fd = open(r->base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r->cg.on = r->cg.base_fd >= 0;
	r->cg.base = r->base;
	r->cg.inotify_fd = -1;
	return 0;
}

static int
real_teardown(void **state)
{
	struct real *r = *state;

	real_remove(r);
	if (r->cg.base_fd >= 0)
		close(r->cg.base_fd);
	free(r);
	return 0;
}

/* A child that moves itself into tree/svc, spins for spin ms, says so
 * on the pipe, then sleeps. */
static int
start_in_svc(const struct real *r, int spin)
{
	char path[256], pid[32], done = 1;
	int fds[2], child, fd;

	assert_int_equal(pipe(fds), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		snprintf(path, sizeof(path), "%s/tree/svc/cgroup.procs",
			 r->base);
		snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
		fd = open(path, O_WRONLY);
		if (fd < 0 || write(fd, pid, strlen(pid)) < 0)
			_exit(1);
		spin_ms(spin);
		if (write(fds[1], &done, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &done, 1), 1);
	close(fds[0]);
	return child;
}

static void
test_a_real_cgroup_counts_its_process_and_its_cpu(void **state)
{
	struct real *r = *state;
	struct arb_usage u, top;

	if (!r->cg.on)
		skip(); /* no writable cgroup2 at UNIFIED */
	r->child = start_in_svc(r, 50);
	arb_usage_read(&r->cg, &no_spec, SVC, r->child, &u);
	assert_int_equal(u.source, ARB_USAGE_CGROUP_PROC);
	assert_int_equal(u.tasks, 1);
	assert_true(u.cpu_usec >= 40000 && u.cpu_usec != ARB_USAGE_UNKNOWN);
	assert_true(u.memory > 0 && u.memory != ARB_USAGE_UNKNOWN);
	/* The supervisor's cgroup: its cpu.stat holds its children's;
	 * its tasks are the caller's sum. */
	arb_usage_read(&r->cg, &no_spec, ROOT, 0, &top);
	assert_true(top.tasks == ARB_USAGE_UNKNOWN);
	assert_true(top.cpu_usec >= u.cpu_usec);
	/* Gone, the cgroup is empty: zeros, the CPU it used kept. */
	assert_int_equal(kill(r->child, SIGKILL), 0);
	assert_int_equal(waitpid(r->child, NULL, 0), r->child);
	r->child = 0;
	arb_usage_read(&r->cg, &no_spec, SVC, 0, &u);
	assert_int_equal(u.tasks, 0);
	assert_true(u.cpu_usec >= 40000);
	assert_true(u.memory == ARB_USAGE_UNKNOWN);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_every_number_from_the_cgroup_with_its_controllers,
			fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(
			test_a_kernel_without_memory_peak_leaves_it_unknown,
			fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(
			test_without_pids_the_threads_of_its_cgroups_are_counted,
			fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(
			test_without_the_memory_controller_memory_is_the_main_process,
			fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(
			test_a_cgroup_not_there_knows_nothing, fake_setup,
			fake_teardown),
		cmocka_unit_test(test_without_cgroup2_the_main_process_from_proc),
		cmocka_unit_test(test_no_process_no_numbers),
		cmocka_unit_test(test_sums_and_fills_keep_unknown_apart_from_zero),
		cmocka_unit_test_setup_teardown(
			test_a_real_cgroup_counts_its_process_and_its_cpu,
			real_setup, real_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
