/*
 * respawn_floor - the least a supervisor can do to restart a process.
 *
 *   respawn_floor PROGRAM [ARG...]
 *
 * fork+exec PROGRAM, waitpid for it, and again, forever: nothing else
 * (no logging, no fd or signal set-up in the child). run.py measures it
 * exactly as it measures arbord: SIGKILL the current child, time until the
 * new child's first stamp. SIGTERM kills the current child, reaps it and
 * exits 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static volatile pid_t child;

static void finish(void)
{
	pid_t c = child;
	if (c > 0) {
		kill(c, SIGKILL);
		while (waitpid(c, NULL, 0) < 0 && errno == EINTR)
			;
	}
	_exit(0);
}

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
	if (child > 0)
		finish();
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: respawn_floor PROGRAM [ARG...]\n");
		return 2;
	}
	struct sigaction sa = { .sa_handler = on_term };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);

	for (;;) {
		pid_t p = fork();
		if (p < 0) {
			perror("respawn_floor: fork");
			return 1;
		}
		if (p == 0) {
			execv(argv[1], argv + 1);
			_exit(127);
		}
		child = p;
		if (stop)
			finish();
		while (waitpid(p, NULL, 0) < 0 && errno == EINTR)
			;
		child = 0;
		if (stop)
			finish();
	}
}
