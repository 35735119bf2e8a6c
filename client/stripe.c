/* client/stripe: parallel chunk reads with verification and reconstruction,
 * parallel encoded chunk writes with quorum accounting (see
 * stripe_internal.h).
 *
 * Every chunk call of an EC read or of a write is one task on io->pool; a
 * read or write submits its tasks, waits for the batch, then looks at each
 * result (a replica read calls the copies one at a time itself).  Reads go in
 * rounds: first the chunks wanted, then, if some failed, just enough other
 * chunks to have k good ones, and again if some of those fail, until the
 * stripe is rebuilt or there is nothing left to try.
 */
#include "client/stripe_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "client/geom_internal.h"
#include "erasure/crc32c.h"
#include "log/log.h"
#include "mem/mem.h"

struct wfs_lstripe *wfs_lstripe_new(unsigned nchunks)
{
	return wfs_calloc(1, sizeof(struct wfs_lstripe) +
				     nchunks * sizeof(struct wfs_lchunk));
}

struct wfs_lstripe *wfs_lstripe_dup(const struct wfs_lstripe *s)
{
	return wfs_memdup(s, sizeof(*s) + s->nchunks * sizeof(s->chunks[0]));
}

int wfs_stripe_check_chunk(const struct wfs_lstripe *s, unsigned index,
			   const struct wfs_chunk_hdr *h, const void *data,
			   size_t len)
{
	/* A node may not know the chunk size (it cannot always recover it
	 * from what its disk header keeps) and then sends 0. */
	if (h->stripe_id != s->stripe_id || h->version != s->version ||
	    h->index != index || h->kind != s->kind || h->k != s->k ||
	    h->m != s->m || (h->chunk_size && h->chunk_size != s->chunk_size) ||
	    h->data_length != len)
		return -EBADMSG;
	if (s->kind == WFS_KIND_EC ? len != s->chunk_size : len < s->length)
		return -EBADMSG;
	if (wfs_crc32c(0, data, len) != h->data_crc32c)
		return -EBADMSG;
	return 0;
}

/* One chunk call of a read or write round. */
struct chunk_job {
	struct wfs_task task;
	struct wfs_batch *batch;
	const struct wfs_chunk_io *io;
	uint64_t ino;
	struct wfs_lstripe *s;	/* the stripe (read: not modified) */
	unsigned index;		/* chunk index */
	unsigned char *buf;	/* read: destination; write: data */
	size_t cap;		/* read: room in buf; write: bytes */
	struct wfs_chunk_hdr hdr; /* write: what to send */
	int rc;
};

static const char *kind_name(uint32_t kind)
{
	return kind == WFS_KIND_EC ? "ec" : "replica";
}

/* Read chunk @index of @s into @buf and check it against the stripe. */
static int read_chunk(const struct wfs_chunk_io *io, uint64_t ino,
		      const struct wfs_lstripe *s, unsigned index,
		      unsigned char *buf, size_t cap)
{
	struct wfs_chunk_hdr hdr;
	size_t len = 0;
	int rc;

	rc = io->read(io->arg, ino, s, &s->chunks[index], &hdr, buf, cap,
		      &len);
	if (rc == 0)
		rc = wfs_stripe_check_chunk(s, index, &hdr, buf, len);
	if (rc)
		wfs_log_warn("client",
			     "inode %" PRIu64 " stripe %" PRIu64 " (id %" PRIx64
			     " v%" PRIu64 ") chunk %u: read failed: %s",
			     ino, s->sidx, s->stripe_id, s->version, index,
			     strerror(-rc));
	return rc;
}

static void read_job(struct wfs_task *t)
{
	struct chunk_job *j = (struct chunk_job *)t;

	j->rc = read_chunk(j->io, j->ino, j->s, j->index, j->buf, j->cap);
	wfs_batch_done(j->batch);
}

