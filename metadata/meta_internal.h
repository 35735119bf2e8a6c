/* meta_internal: what the files of the metadata store share, and nothing
 * outside metadata/ includes.
 *
 * The store is split by reason to change: meta.c (open, close, transactions,
 * the apply loop, backup), schema.c (the tables and their migrations), stmt.c
 * (the SQL of every cached statement), apply_ns.c (the namespace ops),
 * apply_data.c (attributes, stripes, chunks and cluster ops) and query.c (the
 * read calls).  Every SQL statement is prepared once at open and kept in
 * m->stmt[]; nothing parses SQL on the hot path.
 */
#ifndef WFS_METADATA_META_INTERNAL_H
#define WFS_METADATA_META_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "metadata/meta.h"

/* Deepest directory chain a walk up the parents follows before calling it
 * a loop (only a damaged store has one). */
#define META_DEPTH_MAX 4096

/* Every cached statement, by what it does.  The SQL is in stmt.c. */
enum meta_stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_KV_ALL,
	ST_KV_GET,
	ST_KV_SET,
	ST_INODE_GET,
	ST_INODE_INSERT,
	ST_INODE_INSERT_NEW,
	ST_INODE_UPDATE,
	ST_INODE_DELETE,
	ST_INODE_TARGET,
	ST_INODE_LIST,
	ST_DIRENT_GET,
	ST_DIRENT_INSERT,
	ST_DIRENT_DELETE,
	ST_DIRENT_SET_INO,
	ST_DIRENT_ANY,
	ST_LOOKUP,
	ST_READDIR,
	ST_ORPHAN_ADD,
	ST_ORPHAN_LIST,
	ST_XATTR_GET,
	ST_XATTR_PUT,
	ST_XATTR_DELETE,
	ST_XATTR_LIST,
	ST_XATTR_LIST_SIZE,
	ST_STRIPE_SLOT,
	ST_STRIPE_BY_ID,
	ST_STRIPE_INSERT,
	ST_STRIPE_DELETE,
	ST_STRIPE_LIST,
	ST_STRIPE_USED,
	ST_STRIPE_SET_LENGTH,
	ST_TRUNC_SUM,
	ST_TRUNC_GARBAGE,
	ST_TRUNC_DELETE,
	ST_TRUNC_STRADDLE,
	ST_DISK_STRIPES,
	ST_DISK_CHUNK_COUNT,
	ST_DISK_MISSING_COUNT,
	ST_CHUNK_LIST,
	ST_CHUNK_GET,
	ST_CHUNK_PUT,
	ST_CHUNK_TO_GARBAGE,
	ST_GARBAGE_ADD,
	ST_GARBAGE_DEL_LOC,
	ST_GARBAGE_AT,
	ST_GARBAGE_DONE_ANY,
	ST_GARBAGE_LIST,
	ST_POLICY_GET,
	ST_POLICY_BY_NAME,
	ST_POLICY_PUT,
	ST_POLICY_LIST,
	ST_NODE_GET,
	ST_NODE_PUT,
	ST_NODE_DELETE,
	ST_NODE_LIST,
	ST_DISK_PUT,
	ST_DISK_LIST,
	ST_DISK_DRAIN,
	ST_DISK_OF_NODE,
	ST_DEGRADED_COUNT,
	ST_LEASE_GET,
	ST_LEASE_PUT,
	ST_LEASE_DELETE,
	ST_LEASE_RELEASE,
	ST_LEASE_LIST,
	ST_REQ_GET,
	ST_REQ_PUT,
	ST_REQ_PRUNE,
	ST_COUNT
};

/* A cached statement's SQL and whether its plan may scan a table (only the
 * small tables: kv, policies, nodes, disks).  The suite checks every other
 * statement's EXPLAIN QUERY PLAN for scans and temporary sorts. */
struct meta_stmt_def {
	const char *sql;
	bool scan_ok;
};

extern const struct meta_stmt_def wfs_meta_stmt_defs[ST_COUNT];

/* The counters and marks kept in the kv table.  They live in memory while
 * entries are applied and are written back in the transaction that commits
 * them (wfs_meta_state_store), so a batch costs one write per counter, not
 * one per op.  Any rollback reloads them from the table. */
