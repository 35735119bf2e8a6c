/* Unit tests for client/geom: range sets against a byte-map reference under
 * random operations, block masks, the flush planner (EC or replica, full or
 * read-modify-write, what must be read), what a read needs, and the write
 * quorum. */
#include "client/geom_internal.h"

#include <string.h>

#include "mem/mem.h"
#include "tests/unit.h"

#define REF_LEN 512

/* The set as a byte map must equal @ref, with ranges sorted, disjoint and
 * not adjacent. */
static void check_against(const struct wfs_ranges *r, const unsigned char *ref)
{
	unsigned char map[REF_LEN] = { 0 };

	for (unsigned i = 0; i < r->n; i++) {
		CU_ASSERT(r->v[i].start < r->v[i].end);
		if (i)
			CU_ASSERT(r->v[i - 1].end < r->v[i].start);
		for (uint64_t b = r->v[i].start; b < r->v[i].end && b < REF_LEN;
		     b++)
			map[b] = 1;
	}
	CU_ASSERT_EQUAL(memcmp(map, ref, REF_LEN), 0);
}

static void test_ranges_random(void)
{
	uint64_t st = wfs_test_seed();
	unsigned char ref[REF_LEN] = { 0 };
	struct wfs_ranges r = { 0 };

	for (int op = 0; op < 4000; op++) {
		uint64_t a = wfs_test_rand(&st) % REF_LEN;
		uint64_t b = a + wfs_test_rand(&st) % 40;
		int kind = (int)(wfs_test_rand(&st) % 10);

		if (b > REF_LEN)
			b = REF_LEN;
		if (kind == 0) {
			wfs_ranges_cut(&r, a);
			memset(ref + a, 0, REF_LEN - a);
		} else if (kind == 1 && op % 97 == 0) {
			wfs_ranges_clear(&r);
			memset(ref, 0, REF_LEN);
		} else {
			CU_ASSERT_EQUAL(wfs_ranges_add(&r, a, b), 0);
			memset(ref + a, 1, b - a);
		}
		check_against(&r, ref);
		/* covers, touches, end and gaps agree with the map. */
		{
			bool all = true, any = false;
			uint64_t end = 0;

			for (uint64_t x = a; x < b; x++) {
				all &= ref[x];
				any |= ref[x];
			}
			CU_ASSERT_EQUAL(wfs_ranges_covers(&r, a, b), all);
			CU_ASSERT_EQUAL(wfs_ranges_touches(&r, a, b), any);
			for (uint64_t x = 0; x < REF_LEN; x++)
				if (ref[x])
					end = x + 1;
			CU_ASSERT_EQUAL(wfs_ranges_end(&r), end);
		}
		{
			struct wfs_range g;
			uint64_t pos = a, last = a;
			unsigned char seen[REF_LEN] = { 0 };

			while (wfs_ranges_next_gap(&r, &pos, b, &g)) {
				CU_ASSERT(g.start >= last && g.start < g.end &&
					  g.end <= b);
				for (uint64_t x = g.start; x < g.end; x++)
					seen[x] = 1;
				last = g.end;
			}
			CU_ASSERT_EQUAL(pos, b > a ? b : a);
			for (uint64_t x = a; x < b; x++)
				CU_ASSERT_EQUAL(seen[x], !ref[x]);
		}
	}
	wfs_ranges_release(&r);
	wfs_ranges_release(&r);	/* a released set is empty: a no-op */
}

