/* query: the read side of the metadata store, and the inode row helpers
 * apply shares with it.
 *
 * Every listing is keyset-paginated: the caller passes the last key it saw
 * (cookie, ino, sidx, stripe id) and a limit, the statement seeks to the key
 * through an index and stops after the limit, so a call costs the same on
 * the millionth entry as on the first and never holds a directory or the
 * file table in memory.  Rows go to the caller's callback one at a time,
 * with the store's lock held.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "metadata/meta_internal.h"

/* ---- inode rows ---- */

void wfs_meta_row_inode(sqlite3_stmt *st, int col, struct meta_inode *in)
{
	struct wfs_meta_attr *a = &in->a;

	a->ino = (uint64_t)sqlite3_column_int64(st, col);
	a->mode = (uint32_t)sqlite3_column_int64(st, col + 1);
	a->nlink = (uint32_t)sqlite3_column_int64(st, col + 2);
	a->uid = (uint32_t)sqlite3_column_int64(st, col + 3);
	a->gid = (uint32_t)sqlite3_column_int64(st, col + 4);
	a->size = (uint64_t)sqlite3_column_int64(st, col + 5);
	a->bytes = (uint64_t)sqlite3_column_int64(st, col + 6);
	a->rdev = (uint64_t)sqlite3_column_int64(st, col + 7);
	a->atime_ns = sqlite3_column_int64(st, col + 8);
	a->mtime_ns = sqlite3_column_int64(st, col + 9);
	a->ctime_ns = sqlite3_column_int64(st, col + 10);
	a->btime_ns = sqlite3_column_int64(st, col + 11);
	a->generation = (uint64_t)sqlite3_column_int64(st, col + 12);
	a->policy_id = (uint32_t)sqlite3_column_int64(st, col + 13);
	in->parent = (uint64_t)sqlite3_column_int64(st, col + 14);
}

int wfs_meta_inode_load(struct wfs_meta *m, uint64_t ino,
			struct meta_inode *in)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_INODE_GET);
	int rc;

	wfs_meta_bind_u64(st, 1, ino);
	rc = wfs_meta_step(m, st);
	if (rc == 1)
		wfs_meta_row_inode(st, 0, in);
	sqlite3_reset(st);
	return rc == 1 ? 0 : rc == 0 ? -ENOENT : rc;
}

/* Bind @in and @target to ST_INODE_INSERT or ST_INODE_INSERT_NEW. */
static void bind_insert(sqlite3_stmt *st, const struct meta_inode *in,
			struct wfs_meta_bytes target)
{
	const struct wfs_meta_attr *a = &in->a;

	wfs_meta_bind_u64(st, 1, a->ino);
	sqlite3_bind_int64(st, 2, a->mode);
	sqlite3_bind_int64(st, 3, a->nlink);
	sqlite3_bind_int64(st, 4, a->uid);
	sqlite3_bind_int64(st, 5, a->gid);
	wfs_meta_bind_u64(st, 6, a->size);
	wfs_meta_bind_u64(st, 7, a->bytes);
	wfs_meta_bind_u64(st, 8, a->rdev);
	sqlite3_bind_int64(st, 9, a->atime_ns);
	sqlite3_bind_int64(st, 10, a->mtime_ns);
	sqlite3_bind_int64(st, 11, a->ctime_ns);
	sqlite3_bind_int64(st, 12, a->btime_ns);
	wfs_meta_bind_u64(st, 13, a->generation);
	sqlite3_bind_int64(st, 14, a->policy_id);
	wfs_meta_bind_u64(st, 15, in->parent);
	if (target.len)
		wfs_meta_bind_blob(st, 16, target);
	else
		sqlite3_bind_null(st, 16);
}

int wfs_meta_inode_insert(struct wfs_meta *m, const struct meta_inode *in,
			  struct wfs_meta_bytes target)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_INODE_INSERT);

	bind_insert(st, in, target);
	return wfs_meta_exec(m, st);
}

int wfs_meta_inode_insert_new(struct wfs_meta *m, const struct meta_inode *in,
			      struct wfs_meta_bytes target)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_INODE_INSERT_NEW);
	int rc;

	bind_insert(st, in, target);
	rc = wfs_meta_exec(m, st);
	if (rc == 0 && sqlite3_changes(m->db) == 0)
		rc = -EEXIST;
	return rc;
}

