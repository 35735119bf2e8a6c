/* client/layout: the cache of one open file's stripes (client_internal.h).
 *
 * Stripes are kept sorted by stripe index in an array (files are mostly
 * written and read in order, so inserts land at the end), with the set of
 * stripe indexes already fetched beside them, holes included: a lookup in
 * that set that finds no stripe is a hole, one outside it must be fetched.
 * The cache is bounded: past MAX_STRIPES it is emptied before the next page
 * is added, so a walk through a huge file costs a page at a time.
 */
#include "client/client_internal.h"

#include <errno.h>
#include <string.h>

#include "mem/mem.h"

#define MAX_STRIPES 16384

void wfs_layout_clear(struct wfs_layout *l)
{
	for (unsigned i = 0; i < l->n; i++)
		wfs_free(l->v[i]);
	l->n = 0;
	wfs_ranges_clear(&l->known);
}

void wfs_layout_release(struct wfs_layout *l)
{
	wfs_layout_clear(l);
	wfs_free(l->v);
	l->v = NULL;
	l->cap = 0;
	wfs_ranges_release(&l->known);
}

/* Index of the first stripe with sidx >= @sidx. */
static unsigned lower_bound(const struct wfs_layout *l, uint64_t sidx)
{
	unsigned lo = 0, hi = l->n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (l->v[mid]->sidx < sidx)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool wfs_layout_find(const struct wfs_layout *l, uint64_t sidx,
		     const struct wfs_lstripe **s)
{
	unsigned i = lower_bound(l, sidx);

	*s = i < l->n && l->v[i]->sidx == sidx ? l->v[i] : NULL;
	if (*s)
		return true;
	return wfs_ranges_covers(&l->known, sidx, sidx + 1);
}

int wfs_layout_put(struct wfs_layout *l, struct wfs_lstripe *s)
{
	unsigned i = lower_bound(l, s->sidx);

	if (i < l->n && l->v[i]->sidx == s->sidx) {
		if (l->v[i]->version > s->version) {
			wfs_free(s);
			return 0;
		}
		wfs_free(l->v[i]);
		l->v[i] = s;
		return 0;
	}
	if (l->n == l->cap) {
		unsigned cap = l->cap ? l->cap * 2 : 16;
		struct wfs_lstripe **v = wfs_realloc(l->v, cap * sizeof(*v));

		if (!v) {
			wfs_free(s);
			return -ENOMEM;
		}
		l->v = v;
		l->cap = cap;
	}
	memmove(&l->v[i + 1], &l->v[i], (l->n - i) * sizeof(l->v[0]));
	l->v[i] = s;
	l->n++;
	return 0;
}

int wfs_layout_merge(struct wfs_layout *l, uint64_t from, uint64_t to,
		     struct wfs_lstripe **s, unsigned n)
{
	int rc = 0;

	if (l->n + n > MAX_STRIPES)
		wfs_layout_clear(l);
	for (unsigned i = 0; i < n; i++) {
		int r = wfs_layout_put(l, s[i]);

		if (r && !rc)
			rc = r;
	}
	if (rc == 0)
		rc = wfs_ranges_add(&l->known, from, to);
	return rc;
}

void wfs_layout_truncate(struct wfs_layout *l, uint64_t size, uint64_t span)
{
	uint64_t keep = (size + span - 1) / span;	/* stripes left */
	unsigned i = lower_bound(l, keep);

	for (unsigned j = i; j < l->n; j++)
		wfs_free(l->v[j]);
	l->n = i;
	if (i > 0 && size % span && l->v[i - 1]->sidx == keep - 1) {
		struct wfs_lstripe *s = l->v[i - 1];

		if (s->length > size % span)
			s->length = (uint32_t)(size % span);
	}
}
