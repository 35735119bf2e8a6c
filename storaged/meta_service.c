/* storaged/meta_service: the Meta service's reads and locks, and what the
 * handlers share (see meta_service.h and service_internal.h).
 *
 * A read handler: unpack (-EINVAL if the bytes are not the message), check
 * the fields, check that this node serves metadata (-EAGAIN otherwise),
 * then read the store between wfs_metafsm_read_begin/_end and pack the
 * reply.  Listings are bounded: ReadDir sends at most READDIR_MAX entries
 * per call whatever the client asks, so a reply never grows with the
 * directory.
 */
#include "storaged/meta_service.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "log/log.h"
#include "mem/mem.h"
#include "storaged/node_internal.h"
#include "storaged/service_internal.h"

#define READDIR_DEFAULT 256
#define READDIR_MAX 1024
#define STATFS_BSIZE 4096
/* Inodes are not a fixed resource; statfs reports this many in all. */
#define STATFS_FILES (1ULL << 32)
#define LOCK_WAIT_DEFAULT_MS 20000
#define LOCK_WAIT_MAX_MS 600000
#define XATTR_LIST_MAX 65536

/* ---- shared helpers (service_internal.h) ---- */

int wfs_svc_name(const ProtobufCBinaryData *b, struct wfs_meta_bytes *out)
{
	if (b->len == 0 || !b->data)
		return -EINVAL;
	if (b->len > WFS_META_NAME_MAX)
		return -ENAMETOOLONG;
	if (memchr(b->data, '/', b->len) || memchr(b->data, 0, b->len))
		return -EINVAL;
	if ((b->len == 1 && b->data[0] == '.') ||
	    (b->len == 2 && b->data[0] == '.' && b->data[1] == '.'))
		return -EINVAL;
	out->data = b->data;
	out->len = b->len;
	return 0;
}

void wfs_svc_op_init(struct wfs_meta_op *op, uint32_t type,
		     const Wormfs__Caller *caller)
{
	memset(op, 0, sizeof(*op));
	op->type = type;
	op->time_ns = wfs_node_now_ns();
	op->uid = caller ? caller->uid : 0;
	op->gid = caller ? caller->gid : 0;
	op->session = caller ? caller->session : 0;
}

void wfs_svc_attr(struct wfs_meta *m, const struct wfs_meta_attr *a,
		  Wormfs__Attr *out)
{
	struct wfs_meta_policy p;

	wormfs__attr__init(out);
	out->ino = a->ino;
	out->mode = a->mode;
	out->nlink = a->nlink;
	out->uid = a->uid;
	out->gid = a->gid;
	out->size = a->size;
	out->bytes = a->bytes;
	out->rdev = a->rdev;
	out->atime_ns = a->atime_ns;
	out->mtime_ns = a->mtime_ns;
	out->ctime_ns = a->ctime_ns;
	out->btime_ns = a->btime_ns;
	out->generation = a->generation;
	out->policy_id = a->policy_id;
	out->blksize = STATFS_BSIZE;
	if (m && S_ISREG(a->mode) && a->policy_id &&
	    wfs_meta_policy_get(m, a->policy_id, &p) == 0)
		out->blksize = p.k * p.chunk_size;
}

int wfs_svc_unpack(const ProtobufCMessageDescriptor *desc, const void *req,
		   size_t len, void *out)
{
	int rc = wfs_rpc_msg_unpack(desc, req, len, (ProtobufCMessage **)out);

	return rc == -EPROTO ? -EINVAL : rc;
}

int wfs_svc_xattr_name(const ProtobufCBinaryData *b,
		       struct wfs_meta_bytes *out)
{
	if (b->len == 0 || !b->data || memchr(b->data, 0, b->len))
		return -EINVAL;
	if (b->len > WFS_META_XATTR_NAME_MAX)
		return -ERANGE;
	out->data = b->data;
	out->len = b->len;
	return 0;
}

int wfs_svc_pack(const ProtobufCMessage *msg, void **buf, size_t *len)
{
	return wfs_rpc_msg_pack(msg, buf, len);
}

struct wfs_svc_pending *wfs_svc_pending_new(struct wfs_node *n,
					    wfs_svc_reply_cb reply_cb)
{
	struct wfs_svc_pending *p = wfs_calloc(1, sizeof(*p));

	if (p) {
		p->n = n;
		p->reply = reply_cb;
	}
	return p;
}

