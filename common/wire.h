/*
 * wire.h - varlink framing and the JSON codec, shared by arbord and
 * arborctl (DESIGN.md "Control protocol", STYLE.md 8).
 *
 * Three parts, each usable alone:
 *   - a reader that splits a byte stream into NUL-terminated messages and
 *     refuses an oversized or empty one before anything parses it;
 *   - decoders and encoders of calls and replies, through jansson only;
 *   - an output queue that a non-blocking writer drains when it can.
 * No function here logs or exits: each returns 0 (or a count) or -errno.
 */
#ifndef ARB_WIRE_H
#define ARB_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

/* The reader. */

struct arb_wire_reader {
	char *buf;
	size_t cap;
	size_t start;	/* first byte of the message being assembled */
	size_t len;	/* bytes held in buf, from 0 */
	size_t scanned; /* bytes after start known to hold no NUL */
	size_t max;	/* largest message accepted, NUL excluded */
	int err;	/* sticky: a framing error ends the stream */
};

/*
 * Prepares an empty reader that accepts messages of up to max bytes (the
 * NUL excluded): ARB_MSG_MAX for calls, ARB_REPLY_MAX for replies. No
 * memory is allocated until bytes arrive.
 */
void arb_wire_reader_init(struct arb_wire_reader *r, size_t max);
void arb_wire_reader_done(struct arb_wire_reader *r);

/*
 * Appends n bytes. 0, -ENOMEM, or the reader's sticky error. Invalidates
 * the message last returned by arb_wire_reader_next.
 */
int arb_wire_reader_feed(struct arb_wire_reader *r, const void *data,
			 size_t n);

/*
 * One read(2) from fd into the reader, retried on EINTR. Returns the bytes
 * read, 0 at end of file, -EAGAIN when nothing is there (a non-blocking
 * fd, or SO_RCVTIMEO expired), another -errno, or the sticky error. Take
 * every message with arb_wire_reader_next before reading again: the
 * buffer then holds at most one partial message and one read. Invalidates
 * the message last returned by arb_wire_reader_next.
 */
ssize_t arb_wire_reader_read(struct arb_wire_reader *r, int fd);

/*
 * Takes the next complete message. Returns 1 with *ret_msg (not
 * NUL-terminated, valid until the next feed, read or done) and *ret_len;
 * 0 when no message is complete yet; -EMSGSIZE when a message grows
 * beyond max before its NUL; -EBADMSG for an empty message (a NUL with
 * nothing before it). Errors are sticky: the stream cannot be resynced.
 */
int arb_wire_reader_next(struct arb_wire_reader *r, const char **ret_msg,
			 size_t *ret_len);

/* Bytes held that do not yet form a complete message. */
size_t arb_wire_reader_pending(const struct arb_wire_reader *r);

/* The codec. */

/* Why a message was refused, for an error reply or a diagnostic. */
struct arb_wire_err {
	char text[160];	 /* "parameters: expected an object" */
	char field[64];	 /* the offending top-level key, or "" */
};

struct arb_wire_call {
	char *method;	    /* owned */
	json_t *parameters; /* owned reference; always an object */
	bool more;
	bool oneway;
};

/*
 * Decodes one call: {"method": string, "parameters": object?, "more":
 * bool?, "oneway": bool?, "upgrade": false?}. Duplicate keys, any other
 * key, a wrong type, an empty method, or more together with oneway are
 * refused. Returns 0 and fills *ret_call (release it with
 * arb_wire_call_done); -EBADMSG when msg is not one JSON object;
 * -EINVAL when it is one but not a valid call; -ENOMEM. On failure
 * *ret_call is untouched and *err says why (err may be NULL).
 */
int arb_wire_decode_call(const char *msg, size_t len,
			 struct arb_wire_call *ret_call,
			 struct arb_wire_err *err);
void arb_wire_call_done(struct arb_wire_call *c);

struct arb_wire_reply {
	char *error;	    /* owned; NULL for a successful reply */
	json_t *parameters; /* owned reference; always an object */
	bool continues;	    /* never true on an error */
};

