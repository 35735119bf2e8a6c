/* storaged/liveness: gossip's view of the nodes, turned into node records
 * by the master (see liveness.h).
 */
#include "storaged/liveness.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gossip/gossip.h"
#include "log/log.h"
#include "mem/mem.h"
#include "storaged/node_internal.h"

#define SUB "liveness"

struct wfs_liveness {
	struct wfs_node *n;
	struct wfs_gossip *g;
};

/* Gossip thread, on every state change: the master acts at once. */
static void changed(void *arg, const struct wfs_swim_member *m,
		    enum wfs_swim_state old, enum wfs_swim_state now)
{
	struct wfs_liveness *l = arg;
	static const char *const names[] = { "unknown", "alive", "suspect",
					     "dead", "left" };

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
	wfs_config_addr_format(&n->cfg->listen.gossip, bind, sizeof(bind));
	gc.bind = bind;
	gc.pk = n->id.pk;
	gc.sk = n->id.sk;
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

void wfs_liveness_stop(struct wfs_liveness *l)
{
	if (!l)
		return;
	wfs_gossip_free(l->g);
	wfs_free(l);
}
