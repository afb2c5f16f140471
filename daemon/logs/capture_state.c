/*
 * capture_state.c - capture across a re-exec (capture.h): the state's
 * "logs" object (state/FORMAT.md) written from the captures, and read back
 * into new ones. The pipes are passed, never read here: what a service
 * writes while no image runs waits in them for the new image's loop.
 *
 * The reader trusts nothing: every descriptor, length, stream, flag and
 * sequence number is checked before it is used. What a failed restore took
 * stays in the captures, where arb_logs_free reads and closes it, except
 * a descriptor that is not what it claims (it is closed at once: reading
 * a blocking socket there would hang arbord).
 */
#include "capture_internal.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/limits.h"

/* A ring's line in the state: u64 seq, i64 time_us, i32 pid, u8 stream,
 * u8 flags, u16 len, little-endian, unpadded; then len bytes of text. */
#define RECORD_HEAD 24

static const char *const read_key[2] = {"stdout_fd", "stderr_fd"};
static const char *const write_key[2] = {"stdout_write_fd",
					 "stderr_write_fd"};
static const char *const partial_key[2] = {"partial_out", "partial_err"};

/* ---- saving ---- */

static void
encode_record(char *p, const struct arb_log_line *line)
{
	uint64_t seq = htole64(line->seq);
	uint64_t time_us = htole64((uint64_t)line->time_us);
	uint32_t pid = htole32((uint32_t)line->pid);
	uint16_t len = htole16(line->len);

	memcpy(p, &seq, 8);
	memcpy(p + 8, &time_us, 8);
	memcpy(p + 16, &pid, 4);
	p[20] = (char)line->stream;
	p[21] = (char)line->flags;
	memcpy(p + 22, &len, 2);
	memcpy(p + RECORD_HEAD, line->text, line->len);
}

/* The ring's lines, oldest first, as records in o's bulk: {"lines",
 * "data"}, or JSON null when it holds none; NULL on OOM. */
