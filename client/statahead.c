/* client/statahead: names looked up from a directory listing fetched ahead
 * (see statahead_internal.h).
 *
 * Entries sit in two hash tables, by (directory, name) for lookups and by
 * inode for forgetting, and on one list in arrival order, which is also
 * expiry order (every entry lives ttl_ms): the oldest go first when the
 * cache is full, and expired ones are swept from the front as new pages
 * come in.  Read-ahead state is kept per (directory, caller) in a few
 * trackers, the least recently used one reused.
 *
 * A fetch races with changes made through this client: the node may have
 * listed a name before this client removed it.  Every forget is numbered
 * and remembered in a small ring (what it named: a name in a directory,
 * or an inode); a page files only the entries no forget since the
 * decision to fetch it names.  Past the ring's reach the whole page is
 * dropped (and counts as fruitless, so a storm of changes pauses the
 * read-ahead instead of refetching on every lookup).
 */
#include "client/statahead_internal.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include <pthread.h>

#include "mem/mem.h"

#define TRACKERS 8
#define STREAK 2	/* lookups asked of the node before reading ahead */
#define USELESS_MAX 2	/* fruitless pages before a pause */
#define PAUSE_TTLS 4	/* the pause, in ttls */
#define FORGETS 256	/* forgets remembered for pages in flight */

/* Who asked: entries are only for the caller the node checked. */
struct caller_key {
	uint32_t uid, gid;
	uint64_t groups;	/* a hash of the supplementary groups */
};

struct sa_entry {
	struct sa_entry *name_next;	/* chain in by_name */
	struct sa_entry *ino_next;	/* chain in by_ino */
	struct sa_entry *prev, *next;	/* arrival order */
	uint64_t dir;
	struct caller_key who;
	int64_t expires_ms;
	struct wfs_attr attr;
	char name[];
};

/* One forget, for pages in flight: a name in a directory (@dir, @name
 * hash) or an inode (@ino). */
struct forget {
	uint64_t seq;
	uint64_t dir, name, ino;
};

struct tracker {
	bool used;
	uint64_t dir;
	struct caller_key who;
	uint64_t last_use;	/* sa->tick when last touched */
	unsigned streak;	/* lookups asked of the node in a row */
	uint64_t cookie;	/* list on from here */
	bool eof;		/* the listing reached its end */
	bool fetching;
	bool filled;		/* a page arrived since the last want */
	unsigned hits;		/* lookups it answered */
	unsigned useless;	/* pages in a row that answered none */
	int64_t paused_until_ms;
};

struct wfs_statahead {
	pthread_mutex_t lock;
	unsigned ttl_ms, max_entries, mask;
	struct sa_entry **by_name, **by_ino;
	struct sa_entry *oldest, *newest;
	unsigned count;
	uint64_t changes;	/* forgets so far */
	struct forget forgets[FORGETS];	/* the last ones, by seq % FORGETS */
	uint64_t tick;
	struct tracker trackers[TRACKERS];
	struct wfs_statahead_stats st;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v;
	h *= 0x100000001b3ull;	/* FNV-1a's prime, a word at a time */
	return h ^ (h >> 29);
}

static struct caller_key key_of(const struct wfs_cred *cred)
{
	struct caller_key k = { cred->uid, cred->gid, 0xcbf29ce484222325ull };
	uint32_t n = cred->ngroups < WFS_CRED_GROUPS_MAX ? cred->ngroups
							: WFS_CRED_GROUPS_MAX;

	k.groups = mix(k.groups, n);
	for (uint32_t i = 0; i < n; i++)
		k.groups = mix(k.groups, cred->groups[i]);
	return k;
}

static bool same_key(struct caller_key a, struct caller_key b)
{
	return a.uid == b.uid && a.gid == b.gid && a.groups == b.groups;
}

static uint64_t name_hash(uint64_t dir, const char *name)
{
	uint64_t h = mix(0xcbf29ce484222325ull, dir);

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = mix(h, *p);
	return h;
}

static unsigned name_slot(const struct wfs_statahead *sa, uint64_t dir,
			  const char *name)
{
	return (unsigned)name_hash(dir, name) & sa->mask;
}

