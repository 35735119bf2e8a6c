/* storaged/nodemeta: what a node tells the cluster about itself through
 * gossip (its swim meta, gossip/swim.h): its API and peer addresses, its
 * role, and each disk's capacity, free space and state.  The byte format
 * and its version rule are at the top of nodemeta.c.
 *
 * Three parts:
 *   - the codec: wfs_nodemeta_encode/_decode, strict, allocation-free;
 *   - the rules over it: when a node's figures moved enough to be worth
 *     publishing again (wfs_nodemeta_differs), and how gossip's figures
 *     for a disk override the metadata's record of it
 *     (wfs_nodemeta_overlay);
 *   - the view: the decoded meta of every node gossip deems alive, kept
 *     under a lock, so placement (once per stripe) looks figures up
 *     without decoding anything.
 *
 * It is not the gossip runner (storaged/liveness owns that and feeds the
 * view), and it never writes to the metadata: the Join path and the
 * master's own disk records stay the durable source; this is the fresh
 * one.
 */
#ifndef WFS_STORAGED_NODEMETA_H
#define WFS_STORAGED_NODEMETA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gossip/swim.h"
#include "placement/place.h"

#define WFS_NODEMETA_VERSION 1
#define WFS_NODEMETA_MAX WFS_SWIM_META_MAX	/* bytes of an encoding */
#define WFS_NODEMETA_ADDR_MAX 255	/* bytes of an address, without NUL */
#define WFS_NODEMETA_DISK_ID_LEN 16	/* a disk id in binary (the 32 hex
					 * digits of WFS_DISK_ID_LEN) */
/* Disks one encoding can name: the smallest disk entry takes 22 bytes, so
 * no more than 46 fit in WFS_NODEMETA_MAX. */
#define WFS_NODEMETA_DISKS_MAX 48

/* A node's role in the raft group, as it knows it. */
enum wfs_nodemeta_role {
	WFS_NODEMETA_ROLE_UNKNOWN = 0,	/* not a member, or not known yet */
	WFS_NODEMETA_ROLE_VOTER = 1,
	WFS_NODEMETA_ROLE_STANDBY = 2,
	WFS_NODEMETA_ROLE_SPARE = 3,	/* in the group, no log, no vote */
};

/* One disk of a node. */
struct wfs_nodemeta_disk {
	unsigned char id[WFS_NODEMETA_DISK_ID_LEN];	/* disk id, binary */
	uint64_t capacity;	/* bytes */
	uint64_t free;		/* bytes available for new chunks */
	uint32_t state;		/* enum wfs_place_disk_state */
};

/* What a node says about itself; a plain value (about 2.5 KiB). */
struct wfs_nodemeta {
	char api[WFS_NODEMETA_ADDR_MAX + 1];	/* API "host:port", or "" */
	char peer[WFS_NODEMETA_ADDR_MAX + 1];	/* node transport, or "" */
	uint32_t role;				/* enum wfs_nodemeta_role */
	unsigned ndisks;			/* entries used in @disks */
	struct wfs_nodemeta_disk disks[WFS_NODEMETA_DISKS_MAX];
};

/* Encode @m into @buf (@cap bytes, at most WFS_NODEMETA_MAX of them are
 * used): the addresses, the role, and as many of m->disks, in order, as
 * fit.  *len is the encoding's length and *ndisks how many disks it names
 * (the first *ndisks of m->disks).  Returns 0; -EINVAL if @m breaks the
 * format (an address too long or holding a NUL byte, a role or disk state
 * out of range, ndisks over WFS_NODEMETA_DISKS_MAX); -EMSGSIZE if not even
 * the part without disks fits.  Any thread. */
int wfs_nodemeta_encode(const struct wfs_nodemeta *m, void *buf, size_t cap,
			size_t *len, unsigned *ndisks);

/* Decode the @len bytes at @buf (borrowed) into *out.  Returns 0;
 * -EMSGSIZE if @len is over WFS_NODEMETA_MAX; -EPROTONOSUPPORT for another
 * format version; -EPROTO for anything else that breaks the format (out
 * is then unspecified).  Never allocates.  Any thread. */
int wfs_nodemeta_decode(const void *buf, size_t len, struct wfs_nodemeta *out);

/* Whether @now differs from @was enough to publish it: another address or
 * role, a disk appeared, disappeared, changed state or capacity, or a
 * disk's free space moved by at least 1% of its capacity or 64 MiB,
 * whichever is smaller (every publication raises the node's incarnation
 * and floods the cluster, so a disk being written is not news at every
 * chunk).  Disks are matched by id, in any order. */
bool wfs_nodemeta_differs(const struct wfs_nodemeta *was,
			  const struct wfs_nodemeta *now);

/* The binary form of disk id @hex (WFS_DISK_ID_LEN hex digits) into @out.
 * Returns 0 or -EINVAL if @hex is not a disk id. */
int wfs_nodemeta_disk_id(const char *hex,
			 unsigned char out[WFS_NODEMETA_DISK_ID_LEN]);

/* Let gossip's figures @g for a disk override the record @d of it:
 * capacity and free are taken as they are; the state is gossip's, except
 * that a disk the record says is draining (an operator's decision) stays
 * draining unless gossip says it is offline.  d->node_id and d->disk_id
 * are left alone. */
void wfs_nodemeta_overlay(const struct wfs_nodemeta_disk *g,
			  struct wfs_place_disk *d);

struct wfs_nodeview;

/* Make an empty view.  Returns 0 and *out (release it with
 * wfs_nodeview_free), or -ENOMEM. */
int wfs_nodeview_new(struct wfs_nodeview **out);

/* Release @v.  NULL is a no-op. */
void wfs_nodeview_free(struct wfs_nodeview *v);

/* What node @node_id (its id as the metadata has it, 1..WFS_META_ID_MAX
 * bytes) says about itself is now @m (copied), or, with @m NULL, nothing
 * usable (gossip finds it dead or gone, or its meta is missing or
 * malformed): its disks then keep their records' figures.  Returns 0,
 * -EINVAL for a bad @node_id, or -ENOMEM (the node then has no view:
 * records rule).  Any thread. */
int wfs_nodeview_set(struct wfs_nodeview *v, const char *node_id,
		     const struct wfs_nodemeta *m);

/* Overlay the view onto the @n disks at @d (wfs_nodemeta_overlay): each
 * disk whose node has a view that names it (d[i].disk_id is the disk id in
 * hex) takes the view's figures; the others are left as they are.
 * Returns how many were overlaid.  @v NULL overlays nothing.  Any thread;
 * it holds the view's lock for the call, which never blocks otherwise. */
size_t wfs_nodeview_overlay(struct wfs_nodeview *v, struct wfs_place_disk *d,
			    size_t n);

/* How many nodes have a view.  Any thread. */
size_t wfs_nodeview_count(struct wfs_nodeview *v);

#endif
