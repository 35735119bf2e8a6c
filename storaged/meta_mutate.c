/* storaged/meta_mutate: the Meta service's mutations (see meta_service.h).
 *
 * Each handler checks its request, builds one metadata op (time from the
 * node's CLOCK_REALTIME, owner from the caller's uid/gid, the caller's
 * umask applied to created modes), proposes it and returns at once; the
 * call is answered from the raft thread once the entry has applied, with
 * the op's own errno if it failed there (so the client sees exactly what
 * the metadata said).  Two calls take a second step:
 *   - Create without O_EXCL on an existing name opens that file (created
 *     false), after a SETATTR to size 0 if O_TRUNC asks for it;
 *   - Release proposes PURGE only when the inode has no name left.
 * Every reply that changed a directory carries that directory's attributes
 * as the op left them (the op's result, not a second read), so the client
 * need not ask for them again.
 *
 * Release is a simplification for one client: the first Release of an
 * orphan purges it.  Tracking which clients hold a file open, so that the
 * last one purges, comes with the cluster issue.  In the same spirit an
 * Unlink that asks to purge, and whose caller does not have the inode
 * open, drops the inode in the UNLINK op itself (remove.purge_ino): the
 * Release that would follow could only have purged it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "mem/mem.h"
#include "storaged/node_internal.h"
#include "storaged/service_internal.h"

#define SETATTR_KNOWN 0x1ffu
/* How far a create's own time may be from the node's clock to be used. */
#define CLIENT_SKEW_NS (10 * 1000000000LL)

uint32_t wfs_svc_umask(const Wormfs__Caller *c)
{
	return c ? c->umask & 0777 : 0;
}

static int propose_new(struct wfs_node *n, struct wfs_rpc_reply *reply,
		       const struct wfs_meta_op *op, wfs_svc_reply_cb cb)
{
	struct wfs_svc_pending *p = wfs_svc_pending_new(n, cb);

	if (!p)
		return -ENOMEM;
	return wfs_svc_propose(p, reply, op);
}

/* Directory @d of an op's result into @out: returns @out, or NULL when the
 * op reported none (ino 0).  A directory's blksize needs no policy, so the
 * store is not read. */
Wormfs__Attr *wfs_svc_dir_attr(const struct wfs_meta_attr *d,
			       Wormfs__Attr *out)
{
	if (!d->ino)
		return NULL;
	wfs_svc_attr(NULL, d, out);
	return out;
}

/* The attributes of @a as a packed EntryReply (@entry, with the directory
 * @dir when not NULL) or AttrReply. */
static int pack_attr(struct wfs_node *n, const struct wfs_meta_attr *a,
		     bool entry, const struct wfs_meta_attr *dir, void **buf,
		     size_t *len)
{
	Wormfs__EntryReply er = WORMFS__ENTRY_REPLY__INIT;
	Wormfs__AttrReply ar = WORMFS__ATTR_REPLY__INIT;
	Wormfs__Attr attr, parent;
	struct wfs_meta *m = wfs_metafsm_read_begin(n->fsm);

	wfs_svc_attr(m, a, &attr);
	wfs_metafsm_read_end(n->fsm);
	er.attr = ar.attr = &attr;
	if (dir)
		er.parent_attr = wfs_svc_dir_attr(dir, &parent);
	return wfs_svc_pack(entry ? &er.base : &ar.base, buf, len);
}

static int reply_entry(struct wfs_svc_pending *p, int rc,
		       const struct wfs_metafsm_result *res, void **buf,
		       size_t *len)
{
	return rc ? rc : pack_attr(p->n, &res->meta.attr, true,
				   &res->meta.dir, buf, len);
}

static int reply_attr(struct wfs_svc_pending *p, int rc,
		      const struct wfs_metafsm_result *res, void **buf,
		      size_t *len)
{
	return rc ? rc : pack_attr(p->n, &res->meta.attr, false, NULL, buf,
				   len);
}

/* ---- SetAttr ---- */

