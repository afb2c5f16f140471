/*
 * test_wire.c - the varlink framing, codec and output queue of
 * common/wire.c: messages split or packed across reads, the size limit
 * enforced before any parsing, malformed and mistyped messages refused
 * with a reason, round trips, and a queue that survives EAGAIN and EPIPE.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "protocol.h"
#include "wire.h"

/* Takes the next message and checks it is exactly want. */
static void
expect_msg(struct arb_wire_reader *r, const char *want)
{
	const char *msg;
	size_t len;

	assert_int_equal(arb_wire_reader_next(r, &msg, &len), 1);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(msg, want, len);
}

static void
test_split_across_feeds(void **state)
{
	static const char wire[] = "{\"method\":\"a.B\"}\0{\"x\":1}";
	struct arb_wire_reader r;
	const char *msg;
	size_t len;

	arb_wire_reader_init(&r, ARB_MSG_MAX);
	/* One byte at a time: nothing is complete until the first NUL. */
	for (size_t i = 0; i < 16; i++) {
		assert_int_equal(arb_wire_reader_feed(&r, wire + i, 1), 0);
		assert_int_equal(arb_wire_reader_next(&r, &msg, &len), 0);
	}
	assert_int_equal(arb_wire_reader_feed(&r, wire + 16, 1), 0);
	expect_msg(&r, "{\"method\":\"a.B\"}");
	assert_int_equal(arb_wire_reader_next(&r, &msg, &len), 0);
	/* The second message's bytes and its NUL in two feeds. */
	assert_int_equal(arb_wire_reader_feed(&r, wire + 17, 7), 0);
	assert_int_equal(arb_wire_reader_next(&r, &msg, &len), 0);
	assert_int_equal(arb_wire_reader_pending(&r), 7);
	assert_int_equal(arb_wire_reader_feed(&r, "\0", 1), 0);
	expect_msg(&r, "{\"x\":1}");
	assert_int_equal(arb_wire_reader_pending(&r), 0);
	arb_wire_reader_done(&r);
}

static void
test_several_in_one_feed(void **state)
{
	static const char wire[] = "{\"a\":1}\0{\"b\":2}\0{\"c\":3}\0{\"d\"";
	struct arb_wire_reader r;
	const char *msg;
	size_t len;

	arb_wire_reader_init(&r, ARB_MSG_MAX);
	assert_int_equal(arb_wire_reader_feed(&r, wire, sizeof(wire) - 1), 0);
	expect_msg(&r, "{\"a\":1}");
	expect_msg(&r, "{\"b\":2}");
	expect_msg(&r, "{\"c\":3}");
	assert_int_equal(arb_wire_reader_next(&r, &msg, &len), 0);
	assert_int_equal(arb_wire_reader_pending(&r), 4);
	assert_int_equal(arb_wire_reader_feed(&r, ":4}\0", 4), 0);
	expect_msg(&r, "{\"d\":4}");
	arb_wire_reader_done(&r);
}

static void
test_exactly_max_is_accepted(void **state)
{
	struct arb_wire_reader r;
	char *big = malloc(101);

	memset(big, 'x', 100);
	big[100] = '\0';
	arb_wire_reader_init(&r, 100);
	assert_int_equal(arb_wire_reader_feed(&r, big, 101), 0);
	expect_msg(&r, big);
	arb_wire_reader_done(&r);
	free(big);
}

static void
test_oversized_before_nul(void **state)
{
	struct arb_wire_reader r;
	char big[101];
	const char *msg;
	size_t len;

	memset(big, 'x', sizeof(big));
	arb_wire_reader_init(&r, 100);
	/* max bytes with no NUL yet: still possibly valid. */
	assert_int_equal(arb_wire_reader_feed(&r, big, 100), 0);
	assert_int_equal(arb_wire_reader_next(&r, &msg, &len), 0);
	/* One more, and no NUL: refused without waiting for the end. */
	assert_int_equal(arb_wire_reader_feed(&r, big, 1), 0);
	assert_int_equal(arb_wire_reader_next(&r, &msg, &len), -EMSGSIZE);
	/* Sticky: the stream cannot be resynchronised. */
	assert_int_equal(arb_wire_reader_feed(&r, "\0{}\0", 4), -EMSGSIZE);
	assert_int_equal(arb_wire_reader_next(&r, &msg, &len), -EMSGSIZE);
	arb_wire_reader_done(&r);
}

