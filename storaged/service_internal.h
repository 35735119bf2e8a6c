/* storaged/service_internal: what the API handlers of storaged share
 * (meta_service.c, meta_mutate.c, stripe_service.c, admin_service.c):
 * request checks, the conversion of attributes, and the machinery of a
 * mutation answered once its raft entry has applied.  Only storaged/
 * includes it. */
#ifndef WFS_STORAGED_SERVICE_INTERNAL_H
#define WFS_STORAGED_SERVICE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "metadata/meta.h"
#include "proto/wormfs.pb-c.h"
#include "rpc/rpc.h"
#include "storaged/metafsm.h"

struct wfs_node;

/* Route the Meta mutations (meta_mutate.c) on @s to node @n.  Returns 0
 * or the error of wfs_rpc_server_handle. */
int wfs_svc_register_mutations(struct wfs_node *n, struct wfs_rpc_server *s);

/* Route UnlinkMany, CreateMany, Lease and ReserveInos (meta_behind.c) on
 * @s to node @n.  Returns 0 or the error of wfs_rpc_server_handle. */
int wfs_svc_register_behind(struct wfs_node *n, struct wfs_rpc_server *s);

/* Most inodes an Unlink may list as open (RemoveRequest.open_inos). */
#define WFS_SVC_OPEN_INOS_MAX 1024

/* Names of the methods, "/wormfs.<Service>/<Method>". */
#define WFS_SVC_META(m) "/wormfs.Meta/" m

/* Unpack the @len request bytes at @req as a @desc message into *@out
 * (release with wfs_rpc_msg_free).  Returns 0, -EINVAL if the bytes are
 * not such a message, or -ENOMEM. */
int wfs_svc_unpack(const ProtobufCMessageDescriptor *desc, const void *req,
		   size_t len, void *out);

/* Check an xattr name: 1..WFS_META_XATTR_NAME_MAX bytes without NUL (a C
 * string in the kernel's API).  Returns 0 and sets *out, -EINVAL, or
 * -ERANGE when too long. */
int wfs_svc_xattr_name(const ProtobufCBinaryData *b,
		       struct wfs_meta_bytes *out);

/* Check a name from a request (an entry name): 1..WFS_META_NAME_MAX bytes,
 * no '/' or NUL.  Returns 0 and sets *out (borrowing the request's bytes),
 * -EINVAL or -ENAMETOOLONG.  The store checks again when applying. */
int wfs_svc_name(const ProtobufCBinaryData *b, struct wfs_meta_bytes *out);

/* Start an op of @type at the node's wall clock for @caller (may be NULL:
 * uid and gid 0). */
void wfs_svc_op_init(struct wfs_meta_op *op, uint32_t type,
		     const Wormfs__Caller *caller);

/* Fill @out, a Wormfs__Attr (initialised here), from @a.  @m is the store
 * (read-locked by the caller) for the file's policy, which gives blksize.
 * No allocation. */
void wfs_svc_attr(struct wfs_meta *m, const struct wfs_meta_attr *a,
		  Wormfs__Attr *out);

/* The umask of @caller (NULL: none), as the node applies it to created
 * modes. */
uint32_t wfs_svc_umask(const Wormfs__Caller *caller);

/* The MKNOD op of Create request @r for the checked name @name (borrowed
 * from @r): mode, the client's inode number and, when near the node's
 * clock, its time. */
void wfs_svc_create_op(const Wormfs__CreateRequest *r,
		       struct wfs_meta_bytes name, struct wfs_meta_op *op);

/* Directory @d of an op's result into @out: returns @out, or NULL when the
 * op reported none (ino 0).  No store read. */
Wormfs__Attr *wfs_svc_dir_attr(const struct wfs_meta_attr *d,
			       Wormfs__Attr *out);

/* The inode an Unlink asking to purge (@r->purge) may drop with @name: the
 * one the name leads to now, unless @r lists it open (0: none).  Reads
 * the store; a handler's thread. */
uint64_t wfs_svc_purge_target(struct wfs_node *n,
			      const Wormfs__RemoveRequest *r,
			      struct wfs_meta_bytes name);

/* Pack @msg as a reply into *buf and *len (wfs_malloc).  Returns 0 or
 * -ENOMEM. */
int wfs_svc_pack(const ProtobufCMessage *msg, void **buf, size_t *len);

/* A mutation waiting for its entry to apply.  The handler allocates it
 * (wfs_svc_pending_new), fills the fields its reply needs, and passes it
 * to wfs_svc_propose, which owns it from then on. */
struct wfs_svc_pending;

/* Build the reply of an applied entry: @rc is 0 or the error (proposal
 * error or the op's status), @res the entry's result (NULL when the
 * proposal failed).  Set *buf and *len and return 0, or return a negative
 * errno to fail the call, or return WFS_SVC_CHAINED after proposing a
 * follow-up with wfs_svc_chain (the call stays open).  Raft thread; the
 * store may be read between wfs_metafsm_read_begin/_end. */
typedef int (*wfs_svc_reply_cb)(struct wfs_svc_pending *p, int rc,
				const struct wfs_metafsm_result *res,
				void **buf, size_t *len);
#define WFS_SVC_CHAINED 1

struct wfs_svc_pending {
	struct wfs_node *n;
	struct wfs_rpc_call *call;
	wfs_svc_reply_cb reply;
	int stage;			/* for replies in several steps */
	uint32_t flags;			/* the request's flags */
	uint64_t ino;			/* an inode the reply needs */
	uint32_t uid, gid;		/* the caller's, for follow-ups */
	size_t name_len;
	unsigned char name[WFS_META_NAME_MAX];	/* a copy of a name */
	/* The client's request name (wfs_rpc_reply_request_id), given to
	 * the ops proposed for it: the first as it is, later stages with
	 * "/<stage>" appended, so a retry applies none of them twice. */
	char request[WFS_META_REQUEST_MAX + 1];
	size_t request_len;		/* of the name; 0: none */
};

/* A zeroed pending mutation for node @n answering through @reply_cb.
 * Returns NULL when out of memory. */
struct wfs_svc_pending *wfs_svc_pending_new(struct wfs_node *n,
					    wfs_svc_reply_cb reply_cb);

/* Propose @op for the call of @reply (the handler's), answered later by
 * @p->reply; @p is taken whatever happens.  Returns 0, which the handler
 * returns: the call is answered later, with the error if the proposal
 * failed at once. */
int wfs_svc_propose(struct wfs_svc_pending *p, struct wfs_rpc_reply *reply,
		    const struct wfs_meta_op *op);

/* From a reply callback: propose follow-up @op for the same call; the
 * reply callback runs again with its result.  Returns 0 (the callback then
 * returns WFS_SVC_CHAINED) or a negative errno (then it fails the call). */
int wfs_svc_chain(struct wfs_svc_pending *p, const struct wfs_meta_op *op);

#endif
