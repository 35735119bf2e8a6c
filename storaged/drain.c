/* storaged/drain: draining disks (see drain.h).
 *
 * The safety of a move rests on its order, every step of which may fail
 * or be cut by a crash:
 *   1. read the chunk from the draining disk (the metadata names it);
 *   2. PlaceChunk: the master checks the chunk is still there and picks a
 *      disk for it (wfs_drain_pick);
 *   3. write it there (WRITE_TO over the node transport; the peer checks
 *      its CRC and makes it durable before it answers, and refuses a key
 *      it holds already rather than take over a file that may be
 *      garbage);
 *   4. MoveChunk: the master checks the copy is on the target, then
 *      proposes CHUNK_SET's move form, applied only if the chunk is
 *      still where step 1 read it.  Applied, the new place is the chunk's
 *      and the old one garbage; not applied (a rewrite or another move
 *      won), the copy is garbage.  Either way one log entry accounts for
 *      both copies.
 * Nothing is deleted here: the collector deletes garbage, and only what
 * an applied entry made garbage.  A crash before 4 applies leaves the
 * chunk where it was (the copy, unnamed, is an orphan file on the target:
 * a leak of one chunk, never a loss); after it, the old copy is garbage
 * the collector of this node deletes.  MoveChunk carries a request id
 * kept across its retries (and across passes, while its answer is
 * missing: move_resume), so a lost answer cannot make one move apply
 * twice; the id holds a random number drawn at start, so a restarted
 * mover never reuses a name the metadata remembers.
 */
#include "storaged/drain.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "chunk/format.h"
#include "log/log.h"
#include "mem/mem.h"
#include "placement/place.h"
#include "proto/wormfs.pb-c.h"
#include "storaged/liveness.h"
#include "storaged/node_internal.h"
#include "storaged/service_internal.h"
#include "storaged/transfer.h"

#define SUB "drain"
#define PAGE_STRIPES 16		/* stripes read from the index at once */
#define IDLE_MS 2000		/* no disk draining: look again after */
#define RETRY_MS 3000		/* a pass over a disk moved nothing, or
				 * the master cannot be reached */
#define PROGRESS_MS 10000	/* a progress line at most this often */
#define CAUSE_MS 60000		/* one line per cause of failure */
#define CAUSES 16
#define CALL_MS 15000		/* one call to the master */
#define MOVE_TRIES 3		/* MoveChunk, when its answer is lost */
#define MOVE_PAUSE_MS 1000
#define FAIL_PAUSE_MS 250	/* after a page where every chunk failed:
				 * a pass over chunks that cannot move
				 * asks the master ~60 times a second */

/* ---- one chunk's place (pure) ---- */

static bool in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (list[i] && strcmp(s, list[i]) == 0)
			return true;
	return false;
}

/* Whether @d is out for a chunk moved under @ex; with @spread also the
 * nodes of the stripe's other chunks. */
static bool excluded(const struct wfs_place_disk *d,
		     const struct wfs_drain_exclude *ex, bool spread)
{
	if (!d->node_id || !d->disk_id)
		return true;
	if (ex->node_id && strcmp(d->node_id, ex->node_id) == 0)
		return true;
	if (in_list(d->node_id, ex->old_nodes, ex->nold))
		return true;
	for (size_t i = 0; i < ex->nothers; i++) {
		const struct wfs_drain_holder *h = &ex->others[i];

		if (h->disk_id && strcmp(d->disk_id, h->disk_id) == 0)
			return true;
		if (spread && h->node_id && strcmp(d->node_id, h->node_id) == 0)
			return true;
	}
	return false;
}

