/*
 * event_log.h - the logfmt writer for supervision events (DESIGN.md "Events").
 *
 * One line per event, written with one write(2) so lines from arbord never
 * interleave with each other: `event=start path=web/app pid=4242`. Every
 * value goes through one quoting rule, so names and error texts cannot
 * forge fields.
 */
#ifndef ARB_EVENTS_H
#define ARB_EVENTS_H

#include <stddef.h>

#include "core/tree.h"

/*
 * Room for the longest path the limits allow, ARB_DEPTH_MAX names of
 * ARB_NAME_MAX, with the other fields; a line that still does not fit ends
 * at its last whole field with ` truncated=true`.
 */
#define ARB_LOGFMT_MAX 4096

struct arb_logfmt {
	char buf[ARB_LOGFMT_MAX];
	size_t len;
	int truncated;
};

void arb_logfmt_init(struct arb_logfmt *l);

/* Appends ` key=value`, quoting and escaping value when it needs it. */
void arb_logfmt_str(struct arb_logfmt *l, const char *key, const char *value);
void arb_logfmt_int(struct arb_logfmt *l, const char *key, long long value);

/* Ends the line (with ` truncated=true` when it was cut): its text, in
 * l->buf, l->len bytes, NUL-terminated. */
const char *arb_logfmt_end(struct arb_logfmt *l);

/* Ends the line and writes it and a newline to fd; 0 or -errno. */
int arb_logfmt_write(struct arb_logfmt *l, int fd);

/*
 * The fields of one REPORT action, in order: event, path (not for down),
 * then pid, code or signal, reason, error as the event has them. The one
 * source of both the logfmt lines and the JSON of the Events stream.
 */
struct arb_event_fields {
	struct arb_event_field {
		const char *key;
		const char *str; /* NULL: the value is num */
		long long num;
	} v[8];
	size_t n;
	char delay[32]; /* room for a duration value */
	char error[128]; /* room for an error's words (EMFILE's numbers) */
};

void arb_events_fields(const struct arb_spec *spec, const struct arb_action *a,
		       struct arb_event_fields *ret);

/* Formats one REPORT action of the core as an ended line in *l. */
void arb_events_format(const struct arb_spec *spec, const struct arb_action *a,
		       struct arb_logfmt *l);

/* Formats fields (an event of the living tree, or of the core) in *l. */
void arb_events_format_fields(const struct arb_event_fields *f,
			      struct arb_logfmt *l);

#endif
