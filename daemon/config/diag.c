/*
 * diag.c - the loader's diagnostics: every problem as one line
 * "FILE:LINE: message" in an arb_diag, and the names of the files they
 * point at (the main file, a fragment, or a file it pulled in with
 * @include).
 *
 * It only formats and collects: what to print, and where, is main.c's.
 * It depends on no other file of the loader.
 */
#include <ctype.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "internal.h"
#include "core/mem.h"
#include "core/spec.h"

void
arb_diag_done(struct arb_diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		arb_free(d->entries[i].text);
	arb_free(d->entries);
	memset(d, 0, sizeof(*d));
}

/* `fmt` formatted into fresh memory from arb_calloc; NULL on OOM. */
static PRINTF(1, 0) char *
vformat(const char *fmt, va_list ap)
{
	va_list aq;
	char *buf;
	int len;

	va_copy(aq, ap);
	len = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (len < 0)
		return NULL;
	buf = arb_calloc((size_t)len + 1, 1);
	if (buf)
		(void)vsnprintf(buf, (size_t)len + 1, fmt, ap);
	return buf;
}

PRINTF(2, 3) char *
format(struct loader *ld, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = vformat(fmt, ap);
	va_end(ap);
	if (!s)
		ld->oom = true;
	return s;
}

/*
 * Appends "FILE:LINE:COLUMN: " + prefix + message (no ":LINE" when
 * line <= 0, no ":COLUMN" when column <= 0).
 */
