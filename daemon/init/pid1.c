/*
 * pid1.c - what only PID 1 does (pid1.h): the console, ctrl-alt-del, the
 * early mounts, the hostname, and the last steps of a shutdown: kill(-1),
 * sync, unmount, reboot(2). No decisions (shutdown.c and init.c make
 * them) and no logging (main.c and init.c print the results). Every
 * call that could reach past arbord's own processes checks getpid() here.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pid1.h"

/* The inode of the initial pid namespace (PROC_PID_INIT_INO, Linux 3.8). */
#define INITIAL_PID_NS_INO 0xEFFFFFFCu

/* Mount points read from /proc/self/mounts at shutdown. */
#define MOUNTS_MAX 256

static bool
is_pid1(void)
{
	return getpid() == 1;
}

/*
 * A pid namespace other than the initial one, or $container (systemd's
 * convention, set by docker, podman, lxc, systemd-nspawn). Without /proc
 * (an initramfs before its mounts) only the variable can tell.
 */
static bool
detect_container(void)
{
	const char *var = getenv("container");
	struct stat st;

	if (var && *var)
		return true;
	return stat("/proc/self/ns/pid", &st) == 0 &&
	       st.st_ino != INITIAL_PID_NS_INO;
}

void
arb_pid1_detect(enum arb_mode_force force, struct arb_mode *ret)
{
	struct arb_mode m = {.real_pid1 = is_pid1()};

	m.in_container = detect_container();
	switch (force) {
	case ARB_FORCE_INIT:
		m.pid1 = true;
		break;
	case ARB_FORCE_CONTAINER:
		m.pid1 = m.container = true;
		break;
	case ARB_FORCE_NONE:
		m.pid1 = m.real_pid1;
		m.container = m.real_pid1 && m.in_container;
		break;
	}
	*ret = m;
}

void
arb_pid1_block_signals(void)
{
	sigset_t all;

	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
}

static bool
fd_is_tty(int fd)
{
	return fcntl(fd, F_GETFD) >= 0 && isatty(fd);
}

/* fds 0-2 onto /dev/console where they are closed or not a terminal. */
static int
open_console(void)
{
	int fd;

	if (fd_is_tty(0) && fd_is_tty(1) && fd_is_tty(2))
		return 1;
	fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (int i = 0; i <= 2; i++)
		if (i != fd && !fd_is_tty(i))
			(void)dup2(fd, i); /* dup2 clears close-on-exec */
	if (fd > 2)
		close(fd);
	else
		(void)fcntl(fd, F_SETFD, 0);
	return 0;
}

/* Whether path is a mount point: on another device than "/". */
static int
mount_point(const char *path)
{
	struct stat st, root;

	if (stat("/", &root) < 0)
		return -errno;
	if (stat(path, &st) < 0)
		return -errno;
	return st.st_dev != root.st_dev;
}

static int
early_mount(const char *target, const char *fstype, unsigned long flags,
	    const char *data)
{
	int r = mount_point(target);

	if (r == -ENOENT && mkdir(target, 0755) == 0)
		r = 0;
	if (r != 0)
		return r; /* 1: already one; else -errno */
	if (mount(fstype, target, fstype, flags, data) < 0)
		return -errno;
	return 0;
}

/* The first word of /etc/hostname; lines starting with '#' are comments. */
static int
set_hostname(char *buf, size_t size)
{
	FILE *f = fopen("/etc/hostname", "re");
	char line[256];
	int r = 1;

	if (!f)
		return errno == ENOENT ? 1 : -errno;
	while (fgets(line, sizeof(line), f)) {
		size_t n = strcspn(line, " \t\r\n#");

		if (n == 0 || line[0] == '#')
			continue;
		if (n >= size)
			n = size - 1;
		memcpy(buf, line, n);
		buf[n] = '\0';
		r = sethostname(buf, n) < 0 ? -errno : 0;
		break;
	}
	(void)fclose(f);
	return r;
}

