/* schema: the tables of the metadata store and the migrations that build
 * them.
 *
 * A store is an SQLite file whose header carries WormFS's application id
 * (PRAGMA application_id, 0x57464d44 "WFMD") and whose kv table holds
 * schema_version.  Opening runs, in one transaction, every migration after
 * the stored version: migrations[0] takes an empty file to version 1,
 * migrations[1] would take version 1 to 2, and so on.  Changing the schema
 * is adding one entry at the end and raising WFS_META_SCHEMA_VERSION;
 * existing entries never change, since stores out there were built by them.
 * A store newer than this code is refused (-EPROTONOSUPPORT) rather than
 * half-understood; any other SQLite file, or a file that is not SQLite, is
 * refused as not ours (-EBADMSG).
 *
 * Version 1, table by table (STRICT: SQLite enforces the column types):
 *
 *  kv        k TEXT -> v: schema_version; applied_index, the index of the
 *            last applied log entry; cluster_id (a blob, present once
 *            FORMAT ran); the counters next_ino, next_stripe, next_cookie,
 *            next_policy (the next id each hands out); inodes and bytes
 *            (usage for statfs).  Written in the same transaction as the
 *            effects they count.
 *  inodes    ino -> mode (S_IF type and permission bits), nlink, uid, gid,
 *            size, bytes (data in stripes), rdev, atime/mtime/ctime/btime
 *            (ns since the epoch), generation (the log index that created
 *            it), policy_id (files: their policy; dirs: their own setting,
 *            0 = inherit), parent (dirs: the directory holding it, the root
 *            its own; others 0), target (symlinks only).
 *  dirents   (parent, name) -> ino, cookie.  WITHOUT ROWID so a lookup is
 *            one b-tree descent; UNIQUE (parent, cookie) is the index
 *            readdir resumes on.  Cookies come from next_cookie and are
 *            never reused, so a listing in progress neither repeats nor
 *            skips an entry that stays.
 *  xattrs    (ino, name) -> value.
 *  orphans   ino: inodes at nlink 0 kept until PURGE.
 *  policies  id -> name (unique), k, m, chunk_size.
 *  stripes   stripe_id -> ino, sidx, version, kind, k, m, chunk_size,
 *            length; UNIQUE (ino, sidx): the slot a STRIPE_COMMIT swaps.
 *  chunks    (stripe_id, idx) -> state, node, disk; indexed by (disk,
 *            stripe_id) for rebuilding a lost disk.
 *  garbage   (stripe_id, idx, node, disk): chunks to delete from disks.
 *  nodes     id -> name, addr, role, state.
 *  disks     id -> node_id, path, capacity, free, state.
 *  requests  (version 2) name -> idx, result: the outcome of each client
 *            request applied, by the name the client gave it, so that a
 *            retry gets it again instead of applying twice; indexed by
 *            idx (the log index) for pruning.
 *  chunks_not_ok  (version 3) a partial index of the chunks whose state is
 *            not OK, so counting degraded stripes reads only those.
 *  disks.draining  (version 4) 1 while an operator drains the disk
 *            (DISK_DRAIN), else 0: a flag of its own, so the state keeps
 *            saying whether the disk is online.  Stores of version 3 kept
 *            "draining" in the state (2); the migration moves it to the
 *            flag and records such a disk online (its node's next report
 *            puts the state right).
 *  chunks_not_ok_by_disk  (version 4) the chunks not OK by disk, so a
 *            draining disk's missing chunks are counted without reading
 *            its others.
 *  dir_leases  (version 5) dir -> session: the directories leased to a
 *            client session (op.h, DIR_LEASE), keyed by the directory's
 *            inode number so that the check every create makes is one
 *            lookup in a table that is most often empty.  A row goes when
 *            its session gives the lease back or when its directory is
 *            removed (RMDIR, a RENAME over it); apply deletes it, so the
 *            table carries no foreign key (one would cost every inode
 *            deletion a lookup here).
 *
 * Foreign keys guard what cascades (a stripe's chunks, an inode's xattrs
 * and orphan mark, a node's disks) and forbid deleting an inode that still
 * has stripes.  Dirents carry none: checking them would cost two more
 * lookups per create, and deleting an inode would need an index on
 * dirents(ino); apply keeps that invariant itself.
 */
#include <errno.h>
#include <stdio.h>

#include "log/log.h"
#include "metadata/meta_internal.h"

#define META_APPLICATION_ID 0x57464d44	/* "WFMD" */