/* Number and remember a forget (of a name when @name, else of @ino). */
static void note_forget(struct wfs_statahead *sa, uint64_t dir,
			const char *name, uint64_t ino)
{
	struct forget *f = &sa->forgets[++sa->changes % FORGETS];

	f->seq = sa->changes;
	f->dir = name ? dir : 0;
	f->name = name ? name_hash(dir, name) : 0;
	f->ino = name ? 0 : ino;
}

/* Whether a forget after @ticket names entry @d of @dir (a hash match
 * that is not the name only costs a lookup). */
static bool forgotten_since(const struct wfs_statahead *sa, uint64_t ticket,
			    uint64_t dir, const struct wfs_dirent *d)
{
	uint64_t h = 0;

	for (uint64_t seq = ticket + 1; seq <= sa->changes; seq++) {
		const struct forget *f = &sa->forgets[seq % FORGETS];

		if (f->ino) {
			if (f->ino == d->ino)
				return true;
			continue;
		}
		if (!h)
			h = name_hash(dir, d->name);
		if (f->dir == dir && f->name == h)
			return true;
	}
	return false;
}

static unsigned ino_slot(const struct wfs_statahead *sa, uint64_t ino)
{
	return (unsigned)mix(0xcbf29ce484222325ull, ino) & sa->mask;
}

int wfs_statahead_new(unsigned ttl_ms, unsigned max_entries,
		      struct wfs_statahead **out)
{
	struct wfs_statahead *sa;
	unsigned size = 64;

	*out = NULL;
	if (ttl_ms == 0 || max_entries == 0 || max_entries > (1u << 24))
		return -EINVAL;
	while (size < max_entries)
		size <<= 1;
	sa = wfs_calloc(1, sizeof(*sa));
	if (!sa)
		return -ENOMEM;
	sa->by_name = wfs_calloc(size, sizeof(*sa->by_name));
	sa->by_ino = wfs_calloc(size, sizeof(*sa->by_ino));
	if (!sa->by_name || !sa->by_ino) {
		wfs_free(sa->by_name);
		wfs_free(sa->by_ino);
		wfs_free(sa);
		return -ENOMEM;
	}
	pthread_mutex_init(&sa->lock, NULL);
	sa->ttl_ms = ttl_ms;
	sa->max_entries = max_entries;
	sa->mask = size - 1;
	*out = sa;
	return 0;
}

/* Take @e out of both tables and the arrival list and free it. */
static void entry_drop(struct wfs_statahead *sa, struct sa_entry *e)
{
	struct sa_entry **pp;

	for (pp = &sa->by_name[name_slot(sa, e->dir, e->name)]; *pp != e;
	     pp = &(*pp)->name_next)
		;
	*pp = e->name_next;
	for (pp = &sa->by_ino[ino_slot(sa, e->attr.ino)]; *pp != e;
	     pp = &(*pp)->ino_next)
		;
	*pp = e->ino_next;
	if (e->prev)
		e->prev->next = e->next;
	else
		sa->oldest = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		sa->newest = e->prev;
	sa->count--;
	wfs_free(e);
}

void wfs_statahead_free(struct wfs_statahead *sa)
{
	if (!sa)
		return;
	while (sa->oldest)
		entry_drop(sa, sa->oldest);
	pthread_mutex_destroy(&sa->lock);
	wfs_free(sa->by_name);
	wfs_free(sa->by_ino);
	wfs_free(sa);
}

/* The tracker of @dir for @who; with @make, a new one in the place of the
 * least recently used if there is none. */
static struct tracker *tracker_get(struct wfs_statahead *sa, uint64_t dir,
				   struct caller_key who, bool make)
{
	struct tracker *lru = NULL;

	for (unsigned i = 0; i < TRACKERS; i++) {
		struct tracker *t = &sa->trackers[i];

		if (t->used && t->dir == dir && same_key(t->who, who)) {
			t->last_use = ++sa->tick;
			return t;
		}
		/* A tracker whose fetch is under way stays: its fill
		 * finds it. */
		if (t->fetching)
			continue;
		if (!lru || !t->used ||
		    (lru->used && t->last_use < lru->last_use))
			lru = t;
	}
	if (!make || !lru)
		return NULL;
	memset(lru, 0, sizeof(*lru));
	lru->used = true;
	lru->dir = dir;
	lru->who = who;
	lru->last_use = ++sa->tick;
	return lru;
}

