/* erasure/codec: the Reed-Solomon code that turns a stripe of k data chunks
 * into m parity chunks and rebuilds any m lost chunks from the k others.
 *
 * It is the arithmetic only, on ISA-L: it knows nothing of files, chunk
 * headers, CRCs or placement, never touches a disk and never prints.  The
 * coding paths take caller-provided buffers and do not allocate (reconstruct
 * allocates once per new erasure pattern, to cache its decode tables).
 *
 * The code is systematic: chunks 0..k-1 are the data itself, chunks
 * k..k+m-1 are parity.  Parity byte b of chunk k+p is
 *     sum over j of C[p][j] * data[j][b]          in GF(2^8), poly 0x11d,
 * where C[p][j] = 1 / ((k + p) xor j), the Cauchy matrix of ISA-L's
 * gf_gen_cauchy1_matrix.  This is part of the on-disk format: parity written
 * by one version must be decodable by the next, so the matrix never changes
 * (erasure/codec_test.c pins it against an independent implementation).
 */
#ifndef WFS_ERASURE_CODEC_H
#define WFS_ERASURE_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* Limits on the code.  16 data chunks keep a stripe of 1 MiB chunks at
 * 16 MiB; 4 parity chunks survive any 4 lost disks or nodes, which is more
 * margin than any policy we ship needs.  k + m <= 20 also keeps every
 * erasure pattern in a uint32_t bit mask. */
#define WFS_EC_MAX_K 16
#define WFS_EC_MAX_M 4

struct wfs_ec;

/* Create a codec for @k data and @m parity chunks, 1 <= k <= WFS_EC_MAX_K,
 * 1 <= m <= WFS_EC_MAX_M.  On success *out is a new codec; release it with
 * wfs_ec_free().  Returns 0, -EINVAL outside the limits, or -ENOMEM. */
int wfs_ec_new(unsigned k, unsigned m, struct wfs_ec **out);

/* Release @ec and its cached decode tables.  No call on @ec may be in
 * flight.  wfs_ec_free(NULL) is a no-op. */
void wfs_ec_free(struct wfs_ec *ec);

/* The k and m @ec was created with. */
unsigned wfs_ec_k(const struct wfs_ec *ec);
unsigned wfs_ec_m(const struct wfs_ec *ec);

/* The chunk length for a stripe of @stripe_len data bytes coded with @k
 * data chunks: ceil(stripe_len / k).  Every chunk of a stripe has this
 * length; the data does not fill the last data chunk(s) when @stripe_len is
 * not a multiple of @k, and callers must zero-pad them, since the padding is
 * coded into the parity like any other byte.  @k >= 1; returns 0 for k 0. */
size_t wfs_ec_chunk_len(unsigned k, size_t stripe_len);

/* Compute the m parity chunks of one stripe.  @data holds k buffers of
 * @len bytes (read), @parity m buffers of @len bytes (written); any
 * alignment, no buffer may overlap another.  @len >= 1.  Returns 0, or
 * -EINVAL for a zero @len or a NULL pointer.  Any thread, concurrently on
 * one codec; never allocates or blocks. */
int wfs_ec_encode(const struct wfs_ec *ec, size_t len,
		  unsigned char *const *data, unsigned char *const *parity);

/* Rebuild chunks of a stripe from the survivors.  @chunks holds k + m
 * pointers to buffers of @len bytes, indexed like the chunks (data first,
 * then parity).  Bit i of @missing set means chunk i is to be rebuilt:
 * chunks[i] is an output and must not be NULL.  Every other non-NULL
 * chunks[i] is a surviving input, read only; a NULL one is a chunk that is
 * lost too but not wanted (saves rebuilding a parity chunk nobody will
 * store).  Any mix of data and parity chunks may be missing.  Of the
 * survivors, the first k by index are used.  Any alignment; buffers must
 * not overlap.
 *
 * Returns 0 (also when @missing is 0), -ENODATA when fewer than k chunks
 * survive (more than m missing or absent: the stripe is lost), -EINVAL for a
 * zero @len, a bit of @missing at or above k + m or a NULL output, or
 * -ENOMEM when the decode tables of a new pattern cannot be allocated.
 *
 * Decode tables are cached per pattern (survivors used + chunks wanted), a
 * few dozen of them, least recently used evicted; a cached pattern does not
 * allocate.  Any thread, concurrently on one codec: only the cache lookup is
 * serialised, the coding runs in parallel. */
int wfs_ec_reconstruct(struct wfs_ec *ec, size_t len,
		       unsigned char *const *chunks, uint32_t missing);

#endif
