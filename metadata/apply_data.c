/* apply_data: the ops on what an inode holds and on the cluster: FORMAT,
 * attributes and xattrs, stripe ids, stripe commits, chunk moves, garbage
 * collection, policies, nodes and disks.
 *
 * As in apply_ns.c, each handler validates what it was given (an op may
 * come from a caller, not only from the decoder), returns the op's own
 * error as a negative errno, and leaves undoing partial writes to the
 * savepoint meta.c holds around it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "metadata/meta_internal.h"

/* The widest stripe span a valid geometry allows: 16 x 64 MiB. */
#define META_SPAN_SHIFT 30

/* Ids one RESERVE_IDS may hand out. */
#define META_RESERVE_MAX (1u << 20)

/* listxattr(2) returns at most this much (XATTR_LIST_MAX). */
#define META_XATTR_LIST_MAX 65536

/* Highest file offset: SQLite integers are signed 64-bit. */
#define META_OFFSET_MAX ((uint64_t)INT64_MAX)

int wfs_meta_check_geometry(uint32_t k, uint32_t m, uint32_t chunk_size)
{
	if (k < 1 || k > 16 || m < 1 || m > 4)
		return -EINVAL;
	if (chunk_size < 4096 || chunk_size > (64u << 20) ||
	    (chunk_size & (chunk_size - 1)))
		return -EINVAL;
	return 0;
}

/* A string id (node, disk, cluster): 1..WFS_META_ID_MAX bytes. */
static int id_check(struct wfs_meta_bytes id)
{
	return id.len == 0 || id.len > WFS_META_ID_MAX || !id.data ? -EINVAL
								     : 0;
}

/* A name that must also be a C string (policy names): no NUL. */
static int cname_check(struct wfs_meta_bytes name, size_t max)
{
	if (name.len == 0 || name.len > max || !name.data ||
	    memchr(name.data, '\0', name.len))
		return -EINVAL;
	return 0;
}

static int kv_put_blob(struct wfs_meta *m, const char *key,
		       struct wfs_meta_bytes v)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_KV_SET);

	sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
	wfs_meta_bind_blob(st, 2, v);
	return wfs_meta_exec(m, st);
}

/* SETTING_SET: kept in kv as "setting:<key>". */
int wfs_meta_apply_setting(struct meta_apply *ap)
{
	const struct wfs_meta_op *op = ap->op;
	struct wfs_meta_bytes key = op->u.setting.key;
	char name[WFS_META_ID_MAX + 16];

	if (key.len == 0 || key.len > WFS_META_ID_MAX ||
	    op->u.setting.value.len > WFS_META_SETTING_MAX)
		return -EINVAL;
	for (size_t i = 0; i < key.len; i++) {
		char c = ((const char *)key.data)[i];

		if (!((c >= 'a' && c <= 'z') || c == '_'))
			return -EINVAL;
	}
	snprintf(name, sizeof(name), "setting:%.*s", (int)key.len,
		 (const char *)key.data);
	return kv_put_blob(ap->m, name, op->u.setting.value);
}

static int policy_put(struct wfs_meta *m, uint64_t id,
		      struct wfs_meta_bytes name, uint32_t k, uint32_t mm,
		      uint32_t chunk_size)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_POLICY_PUT);

	wfs_meta_bind_u64(st, 1, id);
	wfs_meta_bind_text(st, 2, name);
	sqlite3_bind_int64(st, 3, k);
	sqlite3_bind_int64(st, 4, mm);
	sqlite3_bind_int64(st, 5, chunk_size);
	return wfs_meta_exec(m, st);
}

int wfs_meta_apply_format(struct meta_apply *ap)
{
	static const struct wfs_meta_bytes default_name = { "default", 7 };
	const struct wfs_meta_op *op = ap->op;
	struct wfs_meta *m = ap->m;
	struct meta_inode root = { 0 };
	int rc;

	if (m->st.formatted)
		return -EEXIST;
	if (op->u.format.root_mode & ~07777u)
		return -EINVAL;
	rc = wfs_meta_check_geometry(op->u.format.k, op->u.format.m,
				     op->u.format.chunk_size);
	if (rc == 0)
		rc = id_check(op->u.format.cluster_id);
	if (rc < 0)
		return rc;
	root.a.ino = WFS_META_ROOT_INO;
	root.a.mode = S_IFDIR | op->u.format.root_mode;
	root.a.nlink = 2;
	root.a.uid = op->uid;
	root.a.gid = op->gid;
	root.a.atime_ns = root.a.mtime_ns = op->time_ns;
	root.a.ctime_ns = root.a.btime_ns = op->time_ns;
	root.a.generation = ap->index;
	root.parent = WFS_META_ROOT_INO;
	rc = wfs_meta_inode_insert(m, &root, (struct wfs_meta_bytes){ 0 });
	if (rc == 0)
		rc = policy_put(m, WFS_META_DEFAULT_POLICY, default_name,
				op->u.format.k, op->u.format.m,
				op->u.format.chunk_size);
	if (rc == 0)
		rc = kv_put_blob(m, "cluster_id", op->u.format.cluster_id);
	if (rc < 0)
		return rc;
	m->st.inodes = 1;
	m->st.formatted = true;
	ap->res->attr = root.a;
	return 0;
}

