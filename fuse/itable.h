/* fuse/itable: what the mount remembers per kernel inode.
 *
 * The mount gives the kernel one inode per WormFS inode, with the WormFS
 * inode number as the FUSE node id.  The kernel counts the lookups it holds
 * on each (every entry reply adds one, forget drops them); this table keeps
 * that count so that an inode whose last name went away (nlink 0) is
 * released to the cluster only once the kernel has forgotten it, as FUSE
 * asks.  Beside the count it keeps what the mount caches per inode: the
 * mtime and size the kernel's page cache was last known to match (to answer
 * open with keep_cache), the mtime and size it was last told (an open that
 * finds others makes it ask again: close-to-open), whether POSIX locks were taken on it through the
 * mount (a close of any descriptor then drops its owner's locks), until
 * when the inode is known to have no security.capability xattr
 * (the kernel asks on every write), and, for a directory the mount has just
 * changed, the attributes the change's reply brought: a create in a
 * directory makes the kernel drop the directory's attributes and ask again
 * at once (it checks permissions on it before the next create), and within
 * the mount's attr_timeout that question is answered from here, as the
 * kernel's own cache would have, instead of from the cluster.
 *
 * An entry lives while the kernel holds lookups on it.  Thread-safe: one
 * mutex inside.
 */
#ifndef WFS_FUSE_ITABLE_H
#define WFS_FUSE_ITABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "client/client.h"

struct wfs_itable;

/* Create an empty table.  Returns 0 or -ENOMEM. */
int wfs_itable_new(struct wfs_itable **out);

/* Free the table and its entries; NULL is a no-op. */
void wfs_itable_free(struct wfs_itable *t);

/* The kernel took @n more lookups on @ino.  Returns 0 or -ENOMEM (then the
 * count is not kept: the inode is simply never released by forget). */
int wfs_itable_ref(struct wfs_itable *t, uint64_t ino, uint64_t n);

/* The kernel dropped @n lookups.  Returns true when the count reached zero
 * on an inode marked orphan: the caller tells the cluster it is done with
 * it.  The entry is gone once the count is zero. */
bool wfs_itable_forget(struct wfs_itable *t, uint64_t ino, uint64_t n);

/* The last name of @ino is gone.  Returns true when the kernel holds
 * lookups on it (it is released at the last forget), false when it does
 * not (the caller releases it now). */
bool wfs_itable_orphan(struct wfs_itable *t, uint64_t ino);

/* Remember that the kernel's cached pages of @ino match @mtime_ns and
 * @size (no-op for an inode not in the table). */
void wfs_itable_set_cached(struct wfs_itable *t, uint64_t ino,
			   int64_t mtime_ns, uint64_t size);

/* Whether the kernel may hold pages of @ino: it was opened since the kernel
 * last forgot it. */
bool wfs_itable_pages_cached(struct wfs_itable *t, uint64_t ino);

/* Whether @mtime_ns and @size are what the cached pages were last known to
 * match. */
bool wfs_itable_cache_valid(struct wfs_itable *t, uint64_t ino,
			    int64_t mtime_ns, uint64_t size);

/* The kernel was just given @mtime_ns and @size as @ino's attributes (an
 * entry or attribute reply; no-op for an inode not in the table). */
void wfs_itable_told(struct wfs_itable *t, uint64_t ino, int64_t mtime_ns,
		     uint64_t size);

/* Whether the kernel was last told other attributes of @ino than @mtime_ns
 * and @size (false when nothing is known). */
bool wfs_itable_told_other(struct wfs_itable *t, uint64_t ino,
			   int64_t mtime_ns, uint64_t size);

/* Record that @ino has no security.capability xattr until @until_ns
 * (CLOCK_MONOTONIC); 0 forgets it. */
void wfs_itable_set_nocap(struct wfs_itable *t, uint64_t ino,
			  int64_t until_ns);

/* Whether @ino is known at @now_ns to have no security.capability. */
bool wfs_itable_nocap(struct wfs_itable *t, uint64_t ino, int64_t now_ns);

/* Keep @a, the attributes a change made through this mount left directory
 * a->ino with (@now_ns, @until_ns: CLOCK_MONOTONIC; kept until then), for
 * wfs_itable_attr.  Replies of concurrent changes can come in any order,
 * so attributes with an older ctime than those kept are ignored, and when
 * the ctimes are equal but the attributes differ (which is newer cannot be
 * told) nothing is kept.  Ignored for a non-directory, an inode not in the
 * table, while blocked by wfs_itable_drop_attr, and when out of memory. */
void wfs_itable_set_attr(struct wfs_itable *t, const struct wfs_attr *a,
			 int64_t now_ns, int64_t until_ns);

/* The attributes kept for @ino if still valid at @now_ns: returns true
 * with *a and *until_ns (when they expire), else false. */
bool wfs_itable_attr(struct wfs_itable *t, uint64_t ino, int64_t now_ns,
		     struct wfs_attr *a, int64_t *until_ns);

/* @ino changed in a way no reply told the attributes of (an xattr, a
 * rename or removal of the directory itself): forget what is kept and keep
 * nothing until @until_ns, so that a reply of an older change arriving
 * late cannot bring back attributes from before this one. */
void wfs_itable_drop_attr(struct wfs_itable *t, uint64_t ino,
			  int64_t until_ns);

/* Record that POSIX locks were taken on @ino; and whether they were. */
void wfs_itable_set_locked(struct wfs_itable *t, uint64_t ino);
bool wfs_itable_locked(struct wfs_itable *t, uint64_t ino);

/* Called for each orphan still held, by wfs_itable_orphans. */
typedef void (*wfs_itable_orphan_cb)(uint64_t ino, void *arg);

/* Report every inode marked orphan that the kernel still holds (at
 * unmount the kernel need not forget what it holds).  @cb runs with the
 * table's lock held: it must not call the table. */
void wfs_itable_orphans(struct wfs_itable *t, wfs_itable_orphan_cb cb,
			void *arg);

/* Entries in the table (inodes the kernel holds). */
unsigned long wfs_itable_count(struct wfs_itable *t);

#endif
