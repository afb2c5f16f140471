/*
 * arborctl.c - the command-line client of arbord's control socket.
 *
 * Turns one command into one varlink call (common/wire.c), waits for the
 * reply or, for events, the stream of replies, and renders it for a person
 * (a tree, colours on a terminal) or for a script (--json). Blocking I/O
 * with a timeout is enough: arborctl has one peer and nothing else to do.
 * Functions below the I/O layer return an exit status, having printed
 * their one line on stderr; the statuses are the enum below and nothing
 * else.
 */
#include <errno.h>
#include <getopt.h>
#include <langinfo.h>
#include <locale.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "journal.h"
#include "metrics.h"
#include "protocol.h"
#include "render.h"
#include "seed.h"
#include "sockpath.h"
#include "top.h"
#include "wire.h"

#ifndef ARB_VERSION
#define ARB_VERSION "unknown"
#endif

enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,      /* an error reply, or a bad reply */
	EXIT_USAGE = 2,	      /* bad command line */
	EXIT_NOT_UP = 3,      /* status PATH: the node is not up (LSB) */
	EXIT_UNREACHABLE = 4, /* no arbord on the socket, or it went away */
};

/*
 * reload --dry-run answers a question, as diff(1) does: 0 nothing to do,
 * 1 the plan has steps, 2 trouble (bad usage, or the request failed).
 * The reading of 1 as "steps" is why a failed request cannot also be 1.
 */
enum {
	EXIT_DRY_SAME = 0,
	EXIT_DRY_DIFFERS = 1,
	EXIT_DRY_TROUBLE = 2,
};

/* How long a call waits for its reply; events wait for ever. */
#define CALL_TIMEOUT_S 30

/*
 * A stream whose arbord re-executes (Reexecuting) connects again: the
 * listening socket stays open, so a connect waits in its backlog until
 * the new image accepts. Tried every RECONNECT_PAUSE_MS for at most
 * RECONNECT_LIMIT_MS in case it does not.
 */
#define RECONNECT_PAUSE_MS 20
#define RECONNECT_LIMIT_MS 10000

/*
 * Which lines logs prints, when it asks for more than arbord can select:
 * several paths, a time range, one stream. Times are microseconds since
 * the epoch, as the lines' own.
 */
struct log_filter {
	bool active;	      /* any of the below */
	char **paths;	      /* the subtrees asked for... */
	int npaths;	      /* ...when more than one */
	bool has_since, has_until;
	long long since_us, until_us;
	const char *stream;   /* stdout or stderr, or NULL */
	json_t *kept;	      /* the backlog, gathered before it is printed */
	json_t *journal;      /* older lines from the journal, oldest first */
	json_t *ring_oldest;  /* path: [time_us, seq] of its oldest in kept */
};

struct ctl {
	const char *socket_opt; /* --socket, or NULL */
	char socket[ARB_SOCKPATH_MAX + 1];
	bool json;
	bool no_color;		  /* --no-color */
	struct arb_render render; /* colours and glyphs, on a terminal */
	int fd;
	int timeout_s;          /* of the connection's reads; 0: none */
	int reply_timeout_s;    /* a call's, when not CALL_TIMEOUT_S */
	struct arb_wire_reader rd;
	bool seen_seq;          /* logs: a line was read, and... */
	json_int_t last_seq;    /* ...this was the newest one's seq */
	struct log_filter filter; /* logs */
	/* The last reply as it came, valid until the next read of rd. */
	const char *reply_msg;
	size_t reply_len;
	bool frees_nothing;     /* jansson's allocator is bump_malloc */
};

/* The options of one command line, after the command's name. */
struct args {
	const char *signal; /* kill -s */
	bool more;	    /* call --more */
	const char *lines;  /* logs -n */
	bool follow;	    /* logs -f */
	bool reopen;	    /* logs --reopen */
	bool dry_run;	    /* reload --dry-run */
	const char *name;   /* spawn --name */
	const char *binary; /* reexec --binary */
	const char *timeout; /* reexec --timeout, wait --timeout */
	bool ready;	    /* wait --ready */
	const char *since;  /* logs --since */
	const char *until;  /* logs --until */
	const char *stream; /* logs --stream */
	bool journal;	    /* logs --journal */
	const char *journal_dir; /* logs -D */
	const char *delay;  /* top -d */
	const char *iterations; /* top -n */
	bool batch;	    /* top -b */
	bool stats;	    /* status --stats */
	int argc;	    /* operands */
	char **argv;
};

static const char usage_text[] =
	"usage: arborctl [--json] [--no-color] [--socket PATH] COMMAND [ARG...]\n"
	"\n"
	"Inspects and drives the supervision tree of a running arbord.\n"
	"\n"
	"Commands:\n"
	"  status [--stats] [PATH...]\n"
	"                         the tree, or the subtree at each PATH (/:\n"
	"                         the root); --stats: with memory, peak, CPU\n"
	"                         time and tasks\n"
	"  show PATH              the resolved spec of PATH as arbord --check\n"
	"                         prints it (/: the whole tree), every\n"
	"                         default filled in\n"
	"  metrics [PATH]         the tree's state and usage in Prometheus'\n"
	"                         text format (node_exporter's textfile\n"
	"                         collector)\n"
	"  start PATH             start a stopped child\n"
	"  stop PATH              stop a child; it stays stopped\n"
	"  restart PATH           stop and start a child\n"
	"  kill [-s SIG] PATH     send SIG (default TERM) to a service\n"
	"  events                 follow supervision events until the end\n"
	"                         (events and logs -f reconnect by themselves\n"
	"                         when arbord re-executes)\n"
	"  logs [-n N] [-f] [--since TIME] [--until TIME]\n"
	"       [--stream stdout|stderr] [--journal] [-D DIR] [PATH...]\n"
	"                         the last N (10; all) lines of a service's\n"
	"                         output, or a subtree's (or several) in\n"
	"                         time order; -f follows; TIME is RFC 3339\n"
	"                         (2026-11-21T10:00:00Z) or ago (30s, 10m,\n"
	"                         1h, 2d); without -f, lines older than the\n"
	"                         ring from the journal (log sink journal),\n"
	"                         marked journal; --journal: the journal's\n"
	"                         only; -D DIR: the journal files in DIR\n"
	"  logs --reopen          reopen the log files (after logrotate)\n"
	"  reload [--dry-run]     re-read the configuration and apply the\n"
	"                         difference; print the plan (--dry-run: only\n"
	"                         print it)\n"
	"  add PARENT SPEC        add a child (SPEC in arbor.conf syntax, -\n"
	"                         for stdin) under the supervisor PARENT\n"
	"  remove PATH            stop a child and delete it\n"
	"  spawn [--name N] POOL [--] [ARG...]\n"
	"                         start an instance of a pool, with ARGs\n"
	"                         after its template's exec\n"
	"  reexec [--binary PATH] [--timeout DURATION]\n"
	"                         replace arbord by a new binary (default:\n"
	"                         its own file) without stopping any child;\n"
	"                         wait at most DURATION (10s) for a moment\n"
	"                         to do it\n"
	"  wait [--ready] [--timeout DURATION] PATH\n"
	"                         wait until PATH is up (--ready: up and\n"
	"                         ready), at most DURATION (500ms, 10s, 2m,\n"
	"                         1h; default: for ever); exit 1 if it\n"
	"                         cannot come up or the time runs out\n"
	"  shutdown               stop the tree and arbord\n"
	"  poweroff, reboot, halt stop the tree, then the machine (arbord as\n"
	"                         the system's init only)\n"
	"  call [--more] METHOD [JSON]\n"
	"                         send any method, print the reply\n"
	"  top [-d SECONDS] [-b] [-n N] [PATH]\n"
	"                         a live view of the tree: state, restarts,\n"
	"                         CPU %, memory, tasks, every SECONDS (1);\n"
	"                         -b plain text for scripts, -n N refreshes\n"
	"\n"
	"Options:\n"
	"  -j, --json             machine output: the reply as JSON\n"
	"      --no-color         no colours on a terminal either (as\n"
	"                         NO_COLOR=1 does)\n"
	"      --socket PATH      control socket (default: $ARBOR_SOCKET,\n"
	"                         else /run/arbor/arbor.sock for root,\n"
	"                         $XDG_RUNTIME_DIR/arbor/arbor.sock for others)\n"
	"  -h, --help             this help\n"
	"  -V, --version          print the version\n"
	"\n"
	"Exit status: 0 success; 1 the request failed (wait: the node\n"
	"cannot come up, or the time ran out); 2 bad usage; 3 status PATH\n"
	"of a node that is not up; 4 arbord is not running,\n"
	"the socket is unreachable, or arbord has no connection left for\n"
	"you (too many clients). reload --dry-run: 0 nothing to do; 1 the\n"
	"plan has steps; 2 bad usage or the request failed; 4 as above.\n"
	"See arborctl(8).\n";

static int usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("arborctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'arborctl --help'.\n", stderr);
	return EXIT_USAGE;
}

