/* Unit tests for raft_transport: three libraft nodes (driven directly, on
 * one libuv loop run by the test thread) elect a leader and replicate
 * entries with every byte going through wfs_net relays on 127.0.0.1; the
 * leader goes away and the other two carry on; a node posing as another
 * raft id is refused.  Waits have a deadline only so a bug fails instead of
 * hanging. */
#include "net/raft_transport.h"

#include <errno.h>
#include <pthread.h>
#include <raft.h>
#include <signal.h>
#include <raft/uv.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "log/log.h"
#include "mem/mem.h"
#include "net/link.h"
#include "tests/unit.h"

#define NODES 3
#define WAIT_MS 30000
#define ENTRIES 10

struct node {
	uint64_t id;
	uint8_t pk[32], sk[64];
	struct wfs_net *net;
	char addr[WFS_NET_ADDR_MAX];
	char dir[256];
	struct raft_uv_transport t;
	struct raft_io io;
	struct raft_fsm fsm;
	struct raft raft;
	bool running;		/* raft started, not closed */
	bool closed;		/* raft_close completed */
	unsigned applied;
	uint64_t values[2 * ENTRIES];
};

static struct node nodes[NODES];
static uint8_t mallory_pk[32], mallory_sk[64];
static uv_loop_t loop;
static uint64_t rng;

/* Mallory's net reports its link closures here. */
static pthread_mutex_t mlock = PTHREAD_MUTEX_INITIALIZER;
static int mallory_closed;

static bool admit_all(void *arg, const uint8_t pk[32])
{
	(void)arg;
	for (int i = 0; i < NODES; i++)
		if (memcmp(nodes[i].pk, pk, 32) == 0)
			return true;
	return memcmp(mallory_pk, pk, 32) == 0;
}

/* Raft id i+1 belongs to node i's key. */
static bool check_id(void *arg, uint64_t raft_id, const uint8_t *pk)
{
	(void)arg;
	return raft_id >= 1 && raft_id <= NODES &&
	       memcmp(nodes[raft_id - 1].pk, pk, 32) == 0;
}

static void mallory_close(void *arg, uint64_t link, const uint8_t *pk,
			  int reason)
{
	(void)arg;
	(void)link;
	(void)pk;
	(void)reason;
	pthread_mutex_lock(&mlock);
	mallory_closed++;
	pthread_mutex_unlock(&mlock);
}

/* ---- a trivial state machine: remember each entry's value ---- */

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf,
		     void **result)
{
	struct node *n = fsm->data;
	uint64_t v;

	*result = NULL;
	if (buf->len != sizeof(v))
		return RAFT_MALFORMED;
	memcpy(&v, buf->base, sizeof(v));
	if (n->applied < 2 * ENTRIES)
		n->values[n->applied] = v;
	n->applied++;
	return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[],
			unsigned *n_bufs)
{
	struct node *n = fsm->data;

	*bufs = raft_malloc(sizeof(**bufs));
	if (!*bufs)
		return RAFT_NOMEM;
	(*bufs)[0].len = sizeof(n->applied);
	(*bufs)[0].base = raft_malloc(sizeof(n->applied));
	if (!(*bufs)[0].base) {
		raft_free(*bufs);
		return RAFT_NOMEM;
	}
	memcpy((*bufs)[0].base, &n->applied, sizeof(n->applied));
	*n_bufs = 1;
	return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
	struct node *n = fsm->data;

	memcpy(&n->applied, buf->base, sizeof(n->applied));
	raft_free(buf->base);
	return 0;
}

