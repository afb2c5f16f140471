/*
 * logtext.c - a captured line's bytes as JSON (logtext.h). No I/O.
 */
#include "logtext.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * The length of the UTF-8 character at p (n bytes left), 0 if invalid.
 * NUL counts as invalid: many JSON readers (jansson by default) refuse
 * \u0000, and a C string would end there.
 */
static size_t
utf8_char(const unsigned char *p, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len;

	if (p[0] == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4;
	else
		return 0;
	/* Overlong forms, surrogates and code points past U+10FFFF. */
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

bool
arb_logtext_is_utf8(const char *text, size_t len)
{
	const unsigned char *p = (const unsigned char *)text;

	for (size_t i = 0; i < len;) {
		size_t n = utf8_char(p + i, len - i);

		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

/*
 * The text as a JSON string, every byte that is not part of valid UTF-8
 * as U+FFFD; *ret_exact tells whether that changed anything.
 */
json_t *
arb_logtext_json(const char *text, size_t len, bool *ret_exact)
{
	const unsigned char *p = (const unsigned char *)text;
	char *fixed, *out;
	json_t *j;

	*ret_exact = arb_logtext_is_utf8(text, len);
	if (*ret_exact)
		return json_stringn(text, len);
	fixed = malloc(len * 3 + 1);
	if (!fixed)
		return NULL;
	out = fixed;
	for (size_t i = 0; i < len;) {
		size_t n = utf8_char(p + i, len - i);

		if (n == 0) {
			memcpy(out, "\xef\xbf\xbd", 3);
			out += 3;
			i++;
			continue;
		}
		memcpy(out, p + i, n);
		out += n;
		i += n;
	}
	j = json_stringn(fixed, (size_t)(out - fixed));
	free(fixed);
	return j;
}

/* The exact bytes, as numbers: only for lines that are not UTF-8. */
json_t *
arb_logtext_raw_json(const char *text, size_t len)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < len; i++)
		if (json_array_append_new(a, json_integer(
				(unsigned char)text[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

size_t
arb_log_format_time(char *buf, size_t size, int64_t time_us)
{
	time_t secs = (time_t)(time_us / 1000000);
	unsigned usec = (unsigned)(time_us % 1000000);
	struct tm tm;
	size_t n;

	if (size == 0)
		return 0;
	/* gmtime_r refuses a year past int: then tm is not set. */
	n = gmtime_r(&secs, &tm) ? strftime(buf, size, "%Y-%m-%dT%H:%M:%S",
					    &tm) : 0;
	if (n == 0 || n + 9 > size) {
		buf[0] = '\0';
		return 0;
	}
	buf[n++] = '.';
	for (int i = 5; i >= 0; i--, usec /= 10)
		buf[n + (size_t)i] = (char)('0' + usec % 10);
	n += 6;
	buf[n++] = 'Z';
	buf[n] = '\0';
	return n;
}

json_t *
arb_logtext_time_json(int64_t time_us)
{
	char buf[64];

	if (arb_log_format_time(buf, sizeof(buf), time_us) == 0)
		return NULL;
	return json_string(buf);
}
