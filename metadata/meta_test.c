/* Unit tests for the metadata store as a whole: opening and refusing files,
 * the schema version, transactions and replay, pagination, determinism,
 * query plans, backups, allocation failures, and surviving kill -9. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mem/mem.h"
#include "metadata/meta_internal.h"
#include "metadata/meta_test_internal.h"

#define ROOT WFS_META_ROOT_INO

/* ---- helpers ---- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

/* A hash of every row of every table of the store at @path, in key order;
 * *rows counts the rows. */
static uint64_t dump_hash(const char *path, uint64_t *rows)
{
	char names[32][64], sql[2200];
	uint64_t h = 0xcbf29ce484222325ULL;
	sqlite3_stmt *st;
	sqlite3 *db;
	int ntables = 0;

	*rows = 0;
	CU_ASSERT_FATAL(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY,
					NULL) == SQLITE_OK);
	CU_ASSERT_FATAL(sqlite3_prepare_v2(db, "SELECT name FROM sqlite_schema"
					   " WHERE type = 'table' ORDER BY "
					   "name", -1, &st, NULL) == SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW && ntables < 32)
		snprintf(names[ntables++], 64, "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	for (int t = 0; t < ntables; t++) {
		int ncols, len;

		snprintf(sql, sizeof(sql), "SELECT * FROM %s", names[t]);
		CU_ASSERT_FATAL(sqlite3_prepare_v2(db, sql, -1, &st, NULL) ==
				SQLITE_OK);
		ncols = sqlite3_column_count(st);
		sqlite3_finalize(st);
		len = snprintf(sql, sizeof(sql), "SELECT * FROM %s ORDER BY 1",
			       names[t]);
		for (int c = 2; c <= ncols; c++)
			len += snprintf(sql + len, sizeof(sql) - (size_t)len,
					", %d", c);
		CU_ASSERT_FATAL(sqlite3_prepare_v2(db, sql, -1, &st, NULL) ==
				SQLITE_OK);
		h = fnv(h, names[t], strlen(names[t]));
		while (sqlite3_step(st) == SQLITE_ROW) {
			(*rows)++;
			for (int c = 0; c < ncols; c++) {
				unsigned char type = (unsigned char)
					sqlite3_column_type(st, c);
				const void *v = sqlite3_column_blob(st, c);

				h = fnv(h, &type, 1);
				if (v)
					h = fnv(h, v, (size_t)sqlite3_column_bytes(
								st, c));
			}
		}
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return h;
}

