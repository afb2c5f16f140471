/*
 * init.c - arbord as an init (init.h), in the shell: the mode's signals
 * through ev_signal, the root's give-up action, and the final shutdown,
 * whose sequence shutdown.c decides and whose steps pid1.c carries out.
 * One logfmt line per step on stderr (the console, as the system's init).
 * No work in signal handlers, no waitpid (runtime.c reaps), no polling: every
 * wait is a deadline on one ev_timer.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "clock.h"
#include "logs/event_log.h"
#include "core/limits.h"
#include "pid1.h"
#include "shell.h"
#include "core/shutdown.h"
#include "signames.h"
#include "init.h"

_Static_assert(ARB_SIGTERM == SIGTERM && ARB_SIGKILL == SIGKILL,
	       "spec.h's signal numbers are Linux's");

/* What a signal does in a mode. */
enum sig_role {
	ROLE_IGNORE,
	ROLE_FINAL,   /* the system's init: power off, reboot or halt */
	ROLE_STOP,    /* a container's init: stop the tree and end */
	ROLE_FORWARD, /* a container's init: forward, else stop */
	ROLE_FORWARD_ONLY, /* a container's init: forward, else ignore */
	ROLE_RELOAD,  /* the system's init: reload the configuration */
};

#define SIGNALS_MAX 10

struct watched {
	ev_signal w;
	struct arb_system *sys;
	enum sig_role role;
	enum arb_final final; /* ROLE_FINAL */
};

struct arb_system {
	struct ev_loop *loop;
	const struct arb_mode *mode;
	const struct arb_spec *spec;
	struct arb_system_hooks hooks;
	void *ctx;

	struct watched sigs[SIGNALS_MAX];
	int nsigs;

	struct arb_shutdown sd;
	ev_timer sd_timer;      /* the machine's one deadline */
	ev_timer down_timer;    /* the root went down: act after the step */
	ev_timer restart_timer; /* on_giveup = "restart", after a pause */
	bool tree_down;
	int root_code;  /* M10's status of the root's last end */
	bool root_auto; /* that end was an automatic shutdown */
	int shell_pid;  /* the emergency shell, or 0 */
};

/* ---- event lines ------------------------------------------------------- */

static void
line_begin(struct arb_logfmt *l, const char *event)
{
	arb_logfmt_init(l);
	arb_logfmt_str(l, "event", event);
}

/* Through the logs, as the events are: in order with them. */
static void
line_write(struct arb_system *s, struct arb_logfmt *l)
{
	arb_logfmt_end(l);
	s->hooks.say(s->ctx, l->buf, l->len);
}

static void
say_error(struct arb_logfmt *l, int err)
{
	if (err == -EPERM)
		arb_logfmt_str(l, "skipped", "not-pid1");
	else if (err < 0 && err != -ESRCH) /* ESRCH: nobody left */
		arb_logfmt_str(l, "error", strerror(-err));
}

/* ---- the final shutdown -------------------------------------------------- */

static void sd_feed(struct arb_system *s, const struct arb_sd_event *ev);

static void
do_unmount(struct arb_system *s)
{
	struct arb_pid1_unmount u;
	struct arb_logfmt l;
	int r = arb_pid1_unmount(s->mode, &u);

	line_begin(&l, "unmount");
	if (r == -EPERM) {
		arb_logfmt_str(&l, "skipped", s->mode->in_container
						      ? "container"
						      : "not-pid1");
	} else if (r < 0) {
		say_error(&l, r);
	} else {
		arb_logfmt_int(&l, "unmounted", u.unmounted);
		arb_logfmt_int(&l, "readonly", u.readonly);
		arb_logfmt_int(&l, "failed", u.failed);
		if (u.failed > 0) {
			arb_logfmt_str(&l, "first_failed", u.failed_at);
			arb_logfmt_str(&l, "error", strerror(u.failed_errno));
		}
	}
	line_write(s, &l);
}

/* The end of the machine: as PID 1 this does not return. */
static void
do_reboot(struct arb_system *s, enum arb_final final)
{
	struct arb_logfmt l;
	int r;

	line_begin(&l, "reboot");
	arb_logfmt_str(&l, "action", arb_final_name(final));
	line_write(s, &l);
	/* What the console has not taken yet would be lost with the machine. */
	s->hooks.flush(s->ctx);
	r = arb_pid1_reboot(s->mode, final);
	if (r == -EPERM) {
		/* --init without being PID 1: there is no machine to stop. */
		fprintf(stderr, "arbord: not PID 1: exiting instead of "
			"reboot(2)\n");
		s->hooks.leave(s->ctx, s->root_code);
		return;
	}
	fprintf(stderr, "arbord: reboot(2) failed: %s; waiting for another "
		"request\n", strerror(-r));
	arb_shutdown_init(&s->sd, ARB_SHUTDOWN_TERM_MS, ARB_SHUTDOWN_KILL_MS);
}

