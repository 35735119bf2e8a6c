/* client/meta: the metadata calls of client.h (names, attributes,
 * directories, xattrs, locks, statfs, layouts): each builds its request,
 * calls the cluster through wfs_meta_call (retries included) and converts
 * the reply.  No state is kept here; open files are file.c's, and an
 * unlink only reads which inodes are open, so that the node may purge a
 * file none of them is in the same step.
 */
#include "client/client_internal.h"
#include "client/file_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "log/log.h"
#include "mem/mem.h"

#define META_CALL(c, name, req, type, resp, flags)                            \
	wfs_meta_call((c), WFS_M_META(name), &(req)->base,                     \
		      &wormfs__##type##__descriptor,                          \
		      (ProtobufCMessage **)(resp), (flags))

static ProtobufCBinaryData bytes_of(const char *s)
{
	ProtobufCBinaryData b = { s ? strlen(s) : 0, (uint8_t *)s };

	return b;
}

static void set_attr(struct wfs_attr *out, const Wormfs__Attr *pb)
{
	if (out)
		wfs_attr_from_pb(out, pb);
}

/* The reply of every call that makes or finds a name. */
static int entry_reply(int rc, Wormfs__EntryReply *r, struct wfs_attr *attr)
{
	if (rc == 0) {
		if (!r->attr)
			rc = -EPROTO;
		else
			set_attr(attr, r->attr);
	}
	wfs_rpc_msg_free(&r->base);
	return rc;
}

/* Whether @name in @parent is among the names read ahead for @cred,
 * reading the next page of the directory first when the lookups seem to
 * walk it. */
static bool lookup_ahead(struct wfs_client *c, const struct wfs_cred *cred,
			 uint64_t parent, const char *name,
			 struct wfs_attr *attr)
{
	struct wfs_dirpage *page = NULL;
	uint64_t cookie, ticket;
	int rc;

	if (wfs_statahead_find(c->sa, cred, parent, name, attr))
		return true;
	if (!wfs_statahead_want(c->sa, cred, parent, &cookie, &ticket))
		return false;
	rc = wfs_client_readdir(c, cred, parent, cookie, WFS_STATAHEAD_PAGE,
				true, &page);
	if (rc == 0)
		wfs_statahead_fill(c->sa, cred, parent, ticket, 0,
				   wfs_dirpage_entry(page, 0),
				   wfs_dirpage_count(page),
				   wfs_dirpage_eof(page));
	else
		wfs_statahead_fill(c->sa, cred, parent, ticket, rc, NULL, 0,
				   false);
	wfs_dirpage_free(page);
	return wfs_statahead_find(c->sa, cred, parent, name, attr);
}

/* Read the pages of @parent's list of names for the round @ticket, from
 * @cookie on. */
static void list_pages(struct wfs_client *c, const struct wfs_cred *cred,
		       uint64_t parent, uint64_t cookie, uint64_t ticket)
{
	bool more;

	do {
		struct wfs_dirpage *page = NULL;
		int rc = wfs_client_readdir(c, cred, parent, cookie,
					    WFS_DIRNAMES_PAGE, false, &page);

		more = wfs_dirnames_fill(c->dn, parent, ticket, rc,
					 rc ? NULL : wfs_dirpage_entry(page, 0),
					 rc ? 0 : wfs_dirpage_count(page),
					 rc ? false : wfs_dirpage_eof(page),
					 &cookie);
		wfs_dirpage_free(page);
	} while (more);
}

/* List @parent's names when its list wants it: a first list, or the names
 * added since the last. */
static void list_names(struct wfs_client *c, const struct wfs_cred *cred,
		       uint64_t parent)
{
	uint64_t cookie, ticket;

	if (wfs_dirnames_want(c->dn, parent, &cookie, &ticket))
		list_pages(c, cred, parent, cookie, ticket);
}

int wfs_meta_relist(struct wfs_client *c, const struct wfs_cred *cred,
		    uint64_t dir, int64_t since_ns)
{
	uint64_t cookie, ticket;
	int rc;

	if (!c->dn)
		return 0;
	rc = wfs_dirnames_want_after(c->dn, dir, since_ns, &cookie, &ticket);
	if (rc == 1)
		list_pages(c, cred, dir, cookie, ticket);
	return rc;
}

/* Whether @name is known not to be in @parent, from its list of names
 * (refreshed first when it is getting old or has expired). */
static bool known_absent(struct wfs_client *c, const struct wfs_cred *cred,
			 uint64_t parent, const char *name)
{
	bool refresh;

	if (wfs_dirnames_absent(c->dn, parent, name, &refresh) && !refresh)
		return true;
	if (!refresh)
		return false;
	list_names(c, cred, parent);
	return wfs_dirnames_absent(c->dn, parent, name, NULL);
}

/* Whether unlinks or creates queued when a lookup was sent (@pending) may
 * have changed @a, which it found: a file's link count and ctime (one of
 * its other names went), a directory's times and size (names in it went
 * or came).  Neither ever names a directory, and a file with one link has
 * no name but the one looked up, whose operations were waited for.
 * Whether one of them was applied just before the node answered cannot
 * be told here, so any that was queued counts. */
static bool queued_may_change(bool pending, const struct wfs_attr *a)
{
	return pending && (S_ISDIR(a->mode) || a->nlink > 1);
}