static void
test_oversized_with_nul(void **state)
{
	struct arb_wire_reader r;
	char big[102];
	const char *msg;
	size_t len;

	memset(big, 'x', sizeof(big));
	big[101] = '\0';
	arb_wire_reader_init(&r, 100);
	assert_int_equal(arb_wire_reader_feed(&r, big, sizeof(big)), 0);
	assert_int_equal(arb_wire_reader_next(&r, &msg, &len), -EMSGSIZE);
	arb_wire_reader_done(&r);
}

static void
test_empty_message(void **state)
{
	struct arb_wire_reader r;
	const char *msg;
	size_t len;

	arb_wire_reader_init(&r, ARB_MSG_MAX);
	assert_int_equal(arb_wire_reader_feed(&r, "{}\0\0{}\0", 7), 0);
	expect_msg(&r, "{}");
	assert_int_equal(arb_wire_reader_next(&r, &msg, &len), -EBADMSG);
	assert_int_equal(arb_wire_reader_next(&r, &msg, &len), -EBADMSG);
	arb_wire_reader_done(&r);
}

static void
test_read_from_socket(void **state)
{
	struct arb_wire_reader r;
	const char *msg;
	size_t len;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	arb_wire_reader_init(&r, ARB_MSG_MAX);
	assert_int_equal(arb_wire_reader_read(&r, sv[0]), -EAGAIN);
	assert_int_equal(write(sv[1], "{\"a\":1}\0{\"b\"", 12), 12);
	assert_int_equal(arb_wire_reader_read(&r, sv[0]), 12);
	expect_msg(&r, "{\"a\":1}");
	assert_int_equal(arb_wire_reader_next(&r, &msg, &len), 0);
	assert_int_equal(write(sv[1], ":2}\0", 4), 4);
	close(sv[1]);
	assert_int_equal(arb_wire_reader_read(&r, sv[0]), 4);
	expect_msg(&r, "{\"b\":2}");
	assert_int_equal(arb_wire_reader_read(&r, sv[0]), 0); /* EOF */
	close(sv[0]);
	arb_wire_reader_done(&r);
}

/* A large message through many reads of a small socket buffer. */
static void
test_read_large_message(void **state)
{
	const size_t n = 1024 * 1024;
	struct arb_wire_reader r;
	char *big = malloc(n + 1);
	size_t sent = 0;
	int sv[2];

	memset(big, 'y', n);
	big[n] = '\0';
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
	arb_wire_reader_init(&r, ARB_REPLY_MAX);
	for (;;) {
		const char *msg;
		size_t len;
		ssize_t w = 0;
		int rc;

		if (sent < n + 1)
			w = write(sv[1], big + sent, n + 1 - sent);
		if (w > 0)
			sent += (size_t)w;
		assert_true(arb_wire_reader_read(&r, sv[0]) >= 0 ||
			    sent < n + 1);
		rc = arb_wire_reader_next(&r, &msg, &len);
		assert_true(rc >= 0);
		if (rc == 1) {
			assert_int_equal(len, n);
			assert_memory_equal(msg, big, n);
			break;
		}
	}
	close(sv[0]);
	close(sv[1]);
	arb_wire_reader_done(&r);
	free(big);
}

static void
test_decode_call(void **state)
{
	static const char msg[] = "{\"method\":\"org.arbor.supervisor.Status\","
				  "\"parameters\":{\"path\":\"web/app\"},"
				  "\"more\":true}";
	struct arb_wire_call c;
	struct arb_wire_err err;

	assert_int_equal(arb_wire_decode_call(msg, strlen(msg), &c, &err), 0);
	assert_string_equal(c.method, ARB_METHOD_STATUS);
	assert_string_equal(
		json_string_value(json_object_get(c.parameters, "path")),
		"web/app");
	assert_true(c.more);
	assert_false(c.oneway);
	arb_wire_call_done(&c);
	arb_wire_call_done(&c); /* idempotent */
}

