/*
 * test_oracle.c - every conformance scenario, replayed on the pure core.
 *
 * tests/conformance/ holds scenarios with the traces real OTP supervisors
 * printed for them. The pytest suite replays them against the real arbord
 * with real processes; this replays them on tree.c with fake processes and
 * a fake clock, so a semantic slip shows up here first, in milliseconds,
 * without timing noise. crash = exit status 1, normal = exit 0, shutdown =
 * death by a SIGTERM arbord did not send (SEMANTICS.md M2); omitted keys
 * take OTP's defaults (M13).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "scenario.h"

static const char *scenario_dir = "tests/conformance/scenarios";
static const char *expected_dir = "tests/conformance/expected";

static const char *
str_or(json_t *obj, const char *key, const char *dflt)
{
	json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : dflt;
}

static json_int_t
int_or(json_t *obj, const char *key, json_int_t dflt)
{
	json_t *v = json_object_get(obj, key);

	return json_is_integer(v) ? json_integer_value(v) : dflt;
}

/* Sets a supervisor's flags from a scenario node, OTP defaults (F1). */
static void
set_flags(struct arb_spec_node *n, json_t *j)
{
	n->strategy = arb_strategy_from_name(str_or(j, "strategy",
						    "one_for_one"));
	n->intensity = (uint32_t)int_or(j, "intensity", 1);
	n->period_ms = int_or(j, "period", 5) * 1000;
	n->auto_shutdown = arb_auto_shutdown_from_name(
		str_or(j, "auto_shutdown", "never"));
	assert_true((int)n->strategy >= 0 && (int)n->auto_shutdown >= 0);
}

static void
add_children(struct arb_spec *s, uint32_t parent, json_t *children)
{
	size_t i;
	json_t *c;

	json_array_foreach(children, i, c) {
		bool sup = strcmp(str_or(c, "type", "worker"), "supervisor") == 0;
		uint32_t idx = arb_spec_add(s, parent,
					    sup ? ARB_NODE_SUPERVISOR
						: ARB_NODE_SERVICE,
					    str_or(c, "id", "?"), "t", 1);
		struct arb_spec_node *n = &s->nodes[idx];

		assert_int_not_equal(idx, ARB_NONE);
		n->restart = arb_restart_from_name(str_or(c, "restart",
							  "permanent"));
		n->significant = json_is_true(json_object_get(c,
							      "significant"));
		if (sup) {
			set_flags(n, c);
			add_children(s, idx, json_object_get(c, "children"));
		}
	}
}

static char *
read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long len;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)len + 1);
	if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

static void
play(struct fake *f, json_t *steps, bool skip_dead)
{
	size_t i;
	json_t *step;

	json_array_foreach(steps, i, step) {
		const char *path = str_or(step, "exit", NULL);
		const char *reason = str_or(step, "reason", "crash");
		uint32_t node;

		if (!path) {
			fake_advance(f, int_or(step, "sleep_ms", 0));
			continue;
		}
		node = fake_node(f, path);
		if (f->procs[node].pid == 0 && skip_dead)
			continue;
		assert_int_not_equal(f->procs[node].pid, 0);
		if (strcmp(reason, "normal") == 0)
			fake_exit(f, path, 0);
		else if (strcmp(reason, "shutdown") == 0)
			fake_kill(f, path, ARB_SIGTERM);
		else
			fake_exit(f, path, 1);
	}
}

static void
replay(void **state)
{
	const char *name = *state;
	char path[1024];
	json_error_t jerr;
	json_t *sc, *tree;
	struct arb_spec *s;
	struct fake *f;
	char *expected;

	snprintf(path, sizeof(path), "%s/%s.json", scenario_dir, name);
	sc = json_load_file(path, 0, &jerr);
	assert_non_null(sc);
	snprintf(path, sizeof(path), "%s/%s.trace", expected_dir, name);
	expected = read_file(path);
	assert_non_null(expected);

	tree = json_object_get(sc, "tree");
	s = arb_spec_new();
	set_flags(&s->nodes[ARB_ROOT], tree);
	add_children(s, ARB_ROOT, json_object_get(tree, "children"));
	f = fake_new(s);
	fake_boot(f);
	play(f, json_object_get(sc, "steps"),
	     json_is_true(json_object_get(sc, "skip_dead")));
	if (f->exit_code < 0)
		fake_shutdown(f);
	if (strcmp(f->trace, expected) != 0)
		print_error("scenario %s\n--- expected\n%s--- core\n%s", name,
			    expected, f->trace);
	assert_string_equal(f->trace, expected);
	fake_free(f);
	free(expected);
	json_decref(sc);
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
main(int argc, char **argv)
{
	struct CMUnitTest *tests;
	char **names = NULL;
	size_t n = 0;
	struct dirent *d;
	DIR *dir;
	int r;

	if (argc > 2) {
		scenario_dir = argv[1];
		expected_dir = argv[2];
	}
	dir = opendir(scenario_dir);
	if (!dir) {
		fprintf(stderr, "test_oracle: cannot open %s\n", scenario_dir);
		return 1;
	}
	while ((d = readdir(dir))) {
		size_t len = strlen(d->d_name);

		if (len < 6 || strcmp(d->d_name + len - 5, ".json") != 0)
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		names[n++] = strndup(d->d_name, len - 5);
	}
	closedir(dir);
	if (n == 0) {
		fprintf(stderr, "test_oracle: no scenario in %s\n", scenario_dir);
		return 1;
	}
	qsort(names, n, sizeof(*names), by_name);
	tests = calloc(n, sizeof(*tests));
	for (size_t i = 0; i < n; i++) {
		tests[i].name = names[i];
		tests[i].test_func = replay;
		tests[i].initial_state = names[i];
	}
	r = _cmocka_run_group_tests("oracle", tests, n, NULL, NULL);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(tests);
	return r;
}