/* Read the chunks of @jobs[0..n) in parallel; their rc say how it went. */
static void run_jobs(const struct wfs_chunk_io *io, struct chunk_job *jobs,
		     unsigned n, wfs_task_fn fn)
{
	struct wfs_batch batch;

	wfs_batch_init(&batch);
	for (unsigned i = 0; i < n; i++) {
		jobs[i].batch = &batch;
		wfs_batch_add(&batch);
		wfs_pool_submit(io->pool, &jobs[i].task, fn);
	}
	wfs_batch_wait(&batch);
	wfs_batch_release(&batch);
}

static void job_init(struct chunk_job *j, const struct wfs_chunk_io *io,
		     uint64_t ino, const struct wfs_lstripe *s, unsigned index,
		     unsigned char *buf, size_t cap)
{
	memset(j, 0, sizeof(*j));
	j->io = io;
	j->ino = ino;
	j->s = (struct wfs_lstripe *)s;
	j->index = index;
	j->buf = buf;
	j->cap = cap;
}

static bool chunk_known(const struct wfs_lstripe *s, unsigned i)
{
	return i < s->nchunks && s->chunks[i].state == WFS_CHUNK_OK &&
	       s->chunks[i].node;
}

/* Replica: the copies in turn, starting at one picked by the stripe index
 * so that reads of a file spread over its copies. */
static int read_replica(const struct wfs_chunk_io *io, uint64_t ino,
			const struct wfs_lstripe *s, unsigned char *out,
			size_t cap)
{
	unsigned n = s->nchunks;

	if (cap < s->length)
		return -EINVAL;
	/* One copy at a time, in this thread: handing the call to a pool
	 * worker would only add a wake-up to every small-file read. */
	for (unsigned t = 0; t < n; t++) {
		unsigned i = (unsigned)((s->sidx + t) % n);

		if (chunk_known(s, i) &&
		    read_chunk(io, ino, s, i, out, cap) == 0)
			return 0;
	}
	wfs_log_error("client",
		      "inode %" PRIu64 " stripe %" PRIu64 ": no readable replica",
		      ino, s->sidx);
	return -EIO;
}

/* State of an EC read: which chunks are good, failed, or not yet tried,
 * and where each one's bytes are. */
struct ec_read {
	uint32_t good, failed, tried;
	unsigned char *bufs[WFS_STRIPE_MAX_CHUNKS];
	unsigned char *scratch;	/* chunk_size * (k + m), for extra chunks */
};

/* Read the chunks of @mask in parallel; mark them good or failed. */
static void ec_round(const struct wfs_chunk_io *io, uint64_t ino,
		     const struct wfs_lstripe *s, struct ec_read *r,
		     uint32_t mask)
{
	struct chunk_job jobs[WFS_STRIPE_MAX_CHUNKS];
	unsigned n = 0, idx[WFS_STRIPE_MAX_CHUNKS];

	for (unsigned i = 0; i < s->k + s->m; i++) {
		if (!(mask & (1u << i)))
			continue;
		r->tried |= 1u << i;
		if (!chunk_known(s, i)) {
			r->failed |= 1u << i;
			continue;
		}
		job_init(&jobs[n], io, ino, s, i, r->bufs[i], s->chunk_size);
		idx[n++] = i;
	}
	run_jobs(io, jobs, n, read_job);
	for (unsigned j = 0; j < n; j++) {
		if (jobs[j].rc == 0)
			r->good |= 1u << idx[j];
		else
			r->failed |= 1u << idx[j];
	}
}

/* Up to @count untried chunks, in index order, given scratch buffers. */
static uint32_t pick_extra(const struct wfs_lstripe *s, struct ec_read *r,
			   unsigned count)
{
	uint32_t mask = 0;

	for (unsigned i = 0; i < s->k + s->m && count; i++) {
		if (r->tried & (1u << i))
			continue;
		r->bufs[i] = r->scratch + (size_t)i * s->chunk_size;
		mask |= 1u << i;
		count--;
	}
	return mask;
}

