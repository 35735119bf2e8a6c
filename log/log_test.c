/* Unit tests for log: levels, the sink, and that arguments of a dropped
 * line are never evaluated. */
#include "log/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit.h"

static char last[256];
static int lines;

static void capture(enum wfs_log_level level, const char *sub, const char *line,
		    void *arg)
{
	(void)arg;
	snprintf(last, sizeof(last), "%s %s %s", wfs_log_level_name(level), sub,
		 line);
	lines++;
}

static int side_effects;

static int bump(void)
{
	return ++side_effects;
}

static void test_levels_and_sink(void)
{
	enum wfs_log_level saved = wfs_log_threshold;

	wfs_log_set_sink(capture, NULL);
	wfs_log_set_level(WFS_LOG_WARN);
	lines = 0;
	wfs_log_error("disk", "disk %s offline: %s", "d4", strerror(EIO));
	CU_ASSERT_EQUAL(lines, 1);
	CU_ASSERT_STRING_EQUAL(last, "error disk disk d4 offline: Input/output error");
	wfs_log_debug("disk", "%d", bump());
	CU_ASSERT_EQUAL(lines, 1);
	CU_ASSERT_EQUAL(side_effects, 0);
	wfs_log_set_level(WFS_LOG_DEBUG);
	wfs_log_debug("disk", "%d", bump());
	CU_ASSERT_EQUAL(lines, 2);
	CU_ASSERT_EQUAL(side_effects, 1);
	wfs_log_set_sink(NULL, NULL);
	wfs_log_set_level(saved);
}

static void test_parse_level(void)
{
	enum wfs_log_level l;

	CU_ASSERT_EQUAL(wfs_log_parse_level("info", &l), 0);
	CU_ASSERT_EQUAL(l, WFS_LOG_INFO);
	CU_ASSERT_EQUAL(wfs_log_parse_level("loud", &l), -EINVAL);
}

static void test_file_sink(void)
{
	char dir[256], path[300], buf[512] = "";
	enum wfs_log_level saved = wfs_log_threshold;
	FILE *f;

	CU_ASSERT_EQUAL_FATAL(wfs_test_mkdtemp(dir, sizeof(dir)), 0);
	snprintf(path, sizeof(path), "%s/log", dir);
	CU_ASSERT_EQUAL_FATAL(wfs_log_open_file(path), 0);
	wfs_log_set_level(WFS_LOG_INFO);
	wfs_log_info("node", "started %s", "n1");
	wfs_log_to_stderr();
	wfs_log_set_level(saved);
	f = fopen(path, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_PTR_NOT_NULL(fgets(buf, sizeof(buf), f));
	fclose(f);
	CU_ASSERT_PTR_NOT_NULL(strstr(buf, "info  node: started n1\n"));
	CU_ASSERT_EQUAL(wfs_log_open_file("/nonexistent/dir/log"), -ENOENT);
}

static CU_TestInfo log_tests[] = {
	{ "levels and sink", test_levels_and_sink },
	{ "parse level", test_parse_level },
	{ "file sink", test_file_sink },
	CU_TEST_INFO_NULL,
};
WFS_TEST_SUITE("log", log_tests, NULL, NULL)
