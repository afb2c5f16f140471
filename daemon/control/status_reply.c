/*
 * status_reply.c - the reply to Status, written straight into one buffer.
 *
 * A Status of N nodes was N jansson objects of up to twenty members, their
 * dump, and a copy of the dump: at 6000 services most of arbord's 11 ms a
 * call went to allocating, hashing, faulting in and freeing them. The
 * reply's shape is fixed and its values are numbers, names from our tables
 * and paths the config loader checked, so this file writes it directly, in
 * the order and form jansson's compact dump gives (STYLE.md rule 8 bends
 * here, for this one reply; test_status_reply.py holds the two to the same
 * bytes). Text from outside, a service's STATUS= and strerror, still goes
 * through jansson (arb_wire_text) for its checking and escaping.
 * It never writes to a socket; socket.c does.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "protocol.h"
#include "wire.h"
#include "cgroup.h"
#include "connection.h"
#include "core/spec.h"
#include "signames.h"
#include "status_reply.h"
#include "usage.h"

/* A Status of one service fits; a large tree doubles it a few times. */
#define REPLY_FIRST_SIZE 4096

/* The message being written; failed stays set once a write could not. */
struct out {
	char *data;
	size_t len, size;
	int failed; /* 0, -ENOMEM or -EMSGSIZE */
};

static bool
reserve(struct out *o, size_t more)
{
	size_t size = o->size ? o->size : REPLY_FIRST_SIZE;
	char *data;

	if (o->failed)
		return false;
	if (more > ARB_REPLY_MAX || o->len + more > ARB_REPLY_MAX + 1) {
		o->failed = -EMSGSIZE;
		return false;
	}
	if (o->len + more <= o->size)
		return true;
	while (size < o->len + more)
		size *= 2;
	data = realloc(o->data, size);
	if (!data) {
		o->failed = -ENOMEM;
		return false;
	}
	o->data = data;
	o->size = size;
	return true;
}

static void
put_bytes(struct out *o, const char *s, size_t n)
{
	if (!reserve(o, n))
		return;
	memcpy(o->data + o->len, s, n);
	o->len += n;
}

/* A literal: punctuation and keys, as `,"pid":`. */
#define PUT_LITERAL(o, lit) put_bytes((o), (lit), sizeof(lit) - 1)

/* In decimal, as jansson writes an integer; snprintf was a tenth of a
 * Status. */
static void
put_int(struct out *o, int64_t v)
{
	char num[24];

	if (v < 0)
		PUT_LITERAL(o, "-");
	/* Negative through unsigned, so that INT64_MIN has its digits. */
	arb_spec_format_uint(v < 0 ? 0 - (uint64_t)v : (uint64_t)v, num,
			     sizeof(num));
	put_bytes(o, num, strlen(num));
}

static void
put_uint(struct out *o, uint64_t v)
{
	char num[24];

	arb_spec_format_uint(v, num, sizeof(num));
	put_bytes(o, num, strlen(num));
}

/*
 * s as a JSON string, escaped as jansson escapes without JSON_ENSURE_ASCII:
 * '"', '\\' and the control characters, the rest as it is. For our names
 * and checked paths, which are ASCII without control characters.
 */
static void
put_string(struct out *o, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);

	/* Each byte takes at most 6 ("\u001F"), and the two quotes. */
	if (!reserve(o, 6 * n + 2))
		return;
	o->data[o->len++] = '"';
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		char *p = o->data + o->len;

		if (ch >= 0x20 && ch != '"' && ch != '\\') {
			*p = (char)ch;
			o->len++;
			continue;
		}
		p[0] = '\\';
		o->len += 2;
		switch (ch) {
		case '"':
		case '\\': p[1] = (char)ch; break;
		case '\b': p[1] = 'b'; break;
		case '\f': p[1] = 'f'; break;
		case '\n': p[1] = 'n'; break;
		case '\r': p[1] = 'r'; break;
		case '\t': p[1] = 't'; break;
		default:
			memcpy(p + 1, "u00", 3);
			p[4] = hex[ch >> 4];
			p[5] = hex[ch & 0xf];
			o->len += 4;
			break;
		}
	}
	o->data[o->len++] = '"';
}

