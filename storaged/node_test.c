/* In-process tests of a whole node: start one on 127.0.0.1 (an ephemeral
 * API port, a free raft port) over three disk directories in a scratch
 * folder, and call its Meta, Chunk and Admin services over rpc: names,
 * paginated listings, rename and purge, xattrs, locks, stripes written,
 * committed, read and collected, malformed and oversized requests, and a
 * restart that keeps what was acknowledged. */
#include "storaged/node.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <limits.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "erasure/crc32c.h"
#include "mem/mem.h"
#include "placement/place.h"
#include "proto/wormfs.pb-c.h"
#include "rpc/rpc.h"
#include "storaged/disk.h"
#include "storaged/gc.h"
#include "storaged/node_internal.h"
#include "tests/unit.h"

#define TIMEOUT_MS 20000
#define M(x) "/wormfs.Meta/" x

struct tnode {
	char dir[256];
	char data[300];
	char disk[4][300];
	char *paths[4];
	unsigned snapshot_threshold;
	struct wfs_config cfg;
	struct wfs_node *n;
	struct wfs_rpc_client *c;
};

static struct tnode shared;
static Wormfs__Caller caller = WORMFS__CALLER__INIT;

/* A loopback port nothing listens on now. */
static int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static int tnode_make(struct tnode *t, unsigned ndisks)
{
	char base[256];

	memset(t, 0, sizeof(*t));
	if (wfs_test_mkdtemp(base, sizeof(base)) != 0)
		return -1;
	memcpy(t->dir, base, sizeof(base));
	snprintf(t->data, sizeof(t->data), "%s/data", base);
	if (mkdir(t->data, 0700) != 0)
		return -1;
	for (unsigned i = 0; i < ndisks; i++) {
		snprintf(t->disk[i], sizeof(t->disk[i]), "%s/d%u", base, i);
		if (mkdir(t->disk[i], 0700) != 0)
			return -1;
		t->paths[i] = t->disk[i];
	}
	t->cfg.node.name = "node-1";
	t->cfg.node.data_dir = t->data;
	t->cfg.listen.api = (struct wfs_config_addr){ "127.0.0.1", 0,
						      AF_INET };
	t->cfg.listen.peer = (struct wfs_config_addr){ "127.0.0.1", 0,
						       AF_INET };
	t->cfg.listen.gossip = (struct wfs_config_addr){ "127.0.0.1", 0,
						       AF_INET };
	t->cfg.disks.paths = t->paths;
	t->cfg.disks.count = ndisks;
	t->cfg.metadata.voter = true;
	t->cfg.metadata.voters = 1;
	t->cfg.policy.k = 2;
	t->cfg.policy.m = 1;
	t->cfg.policy.chunk_size = 4096;
	t->cfg.policy.write_quorum = 3;
	return 0;
}

static int tnode_start(struct tnode *t)
{
	struct wfs_node_opts o = {
		.rpc_threads = 4, .disk_refresh_ms = 200,
		.gc_interval_ms = 3600000,
		.snapshot_threshold = t->snapshot_threshold,
	};
	char addr[64];
	int port = free_port(), rc;

	if (port <= 0)
		return -1;
	t->cfg.listen.peer.port = (uint16_t)port;
	rc = wfs_node_start(&t->cfg, &o, &t->n);
	if (rc == 0)
		rc = wfs_node_wait_ready(t->n, TIMEOUT_MS);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d",
		 rc == 0 ? wfs_node_api_port(t->n) : 1);
	if (rc == 0)
		rc = wfs_rpc_client_new(addr, &t->c);
	return rc;
}

static void tnode_stop(struct tnode *t)
{
	wfs_rpc_client_free(t->c);
	t->c = NULL;
	wfs_node_stop(t->n);
	t->n = NULL;
}

static int suite_init(void)
{
	caller.uid = 1000;
	caller.gid = 100;
	caller.umask = 022;
	if (tnode_make(&shared, 3) != 0)
		return -1;
	return tnode_start(&shared) == 0 ? 0 : -1;
}

static int suite_cleanup(void)
{
	tnode_stop(&shared);
	return 0;
}

/* ---- call helpers ---- */

static int call(struct tnode *t, const char *method,
		const ProtobufCMessage *req,
		const ProtobufCMessageDescriptor *desc, void *resp)
{
	return wfs_rpc_call_msg(t->c, method, req, desc, TIMEOUT_MS,
				(ProtobufCMessage **)resp);
}

static ProtobufCBinaryData bin(const char *s)
{
	return (ProtobufCBinaryData){ strlen(s), (uint8_t *)s };
}

static int do_create(struct tnode *t, uint64_t parent, const char *name,
		     uint32_t flags, uint64_t *ino, bool *created)
{
	Wormfs__CreateRequest r = WORMFS__CREATE_REQUEST__INIT;
	Wormfs__CreateReply *rep;
	int rc;

	r.caller = &caller;
	r.parent = parent;
	r.name = bin(name);
	r.mode = 0666;
	r.flags = flags;
	rc = call(t, M("Create"), &r.base, &wormfs__create_reply__descriptor,
		  &rep);
	if (rc)
		return rc;
	if (ino)
		*ino = rep->attr->ino;
	if (created)
		*created = rep->created;
	wfs_rpc_msg_free(&rep->base);
	return 0;
}

static int do_mkdir(struct tnode *t, uint64_t parent, const char *name,
		    uint64_t *ino)
{
	Wormfs__MkdirRequest r = WORMFS__MKDIR_REQUEST__INIT;
	Wormfs__EntryReply *rep;
	int rc;

	r.caller = &caller;
	r.parent = parent;
	r.name = bin(name);
	r.mode = 0777;
	rc = call(t, M("Mkdir"), &r.base, &wormfs__entry_reply__descriptor,
		  &rep);
	if (rc)
		return rc;
	*ino = rep->attr->ino;
	CU_ASSERT_EQUAL(rep->attr->mode, S_IFDIR | 0755);	/* umask */
	CU_ASSERT_EQUAL(rep->attr->uid, 1000);
	wfs_rpc_msg_free(&rep->base);
	return 0;
}

static int do_lookup(struct tnode *t, uint64_t parent, const char *name,
		     Wormfs__Attr *out)
{
	Wormfs__LookupRequest r = WORMFS__LOOKUP_REQUEST__INIT;
	Wormfs__EntryReply *rep;
	int rc;

	r.caller = &caller;
	r.parent = parent;
	r.name = bin(name);
	rc = call(t, M("Lookup"), &r.base, &wormfs__entry_reply__descriptor,
		  &rep);
	if (rc)
		return rc;
	if (out)
		*out = *rep->attr;
	wfs_rpc_msg_free(&rep->base);
	return 0;
}

static int do_getattr(struct tnode *t, uint64_t ino, Wormfs__Attr *out)
{
	Wormfs__GetAttrRequest r = WORMFS__GET_ATTR_REQUEST__INIT;
	Wormfs__AttrReply *rep;
	int rc;

	r.ino = ino;
	rc = call(t, M("GetAttr"), &r.base, &wormfs__attr_reply__descriptor,
		  &rep);
	if (rc)
		return rc;
	if (out)
		*out = *rep->attr;
	wfs_rpc_msg_free(&rep->base);
	return 0;
}

/* ---- names ---- */

static void test_create_lookup(void)
{
	struct tnode *t = &shared;
	uint64_t ino, again;
	Wormfs__Attr a;
	bool created;

	CU_ASSERT_EQUAL_FATAL(do_create(t, 1, "f1", O_CREAT, &ino, &created),
			      0);
	CU_ASSERT(created);
	CU_ASSERT_EQUAL(do_lookup(t, 1, "f1", &a), 0);
	CU_ASSERT_EQUAL(a.ino, ino);
	CU_ASSERT_EQUAL(a.mode, S_IFREG | 0644);
	CU_ASSERT_EQUAL(a.blksize, 2 * 4096);	/* the stripe span */
	/* Without O_EXCL an existing file is opened. */
	CU_ASSERT_EQUAL(do_create(t, 1, "f1", O_CREAT, &again, &created), 0);
	CU_ASSERT(!created);
	CU_ASSERT_EQUAL(again, ino);
	CU_ASSERT_EQUAL(do_create(t, 1, "f1", O_CREAT | O_EXCL, NULL, NULL),
			-EEXIST);
	CU_ASSERT_EQUAL(do_create(t, 1, "f1", O_CREAT | O_TRUNC, &again,
				  &created), 0);
	CU_ASSERT_EQUAL(again, ino);
	CU_ASSERT_EQUAL(do_getattr(t, ino, &a), 0);
	CU_ASSERT_EQUAL(a.size, 0);
	CU_ASSERT_EQUAL(do_lookup(t, 1, "nope", NULL), -ENOENT);
	CU_ASSERT_EQUAL(do_getattr(t, 999999, NULL), -ENOENT);
	CU_ASSERT_EQUAL(do_getattr(t, 1, &a), 0);
	CU_ASSERT_EQUAL(a.mode, S_IFDIR | 0755);
	/* A directory in the way of Create. */
	CU_ASSERT_EQUAL(do_mkdir(t, 1, "cd", &again), 0);
	CU_ASSERT_EQUAL(do_create(t, 1, "cd", O_CREAT, NULL, NULL), -EISDIR);
}

static void test_readdir_pages(void)
{
	Wormfs__ReadDirRequest r = WORMFS__READ_DIR_REQUEST__INIT;
	struct tnode *t = &shared;
	Wormfs__ReadDirReply *bad;
	char name[32], seen[60] = { 0 };
	uint64_t dir, cookie = 0;
	int total = 0, pages = 0;
	bool eof = false;

	CU_ASSERT_EQUAL_FATAL(do_mkdir(t, 1, "list", &dir), 0);
	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "e%02d", i);
		CU_ASSERT_EQUAL_FATAL(do_create(t, dir, name, O_CREAT, NULL,
						NULL), 0);
	}
	r.ino = dir;
	r.limit = 7;
	r.plus = true;
	while (!eof && pages < 20) {
		Wormfs__ReadDirReply *rep;

		r.cookie = cookie;
		CU_ASSERT_EQUAL_FATAL(call(t, M("ReadDir"), &r.base,
					   &wormfs__read_dir_reply__descriptor,
					   &rep), 0);
		CU_ASSERT(rep->n_entries <= 7);
		for (size_t i = 0; i < rep->n_entries; i++) {
			Wormfs__DirEntry *e = rep->entries[i];
			char nm[8] = { 0 };
			int k;

			memcpy(nm, e->name.data,
			       e->name.len < 7 ? e->name.len : 7);
			k = atoi(nm + 1);

			CU_ASSERT(k >= 0 && k < 50);
			seen[k]++;
			CU_ASSERT_PTR_NOT_NULL(e->attr);
			if (e->attr)
				CU_ASSERT_EQUAL(e->attr->ino, e->ino);
			cookie = e->cookie;
			total++;
		}
		eof = rep->eof;
		pages++;
		wfs_rpc_msg_free(&rep->base);
	}
	CU_ASSERT(eof);
	CU_ASSERT_EQUAL(total, 50);
	CU_ASSERT_EQUAL(pages, 8);
	for (int i = 0; i < 50; i++)
		CU_ASSERT_EQUAL(seen[i], 1);
	/* ReadDir of an inode that does not exist. */
	r.ino = 999999;
	r.cookie = 0;
	CU_ASSERT_EQUAL(call(t, M("ReadDir"), &r.base,
			     &wormfs__read_dir_reply__descriptor, &bad),
			-ENOENT);
}

static int do_rename(struct tnode *t, uint64_t p, const char *a, uint64_t np,
		     const char *b, uint32_t flags, Wormfs__RenameReply *out)
{
	Wormfs__RenameRequest r = WORMFS__RENAME_REQUEST__INIT;
	Wormfs__RenameReply *rep;
	int rc;

	r.caller = &caller;
	r.parent = p;
	r.name = bin(a);
	r.new_parent = np;
	r.new_name = bin(b);
	r.flags = flags;
	rc = call(t, M("Rename"), &r.base, &wormfs__rename_reply__descriptor,
		  &rep);
	if (rc)
		return rc;
	*out = *rep;
	wfs_rpc_msg_free(&rep->base);
	return 0;
}