static void
test_decode_call_defaults(void **state)
{
	static const char *const ok[] = {
		"{\"method\":\"a.B\"}",
		"{\"method\":\"a.B\",\"parameters\":null}",
		"{\"method\":\"a.B\",\"oneway\":true,\"upgrade\":false}",
		" {\"parameters\":{},\"method\":\"a.B\"} \n",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct arb_wire_call c;

		assert_int_equal(
			arb_wire_decode_call(ok[i], strlen(ok[i]), &c, NULL), 0);
		assert_string_equal(c.method, "a.B");
		assert_true(json_is_object(c.parameters));
		assert_int_equal(json_object_size(c.parameters), 0);
		assert_false(c.more);
		arb_wire_call_done(&c);
	}
}

struct bad {
	const char *msg;
	int rc;
	const char *field;
	const char *text; /* a substring of the reason */
};

static const struct bad bad_calls[] = {
	{"", -EBADMSG, "", "malformed JSON"},
	{"{", -EBADMSG, "", "malformed JSON"},
	{"{\"method\":\"a.B\"", -EBADMSG, "", "malformed JSON"},
	{"{\"method\":\"a.B\"} x", -EBADMSG, "", "malformed JSON"},
	{"{\"method\":\"a.B\"}{}", -EBADMSG, "", "malformed JSON"},
	{"[\"method\"]", -EBADMSG, "", "JSON object"},
	{"\"method\"", -EBADMSG, "", "malformed JSON"},
	{"{\"method\":\"a\\u0000B\"}", -EBADMSG, "", "malformed JSON"},
	{"{\"method\":\"\xff\"}", -EBADMSG, "", "malformed JSON"},
	{"{}", -EINVAL, "method", "missing"},
	{"{\"method\":\"\"}", -EINVAL, "method", "empty"},
	{"{\"method\":42}", -EINVAL, "method", "expected a string"},
	{"{\"method\":null}", -EINVAL, "method", "expected a string"},
	{"{\"method\":\"a.B\",\"parameters\":[]}", -EINVAL, "parameters",
	 "expected an object"},
	{"{\"method\":\"a.B\",\"parameters\":\"x\"}", -EINVAL, "parameters",
	 "expected an object"},
	{"{\"method\":\"a.B\",\"more\":1}", -EINVAL, "more", "true or false"},
	{"{\"method\":\"a.B\",\"oneway\":\"yes\"}", -EINVAL, "oneway",
	 "true or false"},
	{"{\"method\":\"a.B\",\"more\":true,\"oneway\":true}", -EINVAL,
	 "oneway", "exclude"},
	{"{\"method\":\"a.B\",\"upgrade\":true}", -EINVAL, "upgrade",
	 "not supported"},
	{"{\"method\":\"a.B\",\"paramters\":{}}", -EINVAL, "paramters",
	 "unknown key"},
	{"{\"method\":\"a.B\",\"method\":\"c.D\"}", -EINVAL, "", "duplicate"},
	{"{\"method\":\"a.B\",\"parameters\":{\"path\":\"a\",\"path\":\"b\"}}",
	 -EINVAL, "", "duplicate"},
};

static void
test_decode_call_refuses(void **state)
{
	for (size_t i = 0; i < sizeof(bad_calls) / sizeof(bad_calls[0]); i++) {
		const struct bad *b = &bad_calls[i];
		struct arb_wire_call c = {.method = (char *)"untouched"};
		struct arb_wire_err err;

		memset(&err, 0, sizeof(err));
		assert_int_equal(
			arb_wire_decode_call(b->msg, strlen(b->msg), &c, &err),
			b->rc);
		assert_string_equal(c.method, "untouched");
		assert_null(c.parameters);
		assert_string_equal(err.field, b->field);
		if (!strstr(err.text, b->text))
			fail_msg("'%s': reason '%s' lacks '%s'", b->msg,
				 err.text, b->text);
	}
}