int wfs_client_lookup(struct wfs_client *c, const struct wfs_cred *cred,
		      uint64_t parent, const char *name,
		      struct wfs_attr *attr)
{
	Wormfs__LookupRequest req = WORMFS__LOOKUP_REQUEST__INIT;
	Wormfs__Caller caller = WORMFS__CALLER__INIT;
	Wormfs__EntryReply *r = NULL;
	struct wfs_attr ahead, found;
	uint64_t stamp = 0;
	int rc;

	/* Before the read-ahead, which may list a page of the directory: a
	 * lookup that misses is no step of a walk. */
	if (c->dn && known_absent(c, cred, parent, name)) {
		if (c->sa)
			wfs_statahead_looked_up(c->sa, cred, parent, -ENOENT);
		return -ENOENT;
	}
	if (c->sa && lookup_ahead(c, cred, parent, name, &ahead)) {
		if (attr) {
			*attr = ahead;
			wfs_file_merge_attr(c, attr);
		}
		return 0;
	}
	wfs_caller_fill(c, &caller, cred);
	req.caller = &caller;
	req.parent = parent;
	req.name = bytes_of(name);
	req.absent_ok = true;
	/* Only the unlinks and creates of this name can change whether it
	 * is there; the others can change what it leads to only if that is
	 * a file with other names (its link count) or a directory (its
	 * times and size, if they are in it): then the lookup waits for all
	 * and asks again. */
	wfs_behind_wait_name(c->behind, parent, name);
	for (unsigned flags = WFS_CALL_WAITED;; flags = 0) {
		bool pending = wfs_behind_pending(c->behind);

		/* Taken before sending: "absent" proves something for a
		 * create only if asked under the lease (leases_internal.h). */
		stamp = wfs_leases_stamp(c->leases, parent);
		rc = META_CALL(c, "Lookup", &req, entry_reply, &r, flags);
		/* No attr: the name is not there (a node that ignores
		 * absent_ok says so with ENOENT instead). */
		if (rc == 0 && !r->attr) {
			wfs_rpc_msg_free(&r->base);
			rc = -ENOENT;
		} else if (rc == 0) {
			rc = entry_reply(rc, r, &found);
		}
		if (rc || !flags || !queued_may_change(pending, &found))
			break;
	}
	if (rc == 0 && attr)
		*attr = found;
	if (rc == -ENOENT)
		wfs_leases_absent(c->leases, parent, name, stamp);
	if (c->sa)
		wfs_statahead_looked_up(c->sa, cred, parent, rc);
	if (c->dn) {
		wfs_dirnames_looked_up(c->dn, parent, rc);
		if (rc == -ENOENT)
			list_names(c, cred, parent);
	}
	/* The kernel takes these attributes as current: include what is
	 * buffered here. */
	if (rc == 0 && attr)
		wfs_file_merge_attr(c, attr);
	return rc;
}

int wfs_client_getattr(struct wfs_client *c, const struct wfs_cred *cred,
		       uint64_t ino, struct wfs_attr *attr)
{
	Wormfs__GetAttrRequest req = WORMFS__GET_ATTR_REQUEST__INIT;
	Wormfs__Caller caller = WORMFS__CALLER__INIT;
	Wormfs__AttrReply *r = NULL;
	int rc;

	wfs_caller_fill(c, &caller, cred);
	req.caller = &caller;
	req.ino = ino;
	rc = META_CALL(c, "GetAttr", &req, attr_reply, &r, 0);
	if (rc)
		return rc;
	if (!r->attr)
		rc = -EPROTO;
	else {
		wfs_attr_from_pb(attr, r->attr);
		wfs_file_merge_attr(c, attr);
	}
	wfs_rpc_msg_free(&r->base);
	return rc;
}

int wfs_meta_setattr(struct wfs_client *c, const struct wfs_cred *cred,
			 uint64_t ino, const struct wfs_setattr *set,
			 struct wfs_attr *attr)
{
	Wormfs__SetAttrRequest req = WORMFS__SET_ATTR_REQUEST__INIT;
	Wormfs__Caller caller = WORMFS__CALLER__INIT;
	Wormfs__AttrReply *r = NULL;
	int rc;

	wfs_caller_fill(c, &caller, cred);
	req.caller = &caller;
	req.ino = ino;
	req.valid = set->valid;
	req.mode = set->mode;
	req.uid = set->uid;
	req.gid = set->gid;
	req.size = set->size;
	req.atime_ns = set->atime_ns;
	req.mtime_ns = set->mtime_ns;
	req.ctime_ns = set->ctime_ns;
	rc = META_CALL(c, "SetAttr", &req, attr_reply, &r, 0);
	wfs_sa_forget_ino(c, ino);
	if (rc)
		return rc;
	if (!r->attr)
		rc = -EPROTO;
	else
		set_attr(attr, r->attr);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

int wfs_client_setattr(struct wfs_client *c, const struct wfs_cred *cred,
		       uint64_t ino, const struct wfs_setattr *set,
		       struct wfs_attr *attr)
{
	struct wfs_attr tmp;
	int rc = wfs_file_setattr(c, cred, ino, set, attr ? attr : &tmp);

