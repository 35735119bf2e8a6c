/* storaged/stripe_service: PlaceStripe, CommitStripe, GetLayout, and
 * Admin.PlaceChunk, where one chunk of a draining disk goes (see
 * stripe_service.h and storaged/drain.h).
 *
 * PlaceStripe takes an id from the in-memory range under s->lock, or parks
 * the call there and, if no RESERVE_IDS is in flight, proposes one; when it
 * applies (raft thread) the new range is installed and the parked calls
 * are served from it.  The placement itself reads the store (the file, its
 * policy, its slot, the nodes and disks), then asks placement/ for the
 * disks, seeded with the stripe id so that the answer is reproducible.
 */
#include "storaged/stripe_service.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

#include "chunk/format.h"
#include "log/log.h"
#include "mem/mem.h"
#include "placement/place.h"
#include "storaged/chunk_service.h"
#include "storaged/drain.h"
#include "storaged/liveness.h"
#include "storaged/node_internal.h"
#include "storaged/service_internal.h"

#define SUB "stripes"
#define LAYOUT_DEFAULT 64
#define LAYOUT_MAX 256
/* Bytes of Stripe.first_copy data one GetLayout reply carries at most. */
#define LAYOUT_COPY_MAX (1u << 20)

struct parked {
	struct parked *next;
	struct wfs_rpc_call *call;
	uint64_t ino, parent, sidx;
	uint32_t kind;
};

struct wfs_stripesvc {
	struct wfs_node *n;
	pthread_mutex_t lock;
	uint64_t next, end;		/* ids [next, end) are free; lock */
	uint64_t epoch;			/* bumped by drop_ids; lock */
	bool reserving;			/* a RESERVE_IDS in flight; lock */
	struct parked *parked;		/* calls waiting for ids; lock */
};

/* What a RESERVE_IDS in flight was proposed under. */
struct reserve {
	struct wfs_stripesvc *s;
	uint64_t epoch;
};

/* ---- nodes and disks, copied out of the store ---- */

struct node_ent {
	char id[WFS_META_ID_MAX + 1];
	char addr[WFS_META_ADDR_MAX + 1];
	bool alive;	/* as the master's record says (gossip) */
};

struct disk_ent {
	char id[WFS_META_ID_MAX + 1];
	char node[WFS_META_ID_MAX + 1];
	uint32_t state;		/* as recorded (enum wfs_place_disk_state:
				 * online or offline) */
	bool draining;		/* an operator drains it */
};

struct cluster {
	struct node_ent *nodes;
	size_t nnodes;
	struct disk_ent *disks;
	struct wfs_place_disk *cands;	/* parallel to disks */
	size_t ndisks;
	int err;
};

static void copy_str(char *dst, struct wfs_meta_bytes b, size_t max)
{
	size_t len = b.len > max ? max : b.len;

	memcpy(dst, b.data, len);
	dst[len] = 0;
}

static int node_cb(const struct wfs_meta_node *nd, void *arg)
{
	struct cluster *c = arg;
	struct node_ent *grown;

	grown = wfs_realloc(c->nodes, (c->nnodes + 1) * sizeof(*grown));
	if (!grown)
		return c->err = -ENOMEM;
	c->nodes = grown;
	copy_str(grown[c->nnodes].id, nd->id, WFS_META_ID_MAX);
	copy_str(grown[c->nnodes].addr, nd->addr, WFS_META_ADDR_MAX);
	grown[c->nnodes].alive = nd->state == WFS_NODE_STATE_ALIVE;
	c->nnodes++;
	return 0;
}

static int disk_cb(const struct wfs_meta_disk *d, void *arg)
{
	struct cluster *c = arg;
	struct disk_ent *de;
	struct wfs_place_disk *pd;

	de = wfs_realloc(c->disks, (c->ndisks + 1) * sizeof(*de));
	if (!de)
		return c->err = -ENOMEM;
	c->disks = de;
	pd = wfs_realloc(c->cands, (c->ndisks + 1) * sizeof(*pd));
	if (!pd)
		return c->err = -ENOMEM;
	c->cands = pd;
	copy_str(de[c->ndisks].id, d->id, WFS_META_ID_MAX);
	copy_str(de[c->ndisks].node, d->node_id, WFS_META_ID_MAX);
	de[c->ndisks].state = d->state;
	de[c->ndisks].draining = d->draining;
	pd[c->ndisks] = (struct wfs_place_disk){
		.capacity = d->capacity, .free = d->free, .state = d->state,
	};
	c->ndisks++;
	return 0;
}

static void cluster_release(struct cluster *c)
{
	wfs_free(c->nodes);
	wfs_free(c->disks);
	wfs_free(c->cands);
	memset(c, 0, sizeof(*c));
}

/* The node @id, or NULL if it is not known. */
static const struct node_ent *node_find(const struct cluster *c,
					const char *id)
{
	for (size_t i = 0; i < c->nnodes; i++)
		if (strcmp(c->nodes[i].id, id) == 0)
			return &c->nodes[i];
	return NULL;
}

