/*
 * wire.c - varlink's NUL framing, the call and reply codec, and an output
 * queue, for both arbord and arborctl.
 *
 * The reader enforces the size limit on raw bytes, so no oversized or
 * unterminated message ever reaches jansson. JSON is parsed and printed
 * by jansson only. Nothing here logs, blocks by itself or keeps a pointer
 * into a jansson tree: decoded calls own a copy of the method and a
 * reference to the parameters.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "protocol.h"
#include "wire.h"

/* What one read asks for at least: most calls and events fit in one. */
#define READ_CHUNK 16384

/* Messages written by one sendmsg. */
#define FLUSH_IOV 64

void
arb_wire_reader_init(struct arb_wire_reader *r, size_t max)
{
	memset(r, 0, sizeof(*r));
	r->max = max;
}

void
arb_wire_reader_done(struct arb_wire_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = r->len = r->start = r->scanned = 0;
}

size_t
arb_wire_reader_pending(const struct arb_wire_reader *r)
{
	return r->len - r->start;
}

/*
 * Moves the partial message to the front of the buffer. An idle reader
 * (nothing pending) gives back a buffer grown by a large message, so a
 * thousand quiet connections hold no memory.
 */
static void
compact(struct arb_wire_reader *r)
{
	if (r->start == 0)
		return;
	memmove(r->buf, r->buf + r->start, r->len - r->start);
	r->len -= r->start;
	r->start = 0;
	if (r->len == 0 && r->cap > READ_CHUNK) {
		free(r->buf);
		r->buf = NULL;
		r->cap = 0;
	}
}

static int
reserve(struct arb_wire_reader *r, size_t room)
{
	size_t cap = r->cap ? r->cap : READ_CHUNK;
	char *buf;

	if (room > SIZE_MAX - r->len)
		return -ENOMEM;
	while (cap - r->len < room) {
		if (cap > SIZE_MAX / 2)
			return -ENOMEM;
		cap *= 2;
	}
	if (cap == r->cap)
		return 0;
	buf = realloc(r->buf, cap);
	if (!buf)
		return -ENOMEM;
	r->buf = buf;
	r->cap = cap;
	return 0;
}

int
arb_wire_reader_feed(struct arb_wire_reader *r, const void *data, size_t n)
{
	int err;

	if (r->err)
		return r->err;
	compact(r);
	if (n == 0)
		return 0;
	err = reserve(r, n);
	if (err)
		return err;
	memcpy(r->buf + r->len, data, n);
	r->len += n;
	return 0;
}

