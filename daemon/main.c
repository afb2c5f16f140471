/*
 * main.c - arbord's command line: load and validate the configuration,
 * then either print it (--check) or run the tree until the root is down.
 * The only place that chooses exit statuses; it does no supervision.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "config/config.h"
#include "fdlimit.h"
#include "seed.h"
#include "logs/event_log.h"
#include "systemd.h"
#include "init/pid1.h"
#include "init/shell.h"
#include "jarena.h"
#include "runtime.h"
#include "runtime_state.h"
#include "state/spec_json.h"
#include "state/state.h"
#include "sockpath.h"
#include "core/spec.h"

#ifndef ARB_SYSCONFDIR
#define ARB_SYSCONFDIR "/etc"
#endif

#define DEFAULT_CONFIG ARB_SYSCONFDIR "/arbor/arbor.conf"

enum {
	OPT_INIT = 0x100,
	OPT_CONTAINER,
	OPT_NO_CGROUPS,
	OPT_RESUME,
	OPT_PROBE_STATE
};

enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1, /* the configuration, or the tree, failed */
	EXIT_USAGE = 2,
};

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: arbord [-c FILE] [-s SOCKET] [--check] [--init | --container]\n"
		"              [--no-cgroups]\n"
		"\n"
		"Runs the supervision tree of FILE and the conf.d/*.conf beside it\n"
		"in the foreground, one logfmt event per line on stderr. The\n"
		"services' output is kept for `arborctl logs`, and goes where\n"
		"their log settings say (arbor.conf(5), Logs). SIGTERM or\n"
		"SIGINT stops the tree; SIGHUP reads FILE again and changes\n"
		"only what differs (`arborctl reload --dry-run` shows how).\n"
		"`arborctl reexec` replaces arbord by a new build in place,\n"
		"every service kept running (arbord(8), Upgrading arbord in\n"
		"place).\n"
		"\n"
		"  -c, --config FILE  configuration (default %s)\n"
		"  -s, --socket PATH  control socket (default $ARBOR_SOCKET, else\n"
		"                     /run/arbor/arbor.sock for root, else\n"
		"                     $XDG_RUNTIME_DIR/arbor/arbor.sock)\n"
		"  -n, --check        validate, print the resolved tree and the\n"
		"                     descriptors it needs, exit\n"
		"      --init         act as the system's init, as if PID 1\n"
		"      --container    act as a container's init (PID 1 in a\n"
		"                     container is one without this)\n"
		"      --no-cgroups   contain services by process groups alone,\n"
		"                     not cgroup v2 (under another cgroup manager)\n"
		"  -h, --help         this help\n"
		"  -V, --version      print the version\n"
		"\n"
		"Exit status: 0 stopped cleanly or shut down automatically\n"
		"(with exit_status = \"significant\", the status of the\n"
		"significant service that began it, as a shell reports it);\n"
		"1 bad configuration (or more descriptors than the hard limit,\n"
		"or cgroup limits no controller here can apply),\n"
		"or the root supervisor gave up or failed\n"
		"to start; 2 bad usage. As the system's init arbord never exits:\n"
		"see PID 1 in arbord(8), and arbor.conf(5).\n",
		DEFAULT_CONFIG);
}

/*
 * With fd 0, 1 or 2 closed, our own descriptors would take their numbers
 * and children would find them as stdin/stdout/stderr (or write their first
 * open() there). Fill the holes with /dev/null before anything is opened.
 */
static int
sanitize_std_fds(void)
{
	int fd;

	do {
		fd = open("/dev/null", O_RDWR);
		if (fd < 0)
			return -errno;
	} while (fd <= 2);
	close(fd);
	return 0;
}

/* What systemd passed that arbord does not use is said, not ignored. */
static void
print_passed(const struct arb_manager_passed *p)
{
	if (p->err < 0)
		fprintf(stderr, "arbord: warning: ignoring LISTEN_FDS: %s\n",
			strerror(-p->err));
	for (int fd = p->first_fd; fd < p->first_fd + p->nfds; fd++)
		if (fd != p->control_fd)
			fprintf(stderr, "arbord: warning: closed descriptor %d "
				"passed by systemd: not a listening Unix "
				"stream socket\n", fd);
}

static const char *
mode_name(const struct arb_mode *m)
{
	return !m->pid1 ? "service" : m->container ? "container" : "init";
}

