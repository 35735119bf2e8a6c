/* client/file: open files, their write-back stripe buffers and read cache.
 *
 * One struct cinode per inode open in this client, shared by all its open
 * handles, holds the inode's stripe buffers (struct sbuf), one per stripe
 * index touched, each span bytes:
 *
 *  - bytes written since the last commit are "dirty" (a range set);
 *  - the stripe's committed version ("base", from the layout) is loaded
 *    lazily, in blocks (a data chunk of an EC base, the whole replica of a
 *    replica base), only where a read or a read-modify-write needs it;
 *    "valid" marks the blocks whose clean bytes hold it;
 *  - len is how far the stripe's data reaches: bytes in [len, span) read as
 *    zeros, and a write past len zeroes the gap it leaves.
 *
 * A buffer whose span is all known (dirty or valid) is flushed at once, in
 * the background, as an EC stripe; several can be in flight per inode
 * (pipelining encoding, chunk writes and commits) up to
 * opts.stripes_in_flight, beyond which writers wait.  Flushing a file
 * (close, fsync) writes what is left, partial stripes as replicas.  A
 * partial overwrite of a committed stripe reads the blocks it lacks first
 * and commits with the version it read as the expected one; a commit that
 * finds the stripe changed (-ESTALE) re-reads and tries again.  Writing
 * out is flush.c's; the structures both share are in file_internal.h.
 *
 * Clean buffers stay as a read cache (opts.cache_stripes per inode, least
 * recently used evicted) and sequential reads load the next stripes ahead
 * in the background.  Everything goes when the last handle closes: the next
 * open starts from fresh attributes and layout (close-to-open).
 *
 * Locking: ci->lock protects everything in a cinode and its buffers; it is
 * dropped around every remote call, and a buffer's "flushing" and "loading"
 * states keep others off what the call is using (writers wait for both,
 * readers for the blocks being loaded).  A buffer is freed only when no
 * thread holds it (users == 0); one dropped while held is marked dead and
 * freed by its last user.  Cinodes are reference-counted under
 * c->itab_lock: each open handle and each background job holds one.
 */
#include "client/file_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log/log.h"
#include "mem/mem.h"

/* Stripes asked for with each layout fetch, and at open. */
#define LAYOUT_FETCH 256
#define LAYOUT_OPEN 64

/* ---- the table of open inodes ---- */

static unsigned itab_slot(const struct wfs_client *c, uint64_t ino)
{
	return (unsigned)((ino * 0x9E3779B97F4A7C15ULL) >> 40) % c->itab_size;
}

static struct cinode *ci_new(struct wfs_client *c, uint64_t ino)
{
	struct cinode *ci = wfs_calloc(1, sizeof(*ci));

	if (!ci)
		return NULL;
	ci->ino = ino;
	ci->c = c;
	ci->refs = 1;
	ci->span = WFS_DEFAULT_SPAN;
	pthread_mutex_init(&ci->lock, NULL);
	pthread_cond_init(&ci->cond, NULL);
	return ci;
}

/* The cinode of @ino with a new reference; created if @create.  NULL when
 * absent (or out of memory). */
static struct cinode *ci_get(struct wfs_client *c, uint64_t ino, bool create)
{
	unsigned slot = itab_slot(c, ino);
	struct cinode *ci;

	pthread_mutex_lock(&c->itab_lock);
	for (ci = c->itab[slot]; ci; ci = ci->hnext)
		if (ci->ino == ino)
			break;
	if (ci) {
		ci->refs++;
	} else if (create) {
		ci = ci_new(c, ino);
		if (ci) {
			ci->hnext = c->itab[slot];
			c->itab[slot] = ci;
			c->nopen++;
		}
	}
	pthread_mutex_unlock(&c->itab_lock);
	return ci;
}

static void sbuf_free(struct sbuf *sb)
{
	wfs_ranges_release(&sb->dirty);
	wfs_free(sb->base);
	wfs_free(sb->data);
	wfs_free(sb);
}

static void ci_free(struct cinode *ci)
{
	while (ci->bufs) {
		struct sbuf *sb = ci->bufs;

		ci->bufs = sb->next;
		sbuf_free(sb);
	}
	while (ci->files) {
		struct wfs_file *f = ci->files;

		ci->files = f->next;
		wfs_free(f);
	}
	wfs_layout_release(&ci->layout);
	pthread_cond_destroy(&ci->cond);
	pthread_mutex_destroy(&ci->lock);
	wfs_free(ci);
}

void wfs_cinode_put(struct cinode *ci)
{
	struct wfs_client *c = ci->c;
	bool last;

	pthread_mutex_lock(&c->itab_lock);
	last = --ci->refs == 0;
	if (last) {
		struct cinode **pp = &c->itab[itab_slot(c, ci->ino)];

		while (*pp != ci)
			pp = &(*pp)->hnext;
		*pp = ci->hnext;
		c->nopen--;
	}
	pthread_mutex_unlock(&c->itab_lock);
	if (last)
		ci_free(ci);
}

void wfs_cinode_ref(struct cinode *ci)
{
	pthread_mutex_lock(&ci->c->itab_lock);
	ci->refs++;
	pthread_mutex_unlock(&ci->c->itab_lock);
}

/* ---- buffers ---- */

