/* client/leases: directory leases and reserved inode numbers (see
 * leases_internal.h).
 *
 * A fixed table of LEASES_MAX slots, searched in full (creates in a
 * directory touch its slot once each; 64 compares cost nothing beside a
 * call), and a pool of two ranges of inode numbers: the one being used and
 * the next, reserved once the first runs low.  One mutex covers both.
 *
 * A slot moves WANT -> ASKING -> HELD -> GIVING -> FREE (or COOL, then
 * FREE), and only the thread moves it out of WANT, ASKING, HELD and
 * GIVING: callers only ask (WANT), mark (recalled, evict) and count (the
 * creates outstanding).  A slot with creates outstanding is never given
 * back nor reused, so the workers applying them find it still there.
 */
#include "client/leases_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "client/client_internal.h"
#include "log/log.h"
#include "mem/mem.h"

/* Leases held at once: a few directories being filled at a time is the
 * case this is for; more would hold other clients off for nothing. */
#define LEASES_MAX 64
/* How long a call that found a lease unrecalled vouches for it: half of
 * the ~3 s the master gives a recalled lease before revoking it, so that
 * every create answered under it comes before a revocation, with a margin
 * for clocks and for the call's own time. */
#define CONFIRM_MS 1500
/* A lease no create used for this long goes back: another client may be
 * about to want it, and the master frees leases unused for a minute. */
#define IDLE_MS 200
/* A directory recalled from this client (or found held by another) is not
 * asked for again before this: the other client is working there. */
#define COOL_MS 1000
/* Inode numbers reserved at a time; the next range is asked for when
 * fewer than half are left, so a stream of creates never finds the pool
 * empty unless a call takes longer than RESERVE / 2 creates. */
#define RESERVE 256
/* Names proven absent kept per directory: the kernel looks a name up just
 * before it creates it, so few are ever waiting. */
#define PROOFS 8
/* After a node said it does not know Lease (an older node), none is asked
 * for during this; after a failed ReserveInos, none during RETRY_MS. */
#define OFF_MS 60000
#define RETRY_MS 1000
/* How soon to look again at a list of names being read when a lease
 * needs it read anew: a page is a call, a few milliseconds. */
#define RELIST_MS 5

enum lease_state {
	L_FREE,		/* slot unused */
	L_WANT,		/* to be asked for */
	L_ASKING,	/* the Lease call is out */
	L_HELD,
	L_GIVING,	/* the release is out */
	L_COOL,		/* not to be asked for before cool_ms */
};

struct lease {
	enum lease_state state;
	uint64_t dir;
	struct wfs_cred cred;	/* of the create that asked for it: the
				 * lease's calls are made as it */
	uint64_t epoch;		/* this grant's, unique in the client */
	uint64_t gen;		/* lookups' stamp: renewed at the grant and
				 * at each change of a name in @dir */
	int64_t grant_ns;	/* CLOCK_MONOTONIC: the grant's reply came */
	int64_t confirmed_ms;	/* the last call that found it ours and
				 * unrecalled was sent then */
	int64_t used_ms;	/* the last early create (or the grant) */
	int64_t cool_ms;	/* L_COOL until then */
	uint64_t lru;		/* l->tick at the last use */
	unsigned outstanding;	/* early creates answered, not yet over */
	bool recalled;		/* another client waits for it */
	bool evict;		/* the table is full: give it back */
	int64_t relist_ms;	/* read @dir's list of names anew from then
				 * (0: no need) */
	bool have_tmpl;		/* policy_id and blksize are known */
	uint32_t policy_id, blksize;
	char *proofs[PROOFS];	/* names proven absent; NULL: none */
	unsigned next_proof;
};

