/* storaged/admin_service: the Admin service of the API.
 *
 * Status answers from this node's view, leader or not: the cluster id, this
 * node, the leader it knows, its applied raft index, inode and byte counts,
 * and every node the metadata records with its disks (capacity, free space,
 * state; this node's own disks as its chunk store sees them now).  Until
 * the store is formatted the cluster fields are empty.
 */
#ifndef WFS_STORAGED_ADMIN_SERVICE_H
#define WFS_STORAGED_ADMIN_SERVICE_H

struct wfs_node;
struct wfs_rpc_server;

/* Route Admin.Status on @s to node @n (borrowed until the server is
 * freed).  Returns 0 or the error of wfs_rpc_server_handle.  Owner thread,
 * before the server starts. */
int wfs_adminsvc_register(struct wfs_node *n, struct wfs_rpc_server *s);

#endif
