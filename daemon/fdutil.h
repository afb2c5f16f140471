/*
 * fdutil.h - two ways of making descriptors that the log pipes, the
 * readiness pipes and the console share.
 */
#ifndef ARB_FDUTIL_H
#define ARB_FDUTIL_H

/*
 * A close-on-exec pipe whose read end is arbord's, non-blocking, and
 * whose write end is for a child, blocking (a writer waits when the pipe
 * is full). 0 or -errno.
 */
int arb_reader_pipe(int *ret_read, int *ret_write);

/*
 * A new open file description of what fd refers to (through
 * /proc/self/fd), with flags (O_CLOEXEC is added): a pipe's other end, or
 * a terminal with flags of our own. The descriptor or -errno; sockets
 * cannot be opened this way (-ENXIO).
 */
int arb_reopen(int fd, int flags);

#endif
