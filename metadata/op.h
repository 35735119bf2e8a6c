/* op: metadata mutations as values.
 *
 * Every change to the metadata is a struct wfs_meta_op: built by whoever
 * wants the change (the master, on a client's request), encoded to a compact
 * msgpack form, appended to the replicated log, decoded on every voter and
 * applied there by wfs_meta_apply() (metadata/meta.h).  Apply is
 * deterministic: everything it needs that could differ between voters (the
 * time, the caller's uid/gid) travels inside the op.  Ids are allocated by
 * apply itself from counters kept in the database, so every voter allocates
 * the same ones.
 *
 * This header is the contract between the metadata store and the log; the
 * wire form is documented byte by byte in op.c.
 */
#ifndef WFS_METADATA_OP_H
#define WFS_METADATA_OP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WFS_META_NAME_MAX 255		/* bytes in one directory entry name */
#define WFS_META_SYMLINK_MAX 4095	/* bytes in a symlink target */
#define WFS_META_XATTR_NAME_MAX 255
#define WFS_META_XATTR_VALUE_MAX 65536
#define WFS_META_ID_MAX 64		/* bytes in a node, disk or cluster id */
#define WFS_META_ADDR_MAX 1024		/* bytes in a node address (host:port) */
#define WFS_META_PATH_MAX 4095		/* bytes in a disk's path on its node */
#define WFS_META_CHUNKS_MAX 32		/* chunks in one stripe (k + m) */
#define WFS_META_GC_MAX 1024		/* entries in one GC_DONE op */

#define WFS_META_REQUEST_MAX 80		/* bytes in a request name */
#define WFS_META_SETTING_MAX 1024	/* bytes in a setting's value */
#define WFS_META_ROOT_INO 1

/* STRIPE_COMMIT's expected_length when the slot's length is not checked. */
#define WFS_META_LENGTH_ANY UINT64_MAX

enum wfs_meta_op_type {
	WFS_META_OP_FORMAT = 1,	/* new file system: root inode, default policy */
	WFS_META_OP_MKNOD,	/* regular file, fifo, socket or device node */
	WFS_META_OP_MKDIR,
	WFS_META_OP_SYMLINK,
	WFS_META_OP_LINK,
	WFS_META_OP_UNLINK,	/* non-directory; at nlink 0 it becomes an
				 * orphan, or is purged at once (see
				 * remove.purge_ino) */
	WFS_META_OP_RMDIR,
	WFS_META_OP_RENAME,
	WFS_META_OP_SETATTR,
	WFS_META_OP_SETXATTR,
	WFS_META_OP_REMOVEXATTR,
	WFS_META_OP_PURGE,	/* drop an orphan (nlink 0, no longer open) */
	WFS_META_OP_RESERVE_IDS, /* hand out a range of stripe ids or inode
				  * numbers */
	WFS_META_OP_STRIPE_COMMIT, /* a stripe's new version and its chunks */
	WFS_META_OP_CHUNK_SET,	/* repair moved or lost one chunk of a stripe */
	WFS_META_OP_GC_DONE,	/* old chunks deleted from their disks */
	WFS_META_OP_POLICY_SET,	/* define or change a named policy */
	WFS_META_OP_DIR_POLICY,	/* attach a policy to a directory (0: inherit) */
	WFS_META_OP_NODE_SET,	/* add or update a node */
	WFS_META_OP_NODE_REMOVE,
	WFS_META_OP_DISK_SET,	/* add or update a disk */
	WFS_META_OP_SETTING_SET, /* set a cluster setting (the join token) */
	WFS_META_OP_DISK_DRAIN,	/* an operator drains or undrains a disk */
	WFS_META_OP_DIR_LEASE,	/* grant or give back a directory lease */
	WFS_META_OP_TYPE_COUNT	/* not an op: one past the last */
};