void
arb_pid1_boot(const struct arb_mode *m, struct arb_pid1_boot *ret)
{
	static const struct {
		const char *target, *fstype, *data;
		unsigned long flags;
	} mounts[4] = {
		{"/proc", "proc", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC},
		{"/sys", "sysfs", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC},
		{"/dev", "devtmpfs", "mode=0755", MS_NOSUID},
		{"/run", "tmpfs", "mode=0755", MS_NOSUID | MS_NODEV},
	};
	bool host = !m->in_container;

	memset(ret, 0, sizeof(*ret));
	if (!is_pid1())
		return;
	ret->ran = true;
	ret->console = host ? open_console() : 1;
	ret->cad = reboot(RB_DISABLE_CAD) < 0 ? -errno : 0;
	for (int i = 0; i < 4; i++) {
		ret->mounts[i].target = mounts[i].target;
		ret->mounts[i].fstype = mounts[i].fstype;
		ret->mounts[i].result = early_mount(mounts[i].target,
						    mounts[i].fstype,
						    mounts[i].flags,
						    mounts[i].data);
	}
	/* Without a /dev/console node the kernel gave us none: try again. */
	if (host && ret->console < 0)
		ret->console = open_console();
	ret->hostname = host ? set_hostname(ret->hostname_value,
					    sizeof(ret->hostname_value))
			     : 1;
}

int
arb_pid1_signal_all(const struct arb_mode *m, int signo)
{
	if (!is_pid1())
		return -EPERM;
	return kill(-1, signo) < 0 ? -errno : 0;
}

bool
arb_pid1_children_left(void)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	return waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0 ||
	       errno != ECHILD;
}

void
arb_pid1_sync(void)
{
	sync();
}

/* The mount points of /proc/self/mounts, in mount order; octal escapes
 * (\040 for a space) decoded. Returns how many, or -errno. */
static int
read_mounts(char (*targets)[256], int max)
{
	FILE *f = fopen("/proc/self/mounts", "re");
	char line[1024];
	int n = 0;

	if (!f)
		return -errno;
	while (n < max && fgets(line, sizeof(line), f)) {
		char *p = strchr(line, ' '), *out = targets[n];
		size_t len = 0;

		if (!p)
			continue;
		for (p++; *p && *p != ' ' && len < 255; p++) {
			if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' &&
			    p[2] >= '0' && p[2] <= '7' && p[3] >= '0' &&
			    p[3] <= '7') {
				out[len++] = (char)((p[1] - '0') * 64 +
						    (p[2] - '0') * 8 +
						    (p[3] - '0'));
				p += 3;
			} else {
				out[len++] = *p;
			}
		}
		out[len] = '\0';
		n++;
	}
	(void)fclose(f);
	return n;
}

int
arb_pid1_unmount(const struct arb_mode *m, struct arb_pid1_unmount *ret)
{
	static char targets[MOUNTS_MAX][256];
	int n;

	memset(ret, 0, sizeof(*ret));
	if (!is_pid1() || m->in_container)
		return -EPERM;
	n = read_mounts(targets, MOUNTS_MAX);
	if (n < 0)
		return n;
	for (int i = n - 1; i >= 0; i--) {
		const char *t = targets[i];

		if (strcmp(t, "/") != 0 && umount2(t, 0) == 0)
			ret->unmounted++;
		else if (mount(NULL, t, NULL, MS_REMOUNT | MS_RDONLY, NULL) == 0)
			ret->readonly++;
		else if (ret->failed++ == 0) {
			ret->failed_errno = errno;
			(void)snprintf(ret->failed_at, sizeof(ret->failed_at),
				       "%s", t);
		}
	}
	return 0;
}

int
arb_pid1_reboot(const struct arb_mode *m, enum arb_final final)
{
	int cmd;

	switch (final) {
	case ARB_FINAL_POWEROFF:
		cmd = RB_POWER_OFF;
		break;
	case ARB_FINAL_REBOOT:
		cmd = RB_AUTOBOOT;
		break;
	case ARB_FINAL_HALT:
		cmd = RB_HALT_SYSTEM;
		break;
	default:
		return -EINVAL;
	}
	if (!is_pid1())
		return -EPERM;
	return reboot(cmd) < 0 ? -errno : 0;
}
