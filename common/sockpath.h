/*
 * sockpath.h - where the control socket lives (DESIGN.md "Control
 * protocol"), shared so arbord and arborctl cannot disagree.
 *
 * Precedence: an explicit path (arbord -s, arborctl --socket), then
 * $ARBOR_SOCKET, then the default: /run/arbor/arbor.sock for root,
 * $XDG_RUNTIME_DIR/arbor/arbor.sock for anyone else, and
 * /tmp/arbor-UID/arbor.sock when XDG_RUNTIME_DIR is unset or relative.
 */
#ifndef ARB_SOCKPATH_H
#define ARB_SOCKPATH_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

/* The longest socket path: sun_path less its NUL (107 on Linux). */
#define ARB_SOCKPATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/*
 * The default path for uid with the given XDG_RUNTIME_DIR (NULL when
 * unset), written into buf of size bytes. Pure: for tests. Returns 0, or
 * -ENAMETOOLONG when the path does not fit in buf or in sun_path.
 */
int arb_sockpath_default_for(unsigned long uid, const char *xdg_runtime_dir,
			     char *buf, size_t size);

/* arb_sockpath_default_for with geteuid() and $XDG_RUNTIME_DIR. */
int arb_sockpath_default(char *buf, size_t size);

/*
 * The path to use: explicit when not NULL, else $ARBOR_SOCKET when set and
 * not empty, else the default. Returns 0 or -ENAMETOOLONG as above.
 */
int arb_sockpath_pick(const char *explicit_path, char *buf, size_t size);

/*
 * Fills *ret_addr and *ret_len for bind or connect on path. Returns 0,
 * -EINVAL for an empty path, or -ENAMETOOLONG; on failure the
 * out-parameters are untouched.
 */
int arb_sockpath_addr(const char *path, struct sockaddr_un *ret_addr,
		      socklen_t *ret_len);

#endif
