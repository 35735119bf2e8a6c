/* apply_ns: the namespace ops: creating, linking, unlinking, removing and
 * renaming names, and purging orphans (or an unlinked inode at once, when
 * the UNLINK says nobody has it open); and directory leases, which these
 * ops obey.
 *
 * Each handler checks in the order Linux does, so the errno matches what a
 * local file system returns for the same call, then writes.  Handlers may
 * write before they find the op fails (create inserts the dirent and
 * learns from it that the name exists): the savepoint around every op in
 * meta.c undoes that.  Nothing here reads a clock or allocates: inode
 * numbers and cookies come from the counters in m->st (or a MKNOD's
 * create.ino, which an earlier RESERVE_IDS took from them), times from the
 * op.
 *
 * Leases (op.h, DIR_LEASE): an op that would change a directory leased to
 * another session is refused with -EAGAIN as soon as the directory is
 * loaded, before its names are looked at: the holder may have answered
 * creates there that are not applied yet, so what the names say now
 * (missing, present, a directory empty) is not an answer to give.  A
 * directory's own removal checks its lease once the name has led to it,
 * before its emptiness.  A lease is rare: each check is one lookup of the
 * directory in dir_leases, most often an empty table.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "metadata/meta_internal.h"

int wfs_meta_name_check(struct wfs_meta_bytes name)
{
	const char *p = name.data;

	if (name.len > WFS_META_NAME_MAX)
		return -ENAMETOOLONG;
	if (name.len == 0 || !p)
		return -EINVAL;
	if ((name.len == 1 && p[0] == '.') ||
	    (name.len == 2 && p[0] == '.' && p[1] == '.'))
		return -EINVAL;
	if (memchr(p, '/', name.len) || memchr(p, '\0', name.len))
		return -EINVAL;
	return 0;
}

/* Load directory @ino for adding or removing names in it: -ENOENT if it
 * does not exist or was removed, -ENOTDIR if not a directory. */
static int dir_load(struct wfs_meta *m, uint64_t ino, struct meta_inode *dir)
{
	int rc = wfs_meta_inode_load(m, ino, dir);

	if (rc < 0)
		return rc;
	if (!S_ISDIR(dir->a.mode))
		return -ENOTDIR;
	return dir->a.nlink == 0 ? -ENOENT : 0;
}

/* The op of @ap is refused: session @holder holds directory @dir's
 * lease.  The result says so (meta.c keeps these two fields of a failed
 * op's result). */
static int lease_refuse(struct meta_apply *ap, uint64_t dir, uint64_t holder)
{
	ap->res->lease_dir = dir;
	ap->res->lease_session = holder;
	return -EAGAIN;
}

int wfs_meta_lease_check(struct meta_apply *ap, uint64_t dir)
{
	uint64_t holder;
	int rc = wfs_meta_lease_holder(ap->m, dir, &holder);

	if (rc < 0)
		return rc;
	if (holder == 0 || holder == ap->op->session)
		return 0;
	return lease_refuse(ap, dir, holder);
}

/* Directory @dir is to be removed (RMDIR, a RENAME over it): refused as
 * wfs_meta_lease_check() refuses; if the op's own session holds its
 * lease, the lease goes with it. */
static int lease_removal(struct meta_apply *ap, uint64_t dir)
{
	sqlite3_stmt *st;
	uint64_t holder;
	int rc = wfs_meta_lease_holder(ap->m, dir, &holder);

	if (rc < 0 || holder == 0)
		return rc;
	if (holder != ap->op->session)
		return lease_refuse(ap, dir, holder);
	st = wfs_meta_stmt(ap->m, ST_LEASE_DELETE);
	wfs_meta_bind_u64(st, 1, dir);
	return wfs_meta_exec(ap->m, st);
}

/* Load directory @ino, which the op of @ap changes: dir_load() and
 * wfs_meta_lease_check(). */
static int dir_load_change(struct meta_apply *ap, uint64_t ino,
			   struct meta_inode *dir)
{
	int rc = dir_load(ap->m, ino, dir);