/* ---- attributes ---- */

int wfs_meta_truncate_stripes(struct wfs_meta *m, uint64_t ino, uint64_t size,
			      uint64_t *freed)
{
	static const enum meta_stmt_id steps[] = {
		ST_TRUNC_SUM, ST_TRUNC_GARBAGE, ST_TRUNC_DELETE,
	};
	sqlite3_stmt *st;
	int rc;

	*freed = 0;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		st = wfs_meta_stmt(m, steps[i]);
		wfs_meta_bind_u64(st, 1, ino);
		wfs_meta_bind_u64(st, 2, size >> META_SPAN_SHIFT);
		wfs_meta_bind_u64(st, 3, size);
		rc = wfs_meta_step(m, st);
		if (rc == 1)
			*freed = (uint64_t)sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		if (rc < 0)
			return rc;
	}
	/* Each pass shortens one straddling stripe to end at @size, which
	 * takes it out of the query; only overlapping stripes of mixed
	 * geometries make more than one. */
	for (;;) {
		uint64_t sid, len, start;

		st = wfs_meta_stmt(m, ST_TRUNC_STRADDLE);
		wfs_meta_bind_u64(st, 1, ino);
		wfs_meta_bind_u64(st, 2, size >> META_SPAN_SHIFT);
		wfs_meta_bind_u64(st, 3, size);
		rc = wfs_meta_step(m, st);
		if (rc <= 0)
			return rc;
		sid = (uint64_t)sqlite3_column_int64(st, 0);
		len = (uint64_t)sqlite3_column_int64(st, 1);
		start = (uint64_t)sqlite3_column_int64(st, 2);
		sqlite3_reset(st);
		*freed += len - (size - start);
		st = wfs_meta_stmt(m, ST_STRIPE_SET_LENGTH);
		wfs_meta_bind_u64(st, 1, sid);
		wfs_meta_bind_u64(st, 2, size - start);
		rc = wfs_meta_exec(m, st);
		if (rc < 0)
			return rc;
	}
}

/* Set the size of regular file @in to @size at @t. */
static int set_size(struct wfs_meta *m, struct meta_inode *in, uint64_t size)
{
	uint64_t freed;
	int rc;

	if (S_ISDIR(in->a.mode))
		return -EISDIR;
	if (!S_ISREG(in->a.mode))
		return -EINVAL;
	if (size > META_OFFSET_MAX)
		return -EFBIG;
	/* Cut at the smaller size: shrinking drops what lies past it, and
	 * growing must not bring back data a stripe may hold past the old
	 * end, since the bytes between are to read as zeros. */
	rc = wfs_meta_truncate_stripes(m, in->a.ino,
				       size < in->a.size ? size : in->a.size,
				       &freed);
	if (rc < 0)
		return rc;
	in->a.bytes -= freed;
	m->st.bytes -= freed;
	in->a.size = size;
	return 0;
}

/* Load inode @ino, whose attributes or xattrs the op of @ap changes: a
 * directory's lease must not be another session's. */
static int attr_load(struct meta_apply *ap, uint64_t ino,
		     struct meta_inode *in)
{
	int rc = wfs_meta_inode_load(ap->m, ino, in);

	if (rc == 0 && S_ISDIR(in->a.mode))
		rc = wfs_meta_lease_check(ap, ino);
	return rc;
}

int wfs_meta_apply_setattr(struct meta_apply *ap)
{
	const struct wfs_meta_op *op = ap->op;
	uint32_t flags = op->u.setattr.flags;
	struct meta_inode in;
	int rc;

	if (flags & ~(uint32_t)(WFS_META_SET_MODE | WFS_META_SET_UID |
				WFS_META_SET_GID | WFS_META_SET_SIZE |
				WFS_META_SET_ATIME | WFS_META_SET_MTIME |
				WFS_META_SET_CTIME))
		return -EINVAL;
	rc = attr_load(ap, op->u.setattr.ino, &in);
	if (rc == 0 && (flags & WFS_META_SET_SIZE)) {
		rc = set_size(ap->m, &in, op->u.setattr.size);
		in.a.mtime_ns = op->time_ns;
	}
	if (rc < 0)
		return rc;
	if (flags & WFS_META_SET_MODE)
		in.a.mode = (in.a.mode & S_IFMT) | (op->u.setattr.mode & 07777);
	if (flags & WFS_META_SET_UID)
		in.a.uid = op->u.setattr.uid;
	if (flags & WFS_META_SET_GID)
		in.a.gid = op->u.setattr.gid;
	if (flags & WFS_META_SET_ATIME)
		in.a.atime_ns = op->u.setattr.atime_ns;
	if (flags & WFS_META_SET_MTIME)
		in.a.mtime_ns = op->u.setattr.mtime_ns;
	in.a.ctime_ns = flags & WFS_META_SET_CTIME ? op->u.setattr.ctime_ns :
						     op->time_ns;
	rc = wfs_meta_inode_store(ap->m, &in);
	if (rc == 0)
		ap->res->attr = in.a;
	return rc;
}

