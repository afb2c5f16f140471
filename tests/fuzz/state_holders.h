/*
 * state_holders.h - the descriptors a re-exec state names, made again in
 * a test process: each at its number, of the kind the state uses it as
 * (a log pipe's read end, a listen socket, a pidfd...), so that the whole
 * reader (arb_runtime_probe) runs on a state saved by another process.
 * Shared by tests/unit/test_state.c and tests/fuzz/state_fuzz.c.
 */
#ifndef ARB_STATE_HOLDERS_H
#define ARB_STATE_HOLDERS_H

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <jansson.h>

enum holder_kind { HOLD_PIPE_READ, HOLD_PIPE_WRITE, HOLD_LISTEN, HOLD_DGRAM,
		   HOLD_PIDFD };

struct holder {
	int fd;
	enum holder_kind kind;
};

#define HOLDERS_MAX 256

struct holders {
	struct holder v[HOLDERS_MAX];
	int n;
	int pid; /* the process the pidfds name */
};

static void
holders_add(struct holders *h, const json_t *v, enum holder_kind kind)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > 65535 || h->n == HOLDERS_MAX)
		return;
	h->v[h->n].fd = (int)json_integer_value(v);
	h->v[h->n].kind = kind;
	h->n++;
}

/* Which kind each descriptor of the state at root is, by where it is
 * named (FORMAT.md). */
static void
holders_find(struct holders *h, const json_t *root)
{
	const json_t *n, *l, *procs;
	size_t i, j;

	h->n = 0;
	json_array_foreach(json_object_get(json_object_get(root, "logs"),
					   "nodes"), i, n) {
		holders_add(h, json_object_get(n, "stdout_fd"), HOLD_PIPE_READ);
		holders_add(h, json_object_get(n, "stderr_fd"), HOLD_PIPE_READ);
		holders_add(h, json_object_get(n, "stdout_write_fd"),
			    HOLD_PIPE_WRITE);
		holders_add(h, json_object_get(n, "stderr_write_fd"),
			    HOLD_PIPE_WRITE);
	}
	json_array_foreach(json_object_get(json_object_get(root, "runtime"),
					   "nodes"), i, n) {
		json_array_foreach(json_object_get(n, "listen"), j, l)
			holders_add(h, json_object_get(l, "fd"), HOLD_LISTEN);
		holders_add(h, json_object_get(n, "ready_fd"), HOLD_PIPE_READ);
		procs = json_object_get(n, "procs");
		holders_add(h, json_object_get(json_object_get(procs, "first"),
					       "fd"), HOLD_PIDFD);
		holders_add(h, json_object_get(json_object_get(procs, "main"),
					       "fd"), HOLD_PIDFD);
	}
	holders_add(h, json_object_get(json_object_get(root, "notify"), "fd"),
		    HOLD_DGRAM);
}

static int
holder_open(const struct holders *h, enum holder_kind kind)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int p[2], fd;

	switch (kind) {
	case HOLD_PIPE_READ:
	case HOLD_PIPE_WRITE:
		if (pipe(p) < 0)
			return -1;
		close(kind == HOLD_PIPE_READ ? p[1] : p[0]);
		return kind == HOLD_PIPE_READ ? p[0] : p[1];
	case HOLD_LISTEN:
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd >= 0 && (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
				listen(fd, 4) < 0)) {
			close(fd);
			return -1;
		}
		return fd;
	case HOLD_DGRAM:
		return socket(AF_UNIX, SOCK_DGRAM, 0);
	case HOLD_PIDFD:
		return (int)syscall(SYS_pidfd_open, h->pid, 0);
	}
	return -1;
}

/* Every descriptor found, open at its number. 0, or -1. */
static int
holders_make(const struct holders *h)
{
	for (int i = 0; i < h->n; i++) {
		int fd = holder_open(h, h->v[i].kind);

		if (fd < 0)
			return -1;
		if (fd != h->v[i].fd) {
			if (dup2(fd, h->v[i].fd) != h->v[i].fd) {
				close(fd);
				return -1;
			}
			close(fd);
		}
	}
	return 0;
}

static void
holders_close(const struct holders *h)
{
	for (int i = 0; i < h->n; i++)
		(void)close(h->v[i].fd);
}

#endif
