/* Unit tests for the erasure codec, against a reference written here from
 * the definitions: GF(2^8) by log/antilog tables over x^8+x^4+x^3+x^2+1
 * (0x11d), the Cauchy generator by its formula, encoding by matrix product
 * and decoding by Gauss-Jordan elimination.  Covered: the generator matrix
 * (pinned: it is part of the on-disk format), every erasure pattern up to m
 * for a range of k+m, odd lengths, unaligned buffers, chunks that are absent
 * and not wanted, too many losses, bad arguments, allocation failure on a
 * cache miss, no allocation on a cache hit, LRU eviction, and several
 * threads reconstructing on one codec. */
#include "erasure/codec.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "mem/mem.h"
#include "tests/unit.h"

#define MAXN (WFS_EC_MAX_K + WFS_EC_MAX_M)

/* ---- reference GF(2^8) ---- */

static unsigned char gf_exp[510];
static unsigned char gf_log[256];

static int gf_setup(void)
{
	unsigned x = 1;

	for (int i = 0; i < 255; i++) {
		gf_exp[i] = (unsigned char)x;
		gf_log[x] = (unsigned char)i;
		x <<= 1;
		if (x & 0x100)
			x ^= 0x11d;
	}
	for (int i = 255; i < 510; i++)
		gf_exp[i] = gf_exp[i - 255];
	return 0;
}

static unsigned char gmul(unsigned char a, unsigned char b)
{
	if (a == 0 || b == 0)
		return 0;
	return gf_exp[gf_log[a] + gf_log[b]];
}

static unsigned char ginv(unsigned char a)
{
	return gf_exp[255 - gf_log[a]];
}

/* Row @i, column @j of the (k+m) x k generator: identity over the Cauchy
 * matrix 1 / (x_i + y_j) with x_i = i (i >= k) and y_j = j. */
static unsigned char ref_gen(unsigned k, unsigned i, unsigned j)
{
	if (i < k)
		return i == j;
	return ginv((unsigned char)(i ^ j));
}

/* dst ^= c * src over @len bytes. */
static void ref_axpy(unsigned char *dst, unsigned char c,
		     const unsigned char *src, size_t len)
{
	for (size_t b = 0; b < len; b++)
		dst[b] ^= gmul(c, src[b]);
}

static void ref_encode(unsigned k, unsigned m, size_t len,
		       unsigned char *const *chunk)
{
	for (unsigned p = k; p < k + m; p++) {
		memset(chunk[p], 0, len);
		for (unsigned j = 0; j < k; j++)
			ref_axpy(chunk[p], ref_gen(k, p, j), chunk[j], len);
	}
}

/* Recover the k data chunks into @x from the chunks @y[r] with indices
 * @surv[r] by Gauss-Jordan elimination on [G_S | y].  Returns 0, -1 if G_S
 * is singular or memory is short. */
static int ref_decode(unsigned k, const unsigned *surv,
		      unsigned char *const *y, size_t len, unsigned char **x)
{
	unsigned char a[WFS_EC_MAX_K][WFS_EC_MAX_K], *row[WFS_EC_MAX_K], *t;
	unsigned char *work = wfs_malloc(k * len);
	int rc = -1;

	if (!work)
		return -1;
	for (unsigned r = 0; r < k; r++) {
		for (unsigned c = 0; c < k; c++)
			a[r][c] = ref_gen(k, surv[r], c);
		row[r] = work + r * len;
		memcpy(row[r], y[r], len);
	}
	for (unsigned c = 0; c < k; c++) {
		unsigned p = c, s;
		unsigned char tmp[WFS_EC_MAX_K], f;

		while (p < k && a[p][c] == 0)
			p++;
		if (p == k)
			goto out_free_work;
		memcpy(tmp, a[p], k);
		memcpy(a[p], a[c], k);
		memcpy(a[c], tmp, k);
		t = row[p];
		row[p] = row[c];
		row[c] = t;
		f = ginv(a[c][c]);
		for (s = 0; s < k; s++)
			a[c][s] = gmul(f, a[c][s]);
		for (size_t b = 0; b < len; b++)
			row[c][b] = gmul(f, row[c][b]);
		for (unsigned r = 0; r < k; r++) {
			if (r == c || a[r][c] == 0)
				continue;
			f = a[r][c];
			for (s = 0; s < k; s++)
				a[r][s] ^= gmul(f, a[c][s]);
			ref_axpy(row[r], f, row[c], len);
		}
	}
	for (unsigned r = 0; r < k; r++)
		memcpy(x[r], row[r], len);
	rc = 0;
out_free_work:
	wfs_free(work);
	return rc;
}