/* An xattr name as setxattr(2) takes it: a C string of 1..255 bytes. */
static int xattr_name_check(struct wfs_meta_bytes name)
{
	if (name.len == 0 || name.len > WFS_META_XATTR_NAME_MAX)
		return -ERANGE;
	return memchr(name.data, '\0', name.len) ? -EINVAL : 0;
}

/* Returns 1 if @ino has xattr @name, 0 if not, or a store error. */
static int xattr_exists(struct wfs_meta *m, uint64_t ino,
			struct wfs_meta_bytes name)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_XATTR_GET);
	int rc;

	wfs_meta_bind_u64(st, 1, ino);
	wfs_meta_bind_blob(st, 2, name);
	rc = wfs_meta_step(m, st);
	sqlite3_reset(st);
	return rc;
}

/* -ENOSPC when adding @name would make @ino's name list longer than
 * listxattr(2) can return. */
static int xattr_room(struct wfs_meta *m, uint64_t ino,
		      struct wfs_meta_bytes name)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_XATTR_LIST_SIZE);
	uint64_t used = 0;
	int rc;

	wfs_meta_bind_u64(st, 1, ino);
	rc = wfs_meta_step(m, st);
	if (rc == 1)
		used = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc < 0)
		return rc;
	return used + name.len + 1 > META_XATTR_LIST_MAX ? -ENOSPC : 0;
}

/* Store @in with ctime @t and report it. */
static int touch_and_report(struct meta_apply *ap, struct meta_inode *in)
{
	int rc;

	in->a.ctime_ns = ap->op->time_ns;
	rc = wfs_meta_inode_store(ap->m, in);
	if (rc == 0)
		ap->res->attr = in->a;
	return rc;
}

int wfs_meta_apply_setxattr(struct meta_apply *ap)
{
	const struct wfs_meta_op *op = ap->op;
	uint32_t flags = op->u.xattr.flags;
	struct wfs_meta *m = ap->m;
	struct meta_inode in;
	sqlite3_stmt *st;
	int rc, exists;

	if ((flags & ~(uint32_t)(WFS_META_XATTR_CREATE |
				 WFS_META_XATTR_REPLACE)) ||
	    flags == (WFS_META_XATTR_CREATE | WFS_META_XATTR_REPLACE))
		return -EINVAL;
	rc = xattr_name_check(op->u.xattr.name);
	if (rc == 0 && op->u.xattr.value.len > WFS_META_XATTR_VALUE_MAX)
		rc = -E2BIG;
	if (rc == 0)
		rc = attr_load(ap, op->u.xattr.ino, &in);
	if (rc < 0)
		return rc;
	exists = xattr_exists(m, in.a.ino, op->u.xattr.name);
	if (exists < 0)
		return exists;
	if (exists && (flags & WFS_META_XATTR_CREATE))
		return -EEXIST;
	if (!exists && (flags & WFS_META_XATTR_REPLACE))
		return -ENODATA;
	if (!exists) {
		rc = xattr_room(m, in.a.ino, op->u.xattr.name);
		if (rc < 0)
			return rc;
	}
	st = wfs_meta_stmt(m, ST_XATTR_PUT);
	wfs_meta_bind_u64(st, 1, in.a.ino);
	wfs_meta_bind_blob(st, 2, op->u.xattr.name);
	wfs_meta_bind_blob(st, 3, op->u.xattr.value);
	rc = wfs_meta_exec(m, st);
	return rc < 0 ? rc : touch_and_report(ap, &in);
}

int wfs_meta_apply_removexattr(struct meta_apply *ap)
{
	const struct wfs_meta_op *op = ap->op;
	struct wfs_meta *m = ap->m;
	struct meta_inode in;
	sqlite3_stmt *st;
	int rc;

	rc = xattr_name_check(op->u.xattr.name);
	if (rc == 0)
		rc = attr_load(ap, op->u.xattr.ino, &in);
	if (rc < 0)
		return rc;
	st = wfs_meta_stmt(m, ST_XATTR_DELETE);
	wfs_meta_bind_u64(st, 1, in.a.ino);
	wfs_meta_bind_blob(st, 2, op->u.xattr.name);
	rc = wfs_meta_exec(m, st);
	if (rc == 0 && sqlite3_changes(m->db) == 0)
		rc = -ENODATA;
	return rc < 0 ? rc : touch_and_report(ap, &in);
}

/* ---- stripes and chunks ---- */

/* RESERVE_IDS: a range of stripe ids (STRIPE_COMMIT takes only those) or
 * of inode numbers (a MKNOD's create.ino takes only those), from the
 * counter that hands out the next one, under the same limit. */
int wfs_meta_apply_reserve(struct meta_apply *ap)
{
	uint32_t count = ap->op->u.reserve.count;
	uint64_t *next;

	switch (ap->op->u.reserve.kind) {
	case WFS_META_RESERVE_STRIPES:
		next = &ap->m->st.next_stripe;
		break;
	case WFS_META_RESERVE_INODES:
		next = &ap->m->st.next_ino;
		break;
	default:
		return -EINVAL;
	}
	if (count == 0 || count > META_RESERVE_MAX)
		return -EINVAL;
	ap->res->value = *next;
	*next += count;
	return 0;
}

