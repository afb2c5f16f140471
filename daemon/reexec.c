/*
 * reexec.c - the old image's side of a re-exec (reexec.h).
 *
 *   WAIT_PROBE  until the runtime is settled: save a state, run
 *               `BINARY --probe-state FD` on it                -> PROBING
 *   PROBING     the probe exits 0 (its first line names the new
 *               version)                                       -> WAIT_EXEC
 *   WAIT_EXEC   until settled again: every signal blocked, and the
 *               loop turns once more without waiting        -> ARMED
 *   ARMED       still settled: say event=reexec, hand the control
 *               socket over, save the state, execv(); else back to
 *               WAIT_EXEC, signals unblocked
 *
 * Any failure answers the caller with ReexecFailed and its step, and
 * nothing is replaced: the probe catches a binary that cannot read this
 * state or this configuration before anything is handed over. A re-exec
 * into the very file this image runs (the same inode, unchanged since it
 * started, and the same libraries: a restart of the same build) needs no
 * probe process, since this image reads what it writes: WAIT_PROBE then
 * only loads the configuration on disk, the fallback, here. "Settled"
 * is checked when the loop is about to poll (an ev_prepare), so the state
 * is saved between two events, never inside one. A signal is never lost
 * to the exec: from ARMED on they are blocked, so one that comes stays
 * pending across execve(2) for the new image, and the extra turn of the
 * loop hands libev's own (caught before the block) to their handlers.
 */
#include "reexec.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ev.h>

#include "clock.h"
#include "jarena.h"
#include "config/config.h"
#include "protocol.h"
#include "logs/event_log.h"
#include "runtime_internal.h"
#include "runtime_state.h"
#include "systemd.h"

extern char **environ;

enum phase { WAIT_PROBE, PROBING, WAIT_EXEC, ARMED };

struct arb_reexec {
	struct runtime *rt;
	enum phase phase;
	char *binary;
	int binary_fd;     /* binary, opened (O_PATH) when asked: what is
			    * checked, probed and exec'd is one file, even if
			    * another is renamed to its path meanwhile */
	uint64_t req_id;
	int64_t timeout_ms;
	ev_prepare settle;
	ev_idle turn;      /* ARMED: one more turn of the loop, no wait */
	ev_timer timer;    /* the wait for a settled moment, or the probe */
	sigset_t mask;     /* ARMED: the mask before every signal was blocked */
	int probe_pid;
	int probe_out;     /* the read end of its stdout and stderr */
	bool self;         /* binary is the file this image runs */
	char to[64];       /* the new version, as the probe said */
};

static void
event(struct runtime *rt, const char *name, const char *k1, const char *v1,
      const char *k2, const char *v2, const char *k3, const char *v3)
{
	struct arb_event_fields f = {.n = 0};
	struct arb_logfmt line;

	f.v[f.n++] = (struct arb_event_field){.key = "event", .str = name};
	if (k1)
		f.v[f.n++] = (struct arb_event_field){.key = k1, .str = v1};
	if (k2)
		f.v[f.n++] = (struct arb_event_field){.key = k2, .str = v2};
	if (k3)
		f.v[f.n++] = (struct arb_event_field){.key = k3, .str = v3};
	arb_events_format_fields(&f, &line);
	arb_logs_event(rt->logs, line.buf, line.len);
	arb_control_event(rt->control, &f);
}

/* Signals as they were before ARMED. */
static void
disarm(struct arb_reexec *x)
{
	if (x->phase != ARMED)
		return;
	(void)sigprocmask(SIG_SETMASK, &x->mask, NULL);
	x->phase = WAIT_EXEC;
}

static void
reexec_end(struct runtime *rt)
{
	struct arb_reexec *x = rt->reexec;

	if (!x)
		return;
	disarm(x);
	ev_idle_stop(rt->loop, &x->turn);
	ev_prepare_stop(rt->loop, &x->settle);
	ev_timer_stop(rt->loop, &x->timer);
	if (x->probe_pid > 0) {
		/* The probe is reaped by the loop like any orphan. */
		(void)kill(x->probe_pid, SIGKILL);
	}
	if (x->probe_out >= 0)
		close(x->probe_out);
	if (x->binary_fd >= 0)
		close(x->binary_fd);
	free(x->binary);
	free(x);
	rt->reexec = NULL;
}

