/*
 * capture_internal.h - what capture.c and capture_state.c (its save and
 * restore across a re-exec) share: the captures themselves, and the two
 * steps a restore takes as a start and a line take them. Nothing else
 * includes it.
 */
#ifndef ARB_CAPTURE_INTERNAL_H
#define ARB_CAPTURE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>

#include "capture.h"
#include "sink.h"

struct capture {
	int fd[2];         /* read ends of stdout, stderr; -1 until the first
			    * start */
	int write_fd[2];   /* during a start only */
	int pid;
	uint16_t partial_len[2];
	char *partial;     /* a line without its newline yet, per stream:
			    * 2 x ARB_LOG_LINE_MAX, allocated at the first */
	struct arb_logring *ring; /* at the first line, when it keeps one */
	struct arb_logfile *file; /* shared by the nodes naming one path */
	uint32_t journal_dropped;
	uint8_t sinks;
	uint8_t grown;    /* bit s: stream s's pipe was made larger */
	uint8_t watching; /* bit s: stream s is in the epoll set */
};

/*
 * The pipes are watched by an epoll set of their own, which the loop
 * watches as one descriptor: a pipe costs arbord an int rather than a
 * libev watcher and its slot in libev's table of descriptors.
 */
struct arb_logs {
	struct ev_loop *loop;
	int epfd;
	ev_io epoll_watch;
	const struct arb_spec *spec;
	struct capture *caps; /* one per node slot, as many as the spec's */
	uint32_t ncaps;       /* made: the spec's nodes */
	uint32_t room;        /* caps' length: the spec's capacity */
	unsigned default_sinks;
	struct arb_logfile *files;
	struct arb_console out, err;
	struct arb_journal journal;
	uint64_t seq;
	int self_pid;
	char *scratch; /* a partial line and one read after it */
	arb_logs_line_fn follow;
	void *follow_ctx;
	bool keep_write_ends; /* /proc cannot give them again */
};

/* Puts node's stream s (its read end open) in the epoll set unless it is
 * there. 0 or -errno. */
int arb_logs_watch(struct arb_logs *l, uint32_t node, int s);

/* line into node's ring, made (sized as the spec says) at its first. */
void arb_logs_put_ring(struct arb_logs *l, uint32_t node,
		       const struct arb_log_line *line);

#endif