/* Chunks a stripe of @kind has: k + m, or m + 1 replicas. */
static uint32_t stripe_width(uint32_t kind, uint32_t k, uint32_t m)
{
	return kind == WFS_META_STRIPE_EC ? k + m : m + 1;
}

static int loc_check(const struct wfs_meta_chunk_loc *loc, uint32_t width)
{
	if (loc->index >= width || loc->node.len > WFS_META_ID_MAX ||
	    loc->disk.len > WFS_META_ID_MAX)
		return -EINVAL;
	if (loc->state != WFS_META_CHUNK_OK &&
	    loc->state != WFS_META_CHUNK_MISSING)
		return -EINVAL;
	return 0;
}

/* Everything about a STRIPE_COMMIT that does not need the store. */
static int stripe_check(const struct wfs_meta_op *op, uint64_t next_stripe)
{
	const typeof(op->u.stripe) *s = &op->u.stripe;
	uint32_t width, seen = 0;
	uint64_t span;
	int rc;

	if (s->kind != WFS_META_STRIPE_EC && s->kind != WFS_META_STRIPE_REPLICA)
		return -EINVAL;
	rc = wfs_meta_check_geometry(s->k, s->m, s->chunk_size);
	if (rc < 0)
		return rc;
	span = (uint64_t)s->k * s->chunk_size;
	width = stripe_width(s->kind, s->k, s->m);
	if (s->length == 0 || s->length > span || s->nchunks > width ||
	    (s->nchunks && !s->chunks))
		return -EINVAL;
	for (uint32_t i = 0; i < s->nchunks; i++) {
		rc = loc_check(&s->chunks[i], width);
		if (rc < 0)
			return rc;
		if (seen & (1u << s->chunks[i].index))
			return -EINVAL;
		seen |= 1u << s->chunks[i].index;
	}
	if (s->stripe_id == 0 || s->stripe_id >= next_stripe)
		return -EINVAL;		/* never handed out by RESERVE_IDS */
	if (s->sidx > (META_OFFSET_MAX - s->length) / span ||
	    s->file_size > META_OFFSET_MAX)
		return -EFBIG;
	return 0;
}

/* Returns 1 if @stripe_id is in use (a stripe, or garbage of one). */
static int stripe_id_used(struct wfs_meta *m, uint64_t stripe_id)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_STRIPE_USED);
	int rc;

	wfs_meta_bind_u64(st, 1, stripe_id);
	rc = wfs_meta_step(m, st);
	if (rc == 1)
		rc = sqlite3_column_int(st, 0) != 0;
	sqlite3_reset(st);
	return rc;
}

/* The stripe in slot (@ino, @sidx): its id, version and length, all 0 when
 * the slot is empty. */
static int stripe_slot(struct wfs_meta *m, uint64_t ino, uint64_t sidx,
		       uint64_t cur[3])
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_STRIPE_SLOT);
	int rc;

	wfs_meta_bind_u64(st, 1, ino);
	wfs_meta_bind_u64(st, 2, sidx);
	cur[0] = cur[1] = cur[2] = 0;
	rc = wfs_meta_step(m, st);
	for (int i = 0; rc == 1 && i < 3; i++)
		cur[i] = (uint64_t)sqlite3_column_int64(st, i);
	sqlite3_reset(st);
	return rc < 0 ? rc : 0;
}

/* Send stripe @sid's chunks to garbage and drop it. */
static int stripe_retire(struct wfs_meta *m, uint64_t sid)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_CHUNK_TO_GARBAGE);
	int rc;

	wfs_meta_bind_u64(st, 1, sid);
	rc = wfs_meta_exec(m, st);
	if (rc < 0)
		return rc;
	st = wfs_meta_stmt(m, ST_STRIPE_DELETE);
	wfs_meta_bind_u64(st, 1, sid);
	return wfs_meta_exec(m, st);
}

static int chunk_put(struct wfs_meta *m, uint64_t sid,
		     const struct wfs_meta_chunk_loc *loc)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_CHUNK_PUT);

	wfs_meta_bind_u64(st, 1, sid);
	sqlite3_bind_int64(st, 2, loc->index);
	sqlite3_bind_int64(st, 3, loc->state);
	wfs_meta_bind_text(st, 4, loc->node);
	wfs_meta_bind_text(st, 5, loc->disk);
	return wfs_meta_exec(m, st);
}

static int stripe_insert(struct wfs_meta *m, const struct wfs_meta_op *op)
{
	const typeof(op->u.stripe) *s = &op->u.stripe;
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_STRIPE_INSERT);
	int rc;

	wfs_meta_bind_u64(st, 1, s->stripe_id);
	wfs_meta_bind_u64(st, 2, s->ino);
	wfs_meta_bind_u64(st, 3, s->sidx);
	wfs_meta_bind_u64(st, 4, s->expected_version + 1);
	sqlite3_bind_int64(st, 5, s->kind);
	sqlite3_bind_int64(st, 6, s->k);
	sqlite3_bind_int64(st, 7, s->m);
	sqlite3_bind_int64(st, 8, s->chunk_size);
	sqlite3_bind_int64(st, 9, s->length);
	rc = wfs_meta_exec(m, st);
	for (uint32_t i = 0; rc == 0 && i < s->nchunks; i++)
		rc = chunk_put(m, s->stripe_id, &s->chunks[i]);
	return rc;
}

