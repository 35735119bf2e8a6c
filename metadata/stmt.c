/* stmt: the SQL of every statement the metadata store runs after open.
 *
 * They are kept in one table so that open can prepare them all once (a bad
 * statement fails open, not some later apply) and the suite can check every
 * plan: each statement on a per-file table must reach its rows through a
 * key or an index, never a scan or a temporary sort.  Parameters are
 * numbered (?1, ?2, ...) and documented by the code that binds them.
 *
 * Sizes and offsets are compared as SQLite integers (signed 64-bit); apply
 * keeps every stored offset below INT64_MAX so the arithmetic here never
 * overflows.
 */
#include "metadata/meta_internal.h"

/* The inode columns wfs_meta_row_inode reads, unprefixed and as i.*. */
#define INODE_COLS                                                            \
	"ino, mode, nlink, uid, gid, size, bytes, rdev, atime, mtime, "       \
	"ctime, btime, generation, policy_id, parent"
#define INODE_COLS_I                                                          \
	"i.ino, i.mode, i.nlink, i.uid, i.gid, i.size, i.bytes, i.rdev, "     \
	"i.atime, i.mtime, i.ctime, i.btime, i.generation, i.policy_id, "     \
	"i.parent"

/* The new inode row wfs_meta_inode_insert binds, after "INSERT" or
 * "INSERT OR IGNORE". */
#define INODE_INSERT_INTO                                                     \
	" INTO inodes (" INODE_COLS ", target) VALUES (?1, ?2, ?3, ?4, ?5, "  \
	"?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"

/* A stripe's first byte in its file. */
#define STRIPE_START "sidx * k * chunk_size"

/* The stripes of file ?1 starting at or past size ?3; ?2 is a lower bound
 * on their sidx (?3 / the largest span) that lets the (ino, sidx) index
 * narrow the range. */
#define TRUNC_WHERE                                                           \
	" WHERE ino = ?1 AND sidx >= ?2 AND " STRIPE_START " >= ?3"