/* The API address of node @id, or "" if it is not known.  A node recorded
 * dead keeps its address: it may only be cut off from the master, and a
 * reader tries it like any other. */
static const char *node_addr(const struct cluster *c, const char *id)
{
	const struct node_ent *e = node_find(c, id);

	return e ? e->addr : "";
}

/* Disks that are online on a node recorded dead: they come back with it. */
static size_t down_disks(const struct cluster *c)
{
	size_t count = 0;

	for (size_t i = 0; i < c->ndisks; i++) {
		const struct node_ent *e = node_find(c, c->disks[i].node);

		count += e && e->addr[0] && !e->alive &&
			 c->disks[i].state == WFS_PLACE_DISK_ONLINE &&
			 !c->disks[i].draining;
	}
	return count;
}

/* Disks placement may use now. */
static size_t usable_disks(const struct cluster *c)
{
	size_t count = 0;

	for (size_t i = 0; i < c->ndisks; i++)
		count += c->cands[i].state == WFS_PLACE_DISK_ONLINE;
	return count;
}

/* Read the nodes (and with @disks, the disks) of the cluster.  Gossip's
 * fresh figures (liveness.h) override the disks' records where it has
 * them: a disk its node reports offline or full is so at once, not at the
 * next Join.  Then a draining disk that is not offline is draining
 * (wfs_node_place_state: gossip knows nothing of it).  Disks of a node
 * the metadata does not know are offline for placement. */
static int cluster_read(struct wfs_node *n, struct wfs_meta *m, bool disks,
			struct cluster *c)
{
	int rc;

	memset(c, 0, sizeof(*c));
	rc = wfs_meta_nodes(m, node_cb, c);
	if (rc >= 0 && disks)
		rc = wfs_meta_disks(m, disk_cb, c);
	if (c->err)
		rc = c->err;
	if (rc < 0) {
		cluster_release(c);
		return rc;
	}
	for (size_t i = 0; i < c->ndisks; i++) {
		c->cands[i].node_id = c->disks[i].node;
		c->cands[i].disk_id = c->disks[i].id;
	}
	wfs_liveness_overlay(n->liveness, c->cands, c->ndisks);
	for (size_t i = 0; i < c->ndisks; i++) {
		const struct node_ent *e = node_find(c, c->disks[i].node);

		c->cands[i].state = wfs_node_place_state(c->cands[i].state,
							 c->disks[i].draining);

		/* No new chunks on a node without an address (admitted,
		 * never joined) or recorded dead. */
		if (!e || !e->addr[0] || !e->alive)
			c->cands[i].state = WFS_PLACE_DISK_OFFLINE;
	}
	return 0;
}

/* ---- placing ---- */

static int slot_cb(const struct wfs_meta_stripe *st, void *arg)
{
	uint64_t *v = arg;

	if (st->sidx == v[0])
		v[1] = st->version;
	return 1;
}

/* What a placement needs from the store. */
struct place_input {
	struct wfs_meta_policy policy;
	uint64_t version;		/* the slot's current version */
	struct cluster c;
};

/* @parent: see PlaceStripeRequest.parent. */
static int place_read(struct wfs_node *n, uint64_t ino, uint64_t parent,
		      uint64_t sidx, struct place_input *in)
{
	struct wfs_meta *m = wfs_metafsm_read_begin(n->fsm);
	uint64_t slot[2] = { sidx, 0 };
	struct wfs_meta_attr a;
	int rc = m ? wfs_meta_getattr(m, ino, &a) : -EIO;

	if (rc == -ENOENT && parent) {
		/* Created early, not applied yet: a new, empty file (no
		 * stripes, version 0). */
		rc = wfs_meta_policy_for(m, parent, &in->policy);
	} else {
		if (rc == 0 && S_ISDIR(a.mode))
			rc = -EISDIR;
		else if (rc == 0 && !S_ISREG(a.mode))
			rc = -EINVAL;
		if (rc == 0)
			rc = wfs_meta_policy_get(
				m, a.policy_id ? a.policy_id
					       : WFS_META_DEFAULT_POLICY,
				&in->policy);
		if (rc == 0)
			rc = wfs_meta_stripes(m, ino, sidx, 1, slot_cb, slot);
	}
	if (rc >= 0)
		rc = cluster_read(n, m, true, &in->c);
	wfs_metafsm_read_end(n->fsm);
	in->version = slot[1];
	return rc < 0 ? rc : 0;
}

