/* client/behind: unlinks applied in the background (behind_internal.h).
 *
 * Queued unlinks sit on one list, oldest first, each with a sequence
 * number; a worker of the pool takes each off to run it.  A waiter notes the
 * last number given out and sleeps until no unlink at or below it is left
 * on the list, so unlinks queued after it started waiting cannot hold it
 * up (an `rm -rf` next door cannot starve a lookup).
 */
#include "client/behind_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "client/client_internal.h"
#include "log/log.h"
#include "mem/mem.h"

/* Unlinks running at once: enough for the master to put many in one
 * commit.  At most QUEUE_MAX wait or run; a caller queueing more waits for
 * a place (a removal never piles up unbounded behind a slow cluster). */
#define WORKERS 16
#define QUEUE_MAX 64

struct unlink_op {
	struct wfs_task task;
	struct unlink_op *next;		/* on b->ops; b->lock */
	struct wfs_client *c;
	struct wfs_behind *b;
	uint64_t seq;
	struct wfs_cred cred;
	uint64_t parent;
	wfs_client_unlinked_cb done;
	void *arg;
	char name[];
};

struct wfs_behind {
	struct wfs_pool *pool;
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* an unlink finished */
	struct unlink_op *ops;		/* queued or running, by seq; lock */
	uint64_t seq;			/* the last number given; lock */
	atomic_uint n;			/* ops on the list; written under lock */
	int err;			/* the first failure not yet settled;
					 * lock */
};

int wfs_behind_new(struct wfs_behind **out)
{
	struct wfs_behind *b = wfs_calloc(1, sizeof(*b));
	int rc;

	*out = NULL;
	if (!b)
		return -ENOMEM;
	rc = wfs_pool_new(WORKERS, &b->pool);
	if (rc) {
		wfs_free(b);
		return rc;
	}
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	*out = b;
	return 0;
}

void wfs_behind_free(struct wfs_behind *b)
{
	if (!b)
		return;
	wfs_pool_free(b->pool);		/* runs what is queued */
	if (b->err)
		wfs_log_error("client", "an unlink made before the client "
			      "stopped failed: %s", strerror(-b->err));
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
	wfs_free(b);
}

/* Whether an unlink numbered @upto or lower is still on the list. */
static bool older_pending(const struct wfs_behind *b, uint64_t upto)
{
	return b->ops && b->ops->seq <= upto;
}

void wfs_behind_wait(struct wfs_behind *b)
{
	uint64_t upto;

	if (!b || atomic_load(&b->n) == 0)
		return;
	pthread_mutex_lock(&b->lock);
	upto = b->seq;
	while (older_pending(b, upto))
		pthread_cond_wait(&b->cond, &b->lock);
	pthread_mutex_unlock(&b->lock);
}

static void run_unlink(struct wfs_task *t)
{
	struct unlink_op *op = (struct unlink_op *)t;
	struct wfs_behind *b = op->b;
	uint64_t ino = 0;
	uint32_t nlink = 1;
	int rc;

	rc = wfs_meta_unlink(op->c, &op->cred, op->parent, op->name,
			     WFS_CALL_BEHIND, &ino, &nlink);
	if (rc == -ENOENT) {
		/* Someone else removed it first: it is gone, as asked. */
		wfs_log_debug("client", "unlink of %" PRIu64 "/%s: already "
			      "gone", op->parent, op->name);
		rc = 0;
		ino = 0;
		nlink = 0;
	} else if (rc) {
		wfs_log_error("client", "unlink of '%s' in directory %" PRIu64
			      " (answered before it was applied) failed: %s;"
			      " the name is still there", op->name, op->parent,
			      strerror(-rc));
	}
	pthread_mutex_lock(&b->lock);
	for (struct unlink_op **pp = &b->ops; *pp; pp = &(*pp)->next)
		if (*pp == op) {
			*pp = op->next;
			break;
		}
	atomic_fetch_sub(&b->n, 1);
	if (rc && !b->err)
		b->err = rc;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
	/* Off the list first: the callback may make calls, which wait for
	 * the list (never for this unlink, then). */
	if (op->done)
		op->done(op->arg, op->parent, rc, ino, nlink);
	wfs_free(op);
}

int wfs_client_unlink_behind(struct wfs_client *c,
			     const struct wfs_cred *cred, uint64_t parent,
			     const char *name, wfs_client_unlinked_cb done,
			     void *arg)
{
	struct wfs_behind *b = c->behind;
	size_t len = strlen(name);
	struct unlink_op *op, **tail;

	if (len > NAME_MAX)
		return -ENAMETOOLONG;
	op = wfs_malloc(sizeof(*op) + len + 1);
	if (!op)
		return -ENOMEM;
	memset(op, 0, sizeof(*op));
	memcpy(op->name, name, len + 1);
	op->c = c;
	op->b = b;
	op->cred = *cred;
	op->parent = parent;
	op->done = done;
	op->arg = arg;
	/* A lookup of the name must not be answered from a page read ahead
	 * before it went: from now on it asks the node, after this unlink. */
	wfs_sa_forget_name(c, parent, name);
	pthread_mutex_lock(&b->lock);
	while (atomic_load(&b->n) >= QUEUE_MAX)
		pthread_cond_wait(&b->cond, &b->lock);
	op->seq = ++b->seq;
	for (tail = &b->ops; *tail; tail = &(*tail)->next)
		;
	*tail = op;
	atomic_fetch_add(&b->n, 1);
	pthread_mutex_unlock(&b->lock);
	wfs_pool_submit(b->pool, &op->task, run_unlink);
	return 0;
}

int wfs_client_settle(struct wfs_client *c)
{
	struct wfs_behind *b = c->behind;
	int rc;

	wfs_behind_wait(b);
	pthread_mutex_lock(&b->lock);
	rc = b->err;
	b->err = 0;
	pthread_mutex_unlock(&b->lock);
	return rc;
}