static void exec_sql(const char *path, const char *sql)
{
	sqlite3 *db;

	CU_ASSERT_FATAL(sqlite3_open(path, &db) == SQLITE_OK);
	CU_ASSERT_EQUAL(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* ---- opening ---- */

static void test_open_reopen(void)
{
	struct fx f;
	uint64_t inodes, bytes;
	char id[64];

	CU_ASSERT_FATAL(fx_setup(&f) == 0);
	CU_ASSERT_EQUAL(wfs_meta_applied_index(f.m), 1);
	fx_mknod(&f, ROOT, "a");
	fx_mkdir(&f, ROOT, "d");
	fx_close(&f);
	CU_ASSERT_FATAL(wfs_meta_open(f.path, &f.m) == 0);
	CU_ASSERT_EQUAL(wfs_meta_applied_index(f.m), 3);
	CU_ASSERT_EQUAL(fx_ino(&f, ROOT, "a"), 2);
	CU_ASSERT_EQUAL(wfs_meta_cluster_id(f.m, id, sizeof(id)), 12);
	wfs_meta_usage(f.m, &inodes, &bytes);
	CU_ASSERT_EQUAL(inodes, 3);
	/* counters carried over */
	CU_ASSERT_EQUAL(fx_mknod(&f, ROOT, "b"), 4);
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
	fx_close(&f);
	wfs_meta_close(NULL);
}

static void test_refuse_newer_schema(void)
{
	struct wfs_meta *m = NULL;
	struct fx f;

	char sql[96];

	CU_ASSERT_FATAL(fx_setup(&f) == 0);
	fx_close(&f);
	snprintf(sql, sizeof(sql), "UPDATE kv SET v = %d WHERE k = "
		 "'schema_version'", WFS_META_SCHEMA_VERSION + 1);
	exec_sql(f.path, sql);
	CU_ASSERT_EQUAL(wfs_meta_open(f.path, &m), -EPROTONOSUPPORT);
	CU_ASSERT_PTR_NULL(m);
	/* A version 1 store (no requests table, no chunks_not_ok index, no
	 * draining column, no dir_leases table) is migrated to the current
	 * version. */
	exec_sql(f.path, "DROP TABLE dir_leases");
	exec_sql(f.path, "DROP TABLE requests");
	exec_sql(f.path, "DROP INDEX chunks_not_ok");
	exec_sql(f.path, "DROP INDEX chunks_not_ok_by_disk");
	exec_sql(f.path, "ALTER TABLE disks DROP COLUMN draining");
	exec_sql(f.path, "UPDATE kv SET v = 1 WHERE k = 'schema_version'");
	CU_ASSERT_EQUAL(wfs_meta_open(f.path, &m), 0);
	CU_ASSERT_EQUAL(wfs_meta_check(m), 0);
	wfs_meta_close(m);
	CU_ASSERT_EQUAL(wfs_meta_open(f.path, &m), 0);
	wfs_meta_close(m);
	exec_sql(f.path, "DELETE FROM kv WHERE k = 'schema_version'");
	CU_ASSERT_EQUAL(wfs_meta_open(f.path, &m), -EBADMSG);
}

static int drain_cb(const struct wfs_meta_disk *d, void *arg)
{
	uint32_t *v = arg;

	v[d->id.len == 2 && memcmp(d->id.data, "d2", 2) == 0 ? 2 : 0] =
		d->state;
	v[d->id.len == 2 && memcmp(d->id.data, "d2", 2) == 0 ? 3 : 1] =
		d->draining;
	return 0;
}

/* Version 3 kept "draining" in a disk's state (2): version 4 moves it to
 * the draining flag and records the disk online; other disks keep their
 * state, undrained. */
static void test_migrate_draining(void)
{
	struct wfs_meta *m = NULL;
	uint32_t v[4] = { 9, 9, 9, 9 };
	struct fx f;

	CU_ASSERT_FATAL(fx_setup(&f) == 0);
	fx_close(&f);
	exec_sql(f.path, "DROP TABLE dir_leases");
	exec_sql(f.path, "DROP INDEX chunks_not_ok_by_disk");
	exec_sql(f.path, "ALTER TABLE disks DROP COLUMN draining");
	exec_sql(f.path, "INSERT INTO nodes VALUES ('n', 'box', 'a', 0, 0)");
	exec_sql(f.path, "INSERT INTO disks VALUES ('d1', 'n', '/1', 1, 1, 1),"
			 " ('d2', 'n', '/2', 1, 1, 2)");
	exec_sql(f.path, "UPDATE kv SET v = 3 WHERE k = 'schema_version'");
	CU_ASSERT_EQUAL_FATAL(wfs_meta_open(f.path, &m), 0);
	CU_ASSERT_EQUAL(wfs_meta_disks(m, drain_cb, v), 2);
	CU_ASSERT(v[0] == 1 && v[1] == 0);	/* d1: offline, not draining */
	CU_ASSERT(v[2] == 0 && v[3] == 1);	/* d2: online, draining */
	CU_ASSERT_EQUAL(wfs_meta_check(m), 0);
	wfs_meta_close(m);
}

/* 1 if the store at @path has table @name, else 0. */
static int has_table(const char *path, const char *name)
{
	sqlite3_stmt *st;
	sqlite3 *db;
	int found;

	CU_ASSERT_FATAL(sqlite3_open(path, &db) == SQLITE_OK);
	CU_ASSERT_FATAL(sqlite3_prepare_v2(db, "SELECT count(*) FROM "
					   "sqlite_schema WHERE type = "
					   "'table' AND name = ?1", -1, &st,
					   NULL) == SQLITE_OK);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	CU_ASSERT_EQUAL(sqlite3_step(st), SQLITE_ROW);
	found = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return found;
}

/* A version 4 store (before leases) keeps its data and gains the
 * dir_leases table, which apply then uses. */
static void test_migrate_leases(void)
{
	struct wfs_meta_attr a;
	uint64_t dir, file, session = 9;
	struct fx f;

	CU_ASSERT_FATAL(fx_setup(&f) == 0);
	dir = fx_mkdir(&f, ROOT, "d");
	file = fx_mknod(&f, dir, "f");
	fx_close(&f);
	exec_sql(f.path, "DROP TABLE dir_leases");
	exec_sql(f.path, "UPDATE kv SET v = 4 WHERE k = 'schema_version'");
	CU_ASSERT_EQUAL(has_table(f.path, "dir_leases"), 0);
	CU_ASSERT_EQUAL_FATAL(wfs_meta_open(f.path, &f.m), 0);
	f.index = wfs_meta_applied_index(f.m);
	CU_ASSERT_EQUAL(f.index, 3);
	CU_ASSERT_EQUAL(fx_ino(&f, ROOT, "d"), dir);
	CU_ASSERT_EQUAL(fx_ino(&f, dir, "f"), file);
	CU_ASSERT_EQUAL(wfs_meta_lease_get(f.m, dir, &session), 0);
	CU_ASSERT_EQUAL(session, 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_lease(dir, 5, 1), NULL), 0);
	CU_ASSERT_EQUAL(wfs_meta_lease_get(f.m, dir, &session), 0);
	CU_ASSERT_EQUAL(session, 5);
	CU_ASSERT_EQUAL(fx_apply(&f, op_mknod(dir, "g"), NULL), -EAGAIN);
	CU_ASSERT_EQUAL(wfs_meta_getattr(f.m, file, &a), 0);
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
	fx_close(&f);
	CU_ASSERT_EQUAL(has_table(f.path, "dir_leases"), 1);
	CU_ASSERT_EQUAL_FATAL(wfs_meta_open(f.path, &f.m), 0);
	fx_close(&f);
}

static void test_refuse_foreign(void)
{
	char dir[256], path[300], buf[4096], back[4096];
	struct wfs_meta *m = NULL;
	uint64_t seed = wfs_test_seed();
	int fd;

	CU_ASSERT_FATAL(wfs_test_mkdtemp(dir, sizeof(dir)) == 0);
	/* not SQLite at all; and left as it was */
	snprintf(path, sizeof(path), "%s/junk", dir);
	wfs_test_fill(&seed, buf, sizeof(buf));
	memcpy(buf, "not a database, just bytes", 26);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	close(fd);
	CU_ASSERT_EQUAL(wfs_meta_open(path, &m), -EBADMSG);
	fd = open(path, O_RDONLY);
	CU_ASSERT_EQUAL(read(fd, back, sizeof(back)), (ssize_t)sizeof(back));
	close(fd);
	CU_ASSERT_EQUAL(memcmp(buf, back, sizeof(buf)), 0);

	/* SQLite, someone else's */
	snprintf(path, sizeof(path), "%s/other.db", dir);
	exec_sql(path, "CREATE TABLE t (x)");
	CU_ASSERT_EQUAL(wfs_meta_open(path, &m), -EBADMSG);
	/* ours by its id but without the kv table */
	snprintf(path, sizeof(path), "%s/half.db", dir);
	exec_sql(path, "PRAGMA application_id = 1464225092; "
		       "CREATE TABLE t (x)");
	CU_ASSERT_EQUAL(wfs_meta_open(path, &m), -EBADMSG);
	/* a folder that is not there */
	snprintf(path, sizeof(path), "%s/missing/meta.db", dir);
	CU_ASSERT_EQUAL(wfs_meta_open(path, &m), -ENOENT);
	/* an empty file is a new store */
	snprintf(path, sizeof(path), "%s/empty.db", dir);
	close(open(path, O_CREAT | O_WRONLY, 0600));
	CU_ASSERT_EQUAL(wfs_meta_open(path, &m), 0);
	wfs_meta_close(m);
}

static void test_schema_version_stored(void)
{
	sqlite3_stmt *st;
	sqlite3 *db;
	struct fx f;

	CU_ASSERT_FATAL(fx_open(&f) == 0);
	fx_close(&f);
	CU_ASSERT_FATAL(sqlite3_open(f.path, &db) == SQLITE_OK);
	CU_ASSERT_FATAL(sqlite3_prepare_v2(db, "SELECT v FROM kv WHERE k = "
					   "'schema_version'", -1, &st,
					   NULL) == SQLITE_OK);
	CU_ASSERT_EQUAL(sqlite3_step(st), SQLITE_ROW);
	CU_ASSERT_EQUAL(sqlite3_column_int(st, 0), WFS_META_SCHEMA_VERSION);
	sqlite3_finalize(st);
	CU_ASSERT_FATAL(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st,
					   NULL) == SQLITE_OK);
	CU_ASSERT_EQUAL(sqlite3_step(st), SQLITE_ROW);
	CU_ASSERT_STRING_EQUAL((const char *)sqlite3_column_text(st, 0),
			       "wal");
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* ---- transactions and replay ---- */

static void test_replay_skipped(void)
{
	struct wfs_meta_result r;
	struct wfs_meta_op op;
	uint64_t h1, h2, rows;
	struct fx f;

	CU_ASSERT_FATAL(fx_setup(&f) == 0);
	for (int i = 0; i < 9; i++) {
		char name[16];

		snprintf(name, sizeof(name), "f%d", i);
		op = op_mknod(ROOT, name);
		CU_ASSERT_EQUAL(wfs_meta_apply(f.m, (uint64_t)i + 2, &op, &r), 0);
		CU_ASSERT_EQUAL(r.status, 0);
	}
	fx_close(&f);
	h1 = dump_hash(f.path, &rows);
	CU_ASSERT_FATAL(wfs_meta_open(f.path, &f.m) == 0);
	/* the log replays entries the store already has */
	op = op_mknod(ROOT, "f4");
	CU_ASSERT_EQUAL(wfs_meta_apply(f.m, 6, &op, &r), 0);
	CU_ASSERT_EQUAL(r.status, -EALREADY);
	op = op_mknod(ROOT, "new");
	CU_ASSERT_EQUAL(wfs_meta_apply(f.m, 10, &op, &r), 0);
	CU_ASSERT_EQUAL(r.status, -EALREADY);
	CU_ASSERT_EQUAL(wfs_meta_apply(f.m, 0, &op, &r), 0);
	CU_ASSERT_EQUAL(r.status, -EALREADY);
	CU_ASSERT_EQUAL(fx_ino(&f, ROOT, "new"), 0);
	fx_close(&f);
	h2 = dump_hash(f.path, &rows);
	CU_ASSERT_EQUAL(h1, h2);
	CU_ASSERT_FATAL(wfs_meta_open(f.path, &f.m) == 0);
	/* gaps are fine (log entries that are not ops) */
	CU_ASSERT_EQUAL(wfs_meta_apply(f.m, 15, &op, &r), 0);
	CU_ASSERT_EQUAL(r.status, 0);
	CU_ASSERT_EQUAL(r.attr.generation, 15);
	CU_ASSERT_EQUAL(wfs_meta_applied_index(f.m), 15);
	/* an op type apply does not know changes nothing */
	op.type = WFS_META_OP_TYPE_COUNT;
	CU_ASSERT_EQUAL(wfs_meta_apply(f.m, 16, &op, &r), -EINVAL);
	op.type = 0;
	CU_ASSERT_EQUAL(wfs_meta_apply(f.m, 16, &op, &r), -EINVAL);
	CU_ASSERT_EQUAL(wfs_meta_applied_index(f.m), 15);
	fx_close(&f);
}

static void test_batches(void)
{
	struct wfs_meta_result r;
	struct wfs_meta_op op;
	struct fx f;
	uint64_t idx, inodes, bytes;
	char dest[320];

	CU_ASSERT_FATAL(fx_setup(&f) == 0);
	CU_ASSERT_EQUAL(wfs_meta_batch_end(f.m), -EINVAL);
	CU_ASSERT_EQUAL(wfs_meta_batch_begin(f.m), 0);
	CU_ASSERT_EQUAL(wfs_meta_batch_begin(f.m), -EBUSY);
	snprintf(dest, sizeof(dest), "%s/copy.db", f.dir);
	CU_ASSERT_EQUAL(wfs_meta_backup(f.m, dest, &idx), -EBUSY);
	CU_ASSERT_EQUAL(wfs_meta_checkpoint(f.m), -EBUSY);
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), -EBUSY);
	CU_ASSERT_EQUAL(fx_apply(&f, op_mknod(ROOT, "a"), NULL), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_mknod(ROOT, "a"), NULL), -EEXIST);
	CU_ASSERT_EQUAL(fx_apply(&f, op_mknod(ROOT, "b"), NULL), 0);
	/* inside the batch, replays are caught too */
	op = op_mknod(ROOT, "c");
	CU_ASSERT_EQUAL(wfs_meta_apply(f.m, f.index, &op, &r), 0);
	CU_ASSERT_EQUAL(r.status, -EALREADY);
	/* reads see the batch */
	CU_ASSERT_EQUAL(fx_ino(&f, ROOT, "b"), 3);
	CU_ASSERT_EQUAL(wfs_meta_applied_index(f.m), 4);
	CU_ASSERT_EQUAL(wfs_meta_batch_end(f.m), 0);
	CU_ASSERT_EQUAL(wfs_meta_applied_index(f.m), 4);

	/* a batch never ended is gone after close: the log replays it */
	CU_ASSERT_EQUAL(wfs_meta_batch_begin(f.m), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_mknod(ROOT, "lost"), NULL), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_mkdir(ROOT, "lost2"), NULL), 0);
	fx_close(&f);
	CU_ASSERT_FATAL(wfs_meta_open(f.path, &f.m) == 0);
	CU_ASSERT_EQUAL(wfs_meta_applied_index(f.m), 4);
	CU_ASSERT_EQUAL(fx_ino(&f, ROOT, "lost"), 0);
	wfs_meta_usage(f.m, &inodes, &bytes);
	CU_ASSERT_EQUAL(inodes, 3);
	f.index = 4;
	CU_ASSERT_EQUAL(fx_mknod(&f, ROOT, "lost"), 4);
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
	CU_ASSERT_EQUAL(wfs_meta_checkpoint(f.m), 0);
	fx_close(&f);
}