/* Raft thread: the entry of @arg applied (or the proposal failed). */
static void pending_done(void *arg, int rc,
			 const struct wfs_metafsm_result *res)
{
	struct wfs_svc_pending *p = arg;
	void *buf = NULL;
	size_t len = 0;
	int r;

	if (rc == 0)
		rc = res->meta.status;
	r = p->reply(p, rc, res, &buf, &len);
	if (r == WFS_SVC_CHAINED)
		return;
	wfs_rpc_call_finish(p->call, r, buf, len);
	wfs_free(p);
}

/* @op with the request name of @p for its stage, in @named. */
static const struct wfs_meta_op *named_op(struct wfs_svc_pending *p,
					  const struct wfs_meta_op *op,
					  struct wfs_meta_op *named,
					  char *name, size_t cap)
{
	int len;

	if (!p->request_len)
		return op;
	len = p->stage ? snprintf(name, cap, "%.*s/%d", (int)p->request_len,
				  p->request, p->stage)
		       : snprintf(name, cap, "%.*s", (int)p->request_len,
				  p->request);
	if (len <= 0 || (size_t)len >= cap)
		return op;
	*named = *op;
	named->request = (struct wfs_meta_bytes){ name, (size_t)len };
	return named;
}

int wfs_svc_propose(struct wfs_svc_pending *p, struct wfs_rpc_reply *reply,
		    const struct wfs_meta_op *op)
{
	const char *id = wfs_rpc_reply_request_id(reply);
	char name[WFS_META_REQUEST_MAX + 1];
	struct wfs_meta_op named;
	int rc;

	/* A client's name for its request, if it gave one that fits with
	 * room for the stage suffix. */
	if (id && strlen(id) + 8 <= WFS_META_REQUEST_MAX) {
		p->request_len = strlen(id);
		memcpy(p->request, id, p->request_len);
	}
	op = named_op(p, op, &named, name, sizeof(name));
	/* Deferred before proposing: the entry may apply, and its callback
	 * finish the call, before wfs_node_propose returns. */
	p->call = wfs_rpc_reply_later(reply);
	rc = wfs_node_propose(p->n, op, pending_done, p);
	if (rc) {
		wfs_rpc_call_finish(p->call, rc, NULL, 0);
		wfs_free(p);
	}
	return 0;
}

int wfs_svc_chain(struct wfs_svc_pending *p, const struct wfs_meta_op *op)
{
	char name[WFS_META_REQUEST_MAX + 1];
	struct wfs_meta_op named;

	p->stage++;
	op = named_op(p, op, &named, name, sizeof(name));
	return wfs_node_propose(p->n, op, pending_done, p);
}

/* ---- request plumbing ---- */

static int reply_msg(struct wfs_rpc_reply *reply, const ProtobufCMessage *msg)
{
	return wfs_rpc_reply_set_msg(reply, msg);
}

static int reply_attr(struct wfs_rpc_reply *reply, struct wfs_meta *m,
		      const struct wfs_meta_attr *a, bool entry)
{
	Wormfs__Attr attr;
	Wormfs__EntryReply er = WORMFS__ENTRY_REPLY__INIT;
	Wormfs__AttrReply ar = WORMFS__ATTR_REPLY__INIT;

	wfs_svc_attr(m, a, &attr);
	er.attr = &attr;
	ar.attr = &attr;
	return reply_msg(reply, entry ? &er.base : &ar.base);
}

/* ---- Lookup, GetAttr, Readlink ---- */

static int h_lookup(void *arg, const void *req, size_t len,
		    struct wfs_rpc_reply *reply)
{
	struct wfs_node *n = arg;
	Wormfs__LookupRequest *r;
	struct wfs_meta_bytes name;
	struct wfs_meta_attr a;
	struct wfs_meta *m;
	int rc;

	rc = wfs_svc_unpack(&wormfs__lookup_request__descriptor, req, len, &r);
	if (rc)
		return rc;
	rc = wfs_svc_name(&r->name, &name);
	if (rc == 0)
		rc = wfs_node_serving(n);
	if (rc == 0) {
		m = wfs_metafsm_read_begin(n->fsm);
		rc = m ? wfs_meta_lookup(m, r->parent, name, &a) : -EIO;
		if (rc == 0)
			rc = reply_attr(reply, m, &a, true);
		wfs_metafsm_read_end(n->fsm);
	}
	/* A miss the caller takes as an answer: a reply without attr. */
	if (rc == -ENOENT && r->absent_ok) {
		Wormfs__EntryReply er = WORMFS__ENTRY_REPLY__INIT;

		rc = reply_msg(reply, &er.base);
	}
	wfs_rpc_msg_free(&r->base);
	return rc;
}

