/* The CUnit runner linked into each module's unit binary.  It runs every
 * suite that registered itself, prints CUnit's summary and one closing line
 * "unit <binary>: N passed, N failed" that tests/run_tests.sh adds up, and
 * exits non-zero when anything failed.  Argument: an optional suite name to
 * run alone. */
#include "tests/unit.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <ftw.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log/log.h"

#define MAX_SUITES 64

struct suite {
	const char *name;
	CU_TestInfo *tests;
	CU_InitializeFunc init;
	CU_CleanupFunc cleanup;
};

static struct suite suites[MAX_SUITES];
static int nsuites;
static uint64_t seed;
static char scratch[256];
static unsigned scratch_seq;

void wfs_test_register(const char *name, CU_TestInfo *tests,
		       CU_InitializeFunc init, CU_CleanupFunc cleanup)
{
	if (nsuites == MAX_SUITES) {
		fprintf(stderr, "too many suites; raise MAX_SUITES\n");
		abort();
	}
	suites[nsuites++] = (struct suite){ name, tests, init, cleanup };
}

uint64_t wfs_test_seed(void)
{
	return seed;
}

uint64_t wfs_test_rand(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

void wfs_test_fill(uint64_t *state, void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len >= 8) {
		uint64_t v = wfs_test_rand(state);

		memcpy(p, &v, 8);
		p += 8;
		len -= 8;
	}
	if (len) {
		uint64_t v = wfs_test_rand(state);

		memcpy(p, &v, len);
	}
}

int wfs_test_mkdtemp(char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/t%u", scratch, scratch_seq++);

	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	if (mkdir(buf, 0700) != 0)
		return -errno;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

int wfs_test_rmtree(const char *path)
{
	if (nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS) != 0)
		return errno == ENOENT ? 0 : -errno;
	return 0;
}

static void remove_scratch(void)
{
	if (scratch[0])
		wfs_test_rmtree(scratch);
}

static int make_scratch(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(scratch, sizeof(scratch), "%s/wfs-unit-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(scratch)) {
		perror("mkdtemp");
		return -1;
	}
	atexit(remove_scratch);
	return 0;
}

static void pick_seed(void)
{
	const char *env = getenv("WFS_TEST_SEED");

	if (env && *env)
		seed = strtoull(env, NULL, 0);
	else
		seed = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid();
	if (seed == 0)
		seed = 1;
}

int main(int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : NULL;
	const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1
						 : argv[0];
	unsigned failed, passed;

	pick_seed();
	if (make_scratch() != 0)
		return 2;
	/* Expected failures (a test removes a disk on purpose) would drown the
	 * summary; WFS_TEST_LOG=debug brings them back. */
	wfs_log_set_level(WFS_LOG_NONE);
	if (getenv("WFS_TEST_LOG")) {
		enum wfs_log_level l;

		if (wfs_log_parse_level(getenv("WFS_TEST_LOG"), &l) == 0)
			wfs_log_set_level(l);
	}
	printf("unit %s: seed %llu (set WFS_TEST_SEED to replay)\n", prog,
	       (unsigned long long)seed);

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	for (int i = 0; i < nsuites; i++) {
		CU_SuiteInfo info[2] = {
			{ (char *)suites[i].name, suites[i].init,
			  suites[i].cleanup, NULL, NULL, suites[i].tests },
			CU_SUITE_INFO_NULL,
		};

		if (only && strcmp(only, suites[i].name) != 0)
			continue;
		if (CU_register_suites(info) != CUE_SUCCESS) {
			fprintf(stderr, "cannot register suite %s: %s\n",
				suites[i].name, CU_get_error_msg());
			return 2;
		}
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_tests_failed() +
		 CU_get_number_of_suites_failed();
	passed = CU_get_number_of_tests_run() - CU_get_number_of_tests_failed();
	CU_cleanup_registry();
	printf("\nunit %s (seed %llu): %u passed, %u failed\n", prog,
	       (unsigned long long)seed, passed, failed);
	return failed ? 1 : 0;
}
