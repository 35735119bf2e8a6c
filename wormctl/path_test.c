/* Unit tests for wormctl/path: components and parent/name splits. */
#include "wormctl/path.h"

#include <errno.h>
#include <string.h>

#include "tests/unit.h"

/* The components of @path joined by '|', or the error. */
static int components(const char *path, char *out, size_t size)
{
	const char *cur = path, *name;
	size_t len, o = 0;
	int rc;

	out[0] = '\0';
	while ((rc = wfs_ctl_path_next(&cur, &name, &len)) == 1) {
		if (o + len + 2 > size)
			return -ERANGE;
		if (o)
			out[o++] = '|';
		memcpy(out + o, name, len);
		o += len;
		out[o] = '\0';
	}
	return rc;
}

static void test_next(void)
{
	char out[600];

	CU_ASSERT_EQUAL(components("/", out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "");
	CU_ASSERT_EQUAL(components("", out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "");
	CU_ASSERT_EQUAL(components("/a/b", out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "a|b");
	CU_ASSERT_EQUAL(components("a//b///", out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "a|b");
	CU_ASSERT_EQUAL(components("/./a/./../.b/", out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "a|..|.b");
	CU_ASSERT_EQUAL(components("/x y/\xff\xfe", out, sizeof(out)), 0);
	CU_ASSERT_STRING_EQUAL(out, "x y|\xff\xfe");
}

static void test_long_name(void)
{
	char path[600], out[600];

	memset(path, 'n', sizeof(path));
	path[0] = '/';
	path[1 + WFS_CTL_NAME_MAX] = '\0';	/* exactly NAME_MAX: fine */
	CU_ASSERT_EQUAL(components(path, out, sizeof(out)), 0);
	CU_ASSERT_EQUAL(strlen(out), WFS_CTL_NAME_MAX);
	path[1 + WFS_CTL_NAME_MAX] = 'n';
	path[2 + WFS_CTL_NAME_MAX] = '\0';
	CU_ASSERT_EQUAL(components(path, out, sizeof(out)), -ENAMETOOLONG);
}

static void check_split(const char *path, int want_rc, const char *dir,
			const char *base)
{
	char d[64], b[WFS_CTL_NAME_MAX + 1];
	int rc = wfs_ctl_path_split(path, d, sizeof(d), b, sizeof(b));

	CU_ASSERT_EQUAL(rc, want_rc);
	if (rc == 0 && want_rc == 0) {
		CU_ASSERT_STRING_EQUAL(d, dir);
		CU_ASSERT_STRING_EQUAL(b, base);
	}
}

static void test_split(void)
{
	check_split("/a", 0, "/", "a");
	check_split("a", 0, "/", "a");
	check_split("/a/b/c", 0, "/a/b", "c");
	check_split("//a//b//", 0, "/a", "b");
	check_split("/a/./b/.", 0, "/a", "b");
	check_split("/a/../b", 0, "/a/..", "b");
	check_split("/", -EINVAL, NULL, NULL);
	check_split("", -EINVAL, NULL, NULL);
	check_split("/./.", -EINVAL, NULL, NULL);
	check_split("/a/..", -EINVAL, NULL, NULL);
}

static void test_split_small(void)
{
	char d[4], b[WFS_CTL_NAME_MAX + 1], small[2];

	CU_ASSERT_EQUAL(wfs_ctl_path_split("/ab/c", d, sizeof(d), b,
					   sizeof(b)), 0);
	CU_ASSERT_STRING_EQUAL(d, "/ab");
	CU_ASSERT_EQUAL(wfs_ctl_path_split("/abc/d", d, sizeof(d), b,
					   sizeof(b)), -ERANGE);
	CU_ASSERT_EQUAL(wfs_ctl_path_split("/ab", d, sizeof(d), small,
					   sizeof(small)), -ERANGE);
}

static CU_TestInfo path_tests[] = {
	{ "components", test_next },
	{ "name too long", test_long_name },
	{ "parent and name", test_split },
	{ "buffers too small", test_split_small },
	CU_TEST_INFO_NULL,
};
WFS_TEST_SUITE("wormctl path", path_tests, NULL, NULL)
