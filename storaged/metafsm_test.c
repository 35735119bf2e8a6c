/* Unit tests for storaged/metafsm, driving its raft callbacks directly (no
 * raft, no network): applying ops in batches, rename results, entries that
 * are not ops, snapshots (the copy, its descriptor, pruning) and restore
 * (store kept when ahead, copy swapped in when behind, damage refused). */
#include "storaged/metafsm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem/mem.h"
#include "tests/unit.h"

struct fx {
	char dir[256];
	struct wfs_metafsm *f;
	struct wfs_raftlog_fsm cb;
	uint64_t index;
};

static int state_calls;

static void on_state(void *arg, enum wfs_raftlog_role role, uint64_t leader)
{
	(void)arg;
	(void)role;
	(void)leader;
	state_calls++;
}

static void fx_open(struct fx *x)
{
	CU_ASSERT_EQUAL_FATAL(wfs_metafsm_open(x->dir, &x->f), 0);
	wfs_metafsm_raft_fsm(x->f, on_state, NULL, &x->cb);
}

static void fx_init(struct fx *x)
{
	memset(x, 0, sizeof(*x));
	CU_ASSERT_EQUAL_FATAL(wfs_test_mkdtemp(x->dir, sizeof(x->dir)), 0);
	fx_open(x);
	CU_ASSERT_EQUAL(x->cb.result_size, sizeof(struct wfs_metafsm_result));
}

/* Apply @op as the next entry, in a batch of its own. */
static int apply(struct fx *x, const struct wfs_meta_op *op,
		 struct wfs_metafsm_result *res)
{
	void *buf;
	size_t len;
	int rc;

	CU_ASSERT_EQUAL_FATAL(wfs_meta_op_encode(op, &buf, &len), 0);
	memset(res, 0, sizeof(*res));
	CU_ASSERT_EQUAL(x->cb.batch_begin(x->f), 0);
	rc = x->cb.apply(x->f, ++x->index, buf, len, res);
	CU_ASSERT_EQUAL(x->cb.batch_end(x->f), 0);
	wfs_free(buf);
	return rc;
}

static void format(struct fx *x)
{
	struct wfs_meta_op op = { .type = WFS_META_OP_FORMAT, .time_ns = 1 };
	struct wfs_metafsm_result res;

	op.u.format.root_mode = 0755;
	op.u.format.k = 2;
	op.u.format.m = 1;
	op.u.format.chunk_size = 65536;
	op.u.format.cluster_id = (struct wfs_meta_bytes){ "c1", 2 };
	CU_ASSERT_EQUAL(apply(x, &op, &res), 0);
	CU_ASSERT_EQUAL(res.meta.status, 0);
}

static uint64_t mkdir_at(struct fx *x, uint64_t parent, const char *name)
{
	struct wfs_meta_op op = { .type = WFS_META_OP_MKDIR, .time_ns = 2 };
	struct wfs_metafsm_result res;

	op.u.create.parent = parent;
	op.u.create.name = (struct wfs_meta_bytes){ name, strlen(name) };
	op.u.create.mode = 0755;
	CU_ASSERT_EQUAL(apply(x, &op, &res), 0);
	CU_ASSERT_EQUAL(res.meta.status, 0);
	return res.meta.attr.ino;
}

static uint64_t mknod_at(struct fx *x, uint64_t parent, const char *name)
{
	struct wfs_meta_op op = { .type = WFS_META_OP_MKNOD, .time_ns = 2 };
	struct wfs_metafsm_result res;

	op.u.create.parent = parent;
	op.u.create.name = (struct wfs_meta_bytes){ name, strlen(name) };
	op.u.create.mode = S_IFREG | 0644;
	CU_ASSERT_EQUAL(apply(x, &op, &res), 0);
	CU_ASSERT_EQUAL(res.meta.status, 0);
	return res.meta.attr.ino;
}

static int lookup(struct fx *x, uint64_t parent, const char *name,
		  struct wfs_meta_attr *a)
{
	struct wfs_meta *m = wfs_metafsm_read_begin(x->f);
	int rc = wfs_meta_lookup(m, parent,
				 (struct wfs_meta_bytes){ name, strlen(name) },
				 a);

	wfs_metafsm_read_end(x->f);
	return rc;
}