static int h_getattr(void *arg, const void *req, size_t len,
		     struct wfs_rpc_reply *reply)
{
	struct wfs_node *n = arg;
	Wormfs__GetAttrRequest *r;
	struct wfs_meta_attr a;
	struct wfs_meta *m;
	int rc;

	rc = wfs_svc_unpack(&wormfs__get_attr_request__descriptor, req,
			    len, &r);
	if (rc)
		return rc;
	rc = wfs_node_serving(n);
	if (rc == 0) {
		m = wfs_metafsm_read_begin(n->fsm);
		rc = m ? wfs_meta_getattr(m, r->ino, &a) : -EIO;
		if (rc == 0)
			rc = reply_attr(reply, m, &a, false);
		wfs_metafsm_read_end(n->fsm);
	}
	wfs_rpc_msg_free(&r->base);
	return rc;
}

static int h_readlink(void *arg, const void *req, size_t len,
		      struct wfs_rpc_reply *reply)
{
	Wormfs__ReadlinkReply rr = WORMFS__READLINK_REPLY__INIT;
	struct wfs_node *n = arg;
	Wormfs__ReadlinkRequest *r;
	char *buf;
	struct wfs_meta *m;
	int rc;

	rc = wfs_svc_unpack(&wormfs__readlink_request__descriptor, req,
			    len, &r);
	if (rc)
		return rc;
	buf = wfs_malloc(WFS_META_SYMLINK_MAX + 1);
	rc = buf ? wfs_node_serving(n) : -ENOMEM;
	if (rc == 0) {
		m = wfs_metafsm_read_begin(n->fsm);
		rc = m ? wfs_meta_readlink(m, r->ino, buf,
					   WFS_META_SYMLINK_MAX + 1)
		       : -EIO;
		wfs_metafsm_read_end(n->fsm);
	}
	if (rc >= 0) {
		rr.target.data = (uint8_t *)buf;
		rr.target.len = (size_t)rc;
		rc = reply_msg(reply, &rr.base);
	}
	wfs_free(buf);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

/* ---- ReadDir ---- */

struct dir_page {
	Wormfs__DirEntry *ents;
	Wormfs__DirEntry **ptrs;
	Wormfs__Attr *attrs;
	unsigned char *names;	/* WFS_META_NAME_MAX bytes per entry */
	unsigned n, cap;
};

static int dirent_cb(const struct wfs_meta_dirent *d, void *arg)
{
	struct dir_page *p = arg;
	Wormfs__DirEntry *e;

	if (p->n == p->cap)
		return 1;
	e = &p->ents[p->n];
	wormfs__dir_entry__init(e);
	e->ino = d->ino;
	e->mode = d->mode;
	e->cookie = d->cookie;
	e->name.data = p->names + (size_t)p->n * WFS_META_NAME_MAX;
	e->name.len = d->name.len;
	memcpy(e->name.data, d->name.data, d->name.len);
	p->ptrs[p->n] = e;
	p->n++;
	return 0;
}

static void dir_page_free(struct dir_page *p)
{
	wfs_free(p->ents);
	wfs_free(p->ptrs);
	wfs_free(p->attrs);
	wfs_free(p->names);
}

static int dir_page_alloc(struct dir_page *p, unsigned cap)
{
	memset(p, 0, sizeof(*p));
	p->cap = cap;
	p->ents = wfs_calloc(cap, sizeof(*p->ents));
	p->ptrs = wfs_calloc(cap, sizeof(*p->ptrs));
	p->attrs = wfs_calloc(cap, sizeof(*p->attrs));
	p->names = wfs_malloc((size_t)cap * WFS_META_NAME_MAX);
	if (!p->ents || !p->ptrs || !p->attrs || !p->names) {
		dir_page_free(p);
		return -ENOMEM;
	}
	return 0;
}

/* Read one page of @r's directory into @p; sets *eof. */
static int read_dir_page(struct wfs_node *n, const Wormfs__ReadDirRequest *r,
			 unsigned limit, struct dir_page *p, bool *eof)
{
	struct wfs_meta *m = wfs_metafsm_read_begin(n->fsm);
	int rc;

	/* One entry more than sent tells whether the listing is over. */
	rc = m ? wfs_meta_readdir(m, r->ino, r->cookie, limit + 1, dirent_cb,
				  p)
	       : -EIO;
	if (rc >= 0) {
		*eof = p->n <= limit;
		if (p->n > limit)
			p->n = limit;
		rc = 0;
	}
	for (unsigned i = 0; rc == 0 && r->plus && i < p->n; i++) {
		struct wfs_meta_attr a;

		/* An entry removed since the listing goes without attr. */
		if (wfs_meta_getattr(m, p->ents[i].ino, &a) != 0)
			continue;
		wfs_svc_attr(m, &a, &p->attrs[i]);
		p->ents[i].attr = &p->attrs[i];
	}
	wfs_metafsm_read_end(n->fsm);
	return rc;
}

static int h_readdir(void *arg, const void *req, size_t len,
		     struct wfs_rpc_reply *reply)
{
	Wormfs__ReadDirReply rr = WORMFS__READ_DIR_REPLY__INIT;
	struct wfs_node *n = arg;
	Wormfs__ReadDirRequest *r;
	struct dir_page p;
	unsigned limit;
	bool eof = false;
	int rc;

