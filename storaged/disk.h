/* storaged/disk: what one disk directory of a node looks like on disk.
 *
 * A disk is a directory named in the node's config.  This module knows its
 * layout (documented byte by byte in disk.c): the format marker that names
 * the disk and its node, the 1000 hashed chunk folders, the chunk files in
 * them, each folder's index file, and the clean-shutdown flag.  It formats,
 * attaches and detaches a disk, writes chunk files atomically, reads and
 * checks them, and reads, appends and rewrites folder indexes.
 *
 * It keeps no state between calls and takes no locks: the chunk store
 * (chunkstore.h) holds the in-memory map, decides where chunks go, and
 * serialises the calls that need it (as each function says).  Every
 * function takes the disk's root path; paths are re-resolved on each call,
 * so a directory removed or replaced under us shows up as an error rather
 * than as writes into a stale directory.  All functions block on disk I/O:
 * worker threads only.
 */
#ifndef WFS_STORAGED_DISK_H
#define WFS_STORAGED_DISK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "chunk/format.h"

#define WFS_DISK_FORMAT_VERSION 2	/* of the marker and the layout */
#define WFS_DISK_FOLDERS 1000		/* chunks/000 .. chunks/999 */
#define WFS_DISK_ID_LEN 32		/* hex digits of a disk id (128 bits) */
#define WFS_DISK_NODE_ID_MAX 64		/* bytes of a node id */
#define WFS_DISK_ROOT_MAX 3800		/* bytes of a root path */
#define WFS_DISK_CHUNK_NAME_LEN 36	/* "<16 hex>-<16 hex>-<2 hex>" */

/* Who a disk is, read from (or written to) its marker at attach. */
struct wfs_disk_ident {
	unsigned version;	/* marker format version */
	char disk_id[WFS_DISK_ID_LEN + 1];	/* lower-case hex, NUL-ended */
	char node_id[WFS_DISK_NODE_ID_MAX + 1];	/* the owning node */
	int formatted;		/* 1: attach formatted a blank directory */
	int clean;		/* 1: the last detach was clean, so the folder
				 * indexes are complete and can be trusted */
	int repaired;		/* 1: chunks/ was missing and was made again
				 * (every chunk of the disk is gone) */
	dev_t dev;		/* the root directory as attached, to notice */
	ino_t ino;		/* it being removed or replaced later */
};

/* One record of a folder index. */
enum wfs_disk_rec_type {
	WFS_DISK_REC_ADD = 1,	/* the chunk file exists (data_len bytes) */
	WFS_DISK_REC_DEL = 2,	/* the chunk file was removed */
};

struct wfs_disk_rec {
	uint32_t type;		/* enum wfs_disk_rec_type */
	uint32_t data_len;	/* ADD: the chunk's data length; DEL: 0 */
	struct wfs_chunk_key key;
};

/* write() all @len bytes of @buf to @fd, retrying short writes and EINTR
 * (the file may be O_APPEND).  Returns 0 or a negative errno (-EIO if the
 * kernel writes nothing).  Blocks on disk I/O. */
int wfs_disk_write_all(int fd, const void *buf, size_t len);

/* fsync the directory @path, so that entries created or renamed in it are
 * durable.  Returns 0 or a negative errno.  Blocks on disk I/O. */
int wfs_disk_fsync_dir(const char *path);

/* 1 if @node_id can name a node (1..WFS_DISK_NODE_ID_MAX bytes, each
 * printable ASCII other than space), else 0. */
int wfs_disk_node_id_valid(const char *node_id);

/* Attach the disk directory @root for node @node_id: take an exclusive lock
 * on it (flock, so two processes never share a disk), read its marker, or
 * format it if it is blank (empty but for lost+found and the leftovers of
 * an interrupted format), make chunks/ again if it is missing, move the
 * chunk files of an older format to this format's folders (once, logged;
 * the folder indexes are then rebuilt by scanning), and consume the
 * clean-shutdown flag (removed, durably, so a crash from now on leaves the
 * disk marked unclean).  On success *id describes the disk and *lock_fd is
 * the locked root descriptor, to pass to wfs_disk_detach() later.
 * Returns 0, or: -ENOENT / -ENOTDIR if @root is missing or not a directory;
 * -EBUSY if another open holds the disk; -EEXIST if the marker names
 * another node (id->node_id and id->disk_id then say which);
 * -EPROTONOSUPPORT if the marker is of a newer format version (id->version
 * says which); -EBADMSG if the marker does not parse or fails its CRC;
 * -ENOTEMPTY if there is no marker but the directory holds other files;
 * -ENAMETOOLONG, -EINVAL (bad @node_id), or another negative errno from
 * I/O.  On failure nothing stays locked. */
int wfs_disk_attach(const char *root, const char *node_id,
		    struct wfs_disk_ident *id, int *lock_fd);

/* Release a disk attached with wfs_disk_attach().  With @clean set, first
 * flush the whole file system (syncfs) and then durably create the
 * clean-shutdown flag, promising the next attach that every folder index
 * is complete; the caller must know that no change since attach is
 * missing from an index.  Always closes @lock_fd.  Returns 0 or the
 * negative errno of the flush (then the flag is not set). */
int wfs_disk_detach(int lock_fd, int clean);

/* Check that @root is still the directory attached as @id and still holds
 * its chunks/ directory: what to ask when a file or folder was not found,
 * to tell a missing chunk (0) from a missing disk.  Returns 0, -ESTALE if
 * the root is now a different directory, -ENOTDIR if it or chunks/ is no
 * longer a directory, or the negative errno of stat (-ENOENT: gone). */
