/*
 * seed.h - the seed of jansson's hash tables, taken without waiting.
 *
 * Left to itself, jansson reads /dev/urandom the first time it makes an
 * object. Early in a boot the kernel's generator is not ready yet, and
 * that read waits (about a second under qemu): for arbord as PID 1 that
 * is a frozen init. The seed only guards against collisions chosen by a
 * client, so bytes that do not wait are good enough.
 */
#ifndef ARB_SEED_H
#define ARB_SEED_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#ifndef GRND_INSECURE
#define GRND_INSECURE 0x0004 /* Linux 5.6: never waits */
#endif

static inline void
arb_seed_json(void)
{
	struct timespec ts;
	size_t seed = 0;

	if (getrandom(&seed, sizeof(seed), GRND_INSECURE) != sizeof(seed) &&
	    getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed)) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		seed = (size_t)ts.tv_nsec * 2654435761u ^
		       (size_t)ts.tv_sec ^ (size_t)getpid() << 16;
	}
	json_object_seed(seed ? seed : 1); /* 0 would mean /dev/urandom */
}

#endif
