/*
 * exec_context.c - a service's execution context, resolved at load time.
 *
 * The keys that say how a service runs rather than when: env, env_file,
 * inherit_env, cwd, user, group, umask, nice, rlimits, no_new_privileges.
 * Users and groups are looked up and env files read here, before the loop
 * starts, so that the shell never calls getpwnam between fork and exec
 * (STYLE.md 6) and an unknown user is a config error with file:line.
 * No pointer into libconfig, or into a passwd or group entry, survives a
 * call.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libconfig.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "core/limits.h"
#include "core/mem.h"
#include "core/spec.h"

/* spec.c names the limits by Linux's numbers; hold it to them. */
_Static_assert(RLIMIT_CPU == 0 && RLIMIT_FSIZE == 1 && RLIMIT_DATA == 2 &&
	       RLIMIT_STACK == 3 && RLIMIT_CORE == 4 && RLIMIT_RSS == 5 &&
	       RLIMIT_NPROC == 6 && RLIMIT_NOFILE == 7 &&
	       RLIMIT_MEMLOCK == 8 && RLIMIT_AS == 9 && RLIMIT_LOCKS == 10 &&
	       RLIMIT_SIGPENDING == 11 && RLIMIT_MSGQUEUE == 12 &&
	       RLIMIT_NICE == 13 && RLIMIT_RTPRIO == 14 &&
	       RLIMIT_RTTIME == 15 && RLIM_NLIMITS == ARB_RLIMIT_COUNT,
	       "spec.c's rlimit names are not Linux's RLIMIT_* numbers");
_Static_assert(RLIM_INFINITY == ARB_RLIM_INFINITY,
	       "ARB_RLIM_INFINITY is not RLIM_INFINITY");
_Static_assert(sizeof(uid_t) == sizeof(uint32_t) &&
	       sizeof(gid_t) == sizeof(uint32_t),
	       "the spec keeps uids and gids in 32 bits");

static bool
is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' ||
	       ch == '\v' || ch == '\f';
}

/* ---- environment ------------------------------------------------------ */

static bool
is_env_key_char(char ch, bool first)
{
	return ch == '_' || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= 'a' && ch <= 'z') || (!first && ch >= '0' && ch <= '9');
}

/*
 * A portable variable name, [A-Za-z_][A-Za-z0-9_]*, of `len` bytes:
 * anything else cannot be read back with getenv or a shell.
 */
static bool
env_key_valid(const char *key, size_t len)
{
	if (len == 0 || !is_env_key_char(key[0], true))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!is_env_key_char(key[i], false))
			return false;
	return true;
}

/* KEY=value with KEY a portable name. */
static bool
env_entry_valid(const char *e)
{
	size_t len = strcspn(e, "=");

	return e[len] == '=' && env_key_valid(e, len);
}

static bool
env_same_key(const char *a, const char *b)
{
	size_t la = strcspn(a, "="), lb = strcspn(b, "=");

	return la == lb && memcmp(a, b, la) == 0;
}

/* Whether vector v holds an entry with the KEY of `e`. */
static bool
env_has_key(char *const *v, const char *e)
{
	for (size_t i = 0; v && v[i]; i++)
		if (env_same_key(v[i], e))
			return true;
	return false;
}

int
parse_env(struct node_ctx *c, const config_setting_t *s)
{
	char **env;
	int bad = 0;

	if (get_sequence(c, s) < 0)
		return -1;
	env = copy_strings(c, s, ARB_ENV_MAX);
	if (!env)
		return -1;
	for (int i = 0; env[i]; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);

		if (!env_entry_valid(env[i])) {
			node_err(c, e, "env: '%s' is not KEY=value with KEY "
				 "made of letters, digits and '_' (not first "
				 "a digit)", env[i]);
			bad = -1;
			continue;
		}
		for (int j = 0; j < i; j++) {
			if (env_same_key(env[i], env[j])) {
				node_err(c, e, "env: '%.*s' is set twice",
					 (int)strcspn(env[i], "="), env[i]);
				bad = -1;
				break;
			}
		}
	}
	arb_spec_strv_free(node(c)->env);
	node(c)->env = env;
	return bad;
}

