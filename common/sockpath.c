/*
 * sockpath.c - the control socket's path and address, for both sides.
 *
 * Only computes names: creating the directory, checking who owns it and
 * removing a stale socket are arbord's job (daemon/control/socket.c).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sockpath.h"

#define SOCK_NAME "arbor.sock"

/* Whether snprintf's result n fits in size bytes and in sun_path. */
static int
fits(int n, size_t size)
{
	if (n < 0 || (size_t)n >= size || (size_t)n > ARB_SOCKPATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

int
arb_sockpath_default_for(unsigned long uid, const char *xdg_runtime_dir,
			 char *buf, size_t size)
{
	char tmp[ARB_SOCKPATH_MAX + 1];
	int n;

	/* Built in tmp, so buf stays untouched on failure. */
	if (uid == 0)
		n = snprintf(tmp, sizeof(tmp), "/run/arbor/%s", SOCK_NAME);
	else if (xdg_runtime_dir && xdg_runtime_dir[0] == '/')
		n = snprintf(tmp, sizeof(tmp), "%s/arbor/%s", xdg_runtime_dir,
			     SOCK_NAME);
	else
		n = snprintf(tmp, sizeof(tmp), "/tmp/arbor-%lu/%s", uid,
			     SOCK_NAME);
	if (fits(n, sizeof(tmp)) || fits(n, size))
		return -ENAMETOOLONG;
	memcpy(buf, tmp, (size_t)n + 1);
	return 0;
}

int
arb_sockpath_default(char *buf, size_t size)
{
	return arb_sockpath_default_for((unsigned long)geteuid(),
					getenv("XDG_RUNTIME_DIR"), buf, size);
}

int
arb_sockpath_pick(const char *explicit_path, char *buf, size_t size)
{
	const char *env = getenv("ARBOR_SOCKET");
	const char *path = explicit_path;
	size_t n;

	if (!path && env && *env)
		path = env;
	if (!path)
		return arb_sockpath_default(buf, size);
	n = strlen(path);
	if (n >= size || n > ARB_SOCKPATH_MAX)
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	return 0;
}

int
arb_sockpath_addr(const char *path, struct sockaddr_un *ret_addr,
		  socklen_t *ret_len)
{
	size_t n = strlen(path);

	if (n == 0)
		return -EINVAL;
	if (n > ARB_SOCKPATH_MAX)
		return -ENAMETOOLONG;
	memset(ret_addr, 0, sizeof(*ret_addr));
	ret_addr->sun_family = AF_UNIX;
	memcpy(ret_addr->sun_path, path, n + 1);
	*ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	return 0;
}
