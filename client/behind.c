/* client/behind: unlinks and creates applied in the background
 * (behind_internal.h).
 *
 * Queued operations sit on one list, oldest first, each with a sequence
 * number; workers take the oldest untaken ones, many of one kind per call
 * (UnlinkMany, CreateMany), and drop them from the list once applied.
 * Taking always starts at the oldest untaken operation, so the taken ones
 * are always the head of the list, and a worker sees at once whether an
 * operation of the other kind is still out before the first it could
 * take: then it takes nothing, and the worker that has that one out takes
 * the rest when it is done (a worker goes on until nothing is left that
 * it may take).  A waiter notes the last number given out and sleeps
 * until no operation at or below it is left on the list, so operations
 * queued after it started waiting cannot hold it up (an `rm -rf` next door
 * cannot starve a lookup).
 */
#include "client/behind_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "client/client_internal.h"
#include "client/leases_internal.h"
#include "log/log.h"
#include "mem/mem.h"

/* Calls in flight at once, and operations per call: while one call is
 * out the kernel's next operations queue up, and the next call takes them
 * all.  A second worker starts only once PER_CALL wait untaken: a call
 * costs the client and the node far more than an item in it, so starting
 * one per operation while another is out would make many small calls
 * exactly when the machine is busiest.
 * At most QUEUE_MAX wait or run; a caller queueing more waits for a place
 * (changes never pile up unbounded behind a slow cluster).  Once the
 * oldest has waited SLOW_MS, the cluster is in trouble (an election, a
 * node down): new operations are then applied before they are answered,
 * so few are ever answered early and then delayed for long. */
#define WORKERS 4
#define PER_CALL 32
#define QUEUE_MAX 128
#define SLOW_MS 1000
/* How long to keep one name per call after a node said it does not know
 * UnlinkMany (a rolling upgrade ends). */
#define SINGLE_MS 60000
/* Back-off between the sendings of unlinks or creates another session's
 * lease held off (EAGAIN), as wfs_meta_call's for a whole call. */
#define BACKOFF_MIN_MS 20
#define BACKOFF_MAX_MS 1000

enum op_kind { OP_UNLINK, OP_CREATE };

struct op {
	struct op *next;		/* on b->ops; b->lock */
	uint64_t seq;
	int64_t queued_ms;		/* CLOCK_MONOTONIC */
	bool taken;			/* a worker is applying it; b->lock */
	enum op_kind kind;
	struct wfs_cred cred;
	uint64_t parent;
	wfs_client_unlinked_cb done;	/* OP_UNLINK */
	void *arg;
	struct wfs_attr attr;		/* OP_CREATE: what it was answered
					 * with */
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
	pthread_cond_t cond;		/* an operation finished */
	struct op *ops;			/* queued or running, by seq; lock */
	uint64_t seq;			/* the last number given; lock */
	atomic_uint n;			/* ops on the list; written under lock */
	unsigned untaken;		/* of those, not taken by a worker; lock */
	int err;			/* the first failure not yet settled;
					 * lock */
	int64_t single_until;		/* before this (ms), one name per call:
					 * the node predates UnlinkMany; lock */
	bool slow;			/* operations are applied before they
					 * are answered (SLOW_MS); lock */
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
		wfs_log_error("client", "an unlink or create made before the "
			      "client stopped failed: %s", strerror(-b->err));
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
	wfs_free(b);
}

/* Set on a worker while it runs the callbacks of what it applied: the
 * calls they make concern operations already applied and must not wait
 * for later ones, which no worker would take while all of them waited. */
static __thread bool in_callback;

/* Whether an operation numbered @upto or lower is still on the list: any
 * (@name NULL), or one of @parent/@name. */
