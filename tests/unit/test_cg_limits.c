/*
 * test_cg_limits.c - the cgroup limit keys (issue 15): their values
 * (core/cg_limits.c), the loader's keys and --check's printed form
 * (config/limit_keys.c, print.c), the check of what a cgroup2 can apply
 * (arb_config_check_limits, pure: no cgroup is needed), and the writer
 * (cgroup_limits.c) against an ordinary directory holding the files.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cgroup.h"
#include "cgroup_limits.h"
#include "config/config.h"
#include "core/cg_limits.h"
#include "core/spec.h"

/* ---- values ---- */

static uint64_t
bytes(const char *text)
{
	uint64_t v = 0;

	assert_int_equal(arb_cg_parse_bytes(text, &v), 0);
	return v;
}

static void
test_bytes(void **state)
{
	uint64_t v = 7;
	char buf[32];

	assert_true(bytes("0") == 0);
	assert_true(bytes("4096") == 4096);
	assert_true(bytes("512M") == 512ull << 20);
	assert_true(bytes("1.5G") == 3ull << 29);
	assert_true(bytes("2T") == 2ull << 40);
	assert_true(bytes("0.5K") == 512);
	assert_true(bytes("1.3") == 1); /* below a byte is dropped */
	assert_true(bytes("max") == ARB_CG_UNLIMITED);
	assert_true(bytes("1024T") == ARB_CG_BYTES_MAX);
	const char *bad[] = {"", "M", "5X", "5k", "-1", "1.M", ".5M", "1..5M",
			     "5MB", "5 M", "max ", "1.5.5G", NULL};
	for (int i = 0; bad[i]; i++) {
		assert_int_equal(arb_cg_parse_bytes(bad[i], &v), -1);
		assert_true(v == 7);
	}
	assert_int_equal(arb_cg_parse_bytes("1025T", &v), -2);
	assert_int_equal(arb_cg_parse_bytes("99999999999999999999", &v), -2);
	assert_true(v == 7);
	arb_cg_format_bytes(512ull << 20, buf, sizeof(buf));
	assert_string_equal(buf, "512M");
	arb_cg_format_bytes(3ull << 29, buf, sizeof(buf));
	assert_string_equal(buf, "1536M");
	arb_cg_format_bytes(2ull << 40, buf, sizeof(buf));
	assert_string_equal(buf, "2T");
	arb_cg_format_bytes(1000, buf, sizeof(buf));
	assert_string_equal(buf, "1000");
	arb_cg_format_bytes(0, buf, sizeof(buf));
	assert_string_equal(buf, "0");
	arb_cg_format_bytes(ARB_CG_UNLIMITED, buf, sizeof(buf));
	assert_string_equal(buf, "max");
}

/* text read as cpu_max, then written back as `shown`. */
static void
cpu_max_is(const char *text, uint64_t quota, uint64_t period,
	   const char *shown)
{
	uint64_t q = 0, p = 0;
	char buf[48];

	assert_int_equal(arb_cg_parse_cpu_max(text, &q, &p), 0);
	assert_true(q == quota);
	assert_true(p == period);
	arb_cg_format_cpu_max(q, p, buf, sizeof(buf));
	assert_string_equal(buf, shown);
}

