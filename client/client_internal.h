/* client_internal: what the files of client/ share: the client object, the
 * nodes it talks to, metadata calls with retries, the per-file layout
 * cache, and conversions from the proto messages.  Only for client/.
 */
#ifndef WFS_CLIENT_CLIENT_INTERNAL_H
#define WFS_CLIENT_CLIENT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "client/behind_internal.h"
#include "client/client.h"
#include "client/dirnames_internal.h"
#include "client/geom_internal.h"
#include "client/leases_internal.h"
#include "client/pool_internal.h"
#include "client/statahead_internal.h"
#include "client/stripe_internal.h"
#include "erasure/codec.h"
#include "proto/wormfs.pb-c.h"
#include "rpc/rpc.h"

/* Method names ("/wormfs.<Service>/<Method>", proto/wormfs.proto). */
#define WFS_M_META(name) "/wormfs.Meta/" name
#define WFS_M_CHUNK(name) "/wormfs.Chunk/" name

/* The span used when a file's attributes do not say (blksize 0): the
 * default policy's 4 x 1 MiB. */
#define WFS_DEFAULT_SPAN (4u << 20)

/* A node of the cluster, interned by (id, address): one per node for the
 * client's lifetime, so layouts can point at it. */
struct wfs_node {
	struct wfs_node *next;	/* in the client's list; protected by
				 * c->nodes_lock, immutable once linked */
	char *addr;		/* host:port of its API */
	uint8_t id_len;
	uint8_t id[WFS_ID_MAX];	/* empty for the nodes given at start */
	struct wfs_rpc_client *rpc;
};

struct cinode;

/* Small-file copies kept between an open's GetLayout and the first read
 * (Stripe.first_copy): at most this many, of at most FIRST_COPY_MAX bytes
 * each.  A copy not read by the time WFS_FIRST_COPIES others came in is
 * dropped. */
#define WFS_FIRST_COPIES 16
#define WFS_FIRST_COPY_MAX (64u << 10)

struct wfs_client {
	struct wfs_client_opts opts;	/* defaults filled in; nodes copied */
	char *nodes_str;
	struct wfs_node **meta;		/* the nodes given at start */
	unsigned nmeta;
	atomic_uint meta_cur;		/* the one metadata calls go to */
	atomic_bool master_sought;	/* meta_cur was pointed at the master
					 * since the last failure */

	pthread_mutex_t nodes_lock;
	struct wfs_node *nodes;		/* protected by nodes_lock */

	struct wfs_pool *io_pool;	/* chunk calls */
	struct wfs_pool *stripe_pool;	/* stripe flushes and readahead */
	struct wfs_chunk_io io;		/* chunk calls over rpc (chunkio.c) */

	pthread_mutex_t codec_lock;
	struct wfs_ec *codecs[WFS_EC_MAX_K + 1][WFS_EC_MAX_M + 1];

	pthread_mutex_t itab_lock;
	struct cinode **itab;		/* open inodes by ino; itab_lock */
	unsigned itab_size, nopen;

	/* Chunk bytes that came with a layout (chunkio.c), a ring. */
	pthread_mutex_t copies_lock;
	struct wfs_first_copy {
		uint64_t stripe_id, version;
		uint32_t index;
		struct wfs_chunk_hdr hdr;
		void *data;		/* NULL: the slot is free */
		size_t len;
	} copies[WFS_FIRST_COPIES];
	unsigned copies_next;

	struct wfs_statahead *sa;	/* NULL: no read-ahead of names */
	struct wfs_dirnames *dn;	/* NULL: every lookup asks the node */
	struct wfs_behind *behind;	/* unlinks and creates in the
					 * background */
	struct wfs_leases *leases;	/* NULL: no early creates */

	uint8_t id[16];			/* random client id */
	uint64_t session;		/* random, non-zero: Caller.session of
					 * every call, which the nodes tell
					 * directory leases apart by */
	char id_hex[2 * 16 + 1];	/* the same in hex, for request ids */
	atomic_uint_fast64_t req_seq;	/* the last request number used */
};

/* CLOCK_MONOTONIC in milliseconds: deadlines, back-off and ages. */
static inline int64_t wfs_client_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* @name in @dir was made, removed or replaced through this client: names
 * read ahead that it made stale go (client/statahead_internal.h), it goes
 * on the directory's list of names (client/dirnames_internal.h), and a
 * proof that it is absent goes (client/leases_internal.h).  Call after the
 * change's call returned (or once queued), whatever its outcome, and
 * before the change returns to its caller. */
static inline void wfs_name_changed(struct wfs_client *c, uint64_t dir,
				    const char *name)
{
	if (c->sa)
		wfs_statahead_forget_name(c->sa, dir, name);
	if (c->dn)
		wfs_dirnames_add(c->dn, dir, name);
	wfs_leases_name_changed(c->leases, dir, name);
}

static inline void wfs_sa_forget_ino(struct wfs_client *c, uint64_t ino)
{
	if (c->sa)
		wfs_statahead_forget_ino(c->sa, ino);
}

