/* Unit tests for placement/place: distinct disks and nodes, even spread,
 * skipped disks, weighting by free space, determinism and errors. */
#include "placement/place.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem/mem.h"
#include "tests/unit.h"

#define GIB (1ULL << 30)
#define MAXD 64

/* A cluster of @nodes nodes with @per disks each, all online with @free
 * bytes free. */
struct cluster {
	struct wfs_place_disk d[MAXD];
	char node[MAXD][16], disk[MAXD][32];
	size_t n;
};

static void cluster_make(struct cluster *c, unsigned nodes, unsigned per,
			 uint64_t free)
{
	memset(c, 0, sizeof(*c));
	for (unsigned i = 0; i < nodes; i++) {
		for (unsigned j = 0; j < per; j++) {
			size_t k = c->n++;

			snprintf(c->node[k], sizeof(c->node[k]), "n%u", i);
			snprintf(c->disk[k], sizeof(c->disk[k]), "n%ud%u", i,
				 j);
			c->d[k].node_id = c->node[k];
			c->d[k].disk_id = c->disk[k];
			c->d[k].capacity = 4 * free;
			c->d[k].free = free;
			c->d[k].state = WFS_PLACE_DISK_ONLINE;
		}
	}
}

/* Chunks per node of a pick, and whether any disk was used twice. */
static int check_pick(const struct cluster *c, const size_t *out, unsigned n,
		      unsigned per_node[MAXD])
{
	memset(per_node, 0, MAXD * sizeof(unsigned));
	for (unsigned i = 0; i < n; i++) {
		if (out[i] >= c->n)
			return -1;
		for (unsigned j = 0; j < i; j++)
			if (strcmp(c->d[out[i]].disk_id,
				   c->d[out[j]].disk_id) == 0)
				return -1;
		per_node[atoi(c->d[out[i]].node_id + 1)]++;
	}
	return 0;
}

static void test_distinct_nodes(void)
{
	uint64_t seed = wfs_test_seed();
	struct cluster c;
	unsigned per[MAXD];
	size_t out[WFS_PLACE_MAX];

	cluster_make(&c, 8, 3, 100 * GIB);
	for (int t = 0; t < 200; t++) {
		CU_ASSERT_EQUAL_FATAL(wfs_place_pick(c.d, c.n, 6, 1 << 20,
						     seed + t, out), 0);
		CU_ASSERT_EQUAL_FATAL(check_pick(&c, out, 6, per), 0);
		for (int i = 0; i < 8; i++)
			CU_ASSERT(per[i] <= 1);
	}
}

static void test_even_spread(void)
{
	uint64_t seed = wfs_test_seed();
	struct cluster c;
	unsigned per[MAXD];
	size_t out[WFS_PLACE_MAX];

	/* 6 chunks on 4 nodes: two nodes get 2, two get 1. */
	cluster_make(&c, 4, 4, 100 * GIB);
	for (int t = 0; t < 200; t++) {
		CU_ASSERT_EQUAL_FATAL(wfs_place_pick(c.d, c.n, 6, 0, seed + t,
						     out), 0);
		CU_ASSERT_EQUAL_FATAL(check_pick(&c, out, 6, per), 0);
		for (int i = 0; i < 4; i++)
			CU_ASSERT(per[i] == 1 || per[i] == 2);
	}
	/* One node with several disks: all chunks on it, distinct disks. */
	cluster_make(&c, 1, 6, 100 * GIB);
	CU_ASSERT_EQUAL(wfs_place_pick(c.d, c.n, 6, 0, seed, out), 0);
	CU_ASSERT_EQUAL(check_pick(&c, out, 6, per), 0);
	CU_ASSERT_EQUAL(per[0], 6);
}

/* A node with too few disks takes what it can; the rest spread over the
 * others. */
static void test_uneven_nodes(void)
{
	struct cluster c;
	unsigned per[MAXD];
	size_t out[WFS_PLACE_MAX];

	cluster_make(&c, 2, 5, 100 * GIB);
	/* Node 1 keeps one usable disk. */
	for (int i = 6; i < 10; i++)
		c.d[i].state = WFS_PLACE_DISK_OFFLINE;
	for (uint64_t s = 1; s < 100; s++) {
		CU_ASSERT_EQUAL_FATAL(wfs_place_pick(c.d, c.n, 6, 0, s, out),
				      0);
		CU_ASSERT_EQUAL_FATAL(check_pick(&c, out, 6, per), 0);
		CU_ASSERT_EQUAL(per[0], 5);
		CU_ASSERT_EQUAL(per[1], 1);
	}
}

static void test_skips_unusable(void)
{
	struct cluster c;
	unsigned per[MAXD];
	size_t out[WFS_PLACE_MAX];

	cluster_make(&c, 1, 8, 100 * GIB);
	c.d[0].state = WFS_PLACE_DISK_OFFLINE;
	c.d[1].state = WFS_PLACE_DISK_DRAINING;
	c.d[2].free = 1000;		/* less than one chunk */
	c.d[3].state = 7;		/* unknown state */
	for (uint64_t s = 1; s < 200; s++) {
		CU_ASSERT_EQUAL_FATAL(wfs_place_pick(c.d, c.n, 4, 4096, s,
						     out), 0);
		CU_ASSERT_EQUAL_FATAL(check_pick(&c, out, 4, per), 0);
		for (int i = 0; i < 4; i++)
			CU_ASSERT(out[i] >= 4);
	}
	CU_ASSERT_EQUAL(wfs_place_pick(c.d, c.n, 5, 4096, 1, out), -ENOSPC);
}

