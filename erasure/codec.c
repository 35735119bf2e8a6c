/* erasure/codec: Reed-Solomon encode and reconstruct on ISA-L, with a small
 * cache of decode tables per erasure pattern.
 *
 * Why a Cauchy matrix.  The generator is G = [I; C], identity over an m x k
 * matrix C.  Survivors S (any k rows of G) hold G_S * data, so data can be
 * recovered exactly when G_S is invertible, for every choice of S: the code
 * is MDS.  That holds iff every square submatrix of C is invertible.  For a
 * Cauchy matrix, C[i][j] = 1 / (x_i + y_j) with all x_i, y_j distinct, every
 * square submatrix is itself a Cauchy matrix, whose determinant is a product
 * of non-zero differences: never singular.  ISA-L's gf_gen_cauchy1_matrix
 * takes x_i = k + i, y_j = j (distinct since i, j < k + m <= 20 < 256).  Its
 * other generator, gf_gen_rs_matrix (Vandermonde-like powers), is not MDS for
 * every k and m: ISA-L's own documentation lists the pairs where some erasure
 * pattern is undecodable, so a stripe could be lost with only m chunks gone.
 *
 * Decoding.  With survivors S and wanted chunks W, data = inv(G_S) * y_S; a
 * wanted data chunk i is row i of inv(G_S) applied to the survivors, a
 * wanted parity chunk i is G[i] * inv(G_S) applied to them.  Those |W| rows
 * are expanded by ec_init_tables into 32 bytes per coefficient and one
 * ec_encode_data pass produces every wanted chunk.  Inverting and expanding
 * costs a few microseconds; it is cached per (S, W) so that reading a
 * degraded stripe costs the coding alone.
 *
 * The cache is a fixed array of slots scanned under ec->lock: with a few
 * dozen slots a linear scan of contiguous keys is as fast as any hash
 * table and needs no bookkeeping; least recently used is evicted.  Cached
 * tables are immutable and reference-counted (one reference for the cache,
 * one per call using them), so a call codes outside the lock and an
 * eviction never frees tables under a running ec_encode_data.
 */
#include "erasure/codec.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <isa-l/erasure_code.h>

#include "log/log.h"
#include "mem/mem.h"

#define MAX_CHUNKS (WFS_EC_MAX_K + WFS_EC_MAX_M)

/* Patterns kept.  A failure usually shows one pattern per lost set of
 * chunks (one dead disk or node is at most a handful); 64 covers several
 * concurrent failures at 2 KiB of tables each at worst (16+4, 4 wanted). */
#define CACHE_SLOTS 64

/* ISA-L takes an int length: longer buffers are coded in pieces of at most
 * this many bytes (a multiple of 64 so the pieces keep the buffers'
 * alignment). */
#define PIECE_MAX ((size_t)INT_MAX & ~(size_t)63)

/* The expanded decode coefficients of one pattern. */
struct dec_tables {
	atomic_uint refs;	/* the cache's reference + one per user */
	_Alignas(64) unsigned char tbls[]; /* 32 * k * |W| from ec_init_tables */
};

struct cache_slot {
	uint64_t key;		/* survivors << 32 | wanted; 0 for an empty slot */
	uint64_t last_used;	/* ec->clock when last found */
	struct dec_tables *t;	/* holds one reference */
};

struct wfs_ec {
	unsigned k, m;
	/* (k + m) x k generator, row-major: identity, then the Cauchy rows. */
	unsigned char gen[MAX_CHUNKS * WFS_EC_MAX_K];
	/* The parity rows expanded for ec_encode_data; immutable after new. */
	_Alignas(64) unsigned char enc_tbls[32 * WFS_EC_MAX_K * WFS_EC_MAX_M];
	pthread_mutex_t lock;
	uint64_t clock;				/* protected by lock */
	struct cache_slot slots[CACHE_SLOTS];	/* protected by lock */
};

int wfs_ec_new(unsigned k, unsigned m, struct wfs_ec **out)
{
	struct wfs_ec *ec;
	int rc;

	if (k < 1 || k > WFS_EC_MAX_K || m < 1 || m > WFS_EC_MAX_M || !out)
		return -EINVAL;
	ec = wfs_aligned_alloc(64, sizeof(*ec));
	if (!ec)
		return -ENOMEM;
	memset(ec, 0, sizeof(*ec));
	ec->k = k;
	ec->m = m;
	gf_gen_cauchy1_matrix(ec->gen, (int)(k + m), (int)k);
	ec_init_tables((int)k, (int)m, ec->gen + k * k, ec->enc_tbls);
	rc = pthread_mutex_init(&ec->lock, NULL);
	if (rc != 0) {
		wfs_free(ec);
		return -rc;
	}
	*out = ec;
	return 0;
}

