/* Unit tests for crc32c: the standard check values, chaining at every split
 * point, unaligned buffers and odd lengths against a bitwise reference, and
 * a buffer too long for ISA-L's int length. */
#include "erasure/crc32c.h"

#include <limits.h>
#include <string.h>
#include <sys/mman.h>

#include "mem/mem.h"
#include "tests/unit.h"

/* CRC-32C one bit at a time, straight from the definition. */
static uint32_t ref_crc32c(uint32_t crc, const unsigned char *p, size_t len)
{
	crc = ~crc;
	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int b = 0; b < 8; b++)
			crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
	}
	return ~crc;
}

static void test_check_values(void)
{
	unsigned char buf[32];

	CU_ASSERT_EQUAL(wfs_crc32c(0, "123456789", 9), 0xE3069283u);
	CU_ASSERT_EQUAL(ref_crc32c(0, (const unsigned char *)"123456789", 9),
			0xE3069283u);
	CU_ASSERT_EQUAL(wfs_crc32c(0, NULL, 0), 0);
	CU_ASSERT_EQUAL(wfs_crc32c(0xdeadbeef, NULL, 0), 0xdeadbeef);
	/* RFC 3720 appendix B.4. */
	memset(buf, 0, sizeof(buf));
	CU_ASSERT_EQUAL(wfs_crc32c(0, buf, sizeof(buf)), 0x8A9136AAu);
	memset(buf, 0xff, sizeof(buf));
	CU_ASSERT_EQUAL(wfs_crc32c(0, buf, sizeof(buf)), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (unsigned char)i;
	CU_ASSERT_EQUAL(wfs_crc32c(0, buf, sizeof(buf)), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (unsigned char)(31 - i);
	CU_ASSERT_EQUAL(wfs_crc32c(0, buf, sizeof(buf)), 0x113FDB5Cu);
}

static void test_chaining(void)
{
	uint64_t rng = wfs_test_seed();
	unsigned char buf[600];
	uint32_t whole;

	wfs_test_fill(&rng, buf, sizeof(buf));
	whole = wfs_crc32c(0, buf, sizeof(buf));
	CU_ASSERT_EQUAL(whole, ref_crc32c(0, buf, sizeof(buf)));
	for (size_t cut = 0; cut <= sizeof(buf); cut++) {
		uint32_t c = wfs_crc32c(wfs_crc32c(0, buf, cut), buf + cut,
					sizeof(buf) - cut);

		CU_ASSERT_EQUAL(c, whole);
	}
	for (size_t a = 0; a <= sizeof(buf); a += 37) {
		for (size_t b = a; b <= sizeof(buf); b += 41) {
			uint32_t c = wfs_crc32c(0, buf, a);

			c = wfs_crc32c(c, buf + a, b - a);
			c = wfs_crc32c(c, buf + b, sizeof(buf) - b);
			CU_ASSERT_EQUAL(c, whole);
		}
	}
}

static void test_unaligned_vs_reference(void)
{
	static const size_t big[] = { 511, 1024, 4097, 65537, 1000003 };
	uint64_t rng = wfs_test_seed() ^ 0x5bd1e995;
	size_t size = 1000003 + 64;
	unsigned char *buf = wfs_aligned_alloc(64, size);
	unsigned bad = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	wfs_test_fill(&rng, buf, size);
	for (size_t off = 0; off < 8; off++) {
		for (size_t len = 0; len <= 300; len++) {
			uint32_t seed = (uint32_t)wfs_test_rand(&rng);

			bad += wfs_crc32c(seed, buf + off, len) !=
			       ref_crc32c(seed, buf + off, len);
		}
		for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++)
			bad += wfs_crc32c(0, buf + off, big[i]) !=
			       ref_crc32c(0, buf + off, big[i]);
	}
	CU_ASSERT_EQUAL(bad, 0);
	wfs_free(buf);
}

/* Longer than INT_MAX: the pieces ISA-L is fed must chain to the same CRC
 * as two calls cut elsewhere.  Untouched anonymous memory reads as zeros and
 * costs no RAM. */
static void test_longer_than_int(void)
{
	size_t len = (size_t)INT_MAX + 1000;
	size_t cut = len / 2 + 12345;
	unsigned char *p = mmap(NULL, len, PROT_READ,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
				-1, 0);
	uint32_t whole, parts;

	CU_ASSERT_FATAL(p != MAP_FAILED);
	whole = wfs_crc32c(0, p, len);
	parts = wfs_crc32c(wfs_crc32c(0, p, cut), p + cut, len - cut);
	CU_ASSERT_EQUAL(whole, parts);
	CU_ASSERT_NOT_EQUAL(whole, wfs_crc32c(0, p, len - 1));
	munmap(p, len);
}

static CU_TestInfo crc32c_tests[] = {
	{ "check values", test_check_values },
	{ "chaining", test_chaining },
	{ "unaligned vs reference", test_unaligned_vs_reference },
	{ "longer than INT_MAX", test_longer_than_int },
	CU_TEST_INFO_NULL,
};
WFS_TEST_SUITE("crc32c", crc32c_tests, NULL, NULL)