/* ---- a stripe under test ---- */

struct stripe {
	unsigned k, m, n;
	size_t len;
	unsigned char *orig_mem, *work_mem;
	unsigned char *orig[MAXN];	/* the reference codeword */
	unsigned char *work[MAXN];	/* what the codec reads and writes */
};

/* Random data, parity by the reference.  Chunk i sits @off + i bytes (mod 8)
 * past an allocation, so buffers are unaligned and differently so. */
static int stripe_init(struct stripe *s, unsigned k, unsigned m, size_t len,
		       unsigned off, uint64_t *rng)
{
	size_t stride = len + 16;

	memset(s, 0, sizeof(*s));
	s->k = k;
	s->m = m;
	s->n = k + m;
	s->len = len;
	s->orig_mem = wfs_malloc(s->n * stride);
	s->work_mem = wfs_malloc(s->n * stride);
	if (!s->orig_mem || !s->work_mem) {
		wfs_free(s->orig_mem);
		wfs_free(s->work_mem);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < s->n; i++) {
		s->orig[i] = s->orig_mem + i * stride + (off + i) % 8;
		s->work[i] = s->work_mem + i * stride + (off + 3 * i + 1) % 8;
	}
	for (unsigned i = 0; i < k; i++)
		wfs_test_fill(rng, s->orig[i], len);
	ref_encode(k, m, len, s->orig);
	return 0;
}

static void stripe_release(struct stripe *s)
{
	wfs_free(s->orig_mem);
	wfs_free(s->work_mem);
}

/* The codec's encode of the stripe's data matches the reference parity. */
static bool encode_ok(struct wfs_ec *ec, struct stripe *s)
{
	for (unsigned i = 0; i < s->n; i++) {
		if (i < s->k)
			memcpy(s->work[i], s->orig[i], s->len);
		else
			memset(s->work[i], 0x5a, s->len);
	}
	if (wfs_ec_encode(ec, s->len, s->work, s->work + s->k) != 0)
		return false;
	for (unsigned i = 0; i < s->n; i++)
		if (memcmp(s->work[i], s->orig[i], s->len) != 0)
			return false;
	return true;
}

static unsigned popcount(uint32_t x)
{
	return (unsigned)__builtin_popcount(x);
}

/* Reconstruct the chunks of @missing with those of @absent passed as NULL;
 * true if the codec returns what it should (0 when nothing is wanted or k
 * chunks survive, else -ENODATA) and every wanted chunk comes out equal to
 * the reference while the survivors are left alone. */
