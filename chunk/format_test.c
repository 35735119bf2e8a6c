/* Unit tests for chunk/format: round trips, the byte layout, damage
 * detection (every byte of a small chunk flipped), versions and lengths. */
#include "chunk/format.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "erasure/crc32c.h"
#include "tests/unit.h"

#define DATA_LEN 100

static struct wfs_chunk_header sample(uint32_t kind)
{
	struct wfs_chunk_header h = {
		.kind = kind,
		.stripe_id = 0x0123456789abcdULL,
		.stripe_version = 7,
		.file_id = 0x1122334455667788ULL,
		.stripe_index = 42,
		.chunk_index = kind == WFS_CHUNK_EC ? 5 : 2,
		.k = 4,
		.m = 2,
		.stripe_offset = 42ULL * 4 * 1048576,
		.stripe_data_len = kind == WFS_CHUNK_EC ? 4 * DATA_LEN - 3
							: DATA_LEN,
	};

	h.chunk_id = wfs_chunk_id(h.stripe_id, h.chunk_index);
	return h;
}

static int header_equal(const struct wfs_chunk_header *a,
			const struct wfs_chunk_header *b)
{
	return a->kind == b->kind && a->chunk_id == b->chunk_id &&
	       a->stripe_id == b->stripe_id &&
	       a->stripe_version == b->stripe_version &&
	       a->file_id == b->file_id && a->stripe_index == b->stripe_index &&
	       a->chunk_index == b->chunk_index && a->k == b->k &&
	       a->m == b->m && a->data_len == b->data_len &&
	       a->stripe_offset == b->stripe_offset &&
	       a->stripe_data_len == b->stripe_data_len &&
	       a->data_crc == b->data_crc;
}

/* A chunk in memory: header then DATA_LEN random bytes. */
static void make_chunk(uint32_t kind, uint8_t *buf,
		       struct wfs_chunk_header *h)
{
	uint64_t rng = wfs_test_seed();

	*h = sample(kind);
	wfs_test_fill(&rng, buf + WFS_CHUNK_HEADER_SIZE, DATA_LEN);
	CU_ASSERT_EQUAL(wfs_chunk_header_set_data(
				h, buf + WFS_CHUNK_HEADER_SIZE, DATA_LEN), 0);
	CU_ASSERT_EQUAL(wfs_chunk_header_check(h), 0);
	wfs_chunk_header_encode(h, buf);
}

/* Decode and verify a whole chunk the way a reader does. */
static int check_chunk(const uint8_t *buf, size_t len)
{
	struct wfs_chunk_header h;
	int rc = wfs_chunk_header_decode(buf, len, &h);

	if (rc != 0)
		return rc;
	return wfs_chunk_verify(&h, buf + WFS_CHUNK_HEADER_SIZE,
				len - WFS_CHUNK_HEADER_SIZE);
}

static void test_round_trip(void)
{
	uint32_t kinds[] = { WFS_CHUNK_EC, WFS_CHUNK_REPLICA };

	for (int i = 0; i < 2; i++) {
		uint8_t buf[WFS_CHUNK_HEADER_SIZE + DATA_LEN];
		struct wfs_chunk_header h, got;

		make_chunk(kinds[i], buf, &h);
		memset(&got, 0xee, sizeof(got));
		CU_ASSERT_EQUAL_FATAL(
			wfs_chunk_header_decode(buf, sizeof(buf), &got), 0);
		CU_ASSERT(header_equal(&h, &got));
		CU_ASSERT_EQUAL(got.version, WFS_CHUNK_FORMAT_VERSION);
		CU_ASSERT_EQUAL(check_chunk(buf, sizeof(buf)), 0);
		/* Exactly the header is enough to decode it. */
		CU_ASSERT_EQUAL(wfs_chunk_header_decode(
					buf, WFS_CHUNK_HEADER_SIZE, &got), 0);
	}
}

/* The layout documented in format.c, checked at a few offsets so a change
 * to the encoder cannot silently change the format. */