static int
dump_to_out(const char *buffer, size_t size, void *data)
{
	struct out *o = data;

	put_bytes(o, buffer, size);
	return o->failed ? -1 : 0;
}

/* Text from outside (STATUS=, strerror): jansson checks and escapes it. */
static void
put_outside_text(struct out *o, const char *text)
{
	json_t *j = arb_wire_text(text);

	if (!j) {
		if (!o->failed)
			o->failed = -ENOMEM;
		return;
	}
	if (json_dump_callback(j, dump_to_out, o,
			       JSON_COMPACT | JSON_ENCODE_ANY) < 0 &&
	    !o->failed)
		o->failed = -ENOMEM;
	json_decref(j);
}

/* ,"last_exit":{...}: how it last ended. */
static void
put_last_exit(struct out *o, const struct arb_spec_node *n,
	      const struct arb_node_view *v)
{
	const char *sig;

	PUT_LITERAL(o, ",\"last_exit\":{");
	if (n->kind == ARB_NODE_SERVICE) {
		PUT_LITERAL(o, "\"pid\":");
		put_int(o, v->exit_pid);
		if (v->exit_signo == 0) {
			PUT_LITERAL(o, ",\"code\":");
			put_int(o, v->exit_code);
		} else {
			PUT_LITERAL(o, ",\"signal\":");
			sig = arb_signal_name(v->exit_signo);
			if (sig)
				put_string(o, sig);
			else
				put_int(o, v->exit_signo);
		}
		PUT_LITERAL(o, ",");
	}
	PUT_LITERAL(o, "\"reason\":");
	put_string(o, arb_reason_name(v->exit_reason));
	PUT_LITERAL(o, "}");
}

/* What a running service said about itself (notify protocol). */
static void
put_note(struct out *o, const struct arb_service_note *note)
{
	if (note->status) {
		PUT_LITERAL(o, ",\"status\":");
		put_outside_text(o, note->status);
	}
	if (note->errno_value >= 0) {
		PUT_LITERAL(o, ",\"errno\":");
		put_int(o, note->errno_value);
		PUT_LITERAL(o, ",\"error\":");
		put_outside_text(o, strerror(note->errno_value));
	}
	if (note->reloading)
		PUT_LITERAL(o, ",\"reloading\":true");
	if (note->stopping)
		PUT_LITERAL(o, ",\"stopping\":true");
}

/* ,"key":v unless v is unknown. */
static void
put_usage_field(struct out *o, const char *member, uint64_t v)
{
	if (v == ARB_USAGE_UNKNOWN)
		return;
	put_bytes(o, member, strlen(member));
	put_uint(o, v);
}

/* ,"stats":{...}: what the node uses (usage.h). */
static void
put_stats(struct out *o, const struct arb_usage *u)
{
	PUT_LITERAL(o, ",\"stats\":{\"source\":");
	put_string(o, arb_usage_source_name(u->source));
	put_usage_field(o, ",\"memory\":", u->memory);
	put_usage_field(o, ",\"memory_peak\":", u->memory_peak);
	put_usage_field(o, ",\"cpu_usec\":", u->cpu_usec);
	put_usage_field(o, ",\"tasks\":", u->tasks);
	put_usage_field(o, ",\"oom_kills\":", u->oom_kills);
	PUT_LITERAL(o, "}");
}

/* Whether n is a pool: its instances are counted, not described. */
static bool
is_pool(const struct arb_spec_node *n)
{
	return n->kind == ARB_NODE_SUPERVISOR &&
	       n->strategy == ARB_SIMPLE_ONE_FOR_ONE;
}

/*
 * Whether node i has lines in the journal, which arborctl logs reads
 * older lines from: a service, or the root (arbord's own lines), whose
 * sinks include it, or a pool whose template's do (its past instances'
 * lines, though it has none now). Other supervisors write no lines.
 */
