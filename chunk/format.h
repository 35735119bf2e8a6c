/* chunk/format: the header at the front of every chunk file.
 *
 * A chunk is one of the k+m pieces of a stripe (or one of the m+1 copies of
 * a replicated stripe), stored as one file: a fixed-size header, then the
 * chunk's data.  The header names the chunk (ids, indexes, coding
 * parameters, where its stripe sits in the file) and protects itself and the
 * data with CRC-32C, so a chunk file read on its own says what it is and
 * whether it is intact.  The byte layout and its version rule are in
 * format.c.
 *
 * This module only encodes, decodes and checks headers; it does no I/O (the
 * chunk store, storaged/chunkstore.h, keeps the files).
 */
#ifndef WFS_CHUNK_FORMAT_H
#define WFS_CHUNK_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* The format version this code writes; it reads every version up to it. */
#define WFS_CHUNK_FORMAT_VERSION 1

/* Bytes in an encoded header of the current version; the data follows. */
#define WFS_CHUNK_HEADER_SIZE 80

/* Bytes a decoder needs before it can tell anything (magic, version,
 * header length). */
#define WFS_CHUNK_HEADER_PREFIX 8

/* How a stripe's data is kept; the same values as the metadata's
 * enum wfs_meta_stripe_kind. */
enum wfs_chunk_kind {
	WFS_CHUNK_EC = 1,	/* one of k data + m parity chunks */
	WFS_CHUNK_REPLICA = 2,	/* one of m + 1 full copies of the data */
};

/* The decoded header: a plain value, built by the writer and filled by
 * wfs_chunk_header_decode().  The on-disk field widths are in format.c;
 * k, m and chunk_index are one byte there. */
struct wfs_chunk_header {
	uint32_t version;	/* format version read; encode always writes
				 * WFS_CHUNK_FORMAT_VERSION and ignores this */
	uint32_t kind;		/* enum wfs_chunk_kind */
	uint64_t chunk_id;	/* set by the writer; by convention
				 * wfs_chunk_id(stripe_id, chunk_index) */
	uint64_t stripe_id;	/* the stripe this chunk belongs to */
	uint64_t stripe_version; /* that stripe's version (1, 2, ...) */
	uint64_t file_id;	/* inode number of the file */
	uint64_t stripe_index;	/* which stripe of the file (0, 1, ...) */
	uint32_t chunk_index;	/* 0..k+m-1 (EC: data first, then parity) or
				 * 0..m (replica); at most 255 */
	uint32_t k;		/* data chunks of the stripe, 1..255 */
	uint32_t m;		/* parity chunks (EC) or extra copies (replica) */
	uint32_t data_len;	/* bytes of data after the header */
	uint64_t stripe_offset;	/* byte offset in the file of the stripe */
	uint64_t stripe_data_len; /* bytes of file data in the whole stripe:
				   * what is left once padding is trimmed */
	uint32_t data_crc;	/* CRC-32C of the data_len data bytes */
};

/* Which chunk: the identity under which a node stores it.  A node holds at
 * most one copy of each key. */
struct wfs_chunk_key {
	uint64_t stripe_id;
	uint64_t version;	/* stripe version */
	uint32_t index;		/* chunk index in the stripe, 0..254 */
};

/* The key of the chunk @hdr describes. */
static inline struct wfs_chunk_key
wfs_chunk_header_key(const struct wfs_chunk_header *hdr)
{
	struct wfs_chunk_key key = { hdr->stripe_id, hdr->stripe_version,
				     hdr->chunk_index };

	return key;
}

/* The conventional chunk id: stripe id in the high 56 bits, chunk index in
 * the low 8.  Unique as long as stripe ids stay below 2^56. */
static inline uint64_t wfs_chunk_id(uint64_t stripe_id, uint32_t chunk_index)
{
	return stripe_id << 8 | (chunk_index & 0xff);
}

/* Check that @hdr describes a possible chunk: known kind, k >= 1,
 * k + m <= 255, chunk_index within the stripe (< k + m for EC, <= m for a
 * replica), stripe_data_len within what the stripe can hold (k * data_len
 * for EC, data_len for a replica) and stripe_offset + stripe_data_len not
 * overflowing.  Returns 0 or -EINVAL.  Any thread. */
int wfs_chunk_header_check(const struct wfs_chunk_header *hdr);

/* Encode @hdr into the WFS_CHUNK_HEADER_SIZE bytes at @buf, with the current
 * version, the header length and the header CRC.  @hdr should pass
 * wfs_chunk_header_check(); encode does not check it (the fields are written
 * truncated to their on-disk widths).  Any thread; never allocates. */
void wfs_chunk_header_encode(const struct wfs_chunk_header *hdr,
			     uint8_t buf[WFS_CHUNK_HEADER_SIZE]);

/* Decode the header at the start of the @len bytes at @buf into *out.
 * Returns 0; -EBADMSG if the bytes are not a valid header (too short for the
 * length they claim, wrong magic, header CRC mismatch, a header length or
 * version that cannot be, or fields that fail wfs_chunk_header_check);
 * -EPROTONOSUPPORT if it is an intact header of a newer format version than
 * this code knows (the chunk was written by newer software: not corrupt,
 * but unreadable here).  *out is written only on success.  The header's
 * size on disk is out->version's size: WFS_CHUNK_HEADER_SIZE for version 1.
 * Any thread; never allocates. */
int wfs_chunk_header_decode(const uint8_t *buf, size_t len,
			    struct wfs_chunk_header *out);

/* Set @hdr->data_len to @len and @hdr->data_crc to the CRC-32C of the @len
 * bytes at @data (NULL allowed when @len is 0).  Returns 0, or -EFBIG if
 * @len does not fit the 32-bit length field.  Any thread. */
int wfs_chunk_header_set_data(struct wfs_chunk_header *hdr, const void *data,
			      size_t len);

/* Check @len bytes at @data against the length and CRC in @hdr.  Returns 0,
 * or -EBADMSG if the length differs or the CRC does not match.  Any
 * thread. */
int wfs_chunk_verify(const struct wfs_chunk_header *hdr, const void *data,
		     size_t len);

#endif
