/* storaged/leases: the master's side of directory leases.
 *
 * Who holds which directory's lease is metadata (DIR_LEASE ops, the
 * dir_leases table), so a new master knows it.  What only the master
 * needs, and loses with its office, is kept here: when each lease was last
 * used by its holder, and whether another client has been refused because
 * of it (a recall).  From that the master takes back (DIR_LEASE grant 0)
 * a lease whose holder does not give it back within RECALL_GRACE_MS of a
 * recall, or has not used it for IDLE_MS: its holder may have died, and
 * the others must not wait for ever.  A new master starts every lease's
 * clocks afresh when it first sees it.
 *
 * The holder side (client/) answers creates early only while it heard of
 * its lease well within RECALL_GRACE_MS, so a lease is never taken back
 * from a holder that still answers under it, unless the holder could not
 * reach the master for seconds; then its early creates fail and it says so
 * (client/behind_internal.h).
 *
 * Only storaged/ includes it.
 */
#ifndef WFS_STORAGED_LEASES_H
#define WFS_STORAGED_LEASES_H

#include <stdbool.h>
#include <stdint.h>

struct wfs_node;
struct wfs_leases;

/* The table for node @n.  Returns 0 or -ENOMEM. */
int wfs_leases_new(struct wfs_node *n, struct wfs_leases **out);

/* NULL is a no-op. */
void wfs_leases_free(struct wfs_leases *l);

/* Another client was refused (-EAGAIN) a change of directory @dir because
 * of its lease: ask the holder to give it back.  Any thread. */
void wfs_leases_recall(struct wfs_leases *l, uint64_t dir);

/* The holder of @dir's lease used it: a create under it, a grant (a
 * fresh lease starts with no recall; asking again keeps one).  Any
 * thread. */
void wfs_leases_used(struct wfs_leases *l, uint64_t dir);

/* @dir's lease was given back or taken back.  Any thread. */
void wfs_leases_forget(struct wfs_leases *l, uint64_t dir);

/* Whether another client waits for @dir's lease.  Any thread. */
bool wfs_leases_recalled(struct wfs_leases *l, uint64_t dir);

/* Forget every lease's clocks: this node is no longer the master (a new
 * term starts them afresh).  Any thread. */
void wfs_leases_clear(struct wfs_leases *l);

/* Take back the leases that are overdue (see above), waiting for each
 * DIR_LEASE to apply.  The upkeep thread of the master, about once a
 * second. */
void wfs_leases_tick(struct wfs_leases *l);

#endif
