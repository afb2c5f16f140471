/*
 * listen.h - the sockets of socket activation (listen = [ ... ]).
 *
 * arbord binds them at start-up, before the tree boots, and holds them
 * for its whole life: while a service restarts, its clients wait in the
 * socket's backlog instead of being refused. Each start passes them to
 * the service as descriptors 3, 4, ... (spawn.h).
 */
#ifndef ARB_LISTEN_H
#define ARB_LISTEN_H

#include <stdbool.h>
#include <sys/socket.h>

/*
 * An address as written in the configuration:
 *   tcp:HOST:PORT  udp:HOST:PORT  unix:/PATH  unix:@ABSTRACT
 * HOST is a numeric IPv4 address, a numeric IPv6 address in brackets
 * ("[::1]"), or "*" for every address of both families; PORT is 1-65535.
 */
struct arb_listen_addr {
	int family;  /* AF_INET, AF_INET6 or AF_UNIX */
	int type;    /* SOCK_STREAM (tcp, unix) or SOCK_DGRAM (udp) */
	bool any;    /* "*": IPv6's any address, IPv4 included */
	struct sockaddr_storage sa;
	socklen_t salen;
};

/*
 * Parses text into *ret. 0, or -EINVAL when it is malformed and
 * -ENAMETOOLONG when a unix path does not fit (*ret untouched then).
 * Makes no syscalls: config/load.c may use it to validate.
 */
int arb_listen_parse(const char *text, struct arb_listen_addr *ret);

/*
 * Creates the socket of text, close-on-exec, bound and (for a stream)
 * listening with the largest backlog. tcp sets SO_REUSEADDR, so a restarted
 * arbord can bind at once; "*" binds IPv6 with IPV6_V6ONLY off (plain IPv4
 * when the kernel has no IPv6); a unix path replaces a stale socket file
 * (one nobody listens on; nothing else) and is made 0666, as the service
 * decides whom it serves.
 * 0 and *ret_fd, or -errno (*ret_fd untouched).
 */
int arb_listen_open(const char *text, int *ret_fd);

/*
 * Closes fd, a socket arb_listen_open() made for text, and removes its
 * unix path if that is still a socket. fd < 0 is a no-op.
 */
void arb_listen_close(const char *text, int fd);

#endif
