/* Unit tests for apply: every op type, its success and each of its errors
 * with the errno a local file system gives, against a fresh store each. */
#include <errno.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdlib.h>

#include "metadata/meta_test_internal.h"

#define ROOT WFS_META_ROOT_INO

static struct fx f;

/* Every test gets a fresh formatted store. */
static void fresh(void)
{
	fx_close(&f);
	CU_ASSERT_FATAL(fx_setup(&f) == 0);
}

static int teardown(void)
{
	fx_close(&f);
	return 0;
}

/* Run @sql on the closed store's file, then reopen it (to put the store in
 * states apply would need thousands of ops to reach). */
static void poke_sql(const char *sql)
{
	sqlite3 *db;

	fx_close(&f);
	CU_ASSERT_FATAL(sqlite3_open(f.path, &db) == SQLITE_OK);
	CU_ASSERT_EQUAL(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	CU_ASSERT_FATAL(wfs_meta_open(f.path, &f.m) == 0);
}

/* ---- FORMAT ---- */

static void test_format(void)
{
	struct wfs_meta_policy p;
	struct wfs_meta_attr a;
	struct wfs_meta_result r;
	struct wfs_meta_op op;
	char id[64];

	fx_close(&f);
	CU_ASSERT_FATAL(fx_open(&f) == 0);
	CU_ASSERT_EQUAL(wfs_meta_cluster_id(f.m, id, sizeof(id)), -ENODEV);
	CU_ASSERT_EQUAL(fx_apply(&f, op_mknod(ROOT, "x"), NULL), -ENODEV);
	CU_ASSERT_EQUAL(wfs_meta_applied_index(f.m), 1);

	op = op_format();
	op.u.format.root_mode = S_IFDIR | 0755;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EINVAL);
	op = op_format();
	op.u.format.k = 0;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EINVAL);
	op = op_format();
	op.u.format.chunk_size = 1000;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EINVAL);
	op = op_format();
	op.u.format.cluster_id = B("");
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EINVAL);
	CU_ASSERT_EQUAL(wfs_meta_getattr(f.m, ROOT, &a), -ENOENT);

	CU_ASSERT_EQUAL(fx_apply(&f, op_format(), &r), 0);
	CU_ASSERT_EQUAL(r.attr.ino, ROOT);
	a = fx_attr(&f, ROOT);
	CU_ASSERT_EQUAL(a.mode, S_IFDIR | 0755);
	CU_ASSERT_EQUAL(a.nlink, 2);
	CU_ASSERT_EQUAL(a.uid, T_UID);
	CU_ASSERT_EQUAL(a.gid, T_GID);
	CU_ASSERT_EQUAL(a.generation, f.index);
	CU_ASSERT_EQUAL(a.mtime_ns, T_TIME);
	CU_ASSERT_EQUAL(a.btime_ns, T_TIME);
	CU_ASSERT_EQUAL(wfs_meta_policy_get(f.m, 1, &p), 0);
	CU_ASSERT_STRING_EQUAL(p.name, "default");
	CU_ASSERT_EQUAL(p.k, 4);
	CU_ASSERT_EQUAL(p.m, 2);
	CU_ASSERT_EQUAL(p.chunk_size, 1 << 20);
	CU_ASSERT_EQUAL(wfs_meta_cluster_id(f.m, id, sizeof(id)), 12);
	CU_ASSERT_EQUAL(memcmp(id, "test-cluster", 12), 0);
	CU_ASSERT_EQUAL(wfs_meta_cluster_id(f.m, id, 4), -ERANGE);
	CU_ASSERT_EQUAL(fx_apply(&f, op_format(), NULL), -EEXIST);
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
}

/* ---- MKNOD, MKDIR, SYMLINK ---- */

static void test_create(void)
{
	struct wfs_meta_attr a, root;
	struct wfs_meta_result r;
	uint64_t ino, dir;

	fresh();
	f.now = T_TIME + 5;
	CU_ASSERT_EQUAL(fx_apply(&f, op_mknod(ROOT, "file"), &r), 0);
	ino = r.attr.ino;
	CU_ASSERT_EQUAL(ino, 2);
	a = fx_attr(&f, ino);
	CU_ASSERT_EQUAL(a.mode, S_IFREG | 0644);
	CU_ASSERT_EQUAL(a.nlink, 1);
	CU_ASSERT_EQUAL(a.uid, T_UID);
	CU_ASSERT_EQUAL(a.size, 0);
	CU_ASSERT_EQUAL(a.generation, f.index);
	CU_ASSERT_EQUAL(a.atime_ns, T_TIME + 5);
	CU_ASSERT_EQUAL(a.ctime_ns, T_TIME + 5);
	CU_ASSERT_EQUAL(a.btime_ns, T_TIME + 5);
	CU_ASSERT_EQUAL(a.policy_id, 1);
	CU_ASSERT(attr_eq(&a, &r.attr));
	root = fx_attr(&f, ROOT);
	CU_ASSERT_EQUAL(root.mtime_ns, T_TIME + 5);
	CU_ASSERT_EQUAL(root.ctime_ns, T_TIME + 5);
	CU_ASSERT_EQUAL(root.nlink, 2);
	CU_ASSERT_EQUAL(fx_ino(&f, ROOT, "file"), ino);

	dir = fx_mkdir(&f, ROOT, "dir");
	CU_ASSERT_EQUAL(dir, 3);
	a = fx_attr(&f, dir);
	CU_ASSERT_EQUAL(a.mode, S_IFDIR | 0755);
	CU_ASSERT_EQUAL(a.nlink, 2);
	CU_ASSERT_EQUAL(a.policy_id, 0);
	CU_ASSERT_EQUAL(fx_attr(&f, ROOT).nlink, 3);
	CU_ASSERT_EQUAL(wfs_meta_lookup(f.m, dir, B(".."), &a), 0);
	CU_ASSERT_EQUAL(a.ino, ROOT);
	CU_ASSERT_EQUAL(wfs_meta_lookup(f.m, dir, B("."), &a), 0);
	CU_ASSERT_EQUAL(a.ino, dir);
	CU_ASSERT_EQUAL(wfs_meta_lookup(f.m, ROOT, B(".."), &a), 0);
	CU_ASSERT_EQUAL(a.ino, ROOT);

	/* fifo, device: rdev only for devices */
	struct wfs_meta_op op = op_create(WFS_META_OP_MKNOD, dir, "fifo",
					  S_IFIFO | 0600);
	op.u.create.rdev = 77;
	CU_ASSERT_EQUAL(fx_apply(&f, op, &r), 0);
	CU_ASSERT_EQUAL(r.attr.mode, S_IFIFO | 0600);
	CU_ASSERT_EQUAL(r.attr.rdev, 0);
	CU_ASSERT_EQUAL(r.attr.policy_id, 0);
	op = op_create(WFS_META_OP_MKNOD, dir, "dev", S_IFCHR | 0600);
	op.u.create.rdev = 0x0103;
	CU_ASSERT_EQUAL(fx_apply(&f, op, &r), 0);
	CU_ASSERT_EQUAL(r.attr.rdev, 0x0103);
	/* setuid bits kept, junk above the type dropped */
	op = op_create(WFS_META_OP_MKNOD, dir, "suid", S_IFREG | 04755);
	CU_ASSERT_EQUAL(fx_apply(&f, op, &r), 0);
	CU_ASSERT_EQUAL(r.attr.mode, S_IFREG | 04755);
	/* no type is a regular file, as mknod(2) has it */
	op = op_create(WFS_META_OP_MKNOD, dir, "plain", 0640);
	CU_ASSERT_EQUAL(fx_apply(&f, op, &r), 0);
	CU_ASSERT_EQUAL(r.attr.mode, S_IFREG | 0640);
}

static void test_create_errors(void)
{
	char longname[WFS_META_NAME_MAX + 2];
	struct wfs_meta_op op;
	uint64_t file;

	fresh();
	file = fx_mknod(&f, ROOT, "file");
	CU_ASSERT_EQUAL(fx_apply(&f, op_mknod(99, "x"), NULL), -ENOENT);
	CU_ASSERT_EQUAL(fx_apply(&f, op_mknod(file, "x"), NULL), -ENOTDIR);
	CU_ASSERT_EQUAL(fx_apply(&f, op_mkdir(file, "x"), NULL), -ENOTDIR);
	CU_ASSERT_EQUAL(fx_apply(&f, op_mknod(ROOT, "file"), NULL), -EEXIST);
	CU_ASSERT_EQUAL(fx_apply(&f, op_mkdir(ROOT, "file"), NULL), -EEXIST);
	memset(longname, 'n', sizeof(longname));
	longname[WFS_META_NAME_MAX + 1] = '\0';
	CU_ASSERT_EQUAL(fx_apply(&f, op_mknod(ROOT, longname), NULL),
			-ENAMETOOLONG);
	longname[WFS_META_NAME_MAX] = '\0';
	CU_ASSERT_EQUAL(fx_apply(&f, op_mknod(ROOT, longname), NULL), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_mknod(ROOT, ""), NULL), -EINVAL);
	CU_ASSERT_EQUAL(fx_apply(&f, op_mknod(ROOT, "."), NULL), -EINVAL);
	CU_ASSERT_EQUAL(fx_apply(&f, op_mkdir(ROOT, ".."), NULL), -EINVAL);
	CU_ASSERT_EQUAL(fx_apply(&f, op_mknod(ROOT, "a/b"), NULL), -EINVAL);
	op = op_mknod(ROOT, "a");
	op.u.create.name.len = 3;	/* "a\0" and one more byte */
	op.u.create.name.data = "a\0b";
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EINVAL);
	/* names are bytes: anything else goes */
	CU_ASSERT_EQUAL(fx_apply(&f, op_mknod(ROOT, "\xff\x01 ..."), NULL), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_mknod(ROOT, "..."), NULL), 0);

	op = op_create(WFS_META_OP_MKNOD, ROOT, "d", S_IFDIR | 0755);
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EINVAL);
	op = op_create(WFS_META_OP_MKNOD, ROOT, "d", 0170644);
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EINVAL);
	op = op_create(WFS_META_OP_MKNOD, ROOT, "d", S_IFLNK | 0777);
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EINVAL);

	op = op_create(WFS_META_OP_SYMLINK, ROOT, "l", 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -ENOENT);
	op.u.create.target.len = WFS_META_SYMLINK_MAX + 1;
	op.u.create.target.data = calloc(1, op.u.create.target.len);
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -ENAMETOOLONG);
	free((void *)op.u.create.target.data);
	CU_ASSERT_EQUAL(fx_ino(&f, ROOT, "d"), 0);
	CU_ASSERT_EQUAL(fx_ino(&f, ROOT, "l"), 0);
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
}

static void test_symlink(void)
{
	struct wfs_meta_result r;
	struct wfs_meta_op op;
	char buf[64];

	fresh();
	op = op_create(WFS_META_OP_SYMLINK, ROOT, "link", 0);
	op.u.create.target = B("../some/where");
	CU_ASSERT_EQUAL(fx_apply(&f, op, &r), 0);
	CU_ASSERT_EQUAL(r.attr.mode, S_IFLNK | 0777);
	CU_ASSERT_EQUAL(r.attr.size, 13);
	CU_ASSERT_EQUAL(r.attr.nlink, 1);
	CU_ASSERT_EQUAL(wfs_meta_readlink(f.m, r.attr.ino, buf, sizeof(buf)),
			13);
	CU_ASSERT_STRING_EQUAL(buf, "../some/where");
	CU_ASSERT_EQUAL(wfs_meta_readlink(f.m, r.attr.ino, buf, 13), -ERANGE);
	CU_ASSERT_EQUAL(wfs_meta_readlink(f.m, ROOT, buf, sizeof(buf)),
			-EINVAL);
	CU_ASSERT_EQUAL(wfs_meta_readlink(f.m, 999, buf, sizeof(buf)),
			-ENOENT);
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EEXIST);
}

/* ---- LINK, UNLINK, RMDIR, PURGE ---- */

static struct wfs_meta_op op_link(uint64_t ino, uint64_t parent,
				  const char *name)
{
	struct wfs_meta_op op = op_new(WFS_META_OP_LINK);

	op.u.link.ino = ino;
	op.u.link.parent = parent;
	op.u.link.name = B(name);
	return op;
}

static void test_link(void)
{
	struct wfs_meta_result r;
	uint64_t file, dir, other;
	char sql[96];

	fresh();
	file = fx_mknod(&f, ROOT, "file");
	dir = fx_mkdir(&f, ROOT, "dir");
	f.now = T_TIME + 9;
	CU_ASSERT_EQUAL(fx_apply(&f, op_link(file, dir, "again"), &r), 0);
	CU_ASSERT_EQUAL(r.attr.nlink, 2);
	CU_ASSERT_EQUAL(r.attr.ctime_ns, T_TIME + 9);
	CU_ASSERT_EQUAL(fx_ino(&f, dir, "again"), file);
	CU_ASSERT_EQUAL(fx_attr(&f, dir).mtime_ns, T_TIME + 9);
	CU_ASSERT_EQUAL(fx_attr(&f, dir).nlink, 2);

	CU_ASSERT_EQUAL(fx_apply(&f, op_link(file, dir, "again"), NULL),
			-EEXIST);
	CU_ASSERT_EQUAL(fx_apply(&f, op_link(dir, ROOT, "dir2"), NULL), -EPERM);
	CU_ASSERT_EQUAL(fx_ino(&f, ROOT, "dir2"), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_link(999, ROOT, "x"), NULL), -ENOENT);
	CU_ASSERT_EQUAL(fx_apply(&f, op_link(file, 999, "x"), NULL), -ENOENT);
	CU_ASSERT_EQUAL(fx_apply(&f, op_link(file, file, "x"), NULL), -ENOTDIR);
	CU_ASSERT_EQUAL(fx_apply(&f, op_link(file, ROOT, "a/b"), NULL),
			-EINVAL);

	/* The link count limit, with the count set directly. */
	other = fx_mknod(&f, ROOT, "many");
	snprintf(sql, sizeof(sql), "UPDATE inodes SET nlink = %d WHERE "
		 "ino = %llu", WFS_META_LINK_MAX - 1,
		 (unsigned long long)other);
	poke_sql(sql);
	CU_ASSERT_EQUAL(fx_apply(&f, op_link(other, ROOT, "l1"), &r), 0);
	CU_ASSERT_EQUAL(r.attr.nlink, WFS_META_LINK_MAX);
	CU_ASSERT_EQUAL(fx_apply(&f, op_link(other, ROOT, "l2"), NULL),
			-EMLINK);
	CU_ASSERT_EQUAL(fx_ino(&f, ROOT, "l2"), 0);
}

static int count_orphan(const struct wfs_meta_attr *a, void *arg)
{
	uint64_t *found = arg;

	found[0]++;
	found[1] = a->ino;
	return 0;
}