static void test_rename_unlink_release(void)
{
	Wormfs__RemoveRequest rm = WORMFS__REMOVE_REQUEST__INIT;
	Wormfs__ReleaseRequest rel = WORMFS__RELEASE_REQUEST__INIT;
	Wormfs__RenameReply rr;
	Wormfs__RemoveReply *rmr;
	Wormfs__ReleaseReply *relr;
	struct tnode *t = &shared;
	uint64_t d, a, b, c;

	CU_ASSERT_EQUAL_FATAL(do_mkdir(t, 1, "rn", &d), 0);
	CU_ASSERT_EQUAL(do_create(t, d, "a", O_CREAT, &a, NULL), 0);
	CU_ASSERT_EQUAL(do_create(t, d, "b", O_CREAT, &b, NULL), 0);
	CU_ASSERT_EQUAL(do_create(t, d, "c", O_CREAT, &c, NULL), 0);
	CU_ASSERT_EQUAL(do_rename(t, d, "a", d, "b", 0, &rr), 0);
	CU_ASSERT_EQUAL(rr.ino, a);
	CU_ASSERT_EQUAL(rr.replaced_ino, b);
	CU_ASSERT_EQUAL(rr.replaced_nlink, 0);
	CU_ASSERT_EQUAL(do_lookup(t, d, "a", NULL), -ENOENT);
	CU_ASSERT_EQUAL(do_rename(t, d, "b", d, "c", 1, &rr), -EEXIST);
	CU_ASSERT_EQUAL(do_rename(t, d, "b", d, "c", 2, &rr), 0);
	CU_ASSERT_EQUAL(rr.replaced_ino, c);
	CU_ASSERT_EQUAL(do_rename(t, d, "b", d, "c", 4, &rr), -EINVAL);
	/* The replaced file is an orphan until released. */
	CU_ASSERT_EQUAL(do_getattr(t, b, NULL), 0);
	rel.ino = b;
	CU_ASSERT_EQUAL(call(t, M("Release"), &rel.base,
			     &wormfs__release_reply__descriptor, &relr), 0);
	CU_ASSERT(relr->purged);
	wfs_rpc_msg_free(&relr->base);
	CU_ASSERT_EQUAL(do_getattr(t, b, NULL), -ENOENT);
	/* Unlink replies with the inode and its links left. */
	rm.caller = &caller;
	rm.parent = d;
	rm.name = bin("c");
	CU_ASSERT_EQUAL(call(t, M("Unlink"), &rm.base,
			     &wormfs__remove_reply__descriptor, &rmr), 0);
	CU_ASSERT_EQUAL(rmr->ino, a);
	CU_ASSERT_EQUAL(rmr->nlink, 0);
	wfs_rpc_msg_free(&rmr->base);
	/* Release of a linked file purges nothing. */
	rel.ino = d;
	CU_ASSERT_EQUAL(call(t, M("Release"), &rel.base,
			     &wormfs__release_reply__descriptor, &relr), 0);
	CU_ASSERT(!relr->purged);
	wfs_rpc_msg_free(&relr->base);
	/* Rmdir: not empty, then empty, then gone. */
	rm.parent = 1;
	rm.name = bin("rn");
	CU_ASSERT_EQUAL(call(t, M("Rmdir"), &rm.base,
			     &wormfs__remove_reply__descriptor, &rmr),
			-ENOTEMPTY);
	rm.parent = d;
	rm.name = bin("b");
	CU_ASSERT_EQUAL(call(t, M("Unlink"), &rm.base,
			     &wormfs__remove_reply__descriptor, &rmr), 0);
	wfs_rpc_msg_free(&rmr->base);
	rm.parent = 1;
	rm.name = bin("rn");
	CU_ASSERT_EQUAL(call(t, M("Rmdir"), &rm.base,
			     &wormfs__remove_reply__descriptor, &rmr), 0);
	CU_ASSERT_EQUAL(rmr->ino, d);
	wfs_rpc_msg_free(&rmr->base);
	CU_ASSERT_EQUAL(call(t, M("Rmdir"), &rm.base,
			     &wormfs__remove_reply__descriptor, &rmr), -ENOENT);
}

static int do_unlink(struct tnode *t, uint64_t parent, const char *name,
		     bool purge, uint64_t *open_inos, size_t n_open,
		     Wormfs__RemoveReply **out)
{
	Wormfs__RemoveRequest rm = WORMFS__REMOVE_REQUEST__INIT;

	rm.caller = &caller;
	rm.parent = parent;
	rm.name = bin(name);
	rm.purge = purge;
	rm.open_inos = open_inos;
	rm.n_open_inos = n_open;
	return call(t, M("Unlink"), &rm.base,
		    &wormfs__remove_reply__descriptor, out);
}

/* A reply's parent_attr is the directory as GetAttr shows it now. */
static void check_parent(struct tnode *t, const Wormfs__Attr *pa,
			 uint64_t dir)
{
	Wormfs__Attr now;

	CU_ASSERT_PTR_NOT_NULL_FATAL(pa);
	CU_ASSERT_EQUAL_FATAL(do_getattr(t, dir, &now), 0);
	CU_ASSERT_EQUAL(pa->ino, dir);
	CU_ASSERT_EQUAL(pa->mode, now.mode);
	CU_ASSERT_EQUAL(pa->nlink, now.nlink);
	CU_ASSERT_EQUAL(pa->mtime_ns, now.mtime_ns);
	CU_ASSERT_EQUAL(pa->ctime_ns, now.ctime_ns);
	CU_ASSERT_EQUAL(pa->blksize, now.blksize);
}

/* Unlink asking to purge drops an inode its caller does not have open in
 * the same op (no Release needed); one listed as open stays an orphan.
 * Every namespace reply carries the directory it changed.  A lookup miss
 * is a reply when the caller asks for it so. */
static void test_unlink_purge_parent_attrs(void)
{
	Wormfs__ReleaseRequest rel = WORMFS__RELEASE_REQUEST__INIT;
	Wormfs__MknodRequest mk = WORMFS__MKNOD_REQUEST__INIT;
	Wormfs__CreateRequest cr = WORMFS__CREATE_REQUEST__INIT;
	Wormfs__EntryReply *er;
	Wormfs__CreateReply *crr;
	Wormfs__RemoveReply *rmr;
	Wormfs__ReleaseReply *relr;
	Wormfs__RenameReply rr;
	struct tnode *t = &shared;
	uint64_t d, d2, a, b, c, open[3];
	Wormfs__Attr attr;

	CU_ASSERT_EQUAL_FATAL(do_mkdir(t, 1, "pg", &d), 0);
	CU_ASSERT_EQUAL_FATAL(do_mkdir(t, 1, "pg2", &d2), 0);
	cr.caller = &caller;
	cr.parent = d;
	cr.name = bin("a");
	cr.mode = 0644;
	cr.flags = O_CREAT | O_EXCL;
	CU_ASSERT_EQUAL_FATAL(call(t, M("Create"), &cr.base,
				   &wormfs__create_reply__descriptor, &crr), 0);
	a = crr->attr->ino;
	CU_ASSERT(crr->created);
	check_parent(t, crr->parent_attr, d);
	wfs_rpc_msg_free(&crr->base);
	/* Create of an existing name (no O_EXCL) changed no directory. */
	cr.flags = O_CREAT;
	CU_ASSERT_EQUAL_FATAL(call(t, M("Create"), &cr.base,
				   &wormfs__create_reply__descriptor, &crr), 0);
	CU_ASSERT(!crr->created);
	CU_ASSERT_PTR_NULL(crr->parent_attr);
	wfs_rpc_msg_free(&crr->base);
	mk.caller = &caller;
	mk.parent = d;
	mk.name = bin("b");
	mk.mode = S_IFREG | 0644;
	CU_ASSERT_EQUAL_FATAL(call(t, M("Mknod"), &mk.base,
				   &wormfs__entry_reply__descriptor, &er), 0);
	b = er->attr->ino;
	check_parent(t, er->parent_attr, d);
	wfs_rpc_msg_free(&er->base);
	CU_ASSERT_EQUAL(do_create(t, d, "c", O_CREAT, &c, NULL), 0);
	/* Lookup replies carry no directory. */
	{
		Wormfs__LookupRequest lr = WORMFS__LOOKUP_REQUEST__INIT;

		lr.caller = &caller;
		lr.parent = d;
		lr.name = bin("b");
		CU_ASSERT_EQUAL_FATAL(call(t, M("Lookup"), &lr.base,
					   &wormfs__entry_reply__descriptor,
					   &er), 0);
		CU_ASSERT_EQUAL(er->attr->ino, b);
		CU_ASSERT_PTR_NULL(er->parent_attr);
		wfs_rpc_msg_free(&er->base);
		/* A miss: ENOENT, or a reply without attr when asked. */
		lr.name = bin("missing");
		CU_ASSERT_EQUAL(call(t, M("Lookup"), &lr.base,
				     &wormfs__entry_reply__descriptor, &er),
				-ENOENT);
		lr.absent_ok = true;
		CU_ASSERT_EQUAL_FATAL(call(t, M("Lookup"), &lr.base,
					   &wormfs__entry_reply__descriptor,
					   &er), 0);
		CU_ASSERT_PTR_NULL(er->attr);
		wfs_rpc_msg_free(&er->base);
		/* Other errors stay errors. */
		lr.name = bin("a/b");
		CU_ASSERT_EQUAL(call(t, M("Lookup"), &lr.base,
				     &wormfs__entry_reply__descriptor, &er),
				-EINVAL);
		lr.name = bin("b");
		CU_ASSERT_EQUAL_FATAL(call(t, M("Lookup"), &lr.base,
					   &wormfs__entry_reply__descriptor,
					   &er), 0);
		CU_ASSERT_PTR_NOT_NULL(er->attr);
		wfs_rpc_msg_free(&er->base);
	}

	/* Not open: purged with its name, so Release finds nothing. */
	open[0] = b;
	open[1] = c;
	CU_ASSERT_EQUAL_FATAL(do_unlink(t, d, "a", true, open, 2, &rmr), 0);
	CU_ASSERT_EQUAL(rmr->ino, a);
	CU_ASSERT_EQUAL(rmr->nlink, 0);
	CU_ASSERT(rmr->purged);
	check_parent(t, rmr->parent_attr, d);
	wfs_rpc_msg_free(&rmr->base);
	CU_ASSERT_EQUAL(do_getattr(t, a, NULL), -ENOENT);
	rel.caller = &caller;
	rel.ino = a;
	CU_ASSERT_EQUAL(call(t, M("Release"), &rel.base,
			     &wormfs__release_reply__descriptor, &relr), 0);
	CU_ASSERT(!relr->purged);
	wfs_rpc_msg_free(&relr->base);
	/* Open here: an orphan until released. */
	CU_ASSERT_EQUAL_FATAL(do_unlink(t, d, "b", true, open, 2, &rmr), 0);
	CU_ASSERT_EQUAL(rmr->ino, b);
	CU_ASSERT_EQUAL(rmr->nlink, 0);
	CU_ASSERT(!rmr->purged);
	wfs_rpc_msg_free(&rmr->base);
	CU_ASSERT_EQUAL(do_getattr(t, b, &attr), 0);
	CU_ASSERT_EQUAL(attr.nlink, 0);
	rel.ino = b;
	CU_ASSERT_EQUAL(call(t, M("Release"), &rel.base,
			     &wormfs__release_reply__descriptor, &relr), 0);
	CU_ASSERT(relr->purged);
	wfs_rpc_msg_free(&relr->base);
	CU_ASSERT_EQUAL(do_getattr(t, b, NULL), -ENOENT);
	/* Without purge: an orphan, whatever is open. */
	CU_ASSERT_EQUAL_FATAL(do_unlink(t, d, "c", false, NULL, 0, &rmr), 0);
	CU_ASSERT(!rmr->purged);
	wfs_rpc_msg_free(&rmr->base);
	CU_ASSERT_EQUAL(do_getattr(t, c, NULL), 0);
	rel.ino = c;
	CU_ASSERT_EQUAL(call(t, M("Release"), &rel.base,
			     &wormfs__release_reply__descriptor, &relr), 0);
	CU_ASSERT(relr->purged);
	wfs_rpc_msg_free(&relr->base);
	/* A hard-linked file keeps its other name. */
	CU_ASSERT_EQUAL(do_create(t, d, "h", O_CREAT, &a, NULL), 0);
	{
		Wormfs__LinkRequest lk = WORMFS__LINK_REQUEST__INIT;

		lk.caller = &caller;
		lk.ino = a;
		lk.new_parent = d2;
		lk.new_name = bin("h2");
		CU_ASSERT_EQUAL_FATAL(call(t, M("Link"), &lk.base,
					   &wormfs__entry_reply__descriptor,
					   &er), 0);
		check_parent(t, er->parent_attr, d2);
		wfs_rpc_msg_free(&er->base);
	}
	CU_ASSERT_EQUAL_FATAL(do_unlink(t, d, "h", true, NULL, 0, &rmr), 0);
	CU_ASSERT_EQUAL(rmr->nlink, 1);
	CU_ASSERT(!rmr->purged);
	wfs_rpc_msg_free(&rmr->base);
	CU_ASSERT_EQUAL(do_getattr(t, a, &attr), 0);
	/* Rename: both directories, the target one only when another. */
	CU_ASSERT_EQUAL(do_rename(t, d2, "h2", d, "h3", 0, &rr), 0);
	{
		Wormfs__RenameRequest rn = WORMFS__RENAME_REQUEST__INIT;
		Wormfs__RenameReply *rnr;

		rn.caller = &caller;
		rn.parent = d;
		rn.name = bin("h3");
		rn.new_parent = d2;
		rn.new_name = bin("h4");
		CU_ASSERT_EQUAL_FATAL(call(t, M("Rename"), &rn.base,
					   &wormfs__rename_reply__descriptor,
					   &rnr), 0);
		check_parent(t, rnr->parent_attr, d);
		check_parent(t, rnr->new_parent_attr, d2);
		wfs_rpc_msg_free(&rnr->base);
		rn.parent = d2;
		rn.name = bin("h4");
		rn.new_name = bin("h5");
		CU_ASSERT_EQUAL_FATAL(call(t, M("Rename"), &rn.base,
					   &wormfs__rename_reply__descriptor,
					   &rnr), 0);
		check_parent(t, rnr->parent_attr, d2);
		CU_ASSERT_PTR_NULL(rnr->new_parent_attr);
		wfs_rpc_msg_free(&rnr->base);
	}
	/* Too many open inodes listed: refused. */
	{
		uint64_t *many = wfs_calloc(1025, sizeof(*many));

		CU_ASSERT_PTR_NOT_NULL_FATAL(many);
		CU_ASSERT_EQUAL(do_unlink(t, d2, "h5", true, many, 1025,
					  &rmr), -EINVAL);
		wfs_free(many);
	}
	CU_ASSERT_EQUAL_FATAL(do_unlink(t, d2, "h5", true, NULL, 0, &rmr), 0);
	CU_ASSERT(rmr->purged);
	check_parent(t, rmr->parent_attr, d2);
	wfs_rpc_msg_free(&rmr->base);
	CU_ASSERT_EQUAL(do_getattr(t, a, NULL), -ENOENT);
	/* Rmdir: the parent, with one link fewer. */
	{
		Wormfs__RemoveRequest rm = WORMFS__REMOVE_REQUEST__INIT;

		rm.caller = &caller;
		rm.parent = 1;
		rm.name = bin("pg2");
		CU_ASSERT_EQUAL_FATAL(call(t, M("Rmdir"), &rm.base,
					   &wormfs__remove_reply__descriptor,
					   &rmr), 0);
		check_parent(t, rmr->parent_attr, 1);
		CU_ASSERT(!rmr->purged);
		wfs_rpc_msg_free(&rmr->base);
	}
}

