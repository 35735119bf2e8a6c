/* Unit tests for fuse/itable: lookup counts, orphans released at the last
 * forget, cache notes, growth past the initial slots. */
#include "fuse/itable.h"

#include "tests/unit.h"

static uint64_t orphans_seen;

static void count_orphan(uint64_t ino, void *arg)
{
	(void)arg;
	orphans_seen += ino;
}

static void test_counts_and_orphans(void)
{
	struct wfs_itable *t;

	CU_ASSERT_EQUAL_FATAL(wfs_itable_new(&t), 0);
	CU_ASSERT_EQUAL(wfs_itable_ref(t, 7, 1), 0);
	CU_ASSERT_EQUAL(wfs_itable_ref(t, 7, 2), 0);
	CU_ASSERT_EQUAL(wfs_itable_count(t), 1);
	/* Not orphaned: the last forget releases nothing. */
	CU_ASSERT_FALSE(wfs_itable_forget(t, 7, 3));
	CU_ASSERT_EQUAL(wfs_itable_count(t), 0);
	/* Orphaned while held: released at the last forget only. */
	wfs_itable_ref(t, 8, 2);
	CU_ASSERT_TRUE(wfs_itable_orphan(t, 8));
	CU_ASSERT_FALSE(wfs_itable_forget(t, 8, 1));
	CU_ASSERT_TRUE(wfs_itable_forget(t, 8, 1));
	/* Not held at all: the caller releases at once. */
	CU_ASSERT_FALSE(wfs_itable_orphan(t, 9));
	/* Forgetting more than held or an unknown inode is harmless. */
	CU_ASSERT_FALSE(wfs_itable_forget(t, 10, 5));
	/* Orphans still held at the end are reported. */
	wfs_itable_ref(t, 11, 1);
	wfs_itable_ref(t, 12, 1);
	wfs_itable_orphan(t, 12);
	orphans_seen = 0;
	wfs_itable_orphans(t, count_orphan, NULL);
	CU_ASSERT_EQUAL(orphans_seen, 12);
	wfs_itable_free(t);
}

static void test_cache_notes(void)
{
	struct wfs_itable *t;

	CU_ASSERT_EQUAL_FATAL(wfs_itable_new(&t), 0);
	wfs_itable_set_cached(t, 3, 100, 4096);	/* not held: ignored */
	CU_ASSERT_FALSE(wfs_itable_cache_valid(t, 3, 100, 4096));
	wfs_itable_ref(t, 3, 1);
	CU_ASSERT_FALSE(wfs_itable_cache_valid(t, 3, 100, 4096));
	wfs_itable_set_cached(t, 3, 100, 4096);
	CU_ASSERT_TRUE(wfs_itable_cache_valid(t, 3, 100, 4096));
	CU_ASSERT_FALSE(wfs_itable_cache_valid(t, 3, 101, 4096));
	CU_ASSERT_FALSE(wfs_itable_cache_valid(t, 3, 100, 4097));
	CU_ASSERT_FALSE(wfs_itable_nocap(t, 3, 5));
	wfs_itable_set_nocap(t, 3, 10);
	CU_ASSERT_TRUE(wfs_itable_nocap(t, 3, 5));
	CU_ASSERT_FALSE(wfs_itable_nocap(t, 3, 10));
	/* A forgotten inode starts over. */
	wfs_itable_forget(t, 3, 1);
	wfs_itable_ref(t, 3, 1);
	CU_ASSERT_FALSE(wfs_itable_cache_valid(t, 3, 100, 4096));
	wfs_itable_free(t);
}

static void test_growth(void)
{
	struct wfs_itable *t;
	unsigned long n = 5000;

	CU_ASSERT_EQUAL_FATAL(wfs_itable_new(&t), 0);
	for (unsigned long i = 1; i <= n; i++)
		CU_ASSERT_EQUAL(wfs_itable_ref(t, i * 1000003, i % 3 + 1), 0);
	CU_ASSERT_EQUAL(wfs_itable_count(t), n);
	for (unsigned long i = 1; i <= n; i++)
		wfs_itable_orphan(t, i * 1000003);
	for (unsigned long i = 1; i <= n; i++)
		CU_ASSERT_TRUE(wfs_itable_forget(t, i * 1000003, i % 3 + 1));
	CU_ASSERT_EQUAL(wfs_itable_count(t), 0);
	wfs_itable_free(t);
}

static CU_TestInfo itable_tests[] = {
	{ "lookup counts and orphans", test_counts_and_orphans },
	{ "cache notes", test_cache_notes },
	{ "growth", test_growth },
	CU_TEST_INFO_NULL,
};
WFS_TEST_SUITE("fuse_itable", itable_tests, NULL, NULL)
