/* storaged/locks: the lock table of the metadata master.
 *
 * fcntl(2) byte-range locks and flock(2) whole-file locks, held for an
 * owner (FUSE's lock_owner) of one client (a mount's id), with POSIX
 * semantics: read locks share, write locks exclude; an owner's own locks
 * never conflict with each other, and setting a lock over an owner's ranges
 * replaces them there (splitting and merging ranges, so unlocking the
 * middle of a range leaves two).  flock locks are a separate space, as on
 * Linux: they conflict only with other flock locks and always cover the
 * whole file.  A request that conflicts either fails (-EAGAIN) or waits in
 * a first-come queue of its file until the conflict goes, its deadline
 * passes, or the table is shut down.
 *
 * Not replicated: the table lives in the master's memory only.  Locks are
 * advisory and held by live clients; a new master (a restart, or later a
 * leader change) starts empty and clients re-take their locks.  Deadlocks
 * between waiters are not detected (no EDEADLK): the deadline breaks them.
 *
 * Pure logic: no I/O and no clock (deadlines are compared with the time
 * the caller passes).  Threads: every call is thread-safe (one mutex).
 * Grant callbacks run on the thread whose call granted, timed out or
 * cancelled the wait, after the table's mutex is released, so they may
 * call back into the table.
 */
#ifndef WFS_STORAGED_LOCKS_H
#define WFS_STORAGED_LOCKS_H

#include <stddef.h>
#include <stdint.h>

/* Bytes of a client id. */
#define WFS_LOCKS_CLIENT_MAX 64

/* Locks the master holds at most, over all files: beyond it new locks fail
 * with -ENOLCK, as a kernel's table would. */
#define WFS_LOCKS_DEFAULT_MAX (1u << 20)

/* The values of the API's LockKind. */
enum wfs_lock_kind {
	WFS_LOCK_POSIX = 0,	/* fcntl byte-range lock */
	WFS_LOCK_FLOCK = 1,	/* flock whole-file lock */
};

/* The values of the API's LockType. */
enum wfs_lock_type {
	WFS_LOCK_UNLOCK = 0,
	WFS_LOCK_READ = 1,
	WFS_LOCK_WRITE = 2,
};

/* A lock request, or a lock reported back. */
struct wfs_lock {
	uint64_t ino;
	uint32_t kind;		/* enum wfs_lock_kind */
	uint32_t type;		/* enum wfs_lock_type */
	uint64_t start, end;	/* first and last byte, inclusive (UINT64_MAX:
				 * to the end); ignored for flock */
	uint64_t owner;		/* the client's lock owner */
	uint32_t pid;		/* reported by get; not part of identity */
	const void *client;	/* client id, 0..WFS_LOCKS_CLIENT_MAX bytes;
				 * borrowed for the call (NULL in reports) */
	size_t client_len;
};

struct wfs_locks;

/* Completion of a wait: @rc 0 once the lock is held, -ETIMEDOUT when the
 * deadline passed, -ECANCELED when the table shut down, or -ENOMEM /
 * -ENOLCK if the lock could not be recorded when its turn came. */
typedef void (*wfs_locks_grant_cb)(void *arg, int rc);

/* A new empty table holding at most @max locks (0: WFS_LOCKS_DEFAULT_MAX).
 * Returns 0 and sets *out (release with wfs_locks_free), or -ENOMEM. */
int wfs_locks_new(size_t max, struct wfs_locks **out);

/* Cancel every wait (callbacks get -ECANCELED) and free the table.  NULL
 * is a no-op.  No other call may be running or follow. */
void wfs_locks_free(struct wfs_locks *t);

/* Take, change or release (type WFS_LOCK_UNLOCK) a lock now.  Returns 0;
 * -EAGAIN on a conflict (nothing changed); -EINVAL for a bad kind, type,
 * range (start > end) or client id; -ENOLCK when the table is full;
 * -ENOMEM.  Releasing what is not held succeeds.  Waiters that the change
 * unblocks are granted (their callbacks run before this returns). */
int wfs_locks_set(struct wfs_locks *t, const struct wfs_lock *req);

/* As wfs_locks_set(), but on a conflict queue the request until it can be
 * granted or @deadline (in the caller's clock, see wfs_locks_expire)
 * passes.  Returns 0 if granted at once (@cb is not called), 1 if queued
 * (@cb(@arg, rc) is called exactly once later), or an error as
 * wfs_locks_set() does but never -EAGAIN (then @cb is not called).  An
 * unlock never waits. */
int wfs_locks_set_wait(struct wfs_locks *t, const struct wfs_lock *req,
		       uint64_t deadline, wfs_locks_grant_cb cb, void *arg);

/* The first lock of another owner that would conflict with @req, into
 * *out (client NULL); out->type is WFS_LOCK_UNLOCK when there is none.
 * Returns 0 or -EINVAL (bad request). */
int wfs_locks_get(struct wfs_locks *t, const struct wfs_lock *req,
		  struct wfs_lock *out);

/* Fail the waits whose deadline is at or before @now with -ETIMEDOUT. */
void wfs_locks_expire(struct wfs_locks *t, uint64_t now);

/* Fail every wait with -ECANCELED (a shutdown). */
void wfs_locks_cancel_waits(struct wfs_locks *t);

/* Drop every lock of client @client (@len bytes), e.g. when it went away,
 * and grant the waits that unblocks. */
void wfs_locks_drop_client(struct wfs_locks *t, const void *client,
			   size_t len);

/* Locks held and waits queued, over all files. */
void wfs_locks_count(struct wfs_locks *t, size_t *locks, size_t *waits);

#endif
