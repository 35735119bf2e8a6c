/* storaged/chunkstore: the chunks of one node, kept on its disks.
 *
 * A node has several disks, each a directory named by the config (layout in
 * disk.c).  The store attaches them, keeps an in-memory map of which chunk
 * is on which disk (loaded from the folder indexes, about 30 bytes per
 * chunk), places new chunks, and reads, checks, lists and deletes them.
 * Worker threads call it concurrently; no lock is held across disk I/O
 * except one folder's index lock around that folder's index appends.
 *
 * Rules the store keeps:
 *   - A node holds at most one copy of a chunk (stripe id, version, index)
 *     on its online disks: writing a chunk it already holds replaces it in
 *     place.
 *   - Never two chunks of the same stripe version on one disk.  Chunks of
 *     other versions of the same stripe id do not count (they are garbage
 *     waiting for collection, or the next version being written).
 *   - A disk whose I/O fails (EIO, EROFS, the directory removed or replaced)
 *     goes offline with one warning, "disk <id> (<path>) offline: ...", and
 *     stays offline until the store is opened again; the node carries on
 *     with the others.  Chunks on an offline disk read as -EIO.
 *
 * It is not placement across nodes (placement/), and it keeps no metadata
 * beyond what the chunk files and their headers say.
 */
#ifndef WFS_STORAGED_CHUNKSTORE_H
#define WFS_STORAGED_CHUNKSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "chunk/format.h"
#include "storaged/disk.h"

#define WFS_STORE_DISKS_MAX 256

/* Free space a disk keeps back, beyond the chunk being written, for its
 * indexes and temporary files: a disk with less is full. */
#define WFS_STORE_RESERVE (16ULL << 20)

struct wfs_store;

/* One chunk as the store knows it, from memory (no disk I/O). */
struct wfs_store_chunk {
	struct wfs_chunk_key key;
	uint32_t data_len;	/* bytes of data (0 if its header was damaged
				 * when the store found it) */
	uint32_t disk;		/* which disk: index into the paths at open */
};

/* Where a listing stopped.  Zero it to start; wfs_store_list() moves it.
 * Chunks added or removed between calls may or may not be listed; every
 * chunk present throughout is listed exactly once. */
struct wfs_store_cursor {
	uint32_t disk;		/* disk being listed */
	uint32_t folder;	/* folder of that disk being listed */
	uint32_t has_after;	/* nonzero: @after is the last key returned */
	struct wfs_chunk_key after;
};

/* One disk as the store sees it. */
struct wfs_store_disk_info {
	const char *path;	/* as given to wfs_store_open; borrowed from
				 * the store, valid until wfs_store_close */
	char id[WFS_DISK_ID_LEN + 1];	/* disk id, "" if it was never read */
	int online;		/* 1 online, 0 offline */
	int error;		/* 0, or the negative errno that refused the
				 * disk at open or took it offline */
	uint64_t capacity;	/* file system size in bytes, last measured */
	uint64_t avail;		/* bytes free for new chunks, last measured
				 * less what was written since */
	uint64_t chunks;	/* chunks in its map (offline: as last known) */
	uint64_t bytes;		/* their file bytes, headers included */
};

/* Open the store of node @node_id over the @npaths disk directories at
 * @paths (1..WFS_STORE_DISKS_MAX; the strings are copied).  Each directory
 * is attached (wfs_disk_attach: formatted when blank) and its folder
 * indexes loaded; after an unclean shutdown every folder is reconciled with
 * its directory (disk.c says how).  A directory that is missing, belongs to
 * another node, has a newer or damaged marker, is not blank without a
 * marker, is another path to a disk already open, or fails I/O while
 * loading is kept as an offline disk, with the reason logged and in its
 * wfs_store_disk_info; the store opens as long as one disk is online.
 * On success *out is the store, released with wfs_store_close().
 * Returns 0; -EINVAL for a bad node id or disk count; -ENOMEM; or, when no
 * disk could be brought online, the first disk's error (-ENOENT, -EEXIST,
 * -EPROTONOSUPPORT, -EBADMSG, -ENOTEMPTY, -EBUSY, -EIO, ...).  Blocks on
 * disk I/O; call it before starting workers. */
int wfs_store_open(const char *node_id, const char *const *paths,
		   unsigned npaths, struct wfs_store **out);

/* Close the store: every online disk whose indexes are known complete is
 * flushed and marked clean, so the next open trusts its indexes without a
 * scan.  No other call may be in flight.  NULL is a no-op. */
void wfs_store_close(struct wfs_store *st);

/* Write the chunk @hdr describes, with the hdr->data_len bytes at @data, to
 * a disk the store picks: an online disk that holds no chunk of the same
 * stripe version, has room, and has the largest free space in proportion to
 * its capacity (ties go round).  If the node already holds this chunk on an
 * online disk it is replaced there.  hdr->data_crc must match the data.
 * A disk that fails during the write goes offline and the next best one is
 * tried.  On success *disk (may be NULL) is the disk used.  Returns 0;
 * -EINVAL if @hdr fails wfs_chunk_header_check(); -EBADMSG if the data does
 * not match hdr->data_crc; -ENOSPC if no disk fits (full, offline, or
 * holding a chunk of this stripe version already); -EBUSY if the same chunk
 * is being written or deleted right now; -ENOMEM; or another negative errno
 * from I/O.  Worker threads. */
