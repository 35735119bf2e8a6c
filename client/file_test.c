/* Unit tests for client/file (and the client around it): files written and
 * read through the client library against a fake node in this process.
 *
 * The fake serves, over rpc/ on 127.0.0.1 (a port the kernel picks), the
 * calls files need -- Lookup, ReadDir and Create (one flat directory),
 * GetAttr, SetAttr (size), GetLayout, PlaceStripe, CommitStripe (with the
 * expected-version check), Chunk.Write and Chunk.Read -- from memory,
 * with policy 4+2 and 64 KiB chunks (a 256 KiB span), and can lose
 * chunks, refuse writes, answer -EAGAIN for a while, or refuse replicas
 * longer than a chunk as the real node once did.
 * Each test checks what reads return against a plain byte array, and what
 * the fake holds (stripe kinds, versions, lengths, which calls were made).
 */
#include "client/client.h"
#include "client/client_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "erasure/crc32c.h"
#include "mem/mem.h"
#include "proto/wormfs.pb-c.h"
#include "rpc/rpc.h"
#include "tests/unit.h"

#define K 4
#define M 2
#define CS (64u << 10)
#define SPAN ((uint64_t)K * CS)
#define MAX_INODES 64
#define MAX_STRIPES 4096
#define MAX_CHUNKS 32768

struct fstripe {
	bool used;
	uint64_t ino, sidx, stripe_id, version;
	uint32_t kind, length, n;
	uint32_t state[K + M];
};

struct fchunk {
	bool used;
	uint64_t stripe_id, version;
	uint32_t index;
	Wormfs__ChunkHeader hdr;
	uint8_t *data;
	size_t len;
};

/* An inode of the fake's one flat directory, in a slot of fk.inodes. */
struct finode {
	bool used;
	uint64_t ino;			/* < MAX_INODES when the fake picked
					 * it, else a reserved one */
	uint64_t cookie;		/* its readdir cookie: larger for each
					 * name added, as on the node */
	char name[64];
	uint32_t mode, uid, gid;
	uint64_t size;
	int64_t mtime, ctime;
	uint32_t links;			/* 0 is 1 */
};

static struct fake {
	pthread_mutex_t lock;
	struct wfs_rpc_server *srv;
	char addr[64];
	uint64_t next_stripe, next_cookie;
	int64_t clock;
	struct finode inodes[MAX_INODES];
	/* Caller.session: the first one seen, and calls that came with
	 * another or none */
	uint64_t session;
	unsigned other_sessions;
	struct fstripe stripes[MAX_STRIPES];
	struct fchunk chunks[MAX_CHUNKS];
	/* counters */
	unsigned places, commits, reads, writes, layouts, lookups, readdirs;
	uint64_t place_parent;		/* of the last PlaceStripe */
	unsigned unlink_calls, unlink_items;
	/* UnlinkMany, CreateMany wait while these are set (up to HOLD_MS) */
	bool hold_unlinks, hold_creates, hold_lookups;
	pthread_cond_t unlink_cond;	/* either changed */
	/* ReserveInos: numbers from RESERVED on, at most reserve_max a call
	 * (0: as many as asked) */
	uint64_t next_reserved;
	unsigned reserve_calls, reserve_max;
	/* directory leases: who holds each, and whether another waits */
	struct flease {
		uint64_t dir, holder;
		bool waiter;
	} leases[8];
	bool lease_refuse;		/* Lease: "another session holds it" */
	bool lease_recall;		/* every lease held is recalled */
	unsigned lease_asks, lease_grants, lease_releases;
	/* creates: calls to Create that made a file; CreateMany calls and
	 * items; creates without O_EXCL among the items */
	unsigned creates, create_calls, create_items, create_no_excl;
	char fail_name[64];		/* this CreateMany item fails... */
	int fail_errno;			/* ...with this */
	bool fail_readdir;		/* ReadDir answers -EIO */
	/* what the fake saw, in order: "c>NAME" a CreateMany item came,
	 * "c:NAME" a file was made (Create or CreateMany), "u>NAME" an
	 * UnlinkMany item came, "u:NAME" it was applied, "r:DIR" a lease
	 * was given back */
	char events[512][24];
	unsigned nevents;
	/* faults */
	int eagain_left;		/* GetAttr answers -EAGAIN this often */
	bool fail_writes;
	bool bad_copies;		/* first copies with a byte changed */
} fk;

/* The fake's clock: the wall clock, but never the same time twice. */
static int64_t tick(void)
{
	struct timespec ts;
	int64_t now;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	fk.clock = now > fk.clock ? now : fk.clock + 1;
	return fk.clock;
}

/* The inode numbered @ino, or NULL. */
static struct finode *fino(uint64_t ino)
{
	for (unsigned i = 0; i < MAX_INODES; i++)
		if (fk.inodes[i].used && fk.inodes[i].ino == ino)
			return &fk.inodes[i];
	return NULL;
}

/* A new inode @ino named @name (a regular file, 0644, root's); NULL when
 * the fake is full or the name too long. */
static struct finode *fnew(uint64_t ino, const void *name, size_t len)
{
	for (unsigned i = 0; i < MAX_INODES; i++) {
		struct finode *in = &fk.inodes[i];

		if (in->used)
			continue;
		if (len >= sizeof(in->name))
			return NULL;
		memset(in, 0, sizeof(*in));
		in->used = true;
		in->ino = ino;
		in->cookie = ++fk.next_cookie + 2;
		memcpy(in->name, name, len);
		in->mode = S_IFREG | 0644;
		in->mtime = in->ctime = tick();
		return in;
	}
	return NULL;
}

/* The smallest inode number the fake can pick that no inode has. */
static uint64_t free_ino(void)
{
	for (uint64_t ino = 2; ino < MAX_INODES; ino++)
		if (!fino(ino))
			return ino;
	return 0;
}

#define RESERVED 1000

/* Record event @e (fk.lock held). */
static void event(const char *kind, const void *name, size_t len)
{
	if (fk.nevents < sizeof(fk.events) / sizeof(fk.events[0]))
		snprintf(fk.events[fk.nevents++], sizeof(fk.events[0]),
			 "%s%.*s", kind, (int)len, (const char *)name);
}

/* Where event @e came first, or -1. */
static int event_at(const char *e)
{
	int at = -1;

	pthread_mutex_lock(&fk.lock);
	for (unsigned i = 0; i < fk.nevents && at < 0; i++)
		if (strcmp(fk.events[i], e) == 0)
			at = (int)i;
	pthread_mutex_unlock(&fk.lock);
	return at;
}

/* The lease entry of @dir (a new one if @add), or NULL. */
static struct flease *flease(uint64_t dir, bool add)
{
	struct flease *free_one = NULL;

	for (unsigned i = 0; i < 8; i++) {
		if (fk.leases[i].holder && fk.leases[i].dir == dir)
			return &fk.leases[i];
		if (!fk.leases[i].holder && !free_one)
			free_one = &fk.leases[i];
	}
	if (add && free_one) {
		memset(free_one, 0, sizeof(*free_one));
		free_one->dir = dir;
	}
	return add ? free_one : NULL;
}

/* -EAGAIN when another session than @caller's holds @dir's lease (which
 * then has a waiter), else 0: the rule of every mutation. */
static int lease_check(const Wormfs__Caller *caller, uint64_t dir)
{
	struct flease *l = flease(dir, false);

	if (!l || l->holder == (caller ? caller->session : 0))
		return 0;
	l->waiter = true;
	return -EAGAIN;
}

/* Note the session of a call's @caller. */
static void saw_session(const Wormfs__Caller *caller)
{
	uint64_t s = caller ? caller->session : 0;

	if (!fk.session && s)
		fk.session = s;
	else if (s != fk.session || !s)
		fk.other_sessions++;
}

static struct fstripe *slot(uint64_t ino, uint64_t sidx)
{
	for (unsigned i = 0; i < MAX_STRIPES; i++)
		if (fk.stripes[i].used && fk.stripes[i].ino == ino &&
		    fk.stripes[i].sidx == sidx)
			return &fk.stripes[i];
	return NULL;
}

static struct fchunk *chunk_find(uint64_t id, uint64_t v, uint32_t index)
{
	for (unsigned i = 0; i < MAX_CHUNKS; i++)
		if (fk.chunks[i].used && fk.chunks[i].stripe_id == id &&
		    fk.chunks[i].version == v && fk.chunks[i].index == index)
			return &fk.chunks[i];
	return NULL;
}

#define POLICY 7

static void fill_attr(uint64_t ino, Wormfs__Attr *a)
{
	const struct finode *in = fino(ino);

	wormfs__attr__init(a);
	a->ino = ino;
	a->mode = in->mode;
	a->nlink = in->links ? in->links : 1;
	a->uid = in->uid;
	a->gid = in->gid;
	a->size = in->size;
	a->bytes = in->size;
	a->mtime_ns = in->mtime;
	a->ctime_ns = in->ctime;
	a->atime_ns = a->btime_ns = in->ctime;
	a->generation = ino;
	a->policy_id = POLICY;
	a->blksize = SPAN;
}

/* Unpack @desc from the request or fail the handler. */
static int unpack(const ProtobufCMessageDescriptor *desc, const void *req,
		  size_t len, void *out)
{
	int rc = wfs_rpc_msg_unpack(desc, req, len, (ProtobufCMessage **)out);

	return rc == -EPROTO ? -EINVAL : rc;
}

static int h_getattr(void *arg, const void *req, size_t len,
		     struct wfs_rpc_reply *reply)
{
	Wormfs__GetAttrRequest *r;
	Wormfs__AttrReply ar = WORMFS__ATTR_REPLY__INIT;
	Wormfs__Attr a;
	int rc = unpack(&wormfs__get_attr_request__descriptor, req, len, &r);

	(void)arg;
	if (rc)
		return rc;
	pthread_mutex_lock(&fk.lock);
	if (fk.eagain_left > 0) {
		fk.eagain_left--;
		rc = -EAGAIN;
	} else if (!fino(r->ino)) {
		rc = -ENOENT;
	} else {
		fill_attr(r->ino, &a);
		ar.attr = &a;
		rc = wfs_rpc_reply_set_msg(reply, &ar.base);
	}
	pthread_mutex_unlock(&fk.lock);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

static void truncate_locked(uint64_t ino, uint64_t size)
{
	for (unsigned i = 0; i < MAX_STRIPES; i++) {
		struct fstripe *s = &fk.stripes[i];

		if (!s->used || s->ino != ino)
			continue;
		if (s->sidx * SPAN >= size)
			s->used = false;
		else if (s->sidx * SPAN + s->length > size)
			s->length = (uint32_t)(size - s->sidx * SPAN);
	}
	fino(ino)->size = size;
	fino(ino)->mtime = fino(ino)->ctime = tick();
}

static int h_setattr(void *arg, const void *req, size_t len,
		     struct wfs_rpc_reply *reply)
{
	Wormfs__SetAttrRequest *r;
	Wormfs__AttrReply ar = WORMFS__ATTR_REPLY__INIT;
	Wormfs__Attr a;
	int rc = unpack(&wormfs__set_attr_request__descriptor, req, len, &r);

	(void)arg;
	if (rc)
		return rc;
	pthread_mutex_lock(&fk.lock);
	if (!fino(r->ino)) {
		rc = -ENOENT;
	} else {
		if (r->valid & WORMFS__SET_ATTR_FIELD__SETATTR_SIZE)
			truncate_locked(r->ino, r->size);
		if (r->valid & WORMFS__SET_ATTR_FIELD__SETATTR_MTIME)
			fino(r->ino)->mtime = r->mtime_ns;
		fino(r->ino)->ctime = tick();
		fill_attr(r->ino, &a);
		ar.attr = &a;
		rc = wfs_rpc_reply_set_msg(reply, &ar.base);
	}
	pthread_mutex_unlock(&fk.lock);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

/* The inode named @name, or 0. */
static uint64_t name_find(const ProtobufCBinaryData *name)
{
	for (unsigned i = 0; i < MAX_INODES; i++)
		if (fk.inodes[i].used &&
		    strlen(fk.inodes[i].name) == name->len &&
		    !memcmp(fk.inodes[i].name, name->data, name->len))
			return fk.inodes[i].ino;
	return 0;
}

static void held(bool *hold);

static int h_lookup(void *arg, const void *req, size_t len,
		    struct wfs_rpc_reply *reply)
{
	Wormfs__LookupRequest *r;
	Wormfs__EntryReply er = WORMFS__ENTRY_REPLY__INIT;
	Wormfs__Attr a;
	uint64_t ino;
	int rc = unpack(&wormfs__lookup_request__descriptor, req, len, &r);

	(void)arg;
	if (rc)
		return rc;
	pthread_mutex_lock(&fk.lock);
	fk.lookups++;
	saw_session(r->caller);
	ino = name_find(&r->name);
	/* Held with its answer known, as a reply on its way. */
	held(&fk.hold_lookups);
	if (ino && !fino(ino))
		ino = 0;
	if (ino) {
		fill_attr(ino, &a);
		er.attr = &a;
	}
	rc = ino || r->absent_ok ? wfs_rpc_reply_set_msg(reply, &er.base)
				 : -ENOENT;
	pthread_mutex_unlock(&fk.lock);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

/* UnlinkMany: every item removed (the name, if the fake has it), after
 * UNLINK_CALL_MS, so that calls overlap the unlinks queued meanwhile, and
 * after fk.hold_unlinks is cleared (at most HOLD_MS). */
#define UNLINK_CALL_MS 200
#define HOLD_MS 5000

/* Wait while *@hold is set, at most HOLD_MS (fk.lock held). */
static void held(bool *hold)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += HOLD_MS / 1000;
	while (*hold && pthread_cond_timedwait(&fk.unlink_cond, &fk.lock,
					       &until) == 0)
		;
}

static int h_unlink_many(void *arg, const void *req, size_t len,
			 struct wfs_rpc_reply *reply)
{
	Wormfs__UnlinkManyRequest *r;
	Wormfs__UnlinkManyReply ur = WORMFS__UNLINK_MANY_REPLY__INIT;
	Wormfs__UnlinkOutcome o[256], *op[256];
	Wormfs__RemoveReply rr[256];
	int rc = unpack(&wormfs__unlink_many_request__descriptor, req, len,
			&r);