int wfs_meta_inode_store(struct wfs_meta *m, const struct meta_inode *in)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_INODE_UPDATE);
	const struct wfs_meta_attr *a = &in->a;

	wfs_meta_bind_u64(st, 1, a->ino);
	sqlite3_bind_int64(st, 2, a->mode);
	sqlite3_bind_int64(st, 3, a->nlink);
	sqlite3_bind_int64(st, 4, a->uid);
	sqlite3_bind_int64(st, 5, a->gid);
	wfs_meta_bind_u64(st, 6, a->size);
	wfs_meta_bind_u64(st, 7, a->bytes);
	sqlite3_bind_int64(st, 8, a->atime_ns);
	sqlite3_bind_int64(st, 9, a->mtime_ns);
	sqlite3_bind_int64(st, 10, a->ctime_ns);
	sqlite3_bind_int64(st, 11, a->policy_id);
	wfs_meta_bind_u64(st, 12, in->parent);
	return wfs_meta_exec(m, st);
}

int wfs_meta_policy_resolve(struct wfs_meta *m, const struct meta_inode *dir,
			    uint32_t *policy_id)
{
	struct meta_inode cur = *dir;
	int rc;

	for (int depth = 0; depth < META_DEPTH_MAX; depth++) {
		if (cur.a.policy_id) {
			*policy_id = cur.a.policy_id;
			return 0;
		}
		if (cur.a.ino == WFS_META_ROOT_INO) {
			*policy_id = WFS_META_DEFAULT_POLICY;
			return 0;
		}
		rc = wfs_meta_inode_load(m, cur.parent, &cur);
		if (rc < 0)
			return rc;
	}
	return -ELOOP;
}

/* ---- helpers of the listings ---- */

/* A key from the caller above every stored one (they are below 2^63):
 * nothing lies past it. */
static bool key_past_end(uint64_t key)
{
	return key >= (uint64_t)INT64_MAX;
}

/* Count a row the callback took, given what it returned: 0 to go on, 1 to
 * stop, or the callback's error. */
static int deliver(int cb_rc, int *count)
{
	if (cb_rc < 0)
		return cb_rc;
	(*count)++;
	return cb_rc ? 1 : 0;
}

/* Finish a listing: the count, or the error that ended it. */
static int listing_end(sqlite3_stmt *st, int rc, int count)
{
	sqlite3_reset(st);
	return rc < 0 ? rc : count;
}

/* ---- inodes and names ---- */

int wfs_meta_getattr(struct wfs_meta *m, uint64_t ino,
		     struct wfs_meta_attr *attr)
{
	struct meta_inode in;
	int rc;

	pthread_mutex_lock(&m->lock);
	rc = wfs_meta_inode_load(m, ino, &in);
	pthread_mutex_unlock(&m->lock);
	if (rc == 0)
		*attr = in.a;
	return rc;
}

/* Why @name is not in @parent: the directory is missing, or not one. */
static int lookup_miss(struct wfs_meta *m, uint64_t parent)
{
	struct meta_inode dir;
	int rc = wfs_meta_inode_load(m, parent, &dir);

	if (rc < 0)
		return rc;
	return S_ISDIR(dir.a.mode) ? -ENOENT : -ENOTDIR;
}

/* "." and "..": the directory itself or the one holding it. */
static int lookup_dots(struct wfs_meta *m, uint64_t parent, bool up,
		       struct meta_inode *in)
{
	int rc = wfs_meta_inode_load(m, parent, in);

	if (rc < 0)
		return rc;
	if (!S_ISDIR(in->a.mode))
		return -ENOTDIR;
	return up ? wfs_meta_inode_load(m, in->parent, in) : 0;
}

static int lookup_locked(struct wfs_meta *m, uint64_t parent,
			 struct wfs_meta_bytes name, struct meta_inode *in)
{
	sqlite3_stmt *st;
	int rc;

