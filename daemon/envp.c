/*
 * envp.c - building a service's environment (the layers are in envp.h).
 *
 * Runs in arbord, never in the child: it allocates freely and makes no
 * syscalls. The result is made once per node, so duplicate keys are
 * resolved with a sort, not a scan per entry: env_file may be long.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envp.h"

/* What systemd's protocols put in a process's environment. */
static const char *const protocol_keys[] = {
	"LISTEN_FDS", "LISTEN_FDNAMES", "LISTEN_PID", "NOTIFY_SOCKET",
	"WATCHDOG_USEC", "WATCHDOG_PID",
};

struct candidate {
	char *kv;
	size_t klen;
	size_t order; /* position among all candidates: later wins */
};

static size_t
key_len(const char *kv)
{
	const char *eq = strchr(kv, '=');

	return eq ? (size_t)(eq - kv) : strlen(kv);
}

static bool
is_protocol_key(const char *kv)
{
	size_t klen = key_len(kv);

	for (size_t i = 0; i < sizeof(protocol_keys) / sizeof(*protocol_keys);
	     i++)
		if (strlen(protocol_keys[i]) == klen &&
		    strncmp(kv, protocol_keys[i], klen) == 0)
			return true;
	return false;
}

/* Sorts by key, then by order. */
static int
cmp_candidate(const void *a, const void *b)
{
	const struct candidate *x = a, *y = b;
	size_t n = x->klen < y->klen ? x->klen : y->klen;
	int c = memcmp(x->kv, y->kv, n);

	if (c != 0)
		return c;
	if (x->klen != y->klen)
		return x->klen < y->klen ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int
cmp_order(const void *a, const void *b)
{
	const struct candidate *x = a, *y = b;

	return x->order < y->order ? -1 : x->order > y->order;
}

/* "KEY=value" owned by e; NULL on OOM. */
static char *
own_kv(struct arb_envp *e, const char *key, const char *value)
{
	size_t len = strlen(key) + 1 + strlen(value) + 1;
	char *s;

	if (e->nown == ARB_ENVP_OWN_MAX)
		return NULL; /* cannot happen: see ARB_ENVP_OWN_MAX */
	s = malloc(len);
	if (!s)
		return NULL;
	(void)snprintf(s, len, "%s=%s", key, value);
	e->own[e->nown++] = s;
	return s;
}

/* "KEY=" and room for a pid, which the child writes at *ret_at. */
static char *
own_pid_slot(struct arb_envp *e, const char *key, char **ret_at)
{
	char room[ARB_ENVP_PID_ROOM];
	char *s;

	memset(room, '0', sizeof(room) - 1);
	room[sizeof(room) - 1] = '\0';
	s = own_kv(e, key, room);
	if (!s)
		return NULL;
	*ret_at = s + strlen(key) + 1;
	return s;
}

static char *
own_num(struct arb_envp *e, const char *key, uint64_t value)
{
	char num[24];

	(void)snprintf(num, sizeof(num), "%llu", (unsigned long long)value);
	return own_kv(e, key, num);
}

/* The service's name once per socket, ':' between, for
 * sd_listen_fds_with_names(). */
static char *
own_fdnames(struct arb_envp *e, const struct arb_spec_node *n, size_t nlisten)
{
	size_t nlen = strlen(n->name), len = nlisten * (nlen + 1);
	char *names = malloc(len), *s;

	if (!names)
		return NULL;
	for (size_t i = 0; i < nlisten; i++) {
		memcpy(names + i * (nlen + 1), n->name, nlen);
		names[i * (nlen + 1) + nlen] = i + 1 < nlisten ? ':' : '\0';
	}
	s = own_kv(e, "LISTEN_FDNAMES", names);
	free(names);
	return s;
}

#define ADD(expr)                       \
	do {                            \
		if (!(add[k] = (expr))) \
			return -1;      \
		k++;                    \
	} while (0)

/* The clean base into add[] (at most 5). How many, or -1 on OOM. */
static int
clean_layer(struct arb_envp *e, const struct arb_spec_node *n, char **add)
{
	int k = 0;

	ADD(own_kv(e, "PATH", ARB_ENVP_PATH));
	if (n->home)
		ADD(own_kv(e, "HOME", n->home));
	if (n->user_name) {
		ADD(own_kv(e, "USER", n->user_name));
		ADD(own_kv(e, "LOGNAME", n->user_name));
	}
	if (n->shell)
		ADD(own_kv(e, "SHELL", n->shell));
	return k;
}

/* The protocol variables into add[] (at most 6). How many, or -1 on OOM. */
static int
protocol_layer(struct arb_envp *e, const struct arb_spec_node *n,
	       const char *notify_socket, char **add)
{
	size_t nlisten = arb_spec_strv_len(n->listen);
	int k = 0;

	if (nlisten > 0) {
		ADD(own_num(e, "LISTEN_FDS", nlisten));
		ADD(own_fdnames(e, n, nlisten));
		ADD(own_pid_slot(e, "LISTEN_PID", &e->pid_at[0]));
	}
	if (n->watchdog_ms > 0) {
		ADD(own_num(e, "WATCHDOG_USEC", (uint64_t)n->watchdog_ms * 1000));
		ADD(own_pid_slot(e, "WATCHDOG_PID", &e->pid_at[1]));
	}
	if (notify_socket &&
	    (n->ready == ARB_READY_NOTIFY || n->watchdog_ms > 0))
		ADD(own_kv(e, "NOTIFY_SOCKET", notify_socket));
	return k;
}

#undef ADD

static bool
same_key(const struct candidate *x, const struct candidate *y)
{
	return x->klen == y->klen && memcmp(x->kv, y->kv, x->klen) == 0;
}

struct arb_envp *
arb_envp_new(const struct arb_spec_node *n, char *const *inherited,
	     const char *notify_socket)
{
	char *base[5], *proto[6];
	struct arb_envp *e = calloc(1, sizeof(*e));
	struct candidate *c = NULL;
	size_t ninh = n->inherit_env ? arb_spec_strv_len(inherited) : 0;
	size_t nenv = arb_spec_strv_len(n->env), nc = 0, kept = 0, max;
	int nbase = 0, nproto;

	if (!e)
		return NULL;
	if (!n->inherit_env)
		nbase = clean_layer(e, n, base);
	nproto = protocol_layer(e, n, notify_socket, proto);
	if (nbase < 0 || nproto < 0)
		goto fail;
	max = ninh + (size_t)nbase + nenv + (size_t)nproto;
	c = calloc(max, sizeof(*c));
	e->v = calloc(max + 1, sizeof(*e->v));
	if (!c || !e->v)
		goto fail;
	/* The inherited base, without what systemd meant for arbord itself. */
	for (size_t i = 0; i < ninh; i++)
		if (!is_protocol_key(inherited[i]))
			c[nc++].kv = inherited[i];
	for (int i = 0; i < nbase; i++)
		c[nc++].kv = base[i];
	for (size_t i = 0; i < nenv; i++)
		c[nc++].kv = n->env[i];
	for (int i = 0; i < nproto; i++)
		c[nc++].kv = proto[i];
	for (size_t i = 0; i < nc; i++) {
		c[i].klen = key_len(c[i].kv);
		c[i].order = i;
	}
	/* Keep the last of each key, then put them back in order. */
	qsort(c, nc, sizeof(*c), cmp_candidate);
	for (size_t i = 0; i < nc; i++)
		if (i + 1 == nc || !same_key(&c[i], &c[i + 1]))
			c[kept++] = c[i];
	qsort(c, kept, sizeof(*c), cmp_order);
	for (size_t i = 0; i < kept; i++)
		e->v[i] = c[i].kv;
	e->v[kept] = NULL;
	free(c);
	return e;
fail:
	free(c);
	arb_envp_free(e);
	return NULL;
}

void
arb_envp_free(struct arb_envp *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->nown; i++)
		free(e->own[i]);
	free(e->v);
	free(e);
}
