/* client: the WormFS client library, what the FUSE mount (wormfs) and the
 * admin CLI (wormctl put/get) are built on.
 *
 * A struct wfs_client talks to a cluster through a list of nodes.  Metadata
 * calls go to one node (any node forwards to the metadata master); while
 * the cluster cannot answer (an election, a node restarting) a call is
 * retried with backoff up to a deadline before failing with -EIO, and every
 * other error comes back exactly as the metadata layer gave it: the errno a
 * local file system would give.
 *
 * File data never goes through the metadata node: a struct wfs_file buffers
 * writes per stripe (k x chunk_size bytes of the file's policy), encodes a
 * full stripe with ISA-L, writes its k + m chunks to their nodes in
 * parallel and commits the stripe; a stripe that is not full when the file
 * is flushed (a small file, a tail, an fsync in mid-stripe) is written as
 * m + 1 replicas and rewritten as EC once it fills.  Reads fetch the chunks
 * they need in parallel, check each chunk's CRC32C end to end, rebuild
 * missing or corrupt chunks from the others, and read ahead on sequential
 * access.  All open files of one inode in one client share its buffers, so
 * a read sees data written through another descriptor before it is
 * flushed.  Consistency between clients is close-to-open: opening fetches
 * fresh attributes and layout, flushing (close) commits everything.
 *
 * Threads: every function may be called from any thread, concurrently,
 * unless its comment says otherwise; they block on the network.  Errors are
 * negative errno values.  Names are NUL-terminated strings (POSIX names:
 * any byte but '/' and NUL).
 */
#ifndef WFS_CLIENT_CLIENT_H
#define WFS_CLIENT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <protobuf-c/protobuf-c.h>

struct wfs_client;
struct wfs_file;
struct wfs_dirpage;
struct wfs_attr;

/* Receives the attributes of directory @dir as a namespace change made
 * through this client left it: the parent of a create, mknod, mkdir,
 * symlink, link, unlink or rmdir, both directories of a rename, straight
 * from the call's reply (a mount may answer the kernel's next getattr of
 * the directory with them).  Runs on the calling thread, before the call
 * returns (for an unlink or create in the background: on the thread
 * applying it); it must not call the client. */
typedef void (*wfs_client_dir_cb)(void *arg, const struct wfs_attr *dir);

/* How a client is set up; zero fields take the defaults. */
struct wfs_client_opts {
	const char *nodes;	/* "host:port[,host:port...]": storaged API
				 * addresses; required */
	int64_t retry_ms;	/* how long metadata calls retry while the
				 * cluster cannot answer (default 60000) */
	int64_t call_ms;	/* deadline of one call (default 15000) */
	unsigned io_threads;	/* parallel chunk calls (default 24) */
	unsigned stripe_threads; /* stripes flushed or read ahead at once,
				 * over all files (default 8) */
	unsigned stripes_in_flight; /* per file: full stripes being written
				 * while more are buffered (default 4) */
	unsigned cache_stripes;	/* per open file: clean stripes kept for
				 * reads (default 8) */
	unsigned readahead;	/* stripes read ahead on sequential reads
				 * (default 2; 0 is the default, use
				 * WFS_CLIENT_NO_READAHEAD for none) */
	unsigned statahead_ms;	/* lookups walking a directory are
				 * answered from pages of it read ahead,
				 * kept this long (0, the default: no
				 * read-ahead; client/statahead_internal.h) */
	unsigned dirnames_ms;	/* lookups of names a directory lacks are
				 * answered from a list of its names, at
				 * most this old (0, the default: every
				 * lookup asks the node; the caller must
				 * check search permission itself;
				 * client/dirnames_internal.h) */
	bool early_creates;	/* answer a create before it is applied when
				 * this client holds its directory's lease
				 * (client/behind_internal.h; false, the
				 * default: every create is applied first,
				 * and no lease is ever asked for) */
	wfs_client_dir_cb dir_attr; /* may be NULL */
	void *dir_attr_arg;	/* for dir_attr; must outlive the client */
};

#define WFS_CLIENT_NO_READAHEAD 0xffffffffu

/* Who is asking (a FUSE request's process): permission checks and the
 * owner of what is created. */
#define WFS_CRED_GROUPS_MAX 64
struct wfs_cred {
	uint32_t uid, gid, pid;
	uint32_t umask;		/* applied by the node to created modes */
	uint32_t ngroups;	/* supplementary groups in groups[] */
	uint32_t groups[WFS_CRED_GROUPS_MAX];
};

