/* storaged/forward: calls that only the metadata master may serve, relayed
 * to it by the node that received them.
 *
 * Clients may call any node (DESIGN.md, "Metadata and the master").  This
 * module is the API server's gate (wfs_rpc_server_set_gate): on the master
 * every call passes to its handler; on another node a call of the Meta
 * service, or a cluster call of the Admin service (NodeAdd, NodeRemove,
 * Join, JoinToken; DiskDrain, PlaceChunk, MoveChunk, GcDone), is handed
 * to a small pool of threads that make the same call on the master and
 * answer with exactly what it answered.  A call that was
 * relayed once already is never relayed again, and while no master can be
 * reached (an election, a partition) the call fails with -EHOSTUNREACH: the
 * client waits and retries.  (Not -EAGAIN: a lock call answers a conflict
 * with that.)
 * The Chunk service and Admin/Status are always served where they land.
 *
 * Threads: the gate runs on API server threads; relays run on the pool's.
 */
#ifndef WFS_STORAGED_FORWARD_H
#define WFS_STORAGED_FORWARD_H

#include <stddef.h>

#include "rpc/rpc.h"

struct wfs_node;
struct wfs_forward;

/* Make the relay of node @n (borrowed) with @threads relay threads (0: a
 * default).  Returns 0 and *out, or -ENOMEM or a thread error. */
int wfs_forward_new(struct wfs_node *n, unsigned threads,
		    struct wfs_forward **out);

/* The gate to install on the node's API server, with the wfs_forward as
 * its argument. */
int wfs_forward_gate(void *arg, const char *method, unsigned hops,
		     const void *req, size_t len,
		     struct wfs_rpc_reply *reply);

/* Finish the relays queued (each fails with -EAGAIN) and those running,
 * join the threads and release.  After the API server stopped, before it
 * is freed.  NULL is a no-op. */
void wfs_forward_free(struct wfs_forward *f);

#endif
