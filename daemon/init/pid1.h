/*
 * pid1.h - init duties: what arbord does because it is PID 1, and the only
 * module that knows whether it is (STYLE.md 7).
 *
 * Everything that could hurt the host is guarded here, not by callers:
 * kill(-1), reboot(2) and the early mounts happen only when getpid() is 1
 * (in a pid namespace that is the namespace's init, and reboot(2) ends the
 * namespace, not the machine); the console, the hostname and unmounting
 * only when arbord is, in addition, not in a container, whose console,
 * hostname and file systems are the host's.
 */
#ifndef ARB_PID1_H
#define ARB_PID1_H

#include <stdbool.h>

#include "core/shutdown.h"

/*
 * How arbord runs, decided once by main.c and handed to the runtime (and
 * to whatever else depends on it, such as where children's output goes).
 *
 *   pid1 container  mode
 *   no   no         a service manager: SIGTERM stops the tree and arbord
 *                   exits (M10)
 *   yes  no         the system's init: never exits; signals and arborctl
 *                   power off, reboot or halt; on_giveup applies
 *   yes  yes        a container's init: SIGTERM stops the tree and arbord
 *                   exits with the root's status; signals are forwarded
 */
struct arb_mode {
	bool pid1;         /* PID 1, or told to act as one (--init, --container) */
	bool container;    /* a container's init rather than the system's */
	bool in_container; /* detected: a pid namespace other than the initial
			      one, or $container set */
	bool real_pid1;    /* getpid() == 1 */
};

enum arb_mode_force {
	ARB_FORCE_NONE,
	ARB_FORCE_INIT,      /* --init: the system's init, wherever it runs */
	ARB_FORCE_CONTAINER, /* --container: a container's init */
};

/* The system's init: pid1 and not container. */
static inline bool
arb_mode_is_init(const struct arb_mode *m)
{
	return m->pid1 && !m->container;
}

/*
 * Detects PID 1 and a container, then applies force. Without a force, PID 1
 * in a container is a container's init, and PID 1 elsewhere the system's.
 */
void arb_pid1_detect(enum arb_mode_force force, struct arb_mode *ret);

/* Blocks every signal until the event loop takes them (runtime.c). */
void arb_pid1_block_signals(void);

/* What arb_pid1_boot did, for main.c to print. 0 or -errno each. */
struct arb_pid1_boot {
	bool ran;     /* false: not PID 1, nothing was tried */
	int console;  /* fds 0-2 onto /dev/console; 1: they already were */
	int cad;      /* reboot(RB_DISABLE_CAD) */
	struct arb_pid1_mount {
		const char *target, *fstype;
		int result; /* 0 mounted, 1 already a mount point, -errno */
	} mounts[4];
	int hostname; /* 1: no /etc/hostname */
	char hostname_value[65];
};

/*
 * The system init's boot (STYLE.md 7): the console for fds 0-2 when they
 * are closed or not a terminal (not in a container), ctrl-alt-del as
 * SIGINT, /proc, /sys, /dev (devtmpfs) and /run (tmpfs) where nothing is
 * mounted yet, each failure tolerated, and the hostname from /etc/hostname
 * (not in a container). Nothing at all unless getpid() is 1.
 */
void arb_pid1_boot(const struct arb_mode *m, struct arb_pid1_boot *ret);

/* kill(-1, signo): every process but arbord. -EPERM unless PID 1. */
int arb_pid1_signal_all(const struct arb_mode *m, int signo);

/*
 * Whether arbord has a child left, without reaping it (runtime.c reaps). As
 * PID 1 every process is a descendant, and orphans come to arbord: none
 * left means no process left.
 */
bool arb_pid1_children_left(void);

void arb_pid1_sync(void);

struct arb_pid1_unmount {
	int unmounted, readonly, failed;
	char failed_at[256]; /* the first that failed, and why (errno) */
	int failed_errno;
};

/*
 * Unmounts every file system but the root, most recent first, and remounts
 * read-only those that cannot be (the root included). -EPERM without
 * doing anything unless PID 1 outside a container: a remount there would
 * change the host's file systems.
 */
int arb_pid1_unmount(const struct arb_mode *m, struct arb_pid1_unmount *ret);

/*
 * reboot(2) with final (not ARB_FINAL_EXIT). Returns only on failure, or
 * -EPERM at once unless PID 1.
 */
int arb_pid1_reboot(const struct arb_mode *m, enum arb_final final);

#endif
