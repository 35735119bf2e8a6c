/* storaged/nodemeta: a node's gossip meta, its codec and the view of every
 * node's (see nodemeta.h).
 *
 * Format version 1.  An encoding is exactly one msgpack map, nothing
 * before or after it, of at most WFS_NODEMETA_MAX (1024) bytes:
 *
 *   { 0: version, 1: api, 2: peer, 3: role, 4: disks }
 *
 *   keys     u32, strictly ascending (so none appears twice).
 *   0        version u32, 1.  Required, and the first pair: the map header
 *            and this pair are the one part no future version may change.
 *   1 api    str(0..255): the node's API address, "host:port".
 *   2 peer   str(0..255): its node transport address, "ip:port".
 *   3 role   u32: 0 unknown, 1 voter, 2 standby, 3 spare.
 *   4 disks  array(0..48) of disks, each an array of exactly 4:
 *            [id bin(16), capacity u64, free u64, state u32], the state
 *            0 online, 1 offline, 2 draining (enum wfs_place_disk_state).
 *   5...     not defined in version 1: a decoder skips any well-formed
 *            value (nested at most 8 deep) under a key it does not know,
 *            so a later version can add facts that older nodes ignore.
 *
 * Keys 1-4 may be absent: an address is then "", the role unknown, the
 * disk list empty (the encoder always writes all five).  A node whose disks
 * do not all fit names as many as fit; the ones left out keep their
 * metadata records' figures on the other nodes.
 *
 * Elements use msgpack's own formats (multi-byte numbers big-endian): u32
 * and u64 any unsigned form (positive fixint 00-7f, cc, cd, ce, cf) whose
 * value fits; str fixstr a0-bf, str8 d9, str16 da or str32 db, without NUL
 * bytes; bin bin8 c4, bin16 c5 or bin32 c6; arrays fixarray 90-9f, array16
 * dc or array32 dd; the map fixmap 80-8f, map16 de or map32 df.  Nothing
 * else appears under keys 0-4.  Example, a node with no addresses yet,
 * role voter, no disks (7 bytes):
 *
 *   85 00 01 01 a0 02 a0 03 01 04 90      (all five keys: 11 bytes)
 *   83 00 01 03 01 04 90                  (keys 1 and 2 left out: 7)
 *
 * Version rule: the version goes up with any change an older decoder would
 * misread (a key's meaning or form); a new key does not need one.  A meta
 * of another version, or one that breaks any rule above, is ignored whole:
 * that node's disks keep their records' figures.
 *
 * The reader is a small one of exactly these forms rather than msgpack-c's
 * unpacker, which allocates room for an array's elements from its header
 * alone: here nothing is allocated and every count is checked against the
 * bytes left.  Encoding uses msgpack-c's packer.
 */
#include "storaged/nodemeta.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>

#include <msgpack/pack.h>

#include "mem/mem.h"
#include "metadata/op.h"
#include "net/mpread.h"
#include "storaged/disk.h"

enum key {
	KEY_VERSION = 0,
	KEY_API,
	KEY_PEER,
	KEY_ROLE,
	KEY_DISKS,
	KEY_COUNT,	/* keys version 1 defines */
};

#define DISK_FIELDS 4
#define SKIP_DEPTH 8
#define FREE_SLACK_MAX (64ULL << 20)	/* free space news: at most this */

/* ---- encoding ---- */

struct wbuf {
	unsigned char *data;
	size_t len, cap;
	bool overflow;
};

static int put(void *data, const char *buf, size_t len)
{
	struct wbuf *w = data;

	if (len > w->cap - w->len) {
		w->overflow = true;
		return -1;
	}
	if (len)
		memcpy(w->data + w->len, buf, len);
	w->len += len;
	return 0;
}

static void pack_str(msgpack_packer *pk, const char *s)
{
	size_t len = strlen(s);

	msgpack_pack_str(pk, len);
	msgpack_pack_str_body(pk, s, len);
}

static void pack_disk(msgpack_packer *pk, const struct wfs_nodemeta_disk *d)
{
	msgpack_pack_array(pk, DISK_FIELDS);
	msgpack_pack_bin(pk, sizeof(d->id));
	msgpack_pack_bin_body(pk, d->id, sizeof(d->id));
	msgpack_pack_uint64(pk, d->capacity);
	msgpack_pack_uint64(pk, d->free);
	msgpack_pack_uint32(pk, d->state);
}