int wfs_drain_pick(const struct wfs_place_disk *disks, size_t ndisks,
		   const struct wfs_drain_exclude *ex, uint64_t chunk_bytes,
		   uint64_t seed, size_t *out)
{
	struct wfs_place_disk *c;
	size_t pick = 0;
	int rc = -ENOSPC;

	if ((!disks && ndisks) || !ex || !out)
		return -EINVAL;
	c = wfs_calloc(ndisks ? ndisks : 1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	/* First on a node holding none of the stripe (a node lost then
	 * costs the stripe one chunk at most), then anywhere allowed. */
	for (int spread = 1; spread >= 0 && rc == -ENOSPC; spread--) {
		for (size_t i = 0; i < ndisks; i++) {
			c[i] = disks[i];
			if (excluded(&disks[i], ex, spread))
				c[i].state = WFS_PLACE_DISK_OFFLINE;
		}
		rc = wfs_place_pick(c, ndisks, 1, chunk_bytes, seed, &pick);
	}
	wfs_free(c);
	if (rc == 0)
		*out = pick;
	return rc;
}

/* ---- the master's calls ---- */

static void copy_str(char *dst, struct wfs_meta_bytes b, size_t max)
{
	size_t len = b.len > max ? max : b.len;

	memcpy(dst, b.data, len);
	dst[len] = 0;
}

static struct wfs_meta_bytes str_bytes(const char *s)
{
	return (struct wfs_meta_bytes){ s, strlen(s) };
}

/* A disk as the master sees it. */
struct disk_view {
	const char *want;		/* the id looked for */
	bool found;
	char id[WFS_META_ID_MAX + 1];
	char node[WFS_META_ID_MAX + 1];
	char path[WFS_META_PATH_MAX + 1];
	uint64_t capacity, free;
	struct wfs_meta_disk_count chunks;
	uint32_t state;			/* recorded: online or offline */
	bool draining;			/* recorded */
	uint32_t live;			/* the state with gossip laid over it */
	bool node_up;			/* its node joined and is alive */
	char node_name[WFS_META_NAME_MAX + 1];
};

static int view_cb(const struct wfs_meta_disk *d, void *arg)
{
	struct disk_view *v = arg;

	if (d->id.len != strlen(v->want) ||
	    memcmp(d->id.data, v->want, d->id.len) != 0)
		return 0;
	v->found = true;
	copy_str(v->id, d->id, WFS_META_ID_MAX);
	copy_str(v->node, d->node_id, WFS_META_ID_MAX);
	copy_str(v->path, d->path, WFS_META_PATH_MAX);
	v->capacity = d->capacity;
	v->free = d->free;
	v->state = d->state;
	v->draining = d->draining;
	return 1;
}

/* Disk @id as the store and gossip show it, its chunks counted up to
 * WFS_DRAIN_COUNT_LIMIT.  Returns 0, -ENOENT, or a store error.  Any
 * thread (the raft thread too: no nested reads). */
static int view_read(struct wfs_node *n, const char *id, struct disk_view *v)
{
	struct wfs_node_record rec;
	struct wfs_place_disk pd;
	struct wfs_meta *m;
	int rc;

	memset(v, 0, sizeof(*v));
	v->want = id;
	m = wfs_metafsm_read_begin(n->fsm);
	rc = m ? wfs_meta_disks(m, view_cb, v) : -EIO;
	if (rc >= 0 && v->found)
		rc = wfs_meta_disk_chunks(m, str_bytes(id),
					  WFS_DRAIN_COUNT_LIMIT, &v->chunks);
	wfs_metafsm_read_end(n->fsm);
	if (rc < 0)
		return rc;
	if (!v->found)
		return -ENOENT;
	rc = wfs_node_record_find(n, v->node, &rec);
	if (rc)
		return rc;
	v->node_up = rec.found && rec.addr[0] &&
		     rec.state == WFS_NODE_STATE_ALIVE;
	snprintf(v->node_name, sizeof(v->node_name), "%s",
		 rec.found && rec.name[0] ? rec.name : v->node);
	pd = (struct wfs_place_disk){ v->node, v->id, v->capacity, v->free,
				      v->state };
	wfs_liveness_overlay(n->liveness, &pd, 1);
	v->live = pd.state;
	return 0;
}

/* Whether DiskDrain may set the draining flag of @v to !@undrain, or why
 * it refuses. */
static int drain_allowed(const struct disk_view *v, bool undrain)
{
	if (undrain)
		return v->draining ? 0 : -EALREADY;
	if (v->draining)
		return -EALREADY;
	if (!v->node_up)
		return -EHOSTDOWN;
	/* What cannot be read cannot be moved: repair rebuilds it. */
	if (v->state == WFS_PLACE_DISK_OFFLINE ||
	    v->live == WFS_PLACE_DISK_OFFLINE)
		return -ENODEV;
	return 0;
}

/* "N chunks" with the missing ones and the cap said, into @out. */
static void chunks_text(const struct wfs_meta_disk_count *c, char *out,
			size_t cap)
{
	int len = snprintf(out, cap, "%" PRIu64 "%s chunks", c->ok,
			   c->more ? "+" : "");

	if (c->missing && len > 0 && (size_t)len < cap)
		snprintf(out + len, cap - (size_t)len, " (and %" PRIu64
			 " missing there: they wait for repair)",
			 c->missing);
}

/* Raft thread: DiskDrain's DISK_DRAIN applied (or not).  The counts are
 * capped (WFS_DRAIN_COUNT_LIMIT): this thread applies the log. */
static int reply_drain(struct wfs_svc_pending *p, int rc,
		       const struct wfs_metafsm_result *res, void **buf,
		       size_t *len)
{
	Wormfs__DiskDrainReply dr = WORMFS__DISK_DRAIN_REPLY__INIT;
	char id[WFS_META_ID_MAX + 1], text[128];
	struct disk_view *v;

	(void)res;
	if (rc)
		return rc;
	memcpy(id, p->name, p->name_len);
	id[p->name_len] = 0;
	v = wfs_malloc(sizeof(*v));
	if (!v)
		return -ENOMEM;
	rc = view_read(p->n, id, v);
	if (rc == 0)
		chunks_text(&v->chunks, text, sizeof(text));
	if (rc == 0 && v->draining)
		wfs_log_info(SUB, "disk %s (%s on node %s) set to drain: %s "
			     "to move off it", v->id, v->path, v->node_name,
			     text);
	else if (rc == 0)
		wfs_log_info(SUB, "disk %s (%s on node %s) no longer draining:"
			     " it takes new chunks again (%s still on it)",
			     v->id, v->path, v->node_name, text);
	if (rc == 0) {
		dr.disk_id.data = (uint8_t *)v->id;
		dr.disk_id.len = strlen(v->id);
		dr.node_id.data = (uint8_t *)v->node;
		dr.node_id.len = strlen(v->node);
		dr.path = v->path;
		dr.state = (char *)wfs_place_state_name(v->live);
		dr.draining = v->draining;
		dr.chunks = v->chunks.ok;
		dr.chunks_missing = v->chunks.missing;
		dr.chunks_more = v->chunks.more;
		rc = wfs_svc_pack(&dr.base, buf, len);
	}
	wfs_free(v);
	return rc;
}

/* Propose the DISK_DRAIN that drains or undrains @v; answered later.  It
 * changes the flag alone: the disk's state stays its node's to report. */
static int drain_propose(struct wfs_node *n, const struct disk_view *v,
			 bool undrain, struct wfs_rpc_reply *reply)
{
	struct wfs_svc_pending *p;
	struct wfs_meta_op op;

	p = wfs_svc_pending_new(n, reply_drain);
	if (!p)
		return -ENOMEM;
	p->name_len = strlen(v->id);
	memcpy(p->name, v->id, p->name_len);
	wfs_svc_op_init(&op, WFS_META_OP_DISK_DRAIN, NULL);
	op.u.drain.id = str_bytes(v->id);
	op.u.drain.draining = !undrain;
	return wfs_svc_propose(p, reply, &op);
}

static int h_disk_drain(void *arg, const void *req, size_t len,
			struct wfs_rpc_reply *reply)
{
	struct wfs_node *n = arg;
	Wormfs__DiskDrainRequest *r;
	char id[WFS_META_ID_MAX + 1];
	struct disk_view *v = NULL;
	bool undrain;
	int rc;

	rc = wfs_svc_unpack(&wormfs__disk_drain_request__descriptor, req, len,
			    &r);
	if (rc)
		return rc;
	if (r->disk_id.len == 0 || r->disk_id.len > WFS_META_ID_MAX ||
	    memchr(r->disk_id.data, 0, r->disk_id.len))
		rc = -EINVAL;
	else
		copy_str(id, (struct wfs_meta_bytes){ r->disk_id.data,
						      r->disk_id.len },
			 WFS_META_ID_MAX);
	undrain = r->undrain;
	wfs_rpc_msg_free(&r->base);
	if (rc == 0)
		rc = wfs_node_serving(n);
	if (rc == 0) {
		v = wfs_malloc(sizeof(*v));
		rc = v ? view_read(n, id, v) : -ENOMEM;
	}
	if (rc == 0)
		rc = drain_allowed(v, undrain);
	if (rc == 0)
		rc = drain_propose(n, v, undrain, reply);
	wfs_free(v);
	return rc;
}

/* Raft thread: MoveChunk's CHUNK_SET applied (or not). */
static int reply_move(struct wfs_svc_pending *p, int rc,
		      const struct wfs_metafsm_result *res, void **buf,
		      size_t *len)
{
	Wormfs__MoveChunkReply mr = WORMFS__MOVE_CHUNK_REPLY__INIT;

	(void)p;
	if (rc)
		return rc;
	mr.moved = res->meta.value == 1;
	return wfs_svc_pack(&mr.base, buf, len);
}

static bool id_ok(ProtobufCBinaryData b)
{
	return b.len > 0 && b.len <= WFS_META_ID_MAX;
}

/* What the copy of a chunk of a stripe must look like. */
struct copy_want {
	bool found;			/* the stripe exists */
	uint64_t version;
	uint32_t kind, chunk_size, length;
};

static int want_cb(const struct wfs_meta_stripe *st, void *arg)
{
	struct copy_want *w = arg;

	w->found = true;
	w->version = st->version;
	w->kind = st->kind;
	w->chunk_size = st->chunk_size;
	w->length = st->length;
	return 0;
}

/* Whether a copy of @data_len bytes fits what chunk of @w must hold: an
 * EC chunk is one chunk_size, a replica at least the stripe's length
 * (a truncate shortens the length, not the replicas). */
static bool copy_fits(const struct copy_want *w, uint32_t data_len)
{
	return w->kind == WFS_META_STRIPE_EC ? data_len == w->chunk_size
					     : data_len >= w->length;
}

/* Stat chunk @key on disk @disk_id of node @node: this node's own store
 * when it is the target, else over the node transport.  *data_len is its
 * size.  Returns 0, -ENOENT (not there), -EXDEV (here, on another disk),
 * or the store's or the transfer's error.  Blocks on the network: an API
 * thread, for one MoveChunk at a time per draining node. */
static int copy_stat(struct wfs_node *n, const char *node,
		     const char *disk_id, const struct wfs_chunk_key *key,
		     uint32_t *data_len)
{
	unsigned char pk[WFS_IDENTITY_PK_LEN];
	char peer[WFS_RAFTLOG_ADDR_MAX];
	struct wfs_store_chunk c;
	unsigned disk;
	int rc;

	if (strcmp(node, n->id.node_id) == 0) {
		rc = wfs_store_disk_find(n->store, disk_id, &disk);
		if (rc == 0)
			rc = wfs_store_stat(n->store, key, &c);
		if (rc == 0 && c.disk != disk)
			rc = -EXDEV;
		if (rc == 0)
			*data_len = c.data_len;
		return rc;
	}
	/* The transport's STAT answers by key: the peer holds at most one
	 * online copy of a chunk, the one WRITE_TO put on the disk named. */
	rc = wfs_liveness_peer(n->liveness, node, pk, peer, sizeof(peer));
	if (rc == 0)
		rc = wfs_transfer_stat(n->transfer, peer, pk, key, data_len);
	return rc;
}

/* MoveChunk's check before anything is proposed: the copy the request
 * names is where it says, whole.  A made-up target would otherwise have
 * the metadata name nothing and send the real copy to garbage.  (Apply
 * checks again that the target is a recorded disk of its node, and that
 * no garbage of the chunk waits there.)  A stripe already gone needs no
 * copy: apply sends it to garbage.  Returns 0, -ENOENT (no such copy),
 * -EBADMSG (another size), or a store or transfer error. */
static int move_verify(struct wfs_node *n, const Wormfs__MoveChunkRequest *r)
{
	char node[WFS_META_ID_MAX + 1], disk[WFS_META_ID_MAX + 1];
	struct copy_want w = { 0 };
	struct wfs_chunk_key key;
	struct wfs_meta *m;
	uint32_t data_len = 0;
	int rc;

	m = wfs_metafsm_read_begin(n->fsm);
	rc = m ? wfs_meta_stripe_get(m, r->stripe_id, want_cb, &w) : -EIO;
	wfs_metafsm_read_end(n->fsm);
	if (rc == -ENOENT || (rc == 0 && !w.found))
		return 0;
	if (rc < 0)
		return rc;
	copy_str(node, (struct wfs_meta_bytes){ r->node_id.data,
						r->node_id.len },
		 WFS_META_ID_MAX);
	copy_str(disk, (struct wfs_meta_bytes){ r->disk_id.data,
						r->disk_id.len },
		 WFS_META_ID_MAX);
	key = (struct wfs_chunk_key){ r->stripe_id, w.version, r->index };
	rc = copy_stat(n, node, disk, &key, &data_len);
	if (rc == 0 && !copy_fits(&w, data_len))
		rc = -EBADMSG;
	if (rc)
		wfs_log_warn(SUB, "chunk %" PRIx64 "/%u: move to disk %s of "
			     "node %s refused: no whole copy there: %s",
			     r->stripe_id, r->index, disk, node,
			     strerror(-rc));
	return rc;
}

static int h_move_chunk(void *arg, const void *req, size_t len,
			struct wfs_rpc_reply *reply)
{
	struct wfs_node *n = arg;
	Wormfs__MoveChunkRequest *r;
	struct wfs_svc_pending *p;
	struct wfs_meta_op op;
	int rc;

	rc = wfs_svc_unpack(&wormfs__move_chunk_request__descriptor, req, len,
			    &r);
	if (rc)
		return rc;
	if (!id_ok(r->from_node_id) || !id_ok(r->from_disk_id) ||
	    !id_ok(r->node_id) || !id_ok(r->disk_id) ||
	    r->index >= WFS_META_CHUNKS_MAX)
		rc = -EINVAL;
	if (rc == 0)
		rc = wfs_node_serving(n);
	if (rc == 0)
		rc = move_verify(n, r);
	p = rc == 0 ? wfs_svc_pending_new(n, reply_move) : NULL;
	if (rc == 0 && !p)
		rc = -ENOMEM;
	if (rc == 0) {
		wfs_svc_op_init(&op, WFS_META_OP_CHUNK_SET, NULL);
		op.u.chunk.stripe_id = r->stripe_id;
		op.u.chunk.loc.index = r->index;
		op.u.chunk.loc.state = WFS_META_CHUNK_OK;
		op.u.chunk.loc.node = (struct wfs_meta_bytes){
			r->node_id.data, r->node_id.len };
		op.u.chunk.loc.disk = (struct wfs_meta_bytes){
			r->disk_id.data, r->disk_id.len };
		op.u.chunk.from_node = (struct wfs_meta_bytes){
			r->from_node_id.data, r->from_node_id.len };
		op.u.chunk.from_disk = (struct wfs_meta_bytes){
			r->from_disk_id.data, r->from_disk_id.len };
		rc = wfs_svc_propose(p, reply, &op);
	}
	wfs_rpc_msg_free(&r->base);
	return rc;
}

int wfs_drain_register(struct wfs_node *n, struct wfs_rpc_server *s)
{
	int rc;

	rc = wfs_rpc_server_handle(s, "/wormfs.Admin/DiskDrain", h_disk_drain,
				   n);
	if (rc == 0)
		rc = wfs_rpc_server_handle(s, "/wormfs.Admin/MoveChunk",
					   h_move_chunk, n);
	return rc;
}

/* ---- the mover ---- */

/* One of this node's disks, as the mover follows it. */
struct drain_disk {
	bool active;		/* draining, as last seen */
	bool done;		/* "drained" said */
	uint64_t started_ms, progress_ms;
	uint64_t moved, bytes;	/* since it started draining here */
	uint64_t after;		/* the pass is past this stripe id */
	uint64_t pass_moved;	/* chunks moved in the current pass */
};

/* One chunk to move, copied out of the store. */
struct item {
	uint64_t stripe_id, version;
	uint32_t index;
};

/* A move whose copy was made but whose MoveChunk got no answer (the
 * master was away): the next try of that chunk asks again, with the same
 * request id and target, before it copies the chunk anywhere.  Without
 * it the copy would stay an orphan, and the target, which refuses a key
 * it holds (WRITE_TO), could never take the chunk. */
struct pending_move {
	bool set;
	struct item it;
	char disk[WFS_META_ID_MAX + 1];		/* the draining disk */
	char node[WFS_META_ID_MAX + 1];		/* the copy's */
	char tdisk[WFS_META_ID_MAX + 1];
	char id[WFS_RPC_REQUEST_ID_MAX + 1];
};

/* A cause of failure, and when it may be logged again. */
struct cause {
	char what[64];
	int rc;
	uint64_t next_ms;
	unsigned quiet;		/* times it was not logged since */
};

struct wfs_drain {
	struct wfs_node *n;
	pthread_t thread;
	bool running;			/* owner thread only */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping;			/* lock */

	/* The mover thread only. */
	struct wfs_rpc_client *rpc;	/* this node's API: relays to the
					 * master */
	struct drain_disk *disks;	/* per disk of the store */
	unsigned ndisks;
	bool *draining;			/* recorded draining flag per disk */
	struct item *items;		/* a page */
	size_t nitems;
	const char *page_disk;		/* the disk the page is read for */
	uint64_t page_last;		/* the page's last stripe id */
	uint8_t *buf;			/* a chunk's data */
	size_t cap;
	uint64_t calls;			/* MoveChunk request ids */
	uint64_t nonce;			/* request ids: this run's, random */
	struct pending_move pending;
	struct cause causes[CAUSES];
	unsigned ncauses, cause_next;
};

static bool stopping(struct wfs_drain *d)
{
	bool s;

	pthread_mutex_lock(&d->lock);
	s = d->stopping;
	pthread_mutex_unlock(&d->lock);
	return s;
}

/* Log a chunk (@it; NULL: every chunk of the disk) that cannot be moved
 * now: once per (what, rc) a minute. */
static void cause_log(struct wfs_drain *d, const char *disk,
		      const struct item *it, const char *what, int rc)
{
	uint64_t now = wfs_node_mono_ms();
	struct cause *c = NULL;
	char more[64] = "";

	for (unsigned i = 0; i < d->ncauses && !c; i++)
		if (d->causes[i].rc == rc &&
		    strcmp(d->causes[i].what, what) == 0)
			c = &d->causes[i];
	if (!c) {
		c = &d->causes[d->cause_next++ % CAUSES];
		if (d->ncauses < CAUSES)
			d->ncauses++;
		snprintf(c->what, sizeof(c->what), "%s", what);
		c->rc = rc;
		c->next_ms = 0;
		c->quiet = 0;
	}
	if (now < c->next_ms) {
		c->quiet++;
		return;
	}
	if (c->quiet)
		snprintf(more, sizeof(more), " (%u more since the last such "
			 "line)", c->quiet);
	if (it)
		wfs_log_warn(SUB, "disk %s: chunk %" PRIx64 "/%u cannot be "
			     "moved yet: %s: %s; it stays and is tried "
			     "again%s", disk, it->stripe_id, it->index, what,
			     strerror(-rc), more);
	else
		wfs_log_warn(SUB, "disk %s: its chunks cannot be moved yet: "
			     "%s: %s; tried again%s", disk, what,
			     strerror(-rc), more);
	c->next_ms = now + CAUSE_MS;
	c->quiet = 0;
}

/* ---- the mover: calls to the master ---- */

static int call_master(struct wfs_drain *d, const char *method,
		       const ProtobufCMessage *req,
		       const ProtobufCMessageDescriptor *desc,
		       const char *request_id, ProtobufCMessage **resp)
{
	struct wfs_rpc_call_opts o = { .request_id = request_id };

	if (!d->rpc) {
		int rc = wfs_rpc_client_new(d->n->api_addr, &d->rpc);

		if (rc)
			return rc;
	}
	return wfs_rpc_call_msg_opts(d->rpc, method, req, desc, CALL_MS, &o,
				     resp);
}

/* Ask the master where chunk @it of disk @disk (here) goes: the node
 * and disk ids into @node and @tdisk.  Returns 0, -ESTALE (no longer
 * here, for the master), -ENOSPC (nowhere), or the call's error. */
static int place_chunk(struct wfs_drain *d, const char *disk,
		       const struct item *it, uint64_t size,
		       char node[WFS_META_ID_MAX + 1],
		       char tdisk[WFS_META_ID_MAX + 1])
{
	Wormfs__PlaceChunkRequest req = WORMFS__PLACE_CHUNK_REQUEST__INIT;
	Wormfs__PlaceChunkReply *rep = NULL;
	int rc;

	req.stripe_id = it->stripe_id;
	req.index = it->index;
	req.node_id.data = (uint8_t *)d->n->id.node_id;
	req.node_id.len = strlen(d->n->id.node_id);
	req.disk_id.data = (uint8_t *)disk;
	req.disk_id.len = strlen(disk);
	req.size = size;
	rc = call_master(d, "/wormfs.Admin/PlaceChunk", &req.base,
			 &wormfs__place_chunk_reply__descriptor, NULL,
			 (ProtobufCMessage **)&rep);
	if (rc)
		return rc;
	if (!id_ok(rep->node_id) || rep->disk_id.len == 0 ||
	    rep->disk_id.len > WFS_DISK_ID_LEN) {
		rc = -EPROTO;
	} else {
		copy_str(node, (struct wfs_meta_bytes){ rep->node_id.data,
							rep->node_id.len },
			 WFS_META_ID_MAX);
		copy_str(tdisk, (struct wfs_meta_bytes){ rep->disk_id.data,
							 rep->disk_id.len },
			 WFS_META_ID_MAX);
	}
	wfs_rpc_msg_free(&rep->base);
	return rc;
}

/* Whether a failed call may be sent again as it was. */
static bool transient(int rc)
{
	return rc == -ENOTCONN || rc == -ETIMEDOUT || rc == -EHOSTUNREACH ||
	       rc == -EAGAIN || rc == -ECONNABORTED || rc == -ECANCELED;
}

static void pause_ms(struct wfs_drain *d, unsigned ms)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&d->lock);
	if (!d->stopping)
		pthread_cond_timedwait(&d->cond, &d->lock, &until);
	pthread_mutex_unlock(&d->lock);
}

