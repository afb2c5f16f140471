/*
 * fdutil.c - descriptor helpers (fdutil.h).
 */
#include "fdutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int
arb_reader_pipe(int *ret_read, int *ret_write)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	if (fcntl(fds[0], F_SETFL, O_NONBLOCK) < 0) {
		int err = errno;

		close(fds[0]);
		close(fds[1]);
		return -err;
	}
	*ret_read = fds[0];
	*ret_write = fds[1];
	return 0;
}

int
arb_reopen(int fd, int flags)
{
	char path[48];
	int r;

	(void)snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	r = open(path, flags | O_CLOEXEC);
	return r < 0 ? -errno : r;
}