static void test_unlink_purge(void)
{
	struct wfs_meta_result r;
	struct wfs_meta_attr a;
	struct wfs_meta_op op;
	uint64_t file, dir, found[2] = { 0, 0 }, inodes, bytes;

	fresh();
	dir = fx_mkdir(&f, ROOT, "dir");
	file = fx_mknod(&f, dir, "file");
	CU_ASSERT_EQUAL(fx_apply(&f, op_link(file, ROOT, "hard"), NULL), 0);
	f.now = T_TIME + 3;
	CU_ASSERT_EQUAL(fx_apply(&f, op_remove(WFS_META_OP_UNLINK, dir,
					       "file"), &r), 0);
	CU_ASSERT_EQUAL(r.attr.nlink, 1);
	CU_ASSERT_EQUAL(r.value, 0);
	CU_ASSERT_EQUAL(fx_ino(&f, dir, "file"), 0);
	CU_ASSERT_EQUAL(fx_attr(&f, dir).mtime_ns, T_TIME + 3);
	CU_ASSERT_EQUAL(fx_attr(&f, file).ctime_ns, T_TIME + 3);

	op = op_new(WFS_META_OP_PURGE);
	op.u.purge.ino = file;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EBUSY);
	CU_ASSERT_EQUAL(fx_apply(&f, op_remove(WFS_META_OP_UNLINK, ROOT,
					       "hard"), &r), 0);
	CU_ASSERT_EQUAL(r.attr.nlink, 0);
	CU_ASSERT_EQUAL(r.value, file);
	/* an orphan: still there by number, listed as one */
	CU_ASSERT_EQUAL(wfs_meta_getattr(f.m, file, &a), 0);
	CU_ASSERT_EQUAL(a.nlink, 0);
	CU_ASSERT_EQUAL(wfs_meta_orphans(f.m, 0, 10, count_orphan, found), 1);
	CU_ASSERT_EQUAL(found[1], file);
	CU_ASSERT_EQUAL(fx_apply(&f, op_link(file, ROOT, "back"), NULL),
			-ENOENT);
	wfs_meta_usage(f.m, &inodes, &bytes);
	CU_ASSERT_EQUAL(inodes, 3);

	CU_ASSERT_EQUAL(fx_apply(&f, op, &r), 0);
	CU_ASSERT_EQUAL(r.attr.ino, file);
	CU_ASSERT_EQUAL(wfs_meta_getattr(f.m, file, &a), -ENOENT);
	CU_ASSERT_EQUAL(wfs_meta_orphans(f.m, 0, 10, count_orphan, found), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -ENOENT);
	wfs_meta_usage(f.m, &inodes, &bytes);
	CU_ASSERT_EQUAL(inodes, 2);
	op.u.purge.ino = dir;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EBUSY);
	op.u.purge.ino = ROOT;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EBUSY);

	/* errors */
	CU_ASSERT_EQUAL(fx_apply(&f, op_remove(WFS_META_OP_UNLINK, ROOT,
					       "dir"), NULL), -EISDIR);
	CU_ASSERT_EQUAL(fx_apply(&f, op_remove(WFS_META_OP_UNLINK, ROOT,
					       "none"), NULL), -ENOENT);
	CU_ASSERT_EQUAL(fx_apply(&f, op_remove(WFS_META_OP_UNLINK, 999,
					       "x"), NULL), -ENOENT);
	file = fx_mknod(&f, ROOT, "f2");
	CU_ASSERT_EQUAL(fx_apply(&f, op_remove(WFS_META_OP_UNLINK, file,
					       "x"), NULL), -ENOTDIR);
	CU_ASSERT_EQUAL(fx_apply(&f, op_remove(WFS_META_OP_UNLINK, ROOT,
					       "."), NULL), -EINVAL);
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
}

static void test_rmdir(void)
{
	struct wfs_meta_result r;
	uint64_t dir, sub;

	fresh();
	dir = fx_mkdir(&f, ROOT, "dir");
	sub = fx_mkdir(&f, dir, "sub");
	fx_mknod(&f, ROOT, "file");
	CU_ASSERT_EQUAL(fx_attr(&f, dir).nlink, 3);
	CU_ASSERT_EQUAL(fx_apply(&f, op_remove(WFS_META_OP_RMDIR, ROOT, "dir"),
				 NULL), -ENOTEMPTY);
	CU_ASSERT_EQUAL(fx_apply(&f, op_remove(WFS_META_OP_RMDIR, ROOT,
					       "file"), NULL), -ENOTDIR);
	CU_ASSERT_EQUAL(fx_apply(&f, op_remove(WFS_META_OP_RMDIR, ROOT,
					       "none"), NULL), -ENOENT);
	CU_ASSERT_EQUAL(fx_apply(&f, op_remove(WFS_META_OP_RMDIR, ROOT, "."),
				 NULL), -EINVAL);
	CU_ASSERT_EQUAL(fx_apply(&f, op_remove(WFS_META_OP_RMDIR, dir, ".."),
				 NULL), -EINVAL);
	f.now = T_TIME + 7;
	CU_ASSERT_EQUAL(fx_apply(&f, op_remove(WFS_META_OP_RMDIR, dir, "sub"),
				 &r), 0);
	CU_ASSERT_EQUAL(r.value, sub);
	CU_ASSERT_EQUAL(r.attr.nlink, 0);
	CU_ASSERT_EQUAL(fx_attr(&f, dir).nlink, 2);
	CU_ASSERT_EQUAL(fx_attr(&f, dir).mtime_ns, T_TIME + 7);
	CU_ASSERT_EQUAL(fx_attr(&f, sub).nlink, 0);
	/* nothing is created in a removed directory */
	CU_ASSERT_EQUAL(fx_apply(&f, op_mknod(sub, "x"), NULL), -ENOENT);
	CU_ASSERT_EQUAL(fx_apply(&f, op_remove(WFS_META_OP_RMDIR, ROOT, "dir"),
				 NULL), 0);
	CU_ASSERT_EQUAL(fx_attr(&f, ROOT).nlink, 2);
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
}

/* ---- RENAME ---- */

static void test_rename_basic(void)
{
	struct wfs_meta_result r;
	uint64_t a, b, file, sub;

	fresh();
	a = fx_mkdir(&f, ROOT, "a");
	b = fx_mkdir(&f, ROOT, "b");
	file = fx_mknod(&f, a, "file");
	sub = fx_mkdir(&f, a, "sub");
	f.now = T_TIME + 11;
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(a, "file", a, "renamed", 0),
				 &r), 0);
	CU_ASSERT_EQUAL(r.attr.ino, file);
	CU_ASSERT_EQUAL(r.attr.ctime_ns, T_TIME + 11);
	CU_ASSERT_EQUAL(fx_ino(&f, a, "file"), 0);
	CU_ASSERT_EQUAL(fx_ino(&f, a, "renamed"), file);
	CU_ASSERT_EQUAL(fx_attr(&f, a).mtime_ns, T_TIME + 11);

	/* a directory moves: link counts and ".." follow */
	CU_ASSERT_EQUAL(fx_attr(&f, a).nlink, 3);
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(a, "sub", b, "moved", 0), NULL),
			0);
	CU_ASSERT_EQUAL(fx_attr(&f, a).nlink, 2);
	CU_ASSERT_EQUAL(fx_attr(&f, b).nlink, 3);
	CU_ASSERT_EQUAL(fx_attr(&f, b).mtime_ns, T_TIME + 11);
	CU_ASSERT_EQUAL(fx_ino(&f, sub, ".."), b);
	CU_ASSERT_EQUAL(fx_ino(&f, b, "moved"), sub);

	/* a file moves across directories: no link count change */
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(a, "renamed", ROOT, "top", 0),
				 NULL), 0);
	CU_ASSERT_EQUAL(fx_attr(&f, file).nlink, 1);
	CU_ASSERT_EQUAL(fx_attr(&f, ROOT).nlink, 4);

	/* errors */
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(a, "none", b, "x", 0), NULL),
			-ENOENT);
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(999, "x", b, "x", 0), NULL),
			-ENOENT);
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(ROOT, "top", 999, "x", 0),
				 NULL), -ENOENT);
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(ROOT, "top", file, "x", 0),
				 NULL), -ENOTDIR);
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(ROOT, "top", ROOT, "", 0),
				 NULL), -EINVAL);
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(ROOT, "top", ROOT, "x", 4),
				 NULL), -EINVAL);
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(ROOT, "top", ROOT, "x",
					       WFS_META_RENAME_NOREPLACE |
					       WFS_META_RENAME_EXCHANGE),
				 NULL), -EINVAL);
	CU_ASSERT_EQUAL(fx_ino(&f, ROOT, "top"), file);
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
}

static void test_rename_replace(void)
{
	struct wfs_meta_result r;
	uint64_t f1, f2, d1, d2, d3, full;

	fresh();
	f1 = fx_mknod(&f, ROOT, "f1");
	f2 = fx_mknod(&f, ROOT, "f2");
	d1 = fx_mkdir(&f, ROOT, "d1");
	d2 = fx_mkdir(&f, ROOT, "d2");
	d3 = fx_mkdir(&f, d2, "d3");
	full = fx_mkdir(&f, ROOT, "full");
	fx_mknod(&f, full, "content");
	CU_ASSERT_EQUAL(fx_attr(&f, ROOT).nlink, 5);

	/* file over file: the old target is an orphan */
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(ROOT, "f1", ROOT, "f2", 0), &r),
			0);
	CU_ASSERT_EQUAL(r.value, f2);
	CU_ASSERT_EQUAL(fx_ino(&f, ROOT, "f2"), f1);
	CU_ASSERT_EQUAL(fx_ino(&f, ROOT, "f1"), 0);
	CU_ASSERT_EQUAL(fx_attr(&f, f2).nlink, 0);

	/* kinds that do not replace each other */
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(ROOT, "d1", ROOT, "f2", 0),
				 NULL), -ENOTDIR);
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(ROOT, "f2", ROOT, "d1", 0),
				 NULL), -EISDIR);
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(ROOT, "d1", ROOT, "full", 0),
				 NULL), -ENOTEMPTY);
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(ROOT, "f2", ROOT, "d1",
					       WFS_META_RENAME_NOREPLACE),
				 NULL), -EEXIST);

	/* directory over an empty directory, across parents */
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(ROOT, "d1", d2, "d3", 0), &r),
			0);
	CU_ASSERT_EQUAL(r.value, d3);
	CU_ASSERT_EQUAL(fx_attr(&f, d3).nlink, 0);
	CU_ASSERT_EQUAL(fx_attr(&f, d2).nlink, 3);
	CU_ASSERT_EQUAL(fx_attr(&f, ROOT).nlink, 4);
	CU_ASSERT_EQUAL(fx_ino(&f, d2, "d3"), d1);
	CU_ASSERT_EQUAL(fx_ino(&f, d1, ".."), d2);

	/* NOREPLACE onto a free name works */
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(ROOT, "f2", ROOT, "f3",
					       WFS_META_RENAME_NOREPLACE),
				 NULL), 0);
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
}

static void test_rename_subtree(void)
{
	uint64_t a, b, c;

	fresh();
	a = fx_mkdir(&f, ROOT, "a");
	b = fx_mkdir(&f, a, "b");
	c = fx_mkdir(&f, b, "c");
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(ROOT, "a", c, "a", 0), NULL),
			-EINVAL);
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(ROOT, "a", a, "x", 0), NULL),
			-EINVAL);
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(a, "b", c, "x", 0), NULL),
			-EINVAL);
	/* onto an ancestor: that target is not empty */
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(b, "c", ROOT, "a", 0), NULL),
			-ENOTEMPTY);
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(ROOT, "a", c, "x",
					       WFS_META_RENAME_EXCHANGE),
				 NULL), -ENOENT);
	fx_mknod(&f, c, "x");
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(ROOT, "a", c, "x",
					       WFS_META_RENAME_EXCHANGE),
				 NULL), -EINVAL);
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(b, "c", a, "b",
					       WFS_META_RENAME_EXCHANGE),
				 NULL), -EINVAL);
	/* moving up is fine */
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(b, "c", ROOT, "c", 0), NULL), 0);
	CU_ASSERT_EQUAL(fx_ino(&f, c, ".."), ROOT);
	CU_ASSERT_EQUAL(fx_attr(&f, b).nlink, 2);
	CU_ASSERT_EQUAL(fx_attr(&f, ROOT).nlink, 4);
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
}

static void test_rename_exchange(void)
{
	struct wfs_meta_result r;
	uint64_t d, file, sub;

	fresh();
	d = fx_mkdir(&f, ROOT, "d");
	file = fx_mknod(&f, ROOT, "file");
	sub = fx_mkdir(&f, d, "sub");
	f.now = T_TIME + 13;
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(ROOT, "file", d, "sub",
					       WFS_META_RENAME_EXCHANGE), &r),
			0);
	CU_ASSERT_EQUAL(r.value, 0);
	CU_ASSERT_EQUAL(fx_ino(&f, ROOT, "file"), sub);
	CU_ASSERT_EQUAL(fx_ino(&f, d, "sub"), file);
	CU_ASSERT_EQUAL(fx_ino(&f, sub, ".."), ROOT);
	CU_ASSERT_EQUAL(fx_attr(&f, d).nlink, 2);
	CU_ASSERT_EQUAL(fx_attr(&f, ROOT).nlink, 4);
	CU_ASSERT_EQUAL(fx_attr(&f, file).ctime_ns, T_TIME + 13);
	CU_ASSERT_EQUAL(fx_attr(&f, sub).ctime_ns, T_TIME + 13);
	CU_ASSERT_EQUAL(fx_attr(&f, d).mtime_ns, T_TIME + 13);
	CU_ASSERT_EQUAL(fx_attr(&f, file).nlink, 1);
	/* same directory, two files */
	fx_mknod(&f, ROOT, "other");
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(ROOT, "other", d, "sub",
					       WFS_META_RENAME_EXCHANGE), NULL),
			0);
	CU_ASSERT_EQUAL(fx_ino(&f, ROOT, "other"), file);
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(ROOT, "other", ROOT, "nope",
					       WFS_META_RENAME_EXCHANGE), NULL),
			-ENOENT);
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
}

static void test_rename_hardlink(void)
{
	struct wfs_meta_result r;
	uint64_t file;

	fresh();
	file = fx_mknod(&f, ROOT, "one");
	CU_ASSERT_EQUAL(fx_apply(&f, op_link(file, ROOT, "two"), NULL), 0);
	f.now = T_TIME + 1;
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(ROOT, "one", ROOT, "two", 0),
				 &r), 0);
	CU_ASSERT_EQUAL(r.value, 0);
	CU_ASSERT_EQUAL(fx_ino(&f, ROOT, "one"), file);
	CU_ASSERT_EQUAL(fx_ino(&f, ROOT, "two"), file);
	CU_ASSERT_EQUAL(fx_attr(&f, file).nlink, 2);
	CU_ASSERT_EQUAL(fx_attr(&f, file).ctime_ns, T_TIME);
	/* onto itself */
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(ROOT, "one", ROOT, "one", 0),
				 NULL), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(ROOT, "one", ROOT, "two",
					       WFS_META_RENAME_NOREPLACE),
				 NULL), -EEXIST);
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
}

/* ---- SETATTR ---- */

static struct wfs_meta_op op_setattr(uint64_t ino, uint32_t flags)
{
	struct wfs_meta_op op = op_new(WFS_META_OP_SETATTR);

	op.u.setattr.ino = ino;
	op.u.setattr.flags = flags;
	return op;
}

static void test_setattr(void)
{
	struct wfs_meta_result r;
	struct wfs_meta_op op;
	uint64_t file, dir, link;

	fresh();
	file = fx_mknod(&f, ROOT, "file");
	dir = fx_mkdir(&f, ROOT, "dir");
	op = op_create(WFS_META_OP_SYMLINK, ROOT, "link", 0);
	op.u.create.target = B("file");
	CU_ASSERT_EQUAL(fx_apply(&f, op, &r), 0);
	link = r.attr.ino;

	f.now = T_TIME + 20;
	op = op_setattr(file, WFS_META_SET_MODE | WFS_META_SET_UID |
				      WFS_META_SET_GID);
	op.u.setattr.mode = S_IFDIR | 02700;
	op.u.setattr.uid = 7;
	op.u.setattr.gid = 8;
	CU_ASSERT_EQUAL(fx_apply(&f, op, &r), 0);
	CU_ASSERT_EQUAL(r.attr.mode, S_IFREG | 02700);
	CU_ASSERT_EQUAL(r.attr.uid, 7);
	CU_ASSERT_EQUAL(r.attr.gid, 8);
	CU_ASSERT_EQUAL(r.attr.ctime_ns, T_TIME + 20);
	CU_ASSERT_EQUAL(r.attr.mtime_ns, T_TIME);

	op = op_setattr(file, WFS_META_SET_ATIME | WFS_META_SET_MTIME |
				      WFS_META_SET_CTIME);
	op.u.setattr.atime_ns = 1;
	op.u.setattr.mtime_ns = -2;
	op.u.setattr.ctime_ns = 3;
	CU_ASSERT_EQUAL(fx_apply(&f, op, &r), 0);
	CU_ASSERT_EQUAL(fx_attr(&f, file).atime_ns, 1);
	CU_ASSERT_EQUAL(fx_attr(&f, file).mtime_ns, -2);
	CU_ASSERT_EQUAL(fx_attr(&f, file).ctime_ns, 3);

	op = op_setattr(file, WFS_META_SET_SIZE);
	op.u.setattr.size = 12345;
	CU_ASSERT_EQUAL(fx_apply(&f, op, &r), 0);
	CU_ASSERT_EQUAL(r.attr.size, 12345);
	CU_ASSERT_EQUAL(r.attr.mtime_ns, T_TIME + 20);
	op.u.setattr.ino = dir;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EISDIR);
	op.u.setattr.ino = link;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EINVAL);
	op.u.setattr.ino = file;
	op.u.setattr.size = (uint64_t)INT64_MAX + 1;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EFBIG);
	op.u.setattr.ino = 999;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -ENOENT);
	op = op_setattr(file, 1u << 20);
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EINVAL);
	CU_ASSERT_EQUAL(fx_attr(&f, file).size, 12345);
}