/* Record the move of @it from @disk here to @node/@tdisk, named @id.
 * Returns 1 moved, 0 the copy lost a race (it is garbage now), or an
 * error: then it is unknown whether the entry applied. */
static int move_chunk(struct wfs_drain *d, const char *disk,
		      const struct item *it, const char *node,
		      const char *tdisk, const char *id)
{
	Wormfs__MoveChunkRequest req = WORMFS__MOVE_CHUNK_REQUEST__INIT;
	Wormfs__MoveChunkReply *rep = NULL;
	int rc = -EIO;

	req.stripe_id = it->stripe_id;
	req.index = it->index;
	req.from_node_id.data = (uint8_t *)d->n->id.node_id;
	req.from_node_id.len = strlen(d->n->id.node_id);
	req.from_disk_id.data = (uint8_t *)disk;
	req.from_disk_id.len = strlen(disk);
	req.node_id.data = (uint8_t *)node;
	req.node_id.len = strlen(node);
	req.disk_id.data = (uint8_t *)tdisk;
	req.disk_id.len = strlen(tdisk);
	/* One name for every try of this move: it applies once. */
	for (int tries = 0; tries < MOVE_TRIES; tries++) {
		if (tries)
			pause_ms(d, MOVE_PAUSE_MS);
		rc = call_master(d, "/wormfs.Admin/MoveChunk", &req.base,
				 &wormfs__move_chunk_reply__descriptor, id,
				 (ProtobufCMessage **)&rep);
		if (rc == 0 || !transient(rc) || stopping(d))
			break;
	}
	if (rc)
		return rc;
	rc = rep->moved ? 1 : 0;
	wfs_rpc_msg_free(&rep->base);
	return rc;
}