static const char *
str_of(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The I/O layer: 0 or -errno, no messages. */

static int set_timeouts(int fd, int seconds);

#define CONNECT_TIMEOUT_S 10

static int
connect_socket(const char *path, int *ret_fd)
{
	struct sockaddr_un sa;
	socklen_t len;
	int fd, rc;

	rc = arb_sockpath_addr(path, &sa, &len);
	if (rc)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Linux bounds a Unix-socket connect by the send timeout: a full
	 * backlog must not block us for ever. */
	rc = set_timeouts(fd, CONNECT_TIMEOUT_S);
	if (rc == 0 && connect(fd, (struct sockaddr *)&sa, len) < 0)
		rc = -errno;
	if (rc) {
		close(fd);
		return rc == -EAGAIN ? -ETIMEDOUT : rc;
	}
	*ret_fd = fd;
	return 0;
}

static int
set_timeouts(int fd, int seconds)
{
	struct timeval tv = {.tv_sec = seconds};

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	return 0;
}

/* Writes the whole of buf (a blocking socket with a send timeout). */
static int
send_all(int fd, char **buf, size_t len)
{
	struct arb_wire_outq q;
	ssize_t left;
	int rc;

	arb_wire_outq_init(&q);
	rc = arb_wire_outq_push(&q, buf, len);
	if (rc == 0) {
		left = arb_wire_outq_flush(&q, fd);
		rc = left > 0 ? -ETIMEDOUT : (int)left;
	}
	arb_wire_outq_done(&q);
	return rc;
}

/* Connecting and calling: exit statuses from here on. */

/* Connects c->fd, whose reads time out after timeout_s (0: never). */
static int
connect_ctl(struct ctl *c, int timeout_s)
{
	int rc = connect_socket(c->socket, &c->fd);

	if (rc == 0)
		rc = set_timeouts(c->fd, timeout_s);
	if (rc == 0) {
		c->timeout_s = timeout_s;
		return 0;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	return rc;
}

static int report_connect_error(struct ctl *c, int rc);

/* A call waits timeout_s for its reply; a stream (0) for ever. */
static int
open_connection(struct ctl *c, int timeout_s)
{
	int rc;

	rc = arb_sockpath_pick(c->socket_opt, c->socket, sizeof(c->socket));
	if (rc) {
		fprintf(stderr,
			"arborctl: socket path too long (at most %zu bytes)\n",
			(size_t)ARB_SOCKPATH_MAX);
		return EXIT_UNREACHABLE;
	}
	rc = connect_ctl(c, timeout_s);
	if (rc == 0)
		return EXIT_OK;
	return report_connect_error(c, rc);
}

static int
report_connect_error(struct ctl *c, int rc)
{
	fputs("arborctl: cannot connect to ", stderr);
	arb_render_safe(stderr, c->socket);
	switch (rc) {
	case -ENOENT:
		fputs(": no such socket; is arbord running?\n", stderr);
		break;
	case -ECONNREFUSED:
		fputs(": connection refused; arbord is not running "
		      "(stale socket)\n",
		      stderr);
		break;
	case -EACCES:
	case -EPERM:
		fputs(": permission denied\n", stderr);
		break;
	default:
		fprintf(stderr, ": %s\n", strerror(-rc));
		break;
	}
	return EXIT_UNREACHABLE;
}

static int
send_call(struct ctl *c, const char *method, json_t *params, int flags)
{
	char *buf;
	size_t len;
	int rc;

	rc = arb_wire_encode_call(method, params, flags, &buf, &len);
	if (rc == -EMSGSIZE) {
		fprintf(stderr,
			"arborctl: the call is larger than %d bytes\n",
			ARB_MSG_MAX);
		return EXIT_FAILED;
	}
	if (rc) {
		fprintf(stderr, "arborctl: %s\n", strerror(-rc));
		return EXIT_FAILED;
	}
	rc = send_all(c->fd, &buf, len);
	/* arbord may have answered without reading the call (no slot left:
	 * TooManyClients) and closed: that answer says why, read it. */
	if (rc == -EPIPE || rc == -ECONNRESET)
		return EXIT_OK;
	if (rc == -ETIMEDOUT) {
		fprintf(stderr, "arborctl: arbord did not read the call "
				"within %d s\n",
			c->timeout_s);
		return EXIT_UNREACHABLE;
	}
	if (rc) {
		fprintf(stderr, "arborctl: sending to arbord: %s\n",
			strerror(-rc));
		return EXIT_UNREACHABLE;
	}
	return EXIT_OK;
}

static long long monotonic_ms(void);

/*
 * Gives the next read of c->fd what is left until deadline_ms (monotonic):
 * false if nothing is left.
 */
static bool
read_until(struct ctl *c, long long deadline_ms)
{
	long long left = deadline_ms - monotonic_ms();
	struct timeval tv;

	if (left <= 0)
		return false;
	tv.tv_sec = (time_t)(left / 1000);
	tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
	return setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0;
}

/*
 * Waits for the next reply and decodes it into *ret. With a deadline
 * (monotonic ms; -1: none but the connection's timeout), running out of
 * time is EXIT_FAILED with *ret_timed_out set and nothing said: the
 * caller knows what was waited for.
 */
static int
recv_reply_by(struct ctl *c, long long deadline_ms,
	      struct arb_wire_reply *ret, bool *ret_timed_out)
{
	struct arb_wire_err err;
	const char *msg;
	size_t len;
	ssize_t n;
	int rc;

	for (;;) {
		rc = arb_wire_reader_next(&c->rd, &msg, &len);
		if (rc == 1) {
			c->reply_msg = msg;
			c->reply_len = len;
			rc = arb_wire_decode_reply(msg, len, ret, &err);
			if (rc == 0)
				return EXIT_OK;
			fprintf(stderr, "arborctl: bad reply from arbord: %s\n",
				err.text);
			return EXIT_FAILED;
		}
		if (rc == -EMSGSIZE) {
			fprintf(stderr,
				"arborctl: reply larger than %d bytes\n",
				ARB_REPLY_MAX);
			return EXIT_FAILED;
		}
		if (rc < 0) {
			fputs("arborctl: bad reply from arbord: empty message\n",
			      stderr);
			return EXIT_FAILED;
		}
		if (deadline_ms >= 0 && !read_until(c, deadline_ms))
			n = -EAGAIN;
		else
			n = arb_wire_reader_read(&c->rd, c->fd);
		if (n > 0)
			continue;
		if (n == -EAGAIN && deadline_ms >= 0) {
			*ret_timed_out = true;
			return EXIT_FAILED;
		}
		if (n == 0)
			fputs("arborctl: arbord closed the connection\n",
			      stderr);
		else if (n == -EAGAIN)
			fprintf(stderr, "arborctl: no reply from arbord "
					"within %d s\n",
				c->timeout_s);
		else
			fprintf(stderr, "arborctl: reading from arbord: %s\n",
				strerror((int)-n));
		return EXIT_UNREACHABLE;
	}
}

/* Waits for the next reply and decodes it into *ret. */
static int
recv_reply(struct ctl *c, struct arb_wire_reply *ret)
{
	return recv_reply_by(c, -1, ret, NULL);
}

/*
 * One JSON document and a newline. Serialised in memory and written at
 * once: json_dumpf's many small fwrites cost a tenth of a large Status.
 */
static void
print_json(json_t *v, size_t flags)
{
	char *s = json_dumps(v, flags | JSON_ENCODE_ANY);

	if (!s) {
		fputs("arborctl: out of memory\n", stderr);
		return;
	}
	fputs(s, stdout);
	fputc('\n', stdout);
	arb_wire_free_dump(s);
}

/*
 * The text of P in the message {"parameters":P}, found by matching P's
 * braces outside strings (the message is known to be JSON: it decoded).
 * false for any other shape, such as another member after P.
 */
static bool
find_raw_parameters(const char *msg, size_t len, const char **ret,
		    size_t *ret_len)
{
	static const char head[] = "{\"parameters\":{";
	const size_t start = sizeof(head) - 2; /* at P's '{' */
	bool in_string = false;
	size_t depth = 0;

	if (len < sizeof(head) || memcmp(msg, head, sizeof(head) - 1) != 0)
		return false;
	for (size_t i = start; i < len; i++) {
		char ch = msg[i];

		if (in_string) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_string = false;
		} else if (ch == '"') {
			in_string = true;
		} else if (ch == '{' || ch == '[') {
			depth++;
		} else if ((ch == '}' || ch == ']') && --depth == 0) {
			if (i + 2 != len || msg[i + 1] != '}')
				return false;
			*ret = msg + start;
			*ret_len = i + 1 - start;
			return true;
		}
	}
	return false;
}

/*
 * A reply's parameters for --json. The compact dump of what it decoded to
 * is the text arbord sent, jansson's compact dump too: printing that text
 * spares dumping a large Status again, a fifth of the command's time.
 */
static void
print_reply_parameters(const struct ctl *c, const struct arb_wire_reply *r)
{
	const char *text;
	size_t len;

	if (!c->reply_msg ||
	    !find_raw_parameters(c->reply_msg, c->reply_len, &text, &len)) {
		print_json(r->parameters, JSON_COMPACT);
		return;
	}
	fwrite(text, 1, len, stdout);
	fputc('\n', stdout);
}

/*
 * Lets go of a reply. With bump_malloc nothing is freed, and walking a large
 * Status only to free nothing cost a tenth of the command: the process
 * exits soon and takes it all.
 */
static void
release_reply(const struct ctl *c, struct arb_wire_reply *r)
{
	if (!c->frees_nothing)
		arb_wire_reply_done(r);
}

/* The errors about one node: its path, quoted, in a sentence. */
static const struct {
	const char *error, *before, *after;
} path_errors[] = {
	{ARB_ERR_NO_SUCH_CHILD, "no such child '", "'"},
	{ARB_ERR_INVALID_PATH, "invalid path '", "'"},
	{ARB_ERR_NOT_RUNNING, "'", "' is not running"},
	{ARB_ERR_ALREADY_RUNNING, "'", "' is already running"},
	{ARB_ERR_RESTARTING, "'", "' is restarting; try again once it is up"},
	{ARB_ERR_TEMPORARY, "'",
	 "' is temporary: it cannot be restarted, only stopped"},
	{ARB_ERR_START_FAILED, "cannot start '", "'"},
	{ARB_ERR_ALREADY_PRESENT, "'", "' already exists"},
	{ARB_ERR_NOT_A_SUPERVISOR, "'", "' is not a supervisor"},
	{ARB_ERR_NOT_A_POOL, "'", "' is not a pool"},
	{ARB_ERR_POOL_FULL, "pool '", "' is full"},
	{ARB_ERR_POOL_INSTANCE, "'",
	 "' is a pool instance: it cannot be restarted, only stopped or "
	 "removed"},
};

/*
 * Writes the sentence for error e about path, with what the reply adds
 * (the nearest existing path, why a start failed); false if e is not
 * about a node.
 */
static bool
report_path_error(const char *e, const char *path, json_t *parameters)
{
	const char *nearest = str_of(parameters, "nearest");
	const char *why = str_of(parameters, "error");
	size_t i, n = sizeof(path_errors) / sizeof(path_errors[0]);

	for (i = 0; i < n && strcmp(e, path_errors[i].error) != 0; i++)
		;
	if (i == n)
		return false;
	fputs(path_errors[i].before, stderr);
	arb_render_safe(stderr, path);
	fputs(path_errors[i].after, stderr);
	if (strcmp(e, ARB_ERR_INVALID_PATH) == 0 &&
	    path[strspn(path, "/")] == '\0' && *path) {
		/* "/" is a path like any other, but not a child. */
		fputs(": the root has no supervisor to ask (shutdown stops the "
		      "tree)", stderr);
	} else if (strcmp(e, ARB_ERR_NO_SUCH_CHILD) == 0 && nearest) {
		fputs(" (did you mean '", stderr);
		arb_render_safe(stderr, nearest);
		fputs("'?)", stderr);
	} else if (strcmp(e, ARB_ERR_START_FAILED) == 0 && why) {
		fputs(": ", stderr);
		arb_render_safe(stderr, why);
	} else if (strcmp(e, ARB_ERR_ALREADY_PRESENT) == 0) {
		/* OTP's already_started and already_present, in words. */
		fputs(json_is_true(json_object_get(parameters, "running"))
			      ? " and is running"
			      : " (stopped: start it, or remove it first)",
		      stderr);
	} else if (strcmp(e, ARB_ERR_POOL_FULL) == 0 &&
		   json_is_integer(json_object_get(parameters,
						   "max_children"))) {
		fprintf(stderr, " (max_children %" JSON_INTEGER_FORMAT ")",
			json_integer_value(json_object_get(parameters,
							   "max_children")));
	} else if (strcmp(e, ARB_ERR_POOL_FULL) == 0 &&
		   json_is_integer(json_object_get(parameters, "nodes_max"))) {
		fprintf(stderr, ": the tree has its %" JSON_INTEGER_FORMAT
			" nodes", json_integer_value(json_object_get(
					  parameters, "nodes_max")));
	}
	return true;
}

/*
 * ConfigInvalid as a compiler says it: "SPEC:LINE:COLUMN: message" for
 * AddChild (a place in the operand), "FILE:LINE: message" when the reply
 * names the file; else arbord's message, which says where itself
 * (Reload's is the line arbord --check writes: "FILE:LINE: ...").
 */
static void
report_config_invalid(const char *method, json_t *parameters)
{
	const char *file = str_of(parameters, "file");
	const char *message = str_of(parameters, "message");
	json_t *line = json_object_get(parameters, "line");
	json_t *column = json_object_get(parameters, "column");

	if (!file && strcmp(method, ARB_METHOD_ADD_CHILD) == 0)
		file = "SPEC";
	if (!file) {
		arb_render_safe(stderr,
				message ? message : "invalid configuration");
		return;
	}
	arb_render_safe(stderr, file);
	if (json_is_integer(line))
		fprintf(stderr, ":%" JSON_INTEGER_FORMAT,
			json_integer_value(line));
	if (json_is_integer(line) && json_is_integer(column))
		fprintf(stderr, ":%" JSON_INTEGER_FORMAT,
			json_integer_value(column));
	fputs(": ", stderr);
	arb_render_safe(stderr, message ? message : "invalid");
}

/* "arbord is re-executing (FROM -> TO)", without a newline. */
static void
report_reexecuting(json_t *parameters)
{
	const char *from = str_of(parameters, "from");
	const char *to = str_of(parameters, "to");

	fputs("arbord is re-executing (", stderr);
	arb_render_safe(stderr, from ? from : "?");
	fputs(" -> ", stderr);
	arb_render_safe(stderr, to ? to : "?");
	fputc(')', stderr);
}

/*
 * One line on stderr for an error reply, in words for the errors arbor
 * defines; with --json the reply itself also goes to stdout, so a script
 * can read the structured parameters (the nearest path, say).
 */
static int
report_error(struct ctl *c, const char *method, json_t *params,
	     const struct arb_wire_reply *r)
{
	const char *e = r->error, *path = str_of(r->parameters, "path");
	const char *s;

	if (c->json) {
		json_t *obj = json_pack("{s:s, s:O}", "error", e, "parameters",
					r->parameters);

		if (obj)
			print_json(obj, JSON_COMPACT);
		json_decref(obj);
	}
	if (!path)
		path = "?";
	fputs("arborctl: ", stderr);
	if (report_path_error(e, path, r->parameters)) {
		/* written: a sentence about the node */
	} else if (strcmp(e, ARB_ERR_CONFIG_INVALID) == 0) {
		report_config_invalid(method, r->parameters);
	} else if (strcmp(e, ARB_ERR_SHUTTING_DOWN) == 0) {
		fputs("arbord is shutting down", stderr);
	} else if (strcmp(e, ARB_ERR_REEXEC_FAILED) == 0) {
		fputs("reexec refused: ", stderr);
		s = str_of(r->parameters, "step");
		arb_render_safe(stderr, s ? s : "?");
		fputs(": ", stderr);
		s = str_of(r->parameters, "reason");
		arb_render_safe(stderr, s ? s : "?");
	} else if (strcmp(e, ARB_ERR_REEXECUTING) == 0) {
		report_reexecuting(r->parameters);
		fputs("; try again", stderr);
	} else if (strcmp(e, ARB_ERR_TOO_MANY_CLIENTS) == 0) {
		fputs("arbord refused the connection: too many clients; try "
		      "again later\n", stderr);
		return EXIT_UNREACHABLE; /* nothing was asked of it */
	} else if (strcmp(e, ARB_ERR_NOT_INIT) == 0) {
		fputs("arbord is not the system's init: it cannot power off, "
		      "reboot or halt (use shutdown to stop the tree)", stderr);
	} else if (strcmp(e, ARB_ERR_PERMISSION_DENIED) == 0) {
		fprintf(stderr, "permission denied: uid %lu may not call ",
			(unsigned long)geteuid());
		arb_render_safe(stderr, method);
	} else if (strcmp(e, ARB_ERR_INVALID_PARAMETER) == 0) {
		s = str_of(r->parameters, "parameter");
		/* Quote what we sent: "invalid signal 'FOO'" says it all. */
		path = s ? str_of(params, s) : NULL;
		fputs("invalid ", stderr);
		if (path) {
			arb_render_safe(stderr, s);
			fputs(" '", stderr);
			arb_render_safe(stderr, path);
			fputc('\'', stderr);
		} else {
			fputs("parameter '", stderr);
			arb_render_safe(stderr, s ? s : "?");
			fputc('\'', stderr);
		}
	} else if (strcmp(e, ARB_ERR_METHOD_NOT_FOUND) == 0) {
		fputs("arbord has no method ", stderr);
		arb_render_safe(stderr, method);
	} else if (strcmp(e, ARB_ERR_INTERFACE_NOT_FOUND) == 0) {
		fputs("arbord has no interface for ", stderr);
		arb_render_safe(stderr, method);
	} else if (strcmp(e, ARB_ERR_EXPECTED_MORE) == 0) {
		arb_render_safe(stderr, method);
		fputs(" is a stream: use 'call --more'", stderr);
	} else {
		char *p = json_dumps(r->parameters, JSON_COMPACT);

		arb_render_safe(stderr, e);
		if (p && strcmp(p, "{}") != 0) {
			fputc(' ', stderr);
			arb_render_safe(stderr, p);
		}
		arb_wire_free_dump(p);
	}
	fputc('\n', stderr);
	return EXIT_FAILED;
}

/*
 * Calls method and waits for its one reply, which the caller releases.
 * An error reply is reported here and comes back as EXIT_FAILED.
 */
static int
call(struct ctl *c, const char *method, json_t *params,
     struct arb_wire_reply *ret)
{
	/* These wait for children to stop, which may take a stop_timeout
	 * (or for ever): no timeout of ours should cut them short. */
	bool waits = strcmp(method, ARB_METHOD_START) == 0 ||
		     strcmp(method, ARB_METHOD_STOP) == 0 ||
		     strcmp(method, ARB_METHOD_RESTART) == 0 ||
		     strcmp(method, ARB_METHOD_RELOAD) == 0 ||
		     strcmp(method, ARB_METHOD_ADD_CHILD) == 0 ||
		     strcmp(method, ARB_METHOD_REMOVE_CHILD) == 0 ||
		     strcmp(method, ARB_METHOD_SPAWN) == 0;
	struct arb_wire_reply r;
	int rc;

	rc = open_connection(c, waits ? 0
				: c->reply_timeout_s ? c->reply_timeout_s
						     : CALL_TIMEOUT_S);
	if (rc == EXIT_OK)
		rc = send_call(c, method, params, 0);
	if (rc == EXIT_OK)
		rc = recv_reply(c, &r);
	if (rc)
		return rc;
	if (r.error) {
		rc = report_error(c, method, params, &r);
		arb_wire_reply_done(&r);
		return rc;
	}
	*ret = r;
	return EXIT_OK;
}

/* Ends the connection of one call, for the next one. */
static void
hang_up(struct ctl *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	arb_wire_reader_done(&c->rd);
	arb_wire_reader_init(&c->rd, ARB_REPLY_MAX);
}

/* The Status of path (NULL: the whole tree), with stats or not, for
 * status and metrics: EXIT_OK with *ret holding "nodes". */
static int
status_call(struct ctl *c, const char *path, bool stats,
	    struct arb_wire_reply *ret)
{
	struct arb_wire_reply r;
	json_t *params;
	int rc;

	params = path ? json_pack("{s:s}", "path", path) : json_object();
	if (!params)
		return usage_error("PATH '%s' is not valid UTF-8", path);
	if (stats && json_object_set_new(params, "stats", json_true())) {
		json_decref(params);
		fputs("arborctl: out of memory\n", stderr);
		return EXIT_FAILED;
	}
	rc = call(c, ARB_METHOD_STATUS, params, &r);
	json_decref(params);
	if (rc)
		return rc;
	if (!json_is_array(json_object_get(r.parameters, "nodes"))) {
		fputs("arborctl: bad reply from arbord: no nodes\n", stderr);
		arb_wire_reply_done(&r);
		return EXIT_FAILED;
	}
	*ret = r;
	return EXIT_OK;
}

/* Whether the first node of a Status reply, the one asked for, is up. */
static bool
first_is_up(json_t *nodes)
{
	const char *state = str_of(json_array_get(nodes, 0), "state");

	return state && strcmp(state, "up") == 0;
}

/*
 * status PATH PATH...: each subtree in turn, as status PATH draws it, or
 * with --json one reply whose nodes are theirs, in that order. A path
 * that fails is reported and the others still shown; the status is the
 * first failure's, else 3 if a node asked for is not up (LSB).
 */
static int
status_of_several(struct ctl *c, struct args *a)
{
	json_t *all = json_pack("{s:[]}", "nodes"), *nodes;
	json_t *containment = NULL, *last = NULL;
	int rc = EXIT_OK, failed = EXIT_OK;
	bool all_up = true;

	if (!all) {
		fputs("arborctl: out of memory\n", stderr);
		return EXIT_FAILED;
	}
	for (int i = 0; i < a->argc && failed != EXIT_UNREACHABLE; i++) {
		struct arb_wire_reply r;

		rc = status_call(c, a->argv[i], a->stats, &r);
		hang_up(c);
		if (rc) {
			failed = failed ? failed : rc;
			continue;
		}
		nodes = json_object_get(r.parameters, "nodes");
		all_up = all_up && first_is_up(nodes);
		json_decref(containment);
		containment = json_incref(
			json_object_get(r.parameters, "containment"));
		json_decref(last);
		last = json_incref(nodes);
		if (c->json)
			rc = json_array_extend(json_object_get(all, "nodes"),
					       nodes);
		else
			rc = arb_render_tree(stdout, &c->render, nodes);
		if (rc < 0) {
			fputs("arborctl: out of memory\n", stderr);
			failed = failed ? failed : EXIT_FAILED;
		}
		release_reply(c, &r);
	}
	/* Once, below them all: it is the same for every subtree. */
	if (!c->json && last)
		arb_render_stats_source(stdout, last);
	if (c->json && containment &&
	    json_object_set(all, "containment", containment) == 0)
		print_json(all, JSON_COMPACT);
	json_decref(last);
	json_decref(containment);
	json_decref(all);
	if (failed)
		return failed;
	return all_up ? EXIT_OK : EXIT_NOT_UP;
}

static int
cmd_status(struct ctl *c, struct args *a)
{
	struct arb_wire_reply r;
	json_t *nodes;
	int rc;

	if (a->argc > 1)
		return status_of_several(c, a);
	rc = status_call(c, a->argc ? a->argv[0] : NULL, a->stats, &r);
	if (rc)
		return rc;
	nodes = json_object_get(r.parameters, "nodes");
	if (c->json) {
		print_reply_parameters(c, &r);
	} else if (arb_render_tree(stdout, &c->render, nodes) < 0) {
		fputs("arborctl: out of memory\n", stderr);
		rc = EXIT_FAILED;
	} else {
		/* Below the tree, so that its first line is still the top. */
		if (a->argc == 0)
			arb_render_containment(
				stdout,
				json_object_get(r.parameters, "containment"));
		arb_render_stats_source(stdout, nodes);
	}
	/* LSB: status of something that is not running is 3. */
	if (rc == EXIT_OK && a->argc && !first_is_up(nodes))
		rc = EXIT_NOT_UP;
	release_reply(c, &r);
	return rc;
}

/* The resolved spec of one node as arbord --check prints it; --json:
 * the reply, {"spec": TEXT}. */
static int
cmd_show(struct ctl *c, struct args *a)
{
	struct arb_wire_reply r;
	const char *spec;
	json_t *params;
	int rc;

	if (a->argc != 1)
		return usage_error("show takes one PATH");
	params = json_pack("{s:s}", "path", a->argv[0]);
	if (!params)
		return usage_error("PATH '%s' is not valid UTF-8", a->argv[0]);
	rc = call(c, ARB_METHOD_SHOW, params, &r);
	json_decref(params);
	if (rc)
		return rc;
	spec = str_of(r.parameters, "spec");
	if (c->json) {
		print_reply_parameters(c, &r);
	} else if (!spec) {
		fputs("arborctl: bad reply from arbord: no spec\n", stderr);
		rc = EXIT_FAILED;
	} else {
		/* Written as it came: it is the configuration's own syntax,
		 * which arbord quoted, and what add reads back. */
		fputs(spec, stdout);
	}
	release_reply(c, &r);
	return rc;
}

/* Prometheus' text format, whatever --json says: it is made to be read
 * by a scraper, and status --stats --json has the numbers as JSON. */
static int
cmd_metrics(struct ctl *c, struct args *a)
{
	struct arb_wire_reply r;
	int rc;

	if (a->argc > 1)
		return usage_error("metrics takes at most one PATH");
	rc = status_call(c, a->argc ? a->argv[0] : NULL, true, &r);
	if (rc)
		return rc;
	(void)arb_metrics_write(stdout,
				json_object_get(r.parameters, "nodes"),
				json_object_get(r.parameters, "containment"));
	release_reply(c, &r);
	return EXIT_OK;
}

/* start, stop, restart, kill, shutdown: silent unless --json. */
static int
simple_call(struct ctl *c, const char *method, json_t *params)
{
	struct arb_wire_reply r;
	int rc;

	rc = call(c, method, params, &r);
	if (rc)
		return rc;
	if (c->json)
		print_json(r.parameters, JSON_COMPACT);
	arb_wire_reply_done(&r);
	return EXIT_OK;
}

static int
path_call(struct ctl *c, struct args *a, const char *cmd, const char *method)
{
	json_t *params;
	int rc;

	if (a->argc != 1)
		return usage_error("%s takes one PATH", cmd);
	params = json_pack("{s:s}", "path", a->argv[0]);
	if (!params)
		return usage_error("PATH '%s' is not valid UTF-8", a->argv[0]);
	if (a->signal &&
	    json_object_set_new(params, "signal", json_string(a->signal))) {
		json_decref(params);
		return usage_error("signal '%s' is not valid UTF-8", a->signal);
	}
	rc = simple_call(c, method, params);
	json_decref(params);
	return rc;
}

static int
cmd_start(struct ctl *c, struct args *a)
{
	return path_call(c, a, "start", ARB_METHOD_START);
}

static int
cmd_stop(struct ctl *c, struct args *a)
{
	return path_call(c, a, "stop", ARB_METHOD_STOP);
}

static int
cmd_restart(struct ctl *c, struct args *a)
{
	return path_call(c, a, "restart", ARB_METHOD_RESTART);
}

static int
cmd_kill(struct ctl *c, struct args *a)
{
	if (!a->signal)
		a->signal = "TERM";
	return path_call(c, a, "kill", ARB_METHOD_SIGNAL);
}

static int
cmd_shutdown(struct ctl *c, struct args *a)
{
	if (a->argc)
		return usage_error("shutdown takes no argument");
	return simple_call(c, ARB_METHOD_SHUTDOWN, NULL);
}

/* poweroff, reboot, halt: Shutdown with an action. */
static int
power_call(struct ctl *c, struct args *a, const char *action)
{
	json_t *params;
	int rc;

	if (a->argc)
		return usage_error("%s takes no argument", action);
	params = json_pack("{s:s}", "action", action);
	if (!params) {
		fputs("arborctl: out of memory\n", stderr);
		return EXIT_FAILED;
	}
	rc = simple_call(c, ARB_METHOD_SHUTDOWN, params);
	json_decref(params);
	return rc;
}

static int
cmd_poweroff(struct ctl *c, struct args *a)
{
	return power_call(c, a, "poweroff");
}

static int
cmd_reboot(struct ctl *c, struct args *a)
{
	return power_call(c, a, "reboot");
}

static int
cmd_halt(struct ctl *c, struct args *a)
{
	return power_call(c, a, "halt");
}

/* The living tree: reload, add, remove, spawn. */

/*
 * Prints the plan of a Reload reply (or, with --json, the reply). Returns
 * whether the plan has steps through *ret_steps.
 */
static int
show_plan(struct ctl *c, json_t *reply, bool *ret_steps)
{
	json_t *plan = json_object_get(reply, "plan");
	json_t *steps = json_object_get(plan, "steps");

	if (!json_is_object(plan) || !json_is_array(steps)) {
		fputs("arborctl: bad reply from arbord: no plan\n", stderr);
		return EXIT_FAILED;
	}
	*ret_steps = json_array_size(steps) > 0;
	if (c->json) {
		print_json(reply, JSON_COMPACT);
		return EXIT_OK;
	}
	if (arb_render_plan(stdout, &c->render, plan,
			    json_is_true(json_object_get(reply, "applied"))) <
	    0) {
		fputs("arborctl: out of memory\n", stderr);
		return EXIT_FAILED;
	}
	return EXIT_OK;
}

static int
cmd_reload(struct ctl *c, struct args *a)
{
	struct arb_wire_reply r;
	json_t *params;
	bool steps = false;
	int rc;

	if (a->argc)
		return usage_error("reload takes no argument");
	params = a->dry_run ? json_pack("{s:b}", "dryRun", 1) : json_object();
	if (!params) {
		fputs("arborctl: out of memory\n", stderr);
		return a->dry_run ? EXIT_DRY_TROUBLE : EXIT_FAILED;
	}
	rc = call(c, ARB_METHOD_RELOAD, params, &r);
	json_decref(params);
	if (rc == EXIT_OK) {
		rc = show_plan(c, r.parameters, &steps);
		arb_wire_reply_done(&r);
	}
	if (!a->dry_run)
		return rc;
	/* diff(1)'s statuses; unreachable stays 4, as for every command. */
	if (rc == EXIT_OK)
		return steps ? EXIT_DRY_DIFFERS : EXIT_DRY_SAME;
	return rc == EXIT_UNREACHABLE ? rc : EXIT_DRY_TROUBLE;
}

/* Prints the path of a reply (AddChild, Spawn), or the reply (--json). */
static int
show_path(struct ctl *c, json_t *reply)
{
	const char *path = str_of(reply, "path");

	if (c->json) {
		print_json(reply, JSON_COMPACT);
		return EXIT_OK;
	}
	if (!path) {
		fputs("arborctl: bad reply from arbord: no path\n", stderr);
		return EXIT_FAILED;
	}
	arb_render_safe(stdout, path);
	fputc('\n', stdout);
	return EXIT_OK;
}

/* Calls method and prints the path it answers. */
static int
path_reply_call(struct ctl *c, const char *method, json_t *params)
{
	struct arb_wire_reply r;
	int rc;

	rc = call(c, method, params, &r);
	if (rc)
		return rc;
	rc = show_path(c, r.parameters);
	arb_wire_reply_done(&r);
	return rc;
}

/*
 * SPEC "-": the whole of standard input, which a call must be able to
 * carry (ARB_MSG_MAX); the caller frees *ret. EXIT_OK or a usage error.
 */
static int
read_spec(char **ret)
{
	size_t len = 0, cap = ARB_MSG_MAX + 1;
	char *buf = malloc(cap + 1);
	size_t n;

	if (!buf) {
		fputs("arborctl: out of memory\n", stderr);
		return EXIT_FAILED;
	}
	while ((n = fread(buf + len, 1, cap - len, stdin)) > 0)
		len += n;
	if (ferror(stdin)) {
		free(buf);
		return usage_error("reading SPEC from standard input: %s",
				   strerror(errno));
	}
	if (len >= cap) {
		free(buf);
		return usage_error("SPEC is larger than %d bytes",
				   ARB_MSG_MAX);
	}
	if (memchr(buf, '\0', len)) {
		/* What follows it would be dropped without a word. */
		free(buf);
		return usage_error("SPEC on standard input holds a NUL byte");
	}
	buf[len] = '\0';
	*ret = buf;
	return EXIT_OK;
}

static int
cmd_add(struct ctl *c, struct args *a)
{
	char *stdin_spec = NULL;
	const char *spec;
	json_t *params;
	int rc;

	if (a->argc != 2)
		return usage_error("add takes PARENT and SPEC");
	spec = a->argv[1];
	if (strcmp(spec, "-") == 0) {
		rc = read_spec(&stdin_spec);
		if (rc)
			return rc;
		spec = stdin_spec;
	}
	params = json_pack("{s:s, s:s}", "parent", a->argv[0], "spec", spec);
	free(stdin_spec);
	if (!params)
		return usage_error("PARENT or SPEC is not valid UTF-8");
	rc = path_reply_call(c, ARB_METHOD_ADD_CHILD, params);
	json_decref(params);
	return rc;
}

static int
cmd_remove(struct ctl *c, struct args *a)
{
	return path_call(c, a, "remove", ARB_METHOD_REMOVE_CHILD);
}

/* {"pool": POOL, "name": N?, "args": [ARG...]?}; NULL if not UTF-8. */
static json_t *
spawn_params(struct args *a)
{
	json_t *params = json_pack("{s:s}", "pool", a->argv[0]);
	json_t *args = json_array();
	bool ok = params && args;

	if (ok && a->name)
		ok = json_object_set_new(params, "name",
					 json_string(a->name)) == 0;
	for (int i = 1; ok && i < a->argc; i++)
		ok = json_array_append_new(args, json_string(a->argv[i])) == 0;
	if (ok && a->argc > 1)
		ok = json_object_set(params, "args", args) == 0;
	json_decref(args);
	if (!ok) {
		json_decref(params);
		return NULL;
	}
	return params;
}

static int
cmd_spawn(struct ctl *c, struct args *a)
{
	json_t *params;
	int rc;

	if (a->argc < 1)
		return usage_error("spawn takes POOL and optional ARGs");
	if (a->name && !*a->name)
		return usage_error("--name needs a name");
	params = spawn_params(a);
	if (!params)
		return usage_error("POOL, --name or an ARG is not valid UTF-8");
	rc = path_reply_call(c, ARB_METHOD_SPAWN, params);
	json_decref(params);
	return rc;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000,
			      .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static long long
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * A stream's arbord re-executes (Reexecuting, its parameters): says so,
 * connects again within RECONNECT_LIMIT_MS and sends the call again, with
 * the parameters again() makes of the first call's.
 */
static int
reconnect(struct ctl *c, const char *method, json_t *params,
	  json_t *(*again)(struct ctl *c, json_t *params), json_t *why)
{
	long long deadline = monotonic_ms() + RECONNECT_LIMIT_MS;
	json_t *next;
	int rc;

	fputs("arborctl: ", stderr);
	report_reexecuting(why);
	fputs("; reconnecting\n", stderr);
	close(c->fd);
	c->fd = -1;
	/* What the old connection still held is of no use. */
	arb_wire_reader_done(&c->rd);
	arb_wire_reader_init(&c->rd, ARB_REPLY_MAX);
	while ((rc = connect_ctl(c, 0)) < 0 && monotonic_ms() < deadline)
		sleep_ms(RECONNECT_PAUSE_MS);
	if (rc < 0)
		return report_connect_error(c, rc);
	next = again(c, params);
	if (!next) {
		fputs("arborctl: out of memory\n", stderr);
		return EXIT_FAILED;
	}
	rc = send_call(c, method, next, ARB_WIRE_MORE);
	json_decref(next);
	if (rc == EXIT_OK)
		fputs("arborctl: reconnected\n", stderr);
	return rc;
}

/*
 * Sends one call and hands the parameters of every reply to show, until
 * the reply without "continues" (at once unless more is set). Without
 * more the call times out after CALL_TIMEOUT_S; a stream waits for ever.
 * With again (a stream that survives arbord's re-exec), Reexecuting
 * reconnects and calls again, with the parameters again() makes.
 */
static int
follow(struct ctl *c, const char *method, json_t *params, bool more,
       void (*show)(struct ctl *c, json_t *params),
       json_t *(*again)(struct ctl *c, json_t *params))
{
	struct arb_wire_reply r;
	int rc;

	rc = open_connection(c, more ? 0 : CALL_TIMEOUT_S);
	if (rc == EXIT_OK)
		rc = send_call(c, method, params, more ? ARB_WIRE_MORE : 0);
	while (rc == EXIT_OK) {
		rc = recv_reply(c, &r);
		if (rc)
			break;
		if (r.error && again &&
		    strcmp(r.error, ARB_ERR_REEXECUTING) == 0) {
			rc = reconnect(c, method, params, again, r.parameters);
			arb_wire_reply_done(&r);
			continue;
		}
		if (r.error) {
			rc = report_error(c, method, params, &r);
			arb_wire_reply_done(&r);
			break;
		}
		show(c, r.parameters);
		more = r.continues;
		arb_wire_reply_done(&r);
		if (!more)
			break;
	}
	return rc;
}

static void
show_event(struct ctl *c, json_t *params)
{
	json_t *ev = json_object_get(params, "event");

	/* The last reply may carry no event: it only ends the stream. */
	if (!json_is_object(ev))
		return;
	if (c->json)
		print_json(ev, JSON_COMPACT);
	else
		arb_render_event(stdout, &c->render, ev, time(NULL));
}

/* Events again after a re-exec: the same call (no parameters). */
static json_t *
events_again(struct ctl *c, json_t *params)
{
	return json_object();
}

static int
cmd_events(struct ctl *c, struct args *a)
{
	if (a->argc)
		return usage_error("events takes no argument");
	/* Each event as it comes, even into a pipe. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	return follow(c, ARB_METHOD_EVENTS, NULL, true, show_event,
		      events_again);
}

/* 0 if text is UTF-8 (what jansson takes), else -EINVAL. */
static int
utf8_check(const char *text)
{
	json_t *v = json_string(text);

	json_decref(v);
	return v ? 0 : -EINVAL;
}

/*
 * A duration, "500ms", "10s", "2m", "1h" (a bare number is seconds), from
 * min_ms to max_ms; -1 when it is none.
 */
static long long
duration_ms(const char *text, long long min_ms, long long max_ms)
{
	static const struct {
		const char *unit;
		long long ms;
	} units[] = {{"ms", 1},		{"s", 1000},	  {"", 1000},
		     {"m", 60 * 1000}, {"h", 3600 * 1000}, {"d", 86400 * 1000}};
	char *end;
	long long v;

	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno || end == text || v < 0 || *text == '-' || *text == '+')
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) != 0)
			continue;
		if (v > max_ms / units[i].ms)
			return -1;
		v *= units[i].ms;
		return v < min_ms ? -1 : v;
	}
	return -1;
}