/* An inode's attributes (proto Attr). */
struct wfs_attr {
	uint64_t ino;
	uint32_t mode;		/* S_IF type and permission bits */
	uint32_t nlink, uid, gid;
	uint64_t size;		/* bytes; includes data buffered here */
	uint64_t bytes;		/* bytes held in stripes, for st_blocks */
	uint64_t rdev;
	int64_t atime_ns, mtime_ns, ctime_ns, btime_ns;
	uint64_t generation;	/* tells apart inodes that reuse a number */
	uint32_t policy_id;
	uint32_t blksize;	/* preferred I/O size: the stripe span */
};

/* Which fields of struct wfs_setattr apply (proto SetAttrField values). */
enum wfs_setattr_flags {
	WFS_SET_MODE = 1 << 0,	/* permission bits only */
	WFS_SET_UID = 1 << 1,
	WFS_SET_GID = 1 << 2,
	WFS_SET_SIZE = 1 << 3,	/* truncate or extend */
	WFS_SET_ATIME = 1 << 4,
	WFS_SET_MTIME = 1 << 5,
	WFS_SET_CTIME = 1 << 6,
	WFS_SET_ATIME_NOW = 1 << 7, /* the node's clock, not atime_ns */
	WFS_SET_MTIME_NOW = 1 << 8,
};

struct wfs_setattr {
	uint32_t valid;		/* enum wfs_setattr_flags */
	uint32_t mode, uid, gid;
	uint64_t size;
	int64_t atime_ns, mtime_ns, ctime_ns;
};

/* One directory entry of a struct wfs_dirpage. */
struct wfs_dirent {
	const char *name;	/* NUL-terminated */
	uint64_t ino;
	uint32_t mode;		/* type and permission bits */
	uint64_t cookie;	/* list on after this entry with it (>= 3) */
	const struct wfs_attr *attr; /* with readdirplus, else NULL */
};

struct wfs_statfs {
	uint32_t bsize, frsize;
	uint64_t blocks, bfree, bavail;	/* in frsize units */
	uint64_t files, ffree;
	uint32_t namemax;
};

/* Locks (proto LockKind, LockType, LockOp values). */
enum wfs_lock_kind { WFS_LOCK_POSIX = 0, WFS_LOCK_FLOCK = 1 };
enum wfs_lock_type { WFS_LOCK_UNLOCK = 0, WFS_LOCK_READ = 1, WFS_LOCK_WRITE = 2 };
enum wfs_lock_op {
	WFS_LOCK_SET = 0,	/* take or release; -EAGAIN on conflict */
	WFS_LOCK_SET_WAIT = 1,	/* take, waiting up to one call deadline:
				 * -ETIMEDOUT then, and the caller asks
				 * again (or gives up if interrupted) */
	WFS_LOCK_GET = 2,	/* the first conflicting lock, if any */
};

struct wfs_lock {
	uint32_t kind;		/* enum wfs_lock_kind */
	uint32_t type;		/* enum wfs_lock_type */
	uint64_t start, end;	/* bytes, end inclusive (UINT64_MAX: EOF) */
	uint64_t owner;		/* the lock owner (FUSE's lock_owner) */
	uint32_t pid;		/* GET: the holder's pid */
};

/* Stripe layouts, as wfs_client_layout reports them. */
#define WFS_STRIPE_EC 1
#define WFS_STRIPE_REPLICA 2

struct wfs_chunk_info {
	uint32_t index;		/* chunk index in the stripe */
	bool missing;		/* not written or lost: waiting for repair */
	const uint8_t *node_id;
	size_t node_id_len;
	const uint8_t *disk_id;
	size_t disk_id_len;
	const char *node_addr;	/* host:port of the node's API */
};

struct wfs_stripe_info {
	uint64_t sidx;		/* stripe index: bytes [sidx * span, +length) */
	uint64_t stripe_id, version;
	uint32_t kind;		/* WFS_STRIPE_EC or WFS_STRIPE_REPLICA */
	uint32_t k, m, chunk_size, length;
	unsigned nchunks;
	const struct wfs_chunk_info *chunks;
};

/* Receives one stripe; pointers are valid during the call only.  Return 0
 * to go on, 1 to stop, or a negative errno to stop and fail with it. */
typedef int (*wfs_client_stripe_cb)(const struct wfs_stripe_info *s,
				    void *arg);

/* ---- the client ---- */

