/* meta: the metadata store of one voter, in SQLite (WAL).
 *
 * It holds inodes, directory entries, xattrs, stripes and chunk locations,
 * policies, nodes and disks, and the index of the last log entry applied.
 * Mutations come only through wfs_meta_apply() with an op from
 * metadata/op.h; reads are the getattr, lookup and iteration calls below.  Every
 * iteration is keyset-paginated: no call loads a whole directory or the whole
 * file table.
 *
 * Durability: apply writes the op's effects and the applied index in one
 * transaction, so after a crash the store is exactly at some applied index
 * and the log replays what follows it.  The store is not the durability
 * point of a write; the replicated log is.
 *
 * Threads: one struct wfs_meta may be called from any thread; calls are
 * serialized by a mutex inside.
 */
#ifndef WFS_METADATA_META_H
#define WFS_METADATA_META_H

#include <stddef.h>
#include <stdint.h>

#include "metadata/op.h"

#define WFS_META_SCHEMA_VERSION 1

struct wfs_meta;

/* An inode's attributes, as a stat would show them. */
struct wfs_meta_attr {
	uint64_t ino;
	uint32_t mode;		/* S_IF type bits and permission bits */
	uint32_t nlink;
	uint32_t uid, gid;
	uint64_t size;		/* logical size in bytes */
	uint64_t bytes;		/* file data held in stripes (for st_blocks) */
	uint64_t rdev;
	int64_t atime_ns, mtime_ns, ctime_ns, btime_ns;
	uint64_t generation;	/* the log index that created the inode */
	uint32_t policy_id;	/* files: policy for new stripes; dirs: own
				 * setting, 0 when inherited */
};

/* What an applied op produced. */
struct wfs_meta_result {
	int status;		/* 0, or the op's own error as a negative errno
				 * (-EEXIST, -ENOTEMPTY, -ESTALE, ...) */
	struct wfs_meta_attr attr; /* the inode created or changed, if any */
	uint64_t value;		/* RESERVE_IDS: first id; STRIPE_COMMIT: new
				 * version; POLICY_SET: the policy id */
};

/* One directory entry, as iteration returns it. */
struct wfs_meta_dirent {
	uint64_t ino;
	uint32_t mode;		/* type bits and permissions of the inode */
	uint64_t cookie;	/* resume readdir after this entry with it;
				 * stable while entries come and go */
	struct wfs_meta_bytes name; /* valid during the callback only */
};

/* A stripe of a file and its chunk locations. */
struct wfs_meta_stripe {
	uint64_t ino, sidx, stripe_id, version;
	uint32_t kind, k, m, chunk_size, length;
	uint32_t nchunks;
	struct wfs_meta_chunk_loc chunks[WFS_META_CHUNKS_MAX]; /* strings valid
				 * during the callback only */
};

struct wfs_meta_policy {
	uint32_t id, k, m, chunk_size;
	char name[WFS_META_NAME_MAX + 1];
};

/* Open (creating if absent) the store at @path and apply pending schema
 * migrations.  A store whose schema is newer than WFS_META_SCHEMA_VERSION is
 * refused with -EPROTONOSUPPORT; a file that is not a WormFS store with
 * -EBADMSG.  On success *out is a new store; close with wfs_meta_close(). */
int wfs_meta_open(const char *path, struct wfs_meta **out);

/* Close the store; NULL is a no-op. */
void wfs_meta_close(struct wfs_meta *m);

/* Apply @op as log entry @index.  Entries at or below the applied index are
 * skipped (result->status = -EALREADY) so a replay after a crash is safe.
 * Returns 0 when the entry was applied or skipped (the op's own outcome is in
 * @result), or a negative errno when the store itself failed (-EIO, -ENOSPC):
 * then nothing of the op was applied and the voter must stop applying. */
int wfs_meta_apply(struct wfs_meta *m, uint64_t index,
		   const struct wfs_meta_op *op, struct wfs_meta_result *result);

/* Group the applies between begin and end into one transaction (the log hands
 * over entries in batches; one commit per batch is what makes metadata fast).
 * Nested begins are an error (-EBUSY).  end commits; on failure the batch is
 * rolled back and the applied index is where it was before begin. */
