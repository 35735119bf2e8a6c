/* storaged/leases: the master's clocks of directory leases (leases.h).
 *
 * A sorted array of the leases the master has heard of, searched by
 * bisection: leases are few (a client holds a handful, for the directories
 * it is filling), and every create under one looks its directory up.
 */
#include "storaged/leases.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>

#include "log/log.h"
#include "mem/mem.h"
#include "storaged/node_internal.h"

#define SUB "leases"
/* A recalled lease its holder has not given back after this long is taken
 * back.  The holder stops answering early well before (client/behind.c). */
#define RECALL_GRACE_MS 3000
/* A lease its holder has not used for this long is taken back. */
#define IDLE_MS 60000
/* Leases read from the store per page, and the most looked at per tick. */
#define PAGE 256
#define TICK_MAX 16384

struct lease_clock {
	uint64_t dir;
	uint64_t used_ms;	/* monotonic; the holder last used it */
	uint64_t recalled_ms;	/* monotonic; 0: nobody waits */
	bool seen;		/* in the store at the last tick */
};

struct wfs_leases {
	struct wfs_node *n;
	pthread_mutex_t lock;
	struct lease_clock *v;	/* sorted by dir; lock */
	size_t len, cap;	/* lock */
};

int wfs_leases_new(struct wfs_node *n, struct wfs_leases **out)
{
	struct wfs_leases *l = wfs_calloc(1, sizeof(*l));

	*out = NULL;
	if (!l)
		return -ENOMEM;
	l->n = n;
	pthread_mutex_init(&l->lock, NULL);
	*out = l;
	return 0;
}

void wfs_leases_free(struct wfs_leases *l)
{
	if (!l)
		return;
	pthread_mutex_destroy(&l->lock);
	wfs_free(l->v);
	wfs_free(l);
}

/* The place of @dir in l->v, or where it would go.  l->lock held. */
static size_t find(const struct wfs_leases *l, uint64_t dir)
{
	size_t lo = 0, hi = l->len;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->v[mid].dir < dir)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The clock of @dir, made (used now, not recalled) if there is none; NULL
 * when out of memory.  l->lock held. */
