/* Unit tests for keylimit: the per-key rate limit of refusal log lines, on
 * a clock the tests move by hand (no sleeps): the window's edges, keys
 * apart, eviction of the key refused longest ago, and random runs checked
 * against a plain reference model. */
#include "net/keylimit_internal.h"

#include <string.h>

#include "tests/unit.h"

#define EVERY WFS_KEYLIMIT_EVERY_MS

static uint64_t rng;

static int suite_init(void)
{
	rng = wfs_test_seed() ^ 0x6b65796c;
	if (!rng)
		rng = 1;
	return 0;
}

/* Key number @n: distinct keys for distinct @n, differing in the last
 * byte as well as the first, so a short compare would be caught. */
static void key(uint8_t pk[WFS_SECCHAN_PK_LEN], unsigned n)
{
	memset(pk, 0xa5, WFS_SECCHAN_PK_LEN);
	pk[0] = (uint8_t)n;
	pk[WFS_SECCHAN_PK_LEN - 1] = (uint8_t)(n >> 8);
}

/* wfs_keylimit_pass for key @n; *more stays 12345 when not logged. */
static bool pass(struct wfs_keylimit *kl, unsigned n, uint64_t now,
		 unsigned long *more)
{
	uint8_t pk[WFS_SECCHAN_PK_LEN];

	key(pk, n);
	*more = 12345;	/* must be set when it passes, kept when not */
	return wfs_keylimit_pass(kl, pk, now, more);
}

static void test_window(void)
{
	struct wfs_keylimit kl;
	unsigned long more;

	memset(&kl, 0, sizeof(kl));
	/* A clock that starts at 0 is fine: a zeroed table is empty. */
	CU_ASSERT_TRUE(pass(&kl, 1, 0, &more));
	CU_ASSERT_EQUAL(more, 0);
	/* Three links within a second, as the integration test makes:
	 * the first logged, the other two counted. */
	CU_ASSERT_FALSE(pass(&kl, 1, 400, &more));
	CU_ASSERT_EQUAL(more, 12345);
	CU_ASSERT_FALSE(pass(&kl, 1, 900, &more));
	CU_ASSERT_FALSE(pass(&kl, 1, EVERY - 1, &more));
	/* The window is over at exactly EVERY after the last line. */
	CU_ASSERT_TRUE(pass(&kl, 1, EVERY, &more));
	CU_ASSERT_EQUAL(more, 3);
	/* The count starts again, and so does the window. */
	CU_ASSERT_FALSE(pass(&kl, 1, EVERY + 1, &more));
	CU_ASSERT_TRUE(pass(&kl, 1, 2 * EVERY, &more));
	CU_ASSERT_EQUAL(more, 1);
	/* Long quiet: logged at once, nothing unlogged in between. */
	CU_ASSERT_TRUE(pass(&kl, 1, 10 * EVERY, &more));
	CU_ASSERT_EQUAL(more, 0);
}

static void test_flood(void)
{
	struct wfs_keylimit kl;
	unsigned long more;
	unsigned lines = 0;
	uint64_t t;

	memset(&kl, 0, sizeof(kl));
	/* A retry every 10 ms for ten minutes: one line a minute. */
	for (t = 1000; t < 1000 + 10 * EVERY; t += 10)
		if (pass(&kl, 7, t, &more)) {
			lines++;
			CU_ASSERT_EQUAL(more, lines == 1 ? 0
							 : EVERY / 10 - 1);
		}
	CU_ASSERT_EQUAL(lines, 10);
}

static void test_keys_apart(void)
{
	struct wfs_keylimit kl;
	unsigned long more;

	memset(&kl, 0, sizeof(kl));
	CU_ASSERT_TRUE(pass(&kl, 1, 100, &more));
	/* Another key is not held back by the first one's window... */
	CU_ASSERT_TRUE(pass(&kl, 2, 200, &more));
	CU_ASSERT_EQUAL(more, 0);
	/* ... nor does it count the first one's refusals.  Key 0x101 shares
	 * key 1's first byte. */
	CU_ASSERT_TRUE(pass(&kl, 0x101, 250, &more));
	CU_ASSERT_FALSE(pass(&kl, 1, 300, &more));
	CU_ASSERT_FALSE(pass(&kl, 1, 400, &more));
	CU_ASSERT_FALSE(pass(&kl, 2, 500, &more));
	CU_ASSERT_TRUE(pass(&kl, 1, 100 + EVERY, &more));
	CU_ASSERT_EQUAL(more, 2);
	CU_ASSERT_TRUE(pass(&kl, 2, 200 + EVERY, &more));
	CU_ASSERT_EQUAL(more, 1);
	CU_ASSERT_TRUE(pass(&kl, 0x101, 250 + EVERY, &more));
	CU_ASSERT_EQUAL(more, 0);
}

