/*
 * systemd.c - arbord's side of systemd's protocols, for arbord itself:
 * notify (READY=1, STATUS=, STOPPING=1, WATCHDOG=1) and the control socket
 * passed by socket activation. It reads the core's state but decides
 * nothing about the tree, and it does not log (main.c reports what it
 * returns). Its only periodic wake-up is the watchdog systemd asked for.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>

#include "clock.h"
#include "loop.h"
#include "systemd.h"

/*
 * systemd's two protocols for a service (sd_notify(3), sd_listen_fds(3))
 * are a datagram and a few variables, stable for a decade; speaking them
 * here keeps libsystemd, and the compression and crypto libraries it
 * brings, out of arbord: about 0.9 MiB of PSS, measured at 1000 children.
 */
#define LISTEN_FDS_START 3

/* STATUS= changes are sent at most this often (seconds). */
#define STATUS_INTERVAL 1.0

/*
 * One per process, as the environment it comes from: a static keeps the
 * runtime's and the control socket's side of it to one call each.
 */
static struct manager {
	struct ev_loop *loop;       /* NULL: not started with NOTIFY_SOCKET */
	char *notify_socket;        /* NOTIFY_SOCKET, owned */
	uint64_t watchdog_usec;     /* WATCHDOG_USEC meant for us; 0: none */
	bool reloading;             /* RELOADING=1 sent, READY=1 not yet */
	ev_timer watchdog;          /* WATCHDOG=1 at half WATCHDOG_USEC */
	ev_timer status_limit;      /* running: a STATUS= went out recently */
	const struct arb_tree *tree; /* borrowed, from the last step */
	int control_fd;             /* passed by systemd, not yet taken */
	bool ready, stopping;
	bool status_dirty;          /* changed since the last STATUS= */
	char status[96];            /* the last STATUS= sent */
} m = {.control_fd = -1};

/*
 * One datagram to NOTIFY_SOCKET: a path, or an abstract name written with
 * a leading '@'. Never blocks the loop; a failure to send changes nothing
 * for the tree.
 */
static void
notify_send(const char *text)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = strlen(m.notify_socket);
	socklen_t salen;
	int fd;

	if (len < 2 || len >= sizeof(sa.sun_path) ||
	    (m.notify_socket[0] != '/' && m.notify_socket[0] != '@'))
		return;
	memcpy(sa.sun_path, m.notify_socket, len);
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract: the length is exact */
	else
		salen++; /* a path: its NUL too */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return;
	(void)sendto(fd, text, strlen(text), MSG_NOSIGNAL,
		     (struct sockaddr *)&sa, salen);
	close(fd);
}

static void
notify(const char *also, const char *status)
{
	char text[256];

	snprintf(text, sizeof(text), "%s%sSTATUS=%s", also ? also : "",
		 also ? "\n" : "", status);
	notify_send(text);
}

static void
status_text(char *buf, size_t size)
{
	const struct arb_spec *spec = arb_tree_spec(m.tree);
	unsigned services = 0, running = 0;

	for (uint32_t i = 0; i < spec->nnodes; i++) {
		if (!arb_spec_is_node(spec, i) ||
		    spec->nodes[i].kind != ARB_NODE_SERVICE ||
		    !arb_tree_present(m.tree, i))
			continue;
		services++;
		switch (arb_tree_state(m.tree, i)) {
		case ARB_CHILD_UP:
		case ARB_CHILD_STOPPING: /* still running, being stopped */
		case ARB_CHILD_KILLING:
			running++;
			break;
		default:
			break;
		}
	}
	snprintf(buf, size, "%s%u service%s, %u running",
		 m.stopping ? "stopping: " : m.ready ? "" : "starting: ",
		 services, services == 1 ? "" : "s", running);
}

/*
 * Sends the counts, with also (READY=1, STOPPING=1) when not NULL, and
 * holds the next STATUS= back for STATUS_INTERVAL. Unchanged counts are
 * not sent again.
 */