/* ---- listings ---- */

struct walk {
	uint64_t cookie;	/* last cookie seen */
	uint8_t seen[1024];	/* by entry number */
	bool dup, order, bad;
};

static int walk_ent(const struct wfs_meta_dirent *ent, void *arg)
{
	struct walk *w = arg;
	char name[32];
	int n;

	if (ent->cookie <= w->cookie)
		w->order = true;
	w->cookie = ent->cookie;
	if (ent->cookie < 3 || ent->name.len >= sizeof(name) ||
	    !S_ISREG(ent->mode)) {
		w->bad = true;
		return 0;
	}
	memcpy(name, ent->name.data, ent->name.len);
	name[ent->name.len] = '\0';
	n = atoi(name + 1);
	if (n < 0 || n >= 1024) {
		w->bad = true;
		return 0;
	}
	if (w->seen[n])
		w->dup = true;
	w->seen[n]++;
	return 0;
}

static void test_readdir_pagination(void)
{
	enum { START = 300, PAGE = 7 };
	uint8_t deleted[1024] = { 0 };
	uint64_t rng = wfs_test_seed() | 1, dir;
	struct walk w;
	int next = START, n;
	char name[32];
	struct fx f;

	CU_ASSERT_FATAL(fx_setup(&f) == 0);
	CU_ASSERT_FATAL(wfs_meta_batch_begin(f.m) == 0);
	dir = fx_mkdir(&f, ROOT, "dir");
	for (int i = 0; i < START; i++) {
		snprintf(name, sizeof(name), "e%d", i);
		fx_mknod(&f, dir, name);
	}
	CU_ASSERT_FATAL(wfs_meta_batch_end(f.m) == 0);

	memset(&w, 0, sizeof(w));
	for (;;) {
		int victim;

		n = wfs_meta_readdir(f.m, dir, w.cookie, PAGE, walk_ent, &w);
		CU_ASSERT(n >= 0 && n <= PAGE);
		if (n != PAGE)
			break;
		/* between pages: one entry goes, anywhere; one comes */
		victim = (int)(wfs_test_rand(&rng) % (uint64_t)next);
		snprintf(name, sizeof(name), "e%d", victim);
		if (!deleted[victim] &&
		    fx_apply(&f, op_remove(WFS_META_OP_UNLINK, dir, name),
			     NULL) == 0)
			deleted[victim] = 1;
		if (next < 1024) {
			snprintf(name, sizeof(name), "e%d", next);
			fx_mknod(&f, dir, name);
			next++;
		}
	}

	CU_ASSERT_FALSE(w.dup);
	CU_ASSERT_FALSE(w.order);
	CU_ASSERT_FALSE(w.bad);
	for (int i = 0; i < next; i++) {
		/* what stayed is seen exactly once, what came late too (its
		 * cookie is past the reader); what went may or may not be */
		if (!deleted[i])
			CU_ASSERT_EQUAL(w.seen[i], 1);
		CU_ASSERT(w.seen[i] <= 1);
	}
	CU_ASSERT_EQUAL(wfs_meta_readdir(f.m, 999, 0, 10, walk_ent, &w),
			-ENOENT);
	CU_ASSERT_EQUAL(wfs_meta_readdir(f.m, fx_mknod(&f, ROOT, "plain"), 0,
					 10, walk_ent, &w), -ENOTDIR);
	CU_ASSERT_EQUAL(wfs_meta_readdir(f.m, dir, 0, 0, walk_ent, &w), 0);
	CU_ASSERT_EQUAL(wfs_meta_readdir(f.m, dir, UINT64_MAX, 10, walk_ent,
					 &w), 0);
	fx_close(&f);
}

static int stop_after_two(const struct wfs_meta_dirent *ent, void *arg)
{
	int *n = arg;

	(void)ent;
	return ++*n == 2 ? 1 : 0;
}

static int fail_cb(const struct wfs_meta_dirent *ent, void *arg)
{
	(void)ent;
	(void)arg;
	return -EINTR;
}

struct inode_walk {
	uint64_t last;
	int n;
	bool order;
};

static int walk_inode(const struct wfs_meta_attr *a, void *arg)
{
	struct inode_walk *w = arg;

	if (a->ino <= w->last)
		w->order = true;
	w->last = a->ino;
	w->n++;
	return 0;
}

static void test_listings(void)
{
	struct inode_walk w = { 0, 0, false };
	char name[16];
	struct fx f;
	int n = 0, rc;

	CU_ASSERT_FATAL(fx_setup(&f) == 0);
	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "x%d", i);
		fx_mknod(&f, ROOT, name);
	}
	CU_ASSERT_EQUAL(wfs_meta_readdir(f.m, ROOT, 0, 10, stop_after_two, &n),
			2);
	CU_ASSERT_EQUAL(wfs_meta_readdir(f.m, ROOT, 0, 10, fail_cb, NULL),
			-EINTR);
	do {
		rc = wfs_meta_inodes(f.m, w.last, 7, walk_inode, &w);
		CU_ASSERT(rc >= 0);
	} while (rc == 7);
	CU_ASSERT_EQUAL(w.n, 51);
	CU_ASSERT_FALSE(w.order);
	CU_ASSERT_EQUAL(wfs_meta_inodes(f.m, UINT64_MAX, 7, walk_inode, &w), 0);
	fx_close(&f);
}