static struct lease_clock *get(struct wfs_leases *l, uint64_t dir,
			       uint64_t now)
{
	size_t i = find(l, dir);

	if (i < l->len && l->v[i].dir == dir)
		return &l->v[i];
	if (l->len == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct lease_clock *v = wfs_realloc(l->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		l->v = v;
		l->cap = cap;
	}
	memmove(&l->v[i + 1], &l->v[i], (l->len - i) * sizeof(l->v[0]));
	l->len++;
	l->v[i] = (struct lease_clock){ .dir = dir, .used_ms = now,
					.seen = true };
	return &l->v[i];
}

void wfs_leases_recall(struct wfs_leases *l, uint64_t dir)
{
	uint64_t now = wfs_node_mono_ms();
	struct lease_clock *c;

	pthread_mutex_lock(&l->lock);
	c = get(l, dir, now);
	if (c && !c->recalled_ms) {
		c->recalled_ms = now;
		wfs_log_debug(SUB, "directory %" PRIu64 ": another client "
			      "waits for its lease", dir);
	}
	pthread_mutex_unlock(&l->lock);
}

void wfs_leases_used(struct wfs_leases *l, uint64_t dir)
{
	uint64_t now = wfs_node_mono_ms();
	struct lease_clock *c;

	pthread_mutex_lock(&l->lock);
	c = get(l, dir, now);
	if (c)
		c->used_ms = now;
	pthread_mutex_unlock(&l->lock);
}

void wfs_leases_forget(struct wfs_leases *l, uint64_t dir)
{
	size_t i;

	pthread_mutex_lock(&l->lock);
	i = find(l, dir);
	if (i < l->len && l->v[i].dir == dir) {
		memmove(&l->v[i], &l->v[i + 1],
			(l->len - i - 1) * sizeof(l->v[0]));
		l->len--;
	}
	pthread_mutex_unlock(&l->lock);
}

bool wfs_leases_recalled(struct wfs_leases *l, uint64_t dir)
{
	bool recalled;
	size_t i;

	pthread_mutex_lock(&l->lock);
	i = find(l, dir);
	recalled = i < l->len && l->v[i].dir == dir && l->v[i].recalled_ms;
	pthread_mutex_unlock(&l->lock);
	return recalled;
}

void wfs_leases_clear(struct wfs_leases *l)
{
	pthread_mutex_lock(&l->lock);
	l->len = 0;
	pthread_mutex_unlock(&l->lock);
}

struct held {
	uint64_t dir, session;
};

struct listing {
	struct held *v;
	size_t len, cap;
	uint64_t last;
};

static int list_one(void *arg, uint64_t dir, uint64_t session)
{
	struct listing *ls = arg;

	if (ls->len == ls->cap) {
		size_t cap = ls->cap ? 2 * ls->cap : PAGE;
		struct held *v = wfs_realloc(ls->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		ls->v = v;
		ls->cap = cap;
	}
	ls->v[ls->len++] = (struct held){ dir, session };
	ls->last = dir;
	return 0;
}

/* Every lease in the store (at most TICK_MAX) into @ls. */
static int list_leases(struct wfs_leases *l, struct listing *ls)
{
	int rc = 0;

	while (ls->len < TICK_MAX) {
		struct wfs_meta *m = wfs_metafsm_read_begin(l->n->fsm);
		size_t before = ls->len;

		rc = m ? wfs_meta_leases(m, ls->last, PAGE, list_one, ls)
		       : -EIO;
		wfs_metafsm_read_end(l->n->fsm);
		if (rc < 0 || ls->len - before < PAGE)
			break;
	}
	return rc < 0 ? rc : 0;
}

/* Drop the clocks of leases no longer in the store, start those of new
 * ones, and move the overdue ones to the front of @ls (returns how many).
 * l->lock held. */
static size_t overdue(struct wfs_leases *l, struct listing *ls, uint64_t now)
{
	size_t nover = 0, kept = 0;

	for (size_t i = 0; i < l->len; i++)
		l->v[i].seen = false;
	for (size_t i = 0; i < ls->len; i++) {
		struct lease_clock *c = get(l, ls->v[i].dir, now);

		if (!c)
			continue;
		c->seen = true;
		if ((c->recalled_ms && now - c->recalled_ms > RECALL_GRACE_MS) ||
		    now - c->used_ms > IDLE_MS) {
			struct held h = ls->v[nover];

			ls->v[nover++] = ls->v[i];
			ls->v[i] = h;
		}
	}
	for (size_t i = 0; i < l->len; i++)
		if (l->v[i].seen)
			l->v[kept++] = l->v[i];
	l->len = kept;
	return nover;
}

/* Take @h's lease back from its holder. */
static void revoke(struct wfs_leases *l, const struct held *h, bool recalled)
{
	struct wfs_meta_op op;
	int rc;

	memset(&op, 0, sizeof(op));
	op.type = WFS_META_OP_DIR_LEASE;
	op.time_ns = wfs_node_now_ns();
	op.u.lease.ino = h->dir;
	op.u.lease.session = h->session;
	op.u.lease.grant = 0;
	rc = wfs_node_propose_wait(l->n, &op, NULL);
	if (rc == 0)
		wfs_leases_forget(l, h->dir);
	if (rc)
		wfs_log_warn(SUB, "cannot take back the lease of directory %"
			     PRIu64 " from client session %016" PRIx64 ": %s",
			     h->dir, h->session, strerror(-rc));
	else
		wfs_log_info(SUB, "took back the lease of directory %" PRIu64
			     " from client session %016" PRIx64 ": %s",
			     h->dir, h->session,
			     recalled ? "another client waited and the holder "
					"did not give it back"
				      : "its holder has not used it for a "
					"minute");
}

void wfs_leases_tick(struct wfs_leases *l)
{
	struct listing ls = { 0 };
	uint64_t now = wfs_node_mono_ms();
	size_t nover;
	int rc;

	rc = list_leases(l, &ls);
	if (rc) {
		wfs_log_warn(SUB, "cannot list directory leases: %s",
			     strerror(-rc));
		wfs_free(ls.v);
		return;
	}
	pthread_mutex_lock(&l->lock);
	nover = overdue(l, &ls, now);
	pthread_mutex_unlock(&l->lock);
	for (size_t i = 0; i < nover; i++)
		revoke(l, &ls.v[i], wfs_leases_recalled(l, ls.v[i].dir));
	wfs_free(ls.v);
}
