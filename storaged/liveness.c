/* storaged/liveness: gossip's view of the nodes, turned into node records
 * by the master, and this node's meta published through it (see
 * liveness.h; the meta's format is in nodemeta.c).
 */
#include "storaged/liveness.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gossip/gossip.h"
#include "log/log.h"
#include "mem/mem.h"
#include "storaged/node_internal.h"
#include "storaged/nodemeta.h"

#define SUB "liveness"
#define REFRESH_MIN_MS 500	/* kicks come in bursts: measure once */
#define BAD_META_WARN_MS 10000	/* one warning per this, about any node */

struct wfs_liveness {
	struct wfs_node *n;
	struct wfs_gossip *g;
	struct wfs_nodeview *view;	/* every node's meta, this one's too */

	/* Upkeep thread only (and start, before it runs). */
	struct wfs_nodemeta published;	/* as last published, truncated to
					 * the disks that fitted */
	struct wfs_nodemeta next;	/* being composed */
	unsigned char buf[WFS_NODEMETA_MAX];
	size_t len;
	struct wfs_store_disk_info *infos;	/* room for every disk */
	unsigned ninfos;
	struct wfs_raftlog_member *members;
	unsigned nmembers;
	uint64_t refreshed_ms;		/* when it last measured */
	bool warned_fit;		/* said that not all disks fit */

	/* Gossip thread only. */
	struct wfs_nodemeta decoded;
	uint64_t warn_next_ms;		/* no warning about bad meta before */
	unsigned warn_quiet;		/* bad meta not warned about since */
};

/* ---- what other nodes say (gossip thread) ---- */

static const char *bad_meta_reason(int rc)
{
	return rc == -EPROTONOSUPPORT ? "another format version"
	       : rc == -EMSGSIZE      ? "too long"
				      : "malformed";
}

static void warn_bad_meta(struct wfs_liveness *l, const char *node_id,
			  const struct wfs_swim_member *m, int rc)
{
	uint64_t now = wfs_node_mono_ms();
	char more[64] = "";

	if (now < l->warn_next_ms) {
		l->warn_quiet++;
		return;
	}
	if (l->warn_quiet)
		snprintf(more, sizeof(more), " (%u more ignored since the "
			 "last warning)", l->warn_quiet);
	wfs_log_warn(SUB, "node %s (%s): gossip meta ignored (%s, %zu bytes); "
		     "its disks keep their recorded figures%s", node_id,
		     m->addr, bad_meta_reason(rc), m->meta_len, more);
	l->warn_next_ms = now + BAD_META_WARN_MS;
	l->warn_quiet = 0;
}

/* Put what member @m says about itself into the view: its decoded meta
 * while it is alive or suspect, nothing otherwise. */
static void view_update(struct wfs_liveness *l, const struct wfs_swim_member *m)
{
	bool usable = m->state == WFS_SWIM_ALIVE ||
		      m->state == WFS_SWIM_SUSPECT;
	struct wfs_identity id;
	int rc = 0;

	if (wfs_identity_from_pk(m->id, &id) != 0)
		return;
	if (usable && m->meta_len) {
		rc = wfs_nodemeta_decode(m->meta, m->meta_len, &l->decoded);
		if (rc)
			warn_bad_meta(l, id.node_id, m, rc);
	}
	if (wfs_nodeview_set(l->view, id.node_id,
			     usable && m->meta_len && rc == 0 ? &l->decoded
							       : NULL) != 0)
		wfs_log_warn(SUB, "node %s: gossip meta dropped: out of memory",
			     id.node_id);
	wfs_identity_release(&id);
}

/* Gossip thread, on every change: a change of state concerns the master
 * at once; a change of meta only the view. */
static void changed(void *arg, const struct wfs_swim_member *m,
		    enum wfs_swim_state old, enum wfs_swim_state now)
{
	struct wfs_liveness *l = arg;
	static const char *const names[] = { "unknown", "alive", "suspect",
					     "dead", "left" };

	view_update(l, m);
	if (old == now)
		return;
	if (now == WFS_SWIM_DEAD || now == WFS_SWIM_LEFT ||
	    (now == WFS_SWIM_ALIVE && old != WFS_SWIM_SUSPECT))
		wfs_log_info(SUB, "node %s (%s): %s -> %s", m->name, m->addr,
			     names[old], names[now]);
	wfs_node_kick(l->n);
}