static struct sbuf *sbuf_find(struct cinode *ci, uint64_t sidx)
{
	for (struct sbuf *sb = ci->bufs; sb; sb = sb->next)
		if (sb->sidx == sidx)
			return sb;
	return NULL;
}

static struct sbuf *sbuf_add(struct cinode *ci, uint64_t sidx)
{
	struct sbuf *sb = wfs_calloc(1, sizeof(*sb));

	if (!sb)
		return NULL;
	sb->ci = ci;
	sb->sidx = sidx;
	sb->used = ++ci->tick;
	sb->next = ci->bufs;
	ci->bufs = sb;
	ci->nbufs++;
	return sb;
}

static bool sbuf_busy(const struct sbuf *sb)
{
	return sb->dirty.n || sb->flushing || sb->queued || sb->loading ||
	       sb->users;
}

/* Take @sb out of ci->bufs; freed now or by its last user.  Its dirty data
 * is dropped. */
static void sbuf_drop(struct cinode *ci, struct sbuf *sb)
{
	struct sbuf **pp = &ci->bufs;

	while (*pp != sb)
		pp = &(*pp)->next;
	*pp = sb->next;
	ci->nbufs--;
	if (sb->dirty.n)
		ci->ndirty--;
	wfs_ranges_clear(&sb->dirty);
	if (sb->users || sb->queued)
		sb->dead = true;
	else
		sbuf_free(sb);
	pthread_cond_broadcast(&ci->cond);
}

/* Stop holding @sb; frees a dead buffer nobody holds any more. */
void wfs_sbuf_unuse(struct sbuf *sb)
{
	sb->users--;
	if (sb->dead && !sb->users && !sb->queued)
		sbuf_free(sb);
}

/* Keep at most opts.cache_stripes clean buffers: drop the least recently
 * used idle ones. */
void wfs_sbuf_evict(struct cinode *ci)
{
	unsigned clean = 0;

	for (struct sbuf *sb = ci->bufs; sb; sb = sb->next)
		clean += !sbuf_busy(sb);
	while (clean > ci->c->opts.cache_stripes) {
		struct sbuf *lru = NULL;

		for (struct sbuf *sb = ci->bufs; sb; sb = sb->next)
			if (!sbuf_busy(sb) && (!lru || sb->used < lru->used))
				lru = sb;
		if (!lru)
			break;
		sbuf_drop(ci, lru);
		clean--;
	}
}

static int sbuf_alloc_data(struct cinode *ci, struct sbuf *sb)
{
	if (!sb->data) {
		sb->data = wfs_malloc(ci->span);
		if (!sb->data)
			return -ENOMEM;
	}
	return 0;
}

uint32_t wfs_sbuf_all_blocks(const struct sbuf *sb, uint64_t span)
{
	uint64_t n = span / sb->block;

	return n >= 32 ? UINT32_MAX : (1u << n) - 1;
}

static void fill_clean(struct sbuf *sb, const unsigned char *src,
		       uint64_t src_off, uint64_t start, uint64_t end);

/* Learn @sb's committed version from @s (NULL: none). */
int wfs_sbuf_set_base(struct cinode *ci, struct sbuf *sb,
		    const struct wfs_lstripe *s)
{
	struct wfs_lstripe *copy = NULL;
	uint64_t len;

	if (s) {
		if ((uint64_t)s->k * s->chunk_size != ci->span) {
			wfs_log_error("client",
				      "inode %" PRIu64 " stripe %" PRIu64
				      ": span %" PRIu64 " differs from the "
				      "file's %" PRIu64, ci->ino, s->sidx,
				      (uint64_t)s->k * s->chunk_size,
				      ci->span);
			return -EIO;
		}
		copy = wfs_lstripe_dup(s);
		if (!copy)
			return -ENOMEM;
	}
	wfs_free(sb->base);
	sb->base = copy;
	sb->base_len = s ? s->length : 0;
	sb->block = s && s->kind == WFS_KIND_EC ? s->chunk_size
						: (uint32_t)ci->span;
	sb->valid = wfs_sbuf_all_blocks(sb, ci->span) &
		    ~wfs_geom_blocks(sb->block, 0, sb->base_len);
	sb->base_known = true;
	/* The new base decides the length: the old one's clean bytes past
	 * its end (say another client truncated the stripe) must not stay,
	 * nor count as data, or a rewrite would bring them back.  Blocks
	 * wholly past base_len are "valid" as zeros, so make them zeros. */
	len = wfs_ranges_end(&sb->dirty);
	if (len < sb->base_len)
		len = sb->base_len;
	if (sb->data && sb->len > sb->base_len)
		fill_clean(sb, NULL, 0, sb->base_len, sb->len);
	sb->len = (uint32_t)len;
	return 0;
}

/* Fetch the layout from stripe @sidx on.  Drops ci->lock meanwhile. */
static int fetch_layout(struct cinode *ci, uint64_t sidx)
{
	struct wfs_lstripe **v;
	uint64_t gen = ci->layout_gen, to;
	struct wfs_cred cred = ci->cred;
	unsigned n;
	int rc;

	pthread_mutex_unlock(&ci->lock);
	rc = wfs_layout_fetch(ci->c, &cred, ci->ino, sidx, LAYOUT_FETCH, 0,
			      &v, &n, &to, NULL);
	pthread_mutex_lock(&ci->lock);
	if (rc)
		return rc;
	if (gen != ci->layout_gen) {
		/* Truncated meanwhile: what came back may be stale; the
		 * caller looks again. */
		for (unsigned i = 0; i < n; i++)
			wfs_free(v[i]);
		rc = 0;
	} else {
		rc = wfs_layout_merge(&ci->layout, sidx, to, v, n);
	}
	wfs_free(v);
	return rc;
}

