/* storaged/node: starting, running and stopping one node (see node.h).
 *
 * Threads of a running node:
 *   - the caller's (main) thread: start and stop only;
 *   - the raft thread (gossip/raftlog): applies entries, runs proposal
 *     completions, which finish deferred API calls;
 *   - the API server's threads (rpc/): run handlers, never wait for raft;
 *   - upkeep (here): formats the store and records the node and its disks
 *     once this node leads, refreshes disk figures (and has gossip spread
 *     them: storaged/liveness), expires lock waits;
 *   - gc (gc.c): deletes garbage chunks;
 *   - drain (drain.c): moves chunks off this node's draining disks.
 * The raft thread tells upkeep about role changes through n->cond, so a
 * new leader formats and registers at once instead of at the next tick.
 */
#include "storaged/node_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sodium.h>
#include <time.h>
#include <unistd.h>

#include "log/log.h"
#include "mem/mem.h"
#include "placement/place.h"
#include "storaged/admin_service.h"
#include "storaged/chunk_service.h"
#include "storaged/cluster_service.h"
#include "storaged/drain.h"
#include "net/link.h"
#include "proto/wormfs.pb-c.h"
#include "storaged/forward.h"
#include "storaged/gc.h"
#include "storaged/liveness.h"
#include "storaged/transfer.h"
#include "storaged/meta_service.h"
#include "storaged/stripe_service.h"

#define SUB "node"
#define DEFAULT_RPC_THREADS 6
#define DEFAULT_DISK_REFRESH_MS 10000
#define DEFAULT_GC_INTERVAL_MS 5000
#define UPKEEP_TICK_MS 1000
#define ROOT_MODE 0755
#define CLUSTER_ID_BYTES 16

/* ---- clocks ---- */

int64_t wfs_node_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

uint64_t wfs_node_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- proposals ---- */

struct prop {
	struct wfs_node *n;
	wfs_node_done_cb cb;
	void *arg;
	bool named;		/* the op has a request name: safe to retry */
	uint32_t type;		/* the op's */
};

static void prop_done(void *arg, int rc, void *result)
{
	struct prop *p = arg;
	const struct wfs_metafsm_result *res = result;

	if (rc == -EREMOTE)
		rc = -EAGAIN;
	/* Leadership lost after the entry was appended: it may still apply.
	 * A named request applies once however often it is sent, so the
	 * client may simply send it again (to the next master). */
	if ((rc == -ECONNABORTED || rc == -ECANCELED) && p->named)
		rc = -EAGAIN;
	/* A new entry the store had applied already: the store is ahead of
	 * the log, which only happens when the log was lost or replaced.
	 * The op did not apply; say so rather than report -EALREADY. */
	if (rc == 0 && res->meta.status == -EALREADY) {
		wfs_log_error(SUB, "an entry proposed now was already applied: "
			      "the metadata store is ahead of the raft log "
			      "(was %s/raft removed?)", p->n->cfg->node.data_dir);
		rc = -EIO;
	}
	/* Refused for another client's directory lease: ask its holder to
	 * give it back (a request for the lease itself recalls nothing, or
	 * two clients filling one directory would take it from each other
	 * all day). */
	if (rc == 0 && res->meta.status == -EAGAIN && res->meta.lease_dir &&
	    p->type != WFS_META_OP_DIR_LEASE)
		wfs_leases_recall(p->n->leases, res->meta.lease_dir);
	p->cb(p->arg, rc, rc == 0 ? result : NULL);
	wfs_free(p);
}

int wfs_node_propose_many(struct wfs_node *n, unsigned count,
			  const struct wfs_meta_op *const ops[],
			  wfs_node_done_cb cb, void *const args[])
{
	struct wfs_raftlog_prop *rp;
	unsigned made = 0;
	int rc = 0;

	if (count == 0 || count > WFS_RAFTLOG_PROPOSE_MANY)
		return -EINVAL;
	rp = wfs_calloc(count, sizeof(*rp));
	if (!rp)
		return -ENOMEM;
	for (; made < count; made++) {
		struct prop *p = wfs_malloc(sizeof(*p));
		void *buf;
		size_t len;

		if (!p) {
			rc = -ENOMEM;
			break;
		}
		rc = wfs_meta_op_encode(ops[made], &buf, &len);
		if (rc) {
			wfs_free(p);
			break;
		}
		*p = (struct prop){ n, cb, args[made],
				    ops[made]->request.len > 0,
				    ops[made]->type };
		rp[made] = (struct wfs_raftlog_prop){ buf, len, prop_done, p };
	}
	if (rc == 0)
		rc = wfs_raftlog_propose_many(n->raft, rp, count);
	for (unsigned i = 0; i < made; i++) {
		wfs_free((void *)rp[i].buf);
		if (rc)
			wfs_free(rp[i].arg);
	}
	wfs_free(rp);
	return rc == -EREMOTE ? -EAGAIN : rc;
}

int wfs_node_propose(struct wfs_node *n, const struct wfs_meta_op *op,
		     wfs_node_done_cb cb, void *arg)
{
	return wfs_node_propose_many(n, 1, &op, cb, &arg);
}

struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int rc;
	struct wfs_metafsm_result res;
};

