/* client/chunkio: the chunk calls of stripe.c over rpc/: Chunk.Read and
 * Chunk.Write to the node that holds (or is to hold) each chunk.  The data
 * is checked by stripe.c (CRC32C end to end), not here; this file only
 * moves bytes and headers between the proto and struct wfs_chunk_hdr.
 *
 * It also keeps the small-file copies a GetLayout brought (first copies,
 * client_internal.h): a read of such a chunk takes its copy, checked as
 * stripe.c checks what a node sends, instead of calling the node.
 */
#include "client/client_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "log/log.h"
#include "mem/mem.h"

static void hdr_from_pb(struct wfs_chunk_hdr *h, const Wormfs__ChunkHeader *pb)
{
	h->stripe_id = pb->stripe_id;
	h->version = pb->version;
	h->ino = pb->ino;
	h->sidx = pb->sidx;
	h->index = pb->index;
	h->kind = pb->kind;
	h->k = pb->k;
	h->m = pb->m;
	h->chunk_size = pb->chunk_size;
	h->data_length = pb->data_length;
	h->stripe_length = pb->stripe_length;
	h->data_crc32c = pb->data_crc32c;
}

static void hdr_to_pb(Wormfs__ChunkHeader *pb, const struct wfs_chunk_hdr *h)
{
	pb->stripe_id = h->stripe_id;
	pb->version = h->version;
	pb->ino = h->ino;
	pb->sidx = h->sidx;
	pb->index = h->index;
	pb->kind = h->kind;
	pb->k = h->k;
	pb->m = h->m;
	pb->chunk_size = h->chunk_size;
	pb->data_length = h->data_length;
	pb->stripe_length = h->stripe_length;
	pb->data_crc32c = h->data_crc32c;
}

/* ---- first copies (Stripe.first_copy) ---- */

void wfs_first_copy_keep(struct wfs_client *c, const Wormfs__Stripe *pb)
{
	const Wormfs__ChunkReadReply *fc = pb->first_copy;
	struct wfs_first_copy *slot;
	void *data;

	if (!fc || !fc->header || !fc->data.data || fc->data.len == 0 ||
	    fc->data.len > WFS_FIRST_COPY_MAX)
		return;
	data = wfs_memdup(fc->data.data, fc->data.len);
	if (!data)
		return;		/* the read will simply ask the node */
	pthread_mutex_lock(&c->copies_lock);
	slot = &c->copies[c->copies_next];
	c->copies_next = (c->copies_next + 1) % WFS_FIRST_COPIES;
	wfs_free(slot->data);
	slot->stripe_id = pb->stripe_id;
	slot->version = pb->version;
	slot->index = fc->header->index;
	hdr_from_pb(&slot->hdr, fc->header);
	slot->data = data;
	slot->len = fc->data.len;
	pthread_mutex_unlock(&c->copies_lock);
}

/* Take the kept copy of chunk @c of @s, if there is one, into @buf.
 * Returns 0 (taken; it passed wfs_stripe_check_chunk) or -ENOENT (none
 * kept, or the one kept was dropped: longer than @cap, or failing the
 * check, which is logged). */
static int first_copy_take(struct wfs_client *cl, const struct wfs_lstripe *s,
			   const struct wfs_lchunk *c,
			   struct wfs_chunk_hdr *hdr, void *buf, size_t cap,
			   size_t *len)
{
	int rc = -ENOENT;

	/* Copies are only ever of replica stripes. */
	if (s->kind != WFS_KIND_REPLICA)
		return -ENOENT;
	pthread_mutex_lock(&cl->copies_lock);
	for (unsigned i = 0; i < WFS_FIRST_COPIES; i++) {
		struct wfs_first_copy *k = &cl->copies[i];

		if (!k->data || k->stripe_id != s->stripe_id ||
		    k->version != s->version || k->index != c->index)
			continue;
		if (k->len <= cap &&
		    wfs_stripe_check_chunk(s, c->index, &k->hdr, k->data,
					   k->len) == 0) {
			memcpy(buf, k->data, k->len);
			*hdr = k->hdr;
			*len = k->len;
			rc = 0;
		} else {
			wfs_log_warn("client", "stripe %" PRIx64 " v%" PRIu64
				     " chunk %u: the copy that came with the "
				     "layout is unfit (%zu bytes); reading it "
				     "from its node", s->stripe_id,
				     s->version, c->index, k->len);
		}
		wfs_free(k->data);
		k->data = NULL;
		break;
	}
	pthread_mutex_unlock(&cl->copies_lock);
	return rc;
}

