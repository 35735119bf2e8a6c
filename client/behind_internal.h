/* client/behind: unlinks and creates applied in the background, in order
 * with everything else this client does.
 *
 * A synchronous unlink or create costs a durable commit on the metadata
 * master (hundreds of microseconds), and the kernel sends a directory's
 * unlinks and creates one at a time, so `rm -rf` of a big tree, or
 * untarring one, would run at one commit per name.  Instead the client
 * answers them once queued, and workers send what has queued up many to a
 * call (UnlinkMany, CreateMany), so they share calls and commits.  Local
 * file systems give the same promise: a change to a directory is durable
 * once the directory is fsync'ed (wfs_client_settle), not when unlink() or
 * open() returns.
 *
 * Unlinks: the kernel (default_permissions) has already checked what the
 * node would, so the answer is the node's but for a race with another
 * client.  Creates need more: whether the name is free is the node's to
 * say, so one is answered early only under a lease of its directory (no
 * other client may change it meanwhile), with the name proven absent since
 * the grant, and an inode number this client reserved
 * (client/leases_internal.h, wfs_behind_create); the node makes the file
 * exactly as answered (owner, mode, times, number), and with O_EXCL, so it
 * can never open or truncate another file instead.
 *
 * Order: every other metadata call of the client (wfs_meta_call) first
 * waits until the operations queued before it have been applied, so
 * nothing this client does afterwards can see, or race with, a name it
 * removed or made (calls made by the unlinks' own callbacks excepted: they
 * do not wait).  A lookup waits only for the operations on its own name,
 * unless what it found may still change with the others
 * (wfs_client_lookup).  Unlinks overlap unlinks and creates overlap
 * creates, but a batch of creates starts only once no older unlink is
 * queued or out, and a batch of unlinks once no older create is, so a
 * name removed and made again (or made and removed) is changed in the
 * order asked.  Two queued operations of one kind never name the same
 * entry (the second one's lookup waits for the first, and a create needs
 * its name proven absent).
 *
 * What this gives up:
 *   - An unlink or create that fails on the node after the kernel was
 *     told it succeeded (an unlink's entry was stale: another client put a
 *     directory under that name; a create's lease was lost to a
 *     revocation before it was applied, or the node refused it, out of
 *     space say; or the cluster did not answer for retry_ms) was answered
 *     0 anyway; it is logged with its directory, name and error, and fails
 *     the next wfs_client_settle (EIO, once, for the whole client).  A file
 *     whose create failed does not exist: every later call on its inode
 *     gets the node's ENOENT or ESTALE.  After such a failure the next
 *     creates in that directory are the node's to answer for a while.
 *   - Other clients see the old state of the name until the operation
 *     applies: milliseconds, since while the cluster is slow (the oldest
 *     queued operation has waited over a second) new ones are applied
 *     before they are answered.  A client that wants the directory waits
 *     for this one's lease to come back (seconds at most: the master
 *     revokes it otherwise).
 *   - A client killed with operations queued loses them (at most
 *     QUEUE_MAX in behind.c), as a local file system loses what was not
 *     yet in its journal.
 *   - An early create answers with the policy and block size of the last
 *     file the node made in that directory: if an administrator changes
 *     the policy meanwhile, the file is made with the new one and writes
 *     through that first open fail (logged).
 * A mount that wants none of this says sync_meta (wormfs --help).
 *
 * Internal to client/.
 */
#ifndef WFS_CLIENT_BEHIND_INTERNAL_H
#define WFS_CLIENT_BEHIND_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "client/client.h"

struct wfs_behind;

/* Start the workers.  Returns 0, -ENOMEM or the error starting a thread. */
int wfs_behind_new(struct wfs_client *c, struct wfs_behind **out);

/* Apply every operation still queued (errors are logged), then stop.
 * Before the rest of the client goes (but for its leases, which the
 * creates report to).  NULL is a no-op. */
void wfs_behind_free(struct wfs_behind *b);

/* Wait until every operation queued before this call has been applied.
 * Cheap when none is queued.  Never from a worker of @b. */
void wfs_behind_wait(struct wfs_behind *b);

/* Whether any operation is queued or being applied. */
bool wfs_behind_pending(struct wfs_behind *b);

/* Wait until no operation on @parent/@name queued before this call is
 * left: what a lookup of that name needs (wfs_client_lookup), so that a
 * lookup during an `rm` does not wait for the unlinks of other names. */
void wfs_behind_wait_name(struct wfs_behind *b, uint64_t parent,
			  const char *name);

/* Create regular file @parent/@name (permission bits @mode) in the
 * background if it may be answered now (see above and
 * wfs_leases_early): then returns 0 with *attr what the node will make,
 * and the create is queued.  Returns 1 when it must be made
 * synchronously: no lease, no proof, no inode number, the queue is slow,
 * or out of memory.  The caller checked that open(2) asked for a create
 * that may make a file (O_CREAT). */
int wfs_behind_create(struct wfs_client *c, const struct wfs_cred *cred,
		      uint64_t parent, const char *name, uint32_t mode,
		      struct wfs_attr *attr);

#endif