	(void)arg;
	if (rc)
		return rc;
	if (r->n_items > 256) {
		wfs_rpc_msg_free(&r->base);
		return -EINVAL;
	}
	pthread_mutex_lock(&fk.lock);
	for (size_t i = 0; i < r->n_items; i++)
		event("u>", r->items[i]->name.data, r->items[i]->name.len);
	pthread_mutex_unlock(&fk.lock);
	usleep(UNLINK_CALL_MS * 1000);
	pthread_mutex_lock(&fk.lock);
	held(&fk.hold_unlinks);
	fk.unlink_calls++;
	fk.unlink_items += (unsigned)r->n_items;
	for (size_t i = 0; i < r->n_items; i++) {
		const Wormfs__RemoveRequest *it = r->items[i];
		uint64_t ino = name_find(&it->name);

		wormfs__unlink_outcome__init(&o[i]);
		wormfs__remove_reply__init(&rr[i]);
		op[i] = &o[i];
		o[i].error = lease_check(it->caller, it->parent);
		if (o[i].error)
			continue;
		if (ino)
			fino(ino)->used = false;
		event("u:", it->name.data, it->name.len);
		rr[i].ino = 100 + i;
		o[i].reply = &rr[i];
	}
	pthread_mutex_unlock(&fk.lock);
	ur.outcomes = op;
	ur.n_outcomes = r->n_items;
	rc = wfs_rpc_reply_set_msg(reply, &ur.base);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

/* Entries in cookie order, from after the one asked for. */
static int h_readdir(void *arg, const void *req, size_t len,
		     struct wfs_rpc_reply *reply)
{
	Wormfs__ReadDirRequest *r;
	Wormfs__ReadDirReply rr = WORMFS__READ_DIR_REPLY__INIT;
	Wormfs__DirEntry e[MAX_INODES], *p[MAX_INODES];
	uint64_t after;
	int rc = unpack(&wormfs__read_dir_request__descriptor, req, len, &r);

	(void)arg;
	if (rc)
		return rc;
	pthread_mutex_lock(&fk.lock);
	fk.readdirs++;
	if (fk.fail_readdir) {
		pthread_mutex_unlock(&fk.lock);
		wfs_rpc_msg_free(&r->base);
		return -EIO;
	}
	rr.eof = true;
	for (after = r->cookie;;) {
		const struct finode *in = NULL;

		for (unsigned i = 0; i < MAX_INODES; i++)
			if (fk.inodes[i].used && fk.inodes[i].cookie > after &&
			    (!in || fk.inodes[i].cookie < in->cookie))
				in = &fk.inodes[i];
		if (!in)
			break;
		if (rr.n_entries == r->limit) {
			rr.eof = false;
			break;
		}
		wormfs__dir_entry__init(&e[rr.n_entries]);
		e[rr.n_entries].ino = in->ino;
		e[rr.n_entries].mode = in->mode;
		e[rr.n_entries].cookie = after = in->cookie;
		e[rr.n_entries].name.data = (uint8_t *)in->name;
		e[rr.n_entries].name.len = strlen(in->name);
		p[rr.n_entries] = &e[rr.n_entries];
		rr.n_entries++;
	}
	rr.entries = p;
	rc = wfs_rpc_reply_set_msg(reply, &rr.base);
	pthread_mutex_unlock(&fk.lock);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

static int h_create(void *arg, const void *req, size_t len,
		    struct wfs_rpc_reply *reply)
{
	Wormfs__CreateRequest *r;
	Wormfs__CreateReply cr = WORMFS__CREATE_REPLY__INIT;
	Wormfs__Attr a;
	uint64_t ino = 0;
	int rc = unpack(&wormfs__create_request__descriptor, req, len, &r);

	(void)arg;
	if (rc)
		return rc;
	pthread_mutex_lock(&fk.lock);
	saw_session(r->caller);
	ino = name_find(&r->name);
	rc = lease_check(r->caller, r->parent);
	if (rc) {
		/* another session holds the directory */
	} else if (ino && (r->flags & O_EXCL)) {
		rc = -EEXIST;
	} else if (ino) {
		if (r->flags & O_TRUNC)
			truncate_locked(ino, 0);
	} else {
		struct finode *in = NULL;

		ino = free_ino();
		if (ino)
			in = fnew(ino, r->name.data, r->name.len);
		if (!in) {
			rc = -ENOSPC;
		} else {
			in->mode = S_IFREG | (r->mode & 07777 &
					      ~(r->caller ? r->caller->umask
							  : 0));
			in->uid = r->caller ? r->caller->uid : 0;
			in->gid = r->caller ? r->caller->gid : 0;
			cr.created = true;
			fk.creates++;
			event("c:", r->name.data, r->name.len);
		}
	}
	if (rc == 0) {
		fill_attr(ino, &a);
		cr.attr = &a;
		rc = wfs_rpc_reply_set_msg(reply, &cr.base);
	}
	pthread_mutex_unlock(&fk.lock);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

/* One CreateMany item, as the node applies it: a reserved number no inode
 * has, the lease's rule, O_EXCL, the injected failure. */
static int create_item(const Wormfs__CreateRequest *it, Wormfs__Attr *a)
{
	uint32_t umask = it->caller ? it->caller->umask : 0;
	struct finode *in;
	int rc;

	saw_session(it->caller);
	rc = lease_check(it->caller, it->parent);
	if (rc)
		return rc;
	if (it->ino < RESERVED || it->ino >= fk.next_reserved ||
	    fino(it->ino))
		return -EINVAL;
	if (!(it->flags & O_EXCL))
		fk.create_no_excl++;
	if (name_find(&it->name))
		return -EEXIST;
	if (fk.fail_errno && strlen(fk.fail_name) == it->name.len &&
	    !memcmp(fk.fail_name, it->name.data, it->name.len))
		return fk.fail_errno;
	in = fnew(it->ino, it->name.data, it->name.len);
	if (!in)
		return -ENOSPC;
	in->mode = S_IFREG | (it->mode & 07777 & ~umask);
	in->uid = it->caller ? it->caller->uid : 0;
	in->gid = it->caller ? it->caller->gid : 0;
	if (it->time_ns)
		in->mtime = in->ctime = it->time_ns;
	event("c:", it->name.data, it->name.len);
	fill_attr(in->ino, a);
	return 0;
}

/* CreateMany: the items in order, once fk.hold_creates is cleared; the
 * reply names the leases the caller holds that are recalled. */
static int h_create_many(void *arg, const void *req, size_t len,
			 struct wfs_rpc_reply *reply)
{
	Wormfs__CreateManyRequest *r;
	Wormfs__CreateManyReply mr = WORMFS__CREATE_MANY_REPLY__INIT;
	Wormfs__CreateOutcome *o = NULL, **op = NULL;
	Wormfs__CreateReply *cr = NULL;
	Wormfs__Attr *a = NULL;
	uint64_t recalled[8];
	int rc = unpack(&wormfs__create_many_request__descriptor, req, len,
			&r);

	(void)arg;
	if (rc)
		return rc;
	o = wfs_calloc(r->n_items + 1, sizeof(*o));
	op = wfs_calloc(r->n_items + 1, sizeof(*op));
	cr = wfs_calloc(r->n_items + 1, sizeof(*cr));
	a = wfs_calloc(r->n_items + 1, sizeof(*a));
	if (!o || !op || !cr || !a || r->n_items > 256) {
		rc = -EINVAL;
		goto out_free;
	}
	pthread_mutex_lock(&fk.lock);
	for (size_t i = 0; i < r->n_items; i++)
		event("c>", r->items[i]->name.data, r->items[i]->name.len);
	held(&fk.hold_creates);
	fk.create_calls++;
	fk.create_items += (unsigned)r->n_items;
	for (size_t i = 0; i < r->n_items; i++) {
		wormfs__create_outcome__init(&o[i]);
		op[i] = &o[i];
		o[i].error = create_item(r->items[i], &a[i]);
		if (o[i].error)
			continue;
		wormfs__create_reply__init(&cr[i]);
		cr[i].attr = &a[i];
		cr[i].created = true;
		o[i].reply = &cr[i];
	}
	for (unsigned i = 0; i < 8; i++) {
		struct flease *l = &fk.leases[i];

		if (l->holder && r->n_items && r->items[0]->caller &&
		    l->holder == r->items[0]->caller->session &&
		    (l->waiter || fk.lease_recall))
			recalled[mr.n_recalled++] = l->dir;
	}
	mr.recalled = recalled;
	mr.outcomes = op;
	mr.n_outcomes = r->n_items;
	rc = wfs_rpc_reply_set_msg(reply, &mr.base);
	pthread_mutex_unlock(&fk.lock);
out_free:
	wfs_free(a);
	wfs_free(cr);
	wfs_free(op);
	wfs_free(o);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

static int h_lease(void *arg, const void *req, size_t len,
		   struct wfs_rpc_reply *reply)
{
	Wormfs__LeaseRequest *r;
	Wormfs__LeaseReply lr = WORMFS__LEASE_REPLY__INIT;
	uint64_t session;
	struct flease *l;
	int rc = unpack(&wormfs__lease_request__descriptor, req, len, &r);

	(void)arg;
	if (rc)
		return rc;
	pthread_mutex_lock(&fk.lock);
	fk.lease_asks++;
	saw_session(r->caller);
	session = r->caller ? r->caller->session : 0;
	l = flease(r->dir, !r->release);
	if (!session) {
		rc = -EINVAL;
	} else if (r->release) {
		if (l && l->holder == session) {
			char dir[24];

			l->holder = 0;
			fk.lease_releases++;
			snprintf(dir, sizeof(dir), "%llu",
				 (unsigned long long)r->dir);
			event("r:", dir, strlen(dir));
		}
	} else if (!fk.lease_refuse && l &&
		   (!l->holder || l->holder == session)) {
		fk.lease_grants += !l->holder;
		l->holder = session;
		lr.held = true;
		lr.recalled = l->waiter || fk.lease_recall;
	}
	if (rc == 0)
		rc = wfs_rpc_reply_set_msg(reply, &lr.base);
	pthread_mutex_unlock(&fk.lock);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

static int h_reserve(void *arg, const void *req, size_t len,
		     struct wfs_rpc_reply *reply)
{
	Wormfs__ReserveInosRequest *r;
	Wormfs__ReserveInosReply rr = WORMFS__RESERVE_INOS_REPLY__INIT;
	int rc = unpack(&wormfs__reserve_inos_request__descriptor, req, len,
			&r);

	(void)arg;
	if (rc)
		return rc;
	pthread_mutex_lock(&fk.lock);
	fk.reserve_calls++;
	rr.first = fk.next_reserved;
	rr.count = fk.reserve_max && r->count > fk.reserve_max
			   ? fk.reserve_max : r->count;
	fk.next_reserved += rr.count;
	rc = wfs_rpc_reply_set_msg(reply, &rr.base);
	pthread_mutex_unlock(&fk.lock);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

/* The chunk locations of stripe @s as a reply holds them. */
struct locs {
	Wormfs__ChunkLocation l[K + M];
	Wormfs__ChunkLocation *p[K + M];
	uint8_t disk[K + M];
};

static void fill_locs(struct locs *x, unsigned n, const uint32_t *state)
{
	for (unsigned i = 0; i < n; i++) {
		wormfs__chunk_location__init(&x->l[i]);
		x->l[i].index = i;
		x->l[i].state = state ? (Wormfs__ChunkState)state[i]
				      : WORMFS__CHUNK_STATE__CHUNK_OK;
		x->l[i].node_id.data = (uint8_t *)"n1";
		x->l[i].node_id.len = 2;
		x->disk[i] = (uint8_t)('a' + i);
		x->l[i].disk_id.data = &x->disk[i];
		x->l[i].disk_id.len = 1;
		x->l[i].node_addr = fk.addr;
		x->p[i] = &x->l[i];
	}
}

static int h_place(void *arg, const void *req, size_t len,
		   struct wfs_rpc_reply *reply)
{
	Wormfs__PlaceStripeRequest *r;
	Wormfs__PlaceStripeReply pr = WORMFS__PLACE_STRIPE_REPLY__INIT;
	struct fstripe *s;
	struct locs x;
	int rc = unpack(&wormfs__place_stripe_request__descriptor, req, len,
			&r);

	(void)arg;
	if (rc)
		return rc;
	pthread_mutex_lock(&fk.lock);
	fk.places++;
	fk.place_parent = r->parent;
	/* As the node: an inode it does not have is placed only for the
	 * client that made it early (it names the directory). */
	if (!fino(r->ino) && !r->parent) {
		pthread_mutex_unlock(&fk.lock);
		wfs_rpc_msg_free(&r->base);
		return -ENOENT;
	}
	s = slot(r->ino, r->sidx);
	pr.stripe_id = ++fk.next_stripe;
	pr.expected_version = s ? s->version : 0;
	pr.kind = r->kind;
	pr.k = K;
	pr.m = M;
	pr.chunk_size = CS;
	pr.n_chunks = r->kind == WORMFS__STRIPE_KIND__STRIPE_EC ? K + M : M + 1;
	fill_locs(&x, pr.n_chunks, NULL);
	pr.chunks = x.p;
	rc = wfs_rpc_reply_set_msg(reply, &pr.base);
	pthread_mutex_unlock(&fk.lock);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

static int h_commit(void *arg, const void *req, size_t len,
		    struct wfs_rpc_reply *reply)
{
	Wormfs__CommitStripeRequest *r;
	Wormfs__CommitStripeReply cr = WORMFS__COMMIT_STRIPE_REPLY__INIT;
	Wormfs__Attr a;
	struct fstripe *s;
	int rc = unpack(&wormfs__commit_stripe_request__descriptor, req, len,
			&r);