static void test_ranges_merge(void)
{
	struct wfs_ranges r = { 0 };

	CU_ASSERT_EQUAL(wfs_ranges_add(&r, 10, 20), 0);
	CU_ASSERT_EQUAL(wfs_ranges_add(&r, 30, 40), 0);
	CU_ASSERT_EQUAL(wfs_ranges_add(&r, 5, 5), 0);	/* empty */
	CU_ASSERT_EQUAL(r.n, 2);
	CU_ASSERT_EQUAL(wfs_ranges_add(&r, 20, 30), 0);	/* adjacent both */
	CU_ASSERT_EQUAL(r.n, 1);
	CU_ASSERT(r.v[0].start == 10 && r.v[0].end == 40);
	CU_ASSERT_EQUAL(wfs_ranges_add(&r, 0, UINT64_MAX), 0);
	CU_ASSERT(r.n == 1 && r.v[0].end == UINT64_MAX);
	CU_ASSERT_TRUE(wfs_ranges_covers(&r, 12345, 1ULL << 40));
	wfs_ranges_cut(&r, 100);
	CU_ASSERT(r.n == 1 && r.v[0].end == 100);
	CU_ASSERT_EQUAL(wfs_ranges_find(&r, 99), 0);
	CU_ASSERT_EQUAL(wfs_ranges_find(&r, 100), 1);
	wfs_ranges_release(&r);
}

static void test_ranges_nomem(void)
{
	struct wfs_ranges r = { 0 };

	wfs_mem_fail_after(0);
	CU_ASSERT_EQUAL(wfs_ranges_add(&r, 1, 2), -ENOMEM);
	wfs_mem_fail_after(-1);
	CU_ASSERT_EQUAL(r.n, 0);
	CU_ASSERT_EQUAL(wfs_ranges_add(&r, 1, 2), 0);
	wfs_ranges_release(&r);
}

static void test_blocks(void)
{
	struct wfs_ranges d = { 0 };

	CU_ASSERT_EQUAL(wfs_geom_blocks(100, 0, 0), 0);
	CU_ASSERT_EQUAL(wfs_geom_blocks(100, 0, 1), 0x1);
	CU_ASSERT_EQUAL(wfs_geom_blocks(100, 99, 101), 0x3);
	CU_ASSERT_EQUAL(wfs_geom_blocks(100, 100, 400), 0xe);
	CU_ASSERT_EQUAL(wfs_geom_blocks(100, 0, 100000), 0xffff);
	wfs_ranges_add(&d, 100, 300);
	wfs_ranges_add(&d, 350, 400);
	CU_ASSERT_EQUAL(wfs_geom_dirty_blocks(&d, 100, 4), 0x6);
	wfs_ranges_release(&d);
}

/* A stripe of 4 blocks of 100 bytes. */
static struct wfs_sbuf_state state(const struct wfs_ranges *dirty,
				   uint32_t len, uint32_t base_len,
				   uint32_t valid)
{
	struct wfs_sbuf_state st = {
		.span = 400, .len = len, .base_len = base_len, .block = 100,
		.valid = valid, .dirty = dirty,
	};

	return st;
}

static void test_plan(void)
{
	struct wfs_ranges d = { 0 };
	struct wfs_flush_plan p;
	struct wfs_sbuf_state st;

	/* All new, whole span: EC, nothing to read. */
	wfs_ranges_add(&d, 0, 400);
	st = state(&d, 400, 0, 0xf);
	wfs_geom_plan_flush(&st, &p);
	CU_ASSERT(p.kind == WFS_KIND_EC && p.full && p.load == 0 &&
		  p.length == 400);
	/* Whole span over a committed version: still no read. */
	st = state(&d, 400, 400, 0);
	wfs_geom_plan_flush(&st, &p);
	CU_ASSERT(p.kind == WFS_KIND_EC && p.full && p.load == 0);

	/* A tail of a new file: replica of its length. */
	wfs_ranges_clear(&d);
	wfs_ranges_add(&d, 0, 150);
	st = state(&d, 150, 0, 0xf);
	wfs_geom_plan_flush(&st, &p);
	CU_ASSERT(p.kind == WFS_KIND_REPLICA && p.full && p.load == 0 &&
		  p.length == 150);

	/* Read-modify-write: 10 bytes into block 1 of a full committed
	 * stripe: blocks 0, 2, 3 wholly clean, 1 partly: all four load. */
	wfs_ranges_clear(&d);
	wfs_ranges_add(&d, 110, 120);
	st = state(&d, 400, 400, 0);
	wfs_geom_plan_flush(&st, &p);
	CU_ASSERT(p.kind == WFS_KIND_EC && !p.full && p.load == 0xf);
	/* Blocks already valid are not read again. */
	st.valid = 0x5;
	wfs_geom_plan_flush(&st, &p);
	CU_ASSERT_EQUAL(p.load, 0xa);
	/* A block wholly rewritten needs no read. */
	wfs_ranges_add(&d, 100, 200);
	st = state(&d, 400, 400, 0);
	wfs_geom_plan_flush(&st, &p);
	CU_ASSERT_EQUAL(p.load, 0xd);

	/* Past the committed length clean bytes are zeros: a committed
	 * 150-byte stripe extended by a write at 300..350 reads blocks 0 and
	 * 1 only, and stays a replica (350 < span). */
	wfs_ranges_clear(&d);
	wfs_ranges_add(&d, 300, 350);
	st = state(&d, 350, 150, 0xc);
	wfs_geom_plan_flush(&st, &p);
	CU_ASSERT(p.kind == WFS_KIND_REPLICA && !p.full && p.load == 0x3 &&
		  p.length == 350);
	/* The committed part wholly rewritten: nothing to read. */
	wfs_ranges_add(&d, 0, 150);
	wfs_geom_plan_flush(&st, &p);
	CU_ASSERT(p.load == 0 && !p.full);
	wfs_ranges_release(&d);
}