static int place_reply(const struct place_input *in, uint64_t id,
		       uint32_t kind, const size_t *pick, unsigned width,
		       void **buf, size_t *len)
{
	Wormfs__PlaceStripeReply pr = WORMFS__PLACE_STRIPE_REPLY__INIT;
	Wormfs__ChunkLocation locs[WFS_PLACE_MAX], *ptrs[WFS_PLACE_MAX];

	pr.stripe_id = id;
	pr.expected_version = in->version;
	pr.kind = (Wormfs__StripeKind)kind;
	pr.k = in->policy.k;
	pr.m = in->policy.m;
	pr.chunk_size = in->policy.chunk_size;
	for (unsigned i = 0; i < width; i++) {
		const struct disk_ent *d = &in->c.disks[pick[i]];

		wormfs__chunk_location__init(&locs[i]);
		locs[i].index = i;
		locs[i].state = WORMFS__CHUNK_STATE__CHUNK_OK;
		locs[i].node_id.data = (uint8_t *)d->node;
		locs[i].node_id.len = strlen(d->node);
		locs[i].disk_id.data = (uint8_t *)d->id;
		locs[i].disk_id.len = strlen(d->id);
		locs[i].node_addr = (char *)node_addr(&in->c, d->node);
		ptrs[i] = &locs[i];
	}
	pr.n_chunks = width;
	pr.chunks = ptrs;
	return wfs_svc_pack(&pr.base, buf, len);
}

/* Place stripe @sidx of @ino as @kind under id @id; the packed reply into
 * *buf and *len.  Any thread (server threads and the raft thread). */
static int place(struct wfs_node *n, uint64_t ino, uint64_t parent,
		 uint64_t sidx, uint32_t kind, uint64_t id, void **buf,
		 size_t *len)
{
	struct place_input in;
	size_t pick[WFS_PLACE_MAX];
	unsigned width;
	int rc;

	memset(&in, 0, sizeof(in));
	rc = place_read(n, ino, parent, sidx, &in);
	if (rc)
		return rc;
	width = kind == WFS_META_STRIPE_EC ? in.policy.k + in.policy.m
					   : in.policy.m + 1;
	rc = wfs_place_pick(in.c.cands, in.c.ndisks, width,
			    (uint64_t)in.policy.chunk_size +
				    WFS_CHUNK_HEADER_SIZE,
			    id, pick);
	/* Too few disks because nodes are down (or cut off): the cluster is
	 * degraded, not full; the client waits for them and asks again. */
	if (rc == -ENOSPC && down_disks(&in.c) &&
	    down_disks(&in.c) + usable_disks(&in.c) >= width) {
		wfs_log_warn(SUB, "stripe %" PRIu64 " of inode %" PRIu64
			     ": %zu disks usable, %zu on nodes that are down; "
			     "%u needed: the writer waits", sidx, ino,
			     usable_disks(&in.c), down_disks(&in.c), width);
		rc = -EAGAIN;
	} else if (rc == -ENOSPC) {
		wfs_log_warn(SUB, "stripe %" PRIu64 " of inode %" PRIu64
			     ": fewer than %u usable disks for its chunks",
			     sidx, ino, width);
	}
	if (rc == 0)
		rc = place_reply(&in, id, kind, pick, width, buf, len);
	cluster_release(&in.c);
	return rc;
}

/* ---- stripe ids ---- */

static void serve_parked(struct wfs_stripesvc *s, struct parked *p, int rc,
			 uint64_t id)
{
	void *buf = NULL;
	size_t len = 0;

	if (rc == 0)
		rc = place(s->n, p->ino, p->parent, p->sidx, p->kind, id,
			   &buf, &len);
	wfs_rpc_call_finish(p->call, rc, buf, len);
	wfs_free(p);
}

/* Raft thread: a RESERVE_IDS applied or failed. */
static void reserved(void *arg, int rc, const struct wfs_metafsm_result *res)
{
	struct reserve *r = arg;
	struct wfs_stripesvc *s = r->s;
	struct parked *list, *p;
	uint64_t ids[64];
	unsigned n = 0;

	if (rc == 0)
		rc = res->meta.status;
	pthread_mutex_lock(&s->lock);
	s->reserving = false;
	if (rc == 0 && r->epoch != s->epoch)
		rc = -EAGAIN;	/* leadership changed: the range is dropped */
	if (rc == 0) {
		s->next = res->meta.value;
		s->end = res->meta.value + WFS_STRIPESVC_RESERVE;
	}
	list = s->parked;
	s->parked = NULL;
	for (p = list; p && n < 64; p = p->next)
		ids[n++] = rc == 0 && s->next < s->end ? s->next++ : 0;
	pthread_mutex_unlock(&s->lock);
	wfs_free(r);
	for (unsigned i = 0; (p = list); i++) {
		list = p->next;
		/* Past the first 64 (or a range used up): retry, as for a
		 * leader change. */
		serve_parked(s, p, rc ? rc : i < n && ids[i] ? 0 : -EAGAIN,
			     i < n ? ids[i] : 0);
	}
}