	(void)arg;
	if (rc)
		return rc;
	pthread_mutex_lock(&fk.lock);
	fk.commits++;
	s = slot(r->ino, r->sidx);
	if (!fino(r->ino)) {
		rc = -ENOENT;
		goto out_unlock;
	}
	if ((s ? s->version : 0) != r->expected_version ||
	    (s && r->check_length && s->length != r->expected_length)) {
		rc = -ESTALE;
		goto out_unlock;
	}
	for (unsigned i = 0; !s && i < MAX_STRIPES; i++)
		if (!fk.stripes[i].used)
			s = &fk.stripes[i];
	s->used = true;
	s->ino = r->ino;
	s->sidx = r->sidx;
	s->stripe_id = r->stripe_id;
	s->version = r->expected_version + 1;
	s->kind = r->kind;
	s->length = r->length;
	s->n = (uint32_t)r->n_chunks;
	for (unsigned i = 0; i < s->n && i < K + M; i++)
		s->state[i] = r->chunks[i]->state;
	if (r->file_size > fino(r->ino)->size)
		fino(r->ino)->size = r->file_size;
	fino(r->ino)->mtime = fino(r->ino)->ctime = tick();
	cr.version = s->version;
	fill_attr(r->ino, &a);
	cr.attr = &a;
	rc = wfs_rpc_reply_set_msg(reply, &cr.base);
out_unlock:
	pthread_mutex_unlock(&fk.lock);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

static int h_layout(void *arg, const void *req, size_t len,
		    struct wfs_rpc_reply *reply)
{
	Wormfs__GetLayoutRequest *r;
	Wormfs__GetLayoutReply lr = WORMFS__GET_LAYOUT_REPLY__INIT;
	Wormfs__Stripe *st = wfs_calloc(MAX_STRIPES, sizeof(*st));
	Wormfs__Stripe **sp = wfs_calloc(MAX_STRIPES, sizeof(*sp));
	struct locs *x = wfs_calloc(MAX_STRIPES, sizeof(*x));
	/* Stripe.first_copy: the real node's rule (chunk sidx % copies),
	 * for replicas no longer than copy_max. */
	Wormfs__ChunkReadReply *fc = wfs_calloc(MAX_STRIPES, sizeof(*fc));
	uint8_t *bad = wfs_malloc(CS * K);
	Wormfs__Attr a;
	uint64_t next = 0;
	int rc = unpack(&wormfs__get_layout_request__descriptor, req, len, &r);

	(void)arg;
	if (rc || !st || !sp || !x || !fc || !bad)
		goto out_free;
	pthread_mutex_lock(&fk.lock);
	fk.layouts++;
	if (!fino(r->ino)) {
		pthread_mutex_unlock(&fk.lock);
		rc = -ENOENT;
		goto out_free;
	}
	/* In sidx order: pick the next smallest each time. */
	for (;;) {
		struct fstripe *best = NULL;

		for (unsigned i = 0; i < MAX_STRIPES; i++) {
			struct fstripe *s = &fk.stripes[i];

			if (s->used && s->ino == r->ino &&
			    s->sidx >= (lr.n_stripes ? next : r->sidx) &&
			    (!best || s->sidx < best->sidx))
				best = s;
		}
		if (!best) {
			lr.eof = true;
			break;
		}
		if (lr.n_stripes == (r->limit ? r->limit : 64))
			break;
		wormfs__stripe__init(&st[lr.n_stripes]);
		st[lr.n_stripes].sidx = best->sidx;
		st[lr.n_stripes].stripe_id = best->stripe_id;
		st[lr.n_stripes].version = best->version;
		st[lr.n_stripes].kind = best->kind;
		st[lr.n_stripes].k = K;
		st[lr.n_stripes].m = M;
		st[lr.n_stripes].chunk_size = CS;
		st[lr.n_stripes].length = best->length;
		fill_locs(&x[lr.n_stripes], best->n, best->state);
		st[lr.n_stripes].n_chunks = best->n;
		st[lr.n_stripes].chunks = x[lr.n_stripes].p;
		if (r->copy_max && best->kind == WFS_STRIPE_REPLICA &&
		    best->length <= r->copy_max) {
			struct fchunk *c = chunk_find(best->stripe_id,
						      best->version,
						      best->sidx % best->n);
			Wormfs__ChunkReadReply *cr = &fc[lr.n_stripes];

			if (c && c->len <= CS * K) {
				wormfs__chunk_read_reply__init(cr);
				cr->header = &c->hdr;
				cr->data.data = c->data;
				cr->data.len = c->len;
				if (fk.bad_copies && c->len) {
					memcpy(bad, c->data, c->len);
					bad[c->len / 2] ^= 1;
					cr->data.data = bad;
				}
				st[lr.n_stripes].first_copy = cr;
			}
		}
		sp[lr.n_stripes] = &st[lr.n_stripes];
		lr.n_stripes++;
		next = best->sidx + 1;
	}
	lr.stripes = sp;
	fill_attr(r->ino, &a);
	lr.attr = &a;
	rc = wfs_rpc_reply_set_msg(reply, &lr.base);
	pthread_mutex_unlock(&fk.lock);
out_free:
	if (r)
		wfs_rpc_msg_free(&r->base);
	wfs_free(st);
	wfs_free(sp);
	wfs_free(x);
	wfs_free(fc);
	wfs_free(bad);
	return rc ? rc : 0;
}

static int h_cwrite(void *arg, const void *req, size_t len,
		    struct wfs_rpc_reply *reply)
{
	Wormfs__ChunkWriteRequest *r;
	Wormfs__ChunkWriteReply wr = WORMFS__CHUNK_WRITE_REPLY__INIT;
	struct fchunk *c = NULL;
	int rc = unpack(&wormfs__chunk_write_request__descriptor, req, len, &r);

	(void)arg;
	if (rc)
		return rc;
	pthread_mutex_lock(&fk.lock);
	fk.writes++;
	if (!r->header || r->header->data_length != r->data.len ||
	    wfs_crc32c(0, r->data.data, r->data.len) != r->header->data_crc32c)
		rc = -EBADMSG;
	else if (fk.fail_writes)
		rc = -EIO;
	for (unsigned i = 0; rc == 0 && !c && i < MAX_CHUNKS; i++)
		if (!fk.chunks[i].used)
			c = &fk.chunks[i];
	if (rc == 0 && !c)
		rc = -ENOSPC;
	if (rc == 0) {
		c->used = true;
		c->stripe_id = r->header->stripe_id;
		c->version = r->header->version;
		c->index = r->header->index;
		c->hdr = *r->header;
		c->hdr.base.descriptor = &wormfs__chunk_header__descriptor;
		c->data = wfs_memdup(r->data.data, r->data.len ? r->data.len
							       : 1);
		c->len = r->data.len;
		wr.disk_id = r->disk_id;
		rc = wfs_rpc_reply_set_msg(reply, &wr.base);
	}
	pthread_mutex_unlock(&fk.lock);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

static int h_cread(void *arg, const void *req, size_t len,
		   struct wfs_rpc_reply *reply)
{
	Wormfs__ChunkReadRequest *r;
	Wormfs__ChunkReadReply rr = WORMFS__CHUNK_READ_REPLY__INIT;
	struct fchunk *c;
	int rc = unpack(&wormfs__chunk_read_request__descriptor, req, len, &r);

