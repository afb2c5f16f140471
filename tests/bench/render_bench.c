/*
 * render_bench.c - arborctl's side of a large Status without arbord: the
 * median of 20 runs of decoding the reply (json_loadb, as
 * arb_wire_decode_reply does) and of drawing its tree (arb_render_tree
 * onto /dev/null). The reply is a saved `arborctl status --json` output
 * (FILE) or one made here of N running services (default 10000), as arbord
 * writes it. Prints one line per measure and the time per row.
 * Usage: render_bench [services | FILE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "render.h"

#include "bench_time.h"

#define RUNS 20

/* The parameters of a Status of n running services under the root. */
static char *
make_reply(long n)
{
	size_t size = 200 + (size_t)n * 160, len;
	char *s = malloc(size);

	if (!s)
		return NULL;
	len = (size_t)snprintf(s, size,
			       "{\"nodes\":[{\"path\":\"/\",\"kind\":"
			       "\"supervisor\",\"strategy\":\"one_for_one\","
			       "\"restart\":\"permanent\",\"state\":\"up\","
			       "\"since_ms\":9100,\"restarts\":0,"
			       "\"ready\":true}");
	for (long i = 0; i < n; i++)
		len += (size_t)snprintf(
			s + len, size - len,
			",{\"path\":\"s%05ld\",\"kind\":\"service\","
			"\"restart\":\"permanent\",\"state\":\"up\","
			"\"pid\":%ld,\"since_ms\":%ld,\"restarts\":0,"
			"\"ready\":true}",
			i, 100000 + i, 9000 + i % 7);
	snprintf(s + len, size - len, "]}");
	return s;
}

static char *
read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *s = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (s = malloc((size_t)n + 1))) {
		s[fread(s, 1, (size_t)n, f)] = '\0';
	}
	fclose(f);
	return s;
}

int
main(int argc, char **argv)
{
	const char *arg = argc > 1 ? argv[1] : "10000";
	char *end;
	long n = strtol(arg, &end, 10);
	char *text = *end == '\0' && n >= 0 ? make_reply(n) : read_file(arg);
	struct arb_render r = {.color = false, .utf8 = true};
	double decode[RUNS], draw[RUNS];
	FILE *null = fopen("/dev/null", "w");
	size_t rows = 0;

	if (!text || !null) {
		fprintf(stderr, "render_bench: cannot read or make the reply\n");
		return 2;
	}
	for (int i = 0; i < RUNS; i++) {
		json_error_t err;
		double t0 = now_ms(), t1, t2;
		json_t *params = json_loads(text, 0, &err);
		json_t *nodes = json_object_get(params, "nodes");

		t1 = now_ms();
		if (!json_is_array(nodes) || arb_render_tree(null, &r, nodes) < 0 ||
		    fflush(null) != 0) {
			fprintf(stderr, "render_bench: bad reply: %s\n", err.text);
			return 2;
		}
		t2 = now_ms();
		decode[i] = t1 - t0;
		draw[i] = t2 - t1;
		rows = json_array_size(nodes);
		json_decref(params);
	}
	printf("Status reply of %zu rows (%zu bytes)\n", rows, strlen(text));
	printf("  decode (json_loads, malloc): median %.2f ms, %.3f us a row\n",
	       median(decode, RUNS), median(decode, RUNS) * 1e3 / (double)rows);
	printf("  draw the tree (arb_render_tree): median %.2f ms, "
	       "%.3f us a row  target <= 20 ms at 10000 rows\n",
	       median(draw, RUNS), median(draw, RUNS) * 1e3 / (double)rows);
	fclose(null);
	free(text);
	return 0;
}