static bool addr_ok(const char *a)
{
	return strnlen(a, WFS_NODEMETA_ADDR_MAX + 1) <= WFS_NODEMETA_ADDR_MAX;
}

static bool meta_ok(const struct wfs_nodemeta *m)
{
	if (!addr_ok(m->api) || !addr_ok(m->peer) ||
	    m->role > WFS_NODEMETA_ROLE_SPARE ||
	    m->ndisks > WFS_NODEMETA_DISKS_MAX)
		return false;
	for (unsigned i = 0; i < m->ndisks; i++)
		if (m->disks[i].state > WFS_PLACE_DISK_DRAINING)
			return false;
	return true;
}

/* Pack the disks of @m into @w while they fit, noting in @ends where each
 * one ended (0 from the first that did not). */
static void pack_disks(const struct wfs_nodemeta *m, struct wbuf *w,
		       size_t *ends)
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, w, put);
	for (unsigned i = 0; i < m->ndisks && !w->overflow; i++) {
		pack_disk(&pk, &m->disks[i]);
		ends[i] = w->overflow ? 0 : w->len;
	}
}

int wfs_nodemeta_encode(const struct wfs_nodemeta *m, void *buf, size_t cap,
			size_t *len, unsigned *ndisks)
{
	unsigned char list[WFS_NODEMETA_MAX];
	size_t ends[WFS_NODEMETA_DISKS_MAX] = { 0 };
	struct wbuf w = { buf, 0, cap < WFS_NODEMETA_MAX ? cap
							 : WFS_NODEMETA_MAX,
			  false };
	struct wbuf lw = { list, 0, sizeof(list), false };
	msgpack_packer pk;
	unsigned k = 0;
	size_t head;

	if (!meta_ok(m))
		return -EINVAL;
	msgpack_packer_init(&pk, &w, put);
	msgpack_pack_map(&pk, KEY_COUNT);
	msgpack_pack_uint32(&pk, KEY_VERSION);
	msgpack_pack_uint32(&pk, WFS_NODEMETA_VERSION);
	msgpack_pack_uint32(&pk, KEY_API);
	pack_str(&pk, m->api);
	msgpack_pack_uint32(&pk, KEY_PEER);
	pack_str(&pk, m->peer);
	msgpack_pack_uint32(&pk, KEY_ROLE);
	msgpack_pack_uint32(&pk, m->role);
	msgpack_pack_uint32(&pk, KEY_DISKS);
	/* Pack the disks aside, then take as many as fit after the array
	 * header their count needs (1 byte up to 15, 3 beyond). */
	pack_disks(m, &lw, ends);
	head = w.len;
	while (!w.overflow && k < m->ndisks && ends[k] &&
	       head + (k + 1 > 15 ? 3 : 1) + ends[k] <= w.cap)
		k++;
	msgpack_pack_array(&pk, k);
	if (k)
		put(&w, (const char *)list, ends[k - 1]);
	if (w.overflow)
		return -EMSGSIZE;
	*len = w.len;
	*ndisks = k;
	return 0;
}

/* ---- decoding ---- */

static int rd_addr(struct wfs_mpread *r, char *out)
{
	const unsigned char *s;
	size_t len;

	if (wfs_mpread_bytes(r, true, 0, WFS_NODEMETA_ADDR_MAX, &s, &len) < 0 ||
	    memchr(s, '\0', len))
		return -EPROTO;
	memcpy(out, s, len);
	out[len] = '\0';
	return 0;
}

static int rd_disk(struct wfs_mpread *r, struct wfs_nodemeta_disk *d)
{
	const unsigned char *id;
	uint64_t n, state;
	size_t len;

	if (wfs_mpread_count(r, false, &n) < 0 || n != DISK_FIELDS ||
	    wfs_mpread_bytes(r, false, sizeof(d->id), sizeof(d->id), &id, &len) < 0 ||
	    wfs_mpread_uint(r, UINT64_MAX, &d->capacity) < 0 ||
	    wfs_mpread_uint(r, UINT64_MAX, &d->free) < 0 ||
	    wfs_mpread_uint(r, WFS_PLACE_DISK_DRAINING, &state) < 0)
		return -EPROTO;
	memcpy(d->id, id, sizeof(d->id));
	d->state = (uint32_t)state;
	return 0;
}

