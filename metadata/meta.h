/* meta: the metadata store of one voter, in SQLite (WAL).
 *
 * It holds inodes, directory entries, xattrs, stripes and chunk locations,
 * policies, nodes and disks, and the index of the last log entry applied.
 * Mutations come only through wfs_meta_apply() with an op from
 * metadata/op.h; reads are the getattr, lookup and iteration calls below.
 * Every iteration is keyset-paginated: no call loads a whole directory or
 * the whole file table.
 *
 * Durability: apply writes the op's effects and the applied index in one
 * transaction, so after a crash the store is exactly at some applied index
 * and the log replays what follows it.  The store is not the durability
 * point of a write; the replicated log is.
 *
 * Semantics of apply, beyond what op.h says (errno values are those a local
 * file system gives):
 *  - Every op but FORMAT fails with -ENODEV until FORMAT has been applied;
 *    FORMAT on a formatted store fails with -EEXIST.
 *  - Names: empty, ".", "..", or holding '/' or NUL: -EINVAL; longer than
 *    WFS_META_NAME_MAX: -ENAMETOOLONG.
 *  - An inode whose last link goes (UNLINK, RMDIR, RENAME over it) becomes
 *    an orphan: nlink 0, still readable by ino (getattr, stripes, xattrs),
 *    listed by wfs_meta_orphans(), until PURGE drops it and sends its
 *    chunks to garbage.  PURGE of a linked inode is -EBUSY.  Directories
 *    are handled the same way, so an open directory outlives its RMDIR.
 *    An UNLINK whose remove.purge_ino names the inode it takes the last
 *    link of drops it at once instead, exactly as PURGE would.
 *    Nothing can be created in a removed directory (-ENOENT).
 *  - LINK allows at most WFS_META_LINK_MAX links (-EMLINK).
 *  - RENAME gives the name a new readdir cookie in its new place (a
 *    listing in progress may see it twice or not at all, as POSIX allows);
 *    an entry it replaces keeps its cookie.
 *  - SETXATTR keeps one inode's name list within 64 KiB (-ENOSPC), so
 *    listxattr can always return it.
 *  - MKNOD with create.ino takes only inode numbers a RESERVE_IDS of kind
 *    WFS_META_RESERVE_INODES handed out and no inode has (-EINVAL); a
 *    number whose inode was purged is not checked for and may be used
 *    again.  RESERVE_IDS of another kind is -EINVAL.
 *  - STRIPE_COMMIT takes only stripe ids RESERVE_IDS handed out (-EINVAL)
 *    and never used before (-EEXIST); CHUNK_SET needs the stripe (-ENOENT),
 *    except its move form, which sends the copy to garbage when the stripe
 *    is gone (op.h), and refuses a stripe id never used (-ENOENT) and a
 *    target disk that is not a recorded disk of the target node
 *    (-EINVAL).  result.value of a move: 1 moved, 0 the copy discarded.
 *  - GC_DONE drops exactly the garbage entries it names (stripe, index,
 *    node, disk); an entry of an op format before 7, which names no
 *    place, drops every entry of its (stripe, index).
 *  - DISK_SET never changes a disk's draining flag; DISK_DRAIN changes
 *    only that (-ENOENT for a disk not recorded).
 *  - A stripe covers the file bytes [sidx * k * chunk_size, + length): its
 *    span is k * chunk_size of the stripe itself, for either kind.
 *    Truncation drops whole stripes at or past the new size and shortens the
 *    one straddling it, so data written past it before reads back as zeros.
 *  - A failed op changes nothing, yet its index counts as applied.
 *
 * Retries: an op with a request name (op->request) that was applied before
 * changes nothing and gets the result the first one got (-EEXIST included),
 * so a client that lost an answer (the master died after the commit, a
 * relay broke) can send the same request again without it applying twice.
 * Names are kept for WFS_META_REQUEST_WINDOW log entries after their own.
 * The one outcome not kept is a refusal by a directory lease (-EAGAIN with
 * result.lease_session set): it changed nothing, and the client sends the
 * same request again once the lease is given back.
 *
 * Leases (op.h, DIR_LEASE): the check is made once the directory is
 * loaded, before its names are looked at, so a refused op gets -EAGAIN
 * rather than what the names say now (-ENOENT, -EEXIST, -ENOTEMPTY);
 * errors found earlier (a bad name, a missing directory) come first.
 * Moving a leased directory elsewhere (RENAME with it as the source, or
 * either side of an exchange) does not change the directory's entries
 * and is not refused.  Ops of format 7 and older carry no session (0),
 * so any lease refuses them.
 *
 * Threads: one struct wfs_meta may be called from any thread; calls are
 * serialized by a mutex inside.  Iteration callbacks run with that mutex
 * held: they must not call into the same store.
 */