static void wait_done(void *arg, int rc, const struct wfs_metafsm_result *res)
{
	struct waiter *w = arg;

	pthread_mutex_lock(&w->lock);
	w->rc = rc;
	if (res)
		w->res = *res;
	w->done = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

int wfs_node_propose_wait(struct wfs_node *n, const struct wfs_meta_op *op,
			  struct wfs_metafsm_result *res)
{
	struct waiter w = { .done = false };
	int rc;

	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	rc = wfs_node_propose(n, op, wait_done, &w);
	if (rc == 0) {
		pthread_mutex_lock(&w.lock);
		while (!w.done)
			pthread_cond_wait(&w.cond, &w.lock);
		pthread_mutex_unlock(&w.lock);
		rc = w.rc ? w.rc : w.res.meta.status;
		if (res)
			*res = w.res;
	}
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	return rc;
}

/* A new leader's store may lack entries of earlier terms (libraft applies
 * them once the term's first entry commits, and a store killed with a
 * batch open lost its last ones until the log replays them), so it serves
 * once a read barrier of its term has completed. */
int wfs_node_serving(struct wfs_node *n)
{
	if (!atomic_load(&n->formatted) || !wfs_raftlog_is_leader(n->raft) ||
	    atomic_load(&n->ready_term) != wfs_raftlog_term(n->raft))
		return -EAGAIN;
	return 0;
}

struct leader_find {
	uint64_t raft_id;
	char *addr;
	size_t cap;
	int rc;
};

static int leader_cb(const struct wfs_meta_node *nd, void *arg)
{
	struct leader_find *f = arg;

	if (wfs_identity_raft_id((const char *)nd->id.data, nd->id.len) !=
	    f->raft_id)
		return 0;
	if (nd->addr.len == 0)
		return 1;
	if (nd->addr.len >= f->cap) {
		f->rc = -ERANGE;
		return 1;
	}
	memcpy(f->addr, nd->addr.data, nd->addr.len);
	f->addr[nd->addr.len] = 0;
	f->rc = 0;
	return 1;
}

int wfs_node_leader_api(struct wfs_node *n, char *addr, size_t cap)
{
	struct leader_find f = { .addr = addr, .cap = cap, .rc = -EAGAIN };
	struct wfs_meta *m;
	int rc;

	if (wfs_raftlog_leader(n->raft, &f.raft_id, NULL, 0) != 0)
		return -EAGAIN;
	m = wfs_metafsm_read_begin(n->fsm);
	rc = m ? wfs_meta_nodes(m, leader_cb, &f) : -EIO;
	wfs_metafsm_read_end(n->fsm);
	return rc < 0 ? -EAGAIN : f.rc;
}

/* ---- formatting and registration (upkeep thread) ---- */

static bool store_formatted(struct wfs_node *n)
{
	char buf[WFS_META_ID_MAX];
	struct wfs_meta *m = wfs_metafsm_read_begin(n->fsm);
	int rc = m ? wfs_meta_cluster_id(m, buf, sizeof(buf)) : -EIO;

	wfs_metafsm_read_end(n->fsm);
	return rc >= 0;
}

static int ensure_formatted(struct wfs_node *n)
{
	unsigned char raw[CLUSTER_ID_BYTES];
	char id[2 * CLUSTER_ID_BYTES + 1];
	struct wfs_meta_op op = { .type = WFS_META_OP_FORMAT };
	int rc;

	if (atomic_load(&n->formatted))
		return 0;
	if (store_formatted(n)) {
		atomic_store(&n->formatted, true);
		return 0;
	}
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(id, sizeof(id), raw, sizeof(raw));
	op.time_ns = wfs_node_now_ns();
	op.u.format.root_mode = ROOT_MODE;
	op.u.format.k = n->cfg->policy.k;
	op.u.format.m = n->cfg->policy.m;
	op.u.format.chunk_size = (uint32_t)n->cfg->policy.chunk_size;
	op.u.format.cluster_id = (struct wfs_meta_bytes){ id, strlen(id) };
	rc = wfs_node_propose_wait(n, &op, NULL);
	if (rc == 0)
		wfs_log_info(SUB, "formatted a new file system: cluster %s, "
			     "policy %u+%u, chunk size %" PRIu64, id,
			     n->cfg->policy.k, n->cfg->policy.m,
			     n->cfg->policy.chunk_size);
	if (rc == 0 || rc == -EEXIST) {
		atomic_store(&n->formatted, true);
		return 0;
	}
	wfs_log_warn(SUB, "cannot format the metadata store yet: %s",
		     strerror(-rc));
	return rc;
}

struct node_seen {
	const struct wfs_node *n;
	uint32_t role;
	bool same;		/* the record says what it should */
};

static bool bytes_is(struct wfs_meta_bytes b, const char *s)
{
	return b.len == strlen(s) && memcmp(b.data, s, b.len) == 0;
}

static int node_cb(const struct wfs_meta_node *rec, void *arg)
{
	struct node_seen *s = arg;

	if (!bytes_is(rec->id, s->n->id.node_id))
		return 0;
	s->same = bytes_is(rec->name, s->n->cfg->node.name) &&
		  bytes_is(rec->addr, s->n->api_addr) && rec->role == s->role &&
		  rec->state == WFS_NODE_STATE_ALIVE;
	return 1;
}

static int publish_node(struct wfs_node *n)
{
	struct node_seen seen = { .n = n, .same = false };
	struct wfs_meta_op op = { .type = WFS_META_OP_NODE_SET };
	struct wfs_meta *m;
	int rc;

	seen.role = n->cfg->metadata.voter ? WFS_NODE_ROLE_VOTER
					   : WFS_NODE_ROLE_STANDBY;
	m = wfs_metafsm_read_begin(n->fsm);
	rc = m ? wfs_meta_nodes(m, node_cb, &seen) : -EIO;
	wfs_metafsm_read_end(n->fsm);
	if (rc < 0 || seen.same)
		return rc < 0 ? rc : 0;
	op.time_ns = wfs_node_now_ns();
	op.u.node.id = (struct wfs_meta_bytes){ n->id.node_id,
						strlen(n->id.node_id) };
	op.u.node.name = (struct wfs_meta_bytes){ n->cfg->node.name,
						  strlen(n->cfg->node.name) };
	op.u.node.addr = (struct wfs_meta_bytes){ n->api_addr,
						  strlen(n->api_addr) };
	op.u.node.role = seen.role;
	op.u.node.state = WFS_NODE_STATE_ALIVE;
	rc = wfs_node_propose_wait(n, &op, NULL);
	if (rc == 0)
		wfs_log_info(SUB, "node %s (%s) recorded with api %s",
			     n->id.node_id, n->cfg->node.name, n->api_addr);
	return rc;
}

/* ---- this node's disks ---- */

unsigned wfs_node_disks(struct wfs_node *n, struct wfs_store_disk_info *out,
			unsigned cap)
{
	unsigned count = wfs_store_disk_count(n->store), nd = 0;

	wfs_store_refresh(n->store);
	for (unsigned i = 0; i < count && nd < cap; i++)
		if (wfs_store_disk_info(n->store, i, &out[nd]) == 0 &&
		    out[nd].id[0])
			nd++;
	return nd;
}

uint32_t wfs_node_disk_state(const struct wfs_store_disk_info *info)
{
	return info->online ? WFS_PLACE_DISK_ONLINE : WFS_PLACE_DISK_OFFLINE;
}

uint32_t wfs_node_place_state(uint32_t state, bool draining)
{
	if (state == WFS_PLACE_DISK_OFFLINE || !draining)
		return state;
	return WFS_PLACE_DISK_DRAINING;
}

/* One of this node's disks as the metadata records it. */
struct disk_rec {
	bool found;
	char path[WFS_META_PATH_MAX + 1];
	uint64_t capacity, free;
	uint32_t state;
};

struct disk_find {
	const char *id;
	struct disk_rec *rec;
};

static int disk_cb(const struct wfs_meta_disk *d, void *arg)
{
	struct disk_find *f = arg;

	if (!bytes_is(d->id, f->id))
		return 0;
	f->rec->found = true;
	memcpy(f->rec->path, d->path.data, d->path.len);
	f->rec->path[d->path.len] = 0;
	f->rec->capacity = d->capacity;
	f->rec->free = d->free;
	f->rec->state = d->state;
	return 1;
}

/* Whether the record of a disk differs enough from what it is now to be
 * worth a log entry: a state, size or path change, or free space moving
 * by more than 1% of the disk (at least 1 MiB). */
static bool disk_changed(const struct disk_rec *r,
			 const struct wfs_store_disk_info *info,
			 uint32_t state)
{
	uint64_t slack = info->capacity / 100, diff;

	if (slack < (1u << 20))
		slack = 1u << 20;
	diff = r->free > info->avail ? r->free - info->avail
				     : info->avail - r->free;
	return !r->found || r->state != state ||
	       r->capacity != info->capacity ||
	       strcmp(r->path, info->path) != 0 || diff > slack;
}

static int publish_disk(struct wfs_node *n,
			const struct wfs_store_disk_info *info)
{
	struct wfs_meta_op op = { .type = WFS_META_OP_DISK_SET };
	struct disk_rec *rec;
	struct disk_find find;
	struct wfs_meta *m;
	uint32_t state;
	int rc;

	rec = wfs_calloc(1, sizeof(*rec));
	if (!rec)
		return -ENOMEM;
	find = (struct disk_find){ info->id, rec };
	state = wfs_node_disk_state(info);
	m = wfs_metafsm_read_begin(n->fsm);
	rc = m ? wfs_meta_disks(m, disk_cb, &find) : -EIO;
	wfs_metafsm_read_end(n->fsm);
	if (rc < 0)
		goto out_free;
	rc = 0;
	/* The disk's own state only: draining is a flag of its own, which
	 * DISK_SET never touches (storaged/drain), so this report cannot
	 * undo an operator's drain or undrain, however late it lands. */
	if (!disk_changed(rec, info, state))
		goto out_free;
	op.time_ns = wfs_node_now_ns();
	op.u.disk.id = (struct wfs_meta_bytes){ info->id, strlen(info->id) };
	op.u.disk.node_id = (struct wfs_meta_bytes){ n->id.node_id,
						     strlen(n->id.node_id) };
	op.u.disk.path = (struct wfs_meta_bytes){ info->path,
						  strlen(info->path) };
	op.u.disk.capacity = info->capacity;
	op.u.disk.free = info->avail;
	op.u.disk.state = state;
	rc = wfs_node_propose_wait(n, &op, NULL);
	if (rc == 0 && rec->found && rec->state != state)
		wfs_log_warn(SUB, "disk %s %s: %s", info->id,
			     wfs_place_state_name(state),
			     info->online ? "back in service"
					  : strerror(-info->error));
	else if (rc == 0)
		wfs_log_debug(SUB, "disk %s (%s): %" PRIu64 " of %" PRIu64
			      " bytes free", info->id, info->path, info->avail,
			      info->capacity);
out_free:
	wfs_free(rec);
	return rc;
}

static int publish_disks(struct wfs_node *n)
{
	unsigned cap = wfs_store_disk_count(n->store), count;
	struct wfs_store_disk_info *info;
	int rc = 0;

	info = wfs_calloc(cap + 1, sizeof(*info));
	if (!info)
		return -ENOMEM;
	count = wfs_node_disks(n, info, cap);
	for (unsigned i = 0; i < count && rc == 0; i++)
		rc = publish_disk(n, &info[i]);
	wfs_free(info);
	return rc;
}

/* ---- the upkeep thread ---- */

static bool upkeep_stopping(struct wfs_node *n)
{
	bool stop;

	pthread_mutex_lock(&n->lock);
	stop = n->stopping;
	pthread_mutex_unlock(&n->lock);
	return stop;
}

/* ---- joining (upkeep thread of a node that is not the master) ---- */

/* Where to send Join: the master if this node knows it, else the seeds in
 * turn. */
static int join_target(struct wfs_node *n, unsigned attempt, char *addr,
		       size_t cap)
{
	const struct wfs_config_addrs *seeds = &n->cfg->cluster.seeds;

	if (wfs_node_leader_api(n, addr, cap) == 0 &&
	    strcmp(addr, n->api_addr) != 0)
		return 0;
	if (!seeds->count)
		return -ENOENT;
	wfs_config_addr_format(&seeds->addrs[attempt % seeds->count], addr,
			       cap);
	return 0;
}

static int join_request(struct wfs_node *n, Wormfs__JoinRequest *req,
			Wormfs__JoinDisk *disks, Wormfs__JoinDisk **ptrs,
			struct wfs_store_disk_info *info, unsigned cap)
{
	unsigned nd;

	req->public_key.data = n->id.pk;
	req->public_key.len = sizeof(n->id.pk);
	req->name = (char *)n->cfg->node.name;
	req->api_addr = n->api_addr;
	req->raft_addr = n->raft_addr;
	req->voter = n->cfg->metadata.voter;
	req->gossip_addr = (char *)wfs_liveness_addr(n->liveness);
	/* With a join token: prove it without sending it (JoinRequest). */
	if (n->cfg->cluster.join_token) {
		unsigned char key[crypto_auth_KEYBYTES];
		const char *t = n->cfg->cluster.join_token;

		crypto_generichash(key, sizeof(key), (const unsigned char *)t,
				   strlen(t), NULL, 0);
		crypto_auth(n->token_proof, n->id.pk, sizeof(n->id.pk), key);
		sodium_memzero(key, sizeof(key));
		req->token_proof.data = n->token_proof;
		req->token_proof.len = sizeof(n->token_proof);
	}
	nd = wfs_node_disks(n, info, cap);
	for (unsigned i = 0; i < nd; i++) {
		wormfs__join_disk__init(&disks[i]);
		disks[i].disk_id.data = (uint8_t *)info[i].id;
		disks[i].disk_id.len = strlen(info[i].id);
		disks[i].path = (char *)info[i].path;
		disks[i].capacity = info[i].capacity;
		disks[i].free = info[i].avail;
		disks[i].online = info[i].online;
		ptrs[i] = &disks[i];
	}
	req->n_disks = nd;
	req->disks = ptrs;
	return 0;
}

/* Let the master this node joined through in on the node transport (see
 * peer_admit). */
static void trust_master(struct wfs_node *n, const unsigned char *pk)
{
	pthread_mutex_lock(&n->lock);
	for (unsigned i = 0; i < n->ntrusted; i++)
		if (memcmp(n->trusted[i], pk, WFS_IDENTITY_PK_LEN) == 0)
			goto out_unlock;
	memcpy(n->trusted[n->trusted_next++ % WFS_NODE_TRUSTED_MAX], pk,
	       WFS_IDENTITY_PK_LEN);
	if (n->ntrusted < WFS_NODE_TRUSTED_MAX)
		n->ntrusted++;
out_unlock:
	pthread_mutex_unlock(&n->lock);
}

#define JOIN_DISKS_MAX 256
#define JOIN_TIMEOUT_MS 10000

/* Ask the master (through any member) to record this node and its disks
 * and to make it a member.  Returns 0 or the call's error. */
static int join(struct wfs_node *n, unsigned attempt)
{
	Wormfs__JoinRequest req = WORMFS__JOIN_REQUEST__INIT;
	Wormfs__JoinReply *rep = NULL;
	Wormfs__JoinDisk *disks;
	Wormfs__JoinDisk **ptrs;
	struct wfs_store_disk_info *info;
	struct wfs_rpc_client *c = NULL;
	char addr[WFS_META_ADDR_MAX + 1];
	int rc;

	rc = join_target(n, attempt, addr, sizeof(addr));
	if (rc)
		return rc;
	disks = wfs_calloc(JOIN_DISKS_MAX, sizeof(*disks));
	ptrs = wfs_calloc(JOIN_DISKS_MAX, sizeof(*ptrs));
	info = wfs_calloc(JOIN_DISKS_MAX, sizeof(*info));
	rc = disks && ptrs && info ? 0 : -ENOMEM;
	if (rc == 0)
		rc = join_request(n, &req, disks, ptrs, info, JOIN_DISKS_MAX);
	if (rc == 0)
		rc = wfs_rpc_client_new(addr, &c);
	if (rc == 0)
		rc = wfs_rpc_call_msg(c, "/wormfs.Admin/Join", &req.base,
				      &wormfs__join_reply__descriptor,
				      JOIN_TIMEOUT_MS,
				      (ProtobufCMessage **)&rep);
	if (rc == 0) {
		wfs_log_debug(SUB, "joined through %s as %s", addr, rep->role);
		if (rep->master_key.len == WFS_IDENTITY_PK_LEN)
			trust_master(n, rep->master_key.data);
		if (rep->gossip_addr && rep->gossip_addr[0])
			wfs_liveness_join(n->liveness, rep->gossip_addr);
		wfs_rpc_msg_free(&rep->base);
	} else if (rc == -EACCES) {
		wfs_log_error(SUB, "the cluster at %s refuses this node's key: "
			      "admit it there with `wormctl node add %s`",
			      addr, n->pk_hex);
	} else if (attempt % 30 == 0) {
		/* Every try is a second: say it now and then, not each. */
		wfs_log_info(SUB, "cannot join through %s yet: %s (trying "
			     "every second)", addr, strerror(-rc));
	}
	wfs_rpc_client_free(c);
	wfs_free(info);
	wfs_free(ptrs);
	wfs_free(disks);
	return rc;
}

static void member_tick(struct wfs_node *n, uint64_t now,
			uint64_t *next_disks)
{
	if (now < *next_disks)
		return;
	if (join(n, n->join_attempt++) != 0)
		return;
	*next_disks = now + n->opts.disk_refresh_ms;
	pthread_mutex_lock(&n->lock);
	n->registered = true;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
}

static void upkeep_tick(struct wfs_node *n, uint64_t *next_disks)
{
	uint64_t now = wfs_node_mono_ms();
	bool registered;
	int rc;

	wfs_locks_expire(n->locks, now);
	wfs_liveness_refresh(n->liveness);
	if (!wfs_raftlog_is_leader(n->raft)) {
		member_tick(n, now, next_disks);
		return;
	}
	if (ensure_formatted(n) != 0)
		return;
	if (wfs_node_serving(n) == 0)
		wfs_leases_tick(n->leases);
	wfs_liveness_sync(n->liveness);
	wfs_cluster_balance(n);
	pthread_mutex_lock(&n->lock);
	registered = n->registered;
	pthread_mutex_unlock(&n->lock);
	if (registered && now < *next_disks)
		return;
	rc = publish_node(n);
	if (rc == 0 && !upkeep_stopping(n))
		rc = publish_disks(n);
	if (rc) {
		wfs_log_warn(SUB, "cannot record node %s and its disks yet: %s",
			     n->id.node_id, strerror(-rc));
		return;
	}
	*next_disks = now + n->opts.disk_refresh_ms;
	pthread_mutex_lock(&n->lock);
	n->registered = true;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
}

static void *upkeep_main(void *arg)
{
	struct wfs_node *n = arg;
	uint64_t next_disks = 0;

	pthread_mutex_lock(&n->lock);
	while (!n->stopping) {
		struct timespec until;

		n->kick = false;
		pthread_mutex_unlock(&n->lock);
		upkeep_tick(n, &next_disks);
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += UPKEEP_TICK_MS / 1000;
		pthread_mutex_lock(&n->lock);
		if (!n->stopping && !n->kick)
			pthread_cond_timedwait(&n->cond, &n->lock, &until);
	}
	pthread_mutex_unlock(&n->lock);
	return NULL;
}

void wfs_node_kick(struct wfs_node *n)
{
	pthread_mutex_lock(&n->lock);
	n->kick = true;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
}

struct ready_barrier {
	struct wfs_node *n;
	uint64_t term;
};

/* Raft thread: the barrier a new leader asked for (on_state) completed. */
static void ready_done(void *arg, int rc, void *result)
{
	struct ready_barrier *rb = arg;

	(void)result;
	if (rc == 0 && rb->term > atomic_load(&rb->n->ready_term)) {
		atomic_store(&rb->n->ready_term, rb->term);
		wfs_node_kick(rb->n);
	} else if (rc && rc != -ECANCELED && rc != -EREMOTE &&
		   rc != -ECONNABORTED) {
		wfs_log_warn(SUB, "the read barrier of term %llu failed: %s; "
			     "this leader serves no metadata until its role "
			     "changes again", (unsigned long long)rb->term,
			     strerror(-rc));
	}
	wfs_free(rb);
}

/* Raft thread: a role change.  Stripe ids handed out from memory belong
 * to a leadership: lose it, lose them (they are skipped, never reused).
 * A new leader serves once its store holds every entry before its term
 * (wfs_node_serving): a failed barrier leaves it not serving until the
 * next change of role. */
static void on_state(void *arg, enum wfs_raftlog_role role, uint64_t leader)
{
	struct wfs_node *n = arg;
	uint64_t term = wfs_raftlog_term(n->raft);
	struct ready_barrier *rb;
	int rc = -ENOMEM;

	(void)leader;
	if (role != WFS_RAFTLOG_LEADER) {
		wfs_stripesvc_drop_ids(n->stripes);
		wfs_leases_clear(n->leases);
	}
	if (role == WFS_RAFTLOG_LEADER &&
	    atomic_load(&n->ready_term) != term) {
		rb = wfs_malloc(sizeof(*rb));
		if (rb) {
			*rb = (struct ready_barrier){ n, term };
			rc = wfs_raftlog_barrier(n->raft, ready_done, rb);
			if (rc)
				wfs_free(rb);
		}
		if (rc)
			wfs_log_warn(SUB, "cannot ask for a read barrier in "
				     "term %llu: %s; this leader serves no "
				     "metadata until its role changes again",
				     (unsigned long long)term, strerror(-rc));
	}
	wfs_node_kick(n);
}

int wfs_node_wait_ready(struct wfs_node *n, unsigned timeout_ms)
{
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&n->lock);
	while (!n->registered && rc == 0)
		rc = pthread_cond_timedwait(&n->cond, &n->lock, &until);
	rc = n->registered ? 0 : -ETIMEDOUT;
	pthread_mutex_unlock(&n->lock);
	return rc;
}

