/*
 * event_log.c - supervision events as logfmt lines.
 *
 * Quoting: a value is written bare when it is non-empty and made only of
 * printable ASCII other than space, '"', '=' and '\'; otherwise it is put in
 * double quotes with \" \\ \n \r \t escaped and other bytes below 0x20 or
 * above 0x7e written as \xNN.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "event_log.h"
#include "fdlimit.h"
#include "core/limits.h"
#include "signames.h"
#include "core/spec.h"

void
arb_logfmt_init(struct arb_logfmt *l)
{
	l->len = 0;
	l->truncated = 0;
}

_Static_assert(ARB_LOGFMT_MAX > ARB_DEPTH_MAX * (ARB_NAME_MAX + 1) + 512,
	       "an event line has room for the longest path");

/* Keeps room for the newline and the truncation marker. */
#define TRUNCATED " truncated=true"
#define RESERVED (sizeof(TRUNCATED) + 1)

static void
put(struct arb_logfmt *l, const char *s, size_t n)
{
	if (l->truncated || l->len + n + RESERVED > sizeof(l->buf)) {
		l->truncated = 1;
		return;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static int
needs_quotes(const char *v)
{
	if (*v == '\0')
		return 1;
	for (const unsigned char *c = (const unsigned char *)v; *c; c++)
		if (*c <= ' ' || *c >= 0x7f || *c == '"' || *c == '=' ||
		    *c == '\\')
			return 1;
	return 0;
}

static void
put_quoted(struct arb_logfmt *l, const char *v)
{
	put(l, "\"", 1);
	for (const unsigned char *c = (const unsigned char *)v; *c; c++) {
		char esc[5];

		switch (*c) {
		case '"':
			put(l, "\\\"", 2);
			break;
		case '\\':
			put(l, "\\\\", 2);
			break;
		case '\n':
			put(l, "\\n", 2);
			break;
		case '\r':
			put(l, "\\r", 2);
			break;
		case '\t':
			put(l, "\\t", 2);
			break;
		default:
			if (*c < 0x20 || *c >= 0x7f) {
				snprintf(esc, sizeof(esc), "\\x%02x", *c);
				put(l, esc, 4);
			} else {
				put(l, (const char *)c, 1);
			}
		}
	}
	put(l, "\"", 1);
}

void
arb_logfmt_str(struct arb_logfmt *l, const char *key, const char *value)
{
	size_t start = l->len;

	if (l->len > 0)
		put(l, " ", 1);
	put(l, key, strlen(key));
	put(l, "=", 1);
	if (needs_quotes(value))
		put_quoted(l, value);
	else
		put(l, value, strlen(value));
	if (l->truncated)
		l->len = start; /* a field is written whole or not at all */
}

void
arb_logfmt_int(struct arb_logfmt *l, const char *key, long long value)
{
	char num[24];

	snprintf(num, sizeof(num), "%lld", value);
	arb_logfmt_str(l, key, num);
}

const char *
arb_logfmt_end(struct arb_logfmt *l)
{
	if (l->truncated) {
		memcpy(l->buf + l->len, TRUNCATED, sizeof(TRUNCATED) - 1);
		l->len += sizeof(TRUNCATED) - 1;
		l->truncated = 0;
	}
	l->buf[l->len] = '\0';
	return l->buf;
}

int
arb_logfmt_write(struct arb_logfmt *l, int fd)
{
	size_t off = 0;

	(void)arb_logfmt_end(l);
	l->buf[l->len] = '\n';
	while (off < l->len + 1) {
		ssize_t n = write(fd, l->buf + off, l->len + 1 - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		off += (size_t)n;
	}
	return 0;
}

static void
field_str(struct arb_event_fields *f, const char *key, const char *value)
{
	struct arb_event_field *x = &f->v[f->n++];

	x->key = key;
	x->str = value;
}

static void
field_num(struct arb_event_fields *f, const char *key, long long value)
{
	struct arb_event_field *x = &f->v[f->n++];

	x->key = key;
	x->str = NULL;
	x->num = value;
}

/* code=N, or signal=NAME (a number when the signal has no name). */
static void
death_fields(struct arb_event_fields *f, const struct arb_action *a)
{
	const char *name;

	if (a->signo == 0) {
		field_num(f, "code", a->code);
		return;
	}
	name = arb_signal_name(a->signo);
	if (name)
		field_str(f, "signal", name);
	else
		field_num(f, "signal", a->signo);
}

/* Why a start failed, in words (M6). */
static void
start_failed_fields(struct arb_event_fields *f, const struct arb_spec_node *n,
		    const struct arb_action *a)
{
	switch (a->failure) {
	case ARB_FAIL_SPAWN:
		if (a->err > 0)
			field_str(f, "error",
				  arb_fdlimit_error_text(a->err, f->error,
							 sizeof(f->error)));
		return;
	case ARB_FAIL_EXIT:
		field_num(f, "pid", a->pid);
		death_fields(f, a);
		field_str(f, "error", "exited before it was ready");
		return;
	case ARB_FAIL_TIMEOUT:
		arb_spec_format_duration(n->start_timeout_ms, f->delay,
					 sizeof(f->delay));
		field_str(f, "error", "not ready within start_timeout");
		field_str(f, "start_timeout", f->delay);
		return;
	case _ARB_FAIL_MAX:
		return;
	}
}

void
arb_events_fields(const struct arb_spec *spec, const struct arb_action *a,
		  struct arb_event_fields *ret)
{
	const struct arb_spec_node *n = &spec->nodes[a->node];

	ret->n = 0;
	field_str(ret, "event", arb_report_name(a->report));
	if (a->report != ARB_REP_DOWN)
		field_str(ret, "path", n->path);
	switch (a->report) {
	case ARB_REP_START:
		if (n->kind == ARB_NODE_SERVICE)
			field_num(ret, "pid", a->pid);
		break;
	case ARB_REP_EXIT:
		field_num(ret, "pid", a->pid);
		death_fields(ret, a);
		field_str(ret, "reason", arb_reason_name(a->reason));
		break;
	case ARB_REP_STOP:
		if (n->kind == ARB_NODE_SERVICE) {
			field_num(ret, "pid", a->pid);
			death_fields(ret, a);
		}
		break;
	case ARB_REP_START_FAILED:
		start_failed_fields(ret, n, a);
		break;
	case ARB_REP_READY:
	case ARB_REP_WATCHDOG:
		field_num(ret, "pid", a->pid);
		break;
	case ARB_REP_BACKOFF:
		arb_spec_format_duration(a->delay_ms, ret->delay,
					 sizeof(ret->delay));
		field_str(ret, "delay", ret->delay);
		break;
	case ARB_REP_SHUTDOWN:
		field_str(ret, "reason", "auto_shutdown");
		break;
	case ARB_REP_GIVEUP:
	case ARB_REP_DOWN:
	case _ARB_REP_MAX:
		break;
	}
}

void
arb_events_format_fields(const struct arb_event_fields *f,
			 struct arb_logfmt *l)
{
	arb_logfmt_init(l);
	for (size_t i = 0; i < f->n; i++) {
		if (f->v[i].str)
			arb_logfmt_str(l, f->v[i].key, f->v[i].str);
		else
			arb_logfmt_int(l, f->v[i].key, f->v[i].num);
	}
	(void)arb_logfmt_end(l);
}

void
arb_events_format(const struct arb_spec *spec, const struct arb_action *a,
		  struct arb_logfmt *l)
{
	struct arb_event_fields f;

	arb_events_fields(spec, a, &f);
	arb_events_format_fields(&f, l);
}
