/*
 * test_render.c - arborctl's human output (ctl/render.c): durations, the
 * tree drawn from a flat depth-first Status list (glyphs, columns, last
 * siblings, subtrees, dynamic children, pools), colours, event lines, a
 * reload's plan, and hostile text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "render.h"

/* Renders nodes (JSON text) into a string the caller frees. */
static char *
tree_text(const char *nodes_json, bool color, bool utf8)
{
	struct arb_render r = {.color = color, .utf8 = utf8};
	json_t *nodes = json_loads(nodes_json, 0, NULL);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(nodes);
	assert_non_null(f);
	assert_int_equal(arb_render_tree(f, &r, nodes), 0);
	fclose(f);
	json_decref(nodes);
	return text;
}

static void
test_durations(void **state)
{
	static const struct {
		long long ms;
		const char *want;
	} cases[] = {
		{-5, "0s"},
		{0, "0s"},
		{999, "0s"},
		{45000, "45s"},
		{59999, "59s"},
		{60000, "1m"},
		{192000, "3m12s"},
		{3599000, "59m59s"},
		{3600000, "1h"},
		{(2 * 3600 + 5 * 60 + 59) * 1000LL, "2h5m"},
		{86400000, "1d"},
		{(3 * 86400 + 4 * 3600 + 59) * 1000LL, "3d4h"},
		{400LL * 86400000, "400d"},
	};
	char buf[32];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		arb_render_duration(buf, sizeof(buf), cases[i].ms);
		assert_string_equal(buf, cases[i].want);
	}
}

static const char tree_json[] =
	"[{\"path\":\"/\",\"kind\":\"supervisor\",\"strategy\":\"one_for_one\","
	"\"restart\":\"permanent\",\"state\":\"up\",\"since_ms\":274000000,"
	"\"restarts\":0,\"ready\":true},"
	"{\"path\":\"db\",\"kind\":\"service\",\"restart\":\"permanent\","
	"\"state\":\"up\",\"pid\":4242,\"since_ms\":45000,\"restarts\":0,"
	"\"ready\":true},"
	"{\"path\":\"web\",\"kind\":\"supervisor\",\"strategy\":\"rest_for_one\","
	"\"restart\":\"permanent\",\"state\":\"up\",\"since_ms\":192000,"
	"\"restarts\":0,\"ready\":true},"
	"{\"path\":\"web/app\",\"kind\":\"service\",\"restart\":\"transient\","
	"\"state\":\"exited\",\"since_ms\":5000,\"restarts\":2,"
	"\"last_exit\":{\"pid\":4200,\"code\":1,\"reason\":\"crash\"},"
	"\"ready\":false},"
	"{\"path\":\"web/proxy\",\"kind\":\"service\",\"restart\":\"permanent\","
	"\"state\":\"up\",\"pid\":4244,\"since_ms\":7500000,\"restarts\":1,"
	"\"last_exit\":{\"pid\":4100,\"signal\":\"KILL\",\"reason\":\"crash\"},"
	"\"ready\":true},"
	"{\"path\":\"z\",\"kind\":\"supervisor\",\"strategy\":\"one_for_all\","
	"\"restart\":\"permanent\",\"state\":\"down\",\"since_ms\":1000,"
	"\"restarts\":0,\"ready\":false},"
	"{\"path\":\"z/y\",\"kind\":\"service\",\"restart\":\"temporary\","
	"\"state\":\"down\",\"since_ms\":1000,\"restarts\":0,\"ready\":false}]";

static void
test_tree_ascii(void **state)
{
	char *text = tree_text(tree_json, false, false);

	assert_string_equal(
		text,
		"/            supervisor one_for_one   up                 3d4h\n"
		"|- db        service    permanent     up      pid 4242    45s\n"
		"|- web       supervisor rest_for_one  up                3m12s\n"
		"|  |- app    service    transient     exited               5s"
		"  restarts 2  last: code=1 crash\n"
		"|  `- proxy  service    permanent     up      pid 4244   2h5m"
		"  restarts 1  last: signal=KILL crash\n"
		"`- z         supervisor one_for_all   down                 1s\n"
		"   `- y      service    temporary     down                 1s\n");
	free(text);
}