static const struct {
	uint32_t valid, flag;
} setattr_bits[] = {
	{ WORMFS__SET_ATTR_FIELD__SETATTR_MODE, WFS_META_SET_MODE },
	{ WORMFS__SET_ATTR_FIELD__SETATTR_UID, WFS_META_SET_UID },
	{ WORMFS__SET_ATTR_FIELD__SETATTR_GID, WFS_META_SET_GID },
	{ WORMFS__SET_ATTR_FIELD__SETATTR_SIZE, WFS_META_SET_SIZE },
	{ WORMFS__SET_ATTR_FIELD__SETATTR_ATIME, WFS_META_SET_ATIME },
	{ WORMFS__SET_ATTR_FIELD__SETATTR_MTIME, WFS_META_SET_MTIME },
	{ WORMFS__SET_ATTR_FIELD__SETATTR_CTIME, WFS_META_SET_CTIME },
	{ WORMFS__SET_ATTR_FIELD__SETATTR_ATIME_NOW, WFS_META_SET_ATIME },
	{ WORMFS__SET_ATTR_FIELD__SETATTR_MTIME_NOW, WFS_META_SET_MTIME },
};

static void setattr_op(const Wormfs__SetAttrRequest *r, struct wfs_meta_op *op)
{
	wfs_svc_op_init(op, WFS_META_OP_SETATTR, r->caller);
	op->u.setattr.ino = r->ino;
	for (size_t i = 0; i < sizeof(setattr_bits) / sizeof(setattr_bits[0]);
	     i++)
		if (r->valid & setattr_bits[i].valid)
			op->u.setattr.flags |= setattr_bits[i].flag;
	op->u.setattr.mode = r->mode & 07777;
	op->u.setattr.uid = r->uid;
	op->u.setattr.gid = r->gid;
	op->u.setattr.size = r->size;
	op->u.setattr.atime_ns = r->atime_ns;
	op->u.setattr.mtime_ns = r->mtime_ns;
	op->u.setattr.ctime_ns = r->ctime_ns;
	/* "Now" is the node's clock, the one the op carries anyway. */
	if (r->valid & WORMFS__SET_ATTR_FIELD__SETATTR_ATIME_NOW)
		op->u.setattr.atime_ns = op->time_ns;
	if (r->valid & WORMFS__SET_ATTR_FIELD__SETATTR_MTIME_NOW)
		op->u.setattr.mtime_ns = op->time_ns;
}

/* SetAttr with nothing to set: the attributes as they are. */
static int setattr_nothing(struct wfs_node *n, uint64_t ino,
			   struct wfs_rpc_reply *reply)
{
	struct wfs_meta_attr a;
	struct wfs_meta *m = wfs_metafsm_read_begin(n->fsm);
	int rc = m ? wfs_meta_getattr(m, ino, &a) : -EIO;
	void *buf;
	size_t len;

	wfs_metafsm_read_end(n->fsm);
	if (rc == 0)
		rc = pack_attr(n, &a, false, NULL, &buf, &len);
	if (rc == 0)
		wfs_rpc_reply_set(reply, buf, len);
	return rc;
}

static int h_setattr(void *arg, const void *req, size_t len,
		     struct wfs_rpc_reply *reply)
{
	struct wfs_node *n = arg;
	Wormfs__SetAttrRequest *r;
	struct wfs_meta_op op;
	int rc;

	rc = wfs_svc_unpack(&wormfs__set_attr_request__descriptor, req,
			    len, &r);
	if (rc)
		return rc;
	rc = r->valid & ~SETATTR_KNOWN ? -EINVAL : wfs_node_serving(n);
	if (rc == 0 && r->valid == 0) {
		rc = setattr_nothing(n, r->ino, reply);
	} else if (rc == 0) {
		setattr_op(r, &op);
		rc = propose_new(n, reply, &op, reply_attr);
	}
	wfs_rpc_msg_free(&r->base);
	return rc;
}

/* ---- Mknod, Mkdir, Symlink ---- */