static void tables_put(struct dec_tables *t)
{
	if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
		wfs_free(t);
}

void wfs_ec_free(struct wfs_ec *ec)
{
	if (!ec)
		return;
	for (unsigned i = 0; i < CACHE_SLOTS; i++)
		if (ec->slots[i].t)
			tables_put(ec->slots[i].t);
	pthread_mutex_destroy(&ec->lock);
	wfs_free(ec);
}

unsigned wfs_ec_k(const struct wfs_ec *ec)
{
	return ec->k;
}

unsigned wfs_ec_m(const struct wfs_ec *ec)
{
	return ec->m;
}

size_t wfs_ec_chunk_len(unsigned k, size_t stripe_len)
{
	if (k == 0)
		return 0;
	/* Not (len + k - 1) / k, which overflows near SIZE_MAX. */
	return stripe_len / k + (stripe_len % k != 0);
}

/* Apply the @rows x @k coefficients expanded in @tbls to the @k buffers of
 * @src, writing @rows buffers of @dst; splits what ISA-L's int cannot
 * hold. */
static void code(unsigned k, unsigned rows, size_t len, unsigned char *tbls,
		 unsigned char *const *src, unsigned char *const *dst)
{
	unsigned char *s[WFS_EC_MAX_K], *d[WFS_EC_MAX_M];

	if (len <= PIECE_MAX) {
		/* ISA-L only reads the pointer arrays: the casts drop a const
		 * its prototype lacks. */
		ec_encode_data((int)len, (int)k, (int)rows, tbls,
			       (unsigned char **)src, (unsigned char **)dst);
		return;
	}
	for (size_t off = 0; off < len; off += PIECE_MAX) {
		size_t n = len - off < PIECE_MAX ? len - off : PIECE_MAX;

		for (unsigned i = 0; i < k; i++)
			s[i] = src[i] + off;
		for (unsigned i = 0; i < rows; i++)
			d[i] = dst[i] + off;
		ec_encode_data((int)n, (int)k, (int)rows, tbls, s, d);
	}
}

int wfs_ec_encode(const struct wfs_ec *ec, size_t len,
		  unsigned char *const *data, unsigned char *const *parity)
{
	if (!ec || !data || !parity || len == 0)
		return -EINVAL;
	for (unsigned i = 0; i < ec->k; i++)
		if (!data[i])
			return -EINVAL;
	for (unsigned i = 0; i < ec->m; i++)
		if (!parity[i])
			return -EINVAL;
	code(ec->k, ec->m, len, (unsigned char *)ec->enc_tbls, data, parity);
	return 0;
}

/* Compute the decode tables for survivors @surv (k bits) and wanted chunks
 * @want (1..m bits, none in @surv).  On success *out holds one reference.
 * Returns 0, -ENOMEM, or -EIO if the survivors' matrix were singular. */
static int tables_build(const struct wfs_ec *ec, uint32_t surv, uint32_t want,
			struct dec_tables **out)
{
	unsigned k = ec->k, n = ec->k + ec->m, r = 0, nout = 0;
	unsigned char b[WFS_EC_MAX_K * WFS_EC_MAX_K];
	unsigned char inv[WFS_EC_MAX_K * WFS_EC_MAX_K];
	unsigned char rows[WFS_EC_MAX_M * WFS_EC_MAX_K];
	struct dec_tables *t;

