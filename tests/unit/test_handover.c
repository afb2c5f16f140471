/*
 * test_handover.c - the control socket across a re-exec (handover.c):
 * hand_over ends streams with Reexecuting, closes the other clients and
 * names the listener, lock and caller in the state; resume serves them
 * again from that state, the caller answered under its new req_id;
 * take_back lets the old image go on; corrupt state is refused.
 *
 * One process plays both images: the state goes through a real memfd
 * (arb_state_out_write, arb_state_in_read), and the old image's memory,
 * which execve would drop, is dropped by hand.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "control/connection.h"
#include "protocol.h"
#include "state/state.h"

static uint64_t reexec_req_id;
static int64_t reexec_timeout_ms;

static void
on_reexec(void *ctx, const char *binary, int64_t timeout_ms, uint64_t req_id)
{
	reexec_req_id = req_id;
	reexec_timeout_ms = timeout_ms;
}

static const struct arb_control_hooks hooks = {.reexec = on_reexec};

struct fixture {
	char dir[64], path[96];
	struct ev_loop *loop;
	struct arb_spec spec;
	struct arb_control *ctl;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/arb-handover-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/arbor.sock", f->dir);
	f->loop = ev_default_loop(0);
	f->spec.control_gid = -1;
	assert_int_equal(arb_control_open(&f->ctl, f->loop, f->path, &f->spec,
					  NULL, &hooks, NULL), 0);
	reexec_req_id = 0;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char lock[128];

	arb_control_close(f->ctl);
	snprintf(lock, sizeof(lock), "%s.lock", f->path);
	(void)unlink(lock);
	(void)rmdir(f->dir);
	free(f);
	return 0;
}

static int
client(const struct fixture *f)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = {.tv_sec = 5};

	assert_true(fd >= 0);
	strcpy(sa.sun_path, f->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void
send_msg(int fd, const char *json)
{
	assert_int_equal(send(fd, json, strlen(json) + 1, MSG_NOSIGNAL),
			 (ssize_t)strlen(json) + 1);
}

/* Turns the loop until cond() or a bound. */
static void
spin(struct fixture *f, bool (*cond)(void))
{
	for (int i = 0; i < 200 && !cond(); i++) {
		ev_run(f->loop, EVRUN_NOWAIT);
		usleep(1000);
	}
	assert_true(cond());
}

static bool
reexec_asked(void)
{
	return reexec_req_id != 0;
}

/* Everything fd receives until EOF (or the timeout), NULs as '|'. */
static char *
read_all(int fd)
{
	static char buf[4096];
	size_t len = 0;
	ssize_t n;

	while (len < sizeof(buf) - 1 &&
	       (n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0)) > 0)
		len += (size_t)n;
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\0')
			buf[i] = '|';
	buf[len] = '\0';
	return buf;
}

/* An events subscriber, an idle client and a caller of Reexec. */
static void
three_clients(struct fixture *f, int *ret_events, int *ret_idle,
	      int *ret_caller)
{
	*ret_events = client(f);
	send_msg(*ret_events, "{\"method\":\"org.arbor.supervisor.Events\","
		 "\"more\":true}");
	*ret_idle = client(f);
	*ret_caller = client(f);
	send_msg(*ret_caller, "{\"method\":\"org.arbor.supervisor.Reexec\","
		 "\"parameters\":{\"timeout\":2500}}");
	spin(f, reexec_asked);
	assert_int_equal(reexec_timeout_ms, 2500);
	assert_int_equal(f->ctl->nconns, 3);
}

/*
 * The old image's memory, which execve drops: its connections and itself,
 * their descriptors left open (the new image took them).
 */
static void
drop_old_image(struct arb_control *ctl)
{
	while (ctl->conns) {
		struct conn *c = ctl->conns;

		ctl->conns = c->next;
		arb_wire_reader_done(&c->in);
		arb_wire_outq_done(&c->out);
		free(c->req_path);
		free(c);
	}
	free(ctl->path);
	free(ctl->lock_path);
	free(ctl);
}

