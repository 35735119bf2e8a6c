/* client/dirnames: a directory's whole list of names, answering lookups
 * of names that are not there (see dirnames_internal.h).
 *
 * A few directory slots, the least recently used reused.  A slot counts
 * its directory's lookups that missed at the node; once it holds a list,
 * the names sit in a chained hash table of its own that doubles as it
 * fills.  A listing runs in rounds: a round starts at wfs_dirnames_want
 * (its start time is what the list will be as old as), pages come in
 * through wfs_dirnames_fill, and the round that reaches the end of the
 * directory makes the list current as of that start.  Names are only ever
 * added while a slot lives, so pages and wfs_dirnames_add may arrive in
 * any order.
 */
#include "client/dirnames_internal.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <time.h>

#include <pthread.h>

#include "mem/mem.h"

#define SLOTS 16
#define MISSES 2		/* lookups missing at the node before a list */
#define BIG_SLOTS 8		/* directories found too big, remembered */
#define PAUSE_TTLS 20		/* a first pause after a list too big, in
				 * ttls; doubled each time it happens again */
#define PAUSE_MAX_TTLS 1280
#define FIRST_BUCKETS 64

struct dn_name {
	struct dn_name *next;
	uint64_t hash;
	char name[];
};

struct slot {
	bool used;
	uint64_t dir;
	uint64_t last_use;	/* dn->tick when last touched */
	unsigned misses;	/* lookups the node answered ENOENT, in a row */
	bool listed;		/* a round reached the end: the list holds
				 * every name @dir had at valid_ms */
	int64_t valid_ms;
	int64_t valid_ns;	/* the same, in ns (wfs_dirnames_absent_after) */
	uint64_t cookie;	/* the largest cookie listed */
	bool fetching;		/* a round is under way */
	uint64_t round;		/* its ticket */
	int64_t round_ms;	/* when it started */
	int64_t round_ns;
	struct dn_name **buckets; /* NULL until the first round */
	unsigned mask, count;
};

/* A directory whose list outgrew max_names: not listed again until
 * @until_ms.  Kept apart from the slots, which are reused far more often
 * than a pause lasts. */
struct big_dir {
	uint64_t dir;
	int64_t until_ms;
	unsigned pause_ttls;
};

