/* Unit tests for storaged/locks: POSIX range semantics (conflicts, split,
 * merge), flock, waits (grant, deadline, cancel, client gone), limits,
 * allocation failures, and a random run against a byte-map model. */
#include "storaged/locks.h"

#include <errno.h>
#include <string.h>

#include "mem/mem.h"
#include "tests/unit.h"

static struct wfs_lock lk(uint64_t ino, uint32_t type, uint64_t start,
			  uint64_t end, uint64_t owner, const char *client)
{
	struct wfs_lock l = { .ino = ino, .kind = WFS_LOCK_POSIX,
			      .type = type, .start = start, .end = end,
			      .owner = owner, .pid = (uint32_t)owner + 100,
			      .client = client,
			      .client_len = client ? strlen(client) : 0 };

	return l;
}

static size_t nlocks(struct wfs_locks *t)
{
	size_t n, w;

	wfs_locks_count(t, &n, &w);
	return n;
}

static void test_conflicts(void)
{
	struct wfs_locks *t;
	struct wfs_lock a, b, got;

	CU_ASSERT_EQUAL_FATAL(wfs_locks_new(0, &t), 0);
	a = lk(7, WFS_LOCK_READ, 0, 99, 1, "c1");
	b = lk(7, WFS_LOCK_READ, 50, 149, 2, "c1");
	CU_ASSERT_EQUAL(wfs_locks_set(t, &a), 0);
	CU_ASSERT_EQUAL(wfs_locks_set(t, &b), 0);	/* readers share */
	b.type = WFS_LOCK_WRITE;
	CU_ASSERT_EQUAL(wfs_locks_set(t, &b), -EAGAIN);
	CU_ASSERT_EQUAL(wfs_locks_get(t, &b, &got), 0);
	CU_ASSERT_EQUAL(got.type, WFS_LOCK_READ);
	CU_ASSERT_EQUAL(got.start, 0);
	CU_ASSERT_EQUAL(got.end, 99);
	CU_ASSERT_EQUAL(got.owner, 1);
	CU_ASSERT_EQUAL(got.pid, 101);
	/* Outside the other's range there is no conflict. */
	b.start = 100;
	CU_ASSERT_EQUAL(wfs_locks_get(t, &b, &got), 0);
	CU_ASSERT_EQUAL(got.type, WFS_LOCK_UNLOCK);
	/* The same owner number in another client is another owner. */
	b = lk(7, WFS_LOCK_WRITE, 0, 0, 1, "c2");
	CU_ASSERT_EQUAL(wfs_locks_set(t, &b), -EAGAIN);
	/* An owner upgrades its own lock when nobody else holds it. */
	a = lk(7, WFS_LOCK_WRITE, 0, 10, 1, "c1");
	CU_ASSERT_EQUAL(wfs_locks_set(t, &a), 0);
	/* Other inodes are independent. */
	b = lk(8, WFS_LOCK_WRITE, 0, UINT64_MAX, 2, "c1");
	CU_ASSERT_EQUAL(wfs_locks_set(t, &b), 0);
	wfs_locks_free(t);
}