	rc = wfs_svc_unpack(&wormfs__read_dir_request__descriptor, req,
			    len, &r);
	if (rc)
		return rc;
	limit = r->limit == 0 ? READDIR_DEFAULT
			      : r->limit > READDIR_MAX ? READDIR_MAX : r->limit;
	rc = wfs_node_serving(n);
	if (rc == 0)
		rc = dir_page_alloc(&p, limit + 1);
	if (rc) {
		wfs_rpc_msg_free(&r->base);
		return rc;
	}
	rc = read_dir_page(n, r, limit, &p, &eof);
	if (rc == 0) {
		rr.n_entries = p.n;
		rr.entries = p.ptrs;
		rr.eof = eof;
		rc = reply_msg(reply, &rr.base);
	}
	dir_page_free(&p);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

/* ---- Statfs ---- */

static void disk_totals(struct wfs_node *n, uint64_t *cap, uint64_t *avail)
{
	unsigned count = wfs_store_disk_count(n->store);

	*cap = *avail = 0;
	for (unsigned i = 0; i < count; i++) {
		struct wfs_store_disk_info info;

		if (wfs_store_disk_info(n->store, i, &info) != 0 ||
		    !info.online)
			continue;
		*cap += info.capacity;
		*avail += info.avail;
	}
}

static int h_statfs(void *arg, const void *req, size_t len,
		    struct wfs_rpc_reply *reply)
{
	Wormfs__StatfsReply sr = WORMFS__STATFS_REPLY__INIT;
	struct wfs_node *n = arg;
	Wormfs__StatfsRequest *r;
	uint64_t inodes = 0, bytes = 0, cap, avail;
	struct wfs_meta *m;
	int rc;

	rc = wfs_svc_unpack(&wormfs__statfs_request__descriptor, req, len, &r);
	if (rc)
		return rc;
	rc = wfs_node_serving(n);
	if (rc == 0) {
		m = wfs_metafsm_read_begin(n->fsm);
		rc = m ? wfs_meta_usage(m, &inodes, &bytes) : -EIO;
		wfs_metafsm_read_end(n->fsm);
	}
	if (rc == 0) {
		/* Raw space of this node's disks: what the cluster of one
		 * node has, before erasure coding takes its share. */
		disk_totals(n, &cap, &avail);
		sr.bsize = sr.frsize = STATFS_BSIZE;
		sr.blocks = cap / STATFS_BSIZE;
		sr.bfree = sr.bavail = avail / STATFS_BSIZE;
		sr.files = STATFS_FILES;
		sr.ffree = inodes < STATFS_FILES ? STATFS_FILES - inodes : 0;
		sr.namemax = WFS_META_NAME_MAX;
		rc = reply_msg(reply, &sr.base);
	}
	wfs_rpc_msg_free(&r->base);
	return rc;
}

/* ---- xattrs ---- */

static int h_getxattr(void *arg, const void *req, size_t len,
		      struct wfs_rpc_reply *reply)
{
	Wormfs__GetXattrReply gr = WORMFS__GET_XATTR_REPLY__INIT;
	struct wfs_node *n = arg;
	Wormfs__GetXattrRequest *r;
	struct wfs_meta_bytes name;
	void *buf = NULL;
	struct wfs_meta *m;
	int rc;

