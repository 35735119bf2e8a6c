/* storaged/meta_behind: the calls of a client that answers its kernel
 * before the node has applied (client/behind.c): UnlinkMany and
 * CreateMany, which carry many such changes in one call, and Lease and
 * ReserveInos, which make early creates safe (proto/wormfs.proto).
 *
 * A many-call proposes one op per item, all in one turn so the log writes
 * them together, each named "<request id>#<place>" so that a retried call
 * applies none twice, and is answered once the last has applied.  Should
 * any item meet a change of master, the whole call fails with -EAGAIN and
 * the client sends it again: the items applied already answer from the
 * store's record of their names.  An item another session's directory
 * lease refused is that item's outcome (-EAGAIN): nothing of it was
 * applied or remembered, the others went ahead, and the client sends it
 * again later on its own.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "mem/mem.h"
#include "storaged/node_internal.h"
#include "storaged/service_internal.h"

/* Most items one call may carry. */
#define MANY_MAX 256
/* Most inode numbers one ReserveInos hands out. */
#define RESERVE_INOS_MAX 4096

struct many_call;

/* Pack the reply of a many-call whose items all came to an outcome. */
typedef int (*many_pack_fn)(struct many_call *b, void **buf, size_t *len);

struct many_call {
	struct wfs_node *n;
	struct wfs_rpc_call *call;
	many_pack_fn pack;
	atomic_uint left;		/* items not done, + 1 while proposing */
	unsigned count;
	struct many_item {
		struct many_call *b;
		int rc;			/* 0 or the op's error */
		bool leased;		/* rc: -EAGAIN from a lease */
		struct wfs_meta_result res;	/* when rc is 0 */
	} items[];
};

/* Whether an item's error says the master changed under it rather than
 * what the op came to: the client must send the call again. */
static bool transient(int rc)
{
	return rc == -EAGAIN || rc == -ECONNABORTED || rc == -ECANCELED ||
	       rc == -EHOSTUNREACH || rc == -ENOTCONN || rc == -ETIMEDOUT;
}

static void many_finish(struct many_call *b)
{
	void *buf = NULL;
	size_t len = 0;
	int rc = 0;

	for (unsigned i = 0; i < b->count && rc == 0; i++)
		if (transient(b->items[i].rc) && !b->items[i].leased)
			rc = -EAGAIN;
	if (rc == 0)
		rc = b->pack(b, &buf, &len);
	/* Out of memory with every item applied: a retry gets the same
	 * outcomes back from the store. */
	if (rc == -ENOMEM)
		rc = -EAGAIN;
	wfs_rpc_call_finish(b->call, rc, buf, len);
	wfs_free(b);
}

/* An item's entry applied, or its proposal failed (@res NULL).  A
 * wfs_node_done_cb. */
static void many_item_done(void *arg, int rc,
			   const struct wfs_metafsm_result *res)
{
	struct many_item *it = arg;
	struct many_call *b = it->b;

	if (rc == 0) {
		rc = res->meta.status;
		it->leased = rc == -EAGAIN && res->meta.lease_dir;
	}
	it->rc = rc;
	if (rc == 0)
		it->res = res->meta;
	if (atomic_fetch_sub(&b->left, 1) == 1)
		many_finish(b);
}

/* A call of @count items answered through @pack; NULL when out of
 * memory. */
static struct many_call *many_new(struct wfs_node *n, unsigned count,
				  many_pack_fn pack)
{
	struct many_call *b = wfs_calloc(1, sizeof(*b) +
					    count * sizeof(b->items[0]));

	if (!b)
		return NULL;
	b->n = n;
	b->pack = pack;
	b->count = count;
	for (unsigned i = 0; i < count; i++)
		b->items[i].b = b;
	return b;
}

/* Once a many-call's items are checked: if the node serves metadata, the
 * call *b of @count items answered through @pack, and room for its ops in
 * *ops.  Returns 0, or an error with nothing allocated. */
static int many_begin(struct wfs_node *n, size_t count, many_pack_fn pack,
		      struct many_call **b, struct wfs_meta_op **ops)
{
	int rc = wfs_node_serving(n);

	*b = NULL;
	*ops = NULL;
	if (rc)
		return rc;
	*b = many_new(n, (unsigned)count, pack);
	*ops = wfs_calloc(count, sizeof(**ops));
	if (*b && *ops)
		return 0;
	wfs_free(*b);
	wfs_free(*ops);
	*b = NULL;
	*ops = NULL;
	return -ENOMEM;
}