struct wfs_dirnames {
	pthread_mutex_t lock;
	unsigned ttl_ms, max_names, total;
	uint64_t tick, rounds;
	struct slot slots[SLOTS];
	struct big_dir big[BIG_SLOTS];
	unsigned big_next;
	struct wfs_dirnames_stats st;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t name_hash(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull;	/* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ull;
	}
	return h ^ (h >> 29);
}

int wfs_dirnames_new(unsigned ttl_ms, unsigned max_names,
		     struct wfs_dirnames **out)
{
	struct wfs_dirnames *dn;

	*out = NULL;
	if (ttl_ms == 0 || max_names == 0 || max_names > (1u << 24))
		return -EINVAL;
	dn = wfs_calloc(1, sizeof(*dn));
	if (!dn)
		return -ENOMEM;
	pthread_mutex_init(&dn->lock, NULL);
	dn->ttl_ms = ttl_ms;
	dn->max_names = max_names;
	*out = dn;
	return 0;
}

/* Drop @s's names; it keeps its directory and counters. */
static void names_clear(struct wfs_dirnames *dn, struct slot *s)
{
	if (!s->buckets)
		return;
	for (unsigned i = 0; i <= s->mask; i++) {
		struct dn_name *e = s->buckets[i];

		while (e) {
			struct dn_name *next = e->next;

			wfs_free(e);
			e = next;
		}
	}
	wfs_free(s->buckets);
	s->buckets = NULL;
	dn->total -= s->count;
	s->count = 0;
	s->mask = 0;
	s->listed = false;
	s->cookie = 0;
}

void wfs_dirnames_free(struct wfs_dirnames *dn)
{
	if (!dn)
		return;
	for (unsigned i = 0; i < SLOTS; i++)
		names_clear(dn, &dn->slots[i]);
	pthread_mutex_destroy(&dn->lock);
	wfs_free(dn);
}

static struct slot *slot_find(struct wfs_dirnames *dn, uint64_t dir)
{
	for (unsigned i = 0; i < SLOTS; i++)
		if (dn->slots[i].used && dn->slots[i].dir == dir) {
			dn->slots[i].last_use = ++dn->tick;
			return &dn->slots[i];
		}
	return NULL;
}

/* A slot for @dir, reusing the least recently used one (never one whose
 * round is under way: its pages would land in another directory). */
static struct slot *slot_take(struct wfs_dirnames *dn, uint64_t dir)
{
	struct slot *s = slot_find(dn, dir), *lru = NULL;

	if (s)
		return s;
	for (unsigned i = 0; i < SLOTS; i++) {
		struct slot *c = &dn->slots[i];

		if (c->fetching)
			continue;
		if (!c->used) {
			lru = c;
			break;
		}
		if (!lru || c->last_use < lru->last_use)
			lru = c;
	}
	if (!lru)
		return NULL;
	if (lru->used && lru->buckets)
		dn->st.dropped++;
	names_clear(dn, lru);
	memset(lru, 0, sizeof(*lru));
	lru->used = true;
	lru->dir = dir;
	lru->last_use = ++dn->tick;
	return lru;
}

static bool names_has(const struct slot *s, const char *name, uint64_t h)
{
	for (const struct dn_name *e = s->buckets[h & s->mask]; e; e = e->next)
		if (e->hash == h && strcmp(e->name, name) == 0)
			return true;
	return false;
}

/* Double @s's table; on failure it stays as it was (only slower). */
static void names_grow(struct slot *s)
{
	unsigned size = (s->mask + 1) * 2;
	struct dn_name **b = wfs_calloc(size, sizeof(*b));

	if (!b)
		return;
	for (unsigned i = 0; i <= s->mask; i++) {
		struct dn_name *e = s->buckets[i];

		while (e) {
			struct dn_name *next = e->next;

			e->next = b[e->hash & (size - 1)];
			b[e->hash & (size - 1)] = e;
			e = next;
		}
	}
	wfs_free(s->buckets);
	s->buckets = b;
	s->mask = size - 1;
}

/* Whether @dir is paused for being too big at @now. */
static bool too_big(const struct wfs_dirnames *dn, uint64_t dir, int64_t now)
{
	for (unsigned i = 0; i < BIG_SLOTS; i++)
		if (dn->big[i].dir == dir && now < dn->big[i].until_ms)
			return true;
	return false;
}

/* @s's list outgrew the limit: drop it and pause its directory, longer
 * each time (a directory that big is listed in vain). */
static void give_up(struct wfs_dirnames *dn, struct slot *s)
{
	struct big_dir *b = NULL;

	for (unsigned i = 0; i < BIG_SLOTS && !b; i++)
		if (dn->big[i].dir == s->dir)
			b = &dn->big[i];
	if (!b) {
		b = &dn->big[dn->big_next++ % BIG_SLOTS];
		b->dir = s->dir;
		b->pause_ttls = 0;
	}
	b->pause_ttls = b->pause_ttls ? b->pause_ttls * 2 : PAUSE_TTLS;
	if (b->pause_ttls > PAUSE_MAX_TTLS)
		b->pause_ttls = PAUSE_MAX_TTLS;
	b->until_ms = now_ms() + (int64_t)dn->ttl_ms * b->pause_ttls;
	names_clear(dn, s);
	s->fetching = false;
	dn->st.dropped++;
}

/* Put @name on @s's list.  A list that cannot take it is given up (a
 * list missing a name would answer wrongly): false then. */
static bool names_add(struct wfs_dirnames *dn, struct slot *s,
		      const char *name)
{
	uint64_t h = name_hash(name);
	size_t len = strlen(name);
	struct dn_name *e;

	if (names_has(s, name, h))
		return true;
	if (dn->total >= dn->max_names ||
	    !(e = wfs_malloc(sizeof(*e) + len + 1))) {
		give_up(dn, s);
		return false;
	}
	e->hash = h;
	memcpy(e->name, name, len + 1);
	e->next = s->buckets[h & s->mask];
	s->buckets[h & s->mask] = e;
	s->count++;
	dn->total++;
	if (s->count > 2 * (s->mask + 1))
		names_grow(s);
	return true;
}

static bool current(const struct slot *s, int64_t now, int64_t age)
{
	return s->listed && now - s->valid_ms < age;
}

bool wfs_dirnames_absent(struct wfs_dirnames *dn, uint64_t dir,
			 const char *name, bool *refresh)
{
	size_t len = strlen(name);
	int64_t now = now_ms();
	bool absent = false;
	struct slot *s;

	if (refresh)
		*refresh = false;
	if (len == 0 || len > NAME_MAX || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0 || strchr(name, '/'))
		return false;
	pthread_mutex_lock(&dn->lock);
	s = slot_find(dn, dir);
	if (s && s->listed && !names_has(s, name, name_hash(name))) {
		absent = current(s, now, dn->ttl_ms);
		if (refresh && !current(s, now, dn->ttl_ms / 2))
			*refresh = true;
		else if (absent)
			dn->st.hits++;
	}
	pthread_mutex_unlock(&dn->lock);
	return absent;
}

bool wfs_dirnames_absent_after(struct wfs_dirnames *dn, uint64_t dir,
			       const char *name, int64_t since_ns)
{
	size_t len = strlen(name);
	bool absent = false;
	struct slot *s;

	if (len == 0 || len > NAME_MAX || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0 || strchr(name, '/'))
		return false;
	pthread_mutex_lock(&dn->lock);
	s = slot_find(dn, dir);
	if (s && s->listed && s->valid_ns > since_ns)
		absent = !names_has(s, name, name_hash(name));
	pthread_mutex_unlock(&dn->lock);
	return absent;
}

void wfs_dirnames_looked_up(struct wfs_dirnames *dn, uint64_t dir, int rc)
{
	struct slot *s;

	pthread_mutex_lock(&dn->lock);
	if (rc == -ENOENT) {
		s = slot_take(dn, dir);
		if (s && s->misses < MISSES)
			s->misses++;
	} else if ((s = slot_find(dn, dir))) {
		s->misses = 0;
	}
	pthread_mutex_unlock(&dn->lock);
}

/* Start a round of @s's listing at @now: its ticket and where it lists
 * from.  Its start in ns is taken last, so that every call the caller
 * makes for the round is sent after it. */
static void start_round(struct wfs_dirnames *dn, struct slot *s, int64_t now,
			uint64_t *cookie, uint64_t *ticket)
{
	s->fetching = true;
	s->round = ++dn->rounds;
	s->round_ms = now;
	*cookie = s->cookie;
	*ticket = s->round;
	dn->st.listings++;
	s->round_ns = now_ns();
}

bool wfs_dirnames_want(struct wfs_dirnames *dn, uint64_t dir,
		       uint64_t *cookie, uint64_t *ticket)
{
	int64_t now = now_ms();
	bool want = false;
	struct slot *s;

	pthread_mutex_lock(&dn->lock);
	s = slot_find(dn, dir);
	if (!s || s->fetching || too_big(dn, dir, now) ||
	    current(s, now, dn->ttl_ms / 2))
		goto out;
	/* A first list only for a directory whose lookups keep missing;
	 * one held is refreshed whenever it is wanted. */
	if (!s->listed && s->misses < MISSES)
		goto out;
	if (!s->buckets) {
		s->buckets = wfs_calloc(FIRST_BUCKETS, sizeof(*s->buckets));
		if (!s->buckets)
			goto out;
		s->mask = FIRST_BUCKETS - 1;
	}
	start_round(dn, s, now, cookie, ticket);
	want = true;
out:
	pthread_mutex_unlock(&dn->lock);
	return want;
}

int wfs_dirnames_want_after(struct wfs_dirnames *dn, uint64_t dir,
			    int64_t since_ns, uint64_t *cookie,
			    uint64_t *ticket)
{
	int64_t now = now_ms();
	int want = 0;
	struct slot *s;

	pthread_mutex_lock(&dn->lock);
	s = slot_find(dn, dir);
	if (s && s->fetching && s->round_ns <= since_ns) {
		want = -EBUSY;
	} else if (s && s->listed && !s->fetching && !too_big(dn, dir, now) &&
		   s->valid_ns <= since_ns) {
		start_round(dn, s, now, cookie, ticket);
		want = 1;
	}
	pthread_mutex_unlock(&dn->lock);
	return want;
}

bool wfs_dirnames_fill(struct wfs_dirnames *dn, uint64_t dir,
		       uint64_t ticket, int rc, const struct wfs_dirent *ents,
		       unsigned n, bool eof, uint64_t *cookie)
{
	bool more = false;
	struct slot *s;

	pthread_mutex_lock(&dn->lock);
	s = slot_find(dn, dir);
	if (!s || !s->fetching || s->round != ticket)
		goto out;
	if (rc) {
		/* What came is kept (names only ever help); the list stays
		 * as current as it was. */
		s->fetching = false;
		goto out;
	}
	dn->st.pages++;
	for (unsigned i = 0; i < n; i++) {
		if (!names_add(dn, s, ents[i].name))
			goto out;
		if (ents[i].cookie > s->cookie)
			s->cookie = ents[i].cookie;
	}
	if (eof) {
		s->listed = true;
		s->valid_ms = s->round_ms;
		s->valid_ns = s->round_ns;
		s->fetching = false;
	} else if (n == 0) {
		/* No progress and no end: a node answering oddly. */
		s->fetching = false;
	} else {
		*cookie = s->cookie;
		more = true;
	}
out:
	pthread_mutex_unlock(&dn->lock);
	return more;
}

void wfs_dirnames_add(struct wfs_dirnames *dn, uint64_t dir,
		      const char *name)
{
	struct slot *s;

	pthread_mutex_lock(&dn->lock);
	s = slot_find(dn, dir);
	if (s && s->buckets)
		names_add(dn, s, name);
	pthread_mutex_unlock(&dn->lock);
}

void wfs_dirnames_stats(struct wfs_dirnames *dn,
			struct wfs_dirnames_stats *out)
{
	pthread_mutex_lock(&dn->lock);
	*out = dn->st;
	out->names = dn->total;
	pthread_mutex_unlock(&dn->lock);
}