/* Take an id, or park @p for the next range (*start: propose one). */
static bool take_or_park(struct wfs_stripesvc *s, struct parked *p,
			 uint64_t *id, bool *start, uint64_t *epoch)
{
	bool took = false;

	pthread_mutex_lock(&s->lock);
	if (s->next < s->end) {
		*id = s->next++;
		took = true;
	} else {
		p->next = s->parked;
		s->parked = p;
		*start = !s->reserving;
		s->reserving = true;
		*epoch = s->epoch;
	}
	pthread_mutex_unlock(&s->lock);
	return took;
}

static void fail_parked(struct wfs_stripesvc *s, int rc)
{
	struct parked *list, *p;

	pthread_mutex_lock(&s->lock);
	list = s->parked;
	s->parked = NULL;
	s->reserving = false;
	pthread_mutex_unlock(&s->lock);
	while ((p = list)) {
		list = p->next;
		serve_parked(s, p, rc, 0);
	}
}

static void start_reserve(struct wfs_stripesvc *s, uint64_t epoch)
{
	struct wfs_meta_op op;
	struct reserve *r = wfs_malloc(sizeof(*r));
	int rc = -ENOMEM;

	if (r) {
		r->s = s;
		r->epoch = epoch;
		wfs_svc_op_init(&op, WFS_META_OP_RESERVE_IDS, NULL);
		op.u.reserve.count = WFS_STRIPESVC_RESERVE;
		rc = wfs_node_propose(s->n, &op, reserved, r);
		if (rc)
			wfs_free(r);
	}
	if (rc)
		fail_parked(s, rc);
}

static int place_serve(struct wfs_stripesvc *s,
		       const Wormfs__PlaceStripeRequest *r,
		       struct wfs_rpc_reply *reply)
{
	struct parked *p;
	bool start = false;
	uint64_t id, epoch = 0;
	void *buf = NULL;
	size_t len = 0;
	int rc;

	if (r->kind != WORMFS__STRIPE_KIND__STRIPE_EC &&
	    r->kind != WORMFS__STRIPE_KIND__STRIPE_REPLICA)
		return -EINVAL;
	rc = wfs_node_serving(s->n);
	if (rc)
		return rc;
	p = wfs_calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->ino = r->ino;
	p->parent = r->parent;
	p->sidx = r->sidx;
	p->kind = (uint32_t)r->kind;
	/* Deferred before parking: the range may arrive at once. */
	p->call = wfs_rpc_reply_later(reply);
	if (!take_or_park(s, p, &id, &start, &epoch)) {
		if (start)
			start_reserve(s, epoch);
		return 0;
	}
	rc = place(s->n, p->ino, p->parent, p->sidx, p->kind, id,
			   &buf, &len);
	wfs_rpc_call_finish(p->call, rc, buf, len);
	wfs_free(p);
	return 0;
}

static int h_place(void *arg, const void *req, size_t len,
		   struct wfs_rpc_reply *reply)
{
	Wormfs__PlaceStripeRequest *r;
	int rc;

	rc = wfs_svc_unpack(&wormfs__place_stripe_request__descriptor, req,
			    len, &r);
	if (rc)
		return rc;
	rc = place_serve(arg, r, reply);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

/* ---- CommitStripe ---- */

static int reply_commit(struct wfs_svc_pending *p, int rc,
			const struct wfs_metafsm_result *res, void **buf,
			size_t *len)
{
	Wormfs__CommitStripeReply cr = WORMFS__COMMIT_STRIPE_REPLY__INIT;
	Wormfs__Attr attr;
	struct wfs_meta *m;

	if (rc)
		return rc;
	m = wfs_metafsm_read_begin(p->n->fsm);
	wfs_svc_attr(m, &res->meta.attr, &attr);
	wfs_metafsm_read_end(p->n->fsm);
	cr.version = res->meta.value;
	cr.attr = &attr;
	return wfs_svc_pack(&cr.base, buf, len);
}

static int commit_chunks(const Wormfs__CommitStripeRequest *r,
			 struct wfs_meta_chunk_loc *locs)
{
	if (r->n_chunks > WFS_META_CHUNKS_MAX)
		return -EINVAL;
	for (size_t i = 0; i < r->n_chunks; i++) {
		const Wormfs__ChunkLocation *c = r->chunks[i];

		if (c->node_id.len > WFS_META_ID_MAX ||
		    c->disk_id.len > WFS_META_ID_MAX ||
		    (unsigned)c->state > WFS_META_CHUNK_MISSING)
			return -EINVAL;
		locs[i].index = c->index;
		locs[i].state = (uint32_t)c->state;
		locs[i].node = (struct wfs_meta_bytes){ c->node_id.data,
							c->node_id.len };
		locs[i].disk = (struct wfs_meta_bytes){ c->disk_id.data,
							c->disk_id.len };
	}
	return 0;
}

static int commit_serve(struct wfs_node *n,
			const Wormfs__CommitStripeRequest *r,
			struct wfs_rpc_reply *reply)
{
	struct wfs_meta_chunk_loc locs[WFS_META_CHUNKS_MAX];
	struct wfs_svc_pending *p;
	struct wfs_meta_op op;
	int rc;