bool wfs_statahead_find(struct wfs_statahead *sa, const struct wfs_cred *cred,
			uint64_t dir, const char *name, struct wfs_attr *attr)
{
	struct caller_key who = key_of(cred);
	int64_t now = now_ms();
	bool found = false;

	pthread_mutex_lock(&sa->lock);
	for (struct sa_entry *e = sa->by_name[name_slot(sa, dir, name)]; e;
	     e = e->name_next) {
		if (e->dir != dir || strcmp(e->name, name) != 0 ||
		    !same_key(e->who, who))
			continue;
		if (e->expires_ms <= now) {
			entry_drop(sa, e);
			break;
		}
		*attr = e->attr;
		found = true;
		break;
	}
	if (found) {
		struct tracker *t = tracker_get(sa, dir, who, false);

		if (t)
			t->hits++;
		sa->st.hits++;
	}
	pthread_mutex_unlock(&sa->lock);
	return found;
}

void wfs_statahead_looked_up(struct wfs_statahead *sa,
			     const struct wfs_cred *cred, uint64_t dir, int rc)
{
	struct tracker *t;

	pthread_mutex_lock(&sa->lock);
	t = tracker_get(sa, dir, key_of(cred), true);
	/* Only names that exist count: a program probing for files that
	 * are not there is not walking the directory. */
	if (t)
		t->streak = rc == 0 ? t->streak + 1 : 0;
	pthread_mutex_unlock(&sa->lock);
}

bool wfs_statahead_want(struct wfs_statahead *sa, const struct wfs_cred *cred,
			uint64_t dir, uint64_t *cookie, uint64_t *ticket)
{
	int64_t now = now_ms();
	struct tracker *t;
	bool want = false;

	pthread_mutex_lock(&sa->lock);
	t = tracker_get(sa, dir, key_of(cred), false);
	if (!t || t->fetching || t->paused_until_ms > now ||
	    t->streak < STREAK)
		goto out;
	if (t->filled) {
		/* The last page answered nothing asked since: the names
		 * looked up are not in listing order. */
		t->useless = t->hits ? 0 : t->useless + 1;
		sa->st.useless += t->hits == 0;
		t->filled = false;
		if (t->useless >= USELESS_MAX) {
			t->useless = 0;
			t->streak = 0;
			t->paused_until_ms =
				now + (int64_t)sa->ttl_ms * PAUSE_TTLS;
			goto out;
		}
	}
	if (t->eof) {
		t->eof = false;
		t->cookie = 0;
	}
	t->fetching = true;
	*cookie = t->cookie;
	*ticket = sa->changes;
	want = true;
out:
	pthread_mutex_unlock(&sa->lock);
	return want;
}

/* Make room for one more entry: expired ones, then the oldest. */
static void make_room(struct wfs_statahead *sa, int64_t now)
{
	while (sa->oldest && (sa->oldest->expires_ms <= now ||
			      sa->count >= sa->max_entries))
		entry_drop(sa, sa->oldest);
}

/* Drop the entry of @name in @dir kept for @who, if any. */
static void drop_name_for(struct wfs_statahead *sa, uint64_t dir,
			  const char *name, struct caller_key who)
{
	for (struct sa_entry *e = sa->by_name[name_slot(sa, dir, name)]; e;
	     e = e->name_next)
		if (e->dir == dir && strcmp(e->name, name) == 0 &&
		    same_key(e->who, who)) {
			entry_drop(sa, e);
			return;
		}
}

static void insert(struct wfs_statahead *sa, uint64_t dir,
		   struct caller_key who, const char *name,
		   const struct wfs_attr *attr, int64_t now)
{
	size_t len = strlen(name);
	struct sa_entry *e;
	unsigned slot;

	drop_name_for(sa, dir, name, who);
	make_room(sa, now);
	e = wfs_malloc(sizeof(*e) + len + 1);
	if (!e)
		return;		/* a cache: missing an entry is fine */
	e->dir = dir;
	e->who = who;
	e->expires_ms = now + sa->ttl_ms;
	e->attr = *attr;
	memcpy(e->name, name, len + 1);
	slot = name_slot(sa, dir, name);
	e->name_next = sa->by_name[slot];
	sa->by_name[slot] = e;
	slot = ino_slot(sa, attr->ino);
	e->ino_next = sa->by_ino[slot];
	sa->by_ino[slot] = e;
	e->next = NULL;
	e->prev = sa->newest;
	if (sa->newest)
		sa->newest->next = e;
	else
		sa->oldest = e;
	sa->newest = e;
	sa->count++;
}