static void
test_cpu_max(void **state)
{
	uint64_t q = 1, p = 2;

	cpu_max_is("50%", 50000, 100000, "50%");
	cpu_max_is("150%", 150000, 100000, "150%");
	cpu_max_is("12.5%", 12500, 100000, "12.5%");
	cpu_max_is("1.125%", 1125, 100000, "1.125%");
	cpu_max_is("max", ARB_CG_UNLIMITED, 100000, "max");
	cpu_max_is("50000 100000", 50000, 100000, "50%");
	cpu_max_is("20000 50000", 20000, 50000, "20000 50000");
	cpu_max_is("max 50000", ARB_CG_UNLIMITED, 50000, "max 50000");
	const char *bad[] = {"", "50", "%", "50 %", "50%%", "x%", "0.0001%",
			     "max max", "50000", "50000 ", " 50000 1000",
			     "-5%", "50000 100000 1", NULL};
	for (int i = 0; bad[i]; i++) {
		assert_int_equal(arb_cg_parse_cpu_max(bad[i], &q, &p), -1);
		assert_true(q == 1 && p == 2);
	}
	/* Below the kernel's 1 ms of quota, a period out of its bounds,
	 * more than 1000 CPUs. */
	const char *out[] = {"0%", "0.5%", "999 100000", "1000 999",
			     "1000 1000001", "100001%", "1000001 1000", NULL};
	for (int i = 0; out[i]; i++)
		assert_int_equal(arb_cg_parse_cpu_max(out[i], &q, &p), -2);
	assert_true(q == 1 && p == 2);
	/* Numbers past 2^64 are refused, not wrapped to a small one. */
	const char *wrap[] = {"18446744073709551619000 100000",
			      "50000 18446744073709551616100000",
			      "max 18446744073709551617000", NULL};
	for (int i = 0; wrap[i]; i++)
		assert_true(arb_cg_parse_cpu_max(wrap[i], &q, &p) < 0);
	assert_true(q == 1 && p == 2);
}

static void
test_problem(void **state)
{
	struct arb_cg_limits l = {.cpu_period_us = 100000};

	assert_non_null(arb_cg_limits_problem(&l)); /* none given */
	l.given = ARB_CG_CPU_WEIGHT;
	assert_non_null(arb_cg_limits_problem(&l)); /* weight 0 */
	l.cpu_weight = 100;
	assert_null(arb_cg_limits_problem(&l));
	l.given |= ARB_CG_CPU_MAX;
	l.cpu_max_us = 10;
	assert_non_null(arb_cg_limits_problem(&l));
	l.cpu_max_us = ARB_CG_UNLIMITED;
	assert_null(arb_cg_limits_problem(&l));
	l.given |= ARB_CG_PIDS_MAX;
	assert_non_null(arb_cg_limits_problem(&l)); /* pids 0 */
	l.pids_max = ARB_CG_UNLIMITED;
	assert_null(arb_cg_limits_problem(&l));
	l.given |= 1u << 7;
	assert_non_null(arb_cg_limits_problem(&l));
}

/* ---- the loader ---- */

static char dir[] = "/tmp/test_cg_limits.XXXXXX";

static const char *
write_conf(const char *name, const char *text)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* text loaded: the spec, or NULL with the diagnostics, one a line. */
static struct arb_spec *
load(const char *text, char *errors, size_t size)
{
	struct arb_spec *s = NULL;
	struct arb_diag diag = {0};
	size_t len = 0;
	int r = arb_config_load(write_conf("arbor.conf", text), &s, &diag);

	errors[0] = '\0';
	for (size_t i = 0; i < diag.n; i++)
		len += (size_t)snprintf(errors + len, size - len, "%s\n",
					diag.entries[i].message);
	arb_diag_done(&diag);
	return r < 0 ? NULL : s;
}

static char *
printed(const struct arb_spec *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(out);
	arb_config_print(s, out);
	assert_int_equal(fclose(out), 0);
	return buf;
}

/* text without its "# default" marks: read back, every key is written. */
static char *
unmarked(char *text)
{
	char *out = text;

	for (char *in = text; *in;) {
		if (strncmp(in, " # default\n", 11) == 0)
			in += 10;
		else
			*out++ = *in++;
	}
	*out = '\0';
	return text;
}

static const char limits_conf[] =
	"supervisor = { memory_max = \"4G\"; };\n"
	"children = (\n"
	"  { name = \"web\"; exec = [\"/bin/sleep\", \"1\"];\n"
	"    memory_max = \"512M\"; memory_high = \"1.5G\";\n"
	"    memory_swap_max = 0; cpu_weight = 200; cpu_max = \"150%\";\n"
	"    pids_max = 20; io_weight = 50; },\n"
	"  { name = \"grp\"; memory_max = 1000; pids_max = \"max\";\n"
	"    children = ( { name = \"a\"; exec = [\"/bin/true\"]; } ); },\n"
	"  { name = \"pool\"; strategy = \"simple_one_for_one\";\n"
	"    memory_max = \"2G\";\n"
	"    template = { exec = [\"/bin/true\"]; cpu_max = \"20000 50000\"; };"
	" }\n"
	");\n";

