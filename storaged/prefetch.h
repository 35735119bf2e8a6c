/* storaged/prefetch: reading ahead the small files a reader goes through
 * in order.
 *
 * Opening a small file brings its first copy in the GetLayout reply
 * (stripe_service.c), so a program that reads a tree of small files (tar,
 * cp -r, a build) waits for one disk read per file.  Files written one
 * after another got consecutive stripe ids, and are mostly read back in
 * that order.  When first copies are served here in rising, nearly
 * consecutive stripe order, the next AHEAD stripes whose first copy this
 * node holds are read into the page cache in the background (an open and
 * posix_fadvise WILLNEED per chunk file), so their GetLayout finds them
 * there.  Any other order reads nothing ahead: at worst AHEAD chunk files
 * are read for nothing once per run of two.
 *
 * Only the page cache is involved: what a reader gets is read and checked
 * as always.  Only storaged/ includes it.
 */
#ifndef WFS_STORAGED_PREFETCH_H
#define WFS_STORAGED_PREFETCH_H

#include <stdint.h>

struct wfs_node;
struct wfs_prefetch;

/* Start the read-ahead thread of node @n (its metadata and store must
 * outlive it).  Returns 0, -ENOMEM or a pthread error. */
int wfs_prefetch_new(struct wfs_node *n, struct wfs_prefetch **out);

/* Stop the thread and free; NULL is a no-op. */
void wfs_prefetch_free(struct wfs_prefetch *p);

/* A reader was given the first copy of stripe @stripe_id from this node.
 * Never blocks on disk.  Any thread. */
void wfs_prefetch_served(struct wfs_prefetch *p, uint64_t stripe_id);

/* Chunk files read ahead so far (for tests and status). */
uint64_t wfs_prefetch_count(struct wfs_prefetch *p);

#endif
