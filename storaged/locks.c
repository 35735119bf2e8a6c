/* storaged/locks: the master's in-memory lock table (see locks.h).
 *
 * Files with locks or waits sit in a fixed hash of chains by inode.  Each
 * file keeps its locks in an unordered list (a file rarely has more than a
 * handful) and its waits in a FIFO.  A lock belongs to one owner: the pair
 * (client id, lock owner).  flock locks are stored like POSIX locks over
 * [0, UINT64_MAX] with kind FLOCK, and only meet locks of their own kind.
 *
 * Setting a lock for an owner, as fcntl(2) does:
 *   1. refuse if another owner's lock of the same kind overlaps and either
 *      is a write lock;
 *   2. cut the owner's own locks out of [start, end] (a lock spanning the
 *      whole range splits in two);
 *   3. unless unlocking, insert [start, end] and absorb the owner's locks
 *      of the same type that overlap or touch it.
 * Step 2 needs at most one new node and step 3 one more; both are
 * allocated before anything changes, so a failure leaves the table as it
 * was.
 *
 * After any change to a file, its waits are retried in order; those that
 * no longer conflict are applied and their callbacks collected, to be run
 * once the mutex is released.
 */
#include "storaged/locks.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "mem/mem.h"

#define BUCKETS 1024

struct lk {
	struct lk *next;
	uint32_t kind, type;
	uint64_t start, end;
	uint64_t owner;
	uint32_t pid;
	uint8_t client_len;
	unsigned char client[WFS_LOCKS_CLIENT_MAX];
};

struct waiter {
	struct waiter *next;
	struct lk req;		/* what it asks for (next unused) */
	uint64_t deadline;
	wfs_locks_grant_cb cb;
	void *arg;
	int rc;			/* outcome, once done */
};

struct file {
	struct file *next;	/* hash chain */
	uint64_t ino;
	struct lk *locks;
	struct waiter *wait_head, **wait_tail;
};

struct wfs_locks {
	pthread_mutex_t lock;
	size_t max;
	size_t nlocks;		/* protected by lock */
	size_t nwaits;		/* protected by lock */
	struct file *buckets[BUCKETS];	/* protected by lock */
};

/* ---- helpers on requests ---- */

static int req_check(const struct wfs_lock *r)
{
	if (r->kind != WFS_LOCK_POSIX && r->kind != WFS_LOCK_FLOCK)
		return -EINVAL;
	if (r->type > WFS_LOCK_WRITE)
		return -EINVAL;
	if (r->kind == WFS_LOCK_POSIX && r->start > r->end)
		return -EINVAL;
	if (r->client_len > WFS_LOCKS_CLIENT_MAX ||
	    (r->client_len && !r->client))
		return -EINVAL;
	return 0;
}

/* The request as a stored lock: flock covers the whole file. */
static void req_to_lk(const struct wfs_lock *r, struct lk *out)
{
	memset(out, 0, sizeof(*out));
	out->kind = r->kind;
	out->type = r->type;
	out->start = r->kind == WFS_LOCK_FLOCK ? 0 : r->start;
	out->end = r->kind == WFS_LOCK_FLOCK ? UINT64_MAX : r->end;
	out->owner = r->owner;
	out->pid = r->pid;
	out->client_len = (uint8_t)r->client_len;
	if (r->client_len)
		memcpy(out->client, r->client, r->client_len);
}

static bool same_owner(const struct lk *a, const struct lk *b)
{
	return a->owner == b->owner && a->client_len == b->client_len &&
	       memcmp(a->client, b->client, a->client_len) == 0;
}

static bool overlap(const struct lk *a, const struct lk *b)
{
	return a->start <= b->end && b->start <= a->end;
}

/* Whether @a and @b overlap or touch (so their union is one range). */
static bool adjacent(const struct lk *a, const struct lk *b)
{
	if (overlap(a, b))
		return true;
	return (a->end != UINT64_MAX && a->end + 1 == b->start) ||
	       (b->end != UINT64_MAX && b->end + 1 == a->start);
}

