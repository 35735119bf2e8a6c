/* Unit tests for fuse/itable: lookup counts, orphans released at the last
 * forget, cache notes, directory attributes kept and ordered, growth past
 * the initial slots. */
#include "fuse/itable.h"

#include <string.h>
#include <sys/stat.h>

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
	/* What the kernel was told: nothing yet is nothing other. */
	CU_ASSERT_FALSE(wfs_itable_told_other(t, 3, 100, 4096));
	wfs_itable_told(t, 3, 100, 4096);
	CU_ASSERT_FALSE(wfs_itable_told_other(t, 3, 100, 4096));
	CU_ASSERT_TRUE(wfs_itable_told_other(t, 3, 101, 4096));
	CU_ASSERT_TRUE(wfs_itable_told_other(t, 3, 100, 4097));
	wfs_itable_told(t, 3, 101, 4097);
	CU_ASSERT_FALSE(wfs_itable_told_other(t, 3, 101, 4097));
	wfs_itable_told(t, 4, 1, 1);	/* not held: ignored */
	CU_ASSERT_FALSE(wfs_itable_told_other(t, 4, 2, 2));
	/* A forgotten inode starts over. */
	wfs_itable_forget(t, 3, 1);
	wfs_itable_ref(t, 3, 1);
	CU_ASSERT_FALSE(wfs_itable_cache_valid(t, 3, 100, 4096));
	CU_ASSERT_FALSE(wfs_itable_told_other(t, 3, 1, 1));
	wfs_itable_free(t);
}

static struct wfs_attr dir_attr(uint64_t ino, int64_t ctime, uint32_t nlink)
{
	struct wfs_attr a;

	memset(&a, 0, sizeof(a));
	a.ino = ino;
	a.mode = S_IFDIR | 0755;
	a.nlink = nlink;
	a.ctime_ns = a.mtime_ns = ctime;
	return a;
}

static void test_attrs(void)
{
	struct wfs_attr a, got, file;
	struct wfs_itable *t;
	int64_t until;

	CU_ASSERT_EQUAL_FATAL(wfs_itable_new(&t), 0);
	/* Not held: nothing kept. */
	a = dir_attr(5, 100, 2);
	wfs_itable_set_attr(t, &a, 0, 1000);
	CU_ASSERT_FALSE(wfs_itable_attr(t, 5, 1, &got, &until));
	wfs_itable_ref(t, 5, 1);
	CU_ASSERT_FALSE(wfs_itable_attr(t, 5, 1, &got, &until));
	wfs_itable_set_attr(t, &a, 0, 1000);
	CU_ASSERT_TRUE(wfs_itable_attr(t, 5, 999, &got, &until));
	CU_ASSERT_EQUAL(got.nlink, 2);
	CU_ASSERT_EQUAL(until, 1000);
	/* Expired. */
	CU_ASSERT_FALSE(wfs_itable_attr(t, 5, 1000, &got, &until));
	/* Newer replace older; an older one arriving late is ignored. */
	wfs_itable_set_attr(t, &a, 0, 1000);
	a = dir_attr(5, 300, 4);
	wfs_itable_set_attr(t, &a, 10, 1010);
	a = dir_attr(5, 200, 3);
	wfs_itable_set_attr(t, &a, 20, 1020);
	CU_ASSERT_TRUE(wfs_itable_attr(t, 5, 30, &got, &until));
	CU_ASSERT_EQUAL(got.nlink, 4);
	CU_ASSERT_EQUAL(until, 1010);
	/* The same again only extends; the same ctime with other contents
	 * cannot be ordered: nothing is kept. */
	a = dir_attr(5, 300, 4);
	wfs_itable_set_attr(t, &a, 40, 1040);
	CU_ASSERT_TRUE(wfs_itable_attr(t, 5, 50, &got, &until));
	CU_ASSERT_EQUAL(until, 1040);
	a = dir_attr(5, 300, 5);
	wfs_itable_set_attr(t, &a, 60, 1060);
	CU_ASSERT_FALSE(wfs_itable_attr(t, 5, 70, &got, &until));
	/* Once expired, anything goes. */
	a = dir_attr(5, 250, 6);
	wfs_itable_set_attr(t, &a, 2000, 3000);
	CU_ASSERT_TRUE(wfs_itable_attr(t, 5, 2001, &got, &until));
	CU_ASSERT_EQUAL(got.nlink, 6);
	/* Dropped and blocked: a late reply brings nothing back until the
	 * block ends. */
	wfs_itable_drop_attr(t, 5, 2500);
	CU_ASSERT_FALSE(wfs_itable_attr(t, 5, 2002, &got, &until));
	a = dir_attr(5, 400, 7);
	wfs_itable_set_attr(t, &a, 2100, 3100);
	CU_ASSERT_FALSE(wfs_itable_attr(t, 5, 2101, &got, &until));
	wfs_itable_set_attr(t, &a, 2500, 3500);
	CU_ASSERT_TRUE(wfs_itable_attr(t, 5, 2501, &got, &until));
	/* Dropped without a block: kept again at once. */
	wfs_itable_drop_attr(t, 5, 0);
	CU_ASSERT_FALSE(wfs_itable_attr(t, 5, 2502, &got, &until));
	wfs_itable_set_attr(t, &a, 2503, 3503);
	CU_ASSERT_TRUE(wfs_itable_attr(t, 5, 2504, &got, &until));
	/* Only directories are kept. */
	wfs_itable_ref(t, 6, 1);
	file = dir_attr(6, 100, 1);
	file.mode = S_IFREG | 0644;
	wfs_itable_set_attr(t, &file, 0, 1000);
	CU_ASSERT_FALSE(wfs_itable_attr(t, 6, 1, &got, &until));
	/* Forgotten by the kernel: gone, and a new entry starts empty. */
	wfs_itable_forget(t, 5, 1);
	wfs_itable_ref(t, 5, 1);
	CU_ASSERT_FALSE(wfs_itable_attr(t, 5, 2505, &got, &until));
	wfs_itable_set_attr(t, &a, 2505, 3505);
	wfs_itable_free(t);	/* frees what entries still keep */
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
	{ "directory attributes", test_attrs },
	{ "growth", test_growth },
	CU_TEST_INFO_NULL,
};
WFS_TEST_SUITE("fuse_itable", itable_tests, NULL, NULL)
