/* client/flush: writing a file's stripe buffers out.
 *
 * A buffer goes out as file.c's plan says (client/geom.h): EC when its data
 * fills the span (or is longer than the nodes take replicas), else m + 1
 * replicas.  Writing it is: PlaceStripe (a new stripe id, the slot's
 * current version, where each chunk goes), the chunks written in parallel
 * (client/stripe.h: encoding, CRCs, the write quorum), then CommitStripe
 * with the version the placement reported as the expected one.  A partial
 * rewrite is built on the committed version it read: if the placement or
 * the commit finds another one there (-ESTALE: another client), the buffer
 * learns the new version, reads what it lacks again and tries again.
 *
 * Flushes run as jobs on the client's stripe pool, several per file at
 * once, each with the inode's lock dropped around its remote calls; the
 * buffer's "flushing" state keeps writers and loads off its data meanwhile.
 * A write that misses its quorum because nodes died is placed and written
 * again: the master stops placing chunks on a node once gossip finds it
 * dead (about 1.5 s), so the retry lands on live ones.  Only after
 * QUORUM_RETRY_MS (or the client's retry_ms, if shorter) of that does the
 * error stand.
 *
 * A failed flush leaves the data buffered and the error on the inode, for
 * the next write, flush or fsync to report once.
 */
#include "client/file_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "log/log.h"
#include "mem/mem.h"

/* A commit that keeps finding its stripe changed gives up after this many
 * tries (another client rewriting the same stripe without end). */
#define MAX_STALE 8

/* How long a stripe write that misses its quorum is placed again (dead
 * nodes are found and left out within a few seconds; never longer than the
 * client's retry_ms), and the pauses. */
#define QUORUM_RETRY_MS 20000
#define QUORUM_PAUSE_MIN_MS 100
#define QUORUM_PAUSE_MAX_MS 1000