struct lease_walk {
	uint64_t last;		/* last directory seen */
	uint64_t sessions;	/* sum of the sessions seen */
	int n, stop_at;		/* stop_at: return 1 at the n-th (0: never) */
	bool order;
};

static int walk_lease(void *arg, uint64_t dir, uint64_t session)
{
	struct lease_walk *w = arg;

	if (dir <= w->last)
		w->order = true;
	w->last = dir;
	w->sessions += session;
	w->n++;
	return w->n == w->stop_at ? 1 : 0;
}

static int fail_lease(void *arg, uint64_t dir, uint64_t session)
{
	(void)arg;
	(void)dir;
	(void)session;
	return -EINTR;
}

/* wfs_meta_leases pages through the leases in directory order; a
 * callback stops it or fails it; the holder of each is its session. */
static void test_lease_listing(void)
{
	enum { NDIRS = 20, PAGE = 6 };
	struct lease_walk w = { 0 };
	uint64_t dirs[NDIRS], session, want = 0;
	char name[16];
	struct fx f;
	int rc, pages = 0;

	CU_ASSERT_FATAL(fx_setup(&f) == 0);
	CU_ASSERT_EQUAL(wfs_meta_leases(f.m, 0, 10, walk_lease, &w), 0);
	for (int i = 0; i < NDIRS; i++) {
		snprintf(name, sizeof(name), "d%d", i);
		dirs[i] = fx_mkdir(&f, ROOT, name);
		/* every other directory leased, each to its own session */
		if (i % 2)
			continue;
		CU_ASSERT_EQUAL(fx_apply(&f, op_lease(dirs[i], 100 + i, 1),
					 NULL), 0);
		want += 100 + (uint64_t)i;
	}
	do {
		rc = wfs_meta_leases(f.m, w.last, PAGE, walk_lease, &w);
		CU_ASSERT(rc >= 0 && rc <= PAGE);
		pages++;
	} while (rc == PAGE);
	CU_ASSERT_EQUAL(w.n, NDIRS / 2);
	CU_ASSERT_EQUAL(w.sessions, want);
	CU_ASSERT_FALSE(w.order);
	CU_ASSERT_EQUAL(pages, 2);
	for (int i = 0; i < NDIRS; i++) {
		CU_ASSERT_EQUAL(wfs_meta_lease_get(f.m, dirs[i], &session), 0);
		CU_ASSERT_EQUAL(session, i % 2 ? 0 : 100 + (uint64_t)i);
	}
	/* a session above INT64_MAX comes back as it went in */
	CU_ASSERT_EQUAL(fx_apply(&f, op_lease(dirs[1], UINT64_MAX - 1, 1),
				 NULL), 0);
	CU_ASSERT_EQUAL(wfs_meta_lease_get(f.m, dirs[1], &session), 0);
	CU_ASSERT_EQUAL(session, UINT64_MAX - 1);
	/* from the middle; stopped by the callback; failed by it */
	memset(&w, 0, sizeof(w));
	CU_ASSERT_EQUAL(wfs_meta_leases(f.m, dirs[9], 100, walk_lease, &w), 5);
	CU_ASSERT_EQUAL(w.sessions, 110 + 112 + 114 + 116 + 118);
	memset(&w, 0, sizeof(w));
	w.stop_at = 2;
	CU_ASSERT_EQUAL(wfs_meta_leases(f.m, 0, 100, walk_lease, &w), 2);
	CU_ASSERT_EQUAL(wfs_meta_leases(f.m, 0, 100, fail_lease, NULL),
			-EINTR);
	CU_ASSERT_EQUAL(wfs_meta_leases(f.m, 0, 0, walk_lease, &w), 0);
	CU_ASSERT_EQUAL(wfs_meta_leases(f.m, UINT64_MAX, 10, walk_lease, &w),
			0);
	fx_close(&f);
}

/* Leases live in the store: they survive a close and reopen, and a
 * backup (a snapshot) carries them. */
static void test_leases_persist(void)
{
	struct lease_walk w = { 0 };
	struct wfs_meta *copy;
	uint64_t a, b, session, idx;
	char dest[320];
	struct fx f;

	CU_ASSERT_FATAL(fx_setup(&f) == 0);
	a = fx_mkdir(&f, ROOT, "a");
	b = fx_mkdir(&f, ROOT, "b");
	CU_ASSERT_EQUAL(fx_apply(&f, op_lease(a, 7, 1), NULL), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_lease(b, 8, 1), NULL), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_lease(b, 8, 0), NULL), 0);
	fx_close(&f);
	CU_ASSERT_FATAL(wfs_meta_open(f.path, &f.m) == 0);
	f.index = wfs_meta_applied_index(f.m);
	CU_ASSERT_EQUAL(wfs_meta_lease_get(f.m, a, &session), 0);
	CU_ASSERT_EQUAL(session, 7);
	CU_ASSERT_EQUAL(wfs_meta_lease_get(f.m, b, &session), 0);
	CU_ASSERT_EQUAL(session, 0);
	/* still enforced after the reopen */
	CU_ASSERT_EQUAL(fx_apply(&f, op_mknod(a, "x"), NULL), -EAGAIN);
	snprintf(dest, sizeof(dest), "%s/snapshot.db", f.dir);
	CU_ASSERT_EQUAL(wfs_meta_backup(f.m, dest, &idx), 0);
	/* the store moves on; the copy does not */
	CU_ASSERT_EQUAL(fx_apply(&f, op_lease(a, 7, 0), NULL), 0);
	fx_close(&f);
	CU_ASSERT_EQUAL_FATAL(wfs_meta_open(dest, &copy), 0);
	CU_ASSERT_EQUAL(wfs_meta_lease_get(copy, a, &session), 0);
	CU_ASSERT_EQUAL(session, 7);
	CU_ASSERT_EQUAL(wfs_meta_leases(copy, 0, 10, walk_lease, &w), 1);
	CU_ASSERT_EQUAL(w.last, a);
	CU_ASSERT_EQUAL(wfs_meta_check(copy), 0);
	wfs_meta_close(copy);
}

/* Stripes 1..@n of @ino, each with @chunks chunks. */
static void commit_stripes(struct fx *f, uint64_t ino, int n, uint32_t chunks)
{
	struct wfs_meta_chunk_loc locs[6];
	struct wfs_meta_op op = op_new(WFS_META_OP_RESERVE_IDS);
	struct wfs_meta_result r;

	op.u.reserve.count = (uint32_t)n;
	CU_ASSERT_EQUAL(fx_apply(f, op, &r), 0);
	for (uint32_t i = 0; i < 6; i++)
		locs[i] = (struct wfs_meta_chunk_loc){ i, 0, B("node"),
						       B("disk") };
	for (int s = 0; s < n; s++) {
		op = op_new(WFS_META_OP_STRIPE_COMMIT);
		op.u.stripe.ino = ino;
		op.u.stripe.sidx = (uint64_t)s;
		op.u.stripe.stripe_id = r.value + (uint64_t)s;
		op.u.stripe.kind = WFS_META_STRIPE_EC;
		op.u.stripe.k = 4;
		op.u.stripe.m = 2;
		op.u.stripe.chunk_size = 4096;
		op.u.stripe.length = 100;
		op.u.stripe.nchunks = chunks;
		op.u.stripe.chunks = locs;
		CU_ASSERT_EQUAL(fx_apply(f, op, NULL), 0);
	}
}

struct gwalk {
	uint64_t last;
	int records, chunks;
	bool order;
};

static int walk_garbage(const struct wfs_meta_stripe *s, void *arg)
{
	struct gwalk *w = arg;

	if (s->stripe_id < w->last)
		w->order = true;
	w->last = s->stripe_id;
	w->records++;
	w->chunks += (int)s->nchunks;
	return 0;
}