static bool admit(void *arg, const unsigned char *pk)
{
	struct wfs_liveness *l = arg;

	return wfs_node_admitted(l->n, pk);
}

/* ---- what this node says (upkeep thread) ---- */

/* This node's role in the raft group's configuration, as it knows it. */
static uint32_t own_role(struct wfs_liveness *l)
{
	struct wfs_node *n = l->n;
	unsigned count;

	if (!n->raft)
		return WFS_NODEMETA_ROLE_UNKNOWN;
	count = wfs_raftlog_members(n->raft, l->members, l->nmembers);
	if (count > l->nmembers) {
		struct wfs_raftlog_member *grown;

		grown = wfs_realloc(l->members, count * sizeof(*grown));
		if (grown) {
			l->members = grown;
			l->nmembers = count;
			count = wfs_raftlog_members(n->raft, l->members,
						    l->nmembers);
		}
		if (count > l->nmembers)
			count = l->nmembers;
	}
	for (unsigned i = 0; i < count; i++) {
		if (l->members[i].id != n->id.raft_id)
			continue;
		return l->members[i].role == WFS_RAFTLOG_MEMBER_VOTER
			       ? WFS_NODEMETA_ROLE_VOTER
		       : l->members[i].role == WFS_RAFTLOG_MEMBER_STANDBY
			       ? WFS_NODEMETA_ROLE_STANDBY
			       : WFS_NODEMETA_ROLE_SPARE;
	}
	return WFS_NODEMETA_ROLE_UNKNOWN;
}

/* Copy address @a into @out if the format can carry it, else leave it
 * out: an address that long is not one gossip can tell. */
static void set_addr(char *out, const char *a)
{
	size_t len = strlen(a);

	if (len > WFS_NODEMETA_ADDR_MAX)
		len = 0;
	memcpy(out, a, len);
	out[len] = '\0';
}

/* Add this node's disks to @m, offline ones first: if not all fit, the
 * news that matters most goes out. */
static void add_disks(struct wfs_liveness *l, struct wfs_nodemeta *m,
		      unsigned *total)
{
	unsigned count = wfs_node_disks(l->n, l->infos, l->ninfos);

	*total = count;
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < count; i++) {
			const struct wfs_store_disk_info *info = &l->infos[i];
			uint32_t state = wfs_node_disk_state(info);
			struct wfs_nodemeta_disk *d;

			if (m->ndisks == WFS_NODEMETA_DISKS_MAX)
				return;
			if ((state == WFS_PLACE_DISK_OFFLINE) != (pass == 0))
				continue;
			d = &m->disks[m->ndisks];
			if (wfs_nodemeta_disk_id(info->id, d->id) != 0)
				continue;	/* not a disk id: cannot name it */
			d->capacity = info->capacity;
			d->free = info->avail;
			d->state = state;
			m->ndisks++;
		}
	}
}

/* Compose this node's meta into l->next and encode it into l->buf. */
static int compose(struct wfs_liveness *l)
{
	struct wfs_nodemeta *m = &l->next;
	unsigned total, fitted;
	int rc;

	memset(m, 0, sizeof(*m));
	set_addr(m->api, l->n->api_addr);
	set_addr(m->peer, l->n->raft_addr);
	m->role = own_role(l);
	add_disks(l, m, &total);
	rc = wfs_nodemeta_encode(m, l->buf, sizeof(l->buf), &l->len, &fitted);
	if (rc) {
		wfs_log_error(SUB, "node %s: cannot encode its gossip meta: %s",
			      l->n->id.node_id, strerror(-rc));
		return rc;
	}
	if (fitted < total && !l->warned_fit) {
		wfs_log_warn(SUB, "node %s: gossip carries %u of its %u disks "
			     "(no room for more); the others are known to the "
			     "master by their records only", l->n->id.node_id,
			     fitted, total);
		l->warned_fit = true;
	}
	m->ndisks = fitted;
	return 0;
}

/* l->next is now what this node says: record it as published, in the
 * view too (placement on this node counts its own disks). */