/* The caller learns why nothing was replaced; so does the log. */
static void
fail(struct runtime *rt, const char *step, const char *reason)
{
	struct arb_reexec *x = rt->reexec;
	json_t *p = json_pack("{s:s,s:s}", "step", step, "reason", reason);

	event(rt, "reexec_failed", "step", step, "reason", reason,
	      x ? "binary" : NULL, x ? x->binary : NULL);
	if (x && x->req_id)
		arb_control_complete(rt->control, x->req_id,
				     ARB_ERR_REEXEC_FAILED, p);
	json_decref(p);
	reexec_end(rt);
}

/*
 * Whether every file this image maps (its libraries: libjansson, libev...)
 * is still the file at its path: a package upgrade renames new ones there,
 * and a new image of the same binary would run them.
 */
static bool
libraries_unchanged(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[4352];
	bool same = f != NULL;

	while (same && fgets(line, sizeof(line), f)) {
		unsigned long long inode;
		unsigned major, minor;
		struct stat st;
		int path_at = 0;

		if (sscanf(line, "%*s %*s %*s %x:%x %llu %n", &major, &minor,
			   &inode, &path_at) < 3 || inode == 0 || path_at == 0 ||
		    line[path_at] != '/')
			continue;
		line[strcspn(line, "\n")] = '\0';
		same = !strstr(line + path_at, " (deleted)") &&
		       stat(line + path_at, &st) == 0 && st.st_ino == inode &&
		       major(st.st_dev) == major && minor(st.st_dev) == minor;
	}
	if (f)
		fclose(f);
	return same;
}

/*
 * Whether fd is the file this image runs, as it was when it started, with
 * the libraries it runs on: then the new image is this one's build, which
 * reads what it writes (test_state, state_fuzz and the re-exec tests hold
 * it to that).
 */
static bool
is_self(const struct runtime *rt, int fd)
{
	const struct stat *a = &rt->self_stat;
	struct stat b;

	return rt->self_known && fstat(fd, &b) == 0 && a->st_dev == b.st_dev &&
	       a->st_ino == b.st_ino && a->st_size == b.st_size &&
	       a->st_mtim.tv_sec == b.st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b.st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b.st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b.st_ctim.tv_nsec && libraries_unchanged();
}

/*
 * The file to exec: absolute, a regular file we may execute, opened once
 * (*ret_fd, O_PATH) so that the file checked is the file exec'd.
 */
