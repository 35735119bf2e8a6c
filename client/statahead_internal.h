/* client/statahead: names looked up from a directory listing fetched ahead.
 *
 * Programs that stat every file of a directory one name at a time (ls -l
 * after the kernel dropped its dentries, find, rsync, backup tools, tar c)
 * cost one metadata round trip per name.  When a caller keeps looking up
 * names in one directory, the client instead reads the directory ahead, a
 * page at a time with attributes (readdirplus), in listing order, which is
 * creation order; the following lookups are answered from that page.
 *
 * What is kept and for how long:
 *   - entries (directory, name) -> attributes, each for ttl_ms after the
 *     page arrived, only for the caller that fetched them (uid, gid and
 *     groups: the node checked that caller's permissions);
 *   - no negative entries: a name not in the cache is looked up as usual;
 *   - at most max_entries, the oldest dropped first.
 * Changes made through this client are applied at once (wfs_statahead_
 * forget_*): the entry of a name removed, replaced or created goes, and so
 * does every entry of an inode whose attributes changed; a page fetched
 * while such a change happened files none of the entries it touched.
 * Changes by other clients are seen once entries expire, as with the
 * kernel's own attribute cache.
 *
 * Permissions: a page is read with the caller's read permission on the
 * directory, and a lookup needs search (execute) permission.  The read-
 * ahead starts only after two of the caller's lookups there succeeded at
 * the node, and starts over after the directory's attributes change
 * through this client; a mount must still have the kernel check search
 * permission itself (FUSE's default_permissions, as wormfs does), since a
 * chmod by another client is seen only when entries expire.
 *
 * When to read ahead: a caller's lookups in a directory went to the node
 * twice in a row (so it may search the directory, and seems to walk it);
 * one fetch at a time per directory; a fetched page that held none of the
 * names looked up next stops the read-ahead of that directory for a while.
 *
 * Thread-safe; no call blocks on the network (the caller fetches).
 * Internal to client/.
 */
#ifndef WFS_CLIENT_STATAHEAD_INTERNAL_H
#define WFS_CLIENT_STATAHEAD_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "client/client.h"

struct wfs_statahead;

/* Entries per page a caller should fetch. */
#define WFS_STATAHEAD_PAGE 512

/* A cache keeping entries @ttl_ms (> 0), at most @max_entries (> 0).
 * Returns 0 and *out, -EINVAL, or -ENOMEM. */
int wfs_statahead_new(unsigned ttl_ms, unsigned max_entries,
		      struct wfs_statahead **out);

/* NULL is a no-op. */
void wfs_statahead_free(struct wfs_statahead *sa);

/* Whether @name in @dir is cached for @cred; if so, *attr is its entry. */
bool wfs_statahead_find(struct wfs_statahead *sa, const struct wfs_cred *cred,
			uint64_t dir, const char *name, struct wfs_attr *attr);

/* @cred's lookup of a name in @dir missed the cache and was asked of the
 * node with the outcome @rc (0, -ENOENT, or an error). */
void wfs_statahead_looked_up(struct wfs_statahead *sa,
			     const struct wfs_cred *cred, uint64_t dir, int rc);

/* A fetch the caller should make now for @cred in @dir: true with the
 * readdir cookie to list from and a ticket for wfs_statahead_fill; false
 * when it is not worth it (or another fetch of @dir is under way). */
bool wfs_statahead_want(struct wfs_statahead *sa, const struct wfs_cred *cred,
			uint64_t dir, uint64_t *cookie, uint64_t *ticket);

/* The fetch of @ticket ended: @rc 0 with the @n entries at @ents (with
 * attributes; @eof: the listing ends there), or the error.  Call exactly
 * once per true wfs_statahead_want. */
void wfs_statahead_fill(struct wfs_statahead *sa, const struct wfs_cred *cred,
			uint64_t dir, uint64_t ticket, int rc,
			const struct wfs_dirent *ents, unsigned n, bool eof);

/* @name in @dir was made, removed or replaced through this client: drop
 * its entry and every entry of the inode it named, and of @dir itself. */
void wfs_statahead_forget_name(struct wfs_statahead *sa, uint64_t dir,
			       const char *name);

/* The attributes of @ino changed through this client. */
void wfs_statahead_forget_ino(struct wfs_statahead *sa, uint64_t ino);

/* Counters, for tests and the curious. */
struct wfs_statahead_stats {
	uint64_t hits, fetches, useless, dropped_pages;
	unsigned entries;
};
void wfs_statahead_stats(struct wfs_statahead *sa,
			 struct wfs_statahead_stats *out);

#endif