static void
status_send(const char *also)
{
	char text[sizeof(m.status)];

	m.status_dirty = false;
	status_text(text, sizeof(text));
	if (!also && strcmp(text, m.status) == 0)
		return;
	notify(also, text);
	memcpy(m.status, text, sizeof(m.status));
	ev_timer_stop(m.loop, &m.status_limit);
	ev_timer_set(&m.status_limit, STATUS_INTERVAL, 0.0);
	ev_timer_start(m.loop, &m.status_limit);
}

/* The quiet period is over: what changed during it goes out now. */
static void
on_status_limit(struct ev_loop *loop, ev_timer *w, int revents)
{
	if (m.status_dirty && m.tree)
		status_send(NULL);
}

static void
on_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
	notify_send("WATCHDOG=1");
}

/* A decimal variable of the environment; -1 when absent or malformed. */
static long long
env_number(const char *name)
{
	const char *s = getenv(name);
	char *end;
	long long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	return errno || *end ? -1 : v;
}

/* WATCHDOG_USEC, when it is meant for this process (WATCHDOG_PID). */
static uint64_t
watchdog_usec_for_us(void)
{
	long long usec = env_number("WATCHDOG_USEC");
	long long pid = env_number("WATCHDOG_PID");

	if (usec <= 0 || (getenv("WATCHDOG_PID") && pid != getpid()))
		return 0;
	return (uint64_t)usec;
}

/* LISTEN_FDS, when they are meant for this process (LISTEN_PID). */
static int
listen_fds_for_us(void)
{
	long long n = env_number("LISTEN_FDS");

	if (!getenv("LISTEN_FDS") || env_number("LISTEN_PID") != getpid())
		return 0;
	return n < 0 || n > 1024 ? -EINVAL : (int)n;
}

/* A listening Unix stream socket. */
static bool
is_unix_listener(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss), ilen = sizeof(int);
	int type = 0, listening = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &ilen) < 0 ||
	    type != SOCK_STREAM)
		return false;
	ilen = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ilen) < 0 ||
	    !listening)
		return false;
	return getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
	       ss.ss_family == AF_UNIX;
}

/*
 * Keeps the first listening Unix stream socket of the n passed descriptors
 * and closes the others. None may leak into a service, so each is made
 * close-on-exec first.
 */
static void
take_listen_fds(int n)
{
	for (int fd = LISTEN_FDS_START; fd < LISTEN_FDS_START + n; fd++) {
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
		if (m.control_fd < 0 && is_unix_listener(fd))
			m.control_fd = fd;
		else
			(void)close(fd);
	}
}

/* The loop's timers: the STATUS= limit, and the watchdog's keep-alive. */
static int
start_timers(void)
{
	m.loop = arb_loop();
	if (!m.loop) {
		arb_manager_done();
		return -ENOSYS;
	}
	ev_timer_init(&m.status_limit, on_status_limit, 0.0, 0.0);
	/* Half the interval, as sd_watchdog_enabled(3) advises. */
	if (m.watchdog_usec > 0) {
		double every = (double)m.watchdog_usec / 2e6;

		ev_timer_init(&m.watchdog, on_watchdog, every, every);
		ev_timer_start(m.loop, &m.watchdog);
	}
	return 0;
}

int
arb_manager_init(struct arb_manager_passed *ret)
{
	const char *sock = getenv("NOTIFY_SOCKET");
	uint64_t watchdog_usec = 0;
	int n;

	if (sock && sock[0]) {
		m.notify_socket = strdup(sock);
		if (!m.notify_socket)
			return -ENOMEM;
	}
	watchdog_usec = watchdog_usec_for_us();
	n = listen_fds_for_us();
	if (n > 0)
		take_listen_fds(n);
	/* Meant for us or not, no service may inherit them. */
	(void)unsetenv("NOTIFY_SOCKET");
	(void)unsetenv("WATCHDOG_USEC");
	(void)unsetenv("WATCHDOG_PID");
	(void)unsetenv("LISTEN_FDS");
	(void)unsetenv("LISTEN_PID");
	(void)unsetenv("LISTEN_FDNAMES");

	m.watchdog_usec = watchdog_usec;
	if (m.notify_socket && start_timers() < 0)
		return -ENOSYS;
	ret->first_fd = LISTEN_FDS_START;
	ret->nfds = n > 0 ? n : 0;
	ret->control_fd = m.control_fd;
	ret->err = n < 0 ? n : 0;
	return 0;
}

