/* bench_gossip: how fast the cluster learns of a crashed node, through real
 * gossip runners (gossip/gossip.h) on loopback UDP with default timings:
 *
 *   BENCH gossip_detect_ms <ms> ms
 *	six runners join and agree; one is stopped abruptly (no goodbye);
 *	the time from its stop until the last of the five others reports it
 *	DEAD through the change callback.  Median of RUNS runs, each with a
 *	fresh cluster and fresh keys.  The design target is under 3000.
 *
 * No files are written, so $WFS_BENCH_DIR is not used.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "gossip/gossip.h"
#include "log/log.h"
#include "mem/mem.h"

#define NODES 6
#define RUNS 5
#define WAIT_MS 15000

struct bench {
	unsigned char pk[NODES][WFS_GOSSIP_PK_LEN];
	unsigned char sk[NODES][WFS_GOSSIP_SK_LEN];
	struct wfs_gossip *g[NODES];
	pthread_mutex_t lock;
	int victim;			/* protected by lock */
	uint64_t dead_at[NODES];	/* protected by lock: when each saw it */
	unsigned alive_seen[NODES];	/* protected by lock: members alive */
};

struct observer {
	struct bench *b;
	int idx;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static bool admit(void *arg, const unsigned char *pk)
{
	struct observer *o = arg;

	for (int i = 0; i < NODES; i++)
		if (!memcmp(pk, o->b->pk[i], WFS_GOSSIP_PK_LEN))
			return true;
	return false;
}

static void changed(void *arg, const struct wfs_swim_member *m,
		    enum wfs_swim_state old, enum wfs_swim_state now)
{
	struct observer *o = arg;
	struct bench *b = o->b;

	pthread_mutex_lock(&b->lock);
	if (now == WFS_SWIM_ALIVE && old != WFS_SWIM_ALIVE)
		b->alive_seen[o->idx]++;
	else if (old == WFS_SWIM_ALIVE && now != WFS_SWIM_ALIVE)
		b->alive_seen[o->idx]--;
	if (now == WFS_SWIM_DEAD && b->victim >= 0 && !b->dead_at[o->idx] &&
	    !memcmp(m->id, b->pk[b->victim], WFS_GOSSIP_PK_LEN))
		b->dead_at[o->idx] = now_ms();
	pthread_mutex_unlock(&b->lock);
}

static bool all_joined(struct bench *b)
{
	bool ok = true;

	pthread_mutex_lock(&b->lock);
	for (int i = 0; i < NODES; i++)
		ok = ok && b->alive_seen[i] == NODES - 1;
	pthread_mutex_unlock(&b->lock);
	return ok;
}

/* The time the last survivor saw the victim dead, or 0 if one has not. */
static uint64_t last_dead(struct bench *b)
{
	uint64_t last = 0;

	pthread_mutex_lock(&b->lock);
	for (int i = 0; i < NODES; i++) {
		if (i == b->victim)
			continue;
		if (!b->dead_at[i]) {
			last = 0;
			break;
		}
		last = b->dead_at[i] > last ? b->dead_at[i] : last;
	}
	pthread_mutex_unlock(&b->lock);
	return last;
}

static int start_cluster(struct bench *b, struct observer *obs)
{
	for (int i = 0; i < NODES; i++) {
		const char *seed = i ? wfs_gossip_addr(b->g[0]) : NULL;
		struct wfs_gossip_config cfg = {
			.bind = "127.0.0.1:0", .pk = b->pk[i], .sk = b->sk[i],
			.seeds = &seed, .nseeds = i ? 1 : 0,
			.admit = admit, .changed = changed, .arg = &obs[i],
		};
		int rc;

		crypto_sign_keypair(b->pk[i], b->sk[i]);
		obs[i] = (struct observer){ b, i };
		rc = wfs_gossip_new(&cfg, &b->g[i]);
		if (rc == 0)
			rc = wfs_gossip_start(b->g[i]);
		if (rc < 0) {
			fprintf(stderr, "bench_gossip: runner %d: %s\n", i,
				strerror(-rc));
			return rc;
		}
	}
	return 0;
}

/* One run: a fresh cluster, one crash.  Returns the detection time in ms,
 * or -1. */
static long run_once(int run)
{
	struct bench b = { .victim = -1 };
	struct observer obs[NODES];
	uint64_t start, last = 0;
	long result = -1;

	pthread_mutex_init(&b.lock, NULL);
	if (start_cluster(&b, obs) < 0)
		goto out_free;
	for (start = now_ms(); !all_joined(&b); sleep_ms(5))
		if (now_ms() - start > WAIT_MS)
			goto out_free;
	sleep_ms(2000);		/* let probing settle into its rhythm */
	pthread_mutex_lock(&b.lock);
	b.victim = 1 + run % (NODES - 1);
	pthread_mutex_unlock(&b.lock);
	wfs_gossip_stop(b.g[b.victim]);
	start = now_ms();
	while (!(last = last_dead(&b)) && now_ms() - start < WAIT_MS)
		sleep_ms(5);
	if (last)
		result = (long)(last - start);
out_free:
	for (int i = 0; i < NODES; i++)
		wfs_gossip_free(b.g[i]);
	pthread_mutex_destroy(&b.lock);
	return result;
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

int main(void)
{
	long t[RUNS];

	wfs_log_set_level(WFS_LOG_WARN);
	if (sodium_init() < 0)
		return 1;
	for (int i = 0; i < RUNS; i++) {
		t[i] = run_once(i);
		if (t[i] < 0) {
			fprintf(stderr, "bench_gossip: run %d: the crash was "
				"not detected within %d ms\n", i, WAIT_MS);
			return 1;
		}
		fprintf(stderr, "bench_gossip: run %d: %ld ms\n", i, t[i]);
	}
	qsort(t, RUNS, sizeof(t[0]), cmp_long);
	printf("BENCH gossip_detect_ms %ld ms\n", t[RUNS / 2]);
	return 0;
}