int wfs_meta_apply_stripe(struct meta_apply *ap)
{
	const struct wfs_meta_op *op = ap->op;
	const typeof(op->u.stripe) *s = &op->u.stripe;
	struct wfs_meta *m = ap->m;
	struct meta_inode in;
	uint64_t cur[3];	/* stripe id, version, length */
	int rc;

	rc = wfs_meta_inode_load(m, s->ino, &in);
	if (rc == 0 && S_ISDIR(in.a.mode))
		rc = -EISDIR;
	if (rc == 0 && !S_ISREG(in.a.mode))
		rc = -EINVAL;
	if (rc == 0)
		rc = stripe_check(op, m->st.next_stripe);
	if (rc == 0) {
		rc = stripe_id_used(m, s->stripe_id);
		rc = rc == 1 ? -EEXIST : rc;
	}
	if (rc == 0)
		rc = stripe_slot(m, s->ino, s->sidx, cur);
	if (rc == 0 && cur[1] != s->expected_version)
		rc = -ESTALE;
	/* Shortened by a truncate since the writer read it: its clean bytes
	 * past the new end are stale. */
	if (rc == 0 && cur[0] && s->expected_length != WFS_META_LENGTH_ANY &&
	    cur[2] != s->expected_length)
		rc = -ESTALE;
	if (rc == 0 && cur[0])
		rc = stripe_retire(m, cur[0]);
	if (rc == 0)
		rc = stripe_insert(m, op);
	if (rc < 0)
		return rc;
	in.a.bytes += s->length - cur[2];
	m->st.bytes += s->length - cur[2];
	if (s->file_size > in.a.size)
		in.a.size = s->file_size;
	in.a.mtime_ns = op->time_ns;
	in.a.ctime_ns = op->time_ns;
	rc = wfs_meta_inode_store(m, &in);
	if (rc < 0)
		return rc;
	ap->res->attr = in.a;
	ap->res->value = s->expected_version + 1;
	return 0;
}

/* The geometry of stripe @sid: its width.  Returns 0, -ENOENT. */
static int stripe_width_of(struct wfs_meta *m, uint64_t sid, uint32_t *width)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_STRIPE_BY_ID);
	int rc;

	wfs_meta_bind_u64(st, 1, sid);
	rc = wfs_meta_step(m, st);
	if (rc == 1)
		*width = stripe_width((uint32_t)sqlite3_column_int(st, 3),
				      (uint32_t)sqlite3_column_int(st, 4),
				      (uint32_t)sqlite3_column_int(st, 5));
	sqlite3_reset(st);
	return rc == 1 ? 0 : rc == 0 ? -ENOENT : rc;
}

static bool bytes_eq(struct wfs_meta_bytes a, const void *b, size_t blen)
{
	return a.len == blen && (blen == 0 || memcmp(a.data, b, blen) == 0);
}

/* If chunk @loc->index of @sid lives somewhere other than @loc, send that
 * place to garbage. */
static int chunk_leave_old(struct wfs_meta *m, uint64_t sid,
			   const struct wfs_meta_chunk_loc *loc)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_CHUNK_GET);
	char node[WFS_META_ID_MAX], disk[WFS_META_ID_MAX];
	struct wfs_meta_bytes n, d;
	sqlite3_stmt *add;
	int rc;

	wfs_meta_bind_u64(st, 1, sid);
	sqlite3_bind_int64(st, 2, loc->index);
	rc = wfs_meta_step(m, st);
	if (rc <= 0)
		return rc;
	n = wfs_meta_col_bytes(st, 0);
	d = wfs_meta_col_bytes(st, 1);
	if (d.len == 0 || n.len > sizeof(node) || d.len > sizeof(disk) ||
	    (bytes_eq(loc->node, n.data, n.len) &&
	     bytes_eq(loc->disk, d.data, d.len))) {
		sqlite3_reset(st);
		return 0;
	}
	memcpy(node, n.data, n.len);
	memcpy(disk, d.data, d.len);
	n.data = node;
	d.data = disk;
	sqlite3_reset(st);
	add = wfs_meta_stmt(m, ST_GARBAGE_ADD);
	wfs_meta_bind_u64(add, 1, sid);
	sqlite3_bind_int64(add, 2, loc->index);
	wfs_meta_bind_text(add, 3, n);
	wfs_meta_bind_text(add, 4, d);
	return wfs_meta_exec(m, add);
}

/* CHUNK_SET's plain form: chunk @loc->index of @sid lives at @loc now
 * (the stripe's width checked by the caller). */
static int chunk_set(struct wfs_meta *m, uint64_t sid,
		     const struct wfs_meta_chunk_loc *loc)
{
	sqlite3_stmt *st;
	int rc;

	rc = chunk_leave_old(m, sid, loc);
	if (rc == 0)
		rc = chunk_put(m, sid, loc);
	if (rc < 0 || loc->disk.len == 0)
		return rc;
	/* A chunk moved back where an old copy waits for deletion: that
	 * copy is live again. */
	st = wfs_meta_stmt(m, ST_GARBAGE_DEL_LOC);
	wfs_meta_bind_u64(st, 1, sid);
	sqlite3_bind_int64(st, 2, loc->index);
	wfs_meta_bind_text(st, 3, loc->node);
	wfs_meta_bind_text(st, 4, loc->disk);
	return wfs_meta_exec(m, st);
}

