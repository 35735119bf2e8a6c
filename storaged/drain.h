/* storaged/drain: emptying a disk before it is pulled (wormctl disk
 * drain).
 *
 * An operator drains a disk: the master sets the disk's draining flag
 * (DISK_DRAIN through raft; a flag of its own, so the disk's state keeps
 * saying whether it is online, and no report of its node can clear it),
 * placement puts nothing new on it, and the node that holds it moves its
 * chunks off, one at a time, until the metadata places none there that
 * can be read.  Three parts:
 *
 *   - the master's calls (Admin service; other nodes relay them):
 *     DiskDrain sets a disk's draining flag, or clears it (undrain), with
 *     clear refusals: no such disk (-ENOENT), its node is down
 *     (-EHOSTDOWN), it is offline (-ENODEV: what cannot be read cannot be
 *     moved), already draining or not draining (-EALREADY).  MoveChunk
 *     records one chunk's move with CHUNK_SET's move form
 *     (metadata/op.h), which applies only if the chunk is still where the
 *     copy was read; before proposing it the master checks that the copy
 *     is on the target, of the stripe's size (its own store, or STAT over
 *     the node transport), so a made-up target cannot become the chunk's
 *     place.  (PlaceChunk, where a chunk goes, is placement's:
 *     storaged/stripe_service, with wfs_drain_pick below.)
 *   - the mover, a thread of every node: while one of its disks is
 *     draining in this node's copy of the metadata, it pages through the
 *     chunks the metadata places there (the chunks_by_disk index), and for
 *     each one in state OK: reads it from the local store, asks the
 *     master where it goes (PlaceChunk), writes it there over the node
 *     transport (wfs_transfer_write_to: authenticated, onto that very
 *     disk, never over a file the target holds), and records the move
 *     (MoveChunk).  The old copy is never deleted here: once the move is
 *     recorded it is garbage, and the collector (storaged/gc) deletes it.
 *     So a crash at any point leaves the chunk readable where the
 *     metadata says it is.  One chunk in flight.  Chunks marked missing
 *     (a write that failed records the disk it was meant for) have
 *     nothing to move: they are not counted as left, and the drain says
 *     how many wait for repair.
 *   - wfs_drain_pick: where one chunk may go (pure logic, tested alone).
 *
 * Failures: a chunk that cannot be moved now (no disk can take it, the
 * target refused, the master cannot be reached, the chunk is missing or
 * damaged here) stays where it is and is tried again at the next pass
 * over the disk; each cause is logged once a minute at most, and a pass
 * that moved nothing is followed by a pause, so a drain never spins.  A
 * copy whose move lost a race (the stripe was rewritten, or the chunk
 * moved, meanwhile) is recorded as garbage by the same log entry.
 *
 * Threads: the handlers run on API server threads and never wait for
 * raft; the mover has its own thread.
 */
#ifndef WFS_STORAGED_DRAIN_H
#define WFS_STORAGED_DRAIN_H

#include <stddef.h>
#include <stdint.h>

/* Counts of the chunks on a disk (what a drain has left, in status, its
 * replies and logs) stop here: each reads the disk's index entries, on
 * the raft thread for DiskDrain's reply and under the metadata's lock
 * for status, so a full disk must not stall either.  Shown as
 * "1000000+". */
#define WFS_DRAIN_COUNT_LIMIT 1000000

struct wfs_drain;
struct wfs_node;
struct wfs_place_disk;
struct wfs_rpc_server;

/* One chunk of a stripe: where it lives. */
struct wfs_drain_holder {
	const char *node_id;
	const char *disk_id;
};

/* What a chunk being moved must not land on (strings borrowed). */
struct wfs_drain_exclude {
	const char *node_id;	/* the node holding it now: never there (a
				 * node's store keeps one copy of a chunk,
				 * so it cannot hold the old and the new) */
	const struct wfs_drain_holder *others;	/* the stripe's other
				 * chunks: never on their disks, and on
				 * their nodes only when no other node has
				 * room */
	size_t nothers;
	const char *const *old_nodes;	/* nodes keeping an old copy of
				 * this chunk, waiting for deletion: never
				 * (the collector there would delete the
				 * new one with it) */
	size_t nold;
};

/* Pick the disk for one chunk of @chunk_bytes out of the @ndisks at
 * @disks (states as placement sees them: offline and draining disks are
 * never picked), following @ex: a disk of a node holding no chunk of the
 * stripe if there is one, else any allowed disk, weighted by free space
 * (wfs_place_pick with @seed).  *out is the index in @disks.  Returns 0,
 * -ENOSPC when no disk is allowed, -EINVAL, -ENOMEM.  Any thread. */
int wfs_drain_pick(const struct wfs_place_disk *disks, size_t ndisks,
		   const struct wfs_drain_exclude *ex, uint64_t chunk_bytes,
		   uint64_t seed, size_t *out);

/* Route Admin.DiskDrain and Admin.MoveChunk on @s to node @n (borrowed
 * until the server is freed).  Returns 0 or the error of
 * wfs_rpc_server_handle.  Owner thread, before the server starts. */
int wfs_drain_register(struct wfs_node *n, struct wfs_rpc_server *s);

/* Start the mover of node @n (borrowed until wfs_drain_stop; its store,
 * metadata, API server, gossip and transfer service must exist).  Returns
 * 0 and *out, -ENOMEM, or the error of pthread_create.  Owner thread. */
int wfs_drain_start(struct wfs_node *n, struct wfs_drain **out);

/* Ask the mover to stop; a move in progress ends at its next step (the
 * node's stop makes its calls fail fast).  Does not wait.  NULL is a
 * no-op.  Any thread. */
void wfs_drain_signal_stop(struct wfs_drain *d);

/* Stop the mover, wait for it and free @d.  Before the transfer service
 * is freed (the mover is its client).  NULL is a no-op.  Owner thread. */
void wfs_drain_stop(struct wfs_drain *d);

#endif
