/* net/mpread: the strict msgpack reader the nodes' messages share (see
 * mpread.h).  Forms by first byte, as the msgpack spec numbers them. */
#include "net/mpread.h"

#include <errno.h>

int wfs_mpread_be(struct wfs_mpread *r, unsigned n, uint64_t *v)
{
	if (wfs_mpread_left(r) < n)
		return -EPROTO;
	*v = 0;
	for (unsigned i = 0; i < n; i++)
		*v = *v << 8 | *r->p++;
	return 0;
}

int wfs_mpread_uint(struct wfs_mpread *r, uint64_t max, uint64_t *v)
{
	static const unsigned widths[4] = { 1, 2, 4, 8 };
	unsigned char b;

	if (!wfs_mpread_left(r))
		return -EPROTO;
	b = *r->p++;
	if (b <= 0x7f)
		*v = b;
	else if (b >= 0xcc && b <= 0xcf) {
		if (wfs_mpread_be(r, widths[b - 0xcc], v) < 0)
			return -EPROTO;
	} else {
		return -EPROTO;
	}
	return *v <= max ? 0 : -EPROTO;
}

int wfs_mpread_count(struct wfs_mpread *r, bool map, uint64_t *n)
{
	unsigned char fix = map ? 0x80 : 0x90, b16 = map ? 0xde : 0xdc;
	unsigned char b;

	if (!wfs_mpread_left(r))
		return -EPROTO;
	b = *r->p++;
	if ((b & 0xf0) == fix)
		*n = b & 0x0f;
	else if (b == b16 || b == b16 + 1) {
		if (wfs_mpread_be(r, b == b16 ? 2 : 4, n) < 0)
			return -EPROTO;
	} else {
		return -EPROTO;
	}
	return *n * (map ? 2 : 1) <= wfs_mpread_left(r) ? 0 : -EPROTO;
}

int wfs_mpread_array(struct wfs_mpread *r, uint32_t *n)
{
	uint64_t v;

	if (wfs_mpread_count(r, false, &v) < 0)
		return -EPROTO;
	*n = (uint32_t)v;	/* an array 32 count: it fits */
	return 0;
}

int wfs_mpread_bytes(struct wfs_mpread *r, bool str, uint32_t min,
		     uint32_t max, const unsigned char **data, size_t *len)
{
	unsigned char first = str ? 0xd9 : 0xc4, b;
	uint64_t v;

	if (!wfs_mpread_left(r))
		return -EPROTO;
	b = *r->p++;
	if (str && (b & 0xe0) == 0xa0)
		v = b & 0x1f;
	else if (b < first || b > first + 2 ||
		 wfs_mpread_be(r, 1u << (b - first), &v) < 0)
		return -EPROTO;
	if (v < min || v > max || v > wfs_mpread_left(r))
		return -EPROTO;
	*data = r->p;
	*len = (size_t)v;
	r->p += v;
	return 0;
}

int wfs_mpread_bin(struct wfs_mpread *r, uint32_t min, uint32_t max,
		   const unsigned char **data, uint32_t *len)
{
	size_t n;

	if (wfs_mpread_bytes(r, false, min, max, data, &n) < 0)
		return -EPROTO;
	*len = (uint32_t)n;	/* at most @max */
	return 0;
}

/* ---- skipping ---- */

static int skip_bytes(struct wfs_mpread *r, uint64_t n)
{
	if (n > wfs_mpread_left(r))
		return -EPROTO;
	r->p += n;
	return 0;
}

/* Skip @n values, nested at most @depth deep. */
static int skip_values(struct wfs_mpread *r, uint64_t n, unsigned depth)
{
	if (n > wfs_mpread_left(r))	/* every value takes a byte at least */
		return -EPROTO;
	for (uint64_t i = 0; i < n; i++)
		if (wfs_mpread_skip(r, depth) < 0)
			return -EPROTO;
	return 0;
}

/* How the forms c0-df go on after their first byte. */
enum form_kind {
	F_BAD = 0,	/* c1: never used */
	F_FIXED,	/* @width bytes follow */
	F_SIZED,	/* a @width-byte length, then @extra + length bytes */
	F_ARRAY,	/* a @width-byte count of values */
	F_MAP,		/* a @width-byte count of pairs */
};

struct form {
	unsigned char kind, width, extra;
};

static const struct form forms[32] = {
	{ F_FIXED, 0, 0 },  { F_BAD, 0, 0 },    { F_FIXED, 0, 0 },	/* c0 */
	{ F_FIXED, 0, 0 },  { F_SIZED, 1, 0 },  { F_SIZED, 2, 0 },	/* c3 */
	{ F_SIZED, 4, 0 },  { F_SIZED, 1, 1 },  { F_SIZED, 2, 1 },	/* c6 */
	{ F_SIZED, 4, 1 },  { F_FIXED, 4, 0 },  { F_FIXED, 8, 0 },	/* c9 */
	{ F_FIXED, 1, 0 },  { F_FIXED, 2, 0 },  { F_FIXED, 4, 0 },	/* cc */
	{ F_FIXED, 8, 0 },  { F_FIXED, 1, 0 },  { F_FIXED, 2, 0 },	/* cf */
	{ F_FIXED, 4, 0 },  { F_FIXED, 8, 0 },  { F_FIXED, 2, 0 },	/* d2 */
	{ F_FIXED, 3, 0 },  { F_FIXED, 5, 0 },  { F_FIXED, 9, 0 },	/* d5 */
	{ F_FIXED, 17, 0 }, { F_SIZED, 1, 0 },  { F_SIZED, 2, 0 },	/* d8 */
	{ F_SIZED, 4, 0 },  { F_ARRAY, 2, 0 },  { F_ARRAY, 4, 0 },	/* db */
	{ F_MAP, 2, 0 },    { F_MAP, 4, 0 },				/* de */
};

int wfs_mpread_skip(struct wfs_mpread *r, unsigned depth)
{
	const struct form *f;
	unsigned char b;
	uint64_t n;

	if (!wfs_mpread_left(r) || !depth)
		return -EPROTO;
	b = *r->p++;
	if (b <= 0x7f || b >= 0xe0)		/* fixints */
		return 0;
	if ((b & 0xe0) == 0xa0)			/* fixstr */
		return skip_bytes(r, b & 0x1f);
	if ((b & 0xf0) == 0x80)			/* fixmap */
		return skip_values(r, 2 * (uint64_t)(b & 0x0f), depth - 1);
	if ((b & 0xf0) == 0x90)			/* fixarray */
		return skip_values(r, b & 0x0f, depth - 1);
	f = &forms[b - 0xc0];
	if (f->kind == F_BAD)
		return -EPROTO;
	if (f->kind == F_FIXED)
		return skip_bytes(r, f->width);
	if (wfs_mpread_be(r, f->width, &n) < 0)
		return -EPROTO;
	if (f->kind == F_SIZED)
		return skip_bytes(r, n + f->extra);
	return skip_values(r, f->kind == F_MAP ? 2 * n : n, depth - 1);
}