	return rc < 0 ? rc : wfs_meta_lease_check(ap, ino);
}

/* The inode @name in @parent points at.  Returns 0, -ENOENT. */
static int dirent_get(struct wfs_meta *m, uint64_t parent,
		      struct wfs_meta_bytes name, uint64_t *ino)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_DIRENT_GET);
	int rc;

	wfs_meta_bind_u64(st, 1, parent);
	wfs_meta_bind_blob(st, 2, name);
	rc = wfs_meta_step(m, st);
	if (rc == 1)
		*ino = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == 1 ? 0 : rc == 0 ? -ENOENT : rc;
}

/* Add @parent/@name -> @ino with the next cookie.  Returns 0, -EEXIST. */
static int dirent_insert(struct wfs_meta *m, uint64_t parent,
			 struct wfs_meta_bytes name, uint64_t ino)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_DIRENT_INSERT);
	int rc;

	wfs_meta_bind_u64(st, 1, parent);
	wfs_meta_bind_blob(st, 2, name);
	wfs_meta_bind_u64(st, 3, ino);
	wfs_meta_bind_u64(st, 4, m->st.next_cookie++);
	rc = wfs_meta_exec(m, st);
	if (rc == 0 && sqlite3_changes(m->db) == 0)
		rc = -EEXIST;
	return rc;
}

static int dirent_delete(struct wfs_meta *m, uint64_t parent,
			 struct wfs_meta_bytes name)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_DIRENT_DELETE);

	wfs_meta_bind_u64(st, 1, parent);
	wfs_meta_bind_blob(st, 2, name);
	return wfs_meta_exec(m, st);
}

/* Point the existing entry @parent/@name at @ino, keeping its cookie. */
static int dirent_set_ino(struct wfs_meta *m, uint64_t parent,
			  struct wfs_meta_bytes name, uint64_t ino)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_DIRENT_SET_INO);

	wfs_meta_bind_u64(st, 1, parent);
	wfs_meta_bind_blob(st, 2, name);
	wfs_meta_bind_u64(st, 3, ino);
	return wfs_meta_exec(m, st);
}

/* Returns 1 if directory @ino has entries, 0 if not, or a store error. */
static int dir_has_entries(struct wfs_meta *m, uint64_t ino)
{
	sqlite3_stmt *st = wfs_meta_stmt(m, ST_DIRENT_ANY);
	int rc;

	wfs_meta_bind_u64(st, 1, ino);
	rc = wfs_meta_step(m, st);
	sqlite3_reset(st);
	return rc;
}

/* A directory gained or lost an entry at @t; @dlink is the change in its
 * link count (a subdirectory's ".."). */
static int dir_touch(struct wfs_meta *m, struct meta_inode *dir, int64_t t,
		     int dlink)
{
	dir->a.mtime_ns = t;
	dir->a.ctime_ns = t;
	dir->a.nlink = (uint32_t)((int64_t)dir->a.nlink + dlink);
	return wfs_meta_inode_store(m, dir);
}

/* @in lost a name at @t (a directory loses its only one).  At nlink 0 it
 * becomes an orphan, and *orphan is set to its number. */
static int drop_link(struct wfs_meta *m, struct meta_inode *in, int64_t t,
		     uint64_t *orphan)
{
	sqlite3_stmt *st;
	int rc;

	in->a.nlink = S_ISDIR(in->a.mode) || in->a.nlink == 0 ?
			      0 : in->a.nlink - 1;
	in->a.ctime_ns = t;
	rc = wfs_meta_inode_store(m, in);
	if (rc < 0 || in->a.nlink > 0)
		return rc;
	st = wfs_meta_stmt(m, ST_ORPHAN_ADD);
	wfs_meta_bind_u64(st, 1, in->a.ino);
	*orphan = in->a.ino;
	return wfs_meta_exec(m, st);
}

/* Drop inode @in, which has no name left: its stripes' chunks go to
 * garbage, and its xattrs and orphan mark go with the row (ON DELETE
 * CASCADE). */