static void mark_published(struct wfs_liveness *l)
{
	l->published = l->next;
	if (wfs_nodeview_set(l->view, l->n->id.node_id, &l->published) != 0)
		wfs_log_warn(SUB, "node %s: own gossip meta not in the view: "
			     "out of memory", l->n->id.node_id);
}

void wfs_liveness_refresh(struct wfs_liveness *l)
{
	uint64_t now;
	int rc;

	if (!l)
		return;
	now = wfs_node_mono_ms();
	if (l->refreshed_ms && now - l->refreshed_ms < REFRESH_MIN_MS)
		return;
	l->refreshed_ms = now;
	if (compose(l) != 0 || !wfs_nodemeta_differs(&l->published, &l->next))
		return;
	rc = wfs_gossip_set_meta(l->g, l->buf, l->len);
	if (rc) {
		wfs_log_error(SUB, "node %s: cannot publish its gossip meta: "
			      "%s", l->n->id.node_id, strerror(-rc));
		return;
	}
	wfs_log_debug(SUB, "node %s: gossip meta published (%zu bytes, %u "
		      "disks)", l->n->id.node_id, l->len, l->next.ndisks);
	mark_published(l);
}

size_t wfs_liveness_overlay(struct wfs_liveness *l, struct wfs_place_disk *d,
			    size_t n)
{
	return l ? wfs_nodeview_overlay(l->view, d, n) : 0;
}

/* ---- start, join, stop ---- */

/* What start needs before the runner: the view, the buffers, and the
 * meta to start with. */
static int prepare(struct wfs_liveness *l)
{
	int rc;

	l->ninfos = wfs_store_disk_count(l->n->store);
	l->infos = wfs_calloc(l->ninfos + 1, sizeof(*l->infos));
	if (!l->infos)
		return -ENOMEM;
	rc = wfs_nodeview_new(&l->view);
	if (rc == 0)
		rc = compose(l);
	return rc;
}

int wfs_liveness_start(struct wfs_node *n, struct wfs_liveness **out)
{
	struct wfs_liveness *l = wfs_calloc(1, sizeof(*l));
	char bind[WFS_CONFIG_HOST_MAX + 16];
	struct wfs_gossip_config gc = { 0 };
	int rc;

	*out = NULL;
	if (!l)
		return -ENOMEM;
	l->n = n;
	rc = prepare(l);
	if (rc) {
		wfs_liveness_stop(l);
		return rc;
	}
	wfs_config_addr_format(&n->cfg->listen.gossip, bind, sizeof(bind));
	gc.bind = bind;
	gc.pk = n->id.pk;
	gc.sk = n->id.sk;
	gc.meta = l->buf;
	gc.meta_len = l->len;
	gc.admit = admit;
	gc.changed = changed;
	gc.arg = l;
	rc = wfs_gossip_new(&gc, &l->g);
	if (rc == 0)
		rc = wfs_gossip_start(l->g);
	if (rc) {
		wfs_log_error(SUB, "listen.gossip %s: cannot gossip: %s%s", bind,
			      strerror(-rc),
			      rc == -EINVAL ? " (it must be an IP address "
					      "and port, not a wildcard)"
					    : "");
		wfs_liveness_stop(l);
		return rc;
	}
	mark_published(l);
	*out = l;
	return 0;
}

const char *wfs_liveness_addr(const struct wfs_liveness *l)
{
	return wfs_gossip_addr(l->g);
}

int wfs_liveness_join(struct wfs_liveness *l, const char *addr)
{
	return wfs_gossip_join(l->g, &addr, 1);
}

/* Record member @m's state if the record says otherwise. */
static int sync_one(struct wfs_node *n, const struct wfs_swim_member *m)
{
	struct wfs_identity id;
	struct wfs_node_record rec;
	uint32_t state;
	int rc;

	if (m->self)
		return 0;
	if (m->state == WFS_SWIM_DEAD || m->state == WFS_SWIM_LEFT)
		state = WFS_NODE_STATE_DEAD;
	else if (m->state == WFS_SWIM_ALIVE || m->state == WFS_SWIM_SUSPECT)
		state = WFS_NODE_STATE_ALIVE;
	else
		return 0;
	if (wfs_identity_from_pk(m->id, &id) != 0)
		return -EIO;
	rc = wfs_node_record_find(n, id.node_id, &rec);
	/* Never joined (no address): it comes alive by joining. */
	if (rc == 0 && rec.found && rec.state != state && rec.addr[0]) {
		rc = wfs_node_record_set(n, id.node_id, rec.name, rec.addr,
					 rec.role, state);
		if (rc == 0)
			wfs_log_warn(SUB, "node %s (%s, %s) is %s", id.node_id,
				     rec.name, rec.addr,
				     state == WFS_NODE_STATE_DEAD
					     ? "dead: no new chunks go to it"
					     : "alive again");
	}
	wfs_identity_release(&id);
	return rc;
}