/* What a RESERVE_IDS hands out. */
enum wfs_meta_reserve_kind {
	WFS_META_RESERVE_STRIPES = 0,
	WFS_META_RESERVE_INODES = 1,
};

/* Which attributes a SETATTR changes. */
enum wfs_meta_setattr_flags {
	WFS_META_SET_MODE = 1 << 0,	/* permission bits only; type is fixed */
	WFS_META_SET_UID = 1 << 1,
	WFS_META_SET_GID = 1 << 2,
	WFS_META_SET_SIZE = 1 << 3,	/* truncate or extend */
	WFS_META_SET_ATIME = 1 << 4,
	WFS_META_SET_MTIME = 1 << 5,
	WFS_META_SET_CTIME = 1 << 6,	/* explicit ctime; otherwise ctime = op time */
};

/* RENAME flags: the values of Linux's RENAME_NOREPLACE and RENAME_EXCHANGE,
 * so FUSE's flags pass through unchanged. */
enum wfs_meta_rename_flags {
	WFS_META_RENAME_NOREPLACE = 1 << 0,
	WFS_META_RENAME_EXCHANGE = 1 << 1,
};

/* SETXATTR flags: the values of XATTR_CREATE and XATTR_REPLACE. */
enum wfs_meta_xattr_flags {
	WFS_META_XATTR_CREATE = 1 << 0,
	WFS_META_XATTR_REPLACE = 1 << 1,
};

/* How a stripe's data is kept (DESIGN.md, "small files and tails"). */
enum wfs_meta_stripe_kind {
	WFS_META_STRIPE_EC = 1,		/* k data + m parity chunks */
	WFS_META_STRIPE_REPLICA = 2,	/* m + 1 full copies of the data */
};

/* Health of one chunk as the metadata knows it. */
enum wfs_meta_chunk_state {
	WFS_META_CHUNK_OK = 0,
	WFS_META_CHUNK_MISSING = 1,	/* not written or lost: to be repaired */
};

/* A byte string borrowed from elsewhere (a decoded buffer, a caller's
 * variable).  Names are byte strings, not C strings: they may hold any byte
 * but '/' and NUL. */
struct wfs_meta_bytes {
	const void *data;	/* NULL only when len is 0 */
	size_t len;
};

/* Where one chunk of a stripe lives. */
struct wfs_meta_chunk_loc {
	uint32_t index;		/* 0..k+m-1 (EC) or 0..m (replica) */
	uint32_t state;		/* enum wfs_meta_chunk_state */
	struct wfs_meta_bytes node;	/* node id, at most WFS_META_ID_MAX */
	struct wfs_meta_bytes disk;	/* disk id, at most WFS_META_ID_MAX */
};

/* The state value ops of formats up to 6 used for a draining disk
 * (placement's WFS_PLACE_DISK_DRAINING).  Since format 7 draining is a flag
 * of its own (DISK_DRAIN); the decoder turns those older ops into their
 * format 7 meaning (op.c, fill_defaults). */
#define WFS_META_DISK_STATE_DRAINING_V6 2

/* One old chunk that garbage collection has removed: the copy of chunk
 * @index of @stripe_id on disk @disk of node @node (each at most ID_MAX;
 * empty strings name a copy recorded with empty ones).  Only that garbage
 * entry goes: the stripe's other copies of the same chunk, on other disks
 * or nodes, are other collectors' to settle.
 *
 * With @any_place the entry names no place (@node and @disk unused) and
 * settles every garbage copy of (@stripe_id, @index).  That is what the
 * entries of formats before 7 meant (they decode with it set); nothing
 * should write it any more, since the first node to report would drop
 * the copies other nodes still have to delete. */
struct wfs_meta_gc_entry {
	uint64_t stripe_id;
	uint32_t index;
	struct wfs_meta_bytes node, disk;
	bool any_place;
};

/* One metadata mutation.  The op borrows every byte string it points to:
 * from the caller's variables when built, from the encoded buffer when
 * decoded (so that buffer must outlive the op).  Fields not used by @type
 * are ignored by encode and zeroed by decode. */