struct meta_state {
	uint64_t applied;	/* index of the last applied entry */
	uint64_t next_ino;
	uint64_t next_stripe;
	uint64_t next_cookie;
	uint64_t next_policy;
	uint64_t inodes;	/* inodes in use, orphans included */
	uint64_t bytes;		/* file data bytes held in stripes */
	bool formatted;		/* FORMAT has been applied */
};

struct wfs_meta {
	pthread_mutex_t lock;	/* serializes every public call */
	sqlite3 *db;
	sqlite3_stmt *stmt[ST_COUNT];
	struct meta_state st;	/* protected by lock */
	bool in_batch;		/* protected by lock: between batch_begin/end */
	int batch_err;		/* protected by lock: why the open batch can no
				 * longer commit (SQLite rolled it back), or 0 */
	bool stale;		/* protected by lock: st must be reloaded from
				 * kv before the next apply */
	bool went_back;		/* protected by lock: a rollback dropped
				 * entries that reads could see; sticky */
	int store_err;		/* protected by lock: first SQLite failure of
				 * the current apply, as a negative errno */
};

/* An inode row as apply works on it. */
struct meta_inode {
	struct wfs_meta_attr a;
	uint64_t parent;	/* directories: the directory holding it (root:
				 * itself); 0 for everything else */
};

/* What a handler gets: the op, where it sits in the log and where its
 * outcome goes. */
struct meta_apply {
	struct wfs_meta *m;
	uint64_t index;
	const struct wfs_meta_op *op;
	struct wfs_meta_result *res;
};

typedef int (*meta_apply_fn)(struct meta_apply *ap);

/* Handlers of apply_ns.c and apply_data.c: each returns 0 or the op's
 * outcome as a negative errno; a SQLite failure inside also sets
 * m->store_err, which makes wfs_meta_apply() treat the return as the
 * store's failure rather than the op's. */
int wfs_meta_apply_format(struct meta_apply *ap);
int wfs_meta_apply_create(struct meta_apply *ap);
int wfs_meta_apply_link(struct meta_apply *ap);
int wfs_meta_apply_unlink(struct meta_apply *ap);
int wfs_meta_apply_rmdir(struct meta_apply *ap);
int wfs_meta_apply_rename(struct meta_apply *ap);
int wfs_meta_apply_purge(struct meta_apply *ap);
int wfs_meta_apply_setattr(struct meta_apply *ap);
int wfs_meta_apply_setxattr(struct meta_apply *ap);
int wfs_meta_apply_removexattr(struct meta_apply *ap);
int wfs_meta_apply_reserve(struct meta_apply *ap);
int wfs_meta_apply_stripe(struct meta_apply *ap);
int wfs_meta_apply_chunk(struct meta_apply *ap);
int wfs_meta_apply_gc(struct meta_apply *ap);
int wfs_meta_apply_policy(struct meta_apply *ap);
int wfs_meta_apply_dir_policy(struct meta_apply *ap);
int wfs_meta_apply_node_set(struct meta_apply *ap);
int wfs_meta_apply_node_remove(struct meta_apply *ap);
int wfs_meta_apply_disk_set(struct meta_apply *ap);
int wfs_meta_apply_disk_drain(struct meta_apply *ap);
int wfs_meta_apply_setting(struct meta_apply *ap);
int wfs_meta_apply_dir_lease(struct meta_apply *ap);

/* ---- SQLite access (meta.c) ---- */

/* Map a SQLite result code to a negative errno: the one place that knows
 * SQLite's codes.  @db may be NULL; with it, an I/O failure reports the
 * system errno SQLite saw. */
int wfs_meta_sql_errno(sqlite3 *db, int rc);

/* The cached statement @id, reset and ready to bind. */
sqlite3_stmt *wfs_meta_stmt(struct wfs_meta *m, enum meta_stmt_id id);

/* Step @st once.  Returns 1 for a row, 0 when done, or a negative errno
 * after logging it and recording it in m->store_err. */
int wfs_meta_step(struct wfs_meta *m, sqlite3_stmt *st);

/* Step @st to the end and reset it.  Returns 0 or a negative errno. */
int wfs_meta_exec(struct wfs_meta *m, sqlite3_stmt *st);

/* Bind helpers.  Byte strings are bound without copying (the op outlives
 * the statement's use), and an empty one as an empty blob or text, never as
 * NULL. */
