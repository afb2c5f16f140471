/*
 * spawn_floor - the least it takes to start N processes.
 *
 *   spawn_floor N OUT TIMEOUT_MS PROGRAM [ARG...]
 *
 * Reads CLOCK_MONOTONIC, then fork+execs PROGRAM N times in a loop (nothing
 * else). "All running" is N lines in OUT (each started PROGRAM, a stamp,
 * appends "<pid> <ns>\n" first thing in main). Prints one line
 *
 *   n=N loop_start_ns=T0 loop_ns=L first_stamp_ns=F last_stamp_ns=S
 *   elapsed_ns=S-T0
 *
 * then SIGKILLs all N children and reaps them. Exits 1 (after the same
 * clean-up) if the N lines have not appeared within TIMEOUT_MS.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr,
			"usage: spawn_floor N OUT TIMEOUT_MS PROGRAM [ARG...]\n");
		return 2;
	}
	long n = strtol(argv[1], NULL, 10);
	const char *out = argv[2];
	uint64_t timeout_ns = (uint64_t)strtoull(argv[3], NULL, 10) * 1000000u;
	if (n <= 0 || n > 100000) {
		fprintf(stderr, "spawn_floor: bad N\n");
		return 2;
	}
	pid_t *pids = calloc((size_t)n, sizeof(*pids));
	if (!pids)
		return 1;
	int fd = open(out, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		perror("spawn_floor: open");
		return 1;
	}

	/* The measured part: a bare fork+exec loop. */
	uint64_t t0 = now_ns();
	long started = 0;
	for (; started < n; started++) {
		pid_t p = fork();
		if (p < 0)
			break;
		if (p == 0) {
			execv(argv[4], argv + 4);
			_exit(127);
		}
		pids[started] = p;
	}
	uint64_t loop_end = now_ns();
	int rc = 0;
	if (started < n) {
		perror("spawn_floor: fork");
		rc = 1;
	}

	/* Wait for n complete lines, reading OUT as it grows. */
	char buf[65536];
	size_t have = 0;
	long lines = 0;
	uint64_t last = 0, first = UINT64_MAX;
	while (rc == 0 && lines < n) {
		ssize_t r = read(fd, buf + have, sizeof(buf) - have);
		if (r < 0 && errno != EINTR) {
			perror("spawn_floor: read");
			rc = 1;
			break;
		}
		if (r > 0) {
			have += (size_t)r;
			size_t off = 0;
			char *nl;
			while ((nl = memchr(buf + off, '\n', have - off))) {
				*nl = '\0';
				const char *sp = strchr(buf + off, ' ');
				uint64_t ns = sp ? strtoull(sp + 1, NULL, 10) : 0;
				if (ns > last)
					last = ns;
				if (ns < first)
					first = ns;
				lines++;
				off = (size_t)(nl - buf) + 1;
			}
			memmove(buf, buf + off, have - off);
			have -= off;
			continue;
		}
		if (now_ns() - t0 > timeout_ns) {
			fprintf(stderr, "spawn_floor: only %ld of %ld lines "
				"within the timeout\n", lines, n);
			rc = 1;
			break;
		}
		struct timespec ms = { 0, 1000000 };
		nanosleep(&ms, NULL);
	}
	if (rc == 0)
		printf("n=%ld loop_start_ns=%" PRIu64 " loop_ns=%" PRIu64
		       " first_stamp_ns=%" PRIu64 " last_stamp_ns=%" PRIu64
		       " elapsed_ns=%" PRIu64 "\n",
		       n, t0, loop_end - t0, first, last, last - t0);
	fflush(stdout);

	for (long i = 0; i < started; i++)
		kill(pids[i], SIGKILL);
	for (long i = 0; i < started; i++)
		while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
			;
	return rc;
}