static int read_ec(const struct wfs_chunk_io *io, struct wfs_ec *ec,
		   uint64_t ino, const struct wfs_lstripe *s, uint32_t want,
		   unsigned char *const *out)
{
	struct ec_read r;
	uint32_t lost;
	int rc;

	memset(&r, 0, sizeof(r));
	for (unsigned j = 0; j < s->k; j++)
		if (want & (1u << j))
			r.bufs[j] = out[j];
	ec_round(io, ino, s, &r, want);
	lost = want & r.failed;
	if (!lost)
		return 0;
	r.scratch = wfs_malloc((size_t)(s->k + s->m) * s->chunk_size);
	if (!r.scratch)
		return -ENOMEM;
	while ((unsigned)__builtin_popcount(r.good) < s->k) {
		uint32_t more = pick_extra(s, &r, s->k - __builtin_popcount(r.good));

		if (!more)
			break;
		ec_round(io, ino, s, &r, more);
	}
	if ((unsigned)__builtin_popcount(r.good) < s->k) {
		wfs_log_error("client",
			      "inode %" PRIu64 " stripe %" PRIu64
			      ": %d of %u chunks readable, cannot rebuild",
			      ino, s->sidx, __builtin_popcount(r.good), s->k);
		rc = -EIO;
		goto out_free;
	}
	/* Survivors are the good chunks; outputs the lost wanted ones; every
	 * other chunk is NULL (not wanted, not used). */
	{
		unsigned char *chunks[WFS_STRIPE_MAX_CHUNKS] = { 0 };

		for (unsigned i = 0; i < s->k + s->m; i++)
			if ((r.good | lost) & (1u << i))
				chunks[i] = r.bufs[i];
		rc = wfs_ec_reconstruct(ec, s->chunk_size, chunks, lost);
	}
	if (rc == 0)
		wfs_log_warn("client",
			     "inode %" PRIu64 " stripe %" PRIu64
			     ": rebuilt chunks 0x%x from the others", ino,
			     s->sidx, lost);
	else
		rc = rc == -ENOMEM ? rc : -EIO;
out_free:
	wfs_free(r.scratch);
	return rc;
}

int wfs_stripe_read(const struct wfs_chunk_io *io, struct wfs_ec *ec,
		    uint64_t ino, const struct wfs_lstripe *s, uint32_t want,
		    unsigned char *const *out, size_t cap)
{
	if (s->kind == WFS_KIND_REPLICA) {
		if (want != 1 || s->nchunks == 0)
			return -EINVAL;
		return read_replica(io, ino, s, out[0], cap);
	}
	if (s->kind != WFS_KIND_EC || s->k == 0 || s->k > WFS_EC_MAX_K ||
	    s->m > WFS_EC_MAX_M || s->nchunks < s->k + s->m ||
	    (want >> s->k) || !ec || wfs_ec_k(ec) != s->k ||
	    wfs_ec_m(ec) != s->m)
		return -EINVAL;
	return read_ec(io, ec, ino, s, want, out);
}

static void write_job(struct wfs_task *t)
{
	struct chunk_job *j = (struct chunk_job *)t;
	struct wfs_lchunk *c = &j->s->chunks[j->index];

	j->hdr.data_crc32c = wfs_crc32c(0, j->buf, j->cap);
	j->rc = c->node ? j->io->write(j->io->arg, c, &j->hdr, j->buf, j->cap)
			: -EHOSTUNREACH;
	if (j->rc)
		wfs_log_warn("client",
			     "inode %" PRIu64 " stripe %" PRIu64 " (id %" PRIx64
			     " v%" PRIu64 ") chunk %u: write failed: %s",
			     j->ino, j->s->sidx, j->s->stripe_id,
			     j->s->version, j->index, strerror(-j->rc));
	wfs_batch_done(j->batch);
}

/* Header fields common to every chunk of @s. */
static void stripe_hdr(uint64_t ino, const struct wfs_lstripe *s,
		       struct wfs_chunk_hdr *h)
{
	memset(h, 0, sizeof(*h));
	h->stripe_id = s->stripe_id;
	h->version = s->version;
	h->ino = ino;
	h->sidx = s->sidx;
	h->kind = s->kind;
	h->k = s->k;
	h->m = s->m;
	h->chunk_size = s->chunk_size;
	h->stripe_length = s->length;
}