/* Propose @ops (one per item of @b) for the call of @reply, named after
 * its request id, and answer it once all are done.  Takes @b; returns 0,
 * which the handler returns. */
static int many_run(struct many_call *b, struct wfs_rpc_reply *reply,
		    struct wfs_meta_op *ops)
{
	const char *id = wfs_rpc_reply_request_id(reply);
	char (*names)[WFS_META_REQUEST_MAX + 1];
	const struct wfs_meta_op **opp;
	void **args;
	int rc = -ENOMEM;

	/* One count more than items, dropped once all are proposed: the
	 * call cannot finish while this thread still walks the list. */
	atomic_init(&b->left, b->count + 1);
	b->call = wfs_rpc_reply_later(reply);
	names = wfs_calloc(b->count, sizeof(*names));
	opp = wfs_calloc(b->count, sizeof(*opp));
	args = wfs_calloc(b->count, sizeof(*args));
	for (unsigned i = 0; names && opp && args && i < b->count; i++) {
		/* The item's own name for retries: "<id>#<place>". */
		if (id) {
			int l = snprintf(names[i], sizeof(names[i]), "%s#%u",
					 id, i);

			if (l > 0 && (size_t)l < sizeof(names[i]))
				ops[i].request = (struct wfs_meta_bytes){
					names[i], (size_t)l };
		}
		opp[i] = &ops[i];
		args[i] = &b->items[i];
	}
	if (names && opp && args)
		rc = wfs_node_propose_many(b->n, b->count, opp, many_item_done,
					   args);
	for (unsigned i = 0; rc && i < b->count; i++)
		many_item_done(&b->items[i], rc, NULL);
	wfs_free(names);
	wfs_free(opp);
	wfs_free(args);
	if (atomic_fetch_sub(&b->left, 1) == 1)
		many_finish(b);
	return 0;
}

/* ---- UnlinkMany ---- */

static int pack_unlinks(struct many_call *b, void **buf, size_t *len)
{
	Wormfs__UnlinkManyReply r = WORMFS__UNLINK_MANY_REPLY__INIT;
	Wormfs__UnlinkOutcome *outs, **ptrs;
	Wormfs__RemoveReply *rrs;
	Wormfs__Attr *dirs;
	int rc = -ENOMEM;

	outs = wfs_calloc(b->count, sizeof(*outs));
	ptrs = wfs_calloc(b->count, sizeof(*ptrs));
	rrs = wfs_calloc(b->count, sizeof(*rrs));
	dirs = wfs_calloc(b->count, sizeof(*dirs));
	if (outs && ptrs && rrs && dirs) {
		for (unsigned i = 0; i < b->count; i++) {
			const struct many_item *it = &b->items[i];

			wormfs__unlink_outcome__init(&outs[i]);
			ptrs[i] = &outs[i];
			outs[i].error = it->rc;
			if (it->rc)
				continue;
			wormfs__remove_reply__init(&rrs[i]);
			rrs[i].ino = it->res.attr.ino;
			rrs[i].nlink = it->res.attr.nlink;
			rrs[i].purged = it->res.purged;
			rrs[i].parent_attr = wfs_svc_dir_attr(&it->res.dir,
							      &dirs[i]);
			outs[i].reply = &rrs[i];
		}
		r.outcomes = ptrs;
		r.n_outcomes = b->count;
		rc = wfs_svc_pack(&r.base, buf, len);
	}
	wfs_free(dirs);
	wfs_free(rrs);
	wfs_free(ptrs);
	wfs_free(outs);
	return rc;
}

static int h_unlink_many(void *arg, const void *req, size_t len,
			 struct wfs_rpc_reply *reply)
{
	struct wfs_node *n = arg;
	Wormfs__UnlinkManyRequest *r;
	struct wfs_meta_op *ops = NULL;
	struct many_call *b = NULL;
	int rc;