const struct meta_stmt_def wfs_meta_stmt_defs[ST_COUNT] = {
	[ST_BEGIN] = { "BEGIN IMMEDIATE", true },
	[ST_COMMIT] = { "COMMIT", true },
	[ST_ROLLBACK] = { "ROLLBACK", true },
	[ST_SAVEPOINT] = { "SAVEPOINT op", true },
	[ST_RELEASE] = { "RELEASE op", true },
	[ST_ROLLBACK_TO] = { "ROLLBACK TO op", true },

	[ST_KV_ALL] = { "SELECT k, v FROM kv", true },
	[ST_KV_GET] = { "SELECT v FROM kv WHERE k = ?1", false },
	[ST_KV_SET] = { "INSERT OR REPLACE INTO kv (k, v) VALUES (?1, ?2)",
			false },

	[ST_INODE_GET] = { "SELECT " INODE_COLS " FROM inodes WHERE ino = ?1",
			   false },
	[ST_INODE_INSERT] = { "INSERT" INODE_INSERT_INTO, false },
	/* A MKNOD with a number its client chose: OR IGNORE leaves
	 * sqlite3_changes() at 0 when an inode has the number, which is how
	 * create finds it taken without a lookup first. */
	[ST_INODE_INSERT_NEW] = { "INSERT OR IGNORE" INODE_INSERT_INTO, false },
	[ST_INODE_UPDATE] = {
		"UPDATE inodes SET mode = ?2, nlink = ?3, uid = ?4, gid = ?5, "
		"size = ?6, bytes = ?7, atime = ?8, mtime = ?9, ctime = ?10, "
		"policy_id = ?11, parent = ?12 WHERE ino = ?1", false },
	[ST_INODE_DELETE] = { "DELETE FROM inodes WHERE ino = ?1", false },
	[ST_INODE_TARGET] = {
		"SELECT mode, target FROM inodes WHERE ino = ?1", false },
	[ST_INODE_LIST] = {
		"SELECT " INODE_COLS " FROM inodes WHERE ino > ?1 "
		"ORDER BY ino LIMIT ?2", false },

	[ST_DIRENT_GET] = {
		"SELECT ino, cookie FROM dirents WHERE parent = ?1 AND "
		"name = ?2", false },
	/* OR IGNORE: an existing name leaves sqlite3_changes() at 0, which
	 * is how create finds EEXIST without a lookup first. */
	[ST_DIRENT_INSERT] = {
		"INSERT OR IGNORE INTO dirents (parent, name, ino, cookie) "
		"VALUES (?1, ?2, ?3, ?4)", false },
	[ST_DIRENT_DELETE] = {
		"DELETE FROM dirents WHERE parent = ?1 AND name = ?2", false },
	[ST_DIRENT_SET_INO] = {
		"UPDATE dirents SET ino = ?3 WHERE parent = ?1 AND name = ?2",
		false },
	[ST_DIRENT_ANY] = {
		"SELECT 1 FROM dirents WHERE parent = ?1 LIMIT 1", false },
	[ST_LOOKUP] = {
		"SELECT " INODE_COLS_I " FROM dirents d JOIN inodes i ON "
		"i.ino = d.ino WHERE d.parent = ?1 AND d.name = ?2", false },
	[ST_READDIR] = {
		"SELECT d.cookie, d.ino, d.name, i.mode FROM dirents d "
		"JOIN inodes i ON i.ino = d.ino WHERE d.parent = ?1 AND "
		"d.cookie > ?2 ORDER BY d.cookie LIMIT ?3", false },

	[ST_ORPHAN_ADD] = {
		"INSERT OR IGNORE INTO orphans (ino) VALUES (?1)", false },
	[ST_ORPHAN_LIST] = {
		"SELECT " INODE_COLS_I " FROM orphans o JOIN inodes i ON "
		"i.ino = o.ino WHERE o.ino > ?1 ORDER BY o.ino LIMIT ?2",
		false },

	[ST_XATTR_GET] = {
		"SELECT value FROM xattrs WHERE ino = ?1 AND name = ?2",
		false },
	[ST_XATTR_PUT] = {
		"INSERT OR REPLACE INTO xattrs (ino, name, value) "
		"VALUES (?1, ?2, ?3)", false },
	[ST_XATTR_DELETE] = {
		"DELETE FROM xattrs WHERE ino = ?1 AND name = ?2", false },
	[ST_XATTR_LIST] = {
		"SELECT name FROM xattrs WHERE ino = ?1 ORDER BY name", false },
	[ST_XATTR_LIST_SIZE] = {
		"SELECT coalesce(sum(length(name) + 1), 0) FROM xattrs "
		"WHERE ino = ?1", false },

	[ST_STRIPE_SLOT] = {
		"SELECT stripe_id, version, length FROM stripes "
		"WHERE ino = ?1 AND sidx = ?2", false },
	[ST_STRIPE_BY_ID] = {
		"SELECT ino, sidx, version, kind, k, m, chunk_size, length "
		"FROM stripes WHERE stripe_id = ?1", false },
	[ST_STRIPE_INSERT] = {
		"INSERT INTO stripes (stripe_id, ino, sidx, version, kind, k, "
		"m, chunk_size, length) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
		"?8, ?9)", false },
	[ST_STRIPE_DELETE] = {
		"DELETE FROM stripes WHERE stripe_id = ?1", false },
	[ST_STRIPE_LIST] = {
		"SELECT stripe_id, sidx, version, kind, k, m, chunk_size, "
		"length FROM stripes WHERE ino = ?1 AND sidx >= ?2 "
		"ORDER BY sidx LIMIT ?3", false },
	[ST_STRIPE_USED] = {
		"SELECT EXISTS (SELECT 1 FROM stripes WHERE stripe_id = ?1) "
		"OR EXISTS (SELECT 1 FROM garbage WHERE stripe_id = ?1)",
		false },
	[ST_STRIPE_SET_LENGTH] = {
		"UPDATE stripes SET length = ?2 WHERE stripe_id = ?1", false },
	[ST_TRUNC_SUM] = {
		"SELECT coalesce(sum(length), 0) FROM stripes" TRUNC_WHERE,
		false },
	[ST_TRUNC_GARBAGE] = {
		"INSERT OR IGNORE INTO garbage (stripe_id, idx, node, disk) "
		"SELECT c.stripe_id, c.idx, c.node, c.disk FROM stripes s "
		"JOIN chunks c ON c.stripe_id = s.stripe_id WHERE s.ino = ?1 "
		"AND s.sidx >= ?2 AND s.sidx * s.k * s.chunk_size >= ?3 AND "
		"c.disk <> ''", false },
	/* The chunks go with their stripe: ON DELETE CASCADE. */
	[ST_TRUNC_DELETE] = { "DELETE FROM stripes" TRUNC_WHERE, false },
	[ST_TRUNC_STRADDLE] = {
		"SELECT stripe_id, length, " STRIPE_START " FROM stripes "
		"WHERE ino = ?1 AND sidx >= ?2 AND " STRIPE_START " < ?3 AND "
		STRIPE_START " + length > ?3 LIMIT 1", false },
	[ST_DISK_STRIPES] = {
		"SELECT DISTINCT stripe_id FROM chunks WHERE disk = ?1 AND "
		"stripe_id > ?2 ORDER BY stripe_id LIMIT ?3", false },

	/* Read at most ?2 of the disk's entries of chunks_by_disk
	 * (covering); the outer SCAN is of the subquery's rows only. */
	[ST_DISK_CHUNK_COUNT] = {
		"SELECT count(*) FROM (SELECT 1 FROM chunks WHERE disk = ?1 "
		"LIMIT ?2)", true },
	/* Through the partial chunks_not_ok_by_disk: the disk's chunks
	 * that are not OK, and no others. */
	[ST_DISK_MISSING_COUNT] = {
		"SELECT count(*) FROM (SELECT 1 FROM chunks WHERE disk = ?1 "
		"AND state != 0 LIMIT ?2)", true },

	[ST_CHUNK_LIST] = {
		"SELECT idx, state, node, disk FROM chunks WHERE "
		"stripe_id = ?1 ORDER BY idx", false },
	[ST_CHUNK_GET] = {
		"SELECT node, disk FROM chunks WHERE stripe_id = ?1 AND "
		"idx = ?2", false },
	[ST_CHUNK_PUT] = {
		"INSERT OR REPLACE INTO chunks (stripe_id, idx, state, node, "
		"disk) VALUES (?1, ?2, ?3, ?4, ?5)", false },
	[ST_CHUNK_TO_GARBAGE] = {
		"INSERT OR IGNORE INTO garbage (stripe_id, idx, node, disk) "
		"SELECT stripe_id, idx, node, disk FROM chunks WHERE "
		"stripe_id = ?1 AND disk <> ''", false },

	[ST_GARBAGE_ADD] = {
		"INSERT OR IGNORE INTO garbage (stripe_id, idx, node, disk) "
		"VALUES (?1, ?2, ?3, ?4)", false },
	[ST_GARBAGE_DEL_LOC] = {
		"DELETE FROM garbage WHERE stripe_id = ?1 AND idx = ?2 AND "
		"node = ?3 AND disk = ?4", false },
	[ST_GARBAGE_AT] = {
		"SELECT 1 FROM garbage WHERE stripe_id = ?1 AND idx = ?2 AND "
		"node = ?3 AND disk = ?4", false },
	/* GC_DONE entries of formats before 7, which name no place. */
	[ST_GARBAGE_DONE_ANY] = {
		"DELETE FROM garbage WHERE stripe_id = ?1 AND idx = ?2",
		false },
	/* The garbage of the first ?2 stripes after ?1: the LIMIT counts
	 * stripes, so a page never ends inside one. */
	[ST_GARBAGE_LIST] = {
		"SELECT stripe_id, idx, node, disk FROM garbage WHERE "
		"stripe_id > ?1 AND stripe_id <= (SELECT max(stripe_id) FROM "
		"(SELECT DISTINCT stripe_id FROM garbage WHERE stripe_id > ?1 "
		"ORDER BY stripe_id LIMIT ?2)) ORDER BY stripe_id, idx, node, "
		"disk", false },

	[ST_POLICY_GET] = {
		"SELECT id, name, k, m, chunk_size FROM policies WHERE id = ?1",
		false },
	[ST_POLICY_BY_NAME] = {
		"SELECT id FROM policies WHERE name = ?1", false },
	[ST_POLICY_PUT] = {
		"INSERT INTO policies (id, name, k, m, chunk_size) VALUES (?1, "
		"?2, ?3, ?4, ?5) ON CONFLICT (id) DO UPDATE SET "
		"name = excluded.name, k = excluded.k, m = excluded.m, "
		"chunk_size = excluded.chunk_size", false },
	[ST_POLICY_LIST] = {
		"SELECT id, name, k, m, chunk_size FROM policies ORDER BY id",
		true },

	[ST_NODE_GET] = { "SELECT 1 FROM nodes WHERE id = ?1", false },
	[ST_NODE_PUT] = {
		"INSERT INTO nodes (id, name, addr, role, state) VALUES (?1, "
		"?2, ?3, ?4, ?5) ON CONFLICT (id) DO UPDATE SET "
		"name = excluded.name, addr = excluded.addr, "
		"role = excluded.role, state = excluded.state", false },
	/* The node's disks go with it: ON DELETE CASCADE. */
	[ST_NODE_DELETE] = { "DELETE FROM nodes WHERE id = ?1", false },
	[ST_NODE_LIST] = {
		"SELECT id, name, addr, role, state FROM nodes ORDER BY id",
		true },
	/* Never the draining flag: a new disk gets 0, a known one keeps
	 * its own. */
	[ST_DISK_PUT] = {
		"INSERT INTO disks (id, node_id, path, capacity, free, state) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO UPDATE "
		"SET node_id = excluded.node_id, path = excluded.path, "
		"capacity = excluded.capacity, free = excluded.free, "
		"state = excluded.state", false },
	[ST_DISK_LIST] = {
		"SELECT id, node_id, path, capacity, free, state, draining "
		"FROM disks ORDER BY id", true },
	[ST_DISK_DRAIN] = {
		"UPDATE disks SET draining = ?2 WHERE id = ?1", false },
	[ST_DISK_OF_NODE] = {
		"SELECT 1 FROM disks WHERE id = ?1 AND node_id = ?2", false },

	/* Scans only the small per-cluster tables; chunks are reached by the
	 * chunks_not_ok and chunks_by_disk indexes (the IN, not a join, so
	 * SQLite cannot choose to walk all of chunks_by_disk), and the
	 * UNION's temporary tree holds one id per degraded stripe. */
	[ST_DEGRADED_COUNT] = {
		"SELECT count(*) FROM ("
		" SELECT stripe_id FROM chunks WHERE state != 0"
		" UNION"
		" SELECT stripe_id FROM chunks WHERE disk IN ("
		"  SELECT d.id FROM disks d JOIN nodes n ON n.id = d.node_id"
		"  WHERE d.state = ?1 OR n.state = ?2))", true },

	[ST_LEASE_GET] = {
		"SELECT session FROM dir_leases WHERE dir = ?1", false },
	[ST_LEASE_PUT] = {
		"INSERT OR REPLACE INTO dir_leases (dir, session) "
		"VALUES (?1, ?2)", false },
	[ST_LEASE_DELETE] = { "DELETE FROM dir_leases WHERE dir = ?1", false },
	/* The release of a session: the row only if that session holds it;
	 * sqlite3_changes() says whether it did. */
	[ST_LEASE_RELEASE] = {
		"DELETE FROM dir_leases WHERE dir = ?1 AND session = ?2",
		false },
	[ST_LEASE_LIST] = {
		"SELECT dir, session FROM dir_leases WHERE dir > ?1 "
		"ORDER BY dir LIMIT ?2", false },

	[ST_REQ_GET] = { "SELECT result FROM requests WHERE name = ?1", false },
	[ST_REQ_PUT] = {
		"INSERT OR REPLACE INTO requests (name, idx, result) "
		"VALUES (?1, ?2, ?3)", false },
	[ST_REQ_PRUNE] = { "DELETE FROM requests WHERE idx < ?1", false },
};
