/* meta: opening the metadata store, its transactions, and the apply loop
 * that runs each op's handler.
 *
 * Apply in one paragraph: entries come in log order, each inside a SAVEPOINT
 * within the batch's transaction.  The handler for the op type (a table, one
 * small function per type, in apply_ns.c and apply_data.c) either succeeds
 * or returns the op's error, and then the savepoint is rolled back so a
 * failed op changes nothing; either way the entry counts as applied.  The
 * counters (next inode, next cookie, ...) and the applied index live in
 * memory during a batch and are written to the kv table just before COMMIT,
 * in the same transaction as the effects, so the file is always at exactly
 * some applied index.  A SQLite failure is not an op outcome (another voter
 * would not see it): it rolls back the entry and is returned to the caller.
 *
 * Why synchronous=NORMAL is right here: in WAL mode NORMAL skips the fsync
 * at each commit (the WAL is synced at checkpoints), so a power loss may
 * drop the last transactions but never corrupts the file or tears one.  The
 * durability point of a metadata write is the replicated log, which has
 * fsynced the entry before it is applied; and the applied index is stored
 * in the same transaction as the effects, so a store that lost its tail
 * transaction reopens at an earlier applied index and the log replays the
 * lost entries onto it.  An fsync per batch here would only repeat the
 * log's.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "log/log.h"
#include "mem/mem.h"
#include "metadata/meta_internal.h"

/* SQLite's page cache per store, in KiB (negative cache_size is KiB). */
#define META_CACHE_KIB 65536

/* How long a statement waits for a lock another process holds (the sqlite3
 * shell, a backup reader) before failing with -EBUSY. */
#define META_BUSY_MS 5000

/* One handler per op type; apply knows no other way to run an op. */
static const meta_apply_fn handlers[WFS_META_OP_TYPE_COUNT] = {
	[WFS_META_OP_FORMAT] = wfs_meta_apply_format,
	[WFS_META_OP_MKNOD] = wfs_meta_apply_create,
	[WFS_META_OP_MKDIR] = wfs_meta_apply_create,
	[WFS_META_OP_SYMLINK] = wfs_meta_apply_create,
	[WFS_META_OP_LINK] = wfs_meta_apply_link,
	[WFS_META_OP_UNLINK] = wfs_meta_apply_unlink,
	[WFS_META_OP_RMDIR] = wfs_meta_apply_rmdir,
	[WFS_META_OP_RENAME] = wfs_meta_apply_rename,
	[WFS_META_OP_SETATTR] = wfs_meta_apply_setattr,
	[WFS_META_OP_SETXATTR] = wfs_meta_apply_setxattr,
	[WFS_META_OP_REMOVEXATTR] = wfs_meta_apply_removexattr,
	[WFS_META_OP_PURGE] = wfs_meta_apply_purge,
	[WFS_META_OP_RESERVE_IDS] = wfs_meta_apply_reserve,
	[WFS_META_OP_STRIPE_COMMIT] = wfs_meta_apply_stripe,
	[WFS_META_OP_CHUNK_SET] = wfs_meta_apply_chunk,
	[WFS_META_OP_GC_DONE] = wfs_meta_apply_gc,
	[WFS_META_OP_POLICY_SET] = wfs_meta_apply_policy,
	[WFS_META_OP_DIR_POLICY] = wfs_meta_apply_dir_policy,
	[WFS_META_OP_NODE_SET] = wfs_meta_apply_node_set,
	[WFS_META_OP_NODE_REMOVE] = wfs_meta_apply_node_remove,
	[WFS_META_OP_DISK_SET] = wfs_meta_apply_disk_set,
	[WFS_META_OP_DISK_DRAIN] = wfs_meta_apply_disk_drain,
	[WFS_META_OP_SETTING_SET] = wfs_meta_apply_setting,
	[WFS_META_OP_DIR_LEASE] = wfs_meta_apply_dir_lease,
};