static void
test_tree_utf8_and_colors(void **state)
{
	char *text = tree_text(tree_json, true, true);

	assert_non_null(strstr(text, "\u251c\u2500 db "));
	assert_non_null(strstr(text, "\u2502  \u2514\u2500 proxy "));
	assert_non_null(strstr(text, "\u2514\u2500 z "));
	assert_non_null(strstr(text, "   \u2514\u2500 y "));
	assert_non_null(strstr(text, "\033[32mup\033[0m"));
	assert_non_null(strstr(text, "\033[31mexited\033[0m"));
	assert_non_null(strstr(text, "\033[2mdown\033[0m"));
	free(text);
}

static void
test_subtree_and_not_ready(void **state)
{
	char *text = tree_text(
		"[{\"path\":\"web/app\",\"kind\":\"service\",\"state\":"
		"\"starting\",\"pid\":7,\"ready\":false,\"waiting\":\"ready\","
		"\"status\":\"loading\"},"
		"{\"path\":\"web/app/x\",\"kind\":\"service\",\"state\":"
		"\"restarting\",\"restart_in_ms\":2500}]",
		true, false);

	assert_string_equal(
		text, "web/app  service  \033[33mstarting (not ready)\033[0m  "
		      "pid 7        \"loading\"\n"
		      "`- x     service  \033[33mrestarting (in 3s)\033[0m\n");
	free(text);
}

/* Nothing from the wire reaches the terminal as a control sequence. */
static void
test_hostile_and_malformed(void **state)
{
	char *text = tree_text(
		"[{\"path\":\"a\\u001b[2J\",\"state\":7},{\"kind\":[]},"
		"{\"path\":\"q/r/s/t\",\"pid\":\"x\",\"since_ms\":-3}]",
		false, false);

	assert_null(strchr(text, '\033'));
	assert_non_null(strstr(text, "a?[2J"));
	free(text);
	text = tree_text("[]", false, false);
	assert_string_equal(text, "");
	free(text);
}

static void
test_event_line(void **state)
{
	struct arb_render r = {0};
	json_t *ev = json_pack("{s:s, s:s, s:i, s:i, s:s, s:s}", "event",
			       "exit", "path", "web/app", "pid", 4242, "code",
			       1, "reason", "crash", "error",
			       "No such file\n\033");
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	setenv("TZ", "UTC", 1);
	tzset();
	arb_render_event(f, &r, ev, 3600 * 14 + 60 * 2 + 11);
	json_decref(ev);
	ev = json_pack("{s:s}", "event", "down");
	arb_render_event(f, &r, ev, 0);
	json_decref(ev);
	fclose(f);
	assert_string_equal(text, "14:02:11  exit          web/app pid=4242 "
				  "code=1 reason=crash "
				  "error=\"No such file\\n\\u001B\"\n"
				  "00:00:00  down\n");
	free(text);
}

/* Renders a plan (JSON text) into a string the caller frees. */
static char *
plan_text(const char *plan_json, bool applied, bool color)
{
	struct arb_render r = {.color = color};
	json_t *plan = json_loads(plan_json, 0, NULL);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(plan);
	assert_non_null(f);
	assert_int_equal(arb_render_plan(f, &r, plan, applied), 0);
	fclose(f);
	json_decref(plan);
	return text;
}

