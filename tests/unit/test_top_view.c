/*
 * test_top_view.c - what `arborctl top` shows (ctl/top_view.c): rows from
 * a Status reply with and without stats, CPU % between two replies,
 * sorts that keep subtrees together, and screens cut to a width and a
 * height; memory in human units.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "render.h"
#include "top_view.h"

/* A Status reply of five nodes; %lld are cpu_usec of db, app, busy. */
static const char reply_fmt[] =
	"{\"containment\":{\"mode\":\"cgroup2\","
	"\"cgroup\":\"/sys/fs/cgroup/unified/arbord-42\",\"controllers\":[]},"
	"\"nodes\":["
	"{\"path\":\"/\",\"kind\":\"supervisor\",\"state\":\"up\","
	"\"restarts\":0,\"stats\":{\"source\":\"cgroup\",\"memory\":3145728,"
	"\"cpu_usec\":%lld,\"tasks\":3}},"
	"{\"path\":\"db\",\"kind\":\"service\",\"state\":\"up\",\"restarts\":1,"
	"\"stats\":{\"source\":\"cgroup\",\"memory\":2097152,"
	"\"cpu_usec\":%lld,\"tasks\":1}},"
	"{\"path\":\"web\",\"kind\":\"supervisor\",\"state\":\"up\","
	"\"restarts\":0,\"stats\":{\"source\":\"cgroup\",\"memory\":1048576,"
	"\"cpu_usec\":%lld,\"tasks\":2}},"
	"{\"path\":\"web/app\",\"kind\":\"service\",\"state\":\"exited\","
	"\"restarts\":4,\"stats\":{\"source\":\"cgroup\",\"memory\":0,"
	"\"cpu_usec\":%lld,\"tasks\":0}},"
	"{\"path\":\"web/busy\",\"kind\":\"service\",\"state\":\"up\","
	"\"restarts\":0,\"stats\":{\"source\":\"cgroup\",\"memory\":1048576,"
	"\"cpu_usec\":%lld,\"tasks\":2}}]}";

/* The reply with cpu_usec of db, app and busy (the others their sums). */
static json_t *
reply(long long db, long long app, long long busy)
{
	char text[sizeof(reply_fmt) + 128];
	json_t *j;

	snprintf(text, sizeof(text), reply_fmt, db + app + busy, db,
		 app + busy, app, busy);
	j = json_loads(text, 0, NULL);
	assert_non_null(j);
	return j;
}

static void
update(struct arb_top_view *v, json_t *params, long long now_us)
{
	assert_int_equal(arb_top_view_update(v, params, now_us), 0);
	json_decref(params);
}

/* The screen as one string the caller frees. */
static char *
draw(const struct arb_top_view *v, int width, int height)
{
	struct arb_top_frame f = {.width = width,
				  .height = height,
				  .clock = "12:00:00",
				  .delay_ms = 1000};
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	assert_int_equal(arb_top_view_draw(out, v, &f), 0);
	fclose(out);
	return text;
}

/* Every line within width, and no more than height of them. */
static void
assert_fits(const char *text, size_t width, size_t height)
{
	size_t lines = 0;

	for (const char *l = text; *l; lines++) {
		const char *nl = strchr(l, '\n');

		assert_non_null(nl);
		assert_true((size_t)(nl - l) <= width);
		for (const char *c = l; c < nl; c++)
			assert_true(*c >= 0x20 && *c < 0x7f);
		l = nl + 1;
	}
	assert_true(lines <= height);
}

/* The names of the rows, in the order drawn, as "db,web,app". */
static void
order_of(const struct arb_top_view *v, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t k = 1; k < v->n; k++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s",
					k > 1 ? "," : "",
					v->rows[v->shown[k]].name);
}