static void test_eviction(void)
{
	struct wfs_keylimit kl;
	unsigned long more;
	unsigned n;

	memset(&kl, 0, sizeof(kl));
	/* Fill the table: keys 0..15 at times 0..15. */
	for (n = 0; n < WFS_KEYLIMIT_KEYS; n++)
		CU_ASSERT_TRUE(pass(&kl, n, n, &more));
	/* Key 0 is refused again (counted), so key 1 is now the one
	 * refused longest ago. */
	CU_ASSERT_FALSE(pass(&kl, 0, 100, &more));
	/* A 17th key is logged and pushes key 1 out. */
	CU_ASSERT_TRUE(pass(&kl, 100, 101, &more));
	CU_ASSERT_EQUAL(more, 0);
	/* Key 0 kept its window and its count. */
	CU_ASSERT_FALSE(pass(&kl, 0, 102, &more));
	/* Keys 2..15 are still held back. */
	for (n = 2; n < WFS_KEYLIMIT_KEYS; n++)
		CU_ASSERT_FALSE(pass(&kl, n, 103, &more));
	/* Key 1 is new again: logged at once (pushing out key 100, now the
	 * one refused longest ago). */
	CU_ASSERT_TRUE(pass(&kl, 1, 104, &more));
	CU_ASSERT_EQUAL(more, 0);
	CU_ASSERT_FALSE(pass(&kl, 0, 105, &more));
	/* So is key 100 (pushing out key 2, of the keys refused at 103 the
	 * first in the table), then key 2 (pushing out key 3). */
	CU_ASSERT_TRUE(pass(&kl, 100, 106, &more));
	CU_ASSERT_EQUAL(more, 0);
	CU_ASSERT_TRUE(pass(&kl, 2, 107, &more));
	CU_ASSERT_EQUAL(more, 0);
	CU_ASSERT_FALSE(pass(&kl, 4, 108, &more));
	/* Key 0's three counted refusals come out with its next line. */
	CU_ASSERT_TRUE(pass(&kl, 0, EVERY, &more));
	CU_ASSERT_EQUAL(more, 3);
}

/* The reference: every key remembered for ever (so only runs of at most
 * WFS_KEYLIMIT_KEYS keys compare). */
struct ref {
	bool seen[WFS_KEYLIMIT_KEYS];
	uint64_t logged[WFS_KEYLIMIT_KEYS];
	unsigned long count[WFS_KEYLIMIT_KEYS];
};

static bool ref_pass(struct ref *r, unsigned n, uint64_t now,
		     unsigned long *more)
{
	if (r->seen[n] && now < r->logged[n] + EVERY) {
		r->count[n]++;
		return false;
	}
	*more = r->seen[n] ? r->count[n] : 0;
	r->seen[n] = true;
	r->logged[n] = now;
	r->count[n] = 0;
	return true;
}

static void test_random_vs_reference(void)
{
	for (int run = 0; run < 50; run++) {
		struct wfs_keylimit kl;
		struct ref ref;
		unsigned keys = 1 + wfs_test_rand(&rng) % WFS_KEYLIMIT_KEYS;
		uint64_t now = wfs_test_rand(&rng) % 1000;
		unsigned long more, ref_more = 0;

		memset(&kl, 0, sizeof(kl));
		memset(&ref, 0, sizeof(ref));
		for (int i = 0; i < 2000; i++) {
			unsigned n = wfs_test_rand(&rng) % keys;
			bool got, want;

			/* Steps of up to an eighth of a window: keys are
			 * refused both inside and past their windows. */
			now += wfs_test_rand(&rng) % (EVERY / 8);
			got = pass(&kl, n, now, &more);
			want = ref_pass(&ref, n, now, &ref_more);
			CU_ASSERT_EQUAL_FATAL(got, want);
			if (got)
				CU_ASSERT_EQUAL_FATAL(more, ref_more);
		}
	}
}

static CU_TestInfo keylimit_tests[] = {
	{ "one line per key per window", test_window },
	{ "a flood of retries", test_flood },
	{ "keys apart", test_keys_apart },
	{ "eviction of the key refused longest ago", test_eviction },
	{ "random runs against a reference", test_random_vs_reference },
	CU_TEST_INFO_NULL,
};

WFS_TEST_SUITE("keylimit", keylimit_tests, suite_init, NULL)
