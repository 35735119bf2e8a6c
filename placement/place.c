/* placement/place: choosing the disks of a new stripe (see place.h).
 *
 * The pick is made chunk by chunk.  Each round looks at the nodes that
 * still have an unused usable disk, keeps those holding the fewest chunks
 * of this stripe so far, draws one of them weighted by the free space of
 * its unused disks, then draws one of that node's unused disks weighted by
 * its own free space.  Taking the least-loaded nodes first gives distinct
 * nodes while there are enough of them and an even spread when there are
 * not; drawing by free space fills disks in proportion to their room.
 *
 * Weights are free space in MiB plus one, so a disk that barely fits a
 * chunk can still be drawn and sums of thousands of disks cannot overflow.
 * The generator is splitmix64, which is tiny and good enough for placement.
 */
#include "placement/place.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "mem/mem.h"

/* Scratch state of one pick, sized by the number of disks. */
struct pick {
	const struct wfs_place_disk *disks;
	size_t ndisks;
	size_t *node_of;	/* disk -> node ordinal */
	bool *usable;		/* usable and not yet taken */
	unsigned *count;	/* node ordinal -> chunks placed there */
	uint64_t *weight;	/* node ordinal -> free weight of its disks */
	size_t nnodes;
	uint64_t rng;
};

static uint64_t next_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* A uniform draw in [0, @bound), @bound > 0. */
static uint64_t draw(uint64_t *state, uint64_t bound)
{
	return (uint64_t)(((unsigned __int128)next_rand(state) * bound) >> 64);
}

static uint64_t disk_weight(const struct wfs_place_disk *d)
{
	return (d->free >> 20) + 1;
}

static bool same(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static bool usable(const struct wfs_place_disk *d, uint64_t chunk_bytes)
{
	return d->node_id && d->disk_id && d->state == WFS_PLACE_DISK_ONLINE &&
	       d->free > 0 && d->free >= chunk_bytes;
}

/* Number the nodes, mark the usable disks, and count the distinct usable
 * disks (equal disk ids count once). */
static size_t pick_setup(struct pick *p, uint64_t chunk_bytes)
{
	size_t distinct = 0;

	for (size_t i = 0; i < p->ndisks; i++) {
		const struct wfs_place_disk *d = &p->disks[i];
		bool dup = false;

		p->usable[i] = usable(d, chunk_bytes);
		if (!p->usable[i])
			continue;
		p->node_of[i] = p->nnodes;
		for (size_t j = 0; j < i; j++) {
			if (!p->usable[j])
				continue;
			if (same(p->disks[j].disk_id, d->disk_id))
				dup = true;
			if (same(p->disks[j].node_id, d->node_id))
				p->node_of[i] = p->node_of[j];
		}
		if (p->node_of[i] == p->nnodes)
			p->nnodes++;
		if (!dup)
			distinct++;
	}
	return distinct;
}

/* One round: the disk for the next chunk, or -1 if none is left. */
static long pick_one(struct pick *p)
{
	unsigned least = ~0u;
	uint64_t total = 0, r;
	size_t node = 0;

	memset(p->weight, 0, p->nnodes * sizeof(*p->weight));
	for (size_t i = 0; i < p->ndisks; i++)
		if (p->usable[i])
			p->weight[p->node_of[i]] += disk_weight(&p->disks[i]);
	for (size_t j = 0; j < p->nnodes; j++)
		if (p->weight[j] && p->count[j] < least)
			least = p->count[j];
	for (size_t j = 0; j < p->nnodes; j++)
		if (p->weight[j] && p->count[j] == least)
			total += p->weight[j];
	if (total == 0)
		return -1;
	r = draw(&p->rng, total);
	for (node = 0; node < p->nnodes; node++) {
		if (!p->weight[node] || p->count[node] != least)
			continue;
		if (r < p->weight[node])
			break;
		r -= p->weight[node];
	}
	r = draw(&p->rng, p->weight[node]);
	for (size_t i = 0; i < p->ndisks; i++) {
		if (!p->usable[i] || p->node_of[i] != node)
			continue;
		if (r < disk_weight(&p->disks[i]))
			return (long)i;
		r -= disk_weight(&p->disks[i]);
	}
	return -1;	/* not reached: the weights add up */
}

/* Take disk @i: no other chunk may go to it, under any of its entries. */
static void take(struct pick *p, size_t i)
{
	const char *id = p->disks[i].disk_id;

	p->count[p->node_of[i]]++;
	for (size_t j = 0; j < p->ndisks; j++)
		if (p->usable[j] && same(p->disks[j].disk_id, id))
			p->usable[j] = false;
}

int wfs_place_pick(const struct wfs_place_disk *disks, size_t ndisks,
		   unsigned n, uint64_t chunk_bytes, uint64_t seed, size_t *out)
{
	struct pick p = { .disks = disks, .ndisks = ndisks, .rng = seed };
	int rc = 0;

	if (n == 0 || n > WFS_PLACE_MAX || !out || (ndisks && !disks))
		return -EINVAL;
	if (ndisks < n)
		return -ENOSPC;
	p.node_of = wfs_calloc(ndisks, sizeof(*p.node_of));
	p.usable = wfs_calloc(ndisks, sizeof(*p.usable));
	p.count = wfs_calloc(ndisks, sizeof(*p.count));
	p.weight = wfs_calloc(ndisks, sizeof(*p.weight));
	if (!p.node_of || !p.usable || !p.count || !p.weight) {
		rc = -ENOMEM;
		goto out_free;
	}
	if (pick_setup(&p, chunk_bytes) < n) {
		rc = -ENOSPC;
		goto out_free;
	}
	for (unsigned c = 0; c < n; c++) {
		long i = pick_one(&p);

		if (i < 0) {
			rc = -ENOSPC;
			goto out_free;
		}
		take(&p, (size_t)i);
		out[c] = (size_t)i;
	}
out_free:
	wfs_free(p.weight);
	wfs_free(p.count);
	wfs_free(p.usable);
	wfs_free(p.node_of);
	return rc;
}

const char *wfs_place_state_name(uint32_t state)
{
	switch (state) {
	case WFS_PLACE_DISK_ONLINE: return "online";
	case WFS_PLACE_DISK_OFFLINE: return "offline";
	case WFS_PLACE_DISK_DRAINING: return "draining";
	default: return "unknown";
	}
}
