/* client/dirnames: a directory's whole list of names, so that a lookup of
 * a name that is not there is answered without asking the node.
 *
 * Every create looks its name up first, and the answer is nearly always
 * "no such name": a metadata round trip per file for nothing.  When
 * lookups in a directory keep missing at the node, the client lists the
 * directory once (names only) and from then on answers a lookup of a name
 * not on the list with ENOENT itself.  Names found on the list still go to
 * the node.
 *
 * Why the list stays complete: the node gives every name added to a
 * directory (create, mknod, mkdir, symlink, link, the target of a rename)
 * a readdir cookie larger than any before, and never reuses one
 * (metadata/meta.h).  So the names added since a listing are exactly the
 * entries after the largest cookie listed: a refresh lists from there, one
 * short page.  A name removed stays on the list (it then only costs a
 * lookup at the node); a name made through this client goes on a list
 * being made or held at once (wfs_dirnames_add), before its call returns,
 * and a list started later finds it at the node.
 *
 * How old an answer may be: a list is used for ttl_ms after the start of
 * the last listing that reached the end of the directory, and refreshed
 * by the lookup of a name it lacks that finds it older than half that (or
 * expired: the refresh then stands in for the lookup at the node).  A mount that gives
 * the kernel such an answer as a negative entry adds the entry's own
 * timeout: wormfs uses half its entry timeout here, so a name another
 * client adds is seen within 1.5 entry timeouts (statahead's bound too).
 *
 * Limits: a few directories at once, the least recently used dropped; at
 * most max_names names over all of them; a directory whose list would
 * pass that is dropped and not listed again for a while, longer each time
 * it happens.  Names removed stay on a list, so a directory with much
 * churn also ends there, and is listed afresh after the pause.  A list is
 * made only for lookups that miss (two in a row at the node before a
 * first listing).
 *
 * Permissions: the list answers for any caller, so a mount must have the
 * kernel check search permission on the directory before it asks (FUSE's
 * default_permissions, as wormfs does).
 *
 * Thread-safe; no call blocks on the network (the caller lists).
 * Internal to client/.
 */
#ifndef WFS_CLIENT_DIRNAMES_INTERNAL_H
#define WFS_CLIENT_DIRNAMES_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "client/client.h"

struct wfs_dirnames;

/* Entries per page a caller should list. */
#define WFS_DIRNAMES_PAGE 1024

/* Lists used @ttl_ms (> 0), holding at most @max_names (> 0) names in
 * all.  Returns 0 and *out, -EINVAL, or -ENOMEM. */
int wfs_dirnames_new(unsigned ttl_ms, unsigned max_names,
		     struct wfs_dirnames **out);

/* NULL is a no-op. */
void wfs_dirnames_free(struct wfs_dirnames *dn);

/* Whether @name is known not to be in @dir: @dir's list is current and
 * lacks it.  "." and "..", and names longer than the node allows, are
 * never answered here.  With @refresh (may be NULL), *refresh says that
 * @dir's list lacks @name but is past half its life or past all of it: the
 * caller should refresh it (wfs_dirnames_want: one listing of what was
 * added since, instead of a lookup at the node) and ask again, with NULL.
 * A true answer counts as a hit unless *refresh. */
bool wfs_dirnames_absent(struct wfs_dirnames *dn, uint64_t dir,
			 const char *name, bool *refresh);

/* Whether @dir's list lacks @name and was read by a round started after
 * @since_ns (CLOCK_MONOTONIC): whatever the list's age, since a caller
 * that knows no other client can have added a name to @dir since then (a
 * directory lease, client/leases_internal.h) needs no more.  Counts as no
 * hit. */
bool wfs_dirnames_absent_after(struct wfs_dirnames *dn, uint64_t dir,
			       const char *name, int64_t since_ns);

/* A lookup in @dir was asked of the node, with the outcome @rc. */
void wfs_dirnames_looked_up(struct wfs_dirnames *dn, uint64_t dir, int rc);

/* A listing the caller should make now for @dir: true with the readdir
 * cookie to list from and a ticket for wfs_dirnames_fill; false when
 * none is needed (or one of @dir is under way). */
bool wfs_dirnames_want(struct wfs_dirnames *dn, uint64_t dir,
		       uint64_t *cookie, uint64_t *ticket);

/* Like wfs_dirnames_want, for a caller that needs @dir's list read after
 * @since_ns (CLOCK_MONOTONIC; see wfs_dirnames_absent_after): 1 when a
 * list of @dir is held but its last complete round started before then,
 * whatever its age (the caller lists, as after wfs_dirnames_want); 0 when
 * none is needed (no list, or one read since); -EBUSY when a round that
 * started before then is under way (ask again once it is over). */
int wfs_dirnames_want_after(struct wfs_dirnames *dn, uint64_t dir,
			    int64_t since_ns, uint64_t *cookie,
			    uint64_t *ticket);

/* A page of the listing of @ticket came: @rc 0 with the @n entries at
 * @ents (@eof: the directory ends there), or the error @rc.  Returns true
 * when the caller should list the next page, from *cookie, and call this
 * again; false when the listing is over.  Call after every page of a true
 * wfs_dirnames_want. */
bool wfs_dirnames_fill(struct wfs_dirnames *dn, uint64_t dir,
		       uint64_t ticket, int rc, const struct wfs_dirent *ents,
		       unsigned n, bool eof, uint64_t *cookie);

/* @name in @dir was made, removed or replaced through this client (or may
 * have been: call whatever the outcome of the change's call). */
void wfs_dirnames_add(struct wfs_dirnames *dn, uint64_t dir,
		      const char *name);

/* Counters, for tests and the curious. */
struct wfs_dirnames_stats {
	uint64_t hits;		/* lookups answered absent */
	uint64_t listings;	/* listings started */
	uint64_t pages;		/* pages filed */
	uint64_t dropped;	/* lists given up (too big, evicted) */
	unsigned names;		/* names held now */
};
void wfs_dirnames_stats(struct wfs_dirnames *dn,
			struct wfs_dirnames_stats *out);

#endif