	rc = wfs_svc_unpack(&wormfs__get_xattr_request__descriptor, req,
			    len, &r);
	if (rc)
		return rc;
	rc = wfs_svc_xattr_name(&r->name, &name);
	if (rc == 0)
		rc = wfs_node_serving(n);
	if (rc == 0) {
		buf = wfs_malloc(WFS_META_XATTR_VALUE_MAX);
		rc = buf ? 0 : -ENOMEM;
	}
	if (rc == 0) {
		m = wfs_metafsm_read_begin(n->fsm);
		rc = m ? wfs_meta_getxattr(m, r->ino, name, buf,
					   WFS_META_XATTR_VALUE_MAX)
		       : -EIO;
		wfs_metafsm_read_end(n->fsm);
	}
	if (rc >= 0) {
		gr.value.data = buf;
		gr.value.len = (size_t)rc;
		rc = reply_msg(reply, &gr.base);
	}
	wfs_free(buf);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

/* Split the NUL-separated @len bytes at @list into @names. */
static size_t split_names(char *list, size_t len, ProtobufCBinaryData *names)
{
	size_t count = 0;

	for (size_t at = 0; at < len;) {
		size_t l = strnlen(list + at, len - at);

		if (l) {
			names[count].data = (uint8_t *)list + at;
			names[count++].len = l;
		}
		at += l + 1;
	}
	return count;
}

static int h_listxattr(void *arg, const void *req, size_t len,
		       struct wfs_rpc_reply *reply)
{
	Wormfs__ListXattrReply lr = WORMFS__LIST_XATTR_REPLY__INIT;
	ProtobufCBinaryData *names = NULL;
	struct wfs_node *n = arg;
	Wormfs__ListXattrRequest *r;
	char *buf = NULL;
	struct wfs_meta *m;
	int rc;

	rc = wfs_svc_unpack(&wormfs__list_xattr_request__descriptor, req,
			    len, &r);
	if (rc)
		return rc;
	rc = wfs_node_serving(n);
	if (rc == 0) {
		buf = wfs_malloc(XATTR_LIST_MAX);
		rc = buf ? 0 : -ENOMEM;
	}
	if (rc == 0) {
		m = wfs_metafsm_read_begin(n->fsm);
		rc = m ? wfs_meta_listxattr(m, r->ino, buf, XATTR_LIST_MAX)
		       : -EIO;
		wfs_metafsm_read_end(n->fsm);
	}
	if (rc >= 0) {
		/* At most one name per NUL, plus one unterminated. */
		size_t count = 1;

		for (int i = 0; i < rc; i++)
			count += buf[i] == 0;
		names = wfs_calloc(count, sizeof(*names));
		if (!names)
			rc = -ENOMEM;
	}
	if (rc >= 0) {
		lr.n_names = split_names(buf, (size_t)rc, names);
		lr.names = names;
		rc = reply_msg(reply, &lr.base);
	}
	wfs_free(names);
	wfs_free(buf);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

/* ---- Lock ---- */

static int lock_request(const Wormfs__LockRequest *r, struct wfs_lock *out)
{
	if ((unsigned)r->kind > WFS_LOCK_FLOCK ||
	    (unsigned)r->type > WFS_LOCK_WRITE ||
	    (unsigned)r->op > WORMFS__LOCK_OP__LOCK_OP_GET ||
	    r->client_id.len > WFS_LOCKS_CLIENT_MAX)
		return -EINVAL;
	if (r->kind == WORMFS__LOCK_KIND__LOCK_KIND_POSIX && r->start > r->end)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->ino = r->ino;
	out->kind = (uint32_t)r->kind;
	out->type = (uint32_t)r->type;
	out->start = r->start;
	out->end = r->end;
	out->owner = r->owner;
	out->pid = r->caller ? r->caller->pid : 0;
	out->client = r->client_id.data;
	out->client_len = r->client_id.len;
	return 0;
}

static int pack_lock_reply(const struct wfs_lock *l, void **buf, size_t *len)
{
	Wormfs__LockReply lr = WORMFS__LOCK_REPLY__INIT;

	if (l) {
		lr.type = (Wormfs__LockType)l->type;
		lr.start = l->start;
		lr.end = l->end;
		lr.owner = l->owner;
		lr.pid = l->pid;
	}
	return wfs_svc_pack(&lr.base, buf, len);
}

/* A queued LOCK_OP_SET_WAIT ended (any thread). */
static void lock_granted(void *arg, int rc)
{
	struct wfs_rpc_call *call = arg;
	void *buf = NULL;
	size_t len = 0;

	if (rc == -ECANCELED)
		rc = -EINTR;	/* the node is stopping: as a signal would */
	if (rc == 0)
		rc = pack_lock_reply(NULL, &buf, &len);
	wfs_rpc_call_finish(call, rc, buf, len);
}

static int lock_wait(struct wfs_node *n, const Wormfs__LockRequest *r,
		     const struct wfs_lock *l, struct wfs_rpc_reply *reply)
{
	uint64_t wait = r->wait_ms ? r->wait_ms : LOCK_WAIT_DEFAULT_MS;
	struct wfs_rpc_call *call;
	void *buf = NULL;
	size_t len = 0;
	int rc;

	if (atomic_load(&n->closing))
		return -EINTR;
	if (wait > LOCK_WAIT_MAX_MS)
		wait = LOCK_WAIT_MAX_MS;
	call = wfs_rpc_reply_later(reply);
	rc = wfs_locks_set_wait(n->locks, l, wfs_node_mono_ms() + wait,
				lock_granted, call);
	if (rc == 1) {
		/* Queued; a stop that began meanwhile may have missed it. */
		if (atomic_load(&n->closing))
			wfs_locks_cancel_waits(n->locks);
		return 0;
	}
	if (rc == 0)
		rc = pack_lock_reply(NULL, &buf, &len);
	wfs_rpc_call_finish(call, rc, buf, len);
	return 0;
}

static int lock_serve(struct wfs_node *n, const Wormfs__LockRequest *r,
		      struct wfs_rpc_reply *reply)
{
	struct wfs_lock l, got;
	struct wfs_meta_attr a;
	struct wfs_meta *m;
	void *buf = NULL;
	size_t len = 0;
	int rc;