/* Find stripe @sidx's committed version: *s (NULL: a hole).  May fetch
 * (dropping ci->lock). */
static int lookup_stripe(struct cinode *ci, uint64_t sidx,
			 const struct wfs_lstripe **s)
{
	for (;;) {
		int rc;

		if (wfs_layout_find(&ci->layout, sidx, s))
			return 0;
		if (sidx * ci->span >= ci->server_size) {
			*s = NULL;
			return 0;
		}
		rc = fetch_layout(ci, sidx);
		if (rc)
			return rc;
	}
}

/* Make sb->base known.  May drop ci->lock; the caller holds @sb. */
int wfs_sbuf_resolve_base(struct cinode *ci, struct sbuf *sb)
{
	while (!sb->base_known && !sb->dead) {
		const struct wfs_lstripe *s;
		int rc = lookup_stripe(ci, sb->sidx, &s);

		if (rc)
			return rc;
		if (!sb->base_known)
			return wfs_sbuf_set_base(ci, sb, s);
	}
	return sb->dead ? -ESTALE : 0;
}

/* Copy bytes into @sb->data over [start, end), skipping dirty bytes: from
 * @src, whose first byte is the stripe's byte @src_off, or zeros when @src
 * is NULL. */
static void fill_clean(struct sbuf *sb, const unsigned char *src,
		       uint64_t src_off, uint64_t start, uint64_t end)
{
	struct wfs_range gap;
	uint64_t pos = start;

	while (wfs_ranges_next_gap(&sb->dirty, &pos, end, &gap)) {
		if (src)
			memcpy(sb->data + gap.start, src + gap.start - src_off,
			       gap.end - gap.start);
		else
			memset(sb->data + gap.start, 0, gap.end - gap.start);
	}
}

/* After blocks @mask were read (straight into data, or into @tmp[] for
 * blocks with dirty bytes), put the committed bytes under the dirty ones
 * and zeros past base_len. */
static void merge_loaded(struct sbuf *sb, uint32_t mask, unsigned char **tmp)
{
	for (unsigned b = 0; mask >> b; b++) {
		uint64_t s = (uint64_t)b * sb->block, e = s + sb->block;
		uint64_t base_end = e < sb->base_len ? e : sb->base_len;
		uint64_t zero_end = e < sb->len ? e : sb->len;

		if (!(mask & (1u << b)))
			continue;
		if (tmp[b])
			fill_clean(sb, tmp[b], s, s, base_end);
		if (zero_end > base_end)
			fill_clean(sb, NULL, 0, base_end > s ? base_end : s,
				   zero_end);
	}
}

/* Load blocks @mask (not valid, not loading) of @sb's base.  Drops ci->lock
 * meanwhile; the caller holds @sb. */
int wfs_sbuf_load(struct cinode *ci, struct sbuf *sb, uint32_t mask)
{
	unsigned char *out[WFS_GEOM_MAX_BLOCKS] = { 0 };
	unsigned char *tmp[WFS_GEOM_MAX_BLOCKS] = { 0 };
	struct wfs_lstripe *base = sb->base ? wfs_lstripe_dup(sb->base) : NULL;
	struct wfs_ec *ec = NULL;
	int rc = sbuf_alloc_data(ci, sb);

	if (rc || !base) {
		wfs_free(base);
		return rc ? rc : -ENOMEM;
	}
	for (unsigned b = 0; mask >> b && rc == 0; b++) {
		uint64_t s = (uint64_t)b * sb->block;

		if (!(mask & (1u << b)))
			continue;
		if (wfs_ranges_touches(&sb->dirty, s, s + sb->block)) {
			tmp[b] = wfs_malloc(sb->block);
			rc = tmp[b] ? 0 : -ENOMEM;
		}
		out[b] = tmp[b] ? tmp[b] : sb->data + s;
	}
	if (rc == 0 && base->kind == WFS_KIND_EC) {
		ec = wfs_client_codec(ci->c, base->k, base->m);
		rc = ec ? 0 : -EIO;
	}
	if (rc == 0) {
		sb->loading |= mask;
		pthread_mutex_unlock(&ci->lock);
		rc = wfs_stripe_read(&ci->c->io, ec, ci->ino, base, mask, out,
				     ci->span);
		pthread_mutex_lock(&ci->lock);
		sb->loading &= ~mask;
		if (rc == 0 && !sb->dead && sb->base &&
		    sb->base->version == base->version) {
			merge_loaded(sb, mask, tmp);
			sb->valid |= mask;
		}
		pthread_cond_broadcast(&ci->cond);
	}
	for (unsigned b = 0; b < WFS_GEOM_MAX_BLOCKS; b++)
		wfs_free(tmp[b]);
	wfs_free(base);
	return rc;
}

void wfs_sbuf_state(const struct cinode *ci, const struct sbuf *sb,
		       struct wfs_sbuf_state *st)
{
	st->span = ci->span;
	st->len = sb->len;
	st->base_len = sb->base_len;
	st->block = sb->block;
	st->valid = sb->valid;
	st->dirty = &sb->dirty;
}

