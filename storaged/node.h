/* storaged/node: one storage node, wired together.
 *
 * A node is the daemon's whole state: its identity, the chunk store on its
 * disks, the metadata store driven by the raft log, the lock table, the
 * API server and two background threads (upkeep: format, registration,
 * disk figures, lock deadlines; gc: garbage chunks).  This module starts
 * them in order and stops them in reverse; it owns the context struct that
 * the services share (node_internal.h).  There is no global state: tests
 * run several nodes in one process.
 *
 * Start:
 *   1. identity from <data_dir>/node.key (made at first start);
 *   2. chunk store on the configured disks;
 *   3. metadata store <data_dir>/meta.db (storaged/metafsm.h);
 *   4. raft log in <data_dir>/raft on listen.peer, this node the only
 *      voter of a new group (bootstrap on first start; later starts load
 *      the group from the log, replaying what the store lacks);
 *   5. the API server on listen.api (services Meta, Chunk, Admin);
 *   6. the upkeep and gc threads.  Once this node leads, upkeep formats an
 *      unformatted store (FORMAT: random cluster id, root mode 0755, policy
 *      from the config), then records this node (NODE_SET) and its disks
 *      (DISK_SET), and refreshes the disks' figures every few seconds when
 *      they changed noticeably.
 * Until the store is formatted and this node leads, metadata calls fail
 * with -EAGAIN, which clients retry.
 *
 * Stop: waits on locks are cancelled, the API server stops taking calls
 * and lets those in flight finish (their raft entries commit), the raft
 * log stops (committing its last batch), the threads are joined and the
 * stores closed.
 */
#ifndef WFS_STORAGED_NODE_H
#define WFS_STORAGED_NODE_H

#include <stdint.h>

#include "nodeconf/config.h"

/* The software version, reported by --version and Admin.Status. */
#define WFS_STORAGED_VERSION "0.3.0"

/* Knobs with defaults; a zeroed struct (or NULL) means every default.
 * Tests shorten the intervals. */
struct wfs_node_opts {
	unsigned rpc_threads;		/* API server threads; 0: 6 */
	unsigned disk_refresh_ms;	/* DISK_SET refresh period; 0: 10 s */
	unsigned gc_interval_ms;	/* gc pass period; 0: 5 s */
	int64_t stop_grace_ms;		/* calls in flight at stop; 0: 5 s */
	unsigned snapshot_threshold;	/* raft entries between snapshots;
					 * 0: the raft log's default */
};

struct wfs_node;

/* Start a node from @cfg, which is borrowed until wfs_node_stop() (the
 * caller keeps it alive and unchanged).  A listen.api port of 0 picks a
 * free port (tests; see wfs_node_api_port).  On success *out is the
 * running node.  Returns 0 or a negative errno, with the reason logged:
 * -EPERM / -EBADMSG (node key), -EINVAL (listen.peer not usable by raft),
 * the chunk store's, metadata store's or raft log's error, -EADDRINUSE
 * (the API address), -ENOMEM.  On failure everything started is stopped.
 * Call from the main thread, with SIGPIPE ignored; blocks on disk I/O. */
int wfs_node_start(const struct wfs_config *cfg,
		   const struct wfs_node_opts *opts, struct wfs_node **out);

/* Stop and free the node (see the top of this file).  NULL is a no-op.
 * From the thread that started it. */
void wfs_node_stop(struct wfs_node *n);

/* The API server's TCP port. */
int wfs_node_api_port(const struct wfs_node *n);

/* This node's id (32 lower-case hex characters), valid until stop. */
const char *wfs_node_id(const struct wfs_node *n);

/* Wait until the node serves metadata: it leads, the store is formatted
 * and the node and its disks are recorded.  Returns 0, or -ETIMEDOUT after
 * @timeout_ms.  Any thread but the node's own. */
int wfs_node_wait_ready(struct wfs_node *n, unsigned timeout_ms);

#endif
