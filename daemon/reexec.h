/*
 * reexec.h - arbord replaced in place by a new binary (arborctl reexec):
 * the old image waits for a moment its state can be saved, has the new
 * binary probe that state, then hands everything over and execs it with
 * --resume. The new image's side is runtime_state.c.
 */
#ifndef ARB_REEXEC_H
#define ARB_REEXEC_H

#include <stdbool.h>
#include <stdint.h>

struct runtime;

/* How long the new binary may take to probe the state. */
#define ARB_REEXEC_PROBE_MS 10000

/*
 * Begins a re-exec into binary (NULL: the file arbord was started from),
 * for the control request req_id (0: none), waiting at most timeout_ms for
 * a moment it can be saved. The request is answered with ReexecFailed
 * when it cannot be done; when it is, the new image answers it.
 */
void arb_reexec_request(struct runtime *rt, const char *binary,
			int64_t timeout_ms, uint64_t req_id);

/* A child was reaped: true when it was the probe (then it is handled). */
bool arb_reexec_reaped(struct runtime *rt, int pid, int status);

/* Abandons a re-exec under way (arbord is stopping). */
void arb_reexec_free(struct runtime *rt);

#endif
