/*
 * stamp - the tiny program the benchmarks start.
 *
 *   stamp OUT [exit]
 *
 * The first thing main does is read CLOCK_MONOTONIC; it then appends
 * "<pid> <ns>\n" to OUT with a single write(2) and pause()s until killed
 * (or exits 0 when a second argument "exit" is given). OUT is a file
 * opened O_WRONLY|O_APPEND|O_CREAT, so many writers never interleave;
 * an OUT made only of digits is taken as an already open fd.
 */
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char *put_u64(char *end, uint64_t v)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return end;
}

int main(int argc, char **argv)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);

	if (argc < 2)
		return 2;

	char buf[48];
	char *end = buf + sizeof(buf);
	char *p = end;
	*--p = '\n';
	p = put_u64(p, (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
	*--p = ' ';
	p = put_u64(p, (uint64_t)getpid());

	const char *out = argv[1];
	int fd = 0;
	if (out[0] && strspn(out, "0123456789") == strlen(out)) {
		for (const char *c = out; *c; c++)
			fd = fd * 10 + (*c - '0');
	} else {
		fd = open(out, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			return 1;
	}
	if (write(fd, p, (size_t)(end - p)) != end - p)
		return 1;

	if (argc > 2 && strcmp(argv[2], "exit") == 0)
		return 0;
	for (;;)
		pause();
}
