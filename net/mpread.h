/* net/mpread: the strict msgpack reader the nodes' messages share (swim
 * packets, chunk transfers, a node's gossiped meta).
 *
 * Strict: every read names the form and the range it accepts and fails
 * (-EPROTO) on anything else, on a count or length the bytes left cannot
 * hold, and on a read past the end; nothing is allocated, so a hostile
 * input costs at most its own length.  Only the forms these messages use
 * are read: unsigned integers, array and map headers, str and bin; other
 * values can only be skipped (wfs_mpread_skip), for keys a later version
 * adds.
 */
#ifndef WFS_NET_MPREAD_H
#define WFS_NET_MPREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The bytes not read yet: [p, end). */
struct wfs_mpread {
	const unsigned char *p, *end;
};

static inline size_t wfs_mpread_left(const struct wfs_mpread *r)
{
	return (size_t)(r->end - r->p);
}

/* A big-endian number of @n (<= 8) raw bytes. */
int wfs_mpread_be(struct wfs_mpread *r, unsigned n, uint64_t *v);

/* A positive fixint or uint 8/16/32/64 of at most @max. */
int wfs_mpread_uint(struct wfs_mpread *r, uint64_t max, uint64_t *v);

/* An array (@map false) or map header whose count the bytes left can hold
 * (every element takes at least one byte). */
int wfs_mpread_count(struct wfs_mpread *r, bool map, uint64_t *n);

/* An array header, as wfs_mpread_count, into a 32-bit count. */
int wfs_mpread_array(struct wfs_mpread *r, uint32_t *n);

/* A str (@str true: fixstr or str 8/16/32) or bin 8/16/32 of @min..@max
 * bytes: *data points into the input. */
int wfs_mpread_bytes(struct wfs_mpread *r, bool str, uint32_t min,
		     uint32_t max, const unsigned char **data, size_t *len);

/* A bin of @min..@max bytes, as wfs_mpread_bytes, into a 32-bit length. */
int wfs_mpread_bin(struct wfs_mpread *r, uint32_t min, uint32_t max,
		   const unsigned char **data, uint32_t *len);

/* Skip one well-formed value of any form, nested at most @depth deep. */
int wfs_mpread_skip(struct wfs_mpread *r, unsigned depth);

#endif