static bool pattern_ok(struct wfs_ec *ec, struct stripe *s, uint32_t missing,
		       uint32_t absent)
{
	unsigned char *ptr[MAXN];
	unsigned lost = popcount(missing | absent);
	int want_rc = !missing || s->n - lost >= s->k ? 0 : -ENODATA;
	int rc;

	for (unsigned i = 0; i < s->n; i++) {
		ptr[i] = s->work[i];
		if (missing & (1u << i))
			memset(s->work[i], 0xa5 ^ i, s->len);
		else if (absent & (1u << i))
			ptr[i] = NULL;
		else
			memcpy(s->work[i], s->orig[i], s->len);
	}
	rc = wfs_ec_reconstruct(ec, s->len, ptr, missing);
	if (rc != want_rc) {
		printf("\n%u+%u len %zu missing %#x absent %#x: rc %d, want %d\n",
		       s->k, s->m, s->len, missing, absent, rc, want_rc);
		return false;
	}
	for (unsigned i = 0; rc == 0 && i < s->n; i++) {
		if (ptr[i] && memcmp(s->work[i], s->orig[i], s->len) != 0) {
			printf("\n%u+%u len %zu missing %#x absent %#x: chunk %u differs\n",
			       s->k, s->m, s->len, missing, absent, i);
			return false;
		}
	}
	return true;
}

/* The reference decoder, from the first k chunks not in @lost, gives back
 * the data: the generator is MDS for this pattern and the reference agrees
 * with itself. */
static bool reference_ok(struct stripe *s, uint32_t lost)
{
	unsigned surv[WFS_EC_MAX_K], r = 0;
	unsigned char *y[WFS_EC_MAX_K];
	bool ok = true;

	for (unsigned i = 0; i < s->n && r < s->k; i++) {
		if (lost & (1u << i))
			continue;
		surv[r] = i;
		y[r++] = s->orig[i];
	}
	if (ref_decode(s->k, surv, y, s->len, s->work) != 0)
		return false;
	for (unsigned i = 0; i < s->k; i++)
		ok = ok && memcmp(s->work[i], s->orig[i], s->len) == 0;
	return ok;
}

/* ---- tests ---- */

/* Parity of every k+m the codec accepts equals the reference: the matrix is
 * the Cauchy matrix of codec.h and nothing else. */
static void test_generator_pinned(void)
{
	uint64_t rng = wfs_test_seed();
	unsigned bad = 0;

	for (unsigned k = 1; k <= WFS_EC_MAX_K; k++) {
		for (unsigned m = 1; m <= WFS_EC_MAX_M; m++) {
			struct wfs_ec *ec;
			struct stripe s;

			CU_ASSERT_EQUAL_FATAL(wfs_ec_new(k, m, &ec), 0);
			CU_ASSERT_EQUAL(wfs_ec_k(ec), k);
			CU_ASSERT_EQUAL(wfs_ec_m(ec), m);
			CU_ASSERT_EQUAL_FATAL(stripe_init(&s, k, m, 67 + k, k + m,
							  &rng), 0);
			bad += !encode_ok(ec, &s);
			stripe_release(&s);
			wfs_ec_free(ec);
		}
	}
	CU_ASSERT_EQUAL(bad, 0);
}

/* Every pattern of 1..m missing chunks for @k+@m at @len: encode, codec
 * reconstruct and reference decode.  Returns the failures. */
static unsigned all_patterns(unsigned k, unsigned m, size_t len, unsigned off,
			     uint64_t *rng)
{
	struct wfs_ec *ec;
	struct stripe s;
	unsigned bad = 0, count = 0;

	if (wfs_ec_new(k, m, &ec) != 0)
		return 1;
	if (stripe_init(&s, k, m, len, off, rng) != 0) {
		wfs_ec_free(ec);
		return 1;
	}
	bad += !encode_ok(ec, &s);
	for (uint32_t miss = 1; miss < (1u << s.n); miss++) {
		if (popcount(miss) > m)
			continue;
		count++;
		bad += !pattern_ok(ec, &s, miss, 0);
		bad += !reference_ok(&s, miss);
	}
	/* 16+4 is C(20,1) + ... + C(20,4): a miscounted loop tests less. */
	if (k == 16 && m == 4 && count != 6195)
		bad++;
	stripe_release(&s);
	wfs_ec_free(ec);
	return bad;
}