static void test_links_xattrs_attrs(void)
{
	Wormfs__SymlinkRequest sl = WORMFS__SYMLINK_REQUEST__INIT;
	Wormfs__ReadlinkRequest rl = WORMFS__READLINK_REQUEST__INIT;
	Wormfs__LinkRequest ln = WORMFS__LINK_REQUEST__INIT;
	Wormfs__SetXattrRequest sx = WORMFS__SET_XATTR_REQUEST__INIT;
	Wormfs__GetXattrRequest gx = WORMFS__GET_XATTR_REQUEST__INIT;
	Wormfs__ListXattrRequest lx = WORMFS__LIST_XATTR_REQUEST__INIT;
	Wormfs__RemoveXattrRequest rx = WORMFS__REMOVE_XATTR_REQUEST__INIT;
	Wormfs__SetAttrRequest sa = WORMFS__SET_ATTR_REQUEST__INIT;
	Wormfs__StatfsRequest sf = WORMFS__STATFS_REQUEST__INIT;
	struct tnode *t = &shared;
	Wormfs__EntryReply *er;
	Wormfs__ReadlinkReply *rlr;
	Wormfs__GetXattrReply *gxr;
	Wormfs__ListXattrReply *lxr;
	Wormfs__AttrReply *ar;
	Wormfs__StatfsReply *sfr;
	Wormfs__SetXattrReply *sxr;
	uint64_t f;

	CU_ASSERT_EQUAL_FATAL(do_create(t, 1, "lx", O_CREAT, &f, NULL), 0);
	sl.caller = &caller;
	sl.parent = 1;
	sl.name = bin("sym");
	sl.target = bin("lx");
	CU_ASSERT_EQUAL_FATAL(call(t, M("Symlink"), &sl.base,
				   &wormfs__entry_reply__descriptor, &er), 0);
	rl.ino = er->attr->ino;
	wfs_rpc_msg_free(&er->base);
	CU_ASSERT_EQUAL_FATAL(call(t, M("Readlink"), &rl.base,
				   &wormfs__readlink_reply__descriptor, &rlr),
			      0);
	CU_ASSERT_EQUAL(rlr->target.len, 2);
	CU_ASSERT_EQUAL(memcmp(rlr->target.data, "lx", 2), 0);
	wfs_rpc_msg_free(&rlr->base);
	ln.ino = f;
	ln.new_parent = 1;
	ln.new_name = bin("lx2");
	CU_ASSERT_EQUAL_FATAL(call(t, M("Link"), &ln.base,
				   &wormfs__entry_reply__descriptor, &er), 0);
	CU_ASSERT_EQUAL(er->attr->nlink, 2);
	wfs_rpc_msg_free(&er->base);

	sx.ino = gx.ino = lx.ino = rx.ino = f;
	sx.name = gx.name = rx.name = bin("user.k");
	sx.value = bin("value");
	CU_ASSERT_EQUAL(call(t, M("SetXattr"), &sx.base,
			     &wormfs__set_xattr_reply__descriptor, &sxr), 0);
	wfs_rpc_msg_free(&sxr->base);
	sx.flags = 1;	/* XATTR_CREATE on an existing name */
	CU_ASSERT_EQUAL(call(t, M("SetXattr"), &sx.base,
			     &wormfs__set_xattr_reply__descriptor, &sxr),
			-EEXIST);
	CU_ASSERT_EQUAL_FATAL(call(t, M("GetXattr"), &gx.base,
				   &wormfs__get_xattr_reply__descriptor, &gxr),
			      0);
	CU_ASSERT_EQUAL(gxr->value.len, 5);
	wfs_rpc_msg_free(&gxr->base);
	CU_ASSERT_EQUAL_FATAL(call(t, M("ListXattr"), &lx.base,
				   &wormfs__list_xattr_reply__descriptor,
				   &lxr), 0);
	CU_ASSERT_EQUAL(lxr->n_names, 1);
	wfs_rpc_msg_free(&lxr->base);
	CU_ASSERT_EQUAL(call(t, M("RemoveXattr"), &rx.base,
			     &wormfs__remove_xattr_reply__descriptor, &sxr),
			0);
	wfs_rpc_msg_free(&sxr->base);
	CU_ASSERT_EQUAL(call(t, M("GetXattr"), &gx.base,
			     &wormfs__get_xattr_reply__descriptor, &gxr),
			-ENODATA);

	sa.ino = f;
	sa.valid = WORMFS__SET_ATTR_FIELD__SETATTR_MODE |
		   WORMFS__SET_ATTR_FIELD__SETATTR_SIZE |
		   WORMFS__SET_ATTR_FIELD__SETATTR_MTIME_NOW;
	sa.mode = 0600;
	sa.size = 12345;
	CU_ASSERT_EQUAL_FATAL(call(t, M("SetAttr"), &sa.base,
				   &wormfs__attr_reply__descriptor, &ar), 0);
	CU_ASSERT_EQUAL(ar->attr->mode, S_IFREG | 0600);
	CU_ASSERT_EQUAL(ar->attr->size, 12345);
	CU_ASSERT(ar->attr->mtime_ns > 0);
	wfs_rpc_msg_free(&ar->base);
	sa.valid = 1u << 12;
	CU_ASSERT_EQUAL(call(t, M("SetAttr"), &sa.base,
			     &wormfs__attr_reply__descriptor, &ar), -EINVAL);

	CU_ASSERT_EQUAL_FATAL(call(t, M("Statfs"), &sf.base,
				   &wormfs__statfs_reply__descriptor, &sfr),
			      0);
	CU_ASSERT(sfr->blocks > 0);
	CU_ASSERT(sfr->files > sfr->ffree);
	CU_ASSERT_EQUAL(sfr->namemax, 255);
	wfs_rpc_msg_free(&sfr->base);
}

/* ---- locks ---- */

static int do_lock(struct tnode *t, uint64_t ino, int op, int type,
		   uint64_t start, uint64_t end, uint64_t owner,
		   uint32_t wait_ms, Wormfs__LockReply *out)
{
	Wormfs__LockRequest r = WORMFS__LOCK_REQUEST__INIT;
	Wormfs__LockReply *rep;
	int rc;

	r.caller = &caller;
	r.ino = ino;
	r.op = (Wormfs__LockOp)op;
	r.type = (Wormfs__LockType)type;
	r.start = start;
	r.end = end;
	r.owner = owner;
	r.client_id = bin("client-a");
	r.wait_ms = wait_ms;
	rc = call(t, M("Lock"), &r.base, &wormfs__lock_reply__descriptor,
		  &rep);
	if (rc)
		return rc;
	if (out)
		*out = *rep;
	wfs_rpc_msg_free(&rep->base);
	return 0;
}

struct waiter_arg {
	uint64_t ino;
	int rc;
};

static void *lock_waiter(void *arg)
{
	struct waiter_arg *w = arg;

	w->rc = do_lock(&shared, w->ino, WORMFS__LOCK_OP__LOCK_OP_SET_WAIT,
			WORMFS__LOCK_TYPE__LOCK_WRITE, 0, 99, 2, 10000, NULL);
	return NULL;
}

static void test_locks(void)
{
	struct tnode *t = &shared;
	struct waiter_arg w = { 0 };
	Wormfs__LockReply got;
	pthread_t th;
	uint64_t f;

	CU_ASSERT_EQUAL_FATAL(do_create(t, 1, "locked", O_CREAT, &f, NULL), 0);
	CU_ASSERT_EQUAL(do_lock(t, f, 0, 2, 0, 99, 1, 0, NULL), 0);
	CU_ASSERT_EQUAL(do_lock(t, f, 0, 1, 50, 60, 2, 0, NULL), -EAGAIN);
	CU_ASSERT_EQUAL(do_lock(t, f, 2, 1, 50, 60, 2, 0, &got), 0);
	CU_ASSERT_EQUAL(got.type, WORMFS__LOCK_TYPE__LOCK_WRITE);
	CU_ASSERT_EQUAL(got.end, 99);
	CU_ASSERT_EQUAL(got.owner, 1);
	/* A wait that times out. */
	CU_ASSERT_EQUAL(do_lock(t, f, 1, 2, 0, 0, 2, 50, NULL), -ETIMEDOUT);
	/* A wait granted when the holder unlocks. */
	w.ino = f;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, lock_waiter, &w), 0);
	usleep(100000);
	CU_ASSERT_EQUAL(do_lock(t, f, 0, 0, 0, UINT64_MAX, 1, 0, NULL), 0);
	pthread_join(th, NULL);
	CU_ASSERT_EQUAL(w.rc, 0);
	CU_ASSERT_EQUAL(do_lock(t, f, 2, 1, 0, 0, 1, 0, &got), 0);
	CU_ASSERT_EQUAL(got.owner, 2);
	/* Bad requests. */
	CU_ASSERT_EQUAL(do_lock(t, f, 0, 1, 10, 5, 1, 0, NULL), -EINVAL);
	CU_ASSERT_EQUAL(do_lock(t, f, 7, 1, 0, 5, 1, 0, NULL), -EINVAL);
	CU_ASSERT_EQUAL(do_lock(t, 999999, 0, 1, 0, 5, 1, 0, NULL), -ENOENT);
}

/* ---- stripes ---- */

static int place_kind(struct tnode *t, uint64_t ino, uint64_t sidx,
		      Wormfs__StripeKind kind, Wormfs__PlaceStripeReply **out)
{
	Wormfs__PlaceStripeRequest r = WORMFS__PLACE_STRIPE_REQUEST__INIT;

	r.caller = &caller;
	r.ino = ino;
	r.sidx = sidx;
	r.kind = kind;
	return call(t, M("PlaceStripe"), &r.base,
		    &wormfs__place_stripe_reply__descriptor, out);
}

static int place(struct tnode *t, uint64_t ino, uint64_t sidx,
		 Wormfs__PlaceStripeReply **out)
{
	return place_kind(t, ino, sidx, WORMFS__STRIPE_KIND__STRIPE_EC, out);
}

static void chunk_data(uint64_t sid, uint32_t idx, unsigned char *buf,
		       size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(sid * 31 + idx * 7 + i);
}

/* Write every chunk of placement @p (stripe @sidx of @ino, @stripe_length
 * bytes of file data, 4096 per chunk) to the node its location names. */
static void write_chunks_len(uint64_t ino, uint64_t sidx,
			     const Wormfs__PlaceStripeReply *p,
			     uint32_t stripe_length)
{
	unsigned char data[4096];

	for (size_t i = 0; i < p->n_chunks; i++) {
		Wormfs__ChunkWriteRequest w = WORMFS__CHUNK_WRITE_REQUEST__INIT;
		Wormfs__ChunkHeader h = WORMFS__CHUNK_HEADER__INIT;
		Wormfs__ChunkWriteReply *wr;
		struct wfs_rpc_client *c;

		chunk_data(p->stripe_id, (uint32_t)i, data, sizeof(data));
		h.stripe_id = p->stripe_id;
		h.version = p->expected_version + 1;
		h.ino = ino;
		h.sidx = sidx;
		h.index = (uint32_t)i;
		h.kind = p->kind;
		h.k = p->k;
		h.m = p->m;
		h.chunk_size = p->chunk_size;
		h.data_length = sizeof(data);
		h.stripe_length = stripe_length;
		h.data_crc32c = wfs_crc32c(0, data, sizeof(data));
		w.header = &h;
		w.disk_id = p->chunks[i]->disk_id;
		w.data = (ProtobufCBinaryData){ sizeof(data), data };
		CU_ASSERT_EQUAL_FATAL(
			wfs_rpc_client_new(p->chunks[i]->node_addr, &c), 0);
		CU_ASSERT_EQUAL(
			wfs_rpc_call_msg(c, "/wormfs.Chunk/Write", &w.base,
					 &wormfs__chunk_write_reply__descriptor,
					 TIMEOUT_MS, (ProtobufCMessage **)&wr),
			0);
		if (wr) {
			CU_ASSERT_EQUAL(wr->disk_id.len,
					p->chunks[i]->disk_id.len);
			wfs_rpc_msg_free(&wr->base);
		}
		wfs_rpc_client_free(c);
	}
}