static void
test_decode_reply(void **state)
{
	static const char ok[] = "{\"parameters\":{\"nodes\":[]},"
				 "\"continues\":true,\"future\":1}";
	static const char error[] =
		"{\"error\":\"org.arbor.supervisor.NoSuchChild\","
		"\"parameters\":{\"path\":\"web/ap\",\"nearest\":\"web/app\"},"
		"\"continues\":true}";
	struct arb_wire_reply r;
	struct arb_wire_err err;

	assert_int_equal(arb_wire_decode_reply(ok, strlen(ok), &r, &err), 0);
	assert_null(r.error);
	assert_true(r.continues);
	assert_true(json_is_array(json_object_get(r.parameters, "nodes")));
	arb_wire_reply_done(&r);

	assert_int_equal(arb_wire_decode_reply(error, strlen(error), &r, &err),
			 0);
	assert_string_equal(r.error, ARB_ERR_NO_SUCH_CHILD);
	assert_false(r.continues); /* an error ends a stream */
	assert_string_equal(
		json_string_value(json_object_get(r.parameters, "nearest")),
		"web/app");
	arb_wire_reply_done(&r);

	assert_int_equal(arb_wire_decode_reply("{}", 2, &r, &err), 0);
	assert_null(r.error);
	assert_false(r.continues);
	assert_int_equal(json_object_size(r.parameters), 0);
	arb_wire_reply_done(&r);
}

static const struct bad bad_replies[] = {
	{"nope", -EBADMSG, "", "malformed JSON"},
	{"[]", -EBADMSG, "", "JSON object"},
	{"{\"error\":42}", -EINVAL, "error", "expected a name"},
	{"{\"error\":\"\"}", -EINVAL, "error", "expected a name"},
	{"{\"parameters\":[1]}", -EINVAL, "parameters", "expected an object"},
	{"{\"continues\":\"true\"}", -EINVAL, "continues", "true or false"},
	{"{\"parameters\":{},\"parameters\":{}}", -EINVAL, "", "duplicate"},
};

static void
test_decode_reply_refuses(void **state)
{
	for (size_t i = 0; i < sizeof(bad_replies) / sizeof(bad_replies[0]);
	     i++) {
		const struct bad *b = &bad_replies[i];
		struct arb_wire_reply r = {0};
		struct arb_wire_err err;

		assert_int_equal(
			arb_wire_decode_reply(b->msg, strlen(b->msg), &r, &err),
			b->rc);
		assert_null(r.parameters);
		assert_string_equal(err.field, b->field);
		if (!strstr(err.text, b->text))
			fail_msg("'%s': reason '%s' lacks '%s'", b->msg,
				 err.text, b->text);
	}
}

/* Encodes, frames, reads back and decodes: what goes out comes back. */
static void
test_round_trip(void **state)
{
	json_t *params = json_pack("{s:s, s:s, s:i}", "path", "web/app",
				   "note", "quote \" and \\ and \xc3\xa9", "n",
				   -42);
	struct arb_wire_reader rd;
	struct arb_wire_call c;
	struct arb_wire_reply r;
	const char *msg;
	char *buf;
	size_t len, mlen;

	arb_wire_reader_init(&rd, ARB_MSG_MAX);

	assert_int_equal(arb_wire_encode_call(ARB_METHOD_SIGNAL, params,
					      ARB_WIRE_MORE, &buf, &len),
			 0);
	assert_int_equal(buf[len - 1], '\0');
	assert_int_equal(strlen(buf), len - 1);
	assert_int_equal(arb_wire_reader_feed(&rd, buf, len), 0);
	free(buf);
	assert_int_equal(arb_wire_reader_next(&rd, &msg, &mlen), 1);
	assert_int_equal(arb_wire_decode_call(msg, mlen, &c, NULL), 0);
	assert_string_equal(c.method, ARB_METHOD_SIGNAL);
	assert_true(c.more);
	assert_false(c.oneway);
	assert_true(json_equal(c.parameters, params));
	arb_wire_call_done(&c);

	assert_int_equal(arb_wire_encode_call("a.B", NULL, ARB_WIRE_ONEWAY,
					      &buf, &len),
			 0);
	assert_string_equal(buf,
			    "{\"method\":\"a.B\",\"parameters\":{},"
			    "\"oneway\":true}");
	assert_int_equal(arb_wire_decode_call(buf, len - 1, &c, NULL), 0);
	assert_true(c.oneway);
	arb_wire_call_done(&c);
	free(buf);

	assert_int_equal(arb_wire_encode_reply(params, true, &buf, &len), 0);
	assert_int_equal(arb_wire_decode_reply(buf, len - 1, &r, NULL), 0);
	assert_null(r.error);
	assert_true(r.continues);
	assert_true(json_equal(r.parameters, params));
	arb_wire_reply_done(&r);
	free(buf);

	assert_int_equal(arb_wire_encode_reply(NULL, false, &buf, &len), 0);
	assert_string_equal(buf, "{\"parameters\":{}}");
	assert_int_equal(len, strlen(buf) + 1);
	free(buf);

	assert_int_equal(arb_wire_encode_error(ARB_ERR_NOT_RUNNING, params,
					       &buf, &len),
			 0);
	assert_int_equal(arb_wire_decode_reply(buf, len - 1, &r, NULL), 0);
	assert_string_equal(r.error, ARB_ERR_NOT_RUNNING);
	assert_true(json_equal(r.parameters, params));
	arb_wire_reply_done(&r);
	free(buf);

	json_decref(params);
	arb_wire_reader_done(&rd);
}