static void
test_keys_read_and_printed(void **state)
{
	char errors[4096];
	struct arb_spec *s = load(limits_conf, errors, sizeof(errors)), *again;
	const struct arb_cg_limits *l;
	char *text, *text2;

	assert_string_equal(errors, "");
	assert_non_null(s);
	l = s->nodes[arb_spec_find(s, "web")].limits;
	assert_non_null(l);
	assert_true(l->memory_max == 512ull << 20);
	assert_true(l->memory_high == 3ull << 29);
	assert_true(l->memory_swap_max == 0);
	assert_int_equal(l->cpu_weight, 200);
	assert_true(l->cpu_max_us == 150000 && l->cpu_period_us == 100000);
	assert_true(l->pids_max == 20);
	assert_int_equal(l->io_weight, 50);
	assert_int_equal(l->given, 0x7f);
	assert_null(s->nodes[arb_spec_find(s, "grp/a")].limits);
	l = s->nodes[ARB_ROOT].limits;
	assert_true(l && l->given == ARB_CG_MEMORY_MAX);
	l = s->nodes[s->nodes[arb_spec_find(s, "pool")].template_node].limits;
	assert_true(l && l->cpu_max_us == 20000 && l->cpu_period_us == 50000);

	text = printed(s);
	assert_non_null(strstr(text, "    memory_max = \"4G\";\n"));
	assert_non_null(strstr(text,
		"        memory_max = \"512M\";\n"
		"        memory_high = \"1536M\";\n"
		"        memory_swap_max = 0;\n"
		"        cpu_weight = 200;\n"
		"        cpu_max = \"150%\";\n"
		"        pids_max = 20;\n"
		"        io_weight = 50;\n"));
	assert_non_null(strstr(text, "        memory_max = 1000;\n"
				     "        pids_max = \"max\";\n"));
	assert_non_null(strstr(text, "cpu_max = \"20000 50000\";\n"));
	/* Read back, it prints the same. */
	again = load(text, errors, sizeof(errors));
	assert_string_equal(errors, "");
	assert_non_null(again);
	text2 = printed(again);
	assert_string_equal(unmarked(text), unmarked(text2));
	free(text);
	free(text2);
	arb_spec_free(again);
	arb_spec_free(s);
}

static void
test_bad_values(void **state)
{
	char errors[4096];

	assert_null(load(
		"children = ( { name = \"w\"; exec = [\"/bin/true\"];\n"
		"  memory_max = \"512X\"; memory_high = -1;\n"
		"  cpu_weight = 0; io_weight = \"a\"; cpu_max = \"50\";\n"
		"  pids_max = 0; memory_swap_max = true; } );\n",
		errors, sizeof(errors)));
	assert_string_equal(errors,
		"child 'w': memory_max: invalid size '512X' (expected bytes, "
		"or a number with K, M, G or T: \"512M\", \"1.5G\"; or "
		"\"max\")\n"
		"child 'w': memory_high: -1 is out of range (0 to 1024T, or "
		"\"max\")\n"
		"child 'w': cpu_weight: 0 is out of range (1 to 10000)\n"
		"child 'w': io_weight: expected an integer, got a string\n"
		"child 'w': cpu_max: invalid value '50' (expected a share of "
		"one CPU such as \"50%\" or \"150%\", \"max\", or \"QUOTA "
		"PERIOD\" in microseconds such as \"50000 100000\")\n"
		"child 'w': pids_max: 0 is out of range (1 to 4194304, or "
		"\"max\")\n"
		"child 'w': memory_swap_max: expected a size (bytes, or a "
		"string such as \"512M\" or \"max\"), got a boolean\n");
}

/* ---- what a cgroup2 can apply ---- */