/* ---- the mover: one chunk ---- */

/* Read local chunk @it from store disk @disk into d->buf and *hdr. */
static int read_chunk(struct wfs_drain *d, unsigned disk,
		      const struct item *it, struct wfs_chunk_header *hdr)
{
	struct wfs_chunk_key key = { it->stripe_id, it->version, it->index };
	struct wfs_store_chunk c;
	int rc = wfs_store_stat(d->n->store, &key, &c);

	if (rc == 0 && c.disk != disk)
		rc = -EXDEV;	/* the store has it on another disk */
	for (int tries = 0; rc == 0 && tries < 2; tries++) {
		size_t want = c.data_len ? c.data_len : 1;

		if (want > WFS_TRANSFER_DATA_MAX)
			return -EFBIG;
		if (want > d->cap) {
			uint8_t *grown = wfs_realloc(d->buf, want);

			if (!grown)
				return -ENOMEM;
			d->buf = grown;
			d->cap = want;
		}
		rc = wfs_store_read(d->n->store, &key, hdr, d->buf, d->cap);
		if (rc != -EOVERFLOW)
			return rc;
		/* Replaced between stat and read: once more, its size. */
		c.data_len = hdr->data_len;
		rc = 0;
	}
	return rc;
}

/* The outcome @rc of recording the move of @it to @node/@tdisk: logged;
 * an answer that never came leaves the move pending (d->pending), to be
 * asked again before the chunk is copied anywhere else.  Returns as
 * move_one. */