static bool pending_upto(const struct wfs_behind *b, uint64_t upto,
			 uint64_t parent, const char *name)
{
	for (const struct op *op = b->ops; op && op->seq <= upto;
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

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- unlinks ---- */

/* Wait @*backoff before sending again what a lease held off, doubling
 * it; false (and no wait) when that would pass @deadline. */
static bool backoff_wait(int64_t deadline, int64_t *backoff)
{
	if (wfs_client_now_ms() + *backoff > deadline)
		return false;
	sleep_ms(*backoff);
	*backoff = *backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
						 : *backoff * 2;
	return true;
}

/* Send the unlinks of @items[0..n) still to be made (rc -EAGAIN): in one
 * call, or one by one for a node that predates UnlinkMany.  Returns the
 * number another session's lease of their directory held off. */
static unsigned send_unlinks(struct wfs_behind *b,
			     struct wfs_unlink_item *items, unsigned n)
{
	struct wfs_unlink_item batch[PER_CALL];
	unsigned map[PER_CALL], m = 0, left = 0;
	bool single;
	int rc;

	for (unsigned i = 0; i < n; i++)
		if (items[i].rc == -EAGAIN) {
			map[m] = i;
			batch[m++] = items[i];
		}
	pthread_mutex_lock(&b->lock);
	single = wfs_client_now_ms() < b->single_until;
	pthread_mutex_unlock(&b->lock);
	if (!single) {
		rc = wfs_meta_unlink_many(b->c, batch, m, WFS_CALL_BEHIND);
		if (rc == -EOPNOTSUPP) {
			wfs_log_warn("client", "the cluster does not know "
				     "UnlinkMany (an older node): unlinking "
				     "one name per call");
			pthread_mutex_lock(&b->lock);
			b->single_until = wfs_client_now_ms() + SINGLE_MS;
			pthread_mutex_unlock(&b->lock);
			single = true;
		}
		for (unsigned j = 0; !single && rc && j < m; j++)
			batch[j].rc = rc;
	}
	/* One per call: the call itself waits out a lease (wfs_meta_call
	 * retries -EAGAIN). */
	for (unsigned j = 0; single && j < m; j++)
		batch[j].rc = wfs_meta_unlink(b->c, batch[j].cred,
					     batch[j].parent, batch[j].name,
					     WFS_CALL_BEHIND, &batch[j].ino,
					     &batch[j].nlink);
	for (unsigned j = 0; j < m; j++) {
		items[map[j]] = batch[j];
		left += batch[j].rc == -EAGAIN;
	}
	return left;
}

/* Apply @n taken unlinks; those held off by another session's lease of
 * their directory (which the node recalls meanwhile) are sent again, with
 * back-off, up to the retry deadline.  Sets each item's outcome. */
static void apply_unlinks(struct wfs_behind *b, struct op **ops,
			  struct wfs_unlink_item *items, unsigned n)
{
	int64_t deadline = wfs_client_now_ms() + b->c->opts.retry_ms;
	int64_t backoff = BACKOFF_MIN_MS;

	for (unsigned i = 0; i < n; i++)
		items[i] = (struct wfs_unlink_item){
			.cred = &ops[i]->cred, .parent = ops[i]->parent,
			.name = ops[i]->name, .nlink = 1, .rc = -EAGAIN };
	while (send_unlinks(b, items, n))
		if (!backoff_wait(deadline, &backoff)) {
			for (unsigned i = 0; i < n; i++)
				if (items[i].rc == -EAGAIN)
					items[i].rc = -EIO;
			return;
		}
}

/* Log an unlink's failure; a name already gone counts as removed. */
static int unlink_outcome(struct op *op, struct wfs_unlink_item *it)
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

/* Apply @n taken unlinks and run their callbacks; their outcomes into
 * @rcs. */
static void run_unlinks(struct wfs_behind *b, struct op **ops, int *rcs,
			unsigned n)
{
	struct wfs_unlink_item items[PER_CALL];

	apply_unlinks(b, ops, items, n);
	/* The callbacks run before the unlinks leave the list, so a settle
	 * also waits for what they do (an orphan's release); the calls they
	 * make do not wait (in_callback). */
	in_callback = true;
	for (unsigned i = 0; i < n; i++) {
		rcs[i] = unlink_outcome(ops[i], &items[i]);
		if (ops[i]->done)
			ops[i]->done(ops[i]->arg, rcs[i], items[i].ino,
				     items[i].nlink);
	}
	in_callback = false;
}

/* ---- creates ---- */

/* The directories of @items[0..n) into @dirs (distinct); returns how
 * many. */
static unsigned dirs_of(const struct wfs_create_item *items, unsigned n,
			uint64_t *dirs)
{
	unsigned nd = 0;

	for (unsigned i = 0; i < n; i++) {
		unsigned k = 0;

		while (k < nd && dirs[k] != items[i].parent)
			k++;
		if (k == nd)
			dirs[nd++] = items[i].parent;
	}
	return nd;
}

/* Send the creates of @items[0..n) still to be made (rc -EAGAIN) in one
 * CreateMany, and tell the leases what the reply says of them.  Returns
 * the number still held off by another session's lease. */
static unsigned send_creates(struct wfs_behind *b,
			     struct wfs_create_item *items, unsigned n)
{
	struct wfs_leases *l = b->c->leases;
	struct wfs_create_item batch[PER_CALL];
	uint64_t dirs[PER_CALL], stamps[PER_CALL], recalled[PER_CALL];
	unsigned map[PER_CALL], m = 0, nd, nrec = 0, left = 0;
	int64_t sent = wfs_client_now_ms();
	int rc;

	for (unsigned i = 0; i < n; i++)
		if (items[i].rc == -EAGAIN) {
			map[m] = i;
			batch[m++] = items[i];
		}
	nd = dirs_of(batch, m, dirs);
	for (unsigned k = 0; k < nd; k++)
		stamps[k] = wfs_leases_sending(l, dirs[k]);
	rc = wfs_meta_create_many(b->c, batch, m, WFS_CALL_BEHIND, recalled,
				  &nrec);
	for (unsigned j = 0; j < m; j++) {
		if (rc)
			batch[j].rc = rc;
		items[map[j]].rc = batch[j].rc;
		items[map[j]].attr = batch[j].attr;
		left += batch[j].rc == -EAGAIN;
	}
	if (rc)
		return 0;
	for (unsigned k = 0; k < nrec; k++)
		wfs_leases_recall(l, recalled[k]);
	/* A directory where a create was held off is another session's: the
	 * lease was lost.  One where they went through, not recalled, is
	 * still ours as of the sending. */
	for (unsigned k = 0; k < nd; k++) {
		bool through = false, held_off = false, rec = false;

		for (unsigned j = 0; j < m; j++)
			if (batch[j].parent == dirs[k]) {
				through |= batch[j].rc != -EAGAIN;
				held_off |= batch[j].rc == -EAGAIN;
			}
		for (unsigned j = 0; j < nrec; j++)
			rec |= recalled[j] == dirs[k];
		if (held_off)
			wfs_leases_recall(l, dirs[k]);
		else if (through && !rec)
			wfs_leases_confirm(l, dirs[k], stamps[k], sent);
	}
	return left;
}

/* Apply @n taken creates (one CreateMany, and again for those another
 * session's lease held off, with back-off, up to the retry deadline).
 * Sets each item's outcome. */
static void apply_creates(struct wfs_behind *b, struct op **ops,
			  struct wfs_create_item *items, unsigned n)
{
	int64_t deadline = wfs_client_now_ms() + b->c->opts.retry_ms;
	int64_t backoff = BACKOFF_MIN_MS;

	for (unsigned i = 0; i < n; i++)
		items[i] = (struct wfs_create_item){
			.cred = &ops[i]->cred, .parent = ops[i]->parent,
			.name = ops[i]->name,
			.mode = ops[i]->attr.mode & 07777,
			.ino = ops[i]->attr.ino,
			.time_ns = ops[i]->attr.mtime_ns, .rc = -EAGAIN };
	while (send_creates(b, items, n))
		if (!backoff_wait(deadline, &backoff)) {
			for (unsigned i = 0; i < n; i++)
				if (items[i].rc == -EAGAIN)
					items[i].rc = -EIO;
			return;
		}
}

/* Log a create's failure, and a file made otherwise than answered. */
static int create_outcome(const struct op *op,
			  const struct wfs_create_item *it)
{
	if (it->rc) {
		wfs_log_error("client", "create of '%s' in directory %" PRIu64
			      " as inode %" PRIu64 " (answered before it was "
			      "applied) failed: %s; the file is not there",
			      op->name, op->parent, op->attr.ino,
			      strerror(-it->rc));
		return it->rc;
	}
	/* The template was stale: the policy of the directory (or of one
	 * above) changed since the node last made a file there. */
	if (it->attr.blksize != op->attr.blksize ||
	    it->attr.policy_id != op->attr.policy_id)
		wfs_log_warn("client", "file '%s' in directory %" PRIu64
			     " (inode %" PRIu64 ") got policy %u and block "
			     "size %u, not %u and %u as answered: writes "
			     "through its first open may fail", op->name,
			     op->parent, op->attr.ino, it->attr.policy_id,
			     it->attr.blksize, op->attr.policy_id,
			     op->attr.blksize);
	return 0;
}

static void run_creates(struct wfs_behind *b, struct op **ops, int *rcs,
			unsigned n)
{
	struct wfs_create_item items[PER_CALL];

	apply_creates(b, ops, items, n);
	for (unsigned i = 0; i < n; i++) {
		rcs[i] = create_outcome(ops[i], &items[i]);
		/* After a failure the node answers the next creates there
		 * itself: its error then reaches the caller (out of space),
		 * and a lease that no longer protects the directory (a name
		 * made by another client) is given back. */
		if (rcs[i])
			wfs_leases_recall(b->c->leases, ops[i]->parent);
		wfs_leases_applied(b->c->leases, ops[i]->parent, rcs[i],
				   rcs[i] ? NULL : &items[i].attr);
	}
}

/* ---- workers ---- */

/* Take the oldest untaken operations, up to PER_CALL, all of the kind of
 * the first, into @ops; none if an operation of another kind is out
 * before them (its worker takes them later).  b->lock held. */
static unsigned take(struct wfs_behind *b, struct op **ops)
{
	unsigned out_kinds = 0, n = 0;

	for (struct op *op = b->ops; op && n < PER_CALL; op = op->next) {
		if (op->taken) {
			out_kinds |= 1u << op->kind;
			continue;
		}
		if (n == 0 && (out_kinds & ~(1u << op->kind)))
			break;
		if (n > 0 && op->kind != ops[0]->kind)
			break;
		op->taken = true;
		ops[n++] = op;
	}
	b->untaken -= n;
	return n;
}

/* A worker: takes what it may (take()), applies it, and goes on until
 * nothing is left that it may take. */
static void run_worker(struct wfs_task *t)
{
	struct worker *w = (struct worker *)t;
	struct wfs_behind *b = w->b;
	struct op *ops[PER_CALL];
	int rcs[PER_CALL];

	for (;;) {
		unsigned n;

		pthread_mutex_lock(&b->lock);
		n = take(b, ops);
		if (n == 0) {
			w->busy = false;
			pthread_mutex_unlock(&b->lock);
			return;
		}
		pthread_mutex_unlock(&b->lock);
		if (ops[0]->kind == OP_UNLINK)
			run_unlinks(b, ops, rcs, n);
		else
			run_creates(b, ops, rcs, n);
		pthread_mutex_lock(&b->lock);
		for (unsigned i = 0; i < n; i++) {
			struct op **pp = &b->ops;

			while (*pp != ops[i])
				pp = &(*pp)->next;
			*pp = ops[i]->next;
			if (rcs[i] && !b->err)
				b->err = rcs[i];
			wfs_free(ops[i]);
		}
		atomic_fetch_sub(&b->n, n);
		pthread_cond_broadcast(&b->cond);
		pthread_mutex_unlock(&b->lock);
	}
}

/* ---- queueing ---- */

/* Whether the queue is slow at @now (the oldest operation waited over
 * SLOW_MS), saying so when that changes.  b->lock held. */
static bool queue_slow(struct wfs_behind *b, int64_t now)
{
	bool slow = b->ops && now - b->ops->queued_ms > SLOW_MS;

	if (slow != b->slow) {
		b->slow = slow;
		if (slow)
			wfs_log_warn("client", "the cluster has not applied an "
				     "operation queued %lld ms ago: unlinks "
				     "and creates are answered once applied "
				     "until it catches up",
				     (long long)(now - b->ops->queued_ms));
		else
			wfs_log_info("client", "unlinks and creates are "
				     "answered once queued again");
	}
	return slow;
}

static bool is_slow(struct wfs_behind *b, int64_t now)
{
	bool slow;

	pthread_mutex_lock(&b->lock);
	slow = queue_slow(b, now);
	pthread_mutex_unlock(&b->lock);
	return slow;
}

/* A new operation for @name, or NULL when out of memory. */
static struct op *op_new(enum op_kind kind, const struct wfs_cred *cred,
			 uint64_t parent, const char *name, int64_t now)
{
	size_t len = strlen(name);
	struct op *op = wfs_malloc(sizeof(*op) + len + 1);

	if (!op)
		return NULL;
	memset(op, 0, sizeof(*op));
	memcpy(op->name, name, len + 1);
	op->kind = kind;
	op->cred = *cred;
	op->parent = parent;
	op->queued_ms = now;
	return op;
}

/* Put @op at the end of the queue, waiting for a place.  Returns the
 * worker to submit (NULL: none needed). */
static struct worker *enqueue(struct wfs_behind *b, struct op *op)
{
	struct op **tail;
	struct worker *w = NULL;
	unsigned busy = 0;

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
	return w;
}

int wfs_client_unlink_behind(struct wfs_client *c,
			     const struct wfs_cred *cred, uint64_t parent,
			     const char *name, wfs_client_unlinked_cb done,
			     void *arg)
{
	struct wfs_behind *b = c->behind;
	int64_t now = wfs_client_now_ms();
	struct worker *w;
	struct op *op;

	if (strlen(name) > NAME_MAX)
		return -ENAMETOOLONG;
	if (is_slow(b, now)) {
		uint64_t ino = 0;
		uint32_t nlink = 1;
		int rc = wfs_meta_unlink(c, cred, parent, name, 0, &ino,
					 &nlink);

		if (rc == 0 && done)
			done(arg, 0, ino, nlink);
		return rc;
	}
	op = op_new(OP_UNLINK, cred, parent, name, now);
	if (!op)
		return -ENOMEM;
	op->done = done;
	op->arg = arg;
	w = enqueue(b, op);
	/* A lookup must not be answered from a page read ahead with the name
	 * in it.  Forgotten once queued: a page whose read started before
	 * this is dropped, and one started after waits for the unlink. */
	wfs_name_changed(c, parent, name);
	if (w)
		wfs_pool_submit(b->pool, &w->task, run_worker);
	return 0;
}

static int64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int wfs_behind_create(struct wfs_client *c, const struct wfs_cred *cred,
		      uint64_t parent, const char *name, uint32_t mode,
		      struct wfs_attr *attr)
{
	struct wfs_behind *b = c->behind;
	int64_t now = wfs_client_now_ms();
	struct worker *w;
	struct op *op;

	if (!c->leases || is_slow(b, now))
		return 1;
	op = op_new(OP_CREATE, cred, parent, name, now);
	if (!op)
		return 1;
	if (!wfs_leases_early(c->leases, cred, parent, name, mode,
			      realtime_ns(), &op->attr)) {
		wfs_free(op);
		return 1;
	}
	*attr = op->attr;
	w = enqueue(b, op);
	/* As for an unlink: the name goes on the list of names at once (a
	 * lookup of it must not be answered "absent"), and what was read
	 * ahead of it goes. */
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
	for (struct op *op = b->ops; op && !found; op = op->next)
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