	if (name.len == 1 && ((const char *)name.data)[0] == '.')
		return lookup_dots(m, parent, false, in);
	if (name.len == 2 && memcmp(name.data, "..", 2) == 0)
		return lookup_dots(m, parent, true, in);
	rc = wfs_meta_name_check(name);
	if (rc < 0)
		return rc;
	st = wfs_meta_stmt(m, ST_LOOKUP);
	wfs_meta_bind_u64(st, 1, parent);
	wfs_meta_bind_blob(st, 2, name);
	rc = wfs_meta_step(m, st);
	if (rc == 1)
		wfs_meta_row_inode(st, 0, in);
	sqlite3_reset(st);
	return rc == 1 ? 0 : rc == 0 ? lookup_miss(m, parent) : rc;
}

int wfs_meta_lookup(struct wfs_meta *m, uint64_t parent,
		    struct wfs_meta_bytes name, struct wfs_meta_attr *attr)
{
	struct meta_inode in;
	int rc;

	pthread_mutex_lock(&m->lock);
	rc = lookup_locked(m, parent, name, &in);
	pthread_mutex_unlock(&m->lock);
	if (rc == 0)
		*attr = in.a;
	return rc;
}

static int readdir_locked(struct wfs_meta *m, uint64_t dir, uint64_t after,
			  unsigned limit, wfs_meta_dirent_cb cb, void *arg)
{
	struct meta_inode d;
	sqlite3_stmt *st;
	int rc, count = 0;

	rc = wfs_meta_inode_load(m, dir, &d);
	if (rc < 0)
		return rc;
	if (!S_ISDIR(d.a.mode))
		return -ENOTDIR;
	if (limit == 0 || key_past_end(after))
		return 0;
	st = wfs_meta_stmt(m, ST_READDIR);
	wfs_meta_bind_u64(st, 1, dir);
	wfs_meta_bind_u64(st, 2, after);
	sqlite3_bind_int64(st, 3, limit);
	while ((rc = wfs_meta_step(m, st)) == 1) {
		struct wfs_meta_dirent ent;

		ent.cookie = (uint64_t)sqlite3_column_int64(st, 0);
		ent.ino = (uint64_t)sqlite3_column_int64(st, 1);
		ent.name = wfs_meta_col_bytes(st, 2);
		ent.mode = (uint32_t)sqlite3_column_int64(st, 3);
		rc = deliver(cb(&ent, arg), &count);
		if (rc)
			break;
	}
	return listing_end(st, rc, count);
}

int wfs_meta_readdir(struct wfs_meta *m, uint64_t dir, uint64_t after,
		     unsigned limit, wfs_meta_dirent_cb cb, void *arg)
{
	int rc;

	pthread_mutex_lock(&m->lock);
	rc = readdir_locked(m, dir, after, limit, cb, arg);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/* Inodes from ST_INODE_LIST or ST_ORPHAN_LIST. */
static int list_inodes(struct wfs_meta *m, enum meta_stmt_id id,
		       uint64_t after, unsigned limit, wfs_meta_attr_cb cb,
		       void *arg)
{
	sqlite3_stmt *st;
	int rc, count = 0;

	if (limit == 0 || key_past_end(after))
		return 0;
	pthread_mutex_lock(&m->lock);
	st = wfs_meta_stmt(m, id);
	wfs_meta_bind_u64(st, 1, after);
	sqlite3_bind_int64(st, 2, limit);
	while ((rc = wfs_meta_step(m, st)) == 1) {
		struct meta_inode in;

		wfs_meta_row_inode(st, 0, &in);
		rc = deliver(cb(&in.a, arg), &count);
		if (rc)
			break;
	}
	rc = listing_end(st, rc, count);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int wfs_meta_inodes(struct wfs_meta *m, uint64_t after, unsigned limit,
		    wfs_meta_attr_cb cb, void *arg)
{
	return list_inodes(m, ST_INODE_LIST, after, limit, cb, arg);
}

int wfs_meta_orphans(struct wfs_meta *m, uint64_t after, unsigned limit,
		     wfs_meta_attr_cb cb, void *arg)
{
	return list_inodes(m, ST_ORPHAN_LIST, after, limit, cb, arg);
}

/* ---- directory leases ---- */

int wfs_meta_lease_holder(struct wfs_meta *m, uint64_t dir,
			  uint64_t *session)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_LEASE_GET);
	int rc;

	wfs_meta_bind_u64(st, 1, dir);
	rc = wfs_meta_step(m, st);
	*session = rc == 1 ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return rc < 0 ? rc : 0;
}