	rc = wfs_svc_unpack(&wormfs__unlink_many_request__descriptor, req,
			    len, &r);
	if (rc)
		return rc;
	if (r->n_items == 0 || r->n_items > MANY_MAX)
		rc = -EINVAL;
	for (size_t i = 0; rc == 0 && i < r->n_items; i++) {
		struct wfs_meta_bytes name;

		rc = wfs_svc_name(&r->items[i]->name, &name);
		if (rc == 0 && r->items[i]->n_open_inos > WFS_SVC_OPEN_INOS_MAX)
			rc = -EINVAL;
	}
	if (rc == 0)
		rc = many_begin(n, r->n_items, pack_unlinks, &b, &ops);
	if (rc)
		goto out;
	for (unsigned i = 0; i < b->count; i++) {
		const Wormfs__RemoveRequest *it = r->items[i];
		struct wfs_meta_op *op = &ops[i];

		wfs_svc_op_init(op, WFS_META_OP_UNLINK, it->caller);
		op->u.remove.parent = it->parent;
		wfs_svc_name(&it->name, &op->u.remove.name);
		if (it->purge)
			op->u.remove.purge_ino =
				wfs_svc_purge_target(n, it,
						     op->u.remove.name);
	}
	rc = many_run(b, reply, ops);
out:
	wfs_free(ops);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

/* ---- CreateMany ---- */

/* The directories among @b's parents whose lease another client waits
 * for, into @out (room for b->count); returns how many.  The ones whose
 * creates applied count as used: their holder is alive. */
static size_t recalled_dirs(struct many_call *b, uint64_t *out)
{
	size_t n = 0;

	for (unsigned i = 0; i < b->count; i++) {
		uint64_t dir = b->items[i].res.dir.ino;
		bool dup = false;

		if (b->items[i].rc || !dir)
			continue;
		for (size_t j = 0; j < n && !dup; j++)
			dup = out[j] == dir;
		if (dup)
			continue;
		wfs_leases_used(b->n->leases, dir);
		if (wfs_leases_recalled(b->n->leases, dir))
			out[n++] = dir;
	}
	return n;
}

static int pack_creates(struct many_call *b, void **buf, size_t *len)
{
	Wormfs__CreateManyReply r = WORMFS__CREATE_MANY_REPLY__INIT;
	Wormfs__CreateOutcome *outs, **ptrs;
	Wormfs__CreateReply *crs;
	Wormfs__Attr *attrs, *dirs;
	uint64_t *recalled;
	struct wfs_meta *m;
	int rc = -ENOMEM;

	outs = wfs_calloc(b->count, sizeof(*outs));
	ptrs = wfs_calloc(b->count, sizeof(*ptrs));
	crs = wfs_calloc(b->count, sizeof(*crs));
	attrs = wfs_calloc(b->count, sizeof(*attrs));
	dirs = wfs_calloc(b->count, sizeof(*dirs));
	recalled = wfs_calloc(b->count, sizeof(*recalled));
	if (outs && ptrs && crs && attrs && dirs && recalled) {
		/* The store gives each file's blksize (its policy). */
		m = wfs_metafsm_read_begin(b->n->fsm);
		for (unsigned i = 0; i < b->count; i++) {
			const struct many_item *it = &b->items[i];

			wormfs__create_outcome__init(&outs[i]);
			ptrs[i] = &outs[i];
			outs[i].error = it->rc;
			if (it->rc)
				continue;
			wormfs__create_reply__init(&crs[i]);
			wfs_svc_attr(m, &it->res.attr, &attrs[i]);
			crs[i].attr = &attrs[i];
			crs[i].created = true;
			crs[i].parent_attr = wfs_svc_dir_attr(&it->res.dir,
							      &dirs[i]);
			outs[i].reply = &crs[i];
		}
		wfs_metafsm_read_end(b->n->fsm);
		r.outcomes = ptrs;
		r.n_outcomes = b->count;
		r.recalled = recalled;
		r.n_recalled = recalled_dirs(b, recalled);
		rc = wfs_svc_pack(&r.base, buf, len);
	}
	wfs_free(recalled);
	wfs_free(dirs);
	wfs_free(attrs);
	wfs_free(crs);
	wfs_free(ptrs);
	wfs_free(outs);
	return rc;
}

/* Every item is exclusive whatever its flags: its client told the kernel
 * "created", so opening someone else's file under the name instead would
 * hide the clash. */
static int h_create_many(void *arg, const void *req, size_t len,
			 struct wfs_rpc_reply *reply)
{
	struct wfs_node *n = arg;
	Wormfs__CreateManyRequest *r;
	struct wfs_meta_op *ops = NULL;
	struct many_call *b = NULL;
	int rc;

