/*
 * main.c - arbord's command line: load and validate the configuration,
 * then either print it (--check) or run the tree until the root is down.
 * The only place that chooses exit statuses; it does no supervision.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "manager.h"
#include "runtime.h"
#include "sockpath.h"
#include "spec.h"

#ifndef ARB_SYSCONFDIR
#define ARB_SYSCONFDIR "/etc"
#endif

#define DEFAULT_CONFIG ARB_SYSCONFDIR "/arbor/arbor.conf"

enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1, /* the configuration, or the tree, failed */
	EXIT_USAGE = 2,
};

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: arbord [-c FILE] [-s SOCKET] [--check]\n"
		"\n"
		"Runs the supervision tree of FILE and the conf.d/*.conf beside it\n"
		"in the foreground, one logfmt event per line on stderr.\n"
		"\n"
		"  -c, --config FILE  configuration (default %s)\n"
		"  -s, --socket PATH  control socket (default $ARBOR_SOCKET, else\n"
		"                     /run/arbor/arbor.sock for root, else\n"
		"                     $XDG_RUNTIME_DIR/arbor/arbor.sock)\n"
		"  -n, --check        validate, print the resolved tree, exit\n"
		"  -h, --help         this help\n"
		"  -V, --version      print the version\n"
		"\n"
		"Exit status: 0 stopped cleanly or shut down automatically;\n"
		"1 bad configuration, or the root supervisor gave up or failed\n"
		"to start; 2 bad usage. See arbord(8) and arbor.conf(5).\n",
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

static void
print_diag(const struct arb_diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		fprintf(stderr, "arbord: %s%s\n",
			d->entries[i].level == ARB_DIAG_WARNING ? "warning: "
								: "",
			d->entries[i].text);
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{"config", required_argument, NULL, 'c'},
		{"socket", required_argument, NULL, 's'},
		{"check", no_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *config = DEFAULT_CONFIG, *socket_opt = NULL;
	char socket_path[ARB_SOCKPATH_MAX + 1];
	struct arb_diag diag = {0};
	struct arb_manager_passed passed;
	struct arb_spec *spec = NULL;
	int check = 0, opt, r;

	if (sanitize_std_fds() < 0)
		return EXIT_FAILED;
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
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("arbord %s\n", ARB_VERSION);
			return EXIT_OK;
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

	if (!check && arb_sockpath_pick(socket_opt, socket_path,
					sizeof(socket_path)) < 0) {
		fprintf(stderr, "arbord: control socket path too long\n");
		return EXIT_USAGE;
	}
	r = arb_config_load(config, &spec, &diag);
	print_diag(&diag);
	arb_diag_done(&diag);
	if (r == -ENOMEM) {
		fprintf(stderr, "arbord: out of memory\n");
		return EXIT_FAILED;
	}
	if (r < 0) {
		fprintf(stderr, "arbord: %s: configuration has errors\n",
			config);
		return EXIT_FAILED;
	}
	if (check) {
		arb_config_print(spec, stdout);
		arb_spec_free(spec);
		return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAILED;
	}
	/*
	 * libconfig's parse tree is gone, but its pages would stay in the
	 * heap for the life of the daemon: give them back (about 1 MiB of
	 * PSS with 1000 children).
	 */
	malloc_trim(0);
	r = arb_manager_init(&passed);
	if (r < 0) {
		fprintf(stderr, "arbord: cannot read systemd's environment: "
			"%s\n", strerror(-r));
		arb_spec_free(spec);
		return EXIT_FAILED;
	}
	print_passed(&passed);
	r = arb_runtime_run(spec, socket_path);
	arb_manager_done();
	arb_spec_free(spec);
	if (r == -EALREADY) {
		fprintf(stderr, "arbord: another arbord is running on %s\n",
			socket_path);
		return EXIT_FAILED;
	}
	if (r < 0) {
		fprintf(stderr, "arbord: cannot start (control socket %s): %s\n",
			socket_path, strerror(-r));
		return EXIT_FAILED;
	}
	return r;
}