static void test_split_and_merge(void)
{
	struct wfs_locks *t;
	struct wfs_lock a, b, got;

	CU_ASSERT_EQUAL_FATAL(wfs_locks_new(0, &t), 0);
	a = lk(1, WFS_LOCK_WRITE, 0, 99, 1, "c");
	CU_ASSERT_EQUAL(wfs_locks_set(t, &a), 0);
	a = lk(1, WFS_LOCK_UNLOCK, 40, 59, 1, "c");
	CU_ASSERT_EQUAL(wfs_locks_set(t, &a), 0);
	CU_ASSERT_EQUAL(nlocks(t), 2);
	b = lk(1, WFS_LOCK_WRITE, 40, 59, 2, "c");
	CU_ASSERT_EQUAL(wfs_locks_set(t, &b), 0);
	b = lk(1, WFS_LOCK_READ, 60, 60, 2, "c");
	CU_ASSERT_EQUAL(wfs_locks_set(t, &b), -EAGAIN);
	CU_ASSERT_EQUAL(wfs_locks_get(t, &b, &got), 0);
	CU_ASSERT_EQUAL(got.start, 60);
	CU_ASSERT_EQUAL(got.end, 99);
	/* Owner 2 gives back its middle; owner 1 fills it: one lock again. */
	b = lk(1, WFS_LOCK_UNLOCK, 0, UINT64_MAX, 2, "c");
	CU_ASSERT_EQUAL(wfs_locks_set(t, &b), 0);
	a = lk(1, WFS_LOCK_WRITE, 40, 59, 1, "c");
	CU_ASSERT_EQUAL(wfs_locks_set(t, &a), 0);
	CU_ASSERT_EQUAL(nlocks(t), 1);
	/* Touching ranges of one type merge, of different types do not. */
	a = lk(1, WFS_LOCK_WRITE, 100, 199, 1, "c");
	CU_ASSERT_EQUAL(wfs_locks_set(t, &a), 0);
	CU_ASSERT_EQUAL(nlocks(t), 1);
	a = lk(1, WFS_LOCK_READ, 50, 59, 1, "c");	/* downgrade a middle */
	CU_ASSERT_EQUAL(wfs_locks_set(t, &a), 0);
	CU_ASSERT_EQUAL(nlocks(t), 3);
	b = lk(1, WFS_LOCK_READ, 55, 55, 2, "c");
	CU_ASSERT_EQUAL(wfs_locks_set(t, &b), 0);
	/* A lock to the end of the file, and one at its very last byte. */
	a = lk(1, WFS_LOCK_WRITE, 1000, UINT64_MAX, 1, "c");
	CU_ASSERT_EQUAL(wfs_locks_set(t, &a), 0);
	b = lk(1, WFS_LOCK_READ, UINT64_MAX, UINT64_MAX, 2, "c");
	CU_ASSERT_EQUAL(wfs_locks_set(t, &b), -EAGAIN);
	a = lk(1, WFS_LOCK_UNLOCK, UINT64_MAX, UINT64_MAX, 1, "c");
	CU_ASSERT_EQUAL(wfs_locks_set(t, &a), 0);
	CU_ASSERT_EQUAL(wfs_locks_set(t, &b), 0);
	/* Unlocking everything leaves nothing. */
	a = lk(1, WFS_LOCK_UNLOCK, 0, UINT64_MAX, 1, "c");
	b = lk(1, WFS_LOCK_UNLOCK, 0, UINT64_MAX, 2, "c");
	CU_ASSERT_EQUAL(wfs_locks_set(t, &a), 0);
	CU_ASSERT_EQUAL(wfs_locks_set(t, &b), 0);
	CU_ASSERT_EQUAL(nlocks(t), 0);
	wfs_locks_free(t);
}

static void test_flock(void)
{
	struct wfs_locks *t;
	struct wfs_lock a, b, p;

	CU_ASSERT_EQUAL_FATAL(wfs_locks_new(0, &t), 0);
	a = lk(3, WFS_LOCK_WRITE, 5, 6, 1, "c");
	a.kind = WFS_LOCK_FLOCK;
	b = a;
	b.owner = 2;
	b.type = WFS_LOCK_READ;
	CU_ASSERT_EQUAL(wfs_locks_set(t, &a), 0);
	CU_ASSERT_EQUAL(wfs_locks_set(t, &b), -EAGAIN);
	/* fcntl locks do not meet flock locks. */
	p = lk(3, WFS_LOCK_WRITE, 0, UINT64_MAX, 2, "c");
	CU_ASSERT_EQUAL(wfs_locks_set(t, &p), 0);
	/* Downgrade to shared: the other reader gets in. */
	a.type = WFS_LOCK_READ;
	CU_ASSERT_EQUAL(wfs_locks_set(t, &a), 0);
	CU_ASSERT_EQUAL(wfs_locks_set(t, &b), 0);
	a.type = WFS_LOCK_WRITE;
	CU_ASSERT_EQUAL(wfs_locks_set(t, &a), -EAGAIN);
	wfs_locks_free(t);
}

struct grant {
	int calls;
	int rc;
};

static void on_grant(void *arg, int rc)
{
	struct grant *g = arg;

	g->calls++;
	g->rc = rc;
}

