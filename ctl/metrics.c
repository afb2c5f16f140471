/*
 * metrics.c - `arborctl metrics`: a Status reply, with stats, written as
 * Prometheus' text exposition format 0.0.4. Pure formatting onto a FILE:
 * no socket, so the unit tests compare the text. Every label value is
 * escaped as the format says, though arbord's paths are checked already:
 * a scraper's parser is less forgiving than a terminal.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "metrics.h"

/*
 * The states a node can be in (daemon/core/tree_data.c's names, and
 * "gone"): arbor_state has a series for each, so that a query sees a
 * state's series go to 0 rather than disappear.
 */
static const char *const states[] = {
	"down", "starting", "up", "exited", "stopping", "killing",
	"restarting", "gone",
};

/* One number of a node's stats, as a family. */
struct stat_family {
	const char *name, *type, *help;
	const char *member; /* in the node's "stats" */
	double scale;       /* the member's unit to the family's */
};

static const struct stat_family stat_families[] = {
	{"arbor_memory_bytes", "gauge",
	 "Memory in use now: a service's cgroup or main process, a "
	 "supervisor's subtree.",
	 "memory", 1},
	{"arbor_memory_peak_bytes", "gauge",
	 "The most memory in use so far (cgroup memory.peak, or the main "
	 "process's VmHWM).",
	 "memory_peak", 1},
	{"arbor_cpu_seconds_total", "counter",
	 "CPU time used, user and system: a service's cgroup or main "
	 "process, a supervisor's subtree.",
	 "cpu_usec", 1e-6},
	{"arbor_tasks", "gauge", "Processes and threads in it now.", "tasks",
	 1},
	{"arbor_oom_kills_total", "counter",
	 "Kills by the kernel's OOM killer in its cgroup (memory controller "
	 "only).",
	 "oom_kills", 1},
};

