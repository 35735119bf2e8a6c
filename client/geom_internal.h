/* client/geom: the arithmetic of the client's stripe buffers, with no I/O.
 *
 * A file is cut into stripes of a fixed span (k x chunk_size bytes, from the
 * file's policy); stripe sidx covers the file bytes [sidx * span, + span).
 * A stripe's committed data is its first `length` bytes; the rest of the span
 * and every stripe absent from the layout (a hole) read as zeros.
 *
 * This header holds what the write-back and read paths decide before they
 * touch the network, so it can be tested on its own:
 *  - sets of byte ranges (the dirty bytes of a stripe buffer, the part of a
 *    file's layout already fetched);
 *  - which data chunks ("blocks") of a committed stripe a byte range needs;
 *  - the flush plan of a stripe buffer: EC or replica, which blocks of the
 *    committed version must be read first (read-modify-write);
 *  - the write quorum.
 *
 * Internal to client/.  Not thread-safe: callers hold their own locks.
 */
#ifndef WFS_CLIENT_GEOM_INTERNAL_H
#define WFS_CLIENT_GEOM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Kinds of stripes: the proto's StripeKind values. */
#define WFS_KIND_EC 1
#define WFS_KIND_REPLICA 2

/* Blocks of a stripe buffer tracked in a uint32_t mask: one per data chunk
 * (k <= 16). */
#define WFS_GEOM_MAX_BLOCKS 16

/* A half-open range of bytes [start, end). */
struct wfs_range {
	uint64_t start, end;
};

/* A set of disjoint, non-adjacent ranges kept sorted; adding merges.  The
 * caller owns the struct; a zeroed one is empty.  Release with
 * wfs_ranges_release. */
struct wfs_ranges {
	struct wfs_range *v;	/* n ranges in order, from wfs_malloc */
	unsigned n, cap;
};

/* Free the ranges' memory; the set is empty afterwards.  A zeroed set is a
 * no-op. */
void wfs_ranges_release(struct wfs_ranges *r);

/* Empty the set, keeping its memory. */
void wfs_ranges_clear(struct wfs_ranges *r);

/* Add [start, end) (merged with what it touches or overlaps).  An empty
 * range (start >= end) is a no-op.  Returns 0 or -ENOMEM (the set is then
 * unchanged). */
int wfs_ranges_add(struct wfs_ranges *r, uint64_t start, uint64_t end);

/* Drop every byte at or past @from (truncation). */
void wfs_ranges_cut(struct wfs_ranges *r, uint64_t from);

/* Whether every byte of [start, end) is in the set (true for an empty
 * range). */
bool wfs_ranges_covers(const struct wfs_ranges *r, uint64_t start,
		       uint64_t end);

/* Whether any byte of [start, end) is in the set. */
bool wfs_ranges_touches(const struct wfs_ranges *r, uint64_t start,
			uint64_t end);

/* Index of the first range that ends after @x (n if none): where a walk
 * over the ranges meeting [x, ...) starts. */
unsigned wfs_ranges_find(const struct wfs_ranges *r, uint64_t x);

/* One past the last byte in the set; 0 when empty. */
uint64_t wfs_ranges_end(const struct wfs_ranges *r);

/* The next gap of the set inside [*pos, end): on true, *gap is the first
 * maximal run of bytes not in the set at or after *pos and *pos moves past
 * it; false when [*pos, end) is all covered. */
bool wfs_ranges_next_gap(const struct wfs_ranges *r, uint64_t *pos,
			 uint64_t end, struct wfs_range *gap);

/* The blocks (bit i: bytes [i * block, (i + 1) * block)) that [start, end)
 * meets; 0 for an empty range.  @block > 0; at most WFS_GEOM_MAX_BLOCKS
 * blocks are counted. */
uint32_t wfs_geom_blocks(uint32_t block, uint64_t start, uint64_t end);

/* The blocks of a stripe buffer of @nblocks blocks of @block bytes whose
 * every byte is in @dirty: they need nothing from the committed version. */
uint32_t wfs_geom_dirty_blocks(const struct wfs_ranges *dirty, uint32_t block,
			       unsigned nblocks);

/* How a stripe buffer is to be written out. */
struct wfs_flush_plan {
	uint32_t kind;		/* WFS_KIND_EC when the whole span is data or
				 * the data is longer than a replica may be
				 * (then zero-padded), else WFS_KIND_REPLICA */
	uint32_t length;	/* bytes of file data the new version holds */
	bool full;		/* the dirty bytes cover the whole new version:
				 * the committed one is not needed (no read,
				 * and any version may be replaced) */
	uint32_t load;		/* blocks of the committed version to read
				 * before writing (read-modify-write) */
};

/* What a stripe buffer knows, for wfs_geom_plan_flush. */
struct wfs_sbuf_state {
	uint64_t span;		/* k x chunk_size of the file */
	uint32_t len;		/* bytes of stripe data known here: the larger
				 * of the committed length and the end of the
				 * dirty bytes (after truncation: at most the
				 * new size) */
	uint32_t base_len;	/* committed length (0: no committed stripe) */
	uint32_t block;		/* load granularity of the committed version:
				 * its chunk size (EC) or the span (replica) */
	uint32_t valid;		/* blocks whose clean bytes already hold the
				 * committed data */
	const struct wfs_ranges *dirty; /* bytes written since the commit */
};

/* Decide how to write out a stripe buffer: EC if its data fills the span
 * else replica; which committed blocks must
 * be read first: those meeting
 * [0, min(len, base_len)) that are neither valid nor wholly dirty.  Bytes
 * past base_len that are not dirty are zeros and need no read. */
void wfs_geom_plan_flush(const struct wfs_sbuf_state *st,
			 struct wfs_flush_plan *plan);

/* The blocks a read of [start, end) of a stripe buffer must load: those it
 * meets below base_len that are neither valid nor wholly dirty. */
uint32_t wfs_geom_read_need(const struct wfs_sbuf_state *st, uint64_t start,
			    uint64_t end);

/* Chunks that must be durable for a write of a stripe of @kind to succeed:
 * k + 1 of k + m (EC), 2 of m + 1 (replica): one loss more than the
 * minimum survives in both; never more than the chunks there are. */
unsigned wfs_geom_write_quorum(uint32_t kind, unsigned k, unsigned m);

/* Chunks a stripe of @kind has: k + m (EC) or m + 1 (replica). */
unsigned wfs_geom_nchunks(uint32_t kind, unsigned k, unsigned m);

#endif
