/* client/behind: unlinks applied in the background (behind_internal.h).
 *
 * Queued unlinks sit on one list, oldest first, each with a sequence
 * number; workers take the oldest untaken ones, many per call
 * (UnlinkMany), and drop them from the list once applied.  A waiter notes the
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

/* Calls in flight at once, and unlinks per call: while one call is out
 * the kernel's next unlinks queue up, and the next call takes them all.
 * A second worker starts only once PER_CALL wait untaken: a call costs
 * the client and the node far more than an item in it, so starting one
 * per unlink while another is out would make many small calls exactly
 * when the machine is busiest.
 * At most QUEUE_MAX wait or run; a caller queueing more waits for a place
 * (removals never pile up unbounded behind a slow cluster).  Once the
 * oldest has waited SLOW_MS, the cluster is in trouble (an election, a
 * node down): new unlinks are then applied before they are answered, so
 * few are ever answered early and then delayed for long. */
#define WORKERS 4
#define PER_CALL 32
#define QUEUE_MAX 128
#define SLOW_MS 1000
/* How long to keep one name per call after a node said it does not know
 * UnlinkMany (a rolling upgrade ends). */
#define SINGLE_MS 60000

struct unlink_op {
	struct unlink_op *next;		/* on b->ops; b->lock */
	uint64_t seq;
	int64_t queued_ms;		/* CLOCK_MONOTONIC */
	bool taken;			/* a worker is applying it; b->lock */
	struct wfs_cred cred;
	uint64_t parent;
	wfs_client_unlinked_cb done;
	void *arg;
	char name[];
};

struct worker {
	struct wfs_task task;
	struct wfs_behind *b;
	bool busy;			/* submitted, not yet returned; b->lock */
};

struct wfs_behind {
	struct wfs_client *c;
	struct wfs_pool *pool;
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* an unlink finished */
	struct unlink_op *ops;		/* queued or running, by seq; lock */
	uint64_t seq;			/* the last number given; lock */
	atomic_uint n;			/* ops on the list; written under lock */
	unsigned untaken;		/* of those, not taken by a worker; lock */
	int err;			/* the first failure not yet settled;
					 * lock */
	int64_t single_until;		/* before this (ms), one name per call:
					 * the node predates UnlinkMany; lock */
	bool slow;			/* unlinks are applied before they are
					 * answered (SLOW_MS); lock */
	struct worker workers[WORKERS];
};

