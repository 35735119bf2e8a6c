/* storaged/admin_service: Admin.Status (see admin_service.h).
 *
 * The nodes and disks tables hold one row per machine or disk, never per
 * file, so Status copies them whole.  The raft term is not reported (0):
 * the raft log wrapper does not expose it yet.  Degraded stripes are not
 * counted yet either (0): that comes with scrub and repair.
 *
 * Another node's disks show their records with gossip's fresher figures
 * laid over them (storaged/liveness), as placement sees them; this node's
 * own disks come straight from its store.  The state shown is what the
 * disk is, online or offline; a disk an operator drains (storaged/drain)
 * also shows draining, with the chunks the metadata still places on it
 * (those that can be moved, and those missing that wait for repair),
 * counted on the chunks_by_disk index up to WFS_DRAIN_COUNT_LIMIT each:
 * only for draining disks, whose counts go down.
 */
#include "storaged/admin_service.h"

#include <errno.h>
#include <string.h>

#include "mem/mem.h"
#include "placement/place.h"
#include "storaged/drain.h"
#include "storaged/liveness.h"
#include "storaged/node_internal.h"
#include "storaged/service_internal.h"

struct node_copy {
	char id[WFS_META_ID_MAX + 1];
	char name[WFS_META_NAME_MAX + 1];
	char addr[WFS_META_ADDR_MAX + 1];
	uint32_t role, state;
};

struct disk_copy {
	char id[WFS_META_ID_MAX + 1];
	char node[WFS_META_ID_MAX + 1];
	char path[WFS_META_PATH_MAX + 1];
	uint64_t capacity, free;
	uint32_t state;		/* online or offline, as recorded */
	bool draining;
	struct wfs_meta_disk_count chunks;	/* while draining */
};

struct view {
	char cluster[WFS_META_ID_MAX];
	int cluster_len;
	uint64_t applied, inodes, bytes, degraded;
	struct node_copy *nodes;
	size_t nnodes;
	struct disk_copy *disks;
	size_t ndisks;
	int err;
};

static void copy_str(char *dst, struct wfs_meta_bytes b, size_t max)
{
	size_t len = b.len > max ? max : b.len;

	memcpy(dst, b.data, len);
	dst[len] = 0;
}

static int node_cb(const struct wfs_meta_node *nd, void *arg)
{
	struct view *v = arg;
	struct node_copy *grown, *c;

	grown = wfs_realloc(v->nodes, (v->nnodes + 1) * sizeof(*grown));
	if (!grown)
		return v->err = -ENOMEM;
	v->nodes = grown;
	c = &grown[v->nnodes++];
	copy_str(c->id, nd->id, WFS_META_ID_MAX);
	copy_str(c->name, nd->name, WFS_META_NAME_MAX);
	copy_str(c->addr, nd->addr, WFS_META_ADDR_MAX);
	c->role = nd->role;
	c->state = nd->state;
	return 0;
}

static int disk_cb(const struct wfs_meta_disk *d, void *arg)
{
	struct view *v = arg;
	struct disk_copy *grown, *c;

	grown = wfs_realloc(v->disks, (v->ndisks + 1) * sizeof(*grown));
	if (!grown)
		return v->err = -ENOMEM;
	v->disks = grown;
	c = &grown[v->ndisks++];
	copy_str(c->id, d->id, WFS_META_ID_MAX);
	copy_str(c->node, d->node_id, WFS_META_ID_MAX);
	copy_str(c->path, d->path, WFS_META_PATH_MAX);
	c->capacity = d->capacity;
	c->free = d->free;
	c->state = d->state;
	c->draining = d->draining;
	return 0;
}

static void view_release(struct view *v)
{
	wfs_free(v->nodes);
	wfs_free(v->disks);
}

static int view_read(struct wfs_node *n, struct view *v)
{
	struct wfs_meta *m = wfs_metafsm_read_begin(n->fsm);
	int rc = m ? 0 : -EIO;

	memset(v, 0, sizeof(*v));
	if (rc == 0) {
		v->cluster_len = wfs_meta_cluster_id(m, v->cluster,
						     sizeof(v->cluster));
		v->applied = wfs_meta_applied_index(m);
		rc = wfs_meta_usage(m, &v->inodes, &v->bytes);
	}
	if (rc >= 0)
		rc = wfs_meta_stripes_degraded(m, WFS_PLACE_DISK_OFFLINE,
					       WFS_NODE_STATE_DEAD,
					       &v->degraded);
	if (rc >= 0)
		rc = wfs_meta_nodes(m, node_cb, v);
	if (rc >= 0)
		rc = wfs_meta_disks(m, disk_cb, v);
	for (size_t i = 0; rc >= 0 && i < v->ndisks; i++) {
		struct disk_copy *d = &v->disks[i];

		if (d->draining)
			rc = wfs_meta_disk_chunks(m, (struct wfs_meta_bytes){
						  d->id, strlen(d->id) },
						  WFS_DRAIN_COUNT_LIMIT,
						  &d->chunks);
	}
	wfs_metafsm_read_end(n->fsm);
	if (v->err)
		rc = v->err;
	if (v->cluster_len < 0)
		v->cluster_len = 0;	/* not formatted yet */
	return rc < 0 ? rc : 0;
}

