/*
 * notify.c - readiness and watchdog messages from services: the sd_notify
 * datagram socket and fd:N readiness pipes (notify.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fdutil.h"
#include "notify.h"

/*
 * systemd reads datagrams of up to its page-sized buffer; longer ones are
 * cut off and ignored here rather than half-understood.
 */
#define NOTIFY_DGRAM_MAX 4096

/* Datagrams read per wake-up: a chatty service cannot hold the loop. */
#define NOTIFY_BATCH 64

/* Descriptors a sender may attach (systemd's fd store); all are closed. */
#define NOTIFY_FDS_MAX 253

struct arb_notify {
	ev_io io;
	struct ev_loop *loop;
	arb_notify_fn *fn;
	void *ctx;
	char address[64]; /* "@arbor/notify/PID/RANDOM" */
	char buf[NOTIFY_DGRAM_MAX + 1];
};

/* ---- parsing ------------------------------------------------------------ */

/* A decimal number without sign, at most max; -1 when anything else. */
static int64_t
parse_number(const char *s, int64_t max)
{
	int64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (max - (*s - '0')) / 10)
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v;
}

static void
assign(struct arb_notify_msg *m, const char *key, const char *value)
{
	int64_t v;

	if (strcmp(key, "READY") == 0)
		m->ready = strcmp(value, "1") == 0;
	else if (strcmp(key, "RELOADING") == 0)
		m->reloading = strcmp(value, "1") == 0;
	else if (strcmp(key, "STOPPING") == 0)
		m->stopping = strcmp(value, "1") == 0;
	else if (strcmp(key, "WATCHDOG") == 0) {
		m->watchdog = strcmp(value, "1") == 0;
		m->watchdog_trigger = strcmp(value, "trigger") == 0;
	} else if (strcmp(key, "STATUS") == 0)
		m->status = value;
	else if (strcmp(key, "MAINPID") == 0) {
		v = parse_number(value, INT32_MAX);
		m->mainpid = v > 0 ? (int)v : 0;
	} else if (strcmp(key, "EXTEND_TIMEOUT_USEC") == 0) {
		v = parse_number(value, INT64_MAX - 999);
		m->extend_ms = v > 0 ? (v + 999) / 1000 : 0;
	} else if (strcmp(key, "ERRNO") == 0) {
		v = parse_number(value, 4095);
		m->errno_value = (int)v;
	}
}

void
arb_notify_parse(char *buf, size_t len, struct arb_notify_msg *ret)
{
	char *line = buf, *end = buf + len;

	memset(ret, 0, sizeof(*ret));
	ret->errno_value = -1;
	buf[len] = '\0';
	while (line < end) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		char *eq;

		if (!nl)
			nl = end;
		*nl = '\0';
		eq = strchr(line, '=');
		/* A NUL inside a line ends it early: harmless, never unsafe. */
		if (eq) {
			*eq = '\0';
			assign(ret, line, eq + 1);
		}
		line = nl + 1;
	}
}

/* ---- the socket ----------------------------------------------------------- */

static void
close_passed_fds(struct msghdr *mh)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			close(fd);
		}
	}
}

static const struct ucred *
sender_of(struct msghdr *mh)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c))
		if (c->cmsg_level == SOL_SOCKET &&
		    c->cmsg_type == SCM_CREDENTIALS &&
		    c->cmsg_len == CMSG_LEN(sizeof(struct ucred)))
			return (const struct ucred *)(void *)CMSG_DATA(c);
	return NULL;
}

/* Reads one datagram; false when there is none left. */
static bool
receive_one(struct arb_notify *n)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct ucred)) +
			 CMSG_SPACE(sizeof(int) * NOTIFY_FDS_MAX)];
	} control;
	struct iovec iov = {.iov_base = n->buf, .iov_len = NOTIFY_DGRAM_MAX};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = &control,
			    .msg_controllen = sizeof(control)};
	const struct ucred *cred;
	struct arb_notify_msg m;
	ssize_t len;

	len = recvmsg(n->io.fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
	if (len < 0)
		return errno == EINTR;
	close_passed_fds(&mh);
	cred = sender_of(&mh);
	if (!cred || cred->pid <= 0 || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    len > NOTIFY_DGRAM_MAX)
		return true; /* anonymous, or cut short: ignored */
	arb_notify_parse(n->buf, (size_t)len, &m);
	n->fn(n->ctx, cred->pid, (long)cred->uid, &m);
	return true;
}

static void
on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct arb_notify *n = w->data;

	for (int i = 0; i < NOTIFY_BATCH && receive_one(n); i++)
		;
}

static void
watch(struct arb_notify *n, struct ev_loop *loop, arb_notify_fn *fn, void *ctx,
      int fd)
{
	n->loop = loop;
	n->fn = fn;
	n->ctx = ctx;
	ev_io_init(&n->io, on_readable, fd, EV_READ);
	n->io.data = n;
	/* Before any death reaped in the same wake-up: what a process said
	 * just before it exited (READY=1, MAINPID=) must count. */
	ev_set_priority(&n->io, EV_MAXPRI);
	ev_io_start(loop, &n->io);
}