static void test_apply(void)
{
	struct wfs_meta_op op = { .type = WFS_META_OP_MKDIR, .time_ns = 3 };
	struct wfs_metafsm_result res;
	struct wfs_meta_attr a;
	struct fx x;
	uint64_t d, f1, f2;

	fx_init(&x);
	format(&x);
	d = mkdir_at(&x, WFS_META_ROOT_INO, "d");
	CU_ASSERT(d > WFS_META_ROOT_INO);
	CU_ASSERT_EQUAL(lookup(&x, WFS_META_ROOT_INO, "d", &a), 0);
	CU_ASSERT_EQUAL(a.ino, d);
	/* The op's own failure is a result, not an error of apply. */
	op.u.create.parent = WFS_META_ROOT_INO;
	op.u.create.name = (struct wfs_meta_bytes){ "d", 1 };
	CU_ASSERT_EQUAL(apply(&x, &op, &res), 0);
	CU_ASSERT_EQUAL(res.meta.status, -EEXIST);
	/* Bytes that are not an op this version reads (damage, or a newer
	 * format): the state machine fails (-EIO: this voter stops) rather
	 * than skip it and differ from the others; nothing is applied. */
	memset(&res, 0, sizeof(res));
	CU_ASSERT_EQUAL(x.cb.apply(x.f, ++x.index, "garbage", 7, &res), -EIO);
	CU_ASSERT_EQUAL(x.cb.apply(x.f, x.index, "garbage\x01", 8, &res),
			-EIO);
	CU_ASSERT_EQUAL(x.cb.apply(x.f, x.index, "garbag\x02\x01", 8, &res),
			-EIO);
	CU_ASSERT_EQUAL(wfs_metafsm_applied(x.f), x.index - 1);
	x.index--;
	/* Rename over a file reports the file replaced; a plain rename
	 * reports none. */
	f1 = mknod_at(&x, d, "a");
	f2 = mknod_at(&x, d, "b");
	op = (struct wfs_meta_op){ .type = WFS_META_OP_RENAME, .time_ns = 4 };
	op.u.rename.parent = op.u.rename.new_parent = d;
	op.u.rename.name = (struct wfs_meta_bytes){ "a", 1 };
	op.u.rename.new_name = (struct wfs_meta_bytes){ "b", 1 };
	CU_ASSERT_EQUAL(apply(&x, &op, &res), 0);
	CU_ASSERT_EQUAL(res.meta.status, 0);
	CU_ASSERT_EQUAL(res.meta.attr.ino, f1);
	CU_ASSERT_EQUAL(res.replaced_ino, f2);
	CU_ASSERT_EQUAL(res.replaced_nlink, 0);
	CU_ASSERT_EQUAL(res.meta.value, f2);	/* the orphan */
	op.u.rename.name = (struct wfs_meta_bytes){ "b", 1 };
	op.u.rename.new_name = (struct wfs_meta_bytes){ "c", 1 };
	CU_ASSERT_EQUAL(apply(&x, &op, &res), 0);
	CU_ASSERT_EQUAL(res.meta.status, 0);
	CU_ASSERT_EQUAL(res.replaced_ino, 0);
	/* Entries at or below the applied index are skipped. */
	x.index -= 2;
	CU_ASSERT_EQUAL(apply(&x, &op, &res), 0);
	CU_ASSERT_EQUAL(res.meta.status, -EALREADY);
	/* The state callback is passed on. */
	state_calls = 0;
	x.cb.state(x.f, WFS_RAFTLOG_LEADER, 1);
	CU_ASSERT_EQUAL(state_calls, 1);
	wfs_metafsm_close(x.f);
	wfs_metafsm_close(NULL);
}

static int count_snapshots(const char *dir)
{
	char path[512];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/snapshots", dir);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += strncmp(e->d_name, "meta-", 5) == 0;
	closedir(d);
	return n;
}

static void remove_store(const char *dir)
{
	const char *names[] = { "meta.db", "meta.db-wal", "meta.db-shm" };
	char path[512];

	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
}