/* Two entries naming one disk are one disk. */
static void test_duplicate_disk(void)
{
	struct cluster c;
	size_t out[WFS_PLACE_MAX];

	cluster_make(&c, 1, 3, 100 * GIB);
	c.d[1].disk_id = c.d[0].disk_id;
	CU_ASSERT_EQUAL(wfs_place_pick(c.d, c.n, 3, 0, 1, out), -ENOSPC);
	for (uint64_t s = 1; s < 100; s++) {
		CU_ASSERT_EQUAL_FATAL(wfs_place_pick(c.d, c.n, 2, 0, s, out),
				      0);
		CU_ASSERT(strcmp(c.d[out[0]].disk_id, c.d[out[1]].disk_id));
	}
}

static void test_errors(void)
{
	struct cluster c;
	size_t out[WFS_PLACE_MAX + 1];

	cluster_make(&c, 2, 2, GIB);
	CU_ASSERT_EQUAL(wfs_place_pick(c.d, c.n, 0, 0, 1, out), -EINVAL);
	CU_ASSERT_EQUAL(wfs_place_pick(c.d, c.n, WFS_PLACE_MAX + 1, 0, 1,
				       out), -EINVAL);
	CU_ASSERT_EQUAL(wfs_place_pick(NULL, 3, 1, 0, 1, out), -EINVAL);
	CU_ASSERT_EQUAL(wfs_place_pick(NULL, 0, 1, 0, 1, out), -ENOSPC);
	CU_ASSERT_EQUAL(wfs_place_pick(c.d, c.n, 5, 0, 1, out), -ENOSPC);
	for (size_t i = 0; i < c.n; i++)
		c.d[i].state = WFS_PLACE_DISK_OFFLINE;
	CU_ASSERT_EQUAL(wfs_place_pick(c.d, c.n, 1, 0, 1, out), -ENOSPC);
	CU_ASSERT_STRING_EQUAL(wfs_place_state_name(WFS_PLACE_DISK_DRAINING),
			       "draining");
	CU_ASSERT_STRING_EQUAL(wfs_place_state_name(99), "unknown");
}

static void test_deterministic(void)
{
	uint64_t seed = wfs_test_seed();
	struct cluster c;
	size_t a[WFS_PLACE_MAX], b[WFS_PLACE_MAX];
	int differ = 0;

	cluster_make(&c, 5, 4, 50 * GIB);
	for (int t = 0; t < 50; t++) {
		CU_ASSERT_EQUAL(wfs_place_pick(c.d, c.n, 8, 0, seed + t, a), 0);
		CU_ASSERT_EQUAL(wfs_place_pick(c.d, c.n, 8, 0, seed + t, b), 0);
		CU_ASSERT_EQUAL(memcmp(a, b, sizeof(size_t) * 8), 0);
		CU_ASSERT_EQUAL(wfs_place_pick(c.d, c.n, 8, 0, seed + t + 1000,
					       b), 0);
		differ += memcmp(a, b, sizeof(size_t) * 8) != 0;
	}
	/* Different seeds do not all give one answer. */
	CU_ASSERT(differ > 0);
}

/* Over many stripes, a disk with three times the free space of another
 * gets clearly more chunks, and a node's share follows its free space. */
static void test_weighted(void)
{
	uint64_t seed = wfs_test_seed();
	struct cluster c;
	unsigned hits[MAXD] = { 0 };
	size_t out[WFS_PLACE_MAX];

	cluster_make(&c, 1, 4, 10 * GIB);
	c.d[0].free = 30 * GIB;
	for (int t = 0; t < 4000; t++) {
		CU_ASSERT_EQUAL_FATAL(wfs_place_pick(c.d, c.n, 1, 0, seed + t,
						     out), 0);
		hits[out[0]]++;
	}
	for (int i = 1; i < 4; i++)
		CU_ASSERT(hits[0] > 2 * hits[i]);
	/* Two nodes, one chunk: the node with more room wins more often. */
	memset(hits, 0, sizeof(hits));
	cluster_make(&c, 2, 1, 10 * GIB);
	c.d[1].free = 40 * GIB;
	for (int t = 0; t < 4000; t++) {
		CU_ASSERT_EQUAL_FATAL(wfs_place_pick(c.d, c.n, 1, 0, seed + t,
						     out), 0);
		hits[out[0]]++;
	}
	CU_ASSERT(hits[1] > 2 * hits[0]);
	CU_ASSERT(hits[0] > 0);
}

static void test_alloc_failure(void)
{
	struct cluster c;
	size_t out[WFS_PLACE_MAX];
	int rc = -ENOMEM;

	cluster_make(&c, 3, 3, GIB);
	for (long n = 0; rc == -ENOMEM && n < 10; n++) {
		wfs_mem_fail_after(n);
		rc = wfs_place_pick(c.d, c.n, 3, 0, 1, out);
		wfs_mem_fail_after(-1);
	}
	CU_ASSERT_EQUAL(rc, 0);
}

static CU_TestInfo place_tests[] = {
	{ "distinct nodes when enough", test_distinct_nodes },
	{ "even spread over few nodes", test_even_spread },
	{ "node short of disks", test_uneven_nodes },
	{ "offline, draining and full disks skipped", test_skips_unusable },
	{ "one disk named twice", test_duplicate_disk },
	{ "errors", test_errors },
	{ "deterministic given a seed", test_deterministic },
	{ "weighted by free space", test_weighted },
	{ "allocation failures", test_alloc_failure },
	CU_TEST_INFO_NULL,
};
WFS_TEST_SUITE("place", place_tests, NULL, NULL)