static void test_read_need(void)
{
	struct wfs_ranges d = { 0 };
	struct wfs_sbuf_state st;

	/* A committed replica (one block of the span). */
	st = state(&d, 250, 250, 0);
	st.block = 400;
	CU_ASSERT_EQUAL(wfs_geom_read_need(&st, 10, 20), 0x1);
	CU_ASSERT_EQUAL(wfs_geom_read_need(&st, 250, 400), 0);	/* past it */
	wfs_ranges_add(&d, 0, 250);
	CU_ASSERT_EQUAL(wfs_geom_read_need(&st, 10, 20), 0);	/* all new */
	wfs_ranges_clear(&d);
	/* EC blocks: only those the read meets. */
	st = state(&d, 400, 400, 0x2);
	CU_ASSERT_EQUAL(wfs_geom_read_need(&st, 150, 250), 0x4);
	CU_ASSERT_EQUAL(wfs_geom_read_need(&st, 0, 400), 0xd);
	CU_ASSERT_EQUAL(wfs_geom_read_need(&st, 5, 5), 0);
	/* Nothing committed: nothing to read. */
	st = state(&d, 100, 0, 0xf);
	CU_ASSERT_EQUAL(wfs_geom_read_need(&st, 0, 400), 0);
	wfs_ranges_release(&d);
}

static void test_quorum(void)
{
	CU_ASSERT_EQUAL(wfs_geom_write_quorum(WFS_KIND_EC, 4, 2), 5);
	CU_ASSERT_EQUAL(wfs_geom_write_quorum(WFS_KIND_EC, 1, 1), 2);
	CU_ASSERT_EQUAL(wfs_geom_write_quorum(WFS_KIND_REPLICA, 4, 2), 2);
	CU_ASSERT_EQUAL(wfs_geom_write_quorum(WFS_KIND_REPLICA, 4, 1), 2);
	CU_ASSERT_EQUAL(wfs_geom_nchunks(WFS_KIND_EC, 4, 2), 6);
	CU_ASSERT_EQUAL(wfs_geom_nchunks(WFS_KIND_REPLICA, 4, 2), 3);
}

static CU_TestInfo geom_tests[] = {
	{ "ranges against a byte map", test_ranges_random },
	{ "ranges merge and cut", test_ranges_merge },
	{ "ranges out of memory", test_ranges_nomem },
	{ "block masks", test_blocks },
	{ "flush plan", test_plan },
	{ "read needs", test_read_need },
	{ "write quorum", test_quorum },
	CU_TEST_INFO_NULL,
};
WFS_TEST_SUITE("client_geom", geom_tests, NULL, NULL)
