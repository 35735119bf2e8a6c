/* storaged/chunk_service: the Chunk service of the API, served by the node
 * that holds the disks (any node, leader or not).
 *
 *   Write  checks the ChunkHeader (kind, k and m within the codec's
 *          limits, index within the stripe, chunk size a power of two in
 *          4 KiB..64 MiB, data length equal to data_length and at most the
 *          chunk size, ids non-zero: else -EINVAL; the CRC-32C of the data
 *          equal to data_crc32c: else -EBADMSG), then writes the chunk
 *          durably (the chunk store fsyncs before this returns) to the disk
 *          the request names, or, if that disk is offline, full, unknown
 *          here or already holds a chunk of the stripe, to another online
 *          disk of this node that holds none (replying with the disk used).
 *   Read   returns the chunk's header and the byte range asked for, after
 *          the store checked the header and data CRCs (-EBADMSG if the
 *          chunk is damaged, -ENOENT if this node does not hold it, -EIO if
 *          its disk is offline).  A range larger than a message may carry
 *          is refused with -EMSGSIZE.
 */
#ifndef WFS_STORAGED_CHUNK_SERVICE_H
#define WFS_STORAGED_CHUNK_SERVICE_H

#include "chunk/format.h"
#include "proto/wormfs.pb-c.h"

struct wfs_node;
struct wfs_rpc_server;

/* Chunk @key of this node's store, checked as Read checks it, as a whole
 * ChunkReadReply: @rr's header is @wh, its data is *@buf, which the caller
 * frees (wfs_free) once @rr is packed.  Returns 0 or Read's errors.  Any
 * thread; blocks on disk I/O. */
int wfs_chunksvc_read_reply(struct wfs_node *n,
			    const struct wfs_chunk_key *key,
			    Wormfs__ChunkReadReply *rr, Wormfs__ChunkHeader *wh,
			    void **buf);

/* Route Chunk.Write and Chunk.Read on @s to node @n (borrowed until the
 * server is freed).  Returns 0 or the error of wfs_rpc_server_handle.
 * Owner thread, before the server starts. */
int wfs_chunksvc_register(struct wfs_node *n, struct wfs_rpc_server *s);

#endif