/*
 * Decodes one reply: {"parameters": object?, "continues": bool?,
 * "error": string?}. Unknown keys are ignored, so a newer arbord can add
 * some; wrong types and duplicate keys are refused. Returns as
 * arb_wire_decode_call does; release with arb_wire_reply_done.
 */
int arb_wire_decode_reply(const char *msg, size_t len,
			  struct arb_wire_reply *ret_reply,
			  struct arb_wire_err *err);
void arb_wire_reply_done(struct arb_wire_reply *r);

/* Flags of arb_wire_encode_call. */
#define ARB_WIRE_MORE 0x1
#define ARB_WIRE_ONEWAY 0x2

/*
 * Encoders. Each writes one compact JSON object and its NUL into a new
 * heap buffer, *ret_buf (the caller frees it, or hands it to
 * arb_wire_outq_push), with *ret_len counting the NUL. parameters is
 * borrowed; NULL stands for {}. Returns 0, -EINVAL (parameters not an
 * object, or an empty name), -EMSGSIZE (the message would exceed
 * ARB_MSG_MAX for a call, ARB_REPLY_MAX for a reply), or -ENOMEM; on
 * failure the out-parameters are untouched.
 */
int arb_wire_encode_call(const char *method, json_t *parameters, int flags,
			 char **ret_buf, size_t *ret_len);
int arb_wire_encode_reply(json_t *parameters, bool continues, char **ret_buf,
			  size_t *ret_len);
int arb_wire_encode_error(const char *name, json_t *parameters,
			  char **ret_buf, size_t *ret_len);

/*
 * Frees what json_dumps returned, with jansson's allocator (which a
 * program may have replaced). NULL is a no-op.
 */
void arb_wire_free_dump(char *s);

/* text as a JSON string (NULL: null); bytes of text that are not UTF-8
 * become '?'. NULL on OOM. */
json_t *arb_wire_text(const char *text);

/* The output queue. */

struct arb_wire_outq {
	struct arb_wire_chunk *head;
	struct arb_wire_chunk *tail;
	size_t queued; /* bytes not yet written */
};

void arb_wire_outq_init(struct arb_wire_outq *q);

/* Frees every queued message, written or not. */
void arb_wire_outq_done(struct arb_wire_outq *q);

/*
 * Appends len bytes of *buf, taking ownership of the heap buffer *buf
 * (which becomes NULL) even on failure. 0 or -ENOMEM.
 */
int arb_wire_outq_push(struct arb_wire_outq *q, char **buf, size_t len);

/* Appends a copy of len bytes of data (one event sent to many). */
int arb_wire_outq_push_copy(struct arb_wire_outq *q, const void *data,
			    size_t len);

/*
 * One message queued on many connections without a copy for each (a
 * batch of log lines for every follower): each queue holds a reference,
 * and the last one let go frees it.
 */
struct arb_wire_shared;

/*
 * A shared message of len bytes of *buf, taking ownership of the heap
 * buffer *buf (which becomes NULL) even on failure; the caller holds the
 * one reference. NULL on OOM.
 */
struct arb_wire_shared *arb_wire_shared_new(char **buf, size_t len);

/* Lets go of the caller's reference. NULL is a no-op. */
void arb_wire_shared_unref(struct arb_wire_shared *s);

size_t arb_wire_shared_len(const struct arb_wire_shared *s);

/* Appends s, taking a reference of its own. 0 or -ENOMEM. */
int arb_wire_outq_push_shared(struct arb_wire_outq *q,
			      struct arb_wire_shared *s);

/*
 * Writes as much as fd takes, with send(MSG_NOSIGNAL) so a gone peer is
 * -EPIPE and not a SIGPIPE, retrying EINTR. Returns the bytes still
 * queued (0: drained; > 0: fd would block, wait for POLLOUT), or -errno
 * when the connection is broken. A blocking fd is written until drained.
 */
ssize_t arb_wire_outq_flush(struct arb_wire_outq *q, int fd);

/* Bytes still queued: the figure a per-connection limit checks. */
size_t arb_wire_outq_queued(const struct arb_wire_outq *q);

#endif
