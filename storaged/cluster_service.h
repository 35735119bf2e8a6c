/* storaged/cluster_service: cluster membership calls of the Admin service,
 * served by the metadata master (storaged/forward relays them there).
 *
 *   NodeAdd(key)     admit a node by its public key: records it (state
 *                    dead, no address) so that it may join.
 *   NodeRemove(id)   forget a node: its record and disks go, and it leaves
 *                    the raft group.  Its key is no longer admitted.
 *   Join(...)        an admitted node, at every start and then now and
 *                    again: records its addresses and disks as alive, and
 *                    makes it a raft standby if it is not a member yet
 *                    (the upkeep of the master promotes standbys to voters,
 *                    see wfs_cluster_balance).
 *
 * These calls change membership, which must not wait on an API thread: each
 * runs on a thread of its own (they are rare), answered when done.
 */
#ifndef WFS_STORAGED_CLUSTER_SERVICE_H
#define WFS_STORAGED_CLUSTER_SERVICE_H

struct wfs_node;
struct wfs_rpc_server;
struct wfs_clustersvc;

/* Make the service of node @n and route its calls on @s.  Returns 0 and
 * *out, -ENOMEM or the error of wfs_rpc_server_handle.  Owner thread,
 * before the server starts. */
int wfs_clustersvc_register(struct wfs_node *n, struct wfs_rpc_server *s,
			    struct wfs_clustersvc **out);

/* Wait for calls still running (after the API server stopped: none comes
 * in) and release.  NULL is a no-op. */
void wfs_clustersvc_free(struct wfs_clustersvc *cs);

/* Master's upkeep: bring the raft group to the configured number of voters
 * by promoting standbys whose nodes may vote and are alive, and replace a
 * dead voter by such a standby.  One membership change at a time; returns
 * at once (the change completes later).  Upkeep thread. */
void wfs_cluster_balance(struct wfs_node *n);

#endif