int wfs_meta_lease_get(struct wfs_meta *m, uint64_t dir, uint64_t *session)
{
	int rc;

	pthread_mutex_lock(&m->lock);
	rc = wfs_meta_lease_holder(m, dir, session);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static int leases_locked(struct wfs_meta *m, uint64_t after, unsigned limit,
			 wfs_meta_lease_cb cb, void *arg)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_LEASE_LIST);
	int rc, count = 0;

	wfs_meta_bind_u64(st, 1, after);
	sqlite3_bind_int64(st, 2, limit);
	while ((rc = wfs_meta_step(m, st)) == 1) {
		uint64_t dir = (uint64_t)sqlite3_column_int64(st, 0);
		uint64_t session = (uint64_t)sqlite3_column_int64(st, 1);

		rc = deliver(cb(arg, dir, session), &count);
		if (rc)
			break;
	}
	return listing_end(st, rc, count);
}

int wfs_meta_leases(struct wfs_meta *m, uint64_t after, unsigned limit,
		    wfs_meta_lease_cb cb, void *arg)
{
	int rc;

	if (limit == 0 || key_past_end(after))
		return 0;
	pthread_mutex_lock(&m->lock);
	rc = leases_locked(m, after, limit, cb, arg);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static int readlink_locked(struct wfs_meta *m, uint64_t ino, char *buf,
			   size_t cap)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_INODE_TARGET);
	struct wfs_meta_bytes target;
	int rc;

	wfs_meta_bind_u64(st, 1, ino);
	rc = wfs_meta_step(m, st);
	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	target = wfs_meta_col_bytes(st, 1);
	if (!S_ISLNK((uint32_t)sqlite3_column_int64(st, 0)))
		rc = -EINVAL;
	else if (target.len >= cap)
		rc = -ERANGE;
	else {
		memcpy(buf, target.data, target.len);
		buf[target.len] = '\0';
		rc = (int)target.len;
	}
	sqlite3_reset(st);
	return rc;
}

int wfs_meta_readlink(struct wfs_meta *m, uint64_t ino, char *buf, size_t cap)
{
	int rc;

	pthread_mutex_lock(&m->lock);
	rc = readlink_locked(m, ino, buf, cap);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/* ---- xattrs ---- */

/* -ENOENT when inode @ino does not exist, else 0. */
static int inode_exists(struct wfs_meta *m, uint64_t ino)
{
	struct meta_inode in;

	return wfs_meta_inode_load(m, ino, &in);
}

static int getxattr_locked(struct wfs_meta *m, uint64_t ino,
			   struct wfs_meta_bytes name, void *buf, size_t cap)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_XATTR_GET);
	struct wfs_meta_bytes v;
	int rc;

	wfs_meta_bind_u64(st, 1, ino);
	wfs_meta_bind_blob(st, 2, name);
	rc = wfs_meta_step(m, st);
	if (rc <= 0) {
		sqlite3_reset(st);
		if (rc == 0)
			rc = inode_exists(m, ino);
		return rc < 0 ? rc : -ENODATA;
	}
	v = wfs_meta_col_bytes(st, 0);
	if (cap && v.len > cap) {
		rc = -ERANGE;
	} else {
		if (cap && v.len)
			memcpy(buf, v.data, v.len);
		rc = (int)v.len;
	}
	sqlite3_reset(st);
	return rc;
}

int wfs_meta_getxattr(struct wfs_meta *m, uint64_t ino,
		      struct wfs_meta_bytes name, void *buf, size_t cap)
{
	int rc;