static int purge_inode(struct wfs_meta *m, const struct meta_inode *in)
{
	sqlite3_stmt *st;
	uint64_t freed;
	int rc;

	rc = wfs_meta_truncate_stripes(m, in->a.ino, 0, &freed);
	if (rc < 0)
		return rc;
	st = wfs_meta_stmt(m, ST_INODE_DELETE);
	wfs_meta_bind_u64(st, 1, in->a.ino);
	rc = wfs_meta_exec(m, st);
	if (rc < 0)
		return rc;
	m->st.inodes--;
	m->st.bytes -= in->a.bytes;
	return 0;
}

/* UNLINK took the last link of @in, which its proposer knows nobody has
 * open: drop it now rather than leave an orphan for a PURGE to come. */
static int purge_unlinked(struct meta_apply *ap, struct meta_inode *in)
{
	int rc = purge_inode(ap->m, in);

	if (rc < 0)
		return rc;
	in->a.nlink = 0;
	in->a.ctime_ns = ap->op->time_ns;
	ap->res->purged = true;
	return 0;
}

/* -EINVAL when directory @dir is @ino or lies below it (moving @ino into
 * @dir would cut it off from the root); 0 when not. */
static int check_not_within(struct wfs_meta *m, uint64_t ino, uint64_t dir)
{
	struct meta_inode d;
	int rc;

	for (int depth = 0; depth < META_DEPTH_MAX; depth++) {
		if (dir == ino)
			return -EINVAL;
		if (dir == WFS_META_ROOT_INO)
			return 0;
		rc = wfs_meta_inode_load(m, dir, &d);
		if (rc < 0)
			return rc;
		dir = d.parent;
	}
	return -ELOOP;
}

/* The full mode and the symlink target of the inode a create op makes. */
static int create_mode(const struct wfs_meta_op *op, uint32_t *mode,
		       struct wfs_meta_bytes *target)
{
	uint32_t perm = op->u.create.mode & 07777;

	*target = (struct wfs_meta_bytes){ NULL, 0 };
	switch (op->type) {
	case WFS_META_OP_MKDIR:
		*mode = S_IFDIR | perm;
		return 0;
	case WFS_META_OP_SYMLINK:
		*target = op->u.create.target;
		if (target->len > WFS_META_SYMLINK_MAX)
			return -ENAMETOOLONG;
		if (target->len == 0 || !target->data)
			return -ENOENT;
		*mode = S_IFLNK | 0777;
		return 0;
	default:
		*mode = op->u.create.mode;
		if ((*mode & S_IFMT) == 0)
			*mode |= S_IFREG;	/* as mknod(2) has it */
		switch (*mode & S_IFMT) {
		case S_IFREG:
		case S_IFIFO:
		case S_IFSOCK:
		case S_IFCHR:
		case S_IFBLK:
			*mode &= S_IFMT | 07777;
			return 0;
		}
		return -EINVAL;
	}
}

/* The number a MKNOD chose (create.ino, 0: none; the other create types
 * ignore it): one a RESERVE_IDS of inode numbers handed out, so below
 * next_ino, else -EINVAL.  (One an inode has is -EINVAL too, which the
 * insert finds.) */
static int chosen_ino(const struct meta_apply *ap, uint64_t *ino)
{
	const struct wfs_meta_op *op = ap->op;

	*ino = op->type == WFS_META_OP_MKNOD ? op->u.create.ino : 0;
	return *ino >= ap->m->st.next_ino ? -EINVAL : 0;
}

/* The inode a create op makes in @dir (all but its policy): numbered
 * @ino, or the next number when @ino is 0. */
static void create_inode(const struct meta_apply *ap, uint32_t mode,
			 uint64_t dir, uint64_t ino, struct meta_inode *in)
{
	const struct wfs_meta_op *op = ap->op;
	int64_t t = op->time_ns;

	memset(in, 0, sizeof(*in));
	in->a.ino = ino ? ino : ap->m->st.next_ino++;
	in->a.mode = mode;
	in->a.nlink = S_ISDIR(mode) ? 2 : 1;
	in->a.uid = op->uid;
	in->a.gid = op->gid;
	if (S_ISLNK(mode))
		in->a.size = op->u.create.target.len;
	if (S_ISCHR(mode) || S_ISBLK(mode))
		in->a.rdev = op->u.create.rdev;
	in->a.atime_ns = in->a.mtime_ns = in->a.ctime_ns = in->a.btime_ns = t;
	in->a.generation = ap->index;
	in->parent = S_ISDIR(mode) ? dir : 0;
}