/* ---- addresses ---- */

/* listen.peer as the IPv4 "a.b.c.d:port" the raft log needs. */
static int raft_address(const struct wfs_config_addr *a, char *out,
			size_t cap)
{
	struct addrinfo hints = { .ai_family = AF_INET,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *res;
	char ip[INET_ADDRSTRLEN];
	int rc;

	if (a->family == AF_INET6) {
		wfs_log_error(SUB, "listen.peer: %s is IPv6; the raft "
			      "transport needs an IPv4 address", a->host);
		return -EINVAL;
	}
	rc = getaddrinfo(a->host, NULL, &hints, &res);
	if (rc != 0) {
		wfs_log_error(SUB, "listen.peer: cannot resolve %s: %s",
			      a->host, gai_strerror(rc));
		return -EINVAL;
	}
	inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr,
		  ip, sizeof(ip));
	freeaddrinfo(res);
	snprintf(out, cap, "%s:%u", ip, a->port);
	return 0;
}

/* The API address other programs are told (NODE_SET): the configured one,
 * with the port actually bound, and the host name for a wildcard. */
static void advertised_api(struct wfs_node *n, int port)
{
	struct wfs_config_addr a = n->cfg->listen.api;
	char host[WFS_CONFIG_HOST_MAX];

	a.port = (uint16_t)port;
	if ((strcmp(a.host, "0.0.0.0") == 0 || strcmp(a.host, "::") == 0) &&
	    gethostname(host, sizeof(host)) == 0) {
		host[sizeof(host) - 1] = 0;
		memcpy(a.host, host, sizeof(host));
		a.family = AF_UNSPEC;
	}
	wfs_config_addr_format(&a, n->api_addr, sizeof(n->api_addr));
}