/* Make [start, end) of @sb readable: its base known and the blocks it
 * needs loaded.  Drops ci->lock while loading; the caller holds @sb. */
static int ensure_loaded(struct cinode *ci, struct sbuf *sb, uint64_t start,
			 uint64_t end)
{
	for (;;) {
		struct wfs_sbuf_state st;
		uint32_t need;
		int rc = wfs_sbuf_resolve_base(ci, sb);

		if (rc)
			return rc;
		wfs_sbuf_state(ci, sb, &st);
		need = wfs_geom_read_need(&st, start, end);
		if (!need)
			return 0;
		if ((need & sb->loading) || sb->flushing) {
			pthread_cond_wait(&ci->cond, &ci->lock);
			continue;
		}
		rc = wfs_sbuf_load(ci, sb, need);
		if (rc)
			return rc;
	}
}

/* Newer attributes from the server (a commit, a setattr). */
void wfs_cinode_take_attr(struct cinode *ci, const struct wfs_attr *a)
{
	if (a->ctime_ns >= ci->attr.ctime_ns)
		ci->attr = *a;
	if (a->size > ci->server_size)
		ci->server_size = a->size;
}

/* ---- reads ---- */

static void copy_out(const struct sbuf *sb, unsigned char *dst,
		     uint64_t start, uint64_t len)
{
	uint64_t have = start < sb->len ? sb->len - start : 0;

	if (have > len)
		have = len;
	if (have)
		memcpy(dst, sb->data + start, have);
	if (have < len)
		memset(dst + have, 0, len - have);
}

struct ra_job {
	struct wfs_task task;
	struct sbuf *sb;	/* held (users) for the job */
};

static void readahead_job(struct wfs_task *t)
{
	struct ra_job *j = (struct ra_job *)t;
	struct sbuf *sb = j->sb;
	struct cinode *ci = sb->ci;

	pthread_mutex_lock(&ci->lock);
	if (!sb->dead) {
		int rc = ensure_loaded(ci, sb, 0, ci->span);

		if (rc)
			wfs_log_debug("client", "inode %" PRIu64 " stripe %"
				      PRIu64 ": readahead failed: %s",
				      ci->ino, sb->sidx, strerror(-rc));
	}
	wfs_sbuf_unuse(sb);
	wfs_sbuf_evict(ci);
	pthread_mutex_unlock(&ci->lock);
	wfs_free(j);
	wfs_cinode_put(ci);
}

/* After a read of stripes [first, last]: if reads go in order, load the
 * next stripes in the background. */
static void read_ahead(struct cinode *ci, uint64_t first, uint64_t last)
{
	bool seq = first == ci->ra_last || first == ci->ra_last + 1;
	unsigned ra = ci->c->opts.readahead;

	ci->ra_last = last;
	if (!seq || !ra)
		return;
	for (uint64_t s = last + 1; s <= last + ra; s++) {
		struct ra_job *j;
		struct sbuf *sb;

		if (s < ci->ra_next || s * ci->span >= ci->size)
			continue;
		if (sbuf_find(ci, s))
			continue;
		j = wfs_malloc(sizeof(*j));
		sb = j ? sbuf_add(ci, s) : NULL;
		if (!sb) {
			wfs_free(j);
			return;
		}
		sb->users++;
		j->sb = sb;
		wfs_cinode_ref(ci);
		wfs_pool_submit(ci->c->stripe_pool, &j->task, readahead_job);
	}
	if (ci->ra_next < last + ra + 1)
		ci->ra_next = last + ra + 1;
}

/* Read [soff, soff + len) of stripe @sidx into @dst. */
static int read_piece(struct cinode *ci, uint64_t sidx, uint64_t soff,
		      uint64_t len, unsigned char *dst)
{
	struct sbuf *sb;
	int rc;

	while (!(sb = sbuf_find(ci, sidx))) {
		const struct wfs_lstripe *s;

		rc = lookup_stripe(ci, sidx, &s);
		if (rc)
			return rc;
		if (sbuf_find(ci, sidx))
			continue;
		if (!s) {
			memset(dst, 0, len);	/* a hole */
			return 0;
		}
		sb = sbuf_add(ci, sidx);
		if (!sb)
			return -ENOMEM;
		rc = wfs_sbuf_set_base(ci, sb, s);
		if (rc) {
			sbuf_drop(ci, sb);
			return rc;
		}
		break;
	}
	sb->users++;
	sb->used = ++ci->tick;
	rc = ensure_loaded(ci, sb, soff, soff + len);
	if (rc == 0 && sb->dead)
		rc = -EAGAIN;	/* truncated meanwhile: look again */
	if (rc == 0) {
		if (sb->len > soff && !sb->data)
			rc = -EIO;
		else
			copy_out(sb, dst, soff, len);
	}
	wfs_sbuf_unuse(sb);
	return rc;
}