ssize_t
arb_wire_reader_read(struct arb_wire_reader *r, int fd)
{
	ssize_t n;
	int err;

	if (r->err)
		return r->err;
	compact(r);
	err = reserve(r, READ_CHUNK);
	if (err)
		return err;
	do
		n = read(fd, r->buf + r->len, r->cap - r->len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	r->len += (size_t)n;
	return n;
}

int
arb_wire_reader_next(struct arb_wire_reader *r, const char **ret_msg,
		     size_t *ret_len)
{
	size_t unscanned = r->len - r->start - r->scanned;
	const char *nul;
	size_t n;

	if (r->err)
		return r->err;
	if (unscanned == 0)
		nul = NULL;
	else
		nul = memchr(r->buf + r->start + r->scanned, '\0', unscanned);
	if (!nul) {
		r->scanned += unscanned;
		if (r->scanned > r->max)
			r->err = -EMSGSIZE;
		return r->err;
	}
	n = (size_t)(nul - (r->buf + r->start));
	if (n > r->max)
		r->err = -EMSGSIZE;
	else if (n == 0)
		r->err = -EBADMSG;
	if (r->err)
		return r->err;
	*ret_msg = r->buf + r->start;
	*ret_len = n;
	r->start += n + 1;
	r->scanned = 0;
	return 1;
}

static void
set_err(struct arb_wire_err *err, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
set_err(struct arb_wire_err *err, const char *field, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	snprintf(err->field, sizeof(err->field), "%s", field);
	va_start(ap, fmt);
	vsnprintf(err->text, sizeof(err->text), fmt, ap);
	va_end(ap);
}

/* Parses msg into one JSON object, or says why not. */
static int
load_object(const char *msg, size_t len, json_t **ret_root,
	    struct arb_wire_err *err)
{
	json_error_t jerr;
	json_t *root;

	root = json_loadb(msg, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		switch (json_error_code(&jerr)) {
		case json_error_out_of_memory:
			set_err(err, "", "out of memory");
			return -ENOMEM;
		case json_error_duplicate_key:
			set_err(err, "", "%s", jerr.text);
			return -EINVAL;
		default:
			set_err(err, "", "malformed JSON at byte %d: %s",
				jerr.position, jerr.text);
			return -EBADMSG;
		}
	}
	if (!json_is_object(root)) {
		json_decref(root);
		set_err(err, "", "a message must be a JSON object");
		return -EBADMSG;
	}
	*ret_root = root;
	return 0;
}

/* An object, or null or absent for {}; a new reference in *ret. */
static int
take_parameters(json_t *v, json_t **ret, struct arb_wire_err *err)
{
	if (!v || json_is_null(v)) {
		*ret = json_object();
		if (!*ret) {
			set_err(err, "", "out of memory");
			return -ENOMEM;
		}
		return 0;
	}
	if (!json_is_object(v)) {
		set_err(err, "parameters", "parameters: expected an object");
		return -EINVAL;
	}
	*ret = json_incref(v);
	return 0;
}

static int
take_bool(const char *key, json_t *v, bool *ret, struct arb_wire_err *err)
{
	if (!json_is_boolean(v)) {
		set_err(err, key, "%s: expected true or false", key);
		return -EINVAL;
	}
	*ret = json_is_true(v);
	return 0;
}

int
arb_wire_decode_call(const char *msg, size_t len,
		     struct arb_wire_call *ret_call, struct arb_wire_err *err)
{
	struct arb_wire_call c = {0};
	json_t *root = NULL, *params = NULL, *v;
	const char *key, *method = NULL;
	bool upgrade = false;
	int rc;

	rc = load_object(msg, len, &root, err);
	if (rc)
		return rc;
	json_object_foreach(root, key, v) {
		if (strcmp(key, "method") == 0) {
			if (!json_is_string(v)) {
				set_err(err, key, "method: expected a string");
				rc = -EINVAL;
				goto fail;
			}
			method = json_string_value(v);
		} else if (strcmp(key, "parameters") == 0) {
			params = v;
		} else if (strcmp(key, "more") == 0) {
			rc = take_bool(key, v, &c.more, err);
		} else if (strcmp(key, "oneway") == 0) {
			rc = take_bool(key, v, &c.oneway, err);
		} else if (strcmp(key, "upgrade") == 0) {
			rc = take_bool(key, v, &upgrade, err);
			if (rc == 0 && upgrade) {
				set_err(err, key, "upgrade is not supported");
				rc = -EINVAL;
			}
		} else {
			set_err(err, key, "unknown key '%.64s'", key);
			rc = -EINVAL;
		}
		if (rc)
			goto fail;
	}
	if (!method || !*method) {
		set_err(err, "method", "method: missing or empty");
		rc = -EINVAL;
		goto fail;
	}
	if (c.more && c.oneway) {
		set_err(err, "oneway", "more and oneway exclude each other");
		rc = -EINVAL;
		goto fail;
	}
	rc = take_parameters(params, &c.parameters, err);
	if (rc)
		goto fail;
	c.method = strdup(method);
	if (!c.method) {
		set_err(err, "", "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	json_decref(root);
	*ret_call = c;
	return 0;
fail:
	json_decref(c.parameters);
	json_decref(root);
	return rc;
}

void
arb_wire_call_done(struct arb_wire_call *c)
{
	free(c->method);
	c->method = NULL;
	json_decref(c->parameters);
	c->parameters = NULL;
}

int
arb_wire_decode_reply(const char *msg, size_t len,
		      struct arb_wire_reply *ret_reply,
		      struct arb_wire_err *err)
{
	struct arb_wire_reply r = {0};
	json_t *root = NULL, *v;
	int rc;

	rc = load_object(msg, len, &root, err);
	if (rc)
		return rc;
	v = json_object_get(root, "continues");
	if (v) {
		rc = take_bool("continues", v, &r.continues, err);
		if (rc)
			goto fail;
	}
	v = json_object_get(root, "error");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v) || !*json_string_value(v)) {
			set_err(err, "error", "error: expected a name");
			rc = -EINVAL;
			goto fail;
		}
		r.error = strdup(json_string_value(v));
		if (!r.error) {
			set_err(err, "", "out of memory");
			rc = -ENOMEM;
			goto fail;
		}
		r.continues = false; /* an error always ends a stream */
	}
	rc = take_parameters(json_object_get(root, "parameters"), &r.parameters,
			     err);
	if (rc)
		goto fail;
	json_decref(root);
	*ret_reply = r;
	return 0;
fail:
	free(r.error);
	json_decref(root);
	return rc;
}

void
arb_wire_reply_done(struct arb_wire_reply *r)
{
	free(r->error);
	r->error = NULL;
	json_decref(r->parameters);
	r->parameters = NULL;
}

void
arb_wire_free_dump(char *s)
{
	json_free_t jfree;

	json_get_alloc_funcs(NULL, &jfree);
	if (s)
		jfree(s);
}

/*
 * Serialises obj with its NUL into a buffer from malloc: json_dumps uses
 * jansson's allocator, which a program may have replaced (arborctl does).
 */
static int
dump(json_t *obj, size_t max, char **ret_buf, size_t *ret_len)
{
	char *s, *buf;
	size_t n;

	s = json_dumps(obj, JSON_COMPACT);
	if (!s)
		return -ENOMEM;
	n = strlen(s);
	if (n > max) {
		arb_wire_free_dump(s);
		return -EMSGSIZE;
	}
	buf = malloc(n + 1);
	if (buf)
		memcpy(buf, s, n + 1);
	arb_wire_free_dump(s);
	if (!buf)
		return -ENOMEM;
	*ret_buf = buf;
	*ret_len = n + 1;
	return 0;
}

/*
 * Sets key to a string. json_string refuses invalid UTF-8 as well as
 * failing on OOM; a name that is not text is far the likelier cause.
 */
static int
set_string(json_t *obj, const char *key, const char *s)
{
	json_t *v = json_string(s);

	if (!v)
		return -EINVAL;
	return json_object_set_new(obj, key, v) ? -ENOMEM : 0;
}

/* Sets "parameters" to params (borrowed), or to {} when NULL. */
static int
set_parameters(json_t *obj, json_t *params)
{
	if (!params)
		return json_object_set_new(obj, "parameters", json_object())
			       ? -ENOMEM
			       : 0;
	if (!json_is_object(params))
		return -EINVAL;
	return json_object_set(obj, "parameters", params) ? -ENOMEM : 0;
}

static int
set_true(json_t *obj, const char *key)
{
	return json_object_set_new(obj, key, json_true()) ? -ENOMEM : 0;
}

int
arb_wire_encode_call(const char *method, json_t *parameters, int flags,
		     char **ret_buf, size_t *ret_len)
{
	json_t *obj;
	int rc;

	if (!method || !*method ||
	    (flags & (ARB_WIRE_MORE | ARB_WIRE_ONEWAY)) ==
		    (ARB_WIRE_MORE | ARB_WIRE_ONEWAY))
		return -EINVAL;
	obj = json_object();
	if (!obj)
		return -ENOMEM;
	rc = set_string(obj, "method", method);
	if (rc == 0)
		rc = set_parameters(obj, parameters);
	if (rc == 0 && (flags & ARB_WIRE_MORE))
		rc = set_true(obj, "more");
	if (rc == 0 && (flags & ARB_WIRE_ONEWAY))
		rc = set_true(obj, "oneway");
	if (rc == 0)
		rc = dump(obj, ARB_MSG_MAX, ret_buf, ret_len);
	json_decref(obj);
	return rc;
}

int
arb_wire_encode_reply(json_t *parameters, bool continues, char **ret_buf,
		      size_t *ret_len)
{
	json_t *obj;
	int rc;

	obj = json_object();
	if (!obj)
		return -ENOMEM;
	rc = set_parameters(obj, parameters);
	if (rc == 0 && continues)
		rc = set_true(obj, "continues");
	if (rc == 0)
		rc = dump(obj, ARB_REPLY_MAX, ret_buf, ret_len);
	json_decref(obj);
	return rc;
}

int
arb_wire_encode_error(const char *name, json_t *parameters, char **ret_buf,
		      size_t *ret_len)
{
	json_t *obj;
	int rc;

	if (!name || !*name)
		return -EINVAL;
	obj = json_object();
	if (!obj)
		return -ENOMEM;
	rc = set_string(obj, "error", name);
	if (rc == 0)
		rc = set_parameters(obj, parameters);
	if (rc == 0)
		rc = dump(obj, ARB_REPLY_MAX, ret_buf, ret_len);
	json_decref(obj);
	return rc;
}

struct arb_wire_shared {
	unsigned refs;
	size_t len;
	char *buf;
};

struct arb_wire_chunk {
	struct arb_wire_chunk *next;
	char *buf;     /* owned, unless shared */
	size_t len;
	size_t off;    /* bytes of buf already written */
	struct arb_wire_shared *shared; /* NULL: buf is the chunk's own */
};

struct arb_wire_shared *
arb_wire_shared_new(char **buf, size_t len)
{
	struct arb_wire_shared *s = malloc(sizeof(*s));

	if (!s) {
		free(*buf);
		*buf = NULL;
		return NULL;
	}
	s->refs = 1;
	s->len = len;
	s->buf = *buf;
	*buf = NULL;
	return s;
}

void
arb_wire_shared_unref(struct arb_wire_shared *s)
{
	if (!s || --s->refs > 0)
		return;
	free(s->buf);
	free(s);
}

size_t
arb_wire_shared_len(const struct arb_wire_shared *s)
{
	return s->len;
}

void
arb_wire_outq_init(struct arb_wire_outq *q)
{
	q->head = q->tail = NULL;
	q->queued = 0;
}

static void
pop(struct arb_wire_outq *q)
{
	struct arb_wire_chunk *c = q->head;

	q->head = c->next;
	if (!q->head)
		q->tail = NULL;
	if (c->shared)
		arb_wire_shared_unref(c->shared);
	else
		free(c->buf);
	free(c);
}

/* Appends a chunk of len bytes at buf (owned by the caller until then). */
static struct arb_wire_chunk *
append(struct arb_wire_outq *q, char *buf, size_t len)
{
	struct arb_wire_chunk *c = malloc(sizeof(*c));

	if (!c)
		return NULL;
	c->next = NULL;
	c->buf = buf;
	c->len = len;
	c->off = 0;
	c->shared = NULL;
	if (q->tail)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
	q->queued += len;
	return c;
}

void
arb_wire_outq_done(struct arb_wire_outq *q)
{
	while (q->head)
		pop(q);
	q->queued = 0;
}

int
arb_wire_outq_push(struct arb_wire_outq *q, char **buf, size_t len)
{
	char *data = *buf;

	*buf = NULL;
	if (len == 0) {
		free(data);
		return 0;
	}
	if (!append(q, data, len)) {
		free(data);
		return -ENOMEM;
	}
	return 0;
}

int
arb_wire_outq_push_shared(struct arb_wire_outq *q, struct arb_wire_shared *s)
{
	struct arb_wire_chunk *c;

	if (s->len == 0)
		return 0;
	c = append(q, s->buf, s->len);
	if (!c)
		return -ENOMEM;
	c->shared = s;
	s->refs++;
	return 0;
}

int
arb_wire_outq_push_copy(struct arb_wire_outq *q, const void *data,
			size_t len)
{
	char *copy;

	if (len == 0)
		return 0;
	copy = malloc(len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, data, len);
	return arb_wire_outq_push(q, &copy, len);
}

/* Drops n written bytes from the front of the queue. */
static void
advance(struct arb_wire_outq *q, size_t n)
{
	q->queued -= n;
	while (n > 0) {
		struct arb_wire_chunk *c = q->head;
		size_t left = c->len - c->off;

		if (n < left) {
			c->off += n;
			return;
		}
		n -= left;
		pop(q);
	}
}

ssize_t
arb_wire_outq_flush(struct arb_wire_outq *q, int fd)
{
	struct iovec iov[FLUSH_IOV];

	while (q->head) {
		struct msghdr mh = {.msg_iov = iov};
		struct arb_wire_chunk *c;
		ssize_t n;

		for (c = q->head; c && mh.msg_iovlen < FLUSH_IOV; c = c->next) {
			iov[mh.msg_iovlen].iov_base = c->buf + c->off;
			iov[mh.msg_iovlen].iov_len = c->len - c->off;
			mh.msg_iovlen++;
		}
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return (ssize_t)q->queued;
		if (n < 0)
			return -errno;
		advance(q, (size_t)n);
	}
	return 0;
}

size_t
arb_wire_outq_queued(const struct arb_wire_outq *q)
{
	return q->queued;
}

json_t *
arb_wire_text(const char *text)
{
	json_t *j;
	char *copy;

	if (!text)
		return json_null();
	j = json_string(text);
	if (j)
		return j;
	/* Not UTF-8 (a service's STATUS=, a path from a file): readable
	 * still, each byte past ASCII as '?'. */
	copy = strdup(text);
	if (!copy)
		return NULL;
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}