/* The first lock of @f that @r conflicts with, or NULL. */
static const struct lk *find_conflict(const struct file *f,
				      const struct lk *r)
{
	if (!f || r->type == WFS_LOCK_UNLOCK)
		return NULL;
	for (const struct lk *l = f->locks; l; l = l->next) {
		if (l->kind != r->kind || same_owner(l, r) || !overlap(l, r))
			continue;
		if (l->type == WFS_LOCK_WRITE || r->type == WFS_LOCK_WRITE)
			return l;
	}
	return NULL;
}

/* ---- files ---- */

static struct file **bucket(struct wfs_locks *t, uint64_t ino)
{
	return &t->buckets[(ino * 0x9E3779B97F4A7C15ULL) >> 54];
}

static struct file *file_find(struct wfs_locks *t, uint64_t ino)
{
	for (struct file *f = *bucket(t, ino); f; f = f->next)
		if (f->ino == ino)
			return f;
	return NULL;
}

static struct file *file_get(struct wfs_locks *t, uint64_t ino)
{
	struct file *f = file_find(t, ino), **b;

	if (f)
		return f;
	f = wfs_calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->ino = ino;
	f->wait_tail = &f->wait_head;
	b = bucket(t, ino);
	f->next = *b;
	*b = f;
	return f;
}

/* Free @f if it holds nothing any more. */
static void file_put(struct wfs_locks *t, struct file *f)
{
	struct file **p;

	if (f->locks || f->wait_head)
		return;
	for (p = bucket(t, f->ino); *p != f; p = &(*p)->next)
		;
	*p = f->next;
	wfs_free(f);
}

/* ---- setting ---- */

/* Steps 2 and 3 of the top comment, with @spare[0..1] preallocated; the
 * spares used are set to NULL. */
static void apply_set(struct wfs_locks *t, struct file *f, const struct lk *r,
		      struct lk *spare[2])
{
	struct lk **pp = &f->locks, *l;

	while ((l = *pp)) {
		if (l->kind != r->kind || !same_owner(l, r) || !overlap(l, r)) {
			pp = &l->next;
			continue;
		}
		if (l->start < r->start && l->end > r->end) {
			struct lk *right = spare[0];

			spare[0] = NULL;
			*right = *l;
			right->start = r->end + 1;
			l->end = r->start - 1;
			right->next = l->next;
			l->next = right;
			t->nlocks++;
			break;	/* nothing else of this owner overlaps */
		} else if (l->start < r->start) {
			l->end = r->start - 1;
		} else if (l->end > r->end) {
			l->start = r->end + 1;
		} else {
			*pp = l->next;
			wfs_free(l);
			t->nlocks--;
			continue;
		}
		pp = &l->next;
	}
	if (r->type == WFS_LOCK_UNLOCK)
		return;
	l = spare[1];
	spare[1] = NULL;
	*l = *r;
	for (pp = &f->locks; *pp;) {
		struct lk *o = *pp;

		if (o->kind == r->kind && o->type == r->type &&
		    same_owner(o, r) && adjacent(o, l)) {
			if (o->start < l->start)
				l->start = o->start;
			if (o->end > l->end)
				l->end = o->end;
			*pp = o->next;
			wfs_free(o);
			t->nlocks--;
			continue;
		}
		pp = &o->next;
	}
	l->next = f->locks;
	f->locks = l;
	t->nlocks++;
}

/* Set @r on @f if nothing conflicts.  Returns 0, -EAGAIN, -ENOLCK or
 * -ENOMEM; the table is unchanged on failure. */
