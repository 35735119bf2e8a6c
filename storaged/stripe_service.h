/* storaged/stripe_service: the stripe calls of the Meta service, and
 * Admin.PlaceChunk.
 *
 *   PlaceStripe   a new stripe id and a disk for each chunk (placement/
 *                 over the disks the metadata knows, with their state and
 *                 free space), the slot's current version, and the file's
 *                 policy (k, m, chunk size);
 *   CommitStripe  STRIPE_COMMIT through the raft log: compare-and-swap on
 *                 the slot's version (-ESTALE when another commit won);
 *   GetLayout     a file's stripes and chunk locations, paginated;
 *   PlaceChunk    (Admin) a disk for one chunk moved off a draining disk
 *                 (storaged/drain.h): -ESTALE if it is no longer where the
 *                 asker says, -ENOSPC if no disk may take it.
 * Chunk locations carry the owning node's API address (from NODE_SET), so
 * a client calls that node's Chunk service directly.
 *
 * Stripe ids: the leader reserves them from the metadata in ranges
 * (RESERVE_IDS, 4096 at a time) and hands them out from memory, so a
 * placement rarely waits for raft; a call that finds the range used up is
 * parked until the next range applies.  Ids left in memory when the node
 * stops leading are dropped: skipped, never handed out twice.
 */
#ifndef WFS_STORAGED_STRIPE_SERVICE_H
#define WFS_STORAGED_STRIPE_SERVICE_H

struct wfs_node;
struct wfs_rpc_server;
struct wfs_stripesvc;

/* Ids reserved per RESERVE_IDS. */
#define WFS_STRIPESVC_RESERVE 4096

/* Make the stripe service of node @n (borrowed).  Returns 0 and sets
 * *out, or -ENOMEM. */
int wfs_stripesvc_new(struct wfs_node *n, struct wfs_stripesvc **out);

/* Route PlaceStripe, CommitStripe, GetLayout and PlaceChunk on @srv to
 * @s.  Returns 0 or the error of wfs_rpc_server_handle.  Owner thread,
 * before start. */
int wfs_stripesvc_register(struct wfs_stripesvc *s,
			   struct wfs_rpc_server *srv);

/* Forget the ids held in memory (leadership lost).  Any thread. */
void wfs_stripesvc_drop_ids(struct wfs_stripesvc *s);

/* Free the service; no call may be parked (the raft log, which completes
 * them, must be stopped).  NULL is a no-op. */
void wfs_stripesvc_free(struct wfs_stripesvc *s);

#endif
