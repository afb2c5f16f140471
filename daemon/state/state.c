/*
 * state.c - the re-exec state document: its container (memfd, bulk,
 * descriptors) and the checked getters every reader goes through.
 */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- writing ---- */

int
arb_state_out_init(struct arb_state_out *o)
{
	memset(o, 0, sizeof(*o));
	o->root = json_object();
	if (!o->root ||
	    json_object_set_new(o->root, "format",
				json_string(ARB_STATE_FORMAT)) < 0 ||
	    json_object_set_new(o->root, "version",
				json_integer(ARB_STATE_VERSION)) < 0) {
		json_decref(o->root);
		o->root = NULL;
		return -ENOMEM;
	}
	return 0;
}

void
arb_state_out_done(struct arb_state_out *o)
{
	json_decref(o->root);
	free(o->bulk);
	free(o->fds);
	memset(o, 0, sizeof(*o));
}

json_t *
arb_state_out_fd(struct arb_state_out *o, int fd)
{
	if (o->nfds == o->fds_cap) {
		uint32_t cap = o->fds_cap ? o->fds_cap * 2 : 64;
		int *v = realloc(o->fds, cap * sizeof(*v));

		if (!v)
			return NULL;
		o->fds = v;
		o->fds_cap = cap;
	}
	o->fds[o->nfds++] = fd;
	return json_integer(fd);
}

json_t *
arb_state_out_bulk(struct arb_state_out *o, const void *p, size_t len)
{
	if (o->bulk_len + len > o->bulk_cap) {
		size_t cap = o->bulk_cap ? o->bulk_cap : 65536;
		char *b;

		while (cap < o->bulk_len + len)
			cap *= 2;
		b = realloc(o->bulk, cap);
		if (!b)
			return NULL;
		o->bulk = b;
		o->bulk_cap = cap;
	}
	if (len > 0)
		memcpy(o->bulk + o->bulk_len, p, len);
	o->bulk_len += len;
	return json_pack("{s:I,s:I}", "offset", (json_int_t)(o->bulk_len - len),
			 "length", (json_int_t)len);
}

bool
arb_state_put(json_t *obj, const char *key, json_t *v)
{
	return v && json_object_set_new_nocheck(obj, key, v) == 0;
}

bool
arb_state_put_int(json_t *obj, const char *key, int64_t v, int64_t dflt)
{
	return v == dflt || arb_state_put(obj, key, json_integer(v));
}

bool
arb_state_put_bool(json_t *obj, const char *key, bool v, bool dflt)
{
	return v == dflt || arb_state_put(obj, key, json_boolean(v));
}

bool
arb_state_put_str(json_t *obj, const char *key, const char *v)
{
	return !v || arb_state_put(obj, key, json_string(v));
}

static int
write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
arb_state_out_write(struct arb_state_out *o, int *ret_fd)
{
	json_t *fds = json_array();
	json_free_t free_text;
	char *text = NULL;
	int fd = -1, r = -ENOMEM;

	/* json_dumps's text is freed as jansson allocates: the arena's
	 * way, between arb_jarena_begin and end (jarena.h). */
	json_get_alloc_funcs(NULL, &free_text);
	if (!fds)
		return -ENOMEM;
	for (uint32_t i = 0; i < o->nfds; i++)
		if (json_array_append_new(fds, json_integer(o->fds[i])) < 0)
			goto fail;
	if (json_object_set(o->root, "fds", fds) < 0)
		goto fail;
	text = json_dumps(o->root, JSON_COMPACT);
	if (!text)
		goto fail;
	fd = memfd_create("arbord-state", 0);
	if (fd < 0) {
		r = -errno;
		goto fail;
	}
	r = write_all(fd, text, strlen(text) + 1);
	if (r == 0)
		r = write_all(fd, o->bulk ? o->bulk : "", o->bulk_len);
	if (r == 0 && lseek(fd, 0, SEEK_SET) < 0)
		r = -errno;
	if (r < 0)
		goto fail;
	if (text)
		free_text(text);
	json_decref(fds);
	*ret_fd = fd;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	if (text)
		free_text(text);
	json_decref(fds);
	return r;
}

