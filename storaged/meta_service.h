/* storaged/meta_service: the Meta service of the API (proto/wormfs.proto).
 *
 * Reads (Lookup, GetAttr, ReadDir, Readlink, Statfs, GetXattr, ListXattr)
 * are served from the local store, on the leader only; a follower answers
 * -EAGAIN and the client retries (forwarding to the leader comes with the
 * cluster issue).  Mutations become metadata ops, proposed to the raft log
 * and answered once applied (meta_mutate.c): a server thread never waits
 * for raft.  Locks are served from the master's lock table
 * (storaged/locks.h), which is not replicated.  The stripe calls
 * (PlaceStripe, CommitStripe, GetLayout) are in stripe_service.c.
 *
 * Every handler checks its request before anything else: bytes that do not
 * unpack fail with -EINVAL, and names, sizes and enum values are checked
 * (and names again when the op applies), so a malformed request gets an
 * error, never a crash.
 */
#ifndef WFS_STORAGED_META_SERVICE_H
#define WFS_STORAGED_META_SERVICE_H

struct wfs_node;
struct wfs_rpc_server;

/* Route every Meta method but the stripe calls on @s to node @n (borrowed
 * until the server is freed).  Returns 0 or the error of
 * wfs_rpc_server_handle.  Before the server starts, owner thread. */
int wfs_metasvc_register(struct wfs_node *n, struct wfs_rpc_server *s);

#endif