static int create_common(struct wfs_node *n, struct wfs_rpc_reply *reply,
			 uint32_t type, const Wormfs__Caller *caller,
			 uint64_t parent, const ProtobufCBinaryData *name,
			 uint32_t mode)
{
	struct wfs_meta_op op;
	struct wfs_meta_bytes nm;
	int rc;

	rc = wfs_svc_name(name, &nm);
	if (rc == 0)
		rc = wfs_node_serving(n);
	if (rc)
		return rc;
	wfs_svc_op_init(&op, type, caller);
	op.u.create.parent = parent;
	op.u.create.name = nm;
	op.u.create.mode = mode;
	return propose_new(n, reply, &op, reply_entry);
}

static int h_mknod(void *arg, const void *req, size_t len,
		   struct wfs_rpc_reply *reply)
{
	Wormfs__MknodRequest *r;
	uint32_t mode;
	int rc;

	rc = wfs_svc_unpack(&wormfs__mknod_request__descriptor, req, len, &r);
	if (rc)
		return rc;
	mode = (r->mode & S_IFMT) |
	       (r->mode & 07777 & ~wfs_svc_umask(r->caller));
	rc = create_common(arg, reply, WFS_META_OP_MKNOD, r->caller, r->parent,
			   &r->name, mode);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

static int h_mkdir(void *arg, const void *req, size_t len,
		   struct wfs_rpc_reply *reply)
{
	Wormfs__MkdirRequest *r;
	int rc;

	rc = wfs_svc_unpack(&wormfs__mkdir_request__descriptor, req, len, &r);
	if (rc)
		return rc;
	rc = create_common(arg, reply, WFS_META_OP_MKDIR, r->caller, r->parent,
			   &r->name,
			   r->mode & 07777 & ~wfs_svc_umask(r->caller));
	wfs_rpc_msg_free(&r->base);
	return rc;
}

static int h_symlink(void *arg, const void *req, size_t len,
		     struct wfs_rpc_reply *reply)
{
	struct wfs_node *n = arg;
	Wormfs__SymlinkRequest *r;
	struct wfs_meta_bytes name;
	struct wfs_meta_op op;
	int rc;