static void
say_result(struct arb_logfmt *l, int r, const char *done, const char *not)
{
	if (r < 0)
		arb_logfmt_str(l, "error", strerror(-r));
	else
		arb_logfmt_str(l, "result", r == 0 ? done : not);
}

/* One logfmt line per duty of the boot, on the console as PID 1. */
static void
print_boot(const struct arb_mode *m, const struct arb_pid1_boot *b)
{
	struct arb_logfmt l;

	arb_logfmt_init(&l);
	arb_logfmt_str(&l, "event", "mode");
	arb_logfmt_str(&l, "mode", mode_name(m));
	arb_logfmt_str(&l, "real_pid1", m->real_pid1 ? "true" : "false");
	arb_logfmt_str(&l, "in_container", m->in_container ? "true" : "false");
	(void)arb_logfmt_write(&l, STDERR_FILENO);
	if (!b->ran)
		return;
	arb_logfmt_init(&l);
	arb_logfmt_str(&l, "event", "console");
	say_result(&l, b->console, "opened", "inherited");
	(void)arb_logfmt_write(&l, STDERR_FILENO);
	arb_logfmt_init(&l);
	arb_logfmt_str(&l, "event", "ctrlaltdel");
	say_result(&l, b->cad, "sigint", "sigint");
	(void)arb_logfmt_write(&l, STDERR_FILENO);
	for (int i = 0; i < 4; i++) {
		arb_logfmt_init(&l);
		arb_logfmt_str(&l, "event", "mount");
		arb_logfmt_str(&l, "target", b->mounts[i].target);
		arb_logfmt_str(&l, "fstype", b->mounts[i].fstype);
		say_result(&l, b->mounts[i].result, "mounted", "already");
		(void)arb_logfmt_write(&l, STDERR_FILENO);
	}
	if (b->hostname == 1)
		return;
	arb_logfmt_init(&l);
	arb_logfmt_str(&l, "event", "hostname");
	if (b->hostname == 0)
		arb_logfmt_str(&l, "name", b->hostname_value);
	say_result(&l, b->hostname, "set", "set");
	(void)arb_logfmt_write(&l, STDERR_FILENO);
}

/*
 * The system's init could not start its tree, and why (the first error,
 * with its file:line). A reboot would read the same file again, a loop:
 * the emergency shell lets someone on the console repair it. 0 once the
 * shell has exited, -errno when there is none (or it cannot start).
 */
static int
run_emergency_shell(const struct arb_mode *m, const char *why)
{
	static char *const argv[] = {ARB_DEFAULT_EMERGENCY_SHELL, NULL};
	bool exists = access(argv[0], X_OK) == 0;
	int err = exists ? 0 : -errno;
	struct arb_logfmt l;
	int pid = 0;

	arb_logfmt_init(&l);
	arb_logfmt_str(&l, "event", "on_giveup");
	arb_logfmt_str(&l, "action", exists ? "shell" : "reboot");
	arb_logfmt_int(&l, "status", EXIT_FAILED);
	arb_logfmt_str(&l, "error", why);
	(void)arb_logfmt_write(&l, STDERR_FILENO);
	if (exists) {
		fprintf(stderr, "arbord: %s: starting the emergency shell %s "
			"on the console; the system reboots when it exits\n",
			why, argv[0]);
		err = arb_shell_start(m, argv, &pid);
	}
	if (err == 0)
		err = arb_shell_wait(pid);
	if (err < 0) {
		fprintf(stderr, "arbord: no emergency shell: %s: %s; "
			"rebooting\n", argv[0], strerror(-err));
		return err;
	}
	return 0;
}

/*
 * Whether arbord's hard descriptor limit holds the tree (core/fdbudget.h):
 * a tree that needs more is refused before anything starts, by --check
 * too, with the numbers. 0 and *ret; -1 said on stderr, in why.
 */
static int
fits_fd_limit(const struct arb_spec *spec, struct arb_fdlimit *ret,
	      char *why, size_t size)
{
	int r = arb_fdlimit_check(spec, ret);

	if (r == -EMFILE)
		arb_fdlimit_refusal(ret, why, size);
	else if (r < 0)
		snprintf(why, size, "cannot read the descriptor limit: %s",
			 strerror(-r));
	if (r < 0) {
		fprintf(stderr, "arbord: %s\n", why);
		return -1;
	}
	return 0;
}

/* --check's output: the resolved tree, then what it needs of the system
 * as a comment (the tree, read back, is the same). */
