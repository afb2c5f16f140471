/*
 * limits.h - every cap arbord enforces, in one place.
 *
 * Configuration that exceeds one of these is rejected with an error that
 * names the limit; nothing is silently truncated.
 */
#ifndef ARB_LIMITS_H
#define ARB_LIMITS_H

/* Longest name of one node ([A-Za-z0-9_.-]+). */
#define ARB_NAME_MAX 64

/*
 * Deepest nesting of supervisors below the root (the root is depth 0); a
 * service may sit one level deeper, so a path has ARB_DEPTH_MAX + 1 names.
 */
#define ARB_DEPTH_MAX 32

/* Children of one supervisor, and nodes in the whole tree. */
#define ARB_CHILDREN_MAX 16384
#define ARB_NODES_MAX 65536

/* Arguments of one exec, and entries of one env list. */
#define ARB_ARGV_MAX 1024
#define ARB_ENV_MAX 1024

/* Restart intensity: the ring of timestamps holds intensity + 1 entries. */
#define ARB_INTENSITY_MAX 100000

/* Fragments read from conf.d/. */
#define ARB_CONF_FILES_MAX 1024

/*
 * Bytes of one configuration file with the files it @includes, counted
 * at each inclusion: libconfig 1.5 scans a long token of an included file
 * in time quadratic in its length (1 MiB, half a second).
 */
#define ARB_CONF_SIZE_MAX (1024 * 1024)

/*
 * Control socket: connections served at once (more are told TooManyClients
 * and closed at once), of which the last ARB_CLIENTS_RESERVED only for
 * root and arbord's own user, and the last ARB_CLIENTS_ROOT of those for
 * root alone; how long a connection may stay idle (no call in progress,
 * no stream, no complete call received and nothing of its answers read)
 * before it is closed; the bytes an Events subscriber may have queued
 * before it is dropped as too slow a reader (a stuck `arborctl events`);
 * and the output under which a request/reply connection's next call is
 * taken, so each holds about one reply at a time.
 */
#define ARB_CLIENTS_MAX 256
#define ARB_CLIENTS_RESERVED 16
#define ARB_CLIENTS_ROOT 8
#define ARB_CONN_IDLE_MS 5000
#define ARB_CONN_OUT_MAX (8 * 1024 * 1024)
#define ARB_CONN_REPLY_LOW (64 * 1024)

/* The longest STATUS= text of a service that status keeps. */
#define ARB_STATUS_TEXT_MAX 512

/* How long arbord, exiting, waits for its clients to read what is queued. */
#define ARB_EXIT_FLUSH_MS 1000

/*
 * Sockets of one service's `listen`, passed as descriptors 3 and up; and
 * the highest descriptor `ready = "fd:N"` may name.
 */
#define ARB_LISTEN_MAX 64
#define ARB_READY_FD_MAX 1023

/*
 * Logs: the longest line kept whole (a longer one is cut into pieces of
 * this size, each but the last marked ARB_LINE_CUT); the bounds of a
 * service's ring; rotated files kept; and what one service's pipe gives in
 * one wake-up, so a flood cannot keep the loop from anything else.
 */
#define ARB_LOG_LINE_MAX 8192
#define ARB_LOG_RING_MIN (16 * 1024)
#define ARB_LOG_RING_MAX (64 * 1024 * 1024)
#define ARB_LOG_KEEP_MAX 1000
/* Room for "KEY=" and the longest path, and a newline. */
#define ARB_LOG_PATH_FIELD ((ARB_DEPTH_MAX + 1) * (ARB_NAME_MAX + 1) + 32)
#define ARB_SIZE_MAX (1ull << 40) /* any size key: 1 TiB */
#define ARB_LOG_READ_MAX (256 * 1024)
/* A pipe found full is grown to this, so a busy service wakes arbord
 * less often; quiet ones keep the kernel's 64 KiB. */
#define ARB_LOG_PIPE_BUSY (1024 * 1024)

/*
 * What may wait for a slow console (arbord's stdout and stderr) and for a
 * slow `arborctl logs -f` reader before lines are dropped and counted.
 */
#define ARB_LOG_CONSOLE_QUEUE (256 * 1024)
#define ARB_LOG_FOLLOW_QUEUE (1024 * 1024)

/* The most one Logs call's backlog may take (bounded per line, before
 * encoding): the newest lines that fit are sent. */
#define ARB_LOG_BACKLOG_MAX (16 * 1024 * 1024)

/*
 * The final shutdown of an init (shutdown.h): how long every process left
 * after the tree has to end on SIGTERM, then how long SIGKILL is given
 * before sync, unmount and reboot go on regardless (a process in D state).
 */
#define ARB_SHUTDOWN_TERM_MS 5000
#define ARB_SHUTDOWN_KILL_MS 2000

/*
 * on_giveup = "restart": the pause before the tree boots again, so a tree
 * that cannot start does not spin the machine.
 */
#define ARB_GIVEUP_RESTART_DELAY_MS 1000

/* Low descriptors kept for what a start hands its child (spawn.h). */
#define ARB_SPAWN_SLOTS 8

/*
 * The descriptors arbord holds whatever its tree (core/fdbudget.h), counted
 * from the code:
 *   3  stdin, stdout, stderr (the console sink writes 1 and 2)
 *   2  /dev/null: the children's stdin, and the spawner's source for its
 *      slots
 *   ARB_SPAWN_SLOTS  the spawner's low slots
 *   2  libev: its epoll set and its eventfd for signals
 *   1  the epoll set of the log pipes (logs/capture.c)
 *   2  the control socket and the lock beside it
 *   1  the notify socket (NOTIFY_SOCKET of the services that speak it)
 *   1  the journal's socket
 *   ARB_CLIENTS_MAX + 1  the control clients, and one more accepted to be
 *      told TooManyClients
 *   ARB_FD_TRANSIENT  held for a moment, or by a few services: each start
 *      under way holds its status pipe and its pipes' write ends until its
 *      child exists; /proc reopens; sd_notify to systemd; a re-exec's
 *      state; the pidfd of a dead service whose process group outlived
 *      it; what arbord inherited (LISTEN_FDS).
 * A tree's need is this plus its services' (fdbudget.c).
 */
#define ARB_FD_TRANSIENT 64
#define ARB_FD_RESERVE (3 + 2 + ARB_SPAWN_SLOTS + 2 + 1 + 2 + 1 + 1 + \
			ARB_CLIENTS_MAX + 1 + ARB_FD_TRANSIENT)

/* A start's stack (64 KiB) kept for the next one, at most this many. */
#define ARB_SPAWN_BLOCKS_KEPT 8

/*
 * The living tree: when this many node slots were given back at once (a
 * pool's instances removed), the shell shrinks what it keeps per node,
 * keeps one start's stack, and gives the heap back to the system.
 */
#define ARB_SHRINK_SLOTS 64

/* Supplementary groups of one service's user: Linux's NGROUPS_MAX. */
#define ARB_GROUPS_MAX 65536

#endif
