/*
 * spawn.c - starting one service process.
 *
 * The child is a clone of arbord without CLONE_VFORK: arbord goes on at
 * once, and nothing the child does before exec can stop the loop (a cwd or
 * program on a file system that does not answer holds that child alone,
 * and a stop can SIGKILL it). Where the child side can make raw syscalls
 * (x86-64), it shares arbord's memory (CLONE_VM) on a stack and argument
 * block of its own, as posix_spawn does, so no page tables are copied and
 * no page of arbord's becomes copy-on-write; it must then write nothing of
 * arbord's but its block and the pid slots of its own environment, and
 * never errno: the TLS is arbord's, which runs meanwhile, so every call is
 * a raw syscall that returns -errno. The block is arbord's again only when
 * the child has left the memory: EOF at exec, or its death (a failing
 * child reports and exits in one asm sequence that touches no memory).
 * Elsewhere the child gets a copy-on-write copy of the memory instead.
 * A child with a cgroup starts in it (clone3's CLONE_INTO_CGROUP, through
 * an asm trampoline where it shares the memory: glibc's clone3 is not
 * public), so that nothing it runs is ever outside; where clone3 refuses
 * (before Linux 5.7), the spawner remembers it, clones as before, and the
 * child moves itself through cgroup.procs before its other steps.
 * The child reports through a close-on-exec, non-blocking status pipe
 * that the loop watches: a word when it has its own descriptor table,
 * errno and step when it fails, EOF at exec. How its environment is made
 * is envp.c's job, how its sockets are, listen.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/close_range.h>

#include "core/limits.h"
#include "faults.h"
#include "spawn.h"

#define CHILD_STACK_SIZE (64 * 1024)

/*
 * The child runs on a stack the sanitizers do not know, maybe in memory it
 * shares with arbord: their bookkeeping there (ASan's unpoisoning before
 * a noreturn call) would corrupt arbord's. Keep them out.
 */
#define CHILD_SIDE __attribute__((no_sanitize("address", "undefined")))

/*
 * The child's syscalls: -errno on failure, errno untouched. Raw on x86-64,
 * where the child may share arbord's memory (SHARE_MEMORY); elsewhere
 * through glibc, whose errno is then the child's own copy.
 */
