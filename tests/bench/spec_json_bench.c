/*
 * spec_json_bench.c - the re-exec state's "spec" member at N services
 * (default 1000, run.py's configuration): its size, and the median of 20
 * runs of each half: save (arb_spec_json_save + json_dumps) and load
 * (json_loadb + arb_spec_json_load). Prints one line per measure; writes
 * its configuration to a temporary directory it removes.
 * Usage: spec_json_bench [services]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "core/spec.h"
#include "state/spec_json.h"

#include "bench_time.h"

#define RUNS 20

static struct arb_spec *
load_config(unsigned services)
{
	char dir[] = "/tmp/spec_json_bench.XXXXXX", path[64];
	struct arb_diag diag = {0};
	struct arb_spec *s = NULL;
	FILE *f;
	int r;

	if (!mkdtemp(dir))
		return NULL;
	snprintf(path, sizeof(path), "%s/arbor.conf", dir);
	f = fopen(path, "w");
	if (!f)
		return NULL;
	fprintf(f, "supervisor = { strategy = \"one_for_one\"; "
		   "intensity = 100000; period = \"1s\"; };\nchildren = (\n");
	for (unsigned i = 0; i < services; i++)
		fprintf(f, "  { name = \"s%u\"; exec = [ \"/bin/sleep\", "
			   "\"/tmp/stamps\" ]; stop_timeout = 0; }%s\n", i,
			i + 1 < services ? "," : "");
	fprintf(f, ");\n");
	fclose(f);
	r = arb_config_load(path, &s, &diag);
	for (size_t i = 0; r < 0 && i < diag.n; i++)
		fprintf(stderr, "%s\n", diag.entries[i].text);
	arb_diag_done(&diag);
	(void)unlink(path);
	(void)rmdir(dir);
	return r < 0 ? NULL : s;
}

int
main(int argc, char **argv)
{
	unsigned services = argc > 1 ? (unsigned)atoi(argv[1]) : 1000;
	struct arb_spec *spec = load_config(services);
	double save[RUNS], load[RUNS];
	size_t size = 0;

	if (!spec)
		return 1;
	for (int run = 0; run < RUNS; run++) {
		struct arb_state_in in = {0};
		struct arb_spec *copy = NULL;
		double t0 = now_ms(), t1, t2;
		json_t *j = arb_spec_json_save(spec), *back;
		char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

		t1 = now_ms();
		if (!text)
			return 1;
		size = strlen(text);
		back = json_loadb(text, size, 0, NULL);
		if (!back || arb_spec_json_load(&in, back, &copy) < 0) {
			fprintf(stderr, "load: %s\n", in.error);
			return 1;
		}
		t2 = now_ms();
		save[run] = t1 - t0;
		load[run] = t2 - t1;
		arb_spec_free(copy);
		json_decref(back);
		json_decref(j);
		free(text);
	}
	printf("services %u: spec %zu bytes, save+dump %.2f ms, "
	       "parse+load %.2f ms (medians of %d)\n", services, size,
	       median(save, RUNS), median(load, RUNS), RUNS);
	arb_spec_free(spec);
	return 0;
}