static void test_every_pattern(void)
{
	static const struct {
		unsigned k, m;
		size_t lens[4];
	} cases[] = {
		{ 1, 1, { 1, 7, 33, 4097 } },  { 2, 1, { 1, 7, 33, 4097 } },
		{ 3, 2, { 1, 7, 33, 4097 } },  { 4, 2, { 1, 7, 33, 4097 } },
		{ 6, 3, { 1, 7, 33, 4097 } },  { 8, 3, { 1, 7, 33, 1000 } },
		{ 10, 4, { 1, 7, 33, 0 } },    { 16, 4, { 1, 33, 0, 0 } },
	};
	uint64_t rng = wfs_test_seed() ^ 0x9e3779b97f4a7c15ULL;

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		for (unsigned l = 0; l < 4 && cases[c].lens[l]; l++) {
			unsigned bad = all_patterns(cases[c].k, cases[c].m,
						    cases[c].lens[l], l + c,
						    &rng);

			if (bad)
				printf("\n%u+%u len %zu: %u failures\n",
				       cases[c].k, cases[c].m, cases[c].lens[l],
				       bad);
			CU_ASSERT_EQUAL(bad, 0);
		}
	}
}

/* A random set of @count distinct chunks of @n. */
static uint32_t random_mask(uint64_t *rng, unsigned n, unsigned count)
{
	uint32_t mask = 0;

	while (popcount(mask) < count)
		mask |= 1u << (wfs_test_rand(rng) % n);
	return mask;
}

/* Lengths around every vector width ISA-L uses (16, 32, 64) and its
 * small-length fallback, each at every misalignment 0..7. */
static void test_odd_lengths_unaligned(void)
{
	static const size_t lens[] = { 1,  2,  3,  5,  7,   15,   16,   17,
				       31, 32, 33, 63, 64,  65,   127,  128,
				       129, 255, 1000, 4097, 65539, 1048577 };
	static const unsigned km[][2] = { { 4, 2 }, { 6, 3 }, { 5, 4 } };
	uint64_t rng = wfs_test_seed() ^ 0x1234567;
	unsigned bad = 0;

	for (unsigned c = 0; c < 3; c++) {
		unsigned k = km[c][0], m = km[c][1];
		struct wfs_ec *ec;

		CU_ASSERT_EQUAL_FATAL(wfs_ec_new(k, m, &ec), 0);
		for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
			unsigned offs = lens[l] > 70000 ? 2 : 8;

			for (unsigned off = 0; off < offs; off++) {
				struct stripe s;

				CU_ASSERT_EQUAL_FATAL(stripe_init(&s, k, m,
						lens[l], off, &rng), 0);
				bad += !encode_ok(ec, &s);
				for (unsigned lost = 1; lost <= m; lost++)
					bad += !pattern_ok(ec, &s,
						random_mask(&rng, k + m, lost), 0);
				stripe_release(&s);
			}
		}
		wfs_ec_free(ec);
	}
	CU_ASSERT_EQUAL(bad, 0);
}

/* Every split of the chunks into wanted, absent (NULL) and surviving, for
 * 4+2 and 6+3 (3^n assignments): rebuilds succeed while k survive and
 * -ENODATA otherwise, whatever mix of data and parity is gone. */
static void test_absent_chunks(void)
{
	static const unsigned km[][2] = { { 4, 2 }, { 6, 3 } };
	uint64_t rng = wfs_test_seed() ^ 0xabcdef;
	unsigned bad = 0;

	for (unsigned c = 0; c < 2; c++) {
		unsigned k = km[c][0], m = km[c][1], n = k + m, total = 1;
		struct wfs_ec *ec;
		struct stripe s;

		CU_ASSERT_EQUAL_FATAL(wfs_ec_new(k, m, &ec), 0);
		CU_ASSERT_EQUAL_FATAL(stripe_init(&s, k, m, 100, c, &rng), 0);
		for (unsigned i = 0; i < n; i++)
			total *= 3;
		for (unsigned v = 0; v < total; v++) {
			uint32_t missing = 0, absent = 0;
			unsigned x = v;

			for (unsigned i = 0; i < n; i++, x /= 3) {
				if (x % 3 == 1)
					missing |= 1u << i;
				else if (x % 3 == 2)
					absent |= 1u << i;
			}
			bad += !pattern_ok(ec, &s, missing, absent);
		}
		stripe_release(&s);
		wfs_ec_free(ec);
	}
	CU_ASSERT_EQUAL(bad, 0);
}