ssize_t wfs_file_read(struct wfs_file *f, void *buf, size_t len,
		      uint64_t off)
{
	struct cinode *ci = f->ci;
	uint64_t done = 0, n;
	int rc = 0;

	pthread_mutex_lock(&ci->lock);
	if (off >= ci->size) {
		pthread_mutex_unlock(&ci->lock);
		return 0;
	}
	n = ci->size - off < len ? ci->size - off : len;
	while (done < n) {
		uint64_t pos = off + done;
		uint64_t sidx = pos / ci->span, soff = pos % ci->span;
		uint64_t l = ci->span - soff < n - done ? ci->span - soff
							: n - done;

		rc = read_piece(ci, sidx, soff, l, (unsigned char *)buf + done);
		if (rc == -EAGAIN)
			continue;
		if (rc)
			break;
		done += l;
		/* A truncation while this read waited: stop at the end. */
		if (off + n > ci->size)
			n = ci->size > off ? ci->size - off : 0;
	}
	if (done)
		read_ahead(ci, off / ci->span, (off + done - 1) / ci->span);
	wfs_sbuf_evict(ci);
	pthread_mutex_unlock(&ci->lock);
	return done ? (ssize_t)done : rc;
}

/* ---- writes ---- */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The buffer for writing to stripe @sidx, held (users), with no flush or
 * load running on it. */
static int write_buffer(struct cinode *ci, uint64_t sidx, struct sbuf **out)
{
	for (;;) {
		struct sbuf *sb = sbuf_find(ci, sidx);

		if (!sb) {
			const struct wfs_lstripe *s;

			sb = sbuf_add(ci, sidx);
			if (!sb)
				return -ENOMEM;
			/* Past what the server holds (and not made by this
			 * client): no committed version to build on. */
			if (sidx * ci->span >= ci->server_size &&
			    !wfs_layout_find(&ci->layout, sidx, &s))
				wfs_sbuf_set_base(ci, sb, NULL);
		}
		if (!sb->flushing && !sb->loading) {
			sb->users++;
			*out = sb;
			return 0;
		}
		sb->users++;
		pthread_cond_wait(&ci->cond, &ci->lock);
		wfs_sbuf_unuse(sb);
	}
}

/* Whether @sb holds its whole span and can go out as EC without a read. */
static bool sbuf_full(const struct cinode *ci, const struct sbuf *sb)
{
	struct wfs_sbuf_state st;
	struct wfs_flush_plan plan;

	if (sb->len != ci->span)
		return false;
	if (wfs_ranges_covers(&sb->dirty, 0, ci->span))
		return true;
	if (!sb->base_known)
		return false;
	wfs_sbuf_state(ci, sb, &st);
	wfs_geom_plan_flush(&st, &plan);
	return plan.load == 0;
}

static int write_piece(struct cinode *ci, uint64_t sidx, uint64_t soff,
		       uint64_t len, const unsigned char *src)
{
	struct sbuf *sb;
	bool was_dirty;
	int rc = write_buffer(ci, sidx, &sb);

	if (rc)
		return rc;
	was_dirty = sb->dirty.n > 0;
	rc = sbuf_alloc_data(ci, sb);
	if (rc == 0)
		rc = wfs_ranges_add(&sb->dirty, soff, soff + len);
	if (rc) {
		wfs_sbuf_unuse(sb);
		return rc;
	}
	if (soff > sb->len)
		memset(sb->data + sb->len, 0, soff - sb->len);
	memcpy(sb->data + soff, src, len);
	if (soff + len > sb->len)
		sb->len = (uint32_t)(soff + len);
	if (!was_dirty)
		ci->ndirty++;
	sb->used = ++ci->tick;
	if (sbuf_full(ci, sb))
		wfs_sbuf_queue_flush(ci, sb);
	wfs_sbuf_unuse(sb);
	return 0;
}

/* Writers wait while too many stripes are in flight, and push the oldest
 * dirty buffers out when too many are dirty. */
static void throttle(struct cinode *ci)
{
	unsigned max = ci->c->opts.stripes_in_flight;

	while (ci->ndirty > 2 * max + ci->inflight) {
		struct sbuf *old = NULL;

		for (struct sbuf *sb = ci->bufs; sb; sb = sb->next)
			if (sb->dirty.n && !sb->queued && !sb->flushing &&
			    (!old || sb->used < old->used))
				old = sb;
		if (!old)
			break;
		wfs_sbuf_queue_flush(ci, old);
	}
	while (ci->inflight > max)
		pthread_cond_wait(&ci->cond, &ci->lock);
}

ssize_t wfs_file_write(struct wfs_file *f, const void *buf, size_t len,
		       uint64_t off)
{
	struct cinode *ci = f->ci;
	uint64_t done = 0;
	int rc = 0;

	pthread_mutex_lock(&ci->lock);
	if (ci->wb_error) {
		rc = ci->wb_error;
		ci->wb_error = 0;
		goto out_unlock;
	}
	if (off == WFS_FILE_END)
		off = ci->size;
	if (off + len < off || off + len > (uint64_t)INT64_MAX) {
		rc = -EFBIG;
		goto out_unlock;
	}
	ci->cred = f->cred;
	while (done < len) {
		uint64_t pos = off + done;
		uint64_t sidx = pos / ci->span, soff = pos % ci->span;
		uint64_t l = ci->span - soff < len - done ? ci->span - soff
							  : len - done;

		rc = write_piece(ci, sidx, soff, l,
				 (const unsigned char *)buf + done);
		if (rc)
			break;
		done += l;
		if (off + done > ci->size)
			ci->size = off + done;
	}
	if (done)
		ci->wtime_ns = now_ns();
	throttle(ci);
out_unlock:
	pthread_mutex_unlock(&ci->lock);
	return done ? (ssize_t)done : rc;
}