#if defined(__x86_64__)
#define SHARE_MEMORY 1
CHILD_SIDE static inline long
csys(long nr, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret = nr;

	__asm__ volatile("syscall"
			 : "+a"(ret)
			 : "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}
#else
#define SHARE_MEMORY 0
CHILD_SIDE static inline long
csys(long nr, long a, long b, long c, long d, long e, long f)
{
	long ret = syscall(nr, a, b, c, d, e, f);

	return ret < 0 ? -errno : ret;
}
#endif

#define CSYS1(nr, a) csys(nr, (long)(a), 0, 0, 0, 0, 0)
#define CSYS2(nr, a, b) csys(nr, (long)(a), (long)(b), 0, 0, 0, 0)
#define CSYS3(nr, a, b, c) csys(nr, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define CSYS4(nr, a, b, c, d) \
	csys(nr, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)

/* What the child was doing when it failed, for the diagnostic. */
enum step {
	STEP_SETSID,
	STEP_RLIMIT,
	STEP_NICE,
	STEP_CHDIR,
	STEP_SETGROUPS,
	STEP_SETGID,
	STEP_SETUID,
	STEP_NO_NEW_PRIVS,
	STEP_FDS,
	STEP_EXEC,
	STEP_CGROUP,
	_STEP_MAX,
	STEP_TABLE_TAKEN = 64 /* not a failure: the slots are free again */
};

static const char *const step_names[_STEP_MAX] = {
	[STEP_SETSID] = "setsid",
	[STEP_RLIMIT] = "setrlimit",
	[STEP_NICE] = "setpriority",
	[STEP_CHDIR] = "chdir",
	[STEP_SETGROUPS] = "setgroups",
	[STEP_SETGID] = "setresgid",
	[STEP_SETUID] = "setresuid",
	[STEP_NO_NEW_PRIVS] = "no_new_privileges",
	[STEP_FDS] = "descriptors",
	[STEP_EXEC] = "exec",
	[STEP_CGROUP] = "cgroup",
};

/*
 * What the child writes to the status pipe, each in one atomic write: its
 * descriptor table is its own (STEP_TABLE_TAKEN, when it shared arbord's),
 * or it failed (errno and step), then nothing more.
 */
struct status_msg {
	int err;
	int step; /* enum step */
};

_Static_assert(ARB_SPAWN_SLOTS <= 32, "a start's slots are bits of a word");

/* The spec's gid list goes to the kernel as it is. */
_Static_assert(sizeof(gid_t) == sizeof(uint32_t), "gid_t is 32 bits");

/* Where the plain calls still take 16-bit ids, the 32-bit ones. */
#ifdef SYS_setgroups32
#define SYS_SETGROUPS SYS_setgroups32
#define SYS_SETRESGID SYS_setresgid32
#define SYS_SETRESUID SYS_setresuid32
#else
#define SYS_SETGROUPS SYS_setgroups
#define SYS_SETRESGID SYS_setresgid
#define SYS_SETRESUID SYS_setresuid
#endif

struct child_args {
	const struct arb_spec_node *n;
	char *const *envp;
	char *pid_at[2];  /* the env's pid slots (envp.h), NULL when absent */
	int stdin_fd;
	int stdout_fd, stderr_fd; /* -1: keep arbord's */
	const int *listen_fds;
	int nlisten;
	int ready_fd;     /* source of n->ready_fd, or -1 */
	int hi;           /* above every descriptor the child is given */
	bool set_groups;  /* with n->set_ids: setgroups too */
	uint64_t altered; /* signals to put back to SIG_DFL */
	int max_fd;       /* above every descriptor arbord may hold */
	int unshare_below; /* > 0: the table is arbord's (CLONE_FILES); keep
			    * a copy of the descriptors below this only */
	int low_top;       /* arbord's low descriptors, slots included, are
			    * below this: dropped before any step can hang */
	bool restore_nofile;          /* copied from the spawner, which */
	uint64_t nofile_cur, nofile_max; /* arbord may change meanwhile */
	int status_fd; /* write end of the close-on-exec status pipe */
	int cgroup_fd; /* the cgroup the child moves itself into, when clone3
			* could not start it there; else -1 */
	sigset_t mask; /* what the child unblocks to: nothing */
	int listen_slots[ARB_LISTEN_MAX]; /* listen_fds, when in slots */
};

/*
 * Reports err (a -errno) at step and exits 127. With shared memory the
 * parent may reuse this stack as soon as it has read the message: the
 * write and the exit are one asm sequence, which touches no memory after
 * the write.
 */
CHILD_SIDE __attribute__((noreturn)) static void
report_and_exit(int status_fd, enum step step, long err)
{
	struct status_msg msg = {.err = (int)-err, .step = (int)step};
#if defined(__x86_64__)
	long nr = SYS_write;

	__asm__ volatile("syscall\n\t"
			 "movl %[exit_nr], %%eax\n\t"
			 "movl $127, %%edi\n\t"
			 "syscall\n\t"
			 "hlt"
			 : "+a"(nr)
			 : "D"((long)status_fd), "S"(&msg),
			   "d"((long)sizeof(msg)),
			   [exit_nr] "i"(SYS_exit_group)
			 : "rcx", "r11", "memory");
	__builtin_unreachable();
#else
	(void)CSYS3(SYS_write, status_fd, &msg, sizeof(msg));
	for (;;)
		(void)CSYS1(SYS_exit_group, 127);
#endif
}

/* glibc's sigaction() refuses its reserved 32 and 33. 0 or -errno. */
CHILD_SIDE static long
raw_sigaction(int sig, const void *act, void *old)
{
	return CSYS4(SYS_rt_sigaction, sig, act, old, _NSIG / 8);
}

/*
 * A service's child resets every signal arbord handles or ignores: a
 * handler of arbord's must not run in the child, and an ignored signal
 * survives exec (GNU make ignores 32 and 33, so a service started under
 * `make check` would inherit them). A zeroed kernel sigaction is SIG_DFL
 * with no flags and an empty mask; dispositions are not shared (no
 * CLONE_SIGHAND), so this touches only the child.
 */
CHILD_SIDE void
arb_spawn_reset_signals(uint64_t which)
{
	static const unsigned long dfl[8];

	for (int sig = 1; sig < _NSIG && sig <= 64; sig++)
		if (sig != SIGKILL && sig != SIGSTOP &&
		    (which & (UINT64_C(1) << (sig - 1))))
			(void)raw_sigaction(sig, dfl, NULL);
}

/* The kernel's struct rlimit64; ARB_RLIM_INFINITY is its RLIM64_INFINITY. */
struct raw_rlimit {
	uint64_t cur, max;
};

/*
 * Limits, priority, umask, identity and directory, in that order: limits
 * and a lower nice value may need privileges the new identity lacks, and
 * the directory is entered as the service's user, so that one it may not
 * enter is an error (not a cwd it could never have reached), and one only
 * it may enter (NFS with root squashed) works. The credentials are raw
 * syscalls: glibc's wrappers would broadcast the change to every thread
 * of the process they think they are in, which is arbord.
 */
CHILD_SIDE static void
set_context(const struct child_args *a)
{
	const struct arb_spec_node *n = a->n;
	long r;

	if (a->restore_nofile) {
		struct raw_rlimit lim = {a->nofile_cur, a->nofile_max};

		r = CSYS4(SYS_prlimit64, 0, RLIMIT_NOFILE, &lim, NULL);
		if (r < 0)
			report_and_exit(a->status_fd, STEP_RLIMIT, r);
	}
	for (uint32_t i = 0; i < n->nrlimits; i++) {
		struct raw_rlimit lim = {n->rlimits[i].soft,
					 n->rlimits[i].hard};

		r = CSYS4(SYS_prlimit64, 0, n->rlimits[i].resource, &lim,
			  NULL);
		if (r < 0)
			report_and_exit(a->status_fd, STEP_RLIMIT, r);
	}
	if (n->set_nice &&
	    (r = CSYS3(SYS_setpriority, PRIO_PROCESS, 0, n->nice)) < 0)
		report_and_exit(a->status_fd, STEP_NICE, r);
	if (n->umask >= 0)
		(void)CSYS1(SYS_umask, n->umask);
	if (n->set_ids) {
		if (a->set_groups &&
		    (r = CSYS2(SYS_SETGROUPS, n->ngroups, n->groups)) < 0)
			report_and_exit(a->status_fd, STEP_SETGROUPS, r);
		if ((r = CSYS3(SYS_SETRESGID, n->gid, n->gid, n->gid)) < 0)
			report_and_exit(a->status_fd, STEP_SETGID, r);
		if ((r = CSYS3(SYS_SETRESUID, n->uid, n->uid, n->uid)) < 0)
			report_and_exit(a->status_fd, STEP_SETUID, r);
	}
	if (n->cwd && (r = CSYS1(SYS_chdir, n->cwd)) < 0)
		report_and_exit(a->status_fd, STEP_CHDIR, r);
	if (n->no_new_privileges &&
	    (r = CSYS4(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0)) < 0)
		report_and_exit(a->status_fd, STEP_NO_NEW_PRIVS, r);
}

/*
 * Everything past stderr closes at exec, the status pipe included (it must
 * stay open until then). close_range() does it in one call from Linux 5.11;
 * older kernels get the loop.
 */
CHILD_SIDE static void
mark_cloexec_from_3(int max_fd)
{
	if (CSYS3(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
	for (int fd = 3; fd < max_fd; fd++)
		(void)CSYS3(SYS_fcntl, fd, F_SETFD, FD_CLOEXEC);
}

/* Moves *fd to a close-on-exec copy at hi or above, if it is below. */
CHILD_SIDE static long
move_above(int *fd, int hi)
{
	long moved;

	if (*fd >= hi)
		return 0;
	moved = CSYS3(SYS_fcntl, *fd, F_DUPFD_CLOEXEC, hi);
	if (moved < 0)
		return moved;
	*fd = (int)moved;
	return 0;
}

/* dup2() as dup3() (no dup2 on every architecture), and a no-op on itself. */
CHILD_SIDE static long
dup_to(int from, int to)
{
	return from == to ? 0 : CSYS3(SYS_dup3, from, to, 0);
}

/*
 * stdin, then the sockets on 3, 4, ... and the readiness pipe on
 * n->ready_fd. A source may sit on another's target (arbord's own
 * descriptors have low numbers too), so every source below the highest
 * target, and the status pipe, first move above it; then everything is
 * marked close-on-exec and the dups, whose copies are not, come last.
 * 0 or -errno.
 */
CHILD_SIDE static long
place_fds(const struct child_args *a, int *status_fd)
{
	int src[ARB_LISTEN_MAX], ready = a->ready_fd;
	long r;

	if ((r = dup_to(a->stdin_fd, 0)) < 0)
		return r;
	/* Pipes arbord made after its 0-2 were filled: all above 2. */
	if (a->stdout_fd >= 0 && (r = dup_to(a->stdout_fd, 1)) < 0)
		return r;
	if (a->stderr_fd >= 0 && (r = dup_to(a->stderr_fd, 2)) < 0)
		return r;
	if ((r = move_above(status_fd, a->hi)) < 0)
		return r;
	for (int i = 0; i < a->nlisten; i++) {
		src[i] = a->listen_fds[i];
		if ((r = move_above(&src[i], a->hi)) < 0)
			return r;
	}
	if (ready >= 0 && (r = move_above(&ready, a->hi)) < 0)
		return r;
	mark_cloexec_from_3(a->max_fd);
	for (int i = 0; i < a->nlisten; i++)
		if ((r = dup_to(src[i], 3 + i)) < 0)
			return r;
	if (ready >= 0 && (r = dup_to(ready, a->n->ready_fd)) < 0)
		return r;
	return 0;
}

/* Whether fd is one the child is handed (or its status pipe). */
CHILD_SIDE static bool
is_own(const struct child_args *a, int fd, int status_fd)
{
	if (fd == status_fd || fd == a->stdin_fd || fd == a->stdout_fd ||
	    fd == a->stderr_fd || fd == a->ready_fd)
		return true;
	for (int i = 0; i < a->nlisten; i++)
		if (a->listen_fds[i] == fd)
			return true;
	return false;
}

/*
 * Closes arbord's low descriptors that are not the child's, before any
 * step that can hang: the slots may hold another start's status pipe, and
 * a child stuck in chdir would keep that start from ever ending. The rest
 * of arbord's descriptors are close-on-exec (and, sharing the table, not
 * even copied).
 */
CHILD_SIDE static void
drop_others(const struct child_args *a, int status_fd)
{
	for (int fd = 3; fd < a->low_top; fd++)
		if (!is_own(a, fd, status_fd))
			(void)CSYS1(SYS_close, fd);
}

/* The child's pid, in decimal, into a slot of ARB_ENVP_PID_ROOM bytes. */
CHILD_SIDE static void
write_pid(char *at, long pid)
{
	char digits[ARB_ENVP_PID_ROOM];
	int len = 0;

	do {
		digits[len++] = (char)('0' + pid % 10);
		pid /= 10;
	} while (pid > 0 && len < ARB_ENVP_PID_ROOM - 1);
	for (int i = 0; i < len; i++)
		at[i] = digits[len - 1 - i];
	at[len] = '\0';
}

/*
 * Where clone3 cannot start the child in its cgroup (before Linux 5.7),
 * the child moves itself there ("0" is the writer itself). Slower than
 * clone3: the write may wait for an RCU grace period (the kernel's
 * threadgroup lock; 10-15 ms seen here), but it holds only this child.
 * 0 or -errno.
 */
CHILD_SIDE static long
join_cgroup(int cgroup_fd)
{
	long procs, r;

	procs = CSYS4(SYS_openat, cgroup_fd, "cgroup.procs",
		      O_WRONLY | O_CLOEXEC, 0);
	if (procs < 0)
		return procs;
	r = CSYS3(SYS_write, procs, "0", 1);
	(void)CSYS1(SYS_close, procs);
	return r < 0 ? r : 0;
}

CHILD_SIDE static int
child_main(void *arg)
{
	const struct child_args *a = arg;
	int status_fd = a->status_fd;
	long pid, r;

	/* First of all: a table of our own, before anything changes it. */
	if (a->unshare_below > 0 &&
	    (r = CSYS3(SYS_close_range, a->unshare_below, ~0U,
		       CLOSE_RANGE_UNSHARE)) < 0 &&
	    (r = CSYS1(SYS_unshare, CLONE_FILES)) < 0)
		report_and_exit(status_fd, STEP_FDS, r);
	/*
	 * Then into the cgroup, if clone3 did not start us there: before
	 * any step that could hang or take resources. After the table, so
	 * that the descriptor of cgroup.procs is never in arbord's.
	 */
	if (a->cgroup_fd >= 0 && (r = join_cgroup(a->cgroup_fd)) < 0)
		report_and_exit(status_fd, STEP_CGROUP, r);
	drop_others(a, status_fd);
	if (a->unshare_below > 0) {
		/* arbord may reuse its slots now. */
		struct status_msg taken = {.err = 0, .step = STEP_TABLE_TAKEN};

		(void)CSYS3(SYS_write, status_fd, &taken, sizeof(taken));
	}
	arb_spawn_reset_signals(a->altered);
	if ((r = CSYS1(SYS_setsid, 0)) < 0)
		report_and_exit(status_fd, STEP_SETSID, r);
	set_context(a);
	if ((r = place_fds(a, &status_fd)) < 0)
		report_and_exit(status_fd, STEP_FDS, r);
	/* This start's own environment: no other child reads it meanwhile. */
	pid = CSYS1(SYS_getpid, 0);
	for (int i = 0; i < 2; i++)
		if (a->pid_at[i])
			write_pid(a->pid_at[i], pid);
	(void)CSYS4(SYS_rt_sigprocmask, SIG_SETMASK, &a->mask, NULL, _NSIG / 8);
	r = CSYS3(SYS_execve, a->n->exec_path, a->n->argv, a->envp);
	report_and_exit(status_fd, STEP_EXEC, r);
}

void
arb_spawner_refresh(struct arb_spawner *sp)
{
	unsigned long old[8];

	sp->altered = 0;
	for (int sig = 1; sig < _NSIG && sig <= 64; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		/* old[0] is the handler: anything but SIG_DFL (0) is reset. */
		memset(old, 0, sizeof(old));
		if (raw_sigaction(sig, NULL, old) == 0 &&
		    old[0] != (unsigned long)SIG_DFL)
			sp->altered |= UINT64_C(1) << (sig - 1);
	}
}

int
arb_spawner_init(struct arb_spawner *sp, int stdin_fd)
{
	struct rlimit nofile;

	sp->page = (size_t)sysconf(_SC_PAGESIZE);
	sp->nblocks = 0;
	sp->max_fd = 65536;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < 65536)
		sp->max_fd = (int)nofile.rlim_cur;
	sp->stdin_fd = stdin_fd;
	/*
	 * The lowest free numbers: before the services' pipes take them.
	 * Only where the child can then take its own table: a seccomp
	 * filter may refuse close_range and unshare, and a child sharing
	 * arbord's table could not start. The probe does nothing otherwise
	 * (an unshared table, an empty range).
	 */
	sp->cgroup_by_procs = false;
	sp->nslots = 0;
	sp->slot_top = 0;
	sp->slots_busy = 0;
	if (syscall(SYS_close_range, ~0U, ~0U, CLOSE_RANGE_UNSHARE) < 0)
		goto slots_done;
	for (int i = 0; i < ARB_SPAWN_SLOTS; i++) {
		int fd = fcntl(stdin_fd, F_DUPFD_CLOEXEC, 3);

		if (fd < 0)
			break;
		sp->slots[sp->nslots++] = fd;
		if (fd + 1 > sp->slot_top)
			sp->slot_top = fd + 1;
	}
slots_done:
	arb_spawner_refresh(sp);
	return 0;
}

static size_t
block_size(const struct arb_spawner *sp)
{
	return sp->page + CHILD_STACK_SIZE;
}

void
arb_spawner_done(struct arb_spawner *sp)
{
	while (sp->nblocks > 0)
		(void)munmap(sp->blocks[--sp->nblocks], block_size(sp));
	for (int i = 0; i < sp->nslots; i++)
		close(sp->slots[i]);
	sp->nslots = 0;
	sp->slot_top = 0;
	sp->slots_busy = 0;
}

/*
 * A start's block: the child's stack, its arguments at the top, and a
 * guard page at the bottom, so that an overflow faults instead of writing
 * over what lies below. Kept for the next start once the child is done
 * with it. NULL on failure (errno set).
 */
static void *
block_get(struct arb_spawner *sp)
{
	char *b;

	if (sp->nblocks > 0)
		return sp->blocks[--sp->nblocks];
	b = mmap(NULL, block_size(sp), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (b == MAP_FAILED)
		return NULL;
	if (mprotect(b, sp->page, PROT_NONE) < 0) {
		int err = errno;

		(void)munmap(b, block_size(sp));
		errno = err;
		return NULL;
	}
	return b;
}

/* Only once no child runs on it: exec'ed, or dead, or exiting (see
 * report_and_exit). */
void
arb_spawner_trim(struct arb_spawner *sp)
{
	while (sp->nblocks > 1)
		(void)munmap(sp->blocks[--sp->nblocks], block_size(sp));
}

static void
block_put(struct arb_spawner *sp, void *b)
{
	if (!b)
		return;
	if (sp->nblocks < ARB_SPAWN_BLOCKS_KEPT)
		sp->blocks[sp->nblocks++] = b;
	else
		(void)munmap(b, block_size(sp));
}

static struct child_args *
block_args(const struct arb_spawner *sp, void *b)
{
	uintptr_t top = (uintptr_t)b + block_size(sp);

	return (struct child_args *)((top - sizeof(struct child_args)) &
				     ~(uintptr_t)63);
}

/*
 * Puts *fd in a free slot, adding the slot to *used; one that is low
 * already (below slot_top, so the child's copy has it) stays when it is
 * `stable`: arbord keeps it open as long as it runs. The others (pipes
 * and a cgroup's directory, which arbord closes once the child exists)
 * always go to a slot: arbord runs on while the child shares its table.
 * false when none is free.
 */
static bool
to_slot(const struct arb_spawner *sp, int *fd, bool stable, uint32_t *used)
{
	uint32_t taken = sp->slots_busy | *used;
	int i = 0;

	if (*fd < 0 || (stable && *fd < sp->slot_top))
		return true;
	while (i < sp->nslots && (taken & (UINT32_C(1) << i)))
		i++;
	if (i == sp->nslots || dup3(*fd, sp->slots[i], O_CLOEXEC) < 0)
		return false;
	*used |= UINT32_C(1) << i;
	*fd = sp->slots[i];
	return true;
}

/*
 * The slots back on /dev/null, free for the next start: arbord must not
 * hold the child's pipes (a status pipe would never reach its end).
 */
static void
free_slots(struct arb_spawner *sp, uint32_t used)
{
	for (int i = 0; i < sp->nslots; i++) {
		if (!(used & (UINT32_C(1) << i)))
			continue;
		if (dup3(sp->stdin_fd, sp->slots[i], O_CLOEXEC) < 0)
			/* Never keep the child's end. */
			(void)close(sp->slots[i]);
		sp->slots_busy &= ~(UINT32_C(1) << i);
	}
}

/*
 * Whether the child can start from arbord's table: everything it is
 * handed moved into free slots (sources and their count in args, the slots
 * in *ret_used, busy until the child has its own table). Else the slots
 * used so far are freed and the child gets a copy of the table.
 */
static bool
use_slots(struct arb_spawner *sp, struct child_args *args, uint32_t *ret_used)
{
	struct child_args t = *args; /* args stay as they are on failure */
	uint32_t used = 0;
	/* Merged streams: one pipe given as both, in one slot. */
	bool merged = args->stdout_fd >= 0 && args->stderr_fd == args->stdout_fd;
	bool ok = to_slot(sp, &t.stdin_fd, true, &used) &&
		  to_slot(sp, &t.stdout_fd, false, &used) &&
		  (merged || to_slot(sp, &t.stderr_fd, false, &used)) &&
		  to_slot(sp, &t.ready_fd, false, &used) &&
		  to_slot(sp, &t.status_fd, false, &used) &&
		  to_slot(sp, &t.cgroup_fd, false, &used);

	if (ok && merged)
		t.stderr_fd = t.stdout_fd;

	for (int i = 0; ok && i < t.nlisten; i++) {
		t.listen_slots[i] = t.listen_fds[i];
		ok = to_slot(sp, &t.listen_slots[i], true, &used);
	}
	if (!ok) {
		free_slots(sp, used);
		return false;
	}
	if (t.nlisten > 0)
		t.listen_fds = args->listen_slots; /* where t's land */
	*args = t;
	sp->slots_busy |= used;
	*ret_used = used;
	return true;
}

/* Whether io fits n: its sockets and its readiness pipe have a place. */
static bool
io_fits(const struct arb_spec_node *n, const struct arb_spawn_io *io)
{
	if (io->nlisten < 0 || io->nlisten > ARB_LISTEN_MAX ||
	    (io->nlisten > 0 && !io->listen_fds))
		return false;
	return io->ready_fd < 0 || n->ready_fd >= 3 + io->nlisten;
}

/* For headers older than the kernel: clone3 came with 5.3 (435 in the
 * common table), CLONE_INTO_CGROUP with 5.7. */
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* The kernel's struct clone_args up to its cgroup (CLONE_ARGS_SIZE_VER2). */
struct clone3_args {
	uint64_t flags;
	uint64_t pidfd, child_tid, parent_tid;
	uint64_t exit_signal;
	uint64_t stack, stack_size; /* its lowest address and its size */
	uint64_t tls;
	uint64_t set_tid, set_tid_size;
	uint64_t cgroup; /* with CLONE_INTO_CGROUP: its directory's fd */
};

_Static_assert(sizeof(struct clone3_args) == 88, "clone_args, version 2");

#if SHARE_MEMORY
/*
 * clone3(args) whose child runs fn(arg) on the stack args gives it, in
 * arbord's memory: glibc has no such wrapper (its __clone3 is internal),
 * so this is one in the manner of its clone3.S. The syscall keeps every
 * register but rax, rcx and r11, and the child starts with them, rax 0
 * and rsp at the top of its stack; it never comes back into this frame,
 * which is the parent's: it aligns its stack, calls fn, and exits 127
 * should fn return. The parent gets the pid, or -errno.
 */
CHILD_SIDE static long
clone3_run(const struct clone3_args *args, int (*fn)(void *), void *arg)
{
	register void *arg_kept __asm__("r8") = arg;
	long ret = SYS_clone3;

	__asm__ volatile("syscall\n\t"
			 "testq %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "xorl %%ebp, %%ebp\n\t" /* the outermost frame */
			 "andq $-16, %%rsp\n\t"
			 "movq %%r8, %%rdi\n\t"
			 "call *%%rdx\n\t"
			 "movl $127, %%edi\n\t"
			 "movl %[exit_nr], %%eax\n\t"
			 "syscall\n\t"
			 "hlt\n"
			 "1:"
			 : "+a"(ret)
			 : "D"(args), "S"(sizeof(*args)), "d"(fn),
			   "r"(arg_kept), [exit_nr] "i"(SYS_exit_group)
			 : "rcx", "r11", "memory");
	return ret;
}
#else
/*
 * Without shared memory clone3 is a fork: the child comes back here, on a
 * copy of arbord's stack (args gives it none), and runs fn(arg) there.
 * The parent gets the pid, or -errno.
 */
CHILD_SIDE static long
clone3_run(const struct clone3_args *args, int (*fn)(void *), void *arg)
{
	long pid = syscall(SYS_clone3, args, sizeof(*args));

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		(void)fn(arg);
		for (;;)
			(void)CSYS1(SYS_exit_group, 127);
	}
	return pid;
}
#endif

/*
 * The child of a, started in the cgroup of cgroup_fd: it never runs
 * outside it. It runs on block's stack when it shares arbord's memory.
 * Its pid, or -errno.
 */
static long
clone_into_cgroup(const struct arb_spawner *sp, void *block,
		  struct child_args *a, int flags, int cgroup_fd)
{
	struct clone3_args args = {.flags = (uint64_t)flags | CLONE_INTO_CGROUP,
				   .exit_signal = SIGCHLD,
				   .cgroup = (uint64_t)cgroup_fd};
	int fault = arb_faults_clone3_error();

	if (fault > 0)
		return -fault;
	if (SHARE_MEMORY) {
		/* Above the guard page, up to the arguments. */
		args.stack = (uintptr_t)block + sp->page;
		args.stack_size = (uintptr_t)a - args.stack;
	}
	return clone3_run(&args, child_main, a);
}

/*
 * clone3 cannot start a child in a cgroup here: it is missing (ENOSYS:
 * before Linux 5.3, or a seccomp filter hides it; EPERM: an older
 * container runtime's filter, as the placement itself never says EPERM),
 * or it lacks CLONE_INTO_CGROUP (before 5.7: E2BIG for arguments longer
 * than it knows, EINVAL for a flag it does not).
 */
static bool
clone3_refused(long err)
{
	return err == -ENOSYS || err == -EPERM || err == -E2BIG ||
	       err == -EINVAL;
}

/*
 * What failed when clone3 could not start a child in its cgroup: the
 * cgroup (not a cgroup2 directory, removed, not a leaf, or not ours to
 * write) or the clone itself, as a child that moves itself would say.
 */
static const char *
clone3_failed_step(long err)
{
	switch (-err) {
	case EBADF:
	case ENOENT:
	case ENODEV:
	case EBUSY:
	case EOPNOTSUPP:
	case EACCES:
		return step_names[STEP_CGROUP];
	default:
		return "clone";
	}
}

/*
 * The child of a, every signal blocked meanwhile so that no handler of
 * ours runs in it before exec: in the cgroup of cgroup_fd from its start
 * (clone3) when that is not -1, else a clone() in arbord's own. Its pid,
 * or -errno.
 */
static long
clone_child(const struct arb_spawner *sp, void *block, struct child_args *a,
	    int flags, int cgroup_fd)
{
	sigset_t all, old;
	long pid;

	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	if (cgroup_fd >= 0)
		pid = clone_into_cgroup(sp, block, a, flags, cgroup_fd);
	else if ((pid = clone(child_main, a, flags | SIGCHLD, a)) < 0)
		pid = -errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	return pid;
}

/* start_child(): clone3 refused to place the child, now learnt; again. */
#define START_AGAIN 1

/*
 * arb_spawn_service(), once: START_AGAIN when clone3 refused to start the
 * child in its cgroup, the first time (nothing is left of the attempt,
 * and sp now knows that the children must move themselves there).
 */
static int
start_child(struct arb_spawner *sp, const struct arb_spec_node *n,
	    struct arb_envp *env, const struct arb_spawn_io *io,
	    struct arb_start *ret_start, const char **failed_step)
{
	struct child_args *a;
	/* Into the cgroup, if any: by clone3, or the child moves itself. */
	bool by_clone3 = io->cgroup_fd >= 0 && !sp->cgroup_by_procs;
	bool moves_itself = io->cgroup_fd >= 0 && sp->cgroup_by_procs;
	int pipefd[2], saved, flags = SHARE_MEMORY ? CLONE_VM : 0;
	long pid;
	uint32_t used = 0;
	void *block;

	block = block_get(sp);
	if (!block) {
		if (failed_step)
			*failed_step = "stack";
		return -errno;
	}
	a = block_args(sp, block);
	*a = (struct child_args){.n = n, .envp = env->v,
				 .pid_at = {env->pid_at[0], env->pid_at[1]},
				 .stdin_fd = sp->stdin_fd,
				 .stdout_fd = io->stdout_fd,
				 .stderr_fd = io->stderr_fd,
				 .listen_fds = io->listen_fds,
				 .nlisten = io->nlisten,
				 .ready_fd = io->ready_fd,
				 .hi = 3 + io->nlisten,
				 .set_groups = true,
				 .altered = sp->altered,
				 .max_fd = sp->max_fd,
				 .low_top = sp->slot_top,
				 .restore_nofile = sp->restore_nofile,
				 .nofile_cur = sp->nofile_cur,
				 .nofile_max = sp->nofile_max,
				 .cgroup_fd = moves_itself ? io->cgroup_fd : -1};
	if (io->ready_fd >= 0 && n->ready_fd >= a->hi)
		a->hi = n->ready_fd + 1;
	/*
	 * Without CAP_SETGID setgroups() fails even for one's own groups: an
	 * unprivileged arbord running a service as itself keeps them.
	 */
	if (n->set_ids && geteuid() != 0 && n->uid == geteuid() &&
	    n->gid == getegid())
		a->set_groups = false;
	if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0) {
		saved = errno;
		block_put(sp, block);
		if (failed_step)
			*failed_step = "pipe";
		return -saved;
	}
	a->status_fd = pipefd[1];
	if (sp->slot_top > 0 && use_slots(sp, a, &used)) {
		flags |= CLONE_FILES;
		a->unshare_below = sp->slot_top;
	}
	sigemptyset(&a->mask);
	pid = clone_child(sp, block, a, flags, by_clone3 ? io->cgroup_fd : -1);
	/* The child has its copy (in a slot, when it shares the table). */
	close(pipefd[1]);
	if (pid < 0) {
		free_slots(sp, used);
		close(pipefd[0]);
		block_put(sp, block);
		if (by_clone3 && clone3_refused(pid)) {
			sp->cgroup_by_procs = true;
			return START_AGAIN;
		}
		if (failed_step)
			*failed_step = by_clone3 ? clone3_failed_step(pid)
						 : "clone";
		return (int)pid;
	}
	ret_start->pid = (int)pid;
	ret_start->status_fd = pipefd[0];
	ret_start->slots = used;
	ret_start->block = block;
	return 0;
}

int
arb_spawn_service(struct arb_spawner *sp, const struct arb_spec_node *n,
		  struct arb_envp *env, const struct arb_spawn_io *io,
		  struct arb_start *ret_start, const char **failed_step)
{
	static const struct arb_spawn_io none = {
		.stdout_fd = -1, .stderr_fd = -1, .ready_fd = -1, .cgroup_fd = -1};
	int r;

	if (!io)
		io = &none;
	if (!io_fits(n, io)) {
		if (failed_step)
			*failed_step = step_names[STEP_FDS];
		return -EINVAL;
	}
	r = start_child(sp, n, env, io, ret_start, failed_step);
	if (r == START_AGAIN) /* never twice: the spawner has learnt */
		r = start_child(sp, n, env, io, ret_start, failed_step);
	return r;
}

/*
 * The start is over: its pipe closed, its slots free, its block too when
 * the child is done with it (else it is left to the child).
 */
static void
start_end(struct arb_spawner *sp, struct arb_start *st, bool child_done)
{
	if (child_done)
		block_put(sp, st->block);
	st->block = NULL;
	free_slots(sp, st->slots);
	if (st->status_fd >= 0)
		(void)close(st->status_fd);
	st->status_fd = -1;
	st->slots = 0;
	st->pid = 0;
}

int
arb_start_read(struct arb_spawner *sp, struct arb_start *st,
	       const char **failed_step)
{
	struct status_msg msg;
	ssize_t got;
	int err;

	for (;;) {
		got = read(st->status_fd, &msg, sizeof(msg));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && errno == EAGAIN)
			return ARB_START_PENDING;
		if (got == (ssize_t)sizeof(msg) &&
		    msg.step == STEP_TABLE_TAKEN) {
			free_slots(sp, st->slots);
			st->slots = 0;
			continue;
		}
		break;
	}
	err = got < 0 ? errno : EIO;
	/* EOF: it left arbord's memory at exec (or died); a report: it
	 * exits touching nothing; anything else: it may still run. */
	start_end(sp, st, got == 0 || got == (ssize_t)sizeof(msg));
	if (got == 0)
		return 0; /* EOF: exec'ed, or died without a word */
	if (failed_step)
		*failed_step = got == (ssize_t)sizeof(msg) && msg.step >= 0 &&
				       msg.step < _STEP_MAX
				       ? step_names[msg.step]
				       : "exec";
	if (got == (ssize_t)sizeof(msg))
		return -(msg.err > 0 ? msg.err : EIO);
	return -err;
}

int
arb_start_reaped(struct arb_spawner *sp, struct arb_start *st,
		 const char **failed_step)
{
	int r;

	/* Its table is gone: arbord's slots hold the last write end. */
	free_slots(sp, st->slots);
	st->slots = 0;
	r = arb_start_read(sp, st, failed_step);
	if (r != ARB_START_PENDING)
		return r;
	start_end(sp, st, true);
	return 0;
}

void
arb_start_abandon(struct arb_spawner *sp, struct arb_start *st)
{
	/* It may run on its block still: it keeps it (arbord is leaving). */
	if (st->pid > 0)
		(void)kill(st->pid, SIGKILL);
	start_end(sp, st, false);
}
