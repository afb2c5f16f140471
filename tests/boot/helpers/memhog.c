/*
 * memhog MIB [hold] - allocates MIB mebibytes, one at a time with every
 * page written (so each is charged to its cgroup), saying how far it got
 * every 8; then exits 0, or with "hold" keeps them until killed. The boot
 * tests' service that outgrows its memory_max (busybox has nothing that
 * allocates a known amount).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIB (1024 * 1024)

int
main(int argc, char **argv)
{
	long want = argc > 1 ? atol(argv[1]) : 0;
	int hold = argc > 2 && strcmp(argv[2], "hold") == 0;

	if (want <= 0) {
		fprintf(stderr, "usage: memhog MIB [hold]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (long i = 1; i <= want; i++) {
		char *p = malloc(MIB);

		if (!p) {
			printf("malloc failed at %ld MiB\n", i);
			return 1;
		}
		memset(p, 0x5a, MIB);
		if (i % 8 == 0)
			printf("allocated %ld MiB\n", i);
	}
	printf("holding %ld MiB\n", want);
	while (hold)
		pause();
	return 0;
}