static void
test_first_screen(void **state)
{
	struct arb_top_view v;
	char *text;

	arb_top_view_init(&v);
	update(&v, reply(1000, 0, 5000), 1000000);
	text = draw(&v, 80, 24);
	assert_string_equal(
		text,
		"arbor top  12:00:00  every 1s  sort: tree  h: help  q: quit\n"
		"5 nodes: 1 exited, 4 up\n"
		"cgroup2 [no controllers] /sys/fs/cgroup/unified/arbord-42; "
		"usage: cgroups\n"
		"PATH      STATE       RESTARTS    CPU%     MEM  TASKS\n"
		"/         up                 0       -    3.0M      3\n"
		"  db      up                 1       -    2.0M      1\n"
		"  web     up                 0       -    1.0M      2\n"
		"    app   exited             4       -      0B      0\n"
		"    busy  up                 0       -    1.0M      2\n");
	free(text);
	arb_top_view_done(&v);
}

static void
test_cpu_between_two_replies(void **state)
{
	struct arb_top_view v;

	arb_top_view_init(&v);
	update(&v, reply(1000, 0, 5000), 1000000);
	/* Half a second later: busy used 0.45 s, db 0.05 s. */
	update(&v, reply(51000, 0, 455000), 1500000);
	assert_string_equal(v.rows[4].name, "busy");
	assert_true(v.rows[4].cpu_pct > 89.99 && v.rows[4].cpu_pct < 90.01);
	assert_true(v.rows[1].cpu_pct > 9.99 && v.rows[1].cpu_pct < 10.01);
	assert_true(v.rows[3].cpu_pct == 0);
	assert_true(v.rows[0].cpu_pct > 99.99 && v.rows[0].cpu_pct < 100.01);
	/* A counter that went back (a new cgroup) is not a negative %. */
	update(&v, reply(100, 0, 600000), 2500000);
	assert_true(v.rows[1].cpu_pct < 0);
	arb_top_view_done(&v);
}

static void
test_sorts_keep_subtrees(void **state)
{
	struct arb_top_view v;
	char order[128], *text;

	arb_top_view_init(&v);
	update(&v, reply(0, 0, 0), 1000000);
	update(&v, reply(1000, 0, 500000), 2000000);
	order_of(&v, order, sizeof(order));
	assert_string_equal(order, "db,web,app,busy");
	assert_int_equal(arb_top_view_sort(&v, ARB_TOP_SORT_CPU), 0);
	order_of(&v, order, sizeof(order));
	assert_string_equal(order, "web,busy,app,db");
	text = draw(&v, 80, 24);
	assert_non_null(strstr(text, "sort: cpu"));
	assert_non_null(strstr(text, "\n  web     up                 0    "
				     "50.0    1.0M      2\n"));
	free(text);
	assert_int_equal(arb_top_view_sort(&v, ARB_TOP_SORT_MEMORY), 0);
	order_of(&v, order, sizeof(order));
	assert_string_equal(order, "db,web,busy,app");
	assert_int_equal(arb_top_view_sort(&v, ARB_TOP_SORT_RESTARTS), 0);
	order_of(&v, order, sizeof(order));
	assert_string_equal(order, "db,web,app,busy");
	assert_int_equal(arb_top_view_sort(&v, ARB_TOP_SORT_STATE), 0);
	order_of(&v, order, sizeof(order));
	assert_string_equal(order, "db,web,app,busy");
	/* The sort stays for the next reply. */
	update(&v, reply(900000, 0, 500000), 3000000);
	assert_int_equal(arb_top_view_sort(&v, ARB_TOP_SORT_CPU), 0);
	order_of(&v, order, sizeof(order));
	assert_string_equal(order, "db,web,app,busy");
	update(&v, reply(900000, 0, 1500000), 4000000);
	order_of(&v, order, sizeof(order));
	assert_string_equal(order, "web,busy,app,db");
	arb_top_view_done(&v);
}