/* ---- XATTRS ---- */

static struct wfs_meta_op op_xattr(uint32_t type, uint64_t ino,
				   const char *name, const char *value,
				   uint32_t flags)
{
	struct wfs_meta_op op = op_new(type);

	op.u.xattr.ino = ino;
	op.u.xattr.name = B(name);
	op.u.xattr.value = B(value ? value : "");
	op.u.xattr.flags = flags;
	return op;
}

static void test_xattr(void)
{
	struct wfs_meta_result r;
	struct wfs_meta_op op;
	char buf[128], name[WFS_META_XATTR_NAME_MAX + 2];
	uint64_t file;
	int n;

	fresh();
	file = fx_mknod(&f, ROOT, "file");
	f.now = T_TIME + 30;
	CU_ASSERT_EQUAL(fx_apply(&f, op_xattr(WFS_META_OP_SETXATTR, file,
					      "user.a", "one", 0), &r), 0);
	CU_ASSERT_EQUAL(r.attr.ctime_ns, T_TIME + 30);
	CU_ASSERT_EQUAL(fx_apply(&f, op_xattr(WFS_META_OP_SETXATTR, file,
					      "user.b", "", 0), NULL), 0);
	CU_ASSERT_EQUAL(wfs_meta_getxattr(f.m, file, B("user.a"), NULL, 0), 3);
	CU_ASSERT_EQUAL(wfs_meta_getxattr(f.m, file, B("user.a"), buf,
					  sizeof(buf)), 3);
	CU_ASSERT_EQUAL(memcmp(buf, "one", 3), 0);
	CU_ASSERT_EQUAL(wfs_meta_getxattr(f.m, file, B("user.a"), buf, 2),
			-ERANGE);
	CU_ASSERT_EQUAL(wfs_meta_getxattr(f.m, file, B("user.b"), buf,
					  sizeof(buf)), 0);
	CU_ASSERT_EQUAL(wfs_meta_getxattr(f.m, file, B("user.c"), buf,
					  sizeof(buf)), -ENODATA);
	CU_ASSERT_EQUAL(wfs_meta_getxattr(f.m, 999, B("user.a"), buf,
					  sizeof(buf)), -ENOENT);
	CU_ASSERT_EQUAL(wfs_meta_listxattr(f.m, file, NULL, 0), 14);
	CU_ASSERT_EQUAL(wfs_meta_listxattr(f.m, file, buf, sizeof(buf)), 14);
	CU_ASSERT_EQUAL(memcmp(buf, "user.a\0user.b\0", 14), 0);
	CU_ASSERT_EQUAL(wfs_meta_listxattr(f.m, file, buf, 10), -ERANGE);
	CU_ASSERT_EQUAL(wfs_meta_listxattr(f.m, 999, buf, 10), -ENOENT);
	CU_ASSERT_EQUAL(wfs_meta_listxattr(f.m, ROOT, buf, 10), 0);

	CU_ASSERT_EQUAL(fx_apply(&f, op_xattr(WFS_META_OP_SETXATTR, file,
					      "user.a", "two",
					      WFS_META_XATTR_CREATE), NULL),
			-EEXIST);
	CU_ASSERT_EQUAL(fx_apply(&f, op_xattr(WFS_META_OP_SETXATTR, file,
					      "user.c", "two",
					      WFS_META_XATTR_REPLACE), NULL),
			-ENODATA);
	CU_ASSERT_EQUAL(fx_apply(&f, op_xattr(WFS_META_OP_SETXATTR, file,
					      "user.a", "two",
					      WFS_META_XATTR_REPLACE), NULL),
			0);
	CU_ASSERT_EQUAL(wfs_meta_getxattr(f.m, file, B("user.a"), buf,
					  sizeof(buf)), 3);
	CU_ASSERT_EQUAL(memcmp(buf, "two", 3), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_xattr(WFS_META_OP_SETXATTR, file,
					      "user.a", "x", 3), NULL),
			-EINVAL);
	CU_ASSERT_EQUAL(fx_apply(&f, op_xattr(WFS_META_OP_SETXATTR, file,
					      "", "x", 0), NULL), -ERANGE);
	memset(name, 'x', sizeof(name));
	name[sizeof(name) - 1] = '\0';
	CU_ASSERT_EQUAL(fx_apply(&f, op_xattr(WFS_META_OP_SETXATTR, file,
					      name, "x", 0), NULL), -ERANGE);
	op = op_xattr(WFS_META_OP_SETXATTR, file, "user.big", NULL, 0);
	op.u.xattr.value.len = WFS_META_XATTR_VALUE_MAX + 1;
	op.u.xattr.value.data = calloc(1, op.u.xattr.value.len);
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -E2BIG);
	op.u.xattr.value.len--;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
	free((void *)op.u.xattr.value.data);
	CU_ASSERT_EQUAL(fx_apply(&f, op_xattr(WFS_META_OP_SETXATTR, 999,
					      "user.a", "x", 0), NULL),
			-ENOENT);

	CU_ASSERT_EQUAL(fx_apply(&f, op_xattr(WFS_META_OP_REMOVEXATTR, file,
					      "user.a", NULL, 0), NULL), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_xattr(WFS_META_OP_REMOVEXATTR, file,
					      "user.a", NULL, 0), NULL),
			-ENODATA);
	CU_ASSERT_EQUAL(fx_apply(&f, op_xattr(WFS_META_OP_REMOVEXATTR, 999,
					      "user.a", NULL, 0), NULL),
			-ENOENT);
	CU_ASSERT_EQUAL(wfs_meta_getxattr(f.m, file, B("user.a"), buf,
					  sizeof(buf)), -ENODATA);

	/* the name list stays within what listxattr can return */
	name[WFS_META_XATTR_NAME_MAX] = '\0';
	for (n = 0; n < 300; n++) {
		memcpy(name, "user.", 5);
		for (int d = 0, v = n; d < 5; d++, v /= 10)
			name[9 - d] = (char)('0' + v % 10);
		if (fx_apply(&f, op_xattr(WFS_META_OP_SETXATTR, ROOT, name, "",
					  0), NULL) != 0)
			break;
	}
	CU_ASSERT_EQUAL(n, 65536 / 256);
	CU_ASSERT_EQUAL(fx_apply(&f, op_xattr(WFS_META_OP_SETXATTR, ROOT, name,
					      "", 0), NULL), -ENOSPC);
	CU_ASSERT_EQUAL(wfs_meta_listxattr(f.m, ROOT, NULL, 0), 65536);
}

/* ---- stripes ---- */

static struct wfs_meta_chunk_loc locs[6];
static char loc_ids[6][2][8];

/* A STRIPE_COMMIT of slot @sidx of @ino as stripe @sid with @n chunks on
 * nodes n<i>, disks d<tag><i>. */
static struct wfs_meta_op op_stripe(uint64_t ino, uint64_t sidx, uint64_t sid,
				    uint64_t expected, uint32_t length,
				    uint64_t file_size, char tag)
{
	struct wfs_meta_op op = op_new(WFS_META_OP_STRIPE_COMMIT);

	for (int i = 0; i < 6; i++) {
		loc_ids[i][0][0] = 'n';
		loc_ids[i][0][1] = (char)('0' + i);
		loc_ids[i][1][0] = 'd';
		loc_ids[i][1][1] = tag;
		loc_ids[i][1][2] = (char)('0' + i);
		locs[i].index = (uint32_t)i;
		locs[i].state = WFS_META_CHUNK_OK;
		locs[i].node = B(loc_ids[i][0]);
		locs[i].disk = B(loc_ids[i][1]);
	}
	op.u.stripe.ino = ino;
	op.u.stripe.sidx = sidx;
	op.u.stripe.stripe_id = sid;
	op.u.stripe.expected_version = expected;
	op.u.stripe.kind = WFS_META_STRIPE_EC;
	op.u.stripe.k = 4;
	op.u.stripe.m = 2;
	op.u.stripe.chunk_size = 1 << 20;
	op.u.stripe.length = length;
	op.u.stripe.file_size = file_size;
	op.u.stripe.nchunks = 6;
	op.u.stripe.chunks = locs;
	op.u.stripe.expected_length = WFS_META_LENGTH_ANY;
	return op;
}

static uint64_t reserve(uint32_t count)
{
	struct wfs_meta_op op = op_new(WFS_META_OP_RESERVE_IDS);
	struct wfs_meta_result r;

	op.u.reserve.count = count;
	CU_ASSERT_EQUAL(fx_apply(&f, op, &r), 0);
	return r.value;
}

struct seen {
	int n;
	struct wfs_meta_stripe last;
	uint64_t ids[64];
	uint32_t chunks[64];
};

static int collect(const struct wfs_meta_stripe *s, void *arg)
{
	struct seen *seen = arg;

	if (seen->n < 64) {
		seen->ids[seen->n] = s->stripe_id;
		seen->chunks[seen->n] = s->nchunks;
	}
	seen->n++;
	seen->last = *s;
	return 0;
}

/* A request applied again (a client's retry) changes nothing and gets the
 * first answer, success or error alike. */
static void test_request_retry(void)
{
	struct wfs_meta_result r1, r2;
	struct wfs_meta_op op;
	struct wfs_meta_attr a;
	uint64_t ino;

	fresh();
	op = op_mkdir(ROOT, "d");
	op.request = (struct wfs_meta_bytes){ "c1:1", 4 };
	CU_ASSERT_EQUAL(fx_apply(&f, op, &r1), 0);
	ino = r1.attr.ino;
	CU_ASSERT(ino > 1);
	/* The retry: same answer, no -EEXIST, nothing new. */
	CU_ASSERT_EQUAL(fx_apply(&f, op, &r2), 0);
	CU_ASSERT_EQUAL(r2.attr.ino, ino);
	CU_ASSERT_EQUAL(memcmp(&r1, &r2, sizeof(r1)), 0);
	CU_ASSERT_EQUAL(wfs_meta_getattr(f.m, ROOT, &a), 0);
	CU_ASSERT_EQUAL(a.nlink, 3);
	/* Another request with the same arguments is a new request. */
	op.request = (struct wfs_meta_bytes){ "c1:2", 4 };
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EEXIST);
	/* A failure is remembered too: the retry of a failed rmdir of a
	 * missing name fails the same way even once the name exists. */
	op = op_remove(WFS_META_OP_RMDIR, ROOT, "e");
	op.request = (struct wfs_meta_bytes){ "c1:3", 4 };
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -ENOENT);
	fx_mkdir(&f, ROOT, "e");
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -ENOENT);
	/* Without a name, every op applies. */
	op.request = (struct wfs_meta_bytes){ NULL, 0 };
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -ENOENT);
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
}

static void test_settings(void)
{
	struct wfs_meta_op op = op_new(WFS_META_OP_SETTING_SET);
	char buf[16];

	fresh();
	CU_ASSERT_EQUAL(wfs_meta_setting(f.m, "join_token", buf, sizeof(buf)),
			-ENOENT);
	op.u.setting.key = (struct wfs_meta_bytes){ "join_token", 10 };
	op.u.setting.value = (struct wfs_meta_bytes){ "abc", 3 };
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
	CU_ASSERT_EQUAL(wfs_meta_setting(f.m, "join_token", buf, sizeof(buf)),
			3);
	CU_ASSERT_EQUAL(memcmp(buf, "abc", 3), 0);
	CU_ASSERT_EQUAL(wfs_meta_setting(f.m, "join_token", buf, 2), -ERANGE);
	op.u.setting.value = (struct wfs_meta_bytes){ "defg", 4 };
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
	CU_ASSERT_EQUAL(wfs_meta_setting(f.m, "join_token", buf, sizeof(buf)),
			4);
	/* Keys are [a-z_]: nothing can reach the store's own kv rows. */
	op.u.setting.key = (struct wfs_meta_bytes){ "Bad", 3 };
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EINVAL);
	op.u.setting.key = (struct wfs_meta_bytes){ "", 0 };
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EINVAL);
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
}

static void test_reserve(void)
{
	struct wfs_meta_op op = op_new(WFS_META_OP_RESERVE_IDS);

	fresh();
	CU_ASSERT_EQUAL(reserve(10), 1);
	CU_ASSERT_EQUAL(reserve(1), 11);
	CU_ASSERT_EQUAL(reserve(5), 12);
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EINVAL);
	CU_ASSERT_EQUAL(reserve(1), 17);
}

/* ---- inode numbers chosen by the client ---- */

static uint64_t reserve_inos(uint32_t count)
{
	struct wfs_meta_op op = op_new(WFS_META_OP_RESERVE_IDS);
	struct wfs_meta_result r;

	op.u.reserve.count = count;
	op.u.reserve.kind = WFS_META_RESERVE_INODES;
	CU_ASSERT_EQUAL(fx_apply(&f, op, &r), 0);
	return r.value;
}

static struct wfs_meta_op op_mknod_at(uint64_t parent, const char *name,
				      uint64_t ino)
{
	struct wfs_meta_op op = op_mknod(parent, name);

	op.u.create.ino = ino;
	return op;
}

/* RESERVE_IDS of inode numbers: from next_ino, which creates then skip;
 * its own counter, not the stripe ids'; the same limits. */
static void test_reserve_inodes(void)
{
	struct wfs_meta_op op = op_new(WFS_META_OP_RESERVE_IDS);
	uint64_t first;

	fresh();
	first = reserve_inos(3);
	CU_ASSERT_EQUAL(first, 2);	/* the root is 1 */
	CU_ASSERT_EQUAL(fx_mknod(&f, ROOT, "plain"), first + 3);
	CU_ASSERT_EQUAL(reserve(2), 1);
	CU_ASSERT_EQUAL(reserve_inos(1), first + 4);
	op.u.reserve.kind = WFS_META_RESERVE_INODES;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EINVAL);
	op.u.reserve.count = (1u << 20) + 1;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EINVAL);
	op.u.reserve.count = 1;
	op.u.reserve.kind = 2;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EINVAL);
	op.u.reserve.kind = UINT32_MAX;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EINVAL);
	/* the failures moved nothing */
	CU_ASSERT_EQUAL(reserve_inos(1u << 20), first + 5);
	CU_ASSERT_EQUAL(reserve_inos(1), first + 5 + (1u << 20));
	CU_ASSERT_EQUAL(reserve(1), 3);
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
}

/* MKNOD at a number a RESERVE_IDS handed out: the inode gets it, next_ino
 * stays; a number not handed out yet or in use is -EINVAL and changes
 * nothing; MKDIR and SYMLINK ignore create.ino. */