/* ---- flush, truncate, attributes ---- */

int wfs_file_flush(struct wfs_file *f)
{
	struct cinode *ci = f->ci;
	int rc;

	pthread_mutex_lock(&ci->lock);
	rc = wfs_cinode_flush_all(ci);
	pthread_mutex_unlock(&ci->lock);
	return rc;
}

int wfs_file_fsync(struct wfs_file *f, bool datasync)
{
	int settled, rc;

	(void)datasync;
	/* The file's own create may still be queued (answered early): what
	 * is queued is applied first, as a journalling file system commits
	 * its journal on fsync, and a failure among it is reported here
	 * too.  Then a commit is durable once acknowledged (the chunks were
	 * synced by their nodes, the layout by the metadata log): flushing
	 * is all. */
	settled = wfs_client_settle(f->ci->c);
	rc = wfs_file_flush(f);
	return rc ? rc : settled;
}

/* The server says @a: if it changed and this client holds nothing
 * unwritten, what is cached here may be stale: drop it.  With nothing
 * unwritten the size here must be the server's too: a commit's reply can
 * bring the server's new attributes (after another client's truncate)
 * while this client still counts the size it had seen. */
static void refresh(struct cinode *ci, const struct wfs_attr *a)
{
	bool pending = ci->ndirty || ci->inflight;

	if (!ci->inited) {
		ci->span = a->blksize ? a->blksize : WFS_DEFAULT_SPAN;
		ci->size = ci->server_size = a->size;
		ci->attr = *a;
		ci->inited = true;
		return;
	}
	if (!pending && (a->mtime_ns != ci->attr.mtime_ns ||
			 a->size != ci->attr.size || a->size != ci->size)) {
		struct sbuf *sb = ci->bufs, *next;

		for (; sb; sb = next) {
			next = sb->next;
			if (!sb->flushing && !sb->loading)
				sbuf_drop(ci, sb);
		}
		wfs_layout_clear(&ci->layout);
		ci->layout_gen++;
		ci->size = ci->server_size = a->size;
		ci->attr = *a;
	}
	wfs_cinode_take_attr(ci, a);
}

void wfs_file_merge_attr(struct wfs_client *c, struct wfs_attr *a)
{
	struct cinode *ci = ci_get(c, a->ino, false);

	if (!ci)
		return;
	pthread_mutex_lock(&ci->lock);
	if (ci->inited) {
		refresh(ci, a);
		if (ci->size > a->size) {
			a->bytes += ci->size - a->size;
			a->size = ci->size;
		}
		if (ci->wtime_ns > a->mtime_ns)
			a->mtime_ns = a->ctime_ns = ci->wtime_ns;
	}
	pthread_mutex_unlock(&ci->lock);
	wfs_cinode_put(ci);
}

/* Truncate to set->size with everything else @set says (ci->lock held). */
static int truncate_locked(struct cinode *ci, const struct wfs_cred *cred,
			   const struct wfs_setattr *set,
			   struct wfs_attr *attr)
{
	uint64_t size = set->size;
	struct sbuf *sb, *next;
	int rc;

	/* Flushes running past the new size would bring data back after
	 * it: let them finish, drop what lies past, write what stays. */
	while (ci->inflight)
		pthread_cond_wait(&ci->cond, &ci->lock);
	for (sb = ci->bufs; sb; sb = next) {
		next = sb->next;
		if (sb->sidx * ci->span >= size)
			sbuf_drop(ci, sb);
	}
	/* Flushing waits with ci->lock released, and a write may land in
	 * the meantime: the buffers dropped below must hold nothing that is
	 * not committed, so flush until nothing is dirty. */
	do
		rc = wfs_cinode_flush_all(ci);
	while (rc == 0 && ci->ndirty);
	if (rc)
		return rc;
	rc = wfs_meta_setattr(ci->c, cred, ci->ino, set, attr);
	if (rc)
		return rc;
	/* What is left is clean: drop every buffer the cut reaches. */
	for (sb = ci->bufs; sb; sb = next) {
		next = sb->next;
		if ((sb->sidx + 1) * ci->span > size)
			sbuf_drop(ci, sb);
	}
	wfs_layout_truncate(&ci->layout, size, ci->span);
	ci->layout_gen++;
	ci->size = ci->server_size = size;
	ci->ra_next = 0;
	ci->attr = *attr;
	return 0;
}

int wfs_file_truncate(struct wfs_file *f, const struct wfs_cred *cred,
		      uint64_t size, struct wfs_attr *attr)
{
	struct wfs_setattr set = { .valid = WFS_SET_SIZE, .size = size };
	struct cinode *ci = f->ci;
	struct wfs_attr tmp;
	int rc;

	pthread_mutex_lock(&ci->lock);
	rc = truncate_locked(ci, cred, &set, attr ? attr : &tmp);
	pthread_mutex_unlock(&ci->lock);
	return rc;
}

int wfs_file_setattr(struct wfs_client *c, const struct wfs_cred *cred,
		     uint64_t ino, const struct wfs_setattr *set,
		     struct wfs_attr *attr)
{
	struct cinode *ci = ci_get(c, ino, false);
	int rc;