int
arb_manager_take_control_fd(void)
{
	int fd = m.control_fd;

	m.control_fd = -1;
	return fd;
}

/* Whether a report says the whole tree is going down. */
static bool
root_ends(const struct arb_action *a)
{
	return a->kind == ARB_ACT_REPORT && a->node == ARB_ROOT &&
	       (a->report == ARB_REP_GIVEUP ||
		a->report == ARB_REP_START_FAILED ||
		a->report == ARB_REP_DOWN);
}

void
arb_manager_step(const struct arb_tree *t, const struct arb_event *ev,
		 const struct arb_actions *done)
{
	bool changed = false, stopping = ev->kind == ARB_EV_SHUTDOWN;

	if (!m.loop)
		return;
	m.tree = t;
	for (size_t i = 0; i < done->n; i++) {
		if (done->v[i].kind == ARB_ACT_REPORT)
			changed = true;
		if (root_ends(&done->v[i]))
			stopping = true;
	}
	/*
	 * The root supervisor is up once every child has started in turn;
	 * its START report comes first, when it begins, so its state is what
	 * tells. A stop asked for while it starts wins: no READY=1 then.
	 */
	if (stopping && !m.stopping) {
		m.stopping = true;
		status_send("STOPPING=1");
	} else if (!m.ready && !m.stopping &&
		   arb_tree_state(t, ARB_ROOT) == ARB_CHILD_UP) {
		m.ready = true;
		status_send("READY=1");
	} else if (changed) {
		m.status_dirty = true;
		if (!ev_is_active(&m.status_limit))
			status_send(NULL);
	}
}

void
arb_manager_done(void)
{
	if (m.loop) {
		ev_timer_stop(m.loop, &m.watchdog);
		ev_timer_stop(m.loop, &m.status_limit);
	}
	if (m.control_fd >= 0)
		(void)close(m.control_fd);
	free(m.notify_socket);
	memset(&m, 0, sizeof(m));
	m.control_fd = -1;
}

/*
 * Type=notify-reload (systemd 253): RELOADING=1 with the monotonic time in
 * microseconds, then READY=1 once the reload (or re-exec) is done.
 */
void
arb_manager_reloading(void)
{
	char text[96];

	if (!m.loop || m.reloading || m.stopping)
		return;
	snprintf(text, sizeof(text), "RELOADING=1\nMONOTONIC_USEC=%lld",
		 (long long)arb_monotonic_us());
	notify_send(text);
	m.reloading = true;
}

void
arb_manager_reloaded(void)
{
	if (!m.loop || !m.reloading)
		return;
	m.reloading = false;
	if (m.stopping)
		return;
	if (m.tree)
		status_send("READY=1");
	else
		notify_send("READY=1");
}

bool
arb_manager_is_reloading(void)
{
	return m.reloading;
}

json_t *
arb_manager_save(void)
{
	if (!m.notify_socket)
		return json_null();
	return json_pack("{s:s,s:I,s:b,s:b,s:b}", "notify_socket",
			 m.notify_socket, "watchdog_usec",
			 (json_int_t)m.watchdog_usec, "ready", m.ready,
			 "stopping", m.stopping, "reloading", m.reloading);
}

int
arb_manager_resume(struct arb_state_in *in, const json_t *obj)
{
	const char *sock;
	int64_t usec;
	bool ready, stopping, reloading;

	if (!obj || json_is_null(obj))
		return 0;
	if (arb_state_str(in, obj, "manager", "notify_socket", &sock) < 0 ||
	    arb_state_int(in, obj, "manager", "watchdog_usec", 0,
			  INT64_MAX / 2, &usec) < 0 ||
	    arb_state_bool(in, obj, "manager", "ready", &ready) < 0 ||
	    arb_state_bool(in, obj, "manager", "stopping", &stopping) < 0 ||
	    arb_state_bool(in, obj, "manager", "reloading", &reloading) < 0)
		return -EINVAL;
	m.notify_socket = strdup(sock);
	if (!m.notify_socket)
		return -ENOMEM;
	m.watchdog_usec = (uint64_t)usec;
	m.ready = ready;
	m.stopping = stopping;
	m.reloading = reloading;
	return start_timers();
}
