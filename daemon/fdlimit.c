/*
 * fdlimit.c - arbord's descriptor limit against what its tree needs
 * (fdlimit.h). The need is the pure core's (core/fdbudget.c); here are the
 * syscalls: getrlimit, setrlimit, and counting what is open. Logs nothing:
 * callers say what they refuse.
 */
#include "fdlimit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "core/limits.h"

static uint64_t
limit_value(rlim_t v)
{
	return v == RLIM_INFINITY ? ARB_RLIM_INFINITY : (uint64_t)v;
}

int
arb_fdlimit_check_need(const struct arb_fd_need *need,
		       struct arb_fdlimit *ret)
{
	struct rlimit lim;

	if (getrlimit(RLIMIT_NOFILE, &lim) < 0)
		return -errno;
	ret->need = *need;
	ret->soft = limit_value(lim.rlim_cur);
	ret->hard = limit_value(lim.rlim_max);
	return ret->need.total > ret->hard ? -EMFILE : 0;
}

int
arb_fdlimit_check(const struct arb_spec *spec, struct arb_fdlimit *ret)
{
	struct arb_fd_need need;

	arb_fd_budget(spec, &need);
	return arb_fdlimit_check_need(&need, ret);
}

static uint64_t
soft_wanted(const struct arb_fdlimit *f, bool with_room)
{
	uint64_t want = f->need.total;

	if (with_room)
		want += f->need.total - ARB_FD_RESERVE;

	return want < f->hard ? want : f->hard;
}

/* The limits arbord was given, when an init lifted its hard limit. */
static struct {
	bool lifted;
	uint64_t soft, hard;
} given;

/* fs.nr_open: how far a hard limit may go (the kernel's default when it
 * cannot be read). */
static uint64_t
nr_open(void)
{
	unsigned long long v = 0;
	FILE *f = fopen("/proc/sys/fs/nr_open", "re");

	if (f) {
		if (fscanf(f, "%llu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v > 0 ? v : 1048576;
}

int
arb_fdlimit_lift_hard(const struct arb_spec *spec)
{
	struct arb_fdlimit f = {0};
	struct rlimit lim;
	uint64_t want, most = nr_open();
	int r = arb_fdlimit_check(spec, &f);

	if (r != -EMFILE)
		return r;
	/* Room for the tree to grow as much again while it runs. */
	want = 2 * f.need.total;
	if (want > most)
		want = most;
	if (want < f.need.total)
		return -EMFILE;
	lim.rlim_cur = (rlim_t)f.soft;
	lim.rlim_max = (rlim_t)want;
	if (setrlimit(RLIMIT_NOFILE, &lim) < 0)
		return -errno;
	given.lifted = true;
	given.soft = f.soft;
	given.hard = f.hard;
	return 0;
}

int
arb_fdlimit_raise(const struct arb_spec *spec, struct arb_spawner *sp,
		  bool with_room, struct arb_fdlimit *ret)
{
	struct arb_fd_need need;

	arb_fd_budget(spec, &need);
	return arb_fdlimit_raise_need(&need, sp, with_room, ret);
}

int
arb_fdlimit_raise_need(const struct arb_fd_need *need,
		       struct arb_spawner *sp, bool with_room,
		       struct arb_fdlimit *ret)
{
	struct rlimit raised;
	int r = arb_fdlimit_check_need(need, ret);

	/* Raised only once the need passes it, and then with room. */
	if (r < 0 || ret->soft >= ret->need.total)
		return r;
	raised.rlim_cur = (rlim_t)soft_wanted(ret, with_room);
	raised.rlim_max = ret->hard == ARB_RLIM_INFINITY ? RLIM_INFINITY
							 : (rlim_t)ret->hard;
	if (setrlimit(RLIMIT_NOFILE, &raised) < 0)
		return -errno;
	if (!sp->restore_nofile) {
		/* The children's is the one found first (before an init
		 * lifted its hard limit). */
		sp->nofile_cur = given.lifted ? given.soft : ret->soft;
		sp->nofile_max = given.lifted ? given.hard : ret->hard;
		sp->restore_nofile = true;
	}
	ret->soft = raised.rlim_cur;
	return 0;
}

static void
format_limit(uint64_t v, char *buf, size_t size)
{
	if (v == ARB_RLIM_INFINITY)
		snprintf(buf, size, "unlimited");
	else
		snprintf(buf, size, "%" PRIu64, v);
}

void
arb_fdlimit_refusal(const struct arb_fdlimit *f, char *buf, size_t size)
{
	char hard[24];

	format_limit(f->hard, hard, sizeof(hard));
	snprintf(buf, size, "%" PRIu64 " service%s need%s %" PRIu64
		 " descriptors; the limit is %s: %sraise LimitNOFILE",
		 f->need.services, f->need.services == 1 ? "" : "s",
		 f->need.services == 1 ? "s" : "", f->need.total, hard,
		 f->need.separate > 0 ? "set log streams = \"merged\" or " : "");
}

void
arb_fdlimit_summary(const struct arb_fdlimit *f, char *buf, size_t size)
{
	char hard[24];

	format_limit(f->hard, hard, sizeof(hard));
	snprintf(buf, size, "descriptors: %" PRIu64 " needed, limit %s",
		 f->need.total, hard);
}

/* Descriptors open now, counted without opening one (there may be none
 * left to open /proc/self/fd with): one fcntl per number below limit. */
#define COUNT_OPEN_MAX 1048576 /* fs.nr_open's default */

static uint64_t
count_open(uint64_t limit)
{
	uint64_t n = 0;

	for (uint64_t fd = 0; fd < limit; fd++)
		if (fcntl((int)fd, F_GETFD) >= 0)
			n++;
	return n;
}

const char *
arb_fdlimit_error_text(int err, char *buf, size_t size)
{
	struct rlimit lim;

	if ((err != EMFILE && err != ENFILE) ||
	    getrlimit(RLIMIT_NOFILE, &lim) < 0)
		return strerror(err);
	/* Counted by asking each number: past COUNT_OPEN_MAX the count
	 * would stall the loop, and is left out. */
	if (limit_value(lim.rlim_cur) > COUNT_OPEN_MAX)
		snprintf(buf, size, "%s: arbord's limit is %" PRIu64
			 " descriptors", err == EMFILE ? "too many open files"
			 : "too many open files in the system",
			 limit_value(lim.rlim_cur));
	else
		snprintf(buf, size, "%s: arbord holds %" PRIu64 " of its "
			 "limit of %" PRIu64 " descriptors",
			 err == EMFILE ? "too many open files"
				       : "too many open files in the system",
			 count_open(limit_value(lim.rlim_cur)),
			 limit_value(lim.rlim_cur));
	return buf;
}