static void test_mknod_chosen_ino(void)
{
	struct wfs_meta_result r;
	struct wfs_meta_attr a;
	struct wfs_meta_op op;
	uint64_t first, dir, inodes, bytes;

	fresh();
	first = reserve_inos(4);
	CU_ASSERT_EQUAL(fx_apply(&f, op_mknod_at(ROOT, "a", first + 2), &r),
			0);
	CU_ASSERT_EQUAL(r.attr.ino, first + 2);
	CU_ASSERT_EQUAL(r.attr.mode, S_IFREG | 0644);
	CU_ASSERT_EQUAL(r.attr.nlink, 1);
	CU_ASSERT_EQUAL(r.attr.generation, f.index);
	CU_ASSERT_EQUAL(r.dir.ino, ROOT);
	CU_ASSERT_EQUAL(fx_ino(&f, ROOT, "a"), first + 2);
	a = fx_attr(&f, first + 2);
	CU_ASSERT(attr_eq(&a, &r.attr));
	CU_ASSERT_EQUAL(a.policy_id, WFS_META_DEFAULT_POLICY);

	/* not handed out yet (next_ino is first + 4), or in use */
	CU_ASSERT_EQUAL(fx_apply(&f, op_mknod_at(ROOT, "b", first + 4), NULL),
			-EINVAL);
	CU_ASSERT_EQUAL(fx_apply(&f, op_mknod_at(ROOT, "b", UINT64_MAX),
				 NULL), -EINVAL);
	CU_ASSERT_EQUAL(fx_apply(&f, op_mknod_at(ROOT, "b", first + 2), NULL),
			-EINVAL);
	CU_ASSERT_EQUAL(fx_apply(&f, op_mknod_at(ROOT, "b", ROOT), NULL),
			-EINVAL);
	/* the name is checked first */
	CU_ASSERT_EQUAL(fx_apply(&f, op_mknod_at(ROOT, "a", first + 3), NULL),
			-EEXIST);
	CU_ASSERT_EQUAL(fx_ino(&f, ROOT, "b"), 0);
	CU_ASSERT_EQUAL(wfs_meta_getattr(f.m, first + 3, &a), -ENOENT);
	wfs_meta_usage(f.m, &inodes, &bytes);
	CU_ASSERT_EQUAL(inodes, 2);

	/* MKDIR ignores the number: the next one, first + 4 */
	op = op_mkdir(ROOT, "dir");
	op.u.create.ino = first + 3;
	CU_ASSERT_EQUAL(fx_apply(&f, op, &r), 0);
	dir = r.attr.ino;
	CU_ASSERT_EQUAL(dir, first + 4);
	op = op_create(WFS_META_OP_SYMLINK, ROOT, "l", 0);
	op.u.create.target = B("a");
	op.u.create.ino = first + 3;
	CU_ASSERT_EQUAL(fx_apply(&f, op, &r), 0);
	CU_ASSERT_EQUAL(r.attr.ino, first + 5);
	/* the rest of the range, in any order and any directory */
	CU_ASSERT_EQUAL(fx_apply(&f, op_mknod_at(dir, "c", first + 3), &r), 0);
	CU_ASSERT_EQUAL(r.attr.ino, first + 3);
	CU_ASSERT_EQUAL(fx_apply(&f, op_mknod_at(dir, "d", first), NULL), 0);
	CU_ASSERT_EQUAL(fx_ino(&f, dir, "c"), first + 3);
	CU_ASSERT_EQUAL(fx_ino(&f, dir, "d"), first);
	/* a plain create carries on after them */
	CU_ASSERT_EQUAL(fx_mknod(&f, ROOT, "e"), first + 6);
	wfs_meta_usage(f.m, &inodes, &bytes);
	CU_ASSERT_EQUAL(inodes, 7);
	/* survives a reopen like any inode */
	fx_close(&f);
	CU_ASSERT_FATAL(wfs_meta_open(f.path, &f.m) == 0);
	CU_ASSERT_EQUAL(fx_ino(&f, dir, "c"), first + 3);
	CU_ASSERT_EQUAL(fx_mknod(&f, ROOT, "g"), first + 7);
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
}

/* ---- directory leases ---- */

#define S1 0x5151ULL	/* the holder's session */
#define S2 0x5252ULL	/* another client's */

/* A hash of what the ops below could change: the attributes of @inos,
 * the entries of those that are directories, their xattr names, and the
 * usage counters. */
static uint64_t ns_hash(const uint64_t *inos, int n);

struct hash_arg {
	uint64_t h;
};

static uint64_t mix(uint64_t h, uint64_t v)
{
	return (h ^ v) * 0x100000001b3ULL;
}

static int hash_ent(const struct wfs_meta_dirent *ent, void *arg)
{
	struct hash_arg *ha = arg;

	ha->h = mix(ha->h, ent->ino);
	ha->h = mix(ha->h, ent->cookie);
	for (size_t i = 0; i < ent->name.len; i++)
		ha->h = mix(ha->h, ((const uint8_t *)ent->name.data)[i]);
	return 0;
}

static uint64_t ns_hash(const uint64_t *inos, int n)
{
	struct hash_arg ha = { 0xcbf29ce484222325ULL };
	uint64_t inodes, bytes;
	char names[256];
	int len;

	for (int i = 0; i < n; i++) {
		struct wfs_meta_attr a;

		memset(&a, 0, sizeof(a));
		if (wfs_meta_getattr(f.m, inos[i], &a) < 0)
			continue;
		ha.h = mix(ha.h, a.ino);
		ha.h = mix(ha.h, a.mode);
		ha.h = mix(ha.h, a.nlink);
		ha.h = mix(ha.h, a.size);
		ha.h = mix(ha.h, (uint64_t)a.mtime_ns);
		ha.h = mix(ha.h, (uint64_t)a.ctime_ns);
		if (S_ISDIR(a.mode))
			wfs_meta_readdir(f.m, a.ino, 0, 1000, hash_ent, &ha);
		len = wfs_meta_listxattr(f.m, a.ino, names, sizeof(names));
		for (int j = 0; j < len; j++)
			ha.h = mix(ha.h, (uint8_t)names[j]);
	}
	wfs_meta_usage(f.m, &inodes, &bytes);
	return mix(mix(ha.h, inodes), bytes);
}

/* @op, sent by @session, is refused by the lease of @dir that S1 holds:
 * -EAGAIN, naming the directory and the holder, and no other result. */
static bool refused(struct wfs_meta_op op, uint64_t session, uint64_t dir)
{
	struct wfs_meta_result r;
	int rc;

	op.session = session;
	rc = fx_apply(&f, op, &r);
	if (rc != -EAGAIN || r.lease_dir != dir || r.lease_session != S1 ||
	    r.attr.ino || r.value || r.dir.ino) {
		fprintf(stderr, "\n%s: %d, lease %llu of %llx\n",
			wfs_meta_op_name(op.type), rc,
			(unsigned long long)r.lease_dir,
			(unsigned long long)r.lease_session);
		return false;
	}
	return true;
}

/* @op sent by @session; returns the op's status. */
static int as(struct wfs_meta_op op, uint64_t session,
	      struct wfs_meta_result *r)
{
	op.session = session;
	return fx_apply(&f, op, r);
}

/* DIR_LEASE: who may take a lease, giving it back, its errors. */
static void test_lease_grant(void)
{
	struct wfs_meta_result r;
	struct wfs_meta_op op;
	uint64_t d, file, gone, session;

	fresh();
	d = fx_mkdir(&f, ROOT, "d");
	file = fx_mknod(&f, ROOT, "file");
	gone = fx_mkdir(&f, ROOT, "gone");
	CU_ASSERT_EQUAL(fx_apply(&f, op_remove(WFS_META_OP_RMDIR, ROOT,
					       "gone"), NULL), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_lease(d, 0, 1), NULL), -EINVAL);
	CU_ASSERT_EQUAL(fx_apply(&f, op_lease(999, S1, 1), NULL), -ENOENT);
	CU_ASSERT_EQUAL(fx_apply(&f, op_lease(file, S1, 1), NULL), -ENOTDIR);
	CU_ASSERT_EQUAL(fx_apply(&f, op_lease(gone, S1, 1), NULL), -ENOENT);
	CU_ASSERT_EQUAL(fx_apply(&f, op_lease(d, S1, 2), NULL), -EINVAL);
	CU_ASSERT_EQUAL(wfs_meta_lease_get(f.m, d, &session), 0);
	CU_ASSERT_EQUAL(session, 0);

	CU_ASSERT_EQUAL(fx_apply(&f, op_lease(d, S1, 1), &r), 0);
	CU_ASSERT_EQUAL(r.lease_session, 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_lease(d, S1, 1), NULL), 0);
	CU_ASSERT_EQUAL(wfs_meta_lease_get(f.m, d, &session), 0);
	CU_ASSERT_EQUAL(session, S1);
	/* another session is told who holds it */
	CU_ASSERT(refused(op_lease(d, S2, 1), 0, d));
	/* the op's own session is not the lease's: only u.lease counts */
	op = op_lease(d, S2, 1);
	op.session = S1;
	CU_ASSERT(refused(op, S1, d));
	/* giving back a lease one does not hold gives back nothing */
	CU_ASSERT_EQUAL(fx_apply(&f, op_lease(d, S2, 0), &r), 0);
	CU_ASSERT_EQUAL(r.value, 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_lease(d, 0, 0), &r), 0);
	CU_ASSERT_EQUAL(r.value, 0);
	CU_ASSERT_EQUAL(wfs_meta_lease_get(f.m, d, &session), 0);
	CU_ASSERT_EQUAL(session, S1);
	CU_ASSERT_EQUAL(fx_apply(&f, op_lease(d, S1, 0), &r), 0);
	CU_ASSERT_EQUAL(r.value, 1);
	CU_ASSERT_EQUAL(fx_apply(&f, op_lease(d, S1, 0), &r), 0);
	CU_ASSERT_EQUAL(r.value, 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_lease(999, S1, 0), &r), 0);
	CU_ASSERT_EQUAL(r.value, 0);
	CU_ASSERT_EQUAL(wfs_meta_lease_get(f.m, d, &session), 0);
	CU_ASSERT_EQUAL(session, 0);
	/* free again: anyone may take it; the root too */
	CU_ASSERT_EQUAL(fx_apply(&f, op_lease(d, S2, 1), NULL), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_lease(ROOT, S1, 1), NULL), 0);
	CU_ASSERT_EQUAL(wfs_meta_lease_get(f.m, d, &session), 0);
	CU_ASSERT_EQUAL(session, S2);
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
}

/* While S1 holds d's lease, every op of another session, or of none,
 * that would change d is refused and changes nothing; the holder's pass;
 * once given back, the others' pass. */
static struct wfs_meta_op op_dir_policy(uint64_t ino, uint32_t id);

static void test_lease_refuses_others(void)
{
	static const uint64_t sessions[] = { S2, 0 };
	struct wfs_meta_op op;
	uint64_t d, sub, e, h, fino, before, inos[8];

	fresh();
	d = fx_mkdir(&f, ROOT, "d");
	fino = fx_mknod(&f, d, "f");
	sub = fx_mkdir(&f, d, "sub");
	e = fx_mkdir(&f, ROOT, "e");
	h = fx_mknod(&f, ROOT, "h");
	fx_mkdir(&f, ROOT, "empty");
	CU_ASSERT_EQUAL(fx_apply(&f, op_xattr(WFS_META_OP_SETXATTR, d,
					      "user.k", "v", 0), NULL), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_lease(d, S1, 1), NULL), 0);
	inos[0] = ROOT;
	inos[1] = d;
	inos[2] = fino;
	inos[3] = sub;
	inos[4] = e;
	inos[5] = h;
	before = ns_hash(inos, 6);
	for (size_t i = 0; i < sizeof(sessions) / sizeof(sessions[0]); i++) {
		uint64_t s = sessions[i];

		CU_ASSERT(refused(op_mknod(d, "x"), s, d));
		CU_ASSERT(refused(op_mknod_at(d, "x", 0), s, d));
		CU_ASSERT(refused(op_mkdir(d, "y"), s, d));
		op = op_create(WFS_META_OP_SYMLINK, d, "z", 0);
		op.u.create.target = B("f");
		CU_ASSERT(refused(op, s, d));
		CU_ASSERT(refused(op_link(h, d, "hl"), s, d));
		CU_ASSERT(refused(op_remove(WFS_META_OP_UNLINK, d, "f"), s,
				  d));
		/* refused, not -ENOENT: the holder may have made it */
		CU_ASSERT(refused(op_remove(WFS_META_OP_UNLINK, d, "nope"), s,
				  d));
		CU_ASSERT(refused(op_remove(WFS_META_OP_RMDIR, d, "sub"), s,
				  d));
		CU_ASSERT(refused(op_rename(d, "f", ROOT, "f2", 0), s, d));
		CU_ASSERT(refused(op_rename(ROOT, "h", d, "h2", 0), s, d));
		CU_ASSERT(refused(op_rename(d, "f", d, "f3", 0), s, d));
		CU_ASSERT(refused(op_rename(ROOT, "h", d, "f",
					    WFS_META_RENAME_EXCHANGE), s, d));
		CU_ASSERT(refused(op_rename(e, "nope", d, "f", 0), s, d));
		op = op_setattr(d, WFS_META_SET_MODE);
		op.u.setattr.mode = 0700;
		CU_ASSERT(refused(op, s, d));
		CU_ASSERT(refused(op_setattr(d, WFS_META_SET_MTIME), s, d));
		CU_ASSERT(refused(op_xattr(WFS_META_OP_SETXATTR, d, "user.x",
					   "v", 0), s, d));
		CU_ASSERT(refused(op_xattr(WFS_META_OP_REMOVEXATTR, d,
					   "user.k", NULL, 0), s, d));
		CU_ASSERT(refused(op_dir_policy(d, 0), s, d));
		/* its own removal, by name in an unleased parent */
		CU_ASSERT(refused(op_remove(WFS_META_OP_RMDIR, ROOT, "d"), s,
				  d));
		CU_ASSERT(refused(op_rename(ROOT, "empty", ROOT, "d", 0), s,
				  d));
	}
	CU_ASSERT_EQUAL(ns_hash(inos, 6), before);
	CU_ASSERT_EQUAL(fx_ino(&f, d, "x"), 0);
	CU_ASSERT_EQUAL(fx_ino(&f, d, "f"), fino);

	/* what does not change d itself passes: a file in it, its reads */
	op = op_setattr(fino, WFS_META_SET_MODE);
	op.u.setattr.mode = 0600;
	CU_ASSERT_EQUAL(as(op, S2, NULL), 0);
	CU_ASSERT_EQUAL(as(op_xattr(WFS_META_OP_SETXATTR, fino, "user.a",
				    "b", 0), S2, NULL), 0);
	CU_ASSERT_EQUAL(fx_ino(&f, d, "sub"), sub);

	/* the holder's ops pass */
	CU_ASSERT_EQUAL(as(op_mknod(d, "mine"), S1, NULL), 0);
	CU_ASSERT_EQUAL(as(op_mkdir(d, "mydir"), S1, NULL), 0);
	CU_ASSERT_EQUAL(as(op_link(h, d, "hl"), S1, NULL), 0);
	CU_ASSERT_EQUAL(as(op_remove(WFS_META_OP_UNLINK, d, "mine"), S1,
			   NULL), 0);
	CU_ASSERT_EQUAL(as(op_remove(WFS_META_OP_RMDIR, d, "mydir"), S1,
			   NULL), 0);
	CU_ASSERT_EQUAL(as(op_rename(d, "f", d, "f4", 0), S1, NULL), 0);
	CU_ASSERT_EQUAL(as(op_setattr(d, WFS_META_SET_MTIME), S1, NULL), 0);
	CU_ASSERT_EQUAL(as(op_xattr(WFS_META_OP_REMOVEXATTR, d, "user.k",
				    NULL, 0), S1, NULL), 0);
	CU_ASSERT_EQUAL(as(op_dir_policy(d, 0), S1, NULL), 0);
	/* the holder of another lease is just another session here */
	CU_ASSERT_EQUAL(fx_apply(&f, op_lease(e, S2, 1), NULL), 0);
	CU_ASSERT_EQUAL(as(op_rename(d, "f4", e, "f4", 0), S1, NULL), -EAGAIN);
	CU_ASSERT_EQUAL(as(op_rename(d, "f4", e, "f4", 0), S2, NULL), -EAGAIN);
	CU_ASSERT_EQUAL(fx_apply(&f, op_lease(e, S2, 0), NULL), 0);

	/* given back: the others' ops pass */
	CU_ASSERT_EQUAL(fx_apply(&f, op_lease(d, S1, 0), NULL), 0);
	CU_ASSERT_EQUAL(as(op_mknod(d, "x"), S2, NULL), 0);
	CU_ASSERT_EQUAL(as(op_remove(WFS_META_OP_RMDIR, d, "sub"), 0, NULL),
			0);
	CU_ASSERT_EQUAL(as(op_rename(d, "f4", ROOT, "f4", 0), S2, NULL), 0);
	CU_ASSERT_EQUAL(as(op_setattr(d, WFS_META_SET_MTIME), 0, NULL), 0);
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
}

static int count_lease(void *arg, uint64_t dir, uint64_t session)
{
	uint64_t *seen = arg;

	seen[0]++;
	seen[1] = dir;
	seen[2] = session;
	return 0;
}

/* A leased directory is removed only by its holder, and its lease goes
 * with it; moving it elsewhere is not a change of it. */