/* Create a client of the nodes in @opts (copied).  Connecting is lazy: an
 * unreachable cluster shows at the first call (see wfs_client_ping).  On
 * success *out is the new client; release it with wfs_client_free.  Starts
 * the client's threads: in a program that forks (daemonizes), create it
 * after the fork.  Returns 0, -EINVAL (no or malformed node list), -ENOMEM,
 * or the error starting a thread. */
int wfs_client_new(const struct wfs_client_opts *opts,
		   struct wfs_client **out);

/* Flush every open file, then release the client.  No call may be running
 * or follow; files still open are closed (their errors logged).  NULL is a
 * no-op. */
void wfs_client_free(struct wfs_client *c);

/* This client's random id (16 bytes), which the nodes see in locks and
 * releases. */
const uint8_t *wfs_client_id(const struct wfs_client *c, size_t *len);

/* Check that the cluster answers: a statfs of the root, retried like every
 * metadata call.  Returns 0 or the error. */
int wfs_client_ping(struct wfs_client *c, const struct wfs_cred *cred);

/* Call a Meta or Admin method of the cluster with the client's retry
 * policy: @method is its full name ("/wormfs.Admin/Status"), @req a
 * protobuf-c message (borrowed), and on success *resp a new @resp_desc
 * message (free it with wfs_client_msg_free).  For calls this header does
 * not wrap. */
int wfs_client_call(struct wfs_client *c, const char *method,
		    const ProtobufCMessage *req,
		    const ProtobufCMessageDescriptor *resp_desc,
		    ProtobufCMessage **resp);

/* Release a message from wfs_client_call; NULL is a no-op. */
void wfs_client_msg_free(ProtobufCMessage *msg);

/* ---- names and attributes ---- */

/* Find @name in directory @parent ("." and ".." work).  Returns 0 and
 * *attr, or -ENOENT, -ENOTDIR, -ENAMETOOLONG, ... */
int wfs_client_lookup(struct wfs_client *c, const struct wfs_cred *cred,
		      uint64_t parent, const char *name,
		      struct wfs_attr *attr);

/* Attributes of @ino; when this client has it open, size and times include
 * the data buffered here. */
int wfs_client_getattr(struct wfs_client *c, const struct wfs_cred *cred,
		       uint64_t ino, struct wfs_attr *attr);

/* Change attributes; *attr (may be NULL) gets the result.  A size change of
 * a file open here flushes its buffers first and drops what lies past the
 * new size (as wfs_file_truncate). */
int wfs_client_setattr(struct wfs_client *c, const struct wfs_cred *cred,
		       uint64_t ino, const struct wfs_setattr *set,
		       struct wfs_attr *attr);

/* Make a regular file, fifo, socket or device node (@mode has the type). */
int wfs_client_mknod(struct wfs_client *c, const struct wfs_cred *cred,
		     uint64_t parent, const char *name, uint32_t mode,
		     uint64_t rdev, struct wfs_attr *attr);

int wfs_client_mkdir(struct wfs_client *c, const struct wfs_cred *cred,
		     uint64_t parent, const char *name, uint32_t mode,
		     struct wfs_attr *attr);

int wfs_client_symlink(struct wfs_client *c, const struct wfs_cred *cred,
		       uint64_t parent, const char *name, const char *target,
		       struct wfs_attr *attr);

/* Add the name @new_parent/@new_name for @ino. */
int wfs_client_link(struct wfs_client *c, const struct wfs_cred *cred,
		    uint64_t ino, uint64_t new_parent, const char *new_name,
		    struct wfs_attr *attr);

/* Remove a non-directory (unlink) or an empty directory (rmdir).  On
 * success *ino (may be NULL) is the inode the name led to and *nlink its
 * links left: at 0 it lives on while open, until wfs_client_forget.  An
 * unlinked file this client does not have open is purged in the same step
 * instead: then *ino is 0 (nothing is left to forget) and *nlink 0. */
int wfs_client_unlink(struct wfs_client *c, const struct wfs_cred *cred,
		      uint64_t parent, const char *name, uint64_t *ino,
		      uint32_t *nlink);
int wfs_client_rmdir(struct wfs_client *c, const struct wfs_cred *cred,
		     uint64_t parent, const char *name, uint64_t *ino,
		     uint32_t *nlink);

/* Receives the outcome of an unlink queued by wfs_client_unlink_behind:
 * @rc 0 with @ino and @nlink as wfs_client_unlink gives them (both 0 when
 * the name was already gone), or the error it met (logged, and reported by
 * wfs_client_settle).  Runs on a client thread, or in the caller when the
 * unlink was applied before the answer; it may call the client, and those
 * calls do not wait for other queued unlinks. */
