/*
 * forkmask.so - LD_PRELOAD for arbord in tests: in the child of each
 * fork(2) that arbord makes, before any of arbord's own code runs there,
 * appends to the file $FORKMASK the standard signals the child was born
 * with unblocked ("unblocked=" and their numbers), then drops $FORKMASK
 * from the child's environment so that what it execs records nothing.
 * A child born with a signal unblocked runs arbord's handler for it until
 * it resets its dispositions: init/shell.c must fork with every signal
 * blocked.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
record_mask(const char *path)
{
	char line[256] = "unblocked=";
	size_t len = strlen(line);
	sigset_t cur;
	int fd;

	(void)sigprocmask(SIG_BLOCK, NULL, &cur);
	for (int sig = 1; sig < 32; sig++)
		if (sig != SIGKILL && sig != SIGSTOP &&
		    !sigismember(&cur, sig))
			len += (size_t)snprintf(line + len, sizeof(line) - len,
						"%s%d", len > 10 ? " " : "",
						sig);
	line[len++] = '\n';
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		(void)write(fd, line, len);
		(void)close(fd);
	}
}

pid_t
fork(void)
{
	pid_t (*real)(void) = (pid_t (*)(void))dlsym(RTLD_NEXT, "fork");
	int saved = errno;
	pid_t pid = real();
	const char *path = getenv("FORKMASK");

	if (pid == 0 && path &&
	    strcmp(program_invocation_short_name, "arbord") == 0) {
		record_mask(path);
		(void)unsetenv("FORKMASK");
		errno = saved;
	}
	return pid;
}