/* The kv rows behind struct meta_state. */
static const struct {
	const char *key;
	size_t off;
} state_keys[] = {
	{ "applied_index", offsetof(struct meta_state, applied) },
	{ "next_ino", offsetof(struct meta_state, next_ino) },
	{ "next_stripe", offsetof(struct meta_state, next_stripe) },
	{ "next_cookie", offsetof(struct meta_state, next_cookie) },
	{ "next_policy", offsetof(struct meta_state, next_policy) },
	{ "inodes", offsetof(struct meta_state, inodes) },
	{ "bytes", offsetof(struct meta_state, bytes) },
};

#define NSTATE_KEYS (sizeof(state_keys) / sizeof(state_keys[0]))

/* ---- SQLite access ---- */

int wfs_meta_sql_errno(sqlite3 *db, int rc)
{
	int sys;

	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_IOERR:
		return rc == SQLITE_IOERR_NOMEM ? -ENOMEM : -EIO;
	case SQLITE_CANTOPEN:
		/* The errno of the open(2) that failed says why (ENOENT for
		 * a missing folder, EACCES).  Only here: after an I/O error
		 * the saved errno may be an older call's, harmless one. */
		sys = db ? sqlite3_system_errno(db) : 0;
		return sys > 0 ? -sys : -EIO;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EBADMSG;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_TOOBIG:
		return -E2BIG;
	case SQLITE_CONSTRAINT:
		/* Apply checks every constraint before it writes; one that
		 * still fires is a broken invariant, reported as what the
		 * constraint guards against. */
		return -EEXIST;
	case SQLITE_MISMATCH:
	case SQLITE_RANGE:
	case SQLITE_MISUSE:
		return -EINVAL;
	case SQLITE_INTERRUPT:
		return -EINTR;
	case SQLITE_PROTOCOL:
		return -EPROTO;
	case SQLITE_SCHEMA:
		return -EAGAIN;
	default:
		return -EIO;
	}
}

/* The open batch's transaction is gone (SQLite rolled it back): it can no
 * longer commit, and the state must be reloaded.  Lock held. */
static void lose_batch(struct wfs_meta *m, int err)
{
	if (!m->batch_err)
		m->batch_err = err;
	m->stale = true;
	m->went_back = true;
}

sqlite3_stmt *wfs_meta_stmt(struct wfs_meta *m, enum meta_stmt_id id)
{
	sqlite3_reset(m->stmt[id]);
	return m->stmt[id];
}

int wfs_meta_step(struct wfs_meta *m, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	int err;

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	err = wfs_meta_sql_errno(m->db, rc);
	wfs_log_error("meta", "statement \"%.60s\" failed: %s",
		      sqlite3_sql(st), sqlite3_errmsg(m->db));
	sqlite3_reset(st);
	if (!m->store_err)
		m->store_err = err;
	/* SQLite may end the open transaction itself on such a failure, even
	 * of a read between a batch's entries: what readers see has gone
	 * back from that moment (the caller holds m->lock). */
	if (m->in_batch && sqlite3_get_autocommit(m->db))
		lose_batch(m, err);
	return err;
}

int wfs_meta_exec(struct wfs_meta *m, sqlite3_stmt *st)
{
	int rc;

	do
		rc = wfs_meta_step(m, st);
	while (rc == 1);
	sqlite3_reset(st);
	return rc;
}

void wfs_meta_bind_blob(sqlite3_stmt *st, int col, struct wfs_meta_bytes b)
{
	sqlite3_bind_blob64(st, col, b.len ? b.data : "", b.len,
			    SQLITE_STATIC);
}

void wfs_meta_bind_text(sqlite3_stmt *st, int col, struct wfs_meta_bytes b)
{
	sqlite3_bind_text64(st, col, b.len ? b.data : "", b.len,
			    SQLITE_STATIC, SQLITE_UTF8);
}

void wfs_meta_bind_u64(sqlite3_stmt *st, int col, uint64_t v)
{
	sqlite3_bind_int64(st, col, (sqlite3_int64)v);
}

struct wfs_meta_bytes wfs_meta_col_bytes(sqlite3_stmt *st, int col)
{
	struct wfs_meta_bytes b;

