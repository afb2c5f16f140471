/*
 * metrics.h - a Status reply with stats in Prometheus' text exposition
 * format (version 0.0.4), for node_exporter's textfile collector.
 */
#ifndef ARB_METRICS_H
#define ARB_METRICS_H

#include <stdio.h>

#include <jansson.h>

/*
 * Writes every family, each with its # HELP and # TYPE and its samples
 * together, one sample per node labelled path="web/app" and kind:
 * arbor_up, arbor_state (one series per state, 1 for the current one, as
 * node_exporter writes an enum), arbor_restarts_total,
 * arbor_last_exit_reason, arbor_memory_bytes, arbor_memory_peak_bytes,
 * arbor_cpu_seconds_total, arbor_tasks, arbor_oom_kills_total (a number
 * the node's stats do not have is left out), then arbor_containment_info.
 * nodes and containment are a Status reply's; missing or mistyped fields
 * are skipped. 0, or -EIO when out could not be written.
 */
int arb_metrics_write(FILE *out, json_t *nodes, json_t *containment);

#endif
