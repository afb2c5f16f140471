/*
 * spawn_cgroup_bench - what starting a service in its cgroup costs
 * (spawn.c), beside a start without one.
 *
 *   spawn_cgroup_bench [SPAWNS [RUNS]]     (2000 and 5 by default; root)
 *
 * Three ways, interleaved run by run: no cgroup (clone), into a cgroup by
 * clone3's CLONE_INTO_CGROUP, and into it by the child's own write to
 * cgroup.procs (the fallback before Linux 5.7). Each run starts /bin/true
 * SPAWNS times, one after the other: arb_spawn_service, its status pipe
 * to EOF (exec), the reap. Prints per way the median over RUNS of the
 * microseconds a start takes whole, of the CPU time it costs (this
 * process's and the children's, user and system: less sensitive to a
 * busy machine than the wall clock), and of arbord's own call, with the
 * longest call of all (clone3 into a cgroup takes the kernel's
 * cgroup_mutex in arbord: it waits while another process holds it).
 * The cgroup is made under the cgroup2 mount and removed at the end. Not
 * run by `make bench`: by hand, on a quiet machine.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_time.h"
#include "envp.h"
#include "spawn.h"

enum way { NO_CGROUP, BY_CLONE3, BY_PROCS, WAYS };

static const char *const way_names[WAYS] = {
	[NO_CGROUP] = "no cgroup", [BY_CLONE3] = "clone3 into cgroup",
	[BY_PROCS] = "child writes cgroup.procs"};

static const char *const mounts[] = {"/sys/fs/cgroup/unified",
				     "/sys/fs/cgroup"};

/* One start of /bin/true, to its reap; the parent's call time added to
 * *call_ms, and kept in *max_ms when it is the longest. 0, or -1 when it
 * failed. */
static int
one_start(struct arb_spawner *sp, const struct arb_spec_node *n,
	  struct arb_envp *env, int cgroup_fd, double *call_ms, double *max_ms)
{
	struct arb_spawn_io io = {.stdout_fd = -1, .stderr_fd = -1,
				  .ready_fd = -1, .cgroup_fd = cgroup_fd};
	struct arb_start st = {0};
	const char *step = NULL;
	double t0 = now_ms();
	int r, status;

	r = arb_spawn_service(sp, n, env, &io, &st, &step);
	t0 = now_ms() - t0;
	*call_ms += t0;
	if (t0 > *max_ms)
		*max_ms = t0;
	if (r < 0) {
		fprintf(stderr, "spawn: %s: %s\n", step, strerror(-r));
		return -1;
	}
	while ((r = arb_start_read(sp, &st, &step)) == ARB_START_PENDING) {
		struct pollfd p = {.fd = st.status_fd, .events = POLLIN};

		(void)poll(&p, 1, 5000);
	}
	if (r < 0)
		fprintf(stderr, "start: %s: %s\n", step, strerror(-r));
	while (waitpid(-1, &status, 0) < 0 && errno == EINTR)
		;
	return r < 0 ? -1 : 0;
}

/* CPU time used so far by this process and its reaped children, in ms. */
static double
cpu_ms(void)
{
	struct rusage self, children;

	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &children);
	return (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec +
			children.ru_utime.tv_sec + children.ru_stime.tv_sec) *
		       1e3 +
	       (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec +
			children.ru_utime.tv_usec + children.ru_stime.tv_usec) /
		       1e3;
}

static int
by_ms(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median_of(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), by_ms);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int
main(int argc, char **argv)
{
	static char *args[] = {"true", NULL};
	static char *envv[] = {"PATH=/usr/bin:/bin", NULL};
	int spawns = argc > 1 ? atoi(argv[1]) : 2000;
	int runs = argc > 2 ? atoi(argv[2]) : 5;
	double whole[WAYS][64], cpu[WAYS][64], call[WAYS][64];
	double call_max[WAYS] = {0};
	struct arb_spec_node n = {.exec_path = "/bin/true", .argv = args,
				  .umask = -1, .ready_fd = -1};
	struct arb_envp env = {.v = envv};
	struct arb_spawner sp = {0};
	char dir[256] = "";
	int devnull, cgroup_fd = -1, failed = 0;

	if (spawns < 1 || runs < 1 || runs > 64) {
		fprintf(stderr, "usage: spawn_cgroup_bench [SPAWNS [RUNS<=64]]\n");
		return 2;
	}
	for (size_t i = 0; i < sizeof(mounts) / sizeof(mounts[0]); i++) {
		snprintf(dir, sizeof(dir), "%s/arbor-spawn-bench-%d", mounts[i],
			 (int)getpid());
		if (mkdir(dir, 0755) == 0)
			break;
		dir[0] = '\0';
	}
	if (!dir[0]) {
		fprintf(stderr, "spawn_cgroup_bench: no cgroup2 to write\n");
		return 1;
	}
	cgroup_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (cgroup_fd < 0 || devnull < 0 || arb_spawner_init(&sp, devnull) < 0) {
		perror("spawn_cgroup_bench");
		failed = 1;
		goto out;
	}
	for (int run = 0; run < runs && !failed; run++)
		for (int w = 0; w < WAYS && !failed; w++) {
			double t0 = now_ms(), c0 = cpu_ms();

			sp.cgroup_by_procs = w == BY_PROCS;
			call[w][run] = 0;
			for (int i = 0; i < spawns && !failed; i++)
				failed = one_start(&sp, &n, &env,
						   w == NO_CGROUP ? -1
								  : cgroup_fd,
						   &call[w][run],
						   &call_max[w]) < 0;
			whole[w][run] = now_ms() - t0;
			cpu[w][run] = cpu_ms() - c0;
		}
	if (!failed)
		for (int w = 0; w < WAYS; w++)
			printf("%-26s start %7.1f us  cpu %6.1f us  call "
			       "%5.1f us (longest %6.1f)\n",
			       way_names[w],
			       median_of(whole[w], runs) * 1e3 / spawns,
			       median_of(cpu[w], runs) * 1e3 / spawns,
			       median_of(call[w], runs) * 1e3 / spawns,
			       call_max[w] * 1e3);
	if (!failed)
		printf("(per start: medians of %d runs of %d; longest: of "
		       "all)\n",
		       runs, spawns);
	arb_spawner_done(&sp);
out:
	if (cgroup_fd >= 0)
		close(cgroup_fd);
	if (rmdir(dir) < 0)
		fprintf(stderr, "cannot remove %s: %s\n", dir, strerror(errno));
	return failed;
}