void wfs_liveness_sync(struct wfs_liveness *l)
{
	struct wfs_swim_member *v;
	size_t count;

	if (!l || wfs_gossip_members(l->g, &v, &count) != 0)
		return;
	for (size_t i = 0; i < count; i++)
		if (sync_one(l->n, &v[i]) != 0)
			break;
	wfs_free(v);
}

const char *wfs_liveness_state_of(struct wfs_liveness *l,
				  const char *node_id)
{
	struct wfs_swim_member *v;
	const char *state = NULL;
	size_t count;

	if (!l || wfs_gossip_members(l->g, &v, &count) != 0)
		return NULL;
	for (size_t i = 0; i < count && !state; i++) {
		struct wfs_identity id;

		if (wfs_identity_from_pk(v[i].id, &id) != 0)
			continue;
		if (strcmp(id.node_id, node_id) == 0)
			state = v[i].state == WFS_SWIM_ALIVE	   ? "alive"
				: v[i].state == WFS_SWIM_SUSPECT ? "suspect"
				: v[i].state == WFS_SWIM_DEAD	   ? "dead"
				: v[i].state == WFS_SWIM_LEFT	   ? "left"
								   : NULL;
		wfs_identity_release(&id);
	}
	wfs_free(v);
	return state;
}

/* The peer address member @m gossips, into @addr; @meta is scratch. */
static int member_peer(const struct wfs_swim_member *m,
		       struct wfs_nodemeta *meta, char *addr, size_t cap)
{
	size_t len;

	if (m->meta_len == 0 ||
	    wfs_nodemeta_decode(m->meta, m->meta_len, meta) != 0 ||
	    !meta->peer[0])
		return -EADDRNOTAVAIL;
	len = strlen(meta->peer);
	if (len >= cap)
		return -ERANGE;
	memcpy(addr, meta->peer, len + 1);
	return 0;
}

int wfs_liveness_peer(struct wfs_liveness *l, const char *node_id,
		      unsigned char pk[WFS_IDENTITY_PK_LEN], char *addr,
		      size_t cap)
{
	struct wfs_nodemeta *meta;
	struct wfs_swim_member *v;
	size_t count;
	int rc = -ENOENT;

	if (!l)
		return -ENOENT;
	/* About 2.5 KiB: not on the caller's stack. */
	meta = wfs_malloc(sizeof(*meta));
	if (!meta || wfs_gossip_members(l->g, &v, &count) != 0) {
		wfs_free(meta);
		return -ENOMEM;
	}
	for (size_t i = 0; i < count && rc == -ENOENT; i++) {
		struct wfs_identity id;
		bool same;

		if (v[i].state != WFS_SWIM_ALIVE &&
		    v[i].state != WFS_SWIM_SUSPECT)
			continue;
		if (wfs_identity_from_pk(v[i].id, &id) != 0)
			continue;
		same = strcmp(id.node_id, node_id) == 0;
		wfs_identity_release(&id);
		if (!same)
			continue;
		rc = member_peer(&v[i], meta, addr, cap);
		if (rc == 0)
			memcpy(pk, v[i].id, WFS_IDENTITY_PK_LEN);
	}
	wfs_free(meta);
	wfs_free(v);
	return rc;
}

void wfs_liveness_stop(struct wfs_liveness *l)
{
	if (!l)
		return;
	/* The gossip thread (which feeds the view) ends first. */
	wfs_gossip_free(l->g);
	wfs_nodeview_free(l->view);
	wfs_free(l->members);
	wfs_free(l->infos);
	wfs_free(l);
}