/* Whether chunk @index of @sid is recorded at (@node, @disk): 1 yes, 0 no
 * (elsewhere, or no such chunk), or a store error. */
static int chunk_at(struct wfs_meta *m, uint64_t sid, uint32_t index,
		    struct wfs_meta_bytes node, struct wfs_meta_bytes disk)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_CHUNK_GET);
	struct wfs_meta_bytes n, d;
	int rc;

	wfs_meta_bind_u64(st, 1, sid);
	sqlite3_bind_int64(st, 2, index);
	rc = wfs_meta_step(m, st);
	if (rc == 1) {
		n = wfs_meta_col_bytes(st, 0);
		d = wfs_meta_col_bytes(st, 1);
		rc = bytes_eq(node, n.data, n.len) &&
		     bytes_eq(disk, d.data, d.len);
	}
	sqlite3_reset(st);
	return rc;
}

/* Whether chunk @index of @sid waits for its collector at (@node, @disk):
 * 1, 0, or a store error. */
static int garbage_at(struct wfs_meta *m, uint64_t sid, uint32_t index,
		      struct wfs_meta_bytes node, struct wfs_meta_bytes disk)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_GARBAGE_AT);
	int rc;

	wfs_meta_bind_u64(st, 1, sid);
	sqlite3_bind_int64(st, 2, index);
	wfs_meta_bind_text(st, 3, node);
	wfs_meta_bind_text(st, 4, disk);
	rc = wfs_meta_step(m, st);
	sqlite3_reset(st);
	return rc;
}

/* Whether disk @disk is recorded as a disk of node @node: 1, 0, or a
 * store error. */
static int disk_of_node(struct wfs_meta *m, struct wfs_meta_bytes node,
			struct wfs_meta_bytes disk)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_DISK_OF_NODE);
	int rc;

	wfs_meta_bind_text(st, 1, disk);
	wfs_meta_bind_text(st, 2, node);
	rc = wfs_meta_step(m, st);
	sqlite3_reset(st);
	return rc;
}

/* Whether stripe id @sid is in use (a stripe, or garbage of one): 1, 0,
 * or a store error. */
static int stripe_used(struct wfs_meta *m, uint64_t sid)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_STRIPE_USED);
	int rc;

	wfs_meta_bind_u64(st, 1, sid);
	rc = wfs_meta_step(m, st);
	if (rc == 1)
		rc = sqlite3_column_int(st, 0) != 0;
	sqlite3_reset(st);
	return rc;
}

/* What a move's inputs must be before anything changes: its shape, a
 * target that is a recorded disk of its node (a made-up one would leave
 * the metadata naming nothing, and the real copy garbage), a stripe id in
 * use (garbage rows of an id nobody used would stay for good).  Returns
 * 0, -EINVAL, -ENOENT, or a store error. */
static int move_check(struct wfs_meta *m, uint64_t sid,
		      const struct wfs_meta_chunk_loc *loc,
		      struct wfs_meta_bytes from_node,
		      struct wfs_meta_bytes from_disk)
{
	int rc;

	if (loc->state != WFS_META_CHUNK_OK || !loc->node.len ||
	    !loc->disk.len || loc->node.len > WFS_META_ID_MAX ||
	    loc->disk.len > WFS_META_ID_MAX ||
	    from_node.len > WFS_META_ID_MAX ||
	    from_disk.len > WFS_META_ID_MAX ||
	    loc->index >= WFS_META_CHUNKS_MAX ||
	    (bytes_eq(loc->node, from_node.data, from_node.len) &&
	     bytes_eq(loc->disk, from_disk.data, from_disk.len)))
		return -EINVAL;
	rc = disk_of_node(m, loc->node, loc->disk);
	if (rc == 0)
		return -EINVAL;
	if (rc == 1)
		rc = stripe_used(m, sid);
	if (rc == 0)
		return -ENOENT;
	return rc < 0 ? rc : 0;
}

/* CHUNK_SET's move form (op.h): the chunk goes from @from to the copy at
 * @loc if it is still at @from and @loc is not a place waiting for its
 * collector; else the copy is garbage.  Both outcomes succeed, so the log
 * accounts for every copy a mover made whatever raced with it (a rewrite
 * of the stripe, another move, a repair). */