static int try_set(struct wfs_locks *t, struct file *f, const struct lk *r)
{
	struct lk *spare[2];

	if (find_conflict(f, r))
		return -EAGAIN;
	if (r->type != WFS_LOCK_UNLOCK && t->nlocks + 2 > t->max)
		return -ENOLCK;
	spare[0] = wfs_malloc(sizeof(struct lk));
	spare[1] = wfs_malloc(sizeof(struct lk));
	if (!spare[0] || !spare[1]) {
		wfs_free(spare[0]);
		wfs_free(spare[1]);
		return -ENOMEM;
	}
	apply_set(t, f, r, spare);
	wfs_free(spare[0]);
	wfs_free(spare[1]);
	return 0;
}

/* Retry @f's waits in order; move those that are done to *@done. */
static void wake(struct wfs_locks *t, struct file *f, struct waiter ***done)
{
	struct waiter **pp = &f->wait_head, *w;

	while ((w = *pp)) {
		int rc = try_set(t, f, &w->req);

		if (rc == -EAGAIN) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		t->nwaits--;
		w->rc = rc;
		w->next = NULL;
		**done = w;
		*done = &w->next;
	}
	f->wait_tail = pp;
}

static void run_done(struct waiter *w)
{
	while (w) {
		struct waiter *next = w->next;

		w->cb(w->arg, w->rc);
		wfs_free(w);
		w = next;
	}
}

/* Set or queue: the body of both public setters, under the lock.  With @w
 * NULL a conflict fails; otherwise @w is queued on it. */
static int set_locked(struct wfs_locks *t, const struct lk *r, uint64_t ino,
		      struct waiter *w, struct waiter ***done)
{
	struct file *f = file_get(t, ino);
	int rc;

	if (!f)
		return -ENOMEM;
	rc = try_set(t, f, r);
	if (rc == -EAGAIN && w) {
		*f->wait_tail = w;
		f->wait_tail = &w->next;
		t->nwaits++;
		return 1;
	}
	if (rc == 0)
		wake(t, f, done);
	file_put(t, f);
	return rc;
}

int wfs_locks_set(struct wfs_locks *t, const struct wfs_lock *req)
{
	struct waiter *done = NULL, **tail = &done;
	struct lk r;
	int rc = req_check(req);

	if (rc)
		return rc;
	req_to_lk(req, &r);
	pthread_mutex_lock(&t->lock);
	rc = set_locked(t, &r, req->ino, NULL, &tail);
	pthread_mutex_unlock(&t->lock);
	run_done(done);
	return rc;
}

int wfs_locks_set_wait(struct wfs_locks *t, const struct wfs_lock *req,
		       uint64_t deadline, wfs_locks_grant_cb cb, void *arg)
{
	struct waiter *done = NULL, **tail = &done, *w;
	int rc = req_check(req);

	if (rc)
		return rc;
	w = wfs_calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	req_to_lk(req, &w->req);
	w->deadline = deadline;
	w->cb = cb;
	w->arg = arg;
	pthread_mutex_lock(&t->lock);
	rc = set_locked(t, &w->req, req->ino, w, &tail);
	pthread_mutex_unlock(&t->lock);
	if (rc != 1)
		wfs_free(w);
	run_done(done);
	return rc;
}

int wfs_locks_get(struct wfs_locks *t, const struct wfs_lock *req,
		  struct wfs_lock *out)
{
	const struct lk *c;
	struct lk r;
	int rc = req_check(req);

	if (rc)
		return rc;
	req_to_lk(req, &r);
	memset(out, 0, sizeof(*out));
	out->ino = req->ino;
	out->kind = req->kind;
	pthread_mutex_lock(&t->lock);
	c = find_conflict(file_find(t, req->ino), &r);
	if (c) {
		out->type = c->type;
		out->start = c->start;
		out->end = c->end;
		out->owner = c->owner;
		out->pid = c->pid;
	}
	pthread_mutex_unlock(&t->lock);
	return 0;
}

/* ---- waits ending without a grant, clients going ---- */

/* Take out of the queues every wait (@all) or those whose deadline is at
 * or before @now, with outcome @rc, into *@done. */