struct wfs_meta_op {
	uint32_t type;		/* enum wfs_meta_op_type */
	int64_t time_ns;	/* wall clock at the proposer; apply's only clock */
	uint32_t uid, gid;	/* the caller: owner of what is created */
	/* The client's name for the request this op carries out (at most
	 * REQUEST_MAX bytes; empty: none).  Ops with the same name apply
	 * once: the others get the first one's result (meta.h, "Retries"). */
	struct wfs_meta_bytes request;
	/* The client instance (mount) that asked, 0 for none: a mutation of
	 * a directory leased to another session fails with -EAGAIN (see
	 * DIR_LEASE).  On the wire (since format 8) for MKNOD, MKDIR,
	 * SYMLINK, LINK, UNLINK, RMDIR, RENAME, SETATTR, SETXATTR and
	 * REMOVEXATTR only; every other type ignores it (decode: 0). */
	uint64_t session;

	union {
		/* FORMAT */
		struct {
			uint32_t root_mode;	/* permission bits of / */
			uint32_t k, m, chunk_size; /* default policy (id 1) */
			struct wfs_meta_bytes cluster_id; /* at most ID_MAX */
		} format;

		/* MKNOD, MKDIR, SYMLINK: @mode includes the S_IF type bits
		 * for MKNOD (S_IFREG, S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK)
		 * and is the permission bits only for MKDIR and SYMLINK. */
		struct {
			uint64_t parent;
			struct wfs_meta_bytes name;
			uint32_t mode;
			uint64_t rdev;
			struct wfs_meta_bytes target;	/* SYMLINK only */
			/* MKNOD only (since format 8): the new inode's
			 * number, from a RESERVE_IDS of inode numbers; 0:
			 * the next one.  A number not yet reserved, or one
			 * an inode has, is -EINVAL. */
			uint64_t ino;
		} create;

		/* LINK: a new name @parent/@name for @ino. */
		struct {
			uint64_t ino;
			uint64_t parent;
			struct wfs_meta_bytes name;
		} link;

		/* UNLINK, RMDIR.  @purge_ino (UNLINK only): when the name
		 * leads to this inode and takes its last link, the inode is
		 * dropped at once, as PURGE would, instead of becoming an
		 * orphan; 0 never purges.  The proposer sets it only for an
		 * inode nobody has open, so no PURGE need follow. */
		struct {
			uint64_t parent;
			struct wfs_meta_bytes name;
			uint64_t purge_ino;
		} remove;

		struct {
			uint64_t parent, new_parent;
			struct wfs_meta_bytes name, new_name;
			uint32_t flags;		/* enum wfs_meta_rename_flags */
		} rename;

		struct {
			uint64_t ino;
			uint32_t flags;		/* enum wfs_meta_setattr_flags */
			uint32_t mode, uid, gid;
			uint64_t size;
			int64_t atime_ns, mtime_ns, ctime_ns;
		} setattr;

		/* SETXATTR, REMOVEXATTR (value unused) */
		struct {
			uint64_t ino;
			struct wfs_meta_bytes name, value;
			uint32_t flags;		/* enum wfs_meta_xattr_flags */
		} xattr;

		/* PURGE */
		struct {
			uint64_t ino;
		} purge;

		/* RESERVE_IDS: result.value is the first of @count new ids:
		 * stripe ids (@kind 0), or inode numbers for MKNOD's
		 * create.ino (@kind 1, since format 8) */
		struct {
			uint32_t count;
			uint32_t kind;	/* enum wfs_meta_reserve_kind */
		} reserve;