/*
 * Sets `entry` in the NULL-terminated vector *v of *n entries: it replaces
 * an entry with the same KEY (the later line wins, as when a shell sources
 * the file), or is appended. Takes ownership of entry. -ENOMEM on OOM.
 */
static int
env_put(char ***v, uint32_t *n, char *entry)
{
	char **grown;

	for (uint32_t i = 0; i < *n; i++) {
		if (env_same_key((*v)[i], entry)) {
			arb_free((*v)[i]);
			(*v)[i] = entry;
			return 0;
		}
	}
	grown = arb_reallocarray(*v, (size_t)*n + 2, sizeof(*grown));
	if (!grown) {
		arb_free(entry);
		return -ENOMEM;
	}
	grown[(*n)++] = entry;
	grown[*n] = NULL;
	*v = grown;
	return 0;
}

/*
 * One line of an env file, `len` bytes with its newline: KEY=value, blank,
 * or a comment (# or ;). Whitespace around the line and the value is
 * dropped, then one pair of matching quotes around the value; nothing is
 * expanded. 0 when read or skipped, -1 after reporting, -E2BIG after
 * reporting one variable too many (the rest need not be read), -ENOMEM.
 */
static int
env_file_line(struct node_ctx *c, const char *path, int lineno, char *line,
	      size_t len, char ***v, uint32_t *n)
{
	char *p = line, *end = line + len, *eq, *val, *entry;
	size_t vlen;

	if (memchr(line, '\0', len)) {
		node_err_at(c, path, lineno, "env_file: the line holds a NUL "
			    "byte");
		return -1;
	}
	while (end > p && is_blank(end[-1]))
		end--;
	*end = '\0';
	while (is_blank(*p))
		p++;
	if (*p == '\0' || *p == '#' || *p == ';')
		return 0;
	eq = strchr(p, '=');
	if (!eq) {
		node_err_at(c, path, lineno, "env_file: expected KEY=value, "
			    "the line has no '='");
		return -1;
	}
	if (!env_key_valid(p, (size_t)(eq - p))) {
		node_err_at(c, path, lineno, "env_file: '%.*s' is not a "
			    "variable name (letters, digits and '_', not first "
			    "a digit)", (int)(eq - p), p);
		return -1;
	}
	for (val = eq + 1; is_blank(*val); val++)
		;
	vlen = (size_t)(end - val);
	if (vlen >= 2 && (val[0] == '"' || val[0] == '\'') &&
	    val[vlen - 1] == val[0]) {
		val++;
		vlen -= 2;
	}
	if (*n >= ARB_ENV_MAX && !env_has_key(*v, p)) {
		node_err_at(c, path, lineno, "env_file: more than %d "
			    "variables", ARB_ENV_MAX);
		return -E2BIG;
	}
	entry = arb_calloc((size_t)(eq - p) + vlen + 2, 1);
	if (!entry)
		return -ENOMEM;
	memcpy(entry, p, (size_t)(eq - p) + 1);
	memcpy(entry + (eq - p) + 1, val, vlen);
	return env_put(v, n, entry);
}

/* Every line of the env file `f` at `path`; -1 after any error. */
static int
read_env_file(struct node_ctx *c, FILE *f, const char *path, char ***ret)
{
	char *line = NULL, **v = NULL;
	size_t size = 0;
	uint32_t n = 0;
	ssize_t len;
	int lineno = 0, bad = 0, r;

	errno = 0;
	while ((len = getline(&line, &size, f)) >= 0) {
		r = env_file_line(c, path, ++lineno, line, (size_t)len, &v,
				  &n);
		if (r == -ENOMEM)
			goto oom;
		if (r < 0)
			bad = -1;
		errno = 0;
		/* One error says it, not one per line past the limit. */
		if (r == -E2BIG)
			break;
	}
	if (errno == ENOMEM)
		goto oom;
	if (errno != 0) {
		node_err_at(c, path, 0, "env_file: %s", strerror(errno));
		bad = -1;
	}
	free(line);
	if (bad < 0) {
		arb_spec_strv_free(v);
		return -1;
	}
	if (!v) {
		v = arb_calloc(1, sizeof(*v));
		if (!v)
			goto oom;
	}
	*ret = v;
	return 0;
oom:
	free(line);
	arb_spec_strv_free(v);
	c->ld->oom = true;
	return -1;
}

