/*
 * state.h - what arbord hands its next image across a re-exec (arborctl
 * reexec): one document, versioned, written with jansson, read back by the
 * new binary. Its format is daemon/state/FORMAT.md.
 *
 * The document travels in a memfd: the JSON text, a NUL, then the "bulk"
 * (bytes JSON carries badly: the log rings, partial lines). Descriptors
 * (log pipes, listen sockets, the control socket...) are passed by number:
 * they stay open across execve(2), their close-on-exec flag cleared for
 * the exec only, and the document names each by its number, once.
 *
 * The reader trusts nothing: a state file corrupted byte by byte must
 * never crash it (tests/fuzz/state_fuzz.c). Every value is read through
 * the typed getters below, which check type and range, and every
 * descriptor through arb_state_in_fd(), which checks it was passed and is
 * taken once. The first problem is kept in `error` with the key's path.
 */
#ifndef ARB_STATE_H
#define ARB_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* The format's name and version (FORMAT.md): a reader takes only its own
 * version and those it lists as readable. */
#define ARB_STATE_FORMAT "arbord-state"
#define ARB_STATE_VERSION 1

/* Larger than any state arbord writes (a tree of ARB_NODES_MAX nodes with
 * full rings); a bigger memfd is refused unread. */
#define ARB_STATE_SIZE_MAX (1ull << 31)

/* ---- writing ---- */

struct arb_state_out {
	json_t *root;   /* the document: an object */
	char *bulk;     /* the binary side data */
	size_t bulk_len, bulk_cap;
	int *fds;       /* the descriptors to pass, in the order named */
	uint32_t nfds, fds_cap;
};

/* An empty document with its format and version. 0 or -ENOMEM. */
int arb_state_out_init(struct arb_state_out *o);
void arb_state_out_done(struct arb_state_out *o);

/*
 * fd, to be passed: the descriptor's number as a JSON integer (a new
 * reference), recorded in the list the reader checks against; NULL on
 * OOM. A descriptor is named at most once.
 */
json_t *arb_state_out_fd(struct arb_state_out *o, int fd);

/* len bytes appended to the bulk: {"offset": N, "length": L}, a new
 * reference, NULL on OOM. */
json_t *arb_state_out_bulk(struct arb_state_out *o, const void *p, size_t len);

/*
 * Members of obj whose value is not the default: a reader's _opt getters
 * give the default back for a key that is absent, and a large tree's state
 * stays small (most of its nodes' values are defaults). key is a static
 * ASCII name. Each returns false on OOM, for `ok = ok && put(...)`.
 */
bool arb_state_put_int(json_t *obj, const char *key, int64_t v, int64_t dflt);
bool arb_state_put_bool(json_t *obj, const char *key, bool v, bool dflt);
bool arb_state_put_str(json_t *obj, const char *key, const char *v); /* NULL */
/* obj[key] = v (stolen; NULL: false, as on OOM). */
bool arb_state_put(json_t *obj, const char *key, json_t *v);

/*
 * Writes the document (with "fds", the descriptors named) to a new memfd,
 * without close-on-exec: *ret_fd, owned by the caller. 0 or -errno.
 */
int arb_state_out_write(struct arb_state_out *o, int *ret_fd);

/*
 * Clears (pass true) or sets again (false) close-on-exec on every
 * descriptor named: around the execve() only, so no child spawned meanwhile
 * inherits them. 0, or the first -errno.
 */
int arb_state_out_pass(const struct arb_state_out *o, bool pass);

/* ---- reading ---- */

struct arb_state_in {
	json_t *root;
	char *data;          /* the memfd's bytes: JSON, NUL, bulk */
	size_t data_len;
	const char *bulk;    /* within data */
	size_t bulk_len;
	int *fds;            /* those the writer named */
	bool *taken;
	uint32_t nfds;
	int version;         /* of the document read */
	char error[256];     /* the first problem, with the key's path */
};

/*
 * Reads the state in fd (consumed: closed), checks its format and version
 * and its list of descriptors (each open in this process). 0, -EINVAL with
 * in->error set, -ENOMEM, or -errno of the read.
 */
int arb_state_in_read(struct arb_state_in *in, int fd);

/* Closes every descriptor named but not taken, and frees. */
void arb_state_in_done(struct arb_state_in *in);

/*
 * Records a problem (printf-style) as in->error unless one is there
 * already; returns -EINVAL, for `return arb_state_fail(in, ...)`.
 */
int arb_state_fail(struct arb_state_in *in, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * The typed getters: obj[key], checked. `what` names obj in errors
 * ("nodes[3]"). Each returns 0 and sets *ret, or -EINVAL (error set;
 * *ret untouched). The _opt forms leave *ret as it was when key is absent
 * or null.
 */
int arb_state_int(struct arb_state_in *in, const json_t *obj, const char *what,
		  const char *key, int64_t min, int64_t max, int64_t *ret);
int arb_state_int_opt(struct arb_state_in *in, const json_t *obj,
		      const char *what, const char *key, int64_t min,
		      int64_t max, int64_t *ret);
/* A uint64_t written as a decimal string (values past INT64_MAX). */
int arb_state_u64(struct arb_state_in *in, const json_t *obj, const char *what,
		  const char *key, uint64_t *ret);
int arb_state_bool(struct arb_state_in *in, const json_t *obj,
		   const char *what, const char *key, bool *ret);
int arb_state_bool_opt(struct arb_state_in *in, const json_t *obj,
		       const char *what, const char *key, bool *ret);
/* A string without NUL bytes; *ret borrowed from the document. */
int arb_state_str(struct arb_state_in *in, const json_t *obj, const char *what,
		  const char *key, const char **ret);
int arb_state_str_opt(struct arb_state_in *in, const json_t *obj,
		      const char *what, const char *key, const char **ret);
/* A name that from_name (spec.h's arb_*_from_name) knows: its value. */
int arb_state_enum(struct arb_state_in *in, const json_t *obj,
		   const char *what, const char *key,
		   int (*from_name)(const char *name), int *ret);
/* An array or object member of that type; *ret borrowed. */
int arb_state_array(struct arb_state_in *in, const json_t *obj,
		    const char *what, const char *key, const json_t **ret);
int arb_state_array_opt(struct arb_state_in *in, const json_t *obj,
			const char *what, const char *key, const json_t **ret);
int arb_state_object(struct arb_state_in *in, const json_t *obj,
		     const char *what, const char *key, const json_t **ret);
int arb_state_object_opt(struct arb_state_in *in, const json_t *obj,
			 const char *what, const char *key, const json_t **ret);

/*
 * A descriptor the writer passed, named by obj[key] (-1 or absent: none,
 * *ret_fd = -1): taken once, made close-on-exec again; the caller owns it.
 */
int arb_state_fd(struct arb_state_in *in, const json_t *obj, const char *what,
		 const char *key, int *ret_fd);

/* The bytes a {"offset","length"} at obj[key] names in the bulk; borrowed. */
int arb_state_bulk(struct arb_state_in *in, const json_t *obj,
		   const char *what, const char *key, const char **ret,
		   size_t *ret_len);

#endif