static int rd_disks(struct wfs_mpread *r, struct wfs_nodemeta *m)
{
	uint64_t n;

	if (wfs_mpread_count(r, false, &n) < 0 || n > WFS_NODEMETA_DISKS_MAX)
		return -EPROTO;
	for (uint64_t i = 0; i < n; i++)
		if (rd_disk(r, &m->disks[i]) < 0)
			return -EPROTO;
	m->ndisks = (unsigned)n;
	return 0;
}

static int rd_pair(struct wfs_mpread *r, uint64_t key, struct wfs_nodemeta *m)
{
	uint64_t v;

	switch (key) {
	case KEY_API:
		return rd_addr(r, m->api);
	case KEY_PEER:
		return rd_addr(r, m->peer);
	case KEY_ROLE:
		if (wfs_mpread_uint(r, WFS_NODEMETA_ROLE_SPARE, &v) < 0)
			return -EPROTO;
		m->role = (uint32_t)v;
		return 0;
	case KEY_DISKS:
		return rd_disks(r, m);
	default:
		return wfs_mpread_skip(r, SKIP_DEPTH);
	}
}

int wfs_nodemeta_decode(const void *buf, size_t len, struct wfs_nodemeta *out)
{
	struct wfs_mpread r = { buf, (const unsigned char *)buf + len };
	uint64_t n, key, prev = KEY_VERSION, version;

	if (len > WFS_NODEMETA_MAX)
		return -EMSGSIZE;
	memset(out, 0, sizeof(*out));
	if (wfs_mpread_count(&r, true, &n) < 0 || n == 0 ||
	    wfs_mpread_uint(&r, UINT32_MAX, &key) < 0 || key != KEY_VERSION ||
	    wfs_mpread_uint(&r, UINT32_MAX, &version) < 0)
		return -EPROTO;
	if (version != WFS_NODEMETA_VERSION)
		return -EPROTONOSUPPORT;
	for (uint64_t i = 1; i < n; i++) {
		if (wfs_mpread_uint(&r, UINT32_MAX, &key) < 0 || key <= prev ||
		    rd_pair(&r, key, out) < 0)
			return -EPROTO;
		prev = key;
	}
	return r.p == r.end ? 0 : -EPROTO;
}

/* ---- rules ---- */

static const struct wfs_nodemeta_disk *
disk_find(const struct wfs_nodemeta *m, const unsigned char *id)
{
	for (unsigned i = 0; i < m->ndisks; i++)
		if (memcmp(m->disks[i].id, id, WFS_NODEMETA_DISK_ID_LEN) == 0)
			return &m->disks[i];
	return NULL;
}

static bool disk_moved(const struct wfs_nodemeta_disk *was,
		       const struct wfs_nodemeta_disk *now)
{
	uint64_t slack = now->capacity / 100, diff;

	if (slack > FREE_SLACK_MAX)
		slack = FREE_SLACK_MAX;
	diff = was->free > now->free ? was->free - now->free
				     : now->free - was->free;
	return was->state != now->state || was->capacity != now->capacity ||
	       (diff > 0 && diff >= slack);
}

bool wfs_nodemeta_differs(const struct wfs_nodemeta *was,
			  const struct wfs_nodemeta *now)
{
	if (strcmp(was->api, now->api) != 0 ||
	    strcmp(was->peer, now->peer) != 0 || was->role != now->role ||
	    was->ndisks != now->ndisks)
		return true;
	for (unsigned i = 0; i < now->ndisks; i++) {
		const struct wfs_nodemeta_disk *d =
			disk_find(was, now->disks[i].id);

		if (!d || disk_moved(d, &now->disks[i]))
			return true;
	}
	return false;
}

int wfs_nodemeta_disk_id(const char *hex,
			 unsigned char out[WFS_NODEMETA_DISK_ID_LEN])
{
	size_t bin_len = 0;
	const char *end = NULL;

	if (strlen(hex) != WFS_DISK_ID_LEN ||
	    sodium_hex2bin(out, WFS_NODEMETA_DISK_ID_LEN, hex,
			   WFS_DISK_ID_LEN, NULL, &bin_len, &end) != 0 ||
	    bin_len != WFS_NODEMETA_DISK_ID_LEN || *end)
		return -EINVAL;
	return 0;
}