/* Flags of wfs_meta_call. */
enum wfs_call_flags {
	WFS_CALL_EAGAIN_FINAL = 1 << 0,	 /* -EAGAIN is an answer (locks) */
	WFS_CALL_TIMEOUT_FINAL = 1 << 1, /* so is -ETIMEDOUT */
	WFS_CALL_LONG = 1 << 2,		 /* a call that may wait (a lock) */
	WFS_CALL_BEHIND = 1 << 3,	 /* a background unlink or create:
					  * does not wait for the others
					  * (behind.c) */
	WFS_CALL_WAITED = 1 << 4,	 /* the caller waited for the queued
					  * operations that matter to it */
};

/* Call metadata method @method with @req; on success *resp is a new
 * @desc message (wfs_rpc_msg_free).  While the cluster cannot answer
 * (-ENOTCONN, -ETIMEDOUT, -EAGAIN unless @flags make them answers) it tries
 * the next node and retries with backoff until opts.retry_ms have passed,
 * then fails with -EIO.  Other errors are returned as they came.  Unless
 * @flags has WFS_CALL_BEHIND or WFS_CALL_WAITED, it first waits for the
 * unlinks and creates queued in the background before it
 * (behind_internal.h). */
int wfs_meta_call(struct wfs_client *c, const char *method,
		  const ProtobufCMessage *req,
		  const ProtobufCMessageDescriptor *desc,
		  ProtobufCMessage **resp, unsigned flags);

/* wfs_client_unlink with @flags for wfs_meta_call. */
int wfs_meta_unlink(struct wfs_client *c, const struct wfs_cred *cred,
		    uint64_t parent, const char *name, unsigned flags,
		    uint64_t *ino, uint32_t *nlink);

/* One unlink of wfs_meta_unlink_many: what to remove, then its outcome
 * (rc, and as wfs_client_unlink gives them: ino, nlink). */
struct wfs_unlink_item {
	const struct wfs_cred *cred;
	uint64_t parent;
	const char *name;
	int rc;
	uint64_t ino;
	uint32_t nlink;
};

#define WFS_UNLINK_MANY_MAX 256

/* Unlink @n (1..WFS_UNLINK_MANY_MAX) names in one call (UnlinkMany), with
 * @flags for wfs_meta_call.  Returns 0 with each item's outcome set, or
 * the call's error with none known (-EOPNOTSUPP: the node predates
 * UnlinkMany). */
int wfs_meta_unlink_many(struct wfs_client *c, struct wfs_unlink_item *items,
			 unsigned n, unsigned flags);

/* One create of wfs_meta_create_many: what to make (a regular file
 * @parent/@name, number @ino from ReserveInos, permission bits @mode,
 * times @time_ns), then its outcome: rc, and when 0 the attributes the
 * node gave it. */
struct wfs_create_item {
	const struct wfs_cred *cred;
	uint64_t parent;
	const char *name;
	uint32_t mode;
	uint64_t ino;
	int64_t time_ns;
	int rc;
	struct wfs_attr attr;
};

#define WFS_CREATE_MANY_MAX 256

/* Make @n (1..WFS_CREATE_MANY_MAX) files in one call (CreateMany), each
 * with O_EXCL, with @flags for wfs_meta_call.  Returns 0 with each item's
 * outcome set and, in @recalled (room for @n), the *nrecalled directories
 * whose lease this session holds and another client waits for; or the
 * call's error with no outcome known. */
int wfs_meta_create_many(struct wfs_client *c, struct wfs_create_item *items,
			 unsigned n, unsigned flags, uint64_t *recalled,
			 unsigned *nrecalled);

/* Ask for directory @dir's lease for this client's session as @cred, or
 * give it back (@release).  On success *held says whether the session
 * holds it now and *recalled whether another client waits for it.  Does
 * not wait for queued operations (WFS_CALL_WAITED).  Returns 0 or the
 * call's error (-EOPNOTSUPP: the node predates leases). */
int wfs_meta_lease(struct wfs_client *c, const struct wfs_cred *cred,
		   uint64_t dir, bool release, bool *held, bool *recalled);

/* Reserve up to @count inode numbers for creates: on success [*first,
 * *first + *n), *n >= 1.  Does not wait for queued operations.  Returns 0
 * or the call's error. */
int wfs_meta_reserve_inos(struct wfs_client *c, uint32_t count,
			  uint64_t *first, uint32_t *n);

/* Read @dir's list of names (client/dirnames) anew, as @cred, if one is
 * held whose last complete reading started before @since_ns
 * (CLOCK_MONOTONIC): what a new lease of @dir needs before the list can
 * prove a name absent (client/leases_internal.h).  Waits for the queued
 * operations, as any listing.  Returns 1 when it read, 0 when there was
 * nothing to read, -EBUSY when a reading that started before @since_ns is
 * under way (ask again later). */
int wfs_meta_relist(struct wfs_client *c, const struct wfs_cred *cred,
		    uint64_t dir, int64_t since_ns);

/* Point @pb (initialized) at @cred's fields and set c->session; @cred
 * must outlive @pb's use. */