static const char *
str_of(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A label value: backslash, double quote and newline escaped. */
static void
put_label_value(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", out);
		else if (*s == '"')
			fputs("\\\"", out);
		else if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
	fputc('"', out);
}

static void
put_family_head(FILE *out, const char *name, const char *type,
		const char *help)
{
	/* Our HELP texts hold no backslash or newline to escape. */
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{path="...",kind="..." and the caller's labels follow. */
static bool
put_node_labels(FILE *out, const char *name, json_t *node)
{
	const char *path = str_of(node, "path");
	const char *kind = str_of(node, "kind");

	if (!path)
		return false;
	fprintf(out, "%s{path=", name);
	put_label_value(out, path);
	fputs(",kind=", out);
	put_label_value(out, kind ? kind : "");
	return true;
}

static void
put_up(FILE *out, json_t *nodes)
{
	size_t i;
	json_t *node;

	put_family_head(out, "arbor_up", "gauge",
			"Whether the node is up (1) or not (0).");
	json_array_foreach(nodes, i, node) {
		const char *state = str_of(node, "state");

		if (put_node_labels(out, "arbor_up", node))
			fprintf(out, "} %d\n",
				state && strcmp(state, "up") == 0);
	}
}

static void
put_state(FILE *out, json_t *nodes)
{
	size_t i;
	json_t *node;

	put_family_head(out, "arbor_state", "gauge",
			"The node's state: 1 for the one it is in, 0 for the "
			"others.");
	json_array_foreach(nodes, i, node) {
		const char *state = str_of(node, "state");
		bool known = false;

		for (size_t s = 0; s < sizeof(states) / sizeof(states[0]);
		     s++) {
			bool in = state && strcmp(state, states[s]) == 0;

			if (!put_node_labels(out, "arbor_state", node))
				break;
			fputs(",state=", out);
			put_label_value(out, states[s]);
			fprintf(out, "} %d\n", in);
			known = known || in;
		}
		/* A state a newer arbord has: still said. */
		if (state && !known && put_node_labels(out, "arbor_state", node)) {
			fputs(",state=", out);
			put_label_value(out, state);
			fputs("} 1\n", out);
		}
	}
}

static void
put_restarts(FILE *out, json_t *nodes)
{
	size_t i;
	json_t *node;

	put_family_head(out, "arbor_restarts_total", "counter",
			"Restarts its supervisor decided since arbord "
			"started.");
	json_array_foreach(nodes, i, node) {
		json_t *v = json_object_get(node, "restarts");

		if (json_is_integer(v) &&
		    put_node_labels(out, "arbor_restarts_total", node))
			fprintf(out, "} %" JSON_INTEGER_FORMAT "\n",
				json_integer_value(v));
	}
}

static void
put_last_exit(FILE *out, json_t *nodes)
{
	size_t i;
	json_t *node;

	put_family_head(out, "arbor_last_exit_reason", "gauge",
			"How the node last ended by itself (normal, shutdown, "
			"crash, oom): 1, labelled with the reason.");
	json_array_foreach(nodes, i, node) {
		const char *reason =
			str_of(json_object_get(node, "last_exit"), "reason");

		if (!reason ||
		    !put_node_labels(out, "arbor_last_exit_reason", node))
			continue;
		fputs(",reason=", out);
		put_label_value(out, reason);
		fputs("} 1\n", out);
	}
}

static void
put_stat(FILE *out, json_t *nodes, const struct stat_family *f)
{
	size_t i;
	json_t *node;

	put_family_head(out, f->name, f->type, f->help);
	json_array_foreach(nodes, i, node) {
		json_t *v = json_object_get(json_object_get(node, "stats"),
					    f->member);

		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    !put_node_labels(out, f->name, node))
			continue;
		if (f->scale == 1)
			fprintf(out, "} %" JSON_INTEGER_FORMAT "\n",
				json_integer_value(v));
		else
			fprintf(out, "} %.6f\n",
				(double)json_integer_value(v) * f->scale);
	}
}

/* The controllers' names, space-separated, as one label value. */
static void
put_controllers(FILE *out, json_t *controllers)
{
	bool first = true;
	size_t i;
	json_t *c;

	fputc('"', out);
	json_array_foreach(controllers, i, c) {
		/* Names of cgroup controllers: no character to escape, and
		 * anything else is not written. */
		const char *name = json_is_string(c) ? json_string_value(c)
						     : "";

		if (strspn(name, "abcdefghijklmnopqrstuvwxyz_") !=
		    strlen(name))
			continue;
		fprintf(out, "%s%s", first ? "" : " ", name);
		first = false;
	}
	fputc('"', out);
}

static void
put_containment(FILE *out, json_t *containment, json_t *nodes)
{
	const char *mode = str_of(containment, "mode");
	const char *cgroup = str_of(containment, "cgroup");
	const char *why = str_of(containment, "why");
	const char *source =
		str_of(json_object_get(json_array_get(nodes, 0), "stats"),
		       "source");

	put_family_head(out, "arbor_containment_info", "gauge",
			"How arbord holds its children (cgroup2 or "
			"process-group) and where its stats come from: always "
			"1.");
	if (!mode)
		return;
	fputs("arbor_containment_info{mode=", out);
	put_label_value(out, mode);
	fputs(",cgroup=", out);
	put_label_value(out, cgroup ? cgroup : "");
	fputs(",controllers=", out);
	put_controllers(out, json_object_get(containment, "controllers"));
	fputs(",why=", out);
	put_label_value(out, why ? why : "");
	fputs(",stats=", out);
	put_label_value(out, source ? source : "");
	fputs("} 1\n", out);
}

int
arb_metrics_write(FILE *out, json_t *nodes, json_t *containment)
{
	put_up(out, nodes);
	put_state(out, nodes);
	put_restarts(out, nodes);
	put_last_exit(out, nodes);
	for (size_t i = 0; i < sizeof(stat_families) / sizeof(stat_families[0]);
	     i++)
		put_stat(out, nodes, &stat_families[i]);
	put_containment(out, containment, nodes);
	return ferror(out) ? -EIO : 0;
}