static bool
logs_to_journal(const struct arb_spec *spec, uint32_t i)
{
	const struct arb_spec_node *n = &spec->nodes[i];

	if (is_pool(n) && n->template_node != ARB_NONE)
		n = &spec->nodes[n->template_node];
	else if (n->kind != ARB_NODE_SERVICE && i != ARB_ROOT)
		return false;
	return (n->log.sinks & ARB_SINK_JOURNAL) != 0;
}

/* One node's object; the members in the order clients have always seen. */
static void
put_node(struct out *o, const struct arb_control *ctl, uint32_t i,
	 int64_t now, const struct arb_usage *usage)
{
	const struct arb_spec_node *n = &ctl->spec->nodes[i];
	struct arb_node_view v;

	arb_tree_view(ctl->tree, i, &v);
	PUT_LITERAL(o, "{\"path\":");
	put_string(o, n->path);
	PUT_LITERAL(o, ",\"kind\":");
	put_string(o, arb_node_kind_name(n->kind));
	if (n->kind == ARB_NODE_SUPERVISOR) {
		PUT_LITERAL(o, ",\"strategy\":");
		put_string(o, arb_strategy_name(n->strategy));
	}
	if (n->dynamic)
		PUT_LITERAL(o, ",\"dynamic\":true");
	if (is_pool(n)) {
		PUT_LITERAL(o, ",\"pool\":true,\"instances\":");
		put_int(o, n->nchildren);
		if (n->max_children > 0) {
			PUT_LITERAL(o, ",\"max_children\":");
			put_int(o, n->max_children);
		}
	}
	PUT_LITERAL(o, ",\"restart\":");
	put_string(o, arb_restart_name(n->restart));
	PUT_LITERAL(o, ",\"state\":");
	put_string(o, v.present ? arb_child_state_name(v.state) : "gone");
	if (v.pid > 0) {
		PUT_LITERAL(o, ",\"pid\":");
		put_int(o, v.pid);
	}
	PUT_LITERAL(o, ",\"since_ms\":");
	put_int(o, now > v.since_ms ? now - v.since_ms : 0);
	PUT_LITERAL(o, ",\"restarts\":");
	put_int(o, v.restarts);
	if (v.exited)
		put_last_exit(o, n, &v);
	/* Started means ready (M6). */
	if (v.state == ARB_CHILD_UP)
		PUT_LITERAL(o, ",\"ready\":true");
	else
		PUT_LITERAL(o, ",\"ready\":false");
	if (v.ready_wait)
		PUT_LITERAL(o, ",\"waiting\":\"ready\"");
	if (v.restart_at_ms > 0) {
		PUT_LITERAL(o, ",\"restart_in_ms\":");
		put_int(o, v.restart_at_ms > now ? v.restart_at_ms - now : 0);
	}
	if (n->kind == ARB_NODE_SERVICE && v.pid > 0)
		put_note(o, ctl->hooks.note(ctl->ctx, i));
	if (logs_to_journal(ctl->spec, i))
		PUT_LITERAL(o, ",\"journal\":true");
	if (usage)
		put_stats(o, &usage[i]);
	PUT_LITERAL(o, "}");
}

/*
 * Node top and its subtree, depth first in start order: the children
 * arrays, since a living tree's indices are in no order. The depth is
 * bounded by ARB_DEPTH_MAX.
 */
static void
put_subtree(struct out *o, const struct arb_control *ctl, uint32_t top,
	    int64_t now, const struct arb_usage *usage)
{
	const struct arb_spec_node *n = &ctl->spec->nodes[top];

	put_node(o, ctl, top, now, usage);
	for (uint32_t i = 0; i < n->nchildren && !o->failed; i++) {
		PUT_LITERAL(o, ",");
		put_subtree(o, ctl, n->children[i], now, usage);
	}
}

/*
 * The usage of top's subtree into usage[node], children first: a
 * supervisor takes what its own read does not know (without cgroup2,
 * everything; without the memory controller, memory) from the sum of
 * its children's. Depth bounded by ARB_DEPTH_MAX.
 */