	rc = lock_request(r, &l);
	if (rc == 0)
		rc = wfs_node_serving(n);
	if (rc == 0) {
		m = wfs_metafsm_read_begin(n->fsm);
		rc = m ? wfs_meta_getattr(m, r->ino, &a) : -EIO;
		wfs_metafsm_read_end(n->fsm);
	}
	if (rc)
		return rc;
	if (r->op == WORMFS__LOCK_OP__LOCK_OP_SET_WAIT &&
	    l.type != WFS_LOCK_UNLOCK)
		return lock_wait(n, r, &l, reply);
	if (r->op == WORMFS__LOCK_OP__LOCK_OP_GET) {
		rc = wfs_locks_get(n->locks, &l, &got);
		if (rc == 0)
			rc = pack_lock_reply(&got, &buf, &len);
	} else {
		/* SET, and SET_WAIT of an unlock, which never waits */
		rc = wfs_locks_set(n->locks, &l);
		if (rc == 0)
			rc = pack_lock_reply(NULL, &buf, &len);
	}
	if (rc == 0)
		wfs_rpc_reply_set(reply, buf, len);
	return rc;
}

static int h_lock(void *arg, const void *req, size_t len,
		  struct wfs_rpc_reply *reply)
{
	Wormfs__LockRequest *r;
	int rc;

	rc = wfs_svc_unpack(&wormfs__lock_request__descriptor, req, len, &r);
	if (rc)
		return rc;
	rc = lock_serve(arg, r, reply);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

/* ---- registration ---- */

static const struct {
	const char *method;
	wfs_rpc_handler_cb cb;
} reads[] = {
	{ WFS_SVC_META("Lookup"), h_lookup },
	{ WFS_SVC_META("GetAttr"), h_getattr },
	{ WFS_SVC_META("ReadDir"), h_readdir },
	{ WFS_SVC_META("Readlink"), h_readlink },
	{ WFS_SVC_META("Statfs"), h_statfs },
	{ WFS_SVC_META("GetXattr"), h_getxattr },
	{ WFS_SVC_META("ListXattr"), h_listxattr },
	{ WFS_SVC_META("Lock"), h_lock },
};

int wfs_metasvc_register(struct wfs_node *n, struct wfs_rpc_server *s)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < sizeof(reads) / sizeof(reads[0]);
	     i++)
		rc = wfs_rpc_server_handle(s, reads[i].method, reads[i].cb, n);
	if (rc == 0)
		rc = wfs_svc_register_mutations(n, s);
	if (rc == 0)
		rc = wfs_svc_register_behind(n, s);
	return rc;
}
