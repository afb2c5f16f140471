/*
 * test_logs_state.c - capture across a re-exec, in one process: lines
 * captured, the state saved to a memfd, the old capture let go without
 * touching its pipes, more written meanwhile, the state read back into a
 * new capture: every line once, in order, numbered on, the partial line
 * joined. Then the same state corrupted in many ways: the restore refuses
 * it, without a crash, a leak or a descriptor left open.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>
#include <jansson.h>

#include "logs/capture.h"
#include "logs/capture_internal.h"
#include "state/state.h"

struct fixture {
	struct ev_loop *loop;
	struct arb_spec *spec;
	uint32_t a, b;
	struct arb_logs *logs;
	int out[2][2]; /* the services' write ends: [node a/b][stream] */
};

static int
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the directory's own */
}

static void
write_str(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* Runs the loop until node's ring holds n lines (a bounded wait). */
static void
run_until(struct fixture *f, uint32_t node, uint32_t n)
{
	for (int i = 0; i < 1000; i++) {
		const struct arb_logring *r = arb_logs_ring(f->logs, node);

		if (r && r->count >= n)
			return;
		ev_run(f->loop, EVRUN_NOWAIT);
		if (i > 10)
			usleep(1000);
	}
	fail_msg("node %u: fewer than %u lines captured", node, n);
}

/* Node's ring as "seq:stream:text|..." with seq relative to base. */
static void
ring_text(struct fixture *f, uint32_t node, char *buf, size_t size,
	  uint64_t *ret_last_seq)
{
	const struct arb_logring *r = arb_logs_ring(f->logs, node);
	struct arb_logring_iter it;
	struct arb_log_line line;
	size_t at = 0;

	buf[0] = '\0';
	assert_non_null(r);
	arb_logring_iter_last(r, UINT32_MAX, &it);
	while (arb_logring_next(r, &it, &line)) {
		at += (size_t)snprintf(buf + at, size - at, "%d:%u:%.*s|",
				       line.pid, line.stream, (int)line.len,
				       line.text);
		if (ret_last_seq)
			*ret_last_seq = line.seq;
	}
}

/* Every line of both rings, a distinct number each, rising in a ring. */
static void
assert_seqs_sane(struct fixture *f, uint64_t min_count)
{
	uint64_t seen[64];
	size_t n = 0;
	uint32_t nodes[2] = {f->a, f->b};

	for (int k = 0; k < 2; k++) {
		const struct arb_logring *r = arb_logs_ring(f->logs, nodes[k]);
		struct arb_logring_iter it;
		struct arb_log_line line;
		uint64_t prev = 0;
		bool first = true;

		arb_logring_iter_last(r, UINT32_MAX, &it);
		while (arb_logring_next(r, &it, &line)) {
			assert_true(first || line.seq > prev);
			for (size_t i = 0; i < n; i++)
				assert_true(seen[i] != line.seq);
			assert_true(n < 64);
			seen[n++] = line.seq;
			prev = line.seq;
			first = false;
		}
	}
	assert_true(n >= min_count);
}

static void
fixture_start(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->loop = ev_default_loop(0);
	f->spec = arb_spec_new();
	assert_non_null(f->spec);
	f->a = arb_spec_add(f->spec, ARB_ROOT, ARB_NODE_SERVICE, "a", "t", 1);
	f->b = arb_spec_add(f->spec, ARB_ROOT, ARB_NODE_SERVICE, "b", "t", 2);
	assert_int_equal(arb_logs_new(&f->logs, f->loop, f->spec, 0), 0);
	for (int k = 0; k < 2; k++) {
		uint32_t node = k == 0 ? f->a : f->b;
		int wo, we;

		assert_int_equal(arb_logs_pipes(f->logs, node, &wo, &we), 0);
		/* The service's copies, as a fork would leave them. */
		f->out[k][0] = dup(wo);
		f->out[k][1] = dup(we);
		assert_true(f->out[k][0] >= 0 && f->out[k][1] >= 0);
		arb_logs_pipes_given(f->logs, node);
		arb_logs_started(f->logs, node, 1000 + (int)node);
	}
	write_str(f->out[0][0], "a1\na2\npar");
	write_str(f->out[1][1], "b1\n");
	run_until(f, f->a, 2);
	run_until(f, f->b, 1);
}

static void
fixture_stop(struct fixture *f)
{
	for (int k = 0; k < 2; k++)
		for (int s = 0; s < 2; s++)
			close(f->out[k][s]);
	arb_logs_free(f->logs);
	arb_spec_free(f->spec);
}

/* The state of f's capture, in o; the capture let go as a re-exec does. */
static void
save(struct fixture *f, struct arb_state_out *o)
{
	json_t *obj = NULL;

	assert_int_equal(arb_state_out_init(o), 0);
	assert_int_equal(arb_logs_save(f->logs, o, &obj), 0);
	assert_int_equal(json_object_set_new(o->root, "logs", obj), 0);
	arb_logs_free_saved(f->logs);
	f->logs = NULL;
}

/* Reads o back into a new capture of f: arb_logs_restore's result. */
static int
restore(struct fixture *f, struct arb_state_out *o, char *error,
	size_t error_size)
{
	struct arb_state_in in;
	int fd = -1, r;

	assert_int_equal(arb_state_out_write(o, &fd), 0);
	arb_state_out_done(o);
	assert_int_equal(arb_state_in_read(&in, fd), 0);
	assert_int_equal(arb_logs_new(&f->logs, f->loop, f->spec, 0), 0);
	r = arb_logs_restore(f->logs, &in, json_object_get(in.root, "logs"));
	(void)snprintf(error, error_size, "%s", in.error);
	arb_state_in_done(&in);
	return r;
}

static void
test_round_trip(void **unused)
{
	struct fixture f;
	struct arb_state_out o;
	char text[512], error[256];
	uint64_t saved_last = 0, last = 0;
	int fds = open_fds();

	fixture_start(&f);
	ring_text(&f, f.a, text, sizeof(text), &saved_last);
	assert_string_equal(text, "1001:0:a1|1001:0:a2|");
	save(&f, &o);
	/* While no image runs: the rest of the partial line, and more. */
	write_str(f.out[0][0], "tial\na3\n");
	write_str(f.out[1][1], "b2\n");
	assert_int_equal(restore(&f, &o, error, sizeof(error)), 0);
	ring_text(&f, f.b, text, sizeof(text), NULL);
	assert_string_equal(text, "1002:1:b1|");
	run_until(&f, f.a, 4);
	run_until(&f, f.b, 2);
	ring_text(&f, f.a, text, sizeof(text), &last);
	assert_string_equal(text,
			    "1001:0:a1|1001:0:a2|1001:0:partial|1001:0:a3|");
	assert_true(last > saved_last);
	ring_text(&f, f.b, text, sizeof(text), NULL);
	assert_string_equal(text, "1002:1:b1|1002:1:b2|");
	assert_seqs_sane(&f, 6);
	/* And after: a line and a pid of a restart. */
	arb_logs_started(f.logs, f.a, 77);
	write_str(f.out[0][1], "e1\n");
	run_until(&f, f.a, 5);
	ring_text(&f, f.a, text, sizeof(text), NULL);
	assert_string_equal(text, "1001:0:a1|1001:0:a2|1001:0:partial|"
			    "1001:0:a3|77:1:e1|");
	assert_seqs_sane(&f, 7);
	fixture_stop(&f);
	assert_int_equal(open_fds(), fds);
}

/* A ring that shrank keeps its newest lines. */
static void
test_ring_shrank(void **unused)
{
	struct fixture f;
	struct arb_state_out o;
	char line[200], error[256];
	int fds = open_fds();

	fixture_start(&f);
	memset(line, 'x', sizeof(line) - 2);
	line[sizeof(line) - 2] = '\n';
	line[sizeof(line) - 1] = '\0';
	/* Within a pipe (64 KiB) and the default ring (64 KiB). */
	for (int i = 0; i < 250; i++)
		write_str(f.out[1][0], line);
	run_until(&f, f.b, 251);
	save(&f, &o);
	f.spec->nodes[f.b].log.ring_size = 16 * 1024;
	assert_int_equal(restore(&f, &o, error, sizeof(error)), 0);
	{
		const struct arb_logring *r = arb_logs_ring(f.logs, f.b);
		struct arb_logring_iter it;
		struct arb_log_line l;
		uint32_t n = 0;

		assert_true(r->count > 10 && r->count < 100);
		assert_true(r->max == 16 * 1024);
		arb_logring_iter_last(r, UINT32_MAX, &it);
		while (arb_logring_next(r, &it, &l))
			n++;
		assert_int_equal(n, r->count);
		/* The newest is the last line written (its seq the last
		 * given before the save). */
		assert_int_equal(l.len, sizeof(line) - 2);
	}
	fixture_stop(&f);
	assert_int_equal(open_fds(), fds);
}

/* Without /proc arbord keeps the write ends: they are passed too, and the
 * next start gives the service the same pipes. */
static void
test_kept_write_ends(void **unused)
{
	struct fixture f;
	struct arb_state_out o;
	char text[512], error[256];
	int wo, we, kept_out, kept_err, fds = open_fds();

	fixture_start(&f);
	/* As arb_logs_pipes_given decides when its probe of /proc fails. */
	f.logs->keep_write_ends = true;
	assert_int_equal(arb_logs_pipes(f.logs, f.a, &kept_out, &kept_err), 0);
	save(&f, &o);
	assert_int_equal(restore(&f, &o, error, sizeof(error)), 0);
	f.logs->keep_write_ends = true;
	assert_int_equal(arb_logs_pipes(f.logs, f.a, &wo, &we), 0);
	assert_int_equal(wo, kept_out);
	assert_int_equal(we, kept_err);
	write_str(wo, "tial\n");
	run_until(&f, f.a, 3);
	ring_text(&f, f.a, text, sizeof(text), NULL);
	assert_string_equal(text, "1001:0:a1|1001:0:a2|1001:0:partial|");
	arb_logs_pipes_given(f.logs, f.a);
	fixture_stop(&f);
	assert_int_equal(open_fds(), fds);
}

/* ---- corruption ---- */

static json_t *
node_obj(struct arb_state_out *o, uint32_t node)
{
	json_t *logs = json_object_get(o->root, "logs");

	return json_array_get(json_object_get(logs, "nodes"), node);
}

/* The bytes of node a's first ring record, in o's bulk. */
static char *
first_record(struct fixture *f, struct arb_state_out *o)
{
	json_t *ring = json_object_get(node_obj(o, f->a), "ring");
	json_t *data = json_object_get(ring, "data");

	return o->bulk + json_integer_value(json_object_get(data, "offset"));
}

static void
set_int(json_t *obj, const char *key, json_int_t v)
{
	assert_int_equal(json_object_set_new(obj, key, json_integer(v)), 0);
}

enum mutation {
	M_SEQ_NOT_NUMBER,
	M_SEQ_BELOW_RING,
	M_NODES_NOT_ARRAY,
	M_NODE_NOT_OBJECT,
	M_NODE_FREE_SLOT,
	M_NODE_PAST_CAPS,
	M_PID_NEGATIVE,
	M_FD_NOT_PASSED,
	M_FD_TWICE,
	M_ONE_PIPE,
	M_FD_NOT_PIPE,
	M_WRITE_END_OTHER_PIPE,
	M_PARTIAL_TOO_LONG,
	M_PARTIAL_NEWLINE,
	M_PARTIAL_OUT_OF_BULK,
	M_RING_MORE_LINES,
	M_RING_FEWER_LINES,
	M_RING_DATA_SHORT,
	M_RECORD_LEN,
	M_RECORD_STREAM,
	M_RECORD_FLAGS,
	M_RECORD_SEQ_ORDER,
	_M_MAX
};

static void
mutate(struct fixture *f, struct arb_state_out *o, enum mutation m)
{
	json_t *logs = json_object_get(o->root, "logs");
	json_t *a = node_obj(o, f->a), *b = node_obj(o, f->b);
	json_t *ring = json_object_get(a, "ring");
	json_t *data = json_object_get(ring, "data");
	json_t *partial = json_object_get(a, "partial_out");
	char *rec = first_record(f, o);
	json_int_t lines = json_integer_value(json_object_get(ring, "lines"));
	uint16_t len;

	switch (m) {
	case M_SEQ_NOT_NUMBER:
		json_object_set_new(logs, "seq", json_string("12x"));
		break;
	case M_SEQ_BELOW_RING:
		json_object_set_new(logs, "seq", json_string("1"));
		break;
	case M_NODES_NOT_ARRAY:
		json_object_set_new(logs, "nodes", json_object());
		break;
	case M_NODE_NOT_OBJECT:
		json_array_set_new(json_object_get(logs, "nodes"), f->a,
				   json_integer(3));
		break;
	case M_NODE_FREE_SLOT:
		/* b's capture under the slot after it, which holds no node
		 * (b is the last node: only the nodes' slots are saved). */
		json_incref(b);
		if (json_array_size(json_object_get(logs, "nodes")) > f->b + 1)
			json_array_set_new(json_object_get(logs, "nodes"),
					   f->b + 1, b);
		else
			json_array_append_new(json_object_get(logs, "nodes"),
					      b);
		json_array_set_new(json_object_get(logs, "nodes"), f->b,
				   json_null());
		break;
	case M_NODE_PAST_CAPS: {
		json_t *nodes = json_object_get(logs, "nodes");

		json_incref(b);
		json_array_set_new(nodes, f->b, json_null());
		while (json_array_size(nodes) < 5000)
			json_array_append_new(nodes, json_null());
		json_array_append_new(nodes, b);
		break;
	}
	case M_PID_NEGATIVE:
		set_int(a, "pid", -5);
		break;
	case M_FD_NOT_PASSED:
		set_int(a, "stdout_fd", 1);
		break;
	case M_FD_TWICE:
		json_object_set(b, "stdout_fd",
				json_object_get(a, "stdout_fd"));
		break;
	case M_ONE_PIPE: /* stderr's alone (stdout's alone is merged) */
		set_int(b, "stdout_fd", -1);
		break;
	case M_FD_NOT_PIPE: {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

		assert_true(fd >= 0);
		json_object_set_new(a, "stderr_fd", arb_state_out_fd(o, fd));
		break;
	}
	case M_WRITE_END_OTHER_PIPE: {
		int p[2];

		assert_int_equal(pipe2(p, O_CLOEXEC), 0);
		close(p[0]);
		json_object_set_new(a, "stdout_write_fd",
				    arb_state_out_fd(o, p[1]));
		break;
	}
	case M_PARTIAL_TOO_LONG: {
		static char big[9000];

		memset(big, 'p', sizeof(big));
		json_object_set_new(a, "partial_out",
				    arb_state_out_bulk(o, big, sizeof(big)));
		break;
	}
	case M_PARTIAL_NEWLINE:
		json_object_set_new(a, "partial_out",
				    arb_state_out_bulk(o, "x\ny", 3));
		break;
	case M_PARTIAL_OUT_OF_BULK:
		set_int(partial, "offset", (json_int_t)o->bulk_len - 1);
		break;
	case M_RING_MORE_LINES:
		set_int(ring, "lines", lines + 1);
		break;
	case M_RING_FEWER_LINES:
		set_int(ring, "lines", lines - 1);
		break;
	case M_RING_DATA_SHORT:
		set_int(data, "length",
			json_integer_value(json_object_get(data, "length")) - 1);
		break;
	case M_RECORD_LEN:
		len = htole16(60000);
		memcpy(rec + 22, &len, 2);
		break;
	case M_RECORD_STREAM:
		rec[20] = 7;
		break;
	case M_RECORD_FLAGS:
		rec[21] = 0x10;
		break;
	case M_RECORD_SEQ_ORDER: {
		/* The second record (a2) numbered as the first. */
		uint64_t seq;

		memcpy(&len, rec + 22, 2);
		memcpy(&seq, rec, 8);
		memcpy(rec + 24 + le16toh(len), &seq, 8);
		break;
	}
	case _M_MAX:
		break;
	}
}

static void
test_corrupt(void **unused)
{
	int fds = open_fds();

	for (int m = 0; m < _M_MAX; m++) {
		struct fixture f;
		struct arb_state_out o;
		char error[256];

		fixture_start(&f);
		save(&f, &o);
		mutate(&f, &o, (enum mutation)m);
		assert_int_equal(restore(&f, &o, error, sizeof(error)),
				 -EINVAL);
		print_message("mutation %d: %s\n", m, error);
		assert_true(error[0] != '\0');
		fixture_stop(&f);
		assert_int_equal(open_fds(), fds);
	}
}

/* Nothing corrupted: the same fixture restores (the harness is sound). */
static void
test_uncorrupted(void **unused)
{
	struct fixture f;
	struct arb_state_out o;
	char error[256];
	int fds = open_fds();

	fixture_start(&f);
	save(&f, &o);
	assert_int_equal(restore(&f, &o, error, sizeof(error)), 0);
	fixture_stop(&f);
	assert_int_equal(open_fds(), fds);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_ring_shrank),
		cmocka_unit_test(test_kept_write_ends),
		cmocka_unit_test(test_uncorrupted),
		cmocka_unit_test(test_corrupt),
	};

	/* The loop's own descriptors before any test counts them. */
	(void)ev_default_loop(0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