/* ---- start and stop ---- */

static void opts_fill(struct wfs_node *n, const struct wfs_node_opts *o)
{
	if (o)
		n->opts = *o;
	if (!n->opts.rpc_threads)
		n->opts.rpc_threads = DEFAULT_RPC_THREADS;
	if (!n->opts.disk_refresh_ms)
		n->opts.disk_refresh_ms = DEFAULT_DISK_REFRESH_MS;
	if (!n->opts.gc_interval_ms)
		n->opts.gc_interval_ms = DEFAULT_GC_INTERVAL_MS;
	if (!n->opts.stop_grace_ms)
		n->opts.stop_grace_ms = WFS_RPC_STOP_GRACE_MS;
}

static int open_identity(struct wfs_node *n)
{
	const char *dir = n->cfg->node.data_dir;
	bool created;
	int rc;

	rc = wfs_identity_load(dir, &n->id, &created);
	if (rc) {
		wfs_log_error(SUB, "node key in %s: %s", dir, strerror(-rc));
		return rc;
	}
	if (created)
		wfs_log_info(SUB, "new node key made in %s/%s", dir,
			     WFS_IDENTITY_FILE);
	sodium_bin2hex(n->pk_hex, sizeof(n->pk_hex), n->id.pk,
		       sizeof(n->id.pk));
	wfs_log_info(SUB, "node %s (%s), raft id %016" PRIx64 ", key %s",
		     n->id.node_id, n->cfg->node.name, n->id.raft_id,
		     n->pk_hex);
	return 0;
}