static void
test_encode_refuses(void **state)
{
	json_t *array = json_array();
	json_t *big = json_object();
	char *huge = malloc(ARB_MSG_MAX + 1);
	char *buf = (char *)"untouched";
	size_t len = 7;

	memset(huge, 'z', ARB_MSG_MAX);
	huge[ARB_MSG_MAX] = '\0';
	json_object_set_new(big, "s", json_string(huge));

	assert_int_equal(arb_wire_encode_call("", NULL, 0, &buf, &len), -EINVAL);
	assert_int_equal(arb_wire_encode_call("a.\xff", NULL, 0, &buf, &len),
			 -EINVAL);
	assert_int_equal(arb_wire_encode_call("a.B", NULL,
					      ARB_WIRE_MORE | ARB_WIRE_ONEWAY,
					      &buf, &len),
			 -EINVAL);
	assert_int_equal(arb_wire_encode_call("a.B", array, 0, &buf, &len),
			 -EINVAL);
	assert_int_equal(arb_wire_encode_reply(array, false, &buf, &len),
			 -EINVAL);
	assert_int_equal(arb_wire_encode_error("", NULL, &buf, &len), -EINVAL);
	/* A call must stay under ARB_MSG_MAX; a reply may be larger. */
	assert_int_equal(arb_wire_encode_call("a.B", big, 0, &buf, &len),
			 -EMSGSIZE);
	assert_string_equal(buf, "untouched");
	assert_int_equal(len, 7);
	assert_int_equal(arb_wire_encode_reply(big, false, &buf, &len), 0);
	assert_true(len > ARB_MSG_MAX);
	free(buf);

	json_decref(array);
	json_decref(big);
	free(huge);
}

static void
test_outq_eagain_then_drain(void **state)
{
	struct arb_wire_outq q;
	size_t pushed = 0, got = 0;
	char rbuf[65536];
	ssize_t left;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	arb_wire_outq_init(&q);
	assert_int_equal(arb_wire_outq_flush(&q, sv[0]), 0);
	/* Far more than the socket buffer holds: the flush must stop. */
	for (int i = 0; i < 4000; i++) {
		char msg[256];

		memset(msg, 'a' + i % 26, sizeof(msg) - 1);
		msg[sizeof(msg) - 1] = '\0';
		if (i % 2) {
			assert_int_equal(
				arb_wire_outq_push_copy(&q, msg, sizeof(msg)), 0);
		} else {
			char *heap = malloc(sizeof(msg));

			memcpy(heap, msg, sizeof(msg));
			assert_int_equal(
				arb_wire_outq_push(&q, &heap, sizeof(msg)), 0);
			assert_null(heap);
		}
		pushed += sizeof(msg);
	}
	assert_int_equal(arb_wire_outq_queued(&q), pushed);
	left = arb_wire_outq_flush(&q, sv[0]);
	assert_true(left > 0);
	assert_int_equal((size_t)left, arb_wire_outq_queued(&q));
	/* Read everything, checking the bytes arrive whole and in order. */
	while (got < pushed) {
		ssize_t n = read(sv[1], rbuf, sizeof(rbuf));

		assert_true(n > 0);
		for (ssize_t i = 0; i < n; i++) {
			size_t at = got + (size_t)i;
			char want = at % 256 == 255 ? '\0' : 'a' + at / 256 % 26;

			assert_int_equal(rbuf[i], want);
		}
		got += (size_t)n;
		left = arb_wire_outq_flush(&q, sv[0]);
		assert_true(left >= 0);
	}
	assert_int_equal(left, 0);
	assert_int_equal(arb_wire_outq_queued(&q), 0);
	arb_wire_outq_done(&q);
	close(sv[0]);
	close(sv[1]);
}

