/*
 * top.c - `arborctl top`: the terminal, the clock and the connection
 * around top_view.c. One Status call with stats a refresh, on one
 * connection kept open; between refreshes a wait in ppoll(2) on the
 * keyboard, the connection (arbord closing it) and the next refresh's
 * deadline, with the signals unblocked only there. Signal handlers only
 * set flags. Nothing is written on stderr while the terminal is raw: the
 * reason top ends waits in why[] until the terminal is given back.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "protocol.h"
#include "render.h"
#include "sockpath.h"
#include "top.h"
#include "top_view.h"
#include "wire.h"

/* How long a Status may take, and a connect may wait in the backlog
 * (a re-exec in progress). */
#define CALL_TIMEOUT_MS 30000
#define CONNECT_TIMEOUT_S 10
/* Connections a refresh may open when arbord closes them under it. */
#define CALL_TRIES 3

/* The terminal's size when TIOCGWINSZ does not say. */
#define DEFAULT_WIDTH 80
#define DEFAULT_HEIGHT 24

/* Still running: none of enum arb_top_end yet. */
#define RUNNING (-1)

struct top {
	const struct arb_top_opts *o;
	json_t *params;		  /* of every Status call */
	int fd;			  /* to arbord, or -1 */
	struct arb_wire_reader rd;
	struct arb_top_view view;
	long refreshes;
	/* The terminal, interactive only. */
	bool raw;		  /* ours: give it back */
	struct termios saved;
	int width, height;
	bool help;
	const sigset_t *unblocked; /* ppoll's mask; NULL in batch */
	char why[512];		  /* written on stderr at the end */
};

static volatile sig_atomic_t got_quit;	/* the signal that ends top */
static volatile sig_atomic_t got_winch;

static void
on_quit(int sig)
{
	got_quit = sig;
}

static void
on_winch(int sig)
{
	got_winch = 1;
}

/* Records why top ends (the first reason given wins). */
static int say(struct top *t, int end, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
say(struct top *t, int end, const char *fmt, ...)
{
	va_list ap;

	if (t->why[0])
		return end;
	va_start(ap, fmt);
	vsnprintf(t->why, sizeof(t->why), fmt, ap);
	va_end(ap);
	return end;
}

static long long
monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The time from now to deadline_us, 0 once it has passed. */
static struct timespec
until(long long deadline_us)
{
	long long left = deadline_us - monotonic_us();
	struct timespec ts = {0};

	if (left > 0) {
		ts.tv_sec = left / 1000000;
		ts.tv_nsec = (long)(left % 1000000) * 1000;
	}
	return ts;
}

/* Waits until fd has input or deadline_us; 1 ready, 0 timed out, -EINTR
 * when a signal ends top, another -errno. */
static int
wait_readable(struct top *t, int fd, long long deadline_us)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	for (;;) {
		struct timespec ts = until(deadline_us);
		int r;

		if (ts.tv_sec == 0 && ts.tv_nsec == 0)
			return 0;
		r = ppoll(&p, 1, &ts, t->unblocked);
		if (got_quit)
			return -EINTR;
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

/* The connection: 0 or -errno, no messages. */

static int
connect_arbord(struct top *t)
{
	struct timeval tv = {.tv_sec = CONNECT_TIMEOUT_S};
	struct sockaddr_un sa;
	socklen_t len;
	int fd, rc;

	rc = arb_sockpath_addr(t->o->socket, &sa, &len);
	if (rc)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Linux bounds a Unix-socket connect, and our sends, by this. */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, len) < 0) {
		rc = errno == EAGAIN ? -ETIMEDOUT : -errno;
		close(fd);
		return rc;
	}
	t->fd = fd;
	arb_wire_reader_done(&t->rd);
	arb_wire_reader_init(&t->rd, ARB_REPLY_MAX);
	return 0;
}

static void
disconnect(struct top *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}

static int
send_status(struct top *t)
{
	struct arb_wire_outq q;
	char *buf;
	size_t len;
	ssize_t left;
	int rc;

	rc = arb_wire_encode_call(ARB_METHOD_STATUS, t->params, 0, &buf, &len);
	if (rc)
		return rc;
	arb_wire_outq_init(&q);
	rc = arb_wire_outq_push(&q, &buf, len);
	if (rc == 0) {
		left = arb_wire_outq_flush(&q, t->fd);
		rc = left > 0 ? -ETIMEDOUT : (int)left;
	}
	arb_wire_outq_done(&q);
	return rc;
}