static void write_chunks(uint64_t ino, uint64_t sidx,
			 const Wormfs__PlaceStripeReply *p)
{
	write_chunks_len(ino, sidx, p, 8192);
}

/* Commit placement @p as stripe @sidx of @ino, @length bytes of data that
 * end the file. */
static int commit_len(struct tnode *t, uint64_t ino, uint64_t sidx,
		      const Wormfs__PlaceStripeReply *p, uint64_t expected,
		      uint32_t length, uint64_t *version)
{
	Wormfs__CommitStripeRequest r = WORMFS__COMMIT_STRIPE_REQUEST__INIT;
	Wormfs__CommitStripeReply *rep;
	int rc;

	r.caller = &caller;
	r.ino = ino;
	r.sidx = sidx;
	r.stripe_id = p->stripe_id;
	r.expected_version = expected;
	r.kind = p->kind;
	r.k = p->k;
	r.m = p->m;
	r.chunk_size = p->chunk_size;
	r.length = length;
	r.file_size = sidx * 8192 + length;
	r.n_chunks = p->n_chunks;
	r.chunks = p->chunks;
	rc = call(t, M("CommitStripe"), &r.base,
		  &wormfs__commit_stripe_reply__descriptor, &rep);
	if (rc)
		return rc;
	*version = rep->version;
	CU_ASSERT(rep->attr->size >= sidx * 8192 + length);
	wfs_rpc_msg_free(&rep->base);
	return 0;
}

static int commit(struct tnode *t, uint64_t ino, uint64_t sidx,
		  const Wormfs__PlaceStripeReply *p, uint64_t expected,
		  uint64_t *version)
{
	return commit_len(t, ino, sidx, p, expected, 8192, version);
}

static int read_chunk(struct tnode *t, uint64_t sid, uint64_t version,
		      uint32_t idx, uint32_t offset, uint32_t length,
		      Wormfs__ChunkReadReply **out)
{
	Wormfs__ChunkReadRequest r = WORMFS__CHUNK_READ_REQUEST__INIT;

	r.stripe_id = sid;
	r.version = version;
	r.index = idx;
	r.offset = offset;
	r.length = length;
	return call(t, "/wormfs.Chunk/Read", &r.base,
		    &wormfs__chunk_read_reply__descriptor, out);
}

static void check_layout(struct tnode *t, uint64_t ino, uint64_t version)
{
	Wormfs__GetLayoutRequest r = WORMFS__GET_LAYOUT_REQUEST__INIT;
	Wormfs__GetLayoutReply *rep;

	r.ino = ino;
	CU_ASSERT_EQUAL_FATAL(call(t, M("GetLayout"), &r.base,
				   &wormfs__get_layout_reply__descriptor,
				   &rep), 0);
	CU_ASSERT_EQUAL(rep->n_stripes, 1);
	CU_ASSERT(rep->eof);
	CU_ASSERT_EQUAL(rep->attr->ino, ino);
	if (rep->n_stripes == 1) {
		CU_ASSERT_EQUAL(rep->stripes[0]->version, version);
		CU_ASSERT_EQUAL(rep->stripes[0]->n_chunks, 3);
		CU_ASSERT(rep->stripes[0]->chunks[0]->node_addr[0] != 0);
	}
	wfs_rpc_msg_free(&rep->base);
}

static void test_stripes(void)
{
	Wormfs__PlaceStripeReply *p1, *p2;
	Wormfs__ChunkReadReply *rd;
	struct tnode *t = &shared;
	unsigned char want[4096];
	uint64_t f, v1, v2, v;

	CU_ASSERT_EQUAL_FATAL(do_create(t, 1, "data", O_CREAT, &f, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(place(t, f, 0, &p1), 0);
	CU_ASSERT_EQUAL(p1->expected_version, 0);
	CU_ASSERT_EQUAL(p1->k, 2);
	CU_ASSERT_EQUAL(p1->m, 1);
	CU_ASSERT_EQUAL(p1->chunk_size, 4096);
	CU_ASSERT_EQUAL_FATAL(p1->n_chunks, 3);
	/* Three chunks on three distinct disks. */
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < i; j++)
			CU_ASSERT(p1->chunks[i]->disk_id.len !=
					  p1->chunks[j]->disk_id.len ||
				  memcmp(p1->chunks[i]->disk_id.data,
					 p1->chunks[j]->disk_id.data,
					 p1->chunks[i]->disk_id.len) != 0);
	write_chunks(f, 0, p1);
	CU_ASSERT_EQUAL(commit(t, f, 0, p1, 0, &v1), 0);
	CU_ASSERT_EQUAL(v1, 1);
	check_layout(t, f, 1);
	/* Read a chunk back, whole and a range. */
	chunk_data(p1->stripe_id, 1, want, sizeof(want));
	CU_ASSERT_EQUAL_FATAL(read_chunk(t, p1->stripe_id, 1, 1, 0, 0, &rd),
			      0);
	CU_ASSERT_EQUAL(rd->data.len, 4096);
	CU_ASSERT_EQUAL(memcmp(rd->data.data, want, 4096), 0);
	CU_ASSERT_EQUAL(rd->header->index, 1);
	CU_ASSERT_EQUAL(rd->header->data_crc32c, wfs_crc32c(0, want, 4096));
	wfs_rpc_msg_free(&rd->base);
	CU_ASSERT_EQUAL_FATAL(read_chunk(t, p1->stripe_id, 1, 1, 100, 50, &rd),
			      0);
	CU_ASSERT_EQUAL(rd->data.len, 50);
	CU_ASSERT_EQUAL(memcmp(rd->data.data, want + 100, 50), 0);
	wfs_rpc_msg_free(&rd->base);
	CU_ASSERT_EQUAL(read_chunk(t, p1->stripe_id, 1, 1, 5000, 0, &rd),
			-EINVAL);
	CU_ASSERT_EQUAL(read_chunk(t, p1->stripe_id, 2, 1, 0, 0, &rd),
			-ENOENT);
	/* A second version; a commit against the old one is stale. */
	CU_ASSERT_EQUAL_FATAL(place(t, f, 0, &p2), 0);
	CU_ASSERT_EQUAL(p2->expected_version, 1);
	CU_ASSERT(p2->stripe_id > p1->stripe_id);
	write_chunks(f, 0, p2);
	CU_ASSERT_EQUAL(commit(t, f, 0, p2, 0, &v), -ESTALE);
	CU_ASSERT_EQUAL(commit(t, f, 0, p2, 1, &v2), 0);
	CU_ASSERT_EQUAL(v2, 2);
	check_layout(t, f, 2);
	/* The first version's chunks are garbage: collected. */
	CU_ASSERT_EQUAL(wfs_gc_run(t->n->gc), 3);
	CU_ASSERT_EQUAL(read_chunk(t, p1->stripe_id, 1, 1, 0, 0, &rd),
			-ENOENT);
	CU_ASSERT_EQUAL(read_chunk(t, p2->stripe_id, 2, 1, 0, 0, &rd), 0);
	wfs_rpc_msg_free(&rd->base);
	CU_ASSERT_EQUAL(wfs_gc_run(t->n->gc), 0);
	wfs_rpc_msg_free(&p2->base);
	wfs_rpc_msg_free(&p1->base);
	/* Placing a directory's stripe. */
	CU_ASSERT_EQUAL(place(t, 1, 0, &p1), -EISDIR);
}

/* Flip a data byte of chunk @key's file on disk @disk of @t's store. */
static void flip_chunk_byte(struct tnode *t, const struct wfs_chunk_key *key,
			    unsigned disk)
{
	char name[WFS_DISK_CHUNK_NAME_LEN + 1], path[PATH_MAX];
	struct wfs_store_disk_info info;
	unsigned char c;
	int fd;

	wfs_store_disk_info(t->n->store, disk, &info);
	wfs_disk_chunk_name(key, name);
	snprintf(path, sizeof(path), "%s/chunks/%03u/%s", info.path,
		 wfs_disk_folder(key->stripe_id), name);
	fd = open(path, O_RDWR);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(pread(fd, &c, 1, WFS_CHUNK_HEADER_SIZE + 10), 1);
	c ^= 0x40;
	CU_ASSERT_EQUAL(pwrite(fd, &c, 1, WFS_CHUNK_HEADER_SIZE + 10), 1);
	close(fd);
}

static Wormfs__GetLayoutReply *layout_copy(struct tnode *t, uint64_t ino,
					   uint32_t copy_max)
{
	Wormfs__GetLayoutRequest r = WORMFS__GET_LAYOUT_REQUEST__INIT;
	Wormfs__GetLayoutReply *rep = NULL;

	r.ino = ino;
	r.copy_max = copy_max;
	CU_ASSERT_EQUAL(call(t, M("GetLayout"), &r.base,
			     &wormfs__get_layout_reply__descriptor, &rep), 0);
	if (rep)
		CU_ASSERT_EQUAL(rep->n_stripes, 1);
	return rep && rep->n_stripes == 1 ? rep : NULL;
}

/* Small files whose first copies are asked for in stripe order have the
 * next ones read ahead; another order reads nothing ahead. */
static void test_prefetch_in_order(void)
{
	Wormfs__PlaceStripeReply *p;
	Wormfs__GetLayoutReply *rep;
	struct tnode *t = &shared;
	uint64_t ino[8], v, before;
	char name[16];
	bool more = false;

	for (unsigned i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "pf%u", i);
		CU_ASSERT_EQUAL_FATAL(do_create(t, 1, name, O_CREAT, &ino[i],
						NULL), 0);
		CU_ASSERT_EQUAL_FATAL(place_kind(t, ino[i], 0,
					WORMFS__STRIPE_KIND__STRIPE_REPLICA,
					&p), 0);
		write_chunks_len(ino[i], 0, p, 4096);
		CU_ASSERT_EQUAL_FATAL(commit_len(t, ino[i], 0, p, 0, 4096, &v),
				      0);
		wfs_rpc_msg_free(&p->base);
	}
	/* Backwards, one file in two: nothing. */
	before = wfs_prefetch_count(t->n->prefetch);
	for (int i = 7; i >= 0; i -= 2) {
		rep = layout_copy(t, ino[i], 64 << 10);
		CU_ASSERT(rep && rep->stripes[0]->first_copy);
		if (rep)
			wfs_rpc_msg_free(&rep->base);
	}
	usleep(200 * 1000);
	CU_ASSERT_EQUAL(wfs_prefetch_count(t->n->prefetch), before);
	/* In order: the files after the second are read ahead. */
	for (unsigned i = 0; i < 2; i++) {
		rep = layout_copy(t, ino[i], 64 << 10);
		CU_ASSERT(rep && rep->stripes[0]->first_copy);
		if (rep)
			wfs_rpc_msg_free(&rep->base);
	}
	for (unsigned i = 0; i < 200 && !more; i++) {
		more = wfs_prefetch_count(t->n->prefetch) >= before + 6;
		if (!more)
			usleep(10 * 1000);
	}
	CU_ASSERT(more);
}

/* GetLayout with copy_max brings the first copy of a small replica stripe
 * held here (chunk sidx % copies), checked as Chunk.Read checks it; EC
 * stripes, larger ones, and a damaged copy come without. */