static int chunk_move(struct meta_apply *ap)
{
	const typeof(ap->op->u.chunk) *c = &ap->op->u.chunk;
	const struct wfs_meta_chunk_loc *loc = &c->loc;
	struct wfs_meta *m = ap->m;
	sqlite3_stmt *add;
	uint32_t width;
	int rc;

	rc = move_check(m, c->stripe_id, loc, c->from_node, c->from_disk);
	if (rc < 0)
		return rc;
	rc = stripe_width_of(m, c->stripe_id, &width);
	if (rc == 0 && loc->index >= width)
		return -EINVAL;
	if (rc == 0)
		rc = chunk_at(m, c->stripe_id, loc->index, c->from_node,
			      c->from_disk);
	/* A file at @loc that is this chunk's garbage (a leftover of an
	 * earlier copy) may be deleted by its collector at any time: never
	 * make it the chunk's.  Its garbage entry stays. */
	if (rc == 1) {
		rc = garbage_at(m, c->stripe_id, loc->index, loc->node,
				loc->disk);
		if (rc < 0)
			return rc;
		ap->res->value = rc == 0;
		return rc == 0 ? chunk_set(m, c->stripe_id, loc) : 0;
	}
	if (rc == 0)
		rc = chunk_at(m, c->stripe_id, loc->index, loc->node,
			      loc->disk);
	if (rc == 1) {
		ap->res->value = 1;	/* this very move, applied before */
		return 0;
	}
	if (rc < 0 && rc != -ENOENT)
		return rc;
	/* Moved elsewhere meanwhile, or the stripe is gone: nothing will
	 * name the copy. */
	add = wfs_meta_stmt(m, ST_GARBAGE_ADD);
	wfs_meta_bind_u64(add, 1, c->stripe_id);
	sqlite3_bind_int64(add, 2, loc->index);
	wfs_meta_bind_text(add, 3, loc->node);
	wfs_meta_bind_text(add, 4, loc->disk);
	ap->res->value = 0;
	return wfs_meta_exec(m, add);
}

int wfs_meta_apply_chunk(struct meta_apply *ap)
{
	const struct wfs_meta_chunk_loc *loc = &ap->op->u.chunk.loc;
	uint64_t sid = ap->op->u.chunk.stripe_id;
	uint32_t width;
	int rc;

	if (ap->op->u.chunk.from_disk.len)
		return chunk_move(ap);
	rc = stripe_width_of(ap->m, sid, &width);
	if (rc == 0)
		rc = loc_check(loc, width);
	if (rc == 0)
		rc = chunk_set(ap->m, sid, loc);
	return rc;
}

int wfs_meta_apply_gc(struct meta_apply *ap)
{
	const struct wfs_meta_op *op = ap->op;
	int rc = 0;

	if (op->u.gc.nentries > WFS_META_GC_MAX ||
	    (op->u.gc.nentries && !op->u.gc.entries))
		return -EINVAL;
	for (uint32_t i = 0; i < op->u.gc.nentries; i++) {
		const struct wfs_meta_gc_entry *e = &op->u.gc.entries[i];

		if (!e->any_place && (e->node.len > WFS_META_ID_MAX ||
				      e->disk.len > WFS_META_ID_MAX))
			return -EINVAL;
	}
	/* Exactly the copy each entry names: a chunk moved about has garbage
	 * copies on several nodes, each deleted by its own collector. */
	for (uint32_t i = 0; rc == 0 && i < op->u.gc.nentries; i++) {
		const struct wfs_meta_gc_entry *e = &op->u.gc.entries[i];
		sqlite3_stmt *st = wfs_meta_stmt(ap->m, e->any_place
							? ST_GARBAGE_DONE_ANY
							: ST_GARBAGE_DEL_LOC);

		wfs_meta_bind_u64(st, 1, e->stripe_id);
		sqlite3_bind_int64(st, 2, e->index);
		if (!e->any_place) {
			wfs_meta_bind_text(st, 3, e->node);
			wfs_meta_bind_text(st, 4, e->disk);
		}
		rc = wfs_meta_exec(ap->m, st);
	}
	return rc;
}

/* ---- policies ---- */

/* The id of the policy called @name, 0 if none. */
static int policy_by_name(struct wfs_meta *m, struct wfs_meta_bytes name,
			  uint64_t *id)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_POLICY_BY_NAME);
	int rc;

	wfs_meta_bind_text(st, 1, name);
	*id = 0;
	rc = wfs_meta_step(m, st);
	if (rc == 1)
		*id = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc < 0 ? rc : 0;
}

/* Returns 1 if policy @id exists, 0 if not, or a store error. */
static int policy_exists(struct wfs_meta *m, uint64_t id)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_POLICY_GET);
	int rc;

	wfs_meta_bind_u64(st, 1, id);
	rc = wfs_meta_step(m, st);
	sqlite3_reset(st);
	return rc;
}

int wfs_meta_apply_policy(struct meta_apply *ap)
{
	const struct wfs_meta_op *op = ap->op;
	struct wfs_meta *m = ap->m;
	uint64_t id = op->u.policy.id, named;
	int rc;

	rc = cname_check(op->u.policy.name, WFS_META_NAME_MAX);
	if (rc == 0)
		rc = wfs_meta_check_geometry(op->u.policy.k, op->u.policy.m,
					     op->u.policy.chunk_size);
	if (rc == 0)
		rc = policy_by_name(m, op->u.policy.name, &named);
	if (rc < 0)
		return rc;
	if (id == 0) {
		if (named)
			return -EEXIST;
		if (m->st.next_policy > UINT32_MAX)
			return -ENOSPC;
		id = m->st.next_policy++;
	} else {
		rc = policy_exists(m, id);
		if (rc <= 0)
			return rc == 0 ? -ENOENT : rc;
		if (named && named != id)
			return -EEXIST;
	}
	rc = policy_put(m, id, op->u.policy.name, op->u.policy.k,
			op->u.policy.m, op->u.policy.chunk_size);
	if (rc == 0)
		ap->res->value = id;
	return rc;
}