static int move_done(struct wfs_drain *d, const char *disk,
		     const struct item *it, const char *node,
		     const char *tdisk, const char *id, int rc)
{
	struct pending_move *pm = &d->pending;

	pm->set = transient(rc);
	if (pm->set) {
		pm->it = *it;
		snprintf(pm->disk, sizeof(pm->disk), "%s", disk);
		snprintf(pm->node, sizeof(pm->node), "%s", node);
		snprintf(pm->tdisk, sizeof(pm->tdisk), "%s", tdisk);
		snprintf(pm->id, sizeof(pm->id), "%s", id);
	}
	if (rc < 0) {
		cause_log(d, disk, it, "the move could not be recorded", rc);
		return transient(rc) ? -EHOSTUNREACH : rc;
	}
	if (rc == 1)
		wfs_log_debug(SUB, "chunk %" PRIx64 "/%u moved from disk %s to "
			      "disk %s of node %s", it->stripe_id, it->index,
			      disk, tdisk, node);
	else
		wfs_log_debug(SUB, "chunk %" PRIx64 "/%u: moved or rewritten "
			      "while it was copied; the copy on disk %s is "
			      "garbage", it->stripe_id, it->index, tdisk);
	return rc;
}

/* If @it's last move is pending (its copy made, no answer to its
 * MoveChunk), ask again, as it was: the same id, so it applies at most
 * once; the master checks the copy is still there.  Returns as move_one,
 * or -EAGAIN when there is no such move (any more): copy it afresh. */