	rc = wfs_svc_unpack(&wormfs__create_many_request__descriptor, req,
			    len, &r);
	if (rc)
		return rc;
	if (r->n_items == 0 || r->n_items > MANY_MAX)
		rc = -EINVAL;
	for (size_t i = 0; rc == 0 && i < r->n_items; i++) {
		struct wfs_meta_bytes name;

		rc = wfs_svc_name(&r->items[i]->name, &name);
	}
	if (rc == 0)
		rc = many_begin(n, r->n_items, pack_creates, &b, &ops);
	if (rc)
		goto out;
	for (unsigned i = 0; i < b->count; i++) {
		struct wfs_meta_bytes name;

		wfs_svc_name(&r->items[i]->name, &name);
		wfs_svc_create_op(r->items[i], name, &ops[i]);
	}
	rc = many_run(b, reply, ops);
out:
	wfs_free(ops);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

/* ---- Lease ---- */

static int reply_lease(struct wfs_svc_pending *p, int rc,
		       const struct wfs_metafsm_result *res, void **buf,
		       size_t *len)
{
	Wormfs__LeaseReply r = WORMFS__LEASE_REPLY__INIT;
	bool grant = p->flags;

	/* Held by another session: an answer, not an error. */
	if (rc == -EAGAIN && res && res->meta.lease_dir)
		rc = 0;
	else if (rc == 0 && grant)
		r.held = true;
	if (rc)
		return rc;
	if (r.held) {
		wfs_leases_used(p->n->leases, p->ino);
		r.recalled = wfs_leases_recalled(p->n->leases, p->ino);
	} else if (!grant) {
		wfs_leases_forget(p->n->leases, p->ino);
	}
	return wfs_svc_pack(&r.base, buf, len);
}

static int h_lease(void *arg, const void *req, size_t len,
		   struct wfs_rpc_reply *reply)
{
	struct wfs_node *n = arg;
	struct wfs_svc_pending *p;
	Wormfs__LeaseRequest *r;
	struct wfs_meta_op op;
	int rc;

	rc = wfs_svc_unpack(&wormfs__lease_request__descriptor, req, len, &r);
	if (rc)
		return rc;
	if (!r->caller || !r->caller->session || !r->dir)
		rc = -EINVAL;
	if (rc == 0)
		rc = wfs_node_serving(n);
	p = rc ? NULL : wfs_svc_pending_new(n, reply_lease);
	if (rc == 0 && !p)
		rc = -ENOMEM;
	if (rc == 0) {
		p->flags = !r->release;
		p->ino = r->dir;
		wfs_svc_op_init(&op, WFS_META_OP_DIR_LEASE, r->caller);
		op.u.lease.ino = r->dir;
		op.u.lease.session = r->caller->session;
		op.u.lease.grant = !r->release;
		rc = wfs_svc_propose(p, reply, &op);
	}
	wfs_rpc_msg_free(&r->base);
	return rc;
}

/* ---- ReserveInos ---- */

static int reply_reserve(struct wfs_svc_pending *p, int rc,
			 const struct wfs_metafsm_result *res, void **buf,
			 size_t *len)
{
	Wormfs__ReserveInosReply r = WORMFS__RESERVE_INOS_REPLY__INIT;

	if (rc)
		return rc;
	r.first = res->meta.value;
	r.count = p->flags;
	return wfs_svc_pack(&r.base, buf, len);
}

static int h_reserve_inos(void *arg, const void *req, size_t len,
			  struct wfs_rpc_reply *reply)
{
	struct wfs_node *n = arg;
	Wormfs__ReserveInosRequest *r;
	struct wfs_svc_pending *p;
	struct wfs_meta_op op;
	int rc;

	rc = wfs_svc_unpack(&wormfs__reserve_inos_request__descriptor, req,
			    len, &r);
	if (rc)
		return rc;
	if (r->count == 0 || r->count > RESERVE_INOS_MAX)
		rc = -EINVAL;
	if (rc == 0)
		rc = wfs_node_serving(n);
	p = rc ? NULL : wfs_svc_pending_new(n, reply_reserve);
	if (rc == 0 && !p)
		rc = -ENOMEM;
	if (rc == 0) {
		p->flags = r->count;
		wfs_svc_op_init(&op, WFS_META_OP_RESERVE_IDS, NULL);
		op.u.reserve.count = r->count;
		op.u.reserve.kind = WFS_META_RESERVE_INODES;
		rc = wfs_svc_propose(p, reply, &op);
	}
	wfs_rpc_msg_free(&r->base);
	return rc;
}

int wfs_svc_register_behind(struct wfs_node *n, struct wfs_rpc_server *s)
{
	static const struct {
		const char *method;
		wfs_rpc_handler_cb cb;
	} calls[] = {
		{ WFS_SVC_META("UnlinkMany"), h_unlink_many },
		{ WFS_SVC_META("CreateMany"), h_create_many },
		{ WFS_SVC_META("Lease"), h_lease },
		{ WFS_SVC_META("ReserveInos"), h_reserve_inos },
	};
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < sizeof(calls) / sizeof(calls[0]);
	     i++)
		rc = wfs_rpc_server_handle(s, calls[i].method, calls[i].cb, n);
	return rc;
}
