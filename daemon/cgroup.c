/*
 * cgroup.c - a node's cgroup (cgroup.h): its name below base, and what
 * runtime.c does with it: make, open for a spawn, kill, look at
 * (populated, oom_kill), watch, remove. Holds no descriptor per node:
 * each is opened per use (issue 14's 19,000 services). Returns codes and
 * never logs. Where the base is: cgroup_base.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "cgroup_file.h"

/* ---- names ---- */

/*
 * One node name as a cgroup directory name: a '_' before a name that
 * holds a '.' (cgroup's own files all do: memory.max) or begins with '_'
 * (so that no escaped name meets a plain one).
 */
static size_t
escaped_name_len(const char *name, size_t len)
{
	bool escape = memchr(name, '.', len) != NULL || name[0] == '_';

	return len + (escape ? 1 : 0);
}

static void
write_escaped_name(char *out, const char *name, size_t len)
{
	if (escaped_name_len(name, len) > len)
		*out++ = '_';
	memcpy(out, name, len);
}

int
arb_cgroup_rel(const struct arb_spec *spec, uint32_t node, char *buf,
	       size_t size)
{
	const char *path = spec->nodes[node].path;
	size_t used = strlen(ARB_CG_TREE);

	if (used >= size)
		return -ENAMETOOLONG;
	memcpy(buf, ARB_CG_TREE, used);
	if (node == ARB_ROOT) {
		buf[used] = '\0';
		return (int)used;
	}
	while (*path) {
		size_t len = strcspn(path, "/");
		size_t need = 1 + escaped_name_len(path, len);

		if (len == 0) { /* a stray '/' */
			path++;
			continue;
		}
		if (used + need >= size)
			return -ENAMETOOLONG;
		buf[used] = '/';
		write_escaped_name(buf + used + 1, path, len);
		used += need;
		path += len;
	}
	buf[used] = '\0';
	return (int)used;
}

/* ---- per node ---- */

/* node's cgroup relative to base, into buf (ARB_CG_REL_MAX). */
static int
rel_of(const struct arb_spec *spec, uint32_t node, char *buf)
{
	int r = arb_cgroup_rel(spec, node, buf, ARB_CG_REL_MAX);

	return r < 0 ? r : 0;
}

/*
 * mkdir of base/rel (not its parents); a supervisor's (sub) gets the
 * controllers in its subtree_control when it is new. 0 when it exists.
 */