static int
open_binary(const char *path, int *ret_fd, char *why, size_t size)
{
	struct stat st;
	int fd;

	if (path[0] != '/') {
		snprintf(why, size, "%s: not an absolute path", path);
		return -EINVAL;
	}
	fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || access(path, X_OK) < 0) {
		int e = errno;

		snprintf(why, size, "%s: %s", path, strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, size, "%s: not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	*ret_fd = fd;
	return 0;
}

static void on_settle(struct ev_loop *loop, ev_prepare *w, int revents);
static void on_turn(struct ev_loop *loop, ev_idle *w, int revents);
static void on_timer(struct ev_loop *loop, ev_timer *w, int revents);

static void
wait_settled(struct arb_reexec *x, enum phase phase)
{
	x->phase = phase;
	ev_timer_stop(x->rt->loop, &x->timer);
	ev_timer_set(&x->timer, (double)x->timeout_ms / 1000.0, 0.0);
	ev_timer_start(x->rt->loop, &x->timer);
	ev_prepare_start(x->rt->loop, &x->settle);
	/* The runtime may be settled already, with nothing to wake the loop:
	 * one more turn, without waiting, looks at once. */
	ev_idle_start(x->rt->loop, &x->turn);
}

void
arb_reexec_request(struct runtime *rt, const char *binary, int64_t timeout_ms,
		   uint64_t req_id)
{
	struct arb_reexec *x;
	char why[512];

	if (rt->reexec) {
		json_t *p = json_pack("{s:s,s:s}", "step", "busy", "reason",
				      "a re-exec is already under way");

		arb_control_complete(rt->control, req_id,
				     ARB_ERR_REEXEC_FAILED, p);
		json_decref(p);
		return;
	}
	x = calloc(1, sizeof(*x));
	if (!x || !(x->binary = strdup(binary ? binary : rt->self_exe))) {
		free(x);
		arb_control_complete(rt->control, req_id,
				     ARB_ERR_REEXEC_FAILED, NULL);
		return;
	}
	x->rt = rt;
	x->req_id = req_id;
	x->timeout_ms = timeout_ms > 0 ? timeout_ms : ARB_REEXEC_TIMEOUT_MS;
	x->probe_out = -1;
	x->binary_fd = -1;
	ev_prepare_init(&x->settle, on_settle);
	x->settle.data = x;
	ev_idle_init(&x->turn, on_turn);
	x->turn.data = x;
	ev_timer_init(&x->timer, on_timer, 0.0, 0.0);
	x->timer.data = x;
	rt->reexec = x;
	if (open_binary(x->binary, &x->binary_fd, why, sizeof(why)) < 0) {
		fail(rt, "binary", why);
		return;
	}
	x->self = is_self(rt, x->binary_fd);
	wait_settled(x, WAIT_PROBE);
}

static void
on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct arb_reexec *x = w->data;
	char why[96];

	if (x->phase == PROBING) {
		snprintf(why, sizeof(why), "the new binary did not answer "
			 "within %dms", ARB_REEXEC_PROBE_MS);
		fail(x->rt, "probe", why);
	} else {
		fail(x->rt, "busy", "no moment to save the state came "
		     "within the timeout: a start, a reload or a change is "
		     "under way");
	}
}

/* ARMED's turn of the loop is taken: the next prepare decides. */
static void
on_turn(struct ev_loop *loop, ev_idle *w, int revents)
{
	ev_idle_stop(loop, w);
}

/* Whether argv[i] is a re-exec's own option, taking its value along. */
static int
own_option(char *const *argv, size_t i)
{
	static const char *const own[] = {"--resume", "--probe-state"};

	for (size_t k = 0; k < sizeof(own) / sizeof(own[0]); k++) {
		size_t len = strlen(own[k]);

		if (strcmp(argv[i], own[k]) == 0)
			return argv[i + 1] ? 2 : 1;
		if (strncmp(argv[i], own[k], len) == 0 && argv[i][len] == '=')
			return 1;
	}
	return 0;
}

/*
 * The new binary's command line: FLAG FD first, then arbord's own
 * options (after which a "--" could end them), less a re-exec's own.
 */
static char **
resume_argv(struct runtime *rt, const char *binary, const char *flag, int fd)
{
	size_t n = 0, m = 3;
	char **argv;
	char num[16];

	while (rt->argv[n])
		n++;
	argv = calloc(n + 3, sizeof(*argv));
	if (!argv)
		return NULL;
	snprintf(num, sizeof(num), "%d", fd);
	argv[0] = (char *)binary;
	argv[1] = (char *)flag;
	argv[2] = strdup(num);
	if (!argv[2]) {
		free(argv);
		return NULL;
	}
	for (size_t i = 1; i < n; i++) {
		int skip = own_option(rt->argv, i);

		if (skip) {
			i += (size_t)skip - 1;
			continue;
		}
		argv[m++] = rt->argv[i];
	}
	return argv;
}

static void
free_argv(char **argv)
{
	if (!argv)
		return;
	free(argv[2]); /* the descriptor's number */
	free(argv);
}

/*
 * `BINARY --probe-state FD`, its output into a pipe. The probe gets the
 * descriptors the state names (their close-on-exec cleared in the child
 * only), as the new image will. 0 or -errno.
 */
