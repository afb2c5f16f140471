/*
 * signames.h - signal names for configuration and events.
 */
#ifndef ARB_SIGNAMES_H
#define ARB_SIGNAMES_H

/* "TERM" for SIGTERM; NULL for a number with no name. */
const char *arb_signal_name(int signo);

/* Accepts "TERM" or "SIGTERM"; returns the number, or -1 if unknown. */
int arb_signal_from_name(const char *name);

#endif