	b.data = sqlite3_column_blob(st, col);
	b.len = (size_t)sqlite3_column_bytes(st, col);
	if (!b.data)
		b = (struct wfs_meta_bytes){ "", 0 };
	return b;
}

static int run(struct wfs_meta *m, enum meta_stmt_id id)
{
	return wfs_meta_exec(m, wfs_meta_stmt(m, id));
}

/* ---- the counters in kv ---- */

static int state_load(struct wfs_meta *m)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_KV_ALL);
	struct meta_state s = { 0 };
	int rc;

	while ((rc = wfs_meta_step(m, st)) == 1) {
		const char *key = (const char *)sqlite3_column_text(st, 0);

		if (!key)
			continue;
		if (strcmp(key, "cluster_id") == 0)
			s.formatted = true;
		for (size_t i = 0; i < NSTATE_KEYS; i++) {
			if (strcmp(key, state_keys[i].key) == 0)
				*(uint64_t *)((char *)&s + state_keys[i].off) =
					(uint64_t)sqlite3_column_int64(st, 1);
		}
	}
	sqlite3_reset(st);
	if (rc < 0)
		return rc;
	m->st = s;
	m->stale = false;
	return 0;
}

static int state_store(struct wfs_meta *m)
{
	for (size_t i = 0; i < NSTATE_KEYS; i++) {
		sqlite3_stmt *st = wfs_meta_stmt(m, ST_KV_SET);
		uint64_t v = *(uint64_t *)((char *)&m->st + state_keys[i].off);
		int rc;

		sqlite3_bind_text(st, 1, state_keys[i].key, -1, SQLITE_STATIC);
		wfs_meta_bind_u64(st, 2, v);
		rc = wfs_meta_exec(m, st);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- open and close ---- */

static int pragma(sqlite3 *db, const char *sql)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : wfs_meta_sql_errno(db, rc);
}

/* WAL with synchronous=NORMAL (why: the comment at the top of this file),
 * foreign keys on, temporary b-trees (savepoint journals) in memory. */
static int configure(sqlite3 *db)
{
	char sql[64];
	int rc;

	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, META_BUSY_MS);
	/* One connection owns the file: holding its lock for good spares
	 * every transaction two fcntl calls, and set before the first WAL
	 * access it keeps the WAL index in memory instead of a shared
	 * mapping.  (The data folder's pid file keeps a second storaged out;
	 * anything else opening the store meanwhile gets -EBUSY.) */
	rc = pragma(db, "PRAGMA locking_mode = EXCLUSIVE");
	if (rc == 0)
		rc = wfs_meta_schema_check(db);
	if (rc == 0)
		rc = pragma(db, "PRAGMA journal_mode = WAL");
	if (rc == 0)
		rc = pragma(db, "PRAGMA synchronous = NORMAL");
	if (rc == 0)
		rc = pragma(db, "PRAGMA foreign_keys = ON");
	if (rc == 0)
		rc = pragma(db, "PRAGMA temp_store = MEMORY");
	/* Reads beyond the page cache come from the kernel's cache through a
	 * mapping instead of a read() per page: lookups in a store larger than
	 * the cache lose ~10% instead of ~30% (bench_meta, 1M files).  Mapped
	 * pages are clean file pages the kernel can drop at any time. */
	if (rc == 0)
		rc = pragma(db, "PRAGMA mmap_size = 1073741824");
	if (rc == 0) {
		snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%d",
			 META_CACHE_KIB);
		rc = pragma(db, sql);
	}
	return rc;
}

static int prepare_all(struct wfs_meta *m)
{
	for (int i = 0; i < ST_COUNT; i++) {
		int rc = sqlite3_prepare_v3(m->db, wfs_meta_stmt_defs[i].sql,
					    -1, SQLITE_PREPARE_PERSISTENT,
					    &m->stmt[i], NULL);

		if (rc != SQLITE_OK) {
			wfs_log_error("meta", "cannot prepare \"%.60s\": %s",
				      wfs_meta_stmt_defs[i].sql,
				      sqlite3_errmsg(m->db));
			return wfs_meta_sql_errno(m->db, rc);
		}
	}
	return 0;
}

