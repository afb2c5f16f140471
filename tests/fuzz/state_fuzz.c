/*
 * state_fuzz.c - libFuzzer target for the re-exec state's reader.
 *
 * Each input is the contents of a state memfd (JSON, a NUL, the bulk):
 * arb_state_in_read reads it and arb_spec_json_load reads its "spec".
 * Whatever the bytes, the reader must refuse them with a message or give
 * a spec that passes arb_spec_check, and never crash or leak (ASan,
 * UBSan and LSan watch). A spec read, the rest goes through what a resume
 * does (arb_runtime_probe), with the descriptors the input names made
 * again at their numbers (state_holders.h) when none of those is one of
 * the fuzzer's own. Seeds: tests/fuzz/state_seeds/ (saved specs and
 * tests/unit/fixtures/state-v1.state).
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/spec.h"
#include "state/spec_json.h"
#include "runtime.h"
#include "state/state.h"
#include "state_holders.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
memfd_of(const uint8_t *data, size_t size)
{
	int fd = memfd_create("state_fuzz", MFD_CLOEXEC);
	size_t done = 0;

	if (fd < 0)
		abort();
	while (done < size) {
		ssize_t n = write(fd, data + done, size - done);

		if (n <= 0)
			abort();
		done += (size_t)n;
	}
	return fd;
}

/* The process the state's pidfds name: one that waits for ever. */
static int
sleeper(void)
{
	static int pid;

	if (pid == 0) {
		pid = fork();
		if (pid == 0) {
			/* Gone with the fuzzer. */
			(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
			pause();
			_exit(0);
		}
	}
	return pid;
}

/*
 * The descriptors data names, made at their numbers: 0, or -1 when one
 * of them is open already (the fuzzer's own: the reader would take it).
 */
static int
make_holders(const uint8_t *data, size_t size, struct holders *h)
{
	json_t *root = json_loadb((const char *)data, strnlen((const char *)data,
							     size), 0, NULL);
	const json_t *v;
	size_t i;

	h->n = 0;
	if (!root)
		return -1;
	holders_find(h, root);
	json_array_foreach(json_object_get(root, "fds"), i, v)
		if (json_is_integer(v) && json_integer_value(v) >= 0 &&
		    json_integer_value(v) < 65536 &&
		    fcntl((int)json_integer_value(v), F_GETFD) >= 0) {
			json_decref(root);
			return -1;
		}
	json_decref(root);
	for (int j = 0; j < h->n; j++)
		if (fcntl(h->v[j].fd, F_GETFD) >= 0)
			return -1;
	h->pid = sleeper();
	if (holders_make(h) < 0) {
		holders_close(h);
		return -1;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arb_state_in in;
	struct arb_spec *spec = NULL;
	struct holders h;
	const json_t *obj;
	char why[256];
	bool held = make_holders(data, size, &h) == 0;

	if (arb_state_in_read(&in, memfd_of(data, size)) == 0 &&
	    arb_state_object(&in, in.root, "state", "spec", &obj) == 0 &&
	    arb_spec_json_load(&in, obj, &spec) == 0) {
		if (arb_spec_check(spec, why, sizeof(why)) != 0)
			abort();
		if (held)
			(void)arb_runtime_probe(spec, &in);
		arb_spec_free(spec);
	}
	arb_state_in_done(&in);
	if (held)
		holders_close(&h);
	return 0;
}