static int
set_cloexec(int fd, bool on)
{
	int flags = fcntl(fd, F_GETFD);

	if (flags < 0)
		return -errno;
	flags = on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC;
	return fcntl(fd, F_SETFD, flags) < 0 ? -errno : 0;
}

int
arb_state_out_pass(const struct arb_state_out *o, bool pass)
{
	int r = 0;

	for (uint32_t i = 0; i < o->nfds; i++) {
		int e = set_cloexec(o->fds[i], !pass);

		if (e < 0 && r == 0)
			r = e;
	}
	return r;
}

/* ---- reading ---- */

int
arb_state_fail(struct arb_state_in *in, const char *fmt, ...)
{
	va_list ap;

	if (in->error[0] == '\0') {
		va_start(ap, fmt);
		(void)vsnprintf(in->error, sizeof(in->error), fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int
read_fd(int fd, char **ret, size_t *ret_len)
{
	struct stat st;
	size_t len, done = 0;
	char *p;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size < 0 || (unsigned long long)st.st_size > ARB_STATE_SIZE_MAX)
		return -EFBIG;
	len = (size_t)st.st_size;
	p = malloc(len + 1);
	if (!p)
		return -ENOMEM;
	while (done < len) {
		ssize_t n = pread(fd, p + done, len - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(p);
			return n < 0 ? -errno : -EIO;
		}
		done += (size_t)n;
	}
	p[len] = '\0';
	*ret = p;
	*ret_len = len;
	return 0;
}

static int
compare_fds(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return x < y ? -1 : x > y;
}

/*
 * The list of descriptors: each a distinct number, open here. Kept sorted
 * (a tree of thousands of services passes thousands): each is found by
 * bisection.
 */
static int
read_fds(struct arb_state_in *in)
{
	const json_t *fds, *v;
	uint32_t unique = 1;
	size_t i, n;
	int r = 0;

	if (arb_state_array(in, in->root, "state", "fds", &fds) < 0)
		return -EINVAL;
	n = json_array_size(fds);
	if (n > 1u << 20)
		return arb_state_fail(in, "state: fds: %zu descriptors", n);
	in->fds = calloc(n ? n : 1, sizeof(*in->fds));
	in->taken = calloc(n ? n : 1, sizeof(*in->taken));
	if (!in->fds || !in->taken)
		return -ENOMEM;
	/* Every number open here is kept, even past a bad one: whatever the
	 * document, what was passed is closed by arb_state_in_done. */
	json_array_foreach(fds, i, v) {
		json_int_t fd = json_is_integer(v) ? json_integer_value(v) : -1;

		if (fd < 3 || fd > INT32_MAX || fcntl((int)fd, F_GETFD) < 0)
			r = r ? r : arb_state_fail(in, "state: fds[%zu]: not an "
						   "open descriptor", i);
		else
			in->fds[in->nfds++] = (int)fd;
	}
	qsort(in->fds, in->nfds, sizeof(*in->fds), compare_fds);
	/* Each once, or it would be closed twice. */
	for (uint32_t j = 1; j < in->nfds; j++) {
		if (in->fds[j] != in->fds[j - 1]) {
			in->fds[unique++] = in->fds[j];
			continue;
		}
		r = r ? r : arb_state_fail(in, "state: fds: %d named twice",
					   in->fds[j]);
	}
	if (in->nfds > 0)
		in->nfds = unique;
	return r;
}

int
arb_state_in_read(struct arb_state_in *in, int fd)
{
	json_error_t jerr;
	const char *format;
	size_t json_len;
	int64_t version;
	int r;

	memset(in, 0, sizeof(*in));
	r = read_fd(fd, &in->data, &in->data_len);
	close(fd);
	if (r < 0)
		return r;
	json_len = strnlen(in->data, in->data_len);
	if (json_len == in->data_len)
		return arb_state_fail(in, "state: no end to its JSON");
	in->bulk = in->data + json_len + 1;
	in->bulk_len = in->data_len - json_len - 1;
	in->root = json_loadb(in->data, json_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!in->root)
		return arb_state_fail(in, "state: line %d: %s", jerr.line,
				      jerr.text);
	if (!json_is_object(in->root))
		return arb_state_fail(in, "state: not a JSON object");
	if (arb_state_str(in, in->root, "state", "format", &format) < 0)
		return -EINVAL;
	if (strcmp(format, ARB_STATE_FORMAT) != 0)
		return arb_state_fail(in, "state: format '%s', not '%s'",
				      format, ARB_STATE_FORMAT);
	if (arb_state_int(in, in->root, "state", "version", 0, INT32_MAX,
			  &version) < 0)
		return -EINVAL;
	if (version != ARB_STATE_VERSION)
		return arb_state_fail(in, "state: version %" PRId64 "; this "
				      "arbord reads version %d", version,
				      ARB_STATE_VERSION);
	in->version = (int)version;
	return read_fds(in);
}

void
arb_state_in_done(struct arb_state_in *in)
{
	for (uint32_t i = 0; i < in->nfds; i++)
		if (!in->taken[i])
			close(in->fds[i]);
	json_decref(in->root);
	free(in->data);
	free(in->fds);
	free(in->taken);
	in->root = NULL;
	in->data = NULL;
	in->fds = NULL;
	in->taken = NULL;
	in->nfds = 0;
}

static const json_t *
member(struct arb_state_in *in, const json_t *obj, const char *what,
       const char *key, bool optional, int *r)
{
	const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

	*r = 0;
	if (!json_is_object(obj))
		*r = arb_state_fail(in, "%s: not an object", what);
	else if ((!v || json_is_null(v)) && !optional)
		*r = arb_state_fail(in, "%s: %s missing", what, key);
	return json_is_null(v) ? NULL : v;
}

static int
get_int(struct arb_state_in *in, const json_t *obj, const char *what,
	const char *key, int64_t min, int64_t max, int64_t *ret, bool optional)
{
	int r;
	const json_t *v = member(in, obj, what, key, optional, &r);
	json_int_t x;

	if (r < 0 || !v)
		return r;
	if (!json_is_integer(v))
		return arb_state_fail(in, "%s: %s: not an integer", what, key);
	x = json_integer_value(v);
	if (x < min || x > max)
		return arb_state_fail(in, "%s: %s: %lld out of range", what,
				      key, (long long)x);
	*ret = x;
	return 0;
}

int
arb_state_int(struct arb_state_in *in, const json_t *obj, const char *what,
	      const char *key, int64_t min, int64_t max, int64_t *ret)
{
	return get_int(in, obj, what, key, min, max, ret, false);
}

int
arb_state_int_opt(struct arb_state_in *in, const json_t *obj,
		  const char *what, const char *key, int64_t min, int64_t max,
		  int64_t *ret)
{
	return get_int(in, obj, what, key, min, max, ret, true);
}

static int
get_str(struct arb_state_in *in, const json_t *obj, const char *what,
	const char *key, const char **ret, bool optional)
{
	int r;
	const json_t *v = member(in, obj, what, key, optional, &r);

	if (r < 0 || !v)
		return r;
	if (!json_is_string(v))
		return arb_state_fail(in, "%s: %s: not a string", what, key);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return arb_state_fail(in, "%s: %s: holds a NUL", what, key);
	*ret = json_string_value(v);
	return 0;
}

int
arb_state_str(struct arb_state_in *in, const json_t *obj, const char *what,
	      const char *key, const char **ret)
{
	return get_str(in, obj, what, key, ret, false);
}

int
arb_state_str_opt(struct arb_state_in *in, const json_t *obj,
		  const char *what, const char *key, const char **ret)
{
	return get_str(in, obj, what, key, ret, true);
}

int
arb_state_u64(struct arb_state_in *in, const json_t *obj, const char *what,
	      const char *key, uint64_t *ret)
{
	const char *s;
	char *end;
	unsigned long long v;

	if (arb_state_str(in, obj, what, key, &s) < 0)
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (!*s || *end || errno || *s == '-' || *s == '+' || *s == ' ')
		return arb_state_fail(in, "%s: %s: not a decimal number", what,
				      key);
	*ret = v;
	return 0;
}

static int
get_bool(struct arb_state_in *in, const json_t *obj, const char *what,
	 const char *key, bool *ret, bool optional)
{
	int r;
	const json_t *v = member(in, obj, what, key, optional, &r);

	if (r < 0 || !v)
		return r;
	if (!json_is_boolean(v))
		return arb_state_fail(in, "%s: %s: not a boolean", what, key);
	*ret = json_is_true(v);
	return 0;
}

int
arb_state_bool(struct arb_state_in *in, const json_t *obj, const char *what,
	       const char *key, bool *ret)
{
	return get_bool(in, obj, what, key, ret, false);
}

int
arb_state_bool_opt(struct arb_state_in *in, const json_t *obj,
		   const char *what, const char *key, bool *ret)
{
	return get_bool(in, obj, what, key, ret, true);
}

int
arb_state_enum(struct arb_state_in *in, const json_t *obj, const char *what,
	       const char *key, int (*from_name)(const char *name), int *ret)
{
	const char *s;
	int v;

	if (arb_state_str(in, obj, what, key, &s) < 0)
		return -EINVAL;
	v = from_name(s);
	if (v < 0)
		return arb_state_fail(in, "%s: %s: unknown value '%s'", what,
				      key, s);
	*ret = v;
	return 0;
}

static int
get_typed(struct arb_state_in *in, const json_t *obj, const char *what,
	  const char *key, const json_t **ret, bool optional, bool array)
{
	int r;
	const json_t *v = member(in, obj, what, key, optional, &r);

	if (r < 0 || !v)
		return r;
	if (array ? !json_is_array(v) : !json_is_object(v))
		return arb_state_fail(in, "%s: %s: not an %s", what, key,
				      array ? "array" : "object");
	*ret = v;
	return 0;
}

int
arb_state_array(struct arb_state_in *in, const json_t *obj, const char *what,
		const char *key, const json_t **ret)
{
	return get_typed(in, obj, what, key, ret, false, true);
}

int
arb_state_array_opt(struct arb_state_in *in, const json_t *obj,
		    const char *what, const char *key, const json_t **ret)
{
	return get_typed(in, obj, what, key, ret, true, true);
}

int
arb_state_object(struct arb_state_in *in, const json_t *obj, const char *what,
		 const char *key, const json_t **ret)
{
	return get_typed(in, obj, what, key, ret, false, false);
}

int
arb_state_object_opt(struct arb_state_in *in, const json_t *obj,
		     const char *what, const char *key, const json_t **ret)
{
	return get_typed(in, obj, what, key, ret, true, false);
}

/* Where fd is in the sorted list, or NULL when it was not passed. */
static int *
find_fd(const struct arb_state_in *in, int fd)
{
	if (in->nfds == 0)
		return NULL;
	return bsearch(&fd, in->fds, in->nfds, sizeof(*in->fds), compare_fds);
}

int
arb_state_fd(struct arb_state_in *in, const json_t *obj, const char *what,
	     const char *key, int *ret_fd)
{
	int64_t fd = -1;
	int *at;
	size_t i;

	if (arb_state_int_opt(in, obj, what, key, -1, INT32_MAX, &fd) < 0)
		return -EINVAL;
	if (fd < 0) {
		*ret_fd = -1;
		return 0;
	}
	at = find_fd(in, (int)fd);
	if (!at)
		return arb_state_fail(in, "%s: %s: descriptor %d was not "
				      "passed", what, key, (int)fd);
	i = (size_t)(at - in->fds);
	if (in->taken[i])
		return arb_state_fail(in, "%s: %s: descriptor %d taken twice",
				      what, key, (int)fd);
	if (fcntl((int)fd, F_SETFD, FD_CLOEXEC) < 0)
		return arb_state_fail(in, "%s: %s: descriptor %d: %s", what,
				      key, (int)fd, strerror(errno));
	in->taken[i] = true;
	*ret_fd = (int)fd;
	return 0;
}

int
arb_state_bulk(struct arb_state_in *in, const json_t *obj, const char *what,
	       const char *key, const char **ret, size_t *ret_len)
{
	const json_t *ref;
	int64_t off, len;

	if (arb_state_object(in, obj, what, key, &ref) < 0 ||
	    arb_state_int(in, ref, what, "offset", 0, (int64_t)in->bulk_len,
			  &off) < 0 ||
	    arb_state_int(in, ref, what, "length", 0,
			  (int64_t)in->bulk_len - off, &len) < 0)
		return -EINVAL;
	*ret = in->bulk + off;
	*ret_len = (size_t)len;
	return 0;
}