/* ---- driving the loop ---- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Run raft's loop until @done(@arg) holds.  Returns whether it did. */
static bool run_until(bool (*done)(void *), void *arg)
{
	uint64_t end = now_ms() + WAIT_MS;

	while (!done(arg)) {
		if (now_ms() > end)
			return false;
		/* NOWAIT and a short nap rather than ONCE: raft's timers
		 * wake us anyway, but a condition fed by another thread
		 * (mallory's net) must be seen too. */
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	return true;
}

static struct node *leader(void)
{
	for (int i = 0; i < NODES; i++)
		if (nodes[i].running &&
		    raft_state(&nodes[i].raft) == RAFT_LEADER)
			return &nodes[i];
	return NULL;
}

static bool has_leader(void *arg)
{
	(void)arg;
	return leader() != NULL;
}

/* Every running node applied *@arg entries and has nothing in flight
 * (libraft 0.15 must not be closed with a log write pending). */
static bool all_applied(void *arg)
{
	unsigned want = *(unsigned *)arg;

	for (int i = 0; i < NODES; i++) {
		struct node *n = &nodes[i];

		if (!n->running)
			continue;
		if (n->applied < want ||
		    n->raft.last_stored < raft_last_index(&n->raft))
			return false;
	}
	return true;
}

static bool node_closed(void *arg)
{
	return ((struct node *)arg)->closed;
}

static bool mallory_refused(void *arg)
{
	bool done;

	(void)arg;
	pthread_mutex_lock(&mlock);
	done = mallory_closed > 0;
	pthread_mutex_unlock(&mlock);
	return done;
}

static void raft_closed_cb(struct raft *r)
{
	struct node *n = r->data;

	n->closed = true;
}

static void applied_cb(struct raft_apply *req, int status, void *result)
{
	(void)result;
	CU_ASSERT_EQUAL(status, 0);
	wfs_free(req);
}

static void propose(struct node *n, uint64_t v)
{
	struct raft_apply *req = wfs_malloc(sizeof(*req));
	struct raft_buffer buf = { .base = raft_malloc(8), .len = 8 };

	CU_ASSERT_PTR_NOT_NULL_FATAL(req);
	memcpy(buf.base, &v, 8);
	CU_ASSERT_EQUAL_FATAL(raft_apply(&n->raft, req, &buf, 1, applied_cb),
			      0);
}

/* ---- set-up and tear-down ---- */

static void make_keys(uint8_t pk[32], uint8_t sk[64])
{
	uint8_t seed[crypto_sign_SEEDBYTES];

	wfs_test_fill(&rng, seed, sizeof(seed));
	crypto_sign_seed_keypair(pk, sk, seed);
}

static void start_net(struct node *n)
{
	struct wfs_net_config cfg = {
		.listen = "127.0.0.1:0",
		.pk = n->pk,
		.sk = n->sk,
		.admit = admit_all,
	};

	CU_ASSERT_EQUAL_FATAL(wfs_net_new(&cfg, &n->net), 0);
	CU_ASSERT_EQUAL_FATAL(wfs_net_listen_addr(n->net, n->addr,
						  sizeof(n->addr)), 0);
	CU_ASSERT_EQUAL_FATAL(wfs_net_start(n->net), 0);
}

static void start_raft(struct node *n)
{
	struct raft_configuration conf;

	CU_ASSERT_EQUAL_FATAL(wfs_test_mkdtemp(n->dir, sizeof(n->dir)), 0);
	CU_ASSERT_EQUAL_FATAL(wfs_raft_transport_init(&n->t, &loop, n->net,
						      check_id, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(raft_uv_init(&n->io, &loop, n->dir, &n->t), 0);
	raft_uv_set_connect_retry_delay(&n->io, 50);
	n->fsm = (struct raft_fsm){ .version = 1, .data = n,
				    .apply = fsm_apply,
				    .snapshot = fsm_snapshot,
				    .restore = fsm_restore };
	CU_ASSERT_EQUAL_FATAL(raft_init(&n->raft, &n->io, &n->fsm, n->id,
					n->addr), 0);
	n->raft.data = n;
	raft_set_election_timeout(&n->raft, 300);
	raft_set_heartbeat_timeout(&n->raft, 50);
	raft_configuration_init(&conf);
	for (int i = 0; i < NODES; i++)
		CU_ASSERT_EQUAL_FATAL(raft_configuration_add(
			&conf, nodes[i].id, nodes[i].addr, RAFT_VOTER), 0);
	CU_ASSERT_EQUAL_FATAL(raft_bootstrap(&n->raft, &conf), 0);
	raft_configuration_close(&conf);
	CU_ASSERT_EQUAL_FATAL(raft_start(&n->raft), 0);
	n->running = true;
}

/* Close @n's raft and run the loop until it is closed; raft_uv's memory
 * and the transport's are released by release_node once the loop ran dry. */
static void close_raft(struct node *n)
{
	if (!n->running)
		return;
	n->running = false;
	raft_close(&n->raft, raft_closed_cb);
	CU_ASSERT_TRUE(run_until(node_closed, n));
}

static bool loop_dry(void *arg)
{
	(void)arg;
	return !uv_loop_alive(&loop);
}

static void release_node(struct node *n)
{
	raft_uv_close(&n->io);
	wfs_raft_transport_close(&n->t);
	wfs_net_free(n->net);
	n->net = NULL;
}

static void test_three_nodes(void)
{
	struct node *first, *second;
	struct wfs_net *mallory;
	uint8_t hello[8 + 16] = { 0, 0, 0, 0, 0, 0, 0, 2 };
	unsigned want = ENTRIES;
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_pipe;
	uint64_t link;
	int fd;

	/* libuv writes raft's streams with write(2): a relay whose net end
	 * closed must fail the write, not kill the test (gossip/raftlog.c's
	 * raft thread blocks every signal for the same reason). */
	sigaction(SIGPIPE, &ign, &old_pipe);
	rng = wfs_test_seed() ^ 0x72616674;
	CU_ASSERT_FATAL(sodium_init() >= 0);
	CU_ASSERT_EQUAL_FATAL(uv_loop_init(&loop), 0);
	memset(nodes, 0, sizeof(nodes));
	for (int i = 0; i < NODES; i++) {
		nodes[i].id = (uint64_t)i + 1;
		make_keys(nodes[i].pk, nodes[i].sk);
		start_net(&nodes[i]);
	}
	make_keys(mallory_pk, mallory_sk);
	for (int i = 0; i < NODES; i++)
		start_raft(&nodes[i]);

	/* Elect, then replicate through the leader. */
	CU_ASSERT_FATAL(run_until(has_leader, NULL));
	first = leader();
	for (uint64_t v = 1; v <= ENTRIES; v++)
		propose(first, v);
	CU_ASSERT_FATAL(run_until(all_applied, &want));
	for (int i = 0; i < NODES; i++)
		for (unsigned j = 0; j < ENTRIES; j++)
			CU_ASSERT_EQUAL(nodes[i].values[j], j + 1);

	/* An admitted node claiming raft id 2 without node 2's key: the
	 * transport refuses it (and logs it once). */
	{
		struct wfs_net_config cfg = {
			.pk = mallory_pk,
			.sk = mallory_sk,
			.admit = admit_all,
			.on_close = mallory_close,
		};

		memcpy(hello + 8, "127.0.0.1:1", 11);
		CU_ASSERT_EQUAL_FATAL(wfs_net_new(&cfg, &mallory), 0);
		CU_ASSERT_EQUAL_FATAL(wfs_net_start(mallory), 0);
		CU_ASSERT_EQUAL_FATAL(wfs_net_relay_open(
			mallory, nodes[0].addr, nodes[0].pk, WFS_NET_TYPE_RAFT,
			hello, 8 + 11, NULL, NULL, &fd, &link), 0);
		CU_ASSERT_TRUE(run_until(mallory_refused, NULL));
		close(fd);
		wfs_net_free(mallory);
	}

	/* The leader goes away entirely: the other two elect a new one and
	 * go on. */
	close_raft(first);
	second = NULL;
	CU_ASSERT_FATAL(run_until(has_leader, NULL));
	second = leader();
	CU_ASSERT_PTR_NOT_EQUAL(second, first);
	for (uint64_t v = ENTRIES + 1; v <= 2 * ENTRIES; v++)
		propose(second, v);
	want = 2 * ENTRIES;
	CU_ASSERT_TRUE(run_until(all_applied, &want));
	for (int i = 0; i < NODES; i++) {
		if (!nodes[i].running)
			continue;
		for (unsigned j = 0; j < 2 * ENTRIES; j++)
			CU_ASSERT_EQUAL(nodes[i].values[j], j + 1);
	}

	for (int i = 0; i < NODES; i++)
		close_raft(&nodes[i]);
	CU_ASSERT_TRUE(run_until(loop_dry, NULL));
	for (int i = 0; i < NODES; i++)
		release_node(&nodes[i]);
	CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);
	sigaction(SIGPIPE, &old_pipe, NULL);
}

static CU_TestInfo raft_transport_tests[] = {
	{ "three raft nodes over wfs_net", test_three_nodes },
	CU_TEST_INFO_NULL,
};

WFS_TEST_SUITE("raft_transport", raft_transport_tests, NULL, NULL)
