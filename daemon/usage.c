/*
 * usage.c - what a node uses, read from its cgroup's files (cgroup v2)
 * or, without one, from its main process's /proc files. It only reads:
 * it never writes a cgroup file, never logs, never fails (what it cannot
 * read is unknown). Every file it reads is small but cgroup.threads,
 * which it counts a block at a time.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/limits.h"
#include "usage.h"

/* memory.current, cpu.stat, /proc/PID/status: a few hundred bytes, a
 * memory.events or a status of a process with many groups a few more. */
#define SMALL_FILE_MAX 4096

/*
 * A service may make cgroups of its own below its leaf (a container
 * runtime does): its threads are counted down to this many levels below
 * the node's, arbord's depth limit over again.
 */
#define THREADS_DEPTH_MAX (ARB_DEPTH_MAX + 2)

static const char *const source_names[] = {
	[ARB_USAGE_CGROUP] = "cgroup",
	[ARB_USAGE_CGROUP_PROC] = "cgroup+proc",
	[ARB_USAGE_PROC] = "proc",
};

const char *
arb_usage_source_name(enum arb_usage_source s)
{
	if ((size_t)s >= sizeof(source_names) / sizeof(source_names[0]))
		return "?";
	return source_names[s];
}

static void
add_field(uint64_t *sum, uint64_t v)
{
	if (v == ARB_USAGE_UNKNOWN)
		return;
	*sum = *sum == ARB_USAGE_UNKNOWN ? v : *sum + v;
}

void
arb_usage_add(struct arb_usage *sum, const struct arb_usage *u)
{
	add_field(&sum->memory, u->memory);
	add_field(&sum->memory_peak, u->memory_peak);
	add_field(&sum->cpu_usec, u->cpu_usec);
	add_field(&sum->tasks, u->tasks);
	add_field(&sum->oom_kills, u->oom_kills);
}

static void
fill_field(uint64_t *v, uint64_t from)
{
	if (*v == ARB_USAGE_UNKNOWN)
		*v = from;
}

void
arb_usage_fill_unknown(struct arb_usage *u, const struct arb_usage *from)
{
	fill_field(&u->memory, from->memory);
	fill_field(&u->memory_peak, from->memory_peak);
	fill_field(&u->cpu_usec, from->cpu_usec);
	fill_field(&u->tasks, from->tasks);
	fill_field(&u->oom_kills, from->oom_kills);
}

static void
set_unknown(struct arb_usage *u, enum arb_usage_source source)
{
	u->source = source;
	u->memory = u->memory_peak = u->cpu_usec = u->tasks = u->oom_kills =
		ARB_USAGE_UNKNOWN;
}

/* ---- files ---------------------------------------------------------------- */

/* The whole of a small file, NUL-terminated, into buf: its length or
 * -errno (-EFBIG when it does not fit). */
static ssize_t
read_small(int dirfd, const char *name, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return -errno;
	while (len + 1 < size) {
		n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			n = -errno;
			(void)close(fd);
			return n;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	(void)close(fd);
	buf[len] = '\0';
	return len + 1 < size ? (ssize_t)len : -EFBIG;
}

/* A decimal number at s (blanks before it allowed); false if none. */
static bool
parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return false;
	*ret = v;
	return true;
}

/* A file that holds one number (memory.current, pids.current). */
static uint64_t
read_number(int dirfd, const char *name)
{
	char buf[64];
	uint64_t v;

	if (read_small(dirfd, name, buf, sizeof(buf)) < 0 ||
	    !parse_u64(buf, &v))
		return ARB_USAGE_UNKNOWN;
	return v;
}

/*
 * The number after key in text of "key value" lines (cpu.stat's
 * "usage_usec 123", /proc's "VmRSS:\t 1234 kB": key with its colon).
 */
static uint64_t
keyed_number(const char *text, const char *key)
{
	size_t klen = strlen(key);
	uint64_t v;

	for (const char *line = text; line && *line;) {
		if (strncmp(line, key, klen) == 0 &&
		    (line[klen] == ' ' || line[klen] == '\t') &&
		    parse_u64(line + klen, &v))
			return v;
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return ARB_USAGE_UNKNOWN;
}

static uint64_t
read_keyed(int dirfd, const char *name, const char *key)
{
	char buf[SMALL_FILE_MAX];

	if (read_small(dirfd, name, buf, sizeof(buf)) < 0)
		return ARB_USAGE_UNKNOWN;
	return keyed_number(buf, key);
}

/* The lines of a file of any length (cgroup.threads): -errno if unread. */
static int
count_lines(int dirfd, const char *name, uint64_t *ret)
{
	char buf[4096];
	uint64_t lines = 0;
	ssize_t n;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return -errno;
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
	}
	n = n < 0 ? -errno : 0;
	(void)close(fd);
	if (n == 0)
		*ret = lines;
	return (int)n;
}

/*
 * The threads of cgroup dirfd and of every cgroup below it: without the
 * pids controller, cgroup.threads is the only count, and it lists a
 * cgroup's own threads alone (a supervisor's has none: cgroup v2 keeps
 * processes in leaves). Depth-first, to THREADS_DEPTH_MAX levels.
 */
