/*
 * test_child_spec.c - a child given as text (arborctl add): read as the
 * loader reads a child of arbor.conf, its errors with line and column.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "core/limits.h"
#include "core/spec.h"

/* A scratch spec, a diag, and what the last parse said. */
struct fixture {
	struct arb_spec *spec;
	struct arb_diag diag;
	uint32_t node;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->spec = arb_spec_new();
	assert_non_null(f->spec);
	f->node = ARB_NONE;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	arb_diag_done(&f->diag);
	arb_spec_free(f->spec);
	free(f);
	return 0;
}

static int
parse(struct fixture *f, uint32_t parent, const char *text)
{
	arb_diag_done(&f->diag);
	return arb_config_parse_child(text, f->spec, parent, &f->node,
				      &f->diag);
}

/* The one error the text has: at line, column, with `part` in its text. */
static void
assert_error(struct fixture *f, int line, int column, const char *part)
{
	const struct arb_diag_entry *e;

	if (f->diag.nerrors != 1 || !strstr(f->diag.entries[0].text, part)) {
		for (size_t i = 0; i < f->diag.n; i++)
			print_error("diag: %s\n", f->diag.entries[i].text);
		fail_msg("expected one error with '%s'", part);
	}
	e = &f->diag.entries[0];
	assert_int_equal(e->level, ARB_DIAG_ERROR);
	assert_int_equal(e->line, line);
	assert_int_equal(e->column, column);
	assert_non_null(strstr(e->message, part));
	assert_true(e->message > e->text);
	assert_int_equal(strncmp(e->text, ARB_CONFIG_SPEC_NAME ":",
				 strlen(ARB_CONFIG_SPEC_NAME ":")), 0);
}

static void
test_body_of_a_group(void **state)
{
	struct fixture *f = *state;
	const struct arb_spec_node *n;

	assert_int_equal(parse(f, ARB_ROOT, "name = \"web\"; exec = "
			       "[ \"sleep\", \"9\" ]; on_change = "
			       "\"next-start\";"), 0);
	assert_int_equal(f->diag.n, 0);
	n = &f->spec->nodes[f->node];
	assert_string_equal(n->name, "web");
	assert_string_equal(n->path, "web");
	assert_int_equal(n->kind, ARB_NODE_SERVICE);
	assert_string_equal(n->argv[1], "9");
	assert_non_null(n->exec_path);
	assert_int_equal(n->on_change, ARB_ON_CHANGE_NEXT_START);
	assert_int_equal(f->spec->nodes[ARB_ROOT].nchildren, 1);
	assert_int_equal(f->spec->nodes[ARB_ROOT].children[0], f->node);
}

static void
test_group_in_braces(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, ARB_ROOT, "  # a comment\n{ name = \"a\"; "
			       "exec = [ \"true\" ]; };\n"), 0);
	assert_string_equal(f->spec->nodes[f->node].name, "a");
	assert_int_equal(parse(f, ARB_ROOT, "/* c */ {\n name = \"b\";\n "
			       "exec = [ \"true\" ];\n} # end"), 0);
	assert_string_equal(f->spec->nodes[f->node].name, "b");
	assert_int_equal(f->spec->nodes[ARB_ROOT].nchildren, 2);
}

/* A supervisor comes with its children, a pool with its template. */
static void
test_supervisor_and_pool(void **state)
{
	struct fixture *f = *state;
	const struct arb_spec_node *sup, *pool;
	uint32_t sup_idx;

	assert_int_equal(parse(f, ARB_ROOT, "name = \"sup\"; strategy = "
			       "\"rest_for_one\"; children = (\n"
			       "  { name = \"a\"; exec = [ \"true\" ]; },\n"
			       "  { name = \"b\"; exec = [ \"true\" ]; } );"),
			 0);
	sup_idx = f->node;
	sup = &f->spec->nodes[sup_idx];
	assert_int_equal(sup->kind, ARB_NODE_SUPERVISOR);
	assert_int_equal(sup->nchildren, 2);
	assert_string_equal(f->spec->nodes[sup->children[1]].path, "sup/b");
	assert_int_equal(parse(f, sup_idx, "name = \"pool\"; strategy = "
			       "\"simple_one_for_one\"; max_children = 4; "
			       "template = { exec = [ \"true\" ]; restart = "
			       "\"temporary\"; };"), 0);
	pool = &f->spec->nodes[f->node];
	assert_string_equal(pool->path, "sup/pool");
	assert_int_equal(pool->nchildren, 0);
	assert_int_equal(pool->max_children, 4);
	assert_int_not_equal(pool->template_node, ARB_NONE);
	assert_true(f->spec->nodes[pool->template_node].is_template);
	assert_int_equal(f->spec->nodes[pool->template_node].restart,
			 ARB_TEMPORARY);
}

static void
test_malformed(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, ARB_ROOT, "name = \"x\";\nexec = [ \"true\" "
			       "\n"), -EINVAL);
	assert_error(f, 2, 0, "syntax error");
	/* Left open: the error is at the text's end, not past it. */
	assert_int_equal(parse(f, ARB_ROOT, "{ name = \"x\";\n exec = "
			       "[ \"true\" ];"), -EINVAL);
	assert_error(f, 2, 0, "left open");
	assert_int_equal(f->spec->nodes[ARB_ROOT].nchildren, 0);
}

static void
test_unknown_key_has_its_column(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, ARB_ROOT, "name = \"x\";\n  exce = [ \"true\" "
			       "];\n  exec = [ \"true\" ];"), -EINVAL);
	assert_error(f, 2, 3, "child 'x': unknown key 'exce'");
}