struct wfs_leases {
	struct wfs_client *c;
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* work for the thread (CLOCK_MONOTONIC) */
	pthread_t thread;
	bool started, stopping;
	uint64_t epochs, gens, tick;
	int64_t off_until;	/* no lease asked for before (ms) */
	uint64_t next, end;	/* the pool: [next, end) is used first, */
	uint64_t spare_next, spare_end;	/* then this range */
	bool reserving;
	int64_t reserve_after;
	struct lease leases[LEASES_MAX];
	struct wfs_leases_stats st;
};

struct job {
	enum { J_NONE, J_RESERVE, J_ASK, J_GIVE, J_RELIST } kind;
	struct lease *e;
	uint64_t dir;
	struct wfs_cred cred;
	int64_t since_ns;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void clear_proofs(struct lease *e)
{
	for (unsigned i = 0; i < PROOFS; i++) {
		wfs_free(e->proofs[i]);
		e->proofs[i] = NULL;
	}
}

/* Empty @e (a slot given back or dropped). */
static void lease_reset(struct lease *e, enum lease_state state,
			int64_t cool_ms)
{
	uint64_t dir = e->dir;

	clear_proofs(e);
	memset(e, 0, sizeof(*e));
	e->state = state;
	if (state == L_COOL) {
		e->dir = dir;
		e->cool_ms = cool_ms;
	}
}

/* @dir's slot, in any state but FREE; NULL if none. */
static struct lease *find(struct wfs_leases *l, uint64_t dir)
{
	for (unsigned i = 0; i < LEASES_MAX; i++)
		if (l->leases[i].state != L_FREE && l->leases[i].dir == dir)
			return &l->leases[i];
	return NULL;
}

static struct lease *find_held(struct wfs_leases *l, uint64_t dir)
{
	struct lease *e = find(l, dir);

