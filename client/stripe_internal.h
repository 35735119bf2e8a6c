/* client/stripe: reading and writing one stripe's chunks, with no knowledge
 * of files, buffers or the network.
 *
 * Write: a stripe of the EC kind is k data chunks (the stripe's span cut in
 * chunk_size pieces) and m parity chunks computed here with ISA-L; a replica
 * stripe is m + 1 copies of its data.  Every chunk travels with a header
 * (stripe id and version, file, stripe index, chunk index, kind, k, m,
 * chunk size, lengths, CRC32C of the data), all chunks are written in
 * parallel, and the write succeeds when the write quorum of them did
 * (geom_internal.h); the others are marked missing for repair.
 *
 * Read: the data chunks a caller wants are read in parallel and each is
 * checked end to end (header fields and CRC32C of the data).  A chunk that
 * is missing, unreachable or corrupt is rebuilt from the others: another
 * replica, or any k chunks of an EC stripe through wfs_ec_reconstruct.
 *
 * The chunk calls themselves go through a struct wfs_chunk_io, so the real
 * one (Chunk.Read and Chunk.Write over rpc/, chunkio.c) and a test's fake
 * are interchangeable.
 *
 * Internal to client/.  Functions here are thread-safe and block; they run
 * the chunk calls on io->pool and wait for them, except a replica read,
 * which reads one copy at a time in the caller's thread.
 */
#ifndef WFS_CLIENT_STRIPE_INTERNAL_H
#define WFS_CLIENT_STRIPE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "erasure/codec.h"
#include "client/pool_internal.h"

/* Bytes in a node or disk id (metadata's WFS_META_ID_MAX). */
#define WFS_ID_MAX 64

/* Chunks in one stripe: k + m at most (erasure/codec.h limits). */
#define WFS_STRIPE_MAX_CHUNKS (WFS_EC_MAX_K + WFS_EC_MAX_M)

/* Chunk states: the proto's ChunkState values. */
#define WFS_CHUNK_OK 0
#define WFS_CHUNK_MISSING 1

/* A storage node the client talks to (conn.c interns them: one per node,
 * alive as long as the client). */
struct wfs_node;

/* Where one chunk of a stripe lives. */
struct wfs_lchunk {
	uint32_t index;		/* chunk index in the stripe */
	uint32_t state;		/* WFS_CHUNK_OK or WFS_CHUNK_MISSING */
	struct wfs_node *node;	/* the node holding it; NULL if unknown */
	uint8_t disk_len;	/* bytes in disk */
	uint8_t disk[WFS_ID_MAX]; /* the disk id on that node */
};

/* A stripe of a file: a committed one from the layout, or a placement
 * being written.  Allocated with its chunks (wfs_lstripe_new). */
struct wfs_lstripe {
	uint64_t sidx;		/* stripe index in the file */
	uint64_t stripe_id;
	uint64_t version;	/* committed version (or the one being made) */
	uint32_t kind;		/* WFS_KIND_EC or WFS_KIND_REPLICA */
	uint32_t k, m, chunk_size;
	uint32_t length;	/* bytes of file data in the stripe */
	unsigned nchunks;
	struct wfs_lchunk chunks[]; /* nchunks, in index order */
};

/* A new stripe with room for @nchunks chunks, zeroed; NULL when out of
 * memory.  Free with wfs_free. */
struct wfs_lstripe *wfs_lstripe_new(unsigned nchunks);

/* A copy of @s; NULL when out of memory. */
struct wfs_lstripe *wfs_lstripe_dup(const struct wfs_lstripe *s);

/* The fields of a chunk header that travel with its data (proto
 * ChunkHeader). */
struct wfs_chunk_hdr {
	uint64_t stripe_id, version, ino, sidx;
	uint32_t index, kind, k, m, chunk_size;
	uint32_t data_length;	/* bytes of data in this chunk */
	uint32_t stripe_length;	/* bytes of file data in the stripe */
	uint32_t data_crc32c;
};

/* The chunk calls.  Both are called from io->pool's workers (and reads also
 * from the threads calling wfs_stripe_read), concurrently. */
struct wfs_chunk_io {
	/* Read chunk @c of stripe @s of file @ino, whole, into @buf (room
	 * for @cap bytes): on success *hdr is the header the node sent and
	 * *len the data's length.  Returns 0, -EMSGSIZE when the chunk is
	 * longer than @cap, or the call's error. */
	int (*read)(void *arg, uint64_t ino, const struct wfs_lstripe *s,
		    const struct wfs_lchunk *c, struct wfs_chunk_hdr *hdr,
		    void *buf, size_t cap, size_t *len);
	/* Write one chunk with header @hdr and @len bytes of @data to @c's
	 * node and disk; on success the node's answer may move the chunk to
	 * another of its disks: @c->disk is updated.  Returns 0 or the
	 * call's error. */
	int (*write)(void *arg, struct wfs_lchunk *c,
		     const struct wfs_chunk_hdr *hdr, const void *data,
		     size_t len);
	void *arg;		/* passed to both */
	struct wfs_pool *pool;	/* where the calls run in parallel */
};

/* Check a chunk read back against the stripe it should belong to: ids,
 * version, index, kind and geometry in @h match @s and @index, @len equals
 * h->data_length (EC: the chunk size; replica: at least s->length) and the
 * data's CRC32C matches.  Returns 0 or -EBADMSG.  Any thread. */
int wfs_stripe_check_chunk(const struct wfs_lstripe *s, unsigned index,
			   const struct wfs_chunk_hdr *h, const void *data,
			   size_t len);

/* Read data of committed stripe @s of file @ino.  EC: for each bit j of
 * @want (j < k), data chunk j goes to out[j], chunk_size bytes.  Replica:
 * @want must be 1 and out[0] (room for @cap >= s->length bytes) gets the
 * stripe's data.  Chunks marked missing are not asked for; a chunk that
 * fails is replaced by another replica or rebuilt with @ec (k and m of @s).
 * Damage is logged at warn.  Returns 0, -EIO when too many chunks are lost
 * or unreadable, -ENOMEM, or -EINVAL for a stripe this code cannot read. */
int wfs_stripe_read(const struct wfs_chunk_io *io, struct wfs_ec *ec,
		    uint64_t ino, const struct wfs_lstripe *s, uint32_t want,
		    unsigned char *const *out, size_t cap);

/* Write stripe @s of file @ino: its placement (stripe_id, the new version,
 * kind, k, m, chunk_size, length, one location per chunk) and @data.  EC:
 * @data holds k * chunk_size bytes (s->length of file data, zero-padded),
 * encoded here with @ec; replica: @data holds s->length bytes.  Every chunk
 * is written in parallel; those that fail are marked WFS_CHUNK_MISSING in
 * @s, and their disk ids updated from the nodes' answers.  Returns 0 when
 * the write quorum was reached; else -ENOSPC or -EINVAL when every failure
 * was that (no room; the nodes refused the chunks), otherwise -EIO; or
 * -ENOMEM. */
int wfs_stripe_write(const struct wfs_chunk_io *io, struct wfs_ec *ec,
		     uint64_t ino, struct wfs_lstripe *s,
		     const unsigned char *data);

#endif
