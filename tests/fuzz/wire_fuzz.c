/*
 * wire_fuzz.c - libFuzzer target for the control protocol's framing and
 * decoders (common/wire.c), what arbord runs on every client's bytes.
 *
 * The first bytes pick the reader's size limit and seed the chunk sizes;
 * the rest is fed in those chunks and every framed message is decoded as
 * a call and as a reply. A message that decodes must survive a round trip
 * through the encoders unchanged. Nothing may crash, hang or leak.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_call(const char *msg, size_t len)
{
	struct arb_wire_call c, back;
	struct arb_wire_err err;
	char *buf;
	size_t blen;
	int rc;

	rc = arb_wire_decode_call(msg, len, &c, &err);
	if (rc == -ENOMEM)
		abort();
	if (rc) {
		if (rc != -EBADMSG && rc != -EINVAL)
			abort();
		if (!memchr(err.text, '\0', sizeof(err.text)) || !err.text[0])
			abort();
		return;
	}
	/* Numbers may print longer than they were written: -EMSGSIZE is fine. */
	rc = arb_wire_encode_call(c.method, c.parameters,
				  (c.more ? ARB_WIRE_MORE : 0) |
					  (c.oneway ? ARB_WIRE_ONEWAY : 0),
				  &buf, &blen);
	if (rc == 0) {
		if (buf[blen - 1] != '\0' || strlen(buf) != blen - 1)
			abort();
		if (arb_wire_decode_call(buf, blen - 1, &back, NULL) != 0)
			abort();
		if (strcmp(back.method, c.method) != 0 ||
		    !json_equal(back.parameters, c.parameters) ||
		    back.more != c.more || back.oneway != c.oneway)
			abort();
		arb_wire_call_done(&back);
		free(buf);
	} else if (rc != -EMSGSIZE) {
		abort();
	}
	arb_wire_call_done(&c);
}

static void
check_reply(const char *msg, size_t len)
{
	struct arb_wire_reply r, back;
	char *buf;
	size_t blen;
	int rc;

	rc = arb_wire_decode_reply(msg, len, &r, NULL);
	if (rc == -ENOMEM)
		abort();
	if (rc)
		return;
	if (r.error)
		rc = arb_wire_encode_error(r.error, r.parameters, &buf, &blen);
	else
		rc = arb_wire_encode_reply(r.parameters, r.continues, &buf,
					   &blen);
	if (rc)
		abort();
	if (arb_wire_decode_reply(buf, blen - 1, &back, NULL) != 0)
		abort();
	if (!!back.error != !!r.error ||
	    (r.error && strcmp(back.error, r.error) != 0) ||
	    back.continues != r.continues ||
	    !json_equal(back.parameters, r.parameters))
		abort();
	arb_wire_reply_done(&back);
	free(buf);
	arb_wire_reply_done(&r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arb_wire_reader r;
	uint32_t seed;
	size_t max, off = 0;

	if (size < 3)
		return 0;
	/* A small limit half of the time, so oversize paths are reached. */
	max = data[0] & 1 ? ARB_MSG_MAX : (size_t)data[0] + 1;
	seed = (uint32_t)data[1] << 8 | data[2];
	data += 3;
	size -= 3;

	arb_wire_reader_init(&r, max);
	while (off < size) {
		const char *msg;
		size_t len, chunk;
		int rc;

		seed = seed * 1103515245 + 12345;
		chunk = 1 + (seed >> 16) % 64;
		if (chunk > size - off)
			chunk = size - off;
		if (arb_wire_reader_feed(&r, data + off, chunk) != 0)
			break;
		off += chunk;
		while ((rc = arb_wire_reader_next(&r, &msg, &len)) == 1) {
			if (len == 0 || len > max || memchr(msg, '\0', len))
				abort();
			check_call(msg, len);
			check_reply(msg, len);
		}
		if (rc == -ENOMEM)
			abort();
		if (rc < 0) {
			if (rc != -EMSGSIZE && rc != -EBADMSG)
				abort();
			break;
		}
		if (arb_wire_reader_pending(&r) > max)
			abort();
	}
	arb_wire_reader_done(&r);
	return 0;
}
