/* fuse/itable: lookup counts and per-inode cache notes of the mount (see
 * itable.h), in a chained hash table that doubles when it fills.
 */
#include "fuse/itable.h"

#include <errno.h>
#include <pthread.h>
#include <sys/stat.h>

#include "mem/mem.h"

struct ient {
	struct ient *next;
	uint64_t ino;
	uint64_t nlookup;
	bool orphan;
	bool cached;		/* cached_* are set */
	bool locked;		/* POSIX locks were taken on it */
	int64_t cached_mtime;
	uint64_t cached_size;
	bool told;		/* told_* are set */
	int64_t told_mtime;
	uint64_t told_size;
	int64_t nocap_until;
	struct wfs_attr *attr;	/* directories only: kept attributes, or
				 * NULL; allocated on first use */
	int64_t attr_until;	/* attr is valid before this */
	int64_t attr_blocked;	/* nothing is kept before this */
};

struct wfs_itable {
	pthread_mutex_t lock;
	struct ient **slots;
	unsigned long nslots, count;
};

static void ient_free(struct ient *e)
{
	wfs_free(e->attr);
	wfs_free(e);
}

static unsigned long slot_of(const struct wfs_itable *t, uint64_t ino)
{
	return (unsigned long)((ino * 0x9E3779B97F4A7C15ULL) >> 17) %
	       t->nslots;
}

int wfs_itable_new(struct wfs_itable **out)
{
	struct wfs_itable *t = wfs_calloc(1, sizeof(*t));

	*out = NULL;
	if (!t)
		return -ENOMEM;
	t->nslots = 1024;
	t->slots = wfs_calloc(t->nslots, sizeof(*t->slots));
	if (!t->slots) {
		wfs_free(t);
		return -ENOMEM;
	}
	pthread_mutex_init(&t->lock, NULL);
	*out = t;
	return 0;
}

void wfs_itable_free(struct wfs_itable *t)
{
	if (!t)
		return;
	for (unsigned long i = 0; i < t->nslots; i++)
		while (t->slots[i]) {
			struct ient *e = t->slots[i];

			t->slots[i] = e->next;
			ient_free(e);
		}
	wfs_free(t->slots);
	pthread_mutex_destroy(&t->lock);
	wfs_free(t);
}

static struct ient **find(struct wfs_itable *t, uint64_t ino)
{
	struct ient **pp = &t->slots[slot_of(t, ino)];

	while (*pp && (*pp)->ino != ino)
		pp = &(*pp)->next;
	return pp;
}

/* Double the slots when the table is fuller than one entry per slot; a
 * failed allocation just leaves the chains longer. */
static void grow(struct wfs_itable *t)
{
	unsigned long old = t->nslots;
	struct ient **slots = wfs_calloc(old * 2, sizeof(*slots));
	struct ient **prev = t->slots;

	if (!slots)
		return;
	t->slots = slots;
	t->nslots = old * 2;
	for (unsigned long i = 0; i < old; i++)
		while (prev[i]) {
			struct ient *e = prev[i];
			unsigned long s = slot_of(t, e->ino);

			prev[i] = e->next;
			e->next = slots[s];
			slots[s] = e;
		}
	wfs_free(prev);
}

int wfs_itable_ref(struct wfs_itable *t, uint64_t ino, uint64_t n)
{
	struct ient **pp;
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	pp = find(t, ino);
	if (!*pp) {
		struct ient *e = wfs_calloc(1, sizeof(*e));

		if (!e) {
			rc = -ENOMEM;
			goto out_unlock;
		}
		e->ino = ino;
		*pp = e;
		if (++t->count > t->nslots)
			grow(t);
		pp = find(t, ino);
	}
	(*pp)->nlookup += n;
out_unlock:
	pthread_mutex_unlock(&t->lock);
	return rc;
}

bool wfs_itable_forget(struct wfs_itable *t, uint64_t ino, uint64_t n)
{
	struct ient **pp, *e;
	bool release = false;

	pthread_mutex_lock(&t->lock);
	pp = find(t, ino);
	e = *pp;
	if (e) {
		e->nlookup = e->nlookup > n ? e->nlookup - n : 0;
		if (!e->nlookup) {
			release = e->orphan;
			*pp = e->next;
			t->count--;
			ient_free(e);
		}
	}
	pthread_mutex_unlock(&t->lock);
	return release;
}

bool wfs_itable_orphan(struct wfs_itable *t, uint64_t ino)
{
	struct ient *e;

	pthread_mutex_lock(&t->lock);
	e = *find(t, ino);
	if (e)
		e->orphan = true;
	pthread_mutex_unlock(&t->lock);
	return e != NULL;
}

void wfs_itable_set_cached(struct wfs_itable *t, uint64_t ino,
			   int64_t mtime_ns, uint64_t size)
{
	struct ient *e;

	pthread_mutex_lock(&t->lock);
	e = *find(t, ino);
	if (e) {
		e->cached = true;
		e->cached_mtime = mtime_ns;
		e->cached_size = size;
	}
	pthread_mutex_unlock(&t->lock);
}

bool wfs_itable_pages_cached(struct wfs_itable *t, uint64_t ino)
{
	struct ient *e;
	bool cached;

	pthread_mutex_lock(&t->lock);
	e = *find(t, ino);
	cached = e && e->cached;
	pthread_mutex_unlock(&t->lock);
	return cached;
}

bool wfs_itable_cache_valid(struct wfs_itable *t, uint64_t ino,
			    int64_t mtime_ns, uint64_t size)
{
	struct ient *e;
	bool valid;

	pthread_mutex_lock(&t->lock);
	e = *find(t, ino);
	valid = e && e->cached && e->cached_mtime == mtime_ns &&
		e->cached_size == size;
	pthread_mutex_unlock(&t->lock);
	return valid;
}