static void
test_check_against_controllers(void **state)
{
	char errors[4096];
	struct arb_spec *s = load(limits_conf, errors, sizeof(errors));
	/* Beside a shell's processes: base would be a new arbord-PID, and
	 * the cgroup arbord runs in is the one that offers controllers. */
	struct arb_cgroup cg = {.on = true, .base_fd = -1,
				.base = "/sys/fs/cgroup/unified/arbord-42",
				.made_base = true, .inotify_fd = -1};
	struct arb_diag diag = {0};
	const char *file = arb_spec_find(s, "web") != ARB_NONE ?
			   s->nodes[arb_spec_find(s, "web")].file : NULL;
	char want[256];

	assert_non_null(s);
	/* A hybrid host: none. */
	assert_int_equal(arb_config_check_limits(s, &cg, &diag), 12);
	snprintf(want, sizeof(want), "%s:1: supervisor: memory_max: the memory "
		 "controller is not available (cgroup2 at "
		 "/sys/fs/cgroup/unified offers none)", file);
	assert_string_equal(diag.entries[0].text, want);
	snprintf(want, sizeof(want), "%s:3: child 'web': cpu_max: the cpu "
		 "controller is not available (cgroup2 at "
		 "/sys/fs/cgroup/unified offers none)", file);
	assert_string_equal(diag.entries[5].text, want);
	arb_diag_done(&diag);

	/* Some of them: only the others are refused. */
	cg.controllers = ARB_CGC_MEMORY | ARB_CGC_PIDS;
	assert_int_equal(arb_config_check_limits(s, &cg, &diag), 4);
	assert_string_equal(diag.entries[0].message, "child 'web': cpu_weight: "
			    "the cpu controller is not available (cgroup2 at "
			    "/sys/fs/cgroup/unified offers memory pids)");
	assert_string_equal(diag.entries[2].message, "child 'web': io_weight: "
			    "the io controller is not available (cgroup2 at "
			    "/sys/fs/cgroup/unified offers memory pids)");
	/* The template is checked: its instances take its limits. */
	assert_non_null(strstr(diag.entries[3].message, ": cpu_max: the cpu "));
	arb_diag_done(&diag);

	/* All of them: nothing to say. */
	cg.controllers = ARB_CGC_CPU | ARB_CGC_IO | ARB_CGC_MEMORY |
			 ARB_CGC_PIDS;
	assert_int_equal(arb_config_check_limits(s, &cg, &diag), 0);
	assert_int_equal(diag.n, 0);

	/* No cgroup2, or --no-cgroups: why, as the probe said. */
	cg.on = false;
	cg.why_off = "no cgroup2 mount";
	assert_int_equal(arb_config_check_limits(s, &cg, &diag), 12);
	assert_string_equal(diag.entries[1].message, "child 'web': memory_max: "
			    "limits need cgroup2, which arbord does not use "
			    "(no cgroup2 mount)");
	arb_diag_done(&diag);
	arb_spec_free(s);

	/* No limit given: fine anywhere. */
	s = load("children = ( { name = \"w\"; exec = [\"/bin/true\"]; } );\n",
		 errors, sizeof(errors));
	assert_non_null(s);
	assert_int_equal(arb_config_check_limits(s, &cg, &diag), 0);
	arb_spec_free(s);
}

/* ---- the writer ---- */

static const char *const limit_files[] = {
	"memory.max", "memory.high", "memory.swap.max", "cpu.weight",
	"cpu.max", "pids.max", "io.weight",
};
#define NFILES (sizeof(limit_files) / sizeof(limit_files[0]))

static char cgdir[] = "/tmp/test_cg_limits_cg.XXXXXX";

static void
make_files(void)
{
	char path[128];

	for (size_t i = 0; i < NFILES; i++) {
		int fd;

		snprintf(path, sizeof(path), "%s/%s", cgdir, limit_files[i]);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "untouched", 9), 9);
		close(fd);
	}
}

static const char *
file_text(const char *name)
{
	static char buf[128];
	char path[128];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", cgdir, name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n >= 0);
	buf[n] = '\0';
	return buf;
}