static void test_first_copy(void)
{
	Wormfs__PlaceStripeReply *p;
	Wormfs__GetLayoutReply *rep;
	const Wormfs__ChunkReadReply *fc;
	struct tnode *t = &shared;
	unsigned char want[4096];
	struct wfs_store_chunk sc;
	struct wfs_chunk_key key;
	uint64_t f, v;

	CU_ASSERT_EQUAL_FATAL(do_create(t, 1, "small", O_CREAT, &f, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(place_kind(t, f, 0,
					 WORMFS__STRIPE_KIND__STRIPE_REPLICA,
					 &p), 0);
	CU_ASSERT_FATAL(p->n_chunks >= 2);
	write_chunks_len(f, 0, p, 4096);
	CU_ASSERT_EQUAL_FATAL(commit_len(t, f, 0, p, 0, 4096, &v), 0);
	chunk_data(p->stripe_id, 0, want, sizeof(want));

	rep = layout_copy(t, f, 64 << 10);
	fc = rep ? rep->stripes[0]->first_copy : NULL;
	CU_ASSERT_FATAL(fc != NULL && fc->header != NULL);
	CU_ASSERT_EQUAL(fc->header->index, 0);
	CU_ASSERT_EQUAL(fc->header->version, v);
	CU_ASSERT_EQUAL(fc->data.len, sizeof(want));
	CU_ASSERT(fc->data.len == sizeof(want) &&
		  memcmp(fc->data.data, want, sizeof(want)) == 0);
	CU_ASSERT_EQUAL(fc->header->data_crc32c,
			wfs_crc32c(0, want, sizeof(want)));
	wfs_rpc_msg_free(&rep->base);
	/* Not asked for, or too long for what was asked. */
	rep = layout_copy(t, f, 0);
	CU_ASSERT(rep && rep->stripes[0]->first_copy == NULL);
	wfs_rpc_msg_free(&rep->base);
	rep = layout_copy(t, f, 1000);
	CU_ASSERT(rep && rep->stripes[0]->first_copy == NULL);
	wfs_rpc_msg_free(&rep->base);
	/* Stripe 1 of another file: its first copy is chunk 1 % 2; one
	 * whose stripe was cut to 10 bytes still has a 4096-byte file,
	 * which does not fit 1000. */
	{
		Wormfs__PlaceStripeReply *p1;
		uint64_t g, w;

		CU_ASSERT_EQUAL_FATAL(do_create(t, 1, "small1", O_CREAT, &g,
						NULL), 0);
		CU_ASSERT_EQUAL_FATAL(place_kind(t, g, 1,
				WORMFS__STRIPE_KIND__STRIPE_REPLICA, &p1), 0);
		write_chunks_len(g, 1, p1, 4096);
		CU_ASSERT_EQUAL_FATAL(commit_len(t, g, 1, p1, 0, 4096, &w), 0);
		chunk_data(p1->stripe_id, 1, want, sizeof(want));
		rep = layout_copy(t, g, 64 << 10);
		fc = rep ? rep->stripes[0]->first_copy : NULL;
		CU_ASSERT(fc && fc->header && fc->header->index == 1 &&
			  fc->data.len == sizeof(want) &&
			  memcmp(fc->data.data, want, sizeof(want)) == 0);
		wfs_rpc_msg_free(&rep->base);
		wfs_rpc_msg_free(&p1->base);
		CU_ASSERT_EQUAL_FATAL(place_kind(t, g, 1,
				WORMFS__STRIPE_KIND__STRIPE_REPLICA, &p1), 0);
		write_chunks_len(g, 1, p1, 4096);
		CU_ASSERT_EQUAL_FATAL(commit_len(t, g, 1, p1, w, 10, &w), 0);
		rep = layout_copy(t, g, 1000);
		CU_ASSERT(rep && rep->stripes[0]->length == 10 &&
			  rep->stripes[0]->first_copy == NULL);
		wfs_rpc_msg_free(&rep->base);
		wfs_rpc_msg_free(&p1->base);
	}
	/* A damaged copy is left out: the reader finds out on its own. */
	key = (struct wfs_chunk_key){ p->stripe_id, v, 0 };
	CU_ASSERT_EQUAL_FATAL(wfs_store_stat(t->n->store, &key, &sc), 0);
	flip_chunk_byte(t, &key, sc.disk);
	rep = layout_copy(t, f, 64 << 10);
	CU_ASSERT(rep && rep->stripes[0]->first_copy == NULL);
	wfs_rpc_msg_free(&rep->base);
	wfs_rpc_msg_free(&p->base);
}

/* Many placements in parallel draw from the id range: all distinct. */
struct placer {
	uint64_t ino;
	uint64_t ids[40];
	int rc;
};

static void *placer_main(void *arg)
{
	struct placer *pl = arg;

	for (int i = 0; i < 40 && pl->rc == 0; i++) {
		Wormfs__PlaceStripeReply *p;

		pl->rc = place(&shared, pl->ino, (uint64_t)i, &p);
		if (pl->rc == 0) {
			pl->ids[i] = p->stripe_id;
			wfs_rpc_msg_free(&p->base);
		}
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void test_parallel_placement(void)
{
	struct placer pl[4] = { { 0 } };
	pthread_t th[4];
	uint64_t all[160], f;

	CU_ASSERT_EQUAL_FATAL(do_create(&shared, 1, "par", O_CREAT, &f, NULL),
			      0);
	for (int i = 0; i < 4; i++) {
		pl[i].ino = f;
		CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, placer_main,
						     &pl[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CU_ASSERT_EQUAL(pl[i].rc, 0);
		memcpy(all + 40 * i, pl[i].ids, sizeof(pl[i].ids));
	}
	qsort(all, 160, sizeof(all[0]), cmp_u64);
	for (int i = 1; i < 160; i++)
		CU_ASSERT(all[i] != all[i - 1]);
}

/* ---- bad requests ---- */

/* UnlinkMany applies each item as its own Unlink would, answers one
 * outcome per item in order, and a retry under the same request id applies
 * none of them twice. */
static void test_unlink_many(void)
{
	Wormfs__UnlinkManyRequest req = WORMFS__UNLINK_MANY_REQUEST__INIT;
	Wormfs__RemoveRequest items[4], *ptrs[4];
	static const char *const names[] = { "a", "missing", "sub", "b" };
	static const int want[] = { 0, -ENOENT, -EISDIR, 0 };
	struct wfs_rpc_call_opts o = { .request_id = "node-test-unlink-many" };
	Wormfs__UnlinkManyReply *r;
	struct tnode *t = &shared;
	uint64_t d, a, b, sub;
	Wormfs__Attr ino;

	CU_ASSERT_EQUAL_FATAL(do_mkdir(t, 1, "um", &d), 0);
	CU_ASSERT_EQUAL_FATAL(do_create(t, d, "a", O_CREAT, &a, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(do_create(t, d, "b", O_CREAT, &b, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(do_mkdir(t, d, "sub", &sub), 0);
	for (unsigned i = 0; i < 4; i++) {
		wormfs__remove_request__init(&items[i]);
		items[i].caller = &caller;
		items[i].parent = d;
		items[i].name = bin(names[i]);
		items[i].purge = true;
		ptrs[i] = &items[i];
	}
	/* b is open: it stays, an orphan. */
	items[3].open_inos = &b;
	items[3].n_open_inos = 1;
	req.items = ptrs;
	req.n_items = 4;
	for (int round = 0; round < 2; round++) {
		CU_ASSERT_EQUAL_FATAL(wfs_rpc_call_msg_opts(
			t->c, M("UnlinkMany"), &req.base,
			&wormfs__unlink_many_reply__descriptor, TIMEOUT_MS, &o,
			(ProtobufCMessage **)&r), 0);
		CU_ASSERT_EQUAL_FATAL(r->n_outcomes, 4);
		for (unsigned i = 0; i < 4; i++) {
			CU_ASSERT_EQUAL(r->outcomes[i]->error, want[i]);
			CU_ASSERT_EQUAL(r->outcomes[i]->reply != NULL,
					want[i] == 0);
		}
		CU_ASSERT_EQUAL(r->outcomes[0]->reply->ino, a);
		CU_ASSERT(r->outcomes[0]->reply->purged);
		CU_ASSERT_EQUAL(r->outcomes[3]->reply->ino, b);
		CU_ASSERT(!r->outcomes[3]->reply->purged);
		CU_ASSERT_EQUAL(r->outcomes[3]->reply->nlink, 0);
		check_parent(t, r->outcomes[3]->reply->parent_attr, d);
		wfs_rpc_msg_free(&r->base);
	}
	CU_ASSERT_EQUAL(do_lookup(t, d, "a", &ino), -ENOENT);
	CU_ASSERT_EQUAL(do_lookup(t, d, "b", &ino), -ENOENT);
	CU_ASSERT_EQUAL(do_lookup(t, d, "sub", &ino), 0);
	/* None, or too many: refused whole. */
	req.n_items = 0;
	CU_ASSERT_EQUAL(call(t, M("UnlinkMany"), &req.base,
			     &wormfs__unlink_many_reply__descriptor, &r),
			-EINVAL);
	{
		Wormfs__RemoveRequest **many = wfs_calloc(257, sizeof(*many));

		CU_ASSERT_PTR_NOT_NULL_FATAL(many);
		for (unsigned i = 0; i < 257; i++)
			many[i] = &items[0];
		req.items = many;
		req.n_items = 257;
		CU_ASSERT_EQUAL(call(t, M("UnlinkMany"), &req.base,
				     &wormfs__unlink_many_reply__descriptor,
				     &r), -EINVAL);
		wfs_free(many);
	}
	/* A bad name in any item refuses the whole call. */
	req.items = ptrs;
	req.n_items = 2;
	items[1].name = bin("x/y");
	CU_ASSERT_EQUAL(call(t, M("UnlinkMany"), &req.base,
			     &wormfs__unlink_many_reply__descriptor, &r),
			-EINVAL);
}

/* ---- creates answered early: ReserveInos, Lease, CreateMany ---- */

static int lease_call(struct tnode *t, Wormfs__Caller *who, uint64_t dir,
		      bool release, bool *held, bool *recalled)
{
	Wormfs__LeaseRequest r = WORMFS__LEASE_REQUEST__INIT;
	Wormfs__LeaseReply *rep;
	int rc;

	r.caller = who;
	r.dir = dir;
	r.release = release;
	rc = call(t, M("Lease"), &r.base, &wormfs__lease_reply__descriptor,
		  &rep);
	if (rc)
		return rc;
	*held = rep->held;
	if (recalled)
		*recalled = rep->recalled;
	wfs_rpc_msg_free(&rep->base);
	return 0;
}

static int reserve_inos(struct tnode *t, uint32_t count, uint64_t *first)
{
	Wormfs__ReserveInosRequest r = WORMFS__RESERVE_INOS_REQUEST__INIT;
	Wormfs__ReserveInosReply *rep;
	int rc;

	r.count = count;
	rc = call(t, M("ReserveInos"), &r.base,
		  &wormfs__reserve_inos_reply__descriptor, &rep);
	if (rc)
		return rc;
	*first = rep->first;
	CU_ASSERT_EQUAL(rep->count, count);
	wfs_rpc_msg_free(&rep->base);
	return 0;
}

/* CreateMany of @n names in @dir for @who with inode numbers from
 * @first: the reply, or NULL with *rc set. */
static Wormfs__CreateManyReply *create_many(struct tnode *t,
					    Wormfs__Caller *who, uint64_t dir,
					    const char *const *names,
					    unsigned n, uint64_t first,
					    int64_t time_ns, const char *id,
					    int *rc)
{
	Wormfs__CreateManyRequest req = WORMFS__CREATE_MANY_REQUEST__INIT;
	Wormfs__CreateRequest items[8], *ptrs[8];
	struct wfs_rpc_call_opts o = { .request_id = id };
	Wormfs__CreateManyReply *r = NULL;

	for (unsigned i = 0; i < n; i++) {
		wormfs__create_request__init(&items[i]);
		items[i].caller = who;
		items[i].parent = dir;
		items[i].name = bin(names[i]);
		items[i].mode = 0666;
		items[i].flags = O_CREAT;
		items[i].ino = first + i;
		items[i].time_ns = time_ns;
		ptrs[i] = &items[i];
	}
	req.items = ptrs;
	req.n_items = n;
	*rc = wfs_rpc_call_msg_opts(t->c, M("CreateMany"), &req.base,
				    &wormfs__create_many_reply__descriptor,
				    TIMEOUT_MS, &o, (ProtobufCMessage **)&r);
	return *rc ? NULL : r;
}

/* Many-calls of session @who, each with an item in @d (leased to another
 * session) and one in the root: the first is held off on its own
 * (-EAGAIN, nothing applied), the second goes ahead. */
static void many_held_off(struct tnode *t, Wormfs__Caller *who, uint64_t d)
{
	Wormfs__UnlinkManyRequest req = WORMFS__UNLINK_MANY_REQUEST__INIT;
	Wormfs__RemoveRequest items[2], *ptrs[2];
	Wormfs__CreateManyReply *r;
	Wormfs__UnlinkManyReply *u;
	Wormfs__Attr a;
	uint64_t first;
	int rc;

	CU_ASSERT_EQUAL_FATAL(reserve_inos(t, 2, &first), 0);
	CU_ASSERT_EQUAL_FATAL(do_create(t, 1, "free", O_CREAT, NULL, NULL), 0);
	/* create_many puts every item in one directory: the second goes
	 * to the root by hand. */
	{
		Wormfs__CreateManyRequest cm = WORMFS__CREATE_MANY_REQUEST__INIT;
		Wormfs__CreateRequest ci[2], *cp[2];
		static const char *const nm[] = { "held", "went" };
		const uint64_t dirs[] = { d, 1 };

		for (unsigned i = 0; i < 2; i++) {
			wormfs__create_request__init(&ci[i]);
			ci[i].caller = who;
			ci[i].parent = dirs[i];
			ci[i].name = bin(nm[i]);
			ci[i].mode = 0644;
			ci[i].flags = O_CREAT;
			ci[i].ino = first + i;
			cp[i] = &ci[i];
		}
		cm.items = cp;
		cm.n_items = 2;
		rc = call(t, M("CreateMany"), &cm.base,
			  &wormfs__create_many_reply__descriptor, &r);
		CU_ASSERT_EQUAL_FATAL(rc, 0);
		CU_ASSERT_EQUAL_FATAL(r->n_outcomes, 2);
		CU_ASSERT_EQUAL(r->outcomes[0]->error, -EAGAIN);
		CU_ASSERT_PTR_NULL(r->outcomes[0]->reply);
		CU_ASSERT_EQUAL(r->outcomes[1]->error, 0);
		wfs_rpc_msg_free(&r->base);
	}
	CU_ASSERT_EQUAL(do_lookup(t, d, "held", &a), -ENOENT);
	CU_ASSERT_EQUAL(do_lookup(t, 1, "went", &a), 0);
	CU_ASSERT_EQUAL(a.ino, first + 1);
	for (unsigned i = 0; i < 2; i++) {
		wormfs__remove_request__init(&items[i]);
		items[i].caller = who;
		items[i].parent = i == 0 ? d : 1;
		items[i].name = bin(i == 0 ? "c0" : "free");
		items[i].purge = true;
		ptrs[i] = &items[i];
	}
	req.items = ptrs;
	req.n_items = 2;
	CU_ASSERT_EQUAL_FATAL(call(t, M("UnlinkMany"), &req.base,
				   &wormfs__unlink_many_reply__descriptor, &u),
			      0);
	CU_ASSERT_EQUAL_FATAL(u->n_outcomes, 2);
	CU_ASSERT_EQUAL(u->outcomes[0]->error, -EAGAIN);
	CU_ASSERT_EQUAL(u->outcomes[1]->error, 0);
	wfs_rpc_msg_free(&u->base);
	CU_ASSERT_EQUAL(do_lookup(t, d, "c0", &a), 0);
	CU_ASSERT_EQUAL(do_lookup(t, 1, "free", &a), -ENOENT);
}

static void test_create_many_leases(void)
{
	static const char *const names[] = { "c0", "c1" };
	Wormfs__Caller one = caller, two = caller;
	Wormfs__CreateManyReply *r;
	struct tnode *t = &shared;
	uint64_t d, first, ino;
	bool held, recalled;
	int64_t when = wfs_node_now_ns() - 5000000000LL;
	Wormfs__Attr a;
	int rc;

	one.session = 0x1111;
	two.session = 0x2222;
	CU_ASSERT_EQUAL_FATAL(do_mkdir(t, 1, "early", &d), 0);
	CU_ASSERT_EQUAL_FATAL(reserve_inos(t, 4, &first), 0);
	CU_ASSERT_EQUAL_FATAL(lease_call(t, &one, d, false, &held, &recalled),
			      0);
	CU_ASSERT(held);
	CU_ASSERT(!recalled);
	/* Twice under one request id: applied once, the same outcomes. */
	for (int round = 0; round < 2; round++) {
		r = create_many(t, &one, d, names, 2, first, when,
				"node-test-create-many", &rc);
		CU_ASSERT_PTR_NOT_NULL_FATAL(r);
		CU_ASSERT_EQUAL_FATAL(r->n_outcomes, 2);
		for (unsigned i = 0; i < 2; i++) {
			CU_ASSERT_EQUAL(r->outcomes[i]->error, 0);
			CU_ASSERT_PTR_NOT_NULL_FATAL(r->outcomes[i]->reply);
			CU_ASSERT_EQUAL(r->outcomes[i]->reply->attr->ino,
					first + i);
			CU_ASSERT_EQUAL(r->outcomes[i]->reply->attr->mode,
					S_IFREG | 0644);
			CU_ASSERT_EQUAL(r->outcomes[i]->reply->attr->mtime_ns,
					when);
			CU_ASSERT(r->outcomes[i]->reply->created);
		}
		check_parent(t, r->outcomes[1]->reply->parent_attr, d);
		CU_ASSERT_EQUAL(r->n_recalled, 0);
		wfs_rpc_msg_free(&r->base);
	}
	CU_ASSERT_EQUAL(do_lookup(t, d, "c1", &a), 0);
	CU_ASSERT_EQUAL(a.ino, first + 1);
	/* Another session is refused while the lease is held, and the
	 * holder is told at its next call. */
	CU_ASSERT_EQUAL(do_create(t, d, "other", O_CREAT, NULL, NULL),
			-EAGAIN);
	CU_ASSERT_EQUAL(lease_call(t, &two, d, false, &held, NULL), 0);
	CU_ASSERT(!held);
	r = create_many(t, &one, d, (const char *const[]){ "c2" }, 1,
			first + 2, 0, NULL, &rc);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->outcomes[0]->error, 0);
	CU_ASSERT_EQUAL_FATAL(r->n_recalled, 1);
	CU_ASSERT_EQUAL(r->recalled[0], d);
	wfs_rpc_msg_free(&r->base);
	CU_ASSERT_EQUAL(lease_call(t, &one, d, false, &held, &recalled), 0);
	CU_ASSERT(held && recalled);
	/* An existing name fails whatever the flags; a number never
	 * reserved, or one in use, is refused. */
	r = create_many(t, &one, d, (const char *const[]){ "c3", "c4" }, 2,
			first + 3, 0, NULL, &rc);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->outcomes[0]->error, 0);
	CU_ASSERT_EQUAL(r->outcomes[1]->error, -EINVAL);	/* not reserved */
	wfs_rpc_msg_free(&r->base);
	CU_ASSERT_EQUAL_FATAL(reserve_inos(t, 1, &ino), 0);
	r = create_many(t, &one, d, (const char *const[]){ "c0" }, 1, ino, 0,
			NULL, &rc);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->outcomes[0]->error, -EEXIST);
	wfs_rpc_msg_free(&r->base);
	r = create_many(t, &one, d, (const char *const[]){ "c5" }, 1, first,
			0, NULL, &rc);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->outcomes[0]->error, -EINVAL);	/* in use */
	wfs_rpc_msg_free(&r->base);
	many_held_off(t, &two, d);
	/* Given back: the other session goes ahead. */
	CU_ASSERT_EQUAL(lease_call(t, &one, d, true, &held, NULL), 0);
	CU_ASSERT(!held);
	CU_ASSERT_EQUAL(do_create(t, d, "other", O_CREAT, &ino, NULL), 0);
	/* A holder that does not give a recalled lease back loses it within
	 * seconds (the master's upkeep takes it back). */
	CU_ASSERT_EQUAL_FATAL(lease_call(t, &one, d, false, &held, NULL), 0);
	CU_ASSERT_FATAL(held);
	CU_ASSERT_EQUAL(do_create(t, d, "third", O_CREAT, NULL, NULL),
			-EAGAIN);
	held = false;
	for (int i = 0; i < 100 && !held; i++) {
		CU_ASSERT_EQUAL_FATAL(lease_call(t, &two, d, false, &held,
						 NULL), 0);
		if (!held)
			usleep(100000);
	}
	CU_ASSERT(held);
	CU_ASSERT_EQUAL(lease_call(t, &two, d, true, &held, NULL), 0);
	/* Bad requests. */
	CU_ASSERT_EQUAL(lease_call(t, &caller, d, false, &held, NULL),
			-EINVAL);	/* no session */
	CU_ASSERT_EQUAL(reserve_inos(t, 0, &first), -EINVAL);
	CU_ASSERT_EQUAL(reserve_inos(t, 5000, &first), -EINVAL);
	CU_ASSERT_PTR_NULL(create_many(t, &one, d, names, 0, first, 0, NULL,
				       &rc));
	CU_ASSERT_EQUAL(rc, -EINVAL);
	CU_ASSERT_PTR_NULL(create_many(t, &one, d,
				       (const char *const[]){ "a/b" }, 1,
				       first, 0, NULL, &rc));
	CU_ASSERT_EQUAL(rc, -EINVAL);
}

/* A client that answered a create early places the file's first stripe
 * before the create has applied, naming the directory. */
static void test_place_before_create(void)
{
	Wormfs__PlaceStripeRequest r = WORMFS__PLACE_STRIPE_REQUEST__INIT;
	Wormfs__PlaceStripeReply *p = NULL;
	Wormfs__CreateManyReply *cm;
	Wormfs__Caller one = caller;
	struct tnode *t = &shared;
	uint64_t d, f, ino, v;
	bool held;
	int rc;

	one.session = 0x3333;
	CU_ASSERT_EQUAL_FATAL(do_mkdir(t, 1, "placed-early", &d), 0);
	CU_ASSERT_EQUAL_FATAL(do_create(t, d, "plain", O_CREAT, &f, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(reserve_inos(t, 1, &ino), 0);
	r.caller = &one;
	r.ino = ino;
	r.kind = WORMFS__STRIPE_KIND__STRIPE_REPLICA;
	/* Not there yet, and no directory named: no such inode. */
	CU_ASSERT_EQUAL(call(t, M("PlaceStripe"), &r.base,
			     &wormfs__place_stripe_reply__descriptor, &p),
			-ENOENT);
	/* A directory that is not one, or is not there. */
	r.parent = f;
	CU_ASSERT_EQUAL(call(t, M("PlaceStripe"), &r.base,
			     &wormfs__place_stripe_reply__descriptor, &p),
			-ENOTDIR);
	r.parent = 999999;
	CU_ASSERT_EQUAL(call(t, M("PlaceStripe"), &r.base,
			     &wormfs__place_stripe_reply__descriptor, &p),
			-ENOENT);
	/* Placed as a new file of the directory. */
	r.parent = d;
	CU_ASSERT_EQUAL_FATAL(call(t, M("PlaceStripe"), &r.base,
				   &wormfs__place_stripe_reply__descriptor,
				   &p), 0);
	CU_ASSERT_EQUAL(p->expected_version, 0);
	CU_ASSERT_EQUAL(p->kind, WORMFS__STRIPE_KIND__STRIPE_REPLICA);
	CU_ASSERT_EQUAL_FATAL(p->n_chunks, p->m + 1);
	write_chunks_len(ino, 0, p, 4096);
	/* The commit needs the inode... */
	CU_ASSERT_EQUAL(commit_len(t, ino, 0, p, 0, 4096, &v), -ENOENT);
	/* ...which the create brings. */
	CU_ASSERT_EQUAL_FATAL(lease_call(t, &one, d, false, &held, NULL), 0);
	CU_ASSERT(held);
	cm = create_many(t, &one, d, (const char *const[]){ "early" }, 1, ino,
			 0, NULL, &rc);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cm);
	CU_ASSERT_EQUAL(cm->outcomes[0]->error, 0);
	wfs_rpc_msg_free(&cm->base);
	CU_ASSERT_EQUAL(commit_len(t, ino, 0, p, 0, 4096, &v), 0);
	CU_ASSERT_EQUAL(v, 1);
	CU_ASSERT_EQUAL(lease_call(t, &one, d, true, &held, NULL), 0);
	wfs_rpc_msg_free(&p->base);
	/* Once it exists, the directory named changes nothing. */
	r.parent = f;
	CU_ASSERT_EQUAL_FATAL(call(t, M("PlaceStripe"), &r.base,
				   &wormfs__place_stripe_reply__descriptor,
				   &p), 0);
	CU_ASSERT_EQUAL(p->expected_version, 1);
	wfs_rpc_msg_free(&p->base);
}

static void test_malformed(void)
{
	static const char *const methods[] = {
		M("Lookup"), M("GetAttr"), M("SetAttr"), M("ReadDir"),
		M("Mknod"), M("Create"), M("Mkdir"), M("Symlink"), M("Link"),
		M("Unlink"), M("UnlinkMany"), M("CreateMany"), M("Lease"),
		M("ReserveInos"), M("Rmdir"), M("Rename"),
		M("Readlink"),
		M("Release"), M("Statfs"), M("GetXattr"), M("SetXattr"),
		M("ListXattr"), M("RemoveXattr"), M("Lock"), M("PlaceStripe"),
		M("CommitStripe"), M("GetLayout"), "/wormfs.Chunk/Write",
		"/wormfs.Chunk/Read", "/wormfs.Admin/Status",
	};
	/* A field 1 of wire type 7 (there is none): not a message. */
	static const unsigned char junk[] = { 0x0f, 0xff, 0xff, 0x01 };
	struct tnode *t = &shared;
	char longname[300];

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		CU_ASSERT_EQUAL(wfs_rpc_call(t->c, methods[i], junk,
					     sizeof(junk), TIMEOUT_MS, NULL,
					     NULL), -EINVAL);
	CU_ASSERT_EQUAL(wfs_rpc_call(t->c, M("NoSuch"), junk, 1, TIMEOUT_MS,
				     NULL, NULL), -EOPNOTSUPP);
	CU_ASSERT_EQUAL(do_lookup(t, 1, "a/b", NULL), -EINVAL);
	CU_ASSERT_EQUAL(do_lookup(t, 1, "", NULL), -EINVAL);
	CU_ASSERT_EQUAL(do_create(t, 1, "..", O_CREAT, NULL, NULL), -EINVAL);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	CU_ASSERT_EQUAL(do_create(t, 1, longname, O_CREAT, NULL, NULL),
			-ENAMETOOLONG);
	/* Out-of-order: commit of a stripe id never placed, layout of a
	 * directory, a chunk read before any write. */
	{
		Wormfs__PlaceStripeReply fake =
			WORMFS__PLACE_STRIPE_REPLY__INIT;
		uint64_t f, v;

		CU_ASSERT_EQUAL_FATAL(do_create(t, 1, "ooo", O_CREAT, &f,
						NULL), 0);
		fake.stripe_id = 1ULL << 40;
		fake.kind = WORMFS__STRIPE_KIND__STRIPE_EC;
		fake.k = 2;
		fake.m = 1;
		fake.chunk_size = 4096;
		CU_ASSERT_EQUAL(commit(t, f, 0, &fake, 0, &v), -EINVAL);
		fake.kind = 9;
		CU_ASSERT_EQUAL(commit(t, f, 0, &fake, 0, &v), -EINVAL);
	}
}

static int write_chunk(struct tnode *t, Wormfs__ChunkHeader *h,
		       const void *data, size_t len)
{
	Wormfs__ChunkWriteRequest w = WORMFS__CHUNK_WRITE_REQUEST__INIT;
	Wormfs__ChunkWriteReply *wr;
	int rc;

	w.header = h;
	w.data = (ProtobufCBinaryData){ len, (uint8_t *)data };
	rc = call(t, "/wormfs.Chunk/Write", &w.base,
		  &wormfs__chunk_write_reply__descriptor, &wr);
	if (rc == 0)
		wfs_rpc_msg_free(&wr->base);
	return rc;
}

static void test_chunk_checks(void)
{
	Wormfs__ChunkHeader h = WORMFS__CHUNK_HEADER__INIT;
	Wormfs__ChunkWriteRequest w = WORMFS__CHUNK_WRITE_REQUEST__INIT;
	Wormfs__ChunkReadReply *rd;
	Wormfs__ChunkWriteReply *wr;
	struct tnode *t = &shared;
	unsigned char data[4096] = { 1, 2, 3 };
	void *big;
	size_t big_len = WFS_RPC_MAX_MESSAGE + 100;

	h.stripe_id = 1ULL << 50;
	h.version = 1;
	h.kind = WORMFS__STRIPE_KIND__STRIPE_EC;
	h.k = 2;
	h.m = 1;
	h.chunk_size = 4096;
	h.data_length = sizeof(data);
	h.stripe_length = 8192;
	h.data_crc32c = wfs_crc32c(0, data, sizeof(data));
	/* With no disk named, the node picks one. */
	CU_ASSERT_EQUAL(write_chunk(t, &h, data, sizeof(data)), 0);
	h.data_crc32c ^= 1;
	CU_ASSERT_EQUAL(write_chunk(t, &h, data, sizeof(data)), -EBADMSG);
	h.data_crc32c ^= 1;
	h.k = 17;
	CU_ASSERT_EQUAL(write_chunk(t, &h, data, sizeof(data)), -EINVAL);
	h.k = 2;
	h.index = 3;
	CU_ASSERT_EQUAL(write_chunk(t, &h, data, sizeof(data)), -EINVAL);
	h.index = 0;
	CU_ASSERT_EQUAL(write_chunk(t, &h, data, 100), -EINVAL);
	h.chunk_size = 3000;
	CU_ASSERT_EQUAL(write_chunk(t, &h, data, sizeof(data)), -EINVAL);
	h.chunk_size = 4096;
	h.kind = WORMFS__STRIPE_KIND__STRIPE_REPLICA;
	h.index = 1;
	h.stripe_length = 4096;
	CU_ASSERT_EQUAL(write_chunk(t, &h, data, sizeof(data)), 0);
	h.index = 2;	/* m + 1 = 2 copies: 0 and 1 */
	CU_ASSERT_EQUAL(write_chunk(t, &h, data, sizeof(data)), -EINVAL);
	w.disk_id = bin("no-such-disk");
	CU_ASSERT_EQUAL(call(t, "/wormfs.Chunk/Write", &w.base,
			     &wormfs__chunk_write_reply__descriptor, &wr),
			-EINVAL);	/* no header */
	/* Over the message limit: refused by the transport, not a crash. */
	big = wfs_calloc(1, big_len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	CU_ASSERT_EQUAL(wfs_rpc_call(t->c, "/wormfs.Chunk/Write", big, big_len,
				     TIMEOUT_MS, NULL, NULL), -EMSGSIZE);
	wfs_free(big);
	CU_ASSERT_EQUAL(read_chunk(t, 1ULL << 50, 1, 0, 0, 0x7fffffff, &rd),
			-EMSGSIZE);
	CU_ASSERT_EQUAL(read_chunk(t, 0, 1, 0, 0, 0, &rd), -EINVAL);
	/* The node still answers. */
	CU_ASSERT_EQUAL(do_getattr(t, 1, NULL), 0);
}

static void test_status(void)
{
	Wormfs__StatusRequest r = WORMFS__STATUS_REQUEST__INIT;
	Wormfs__StatusReply *s;
	struct tnode *t = &shared;
	const char *id = wfs_node_id(t->n);

	CU_ASSERT_EQUAL_FATAL(call(t, "/wormfs.Admin/Status", &r.base,
				   &wormfs__status_reply__descriptor, &s), 0);
	CU_ASSERT_EQUAL(s->cluster_id.len, 32);
	CU_ASSERT_EQUAL(s->node_id.len, strlen(id));
	CU_ASSERT_EQUAL(s->leader_id.len, strlen(id));
	CU_ASSERT_EQUAL(memcmp(s->leader_id.data, id, strlen(id)), 0);
	CU_ASSERT(s->raft_applied_index > 0);
	CU_ASSERT(s->inodes > 1);
	CU_ASSERT_EQUAL_FATAL(s->n_nodes, 1);
	CU_ASSERT_STRING_EQUAL(s->nodes[0]->name, "node-1");
	CU_ASSERT_STRING_EQUAL(s->nodes[0]->role, "voter");
	CU_ASSERT_EQUAL(s->nodes[0]->n_disks, 3);
	if (s->nodes[0]->n_disks == 3) {
		CU_ASSERT_STRING_EQUAL(s->nodes[0]->disks[0]->state, "online");
		CU_ASSERT(s->nodes[0]->disks[0]->capacity > 0);
	}
	wfs_rpc_msg_free(&s->base);
}

/* ---- restart ---- */

static int count_files(const char *dir)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* A restart after raft took snapshots: the store is kept (it is ahead of
 * the snapshot), the log after it replays, nothing acknowledged is lost. */
static void test_restart(void)
{
	struct tnode t;
	uint64_t d, f, f2;
	char name[16], snaps[400];
	Wormfs__Attr a;

	CU_ASSERT_EQUAL_FATAL(tnode_make(&t, 3), 0);
	t.snapshot_threshold = 16;
	CU_ASSERT_EQUAL_FATAL(tnode_start(&t), 0);
	CU_ASSERT_EQUAL_FATAL(do_mkdir(&t, 1, "kept", &d), 0);
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "file%d", i);
		CU_ASSERT_EQUAL_FATAL(do_create(&t, d, name, O_CREAT, &f,
						NULL), 0);
	}
	tnode_stop(&t);
	snprintf(snaps, sizeof(snaps), "%s/snapshots", t.data);
	CU_ASSERT(count_files(snaps) >= 1);
	CU_ASSERT_EQUAL_FATAL(tnode_start(&t), 0);
	CU_ASSERT_EQUAL(do_lookup(&t, 1, "kept", &a), 0);
	CU_ASSERT_EQUAL(a.ino, d);
	CU_ASSERT_EQUAL(do_lookup(&t, d, "file39", &a), 0);
	CU_ASSERT_EQUAL(a.ino, f);
	/* New inodes continue after the old ones. */
	CU_ASSERT_EQUAL(do_create(&t, d, "more", O_CREAT, &f2, NULL), 0);
	CU_ASSERT(f2 > f);
	tnode_stop(&t);
}

/* The recorded state of disk @id, or -1 if not recorded. */
struct disk_state {
	const char *id;
	int state;
	int draining;
};

static int disk_state_cb(const struct wfs_meta_disk *dk, void *arg)
{
	struct disk_state *ds = arg;

	if (dk->id.len == strlen(ds->id) &&
	    memcmp(dk->id.data, ds->id, dk->id.len) == 0) {
		ds->state = (int)dk->state;
		ds->draining = dk->draining;
	}
	return 0;
}

static int recorded_state(struct wfs_node *n, const char *id)
{
	struct disk_state ds = { id, -1, -1 };
	struct wfs_meta *m = wfs_metafsm_read_begin(n->fsm);

	wfs_meta_disks(m, disk_state_cb, &ds);
	wfs_metafsm_read_end(n->fsm);
	return ds.state;
}

/* Write chunk @i of placement @p; the disk used into @used. */
static int write_one(struct tnode *t, const Wormfs__PlaceStripeReply *p,
		     uint64_t ino, size_t i, char *used)
{
	Wormfs__ChunkWriteRequest w = WORMFS__CHUNK_WRITE_REQUEST__INIT;
	Wormfs__ChunkHeader h = WORMFS__CHUNK_HEADER__INIT;
	Wormfs__ChunkWriteReply *wr;
	unsigned char data[4096];
	int rc;

	chunk_data(p->stripe_id, (uint32_t)i, data, sizeof(data));
	h.stripe_id = p->stripe_id;
	h.version = 1;
	h.ino = ino;
	h.index = (uint32_t)i;
	h.kind = p->kind;
	h.k = p->k;
	h.m = p->m;
	h.chunk_size = p->chunk_size;
	h.data_length = sizeof(data);
	h.stripe_length = 8192;
	h.data_crc32c = wfs_crc32c(0, data, sizeof(data));
	w.header = &h;
	w.disk_id = p->chunks[i]->disk_id;
	w.data = (ProtobufCBinaryData){ sizeof(data), data };
	rc = call(t, "/wormfs.Chunk/Write", &w.base,
		  &wormfs__chunk_write_reply__descriptor, &wr);
	if (rc)
		return rc;
	memcpy(used, wr->disk_id.data, wr->disk_id.len);
	used[wr->disk_id.len] = 0;
	wfs_rpc_msg_free(&wr->base);
	return 0;
}

/* A disk that disappears: a write aimed at it lands on another disk of the
 * node with no chunk of the stripe, the disk is recorded offline, and
 * placement no longer picks it. */
static void test_disk_offline(void)
{
	Wormfs__PlaceStripeReply *p;
	char dead[64], used[64];
	unsigned idx;
	struct tnode t;
	uint64_t f;
	int state = -1;

	CU_ASSERT_EQUAL_FATAL(tnode_make(&t, 4), 0);
	CU_ASSERT_EQUAL_FATAL(tnode_start(&t), 0);
	CU_ASSERT_EQUAL_FATAL(do_create(&t, 1, "f", O_CREAT, &f, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(place(&t, f, 0, &p), 0);
	memcpy(dead, p->chunks[0]->disk_id.data, p->chunks[0]->disk_id.len);
	dead[p->chunks[0]->disk_id.len] = 0;
	CU_ASSERT_EQUAL_FATAL(wfs_store_disk_find(t.n->store, dead, &idx), 0);
	CU_ASSERT_EQUAL_FATAL(wfs_test_rmtree(t.disk[idx]), 0);
	CU_ASSERT_EQUAL(write_one(&t, p, f, 1, used), 0);
	CU_ASSERT_EQUAL(write_one(&t, p, f, 2, used), 0);
	CU_ASSERT_EQUAL_FATAL(write_one(&t, p, f, 0, used), 0);
	CU_ASSERT(strcmp(used, dead) != 0);
	for (size_t i = 1; i < 3; i++)
		CU_ASSERT(p->chunks[i]->disk_id.len != strlen(used) ||
			  memcmp(p->chunks[i]->disk_id.data, used,
				 strlen(used)) != 0);
	wfs_rpc_msg_free(&p->base);
	/* Upkeep records it offline within a few refreshes. */
	for (int i = 0; i < 200 && state != WFS_PLACE_DISK_OFFLINE; i++) {
		usleep(50000);
		state = recorded_state(t.n, dead);
	}
	CU_ASSERT_EQUAL(state, WFS_PLACE_DISK_OFFLINE);
	for (uint64_t s = 1; s < 20; s++) {
		CU_ASSERT_EQUAL_FATAL(place(&t, f, s, &p), 0);
		for (size_t i = 0; i < p->n_chunks; i++)
			CU_ASSERT(p->chunks[i]->disk_id.len != strlen(dead) ||
				  memcmp(p->chunks[i]->disk_id.data, dead,
					 strlen(dead)) != 0);
		wfs_rpc_msg_free(&p->base);
	}
	tnode_stop(&t);
}

/* The draining flag of disk @id as recorded, or -1. */
static int recorded_draining(struct wfs_node *n, const char *id)
{
	struct disk_state ds = { id, -1, -1 };
	struct wfs_meta *m = wfs_metafsm_read_begin(n->fsm);

	wfs_meta_disks(m, disk_state_cb, &ds);
	wfs_metafsm_read_end(n->fsm);
	return ds.draining;
}

static int drain(struct tnode *t, const char *disk, bool undrain,
		 Wormfs__DiskDrainReply **out)
{
	Wormfs__DiskDrainRequest r = WORMFS__DISK_DRAIN_REQUEST__INIT;

	r.disk_id = bin(disk);
	r.undrain = undrain;
	return call(t, "/wormfs.Admin/DiskDrain", &r.base,
		    &wormfs__disk_drain_reply__descriptor, out);
}

static int move(struct tnode *t, uint64_t sid, uint32_t idx,
		const char *from_disk, const char *node, const char *disk)
{
	Wormfs__MoveChunkRequest r = WORMFS__MOVE_CHUNK_REQUEST__INIT;
	Wormfs__MoveChunkReply *rep;
	int rc;

	r.stripe_id = sid;
	r.index = idx;
	r.from_node_id = bin(wfs_node_id(t->n));
	r.from_disk_id = bin(from_disk);
	r.node_id = bin(node);
	r.disk_id = bin(disk);
	rc = call(t, "/wormfs.Admin/MoveChunk", &r.base,
		  &wormfs__move_chunk_reply__descriptor, &rep);
	if (rc == 0)
		wfs_rpc_msg_free(&rep->base);
	return rc;
}

/* Propose a plain CHUNK_SET: chunk @idx of @sid lives at @node/@disk. */
static void chunk_set(struct tnode *t, uint64_t sid, uint32_t idx,
		      const char *node, const char *disk)
{
	struct wfs_meta_op op = { .type = WFS_META_OP_CHUNK_SET };

	op.u.chunk.stripe_id = sid;
	op.u.chunk.loc.index = idx;
	op.u.chunk.loc.node = (struct wfs_meta_bytes){ node, strlen(node) };
	op.u.chunk.loc.disk = (struct wfs_meta_bytes){ disk, strlen(disk) };
	CU_ASSERT_EQUAL(wfs_node_propose_wait(t->n, &op, NULL), 0);
}

/* The garbage of stripe @sid as "index:node:disk;" text ("self" for
 * this node). */
struct garbage_text {
	const char *self;
	uint64_t sid;
	char buf[512];
};

static int garbage_cb(const struct wfs_meta_stripe *st, void *arg)
{
	struct garbage_text *g = arg;
	size_t used = strlen(g->buf);

	if (st->stripe_id != g->sid)
		return 1;
	for (uint32_t i = 0; i < st->nchunks && used < sizeof(g->buf); i++) {
		const struct wfs_meta_chunk_loc *c = &st->chunks[i];
		bool self = c->node.len == strlen(g->self) &&
			    memcmp(c->node.data, g->self, c->node.len) == 0;

		used += (size_t)snprintf(g->buf + used, sizeof(g->buf) - used,
					 "%u:%.*s:%.*s;", c->index,
					 self ? 4 : (int)c->node.len,
					 self ? "self" : (const char *)
							 c->node.data,
					 (int)c->disk.len,
					 (const char *)c->disk.data);
	}
	return 0;
}

static void garbage_of(struct tnode *t, uint64_t sid, struct garbage_text *g)
{
	struct wfs_meta *m = wfs_metafsm_read_begin(t->n->fsm);

	memset(g, 0, sizeof(*g));
	g->self = wfs_node_id(t->n);
	g->sid = sid;
	CU_ASSERT(wfs_meta_garbage(m, sid - 1, 1, garbage_cb, g) >= 0);
	wfs_metafsm_read_end(t->n->fsm);
}

struct chunk_where {
	uint32_t index;
	char *out;
};

static int where_cb(const struct wfs_meta_stripe *st, void *arg)
{
	struct chunk_where *w = arg;

	for (uint32_t i = 0; i < st->nchunks; i++)
		if (st->chunks[i].index == w->index) {
			memcpy(w->out, st->chunks[i].disk.data,
			       st->chunks[i].disk.len);
			w->out[st->chunks[i].disk.len] = 0;
		}
	return 0;
}

/* The disk chunk @idx of @sid is recorded on, into @out. */
static const char *disk_of(struct tnode *t, uint64_t sid, uint32_t idx,
			   char out[WFS_META_ID_MAX + 1])
{
	struct chunk_where w = { idx, out };
	struct wfs_meta *m = wfs_metafsm_read_begin(t->n->fsm);

	out[0] = 0;
	CU_ASSERT_EQUAL(wfs_meta_stripe_get(m, sid, where_cb, &w), 0);
	wfs_metafsm_read_end(t->n->fsm);
	return out;
}

static void id_of(const ProtobufCBinaryData *b, char *out)
{
	memcpy(out, b->data, b->len);
	out[b->len] = 0;
}

/* MoveChunk checks the copy it records: a target with no such copy is
 * refused before anything is proposed, and the chunk stays. */
static void check_moves_refused(struct tnode *t,
				const Wormfs__PlaceStripeReply *p,
				const char *spare)
{
	struct garbage_text g;
	char d0[64], where[WFS_META_ID_MAX + 1];

	id_of(&p->chunks[0]->disk_id, d0);
	/* a node nobody knows: not reachable, nothing recorded */
	CU_ASSERT_NOT_EQUAL(move(t, p->stripe_id, 0, d0, "nodeX", "diskX"), 0);
	/* this node, a disk that does not hold it (the chunk is on d0) */
	CU_ASSERT_EQUAL(move(t, p->stripe_id, 0, d0, wfs_node_id(t->n),
			     spare), -EXDEV);
	CU_ASSERT_EQUAL(move(t, p->stripe_id, 0, d0, wfs_node_id(t->n),
			     "nope"), -ENOENT);
	/* nothing recorded: the chunk stays, no garbage */
	CU_ASSERT_STRING_EQUAL(disk_of(t, p->stripe_id, 0, where), d0);
	garbage_of(t, p->stripe_id, &g);
	CU_ASSERT_STRING_EQUAL(g.buf, "");
}

/* Draining is a flag of its own: the disk shows online and draining,
 * and its node's own reports leave the flag as the operator set it. */
static void check_drain_flag(struct tnode *t, const char *spare)
{
	Wormfs__DiskDrainReply *dr;

	CU_ASSERT_EQUAL_FATAL(drain(t, spare, false, &dr), 0);
	CU_ASSERT(dr->draining);
	CU_ASSERT_STRING_EQUAL(dr->state, "online");
	wfs_rpc_msg_free(&dr->base);
	CU_ASSERT_EQUAL(drain(t, spare, false, &dr), -EALREADY);
	/* upkeep measures the disk every 200 ms and reports what changed:
	 * give it a few rounds (the flag must hold however many) */
	usleep(600000);
	CU_ASSERT_EQUAL(recorded_draining(t->n, spare), 1);
	CU_ASSERT_EQUAL(recorded_state(t->n, spare), WFS_PLACE_DISK_ONLINE);
	CU_ASSERT_EQUAL_FATAL(drain(t, spare, true, &dr), 0);
	CU_ASSERT(!dr->draining);
	wfs_rpc_msg_free(&dr->base);
	CU_ASSERT_EQUAL(recorded_draining(t->n, spare), 0);
	CU_ASSERT_EQUAL(drain(t, spare, true, &dr), -EALREADY);
}

/* The collector deletes the copy its garbage entry names, on that disk
 * only, keeps the entry while the disk is offline (never deleting the
 * live copy on another disk instead), and settles only its own entries:
 * another node's garbage of the same chunk stays listed for it. */
static void test_gc_and_moves(void)
{
	Wormfs__PlaceStripeReply *p;
	Wormfs__ChunkReadReply *rd;
	struct garbage_text g, want;
	char spare[64], d1[64], d2[64], used[64];
	unsigned idx, has = 0;
	struct tnode t;
	uint64_t f, v;

	CU_ASSERT_EQUAL_FATAL(tnode_make(&t, 4), 0);
	CU_ASSERT_EQUAL_FATAL(tnode_start(&t), 0);
	CU_ASSERT_EQUAL_FATAL(do_create(&t, 1, "f", O_CREAT, &f, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(place(&t, f, 0, &p), 0);
	write_chunks(f, 0, p);
	CU_ASSERT_EQUAL_FATAL(commit(&t, f, 0, p, 0, &v), 0);
	for (size_t i = 0; i < p->n_chunks; i++) {
		char id[64];

		id_of(&p->chunks[i]->disk_id, id);
		CU_ASSERT_EQUAL_FATAL(wfs_store_disk_find(t.n->store, id,
							  &idx), 0);
		has |= 1u << idx;
	}
	for (idx = 0; idx < 4 && (has & 1u << idx); idx++)
		;
	CU_ASSERT_FATAL(idx < 4);
	{
		struct wfs_store_disk_info info;

		wfs_store_disk_info(t.n->store, idx, &info);
		snprintf(spare, sizeof(spare), "%s", info.id);
	}
	id_of(&p->chunks[1]->disk_id, d1);
	id_of(&p->chunks[2]->disk_id, d2);
	check_moves_refused(&t, p, spare);
	check_drain_flag(&t, spare);

	/* d2 goes away; chunk 2 is written again onto the spare disk and
	 * recorded there: its old place is garbage on an offline disk */
	CU_ASSERT_EQUAL_FATAL(wfs_store_disk_find(t.n->store, d2, &idx), 0);
	CU_ASSERT_EQUAL_FATAL(wfs_test_rmtree(t.disk[idx]), 0);
	CU_ASSERT_NOT_EQUAL(read_chunk(&t, p->stripe_id, 1, 2, 0, 0, &rd), 0);
	CU_ASSERT_EQUAL_FATAL(write_one(&t, p, f, 2, used), 0);
	CU_ASSERT_STRING_EQUAL(used, spare);
	chunk_set(&t, p->stripe_id, 2, wfs_node_id(t.n), used);
	/* chunk 1 went to another node, then a third: garbage here and
	 * there */
	chunk_set(&t, p->stripe_id, 1, "nodeX", "diskX");
	chunk_set(&t, p->stripe_id, 1, "nodeY", "diskY");
	garbage_of(&t, p->stripe_id, &g);
	memset(&want, 0, sizeof(want));
	/* (listed by node id: this node's, hex digits, comes first) */
	snprintf(want.buf, sizeof(want.buf), "1:self:%s;1:nodeX:diskX;"
		 "2:self:%s;", d1, d2);
	CU_ASSERT_STRING_EQUAL(g.buf, want.buf);

	/* one pass: d1's copy deleted, the rest kept */
	CU_ASSERT_EQUAL(wfs_gc_run(t.n->gc), 1);
	CU_ASSERT_EQUAL(read_chunk(&t, p->stripe_id, 1, 1, 0, 0, &rd),
			-ENOENT);
	CU_ASSERT_EQUAL_FATAL(read_chunk(&t, p->stripe_id, 1, 2, 0, 0, &rd),
			      0);
	wfs_rpc_msg_free(&rd->base);
	garbage_of(&t, p->stripe_id, &g);
	snprintf(want.buf, sizeof(want.buf), "1:nodeX:diskX;2:self:%s;", d2);
	CU_ASSERT_STRING_EQUAL(g.buf, want.buf);
	/* and again: nothing changes while d2 is away */
	CU_ASSERT_EQUAL(wfs_gc_run(t.n->gc), 0);
	CU_ASSERT_EQUAL_FATAL(read_chunk(&t, p->stripe_id, 1, 2, 0, 0, &rd),
			      0);
	wfs_rpc_msg_free(&rd->base);
	garbage_of(&t, p->stripe_id, &g);
	CU_ASSERT_STRING_EQUAL(g.buf, want.buf);
	wfs_rpc_msg_free(&p->base);
	tnode_stop(&t);
}

static CU_TestInfo node_tests[] = {
	{ "create, lookup, getattr", test_create_lookup },
	{ "readdir in pages", test_readdir_pages },
	{ "rename, unlink, release", test_rename_unlink_release },
	{ "unlink that purges, replies with the directory",
	  test_unlink_purge_parent_attrs },
	{ "symlink, link, xattrs, setattr, statfs", test_links_xattrs_attrs },
	{ "locks", test_locks },
	{ "stripes: place, write, commit, read, collect", test_stripes },
	{ "GetLayout brings a small file's first copy", test_first_copy },
	{ "first copies asked for in order are read ahead",
	  test_prefetch_in_order },
	{ "parallel placements get distinct ids", test_parallel_placement },
	{ "unlink many in one call", test_unlink_many },
	{ "early creates: inode numbers, leases, create many",
	  test_create_many_leases },
	{ "a file made early is placed before its create applies",
	  test_place_before_create },
	{ "malformed requests get errors", test_malformed },
	{ "chunk checks and size limits", test_chunk_checks },
	{ "admin status", test_status },
	{ "restart after snapshots keeps metadata", test_restart },
	{ "a disk goes offline", test_disk_offline },
	{ "gc settles exact copies; moves are checked", test_gc_and_moves },
	CU_TEST_INFO_NULL,
};
WFS_TEST_SUITE("node", node_tests, suite_init, suite_cleanup)