	if (r->kind != WORMFS__STRIPE_KIND__STRIPE_EC &&
	    r->kind != WORMFS__STRIPE_KIND__STRIPE_REPLICA)
		return -EINVAL;
	rc = commit_chunks(r, locs);
	if (rc == 0)
		rc = wfs_node_serving(n);
	if (rc)
		return rc;
	p = wfs_svc_pending_new(n, reply_commit);
	if (!p)
		return -ENOMEM;
	wfs_svc_op_init(&op, WFS_META_OP_STRIPE_COMMIT, r->caller);
	op.u.stripe.ino = r->ino;
	op.u.stripe.sidx = r->sidx;
	op.u.stripe.stripe_id = r->stripe_id;
	op.u.stripe.expected_version = r->expected_version;
	op.u.stripe.expected_length = r->check_length ? r->expected_length
						      : WFS_META_LENGTH_ANY;
	op.u.stripe.kind = (uint32_t)r->kind;
	op.u.stripe.k = r->k;
	op.u.stripe.m = r->m;
	op.u.stripe.chunk_size = r->chunk_size;
	op.u.stripe.length = r->length;
	op.u.stripe.file_size = r->file_size;
	op.u.stripe.nchunks = (uint32_t)r->n_chunks;
	op.u.stripe.chunks = locs;
	return wfs_svc_propose(p, reply, &op);
}

static int h_commit(void *arg, const void *req, size_t len,
		    struct wfs_rpc_reply *reply)
{
	Wormfs__CommitStripeRequest *r;
	int rc;