static void test_lease_removal(void)
{
	struct wfs_meta_result r;
	uint64_t d, d2, m, e, session, seen[3] = { 0 };

	fresh();
	d = fx_mkdir(&f, ROOT, "d");
	fx_mkdir(&f, ROOT, "e");
	CU_ASSERT_EQUAL(fx_apply(&f, op_lease(d, S1, 1), NULL), 0);
	CU_ASSERT(refused(op_remove(WFS_META_OP_RMDIR, ROOT, "d"), S2, d));
	CU_ASSERT(refused(op_rename(ROOT, "e", ROOT, "d", 0), S2, d));
	CU_ASSERT_EQUAL(wfs_meta_lease_get(f.m, d, &session), 0);
	CU_ASSERT_EQUAL(session, S1);
	/* the holder removes it: the lease goes, the orphan takes none */
	CU_ASSERT_EQUAL(as(op_remove(WFS_META_OP_RMDIR, ROOT, "d"), S1, &r),
			0);
	CU_ASSERT_EQUAL(r.attr.ino, d);
	CU_ASSERT_EQUAL(wfs_meta_lease_get(f.m, d, &session), 0);
	CU_ASSERT_EQUAL(session, 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_lease(d, S1, 1), NULL), -ENOENT);
	CU_ASSERT_EQUAL(wfs_meta_lease_get(f.m, d, &session), 0);
	CU_ASSERT_EQUAL(session, 0);

	/* a RENAME over it by its holder: the same */
	d2 = fx_mkdir(&f, ROOT, "d2");
	CU_ASSERT_EQUAL(fx_apply(&f, op_lease(d2, S1, 1), NULL), 0);
	CU_ASSERT_EQUAL(as(op_rename(ROOT, "e", ROOT, "d2", 0), S1, &r), 0);
	CU_ASSERT_EQUAL(r.value, d2);
	CU_ASSERT_EQUAL(wfs_meta_lease_get(f.m, d2, &session), 0);
	CU_ASSERT_EQUAL(session, 0);

	/* moved elsewhere by another session: still leased, still its */
	m = fx_mkdir(&f, ROOT, "m");
	e = fx_mkdir(&f, ROOT, "e2");
	CU_ASSERT_EQUAL(fx_apply(&f, op_lease(m, S1, 1), NULL), 0);
	CU_ASSERT_EQUAL(as(op_rename(ROOT, "m", e, "m", 0), S2, NULL), 0);
	CU_ASSERT_EQUAL(fx_ino(&f, e, "m"), m);
	CU_ASSERT_EQUAL(wfs_meta_lease_get(f.m, m, &session), 0);
	CU_ASSERT_EQUAL(session, S1);
	CU_ASSERT(refused(op_remove(WFS_META_OP_RMDIR, e, "m"), S2, m));
	/* an unleased directory goes as ever */
	CU_ASSERT_EQUAL(as(op_remove(WFS_META_OP_RMDIR, ROOT, "d2"), S2,
			   NULL), 0);
	/* m's is the one lease left */
	CU_ASSERT_EQUAL(wfs_meta_leases(f.m, 0, 10, count_lease, seen), 1);
	CU_ASSERT(seen[0] == 1 && seen[1] == m && seen[2] == S1);
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
}

/* A request refused by a lease is not remembered: sent again once the
 * lease is given back, it applies (and that answer is remembered). */
static void test_lease_request_retry(void)
{
	struct wfs_meta_result r1, r2;
	struct wfs_meta_op op;
	uint64_t d;

	fresh();
	d = fx_mkdir(&f, ROOT, "d");
	CU_ASSERT_EQUAL(fx_apply(&f, op_lease(d, S1, 1), NULL), 0);
	op = op_mknod(d, "x");
	op.request = (struct wfs_meta_bytes){ "c2:1", 4 };
	CU_ASSERT(refused(op, S2, d));
	CU_ASSERT(refused(op, S2, d));
	/* a grant refused is not remembered either */
	op = op_lease(d, S2, 1);
	op.request = (struct wfs_meta_bytes){ "c2:2", 4 };
	CU_ASSERT(refused(op, 0, d));
	CU_ASSERT_EQUAL(fx_apply(&f, op_lease(d, S1, 0), NULL), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_lease(d, S2, 0), NULL), 0);
	op = op_mknod(d, "x");
	op.request = (struct wfs_meta_bytes){ "c2:1", 4 };
	CU_ASSERT_EQUAL(as(op, S2, &r1), 0);
	CU_ASSERT_EQUAL(fx_ino(&f, d, "x"), r1.attr.ino);
	CU_ASSERT_EQUAL(as(op, S2, &r2), 0);
	CU_ASSERT_EQUAL(r2.attr.ino, r1.attr.ino);
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
}

/* A result stored under a request name by the code before leases (a
 * shorter struct wfs_meta_result) is the same answer to a retry; a result
 * of any other shape is not trusted. */
static void test_request_result_before_leases(void)
{
	struct wfs_meta_result r1, r2;
	struct wfs_meta_op op;
	char sql[128];

	fresh();
	op = op_mkdir(ROOT, "d");
	op.request = (struct wfs_meta_bytes){ "c1:1", 4 };
	CU_ASSERT_EQUAL(fx_apply(&f, op, &r1), 0);
	snprintf(sql, sizeof(sql), "UPDATE requests SET result = "
		 "substr(result, 1, %zu)",
		 offsetof(struct wfs_meta_result, lease_dir));
	poke_sql(sql);
	CU_ASSERT_EQUAL(fx_apply(&f, op, &r2), 0);
	CU_ASSERT_EQUAL(memcmp(&r1, &r2, sizeof(r1)), 0);
	poke_sql("UPDATE requests SET result = substr(result, 1, 10)");
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EEXIST);
}

static void test_stripe_commit(void)
{
	struct wfs_meta_result r;
	struct wfs_meta_op op;
	struct seen seen;
	uint64_t file, dir, first, inodes, bytes;

	fresh();
	file = fx_mknod(&f, ROOT, "file");
	dir = fx_mkdir(&f, ROOT, "dir");
	first = reserve(8);
	f.now = T_TIME + 40;
	CU_ASSERT_EQUAL(fx_apply(&f, op_stripe(file, 0, first, 0, 1000, 1000,
					       'a'), &r), 0);
	CU_ASSERT_EQUAL(r.value, 1);
	CU_ASSERT_EQUAL(r.attr.size, 1000);
	CU_ASSERT_EQUAL(r.attr.bytes, 1000);
	CU_ASSERT_EQUAL(r.attr.mtime_ns, T_TIME + 40);
	CU_ASSERT_EQUAL(r.attr.ctime_ns, T_TIME + 40);

	/* the compare-and-swap on the version */
	CU_ASSERT_EQUAL(fx_apply(&f, op_stripe(file, 0, first + 1, 0, 5, 5,
					       'b'), NULL), -ESTALE);
	CU_ASSERT_EQUAL(fx_apply(&f, op_stripe(file, 0, first + 1, 2, 5, 5,
					       'b'), NULL), -ESTALE);
	/* and on the length, when asked */
	op = op_stripe(file, 0, first + 1, 1, 4000, 500, 'b');
	op.u.stripe.expected_length = 999;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -ESTALE);
	op.u.stripe.expected_length = 1000;
	CU_ASSERT_EQUAL(fx_apply(&f, op, &r), 0);
	CU_ASSERT_EQUAL(r.value, 2);
	CU_ASSERT_EQUAL(r.attr.size, 1000);	/* never shrinks */
	CU_ASSERT_EQUAL(r.attr.bytes, 4000);
	memset(&seen, 0, sizeof(seen));
	CU_ASSERT_EQUAL(wfs_meta_stripes(f.m, file, 0, 10, collect, &seen), 1);
	CU_ASSERT_EQUAL(seen.last.stripe_id, first + 1);
	CU_ASSERT_EQUAL(seen.last.version, 2);
	CU_ASSERT_EQUAL(seen.last.length, 4000);
	CU_ASSERT_EQUAL(seen.last.nchunks, 6);
	CU_ASSERT_EQUAL(seen.last.chunks[5].index, 5);
	CU_ASSERT_EQUAL(seen.last.chunks[5].disk.len, 3);
	CU_ASSERT_EQUAL(memcmp(seen.last.chunks[5].disk.data, "db5", 3), 0);
	/* the replaced version's chunks are garbage */
	memset(&seen, 0, sizeof(seen));
	CU_ASSERT_EQUAL(wfs_meta_garbage(f.m, 0, 10, collect, &seen), 1);
	CU_ASSERT_EQUAL(seen.last.stripe_id, first);
	CU_ASSERT_EQUAL(seen.last.nchunks, 6);
	CU_ASSERT_EQUAL(memcmp(seen.last.chunks[2].disk.data, "da2", 3), 0);
	memset(&seen, 0, sizeof(seen));
	CU_ASSERT_EQUAL(wfs_meta_stripe_get(f.m, first, collect, &seen),
			-ENOENT);
	CU_ASSERT_EQUAL(wfs_meta_stripe_get(f.m, first + 1, collect, &seen),
			0);
	CU_ASSERT_EQUAL(seen.last.ino, file);
	wfs_meta_usage(f.m, &inodes, &bytes);
	CU_ASSERT_EQUAL(bytes, 4000);

	/* ids: reserved, unused */
	CU_ASSERT_EQUAL(fx_apply(&f, op_stripe(file, 1, first + 1, 0, 5, 5,
					       'c'), NULL), -EEXIST);
	CU_ASSERT_EQUAL(fx_apply(&f, op_stripe(file, 1, first, 0, 5, 5, 'c'),
				 NULL), -EEXIST);
	CU_ASSERT_EQUAL(fx_apply(&f, op_stripe(file, 1, first + 8, 0, 5, 5,
					       'c'), NULL), -EINVAL);
	CU_ASSERT_EQUAL(fx_apply(&f, op_stripe(file, 1, 0, 0, 5, 5, 'c'),
				 NULL), -EINVAL);
	/* what it is committed to */
	CU_ASSERT_EQUAL(fx_apply(&f, op_stripe(dir, 0, first + 2, 0, 5, 5,
					       'c'), NULL), -EISDIR);
	CU_ASSERT_EQUAL(fx_apply(&f, op_stripe(999, 0, first + 2, 0, 5, 5,
					       'c'), NULL), -ENOENT);
	/* the geometry */
	op = op_stripe(file, 1, first + 2, 0, 5, 5, 'c');
	op.u.stripe.kind = 3;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EINVAL);
	op = op_stripe(file, 1, first + 2, 0, (4 << 20) + 1, 5, 'c');
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EINVAL);
	op = op_stripe(file, 1, first + 2, 0, 0, 5, 'c');
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EINVAL);
	op = op_stripe(file, 1, first + 2, 0, 5, 5, 'c');
	op.u.stripe.k = 17;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EINVAL);
	op = op_stripe(file, 1, first + 2, 0, 5, 5, 'c');
	locs[3].index = 2;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EINVAL);
	op = op_stripe(file, 1, first + 2, 0, 5, 5, 'c');
	locs[3].index = 6;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EINVAL);
	op = op_stripe(file, 1, first + 2, 0, 5, 5, 'c');
	locs[3].state = 9;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EINVAL);
	op = op_stripe(file, 1, first + 2, 0, 5, 5, 'c');
	op.u.stripe.kind = WFS_META_STRIPE_REPLICA;	/* width m + 1 = 3 */
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EINVAL);
	op.u.stripe.nchunks = 3;
	CU_ASSERT_EQUAL(fx_apply(&f, op, &r), 0);
	op = op_stripe(file, (uint64_t)1 << 41, first + 3, 0, 5, 5, 'c');
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EFBIG);
	/* a partial set of chunks (the rest to be repaired) */
	op = op_stripe(file, 2, first + 3, 0, 5, (8 << 20) + 5, 'c');
	op.u.stripe.nchunks = 5;
	locs[4].state = WFS_META_CHUNK_MISSING;
	CU_ASSERT_EQUAL(fx_apply(&f, op, &r), 0);
	CU_ASSERT_EQUAL(r.attr.size, (8 << 20) + 5);
	CU_ASSERT_EQUAL(r.attr.bytes, 4010);
	memset(&seen, 0, sizeof(seen));
	CU_ASSERT_EQUAL(wfs_meta_stripes(f.m, file, 2, 10, collect, &seen), 1);
	CU_ASSERT_EQUAL(seen.last.nchunks, 5);
	CU_ASSERT_EQUAL(seen.last.chunks[4].state, WFS_META_CHUNK_MISSING);
	memset(&seen, 0, sizeof(seen));
	CU_ASSERT_EQUAL(wfs_meta_stripes(f.m, file, 0, 2, collect, &seen), 2);
	CU_ASSERT_EQUAL(seen.ids[0], first + 1);
	CU_ASSERT_EQUAL(seen.ids[1], first + 2);
	CU_ASSERT_EQUAL(seen.chunks[1], 3);
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
}

static void test_truncate_extend(void)
{
	struct wfs_meta_op op;
	struct seen seen;
	uint64_t file, first, inodes, bytes;
	const uint32_t span = 4 << 20;

	fresh();
	file = fx_mknod(&f, ROOT, "file");
	first = reserve(8);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(fx_apply(&f, op_stripe(file, (uint64_t)i,
						       first + (uint64_t)i, 0,
						       span, 3ull * span,
						       (char)('a' + i)), NULL),
				0);
	CU_ASSERT_EQUAL(fx_attr(&f, file).bytes, 3ull * span);

	op = op_setattr(file, WFS_META_SET_SIZE);
	op.u.setattr.size = span + (1 << 20);
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
	CU_ASSERT_EQUAL(fx_attr(&f, file).size, span + (1 << 20));
	CU_ASSERT_EQUAL(fx_attr(&f, file).bytes, span + (1 << 20));
	memset(&seen, 0, sizeof(seen));
	CU_ASSERT_EQUAL(wfs_meta_stripes(f.m, file, 0, 10, collect, &seen), 2);
	CU_ASSERT_EQUAL(seen.last.sidx, 1);
	CU_ASSERT_EQUAL(seen.last.length, 1 << 20);
	CU_ASSERT_EQUAL(seen.last.version, 1);
	memset(&seen, 0, sizeof(seen));
	CU_ASSERT_EQUAL(wfs_meta_garbage(f.m, 0, 10, collect, &seen), 1);
	CU_ASSERT_EQUAL(seen.last.stripe_id, first + 2);
	CU_ASSERT_EQUAL(seen.last.nchunks, 6);

	/* growing again: the cut stripe stays cut, so the gap reads zeros */
	op.u.setattr.size = 3ull * span;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
	CU_ASSERT_EQUAL(fx_attr(&f, file).size, 3ull * span);
	CU_ASSERT_EQUAL(fx_attr(&f, file).bytes, span + (1 << 20));
	memset(&seen, 0, sizeof(seen));
	CU_ASSERT_EQUAL(wfs_meta_stripes(f.m, file, 0, 10, collect, &seen), 2);
	CU_ASSERT_EQUAL(seen.last.length, 1 << 20);

	/* the slot the truncation emptied starts over at version 0 */
	CU_ASSERT_EQUAL(fx_apply(&f, op_stripe(file, 2, first + 3, 0, 100,
					       0, 'z'), NULL), 0);
	/* at a stripe boundary: the stripe before stays whole */
	op.u.setattr.size = span;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
	memset(&seen, 0, sizeof(seen));
	CU_ASSERT_EQUAL(wfs_meta_stripes(f.m, file, 0, 10, collect, &seen), 1);
	CU_ASSERT_EQUAL(seen.last.length, span);
	op.u.setattr.size = 0;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
	CU_ASSERT_EQUAL(wfs_meta_stripes(f.m, file, 0, 10, collect, &seen), 0);
	CU_ASSERT_EQUAL(fx_attr(&f, file).bytes, 0);
	wfs_meta_usage(f.m, &inodes, &bytes);
	CU_ASSERT_EQUAL(bytes, 0);
	memset(&seen, 0, sizeof(seen));
	CU_ASSERT_EQUAL(wfs_meta_garbage(f.m, 0, 10, collect, &seen), 4);
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
}

