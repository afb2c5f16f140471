/*
 * cgroup_base.c - where arbord's cgroups live (cgroup.h): the cgroup2
 * mount and arbord's own cgroup found, a base taken or made, arbord
 * settled in base/arbord with the controllers enabled, a re-exec's base
 * taken over, and everything undone at the exit. Returns codes and never
 * logs (runtime_cgroup.c says what was found).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cgroup.h"
#include "cgroup_file.h"
#include "faults.h"

/* Where cgroup2 is mounted by arbord as PID 1, and looked for first. */
#define CGROUP2_HOME "/sys/fs/cgroup"

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
	char text[ARB_CGFILE_MAX];

	if (arb_cgfile_read(dirfd, name, text, sizeof(text)) < 0)
		return 0;
	return arb_cgfile_controllers(text);
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

	if (arb_faults_no_cgroup_kill())
		return false;
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
	/* The hierarchy's real root (it has no cgroup.events) is base only
	 * for the system's init: arbord as PID 1 of a mere pid namespace
	 * sees just its own in the root's cgroup.procs, yet shares it. */
	if (as_pid1)
		r = 1;
	else if (faccessat(f->dirfd, "cgroup.events", F_OK, 0) < 0)
		r = 0;
	else
		r = holds_only_me(f->dirfd);
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
	cg->made_base = !f.alone; /* it would be: said as arbord's own */
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

/* Moves arbord into dirfd/leaf's cgroup.procs ("" for dirfd itself). */
static int
move_self(int dirfd, const char *leaf)
{
	char path[PATH_MAX], pid[24];

	snprintf(path, sizeof(path), "%s%scgroup.procs", leaf,
		 *leaf ? "/" : "");
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	return arb_cgfile_write(dirfd, path, pid);
}

/* Undoes a half-made settling: back to origin, arbord's leaf and a made
 * base removed. Best effort: nothing is left to tell. */
static void
unsettle(struct arb_cgroup *cg, int origin_fd)
{
	if (origin_fd >= 0)
		(void)move_self(origin_fd, "");
	if (cg->base_fd >= 0) {
		(void)unlinkat(cg->base_fd, ARB_CG_ARBORD_LEAF, AT_REMOVEDIR);
		(void)close(cg->base_fd);
		cg->base_fd = -1;
	}
	if (cg->made_base)
		(void)rmdir(cg->base);
}

/*
 * A base of the same name left by an arbord that was killed (its arbord
 * and tree cgroups in it, empty) is removed; one that holds a process is
 * a live arbord's (the PID 1 of another pid namespace): -EBUSY.
 */