void wfs_nodemeta_overlay(const struct wfs_nodemeta_disk *g,
			  struct wfs_place_disk *d)
{
	d->capacity = g->capacity;
	d->free = g->free;
	if (g->state == WFS_PLACE_DISK_OFFLINE)
		d->state = WFS_PLACE_DISK_OFFLINE;
	else if (g->state == WFS_PLACE_DISK_DRAINING ||
		 d->state == WFS_PLACE_DISK_DRAINING)
		d->state = WFS_PLACE_DISK_DRAINING;
	else
		d->state = WFS_PLACE_DISK_ONLINE;
}

/* ---- the view ---- */

struct view_node {
	char id[WFS_META_ID_MAX + 1];
	struct wfs_nodemeta m;
};

struct wfs_nodeview {
	pthread_mutex_t lock;
	struct view_node *nodes;	/* lock */
	size_t n, cap;			/* lock */
};

int wfs_nodeview_new(struct wfs_nodeview **out)
{
	struct wfs_nodeview *v = wfs_calloc(1, sizeof(*v));

	*out = NULL;
	if (!v)
		return -ENOMEM;
	pthread_mutex_init(&v->lock, NULL);
	*out = v;
	return 0;
}

void wfs_nodeview_free(struct wfs_nodeview *v)
{
	if (!v)
		return;
	pthread_mutex_destroy(&v->lock);
	wfs_free(v->nodes);
	wfs_free(v);
}

/* The entry of node @id, or NULL.  Lock held. */
static struct view_node *node_find(struct wfs_nodeview *v, const char *id)
{
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->nodes[i].id, id) == 0)
			return &v->nodes[i];
	return NULL;
}

/* A new entry at the end.  Lock held. */
static struct view_node *node_add(struct wfs_nodeview *v, const char *id)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? 2 * v->cap : 8;
		struct view_node *grown;

		grown = wfs_realloc(v->nodes, cap * sizeof(*grown));
		if (!grown)
			return NULL;
		v->nodes = grown;
		v->cap = cap;
	}
	strcpy(v->nodes[v->n].id, id);
	return &v->nodes[v->n++];
}

int wfs_nodeview_set(struct wfs_nodeview *v, const char *node_id,
		     const struct wfs_nodemeta *m)
{
	size_t len = strlen(node_id);
	struct view_node *e;
	int rc = 0;

	if (len == 0 || len > WFS_META_ID_MAX)
		return -EINVAL;
	pthread_mutex_lock(&v->lock);
	e = node_find(v, node_id);
	if (!m) {
		if (e)
			*e = v->nodes[--v->n];
		goto out_unlock;
	}
	if (!e)
		e = node_add(v, node_id);
	if (e)
		e->m = *m;
	else
		rc = -ENOMEM;
out_unlock:
	pthread_mutex_unlock(&v->lock);
	return rc;
}

size_t wfs_nodeview_overlay(struct wfs_nodeview *v, struct wfs_place_disk *d,
			    size_t n)
{
	const struct view_node *e = NULL;
	unsigned char id[WFS_NODEMETA_DISK_ID_LEN];
	size_t done = 0;

	if (!v)
		return 0;
	pthread_mutex_lock(&v->lock);
	for (size_t i = 0; i < n && v->n; i++) {
		const struct wfs_nodemeta_disk *g;

		/* Records come grouped by node often enough that the last
		 * node found is worth trying first. */
		if (!e || strcmp(e->id, d[i].node_id) != 0)
			e = node_find(v, d[i].node_id);
		if (!e || wfs_nodemeta_disk_id(d[i].disk_id, id) != 0)
			continue;
		g = disk_find(&e->m, id);
		if (g) {
			wfs_nodemeta_overlay(g, &d[i]);
			done++;
		}
	}
	pthread_mutex_unlock(&v->lock);
	return done;
}

size_t wfs_nodeview_count(struct wfs_nodeview *v)
{
	size_t n;

	pthread_mutex_lock(&v->lock);
	n = v->n;
	pthread_mutex_unlock(&v->lock);
	return n;
}