static int
print_checked(const struct arb_spec *spec, const struct arb_fdlimit *fds)
{
	char line[128];

	arb_config_print(spec, stdout);
	arb_fdlimit_summary(fds, line, sizeof(line));
	printf("# %s\n", line);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAILED;
}

/*
 * The system's init could not even start its tree (a configuration with
 * errors, no control socket), for the reason why: it may not exit, and
 * nothing ran that would need stopping. It runs the emergency shell, then
 * syncs and reboots. It returns only when arbord is not PID 1 after all
 * (--init), with arbord's exit status.
 */
static int
fail_as_init(const struct arb_mode *m, const char *why)
{
	struct arb_logfmt l;
	bool shell_ran;

	if (!arb_mode_is_init(m))
		return EXIT_FAILED;
	shell_ran = run_emergency_shell(m, why) == 0;
	arb_logfmt_init(&l);
	arb_logfmt_str(&l, "event", "shutdown");
	arb_logfmt_str(&l, "action", "reboot");
	arb_logfmt_str(&l, "reason", shell_ran ? "shell" : "giveup");
	(void)arb_logfmt_write(&l, STDERR_FILENO);
	(void)arb_pid1_signal_all(m, SIGTERM);
	arb_pid1_sync();
	arb_logfmt_init(&l);
	arb_logfmt_str(&l, "event", "reboot");
	arb_logfmt_str(&l, "action", "reboot");
	(void)arb_logfmt_write(&l, STDERR_FILENO);
	if (arb_pid1_reboot(m, ARB_FINAL_REBOOT) == -EPERM)
		fprintf(stderr, "arbord: not PID 1: exiting instead of "
			"reboot(2)\n");
	return EXIT_FAILED;
}

/* The first error of a configuration, "FILE:LINE: message", into why. */
static void
first_error(const struct arb_diag *d, const char *config, char *why,
	    size_t size)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->entries[i].level != ARB_DIAG_WARNING) {
			snprintf(why, size, "%s", d->entries[i].text);
			return;
		}
	snprintf(why, size, "%s: configuration has errors", config);
}

static void
print_diag(const struct arb_diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		fprintf(stderr, "arbord: %s%s\n",
			d->entries[i].level == ARB_DIAG_WARNING ? "warning: "
								: "",
			d->entries[i].text);
}

/*
 * --check: whether the cgroup2 arbord would find (--no-cgroups: none)
 * can apply the configuration's cgroup limits. 0; -1 said on stderr,
 * FILE:LINE each, as the loader's errors.
 */
static int
limits_fit_here(const struct arb_spec *spec, bool no_cgroups)
{
	struct arb_cgroup cg;
	struct arb_diag diag = {0};
	int n;

	if (no_cgroups)
		arb_cgroup_off(&cg, "--no-cgroups");
	else
		arb_cgroup_probe(&cg);
	n = arb_config_check_limits(spec, &cg, &diag);
	print_diag(&diag);
	arb_diag_done(&diag);
	arb_cgroup_release(&cg);
	if (n < 0)
		fprintf(stderr, "arbord: out of memory\n");
	return n == 0 ? 0 : -1;
}

static int
parse_fd(const char *text, int *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || *end || end == text || v < 3 || v > INT32_MAX)
		return -EINVAL;
	*ret = (int)v;
	return 0;
}

/*
 * The file arbord runs from, by path: what a re-exec runs by default, so
 * that an upgraded file on disk is the one taken. After an upgrade
 * replaced it, the kernel says "(deleted)" of the old one: the path is
 * the new file's.
 */
static void
find_self(char *buf, size_t size)
{
	static const char deleted[] = " (deleted)";
	ssize_t n = readlink("/proc/self/exe", buf, size - 1);
	size_t len;

	if (n <= 0) {
		snprintf(buf, size, "/proc/self/exe");
		return;
	}
	buf[n] = '\0';
	len = (size_t)n;
	if (len > sizeof(deleted) - 1 &&
	    strcmp(buf + len - (sizeof(deleted) - 1), deleted) == 0)
		buf[len - (sizeof(deleted) - 1)] = '\0';
}

/*
 * The processes a state names, killed with their groups: the state could
 * not be taken over, and the tree boots again from the configuration on
 * disk. Read leniently: whatever pid can be found is one too many.
 */
static void
kill_inherited(const json_t *root)
{
	const json_t *nodes = json_object_get(json_object_get(root, "tree"),
					      "nodes");
	const json_t *n;
	size_t i;

	json_array_foreach(nodes, i, n) {
		json_int_t pid = json_integer_value(json_object_get(n, "pid"));

		if (pid > 1 && pid <= INT32_MAX && pid != getpid()) {
			(void)kill(-(pid_t)pid, SIGKILL);
			(void)kill((pid_t)pid, SIGKILL);
		}
	}
}