/* Insert the new inode @in: at the number its MKNOD chose (@chosen),
 * which an inode may have already (-EINVAL: the number is wrong, not the
 * name), or at the next one. */
static int create_insert(struct wfs_meta *m, const struct meta_inode *in,
			 struct wfs_meta_bytes target, bool chosen)
{
	int rc;

	if (!chosen)
		return wfs_meta_inode_insert(m, in, target);
	rc = wfs_meta_inode_insert_new(m, in, target);
	return rc == -EEXIST ? -EINVAL : rc;
}

/* MKNOD, MKDIR, SYMLINK. */
int wfs_meta_apply_create(struct meta_apply *ap)
{
	const struct wfs_meta_op *op = ap->op;
	struct wfs_meta *m = ap->m;
	struct wfs_meta_bytes target;
	struct meta_inode dir, in;
	uint64_t ino = 0;
	uint32_t mode;
	int rc;

	rc = create_mode(op, &mode, &target);
	if (rc == 0)
		rc = wfs_meta_name_check(op->u.create.name);
	if (rc == 0)
		rc = dir_load_change(ap, op->u.create.parent, &dir);
	if (rc == 0)
		rc = chosen_ino(ap, &ino);
	if (rc < 0)
		return rc;
	create_inode(ap, mode, dir.a.ino, ino, &in);
	if (S_ISREG(mode))
		rc = wfs_meta_policy_resolve(m, &dir, &in.a.policy_id);
	if (rc == 0)
		rc = dirent_insert(m, dir.a.ino, op->u.create.name, in.a.ino);
	if (rc == 0)
		rc = create_insert(m, &in, target, ino != 0);
	if (rc == 0)
		rc = dir_touch(m, &dir, op->time_ns, S_ISDIR(mode) ? 1 : 0);
	if (rc < 0)
		return rc;
	m->st.inodes++;
	ap->res->attr = in.a;
	ap->res->dir = dir.a;
	return 0;
}

int wfs_meta_apply_link(struct meta_apply *ap)
{
	const struct wfs_meta_op *op = ap->op;
	struct wfs_meta *m = ap->m;
	struct meta_inode dir, in;
	int rc;

	rc = wfs_meta_inode_load(m, op->u.link.ino, &in);
	if (rc == 0 && in.a.nlink == 0)
		rc = -ENOENT;
	if (rc == 0)
		rc = wfs_meta_name_check(op->u.link.name);
	if (rc == 0)
		rc = dir_load_change(ap, op->u.link.parent, &dir);
	if (rc == 0)
		rc = dirent_insert(m, dir.a.ino, op->u.link.name, in.a.ino);
	if (rc == 0 && S_ISDIR(in.a.mode))
		rc = -EPERM;
	if (rc == 0 && in.a.nlink >= WFS_META_LINK_MAX)
		rc = -EMLINK;
	if (rc < 0)
		return rc;
	in.a.nlink++;
	in.a.ctime_ns = op->time_ns;
	rc = wfs_meta_inode_store(m, &in);
	if (rc == 0)
		rc = dir_touch(m, &dir, op->time_ns, 0);
	if (rc == 0) {
		ap->res->attr = in.a;
		ap->res->dir = dir.a;
	}
	return rc;
}

/* Find remove.parent/remove.name of @ap for removal: the directory and
 * the inode named. */
static int remove_lookup(struct meta_apply *ap, struct meta_inode *dir,
			 struct meta_inode *in)
{
	const struct wfs_meta_op *op = ap->op;
	uint64_t ino;
	int rc;