static void test_garbage_pagination(void)
{
	struct gwalk w = { 0, 0, 0, false };
	struct wfs_meta_op op;
	uint64_t file;
	struct fx f;
	int rc, pages = 0;

	CU_ASSERT_FATAL(fx_setup(&f) == 0);
	file = fx_mknod(&f, ROOT, "file");
	commit_stripes(&f, file, 20, 6);
	op = op_new(WFS_META_OP_SETATTR);
	op.u.setattr.ino = file;
	op.u.setattr.flags = WFS_META_SET_SIZE;
	CU_ASSERT_EQUAL(fx_apply(&f, op, NULL), 0);
	/* pages of 3 stripes never cut a stripe's chunks apart */
	do {
		rc = wfs_meta_garbage(f.m, w.last, 3, walk_garbage, &w);
		CU_ASSERT(rc >= 0 && rc <= 3);
		pages++;
	} while (rc == 3);
	CU_ASSERT_EQUAL(w.records, 20);
	CU_ASSERT_EQUAL(w.chunks, 120);
	CU_ASSERT_FALSE(w.order);
	CU_ASSERT_EQUAL(pages, 7);
	fx_close(&f);
}

/* ---- determinism ---- */

static const char *const det_names[] = {
	"a", "b", "c", "d", "e", "f", "g", "h", "dir", "x", "long-name-01",
	"\xc3\xa9t\xc3\xa9",
};
#define NDET (sizeof(det_names) / sizeof(det_names[0]))

static struct wfs_meta_chunk_loc det_locs[6];
static struct wfs_meta_gc_entry det_gc[4];

/* What random_op remembers between calls: its generator, and the lease
 * it last asked for, which it gives back next.  (A lease given back by a
 * session picked at random would stay for thousands of ops, and the
 * root's refuses most of them.) */
struct det_world {
	uint64_t rng;
	uint64_t lease_dir, lease_session;	/* lease_dir 0: none */
};

/* The DIR_LEASE of random_op: give back the lease asked for last, or ask
 * for one of @dir, or of the root half the time (the one directory every
 * world has), by a session 0 to 3 (0 is refused).  Only one at a time: a
 * lease the world does not remember would never go. */
static struct wfs_meta_op random_lease(struct det_world *w, uint64_t dir,
				       uint64_t x)
{
	struct wfs_meta_op op;

	if (w->lease_dir) {
		op = op_lease(w->lease_dir, w->lease_session, 0);
		w->lease_dir = 0;
		return op;
	}
	w->lease_dir = (x >> 8) % 2 ? WFS_META_ROOT_INO : dir;
	w->lease_session = (x >> 4) % 4;
	return op_lease(w->lease_dir, w->lease_session, 1);
}

/* A random op, valid or not, from a small world of names and numbers so
 * that many of them hit each other. */
static struct wfs_meta_op random_op(struct det_world *w, int64_t t)
{
	uint64_t *rng = &w->rng;

	uint32_t pick = (uint32_t)(wfs_test_rand(rng) % 23);
	uint64_t ino = 1 + wfs_test_rand(rng) % 40;
	uint64_t dir = 1 + wfs_test_rand(rng) % 12;
	const char *name = det_names[wfs_test_rand(rng) % NDET];
	const char *name2 = det_names[wfs_test_rand(rng) % NDET];
	uint64_t x = wfs_test_rand(rng);
	struct wfs_meta_op op;

	switch (pick) {
	case 0: case 1: case 2:
		op = op_mknod(dir, name);
		/* now and then at a number of the small world, reserved or
		 * not, used or not (numbers a RESERVE_IDS of inodes made
		 * the creates skip come back this way) */
		if ((x >> 50) % 8 == 0)
			op.u.create.ino = ino;
		break;
	case 3: case 4:
		op = op_mkdir(dir, name);
		break;
	case 5:
		op = op_create(WFS_META_OP_SYMLINK, dir, name, 0);
		op.u.create.target = B(name2);
		break;
	case 6:
		op = op_new(WFS_META_OP_LINK);
		op.u.link.ino = ino;
		op.u.link.parent = dir;
		op.u.link.name = B(name);
		break;
	case 7:
		op = op_remove(WFS_META_OP_UNLINK, dir, name);
		break;
	case 8:
		op = op_remove(WFS_META_OP_RMDIR, dir, name);
		break;
	case 9: case 10:
		op = op_rename(dir, name, 1 + x % 12, name2, (x >> 8) % 4);
		break;
	case 11:
		op = op_new(WFS_META_OP_SETATTR);
		op.u.setattr.ino = ino;
		op.u.setattr.flags = (uint32_t)(x % 128);
		op.u.setattr.mode = (uint32_t)x;
		op.u.setattr.uid = (uint32_t)(x >> 3);
		op.u.setattr.size = (x >> 16) % (64 << 20);
		op.u.setattr.mtime_ns = (int64_t)(x >> 2);
		break;
	case 12:
		op = op_new(WFS_META_OP_SETXATTR);
		op.u.xattr.ino = ino;
		op.u.xattr.name = B(name);
		op.u.xattr.value = B(name2);
		op.u.xattr.flags = (uint32_t)(x % 3);
		break;
	case 13:
		op = op_new(WFS_META_OP_REMOVEXATTR);
		op.u.xattr.ino = ino;
		op.u.xattr.name = B(name);
		break;
	case 14:
		op = op_new(WFS_META_OP_PURGE);
		op.u.purge.ino = ino;
		break;
	case 15:
		op = op_new(WFS_META_OP_RESERVE_IDS);
		op.u.reserve.count = (uint32_t)(x % 5);
		/* stripe ids mostly, now and then a kind that is no kind,
		 * and inode numbers in the last third of the run: each
		 * range takes numbers the small world's creates and ino
		 * ops would have used (only MKNOD at a chosen number, now
		 * and then, fills them), and taken early it keeps the
		 * world from growing */
		op.u.reserve.kind = (x >> 5) % 8 < 6 ? 0 : (x >> 5) % 8 - 5;
		if (op.u.reserve.kind == 1 && t - T_TIME < 2000)
			op.u.reserve.kind = 0;
		break;
	case 16: case 17:
		for (uint32_t i = 0; i < 6; i++)
			det_locs[i] = (struct wfs_meta_chunk_loc){
				i, 0, B(det_names[(x >> i) % NDET]),
				B(det_names[(x >> (i + 6)) % NDET]) };
		op = op_new(WFS_META_OP_STRIPE_COMMIT);
		op.u.stripe.ino = ino;
		op.u.stripe.sidx = x % 6;
		op.u.stripe.stripe_id = 1 + (x >> 4) % 60;
		op.u.stripe.expected_version = (x >> 12) % 3;
		op.u.stripe.kind = WFS_META_STRIPE_EC;
		op.u.stripe.k = 4;
		op.u.stripe.m = 2;
		op.u.stripe.chunk_size = 1 << 20;
		op.u.stripe.length = 1 + (uint32_t)((x >> 20) % (4 << 20));
		op.u.stripe.file_size = (x >> 24) % (30 << 20);
		op.u.stripe.nchunks = 6;
		op.u.stripe.chunks = det_locs;
		break;
	case 18:
		op = op_new(WFS_META_OP_CHUNK_SET);
		op.u.chunk.stripe_id = 1 + x % 60;
		op.u.chunk.loc.index = (uint32_t)((x >> 8) % 6);
		op.u.chunk.loc.node = B(name);
		op.u.chunk.loc.disk = B(name2);
		break;
	case 19:
		for (int i = 0; i < 4; i++)
			det_gc[i] = (struct wfs_meta_gc_entry){
				1 + (x >> (8 * i)) % 60, (uint32_t)i,
				B(det_names[(x >> (i + 3)) % NDET]),
				B(det_names[(x >> (i + 9)) % NDET]),
				i == 3 };	/* an old entry: any place */
		op = op_new(WFS_META_OP_GC_DONE);
		op.u.gc.nentries = 4;
		op.u.gc.entries = det_gc;
		break;
	case 20:
		op = op_new(WFS_META_OP_POLICY_SET);
		op.u.policy.id = (uint32_t)(x % 4);
		op.u.policy.name = B(name);
		op.u.policy.k = 1 + (uint32_t)((x >> 4) % 16);
		op.u.policy.m = 1 + (uint32_t)((x >> 8) % 4);
		op.u.policy.chunk_size = 4096u << ((x >> 12) % 6);
		break;
	case 22:
		op = random_lease(w, dir, x);
		break;
	default:
		op = op_new(WFS_META_OP_DIR_POLICY);
		op.u.dir_policy.ino = dir;
		op.u.dir_policy.policy_id = (uint32_t)(x % 4);
		break;
	}
	op.time_ns = t;
	op.uid = (uint32_t)(x % 3);
	op.session = (x >> 40) % 4;	/* those that carry one: 0 or 1..3 */
	return op;
}

