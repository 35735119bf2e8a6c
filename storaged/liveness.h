/* storaged/liveness: which nodes are alive, from gossip (gossip/gossip.h).
 *
 * Every node runs a gossip runner on listen.gossip, authenticated by its
 * node key; only admitted keys take part (the same rule as the node
 * transport).  A node that founds a cluster gossips alone; any other learns
 * the master's gossip address when it joins and gossips through it.
 *
 * The master turns what its gossip sees into the node records: a node that
 * gossip declares dead (or that left) is recorded dead, so placement stops
 * putting chunks on it and its voter seat can be given to a standby; one
 * that is alive again is recorded alive.  Other nodes only gossip.
 *
 * Threads: the runner has its own; wfs_liveness_sync runs on the upkeep
 * thread.
 */
#ifndef WFS_STORAGED_LIVENESS_H
#define WFS_STORAGED_LIVENESS_H

#include <stdbool.h>
#include <stddef.h>

struct wfs_node;
struct wfs_liveness;

/* Start gossip for node @n on its listen.gossip address, with no seeds.
 * Returns 0 and *out, or a negative errno (logged). */
int wfs_liveness_start(struct wfs_node *n, struct wfs_liveness **out);

/* The address this node gossips on ("ip:port"). */
const char *wfs_liveness_addr(const struct wfs_liveness *l);

/* Gossip through @addr (another node's gossip address) too.  Returns 0 or
 * a negative errno. */
int wfs_liveness_join(struct wfs_liveness *l, const char *addr);

/* Master: record as dead the nodes gossip found dead and as alive those it
 * finds alive again (one NODE_SET per change).  Upkeep thread. */
void wfs_liveness_sync(struct wfs_liveness *l);

/* This node's gossip view of node @node_id (a node id, hex): "alive",
 * "suspect", "dead" or "left", or NULL when gossip does not know it.
 * Any thread. */
const char *wfs_liveness_state_of(struct wfs_liveness *l,
				  const char *node_id);

/* Stop gossip and release.  NULL is a no-op. */
void wfs_liveness_stop(struct wfs_liveness *l);

#endif