static void
test_missing_exec(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, ARB_ROOT, "name = \"x\"; restart = "
			       "\"transient\";"), -EINVAL);
	assert_error(f, 1, 1, "has neither 'exec'");
}

static void
test_program_not_found_points_at_it(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, ARB_ROOT, "name = \"x\"; exec = [ "
			       "\"/nonexistent/prog\" ];"), -EINVAL);
	assert_error(f, 1, 22, "program '/nonexistent/prog' not found");
}

static void
test_bad_name(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, ARB_ROOT, "exec = [ \"true\" ];\n"
			       "   name = \"a/b\";"), -EINVAL);
	assert_error(f, 2, 4, "invalid name 'a/b'");
	assert_int_equal(parse(f, ARB_ROOT, "exec = [ \"true\" ];"), -EINVAL);
	assert_error(f, 1, 1, "missing key 'name'");
}

/* Depth counts from the parent's: a supervisor may not go past the cap. */
static void
test_too_deep(void **state)
{
	struct fixture *f = *state;

	f->spec->nodes[ARB_ROOT].depth = ARB_DEPTH_MAX;
	assert_int_equal(parse(f, ARB_ROOT, "name = \"s\"; children = ( );"),
			 -EINVAL);
	assert_error(f, 1, 13, "nested more than 32 levels");
	assert_int_equal(parse(f, ARB_ROOT, "name = \"svc\"; exec = "
			       "[ \"true\" ];"), 0);
}

/* Among its own children, names are unique; against PARENT's, not here. */
static void
test_duplicates_among_its_children(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, ARB_ROOT, "name = \"a\"; exec = "
			       "[ \"true\" ];"), 0);
	assert_int_equal(parse(f, ARB_ROOT, "name = \"a\"; exec = "
			       "[ \"true\" ];"), 0);
	assert_int_equal(parse(f, ARB_ROOT, "name = \"s\"; children = (\n"
			       " { name = \"b\"; exec = [ \"true\" ]; },\n"
			       " { name = \"b\"; exec = [ \"true\" ]; } );"),
			 -EINVAL);
	assert_error(f, 3, 4, "child 's/b': duplicate name, first defined at "
		     "spec:2");
}

static void
test_one_child_only(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, ARB_ROOT, "{ name = \"a\"; exec = [ \"true\" "
			       "]; }, { name = \"b\"; exec = [ \"true\" ]; }"),
			 -EINVAL);
	assert_error(f, 1, 0, "exactly one child");
	assert_int_equal(parse(f, ARB_ROOT, "name = \"a\"; exec = [ \"true\" "
			       "]; } );\nextra = ( {"), -EINVAL);
	assert_error(f, 2, 1, "'extra' is outside the child's group");
	assert_int_equal(f->spec->nodes[ARB_ROOT].nchildren, 0);
}

static void
test_include_is_refused(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, ARB_ROOT, "name = \"a\";\n  @include "
			       "\"/etc/passwd\"\nexec = [ \"true\" ];"),
			 -EINVAL);
	assert_error(f, 2, 3, "@include is not allowed");
}

/* C5 against the parent's auto_shutdown, as in a file. */
static void
test_significant_needs_auto_shutdown(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, ARB_ROOT, "name = \"a\"; exec = [ \"true\" "
			       "]; restart = \"transient\"; significant = "
			       "true;"), -EINVAL);
	assert_error(f, 1, 55, "C5");
	f->spec->nodes[ARB_ROOT].auto_shutdown = ARB_AUTO_ANY_SIGNIFICANT;
	assert_int_equal(parse(f, ARB_ROOT, "name = \"a\"; exec = [ \"true\" "
			       "]; restart = \"transient\"; significant = "
			       "true;"), 0);
}

static void
test_parent_must_take_children(void **state)
{
	struct fixture *f = *state;
	uint32_t svc, pool;

	assert_int_equal(parse(f, ARB_ROOT, "name = \"svc\"; exec = "
			       "[ \"true\" ];"), 0);
	svc = f->node;
	assert_int_equal(parse(f, ARB_ROOT, "name = \"p\"; strategy = "
			       "\"simple_one_for_one\"; template = { exec = "
			       "[ \"true\" ]; };"), 0);
	pool = f->node;
	assert_int_equal(parse(f, svc, "name = \"a\"; exec = [ \"true\" ];"),
			 -EINVAL);
	assert_error(f, 0, 0, "'svc' is a service, not a supervisor");
	assert_int_equal(parse(f, pool, "name = \"a\"; exec = [ \"true\" ];"),
			 -EINVAL);
	assert_error(f, 0, 0, "'p' is a pool");
}

/* ret_node is untouched on failure (STYLE.md 3). */
static void
test_ret_node_untouched_on_failure(void **state)
{
	struct fixture *f = *state;
	uint32_t node = 1234;

	arb_diag_done(&f->diag);
	assert_int_equal(arb_config_parse_child("name = 1;", f->spec,
						ARB_ROOT, &node, &f->diag),
			 -EINVAL);
	assert_int_equal(node, 1234);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_body_of_a_group),
		T(test_group_in_braces),
		T(test_supervisor_and_pool),
		T(test_malformed),
		T(test_unknown_key_has_its_column),
		T(test_missing_exec),
		T(test_program_not_found_points_at_it),
		T(test_bad_name),
		T(test_too_deep),
		T(test_duplicates_among_its_children),
		T(test_one_child_only),
		T(test_include_is_refused),
		T(test_significant_needs_auto_shutdown),
		T(test_parent_must_take_children),
		T(test_ret_node_untouched_on_failure),
#undef T
	};

	/* exec's bare names resolve the same everywhere. */
	setenv("PATH", "/bin:/usr/bin", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
