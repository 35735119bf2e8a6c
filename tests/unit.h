/* unit: the shared harness of every module's CUnit suite.
 *
 * A suite file (name_test.c, beside its module) declares its tests in a
 * CU_TestInfo array and registers it with WFS_TEST_SUITE; the runner
 * (tests/unit_main.c) is linked into one binary per module and runs whatever
 * registered itself.  Random inputs come from wfs_test_seed(), printed at
 * start and settable with WFS_TEST_SEED, so a failure can be replayed.
 */
#ifndef WFS_TESTS_UNIT_H
#define WFS_TESTS_UNIT_H

#include <CUnit/CUnit.h>
#include <stddef.h>
#include <stdint.h>

/* Add a suite to the runner.  @tests must end with CU_TEST_INFO_NULL and live
 * for the whole run.  @init/@cleanup may be NULL.  Called from constructors,
 * before main. */
void wfs_test_register(const char *name, CU_TestInfo *tests,
		       CU_InitializeFunc init, CU_CleanupFunc cleanup);

#define WFS_TEST_SUITE(name, tests, init, cleanup)                            \
	static void __attribute__((constructor)) wfs_test_ctor_##tests(void)  \
	{                                                                     \
		wfs_test_register((name), (tests), (init), (cleanup));       \
	}

/* The run's random seed (WFS_TEST_SEED, else derived from time and pid). */
uint64_t wfs_test_seed(void);

/* A small deterministic generator (xorshift64*) for test inputs.  *state must
 * start non-zero; seed it from wfs_test_seed(). */
uint64_t wfs_test_rand(uint64_t *state);

/* Fill @len bytes at @buf from the generator. */
void wfs_test_fill(uint64_t *state, void *buf, size_t len);

/* Create a fresh empty directory under the run's scratch folder (TMPDIR or
 * /tmp) and write its path into @buf.  The whole scratch folder is removed
 * when the runner exits.  Returns 0 or a negative errno. */
int wfs_test_mkdtemp(char *buf, size_t len);

/* rm -rf @path (for tests that remove a disk mid-run).  Returns 0 or a
 * negative errno. */
int wfs_test_rmtree(const char *path);

#endif
