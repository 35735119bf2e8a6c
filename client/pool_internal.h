/* client/pool: a fixed set of worker threads running queued tasks, and
 * batches to wait for a group of them.
 *
 * The client blocks a thread per remote call (rpc/ calls are synchronous),
 * so parallel chunk I/O needs threads; this pool keeps them.  Tasks are
 * intrusive (struct wfs_task embedded in the caller's object), so submitting
 * never allocates and never fails.  Tasks run in submission order, each on
 * one worker; a task must not wait for a task of the same pool (the client
 * keeps one pool for stripe jobs and another for the chunk calls they
 * wait on).
 *
 * Internal to client/.
 */
#ifndef WFS_CLIENT_POOL_INTERNAL_H
#define WFS_CLIENT_POOL_INTERNAL_H

#include <pthread.h>

struct wfs_pool;
struct wfs_task;

/* Run one task; @t is the task submitted (container_of it). */
typedef void (*wfs_task_fn)(struct wfs_task *t);

/* A queued piece of work, embedded in the caller's object; the caller keeps
 * it alive until fn has returned. */
struct wfs_task {
	struct wfs_task *next;	/* queue link, the pool's while queued */
	wfs_task_fn fn;		/* what to run */
};

/* Start @nthreads (>= 1) workers.  On success *out is the new pool; stop it
 * with wfs_pool_free.  Returns 0, -EINVAL, -ENOMEM, or the error of
 * pthread_create (then no worker runs).  Any thread. */
int wfs_pool_new(unsigned nthreads, struct wfs_pool **out);

/* Run every task queued, stop the workers and free the pool.  No task may
 * be submitted concurrently or afterwards.  NULL is a no-op.  Never from a
 * worker of @p. */
void wfs_pool_free(struct wfs_pool *p);

/* Queue @t to run @fn on a worker.  Never fails.  Any thread. */
void wfs_pool_submit(struct wfs_pool *p, struct wfs_task *t, wfs_task_fn fn);

/* A count of tasks still to finish, to wait for: the caller owns the
 * struct (usually on its stack) and its contents between init and
 * release. */
struct wfs_batch {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned pending;	/* protected by lock */
};

void wfs_batch_init(struct wfs_batch *b);

/* Release the batch; no task of it may be pending. */
void wfs_batch_release(struct wfs_batch *b);

/* Count one more task before submitting it. */
void wfs_batch_add(struct wfs_batch *b);

/* Mark one task finished: the last thing a task of the batch does with
 * it, since the waiter may release the batch right after. */
void wfs_batch_done(struct wfs_batch *b);

/* Wait until every task counted has finished. */
void wfs_batch_wait(struct wfs_batch *b);

#endif