/*
 * "2026-11-21T10:00:00.123456Z", "2026-11-21 10:00:00+01:00": RFC 3339
 * (a space for the T allowed, as its section 5.6 does) in microseconds
 * since the epoch; -1 if text is not that.
 */
static int
rfc3339_us(const char *text, long long *ret)
{
	struct tm tm = {0};
	const char *p = strptime(text, "%Y-%m-%d", &tm);
	long long us = 0, scale = 100000, offset_s = 0;

	if (!p || (*p != 'T' && *p != 't' && *p != ' '))
		return -1;
	p = strptime(p + 1, "%H:%M:%S", &tm);
	if (!p)
		return -1;
	if (*p == '.') {
		if (!(p[1] >= '0' && p[1] <= '9'))
			return -1;
		for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
			us += (*p - '0') * scale;
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
		/* UTC */
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 &&
		   p[1] >= '0' && p[1] <= '2' && p[2] >= '0' && p[2] <= '9' &&
		   p[3] == ':' && p[4] >= '0' && p[4] <= '5' && p[5] >= '0' &&
		   p[5] <= '9') {
		offset_s = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 +
			   ((p[4] - '0') * 10 + (p[5] - '0')) * 60;
		if (*p == '-')
			offset_s = -offset_s;
	} else {
		return -1;
	}
	*ret = ((long long)timegm(&tm) - offset_s) * 1000000 + us;
	return 0;
}

