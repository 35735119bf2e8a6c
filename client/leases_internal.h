/* client/leases: directory leases and reserved inode numbers, what a
 * create answered before it is applied needs (client/behind_internal.h).
 *
 * A lease on a directory (proto Lease) is the cluster's promise that no
 * other client changes the directory while this one holds it: another
 * session's create, link, unlink or rename there fails with EAGAIN and is
 * retried, and the holder is told to give the lease back (it is
 * recalled).  While this client holds the lease it alone decides whether
 * a name is free there, so it may answer an O_CREAT open itself, with an
 * inode number it reserved (ReserveInos), and send the create later.
 *
 * A create may be answered early (wfs_leases_early) only when all hold:
 *   - the lease is held and not recalled, and confirmed recently: a Lease
 *     or CreateMany call sent less than CONFIRM_MS ago found it so.  The
 *     master revokes a recalled lease only if it is not given back within
 *     ~3 s, so an answer given within CONFIRM_MS of the sending of a call
 *     that found the lease unrecalled comes before any revocation;
 *   - the name is proven absent since the grant: a lookup sent after the
 *     grant's reply arrived found no such name (and no name of the
 *     directory was changed through this client while it was out), or
 *     the directory's list of names (client/dirnames) was read by a round
 *     started after the grant and lacks it.  An answer from before the
 *     grant proves nothing: another client may have made the name just
 *     before it;
 *   - the node has made a file there for this client since the lease was
 *     asked for, so its policy and block size, which a client cannot
 *     compute, are known (the last such create's);
 *   - an inode number is left in the pool (refilled in the background,
 *     RESERVE at a time, before it runs out).
 *
 * A lease is asked for in the background after a synchronous create in a
 * directory without one, never on the create path.  It is given back when
 * no create used it for IDLE_MS, when recalled (once the creates answered
 * under it are applied), when the table is full and another directory
 * wants a place (the least recently used one), and all of them at
 * wfs_leases_free.  A directory recalled, or whose lease another client
 * held, is not asked for again for COOL_MS.
 *
 * One thread per client makes the calls (Lease, ReserveInos, the new list
 * of names a grant wants); no function here waits on the network, but
 * wfs_leases_free.  Every function takes NULL (a client without early
 * creates) as "no lease": false, 0 or nothing.
 *
 * Internal to client/.
 */
#ifndef WFS_CLIENT_LEASES_INTERNAL_H
#define WFS_CLIENT_LEASES_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "client/client.h"

struct wfs_leases;

/* Start @c's lease thread.  Returns 0, -ENOMEM or the error starting it.
 * Any thread. */
int wfs_leases_new(struct wfs_client *c, struct wfs_leases **out);

/* Stop the thread (a call under way finishes first): nothing more is
 * asked for.  Before wfs_behind_free, whose creates still report here. */
void wfs_leases_stop(struct wfs_leases *l);

/* Give back every lease held (calls from this thread, which must not be a
 * client thread), then free.  After wfs_behind_free. */
void wfs_leases_free(struct wfs_leases *l);

/* A synchronous create by @cred in @dir returned @rc; when 0, *attr is the
 * file and @created says it is new.  Keeps its policy and block size for
 * early creates there, and asks for @dir's lease in the background if
 * none is held or asked for (and @dir is not cooling down). */
void wfs_leases_created_sync(struct wfs_leases *l, const struct wfs_cred *cred,
			     uint64_t dir, int rc, const struct wfs_attr *attr,
			     bool created);

/* Whether a create of regular file @name in @dir by @cred may be answered
 * now, before it is applied (see above).  If so, *attr is what the node
 * will make of it (type and bits from @mode less cred->umask, owner from
 * @cred, every time @time_ns, one link, the next number of the pool, the
 * directory's policy and block size, generation 0: the node's is not
 * known before it applies), the proof of absence is used up, and the
 * create counts as outstanding in @dir (which keeps the lease) until
 * wfs_leases_applied. */
bool wfs_leases_early(struct wfs_leases *l, const struct wfs_cred *cred,
		      uint64_t dir, const char *name, uint32_t mode,
		      int64_t time_ns, struct wfs_attr *attr);

/* An early create of wfs_leases_early in @dir is over: applied (@rc 0,
 * *attr the node's, which become the directory's template), failed, or
 * never queued (@rc non-zero, @attr NULL). */
void wfs_leases_applied(struct wfs_leases *l, uint64_t dir, int rc,
			const struct wfs_attr *attr);

/* Before sending a lookup in @dir: a stamp for wfs_leases_absent (0 when
 * no lease of @dir is held: nothing to prove). */
uint64_t wfs_leases_stamp(struct wfs_leases *l, uint64_t dir);

/* The node found no @name in @dir for a lookup stamped @stamp: a proof of
 * absence, if the same lease is held and no name of @dir changed through
 * this client since the stamp. */
void wfs_leases_absent(struct wfs_leases *l, uint64_t dir, const char *name,
		       uint64_t stamp);

/* @name in @dir was made, removed or replaced through this client (or may
 * have been): its proof of absence goes, and lookups out now prove
 * nothing. */
void wfs_leases_name_changed(struct wfs_leases *l, uint64_t dir,
			     const char *name);

/* Before sending creates in @dir (CreateMany): a stamp for
 * wfs_leases_confirm, non-zero if the lease is held, not recalled and
 * still confirmed now. */
uint64_t wfs_leases_sending(struct wfs_leases *l, uint64_t dir);

/* A CreateMany sent at @sent_ms (CLOCK_MONOTONIC) with a stamp of
 * wfs_leases_sending came back with creates in @dir applied and @dir not
 * recalled: the lease is confirmed as of @sent_ms, if still the same. */
void wfs_leases_confirm(struct wfs_leases *l, uint64_t dir, uint64_t stamp,
			int64_t sent_ms);

/* @dir's lease was recalled, or is another session's (a create there
 * failed with EAGAIN), or an early create there failed: no more early
 * creates there; it is given back once those outstanding are over, and
 * not asked for again for COOL_MS. */
void wfs_leases_recall(struct wfs_leases *l, uint64_t dir);

/* Counters and state, for tests and the curious. */
struct wfs_leases_stats {
	uint64_t grants;	/* Lease calls that found the lease ours */
	uint64_t refused;	/* ... that found it another's */
	uint64_t releases;	/* leases given back */
	uint64_t recalls;	/* leases found recalled */
	uint64_t early;		/* creates answered early */
	uint64_t reserves;	/* ReserveInos calls that succeeded */
	uint64_t relists;	/* lists of names read again after a grant */
	unsigned held;		/* leases held now */
	unsigned cooling;	/* directories not to be asked for yet */
	uint64_t inos;		/* numbers left in the pool */
};
void wfs_leases_stats(struct wfs_leases *l, struct wfs_leases_stats *out);

/* Whether @dir's lease is held, not recalled and confirmed now. */
bool wfs_leases_usable(struct wfs_leases *l, uint64_t dir);

#endif
