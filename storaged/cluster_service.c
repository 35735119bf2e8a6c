/* storaged/cluster_service: NodeAdd, NodeRemove, Join and the voter
 * balance (see cluster_service.h).
 *
 * Admission is the node record: a key is admitted when the record of the
 * node id it derives exists (NodeAdd makes it, NodeRemove drops it), so
 * the replicated metadata is the one list of admitted keys.  The master
 * admits itself when it first records itself.
 */
#include "storaged/cluster_service.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "log/log.h"
#include "mem/mem.h"
#include "placement/place.h"
#include "storaged/liveness.h"
#include "storaged/node_internal.h"
#include "storaged/service_internal.h"

#define SUB "cluster"

struct wfs_clustersvc {
	struct wfs_node *n;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned running;	/* calls on their threads; lock */
};

/* ---- waiting for raft from a worker thread ---- */

struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int rc;
};

static void waiter_init(struct waiter *w)
{
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->done = false;
	w->rc = 0;
}

static void waiter_done(void *arg, int rc, void *result)
{
	struct waiter *w = arg;

	(void)result;
	pthread_mutex_lock(&w->lock);
	w->rc = rc;
	w->done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* Wait for the callback, if @rc (the queueing call's) says it will come. */
static int waiter_wait(struct waiter *w, int rc)
{
	if (rc == 0) {
		pthread_mutex_lock(&w->lock);
		while (!w->done)
			pthread_cond_wait(&w->cond, &w->lock);
		rc = w->rc;
		pthread_mutex_unlock(&w->lock);
	}
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	return rc == -EREMOTE ? -EAGAIN : rc;
}

/* The group's members into *out (wfs_free it), *count of them: all of
 * them, however many.  Returns 0 or -ENOMEM. */
static int members_copy(struct wfs_node *n, struct wfs_raftlog_member **out,
			unsigned *count)
{
	unsigned cap = wfs_raftlog_members(n->raft, NULL, 0) + 8;

	for (;;) {
		struct wfs_raftlog_member *v = wfs_calloc(cap, sizeof(*v));
		unsigned got;

		if (!v)
			return -ENOMEM;
		got = wfs_raftlog_members(n->raft, v, cap);
		if (got <= cap) {
			*out = v;
			*count = got;
			return 0;
		}
		wfs_free(v);
		cap = got + 8;
	}
}

/* The raft role of member @raft_id: 0 not a member, -1 a spare (added,
 * role not given yet), or a negative errno below -1. */
static int member_role(struct wfs_node *n, uint64_t raft_id)
{
	struct wfs_raftlog_member *v;
	unsigned count;
	int role = 0;

	if (members_copy(n, &v, &count) != 0)
		return -ENOMEM;
	for (unsigned i = 0; i < count; i++)
		if (v[i].id == raft_id)
			role = v[i].role ? (int)v[i].role : -1;
	wfs_free(v);
	return role;
}

static int change_member(struct wfs_node *n, uint64_t raft_id,
			 const char *addr, enum wfs_raftlog_member_role role)
{
	struct waiter w;

	waiter_init(&w);
	return waiter_wait(&w, wfs_raftlog_add_member(n->raft, raft_id, addr,
						      role, waiter_done, &w));
}

static int remove_member(struct wfs_node *n, uint64_t raft_id)
{
	struct waiter w;

	waiter_init(&w);
	return waiter_wait(&w, wfs_raftlog_remove_voter(n->raft, raft_id,
							waiter_done, &w));
}

/* ---- calls on worker threads ---- */

struct job {
	struct wfs_clustersvc *cs;
	struct wfs_rpc_call *call;
	int (*run)(struct wfs_node *n, const void *req, size_t len,
		   void **buf, size_t *blen);
	void *req;
	size_t len;
};

static void *job_main(void *arg)
{
	struct job *j = arg;
	struct wfs_clustersvc *cs = j->cs;
	void *buf = NULL;
	size_t blen = 0;
	int rc = j->run(cs->n, j->req, j->len, &buf, &blen);

	wfs_rpc_call_finish(j->call, rc, buf, blen);
	wfs_free(j->req);
	wfs_free(j);
	pthread_mutex_lock(&cs->lock);
	if (--cs->running == 0)
		pthread_cond_broadcast(&cs->cond);
	pthread_mutex_unlock(&cs->lock);
	return NULL;
}

/* Run @run on a thread of its own and answer the call from there. */
static int spawn(struct wfs_clustersvc *cs, struct wfs_rpc_reply *reply,
		 int (*run)(struct wfs_node *, const void *, size_t, void **,
			    size_t *),
		 const void *req, size_t len)
{
	struct job *j;
	pthread_attr_t attr;
	pthread_t t;
	int rc = wfs_node_serving(cs->n);

	if (rc)
		return rc;
	j = wfs_calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->req = wfs_malloc(len ? len : 1);
	if (!j->req) {
		wfs_free(j);
		return -ENOMEM;
	}
	memcpy(j->req, req, len);
	j->len = len;
	j->cs = cs;
	j->run = run;
	pthread_mutex_lock(&cs->lock);
	cs->running++;
	pthread_mutex_unlock(&cs->lock);
	j->call = wfs_rpc_reply_later(reply);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = -pthread_create(&t, &attr, job_main, j);
	pthread_attr_destroy(&attr);
	if (rc) {
		/* Answered here: the handler's return is ignored now. */
		wfs_rpc_call_finish(j->call, rc, NULL, 0);
		wfs_free(j->req);
		wfs_free(j);
		pthread_mutex_lock(&cs->lock);
		if (--cs->running == 0)
			pthread_cond_broadcast(&cs->cond);
		pthread_mutex_unlock(&cs->lock);
	}
	return 0;
}

static int key_identity(ProtobufCBinaryData key, struct wfs_identity *id)
{
	if (key.len != WFS_IDENTITY_PK_LEN)
		return -EINVAL;
	return wfs_identity_from_pk(key.data, id);
}

/* ---- NodeAdd ---- */

static int run_node_add(struct wfs_node *n, const void *req, size_t len,
			void **buf, size_t *blen)
{
	Wormfs__NodeAddRequest *r;
	Wormfs__NodeAddReply ar = WORMFS__NODE_ADD_REPLY__INIT;
	struct wfs_identity id;
	struct wfs_node_record rec;
	int rc;

	rc = wfs_svc_unpack(&wormfs__node_add_request__descriptor, req, len,
			    (ProtobufCMessage **)&r);
	if (rc)
		return rc;
	rc = key_identity(r->public_key, &id);
	wfs_rpc_msg_free(&r->base);
	if (rc)
		return rc;
	rc = wfs_node_record_find(n, id.node_id, &rec);
	/* Admitted, never seen: no address, so nothing is placed on it. */
	if (rc == 0 && !rec.found)
		rc = wfs_node_record_set(n, id.node_id, "", "",
					 WFS_NODE_ROLE_STANDBY,
					 WFS_NODE_STATE_DEAD);
	if (rc == 0 && !rec.found)
		wfs_log_info(SUB, "node %s admitted", id.node_id);
	if (rc == 0) {
		ar.node_id.data = (uint8_t *)id.node_id;
		ar.node_id.len = strlen(id.node_id);
		rc = wfs_svc_pack(&ar.base, buf, blen);
	}
	wfs_identity_release(&id);
	return rc;
}

/* ---- NodeRemove ---- */

static int run_node_remove(struct wfs_node *n, const void *req, size_t len,
			   void **buf, size_t *blen)
{
	Wormfs__NodeRemoveRequest *r;
	Wormfs__NodeRemoveReply rr = WORMFS__NODE_REMOVE_REPLY__INIT;
	struct wfs_meta_op op = { .type = WFS_META_OP_NODE_REMOVE };
	char id[WFS_META_ID_MAX + 1];
	struct wfs_node_record rec;
	uint64_t raft_id;
	int rc, role;

	rc = wfs_svc_unpack(&wormfs__node_remove_request__descriptor, req,
			    len, (ProtobufCMessage **)&r);
	if (rc)
		return rc;
	if (r->node_id.len == 0 || r->node_id.len > WFS_META_ID_MAX)
		rc = -EINVAL;
	else
		snprintf(id, sizeof(id), "%.*s", (int)r->node_id.len,
			 (const char *)r->node_id.data);
	wfs_rpc_msg_free(&r->base);
	if (rc)
		return rc;
	raft_id = wfs_identity_raft_id(id, strlen(id));
	if (strcmp(id, n->id.node_id) == 0) {
		wfs_log_warn(SUB, "refused to remove node %s: it is the master;"
			     " stop it first and remove it from another node",
			     id);
		return -EBUSY;
	}
	rc = wfs_node_record_find(n, id, &rec);
	if (rc == 0 && !rec.found)
		rc = -ENOENT;
	role = rc == 0 && raft_id ? member_role(n, raft_id) : 0;
	if (role < -1)
		rc = role;
	if (rc == 0 && role)
		rc = remove_member(n, raft_id);
	if (rc == 0) {
		op.time_ns = wfs_node_now_ns();
		op.u.node.id = (struct wfs_meta_bytes){ id, strlen(id) };
		rc = wfs_node_propose_wait(n, &op, NULL);
	}
	if (rc == 0)
		wfs_log_info(SUB, "node %s (%s) removed from the cluster", id,
			     rec.name[0] ? rec.name : "never joined");
	return rc ? rc : wfs_svc_pack(&rr.base, buf, blen);
}

/* ---- join tokens ---- */

#define TOKEN_BYTES 32
#define TOKEN_KEY "join_token"

/* The cluster's join token (hex) into @hex; -ENOENT if none was made. */
static int token_get(struct wfs_node *n, char hex[2 * TOKEN_BYTES + 1])
{
	struct wfs_meta *m = wfs_metafsm_read_begin(n->fsm);
	int rc = m ? wfs_meta_setting(m, TOKEN_KEY, hex, 2 * TOKEN_BYTES) : -EIO;

	wfs_metafsm_read_end(n->fsm);
	if (rc >= 0 && rc != 2 * TOKEN_BYTES)
		rc = -ENOENT;
	if (rc >= 0)
		hex[2 * TOKEN_BYTES] = 0;
	return rc < 0 ? rc : 0;
}

/* Whether Join request @r proves knowledge of the cluster's join token
 * (see JoinRequest.token_proof). */
static bool token_ok(struct wfs_node *n, const Wormfs__JoinRequest *r)
{
	char hex[2 * TOKEN_BYTES + 1];
	unsigned char key[crypto_auth_KEYBYTES];
	bool ok;

	if (r->token_proof.len != crypto_auth_BYTES ||
	    r->public_key.len != WFS_IDENTITY_PK_LEN || token_get(n, hex) != 0)
		return false;
	crypto_generichash(key, sizeof(key), (const unsigned char *)hex,
			   2 * TOKEN_BYTES, NULL, 0);
	ok = crypto_auth_verify(r->token_proof.data, r->public_key.data,
				r->public_key.len, key) == 0;
	sodium_memzero(key, sizeof(key));
	sodium_memzero(hex, sizeof(hex));
	return ok;
}

static int run_join_token(struct wfs_node *n, const void *req, size_t len,
			  void **buf, size_t *blen)
{
	Wormfs__JoinTokenRequest *r;
	Wormfs__JoinTokenReply tr = WORMFS__JOIN_TOKEN_REPLY__INIT;
	struct wfs_meta_op op = { .type = WFS_META_OP_SETTING_SET };
	char hex[2 * TOKEN_BYTES + 1];
	unsigned char raw[TOKEN_BYTES];
	bool renew;
	int rc;

	rc = wfs_svc_unpack(&wormfs__join_token_request__descriptor, req, len,
			    (ProtobufCMessage **)&r);
	if (rc)
		return rc;
	renew = r->renew;
	wfs_rpc_msg_free(&r->base);
	rc = renew ? -ENOENT : token_get(n, hex);
	if (rc == -ENOENT) {
		randombytes_buf(raw, sizeof(raw));
		sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
		sodium_memzero(raw, sizeof(raw));
		op.time_ns = wfs_node_now_ns();
		op.u.setting.key = (struct wfs_meta_bytes){
			TOKEN_KEY, strlen(TOKEN_KEY) };
		op.u.setting.value = (struct wfs_meta_bytes){
			hex, 2 * TOKEN_BYTES };
		rc = wfs_node_propose_wait(n, &op, NULL);
		if (rc == 0)
			wfs_log_info(SUB, "a new join token was made%s",
				     renew ? "; the old one no longer works"
					   : "");
	}
	if (rc == 0) {
		tr.token = hex;
		rc = wfs_svc_pack(&tr.base, buf, blen);
	}
	sodium_memzero(hex, sizeof(hex));
	return rc;
}

/* ---- Join ---- */

static int join_disks(struct wfs_node *n, const char *node_id,
		      const Wormfs__JoinRequest *r)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < r->n_disks; i++) {
		const Wormfs__JoinDisk *d = r->disks[i];
		struct wfs_meta_op op = { .type = WFS_META_OP_DISK_SET };

		if (d->disk_id.len == 0 || d->disk_id.len > WFS_META_ID_MAX)
			return -EINVAL;
		op.time_ns = wfs_node_now_ns();
		op.u.disk.id = (struct wfs_meta_bytes){ d->disk_id.data,
							d->disk_id.len };
		op.u.disk.node_id = (struct wfs_meta_bytes){
			node_id, strlen(node_id) };
		op.u.disk.path = (struct wfs_meta_bytes){ d->path,
							  strlen(d->path) };
		op.u.disk.capacity = d->capacity;
		op.u.disk.free = d->free;
		op.u.disk.state = d->online ? WFS_PLACE_DISK_ONLINE
					    : WFS_PLACE_DISK_OFFLINE;
		/* Never the draining flag: DISK_SET leaves it as recorded,
		 * so no Join racing DiskDrain can undo a drain. */
		rc = wfs_node_propose_wait(n, &op, NULL);
	}
	return rc;
}