	if (rc <= 0)
		return rc;
	return wfs_meta_setattr(c, cred, ino, set, attr ? attr : &tmp);
}

int wfs_client_mknod(struct wfs_client *c, const struct wfs_cred *cred,
		     uint64_t parent, const char *name, uint32_t mode,
		     uint64_t rdev, struct wfs_attr *attr)
{
	Wormfs__MknodRequest req = WORMFS__MKNOD_REQUEST__INIT;
	Wormfs__Caller caller = WORMFS__CALLER__INIT;
	Wormfs__EntryReply *r = NULL;
	int rc;

	wfs_caller_fill(c, &caller, cred);
	req.caller = &caller;
	req.parent = parent;
	req.name = bytes_of(name);
	req.mode = mode;
	req.rdev = rdev;
	rc = META_CALL(c, "Mknod", &req, entry_reply, &r, 0);
	wfs_name_changed(c, parent, name);
	return rc ? rc : entry_reply(rc, r, attr);
}

int wfs_client_mkdir(struct wfs_client *c, const struct wfs_cred *cred,
		     uint64_t parent, const char *name, uint32_t mode,
		     struct wfs_attr *attr)
{
	Wormfs__MkdirRequest req = WORMFS__MKDIR_REQUEST__INIT;
	Wormfs__Caller caller = WORMFS__CALLER__INIT;
	Wormfs__EntryReply *r = NULL;
	int rc;

	wfs_caller_fill(c, &caller, cred);
	req.caller = &caller;
	req.parent = parent;
	req.name = bytes_of(name);
	req.mode = mode;
	rc = META_CALL(c, "Mkdir", &req, entry_reply, &r, 0);
	wfs_name_changed(c, parent, name);
	return rc ? rc : entry_reply(rc, r, attr);
}

int wfs_client_symlink(struct wfs_client *c, const struct wfs_cred *cred,
		       uint64_t parent, const char *name, const char *target,
		       struct wfs_attr *attr)
{
	Wormfs__SymlinkRequest req = WORMFS__SYMLINK_REQUEST__INIT;
	Wormfs__Caller caller = WORMFS__CALLER__INIT;
	Wormfs__EntryReply *r = NULL;
	int rc;

	wfs_caller_fill(c, &caller, cred);
	req.caller = &caller;
	req.parent = parent;
	req.name = bytes_of(name);
	req.target = bytes_of(target);
	rc = META_CALL(c, "Symlink", &req, entry_reply, &r, 0);
	wfs_name_changed(c, parent, name);
	return rc ? rc : entry_reply(rc, r, attr);
}

int wfs_client_link(struct wfs_client *c, const struct wfs_cred *cred,
		    uint64_t ino, uint64_t new_parent, const char *new_name,
		    struct wfs_attr *attr)
{
	Wormfs__LinkRequest req = WORMFS__LINK_REQUEST__INIT;
	Wormfs__Caller caller = WORMFS__CALLER__INIT;
	Wormfs__EntryReply *r = NULL;
	int rc;

