/* meta_test_internal: fixtures the metadata store's suites share (a fresh
 * store in a scratch folder, op builders, apply with the next log index).
 * Test code only. */
#ifndef WFS_METADATA_META_TEST_INTERNAL_H
#define WFS_METADATA_META_TEST_INTERNAL_H

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "metadata/meta.h"
#include "tests/unit.h"

#define T_TIME 1700000000000000000LL	/* the ops' clock, ns */
#define T_UID 1000
#define T_GID 100

struct fx {
	struct wfs_meta *m;
	uint64_t index;		/* last log index used */
	int64_t now;		/* time of the next op */
	char dir[256];
	char path[300];
};

static inline struct wfs_meta_bytes B(const char *s)
{
	return (struct wfs_meta_bytes){ s, strlen(s) };
}

static inline struct wfs_meta_op op_new(uint32_t type)
{
	struct wfs_meta_op op;

	memset(&op, 0, sizeof(op));
	op.type = type;
	op.time_ns = T_TIME;
	op.uid = T_UID;
	op.gid = T_GID;
	return op;
}

static inline struct wfs_meta_op op_format(void)
{
	struct wfs_meta_op op = op_new(WFS_META_OP_FORMAT);

	op.u.format.root_mode = 0755;
	op.u.format.k = 4;
	op.u.format.m = 2;
	op.u.format.chunk_size = 1 << 20;
	op.u.format.cluster_id = B("test-cluster");
	return op;
}

static inline struct wfs_meta_op op_create(uint32_t type, uint64_t parent,
					   const char *name, uint32_t mode)
{
	struct wfs_meta_op op = op_new(type);

	op.u.create.parent = parent;
	op.u.create.name = B(name);
	op.u.create.mode = mode;
	return op;
}

static inline struct wfs_meta_op op_mknod(uint64_t parent, const char *name)
{
	return op_create(WFS_META_OP_MKNOD, parent, name, S_IFREG | 0644);
}

static inline struct wfs_meta_op op_mkdir(uint64_t parent, const char *name)
{
	return op_create(WFS_META_OP_MKDIR, parent, name, 0755);
}

static inline struct wfs_meta_op op_remove(uint32_t type, uint64_t parent,
					   const char *name)
{
	struct wfs_meta_op op = op_new(type);

	op.u.remove.parent = parent;
	op.u.remove.name = B(name);
	return op;
}

static inline struct wfs_meta_op op_rename(uint64_t parent, const char *name,
					   uint64_t new_parent,
					   const char *new_name,
					   uint32_t flags)
{
	struct wfs_meta_op op = op_new(WFS_META_OP_RENAME);

	op.u.rename.parent = parent;
	op.u.rename.name = B(name);
	op.u.rename.new_parent = new_parent;
	op.u.rename.new_name = B(new_name);
	op.u.rename.flags = flags;
	return op;
}

/* DIR_LEASE of @dir for @session: @grant 1 asks, 0 gives it back. */
static inline struct wfs_meta_op op_lease(uint64_t dir, uint64_t session,
					  uint32_t grant)
{
	struct wfs_meta_op op = op_new(WFS_META_OP_DIR_LEASE);

	op.u.lease.ino = dir;
	op.u.lease.session = session;
	op.u.lease.grant = grant;
	return op;
}

/* Field by field: the struct has padding. */
static inline int attr_eq(const struct wfs_meta_attr *a,
			  const struct wfs_meta_attr *b)
{
	return a->ino == b->ino && a->mode == b->mode && a->nlink == b->nlink &&
	       a->uid == b->uid && a->gid == b->gid && a->size == b->size &&
	       a->bytes == b->bytes && a->rdev == b->rdev &&
	       a->atime_ns == b->atime_ns && a->mtime_ns == b->mtime_ns &&
	       a->ctime_ns == b->ctime_ns && a->btime_ns == b->btime_ns &&
	       a->generation == b->generation && a->policy_id == b->policy_id;
}

/* Apply @op at the next index; returns the op's status (asserting the store
 * itself did not fail) and fills *res if given. */
static inline int fx_apply(struct fx *f, struct wfs_meta_op op,
			   struct wfs_meta_result *res)
{
	struct wfs_meta_result r;
	int rc;

	if (f->now)
		op.time_ns = f->now;
	rc = wfs_meta_apply(f->m, ++f->index, &op, &r);
	CU_ASSERT_EQUAL(rc, 0);
	if (res)
		*res = r;
	return rc < 0 ? rc : r.status;
}

/* Open a fresh store in a new scratch folder. */
static inline int fx_open(struct fx *f)
{
	int rc;

	memset(f, 0, sizeof(*f));
	rc = wfs_test_mkdtemp(f->dir, sizeof(f->dir));
	if (rc < 0)
		return rc;
	snprintf(f->path, sizeof(f->path), "%s/meta.db", f->dir);
	return wfs_meta_open(f->path, &f->m);
}

/* Open and FORMAT a fresh store. */
static inline int fx_setup(struct fx *f)
{
	int rc = fx_open(f);

	if (rc == 0)
		rc = fx_apply(f, op_format(), NULL);
	return rc;
}

static inline void fx_close(struct fx *f)
{
	wfs_meta_close(f->m);
	f->m = NULL;
}

/* The inode @name in @parent, 0 if it is not there. */
static inline uint64_t fx_ino(struct fx *f, uint64_t parent, const char *name)
{
	struct wfs_meta_attr a;

	return wfs_meta_lookup(f->m, parent, B(name), &a) == 0 ? a.ino : 0;
}

static inline struct wfs_meta_attr fx_attr(struct fx *f, uint64_t ino)
{
	struct wfs_meta_attr a;

	memset(&a, 0, sizeof(a));
	CU_ASSERT_EQUAL(wfs_meta_getattr(f->m, ino, &a), 0);
	return a;
}

/* Create @name in @parent (file or directory) and return its inode. */
static inline uint64_t fx_mknod(struct fx *f, uint64_t parent,
				const char *name)
{
	struct wfs_meta_result r;

	CU_ASSERT_EQUAL(fx_apply(f, op_mknod(parent, name), &r), 0);
	return r.attr.ino;
}

static inline uint64_t fx_mkdir(struct fx *f, uint64_t parent,
				const char *name)
{
	struct wfs_meta_result r;

	CU_ASSERT_EQUAL(fx_apply(f, op_mkdir(parent, name), &r), 0);
	return r.attr.ino;
}

#endif