		/* DIR_LEASE (since format 8): @grant 1 gives directory @ino's
		 * lease to @session (non-zero; -EINVAL), unless another
		 * session holds it (-EAGAIN, with result.lease_dir and
		 * lease_session); the holder asking again is 0.  @grant 0
		 * takes it back from @session: result.value 1 if it held it,
		 * else 0, never an error.  A grant needs a directory
		 * (-ENOENT, -ENOTDIR).  While a session holds the lease,
		 * every op of another session (or none) that would change
		 * the directory (a create, link, unlink, rmdir or rename
		 * with it as a parent; SETATTR, SETXATTR, REMOVEXATTR of it;
		 * its own removal by RMDIR or by a RENAME over it) fails
		 * with -EAGAIN before changing anything.  A directory's
		 * lease goes with the directory.  @grant above 1 is
		 * -EINVAL. */
		struct {
			uint64_t ino;
			uint64_t session;
			uint32_t grant;
		} lease;

		/* STRIPE_COMMIT: stripe @sidx of file @ino (covering bytes
		 * [sidx * stripe span, ...)) is now @stripe_id, holding
		 * @length bytes of file data, kept as @kind with @k/@m and
		 * chunks of @chunk_size bytes at @chunks.  It applies only
		 * if the slot's current version is @expected_version (0: no
		 * stripe yet) and, unless @expected_length is
		 * WFS_META_LENGTH_ANY or the slot is empty, its length is
		 * @expected_length (a truncate shortens a stripe in place,
		 * keeping its version, and a rewrite built on the longer
		 * bytes would bring the cut ones back); else -ESTALE.  Ops
		 * of format version 1 decode with WFS_META_LENGTH_ANY.
		 * The new version is
		 * expected_version + 1 (result.value).  The file grows to
		 * @file_size if that is larger; mtime = ctime = op time.
		 * The chunks of the version it replaces go to garbage. */
		struct {
			uint64_t ino;
			uint64_t sidx;
			uint64_t stripe_id;
			uint64_t expected_version;
			uint32_t kind;		/* enum wfs_meta_stripe_kind */
			uint32_t k, m, chunk_size;
			uint32_t length;
			uint64_t file_size;
			uint32_t nchunks;
			const struct wfs_meta_chunk_loc *chunks;
			uint64_t expected_length;
		} stripe;

		/* CHUNK_SET: chunk @loc.index of @stripe_id now lives at
		 * @loc (or is marked missing).  The old location, if it
		 * differs, goes to garbage.
		 *
		 * A move (since format 6; older ops decode with both empty,
		 * which is the plain form above): when @from_disk is not
		 * empty, a copy of the chunk was made at @loc (state OK, a
		 * disk, not @from itself) while the chunk lived at
		 * (@from_node, @from_disk).  If it still lives there, it
		 * now lives at @loc and @from goes to garbage; if it lives
		 * at @loc already (the same move, retried), nothing
		 * changes; both are result.value 1.  Otherwise (it moved
		 * elsewhere, or the stripe was rewritten or dropped) the
		 * chunk stays where it is and the copy at @loc goes to
		 * garbage, since nothing will ever name it: result.value
		 * 0.  Either way the op succeeds, so a copy is never left
		 * unaccounted for.
		 *
		 * A move never makes live a place that waits for its
		 * collector: if @loc holds a garbage entry of this chunk,
		 * the chunk stays where it is (result.value 0; the entry
		 * stays, and the collector deletes the file).  Refused
		 * without a change: @loc.disk not a recorded disk of
		 * @loc.node (-EINVAL: a made-up target would leave the
		 * metadata naming nothing), a stripe id never used
		 * (-ENOENT). */
		struct {
			uint64_t stripe_id;
			struct wfs_meta_chunk_loc loc;
			struct wfs_meta_bytes from_node; /* at most ID_MAX */
			struct wfs_meta_bytes from_disk; /* at most ID_MAX */
		} chunk;

		struct {
			uint32_t nentries;
			const struct wfs_meta_gc_entry *entries;
		} gc;

		/* POLICY_SET: @id 0 allocates a new id (result.value) */
		struct {
			uint32_t id;
			struct wfs_meta_bytes name;	/* at most NAME_MAX */
			uint32_t k, m, chunk_size;
		} policy;