static void test_determinism(void)
{
	enum { NOPS = 3000 };
	struct det_world w = { wfs_test_seed() | 1, 0, 0 };
	uint64_t batch_rng = w.rng ^ 0x5555;
	uint64_t h1, h2, rows1, rows2, ok = 0, refused = 0;
	struct fx a, b;
	int left = 0;

	CU_ASSERT_FATAL(fx_setup(&a) == 0);
	CU_ASSERT_FATAL(fx_setup(&b) == 0);
	/* the same ops: on a in batches of random size, on b one by one */
	for (uint64_t i = 0; i < NOPS; i++) {
		struct wfs_meta_op op = random_op(&w, T_TIME + (int64_t)i);
		struct wfs_meta_result ra, rb;

		if (left == 0) {
			if (i)
				CU_ASSERT_EQUAL(wfs_meta_batch_end(a.m), 0);
			CU_ASSERT_EQUAL(wfs_meta_batch_begin(a.m), 0);
			left = 1 + (int)(wfs_test_rand(&batch_rng) % 64);
		}
		left--;
		CU_ASSERT_EQUAL(wfs_meta_apply(a.m, i + 2, &op, &ra), 0);
		CU_ASSERT_EQUAL(wfs_meta_apply(b.m, i + 2, &op, &rb), 0);
		CU_ASSERT_EQUAL(ra.status, rb.status);
		CU_ASSERT_EQUAL(ra.value, rb.value);
		CU_ASSERT(attr_eq(&ra.attr, &rb.attr));
		CU_ASSERT_EQUAL(ra.lease_dir, rb.lease_dir);
		CU_ASSERT_EQUAL(ra.lease_session, rb.lease_session);
		ok += ra.status == 0;
		refused += ra.lease_session != 0;
	}
	CU_ASSERT_EQUAL(wfs_meta_batch_end(a.m), 0);
	/* a mix that did things, not only failed, and met leases */
	CU_ASSERT(ok > NOPS / 10);
	CU_ASSERT(refused > 0);
	CU_ASSERT_EQUAL(wfs_meta_check(a.m), 0);
	CU_ASSERT_EQUAL(wfs_meta_check(b.m), 0);
	fx_close(&a);
	fx_close(&b);
	h1 = dump_hash(a.path, &rows1);
	h2 = dump_hash(b.path, &rows2);
	CU_ASSERT_EQUAL(rows1, rows2);
	CU_ASSERT_EQUAL(h1, h2);
	CU_ASSERT(rows1 > 100);
}

/* ---- query plans ---- */

/* 1 if the plan of @sql walks the whole chunks table or an index of it
 * other than the partial chunks_not_ok. */
static int scans_chunks(sqlite3 *db, const char *sql)
{
	char q[1024];
	sqlite3_stmt *st;
	int bad = 0;

	snprintf(q, sizeof(q), "EXPLAIN QUERY PLAN %s", sql);
	CU_ASSERT_FATAL(sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *detail = (const char *)sqlite3_column_text(st, 3);

		if (strncmp(detail, "SCAN", 4) == 0 &&
		    strstr(detail, "chunks") &&
		    !strstr(detail, "chunks_not_ok")) {
			printf("\nplan of \"%s\": %s\n", sql, detail);
			bad = 1;
		}
	}
	sqlite3_finalize(st);
	return bad;
}

static void test_query_plans(void)
{
	sqlite3 *db;
	struct fx f;
	int bad = 0;

	CU_ASSERT_FATAL(fx_setup(&f) == 0);
	fx_close(&f);	/* the store holds its file's lock while open */
	CU_ASSERT_FATAL(sqlite3_open(f.path, &db) == SQLITE_OK);
	for (int i = 0; i < ST_COUNT; i++) {
		const struct meta_stmt_def *d = &wfs_meta_stmt_defs[i];
		char sql[1024];
		sqlite3_stmt *st;

		CU_ASSERT_PTR_NOT_NULL_FATAL(d->sql);
		/* Statements allowed to scan the per-cluster tables must
		 * still reach chunks only through an index. */
		if (d->scan_ok) {
			bad += scans_chunks(db, d->sql);
			continue;
		}
		snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s", d->sql);
		CU_ASSERT_FATAL(sqlite3_prepare_v2(db, sql, -1, &st, NULL) ==
				SQLITE_OK);
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *detail =
				(const char *)sqlite3_column_text(st, 3);

			/* SCAN CONSTANT ROW: a SELECT without a FROM */
			if ((strncmp(detail, "SCAN", 4) == 0 &&
			     strcmp(detail, "SCAN CONSTANT ROW") != 0) ||
			    strstr(detail, "TEMP B-TREE")) {
				printf("\nplan of \"%s\": %s\n", d->sql,
				       detail);
				bad++;
			}
		}
		sqlite3_finalize(st);
	}
	CU_ASSERT_EQUAL(bad, 0);
	sqlite3_close(db);
	fx_close(&f);
}

/* ---- backup ---- */

static void test_backup(void)
{
	struct wfs_meta *copy;
	struct det_world w = { wfs_test_seed() | 1, 0, 0 };
	uint64_t idx = 0, h1, h2, r1, r2;
	char dest[320];
	struct fx f;
	int status;

	CU_ASSERT_FATAL(fx_setup(&f) == 0);
	for (int i = 0; i < 200; i++) {
		struct wfs_meta_op op = random_op(&w, T_TIME + i);

		fx_apply(&f, op, NULL);
	}
	snprintf(dest, sizeof(dest), "%s/snapshot.db", f.dir);
	CU_ASSERT_EQUAL(wfs_meta_backup(f.m, dest, &idx), 0);
	CU_ASSERT_EQUAL(idx, f.index);
	/* the store moves on; the copy does not */
	status = fx_apply(&f, op_mknod(ROOT, "after-backup"), NULL);
	CU_ASSERT_EQUAL(wfs_meta_open(dest, &copy), 0);
	CU_ASSERT_EQUAL(wfs_meta_applied_index(copy), idx);
	CU_ASSERT_EQUAL(wfs_meta_check(copy), 0);
	wfs_meta_close(copy);
	fx_close(&f);
	/* the copy is the store as it was: apply the same entry to it */
	CU_ASSERT_EQUAL(wfs_meta_open(dest, &copy), 0);
	{
		struct wfs_meta_op op = op_mknod(ROOT, "after-backup");
		struct wfs_meta_result r;

		CU_ASSERT_EQUAL(wfs_meta_apply(copy, f.index, &op, &r), 0);
		/* 0, or -EAGAIN when the random ops left the root leased */
		CU_ASSERT_EQUAL(r.status, status);
	}
	wfs_meta_close(copy);
	h1 = dump_hash(f.path, &r1);
	h2 = dump_hash(dest, &r2);
	CU_ASSERT_EQUAL(r1, r2);
	CU_ASSERT_EQUAL(h1, h2);
}