static const char plan_json[] =
	"{\"digest\":\"3f2a9c01d2e4b5a6c0ffee\",\"adds\":1,\"removes\":1,"
	"\"changes\":2,\"reorders\":1,\"steps\":["
	"{\"op\":\"add\",\"path\":\"web2\",\"supervisor\":\"/\","
	"\"kind\":\"service\"},"
	"{\"op\":\"remove\",\"path\":\"web/old\",\"supervisor\":\"web\","
	"\"kind\":\"supervisor\"},"
	"{\"op\":\"change\",\"path\":\"web/app\",\"supervisor\":\"web\","
	"\"kind\":\"service\",\"apply\":\"restart\",\"keys\":["
	"{\"key\":\"stop_signal\",\"old\":\"TERM\",\"new\":\"INT\"},"
	"{\"key\":\"exec\",\"old\":\"[ \\\"sleep\\\", \\\"10\\\" ]\","
	"\"new\":[\"sh\",\"-c\",\"echo hi\"]},"
	"{\"key\":\"cwd\",\"old\":null,\"new\":\"/srv\"},"
	"{\"key\":\"stop_timeout\",\"old\":5000}]},"
	"{\"op\":\"reorder\",\"path\":\"web\",\"supervisor\":\"web\","
	"\"order\":[\"a\",\"b\",\"c\"]},"
	"{\"op\":\"change\",\"path\":\"db\",\"supervisor\":\"/\","
	"\"kind\":\"supervisor\",\"apply\":\"in-place\",\"keys\":["
	"{\"key\":\"intensity\",\"old\":3,\"new\":5}]}]}";

/*
 * Grouped per supervisor in the order they first come, short digest;
 * values as arbord writes them (text), or a JSON list as one.
 */
static void
test_plan(void **state)
{
	char *text = plan_text(plan_json, false, false);

	assert_string_equal(
		text,
		"reload 3f2a9c01d2e4b5a6: 1 to add, 1 to remove, 2 to change, "
		"1 to reorder\n"
		"/:\n"
		"  + add      web2 (service)\n"
		"  ~ change   db (in-place)\n"
		"      intensity: 3 -> 5\n"
		"web:\n"
		"  - remove   old (supervisor)\n"
		"  ~ change   app (restart)\n"
		"      stop_signal: TERM -> INT\n"
		"      exec: [ \"sleep\", \"10\" ] -> [sh -c \"echo hi\"]\n"
		"      cwd: (unset) -> /srv\n"
		"      stop_timeout: 5000 -> (unset)\n"
		"  = reorder  a b c\n"
		"dry run: nothing changed\n");
	free(text);
	text = plan_text(plan_json, true, true);
	assert_non_null(strstr(text, "  \033[32m+ add\033[0m      web2"));
	assert_non_null(strstr(text, "  \033[31m- remove\033[0m   old"));
	assert_non_null(strstr(text, "\napplied\n"));
	free(text);
}

static void
test_plan_empty_and_malformed(void **state)
{
	char *text = plan_text("{\"digest\":\"ab\",\"adds\":0,\"removes\":0,"
			       "\"changes\":0,\"reorders\":0,\"steps\":[]}",
			       false, false);

	assert_string_equal(text, "reload ab: 0 to add, 0 to remove, "
				  "0 to change, 0 to reorder\n"
				  "nothing to do\n");
	free(text);
	/* Counts from the steps when the plan lacks them; nothing from
	 * the wire reaches the terminal as a control sequence. */
	text = plan_text("{\"steps\":[{\"op\":\"add\",\"path\":\"x\\u001b[2J\","
			 "\"supervisor\":\"/\"},{\"op\":7},"
			 "{\"op\":\"change\",\"supervisor\":\"s\",\"path\":"
			 "\"s/t\",\"keys\":[{\"key\":\"k\",\"old\":"
			 "\"\\u001b\",\"new\":{\"a\":1}}]}]}",
			 true, false);
	assert_null(strchr(text, '\033'));
	assert_string_equal(text, "reload: 1 to add, 0 to remove, "
				  "1 to change, 0 to reorder\n"
				  "/:\n"
				  "  + add      x?[2J\n"
				  "?:\n"
				  "  ? ?        ?\n"
				  "s:\n"
				  "  ~ change   t\n"
				  "      k: ? -> {\"a\":1}\n"
				  "applied\n");
	free(text);
}