static const char migration_1[] =
	"CREATE TABLE kv ("
	" k TEXT PRIMARY KEY NOT NULL,"
	" v ANY"
	") STRICT, WITHOUT ROWID;"
	"INSERT INTO kv (k, v) VALUES ('applied_index', 0), ('next_ino', 2),"
	" ('next_stripe', 1), ('next_cookie', 3), ('next_policy', 2),"
	" ('inodes', 0), ('bytes', 0);"

	"CREATE TABLE inodes ("
	" ino INTEGER PRIMARY KEY,"
	" mode INTEGER NOT NULL,"
	" nlink INTEGER NOT NULL,"
	" uid INTEGER NOT NULL,"
	" gid INTEGER NOT NULL,"
	" size INTEGER NOT NULL,"
	" bytes INTEGER NOT NULL,"
	" rdev INTEGER NOT NULL,"
	" atime INTEGER NOT NULL,"
	" mtime INTEGER NOT NULL,"
	" ctime INTEGER NOT NULL,"
	" btime INTEGER NOT NULL,"
	" generation INTEGER NOT NULL,"
	" policy_id INTEGER NOT NULL,"
	" parent INTEGER NOT NULL,"
	" target BLOB"
	") STRICT;"

	"CREATE TABLE dirents ("
	" parent INTEGER NOT NULL,"
	" name BLOB NOT NULL,"
	" ino INTEGER NOT NULL,"
	" cookie INTEGER NOT NULL,"
	" PRIMARY KEY (parent, name),"
	" UNIQUE (parent, cookie)"
	") STRICT, WITHOUT ROWID;"

	"CREATE TABLE xattrs ("
	" ino INTEGER NOT NULL REFERENCES inodes (ino) ON DELETE CASCADE,"
	" name BLOB NOT NULL,"
	" value BLOB NOT NULL,"
	" PRIMARY KEY (ino, name)"
	") STRICT, WITHOUT ROWID;"

	"CREATE TABLE orphans ("
	" ino INTEGER PRIMARY KEY REFERENCES inodes (ino) ON DELETE CASCADE"
	") STRICT;"

	"CREATE TABLE policies ("
	" id INTEGER PRIMARY KEY,"
	" name TEXT NOT NULL UNIQUE,"
	" k INTEGER NOT NULL,"
	" m INTEGER NOT NULL,"
	" chunk_size INTEGER NOT NULL"
	") STRICT;"

	"CREATE TABLE stripes ("
	" stripe_id INTEGER PRIMARY KEY,"
	" ino INTEGER NOT NULL REFERENCES inodes (ino),"
	" sidx INTEGER NOT NULL,"
	" version INTEGER NOT NULL,"
	" kind INTEGER NOT NULL,"
	" k INTEGER NOT NULL,"
	" m INTEGER NOT NULL,"
	" chunk_size INTEGER NOT NULL,"
	" length INTEGER NOT NULL,"
	" UNIQUE (ino, sidx)"
	") STRICT;"

	"CREATE TABLE chunks ("
	" stripe_id INTEGER NOT NULL"
	"  REFERENCES stripes (stripe_id) ON DELETE CASCADE,"
	" idx INTEGER NOT NULL,"
	" state INTEGER NOT NULL,"
	" node TEXT NOT NULL,"
	" disk TEXT NOT NULL,"
	" PRIMARY KEY (stripe_id, idx)"
	") STRICT, WITHOUT ROWID;"
	"CREATE INDEX chunks_by_disk ON chunks (disk, stripe_id);"

	"CREATE TABLE garbage ("
	" stripe_id INTEGER NOT NULL,"
	" idx INTEGER NOT NULL,"
	" node TEXT NOT NULL,"
	" disk TEXT NOT NULL,"
	" PRIMARY KEY (stripe_id, idx, node, disk)"
	") STRICT, WITHOUT ROWID;"

	"CREATE TABLE nodes ("
	" id TEXT PRIMARY KEY NOT NULL,"
	" name TEXT NOT NULL,"
	" addr TEXT NOT NULL,"
	" role INTEGER NOT NULL,"
	" state INTEGER NOT NULL"
	") STRICT, WITHOUT ROWID;"

	"CREATE TABLE disks ("
	" id TEXT PRIMARY KEY NOT NULL,"
	" node_id TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,"
	" path TEXT NOT NULL,"
	" capacity INTEGER NOT NULL,"
	" free INTEGER NOT NULL,"
	" state INTEGER NOT NULL"
	") STRICT, WITHOUT ROWID;"
	"CREATE INDEX disks_by_node ON disks (node_id);";

static const char migration_2[] =
	"CREATE TABLE requests ("
	" name BLOB PRIMARY KEY NOT NULL,"
	" idx INTEGER NOT NULL,"
	" result BLOB NOT NULL"
	") STRICT, WITHOUT ROWID;"
	"CREATE INDEX requests_by_idx ON requests (idx);";

