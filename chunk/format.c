/* chunk/format: encode, decode and check chunk headers.
 *
 * A chunk file is a header followed by data_len bytes of data.  Every
 * integer is little-endian; offsets and sizes are in bytes.  Version 1, 80
 * bytes:
 *
 *   off size field
 *     0   4  magic: the four bytes 'W' 'F' 'S' 'C' (57 46 53 43)
 *     4   2  format version (1)
 *     6   2  header length (80): the data starts at this offset
 *     8   1  kind: 1 EC, 2 replica
 *     9   1  chunk index in the stripe
 *    10   1  k: data chunks of the stripe
 *    11   1  m: parity chunks (EC) or extra copies (replica)
 *    12   4  data length
 *    16   8  chunk id (by convention stripe id << 8 | chunk index)
 *    24   8  stripe id
 *    32   8  stripe version
 *    40   8  file id (inode number)
 *    48   8  stripe index in the file
 *    56   8  byte offset in the file of the stripe
 *    64   8  stripe data length: bytes of file data in the whole stripe
 *    72   4  CRC-32C of the data length data bytes
 *    76   4  CRC-32C of header bytes 0..75
 *
 * Version rule.  In every version, bytes 0..7 keep their meaning (magic,
 * version, header length) and the last four bytes of the header are the
 * CRC-32C of all header bytes before them.  So any reader can tell an intact
 * header from a damaged one, whatever its version.  Any change to the layout
 * (a new field, a wider one, a new meaning) bumps the version and may grow
 * the header length; each version has exactly one header length.  A reader
 * decodes every version up to its own and refuses an intact header of a
 * newer version with -EPROTONOSUPPORT: such a chunk is not corrupt, it needs
 * newer software.  A damaged one (bad magic, CRC, length) is -EBADMSG.
 *
 * CRC-32C is erasure/crc32c.h's: standard Castagnoli, init and final xor
 * 0xFFFFFFFF.
 */
#include "chunk/format.h"

#include <errno.h>

#include "erasure/crc32c.h"

/* Header lengths a decoder will consider at all, whatever the version: room
 * for the fixed prefix and the CRC, and a sane upper bound so a damaged
 * length field cannot make us checksum megabytes. */
#define HEADER_LEN_MIN (WFS_CHUNK_HEADER_PREFIX + 4)
#define HEADER_LEN_MAX 4096

static const uint8_t magic[4] = { 'W', 'F', 'S', 'C' };

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

int wfs_chunk_header_check(const struct wfs_chunk_header *hdr)
{
	uint64_t room;

	if (hdr->kind != WFS_CHUNK_EC && hdr->kind != WFS_CHUNK_REPLICA)
		return -EINVAL;
	if (hdr->k < 1 || hdr->k > 255 || hdr->m > 255 || hdr->k + hdr->m > 255)
		return -EINVAL;
	if (hdr->kind == WFS_CHUNK_EC) {
		if (hdr->chunk_index >= hdr->k + hdr->m)
			return -EINVAL;
		room = (uint64_t)hdr->k * hdr->data_len;
	} else {
		if (hdr->chunk_index > hdr->m)
			return -EINVAL;
		room = hdr->data_len;
	}
	if (hdr->stripe_data_len > room)
		return -EINVAL;
	if (hdr->stripe_offset + hdr->stripe_data_len < hdr->stripe_offset)
		return -EINVAL;
	return 0;
}

void wfs_chunk_header_encode(const struct wfs_chunk_header *hdr,
			     uint8_t buf[WFS_CHUNK_HEADER_SIZE])
{
	buf[0] = magic[0];
	buf[1] = magic[1];
	buf[2] = magic[2];
	buf[3] = magic[3];
	put16(buf + 4, WFS_CHUNK_FORMAT_VERSION);
	put16(buf + 6, WFS_CHUNK_HEADER_SIZE);
	buf[8] = (uint8_t)hdr->kind;
	buf[9] = (uint8_t)hdr->chunk_index;
	buf[10] = (uint8_t)hdr->k;
	buf[11] = (uint8_t)hdr->m;
	put32(buf + 12, hdr->data_len);
	put64(buf + 16, hdr->chunk_id);
	put64(buf + 24, hdr->stripe_id);
	put64(buf + 32, hdr->stripe_version);
	put64(buf + 40, hdr->file_id);
	put64(buf + 48, hdr->stripe_index);
	put64(buf + 56, hdr->stripe_offset);
	put64(buf + 64, hdr->stripe_data_len);
	put32(buf + 72, hdr->data_crc);
	put32(buf + 76, wfs_crc32c(0, buf, WFS_CHUNK_HEADER_SIZE - 4));
}

/* Fields of a version 1 header whose length and CRC have been checked. */
static void decode_v1(const uint8_t *buf, struct wfs_chunk_header *h)
{
	h->version = 1;
	h->kind = buf[8];
	h->chunk_index = buf[9];
	h->k = buf[10];
	h->m = buf[11];
	h->data_len = get32(buf + 12);
	h->chunk_id = get64(buf + 16);
	h->stripe_id = get64(buf + 24);
	h->stripe_version = get64(buf + 32);
	h->file_id = get64(buf + 40);
	h->stripe_index = get64(buf + 48);
	h->stripe_offset = get64(buf + 56);
	h->stripe_data_len = get64(buf + 64);
	h->data_crc = get32(buf + 72);
}

int wfs_chunk_header_decode(const uint8_t *buf, size_t len,
			    struct wfs_chunk_header *out)
{
	struct wfs_chunk_header h;
	unsigned version, hlen;

	if (len < WFS_CHUNK_HEADER_PREFIX)
		return -EBADMSG;
	if (buf[0] != magic[0] || buf[1] != magic[1] || buf[2] != magic[2] ||
	    buf[3] != magic[3])
		return -EBADMSG;
	version = get16(buf + 4);
	hlen = get16(buf + 6);
	if (hlen < HEADER_LEN_MIN || hlen > HEADER_LEN_MAX || len < hlen)
		return -EBADMSG;
	if (wfs_crc32c(0, buf, hlen - 4) != get32(buf + hlen - 4))
		return -EBADMSG;
	if (version == 0)
		return -EBADMSG;
	if (version > WFS_CHUNK_FORMAT_VERSION)
		return -EPROTONOSUPPORT;
	if (hlen != WFS_CHUNK_HEADER_SIZE)
		return -EBADMSG;
	decode_v1(buf, &h);
	if (wfs_chunk_header_check(&h) != 0)
		return -EBADMSG;
	*out = h;
	return 0;
}

int wfs_chunk_header_set_data(struct wfs_chunk_header *hdr, const void *data,
			      size_t len)
{
	if (len > UINT32_MAX)
		return -EFBIG;
	hdr->data_len = (uint32_t)len;
	hdr->data_crc = wfs_crc32c(0, data, len);
	return 0;
}

int wfs_chunk_verify(const struct wfs_chunk_header *hdr, const void *data,
		     size_t len)
{
	if (len != hdr->data_len)
		return -EBADMSG;
	if (wfs_crc32c(0, data, len) != hdr->data_crc)
		return -EBADMSG;
	return 0;
}