	rc = wfs_svc_unpack(&wormfs__symlink_request__descriptor, req, len, &r);
	if (rc)
		return rc;
	rc = wfs_svc_name(&r->name, &name);
	if (rc == 0 && (r->target.len == 0 ||
			memchr(r->target.data, 0, r->target.len)))
		rc = -EINVAL;
	if (rc == 0 && r->target.len > WFS_META_SYMLINK_MAX)
		rc = -ENAMETOOLONG;
	if (rc == 0)
		rc = wfs_node_serving(n);
	if (rc == 0) {
		wfs_svc_op_init(&op, WFS_META_OP_SYMLINK, r->caller);
		op.u.create.parent = r->parent;
		op.u.create.name = name;
		op.u.create.mode = 0777;
		op.u.create.target = (struct wfs_meta_bytes){ r->target.data,
							      r->target.len };
		rc = propose_new(n, reply, &op, reply_entry);
	}
	wfs_rpc_msg_free(&r->base);
	return rc;
}

/* ---- Create ---- */

void wfs_svc_create_op(const Wormfs__CreateRequest *r,
		       struct wfs_meta_bytes name, struct wfs_meta_op *op)
{
	wfs_svc_op_init(op, WFS_META_OP_MKNOD, r->caller);
	op->u.create.parent = r->parent;
	op->u.create.name = name;
	op->u.create.mode = S_IFREG |
			    (r->mode & 07777 & ~wfs_svc_umask(r->caller));
	op->u.create.ino = r->ino;
	/* The client's time is what it told the kernel; far from the
	 * node's, it is a wrong clock, not a moment ago.
	 * Compared without subtracting: any sint64 may come off the wire. */
	if (r->time_ns && r->time_ns > op->time_ns - CLIENT_SKEW_NS &&
	    r->time_ns < op->time_ns + CLIENT_SKEW_NS)
		op->time_ns = r->time_ns;
}

/* @dir: the directory the file was created in, NULL when none was. */
static int pack_create(struct wfs_node *n, const struct wfs_meta_attr *a,
		       const struct wfs_meta_attr *dir, void **buf,
		       size_t *len)
{
	Wormfs__CreateReply cr = WORMFS__CREATE_REPLY__INIT;
	Wormfs__Attr attr, parent;
	struct wfs_meta *m = wfs_metafsm_read_begin(n->fsm);

	wfs_svc_attr(m, a, &attr);
	wfs_metafsm_read_end(n->fsm);
	cr.attr = &attr;
	cr.created = dir != NULL;
	if (dir)
		cr.parent_attr = wfs_svc_dir_attr(dir, &parent);
	return wfs_svc_pack(&cr.base, buf, len);
}

/* The name exists and O_EXCL was not asked: open what it names. */
static int create_existing(struct wfs_svc_pending *p, void **buf, size_t *len)
{
	struct wfs_meta_bytes name = { p->name, p->name_len };
	struct wfs_meta_attr a;
	struct wfs_meta_op op;
	struct wfs_meta *m = wfs_metafsm_read_begin(p->n->fsm);
	int rc = m ? wfs_meta_lookup(m, p->ino, name, &a) : -EIO;

	wfs_metafsm_read_end(p->n->fsm);
	if (rc == 0 && S_ISDIR(a.mode))
		rc = -EISDIR;
	if (rc)
		return rc;
	if (!(p->flags & O_TRUNC) || !S_ISREG(a.mode))
		return pack_create(p->n, &a, NULL, buf, len);
	memset(&op, 0, sizeof(op));
	op.type = WFS_META_OP_SETATTR;
	op.time_ns = wfs_node_now_ns();
	op.uid = p->uid;
	op.gid = p->gid;
	op.u.setattr.ino = a.ino;
	op.u.setattr.flags = WFS_META_SET_SIZE;
	rc = wfs_svc_chain(p, &op);
	return rc ? rc : WFS_SVC_CHAINED;
}

static int reply_create(struct wfs_svc_pending *p, int rc,
			const struct wfs_metafsm_result *res, void **buf,
			size_t *len)
{
	if (p->stage == 1)	/* the O_TRUNC of an existing file */
		return rc ? rc : pack_create(p->n, &res->meta.attr, NULL, buf,
					     len);
	if (rc == -EEXIST && !(p->flags & O_EXCL))
		return create_existing(p, buf, len);
	return rc ? rc : pack_create(p->n, &res->meta.attr, &res->meta.dir,
				     buf, len);
}

static int create_serve(struct wfs_node *n, const Wormfs__CreateRequest *r,
			struct wfs_rpc_reply *reply)
{
	struct wfs_svc_pending *p;
	struct wfs_meta_bytes name;
	struct wfs_meta_op op;
	int rc;

	rc = wfs_svc_name(&r->name, &name);
	if (rc == 0)
		rc = wfs_node_serving(n);
	if (rc)
		return rc;
	p = wfs_svc_pending_new(n, reply_create);
	if (!p)
		return -ENOMEM;
	p->flags = r->flags;
	p->ino = r->parent;
	p->uid = r->caller ? r->caller->uid : 0;
	p->gid = r->caller ? r->caller->gid : 0;
	p->name_len = name.len;
	memcpy(p->name, name.data, name.len);
	wfs_svc_create_op(r, name, &op);
	return wfs_svc_propose(p, reply, &op);
}

static int h_create(void *arg, const void *req, size_t len,
		    struct wfs_rpc_reply *reply)
{
	Wormfs__CreateRequest *r;
	int rc;

	rc = wfs_svc_unpack(&wormfs__create_request__descriptor, req, len, &r);
	if (rc)
		return rc;
	rc = create_serve(arg, r, reply);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

/* ---- Link, Unlink, Rmdir, Rename ---- */

static int h_link(void *arg, const void *req, size_t len,
		  struct wfs_rpc_reply *reply)
{
	struct wfs_node *n = arg;
	Wormfs__LinkRequest *r;
	struct wfs_meta_bytes name;
	struct wfs_meta_op op;
	int rc;

