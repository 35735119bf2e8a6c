/* bench_ec: single-thread throughput of erasure/codec and erasure/crc32c,
 * each codec figure beside the same operation done with direct ISA-L calls
 * in the same run, so the cost of our wrapper is visible:
 *
 *   BENCH ec_encode_4+2 <MB/s> MB/s          wfs_ec_encode
 *   BENCH isal_raw_encode_4+2 <MB/s> MB/s    ec_encode_data, tables made once
 *   BENCH ec_decode_4+2_lost2 ...            wfs_ec_reconstruct (cached tables)
 *   BENCH isal_raw_decode_4+2_lost2 ...      gf_invert_matrix + ec_init_tables
 *                                            + ec_encode_data on every call
 *   ... the same for 8+3 (lost3), then crc32c.
 *
 * MB/s is 10^6 stripe data bytes (k chunks of 1 MiB) per second; for crc32c,
 * bytes checksummed.  Each figure is the best of 3 timed runs of a fixed
 * number of iterations, calibrated once to take about 0.4 s, ours and raw
 * alternating so drift in clock speed hits both alike.  Decoded chunks are
 * checked against the originals; a mismatch fails the bench.  All buffers
 * are in memory: nothing is written under $WFS_BENCH_DIR.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <isa-l/erasure_code.h>

#include "erasure/codec.h"
#include "erasure/crc32c.h"
#include "mem/mem.h"

#define CHUNK_LEN (1u << 20)
#define MAXN (WFS_EC_MAX_K + WFS_EC_MAX_M)
#define TARGET_SECONDS 0.4
#define REPEATS 3

struct bench {
	unsigned k, m;
	uint32_t lost;			/* chunks the decode figures rebuild */
	struct wfs_ec *ec;
	unsigned char *chunk[MAXN];	/* 64-byte aligned, CHUNK_LEN each */
	unsigned char *saved[MAXN];	/* originals of the lost chunks */
	unsigned char gen[MAXN * WFS_EC_MAX_K];	/* raw: Cauchy generator */
	unsigned char enc_tbls[32 * WFS_EC_MAX_K * WFS_EC_MAX_M];
	volatile uint32_t sink;		/* keeps the crc loop alive */
};

typedef void (*bench_op)(struct bench *b);

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void op_encode(struct bench *b)
{
	wfs_ec_encode(b->ec, CHUNK_LEN, b->chunk, b->chunk + b->k);
}

static void op_raw_encode(struct bench *b)
{
	ec_encode_data(CHUNK_LEN, (int)b->k, (int)b->m, b->enc_tbls, b->chunk,
		       b->chunk + b->k);
}

static void op_decode(struct bench *b)
{
	wfs_ec_reconstruct(b->ec, CHUNK_LEN, b->chunk, b->lost);
}

/* What a plain ISA-L user writes: survivors are the first k chunks not
 * lost, invert their rows of the generator, take the rows of the lost
 * chunks (data chunks only in this bench), expand, code. */
static void op_raw_decode(struct bench *b)
{
	unsigned char m[WFS_EC_MAX_K * WFS_EC_MAX_K];
	unsigned char inv[WFS_EC_MAX_K * WFS_EC_MAX_K];
	unsigned char rows[WFS_EC_MAX_M * WFS_EC_MAX_K];
	unsigned char tbls[32 * WFS_EC_MAX_K * WFS_EC_MAX_M];
	unsigned char *src[WFS_EC_MAX_K], *dst[WFS_EC_MAX_M];
	unsigned k = b->k, r = 0, nout = 0;

	for (unsigned i = 0; i < k + b->m; i++) {
		if (b->lost & (1u << i)) {
			dst[nout++] = b->chunk[i];
		} else if (r < k) {
			memcpy(m + k * r, b->gen + k * i, k);
			src[r++] = b->chunk[i];
		}
	}
	if (gf_invert_matrix(m, inv, (int)k) != 0)
		abort();
	r = 0;
	for (unsigned i = 0; i < k; i++)
		if (b->lost & (1u << i))
			memcpy(rows + k * r++, inv + k * i, k);
	ec_init_tables((int)k, (int)nout, rows, tbls);
	ec_encode_data(CHUNK_LEN, (int)k, (int)nout, tbls, src, dst);
}

static void op_crc(struct bench *b)
{
	uint32_t crc = 0;

	for (unsigned i = 0; i < b->k; i++)
		crc = wfs_crc32c(crc, b->chunk[i], CHUNK_LEN);
	b->sink = crc;
}

static double timed(struct bench *b, bench_op op, unsigned long iters)
{
	double t0 = now();

	for (unsigned long i = 0; i < iters; i++)
		op(b);
	return now() - t0;
}

/* Iterations of @op that take about TARGET_SECONDS. */
static unsigned long calibrate(struct bench *b, bench_op op)
{
	unsigned long iters = 1;
	double t;

	op(b);
	while ((t = timed(b, op, iters)) < 0.05)
		iters *= 2;
	return (unsigned long)ceil(iters * TARGET_SECONDS / t);
}

static void report(const char *name, struct bench *b, const char *suffix,
		   double bytes, double seconds)
{
	printf("BENCH %s_%u+%u%s %.0f MB/s\n", name, b->k, b->m, suffix,
	       bytes / seconds / 1e6);
}