static void close_db(struct wfs_meta *m)
{
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(m->stmt[i]);
	sqlite3_close(m->db);
}

int wfs_meta_open(const char *path, struct wfs_meta **out)
{
	struct wfs_meta *m;
	int rc;

	m = wfs_calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	rc = pthread_mutex_init(&m->lock, NULL);
	if (rc != 0) {
		rc = -rc;
		goto out_free;
	}
	rc = sqlite3_open_v2(path, &m->db, SQLITE_OPEN_READWRITE |
			     SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rc = m->db ? wfs_meta_sql_errno(m->db, rc) : -ENOMEM;
		goto out_close;
	}
	rc = configure(m->db);
	if (rc == 0)
		rc = wfs_meta_schema_migrate(m->db);
	if (rc == 0)
		rc = prepare_all(m);
	if (rc == 0)
		rc = state_load(m);
	if (rc < 0)
		goto out_close;
	*out = m;
	return 0;

out_close:
	wfs_log_error("meta", "cannot open store %s: %s", path, strerror(-rc));
	close_db(m);
	pthread_mutex_destroy(&m->lock);
out_free:
	wfs_free(m);
	return rc;
}

void wfs_meta_close(struct wfs_meta *m)
{
	if (!m)
		return;
	if (!sqlite3_get_autocommit(m->db))
		sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
	close_db(m);
	pthread_mutex_destroy(&m->lock);
	wfs_free(m);
}

/* ---- transactions ---- */

static int begin_locked(struct wfs_meta *m)
{
	int rc;

	if (m->stale) {
		rc = state_load(m);
		if (rc < 0)
			return rc;
	}
	rc = run(m, ST_BEGIN);
	if (rc < 0)
		return rc;
	m->in_batch = true;
	m->batch_err = 0;
	return 0;
}

/* Undo the open transaction, whatever is left of it, and reload the
 * counters it had moved. */
static void rollback_locked(struct wfs_meta *m)
{
	uint64_t had = m->st.applied;

	if (!sqlite3_get_autocommit(m->db))
		run(m, ST_ROLLBACK);
	m->in_batch = false;
	m->batch_err = 0;
	if (state_load(m) < 0)
		m->stale = true;
	if (m->stale || m->st.applied < had)
		m->went_back = true;
}

static int end_locked(struct wfs_meta *m)
{
	int rc = m->batch_err;

	/* With no transaction open, each state write would commit alone,
	 * claiming entries whose effects are gone. */
	if (rc == 0 && sqlite3_get_autocommit(m->db)) {
		lose_batch(m, -EIO);
		rc = m->batch_err;
	}
	if (rc == 0)
		rc = state_store(m);
	if (rc == 0)
		rc = run(m, ST_COMMIT);
	if (rc < 0) {
		wfs_log_error("meta", "commit of entries up to %llu failed: %s",
			      (unsigned long long)m->st.applied,
			      strerror(-rc));
		rollback_locked(m);
		return rc;
	}
	m->in_batch = false;
	return 0;
}