static int
make_one(struct arb_cgroup *cg, const char *rel, bool sub)
{
	int fd;

	if (mkdirat(cg->base_fd, rel, 0755) < 0)
		return errno == EEXIST ? 0 : -errno;
	if (!sub || cg->controllers == 0)
		return 0;
	fd = openat(cg->base_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	(void)arb_cgfile_enable(fd, cg->controllers);
	(void)close(fd);
	return 0;
}

int
arb_cgroup_make(struct arb_cgroup *cg, const struct arb_spec *spec,
		uint32_t node)
{
	char rel[ARB_CG_REL_MAX];
	bool sub = spec->nodes[node].kind == ARB_NODE_SUPERVISOR;
	int r;

	if (!cg->on)
		return -ENODEV;
	r = rel_of(spec, node, rel);
	if (r < 0)
		return r;
	r = make_one(cg, rel, sub);
	if (r != -ENOENT)
		return r;
	/* A supervisor above is missing: each from the top, then node. */
	for (char *slash = strchr(rel, '/'); slash;
	     slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		r = make_one(cg, rel, true);
		*slash = '/';
		if (r < 0)
			return r;
	}
	return make_one(cg, rel, sub);
}

int
arb_cgroup_open_dir(struct arb_cgroup *cg, const struct arb_spec *spec,
		    uint32_t node)
{
	char rel[ARB_CG_REL_MAX];
	int r, fd;

	if (!cg->on)
		return -ENODEV;
	r = rel_of(spec, node, rel);
	if (r < 0)
		return r;
	fd = openat(cg->base_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int
arb_cgroup_remove(struct arb_cgroup *cg, const struct arb_spec *spec,
		  uint32_t node)
{
	char rel[ARB_CG_REL_MAX];
	int r;

	if (!cg->on)
		return -ENODEV;
	r = rel_of(spec, node, rel);
	if (r < 0)
		return r;
	return arb_cgfile_remove_tree(cg->base_fd, rel);
}

/* One reading of cgroup.procs, each pid killed: 0 when it held none,
 * -EAGAIN when it held some, or -errno. */
static int
kill_round(int dirfd)
{
	int fd = openat(dirfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
	FILE *f;
	long pid;
	int seen = 0;

	if (fd < 0)
		return -errno;
	f = fdopen(fd, "r");
	if (!f) {
		(void)close(fd);
		return -ENOMEM;
	}
	while (fscanf(f, "%ld", &pid) == 1) {
		(void)kill((pid_t)pid, SIGKILL);
		seen++;
	}
	(void)fclose(f);
	return seen == 0 ? 0 : -EAGAIN;
}

/*
 * Before cgroup.kill (5.14): SIGKILL to each pid of cgroup.procs, until
 * none is left. The leaf is frozen first (cgroup.freeze, 5.2), so that a
 * fork bomb does not outrun the rounds: a child forked from then on is
 * born frozen, and SIGKILL still ends a frozen process. Thawed after, for
 * whatever comes next.
 */
static int
kill_each(int dirfd)
{
	int r = -EAGAIN;

	(void)arb_cgfile_write(dirfd, "cgroup.freeze", "1");
	for (int round = 0; round < 100 && r == -EAGAIN; round++)
		r = kill_round(dirfd);
	(void)arb_cgfile_write(dirfd, "cgroup.freeze", "0");
	return r;
}

int
arb_cgroup_kill(struct arb_cgroup *cg, const struct arb_spec *spec,
		uint32_t node)
{
	int fd = arb_cgroup_open_dir(cg, spec, node);
	int r;

	if (fd < 0)
		return fd;
	r = cg->has_kill ? arb_cgfile_write(fd, "cgroup.kill", "1") : kill_each(fd);
	(void)close(fd);
	return r;
}

int
arb_cgroup_populated(struct arb_cgroup *cg, const struct arb_spec *spec,
		     uint32_t node)
{
	char rel[ARB_CG_REL_MAX], path[ARB_CG_REL_MAX + 16], text[ARB_CGFILE_MAX];
	ssize_t n;
	int64_t v;
	int r;

	if (!cg->on)
		return -ENODEV;
	r = rel_of(spec, node, rel);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/cgroup.events", rel);
	n = arb_cgfile_read(cg->base_fd, path, text, sizeof(text));
	if (n < 0)
		return (int)n;
	v = arb_cgfile_keyed(text, "populated");
	return v < 0 ? -EIO : v > 0;
}

uint64_t
arb_cgroup_oom_kills(struct arb_cgroup *cg, const struct arb_spec *spec,
		     uint32_t node)
{
	char rel[ARB_CG_REL_MAX], path[ARB_CG_REL_MAX + 16], text[ARB_CGFILE_MAX];
	int64_t v;

	if (!cg->on || !(cg->controllers & ARB_CGC_MEMORY) ||
	    rel_of(spec, node, rel) < 0)
		return 0;
	snprintf(path, sizeof(path), "%s/memory.events", rel);
	if (arb_cgfile_read(cg->base_fd, path, text, sizeof(text)) < 0)
		return 0;
	v = arb_cgfile_keyed(text, "oom_kill");
	return v > 0 ? (uint64_t)v : 0;
}

int
arb_cgroup_watch(struct arb_cgroup *cg, const struct arb_spec *spec,
		 uint32_t node)
{
	char rel[ARB_CG_REL_MAX], path[PATH_MAX + ARB_CG_REL_MAX];
	int r;

	if (!cg->on || cg->inotify_fd < 0)
		return -ENODEV;
	r = rel_of(spec, node, rel);
	if (r < 0)
		return r;
	if (snprintf(path, sizeof(path), "%s/%s/cgroup.events", cg->base,
		     rel) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	r = inotify_add_watch(cg->inotify_fd, path, IN_MODIFY);
	return r < 0 ? -errno : r;
}

void
arb_cgroup_unwatch(struct arb_cgroup *cg, int wd)
{
	if (cg->inotify_fd >= 0 && wd >= 0)
		(void)inotify_rm_watch(cg->inotify_fd, wd);
}