/* Where chunk @i's bytes are: the data itself, a slice of it (EC data
 * chunks) or a parity buffer. */
static unsigned char *chunk_bytes(const struct wfs_lstripe *s,
				  const unsigned char *data,
				  unsigned char *parity, unsigned i)
{
	if (s->kind == WFS_KIND_REPLICA)
		return (unsigned char *)data;
	if (i < s->k)
		return (unsigned char *)data + (size_t)i * s->chunk_size;
	return parity + (size_t)(i - s->k) * s->chunk_size;
}

static int encode(struct wfs_ec *ec, const struct wfs_lstripe *s,
		  const unsigned char *data, unsigned char *parity)
{
	unsigned char *d[WFS_EC_MAX_K], *p[WFS_EC_MAX_M];

	if (!ec || wfs_ec_k(ec) != s->k || wfs_ec_m(ec) != s->m)
		return -EINVAL;
	for (unsigned i = 0; i < s->k; i++)
		d[i] = chunk_bytes(s, data, parity, i);
	for (unsigned i = 0; i < s->m; i++)
		p[i] = chunk_bytes(s, data, parity, s->k + i);
	return wfs_ec_encode(ec, s->chunk_size, d, p);
}

/* The error of a write that missed its quorum: -ENOSPC or -EINVAL when
 * every failure was that, else -EIO. */
static int quorum_error(const struct chunk_job *jobs, unsigned n)
{
	int first = 0;

	for (unsigned i = 0; i < n; i++) {
		if (!jobs[i].rc)
			continue;
		if (!first)
			first = jobs[i].rc;
		if (jobs[i].rc != first)
			return -EIO;
	}
	return first == -ENOSPC || first == -EINVAL ? first : -EIO;
}

int wfs_stripe_write(const struct wfs_chunk_io *io, struct wfs_ec *ec,
		     uint64_t ino, struct wfs_lstripe *s,
		     const unsigned char *data)
{
	struct chunk_job jobs[WFS_STRIPE_MAX_CHUNKS];
	unsigned char *parity = NULL;
	unsigned n = wfs_geom_nchunks(s->kind, s->k, s->m), ok = 0;
	size_t clen = s->kind == WFS_KIND_EC ? s->chunk_size : s->length;
	int rc;

	if (n > WFS_STRIPE_MAX_CHUNKS || s->nchunks < n || s->k == 0)
		return -EINVAL;
	if (s->kind == WFS_KIND_EC) {
		parity = wfs_malloc((size_t)s->m * s->chunk_size);
		if (!parity)
			return -ENOMEM;
		rc = encode(ec, s, data, parity);
		if (rc)
			goto out_free;
	}
	for (unsigned i = 0; i < n; i++) {
		job_init(&jobs[i], io, ino, s, i,
			 chunk_bytes(s, data, parity, i), clen);
		stripe_hdr(ino, s, &jobs[i].hdr);
		jobs[i].hdr.index = i;
		jobs[i].hdr.data_length = (uint32_t)clen;
	}
	run_jobs(io, jobs, n, write_job);
	for (unsigned i = 0; i < n; i++) {
		s->chunks[i].index = i;
		s->chunks[i].state = jobs[i].rc ? WFS_CHUNK_MISSING
						: WFS_CHUNK_OK;
		ok += jobs[i].rc == 0;
	}
	rc = ok >= wfs_geom_write_quorum(s->kind, s->k, s->m)
		     ? 0 : quorum_error(jobs, n);
	if (rc)
		wfs_log_error("client",
			      "inode %" PRIu64 " stripe %" PRIu64 ": %u of %u %s"
			      " chunks written, below the write quorum",
			      ino, s->sidx, ok, n, kind_name(s->kind));
out_free:
	wfs_free(parity);
	return rc;
}