	for (unsigned i = 0; i < n; i++)
		if (surv & (1u << i))
			memcpy(b + k * r++, ec->gen + k * i, k);
	if (gf_invert_matrix(b, inv, (int)k) != 0) {
		/* Unreachable while the generator is Cauchy (see the top of
		 * this file); failing beats writing garbage if it ever is. */
		wfs_log_error("erasure", "%u+%u code: survivors %#x give a singular matrix",
			      k, ec->m, surv);
		return -EIO;
	}
	for (unsigned i = 0; i < n; i++) {
		unsigned char *row = rows + k * nout;

		if (!(want & (1u << i)))
			continue;
		nout++;
		if (i < k) {
			memcpy(row, inv + k * i, k);
			continue;
		}
		for (unsigned c = 0; c < k; c++) {
			unsigned char acc = 0;

			for (unsigned j = 0; j < k; j++)
				acc ^= gf_mul(ec->gen[k * i + j], inv[k * j + c]);
			row[c] = acc;
		}
	}
	t = wfs_aligned_alloc(64, sizeof(*t) + 32 * k * nout);
	if (!t)
		return -ENOMEM;
	atomic_init(&t->refs, 1);
	ec_init_tables((int)k, (int)nout, rows, t->tbls);
	*out = t;
	return 0;
}

/* Find @key in the cache and take a reference; NULL if absent.  Caller
 * holds ec->lock. */
static struct dec_tables *cache_find(struct wfs_ec *ec, uint64_t key)
{
	for (unsigned i = 0; i < CACHE_SLOTS; i++) {
		struct cache_slot *s = &ec->slots[i];

		if (s->key != key)
			continue;
		s->last_used = ++ec->clock;
		atomic_fetch_add_explicit(&s->t->refs, 1, memory_order_relaxed);
		return s->t;
	}
	return NULL;
}

/* Put @t (built for @key, one reference owned by the caller) in the cache,
 * evicting the least recently used slot if none is free.  If another thread
 * cached @key meanwhile, @t is dropped and theirs returned instead.  The
 * result carries the caller's reference.  Caller holds ec->lock. */
static struct dec_tables *cache_insert(struct wfs_ec *ec, uint64_t key,
				       struct dec_tables *t)
{
	struct dec_tables *found = cache_find(ec, key);
	struct cache_slot *victim = &ec->slots[0];

	if (found) {
		tables_put(t);
		return found;
	}
	for (unsigned i = 0; i < CACHE_SLOTS && victim->t; i++)
		if (!ec->slots[i].t || ec->slots[i].last_used < victim->last_used)
			victim = &ec->slots[i];
	if (victim->t)
		tables_put(victim->t);
	atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
	*victim = (struct cache_slot){ key, ++ec->clock, t };
	return t;
}

/* The decode tables for (@surv, @want), from the cache or built and cached.
 * On success *out holds a reference the caller drops with tables_put. */
static int tables_get(struct wfs_ec *ec, uint32_t surv, uint32_t want,
		      struct dec_tables **out)
{
	uint64_t key = (uint64_t)surv << 32 | want;
	struct dec_tables *t;
	int rc;

	pthread_mutex_lock(&ec->lock);
	t = cache_find(ec, key);
	pthread_mutex_unlock(&ec->lock);
	if (t) {
		*out = t;
		return 0;
	}
	/* Built outside the lock: other patterns' lookups need not wait. */
	rc = tables_build(ec, surv, want, &t);
	if (rc != 0)
		return rc;
	pthread_mutex_lock(&ec->lock);
	*out = cache_insert(ec, key, t);
	pthread_mutex_unlock(&ec->lock);
	return 0;
}

int wfs_ec_reconstruct(struct wfs_ec *ec, size_t len,
		       unsigned char *const *chunks, uint32_t missing)
{
	unsigned char *src[WFS_EC_MAX_K], *dst[WFS_EC_MAX_M];
	unsigned n, nsrc = 0, ndst = 0;
	uint32_t surv = 0;
	struct dec_tables *t;
	int rc;

	if (!ec || !chunks || len == 0)
		return -EINVAL;
	n = ec->k + ec->m;
	if (missing >> n)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		if (missing & (1u << i)) {
			if (!chunks[i])
				return -EINVAL;
			if (ndst < ec->m)
				dst[ndst] = chunks[i];
			ndst++;
		} else if (chunks[i] && nsrc < ec->k) {
			src[nsrc++] = chunks[i];
			surv |= 1u << i;
		}
	}
	if (ndst == 0)
		return 0;
	/* More than m wanted leaves fewer than k survivors: caught here. */
	if (nsrc < ec->k)
		return -ENODATA;
	rc = tables_get(ec, surv, missing, &t);
	if (rc != 0)
		return rc;
	code(ec->k, ndst, len, t->tbls, src, dst);
	tables_put(t);
	return 0;
}
