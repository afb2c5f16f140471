/*
 * cgroup_file.h - the small files of cgroup v2, for cgroup.c and
 * cgroup_base.c: each opened, read or written once, and closed (no
 * descriptor is kept); their "key value" lines; the controllers' names.
 */
#ifndef ARB_CGROUP_FILE_H
#define ARB_CGROUP_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Below base: arbord's own leaf, and the root supervisor's cgroup. */
#define ARB_CG_ARBORD_LEAF "arbord"
#define ARB_CG_TREE "tree"

/* Bytes read of a small cgroup file (cgroup.events, controllers). */
#define ARB_CGFILE_MAX 512

/* At most size - 1 bytes of dirfd/name, NUL-terminated: the length or
 * -errno. */
ssize_t arb_cgfile_read(int dirfd, const char *name, char *buf, size_t size);

/* text into dirfd/name in one write(2): 0 or -errno. */
int arb_cgfile_write(int dirfd, const char *name, const char *text);

/* The value of "key N" in a flat-keyed file's text (cgroup.events,
 * memory.events); -1 when absent. */
int64_t arb_cgfile_keyed(const char *text, const char *key);

/* The bits (cgroup.h's enum arb_cg_controller) of the known controllers
 * named in a space-separated list. */
unsigned arb_cgfile_controllers(const char *list);

/* "+cpu +memory" for bits (sign '+'), or "-cpu -memory" (sign '-'). */
void arb_cgfile_control_text(char sign, unsigned bits, char *buf,
			     size_t size);

/* Enables bits in dirfd's cgroup.subtree_control: all at once, or each
 * alone when the kernel refuses one. The bits enabled. */
unsigned arb_cgfile_enable(int dirfd, unsigned bits);

/* Removes dirfd/name and the cgroups below it, deepest first (each
 * empty). 0 (also when it is not there) or -errno. */
int arb_cgfile_remove_tree(int dirfd, const char *name);

#endif