/*
 * The next reply into *ret. -ECONNRESET when arbord closed the
 * connection, -ETIMEDOUT, -EBADMSG (a reply that does not decode), or
 * -EINTR (a signal ends top).
 */
static int
recv_reply(struct top *t, struct arb_wire_reply *ret)
{
	long long deadline = monotonic_us() + CALL_TIMEOUT_MS * 1000LL;
	const char *msg;
	size_t len;
	ssize_t n;
	int rc;

	for (;;) {
		rc = arb_wire_reader_next(&t->rd, &msg, &len);
		if (rc == 1)
			return arb_wire_decode_reply(msg, len, ret, NULL) == 0
				       ? 0
				       : -EBADMSG;
		if (rc < 0)
			return -EBADMSG;
		rc = wait_readable(t, t->fd, deadline);
		if (rc == 0)
			return -ETIMEDOUT;
		if (rc < 0)
			return rc;
		n = arb_wire_reader_read(&t->rd, t->fd);
		if (n == 0 || n == -EPIPE)
			return -ECONNRESET;
		if (n < 0 && n != -EAGAIN)
			return (int)n;
	}
}

/* One Status call on the open connection. */
static int
call_status(struct top *t, struct arb_wire_reply *ret)
{
	int rc = send_status(t);

	/* arbord may have closed a connection idle too long, or for a
	 * re-exec: the read says so. */
	if (rc == 0 || rc == -EPIPE || rc == -ECONNRESET)
		rc = recv_reply(t, ret);
	return rc;
}

static int
report_gone(struct top *t, int rc)
{
	if (rc == -ENOENT || rc == -ECONNREFUSED)
		return say(t, ARB_TOP_GONE,
			   "arbord is not running: cannot connect to %s: %s",
			   t->o->socket, strerror(-rc));
	return say(t, ARB_TOP_GONE, "cannot connect to %s: %s", t->o->socket,
		   strerror(-rc));
}

/* An error reply, in words for the errors a Status can get. */
static int
report_error(struct top *t, const struct arb_wire_reply *r)
{
	const char *path = t->o->path ? t->o->path : "/";

	if (strcmp(r->error, ARB_ERR_NO_SUCH_CHILD) == 0 ||
	    strcmp(r->error, ARB_ERR_INVALID_PATH) == 0)
		return say(t, ARB_TOP_FAILED, "no such child '%s'", path);
	if (strcmp(r->error, ARB_ERR_PERMISSION_DENIED) == 0)
		return say(t, ARB_TOP_FAILED, "permission denied");
	if (strcmp(r->error, ARB_ERR_TOO_MANY_CLIENTS) == 0)
		return say(t, ARB_TOP_GONE, "arbord refused the connection: too "
					    "many clients; try again later");
	return say(t, ARB_TOP_FAILED, "arbord answered %s", r->error);
}

/*
 * A Status call, on a new connection when arbord closed the last one
 * (idle too long, or re-executing), a few times at most. 0 with a reply,
 * -ECONNREFUSED or another error of connect (arbord is gone, *ret_connect
 * set), or an error of call_status.
 */
static int
call_reconnecting(struct top *t, struct arb_wire_reply *ret,
		  bool *ret_connect)
{
	int rc = -ECONNRESET;

	for (int tries = 0; tries < CALL_TRIES && rc == -ECONNRESET; tries++) {
		if (t->fd < 0 && (rc = connect_arbord(t)) < 0) {
			*ret_connect = true;
			return rc;
		}
		rc = call_status(t, ret);
		if (rc == 0 && ret->error &&
		    strcmp(ret->error, ARB_ERR_REEXECUTING) == 0) {
			arb_wire_reply_done(ret);
			rc = -ECONNRESET;
		}
		if (rc == -ECONNRESET)
			disconnect(t);
	}
	return rc;
}