/* Whether path is top or under it ("/": everything). */
static bool
in_subtree(const char *path, const char *top)
{
	size_t n;

	while (*top == '/' && top[1])
		top++;
	n = strlen(top);
	while (n > 1 && top[n - 1] == '/')
		n--;
	if (n == 1 && top[0] == '/')
		return true;
	return strncmp(path, top, n) == 0 &&
	       (path[n] == '\0' || path[n] == '/');
}

/* Whether line l passes --since, --until, --stream and the paths. */
static bool
log_line_wanted(const struct log_filter *f, json_t *l)
{
	const char *path = str_of(l, "path"), *stream = str_of(l, "stream");
	const char *time = str_of(l, "time");
	long long us;
	bool in = f->npaths == 0;

	for (int i = 0; !in && path && i < f->npaths; i++)
		in = in_subtree(path, f->paths[i]);
	if (!in)
		return false;
	if (f->stream && (!stream || strcmp(stream, f->stream) != 0))
		return false;
	if (!f->has_since && !f->has_until)
		return true;
	if (!time || rfc3339_us(time, &us) < 0)
		return false; /* no time to judge by: not in the range */
	return (!f->has_since || us >= f->since_us) &&
	       (!f->has_until || us <= f->until_us);
}

static void
print_log_line(struct ctl *c, json_t *l)
{
	if (c->json)
		print_json(l, JSON_COMPACT);
	else
		arb_render_log_line(stdout, &c->render, l);
}