/*
 * "PATH", or "-PATH" for a file that may be missing (systemd's
 * EnvironmentFile=-): read now, merged under `env` by finish_exec. A
 * relative PATH is taken from the main file's directory, as @include is.
 */
int
parse_env_file(struct node_ctx *c, const config_setting_t *s)
{
	const char *text, *name, *dir = c->ld->include_dir;
	char **entries = NULL, *path;
	struct stat st;
	FILE *f;
	int fd, r = -1;

	if (get_string(c, s, &text) < 0)
		return -1;
	name = text[0] == '-' ? text + 1 : text;
	if (!*name) {
		node_err(c, s, "env_file: the path is empty");
		return -1;
	}
	if (name[0] == '/' || strcmp(dir, ".") == 0)
		path = arb_strdup(name);
	else
		path = join(c->ld, dir, strlen(dir), name);
	if (!path) {
		c->ld->oom = true;
		return -1;
	}
	/* Not blocked by a FIFO's open: it fails the S_ISREG test below. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	f = fd < 0 ? NULL : fdopen(fd, "r");
	if (fd >= 0 && !f) {
		int e = errno;

		(void)close(fd);
		errno = e;
	}
	if (!f && errno == ENOENT && name != text) {
		entries = arb_calloc(1, sizeof(*entries));
		if (!entries)
			c->ld->oom = true;
		else
			r = 0;
		goto done;
	}
	if (!f) {
		node_err(c, s, "env_file: '%s': %s", path, strerror(errno));
		goto done;
	}
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode))
		node_err(c, s, "env_file: '%s' is not a regular file", path);
	else
		r = read_env_file(c, f, path, &entries);
	(void)fclose(f);
done:
	arb_free(path);
	if (r < 0)
		return -1;
	arb_spec_strv_free(c->file_env);
	c->file_env = entries;
	c->env_file = s;
	return 0;
}

/*
 * n->env becomes env_file's entries followed by env's, each KEY once: env
 * wins over env_file, so the runtime may apply n->env in any order.
 */
static void
merge_env(struct node_ctx *c)
{
	struct arb_spec_node *n = node(c);
	uint32_t nf = arb_spec_strv_len(c->file_env);
	uint32_t ne = arb_spec_strv_len(n->env), k = 0;
	uint32_t kept = 0;
	char **merged;

	for (uint32_t i = 0; i < nf; i++)
		if (!env_has_key(n->env, c->file_env[i]))
			kept++;
	if (kept + ne > ARB_ENV_MAX) {
		node_err(c, c->env_file, "env_file: with env, more than %d "
			 "variables", ARB_ENV_MAX);
		return;
	}
	merged = arb_calloc((size_t)kept + ne + 1, sizeof(*merged));
	if (!merged) {
		c->ld->oom = true;
		return;
	}
	for (uint32_t i = 0; i < nf; i++) {
		if (env_has_key(n->env, c->file_env[i]))
			arb_free(c->file_env[i]);
		else
			merged[k++] = c->file_env[i];
	}
	arb_free(c->file_env);
	c->file_env = NULL;
	for (uint32_t i = 0; i < ne; i++)
		merged[k++] = n->env[i];
	arb_free(n->env);
	n->env = merged;
}

int
parse_inherit_env(struct node_ctx *c, const config_setting_t *s)
{
	return get_bool(c, s, &node(c)->inherit_env);
}

int
parse_cwd(struct node_ctx *c, const config_setting_t *s)
{
	const char *dir;
	struct stat st;
	char *copy;

	if (get_string(c, s, &dir) < 0)
		return -1;
	if (dir[0] != '/') {
		node_err(c, s, "cwd: '%s' is not an absolute path", dir);
		return -1;
	}
	if (stat(dir, &st) < 0) {
		node_err(c, s, "cwd: '%s': %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		node_err(c, s, "cwd: '%s' is not a directory", dir);
		return -1;
	}
	copy = arb_strdup(dir);
	if (!copy) {
		c->ld->oom = true;
		return -1;
	}
	arb_free(node(c)->cwd);
	node(c)->cwd = copy;
	return 0;
}

/* ---- identity ------------------------------------------------------------ */

/* A uid or gid written in decimal, below (uint32_t)-1, which means none. */
static bool
parse_id(const char *text, uint32_t *ret)
{
	uint64_t v = 0;
	const char *p = text;

	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v >= UINT32_MAX)
			return false;
	}
	if (p == text || *p)
		return false;
	*ret = (uint32_t)v;
	return true;
}