		/* DIR_POLICY: policy @policy_id (0: inherit) on dir @ino */
		struct {
			uint64_t ino;
			uint32_t policy_id;
		} dir_policy;

		/* NODE_SET, NODE_REMOVE (only @id used) */
		struct {
			struct wfs_meta_bytes id;	/* at most ID_MAX */
			struct wfs_meta_bytes name;	/* at most NAME_MAX */
			struct wfs_meta_bytes addr;	/* at most ADDR_MAX */
			uint32_t role, state;
		} node;

		/* DISK_SET: disk @id (at most ID_MAX) of node @node_id (at
		 * most ID_MAX) is at @path (at most PATH_MAX), with these
		 * figures and @state (opaque to the store: placement's
		 * online or offline, what the disk really is).  It never
		 * touches the disk's draining flag (DISK_DRAIN): a new disk
		 * is not draining, a known one stays as it was, so no
		 * report of its node, however late, undoes an operator's
		 * drain or undrain.
		 *
		 * @keep_state is on the wire since format 6 and means
		 * nothing since format 7 (writers leave it 0).  Format 6
		 * kept draining in @state (WFS_META_DISK_STATE_DRAINING_V6)
		 * and used @keep_state to protect it; the decoder turns
		 * those ops into what they meant (op.c, fill_defaults). */
		struct {
			struct wfs_meta_bytes id, node_id, path;
			uint64_t capacity, free;
			uint32_t state;
			uint32_t keep_state;
		} disk;

		/* DISK_DRAIN (since format 7): disk @id (at most ID_MAX)
		 * is being drained (@draining 1: placement puts nothing new
		 * on it and its node moves its chunks off) or not (0).  The
		 * disk must be recorded (-ENOENT); @draining above 1 is
		 * -EINVAL.  Only an operator's DiskDrain proposes it. */
		struct {
			struct wfs_meta_bytes id;
			uint32_t draining;
		} drain;

		/* SETTING_SET: setting @key (1..ID_MAX bytes of [a-z_])
		 * becomes @value (at most SETTING_MAX bytes) */
		struct {
			struct wfs_meta_bytes key, value;
		} setting;
	} u;
};

/* Encode @op into a new buffer.  On success *out is the buffer (release with
 * wfs_free) and *len its size.  Returns 0, -EINVAL if @op breaks a limit
 * above (unknown type, a byte string too long or with NULL data and a
 * non-zero length, too many chunks or gc entries, NULL chunks or entries
 * with a non-zero count), or -ENOMEM.  Only structure and sizes are checked:
 * what a name or value may contain is apply's business.  Whatever encode
 * accepts, decode accepts.  Any thread. */
int wfs_meta_op_encode(const struct wfs_meta_op *op, void **out, size_t *len);

/* Decode @len bytes at @buf into *op.  Byte strings in *op point into @buf
 * itself (nothing is copied), so @buf must outlive the op; a decoded empty
 * string has a non-NULL data pointer.  Arrays (stripe chunks, gc entries,
 * when there is at least one) are allocated and must be released with
 * wfs_meta_op_release(); no other allocation is made.  Never trusts the
 * input: returns 0, -EPROTO for anything malformed (wrong types, trailing
 * bytes, a limit broken, an unknown op or format version), or -ENOMEM.  On
 * failure *op is zeroed and holds nothing to release.  Any thread. */
int wfs_meta_op_decode(const void *buf, size_t len, struct wfs_meta_op *op);

/* Release what wfs_meta_op_decode allocated and zero *op; a zeroed op is a
 * no-op.  Only for decoded ops: an op built by a caller owns nothing. */
void wfs_meta_op_release(struct wfs_meta_op *op);

/* The op type's name ("mknod", "stripe_commit"), or "unknown". */
const char *wfs_meta_op_name(uint32_t type);

#endif
