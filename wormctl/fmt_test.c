/* Unit tests for wormctl/fmt: df -h sizes, use%, mode strings, hex ids. */
#include "wormctl/fmt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tests/unit.h"

static void check_size(uint64_t bytes, const char *want)
{
	char buf[WFS_CTL_SIZE_LEN];

	wfs_ctl_fmt_size(bytes, buf);
	CU_ASSERT_STRING_EQUAL(buf, want);
}

static void test_size(void)
{
	check_size(0, "0");
	check_size(1, "1");
	check_size(1023, "1023");
	check_size(1024, "1.0K");
	check_size(1025, "1.1K");		/* rounded up, as df */
	check_size(1536, "1.5K");
	check_size(10 * 1024 - 1, "10K");	/* 9.99K: no decimal past 9.9 */
	check_size(10 * 1024, "10K");
	check_size(1023 * 1024, "1023K");
	check_size(1048575, "1.0M");		/* 1023.999K carries into M */
	check_size(10u << 20, "10M");
	check_size(100u << 20, "100M");
	check_size((uint64_t)582 << 30, "582G");
	check_size((uint64_t)5 << 40, "5.0T");
	check_size((uint64_t)1 << 60, "1.0E");
	check_size(UINT64_MAX, "16E");
}

static void test_size_random(void)
{
	uint64_t st = wfs_test_seed() | 1;
	char buf[WFS_CTL_SIZE_LEN];

	/* Whatever the value, the text fits and its number is below 1024. */
	for (int i = 0; i < 10000; i++) {
		uint64_t v = wfs_test_rand(&st) >> (wfs_test_rand(&st) % 64);

		wfs_ctl_fmt_size(v, buf);
		CU_ASSERT(strlen(buf) < WFS_CTL_SIZE_LEN);
		CU_ASSERT(strtod(buf, NULL) < 1024.0);
	}
}

static void test_pct(void)
{
	CU_ASSERT_EQUAL(wfs_ctl_fmt_pct(0, 0), 0);
	CU_ASSERT_EQUAL(wfs_ctl_fmt_pct(0, 100), 0);
	CU_ASSERT_EQUAL(wfs_ctl_fmt_pct(1, 1000), 1);	/* rounded up */
	CU_ASSERT_EQUAL(wfs_ctl_fmt_pct(50, 100), 50);
	CU_ASSERT_EQUAL(wfs_ctl_fmt_pct(100, 100), 100);
	CU_ASSERT_EQUAL(wfs_ctl_fmt_pct(UINT64_MAX, UINT64_MAX), 100);
	CU_ASSERT_EQUAL(wfs_ctl_fmt_pct(UINT64_MAX / 2, UINT64_MAX), 50);
}

static void check_mode(uint32_t mode, const char *want)
{
	char buf[WFS_CTL_MODE_LEN];

	wfs_ctl_fmt_mode(mode, buf);
	CU_ASSERT_STRING_EQUAL(buf, want);
}

static void test_mode(void)
{
	check_mode(S_IFREG | 0644, "-rw-r--r--");
	check_mode(S_IFDIR | 0755, "drwxr-xr-x");
	check_mode(S_IFLNK | 0777, "lrwxrwxrwx");
	check_mode(S_IFREG | 04755, "-rwsr-xr-x");
	check_mode(S_IFREG | 04644, "-rwSr--r--");
	check_mode(S_IFREG | 02750, "-rwxr-s---");
	check_mode(S_IFDIR | 01777, "drwxrwxrwt");
	check_mode(S_IFDIR | 01770, "drwxrwx--T");
	check_mode(S_IFIFO | 0600, "prw-------");
	check_mode(S_IFSOCK | 0, "s---------");
	check_mode(S_IFCHR | 0666, "crw-rw-rw-");
	check_mode(S_IFBLK | 0660, "brw-rw----");
	check_mode(0, "?---------");
}

static void test_type(void)
{
	CU_ASSERT_STRING_EQUAL(wfs_ctl_fmt_type(S_IFREG | 0644), "file");
	CU_ASSERT_STRING_EQUAL(wfs_ctl_fmt_type(S_IFDIR), "dir");
	CU_ASSERT_STRING_EQUAL(wfs_ctl_fmt_type(S_IFLNK), "symlink");
	CU_ASSERT_STRING_EQUAL(wfs_ctl_fmt_type(0), "unknown");
}

