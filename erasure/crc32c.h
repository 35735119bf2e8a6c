/* erasure/crc32c: CRC-32C (Castagnoli), the checksum of chunk headers and
 * chunk data, computed with ISA-L's accelerated crc32_iscsi.
 *
 * Standard CRC-32C semantics (as iSCSI, ext4, SCTP): reflected polynomial
 * 0x82F63B78, initial value and final xor 0xFFFFFFFF, so the CRC of the
 * nine bytes "123456789" is 0xE3069283.  It detects corruption, it is not a
 * cryptographic hash: it proves nothing against someone who means harm.
 */
#ifndef WFS_ERASURE_CRC32C_H
#define WFS_ERASURE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extend @crc, the CRC-32C of some earlier bytes (0 for none), over the
 * @len bytes at @buf and return the CRC-32C of both together:
 *     wfs_crc32c(wfs_crc32c(0, a, la), b, lb) == CRC-32C of a || b.
 * Any alignment and length; @buf may be NULL when @len is 0.  Any thread;
 * never allocates. */
uint32_t wfs_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