	(void)arg;
	if (rc)
		return rc;
	pthread_mutex_lock(&fk.lock);
	fk.reads++;
	c = chunk_find(r->stripe_id, r->version, r->index);
	if (!c) {
		rc = -ENOENT;
	} else {
		Wormfs__ChunkHeader h = c->hdr;

		/* As the real node does for the first stripe of a file. */
		if (h.sidx == 0)
			h.chunk_size = 0;
		rr.header = &h;
		rr.data.data = c->data;
		rr.data.len = c->len;
		rc = wfs_rpc_reply_set_msg(reply, &rr.base);
	}
	pthread_mutex_unlock(&fk.lock);
	wfs_rpc_msg_free(&r->base);
	return rc;
}

static void fake_clear(void)
{
	pthread_mutex_lock(&fk.lock);
	for (unsigned i = 0; i < MAX_CHUNKS; i++) {
		wfs_free(fk.chunks[i].data);
		memset(&fk.chunks[i], 0, sizeof(fk.chunks[i]));
	}
	memset(fk.stripes, 0, sizeof(fk.stripes));
	memset(fk.inodes, 0, sizeof(fk.inodes));
	fk.next_cookie = 0;
	fk.session = 0;
	fk.other_sessions = 0;
	fk.places = fk.commits = fk.reads = fk.writes = fk.layouts = 0;
	fk.lookups = fk.readdirs = 0;
	fk.unlink_calls = fk.unlink_items = 0;
	fk.eagain_left = 0;
	fk.fail_writes = false;
	fk.hold_unlinks = fk.hold_creates = fk.hold_lookups = false;
	fk.next_reserved = RESERVED;
	fk.reserve_calls = fk.reserve_max = 0;
	memset(fk.leases, 0, sizeof(fk.leases));
	fk.lease_refuse = fk.lease_recall = false;
	fk.lease_asks = fk.lease_grants = fk.lease_releases = 0;
	fk.creates = fk.create_calls = fk.create_items = 0;
	fk.create_no_excl = 0;
	fk.fail_name[0] = '\0';
	fk.fail_errno = 0;
	fk.fail_readdir = false;
	fk.nevents = 0;
	pthread_mutex_unlock(&fk.lock);
}

static int suite_init(void)
{
	static const struct {
		const char *method;
		wfs_rpc_handler_cb cb;
	} routes[] = {
		{ "/wormfs.Meta/Lookup", h_lookup },
		{ "/wormfs.Meta/ReadDir", h_readdir },
		{ "/wormfs.Meta/UnlinkMany", h_unlink_many },
		{ "/wormfs.Meta/GetAttr", h_getattr },
		{ "/wormfs.Meta/SetAttr", h_setattr },
		{ "/wormfs.Meta/Create", h_create },
		{ "/wormfs.Meta/CreateMany", h_create_many },
		{ "/wormfs.Meta/Lease", h_lease },
		{ "/wormfs.Meta/ReserveInos", h_reserve },
		{ "/wormfs.Meta/PlaceStripe", h_place },
		{ "/wormfs.Meta/CommitStripe", h_commit },
		{ "/wormfs.Meta/GetLayout", h_layout },
		{ "/wormfs.Chunk/Write", h_cwrite },
		{ "/wormfs.Chunk/Read", h_cread },
	};

	pthread_mutex_init(&fk.lock, NULL);
	pthread_cond_init(&fk.unlink_cond, NULL);
	if (wfs_rpc_server_new("127.0.0.1:0", 8, &fk.srv))
		return -1;
	for (unsigned i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (wfs_rpc_server_handle(fk.srv, routes[i].method,
					  routes[i].cb, NULL))
			return -1;
	if (wfs_rpc_server_start(fk.srv))
		return -1;
	snprintf(fk.addr, sizeof(fk.addr), "127.0.0.1:%d",
		 wfs_rpc_server_port(fk.srv));
	return 0;
}

static int suite_cleanup(void)
{
	wfs_rpc_server_free(fk.srv);
	fake_clear();
	pthread_mutex_destroy(&fk.lock);
	return 0;
}

/* ---- helpers ---- */

static struct wfs_cred cred;

static struct wfs_client *client(void)
{
	struct wfs_client_opts o = {
		.nodes = fk.addr, .retry_ms = 3000, .call_ms = 5000,
		.io_threads = 8, .stripe_threads = 4,
	};
	struct wfs_client *c = NULL;

	fake_clear();
	CU_ASSERT_EQUAL(wfs_client_new(&o, &c), 0);
	return c;
}

static struct wfs_file *create(struct wfs_client *c, const char *name,
			       int flags)
{
	struct wfs_file *f = NULL;
	bool created = false;

	CU_ASSERT_EQUAL(wfs_file_create(c, &cred, 1, name, 0644,
					flags | O_CREAT | O_RDWR, NULL,
					&created, &f), 0);
	return f;
}

static struct wfs_file *reopen(struct wfs_client *c, struct wfs_file *f,
			       int flags)
{
	uint64_t ino = wfs_file_ino(f);
	struct wfs_file *g = NULL;

	CU_ASSERT_EQUAL(wfs_file_close(f), 0);
	CU_ASSERT_EQUAL(wfs_file_open(c, &cred, ino, O_RDWR | flags, NULL, &g),
			0);
	return g;
}

static void write_ok(struct wfs_file *f, unsigned char *model,
		     const unsigned char *src, size_t len, uint64_t off)
{
	CU_ASSERT_EQUAL(wfs_file_write(f, src, len, off), (ssize_t)len);
	if (model)
		memcpy(model + off, src, len);
}

/* The whole file reads back as @model[0..size). */
static void check_file(struct wfs_file *f, const unsigned char *model,
		       uint64_t size)
{
	unsigned char *buf = wfs_malloc(size + 100);
	struct wfs_attr a;
	uint64_t off = 0;

	wfs_file_getattr(f, &a);
	CU_ASSERT_EQUAL(a.size, size);
	/* Odd-sized reads that cross stripes. */
	while (off < size + 100) {
		size_t n = size + 100 - off < 77777 ? size + 100 - off : 77777;
		ssize_t got = wfs_file_read(f, buf + off, n, off);

		CU_ASSERT(got >= 0);
		if (got <= 0)
			break;
		off += (uint64_t)got;
	}
	CU_ASSERT_EQUAL(off, size);
	CU_ASSERT_EQUAL(memcmp(buf, model, size), 0);
	wfs_free(buf);
}

static struct fstripe *fake_stripe(struct wfs_file *f, uint64_t sidx)
{
	return slot(wfs_file_ino(f), sidx);
}

/* ---- tests ---- */

static void test_sequential(void)
{
	uint64_t st = wfs_test_seed();
	struct wfs_client *c = client();
	uint64_t size = 10 * SPAN + 12345;
	unsigned char *model = wfs_malloc(size), *src = wfs_malloc(size);
	struct wfs_file *f = create(c, "seq", 0);

	wfs_test_fill(&st, src, size);
	/* In 100,000-byte writes, as a program would. */
	for (uint64_t off = 0; off < size; off += 100000)
		write_ok(f, model, src + off,
			 size - off < 100000 ? size - off : 100000, off);
	/* New data: nothing was read to write it. */
	CU_ASSERT_EQUAL(fk.reads, 0);
	check_file(f, model, size);	/* partly from buffers */
	CU_ASSERT_EQUAL(wfs_file_flush(f), 0);
	for (uint64_t s = 0; s < 10; s++) {
		CU_ASSERT_EQUAL(fake_stripe(f, s)->kind, WFS_STRIPE_EC);
		CU_ASSERT_EQUAL(fake_stripe(f, s)->length, SPAN);
	}
	CU_ASSERT_EQUAL(fake_stripe(f, 10)->kind, WFS_STRIPE_REPLICA);
	CU_ASSERT_EQUAL(fake_stripe(f, 10)->length, 12345);
	CU_ASSERT_EQUAL(fake_stripe(f, 10)->n, M + 1);
	CU_ASSERT_EQUAL(fino(wfs_file_ino(f))->size, size);
	/* Each stripe written once. */
	CU_ASSERT_EQUAL(fk.commits, 11);
	f = reopen(c, f, 0);
	fk.reads = 0;
	check_file(f, model, size);
	CU_ASSERT(fk.reads > 0);
	CU_ASSERT_EQUAL(wfs_file_close(f), 0);
	wfs_client_free(c);
	wfs_free(model);
	wfs_free(src);
}

static void test_small_and_append(void)
{
	uint64_t st = wfs_test_seed() ^ 1;
	struct wfs_client *c = client();
	unsigned char model[SPAN + 5000], src[SPAN + 5000];
	struct wfs_file *f = create(c, "small", 0);
	uint64_t size = 0;

	wfs_test_fill(&st, src, sizeof(src));
	write_ok(f, model, src, 3000, 0);
	CU_ASSERT_EQUAL(wfs_file_fsync(f, false), 0);
	CU_ASSERT_EQUAL(fake_stripe(f, 0)->kind, WFS_STRIPE_REPLICA);
	CU_ASSERT_EQUAL(fake_stripe(f, 0)->version, 1);
	/* Appends, each fsync'ed: the tail replica is rewritten (new
	 * versions) until the stripe fills and becomes EC. */
	size = 3000;
	while (size < sizeof(src)) {
		size_t n = sizeof(src) - size < 40000 ? sizeof(src) - size
						       : 40000;

		CU_ASSERT_EQUAL(wfs_file_write(f, src + size, n, WFS_FILE_END),
				(ssize_t)n);
		memcpy(model + size, src + size, n);
		size += n;
		CU_ASSERT_EQUAL(wfs_file_fsync(f, true), 0);
	}
	CU_ASSERT_EQUAL(fake_stripe(f, 0)->kind, WFS_STRIPE_EC);
	CU_ASSERT(fake_stripe(f, 0)->version > 2);
	CU_ASSERT_EQUAL(fake_stripe(f, 1)->kind, WFS_STRIPE_REPLICA);
	CU_ASSERT_EQUAL(fake_stripe(f, 1)->length, 5000);
	f = reopen(c, f, 0);
	check_file(f, model, size);
	CU_ASSERT_EQUAL(wfs_file_close(f), 0);
	wfs_client_free(c);
}

/* An open for reading brings a small file's bytes with its layout
 * (Stripe.first_copy): the read then makes no Chunk.Read.  A copy that
 * fails its check is dropped and the chunk read from a node instead; an
 * open whose caller has the bytes cached (WFS_O_CACHED) asks for none. */
static void test_first_copy(void)
{
	uint64_t st = wfs_test_seed() ^ 11;
	struct wfs_client *c = client(), *c2;
	struct wfs_client_opts o = {
		.nodes = fk.addr, .retry_ms = 3000, .call_ms = 5000,
	};
	unsigned char src[3000], buf[4000];
	struct wfs_file *f = create(c, "copy", 0), *g;
	uint64_t ino = wfs_file_ino(f);
	static const int opens[] = { O_RDONLY, O_RDONLY, O_RDONLY | WFS_O_CACHED };

	wfs_test_fill(&st, src, sizeof(src));
	write_ok(f, NULL, src, sizeof(src), 0);
	CU_ASSERT_EQUAL(wfs_file_close(f), 0);
	CU_ASSERT_EQUAL_FATAL(wfs_client_new(&o, &c2), 0);
	for (int i = 0; i < 3; i++) {
		fk.bad_copies = i == 1;
		fk.reads = 0;
		CU_ASSERT_EQUAL_FATAL(wfs_file_open(c2, &cred, ino, opens[i],
						    NULL, &g), 0);
		memset(buf, 0, sizeof(buf));
		CU_ASSERT_EQUAL(wfs_file_read(g, buf, sizeof(buf), 0),
				(ssize_t)sizeof(src));
		CU_ASSERT_EQUAL(memcmp(buf, src, sizeof(src)), 0);
		CU_ASSERT_EQUAL(fk.reads, i == 0 ? 0 : 1);
		CU_ASSERT_EQUAL(wfs_file_close(g), 0);
	}
	fk.bad_copies = false;
	wfs_client_free(c2);
	wfs_client_free(c);
}

static void test_overwrite_rmw(void)
{
	uint64_t st = wfs_test_seed() ^ 2;
	struct wfs_client *c = client();
	uint64_t size = 3 * SPAN;
	unsigned char *model = wfs_malloc(size), *src = wfs_malloc(size);
	struct wfs_file *f = create(c, "rmw", 0);

	wfs_test_fill(&st, src, size);
	write_ok(f, model, src, size, 0);
	f = reopen(c, f, 0);
	/* A few bytes into stripe 1 and a range across stripes 0 and 1,
	 * written over a committed file without reading it first. */
	wfs_test_fill(&st, src, size);
	write_ok(f, model, src, 10, SPAN + 5);
	write_ok(f, model, src + 100, 2 * CS, SPAN - CS);
	check_file(f, model, size);
	CU_ASSERT_EQUAL(wfs_file_close(f), 0);
	CU_ASSERT_EQUAL(slot(2, 0)->version, 2);
	CU_ASSERT_EQUAL(slot(2, 1)->version, 2);
	CU_ASSERT_EQUAL(slot(2, 2)->version, 1);
	CU_ASSERT_EQUAL(slot(2, 1)->kind, WFS_STRIPE_EC);
	/* A fresh client sees the merged data. */
	wfs_client_free(c);
	{
		struct wfs_client_opts o = { .nodes = fk.addr };
		struct wfs_file *g = NULL;

		CU_ASSERT_EQUAL_FATAL(wfs_client_new(&o, &c), 0);
		CU_ASSERT_EQUAL(wfs_file_open(c, &cred, 2, O_RDONLY, NULL, &g),
				0);
		check_file(g, model, size);
		wfs_file_close(g);
		wfs_client_free(c);
	}
	wfs_free(model);
	wfs_free(src);
}

static void test_truncate_and_holes(void)
{
	uint64_t st = wfs_test_seed() ^ 3;
	struct wfs_client *c = client();
	uint64_t big = 6 * SPAN;
	unsigned char *model = wfs_calloc(1, big), *src = wfs_malloc(big);
	struct wfs_file *f = create(c, "trunc", 0);
	struct wfs_attr a;

	wfs_test_fill(&st, src, big);
	write_ok(f, model, src, 2 * SPAN + 100, 0);
	/* Cut inside stripe 1 (buffered data flushed first), then grow:
	 * what lay past the cut reads as zeros. */
	CU_ASSERT_EQUAL(wfs_file_truncate(f, &cred, SPAN + 1000, &a), 0);
	CU_ASSERT_EQUAL(a.size, SPAN + 1000);
	memset(model + SPAN + 1000, 0, big - SPAN - 1000);
	check_file(f, model, SPAN + 1000);
	CU_ASSERT_EQUAL(wfs_file_truncate(f, &cred, 4 * SPAN, &a), 0);
	check_file(f, model, 4 * SPAN);
	/* A write past the end leaves a hole of whole stripes. */
	write_ok(f, model, src, 500, 5 * SPAN + 7);
	check_file(f, model, 5 * SPAN + 507);
	f = reopen(c, f, 0);
	check_file(f, model, 5 * SPAN + 507);
	CU_ASSERT_PTR_NULL(fake_stripe(f, 2));
	CU_ASSERT_PTR_NULL(fake_stripe(f, 3));
	CU_ASSERT_PTR_NULL(fake_stripe(f, 4));
	CU_ASSERT_EQUAL(fake_stripe(f, 1)->length, 1000);
	/* Down to nothing and up again, through O_TRUNC. */
	CU_ASSERT_EQUAL(wfs_file_close(f), 0);
	CU_ASSERT_EQUAL(wfs_file_open(c, &cred, 2, O_RDWR | O_TRUNC, &a, &f),
			0);
	CU_ASSERT_EQUAL(a.size, 0);
	memset(model, 0, big);
	write_ok(f, model, src, 10, 100);
	check_file(f, model, 110);
	CU_ASSERT_EQUAL(wfs_file_close(f), 0);
	wfs_client_free(c);
	wfs_free(model);
	wfs_free(src);
}

static void test_shared_buffers(void)
{
	uint64_t st = wfs_test_seed() ^ 4;
	struct wfs_client *c = client();
	unsigned char model[100000], src[100000];
	struct wfs_file *f = create(c, "shared", 0), *g = NULL;
	struct wfs_attr a;

	wfs_test_fill(&st, src, sizeof(src));
	CU_ASSERT_EQUAL(wfs_file_open(c, &cred, wfs_file_ino(f), O_RDONLY,
				      NULL, &g), 0);
	write_ok(f, model, src, sizeof(src), 0);
	/* Nothing committed yet, and another handle reads it all. */
	CU_ASSERT_EQUAL(fk.commits, 0);
	check_file(g, model, sizeof(src));
	/* getattr includes the buffered size. */
	CU_ASSERT_EQUAL(wfs_client_getattr(c, &cred, wfs_file_ino(f), &a), 0);
	CU_ASSERT_EQUAL(a.size, sizeof(src));
	CU_ASSERT_EQUAL(wfs_file_close(f), 0);
	CU_ASSERT_EQUAL(fk.commits, 1);
	check_file(g, model, sizeof(src));
	CU_ASSERT_EQUAL(wfs_file_close(g), 0);
	wfs_client_free(c);
}

static void test_large_offsets(void)
{
	uint64_t st = wfs_test_seed() ^ 5;
	struct wfs_client *c = client();
	struct wfs_file *f = create(c, "huge", 0);
	uint64_t off = (5ULL << 30) + 12345;	/* past 4 GiB */
	unsigned char src[SPAN], buf[SPAN];
	struct wfs_attr a;

	wfs_test_fill(&st, src, sizeof(src));
	CU_ASSERT_EQUAL(wfs_file_write(f, src, sizeof(src), off),
			(ssize_t)sizeof(src));
	f = reopen(c, f, 0);
	wfs_file_getattr(f, &a);
	CU_ASSERT_EQUAL(a.size, off + sizeof(src));
	CU_ASSERT_EQUAL(wfs_file_read(f, buf, sizeof(buf), off),
			(ssize_t)sizeof(buf));
	CU_ASSERT_EQUAL(memcmp(buf, src, sizeof(src)), 0);
	/* Far before it: a hole, zeros, no chunk read. */
	fk.reads = 0;
	memset(buf, 1, sizeof(buf));
	CU_ASSERT_EQUAL(wfs_file_read(f, buf, 4096, 3ULL << 30), 4096);
	CU_ASSERT_EQUAL(buf[0], 0);
	CU_ASSERT_EQUAL(buf[4095], 0);
	CU_ASSERT_EQUAL(fk.reads, 0);
	CU_ASSERT_EQUAL(wfs_file_close(f), 0);
	wfs_client_free(c);
}

static void test_lost_chunks(void)
{
	uint64_t st = wfs_test_seed() ^ 6;
	struct wfs_client *c = client();
	uint64_t size = 2 * SPAN + 777;
	unsigned char *model = wfs_malloc(size), *src = wfs_malloc(size);
	struct wfs_file *f = create(c, "lost", 0);
	struct fstripe *s0, *s2;

	wfs_test_fill(&st, src, size);
	write_ok(f, model, src, size, 0);
	CU_ASSERT_EQUAL(wfs_file_close(f), 0);
	/* Stripe 0: two data chunks gone; the tail: its first copy gone. */
	pthread_mutex_lock(&fk.lock);
	s0 = slot(2, 0);
	s2 = slot(2, 2);
	chunk_find(s0->stripe_id, s0->version, 0)->used = false;
	chunk_find(s0->stripe_id, s0->version, 3)->used = false;
	chunk_find(s2->stripe_id, s2->version, 0)->used = false;
	/* Stripe 1: a corrupt byte in data chunk 1. */
	s0 = slot(2, 1);
	chunk_find(s0->stripe_id, s0->version, 1)->data[1000] ^= 0x10;
	pthread_mutex_unlock(&fk.lock);
	CU_ASSERT_EQUAL(wfs_file_open(c, &cred, 2, O_RDONLY, NULL, &f), 0);
	check_file(f, model, size);
	CU_ASSERT_EQUAL(wfs_file_close(f), 0);
	wfs_client_free(c);
	wfs_free(model);
	wfs_free(src);
}

static void test_write_failures(void)
{
	uint64_t st = wfs_test_seed() ^ 7;
	struct wfs_client *c = client();
	unsigned char src[SPAN];
	struct wfs_file *f = create(c, "fail", 0);

	wfs_test_fill(&st, src, sizeof(src));
	fk.fail_writes = true;
	CU_ASSERT_EQUAL(wfs_file_write(f, src, 1000, 0), 1000);
	CU_ASSERT_EQUAL(wfs_file_flush(f), -EIO);
	/* The data stays buffered: once the nodes take writes again, the
	 * next flush commits it. */
	fk.fail_writes = false;
	CU_ASSERT_EQUAL(wfs_file_flush(f), 0);
	CU_ASSERT_EQUAL(fake_stripe(f, 0)->length, 1000);
	/* A full stripe flushed in the background: its error comes with
	 * the next write (or flush), once. */
	fk.fail_writes = true;
	CU_ASSERT_EQUAL(wfs_file_write(f, src, SPAN, SPAN), (ssize_t)SPAN);
	CU_ASSERT_EQUAL(wfs_file_flush(f), -EIO);
	CU_ASSERT_EQUAL(wfs_file_write(f, src, 10, 2 * SPAN), 10);
	fk.fail_writes = false;
	CU_ASSERT_EQUAL(wfs_file_close(f), 0);
	wfs_client_free(c);
}

static void test_long_tail_replica(void)
{
	uint64_t st = wfs_test_seed() ^ 8;
	struct wfs_client *c = client();
	unsigned char model[3 * CS], src[3 * CS];
	struct wfs_file *f = create(c, "long", 0);

	wfs_test_fill(&st, src, sizeof(src));
	write_ok(f, model, src, sizeof(src), 0);
	CU_ASSERT_EQUAL(wfs_file_close(f), 0);
	/* A tail longer than one chunk is still one replica stripe: each
	 * replica holds the whole tail (DESIGN.md). */
	CU_ASSERT_EQUAL(slot(2, 0)->kind, WFS_STRIPE_REPLICA);
	CU_ASSERT_EQUAL(slot(2, 0)->length, sizeof(src));
	CU_ASSERT_EQUAL(wfs_file_open(c, &cred, 2, O_RDONLY, NULL, &f), 0);
	check_file(f, model, sizeof(src));
	CU_ASSERT_EQUAL(wfs_file_close(f), 0);
	wfs_client_free(c);
}

static void test_stale_stripe(void)
{
	uint64_t st = wfs_test_seed() ^ 9;
	struct wfs_client *c = client();
	unsigned char model[SPAN], src[SPAN];
	struct wfs_file *f = create(c, "stale", 0);
	struct wfs_client_opts o = { .nodes = fk.addr };
	struct wfs_client *c2;
	struct wfs_file *g = NULL;

	wfs_test_fill(&st, src, sizeof(src));
	write_ok(f, model, src, sizeof(src), 0);
	f = reopen(c, f, 0);
	/* Another client rewrites a part of the stripe after this one
	 * opened it... */
	CU_ASSERT_EQUAL_FATAL(wfs_client_new(&o, &c2), 0);
	CU_ASSERT_EQUAL(wfs_file_open(c2, &cred, 2, O_RDWR, NULL, &g), 0);
	write_ok(g, model, src + 5, 100, 50000);
	CU_ASSERT_EQUAL(wfs_file_close(g), 0);
	wfs_client_free(c2);
	/* ...then this one writes another part: its commit finds the
	 * stripe changed, reads it again and keeps both writes. */
	write_ok(f, model, src + 9, 100, 200000);
	CU_ASSERT_EQUAL(wfs_file_close(f), 0);
	CU_ASSERT_EQUAL(slot(2, 0)->version, 3);
	CU_ASSERT_EQUAL(wfs_file_open(c, &cred, 2, O_RDONLY, NULL, &f), 0);
	check_file(f, model, sizeof(src));
	CU_ASSERT_EQUAL(wfs_file_close(f), 0);
	wfs_client_free(c);
}

/* A stripe this client rewrites whole but that is shorter than the span
 * must not cut off bytes another client appended to it meanwhile. */
static void test_stale_short_stripe(void)
{
	uint64_t st = wfs_test_seed() ^ 10;
	struct wfs_client *c = client();
	unsigned char model[SPAN], src[SPAN], got[1000];
	struct wfs_file *f = create(c, "short", 0);
	struct wfs_client_opts o = { .nodes = fk.addr };
	struct wfs_client *c2;
	struct wfs_file *g = NULL;

	memset(model, 0, sizeof(model));
	wfs_test_fill(&st, src, sizeof(src));
	write_ok(f, model, src, 1000, 0);
	f = reopen(c, f, 0);
	/* This client reads the stripe (version 1, 1000 bytes)... */
	CU_ASSERT_EQUAL(wfs_file_read(f, got, sizeof(got), 0), 1000);
	/* ...another appends to the same stripe and commits... */
	CU_ASSERT_EQUAL_FATAL(wfs_client_new(&o, &c2), 0);
	CU_ASSERT_EQUAL(wfs_file_open(c2, &cred, 2, O_RDWR, NULL, &g), 0);
	write_ok(g, model, src + 7, 1000, 1000);
	CU_ASSERT_EQUAL(wfs_file_close(g), 0);
	wfs_client_free(c2);
	/* ...then this one overwrites all it had read: both writes stay. */
	write_ok(f, model, src + 3, 1000, 0);
	CU_ASSERT_EQUAL(wfs_file_close(f), 0);
	CU_ASSERT_EQUAL(slot(2, 0)->length, 2000);
	/* What this client reads back after its retry... */
	CU_ASSERT_EQUAL(wfs_file_open(c, &cred, 2, O_RDONLY, NULL, &f), 0);
	check_file(f, model, 2000);
	CU_ASSERT_EQUAL(wfs_file_close(f), 0);
	wfs_client_free(c);
	/* ...and what the cluster holds, read by a client with no cache. */
	CU_ASSERT_EQUAL_FATAL(wfs_client_new(&o, &c2), 0);
	CU_ASSERT_EQUAL(wfs_file_open(c2, &cred, 2, O_RDONLY, NULL, &g), 0);
	check_file(g, model, 2000);
	CU_ASSERT_EQUAL(wfs_file_close(g), 0);
	wfs_client_free(c2);
}

/* Another client truncates a stripe this one has read and cached: this
 * one's later partial rewrite must not bring the cut bytes back. */
static void test_stripe_truncated_by_another(void)
{
	uint64_t st = wfs_test_seed() ^ 11;
	struct wfs_client *c = client();
	unsigned char model[SPAN], src[SPAN], got[2000];
	struct wfs_file *f = create(c, "cut", 0);
	struct wfs_client_opts o = { .nodes = fk.addr };
	struct wfs_client *c2;
	struct wfs_file *g = NULL;
	struct wfs_attr a;

	memset(model, 0, sizeof(model));
	wfs_test_fill(&st, src, sizeof(src));
	write_ok(f, model, src, 2000, 0);
	f = reopen(c, f, 0);
	CU_ASSERT_EQUAL(wfs_file_read(f, got, sizeof(got), 0), 2000);
	CU_ASSERT_EQUAL_FATAL(wfs_client_new(&o, &c2), 0);
	CU_ASSERT_EQUAL(wfs_file_open(c2, &cred, 2, O_RDWR, NULL, &g), 0);
	CU_ASSERT_EQUAL(wfs_file_truncate(g, &cred, 500, &a), 0);
	memset(model + 500, 0, 1500);
	CU_ASSERT_EQUAL(wfs_file_close(g), 0);
	wfs_client_free(c2);
	/* The stripe keeps its version but holds 500 bytes now. */
	CU_ASSERT_EQUAL(slot(2, 0)->length, 500);
	write_ok(f, model, src + 3, 100, 0);
	CU_ASSERT_EQUAL(wfs_file_close(f), 0);
	CU_ASSERT_EQUAL(slot(2, 0)->length, 500);
	CU_ASSERT_EQUAL(fino(2)->size, 500);
	/* Read back by this client, whose cache held the long version... */
	CU_ASSERT_EQUAL(wfs_file_open(c, &cred, 2, O_RDONLY, NULL, &f), 0);
	check_file(f, model, 500);
	CU_ASSERT_EQUAL(wfs_file_close(f), 0);
	wfs_client_free(c);
	/* ...and by one with no cache at all. */
	CU_ASSERT_EQUAL_FATAL(wfs_client_new(&o, &c2), 0);
	CU_ASSERT_EQUAL(wfs_file_open(c2, &cred, 2, O_RDONLY, NULL, &g), 0);
	check_file(g, model, 500);
	CU_ASSERT_EQUAL(wfs_file_close(g), 0);
	wfs_client_free(c2);
}

static void test_retries(void)
{
	struct wfs_client *c = client();
	struct wfs_file *f = create(c, "retry", 0);
	struct wfs_client_opts o = { .nodes = fk.addr, .retry_ms = 300 };
	struct wfs_attr a;

	/* An election: the call waits it out. */
	fk.eagain_left = 3;
	CU_ASSERT_EQUAL(wfs_client_getattr(c, &cred, 2, &a), 0);
	CU_ASSERT_EQUAL(fk.eagain_left, 0);
	CU_ASSERT_EQUAL(a.ino, 2);
	/* Other errors come back as they are. */
	CU_ASSERT_EQUAL(wfs_client_getattr(c, &cred, 40, &a), -ENOENT);
	CU_ASSERT_EQUAL(wfs_file_close(f), 0);
	wfs_client_free(c);
	/* No master for longer than the retry deadline: EIO. */
	CU_ASSERT_EQUAL_FATAL(wfs_client_new(&o, &c), 0);
	fk.eagain_left = 1000000;
	CU_ASSERT_EQUAL(wfs_client_getattr(c, &cred, 2, &a), -EIO);
	fk.eagain_left = 0;
	wfs_client_free(c);
	/* Nobody there at all. */
	o.nodes = "127.0.0.1:1";
	CU_ASSERT_EQUAL_FATAL(wfs_client_new(&o, &c), 0);
	CU_ASSERT_EQUAL(wfs_client_getattr(c, &cred, 2, &a), -EIO);
	wfs_client_free(c);
}

static void test_client_args(void)
{
	struct wfs_client_opts o = { 0 };
	struct wfs_client *c = NULL;
	size_t n;

	CU_ASSERT_EQUAL(wfs_client_new(&o, &c), -EINVAL);
	o.nodes = "nohostport";
	CU_ASSERT_EQUAL(wfs_client_new(&o, &c), -EINVAL);
	o.nodes = "127.0.0.1:7,127.0.0.2:8";
	CU_ASSERT_EQUAL(wfs_client_new(&o, &c), 0);
	CU_ASSERT_PTR_NOT_NULL(wfs_client_id(c, &n));
	CU_ASSERT_EQUAL(n, 16);
	wfs_client_free(c);
	wfs_client_free(NULL);
	CU_ASSERT_EQUAL(wfs_file_close(NULL), 0);
}

/* A name another client adds, as the fake sees it. */
static void fake_add_name(const char *name)
{
	pthread_mutex_lock(&fk.lock);
	fnew(free_ino(), name, strlen(name));
	pthread_mutex_unlock(&fk.lock);
}

static void test_dirnames(void)
{
	struct wfs_client_opts o = {
		.nodes = fk.addr, .retry_ms = 3000, .call_ms = 5000,
		.dirnames_ms = 400,
	};
	struct wfs_client *c = NULL;
	struct wfs_file *f;
	struct wfs_attr a;

	fake_clear();
	fake_add_name("old");
	CU_ASSERT_EQUAL_FATAL(wfs_client_new(&o, &c), 0);
	/* Two lookups miss at the node: the directory is listed. */
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "a", &a), -ENOENT);
	CU_ASSERT_EQUAL(fk.readdirs, 0);
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "b", &a), -ENOENT);
	CU_ASSERT_EQUAL(fk.lookups, 2);
	CU_ASSERT_EQUAL(fk.readdirs, 1);
	/* From then on a name it lacks is answered here... */
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "c", &a), -ENOENT);
	CU_ASSERT_EQUAL(fk.lookups, 2);
	/* ...one it has still asks the node... */
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "old", &a), 0);
	CU_ASSERT_EQUAL(fk.lookups, 3);
	/* ...and so does one made through this client, at once. */
	f = create(c, "c", O_EXCL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "c", &a), 0);
	CU_ASSERT_EQUAL(a.ino, wfs_file_ino(f));
	CU_ASSERT_EQUAL(fk.lookups, 4);
	CU_ASSERT_EQUAL(wfs_file_close(f), 0);
	/* A name another client adds is seen once the list is older than
	 * its life: the lookup lists what was added since, and finds it. */
	fake_add_name("other");
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "other", &a), -ENOENT);
	usleep(450 * 1000);
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "other", &a), 0);
	CU_ASSERT_EQUAL(fk.readdirs, 2);
	CU_ASSERT_EQUAL(fk.lookups, 5);
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "d", &a), -ENOENT);
	CU_ASSERT_EQUAL(fk.lookups, 5);
	/* An expired list stands in for the node: one listing instead of
	 * a lookup. */
	usleep(450 * 1000);
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "e", &a), -ENOENT);
	CU_ASSERT_EQUAL(fk.readdirs, 3);
	CU_ASSERT_EQUAL(fk.lookups, 5);
	wfs_client_free(c);
	/* Off by default. */
	c = client();
	for (unsigned i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "x", &a),
				-ENOENT);
	CU_ASSERT_EQUAL(fk.lookups, 4);
	CU_ASSERT_EQUAL(fk.readdirs, 0);
	wfs_client_free(c);
}