/*
 * One message on two queues: each writes all of it, and it lives until
 * the last queue lets go (ASan would see a use after free or a leak).
 */
static void
test_outq_shared_message(void **state)
{
	struct arb_wire_outq a, b;
	struct arb_wire_shared *s;
	char *buf = strdup("{\"parameters\":{}}");
	size_t len = strlen(buf) + 1;
	char rbuf[64];
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	arb_wire_outq_init(&a);
	arb_wire_outq_init(&b);
	s = arb_wire_shared_new(&buf, len);
	assert_non_null(s);
	assert_null(buf);
	assert_int_equal(arb_wire_shared_len(s), len);
	assert_int_equal(arb_wire_outq_push_shared(&a, s), 0);
	assert_int_equal(arb_wire_outq_push_shared(&b, s), 0);
	arb_wire_shared_unref(s);
	assert_int_equal(arb_wire_outq_queued(&a), len);
	assert_int_equal(arb_wire_outq_flush(&a, sv[0]), 0);
	assert_int_equal(read(sv[1], rbuf, sizeof(rbuf)), (ssize_t)len);
	assert_string_equal(rbuf, "{\"parameters\":{}}");
	/* b still holds it, unwritten. */
	assert_int_equal(arb_wire_outq_queued(&b), len);
	assert_int_equal(arb_wire_outq_flush(&b, sv[0]), 0);
	assert_int_equal(read(sv[1], rbuf, sizeof(rbuf)), (ssize_t)len);
	assert_string_equal(rbuf, "{\"parameters\":{}}");
	arb_wire_outq_done(&a);
	arb_wire_outq_done(&b);
	close(sv[0]);
	close(sv[1]);
}

static void
test_outq_peer_gone(void **state)
{
	struct arb_wire_outq q;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	arb_wire_outq_init(&q);
	assert_int_equal(arb_wire_outq_push_copy(&q, "{}", 3), 0);
	/* No SIGPIPE: the test would die here. */
	assert_int_equal(arb_wire_outq_flush(&q, sv[0]), -EPIPE);
	assert_int_equal(arb_wire_outq_queued(&q), 3);
	arb_wire_outq_done(&q);
	assert_int_equal(arb_wire_outq_queued(&q), 0);
	close(sv[0]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_across_feeds),
		cmocka_unit_test(test_several_in_one_feed),
		cmocka_unit_test(test_exactly_max_is_accepted),
		cmocka_unit_test(test_oversized_before_nul),
		cmocka_unit_test(test_oversized_with_nul),
		cmocka_unit_test(test_empty_message),
		cmocka_unit_test(test_read_from_socket),
		cmocka_unit_test(test_read_large_message),
		cmocka_unit_test(test_decode_call),
		cmocka_unit_test(test_decode_call_defaults),
		cmocka_unit_test(test_decode_call_refuses),
		cmocka_unit_test(test_decode_reply),
		cmocka_unit_test(test_decode_reply_refuses),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_encode_refuses),
		cmocka_unit_test(test_outq_eagain_then_drain),
		cmocka_unit_test(test_outq_shared_message),
		cmocka_unit_test(test_outq_peer_gone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