	rc = wfs_svc_unpack(&wormfs__link_request__descriptor, req, len, &r);
	if (rc)
		return rc;
	rc = wfs_svc_name(&r->new_name, &name);
	if (rc == 0)
		rc = wfs_node_serving(n);
	if (rc == 0) {
		wfs_svc_op_init(&op, WFS_META_OP_LINK, r->caller);
		op.u.link.ino = r->ino;
		op.u.link.parent = r->new_parent;
		op.u.link.name = name;
		rc = propose_new(n, reply, &op, reply_entry);
	}
	wfs_rpc_msg_free(&r->base);
	return rc;
}

static int reply_remove(struct wfs_svc_pending *p, int rc,
			const struct wfs_metafsm_result *res, void **buf,
			size_t *len)
{
	Wormfs__RemoveReply rr = WORMFS__REMOVE_REPLY__INIT;
	Wormfs__Attr parent;

	(void)p;
	if (rc)
		return rc;
	rr.ino = res->meta.attr.ino;
	rr.nlink = res->meta.attr.nlink;
	rr.purged = res->meta.purged;
	rr.parent_attr = wfs_svc_dir_attr(&res->meta.dir, &parent);
	return wfs_svc_pack(&rr.base, buf, len);
}

/* The inode an Unlink asking to purge may drop with its name: the one the
 * name leads to now, unless the caller has it open (0: none).  Should the
 * name lead elsewhere by the time the op applies, the op purges nothing:
 * it names the inode, not the name. */
uint64_t wfs_svc_purge_target(struct wfs_node *n,
			      const Wormfs__RemoveRequest *r,
			      struct wfs_meta_bytes name)
{
	struct wfs_meta_attr a;
	struct wfs_meta *m = wfs_metafsm_read_begin(n->fsm);
	int rc = m ? wfs_meta_lookup(m, r->parent, name, &a) : -EIO;

	wfs_metafsm_read_end(n->fsm);
	if (rc || S_ISDIR(a.mode))
		return 0;
	for (size_t i = 0; i < r->n_open_inos; i++)
		if (r->open_inos[i] == a.ino)
			return 0;
	return a.ino;
}

static int remove_common(void *arg, const void *req, size_t len,
			 struct wfs_rpc_reply *reply, uint32_t type)
{
	struct wfs_node *n = arg;
	Wormfs__RemoveRequest *r;
	struct wfs_meta_bytes name;
	struct wfs_meta_op op;
	int rc;

	rc = wfs_svc_unpack(&wormfs__remove_request__descriptor, req, len, &r);
	if (rc)
		return rc;
	rc = wfs_svc_name(&r->name, &name);
	if (rc == 0 && r->n_open_inos > WFS_SVC_OPEN_INOS_MAX)
		rc = -EINVAL;
	if (rc == 0)
		rc = wfs_node_serving(n);
	if (rc == 0) {
		wfs_svc_op_init(&op, type, r->caller);
		op.u.remove.parent = r->parent;
		op.u.remove.name = name;
		if (type == WFS_META_OP_UNLINK && r->purge)
			op.u.remove.purge_ino =
				wfs_svc_purge_target(n, r, name);
		rc = propose_new(n, reply, &op, reply_remove);
	}
	wfs_rpc_msg_free(&r->base);
	return rc;
}

static int h_unlink(void *arg, const void *req, size_t len,
		    struct wfs_rpc_reply *reply)
{
	return remove_common(arg, req, len, reply, WFS_META_OP_UNLINK);
}

static int h_rmdir(void *arg, const void *req, size_t len,
		   struct wfs_rpc_reply *reply)
{
	return remove_common(arg, req, len, reply, WFS_META_OP_RMDIR);
}

static int reply_rename(struct wfs_svc_pending *p, int rc,
			const struct wfs_metafsm_result *res, void **buf,
			size_t *len)
{
	Wormfs__RenameReply rr = WORMFS__RENAME_REPLY__INIT;
	Wormfs__Attr parent, new_parent;

	(void)p;
	if (rc)
		return rc;
	rr.ino = res->meta.attr.ino;
	rr.replaced_ino = res->replaced_ino;
	rr.replaced_nlink = res->replaced_nlink;
	rr.parent_attr = wfs_svc_dir_attr(&res->meta.dir, &parent);
	rr.new_parent_attr = wfs_svc_dir_attr(&res->meta.new_dir, &new_parent);
	return wfs_svc_pack(&rr.base, buf, len);
}

static int h_rename(void *arg, const void *req, size_t len,
		    struct wfs_rpc_reply *reply)
{
	struct wfs_node *n = arg;
	Wormfs__RenameRequest *r;
	struct wfs_meta_bytes name, new_name;
	struct wfs_meta_op op;
	int rc;