static void
perform(struct arb_system *s, const struct arb_sd_action *a)
{
	struct arb_logfmt l;
	int64_t delay;

	switch (a->kind) {
	case ARB_SD_STOP_TREE:
		s->hooks.stop_tree(s->ctx);
		return;
	case ARB_SD_SIGNAL_ALL:
		line_begin(&l, "killall");
		arb_logfmt_str(&l, "signal", arb_signal_name(a->signo));
		say_error(&l, arb_pid1_signal_all(s->mode, a->signo));
		line_write(s, &l);
		return;
	case ARB_SD_TIMER_SET:
		delay = a->at_ms - arb_monotonic_ms();
		ev_now_update(s->loop);
		ev_timer_stop(s->loop, &s->sd_timer);
		ev_timer_set(&s->sd_timer,
			     delay > 0 ? (double)delay / 1000.0 : 0.0, 0.0);
		ev_timer_start(s->loop, &s->sd_timer);
		return;
	case ARB_SD_TIMER_CANCEL:
		ev_timer_stop(s->loop, &s->sd_timer);
		return;
	case ARB_SD_SYNC:
		line_begin(&l, "sync");
		line_write(s, &l);
		arb_pid1_sync();
		return;
	case ARB_SD_UNMOUNT:
		do_unmount(s);
		return;
	case ARB_SD_REBOOT:
		do_reboot(s, a->final);
		return;
	case ARB_SD_EXIT:
		s->hooks.leave(s->ctx, a->exit_code);
		return;
	case _ARB_SD_ACT_MAX:
		return;
	}
}

/* Whether the machine waits for the last process to go. */
static bool
awaits_processes(const struct arb_system *s)
{
	return s->sd.state == ARB_SD_TERM || s->sd.state == ARB_SD_KILL;
}

static void
sd_feed(struct arb_system *s, const struct arb_sd_event *ev)
{
	struct arb_sd_event next = *ev;
	struct arb_sd_actions out;

	for (;;) {
		next.now_ms = arb_monotonic_ms();
		arb_shutdown_step(&s->sd, &next, &out);
		for (size_t i = 0; i < out.n; i++)
			perform(s, &out.v[i]);
		/* After kill(-1) every process may already be gone. */
		if (!awaits_processes(s) || arb_pid1_children_left())
			return;
		next = (struct arb_sd_event){.kind = ARB_SD_NO_PROCESSES};
	}
}

static void
on_sd_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct arb_sd_event ev = {.kind = ARB_SD_TIMER};

	sd_feed(w->data, &ev);
}

/*
 * Begins the final shutdown, or changes its action if it runs. reason and
 * signo say why, for the event line.
 */
static void
begin(struct arb_system *s, enum arb_final final, const char *reason,
      int signo)
{
	struct arb_sd_event ev = {.kind = ARB_SD_BEGIN, .final = final,
				  .exit_code = s->root_code,
				  .tree_down = s->tree_down};
	struct arb_logfmt l;

	line_begin(&l, "shutdown");
	arb_logfmt_str(&l, "action", arb_final_name(final));
	arb_logfmt_str(&l, "reason", reason);
	if (signo > 0) {
		const char *name = arb_signal_name(signo);
		char buf[24];

		if (!name) {
			snprintf(buf, sizeof(buf), "RTMIN+%d", signo - SIGRTMIN);
			name = buf;
		}
		arb_logfmt_str(&l, "signal", name);
	}
	line_write(s, &l);
	ev_timer_stop(s->loop, &s->restart_timer);
	sd_feed(s, &ev);
}

/* ---- the root's end and on_giveup (M10) ------------------------------- */

static void
start_shell(struct arb_system *s)
{
	static char *const plain[] = {ARB_DEFAULT_EMERGENCY_SHELL, NULL};
	char *const *argv = s->spec->emergency_shell ? s->spec->emergency_shell
						     : plain;
	struct arb_logfmt l;
	int pid = 0, r = arb_shell_start(s->mode, argv, &pid);

	line_begin(&l, "emergency_shell");
	arb_logfmt_str(&l, "exec", argv[0]);
	if (r == 0)
		arb_logfmt_int(&l, "pid", pid);
	else
		say_error(&l, r);
	line_write(s, &l);
	if (r < 0) {
		begin(s, ARB_FINAL_REBOOT, "shell", 0);
		return;
	}
	s->shell_pid = pid;
}

