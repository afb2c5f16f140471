/*
 * shutdown.c - the final shutdown sequence (shutdown.h), pure: no
 * syscalls, no clock, no signal numbers but spec.h's. The deadlines are
 * arithmetic on the now_ms of the events it is fed; init/pid1.c and init/init.c
 * do what it returns.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "shutdown.h"
#include "spec.h"

static const char *const final_names[_ARB_FINAL_MAX] = {
	[ARB_FINAL_POWEROFF] = "poweroff",
	[ARB_FINAL_REBOOT] = "reboot",
	[ARB_FINAL_HALT] = "halt",
	[ARB_FINAL_EXIT] = "exit",
};

static const char *const state_names[_ARB_SD_STATE_MAX] = {
	[ARB_SD_IDLE] = "idle", [ARB_SD_TREE] = "tree", [ARB_SD_TERM] = "term",
	[ARB_SD_KILL] = "kill", [ARB_SD_DONE] = "done",
};

const char *
arb_final_name(enum arb_final f)
{
	return (unsigned)f < _ARB_FINAL_MAX ? final_names[f] : "?";
}

int
arb_final_from_name(const char *name)
{
	for (int i = 0; i < _ARB_FINAL_MAX; i++)
		if (strcmp(final_names[i], name) == 0)
			return i;
	return -1;
}

const char *
arb_sd_state_name(enum arb_sd_state s)
{
	return (unsigned)s < _ARB_SD_STATE_MAX ? state_names[s] : "?";
}

void
arb_shutdown_init(struct arb_shutdown *s, int64_t term_ms, int64_t kill_ms)
{
	memset(s, 0, sizeof(*s));
	s->state = ARB_SD_IDLE;
	s->term_ms = term_ms;
	s->kill_ms = kill_ms;
}

static struct arb_sd_action *
emit(struct arb_sd_actions *out, enum arb_sd_action_kind kind)
{
	struct arb_sd_action *a = &out->v[out->n++];

	memset(a, 0, sizeof(*a));
	a->kind = kind;
	return a;
}

/* Signals every process and waits for none to be left, or for at_ms. */
static void
enter_signal(struct arb_shutdown *s, enum arb_sd_state state, int signo,
	     int64_t at_ms, struct arb_sd_actions *out)
{
	s->state = state;
	emit(out, ARB_SD_SIGNAL_ALL)->signo = signo;
	emit(out, ARB_SD_TIMER_SET)->at_ms = at_ms;
}

static void
enter_done(struct arb_shutdown *s, bool cancel, struct arb_sd_actions *out)
{
	s->state = ARB_SD_DONE;
	if (cancel)
		emit(out, ARB_SD_TIMER_CANCEL);
	if (s->final == ARB_FINAL_EXIT) {
		emit(out, ARB_SD_EXIT)->exit_code = s->exit_code;
		return;
	}
	emit(out, ARB_SD_SYNC);
	emit(out, ARB_SD_UNMOUNT);
	emit(out, ARB_SD_REBOOT)->final = s->final;
}

void
arb_shutdown_step(struct arb_shutdown *s, const struct arb_sd_event *ev,
		  struct arb_sd_actions *out)
{
	out->n = 0;
	if (ev->kind == ARB_SD_BEGIN) {
		/* The last request decides how it ends (shutdown.h). */
		if (s->state != ARB_SD_DONE) {
			s->final = ev->final;
			s->exit_code = ev->exit_code;
		}
		if (s->state != ARB_SD_IDLE)
			return;
		if (!ev->tree_down) {
			s->state = ARB_SD_TREE;
			emit(out, ARB_SD_STOP_TREE);
			return;
		}
		enter_signal(s, ARB_SD_TERM, ARB_SIGTERM,
			     ev->now_ms + s->term_ms, out);
		return;
	}
	switch (s->state) {
	case ARB_SD_TREE:
		if (ev->kind != ARB_SD_TREE_DOWN)
			return;
		s->exit_code = ev->exit_code;
		enter_signal(s, ARB_SD_TERM, ARB_SIGTERM, ev->now_ms + s->term_ms,
			     out);
		return;
	case ARB_SD_TERM:
		if (ev->kind == ARB_SD_TIMER)
			enter_signal(s, ARB_SD_KILL, ARB_SIGKILL,
				     ev->now_ms + s->kill_ms, out);
		else if (ev->kind == ARB_SD_NO_PROCESSES)
			enter_done(s, true, out);
		return;
	case ARB_SD_KILL:
		if (ev->kind == ARB_SD_TIMER)
			enter_done(s, false, out);
		else if (ev->kind == ARB_SD_NO_PROCESSES)
			enter_done(s, true, out);
		return;
	case ARB_SD_IDLE:
	case ARB_SD_DONE:
	case _ARB_SD_STATE_MAX:
		return;
	}
}