/*
 * What systemd passed the first image (it took them out of its
 * environment), given back to the environment for the boot that follows
 * a resume that failed: READY=1 and the watchdog go on.
 */
static void
give_back_manager(const json_t *root)
{
	const json_t *m = json_object_get(root, "manager");
	const char *sock = json_string_value(json_object_get(m, "notify_socket"));
	json_int_t usec = json_integer_value(json_object_get(m, "watchdog_usec"));
	char buf[32];

	if (!sock)
		return;
	(void)setenv("NOTIFY_SOCKET", sock, 1);
	if (usec > 0) {
		snprintf(buf, sizeof(buf), "%lld", (long long)usec);
		(void)setenv("WATCHDOG_USEC", buf, 1);
		snprintf(buf, sizeof(buf), "%d", (int)getpid());
		(void)setenv("WATCHDOG_PID", buf, 1);
	}
}

/*
 * The new image of a re-exec (reexec.c): the state in fd, taken over.
 * Returns arbord's exit status, or -errno when it could not be taken
 * over: then whatever it named has been killed.
 */
static int
resume(int fd, struct arb_runtime_args *args)
{
	struct arb_state_in in;
	struct arb_spec *spec = NULL;
	const json_t *obj;
	int r;

	/* The document's values in an arena: the new image's heap holds what
	 * it runs on, not the pieces of a parse (the runtime ends it once
	 * the state is taken). */
	arb_jarena_begin();
	r = arb_state_in_read(&in, fd);
	if (r == 0)
		r = arb_state_object(&in, in.root, "state", "spec", &obj);
	if (r == 0)
		r = arb_spec_json_load(&in, obj, &spec);
	if (r == 0) {
		args->spec = spec;
		args->resume = &in;
		r = arb_runtime_run(args);
	}
	if (r < 0) {
		fprintf(stderr, "arbord: cannot resume the state of the image "
			"before: %s; stopping what it ran and starting again "
			"from the configuration\n",
			in.error[0] ? in.error : strerror(-r));
		if (args->mode->pid1 && arb_mode_is_init(args->mode))
			(void)arb_pid1_signal_all(args->mode, SIGKILL);
		else
			kill_inherited(in.root);
		give_back_manager(in.root);
	}
	arb_manager_done();
	arb_state_in_done(&in);
	arb_jarena_end();
	arb_spec_free(spec);
	return r;
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{"config", required_argument, NULL, 'c'},
		{"socket", required_argument, NULL, 's'},
		{"check", no_argument, NULL, 'n'},
		{"init", no_argument, NULL, OPT_INIT},
		{"container", no_argument, NULL, OPT_CONTAINER},
		{"no-cgroups", no_argument, NULL, OPT_NO_CGROUPS},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		/* A re-exec's (reexec.c): not for people. */
		{"resume", required_argument, NULL, OPT_RESUME},
		{"probe-state", required_argument, NULL, OPT_PROBE_STATE},
		{NULL, 0, NULL, 0},
	};
	const char *config = DEFAULT_CONFIG, *socket_opt = NULL;
	char socket_path[ARB_SOCKPATH_MAX + 1];
	struct arb_diag diag = {0};
	struct arb_manager_passed passed;
	struct arb_spec *spec = NULL;
	enum arb_mode_force force = ARB_FORCE_NONE;
	struct arb_mode mode;
	struct arb_pid1_boot boot;
	struct arb_fdlimit fds;
	char why[512];
	char self_exe[4096];
	int check = 0, opt, r, resume_fd = -1, probe_fd = -1;
	bool no_cgroups = false;

	arb_seed_json();
	while ((opt = getopt_long(argc, argv, "c:s:nhV", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 's':
			socket_opt = optarg;
			break;
		case 'n':
			check = 1;
			break;
		case OPT_INIT:
		case OPT_CONTAINER:
			if (force != ARB_FORCE_NONE) {
				fprintf(stderr, "arbord: --init and --container "
					"exclude each other\n");
				return EXIT_USAGE;
			}
			force = opt == OPT_INIT ? ARB_FORCE_INIT
						: ARB_FORCE_CONTAINER;
			break;
		case OPT_NO_CGROUPS:
			no_cgroups = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("arbord %s\n", ARB_VERSION);
			return EXIT_OK;
		case OPT_RESUME:
		case OPT_PROBE_STATE:
			if (parse_fd(optarg, opt == OPT_RESUME ? &resume_fd
							      : &probe_fd) < 0) {
				fprintf(stderr, "arbord: bad descriptor '%s'\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "arbord: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (probe_fd >= 0)
		return arb_state_probe(probe_fd, config, stdout, stderr);
	/*
	 * getopt opened nothing: as PID 1 the console, /dev and the rest come
	 * before anything else, and only then can holes in fds 0-2 be filled.
	 * A re-exec'd image finds them done.
	 */
	memset(&mode, 0, sizeof(mode));
	if (!check)
		arb_pid1_detect(force, &mode);
	if (mode.pid1) {
		arb_pid1_block_signals();
		if (arb_mode_is_init(&mode) && resume_fd < 0)
			arb_pid1_boot(&mode, &boot);
		else
			memset(&boot, 0, sizeof(boot));
		if (resume_fd < 0)
			print_boot(&mode, &boot);
	}
	find_self(self_exe, sizeof(self_exe));
	if (sanitize_std_fds() < 0 && !mode.pid1)
		return EXIT_FAILED;

	if (!check && arb_sockpath_pick(socket_opt, socket_path,
					sizeof(socket_path)) < 0) {
		fprintf(stderr, "arbord: control socket path too long\n");
		return EXIT_USAGE;
	}
	if (resume_fd >= 0) {
		struct arb_runtime_args args = {
			.config_path = config, .socket_path = socket_path,
			.mode = &mode, .self_exe = self_exe, .argv = argv,
			.no_cgroups = no_cgroups};

		r = resume(resume_fd, &args);
		if (r >= 0)
			return r;
		/* Not a kernel panic, and not a tree run twice: what the
		 * old image ran is stopped, and the tree boots from its
		 * configuration on disk. */
	}
	r = arb_config_load(config, &spec, &diag);
	print_diag(&diag);
	first_error(&diag, config, why, sizeof(why));
	arb_diag_done(&diag);
	if (r == -ENOMEM) {
		fprintf(stderr, "arbord: out of memory\n");
		return fail_as_init(&mode, "out of memory");
	}
	if (r < 0) {
		fprintf(stderr, "arbord: %s: configuration has errors\n",
			config);
		return fail_as_init(&mode, why);
	}
	if (arb_mode_is_init(&mode) && !check)
		(void)arb_fdlimit_lift_hard(spec); /* else refused just below */
	if (fits_fd_limit(spec, &fds, why, sizeof(why)) < 0) {
		arb_spec_free(spec);
		return fail_as_init(&mode, why);
	}
	if (check && limits_fit_here(spec, no_cgroups) < 0) {
		fprintf(stderr, "arbord: %s: configuration has errors\n",
			config);
		arb_spec_free(spec);
		return EXIT_FAILED;
	}
	if (check) {
		r = print_checked(spec, &fds);
		arb_spec_free(spec);
		return r;
	}
	/*
	 * libconfig's parse tree is gone, but its pages would stay in the
	 * heap for the life of the daemon: give them back (about 1 MiB of
	 * PSS with 1000 children).
	 */
	malloc_trim(0);
	r = arb_manager_init(&passed);
	if (r < 0) {
		snprintf(why, sizeof(why), "cannot read systemd's environment: "
			 "%s", strerror(-r));
		fprintf(stderr, "arbord: %s\n", why);
		arb_spec_free(spec);
		return fail_as_init(&mode, why);
	}
	print_passed(&passed);
	{
		struct arb_runtime_args args = {
			.spec = spec, .config_path = config,
			.socket_path = socket_path, .mode = &mode,
			.self_exe = self_exe, .argv = argv,
			.no_cgroups = no_cgroups};

		r = arb_runtime_run(&args);
	}
	arb_manager_done();
	arb_spec_free(spec);
	if (r == -EALREADY)
		snprintf(why, sizeof(why), "another arbord is running on %s",
			 socket_path);
	else if (r == -ENOTSUP)
		snprintf(why, sizeof(why), "%s: configuration has errors (cgroup "
			 "limits this system cannot apply)", config);
	else if (r < 0)
		snprintf(why, sizeof(why), "cannot start (control socket %s): "
			 "%s", socket_path, strerror(-r));
	if (r < 0) {
		fprintf(stderr, "arbord: %s\n", why);
		return fail_as_init(&mode, why);
	}
	return r;
}