int wfs_meta_batch_begin(struct wfs_meta *m)
{
	int rc;

	pthread_mutex_lock(&m->lock);
	rc = m->in_batch ? -EBUSY : begin_locked(m);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int wfs_meta_batch_end(struct wfs_meta *m)
{
	int rc;

	pthread_mutex_lock(&m->lock);
	rc = m->in_batch ? end_locked(m) : -EINVAL;
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/* ---- apply ---- */

/* Undo the current entry after a SQLite failure.  When SQLite has rolled
 * back the whole transaction itself (it may, on I/O errors, a full disk or
 * out of memory), the batch is gone: remember why so that batch_end says
 * so. */
static void undo_entry(struct wfs_meta *m, const struct meta_state *saved,
		       int err)
{
	m->st = *saved;
	if (sqlite3_get_autocommit(m->db) || run(m, ST_ROLLBACK_TO) < 0 ||
	    run(m, ST_RELEASE) < 0)
		lose_batch(m, err);
}

/* The size of struct wfs_meta_result before lease_dir and lease_session
 * were added at its end: the results a voter running older code stored
 * under request names.  Such a row reads as the same result with no lease
 * (there were none), so that every voter of a rolling upgrade answers a
 * retry alike, whichever code stored the first answer. */
#define RESULT_SIZE_BEFORE_LEASES offsetof(struct wfs_meta_result, lease_dir)

/* The result a request named @name got when it applied: 1 and *res, or 0
 * when the name is new, or a store error. */
static int request_seen(struct wfs_meta *m, struct wfs_meta_bytes name,
			struct wfs_meta_result *res)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_REQ_GET);
	int rc;

	wfs_meta_bind_blob(st, 1, name);
	rc = wfs_meta_step(m, st);
	if (rc == 1) {
		const void *blob = sqlite3_column_blob(st, 0);
		int len = sqlite3_column_bytes(st, 0);

		/* A result of another shape (neither this version nor the
		 * one before leases wrote it) is not trusted: the request
		 * applies again. */
		if (blob && (len == (int)sizeof(*res) ||
			     len == (int)RESULT_SIZE_BEFORE_LEASES)) {
			memset(res, 0, sizeof(*res));
			memcpy(res, blob, (size_t)len);
		} else {
			rc = 0;
		}
	}
	sqlite3_reset(st);
	return rc;
}

/* Remember that request @name got @res at @index. */
static int request_store(struct wfs_meta *m, struct wfs_meta_bytes name,
			 uint64_t index, const struct wfs_meta_result *res)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_REQ_PUT);

	wfs_meta_bind_blob(st, 1, name);
	wfs_meta_bind_u64(st, 2, index);
	sqlite3_bind_blob(st, 3, res, sizeof(*res), SQLITE_STATIC);
	return wfs_meta_exec(m, st);
}

/* Now and then, forget request names older than the window: at the same
 * indexes on every voter, whatever the entry there. */
static int request_prune(struct wfs_meta *m, uint64_t index)
{
	sqlite3_stmt *st;

	if (index % WFS_META_REQUEST_PRUNE_EVERY != 0 ||
	    index <= WFS_META_REQUEST_WINDOW)
		return 0;
	st = wfs_meta_stmt(m, ST_REQ_PRUNE);
	wfs_meta_bind_u64(st, 1, index - WFS_META_REQUEST_WINDOW);
	return wfs_meta_exec(m, st);
}

/* Whether @res is an op refused by a directory lease (op.h, DIR_LEASE). */
static bool lease_refused(const struct wfs_meta_result *res)
{
	return res->status == -EAGAIN && res->lease_session != 0;
}

/* The result of an op that failed with @status: nothing but the status,
 * and for a refusal by a lease the directory and its holder, which the
 * handler set. */
static void failed_result(struct wfs_meta_result *res, int status)
{
	struct wfs_meta_result keep = { .status = status };

	if (status == -EAGAIN) {
		keep.lease_dir = res->lease_dir;
		keep.lease_session = res->lease_session;
	}
	*res = keep;
}

/* Run @op's handler inside a savepoint.  Returns 0 with the op's outcome
 * in @res, or the store's failure. */
static int apply_entry(struct wfs_meta *m, uint64_t index,
		       const struct wfs_meta_op *op,
		       struct wfs_meta_result *res)
{
	struct meta_apply ap = { m, index, op, res };
	struct meta_state saved = m->st;
	int status, rc;