/* Status into the view: RUNNING, or how top ends. */
static int
refresh(struct top *t)
{
	struct arb_wire_reply r;
	bool connect = false;
	int rc = call_reconnecting(t, &r, &connect);

	if (connect)
		return report_gone(t, rc);
	if (rc == -EINTR)
		return ARB_TOP_QUIT;
	if (rc == -ECONNRESET)
		return say(t, ARB_TOP_GONE, "arbord closed the connection");
	if (rc == -ETIMEDOUT)
		return say(t, ARB_TOP_GONE, "no reply from arbord within %d s",
			   CALL_TIMEOUT_MS / 1000);
	if (rc == -EBADMSG)
		return say(t, ARB_TOP_FAILED, "bad reply from arbord");
	if (rc)
		return say(t, ARB_TOP_GONE, "talking to arbord: %s",
			   strerror(-rc));
	if (r.error) {
		rc = report_error(t, &r);
		arb_wire_reply_done(&r);
		return rc;
	}
	rc = arb_top_view_update(&t->view, r.parameters, monotonic_us());
	arb_wire_reply_done(&r);
	if (rc == -EINVAL)
		return say(t, ARB_TOP_FAILED,
			   "bad reply from arbord: no nodes");
	if (rc)
		return say(t, ARB_TOP_FAILED, "out of memory");
	t->refreshes++;
	return RUNNING;
}

/* Drawing. */

static void
clock_text(char *buf, size_t size)
{
	time_t now = time(NULL);
	struct tm tm;

	if (!localtime_r(&now, &tm) || !strftime(buf, size, "%H:%M:%S", &tm))
		snprintf(buf, size, "--:--:--");
}

/* The screen as lines (each ending in '\n') in a buffer the caller frees. */
static int
draw_lines(struct top *t, int width, int height, char **ret, size_t *ret_len)
{
	char clock[16];
	struct arb_top_frame f = {.width = width,
				  .height = height,
				  .clock = clock,
				  .delay_ms = t->o->delay_ms,
				  .help = t->help};
	FILE *mem;
	int rc;

	clock_text(clock, sizeof(clock));
	*ret = NULL;
	mem = open_memstream(ret, ret_len);
	if (!mem)
		return -ENOMEM;
	rc = arb_top_view_draw(mem, &t->view, &f);
	if (fclose(mem) != 0 && rc == 0)
		rc = -ENOMEM;
	if (rc) {
		free(*ret);
		*ret = NULL;
	}
	return rc;
}

static int
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * The screen on the terminal: each line at its own row, cleared before
 * it is written (clearing after a line as wide as the terminal would
 * erase its last character), then the rest of the screen cleared.
 */
static int
draw_screen(struct top *t)
{
	char *lines, *line, *nl, *out = NULL;
	size_t len, out_len = 0;
	FILE *mem;
	int row = 0, rc;

	rc = draw_lines(t, t->width, t->height, &lines, &len);
	if (rc)
		return say(t, ARB_TOP_FAILED, "out of memory");
	mem = open_memstream(&out, &out_len);
	if (!mem) {
		free(lines);
		return say(t, ARB_TOP_FAILED, "out of memory");
	}
	for (line = lines; (nl = strchr(line, '\n')); line = nl + 1) {
		fprintf(mem, "\033[%d;1H\033[2K", ++row);
		fwrite(line, 1, (size_t)(nl - line), mem);
	}
	if (row < t->height)
		fprintf(mem, "\033[%d;1H\033[J", row + 1);
	free(lines);
	if (fclose(mem) != 0) {
		free(out);
		return say(t, ARB_TOP_FAILED, "out of memory");
	}
	rc = write_all(STDOUT_FILENO, out, out_len);
	free(out);
	if (rc)
		return say(t, ARB_TOP_FAILED, "writing to the terminal: %s",
			   strerror(-rc));
	return RUNNING;
}

/* The terminal. */

static void
query_size(struct top *t)
{
	struct winsize ws;

	t->width = DEFAULT_WIDTH;
	t->height = DEFAULT_HEIGHT;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 &&
	    ws.ws_row > 0) {
		t->width = ws.ws_col;
		t->height = ws.ws_row;
	}
}

/* Keys one at a time, no echo, Ctrl-C as a key; the alternate screen. */
static int
enter_terminal(struct top *t)
{
	static const char enter[] = "\033[?1049h\033[?25l\033[H\033[2J";
	struct termios raw;

	if (tcgetattr(STDIN_FILENO, &t->saved) < 0)
		return -errno;
	raw = t->saved;
	raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO | ISIG | IEXTEN);
	raw.c_iflag &= ~(tcflag_t)(IXON | ICRNL);
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) < 0)
		return -errno;
	t->raw = true;
	(void)write_all(STDOUT_FILENO, enter, sizeof(enter) - 1);
	return 0;
}