/* The text of a user or group setting: a name, or a number for an id. */
static int
get_account(struct node_ctx *c, const config_setting_t *s, char *buf,
	    size_t size, const char **ret)
{
	if (is_int(s)) {
		(void)snprintf(buf, size, "%lld", config_setting_get_int64(s));
		*ret = buf;
		return 0;
	}
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		node_err(c, s, "%s: expected a name or a number, got %s",
			 key_of(s), type_name(s));
		return -1;
	}
	*ret = config_setting_get_string(s);
	return 0;
}

/*
 * Sets n's USER, HOME and SHELL; an empty home is "/" and an empty shell
 * "/bin/sh", as login(1) takes them. -1 with ld->oom set on OOM.
 */
static int
set_account(struct node_ctx *c, const char *name, const char *home,
	    const char *shell)
{
	if (arb_spec_set_account(node(c), name, home && *home ? home : "/",
				 shell && *shell ? shell : "/bin/sh") < 0) {
		c->ld->oom = true;
		return -1;
	}
	return 0;
}

/* A name or a uid; the account's primary group until `group` says else. */
int
parse_user(struct node_ctx *c, const config_setting_t *s)
{
	struct arb_spec_node *n = node(c);
	const struct passwd *pw;
	const char *text;
	char buf[24];
	uint32_t id;

	if (get_account(c, s, buf, sizeof(buf), &text) < 0)
		return -1;
	pw = parse_id(text, &id) ? getpwuid(id) : getpwnam(text);
	if (!pw) {
		node_err(c, s, "user: unknown user '%s'", text);
		return -1;
	}
	n->uid = pw->pw_uid;
	n->gid = pw->pw_gid;
	if (set_account(c, pw->pw_name, pw->pw_dir, pw->pw_shell) < 0)
		return -1;
	c->user = s;
	return 0;
}

/* A name or a gid: the service's primary group. */
int
parse_group(struct node_ctx *c, const config_setting_t *s)
{
	const struct group *gr;
	const char *text;
	char buf[24];
	uint32_t id;

	if (get_account(c, s, buf, sizeof(buf), &text) < 0)
		return -1;
	gr = parse_id(text, &id) ? getgrgid(id) : getgrnam(text);
	if (!gr) {
		node_err(c, s, "group: unknown group '%s'", text);
		return -1;
	}
	c->group_gid = gr->gr_gid;
	c->group = s;
	return 0;
}

/* arbord's own account, for services without `user`; looked up once. */
static int
self_account(struct loader *ld)
{
	const struct passwd *pw;
	char buf[16];

	if (ld->self.known)
		return 0;
	ld->self.uid = geteuid();
	ld->self.gid = getegid();
	pw = getpwuid(ld->self.uid);
	(void)snprintf(buf, sizeof(buf), "%u", ld->self.uid);
	/* Without a passwd entry (a container's arbitrary uid): sane values. */
	ld->self.name = arb_strdup(pw ? pw->pw_name :
				   ld->self.uid == 0 ? "root" : buf);
	ld->self.home = arb_strdup(pw && *pw->pw_dir ? pw->pw_dir : "/");
	ld->self.shell = arb_strdup(pw && *pw->pw_shell ? pw->pw_shell :
				    "/bin/sh");
	if (!ld->self.name || !ld->self.home || !ld->self.shell) {
		loader_exec_done(ld);
		ld->oom = true;
		return -1;
	}
	ld->self.known = true;
	return 0;
}

void
loader_exec_done(struct loader *ld)
{
	arb_free(ld->self.name);
	arb_free(ld->self.home);
	arb_free(ld->self.shell);
	memset(&ld->self, 0, sizeof(ld->self));
}