	m->store_err = 0;
	rc = run(m, ST_SAVEPOINT);
	if (rc < 0)
		return rc;
	rc = request_prune(m, index);
	if (rc < 0) {
		undo_entry(m, &saved, rc);
		return rc;
	}
	if (op->request.len) {
		rc = request_seen(m, op->request, res);
		if (rc == 1) {
			/* A retry of a request applied before: the same
			 * answer, nothing changed. */
			rc = run(m, ST_RELEASE);
			if (rc < 0) {
				undo_entry(m, &saved, rc);
				return rc;
			}
			m->st.applied = index;
			return 0;
		}
		if (rc < 0) {
			undo_entry(m, &saved, rc);
			return rc;
		}
	}
	if (!m->st.formatted && op->type != WFS_META_OP_FORMAT)
		status = -ENODEV;
	else
		status = handlers[op->type](&ap);
	if (m->store_err) {
		rc = m->store_err;
		undo_entry(m, &saved, rc);
		return rc;
	}
	if (status < 0) {
		m->st = saved;
		failed_result(res, status);
		rc = run(m, ST_ROLLBACK_TO);
		if (rc < 0) {
			undo_entry(m, &saved, rc);
			return rc;
		}
	}
	res->status = status;
	/* A refusal by a lease is not remembered under the request's name:
	 * it changed nothing, and the client sends the same request again
	 * once the lease is given back, which must then apply. */
	if (op->request.len && !lease_refused(res)) {
		rc = request_store(m, op->request, index, res);
		if (rc < 0) {
			undo_entry(m, &saved, rc);
			return rc;
		}
	}
	rc = run(m, ST_RELEASE);
	if (rc < 0) {
		undo_entry(m, &saved, rc);
		return rc;
	}
	m->st.applied = index;
	return 0;
}

static int apply_locked(struct wfs_meta *m, uint64_t index,
			const struct wfs_meta_op *op,
			struct wfs_meta_result *res)
{
	bool own = !m->in_batch, went_back = m->went_back;
	int rc;

	if (index <= m->st.applied && !m->stale) {
		res->status = -EALREADY;
		return 0;
	}
	/* A batch whose transaction SQLite has ended on its own must not
	 * carry on: each entry would commit by itself. */
	if (m->in_batch && !m->batch_err && sqlite3_get_autocommit(m->db))
		lose_batch(m, -EIO);
	if (m->in_batch && m->batch_err)
		return m->batch_err;
	if (own) {
		rc = begin_locked(m);
		if (rc < 0)
			return rc;
		if (index <= m->st.applied) {
			rollback_locked(m);
			res->status = -EALREADY;
			return 0;
		}
	}
	rc = apply_entry(m, index, op, res);
	if (own) {
		if (rc == 0)
			rc = end_locked(m);
		else
			rollback_locked(m);
		/* Its own transaction held the lock from begin to end: no
		 * reader saw the entry it may have dropped. */
		m->went_back = went_back;
	}
	if (rc < 0)
		wfs_log_error("meta", "entry %llu (%s) not applied: %s",
			      (unsigned long long)index,
			      wfs_meta_op_name(op->type), strerror(-rc));
	return rc;
}