	pthread_mutex_lock(&m->lock);
	rc = getxattr_locked(m, ino, name, buf, cap);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

static int listxattr_locked(struct wfs_meta *m, uint64_t ino, char *buf,
			    size_t cap)
{
	sqlite3_stmt *st;
	size_t len = 0;
	int rc;

	rc = inode_exists(m, ino);
	if (rc < 0)
		return rc;
	st = wfs_meta_stmt(m, ST_XATTR_LIST);
	wfs_meta_bind_u64(st, 1, ino);
	while ((rc = wfs_meta_step(m, st)) == 1) {
		struct wfs_meta_bytes name = wfs_meta_col_bytes(st, 0);

		if (cap && len + name.len + 1 <= cap) {
			memcpy(buf + len, name.data, name.len);
			buf[len + name.len] = '\0';
		}
		len += name.len + 1;
	}
	sqlite3_reset(st);
	if (rc < 0)
		return rc;
	return cap && len > cap ? -ERANGE : (int)len;
}

int wfs_meta_listxattr(struct wfs_meta *m, uint64_t ino, char *buf, size_t cap)
{
	int rc;

	pthread_mutex_lock(&m->lock);
	rc = listxattr_locked(m, ino, buf, cap);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/* ---- stripes ---- */

/* A stripe record and room for the node and disk ids of its chunks, which
 * must outlive the statement rows they came from. */
struct stripe_buf {
	struct wfs_meta_stripe s;
	char ids[WFS_META_CHUNKS_MAX][2][WFS_META_ID_MAX];
};

/* Copy a node or disk id into @dst; ids longer than apply allows (only a
 * damaged store has them) are cut. */
static struct wfs_meta_bytes copy_id(char *dst, struct wfs_meta_bytes b)
{
	size_t n = b.len < WFS_META_ID_MAX ? b.len : WFS_META_ID_MAX;

	memcpy(dst, b.data, n);
	return (struct wfs_meta_bytes){ dst, n };
}

/* Add a chunk to @sb, copying its ids. */
static void add_chunk(struct stripe_buf *sb, uint32_t index, uint32_t state,
		      struct wfs_meta_bytes node, struct wfs_meta_bytes disk)
{
	struct wfs_meta_chunk_loc *loc = &sb->s.chunks[sb->s.nchunks];

	loc->index = index;
	loc->state = state;
	loc->node = copy_id(sb->ids[sb->s.nchunks][0], node);
	loc->disk = copy_id(sb->ids[sb->s.nchunks][1], disk);
	sb->s.nchunks++;
}

static int load_chunks(struct wfs_meta *m, struct stripe_buf *sb)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_CHUNK_LIST);
	int rc;

	sb->s.nchunks = 0;
	wfs_meta_bind_u64(st, 1, sb->s.stripe_id);
	while ((rc = wfs_meta_step(m, st)) == 1) {
		if (sb->s.nchunks == WFS_META_CHUNKS_MAX) {
			rc = -EBADMSG;	/* apply never stores more */
			break;
		}
		/* columns: idx, state, node, disk */
		add_chunk(sb, (uint32_t)sqlite3_column_int64(st, 0),
			  (uint32_t)sqlite3_column_int64(st, 1),
			  wfs_meta_col_bytes(st, 2), wfs_meta_col_bytes(st, 3));
	}
	sqlite3_reset(st);
	return rc;
}

/* Fill the geometry of @sb from kind, k, m, chunk_size, length at @col. */
static void row_geometry(struct stripe_buf *sb, sqlite3_stmt *st, int col)
{
	sb->s.kind = (uint32_t)sqlite3_column_int64(st, col);
	sb->s.k = (uint32_t)sqlite3_column_int64(st, col + 1);
	sb->s.m = (uint32_t)sqlite3_column_int64(st, col + 2);
	sb->s.chunk_size = (uint32_t)sqlite3_column_int64(st, col + 3);
	sb->s.length = (uint32_t)sqlite3_column_int64(st, col + 4);
}

/* Load stripe @sid with its chunks into @sb.  Returns 0, -ENOENT. */
static int stripe_load(struct wfs_meta *m, uint64_t sid, struct stripe_buf *sb)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_STRIPE_BY_ID);
	int rc;

	wfs_meta_bind_u64(st, 1, sid);
	rc = wfs_meta_step(m, st);
	if (rc == 1) {
		/* columns: ino, sidx, version, kind, k, m, chunk_size, length */
		sb->s.stripe_id = sid;
		sb->s.ino = (uint64_t)sqlite3_column_int64(st, 0);
		sb->s.sidx = (uint64_t)sqlite3_column_int64(st, 1);
		sb->s.version = (uint64_t)sqlite3_column_int64(st, 2);
		row_geometry(sb, st, 3);
	}
	sqlite3_reset(st);
	if (rc <= 0)
		return rc == 0 ? -ENOENT : rc;
	return load_chunks(m, sb);
}

