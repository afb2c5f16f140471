/*
 * cgroup_file.c - the small files of cgroup v2 (cgroup_file.h): read,
 * write, their "key value" lines, the controllers' names, and a cgroup
 * removed with those below it. Each file is opened per use; nothing is
 * kept, nothing is logged.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "cgroup_file.h"
#include "core/cg_limits.h"
#include "core/limits.h"

/* The controllers arbord enables for its tree: the bits of spec.h's enum
 * arb_cg_controller, named by the core (cg_limits.h). */
#define NCONTROLLERS 4
#define NAME_OF(i) arb_cg_controller_name(1u << (i))

const char *
arb_cgroup_controller_names(unsigned bits, char *buf, size_t size)
{
	size_t used = 0;

	if (size == 0)
		return "";
	buf[0] = '\0';
	for (size_t i = 0; i < NCONTROLLERS; i++) {
		if (!(bits & (1u << i)))
			continue;
		int n = snprintf(buf + used, size - used, "%s%s",
				 used ? " " : "", NAME_OF(i));
		if (n < 0 || (size_t)n >= size - used)
			break; /* cut: never a partial name */
		used += (size_t)n;
	}
	buf[used] = '\0';
	return buf;
}

/* The bits of the known controllers named in a space-separated list. */
unsigned
arb_cgfile_controllers(const char *list)
{
	unsigned bits = 0;

	while (*list) {
		size_t n = strcspn(list, " \t\n");

		for (size_t i = 0; i < NCONTROLLERS; i++)
			if (strlen(NAME_OF(i)) == n &&
			    memcmp(list, NAME_OF(i), n) == 0)
				bits |= 1u << i;
		list += n;
		list += strspn(list, " \t\n");
	}
	return bits;
}

/* Reads at most size - 1 bytes of dirfd/name, NUL-terminated: the length
 * or -errno. */
ssize_t
arb_cgfile_read(int dirfd, const char *name, char *buf, size_t size)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	do
		n = read(fd, buf, size - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		n = -errno;
	else
		buf[n] = '\0';
	(void)close(fd);
	return n;
}

/* Writes text to dirfd/name in one write(2): 0 or -errno. */
int
arb_cgfile_write(int dirfd, const char *name, const char *text)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC);
	size_t len = strlen(text);
	ssize_t n;
	int r = 0;

	if (fd < 0)
		return -errno;
	do
		n = write(fd, text, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		r = -errno;
	else if ((size_t)n != len)
		r = -EIO;
	(void)close(fd);
	return r;
}

/* The value of "key N" in a flat-keyed file's text (cgroup.events,
 * memory.events); -1 when absent. */
int64_t
arb_cgfile_keyed(const char *text, const char *key)
{
	size_t klen = strlen(key);

	for (const char *line = text; *line;) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
			return strtoll(line + klen + 1, NULL, 10);
		line = strchr(line, '\n');
		if (!line)
			break;
		line++;
	}
	return -1;
}

/* "+cpu +memory" for bits (sign '+'), or "-cpu -memory" (sign '-'). */
void
arb_cgfile_control_text(char sign, unsigned bits, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < NCONTROLLERS; i++) {
		if (!(bits & (1u << i)))
			continue;
		int n = snprintf(buf + used, size - used, "%s%c%s",
				 used ? " " : "", sign, NAME_OF(i));
		if (n < 0 || (size_t)n >= size - used)
			break;
		used += (size_t)n;
	}
}

/*
 * Enables bits in dirfd's cgroup.subtree_control: all at once, or, when
 * the kernel refuses one, each alone. The bits enabled.
 */
unsigned
arb_cgfile_enable(int dirfd, unsigned bits)
{
	char text[64];
	unsigned enabled = 0;

	if (bits == 0)
		return 0;
	arb_cgfile_control_text('+', bits, text, sizeof(text));
	if (arb_cgfile_write(dirfd, "cgroup.subtree_control", text) == 0)
		return bits;
	for (size_t i = 0; i < NCONTROLLERS; i++) {
		if (!(bits & (1u << i)))
			continue;
		arb_cgfile_control_text('+', 1u << i, text, sizeof(text));
		if (arb_cgfile_write(dirfd, "cgroup.subtree_control", text) == 0)
			enabled |= 1u << i;
	}
	return enabled;
}

/* arb_cgfile_remove_tree at depth below the first. */
static int
remove_below(int dirfd, const char *name, unsigned depth)
{
	int fd, r = 0;
	DIR *d;
	struct dirent *e;

	if (unlinkat(dirfd, name, AT_REMOVEDIR) == 0)
		return 0;
	if (errno == ENOENT)
		return 0;
	if (errno != EBUSY && errno != ENOTEMPTY)
		return -errno;
	if (depth > ARB_DEPTH_MAX + 2)
		return -ELOOP;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		(void)close(fd);
		return r;
	}
	while ((e = readdir(d))) {
		if (e->d_type != DT_DIR || strcmp(e->d_name, ".") == 0 ||
		    strcmp(e->d_name, "..") == 0)
			continue;
		int rc = remove_below(fd, e->d_name, depth + 1);
		if (rc < 0 && r == 0)
			r = rc;
	}
	(void)closedir(d);
	if (r < 0)
		return r;
	return unlinkat(dirfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT
		       ? 0
		       : -errno;
}

int
arb_cgfile_remove_tree(int dirfd, const char *name)
{
	return remove_below(dirfd, name, 0);
}