int wfs_meta_apply(struct wfs_meta *m, uint64_t index,
		   const struct wfs_meta_op *op, struct wfs_meta_result *result)
{
	int rc;

	memset(result, 0, sizeof(*result));
	if (op->type >= WFS_META_OP_TYPE_COUNT || !handlers[op->type])
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	rc = apply_locked(m, index, op, result);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

bool wfs_meta_went_back(struct wfs_meta *m)
{
	bool v;

	pthread_mutex_lock(&m->lock);
	v = m->went_back;
	pthread_mutex_unlock(&m->lock);
	return v;
}

uint64_t wfs_meta_applied_index(struct wfs_meta *m)
{
	uint64_t v;

	pthread_mutex_lock(&m->lock);
	v = m->st.applied;
	pthread_mutex_unlock(&m->lock);
	return v;
}

int wfs_meta_usage(struct wfs_meta *m, uint64_t *inodes, uint64_t *bytes)
{
	pthread_mutex_lock(&m->lock);
	*inodes = m->st.inodes;
	*bytes = m->st.bytes;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

/* ---- whole-store operations ---- */

static int backup_locked(struct wfs_meta *m, const char *dest,
			 uint64_t *index)
{
	sqlite3_backup *b;
	sqlite3 *d = NULL;
	int rc;

	rc = sqlite3_open_v2(dest, &d, SQLITE_OPEN_READWRITE |
			     SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rc = d ? wfs_meta_sql_errno(d, rc) : -ENOMEM;
		goto out_close;
	}
	b = sqlite3_backup_init(d, "main", m->db, "main");
	if (!b) {
		rc = wfs_meta_sql_errno(d, sqlite3_errcode(d));
		goto out_close;
	}
	rc = sqlite3_backup_step(b, -1);
	rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
	if (sqlite3_backup_finish(b) != SQLITE_OK && rc == SQLITE_OK)
		rc = sqlite3_errcode(d);
	if (rc != SQLITE_OK) {
		rc = wfs_meta_sql_errno(d, rc);
		goto out_close;
	}
	*index = m->st.applied;
	rc = 0;
out_close:
	sqlite3_close(d);
	return rc;
}

int wfs_meta_backup(struct wfs_meta *m, const char *dest, uint64_t *index)
{
	int rc;

	pthread_mutex_lock(&m->lock);
	rc = m->in_batch ? -EBUSY : backup_locked(m, dest, index);
	pthread_mutex_unlock(&m->lock);
	if (rc < 0)
		wfs_log_error("meta", "backup to %s failed: %s", dest,
			      strerror(-rc));
	return rc;
}

int wfs_meta_checkpoint(struct wfs_meta *m)
{
	int rc;

	pthread_mutex_lock(&m->lock);
	if (m->in_batch)
		rc = -EBUSY;
	else
		rc = wfs_meta_sql_errno(m->db, sqlite3_wal_checkpoint_v2(
			m->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL));
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/* Each row a check query returns is a problem; log the first few. */
static int count_problems(struct wfs_meta *m, const char *sql, bool ok_row)
{
	sqlite3_stmt *st;
	int rc, problems = 0;

	rc = sqlite3_prepare_v2(m->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return wfs_meta_sql_errno(m->db, rc);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(st, 0);

		if (ok_row && text && strcmp(text, "ok") == 0)
			continue;
		if (problems++ < 10)
			wfs_log_error("meta", "check: %s: %s", sql,
				      text ? text : "(row)");
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return wfs_meta_sql_errno(m->db, rc);
	return problems;
}

/* The counters against the tables they count. */
static int check_counters(struct wfs_meta *m)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(m->db, "SELECT count(*), "
				"coalesce(sum(bytes), 0) FROM inodes", -1, &st,
				NULL);
	if (rc != SQLITE_OK)
		return wfs_meta_sql_errno(m->db, rc);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		uint64_t n = (uint64_t)sqlite3_column_int64(st, 0);
		uint64_t bytes = (uint64_t)sqlite3_column_int64(st, 1);

		rc = n == m->st.inodes && bytes == m->st.bytes ? 0 : 1;
		if (rc)
			wfs_log_error("meta", "check: usage counters say %llu "
				      "inodes, %llu bytes; tables %llu, %llu",
				      (unsigned long long)m->st.inodes,
				      (unsigned long long)m->st.bytes,
				      (unsigned long long)n,
				      (unsigned long long)bytes);
	} else {
		rc = wfs_meta_sql_errno(m->db, rc);
	}
	sqlite3_finalize(st);
	return rc;
}

int wfs_meta_check(struct wfs_meta *m)
{
	int rc, problems = 0;

	pthread_mutex_lock(&m->lock);
	if (m->in_batch) {
		rc = -EBUSY;
		goto out_unlock;
	}
	rc = count_problems(m, "PRAGMA integrity_check", true);
	if (rc >= 0) {
		problems += rc;
		rc = count_problems(m, "PRAGMA foreign_key_check", false);
	}
	if (rc >= 0) {
		problems += rc;
		rc = check_counters(m);
	}
	if (rc >= 0)
		rc = problems + rc ? -EBADMSG : 0;
out_unlock:
	pthread_mutex_unlock(&m->lock);
	return rc;
}
