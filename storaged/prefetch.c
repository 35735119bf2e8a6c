/* storaged/prefetch: see prefetch.h.
 *
 * One thread, and one range of stripe ids to read ahead: a new run that
 * starts elsewhere replaces what was left of the old one, so the thread
 * never works through more than AHEAD ids that nobody is about to read.
 */
#include "storaged/prefetch.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "log/log.h"
#include "mem/mem.h"
#include "storaged/node_internal.h"

#define SUB "prefetch"

/* Stripes read ahead of the one served, and the largest step between two
 * served stripes that still counts as going through them in order (files
 * skipped, a stripe id taken by another writer). */
#define AHEAD 8
#define GAP 4

struct wfs_prefetch {
	struct wfs_node *n;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;		/* lock */
	uint64_t last;		/* the stripe served last; lock */
	uint64_t ahead;		/* ids up to this one were queued; lock */
	uint64_t next, end;	/* to read ahead: [next, end); lock */
	atomic_uint_fast64_t count;
};

struct first_copy {
	const char *node;
	bool found;
	struct wfs_chunk_key key;
};

/* The first copy (chunk sidx % copies, the one a reader asks for first)
 * of a replica stripe, if this node holds it. */
static int first_copy_cb(const struct wfs_meta_stripe *s, void *arg)
{
	struct first_copy *fc = arg;
	uint32_t first;

	if (s->kind != WFS_META_STRIPE_REPLICA)
		return 0;
	first = (uint32_t)(s->sidx % (s->m + 1));
	for (uint32_t i = 0; i < s->nchunks; i++) {
		const struct wfs_meta_chunk_loc *c = &s->chunks[i];

		if (c->index != first || c->state != WFS_META_CHUNK_OK ||
		    c->node.len != strlen(fc->node) ||
		    memcmp(c->node.data, fc->node, c->node.len) != 0)
			continue;
		fc->key.stripe_id = s->stripe_id;
		fc->key.version = s->version;
		fc->key.index = first;
		fc->found = true;
	}
	return 0;
}

static void read_ahead(struct wfs_prefetch *p, uint64_t stripe_id)
{
	struct first_copy fc = { .node = p->n->id.node_id };
	struct wfs_meta *m = wfs_metafsm_read_begin(p->n->fsm);
	int rc = m ? wfs_meta_stripe_get(m, stripe_id, first_copy_cb, &fc)
		   : -EIO;

	wfs_metafsm_read_end(p->n->fsm);
	if (rc != 0 || !fc.found)
		return;		/* no such stripe (yet), or not ours */
	rc = wfs_store_prefetch(p->n->store, &fc.key);
	if (rc == 0)
		atomic_fetch_add(&p->count, 1);
	else if (rc != -ENOENT)
		wfs_log_debug(SUB, "stripe %llu: cannot read ahead: %s",
			      (unsigned long long)stripe_id, strerror(-rc));
}

static void *prefetch_main(void *arg)
{
	struct wfs_prefetch *p = arg;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		uint64_t id;

		if (p->next == p->end) {
			pthread_cond_wait(&p->cond, &p->lock);
			continue;
		}
		id = p->next++;
		pthread_mutex_unlock(&p->lock);
		read_ahead(p, id);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int wfs_prefetch_new(struct wfs_node *n, struct wfs_prefetch **out)
{
	struct wfs_prefetch *p = wfs_calloc(1, sizeof(*p));
	int rc;

	*out = NULL;
	if (!p)
		return -ENOMEM;
	p->n = n;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	rc = pthread_create(&p->thread, NULL, prefetch_main, p);
	if (rc) {
		pthread_cond_destroy(&p->cond);
		pthread_mutex_destroy(&p->lock);
		wfs_free(p);
		return -rc;
	}
	*out = p;
	return 0;
}

void wfs_prefetch_free(struct wfs_prefetch *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	wfs_free(p);
}

void wfs_prefetch_served(struct wfs_prefetch *p, uint64_t stripe_id)
{
	uint64_t from;

	if (!p || stripe_id > UINT64_MAX - AHEAD)
		return;
	pthread_mutex_lock(&p->lock);
	if (stripe_id > p->last && stripe_id - p->last <= GAP) {
		from = p->ahead > stripe_id ? p->ahead + 1 : stripe_id + 1;
		if (from <= stripe_id + AHEAD) {
			/* Ids queued before and not read yet stay queued. */
			if (p->next == p->end || p->end != from)
				p->next = from;
			p->end = stripe_id + AHEAD + 1;
			p->ahead = stripe_id + AHEAD;
			pthread_cond_signal(&p->cond);
		}
	} else {
		p->ahead = stripe_id;	/* a new run may start here */
	}
	p->last = stripe_id;
	pthread_mutex_unlock(&p->lock);
}

uint64_t wfs_prefetch_count(struct wfs_prefetch *p)
{
	return p ? atomic_load(&p->count) : 0;
}