/* An arbord before stats: numbers unknown, the rest as usual. */
static void
test_without_stats(void **state)
{
	json_t *j = json_loads(
		"{\"nodes\":[{\"path\":\"web\",\"state\":\"up\","
		"\"restarts\":2},{\"path\":\"web/app\","
		"\"state\":\"restarting\",\"restarts\":7}]}",
		0, NULL);
	struct arb_top_view v;
	char *text;

	arb_top_view_init(&v);
	update(&v, j, 1);
	text = draw(&v, 80, 24);
	assert_string_equal(
		text,
		"arbor top  12:00:00  every 1s  sort: tree  h: help  q: quit\n"
		"2 nodes: 1 restarting, 1 up\n"
		"containment: ?; usage: none (this arbord gives no stats)\n"
		"PATH   STATE       RESTARTS    CPU%     MEM  TASKS\n"
		"web    up                 2       -       -      -\n"
		"  app  restarting         7       -       -      -\n");
	free(text);
	assert_int_equal(arb_top_view_update(&v, NULL, 2), -EINVAL);
	assert_int_equal(v.n, 2);
	arb_top_view_done(&v);
}

/* Many rows, long names, a narrow and short terminal. */
static void
test_cut_to_the_terminal(void **state)
{
	char name[80], *text;
	json_t *nodes = json_array(), *params;
	struct arb_top_view v;

	json_array_append_new(nodes, json_pack("{s:s,s:s}", "path", "/",
					       "state", "up"));
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name),
			 "service-with-a-rather-long-name-%02d\x1b[2J", i);
		json_array_append_new(nodes, json_pack("{s:s,s:s}", "path",
						       name, "state", "up"));
	}
	params = json_pack("{s:o}", "nodes", nodes);
	arb_top_view_init(&v);
	update(&v, params, 1);
	text = draw(&v, 80, 24);
	assert_fits(text, 80, 24);
	assert_non_null(strstr(text, "(22 more rows)\n"));
	assert_non_null(
		strstr(text, "\n  service-with-a-r~long-name-00?[2J  up"));
	free(text);
	text = draw(&v, 40, 10);
	assert_fits(text, 40, 10);
	free(text);
	text = draw(&v, 0, 0); /* batch: all of it */
	assert_non_null(strstr(text, "service-with-a-rather-long-name-39?[2J"));
	assert_null(strstr(text, "more rows"));
	free(text);
	arb_top_view_done(&v);
}

static void
test_help_line(void **state)
{
	struct arb_top_frame f = {.width = 80, .height = 24, .help = true};
	struct arb_top_view v;
	char *text = NULL;
	size_t len;
	FILE *out = open_memstream(&text, &len);

	arb_top_view_init(&v);
	update(&v, reply(0, 0, 0), 1);
	assert_int_equal(arb_top_view_draw(out, &v, &f), 0);
	fclose(out);
	assert_non_null(strstr(text, "\nkeys: c cpu  m memory  r restarts  "
				     "s state  t tree order  h help  q quit\n"
				     "PATH"));
	free(text);
	arb_top_view_done(&v);
}

static void
test_bytes(void **state)
{
	static const struct {
		long long bytes;
		const char *want;
	} cases[] = {
		{0, "0B"},
		{1023, "1023B"},
		{1024, "1.0K"},
		{10188, "9.9K"},
		{10189, "10K"},
		{1048575, "1.0M"}, /* not "1024K": 5 characters */
		{1048576, "1.0M"},
		{123 * 1048576LL, "123M"},
		{3LL << 30, "3.0G"},
		{5LL << 40, "5.0T"},
	};
	char buf[16];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		arb_render_bytes_narrow(buf, sizeof(buf),
					(unsigned long long)cases[i].bytes);
		assert_string_equal(buf, cases[i].want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_screen),
		cmocka_unit_test(test_cpu_between_two_replies),
		cmocka_unit_test(test_sorts_keep_subtrees),
		cmocka_unit_test(test_without_stats),
		cmocka_unit_test(test_cut_to_the_terminal),
		cmocka_unit_test(test_help_line),
		cmocka_unit_test(test_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
