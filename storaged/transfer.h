/* storaged/transfer: chunk transfers between nodes, over the node transport.
 *
 * One object per node plays both parts over the node's wfs_net (channel
 * WFS_NET_TYPE_CHUNK), so every byte is authenticated and encrypted by the
 * link and only admitted nodes take part:
 *   - server: it answers peers' READ, WRITE (or WRITE_TO: onto a given
 *     disk) and STAT requests from this node's chunk store, on a small
 *     pool of worker threads (disk I/O never runs on the net thread);
 *   - client: blocking calls, from any thread but the net thread (repair,
 *     drain), that read, write and stat chunks on a peer, and a bulk move
 *     that copies local chunks to a peer and deletes them here once the
 *     peer confirmed each.  (Draining a disk does not use the bulk move:
 *     a chunk the metadata names may only go to garbage once the metadata
 *     names its new place, so storaged/drain writes each chunk with
 *     wfs_transfer_write_to and leaves the old copy to the collector.)
 * The wire format and its version rule are described in transfer.c.
 *
 * It is not a placement or repair policy: callers say which chunk goes
 * where.
 *
 * Wiring.  The owner creates the net and its callbacks, so this module
 * cannot set them: the owner's on_msg must call wfs_transfer_on_msg() for
 * every message of type WFS_NET_TYPE_CHUNK, and its on_close must call
 * wfs_transfer_on_close() for every link (the client learns that way that
 * a link ended and fails the calls waiting on it).  Order of teardown:
 * wfs_net_stop(), then wfs_transfer_free(), then wfs_net_free().
 *
 * Links.  The client keeps one link per peer key, opened on first use with
 * wfs_net_open() expecting that key, and opens a new one on the next call
 * after it closed.  Requests carry an id; replies match by id on that link.
 *
 * Errors of the client calls (negative errno): the peer's answer (-ENOENT,
 * -EBADMSG, -ENOSPC, -EIO, ...), -ETIMEDOUT when no answer came in time,
 * the reason the link closed (net/link.h: -ECONNRESET, -ECONNREFUSED,
 * -EACCES when the peer did not prove the expected key, -ECANCELED when the
 * net stopped, -ECONNABORTED when this side closed it), -EPROTO when the
 * peer's reply broke the protocol (the link is then closed), -ESHUTDOWN,
 * -ENOMEM.  A peer that is busy (-EAGAIN) is asked again, with a growing
 * pause, until the call's timeout.
 */
#ifndef WFS_STORAGED_TRANSFER_H
#define WFS_STORAGED_TRANSFER_H

#include <stddef.h>
#include <stdint.h>

#include "chunk/format.h"

struct wfs_net;
struct wfs_store;
struct wfs_transfer;

/* Largest chunk (data bytes) either side moves: a replica of the widest
 * policy, 16 data chunks of 64 MiB. */
#define WFS_TRANSFER_DATA_MAX (1u << 30)

/* Tuning; a zero field takes its default.  Passed by pointer to
 * wfs_transfer_new (NULL: all defaults) and copied. */
struct wfs_transfer_options {
	unsigned workers;	/* server threads, 1..8; default 2 */
	unsigned timeout_ms;	/* one client call, and how long the server
				 * keeps a half-received write; 30000 */
	/* Bytes of incoming writes the server holds in memory at once
	 * (received, waiting for a worker, being stored); beyond it new
	 * writes are answered -EAGAIN.  A single chunk larger than the
	 * budget is taken when nothing else is held.  Default 256 MiB. */
	size_t write_budget;
};

/* Called by wfs_transfer_move after each chunk moved: @done of @total
 * chunks, @bytes of chunk data moved so far.  Return 0 to go on, or a
 * negative errno to stop the move with that error.  Runs on the thread
 * that called wfs_transfer_move. */
typedef int (*wfs_transfer_progress_cb)(void *arg, size_t done, size_t total,
					uint64_t bytes);

/* Make the transfer service of a node: @net carries it, @store holds this
 * node's chunks; both are borrowed until wfs_transfer_free and may be
 * used by the workers at once.  The net need not be started yet.  Starts
 * the worker threads.  Returns 0 and *out; -EINVAL for bad options;
 * -ENOMEM; or the errno of pthread_create.  Any thread but the net's. */
int wfs_transfer_new(struct wfs_net *net, struct wfs_store *store,
		     const struct wfs_transfer_options *opts,
		     struct wfs_transfer **out);

/* Join the workers and free everything.  Call it after wfs_net_stop() (no
 * callback may run any more, and client calls then fail with -ECANCELED)
 * and after every client call returned.  NULL is a no-op. */
