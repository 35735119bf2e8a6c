/* client/file_internal: what file.c (open files, buffers, reads, writes)
 * and flush.c (writing stripes out) share: the per-inode state and its
 * stripe buffers, described at the top of file.c, and the helpers both
 * use.  Only for client/.
 *
 * Locking (file.c has the details): ci->lock protects a cinode and its
 * buffers; functions here that take a struct cinode expect it held unless
 * they say otherwise, and those that call the network drop it meanwhile.
 */
#ifndef WFS_CLIENT_FILE_INTERNAL_H
#define WFS_CLIENT_FILE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "client/client_internal.h"

struct cinode;

struct sbuf {
	struct sbuf *next;	/* in ci->bufs */
	struct cinode *ci;
	struct wfs_task task;	/* its background flush */
	uint64_t sidx;
	unsigned char *data;	/* span bytes, NULL until needed */
	uint32_t len;		/* data reaches here; zeros after */
	bool base_known;	/* base, base_len, block, valid are set */
	struct wfs_lstripe *base; /* committed version (a copy); NULL: none */
	uint32_t base_len, block;
	uint32_t valid;		/* blocks whose clean bytes hold the base */
	uint32_t loading;	/* blocks being loaded right now */
	struct wfs_ranges dirty;
	bool flushing;		/* being written out: no writes meanwhile */
	bool queued;		/* a flush job is on its way */
	bool dead;		/* dropped from ci->bufs; last user frees */
	unsigned users;		/* threads holding it across a wait */
	uint64_t used;		/* ci->tick at the last use, for LRU */
};

struct cinode {
	struct cinode *hnext;	/* in c->itab; itab_lock */
	unsigned refs;		/* itab_lock */
	uint64_t ino;
	struct wfs_client *c;
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* any change of a buffer's state */
	bool inited;		/* attr, span, sizes set */
	struct wfs_attr attr;	/* the server's, as last seen */
	uint64_t size;		/* the file's size here, buffers included */
	uint64_t server_size;	/* no stripe starts at or past this on the
				 * server but those this client committed */
	uint64_t span;
	int64_t wtime_ns;	/* last buffered write (0: none pending) */
	struct sbuf *bufs;
	unsigned nbufs, ndirty;
	unsigned inflight;	/* buffers queued or being flushed */
	unsigned nopen;
	uint64_t tick;
	struct wfs_layout layout;
	uint64_t layout_gen;	/* bumped when the layout is reset */
	int wb_error;		/* first background write error, unreported */
	uint64_t created_in;	/* answered created early in this directory
				 * and no stripe committed since: the
				 * master may not have the inode yet */
	struct wfs_cred cred;	/* of the last opener or writer */
	uint64_t ra_last;	/* stripe the last read ended in */
	uint64_t ra_next;	/* stripes before it were read ahead */
	struct wfs_file *files;	/* open handles */
};

struct wfs_file {
	struct wfs_file *next;	/* in ci->files */
	struct cinode *ci;
	int flags;
	struct wfs_cred cred;
};

/* Take and drop a reference on @ci (c->itab_lock inside; ci->lock may be
 * held).  The last one frees it. */
void wfs_cinode_ref(struct cinode *ci);
void wfs_cinode_put(struct cinode *ci);

/* Newer attributes from the server (a commit, a setattr). */
void wfs_cinode_take_attr(struct cinode *ci, const struct wfs_attr *a);

/* Flush every dirty buffer (in parallel, in the background) and wait for
 * all flushes, those already running included.  Returns the first write
 * error since the last one reported, and clears it. */
int wfs_cinode_flush_all(struct cinode *ci);

/* Stop holding @sb; frees a dead buffer nobody holds any more. */
void wfs_sbuf_unuse(struct sbuf *sb);

/* Keep at most opts.cache_stripes clean buffers: drop the least recently
 * used idle ones. */
void wfs_sbuf_evict(struct cinode *ci);

/* Every block of a buffer of @sb's block size in a stripe of @span. */
uint32_t wfs_sbuf_all_blocks(const struct sbuf *sb, uint64_t span);

/* Learn @sb's committed version from @s (NULL: none; copied).  Returns 0,
 * -EIO for a stripe whose span is not the file's, or -ENOMEM. */
int wfs_sbuf_set_base(struct cinode *ci, struct sbuf *sb,
		      const struct wfs_lstripe *s);

/* Make sb->base known, fetching the layout if needed (dropping ci->lock
 * meanwhile; the caller holds @sb).  Returns 0 or an error; -ESTALE when
 * @sb was dropped meanwhile. */
int wfs_sbuf_resolve_base(struct cinode *ci, struct sbuf *sb);

/* Load blocks @mask (neither valid nor loading) of sb->base under the dirty
 * bytes, reading chunks with ci->lock dropped; the caller holds @sb.
 * Returns 0 or the read's error. */
int wfs_sbuf_load(struct cinode *ci, struct sbuf *sb, uint32_t mask);

/* @sb as client/geom sees it. */
void wfs_sbuf_state(const struct cinode *ci, const struct sbuf *sb,
		    struct wfs_sbuf_state *st);

/* Flush @sb in the background (a job on the stripe pool, holding a
 * reference on @ci); a buffer queued or flushing already is left alone. */
void wfs_sbuf_queue_flush(struct cinode *ci, struct sbuf *sb);

#endif