static int open_stores(struct wfs_node *n)
{
	const struct wfs_config *cfg = n->cfg;
	int rc;

	rc = wfs_store_open(n->id.node_id,
			    (const char *const *)cfg->disks.paths,
			    (unsigned)cfg->disks.count, &n->store);
	if (rc) {
		wfs_log_error(SUB, "no disk could be brought online: %s",
			      strerror(-rc));
		return rc;
	}
	rc = wfs_metafsm_open(cfg->node.data_dir, &n->fsm);
	if (rc) {
		wfs_log_error(SUB, "metadata store in %s: %s",
			      cfg->node.data_dir, strerror(-rc));
		return rc;
	}
	atomic_store(&n->formatted, store_formatted(n));
	return 0;
}

/* ---- the node transport ---- */

#define ADMIT_CACHE_MS 1000

struct record_find {
	const char *id;
	struct wfs_node_record *rec;
};

static int record_cb(const struct wfs_meta_node *nd, void *arg)
{
	struct record_find *f = arg;
	struct wfs_node_record *r = f->rec;

	if (nd->id.len != strlen(f->id) ||
	    memcmp(nd->id.data, f->id, nd->id.len) != 0)
		return 0;
	r->found = true;
	r->role = nd->role;
	r->state = nd->state;
	snprintf(r->name, sizeof(r->name), "%.*s", (int)nd->name.len,
		 (const char *)nd->name.data);
	snprintf(r->addr, sizeof(r->addr), "%.*s", (int)nd->addr.len,
		 (const char *)nd->addr.data);
	return 1;
}