int wfs_behind_new(struct wfs_client *c, struct wfs_behind **out)
{
	struct wfs_behind *b = wfs_calloc(1, sizeof(*b));
	int rc;

	*out = NULL;
	if (!b)
		return -ENOMEM;
	b->c = c;
	for (unsigned i = 0; i < WORKERS; i++)
		b->workers[i].b = b;
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

/* Set on a worker while it runs the callbacks of what it applied: the
 * calls they make concern unlinks already applied and must not wait for
 * later ones, which no worker would take while all of them waited. */
static __thread bool in_callback;

/* Whether an unlink numbered @upto or lower is still on the list: any
 * (@name NULL), or one of @parent/@name. */
static bool pending_upto(const struct wfs_behind *b, uint64_t upto,
			 uint64_t parent, const char *name)
{
	for (const struct unlink_op *op = b->ops; op && op->seq <= upto;
	     op = op->next)
		if (!name ||
		    (op->parent == parent && strcmp(op->name, name) == 0))
			return true;
	return false;
}

/* Wait until pending_upto() of what is queued now is false. */
static void wait_upto(struct wfs_behind *b, uint64_t parent,
		      const char *name)
{
	uint64_t upto;

	if (!b || in_callback || atomic_load(&b->n) == 0)
		return;
	pthread_mutex_lock(&b->lock);
	upto = b->seq;
	while (pending_upto(b, upto, parent, name))
		pthread_cond_wait(&b->cond, &b->lock);
	pthread_mutex_unlock(&b->lock);
}

void wfs_behind_wait(struct wfs_behind *b)
{
	wait_upto(b, 0, NULL);
}

void wfs_behind_wait_name(struct wfs_behind *b, uint64_t parent,
			  const char *name)
{
	wait_upto(b, parent, name);
}

bool wfs_behind_pending(struct wfs_behind *b)
{
	return b && atomic_load(&b->n) > 0;
}

/* Apply @n taken unlinks: in one call, or one by one for a node that
 * predates UnlinkMany.  Sets each item's outcome. */
static void apply(struct wfs_behind *b, struct unlink_op **ops,
		  struct wfs_unlink_item *items, unsigned n)
{
	bool single;
	int rc;

	for (unsigned i = 0; i < n; i++)
		items[i] = (struct wfs_unlink_item){
			.cred = &ops[i]->cred, .parent = ops[i]->parent,
			.name = ops[i]->name, .nlink = 1 };
	pthread_mutex_lock(&b->lock);
	single = wfs_client_now_ms() < b->single_until;
	pthread_mutex_unlock(&b->lock);
	if (!single) {
		rc = wfs_meta_unlink_many(b->c, items, n, WFS_CALL_BEHIND);
		if (rc != -EOPNOTSUPP) {
			for (unsigned i = 0; rc && i < n; i++)
				items[i].rc = rc;
			return;
		}
		wfs_log_warn("client", "the cluster does not know UnlinkMany "
			     "(an older node): unlinking one name per call");
		pthread_mutex_lock(&b->lock);
		b->single_until = wfs_client_now_ms() + SINGLE_MS;
		pthread_mutex_unlock(&b->lock);
	}
	for (unsigned i = 0; i < n; i++)
		items[i].rc = wfs_meta_unlink(b->c, items[i].cred,
					      items[i].parent, items[i].name,
					      WFS_CALL_BEHIND, &items[i].ino,
					      &items[i].nlink);
}

/* Log an unlink's failure; a name already gone counts as removed. */
static int outcome(struct unlink_op *op, struct wfs_unlink_item *it)
{
	if (it->rc == -ENOENT) {
		/* Someone else removed it first: it is gone, as asked. */
		wfs_log_debug("client", "unlink of %" PRIu64 "/%s: already "
			      "gone", op->parent, op->name);
		it->ino = 0;
		it->nlink = 0;
		return 0;
	}
	if (it->rc)
		wfs_log_error("client", "unlink of '%s' in directory %" PRIu64
			      " (answered before it was applied) failed: %s;"
			      " the name may still be there", op->name,
			      op->parent,
			      strerror(-it->rc));
	return it->rc;
}

/* A worker: takes the oldest unlinks no one has taken, up to PER_CALL,
 * applies them, and goes on until none is left. */
static void run_worker(struct wfs_task *t)
{
	struct worker *w = (struct worker *)t;
	struct wfs_behind *b = w->b;
	struct unlink_op *ops[PER_CALL];
	struct wfs_unlink_item items[PER_CALL];

	for (;;) {
		unsigned n = 0;

		pthread_mutex_lock(&b->lock);
		for (struct unlink_op *op = b->ops; op && n < PER_CALL;
		     op = op->next)
			if (!op->taken) {
				op->taken = true;
				ops[n++] = op;
			}
		b->untaken -= n;
		if (n == 0) {
			w->busy = false;
			pthread_mutex_unlock(&b->lock);
			return;
		}
		pthread_mutex_unlock(&b->lock);
		apply(b, ops, items, n);
		/* The callbacks run before the unlinks leave the list, so a
		 * settle also waits for what they do (an orphan's release);
		 * the calls they make do not wait (in_callback). */
		in_callback = true;
		for (unsigned i = 0; i < n; i++) {
			items[i].rc = outcome(ops[i], &items[i]);
			if (ops[i]->done)
				ops[i]->done(ops[i]->arg, items[i].rc,
					     items[i].ino, items[i].nlink);
		}
		in_callback = false;
		pthread_mutex_lock(&b->lock);
		for (unsigned i = 0; i < n; i++) {
			struct unlink_op **pp = &b->ops;

			while (*pp != ops[i])
				pp = &(*pp)->next;
			*pp = ops[i]->next;
			if (items[i].rc && !b->err)
				b->err = items[i].rc;
			wfs_free(ops[i]);
		}
		atomic_fetch_sub(&b->n, n);
		pthread_cond_broadcast(&b->cond);
		pthread_mutex_unlock(&b->lock);
	}
}

int wfs_client_unlink_behind(struct wfs_client *c,
			     const struct wfs_cred *cred, uint64_t parent,
			     const char *name, wfs_client_unlinked_cb done,
			     void *arg)
{
	struct wfs_behind *b = c->behind;
	size_t len = strlen(name);
	struct unlink_op *op, **tail;
	struct worker *w = NULL;
	int64_t now = wfs_client_now_ms();
	unsigned busy = 0;
	bool slow;

	if (len > NAME_MAX)
		return -ENAMETOOLONG;
	pthread_mutex_lock(&b->lock);
	slow = b->ops && now - b->ops->queued_ms > SLOW_MS;
	if (slow != b->slow) {
		b->slow = slow;
		if (slow)
			wfs_log_warn("client", "the cluster has not applied an "
				     "unlink queued %lld ms ago: unlinks are "
				     "answered once applied until it catches "
				     "up", (long long)(now - b->ops->queued_ms));
		else
			wfs_log_info("client", "unlinks are answered once "
				     "queued again");
	}
	pthread_mutex_unlock(&b->lock);
	if (slow) {
		uint64_t ino = 0;
		uint32_t nlink = 1;
		int rc = wfs_meta_unlink(c, cred, parent, name, 0, &ino,
					 &nlink);

		if (rc == 0 && done)
			done(arg, 0, ino, nlink);
		return rc;
	}
	op = wfs_malloc(sizeof(*op) + len + 1);
	if (!op)
		return -ENOMEM;
	memset(op, 0, sizeof(*op));
	memcpy(op->name, name, len + 1);
	op->cred = *cred;
	op->parent = parent;
	op->done = done;
	op->arg = arg;
	op->queued_ms = now;
	pthread_mutex_lock(&b->lock);
	while (atomic_load(&b->n) >= QUEUE_MAX)
		pthread_cond_wait(&b->cond, &b->lock);
	op->seq = ++b->seq;
	for (tail = &b->ops; *tail; tail = &(*tail)->next)
		;
	*tail = op;
	atomic_fetch_add(&b->n, 1);
	b->untaken++;
	/* An idle worker to take it if none is busy or a call's worth waits
	 * (a busy one takes it on its next round anyway). */
	for (unsigned i = 0; i < WORKERS; i++)
		busy += b->workers[i].busy;
	for (unsigned i = 0; i < WORKERS && !w; i++)
		if (!b->workers[i].busy && (busy == 0 || b->untaken >= PER_CALL))
			w = &b->workers[i];
	if (w)
		w->busy = true;
	pthread_mutex_unlock(&b->lock);
	/* A lookup must not be answered from a page read ahead with the name
	 * in it.  Forgotten once queued: a page whose read started before
	 * this is dropped, and one started after waits for the unlink. */
	wfs_name_changed(c, parent, name);
	if (w)
		wfs_pool_submit(b->pool, &w->task, run_worker);
	return 0;
}

bool wfs_client_unlinking(struct wfs_client *c, uint64_t dir)
{
	struct wfs_behind *b = c->behind;
	bool found = false;

	if (atomic_load(&b->n) == 0)
		return false;
	pthread_mutex_lock(&b->lock);
	for (struct unlink_op *op = b->ops; op && !found; op = op->next)
		found = op->parent == dir;
	pthread_mutex_unlock(&b->lock);
	return found;
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
	/* What failed is in the log; the caller (fsync) reports EIO, as a
	 * local file system does for a write-back it could not finish. */
	return rc ? -EIO : 0;
}