/*
 * The lines of a Logs reply: printed, or with a filter, those it lets
 * through; a backlog gathered by several calls is kept in filter.kept
 * to be sorted first. The newest seq is noted either way: a follow
 * after the backlog, or after a re-exec, goes on from there.
 */
static void
show_lines(struct ctl *c, json_t *params)
{
	json_t *lines = json_object_get(params, "lines"), *l;
	size_t i;

	json_array_foreach(lines, i, l) {
		json_t *seq = json_object_get(l, "seq");

		if (json_is_integer(seq) &&
		    (!c->seen_seq || json_integer_value(seq) > c->last_seq)) {
			c->seen_seq = true;
			c->last_seq = json_integer_value(seq);
		}
		if (c->filter.kept)
			(void)json_array_append(c->filter.kept, l);
		else if (!c->filter.active || log_line_wanted(&c->filter, l))
			print_log_line(c, l);
	}
}

/*
 * Logs -f again after a re-exec (seqs carry over): every line after the
 * last one read (printed, or filtered out). None read: the backlog was
 * empty, so every line is new, unless -n 0 asked for none of the old
 * ones (then only new lines, and those read while no arbord ran are
 * missed).
 */
static json_t *
logs_again(struct ctl *c, json_t *params)
{
	json_t *next = json_deep_copy(params);
	json_t *lines = json_object_get(params, "lines");
	int r = 0;

	if (!next)
		return NULL;
	if (c->seen_seq)
		r = json_object_set_new(next, "after",
					json_integer(c->last_seq));
	if (r == 0 && (c->seen_seq || json_integer_value(lines) != 0))
		r = json_object_set_new(next, "lines", json_integer(-1));
	if (r < 0) {
		json_decref(next);
		return NULL;
	}
	return next;
}

/* -n N: a count, or "all". */
static int
lines_of(const char *text, json_int_t *ret)
{
	char *end;
	long long v;

	if (strcmp(text, "all") == 0) {
		*ret = -1;
		return 0;
	}
	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno || end == text || *end || v < 0)
		return -1;
	*ret = v;
	return 0;
}

/* --since or --until "ago" goes back 100 years at most: no line kept is
 * older, and a larger figure is a typing mistake. */
#define LOG_AGO_MAX_MS (100LL * 366 * 86400 * 1000)

/*
 * --since, --until: RFC 3339 ("2026-11-21T10:00:00Z", an offset such as
 * "+01:00" instead of Z), or how long ago with a unit ("30s", "10m",
 * "1h", "2d"); -1 when it is neither.
 */
static int
log_time_us(const char *text, long long *ret)
{
	size_t n = strlen(text);
	long long ms;
	struct timespec now;

	if (rfc3339_us(text, ret) == 0)
		return 0;
	/* A bare number would be a duration elsewhere, but here it is more
	 * likely a mistyped time: a unit is required. */
	if (n == 0 || (text[n - 1] >= '0' && text[n - 1] <= '9'))
		return -1;
	ms = duration_ms(text, 0, LOG_AGO_MAX_MS);
	if (ms < 0)
		return -1;
	clock_gettime(CLOCK_REALTIME, &now);
	*ret = (long long)now.tv_sec * 1000000 + now.tv_nsec / 1000 -
	       ms * 1000;
	return 0;
}

/* The filter of logs' options and paths, or a usage error. */
static int
log_filter_of(struct args *a, struct log_filter *f)
{
	if (a->since && log_time_us(a->since, &f->since_us) < 0)
		return usage_error("--since: '%s' is not a time (RFC 3339, "
				   "2026-11-21T10:00:00Z, or ago: 30s, 10m, "
				   "1h, 2d)", a->since);
	if (a->until && log_time_us(a->until, &f->until_us) < 0)
		return usage_error("--until: '%s' is not a time (RFC 3339, "
				   "2026-11-21T10:00:00Z, or ago: 30s, 10m, "
				   "1h, 2d)", a->until);
	if (a->until && a->follow)
		return usage_error("--until ends what -f follows: use one");
	if (a->stream && strcmp(a->stream, "stdout") != 0 &&
	    strcmp(a->stream, "stderr") != 0)
		return usage_error("--stream: '%s' is not stdout or stderr",
				   a->stream);
	for (int i = 0; i < a->argc; i++)
		if (utf8_check(a->argv[i]) < 0)
			return usage_error("PATH '%s' is not valid UTF-8",
					   a->argv[i]);
	f->has_since = a->since != NULL;
	f->has_until = a->until != NULL;
	f->stream = a->stream;
	if (a->argc > 1) {
		f->paths = a->argv;
		f->npaths = a->argc;
	}
	f->active = f->has_since || f->has_until || f->stream || f->npaths;
	return EXIT_OK;
}

/* Logs(path?, lines, follow, after?); NULL on OOM. */
static json_t *
logs_params(const char *path, json_int_t lines, bool follow,
	    const json_int_t *after)
{
	json_t *params = json_pack("{s:I,s:b}", "lines", lines, "follow",
				   follow);

	if (params && path &&
	    json_object_set_new(params, "path", json_string(path)) < 0) {
		json_decref(params);
		return NULL;
	}
	if (params && after &&
	    json_object_set_new(params, "after", json_integer(*after)) < 0) {
		json_decref(params);
		return NULL;
	}
	return params;
}

static int
by_seq(const void *a, const void *b)
{
	json_int_t x = json_integer_value(
		json_object_get(*(json_t *const *)a, "seq"));
	json_int_t y = json_integer_value(
		json_object_get(*(json_t *const *)b, "seq"));

	return (x > y) - (x < y);
}

/*
 * The lines gathered in f->kept that the filter lets through, oldest
 * first, each once (the subtrees asked for may overlap), into *ret (the
 * caller frees it; the lines stay kept's). EXIT_OK or EXIT_FAILED.
 */
static int
select_kept(struct ctl *c, json_t ***ret, size_t *ret_n)
{
	size_t n = json_array_size(c->filter.kept), m = 0;
	json_t **v = n ? calloc(n, sizeof(*v)) : NULL;

	if (n && !v) {
		fputs("arborctl: out of memory\n", stderr);
		return EXIT_FAILED;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *l = json_array_get(c->filter.kept, i);

		if (log_line_wanted(&c->filter, l))
			v[m++] = l;
	}
	if (m)
		qsort(v, m, sizeof(*v), by_seq);
	/* Each once: equal seqs are one line seen through two subtrees. */
	n = 0;
	for (size_t i = 0; i < m; i++)
		if (n == 0 || by_seq(&v[n - 1], &v[i]) != 0)
			v[n++] = v[i];
	*ret = v;
	*ret_n = n;
	return EXIT_OK;
}

/* A line's time in microseconds; -1 when it has none. */
static long long
line_time_us(json_t *l)
{
	const char *time = str_of(l, "time");
	long long us;

	return time && rfc3339_us(time, &us) == 0 ? us : -1;
}

/*
 * Prints the newest `lines` (-1: all) of the ring's lines (ring, n, in
 * the order they were read) and the journal's (f->journal, older than
 * the ring's of the same service), in time order: at equal times the
 * journal's first, since they were read before the ring's oldest.
 */
static int
print_merged(struct ctl *c, json_t **ring, size_t n, json_int_t lines)
{
	size_t nj = json_array_size(c->filter.journal), total = n + nj;
	json_t **v = total ? calloc(total, sizeof(*v)) : NULL;
	size_t i = 0, k = 0, m = 0, first;

	if (total && !v) {
		fputs("arborctl: out of memory\n", stderr);
		return EXIT_FAILED;
	}
	while (i < n || k < nj) {
		json_t *j = k < nj ? json_array_get(c->filter.journal, k) : NULL;

		if (i < n && (!j || line_time_us(ring[i]) < line_time_us(j)))
			v[m++] = ring[i++];
		else
			v[m++] = json_array_get(c->filter.journal, k++);
	}
	first = lines >= 0 && (size_t)lines < m ? m - (size_t)lines : 0;
	for (size_t x = first; x < m; x++)
		print_log_line(c, v[x]);
	free(v);
	return EXIT_OK;
}