void wfs_itable_told(struct wfs_itable *t, uint64_t ino, int64_t mtime_ns,
		     uint64_t size)
{
	struct ient *e;

	pthread_mutex_lock(&t->lock);
	e = *find(t, ino);
	if (e) {
		e->told = true;
		e->told_mtime = mtime_ns;
		e->told_size = size;
	}
	pthread_mutex_unlock(&t->lock);
}

bool wfs_itable_told_other(struct wfs_itable *t, uint64_t ino,
			   int64_t mtime_ns, uint64_t size)
{
	struct ient *e;
	bool other;

	pthread_mutex_lock(&t->lock);
	e = *find(t, ino);
	other = e && e->told &&
		(e->told_mtime != mtime_ns || e->told_size != size);
	pthread_mutex_unlock(&t->lock);
	return other;
}

void wfs_itable_set_nocap(struct wfs_itable *t, uint64_t ino,
			  int64_t until_ns)
{
	struct ient *e;

	pthread_mutex_lock(&t->lock);
	e = *find(t, ino);
	if (e)
		e->nocap_until = until_ns;
	pthread_mutex_unlock(&t->lock);
}

bool wfs_itable_nocap(struct wfs_itable *t, uint64_t ino, int64_t now_ns)
{
	struct ient *e;
	bool nocap;

	pthread_mutex_lock(&t->lock);
	e = *find(t, ino);
	nocap = e && now_ns < e->nocap_until;
	pthread_mutex_unlock(&t->lock);
	return nocap;
}

/* Whether @a and @b show the same stat fields. */
static bool attr_same(const struct wfs_attr *a, const struct wfs_attr *b)
{
	return a->ino == b->ino && a->mode == b->mode &&
	       a->nlink == b->nlink && a->uid == b->uid && a->gid == b->gid &&
	       a->size == b->size && a->bytes == b->bytes &&
	       a->rdev == b->rdev && a->atime_ns == b->atime_ns &&
	       a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns &&
	       a->btime_ns == b->btime_ns && a->generation == b->generation &&
	       a->blksize == b->blksize;
}

/* Keep @a in @e (its lock held) unless what is kept is newer. */
static void keep_attr(struct ient *e, const struct wfs_attr *a,
		      int64_t now_ns, int64_t until_ns)
{
	bool live = e->attr && now_ns < e->attr_until;

	if (live && a->ctime_ns < e->attr->ctime_ns)
		return;
	if (live && a->ctime_ns == e->attr->ctime_ns &&
	    !attr_same(a, e->attr)) {
		e->attr_until = 0;
		return;
	}
	if (!e->attr) {
		e->attr = wfs_malloc(sizeof(*e->attr));
		if (!e->attr)
			return;
	}
	*e->attr = *a;
	e->attr_until = until_ns;
}

void wfs_itable_set_attr(struct wfs_itable *t, const struct wfs_attr *a,
			 int64_t now_ns, int64_t until_ns)
{
	struct ient *e;

	if (!S_ISDIR(a->mode))
		return;
	pthread_mutex_lock(&t->lock);
	e = *find(t, a->ino);
	if (e && now_ns >= e->attr_blocked)
		keep_attr(e, a, now_ns, until_ns);
	pthread_mutex_unlock(&t->lock);
}

bool wfs_itable_attr(struct wfs_itable *t, uint64_t ino, int64_t now_ns,
		     struct wfs_attr *a, int64_t *until_ns)
{
	struct ient *e;
	bool valid;

	pthread_mutex_lock(&t->lock);
	e = *find(t, ino);
	valid = e && e->attr && now_ns < e->attr_until;
	if (valid) {
		*a = *e->attr;
		*until_ns = e->attr_until;
	}
	pthread_mutex_unlock(&t->lock);
	return valid;
}

void wfs_itable_drop_attr(struct wfs_itable *t, uint64_t ino,
			  int64_t until_ns)
{
	struct ient *e;

	pthread_mutex_lock(&t->lock);
	e = *find(t, ino);
	if (e) {
		e->attr_until = 0;
		if (until_ns > e->attr_blocked)
			e->attr_blocked = until_ns;
	}
	pthread_mutex_unlock(&t->lock);
}

void wfs_itable_set_locked(struct wfs_itable *t, uint64_t ino)
{
	struct ient *e;

	pthread_mutex_lock(&t->lock);
	e = *find(t, ino);
	if (e)
		e->locked = true;
	pthread_mutex_unlock(&t->lock);
}

bool wfs_itable_locked(struct wfs_itable *t, uint64_t ino)
{
	struct ient *e;
	bool locked;

	pthread_mutex_lock(&t->lock);
	e = *find(t, ino);
	locked = e && e->locked;
	pthread_mutex_unlock(&t->lock);
	return locked;
}

void wfs_itable_orphans(struct wfs_itable *t, wfs_itable_orphan_cb cb,
			void *arg)
{
	pthread_mutex_lock(&t->lock);
	for (unsigned long i = 0; i < t->nslots; i++)
		for (struct ient *e = t->slots[i]; e; e = e->next)
			if (e->orphan)
				cb(e->ino, arg);
	pthread_mutex_unlock(&t->lock);
}

unsigned long wfs_itable_count(struct wfs_itable *t)
{
	unsigned long n;

	pthread_mutex_lock(&t->lock);
	n = t->count;
	pthread_mutex_unlock(&t->lock);
	return n;
}