/* ---- checks and failures ---- */

static void test_check_finds_damage(void)
{
	struct fx f;

	CU_ASSERT_FATAL(fx_setup(&f) == 0);
	fx_mknod(&f, ROOT, "a");
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
	fx_close(&f);
	exec_sql(f.path, "UPDATE kv SET v = 7 WHERE k = 'inodes'");
	CU_ASSERT_FATAL(wfs_meta_open(f.path, &f.m) == 0);
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), -EBADMSG);
	fx_close(&f);
	exec_sql(f.path, "PRAGMA foreign_keys = OFF; UPDATE kv SET v = 2 "
			 "WHERE k = 'inodes'; INSERT INTO xattrs VALUES "
			 "(77, x'61', x'62')");
	CU_ASSERT_FATAL(wfs_meta_open(f.path, &f.m) == 0);
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), -EBADMSG);
	fx_close(&f);
}

static void test_alloc_failures(void)
{
	struct wfs_meta_attr a;
	struct wfs_meta *m = NULL;
	char buf[64];
	struct fx f;
	long n;
	int rc;

	CU_ASSERT_FATAL(fx_setup(&f) == 0);
	fx_close(&f);
	for (n = 0; n < 100; n++) {
		wfs_mem_fail_after(n);
		rc = wfs_meta_open(f.path, &m);
		wfs_mem_fail_after(-1);
		if (rc == 0)
			break;
		CU_ASSERT_EQUAL(rc, -ENOMEM);
	}
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT(n > 0);
	f.m = m;
	f.index = wfs_meta_applied_index(m);
	/* apply and the reads allocate nothing of ours */
	wfs_mem_fail_after(0);
	CU_ASSERT_EQUAL(wfs_meta_batch_begin(m), 0);
	rc = fx_apply(&f, op_mknod(ROOT, "a"), NULL);
	CU_ASSERT_EQUAL(wfs_meta_batch_end(m), 0);
	CU_ASSERT_EQUAL(fx_apply(&f, op_mkdir(ROOT, "d"), NULL), 0);
	CU_ASSERT_EQUAL(wfs_meta_lookup(m, ROOT, B("a"), &a), 0);
	CU_ASSERT_EQUAL(wfs_meta_listxattr(m, ROOT, buf, sizeof(buf)), 0);
	wfs_mem_fail_after(-1);
	CU_ASSERT_EQUAL(rc, 0);
	fx_close(&f);
}

/* ---- SQLite failing under the store ---- */

/* A VFS that passes everything to the default one, except that reads or
 * writes (and syncs) fail while armed: a full disk, a dying one. */
struct ffile {
	sqlite3_file base;
	sqlite3_file *real;	/* the default VFS's file, right after us */
};

static sqlite3_vfs *real_vfs;
static sqlite3_vfs fault_vfs;
static int fail_writes;		/* SQLite code xWrite/xSync return, or 0 */
static int fail_reads;		/* SQLite code xRead returns, or 0 */

#define REAL(f) (((struct ffile *)(f))->real)

static int f_close(sqlite3_file *f)
{
	return REAL(f)->pMethods->xClose(REAL(f));
}

static int f_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
	if (fail_reads)
		return fail_reads;
	return REAL(f)->pMethods->xRead(REAL(f), buf, n, off);
}

static int f_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
	if (fail_writes)
		return fail_writes;
	return REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
}

static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int f_sync(sqlite3_file *f, int flags)
{
	if (fail_writes)
		return SQLITE_IOERR_FSYNC;
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int f_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int f_lock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xLock(REAL(f), l);
}

static int f_unlock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), l);
}

static int f_reserved(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int f_control(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int f_sector(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int f_caps(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int f_shm_map(sqlite3_file *f, int pg, int sz, int ext,
		     void volatile **out)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, out);
}

static int f_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}

static void f_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int f_shm_unmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

/* No memory-mapped reads: they would go around f_read. */
static int f_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **out)
{
	(void)f;
	(void)off;
	(void)n;
	*out = NULL;
	return SQLITE_OK;
}

static int f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	(void)f;
	(void)off;
	(void)p;
	return SQLITE_OK;
}

static const sqlite3_io_methods fault_io = {
	3, f_close, f_read, f_write, f_truncate, f_sync, f_size, f_lock,
	f_unlock, f_reserved, f_control, f_sector, f_caps, f_shm_map,
	f_shm_lock, f_shm_barrier, f_shm_unmap, f_fetch, f_unfetch,
};

static int f_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file,
		  int flags, int *out_flags)
{
	struct ffile *f = (struct ffile *)file;
	int rc;

	(void)vfs;
	f->real = (sqlite3_file *)(f + 1);
	rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
	file->pMethods = rc == SQLITE_OK && f->real->pMethods ? &fault_io
							      : NULL;
	return rc;
}

static int f_delete(sqlite3_vfs *vfs, const char *name, int sync)
{
	(void)vfs;
	return real_vfs->xDelete(real_vfs, name, sync);
}

static int f_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	(void)vfs;
	return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int f_fullpath(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	(void)vfs;
	return real_vfs->xFullPathname(real_vfs, name, n, out);
}

/* Make the failing VFS the default, so wfs_meta_open uses it. */
static void fault_vfs_install(void)
{
	real_vfs = sqlite3_vfs_find(NULL);
	fault_vfs = *real_vfs;
	fault_vfs.zName = "wfs-fault";
	fault_vfs.szOsFile = (int)sizeof(struct ffile) + real_vfs->szOsFile;
	fault_vfs.xOpen = f_open;
	fault_vfs.xDelete = f_delete;
	fault_vfs.xAccess = f_access;
	fault_vfs.xFullPathname = f_fullpath;
	sqlite3_vfs_register(&fault_vfs, 1);
}

static void fault_vfs_remove(void)
{
	fail_reads = fail_writes = 0;
	sqlite3_vfs_register(real_vfs, 1);
	sqlite3_vfs_unregister(&fault_vfs);
}

