/* Unit tests for storaged/drain's one-chunk placement (wfs_drain_pick):
 * which disk a chunk moved off a draining disk may go to.  The mover and
 * the master's calls need a cluster: tests/integration/drain.sh. */
#include "storaged/drain.h"

#include <errno.h>
#include <string.h>

#include "placement/place.h"
#include "tests/unit.h"

#define GIB (1ULL << 30)
#define SEEDS 200

static uint64_t rng;

static int suite_init(void)
{
	rng = wfs_test_seed() ^ 0xd4a1;
	return 0;
}

/* Four nodes of two disks each (n1: d1a d1b, ...), online, 1 TiB free. */
static void four_nodes(struct wfs_place_disk d[8])
{
	static const char *const nodes[] = { "n1", "n2", "n3", "n4" };
	static const char *const disks[] = { "d1a", "d1b", "d2a", "d2b",
					     "d3a", "d3b", "d4a", "d4b" };

	for (int i = 0; i < 8; i++)
		d[i] = (struct wfs_place_disk){ nodes[i / 2], disks[i],
						1024 * GIB, 1024 * GIB,
						WFS_PLACE_DISK_ONLINE };
}

/* A 4+2 stripe spread 2, 2, 1, 1: its chunk on d1a is the one moved. */
static const struct wfs_drain_holder others[] = {
	{ "n1", "d1b" }, { "n2", "d2a" }, { "n2", "d2b" }, { "n3", "d3a" },
	{ "n4", "d4a" },
};

/* Pick with @ex for many seeds; the set of disks picked, as a bit mask
 * over @d.  Fails the test on any error. */
static unsigned picks(const struct wfs_place_disk *d, size_t n,
		      const struct wfs_drain_exclude *ex)
{
	unsigned mask = 0;

	for (int i = 0; i < SEEDS; i++) {
		size_t out = 99;

		CU_ASSERT_EQUAL_FATAL(wfs_drain_pick(d, n, ex, 1 << 20,
						     wfs_test_rand(&rng), &out),
				      0);
		CU_ASSERT_FATAL(out < n);
		mask |= 1u << out;
	}
	return mask;
}

/* Never on the disks of the stripe's other chunks, never on the node the
 * chunk is on; every node holds some of the stripe, so any other disk. */
static void test_other_chunks(void)
{
	struct wfs_place_disk d[8];
	struct wfs_drain_exclude ex = { "n1", others, 5, NULL, 0 };

	four_nodes(d);
	CU_ASSERT_EQUAL(picks(d, 8, &ex), 1u << 5 | 1u << 7);
}

/* A node holding none of the stripe is preferred while it has room. */
static void test_spread(void)
{
	struct wfs_place_disk d[10];
	struct wfs_drain_exclude ex = { "n1", others, 5, NULL, 0 };

	four_nodes(d);
	d[8] = (struct wfs_place_disk){ "n5", "d5a", GIB, GIB,
					WFS_PLACE_DISK_ONLINE };
	d[9] = (struct wfs_place_disk){ "n5", "d5b", GIB, GIB,
					WFS_PLACE_DISK_ONLINE };
	CU_ASSERT_EQUAL(picks(d, 10, &ex), 1u << 8 | 1u << 9);
	/* Full (less free than the chunk): back to the other nodes. */
	d[8].free = d[9].free = 1000;
	CU_ASSERT_EQUAL(picks(d, 10, &ex), 1u << 5 | 1u << 7);
}

/* Offline and draining disks never; nodes keeping an old copy of the
 * chunk never. */
static void test_states_and_old_copies(void)
{
	static const char *const old[] = { "n4" };
	struct wfs_place_disk d[8];
	struct wfs_drain_exclude ex = { "n1", others, 5, old, 1 };

	four_nodes(d);
	CU_ASSERT_EQUAL(picks(d, 8, &ex), 1u << 5);
	ex.nold = 0;
	d[5].state = WFS_PLACE_DISK_DRAINING;
	CU_ASSERT_EQUAL(picks(d, 8, &ex), 1u << 7);
	d[5].state = WFS_PLACE_DISK_ONLINE;
	d[7].state = WFS_PLACE_DISK_OFFLINE;
	CU_ASSERT_EQUAL(picks(d, 8, &ex), 1u << 5);
}

/* Nowhere to go: -ENOSPC, *out untouched; bad arguments: -EINVAL. */
static void test_nowhere(void)
{
	static const char *const old[] = { "n3", "n4" };
	struct wfs_place_disk d[8];
	struct wfs_drain_exclude ex = { "n1", others, 5, old, 2 };
	size_t out = 42;

	four_nodes(d);
	CU_ASSERT_EQUAL(wfs_drain_pick(d, 8, &ex, 1 << 20, 1, &out), -ENOSPC);
	CU_ASSERT_EQUAL(out, 42);
	/* A one-node cluster cannot drain: the node keeps one copy. */
	ex = (struct wfs_drain_exclude){ "n1", NULL, 0, NULL, 0 };
	CU_ASSERT_EQUAL(wfs_drain_pick(d, 2, &ex, 1 << 20, 1, &out), -ENOSPC);
	CU_ASSERT_EQUAL(wfs_drain_pick(d, 0, &ex, 1 << 20, 1, &out), -ENOSPC);
	CU_ASSERT_EQUAL(wfs_drain_pick(NULL, 3, &ex, 1 << 20, 1, &out),
			-EINVAL);
	CU_ASSERT_EQUAL(wfs_drain_pick(d, 8, NULL, 1 << 20, 1, &out),
			-EINVAL);
	CU_ASSERT_EQUAL(out, 42);
}

/* The same arguments give the same disk (placement is seeded). */
static void test_deterministic(void)
{
	struct wfs_place_disk d[8];
	struct wfs_drain_exclude ex = { "n2", NULL, 0, NULL, 0 };

	four_nodes(d);
	for (uint64_t seed = 1; seed < 50; seed++) {
		size_t a, b;

		CU_ASSERT_EQUAL(wfs_drain_pick(d, 8, &ex, 1, seed, &a), 0);
		CU_ASSERT_EQUAL(wfs_drain_pick(d, 8, &ex, 1, seed, &b), 0);
		CU_ASSERT_EQUAL(a, b);
		CU_ASSERT(a != 2 && a != 3);
	}
}

static CU_TestInfo drain_tests[] = {
	{ "never beside the stripe's other chunks", test_other_chunks },
	{ "a node without the stripe first", test_spread },
	{ "disk states, old copies", test_states_and_old_copies },
	{ "nowhere to go", test_nowhere },
	{ "deterministic", test_deterministic },
	CU_TEST_INFO_NULL,
};

WFS_TEST_SUITE("drain", drain_tests, suite_init, NULL)