static void test_id(void)
{
	const uint8_t bin[] = { 0x00, 0x1f, 0xab, 0xff, 0x10 };
	const uint8_t txt[] = "37b12ad0b066";
	char buf[16];

	wfs_ctl_fmt_id(bin, sizeof(bin), 0, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "001fabff10");
	wfs_ctl_fmt_id(bin, sizeof(bin), 4, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "001f");
	wfs_ctl_fmt_id(bin, sizeof(bin), 5, buf, sizeof(buf)); /* whole bytes */
	CU_ASSERT_STRING_EQUAL(buf, "001f");
	wfs_ctl_fmt_id(bin, sizeof(bin), 99, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "001fabff10");
	wfs_ctl_fmt_id(bin, sizeof(bin), 0, buf, 6);	/* truncated */
	CU_ASSERT_STRING_EQUAL(buf, "001f");
	/* Ids sent as text stay text. */
	wfs_ctl_fmt_id(txt, sizeof(txt) - 1, 0, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "37b12ad0b066");
	wfs_ctl_fmt_id(txt, sizeof(txt) - 1, 8, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "37b12ad0");
	wfs_ctl_fmt_id(txt, sizeof(txt) - 1, 0, buf, 5);
	CU_ASSERT_STRING_EQUAL(buf, "37b1");
	wfs_ctl_fmt_id(bin, 0, 0, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "-");
}

static void test_time(void)
{
	char buf[32];

	setenv("TZ", "UTC", 1);
	tzset();
	wfs_ctl_fmt_time(0, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "1970-01-01 00:00");
	wfs_ctl_fmt_time(1714564800LL * 1000000000 + 999, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "2024-05-01 12:00");
	wfs_ctl_fmt_time(-1, buf, sizeof(buf));	/* 1 ns before 1970 */
	CU_ASSERT_STRING_EQUAL(buf, "1969-12-31 23:59");
}

static void test_disk_state(void)
{
	char buf[WFS_CTL_DISK_STATE_LEN];

	wfs_ctl_fmt_disk_state("online", false, 7, 3, false, buf);
	CU_ASSERT_STRING_EQUAL(buf, "online");
	wfs_ctl_fmt_disk_state("offline", false, 0, 0, false, buf);
	CU_ASSERT_STRING_EQUAL(buf, "offline");
	wfs_ctl_fmt_disk_state("online", true, 120, 0, false, buf);
	CU_ASSERT_STRING_EQUAL(buf, "draining, 120 left");
	wfs_ctl_fmt_disk_state("offline", true, 5, 0, false, buf);
	CU_ASSERT_STRING_EQUAL(buf, "offline (draining, 5 left)");
	wfs_ctl_fmt_disk_state("online", true, 0, 3, false, buf);
	CU_ASSERT_STRING_EQUAL(buf, "draining, 0 left, 3 missing (repair "
			       "rebuilds them)");
	wfs_ctl_fmt_disk_state("online", true, 999999, 1, true, buf);
	CU_ASSERT_STRING_EQUAL(buf, "draining, 999999+ left, 1+ missing "
			       "(repair rebuilds them)");
	/* the longest: it fits */
	wfs_ctl_fmt_disk_state("offline", true, UINT64_MAX, UINT64_MAX, true,
			       buf);
	CU_ASSERT_EQUAL(buf[strlen(buf) - 1], ')');
	/* an older node's "draining" state */
	wfs_ctl_fmt_disk_state("draining", true, 4, 0, false, buf);
	CU_ASSERT_STRING_EQUAL(buf, "draining, 4 left");
	wfs_ctl_fmt_disk_state("draining", false, 0, 0, false, buf);
	CU_ASSERT_STRING_EQUAL(buf, "online");
}

static CU_TestInfo fmt_tests[] = {
	{ "sizes as df -h", test_size },
	{ "random sizes fit", test_size_random },
	{ "use percent", test_pct },
	{ "mode strings", test_mode },
	{ "file types", test_type },
	{ "ids as text or hex", test_id },
	{ "times", test_time },
	{ "disk states while draining", test_disk_state },
	CU_TEST_INFO_NULL,
};
WFS_TEST_SUITE("wormctl fmt", fmt_tests, NULL, NULL)
