/*
 * listen_echo.c - a socket-activated service for the tests, written
 * against libsystemd's sd_listen_fds as real services are.
 *
 * It serves every socket it was passed (fds 3, 4, ...): on a stream it
 * accepts one connection at a time and reads one request line, on a
 * datagram socket it reads one datagram. The request "crash" makes it
 * exit 1 at once, "exit" exit 0; any other gets the reply
 *   pid=PID fds=N names=NAME:NAME... fd=FD\n
 * (FD the socket it came in on) and, on a stream, the connection closed.
 * Without sockets it exits 2, so a test sees LISTEN_PID go wrong.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#define MAX_FDS 16

static int nfds;
static char names[256];

static void
answer(const char *req, int fd, char *reply, size_t size)
{
	if (strncmp(req, "crash", 5) == 0)
		exit(1);
	if (strncmp(req, "exit", 4) == 0)
		exit(0);
	snprintf(reply, size, "pid=%d fds=%d names=%s fd=%d\n", (int)getpid(),
		 nfds, names, fd);
}

/* One connection: a request line within two seconds, then the reply. */
static void
serve_stream(int lfd)
{
	char req[256], reply[512];
	size_t len = 0;
	int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (c < 0)
		return;
	while (len < sizeof(req) - 1) {
		struct pollfd p = {.fd = c, .events = POLLIN};
		ssize_t got;

		if (poll(&p, 1, 2000) <= 0)
			break;
		got = read(c, req + len, sizeof(req) - 1 - len);
		if (got <= 0)
			break;
		len += (size_t)got;
		if (memchr(req, '\n', len))
			break;
	}
	req[len] = '\0';
	answer(req, lfd, reply, sizeof(reply));
	(void)send(c, reply, strlen(reply), MSG_NOSIGNAL);
	close(c);
}

static void
serve_dgram(int fd)
{
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof(from);
	char req[256], reply[512];
	ssize_t got = recvfrom(fd, req, sizeof(req) - 1, 0,
			       (struct sockaddr *)&from, &fromlen);

	if (got < 0)
		return;
	req[got] = '\0';
	answer(req, fd, reply, sizeof(reply));
	(void)sendto(fd, reply, strlen(reply), MSG_NOSIGNAL,
		     (struct sockaddr *)&from, fromlen);
}

int
main(void)
{
	struct pollfd p[MAX_FDS];
	char **fdnames = NULL;

	nfds = sd_listen_fds_with_names(0, &fdnames);
	if (nfds <= 0 || nfds > MAX_FDS) {
		fprintf(stderr, "listen_echo: sd_listen_fds: %d\n", nfds);
		return 2;
	}
	for (int i = 0; i < nfds; i++) {
		size_t used = strlen(names);

		snprintf(names + used, sizeof(names) - used, "%s%s",
			 i ? ":" : "", fdnames && fdnames[i] ? fdnames[i] : "?");
		p[i].fd = SD_LISTEN_FDS_START + i;
		p[i].events = POLLIN;
	}
	for (;;) {
		if (poll(p, (nfds_t)nfds, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 3;
		}
		for (int i = 0; i < nfds; i++) {
			if (!(p[i].revents & POLLIN))
				continue;
			if (sd_is_socket(p[i].fd, AF_UNSPEC, SOCK_DGRAM, -1) > 0)
				serve_dgram(p[i].fd);
			else
				serve_stream(p[i].fd);
		}
	}
}