static void test_purge_stripes(void)
{
	struct wfs_meta_op op;
	struct seen seen;
	uint64_t file, first, inodes, bytes;

	fresh();
	file = fx_mknod(&f, ROOT, "file");
	first = reserve(2);
	CU_ASSERT_EQUAL(fx_apply(&f, op_stripe(file, 0, first, 0, 100, 100,
					       'a'), NULL), 0);
	op = op_new(WFS_META_OP_SETXATTR);
	op.u.xattr.ino = file;
	op.u.xattr.name = B("user.x");
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_remove(WFS_META_OP_UNLINK, ROOT,
					       "file"), NULL), 0);
	wfs_meta_usage(f.m, &inodes, &bytes);
	CU_ASSERT_EQUAL(inodes, 2);
	CU_ASSERT_EQUAL(bytes, 100);
	op = op_new(WFS_META_OP_PURGE);
	op.u.purge.ino = file;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
	wfs_meta_usage(f.m, &inodes, &bytes);
	CU_ASSERT_EQUAL(inodes, 1);
	CU_ASSERT_EQUAL(bytes, 0);
	memset(&seen, 0, sizeof(seen));
	CU_ASSERT_EQUAL(wfs_meta_garbage(f.m, 0, 10, collect, &seen), 1);
	CU_ASSERT_EQUAL(seen.last.stripe_id, first);
	CU_ASSERT_EQUAL(wfs_meta_stripe_get(f.m, first, collect, &seen),
			-ENOENT);
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
}

/* An UNLINK naming the inode it removes in purge_ino drops it at once,
 * exactly as PURGE would: no orphan, its stripes to garbage, its xattrs
 * gone.  Naming another inode, or not taking the last link, leaves what a
 * plain UNLINK leaves. */
static void test_unlink_purges(void)
{
	struct wfs_meta_attr a, before;
	struct wfs_meta_result r;
	struct wfs_meta_op op;
	struct seen seen;
	uint64_t dir, file, other, first, found[2] = { 0, 0 }, inodes, bytes;

	fresh();
	dir = fx_mkdir(&f, ROOT, "dir");
	file = fx_mknod(&f, dir, "file");
	first = reserve(2);
	CU_ASSERT_EQUAL(fx_apply(&f, op_stripe(file, 0, first, 0, 100, 100,
					       'a'), NULL), 0);
	op = op_new(WFS_META_OP_SETXATTR);
	op.u.xattr.ino = file;
	op.u.xattr.name = B("user.x");
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_link(file, ROOT, "hard"), NULL), 0);

	/* Not the last link: nothing is purged. */
	op = op_remove(WFS_META_OP_UNLINK, ROOT, "hard");
	op.u.remove.purge_ino = file;
	CU_ASSERT_EQUAL(fx_apply(&f, op, &r), 0);
	CU_ASSERT(!r.purged);
	CU_ASSERT_EQUAL(r.attr.nlink, 1);
	CU_ASSERT_EQUAL(fx_attr(&f, file).nlink, 1);

	/* The last link, but purge_ino names another inode: an orphan. */
	other = fx_mknod(&f, dir, "other");
	op = op_remove(WFS_META_OP_UNLINK, dir, "other");
	op.u.remove.purge_ino = file;
	CU_ASSERT_EQUAL(fx_apply(&f, op, &r), 0);
	CU_ASSERT(!r.purged);
	CU_ASSERT_EQUAL(r.value, other);
	CU_ASSERT_EQUAL(wfs_meta_orphans(f.m, 0, 10, count_orphan, found), 1);
	CU_ASSERT_EQUAL(found[1], other);

	/* The last link of the inode named: gone at once. */
	wfs_meta_usage(f.m, &inodes, &bytes);
	CU_ASSERT_EQUAL(inodes, 4);
	CU_ASSERT_EQUAL(bytes, 100);
	before = fx_attr(&f, file);
	f.now = T_TIME + 9;
	op = op_remove(WFS_META_OP_UNLINK, dir, "file");
	op.u.remove.purge_ino = file;
	CU_ASSERT_EQUAL(fx_apply(&f, op, &r), 0);
	CU_ASSERT(r.purged);
	CU_ASSERT_EQUAL(r.value, 0);
	CU_ASSERT_EQUAL(r.attr.ino, file);
	CU_ASSERT_EQUAL(r.attr.nlink, 0);
	CU_ASSERT_EQUAL(r.attr.size, before.size);
	CU_ASSERT_EQUAL(r.attr.ctime_ns, T_TIME + 9);
	CU_ASSERT_EQUAL(wfs_meta_getattr(f.m, file, &a), -ENOENT);
	CU_ASSERT_EQUAL(fx_ino(&f, dir, "file"), 0);
	CU_ASSERT_EQUAL(wfs_meta_getxattr(f.m, file, B("user.x"), NULL, 0),
			-ENOENT);
	found[0] = 0;
	CU_ASSERT_EQUAL(wfs_meta_orphans(f.m, 0, 10, count_orphan, found), 1);
	CU_ASSERT_EQUAL(found[1], other);
	wfs_meta_usage(f.m, &inodes, &bytes);
	CU_ASSERT_EQUAL(inodes, 3);
	CU_ASSERT_EQUAL(bytes, 0);
	memset(&seen, 0, sizeof(seen));
	CU_ASSERT_EQUAL(wfs_meta_garbage(f.m, 0, 10, collect, &seen), 1);
	CU_ASSERT_EQUAL(seen.last.stripe_id, first);
	CU_ASSERT_EQUAL(wfs_meta_stripe_get(f.m, first, collect, &seen),
			-ENOENT);
	/* The directory changed as for any unlink. */
	a = fx_attr(&f, dir);
	CU_ASSERT_EQUAL(a.mtime_ns, T_TIME + 9);
	CU_ASSERT(attr_eq(&a, &r.dir));
	/* A PURGE that comes anyway finds nothing. */
	op = op_new(WFS_META_OP_PURGE);
	op.u.purge.ino = file;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -ENOENT);
	/* purge_ino on a directory's unlink changes nothing: -EISDIR. */
	op = op_remove(WFS_META_OP_UNLINK, ROOT, "dir");
	op.u.remove.purge_ino = dir;
	CU_ASSERT_EQUAL(fx_apply(&f, op, &r), -EISDIR);
	CU_ASSERT(!r.purged);
	CU_ASSERT_EQUAL(fx_attr(&f, dir).nlink, 2);
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
}

/* Every namespace op reports the directory it changed as it left it (what
 * a client caches instead of asking again), and only those ops. */
static void test_result_dirs(void)
{
	struct wfs_meta_attr zero, root, a, b;
	struct wfs_meta_result r;
	struct wfs_meta_op op;
	uint64_t da, db, file;

	fresh();
	memset(&zero, 0, sizeof(zero));
	f.now = T_TIME + 1;
	CU_ASSERT_EQUAL(fx_apply(&f, op_mkdir(ROOT, "a"), &r), 0);
	da = r.attr.ino;
	root = fx_attr(&f, ROOT);
	CU_ASSERT(attr_eq(&root, &r.dir));
	CU_ASSERT_EQUAL(r.dir.nlink, 3);
	CU_ASSERT(attr_eq(&zero, &r.new_dir));
	db = fx_mkdir(&f, ROOT, "b");
	f.now = T_TIME + 2;
	CU_ASSERT_EQUAL(fx_apply(&f, op_mknod(da, "f"), &r), 0);
	file = r.attr.ino;
	a = fx_attr(&f, da);
	CU_ASSERT(attr_eq(&a, &r.dir));
	CU_ASSERT_EQUAL(r.dir.mtime_ns, T_TIME + 2);
	op = op_create(WFS_META_OP_SYMLINK, da, "s", 0777);
	op.u.create.target = B("f");
	CU_ASSERT_EQUAL(fx_apply(&f, op, &r), 0);
	a = fx_attr(&f, da);
	CU_ASSERT(attr_eq(&a, &r.dir));
	f.now = T_TIME + 3;
	CU_ASSERT_EQUAL(fx_apply(&f, op_link(file, db, "l"), &r), 0);
	b = fx_attr(&f, db);
	CU_ASSERT(attr_eq(&b, &r.dir));
	CU_ASSERT_EQUAL(r.dir.mtime_ns, T_TIME + 3);
	/* Rename within one directory: no new_dir. */
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(da, "f", da, "g", 0), &r), 0);
	a = fx_attr(&f, da);
	CU_ASSERT(attr_eq(&a, &r.dir));
	CU_ASSERT(attr_eq(&zero, &r.new_dir));
	/* Between two: both. */
	f.now = T_TIME + 4;
	CU_ASSERT_EQUAL(fx_apply(&f, op_rename(da, "g", db, "g", 0), &r), 0);
	a = fx_attr(&f, da);
	b = fx_attr(&f, db);
	CU_ASSERT(attr_eq(&a, &r.dir));
	CU_ASSERT(attr_eq(&b, &r.new_dir));
	CU_ASSERT_EQUAL(r.new_dir.mtime_ns, T_TIME + 4);
	CU_ASSERT_EQUAL(fx_apply(&f, op_remove(WFS_META_OP_UNLINK, db, "g"),
				 &r), 0);
	b = fx_attr(&f, db);
	CU_ASSERT(attr_eq(&b, &r.dir));
	CU_ASSERT_EQUAL(fx_apply(&f, op_remove(WFS_META_OP_UNLINK, db, "l"),
				 &r), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_remove(WFS_META_OP_UNLINK, da, "s"),
				 &r), 0);
	f.now = T_TIME + 5;
	CU_ASSERT_EQUAL(fx_apply(&f, op_remove(WFS_META_OP_RMDIR, ROOT, "a"),
				 &r), 0);
	root = fx_attr(&f, ROOT);
	CU_ASSERT(attr_eq(&root, &r.dir));
	CU_ASSERT_EQUAL(r.dir.nlink, 3);
	/* Other ops and failures: zero. */
	op = op_new(WFS_META_OP_SETATTR);
	op.u.setattr.ino = db;
	op.u.setattr.flags = WFS_META_SET_MODE;
	op.u.setattr.mode = 0700;
	CU_ASSERT_EQUAL(fx_apply(&f, op, &r), 0);
	CU_ASSERT(attr_eq(&zero, &r.dir));
	CU_ASSERT_EQUAL(fx_apply(&f, op_mknod(ROOT, "b"), &r), -EEXIST);
	CU_ASSERT(attr_eq(&zero, &r.dir));
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
}

static struct wfs_meta_op op_chunk(uint64_t sid, uint32_t index,
				   const char *node, const char *disk)
{
	struct wfs_meta_op op = op_new(WFS_META_OP_CHUNK_SET);

	op.u.chunk.stripe_id = sid;
	op.u.chunk.loc.index = index;
	op.u.chunk.loc.node = B(node);
	op.u.chunk.loc.disk = B(disk);
	return op;
}

static void test_chunk_set_gc(void)
{
	struct wfs_meta_gc_entry gc[3];
	struct wfs_meta_op op;
	struct seen seen;
	uint64_t file, sid;

	fresh();
	file = fx_mknod(&f, ROOT, "file");
	sid = reserve(4);
	CU_ASSERT_EQUAL(fx_apply(&f, op_stripe(file, 0, sid, 0, 100, 100, 'a'),
				 NULL), 0);
	/* repair moves chunk 1: the old place is garbage */
	CU_ASSERT_EQUAL(fx_apply(&f, op_chunk(sid, 1, "n9", "d9"), NULL), 0);
	memset(&seen, 0, sizeof(seen));
	CU_ASSERT_EQUAL(wfs_meta_stripe_get(f.m, sid, collect, &seen), 0);
	CU_ASSERT_EQUAL(memcmp(seen.last.chunks[1].disk.data, "d9", 2), 0);
	memset(&seen, 0, sizeof(seen));
	CU_ASSERT_EQUAL(wfs_meta_garbage(f.m, 0, 10, collect, &seen), 1);
	CU_ASSERT_EQUAL(seen.last.nchunks, 1);
	CU_ASSERT_EQUAL(seen.last.chunks[0].index, 1);
	CU_ASSERT_EQUAL(memcmp(seen.last.chunks[0].disk.data, "da1", 3), 0);
	/* marked missing in place: nothing to collect */
	op = op_chunk(sid, 2, "n2", "da2");
	op.u.chunk.loc.state = WFS_META_CHUNK_MISSING;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
	memset(&seen, 0, sizeof(seen));
	CU_ASSERT_EQUAL(wfs_meta_garbage(f.m, 0, 10, collect, &seen), 1);
	CU_ASSERT_EQUAL(seen.last.nchunks, 1);
	/* moved back before the old copy was deleted: it is live again */
	CU_ASSERT_EQUAL(fx_apply(&f, op_chunk(sid, 1, "n1", "da1"), NULL), 0);
	memset(&seen, 0, sizeof(seen));
	CU_ASSERT_EQUAL(wfs_meta_garbage(f.m, 0, 10, collect, &seen), 1);
	CU_ASSERT_EQUAL(seen.last.nchunks, 1);
	CU_ASSERT_EQUAL(memcmp(seen.last.chunks[0].disk.data, "d9", 2), 0);
	/* errors */
	CU_ASSERT_EQUAL(fx_apply(&f, op_chunk(sid + 1, 1, "n", "d"), NULL),
			-ENOENT);
	CU_ASSERT_EQUAL(fx_apply(&f, op_chunk(sid, 6, "n", "d"), NULL),
			-EINVAL);
	op = op_chunk(sid, 0, "n", "d");
	op.u.chunk.loc.state = 5;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EINVAL);
	op = op_chunk(sid, 0, "n", "d");
	op.u.chunk.loc.disk.len = WFS_META_ID_MAX + 1;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EINVAL);

	/* GC_DONE removes what it names and ignores what is gone */
	gc[0] = (struct wfs_meta_gc_entry){ sid, 1, B("n9"), B("d9"), false };
	gc[1] = (struct wfs_meta_gc_entry){ sid, 4, B("n4"), B("da4"), false };
	gc[2] = (struct wfs_meta_gc_entry){ 12345, 0, B("n"), B("d"), false };
	op = op_new(WFS_META_OP_GC_DONE);
	op.u.gc.nentries = 3;
	op.u.gc.entries = gc;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
	CU_ASSERT_EQUAL(wfs_meta_garbage(f.m, 0, 10, collect, &seen), 0);
	op.u.gc.nentries = WFS_META_GC_MAX + 1;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EINVAL);
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
}

/* The move form of CHUNK_SET: the chunk goes to the copy only if it is
 * still where the mover read it; otherwise the copy is garbage.  Every
 * outcome succeeds, and a retry of an applied move changes nothing. */
static struct wfs_meta_op op_move(uint64_t sid, uint32_t index,
				  const char *from_node, const char *from_disk,
				  const char *node, const char *disk)
{
	struct wfs_meta_op op = op_chunk(sid, index, node, disk);

	op.u.chunk.from_node = B(from_node);
	op.u.chunk.from_disk = B(from_disk);
	return op;
}

/* A stripe's chunks as "index:node:disk;" text, made in the callback
 * (the strings are valid only there). */
struct locs_text {
	uint64_t sid;
	int index;		/* -1: every chunk, as "index:node:disk;" */
	char buf[256];
};

static int locs_cb(const struct wfs_meta_stripe *s, void *arg)
{
	struct locs_text *t = arg;
	size_t used = strlen(t->buf);

	if (s->stripe_id != t->sid)
		return 1;
	for (uint32_t i = 0; i < s->nchunks && used < sizeof(t->buf); i++) {
		const struct wfs_meta_chunk_loc *c = &s->chunks[i];

		if (t->index >= 0 && c->index != (uint32_t)t->index)
			continue;
		if (t->index >= 0)
			used += (size_t)snprintf(t->buf + used,
						 sizeof(t->buf) - used,
						 "%.*s:%.*s", (int)c->node.len,
						 (const char *)c->node.data,
						 (int)c->disk.len,
						 (const char *)c->disk.data);
		else
			used += (size_t)snprintf(t->buf + used,
						 sizeof(t->buf) - used,
						 "%u:%.*s:%.*s;", c->index,
						 (int)c->node.len,
						 (const char *)c->node.data,
						 (int)c->disk.len,
						 (const char *)c->disk.data);
	}
	return 0;
}