static int move_resume(struct wfs_drain *d, const char *disk,
		       const struct item *it)
{
	struct pending_move pm = d->pending;
	int rc;

	if (!pm.set || strcmp(pm.disk, disk) != 0 ||
	    pm.it.stripe_id != it->stripe_id || pm.it.index != it->index ||
	    pm.it.version != it->version)
		return -EAGAIN;
	rc = move_chunk(d, disk, it, pm.node, pm.tdisk, pm.id);
	if (rc < 0 && !transient(rc)) {
		/* Refused (the copy is gone, say): start over. */
		d->pending.set = false;
		wfs_log_debug(SUB, "chunk %" PRIx64 "/%u: its pending move to "
			      "disk %s refused: %s; copied afresh",
			      it->stripe_id, it->index, pm.tdisk,
			      strerror(-rc));
		return -EAGAIN;
	}
	return move_done(d, disk, it, pm.node, pm.tdisk, pm.id, rc);
}

/* Move chunk @it off disk @disk (store index @di).  Returns 1 moved, 0
 * nothing to do or the copy lost a race, or a negative errno (logged
 * here: the chunk stays): -EHOSTUNREACH when the master could not be
 * reached, which is worth a pause rather than trying the next chunk.
 *
 * The target refuses a chunk it holds already (WRITE_TO never replaces:
 * the file there may be garbage its collector is about to delete).  That
 * does not get in the way of a retry: a move whose MoveChunk answer was
 * lost is asked again as it was (move_resume), never copied again; if it
 * had applied, the chunk is recorded at the target and the retry gets
 * value 1 (the stored answer, or the move found applied); if the node
 * restarted in between, the master's PlaceChunk says the chunk is no
 * longer here (-ESTALE) once it moved.  What is left is a copy whose
 * move never applied and whose mover restarted: an orphan on its target,
 * which refuses a second copy; the next try that draws that target finds
 * the orphan whole and records the move with it. */
static int move_one(struct wfs_drain *d, unsigned di, const char *disk,
		    const struct item *it, uint64_t *bytes)
{
	char node[WFS_META_ID_MAX + 1], tdisk[WFS_META_ID_MAX + 1];
	char id[WFS_RPC_REQUEST_ID_MAX + 1];
	unsigned char pk[WFS_IDENTITY_PK_LEN];
	char peer[WFS_RAFTLOG_ADDR_MAX];
	struct wfs_chunk_header hdr;
	int rc;

	rc = move_resume(d, disk, it);
	if (rc != -EAGAIN)
		return rc;
	rc = read_chunk(d, di, it, &hdr);
	if (rc) {
		cause_log(d, disk, it, rc == -ENOENT || rc == -EXDEV
				       ? "not on this disk (repair rebuilds "
					 "it)"
				       : "cannot read it here", rc);
		return rc;
	}
	rc = place_chunk(d, disk, it, (uint64_t)hdr.data_len +
					      WFS_CHUNK_HEADER_SIZE,
			 node, tdisk);
	if (rc == -ESTALE)
		return 0;	/* moved or rewritten meanwhile */
	if (rc) {
		cause_log(d, disk, it, rc == -ENOSPC ? "no disk can take it"
						     : "no place from the master",
			  rc);
		return transient(rc) ? -EHOSTUNREACH : rc;
	}
	rc = wfs_liveness_peer(d->n->liveness, node, pk, peer, sizeof(peer));
	if (rc) {
		cause_log(d, disk, it, "its target is not reachable (gossip)",
			  rc);
		return rc;
	}
	rc = wfs_transfer_write_to(d->n->transfer, peer, pk, tdisk, &hdr,
				   d->buf);
	if (rc == -EALREADY) {
		/* That very disk holds the chunk: most likely the copy of an
		 * earlier try whose move never applied (this node restarted
		 * in between).  A key names one stripe version's chunk,
		 * written whole or not at all, so a copy of the same length
		 * holds these bytes: record the move.  The master checks the
		 * copy again, and refuses the move if that place is garbage
		 * waiting to be deleted (the collector then frees it for
		 * the next try).  A peer that predates -EALREADY says
		 * -EEXIST, and the chunk waits, as before. */
		struct wfs_chunk_key key = wfs_chunk_header_key(&hdr);
		uint32_t len;

		if (wfs_transfer_stat(d->n->transfer, peer, pk, &key,
				      &len) == 0 &&
		    len == hdr.data_len)
			rc = 0;
	}
	if (rc) {
		cause_log(d, disk, it, rc == -EEXIST || rc == -EALREADY
				       ? "its target holds a file of it already"
				       : "the target did not take it", rc);
		return rc;
	}
	snprintf(id, sizeof(id), "drain-%.16s-%016" PRIx64 "-%" PRIu64,
		 d->n->id.node_id, d->nonce, ++d->calls);
	rc = move_chunk(d, disk, it, node, tdisk, id);
	rc = move_done(d, disk, it, node, tdisk, id, rc);
	if (rc == 1)
		*bytes += hdr.data_len;
	return rc;
}