void wfs_transfer_free(struct wfs_transfer *t);

/* The owner's on_msg, for a message of type WFS_NET_TYPE_CHUNK on @link
 * from @pk (@buf, @len: borrowed for the call).  Requests are queued for
 * the workers, replies complete the waiting call.  A malformed message
 * ends the link (wfs_net_close, one warn line); the rest carries on.
 * Net thread only; never blocks on I/O. */
void wfs_transfer_on_msg(struct wfs_transfer *t, uint64_t link,
			 const uint8_t *pk, const void *buf, size_t len);

/* The owner's on_close for @link (any link; the reason as net/link.h
 * gives it; @pk may be NULL).  Fails the calls waiting on it with
 * @reason, drops what the server held for it.  Net thread only. */
void wfs_transfer_on_close(struct wfs_transfer *t, uint64_t link,
			   const uint8_t *pk, int reason);

/* Read chunk @key from the peer at @addr holding key @pk (32 bytes): its
 * header into *hdr and up to @len bytes of its data from byte @off into
 * @buf (room for @len bytes).  *got is how many were read:
 * min(@len, hdr->data_len - @off).  A read of the whole data is checked
 * against the header's CRC.  Returns 0; -ENOENT if the peer does not hold
 * it; -EINVAL if @off is beyond the data; -EFBIG if the chunk is over
 * WFS_TRANSFER_DATA_MAX; -EBADMSG if the peer's copy is damaged; or as
 * above.  Blocks; any thread but the net's. */
int wfs_transfer_read(struct wfs_transfer *t, const char *addr,
		      const uint8_t *pk, const struct wfs_chunk_key *key,
		      uint64_t off, size_t len, struct wfs_chunk_header *hdr,
		      void *buf, size_t *got);

/* Store the chunk @hdr describes, with the hdr->data_len bytes at @data, on
 * the peer at @addr holding key @pk; the peer checks the data against
 * hdr->data_crc before storing it, and replaces a copy it already holds.
 * Returns 0 once the peer stored it durably; -EINVAL if @hdr fails
 * wfs_chunk_header_check; -EFBIG if over WFS_TRANSFER_DATA_MAX; the
 * peer's -EBADMSG (data or header corrupt), -ENOSPC, -EBUSY (the same
 * chunk is being written there), -EIO; or as above.  Blocks; any thread
 * but the net's. */
int wfs_transfer_write(struct wfs_transfer *t, const char *addr,
		       const uint8_t *pk, const struct wfs_chunk_header *hdr,
		       const void *data);

/* As wfs_transfer_write, onto the peer's disk whose id is @disk_id (a
 * disk id, WFS_DISK_ID_LEN hex digits) and no other, and never over a
 * copy the peer holds already: the peer refuses with -ENOENT (no such
 * disk there), -EIO (offline), -ENOSPC (full), -EALREADY (that disk
 * holds this chunk already), -EEXIST (it holds another chunk of the
 * stripe version, or another of the peer's disks holds this chunk), or -EOPNOTSUPP (a peer that
 * predates this call).  -EINVAL for a @disk_id that is not one.  Blocks;
 * any thread but the net's. */
int wfs_transfer_write_to(struct wfs_transfer *t, const char *addr,
			  const uint8_t *pk, const char *disk_id,
			  const struct wfs_chunk_header *hdr, const void *data);

/* Whether the peer at @addr holding key @pk has chunk @key: 0 and its data
 * length in *data_len, -ENOENT, -EIO (only on an offline disk there), or
 * as above.  Blocks; any thread but the net's. */
int wfs_transfer_stat(struct wfs_transfer *t, const char *addr,
		      const uint8_t *pk, const struct wfs_chunk_key *key,
		      uint32_t *data_len);

/* Move the @n local chunks @keys to the peer at @addr holding key @pk, in
 * order: for each, read it from the local store, write it to the peer,
 * stat it there to confirm the peer holds it with the same length, and
 * only then delete the local copy; @progress (may be NULL; with @arg)
 * follows each chunk.  Stops at the first error and returns it: the
 * chunks before it are moved, the failing one is still here (and may be
 * there too).  A local copy that vanished once the peer confirmed it
 * counts as moved.  Returns 0, -ENOENT if a key is not held here, -EIO
 * if the peer reports another length, a local store error, the
 * callback's error, or as wfs_transfer_write.  Blocks on the network and
 * on local disk I/O: a repair or drain thread. */
int wfs_transfer_move(struct wfs_transfer *t, const char *addr,
		      const uint8_t *pk, const struct wfs_chunk_key *keys,
		      size_t n, wfs_transfer_progress_cb progress, void *arg);

#endif
