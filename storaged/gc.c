/* storaged/gc: deleting garbage chunks (see gc.h).
 *
 * One pass: read a page of the garbage list (a few stripes), copying what
 * it says (the store's iteration callback must not do I/O), delete each
 * chunk of this node, collect the entries that are settled into a GC_DONE
 * batch, propose it when full, and go on after the page's last stripe.  A
 * GC_DONE is proposed and waited for on this thread, never on the raft
 * thread.
 *
 * A garbage entry names one copy: (stripe, index, node, disk).  A chunk
 * moved about has one such copy per place it left, on several nodes, so
 * the collector deletes the copy on the disk the entry names and no other
 * (never by key alone: the store would pick an online copy first, which
 * may be the live one on another disk), keeps the entry while that disk
 * is offline, and settles exactly that entry (GC_DONE entries carry the
 * place, op format 7): another node's copies of the same chunk stay
 * listed until their own collectors settle them.
 *
 * On a node that is not the master the list is its own copy of the
 * metadata, and the batch goes to the master as Admin.GcDone (relayed by
 * this node's API, storaged/forward).  Its request id carries a random
 * number drawn at start, so ids a restarted collector makes never match
 * names the metadata remembers from its previous run (the report would
 * get the old answer and apply nothing).  Its answer names an index the
 * master had applied by then; the next pass waits until this node's copy
 * is that far, so it never acts on entries it already settled (a copy
 * that lags could otherwise still list a chunk dropped from garbage and
 * since moved back to the same disk, live).
 */
#include "storaged/gc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "log/log.h"
#include "mem/mem.h"
#include "proto/wormfs.pb-c.h"
#include "storaged/disk.h"
#include "storaged/node_internal.h"
#include "storaged/service_internal.h"

#define SUB "gc"
#define PAGE_STRIPES 16
#define LIST_BATCH 32
#define REPORT_MS 15000		/* one Admin.GcDone call */

/* One garbage chunk, copied out of the store. */
struct item {
	uint64_t stripe_id;
	uint32_t index;
	char node[WFS_META_ID_MAX + 1];
	char disk[WFS_META_ID_MAX + 1];
};

struct page {
	struct item *items;
	size_t n, cap;
	uint64_t last;		/* last stripe id seen */
	int err;		/* -ENOMEM while copying */
};

struct wfs_gc {
	struct wfs_node *n;
	unsigned interval_ms;
	pthread_t thread;
	bool running;		/* owner thread only */
	bool told_stale;	/* collector thread only: logged -ESTALE */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping;		/* protected by lock */
	unsigned long want;	/* passes asked for by wfs_gc_run; lock */
	unsigned long done;	/* passes finished; lock */
	long last_result;	/* of the last pass; lock */
	struct page page;	/* collector thread only */
	struct wfs_meta_gc_entry *batch;	/* collector thread only */
	struct item *batch_items;	/* what the batch's strings point at */
	uint32_t nbatch;
	/* Not the master: the API client reports go through, and the index
	 * this node's copy must reach before the next pass (at start: what
	 * the raft log held).  Collector thread only. */
	struct wfs_rpc_client *rpc;
	uint64_t wait_index;
	uint64_t reports;		/* request ids */
	uint64_t nonce;			/* request ids: this run's, random */
};

static bool stopping(struct wfs_gc *gc)
{
	bool s;

	pthread_mutex_lock(&gc->lock);
	s = gc->stopping;
	pthread_mutex_unlock(&gc->lock);
	return s;
}

static void copy_id(char *dst, struct wfs_meta_bytes b)
{
	size_t len = b.len > WFS_META_ID_MAX ? WFS_META_ID_MAX : b.len;

	memcpy(dst, b.data, len);
	dst[len] = 0;
}