	wfs_caller_fill(c, &caller, cred);
	req.caller = &caller;
	req.ino = ino;
	req.new_parent = new_parent;
	req.new_name = bytes_of(new_name);
	rc = META_CALL(c, "Link", &req, entry_reply, &r, 0);
	wfs_sa_forget_ino(c, ino);
	wfs_name_changed(c, new_parent, new_name);
	return rc ? rc : entry_reply(rc, r, attr);
}

/* Inodes an unlink lists as open at most; with more open, it does not ask
 * for a purge (the release that follows purges). */
#define OPEN_LIST_MAX 128

/* The inodes this client has open, being opened or still writing out (one
 * cinode each) into @v; returns how many, or -1 when more than @max. */
static int open_inos(struct wfs_client *c, uint64_t *v, unsigned max)
{
	int n = 0;

	pthread_mutex_lock(&c->itab_lock);
	if (c->nopen > max) {
		n = -1;
	} else {
		for (unsigned i = 0; i < c->itab_size; i++)
			for (struct cinode *ci = c->itab[i]; ci;
			     ci = ci->hnext)
				v[n++] = ci->ino;
	}
	pthread_mutex_unlock(&c->itab_lock);
	return n;
}

/* Unlink (@purge: the node may purge the file in the same step when none
 * of the open inodes listed is it) or Rmdir. */
static int remove_name(struct wfs_client *c, const char *method, bool purge,
		       const struct wfs_cred *cred, uint64_t parent,
		       const char *name, unsigned flags, uint64_t *ino,
		       uint32_t *nlink)
{
	Wormfs__RemoveRequest req = WORMFS__REMOVE_REQUEST__INIT;
	Wormfs__Caller caller = WORMFS__CALLER__INIT;
	Wormfs__RemoveReply *r = NULL;
	uint64_t open[OPEN_LIST_MAX];
	int rc, n = purge ? open_inos(c, open, OPEN_LIST_MAX) : -1;

	wfs_caller_fill(c, &caller, cred);
	req.caller = &caller;
	req.parent = parent;
	req.name = bytes_of(name);
	if (n >= 0) {
		req.purge = true;
		req.open_inos = open;
		req.n_open_inos = (size_t)n;
	}
	rc = wfs_meta_call(c, method, &req.base,
			   &wormfs__remove_reply__descriptor,
			   (ProtobufCMessage **)&r, flags);
	wfs_name_changed(c, parent, name);
	if (rc)
		return rc;
	/* The inode's other names, if it has any, changed too (nlink,
	 * ctime), and they may be cached when this one was not. */
	wfs_sa_forget_ino(c, r->ino);
	if (ino)
		*ino = r->purged ? 0 : r->ino;
	if (nlink)
		*nlink = r->nlink;
	wfs_rpc_msg_free(&r->base);
	return 0;
}

int wfs_client_unlink(struct wfs_client *c, const struct wfs_cred *cred,
		      uint64_t parent, const char *name, uint64_t *ino,
		      uint32_t *nlink)
{
	return remove_name(c, WFS_M_META("Unlink"), true, cred, parent, name,
			   0, ino, nlink);
}

int wfs_meta_unlink(struct wfs_client *c, const struct wfs_cred *cred,
		    uint64_t parent, const char *name, unsigned flags,
		    uint64_t *ino, uint32_t *nlink)
{
	return remove_name(c, WFS_M_META("Unlink"), true, cred, parent, name,
			   flags, ino, nlink);
}

int wfs_meta_unlink_many(struct wfs_client *c, struct wfs_unlink_item *items,
			 unsigned n, unsigned flags)
{
	Wormfs__UnlinkManyRequest req = WORMFS__UNLINK_MANY_REQUEST__INIT;
	Wormfs__UnlinkManyReply *r = NULL;
	Wormfs__RemoveRequest *rr, **rrp;
	Wormfs__Caller *callers;
	uint64_t open[OPEN_LIST_MAX];
	int rc, nopen;

	if (n == 0 || n > WFS_UNLINK_MANY_MAX)
		return -EINVAL;
	rr = wfs_calloc(n, sizeof(*rr));
	rrp = wfs_calloc(n, sizeof(*rrp));
	callers = wfs_calloc(n, sizeof(*callers));
	if (!rr || !rrp || !callers) {
		rc = -ENOMEM;
		goto out;
	}
	nopen = open_inos(c, open, OPEN_LIST_MAX);
	for (unsigned i = 0; i < n; i++) {
		wormfs__caller__init(&callers[i]);
		wfs_caller_fill(c, &callers[i], items[i].cred);
		wormfs__remove_request__init(&rr[i]);
		rr[i].caller = &callers[i];
		rr[i].parent = items[i].parent;
		rr[i].name = bytes_of(items[i].name);
		if (nopen >= 0) {
			rr[i].purge = true;
			rr[i].open_inos = open;
			rr[i].n_open_inos = (size_t)nopen;
		}
		rrp[i] = &rr[i];
	}
	req.items = rrp;
	req.n_items = n;
	rc = wfs_meta_call(c, WFS_M_META("UnlinkMany"), &req.base,
			   &wormfs__unlink_many_reply__descriptor,
			   (ProtobufCMessage **)&r, flags);
	/* The names were forgotten when queued (behind.c). */
	if (rc)
		goto out;
	if (r->n_outcomes != n) {
		wfs_log_error("client", "UnlinkMany: %zu outcomes for %u "
			      "unlinks", r->n_outcomes, n);
		rc = -EPROTO;
		goto out;
	}
	for (unsigned i = 0; i < n; i++) {
		const Wormfs__UnlinkOutcome *o = r->outcomes[i];

		items[i].rc = o->error > 0 || o->error < -4095 ? -EPROTO
							       : o->error;
		if (items[i].rc == 0 && !o->reply)
			items[i].rc = -EPROTO;
		if (items[i].rc)
			continue;
		wfs_sa_forget_ino(c, o->reply->ino);
		items[i].ino = o->reply->purged ? 0 : o->reply->ino;
		items[i].nlink = o->reply->nlink;
	}
out:
	if (r)
		wfs_rpc_msg_free(&r->base);
	wfs_free(callers);
	wfs_free(rrp);
	wfs_free(rr);
	return rc;
}

/* The outcome @o of create @it. */
static void create_outcome(struct wfs_create_item *it,
			   const Wormfs__CreateOutcome *o)
{
	it->rc = !o || o->error > 0 || o->error < -4095 ? -EPROTO : o->error;
	if (it->rc == 0 && (!o->reply || !o->reply->attr))
		it->rc = -EPROTO;
	if (it->rc)
		return;
	wfs_attr_from_pb(&it->attr, o->reply->attr);
	/* The number asked for, made now: anything else is not the file
	 * this client answered for. */
	if (!o->reply->created || it->attr.ino != it->ino) {
		wfs_log_error("client", "CreateMany: '%s' in directory %"
			      PRIu64 " came back as inode %" PRIu64 " (%s), "
			      "not %" PRIu64, it->name, it->parent,
			      it->attr.ino, o->reply->created ? "new" : "old",
			      it->ino);
		it->rc = -EPROTO;
	}
}

int wfs_meta_create_many(struct wfs_client *c, struct wfs_create_item *items,
			 unsigned n, unsigned flags, uint64_t *recalled,
			 unsigned *nrecalled)
{
	Wormfs__CreateManyRequest req = WORMFS__CREATE_MANY_REQUEST__INIT;
	Wormfs__CreateManyReply *r = NULL;
	Wormfs__CreateRequest *cr, **crp;
	Wormfs__Caller *callers;
	int rc;

	*nrecalled = 0;
	if (n == 0 || n > WFS_CREATE_MANY_MAX)
		return -EINVAL;
	cr = wfs_calloc(n, sizeof(*cr));
	crp = wfs_calloc(n, sizeof(*crp));
	callers = wfs_calloc(n, sizeof(*callers));
	if (!cr || !crp || !callers) {
		rc = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < n; i++) {
		wormfs__caller__init(&callers[i]);
		wfs_caller_fill(c, &callers[i], items[i].cred);
		wormfs__create_request__init(&cr[i]);
		cr[i].caller = &callers[i];
		cr[i].parent = items[i].parent;
		cr[i].name = bytes_of(items[i].name);
		cr[i].mode = items[i].mode;
		/* Exclusive whatever open(2) asked: the name was known to be
		 * absent, and if it is there after all (the lease was lost)
		 * the create must fail, not open, let alone truncate, a file
		 * that is not the one answered for. */
		cr[i].flags = O_CREAT | O_EXCL | O_RDWR;
		cr[i].ino = items[i].ino;
		cr[i].time_ns = items[i].time_ns;
		crp[i] = &cr[i];
	}
	req.items = crp;
	req.n_items = n;
	rc = wfs_meta_call(c, WFS_M_META("CreateMany"), &req.base,
			   &wormfs__create_many_reply__descriptor,
			   (ProtobufCMessage **)&r, flags);
	if (rc)
		goto out;
	if (r->n_outcomes != n) {
		wfs_log_error("client", "CreateMany: %zu outcomes for %u "
			      "creates", r->n_outcomes, n);
		rc = -EPROTO;
		goto out;
	}
	for (unsigned i = 0; i < n; i++)
		create_outcome(&items[i], r->outcomes[i]);
	for (size_t i = 0; i < r->n_recalled && *nrecalled < n; i++)
		recalled[(*nrecalled)++] = r->recalled[i];
out:
	if (r)
		wfs_rpc_msg_free(&r->base);
	wfs_free(callers);
	wfs_free(crp);
	wfs_free(cr);
	return rc;
}

int wfs_meta_lease(struct wfs_client *c, const struct wfs_cred *cred,
		   uint64_t dir, bool release, bool *held, bool *recalled)
{
	Wormfs__LeaseRequest req = WORMFS__LEASE_REQUEST__INIT;
	Wormfs__Caller caller = WORMFS__CALLER__INIT;
	Wormfs__LeaseReply *r = NULL;
	int rc;

	wfs_caller_fill(c, &caller, cred);
	req.caller = &caller;
	req.dir = dir;
	req.release = release;
	rc = META_CALL(c, "Lease", &req, lease_reply, &r, WFS_CALL_WAITED);
	if (rc)
		return rc;
	*held = r->held;
	*recalled = r->held && r->recalled;
	wfs_rpc_msg_free(&r->base);
	return 0;
}

int wfs_meta_reserve_inos(struct wfs_client *c, uint32_t count,
			  uint64_t *first, uint32_t *n)
{
	Wormfs__ReserveInosRequest req = WORMFS__RESERVE_INOS_REQUEST__INIT;
	Wormfs__ReserveInosReply *r = NULL;
	int rc;

	req.count = count;
	rc = META_CALL(c, "ReserveInos", &req, reserve_inos_reply, &r,
		       WFS_CALL_WAITED);
	if (rc)
		return rc;
	/* 0 is no inode number, and a range must not wrap. */
	if (r->count == 0 || r->count > count || r->first == 0 ||
	    r->first + r->count < r->first) {
		wfs_log_error("client", "ReserveInos: %u numbers from %" PRIu64
			      " for %u asked", r->count, r->first, count);
		rc = -EPROTO;
	} else {
		*first = r->first;
		*n = r->count;
	}
	wfs_rpc_msg_free(&r->base);
	return rc;
}

int wfs_client_rmdir(struct wfs_client *c, const struct wfs_cred *cred,
		     uint64_t parent, const char *name, uint64_t *ino,
		     uint32_t *nlink)
{
	return remove_name(c, WFS_M_META("Rmdir"), false, cred, parent, name,
			   0, ino, nlink);
}

int wfs_client_rename(struct wfs_client *c, const struct wfs_cred *cred,
		      uint64_t parent, const char *name, uint64_t new_parent,
		      const char *new_name, uint32_t flags, uint64_t *moved,
		      uint64_t *replaced, uint32_t *replaced_nlink)
{
	Wormfs__RenameRequest req = WORMFS__RENAME_REQUEST__INIT;
	Wormfs__Caller caller = WORMFS__CALLER__INIT;
	Wormfs__RenameReply *r = NULL;
	int rc;

	wfs_caller_fill(c, &caller, cred);
	req.caller = &caller;
	req.parent = parent;
	req.name = bytes_of(name);
	req.new_parent = new_parent;
	req.new_name = bytes_of(new_name);
	req.flags = flags;
	rc = META_CALL(c, "Rename", &req, rename_reply, &r, 0);
	wfs_name_changed(c, parent, name);
	wfs_name_changed(c, new_parent, new_name);
	if (rc)
		return rc;
	/* Their other names too (ctime; the replaced one's nlink). */
	wfs_sa_forget_ino(c, r->ino);
	if (r->replaced_ino)
		wfs_sa_forget_ino(c, r->replaced_ino);
	if (moved)
		*moved = r->ino;
	if (replaced)
		*replaced = r->replaced_ino;
	if (replaced_nlink)
		*replaced_nlink = r->replaced_nlink;
	wfs_rpc_msg_free(&r->base);
	return 0;
}

int wfs_client_readlink(struct wfs_client *c, const struct wfs_cred *cred,
			uint64_t ino, char *buf, size_t size)
{
	Wormfs__ReadlinkRequest req = WORMFS__READLINK_REQUEST__INIT;
	Wormfs__Caller caller = WORMFS__CALLER__INIT;
	Wormfs__ReadlinkReply *r = NULL;
	int rc;

	wfs_caller_fill(c, &caller, cred);
	req.caller = &caller;
	req.ino = ino;
	rc = META_CALL(c, "Readlink", &req, readlink_reply, &r, 0);
	if (rc)
		return rc;
	if (r->target.len >= size) {
		rc = -ERANGE;
	} else {
		memcpy(buf, r->target.data, r->target.len);
		buf[r->target.len] = '\0';
		rc = (int)r->target.len;
	}
	wfs_rpc_msg_free(&r->base);
	return rc;
}

int wfs_client_forget(struct wfs_client *c, const struct wfs_cred *cred,
		      uint64_t ino)
{
	Wormfs__ReleaseRequest req = WORMFS__RELEASE_REQUEST__INIT;
	Wormfs__Caller caller = WORMFS__CALLER__INIT;
	Wormfs__ReleaseReply *r = NULL;
	int rc;

	wfs_caller_fill(c, &caller, cred);
	req.caller = &caller;
	req.ino = ino;
	req.client_id.data = c->id;
	req.client_id.len = sizeof(c->id);
	rc = META_CALL(c, "Release", &req, release_reply, &r, 0);
	if (rc == 0)
		wfs_rpc_msg_free(&r->base);
	return rc;
}

int wfs_client_statfs(struct wfs_client *c, const struct wfs_cred *cred,
		      uint64_t ino, struct wfs_statfs *st)
{
	Wormfs__StatfsRequest req = WORMFS__STATFS_REQUEST__INIT;
	Wormfs__Caller caller = WORMFS__CALLER__INIT;
	Wormfs__StatfsReply *r = NULL;
	int rc;

	wfs_caller_fill(c, &caller, cred);
	req.caller = &caller;
	req.ino = ino;
	rc = META_CALL(c, "Statfs", &req, statfs_reply, &r, 0);
	if (rc)
		return rc;
	st->bsize = r->bsize;
	st->frsize = r->frsize;
	st->blocks = r->blocks;
	st->bfree = r->bfree;
	st->bavail = r->bavail;
	st->files = r->files;
	st->ffree = r->ffree;
	st->namemax = r->namemax;
	wfs_rpc_msg_free(&r->base);
	return 0;
}

/* ---- directory pages ---- */

struct wfs_dirpage {
	unsigned n;
	bool eof;
	struct wfs_dirent *ents;
	struct wfs_attr *attrs;	/* n, with readdirplus */
	char *names;		/* the names, each NUL-terminated */
};

static int dirpage_build(struct wfs_client *c, const Wormfs__ReadDirReply *r,
			 bool plus, struct wfs_dirpage **out)
{
	struct wfs_dirpage *p = wfs_calloc(1, sizeof(*p));
	size_t total = 0, off = 0;

	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < r->n_entries; i++)
		total += r->entries[i]->name.len + 1;
	p->n = (unsigned)r->n_entries;
	p->eof = r->eof;
	p->ents = wfs_calloc(p->n ? p->n : 1, sizeof(*p->ents));
	p->attrs = plus ? wfs_calloc(p->n ? p->n : 1, sizeof(*p->attrs))
			: NULL;
	p->names = wfs_malloc(total ? total : 1);
	if (!p->ents || !p->names || (plus && !p->attrs)) {
		wfs_dirpage_free(p);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < p->n; i++) {
		const Wormfs__DirEntry *e = r->entries[i];

		memcpy(p->names + off, e->name.data, e->name.len);
		p->names[off + e->name.len] = '\0';
		p->ents[i].name = p->names + off;
		off += e->name.len + 1;
		p->ents[i].ino = e->ino;
		p->ents[i].mode = e->mode;
		p->ents[i].cookie = e->cookie;
		if (plus && e->attr) {
			wfs_attr_from_pb(&p->attrs[i], e->attr);
			wfs_file_merge_attr(c, &p->attrs[i]);
			p->ents[i].attr = &p->attrs[i];
		}
	}
	*out = p;
	return 0;
}