static void
on_restart_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct arb_system *s = w->data;

	s->tree_down = false;
	if (s->hooks.restart_tree(s->ctx) < 0) {
		s->tree_down = true;
		fprintf(stderr, "arbord: out of memory: cannot restart the "
			"tree\n");
		begin(s, ARB_FINAL_REBOOT, "giveup", 0);
	}
}

static void
on_giveup(struct arb_system *s)
{
	enum arb_giveup g = s->spec->on_giveup;
	struct arb_logfmt l;

	line_begin(&l, "on_giveup");
	arb_logfmt_str(&l, "action", arb_giveup_name(g));
	arb_logfmt_int(&l, "status", s->root_code);
	line_write(s, &l);
	switch (g) {
	case ARB_GIVEUP_POWEROFF:
		begin(s, ARB_FINAL_POWEROFF, "giveup", 0);
		return;
	case ARB_GIVEUP_HALT:
		begin(s, ARB_FINAL_HALT, "giveup", 0);
		return;
	case ARB_GIVEUP_RESTART:
		ev_timer_set(&s->restart_timer,
			     ARB_GIVEUP_RESTART_DELAY_MS / 1000.0, 0.0);
		ev_timer_start(s->loop, &s->restart_timer);
		return;
	case ARB_GIVEUP_SHELL:
		start_shell(s);
		return;
	case ARB_GIVEUP_REBOOT:
	case _ARB_GIVEUP_MAX:
		begin(s, ARB_FINAL_REBOOT, "giveup", 0);
		return;
	}
}

static void
on_down_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct arb_system *s = w->data;
	struct arb_sd_event ev = {.kind = ARB_SD_TREE_DOWN,
				  .exit_code = s->root_code};

	if (s->sd.state == ARB_SD_TREE) {
		sd_feed(s, &ev); /* the end of a stop that was asked for */
		return;
	}
	if (s->sd.state != ARB_SD_IDLE)
		return; /* a request came first */
	if (s->mode->container)
		begin(s, ARB_FINAL_EXIT,
		      s->root_auto ? "auto_shutdown" : "giveup", 0);
	else
		on_giveup(s);
}

/* What the root's give-up would end with, where the tree cannot be
 * restarted nor a shell run beside it: every process must go first. */
static enum arb_final
lost_final(const struct arb_system *s)
{
	if (s->mode->container)
		return ARB_FINAL_EXIT;
	if (s->spec->on_giveup == ARB_GIVEUP_POWEROFF)
		return ARB_FINAL_POWEROFF;
	if (s->spec->on_giveup == ARB_GIVEUP_HALT)
		return ARB_FINAL_HALT;
	return ARB_FINAL_REBOOT;
}

void
arb_system_core_lost(struct arb_system *s)
{
	struct arb_sd_event down = {.kind = ARB_SD_TREE_DOWN, .exit_code = 1};

	s->tree_down = true;
	s->root_code = 1;
	s->root_auto = false;
	ev_timer_stop(s->loop, &s->down_timer);
	if (s->sd.state == ARB_SD_TREE)
		sd_feed(s, &down); /* the tree will never say it is down */
	else if (s->sd.state == ARB_SD_IDLE)
		begin(s, lost_final(s), "core_lost", 0);
}

void
arb_system_root_down(struct arb_system *s, int exit_code, bool automatic)
{
	s->tree_down = true;
	s->root_code = exit_code;
	s->root_auto = automatic;
	ev_timer_set(&s->down_timer, 0.0, 0.0);
	ev_timer_start(s->loop, &s->down_timer);
}

int
arb_system_request(struct arb_system *s, int action)
{
	if (s->mode->container) {
		if (action >= 0)
			return -EPERM;
		begin(s, ARB_FINAL_EXIT, "request", 0);
		return 0;
	}
	begin(s, action >= 0 ? (enum arb_final)action : ARB_FINAL_POWEROFF,
	      "request", 0);
	return 0;
}

void
arb_system_reaped(struct arb_system *s, int pid, int status)
{
	struct arb_sd_event ev = {.kind = ARB_SD_NO_PROCESSES};

	if (pid > 0 && pid == s->shell_pid) {
		s->shell_pid = 0;
		if (s->sd.state == ARB_SD_IDLE) {
			begin(s, ARB_FINAL_REBOOT, "shell", 0);
			return;
		}
	}
	if (awaits_processes(s) && !arb_pid1_children_left())
		sd_feed(s, &ev);
}

/* ---- signals ------------------------------------------------------------ */