static void test_too_many_missing(void)
{
	uint64_t rng = wfs_test_seed() ^ 0x77;
	struct wfs_ec *ec;
	struct stripe s;
	unsigned char *ptr[MAXN];

	CU_ASSERT_EQUAL_FATAL(wfs_ec_new(4, 2, &ec), 0);
	CU_ASSERT_EQUAL_FATAL(stripe_init(&s, 4, 2, 64, 0, &rng), 0);
	memcpy(ptr, s.work, sizeof(ptr));
	CU_ASSERT_EQUAL(wfs_ec_reconstruct(ec, 64, ptr, 0x7), -ENODATA);
	CU_ASSERT_EQUAL(wfs_ec_reconstruct(ec, 64, ptr, 0x38), -ENODATA);
	CU_ASSERT_EQUAL(wfs_ec_reconstruct(ec, 64, ptr, 0x3f), -ENODATA);
	ptr[5] = NULL;
	ptr[4] = NULL;
	CU_ASSERT_EQUAL(wfs_ec_reconstruct(ec, 64, ptr, 0x1), -ENODATA);
	/* Nothing wanted is nothing to do, whatever is absent. */
	ptr[0] = ptr[1] = ptr[2] = NULL;
	CU_ASSERT_EQUAL(wfs_ec_reconstruct(ec, 64, ptr, 0), 0);
	stripe_release(&s);
	wfs_ec_free(ec);
}

static void test_bad_args(void)
{
	struct wfs_ec *ec = NULL, *sentinel = (struct wfs_ec *)&ec;
	unsigned char buf[MAXN][8], *ptr[MAXN];

	for (unsigned i = 0; i < MAXN; i++)
		ptr[i] = buf[i];
	ec = sentinel;
	CU_ASSERT_EQUAL(wfs_ec_new(0, 2, &ec), -EINVAL);
	CU_ASSERT_EQUAL(wfs_ec_new(17, 2, &ec), -EINVAL);
	CU_ASSERT_EQUAL(wfs_ec_new(4, 0, &ec), -EINVAL);
	CU_ASSERT_EQUAL(wfs_ec_new(4, 5, &ec), -EINVAL);
	CU_ASSERT_EQUAL(wfs_ec_new(4, 2, NULL), -EINVAL);
	CU_ASSERT_PTR_EQUAL(ec, sentinel);
	wfs_ec_free(NULL);

	CU_ASSERT_EQUAL_FATAL(wfs_ec_new(4, 2, &ec), 0);
	CU_ASSERT_EQUAL(wfs_ec_encode(ec, 0, ptr, ptr + 4), -EINVAL);
	CU_ASSERT_EQUAL(wfs_ec_encode(ec, 8, NULL, ptr + 4), -EINVAL);
	CU_ASSERT_EQUAL(wfs_ec_encode(ec, 8, ptr, NULL), -EINVAL);
	CU_ASSERT_EQUAL(wfs_ec_encode(NULL, 8, ptr, ptr + 4), -EINVAL);
	ptr[3] = NULL;
	CU_ASSERT_EQUAL(wfs_ec_encode(ec, 8, ptr, ptr + 4), -EINVAL);
	ptr[3] = buf[3];
	ptr[5] = NULL;
	CU_ASSERT_EQUAL(wfs_ec_encode(ec, 8, ptr, ptr + 4), -EINVAL);
	CU_ASSERT_EQUAL(wfs_ec_reconstruct(ec, 8, ptr, 1u << 5), -EINVAL);
	ptr[5] = buf[5];
	CU_ASSERT_EQUAL(wfs_ec_reconstruct(ec, 0, ptr, 1), -EINVAL);
	CU_ASSERT_EQUAL(wfs_ec_reconstruct(ec, 8, NULL, 1), -EINVAL);
	CU_ASSERT_EQUAL(wfs_ec_reconstruct(NULL, 8, ptr, 1), -EINVAL);
	CU_ASSERT_EQUAL(wfs_ec_reconstruct(ec, 8, ptr, 1u << 6), -EINVAL);
	CU_ASSERT_EQUAL(wfs_ec_reconstruct(ec, 8, ptr, 0x80000001u), -EINVAL);
	wfs_ec_free(ec);
}

