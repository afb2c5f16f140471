/*
 * cgroup.c - the supervision tree as a cgroup v2 tree (cgroup.h): finding
 * a base, settling arbord in it, and the per-node operations (make, open,
 * kill, populated, remove). Returns codes and never logs: runtime.c
 * decides and logs. Holds no descriptor per node: each is opened per use
 * (issue 14's 19,000 services).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cgroup.h"
#include "core/limits.h"

/* The controllers arbord enables for its tree, in cgroup.h's bit order. */
static const char *const controller_names[] = {"cpu", "io", "memory", "pids"};
#define NCONTROLLERS (sizeof(controller_names) / sizeof(controller_names[0]))

/* Where cgroup2 is mounted by arbord as PID 1, and looked for first. */
#define CGROUP2_HOME "/sys/fs/cgroup"

/* arbord's own leaf below base, and the tree's root below base. */
#define ARBORD_LEAF "arbord"
#define TREE_ROOT "tree"

/* Bytes read of a small cgroup file (cgroup.events, controllers). */
#define SMALL_FILE_MAX 512

/* ---- names ---- */

const char *
arb_cgroup_controller_names(unsigned bits, char *buf, size_t size)
{
	size_t used = 0;

	if (size == 0)
		return "";
	buf[0] = '\0';
	for (size_t i = 0; i < NCONTROLLERS; i++) {
		if (!(bits & (1u << i)))
			continue;
		int n = snprintf(buf + used, size - used, "%s%s",
				 used ? " " : "", controller_names[i]);
		if (n < 0 || (size_t)n >= size - used)
			break; /* cut: never a partial name */
		used += (size_t)n;
	}
	buf[used] = '\0';
	return buf;
}

/* The bits of the known controllers named in a space-separated list. */
static unsigned
controllers_from_list(const char *list)
{
	unsigned bits = 0;

	while (*list) {
		size_t n = strcspn(list, " \t\n");

		for (size_t i = 0; i < NCONTROLLERS; i++)
			if (strlen(controller_names[i]) == n &&
			    memcmp(list, controller_names[i], n) == 0)
				bits |= 1u << i;
		list += n;
		list += strspn(list, " \t\n");
	}
	return bits;
}

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
	size_t used = strlen(TREE_ROOT);

	if (used >= size)
		return -ENAMETOOLONG;
	memcpy(buf, TREE_ROOT, used);
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

/* ---- small files ---- */

/* Reads at most size - 1 bytes of dirfd/name, NUL-terminated: the length
 * or -errno. */
static ssize_t
read_small(int dirfd, const char *name, char *buf, size_t size)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	do
		n = read(fd, buf, size - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		n = -errno;
	else
		buf[n] = '\0';
	(void)close(fd);
	return n;
}

/* Writes text to dirfd/name in one write(2): 0 or -errno. */
static int
write_small(int dirfd, const char *name, const char *text)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC);
	size_t len = strlen(text);
	ssize_t n;
	int r = 0;

	if (fd < 0)
		return -errno;
	do
		n = write(fd, text, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		r = -errno;
	else if ((size_t)n != len)
		r = -EIO;
	(void)close(fd);
	return r;
}

/* The value of "key N" in a flat-keyed file's text (cgroup.events,
 * memory.events); -1 when absent. */
static int64_t
keyed_value(const char *text, const char *key)
{
	size_t klen = strlen(key);

	for (const char *line = text; *line;) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
			return strtoll(line + klen + 1, NULL, 10);
		line = strchr(line, '\n');
		if (!line)
			break;
		line++;
	}
	return -1;
}

/* ---- discovery ---- */

/* Undoes mountinfo's octal escapes (\040 for a space) in place. */
static void
unescape_octal(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
					(s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

struct cg2_mount {
	char point[PATH_MAX]; /* where it is mounted */
	char root[PATH_MAX];  /* the hierarchy's path seen there ("/") */
};

/*
 * A cgroup2 mount of /proc/self/mountinfo: the one at /sys/fs/cgroup if
 * there is one, else the first (/sys/fs/cgroup/unified on a hybrid host).
 * 0, -ENOENT when there is none, or -errno.
 */
static int
find_cgroup2_mount(struct cg2_mount *ret)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[2 * PATH_MAX + 256];
	bool found = false;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		/* id parent major:minor root point options [tags] - type ... */
		char root[PATH_MAX], point[PATH_MAX];
		const char *sep = strstr(line, " - ");

		if (!sep || strncmp(sep + 3, "cgroup2 ", 8) != 0)
			continue;
		if (sscanf(line, "%*s %*s %*s %4095s %4095s", root, point) != 2)
			continue;
		unescape_octal(root);
		unescape_octal(point);
		if (found && strcmp(point, CGROUP2_HOME) != 0)
			continue;
		snprintf(ret->point, sizeof(ret->point), "%s", point);
		snprintf(ret->root, sizeof(ret->root), "%s", root);
		found = true;
		if (strcmp(point, CGROUP2_HOME) == 0)
			break;
	}
	(void)fclose(f);
	return found ? 0 : -ENOENT;
}

