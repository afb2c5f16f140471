/*
 * kill_floor - the least it takes to stop N processes: the kernel's floor
 * that arbord's stop of a tree is measured against (stop_bench.py).
 *
 *   kill_floor N MODE [PROGRAM [ARG...]]
 *
 * Starts N copies of PROGRAM (default: /bin/sleep 86400), each in its own
 * session as arbord starts a service, and waits until every one has exec'ed
 * (not timed). Then, timed:
 *
 *   ordered   in reverse start order, one at a time: SIGTERM, then waitpid
 *             for that process before the next (OTP's order, T1).
 *   parallel  SIGTERM to all, then waitpid until all are reaped.
 *   ordered-any  as ordered, but reaped the way libev's default loop does
 *             (and any reaper that does not know which child died): on
 *             each SIGCHLD, waitpid(-1, WNOHANG) until it returns 0. The
 *             kernel walks all of the caller's children at each such call,
 *             so this costs O(N) a death: the gap to `ordered` is the
 *             price of not knowing which pid died.
 *
 * Prints one line: n=N mode=MODE elapsed_ns=ELAPSED cpu_ns=CPU, CPU the
 * time the kill_floor process itself spent running
 * (CLOCK_PROCESS_CPUTIME_ID): on a busy machine that, unlike ELAPSED, does
 * not count the waits for a CPU.
 * Any child left on a failure is
 * SIGKILLed and reaped; exit status 1 then, 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KILL_FLOOR_MAX 100000

static char *default_argv[] = {"/bin/sleep", "86400", NULL};

static uint64_t
clock_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Fork+exec argv in a new session; returns its pid once it has exec'ed
 * (the close-on-exec pipe reads EOF), or -1 when it could not.
 */
static pid_t
spawn_one(char **argv)
{
	int status[2], err = 0;
	ssize_t got;
	pid_t pid;

	if (pipe2(status, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		(void)sigprocmask(SIG_SETMASK, &none, NULL);
		(void)setsid();
		execv(argv[0], argv);
		err = errno;
		(void)!write(status[1], &err, sizeof(err));
		_exit(127);
	}
	close(status[1]);
	if (pid < 0) {
		close(status[0]);
		return -1;
	}
	do
		got = read(status[0], &err, sizeof(err));
	while (got < 0 && errno == EINTR);
	close(status[0]);
	if (got != 0) {
		(void)waitpid(pid, NULL, 0);
		fprintf(stderr, "kill_floor: exec %s: %s\n", argv[0],
			strerror(err));
		return -1;
	}
	return pid;
}

static pid_t
reap(pid_t pid)
{
	pid_t r;

	do
		r = waitpid(pid, NULL, 0);
	while (r < 0 && errno == EINTR);
	return r;
}

/* Reverse start order, each one dead and reaped before the next. */
static bool
stop_ordered(const pid_t *pids, long n)
{
	for (long i = n - 1; i >= 0; i--)
		if (kill(pids[i], SIGTERM) < 0 || reap(pids[i]) != pids[i])
			return false;
	return true;
}

/*
 * As stop_ordered, reaping as libev's childcb does: each SIGCHLD, then
 * waitpid(-1, WNOHANG) until nothing is left to reap.
 */
static bool
stop_ordered_any(const pid_t *pids, long n)
{
	sigset_t chld;
	pid_t r;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	for (long i = n - 1; i >= 0; i--) {
		bool reaped = false;

		if (kill(pids[i], SIGTERM) < 0)
			return false;
		while (!reaped) {
			if (sigwaitinfo(&chld, NULL) < 0 && errno != EINTR)
				return false;
			while ((r = waitpid(-1, NULL, WNOHANG | WUNTRACED |
							WCONTINUED)) > 0)
				reaped = reaped || r == pids[i];
		}
	}
	return true;
}

/* All signalled, then all reaped in whatever order they die. */
static bool
stop_parallel(const pid_t *pids, long n)
{
	for (long i = n - 1; i >= 0; i--)
		if (kill(pids[i], SIGTERM) < 0)
			return false;
	for (long i = 0; i < n; i++)
		if (reap(-1) < 0)
			return false;
	return true;
}

static void
kill_left(const pid_t *pids, long n)
{
	for (long i = 0; i < n; i++)
		(void)kill(pids[i], SIGKILL);
	while (reap(-1) > 0)
		;
}

int
main(int argc, char **argv)
{
	char **prog = argc > 3 ? argv + 3 : default_argv;
	sigset_t chld;
	const char *mode;
	bool ok;
	long n, started;
	uint64_t t0, t1, cpu0, cpu1;
	pid_t *pids;

	mode = argc >= 3 ? argv[2] : "";
	if (strcmp(mode, "ordered") != 0 && strcmp(mode, "parallel") != 0 &&
	    strcmp(mode, "ordered-any") != 0) {
		fprintf(stderr, "usage: kill_floor N ordered|parallel|ordered-any "
				"[PROGRAM [ARG...]]\n");
		return 2;
	}
	n = strtol(argv[1], NULL, 10);
	if (n <= 0 || n > KILL_FLOOR_MAX) {
		fprintf(stderr, "kill_floor: bad N '%s'\n", argv[1]);
		return 2;
	}
	/* Blocked before the first fork: sigwaitinfo misses no SIGCHLD. */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	(void)sigprocmask(SIG_BLOCK, &chld, NULL);
	pids = calloc((size_t)n, sizeof(*pids));
	if (!pids)
		return 1;
	for (started = 0; started < n; started++) {
		pids[started] = spawn_one(prog);
		if (pids[started] < 0) {
			fprintf(stderr, "kill_floor: start %ld of %ld: %s\n",
				started + 1, n, strerror(errno));
			kill_left(pids, started);
			return 1;
		}
	}
	cpu0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	t0 = clock_ns(CLOCK_MONOTONIC);
	if (strcmp(mode, "ordered") == 0)
		ok = stop_ordered(pids, n);
	else if (strcmp(mode, "parallel") == 0)
		ok = stop_parallel(pids, n);
	else
		ok = stop_ordered_any(pids, n);
	t1 = clock_ns(CLOCK_MONOTONIC);
	cpu1 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	if (!ok) {
		fprintf(stderr, "kill_floor: stop: %s\n", strerror(errno));
		kill_left(pids, n);
		return 1;
	}
	printf("n=%ld mode=%s elapsed_ns=%" PRIu64 " cpu_ns=%" PRIu64 "\n", n,
	       mode, t1 - t0, cpu1 - cpu0);
	free(pids);
	return 0;
}