	if (!ci)
		return 1;
	pthread_mutex_lock(&ci->lock);
	if (!ci->inited) {
		rc = 1;
	} else if (set->valid & WFS_SET_SIZE) {
		rc = truncate_locked(ci, cred, set, attr);
	} else {
		rc = wfs_cinode_flush_all(ci);
		if (rc == 0)
			rc = wfs_meta_setattr(c, cred, ino, set, attr);
		if (rc == 0)
			wfs_cinode_take_attr(ci, attr);
	}
	pthread_mutex_unlock(&ci->lock);
	wfs_cinode_put(ci);
	return rc;
}

void wfs_file_getattr(struct wfs_file *f, struct wfs_attr *attr)
{
	struct cinode *ci = f->ci;

	pthread_mutex_lock(&ci->lock);
	*attr = ci->attr;
	if (ci->size > attr->size) {
		attr->bytes += ci->size - attr->size;
		attr->size = ci->size;
	}
	if (ci->wtime_ns > attr->mtime_ns)
		attr->mtime_ns = attr->ctime_ns = ci->wtime_ns;
	pthread_mutex_unlock(&ci->lock);
}

uint64_t wfs_file_ino(const struct wfs_file *f)
{
	return f->ci->ino;
}

/* ---- open and close ---- */

static int check_type(uint32_t mode)
{
	if (S_ISDIR(mode))
		return -EISDIR;
	return S_ISREG(mode) ? 0 : -EINVAL;
}

static int attach(struct cinode *ci, const struct wfs_cred *cred, int flags,
		  struct wfs_file **out)
{
	struct wfs_file *f = wfs_calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	f->ci = ci;
	f->flags = flags;
	f->cred = *cred;
	pthread_mutex_lock(&ci->lock);
	f->next = ci->files;
	ci->files = f;
	ci->nopen++;
	if ((flags & O_ACCMODE) != O_RDONLY || !ci->cred.pid)
		ci->cred = *cred;
	pthread_mutex_unlock(&ci->lock);
	*out = f;
	return 0;
}

/* Fresh attributes and the start of the layout, for an open.  An open for
 * reading also asks for the bytes of a small file (Stripe.first_copy):
 * its first read then needs no call of its own. */
static int open_fetch(struct cinode *ci, const struct wfs_cred *cred,
		      int flags, struct wfs_attr *attr)
{
	uint32_t copy_max = (flags & O_ACCMODE) == O_WRONLY ||
					    (flags & WFS_O_CACHED)
				    ? 0 : WFS_FIRST_COPY_MAX;
	struct wfs_lstripe **v;
	uint64_t to, gen;
	unsigned n;
	int rc;

	pthread_mutex_lock(&ci->lock);
	gen = ci->layout_gen;
	pthread_mutex_unlock(&ci->lock);
	rc = wfs_layout_fetch(ci->c, cred, ci->ino, 0, LAYOUT_OPEN, copy_max,
			      &v, &n, &to, attr);
	if (rc)
		return rc;
	rc = check_type(attr->mode);
	pthread_mutex_lock(&ci->lock);
	if (rc == 0) {
		refresh(ci, attr);
		if (gen == ci->layout_gen) {
			rc = wfs_layout_merge(&ci->layout, 0, to, v, n);
			n = 0;
		}
	}
	pthread_mutex_unlock(&ci->lock);
	for (unsigned i = 0; i < n; i++)
		wfs_free(v[i]);
	wfs_free(v);
	return rc;
}

/* Open with O_TRUNC: the truncation's answer brings fresh attributes, and
 * the layout of an empty file is known without asking. */
static int open_truncate(struct cinode *ci, const struct wfs_cred *cred,
			 struct wfs_attr *attr)
{
	struct wfs_setattr set = { .valid = WFS_SET_SIZE, .size = 0 };
	int rc;

	pthread_mutex_lock(&ci->lock);
	if (ci->inited) {
		rc = truncate_locked(ci, cred, &set, attr);
	} else {
		rc = wfs_meta_setattr(ci->c, cred, ci->ino, &set, attr);
		if (rc == 0)
			rc = check_type(attr->mode);
		if (rc == 0) {
			refresh(ci, attr);
			wfs_layout_clear(&ci->layout);
			ci->layout_gen++;
			rc = wfs_ranges_add(&ci->layout.known, 0, UINT64_MAX);
		}
	}
	pthread_mutex_unlock(&ci->lock);
	return rc;
}

int wfs_file_open(struct wfs_client *c, const struct wfs_cred *cred,
		  uint64_t ino, int flags, struct wfs_attr *attr,
		  struct wfs_file **out)
{
	struct cinode *ci = ci_get(c, ino, true);
	struct wfs_attr tmp;
	int rc;

	*out = NULL;
	if (!ci)
		return -ENOMEM;
	if (!attr)
		attr = &tmp;
	if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY)
		rc = open_truncate(ci, cred, attr);
	else
		rc = open_fetch(ci, cred, flags, attr);
	if (rc == 0)
		rc = attach(ci, cred, flags & ~WFS_O_CACHED, out);
	if (rc)
		wfs_cinode_put(ci);
	return rc;
}

/* Create @name in @parent now, as open(2) @flags say; the node's answer
 * into *attr and *created. */
