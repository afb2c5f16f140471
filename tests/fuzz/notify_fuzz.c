/*
 * notify_fuzz.c - libFuzzer target for the parser of sd_notify datagrams
 * (daemon/notify.c), which reads what any local process may send to the
 * notify socket. Nothing may crash or read out of bounds, and what it
 * returns must hold together: a status points into the buffer, numbers
 * are in range.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "notify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arb_notify_msg m;
	char *buf = malloc(size + 1);

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	arb_notify_parse(buf, size, &m);
	if (m.status && (m.status < buf || m.status > buf + size))
		abort();
	if (m.mainpid < 0 || m.extend_ms < 0 || m.errno_value < -1 ||
	    m.errno_value > 4095 || (m.watchdog && m.watchdog_trigger))
		abort();
	free(buf);
	return 0;
}
