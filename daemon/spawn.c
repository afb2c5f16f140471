/*
 * spawn.c - starting one service process.
 *
 * The child is created with clone(CLONE_VM | CLONE_VFORK) on a stack of its
 * own, as posix_spawn does: no page tables are copied, and the parent
 * resumes only when the child has exec'ed or died, so "exec succeeded" is
 * known without a round trip through the event loop (M6 for ready = exec).
 * Exec failure comes back through a close-on-exec pipe. The child side
 * touches no shared memory other than its stack and makes only
 * async-signal-safe calls; it never returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "spawn.h"

#define CHILD_STACK_SIZE (64 * 1024)

/*
 * The child runs on a stack the sanitizers do not know, in memory it
 * shares with the parent: their bookkeeping there (ASan's unpoisoning
 * before a noreturn call) would corrupt the parent. Keep them out.
 */
#define CHILD_SIDE __attribute__((no_sanitize("address", "undefined")))

struct child_args {
	const struct arb_spec_node *n;
	char *const *envp;
	int stdin_fd;
	uint64_t altered; /* signals to put back to SIG_DFL */
	int max_fd;       /* above every descriptor arbord may hold */
	int status_fd; /* write end of the close-on-exec status pipe */
	sigset_t mask; /* what the child unblocks to: nothing */
};

CHILD_SIDE static void
report_and_exit(int status_fd, int err)
{
	ssize_t unused;

	unused = write(status_fd, &err, sizeof(err));
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

CHILD_SIDE static int
child_main(void *arg)
{
	const struct child_args *a = arg;

	reset_dispositions(a->altered);
	if (setsid() < 0)
		report_and_exit(a->status_fd, errno);
	if (a->n->cwd && chdir(a->n->cwd) < 0)
		report_and_exit(a->status_fd, errno);
	if (a->stdin_fd != 0 && dup2(a->stdin_fd, 0) < 0)
		report_and_exit(a->status_fd, errno);
	mark_cloexec_from_3(a->max_fd);
	(void)sigprocmask(SIG_SETMASK, &a->mask, NULL);
	execve(a->n->exec_path, a->n->argv, a->envp);
	report_and_exit(a->status_fd, errno);
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
	 * One stack, reused: the parent is suspended while the child uses
	 * it. Its lowest page is a guard, so an overflow faults instead of
	 * writing over arbord's memory.
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
}

int
arb_spawn_service(const struct arb_spawner *sp, const struct arb_spec_node *n,
		  char *const *envp, int *ret_pid)
{
	struct child_args args = {.n = n, .envp = envp,
				  .stdin_fd = sp->stdin_fd,
				  .altered = sp->altered,
				  .max_fd = sp->max_fd};
	sigset_t all, old;
	int pipefd[2], err = 0, pid, saved;
	ssize_t got;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	args.status_fd = pipefd[1];
	sigemptyset(&args.mask);
	/* No handler of ours may run on the child's side of shared memory. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = clone(child_main, sp->stack + CHILD_STACK_SIZE,
		    CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
	saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(pipefd[1]);
	if (pid < 0) {
		close(pipefd[0]);
		return -saved;
	}
	do
		got = read(pipefd[0], &err, sizeof(err));
	while (got < 0 && errno == EINTR);
	close(pipefd[0]);
	if (got == (ssize_t)sizeof(err))
		return -(err > 0 ? err : EIO);
	*ret_pid = pid;
	return 0;
}

static size_t
env_key_len(const char *kv)
{
	const char *eq = strchr(kv, '=');

	return eq ? (size_t)(eq - kv) : strlen(kv);
}

char **
arb_spawn_env_new(char *const *base, char *const *overrides)
{
	size_t nbase = 0, nover = 0, n = 0;
	char **env;

	while (base && base[nbase])
		nbase++;
	while (overrides && overrides[nover])
		nover++;
	env = calloc(nbase + nover + 1, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < nbase; i++) {
		size_t klen = env_key_len(base[i]);
		int replaced = 0;

		for (size_t j = 0; j < nover && !replaced; j++)
			replaced = env_key_len(overrides[j]) == klen &&
				   strncmp(base[i], overrides[j], klen) == 0;
		if (!replaced)
			env[n++] = base[i];
	}
	for (size_t j = 0; j < nover; j++)
		env[n++] = overrides[j];
	env[n] = NULL;
	return env;
}

void
arb_spawn_env_free(char **env)
{
	/* The strings belong to the environment and the spec. */
	free(env);
}
