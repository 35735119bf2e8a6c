/* client/geom: range sets, block masks and the flush planner of the
 * client's stripe buffers (see geom_internal.h).  Pure arithmetic: no I/O,
 * no locks.
 */
#include "client/geom_internal.h"

#include <errno.h>
#include <string.h>

#include "mem/mem.h"

void wfs_ranges_release(struct wfs_ranges *r)
{
	wfs_free(r->v);
	r->v = NULL;
	r->n = r->cap = 0;
}

void wfs_ranges_clear(struct wfs_ranges *r)
{
	r->n = 0;
}

unsigned wfs_ranges_find(const struct wfs_ranges *r, uint64_t x)
{
	unsigned lo = 0, hi = r->n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (r->v[mid].end <= x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int reserve(struct wfs_ranges *r, unsigned n)
{
	struct wfs_range *v;
	unsigned cap;

	if (n <= r->cap)
		return 0;
	cap = r->cap ? r->cap * 2 : 4;
	while (cap < n)
		cap *= 2;
	v = wfs_realloc(r->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	r->v = v;
	r->cap = cap;
	return 0;
}

int wfs_ranges_add(struct wfs_ranges *r, uint64_t start, uint64_t end)
{
	unsigned i, j;

	if (start >= end)
		return 0;
	/* First range that touches or follows [start, end): ranges ending
	 * before start are untouched (adjacent ones merge, hence end <
	 * start, not <=). */
	i = start ? wfs_ranges_find(r, start - 1) : 0;
	/* Ranges i..j-1 touch [start, end) and merge into one. */
	for (j = i; j < r->n && r->v[j].start <= end; j++) {
		if (r->v[j].start < start)
			start = r->v[j].start;
		if (r->v[j].end > end)
			end = r->v[j].end;
	}
	if (j == i) {
		if (reserve(r, r->n + 1))
			return -ENOMEM;
		memmove(&r->v[i + 1], &r->v[i], (r->n - i) * sizeof(r->v[0]));
		r->n++;
	} else if (j > i + 1) {
		memmove(&r->v[i + 1], &r->v[j], (r->n - j) * sizeof(r->v[0]));
		r->n -= j - i - 1;
	}
	r->v[i].start = start;
	r->v[i].end = end;
	return 0;
}

void wfs_ranges_cut(struct wfs_ranges *r, uint64_t from)
{
	unsigned i = wfs_ranges_find(r, from);

	if (i < r->n && r->v[i].start < from) {
		r->v[i].end = from;
		i++;
	}
	r->n = i;
}

bool wfs_ranges_covers(const struct wfs_ranges *r, uint64_t start,
		       uint64_t end)
{
	unsigned i;

	if (start >= end)
		return true;
	i = wfs_ranges_find(r, start);
	return i < r->n && r->v[i].start <= start && r->v[i].end >= end;
}

bool wfs_ranges_touches(const struct wfs_ranges *r, uint64_t start,
			uint64_t end)
{
	unsigned i;

	if (start >= end)
		return false;
	i = wfs_ranges_find(r, start);
	return i < r->n && r->v[i].start < end;
}

uint64_t wfs_ranges_end(const struct wfs_ranges *r)
{
	return r->n ? r->v[r->n - 1].end : 0;
}

bool wfs_ranges_next_gap(const struct wfs_ranges *r, uint64_t *pos,
			 uint64_t end, struct wfs_range *gap)
{
	uint64_t p = *pos;
	unsigned i = wfs_ranges_find(r, p);

	/* Skip the range that holds p, if any. */
	if (i < r->n && r->v[i].start <= p) {
		p = r->v[i].end;
		i++;
	}
	if (p >= end) {
		*pos = end;
		return false;
	}
	gap->start = p;
	gap->end = i < r->n && r->v[i].start < end ? r->v[i].start : end;
	*pos = gap->end;
	return true;
}

uint32_t wfs_geom_blocks(uint32_t block, uint64_t start, uint64_t end)
{
	uint64_t first, last;
	uint32_t mask = 0;

	if (start >= end)
		return 0;
	first = start / block;
	last = (end - 1) / block;
	if (last >= WFS_GEOM_MAX_BLOCKS)
		last = WFS_GEOM_MAX_BLOCKS - 1;
	for (uint64_t b = first; b <= last; b++)
		mask |= 1u << b;
	return mask;
}

uint32_t wfs_geom_dirty_blocks(const struct wfs_ranges *dirty, uint32_t block,
			       unsigned nblocks)
{
	uint32_t mask = 0;

	for (unsigned b = 0; b < nblocks && b < WFS_GEOM_MAX_BLOCKS; b++) {
		uint64_t s = (uint64_t)b * block;

		if (wfs_ranges_covers(dirty, s, s + block))
			mask |= 1u << b;
	}
	return mask;
}

/* Blocks of [start, end) that still need the committed data: below
 * base_len, not valid, and with some clean byte. */
static uint32_t need_blocks(const struct wfs_sbuf_state *st, uint64_t start,
			    uint64_t end)
{
	uint32_t mask, need = 0;

	if (end > st->base_len)
		end = st->base_len;
	mask = wfs_geom_blocks(st->block, start, end) & ~st->valid;
	for (unsigned b = 0; mask >> b; b++) {
		uint64_t s = (uint64_t)b * st->block, e = s + st->block;

		if (!(mask & (1u << b)))
			continue;
		/* Only the block's bytes below base_len come from it. */
		if (e > st->base_len)
			e = st->base_len;
		if (!wfs_ranges_covers(st->dirty, s, e))
			need |= 1u << b;
	}
	return need;
}

void wfs_geom_plan_flush(const struct wfs_sbuf_state *st,
			 struct wfs_flush_plan *plan)
{
	plan->length = st->len;
	plan->kind = st->len == st->span ? WFS_KIND_EC : WFS_KIND_REPLICA;
	plan->full = wfs_ranges_covers(st->dirty, 0, st->len);
	plan->load = plan->full ? 0 : need_blocks(st, 0, st->len);
}

uint32_t wfs_geom_read_need(const struct wfs_sbuf_state *st, uint64_t start,
			    uint64_t end)
{
	return need_blocks(st, start, end);
}

unsigned wfs_geom_nchunks(uint32_t kind, unsigned k, unsigned m)
{
	return kind == WFS_KIND_EC ? k + m : m + 1;
}

unsigned wfs_geom_write_quorum(uint32_t kind, unsigned k, unsigned m)
{
	unsigned n = wfs_geom_nchunks(kind, k, m);
	unsigned q = kind == WFS_KIND_EC ? k + 1 : 2;

	return q < n ? q : n;
}