/* Best of REPEATS for @ours and @raw on the same fixed work, alternating. */
static void compare(struct bench *b, const char *suffix, const char *ours_name,
		    bench_op ours, const char *raw_name, bench_op raw)
{
	unsigned long iters = calibrate(b, ours);
	double best_ours = INFINITY, best_raw = INFINITY, t;

	for (int rep = 0; rep < REPEATS; rep++) {
		for (int turn = 0; turn < 2; turn++) {
			int do_ours = (turn == 0) == (rep % 2 == 0);

			t = timed(b, do_ours ? ours : raw, iters);
			if (do_ours)
				best_ours = fmin(best_ours, t);
			else
				best_raw = fmin(best_raw, t);
		}
	}
	report(ours_name, b, suffix, (double)iters * b->k * CHUNK_LEN,
	       best_ours);
	report(raw_name, b, suffix, (double)iters * b->k * CHUNK_LEN, best_raw);
}

/* Wipe the lost chunks, so a decode that writes nothing is noticed. */
static void lose(struct bench *b)
{
	for (unsigned i = 0; i < b->k + b->m; i++)
		if (b->lost & (1u << i))
			memset(b->chunk[i], 0, CHUNK_LEN);
}

/* Every chunk holds what it held after the first encode. */
static int check(struct bench *b, const char *what)
{
	for (unsigned i = 0; i < b->k + b->m; i++) {
		if (memcmp(b->chunk[i], b->saved[i], CHUNK_LEN) != 0) {
			fprintf(stderr, "bench_ec: %s %u+%u: chunk %u is wrong\n",
				what, b->k, b->m, i);
			return -1;
		}
	}
	return 0;
}

static int bench_init(struct bench *b, unsigned k, unsigned m, uint32_t lost)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL * (k * 16 + m);

	memset(b, 0, sizeof(*b));
	b->k = k;
	b->m = m;
	b->lost = lost;
	if (wfs_ec_new(k, m, &b->ec) != 0)
		return -1;
	for (unsigned i = 0; i < k + m; i++) {
		b->chunk[i] = wfs_aligned_alloc(64, CHUNK_LEN);
		b->saved[i] = wfs_malloc(CHUNK_LEN);
		if (!b->chunk[i] || !b->saved[i])
			return -1;
		for (size_t j = 0; i < k && j < CHUNK_LEN; j += 8) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			memcpy(b->chunk[i] + j, &x, 8);
		}
	}
	gf_gen_cauchy1_matrix(b->gen, (int)(k + m), (int)k);
	ec_init_tables((int)k, (int)m, b->gen + k * k, b->enc_tbls);
	return 0;
}

static void bench_release(struct bench *b)
{
	for (unsigned i = 0; i < MAXN; i++) {
		wfs_free(b->chunk[i]);
		wfs_free(b->saved[i]);
	}
	wfs_ec_free(b->ec);
}

static int run_code(unsigned k, unsigned m, uint32_t lost)
{
	struct bench *b = wfs_malloc(sizeof(*b));
	char suffix[16];
	int rc = -1;

	if (!b || bench_init(b, k, m, lost) != 0) {
		fprintf(stderr, "bench_ec: %u+%u: out of memory\n", k, m);
		goto out_release;
	}
	compare(b, "", "ec_encode", op_encode, "isal_raw_encode",
		op_raw_encode);
	for (unsigned i = 0; i < k + m; i++)
		memcpy(b->saved[i], b->chunk[i], CHUNK_LEN);
	op_raw_encode(b);
	if (check(b, "raw encode") != 0)
		goto out_release;
	lose(b);
	op_decode(b);
	if (check(b, "codec decode") != 0)
		goto out_release;
	lose(b);
	op_raw_decode(b);
	if (check(b, "raw decode") != 0)
		goto out_release;
	snprintf(suffix, sizeof(suffix), "_lost%d", __builtin_popcount(lost));
	compare(b, suffix, "ec_decode", op_decode, "isal_raw_decode",
		op_raw_decode);
	rc = check(b, "decode");
out_release:
	if (b)
		bench_release(b);
	wfs_free(b);
	return rc;
}

static int run_crc(void)
{
	struct bench *b = wfs_malloc(sizeof(*b));
	unsigned long iters;
	double best = INFINITY;

	if (!b || bench_init(b, 4, 1, 0) != 0) {
		fprintf(stderr, "bench_ec: crc32c: out of memory\n");
		if (b)
			bench_release(b);
		wfs_free(b);
		return -1;
	}
	iters = calibrate(b, op_crc);
	for (int rep = 0; rep < REPEATS; rep++)
		best = fmin(best, timed(b, op_crc, iters));
	printf("BENCH crc32c %.0f MB/s\n",
	       (double)iters * b->k * CHUNK_LEN / best / 1e6);
	bench_release(b);
	wfs_free(b);
	return 0;
}

int main(void)
{
	int rc = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	rc |= run_code(4, 2, 0x5);	/* data chunks 0 and 2 */
	rc |= run_code(8, 3, 0x49);	/* data chunks 0, 3 and 6 */
	rc |= run_crc();
	return rc ? 1 : 0;
}