static void test_snapshot_restore(void)
{
	struct wfs_meta_attr a;
	struct fx x;
	void *snap;
	size_t len;

	fx_init(&x);
	format(&x);
	mkdir_at(&x, WFS_META_ROOT_INO, "before");
	CU_ASSERT_EQUAL_FATAL(x.cb.snapshot(x.f, x.index, &snap, &len), 0);
	CU_ASSERT(len > 0);
	CU_ASSERT_EQUAL(count_snapshots(x.dir), 1);
	mkdir_at(&x, WFS_META_ROOT_INO, "after");
	/* The store is ahead of the snapshot: restore keeps it. */
	CU_ASSERT_EQUAL(x.cb.restore(x.f, snap, len), 0);
	CU_ASSERT_EQUAL(lookup(&x, WFS_META_ROOT_INO, "after", &a), 0);
	/* A store that lost everything gets the copy back. */
	wfs_metafsm_close(x.f);
	remove_store(x.dir);
	fx_open(&x);
	CU_ASSERT_EQUAL(wfs_metafsm_applied(x.f), 0);
	CU_ASSERT_EQUAL(x.cb.restore(x.f, snap, len), 0);
	CU_ASSERT_EQUAL(wfs_metafsm_applied(x.f), 2);
	CU_ASSERT_EQUAL(lookup(&x, WFS_META_ROOT_INO, "before", &a), 0);
	CU_ASSERT_EQUAL(lookup(&x, WFS_META_ROOT_INO, "after", &a), -ENOENT);
	/* And goes on applying after it. */
	x.index = 2;
	mkdir_at(&x, WFS_META_ROOT_INO, "again");
	CU_ASSERT_EQUAL(lookup(&x, WFS_META_ROOT_INO, "again", &a), 0);
	wfs_metafsm_close(x.f);
	wfs_free(snap);
}

static void test_restore_damage(void)
{
	char path[512];
	unsigned char byte;
	struct fx x;
	void *snap;
	size_t len;
	int fd;

	fx_init(&x);
	format(&x);
	CU_ASSERT_EQUAL_FATAL(x.cb.snapshot(x.f, x.index, &snap, &len), 0);
	wfs_metafsm_close(x.f);
	remove_store(x.dir);
	fx_open(&x);
	/* A damaged descriptor. */
	((unsigned char *)snap)[9] ^= 1;
	CU_ASSERT_EQUAL(x.cb.restore(x.f, snap, len), -EBADMSG);
	((unsigned char *)snap)[9] ^= 1;
	CU_ASSERT_EQUAL(x.cb.restore(x.f, snap, len - 1), -EBADMSG);
	/* A damaged copy. */
	snprintf(path, sizeof(path), "%s/snapshots/meta-%020d.db", x.dir, 1);
	fd = open(path, O_RDWR);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(pread(fd, &byte, 1, 100), 1);
	byte ^= 0x40;
	CU_ASSERT_EQUAL(pwrite(fd, &byte, 1, 100), 1);
	CU_ASSERT_EQUAL(x.cb.restore(x.f, snap, len), -EBADMSG);
	/* A missing copy. */
	unlink(path);
	CU_ASSERT_EQUAL(x.cb.restore(x.f, snap, len), -ENOENT);
	/* The store is still there and untouched. */
	CU_ASSERT_EQUAL(wfs_metafsm_applied(x.f), 0);
	wfs_metafsm_close(x.f);
	wfs_free(snap);
}

static void test_prune(void)
{
	struct fx x;
	void *snap;
	size_t len;

	fx_init(&x);
	format(&x);
	for (int i = 0; i < 5; i++) {
		char name[8] = { 'd', (char)('0' + i), 0 };

		mkdir_at(&x, WFS_META_ROOT_INO, name);
		CU_ASSERT_EQUAL_FATAL(x.cb.snapshot(x.f, x.index, &snap, &len),
				      0);
		wfs_free(snap);
	}
	CU_ASSERT_EQUAL(count_snapshots(x.dir), WFS_METAFSM_KEEP);
	wfs_metafsm_close(x.f);
}

static void test_open_errors(void)
{
	struct wfs_metafsm *f;

	CU_ASSERT_EQUAL(wfs_metafsm_open("/nonexistent/wfs/dir", &f), -ENOENT);
	CU_ASSERT_PTR_NULL(f);
}

static CU_TestInfo metafsm_tests[] = {
	{ "apply, results, skipped entries", test_apply },
	{ "snapshot then restore", test_snapshot_restore },
	{ "restore refuses damage", test_restore_damage },
	{ "old snapshots pruned", test_prune },
	{ "open errors", test_open_errors },
	CU_TEST_INFO_NULL,
};
WFS_TEST_SUITE("metafsm", metafsm_tests, NULL, NULL)