#ifndef WFS_METADATA_META_H
#define WFS_METADATA_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metadata/op.h"

#define WFS_META_SCHEMA_VERSION 5

/* How many log entries a request name is remembered for (see "Retries"):
 * far longer than any client retries at any rate this store applies. */
#define WFS_META_REQUEST_WINDOW 4000000
/* Names older than the window are dropped every this many entries. */
#define WFS_META_REQUEST_PRUNE_EVERY 65536

/* Hard links one inode may have (ext4's limit). */
#define WFS_META_LINK_MAX 65000

/* The id of the policy FORMAT creates, which every directory inherits
 * unless one up its path says otherwise. */
#define WFS_META_DEFAULT_POLICY 1

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
				 * (-EEXIST, -ENOTEMPTY, -ESTALE, ...);
				 * -EALREADY: the entry had been applied before */
	struct wfs_meta_attr attr; /* the inode created or changed: MKNOD,
				 * MKDIR, SYMLINK, LINK, SETATTR, SETXATTR,
				 * REMOVEXATTR, STRIPE_COMMIT, DIR_POLICY,
				 * FORMAT (the root); UNLINK, RMDIR: the inode
				 * removed; RENAME: the inode moved; PURGE: the
				 * inode as it was.  Zero when the op failed */
	uint64_t value;		/* RESERVE_IDS: first id; STRIPE_COMMIT: new
				 * version; POLICY_SET: the policy id;
				 * CHUNK_SET's move: 1 moved, 0 discarded;
				 * DIR_LEASE giving back: 1 if the session
				 * held the lease, else 0;
				 * UNLINK, RMDIR, RENAME: the inode that lost
				 * its last link (an orphan now), else 0 */
	bool purged;		/* UNLINK: the inode lost its last link and
				 * was dropped at once (remove.purge_ino):
				 * no orphan is left, no PURGE follows */
	struct wfs_meta_attr dir; /* the directory whose entries the op
				 * changed, as the op left it: the parent of
				 * MKNOD, MKDIR, SYMLINK, UNLINK, RMDIR, the
				 * new parent of LINK, the source directory of
				 * RENAME; zero for other ops */
	struct wfs_meta_attr new_dir; /* RENAME between two directories:
				 * the target one as the op left it; else
				 * zero */
	uint64_t lease_dir;	/* status -EAGAIN from a directory lease:
				 * the directory, and the session holding */
	uint64_t lease_session;	/* it (op.h, DIR_LEASE); else 0 */
};