	rc = wfs_svc_unpack(&wormfs__commit_stripe_request__descriptor, req,
			    len, &r);
	if (rc)
		return rc;
	rc = commit_serve(((struct wfs_stripesvc *)arg)->n, r, reply);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

/* ---- GetLayout ---- */

struct loc_copy {
	uint32_t index, state;
	char node[WFS_META_ID_MAX + 1];
	char disk[WFS_META_ID_MAX + 1];
};

struct stripe_copy {
	uint64_t sidx, stripe_id, version;
	uint32_t kind, k, m, chunk_size, length, nchunks;
	struct loc_copy locs[WFS_META_CHUNKS_MAX];
	/* Stripe.first_copy, when first_buf is set (layout_first_copies). */
	void *first_buf;
	Wormfs__ChunkReadReply first;
	Wormfs__ChunkHeader first_hdr;
};

struct layout {
	struct stripe_copy *stripes;
	unsigned n, cap;
};

static int layout_cb(const struct wfs_meta_stripe *st, void *arg)
{
	struct layout *l = arg;
	struct stripe_copy *c;

	if (l->n == l->cap)
		return 1;
	c = &l->stripes[l->n++];
	c->sidx = st->sidx;
	c->stripe_id = st->stripe_id;
	c->version = st->version;
	c->kind = st->kind;
	c->k = st->k;
	c->m = st->m;
	c->chunk_size = st->chunk_size;
	c->length = st->length;
	c->nchunks = st->nchunks;
	for (uint32_t i = 0; i < st->nchunks; i++) {
		c->locs[i].index = st->chunks[i].index;
		c->locs[i].state = st->chunks[i].state;
		copy_str(c->locs[i].node, st->chunks[i].node, WFS_META_ID_MAX);
		copy_str(c->locs[i].disk, st->chunks[i].disk, WFS_META_ID_MAX);
	}
	return 0;
}

/* The reply's messages, built over the copies. */
struct layout_msgs {
	Wormfs__Stripe *stripes;
	Wormfs__Stripe **sptrs;
	Wormfs__ChunkLocation *locs;
	Wormfs__ChunkLocation **lptrs;
};

static int layout_pack(const struct layout *l, const struct cluster *c,
		       Wormfs__GetLayoutReply *gr, void **buf, size_t *len)
{
	struct layout_msgs mm;
	size_t k = 0, total = (size_t)l->n * WFS_META_CHUNKS_MAX;
	int rc = -ENOMEM;

	mm.stripes = wfs_calloc(l->n + 1, sizeof(*mm.stripes));
	mm.sptrs = wfs_calloc(l->n + 1, sizeof(*mm.sptrs));
	mm.locs = wfs_calloc(total + 1, sizeof(*mm.locs));
	mm.lptrs = wfs_calloc(total + 1, sizeof(*mm.lptrs));
	if (!mm.stripes || !mm.sptrs || !mm.locs || !mm.lptrs)
		goto out_free;
	for (unsigned i = 0; i < l->n; i++) {
		const struct stripe_copy *s = &l->stripes[i];
		Wormfs__Stripe *m = &mm.stripes[i];

		wormfs__stripe__init(m);
		m->sidx = s->sidx;
		m->stripe_id = s->stripe_id;
		m->version = s->version;
		m->kind = (Wormfs__StripeKind)s->kind;
		m->k = s->k;
		m->m = s->m;
		m->chunk_size = s->chunk_size;
		m->length = s->length;
		m->chunks = &mm.lptrs[k];
		m->n_chunks = s->nchunks;
		if (s->first_buf)
			m->first_copy = (Wormfs__ChunkReadReply *)&s->first;
		for (uint32_t j = 0; j < s->nchunks; j++, k++) {
			Wormfs__ChunkLocation *cl = &mm.locs[k];

			wormfs__chunk_location__init(cl);
			cl->index = s->locs[j].index;
			cl->state = (Wormfs__ChunkState)s->locs[j].state;
			cl->node_id.data = (uint8_t *)s->locs[j].node;
			cl->node_id.len = strlen(s->locs[j].node);
			cl->disk_id.data = (uint8_t *)s->locs[j].disk;
			cl->disk_id.len = strlen(s->locs[j].disk);
			cl->node_addr = (char *)node_addr(c, s->locs[j].node);
			mm.lptrs[k] = cl;
		}
		mm.sptrs[i] = m;
	}
	gr->stripes = mm.sptrs;
	gr->n_stripes = l->n;
	rc = wfs_svc_pack(&gr->base, buf, len);
out_free:
	wfs_free(mm.lptrs);
	wfs_free(mm.locs);
	wfs_free(mm.sptrs);
	wfs_free(mm.stripes);
	return rc;
}

/* Stripe.first_copy of the replica stripes of @l whose first copy (the one
 * a reader tries first: chunk sidx % copies) this node holds, up to @max
 * bytes of data in all.  A copy that cannot be read here is left out: the
 * reader then asks for it as usual, and meets the same error there. */
static void layout_first_copies(struct wfs_node *n, struct layout *l,
				uint32_t max)
{
	for (unsigned i = 0; i < l->n && max > 0; i++) {
		struct stripe_copy *s = &l->stripes[i];
		struct wfs_chunk_key key = { s->stripe_id, s->version, 0 };
		const struct loc_copy *first = NULL;
		struct wfs_store_chunk sc;

		if (s->kind != WORMFS__STRIPE_KIND__STRIPE_REPLICA ||
		    s->length > max)
			continue;
		key.index = (uint32_t)(s->sidx % (s->m + 1));
		for (uint32_t j = 0; j < s->nchunks; j++)
			if (s->locs[j].index == key.index)
				first = &s->locs[j];
		if (!first || first->state != WORMFS__CHUNK_STATE__CHUNK_OK ||
		    strcmp(first->node, n->id.node_id) != 0)
			continue;
		/* The file on disk, not the stripe's length: a truncate
		 * shortens the stripe and leaves its chunks as they were. */
		if (wfs_store_stat(n->store, &key, &sc) != 0 ||
		    sc.data_len > max)
			continue;
		if (wfs_chunksvc_read_reply(n, &key, &s->first, &s->first_hdr,
					    &s->first_buf) != 0) {
			s->first_buf = NULL;
			continue;
		}
		/* The file may have grown between stat and read. */
		if (s->first.data.len > max) {
			wfs_free(s->first_buf);
			s->first_buf = NULL;
			continue;
		}
		max -= (uint32_t)s->first.data.len;
		wfs_prefetch_served(n->prefetch, s->stripe_id);
	}
}

static int layout_serve(struct wfs_node *n, const Wormfs__GetLayoutRequest *r,
			void **buf, size_t *len)
{
	Wormfs__GetLayoutReply gr = WORMFS__GET_LAYOUT_REPLY__INIT;
	unsigned limit = r->limit == 0 ? LAYOUT_DEFAULT
			 : r->limit > LAYOUT_MAX ? LAYOUT_MAX : r->limit;
	struct layout l = { .cap = limit + 1 };
	struct cluster c = { 0 };
	struct wfs_meta_attr a;
	Wormfs__Attr attr;
	struct wfs_meta *m;
	int rc;

	l.stripes = wfs_calloc(l.cap, sizeof(*l.stripes));
	if (!l.stripes)
		return -ENOMEM;
	m = wfs_metafsm_read_begin(n->fsm);
	rc = m ? wfs_meta_getattr(m, r->ino, &a) : -EIO;
	if (rc == 0 && S_ISDIR(a.mode))
		rc = -EISDIR;
	if (rc == 0)
		rc = cluster_read(n, m, false, &c);
	if (rc == 0)
		rc = wfs_meta_stripes(m, r->ino, r->sidx, limit + 1, layout_cb,
				      &l);
	if (rc >= 0)
		wfs_svc_attr(m, &a, &attr);
	wfs_metafsm_read_end(n->fsm);
	if (rc >= 0) {
		gr.eof = l.n <= limit;
		if (l.n > limit)
			l.n = limit;
		gr.attr = &attr;
		layout_first_copies(n, &l, r->copy_max < LAYOUT_COPY_MAX
						   ? r->copy_max
						   : LAYOUT_COPY_MAX);
		rc = layout_pack(&l, &c, &gr, buf, len);
	}
	cluster_release(&c);
	for (unsigned i = 0; i < l.n; i++)
		wfs_free(l.stripes[i].first_buf);
	wfs_free(l.stripes);
	return rc < 0 ? rc : 0;
}

static int h_layout(void *arg, const void *req, size_t len,
		    struct wfs_rpc_reply *reply)
{
	struct wfs_node *n = ((struct wfs_stripesvc *)arg)->n;
	Wormfs__GetLayoutRequest *r;
	void *buf;
	size_t blen;
	int rc;