/* The garbage entries of stripe @sid as "index:node:disk;" text. */
static void garbage_of(uint64_t sid, char *out, size_t cap)
{
	struct locs_text t = { .sid = sid, .index = -1 };

	CU_ASSERT(wfs_meta_garbage(f.m, sid - 1, 1, locs_cb, &t) >= 0);
	snprintf(out, cap, "%s", t.buf);
}

/* Where chunk @index of @sid is recorded, as "node:disk". */
static void where(uint64_t sid, uint32_t index, char *out, size_t cap)
{
	struct locs_text t = { .sid = sid, .index = (int)index };

	CU_ASSERT_EQUAL(wfs_meta_stripe_get(f.m, sid, locs_cb, &t), 0);
	snprintf(out, cap, "%s", t.buf);
}

/* Record node @node with disk @disk, as its Join does. */
static void record_disk(const char *node, const char *disk)
{
	struct wfs_meta_op op = op_new(WFS_META_OP_NODE_SET);

	op.u.node.id = B(node);
	op.u.node.name = B("box");
	op.u.node.addr = B("10.0.0.1:7000");
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
	op = op_new(WFS_META_OP_DISK_SET);
	op.u.disk.id = B(disk);
	op.u.disk.node_id = B(node);
	op.u.disk.path = B("/srv/disk");
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
}

/* The chunks recorded OK on disk @disk (counted up to a million). */
static uint64_t ok_on(const char *disk)
{
	struct wfs_meta_disk_count c;

	CU_ASSERT_EQUAL(wfs_meta_disk_chunks(f.m, B(disk), 1000000, &c), 0);
	return c.ok;
}

static void test_chunk_move(void)
{
	static const char *const targets[][2] = {
		{ "n9", "d9" }, { "n8", "d8" }, { "n7", "d7" }, { "n6", "d6" },
		{ "n5", "d5" },
	};
	struct wfs_meta_result r;
	struct wfs_meta_op op;
	uint64_t file, sid;
	char buf[256];

	fresh();
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++)
		record_disk(targets[i][0], targets[i][1]);
	file = fx_mknod(&f, ROOT, "file");
	sid = reserve(4);
	CU_ASSERT_EQUAL(fx_apply(&f, op_stripe(file, 0, sid, 0, 100, 100, 'a'),
				 NULL), 0);
	CU_ASSERT_EQUAL(ok_on("da1"), 1);

	/* still where the mover read it: moved, the old place is garbage */
	CU_ASSERT_EQUAL(fx_apply(&f, op_move(sid, 1, "n1", "da1", "n9", "d9"),
				 &r), 0);
	CU_ASSERT_EQUAL(r.status, 0);
	CU_ASSERT_EQUAL(r.value, 1);
	where(sid, 1, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "n9:d9");
	garbage_of(sid, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "1:n1:da1;");
	CU_ASSERT_EQUAL(ok_on("da1"), 0);
	CU_ASSERT_EQUAL(ok_on("d9"), 1);

	/* the same move again (a lost answer): nothing changes */
	CU_ASSERT_EQUAL(fx_apply(&f, op_move(sid, 1, "n1", "da1", "n9", "d9"),
				 &r), 0);
	CU_ASSERT_EQUAL(r.value, 1);
	where(sid, 1, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "n9:d9");
	garbage_of(sid, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "1:n1:da1;");

	/* a mover that read it at its old place lost the race: its copy is
	 * garbage, the chunk stays */
	CU_ASSERT_EQUAL(fx_apply(&f, op_move(sid, 1, "n1", "da1", "n8", "d8"),
				 &r), 0);
	CU_ASSERT_EQUAL(r.value, 0);
	where(sid, 1, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "n9:d9");
	garbage_of(sid, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "1:n1:da1;1:n8:d8;");

	/* never onto a place that waits for its collector (the old copy on
	 * da1): the chunk stays, the garbage entry too */
	CU_ASSERT_EQUAL(fx_apply(&f, op_move(sid, 1, "n9", "d9", "n1", "da1"),
				 &r), -EINVAL);	/* da1 is no recorded disk */
	record_disk("n1", "da1");
	CU_ASSERT_EQUAL(fx_apply(&f, op_move(sid, 1, "n9", "d9", "n1", "da1"),
				 &r), 0);
	CU_ASSERT_EQUAL(r.value, 0);
	where(sid, 1, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "n9:d9");
	garbage_of(sid, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "1:n1:da1;1:n8:d8;");

	/* the stripe rewritten meanwhile: the copy of its old version is
	 * garbage, under the old stripe's id */
	CU_ASSERT_EQUAL(fx_apply(&f, op_stripe(file, 0, sid + 1, 1, 100, 100,
					       'b'), NULL), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_move(sid, 2, "n2", "da2", "n7", "d7"),
				 &r), 0);
	CU_ASSERT_EQUAL(r.value, 0);
	garbage_of(sid, buf, sizeof(buf));
	CU_ASSERT(strstr(buf, "2:n7:d7;") != NULL);

	/* refused, changing nothing: a stripe id nobody used, a target that
	 * is no recorded disk of its node (made up, or another node's) */
	CU_ASSERT_EQUAL(fx_apply(&f, op_move(sid + 3, 0, "n0", "dx0", "n6",
					     "d6"), &r), -ENOENT);
	garbage_of(sid + 3, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "");
	CU_ASSERT_EQUAL(fx_apply(&f, op_move(sid + 1, 0, "n0", "db0", "n6",
					     "nowhere"), NULL), -EINVAL);
	CU_ASSERT_EQUAL(fx_apply(&f, op_move(sid + 1, 0, "n0", "db0", "n6",
					     "d5"), NULL), -EINVAL);
	CU_ASSERT_EQUAL(fx_apply(&f, op_move(sid + 1, 0, "n0", "db0", "n0",
					     "db0"), NULL), -EINVAL);
	op = op_move(sid + 1, 0, "n0", "db0", "n5", "d5");
	op.u.chunk.loc.state = WFS_META_CHUNK_MISSING;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EINVAL);
	CU_ASSERT_EQUAL(fx_apply(&f, op_move(sid + 1, 6, "n0", "db0", "n5",
					     "d5"), NULL), -EINVAL);
	CU_ASSERT_EQUAL(fx_apply(&f, op_move(sid + 1, 0, "n0", "db0", "n5",
					     ""), NULL), -EINVAL);
	where(sid + 1, 0, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "n0:db0");
	garbage_of(sid + 1, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "");
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
}

/* GC_DONE drops the garbage entry of the copy it names, not the other
 * copies of the same chunk elsewhere (moves leave one per place, each
 * its own node's to delete); an entry of an older format, with no
 * place, drops them all, as it did. */
static void test_gc_done_place(void)
{
	struct wfs_meta_gc_entry gc[3];
	struct wfs_meta_op op;
	uint64_t file, sid;
	char buf[256];

	fresh();
	record_disk("n9", "d9");
	record_disk("n8", "d8");
	file = fx_mknod(&f, ROOT, "file");
	sid = reserve(4);
	CU_ASSERT_EQUAL(fx_apply(&f, op_stripe(file, 0, sid, 0, 100, 100, 'a'),
				 NULL), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_move(sid, 1, "n1", "da1", "n9", "d9"),
				 NULL), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_move(sid, 1, "n9", "d9", "n8", "d8"),
				 NULL), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_move(sid, 2, "n2", "da2", "n9", "d9"),
				 NULL), 0);
	garbage_of(sid, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "1:n1:da1;1:n9:d9;2:n2:da2;");

	/* n9 deleted its copy of chunk 1: n1's stays listed for n1 */
	gc[0] = (struct wfs_meta_gc_entry){ sid, 1, B("n9"), B("d9"), false };
	/* a place that holds no garbage of it: nothing */
	gc[1] = (struct wfs_meta_gc_entry){ sid, 2, B("n9"), B("d9"), false };
	gc[2] = (struct wfs_meta_gc_entry){ sid, 1, B("n1"), B("db1"), false };
	op = op_new(WFS_META_OP_GC_DONE);
	op.u.gc.nentries = 3;
	op.u.gc.entries = gc;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
	garbage_of(sid, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "1:n1:da1;2:n2:da2;");
	/* a place too long is refused whole */
	gc[1].disk.len = WFS_META_ID_MAX + 1;
	gc[2] = (struct wfs_meta_gc_entry){ sid, 1, B("n1"), B("da1"), false };
	op.u.gc.entries = &gc[1];
	op.u.gc.nentries = 2;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EINVAL);
	garbage_of(sid, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "1:n1:da1;2:n2:da2;");
	/* an old entry with no place: every copy of its chunk */
	CU_ASSERT_EQUAL(fx_apply(&f, op_move(sid, 2, "n9", "d9", "n8", "d8"),
				 NULL), 0);
	garbage_of(sid, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "1:n1:da1;2:n2:da2;2:n9:d9;");
	gc[0] = (struct wfs_meta_gc_entry){ sid, 2, B(""), B(""), true };
	op.u.gc.entries = gc;
	op.u.gc.nentries = 1;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
	garbage_of(sid, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "1:n1:da1;");
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
}

static int collect_stripe_ids(const struct wfs_meta_stripe *s, void *arg)
{
	struct seen *seen = arg;

	if (seen->n < 64)
		seen->ids[seen->n] = s->stripe_id;
	seen->n++;
	return 0;
}

static void test_disk_stripes(void)
{
	struct seen seen;
	uint64_t file, sid, after = 0;

	fresh();
	file = fx_mknod(&f, ROOT, "file");
	sid = reserve(10);
	for (int i = 0; i < 10; i++)
		CU_ASSERT_EQUAL(fx_apply(&f, op_stripe(file, (uint64_t)i,
						       sid + (uint64_t)i, 0,
						       10, 10,
						       (char)(i % 2 ? 'o' :
								      'e')),
					 NULL), 0);
	memset(&seen, 0, sizeof(seen));
	for (int page = 0; page < 10; page++) {
		int n = wfs_meta_disk_stripes(f.m, B("do3"), after, 2,
					      collect_stripe_ids, &seen);

		CU_ASSERT(n >= 0);
		if (n <= 0)
			break;
		after = seen.ids[seen.n - 1];
	}
	CU_ASSERT_EQUAL(seen.n, 5);
	for (int i = 0; i < 5; i++)
		CU_ASSERT_EQUAL(seen.ids[i], sid + 1 + 2 * (uint64_t)i);
}

/* ---- policies ---- */

static struct wfs_meta_op op_policy(uint32_t id, const char *name, uint32_t k,
				    uint32_t m, uint32_t chunk_size)
{
	struct wfs_meta_op op = op_new(WFS_META_OP_POLICY_SET);

	op.u.policy.id = id;
	op.u.policy.name = B(name);
	op.u.policy.k = k;
	op.u.policy.m = m;
	op.u.policy.chunk_size = chunk_size;
	return op;
}

static struct wfs_meta_op op_dir_policy(uint64_t ino, uint32_t id)
{
	struct wfs_meta_op op = op_new(WFS_META_OP_DIR_POLICY);

	op.u.dir_policy.ino = ino;
	op.u.dir_policy.policy_id = id;
	return op;
}

static int count_policy(const struct wfs_meta_policy *p, void *arg)
{
	(void)p;
	(*(int *)arg)++;
	return 0;
}

static void test_policy(void)
{
	struct wfs_meta_result r;
	struct wfs_meta_policy p;
	uint64_t a, b, file;
	int n = 0;

	fresh();
	CU_ASSERT_EQUAL(fx_apply(&f, op_policy(0, "wide", 8, 3, 65536), &r), 0);
	CU_ASSERT_EQUAL(r.value, 2);
	CU_ASSERT_EQUAL(wfs_meta_policy_get(f.m, 2, &p), 0);
	CU_ASSERT_STRING_EQUAL(p.name, "wide");
	CU_ASSERT_EQUAL(p.k, 8);
	CU_ASSERT_EQUAL(fx_apply(&f, op_policy(0, "wide", 8, 3, 65536), NULL),
			-EEXIST);
	CU_ASSERT_EQUAL(fx_apply(&f, op_policy(2, "default", 8, 3, 65536),
				 NULL), -EEXIST);
	CU_ASSERT_EQUAL(fx_apply(&f, op_policy(9, "nine", 8, 3, 65536), NULL),
			-ENOENT);
	CU_ASSERT_EQUAL(fx_apply(&f, op_policy(2, "wider", 16, 4,
					       64 << 20), &r), 0);
	CU_ASSERT_EQUAL(r.value, 2);
	CU_ASSERT_EQUAL(wfs_meta_policy_get(f.m, 2, &p), 0);
	CU_ASSERT_STRING_EQUAL(p.name, "wider");
	CU_ASSERT_EQUAL(p.chunk_size, 64 << 20);
	CU_ASSERT_EQUAL(fx_apply(&f, op_policy(0, "small", 1, 1, 4096), &r), 0);
	CU_ASSERT_EQUAL(r.value, 3);
	/* the limits */
	CU_ASSERT_EQUAL(fx_apply(&f, op_policy(0, "x", 0, 2, 4096), NULL),
			-EINVAL);
	CU_ASSERT_EQUAL(fx_apply(&f, op_policy(0, "x", 17, 2, 4096), NULL),
			-EINVAL);
	CU_ASSERT_EQUAL(fx_apply(&f, op_policy(0, "x", 4, 0, 4096), NULL),
			-EINVAL);
	CU_ASSERT_EQUAL(fx_apply(&f, op_policy(0, "x", 4, 5, 4096), NULL),
			-EINVAL);
	CU_ASSERT_EQUAL(fx_apply(&f, op_policy(0, "x", 4, 2, 2048), NULL),
			-EINVAL);
	CU_ASSERT_EQUAL(fx_apply(&f, op_policy(0, "x", 4, 2, 3 * 4096), NULL),
			-EINVAL);
	CU_ASSERT_EQUAL(fx_apply(&f, op_policy(0, "x", 4, 2, 128 << 20), NULL),
			-EINVAL);
	CU_ASSERT_EQUAL(fx_apply(&f, op_policy(0, "", 4, 2, 4096), NULL),
			-EINVAL);
	CU_ASSERT_EQUAL(wfs_meta_policy_get(f.m, 4, &p), -ENOENT);
	CU_ASSERT_EQUAL(wfs_meta_policies(f.m, count_policy, &n), 3);
	CU_ASSERT_EQUAL(n, 3);

	/* inheritance down the tree */
	a = fx_mkdir(&f, ROOT, "a");
	b = fx_mkdir(&f, a, "b");
	CU_ASSERT_EQUAL(fx_apply(&f, op_dir_policy(a, 2), &r), 0);
	CU_ASSERT_EQUAL(r.attr.policy_id, 2);
	CU_ASSERT_EQUAL(wfs_meta_policy_for(f.m, b, &p), 0);
	CU_ASSERT_EQUAL(p.id, 2);
	CU_ASSERT_EQUAL(wfs_meta_policy_for(f.m, ROOT, &p), 0);
	CU_ASSERT_EQUAL(p.id, 1);
	file = fx_mknod(&f, b, "file");
	CU_ASSERT_EQUAL(fx_attr(&f, file).policy_id, 2);
	CU_ASSERT_EQUAL(fx_apply(&f, op_dir_policy(b, 3), NULL), 0);
	CU_ASSERT_EQUAL(fx_attr(&f, fx_mknod(&f, b, "f2")).policy_id, 3);
	CU_ASSERT_EQUAL(fx_attr(&f, file).policy_id, 2);
	CU_ASSERT_EQUAL(fx_apply(&f, op_dir_policy(b, 0), NULL), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_dir_policy(a, 0), NULL), 0);
	CU_ASSERT_EQUAL(fx_attr(&f, fx_mknod(&f, b, "f3")).policy_id, 1);
	CU_ASSERT_EQUAL(fx_apply(&f, op_dir_policy(ROOT, 3), NULL), 0);
	CU_ASSERT_EQUAL(fx_attr(&f, fx_mknod(&f, b, "f4")).policy_id, 3);
	CU_ASSERT_EQUAL(wfs_meta_policy_for(f.m, file, &p), -ENOTDIR);
	CU_ASSERT_EQUAL(wfs_meta_policy_for(f.m, 999, &p), -ENOENT);
	CU_ASSERT_EQUAL(fx_apply(&f, op_dir_policy(file, 2), NULL), -ENOTDIR);
	CU_ASSERT_EQUAL(fx_apply(&f, op_dir_policy(a, 7), NULL), -EINVAL);
	CU_ASSERT_EQUAL(fx_apply(&f, op_dir_policy(999, 2), NULL), -ENOENT);
}