/* Gives the terminal back as it was; called on every way out. */
static void
leave_terminal(struct top *t)
{
	static const char leave[] = "\033[?25h\033[?1049l";

	if (!t->raw)
		return;
	(void)write_all(STDOUT_FILENO, leave, sizeof(leave) - 1);
	(void)tcsetattr(STDIN_FILENO, TCSADRAIN, &t->saved);
	t->raw = false;
}

/* Keys. */

static const struct {
	char key;
	enum arb_top_sort sort;
} sort_keys[] = {
	{'c', ARB_TOP_SORT_CPU},      {'m', ARB_TOP_SORT_MEMORY},
	{'r', ARB_TOP_SORT_RESTARTS}, {'s', ARB_TOP_SORT_STATE},
	{'t', ARB_TOP_SORT_TREE},     {'n', ARB_TOP_SORT_TREE},
};

/* One key: RUNNING, or how top ends. *redraw when the screen changed. */
static int
press(struct top *t, char key, bool *redraw)
{
	if (key == 'q' || key == 'Q' || key == 3 /* Ctrl-C */)
		return ARB_TOP_QUIT;
	if (key == 'h' || key == '?') {
		t->help = !t->help;
		*redraw = true;
		return RUNNING;
	}
	if (key == 12 /* Ctrl-L */) {
		*redraw = true;
		return RUNNING;
	}
	for (size_t i = 0; i < sizeof(sort_keys) / sizeof(sort_keys[0]); i++) {
		if (sort_keys[i].key != key)
			continue;
		if (arb_top_view_sort(&t->view, sort_keys[i].sort) < 0)
			return say(t, ARB_TOP_FAILED, "out of memory");
		*redraw = true;
	}
	return RUNNING;
}

static int
read_keys(struct top *t)
{
	char keys[64];
	bool redraw = false;
	ssize_t n = read(STDIN_FILENO, keys, sizeof(keys));
	int end = RUNNING;

	if (n == 0)
		return ARB_TOP_QUIT; /* the terminal hung up */
	if (n < 0)
		return errno == EINTR || errno == EAGAIN
			       ? RUNNING
			       : say(t, ARB_TOP_FAILED, "reading keys: %s",
				     strerror(errno));
	for (ssize_t i = 0; i < n && end == RUNNING; i++)
		end = press(t, keys[i], &redraw);
	if (end == RUNNING && redraw)
		end = draw_screen(t);
	return end;
}

/*
 * arbord wrote on, or closed, the connection between calls: it closes
 * one idle too long, and all of them to re-execute or when it dies.
 * Connecting again at once tells the cases apart: refused, it is gone.
 */
static int
connection_input(struct top *t)
{
	int rc;

	disconnect(t);
	rc = connect_arbord(t);
	return rc ? report_gone(t, rc) : RUNNING;
}

static bool
done(const struct top *t)
{
	return t->o->iterations > 0 && t->refreshes >= t->o->iterations;
}

/* The interactive loop: a refresh at each deadline, keys between. */
static int
interactive(struct top *t)
{
	long long delay_us = t->o->delay_ms * 1000, next_us;
	int end;

	query_size(t);
	end = refresh(t);
	if (end == RUNNING)
		end = draw_screen(t);
	next_us = monotonic_us() + delay_us;
	while (end == RUNNING && !done(t)) {
		struct pollfd p[2] = {{.fd = STDIN_FILENO, .events = POLLIN},
				      {.fd = t->fd, .events = POLLIN}};
		struct timespec ts = until(next_us);
		int r;

		r = ppoll(p, t->fd >= 0 ? 2 : 1, &ts, t->unblocked);
		if (got_quit)
			return ARB_TOP_QUIT;
		if (r < 0 && errno != EINTR)
			return say(t, ARB_TOP_FAILED, "poll: %s",
				   strerror(errno));
		if (got_winch) {
			got_winch = 0;
			query_size(t);
			end = draw_screen(t);
		}
		if (end == RUNNING && r > 0 && p[0].revents)
			end = read_keys(t);
		if (end == RUNNING && r > 0 && t->fd >= 0 && p[1].revents)
			end = connection_input(t);
		if (end == RUNNING && monotonic_us() >= next_us) {
			end = refresh(t);
			if (end == RUNNING)
				end = draw_screen(t);
			next_us += delay_us;
			if (next_us < monotonic_us())
				next_us = monotonic_us() + delay_us;
		}
	}
	return end == RUNNING ? ARB_TOP_QUIT : end;
}