static int
start_probe(struct arb_reexec *x, struct arb_state_out *o, int state_fd)
{
	char **argv = resume_argv(x->rt, x->binary, "--probe-state", state_fd);
	int p[2], pid;

	if (!argv)
		return -ENOMEM;
	if (pipe2(p, O_CLOEXEC) < 0) {
		free_argv(argv);
		return -errno;
	}
	pid = fork();
	if (pid == 0) {
		(void)arb_state_out_pass(o, true);
		(void)dup2(p[1], STDOUT_FILENO);
		(void)dup2(p[1], STDERR_FILENO);
		(void)setpgid(0, 0);
		/* Open across the exec: a script's interpreter opens it. */
		(void)fcntl(x->binary_fd, F_SETFD, 0);
		execveat(x->binary_fd, "", argv, environ, AT_EMPTY_PATH);
		_exit(127);
	}
	close(p[1]);
	free_argv(argv);
	if (pid < 0) {
		close(p[0]);
		return -errno;
	}
	x->probe_pid = pid;
	x->probe_out = p[0];
	(void)fcntl(p[0], F_SETFL, O_NONBLOCK);
	return 0;
}

/*
 * The same build: the configuration on disk, what a failed resume falls
 * back to, is loaded here as the probe would. 0, or -1 after fail().
 */
static int
check_self(struct arb_reexec *x)
{
	struct arb_spec *spec = NULL;
	struct arb_diag diag = {0};
	char why[512];
	int r = arb_config_load(x->rt->config_path, &spec, &diag);

	if (r < 0)
		snprintf(why, sizeof(why), "%s", diag.n ? diag.entries[0].text
				: "the configuration cannot be loaded");
	arb_diag_done(&diag);
	arb_spec_free(spec);
	if (r < 0) {
		fail(x->rt, "probe", why);
		return -1;
	}
	snprintf(x->to, sizeof(x->to), "%s", ARB_VERSION);
	return 0;
}

/* `BINARY --probe-state FD` on a state saved for it; PROBING. */
static void
probe_apart(struct arb_reexec *x)
{
	struct runtime *rt = x->rt;
	struct arb_state_out o;
	int fd = -1, r;
	char why[128];

	/* In an arena: the running image must not keep the pieces. */
	arb_jarena_begin();
	r = arb_state_out_init(&o);
	if (r == 0)
		r = rt_save(rt, &o, x->binary);
	if (r == 0)
		r = arb_state_out_write(&o, &fd);
	if (r == 0)
		r = start_probe(x, &o, fd);
	if (fd >= 0)
		close(fd);
	arb_state_out_done(&o);
	arb_jarena_end();
	if (r < 0) {
		snprintf(why, sizeof(why), "%s", strerror(-r));
		fail(rt, "save", why);
		return;
	}
	x->phase = PROBING;
	ev_prepare_stop(rt->loop, &x->settle);
	ev_timer_stop(rt->loop, &x->timer);
	ev_timer_set(&x->timer, ARB_REEXEC_PROBE_MS / 1000.0, 0.0);
	ev_timer_start(rt->loop, &x->timer);
}

static void
probe(struct arb_reexec *x)
{
	if (!x->self)
		probe_apart(x);
	else if (check_self(x) == 0)
		wait_settled(x, WAIT_EXEC);
}

/* What the probe said, its first lines, without the newline at the end. */
static void
probe_said(struct arb_reexec *x, char *buf, size_t size)
{
	ssize_t n = read(x->probe_out, buf, size - 1);

	buf[n > 0 ? n : 0] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (n <= 0)
		snprintf(buf, size, "no output");
}

