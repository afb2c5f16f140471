/*
 * config_fuzz.c - libFuzzer target for the configuration loader.
 *
 * Each input is written to a file and loaded as arbor.conf; whatever the
 * bytes, arb_config_load must return a spec or a list of diagnostics, and
 * never crash, hang or leak (ASan, UBSan and LSan watch). Valid inputs are
 * also printed, which exercises the --check printer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "core/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/arbor-fuzz.XXXXXX";
static char path[64];

static void
cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

static void
setup(void)
{
	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/arbor.conf", dir);
	atexit(cleanup);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arb_diag diag = {0};
	struct arb_spec *spec = NULL;
	FILE *f, *out;

	if (!path[0])
		setup();
	f = fopen(path, "w");
	if (!f)
		abort();
	fwrite(data, 1, size, f);
	fclose(f);
	if (arb_config_load(path, &spec, &diag) == 0) {
		out = fopen("/dev/null", "w");
		arb_config_print(spec, out);
		fclose(out);
		arb_spec_free(spec);
	}
	arb_diag_done(&diag);
	return 0;
}