static int page_cb(const struct wfs_meta_stripe *s, void *arg)
{
	struct page *p = arg;

	if (p->n + s->nchunks > p->cap) {
		size_t cap = p->cap * 2 + s->nchunks;
		struct item *grown;

		grown = wfs_realloc(p->items, cap * sizeof(*grown));
		if (!grown) {
			p->err = -ENOMEM;
			return -ENOMEM;
		}
		p->items = grown;
		p->cap = cap;
	}
	for (uint32_t i = 0; i < s->nchunks; i++) {
		struct item *it = &p->items[p->n++];

		it->stripe_id = s->stripe_id;
		it->index = s->chunks[i].index;
		copy_id(it->node, s->chunks[i].node);
		copy_id(it->disk, s->chunks[i].disk);
	}
	p->last = s->stripe_id;
	return 0;
}

/* Delete chunk @it from disk @disk if it is there, from that disk only.
 * Returns 1 if one was deleted, 0 if it was not there, or a negative
 * errno (-EIO: the disk is offline, nothing deleted). */
static int delete_on_disk(struct wfs_store *st, unsigned disk,
			  const struct item *it)
{
	struct wfs_store_cursor cur = {
		.disk = disk, .folder = wfs_disk_folder(it->stripe_id),
		.has_after = 1, .after = { it->stripe_id, 0, 0 },
	};
	struct wfs_store_chunk found[LIST_BATCH];
	int deleted = 0;

	for (;;) {
		size_t n;
		int rc = wfs_store_list(st, (int)disk, &cur, found, LIST_BATCH,
					&n);

		if (rc)
			return rc;
		for (size_t i = 0; i < n; i++) {
			if (found[i].key.stripe_id != it->stripe_id)
				return deleted;
			if (found[i].key.index != it->index)
				continue;
			rc = wfs_store_delete_on(st, disk, &found[i].key);
			if (rc && rc != -ENOENT)
				return rc;
			deleted = 1;
		}
		if (n < LIST_BATCH)
			return deleted;
	}
}

/* Settle one garbage chunk.  Returns 1 if deleted, 0 if settled without
 * a deletion, -EAGAIN to keep it listed (another node's, or its disk
 * cannot be reached now). */
static int settle(struct wfs_gc *gc, const struct item *it)
{
	struct wfs_store_disk_info info;
	struct wfs_node *n = gc->n;
	unsigned disk;
	int rc;

	if (!it->node[0] || !it->disk[0])
		return 0;	/* a chunk that was never written */
	if (strcmp(it->node, n->id.node_id) != 0)
		return -EAGAIN;
	if (wfs_store_disk_find(n->store, it->disk, &disk) != 0) {
		wfs_log_debug(SUB, "chunk %" PRIx64 "/%u: disk %s is not "
			      "attached here: nothing to delete",
			      it->stripe_id, it->index, it->disk);
		return 0;
	}
	/* Offline: it lists what it held, or nothing if it never came up;
	 * either way the copy may be there when it returns. */
	if (wfs_store_disk_info(n->store, disk, &info) != 0 || !info.online) {
		wfs_log_debug(SUB, "chunk %" PRIx64 "/%u: disk %s is offline: "
			      "kept for a later pass", it->stripe_id,
			      it->index, it->disk);
		return -EAGAIN;
	}
	rc = delete_on_disk(n->store, disk, it);
	if (rc < 0) {
		wfs_log_debug(SUB, "chunk %" PRIx64 "/%u on disk %s: delete "
			      "failed: %s; kept for a later pass",
			      it->stripe_id, it->index, it->disk,
			      strerror(-rc));
		return -EAGAIN;
	}
	return rc;
}