/* ---- the mover: a disk ---- */

static int page_cb(const struct wfs_meta_stripe *s, void *arg)
{
	struct wfs_drain *d = arg;
	size_t want = strlen(d->page_disk);

	d->page_last = s->stripe_id;
	for (uint32_t i = 0; i < s->nchunks; i++) {
		const struct wfs_meta_chunk_loc *c = &s->chunks[i];
		struct item *it;

		/* A chunk marked missing has nothing to read here (a write
		 * that failed records the disk it was meant for): repair
		 * rebuilds it, elsewhere since the disk drains. */
		if (c->disk.len != want || c->state != WFS_META_CHUNK_OK ||
		    memcmp(c->disk.data, d->page_disk, want) != 0)
			continue;
		if (d->nitems == (size_t)PAGE_STRIPES * WFS_META_CHUNKS_MAX)
			return 1;
		it = &d->items[d->nitems++];
		it->stripe_id = s->stripe_id;
		it->version = s->version;
		it->index = c->index;
	}
	return 0;
}

/* The chunks of the stripes after @after with a chunk on @disk. */
static int read_page(struct wfs_drain *d, const char *disk, uint64_t after)
{
	struct wfs_meta *m = wfs_metafsm_read_begin(d->n->fsm);
	int rc;

	d->nitems = 0;
	d->page_disk = disk;
	d->page_last = after;
	rc = m ? wfs_meta_disk_stripes(m, str_bytes(disk), after,
				       PAGE_STRIPES, page_cb, d)
	       : -EIO;
	wfs_metafsm_read_end(d->n->fsm);
	return rc;
}

/* The chunks the metadata records on @disk, counted up to
 * WFS_DRAIN_COUNT_LIMIT: .ok is what is left to move (a store error
 * counts as some left, so a drain never ends on one). */
static struct wfs_meta_disk_count chunks_left(struct wfs_drain *d,
					      const char *disk)
{
	struct wfs_meta *m = wfs_metafsm_read_begin(d->n->fsm);
	struct wfs_meta_disk_count c = { .ok = 1 };

	if (!m || wfs_meta_disk_chunks(m, str_bytes(disk),
				       WFS_DRAIN_COUNT_LIMIT, &c) != 0)
		c = (struct wfs_meta_disk_count){ .ok = 1 };
	wfs_metafsm_read_end(d->n->fsm);
	return c;
}

static void progress_log(struct wfs_drain *d, struct drain_disk *dd,
			 const char *disk, uint64_t now)
{
	uint64_t secs = (now - dd->started_ms) / 1000;
	struct wfs_meta_disk_count c;
	char text[128];

	if (now - dd->progress_ms < PROGRESS_MS)
		return;
	dd->progress_ms = now;
	c = chunks_left(d, disk);
	chunks_text(&c, text, sizeof(text));
	wfs_log_info(SUB, "disk %s draining: %" PRIu64 " chunks moved (%"
		     PRIu64 " MiB) in %" PRIu64 " s, %s left", disk,
		     dd->moved, dd->bytes >> 20, secs, text);
}

/* The end of a pass over @disk: drained, or another pass.  Returns
 * whether the pass moved anything. */
static bool pass_end(struct wfs_drain *d, struct drain_disk *dd,
		     const char *disk)
{
	bool moved = dd->pass_moved > 0;

	struct wfs_meta_disk_count c;

	dd->after = 0;
	dd->pass_moved = 0;
	if (dd->done)
		return moved;
	c = chunks_left(d, disk);
	if (c.ok)
		return moved;
	dd->done = true;
	if (c.missing)
		wfs_log_warn(SUB, "disk %s drained: %" PRIu64 " chunks moved "
			     "in %" PRIu64 " s; %" PRIu64 "%s chunks recorded "
			     "on it are missing and wait for repair", disk,
			     dd->moved,
			     (wfs_node_mono_ms() - dd->started_ms) / 1000,
			     c.missing, c.more ? "+" : "");
	else
		wfs_log_info(SUB, "disk %s drained: %" PRIu64 " chunks moved "
			     "in %" PRIu64 " s", disk, dd->moved,
			     (wfs_node_mono_ms() - dd->started_ms) / 1000);
	return moved;
}

/* One page of draining disk @di.  Returns whether it moved a chunk. */
static bool drain_page(struct wfs_drain *d, unsigned di, const char *disk)
{
	struct drain_disk *dd = &d->disks[di];
	uint64_t moved = 0, failed = 0;
	int rc;

	rc = read_page(d, disk, dd->after);
	if (rc < 0) {
		wfs_log_warn(SUB, "disk %s: cannot list its chunks: %s", disk,
			     strerror(-rc));
		return false;
	}
	if (rc == 0)
		return pass_end(d, dd, disk);
	dd->after = d->page_last;
	for (size_t i = 0; i < d->nitems && !stopping(d); i++) {
		int r = move_one(d, di, disk, &d->items[i], &dd->bytes);

		moved += r == 1;
		failed += r < 0;
		if (r != -EHOSTUNREACH)
			continue;
		/* No master now (an election, a restart): resume from
		 * this chunk's stripe after a pause. */
		dd->after = d->items[i].stripe_id - 1;
		dd->moved += moved;
		dd->pass_moved += moved;
		return false;
	}
	dd->moved += moved;
	dd->pass_moved += moved;
	if (moved)
		dd->done = false;
	else if (failed)
		pause_ms(d, FAIL_PAUSE_MS);
	progress_log(d, dd, disk, wfs_node_mono_ms());
	return true;	/* a page was read: the pass goes on */
}

