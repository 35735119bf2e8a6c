/* Unit tests for mem: allocation, alignment and the fault-injection hook. */
#include "mem/mem.h"

#include <stdint.h>
#include <string.h>

#include "tests/unit.h"

static void test_alloc_and_free(void)
{
	char *p = wfs_malloc(16);
	char *z = wfs_calloc(4, 8);
	char *s = wfs_strdup("wormfs");

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_PTR_NOT_NULL_FATAL(z);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	for (int i = 0; i < 32; i++)
		CU_ASSERT_EQUAL(z[i], 0);
	CU_ASSERT_STRING_EQUAL(s, "wormfs");
	p = wfs_realloc(p, 4096);
	CU_ASSERT_PTR_NOT_NULL(p);
	wfs_free(p);
	wfs_free(z);
	wfs_free(s);
	wfs_free(NULL);
}

static void test_aligned(void)
{
	void *p = wfs_aligned_alloc(64, 1000);

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL((uintptr_t)p % 64, 0);
	wfs_free(p);
}

static void test_fail_after(void)
{
	void *a, *b, *c;

	wfs_mem_fail_after(2);
	a = wfs_malloc(8);
	b = wfs_strdup("x");
	c = wfs_malloc(8);
	wfs_mem_fail_after(-1);
	CU_ASSERT_PTR_NOT_NULL(a);
	CU_ASSERT_PTR_NOT_NULL(b);
	CU_ASSERT_PTR_NULL(c);
	CU_ASSERT_PTR_NULL(wfs_calloc(SIZE_MAX, 2));
	wfs_free(a);
	wfs_free(b);
	c = wfs_malloc(8);
	CU_ASSERT_PTR_NOT_NULL(c);
	wfs_free(c);
}

static CU_TestInfo mem_tests[] = {
	{ "alloc and free", test_alloc_and_free },
	{ "aligned", test_aligned },
	{ "fail after n", test_fail_after },
	CU_TEST_INFO_NULL,
};
WFS_TEST_SUITE("mem", mem_tests, NULL, NULL)
