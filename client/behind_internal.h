/* client/behind: unlinks applied in the background, in order with
 * everything else this client does.
 *
 * A synchronous unlink costs a durable commit on the metadata master
 * (hundreds of microseconds), and the kernel sends a directory's unlinks
 * one at a time, so `rm -rf` of a big tree would run at one commit per
 * name.  Instead the client answers an unlink once it is queued, and
 * workers send what has queued up many to a call (UnlinkMany), so the
 * unlinks share calls and commits.  Local file systems give the same
 * promise: a removal is durable once the directory is fsync'ed
 * (wfs_client_settle), not when unlink() returns.
 *
 * Order: every other metadata call of the client (wfs_meta_call) first
 * waits until the unlinks queued before it have been applied, so nothing
 * this client does afterwards can see, or race with, a name it removed
 * (calls made by the unlinks' own callbacks excepted: they do not wait).
 * A lookup waits only for the unlinks of its own name, unless what it
 * found may still change with the others (wfs_client_lookup).
 * Only unlinks overlap each other, and two queued unlinks never name the
 * same entry (the second one's lookup waits for the first).
 *
 * What this gives up:
 *   - An unlink that fails on the node after the kernel let it through
 *     (its entry was stale: another client put a directory under that
 *     name; or the cluster did not answer for retry_ms) was answered 0
 *     anyway; it is logged and fails the next wfs_client_settle (EIO,
 *     once, for the whole client).
 *   - Other clients see the name until the unlink applies: milliseconds,
 *     since while the cluster is slow (the oldest queued unlink has
 *     waited over a second) new unlinks are applied before the answer.
 *   - A client killed with unlinks queued loses them (at most QUEUE_MAX
 *     in behind.c), as a local file system loses what was not yet in its
 *     journal.
 * A mount that wants none of this says sync_unlink (wormfs --help).
 *
 * Internal to client/.
 */
#ifndef WFS_CLIENT_BEHIND_INTERNAL_H
#define WFS_CLIENT_BEHIND_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

struct wfs_client;
struct wfs_behind;

/* Start the workers.  Returns 0, -ENOMEM or the error starting a thread. */
int wfs_behind_new(struct wfs_client *c, struct wfs_behind **out);

/* Apply every unlink still queued (errors are logged), then stop.  Before
 * the rest of the client goes.  NULL is a no-op. */
void wfs_behind_free(struct wfs_behind *b);

/* Wait until every unlink queued before this call has been applied.
 * Cheap when none is queued.  Never from a worker of @b. */
void wfs_behind_wait(struct wfs_behind *b);

/* Whether any unlink is queued or being applied. */
bool wfs_behind_pending(struct wfs_behind *b);

/* Wait until no unlink of @parent/@name queued before this call is left:
 * what a lookup of that name needs (wfs_client_lookup), so that a lookup
 * during an `rm` does not wait for the unlinks of other names. */
void wfs_behind_wait_name(struct wfs_behind *b, uint64_t parent,
			  const char *name);

#endif