static int run_join(struct wfs_node *n, const void *req, size_t len,
		    void **buf, size_t *blen)
{
	Wormfs__JoinRequest *r;
	Wormfs__JoinReply jr = WORMFS__JOIN_REPLY__INIT;
	struct wfs_identity id;
	struct wfs_node_record rec;
	char cluster[WFS_META_ID_MAX];
	uint32_t role;
	int rc, member;

	rc = wfs_svc_unpack(&wormfs__join_request__descriptor, req, len,
			    (ProtobufCMessage **)&r);
	if (rc)
		return rc;
	rc = key_identity(r->public_key, &id);
	if (rc)
		goto out_free;
	if (!r->name[0] || strlen(r->name) > WFS_META_NAME_MAX ||
	    !r->api_addr[0] || strlen(r->api_addr) > WFS_META_ADDR_MAX ||
	    !r->raft_addr[0] || strlen(r->raft_addr) >= WFS_RAFTLOG_ADDR_MAX) {
		rc = -EINVAL;
		goto out_release;
	}
	rc = wfs_node_record_find(n, id.node_id, &rec);
	if (rc)
		goto out_release;
	if (!rec.found && token_ok(n, r)) {
		rc = wfs_node_record_set(n, id.node_id, "", "",
					 WFS_NODE_ROLE_STANDBY,
					 WFS_NODE_STATE_DEAD);
		if (rc)
			goto out_release;
		wfs_log_info(SUB, "node %s (%s, %s) admitted by the join token",
			     id.node_id, r->name, r->api_addr);
		rec.found = true;
		rec.state = WFS_NODE_STATE_DEAD;
	}
	if (!rec.found) {
		wfs_log_warn(SUB, "node %s (%s, %s) asked to join with a key "
			     "the cluster has not admitted (wormctl node add)",
			     id.node_id, r->name, r->api_addr);
		rc = -EACCES;
		goto out_release;
	}
	role = r->voter ? WFS_NODE_ROLE_VOTER : WFS_NODE_ROLE_STANDBY;
	if (strcmp(rec.name, r->name) || strcmp(rec.addr, r->api_addr) ||
	    rec.role != role || rec.state != WFS_NODE_STATE_ALIVE) {
		rc = wfs_node_record_set(n, id.node_id, r->name,
					 r->api_addr, role,
					 WFS_NODE_STATE_ALIVE);
		if (rc == 0)
			wfs_log_info(SUB, "node %s (%s) joined: api %s, raft "
				     "%s", id.node_id, r->name, r->api_addr,
				     r->raft_addr);
	}
	if (rc == 0)
		rc = join_disks(n, id.node_id, r);
	member = rc == 0 ? member_role(n, id.raft_id) : 0;
	if (member < -1)
		rc = member;
	/* A new member starts as a standby: it catches up with the log
	 * without slowing commits, and the balance promotes it.  A spare
	 * (added, but leadership changed before it got its role) gets it
	 * now.  A member's role is never changed here. */
	if (rc == 0 && (member == 0 || member == -1))
		rc = change_member(n, id.raft_id, r->raft_addr,
				   WFS_RAFTLOG_MEMBER_STANDBY);
	if (rc == 0) {
		struct wfs_meta *m = wfs_metafsm_read_begin(n->fsm);
		int len2 = m ? wfs_meta_cluster_id(m, cluster,
						   sizeof(cluster)) : -EIO;

		wfs_metafsm_read_end(n->fsm);
		rc = len2 < 0 ? len2 : 0;
		jr.cluster_id.data = (uint8_t *)cluster;
		jr.cluster_id.len = len2 < 0 ? 0 : (size_t)len2;
	}
	if (rc == 0) {
		member = member_role(n, id.raft_id);
		jr.role = member == WFS_RAFTLOG_MEMBER_VOTER ? "voter"
							      : "standby";
		jr.master_key.data = n->id.pk;
		jr.master_key.len = sizeof(n->id.pk);
		jr.gossip_addr = (char *)wfs_liveness_addr(n->liveness);
		if (r->gossip_addr[0])
			wfs_liveness_join(n->liveness, r->gossip_addr);
		rc = wfs_svc_pack(&jr.base, buf, blen);
	}
out_release:
	wfs_identity_release(&id);
out_free:
	wfs_rpc_msg_free(&r->base);
	return rc;
}

