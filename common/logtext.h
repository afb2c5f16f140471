/*
 * logtext.h - a captured line's bytes and time as JSON, shared so that a
 * line reads the same from arbord's ring (Logs) and from the journal
 * (arborctl logs): bytes that are not UTF-8 become U+FFFD in "line", and
 * "raw" holds the exact bytes as numbers.
 */
#ifndef ARB_LOGTEXT_H
#define ARB_LOGTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/*
 * Whether text is valid UTF-8 holding no NUL: what goes into JSON as it
 * is (jansson refuses invalid UTF-8; many readers refuse \u0000).
 */
bool arb_logtext_is_utf8(const char *text, size_t len);

/*
 * The text as a JSON string, every byte that is not part of valid UTF-8
 * (NUL included: many JSON readers refuse \u0000) as U+FFFD; *ret_exact
 * tells whether that changed anything. NULL on OOM.
 */
json_t *arb_logtext_json(const char *text, size_t len, bool *ret_exact);

/* The exact bytes as an array of numbers; NULL on OOM. */
json_t *arb_logtext_raw_json(const char *text, size_t len);

/* time_us as "2026-11-21T10:00:00.123456Z" (UTC), a line's time; its
 * length (0: it did not fit). */
size_t arb_log_format_time(char *buf, size_t size, int64_t time_us);

/* The same as a JSON string; NULL on OOM. */
json_t *arb_logtext_time_json(int64_t time_us);

#endif