static void pause_ms(int64_t ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void hdr_chunks_to_pb(const struct wfs_lstripe *s,
			     Wormfs__ChunkLocation *locs,
			     Wormfs__ChunkLocation **ptrs)
{
	for (unsigned i = 0; i < s->nchunks; i++) {
		const struct wfs_lchunk *ch = &s->chunks[i];

		wormfs__chunk_location__init(&locs[i]);
		locs[i].index = i;
		locs[i].state = ch->state == WFS_CHUNK_OK
					? WORMFS__CHUNK_STATE__CHUNK_OK
					: WORMFS__CHUNK_STATE__CHUNK_MISSING;
		if (ch->node) {
			locs[i].node_id.data = ch->node->id;
			locs[i].node_id.len = ch->node->id_len;
			locs[i].node_addr = ch->node->addr;
		}
		locs[i].disk_id.data = (uint8_t *)ch->disk;
		locs[i].disk_id.len = ch->disk_len;
		ptrs[i] = &locs[i];
	}
}

/* Ask for a placement of stripe @sidx of @kind: *s gets the new stripe's
 * id, kind, geometry and locations (version: the expected one + 1) and
 * *expected the slot's current version.  @created_in: ci->created_in when
 * the flush began.  A file created early is placed without waiting for
 * its create (the master places it as a new file of that directory), so
 * the create's log write overlaps the chunk writes; only the commit waits
 * for it. */
static int place(struct cinode *ci, const struct wfs_cred *cred,
		 uint64_t created_in, uint64_t sidx, uint32_t kind,
		 struct wfs_lstripe **s, uint64_t *expected)
{
	Wormfs__PlaceStripeRequest req = WORMFS__PLACE_STRIPE_REQUEST__INIT;
	Wormfs__Caller caller = WORMFS__CALLER__INIT;
	Wormfs__PlaceStripeReply *r = NULL;
	Wormfs__Stripe pbs = WORMFS__STRIPE__INIT;
	int rc;

	wfs_caller_fill(ci->c, &caller, cred);
	req.caller = &caller;
	req.ino = ci->ino;
	req.sidx = sidx;
	req.kind = kind;
	req.parent = created_in;
	rc = wfs_meta_call(ci->c, WFS_M_META("PlaceStripe"), &req.base,
			   &wormfs__place_stripe_reply__descriptor,
			   (ProtobufCMessage **)&r,
			   created_in ? WFS_CALL_WAITED : 0);
	if (rc)
		return rc;
	pbs.sidx = sidx;
	pbs.stripe_id = r->stripe_id;
	pbs.version = r->expected_version + 1;
	pbs.kind = r->kind;
	pbs.k = r->k;
	pbs.m = r->m;
	pbs.chunk_size = r->chunk_size;
	pbs.n_chunks = r->n_chunks;
	pbs.chunks = r->chunks;
	*expected = r->expected_version;
	if (r->kind != kind || (uint64_t)r->k * r->chunk_size != ci->span ||
	    r->n_chunks < wfs_geom_nchunks(kind, r->k, r->m)) {
		wfs_log_error("client",
			      "inode %" PRIu64 " stripe %" PRIu64 ": placement"
			      " of kind %u, %u+%u x %u does not fit the file's"
			      " span %" PRIu64 " and kind %u", ci->ino, sidx,
			      r->kind, r->k, r->m, r->chunk_size, ci->span,
			      kind);
		rc = -EIO;
	} else {
		*s = wfs_lstripe_from_pb(ci->c, &pbs);
		rc = *s ? 0 : -ENOMEM;
	}
	wfs_rpc_msg_free(&r->base);
	return rc;
}

/* Commit @s over version @expected; @check_length asks the node to refuse
 * it unless the slot still holds @expected_length bytes. */
static int commit(struct cinode *ci, const struct wfs_cred *cred,
		  const struct wfs_lstripe *s, uint64_t expected,
		  bool check_length, uint64_t expected_length,
		  struct wfs_attr *attr)
{
	Wormfs__CommitStripeRequest req = WORMFS__COMMIT_STRIPE_REQUEST__INIT;
	Wormfs__Caller caller = WORMFS__CALLER__INIT;
	Wormfs__CommitStripeReply *r = NULL;
	Wormfs__ChunkLocation locs[WFS_STRIPE_MAX_CHUNKS];
	Wormfs__ChunkLocation *ptrs[WFS_STRIPE_MAX_CHUNKS];
	int rc;

	wfs_caller_fill(ci->c, &caller, cred);
	hdr_chunks_to_pb(s, locs, ptrs);
	req.caller = &caller;
	req.ino = ci->ino;
	req.sidx = s->sidx;
	req.stripe_id = s->stripe_id;
	req.expected_version = expected;
	req.check_length = check_length;
	req.expected_length = expected_length;
	req.kind = s->kind;
	req.k = s->k;
	req.m = s->m;
	req.chunk_size = s->chunk_size;
	req.length = s->length;
	req.file_size = s->sidx * ci->span + s->length;
	req.n_chunks = s->nchunks;
	req.chunks = ptrs;
	rc = wfs_meta_call(ci->c, WFS_M_META("CommitStripe"), &req.base,
			   &wormfs__commit_stripe_reply__descriptor,
			   (ProtobufCMessage **)&r, 0);
	wfs_sa_forget_ino(ci->c, ci->ino);
	if (rc)
		return rc;
	if (r->version != s->version || !r->attr) {
		wfs_log_error("client",
			      "inode %" PRIu64 " stripe %" PRIu64 ": commit "
			      "made version %" PRIu64 ", expected %" PRIu64,
			      ci->ino, s->sidx, r->version, s->version);
		rc = -EPROTO;
	} else {
		wfs_attr_from_pb(attr, r->attr);
	}
	wfs_rpc_msg_free(&r->base);
	return rc;
}

/* Place, write and commit @sb's data as @plan says.  Runs without
 * ci->lock: sb->flushing keeps writers and loads off sb->data.  On
 * success *out is the committed stripe. */
static int put_stripe_once(struct cinode *ci, struct sbuf *sb,
			   const struct wfs_cred *cred, uint64_t created_in,
			   const struct wfs_flush_plan *plan,
			   uint64_t base_version, uint64_t base_len,
			   struct wfs_lstripe **out, struct wfs_attr *attr,
			   bool *quorum_missed)
{
	struct wfs_lstripe *s = NULL;
	struct wfs_ec *ec = NULL;
	uint64_t expected;
	bool partial = !(plan->full && plan->length == ci->span);
	int rc = place(ci, cred, created_in, sb->sidx, plan->kind, &s,
		       &expected);

	if (rc)
		return rc;
	/* A partial rewrite is built on the version it read: if the slot
	 * holds another one now, that has to be read again.  "Partial" means
	 * anything short of the whole span: a stripe we wrote entirely but
	 * that is shorter than the span may have grown since (another
	 * client appended), and committing it would cut those bytes off.
	 * A truncate shortens a stripe keeping its version, so the commit
	 * also names the length it was built on. */
	if (partial && expected != base_version) {
		rc = -ESTALE;
		goto out_free;
	}
	s->length = plan->length;
	if (s->kind == WFS_KIND_EC) {
		ec = wfs_client_codec(ci->c, s->k, s->m);
		if (!ec) {
			rc = -EIO;
			goto out_free;
		}
	}
	rc = wfs_stripe_write(&ci->c->io, ec, ci->ino, s, sb->data);
	*quorum_missed = rc == -EIO;
	if (rc == 0)
		rc = commit(ci, cred, s, expected, partial && base_version,
			    base_len, attr);
	if (rc == 0) {
		*out = s;
		return 0;
	}
out_free:
	wfs_free(s);
	return rc;
}

/* put_stripe_once, placed and written again while it misses its quorum
 * (nodes that died and are not known dead yet), for QUORUM_RETRY_MS. */
static int put_stripe(struct cinode *ci, struct sbuf *sb,
		      const struct wfs_cred *cred, uint64_t created_in,
		      const struct wfs_flush_plan *plan, uint64_t base_version,
		      uint64_t base_len, struct wfs_lstripe **out,
		      struct wfs_attr *attr)
{
	int64_t window = ci->c->opts.retry_ms < QUORUM_RETRY_MS
				 ? ci->c->opts.retry_ms : QUORUM_RETRY_MS;
	int64_t deadline = wfs_client_now_ms() + window;
	int64_t pause = QUORUM_PAUSE_MIN_MS;

	for (;;) {
		bool missed = false;
		int rc = put_stripe_once(ci, sb, cred, created_in, plan,
					 base_version, base_len, out, attr,
					 &missed);

		if (!missed || wfs_client_now_ms() + pause > deadline)
			return rc;
		wfs_log_info("client", "inode %" PRIu64 " stripe %" PRIu64
			     ": too few chunks written; placing it again in "
			     "%lld ms", ci->ino, sb->sidx, (long long)pause);
		pause_ms(pause);
		pause = pause * 2 > QUORUM_PAUSE_MAX_MS ? QUORUM_PAUSE_MAX_MS
							: pause * 2;
	}
}

/* @sb's data is now committed as @s (ownership taken). */
static void commit_done(struct cinode *ci, struct sbuf *sb,
			struct wfs_lstripe *s, const struct wfs_attr *attr)
{
	if (wfs_sbuf_set_base(ci, sb, s) == 0)
		sb->valid = wfs_sbuf_all_blocks(sb, ci->span);
	else
		sb->base_known = false;
	wfs_ranges_clear(&sb->dirty);
	ci->ndirty--;
	ci->created_in = 0;	/* the commit waited for the create */
	wfs_cinode_take_attr(ci, attr);
	if (wfs_layout_put(&ci->layout, s) != 0)
		wfs_layout_clear(&ci->layout);
}

/* Write out @sb (dirty, flushing set by the caller, who holds it).  Drops
 * ci->lock around remote calls. */
static int flush_sbuf(struct cinode *ci, struct sbuf *sb)
{
	for (unsigned attempt = 0;; attempt++) {
		struct wfs_flush_plan plan;
		struct wfs_sbuf_state st;
		struct wfs_lstripe *s = NULL;
		struct wfs_attr attr;
		struct wfs_cred cred = ci->cred;
		uint64_t base_version, base_len, created_in;
		int rc = 0;

		/* A reader's load must end before the plan counts on it. */
		while (sb->loading)
			pthread_cond_wait(&ci->cond, &ci->lock);
		/* Unless every byte of the span is new, the committed
		 * version decides the length and what must be read. */
		if (!wfs_ranges_covers(&sb->dirty, 0, ci->span))
			rc = wfs_sbuf_resolve_base(ci, sb);
		if (rc)
			return rc;
		wfs_sbuf_state(ci, sb, &st);
		wfs_geom_plan_flush(&st, &plan);
		if (plan.load) {
			rc = wfs_sbuf_load(ci, sb, plan.load);
			if (rc)
				return rc;
			continue;
		}
		base_version = sb->base ? sb->base->version : 0;
		base_len = sb->base ? sb->base_len : 0;
		/* The padding of a short EC stripe is coded too. */
		if (plan.kind == WFS_KIND_EC && plan.length < ci->span)
			memset(sb->data + plan.length, 0,
			       ci->span - plan.length);
		created_in = ci->created_in;
		pthread_mutex_unlock(&ci->lock);
		rc = put_stripe(ci, sb, &cred, created_in, &plan,
				base_version, base_len, &s, &attr);
		pthread_mutex_lock(&ci->lock);
		if (rc == 0) {
			commit_done(ci, sb, s, &attr);
			return 0;
		}
		if (rc == -EINVAL)
			return -EIO;
		if (rc != -ESTALE || attempt + 1 >= MAX_STALE)
			return rc;
		/* Someone else changed the stripe: learn its new version. */
		wfs_log_debug("client", "inode %" PRIu64 " stripe %" PRIu64
			      ": changed meanwhile, reading it again",
			      ci->ino, sb->sidx);
		wfs_layout_clear(&ci->layout);
		ci->layout_gen++;
		ci->server_size = UINT64_MAX;
		sb->base_known = false;
	}
}

static void set_wb_error(struct cinode *ci, int rc)
{
	if (!ci->wb_error)
		ci->wb_error = rc;
}

/* Flush @sb now, on this thread (the caller holds it, lock held). */
static int flush_now(struct cinode *ci, struct sbuf *sb)
{
	int rc;

	while (sb->flushing)
		pthread_cond_wait(&ci->cond, &ci->lock);
	if (sb->dead || !sb->dirty.n)
		return 0;
	sb->flushing = true;
	rc = flush_sbuf(ci, sb);
	sb->flushing = false;
	pthread_cond_broadcast(&ci->cond);
	if (rc) {
		wfs_log_error("client", "inode %" PRIu64 " stripe %" PRIu64
			      ": write failed: %s", ci->ino, sb->sidx,
			      strerror(-rc));
		set_wb_error(ci, rc);
	}
	return rc;
}

static void flush_job(struct wfs_task *t)
{
	struct sbuf *sb = (struct sbuf *)((char *)t -
					  offsetof(struct sbuf, task));
	struct cinode *ci = sb->ci;

	pthread_mutex_lock(&ci->lock);
	sb->queued = false;
	sb->users++;
	if (!sb->dead)
		flush_now(ci, sb);
	wfs_sbuf_unuse(sb);
	ci->inflight--;
	pthread_cond_broadcast(&ci->cond);
	wfs_sbuf_evict(ci);
	pthread_mutex_unlock(&ci->lock);
	wfs_cinode_put(ci);
}

/* Flush @sb in the background. */
void wfs_sbuf_queue_flush(struct cinode *ci, struct sbuf *sb)
{
	if (sb->queued || sb->flushing || sb->dead)
		return;
	sb->queued = true;
	ci->inflight++;
	wfs_cinode_ref(ci);
	wfs_pool_submit(ci->c->stripe_pool, &sb->task, flush_job);
}

/* Flush every dirty buffer (in parallel, in the background) and wait for
 * all flushes, including those already running.  Returns the first error
 * since the last report, and clears it. */
int wfs_cinode_flush_all(struct cinode *ci)
{
	int rc;

	for (struct sbuf *sb = ci->bufs; sb; sb = sb->next)
		if (sb->dirty.n)
			wfs_sbuf_queue_flush(ci, sb);
	while (ci->inflight)
		pthread_cond_wait(&ci->cond, &ci->lock);
	rc = ci->wb_error;
	ci->wb_error = 0;
	if (!ci->ndirty)
		ci->wtime_ns = 0;
	return rc;
}