static void test_layout(void)
{
	uint8_t buf[WFS_CHUNK_HEADER_SIZE + DATA_LEN];
	struct wfs_chunk_header h;
	static const uint8_t prefix[12] = { 'W', 'F', 'S', 'C', 1, 0, 80, 0,
					    1, 5, 4, 2 };
	static const uint8_t stripe_id[8] = { 0xcd, 0xab, 0x89, 0x67,
					      0x45, 0x23, 0x01, 0x00 };
	uint32_t crc;

	make_chunk(WFS_CHUNK_EC, buf, &h);
	CU_ASSERT_EQUAL(memcmp(buf, prefix, sizeof(prefix)), 0);
	CU_ASSERT_EQUAL(buf[12], DATA_LEN);
	CU_ASSERT_EQUAL(buf[13] | buf[14] | buf[15], 0);
	CU_ASSERT_EQUAL(buf[16], 5);	/* chunk id: stripe id << 8 | 5 */
	CU_ASSERT_EQUAL(memcmp(buf + 17, stripe_id, 7), 0);
	CU_ASSERT_EQUAL(memcmp(buf + 24, stripe_id, 8), 0);
	CU_ASSERT_EQUAL(buf[32], 7);
	CU_ASSERT_EQUAL(buf[40], 0x88);
	CU_ASSERT_EQUAL(buf[47], 0x11);
	CU_ASSERT_EQUAL(buf[48], 42);
	crc = wfs_crc32c(0, buf + WFS_CHUNK_HEADER_SIZE, DATA_LEN);
	CU_ASSERT_EQUAL(buf[72], crc & 0xff);
	CU_ASSERT_EQUAL(buf[75], crc >> 24);
	crc = wfs_crc32c(0, buf, 76);
	CU_ASSERT_EQUAL(buf[76], crc & 0xff);
	CU_ASSERT_EQUAL(buf[79], crc >> 24);
	CU_ASSERT_EQUAL(wfs_chunk_id(0x12, 3), 0x1203);
}

/* Every byte of a header + 100 data bytes, XORed with several values, is
 * caught: as -EBADMSG from the header decode when it is a header byte, as
 * -EBADMSG from the data check when it is a data byte. */
static void test_every_byte_flipped(void)
{
	static const uint8_t xors[] = { 0x01, 0x02, 0x10, 0x80, 0x5a, 0xff };
	uint32_t kinds[] = { WFS_CHUNK_EC, WFS_CHUNK_REPLICA };

	for (int k = 0; k < 2; k++) {
		uint8_t buf[WFS_CHUNK_HEADER_SIZE + DATA_LEN];
		struct wfs_chunk_header h;

		make_chunk(kinds[k], buf, &h);
		for (size_t i = 0; i < sizeof(buf); i++) {
			for (size_t x = 0; x < sizeof(xors); x++) {
				int rc;

				buf[i] ^= xors[x];
				rc = check_chunk(buf, sizeof(buf));
				buf[i] ^= xors[x];
				if (rc != -EBADMSG) {
					CU_FAIL("flipped byte not detected");
					fprintf(stderr, "byte %zu ^ 0x%02x: %d\n",
						i, xors[x], rc);
				}
			}
		}
		CU_ASSERT_EQUAL(check_chunk(buf, sizeof(buf)), 0);
	}
}

/* Re-seal a hand-edited header of length @hlen with a valid CRC. */
static void reseal(uint8_t *buf, unsigned hlen)
{
	uint32_t crc;

	buf[6] = (uint8_t)hlen;
	buf[7] = (uint8_t)(hlen >> 8);
	crc = wfs_crc32c(0, buf, hlen - 4);
	for (int i = 0; i < 4; i++)
		buf[hlen - 4 + i] = (uint8_t)(crc >> (8 * i));
}

static void test_versions(void)
{
	uint8_t buf[256];
	struct wfs_chunk_header h, got;

	memset(buf, 0, sizeof(buf));
	make_chunk(WFS_CHUNK_EC, buf, &h);

	/* An intact header of version 2, same length: refused as newer. */
	buf[4] = 2;
	reseal(buf, WFS_CHUNK_HEADER_SIZE);
	CU_ASSERT_EQUAL(wfs_chunk_header_decode(buf, sizeof(buf), &got),
			-EPROTONOSUPPORT);
	/* A newer version with a longer header is refused the same way. */
	buf[4] = 0;
	buf[5] = 1;	/* version 256 */
	reseal(buf, 120);
	CU_ASSERT_EQUAL(wfs_chunk_header_decode(buf, sizeof(buf), &got),
			-EPROTONOSUPPORT);
	/* ... but only when the buffer holds all of it. */
	CU_ASSERT_EQUAL(wfs_chunk_header_decode(buf, 119, &got), -EBADMSG);
	/* Version 0 never existed. */
	buf[4] = 0;
	buf[5] = 0;
	reseal(buf, WFS_CHUNK_HEADER_SIZE);
	CU_ASSERT_EQUAL(wfs_chunk_header_decode(buf, sizeof(buf), &got),
			-EBADMSG);
	/* Version 1 has exactly one header length. */
	buf[4] = 1;
	reseal(buf, 96);
	CU_ASSERT_EQUAL(wfs_chunk_header_decode(buf, sizeof(buf), &got),
			-EBADMSG);
	/* Header lengths outside any version's bounds. */
	reseal(buf, WFS_CHUNK_HEADER_SIZE);
	CU_ASSERT_EQUAL(wfs_chunk_header_decode(buf, sizeof(buf), &got), 0);
	reseal(buf, 12);	/* overwrites bytes 8..11 with the CRC */
	buf[6] = 11;
	CU_ASSERT_EQUAL(wfs_chunk_header_decode(buf, sizeof(buf), &got),
			-EBADMSG);
	buf[6] = 0;
	buf[7] = 0x20;		/* 8192 */
	CU_ASSERT_EQUAL(wfs_chunk_header_decode(buf, sizeof(buf), &got),
			-EBADMSG);
	make_chunk(WFS_CHUNK_EC, buf, &h);
	CU_ASSERT_EQUAL(wfs_chunk_header_decode(buf, sizeof(buf), &got), 0);
}

