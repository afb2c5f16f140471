/*
 * status_reply.h - the reply to Status, encoded without a jansson tree.
 */
#ifndef ARB_STATUS_REPLY_H
#define ARB_STATUS_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arb_control;

/*
 * Encodes the whole reply message to a Status of top's subtree, depth first
 * in start order, as now_ms sees it: {"parameters":{"nodes":[...],
 * "containment":{...}}} and its NUL, byte for byte what jansson's compact
 * dump of the same members gives. With stats, each node has its "stats"
 * (usage.h: read from its cgroup or /proc now, the subtree's for a
 * supervisor), which costs a few file reads a node.
 * On success *ret_buf is a heap buffer the caller owns (ready for
 * arb_wire_outq_push) and *ret_len counts the NUL. Returns 0, -ENOMEM, or
 * -EMSGSIZE past ARB_REPLY_MAX; the out-parameters are untouched on failure.
 * Costs O(subtree).
 */
int arb_status_reply_encode(const struct arb_control *ctl, uint32_t top,
			    int64_t now_ms, bool stats, char **ret_buf,
			    size_t *ret_len);

#endif