int wfs_disk_check(const char *root, const struct wfs_disk_ident *id);

/* The file system's size and the bytes available to new files, from
 * statvfs.  Returns 0 or a negative errno. */
int wfs_disk_space(const char *root, uint64_t *capacity, uint64_t *avail);

/* The folder (0..999) that holds every chunk of stripe @stripe_id (and of
 * the 63 other stripes whose ids differ from it only in the low 6 bits). */
unsigned wfs_disk_folder(uint64_t stripe_id);

/* The file name of chunk @key, NUL-terminated, into @buf. */
void wfs_disk_chunk_name(const struct wfs_chunk_key *key,
			 char buf[WFS_DISK_CHUNK_NAME_LEN + 1]);

/* Parse a chunk file name.  Returns 0 and fills *key, or -EINVAL if @name
 * is not exactly a chunk name (temporary files and the index are not). */
int wfs_disk_chunk_name_parse(const char *name, struct wfs_chunk_key *key);

/* Write the chunk @hdr describes, with the hdr->data_len bytes at @data,
 * atomically: into a temporary file in its folder (the folder is made, and
 * chunks/ fsync'ed, if it does not exist yet), named from @tmp_seq, which
 * must be unique among this disk's writes in flight; fdatasync; rename
 * over the final name (replacing an older file of the same key); fsync of
 * the folder.  On failure the temporary file is removed.  Returns 0 or a
 * negative errno (-ENOSPC, -EIO, -ENOENT if chunks/ or the root is gone,
 * ...).  @hdr is encoded as is: the caller checks it. */
int wfs_disk_chunk_put(const char *root, const struct wfs_chunk_header *hdr,
		       const void *data, uint64_t tmp_seq);

/* Read chunk @key: its header into *hdr and its data into @buf (@buflen
 * bytes of room), checking the header CRC, that the header names @key, the
 * file length and the data CRC.  Returns 0; -ENOENT if there is no such
 * file; -EBADMSG if it is damaged; -EPROTONOSUPPORT if its header is of a
 * newer format; -EOVERFLOW if hdr->data_len exceeds @buflen (*hdr is filled,
 * @buf untouched); or a negative errno from I/O. */
int wfs_disk_chunk_read(const char *root, const struct wfs_chunk_key *key,
			struct wfs_chunk_header *hdr, void *buf,
			size_t buflen);

/* Read and check only chunk @key's header (and that the file length fits
 * it).  Returns as wfs_disk_chunk_read() does, without -EOVERFLOW. */
int wfs_disk_chunk_stat(const char *root, const struct wfs_chunk_key *key,
			struct wfs_chunk_header *hdr);

/* Have the kernel read chunk file @key into the page cache in the
 * background (posix_fadvise WILLNEED).  Returns 0 or a negative errno
 * (-ENOENT: no such file). */
int wfs_disk_chunk_prefetch(const char *root, const struct wfs_chunk_key *key);

/* Re-read chunk @key from disk and check everything wfs_disk_chunk_read()
 * checks, streaming the data through @scratch (@scratch_len bytes, at least
 * 4096) so no buffer of the chunk's size is needed.  *hdr gets the header.
 * Returns as wfs_disk_chunk_read() does, without -EOVERFLOW. */
int wfs_disk_chunk_verify(const char *root, const struct wfs_chunk_key *key,
			  struct wfs_chunk_header *hdr, void *scratch,
			  size_t scratch_len);

/* Remove chunk @key's file and fsync its folder.  Returns 0, -ENOENT if
 * there was no such file, or a negative errno. */
int wfs_disk_chunk_unlink(const char *root, const struct wfs_chunk_key *key);

/* Read the index of folder @folder.  On success *recs is a new array of *n
 * records in file order (release with wfs_free; NULL when *n is 0).
 * Returns 0; -ENOENT if there is no index (or no folder); -EBADMSG if it is damaged in any
 * way (bad header, a record failing its CRC or naming another folder, a
 * torn last record) and should be rebuilt; -ENOMEM; or a negative errno
 * from I/O.  One caller per folder at a time (with append and write). */
int wfs_disk_index_read(const char *root, unsigned folder,
			struct wfs_disk_rec **recs, size_t *n);

/* Append @rec to the index of folder @folder (creating the index, and the
 * folder, if there is none), without fsync: the chunk files are the truth, the clean-shutdown
 * flag says when the indexes are complete.  On a failed write the index is
 * cut back to its previous length.  Returns 0 or a negative errno.  One
 * caller per folder at a time. */
int wfs_disk_index_append(const char *root, unsigned folder,
			  const struct wfs_disk_rec *rec);

/* Replace the index of folder @folder by one holding the @n ADD records at
 * @recs (temporary file, rename; no fsync, as for append).  Returns 0 or a
 * negative errno.  One caller per folder at a time. */
int wfs_disk_index_write(const char *root, unsigned folder,
			 const struct wfs_disk_rec *recs, size_t n);

/* Called by wfs_disk_folder_scan() for each chunk file; returns 0 to go on
 * or a nonzero value that stops the scan and is returned by it. */
typedef int (*wfs_disk_scan_cb)(const struct wfs_chunk_key *key, void *arg);

/* List the chunk files of folder @folder from the directory itself,
 * removing leftover temporary files on the way and skipping the index and
 * names that are not chunk names (or that belong in another folder).  A
 * folder not made yet is empty.  Returns 0, the callback's nonzero value,
 * or a negative errno. */
int wfs_disk_folder_scan(const char *root, unsigned folder,
			 wfs_disk_scan_cb cb, void *arg);

#endif