int wfs_node_record_find(struct wfs_node *n, const char *id,
			 struct wfs_node_record *rec)
{
	struct record_find f = { id, rec };
	struct wfs_meta *m = wfs_metafsm_read_begin(n->fsm);
	int rc;

	memset(rec, 0, sizeof(*rec));
	rc = m ? wfs_meta_nodes(m, record_cb, &f) : -EIO;
	wfs_metafsm_read_end(n->fsm);
	return rc < 0 ? rc : 0;
}

int wfs_node_record_set(struct wfs_node *n, const char *id, const char *name,
			const char *addr, uint32_t role, uint32_t state)
{
	struct wfs_meta_op op = { .type = WFS_META_OP_NODE_SET };

	op.time_ns = wfs_node_now_ns();
	op.u.node.id = (struct wfs_meta_bytes){ id, strlen(id) };
	op.u.node.name = (struct wfs_meta_bytes){ name, strlen(name) };
	op.u.node.addr = (struct wfs_meta_bytes){ addr, strlen(addr) };
	op.u.node.role = role;
	op.u.node.state = state;
	return wfs_node_propose_wait(n, &op, NULL);
}

/* Whether the metadata lists the node of key @pk, answered from a small
 * cache for ADMIT_CACHE_MS: gossip asks for every packet. */
static bool listed(struct wfs_node *n, const uint8_t *pk)
{
	uint64_t now = wfs_node_mono_ms();
	struct wfs_identity id;
	struct wfs_node_record rec;
	struct admit_entry *e;

	pthread_mutex_lock(&n->admit_lock);
	for (unsigned i = 0; i < ADMIT_CACHE; i++) {
		e = &n->admit_cache[i];
		if (e->until > now &&
		    memcmp(e->pk, pk, WFS_IDENTITY_PK_LEN) == 0) {
			bool ok = e->ok;

			pthread_mutex_unlock(&n->admit_lock);
			return ok;
		}
	}
	pthread_mutex_unlock(&n->admit_lock);
	if (wfs_identity_from_pk(pk, &id) != 0)
		return false;
	if (wfs_node_record_find(n, id.node_id, &rec) != 0)
		rec.found = false;
	wfs_identity_release(&id);
	pthread_mutex_lock(&n->admit_lock);
	e = &n->admit_cache[n->admit_next++ % ADMIT_CACHE];
	memcpy(e->pk, pk, WFS_IDENTITY_PK_LEN);
	e->ok = rec.found;
	e->until = now + ADMIT_CACHE_MS;
	pthread_mutex_unlock(&n->admit_lock);
	return rec.found;
}