	rc = wfs_svc_unpack(&wormfs__rename_request__descriptor, req, len, &r);
	if (rc)
		return rc;
	rc = wfs_svc_name(&r->name, &name);
	if (rc == 0)
		rc = wfs_svc_name(&r->new_name, &new_name);
	if (rc == 0 && (r->flags & ~(uint32_t)(WFS_META_RENAME_NOREPLACE |
					       WFS_META_RENAME_EXCHANGE)))
		rc = -EINVAL;
	if (rc == 0)
		rc = wfs_node_serving(n);
	if (rc == 0) {
		wfs_svc_op_init(&op, WFS_META_OP_RENAME, r->caller);
		op.u.rename.parent = r->parent;
		op.u.rename.name = name;
		op.u.rename.new_parent = r->new_parent;
		op.u.rename.new_name = new_name;
		op.u.rename.flags = r->flags;
		rc = propose_new(n, reply, &op, reply_rename);
	}
	wfs_rpc_msg_free(&r->base);
	return rc;
}

/* ---- Release ---- */

static int pack_release(bool purged, void **buf, size_t *len)
{
	Wormfs__ReleaseReply rr = WORMFS__RELEASE_REPLY__INIT;

	rr.purged = purged;
	return wfs_svc_pack(&rr.base, buf, len);
}

static int reply_release(struct wfs_svc_pending *p, int rc,
			 const struct wfs_metafsm_result *res, void **buf,
			 size_t *len)
{
	(void)p;
	(void)res;
	/* Linked again, or purged by someone else meanwhile: not ours. */
	if (rc == -EBUSY || rc == -ENOENT)
		return pack_release(false, buf, len);
	return rc ? rc : pack_release(true, buf, len);
}

static int release_serve(struct wfs_node *n, const Wormfs__ReleaseRequest *r,
			 struct wfs_rpc_reply *reply)
{
	struct wfs_meta_attr a;
	struct wfs_meta_op op;
	struct wfs_meta *m;
	void *buf;
	size_t len;
	int rc;

	rc = wfs_node_serving(n);
	if (rc)
		return rc;
	m = wfs_metafsm_read_begin(n->fsm);
	rc = m ? wfs_meta_getattr(m, r->ino, &a) : -EIO;
	wfs_metafsm_read_end(n->fsm);
	if (rc == 0 && a.nlink == 0 && r->ino != WFS_META_ROOT_INO) {
		wfs_svc_op_init(&op, WFS_META_OP_PURGE, r->caller);
		op.u.purge.ino = r->ino;
		return propose_new(n, reply, &op, reply_release);
	}
	if (rc && rc != -ENOENT)
		return rc;
	rc = pack_release(false, &buf, &len);
	if (rc == 0)
		wfs_rpc_reply_set(reply, buf, len);
	return rc;
}

static int h_release(void *arg, const void *req, size_t len,
		     struct wfs_rpc_reply *reply)
{
	Wormfs__ReleaseRequest *r;
	int rc;