static int create_call(struct wfs_client *c, const struct wfs_cred *cred,
		       uint64_t parent, const char *name, uint32_t mode,
		       int flags, struct wfs_attr *attr, bool *created)
{
	Wormfs__CreateRequest req = WORMFS__CREATE_REQUEST__INIT;
	Wormfs__Caller caller = WORMFS__CALLER__INIT;
	Wormfs__CreateReply *r = NULL;
	int rc;

	wfs_caller_fill(c, &caller, cred);
	req.caller = &caller;
	req.parent = parent;
	req.name.data = (uint8_t *)name;
	req.name.len = strlen(name);
	req.mode = mode;
	req.flags = (uint32_t)flags;
	rc = wfs_meta_call(c, WFS_M_META("Create"), &req.base,
			   &wormfs__create_reply__descriptor,
			   (ProtobufCMessage **)&r, 0);
	wfs_name_changed(c, parent, name);
	if (rc)
		return rc;
	if (!r->attr) {
		rc = -EPROTO;
	} else {
		wfs_attr_from_pb(attr, r->attr);
		*created = r->created;
	}
	wfs_rpc_msg_free(&r->base);
	return rc;
}

/* Create @name in @parent: answered here when its directory's lease
 * allows (client/behind_internal.h), else by the node.  *made says
 * whether the file is new. */
static int create(struct wfs_client *c, const struct wfs_cred *cred,
		  uint64_t parent, const char *name, uint32_t mode, int flags,
		  struct wfs_attr *attr, bool *made, bool *early)
{
	int rc;

	if ((mode & S_IFMT) == 0 || S_ISREG(mode)) {
		rc = wfs_behind_create(c, cred, parent, name, mode, attr);
		if (rc <= 0) {
			*made = *early = rc == 0;
			return rc;
		}
	}
	rc = create_call(c, cred, parent, name, mode, flags, attr, made);
	wfs_leases_created_sync(c->leases, cred, parent, rc, attr, *made);
	return rc;
}

int wfs_file_create(struct wfs_client *c, const struct wfs_cred *cred,
		    uint64_t parent, const char *name, uint32_t mode,
		    int flags, struct wfs_attr *attr, bool *created,
		    struct wfs_file **out)
{
	struct wfs_attr tmp;
	struct cinode *ci;
	bool made = false, early = false;
	int rc;

	*out = NULL;
	if (!attr)
		attr = &tmp;
	rc = create(c, cred, parent, name, mode, flags, attr, &made, &early);
	if (rc)
		return rc;
	if (created)
		*created = made;
	rc = check_type(attr->mode);
	if (rc)
		return rc;
	ci = ci_get(c, attr->ino, true);
	if (!ci)
		return -ENOMEM;
	pthread_mutex_lock(&ci->lock);
	refresh(ci, attr);
	if (early)
		ci->created_in = parent;
	if ((made || (flags & O_TRUNC)) && !ci->bufs) {
		/* Empty: nothing to fetch, ever. */
		wfs_layout_clear(&ci->layout);
		rc = wfs_ranges_add(&ci->layout.known, 0, UINT64_MAX);
	} else if (!made && (flags & O_TRUNC)) {
		/* Truncated by the node while buffers of an open handle
		 * here still held data: truncate those too. */
		struct wfs_setattr set = { .valid = WFS_SET_SIZE, .size = 0 };

		rc = truncate_locked(ci, cred, &set, attr);
	}
	pthread_mutex_unlock(&ci->lock);
	if (rc == 0)
		rc = attach(ci, cred, flags, out);
	if (rc)
		wfs_cinode_put(ci);
	return rc;
}

/* Detach @f from its cinode; on the last handle, drop everything
 * unwritten.  ci->lock held. */
static void detach(struct cinode *ci, struct wfs_file *f)
{
	struct wfs_file **pp = &ci->files;

	while (*pp != f)
		pp = &(*pp)->next;
	*pp = f->next;
	wfs_free(f);
	if (--ci->nopen)
		return;
	for (struct sbuf *sb = ci->bufs, *next; sb; sb = next) {
		next = sb->next;
		if (sb->dirty.n)
			wfs_log_error("client", "inode %" PRIu64 " stripe %"
				      PRIu64 ": unwritten data dropped at "
				      "close", ci->ino, sb->sidx);
		if (!sb->flushing && !sb->loading)
			sbuf_drop(ci, sb);
	}
}

int wfs_file_close(struct wfs_file *f)
{
	struct cinode *ci;
	int rc;

	if (!f)
		return 0;
	ci = f->ci;
	pthread_mutex_lock(&ci->lock);
	rc = wfs_cinode_flush_all(ci);
	detach(ci, f);
	pthread_mutex_unlock(&ci->lock);
	wfs_cinode_put(ci);
	return rc;
}

void wfs_file_close_all(struct wfs_client *c)
{
	for (;;) {
		struct cinode *ci = NULL;

		pthread_mutex_lock(&c->itab_lock);
		for (unsigned i = 0; i < c->itab_size && !ci; i++)
			for (ci = c->itab[i]; ci && !ci->files; ci = ci->hnext)
				;
		if (ci)
			ci->refs++;
		pthread_mutex_unlock(&c->itab_lock);
		if (!ci)
			return;
		while (ci->files)
			wfs_file_close(ci->files);
		wfs_cinode_put(ci);
	}
}