static void
remove_files(void)
{
	char path[128];

	for (size_t i = 0; i < NFILES; i++) {
		snprintf(path, sizeof(path), "%s/%s", cgdir, limit_files[i]);
		(void)unlink(path);
	}
}

static void
test_writer(void **state)
{
	struct arb_cg_limits l = {
		.memory_max = 32u << 20, .memory_high = ARB_CG_UNLIMITED,
		.cpu_max_us = 10000, .cpu_period_us = 100000,
		.pids_max = 20, .io_weight = 500,
		.given = ARB_CG_MEMORY_MAX | ARB_CG_MEMORY_HIGH |
			 ARB_CG_CPU_MAX | ARB_CG_PIDS_MAX | ARB_CG_IO_WEIGHT,
	};
	const unsigned all = ARB_CGC_CPU | ARB_CGC_IO | ARB_CGC_MEMORY |
			     ARB_CGC_PIDS;
	const char *failed = "none";
	int fd;

	assert_int_equal(arb_cg_limits_controllers(NULL), 0);
	assert_int_equal(arb_cg_limits_controllers(&l), all);
	l.given = ARB_CG_PIDS_MAX;
	assert_int_equal(arb_cg_limits_controllers(&l), ARB_CGC_PIDS);
	l.given = ARB_CG_MEMORY_MAX | ARB_CG_MEMORY_HIGH | ARB_CG_CPU_MAX |
		  ARB_CG_PIDS_MAX | ARB_CG_IO_WEIGHT;

	assert_non_null(mkdtemp(cgdir));
	fd = open(cgdir, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	make_files();
	assert_int_equal(arb_cg_limits_write(fd, &l, all, &failed), 0);
	assert_string_equal(failed, "none");
	assert_string_equal(file_text("memory.max"), "33554432");
	assert_string_equal(file_text("memory.high"), "max");
	/* Not given: the kernel's default, so a lifted limit is lifted. */
	assert_string_equal(file_text("memory.swap.max"), "max");
	assert_string_equal(file_text("cpu.weight"), "100");
	assert_string_equal(file_text("cpu.max"), "10000 100000");
	assert_string_equal(file_text("pids.max"), "20");
	assert_string_equal(file_text("io.weight"), "default 500");

	/* Only the controllers given are written. */
	make_files();
	assert_int_equal(arb_cg_limits_write(fd, &l, ARB_CGC_PIDS, &failed),
			 0);
	assert_string_equal(file_text("pids.max"), "20");
	assert_string_equal(file_text("memory.max"), "untouched");

	/* No limits (a reload removed them all): every default. */
	make_files();
	assert_int_equal(arb_cg_limits_write(fd, NULL, all, &failed), 0);
	assert_string_equal(file_text("memory.max"), "max");
	assert_string_equal(file_text("cpu.max"), "max 100000");
	assert_string_equal(file_text("io.weight"), "default 100");
	assert_string_equal(file_text("pids.max"), "max");

	/* A file a kernel option leaves out: fine unless it is asked for. */
	make_files();
	assert_int_equal(unlinkat(fd, "io.weight", 0), 0);
	l.given &= ~ARB_CG_IO_WEIGHT;
	assert_int_equal(arb_cg_limits_write(fd, &l, all, &failed), 0);
	l.given |= ARB_CG_IO_WEIGHT;
	assert_int_equal(arb_cg_limits_write(fd, &l, all, &failed), -ENOENT);
	assert_string_equal(failed, "io.weight");
	/* ...and the others are written all the same. */
	assert_string_equal(file_text("pids.max"), "20");

	close(fd);
	remove_files();
	assert_int_equal(rmdir(cgdir), 0);
}

static int
setup(void **state)
{
	return mkdtemp(dir) ? 0 : -1;
}

static int
teardown(void **state)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/arbor.conf", dir);
	(void)unlink(path);
	return rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_cpu_max),
		cmocka_unit_test(test_problem),
		cmocka_unit_test(test_keys_read_and_printed),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_check_against_controllers),
		cmocka_unit_test(test_writer),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
