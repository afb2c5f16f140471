/*
 * listen.c - parsing, binding and closing the sockets of socket activation.
 *
 * Returns 0 or -errno and never logs: runtime.c says which service and
 * address failed. It does not pass the sockets on; spawn.c does.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "listen.h"

static int
parse_unix(const char *name, struct arb_listen_addr *ret)
{
	struct sockaddr_un *un = (struct sockaddr_un *)&ret->sa;
	size_t len = strlen(name);

	/* Absolute paths only: arbord's cwd is nobody's business. */
	if (len == 0 || (name[0] != '/' && name[0] != '@') ||
	    (name[0] == '@' && len == 1))
		return -EINVAL;
	if (len >= sizeof(un->sun_path))
		return -ENAMETOOLONG;
	ret->family = AF_UNIX;
	ret->type = SOCK_STREAM;
	un->sun_family = AF_UNIX;
	memcpy(un->sun_path, name, len);
	if (name[0] == '@') {
		/* Abstract: a leading NUL, and exactly the name's bytes. */
		un->sun_path[0] = '\0';
		ret->salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
					 len);
	} else {
		ret->salen = (socklen_t)sizeof(*un);
	}
	return 0;
}

static int
parse_port(const char *text, in_port_t *ret)
{
	unsigned long port = 0;

	if (!*text || strlen(text) > 5)
		return -EINVAL;
	for (const char *p = text; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port == 0 || port > 65535)
		return -EINVAL;
	*ret = htons((in_port_t)port);
	return 0;
}

static int
parse_inet(const char *hostport, struct arb_listen_addr *ret)
{
	const char *colon = strrchr(hostport, ':');
	char host[INET6_ADDRSTRLEN + 2];
	size_t hlen;
	in_port_t port;

	if (!colon || parse_port(colon + 1, &port) < 0)
		return -EINVAL;
	hlen = (size_t)(colon - hostport);
	if (hlen == 0 || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, hostport, hlen);
	host[hlen] = '\0';
	if (strcmp(host, "*") == 0 ||
	    (host[0] == '[' && host[hlen - 1] == ']')) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ret->sa;

		ret->any = host[0] == '*';
		in6->sin6_family = AF_INET6;
		in6->sin6_port = port;
		in6->sin6_addr = in6addr_any;
		host[hlen - 1] = '\0';
		if (!ret->any && (hlen < 3 || inet_pton(AF_INET6, host + 1,
							 &in6->sin6_addr) != 1))
			return -EINVAL;
		ret->family = AF_INET6;
		ret->salen = (socklen_t)sizeof(*in6);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&ret->sa;

		in->sin_family = AF_INET;
		in->sin_port = port;
		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			return -EINVAL;
		ret->family = AF_INET;
		ret->salen = (socklen_t)sizeof(*in);
	}
	return 0;
}

int
arb_listen_parse(const char *text, struct arb_listen_addr *ret)
{
	struct arb_listen_addr a;
	int r;

	memset(&a, 0, sizeof(a));
	if (strncmp(text, "unix:", 5) == 0) {
		r = parse_unix(text + 5, &a);
	} else if (strncmp(text, "tcp:", 4) == 0) {
		a.type = SOCK_STREAM;
		r = parse_inet(text + 4, &a);
	} else if (strncmp(text, "udp:", 4) == 0) {
		a.type = SOCK_DGRAM;
		r = parse_inet(text + 4, &a);
	} else {
		r = -EINVAL;
	}
	if (r < 0)
		return r;
	*ret = a;
	return 0;
}

/* The file of a unix path socket, or NULL (abstract, or not unix). */
static const char *
unix_path(const struct arb_listen_addr *a)
{
	const struct sockaddr_un *un = (const struct sockaddr_un *)&a->sa;

	return a->family == AF_UNIX && un->sun_path[0] ? un->sun_path : NULL;
}

/*
 * Whether a unix path socket has a live listener: the file of a killed
 * arbord refuses connections and may be replaced; a live one may not be,
 * even by an arbord run on another control socket with the same config.
 */
static bool
unix_live(const struct arb_listen_addr *a)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	bool live;

	if (fd < 0)
		return false;
	/* Non-blocking: a full backlog is EAGAIN, and live too. */
	live = connect(fd, (const struct sockaddr *)&a->sa, a->salen) == 0 ||
	       errno == EAGAIN;
	(void)close(fd);
	return live;
}

/* "*" on a kernel without IPv6: IPv4's any address, same port. */
static void
any_to_ipv4(struct arb_listen_addr *a)
{
	in_port_t port = ((struct sockaddr_in6 *)&a->sa)->sin6_port;
	struct sockaddr_in *in = (struct sockaddr_in *)&a->sa;

	memset(&a->sa, 0, sizeof(a->sa));
	in->sin_family = AF_INET;
	in->sin_port = port;
	in->sin_addr.s_addr = htonl(INADDR_ANY);
	a->family = AF_INET;
	a->salen = (socklen_t)sizeof(*in);
}

int
arb_listen_open(const char *text, int *ret_fd)
{
	static const int on = 1, off = 0;
	struct arb_listen_addr a;
	const char *path;
	struct stat st;
	bool bound = false;
	int fd, r;

	r = arb_listen_parse(text, &a);
	if (r < 0)
		return r;
	fd = socket(a.family, a.type | SOCK_CLOEXEC, 0);
	if (fd < 0 && a.any && errno == EAFNOSUPPORT) {
		any_to_ipv4(&a);
		fd = socket(a.family, a.type | SOCK_CLOEXEC, 0);
	}
	if (fd < 0)
		return -errno;
	path = unix_path(&a);
	if (a.family != AF_UNIX && a.type == SOCK_STREAM &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0)
		goto fail;
	if (a.any && a.family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) < 0)
		goto fail;
	/* A socket file left by an arbord that was killed; nothing else. */
	if (path && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		if (unix_live(&a)) {
			errno = EADDRINUSE;
			goto fail;
		}
		if (unlink(path) < 0)
			goto fail;
	}
	if (bind(fd, (struct sockaddr *)&a.sa, a.salen) < 0)
		goto fail;
	bound = true;
	if (path && chmod(path, 0666) < 0)
		goto fail;
	if (a.type == SOCK_STREAM && listen(fd, SOMAXCONN) < 0)
		goto fail;
	*ret_fd = fd;
	return 0;
fail:
	r = -errno;
	if (bound && path)
		(void)unlink(path);
	(void)close(fd);
	return r;
}

void
arb_listen_close(const char *text, int fd)
{
	struct arb_listen_addr a;
	const char *path;
	struct stat st;

	if (fd < 0)
		return;
	(void)close(fd);
	if (arb_listen_parse(text, &a) < 0)
		return;
	path = unix_path(&a);
	if (path && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		(void)unlink(path);
}
