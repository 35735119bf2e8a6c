/* placement/place: which disks hold the chunks of a new stripe.
 *
 * The metadata master asks this module where to put the k + m chunks of an
 * erasure-coded stripe (or the m + 1 copies of a replicated one).  It gets
 * the candidate disks the cluster knows, with their node, free space and
 * state, and answers with one disk per chunk, following DESIGN.md:
 *
 *   - never two chunks of one stripe on one disk;
 *   - distinct nodes when there are at least as many usable nodes as
 *     chunks, otherwise spread as evenly as the nodes' usable disks allow
 *     (the chunk counts of any two nodes differ by at most one, unless a
 *     node has run out of usable disks);
 *   - weighted by free space: a node, then a disk of it, is drawn with a
 *     probability proportional to its free bytes;
 *   - offline and draining disks, and disks with less free space than one
 *     chunk, are skipped.
 *
 * It is pure logic: no I/O, no clock, no global state.  The random draws
 * come from a generator seeded by the caller, so a given input and seed
 * always give the same answer (the master seeds it with the stripe id).
 * It is mechanism-free: the chunk store obeys what it decides.
 *
 * Threads: every call is reentrant.
 */
#ifndef WFS_PLACEMENT_PLACE_H
#define WFS_PLACEMENT_PLACE_H

#include <stddef.h>
#include <stdint.h>

/* Chunks of one stripe at most: the metadata's WFS_META_CHUNKS_MAX. */
#define WFS_PLACE_MAX 32

/* A disk's state as the cluster records it (the metadata's DISK_SET state
 * field holds these values). */
enum wfs_place_disk_state {
	WFS_PLACE_DISK_ONLINE = 0,	/* takes new chunks */
	WFS_PLACE_DISK_OFFLINE = 1,	/* failed or missing: takes nothing */
	WFS_PLACE_DISK_DRAINING = 2,	/* being emptied: takes nothing new */
};

/* One candidate disk.  The strings are borrowed for the call. */
struct wfs_place_disk {
	const char *node_id;	/* the node holding it: disks with equal
				 * strings are on one node */
	const char *disk_id;	/* the disk: entries with equal strings are
				 * one disk, used at most once */
	uint64_t capacity;	/* bytes (informational) */
	uint64_t free;		/* bytes available for new chunks */
	uint32_t state;		/* enum wfs_place_disk_state */
};

/* Pick @n disks (1..WFS_PLACE_MAX) out of the @ndisks at @disks for the n
 * chunks of one stripe, each needing @chunk_bytes free on its disk.  On
 * success out[i] (an array of @n) is the index in @disks of the disk for
 * chunk i.  Returns 0; -EINVAL for @n out of range or @disks NULL with
 * @ndisks > 0; -ENOSPC when fewer than @n distinct usable disks exist;
 * -ENOMEM.  Deterministic: the same arguments give the same answer.
 * Any thread. */
int wfs_place_pick(const struct wfs_place_disk *disks, size_t ndisks,
		   unsigned n, uint64_t chunk_bytes, uint64_t seed,
		   size_t *out);

/* The state's name as operators see it: "online", "offline", "draining",
 * or "unknown". */
const char *wfs_place_state_name(uint32_t state);

#endif