/* ---- the mover: this node's disks ---- */

struct states {
	struct wfs_drain *d;
	const char *self;
};

static int state_cb(const struct wfs_meta_disk *md, void *arg)
{
	struct states *s = arg;
	char id[WFS_META_ID_MAX + 1];
	unsigned di;

	if (md->node_id.len != strlen(s->self) ||
	    memcmp(md->node_id.data, s->self, md->node_id.len) != 0)
		return 0;
	copy_str(id, md->id, WFS_META_ID_MAX);
	if (wfs_store_disk_find(s->d->n->store, id, &di) == 0 &&
	    di < s->d->ndisks)
		s->d->draining[di] = md->draining;
	return 0;
}

/* This node's disks' recorded draining flags into d->draining. */
static int read_states(struct wfs_drain *d)
{
	struct states s = { d, d->n->id.node_id };
	struct wfs_meta *m;
	int rc;

	for (unsigned i = 0; i < d->ndisks; i++)
		d->draining[i] = false;
	m = wfs_metafsm_read_begin(d->n->fsm);
	rc = m ? wfs_meta_disks(m, state_cb, &s) : -EIO;
	wfs_metafsm_read_end(d->n->fsm);
	return rc < 0 ? rc : 0;
}

/* Follow disk @di's state: log a drain starting or ending here. */
static void follow(struct wfs_drain *d, unsigned di, const char *disk,
		   const char *path, bool draining)
{
	struct drain_disk *dd = &d->disks[di];

	if (draining && !dd->active) {
		struct wfs_meta_disk_count c = chunks_left(d, disk);
		char text[128];

		memset(dd, 0, sizeof(*dd));
		dd->active = true;
		dd->started_ms = dd->progress_ms = wfs_node_mono_ms();
		chunks_text(&c, text, sizeof(text));
		wfs_log_info(SUB, "disk %s (%s) draining: %s to move off it",
			     disk, path, text);
	} else if (!draining && dd->active) {
		if (!dd->done)
			wfs_log_info(SUB, "disk %s (%s) no longer draining: %"
				     PRIu64 " chunks were moved off it", disk,
				     path, dd->moved);
		memset(dd, 0, sizeof(*dd));
	}
}

/* Drain disk @di a page further if it is draining.  Returns 1 if a page
 * was worked through, 0 if it drains but nothing could be done now, -1
 * if it does not drain. */
static int drain_disk(struct wfs_drain *d, unsigned di)
{
	struct drain_disk *dd = &d->disks[di];
	struct wfs_store_disk_info info;
	bool draining = d->draining[di];

	if (wfs_store_disk_info(d->n->store, di, &info) != 0 || !info.id[0])
		return -1;
	follow(d, di, info.id, info.path, draining);
	if (!draining)
		return -1;
	/* Drained: a chunk may still come (a stripe committed with the
	 * old placement as the drain began); look now and then. */
	if (dd->done && chunks_left(d, info.id).ok == 0)
		return 0;
	dd->done = false;
	if (!info.online) {
		cause_log(d, info.id, NULL, "the disk is offline here",
			  info.error ? info.error : -EIO);
		return 0;
	}
	return drain_page(d, di, info.id) ? 1 : 0;
}

/* One round over this node's disks: the best of drain_disk's answers. */
static int round_disks(struct wfs_drain *d)
{
	int result = -1;

	if (read_states(d) != 0)
		return -1;
	for (unsigned i = 0; i < d->ndisks && !stopping(d); i++) {
		int r = drain_disk(d, i);

		if (r > result)
			result = r;
	}
	return result;
}

static void *mover_main(void *arg)
{
	struct wfs_drain *d = arg;

	pthread_setname_np(pthread_self(), "wfs-drain");
	while (!stopping(d)) {
		int r = round_disks(d);

		if (r == 1)
			continue;
		pause_ms(d, r == 0 ? RETRY_MS : IDLE_MS);
	}
	return NULL;
}

/* A random number for this run's MoveChunk request ids: a restarted
 * mover's ids never match names the metadata remembers from its last run
 * (a move would get another move's stored answer and apply nothing). */
static int nonce_new(uint64_t *nonce)
{
	if (getrandom(nonce, sizeof(*nonce), 0) == (ssize_t)sizeof(*nonce))
		return 0;
	return errno ? -errno : -EIO;
}

int wfs_drain_start(struct wfs_node *n, struct wfs_drain **out)
{
	struct wfs_drain *d = wfs_calloc(1, sizeof(*d));
	pthread_condattr_t ca;
	int rc = -ENOMEM;

	*out = NULL;
	if (!d)
		return -ENOMEM;
	d->n = n;
	d->ndisks = wfs_store_disk_count(n->store);
	pthread_mutex_init(&d->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cond, &ca);
	pthread_condattr_destroy(&ca);
	d->disks = wfs_calloc(d->ndisks + 1, sizeof(*d->disks));
	d->draining = wfs_calloc(d->ndisks + 1, sizeof(*d->draining));
	d->items = wfs_calloc((size_t)PAGE_STRIPES * WFS_META_CHUNKS_MAX,
			      sizeof(*d->items));
	if (d->disks && d->draining && d->items)
		rc = nonce_new(&d->nonce);
	if (rc == 0)
		rc = -pthread_create(&d->thread, NULL, mover_main, d);
	if (rc) {
		wfs_drain_stop(d);
		return rc;
	}
	d->running = true;
	*out = d;
	return 0;
}

void wfs_drain_signal_stop(struct wfs_drain *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->stopping = true;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

void wfs_drain_stop(struct wfs_drain *d)
{
	if (!d)
		return;
	wfs_drain_signal_stop(d);
	if (d->running)
		pthread_join(d->thread, NULL);
	wfs_rpc_client_free(d->rpc);
	wfs_free(d->buf);
	wfs_free(d->items);
	wfs_free(d->draining);
	wfs_free(d->disks);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	wfs_free(d);
}