	rc = wfs_meta_name_check(op->u.remove.name);
	if (rc == 0)
		rc = dir_load_change(ap, op->u.remove.parent, dir);
	if (rc == 0)
		rc = dirent_get(ap->m, op->u.remove.parent, op->u.remove.name,
				&ino);
	if (rc == 0)
		rc = wfs_meta_inode_load(ap->m, ino, in);
	return rc;
}

int wfs_meta_apply_unlink(struct meta_apply *ap)
{
	const struct wfs_meta_op *op = ap->op;
	struct wfs_meta *m = ap->m;
	struct meta_inode dir, in;
	int rc;

	rc = remove_lookup(ap, &dir, &in);
	if (rc == 0 && S_ISDIR(in.a.mode))
		rc = -EISDIR;
	if (rc == 0)
		rc = dirent_delete(m, dir.a.ino, op->u.remove.name);
	if (rc == 0 && in.a.nlink <= 1 && in.a.ino == op->u.remove.purge_ino)
		rc = purge_unlinked(ap, &in);
	else if (rc == 0)
		rc = drop_link(m, &in, op->time_ns, &ap->res->value);
	if (rc == 0)
		rc = dir_touch(m, &dir, op->time_ns, 0);
	if (rc == 0) {
		ap->res->attr = in.a;
		ap->res->dir = dir.a;
	}
	return rc;
}

int wfs_meta_apply_rmdir(struct meta_apply *ap)
{
	const struct wfs_meta_op *op = ap->op;
	struct wfs_meta *m = ap->m;
	struct meta_inode dir, in;
	int rc;

	rc = remove_lookup(ap, &dir, &in);
	if (rc == 0 && !S_ISDIR(in.a.mode))
		rc = -ENOTDIR;
	if (rc == 0 && in.a.ino == WFS_META_ROOT_INO)
		rc = -EBUSY;
	if (rc == 0)
		rc = lease_removal(ap, in.a.ino);
	if (rc == 0) {
		rc = dir_has_entries(m, in.a.ino);
		rc = rc == 1 ? -ENOTEMPTY : rc;
	}
	if (rc == 0)
		rc = dirent_delete(m, dir.a.ino, op->u.remove.name);
	if (rc == 0)
		rc = drop_link(m, &in, op->time_ns, &ap->res->value);
	if (rc == 0)
		rc = dir_touch(m, &dir, op->time_ns, -1);
	if (rc == 0) {
		ap->res->attr = in.a;
		ap->res->dir = dir.a;
	}
	return rc;
}

/* ---- rename ---- */

/* One side of a rename: a directory and a name in it, and what the name
 * points at, if anything. */
struct side {
	struct meta_inode *dir;	/* may be the other side's */
	struct wfs_meta_bytes name;
	bool exists;
	struct meta_inode in;
};

/* Load both directories (one when they are the same), which the op
 * changes, and both names. */
static int rename_load(struct meta_apply *ap, struct meta_inode dirs[2],
		       struct side *src, struct side *dst)
{
	const struct wfs_meta_op *op = ap->op;
	struct wfs_meta *m = ap->m;
	uint64_t ino;
	int rc;

	src->name = op->u.rename.name;
	dst->name = op->u.rename.new_name;
	src->dir = &dirs[0];
	dst->dir = op->u.rename.new_parent == op->u.rename.parent ? &dirs[0] :
								     &dirs[1];
	rc = wfs_meta_name_check(src->name);
	if (rc == 0)
		rc = wfs_meta_name_check(dst->name);
	if (rc == 0)
		rc = dir_load_change(ap, op->u.rename.parent, src->dir);
	if (rc == 0 && dst->dir != src->dir)
		rc = dir_load_change(ap, op->u.rename.new_parent, dst->dir);
	if (rc == 0)
		rc = dirent_get(m, src->dir->a.ino, src->name, &ino);
	if (rc == 0)
		rc = wfs_meta_inode_load(m, ino, &src->in);
	if (rc < 0)
		return rc;
	src->exists = true;
	rc = dirent_get(m, dst->dir->a.ino, dst->name, &ino);
	if (rc == -ENOENT)
		return 0;
	if (rc == 0)
		rc = wfs_meta_inode_load(m, ino, &dst->in);
	dst->exists = rc == 0;
	return rc;
}

