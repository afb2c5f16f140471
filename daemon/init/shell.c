/*
 * shell.c - the emergency shell (shell.h): started with every signal
 * blocked, then, in the child, every disposition back to SIG_DFL and an
 * empty mask, its own session and the console as its terminal. No
 * decisions (init.c and main.c say when) and no logging.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shell.h"
#include "spawn.h"

extern char **environ;

int
arb_shell_start(const struct arb_mode *m, char *const argv[], int *ret_pid)
{
	bool console = !m->in_container && m->real_pid1;
	sigset_t all, old;
	int pid, err;

	if (access(argv[0], X_OK) < 0)
		return -errno; /* no shell: nothing to fork */
	/* Born with every signal blocked: until it resets them, arbord's
	 * handlers are the child's, and must not run there (as spawn.c). */
	sigfillset(&all);
	(void)sigprocmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid != 0) {
		err = errno;
		(void)sigprocmask(SIG_SETMASK, &old, NULL);
		if (pid < 0)
			return -err;
		*ret_pid = pid;
		return 0;
	}
	/* The child: only async-signal-safe calls from here on. */
	arb_spawn_reset_signals(ARB_SIGNALS_ALL);
	sigemptyset(&all);
	(void)sigprocmask(SIG_SETMASK, &all, NULL);
	(void)setsid();
	if (console) {
		int fd = open("/dev/console", O_RDWR);

		if (fd >= 0) {
			(void)ioctl(fd, TIOCSCTTY, 1);
			for (int i = 0; i <= 2; i++)
				(void)dup2(fd, i);
			if (fd > 2)
				close(fd);
		}
	}
	execve(argv[0], argv, environ);
	_exit(127);
}

/*
 * Before any loop exists (main.c's early failure), nothing else reaps:
 * wait here, collecting the orphans that come to PID 1 meanwhile.
 */
int
arb_shell_wait(int pid)
{
	int status, r;

	while ((r = waitpid(-1, &status, 0)) != pid)
		if (r < 0 && errno != EINTR)
			return -errno;
	return status;
}