static void
test_hand_over_then_resume(void **state)
{
	struct fixture *f = *state;
	struct arb_state_out o;
	struct arb_state_in in;
	struct arb_control *ctl2 = NULL;
	json_t *obj = NULL, *p;
	uint64_t caller_id = 0, old_next;
	int events, idle, caller, fd, other;
	char *got;

	three_clients(f, &events, &idle, &caller);
	old_next = f->ctl->next_req_id;
	assert_int_equal(arb_state_out_init(&o), 0);
	assert_int_equal(arb_control_hand_over(f->ctl, reexec_req_id, "1.0",
					       "1.1", &o, &obj), 0);
	/* The stream's last reply, then the end; the idle one: closed. */
	got = read_all(events);
	assert_string_equal(got, "{\"error\":\"org.arbor.supervisor."
			    "Reexecuting\",\"parameters\":{\"from\":\"1.0\","
			    "\"to\":\"1.1\"}}|");
	assert_string_equal(read_all(idle), "");
	assert_int_equal(f->ctl->nconns, 1);
	assert_int_equal(json_integer_value(json_object_get(obj, "fd")),
			 f->ctl->fd);
	assert_string_equal(json_string_value(json_object_get(obj, "path")),
			    f->path);
	assert_true(json_is_true(json_object_get(
		json_object_get(obj, "caller"), "may_write")));
	assert_int_equal(o.nfds, 3); /* listener, lock, caller */

	json_object_set_new(o.root, "control", obj);
	assert_int_equal(arb_state_out_write(&o, &fd), 0);
	arb_state_out_done(&o);
	assert_int_equal(arb_state_in_read(&in, fd), 0);
	drop_old_image(f->ctl);
	f->ctl = NULL;

	assert_int_equal(arb_control_resume(&ctl2, f->loop, &in,
					    json_object_get(in.root, "control"),
					    &f->spec, NULL, &hooks, NULL,
					    &caller_id), 0);
	f->ctl = ctl2;
	arb_state_in_done(&in);
	/* Under an id the old image never gave (its requests may still be
	 * answered by the core). */
	assert_int_equal(caller_id, old_next);
	assert_int_equal(ctl2->next_req_id, old_next + 1);
	assert_int_equal(ctl2->nconns, 1);

	/* The new image answers the caller... */
	p = json_pack("{s:s,s:s,s:s,s:i}", "from", "1.0", "to", "1.1",
		      "binary", "/usr/sbin/arbord", "away_ms", 3);
	arb_control_complete(ctl2, caller_id, NULL, p);
	json_decref(p);
	for (int i = 0; i < 20; i++)
		ev_run(f->loop, EVRUN_NOWAIT);
	shutdown(caller, SHUT_WR);
	for (int i = 0; i < 20; i++)
		ev_run(f->loop, EVRUN_NOWAIT);
	got = read_all(caller);
	assert_non_null(strstr(got, "\"away_ms\":3"));
	/* ...and serves new clients on the same socket. */
	other = client(f);
	send_msg(other, "{\"method\":\"org.varlink.service.GetInfo\"}");
	shutdown(other, SHUT_WR);
	for (int i = 0; i < 50; i++)
		ev_run(f->loop, EVRUN_NOWAIT);
	assert_non_null(strstr(read_all(other), "org.arbor.supervisor"));
	close(events);
	close(idle);
	close(caller);
	close(other);
}

static void
test_take_back(void **state)
{
	struct fixture *f = *state;
	struct arb_state_out o;
	json_t *obj = NULL, *p;
	int events, idle, caller, other;

	three_clients(f, &events, &idle, &caller);
	assert_int_equal(arb_state_out_init(&o), 0);
	assert_int_equal(arb_control_hand_over(f->ctl, reexec_req_id, "1.0",
					       "1.1", &o, &obj), 0);
	json_decref(obj);
	arb_state_out_done(&o);
	arb_control_take_back(f->ctl);
	p = json_pack("{s:s,s:s}", "step", "exec", "reason", "ENOEXEC");
	arb_control_complete(f->ctl, reexec_req_id, ARB_ERR_REEXEC_FAILED, p);
	json_decref(p);
	shutdown(caller, SHUT_WR);
	for (int i = 0; i < 50; i++)
		ev_run(f->loop, EVRUN_NOWAIT);
	assert_non_null(strstr(read_all(caller), "ReexecFailed"));
	other = client(f);
	send_msg(other, "{\"method\":\"org.varlink.service.GetInfo\"}");
	shutdown(other, SHUT_WR);
	for (int i = 0; i < 50; i++)
		ev_run(f->loop, EVRUN_NOWAIT);
	assert_non_null(strstr(read_all(other), "org.arbor.supervisor"));
	close(events);
	close(idle);
	close(caller);
	close(other);
}

/* A state whose "control" is text, read back: in is ready to resume. */
static void
read_state(struct arb_state_in *in, const char *control, int pass_fd)
{
	struct arb_state_out o;
	json_error_t err;
	int fd;

	assert_int_equal(arb_state_out_init(&o), 0);
	if (pass_fd >= 0)
		json_decref(arb_state_out_fd(&o, pass_fd));
	json_object_set_new(o.root, "control", json_loads(control, 0, &err));
	assert_int_equal(arb_state_out_write(&o, &fd), 0);
	arb_state_out_done(&o);
	assert_int_equal(arb_state_in_read(in, fd), 0);
}

static void
test_corrupt_state_refused(void **state)
{
	struct fixture *f = *state;
	struct arb_control *ctl2 = NULL;
	struct arb_state_in in;
	uint64_t id = 7;
	char text[128];
	int file = open("/dev/null", O_RDONLY | O_CLOEXEC);

	/* No fd; an fd that is no socket; a path without a lock. */
	read_state(&in, "{\"lock_fd\":-1,\"path\":null,\"caller\":null,"
		   "\"next_req_id\":\"1\"}", -1);
	assert_int_equal(arb_control_resume(&ctl2, f->loop, &in,
					    json_object_get(in.root, "control"),
					    &f->spec, NULL, &hooks, NULL, &id),
			 -EINVAL);
	arb_state_in_done(&in);
	snprintf(text, sizeof(text), "{\"fd\":%d,\"lock_fd\":-1,\"path\":null,"
		 "\"caller\":null,\"next_req_id\":\"1\"}", file);
	read_state(&in, text, file);
	assert_int_equal(arb_control_resume(&ctl2, f->loop, &in,
					    json_object_get(in.root, "control"),
					    &f->spec, NULL, &hooks, NULL, &id),
			 -EINVAL);
	assert_non_null(strstr(in.error, "not a listening socket"));
	arb_state_in_done(&in);
	assert_int_equal(fcntl(file, F_GETFD), -1); /* taken and closed */
	assert_null(ctl2);
	assert_int_equal(id, 7);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hand_over_then_resume,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_take_back, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_state_refused,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
