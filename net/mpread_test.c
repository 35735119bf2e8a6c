/* Unit tests for net/mpread: each form read within its range, every cut
 * of a valid input refused, counts and lengths past the end refused, and
 * skipping bounded by depth.  (The swim, transfer and nodemeta suites
 * fuzz the messages built on it.) */
#include "net/mpread.h"

#include <errno.h>
#include <string.h>

#include "tests/unit.h"

static struct wfs_mpread rd(const void *p, size_t n)
{
	return (struct wfs_mpread){ p, (const unsigned char *)p + n };
}

static void test_forms(void)
{
	/* [5, 300, "ab", bin(1) 0x07, {1: 2}] */
	static const unsigned char m[] = { 0x95, 0x05, 0xcd, 0x01, 0x2c,
					   0xa2, 'a', 'b', 0xc4, 0x01, 0x07,
					   0x81, 0x01, 0x02 };
	struct wfs_mpread r = rd(m, sizeof(m));
	const unsigned char *data;
	uint64_t v, n;
	uint32_t len;
	size_t slen;

	CU_ASSERT_EQUAL(wfs_mpread_count(&r, false, &n), 0);
	CU_ASSERT_EQUAL(n, 5);
	CU_ASSERT_EQUAL(wfs_mpread_uint(&r, 10, &v), 0);
	CU_ASSERT_EQUAL(v, 5);
	CU_ASSERT_EQUAL(wfs_mpread_uint(&r, 299, &v), -EPROTO); /* > max */
	r.p -= 3;
	CU_ASSERT_EQUAL(wfs_mpread_uint(&r, 300, &v), 0);
	CU_ASSERT_EQUAL(v, 300);
	CU_ASSERT_EQUAL(wfs_mpread_bin(&r, 0, 9, &data, &len), -EPROTO);
	r.p--;	/* a str is no bin */
	CU_ASSERT_EQUAL(wfs_mpread_bytes(&r, true, 3, 9, &data, &slen),
			-EPROTO);	/* too short */
	r.p = m + 5;
	CU_ASSERT_EQUAL(wfs_mpread_bytes(&r, true, 1, 9, &data, &slen), 0);
	CU_ASSERT_EQUAL(slen, 2);
	CU_ASSERT_EQUAL(memcmp(data, "ab", 2), 0);
	CU_ASSERT_EQUAL(wfs_mpread_bin(&r, 1, 1, &data, &len), 0);
	CU_ASSERT_EQUAL(len, 1);
	CU_ASSERT_EQUAL(data[0], 0x07);
	CU_ASSERT_EQUAL(wfs_mpread_skip(&r, 2), 0);
	CU_ASSERT_EQUAL(wfs_mpread_left(&r), 0);

	/* Every cut of it: the whole walk fails somewhere, never reads
	 * past the end. */
	for (size_t cut = 0; cut < sizeof(m); cut++) {
		r = rd(m, cut);
		CU_ASSERT_EQUAL(wfs_mpread_skip(&r, 3), -EPROTO);
		CU_ASSERT(r.p <= r.end);
	}
	r = rd(m, sizeof(m));
	CU_ASSERT_EQUAL(wfs_mpread_skip(&r, 3), 0);
	/* Nested deeper than allowed. */
	r = rd(m, sizeof(m));
	CU_ASSERT_EQUAL(wfs_mpread_skip(&r, 1), -EPROTO);
}

static void test_lengths_past_the_end(void)
{
	/* array 32 of 2^32 - 1, map 16 of 3 pairs in 4 bytes, bin 32 of
	 * 2^31, c1 (never used) */
	static const unsigned char a[] = { 0xdd, 0xff, 0xff, 0xff, 0xff, 0 };
	static const unsigned char mp[] = { 0xde, 0x00, 0x03, 1, 2, 3, 4 };
	static const unsigned char b[] = { 0xc6, 0x80, 0, 0, 0, 1, 2 };
	static const unsigned char c1[] = { 0xc1 };
	const unsigned char *data;
	struct wfs_mpread r;
	uint32_t n32, len;
	uint64_t n;

	r = rd(a, sizeof(a));
	CU_ASSERT_EQUAL(wfs_mpread_array(&r, &n32), -EPROTO);
	r = rd(mp, sizeof(mp));
	CU_ASSERT_EQUAL(wfs_mpread_count(&r, true, &n), -EPROTO);
	r = rd(mp, sizeof(mp));
	CU_ASSERT_EQUAL(wfs_mpread_count(&r, false, &n), -EPROTO);
	r = rd(b, sizeof(b));
	CU_ASSERT_EQUAL(wfs_mpread_bin(&r, 0, UINT32_MAX, &data, &len),
			-EPROTO);
	r = rd(c1, sizeof(c1));
	CU_ASSERT_EQUAL(wfs_mpread_skip(&r, 4), -EPROTO);
	r = rd(c1, 0);
	CU_ASSERT_EQUAL(wfs_mpread_uint(&r, 1, &n), -EPROTO);
	CU_ASSERT_EQUAL(wfs_mpread_be(&r, 1, &n), -EPROTO);
}

static CU_TestInfo mpread_tests[] = {
	{ "forms and ranges", test_forms },
	{ "lengths past the end", test_lengths_past_the_end },
	CU_TEST_INFO_NULL,
};
WFS_TEST_SUITE("mpread", mpread_tests, NULL, NULL)