typedef void (*wfs_client_unlinked_cb)(void *arg, int rc, uint64_t ino,
				       uint32_t nlink);

/* Unlink in the background: returns 0 once the unlink is queued, before
 * the cluster has applied it; every later metadata call of this client is
 * applied after it (client/behind_internal.h).  Meant for a caller that
 * has already checked what the node would (the kernel with
 * default_permissions: the entry exists, is no directory, may be removed
 * by the caller).  A name another client removed first counts as removed.
 * The removal is durable once wfs_client_settle returns.  While the
 * cluster is slow to apply queued unlinks (the oldest waited over a
 * second), the unlink is applied before this returns, with its result.
 * Returns 0, or -ENAMETOOLONG or -ENOMEM with nothing queued.  @done may
 * be NULL. */
int wfs_client_unlink_behind(struct wfs_client *c,
			     const struct wfs_cred *cred, uint64_t parent,
			     const char *name, wfs_client_unlinked_cb done,
			     void *arg);

/* Whether unlinks or creates queued in directory @dir are not yet
 * applied (its attributes on the node lag what this client did). */
bool wfs_client_unlinking(struct wfs_client *c, uint64_t dir);

/* Wait until every unlink and create queued so far is applied (and each
 * unlink's callback done).  Returns 0, or -EIO when one of them, answered
 * before it was applied, failed since the last settle (logged with its
 * directory, name and error). */
int wfs_client_settle(struct wfs_client *c);

/* Rename, with @flags 0, RENAME_NOREPLACE or RENAME_EXCHANGE (Linux
 * values).  On success *moved (may be NULL) is the inode that moved,
 * *replaced (may be NULL) the inode new_name led to before (0 if none) and
 * *replaced_nlink its links left. */
int wfs_client_rename(struct wfs_client *c, const struct wfs_cred *cred,
		      uint64_t parent, const char *name, uint64_t new_parent,
		      const char *new_name, uint32_t flags, uint64_t *moved,
		      uint64_t *replaced, uint32_t *replaced_nlink);

/* The target of symlink @ino into @buf (NUL-terminated).  Returns its
 * length, -ERANGE if @size is too small, -EINVAL if not a symlink. */
int wfs_client_readlink(struct wfs_client *c, const struct wfs_cred *cred,
			uint64_t ino, char *buf, size_t size);

/* Tell the cluster this client is done with @ino, whose last name is gone:
 * it purges the inode once no client needs it.  Returns 0 or an error. */
int wfs_client_forget(struct wfs_client *c, const struct wfs_cred *cred,
		      uint64_t ino);

int wfs_client_statfs(struct wfs_client *c, const struct wfs_cred *cred,
		      uint64_t ino, struct wfs_statfs *st);

/* One page of directory @ino: up to @limit entries after @cookie (0: from
 * the start; "." and ".." are not entries), with attributes when @plus.
 * On success *out is a new page (free with wfs_dirpage_free). */
int wfs_client_readdir(struct wfs_client *c, const struct wfs_cred *cred,
		       uint64_t ino, uint64_t cookie, unsigned limit,
		       bool plus, struct wfs_dirpage **out);
unsigned wfs_dirpage_count(const struct wfs_dirpage *p);
const struct wfs_dirent *wfs_dirpage_entry(const struct wfs_dirpage *p,
					   unsigned i);
bool wfs_dirpage_eof(const struct wfs_dirpage *p); /* nothing follows */
void wfs_dirpage_free(struct wfs_dirpage *p);

/* ---- extended attributes ---- */

/* The value of xattr @name: copied into @buf when @size > 0.  Returns its
 * length (with @size 0: only the length), -ERANGE when it does not fit,
 * -ENODATA when there is no such xattr. */
int wfs_client_getxattr(struct wfs_client *c, const struct wfs_cred *cred,
			uint64_t ino, const char *name, void *buf,
			size_t size);

/* Set xattr @name; @flags 0, XATTR_CREATE or XATTR_REPLACE. */
int wfs_client_setxattr(struct wfs_client *c, const struct wfs_cred *cred,
			uint64_t ino, const char *name, const void *value,
			size_t size, int flags);

/* The NUL-separated list of names, as listxattr(2): returns its length
 * (with @size 0: only the length) or -ERANGE. */
int wfs_client_listxattr(struct wfs_client *c, const struct wfs_cred *cred,
			 uint64_t ino, char *buf, size_t size);

int wfs_client_removexattr(struct wfs_client *c, const struct wfs_cred *cred,
			   uint64_t ino, const char *name);