static void test_waits(void)
{
	struct wfs_locks *t;
	struct wfs_lock a, b, c;
	struct grant gb = { 0 }, gc = { 0 };
	size_t locks, waits;

	CU_ASSERT_EQUAL_FATAL(wfs_locks_new(0, &t), 0);
	a = lk(1, WFS_LOCK_WRITE, 0, 9, 1, "c");
	b = lk(1, WFS_LOCK_WRITE, 5, 5, 2, "c");
	c = lk(1, WFS_LOCK_READ, 0, 0, 3, "c");
	CU_ASSERT_EQUAL(wfs_locks_set_wait(t, &a, 100, on_grant, &gb), 0);
	CU_ASSERT_EQUAL(gb.calls, 0);
	CU_ASSERT_EQUAL(wfs_locks_set_wait(t, &b, 100, on_grant, &gb), 1);
	CU_ASSERT_EQUAL(wfs_locks_set_wait(t, &c, 50, on_grant, &gc), 1);
	wfs_locks_count(t, &locks, &waits);
	CU_ASSERT_EQUAL(waits, 2);
	/* Unlocking byte 5 grants b, not c (byte 0 still held). */
	a.type = WFS_LOCK_UNLOCK;
	a.start = a.end = 5;
	CU_ASSERT_EQUAL(wfs_locks_set(t, &a), 0);
	CU_ASSERT_EQUAL(gb.calls, 1);
	CU_ASSERT_EQUAL(gb.rc, 0);
	CU_ASSERT_EQUAL(gc.calls, 0);
	b = lk(1, WFS_LOCK_READ, 5, 5, 4, "c");
	CU_ASSERT_EQUAL(wfs_locks_set(t, &b), -EAGAIN);	/* owner 2 has it */
	/* c's deadline passes. */
	wfs_locks_expire(t, 49);
	CU_ASSERT_EQUAL(gc.calls, 0);
	wfs_locks_expire(t, 50);
	CU_ASSERT_EQUAL(gc.calls, 1);
	CU_ASSERT_EQUAL(gc.rc, -ETIMEDOUT);
	/* A client that goes away releases its locks to the waiters. */
	gc.calls = 0;
	CU_ASSERT_EQUAL(wfs_locks_set_wait(t, &c, 50, on_grant, &gc), 1);
	wfs_locks_drop_client(t, "c", 1);
	CU_ASSERT_EQUAL(gc.calls, 1);
	CU_ASSERT_EQUAL(gc.rc, 0);
	CU_ASSERT_EQUAL(nlocks(t), 1);		/* c's own */
	/* Shut down with a waiter: it is cancelled. */
	gb.calls = 0;
	b = lk(1, WFS_LOCK_WRITE, 0, 0, 9, "x");
	CU_ASSERT_EQUAL(wfs_locks_set_wait(t, &b, 1000, on_grant, &gb), 1);
	wfs_locks_free(t);
	CU_ASSERT_EQUAL(gb.calls, 1);
	CU_ASSERT_EQUAL(gb.rc, -ECANCELED);
}

static void test_invalid_and_full(void)
{
	struct wfs_locks *t;
	struct wfs_lock a, got;
	char big[WFS_LOCKS_CLIENT_MAX + 1];

	CU_ASSERT_EQUAL_FATAL(wfs_locks_new(4, &t), 0);
	a = lk(1, WFS_LOCK_READ, 10, 9, 1, "c");
	CU_ASSERT_EQUAL(wfs_locks_set(t, &a), -EINVAL);
	CU_ASSERT_EQUAL(wfs_locks_get(t, &a, &got), -EINVAL);
	a = lk(1, 3, 0, 9, 1, "c");
	CU_ASSERT_EQUAL(wfs_locks_set(t, &a), -EINVAL);
	a = lk(1, WFS_LOCK_READ, 0, 9, 1, "c");
	a.kind = 2;
	CU_ASSERT_EQUAL(wfs_locks_set(t, &a), -EINVAL);
	memset(big, 'x', sizeof(big));
	a = lk(1, WFS_LOCK_READ, 0, 9, 1, NULL);
	a.client = big;
	a.client_len = sizeof(big);
	CU_ASSERT_EQUAL(wfs_locks_set(t, &a), -EINVAL);
	/* A table of 4: a fourth disjoint range does not fit (a set may
	 * need room for two). */
	for (int i = 0; i < 3; i++) {
		a = lk(1, WFS_LOCK_READ, 10 * i, 10 * i + 1, 1, "c");
		CU_ASSERT_EQUAL(wfs_locks_set(t, &a), 0);
	}
	a = lk(1, WFS_LOCK_READ, 100, 101, 1, "c");
	CU_ASSERT_EQUAL(wfs_locks_set(t, &a), -ENOLCK);
	/* Unlocking still works when full. */
	a.type = WFS_LOCK_UNLOCK;
	a.start = 0;
	a.end = UINT64_MAX;
	CU_ASSERT_EQUAL(wfs_locks_set(t, &a), 0);
	CU_ASSERT_EQUAL(nlocks(t), 0);
	wfs_locks_free(t);
	wfs_locks_free(NULL);
}

