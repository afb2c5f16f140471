/*
 * ring.h - one service's recent output in memory: a ring of lines that
 * forgets the oldest when a new one needs the room.
 *
 * Records are stored whole, each in one contiguous stretch of the buffer
 * (a line never wraps around its end), so a reader gets a pointer to its
 * bytes. Every line carries a sequence number given by the caller from one
 * counter for all rings, so lines of several rings merge in the order they
 * were read. Pure: no syscalls, no clock.
 */
#ifndef ARB_LOGRING_H
#define ARB_LOGRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum arb_log_stream {
	ARB_STREAM_STDOUT,
	ARB_STREAM_STDERR,
	ARB_STREAM_ARBOR, /* arbord's own: events, and its drop markers */
	/* A service's stdout and stderr through one pipe (log streams =
	 * "merged"): which of them wrote the line is unknown. */
	ARB_STREAM_OUTPUT,
	_ARB_STREAM_MAX
};

enum arb_line_flag {
	ARB_LINE_CUT = 1u << 0, /* longer than ARB_LOG_LINE_MAX: it goes on
				 * in the next line of the same stream */
};

/* One line as stored and as handed to readers; text is not terminated. */
struct arb_log_line {
	uint64_t seq;
	int64_t time_us; /* wall clock, microseconds since the epoch */
	int32_t pid;
	uint8_t stream;  /* enum arb_log_stream */
	uint8_t flags;   /* enum arb_line_flag bits */
	uint16_t len;
	const char *text;
};

struct arb_logring {
	char *buf;      /* NULL until the first line (allocated lazily) */
	uint32_t size;  /* bytes allocated: from ARB_LOGRING_FIRST, doubled
			 * as lines come, up to max */
	uint32_t max;   /* the configured size */
	uint32_t head;  /* offset of the oldest record */
	uint32_t tail;  /* offset where the next record goes */
	uint32_t end;   /* while wrapped: where the stretch from head ends
			 * (the records go on at 0, up to tail) */
	uint32_t count; /* records held */
	bool wrapped;
};

#define ARB_LOGRING_FIRST 4096u

/*
 * A ring of at most `size` bytes: 4 KiB allocated at its first line, and
 * twice as much each time it fills, so a service that writes little costs
 * little.
 */
void arb_logring_init(struct arb_logring *r, uint32_t size);
void arb_logring_done(struct arb_logring *r);

/*
 * Allocates the whole size at once, for a ring that will fill anyway
 * (arbord's events): growing would leave the smaller buffers behind in
 * the heap. 0 or -ENOMEM.
 */
int arb_logring_reserve(struct arb_logring *r);

/*
 * Stores a copy of `line` (its text included), growing the ring or, at its
 * maximum, forgetting the oldest lines until it fits. 0; -ENOMEM when the
 * buffer could not be allocated (or grown: the oldest lines go instead);
 * -E2BIG when a single line cannot fit the ring at all.
 */
int arb_logring_put(struct arb_logring *r, const struct arb_log_line *line);

/* The bytes a line of len bytes takes in a ring. */
size_t arb_logring_record_size(size_t len);

/* A place in a ring; any put invalidates it. */
struct arb_logring_iter {
	uint32_t off;  /* of the next record */
	uint32_t left; /* records from there to the newest */
};

/* The first place to read: the newest `last` lines (all when fewer). */
void arb_logring_iter_last(const struct arb_logring *r, uint32_t last,
			   struct arb_logring_iter *it);

/*
 * The line at it, oldest first, with text pointing into the ring (valid
 * until the next put), and it moved on; false after the newest line.
 */
bool arb_logring_next(const struct arb_logring *r, struct arb_logring_iter *it,
		      struct arb_log_line *ret);

#endif