/* The node id of raft member @raft_id, from the ids the metadata knows
 * (a raft id is the head of its node id). */
static const char *leader_of(struct wfs_node *n, const struct view *v,
			     uint64_t raft_id, const char **addr)
{
	if (raft_id == n->id.raft_id) {
		*addr = n->api_addr;
		return n->id.node_id;
	}
	for (size_t i = 0; i < v->nnodes; i++) {
		if (wfs_identity_raft_id(v->nodes[i].id,
					 strlen(v->nodes[i].id)) == raft_id) {
			*addr = v->nodes[i].addr;
			return v->nodes[i].id;
		}
	}
	*addr = "";
	return "";
}

/* The reply's messages, over the copies. */
struct status_msgs {
	Wormfs__NodeStatus *nodes;
	Wormfs__NodeStatus **nptrs;
	Wormfs__DiskStatus *disks;
	Wormfs__DiskStatus **dptrs;
	size_t nd;
};

/* Disk @id, and its record @rec when the metadata has one. */
static void add_disk(struct status_msgs *mm, const char *id, const char *path,
		     uint64_t capacity, uint64_t free, const char *state,
		     const struct disk_copy *rec)
{
	Wormfs__DiskStatus *d = &mm->disks[mm->nd];

	wormfs__disk_status__init(d);
	d->disk_id.data = (uint8_t *)id;
	d->disk_id.len = strlen(id);
	d->path = (char *)path;
	d->capacity = capacity;
	d->free = free;
	d->state = (char *)state;
	if (rec && rec->draining) {
		d->draining = true;
		d->chunks_left = rec->chunks.ok;
		d->chunks_missing = rec->chunks.missing;
		d->chunks_more = rec->chunks.more;
	}
	mm->dptrs[mm->nd++] = d;
}

/* The record of disk @id, or NULL. */
static const struct disk_copy *record_of(const struct view *v, const char *id)
{
	for (size_t i = 0; i < v->ndisks; i++)
		if (strcmp(v->disks[i].id, id) == 0)
			return &v->disks[i];
	return NULL;
}

/* This node's disks as its store sees them now (draining as recorded).
 * @infos has room for every disk of the store. */
static void own_disks(struct wfs_node *n, const struct view *v,
		      struct status_msgs *mm,
		      struct wfs_store_disk_info *infos)
{
	unsigned count = wfs_store_disk_count(n->store);

	for (unsigned i = 0; i < count; i++) {
		struct wfs_store_disk_info *info = &infos[i];
		const struct disk_copy *rec;
		const char *state;

		if (wfs_store_disk_info(n->store, i, info) != 0)
			continue;
		rec = info->id[0] ? record_of(v, info->id) : NULL;
		state = info->online ? "online" : "offline";
		add_disk(mm, info->id, info->path, info->capacity, info->avail,
			 state, rec);
	}
}

/* Another node's disk: its record, with gossip's fresher figures laid
 * over it when gossip has them (draining shown apart). */
static void node_disk(struct wfs_node *n, struct status_msgs *mm,
		      const struct disk_copy *d)
{
	struct wfs_place_disk pd = { d->node, d->id, d->capacity, d->free,
				     d->state };

	wfs_liveness_overlay(n->liveness, &pd, 1);
	add_disk(mm, d->id, d->path, pd.capacity, pd.free,
		 wfs_place_state_name(pd.state), d);
}

/* What the node does in the raft group, as this node sees it: "voter",
 * "standby", or "none" (admitted, not a member yet). */
static const char *role_of(struct wfs_node *n, const struct node_copy *c)
{
	struct wfs_raftlog_member v[64];
	uint64_t id = wfs_identity_raft_id(c->id, strlen(c->id));
	unsigned count = wfs_raftlog_members(n->raft, v, 64);

	for (unsigned i = 0; i < count && i < 64; i++)
		if (v[i].id == id)
			return v[i].role == WFS_RAFTLOG_MEMBER_VOTER
				       ? "voter"
			       : v[i].role == WFS_RAFTLOG_MEMBER_STANDBY
				       ? "standby"
				       : "spare";
	return "none";
}