static void
gather_usage(const struct arb_control *ctl, uint32_t top,
	     struct arb_usage *usage)
{
	const struct arb_spec_node *n = &ctl->spec->nodes[top];
	struct arb_usage sum = {
		.memory = ARB_USAGE_UNKNOWN,
		.memory_peak = ARB_USAGE_UNKNOWN,
		.cpu_usec = ARB_USAGE_UNKNOWN,
		.tasks = ARB_USAGE_UNKNOWN,
		.oom_kills = ARB_USAGE_UNKNOWN,
	};

	if (n->kind == ARB_NODE_SERVICE) {
		arb_usage_read(ctl->cg, ctl->spec, top,
			       arb_tree_pid(ctl->tree, top), &usage[top]);
		return;
	}
	for (uint32_t i = 0; i < n->nchildren; i++) {
		gather_usage(ctl, n->children[i], usage);
		arb_usage_add(&sum, &usage[n->children[i]]);
	}
	/* Its children's peaks came at different times: their sum is no
	 * peak of the subtree's. */
	sum.memory_peak = ARB_USAGE_UNKNOWN;
	arb_usage_read(ctl->cg, ctl->spec, top, 0, &usage[top]);
	arb_usage_fill_unknown(&usage[top], &sum);
}

/* ,"containment":{...}: cgroup2 or process groups, and why. */
static void
put_containment(struct out *o, const struct arb_cgroup *cg)
{
	static const struct {
		unsigned bit;
		const char *json;
	} controllers[] = {
		{ARB_CGC_CPU, "\"cpu\""},
		{ARB_CGC_IO, "\"io\""},
		{ARB_CGC_MEMORY, "\"memory\""},
		{ARB_CGC_PIDS, "\"pids\""},
	};
	bool first = true;

	if (!cg || !cg->on) {
		PUT_LITERAL(o, ",\"containment\":{\"mode\":\"process-group\","
			       "\"controllers\":[],\"why\":");
		put_outside_text(o, cg && cg->why_off ? cg->why_off
						       : "not set");
		PUT_LITERAL(o, "}");
		return;
	}
	PUT_LITERAL(o, ",\"containment\":{\"mode\":\"cgroup2\",\"cgroup\":");
	/* A path from the mount table: outside text. */
	put_outside_text(o, cg->base ? cg->base : "");
	PUT_LITERAL(o, ",\"controllers\":[");
	for (size_t i = 0; i < sizeof(controllers) / sizeof(controllers[0]);
	     i++) {
		if (!(cg->controllers & controllers[i].bit))
			continue;
		if (!first)
			PUT_LITERAL(o, ",");
		put_bytes(o, controllers[i].json, strlen(controllers[i].json));
		first = false;
	}
	PUT_LITERAL(o, "]}");
}

int
arb_status_reply_encode(const struct arb_control *ctl, uint32_t top,
			int64_t now_ms, bool stats, char **ret_buf,
			size_t *ret_len)
{
	struct out o = {0};
	struct arb_usage *usage = NULL;

	if (stats) {
		usage = calloc(ctl->spec->nnodes, sizeof(*usage));
		if (!usage)
			return -ENOMEM;
		gather_usage(ctl, top, usage);
	}
	/* The envelope arb_wire_encode_reply gives {"nodes": [...],
	 * "containment": {...}}. */
	PUT_LITERAL(&o, "{\"parameters\":{\"nodes\":[");
	put_subtree(&o, ctl, top, now_ms, usage);
	PUT_LITERAL(&o, "]");
	put_containment(&o, ctl->cg);
	PUT_LITERAL(&o, "}}");
	put_bytes(&o, "", 1); /* fails past ARB_REPLY_MAX (reserve) */
	free(usage);
	if (o.failed) {
		free(o.data);
		return o.failed;
	}
	*ret_buf = o.data;
	*ret_len = o.len;
	return 0;
}