	return e && e->state == L_HELD ? e : NULL;
}

static uint64_t pool_left(const struct wfs_leases *l)
{
	return (l->end - l->next) + (l->spare_end - l->spare_next);
}

static bool pool_take(struct wfs_leases *l, uint64_t *ino)
{
	if (l->next == l->end) {
		l->next = l->spare_next;
		l->end = l->spare_end;
		l->spare_next = l->spare_end = 0;
	}
	if (l->next == l->end)
		return false;
	*ino = l->next++;
	return true;
}

/* Whether any lease is held or on its way: only then are numbers worth
 * reserving. */
static bool any_active(const struct wfs_leases *l)
{
	for (unsigned i = 0; i < LEASES_MAX; i++) {
		enum lease_state s = l->leases[i].state;

		if (s == L_WANT || s == L_ASKING || s == L_HELD)
			return true;
	}
	return false;
}

/* Whether @e's lease may answer a create now (but for the proof). */
static bool usable(const struct lease *e, int64_t now)
{
	return e && e->state == L_HELD && !e->recalled && !e->evict &&
	       now - e->confirmed_ms < CONFIRM_MS;
}

static void set_tmpl(struct lease *e, const struct wfs_attr *a)
{
	e->have_tmpl = true;
	e->policy_id = a->policy_id;
	e->blksize = a->blksize;
}

/* ---- what the thread does ---- */

/* The next job at @now into *j (J_NONE: none, then *wake is when to look
 * again).  l->lock held. */
static void pick(struct wfs_leases *l, int64_t now, struct job *j,
		 int64_t *wake)
{
	j->kind = J_NONE;
	if (!l->reserving && l->spare_next == l->spare_end &&
	    pool_left(l) < RESERVE / 2 && now >= l->reserve_after &&
	    any_active(l)) {
		l->reserving = true;
		j->kind = J_RESERVE;
		return;
	}
	for (unsigned i = 0; i < LEASES_MAX; i++) {
		struct lease *e = &l->leases[i];

		if (e->state == L_WANT && now >= l->off_until) {
			e->state = L_ASKING;
			j->kind = J_ASK;
		} else if (e->state == L_HELD && e->relist_ms &&
			   now >= e->relist_ms) {
			e->relist_ms = 0;
			j->kind = J_RELIST;
		} else if (e->state == L_HELD && !e->outstanding &&
			   (e->recalled || e->evict ||
			    now - e->used_ms >= IDLE_MS)) {
			e->state = L_GIVING;
			j->kind = J_GIVE;
		} else if (e->state == L_HELD) {
			if (!e->outstanding && e->used_ms + IDLE_MS < *wake)
				*wake = e->used_ms + IDLE_MS;
			if (e->relist_ms && e->relist_ms < *wake)
				*wake = e->relist_ms;
		} else if (e->state == L_COOL && now >= e->cool_ms) {
			lease_reset(e, L_FREE, 0);
		}
		if (j->kind != J_NONE) {
			j->e = e;
			j->dir = e->dir;
			j->cred = e->cred;
			j->since_ns = e->grant_ns;
			return;
		}
	}
}

static void do_reserve(struct wfs_leases *l)
{
	uint64_t first = 0;
	uint32_t n = 0;
	int rc = wfs_meta_reserve_inos(l->c, RESERVE, &first, &n);

	pthread_mutex_lock(&l->lock);
	l->reserving = false;
	if (rc) {
		wfs_log_warn("client", "cannot reserve inode numbers: %s; "
			     "creates are answered once applied meanwhile",
			     strerror(-rc));
		l->reserve_after = wfs_client_now_ms() + RETRY_MS;
	} else if (l->next == l->end) {
		l->next = first;
		l->end = first + n;
		l->st.reserves++;
	} else {
		l->spare_next = first;
		l->spare_end = first + n;
		l->st.reserves++;
	}
	pthread_mutex_unlock(&l->lock);
}

static void do_ask(struct wfs_leases *l, const struct job *j)
{
	struct lease *e = j->e;
	bool held = false, recalled = false;
	int64_t sent = wfs_client_now_ms();
	int rc = wfs_meta_lease(l->c, &j->cred, j->dir, false, &held,
				&recalled);
	int64_t now = wfs_client_now_ms();

	pthread_mutex_lock(&l->lock);
	if (rc == -EOPNOTSUPP) {
		if (l->off_until <= now)
			wfs_log_warn("client", "the cluster does not know "
				     "directory leases (an older node): every"
				     " create is answered once applied");
		l->off_until = now + OFF_MS;
		lease_reset(e, L_FREE, 0);
	} else if (rc || !held) {
		if (rc)
			wfs_log_info("client", "lease of directory %" PRIu64
				     ": %s", j->dir, strerror(-rc));
		else
			l->st.refused++;
		lease_reset(e, L_COOL, now + COOL_MS);
	} else {
		e->state = L_HELD;
		e->epoch = ++l->epochs;
		e->gen = ++l->gens;
		e->grant_ns = now_ns();
		e->confirmed_ms = sent;
		e->used_ms = now;
		e->lru = ++l->tick;
		e->recalled = recalled;
		/* A list of names held from before the grant proves nothing:
		 * read what was added since (one short page, usually). */
		e->relist_ms = l->c->dn ? now : 0;
		clear_proofs(e);
		l->st.grants++;
		l->st.recalls += recalled;
	}
	pthread_mutex_unlock(&l->lock);
}

static void do_give(struct wfs_leases *l, const struct job *j)
{
	struct lease *e = j->e;
	bool held = false, recalled = false;
	int rc = wfs_meta_lease(l->c, &j->cred, j->dir, true, &held,
				&recalled);

	/* On failure the master takes it back on its own: within seconds
	 * when another client waits, else after a minute unused. */
	if (rc)
		wfs_log_info("client", "giving back the lease of directory %"
			     PRIu64 ": %s", j->dir, strerror(-rc));
	pthread_mutex_lock(&l->lock);
	l->st.releases++;
	if (e->recalled)
		lease_reset(e, L_COOL, wfs_client_now_ms() + COOL_MS);
	else
		lease_reset(e, L_FREE, 0);
	pthread_mutex_unlock(&l->lock);
}

static void do_relist(struct wfs_leases *l, const struct job *j)
{
	int rc = wfs_meta_relist(l->c, &j->cred, j->dir, j->since_ns);

	pthread_mutex_lock(&l->lock);
	if (rc == 1)
		l->st.relists++;
	/* A reading from before the grant is under way: once it is over,
	 * read again (the lease is still the same, or this is moot). */
	if (rc == -EBUSY && j->e->state == L_HELD &&
	    j->e->grant_ns == j->since_ns)
		j->e->relist_ms = wfs_client_now_ms() + RELIST_MS;
	pthread_mutex_unlock(&l->lock);
}

static void *run(void *arg)
{
	struct wfs_leases *l = arg;

	pthread_mutex_lock(&l->lock);
	while (!l->stopping) {
		int64_t now = wfs_client_now_ms(), wake = now + 1000;
		struct timespec ts;
		struct job j;

		pick(l, now, &j, &wake);
		if (j.kind != J_NONE) {
			pthread_mutex_unlock(&l->lock);
			if (j.kind == J_RESERVE)
				do_reserve(l);
			else if (j.kind == J_ASK)
				do_ask(l, &j);
			else if (j.kind == J_GIVE)
				do_give(l, &j);
			else
				do_relist(l, &j);
			pthread_mutex_lock(&l->lock);
			continue;
		}
		ts.tv_sec = wake / 1000;
		ts.tv_nsec = (wake % 1000) * 1000000;
		pthread_cond_timedwait(&l->cond, &l->lock, &ts);
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

/* ---- life ---- */

int wfs_leases_new(struct wfs_client *c, struct wfs_leases **out)
{
	struct wfs_leases *l = wfs_calloc(1, sizeof(*l));
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	if (!l)
		return -ENOMEM;
	l->c = c;
	pthread_mutex_init(&l->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cond, &ca);
	pthread_condattr_destroy(&ca);
	rc = -pthread_create(&l->thread, NULL, run, l);
	if (rc) {
		pthread_cond_destroy(&l->cond);
		pthread_mutex_destroy(&l->lock);
		wfs_free(l);
		return rc;
	}
	l->started = true;
	*out = l;
	return 0;
}

void wfs_leases_stop(struct wfs_leases *l)
{
	if (!l || !l->started)
		return;
	pthread_mutex_lock(&l->lock);
	l->stopping = true;
	pthread_cond_signal(&l->cond);
	pthread_mutex_unlock(&l->lock);
	pthread_join(l->thread, NULL);
	l->started = false;
}

void wfs_leases_free(struct wfs_leases *l)
{
	int rc = 0;

	if (!l)
		return;
	wfs_leases_stop(l);
	for (unsigned i = 0; i < LEASES_MAX; i++) {
		struct lease *e = &l->leases[i];
		bool held, recalled;

		/* After one failure the cluster is likely away: the master
		 * frees the others once they are a minute unused. */
		if (e->state == L_HELD && rc == 0) {
			rc = wfs_meta_lease(l->c, &e->cred, e->dir, true,
					    &held, &recalled);
			if (rc)
				wfs_log_info("client", "giving back the lease"
					     " of directory %" PRIu64 ": %s",
					     e->dir, strerror(-rc));
		}
		clear_proofs(e);
	}
	pthread_cond_destroy(&l->cond);
	pthread_mutex_destroy(&l->lock);
	wfs_free(l);
}

/* ---- what the rest of the client tells and asks ---- */

/* A slot for a new lease: a free one, or one whose cool-down is over.
 * With none, the least recently used lease with nothing outstanding is
 * marked to be given back, and NULL returned: the directory asks again
 * at its next create. */
static struct lease *take_slot(struct wfs_leases *l, int64_t now)
{
	struct lease *lru = NULL;

	for (unsigned i = 0; i < LEASES_MAX; i++) {
		struct lease *e = &l->leases[i];

		if (e->state == L_FREE ||
		    (e->state == L_COOL && now >= e->cool_ms))
			return e;
		if (e->state == L_HELD && !e->outstanding && !e->evict &&
		    (!lru || e->lru < lru->lru))
			lru = e;
	}
	if (lru) {
		lru->evict = true;
		pthread_cond_signal(&l->cond);
	}
	return NULL;
}

void wfs_leases_created_sync(struct wfs_leases *l, const struct wfs_cred *cred,
			     uint64_t dir, int rc, const struct wfs_attr *attr,
			     bool created)
{
	int64_t now = wfs_client_now_ms();
	struct lease *e;

	if (!l || rc)
		return;
	pthread_mutex_lock(&l->lock);
	e = find(l, dir);
	if (e && e->state == L_COOL && now >= e->cool_ms) {
		lease_reset(e, L_FREE, 0);
		e = NULL;
	}
	if (!e && now >= l->off_until) {
		e = take_slot(l, now);
		if (e) {
			lease_reset(e, L_WANT, 0);
			e->dir = dir;
			e->cred = *cred;
			e->lru = ++l->tick;
			pthread_cond_signal(&l->cond);
		}
	}
	/* The node's own answer: the policy and block size a new file gets
	 * there now. */
	if (e && e->state != L_COOL && created)
		set_tmpl(e, attr);
	pthread_mutex_unlock(&l->lock);
}

/* Whether @name has a valid name's form (else the node would refuse it,
 * and only the node should say so). */
static bool plain_name(const char *name)
{
	size_t len = strlen(name);

	return len > 0 && len <= NAME_MAX && strcmp(name, ".") != 0 &&
	       strcmp(name, "..") != 0 && !strchr(name, '/');
}

/* Whether @name is proven absent from @e's directory since its grant;
 * a proof from a lookup is used up. */
static bool proven_absent(struct wfs_leases *l, struct lease *e,
			  const char *name)
{
	for (unsigned i = 0; i < PROOFS; i++)
		if (e->proofs[i] && strcmp(e->proofs[i], name) == 0) {
			wfs_free(e->proofs[i]);
			e->proofs[i] = NULL;
			return true;
		}
	return l->c->dn &&
	       wfs_dirnames_absent_after(l->c->dn, e->dir, name, e->grant_ns);
}

bool wfs_leases_early(struct wfs_leases *l, const struct wfs_cred *cred,
		      uint64_t dir, const char *name, uint32_t mode,
		      int64_t time_ns, struct wfs_attr *attr)
{
	int64_t now = wfs_client_now_ms();
	struct lease *e;
	uint64_t ino = 0;
	bool ok;

	if (!l || !plain_name(name))
		return false;
	pthread_mutex_lock(&l->lock);
	e = find_held(l, dir);
	ok = usable(e, now) && e->have_tmpl && pool_left(l) > 0 &&
	     proven_absent(l, e, name) && pool_take(l, &ino);
	if (ok) {
		memset(attr, 0, sizeof(*attr));
		attr->ino = ino;
		attr->mode = S_IFREG | (mode & 07777 & ~cred->umask);
		attr->nlink = 1;
		attr->uid = cred->uid;
		attr->gid = cred->gid;
		attr->atime_ns = attr->mtime_ns = attr->ctime_ns =
			attr->btime_ns = time_ns;
		attr->policy_id = e->policy_id;
		attr->blksize = e->blksize;
		e->outstanding++;
		e->used_ms = now;
		e->lru = ++l->tick;
		l->st.early++;
		if (pool_left(l) < RESERVE / 2)
			pthread_cond_signal(&l->cond);
	}
	pthread_mutex_unlock(&l->lock);
	return ok;
}

void wfs_leases_applied(struct wfs_leases *l, uint64_t dir, int rc,
			const struct wfs_attr *attr)
{
	struct lease *e;

	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	e = find(l, dir);
	if (e && e->outstanding) {
		e->outstanding--;
		if (rc == 0 && attr && e->state == L_HELD)
			set_tmpl(e, attr);
		/* Its idle time (or its recall) now counts. */
		if (!e->outstanding)
			pthread_cond_signal(&l->cond);
	}
	pthread_mutex_unlock(&l->lock);
}

uint64_t wfs_leases_stamp(struct wfs_leases *l, uint64_t dir)
{
	struct lease *e;
	uint64_t stamp = 0;

	if (!l)
		return 0;
	pthread_mutex_lock(&l->lock);
	e = find_held(l, dir);
	if (e)
		stamp = e->gen;
	pthread_mutex_unlock(&l->lock);
	return stamp;
}

void wfs_leases_absent(struct wfs_leases *l, uint64_t dir, const char *name,
		       uint64_t stamp)
{
	struct lease *e;
	char *copy;

	if (!l || !stamp || !plain_name(name))
		return;
	copy = wfs_strdup(name);
	if (!copy)
		return;
	pthread_mutex_lock(&l->lock);
	e = find_held(l, dir);
	if (e && e->gen == stamp) {
		unsigned i = e->next_proof++ % PROOFS;

		wfs_free(e->proofs[i]);
		e->proofs[i] = copy;
		copy = NULL;
	}
	pthread_mutex_unlock(&l->lock);
	wfs_free(copy);
}

void wfs_leases_name_changed(struct wfs_leases *l, uint64_t dir,
			     const char *name)
{
	struct lease *e;

	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	e = find(l, dir);
	if (e) {
		e->gen = ++l->gens;
		for (unsigned i = 0; i < PROOFS; i++)
			if (e->proofs[i] && strcmp(e->proofs[i], name) == 0) {
				wfs_free(e->proofs[i]);
				e->proofs[i] = NULL;
			}
	}
	pthread_mutex_unlock(&l->lock);
}

uint64_t wfs_leases_sending(struct wfs_leases *l, uint64_t dir)
{
	uint64_t stamp = 0;
	struct lease *e;

	if (!l)
		return 0;
	pthread_mutex_lock(&l->lock);
	e = find_held(l, dir);
	if (e && !e->recalled &&
	    wfs_client_now_ms() - e->confirmed_ms < CONFIRM_MS)
		stamp = e->epoch;
	pthread_mutex_unlock(&l->lock);
	return stamp;
}

void wfs_leases_confirm(struct wfs_leases *l, uint64_t dir, uint64_t stamp,
			int64_t sent_ms)
{
	struct lease *e;

	if (!l || !stamp)
		return;
	pthread_mutex_lock(&l->lock);
	e = find_held(l, dir);
	if (e && e->epoch == stamp && !e->recalled &&
	    sent_ms > e->confirmed_ms)
		e->confirmed_ms = sent_ms;
	pthread_mutex_unlock(&l->lock);
}

void wfs_leases_recall(struct wfs_leases *l, uint64_t dir)
{
	struct lease *e;

	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	e = find_held(l, dir);
	if (e && !e->recalled) {
		wfs_log_debug("client", "lease of directory %" PRIu64
			      " recalled", dir);
		e->recalled = true;
		l->st.recalls++;
		pthread_cond_signal(&l->cond);
	}
	pthread_mutex_unlock(&l->lock);
}

void wfs_leases_stats(struct wfs_leases *l, struct wfs_leases_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	*out = l->st;
	for (unsigned i = 0; i < LEASES_MAX; i++) {
		const struct lease *e = &l->leases[i];

		out->held += e->state == L_HELD;
		out->cooling += e->state == L_COOL &&
				wfs_client_now_ms() < e->cool_ms;
	}
	out->inos = pool_left(l);
	pthread_mutex_unlock(&l->lock);
}

bool wfs_leases_usable(struct wfs_leases *l, uint64_t dir)
{
	bool ok;

	if (!l)
		return false;
	pthread_mutex_lock(&l->lock);
	ok = usable(find_held(l, dir), wfs_client_now_ms());
	pthread_mutex_unlock(&l->lock);
	return ok;
}