	rc = wfs_svc_unpack(&wormfs__get_layout_request__descriptor, req, len,
			    &r);
	if (rc)
		return rc;
	rc = wfs_node_serving(n);
	if (rc == 0)
		rc = layout_serve(n, r, &buf, &blen);
	if (rc == 0)
		wfs_rpc_reply_set(reply, buf, blen);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

/* ---- PlaceChunk: where one chunk of a draining disk goes ---- */

/* What placing one chunk reads from the store. */
struct chunk_place {
	uint64_t sid;
	uint32_t index;
	bool found;		/* the stripe exists */
	bool here;		/* the chunk is where the asker says */
	const char *node, *disk;	/* where the asker says it is */
	struct {
		char node[WFS_META_ID_MAX + 1];
		char disk[WFS_META_ID_MAX + 1];
	} others[WFS_META_CHUNKS_MAX];	/* the stripe's other chunks */
	unsigned nothers;
	char old[WFS_META_CHUNKS_MAX][WFS_META_ID_MAX + 1];
	unsigned nold;		/* nodes keeping a garbage copy of it */
};

static bool bytes_eq_str(struct wfs_meta_bytes b, const char *s)
{
	return b.len == strlen(s) && memcmp(b.data, s, b.len) == 0;
}

static int chunk_stripe_cb(const struct wfs_meta_stripe *st, void *arg)
{
	struct chunk_place *cp = arg;

	cp->found = true;
	for (uint32_t i = 0; i < st->nchunks; i++) {
		const struct wfs_meta_chunk_loc *c = &st->chunks[i];

		if (c->index == cp->index) {
			cp->here = bytes_eq_str(c->node, cp->node) &&
				   bytes_eq_str(c->disk, cp->disk);
		} else if (c->disk.len) {
			copy_str(cp->others[cp->nothers].node, c->node,
				 WFS_META_ID_MAX);
			copy_str(cp->others[cp->nothers++].disk, c->disk,
				 WFS_META_ID_MAX);
		}
	}
	return 0;
}

static int chunk_garbage_cb(const struct wfs_meta_stripe *st, void *arg)
{
	struct chunk_place *cp = arg;

	if (st->stripe_id != cp->sid)
		return 1;
	for (uint32_t i = 0; i < st->nchunks; i++)
		if (st->chunks[i].index == cp->index &&
		    cp->nold < WFS_META_CHUNKS_MAX)
			copy_str(cp->old[cp->nold++], st->chunks[i].node,
				 WFS_META_ID_MAX);
	return 0;
}

/* Read what placing chunk cp->index of cp->sid needs, and the cluster.
 * Returns 0, -ESTALE when the chunk is no longer where the asker says
 * (moved, or its stripe rewritten), or a store error. */
static int chunk_place_read(struct wfs_node *n, struct chunk_place *cp,
			    struct cluster *c)
{
	struct wfs_meta *m = wfs_metafsm_read_begin(n->fsm);
	int rc = m ? wfs_meta_stripe_get(m, cp->sid, chunk_stripe_cb, cp)
		   : -EIO;