void wfs_statahead_fill(struct wfs_statahead *sa, const struct wfs_cred *cred,
			uint64_t dir, uint64_t ticket, int rc,
			const struct wfs_dirent *ents, unsigned n, bool eof)
{
	struct caller_key who = key_of(cred);
	int64_t now = now_ms();
	struct tracker *t;

	pthread_mutex_lock(&sa->lock);
	t = tracker_get(sa, dir, who, false);
	if (t)
		t->fetching = false;
	if (rc != 0) {
		/* Not listable by this caller (EACCES), gone, or the node
		 * unreachable: plain lookups for a while. */
		if (t)
			t->paused_until_ms =
				now + (int64_t)sa->ttl_ms * PAUSE_TTLS;
		goto out;
	}
	if (sa->changes - ticket >= FORGETS) {
		/* More changes than the ring recalls: nothing of the page
		 * can be trusted.  It counts as a page that answered
		 * nothing. */
		sa->st.dropped_pages++;
		if (t) {
			t->filled = true;
			t->hits = 0;
		}
		goto out;
	}
	for (unsigned i = 0; i < n; i++) {
		const struct wfs_dirent *d = &ents[i];

		if (!d->attr || strcmp(d->name, ".") == 0 ||
		    strcmp(d->name, "..") == 0 ||
		    (ticket != sa->changes &&
		     forgotten_since(sa, ticket, dir, d)))
			continue;
		insert(sa, dir, who, d->name, d->attr, now);
	}
	sa->st.fetches++;
	if (t) {
		if (n)
			t->cookie = ents[n - 1].cookie;
		t->eof = eof;
		t->filled = true;
		t->hits = 0;
	}
out:
	pthread_mutex_unlock(&sa->lock);
}

static void forget_ino_locked(struct wfs_statahead *sa, uint64_t ino)
{
	struct sa_entry *e = sa->by_ino[ino_slot(sa, ino)];

	while (e) {
		struct sa_entry *next = e->ino_next;

		if (e->attr.ino == ino)
			entry_drop(sa, e);
		e = next;
	}
}

void wfs_statahead_forget_name(struct wfs_statahead *sa, uint64_t dir,
			       const char *name)
{
	struct sa_entry *e;

	pthread_mutex_lock(&sa->lock);
	note_forget(sa, dir, name, 0);
	note_forget(sa, 0, NULL, dir);
	/* Every caller's entry of the name, and through its inode the
	 * inode's other names (their link count changed too). */
	for (;;) {
		for (e = sa->by_name[name_slot(sa, dir, name)]; e;
		     e = e->name_next)
			if (e->dir == dir && strcmp(e->name, name) == 0)
				break;
		if (!e)
			break;
		note_forget(sa, 0, NULL, e->attr.ino);
		forget_ino_locked(sa, e->attr.ino);
	}
	forget_ino_locked(sa, dir);
	pthread_mutex_unlock(&sa->lock);
}

void wfs_statahead_forget_ino(struct wfs_statahead *sa, uint64_t ino)
{
	pthread_mutex_lock(&sa->lock);
	note_forget(sa, 0, NULL, ino);
	forget_ino_locked(sa, ino);
	/* A directory's mode may have changed: who may search it is asked
	 * of the node again before its listing is read ahead once more. */
	for (unsigned i = 0; i < TRACKERS; i++)
		if (sa->trackers[i].used && sa->trackers[i].dir == ino)
			sa->trackers[i].streak = 0;
	pthread_mutex_unlock(&sa->lock);
}

void wfs_statahead_stats(struct wfs_statahead *sa,
			 struct wfs_statahead_stats *out)
{
	pthread_mutex_lock(&sa->lock);
	*out = sa->st;
	out->entries = sa->count;
	pthread_mutex_unlock(&sa->lock);
}
