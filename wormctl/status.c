/* wormctl/status: the commands that show the cluster: status (identity,
 * master, raft, every node and disk) and df (capacity, use and inodes over
 * the cluster, per node and per disk).  Both read Admin.Status; df adds
 * Meta.Statfs, the numbers a mount's df shows.
 */
#include "wormctl/ctl_internal.h"

#include <stdio.h>
#include <string.h>

#include "wormctl/fmt.h"

/* A node as text: "name (addr)", or its short id when it has no name. */
static void node_text(const Wormfs__NodeStatus *n, const char *addr,
		      char *buf, size_t size)
{
	char hex[16];

	if (n && n->name && *n->name) {
		snprintf(buf, size, "%s (%s)", n->name, addr);
		return;
	}
	if (n)
		wfs_ctl_fmt_id(n->node_id.data, n->node_id.len, 8, hex,
			       sizeof(hex));
	snprintf(buf, size, "%s (%s)", n ? hex : "?", addr);
}

static json_t *json_name(const Wormfs__NodeStatus *n)
{
	return n && n->name ? json_string(n->name) : json_null();
}

static void out_disk_use(struct wfs_ctl_out *o, const Wormfs__DiskStatus *d)
{
	uint64_t used = d->capacity > d->free ? d->capacity - d->free : 0;

	wfs_ctl_out_size(o, "capacity", d->capacity);
	wfs_ctl_out_size(o, "used", used);
	wfs_ctl_out_size(o, "free", d->free);
	wfs_ctl_out_pct(o, "use_percent", wfs_ctl_fmt_pct(used, d->capacity));
}

/* The disk's state, online or offline, and while it drains the chunks
 * left on it ("draining, 120 left", "offline (draining, 5 left)" in text,
 * wfs_ctl_fmt_disk_state; in JSON "state", "draining", and "chunks_left",
 * "chunks_missing", "chunks_more", null for a disk not draining). */
static void out_disk_state(struct wfs_ctl_out *o, const Wormfs__DiskStatus *d)
{
	char text[WFS_CTL_DISK_STATE_LEN];
	const char *state = strcmp(d->state, "draining") == 0 ? "online"
							     : d->state;

	wfs_ctl_fmt_disk_state(state, d->draining, d->chunks_left,
			       d->chunks_missing, d->chunks_more, text);
	wfs_ctl_out_field(o, "state", text, json_string(state));
	wfs_ctl_out_field(o, "draining", NULL, json_boolean(d->draining));
	wfs_ctl_out_field(o, "chunks_left", NULL,
			  d->draining ? wfs_ctl_out_json_u64(d->chunks_left)
				      : json_null());
	wfs_ctl_out_field(o, "chunks_missing", NULL,
			  d->draining ? wfs_ctl_out_json_u64(d->chunks_missing)
				      : json_null());
	wfs_ctl_out_field(o, "chunks_more", NULL,
			  d->draining ? json_boolean(d->chunks_more)
				      : json_null());
}

static void out_disks(struct wfs_ctl_out *o, const Wormfs__NodeStatus *n)
{
	wfs_ctl_out_list(o, "disks", NULL, 0);
	for (size_t i = 0; i < n->n_disks; i++) {
		const Wormfs__DiskStatus *d = n->disks[i];

		wfs_ctl_out_item(o);
		wfs_ctl_out_id(o, "disk_id", d->disk_id.data, d->disk_id.len);
		wfs_ctl_out_str(o, "path", d->path);
		out_disk_state(o, d);
		out_disk_use(o, d);
		wfs_ctl_out_end(o);
	}
	wfs_ctl_out_end(o);
}

static const struct wfs_ctl_col status_cols[] = {
	{ "name", "NODE", false },
	{ "role", "ROLE", false },
	{ "state", "STATE", false },
	{ "addr", "ADDRESS", false },
	{ "disks.disk_id", "DISK", false },
	{ "disks.path", "PATH", false },
	{ "disks.state", "STATE", false },
	{ "disks.capacity", "SIZE", true },
	{ "disks.free", "FREE", true },
	{ "disks.use_percent", "USE%", true },
};

static void out_nodes(struct wfs_ctl_out *o, const Wormfs__StatusReply *st)
{
	const unsigned ncols = sizeof(status_cols) / sizeof(status_cols[0]);

	wfs_ctl_out_list(o, "nodes", status_cols, ncols);
	for (size_t i = 0; i < st->n_nodes; i++) {
		const Wormfs__NodeStatus *n = st->nodes[i];
		bool master = st->leader_id.len &&
			      n->node_id.len == st->leader_id.len &&
			      memcmp(n->node_id.data, st->leader_id.data,
				     n->node_id.len) == 0;

		wfs_ctl_out_item(o);
		wfs_ctl_out_str(o, "name", n->name);
		wfs_ctl_out_id(o, "node_id", n->node_id.data, n->node_id.len);
		wfs_ctl_out_field(o, "role", master ? "master" : n->role,
				  json_string(n->role));
		wfs_ctl_out_field(o, "master", NULL, json_boolean(master));
		wfs_ctl_out_str(o, "state", n->state);
		wfs_ctl_out_str(o, "addr", n->addr);
		out_disks(o, n);
		wfs_ctl_out_end(o);
	}
	wfs_ctl_out_end(o);
}