/* Batch: the screen as plain text, whole, a blank line between two. */
static int
batch(struct top *t)
{
	long long next_us = monotonic_us();
	int end = RUNNING;

	while (end == RUNNING && !done(t)) {
		char *lines;
		size_t len;

		if (t->refreshes > 0) {
			struct timespec ts;

			next_us += t->o->delay_ms * 1000;
			while ((ts = until(next_us)).tv_sec || ts.tv_nsec)
				(void)nanosleep(&ts, NULL);
		}
		end = refresh(t);
		if (end != RUNNING)
			break;
		if (draw_lines(t, 0, 0, &lines, &len) < 0)
			return say(t, ARB_TOP_FAILED, "out of memory");
		if (t->refreshes > 1)
			fputc('\n', stdout);
		fwrite(lines, 1, len, stdout);
		free(lines);
		if (fflush(stdout) != 0)
			return say(t, ARB_TOP_FAILED, "writing the output: %s",
				   strerror(errno));
	}
	return end == RUNNING ? ARB_TOP_QUIT : end;
}

/* SIGINT, SIGTERM, SIGHUP and SIGWINCH caught, and blocked but in ppoll. */
static void
catch_signals(sigset_t *ret_old, sigset_t *ret_unblocked)
{
	static const int quit[] = {SIGINT, SIGTERM, SIGHUP};
	struct sigaction sa = {.sa_handler = on_quit};
	sigset_t block;

	sigemptyset(&block);
	for (size_t i = 0; i < sizeof(quit) / sizeof(quit[0]); i++) {
		sigaction(quit[i], &sa, NULL);
		sigaddset(&block, quit[i]);
	}
	sa.sa_handler = on_winch;
	sigaction(SIGWINCH, &sa, NULL);
	sigaddset(&block, SIGWINCH);
	sigprocmask(SIG_BLOCK, &block, ret_old);
	*ret_unblocked = *ret_old;
	sigdelset(ret_unblocked, SIGINT);
	sigdelset(ret_unblocked, SIGTERM);
	sigdelset(ret_unblocked, SIGHUP);
	sigdelset(ret_unblocked, SIGWINCH);
}

/* A quitting signal ends the process as it would have without top. */
static void
die_of(int sig, const sigset_t *old)
{
	signal(sig, SIG_DFL);
	sigprocmask(SIG_SETMASK, old, NULL);
	raise(sig);
}

static json_t *
status_params(const struct arb_top_opts *o)
{
	json_t *p = json_pack("{s:b}", "stats", 1);

	if (p && o->path &&
	    json_object_set_new(p, "path", json_string(o->path)) < 0) {
		json_decref(p);
		return NULL;
	}
	return p;
}

enum arb_top_end
arb_top_run(const struct arb_top_opts *o)
{
	struct top t = {.o = o, .fd = -1};
	sigset_t old, unblocked;
	int end, rc;

	arb_wire_reader_init(&t.rd, ARB_REPLY_MAX);
	arb_top_view_init(&t.view);
	t.params = status_params(o);
	if (!t.params) {
		end = say(&t, ARB_TOP_FAILED, "out of memory");
	} else if ((rc = connect_arbord(&t)) < 0) {
		end = report_gone(&t, rc);
	} else if (o->batch) {
		end = batch(&t);
	} else {
		catch_signals(&old, &unblocked);
		t.unblocked = &unblocked;
		rc = enter_terminal(&t);
		end = rc ? say(&t, ARB_TOP_FAILED, "cannot set the terminal: "
						     "%s", strerror(-rc))
			 : interactive(&t);
		leave_terminal(&t);
	}
	if (t.why[0]) {
		/* It may quote a path: no escape sequence reaches the terminal. */
		fputs("arborctl: ", stderr);
		arb_render_safe(stderr, t.why);
		fputc('\n', stderr);
	}
	disconnect(&t);
	arb_wire_reader_done(&t.rd);
	arb_top_view_done(&t.view);
	json_decref(t.params);
	if (t.unblocked && got_quit)
		die_of(got_quit, &old);
	return (enum arb_top_end)end;
}