static int stripes_locked(struct wfs_meta *m, uint64_t ino, uint64_t from,
			  unsigned limit, wfs_meta_stripe_cb cb, void *arg)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_STRIPE_LIST);
	struct stripe_buf sb;
	int rc, count = 0;

	wfs_meta_bind_u64(st, 1, ino);
	wfs_meta_bind_u64(st, 2, from);
	sqlite3_bind_int64(st, 3, limit);
	while ((rc = wfs_meta_step(m, st)) == 1) {
		/* columns: stripe_id, sidx, version, kind, k, m, chunk_size,
		 * length */
		sb.s.ino = ino;
		sb.s.stripe_id = (uint64_t)sqlite3_column_int64(st, 0);
		sb.s.sidx = (uint64_t)sqlite3_column_int64(st, 1);
		sb.s.version = (uint64_t)sqlite3_column_int64(st, 2);
		row_geometry(&sb, st, 3);
		rc = load_chunks(m, &sb);
		if (rc == 0)
			rc = deliver(cb(&sb.s, arg), &count);
		if (rc)
			break;
	}
	return listing_end(st, rc, count);
}

int wfs_meta_stripes(struct wfs_meta *m, uint64_t ino, uint64_t from,
		     unsigned limit, wfs_meta_stripe_cb cb, void *arg)
{
	int rc;

	if (limit == 0 || from > (uint64_t)INT64_MAX)
		return 0;
	pthread_mutex_lock(&m->lock);
	rc = stripes_locked(m, ino, from, limit, cb, arg);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int wfs_meta_stripe_get(struct wfs_meta *m, uint64_t stripe_id,
			wfs_meta_stripe_cb cb, void *arg)
{
	struct stripe_buf sb;
	int rc;

	pthread_mutex_lock(&m->lock);
	rc = stripe_load(m, stripe_id, &sb);
	if (rc == 0)
		rc = cb(&sb.s, arg);
	pthread_mutex_unlock(&m->lock);
	return rc < 0 ? rc : 0;
}

static int disk_stripes_locked(struct wfs_meta *m, struct wfs_meta_bytes disk,
			       uint64_t after, unsigned limit,
			       wfs_meta_stripe_cb cb, void *arg)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_DISK_STRIPES);
	struct stripe_buf sb;
	int rc, count = 0;

	wfs_meta_bind_text(st, 1, disk);
	wfs_meta_bind_u64(st, 2, after);
	sqlite3_bind_int64(st, 3, limit);
	while ((rc = wfs_meta_step(m, st)) == 1) {
		rc = stripe_load(m, (uint64_t)sqlite3_column_int64(st, 0), &sb);
		if (rc == 0)
			rc = deliver(cb(&sb.s, arg), &count);
		if (rc)
			break;
	}
	return listing_end(st, rc, count);
}

int wfs_meta_disk_stripes(struct wfs_meta *m, struct wfs_meta_bytes disk,
			  uint64_t after_stripe, unsigned limit,
			  wfs_meta_stripe_cb cb, void *arg)
{
	int rc;

	if (limit == 0 || key_past_end(after_stripe))
		return 0;
	pthread_mutex_lock(&m->lock);
	rc = disk_stripes_locked(m, disk, after_stripe, limit, cb, arg);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/* Run count statement @id for @disk up to @limit into *n.  m->lock held. */
static int count_locked(struct wfs_meta *m, enum meta_stmt_id id,
			struct wfs_meta_bytes disk, uint64_t limit,
			uint64_t *n)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, id);
	int rc;

	wfs_meta_bind_text(st, 1, disk);
	wfs_meta_bind_u64(st, 2, limit);
	rc = wfs_meta_step(m, st);
	*n = rc == 1 ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return rc < 0 ? rc : 0;
}

int wfs_meta_disk_chunks(struct wfs_meta *m, struct wfs_meta_bytes disk,
			 uint64_t limit, struct wfs_meta_disk_count *count)
{
	uint64_t all = 0, missing = 0;
	int rc;

	memset(count, 0, sizeof(*count));
	if (limit == 0 || limit > INT64_MAX)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	rc = count_locked(m, ST_DISK_CHUNK_COUNT, disk, limit, &all);
	if (rc == 0)
		rc = count_locked(m, ST_DISK_MISSING_COUNT, disk, limit,
				  &missing);
	pthread_mutex_unlock(&m->lock);
	if (rc < 0)
		return rc;
	count->missing = missing;
	count->ok = all > missing ? all - missing : 0;
	count->more = all >= limit;
	return 0;
}