static void test_truncated(void)
{
	uint8_t buf[WFS_CHUNK_HEADER_SIZE + DATA_LEN];
	struct wfs_chunk_header h, got;

	make_chunk(WFS_CHUNK_REPLICA, buf, &h);
	for (size_t len = 0; len < WFS_CHUNK_HEADER_SIZE; len++)
		CU_ASSERT_EQUAL(wfs_chunk_header_decode(buf, len, &got),
				-EBADMSG);
	/* Short or long data fails the length check. */
	CU_ASSERT_EQUAL(check_chunk(buf, sizeof(buf) - 1), -EBADMSG);
	CU_ASSERT_EQUAL(check_chunk(buf, WFS_CHUNK_HEADER_SIZE), -EBADMSG);
	CU_ASSERT_EQUAL(wfs_chunk_verify(&h, buf + WFS_CHUNK_HEADER_SIZE,
					 DATA_LEN + 1), -EBADMSG);
}

static void test_check(void)
{
	struct wfs_chunk_header h = sample(WFS_CHUNK_EC);
	uint8_t buf[WFS_CHUNK_HEADER_SIZE];
	struct wfs_chunk_header got;

	h.data_len = DATA_LEN;
	CU_ASSERT_EQUAL(wfs_chunk_header_check(&h), 0);
	h.kind = 3;
	CU_ASSERT_EQUAL(wfs_chunk_header_check(&h), -EINVAL);
	/* An encoded header that breaks a rule decodes as damaged. */
	wfs_chunk_header_encode(&h, buf);
	CU_ASSERT_EQUAL(wfs_chunk_header_decode(buf, sizeof(buf), &got),
			-EBADMSG);
	h = sample(WFS_CHUNK_EC);
	h.data_len = DATA_LEN;
	h.chunk_index = 6;	/* k + m */
	CU_ASSERT_EQUAL(wfs_chunk_header_check(&h), -EINVAL);
	h = sample(WFS_CHUNK_REPLICA);
	h.data_len = DATA_LEN;
	h.chunk_index = 3;	/* m + 1 copies: 0..2 */
	CU_ASSERT_EQUAL(wfs_chunk_header_check(&h), -EINVAL);
	h.chunk_index = 0;
	h.stripe_data_len = DATA_LEN + 1;
	CU_ASSERT_EQUAL(wfs_chunk_header_check(&h), -EINVAL);
	h = sample(WFS_CHUNK_EC);
	h.data_len = DATA_LEN;
	h.k = 0;
	CU_ASSERT_EQUAL(wfs_chunk_header_check(&h), -EINVAL);
	h.k = 200;
	h.m = 56;
	CU_ASSERT_EQUAL(wfs_chunk_header_check(&h), -EINVAL);
	h = sample(WFS_CHUNK_EC);
	h.data_len = DATA_LEN;
	h.stripe_offset = UINT64_MAX - 10;
	CU_ASSERT_EQUAL(wfs_chunk_header_check(&h), -EINVAL);
	/* An empty chunk (data length 0) is allowed. */
	h = sample(WFS_CHUNK_REPLICA);
	h.stripe_data_len = 0;
	CU_ASSERT_EQUAL(wfs_chunk_header_set_data(&h, NULL, 0), 0);
	CU_ASSERT_EQUAL(wfs_chunk_header_check(&h), 0);
	CU_ASSERT_EQUAL(wfs_chunk_verify(&h, NULL, 0), 0);
}

static CU_TestInfo format_tests[] = {
	{ "round trip, both kinds", test_round_trip },
	{ "byte layout", test_layout },
	{ "every flipped byte detected", test_every_byte_flipped },
	{ "versions", test_versions },
	{ "truncated buffers", test_truncated },
	{ "header rules", test_check },
	CU_TEST_INFO_NULL,
};
WFS_TEST_SUITE("chunk_format", format_tests, NULL, NULL)