/* initgroups(3)'s list: gid and every group that names `user`. */
static int
supplementary_groups(struct node_ctx *c, const char *user, uint32_t gid)
{
	struct arb_spec_node *n = node(c);
	gid_t *list = NULL, *grown;
	int size = 16, count;

	for (;;) {
		grown = arb_reallocarray(list, (size_t)size, sizeof(*list));
		if (!grown)
			goto oom;
		list = grown;
		count = size;
		if (getgrouplist(user, (gid_t)gid, list, &count) >= 0)
			break;
		/* count is how many it needs; grow anyway if it did not say. */
		size = count > size ? count : size * 2;
		if (size > ARB_GROUPS_MAX) {
			node_err(c, c->user, "user: '%s' is in more than %d "
				 "groups", user, ARB_GROUPS_MAX);
			arb_free(list);
			return -1;
		}
	}
	arb_free(n->groups);
	n->groups = arb_calloc((size_t)count + 1, sizeof(*n->groups));
	if (!n->groups)
		goto oom;
	for (int i = 0; i < count; i++)
		n->groups[i] = (uint32_t)list[i];
	n->ngroups = (uint32_t)count;
	arb_free(list);
	return 0;
oom:
	arb_free(list);
	c->ld->oom = true;
	return -1;
}

/*
 * user and group together: user alone runs as the account with its
 * primary and supplementary groups; group replaces the primary group (and
 * joins the list, as initgroups does); group alone keeps arbord's uid with
 * only that group. Neither: arbord's own identity, unchanged.
 */
static void
resolve_identity(struct node_ctx *c)
{
	struct arb_spec_node *n = node(c);
	struct loader *ld = c->ld;

	n->set_ids = c->user || c->group;
	if (c->user) {
		if (c->group)
			n->gid = c->group_gid;
		(void)supplementary_groups(c, n->user_name, n->gid);
		return;
	}
	if (self_account(ld) < 0)
		return;
	n->uid = ld->self.uid;
	n->gid = c->group ? c->group_gid : ld->self.gid;
	if (set_account(c, ld->self.name, ld->self.home, ld->self.shell) < 0)
		return;
	if (c->group) {
		arb_free(n->groups);
		n->groups = arb_calloc(1, sizeof(*n->groups));
		if (!n->groups) {
			ld->oom = true;
			return;
		}
		n->groups[0] = n->gid;
		n->ngroups = 1;
	}
}

/* ---- process attributes ------------------------------------------------ */

/*
 * An octal mask: a string of octal digits ("022"), or an integer whose
 * decimal digits are read as octal, as the shell's umask reads them.
 * libconfig has no octal integers: it reads 022 as twenty-two, and taking
 * that as a number would give the mask 026.
 */
int
parse_umask(struct node_ctx *c, const config_setting_t *s)
{
	char buf[24];
	const char *text, *p;
	long v = 0;

	if (is_int(s)) {
		if (config_setting_get_format(s) == CONFIG_FORMAT_HEX) {
			node_err(c, s, "umask: write it in octal, as \"022\"");
			return -1;
		}
		(void)snprintf(buf, sizeof(buf), "%lld",
			       config_setting_get_int64(s));
		text = buf;
	} else if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		text = config_setting_get_string(s);
	} else {
		node_err(c, s, "umask: expected a string of octal digits "
			 "such as \"022\", got %s", type_name(s));
		return -1;
	}
	for (p = text; *p >= '0' && *p <= '7' && v <= 0777; p++)
		v = v * 8 + (*p - '0');
	if (p == text || *p || v > 0777) {
		node_err(c, s, "umask: '%s' is not an octal mask from 0 to "
			 "0777 (such as \"022\")", text);
		return -1;
	}
	node(c)->umask = (int)v;
	return 0;
}

int
parse_nice(struct node_ctx *c, const config_setting_t *s)
{
	long long v;

	if (get_int(c, s, &v) < 0)
		return -1;
	if (v < -20 || v > 19) {
		node_err(c, s, "nice: %lld is out of range (-20 to 19)", v);
		return -1;
	}
	node(c)->set_nice = true;
	node(c)->nice = (int)v;
	return 0;
}