static void count_unlinked(void *arg, int rc, uint64_t ino, uint32_t nlink)
{
	(void)ino;
	(void)nlink;
	if (rc == 0)
		atomic_fetch_add((atomic_uint *)arg, 1);
}

/* Unlinks queued faster than the node applies them go out in few calls:
 * while one call is out, a second starts only once a call's worth (32)
 * waits.  40 queued 1 ms apart while a call takes 200 ms: the first call
 * takes 1, a second 32 once they wait, a third the last 7 (a fourth only
 * if queueing took longer than a call).  A call per idle worker instead
 * (4 of them) makes 6. */
static void test_unlinks_batched(void)
{
	struct wfs_client *c = client();
	atomic_uint done = 0;
	char name[16];

	for (unsigned i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "u%u", i);
		CU_ASSERT_EQUAL(wfs_client_unlink_behind(c, &cred, 1, name,
							 count_unlinked,
							 &done), 0);
		usleep(1000);
	}
	CU_ASSERT_EQUAL(wfs_client_settle(c), 0);
	CU_ASSERT_EQUAL(atomic_load(&done), 40);
	CU_ASSERT_EQUAL(fk.unlink_items, 40);
	CU_ASSERT(fk.unlink_calls >= 3 && fk.unlink_calls <= 4);
	wfs_client_free(c);
}