/* Directory @s->in moves from @s->dir to @to->dir: its ".." goes along. */
static void move_dir(struct side *s, struct side *to)
{
	if (!S_ISDIR(s->in.a.mode) || s->dir == to->dir)
		return;
	s->in.parent = to->dir->a.ino;
	s->dir->a.nlink--;
	to->dir->a.nlink++;
}

/* Store both inodes named and both directories, touched at @t. */
static int rename_store(struct wfs_meta *m, struct side *src, struct side *dst,
			int64_t t)
{
	int rc;

	src->in.a.ctime_ns = t;
	rc = wfs_meta_inode_store(m, &src->in);
	if (rc == 0)
		rc = dir_touch(m, src->dir, t, 0);
	if (rc == 0 && dst->dir != src->dir)
		rc = dir_touch(m, dst->dir, t, 0);
	return rc;
}

static int rename_exchange(struct wfs_meta *m, const struct wfs_meta_op *op,
			   struct side *src, struct side *dst)
{
	int64_t t = op->time_ns;
	int rc = 0;

	if (!dst->exists)
		return -ENOENT;
	if (src->in.a.ino == dst->in.a.ino)
		return 0;
	if (src->dir != dst->dir && S_ISDIR(src->in.a.mode))
		rc = check_not_within(m, src->in.a.ino, dst->dir->a.ino);
	if (rc == 0 && src->dir != dst->dir && S_ISDIR(dst->in.a.mode))
		rc = check_not_within(m, dst->in.a.ino, src->dir->a.ino);
	if (rc == 0)
		rc = dirent_set_ino(m, src->dir->a.ino, src->name,
				    dst->in.a.ino);
	if (rc == 0)
		rc = dirent_set_ino(m, dst->dir->a.ino, dst->name,
				    src->in.a.ino);
	if (rc < 0)
		return rc;
	move_dir(src, dst);
	move_dir(dst, src);
	dst->in.a.ctime_ns = t;
	rc = wfs_meta_inode_store(m, &dst->in);
	return rc < 0 ? rc : rename_store(m, src, dst, t);
}

/* What replacing @dst with @src would break, in Linux's order; a
 * directory replaced must not be leased to another session (its lease,
 * when the op's session holds it, goes with it). */
static int replace_check(struct meta_apply *ap, struct side *src,
			 struct side *dst)
{
	bool src_dir = S_ISDIR(src->in.a.mode);
	bool dst_dir = S_ISDIR(dst->in.a.mode);
	int rc;

	if (src_dir && !dst_dir)
		return -ENOTDIR;
	if (!src_dir && dst_dir)
		return -EISDIR;
	if (!dst_dir)
		return 0;
	rc = lease_removal(ap, dst->in.a.ino);
	if (rc < 0)
		return rc;
	rc = dir_has_entries(ap->m, dst->in.a.ino);
	return rc == 1 ? -ENOTEMPTY : rc;
}

/* The name @dst goes: its inode loses a link (a directory its only one,
 * and its parent the "..").  *orphan is set if it was the last. */
static int replace_target(struct wfs_meta *m, struct side *src,
			  struct side *dst, int64_t t, uint64_t *orphan)
{
	int rc;

	rc = dirent_set_ino(m, dst->dir->a.ino, dst->name, src->in.a.ino);
	if (rc < 0)
		return rc;
	if (S_ISDIR(dst->in.a.mode))
		dst->dir->a.nlink--;
	return drop_link(m, &dst->in, t, orphan);
}