/* ---- handlers ---- */

static int h_node_add(void *arg, const void *req, size_t len,
		      struct wfs_rpc_reply *reply)
{
	return spawn(arg, reply, run_node_add, req, len);
}

static int h_node_remove(void *arg, const void *req, size_t len,
			 struct wfs_rpc_reply *reply)
{
	return spawn(arg, reply, run_node_remove, req, len);
}

static int h_join(void *arg, const void *req, size_t len,
		  struct wfs_rpc_reply *reply)
{
	return spawn(arg, reply, run_join, req, len);
}

static int h_join_token(void *arg, const void *req, size_t len,
			struct wfs_rpc_reply *reply)
{
	return spawn(arg, reply, run_join_token, req, len);
}

int wfs_clustersvc_register(struct wfs_node *n, struct wfs_rpc_server *s,
			    struct wfs_clustersvc **out)
{
	struct wfs_clustersvc *cs = wfs_calloc(1, sizeof(*cs));
	int rc;

	*out = NULL;
	if (!cs)
		return -ENOMEM;
	cs->n = n;
	pthread_mutex_init(&cs->lock, NULL);
	pthread_cond_init(&cs->cond, NULL);
	rc = wfs_rpc_server_handle(s, "/wormfs.Admin/NodeAdd", h_node_add, cs);
	if (rc == 0)
		rc = wfs_rpc_server_handle(s, "/wormfs.Admin/NodeRemove",
					   h_node_remove, cs);
	if (rc == 0)
		rc = wfs_rpc_server_handle(s, "/wormfs.Admin/Join", h_join,
					   cs);
	if (rc == 0)
		rc = wfs_rpc_server_handle(s, "/wormfs.Admin/JoinToken",
					   h_join_token, cs);
	/* Routed or not, the server may hold @cs: the caller frees it after
	 * the server. */
	*out = cs;
	return rc;
}