static void hold_unlinks(bool on)
{
	pthread_mutex_lock(&fk.lock);
	fk.hold_unlinks = on;
	pthread_cond_broadcast(&fk.unlink_cond);
	pthread_mutex_unlock(&fk.lock);
}

static void *release_unlinks(void *arg)
{
	(void)arg;
	usleep(100 * 1000);
	hold_unlinks(false);
	return NULL;
}

/* Set the link count the fake gives @name. */
static void fake_set_links(const char *name, uint32_t links)
{
	ProtobufCBinaryData b = { strlen(name), (uint8_t *)name };
	uint64_t ino;

	pthread_mutex_lock(&fk.lock);
	ino = name_find(&b);
	if (ino)
		fino(ino)->links = links;
	pthread_mutex_unlock(&fk.lock);
}

/* A lookup waits for the queued unlinks of its own name, and for the
 * others only when they may change what it found (a file with other
 * links).  The node holds the unlinks until told (release_unlinks), so a
 * lookup that waited when it should not would come back only once they
 * are applied, and one that did not wait when it should would come back
 * while they are still held. */
static void test_lookup_beside_unlinks(void)
{
	struct wfs_client *c;
	struct wfs_attr a;
	pthread_t t;

	c = client();		/* clears the fake */
	fake_add_name("keep");
	fake_add_name("gone");
	fake_add_name("linked");
	fake_set_links("linked", 2);
	hold_unlinks(true);
	CU_ASSERT_EQUAL(wfs_client_unlink_behind(c, &cred, 1, "gone", NULL,
						 NULL), 0);
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "keep", &a), 0);
	CU_ASSERT_TRUE(wfs_client_unlinking(c, 1));
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, release_unlinks, NULL),
			      0);
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "linked", &a), 0);
	CU_ASSERT_EQUAL(a.nlink, 2);
	CU_ASSERT_FALSE(wfs_client_unlinking(c, 1));
	pthread_join(t, NULL);
	/* its own name: the lookup finds it gone */
	hold_unlinks(true);
	CU_ASSERT_EQUAL(wfs_client_unlink_behind(c, &cred, 1, "keep", NULL,
						 NULL), 0);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, release_unlinks, NULL),
			      0);
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "keep", &a), -ENOENT);
	CU_ASSERT_FALSE(wfs_client_unlinking(c, 1));
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(wfs_client_settle(c), 0);
	wfs_client_free(c);
}

/* Every call names the client's session, a non-zero number of its own:
 * what the nodes tell directory leases apart by. */
static void test_session(void)
{
	struct wfs_client *c = client(), *c2 = NULL;
	struct wfs_client_opts o = { .nodes = fk.addr };
	struct wfs_file *f = create(c, "s", 0);
	struct wfs_attr a;
	uint64_t first;

	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "s", &a), 0);
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "t", &a), -ENOENT);
	CU_ASSERT_NOT_EQUAL(fk.session, 0);
	CU_ASSERT_EQUAL(fk.other_sessions, 0);
	first = fk.session;
	CU_ASSERT_EQUAL(wfs_file_close(f), 0);
	wfs_client_free(c);
	CU_ASSERT_EQUAL_FATAL(wfs_client_new(&o, &c2), 0);
	CU_ASSERT_EQUAL(wfs_client_lookup(c2, &cred, 1, "s", &a), 0);
	CU_ASSERT_EQUAL(fk.other_sessions, 1);
	CU_ASSERT_EQUAL(fk.session, first);
	wfs_client_free(c2);
}

/* ---- creates answered early under directory leases ---- */

static void hold_creates(bool on)
{
	pthread_mutex_lock(&fk.lock);
	fk.hold_creates = on;
	pthread_cond_broadcast(&fk.unlink_cond);
	pthread_mutex_unlock(&fk.lock);
}

static void *release_creates(void *arg)
{
	(void)arg;
	usleep(100 * 1000);
	hold_creates(false);
	return NULL;
}

/* A client that answers creates early where it holds a lease, with lists
 * of names (that do not expire during a test) when @dirnames. */
static struct wfs_client *lease_client(bool dirnames)
{
	struct wfs_client_opts o = {
		.nodes = fk.addr, .retry_ms = 3000, .call_ms = 5000,
		.early_creates = true, .dirnames_ms = dirnames ? 60000 : 0,
	};
	struct wfs_client *c = NULL;

	CU_ASSERT_EQUAL(wfs_client_new(&o, &c), 0);
	return c;
}

static struct wfs_leases_stats lstats(struct wfs_client *c)
{
	struct wfs_leases_stats st;

	wfs_leases_stats(c->leases, &st);
	return st;
}

/* Wait (up to 5 s) until @cond(@c) holds; whether it did. */
static bool wait_until(bool (*cond)(struct wfs_client *), struct wfs_client *c)
{
	for (unsigned i = 0; i < 5000; i++) {
		if (cond(c))
			return true;
		usleep(1000);
	}
	return cond(c);
}

static bool lease_ready(struct wfs_client *c)
{
	return wfs_leases_usable(c->leases, 1) && lstats(c).inos > 0 &&
	       (!c->dn || lstats(c).relists > 0);
}

static bool lease_gone(struct wfs_client *c)
{
	(void)c;
	pthread_mutex_lock(&fk.lock);
	bool gone = fk.lease_releases > 0;
	pthread_mutex_unlock(&fk.lock);
	return gone;
}

/* What a create returned: 0 and the attributes, or its error. */
static int create_as(struct wfs_client *c, const struct wfs_cred *who,
		     const char *name, int flags, struct wfs_attr *a)
{
	struct wfs_file *f = NULL;
	bool created = false;
	int rc = wfs_file_create(c, who, 1, name, 0666,
				 flags | O_CREAT | O_RDWR, a, &created, &f);

	if (rc == 0) {
		CU_ASSERT_TRUE(created);
		CU_ASSERT_EQUAL(wfs_file_close(f), 0);
	}
	return rc;
}

/* Make a file synchronously in directory 1 (which asks for its lease) and
 * wait until the lease and inode numbers are there. */
static void take_lease(struct wfs_client *c, const char *name)
{
	struct wfs_attr a;

	CU_ASSERT_EQUAL(create_as(c, &cred, name, O_EXCL, &a), 0);
	CU_ASSERT(a.ino < RESERVED);
	CU_ASSERT_TRUE(wait_until(lease_ready, c));
}

static bool fake_has(const char *name)
{
	ProtobufCBinaryData b = { strlen(name), (uint8_t *)name };

	pthread_mutex_lock(&fk.lock);
	bool has = name_find(&b) != 0;
	pthread_mutex_unlock(&fk.lock);
	return has;
}

/* A create in a leased directory, of a name a lookup found absent after
 * the grant, is answered while the node holds CreateMany, as the node
 * makes it; a getattr of the new inode waits until it is applied. */
static void test_create_early(void)
{
	struct wfs_cred who = { .uid = 1000, .gid = 100, .umask = 022 };
	struct wfs_client *c;
	struct wfs_attr a, b;
	pthread_t t;

	fake_clear();
	c = lease_client(false);
	take_lease(c, "first");
	CU_ASSERT_EQUAL(fk.lease_grants, 1);
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &who, 1, "early", &a), -ENOENT);
	hold_creates(true);
	CU_ASSERT_EQUAL(create_as(c, &who, "early", O_EXCL, &a), 0);
	CU_ASSERT_EQUAL(a.ino, RESERVED);
	CU_ASSERT_EQUAL(a.mode, S_IFREG | 0644);
	CU_ASSERT_EQUAL(a.uid, 1000);
	CU_ASSERT_EQUAL(a.gid, 100);
	CU_ASSERT_EQUAL(a.nlink, 1);
	CU_ASSERT_EQUAL(a.size, 0);
	CU_ASSERT_EQUAL(a.blksize, SPAN);
	CU_ASSERT_EQUAL(a.policy_id, POLICY);
	/* Answered, not made yet; its directory counts as changing. */
	CU_ASSERT_FALSE(fake_has("early"));
	CU_ASSERT_TRUE(wfs_client_unlinking(c, 1));
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, release_creates, NULL),
			      0);
	CU_ASSERT_EQUAL(wfs_client_getattr(c, &cred, a.ino, &b), 0);
	CU_ASSERT_EQUAL(b.ino, a.ino);
	CU_ASSERT_EQUAL(b.mode, a.mode);
	CU_ASSERT_EQUAL(b.uid, a.uid);
	CU_ASSERT_EQUAL(b.gid, a.gid);
	CU_ASSERT_EQUAL(b.mtime_ns, a.mtime_ns);
	CU_ASSERT_EQUAL(b.ctime_ns, a.ctime_ns);
	CU_ASSERT_EQUAL(b.blksize, a.blksize);
	pthread_join(t, NULL);
	CU_ASSERT_FALSE(wfs_client_unlinking(c, 1));
	/* So does an fsync of the new file: then it is there. */
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &who, 1, "early3", &a), -ENOENT);
	hold_creates(true);
	{
		struct wfs_file *f = NULL;
		bool created = false;

		CU_ASSERT_EQUAL(wfs_file_create(c, &who, 1, "early3", 0644,
						O_CREAT | O_RDWR, &a, &created,
						&f), 0);
		CU_ASSERT_TRUE(created);
		CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL,
						     release_creates, NULL),
				      0);
		CU_ASSERT_EQUAL(wfs_file_fsync(f, false), 0);
		CU_ASSERT_TRUE(fake_has("early3"));
		CU_ASSERT_EQUAL(wfs_file_close(f), 0);
		pthread_join(t, NULL);
	}
	/* A lookup of a name being made waits for it too. */
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &who, 1, "early2", &a), -ENOENT);
	hold_creates(true);
	CU_ASSERT_EQUAL(create_as(c, &who, "early2", O_EXCL, &a), 0);
	CU_ASSERT_EQUAL(a.ino, RESERVED + 2);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, release_creates, NULL),
			      0);
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "early2", &b), 0);
	CU_ASSERT_EQUAL(b.ino, a.ino);
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(wfs_client_settle(c), 0);
	CU_ASSERT_EQUAL(fk.creates, 1);
	CU_ASSERT_EQUAL(fk.create_items, 3);
	CU_ASSERT_EQUAL(fk.create_no_excl, 0);
	CU_ASSERT_EQUAL(fk.other_sessions, 0);
	wfs_client_free(c);
	CU_ASSERT_EQUAL(fk.lease_releases, 1);
}

/* A file made early is written and read like any other. */
static void test_early_file_data(void)
{
	uint64_t st = wfs_test_seed() ^ 12;
	unsigned char model[SPAN + 100], src[SPAN + 100];
	struct wfs_client *c;
	struct wfs_file *f = NULL;
	struct wfs_attr a;
	bool created;

	fake_clear();
	c = lease_client(false);
	take_lease(c, "first");
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "data", &a), -ENOENT);
	CU_ASSERT_EQUAL(wfs_file_create(c, &cred, 1, "data", 0644,
					O_CREAT | O_RDWR, &a, &created, &f),
			0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL(a.ino, RESERVED);
	wfs_test_fill(&st, src, sizeof(src));
	write_ok(f, model, src, sizeof(src), 0);
	CU_ASSERT_EQUAL(wfs_file_close(f), 0);
	CU_ASSERT_EQUAL(fino(RESERVED)->size, sizeof(src));
	CU_ASSERT_EQUAL(wfs_file_open(c, &cred, RESERVED, O_RDONLY, NULL, &f),
			0);
	check_file(f, model, sizeof(src));
	CU_ASSERT_EQUAL(wfs_file_close(f), 0);
	wfs_client_free(c);
}

static void *close_file(void *arg)
{
	return (void *)(intptr_t)wfs_file_close(arg);
}

/* The data of a file made early is placed and written while its create
 * is still on its way; only the commit waits for the create. */
