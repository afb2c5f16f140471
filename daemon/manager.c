/*
 * manager.c - arbord's side of systemd's protocols, for arbord itself:
 * notify (READY=1, STATUS=, STOPPING=1, WATCHDOG=1) and the control socket
 * passed by socket activation. It reads the core's state but decides
 * nothing about the tree, and it does not log (main.c reports what it
 * returns). Its only periodic wake-up is the watchdog systemd asked for.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>
#include <systemd/sd-daemon.h>

#include "manager.h"

/* STATUS= changes are sent at most this often (seconds). */
#define STATUS_INTERVAL 1.0

/*
 * One per process, as the environment it comes from: a static keeps the
 * runtime's and the control socket's side of it to one call each.
 */
static struct manager {
	struct ev_loop *loop;       /* NULL: not started with NOTIFY_SOCKET */
	char *notify_socket;        /* NOTIFY_SOCKET, owned */
	ev_timer watchdog;          /* WATCHDOG=1 at half WATCHDOG_USEC */
	ev_timer status_limit;      /* running: a STATUS= went out recently */
	const struct arb_tree *tree; /* borrowed, from the last step */
	int control_fd;             /* passed by systemd, not yet taken */
	bool ready, stopping;
	bool status_dirty;          /* changed since the last STATUS= */
	char status[96];            /* the last STATUS= sent */
} m = {.control_fd = -1};

/*
 * NOTIFY_SOCKET is taken out of the environment at start, so that no
 * service inherits it, but sd_notify() looks for the socket only there:
 * it goes back for the length of one sd_notify(1, ...) call, which removes
 * it again. arbord is single-threaded and forks only from its loop, so no
 * child can see it. A failure to send changes nothing for the tree.
 */
static int
notify_env(void)
{
	return setenv("NOTIFY_SOCKET", m.notify_socket, 1);
}

static void
notify(const char *also, const char *status)
{
	if (notify_env() == 0)
		(void)sd_notifyf(1, "%s%sSTATUS=%s", also ? also : "",
				 also ? "\n" : "", status);
}

static void
status_text(char *buf, size_t size)
{
	const struct arb_spec *spec = arb_tree_spec(m.tree);
	unsigned services = 0, running = 0;

	for (uint32_t i = 0; i < spec->nnodes; i++) {
		if (spec->nodes[i].kind != ARB_NODE_SERVICE ||
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
	if (notify_env() == 0)
		(void)sd_notify(1, "WATCHDOG=1");
}

/*
 * Keeps the first listening Unix stream socket of the n passed descriptors
 * and closes the others. None may leak into a service, so each is made
 * close-on-exec first.
 */
static void
take_listen_fds(int n)
{
	for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n;
	     fd++) {
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
		if (m.control_fd < 0 &&
		    sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) > 0)
			m.control_fd = fd;
		else
			(void)close(fd);
	}
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
	(void)unsetenv("NOTIFY_SOCKET");
	/* Both remove their variables whether or not they are for us. */
	if (sd_watchdog_enabled(1, &watchdog_usec) <= 0)
		watchdog_usec = 0;
	n = sd_listen_fds(1);
	if (n > 0)
		take_listen_fds(n);

	if (m.notify_socket) {
		m.loop = ev_default_loop(EVFLAG_AUTO);
		if (!m.loop) {
			arb_manager_done();
			return -ENOSYS;
		}
		ev_timer_init(&m.status_limit, on_status_limit, 0.0, 0.0);
		/* Half the interval, as sd_watchdog_enabled(3) advises. */
		if (watchdog_usec > 0) {
			double every = (double)watchdog_usec / 2e6;

			ev_timer_init(&m.watchdog, on_watchdog, every, every);
			ev_timer_start(m.loop, &m.watchdog);
		}
	}
	ret->first_fd = SD_LISTEN_FDS_START;
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