bool
arb_reexec_reaped(struct runtime *rt, int pid, int status)
{
	struct arb_reexec *x = rt->reexec;
	char said[1024], version[64], why[1200];
	int state_version;

	if (!x || x->phase != PROBING || pid != x->probe_pid)
		return false;
	x->probe_pid = 0;
	probe_said(x, said, sizeof(said));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (WIFEXITED(status) && WEXITSTATUS(status) == 127 &&
		    strcmp(said, "no output") == 0)
			snprintf(why, sizeof(why), "%s: could not be run",
				 x->binary);
		else if (strcmp(said, "no output") == 0)
			snprintf(why, sizeof(why), "%s --probe-state %s %d "
				 "without a word", x->binary,
				 WIFEXITED(status) ? "exited" : "killed by signal",
				 WIFEXITED(status) ? WEXITSTATUS(status)
						   : WTERMSIG(status));
		else
			snprintf(why, sizeof(why), "%s", said);
		fail(rt, "probe", why);
		return true;
	}
	if (sscanf(said, "arbord %63s state %d", version, &state_version) != 2) {
		snprintf(why, sizeof(why), "%s: not an arbord that can resume: "
			 "it said '%.200s'", x->binary, said);
		fail(rt, "probe", why);
		return true;
	}
	snprintf(x->to, sizeof(x->to), "%s", version);
	close(x->probe_out);
	x->probe_out = -1;
	wait_settled(x, WAIT_EXEC);
	return true;
}

/*
 * The point of no return, unless execv() fails: the clients are told and
 * let go, the state is saved with every descriptor, and the new image
 * takes over. On failure the old image takes the control socket back.
 */
static void
exec_new(struct arb_reexec *x)
{
	struct runtime *rt = x->rt;
	struct arb_state_out o;
	json_t *ctl = NULL, *bin = NULL;
	char **argv = NULL;
	char why[256];
	int fd = -1, r;

	ev_prepare_stop(rt->loop, &x->settle);
	ev_timer_stop(rt->loop, &x->timer);
	event(rt, "reexec", "from", ARB_VERSION, "to", x->to, "binary",
	      x->binary);
	arb_logs_drain_console(rt->logs, 100);
	/* Before the save: the new image says READY=1 when it is done. */
	arb_manager_reloading();
	r = arb_state_out_init(&o);
	if (r == 0)
		r = rt_save(rt, &o, x->binary);
	if (r == 0)
		r = arb_control_hand_over(rt->control, x->req_id, ARB_VERSION,
					  x->to, &o, &ctl);
	if (r == 0 && json_object_set_new(o.root, "control", ctl) < 0)
		r = -ENOMEM;
	/* The binary's descriptor crosses too (a script's interpreter opens
	 * it), and the new image closes it: nobody takes it. */
	if (r == 0 && !(bin = arb_state_out_fd(&o, x->binary_fd)))
		r = -ENOMEM;
	json_decref(bin);
	if (r == 0)
		r = arb_state_out_write(&o, &fd);
	if (r == 0 && !(argv = resume_argv(rt, x->binary, "--resume", fd)))
		r = -ENOMEM;
	if (r == 0) {
		r = arb_state_out_pass(&o, true);
		if (r == 0) {
			execveat(x->binary_fd, "", argv, environ,
				 AT_EMPTY_PATH);
			r = -errno;
		}
		(void)arb_state_out_pass(&o, false);
	}
	arb_manager_reloaded();
	/* Still here: the exec failed, nothing was replaced. */
	free_argv(argv);
	if (fd >= 0)
		close(fd);
	arb_state_out_done(&o);
	arb_control_take_back(rt->control);
	snprintf(why, sizeof(why), "%s: %s", x->binary, strerror(-r));
	fail(rt, "exec", why);
}

static void
on_settle(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct arb_reexec *x = w->data;
	sigset_t all;

	if (!rt_settled(x->rt)) {
		disarm(x);
		return;
	}
	if (arb_tree_stopping(x->rt->tree)) {
		fail(x->rt, "busy", "the tree is stopping");
		return;
	}
	switch (x->phase) {
	case WAIT_PROBE:
		probe(x);
		return;
	case WAIT_EXEC:
		sigfillset(&all);
		if (sigprocmask(SIG_BLOCK, &all, &x->mask) < 0)
			return;
		x->phase = ARMED;
		ev_idle_start(loop, &x->turn);
		return;
	case ARMED:
		exec_new(x);
		return;
	case PROBING:
		return;
	}
}

void
arb_reexec_free(struct runtime *rt)
{
	reexec_end(rt);
}