static int garbage_locked(struct wfs_meta *m, uint64_t after, unsigned limit,
			  wfs_meta_stripe_cb cb, void *arg)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_GARBAGE_LIST);
	struct stripe_buf sb;
	int rc, count = 0;

	memset(&sb.s, 0, sizeof(sb.s));
	wfs_meta_bind_u64(st, 1, after);
	sqlite3_bind_int64(st, 2, limit);
	while ((rc = wfs_meta_step(m, st)) == 1) {
		/* columns: stripe_id, idx, node, disk */
		uint64_t sid = (uint64_t)sqlite3_column_int64(st, 0);
		bool next = sid != sb.s.stripe_id;

		if (sb.s.nchunks && (next ||
				     sb.s.nchunks == WFS_META_CHUNKS_MAX)) {
			rc = cb(&sb.s, arg);
			count += next;
			if (rc)
				break;
			sb.s.nchunks = 0;
		}
		sb.s.stripe_id = sid;
		add_chunk(&sb, (uint32_t)sqlite3_column_int64(st, 1),
			  WFS_META_CHUNK_OK, wfs_meta_col_bytes(st, 2),
			  wfs_meta_col_bytes(st, 3));
	}
	if (rc == 0 && sb.s.nchunks) {
		rc = cb(&sb.s, arg);
		count++;
	}
	return listing_end(st, rc < 0 ? rc : 0, count);
}

int wfs_meta_garbage(struct wfs_meta *m, uint64_t after_stripe, unsigned limit,
		     wfs_meta_stripe_cb cb, void *arg)
{
	int rc;

	if (limit == 0 || key_past_end(after_stripe))
		return 0;
	pthread_mutex_lock(&m->lock);
	rc = garbage_locked(m, after_stripe, limit, cb, arg);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/* ---- policies, nodes, disks, cluster ---- */

static void row_policy(sqlite3_stmt *st, struct wfs_meta_policy *p)
{
	struct wfs_meta_bytes name = wfs_meta_col_bytes(st, 1);
	size_t n = name.len < WFS_META_NAME_MAX ? name.len : WFS_META_NAME_MAX;

	p->id = (uint32_t)sqlite3_column_int64(st, 0);
	memcpy(p->name, name.data, n);
	p->name[n] = '\0';
	p->k = (uint32_t)sqlite3_column_int64(st, 2);
	p->m = (uint32_t)sqlite3_column_int64(st, 3);
	p->chunk_size = (uint32_t)sqlite3_column_int64(st, 4);
}

static int policy_get_locked(struct wfs_meta *m, uint32_t id,
			     struct wfs_meta_policy *out)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_POLICY_GET);
	int rc;

	sqlite3_bind_int64(st, 1, id);
	rc = wfs_meta_step(m, st);
	if (rc == 1)
		row_policy(st, out);
	sqlite3_reset(st);
	return rc == 1 ? 0 : rc == 0 ? -ENOENT : rc;
}

int wfs_meta_policy_get(struct wfs_meta *m, uint32_t id,
			struct wfs_meta_policy *out)
{
	int rc;

	pthread_mutex_lock(&m->lock);
	rc = policy_get_locked(m, id, out);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int wfs_meta_policy_for(struct wfs_meta *m, uint64_t dir,
			struct wfs_meta_policy *out)
{
	struct meta_inode d;
	uint32_t id;
	int rc;