/* ---- locks ---- */

/* Take, release or test a lock on @ino for lk->owner of this client (see
 * enum wfs_lock_op).  GET fills *lk with the conflicting lock, or type
 * WFS_LOCK_UNLOCK when none.  Returns 0, -EAGAIN (SET: conflict),
 * -ETIMEDOUT (SET_WAIT: still waiting), -EDEADLK, or another error. */
int wfs_client_lock(struct wfs_client *c, const struct wfs_cred *cred,
		    uint64_t ino, enum wfs_lock_op op, struct wfs_lock *lk);

/* ---- layout ---- */

/* Report the stripes of file @ino from stripe index @from on, in order
 * (holes are absent), to @cb; *attr (may be NULL) gets the attributes the
 * first page came with.  Data buffered here is not included.  Returns 0,
 * the callback's error, or the call's. */
int wfs_client_layout(struct wfs_client *c, const struct wfs_cred *cred,
		      uint64_t ino, uint64_t from, wfs_client_stripe_cb cb,
		      void *arg, struct wfs_attr *attr);

/* ---- files ---- */

/* Beside open(2)'s flags, for wfs_file_open: the caller's cache (the
 * kernel's pages) likely holds the file's bytes already, so an open for
 * reading does not fetch a small file's bytes with its layout. */
#define WFS_O_CACHED 0x40000000

/* Open file @ino with open(2) @flags (O_ACCMODE, O_TRUNC, O_APPEND are
 * used) and WFS_O_CACHED.  Fetches fresh attributes and the start of the
 * layout (close-to-open), and for reading, unless WFS_O_CACHED, the bytes
 * of a small file held by the node answering; O_TRUNC truncates to 0.  On
 * success *f is a new handle (release with wfs_file_close) and *attr (may
 * be NULL) the attributes.  Returns 0, -EISDIR, -EINVAL (not a regular
 * file), or the call's error. */
int wfs_file_open(struct wfs_client *c, const struct wfs_cred *cred,
		  uint64_t ino, int flags, struct wfs_attr *attr,
		  struct wfs_file **f);

/* Create and open @name in @parent (open(2) with O_CREAT: O_EXCL fails on
 * an existing name, O_TRUNC truncates one).  *created (may be NULL) says
 * whether the file is new.  With opts.early_creates the file may be made
 * after this returns, as a queued unlink is removed
 * (client/behind_internal.h): every later call of this client comes
 * after it, and wfs_client_settle reports its failure.  Returns 0,
 * -EEXIST, -EISDIR, or the call's error. */
int wfs_file_create(struct wfs_client *c, const struct wfs_cred *cred,
		    uint64_t parent, const char *name, uint32_t mode,
		    int flags, struct wfs_attr *attr, bool *created,
		    struct wfs_file **f);

/* Write-at-end offset for wfs_file_write. */
#define WFS_FILE_END UINT64_MAX

/* Read up to @len bytes at @off into @buf.  Returns the bytes read (0 at
 * or past the end), or an error. */
ssize_t wfs_file_read(struct wfs_file *f, void *buf, size_t len,
		      uint64_t off);

/* Write @len bytes at @off (WFS_FILE_END: at the end of the file) into the
 * write-back buffers; full stripes are written out in the background.
 * Returns @len, or an error, including one left by an earlier background
 * write of this file (reported once). */
ssize_t wfs_file_write(struct wfs_file *f, const void *buf, size_t len,
		       uint64_t off);

/* Truncate or extend to @size: buffered data is flushed, then the size is
 * set; *attr (may be NULL) gets the result. */
int wfs_file_truncate(struct wfs_file *f, const struct wfs_cred *cred,
		      uint64_t size, struct wfs_attr *attr);

/* Commit every buffered byte of the file (partial stripes as replicas) and
 * wait.  Returns 0 or the first error since the last flush. */
int wfs_file_flush(struct wfs_file *f);

/* wfs_client_settle, then wfs_file_flush: once it returns, the file and
 * what it holds are durable.  Returns the flush's error, else the
 * settle's. */
int wfs_file_fsync(struct wfs_file *f, bool datasync);

/* The file's attributes as this client sees them (no call). */
void wfs_file_getattr(struct wfs_file *f, struct wfs_attr *attr);

/* The inode of @f. */
uint64_t wfs_file_ino(const struct wfs_file *f);

/* Flush and release @f.  Returns the flush's error (the handle is released
 * anyway).  NULL is a no-op returning 0. */
int wfs_file_close(struct wfs_file *f);

#endif