static void test_early_file_placed_at_once(void)
{
	struct wfs_client *c;
	struct wfs_file *f = NULL;
	struct wfs_attr a;
	unsigned char data[1000];
	bool created, placed = false;
	void *closed;
	pthread_t t;

	fake_clear();
	c = lease_client(false);
	take_lease(c, "first");
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "soon", &a), -ENOENT);
	hold_creates(true);
	CU_ASSERT_EQUAL(wfs_file_create(c, &cred, 1, "soon", 0644,
					O_CREAT | O_WRONLY, &a, &created, &f),
			0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_EQUAL(a.ino, RESERVED);
	memset(data, 'p', sizeof(data));
	CU_ASSERT_EQUAL(wfs_file_write(f, data, sizeof(data), 0),
			(ssize_t)sizeof(data));
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, close_file, f), 0);
	for (unsigned i = 0; i < 400 && !placed; i++) {
		pthread_mutex_lock(&fk.lock);
		placed = fk.writes > 0;
		pthread_mutex_unlock(&fk.lock);
		if (!placed)
			usleep(5000);
	}
	pthread_mutex_lock(&fk.lock);
	CU_ASSERT_TRUE(placed);
	CU_ASSERT_EQUAL(fk.place_parent, 1);
	CU_ASSERT_EQUAL(fk.commits, 0);
	CU_ASSERT_PTR_NULL(fino(RESERVED));
	pthread_mutex_unlock(&fk.lock);
	hold_creates(false);
	CU_ASSERT_EQUAL(pthread_join(t, &closed), 0);
	CU_ASSERT_EQUAL((intptr_t)closed, 0);
	CU_ASSERT_EQUAL(fk.commits, 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fino(RESERVED));
	CU_ASSERT_EQUAL(fino(RESERVED)->size, sizeof(data));
	/* Committed: its next placement is an ordinary one. */
	CU_ASSERT_EQUAL(wfs_file_open(c, &cred, RESERVED, O_WRONLY, NULL, &f),
			0);
	CU_ASSERT_EQUAL(wfs_file_write(f, data, sizeof(data), 10),
			(ssize_t)sizeof(data));
	CU_ASSERT_EQUAL(wfs_file_close(f), 0);
	CU_ASSERT_EQUAL(fk.place_parent, 0);
	CU_ASSERT_EQUAL(fino(RESERVED)->size, sizeof(data) + 10);
	wfs_client_free(c);
}

/* Creates that must be decided by the node: no lease, a name not proven
 * absent (or only before the grant), a recalled lease, a client without
 * early creates. */
static void test_create_sync_cases(void)
{
	struct wfs_client *c;
	struct wfs_attr a;

	/* Another session has the lease. */
	fake_clear();
	fk.lease_refuse = true;
	c = lease_client(false);
	CU_ASSERT_EQUAL(create_as(c, &cred, "first", O_EXCL, &a), 0);
	for (unsigned i = 0; i < 5000 && lstats(c).refused == 0; i++)
		usleep(1000);
	CU_ASSERT_EQUAL(lstats(c).refused, 1);
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "a", &a), -ENOENT);
	CU_ASSERT_EQUAL(create_as(c, &cred, "a", O_EXCL, &a), 0);
	CU_ASSERT(a.ino < RESERVED);
	CU_ASSERT_EQUAL(fk.creates, 2);
	wfs_client_free(c);

	/* Absent only before the grant, or never looked up. */
	fake_clear();
	c = lease_client(false);
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "before", &a),
			-ENOENT);
	take_lease(c, "first");
	CU_ASSERT_EQUAL(create_as(c, &cred, "before", O_EXCL, &a), 0);
	CU_ASSERT(a.ino < RESERVED);
	CU_ASSERT_EQUAL(create_as(c, &cred, "unasked", O_EXCL, &a), 0);
	CU_ASSERT(a.ino < RESERVED);
	CU_ASSERT_EQUAL(fk.create_items, 0);
	/* The same after a lookup under the lease: early. */
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "after", &a), -ENOENT);
	CU_ASSERT_EQUAL(create_as(c, &cred, "after", O_EXCL, &a), 0);
	CU_ASSERT_EQUAL(a.ino, RESERVED);
	/* A proof serves one create: the name is there now. */
	CU_ASSERT_EQUAL(create_as(c, &cred, "after", O_EXCL, &a), -EEXIST);
	CU_ASSERT_EQUAL(wfs_client_settle(c), 0);
	CU_ASSERT_EQUAL(fk.creates, 3);
	CU_ASSERT_EQUAL(fk.create_items, 1);
	wfs_client_free(c);

	/* Recalled at the grant: given back, never used. */
	fake_clear();
	fk.lease_recall = true;
	c = lease_client(false);
	CU_ASSERT_EQUAL(create_as(c, &cred, "first", O_EXCL, &a), 0);
	CU_ASSERT_TRUE(wait_until(lease_gone, c));
	CU_ASSERT_EQUAL(fk.lease_grants, 1);
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "r", &a), -ENOENT);
	CU_ASSERT_EQUAL(create_as(c, &cred, "r", O_EXCL, &a), 0);
	CU_ASSERT(a.ino < RESERVED);
	CU_ASSERT_EQUAL(fk.create_items, 0);
	wfs_client_free(c);

	/* A client that does not answer creates early asks for no lease. */
	c = client();
	CU_ASSERT_EQUAL(create_as(c, &cred, "first", O_EXCL, &a), 0);
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "s", &a), -ENOENT);
	CU_ASSERT_EQUAL(create_as(c, &cred, "s", O_EXCL, &a), 0);
	CU_ASSERT(a.ino < RESERVED);
	wfs_client_free(c);
	CU_ASSERT_EQUAL(fk.lease_asks, 0);
	CU_ASSERT_EQUAL(fk.reserve_calls, 0);
	CU_ASSERT_EQUAL(fk.creates, 2);
}

/* A lease recalled while creates are queued under it is given back once
 * they are applied, and the directory is not asked for again at once. */
static void test_recall_after_drain(void)
{
	struct wfs_client *c;
	struct wfs_attr a;
	pthread_t t;

	/* Another client waits: the CreateMany reply says so. */
	fake_clear();
	c = lease_client(false);
	take_lease(c, "first");
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "x", &a), -ENOENT);
	hold_creates(true);
	CU_ASSERT_EQUAL(create_as(c, &cred, "x", O_EXCL, &a), 0);
	CU_ASSERT_EQUAL(a.ino, RESERVED);
	pthread_mutex_lock(&fk.lock);
	fk.leases[0].waiter = true;
	pthread_mutex_unlock(&fk.lock);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, release_creates, NULL),
			      0);
	CU_ASSERT_EQUAL(wfs_client_settle(c), 0);
	pthread_join(t, NULL);
	CU_ASSERT_TRUE(wait_until(lease_gone, c));
	CU_ASSERT(event_at("c:x") >= 0);
	CU_ASSERT(event_at("c:x") < event_at("r:1"));
	CU_ASSERT_EQUAL(lstats(c).recalls, 1);
	/* Recalled: the next creates are the node's, and do not ask for the
	 * lease again while it cools down. */
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "y", &a), -ENOENT);
	CU_ASSERT_EQUAL(create_as(c, &cred, "y", O_EXCL, &a), 0);
	CU_ASSERT(a.ino < RESERVED);
	CU_ASSERT_EQUAL(lstats(c).cooling, 1);
	CU_ASSERT_EQUAL(lstats(c).held, 0);
	CU_ASSERT_EQUAL(fk.lease_grants, 1);
	wfs_client_free(c);

	/* Recalled while a create under it is still out: kept until that
	 * one is applied, but answers no create meanwhile. */
	fake_clear();
	c = lease_client(false);
	take_lease(c, "first");
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "x", &a), -ENOENT);
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "y", &a), -ENOENT);
	hold_creates(true);
	CU_ASSERT_EQUAL(create_as(c, &cred, "x", O_EXCL, &a), 0);
	CU_ASSERT_EQUAL(a.ino, RESERVED);
	wfs_leases_recall(c->leases, 1);
	CU_ASSERT_EQUAL(lstats(c).held, 1);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, release_creates, NULL),
			      0);
	CU_ASSERT_EQUAL(create_as(c, &cred, "y", O_EXCL, &a), 0);
	CU_ASSERT(a.ino < RESERVED);
	pthread_join(t, NULL);
	CU_ASSERT_TRUE(wait_until(lease_gone, c));
	CU_ASSERT(event_at("c:x") >= 0);
	CU_ASSERT(event_at("c:x") < event_at("r:1"));
	wfs_client_free(c);
}

/* A lease answers creates only while a call sent less than 1.5 s ago
 * found it ours: the CreateMany replies of a stream of creates keep it
 * so, while one create held at the node for longer does not. */
static void test_lease_confirmation(void)
{
	struct wfs_client *c;
	struct wfs_attr a;
	char name[16];

	fake_clear();
	c = lease_client(false);
	take_lease(c, "first");
	for (unsigned i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "s%u", i);
		CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, name, &a),
				-ENOENT);
		CU_ASSERT_EQUAL(create_as(c, &cred, name, O_EXCL, &a), 0);
		CU_ASSERT(a.ino >= RESERVED);
		CU_ASSERT_EQUAL(wfs_client_settle(c), 0);
		usleep(100 * 1000);
	}
	CU_ASSERT_EQUAL(fk.lease_grants, 1);
	CU_ASSERT_EQUAL(fk.create_items, 20);
	/* A create answered, and not yet sent (so the queue is not slow),
	 * keeps the lease but vouches for nothing. */
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "x", &a), -ENOENT);
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "y", &a), -ENOENT);
	CU_ASSERT_TRUE(wfs_leases_early(c->leases, &cred, 1, "x", 0644, 1,
					&a));
	usleep(1600 * 1000);
	CU_ASSERT_EQUAL(lstats(c).held, 1);
	CU_ASSERT_FALSE(wfs_leases_usable(c->leases, 1));
	CU_ASSERT_EQUAL(create_as(c, &cred, "y", O_EXCL, &a), 0);
	CU_ASSERT(a.ino < RESERVED);
	wfs_leases_applied(c->leases, 1, -ECANCELED, NULL);
	CU_ASSERT_TRUE(wait_until(lease_gone, c));
	wfs_client_free(c);
}

static void *lookup_z(void *arg)
{
	struct wfs_attr a;

	return (void *)(intptr_t)wfs_client_lookup(arg, &cred, 1, "z", &a);
}

static void *lookup_w(void *arg)
{
	struct wfs_attr a;

	return (void *)(intptr_t)wfs_client_lookup(arg, &cred, 1, "w", &a);
}

static bool lookup_arrived(struct wfs_client *c)
{
	(void)c;
	pthread_mutex_lock(&fk.lock);
	bool in = fk.lookups > 0;
	pthread_mutex_unlock(&fk.lock);
	return in;
}

/* A lookup sent before the grant arrived proves nothing, even if its
 * answer comes after: another client may have made the name in between;
 * nor does one that was out while this client made the name. */
static void test_lookup_across_grant(void)
{
	struct wfs_client *c;
	struct wfs_attr a;
	pthread_t t;
	void *rc;

	fake_clear();
	c = lease_client(false);
	fk.hold_lookups = true;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, lookup_z, c), 0);
	CU_ASSERT_TRUE(wait_until(lookup_arrived, c));
	take_lease(c, "first");
	pthread_mutex_lock(&fk.lock);
	fk.hold_lookups = false;
	pthread_cond_broadcast(&fk.unlink_cond);
	pthread_mutex_unlock(&fk.lock);
	pthread_join(t, &rc);
	CU_ASSERT_EQUAL((intptr_t)rc, -ENOENT);
	CU_ASSERT_EQUAL(create_as(c, &cred, "z", O_EXCL, &a), 0);
	CU_ASSERT(a.ino < RESERVED);
	CU_ASSERT_EQUAL(fk.create_items, 0);
	/* Likewise one answered "absent" before this client made the name
	 * and arriving after. */
	fk.lookups = 0;
	fk.hold_lookups = true;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, lookup_w, c), 0);
	CU_ASSERT_TRUE(wait_until(lookup_arrived, c));
	CU_ASSERT_EQUAL(create_as(c, &cred, "w", O_EXCL, &a), 0);
	pthread_mutex_lock(&fk.lock);
	fk.hold_lookups = false;
	pthread_cond_broadcast(&fk.unlink_cond);
	pthread_mutex_unlock(&fk.lock);
	pthread_join(t, &rc);
	CU_ASSERT_EQUAL((intptr_t)rc, -ENOENT);
	CU_ASSERT_EQUAL(create_as(c, &cred, "w", O_EXCL, &a), -EEXIST);
	CU_ASSERT_EQUAL(fk.create_items, 0);
	wfs_client_free(c);
}

/* Directory 1's lease goes to another session (@on) or back to none. */
static void foreign_lease(bool on)
{
	struct flease *l;

	pthread_mutex_lock(&fk.lock);
	l = flease(1, true);
	if (l)
		l->holder = on ? 42 : 0;
	pthread_mutex_unlock(&fk.lock);
}

static void *foreign_lease_ends(void *arg)
{
	(void)arg;
	usleep(300 * 1000);
	foreign_lease(false);
	return NULL;
}

/* Creates and unlinks another session's lease holds off (the node says
 * EAGAIN for the item: this client's lease was lost, or it has none) are
 * sent again until they go through; a lease of this client there counts
 * as recalled. */
static void test_held_off_resent(void)
{
	struct wfs_client *c;
	struct wfs_attr a;
	pthread_t t;

	fake_clear();
	fake_add_name("old");
	c = lease_client(false);
	take_lease(c, "first");
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "x", &a), -ENOENT);
	hold_creates(true);
	CU_ASSERT_EQUAL(create_as(c, &cred, "x", O_EXCL, &a), 0);
	CU_ASSERT_EQUAL(a.ino, RESERVED);
	/* Revoked and granted to another session meanwhile. */
	foreign_lease(true);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, foreign_lease_ends,
					     NULL), 0);
	hold_creates(false);
	CU_ASSERT_EQUAL(wfs_client_settle(c), 0);
	pthread_join(t, NULL);
	CU_ASSERT_TRUE(fake_has("x"));
	CU_ASSERT(fk.create_calls >= 2);
	CU_ASSERT_EQUAL(lstats(c).recalls, 1);
	/* An unlink likewise. */
	foreign_lease(true);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, foreign_lease_ends,
					     NULL), 0);
	CU_ASSERT_EQUAL(wfs_client_unlink_behind(c, &cred, 1, "old", NULL,
						 NULL), 0);
	CU_ASSERT_EQUAL(wfs_client_settle(c), 0);
	pthread_join(t, NULL);
	CU_ASSERT_FALSE(fake_has("old"));
	CU_ASSERT(fk.unlink_calls >= 2);
	wfs_client_free(c);
}

/* An early create the node refuses fails the next settle, once; its inode
 * never comes to be. */