/* ---- nodes and disks ---- */

static struct wfs_meta_op op_node(uint32_t type, const char *id,
				  const char *addr)
{
	struct wfs_meta_op op = op_new(type);

	op.u.node.id = B(id);
	op.u.node.name = B("box");
	op.u.node.addr = B(addr);
	op.u.node.role = 1;
	op.u.node.state = 2;
	return op;
}

static struct wfs_meta_op op_disk(const char *id, const char *node)
{
	struct wfs_meta_op op = op_new(WFS_META_OP_DISK_SET);

	op.u.disk.id = B(id);
	op.u.disk.node_id = B(node);
	op.u.disk.path = B("/srv/disk");
	op.u.disk.capacity = 1ull << 40;
	op.u.disk.free = 1ull << 39;
	op.u.disk.state = 1;
	return op;
}

struct listed {
	int n;
	char last[80];
	uint64_t capacity;
};

static int list_node(const struct wfs_meta_node *n, void *arg)
{
	struct listed *l = arg;

	l->n++;
	snprintf(l->last, sizeof(l->last), "%.*s@%.*s", (int)n->id.len,
		 (const char *)n->id.data, (int)n->addr.len,
		 (const char *)n->addr.data);
	return 0;
}

static int list_disk(const struct wfs_meta_disk *d, void *arg)
{
	struct listed *l = arg;

	l->n++;
	snprintf(l->last, sizeof(l->last), "%.*s:%.*s", (int)d->id.len,
		 (const char *)d->id.data, (int)d->node_id.len,
		 (const char *)d->node_id.data);
	l->capacity = d->capacity;
	return 0;
}

static void test_nodes_disks(void)
{
	struct listed l;
	struct wfs_meta_op op;

	fresh();
	CU_ASSERT_EQUAL(fx_apply(&f, op_node(WFS_META_OP_NODE_SET, "n1",
					     "10.0.0.1:7000"), NULL), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_node(WFS_META_OP_NODE_SET, "n2",
					     "10.0.0.2:7000"), NULL), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_node(WFS_META_OP_NODE_SET, "n2",
					     "10.0.0.9:7000"), NULL), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_node(WFS_META_OP_NODE_SET, "",
					     "x"), NULL), -EINVAL);
	memset(&l, 0, sizeof(l));
	CU_ASSERT_EQUAL(wfs_meta_nodes(f.m, list_node, &l), 2);
	CU_ASSERT_STRING_EQUAL(l.last, "n2@10.0.0.9:7000");

	CU_ASSERT_EQUAL(fx_apply(&f, op_disk("d1", "n1"), NULL), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_disk("d2", "n2"), NULL), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_disk("d3", "n3"), NULL), -ENOENT);
	op = op_disk("d4", "n1");
	op.u.disk.path.len = WFS_META_PATH_MAX + 1;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), -EINVAL);
	memset(&l, 0, sizeof(l));
	CU_ASSERT_EQUAL(wfs_meta_disks(f.m, list_disk, &l), 2);
	CU_ASSERT_STRING_EQUAL(l.last, "d2:n2");
	CU_ASSERT_EQUAL(l.capacity, 1ull << 40);
	/* a disk may move to another node */
	CU_ASSERT_EQUAL(fx_apply(&f, op_disk("d2", "n1"), NULL), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_disk("d5", "n2"), NULL), 0);

	CU_ASSERT_EQUAL(fx_apply(&f, op_node(WFS_META_OP_NODE_REMOVE, "n2",
					     ""), NULL), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_node(WFS_META_OP_NODE_REMOVE, "n2",
					     ""), NULL), -ENOENT);
	memset(&l, 0, sizeof(l));
	CU_ASSERT_EQUAL(wfs_meta_nodes(f.m, list_node, &l), 1);
	memset(&l, 0, sizeof(l));
	CU_ASSERT_EQUAL(wfs_meta_disks(f.m, list_disk, &l), 2);
	CU_ASSERT_STRING_EQUAL(l.last, "d2:n1");
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
}

static int disk_state_cb(const struct wfs_meta_disk *d, void *arg)
{
	uint64_t *v = arg;

	if (d->id.len == 2 && memcmp(d->id.data, "d1", 2) == 0) {
		v[0] = d->state;
		v[1] = d->free;
		v[2] = d->draining;
	}
	return 0;
}

static struct wfs_meta_op op_drain(const char *disk, uint32_t draining)
{
	struct wfs_meta_op op = op_new(WFS_META_OP_DISK_DRAIN);

	op.u.drain.id = B(disk);
	op.u.drain.draining = draining;
	return op;
}

/* Draining is a flag of its own: only DISK_DRAIN sets or clears it, and
 * the state stays what the disk's node reports (online, offline), so a
 * report racing with an undrain cannot drain the disk again, and a
 * draining disk that fails shows offline. */
static void test_disk_draining(void)
{
	struct wfs_meta_op op;
	uint64_t v[3];

	fresh();
	CU_ASSERT_EQUAL(fx_apply(&f, op_node(WFS_META_OP_NODE_SET, "n1",
					     "10.0.0.1:7000"), NULL), 0);
	op = op_disk("d1", "n1");
	op.u.disk.state = 0;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
	CU_ASSERT_EQUAL(wfs_meta_disks(f.m, disk_state_cb, v), 1);
	CU_ASSERT(v[0] == 0 && v[2] == 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_drain("d1", 1), NULL), 0);
	/* its node reports it (any keep_state: it means nothing now) */
	op.u.disk.free = 12345;
	op.u.disk.keep_state = 2;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
	CU_ASSERT_EQUAL(wfs_meta_disks(f.m, disk_state_cb, v), 1);
	CU_ASSERT(v[0] == 0 && v[1] == 12345 && v[2] == 1);
	/* it fails while draining: offline, and still draining */
	op.u.disk.state = 1;
	op.u.disk.keep_state = 0;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
	CU_ASSERT_EQUAL(wfs_meta_disks(f.m, disk_state_cb, v), 1);
	CU_ASSERT(v[0] == 1 && v[2] == 1);
	/* the operator undrains it; a report read before lands after */
	CU_ASSERT_EQUAL(fx_apply(&f, op_drain("d1", 0), NULL), 0);
	op.u.disk.state = 0;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
	CU_ASSERT_EQUAL(wfs_meta_disks(f.m, disk_state_cb, v), 1);
	CU_ASSERT(v[0] == 0 && v[2] == 0);
	/* errors: no such disk, a bad flag, a bad id */
	CU_ASSERT_EQUAL(fx_apply(&f, op_drain("d9", 1), NULL), -ENOENT);
	CU_ASSERT_EQUAL(fx_apply(&f, op_drain("d1", 2), NULL), -EINVAL);
	CU_ASSERT_EQUAL(fx_apply(&f, op_drain("", 1), NULL), -EINVAL);
	CU_ASSERT_EQUAL(wfs_meta_disks(f.m, disk_state_cb, v), 1);
	CU_ASSERT_EQUAL(v[2], 0);
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
}

/* A disk's chunks counted OK and missing, up to a limit. */
static void test_disk_chunks(void)
{
	struct wfs_meta_disk_count c;
	struct wfs_meta_op op;
	uint64_t file, sid;

	fresh();
	file = fx_mknod(&f, ROOT, "file");
	sid = reserve(3);
	for (uint64_t i = 0; i < 3; i++) {
		op = op_stripe(file, i, sid + i, 0, 5, (4 << 20) * i + 5, 'a');
		if (i == 1)
			locs[2].state = WFS_META_CHUNK_MISSING;
		CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
	}
	CU_ASSERT_EQUAL(wfs_meta_disk_chunks(f.m, B("da2"), 100, &c), 0);
	CU_ASSERT(c.ok == 2 && c.missing == 1 && !c.more);
	CU_ASSERT_EQUAL(wfs_meta_disk_chunks(f.m, B("da1"), 100, &c), 0);
	CU_ASSERT(c.ok == 3 && c.missing == 0 && !c.more);
	CU_ASSERT_EQUAL(wfs_meta_disk_chunks(f.m, B("da1"), 2, &c), 0);
	CU_ASSERT(c.ok == 2 && c.missing == 0 && c.more);
	CU_ASSERT_EQUAL(wfs_meta_disk_chunks(f.m, B("da1"), 3, &c), 0);
	CU_ASSERT(c.ok == 3 && c.more);
	CU_ASSERT_EQUAL(wfs_meta_disk_chunks(f.m, B("nowhere"), 5, &c), 0);
	CU_ASSERT(c.ok == 0 && c.missing == 0 && !c.more);
	CU_ASSERT_EQUAL(wfs_meta_disk_chunks(f.m, B("da1"), 0, &c), -EINVAL);
}

/* Stripes short of a chunk: marked missing, on a lost disk, or on a dead
 * node; each counted once. */
static void test_stripes_degraded(void)
{
	struct wfs_meta_op op;
	uint64_t file, first, count = 99;
	const uint32_t lost = 1, ok = 0;

	fresh();
	file = fx_mknod(&f, ROOT, "file");
	first = reserve(3);
	CU_ASSERT_EQUAL(fx_apply(&f, op_stripe(file, 0, first, 0, 5, 5, 'a'),
				 NULL), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_stripe(file, 1, first + 1, 0, 5,
					       (4 << 20) + 5, 'b'), NULL), 0);
	CU_ASSERT_EQUAL(wfs_meta_stripes_degraded(f.m, lost, lost, &count), 0);
	CU_ASSERT_EQUAL(count, 0);
	op = op_stripe(file, 2, first + 2, 0, 5, (8 << 20) + 5, 'c');
	locs[1].state = WFS_META_CHUNK_MISSING;
	locs[4].state = WFS_META_CHUNK_MISSING;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
	CU_ASSERT_EQUAL(wfs_meta_stripes_degraded(f.m, lost, lost, &count), 0);
	CU_ASSERT_EQUAL(count, 1);

	/* n1 alive with its disks well: nothing more */
	op = op_node(WFS_META_OP_NODE_SET, "n1", "10.0.0.1:7000");
	op.u.node.state = ok;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
	for (int i = 0; i < 3; i++) {
		static const char *const ids[] = { "da1", "db1", "dc1" };

		op = op_disk(ids[i], "n1");
		op.u.disk.state = ok;
		CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
	}
	CU_ASSERT_EQUAL(wfs_meta_stripes_degraded(f.m, lost, lost, &count), 0);
	CU_ASSERT_EQUAL(count, 1);
	/* da1 lost: stripe a too */
	op = op_disk("da1", "n1");
	op.u.disk.state = lost;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
	CU_ASSERT_EQUAL(wfs_meta_stripes_degraded(f.m, lost, lost, &count), 0);
	CU_ASSERT_EQUAL(count, 2);
	/* a draining disk (another state) still holds its chunks */
	CU_ASSERT_EQUAL(wfs_meta_stripes_degraded(f.m, 7, lost, &count), 0);
	CU_ASSERT_EQUAL(count, 1);
	/* a disk that fails while it drains is lost all the same */
	CU_ASSERT_EQUAL(fx_apply(&f, op_drain("db1", 1), NULL), 0);
	op = op_disk("db1", "n1");
	op.u.disk.state = lost;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
	CU_ASSERT_EQUAL(wfs_meta_stripes_degraded(f.m, lost, lost, &count), 0);
	CU_ASSERT_EQUAL(count, 3);
	op.u.disk.state = ok;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
	CU_ASSERT_EQUAL(wfs_meta_stripes_degraded(f.m, lost, lost, &count), 0);
	CU_ASSERT_EQUAL(count, 2);
	/* n1 dead: every stripe, c once although two ways short */
	op = op_node(WFS_META_OP_NODE_SET, "n1", "10.0.0.1:7000");
	op.u.node.state = lost;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
	CU_ASSERT_EQUAL(wfs_meta_stripes_degraded(f.m, lost, lost, &count), 0);
	CU_ASSERT_EQUAL(count, 3);
	/* the file gone: nothing */
	op = op_new(WFS_META_OP_UNLINK);
	op.u.remove.parent = ROOT;
	op.u.remove.name = B("file");
	op.u.remove.purge_ino = file;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
	CU_ASSERT_EQUAL(wfs_meta_stripes_degraded(f.m, lost, lost, &count), 0);
	CU_ASSERT_EQUAL(count, 0);
}

/* ---- all-or-nothing ---- */

static int list_cookie(const struct wfs_meta_dirent *ent, void *arg)
{
	uint64_t *cookie = arg;

	*cookie = ent->cookie;
	return 0;
}

static void test_failed_op_changes_nothing(void)
{
	uint64_t dir, before, after, cookie_a = 0, cookie_b = 0, inodes, bytes;

	fresh();
	dir = fx_mkdir(&f, ROOT, "dir");
	fx_mknod(&f, ROOT, "a");
	CU_ASSERT_EQUAL(wfs_meta_readdir(f.m, ROOT, 0, 100, list_cookie,
					 &cookie_a), 2);
	before = f.index;
	/* LINK writes the new name before it finds the inode is a
	 * directory; the savepoint takes the name, the cookie and the
	 * counters back */
	CU_ASSERT_EQUAL(fx_apply(&f, op_link(dir, ROOT, "dirlink"), NULL),
			-EPERM);
	CU_ASSERT_EQUAL(fx_ino(&f, ROOT, "dirlink"), 0);
	after = wfs_meta_applied_index(f.m);
	CU_ASSERT_EQUAL(after, before + 1);
	fx_mknod(&f, ROOT, "b");
	CU_ASSERT_EQUAL(wfs_meta_readdir(f.m, ROOT, 0, 100, list_cookie,
					 &cookie_b), 3);
	CU_ASSERT_EQUAL(cookie_b, cookie_a + 1);
	CU_ASSERT_EQUAL(fx_ino(&f, ROOT, "b"), 4);
	wfs_meta_usage(f.m, &inodes, &bytes);
	CU_ASSERT_EQUAL(inodes, 4);
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
}

static CU_TestInfo apply_tests[] = {
	{ "format", test_format },
	{ "create", test_create },
	{ "create errors", test_create_errors },
	{ "symlink", test_symlink },
	{ "link", test_link },
	{ "unlink, orphans, purge", test_unlink_purge },
	{ "rmdir", test_rmdir },
	{ "rename", test_rename_basic },
	{ "rename replacing", test_rename_replace },
	{ "rename into own subtree", test_rename_subtree },
	{ "rename exchange", test_rename_exchange },
	{ "rename onto a hard link", test_rename_hardlink },
	{ "setattr", test_setattr },
	{ "xattrs", test_xattr },
	{ "reserve ids", test_reserve },
	{ "reserve inode numbers", test_reserve_inodes },
	{ "mknod at a reserved number", test_mknod_chosen_ino },
	{ "lease: grant and release", test_lease_grant },
	{ "lease: others refused, nothing changed", test_lease_refuses_others },
	{ "lease: removal of the leased directory", test_lease_removal },
	{ "lease: a refused request applies later", test_lease_request_retry },
	{ "request results stored before leases",
	  test_request_result_before_leases },
	{ "a request retried applies once", test_request_retry },
	{ "cluster settings", test_settings },
	{ "stripe commit", test_stripe_commit },
	{ "truncate then extend", test_truncate_extend },
	{ "purge sends stripes to garbage", test_purge_stripes },
	{ "unlink that purges at once", test_unlink_purges },
	{ "results carry the directory changed", test_result_dirs },
	{ "chunk set and gc", test_chunk_set_gc },
	{ "chunk move: conditional CHUNK_SET", test_chunk_move },
	{ "gc done drops the copy it names", test_gc_done_place },
	{ "stripes by disk", test_disk_stripes },
	{ "policies", test_policy },
	{ "nodes and disks", test_nodes_disks },
	{ "draining is a flag of its own", test_disk_draining },
	{ "chunks on a disk, counted", test_disk_chunks },
	{ "stripes degraded", test_stripes_degraded },
	{ "a failed op changes nothing", test_failed_op_changes_nothing },
	CU_TEST_INFO_NULL,
};

WFS_TEST_SUITE("metadata/apply", apply_tests, NULL, teardown)