void wfs_clustersvc_free(struct wfs_clustersvc *cs)
{
	if (!cs)
		return;
	pthread_mutex_lock(&cs->lock);
	while (cs->running)
		pthread_cond_wait(&cs->cond, &cs->lock);
	pthread_mutex_unlock(&cs->lock);
	pthread_cond_destroy(&cs->cond);
	pthread_mutex_destroy(&cs->lock);
	wfs_free(cs);
}

/* ---- the voter balance ---- */

struct balance {
	struct wfs_raftlog_member *members;
	unsigned nmembers;
	uint64_t promote;	/* a standby to make a voter (0: none) */
	char promote_addr[WFS_RAFTLOG_ADDR_MAX];
	uint64_t demote;	/* a dead voter to make a standby */
	char demote_addr[WFS_RAFTLOG_ADDR_MAX];
	unsigned voters;
	unsigned reachable_voters; /* raft heard from them lately */
};

static int balance_cb(const struct wfs_meta_node *nd, void *arg)
{
	struct balance *b = arg;
	uint64_t raft_id = wfs_identity_raft_id((const char *)nd->id.data,
						nd->id.len);
	bool alive = nd->state == WFS_NODE_STATE_ALIVE;

	for (unsigned i = 0; i < b->nmembers; i++) {
		const struct wfs_raftlog_member *mb = &b->members[i];

		if (mb->id != raft_id)
			continue;
		if (mb->role == WFS_RAFTLOG_MEMBER_STANDBY && alive &&
		    nd->role == WFS_NODE_ROLE_VOTER && !b->promote) {
			b->promote = raft_id;
			snprintf(b->promote_addr, sizeof(b->promote_addr),
				 "%s", mb->addr);
		}
		if (mb->role == WFS_RAFTLOG_MEMBER_VOTER && !alive &&
		    !b->demote) {
			b->demote = raft_id;
			snprintf(b->demote_addr, sizeof(b->demote_addr), "%s",
				 mb->addr);
		}
	}
	return 0;
}