int
parse_no_new_privileges(struct node_ctx *c, const config_setting_t *s)
{
	return get_bool(c, s, &node(c)->no_new_privileges);
}

/* `len` bytes of text as a limit: a number, or "infinity". */
static int
rlimit_value(const char *text, size_t len, uint64_t *ret)
{
	uint64_t v = 0;

	if (len == strlen("infinity") && memcmp(text, "infinity", len) == 0) {
		*ret = ARB_RLIM_INFINITY;
		return 0;
	}
	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(text[i] - '0');

		/* The largest number is one below infinity. */
		if (d > 9 || v > (ARB_RLIM_INFINITY - 1 - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

/* One `name = value` of the rlimits group into *ret; -1 after reporting. */
static int
parse_rlimit(struct node_ctx *c, const config_setting_t *m,
	     struct arb_rlimit *ret)
{
	const char *name = config_setting_name(m), *text, *colon;
	int resource = arb_rlimit_from_name(name);
	uint64_t soft, hard;

	if (resource < 0) {
		node_err(c, m, "rlimits: unknown limit '%s' (expected as, "
			 "core, cpu, data, fsize, locks, memlock, msgqueue, "
			 "nice, nofile, nproc, rss, rtprio, rttime, "
			 "sigpending or stack)", name);
		return -1;
	}
	if (is_int(m)) {
		long long v = config_setting_get_int64(m);

		if (v < 0) {
			node_err(c, m, "rlimits: %s: %lld is negative", name,
				 v);
			return -1;
		}
		soft = hard = (uint64_t)v;
	} else if (config_setting_type(m) == CONFIG_TYPE_STRING) {
		text = config_setting_get_string(m);
		colon = strchr(text, ':');
		if (colon ? rlimit_value(text, (size_t)(colon - text),
					 &soft) < 0 ||
				    rlimit_value(colon + 1, strlen(colon + 1),
						 &hard) < 0 :
			    rlimit_value(text, strlen(text), &soft) < 0) {
			node_err(c, m, "rlimits: %s: '%s' is not a limit (a "
				 "number, \"infinity\", or \"SOFT:HARD\")",
				 name, text);
			return -1;
		}
		if (!colon)
			hard = soft;
		if (soft > hard) {
			node_err(c, m, "rlimits: %s: the soft limit in '%s' "
				 "is above the hard limit", name, text);
			return -1;
		}
	} else {
		node_err(c, m, "rlimits: %s: expected an integer or a string "
			 "(\"infinity\", \"SOFT:HARD\"), got %s", name,
			 type_name(m));
		return -1;
	}
	ret->resource = resource;
	ret->soft = soft;
	ret->hard = hard;
	return 0;
}

/* A group of name = value; libconfig refuses a name written twice. */
int
parse_rlimits(struct node_ctx *c, const config_setting_t *s)
{
	struct arb_spec_node *n = node(c);
	struct arb_rlimit *limits;
	int count, bad = 0;
	uint32_t k = 0;

	if (!config_setting_is_group(s)) {
		node_err(c, s, "rlimits: expected a group { nofile = 1024; "
			 "... }, got %s", type_name(s));
		return -1;
	}
	count = config_setting_length(s);
	limits = arb_calloc((size_t)count + 1, sizeof(*limits));
	if (!limits) {
		c->ld->oom = true;
		return -1;
	}
	for (int i = 0; i < count; i++) {
		if (parse_rlimit(c, config_setting_get_elem(s, i),
				 &limits[k]) < 0)
			bad = -1;
		else
			k++;
	}
	arb_free(n->rlimits);
	n->rlimits = k ? limits : NULL;
	n->nrlimits = k;
	if (!k)
		arb_free(limits);
	return bad;
}

/* ---- what spans keys ----------------------------------------------------- */

void
finish_exec(struct node_ctx *c)
{
	if (!c->ld->oom) {
		resolve_identity(c);
		if (c->env_file && !c->ld->oom)
			merge_env(c);
	}
	arb_spec_strv_free(c->file_env);
	c->file_env = NULL;
}