static PRINTF(7, 0) void
diag_vadd(struct loader *ld, enum arb_diag_level level, const char *file,
	  int line, int column, const char *prefix, const char *fmt,
	  va_list ap)
{
	struct arb_diag *d = ld->diag;
	struct arb_diag_entry *entries;
	char *msg, *text;
	size_t message_len;

	entries = arb_reallocarray(d->entries, d->n + 1, sizeof(*entries));
	if (!entries) {
		ld->oom = true;
		return;
	}
	d->entries = entries;
	msg = vformat(fmt, ap);
	if (!msg) {
		ld->oom = true;
		return;
	}
	if (line > 0 && column > 0)
		text = format(ld, "%s:%d:%d: %s%s", file, line, column, prefix,
			      msg);
	else if (line > 0)
		text = format(ld, "%s:%d: %s%s", file, line, prefix, msg);
	else
		text = format(ld, "%s: %s%s", file, prefix, msg);
	message_len = strlen(prefix) + strlen(msg);
	arb_free(msg);
	if (!text)
		return;
	/* One entry is one line, whatever the user's strings hold. */
	for (char *p = text; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	d->entries[d->n].level = level;
	d->entries[d->n].text = text;
	d->entries[d->n].line = line > 0 ? line : 0;
	d->entries[d->n].column = line > 0 && column > 0 ? column : 0;
	d->entries[d->n].message = text + strlen(text) - message_len;
	d->n++;
	if (level == ARB_DIAG_ERROR)
		d->nerrors++;
	else
		d->nwarnings++;
}

PRINTF(4, 5) void
at_err(struct loader *ld, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(ld, ARB_DIAG_ERROR, file, line, 0, "", fmt, ap);
	va_end(ap);
}

PRINTF(5, 6) void
at_err_column(struct loader *ld, const char *file, int line, int column,
	      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(ld, ARB_DIAG_ERROR, file, line, column, "", fmt, ap);
	va_end(ap);
}

char *
join(struct loader *ld, const char *dir, size_t dirlen, const char *name)
{
	return format(ld, "%.*s%s%s", (int)dirlen, dir,
		      dirlen && dir[dirlen - 1] != '/' ? "/" : "", name);
}

/*
 * libconfig 1.5 opens DIR/NAME for `@include "NAME"`, whatever NAME
 * starts with (even "/"), and names the file NAME: this is the path it
 * really read.
 */
char *
included_name(struct loader *ld, const char *f)
{
	f += strspn(f, "/");
	if (strcmp(ld->include_dir, ".") == 0)
		return format(ld, "%s", f);
	return join(ld, ld->include_dir, strlen(ld->include_dir), f);
}

/*
 * The spec's copy of the file a setting came from: the file being read,
 * or one it pulled in with @include.
 */
const char *
file_of(struct loader *ld, const config_setting_t *s)
{
	const char *f = config_setting_source_file(s);
	const char *copy = NULL;
	char *name;

	if (!f || strcmp(f, ld->file) == 0)
		return ld->file;
	name = included_name(ld, f);
	if (!name)
		return ld->file;
	for (uint32_t i = 0; i < ld->spec->nfiles && !copy; i++)
		if (strcmp(ld->spec->files[i], name) == 0)
			copy = ld->spec->files[i];
	if (!copy)
		copy = arb_spec_add_file(ld->spec, name);
	arb_free(name);
	if (!copy) {
		ld->oom = true;
		return ld->file;
	}
	return copy;
}

/* The line `line` (from 1) of text, and its length; NULL past the end. */
static const char *
line_of(const char *text, int line, size_t *ret_len)
{
	const char *p = text;

	for (int i = 1; i < line && p; i++) {
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	if (!p)
		return NULL;
	*ret_len = strcspn(p, "\n");
	return p;
}

/* Where `key` is written as a key (KEY = or KEY :) in the line, or NULL. */
static const char *
find_key(const char *line, size_t len, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = line; klen && p + klen <= line + len; p++) {
		const char *after = p + klen;

		if (memcmp(p, key, klen) != 0 ||
		    (p > line && (isalnum((unsigned char)p[-1]) ||
				  p[-1] == '_' || p[-1] == '-')))
			continue;
		while (after < line + len && (*after == ' ' || *after == '\t'))
			after++;
		if (after < line + len && (*after == '=' || *after == ':'))
			return p;
	}
	return NULL;
}

/* Where the string "value" is written in the line, quotes included. */
static const char *
find_string(const char *line, size_t len, const char *value)
{
	size_t vlen = strlen(value);

	for (const char *p = line; p + vlen + 2 <= line + len; p++)
		if (p[0] == '"' && memcmp(p + 1, value, vlen) == 0 &&
		    p[vlen + 1] == '"')
			return p;
	return NULL;
}

/*
 * The column (from 1) of setting `s` in a child spec given as text
 * (ld->text), 0 in a file. libconfig keeps only a setting's line: on it,
 * a string element is found by its value, a setting by its key (an
 * element by its list's), else the line's first character not blank.
 */
static int
column_of(struct loader *ld, const config_setting_t *s)
{
	const char *line, *at = NULL;
	size_t len;

	if (!ld->text)
		return 0;
	line = line_of(ld->text, (int)config_setting_source_line(s), &len);
	if (!line)
		return 0;
	if (!config_setting_name(s) &&
	    config_setting_type(s) == CONFIG_TYPE_STRING)
		at = find_string(line, len, config_setting_get_string(s));
	if (!at)
		at = find_key(line, len, key_of(s));
	if (!at) {
		at = line + strspn(line, " \t");
		if (at >= line + len)
			return 0;
	}
	return (int)(at - line) + 1;
}

PRINTF(3, 4) void
top_err(struct loader *ld, const config_setting_t *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(ld, ARB_DIAG_ERROR, file_of(ld, at),
		  (int)config_setting_source_line(at), column_of(ld, at), "",
		  fmt, ap);
	va_end(ap);
}

/* An error or warning about node c->idx at FILE:LINE, quoting its path. */
static PRINTF(6, 0) void
node_vdiag(struct node_ctx *c, enum arb_diag_level level, const char *file,
	   int line, int column, const char *fmt, va_list ap)
{
	struct loader *ld = c->ld;
	const char *prefix = c->top ? "" : "supervisor: ";
	char *child = NULL;

	if (!c->top && c->idx != ARB_ROOT) {
		child = format(ld, "child '%s': ",
			       ld->spec->nodes[c->idx].path);
		if (!child)
			return;
		prefix = child;
	}
	diag_vadd(ld, level, file, line, column, prefix, fmt, ap);
	arb_free(child);
}

PRINTF(3, 4) void
node_err(struct node_ctx *c, const config_setting_t *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	node_vdiag(c, ARB_DIAG_ERROR, file_of(c->ld, at),
		   (int)config_setting_source_line(at), column_of(c->ld, at),
		   fmt, ap);
	va_end(ap);
}

PRINTF(3, 4) void
node_warn(struct node_ctx *c, const config_setting_t *at, const char *fmt,
	  ...)
{
	va_list ap;

	va_start(ap, fmt);
	node_vdiag(c, ARB_DIAG_WARNING, file_of(c->ld, at),
		   (int)config_setting_source_line(at), column_of(c->ld, at),
		   fmt, ap);
	va_end(ap);
}

PRINTF(4, 5) void
node_err_at(struct node_ctx *c, const char *file, int line, const char *fmt,
	    ...)
{
	va_list ap;

	va_start(ap, fmt);
	node_vdiag(c, ARB_DIAG_ERROR, file, line, 0, fmt, ap);
	va_end(ap);
}
