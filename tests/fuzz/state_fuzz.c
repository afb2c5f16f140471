/*
 * state_fuzz.c - libFuzzer target for the re-exec state's reader.
 *
 * Each input is the contents of a state memfd (JSON, a NUL, the bulk):
 * arb_state_in_read reads it and arb_spec_json_load reads its "spec".
 * Whatever the bytes, the reader must refuse them with a message or give
 * a spec that passes arb_spec_check, and never crash or leak (ASan,
 * UBSan and LSan watch). Seeds: tests/fuzz/state_seeds/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/spec.h"
#include "state/spec_json.h"
#include "state/state.h"

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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arb_state_in in;
	struct arb_spec *spec = NULL;
	const json_t *obj;
	char why[256];

	if (arb_state_in_read(&in, memfd_of(data, size)) == 0 &&
	    arb_state_object(&in, in.root, "state", "spec", &obj) == 0 &&
	    arb_spec_json_load(&in, obj, &spec) == 0) {
		if (arb_spec_check(spec, why, sizeof(why)) != 0)
			abort();
		arb_spec_free(spec);
	}
	arb_state_in_done(&in);
	return 0;
}