void wfs_first_copies_release(struct wfs_client *c)
{
	for (unsigned i = 0; i < WFS_FIRST_COPIES; i++) {
		wfs_free(c->copies[i].data);
		c->copies[i].data = NULL;
	}
}

/* ---- the chunk calls ---- */

static int chunk_read(void *arg, uint64_t ino, const struct wfs_lstripe *s,
		      const struct wfs_lchunk *c, struct wfs_chunk_hdr *hdr,
		      void *buf, size_t cap, size_t *len)
{
	struct wfs_client *cl = arg;
	Wormfs__ChunkReadRequest req = WORMFS__CHUNK_READ_REQUEST__INIT;
	Wormfs__ChunkReadReply *r = NULL;
	int rc;

	(void)ino;
	if (first_copy_take(cl, s, c, hdr, buf, cap, len) == 0)
		return 0;
	req.stripe_id = s->stripe_id;
	req.version = s->version;
	req.index = c->index;
	req.disk_id.data = (uint8_t *)c->disk;
	req.disk_id.len = c->disk_len;
	rc = wfs_rpc_call_msg(c->node->rpc, WFS_M_CHUNK("Read"), &req.base,
			      &wormfs__chunk_read_reply__descriptor,
			      cl->opts.call_ms, (ProtobufCMessage **)&r);
	if (rc)
		return rc;
	if (!r->header) {
		rc = -EPROTO;
	} else if (r->data.len > cap) {
		rc = -EMSGSIZE;
	} else {
		hdr_from_pb(hdr, r->header);
		if (r->data.len)
			memcpy(buf, r->data.data, r->data.len);
		*len = r->data.len;
	}
	wfs_rpc_msg_free(&r->base);
	return rc;
}

static int chunk_write(void *arg, struct wfs_lchunk *c,
		       const struct wfs_chunk_hdr *hdr, const void *data,
		       size_t len)
{
	struct wfs_client *cl = arg;
	Wormfs__ChunkWriteRequest req = WORMFS__CHUNK_WRITE_REQUEST__INIT;
	Wormfs__ChunkHeader pbh = WORMFS__CHUNK_HEADER__INIT;
	Wormfs__ChunkWriteReply *r = NULL;
	int rc;

	hdr_to_pb(&pbh, hdr);
	req.header = &pbh;
	req.disk_id.data = c->disk;
	req.disk_id.len = c->disk_len;
	req.data.data = (uint8_t *)data;
	req.data.len = len;
	rc = wfs_rpc_call_msg(c->node->rpc, WFS_M_CHUNK("Write"), &req.base,
			      &wormfs__chunk_write_reply__descriptor,
			      cl->opts.call_ms, (ProtobufCMessage **)&r);
	if (rc)
		return rc;
	if (r->disk_id.len && r->disk_id.len <= WFS_ID_MAX) {
		memcpy(c->disk, r->disk_id.data, r->disk_id.len);
		c->disk_len = (uint8_t)r->disk_id.len;
	}
	wfs_rpc_msg_free(&r->base);
	return 0;
}

void wfs_chunkio_init(struct wfs_client *c, struct wfs_chunk_io *io)
{
	io->read = chunk_read;
	io->write = chunk_write;
	io->arg = c;
	io->pool = c->io_pool;
}
