/*
 * test_metrics.c - arborctl metrics' text (ctl/metrics.c): the families
 * in order with their HELP and TYPE, label values escaped as Prometheus'
 * text format 0.0.4 says, a number the stats lack left out, a state this
 * arborctl does not know still said. promtool checks the whole output
 * against a real arbord in tests/integration/test_usage.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

static char *
metrics_text(const char *nodes_json, const char *containment_json)
{
	json_t *nodes = json_loads(nodes_json, 0, NULL);
	json_t *containment = json_loads(containment_json, 0, NULL);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(nodes);
	assert_non_null(containment);
	assert_non_null(f);
	assert_int_equal(arb_metrics_write(f, nodes, containment), 0);
	fclose(f);
	json_decref(nodes);
	json_decref(containment);
	return text;
}

static void
test_families_in_order_with_help_and_type(void **state)
{
	static const char *const families[] = {
		"arbor_up gauge", "arbor_state gauge",
		"arbor_restarts_total counter", "arbor_last_exit_reason gauge",
		"arbor_memory_bytes gauge", "arbor_memory_peak_bytes gauge",
		"arbor_cpu_seconds_total counter", "arbor_tasks gauge",
		"arbor_oom_kills_total counter", "arbor_containment_info gauge",
	};
	char *text = metrics_text(
		"[{\"path\":\"web/app\",\"kind\":\"service\",\"state\":\"up\","
		"\"restarts\":2,\"last_exit\":{\"pid\":7,\"code\":1,"
		"\"reason\":\"crash\"},\"stats\":{\"source\":\"cgroup\","
		"\"memory\":4096,\"memory_peak\":8192,\"cpu_usec\":1500000,"
		"\"tasks\":3,\"oom_kills\":1}}]",
		"{\"mode\":\"cgroup2\",\"cgroup\":\"/sys/fs/cgroup\","
		"\"controllers\":[\"cpu\",\"memory\"]}");
	const char *at = text;
	char want[128];

	(void)state;
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		snprintf(want, sizeof(want), "# TYPE %s\n", families[i]);
		at = strstr(at, want);
		assert_non_null(at);
	}
	assert_non_null(strstr(text, "# HELP arbor_up "));
	assert_non_null(strstr(text,
			       "arbor_up{path=\"web/app\",kind=\"service\"} 1\n"));
	assert_non_null(strstr(text, "arbor_state{path=\"web/app\","
				     "kind=\"service\",state=\"up\"} 1\n"));
	assert_non_null(strstr(text, "arbor_state{path=\"web/app\","
				     "kind=\"service\",state=\"down\"} 0\n"));
	assert_non_null(strstr(text, "arbor_restarts_total{path=\"web/app\","
				     "kind=\"service\"} 2\n"));
	assert_non_null(strstr(text, "arbor_last_exit_reason{path=\"web/app\","
				     "kind=\"service\",reason=\"crash\"} 1\n"));
	assert_non_null(strstr(text, "arbor_cpu_seconds_total{path="
				     "\"web/app\",kind=\"service\"} "
				     "1.500000\n"));
	assert_non_null(strstr(text, "arbor_oom_kills_total{path=\"web/app\","
				     "kind=\"service\"} 1\n"));
	assert_non_null(strstr(text, "arbor_containment_info{mode=\"cgroup2\","
				     "cgroup=\"/sys/fs/cgroup\","
				     "controllers=\"cpu memory\",why=\"\","
				     "stats=\"cgroup\"} 1\n"));
	free(text);
}

static void
test_labels_escaped_and_unknowns_left_out(void **state)
{
	char *text = metrics_text(
		"[{\"path\":\"a\\\"b\\\\c\\nd\",\"kind\":\"service\","
		"\"state\":\"hibernating\",\"restarts\":0,"
		"\"stats\":{\"source\":\"proc\"}}]",
		"{\"mode\":\"process-group\",\"controllers\":[],"
		"\"why\":\"no cgroup2 mount\"}");

	(void)state;
	assert_non_null(strstr(text, "arbor_up{path=\"a\\\"b\\\\c\\nd\","
				     "kind=\"service\"} 0\n"));
	/* Every state this arborctl knows at 0, and the new one at 1. */
	assert_non_null(strstr(text, "state=\"up\"} 0\n"));
	assert_non_null(strstr(text, "state=\"hibernating\"} 1\n"));
	assert_null(strstr(text, "arbor_memory_bytes{"));
	assert_null(strstr(text, "arbor_tasks{"));
	assert_null(strstr(text, "arbor_last_exit_reason{"));
	assert_non_null(strstr(text, "arbor_containment_info{"
				     "mode=\"process-group\",cgroup=\"\","
				     "controllers=\"\",why=\"no cgroup2 "
				     "mount\",stats=\"proc\"} 1\n"));
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_families_in_order_with_help_and_type),
		cmocka_unit_test(test_labels_escaped_and_unknowns_left_out),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