/* One directory entry, as iteration returns it. */
struct wfs_meta_dirent {
	uint64_t ino;
	uint32_t mode;		/* type bits and permissions of the inode */
	uint64_t cookie;	/* resume readdir after this entry with it;
				 * stable while entries come and go.  Cookies
				 * are >= 3: 1 and 2 are free for "." and ".." */
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

/* A node as NODE_SET left it; strings valid during the callback only. */
struct wfs_meta_node {
	struct wfs_meta_bytes id, name, addr;
	uint32_t role, state;
};

/* A disk as DISK_SET and DISK_DRAIN left it; strings valid during the
 * callback only. */
struct wfs_meta_disk {
	struct wfs_meta_bytes id, node_id, path;
	uint64_t capacity, free;
	uint32_t state;		/* as its node last reported it (opaque) */
	bool draining;		/* an operator drains it (DISK_DRAIN) */
};

/* What wfs_meta_disk_chunks counts on one disk. */
struct wfs_meta_disk_count {
	uint64_t ok;		/* chunks recorded there in state OK */
	uint64_t missing;	/* chunks recorded there but marked missing
				 * (a write that failed, a chunk lost):
				 * nothing to read, repair rebuilds them */
	bool more;		/* the count stopped at its limit: there are
				 * at least ok + missing */
};

/* Open (creating if absent) the store at @path and apply pending schema
 * migrations.  A store whose schema is newer than WFS_META_SCHEMA_VERSION is
 * refused with -EPROTONOSUPPORT; a file that is not a WormFS store with
 * -EBADMSG.  On success *out is a new store; close with wfs_meta_close().
 * Returns 0, those, -ENOMEM, or the error opening the file (-ENOENT when its
 * folder is missing, -EACCES, -EIO).  Any thread. */
int wfs_meta_open(const char *path, struct wfs_meta **out);

/* Close the store, rolling back a batch left open; NULL is a no-op.  No
 * other call may be running or follow. */
void wfs_meta_close(struct wfs_meta *m);

/* Apply @op as log entry @index.  Entries at or below the applied index are
 * skipped (result->status = -EALREADY) so a replay after a crash is safe;
 * indexes may have gaps (log entries that are not ops).
 * Returns 0 when the entry was applied or skipped (the op's own outcome is in
 * @result), or a negative errno when the store itself failed (-EIO, -ENOSPC,
 * -ENOMEM), or -EINVAL for an op type apply does not know: then nothing of
 * the op was applied, the applied index did not move, and the voter must not
 * apply later entries until this one succeeds (the earlier entries of an
 * open batch stay and batch_end commits them, unless SQLite had to give up
 * the whole transaction: then later applies of the batch and batch_end
 * fail too, and the whole batch is to be applied again).  @result must not
 * be NULL; after a negative return it means nothing. */
int wfs_meta_apply(struct wfs_meta *m, uint64_t index,
		   const struct wfs_meta_op *op, struct wfs_meta_result *result);

/* Group the applies between begin and end into one transaction (the log hands
 * over entries in batches; one commit per batch is what makes metadata fast).
 * Nested begins are an error (-EBUSY).  end commits; on failure the batch is
 * rolled back and the applied index is where it was before begin.  end
 * without begin is -EINVAL.  Reads between begin and end see the batch's
 * entries, which the log has committed already. */
int wfs_meta_batch_begin(struct wfs_meta *m);
int wfs_meta_batch_end(struct wfs_meta *m);

/* The index of the last applied entry (0 for a new store). */
uint64_t wfs_meta_applied_index(struct wfs_meta *m);

/* Whether this store has dropped entries of a batch that reads could
 * already see (its commit failed, or SQLite rolled its transaction back on
 * its own, on a failed read as well): what it shows now is older than what
 * it showed, until the log replays them.  Whatever acts outside the store
 * on what it lists, such as deleting garbage chunks, must stop, since an
 * entry it lists may have been taken back by a dropped one.  Stays true
 * until this store is closed (storaged: until a restart, or a snapshot
 * restored over it).  An apply outside a batch never sets it. */
bool wfs_meta_went_back(struct wfs_meta *m);

/* The cluster id FORMAT recorded, into @buf.  Returns its length, -ENODEV
 * before FORMAT, -ERANGE if @cap is too small. */
int wfs_meta_cluster_id(struct wfs_meta *m, void *buf, size_t cap);

/* The value of cluster setting @key (SETTING_SET) into @buf.  Returns its
 * length, -ENOENT if it was never set, -ERANGE if @cap is too small,
 * -EINVAL for a bad key. */
int wfs_meta_setting(struct wfs_meta *m, const char *key, void *buf,
		     size_t cap);

/* Attributes of @ino (orphans included).  Returns 0, -ENOENT. */
int wfs_meta_getattr(struct wfs_meta *m, uint64_t ino,
		     struct wfs_meta_attr *attr);

/* Look up @name in directory @parent; "." is @parent itself and ".." its
 * parent (the root's is the root).  Returns 0, -ENOENT, -ENOTDIR,
 * -ENAMETOOLONG, -EINVAL (a '/' or NUL in @name, or an empty one). */
int wfs_meta_lookup(struct wfs_meta *m, uint64_t parent,
		    struct wfs_meta_bytes name, struct wfs_meta_attr *attr);

/* Called for each entry; return 0 to go on, 1 to stop, or a negative errno
 * to stop and make the iteration return it. */
typedef int (*wfs_meta_dirent_cb)(const struct wfs_meta_dirent *ent,
				  void *arg);

/* Up to @limit entries of directory @dir with cookie > @after, in cookie
 * order ("." and ".." are not entries).  Returns the number delivered
 * (>= 0), -ENOENT, -ENOTDIR, or the callback's error. */
int wfs_meta_readdir(struct wfs_meta *m, uint64_t dir, uint64_t after,
		     unsigned limit, wfs_meta_dirent_cb cb, void *arg);

typedef int (*wfs_meta_attr_cb)(const struct wfs_meta_attr *attr, void *arg);

/* Up to @limit inodes with ino > @after, in ino order (all files, orphans
 * included, for scrub and listings).  Returns the number delivered, or an
 * error. */
int wfs_meta_inodes(struct wfs_meta *m, uint64_t after, unsigned limit,
		    wfs_meta_attr_cb cb, void *arg);

/* Up to @limit orphans (nlink 0, waiting for PURGE) with ino > @after, in
 * ino order.  Returns the number delivered, or an error. */
int wfs_meta_orphans(struct wfs_meta *m, uint64_t after, unsigned limit,
		     wfs_meta_attr_cb cb, void *arg);

/* One directory lease (op.h, DIR_LEASE): @dir is held by @session. */
typedef int (*wfs_meta_lease_cb)(void *arg, uint64_t dir, uint64_t session);

/* Up to @limit leases with dir > @after, in dir order.  Returns the number
 * delivered, or an error (a callback's negative return stops the walk and
 * is returned). */
int wfs_meta_leases(struct wfs_meta *m, uint64_t after, unsigned limit,
		    wfs_meta_lease_cb cb, void *arg);

/* The session holding directory @dir's lease into *session (0: none).
 * Returns 0 or an error. */
int wfs_meta_lease_get(struct wfs_meta *m, uint64_t dir, uint64_t *session);

/* The target of symlink @ino into @buf (NUL-terminated).  Returns its length,
 * -ENOENT, -EINVAL if not a symlink, -ERANGE if @cap is too small. */
int wfs_meta_readlink(struct wfs_meta *m, uint64_t ino, char *buf, size_t cap);

/* Value of xattr @name of @ino into @buf.  Returns the value's length (with
 * @cap 0: only the length), -ENODATA, -ERANGE, -ENOENT. */
int wfs_meta_getxattr(struct wfs_meta *m, uint64_t ino,
		      struct wfs_meta_bytes name, void *buf, size_t cap);

/* The NUL-separated list of @ino's xattr names into @buf, as listxattr(2)
 * returns it (SETXATTR keeps it within 64 KiB).  Returns its length (with
 * @cap 0: only the length), -ERANGE, -ENOENT. */
int wfs_meta_listxattr(struct wfs_meta *m, uint64_t ino, char *buf, size_t cap);

typedef int (*wfs_meta_stripe_cb)(const struct wfs_meta_stripe *s, void *arg);

/* Up to @limit stripes of file @ino with sidx >= @from, in sidx order.
 * Returns the number delivered or an error. */
int wfs_meta_stripes(struct wfs_meta *m, uint64_t ino, uint64_t from,
		     unsigned limit, wfs_meta_stripe_cb cb, void *arg);

/* Stripe by id (for repair and scrub).  Returns 0, -ENOENT, or the
 * callback's error. */
int wfs_meta_stripe_get(struct wfs_meta *m, uint64_t stripe_id,
			wfs_meta_stripe_cb cb, void *arg);

/* Up to @limit stripes with a chunk on disk @disk and a stripe id >
 * @after_stripe, in stripe order (what rebuilding a lost disk reads).
 * Returns the number delivered or an error. */
int wfs_meta_disk_stripes(struct wfs_meta *m, struct wfs_meta_bytes disk,
			  uint64_t after_stripe, unsigned limit,
			  wfs_meta_stripe_cb cb, void *arg);

/* How many chunks are recorded on disk @disk, OK and missing (what is
 * left to move off a draining disk, and what waits for repair there),
 * counting no further than @limit entries (> 0) in all: it reads the
 * disk's entries of the chunks_by_disk index, so its cost grows with
 * them, up to @limit.  Returns 0 and *count, or a negative errno. */
int wfs_meta_disk_chunks(struct wfs_meta *m, struct wfs_meta_bytes disk,
			 uint64_t limit, struct wfs_meta_disk_count *count);

/* Garbage chunks (old versions, truncated or purged files, moved chunks) of
 * up to @limit stripes with stripe id > @after_stripe, in stripe order.
 * Each stripe comes as one record holding its garbage chunks (ino, sidx,
 * version, kind and geometry zero); a page never ends inside a stripe, so
 * resuming after the last stripe id delivered skips nothing.  A stripe with
 * more than WFS_META_CHUNKS_MAX garbage chunks comes as several records
 * with the same id.  Returns the number of stripes delivered or an error. */
int wfs_meta_garbage(struct wfs_meta *m, uint64_t after_stripe, unsigned limit,
		     wfs_meta_stripe_cb cb, void *arg);

/* The policy a new file in directory @dir gets: the nearest ancestor's, or
 * the default (id 1).  Returns 0, -ENOENT. */
int wfs_meta_policy_for(struct wfs_meta *m, uint64_t dir,
			struct wfs_meta_policy *out);

/* Policy by id.  Returns 0, -ENOENT. */
int wfs_meta_policy_get(struct wfs_meta *m, uint32_t id,
			struct wfs_meta_policy *out);

typedef int (*wfs_meta_policy_cb)(const struct wfs_meta_policy *p, void *arg);
typedef int (*wfs_meta_node_cb)(const struct wfs_meta_node *n, void *arg);
typedef int (*wfs_meta_disk_cb)(const struct wfs_meta_disk *d, void *arg);

/* Every policy, node or disk, in id order (these tables hold one row per
 * policy, machine or disk, never per file).  Return the number delivered or
 * an error. */
int wfs_meta_policies(struct wfs_meta *m, wfs_meta_policy_cb cb, void *arg);
int wfs_meta_nodes(struct wfs_meta *m, wfs_meta_node_cb cb, void *arg);
int wfs_meta_disks(struct wfs_meta *m, wfs_meta_disk_cb cb, void *arg);

/* Counts for statfs: inodes in use (orphans included) and file data bytes
 * held in stripes.  Kept as counters: no scan. */
int wfs_meta_usage(struct wfs_meta *m, uint64_t *inodes, uint64_t *bytes);

/* How many stripes lack a chunk: one marked missing, or held on a disk
 * whose state is @disk_lost or on a node whose state is @node_lost (the
 * values are the caller's: the store keeps disk and node states opaque).
 * Reads the chunks of the lost disks, so its cost grows with them.
 * Returns 0 and *count, or a negative errno. */
int wfs_meta_stripes_degraded(struct wfs_meta *m, uint32_t disk_lost,
			      uint32_t node_lost, uint64_t *count);

/* Write a consistent copy of the whole store to @dest (replaced if it
 * exists) for a snapshot, and set *index to the applied index it holds.
 * The copy is one self-contained file (no -wal beside it), synced, and a
 * store wfs_meta_open() accepts.  It blocks applies while it runs.  Returns
 * 0, -EBUSY inside a batch, or a negative errno. */
int wfs_meta_backup(struct wfs_meta *m, const char *dest, uint64_t *index);

/* Move the write-ahead log into the database file and truncate it.
 * Returns 0, -EBUSY inside a batch, or a negative errno. */
int wfs_meta_checkpoint(struct wfs_meta *m);

/* Run SQLite's integrity and foreign key checks over the whole store (slow:
 * it reads everything).  Returns 0, -EBADMSG if damage was found, -EBUSY
 * inside a batch, or a negative errno. */
int wfs_meta_check(struct wfs_meta *m);

#endif