/* Not the master: the batch to the master as Admin.GcDone. */
static int report(struct wfs_gc *gc)
{
	Wormfs__GcDoneRequest req = WORMFS__GC_DONE_REQUEST__INIT;
	Wormfs__GcDoneReply *rep = NULL;
	Wormfs__GcEntry *entries, **ptrs;
	char id[WFS_RPC_REQUEST_ID_MAX + 1];
	struct wfs_rpc_call_opts o = { .request_id = id };
	int rc = 0;

	if (!gc->rpc)
		rc = wfs_rpc_client_new(gc->n->api_addr, &gc->rpc);
	entries = wfs_calloc(gc->nbatch, sizeof(*entries));
	ptrs = wfs_calloc(gc->nbatch, sizeof(*ptrs));
	if (rc == 0 && (!entries || !ptrs))
		rc = -ENOMEM;
	for (uint32_t i = 0; rc == 0 && i < gc->nbatch; i++) {
		const struct wfs_meta_gc_entry *e = &gc->batch[i];

		wormfs__gc_entry__init(&entries[i]);
		entries[i].stripe_id = e->stripe_id;
		entries[i].index = e->index;
		entries[i].node_id.data = (uint8_t *)e->node.data;
		entries[i].node_id.len = e->node.len;
		entries[i].disk_id.data = (uint8_t *)e->disk.data;
		entries[i].disk_id.len = e->disk.len;
		ptrs[i] = &entries[i];
	}
	snprintf(id, sizeof(id), "gc-%.16s-%016" PRIx64 "-%" PRIu64,
		 gc->n->id.node_id, gc->nonce, ++gc->reports);
	req.entries = ptrs;
	req.n_entries = gc->nbatch;
	if (rc == 0)
		rc = wfs_rpc_call_msg_opts(gc->rpc, "/wormfs.Admin/GcDone",
					   &req.base,
					   &wormfs__gc_done_reply__descriptor,
					   REPORT_MS, &o,
					   (ProtobufCMessage **)&rep);
	if (rc == 0) {
		if (rep->applied_index > gc->wait_index)
			gc->wait_index = rep->applied_index;
		wfs_rpc_msg_free(&rep->base);
	}
	wfs_free(ptrs);
	wfs_free(entries);
	/* No master now (an election): the chunks are deleted, the entries
	 * stay listed, and the next pass reports them again. */
	if (rc == -EHOSTUNREACH || rc == -ENOTCONN || rc == -ETIMEDOUT ||
	    rc == -EAGAIN)
		return -EAGAIN;
	return rc;
}

static int flush(struct wfs_gc *gc, bool leading)
{
	struct wfs_meta_op op = { .type = WFS_META_OP_GC_DONE };
	int rc;

	if (gc->nbatch == 0)
		return 0;
	op.time_ns = wfs_node_now_ns();
	op.u.gc.nentries = gc->nbatch;
	op.u.gc.entries = gc->batch;
	rc = leading ? wfs_node_propose_wait(gc->n, &op, NULL) : report(gc);
	gc->nbatch = 0;
	return rc;
}

/* Add settled garbage entry @it to the batch: that copy, at its place
 * (the batch keeps its own copy of the strings: the page is read over
 * before the batch is flushed). */
static void batch_add(struct wfs_gc *gc, const struct item *it)
{
	struct item *own = &gc->batch_items[gc->nbatch];
	struct wfs_meta_gc_entry *e = &gc->batch[gc->nbatch++];

	*own = *it;
	e->stripe_id = own->stripe_id;
	e->index = own->index;
	e->node = (struct wfs_meta_bytes){ own->node, strlen(own->node) };
	e->disk = (struct wfs_meta_bytes){ own->disk, strlen(own->disk) };
	e->any_place = false;
}

/* Read the page after @after; returns the number of stripes in it. */
static int read_page(struct wfs_gc *gc, uint64_t after)
{
	struct wfs_meta *m = wfs_metafsm_read_begin(gc->n->fsm);
	int rc;

	gc->page.n = 0;
	gc->page.err = 0;
	rc = m ? wfs_meta_garbage(m, after, PAGE_STRIPES, page_cb, &gc->page)
	       : -EIO;
	/* Checked after the read: a rollback before it has set the flag by
	 * now, and a page read before a rollback came from entries the log
	 * has committed. */
	if (m && wfs_meta_went_back(m))
		rc = -ESTALE;
	wfs_metafsm_read_end(gc->n->fsm);
	return gc->page.err ? gc->page.err : rc;
}

/* Whether this node, not the master, may run a pass: its copy of the
 * metadata holds something and is past what it reported last. */
static bool follower_ready(struct wfs_gc *gc)
{
	uint64_t applied = wfs_metafsm_applied(gc->n->fsm);

	return applied > 0 && applied >= gc->wait_index;
}