	pthread_mutex_lock(&m->lock);
	rc = wfs_meta_inode_load(m, dir, &d);
	if (rc == 0 && !S_ISDIR(d.a.mode))
		rc = -ENOTDIR;
	if (rc == 0)
		rc = wfs_meta_policy_resolve(m, &d, &id);
	if (rc == 0)
		rc = policy_get_locked(m, id, out);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int wfs_meta_policies(struct wfs_meta *m, wfs_meta_policy_cb cb, void *arg)
{
	sqlite3_stmt *st;
	int rc, count = 0;

	pthread_mutex_lock(&m->lock);
	st = wfs_meta_stmt(m, ST_POLICY_LIST);
	while ((rc = wfs_meta_step(m, st)) == 1) {
		struct wfs_meta_policy p;

		row_policy(st, &p);
		rc = deliver(cb(&p, arg), &count);
		if (rc)
			break;
	}
	rc = listing_end(st, rc, count);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int wfs_meta_nodes(struct wfs_meta *m, wfs_meta_node_cb cb, void *arg)
{
	sqlite3_stmt *st;
	int rc, count = 0;

	pthread_mutex_lock(&m->lock);
	st = wfs_meta_stmt(m, ST_NODE_LIST);
	while ((rc = wfs_meta_step(m, st)) == 1) {
		struct wfs_meta_node n;

		n.id = wfs_meta_col_bytes(st, 0);
		n.name = wfs_meta_col_bytes(st, 1);
		n.addr = wfs_meta_col_bytes(st, 2);
		n.role = (uint32_t)sqlite3_column_int64(st, 3);
		n.state = (uint32_t)sqlite3_column_int64(st, 4);
		rc = deliver(cb(&n, arg), &count);
		if (rc)
			break;
	}
	rc = listing_end(st, rc, count);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int wfs_meta_disks(struct wfs_meta *m, wfs_meta_disk_cb cb, void *arg)
{
	sqlite3_stmt *st;
	int rc, count = 0;

	pthread_mutex_lock(&m->lock);
	st = wfs_meta_stmt(m, ST_DISK_LIST);
	while ((rc = wfs_meta_step(m, st)) == 1) {
		struct wfs_meta_disk d;

		d.id = wfs_meta_col_bytes(st, 0);
		d.node_id = wfs_meta_col_bytes(st, 1);
		d.path = wfs_meta_col_bytes(st, 2);
		d.capacity = (uint64_t)sqlite3_column_int64(st, 3);
		d.free = (uint64_t)sqlite3_column_int64(st, 4);
		d.state = (uint32_t)sqlite3_column_int64(st, 5);
		d.draining = sqlite3_column_int64(st, 6) != 0;
		rc = deliver(cb(&d, arg), &count);
		if (rc)
			break;
	}
	rc = listing_end(st, rc, count);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int wfs_meta_stripes_degraded(struct wfs_meta *m, uint32_t disk_lost,
			      uint32_t node_lost, uint64_t *count)
{
	sqlite3_stmt *st;
	int rc;

	pthread_mutex_lock(&m->lock);
	st = wfs_meta_stmt(m, ST_DEGRADED_COUNT);
	sqlite3_bind_int64(st, 1, disk_lost);
	sqlite3_bind_int64(st, 2, node_lost);
	rc = wfs_meta_step(m, st);
	*count = rc == 1 ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	pthread_mutex_unlock(&m->lock);
	return rc < 0 ? rc : 0;
}

/* The bytes of kv row @key into @buf: their length, -ENOENT when there is
 * no such row, -ERANGE if @cap is too small.  m->lock held. */
static int kv_get_locked(struct wfs_meta *m, const char *key, void *buf,
			 size_t cap)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_KV_GET);
	struct wfs_meta_bytes v;
	int rc;

	sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
	rc = wfs_meta_step(m, st);
	if (rc == 1) {
		v = wfs_meta_col_bytes(st, 0);
		if (v.len > cap) {
			rc = -ERANGE;
		} else {
			if (v.len)
				memcpy(buf, v.data, v.len);
			rc = (int)v.len;
		}
	} else if (rc == 0) {
		rc = -ENOENT;
	}
	sqlite3_reset(st);
	return rc;
}

int wfs_meta_setting(struct wfs_meta *m, const char *key, void *buf,
		     size_t cap)
{
	char name[WFS_META_ID_MAX + 16];
	int rc;

	if (!key[0] || strlen(key) > WFS_META_ID_MAX)
		return -EINVAL;
	snprintf(name, sizeof(name), "setting:%s", key);
	pthread_mutex_lock(&m->lock);
	rc = kv_get_locked(m, name, buf, cap);
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int wfs_meta_cluster_id(struct wfs_meta *m, void *buf, size_t cap)
{
	int rc;

	pthread_mutex_lock(&m->lock);
	rc = kv_get_locked(m, "cluster_id", buf, cap);
	if (rc == -ENOENT)
		rc = -ENODEV;	/* before FORMAT */
	pthread_mutex_unlock(&m->lock);
	return rc;
}