static int
count_threads(int dirfd, int depth, uint64_t *ret)
{
	uint64_t total = 0, below;
	struct dirent *e;
	DIR *d;
	int fd, r;

	r = count_lines(dirfd, "cgroup.threads", &total);
	if (r < 0)
		return r;
	if (depth >= THREADS_DEPTH_MAX)
		goto done;
	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		goto done;
	d = fdopendir(fd);
	if (!d) {
		(void)close(fd);
		goto done;
	}
	while ((e = readdir(d))) {
		int sub;

		/* A cgroup's own files are regular; its children are
		 * directories (DT_UNKNOWN does not happen on cgroupfs). */
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		sub = openat(dirfd, e->d_name,
			     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sub < 0)
			continue; /* removed meanwhile */
		if (count_threads(sub, depth + 1, &below) == 0)
			total += below;
		(void)close(sub);
	}
	(void)closedir(d);
done:
	*ret = total;
	return 0;
}

/* ---- sources ------------------------------------------------------------- */

/*
 * What the cgroup at dirfd says, with the controllers enabled there.
 * Without the pids controller a supervisor's tasks are left to the
 * caller's sum of its children's: the same count as walking its cgroups
 * again, whose leaves its children have just walked.
 */
static void
read_cgroup(int dirfd, unsigned controllers, bool supervisor,
	    struct arb_usage *u)
{
	uint64_t threads;

	u->cpu_usec = read_keyed(dirfd, "cpu.stat", "usage_usec");
	if (controllers & ARB_CGC_MEMORY) {
		u->memory = read_number(dirfd, "memory.current");
		/* memory.peak came with Linux 5.19. */
		u->memory_peak = read_number(dirfd, "memory.peak");
		u->oom_kills = read_keyed(dirfd, "memory.events", "oom_kill");
	}
	if (controllers & ARB_CGC_PIDS)
		u->tasks = read_number(dirfd, "pids.current");
	else if (!supervisor && count_threads(dirfd, 0, &threads) == 0)
		u->tasks = threads;
}

/* /proc/PID/status: memory in kB, and the threads. */
static void
read_proc_status(int pid, bool with_tasks, struct arb_usage *u)
{
	char path[32], buf[SMALL_FILE_MAX];
	uint64_t kb;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if (read_small(AT_FDCWD, path, buf, sizeof(buf)) < 0)
		return;
	/* A zombie has no Vm lines: its memory is unknown, not 0. */
	kb = keyed_number(buf, "VmRSS:");
	if (kb != ARB_USAGE_UNKNOWN)
		u->memory = kb * 1024;
	kb = keyed_number(buf, "VmHWM:");
	if (kb != ARB_USAGE_UNKNOWN)
		u->memory_peak = kb * 1024;
	if (with_tasks)
		u->tasks = keyed_number(buf, "Threads:");
}

/*
 * /proc/PID/stat: utime, stime, cutime and cstime (fields 14 to 17),
 * in clock ticks: the main process's time and that of the children it
 * waited for, as a shell's work is in its children. The fields are
 * counted from the last ')', since the command's name may hold any.
 */
static uint64_t
read_proc_cpu(int pid)
{
	char path[32], buf[1024], *p;
	uint64_t total = 0, v;
	long ticks = sysconf(_SC_CLK_TCK);

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (ticks <= 0 || read_small(AT_FDCWD, path, buf, sizeof(buf)) < 0)
		return ARB_USAGE_UNKNOWN;
	p = strrchr(buf, ')');
	if (!p)
		return ARB_USAGE_UNKNOWN;
	/* After ')': field 3 (state) is the first; utime is the 12th. */
	for (int field = 3; field <= 17; field++) {
		p = strchr(p, ' ');
		if (!p)
			return ARB_USAGE_UNKNOWN;
		p++;
		if (field < 14)
			continue;
		if (!parse_u64(p, &v))
			return ARB_USAGE_UNKNOWN;
		total += v;
	}
	return total * 1000000 / (uint64_t)ticks;
}

void
arb_usage_read(struct arb_cgroup *cg, const struct arb_spec *spec,
	       uint32_t node, int main_pid, struct arb_usage *ret)
{
	char rel[ARB_CG_REL_MAX];
	struct arb_usage u;
	int dirfd;

	if (!cg || !cg->on) {
		set_unknown(&u, ARB_USAGE_PROC);
		if (main_pid > 0) {
			read_proc_status(main_pid, true, &u);
			u.cpu_usec = read_proc_cpu(main_pid);
		}
		*ret = u;
		return;
	}
	set_unknown(&u, cg->controllers & ARB_CGC_MEMORY
				? ARB_USAGE_CGROUP
				: ARB_USAGE_CGROUP_PROC);
	if (arb_cgroup_rel(spec, node, rel, sizeof(rel)) >= 0) {
		dirfd = openat(cg->base_fd, rel,
			       O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dirfd >= 0) {
			read_cgroup(dirfd, cg->controllers,
				    spec->nodes[node].kind ==
					    ARB_NODE_SUPERVISOR,
				    &u);
			(void)close(dirfd);
		}
	}
	/* No memory controller: the main process's, a supervisor's from
	 * its services' (the caller's sum). */
	if (u.source == ARB_USAGE_CGROUP_PROC && main_pid > 0)
		read_proc_status(main_pid, false, &u);
	*ret = u;
}