static void test_store_failures(void)
{
	struct wfs_meta_result r;
	struct wfs_meta_op op;
	uint64_t before;
	struct fx f;
	int rc;

	fault_vfs_install();
	CU_ASSERT_FATAL(fx_setup(&f) == 0);
	fx_mknod(&f, ROOT, "a");
	before = f.index;

	/* the commit of a batch fails: all of it is gone, and the log's
	 * replay of it works once the disk has room */
	CU_ASSERT_EQUAL(wfs_meta_batch_begin(f.m), 0);
	fx_mknod(&f, ROOT, "b");
	fx_mkdir(&f, ROOT, "c");
	CU_ASSERT_FALSE(wfs_meta_went_back(f.m));
	fail_writes = SQLITE_FULL;
	CU_ASSERT_EQUAL(wfs_meta_batch_end(f.m), -ENOSPC);
	fail_writes = 0;
	CU_ASSERT_TRUE(wfs_meta_went_back(f.m));
	CU_ASSERT_EQUAL(wfs_meta_applied_index(f.m), before);
	CU_ASSERT_EQUAL(fx_ino(&f, ROOT, "b"), 0);
	CU_ASSERT_EQUAL(fx_attr(&f, ROOT).nlink, 2);
	f.index = before;
	CU_ASSERT_EQUAL(wfs_meta_batch_begin(f.m), 0);
	CU_ASSERT_EQUAL(fx_mknod(&f, ROOT, "b"), 3);
	CU_ASSERT_EQUAL(fx_mkdir(&f, ROOT, "c"), 4);
	CU_ASSERT_EQUAL(wfs_meta_batch_end(f.m), 0);

	/* a single apply whose commit fails is not applied */
	before = f.index;
	fail_writes = SQLITE_IOERR_WRITE;
	op = op_mknod(ROOT, "d");
	rc = wfs_meta_apply(f.m, before + 1, &op, &r);
	fail_writes = 0;
	CU_ASSERT(rc < 0);
	CU_ASSERT_EQUAL(wfs_meta_applied_index(f.m), before);
	CU_ASSERT_EQUAL(fx_ino(&f, ROOT, "d"), 0);
	CU_ASSERT_EQUAL(fx_mknod(&f, ROOT, "d"), 5);

	/* reads fail in the middle of a batch: the entry is not applied;
	 * if SQLite gave up the whole transaction, the batch says so */
	fx_close(&f);
	CU_ASSERT_FATAL(wfs_meta_open(f.path, &f.m) == 0);
	CU_ASSERT_FALSE(wfs_meta_went_back(f.m));
	before = f.index;
	CU_ASSERT_EQUAL(wfs_meta_batch_begin(f.m), 0);
	fail_reads = SQLITE_IOERR_READ;
	op = op_mknod(4, "e");
	rc = wfs_meta_apply(f.m, before + 1, &op, &r);
	CU_ASSERT_EQUAL(rc, -EIO);
	fail_reads = 0;
	/* retried: works if only the entry was undone, or fails again
	 * because SQLite rolled the whole batch back */
	rc = wfs_meta_apply(f.m, before + 1, &op, &r);
	CU_ASSERT(rc == 0 || rc == -EIO);
	CU_ASSERT_EQUAL(wfs_meta_batch_end(f.m), rc);
	CU_ASSERT_EQUAL(wfs_meta_went_back(f.m), rc != 0);
	CU_ASSERT_EQUAL(wfs_meta_applied_index(f.m), rc ? before : before + 1);
	CU_ASSERT_EQUAL(fx_ino(&f, 4, "e") != 0, rc == 0);
	if (rc < 0) {
		CU_ASSERT_EQUAL(wfs_meta_apply(f.m, before + 1, &op, &r), 0);
		CU_ASSERT_EQUAL(r.status, 0);
	}
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);

	/* the same outside a batch */
	fx_close(&f);
	CU_ASSERT_FATAL(wfs_meta_open(f.path, &f.m) == 0);
	fail_reads = SQLITE_IOERR_READ;
	op = op_mkdir(4, "f");
	CU_ASSERT_EQUAL(wfs_meta_apply(f.m, before + 2, &op, &r), -EIO);
	fail_reads = 0;
	CU_ASSERT_EQUAL(wfs_meta_applied_index(f.m), before + 1);
	CU_ASSERT_EQUAL(wfs_meta_apply(f.m, before + 2, &op, &r), 0);
	CU_ASSERT_EQUAL(r.status, 0);
	before += 1;
	fx_close(&f);

	/* and nothing of it is on disk but what was committed */
	CU_ASSERT_FATAL(wfs_meta_open(f.path, &f.m) == 0);
	CU_ASSERT_EQUAL(wfs_meta_applied_index(f.m), before + 1);
	CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
	fx_close(&f);
	fault_vfs_remove();
}

/* ---- kill -9 ---- */

/* The name entry @i creates, or NULL if entry @i is a create that fails
 * (every fifth one repeats the name before it). */
static const char *crash_name(uint64_t i, char *buf, size_t len)
{
	snprintf(buf, len, "f%llu", (unsigned long long)(i % 5 ? i : i - 1));
	return buf;
}

static bool crash_creates(uint64_t i)
{
	return i % 5 != 0;
}

/* The child: apply entries from where the store is, in batches, until
 * killed. */
static void crash_child(const char *path)
{
	struct wfs_meta *m;
	uint64_t i;
	char name[32];

	if (wfs_meta_open(path, &m) != 0)
		_exit(2);
	i = wfs_meta_applied_index(m) + 1;
	for (;;) {
		if (wfs_meta_batch_begin(m) != 0)
			_exit(3);
		for (int j = 0; j < 64; j++, i++) {
			struct wfs_meta_op op =
				op_mknod(ROOT, crash_name(i, name, sizeof(name)));
			struct wfs_meta_result r;

			if (wfs_meta_apply(m, i, &op, &r) != 0 ||
			    r.status != (crash_creates(i) ? 0 : -EEXIST))
				_exit(4);
		}
		if (wfs_meta_batch_end(m) != 0)
			_exit(5);
	}
}

static int count_ent(const struct wfs_meta_dirent *ent, void *arg)
{
	uint64_t *c = arg;

	c[0]++;
	c[1] = ent->cookie;
	return 0;
}

/* The store holds exactly the files entries 2..applied made. */
static void crash_verify(struct wfs_meta *m)
{
	uint64_t applied = wfs_meta_applied_index(m), expect = 0, c[2] = {0, 0};
	struct wfs_meta_attr a;
	char name[32];
	int n;

	for (uint64_t i = 2; i <= applied; i++) {
		if (!crash_creates(i))
			continue;
		expect++;
		crash_name(i, name, sizeof(name));
		CU_ASSERT_EQUAL(wfs_meta_lookup(m, ROOT, B(name), &a), 0);
		CU_ASSERT_EQUAL(a.generation, i);
	}
	crash_name(applied + 1, name, sizeof(name));
	if (crash_creates(applied + 1))
		CU_ASSERT_EQUAL(wfs_meta_lookup(m, ROOT, B(name), &a), -ENOENT);
	do {
		n = wfs_meta_readdir(m, ROOT, c[1], 1000, count_ent, c);
		CU_ASSERT(n >= 0);
	} while (n == 1000);
	CU_ASSERT_EQUAL(c[0], expect);
}

static void test_kill9(void)
{
	uint64_t rng = wfs_test_seed() | 1, first_applied = 0;
	struct fx f;

	CU_ASSERT_FATAL(fx_setup(&f) == 0);
	fx_close(&f);
	for (int round = 0; round < 6; round++) {
		struct timespec ts = { 0, 0 };
		int status;
		pid_t pid;

		fflush(NULL);
		pid = fork();
		CU_ASSERT_FATAL(pid >= 0);
		if (pid == 0)
			crash_child(f.path);
		ts.tv_nsec = (long)(20 + wfs_test_rand(&rng) % 180) * 1000000L;
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
		/* killed, not exited on its own (which means it failed) */
		CU_ASSERT(WIFSIGNALED(status));
		if (WIFEXITED(status))
			printf("\ncrash child exited %d\n", WEXITSTATUS(status));

		CU_ASSERT_FATAL(wfs_meta_open(f.path, &f.m) == 0);
		CU_ASSERT_EQUAL(wfs_meta_check(f.m), 0);
		crash_verify(f.m);
		if (round == 0)
			first_applied = wfs_meta_applied_index(f.m);
		fx_close(&f);
	}
	CU_ASSERT_FATAL(wfs_meta_open(f.path, &f.m) == 0);
	CU_ASSERT(wfs_meta_applied_index(f.m) > first_applied);
	fx_close(&f);
}

static CU_TestInfo meta_tests[] = {
	{ "open and reopen", test_open_reopen },
	{ "refuse a newer schema", test_refuse_newer_schema },
	{ "migration 4: draining leaves the state", test_migrate_draining },
	{ "migration 5: directory leases", test_migrate_leases },
	{ "refuse files not ours", test_refuse_foreign },
	{ "schema version and WAL", test_schema_version_stored },
	{ "replayed entries are skipped", test_replay_skipped },
	{ "batches", test_batches },
	{ "readdir pagination under change", test_readdir_pagination },
	{ "listings", test_listings },
	{ "garbage pagination", test_garbage_pagination },
	{ "lease listing", test_lease_listing },
	{ "leases survive reopen and backup", test_leases_persist },
	{ "determinism", test_determinism },
	{ "query plans use indexes", test_query_plans },
	{ "backup", test_backup },
	{ "check finds damage", test_check_finds_damage },
	{ "allocation failures", test_alloc_failures },
	{ "store failures", test_store_failures },
	{ "kill -9", test_kill9 },
	CU_TEST_INFO_NULL,
};

WFS_TEST_SUITE("metadata/meta", meta_tests, NULL, NULL)