/* The signals some service takes (a reload may have changed them). */
static uint32_t
forwarded(const struct arb_spec *spec)
{
	uint32_t sigs = 0;

	for (uint32_t i = 0; i < spec->nnodes; i++)
		if (arb_spec_is_node(spec, i))
			sigs |= spec->nodes[i].forward_signals;
	return sigs;
}

static void
on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct watched *ws = (struct watched *)w;
	struct arb_system *s = ws->sys;
	int signo = w->signum;
	bool wanted = signo < 32 && (forwarded(s->spec) & (1u << signo));

	switch (ws->role) {
	case ROLE_FINAL:
		begin(s, ws->final, "signal", signo);
		return;
	case ROLE_FORWARD:
	case ROLE_FORWARD_ONLY:
		if (wanted)
			s->hooks.forward(s->ctx, signo);
		else if (ws->role == ROLE_FORWARD)
			begin(s, ARB_FINAL_EXIT, "signal", signo);
		return;
	case ROLE_STOP:
		begin(s, ARB_FINAL_EXIT, "signal", signo);
		return;
	case ROLE_RELOAD:
		s->hooks.reload(s->ctx);
		return;
	case ROLE_IGNORE:
		return;
	}
}

static void
watch(struct arb_system *s, int signo, enum sig_role role,
      enum arb_final final)
{
	struct watched *ws = &s->sigs[s->nsigs++];

	ev_signal_init(&ws->w, on_signal, signo);
	ws->sys = s;
	ws->role = role;
	ws->final = final;
	ev_signal_start(s->loop, &ws->w);
}

int
arb_system_new(struct arb_system **ret, struct ev_loop *loop,
	       const struct arb_mode *mode, const struct arb_spec *spec,
	       const struct arb_system_hooks *hooks, void *ctx)
{
	struct arb_system *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->loop = loop;
	s->mode = mode;
	s->spec = spec;
	s->hooks = *hooks;
	s->ctx = ctx;
	arb_shutdown_init(&s->sd, ARB_SHUTDOWN_TERM_MS, ARB_SHUTDOWN_KILL_MS);
	ev_timer_init(&s->sd_timer, on_sd_timer, 0.0, 0.0);
	s->sd_timer.data = s;
	ev_timer_init(&s->down_timer, on_down_timer, 0.0, 0.0);
	s->down_timer.data = s;
	ev_timer_init(&s->restart_timer, on_restart_timer, 0.0, 0.0);
	s->restart_timer.data = s;
	if (mode->container) {
		watch(s, SIGTERM, ROLE_STOP, ARB_FINAL_EXIT);
		watch(s, SIGINT, ROLE_FORWARD, ARB_FINAL_EXIT);
		watch(s, SIGHUP, ROLE_FORWARD, ARB_FINAL_EXIT);
		watch(s, SIGQUIT, ROLE_FORWARD, ARB_FINAL_EXIT);
		watch(s, SIGUSR1, ROLE_FORWARD_ONLY, ARB_FINAL_EXIT);
		watch(s, SIGUSR2, ROLE_FORWARD_ONLY, ARB_FINAL_EXIT);
		watch(s, SIGWINCH, ROLE_FORWARD_ONLY, ARB_FINAL_EXIT);
	} else {
		watch(s, SIGINT, ROLE_FINAL, ARB_FINAL_REBOOT);
		watch(s, SIGTERM, ROLE_FINAL, ARB_FINAL_POWEROFF);
		watch(s, SIGUSR2, ROLE_FINAL, ARB_FINAL_POWEROFF);
		watch(s, SIGUSR1, ROLE_FINAL, ARB_FINAL_HALT);
		watch(s, SIGRTMIN + 3, ROLE_FINAL, ARB_FINAL_HALT);
		watch(s, SIGRTMIN + 4, ROLE_FINAL, ARB_FINAL_POWEROFF);
		watch(s, SIGRTMIN + 5, ROLE_FINAL, ARB_FINAL_REBOOT);
		watch(s, SIGHUP, ROLE_RELOAD, ARB_FINAL_EXIT);
		watch(s, SIGQUIT, ROLE_IGNORE, ARB_FINAL_EXIT);
		watch(s, SIGWINCH, ROLE_IGNORE, ARB_FINAL_EXIT);
	}
	*ret = s;
	return 0;
}

void
arb_system_free(struct arb_system *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->nsigs; i++)
		ev_signal_stop(s->loop, &s->sigs[i].w);
	ev_timer_stop(s->loop, &s->sd_timer);
	ev_timer_stop(s->loop, &s->down_timer);
	ev_timer_stop(s->loop, &s->restart_timer);
	free(s);
}
