/*
 * values.c - the typed values of a setting: a string, an integer, a
 * boolean, a sequence, a list of strings.
 *
 * Each reader checks a setting's type and reports a mismatch through
 * diag.c, naming the key; the key readers (keys.c, exec_context.c,
 * log_keys.c) and load.c build on them. It knows no key by name.
 */
#include <libconfig.h>
#include <stdbool.h>

#include "internal.h"
#include "core/mem.h"
#include "core/spec.h"

const char *
type_name(const config_setting_t *s)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_GROUP:
		return "a group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a float";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "a boolean";
	case CONFIG_TYPE_ARRAY:
		return "an array";
	case CONFIG_TYPE_LIST:
		return "a list";
	default:
		return "nothing";
	}
}

bool
is_int(const config_setting_t *s)
{
	return config_setting_type(s) == CONFIG_TYPE_INT ||
	       config_setting_type(s) == CONFIG_TYPE_INT64;
}

const char *
key_of(const config_setting_t *s)
{
	const config_setting_t *p = config_setting_parent(s);

	if (!config_setting_name(s) && p && config_setting_name(p))
		return config_setting_name(p);
	return config_setting_name(s) ? config_setting_name(s) : "?";
}

int
get_string(struct node_ctx *c, const config_setting_t *s, const char **ret)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		node_err(c, s, "%s: expected a string, got %s", key_of(s),
			 type_name(s));
		return -1;
	}
	*ret = config_setting_get_string(s);
	return 0;
}

int
get_int(struct node_ctx *c, const config_setting_t *s, long long *ret)
{
	if (!is_int(s)) {
		node_err(c, s, "%s: expected an integer, got %s", key_of(s),
			 type_name(s));
		return -1;
	}
	*ret = config_setting_get_int64(s);
	return 0;
}

int
get_bool(struct node_ctx *c, const config_setting_t *s, bool *ret)
{
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		node_err(c, s, "%s: expected a boolean (true or false), got %s",
			 key_of(s), type_name(s));
		return -1;
	}
	*ret = config_setting_get_bool(s);
	return 0;
}

/* An array [ ... ] or a list ( ... ) of scalars: either reads the same. */
int
get_sequence(struct node_ctx *c, const config_setting_t *s)
{
	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		node_err(c, s, "%s: expected an array [ ... ], got %s",
			 key_of(s), type_name(s));
		return -1;
	}
	return 0;
}

char **
copy_strings(struct node_ctx *c, const config_setting_t *s, int max)
{
	int n = config_setting_length(s);
	char **v;

	if (n > max) {
		node_err(c, s, "%s: more than %d entries", key_of(s), max);
		return NULL;
	}
	v = arb_calloc((size_t)n + 1, sizeof(*v));
	if (!v)
		goto oom;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);
		const char *text;

		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			node_err(c, e, "%s: element %d is %s, expected a "
				 "string", key_of(s), i + 1, type_name(e));
			goto fail;
		}
		text = config_setting_get_string(e);
		v[i] = arb_strdup(text);
		if (!v[i])
			goto oom;
	}
	return v;
oom:
	c->ld->oom = true;
fail:
	arb_spec_strv_free(v);
	return NULL;
}
