/*
 * source.c - the text of one configuration file, read before libconfig
 * sees it, and every file it pulls in with @include checked.
 *
 * Only regular files are read, opened without blocking: a FIFO would
 * block arbord in open(2) forever, as init too. A file with what it
 * includes holds at most ARB_CONF_SIZE_MAX bytes, as libconfig 1.5 scans
 * a long token in time quadratic in its length when it reads a stream;
 * the main text itself is handed over as a string, which it scans in
 * linear time. libconfig 1.5 has no include hook, so @include is found
 * here as its scanner finds it; libconfig then opens those files again
 * by name (a file swapped between the two opens is not caught).
 *
 * The same pass refuses what libconfig would read as something else
 * without a word: a NUL byte (it ends a string there), and an integer
 * it would cut to 32 bits or saturate at 64.
 */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "core/limits.h"
#include "core/mem.h"

/* libconfig 1.5's MAX_INCLUDE_DEPTH: deeper, it fails without opening. */
#define INCLUDE_DEPTH_MAX 10

/* Why a file cannot be read, beyond an errno. */
enum {
	NOT_REGULAR = 1,
	TOO_LARGE = 2,
};

/* Reading one file and those it includes, against one size budget. */
struct source {
	struct loader *ld;
	size_t used; /* bytes read so far, every inclusion counted */
};

/*
 * Reads the regular file at `path` whole into fresh memory (*ret,
 * NUL-terminated, *ret_len bytes), counted against s->used. 0, -errno,
 * NOT_REGULAR or TOO_LARGE; *ret untouched on failure.
 */