static long pass(struct wfs_gc *gc)
{
	bool leading = wfs_node_serving(gc->n) == 0;
	uint64_t after = 0;
	long deleted = 0;
	int rc;

	if (!leading && !follower_ready(gc))
		return -EAGAIN;
	while ((rc = read_page(gc, after)) > 0) {
		for (size_t i = 0; i < gc->page.n; i++) {
			int s;

			if (stopping(gc))
				return -ECANCELED;
			s = settle(gc, &gc->page.items[i]);
			if (s < 0)
				continue;
			deleted += s;
			batch_add(gc, &gc->page.items[i]);
			if (gc->nbatch == WFS_META_GC_MAX &&
			    (rc = flush(gc, leading)))
				return rc;
		}
		after = gc->page.last;
	}
	if (rc == 0)
		rc = flush(gc, leading);
	gc->nbatch = 0;
	if (rc < 0)
		return rc;
	if (deleted)
		wfs_log_info(SUB, "deleted %ld garbage chunks", deleted);
	return deleted;
}

static void *gc_main(void *arg)
{
	struct wfs_gc *gc = arg;

	pthread_mutex_lock(&gc->lock);
	while (!gc->stopping) {
		struct timespec until;
		unsigned long target;
		long result;

		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += gc->interval_ms / 1000;
		until.tv_nsec += (long)(gc->interval_ms % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		if (gc->want == gc->done)
			pthread_cond_timedwait(&gc->cond, &gc->lock, &until);
		if (gc->stopping)
			break;
		target = gc->want;
		pthread_mutex_unlock(&gc->lock);
		result = pass(gc);
		if (result == -ESTALE) {
			if (!gc->told_stale)
				wfs_log_error(SUB, "stopped deleting garbage "
					      "chunks: the metadata store "
					      "dropped entries it had applied "
					      "(see its error above), so a "
					      "chunk it lists as garbage may "
					      "be live again; restart storaged "
					      "to replay them from the log");
			gc->told_stale = true;
		} else if (result < 0 && result != -EAGAIN &&
			   result != -ECANCELED) {
			wfs_log_warn(SUB, "pass failed: %s",
				     strerror((int)-result));
		} else if (result >= 0) {
			gc->told_stale = false;	/* a store restored since */
		}
		pthread_mutex_lock(&gc->lock);
		gc->last_result = result;
		gc->done = target;
		pthread_cond_broadcast(&gc->cond);
	}
	gc->done = gc->want;
	gc->last_result = -ECANCELED;
	pthread_cond_broadcast(&gc->cond);
	pthread_mutex_unlock(&gc->lock);
	return NULL;
}

long wfs_gc_run(struct wfs_gc *gc)
{
	unsigned long ticket;
	long result;

	pthread_mutex_lock(&gc->lock);
	ticket = ++gc->want;
	pthread_cond_broadcast(&gc->cond);
	while (gc->done < ticket && !gc->stopping)
		pthread_cond_wait(&gc->cond, &gc->lock);
	result = gc->done >= ticket ? gc->last_result : -ECANCELED;
	pthread_mutex_unlock(&gc->lock);
	return result;
}

int wfs_gc_start(struct wfs_node *n, unsigned interval_ms,
		 struct wfs_gc **out)
{
	struct wfs_gc *gc = wfs_calloc(1, sizeof(*gc));
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	if (!gc)
		return -ENOMEM;
	gc->batch = wfs_calloc(WFS_META_GC_MAX, sizeof(*gc->batch));
	gc->batch_items = wfs_calloc(WFS_META_GC_MAX,
				     sizeof(*gc->batch_items));
	if (!gc->batch || !gc->batch_items) {
		wfs_free(gc->batch_items);
		wfs_free(gc->batch);
		wfs_free(gc);
		return -ENOMEM;
	}
	if (getrandom(&gc->nonce, sizeof(gc->nonce), 0) !=
	    (ssize_t)sizeof(gc->nonce)) {
		rc = errno ? -errno : -EIO;
		wfs_free(gc->batch_items);
		wfs_free(gc->batch);
		wfs_free(gc);
		return rc;
	}
	gc->n = n;
	gc->interval_ms = interval_ms ? interval_ms : 1000;
	/* A copy that lost applied entries in a crash (a commit not yet
	 * synced) lists what they had settled: wait until the log replayed
	 * them.  The master needs no such wait: it serves only after a
	 * barrier of its term. */
	gc->wait_index = n->raft ? wfs_raftlog_start_index(n->raft) : 0;
	pthread_mutex_init(&gc->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&gc->cond, &ca);
	pthread_condattr_destroy(&ca);
	rc = -pthread_create(&gc->thread, NULL, gc_main, gc);
	if (rc) {
		wfs_gc_stop(gc);
		return rc;
	}
	gc->running = true;
	*out = gc;
	return 0;
}

void wfs_gc_signal_stop(struct wfs_gc *gc)
{
	if (!gc)
		return;
	pthread_mutex_lock(&gc->lock);
	gc->stopping = true;
	pthread_cond_broadcast(&gc->cond);
	pthread_mutex_unlock(&gc->lock);
}

void wfs_gc_stop(struct wfs_gc *gc)
{
	if (!gc)
		return;
	wfs_gc_signal_stop(gc);
	if (gc->running)
		pthread_join(gc->thread, NULL);
	pthread_cond_destroy(&gc->cond);
	pthread_mutex_destroy(&gc->lock);
	wfs_rpc_client_free(gc->rpc);
	wfs_free(gc->page.items);
	wfs_free(gc->batch_items);
	wfs_free(gc->batch);
	wfs_free(gc);
}

/* ---- Admin.GcDone, on the master ---- */

/* Raft thread: the GC_DONE of a node's report applied (or not). */
static int reply_gc_done(struct wfs_svc_pending *p, int rc,
			 const struct wfs_metafsm_result *res, void **buf,
			 size_t *len)
{
	Wormfs__GcDoneReply gr = WORMFS__GC_DONE_REPLY__INIT;

	(void)res;
	if (rc)
		return rc;
	gr.applied_index = wfs_metafsm_applied(p->n->fsm);
	return wfs_svc_pack(&gr.base, buf, len);
}

static int h_gc_done(void *arg, const void *req, size_t len,
		     struct wfs_rpc_reply *reply)
{
	struct wfs_node *n = arg;
	struct wfs_meta_gc_entry *entries = NULL;
	struct wfs_svc_pending *p = NULL;
	Wormfs__GcDoneRequest *r;
	struct wfs_meta_op op;
	int rc;

	rc = wfs_svc_unpack(&wormfs__gc_done_request__descriptor, req, len,
			    &r);
	if (rc)
		return rc;
	if (r->n_entries == 0 || r->n_entries > WFS_META_GC_MAX)
		rc = -EINVAL;
	if (rc == 0)
		rc = wfs_node_serving(n);
	if (rc == 0) {
		entries = wfs_calloc(r->n_entries, sizeof(*entries));
		p = wfs_svc_pending_new(n, reply_gc_done);
		rc = entries && p ? 0 : -ENOMEM;
	}
	for (size_t i = 0; rc == 0 && i < r->n_entries; i++) {
		const Wormfs__GcEntry *g = r->entries[i];

		/* Exactly the copy named: a report without a place (a node
		 * that predates them) settles nothing. */
		if (g->node_id.len > WFS_META_ID_MAX ||
		    g->disk_id.len > WFS_META_ID_MAX) {
			rc = -EINVAL;
			break;
		}
		entries[i].stripe_id = g->stripe_id;
		entries[i].index = g->index;
		entries[i].node = (struct wfs_meta_bytes){ g->node_id.data,
							   g->node_id.len };
		entries[i].disk = (struct wfs_meta_bytes){ g->disk_id.data,
							   g->disk_id.len };
	}
	if (rc == 0) {
		wfs_svc_op_init(&op, WFS_META_OP_GC_DONE, NULL);
		op.u.gc.nentries = (uint32_t)r->n_entries;
		op.u.gc.entries = entries;
		rc = wfs_svc_propose(p, reply, &op);
		p = NULL;	/* taken */
	}
	wfs_free(p);
	wfs_free(entries);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

int wfs_gc_register(struct wfs_node *n, struct wfs_rpc_server *s)
{
	return wfs_rpc_server_handle(s, "/wormfs.Admin/GcDone", h_gc_done, n);
}