int wfs_meta_batch_begin(struct wfs_meta *m);
int wfs_meta_batch_end(struct wfs_meta *m);

/* The index of the last applied entry (0 for a new store). */
uint64_t wfs_meta_applied_index(struct wfs_meta *m);

/* Attributes of @ino.  Returns 0, -ENOENT. */
int wfs_meta_getattr(struct wfs_meta *m, uint64_t ino,
		     struct wfs_meta_attr *attr);

/* Look up @name in directory @parent.  Returns 0, -ENOENT, -ENOTDIR. */
int wfs_meta_lookup(struct wfs_meta *m, uint64_t parent,
		    struct wfs_meta_bytes name, struct wfs_meta_attr *attr);

/* Called for each entry; return 0 to go on, 1 to stop, or a negative errno
 * to stop and make the iteration return it. */
typedef int (*wfs_meta_dirent_cb)(const struct wfs_meta_dirent *ent,
				  void *arg);

/* Up to @limit entries of directory @dir with cookie > @after, in cookie
 * order.  Returns the number delivered (>= 0), -ENOENT, -ENOTDIR, or the
 * callback's error. */
int wfs_meta_readdir(struct wfs_meta *m, uint64_t dir, uint64_t after,
		     unsigned limit, wfs_meta_dirent_cb cb, void *arg);

typedef int (*wfs_meta_attr_cb)(const struct wfs_meta_attr *attr, void *arg);

/* Up to @limit inodes with ino > @after, in ino order (all files, for scrub
 * and listings).  Returns the number delivered, or an error. */
int wfs_meta_inodes(struct wfs_meta *m, uint64_t after, unsigned limit,
		    wfs_meta_attr_cb cb, void *arg);

/* The target of symlink @ino into @buf (NUL-terminated).  Returns its length,
 * -ENOENT, -EINVAL if not a symlink, -ERANGE if @cap is too small. */
int wfs_meta_readlink(struct wfs_meta *m, uint64_t ino, char *buf, size_t cap);

/* Value of xattr @name of @ino into @buf.  Returns the value's length (with
 * @cap 0: only the length), -ENODATA, -ERANGE, -ENOENT. */
int wfs_meta_getxattr(struct wfs_meta *m, uint64_t ino,
		      struct wfs_meta_bytes name, void *buf, size_t cap);

/* The NUL-separated list of @ino's xattr names into @buf, as listxattr(2)
 * returns it.  Returns its length (with @cap 0: only the length), -ERANGE,
 * -ENOENT. */
int wfs_meta_listxattr(struct wfs_meta *m, uint64_t ino, char *buf, size_t cap);

typedef int (*wfs_meta_stripe_cb)(const struct wfs_meta_stripe *s, void *arg);

/* Up to @limit stripes of file @ino with sidx >= @from, in sidx order.
 * Returns the number delivered or an error. */
int wfs_meta_stripes(struct wfs_meta *m, uint64_t ino, uint64_t from,
		     unsigned limit, wfs_meta_stripe_cb cb, void *arg);

/* Stripe by id (for repair and scrub).  Returns 0, -ENOENT. */
int wfs_meta_stripe_get(struct wfs_meta *m, uint64_t stripe_id,
			wfs_meta_stripe_cb cb, void *arg);

/* Up to @limit garbage chunks (old versions, purged files) with stripe id >
 * @after_stripe, in stripe order; each comes as a one-chunk stripe record.
 * Returns the number delivered or an error. */
int wfs_meta_garbage(struct wfs_meta *m, uint64_t after_stripe, unsigned limit,
		     wfs_meta_stripe_cb cb, void *arg);

/* The policy a new file in directory @dir gets: the nearest ancestor's, or
 * the default (id 1).  Returns 0, -ENOENT. */
int wfs_meta_policy_for(struct wfs_meta *m, uint64_t dir,
			struct wfs_meta_policy *out);

/* Policy by id.  Returns 0, -ENOENT. */
int wfs_meta_policy_get(struct wfs_meta *m, uint32_t id,
			struct wfs_meta_policy *out);

/* Counts for statfs: inodes in use and file data bytes. */
int wfs_meta_usage(struct wfs_meta *m, uint64_t *inodes, uint64_t *bytes);

#endif
