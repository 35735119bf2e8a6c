/* erasure/crc32c: CRC-32C over ISA-L's crc32_iscsi.
 *
 * crc32_iscsi(buf, len, init) runs the bare CRC register: it neither inverts
 * @init on entry nor the result on exit (crc32_iscsi("123456789", 9, ~0) is
 * 0x1CF96D7C, the complement of the standard 0xE3069283).  The standard
 * CRC-32C starts the register at ~0 and complements it at the end, so a
 * running standard CRC c continues as ~crc32_iscsi(buf, len, ~c), which
 * also makes chaining exact.
 */
#include "erasure/crc32c.h"

#include <limits.h>

#include <isa-l/crc.h>

/* crc32_iscsi takes an int length: longer buffers go in pieces. */
#define PIECE_MAX ((size_t)INT_MAX & ~(size_t)63)

uint32_t wfs_crc32c(uint32_t crc, const void *buf, size_t len)
{
	/* ISA-L only reads @buf; its prototype lacks the const. */
	unsigned char *p = (unsigned char *)buf;
	uint32_t reg = ~crc;

	while (len > 0) {
		size_t n = len < PIECE_MAX ? len : PIECE_MAX;

		reg = crc32_iscsi(p, (int)n, reg);
		p += n;
		len -= n;
	}
	return ~reg;
}
