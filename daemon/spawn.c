/*
 * spawn.c - starting one service process.
 *
 * The child is a clone of arbord without CLONE_VM or CLONE_VFORK: it gets a
 * copy-on-write copy of arbord's memory (arbord is small, a few MB of page
 * tables to copy) and arbord goes on at once. Nothing the child does before
 * exec can stop the loop: a cwd or program on a file system that does not
 * answer holds the child alone, and a stop can SIGKILL it. Sharing memory
 * without vfork's suspension would be cheaper and wrong: the child would
 * write arbord's errno (the same TLS) from every failing call while arbord
 * runs, and everything it reads would have to outlive it across a reload.
 * The child reports through a close-on-exec, non-blocking status pipe that
 * the loop watches: a word when it has its own descriptor table, errno and
 * step when it fails, EOF at exec. It makes only async-signal-safe calls
 * and never returns. How its environment is made is envp.c's job, how its
 * sockets are, listen.c's.
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
#include "spawn.h"

#define CHILD_STACK_SIZE (64 * 1024)

/*
 * The child runs on a stack the sanitizers do not know: their bookkeeping
 * there (ASan's unpoisoning before a noreturn call) would go wrong. Keep
 * them out.
 */
#define CHILD_SIDE __attribute__((no_sanitize("address", "undefined")))

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
	const struct arb_spawner *sp;
	int status_fd; /* write end of the close-on-exec status pipe */
	sigset_t mask; /* what the child unblocks to: nothing */
};

CHILD_SIDE static void
report_and_exit(int status_fd, enum step step)
{
	struct status_msg msg = {.err = errno, .step = (int)step};
	ssize_t unused;

	unused = write(status_fd, &msg, sizeof(msg));
	(void)unused;
	_exit(127);
}

/* The raw syscall: glibc's sigaction() refuses its reserved 32 and 33. */
CHILD_SIDE static int
raw_sigaction(int sig, const void *act, void *old)
{
	return (int)syscall(SYS_rt_sigaction, sig, act, old, _NSIG / 8);
}

/*
 * Back to SIG_DFL, every signal arbord handles or ignores: handlers would
 * run on shared memory if a signal came before exec, and an ignored signal
 * survives exec (GNU make ignores 32 and 33, so a service started under
 * `make check` would inherit them). A zeroed kernel sigaction is SIG_DFL
 * with no flags and an empty mask; dispositions are not shared under
 * CLONE_VM, so this touches only the child.
 */
CHILD_SIDE static void
reset_dispositions(uint64_t altered)
{
	static const unsigned long dfl[8];

	for (int sig = 1; sig < _NSIG && sig <= 64; sig++)
		if (altered & (UINT64_C(1) << (sig - 1)))
			(void)raw_sigaction(sig, dfl, NULL);
}

/*
 * Limits, priority, umask, identity and directory, in that order: limits
 * and a lower nice value may need privileges the new identity lacks, and
 * the directory is entered as the service's user, so that one it may not
 * enter is an error (not a cwd it could never have reached), and one only
 * it may enter (NFS with root squashed) works. The credentials are raw
 * syscalls: glibc's wrappers would broadcast the change to every thread
 * of the process they think they are in, which is arbord (we share its
 * memory, so its thread list).
 */
CHILD_SIDE static void
set_context(const struct child_args *a)
{
	const struct arb_spec_node *n = a->n;

	if (a->sp->restore_nofile) {
		struct {
			uint64_t cur, max;
		} lim = {a->sp->nofile_cur, a->sp->nofile_max};

		if (syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &lim, NULL) < 0)
			report_and_exit(a->status_fd, STEP_RLIMIT);
	}
	for (uint32_t i = 0; i < n->nrlimits; i++) {
		/* The kernel's struct rlimit64; ARB_RLIM_INFINITY is its
		 * RLIM64_INFINITY. */
		struct {
			uint64_t cur, max;
		} lim = {n->rlimits[i].soft, n->rlimits[i].hard};

		if (syscall(SYS_prlimit64, 0, n->rlimits[i].resource, &lim,
			    NULL) < 0)
			report_and_exit(a->status_fd, STEP_RLIMIT);
	}
	if (n->set_nice &&
	    syscall(SYS_setpriority, PRIO_PROCESS, 0, n->nice) < 0)
		report_and_exit(a->status_fd, STEP_NICE);
	if (n->umask >= 0)
		(void)syscall(SYS_umask, n->umask);
	if (n->set_ids) {
		if (a->set_groups &&
		    syscall(SYS_SETGROUPS, (size_t)n->ngroups, n->groups) < 0)
			report_and_exit(a->status_fd, STEP_SETGROUPS);
		if (syscall(SYS_SETRESGID, n->gid, n->gid, n->gid) < 0)
			report_and_exit(a->status_fd, STEP_SETGID);
		if (syscall(SYS_SETRESUID, n->uid, n->uid, n->uid) < 0)
			report_and_exit(a->status_fd, STEP_SETUID);
	}
	if (n->cwd && chdir(n->cwd) < 0)
		report_and_exit(a->status_fd, STEP_CHDIR);
	if (n->no_new_privileges &&
	    syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		report_and_exit(a->status_fd, STEP_NO_NEW_PRIVS);
}