void wfs_caller_fill(const struct wfs_client *c, Wormfs__Caller *pb,
		     const struct wfs_cred *cred);

/* The node with @id (may be empty) and @addr, interned; NULL when out of
 * memory or when @addr is empty. */
struct wfs_node *wfs_client_node(struct wfs_client *c, const uint8_t *id,
				 size_t id_len, const char *addr);

/* The codec for k + m, created on first use; NULL for invalid k or m or
 * out of memory. */
struct wfs_ec *wfs_client_codec(struct wfs_client *c, unsigned k,
				unsigned m);

/* SetAttr exactly as @set says, with no regard to files open here. */
int wfs_meta_setattr(struct wfs_client *c, const struct wfs_cred *cred,
		     uint64_t ino, const struct wfs_setattr *set,
		     struct wfs_attr *attr);

void wfs_attr_from_pb(struct wfs_attr *a, const Wormfs__Attr *pb);

/* A stripe of a reply as a struct wfs_lstripe (nodes interned); NULL when
 * out of memory.  Chunks are placed by index; absent ones are missing. */
struct wfs_lstripe *wfs_lstripe_from_pb(struct wfs_client *c,
					const Wormfs__Stripe *pb);

/* The chunk calls over rpc/ (chunkio.c), for c->io. */
void wfs_chunkio_init(struct wfs_client *c, struct wfs_chunk_io *io);

/* Keep the first copy a GetLayout reply brought for stripe @pb, if any, for
 * the chunk read that will ask for it (which then makes no call).  The
 * read checks it as it checks what a node sends.  Any thread. */
void wfs_first_copy_keep(struct wfs_client *c, const Wormfs__Stripe *pb);

/* Drop every kept copy (at teardown). */
void wfs_first_copies_release(struct wfs_client *c);

/* ---- layout cache (layout.c), one per open inode, under its lock ---- */

/* What is known of a file's stripes: the stripes fetched (sorted by sidx)
 * and which stripe indexes have been fetched, holes included. */
struct wfs_layout {
	struct wfs_lstripe **v;	/* n stripes, owned, by sidx */
	unsigned n, cap;
	struct wfs_ranges known; /* sidx ranges fetched */
};

void wfs_layout_release(struct wfs_layout *l);

/* Forget everything (the next lookups fetch again). */
void wfs_layout_clear(struct wfs_layout *l);

/* Stripe @sidx: returns true with *s the stripe (NULL: a hole) when known,
 * false when it must be fetched.  *s is valid until the layout changes. */
bool wfs_layout_find(const struct wfs_layout *l, uint64_t sidx,
		     const struct wfs_lstripe **s);

/* Record stripe @s (ownership taken, also on failure), replacing an older
 * version of its slot; a newer one already there wins and @s is freed.
 * Returns 0 or -ENOMEM. */
int wfs_layout_put(struct wfs_layout *l, struct wfs_lstripe *s);

/* Record a fetched page: stripes @s[0..n) (ownership taken, also on
 * failure) and that [from, to) is now known.  Returns 0 or -ENOMEM. */
int wfs_layout_merge(struct wfs_layout *l, uint64_t from, uint64_t to,
		     struct wfs_lstripe **s, unsigned n);

/* The file was truncated to @size: drop stripes at or past it and shorten
 * the one it cuts. */
void wfs_layout_truncate(struct wfs_layout *l, uint64_t size, uint64_t span);

/* Fetch the stripes of @ino from @from on (at most @limit): on success
 * *s (wfs_free each and the array) holds *n stripes, [from, *to) is what
 * the reply covers, and *attr (may be NULL) the file's attributes.  With
 * @copy_max, the first copies of small replica stripes (up to that many
 * bytes) come too and are kept for the reads (wfs_first_copy_keep). */
int wfs_layout_fetch(struct wfs_client *c, const struct wfs_cred *cred,
		     uint64_t ino, uint64_t from, unsigned limit,
		     uint32_t copy_max, struct wfs_lstripe ***s, unsigned *n,
		     uint64_t *to, struct wfs_attr *attr);

/* ---- open inodes (file.c) ---- */

/* SetAttr of inode @ino when it is open here: buffered data is committed
 * first (so that its commit does not undo an explicit mtime, and a
 * truncation cuts what was written before it), then the attributes are
 * set; a size change drops what lies past the new size.  Returns 1 when
 * @ino is not open here (the caller does a plain SetAttr), else 0 or an
 * error. */
int wfs_file_setattr(struct wfs_client *c, const struct wfs_cred *cred,
		     uint64_t ino, const struct wfs_setattr *set,
		     struct wfs_attr *attr);

/* Merge what this client knows of open inode @a->ino (buffered size and
 * times) into @a, fresh from the server; drops cached data when the server
 * shows someone else changed the file. */
void wfs_file_merge_attr(struct wfs_client *c, struct wfs_attr *a);

/* Flush and close every file still open (wfs_client_free). */
void wfs_file_close_all(struct wfs_client *c);

#endif