static int
remove_stale(const char *base)
{
	char path[PATH_MAX], text[ARB_CGFILE_MAX];
	ssize_t n;
	int r;

	if (snprintf(path, sizeof(path), "%s/cgroup.events", base) >=
	    (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	n = arb_cgfile_read(AT_FDCWD, path, text, sizeof(text));
	if (n < 0) {
		errno = (int)-n;
		return -1;
	}
	if (arb_cgfile_keyed(text, "populated") != 0) {
		errno = EBUSY;
		return -1;
	}
	r = arb_cgfile_remove_tree(AT_FDCWD, base);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return 0;
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
		/* One there already is another arbord's of the same pid (a
		 * pid namespace's PID 1), or a stale one, empty, of a killed
		 * arbord: that one goes, the other is never shared. */
		if (mkdir(cg->base, 0755) < 0 &&
		    (errno != EEXIST || remove_stale(cg->base) < 0 ||
		     mkdir(cg->base, 0755) < 0)) {
			cg->why_off = errno == EBUSY || errno == ENOTEMPTY
					      ? "arbord-PID in use"
					      : "cannot make base";
			return -1;
		}
		cg->made_base = true;
	}
	cg->base_fd = open(cg->base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg->base_fd < 0) {
		cg->why_off = "cannot open base";
		goto fail;
	}
	if (mkdirat(cg->base_fd, ARB_CG_ARBORD_LEAF, 0755) < 0 && errno != EEXIST) {
		cg->why_off = "cannot make arbord's leaf";
		goto fail;
	}
	if (move_self(cg->base_fd, ARB_CG_ARBORD_LEAF) < 0) {
		cg->why_off = "cannot move into arbord's leaf";
		goto fail;
	}
	/* What base really offers, now that it exists (a root cgroup has
	 * no cgroup.kill: base, made below it, tells). */
	cg->controllers = arb_cgfile_enable(
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
	const char *slash;

	cg->base = strdup(resumed_base);
	if (!cg->base) {
		cg->why_off = "out of memory";
		return -1;
	}
	slash = strrchr(cg->base, '/');
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
		/* A resumed tree runs in these cgroups: they are left as
		 * they are, never emptied. A new one has nothing in them. */
		if (resumed_base)
			arb_cgroup_release(cg);
		else
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

/* ---- leaving ---- */

/* How long arbord, leaving, waits for the tree's last processes to die. */
#define LEAVE_WAIT_MS 2000

/* Whether base/rel/cgroup.events says populated 1. */
static bool
populated_at(int base_fd, const char *rel)
{
	char path[ARB_CG_REL_MAX + 16], text[ARB_CGFILE_MAX];

	snprintf(path, sizeof(path), "%s/cgroup.events", rel);
	return arb_cgfile_read(base_fd, path, text, sizeof(text)) > 0 &&
	       arb_cgfile_keyed(text, "populated") == 1;
}

/*
 * The tree should be empty when arbord leaves; where it is not (arbord
 * leaves after a deadline, its core lost), what is left is killed, and
 * waited for through inotify for at most LEAVE_WAIT_MS: its cgroups can
 * then be removed. Nothing to do in the common case but one read. Before
 * Linux 5.14 (no cgroup.kill, which kills a whole subtree) what is left
 * stays, and so do its cgroups.
 */
static void
empty_tree(struct arb_cgroup *cg)
{
	char path[PATH_MAX];
	struct pollfd p = {.fd = -1, .events = POLLIN};
	int64_t waited = 0;

	if (!cg->has_kill || !populated_at(cg->base_fd, ARB_CG_TREE))
		return;
	(void)arb_cgfile_write(cg->base_fd, ARB_CG_TREE "/cgroup.kill", "1");
	p.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	snprintf(path, sizeof(path), "%s/%s/cgroup.events", cg->base,
		 ARB_CG_TREE);
	if (p.fd >= 0 && inotify_add_watch(p.fd, path, IN_MODIFY) < 0) {
		(void)close(p.fd);
		p.fd = -1;
	}
	while (populated_at(cg->base_fd, ARB_CG_TREE) && waited < LEAVE_WAIT_MS) {
		char buf[4096];

		/* Without inotify, a coarse wait: arbord is leaving anyway. */
		(void)poll(p.fd >= 0 ? &p : NULL, p.fd >= 0 ? 1 : 0, 50);
		if (p.fd >= 0)
			while (read(p.fd, buf, sizeof(buf)) > 0)
				;
		waited += 50; /* at most: a wake-up may come sooner */
	}
	if (p.fd >= 0)
		(void)close(p.fd);
}

void
arb_cgroup_close(struct arb_cgroup *cg)
{
	int origin_fd = -1;

	if (cg->base_fd >= 0) {
		empty_tree(cg);
		(void)arb_cgfile_remove_tree(cg->base_fd, ARB_CG_TREE);
		if (cg->origin)
			origin_fd = open(cg->origin,
					 O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		/* Alone in base, arbord goes back to it: its controllers
		 * first, or a cgroup with processes could not hold them. */
		if (!cg->made_base && cg->controllers) {
			char text[64];

			arb_cgfile_control_text('-', cg->controllers, text, sizeof(text));
			(void)arb_cgfile_write(cg->base_fd, "cgroup.subtree_control",
					  text);
		}
		unsettle(cg, origin_fd);
		if (origin_fd >= 0)
			(void)close(origin_fd);
	}
	arb_cgroup_release(cg);
	cg->why_off = "closed";
}
