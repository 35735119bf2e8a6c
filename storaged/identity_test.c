/* Unit tests for storaged/identity: a key made once and loaded after, the
 * ids derived from it, and refusal of exposed or damaged key files. */
#include "storaged/identity.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit.h"

static void key_path(const char *dir, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", dir, WFS_IDENTITY_FILE);
}

static void test_create_and_load(void)
{
	struct wfs_identity a, b;
	char dir[256], path[300];
	struct stat st;
	bool created;

	CU_ASSERT_EQUAL_FATAL(wfs_test_mkdtemp(dir, sizeof(dir)), 0);
	CU_ASSERT_EQUAL_FATAL(wfs_identity_load(dir, &a, &created), 0);
	CU_ASSERT(created);
	key_path(dir, path, sizeof(path));
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
	CU_ASSERT_EQUAL(strlen(a.node_id), WFS_IDENTITY_ID_LEN);
	for (int i = 0; i < WFS_IDENTITY_ID_LEN; i++)
		CU_ASSERT(strchr("0123456789abcdef", a.node_id[i]) != NULL);
	CU_ASSERT(a.raft_id != 0);
	CU_ASSERT_EQUAL(wfs_identity_raft_id(a.node_id, strlen(a.node_id)),
			a.raft_id);
	CU_ASSERT_EQUAL_FATAL(wfs_identity_load(dir, &b, &created), 0);
	CU_ASSERT(!created);
	CU_ASSERT_STRING_EQUAL(a.node_id, b.node_id);
	CU_ASSERT_EQUAL(memcmp(a.pk, b.pk, sizeof(a.pk)), 0);
	CU_ASSERT_EQUAL(memcmp(a.sk, b.sk, sizeof(a.sk)), 0);
	wfs_identity_release(&a);
	wfs_identity_release(&b);
	CU_ASSERT_EQUAL(a.node_id[0], 0);
}

static void test_derivation(void)
{
	unsigned char pk[WFS_IDENTITY_PK_LEN] = { 0 };
	struct wfs_identity a, b;

	CU_ASSERT_EQUAL(wfs_identity_from_pk(pk, &a), 0);
	pk[31] = 1;
	CU_ASSERT_EQUAL(wfs_identity_from_pk(pk, &b), 0);
	CU_ASSERT(strcmp(a.node_id, b.node_id) != 0);
	CU_ASSERT_EQUAL(wfs_identity_raft_id(b.node_id, 32), b.raft_id);
	CU_ASSERT_EQUAL(wfs_identity_raft_id("xyz", 3), 0);
	CU_ASSERT_EQUAL(wfs_identity_raft_id("g0000000000000000000000000000000",
					     32), 0);
}

static void test_refused(void)
{
	struct wfs_identity a;
	char dir[256], path[300];
	bool created;
	int fd;

	CU_ASSERT_EQUAL_FATAL(wfs_test_mkdtemp(dir, sizeof(dir)), 0);
	CU_ASSERT_EQUAL_FATAL(wfs_identity_load(dir, &a, &created), 0);
	key_path(dir, path, sizeof(path));
	/* Readable by others: refused. */
	CU_ASSERT_EQUAL(chmod(path, 0644), 0);
	CU_ASSERT_EQUAL(wfs_identity_load(dir, &a, &created), -EPERM);
	CU_ASSERT_EQUAL(chmod(path, 0600), 0);
	/* Damaged: refused. */
	fd = open(path, O_WRONLY);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(pwrite(fd, "X", 1, 20), 1);
	close(fd);
	CU_ASSERT_EQUAL(wfs_identity_load(dir, &a, &created), -EBADMSG);
	/* Truncated: refused. */
	CU_ASSERT_EQUAL(truncate(path, 10), 0);
	CU_ASSERT_EQUAL(wfs_identity_load(dir, &a, &created), -EBADMSG);
	/* A directory in its place: refused. */
	CU_ASSERT_EQUAL(unlink(path), 0);
	CU_ASSERT_EQUAL(mkdir(path, 0700), 0);
	CU_ASSERT_EQUAL(wfs_identity_load(dir, &a, &created), -EPERM);
	/* No data directory. */
	CU_ASSERT_EQUAL(wfs_identity_load("/nonexistent/wfs", &a, &created),
			-ENOENT);
}

static CU_TestInfo identity_tests[] = {
	{ "made once, loaded after", test_create_and_load },
	{ "ids derived from the key", test_derivation },
	{ "exposed or damaged keys refused", test_refused },
	CU_TEST_INFO_NULL,
};
WFS_TEST_SUITE("identity", identity_tests, NULL, NULL)