json_t *
arb_notify_save(const struct arb_notify *n, struct arb_state_out *o)
{
	json_t *fd;

	if (!n)
		return json_null();
	fd = arb_state_out_fd(o, n->io.fd);
	return fd ? json_pack("{s:o,s:s}", "fd", fd, "address", n->address)
		  : NULL;
}

int
arb_notify_resume(struct arb_notify **ret, struct ev_loop *loop,
		  arb_notify_fn *fn, void *ctx, struct arb_state_in *in,
		  const json_t *obj)
{
	struct arb_notify *n;
	const char *address;
	int fd;

	if (arb_state_str(in, obj, "notify", "address", &address) < 0 ||
	    arb_state_fd(in, obj, "notify", "fd", &fd) < 0)
		return -EINVAL;
	if (fd < 0 || strncmp(address, "@arbor/notify/", 14) != 0 ||
	    strlen(address) >= sizeof(n->address)) {
		if (fd >= 0)
			close(fd);
		return arb_state_fail(in, "notify: not a notify socket");
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		close(fd);
		return -ENOMEM;
	}
	snprintf(n->address, sizeof(n->address), "%s", address);
	watch(n, loop, fn, ctx, fd);
	*ret = n;
	return 0;
}

int
arb_notify_open(struct arb_notify **ret, struct ev_loop *loop,
		arb_notify_fn *fn, void *ctx)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct arb_notify *n;
	uint64_t nonce = 0;
	socklen_t len;
	int fd, one = 1;

	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	/* Unguessable, so no one can squat the name before we bind it. */
	if (getrandom(&nonce, sizeof(nonce), GRND_NONBLOCK) != sizeof(nonce))
		nonce ^= (uint64_t)(uintptr_t)n ^ (uint64_t)getpid() << 32;
	snprintf(n->address, sizeof(n->address), "@arbor/notify/%d/%016" PRIx64,
		 (int)getpid(), nonce);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)
		goto fail_fd;
	/* Abstract: sun_path starts with a NUL, and the length is exact. */
	len = (socklen_t)strlen(n->address);
	memcpy(sa.sun_path + 1, n->address + 1, len - 1);
	if (bind(fd, (struct sockaddr *)&sa,
		 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		goto fail_fd;
	watch(n, loop, fn, ctx, fd);
	*ret = n;
	return 0;
fail_fd:
	close(fd);
fail:
	free(n);
	return -errno;
}

const char *
arb_notify_address(const struct arb_notify *n)
{
	return n->address;
}

void
arb_notify_close(struct arb_notify *n)
{
	if (!n)
		return;
	ev_io_stop(n->loop, &n->io);
	close(n->io.fd);
	free(n);
}

/* ---- fd:N readiness pipes ----------------------------------------------- */

static void
on_ready_pipe(struct ev_loop *loop, ev_io *w, int revents)
{
	struct arb_ready_pipe *p = w->data;
	char buf[4096];
	ssize_t n = read(w->fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0 && !memchr(buf, '\n', (size_t)n))
		return; /* not a whole line yet */
	/* A line, or the end without one (never ready this way). */
	arb_ready_pipe_close(p, loop);
	if (n > 0)
		p->ready(p);
}

struct arb_ready_pipe *
arb_ready_pipe_new(void (*ready)(struct arb_ready_pipe *p), void *data)
{
	struct arb_ready_pipe *p = malloc(sizeof(*p));

	if (!p)
		return NULL;
	ev_io_init(&p->io, on_ready_pipe, -1, EV_READ);
	p->io.data = p;
	ev_set_priority(&p->io, EV_MAXPRI); /* as the notify socket's */
	p->write_fd = -1;
	p->ready = ready;
	p->data = data;
	return p;
}

void
arb_ready_pipe_free(struct arb_ready_pipe *p, struct ev_loop *loop)
{
	arb_ready_pipe_close(p, loop);
	free(p);
}

int
arb_ready_pipe_open(struct arb_ready_pipe *p, struct ev_loop *loop)
{
	int rfd, r;

	arb_ready_pipe_close(p, loop);
	r = arb_reader_pipe(&rfd, &p->write_fd);
	if (r < 0)
		return r;
	ev_io_set(&p->io, rfd, EV_READ);
	ev_io_start(loop, &p->io);
	return 0;
}

void
arb_ready_pipe_spawned(struct arb_ready_pipe *p)
{
	if (!p)
		return;
	if (p->write_fd >= 0)
		close(p->write_fd);
	p->write_fd = -1;
}

void
arb_ready_pipe_close(struct arb_ready_pipe *p, struct ev_loop *loop)
{
	if (!p)
		return;
	arb_ready_pipe_spawned(p);
	if (p->io.fd < 0)
		return;
	ev_io_stop(loop, &p->io);
	close(p->io.fd);
	ev_io_set(&p->io, -1, EV_READ);
}