static void test_alloc_failures(void)
{
	struct wfs_locks *t;
	struct wfs_lock a, b;
	int rc = -ENOMEM;

	CU_ASSERT_EQUAL_FATAL(wfs_locks_new(0, &t), 0);
	a = lk(1, WFS_LOCK_WRITE, 0, 99, 1, "c");
	CU_ASSERT_EQUAL(wfs_locks_set(t, &a), 0);
	b = lk(1, WFS_LOCK_READ, 40, 49, 1, "c");	/* needs a split */
	for (long n = 0; rc == -ENOMEM && n < 10; n++) {
		wfs_mem_fail_after(n);
		rc = wfs_locks_set(t, &b);
		wfs_mem_fail_after(-1);
		if (rc == -ENOMEM)
			CU_ASSERT_EQUAL(nlocks(t), 1);
	}
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(nlocks(t), 3);
	wfs_locks_free(t);
}

/* A model over bytes 0..63 of one file for 3 owners: per byte and owner,
 * the type held.  Random sets are checked against it, then every byte is
 * probed with get, and the lock count must equal the number of maximal
 * same-type runs (merging is complete). */
#define MB 64
#define MO 3

static int model_conflict(uint8_t m[MO][MB], unsigned o, unsigned type,
			  unsigned s, unsigned e)
{
	if (type == WFS_LOCK_UNLOCK)
		return 0;
	for (unsigned q = 0; q < MO; q++)
		for (unsigned b = s; q != o && b <= e; b++)
			if (m[q][b] == WFS_LOCK_WRITE ||
			    (m[q][b] && type == WFS_LOCK_WRITE))
				return 1;
	return 0;
}

static size_t model_runs(uint8_t m[MO][MB])
{
	size_t runs = 0;

	for (unsigned o = 0; o < MO; o++)
		for (unsigned b = 0; b < MB; b++)
			if (m[o][b] && (b == 0 || m[o][b - 1] != m[o][b]))
				runs++;
	return runs;
}

static void test_model(void)
{
	uint64_t rng = wfs_test_seed();
	uint8_t m[MO][MB] = { { 0 } };
	struct wfs_locks *t;

	CU_ASSERT_EQUAL_FATAL(wfs_locks_new(0, &t), 0);
	for (int step = 0; step < 3000; step++) {
		unsigned o = wfs_test_rand(&rng) % MO;
		unsigned type = wfs_test_rand(&rng) % 3;
		unsigned s = wfs_test_rand(&rng) % MB;
		unsigned e = s + wfs_test_rand(&rng) % (MB - s);
		struct wfs_lock r = lk(1, type, s, e, o, "m");
		int want = model_conflict(m, o, type, s, e) ? -EAGAIN : 0;
		int rc = wfs_locks_set(t, &r);

		CU_ASSERT_EQUAL_FATAL(rc, want);
		for (unsigned b = s; rc == 0 && b <= e; b++)
			m[o][b] = (uint8_t)type;
		for (unsigned q = 0; q < MO; q++) {
			for (unsigned b = 0; b < MB; b++) {
				struct wfs_lock p = lk(1, WFS_LOCK_WRITE, b, b,
						       q, "m"), got;

				wfs_locks_get(t, &p, &got);
				CU_ASSERT_EQUAL_FATAL(
					got.type != WFS_LOCK_UNLOCK,
					model_conflict(m, q, WFS_LOCK_WRITE, b,
						       b));
			}
		}
		CU_ASSERT_EQUAL_FATAL(nlocks(t), model_runs(m));
	}
	wfs_locks_free(t);
}

static CU_TestInfo locks_tests[] = {
	{ "conflicts between owners", test_conflicts },
	{ "split, merge, unlock of a sub-range", test_split_and_merge },
	{ "flock", test_flock },
	{ "waits: grant, deadline, client gone, cancel", test_waits },
	{ "invalid requests and a full table", test_invalid_and_full },
	{ "allocation failures change nothing", test_alloc_failures },
	{ "random run against a model", test_model },
	CU_TEST_INFO_NULL,
};
WFS_TEST_SUITE("locks", locks_tests, NULL, NULL)