bool wfs_node_admitted(struct wfs_node *n, const uint8_t *pk)
{
	bool ok = false;

	if (memcmp(pk, n->id.pk, WFS_IDENTITY_PK_LEN) == 0 || listed(n, pk))
		return true;
	/* The masters this node joined through count only until its copy
	 * of the metadata lists the members (a removed master's key must
	 * not stay a way in).  Once formatted, always: no query then. */
	if (atomic_load(&n->store_seen_formatted))
		return false;
	if (store_formatted(n)) {
		atomic_store(&n->store_seen_formatted, true);
		return false;
	}
	pthread_mutex_lock(&n->lock);
	for (unsigned i = 0; i < n->ntrusted && !ok; i++)
		ok = memcmp(n->trusted[i], pk, WFS_IDENTITY_PK_LEN) == 0;
	pthread_mutex_unlock(&n->lock);
	return ok;
}

/* Net thread: may the node with key @pk talk to this one at all?  (The
 * net logs a refusal.) */
static bool peer_admit(void *arg, const uint8_t *pk)
{
	return wfs_node_admitted(arg, pk);
}

/* Raft thread: may key @pk speak as raft server @raft_id?  Only as the
 * one it derives to, so an admitted node cannot pose as another voter. */
static bool raft_peer_ok(void *arg, uint64_t raft_id, const uint8_t *pk)
{
	struct wfs_identity id;
	bool ok;

	(void)arg;
	ok = wfs_identity_from_pk(pk, &id) == 0 && id.raft_id == raft_id;
	wfs_identity_release(&id);
	return ok;
}

/* Net thread: a message on a link.  Chunk transfers go to their service;
 * no other channel takes messages (raft uses relays). */
static void peer_msg(void *arg, uint64_t link, const uint8_t *pk,
		     uint8_t type, const void *buf, size_t len)
{
	struct wfs_node *n = arg;

	if (type == WFS_NET_TYPE_CHUNK && n->transfer) {
		wfs_transfer_on_msg(n->transfer, link, pk, buf, len);
		return;
	}
	wfs_log_warn(SUB, "node transport: a message of channel %u, which "
		     "nothing here takes: closing the link", type);
	wfs_net_close(n->net, link);
}

static void peer_close(void *arg, uint64_t link, const uint8_t *pk,
		       int reason)
{
	struct wfs_node *n = arg;

	if (n->transfer)
		wfs_transfer_on_close(n->transfer, link, pk, reason);
}

static int make_net(struct wfs_node *n)
{
	struct wfs_net_config nc = {
		.listen = n->raft_addr, .pk = n->id.pk, .sk = n->id.sk,
		.admit = peer_admit, .admit_arg = n,
		.on_msg = peer_msg, .on_close = peer_close, .arg = n,
	};
	int rc = wfs_net_new(&nc, &n->net);

	/* The transfer service exists before the net runs: its callbacks
	 * may come at once. */
	if (rc == 0)
		rc = wfs_transfer_new(n->net, n->store, NULL, &n->transfer);
	if (rc == 0)
		rc = wfs_net_start(n->net);
	if (rc)
		wfs_log_error(SUB, "listen.peer %s: node transport: %s",
			      n->raft_addr, strerror(-rc));
	return rc;
}

static int make_raft(struct wfs_node *n, char *raft_dir, size_t cap)
{
	struct wfs_raftlog_server self = { n->id.raft_id, n->raft_addr };
	/* The first node of a cluster (no seeds) founds a group of one; a
	 * node with seeds waits to be added by the master it joins.  Either
	 * way this only counts while the raft folder is empty. */
	bool founder = n->cfg->cluster.seeds.count == 0;
	struct wfs_raftlog_config rc_cfg = {
		.id = n->id.raft_id, .addr = n->raft_addr, .dir = raft_dir,
		.voters = founder ? &self : NULL, .nvoters = founder ? 1 : 0,
		.snapshot_threshold = n->opts.snapshot_threshold,
		.check = raft_peer_ok, .check_arg = n,
	};
	struct wfs_raftlog_fsm fsm;
	int rc;

	rc = raft_address(&n->cfg->listen.peer, n->raft_addr,
			  sizeof(n->raft_addr));
	if (rc == 0)
		rc = make_net(n);
	if (rc)
		return rc;
	rc_cfg.net = n->net;
	snprintf(raft_dir, cap, "%s/raft", n->cfg->node.data_dir);
	wfs_metafsm_raft_fsm(n->fsm, on_state, n, &fsm);
	rc = wfs_raftlog_new(&rc_cfg, &fsm, n->fsm, &n->raft);
	if (rc)
		wfs_log_error(SUB, "raft log: %s", strerror(-rc));
	return rc;
}

static int make_server(struct wfs_node *n)
{
	char addr[WFS_CONFIG_HOST_MAX + 16];
	int rc;

	wfs_config_addr_format(&n->cfg->listen.api, addr, sizeof(addr));
	rc = wfs_rpc_server_new(addr, n->opts.rpc_threads, &n->rpc);
	if (rc) {
		wfs_log_error(SUB, "listen.api %s: cannot listen: %s", addr,
			      strerror(-rc));
		return rc;
	}
	wfs_rpc_server_set_stop_grace(n->rpc, n->opts.stop_grace_ms);
	advertised_api(n, wfs_rpc_server_port(n->rpc));
	rc = wfs_forward_new(n, 0, &n->forward);
	if (rc == 0)
		rc = wfs_rpc_server_set_gate(n->rpc, wfs_forward_gate,
					     n->forward);
	if (rc == 0)
		rc = wfs_metasvc_register(n, n->rpc);
	if (rc == 0)
		rc = wfs_stripesvc_register(n->stripes, n->rpc);
	if (rc == 0)
		rc = wfs_chunksvc_register(n, n->rpc);
	if (rc == 0)
		rc = wfs_adminsvc_register(n, n->rpc);
	if (rc == 0)
		rc = wfs_drain_register(n, n->rpc);
	if (rc == 0)
		rc = wfs_gc_register(n, n->rpc);
	if (rc == 0)
		rc = wfs_clustersvc_register(n, n->rpc, &n->clustersvc);
	return rc;
}