/* What the journal's lines of a logs command are compared with. */
struct journal_ctx {
	struct ctl *c;
	struct args *a;
};

/* A path the command asked for: under one of its operands (none: all). */
static bool
journal_path_wanted(void *ctx, const char *path)
{
	const struct journal_ctx *jc = ctx;

	if (jc->a->argc == 0)
		return true;
	for (int i = 0; i < jc->a->argc; i++)
		if (in_subtree(path, jc->a->argv[i]))
			return true;
	return false;
}

/*
 * Whether the ring holds the journal's line of path too: it was read
 * after the ring's oldest line of that service, or with it (the lines of
 * one read share their time), at or after its seq. journald's own time
 * (an arbord that sent no ARBOR_TIME_USEC) is later than the line's: an
 * entry of it at or after the oldest's time is left out too.
 */
static bool
journal_in_ring(void *ctx, const char *path, long long time_us,
		long long seq, bool exact)
{
	const struct journal_ctx *jc = ctx;
	json_t *oldest = json_object_get(jc->c->filter.ring_oldest, path);
	long long t0, seq0;

	if (!oldest)
		return false;
	t0 = (long long)json_integer_value(json_array_get(oldest, 0));
	seq0 = (long long)json_integer_value(json_array_get(oldest, 1));
	if (!exact)
		return time_us >= t0;
	return time_us > t0 || (time_us == t0 && (seq < 0 || seq >= seq0));
}

static bool
journal_line_wanted(void *ctx, json_t *l)
{
	const struct journal_ctx *jc = ctx;

	return log_line_wanted(&jc->c->filter, l);
}

/* The time and seq of each service's oldest line in f->kept. 0/-ENOMEM. */
static int
note_ring_oldest(struct log_filter *f)
{
	json_t *l;
	size_t i;

	f->ring_oldest = json_object();
	if (!f->ring_oldest)
		return -ENOMEM;
	json_array_foreach(f->kept, i, l) {
		const char *path = str_of(l, "path");
		json_t *seq = json_object_get(l, "seq");
		json_t *had = path ? json_object_get(f->ring_oldest, path)
				   : NULL;
		long long t = line_time_us(l);

		if (!path || !json_is_integer(seq) || t < 0)
			continue;
		if (had && json_integer_value(json_array_get(had, 1)) <=
				   json_integer_value(seq))
			continue;
		if (json_object_set_new(f->ring_oldest, path,
					json_pack("[I,I]", (json_int_t)t,
						  json_integer_value(seq))) <
		    0)
			return -ENOMEM;
	}
	return 0;
}

/* One line on stderr: why the journal could not be read. */
static void
report_journal_error(struct args *a, int r)
{
	fputs("arborctl: ", stderr);
	if (a->journal_dir) {
		fputs("journal directory '", stderr);
		arb_render_safe(stderr, a->journal_dir);
		/* -ENOENT: no such directory, or nothing to read in it. */
		if (r == -ENOENT && access(a->journal_dir, F_OK) == 0)
			fputs("': no journal file that this user may read",
			      stderr);
		else
			fprintf(stderr, "': %s", strerror(-r));
	} else if (r == -ENOENT) {
		fputs("no journal to read (no file in /run/log/journal or "
		      "/var/log/journal that this user may read)", stderr);
	} else {
		fprintf(stderr, "reading the journal: %s", strerror(-r));
	}
	/* Said after the ring's lines are printed, if any are. */
	fputs(a->journal ? "\n" : "; only the ring's lines are shown\n",
	      stderr);
}

/*
 * The newest `lines` lines of the journal that the command asks for and
 * that the ring does not hold (f->ring_oldest), into f->journal. Returns
 * 0 or the -errno of arb_journal_lines, not yet reported.
 */
static int
read_journal(struct ctl *c, struct args *a, json_int_t lines)
{
	struct journal_ctx jc = {.c = c, .a = a};
	struct arb_journal_query q = {
		.directory = a->journal_dir,
		.has_since = c->filter.has_since,
		.has_until = c->filter.has_until,
		.since_us = c->filter.since_us,
		.until_us = c->filter.until_us,
		.max_lines = lines,
		.ctx = &jc,
		.path_wanted = journal_path_wanted,
		.in_ring = c->filter.ring_oldest ? journal_in_ring : NULL,
		.line_wanted = journal_line_wanted,
	};

	c->filter.journal = json_array();
	if (!c->filter.journal)
		return -ENOMEM;
	return arb_journal_lines(&q, c->filter.journal);
}

/*
 * Whether a node of the subtrees asked for logs to the journal, as their
 * Status says: EXIT_OK with *ret set, or the Status call's failure.
 */
static int
journal_sink_asked(struct ctl *c, struct args *a, bool *ret)
{
	int npaths = a->argc ? a->argc : 1, rc = EXIT_OK;

	*ret = false;
	for (int i = 0; rc == EXIT_OK && i < npaths && !*ret; i++) {
		struct arb_wire_reply r;
		json_t *node;
		size_t k;

		rc = status_call(c, a->argc ? a->argv[i] : NULL, false, &r);
		hang_up(c);
		if (rc)
			break;
		json_array_foreach(json_object_get(r.parameters, "nodes"), k,
				   node)
			if (json_is_true(json_object_get(node, "journal")))
				*ret = true;
		arb_wire_reply_done(&r);
	}
	return rc;
}

/*
 * The ring's lines that pass (n of them) are fewer than asked for: the
 * older ones come from the journal, when a service asked for logs to it
 * (or -D names journal files). A journal that cannot be read is said
 * once, and the ring's lines are still printed: *ret_err holds its
 * -errno. Not with -f, whose backlog and lines to come are one stream
 * of the rings' (see cmd_logs).
 */
static int
add_journal_lines(struct ctl *c, struct args *a, json_int_t lines, size_t n,
		  int *ret_err)
{
	bool sink = a->journal_dir != NULL;
	int rc = EXIT_OK;

	if (a->follow || lines == 0 || (lines > 0 && n >= (size_t)lines))
		return EXIT_OK;
	if (!sink)
		rc = journal_sink_asked(c, a, &sink);
	if (rc || !sink)
		return rc;
	if (note_ring_oldest(&c->filter) < 0) {
		fputs("arborctl: out of memory\n", stderr);
		return EXIT_FAILED;
	}
	*ret_err = read_journal(c, a, lines);
	return EXIT_OK;
}

/*
 * The backlog of every path asked for (none: the whole tree), gathered,
 * completed from the journal when the rings hold fewer lines than asked
 * for, and printed through the filter. With a filter arbord cannot apply,
 * every line kept is asked for, and the newest `lines` of those that
 * pass are printed.
 */
static int
logs_backlog(struct ctl *c, struct args *a, json_int_t lines)
{
	bool narrowed = c->filter.has_since || c->filter.has_until ||
			c->filter.stream;
	int npaths = a->argc ? a->argc : 1, rc = EXIT_OK, journal_err = 0;
	json_t **ring = NULL;
	size_t n = 0;

	c->filter.kept = json_array();
	if (!c->filter.kept) {
		fputs("arborctl: out of memory\n", stderr);
		return EXIT_FAILED;
	}
	for (int i = 0; rc == EXIT_OK && i < npaths && lines != 0; i++) {
		json_t *params = logs_params(a->argc ? a->argv[i] : NULL,
					     narrowed ? -1 : lines, false,
					     NULL);

		if (!params) {
			fputs("arborctl: out of memory\n", stderr);
			rc = EXIT_FAILED;
			break;
		}
		rc = follow(c, ARB_METHOD_LOGS, params, true, show_lines, NULL);
		json_decref(params);
		hang_up(c);
	}
	if (rc == EXIT_OK)
		rc = select_kept(c, &ring, &n);
	if (rc == EXIT_OK)
		rc = add_journal_lines(c, a, lines, n, &journal_err);
	if (rc == EXIT_OK)
		rc = print_merged(c, ring, n, lines);
	if (rc == EXIT_OK && journal_err) {
		fflush(stdout);
		report_journal_error(a, journal_err);
	}
	free(ring);
	json_decref(c->filter.kept);
	json_decref(c->filter.journal);
	json_decref(c->filter.ring_oldest);
	c->filter.kept = c->filter.journal = c->filter.ring_oldest = NULL;
	return rc;
}

/*
 * logs --journal: the newest `lines` lines of the journal that pass the
 * filter, without asking arbord (which need not run: -D reads a copied
 * journal). A journal that cannot be read is a failure.
 */
static int
logs_journal_only(struct ctl *c, struct args *a, json_int_t lines)
{
	int r = lines == 0 ? 0 : read_journal(c, a, lines), rc = EXIT_OK;

	if (r < 0) {
		report_journal_error(a, r);
		rc = EXIT_FAILED;
	} else {
		rc = print_merged(c, NULL, 0, lines);
	}
	json_decref(c->filter.journal);
	c->filter.journal = NULL;
	return rc;
}

/* Follows the Logs call of params (NULL: out of memory), and frees it. */
static int
follow_logs(struct ctl *c, json_t *params)
{
	int rc;

	if (!params) {
		fputs("arborctl: out of memory\n", stderr);
		return EXIT_FAILED;
	}
	rc = follow(c, ARB_METHOD_LOGS, params, true, show_lines, logs_again);
	json_decref(params);
	return rc;
}

/*
 * logs -f after a filtered backlog: every line after the newest one
 * gathered (none: every line from now, or -n 0: only new ones), of the
 * one path asked for or, for several, of the whole tree, filtered here.
 */
static int
logs_follow_filtered(struct ctl *c, struct args *a, json_int_t lines)
{
	json_int_t after = c->last_seq;
	json_t *params;

	params = logs_params(a->argc == 1 ? a->argv[0] : NULL,
			     c->seen_seq || lines != 0 ? -1 : 0, true,
			     c->seen_seq ? &after : NULL);
	return follow_logs(c, params);
}

static int
cmd_logs(struct ctl *c, struct args *a)
{
	json_int_t lines = 10;
	int rc;

	if (a->reopen) {
		if (a->argc || a->lines || a->follow || a->since ||
		    a->until || a->stream || a->journal || a->journal_dir)
			return usage_error("logs --reopen takes nothing else");
		return simple_call(c, ARB_METHOD_REOPEN_LOGS, NULL);
	}
	if (a->journal && a->follow)
		return usage_error("--journal reads what the journal holds, -f "
				   "follows the rings: use one");
	if (a->journal_dir && !*a->journal_dir)
		return usage_error("-D needs a directory");
	rc = log_filter_of(a, &c->filter);
	if (rc)
		return rc;
	/* A time range without -n: all of it, as journalctl prints it. */
	if ((a->since || a->until) && !a->lines)
		lines = -1;
	if (a->lines && lines_of(a->lines, &lines) < 0)
		return usage_error("-n: '%s' is not a number of lines or "
				   "'all'", a->lines);
	if (a->journal)
		return logs_journal_only(c, a, lines);
	if (a->follow)
		setvbuf(stdout, NULL, _IOLBF, 0);
	/*
	 * -f: one call, its backlog and the lines that follow one stream,
	 * which survives arbord's re-exec even during the backlog; the
	 * journal is not read then. Else the backlog is gathered whole, to
	 * know whether the journal must complete it.
	 */
	if (a->follow && !c->filter.active)
		return follow_logs(c, logs_params(a->argc ? a->argv[0] : NULL,
						  lines, true, NULL));
	rc = logs_backlog(c, a, lines);
	if (rc == EXIT_OK && a->follow)
		rc = logs_follow_filtered(c, a, lines);
	return rc;
}