/* Whether raft still hears from the voter balance wants to demote: then
 * gossip is wrong about it, or the network is odd; leave it. */
static bool demote_reachable(const struct balance *b)
{
	for (unsigned i = 0; i < b->nmembers; i++)
		if (b->members[i].id == b->demote)
			return b->members[i].reachable;
	return false;
}

static void balance_done(void *arg, int rc, void *result)
{
	struct wfs_node *n = arg;

	(void)result;
	if (rc)
		wfs_log_warn(SUB, "voter change failed: %s", strerror(-rc));
	atomic_store(&n->balancing, false);
}

void wfs_cluster_balance(struct wfs_node *n)
{
	struct balance b = { 0 };
	struct wfs_meta *m;
	unsigned target = n->cfg->metadata.voters;
	int rc;

	if (atomic_load(&n->balancing))
		return;
	if (members_copy(n, &b.members, &b.nmembers) != 0)
		return;
	for (unsigned i = 0; i < b.nmembers; i++) {
		bool voter = b.members[i].role == WFS_RAFTLOG_MEMBER_VOTER;

		b.voters += voter;
		b.reachable_voters += voter && b.members[i].reachable;
	}
	m = wfs_metafsm_read_begin(n->fsm);
	rc = m ? wfs_meta_nodes(m, balance_cb, &b) : -EIO;
	wfs_metafsm_read_end(n->fsm);
	if (rc < 0 || !b.promote)
		goto out_free;
	/* Short of voters: promote.  A dead voter with a live standby to
	 * take its place: demote it first (the promotion follows at the
	 * next tick), so the voter count never goes past the target. */
	if (b.voters < target) {
		atomic_store(&n->balancing, true);
		wfs_log_info(SUB, "promoting raft member %016" PRIx64 " (%s) "
			     "to voter: %u of %u voters", b.promote,
			     b.promote_addr, b.voters, target);
		rc = wfs_raftlog_add_member(n->raft, b.promote, b.promote_addr,
					    WFS_RAFTLOG_MEMBER_VOTER,
					    balance_done, n);
	} else if (b.demote && b.demote != n->id.raft_id &&
		   !demote_reachable(&b) &&
		   b.reachable_voters * 2 > b.voters - 1) {
		/* Only when the voters raft still hears from are a majority
		 * of the group without it: else the change could not commit
		 * (a voter gossip wrongly calls dead while another is really
		 * dead) and would leave the group unable to elect. */
		atomic_store(&n->balancing, true);
		wfs_log_warn(SUB, "voter %016" PRIx64 " (%s) is dead: making "
			     "it a standby so that %016" PRIx64 " can vote",
			     b.demote, b.demote_addr, b.promote);
		rc = wfs_raftlog_add_member(n->raft, b.demote, b.demote_addr,
					    WFS_RAFTLOG_MEMBER_STANDBY,
					    balance_done, n);
	}
	if (rc)
		atomic_store(&n->balancing, false);
out_free:
	wfs_free(b.members);
}