	rc = wfs_svc_unpack(&wormfs__release_request__descriptor, req, len, &r);
	if (rc)
		return rc;
	rc = r->client_id.len > WFS_LOCKS_CLIENT_MAX ? -EINVAL
						      : release_serve(arg, r,
								      reply);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

/* ---- SetXattr, RemoveXattr ---- */

static int reply_empty(struct wfs_svc_pending *p, int rc,
		       const struct wfs_metafsm_result *res, void **buf,
		       size_t *len)
{
	(void)p;
	(void)res;
	*buf = NULL;
	*len = 0;
	return rc;	/* both replies are empty messages: zero bytes */
}

static int h_setxattr(void *arg, const void *req, size_t len,
		      struct wfs_rpc_reply *reply)
{
	struct wfs_node *n = arg;
	Wormfs__SetXattrRequest *r;
	struct wfs_meta_bytes name;
	struct wfs_meta_op op;
	int rc;

	rc = wfs_svc_unpack(&wormfs__set_xattr_request__descriptor, req,
			    len, &r);
	if (rc)
		return rc;
	rc = wfs_svc_xattr_name(&r->name, &name);
	if (rc == 0 && r->value.len > WFS_META_XATTR_VALUE_MAX)
		rc = -E2BIG;
	if (rc == 0 && (r->flags & ~3u || r->flags == 3))
		rc = -EINVAL;
	if (rc == 0)
		rc = wfs_node_serving(n);
	if (rc == 0) {
		wfs_svc_op_init(&op, WFS_META_OP_SETXATTR, r->caller);
		op.u.xattr.ino = r->ino;
		op.u.xattr.name = name;
		op.u.xattr.value = (struct wfs_meta_bytes){ r->value.data,
							    r->value.len };
		op.u.xattr.flags = r->flags;
		rc = propose_new(n, reply, &op, reply_empty);
	}
	wfs_rpc_msg_free(&r->base);
	return rc;
}

static int h_removexattr(void *arg, const void *req, size_t len,
			 struct wfs_rpc_reply *reply)
{
	struct wfs_node *n = arg;
	Wormfs__RemoveXattrRequest *r;
	struct wfs_meta_bytes name;
	struct wfs_meta_op op;
	int rc;

	rc = wfs_svc_unpack(&wormfs__remove_xattr_request__descriptor, req,
			    len, &r);
	if (rc)
		return rc;
	rc = wfs_svc_xattr_name(&r->name, &name);
	if (rc == 0)
		rc = wfs_node_serving(n);
	if (rc == 0) {
		wfs_svc_op_init(&op, WFS_META_OP_REMOVEXATTR, r->caller);
		op.u.xattr.ino = r->ino;
		op.u.xattr.name = name;
		rc = propose_new(n, reply, &op, reply_empty);
	}
	wfs_rpc_msg_free(&r->base);
	return rc;
}

/* ---- registration ---- */

static const struct {
	const char *method;
	wfs_rpc_handler_cb cb;
} mutations[] = {
	{ WFS_SVC_META("SetAttr"), h_setattr },
	{ WFS_SVC_META("Mknod"), h_mknod },
	{ WFS_SVC_META("Create"), h_create },
	{ WFS_SVC_META("Mkdir"), h_mkdir },
	{ WFS_SVC_META("Symlink"), h_symlink },
	{ WFS_SVC_META("Link"), h_link },
	{ WFS_SVC_META("Unlink"), h_unlink },
	{ WFS_SVC_META("Rmdir"), h_rmdir },
	{ WFS_SVC_META("Rename"), h_rename },
	{ WFS_SVC_META("Release"), h_release },
	{ WFS_SVC_META("SetXattr"), h_setxattr },
	{ WFS_SVC_META("RemoveXattr"), h_removexattr },
};

int wfs_svc_register_mutations(struct wfs_node *n, struct wfs_rpc_server *s)
{
	int rc = 0;

	for (size_t i = 0;
	     rc == 0 && i < sizeof(mutations) / sizeof(mutations[0]); i++)
		rc = wfs_rpc_server_handle(s, mutations[i].method,
					   mutations[i].cb, n);
	return rc;
}