static int
read_regular(struct source *s, const char *path, char **ret,
	     size_t *ret_len)
{
	size_t room = ARB_CONF_SIZE_MAX - s->used, len = 0;
	struct stat st;
	char *buf = NULL;
	ssize_t n;
	int fd, r;

	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto fail;
	}
	r = !S_ISREG(st.st_mode) ? NOT_REGULAR :
	    (uint64_t)st.st_size > room ? TOO_LARGE : 0;
	if (r)
		goto fail;
	/* The file as fstat saw it: what is appended meanwhile is not read. */
	buf = arb_calloc((size_t)st.st_size + 1, 1);
	if (!buf) {
		r = -ENOMEM;
		goto fail;
	}
	while (len < (size_t)st.st_size) {
		n = read(fd, buf + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	(void)close(fd);
	buf[len] = '\0';
	s->used += len;
	*ret = buf;
	*ret_len = len;
	return 0;
fail:
	arb_free(buf);
	(void)close(fd);
	return r;
}

/*
 * Reports why read_regular failed with r: at FILE:LINE of the @include
 * that names `path` when `file` is set, else at `path` itself (the main
 * file or a fragment). -ENOMEM is not reported: it sets ld->oom.
 */
static void
report_unreadable(struct loader *ld, const char *file, int line,
		  const char *path, int r)
{
	char large[128];
	const char *why = large;

	if (r == -ENOMEM) {
		ld->oom = true;
		return;
	}
	if (r == TOO_LARGE)
		(void)snprintf(large, sizeof(large), "larger than %dM%s (a "
			       "file, with what it includes, holds at most "
			       "%dM)", ARB_CONF_SIZE_MAX >> 20,
			       file ? " with what includes it" : "",
			       ARB_CONF_SIZE_MAX >> 20);
	else
		why = r == NOT_REGULAR ? "not a regular file" : strerror(-r);
	if (file)
		at_err(ld, file, line, "@include '%s': %s", path, why);
	else
		at_err(ld, path, 0, "cannot read: %s", why);
}

static int scan_text(struct source *s, const char *file, const char *text,
		     size_t len, int depth);

/* The file an @include names, checked and its own includes followed. */
static int
check_include(struct source *s, const char *file, int line,
	      const char *name, int depth)
{
	struct loader *ld = s->ld;
	char *path = included_name(ld, name), *text = NULL;
	size_t len;
	int r;

	if (!path)
		return -1;
	r = read_regular(s, path, &text, &len);
	if (r)
		report_unreadable(ld, file, line, path, r);
	else
		r = scan_text(s, path, text, len, depth + 1);
	arb_free(text);
	arb_free(path);
	return r ? -1 : 0;
}

/*
 * The file name of an @include directive whose opening quote ends at
 * *p, unescaped as libconfig's INCLUDE state does (\\ and \" are kept
 * as one character, a lone backslash is dropped); *p moves past the
 * closing quote. NULL with ld->oom set on OOM, or without a closing quote
 * (libconfig then fails on the syntax).
 */
static char *
include_name(struct loader *ld, const char **p, const char *end, int *line)
{
	const char *close = *p, *c;
	char *name;
	size_t n = 0;

	while (close < end && *close != '"')
		close += *close == '\\' && close + 1 < end ? 2 : 1;
	if (close >= end)
		return NULL;
	name = arb_calloc((size_t)(close - *p) + 1, 1);
	if (!name) {
		ld->oom = true;
		return NULL;
	}
	for (c = *p; c < close; c++) {
		if (*c == '\n')
			(*line)++;
		if (*c == '\\' && (c[1] == '\\' || c[1] == '"'))
			name[n++] = *++c;
		else if (*c != '\\')
			name[n++] = *c;
	}
	*p = close + 1;
	return name;
}

/*
 * The length of `@include "` at p, at the start of a line: libconfig's
 * ^[ \t]*@include[ \t]+\" ; 0 when there is none.
 */
static size_t
include_open(const char *p, const char *end)
{
	const char *c = p;
	size_t kw = strlen("@include");

	while (c < end && (*c == ' ' || *c == '\t'))
		c++;
	if ((size_t)(end - c) < kw || memcmp(c, "@include", kw) != 0)
		return 0;
	c += kw;
	if (c == end || (*c != ' ' && *c != '\t'))
		return 0;
	while (c < end && (*c == ' ' || *c == '\t'))
		c++;
	return c < end && *c == '"' ? (size_t)(c + 1 - p) : 0;
}

/* Past the string whose opening quote was just before p. */
static const char *
skip_string(const char *p, const char *end, int *line)
{
	for (; p < end && *p != '"'; p++) {
		if (*p == '\n')
			(*line)++;
		else if (*p == '\\' && p + 1 < end &&
			 (p[1] == '"' || p[1] == '\\'))
			p++;
	}
	return p < end ? p + 1 : end;
}

/* Past the block comment whose opening was just before p. */
static const char *
skip_block_comment(const char *p, const char *end, int *line)
{
	for (; p < end; p++) {
		if (*p == '\n')
			(*line)++;
		else if (*p == '*' && p + 1 < end && p[1] == '/')
			return p + 2;
	}
	return end;
}

static bool
is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool
is_hex_digit(char ch)
{
	return is_digit(ch) || (ch >= 'a' && ch <= 'f') ||
	       (ch >= 'A' && ch <= 'F');
}

/* libconfig's {name}: [A-Za-z*][-A-Za-z0-9_*]* */
static bool
is_name_char(char ch, bool first)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       ch == '*' || (!first && (is_digit(ch) || ch == '-' ||
					ch == '_'));
}

/* Past `[eE][-+]?[0-9]+` at p, or p when there is none. */
static const char *
skip_exponent(const char *p, const char *end)
{
	const char *c = p;

	if (c == end || (*c != 'e' && *c != 'E'))
		return p;
	c++;
	if (c < end && (*c == '-' || *c == '+'))
		c++;
	if (c == end || !is_digit(*c))
		return p;
	while (c < end && is_digit(*c))
		c++;
	return c;
}

/* Past `L` or `LL` at p: libconfig's 64-bit integer suffix. */
static const char *
skip_long_suffix(const char *p, const char *end, bool *ret_long)
{
	*ret_long = p < end && *p == 'L';
	if (*ret_long)
		p++;
	if (*ret_long && p < end && *p == 'L')
		p++;
	return p;
}

/*
 * Whether the `n` digits at p, in base 10 or 16, are at most `max`
 * (magnitude).
 */
static bool
fits(const char *p, size_t n, unsigned base, uint64_t max)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned d = is_digit(p[i]) ? (unsigned)(p[i] - '0') :
			(unsigned)((p[i] | 0x20) - 'a' + 10);

		if (v > (max - d) / base)
			return false;
		v = v * base + d;
	}
	return true;
}