static void fill_node(struct wfs_node *n, const struct view *v,
		      const struct node_copy *c, struct status_msgs *mm,
		      struct wfs_store_disk_info *infos)
{
	Wormfs__NodeStatus *ns = &mm->nodes[c - v->nodes];
	size_t first = mm->nd;
	bool self = strcmp(c->id, n->id.node_id) == 0;

	wormfs__node_status__init(ns);
	ns->node_id.data = (uint8_t *)c->id;
	ns->node_id.len = strlen(c->id);
	ns->name = (char *)c->name;
	ns->addr = (char *)c->addr;
	/* This node's own view (gossip) when it has one: `wormctl -n NODE
	 * status` shows what NODE knows; else the master's record. */
	ns->state = (char *)wfs_liveness_state_of(n->liveness, c->id);
	if (!ns->state)
		ns->state = c->state == WFS_NODE_STATE_ALIVE ? "alive"
							     : "dead";
	ns->role = (char *)role_of(n, c);
	if (self) {
		own_disks(n, v, mm, infos);
	} else {
		for (size_t i = 0; i < v->ndisks; i++)
			if (strcmp(v->disks[i].node, c->id) == 0)
				node_disk(n, mm, &v->disks[i]);
	}
	ns->disks = &mm->dptrs[first];
	ns->n_disks = mm->nd - first;
	mm->nptrs[c - v->nodes] = ns;
}

static int status_pack(struct wfs_node *n, const struct view *v,
		       Wormfs__StatusReply *sr, struct wfs_rpc_reply *reply)
{
	size_t ndisks = v->ndisks + wfs_store_disk_count(n->store);
	struct wfs_store_disk_info *infos;
	struct status_msgs mm = { 0 };
	int rc = -ENOMEM;

	mm.nodes = wfs_calloc(v->nnodes + 1, sizeof(*mm.nodes));
	mm.nptrs = wfs_calloc(v->nnodes + 1, sizeof(*mm.nptrs));
	mm.disks = wfs_calloc(ndisks + 1, sizeof(*mm.disks));
	mm.dptrs = wfs_calloc(ndisks + 1, sizeof(*mm.dptrs));
	infos = wfs_calloc(wfs_store_disk_count(n->store) + 1, sizeof(*infos));
	if (!mm.nodes || !mm.nptrs || !mm.disks || !mm.dptrs || !infos)
		goto out_free;
	for (size_t i = 0; i < v->nnodes; i++)
		fill_node(n, v, &v->nodes[i], &mm, infos);
	sr->nodes = mm.nptrs;
	sr->n_nodes = v->nnodes;
	rc = wfs_rpc_reply_set_msg(reply, &sr->base);
out_free:
	wfs_free(infos);
	wfs_free(mm.dptrs);
	wfs_free(mm.disks);
	wfs_free(mm.nptrs);
	wfs_free(mm.nodes);
	return rc;
}

static int h_status(void *arg, const void *req, size_t len,
		    struct wfs_rpc_reply *reply)
{
	Wormfs__StatusReply sr = WORMFS__STATUS_REPLY__INIT;
	struct wfs_node *n = arg;
	Wormfs__StatusRequest *r;
	const char *leader = "", *leader_addr = "";
	uint64_t leader_raft;
	struct view v;
	int rc;

	rc = wfs_svc_unpack(&wormfs__status_request__descriptor, req, len, &r);
	if (rc)
		return rc;
	wfs_rpc_msg_free(&r->base);
	rc = view_read(n, &v);
	if (rc) {
		view_release(&v);
		return rc;
	}
	if (wfs_raftlog_leader(n->raft, &leader_raft, NULL, 0) == 0)
		leader = leader_of(n, &v, leader_raft, &leader_addr);
	sr.cluster_id.data = (uint8_t *)v.cluster;
	sr.cluster_id.len = (size_t)v.cluster_len;
	sr.node_id.data = (uint8_t *)n->id.node_id;
	sr.node_id.len = strlen(n->id.node_id);
	sr.version = WFS_STORAGED_VERSION;
	sr.leader_id.data = (uint8_t *)leader;
	sr.leader_id.len = strlen(leader);
	sr.leader_addr = (char *)leader_addr;
	sr.raft_applied_index = v.applied;
	sr.raft_term = wfs_raftlog_term(n->raft);
	sr.inodes = v.inodes;
	sr.bytes_used = v.bytes;
	sr.stripes_degraded = v.degraded;
	rc = status_pack(n, &v, &sr, reply);
	view_release(&v);
	return rc;
}

int wfs_adminsvc_register(struct wfs_node *n, struct wfs_rpc_server *s)
{
	return wfs_rpc_server_handle(s, "/wormfs.Admin/Status", h_status, n);
}