static void test_chunk_len(void)
{
	CU_ASSERT_EQUAL(wfs_ec_chunk_len(4, 0), 0);
	CU_ASSERT_EQUAL(wfs_ec_chunk_len(4, 1), 1);
	CU_ASSERT_EQUAL(wfs_ec_chunk_len(4, 4), 1);
	CU_ASSERT_EQUAL(wfs_ec_chunk_len(4, 5), 2);
	CU_ASSERT_EQUAL(wfs_ec_chunk_len(4, 4 << 20), 1 << 20);
	CU_ASSERT_EQUAL(wfs_ec_chunk_len(3, (3 << 20) - 1), 1 << 20);
	CU_ASSERT_EQUAL(wfs_ec_chunk_len(1, 12345), 12345);
	CU_ASSERT_EQUAL(wfs_ec_chunk_len(4, SIZE_MAX), SIZE_MAX / 4 + 1);
	CU_ASSERT_EQUAL(wfs_ec_chunk_len(3, SIZE_MAX), SIZE_MAX / 3);
	CU_ASSERT_EQUAL(wfs_ec_chunk_len(0, 100), 0);
}

/* new fails cleanly; encode and cached patterns never allocate; a new
 * pattern fails with -ENOMEM and works once memory is back. */
static void test_alloc_failure(void)
{
	uint64_t rng = wfs_test_seed() ^ 0x4242;
	struct wfs_ec *ec = NULL;
	struct stripe s;
	unsigned long before;
	long n;
	int rc = -ENOMEM;

	for (n = 0; rc == -ENOMEM && n < 10; n++) {
		wfs_mem_fail_after(n);
		rc = wfs_ec_new(8, 3, &ec);
		wfs_mem_fail_after(-1);
	}
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT(n > 1);
	CU_ASSERT_EQUAL_FATAL(stripe_init(&s, 8, 3, 333, 5, &rng), 0);

	wfs_mem_fail_after(0);
	CU_ASSERT(encode_ok(ec, &s));
	CU_ASSERT_EQUAL(wfs_ec_reconstruct(ec, s.len, s.work, 0x401), -ENOMEM);
	wfs_mem_fail_after(-1);
	CU_ASSERT(pattern_ok(ec, &s, 0x401, 0));

	before = wfs_mem_allocations();
	wfs_mem_fail_after(0);
	CU_ASSERT(pattern_ok(ec, &s, 0x401, 0));
	CU_ASSERT(pattern_ok(ec, &s, 0x401, 0));
	CU_ASSERT_EQUAL(wfs_ec_reconstruct(ec, s.len, s.work, 0x402), -ENOMEM);
	wfs_mem_fail_after(-1);
	CU_ASSERT_EQUAL(wfs_mem_allocations(), before);
	CU_ASSERT(pattern_ok(ec, &s, 0x402, 0));
	CU_ASSERT_EQUAL(wfs_mem_allocations(), before + 1);
	stripe_release(&s);
	wfs_ec_free(ec);
}

/* The cache keeps what is used and drops what is not: a pattern touched
 * between every other one survives 200 others, one left alone does not.
 * Observed through allocations (one per cache miss). */
