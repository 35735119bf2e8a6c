/* Unit tests for client/stripe: stripes written to and read from an
 * in-memory chunk store (a fake struct wfs_chunk_io) that can lose chunks,
 * corrupt them, or fail writes: reconstruction of missing and corrupt data
 * chunks up to m, failure past m, replicas falling back to the next copy,
 * header checks, and the write quorum. */
#include "client/stripe_internal.h"

#include <errno.h>
#include <string.h>

#include "client/geom_internal.h"
#include "erasure/crc32c.h"
#include "mem/mem.h"
#include "tests/unit.h"

#define K 4
#define M 2
#define CS 4096u

/* One stored chunk of the fake. */
struct fchunk {
	bool present;
	struct wfs_chunk_hdr hdr;
	unsigned char *data;
	size_t len;
};

struct fake {
	pthread_mutex_t lock;
	struct fchunk chunks[WFS_STRIPE_MAX_CHUNKS];	/* by index */
	int write_fail[WFS_STRIPE_MAX_CHUNKS];	/* errno to fail writes with */
	unsigned reads;				/* read calls made */
	uint32_t read_mask;			/* indexes read */
};

static int fake_read(void *arg, uint64_t ino, const struct wfs_lstripe *s,
		     const struct wfs_lchunk *c, struct wfs_chunk_hdr *hdr,
		     void *buf, size_t cap, size_t *len)
{
	struct fake *f = arg;
	struct fchunk *ch = &f->chunks[c->index];
	int rc = 0;

	(void)ino;
	(void)s;
	pthread_mutex_lock(&f->lock);
	f->reads++;
	f->read_mask |= 1u << c->index;
	if (!ch->present)
		rc = -ENOENT;
	else if (ch->len > cap)
		rc = -EMSGSIZE;
	else {
		*hdr = ch->hdr;
		memcpy(buf, ch->data, ch->len);
		*len = ch->len;
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static int fake_write(void *arg, struct wfs_lchunk *c,
		      const struct wfs_chunk_hdr *hdr, const void *data,
		      size_t len)
{
	struct fake *f = arg;
	struct fchunk *ch = &f->chunks[hdr->index];
	int rc = 0;

	pthread_mutex_lock(&f->lock);
	if (f->write_fail[hdr->index]) {
		rc = f->write_fail[hdr->index];
	} else {
		wfs_free(ch->data);
		ch->data = wfs_memdup(data, len);
		ch->len = len;
		ch->hdr = *hdr;
		ch->present = ch->data != NULL;
		c->disk[0] = 'd';
		c->disk_len = 1;
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static struct wfs_pool *pool;
static struct fake fk;
static struct wfs_chunk_io io = { fake_read, fake_write, &fk, NULL };
static struct wfs_ec *ec;
/* Any non-NULL node: the fake ignores where chunks live. */
static char node_token;

static int suite_init(void)
{
	if (wfs_pool_new(4, &pool) || wfs_ec_new(K, M, &ec))
		return -1;
	io.pool = pool;
	pthread_mutex_init(&fk.lock, NULL);
	return 0;
}

static int suite_cleanup(void)
{
	for (unsigned i = 0; i < WFS_STRIPE_MAX_CHUNKS; i++)
		wfs_free(fk.chunks[i].data);
	pthread_mutex_destroy(&fk.lock);
	wfs_ec_free(ec);
	wfs_pool_free(pool);
	return 0;
}

static void fake_reset(void)
{
	for (unsigned i = 0; i < WFS_STRIPE_MAX_CHUNKS; i++) {
		wfs_free(fk.chunks[i].data);
		memset(&fk.chunks[i], 0, sizeof(fk.chunks[i]));
		fk.write_fail[i] = 0;
	}
	fk.reads = 0;
	fk.read_mask = 0;
}

static struct wfs_lstripe *new_stripe(uint32_t kind, uint32_t length)
{
	unsigned n = wfs_geom_nchunks(kind, K, M);
	struct wfs_lstripe *s = wfs_lstripe_new(n);

	s->sidx = 3;
	s->stripe_id = 77;
	s->version = 2;
	s->kind = kind;
	s->k = K;
	s->m = M;
	s->chunk_size = CS;
	s->length = length;
	s->nchunks = n;
	for (unsigned i = 0; i < n; i++) {
		s->chunks[i].index = i;
		s->chunks[i].node = (struct wfs_node *)&node_token;
	}
	return s;
}

/* Write a full EC stripe of random data; return the data. */
static unsigned char *write_ec(uint64_t *st, struct wfs_lstripe **out)
{
	unsigned char *data = wfs_malloc(K * CS);
	struct wfs_lstripe *s = new_stripe(WFS_KIND_EC, K * CS);

	fake_reset();
	wfs_test_fill(st, data, K * CS);
	CU_ASSERT_EQUAL(wfs_stripe_write(&io, ec, 9, s, data), 0);
	for (unsigned i = 0; i < K + M; i++)
		CU_ASSERT_EQUAL(s->chunks[i].state, WFS_CHUNK_OK);
	*out = s;
	return data;
}

/* Read the data chunks of @want; compare with @data. */
static int read_cmp(const struct wfs_lstripe *s, uint32_t want,
		    const unsigned char *data)
{
	unsigned char *bufs = wfs_malloc(K * CS);
	unsigned char *out[K];
	int rc;

	memset(bufs, 0xee, K * CS);
	for (unsigned j = 0; j < K; j++)
		out[j] = bufs + j * CS;
	rc = wfs_stripe_read(&io, ec, 9, s, want, out, CS);
	if (rc == 0)
		for (unsigned j = 0; j < K; j++)
			if (want & (1u << j))
				CU_ASSERT_EQUAL(memcmp(out[j], data + j * CS,
						       CS), 0);
	wfs_free(bufs);
	return rc;
}

static void test_ec_roundtrip(void)
{
	uint64_t st = wfs_test_seed();
	struct wfs_lstripe *s;
	unsigned char *data = write_ec(&st, &s);

	/* Headers as sent: ids, geometry, lengths, CRC of each chunk. */
	for (unsigned i = 0; i < K + M; i++) {
		const struct wfs_chunk_hdr *h = &fk.chunks[i].hdr;

		CU_ASSERT(h->stripe_id == 77 && h->version == 2 && h->ino == 9 &&
			  h->sidx == 3 && h->index == i &&
			  h->kind == WFS_KIND_EC && h->k == K && h->m == M &&
			  h->chunk_size == CS && h->data_length == CS &&
			  h->stripe_length == K * CS);
		CU_ASSERT_EQUAL(h->data_crc32c,
				wfs_crc32c(0, fk.chunks[i].data, CS));
	}
	CU_ASSERT_EQUAL(memcmp(fk.chunks[1].data, data + CS, CS), 0);
	/* Reading two data chunks asks for those two only. */
	fk.reads = 0;
	fk.read_mask = 0;
	CU_ASSERT_EQUAL(read_cmp(s, 0x6, data), 0);
	CU_ASSERT_EQUAL(fk.read_mask, 0x6);
	CU_ASSERT_EQUAL(read_cmp(s, 0xf, data), 0);
	wfs_free(data);
	wfs_free(s);
}

static void test_ec_missing(void)
{
	uint64_t st = wfs_test_seed() ^ 1;
	struct wfs_lstripe *s;
	unsigned char *data = write_ec(&st, &s);

	/* Every pattern of one or two lost chunks, data or parity. */
	for (unsigned a = 0; a < K + M; a++)
		for (unsigned b = a; b < K + M; b++) {
			struct fchunk sa = fk.chunks[a], sb = fk.chunks[b];

			fk.chunks[a].present = false;
			fk.chunks[b].present = false;
			CU_ASSERT_EQUAL(read_cmp(s, 0xf, data), 0);
			CU_ASSERT_EQUAL(read_cmp(s, 1u << (a % K), data), 0);
			fk.chunks[a] = sa;
			fk.chunks[b] = sb;
		}
	/* Three lost: the stripe is gone. */
	fk.chunks[0].present = fk.chunks[2].present = false;
	fk.chunks[5].present = false;
	CU_ASSERT_EQUAL(read_cmp(s, 0x1, data), -EIO);
	wfs_free(data);
	wfs_free(s);
}

static void test_ec_corrupt(void)
{
	uint64_t st = wfs_test_seed() ^ 2;
	struct wfs_lstripe *s;
	unsigned char *data = write_ec(&st, &s);

	/* A flipped byte in data chunk 2 and a lying header on chunk 0:
	 * both caught, both rebuilt. */
	fk.chunks[2].data[100] ^= 0x40;
	fk.chunks[0].hdr.version = 1;
	CU_ASSERT_EQUAL(read_cmp(s, 0xf, data), 0);
	/* Chunk 3 marked missing in the layout is not even asked for. */
	fk.chunks[2].data[100] ^= 0x40;
	fk.chunks[0].hdr.version = 2;
	fk.reads = 0;
	fk.read_mask = 0;
	s->chunks[3].state = WFS_CHUNK_MISSING;
	CU_ASSERT_EQUAL(read_cmp(s, 0x8, data), 0);
	CU_ASSERT_EQUAL(fk.read_mask & 0x8, 0);
	/* Three bad chunks, past m. */
	fk.chunks[4].data[0] ^= 1;
	fk.chunks[1].data[0] ^= 1;
	CU_ASSERT_EQUAL(read_cmp(s, 0xf, data), -EIO);
	wfs_free(data);
	wfs_free(s);
}

static void test_replica(void)
{
	uint64_t st = wfs_test_seed() ^ 3;
	struct wfs_lstripe *s = new_stripe(WFS_KIND_REPLICA, 5000);
	unsigned char data[5000], out[K * CS];
	unsigned char *outp[1] = { out };

	fake_reset();
	wfs_test_fill(&st, data, sizeof(data));
	CU_ASSERT_EQUAL(wfs_stripe_write(&io, ec, 9, s, data), 0);
	for (unsigned i = 0; i <= M; i++) {
		CU_ASSERT_EQUAL(fk.chunks[i].len, 5000);
		CU_ASSERT_EQUAL(fk.chunks[i].hdr.kind, WFS_KIND_REPLICA);
		CU_ASSERT_EQUAL(memcmp(fk.chunks[i].data, data, 5000), 0);
	}
	CU_ASSERT_FALSE(fk.chunks[M + 1].present);
	CU_ASSERT_EQUAL(wfs_stripe_read(&io, ec, 9, s, 1, outp, sizeof(out)),
			0);
	CU_ASSERT_EQUAL(memcmp(out, data, 5000), 0);
	/* Two copies bad: the third serves. */
	fk.chunks[0].data[7] ^= 1;
	fk.chunks[1].present = false;
	fk.chunks[2].hdr.chunk_size = 0;	/* unknown to the node: fine */
	memset(out, 0, sizeof(out));
	CU_ASSERT_EQUAL(wfs_stripe_read(&io, ec, 9, s, 1, outp, sizeof(out)),
			0);
	CU_ASSERT_EQUAL(memcmp(out, data, 5000), 0);
	fk.chunks[2].present = false;
	CU_ASSERT_EQUAL(wfs_stripe_read(&io, ec, 9, s, 1, outp, sizeof(out)),
			-EIO);
	/* A replica longer than the room given is refused, not copied. */
	fk.chunks[0].data[7] ^= 1;
	CU_ASSERT_EQUAL(wfs_stripe_read(&io, ec, 9, s, 1, outp, 100),
			-EINVAL);
	CU_ASSERT_EQUAL(wfs_stripe_read(&io, ec, 9, s, 2, outp, sizeof(out)),
			-EINVAL);
	wfs_free(s);
}

static void test_check_chunk(void)
{
	struct wfs_lstripe *s = new_stripe(WFS_KIND_EC, K * CS);
	unsigned char data[CS] = { 1, 2, 3 };
	struct wfs_chunk_hdr good = {
		.stripe_id = 77, .version = 2, .ino = 9, .sidx = 3, .index = 1,
		.kind = WFS_KIND_EC, .k = K, .m = M, .chunk_size = CS,
		.data_length = CS, .stripe_length = K * CS,
		.data_crc32c = wfs_crc32c(0, data, CS),
	};
	struct wfs_chunk_hdr h;

	CU_ASSERT_EQUAL(wfs_stripe_check_chunk(s, 1, &good, data, CS), 0);
	CU_ASSERT_EQUAL(wfs_stripe_check_chunk(s, 2, &good, data, CS),
			-EBADMSG);
	CU_ASSERT_EQUAL(wfs_stripe_check_chunk(s, 1, &good, data, CS - 1),
			-EBADMSG);
	h = good;
	h.stripe_id = 78;
	CU_ASSERT_EQUAL(wfs_stripe_check_chunk(s, 1, &h, data, CS), -EBADMSG);
	h = good;
	h.k = 3;
	CU_ASSERT_EQUAL(wfs_stripe_check_chunk(s, 1, &h, data, CS), -EBADMSG);
	h = good;
	h.chunk_size = 0;
	CU_ASSERT_EQUAL(wfs_stripe_check_chunk(s, 1, &h, data, CS), 0);
	h.chunk_size = CS * 2;
	CU_ASSERT_EQUAL(wfs_stripe_check_chunk(s, 1, &h, data, CS), -EBADMSG);
	h = good;
	h.data_crc32c ^= 1;
	CU_ASSERT_EQUAL(wfs_stripe_check_chunk(s, 1, &h, data, CS), -EBADMSG);
	wfs_free(s);
}

static void test_quorum(void)
{
	uint64_t st = wfs_test_seed() ^ 4;
	unsigned char *data = wfs_malloc(K * CS);
	struct wfs_lstripe *s = new_stripe(WFS_KIND_EC, K * CS);

	wfs_test_fill(&st, data, K * CS);
	/* One chunk fails: k + 1 of k + m still durable. */
	fake_reset();
	fk.write_fail[4] = -EIO;
	CU_ASSERT_EQUAL(wfs_stripe_write(&io, ec, 9, s, data), 0);
	CU_ASSERT_EQUAL(s->chunks[4].state, WFS_CHUNK_MISSING);
	CU_ASSERT_EQUAL(s->chunks[5].state, WFS_CHUNK_OK);
	CU_ASSERT_EQUAL(read_cmp(s, 0xf, data), 0);
	/* Two fail: below the quorum. */
	fake_reset();
	fk.write_fail[0] = -EIO;
	fk.write_fail[5] = -ENOSPC;
	CU_ASSERT_EQUAL(wfs_stripe_write(&io, ec, 9, s, data), -EIO);
	/* All failures alike: their errno. */
	fake_reset();
	fk.write_fail[1] = fk.write_fail[2] = -ENOSPC;
	CU_ASSERT_EQUAL(wfs_stripe_write(&io, ec, 9, s, data), -ENOSPC);
	wfs_free(s);
	/* Replicas: 2 of 3. */
	s = new_stripe(WFS_KIND_REPLICA, 100);
	fake_reset();
	fk.write_fail[0] = -EIO;
	CU_ASSERT_EQUAL(wfs_stripe_write(&io, ec, 9, s, data), 0);
	fake_reset();
	fk.write_fail[0] = fk.write_fail[2] = -EINVAL;
	CU_ASSERT_EQUAL(wfs_stripe_write(&io, ec, 9, s, data), -EINVAL);
	/* No node known for a chunk: that chunk fails, others go on. */
	fake_reset();
	s->chunks[1].node = NULL;
	CU_ASSERT_EQUAL(wfs_stripe_write(&io, ec, 9, s, data), 0);
	CU_ASSERT_EQUAL(s->chunks[1].state, WFS_CHUNK_MISSING);
	wfs_free(s);
	wfs_free(data);
}

static void test_bad_stripes(void)
{
	struct wfs_lstripe *s = new_stripe(WFS_KIND_EC, K * CS);
	unsigned char buf[CS], *out[K] = { buf, buf, buf, buf };
	struct wfs_ec *other;

	CU_ASSERT_EQUAL(wfs_stripe_read(&io, ec, 9, s, 0x10, out, CS),
			-EINVAL);
	CU_ASSERT_EQUAL_FATAL(wfs_ec_new(3, 2, &other), 0);
	CU_ASSERT_EQUAL(wfs_stripe_read(&io, other, 9, s, 0x1, out, CS),
			-EINVAL);
	CU_ASSERT_EQUAL(wfs_stripe_write(&io, other, 9, s, buf), -EINVAL);
	wfs_ec_free(other);
	s->kind = 0;
	CU_ASSERT_EQUAL(wfs_stripe_read(&io, ec, 9, s, 0x1, out, CS), -EINVAL);
	wfs_free(s);
}

static void test_nomem(void)
{
	uint64_t st = wfs_test_seed() ^ 5;
	struct wfs_lstripe *s;
	unsigned char *data = write_ec(&st, &s);

	/* A degraded read needs scratch for the extra chunks; an encode
	 * needs parity buffers. */
	fk.chunks[0].present = false;
	wfs_mem_fail_after(1);	/* read_cmp's own buffer */
	CU_ASSERT_EQUAL(read_cmp(s, 0x1, data), -ENOMEM);
	wfs_mem_fail_after(0);
	CU_ASSERT_EQUAL(wfs_stripe_write(&io, ec, 9, s, data), -ENOMEM);
	wfs_mem_fail_after(-1);
	wfs_free(data);
	wfs_free(s);
}

static CU_TestInfo stripe_tests[] = {
	{ "ec write and read", test_ec_roundtrip },
	{ "ec reads rebuild missing chunks", test_ec_missing },
	{ "ec reads rebuild corrupt chunks", test_ec_corrupt },
	{ "replicas fall back to the next copy", test_replica },
	{ "chunk header checks", test_check_chunk },
	{ "write quorum", test_quorum },
	{ "stripes this code cannot read", test_bad_stripes },
	{ "out of memory", test_nomem },
	CU_TEST_INFO_NULL,
};
WFS_TEST_SUITE("client_stripe", stripe_tests, suite_init, suite_cleanup)