/* A dynamic child says so after its restart type; a pool its count. */
static void
test_dynamic_and_pool(void **state)
{
	char *text = tree_text(
		"[{\"path\":\"/\",\"kind\":\"supervisor\",\"strategy\":"
		"\"one_for_one\",\"state\":\"up\",\"since_ms\":60000},"
		"{\"path\":\"workers\",\"kind\":\"supervisor\",\"strategy\":"
		"\"simple_one_for_one\",\"state\":\"up\",\"since_ms\":60000,"
		"\"pool\":true,\"instances\":2,\"max_children\":10},"
		"{\"path\":\"workers/1\",\"kind\":\"service\",\"restart\":"
		"\"temporary\",\"state\":\"up\",\"pid\":4310,\"since_ms\":"
		"60000,\"dynamic\":true},"
		"{\"path\":\"workers/2\",\"kind\":\"service\",\"restart\":"
		"\"temporary\",\"state\":\"up\",\"pid\":4311,\"since_ms\":"
		"12000,\"dynamic\":true},"
		"{\"path\":\"jobs\",\"kind\":\"supervisor\",\"strategy\":"
		"\"simple_one_for_one\",\"state\":\"up\",\"since_ms\":1000,"
		"\"pool\":true,\"instances\":0,\"dynamic\":true}]",
		false, false);

	assert_string_equal(
		text,
		"/           supervisor one_for_one                 up"
		"                   1m\n"
		"|- workers  supervisor simple_one_for_one          up"
		"  instances 2/10   1m\n"
		"|  |- 1     service    temporary dynamic           up"
		"  pid 4310         1m\n"
		"|  `- 2     service    temporary dynamic           up"
		"  pid 4311        12s\n"
		"`- jobs     supervisor simple_one_for_one dynamic  up"
		"  instances 0      1s\n");
	free(text);
}

/* C0, DEL and C1 controls (a CSI, U+009B, in UTF-8) never reach the
 * terminal; other text, multi-byte included, does. */
static void
test_safe_masks_controls(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	arb_render_safe(f, "a\x1b[31m\xc2\x9b" "2Jb\x7f \xc3\xa9\xc2\xa0");
	fclose(f);
	assert_string_equal(text, "a?[31m?2Jb? \xc3\xa9\xc2\xa0");
	free(text);
}

static void
test_bytes_and_cpu_units(void **state)
{
	static const struct {
		unsigned long long bytes;
		const char *want;
	} bytes[] = {
		{0, "0B"},
		{1023, "1023B"},
		{1024, "1.0K"},
		{12897484, "12.3M"},
		{104752742, "99.9M"},
		{104857600, "100M"},
		{1072693248, "1023M"},
		{1073217536, "1.0G"},
		{1610612736, "1.5G"},
		{5ULL << 40, "5.0T"},
	};
	static const struct {
		unsigned long long usec;
		const char *want;
	} cpu[] = {
		{0, "0.00s"},
		{30000, "0.03s"},
		{9994999, "9.99s"},
		{9995000, "10.0s"},
		{59949999, "59.9s"},
		{62000000, "1m02s"},
		{3599000000ULL, "59m59s"},
		{(2 * 3600 + 5 * 60) * 1000000ULL, "2h05m"},
		{(3 * 86400 + 4 * 3600) * 1000000ULL, "3d04h"},
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(bytes) / sizeof(bytes[0]); i++) {
		arb_render_bytes(buf, sizeof(buf), bytes[i].bytes);
		assert_string_equal(buf, bytes[i].want);
	}
	for (size_t i = 0; i < sizeof(cpu) / sizeof(cpu[0]); i++) {
		arb_render_cpu(buf, sizeof(buf), cpu[i].usec);
		assert_string_equal(buf, cpu[i].want);
	}
}

/* With stats, the numbers replace kind, restarts and last exit, under a
 * heading, right-aligned; unknown is "-"; a tree four levels deep with
 * long names stays within 80 columns. */