/* {"binary": PATH (absolute)?, "timeout": MS?}, or a usage error. */
static int
reexec_params(struct args *a, json_t **ret, long long *ret_timeout_ms)
{
	long long timeout_ms = ARB_REEXEC_TIMEOUT_MS;
	char *abs = NULL;
	json_t *params;

	if (a->timeout) {
		timeout_ms = duration_ms(a->timeout, ARB_REEXEC_TIMEOUT_MIN_MS,
					 ARB_REEXEC_TIMEOUT_MAX_MS);
		if (timeout_ms < 0)
			return usage_error("--timeout: '%s' is not a duration "
					   "from 1ms to 10m (500ms, 10s, 2m)",
					   a->timeout);
	}
	if (a->binary && !*a->binary)
		return usage_error("--binary needs a path");
	/* arbord's working directory is not ours: a relative path is
	 * resolved here. */
	if (a->binary && a->binary[0] != '/') {
		abs = realpath(a->binary, NULL);
		if (!abs)
			return usage_error("--binary '%s': %s", a->binary,
					   strerror(errno));
	}
	params = a->timeout ? json_pack("{s:I}", "timeout",
					(json_int_t)timeout_ms)
			    : json_object();
	if (params && a->binary &&
	    json_object_set_new(params, "binary",
				json_string(abs ? abs : a->binary)) < 0) {
		free(abs);
		json_decref(params);
		return usage_error("--binary '%s' is not valid UTF-8",
				   a->binary);
	}
	free(abs);
	if (!params) {
		fputs("arborctl: out of memory\n", stderr);
		return EXIT_FAILED;
	}
	*ret = params;
	*ret_timeout_ms = timeout_ms;
	return EXIT_OK;
}

static int
cmd_reexec(struct ctl *c, struct args *a)
{
	struct arb_wire_reply r;
	json_t *params;
	long long timeout_ms = 0;
	int rc;

	if (a->argc)
		return usage_error("reexec takes no argument");
	rc = reexec_params(a, &params, &timeout_ms);
	if (rc)
		return rc;
	/* arbord may wait that long for a moment to save its state, then
	 * the new image answers. */
	c->reply_timeout_s = (int)((timeout_ms + 999) / 1000) + CALL_TIMEOUT_S;
	rc = call(c, ARB_METHOD_REEXEC, params, &r);
	json_decref(params);
	if (rc)
		return rc;
	if (c->json) {
		print_json(r.parameters, JSON_COMPACT);
	} else if (arb_render_reexec(stdout, r.parameters) < 0) {
		fputs("arborctl: bad reply from arbord: no versions\n", stderr);
		rc = EXIT_FAILED;
	}
	arb_wire_reply_done(&r);
	return rc;
}

/* wait: how long at most (--timeout), and what for. */
#define WAIT_TIMEOUT_MAX_MS (366LL * 86400 * 1000)

enum wait_verdict {
	WAIT_DONE,    /* the node is what was waited for */
	WAIT_NOT_YET, /* it may become so */
	WAIT_NEVER,   /* it cannot: a temporary child that is gone */
};

/*
 * The node as Status shows it: up is up, and ready ("started means
 * ready", M6); a child still starting whose process runs (waiting for
 * its readiness) is up, but not ready.
 */
static enum wait_verdict
wait_verdict_of(json_t *node, bool ready)
{
	const char *state = str_of(node, "state");

	if (!state)
		return WAIT_NOT_YET;
	if (strcmp(state, "up") == 0)
		return WAIT_DONE;
	if (!ready && strcmp(state, "starting") == 0 &&
	    str_of(node, "waiting"))
		return WAIT_DONE;
	if (strcmp(state, "gone") == 0)
		return WAIT_NEVER;
	return WAIT_NOT_YET;
}

/*
 * Asks Status of path on a connection of its own (c's carries the event
 * stream): *ret_verdict and the state seen in state (for the message of
 * a timeout). An unknown path is reported here, with the nearest one.
 */
static int
wait_check(struct ctl *c, const char *path, bool ready,
	   enum wait_verdict *ret_verdict, char *state, size_t state_size)
{
	struct ctl probe = {.fd = -1, .socket_opt = c->socket_opt,
			    .json = c->json};
	struct arb_wire_reply r;
	json_t *params = json_pack("{s:s}", "path", path), *node;
	const char *s;
	int rc;

	if (!params) {
		fputs("arborctl: out of memory\n", stderr);
		return EXIT_FAILED;
	}
	arb_wire_reader_init(&probe.rd, ARB_REPLY_MAX);
	rc = call(&probe, ARB_METHOD_STATUS, params, &r);
	json_decref(params);
	if (rc == EXIT_OK) {
		node = json_array_get(json_object_get(r.parameters, "nodes"), 0);
		*ret_verdict = wait_verdict_of(node, ready);
		s = str_of(node, "state");
		snprintf(state, state_size, "%s", s ? s : "?");
		arb_wire_reply_done(&r);
	}
	arb_wire_reader_done(&probe.rd);
	if (probe.fd >= 0)
		close(probe.fd);
	return rc;
}

/* Whether an event at event_path may change the node at path: its own,
 * an ancestor's (a supervisor's restart) or, for a supervisor, one
 * below it. */
static bool
wait_concerns(const char *path, const char *event_path)
{
	size_t n = strlen(path), m = strlen(event_path);

	if (strcmp(path, "/") == 0 || strcmp(event_path, "/") == 0)
		return true;
	if (n < m)
		return strncmp(event_path, path, n) == 0 && event_path[n] == '/';
	return strncmp(path, event_path, m) == 0 &&
	       (path[m] == '\0' || path[m] == '/');
}

/*
 * One reply of the event stream: EXIT_OK, with *ret_recheck when the
 * node's state must be asked again, or why the wait ends (said here).
 */
static int
wait_event(struct ctl *c, const char *path, struct arb_wire_reply *r,
	   bool *ret_recheck)
{
	json_t *ev = json_object_get(r->parameters, "event");
	const char *name = str_of(ev, "event"), *at = str_of(ev, "path");

	if (r->error && strcmp(r->error, ARB_ERR_REEXECUTING) == 0) {
		*ret_recheck = true;
		return reconnect(c, ARB_METHOD_EVENTS, NULL, events_again,
				 r->parameters);
	}
	if (r->error)
		return report_error(c, ARB_METHOD_EVENTS, NULL, r);
	if ((name && strcmp(name, "down") == 0) || !r->continues) {
		fputs("arborctl: the tree is down: '", stderr);
		arb_render_safe(stderr, path);
		fputs("' will not come up\n", stderr);
		return EXIT_FAILED;
	}
	*ret_recheck = at && wait_concerns(path, at);
	return EXIT_OK;
}

/* "arborctl: 'web' is not up after 5s (starting)" */
static int
report_wait_timeout(const char *path, bool ready, const char *timeout,
		    const char *state)
{
	fputs("arborctl: '", stderr);
	arb_render_safe(stderr, path);
	fprintf(stderr, "' is not %s after %s (%s)\n", ready ? "ready" : "up",
		timeout, state);
	return EXIT_FAILED;
}

/*
 * The event stream is asked for first, then the node's state: a change
 * between the two is an event on the stream. arbord reads the stream's
 * call before the Status: it was sent before the second connection was
 * even made, and arbord reads a new connection's call only in a later
 * turn of its loop than the accept. Each event about the node, an
 * ancestor or a descendant asks its state again: no polling.
 */
static int
cmd_wait(struct ctl *c, struct args *a)
{
	enum wait_verdict verdict = WAIT_NOT_YET;
	long long timeout_ms = -1, deadline_ms = -1;
	char state[32] = "?";
	struct arb_wire_reply r;
	bool recheck = true, timed_out = false;
	int rc;

	if (a->argc != 1)
		return usage_error("wait takes one PATH");
	if (a->timeout) {
		timeout_ms = duration_ms(a->timeout, 0, WAIT_TIMEOUT_MAX_MS);
		if (timeout_ms < 0)
			return usage_error("--timeout: '%s' is not a duration "
					   "(500ms, 10s, 2m, 1h)", a->timeout);
		deadline_ms = monotonic_ms() + timeout_ms;
	}
	rc = utf8_check(a->argv[0]);
	if (rc)
		return usage_error("PATH '%s' is not valid UTF-8", a->argv[0]);
	rc = open_connection(c, 0);
	if (rc == EXIT_OK)
		rc = send_call(c, ARB_METHOD_EVENTS, NULL, ARB_WIRE_MORE);
	while (rc == EXIT_OK) {
		if (recheck)
			rc = wait_check(c, a->argv[0], a->ready, &verdict,
					state, sizeof(state));
		if (rc || verdict == WAIT_DONE)
			break;
		if (verdict == WAIT_NEVER) {
			fputs("arborctl: '", stderr);
			arb_render_safe(stderr, a->argv[0]);
			fputs("' is gone: a temporary child is not restarted\n",
			      stderr);
			return EXIT_FAILED;
		}
		rc = recv_reply_by(c, deadline_ms, &r, &timed_out);
		if (timed_out)
			return report_wait_timeout(a->argv[0], a->ready,
						   a->timeout, state);
		if (rc)
			break;
		rc = wait_event(c, a->argv[0], &r, &recheck);
		arb_wire_reply_done(&r);
	}
	return rc;
}

static void
show_raw(struct ctl *c, json_t *params)
{
	print_json(params, c->json ? JSON_COMPACT : JSON_INDENT(2));
}

static int
cmd_call(struct ctl *c, struct args *a)
{
	json_error_t jerr;
	json_t *params = NULL;
	int rc;

	if (a->argc < 1 || a->argc > 2)
		return usage_error("call takes METHOD and optional JSON");
	if (!*a->argv[0])
		return usage_error("call needs a METHOD name");
	/* Checked before connecting: jansson takes UTF-8 only. */
	params = json_string(a->argv[0]);
	if (!params)
		return usage_error("METHOD is not valid UTF-8");
	json_decref(params);
	params = NULL;
	if (a->argc == 2) {
		params = json_loads(a->argv[1], JSON_REJECT_DUPLICATES, &jerr);
		if (!params)
			return usage_error("JSON parameters: %s", jerr.text);
		if (!json_is_object(params)) {
			json_decref(params);
			return usage_error("JSON parameters must be an object");
		}
	}
	if (a->more)
		setvbuf(stdout, NULL, _IOLBF, 0);
	rc = follow(c, a->argv[0], params, a->more, show_raw, NULL);
	json_decref(params);
	return rc;
}

/*
 * top -d: seconds, a fraction allowed, from 0.1 (no faster: each refresh
 * costs arbord a Status) to a day; -1 when it is none.
 */
static long long
delay_ms_of(const char *text)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(text, &end);
	if (errno || end == text || *end || !(v >= 0.1 && v <= 86400))
		return -1;
	return (long long)(v * 1000 + 0.5);
}

static int
cmd_top(struct ctl *c, struct args *a)
{
	struct arb_top_opts o = {.delay_ms = 1000, .batch = a->batch};
	char *end;
	int rc;

	if (a->argc > 1)
		return usage_error("top takes at most one PATH");
	if (c->json)
		return usage_error("top has no --json output (use status "
				   "--json)");
	if (a->delay && (o.delay_ms = delay_ms_of(a->delay)) < 0)
		return usage_error("-d: '%s' is not a number of seconds from "
				   "0.1 to 86400", a->delay);
	if (a->iterations) {
		errno = 0;
		o.iterations = strtol(a->iterations, &end, 10);
		if (errno || end == a->iterations || *end || o.iterations < 1)
			return usage_error("-n: '%s' is not a count of "
					   "refreshes", a->iterations);
	}
	if (!a->batch && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)))
		return usage_error("top needs a terminal on standard input "
				   "and output; use -b for plain text");
	rc = arb_sockpath_pick(c->socket_opt, c->socket, sizeof(c->socket));
	if (rc) {
		fprintf(stderr,
			"arborctl: socket path too long (at most %zu bytes)\n",
			(size_t)ARB_SOCKPATH_MAX);
		return EXIT_UNREACHABLE;
	}
	o.socket = c->socket;
	o.path = a->argc ? a->argv[0] : NULL;
	switch (arb_top_run(&o)) {
	case ARB_TOP_QUIT:
		return EXIT_OK;
	case ARB_TOP_GONE:
		return EXIT_UNREACHABLE;
	case ARB_TOP_FAILED:
		break;
	}
	return EXIT_FAILED;
}

