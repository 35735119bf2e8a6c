/* storaged/chunkstore_internal: test seams of the chunk store, used only by
 * storaged's own tests. */
#ifndef WFS_STORAGED_CHUNKSTORE_INTERNAL_H
#define WFS_STORAGED_CHUNKSTORE_INTERNAL_H

#include <stdint.h>

struct wfs_store;

/* Pin disk @disk's space figures to @capacity and @avail bytes: the store
 * stops measuring that disk with statvfs (writes still lower @avail), so a
 * test can set up any free-space picture on one real file system.  Ignored
 * for a disk out of range.  Any thread. */
void wfs_store_test_set_space(struct wfs_store *st, unsigned disk,
			      uint64_t capacity, uint64_t avail);

#endif
