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
 * Every node also gossips what it is (its swim meta, in the format of
 * storaged/nodemeta.h): its API and peer addresses, its role in the raft
 * group, and each disk's capacity, free space and state.  It publishes
 * again only when that changed materially (wfs_nodemeta_differs: a disk's
 * state, a disk added or gone, free space moved by 1% or 64 MiB), since
 * each publication raises its incarnation and floods the cluster.  What
 * the others publish is decoded once per change into a view (a
 * struct wfs_nodeview), which placement and status lay over the
 * metadata's disk records: the records, written by Join every
 * disk_refresh_ms, stay the durable source a new master starts from;
 * gossip is the fresh one, seconds rather than ten seconds old.
 *
 * Threads: the runner has its own, which also decodes others' meta into
 * the view; wfs_liveness_sync and wfs_liveness_refresh run on the upkeep
 * thread; the view is read from any thread.
 */
#ifndef WFS_STORAGED_LIVENESS_H
#define WFS_STORAGED_LIVENESS_H

#include <stdbool.h>
#include <stddef.h>

struct wfs_node;
struct wfs_liveness;
struct wfs_place_disk;

/* Start gossip for node @n on its listen.gossip address, with no seeds,
 * publishing the node's disks as its store sees them (its addresses and
 * role follow at the first wfs_liveness_refresh).  Blocks on statvfs of
 * each disk.  Returns 0 and *out, or a negative errno (logged). */
int wfs_liveness_start(struct wfs_node *n, struct wfs_liveness **out);

/* The address this node gossips on ("ip:port"). */
const char *wfs_liveness_addr(const struct wfs_liveness *l);

/* Gossip through @addr (another node's gossip address) too.  Returns 0 or
 * a negative errno. */
int wfs_liveness_join(struct wfs_liveness *l, const char *addr);

/* Master: record as dead the nodes gossip found dead and as alive those it
 * finds alive again (one NODE_SET per change).  Upkeep thread. */
void wfs_liveness_sync(struct wfs_liveness *l);

/* Measure this node's disks (statvfs) and publish its meta again if it
 * changed materially since it was last published (see above).  Calls
 * closer than 500 ms apart do nothing.  @l NULL is a no-op.  Upkeep
 * thread: it may block on a disk. */
void wfs_liveness_refresh(struct wfs_liveness *l);

/* Lay gossip's fresh figures over the @n disk records at @d (node and disk
 * ids as the metadata has them, capacity, free space, state): a disk whose
 * node gossip finds alive or suspect, and whose meta names it, takes the
 * capacity, free space and state it gossips (wfs_nodemeta_overlay: an
 * offline disk is offline at once; a draining one stays draining); the
 * others are left as recorded.  This node's own disks count too, as last
 * published.  Returns how many disks were overlaid.  @l NULL overlays
 * nothing.  Any thread; it takes a lock held only for lookups. */
size_t wfs_liveness_overlay(struct wfs_liveness *l, struct wfs_place_disk *d,
			    size_t n);

/* This node's gossip view of node @node_id (a node id, hex): "alive",
 * "suspect", "dead" or "left", or NULL when gossip does not know it.
 * Any thread. */
const char *wfs_liveness_state_of(struct wfs_liveness *l,
				  const char *node_id);

/* Where the node transport reaches node @node_id (hex) and the key it
 * proves there, as gossip tells: its Ed25519 key into @pk (32 bytes) and
 * its peer address ("ip:port") into @addr (@cap bytes).  Returns 0,
 * -ENOENT when gossip does not know it alive (or suspect), -EADDRNOTAVAIL
 * when its meta names no peer address, -ERANGE, -ENOMEM.  Any thread. */
int wfs_liveness_peer(struct wfs_liveness *l, const char *node_id,
		      unsigned char pk[32], char *addr, size_t cap);

/* Stop gossip and release.  NULL is a no-op. */
void wfs_liveness_stop(struct wfs_liveness *l);

#endif