static const char migration_3[] =
	"CREATE INDEX chunks_not_ok ON chunks (stripe_id) WHERE state != 0;";

static const char migration_4[] =
	"ALTER TABLE disks ADD COLUMN draining INTEGER NOT NULL DEFAULT 0;"
	"UPDATE disks SET draining = 1, state = 0 WHERE state = 2;"
	"CREATE INDEX chunks_not_ok_by_disk ON chunks (disk) WHERE state != 0;";

static const char migration_5[] =
	"CREATE TABLE dir_leases ("
	" dir INTEGER PRIMARY KEY,"
	" session INTEGER NOT NULL"
	") STRICT;";

/* migrations[v] takes a store from version v to v + 1. */
static const char *const migrations[] = {
	migration_1,
	migration_2,
	migration_3,
	migration_4,
	migration_5,
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) ==
		       WFS_META_SCHEMA_VERSION,
	       "one migration per schema version");

/* Run a one-row integer query; *v = 0 when it returns no row. */
static int query_int(sqlite3 *db, const char *sql, int64_t *v)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return wfs_meta_sql_errno(db, rc);
	*v = 0;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_type(st, 0) == SQLITE_INTEGER)
			*v = sqlite3_column_int64(st, 0);
		else
			*v = -1;
		rc = SQLITE_DONE;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : wfs_meta_sql_errno(db, rc);
}

static int exec(sqlite3 *db, const char *sql)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : wfs_meta_sql_errno(db, rc);
}

/* The schema version of the store, 0 for an empty file.  Returns 0 or
 * -EBADMSG for anything that is not a WormFS store. */
static int stored_version(sqlite3 *db, int64_t *version)
{
	int64_t app_id, tables;
	int rc;

	rc = query_int(db, "PRAGMA application_id", &app_id);
	if (rc == 0)
		rc = query_int(db, "SELECT count(*) FROM sqlite_schema",
			       &tables);
	if (rc < 0)
		return rc;
	if (app_id == 0 && tables == 0) {
		*version = 0;
		return 0;
	}
	if (app_id != META_APPLICATION_ID)
		return -EBADMSG;
	rc = query_int(db, "SELECT count(*) FROM sqlite_schema WHERE "
			   "type = 'table' AND name = 'kv'", &tables);
	if (rc < 0)
		return rc;
	if (tables != 1)
		return -EBADMSG;
	rc = query_int(db, "SELECT v FROM kv WHERE k = 'schema_version'",
		       version);
	if (rc == 0 && *version <= 0)
		rc = -EBADMSG;
	return rc;
}

/* Run migrations[from..] and record the version reached. */
static int run_migrations(sqlite3 *db, int64_t from)
{
	char sql[96];
	int rc;

	if (from == 0) {
		snprintf(sql, sizeof(sql), "PRAGMA application_id = %d",
			 META_APPLICATION_ID);
		rc = exec(db, sql);
		if (rc < 0)
			return rc;
	}
	for (int64_t v = from; v < WFS_META_SCHEMA_VERSION; v++) {
		rc = exec(db, migrations[v]);
		if (rc < 0) {
			wfs_log_error("meta", "schema migration to version %lld "
				      "failed: %s", (long long)v + 1,
				      sqlite3_errmsg(db));
			return rc;
		}
		snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO kv (k, v) "
			 "VALUES ('schema_version', %lld)", (long long)v + 1);
		rc = exec(db, sql);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int wfs_meta_schema_check(sqlite3 *db)
{
	int64_t version;
	int rc;

	rc = stored_version(db, &version);
	if (rc == 0 && version > WFS_META_SCHEMA_VERSION) {
		wfs_log_error("meta", "store has schema version %lld, this "
			      "build knows up to %d", (long long)version,
			      WFS_META_SCHEMA_VERSION);
		rc = -EPROTONOSUPPORT;
	}
	return rc;
}

int wfs_meta_schema_migrate(sqlite3 *db)
{
	int64_t version;
	int rc;

	rc = exec(db, "BEGIN IMMEDIATE");
	if (rc < 0)
		return rc;
	/* Again inside the transaction: another process may have migrated
	 * the file since the check. */
	rc = wfs_meta_schema_check(db);
	if (rc == 0)
		rc = stored_version(db, &version);
	if (rc < 0)
		goto out_rollback;
	if (version < WFS_META_SCHEMA_VERSION) {
		rc = run_migrations(db, version);
		if (rc < 0)
			goto out_rollback;
	}
	rc = exec(db, "COMMIT");
	if (rc < 0)
		goto out_rollback;
	return 0;

out_rollback:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}