/*
 * Everything past stderr closes at exec, the status pipe included (it must
 * stay open until then). close_range() does it in one call from Linux 5.11;
 * older kernels get the loop.
 */
CHILD_SIDE static void
mark_cloexec_from_3(int max_fd)
{
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
	for (int fd = 3; fd < max_fd; fd++)
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* Moves *fd to a close-on-exec copy at hi or above, if it is below. */
CHILD_SIDE static int
move_above(int *fd, int hi)
{
	int moved;

	if (*fd >= hi)
		return 0;
	moved = fcntl(*fd, F_DUPFD_CLOEXEC, hi);
	if (moved < 0)
		return -1;
	*fd = moved;
	return 0;
}

/*
 * stdin, then the sockets on 3, 4, ... and the readiness pipe on
 * n->ready_fd. A source may sit on another's target (arbord's own
 * descriptors have low numbers too), so every source below the highest
 * target, and the status pipe, first move above it; then everything is
 * marked close-on-exec and the dup2()s, whose copies are not, come last.
 */
CHILD_SIDE static int
place_fds(const struct child_args *a, int *status_fd)
{
	int src[ARB_LISTEN_MAX], ready = a->ready_fd;

	if (a->stdin_fd != 0 && dup2(a->stdin_fd, 0) < 0)
		return -1;
	/* Pipes arbord made after its 0-2 were filled: all above 2. */
	if (a->stdout_fd >= 0 && dup2(a->stdout_fd, 1) < 0)
		return -1;
	if (a->stderr_fd >= 0 && dup2(a->stderr_fd, 2) < 0)
		return -1;
	if (move_above(status_fd, a->hi) < 0)
		return -1;
	for (int i = 0; i < a->nlisten; i++) {
		src[i] = a->listen_fds[i];
		if (move_above(&src[i], a->hi) < 0)
			return -1;
	}
	if (ready >= 0 && move_above(&ready, a->hi) < 0)
		return -1;
	mark_cloexec_from_3(a->max_fd);
	for (int i = 0; i < a->nlisten; i++)
		if (dup2(src[i], 3 + i) < 0)
			return -1;
	if (ready >= 0 && dup2(ready, a->n->ready_fd) < 0)
		return -1;
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
			(void)close(fd);
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

CHILD_SIDE static int
child_main(void *arg)
{
	const struct child_args *a = arg;
	int status_fd = a->status_fd;
	long pid;

	/* First of all: a table of our own, before anything changes it. */
	if (a->unshare_below > 0 &&
	    syscall(SYS_close_range, a->unshare_below, ~0U,
		    CLOSE_RANGE_UNSHARE) < 0 &&
	    syscall(SYS_unshare, CLONE_FILES) < 0)
		report_and_exit(status_fd, STEP_FDS);
	drop_others(a, status_fd);
	if (a->unshare_below > 0) {
		/* arbord may reuse its slots now. */
		struct status_msg taken = {.err = 0, .step = STEP_TABLE_TAKEN};
		ssize_t unused = write(status_fd, &taken, sizeof(taken));

		(void)unused;
	}
	reset_dispositions(a->altered);
	if (setsid() < 0)
		report_and_exit(status_fd, STEP_SETSID);
	set_context(a);
	if (place_fds(a, &status_fd) < 0)
		report_and_exit(status_fd, STEP_FDS);
	/* Our copy of the environment: arbord's stays as it is. */
	pid = syscall(SYS_getpid);
	for (int i = 0; i < 2; i++)
		if (a->pid_at[i])
			write_pid(a->pid_at[i], pid);
	(void)sigprocmask(SIG_SETMASK, &a->mask, NULL);
	execve(a->n->exec_path, a->n->argv, a->envp);
	report_and_exit(status_fd, STEP_EXEC);
	return 0;
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
	/*
	 * One stack, reused: each child runs on its own copy-on-write copy.
	 * Its lowest page is a guard, so an overflow faults instead of
	 * writing over what lies below.
	 */
	long page = sysconf(_SC_PAGESIZE);
	char *stack = mmap(NULL, CHILD_STACK_SIZE + (size_t)page,
			   PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	struct rlimit nofile;

	if (stack == MAP_FAILED)
		return -errno;
	if (mprotect(stack, (size_t)page, PROT_NONE) < 0) {
		int err = errno;

		(void)munmap(stack, CHILD_STACK_SIZE + (size_t)page);
		return -err;
	}
	sp->map = stack;
	sp->map_size = CHILD_STACK_SIZE + (size_t)page;
	sp->stack = stack + page;
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

void
arb_spawner_done(struct arb_spawner *sp)
{
	if (sp->map)
		(void)munmap(sp->map, sp->map_size);
	sp->map = NULL;
	sp->stack = NULL;
	for (int i = 0; i < sp->nslots; i++)
		close(sp->slots[i]);
	sp->nslots = 0;
	sp->slot_top = 0;
	sp->slots_busy = 0;
}

/*
 * Puts *fd in a free slot unless it is low already (below slot_top, so the
 * child's copy has it), adding the slot to *used. false when none is free.
 */
static bool
to_slot(const struct arb_spawner *sp, int *fd, uint32_t *used)
{
	uint32_t taken = sp->slots_busy | *used;
	int i = 0;

	if (*fd < 0 || *fd < sp->slot_top)
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
use_slots(struct arb_spawner *sp, struct child_args *args, int *listen_slots,
	  uint32_t *ret_used)
{
	struct child_args t = *args; /* args stay as they are on failure */
	uint32_t used = 0;
	bool ok = to_slot(sp, &t.stdin_fd, &used) &&
		  to_slot(sp, &t.stdout_fd, &used) &&
		  to_slot(sp, &t.stderr_fd, &used) &&
		  to_slot(sp, &t.ready_fd, &used) &&
		  to_slot(sp, &t.status_fd, &used);

	for (int i = 0; ok && i < t.nlisten; i++) {
		listen_slots[i] = t.listen_fds[i];
		ok = to_slot(sp, &listen_slots[i], &used);
	}
	if (!ok) {
		free_slots(sp, used);
		return false;
	}
	if (t.nlisten > 0)
		t.listen_fds = listen_slots;
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

int
arb_spawn_service(struct arb_spawner *sp, const struct arb_spec_node *n,
		  struct arb_envp *env, const struct arb_spawn_io *io,
		  struct arb_start *ret_start, const char **failed_step)
{
	static const struct arb_spawn_io none = {
		.stdout_fd = -1, .stderr_fd = -1, .ready_fd = -1};
	struct child_args args = {.n = n, .envp = env->v,
				  .pid_at = {env->pid_at[0], env->pid_at[1]},
				  .stdin_fd = sp->stdin_fd,
				  .altered = sp->altered,
				  .max_fd = sp->max_fd,
				  .low_top = sp->slot_top,
				  .sp = sp,
				  .set_groups = true};
	sigset_t all, old;
	int pipefd[2], pid, saved, flags = 0;
	int listen_slots[ARB_LISTEN_MAX];
	uint32_t used = 0;

	if (!io)
		io = &none;
	if (!io_fits(n, io)) {
		if (failed_step)
			*failed_step = step_names[STEP_FDS];
		return -EINVAL;
	}
	args.stdout_fd = io->stdout_fd;
	args.stderr_fd = io->stderr_fd;
	args.listen_fds = io->listen_fds;
	args.nlisten = io->nlisten;
	args.ready_fd = io->ready_fd;
	args.hi = 3 + io->nlisten;
	if (io->ready_fd >= 0 && n->ready_fd >= args.hi)
		args.hi = n->ready_fd + 1;
	/*
	 * Without CAP_SETGID setgroups() fails even for one's own groups: an
	 * unprivileged arbord running a service as itself keeps them.
	 */
	if (n->set_ids && geteuid() != 0 && n->uid == geteuid() &&
	    n->gid == getegid())
		args.set_groups = false;
	if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0) {
		if (failed_step)
			*failed_step = "pipe";
		return -errno;
	}
	args.status_fd = pipefd[1];
	if (sp->slot_top > 0 && use_slots(sp, &args, listen_slots, &used)) {
		flags |= CLONE_FILES;
		args.unshare_below = sp->slot_top;
	}
	sigemptyset(&args.mask);
	/* No handler of ours may run in the child before exec. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = clone(child_main, sp->stack + CHILD_STACK_SIZE, flags | SIGCHLD,
		    &args);
	saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	/* The child has its copy (in a slot, when it shares the table). */
	close(pipefd[1]);
	if (pid < 0) {
		free_slots(sp, used);
		close(pipefd[0]);
		if (failed_step)
			*failed_step = "clone";
		return -saved;
	}
	ret_start->pid = pid;
	ret_start->status_fd = pipefd[0];
	ret_start->slots = used;
	return 0;
}

/* The start is over: its pipe closed, its slots free. */
static void
start_end(struct arb_spawner *sp, struct arb_start *st)
{
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
	start_end(sp, st);
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
	start_end(sp, st);
	return 0;
}

void
arb_start_abandon(struct arb_spawner *sp, struct arb_start *st)
{
	start_end(sp, st);
}
