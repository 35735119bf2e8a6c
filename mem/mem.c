/* mem: thin wrappers over libc allocation with a test hook that fails the
 * N-th allocation, so unit tests can drive every out-of-memory path. */
#include "mem/mem.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Remaining successful allocations before failures begin; -1 disarmed.
 * Atomic because allocators run on every thread. */
static _Atomic long fail_countdown = -1;
static _Atomic unsigned long allocations;

static int should_fail(void)
{
	long n = atomic_load_explicit(&fail_countdown, memory_order_relaxed);

	if (n < 0)
		return 0;
	if (n == 0)
		return 1;
	atomic_fetch_sub_explicit(&fail_countdown, 1, memory_order_relaxed);
	return 0;
}

static void *counted(void *p)
{
	if (p)
		atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
	return p;
}

void *wfs_malloc(size_t size)
{
	if (should_fail())
		return NULL;
	return counted(malloc(size ? size : 1));
}

void *wfs_calloc(size_t n, size_t size)
{
	/* Checked here, not left to calloc: sanitizer runtimes abort on an
	 * overflowing calloc instead of returning NULL. */
	if (size && n > SIZE_MAX / size)
		return NULL;
	if (should_fail())
		return NULL;
	return counted(calloc(n ? n : 1, size ? size : 1));
}

void *wfs_realloc(void *p, size_t size)
{
	if (should_fail())
		return NULL;
	return counted(realloc(p, size ? size : 1));
}

void *wfs_aligned_alloc(size_t align, size_t size)
{
	void *p = NULL;

	if (should_fail())
		return NULL;
	if (posix_memalign(&p, align, size ? size : 1) != 0)
		return NULL;
	return counted(p);
}

char *wfs_strdup(const char *s)
{
	return wfs_memdup(s, strlen(s) + 1);
}

void *wfs_memdup(const void *p, size_t n)
{
	void *q = wfs_malloc(n);

	if (q && n)
		memcpy(q, p, n);
	return q;
}

void wfs_free(void *p)
{
	free(p);
}

void wfs_mem_fail_after(long n)
{
	atomic_store(&fail_countdown, n);
}

unsigned long wfs_mem_allocations(void)
{
	return atomic_load(&allocations);
}