int wfs_store_write(struct wfs_store *st, const struct wfs_chunk_header *hdr,
		    const void *data, unsigned *disk);

/* How wfs_store_write_to treats a chunk the disk holds already. */
enum wfs_store_write_flags {
	/* Refuse it (-EALREADY) instead of replacing it: for a copy made
	 * onto a disk the metadata does not name yet (a drain's move),
	 * where a file already there is no copy of ours to take over (it
	 * may be garbage its collector is about to delete). */
	WFS_STORE_WRITE_EXCL = 1 << 0,
};

/* Write a chunk as wfs_store_write() does, but to disk @disk, chosen by the
 * caller (repair, placement); @flags: enum wfs_store_write_flags.  Returns
 * 0 or as wfs_store_write(), except that it never tries another disk and
 * returns -EEXIST if @disk holds another chunk of the same stripe version
 * or another online disk holds this chunk, -EALREADY if @disk holds this
 * chunk and @flags has WFS_STORE_WRITE_EXCL, -EIO if @disk is offline (or fails), -ENOSPC if it is full,
 * -EINVAL for a disk out of range.  Worker threads. */
int wfs_store_write_to(struct wfs_store *st, unsigned disk,
		       const struct wfs_chunk_header *hdr, const void *data,
		       unsigned flags);

/* Read chunk @key: its header into *hdr and its data into @buf, which has
 * room for @buflen bytes; both CRCs and the header's identity are checked.
 * Returns 0; -ENOENT if the node does not hold it; -EIO if it is on an
 * offline disk (or its disk fails now); -EBADMSG if the file is damaged;
 * -EPROTONOSUPPORT if it was written in a newer chunk format; -EOVERFLOW
 * if hdr->data_len is larger than @buflen (*hdr is filled).  A chunk file
 * found missing is dropped from the map (-ENOENT).  Worker threads. */
int wfs_store_read(struct wfs_store *st, const struct wfs_chunk_key *key,
		   struct wfs_chunk_header *hdr, void *buf, size_t buflen);

/* Start reading chunk @key into the page cache (wfs_disk_chunk_prefetch),
 * for a read expected soon.  Returns 0, -ENOENT if not held here, or an
 * error opening it (not counted against its disk).  Worker threads. */
int wfs_store_prefetch(struct wfs_store *st, const struct wfs_chunk_key *key);

/* What the store knows of chunk @key, from memory.  Returns 0, -ENOENT if
 * not held, -EIO if held only on an offline disk.  Any thread. */
int wfs_store_stat(struct wfs_store *st, const struct wfs_chunk_key *key,
		   struct wfs_store_chunk *out);

/* Re-read chunk @key from its disk and check everything read checks, with
 * no buffer of the chunk's size.  Returns as wfs_store_read() does (no
 * -EOVERFLOW), or -ENOMEM.  Worker threads (scrub). */
int wfs_store_verify(struct wfs_store *st, const struct wfs_chunk_key *key);

/* Delete chunk @key: remove its file, fsync the folder, record it in the
 * index.  Returns 0; -ENOENT if not held; -EBUSY if it is being written or
 * deleted right now; -EIO if its disk is offline or fails.  Worker
 * threads. */
int wfs_store_delete(struct wfs_store *st, const struct wfs_chunk_key *key);

/* Delete chunk @key from disk @disk and no other: a copy another disk
 * holds stays (the garbage collector deletes the copy its garbage entry
 * names, which need not be the one wfs_store_delete would find first).
 * Returns 0; -ENOENT if @disk does not hold it; -EIO if @disk is offline
 * (nothing is deleted: the copy waits for the disk) or fails; -EBUSY if
 * it is being written or deleted right now; -EINVAL for a disk out of
 * range.  Worker threads. */
int wfs_store_delete_on(struct wfs_store *st, unsigned disk,
			const struct wfs_chunk_key *key);

/* List chunks from memory, up to @max of them into @out, from where @cur
 * stands: of disk @disk only, or of every disk (in disk order) when @disk
 * is -1.  Offline disks list what they held.  *n is how many were written;
 * 0 means the listing is over.  Returns 0, or -EINVAL for a disk out of
 * range.  Any thread; never blocks on I/O. */
int wfs_store_list(struct wfs_store *st, int disk,
		   struct wfs_store_cursor *cur, struct wfs_store_chunk *out,
		   size_t max, size_t *n);

/* The number of disks (the @npaths given at open). */
unsigned wfs_store_disk_count(const struct wfs_store *st);

/* Describe disk @disk into *out.  Returns 0 or -EINVAL if out of range.
 * Any thread. */
int wfs_store_disk_info(struct wfs_store *st, unsigned disk,
			struct wfs_store_disk_info *out);

/* Find the disk whose id is @disk_id.  Returns 0 and sets *disk, or
 * -ENOENT.  Any thread. */
int wfs_store_disk_find(struct wfs_store *st, const char *disk_id,
			unsigned *disk);

/* Measure every online disk's free space now (otherwise it is measured at
 * most every few seconds, or after a few hundred writes, and lowered by
 * each write in between).  Worker threads: statvfs may block. */
void wfs_store_refresh(struct wfs_store *st);

#endif