static void
test_tree_with_stats(void **state)
{
	char *text = tree_text(
		"[{\"path\":\"/\",\"kind\":\"supervisor\",\"state\":\"up\","
		"\"stats\":{\"source\":\"cgroup+proc\",\"memory\":64424509,"
		"\"memory_peak\":70000000,\"cpu_usec\":62000000,"
		"\"tasks\":12}},"
		"{\"path\":\"db\",\"kind\":\"service\",\"state\":\"up\","
		"\"pid\":4242,\"restarts\":3,\"stats\":{\"source\":"
		"\"cgroup+proc\",\"memory\":12897484,\"memory_peak\":"
		"13000000,\"cpu_usec\":30000,\"tasks\":3}},"
		"{\"path\":\"off\",\"kind\":\"service\",\"state\":\"down\","
		"\"stats\":{\"source\":\"cgroup+proc\",\"cpu_usec\":0,"
		"\"tasks\":0}}]",
		false, false);

	assert_string_equal(text,
			    "NAME    STATE   PID    MEM   PEAK    CPU  TASKS\n"
			    "/       up           61.4M  66.8M  1m02s     12\n"
			    "|- db   up     4242  12.3M  12.4M  0.03s      3\n"
			    "`- off  down             -      -  0.00s      0\n");
	free(text);

	text = tree_text(
		"[{\"path\":\"/\",\"kind\":\"supervisor\",\"state\":\"up\","
		"\"stats\":{\"source\":\"proc\"}},"
		"{\"path\":\"frontends\",\"kind\":\"supervisor\","
		"\"state\":\"up\",\"stats\":{\"source\":\"proc\"}},"
		"{\"path\":\"frontends/eu-west\",\"kind\":\"supervisor\","
		"\"state\":\"up\",\"stats\":{\"source\":\"proc\"}},"
		"{\"path\":\"frontends/eu-west/web-2\",\"kind\":\"supervisor\","
		"\"state\":\"up\",\"stats\":{\"source\":\"proc\"}},"
		"{\"path\":\"frontends/eu-west/web-2/nginx-worker\",\"kind\":"
		"\"service\",\"state\":\"restarting\",\"restart_in_ms\":30000,"
		"\"pid\":4194304,"
		"\"stats\":{\"source\":\"proc\",\"memory\":1073217536,"
		"\"memory_peak\":1073217536,\"cpu_usec\":359999000000,"
		"\"tasks\":100000}}]",
		false, false);
	for (char *line = text; *line;) {
		char *end = strchr(line, '\n');

		assert_non_null(end);
		assert_true(end - line <= 80);
		line = end + 1;
	}
	free(text);
}

static void
test_containment_and_stats_source(void **state)
{
	static const struct {
		const char *json, *want;
	} cases[] = {
		{"{\"mode\":\"cgroup2\",\"cgroup\":"
		 "\"/sys/fs/cgroup/unified/arbord-42\",\"controllers\":[]}",
		 "containment: cgroup2 /sys/fs/cgroup/unified/arbord-42 "
		 "(no controllers)\n"},
		{"{\"mode\":\"cgroup2\",\"cgroup\":\"/sys/fs/cgroup\","
		 "\"controllers\":[\"cpu\",\"memory\",\"pids\"]}",
		 "containment: cgroup2 /sys/fs/cgroup (cpu memory pids)\n"},
		{"{\"mode\":\"process-group\",\"controllers\":[],"
		 "\"why\":\"no cgroup2 mount\"}",
		 "containment: process groups (no cgroup2 mount)\n"},
		{"{\"mode\":\"cgroup2\",\"cgroup\":\"/x\\u001b[2J\","
		 "\"controllers\":[]}",
		 "containment: cgroup2 /x?[2J (no controllers)\n"},
		{"{}", ""},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *c = json_loads(cases[i].json, 0, NULL);
		char *text = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&text, &len);

		assert_non_null(c);
		arb_render_containment(f, c);
		fclose(f);
		assert_string_equal(text, cases[i].want);
		free(text);
		json_decref(c);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_tree_ascii),
		cmocka_unit_test(test_tree_utf8_and_colors),
		cmocka_unit_test(test_subtree_and_not_ready),
		cmocka_unit_test(test_hostile_and_malformed),
		cmocka_unit_test(test_event_line),
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_plan_empty_and_malformed),
		cmocka_unit_test(test_dynamic_and_pool),
		cmocka_unit_test(test_safe_masks_controls),
		cmocka_unit_test(test_bytes_and_cpu_units),
		cmocka_unit_test(test_tree_with_stats),
		cmocka_unit_test(test_containment_and_stats_source),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
