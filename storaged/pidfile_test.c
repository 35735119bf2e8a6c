/* Unit tests for storaged/pidfile: the data directory made, the pid
 * written, a second holder refused with the first one's pid, release. */
#include "storaged/pidfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit.h"

static void test_acquire_release(void)
{
	struct wfs_pidfile a, b;
	char dir[256], data[300], buf[32];
	pid_t holder;
	FILE *f;

	CU_ASSERT_EQUAL_FATAL(wfs_test_mkdtemp(dir, sizeof(dir)), 0);
	snprintf(data, sizeof(data), "%s/x/y", dir);
	CU_ASSERT_EQUAL_FATAL(wfs_pidfile_acquire(data, &a, &holder), 0);
	f = fopen(a.pid_path, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_PTR_NOT_NULL(fgets(buf, sizeof(buf), f));
	fclose(f);
	CU_ASSERT_EQUAL(atol(buf), (long)getpid());
	/* A second holder (another open of the lock file) is refused. */
	CU_ASSERT_EQUAL(wfs_pidfile_acquire(data, &b, &holder), -EBUSY);
	CU_ASSERT_EQUAL(holder, getpid());
	wfs_pidfile_release(&b);	/* a failed acquire: no-op */
	wfs_pidfile_release(&a);
	CU_ASSERT_EQUAL(access(a.pid_path, F_OK), -1);
	CU_ASSERT_EQUAL(wfs_pidfile_acquire(data, &b, &holder), 0);
	wfs_pidfile_release(&b);
	wfs_pidfile_release(&b);	/* twice: no-op */
}

static void test_errors(void)
{
	struct wfs_pidfile a;
	pid_t holder;

	/* /proc takes no new directory. */
	CU_ASSERT(wfs_pidfile_acquire("/proc/wfs-no", &a, &holder) < 0);
	wfs_pidfile_release(&a);
}

static CU_TestInfo pidfile_tests[] = {
	{ "acquire, refuse a second, release", test_acquire_release },
	{ "errors", test_errors },
	CU_TEST_INFO_NULL,
};
WFS_TEST_SUITE("pidfile", pidfile_tests, NULL, NULL)
