/* storaged/gc: the garbage collector of chunks.
 *
 * When a stripe is rewritten, truncated away or its file purged, the
 * metadata moves its old chunks to the garbage list (wfs_meta_garbage).  A
 * background thread pages through that list every few seconds, deletes
 * from this node's chunk store the chunks recorded on its disks, and
 * proposes GC_DONE for them in batches, which drops them from the list.
 *
 * Each garbage entry names one copy (stripe, index, node, disk): the
 * collector deletes it from that disk and no other, and GC_DONE settles
 * that entry alone, so the copies a chunk left on other nodes as it moved
 * stay listed for their own collectors.  A chunk already gone counts as
 * deleted; one on an offline or busy disk stays listed and is tried again
 * on a later pass.  Garbage recorded on other nodes is left for them:
 * every node runs its own collector over its own copy of the metadata.
 * The master proposes GC_DONE itself; the others report to it
 * (Admin.GcDone, relayed like every master call), and pass again only
 * once their copy has applied what they reported.
 *
 * The garbage list names a chunk by stripe id and index but not by stripe
 * version, while the chunk store keys chunks by all three; stripe ids are
 * never reused, so the collector finds the chunk by listing the disk from
 * the stripe id on (chunk store folders list in key order).
 */
#ifndef WFS_STORAGED_GC_H
#define WFS_STORAGED_GC_H

#include <stddef.h>

struct wfs_node;
struct wfs_gc;
struct wfs_rpc_server;

/* Start the collector thread of node @n (borrowed until wfs_gc_stop),
 * running a pass every @interval_ms.  Returns 0 and sets *out, -ENOMEM,
 * the error of getrandom (the request ids' nonce) or of pthread_create.
 * Owner thread. */
int wfs_gc_start(struct wfs_node *n, unsigned interval_ms,
		 struct wfs_gc **out);

/* Ask the thread to stop (a pass in progress stops between chunks); does
 * not wait.  NULL is a no-op.  Any thread. */
void wfs_gc_signal_stop(struct wfs_gc *gc);

/* Stop the thread, wait for it and free @gc.  NULL is a no-op.  Owner
 * thread. */
void wfs_gc_stop(struct wfs_gc *gc);

/* Run a pass now and wait for it: returns the number of chunks it deleted
 * (>= 0) or a negative errno (-EAGAIN when this node is not the leader
 * and its copy of the metadata is not ready, -ECANCELED when stopping,
 * -ESTALE once the metadata store has dropped entries it had applied
 * (wfs_meta_went_back): from then on the collector deletes nothing, and
 * says so in the log once, until storaged restarts or a snapshot is
 * restored over the store).
 * For tests and admin tools.  Any thread but the collector's and the raft
 * thread. */
long wfs_gc_run(struct wfs_gc *gc);

/* Route Admin.GcDone (a node's report of the garbage it deleted: the
 * master proposes GC_DONE for it) on @s to node @n (borrowed until the
 * server is freed).  Returns 0 or the error of wfs_rpc_server_handle.
 * Owner thread, before the server starts. */
int wfs_gc_register(struct wfs_node *n, struct wfs_rpc_server *s);

#endif
