/* storaged/chunk_service: Chunk.Write and Chunk.Read (see
 * chunk_service.h).
 *
 * The wire header (ChunkHeader) and the on-disk header (chunk/format.h)
 * carry the same facts in different shapes: the on-disk one records where
 * the stripe sits in the file (stripe_offset = sidx * k * chunk_size), the
 * wire one the chunk size.  Write converts one way; Read converts back,
 * recovering the chunk size from the offset, which is not possible for the
 * first stripe of a file (offset 0): there Read reports chunk_size 0, and
 * the client takes it from the stripe's layout.
 */
#include "storaged/chunk_service.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "chunk/format.h"
#include "erasure/codec.h"
#include "erasure/crc32c.h"
#include "log/log.h"
#include "mem/mem.h"
#include "storaged/node_internal.h"
#include "storaged/service_internal.h"

#define SUB "chunks"
#define CHUNK_SIZE_MIN 4096u
#define CHUNK_SIZE_MAX (64u << 20)
/* Room a read reply needs beside its data. */
#define READ_OVERHEAD 4096u

/* Check a wire header for @data_len bytes of data and convert it. */
static int header_from_wire(const Wormfs__ChunkHeader *h, size_t data_len,
			    struct wfs_chunk_header *out)
{
	bool ec = h->kind == WORMFS__STRIPE_KIND__STRIPE_EC;
	uint64_t span;

	if (!ec && h->kind != WORMFS__STRIPE_KIND__STRIPE_REPLICA)
		return -EINVAL;
	if (h->k < 1 || h->k > WFS_EC_MAX_K || h->m < 1 ||
	    h->m > WFS_EC_MAX_M)
		return -EINVAL;
	if (ec ? h->index >= h->k + h->m : h->index > h->m)
		return -EINVAL;
	if (h->chunk_size < CHUNK_SIZE_MIN || h->chunk_size > CHUNK_SIZE_MAX ||
	    (h->chunk_size & (h->chunk_size - 1)))
		return -EINVAL;
	/* An EC chunk holds at most one chunk_size; a replica holds a whole
	 * (short) stripe: a tail of up to k x chunk_size bytes. */
	span = (uint64_t)h->k * h->chunk_size;
	if (h->data_length != data_len ||
	    h->data_length > (ec ? h->chunk_size : span))
		return -EINVAL;
	if (h->stripe_id == 0 || h->version == 0)
		return -EINVAL;
	if (h->sidx > (UINT64_MAX - span) / span)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->kind = ec ? WFS_CHUNK_EC : WFS_CHUNK_REPLICA;
	out->chunk_id = wfs_chunk_id(h->stripe_id, h->index);
	out->stripe_id = h->stripe_id;
	out->stripe_version = h->version;
	out->file_id = h->ino;
	out->stripe_index = h->sidx;
	out->chunk_index = h->index;
	out->k = h->k;
	out->m = h->m;
	out->data_len = h->data_length;
	out->stripe_offset = h->sidx * span;
	out->stripe_data_len = h->stripe_length;
	out->data_crc = h->data_crc32c;
	return wfs_chunk_header_check(out);
}

static void header_to_wire(const struct wfs_chunk_header *h,
			   Wormfs__ChunkHeader *out)
{
	wormfs__chunk_header__init(out);
	out->stripe_id = h->stripe_id;
	out->version = h->stripe_version;
	out->ino = h->file_id;
	out->sidx = h->stripe_index;
	out->index = h->chunk_index;
	out->kind = h->kind == WFS_CHUNK_EC
			    ? WORMFS__STRIPE_KIND__STRIPE_EC
			    : WORMFS__STRIPE_KIND__STRIPE_REPLICA;
	out->k = h->k;
	out->m = h->m;
	if (h->stripe_index && h->k)
		out->chunk_size = (uint32_t)(h->stripe_offset /
					     (h->stripe_index * h->k));
	out->data_length = h->data_len;
	out->stripe_length = (uint32_t)h->stripe_data_len;
	out->data_crc32c = h->data_crc;
}

/* Write to the named disk if it can take the chunk, else to another. */
static int store_chunk(struct wfs_node *n, const ProtobufCBinaryData *disk_id,
		       const struct wfs_chunk_header *hdr, const void *data,
		       unsigned *used)
{
	char id[WFS_DISK_ID_LEN + 1];
	unsigned disk;
	int rc = -ENOENT;

	if (disk_id->len && disk_id->len <= WFS_DISK_ID_LEN) {
		memcpy(id, disk_id->data, disk_id->len);
		id[disk_id->len] = 0;
		rc = wfs_store_disk_find(n->store, id, &disk);
	}
	if (rc == 0) {
		rc = wfs_store_write_to(n->store, disk, hdr, data, 0);
		*used = disk;
	}
	/* Offline or failing, full, or holding a chunk of this stripe
	 * already: the store picks another disk that fits. */
	if (rc == -ENOENT || rc == -EIO || rc == -ENOSPC || rc == -EEXIST ||
	    rc == -EROFS) {
		rc = wfs_store_write(n->store, hdr, data, used);
		if (rc == 0 && disk_id->len)
			wfs_log_debug(SUB, "chunk %" PRIx64 "/%u: written to "
				      "disk %u instead of %.*s",
				      hdr->stripe_id, hdr->chunk_index, *used,
				      (int)disk_id->len,
				      (const char *)disk_id->data);
	}
	return rc;
}