static void take_waits(struct wfs_locks *t, bool all, uint64_t now, int rc,
		       struct waiter ***done)
{
	for (unsigned b = 0; b < BUCKETS; b++) {
		struct file *f = t->buckets[b], *next;

		for (; f; f = next) {
			struct waiter **pp = &f->wait_head, *w;

			next = f->next;
			while ((w = *pp)) {
				if (!all && w->deadline > now) {
					pp = &w->next;
					continue;
				}
				*pp = w->next;
				t->nwaits--;
				w->rc = rc;
				w->next = NULL;
				**done = w;
				*done = &w->next;
			}
			f->wait_tail = pp;
			file_put(t, f);
		}
	}
}

void wfs_locks_expire(struct wfs_locks *t, uint64_t now)
{
	struct waiter *done = NULL, **tail = &done;

	pthread_mutex_lock(&t->lock);
	if (t->nwaits)
		take_waits(t, false, now, -ETIMEDOUT, &tail);
	pthread_mutex_unlock(&t->lock);
	run_done(done);
}

void wfs_locks_cancel_waits(struct wfs_locks *t)
{
	struct waiter *done = NULL, **tail = &done;

	pthread_mutex_lock(&t->lock);
	if (t->nwaits)
		take_waits(t, true, 0, -ECANCELED, &tail);
	pthread_mutex_unlock(&t->lock);
	run_done(done);
}

/* Drop @f's locks held by client @client; returns whether any went. */
static bool drop_file_client(struct wfs_locks *t, struct file *f,
			     const void *client, size_t len)
{
	struct lk **pp = &f->locks, *l;
	bool dropped = false;

	while ((l = *pp)) {
		if (l->client_len == len &&
		    memcmp(l->client, client, len) == 0) {
			*pp = l->next;
			wfs_free(l);
			t->nlocks--;
			dropped = true;
			continue;
		}
		pp = &l->next;
	}
	return dropped;
}

void wfs_locks_drop_client(struct wfs_locks *t, const void *client,
			   size_t len)
{
	struct waiter *done = NULL, **tail = &done;

	if (len > WFS_LOCKS_CLIENT_MAX || (len && !client))
		return;
	pthread_mutex_lock(&t->lock);
	for (unsigned b = 0; b < BUCKETS; b++) {
		struct file *f = t->buckets[b], *next;

		for (; f; f = next) {
			next = f->next;
			if (drop_file_client(t, f, client, len))
				wake(t, f, &tail);
			file_put(t, f);
		}
	}
	pthread_mutex_unlock(&t->lock);
	run_done(done);
}

void wfs_locks_count(struct wfs_locks *t, size_t *locks, size_t *waits)
{
	pthread_mutex_lock(&t->lock);
	if (locks)
		*locks = t->nlocks;
	if (waits)
		*waits = t->nwaits;
	pthread_mutex_unlock(&t->lock);
}

/* ---- life ---- */

int wfs_locks_new(size_t max, struct wfs_locks **out)
{
	struct wfs_locks *t = wfs_calloc(1, sizeof(*t));

	*out = NULL;
	if (!t)
		return -ENOMEM;
	pthread_mutex_init(&t->lock, NULL);
	t->max = max ? max : WFS_LOCKS_DEFAULT_MAX;
	*out = t;
	return 0;
}

void wfs_locks_free(struct wfs_locks *t)
{
	if (!t)
		return;
	wfs_locks_cancel_waits(t);
	for (unsigned b = 0; b < BUCKETS; b++) {
		struct file *f = t->buckets[b], *next;

		for (; f; f = next) {
			next = f->next;
			while (f->locks) {
				struct lk *l = f->locks;

				f->locks = l->next;
				wfs_free(l);
			}
			wfs_free(f);
		}
	}
	pthread_mutex_destroy(&t->lock);
	wfs_free(t);
}