int wfs_client_readdir(struct wfs_client *c, const struct wfs_cred *cred,
		       uint64_t ino, uint64_t cookie, unsigned limit,
		       bool plus, struct wfs_dirpage **out)
{
	Wormfs__ReadDirRequest req = WORMFS__READ_DIR_REQUEST__INIT;
	Wormfs__Caller caller = WORMFS__CALLER__INIT;
	Wormfs__ReadDirReply *r = NULL;
	int rc;

	*out = NULL;
	wfs_caller_fill(c, &caller, cred);
	req.caller = &caller;
	req.ino = ino;
	req.cookie = cookie;
	req.limit = limit;
	req.plus = plus;
	rc = META_CALL(c, "ReadDir", &req, read_dir_reply, &r, 0);
	if (rc)
		return rc;
	rc = dirpage_build(c, r, plus, out);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

unsigned wfs_dirpage_count(const struct wfs_dirpage *p)
{
	return p->n;
}

const struct wfs_dirent *wfs_dirpage_entry(const struct wfs_dirpage *p,
					   unsigned i)
{
	return i < p->n ? &p->ents[i] : NULL;
}

bool wfs_dirpage_eof(const struct wfs_dirpage *p)
{
	return p->eof;
}

void wfs_dirpage_free(struct wfs_dirpage *p)
{
	if (!p)
		return;
	wfs_free(p->ents);
	wfs_free(p->attrs);
	wfs_free(p->names);
	wfs_free(p);
}

/* ---- xattrs ---- */

int wfs_client_getxattr(struct wfs_client *c, const struct wfs_cred *cred,
			uint64_t ino, const char *name, void *buf, size_t size)
{
	Wormfs__GetXattrRequest req = WORMFS__GET_XATTR_REQUEST__INIT;
	Wormfs__Caller caller = WORMFS__CALLER__INIT;
	Wormfs__GetXattrReply *r = NULL;
	int rc;

	wfs_caller_fill(c, &caller, cred);
	req.caller = &caller;
	req.ino = ino;
	req.name = bytes_of(name);
	rc = META_CALL(c, "GetXattr", &req, get_xattr_reply, &r, 0);
	if (rc)
		return rc;
	rc = (int)r->value.len;
	if (size && r->value.len > size)
		rc = -ERANGE;
	else if (size && r->value.len)
		memcpy(buf, r->value.data, r->value.len);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

int wfs_client_setxattr(struct wfs_client *c, const struct wfs_cred *cred,
			uint64_t ino, const char *name, const void *value,
			size_t size, int flags)
{
	Wormfs__SetXattrRequest req = WORMFS__SET_XATTR_REQUEST__INIT;
	Wormfs__Caller caller = WORMFS__CALLER__INIT;
	Wormfs__SetXattrReply *r = NULL;
	int rc;

	wfs_caller_fill(c, &caller, cred);
	req.caller = &caller;
	req.ino = ino;
	req.name = bytes_of(name);
	req.value.data = (uint8_t *)value;
	req.value.len = size;
	req.flags = (uint32_t)flags & (XATTR_CREATE | XATTR_REPLACE);
	rc = META_CALL(c, "SetXattr", &req, set_xattr_reply, &r, 0);
	wfs_sa_forget_ino(c, ino);
	if (rc == 0)
		wfs_rpc_msg_free(&r->base);
	return rc;
}

int wfs_client_listxattr(struct wfs_client *c, const struct wfs_cred *cred,
			 uint64_t ino, char *buf, size_t size)
{
	Wormfs__ListXattrRequest req = WORMFS__LIST_XATTR_REQUEST__INIT;
	Wormfs__Caller caller = WORMFS__CALLER__INIT;
	Wormfs__ListXattrReply *r = NULL;
	size_t total = 0, off = 0;
	int rc;

	wfs_caller_fill(c, &caller, cred);
	req.caller = &caller;
	req.ino = ino;
	rc = META_CALL(c, "ListXattr", &req, list_xattr_reply, &r, 0);
	if (rc)
		return rc;
	for (size_t i = 0; i < r->n_names; i++)
		total += r->names[i].len + 1;
	if (size && total > size) {
		rc = -ERANGE;
	} else {
		for (size_t i = 0; size && i < r->n_names; i++) {
			memcpy(buf + off, r->names[i].data, r->names[i].len);
			off += r->names[i].len;
			buf[off++] = '\0';
		}
		rc = (int)total;
	}
	wfs_rpc_msg_free(&r->base);
	return rc;
}

int wfs_client_removexattr(struct wfs_client *c, const struct wfs_cred *cred,
			   uint64_t ino, const char *name)
{
	Wormfs__RemoveXattrRequest req = WORMFS__REMOVE_XATTR_REQUEST__INIT;
	Wormfs__Caller caller = WORMFS__CALLER__INIT;
	Wormfs__RemoveXattrReply *r = NULL;
	int rc;

	wfs_caller_fill(c, &caller, cred);
	req.caller = &caller;
	req.ino = ino;
	req.name = bytes_of(name);
	rc = META_CALL(c, "RemoveXattr", &req, remove_xattr_reply, &r, 0);
	wfs_sa_forget_ino(c, ino);
	if (rc == 0)
		wfs_rpc_msg_free(&r->base);
	return rc;
}

/* ---- locks ---- */

int wfs_client_lock(struct wfs_client *c, const struct wfs_cred *cred,
		    uint64_t ino, enum wfs_lock_op op, struct wfs_lock *lk)
{
	Wormfs__LockRequest req = WORMFS__LOCK_REQUEST__INIT;
	Wormfs__Caller caller = WORMFS__CALLER__INIT;
	Wormfs__LockReply *r = NULL;
	unsigned flags = WFS_CALL_EAGAIN_FINAL;
	int rc;

	if (op == WFS_LOCK_SET_WAIT)
		flags |= WFS_CALL_TIMEOUT_FINAL | WFS_CALL_LONG;
	wfs_caller_fill(c, &caller, cred);
	req.caller = &caller;
	req.ino = ino;
	req.kind = (Wormfs__LockKind)lk->kind;
	req.op = (Wormfs__LockOp)op;
	req.type = (Wormfs__LockType)lk->type;
	req.start = lk->start;
	req.end = lk->end;
	req.owner = lk->owner;
	req.client_id.data = c->id;
	req.client_id.len = sizeof(c->id);
	rc = META_CALL(c, "Lock", &req, lock_reply, &r, flags);
	if (rc)
		return rc;
	if (op == WFS_LOCK_GET) {
		lk->type = r->type;
		lk->start = r->start;
		lk->end = r->end;
		lk->owner = r->owner;
		lk->pid = r->pid;
	}
	wfs_rpc_msg_free(&r->base);
	return 0;
}

/* ---- layouts ---- */

/* Stripes a GetLayout asks for at once. */
#define LAYOUT_PAGE 256

static int report_stripe(const Wormfs__Stripe *pb, wfs_client_stripe_cb cb,
			 void *arg)
{
	struct wfs_chunk_info ch[WFS_STRIPE_MAX_CHUNKS];
	struct wfs_stripe_info s = {
		.sidx = pb->sidx, .stripe_id = pb->stripe_id,
		.version = pb->version, .kind = pb->kind, .k = pb->k,
		.m = pb->m, .chunk_size = pb->chunk_size,
		.length = pb->length, .chunks = ch,
	};

	for (size_t i = 0; i < pb->n_chunks && i < WFS_STRIPE_MAX_CHUNKS;
	     i++) {
		const Wormfs__ChunkLocation *l = pb->chunks[i];

		ch[i].index = l->index;
		ch[i].missing = l->state != WORMFS__CHUNK_STATE__CHUNK_OK;
		ch[i].node_id = l->node_id.data;
		ch[i].node_id_len = l->node_id.len;
		ch[i].disk_id = l->disk_id.data;
		ch[i].disk_id_len = l->disk_id.len;
		ch[i].node_addr = l->node_addr;
		s.nchunks++;
	}
	return cb(&s, arg);
}

static int get_layout(struct wfs_client *c, const struct wfs_cred *cred,
		      uint64_t ino, uint64_t from, unsigned limit,
		      uint32_t copy_max, Wormfs__GetLayoutReply **r)
{
	Wormfs__GetLayoutRequest req = WORMFS__GET_LAYOUT_REQUEST__INIT;
	Wormfs__Caller caller = WORMFS__CALLER__INIT;

	wfs_caller_fill(c, &caller, cred);
	req.caller = &caller;
	req.ino = ino;
	req.sidx = from;
	req.limit = limit;
	req.copy_max = copy_max;
	return META_CALL(c, "GetLayout", &req, get_layout_reply, r, 0);
}

int wfs_client_layout(struct wfs_client *c, const struct wfs_cred *cred,
		      uint64_t ino, uint64_t from, wfs_client_stripe_cb cb,
		      void *arg, struct wfs_attr *attr)
{
	bool first = true;

	for (;;) {
		Wormfs__GetLayoutReply *r = NULL;
		bool eof;
		int rc = get_layout(c, cred, ino, from, LAYOUT_PAGE, 0, &r);

		if (rc)
			return rc;
		if (first && attr)
			wfs_attr_from_pb(attr, r->attr);
		first = false;
		for (size_t i = 0; i < r->n_stripes && rc == 0; i++) {
			rc = report_stripe(r->stripes[i], cb, arg);
			from = r->stripes[i]->sidx + 1;
		}
		eof = r->eof || r->n_stripes == 0;
		wfs_rpc_msg_free(&r->base);
		if (rc)
			return rc < 0 ? rc : 0;
		if (eof)
			return 0;
	}
}

int wfs_layout_fetch(struct wfs_client *c, const struct wfs_cred *cred,
		     uint64_t ino, uint64_t from, unsigned limit,
		     uint32_t copy_max, struct wfs_lstripe ***s, unsigned *n,
		     uint64_t *to, struct wfs_attr *attr)
{
	Wormfs__GetLayoutReply *r = NULL;
	struct wfs_lstripe **v;
	int rc = get_layout(c, cred, ino, from, limit, copy_max, &r);

	*s = NULL;
	*n = 0;
	if (rc)
		return rc;
	v = wfs_calloc(r->n_stripes ? r->n_stripes : 1, sizeof(*v));
	if (!v) {
		rc = -ENOMEM;
		goto out_free_reply;
	}
	for (size_t i = 0; i < r->n_stripes; i++) {
		if (copy_max)
			wfs_first_copy_keep(c, r->stripes[i]);
		v[i] = wfs_lstripe_from_pb(c, r->stripes[i]);
		if (!v[i]) {
			while (i--)
				wfs_free(v[i]);
			wfs_free(v);
			rc = -ENOMEM;
			goto out_free_reply;
		}
	}
	/* What the reply covers: all of the rest at its end, else up to its
	 * last stripe (a reply with none and no eof says nothing beyond
	 * @from itself). */
	if (r->eof)
		*to = UINT64_MAX;
	else if (r->n_stripes)
		*to = r->stripes[r->n_stripes - 1]->sidx + 1;
	else
		*to = from + 1;
	if (attr)
		wfs_attr_from_pb(attr, r->attr);
	*s = v;
	*n = (unsigned)r->n_stripes;
out_free_reply:
	wfs_rpc_msg_free(&r->base);
	return rc;
}