int wfs_meta_apply_dir_policy(struct meta_apply *ap)
{
	const struct wfs_meta_op *op = ap->op;
	struct meta_inode in;
	int rc;

	rc = wfs_meta_inode_load(ap->m, op->u.dir_policy.ino, &in);
	if (rc == 0 && !S_ISDIR(in.a.mode))
		rc = -ENOTDIR;
	/* The holder of its lease answers creates in it with the policy it
	 * knows: the change waits until the lease is given back. */
	if (rc == 0)
		rc = wfs_meta_lease_check(ap, in.a.ino);
	if (rc == 0 && op->u.dir_policy.policy_id) {
		rc = policy_exists(ap->m, op->u.dir_policy.policy_id);
		rc = rc == 0 ? -EINVAL : rc < 0 ? rc : 0;
	}
	if (rc < 0)
		return rc;
	in.a.policy_id = op->u.dir_policy.policy_id;
	return touch_and_report(ap, &in);
}

/* ---- nodes and disks ---- */

/* Returns 1 if node @id is known, 0 if not, or a store error. */
static int node_exists(struct wfs_meta *m, struct wfs_meta_bytes id)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_NODE_GET);
	int rc;

	wfs_meta_bind_text(st, 1, id);
	rc = wfs_meta_step(m, st);
	sqlite3_reset(st);
	return rc;
}

int wfs_meta_apply_node_set(struct meta_apply *ap)
{
	const struct wfs_meta_op *op = ap->op;
	sqlite3_stmt *st;
	int rc;

	rc = id_check(op->u.node.id);
	if (rc == 0 && (op->u.node.name.len > WFS_META_NAME_MAX ||
			op->u.node.addr.len > WFS_META_ADDR_MAX))
		rc = -EINVAL;
	if (rc < 0)
		return rc;
	st = wfs_meta_stmt(ap->m, ST_NODE_PUT);
	wfs_meta_bind_text(st, 1, op->u.node.id);
	wfs_meta_bind_text(st, 2, op->u.node.name);
	wfs_meta_bind_text(st, 3, op->u.node.addr);
	sqlite3_bind_int64(st, 4, op->u.node.role);
	sqlite3_bind_int64(st, 5, op->u.node.state);
	return wfs_meta_exec(ap->m, st);
}

int wfs_meta_apply_node_remove(struct meta_apply *ap)
{
	const struct wfs_meta_op *op = ap->op;
	sqlite3_stmt *st;
	int rc;

	rc = id_check(op->u.node.id);
	if (rc == 0) {
		rc = node_exists(ap->m, op->u.node.id);
		rc = rc == 0 ? -ENOENT : rc < 0 ? rc : 0;
	}
	if (rc < 0)
		return rc;
	/* Its disks go with it (ON DELETE CASCADE); chunks placed on them
	 * stay recorded until repair moves them. */
	st = wfs_meta_stmt(ap->m, ST_NODE_DELETE);
	wfs_meta_bind_text(st, 1, op->u.node.id);
	return wfs_meta_exec(ap->m, st);
}

int wfs_meta_apply_disk_set(struct meta_apply *ap)
{
	const struct wfs_meta_op *op = ap->op;
	sqlite3_stmt *st;
	int rc;

	rc = id_check(op->u.disk.id);
	if (rc == 0)
		rc = id_check(op->u.disk.node_id);
	if (rc == 0 && op->u.disk.path.len > WFS_META_PATH_MAX)
		rc = -EINVAL;
	if (rc == 0) {
		rc = node_exists(ap->m, op->u.disk.node_id);
		rc = rc == 0 ? -ENOENT : rc < 0 ? rc : 0;
	}
	if (rc < 0)
		return rc;
	st = wfs_meta_stmt(ap->m, ST_DISK_PUT);
	wfs_meta_bind_text(st, 1, op->u.disk.id);
	wfs_meta_bind_text(st, 2, op->u.disk.node_id);
	wfs_meta_bind_text(st, 3, op->u.disk.path);
	wfs_meta_bind_u64(st, 4, op->u.disk.capacity);
	wfs_meta_bind_u64(st, 5, op->u.disk.free);
	sqlite3_bind_int64(st, 6, op->u.disk.state);
	return wfs_meta_exec(ap->m, st);
}

int wfs_meta_apply_disk_drain(struct meta_apply *ap)
{
	const struct wfs_meta_op *op = ap->op;
	sqlite3_stmt *st;
	int rc;

	rc = id_check(op->u.drain.id);
	if (rc == 0 && op->u.drain.draining > 1)
		rc = -EINVAL;
	if (rc < 0)
		return rc;
	st = wfs_meta_stmt(ap->m, ST_DISK_DRAIN);
	wfs_meta_bind_text(st, 1, op->u.drain.id);
	sqlite3_bind_int64(st, 2, op->u.drain.draining);
	rc = wfs_meta_exec(ap->m, st);
	if (rc == 0 && sqlite3_changes(ap->m->db) == 0)
		rc = -ENOENT;
	return rc;
}