/*
 * One number of libconfig's scanner at p (a digit, a sign or a point):
 * past it, with an error when it is an integer that libconfig 1.5 would
 * not read as written. Without L it is an int: a larger one is cut to 32
 * bits (4294967296 reads as 0); with L, atoll saturates (18446744073709551615L
 * reads as 9223372036854775807); a hex one past 0x7fffffff turns negative.
 */
static const char *
scan_number(struct source *s, const char *file, int line, const char *p,
	    const char *end, int *bad)
{
	const char *start = p, *digits, *after;
	bool neg = false, is_long, hex;
	uint64_t max;

	hex = end - p > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X') &&
	      is_hex_digit(p[2]);
	if (!hex && (*p == '-' || *p == '+'))
		neg = *p++ == '-';
	if (hex)
		p += 2;
	digits = p;
	while (p < end && (hex ? is_hex_digit(*p) : is_digit(*p)))
		p++;
	if (!hex && ((p < end && *p == '.') || skip_exponent(p, end) != p)) {
		/* A float, which libconfig reads with atof. */
		if (p < end && *p == '.')
			for (p++; p < end && is_digit(*p); p++)
				;
		return skip_exponent(p, end);
	}
	if (p == digits)
		return start + 1; /* a lone sign: libconfig's syntax error */
	after = skip_long_suffix(p, end, &is_long);
	max = is_long ? INT64_MAX : INT32_MAX;
	if (!fits(digits, (size_t)(p - digits), hex ? 16 : 10,
		  max + (neg ? 1 : 0))) {
		at_err(s->ld, file, line, "integer %.*s is out of range: "
		       "libconfig would read another number (%s to %" PRId64
		       "%s)", (int)(after - start), start,
		       hex ? "0" : is_long ? "-9223372036854775808" :
		       "-2147483648", (int64_t)max, is_long ? "" :
		       "; with an L suffix, to 9223372036854775807");
		*bad = -1;
	}
	return after;
}

/*
 * Every @include of `text` (of file `file`), found where libconfig's
 * scanner finds one: at the start of a line, outside comments and
 * strings; and every integer, NUL byte. 0, or -1 after reporting every
 * problem.
 */
static int
scan_text(struct source *s, const char *file, const char *text, size_t len,
	  int depth)
{
	const char *p = text, *end = text + len, *nul = memchr(text, 0, len);
	int line = 1, bad = 0;
	size_t open;

	if (nul) {
		for (const char *c = text; c < nul; c++)
			line += *c == '\n';
		at_err(s->ld, file, line, "a NUL byte: a configuration file is "
		       "text (libconfig would end a string there)");
		return -1;
	}
	while (p < end && !s->ld->oom) {
		bool bol = p == text || p[-1] == '\n';

		if (bol && (open = include_open(p, end)) > 0) {
			int at = line;
			char *name;

			p += open;
			name = include_name(s->ld, &p, end, &line);
			if (!name)
				break;
			if (depth < INCLUDE_DEPTH_MAX &&
			    check_include(s, file, at, name, depth) < 0)
				bad = -1;
			arb_free(name);
		} else if (*p == '\n') {
			line++;
			p++;
		} else if (*p == '"') {
			p = skip_string(p + 1, end, &line);
		} else if (*p == '/' && p + 1 < end && p[1] == '*') {
			p = skip_block_comment(p + 2, end, &line);
		} else if (*p == '#' || (*p == '/' && p + 1 < end &&
					 p[1] == '/')) {
			p = memchr(p, '\n', (size_t)(end - p));
			p = p ? p : end;
		} else if (is_name_char(*p, true)) {
			while (p < end && is_name_char(*p, false))
				p++;
		} else if (is_digit(*p) || *p == '-' || *p == '+' ||
			   *p == '.') {
			p = scan_number(s, file, line, p, end, &bad);
		} else {
			p++;
		}
	}
	return s->ld->oom ? -1 : bad;
}

int
read_config_file(struct loader *ld, const char *path, char **ret_text)
{
	struct source s = {.ld = ld};
	char *text = NULL;
	size_t len;
	int r;

	r = read_regular(&s, path, &text, &len);
	if (r) {
		report_unreadable(ld, NULL, 0, path, r);
		return -1;
	}
	if (scan_text(&s, path, text, len, 0) < 0) {
		arb_free(text);
		return -1;
	}
	*ret_text = text;
	return 0;
}