void wfs_meta_bind_blob(sqlite3_stmt *st, int col, struct wfs_meta_bytes b);
void wfs_meta_bind_text(sqlite3_stmt *st, int col, struct wfs_meta_bytes b);
void wfs_meta_bind_u64(sqlite3_stmt *st, int col, uint64_t v);

/* Read a column as a byte string valid until the next step or reset. */
struct wfs_meta_bytes wfs_meta_col_bytes(sqlite3_stmt *st, int col);

/* ---- inode rows (query.c) ---- */

/* Fill @in from 15 columns of @st starting at @col, in the order stmt.c's
 * INODE_COLS lists them: ino, mode, nlink, uid, gid, size, bytes, rdev,
 * atime, mtime, ctime, btime, generation, policy_id, parent. */
void wfs_meta_row_inode(sqlite3_stmt *st, int col, struct meta_inode *in);

/* Load inode @ino.  Returns 0, -ENOENT, or a store error. */
int wfs_meta_inode_load(struct wfs_meta *m, uint64_t ino,
			struct meta_inode *in);

/* Insert @in as a new row; @target is a symlink's (empty: none).  Returns
 * 0 or a store error. */
int wfs_meta_inode_insert(struct wfs_meta *m, const struct meta_inode *in,
			  struct wfs_meta_bytes target);

/* The same for a number that may be taken (a MKNOD's create.ino): -EEXIST,
 * with nothing written, when an inode has it.  Returns 0, -EEXIST, or a
 * store error. */
int wfs_meta_inode_insert_new(struct wfs_meta *m, const struct meta_inode *in,
			      struct wfs_meta_bytes target);

/* Write back every mutable column of @in.  Returns 0 or a store error. */
int wfs_meta_inode_store(struct wfs_meta *m, const struct meta_inode *in);

/* The policy for a new file in directory @dir: its own, else the nearest
 * ancestor's, else the default.  Returns 0, -ENOENT, -ELOOP, or a store
 * error. */
int wfs_meta_policy_resolve(struct wfs_meta *m, const struct meta_inode *dir,
			    uint32_t *policy_id);

/* ---- directory leases ---- */

/* The session holding directory @dir's lease into *session, 0 when none
 * does.  Returns 0 or a store error (query.c). */
int wfs_meta_lease_holder(struct wfs_meta *m, uint64_t dir,
			  uint64_t *session);

/* Whether the op of @ap may change directory @dir (op.h, DIR_LEASE): 0
 * when no session holds its lease or the op's own session does; -EAGAIN,
 * with result.lease_dir and lease_session set, when another session
 * holds it; or a store error.  One indexed lookup (apply_ns.c). */
int wfs_meta_lease_check(struct meta_apply *ap, uint64_t dir);

/* ---- schema (schema.c) ---- */

/* Check, reading only, that @db is a WormFS store this code understands or
 * an empty file.  Returns 0, -EBADMSG, -EPROTONOSUPPORT, or another negative
 * errno. */
int wfs_meta_schema_check(sqlite3 *db);

/* Check again, then bring the schema to WFS_META_SCHEMA_VERSION in one
 * transaction.  Returns 0, -EBADMSG, -EPROTONOSUPPORT, or another negative
 * errno; on failure the file is as it was. */
int wfs_meta_schema_migrate(sqlite3 *db);

/* ---- shared by the apply files and the queries ---- */

/* Check a directory entry name: -EINVAL when empty, ".", "..", or holding
 * '/' or NUL; -ENAMETOOLONG past WFS_META_NAME_MAX; else 0 (apply_ns.c). */
int wfs_meta_name_check(struct wfs_meta_bytes name);

/* Remove the stripes of @ino whose start is at or past @size, their chunks
 * going to garbage, and cut a stripe that straddles @size to end there.
 * Sets *freed to the data bytes that were dropped.  Returns 0 or a store
 * error (apply_data.c). */
int wfs_meta_truncate_stripes(struct wfs_meta *m, uint64_t ino, uint64_t size,
			      uint64_t *freed);

/* Check a stripe geometry: k 1..16, m 1..4, chunk_size a power of two from
 * 4 KiB to 64 MiB.  Returns 0 or -EINVAL. */
int wfs_meta_check_geometry(uint32_t k, uint32_t m, uint32_t chunk_size);

#endif
