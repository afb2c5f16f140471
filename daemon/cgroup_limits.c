/*
 * cgroup_limits.c - a node's cgroup limits written into its cgroup's
 * files: memory.max, memory.high, memory.swap.max, cpu.weight, cpu.max,
 * pids.max, io.weight.
 *
 * It writes what it is given into the directory it is given and decides
 * nothing else: which cgroup, when, and what to say on failure are the
 * caller's (runtime.c). It never makes or removes a cgroup.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "core/cg_limits.h"
#include "cgroup_limits.h"

/* Each file and the key that sets it (its controller: the core's
 * arb_cg_key_controller). */
static const struct limit_file {
	const char *name;
	enum arb_cg_limit_key key;
} files[] = {
	{"memory.max", ARB_CG_MEMORY_MAX},
	{"memory.high", ARB_CG_MEMORY_HIGH},
	{"memory.swap.max", ARB_CG_MEMORY_SWAP_MAX},
	{"cpu.weight", ARB_CG_CPU_WEIGHT},
	{"cpu.max", ARB_CG_CPU_MAX},
	{"pids.max", ARB_CG_PIDS_MAX},
	{"io.weight", ARB_CG_IO_WEIGHT},
};

#define NFILES (sizeof(files) / sizeof(files[0]))

unsigned
arb_cg_limits_controllers(const struct arb_cg_limits *l)
{
	unsigned bits = 0;

	for (size_t i = 0; l && i < NFILES; i++)
		if (l->given & files[i].key)
			bits |= arb_cg_key_controller(files[i].key);
	return bits;
}

/* "max" or the number, as the kernel's files take a limit. */
static void
format_max(uint64_t v, char *buf, size_t size)
{
	if (v == ARB_CG_UNLIMITED)
		snprintf(buf, size, "max");
	else
		snprintf(buf, size, "%llu", (unsigned long long)v);
}

/* The file's text for l, or the kernel's default when l does not give
 * its key (a cgroup's files hold the defaults when it is made). */
static void
format_file(const struct limit_file *f, const struct arb_cg_limits *l,
	    char *buf, size_t size)
{
	bool given = l && (l->given & f->key);

	switch (f->key) {
	case ARB_CG_MEMORY_MAX:
		format_max(given ? l->memory_max : ARB_CG_UNLIMITED, buf, size);
		break;
	case ARB_CG_MEMORY_HIGH:
		format_max(given ? l->memory_high : ARB_CG_UNLIMITED, buf,
			   size);
		break;
	case ARB_CG_MEMORY_SWAP_MAX:
		format_max(given ? l->memory_swap_max : ARB_CG_UNLIMITED, buf,
			   size);
		break;
	case ARB_CG_CPU_WEIGHT:
		snprintf(buf, size, "%u",
			 given ? l->cpu_weight : ARB_CG_DEFAULT_WEIGHT);
		break;
	case ARB_CG_CPU_MAX: {
		char quota[24];

		format_max(given ? l->cpu_max_us : ARB_CG_UNLIMITED, quota,
			   sizeof(quota));
		snprintf(buf, size, "%s %llu", quota,
			 (unsigned long long)(given ? l->cpu_period_us
						    : ARB_CG_DEFAULT_CPU_PERIOD_US));
		break;
	}
	case ARB_CG_PIDS_MAX:
		format_max(given ? l->pids_max : ARB_CG_UNLIMITED, buf, size);
		break;
	case ARB_CG_IO_WEIGHT:
		snprintf(buf, size, "default %u",
			 given ? l->io_weight : ARB_CG_DEFAULT_WEIGHT);
		break;
	}
}

/* text into file name of dirfd, in one write (a cgroup file reads one
 * write as one value); O_TRUNC as a shell's `echo >`, which cgroupfs
 * ignores and an ordinary file (the tests') needs. 0 or -errno. */
static int
write_file(int dirfd, const char *name, const char *text)
{
	size_t len = strlen(text);
	ssize_t n;
	int fd, e = 0;

	do
		fd = openat(dirfd, name,
			    O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -errno;
	do
		n = write(fd, text, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		e = -errno;
	else if ((size_t)n != len)
		e = -EIO;
	(void)close(fd);
	return e;
}

int
arb_cg_limits_write(int dirfd, const struct arb_cg_limits *l,
		    unsigned controllers, const char **ret_file)
{
	const char *failed = NULL;
	int first = 0;

	for (size_t i = 0; i < NFILES; i++) {
		const struct limit_file *f = &files[i];
		bool given = l && (l->given & f->key);
		char text[64];
		int r;

		if (!(controllers & arb_cg_key_controller(f->key)))
			continue;
		format_file(f, l, text, sizeof(text));
		r = write_file(dirfd, f->name, text);
		/*
		 * Some files exist only with a kernel option (memory.swap.max
		 * with swap accounting, io.weight with an I/O cost model):
		 * without one the default holds anyway, and only a limit
		 * asked for is missed.
		 */
		if (r == -ENOENT && !given)
			continue;
		if (r < 0 && !failed) {
			failed = f->name;
			first = r;
		}
	}
	if (failed && ret_file)
		*ret_file = failed;
	return first;
}