/* arbord's cgroup2 path ("0::/path" of /proc/self/cgroup): 0, -ENOENT
 * without such a line, or -errno. */
static int
own_cgroup_path(char *buf, size_t size)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	char line[PATH_MAX + 64];
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		if (snprintf(buf, size, "%s", line + 3) >= (int)size)
			r = -ENAMETOOLONG;
		else
			r = 0;
		break;
	}
	(void)fclose(f);
	return r;
}

/*
 * The absolute directory of arbord's cgroup: the mount point joined with
 * its path below the mount's root. -EXDEV when arbord's cgroup is not
 * below what is mounted there.
 */
static int
own_cgroup_dir(const struct cg2_mount *m, char *buf, size_t size)
{
	char path[PATH_MAX];
	const char *below = path;
	int r = own_cgroup_path(path, sizeof(path));

	if (r < 0)
		return r;
	if (strcmp(m->root, "/") != 0) {
		size_t rlen = strlen(m->root);

		if (strncmp(path, m->root, rlen) != 0 ||
		    (path[rlen] != '/' && path[rlen] != '\0'))
			return -EXDEV;
		below = path + rlen;
	}
	if (snprintf(buf, size, "%s%s%s", m->point,
		     *below == '/' || *below == '\0' ? "" : "/",
		     strcmp(below, "/") == 0 ? "" : below) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

/* Whether dirfd's cgroup.procs holds arbord alone: 1, 0, or -errno. */
static int
holds_only_me(int dirfd)
{
	int fd = openat(dirfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
	FILE *f;
	long me = (long)getpid(), pid;
	int r = 1;

	if (fd < 0)
		return -errno;
	f = fdopen(fd, "r");
	if (!f) {
		r = -errno;
		(void)close(fd);
		return r;
	}
	while (fscanf(f, "%ld", &pid) == 1)
		if (pid != me) {
			r = 0;
			break;
		}
	(void)fclose(f);
	return r;
}

/* The known controllers listed in dirfd/name (cgroup.controllers,
 * cgroup.subtree_control); 0 when it cannot be read. */
static unsigned
read_controllers(int dirfd, const char *name)
{
	char text[SMALL_FILE_MAX];

	if (read_small(dirfd, name, text, sizeof(text)) < 0)
		return 0;
	return controllers_from_list(text);
}

/*
 * Whether the kernel offers cgroup.kill (5.14): the file in dirfd, or, in
 * a root cgroup that has none (nor cgroup.events), the kernel's version.
 */
static bool
has_kill_file(int dirfd)
{
	struct utsname u;
	int major = 0, minor = 0;

	if (faccessat(dirfd, "cgroup.kill", F_OK, 0) == 0)
		return true;
	if (faccessat(dirfd, "cgroup.events", F_OK, 0) == 0)
		return false; /* not a root: the kernel has none */
	if (uname(&u) < 0 || sscanf(u.release, "%d.%d", &major, &minor) != 2)
		return false;
	return major > 5 || (major == 5 && minor >= 14);
}

/* Why a cgroup cannot be written, from access(2)'s errno. */
static const char *
why_not_writable(int err)
{
	return err == EROFS ? "read-only" : "not writable";
}

/*
 * What arb_cgroup_open() settles on, found without changing anything:
 * arbord's own cgroup `dir` and whether base is that (alone, or as PID 1)
 * or a new arbord-PID beside its other processes.
 */
struct finding {
	char dir[PATH_MAX];
	int dirfd;
	bool alone;
};

/*
 * Fills f and, in cg, base, has_kill and the controllers base will
 * offer; on failure cg->why_off, and -1. f->dirfd is the caller's to
 * close on success.
 */
static int
find_base(struct arb_cgroup *cg, bool as_pid1, struct finding *f)
{
	struct cg2_mount m;
	char base[PATH_MAX];
	int r;

	f->dirfd = -1;
	if (find_cgroup2_mount(&m) < 0) {
		cg->why_off = "no cgroup2 mount";
		return -1;
	}
	r = own_cgroup_dir(&m, f->dir, sizeof(f->dir));
	if (r < 0) {
		cg->why_off = r == -EXDEV ? "own cgroup not under the mount"
					  : "own cgroup unknown";
		return -1;
	}
	f->dirfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->dirfd < 0) {
		cg->why_off = "own cgroup not found";
		return -1;
	}
	if (faccessat(f->dirfd, ".", W_OK, 0) < 0 ||
	    faccessat(f->dirfd, "cgroup.procs", W_OK, 0) < 0) {
		cg->why_off = why_not_writable(errno);
		goto fail;
	}
	r = as_pid1 ? 1 : holds_only_me(f->dirfd);
	if (r < 0) {
		cg->why_off = "cgroup.procs unreadable";
		goto fail;
	}
	f->alone = r == 1;
	if (f->alone &&
	    faccessat(f->dirfd, "cgroup.subtree_control", W_OK, 0) < 0) {
		cg->why_off = why_not_writable(errno);
		goto fail;
	}
	if (f->alone)
		snprintf(base, sizeof(base), "%s", f->dir);
	else if (snprintf(base, sizeof(base), "%s/arbord-%ld", f->dir,
			  (long)getpid()) >= (int)sizeof(base)) {
		cg->why_off = "path too long";
		goto fail;
	}
	cg->base = strdup(base);
	if (!cg->base) {
		cg->why_off = "out of memory";
		goto fail;
	}
	/* Alone, base's own controllers are enabled below it; beside other
	 * processes, base gets what its parent already gives its children
	 * (a cgroup with processes may not enable more). */
	cg->controllers = read_controllers(f->dirfd, f->alone
							     ? "cgroup.controllers"
							     : "cgroup.subtree_control");
	cg->has_kill = has_kill_file(f->dirfd);
	return 0;
fail:
	(void)close(f->dirfd);
	f->dirfd = -1;
	return -1;
}

static void
cgroup_init_off(struct arb_cgroup *cg)
{
	memset(cg, 0, sizeof(*cg));
	cg->base_fd = -1;
	cg->inotify_fd = -1;
}

void
arb_cgroup_off(struct arb_cgroup *cg, const char *why)
{
	cgroup_init_off(cg);
	cg->why_off = why;
}

void
arb_cgroup_probe(struct arb_cgroup *cg)
{
	struct finding f;

	cgroup_init_off(cg);
	if (find_base(cg, false, &f) < 0)
		return;
	(void)close(f.dirfd);
	cg->on = true;
}

void
arb_cgroup_release(struct arb_cgroup *cg)
{
	if (cg->base_fd >= 0)
		(void)close(cg->base_fd);
	if (cg->inotify_fd >= 0)
		(void)close(cg->inotify_fd);
	free(cg->base);
	free(cg->origin);
	cgroup_init_off(cg);
	cg->why_off = "released";
}

/* ---- settling in ---- */

/* "+cpu +memory" for bits (sign '+'), or "-cpu -memory" (sign '-'). */
static void
control_text(char sign, unsigned bits, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < NCONTROLLERS; i++) {
		if (!(bits & (1u << i)))
			continue;
		int n = snprintf(buf + used, size - used, "%s%c%s",
				 used ? " " : "", sign, controller_names[i]);
		if (n < 0 || (size_t)n >= size - used)
			break;
		used += (size_t)n;
	}
}

/*
 * Enables bits in dirfd's cgroup.subtree_control: all at once, or, when
 * the kernel refuses one, each alone. The bits enabled.
 */
static unsigned
enable_controllers(int dirfd, unsigned bits)
{
	char text[64];
	unsigned enabled = 0;

	if (bits == 0)
		return 0;
	control_text('+', bits, text, sizeof(text));
	if (write_small(dirfd, "cgroup.subtree_control", text) == 0)
		return bits;
	for (size_t i = 0; i < NCONTROLLERS; i++) {
		if (!(bits & (1u << i)))
			continue;
		control_text('+', 1u << i, text, sizeof(text));
		if (write_small(dirfd, "cgroup.subtree_control", text) == 0)
			enabled |= 1u << i;
	}
	return enabled;
}

/* Moves arbord into dirfd/leaf's cgroup.procs ("" for dirfd itself). */
static int
move_self(int dirfd, const char *leaf)
{
	char path[PATH_MAX], pid[24];

	snprintf(path, sizeof(path), "%s%scgroup.procs", leaf,
		 *leaf ? "/" : "");
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	return write_small(dirfd, path, pid);
}

/* Undoes a half-made settling: back to origin, arbord's leaf and a made
 * base removed. Best effort: nothing is left to tell. */
static void
unsettle(struct arb_cgroup *cg, int origin_fd)
{
	if (origin_fd >= 0)
		(void)move_self(origin_fd, "");
	if (cg->base_fd >= 0) {
		(void)unlinkat(cg->base_fd, ARBORD_LEAF, AT_REMOVEDIR);
		(void)close(cg->base_fd);
		cg->base_fd = -1;
	}
	if (cg->made_base)
		(void)rmdir(cg->base);
}

/*
 * Makes base (when it is new), moves arbord into base/arbord and enables
 * the controllers below base. 0, or -1 with cg->why_off, everything
 * undone.
 */
static int
settle(struct arb_cgroup *cg, struct finding *f)
{
	if (!f->alone) {
		if (mkdir(cg->base, 0755) < 0 && errno != EEXIST) {
			cg->why_off = "cannot make base";
			return -1;
		}
		cg->made_base = true;
	}
	cg->base_fd = open(cg->base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg->base_fd < 0) {
		cg->why_off = "cannot open base";
		goto fail;
	}
	if (mkdirat(cg->base_fd, ARBORD_LEAF, 0755) < 0 && errno != EEXIST) {
		cg->why_off = "cannot make arbord's leaf";
		goto fail;
	}
	if (move_self(cg->base_fd, ARBORD_LEAF) < 0) {
		cg->why_off = "cannot move into arbord's leaf";
		goto fail;
	}
	/* What base really offers, now that it exists (a root cgroup has
	 * no cgroup.kill: base, made below it, tells). */
	cg->controllers = enable_controllers(
		cg->base_fd, read_controllers(cg->base_fd, "cgroup.controllers"));
	cg->has_kill = has_kill_file(cg->base_fd);
	return 0;
fail:
	unsettle(cg, f->dirfd);
	return -1;
}

/*
 * A re-executed arbord's base: arbord is in base/arbord already. Whether
 * it made base (arbord-PID: the pid outlives exec) and where it came from
 * follow from the path.
 */
static int
resume(struct arb_cgroup *cg, const char *resumed_base)
{
	char name[32];
	const char *slash = strrchr(resumed_base, '/');

	cg->base = strdup(resumed_base);
	if (!cg->base) {
		cg->why_off = "out of memory";
		return -1;
	}
	cg->base_fd = open(cg->base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg->base_fd < 0) {
		cg->why_off = "handed base not found";
		return -1;
	}
	snprintf(name, sizeof(name), "arbord-%ld", (long)getpid());
	cg->made_base = slash && strcmp(slash + 1, name) == 0;
	cg->origin = cg->made_base ? strndup(cg->base, (size_t)(slash - cg->base))
				   : strdup(cg->base);
	cg->controllers = read_controllers(cg->base_fd,
					   "cgroup.subtree_control");
	cg->has_kill = has_kill_file(cg->base_fd);
	return 0;
}

/* As PID 1: cgroup2 at /sys/fs/cgroup, unless something is mounted there. */
static void
mount_cgroup2(void)
{
	struct stat st, parent;

	if (getpid() != 1)
		return; /* never on a host arbord does not own */
	(void)mkdir(CGROUP2_HOME, 0755);
	if (stat(CGROUP2_HOME, &st) < 0 || stat("/sys/fs", &parent) < 0 ||
	    st.st_dev != parent.st_dev)
		return; /* missing, or already a mount point */
	(void)mount("cgroup2", CGROUP2_HOME, "cgroup2",
		    MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

void
arb_cgroup_open(struct arb_cgroup *cg, bool as_pid1, const char *resumed_base)
{
	struct finding f;
	const char *why;

	cgroup_init_off(cg);
	if (resumed_base) {
		if (resume(cg, resumed_base) < 0)
			goto off;
	} else {
		if (as_pid1)
			mount_cgroup2();
		if (find_base(cg, as_pid1, &f) < 0)
			goto off;
		cg->origin = strdup(f.dir);
		if (!cg->origin) {
			cg->why_off = "out of memory";
			(void)close(f.dirfd);
			goto off;
		}
		if (settle(cg, &f) < 0) {
			(void)close(f.dirfd);
			goto off;
		}
		(void)close(f.dirfd);
	}
	cg->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (cg->inotify_fd < 0) {
		arb_cgroup_close(cg);
		cg->why_off = "no inotify";
		return;
	}
	cg->on = true;
	return;
off:
	why = cg->why_off;
	arb_cgroup_release(cg);
	cg->why_off = why;
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
	(void)enable_controllers(fd, cg->controllers);
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

/* Removes dirfd/name and the cgroups below it, deepest first. */
static int
remove_tree(int dirfd, const char *name, unsigned depth)
{
	int fd, r = 0;
	DIR *d;
	struct dirent *e;

	if (unlinkat(dirfd, name, AT_REMOVEDIR) == 0)
		return 0;
	if (errno == ENOENT)
		return 0;
	if (errno != EBUSY && errno != ENOTEMPTY)
		return -errno;
	if (depth > ARB_DEPTH_MAX + 2)
		return -ELOOP;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		(void)close(fd);
		return r;
	}
	while ((e = readdir(d))) {
		if (e->d_type != DT_DIR || strcmp(e->d_name, ".") == 0 ||
		    strcmp(e->d_name, "..") == 0)
			continue;
		int rc = remove_tree(fd, e->d_name, depth + 1);
		if (rc < 0 && r == 0)
			r = rc;
	}
	(void)closedir(d);
	if (r < 0)
		return r;
	return unlinkat(dirfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT
		       ? 0
		       : -errno;
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
	return remove_tree(cg->base_fd, rel, 0);
}

/* Before cgroup.kill: SIGKILL to each pid of cgroup.procs, until none
 * is left (a fork between the read and the kill is read next time). */
static int
kill_each(int dirfd)
{
	for (int round = 0; round < 100; round++) {
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
		if (seen == 0)
			return 0;
	}
	return -EAGAIN;
}

int
arb_cgroup_kill(struct arb_cgroup *cg, const struct arb_spec *spec,
		uint32_t node)
{
	int fd = arb_cgroup_open_dir(cg, spec, node);
	int r;

	if (fd < 0)
		return fd;
	r = cg->has_kill ? write_small(fd, "cgroup.kill", "1") : kill_each(fd);
	(void)close(fd);
	return r;
}

int
arb_cgroup_populated(struct arb_cgroup *cg, const struct arb_spec *spec,
		     uint32_t node)
{
	char rel[ARB_CG_REL_MAX], path[ARB_CG_REL_MAX + 16], text[SMALL_FILE_MAX];
	ssize_t n;
	int64_t v;
	int r;

	if (!cg->on)
		return -ENODEV;
	r = rel_of(spec, node, rel);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/cgroup.events", rel);
	n = read_small(cg->base_fd, path, text, sizeof(text));
	if (n < 0)
		return (int)n;
	v = keyed_value(text, "populated");
	return v < 0 ? -EIO : v > 0;
}

uint64_t
arb_cgroup_oom_kills(struct arb_cgroup *cg, const struct arb_spec *spec,
		     uint32_t node)
{
	char rel[ARB_CG_REL_MAX], path[ARB_CG_REL_MAX + 16], text[SMALL_FILE_MAX];
	int64_t v;

	if (!cg->on || !(cg->controllers & ARB_CGC_MEMORY) ||
	    rel_of(spec, node, rel) < 0)
		return 0;
	snprintf(path, sizeof(path), "%s/memory.events", rel);
	if (read_small(cg->base_fd, path, text, sizeof(text)) < 0)
		return 0;
	v = keyed_value(text, "oom_kill");
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

/* ---- leaving ---- */

void
arb_cgroup_close(struct arb_cgroup *cg)
{
	int origin_fd = -1;

	if (cg->base_fd >= 0) {
		(void)remove_tree(cg->base_fd, TREE_ROOT, 0);
		if (cg->origin)
			origin_fd = open(cg->origin,
					 O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		/* Alone in base, arbord goes back to it: its controllers
		 * first, or a cgroup with processes could not hold them. */
		if (!cg->made_base && cg->controllers) {
			char text[64];

			control_text('-', cg->controllers, text, sizeof(text));
			(void)write_small(cg->base_fd, "cgroup.subtree_control",
					  text);
		}
		unsettle(cg, origin_fd);
		if (origin_fd >= 0)
			(void)close(origin_fd);
	}
	arb_cgroup_release(cg);
	cg->why_off = "closed";
}