static void test_early_create_fails(void)
{
	struct wfs_client *c;
	struct wfs_file *f = NULL;
	struct wfs_attr a, b;
	bool created;

	fake_clear();
	c = lease_client(false);
	take_lease(c, "first");
	snprintf(fk.fail_name, sizeof(fk.fail_name), "bad");
	fk.fail_errno = -ENOSPC;
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "bad", &a), -ENOENT);
	CU_ASSERT_EQUAL(create_as(c, &cred, "bad", O_EXCL, &a), 0);
	CU_ASSERT_EQUAL(a.ino, RESERVED);
	CU_ASSERT_EQUAL(wfs_client_settle(c), -EIO);
	CU_ASSERT_EQUAL(wfs_client_settle(c), 0);
	CU_ASSERT_EQUAL(wfs_client_getattr(c, &cred, a.ino, &b), -ENOENT);
	CU_ASSERT_FALSE(fake_has("bad"));
	/* The next creates there are the node's: it says why now. */
	CU_ASSERT_EQUAL(lstats(c).recalls, 1);
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "fine", &a), -ENOENT);
	CU_ASSERT_EQUAL(create_as(c, &cred, "fine", O_EXCL, &a), 0);
	CU_ASSERT(a.ino < RESERVED);
	wfs_client_free(c);

	/* The fsync of a file made early reports it too. */
	fake_clear();
	c = lease_client(false);
	take_lease(c, "first");
	snprintf(fk.fail_name, sizeof(fk.fail_name), "bad");
	fk.fail_errno = -ENOSPC;
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "bad", &a), -ENOENT);
	CU_ASSERT_EQUAL(wfs_file_create(c, &cred, 1, "bad", 0644,
					O_CREAT | O_RDWR, &a, &created, &f),
			0);
	CU_ASSERT_EQUAL(a.ino, RESERVED);
	CU_ASSERT_EQUAL(wfs_file_fsync(f, false), -EIO);
	CU_ASSERT_EQUAL(wfs_file_close(f), 0);
	CU_ASSERT_EQUAL(wfs_client_settle(c), 0);
	wfs_client_free(c);
}

/* An unlink of a name just made early goes out once the create is
 * applied (the node holds the create; an unlink sent meanwhile would find
 * no such name). */
static void test_unlink_after_create(void)
{
	struct wfs_client *c;
	struct wfs_attr a;
	pthread_t t;

	fake_clear();
	c = lease_client(false);
	take_lease(c, "first");
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "x", &a), -ENOENT);
	hold_creates(true);
	CU_ASSERT_EQUAL(create_as(c, &cred, "x", O_EXCL, &a), 0);
	CU_ASSERT_EQUAL(a.ino, RESERVED);
	CU_ASSERT_EQUAL(wfs_client_unlink_behind(c, &cred, 1, "x", NULL,
						 NULL), 0);
	/* A call's worth waits: a second worker starts, and must not send
	 * them either. */
	for (unsigned i = 0; i < 40; i++) {
		char name[16];

		snprintf(name, sizeof(name), "v%u", i);
		CU_ASSERT_EQUAL(wfs_client_unlink_behind(c, &cred, 1, name,
							 NULL, NULL), 0);
	}
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, release_creates, NULL),
			      0);
	CU_ASSERT_EQUAL(wfs_client_settle(c), 0);
	pthread_join(t, NULL);
	CU_ASSERT(event_at("c:x") >= 0);
	CU_ASSERT(event_at("c:x") < event_at("u>x"));
	CU_ASSERT(event_at("c:x") < event_at("u>v39"));
	CU_ASSERT(event_at("u:x") >= 0);
	CU_ASSERT_FALSE(fake_has("x"));
	wfs_client_free(c);
}

/* Unlinks and creates queued in turn go out in turn: each batch only
 * once the one of the other kind before it was applied. */
static void test_creates_unlinks_order(void)
{
	struct wfs_client *c;
	struct wfs_attr a;
	pthread_t t;

	fake_clear();
	fake_add_name("u1");
	fake_add_name("u2");
	c = lease_client(false);
	take_lease(c, "first");
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "c1", &a), -ENOENT);
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "c2", &a), -ENOENT);
	hold_unlinks(true);
	CU_ASSERT_EQUAL(wfs_client_unlink_behind(c, &cred, 1, "u1", NULL,
						 NULL), 0);
	CU_ASSERT_EQUAL(create_as(c, &cred, "c1", O_EXCL, &a), 0);
	CU_ASSERT(a.ino >= RESERVED);
	CU_ASSERT_EQUAL(wfs_client_unlink_behind(c, &cred, 1, "u2", NULL,
						 NULL), 0);
	CU_ASSERT_EQUAL(create_as(c, &cred, "c2", O_EXCL, &a), 0);
	CU_ASSERT(a.ino >= RESERVED);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, release_unlinks, NULL),
			      0);
	CU_ASSERT_EQUAL(wfs_client_settle(c), 0);
	pthread_join(t, NULL);
	CU_ASSERT(event_at("u:u1") >= 0);
	CU_ASSERT(event_at("u:u1") < event_at("c>c1"));
	CU_ASSERT(event_at("c:c1") < event_at("u>u2"));
	CU_ASSERT(event_at("u:u2") < event_at("c>c2"));
	CU_ASSERT(event_at("c:c2") >= 0);
	wfs_client_free(c);
}

/* A lease no create uses goes back on its own. */
static void test_idle_lease_released(void)
{
	struct wfs_client *c;
	struct wfs_attr a;

	fake_clear();
	c = lease_client(false);
	take_lease(c, "first");
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "x", &a), -ENOENT);
	CU_ASSERT_EQUAL(create_as(c, &cred, "x", O_EXCL, &a), 0);
	CU_ASSERT_EQUAL(a.ino, RESERVED);
	CU_ASSERT_TRUE(wait_until(lease_gone, c));
	CU_ASSERT_EQUAL(lstats(c).held, 0);
	CU_ASSERT_EQUAL(lstats(c).cooling, 0);
	CU_ASSERT_TRUE(fake_has("x"));
	CU_ASSERT(event_at("c:x") < event_at("r:1"));
	wfs_client_free(c);
	CU_ASSERT_EQUAL(fk.lease_releases, 1);
}

/* A list of names read after the grant proves a name absent; one read
 * before it does not (another client may have added the name just
 * before). */
static void test_dirnames_proof(void)
{
	struct wfs_client *c;
	struct wfs_attr a;
	unsigned lookups;

	/* The list is read again after the grant. */
	fake_clear();
	fake_add_name("old");
	c = lease_client(true);
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "m1", &a), -ENOENT);
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "m2", &a), -ENOENT);
	CU_ASSERT_EQUAL(fk.readdirs, 1);
	fake_add_name("late");
	take_lease(c, "first");
	CU_ASSERT_EQUAL(lstats(c).relists, 1);
	lookups = fk.lookups;
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "n1", &a), -ENOENT);
	CU_ASSERT_EQUAL(fk.lookups, lookups);
	CU_ASSERT_EQUAL(create_as(c, &cred, "n1", O_EXCL, &a), 0);
	CU_ASSERT_EQUAL(a.ino, RESERVED);
	CU_ASSERT_EQUAL(create_as(c, &cred, "late", O_EXCL, &a), -EEXIST);
	/* Made here: on the list at once, so not absent. */
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "n1", &a), 0);
	CU_ASSERT_EQUAL(a.ino, RESERVED);
	CU_ASSERT_EQUAL(wfs_client_settle(c), 0);
	wfs_client_free(c);

	/* The list cannot be read after the grant: the old one proves
	 * nothing. */
	fake_clear();
	fake_add_name("old");
	c = lease_client(true);
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "m1", &a), -ENOENT);
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "m2", &a), -ENOENT);
	fake_add_name("late");
	fk.fail_readdir = true;
	take_lease(c, "first");
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "late", &a), -ENOENT);
	CU_ASSERT_EQUAL(create_as(c, &cred, "late", O_EXCL, &a), -EEXIST);
	CU_ASSERT_EQUAL(create_as(c, &cred, "n0", O_EXCL, &a), 0);
	CU_ASSERT(a.ino < RESERVED);
	CU_ASSERT_EQUAL(fk.create_items, 0);
	wfs_client_free(c);
}

static bool three_reserves(struct wfs_client *c)
{
	(void)c;
	return lstats(c).reserves >= 3;
}

/* Inode numbers come in ranges, the next asked for before the pool runs
 * out; none is used twice. */
static void test_ino_pool(void)
{
	uint64_t seen[24];
	struct wfs_client *c;
	struct wfs_attr a;
	char name[16];

	fake_clear();
	fk.reserve_max = 8;
	c = lease_client(false);
	take_lease(c, "first");
	for (unsigned i = 0; i < 200 && lstats(c).inos < 16; i++)
		usleep(1000);
	CU_ASSERT_EQUAL(lstats(c).inos, 16);
	for (unsigned i = 0; i < 24; i++) {
		snprintf(name, sizeof(name), "p%u", i);
		CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, name, &a),
				-ENOENT);
		CU_ASSERT_EQUAL(create_as(c, &cred, name, O_EXCL, &a), 0);
		seen[i] = a.ino;
		for (unsigned j = 0; j < i; j++)
			CU_ASSERT_NOT_EQUAL(seen[j], a.ino);
		if (i < 16)
			CU_ASSERT_EQUAL(a.ino, RESERVED + i);
	}
	CU_ASSERT_TRUE(wait_until(three_reserves, c));
	CU_ASSERT_EQUAL(wfs_client_settle(c), 0);
	wfs_client_free(c);
}

/* Without the node's word on a new file's policy there (the lease came
 * after an open of an existing file), creates are the node's until one
 * gives it. */
static void test_template_needed(void)
{
	struct wfs_client *c;
	struct wfs_file *f = NULL;
	struct wfs_attr a;
	bool created = true;

	fake_clear();
	fake_add_name("exists");
	c = lease_client(false);
	CU_ASSERT_EQUAL(wfs_file_create(c, &cred, 1, "exists", 0644,
					O_CREAT | O_RDWR, &a, &created, &f),
			0);
	CU_ASSERT_FALSE(created);
	CU_ASSERT_EQUAL(wfs_file_close(f), 0);
	CU_ASSERT_TRUE(wait_until(lease_ready, c));
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "y", &a), -ENOENT);
	CU_ASSERT_EQUAL(create_as(c, &cred, "y", O_EXCL, &a), 0);
	CU_ASSERT(a.ino < RESERVED);
	CU_ASSERT_EQUAL(wfs_client_lookup(c, &cred, 1, "z", &a), -ENOENT);
	CU_ASSERT_EQUAL(create_as(c, &cred, "z", O_EXCL, &a), 0);
	CU_ASSERT_EQUAL(a.ino, RESERVED);
	wfs_client_free(c);
}

/* Another client's create in a leased directory waits until the lease is
 * given back, then goes through. */
static void test_other_client_waits(void)
{
	struct wfs_client *c, *c2;
	struct wfs_attr a;

	fake_clear();
	c = lease_client(false);
	take_lease(c, "first");
	c2 = lease_client(false);
	CU_ASSERT_EQUAL(create_as(c2, &cred, "other", O_EXCL, &a), 0);
	CU_ASSERT(event_at("r:1") >= 0);
	CU_ASSERT(event_at("r:1") < event_at("c:other"));
	wfs_client_free(c2);
	wfs_client_free(c);
}

static CU_TestInfo file_tests[] = {
	{ "sequential write, EC stripes and a replica tail",
	  test_sequential },
	{ "small file and fsync'ed appends", test_small_and_append },
	{ "a small file's bytes come with its open", test_first_copy },
	{ "partial overwrite (read-modify-write)", test_overwrite_rmw },
	{ "truncate, extend, holes, O_TRUNC", test_truncate_and_holes },
	{ "handles of one inode share buffers", test_shared_buffers },
	{ "offsets past 4 GiB", test_large_offsets },
	{ "lost and corrupt chunks", test_lost_chunks },
	{ "write failures", test_write_failures },
	{ "a tail longer than a chunk is a replica", test_long_tail_replica },
	{ "a short stripe grown by another client", test_stale_short_stripe },
	{ "stripe changed by another client", test_stale_stripe },
	{ "a stripe truncated by another client",
	  test_stripe_truncated_by_another },
	{ "metadata retries", test_retries },
	{ "lookups of absent names answered from a list",
	  test_dirnames },
	{ "unlinks queued together go in few calls", test_unlinks_batched },
	{ "a lookup waits only for the unlinks that matter to it",
	  test_lookup_beside_unlinks },
	{ "every call names the client's session", test_session },
	{ "a create under a lease is answered before it is applied",
	  test_create_early },
	{ "a file made early holds data", test_early_file_data },
	{ "a file made early is placed before its create applies",
	  test_early_file_placed_at_once },
	{ "creates the node must decide are synchronous",
	  test_create_sync_cases },
	{ "a recalled lease goes back once its creates are applied",
	  test_recall_after_drain },
	{ "a lease is used only while calls confirm it",
	  test_lease_confirmation },
	{ "a lookup sent before the grant proves nothing",
	  test_lookup_across_grant },
	{ "creates and unlinks held off by a lease are sent again",
	  test_held_off_resent },
	{ "an early create that fails fails the next settle",
	  test_early_create_fails },
	{ "an unlink of a name made early follows its create",
	  test_unlink_after_create },
	{ "creates and unlinks keep their order", test_creates_unlinks_order },
	{ "an idle lease goes back", test_idle_lease_released },
	{ "a list of names proves absence only when read under the lease",
	  test_dirnames_proof },
	{ "inode numbers are reserved in ranges", test_ino_pool },
	{ "an early create needs the node's policy of the directory",
	  test_template_needed },
	{ "another client's create waits for the lease",
	  test_other_client_waits },
	{ "client arguments", test_client_args },
	CU_TEST_INFO_NULL,
};
WFS_TEST_SUITE("client_file", file_tests, suite_init, suite_cleanup)
