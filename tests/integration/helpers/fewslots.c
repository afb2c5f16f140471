/*
 * fewslots.so - LD_PRELOAD for arbord in tests: fcntl(fd, F_DUPFD_CLOEXEC,
 * 3), the call that reserves the spawner's low slots, fails with EMFILE
 * after $FEWSLOTS successes, as in a descriptor table that is nearly full.
 * With too few slots every start must take the path that copies arbord's
 * table into the child.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>

static int
shim(const char *name, int fd, int cmd, long arg)
{
	static int count;
	int (*real)(int, int, ...) =
		(int (*)(int, int, ...))dlsym(RTLD_NEXT, name);
	const char *limit = getenv("FEWSLOTS");

	if (cmd == F_DUPFD_CLOEXEC && arg == 3 && limit &&
	    count++ >= atoi(limit)) {
		errno = EMFILE;
		return -1;
	}
	return real(fd, cmd, arg);
}

int
fcntl(int fd, int cmd, ...)
{
	va_list ap;
	long arg;

	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	return shim("fcntl", fd, cmd, arg);
}

int
fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	long arg;

	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	return shim("fcntl64", fd, cmd, arg);
}