static void out_master(struct wfs_ctl_out *o, const Wormfs__StatusReply *st)
{
	const Wormfs__NodeStatus *n;
	char text[256];

	if (!st->leader_id.len) {
		wfs_ctl_out_field(o, "master", "none: election in progress",
				  json_null());
		wfs_ctl_out_field(o, "master_id", NULL, json_null());
		wfs_ctl_out_field(o, "master_addr", NULL, json_null());
		return;
	}
	n = wfs_ctl_find_node(st, st->leader_id.data, st->leader_id.len);
	node_text(n, st->leader_addr, text, sizeof(text));
	wfs_ctl_out_field(o, "master", text, json_name(n));
	if (wfs_ctl_out_format(o) == WFS_CTL_OUT_JSON) {
		wfs_ctl_out_id(o, "master_id", st->leader_id.data,
			       st->leader_id.len);
		wfs_ctl_out_str(o, "master_addr", st->leader_addr);
	}
}

int wfs_ctl_cmd_status(struct wfs_ctl *ctl)
{
	struct wfs_ctl_out *o = ctl->out;
	const Wormfs__StatusReply *st;
	const Wormfs__NodeStatus *self;
	char text[256];
	int rc;

	rc = wfs_ctl_status(ctl, &st);
	if (rc)
		return wfs_ctl_fail(rc, "status from %s", ctl->args->nodes);
	self = wfs_ctl_find_node(st, st->node_id.data, st->node_id.len);
	wfs_ctl_out_id(o, "cluster_id", st->cluster_id.data,
		       st->cluster_id.len);
	node_text(self, self ? self->addr : "?", text, sizeof(text));
	wfs_ctl_out_field(o, "node", text, json_name(self));
	if (wfs_ctl_out_format(o) == WFS_CTL_OUT_JSON)
		wfs_ctl_out_id(o, "node_id", st->node_id.data,
			       st->node_id.len);
	wfs_ctl_out_str(o, "version", st->version);
	out_master(o, st);
	wfs_ctl_out_u64(o, "raft_term", st->raft_term);
	wfs_ctl_out_u64(o, "raft_applied_index", st->raft_applied_index);
	wfs_ctl_out_u64(o, "inodes", st->inodes);
	wfs_ctl_out_size(o, "bytes_used", st->bytes_used);
	wfs_ctl_out_u64(o, "stripes_degraded", st->stripes_degraded);
	out_nodes(o, st);
	return WFS_CTL_OK;
}

static const struct wfs_ctl_col df_cols[] = {
	{ "name", "NODE", false },
	{ "disks.disk_id", "DISK", false },
	{ "disks.path", "PATH", false },
	{ "disks.state", "STATE", false },
	{ "disks.capacity", "SIZE", true },
	{ "disks.used", "USED", true },
	{ "disks.free", "FREE", true },
	{ "disks.use_percent", "USE%", true },
};

/* A node's totals over its disks (JSON only: the text table has its
 * disks). */
static void out_node_use(struct wfs_ctl_out *o, const Wormfs__NodeStatus *n)
{
	Wormfs__DiskStatus sum = WORMFS__DISK_STATUS__INIT;

	for (size_t i = 0; i < n->n_disks; i++) {
		sum.capacity += n->disks[i]->capacity;
		sum.free += n->disks[i]->free;
	}
	out_disk_use(o, &sum);
}

static void out_df_nodes(struct wfs_ctl_out *o,
			 const Wormfs__StatusReply *st)
{
	const unsigned ncols = sizeof(df_cols) / sizeof(df_cols[0]);

	wfs_ctl_out_list(o, "nodes", df_cols, ncols);
	for (size_t i = 0; i < st->n_nodes; i++) {
		const Wormfs__NodeStatus *n = st->nodes[i];

		wfs_ctl_out_item(o);
		wfs_ctl_out_str(o, "name", n->name);
		wfs_ctl_out_id(o, "node_id", n->node_id.data, n->node_id.len);
		wfs_ctl_out_str(o, "addr", n->addr);
		out_node_use(o, n);
		out_disks(o, n);
		wfs_ctl_out_end(o);
	}
	wfs_ctl_out_end(o);
}

int wfs_ctl_cmd_df(struct wfs_ctl *ctl)
{
	struct wfs_ctl_out *o = ctl->out;
	const Wormfs__StatusReply *st;
	struct wfs_statfs sf;
	uint64_t size, used, avail;
	int rc;

	rc = wfs_client_statfs(ctl->client, &ctl->cred, WFS_CTL_ROOT_INO, &sf);
	if (rc)
		return wfs_ctl_fail(rc, "df: statfs from %s", ctl->args->nodes);
	rc = wfs_ctl_status(ctl, &st);
	if (rc)
		return wfs_ctl_fail(rc, "df: status from %s", ctl->args->nodes);
	size = sf.blocks * sf.frsize;
	used = (sf.blocks - (sf.bfree < sf.blocks ? sf.bfree : sf.blocks)) *
	       sf.frsize;
	avail = sf.bavail * sf.frsize;
	wfs_ctl_out_size(o, "capacity", size);
	wfs_ctl_out_size(o, "used", used);
	wfs_ctl_out_size(o, "free", sf.bfree * sf.frsize);
	wfs_ctl_out_size(o, "avail", avail);
	/* As df: the share of what users may fill. */
	wfs_ctl_out_pct(o, "use_percent", wfs_ctl_fmt_pct(used, used + avail));
	wfs_ctl_out_u64(o, "inodes", sf.files);
	wfs_ctl_out_u64(o, "inodes_used",
			sf.files > sf.ffree ? sf.files - sf.ffree : 0);
	wfs_ctl_out_u64(o, "inodes_free", sf.ffree);
	out_df_nodes(o, st);
	return WFS_CTL_OK;
}