enum {
	OPT_SOCKET = 0x100,
	OPT_MORE,
	OPT_REOPEN,
	OPT_DRY_RUN,
	OPT_NAME,
	OPT_BINARY,
	OPT_TIMEOUT,
	OPT_ITERATIONS,
	OPT_STATS,
	OPT_READY,
	OPT_SINCE,
	OPT_UNTIL,
	OPT_STREAM,
	OPT_NO_COLOR,
	OPT_JOURNAL,
};

static const struct option global_options[] = {
	{"json", no_argument, NULL, 'j'},
	{"socket", required_argument, NULL, OPT_SOCKET},
	{"no-color", no_argument, NULL, OPT_NO_COLOR},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{"signal", required_argument, NULL, 's'}, /* kill only */
	{"more", no_argument, NULL, OPT_MORE},	  /* call only */
	{"lines", required_argument, NULL, 'n'},  /* logs only */
	{"follow", no_argument, NULL, 'f'},	  /* logs only */
	{"reopen", no_argument, NULL, OPT_REOPEN}, /* logs only */
	{"dry-run", no_argument, NULL, OPT_DRY_RUN}, /* reload only */
	{"name", required_argument, NULL, OPT_NAME}, /* spawn only */
	{"binary", required_argument, NULL, OPT_BINARY},   /* reexec only */
	{"timeout", required_argument, NULL, OPT_TIMEOUT}, /* reexec, wait */
	{"ready", no_argument, NULL, OPT_READY},	   /* wait only */
	{"since", required_argument, NULL, OPT_SINCE},	   /* logs only */
	{"until", required_argument, NULL, OPT_UNTIL},	   /* logs only */
	{"stream", required_argument, NULL, OPT_STREAM},   /* logs only */
	{"journal", no_argument, NULL, OPT_JOURNAL},	   /* logs only */
	{"journal-directory", required_argument, NULL, 'D'}, /* logs only */
	{"delay", required_argument, NULL, 'd'},	   /* top only */
	{"batch", no_argument, NULL, 'b'},		   /* top only */
	{"iterations", required_argument, NULL, OPT_ITERATIONS}, /* top only */
	{"stats", no_argument, NULL, OPT_STATS},	   /* status only */
	{NULL, 0, NULL, 0},
};

static const struct command {
	const char *name;
	int (*run)(struct ctl *c, struct args *a);
} commands[] = {
	{"status", cmd_status},	    {"start", cmd_start},
	{"stop", cmd_stop},	    {"restart", cmd_restart},
	{"kill", cmd_kill},	    {"events", cmd_events},
	{"logs", cmd_logs},	    {"reload", cmd_reload},
	{"add", cmd_add},	    {"remove", cmd_remove},
	{"spawn", cmd_spawn},	    {"reexec", cmd_reexec},
	{"shutdown", cmd_shutdown}, {"call", cmd_call},
	{"poweroff", cmd_poweroff}, {"reboot", cmd_reboot},
	{"halt", cmd_halt},	    {"top", cmd_top},
	{"metrics", cmd_metrics},   {"wait", cmd_wait},
	{"show", cmd_show},
};

/* The options of some commands only, and which: given to another, each
 * is a usage error naming them. */
static const struct option_owner {
	int opt;
	const char *what;    /* as the error names it */
	const char *cmds[2]; /* the commands it is for */
} option_owners[] = {
	{'s', "-s SIGNAL", {"kill"}},
	{'n', "-n N", {"logs", "top"}},
	{OPT_ITERATIONS, "--iterations N", {"top"}},
	{'d', "-d SECONDS", {"top"}},
	{'b', "-b", {"top"}},
	{'f', "-f", {"logs"}},
	{OPT_SINCE, "--since TIME", {"logs"}},
	{OPT_UNTIL, "--until TIME", {"logs"}},
	{OPT_STREAM, "--stream STREAM", {"logs"}},
	{OPT_REOPEN, "--reopen", {"logs"}},
	{OPT_JOURNAL, "--journal", {"logs"}},
	{'D', "-D DIR", {"logs"}},
	{OPT_DRY_RUN, "--dry-run", {"reload"}},
	{OPT_NAME, "--name N", {"spawn"}},
	{OPT_BINARY, "--binary PATH", {"reexec"}},
	{OPT_TIMEOUT, "--timeout DURATION", {"reexec", "wait"}},
	{OPT_READY, "--ready", {"wait"}},
	{OPT_STATS, "--stats", {"status"}},
	{OPT_MORE, "--more", {"call"}},
};

/* Whether opt may go with cmd (NULL before the command's name); if not,
 * says so. */
static bool
option_fits(int opt, const char *cmd)
{
	const size_t n = sizeof(option_owners) / sizeof(option_owners[0]);

	for (size_t i = 0; i < n; i++) {
		const struct option_owner *o = &option_owners[i];
		const size_t ncmds = sizeof(o->cmds) / sizeof(o->cmds[0]);

		if (o->opt != opt)
			continue;
		for (size_t k = 0; k < ncmds && o->cmds[k]; k++)
			if (cmd && strcmp(cmd, o->cmds[k]) == 0)
				return true;
		if (o->cmds[1])
			usage_error("%s is an option of %s and %s", o->what,
				    o->cmds[0], o->cmds[1]);
		else
			usage_error("%s is an option of %s", o->what,
				    o->cmds[0]);
		return false;
	}
	return true;
}

/*
 * Options go before the command or after it (`status web --json`, as the
 * bash completion calls it). -s is kill's signal, --more call's flag;
 * operands that start with '-' follow "--".
 */
static int
parse(struct ctl *c, int argc, char **argv, const char *cmd, struct args *a,
      bool *ret_done)
{
	/* ':' first: a missing argument is ':', not '?'; '+' stops at the
	 * command's name in the first pass. */
	const char *shortopts = !cmd			   ? "+:jhVs"
				: strcmp(cmd, "kill") == 0 ? ":jhVs:"
				: strcmp(cmd, "logs") == 0 ? ":jhVsn:fD:"
				: strcmp(cmd, "top") == 0  ? ":jhVsd:bn:"
							   : ":jhVs";
	bool top = cmd && strcmp(cmd, "top") == 0;
	char unknown[3] = "-?";
	int opt;

	opterr = 0;
	optind = 0; /* glibc: rescan from scratch */
	while ((opt = getopt_long(argc, argv, shortopts, global_options,
				  NULL)) != -1) {
		if (!option_fits(opt, cmd))
			return EXIT_USAGE;
		switch (opt) {
		case 'j':
			c->json = true;
			break;
		case OPT_NO_COLOR:
			c->no_color = true;
			break;
		case OPT_SOCKET:
			if (!*optarg)
				return usage_error("--socket needs a path");
			c->socket_opt = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			*ret_done = true;
			return EXIT_OK;
		case 'V':
			printf("arborctl %s\n", ARB_VERSION);
			*ret_done = true;
			return EXIT_OK;
		case 's':
			a->signal = optarg;
			break;
		case 'n':
			if (top)
				a->iterations = optarg;
			else
				a->lines = optarg;
			break;
		case OPT_ITERATIONS:
			a->iterations = optarg;
			break;
		case 'd':
			a->delay = optarg;
			break;
		case 'b':
			a->batch = true;
			break;
		case 'f':
			a->follow = true;
			break;
		case OPT_SINCE:
			a->since = optarg;
			break;
		case OPT_UNTIL:
			a->until = optarg;
			break;
		case OPT_STREAM:
			a->stream = optarg;
			break;
		case OPT_REOPEN:
			a->reopen = true;
			break;
		case OPT_JOURNAL:
			a->journal = true;
			break;
		case 'D':
			a->journal_dir = optarg;
			break;
		case OPT_DRY_RUN:
			a->dry_run = true;
			break;
		case OPT_NAME:
			a->name = optarg;
			break;
		case OPT_BINARY:
			a->binary = optarg;
			break;
		case OPT_TIMEOUT:
			a->timeout = optarg;
			break;
		case OPT_READY:
			a->ready = true;
			break;
		case OPT_STATS:
			a->stats = true;
			break;
		case OPT_MORE:
			a->more = true;
			break;
		case ':':
			return usage_error("option '%s' needs an argument",
					   argv[optind - 1]);
		default:
			if (optopt) {
				unknown[1] = (char)optopt;
				return usage_error("unknown option '%s'",
						   unknown);
			}
			return usage_error("unknown option '%s'",
					   argv[optind - 1]);
		}
	}
	a->argc = argc - optind;
	a->argv = argv + optind;
	return EXIT_OK;
}

/*
 * Most commands live for one request: jansson's many small allocations come
 * from large blocks that are never given back, which makes decoding and
 * printing a Status of a thousand nodes about a third cheaper than with
 * malloc and free. Memory is bounded by the reply (ARB_REPLY_MAX).
 */
#define BUMP_BLOCK (1024 * 1024)

static struct {
	char *block;
	size_t used, size;
} bump;

static void *
bump_malloc(size_t n)
{
	void *p;

	n = (n + 15) & ~(size_t)15;
	if (n > BUMP_BLOCK / 4)
		return malloc(n); /* large: on its own, never freed either */
	if (!bump.block || bump.used + n > bump.size) {
		bump.block = malloc(BUMP_BLOCK);
		if (!bump.block)
			return NULL;
		bump.used = 0;
		bump.size = BUMP_BLOCK;
	}
	p = bump.block + bump.used;
	bump.used += n;
	return p;
}

static void
bump_free(void *p)
{
	(void)p; /* everything goes when the process exits */
}

int
main(int argc, char **argv)
{
	struct ctl c = {.fd = -1};
	struct args a = {0};
	const struct command *cmd = NULL;
	const char *no_color = getenv("NO_COLOR");
	const char *term = getenv("TERM");
	bool done = false;
	int rc;

	arb_seed_json();
	rc = parse(&c, argc, argv, NULL, &a, &done);
	if (rc || done)
		return rc;
	if (a.argc == 0)
		return usage_error("no command given");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, a.argv[0]) == 0)
			cmd = &commands[i];
	if (!cmd)
		return usage_error("unknown command '%s'", a.argv[0]);
	/* The command's own arguments, with its name as argv[0]. */
	rc = parse(&c, a.argc, a.argv, cmd->name, &a, &done);
	if (rc || done)
		return rc;
	/* A stream lives on: only a one-request command may never free. */
	if (strcmp(cmd->name, "events") != 0 &&
	    strcmp(cmd->name, "logs") != 0 &&
	    strcmp(cmd->name, "wait") != 0 &&
	    strcmp(cmd->name, "top") != 0 && !a.more) {
		json_set_alloc_funcs(bump_malloc, bump_free);
		c.frees_nothing = true;
	}

	(void)setlocale(LC_CTYPE, "");
	if (isatty(STDOUT_FILENO) && !(term && strcmp(term, "dumb") == 0)) {
		/* no-color.org: NO_COLOR set and not empty, whatever its
		 * value. */
		c.render.color = !c.no_color && !(no_color && *no_color);
		c.render.utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
	}
	arb_wire_reader_init(&c.rd, ARB_REPLY_MAX);
	rc = cmd->run(&c, &a);
	arb_wire_reader_done(&c.rd);
	if (c.fd >= 0)
		close(c.fd);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "arborctl: writing the output: %s\n",
			strerror(errno));
		return rc ? rc : EXIT_FAILED;
	}
	return rc;
}
