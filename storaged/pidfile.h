/* storaged/pidfile: one storaged per data directory.
 *
 * At start storaged takes an exclusive flock on <data_dir>/storaged.lock
 * (created if absent, never removed, so two starts always lock the same
 * file) and writes its pid to <data_dir>/storaged.pid, which scripts read
 * to signal it.  A second storaged on the same data directory finds the
 * lock held and is refused.  At a clean exit the pid file is removed and
 * the lock released; after a crash the kernel releases the lock and the
 * stale pid file is simply overwritten.
 */
#ifndef WFS_STORAGED_PIDFILE_H
#define WFS_STORAGED_PIDFILE_H

#include <sys/types.h>

#define WFS_PIDFILE_LOCK "storaged.lock"
#define WFS_PIDFILE_PID "storaged.pid"

/* A held lock; a plain value owned by the caller. */
struct wfs_pidfile {
	int lock_fd;		/* the locked file, when held */
	char pid_path[4096];	/* "" when not held */
};

/* Make @data_dir (and its parents) if missing, take its lock and write
 * the pid file.
 * Returns 0; -EBUSY if another process holds the lock, with its pid in
 * *holder when the pid file names one (else 0); or the negative errno of
 * the file operations.  *pf is set up on success only. */
int wfs_pidfile_acquire(const char *data_dir, struct wfs_pidfile *pf,
			pid_t *holder);

/* Remove the pid file and release the lock.  A zeroed struct, or one a
 * failed acquire left, is a no-op. */
void wfs_pidfile_release(struct wfs_pidfile *pf);

#endif