int wfs_meta_apply_rename(struct meta_apply *ap)
{
	const struct wfs_meta_op *op = ap->op;
	uint32_t flags = op->u.rename.flags;
	struct wfs_meta *m = ap->m;
	struct meta_inode dirs[2];
	struct side src = { 0 }, dst = { 0 };
	int rc;

	if ((flags & ~(uint32_t)(WFS_META_RENAME_NOREPLACE |
				 WFS_META_RENAME_EXCHANGE)) ||
	    ((flags & WFS_META_RENAME_NOREPLACE) &&
	     (flags & WFS_META_RENAME_EXCHANGE)))
		return -EINVAL;
	rc = rename_load(ap, dirs, &src, &dst);
	if (rc < 0)
		return rc;
	if (flags & WFS_META_RENAME_EXCHANGE) {
		rc = rename_exchange(m, op, &src, &dst);
		goto out;
	}
	if (dst.exists && (flags & WFS_META_RENAME_NOREPLACE))
		return -EEXIST;
	if (dst.exists && dst.in.a.ino == src.in.a.ino)
		goto out;	/* two names of one inode: POSIX says no-op */
	if (S_ISDIR(src.in.a.mode) && src.dir != dst.dir)
		rc = check_not_within(m, src.in.a.ino, dst.dir->a.ino);
	if (rc == 0 && dst.exists)
		rc = replace_check(ap, &src, &dst);
	if (rc == 0 && dst.exists)
		rc = replace_target(m, &src, &dst, op->time_ns,
				    &ap->res->value);
	else if (rc == 0)
		rc = dirent_insert(m, dst.dir->a.ino, dst.name, src.in.a.ino);
	if (rc == 0)
		rc = dirent_delete(m, src.dir->a.ino, src.name);
	if (rc < 0)
		return rc;
	move_dir(&src, &dst);
	rc = rename_store(m, &src, &dst, op->time_ns);
out:
	if (rc == 0) {
		ap->res->attr = src.in.a;
		ap->res->dir = src.dir->a;
		if (dst.dir != src.dir)
			ap->res->new_dir = dst.dir->a;
	}
	return rc;
}

int wfs_meta_apply_purge(struct meta_apply *ap)
{
	struct wfs_meta *m = ap->m;
	struct meta_inode in;
	int rc;

	rc = wfs_meta_inode_load(m, ap->op->u.purge.ino, &in);
	if (rc < 0)
		return rc;
	if (in.a.nlink > 0 || in.a.ino == WFS_META_ROOT_INO)
		return -EBUSY;
	rc = purge_inode(m, &in);
	if (rc == 0)
		ap->res->attr = in.a;
	return rc;
}

/* ---- directory leases ---- */

/* DIR_LEASE with grant 0: the row goes if @session holds it. */
static int lease_release(struct meta_apply *ap)
{
	const struct wfs_meta_op *op = ap->op;
	sqlite3_stmt *st = wfs_meta_stmt(ap->m, ST_LEASE_RELEASE);
	int rc;

	wfs_meta_bind_u64(st, 1, op->u.lease.ino);
	wfs_meta_bind_u64(st, 2, op->u.lease.session);
	rc = wfs_meta_exec(ap->m, st);
	if (rc == 0)
		ap->res->value = sqlite3_changes(ap->m->db) > 0;
	return rc;
}

/* DIR_LEASE (op.h).  A grant needs a live directory, as a create in it
 * does; the holder asking again writes nothing. */
int wfs_meta_apply_dir_lease(struct meta_apply *ap)
{
	const struct wfs_meta_op *op = ap->op;
	uint64_t session = op->u.lease.session, holder;
	struct meta_inode dir;
	sqlite3_stmt *st;
	int rc;

	if (op->u.lease.grant > 1)
		return -EINVAL;
	if (!op->u.lease.grant)
		return lease_release(ap);
	if (session == 0)
		return -EINVAL;
	rc = dir_load(ap->m, op->u.lease.ino, &dir);
	if (rc == 0)
		rc = wfs_meta_lease_holder(ap->m, dir.a.ino, &holder);
	if (rc < 0 || holder == session)
		return rc;
	if (holder)
		return lease_refuse(ap, dir.a.ino, holder);
	st = wfs_meta_stmt(ap->m, ST_LEASE_PUT);
	wfs_meta_bind_u64(st, 1, dir.a.ino);
	wfs_meta_bind_u64(st, 2, session);
	return wfs_meta_exec(ap->m, st);
}
