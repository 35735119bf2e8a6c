/* mem: the one allocator every WormFS module goes through.
 *
 * It exists so tests can make the N-th allocation fail and reach every
 * cleanup path (wfs_mem_fail_after).  It is not a pool or an arena: each call
 * maps straight onto libc.  Aligned buffers (ISA-L, O_DIRECT-sized I/O) come
 * from wfs_aligned_alloc and are released with wfs_free like any other.
 */
#ifndef WFS_MEM_MEM_H
#define WFS_MEM_MEM_H

#include <stddef.h>

/* Allocate @size bytes.  Returns NULL when out of memory (or when a test has
 * armed a failure).  Any thread. */
void *wfs_malloc(size_t size);

/* Allocate @n * @size zeroed bytes; NULL on overflow or out of memory. */
void *wfs_calloc(size_t n, size_t size);

/* Resize @p to @size.  On failure returns NULL and @p is left untouched and
 * still owned by the caller. */
void *wfs_realloc(void *p, size_t size);

/* Allocate @size bytes aligned to @align (a power of two, at least
 * sizeof(void *)).  Release with wfs_free. */
void *wfs_aligned_alloc(size_t align, size_t size);

/* Copy the NUL-terminated string @s into new memory; NULL if out of memory. */
char *wfs_strdup(const char *s);

/* Copy @n bytes of @p into new memory; NULL if out of memory. */
void *wfs_memdup(const void *p, size_t n);

/* Release memory from any function above.  wfs_free(NULL) is a no-op. */
void wfs_free(void *p);

/* Tests only: let the next @n allocations succeed, then fail every one after
 * them until wfs_mem_fail_after(-1) disarms it.  Process-wide; not meant to be
 * used while other threads allocate. */
void wfs_mem_fail_after(long n);

/* Tests only: how many allocations have succeeded since the process began.
 * Used to size fault-injection loops. */
unsigned long wfs_mem_allocations(void);

#endif