static json_t *
save_ring(const struct arb_logring *r, struct arb_state_out *o)
{
	struct arb_logring_iter it;
	struct arb_log_line line;
	size_t size = 0, at = 0;
	json_t *obj, *data;
	char *buf;

	if (!r || r->count == 0)
		return json_null();
	arb_logring_iter_last(r, r->count, &it);
	while (arb_logring_next(r, &it, &line))
		size += RECORD_HEAD + line.len;
	buf = malloc(size);
	if (!buf)
		return NULL;
	arb_logring_iter_last(r, r->count, &it);
	while (arb_logring_next(r, &it, &line)) {
		encode_record(buf + at, &line);
		at += RECORD_HEAD + line.len;
	}
	data = arb_state_out_bulk(o, buf, size);
	free(buf);
	obj = json_object();
	/* json_object_set_new takes value's reference even when it fails,
	 * and fails on a NULL value: each step checks the one before. */
	if (json_object_set_new(obj, "lines", json_integer(r->count)) < 0 ||
	    json_object_set_new(obj, "data", data) < 0) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/* A descriptor to pass, or -1 for none. */
static json_t *
save_fd(struct arb_state_out *o, int fd)
{
	return fd >= 0 ? arb_state_out_fd(o, fd) : json_integer(-1);
}

/*
 * One capture. The write ends are open between loop iterations only when
 * arbord keeps them (keep_write_ends: no /proc to open them again from
 * the read ends), and then the new image has no other way to them: they
 * are passed too. Whether to keep them is not saved: the new image finds
 * out again at its first start, as this one did.
 */
static json_t *
save_node(const struct capture *cap, struct arb_state_out *o)
{
	json_t *n = json_object();

	for (int s = 0; s < 2; s++) {
		const char *partial = cap->partial ? cap->partial +
				      s * ARB_LOG_LINE_MAX : "";

		/* What is none or empty is left out (the reader's default). */
		if ((cap->fd[s] >= 0 &&
		     !arb_state_put(n, read_key[s], save_fd(o, cap->fd[s]))) ||
		    (cap->write_fd[s] >= 0 &&
		     !arb_state_put(n, write_key[s],
				   save_fd(o, cap->write_fd[s]))) ||
		    (cap->partial_len[s] > 0 &&
		     !arb_state_put(n, partial_key[s],
				   arb_state_out_bulk(o, partial,
						      cap->partial_len[s]))))
			goto oom;
	}
	if (!arb_state_put_int(n, "pid", cap->pid, 0) ||
	    !arb_state_put_int(n, "journal_dropped", cap->journal_dropped,
			      0) ||
	    (cap->ring && cap->ring->count > 0 &&
	     !arb_state_put(n, "ring", save_ring(cap->ring, o))))
		goto oom;
	return n;
oom:
	json_decref(n);
	return NULL;
}

/* A slot never started, or forgotten, with no lines of arbord's either. */
static bool
nothing_to_keep(const struct capture *cap)
{
	return cap->fd[0] < 0 && cap->pid == 0 && cap->journal_dropped == 0 &&
	       (!cap->ring || cap->ring->count == 0);
}

int
arb_logs_save(const struct arb_logs *l, struct arb_state_out *o,
	      json_t **ret_obj)
{
	json_t *obj = json_object(), *nodes = json_array();
	char seq[24];

	(void)snprintf(seq, sizeof(seq), "%" PRIu64, l->seq);
	/* nodes is obj's from here: obj's reference frees it. */
	if (json_object_set_new(obj, "nodes", nodes) < 0 ||
	    json_object_set_new(obj, "seq", json_string(seq)) < 0)
		goto oom;
	for (uint32_t i = 0; i < l->ncaps; i++) {
		const struct capture *cap = &l->caps[i];
		json_t *n = nothing_to_keep(cap) ? json_null()
						 : save_node(cap, o);

		if (json_array_append_new(nodes, n) < 0)
			goto oom;
	}
	*ret_obj = obj;
	return 0;
oom:
	json_decref(obj);
	return -ENOMEM;
}

void
arb_logs_free_saved(struct arb_logs *l)
{
	if (!l)
		return;
	for (uint32_t i = 0; l->caps && i < l->ncaps; i++) {
		for (int s = 0; s < 2; s++) {
			l->caps[i].fd[s] = -1;
			l->caps[i].write_fd[s] = -1;
		}
	}
	arb_logs_free(l);
}

/* ---- restoring ---- */

/* fd is a pipe's end open for mode (O_RDONLY, O_WRONLY); *ret_st its
 * stat. */
static bool
is_pipe_end(int fd, int mode, struct stat *ret_st)
{
	int flags = fcntl(fd, F_GETFL);

	return flags >= 0 && (flags & O_ACCMODE) == mode &&
	       fstat(fd, ret_st) == 0 && S_ISFIFO(ret_st->st_mode);
}

/*
 * Takes node's read ends (both, stdout's alone for merged streams, or
 * neither): they become the capture's,
 * non-blocking as arb_reader_pipe makes them, and are watched. A
 * descriptor that is no pipe's read end is closed here, never read.
 */
static int
restore_read_ends(struct arb_logs *l, struct arb_state_in *in,
		  const json_t *n, const char *what, uint32_t node)
{
	struct capture *cap = &l->caps[node];
	int fd[2] = {-1, -1}, r = -EINVAL;
	struct stat st;

	for (int s = 0; s < 2; s++)
		if (arb_state_fd(in, n, what, read_key[s], &fd[s]) < 0)
			goto fail;
	if (fd[0] < 0 && fd[1] < 0)
		return 0;
	if (fd[0] < 0) {
		r = arb_state_fail(in, "%s: stderr's pipe without stdout's",
				   what);
		goto fail;
	}
	for (int s = 0; s < 2; s++) {
		int flags;

		if (fd[s] < 0)
			continue; /* merged streams */
		flags = fcntl(fd[s], F_GETFL);

		if (!is_pipe_end(fd[s], O_RDONLY, &st)) {
			r = arb_state_fail(in, "%s: %s: not a pipe's read end",
					   what, read_key[s]);
			goto fail;
		}
		if (!(flags & O_NONBLOCK) &&
		    fcntl(fd[s], F_SETFL, flags | O_NONBLOCK) < 0) {
			r = -errno;
			goto fail;
		}
	}
	for (int s = 0; s < 2; s++) {
		cap->fd[s] = fd[s];
		/* The kernel keeps a pipe's size: made larger already? */
		if (fd[s] >= 0 && fcntl(fd[s], F_GETPIPE_SZ) >= ARB_LOG_PIPE_BUSY)
			cap->grown |= (uint8_t)(1u << s);
	}
	for (int s = 0; s < 2 && fd[s] >= 0; s++) {
		r = arb_logs_watch(l, node, s);
		if (r < 0)
			return r; /* the capture's now: arb_logs_free's */
	}
	return 0;
fail:
	for (int s = 0; s < 2; s++)
		if (fd[s] >= 0)
			close(fd[s]);
	return r;
}

/* The write ends arbord kept (keep_write_ends), each of its read end's
 * pipe. */
static int
restore_write_ends(struct arb_logs *l, struct arb_state_in *in,
		   const json_t *n, const char *what, uint32_t node)
{
	struct capture *cap = &l->caps[node];

	for (int s = 0; s < 2; s++) {
		struct stat rst, wst;
		int fd;

		if (arb_state_fd(in, n, what, write_key[s], &fd) < 0)
			return -EINVAL;
		if (fd < 0)
			continue;
		if (cap->fd[s] < 0 || fstat(cap->fd[s], &rst) < 0 ||
		    !is_pipe_end(fd, O_WRONLY, &wst) ||
		    wst.st_dev != rst.st_dev || wst.st_ino != rst.st_ino) {
			close(fd);
			return arb_state_fail(in, "%s: %s: not the write end "
					      "of %s", what, write_key[s],
					      read_key[s]);
		}
		cap->write_fd[s] = fd;
	}
	return 0;
}

/* A line without its newline yet, of a stream whose pipe is passed. */
static int
restore_partials(struct arb_logs *l, struct arb_state_in *in,
		 const json_t *n, const char *what, uint32_t node)
{
	struct capture *cap = &l->caps[node];

	for (int s = 0; s < 2; s++) {
		const char *p;
		size_t len;

		if (!json_object_get(n, partial_key[s]))
			continue; /* none */
		if (arb_state_bulk(in, n, what, partial_key[s], &p, &len) < 0)
			return -EINVAL;
		if (len == 0)
			continue;
		if (len > ARB_LOG_LINE_MAX || cap->fd[s] < 0 ||
		    memchr(p, '\n', len))
			return arb_state_fail(in, "%s: %s: not a partial line "
					      "of a passed pipe", what,
					      partial_key[s]);
		if (!cap->partial)
			cap->partial = malloc(2 * ARB_LOG_LINE_MAX);
		if (!cap->partial)
			return -ENOMEM;
		memcpy(cap->partial + s * ARB_LOG_LINE_MAX, p, len);
		cap->partial_len[s] = (uint16_t)len;
	}
	return 0;
}

/* The record at *p (before end), checked; *p moves past it. text points
 * into the state. */
static int
decode_record(struct arb_state_in *in, const char *what, int64_t i,
	      const char **p, const char *end, struct arb_log_line *ret)
{
	const char *rec = *p;
	uint64_t seq, time_us;
	uint32_t pid;
	uint16_t len;

	if ((size_t)(end - rec) < RECORD_HEAD)
		return arb_state_fail(in, "%s: ring: line %" PRId64 " cut "
				      "short", what, i);
	memcpy(&seq, rec, 8);
	memcpy(&time_us, rec + 8, 8);
	memcpy(&pid, rec + 16, 4);
	memcpy(&len, rec + 22, 2);
	len = le16toh(len);
	if (len > ARB_LOG_LINE_MAX || (size_t)(end - rec) - RECORD_HEAD < len)
		return arb_state_fail(in, "%s: ring: line %" PRId64 ": length "
				      "%u", what, i, (unsigned)len);
	if ((uint8_t)rec[20] >= _ARB_STREAM_MAX ||
	    ((uint8_t)rec[21] & ~ARB_LINE_CUT) != 0)
		return arb_state_fail(in, "%s: ring: line %" PRId64 ": stream "
				      "%u, flags %#x", what, i,
				      (unsigned)(uint8_t)rec[20],
				      (unsigned)(uint8_t)rec[21]);
	*ret = (struct arb_log_line){
		.seq = le64toh(seq), .time_us = (int64_t)le64toh(time_us),
		.pid = (int32_t)le32toh(pid), .stream = (uint8_t)rec[20],
		.flags = (uint8_t)rec[21], .len = len,
		.text = rec + RECORD_HEAD,
	};
	*p = rec + RECORD_HEAD + len;
	return 0;
}

/*
 * The saved lines, oldest first, into node's ring as the spec sizes it now
 * (one that shrank forgets the oldest). Their numbers rise, and all come
 * before the counter's: the lines read next follow them.
 */
static int
restore_ring(struct arb_logs *l, struct arb_state_in *in, const json_t *n,
	     const char *what, uint32_t node)
{
	const json_t *ring = NULL;
	const char *p, *end;
	size_t len;
	int64_t lines;
	uint64_t next = 0;

	if (arb_state_object_opt(in, n, what, "ring", &ring) < 0)
		return -EINVAL;
	if (!ring)
		return 0;
	if (arb_state_int(in, ring, what, "lines", 0, UINT32_MAX, &lines) < 0 ||
	    arb_state_bulk(in, ring, what, "data", &p, &len) < 0)
		return -EINVAL;
	end = p + len;
	for (int64_t i = 0; i < lines; i++) {
		struct arb_log_line line;

		if (decode_record(in, what, i, &p, end, &line) < 0)
			return -EINVAL;
		if (line.seq < next || line.seq >= l->seq)
			return arb_state_fail(in, "%s: ring: line %" PRId64
					      ": seq %" PRIu64 " out of order",
					      what, i, line.seq);
		next = line.seq + 1;
		arb_logs_put_ring(l, node, &line);
	}
	if (p != end)
		return arb_state_fail(in, "%s: ring: %zu bytes past its %" PRId64
				      " lines", what, (size_t)(end - p), lines);
	return 0;
}

static int
restore_node(struct arb_logs *l, struct arb_state_in *in, const json_t *n,
	     const char *what, uint32_t node)
{
	struct capture *cap = &l->caps[node];
	int64_t pid, dropped;
	int r;

	if (!json_is_object(n))
		return arb_state_fail(in, "%s: not an object", what);
	pid = dropped = 0;
	if (arb_state_int_opt(in, n, what, "pid", 0, INT32_MAX, &pid) < 0 ||
	    arb_state_int_opt(in, n, what, "journal_dropped", 0, UINT32_MAX,
			      &dropped) < 0)
		return -EINVAL;
	cap->pid = (int)pid;
	cap->journal_dropped = (uint32_t)dropped;
	r = restore_read_ends(l, in, n, what, node);
	if (r == 0)
		r = restore_write_ends(l, in, n, what, node);
	if (r == 0)
		r = restore_partials(l, in, n, what, node);
	if (r == 0)
		r = restore_ring(l, in, n, what, node);
	return r;
}

int
arb_logs_restore(struct arb_logs *l, struct arb_state_in *in,
		 const json_t *obj)
{
	const json_t *nodes, *n;
	size_t i;

	if (arb_state_u64(in, obj, "logs", "seq", &l->seq) < 0 ||
	    arb_state_array(in, obj, "logs", "nodes", &nodes) < 0)
		return -EINVAL;
	json_array_foreach(nodes, i, n) {
		char what[48];
		int r;

		if (json_is_null(n))
			continue;
		(void)snprintf(what, sizeof(what), "logs: nodes[%zu]", i);
		if (i >= l->ncaps || !arb_spec_is_node(l->spec, (uint32_t)i))
			return arb_state_fail(in, "%s: no such node in the "
					      "spec", what);
		r = restore_node(l, in, n, what, (uint32_t)i);
		if (r < 0)
			return r;
	}
	return 0;
}