	if (rc == -ENOENT || (rc == 0 && !cp->here))
		rc = -ESTALE;
	/* Garbage is listed from a stripe id on: this stripe's, if any,
	 * comes first. */
	if (rc == 0)
		rc = wfs_meta_garbage(m, cp->sid - 1, 1, chunk_garbage_cb, cp);
	if (rc >= 0)
		rc = cluster_read(n, m, true, c);
	wfs_metafsm_read_end(n->fsm);
	return rc < 0 ? rc : 0;
}

static int place_chunk_reply(const struct cluster *c, size_t pick,
			     void **buf, size_t *len)
{
	Wormfs__PlaceChunkReply pr = WORMFS__PLACE_CHUNK_REPLY__INIT;
	const struct disk_ent *d = &c->disks[pick];

	pr.node_id.data = (uint8_t *)d->node;
	pr.node_id.len = strlen(d->node);
	pr.disk_id.data = (uint8_t *)d->id;
	pr.disk_id.len = strlen(d->id);
	pr.node_addr = (char *)node_addr(c, d->node);
	return wfs_svc_pack(&pr.base, buf, len);
}

/* Place chunk @r->index of stripe @r->stripe_id, which is on the asker's
 * disk, elsewhere (wfs_drain_pick); the packed reply into *buf. */
static int place_chunk(struct wfs_node *n,
		       const Wormfs__PlaceChunkRequest *r, void **buf,
		       size_t *len)
{
	struct wfs_drain_holder others[WFS_META_CHUNKS_MAX];
	const char *old[WFS_META_CHUNKS_MAX];
	struct wfs_drain_exclude ex = { 0 };
	char node[WFS_META_ID_MAX + 1], disk[WFS_META_ID_MAX + 1];
	struct chunk_place *cp;
	struct cluster c;
	size_t pick;
	int rc;

	cp = wfs_calloc(1, sizeof(*cp));
	if (!cp)
		return -ENOMEM;
	copy_str(node, (struct wfs_meta_bytes){ r->node_id.data,
						r->node_id.len },
		 WFS_META_ID_MAX);
	copy_str(disk, (struct wfs_meta_bytes){ r->disk_id.data,
						r->disk_id.len },
		 WFS_META_ID_MAX);
	*cp = (struct chunk_place){ .sid = r->stripe_id, .index = r->index,
				    .node = node, .disk = disk };
	rc = chunk_place_read(n, cp, &c);
	if (rc)
		goto out_free;
	for (unsigned i = 0; i < cp->nothers; i++)
		others[i] = (struct wfs_drain_holder){ cp->others[i].node,
						       cp->others[i].disk };
	for (unsigned i = 0; i < cp->nold; i++)
		old[i] = cp->old[i];
	ex = (struct wfs_drain_exclude){ node, others, cp->nothers, old,
					 cp->nold };
	/* Not seeded by the stripe alone: a target that refused the chunk
	 * should not be drawn at every try. */
	rc = wfs_drain_pick(c.cands, c.ndisks, &ex, r->size,
			    r->stripe_id * 64 + r->index + wfs_node_mono_ms(),
			    &pick);
	if (rc == 0)
		rc = place_chunk_reply(&c, pick, buf, len);
	else if (rc == -ENOSPC)
		wfs_log_debug(SUB, "chunk %" PRIx64 "/%u of disk %s: no disk "
			      "can take it", r->stripe_id, r->index, disk);
	cluster_release(&c);
out_free:
	wfs_free(cp);
	return rc;
}

static int h_place_chunk(void *arg, const void *req, size_t len,
			 struct wfs_rpc_reply *reply)
{
	struct wfs_node *n = ((struct wfs_stripesvc *)arg)->n;
	Wormfs__PlaceChunkRequest *r;
	void *buf;
	size_t blen;
	int rc;

	rc = wfs_svc_unpack(&wormfs__place_chunk_request__descriptor, req,
			    len, &r);
	if (rc)
		return rc;
	if (r->stripe_id == 0 || r->index >= WFS_META_CHUNKS_MAX ||
	    r->node_id.len == 0 || r->node_id.len > WFS_META_ID_MAX ||
	    r->disk_id.len == 0 || r->disk_id.len > WFS_META_ID_MAX)
		rc = -EINVAL;
	if (rc == 0)
		rc = wfs_node_serving(n);
	if (rc == 0)
		rc = place_chunk(n, r, &buf, &blen);
	if (rc == 0)
		wfs_rpc_reply_set(reply, buf, blen);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

/* ---- life ---- */

int wfs_stripesvc_new(struct wfs_node *n, struct wfs_stripesvc **out)
{
	struct wfs_stripesvc *s = wfs_calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->n = n;
	pthread_mutex_init(&s->lock, NULL);
	*out = s;
	return 0;
}

int wfs_stripesvc_register(struct wfs_stripesvc *s,
			   struct wfs_rpc_server *srv)
{
	int rc;

	rc = wfs_rpc_server_handle(srv, WFS_SVC_META("PlaceStripe"), h_place,
				   s);
	if (rc == 0)
		rc = wfs_rpc_server_handle(srv, WFS_SVC_META("CommitStripe"),
					   h_commit, s);
	if (rc == 0)
		rc = wfs_rpc_server_handle(srv, WFS_SVC_META("GetLayout"),
					   h_layout, s);
	/* An Admin call, relayed to the master like the others (forward.c);
	 * placement's all the same. */
	if (rc == 0)
		rc = wfs_rpc_server_handle(srv, "/wormfs.Admin/PlaceChunk",
					   h_place_chunk, s);
	return rc;
}

void wfs_stripesvc_drop_ids(struct wfs_stripesvc *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->next = s->end = 0;
	s->epoch++;
	pthread_mutex_unlock(&s->lock);
}

void wfs_stripesvc_free(struct wfs_stripesvc *s)
{
	if (!s)
		return;
	fail_parked(s, -ECANCELED);
	pthread_mutex_destroy(&s->lock);
	wfs_free(s);
}