static int write_serve(struct wfs_node *n, const Wormfs__ChunkWriteRequest *r,
		       struct wfs_rpc_reply *reply)
{
	Wormfs__ChunkWriteReply wr = WORMFS__CHUNK_WRITE_REPLY__INIT;
	struct wfs_store_disk_info info;
	struct wfs_chunk_header hdr;
	unsigned used = 0;
	int rc;

	if (!r->header)
		return -EINVAL;
	rc = header_from_wire(r->header, r->data.len, &hdr);
	if (rc)
		return rc;
	if (wfs_crc32c(0, r->data.data, r->data.len) != hdr.data_crc)
		return -EBADMSG;
	rc = store_chunk(n, &r->disk_id, &hdr, r->data.data, &used);
	if (rc == 0)
		rc = wfs_store_disk_info(n->store, used, &info);
	if (rc)
		return rc;
	wr.disk_id.data = (uint8_t *)info.id;
	wr.disk_id.len = strlen(info.id);
	return wfs_rpc_reply_set_msg(reply, &wr.base);
}

static int h_write(void *arg, const void *req, size_t len,
		   struct wfs_rpc_reply *reply)
{
	Wormfs__ChunkWriteRequest *r;
	int rc;

	rc = wfs_svc_unpack(&wormfs__chunk_write_request__descriptor, req, len,
			    &r);
	if (rc)
		return rc;
	rc = write_serve(arg, r, reply);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

/* Read the whole chunk @key into a new buffer (*buf, wfs_free). */
static int read_whole(struct wfs_node *n, const struct wfs_chunk_key *key,
		      struct wfs_chunk_header *hdr, void **buf)
{
	struct wfs_store_chunk sc;
	size_t cap;
	int rc;

	rc = wfs_store_stat(n->store, key, &sc);
	if (rc)
		return rc;
	cap = sc.data_len;
	/* Twice at most: the chunk may be rewritten between stat and
	 * read, with another length. */
	for (int tries = 0; tries < 2; tries++) {
		*buf = wfs_malloc(cap ? cap : 1);
		if (!*buf)
			return -ENOMEM;
		rc = wfs_store_read(n->store, key, hdr, *buf, cap);
		if (rc != -EOVERFLOW)
			break;
		wfs_free(*buf);
		*buf = NULL;
		cap = hdr->data_len;
	}
	if (rc) {
		wfs_free(*buf);
		*buf = NULL;
	}
	return rc;
}

int wfs_chunksvc_read_reply(struct wfs_node *n,
			    const struct wfs_chunk_key *key,
			    Wormfs__ChunkReadReply *rr, Wormfs__ChunkHeader *wh,
			    void **buf)
{
	struct wfs_chunk_header hdr;
	int rc = read_whole(n, key, &hdr, buf);

	if (rc)
		return rc;
	wormfs__chunk_read_reply__init(rr);
	header_to_wire(&hdr, wh);
	rr->header = wh;
	rr->data.data = *buf;
	rr->data.len = hdr.data_len;
	return 0;
}

static int read_serve(struct wfs_node *n, const Wormfs__ChunkReadRequest *r,
		      struct wfs_rpc_reply *reply)
{
	Wormfs__ChunkReadReply rr;
	struct wfs_chunk_key key = { r->stripe_id, r->version, r->index };
	Wormfs__ChunkHeader wh;
	void *buf = NULL;
	int rc;

	if (r->length > WFS_RPC_MAX_MESSAGE - READ_OVERHEAD)
		return -EMSGSIZE;
	if (r->stripe_id == 0 || r->version == 0 || r->index > 254)
		return -EINVAL;
	rc = wfs_chunksvc_read_reply(n, &key, &rr, &wh, &buf);
	if (rc)
		return rc;
	if (r->offset > rr.data.len) {
		rc = -EINVAL;
		goto out_free;
	}
	rr.data.data += r->offset;
	rr.data.len -= r->offset;
	if (r->length && r->length < rr.data.len)
		rr.data.len = r->length;
	rc = wfs_rpc_reply_set_msg(reply, &rr.base);
out_free:
	wfs_free(buf);
	return rc;
}

static int h_read(void *arg, const void *req, size_t len,
		  struct wfs_rpc_reply *reply)
{
	Wormfs__ChunkReadRequest *r;
	int rc;

	rc = wfs_svc_unpack(&wormfs__chunk_read_request__descriptor, req, len,
			    &r);
	if (rc)
		return rc;
	rc = read_serve(arg, r, reply);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

int wfs_chunksvc_register(struct wfs_node *n, struct wfs_rpc_server *s)
{
	int rc;

	rc = wfs_rpc_server_handle(s, "/wormfs.Chunk/Write", h_write, n);
	if (rc == 0)
		rc = wfs_rpc_server_handle(s, "/wormfs.Chunk/Read", h_read, n);
	return rc;
}