static void test_cache_lru(void)
{
	uint64_t rng = wfs_test_seed() ^ 0x1f;
	struct wfs_ec *ec;
	struct stripe s;
	unsigned long before;
	uint32_t hot = 0x1, cold = 0x2, other = 0;
	unsigned bad = 0, others = 0;

	CU_ASSERT_EQUAL_FATAL(wfs_ec_new(10, 4, &ec), 0);
	CU_ASSERT_EQUAL_FATAL(stripe_init(&s, 10, 4, 40, 3, &rng), 0);
	bad += !pattern_ok(ec, &s, hot, 0);
	bad += !pattern_ok(ec, &s, cold, 0);
	before = wfs_mem_allocations();
	while (others < 200) {
		other++;
		if (popcount(other) > 4 || other == hot || other == cold)
			continue;
		others++;
		bad += !pattern_ok(ec, &s, other, 0);
		bad += !pattern_ok(ec, &s, hot, 0);
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(wfs_mem_allocations(), before + 200);
	CU_ASSERT(pattern_ok(ec, &s, cold, 0));
	CU_ASSERT_EQUAL(wfs_mem_allocations(), before + 201);
	stripe_release(&s);
	wfs_ec_free(ec);
}

/* ---- many threads on one codec ---- */

struct worker {
	pthread_t thread;
	struct wfs_ec *ec;
	unsigned id;
	uint64_t rng;
	atomic_uint *bad;
};

/* Each thread has its own stripe and walks every pattern of 8+3 (231, more
 * than the cache holds) from its own start, twice: hits, misses, evictions
 * of tables other threads are using, and racing inserts of one pattern. */
static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct stripe s;
	unsigned bad = 0;
	uint32_t patterns[256];
	unsigned np = 0;

	if (stripe_init(&s, 8, 3, 500 + 13 * w->id, w->id, &w->rng) != 0) {
		atomic_fetch_add(w->bad, 1);
		return NULL;
	}
	for (uint32_t miss = 1; miss < (1u << 11); miss++)
		if (popcount(miss) <= 3)
			patterns[np++] = miss;
	for (unsigned round = 0; round < 2; round++) {
		for (unsigned i = 0; i < np; i++) {
			bad += !pattern_ok(w->ec, &s,
					   patterns[(i + 37 * w->id) % np], 0);
			if (i % 16 == 0)
				bad += !encode_ok(w->ec, &s);
		}
	}
	stripe_release(&s);
	atomic_fetch_add(w->bad, bad);
	return NULL;
}

static void test_concurrent(void)
{
	struct worker w[4];
	struct wfs_ec *ec;
	atomic_uint bad = 0;

	CU_ASSERT_EQUAL_FATAL(wfs_ec_new(8, 3, &ec), 0);
	for (unsigned i = 0; i < 4; i++) {
		w[i] = (struct worker){ .ec = ec, .id = i, .bad = &bad,
					.rng = wfs_test_seed() + 1000 * (i + 1) };
		CU_ASSERT_EQUAL_FATAL(pthread_create(&w[i].thread, NULL,
						     worker_run, &w[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++)
		pthread_join(w[i].thread, NULL);
	CU_ASSERT_EQUAL(atomic_load(&bad), 0);
	wfs_ec_free(ec);
}

static CU_TestInfo codec_tests[] = {
	{ "generator pinned", test_generator_pinned },
	{ "every pattern", test_every_pattern },
	{ "odd lengths, unaligned", test_odd_lengths_unaligned },
	{ "absent chunks", test_absent_chunks },
	{ "too many missing", test_too_many_missing },
	{ "bad arguments", test_bad_args },
	{ "chunk length", test_chunk_len },
	{ "allocation failure", test_alloc_failure },
	{ "cache lru", test_cache_lru },
	{ "concurrent", test_concurrent },
	CU_TEST_INFO_NULL,
};
WFS_TEST_SUITE("codec", codec_tests, gf_setup, NULL)