static int start_threads(struct wfs_node *n)
{
	int rc;

	rc = -pthread_create(&n->upkeep, NULL, upkeep_main, n);
	if (rc)
		return rc;
	n->upkeep_running = true;
	rc = wfs_gc_start(n, n->opts.gc_interval_ms, &n->gc);
	if (rc == 0)
		rc = wfs_drain_start(n, &n->drain);
	return rc;
}

static bool token_well_formed(const char *t)
{
	size_t len = strlen(t);

	if (len != 64)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!strchr("0123456789abcdef", t[i]))
			return false;
	return true;
}

static int start_parts(struct wfs_node *n)
{
	char raft_dir[PATH_MAX];
	int rc;

	if (n->cfg->cluster.join_token && !token_well_formed(
						  n->cfg->cluster.join_token)) {
		wfs_log_error(SUB, "cluster.join_token: not a join token (64 "
			      "hex digits, as `wormctl join-token` prints)");
		return -EINVAL;
	}
	rc = open_identity(n);
	if (rc == 0)
		rc = open_stores(n);
	if (rc == 0)
		rc = wfs_liveness_start(n, &n->liveness);
	if (rc == 0)
		rc = wfs_locks_new(0, &n->locks);
	if (rc == 0)
		rc = wfs_leases_new(n, &n->leases);
	if (rc == 0)
		rc = wfs_stripesvc_new(n, &n->stripes);
	if (rc == 0)
		rc = wfs_prefetch_new(n, &n->prefetch);
	if (rc == 0)
		rc = make_server(n);
	if (rc == 0)
		rc = make_raft(n, raft_dir, sizeof(raft_dir));
	if (rc)
		return rc;
	rc = wfs_raftlog_start(n->raft);
	if (rc) {
		wfs_log_error(SUB, "raft log in %s on %s: cannot start: %s",
			      raft_dir, n->raft_addr, strerror(-rc));
		return rc;
	}
	rc = wfs_rpc_server_start(n->rpc);
	if (rc) {
		wfs_log_error(SUB, "api server: cannot start: %s",
			      strerror(-rc));
		return rc;
	}
	return start_threads(n);
}

int wfs_node_start(const struct wfs_config *cfg,
		   const struct wfs_node_opts *opts, struct wfs_node **out)
{
	struct wfs_node *n = wfs_calloc(1, sizeof(*n));
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	if (!n)
		return -ENOMEM;
	n->cfg = cfg;
	opts_fill(n, opts);
	pthread_mutex_init(&n->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&n->cond, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&n->formatted, false);
	atomic_init(&n->closing, false);
	atomic_init(&n->balancing, false);
	atomic_init(&n->store_seen_formatted, false);
	pthread_mutex_init(&n->admit_lock, NULL);
	rc = start_parts(n);
	if (rc) {
		wfs_node_stop(n);
		return rc;
	}
	wfs_log_info(SUB, "node %s (%s) serving the api on %s, raft on %s, "
		     "%zu disks", n->id.node_id, cfg->node.name, n->api_addr,
		     n->raft_addr, cfg->disks.count);
	*out = n;
	return 0;
}

void wfs_node_stop(struct wfs_node *n)
{
	if (!n)
		return;
	/* Waits on locks end first: they could otherwise hold the server's
	 * stop for its whole grace. */
	atomic_store(&n->closing, true);
	if (n->locks)
		wfs_locks_cancel_waits(n->locks);
	wfs_rpc_server_stop(n->rpc);
	wfs_log_debug(SUB, "stop: api server stopped");
	/* Relays and membership calls still running finish their calls
	 * before the server is freed. */
	wfs_forward_free(n->forward);
	n->forward = NULL;
	pthread_mutex_lock(&n->lock);
	n->stopping = true;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
	wfs_gc_signal_stop(n->gc);
	wfs_drain_signal_stop(n->drain);
	/* Stopping raft ends proposals still waiting, so the threads below
	 * cannot hang on one. */
	if (n->raft)
		wfs_raftlog_stop(n->raft);
	wfs_log_debug(SUB, "stop: raft log stopped");
	/* Raft's relays ride on the net: it goes after raft; then the
	 * chunk transfers it carried. */
	if (n->net)
		wfs_net_stop(n->net);
	/* The mover is a client of the transfers: it ends first (its calls
	 * fail fast now that the net and the API server stopped). */
	wfs_drain_stop(n->drain);
	n->drain = NULL;
	wfs_transfer_free(n->transfer);
	n->transfer = NULL;
	if (n->upkeep_running)
		pthread_join(n->upkeep, NULL);
	wfs_gc_stop(n->gc);
	wfs_log_debug(SUB, "stop: threads joined");
	/* Membership calls still running (Join uses gossip), then gossip:
	 * nothing uses it any more. */
	wfs_clustersvc_free(n->clustersvc);
	n->clustersvc = NULL;
	wfs_liveness_stop(n->liveness);
	n->liveness = NULL;
	wfs_rpc_server_free(n->rpc);
	wfs_raftlog_free(n->raft);
	wfs_net_free(n->net);
	wfs_stripesvc_free(n->stripes);
	wfs_prefetch_free(n->prefetch);
	wfs_locks_free(n->locks);
	wfs_leases_free(n->leases);
	wfs_metafsm_close(n->fsm);
	wfs_store_close(n->store);
	if (n->id.node_id[0])
		wfs_log_info(SUB, "node %s stopped", n->id.node_id);
	wfs_identity_release(&n->id);
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->lock);
	pthread_mutex_destroy(&n->admit_lock);
	wfs_free(n);
}

int wfs_node_api_port(const struct wfs_node *n)
{
	return wfs_rpc_server_port(n->rpc);
}

const char *wfs_node_id(const struct wfs_node *n)
{
	return n->id.node_id;
}
