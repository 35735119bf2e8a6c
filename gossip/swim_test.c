/* Unit tests for swim: a simulated network of cores in one process under a
 * virtual clock (1 ms steps), with loss, delay (hence reordering),
 * partitions, crashed and muted nodes; plus crafted packets for the merge
 * rules and hostile input.  Times printed are virtual milliseconds. */
#include "gossip/swim.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <msgpack/pack.h>

#include "mem/mem.h"
#include "tests/unit.h"

#define SIM_MAX 8
#define NODES 6
#define TRIALS 5

struct sim;

struct node {
	struct sim *sim;
	int idx;
	struct wfs_swim *swim;
	unsigned char id[WFS_SWIM_ID_LEN];
	char addr[WFS_SWIM_ADDR_MAX];
	bool down;			/* crashed: no ticks, hears nothing */
	uint64_t mute_until;		/* its packets are lost until then */
	int side;			/* partition side */
	uint64_t next_tick;
	unsigned dead_events[SIM_MAX];	/* member j reported DEAD */
	unsigned suspect_events[SIM_MAX];
	/* The last push-pull it sent, for replaying old news. */
	unsigned char last_pp[WFS_SWIM_PACKET_MAX];
	size_t last_pp_len;
};

struct pkt {
	int from, to;
	uint64_t at;
	size_t len;
	unsigned char *data;
};

struct sim {
	struct node nodes[SIM_MAX];
	int n;
	uint64_t now;
	uint64_t rng;
	unsigned loss_pct;
	unsigned delay_min, delay_max;
	bool partitioned;
	bool fuzzing;			/* nodes are fed garbage */
	struct pkt *q;
	size_t nq, capq;
	/* Every packet sent, when capturing (for the fuzz test). */
	unsigned char **cap;
	size_t *cap_len;
	size_t ncap, capmax;
};

static uint64_t sim_rand(struct sim *sim)
{
	return wfs_test_rand(&sim->rng);
}

static int node_by_addr(struct sim *sim, const char *addr)
{
	for (int i = 0; i < sim->n; i++)
		if (strcmp(sim->nodes[i].addr, addr) == 0)
			return i;
	return -1;
}

static int node_by_id(struct sim *sim, const unsigned char *id)
{
	for (int i = 0; i < sim->n; i++)
		if (memcmp(sim->nodes[i].id, id, WFS_SWIM_ID_LEN) == 0)
			return i;
	return -1;
}

static bool cut_off(struct sim *sim, int a, int b)
{
	return sim->nodes[a].mute_until > sim->now ||
	       sim->nodes[b].mute_until > sim->now ||
	       (sim->partitioned && sim->nodes[a].side != sim->nodes[b].side);
}

static void capture(struct sim *sim, const void *buf, size_t len)
{
	if (sim->ncap == sim->capmax)
		return;
	sim->cap[sim->ncap] = wfs_memdup(buf, len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(sim->cap[sim->ncap]);
	sim->cap_len[sim->ncap++] = len;
}

static void on_send(void *arg, const unsigned char *to_id, const char *addr,
		    const void *buf, size_t len)
{
	struct node *from = arg;
	struct sim *sim = from->sim;
	int to = node_by_addr(sim, addr);
	struct pkt *p;

	CU_ASSERT(len > 0 && len <= WFS_SWIM_PACKET_MAX);
	if (to >= 0 && to_id && !sim->fuzzing)
		CU_ASSERT(memcmp(to_id, sim->nodes[to].id,
				 WFS_SWIM_ID_LEN) == 0);
	if (((const unsigned char *)buf)[2] == 4) {	/* a push-pull */
		memcpy(from->last_pp, buf, len);
		from->last_pp_len = len;
	}
	if (sim->cap)
		capture(sim, buf, len);
	if (to < 0 || cut_off(sim, from->idx, to) ||
	    sim_rand(sim) % 100 < sim->loss_pct)
		return;
	if (sim->nq == sim->capq) {
		size_t cap = sim->capq ? 2 * sim->capq : 64;
		struct pkt *v = wfs_realloc(sim->q, cap * sizeof(*v));

		CU_ASSERT_PTR_NOT_NULL_FATAL(v);
		sim->q = v;
		sim->capq = cap;
	}
	p = &sim->q[sim->nq++];
	p->from = from->idx;
	p->to = to;
	p->at = sim->now + sim->delay_min +
		sim_rand(sim) % (sim->delay_max - sim->delay_min + 1);
	p->len = len;
	p->data = wfs_memdup(buf, len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p->data);
}

static void on_changed(void *arg, const struct wfs_swim_member *m,
		       enum wfs_swim_state old, enum wfs_swim_state now)
{
	struct node *nd = arg;
	int j = node_by_id(nd->sim, m->id);

	(void)old;
	CU_ASSERT(!m->self);
	if (j < 0)
		return;
	if (now == WFS_SWIM_DEAD)
		nd->dead_events[j]++;
	if (now == WFS_SWIM_SUSPECT)
		nd->suspect_events[j]++;
}

static void node_start(struct sim *sim, int i, uint64_t incarnation,
		       int seed_node)
{
	struct node *nd = &sim->nodes[i];
	char meta[32];
	int n = snprintf(meta, sizeof(meta), "node-%d", i);
	struct wfs_swim_config cfg = {
		.id = nd->id, .addr = nd->addr, .incarnation = incarnation,
		.meta = meta, .meta_len = (size_t)n, .seed = sim_rand(sim),
		.ops = { on_send, on_changed }, .arg = nd,
	};
	const char *seed = seed_node >= 0 ? sim->nodes[seed_node].addr : NULL;

	CU_ASSERT_EQUAL_FATAL(wfs_swim_new(&cfg, sim->now, &nd->swim), 0);
	if (seed)
		CU_ASSERT_EQUAL_FATAL(wfs_swim_join(nd->swim, &seed, 1), 0);
	nd->down = false;
	nd->next_tick = sim->now;
}

/* @n nodes; node 0 founds the cluster, the others join through it. */
static void sim_init(struct sim *sim, int n, uint64_t seed)
{
	memset(sim, 0, sizeof(*sim));
	sim->rng = seed ? seed : 1;
	sim->n = n;
	sim->now = 1000;
	sim->delay_min = 1;
	sim->delay_max = 3;
	for (int i = 0; i < n; i++) {
		struct node *nd = &sim->nodes[i];

		nd->sim = sim;
		nd->idx = i;
		wfs_test_fill(&sim->rng, nd->id, sizeof(nd->id));
		snprintf(nd->addr, sizeof(nd->addr), "10.0.0.%d:7946", i + 1);
		node_start(sim, i, 0, i ? 0 : -1);
	}
}

static void sim_free(struct sim *sim)
{
	for (int i = 0; i < sim->n; i++)
		wfs_swim_free(sim->nodes[i].swim);
	for (size_t i = 0; i < sim->nq; i++)
		wfs_free(sim->q[i].data);
	wfs_free(sim->q);
	for (size_t i = 0; i < sim->ncap; i++)
		wfs_free(sim->cap[i]);
	wfs_free(sim->cap);
	wfs_free(sim->cap_len);
}

static void deliver_due(struct sim *sim)
{
	size_t i = 0;

	while (i < sim->nq) {
		struct pkt p = sim->q[i];
		struct node *to = &sim->nodes[p.to];

		if (p.at > sim->now) {
			i++;
			continue;
		}
		sim->q[i] = sim->q[--sim->nq];
		if (!to->down && !cut_off(sim, p.from, p.to)) {
			wfs_swim_receive(to->swim, sim->now,
					 sim->nodes[p.from].id,
					 sim->nodes[p.from].addr, p.data, p.len);
			to->next_tick = sim->now;
		}
		wfs_free(p.data);
	}
}

static void sim_step(struct sim *sim)
{
	sim->now++;
	deliver_due(sim);
	for (int i = 0; i < sim->n; i++) {
		struct node *nd = &sim->nodes[i];

		if (!nd->down && nd->next_tick <= sim->now)
			nd->next_tick = wfs_swim_tick(nd->swim, sim->now);
	}
}

static void sim_run(struct sim *sim, uint64_t ms)
{
	uint64_t end = sim->now + ms;

	while (sim->now < end)
		sim_step(sim);
}

static enum wfs_swim_state view(struct sim *sim, int i, int j)
{
	struct wfs_swim_member m;

	if (wfs_swim_member(sim->nodes[i].swim, sim->nodes[j].id, &m) < 0)
		return WFS_SWIM_NONE;
	return m.state;
}

/* Every node that is up sees every other node up as ALIVE and every node
 * down as @down_state. */
static bool converged(struct sim *sim, enum wfs_swim_state down_state)
{
	for (int i = 0; i < sim->n; i++) {
		if (sim->nodes[i].down)
			continue;
		for (int j = 0; j < sim->n; j++) {
			enum wfs_swim_state want = sim->nodes[j].down
				? down_state : WFS_SWIM_ALIVE;

			if (j != i && view(sim, i, j) != want)
				return false;
		}
	}
	return true;
}

/* Run until converged(@down_state) or @limit ms; returns the time it took,
 * or UINT64_MAX. */
static uint64_t run_until_converged(struct sim *sim,
				    enum wfs_swim_state down_state,
				    uint64_t limit)
{
	uint64_t start = sim->now;

	while (sim->now - start <= limit) {
		if (converged(sim, down_state))
			return sim->now - start;
		sim_step(sim);
	}
	return UINT64_MAX;
}

/* Whether every node up but @j sees @j as @state. */
static bool seen_by_all(struct sim *sim, int j, enum wfs_swim_state state)
{
	for (int i = 0; i < sim->n; i++)
		if (i != j && !sim->nodes[i].down && view(sim, i, j) != state)
			return false;
	return true;
}

/* Crash @victim and return how long until every other node sees it DEAD
 * (UINT64_MAX if not within 10 s). */
static uint64_t kill_and_detect(struct sim *sim, int victim)
{
	uint64_t start = sim->now;

	sim->nodes[victim].down = true;
	while (sim->now - start <= 10000) {
		if (seen_by_all(sim, victim, WFS_SWIM_DEAD))
			return sim->now - start;
		sim_step(sim);
	}
	return UINT64_MAX;
}

static void test_join_converges(void)
{
	struct sim sim;
	uint64_t t;
	struct wfs_swim_member m;

	sim_init(&sim, NODES, wfs_test_seed());
	t = run_until_converged(&sim, WFS_SWIM_DEAD, 5000);
	printf("\n    6 nodes converged after %llu ms ",
	       (unsigned long long)t);
	CU_ASSERT(t < 5000);
	/* Everyone has everyone's meta. */
	for (int i = 0; i < NODES; i++)
		for (int j = 0; j < NODES; j++) {
			char want[32];
			int n = snprintf(want, sizeof(want), "node-%d", j);

			CU_ASSERT_EQUAL_FATAL(wfs_swim_member(sim.nodes[i].swim,
						sim.nodes[j].id, &m), 0);
			CU_ASSERT_EQUAL(m.self, i == j);
			CU_ASSERT_EQUAL(m.meta_len, (size_t)n);
			CU_ASSERT(memcmp(m.meta, want, n) == 0);
			CU_ASSERT_STRING_EQUAL(m.addr, sim.nodes[j].addr);
		}
	sim_free(&sim);
}

/* No node but @victim was ever declared dead by anyone. */
static bool no_false_deaths(struct sim *sim, int victim)
{
	for (int i = 0; i < sim->n; i++)
		for (int j = 0; j < sim->n; j++)
			if (j != victim && sim->nodes[i].dead_events[j])
				return false;
	return true;
}

static void death_trials(unsigned loss_pct, unsigned delay_max,
			 const char *what)
{
	uint64_t worst = 0, sum = 0;

	for (int trial = 0; trial < TRIALS; trial++) {
		struct sim sim;
		int victim = 1 + trial % (NODES - 1);
		uint64_t t;

		sim_init(&sim, NODES, wfs_test_seed() * 31 + trial);
		sim.loss_pct = loss_pct;
		sim.delay_max = delay_max;
		CU_ASSERT(run_until_converged(&sim, WFS_SWIM_DEAD, 10000) <
			  10000);
		sim_run(&sim, 3000);	/* settle: all probe orders busy */
		t = kill_and_detect(&sim, victim);
		CU_ASSERT(t < 3000);
		worst = t > worst ? t : worst;
		sum += t;
		if (!loss_pct)
			CU_ASSERT(no_false_deaths(&sim, victim));
		/* Whatever loss did meanwhile, the survivors end up alive. */
		CU_ASSERT(run_until_converged(&sim, WFS_SWIM_DEAD, 10000) <
			  10000);
		sim_free(&sim);
	}
	printf("\n    %s: death seen by all after mean %llu, max %llu ms ",
	       what, (unsigned long long)(sum / TRIALS),
	       (unsigned long long)worst);
}

static void test_death_detected(void)
{
	death_trials(0, 3, "no loss");
}

static void test_loss_and_reorder(void)
{
	/* 20% of packets lost, delays of 1-30 ms so they overtake each
	 * other. */
	death_trials(20, 30, "20% loss, reordering");
}

static void test_false_suspicion_refuted(void)
{
	struct sim sim;
	struct wfs_swim_member before, after;
	unsigned suspects = 0;

	sim_init(&sim, NODES, wfs_test_seed() + 7);
	CU_ASSERT_FATAL(run_until_converged(&sim, WFS_SWIM_DEAD, 5000) < 5000);
	sim_run(&sim, 2000);
	CU_ASSERT_EQUAL(wfs_swim_member(sim.nodes[2].swim, sim.nodes[2].id,
					&before), 0);
	/* Lose its packets until someone suspects it, and a little more. */
	sim.nodes[2].mute_until = UINT64_MAX;
	for (int t = 0; !suspects && t < 5000; t++) {
		sim_step(&sim);
		for (int i = 0; i < NODES; i++)
			suspects += sim.nodes[i].suspect_events[2];
	}
	CU_ASSERT_FATAL(suspects > 0);
	sim.nodes[2].mute_until = sim.now + 200;
	sim_run(&sim, 5000);
	/* Nobody declared it dead.  (It may have declared others dead while
	 * cut off, which is right from where it stood, and they refute.) */
	for (int i = 0; i < NODES; i++)
		CU_ASSERT_EQUAL(sim.nodes[i].dead_events[2], 0);
	CU_ASSERT(converged(&sim, WFS_SWIM_DEAD));
	CU_ASSERT_EQUAL(wfs_swim_member(sim.nodes[2].swim, sim.nodes[2].id,
					&after), 0);
	CU_ASSERT(after.incarnation > before.incarnation);
	sim_free(&sim);
}

static void test_leave_spreads(void)
{
	struct sim sim;
	uint64_t t = 0;
	bool all_left = false;

	sim_init(&sim, NODES, wfs_test_seed() + 11);
	CU_ASSERT_FATAL(run_until_converged(&sim, WFS_SWIM_DEAD, 5000) < 5000);
	wfs_swim_leave(sim.nodes[3].swim);
	while (!wfs_swim_leave_done(sim.nodes[3].swim) && t++ < 3000)
		sim_step(&sim);
	CU_ASSERT(wfs_swim_leave_done(sim.nodes[3].swim));
	sim.nodes[3].down = true;
	sim_run(&sim, 500);
	all_left = converged(&sim, WFS_SWIM_LEFT);
	CU_ASSERT(all_left);
	CU_ASSERT(no_false_deaths(&sim, -1));
	/* The tombstone goes after tombstone_ms (30 s), and stays gone. */
	sim_run(&sim, 31000);
	CU_ASSERT(converged(&sim, WFS_SWIM_NONE));
	sim_free(&sim);
}

static void test_meta_spreads(void)
{
	struct sim sim;
	struct wfs_swim_member self, m;

	sim_init(&sim, NODES, wfs_test_seed() + 13);
	CU_ASSERT_FATAL(run_until_converged(&sim, WFS_SWIM_DEAD, 5000) < 5000);
	CU_ASSERT_EQUAL(wfs_swim_set_meta(sim.nodes[1].swim, "disk0 free=1",
					  12), 0);
	sim_run(&sim, 50);
	CU_ASSERT_EQUAL(wfs_swim_set_meta(sim.nodes[1].swim, "disk0 free=2",
					  12), 0);
	CU_ASSERT_EQUAL(wfs_swim_set_meta(sim.nodes[1].swim, NULL,
					  WFS_SWIM_META_MAX + 1), -EINVAL);
	sim_run(&sim, 1000);
	CU_ASSERT_EQUAL(wfs_swim_member(sim.nodes[1].swim, sim.nodes[1].id,
					&self), 0);
	for (int i = 0; i < NODES; i++) {
		CU_ASSERT_EQUAL(wfs_swim_member(sim.nodes[i].swim,
						sim.nodes[1].id, &m), 0);
		CU_ASSERT_EQUAL(m.meta_len, 12);
		CU_ASSERT(memcmp(m.meta, "disk0 free=2", 12) == 0);
		CU_ASSERT_EQUAL(m.meta_version, self.incarnation);
	}
	CU_ASSERT(converged(&sim, WFS_SWIM_DEAD));
	sim_free(&sim);
}

static void test_partition_heals(void)
{
	struct sim sim;
	uint64_t t;

	sim_init(&sim, NODES, wfs_test_seed() + 17);
	CU_ASSERT_FATAL(run_until_converged(&sim, WFS_SWIM_DEAD, 5000) < 5000);
	for (int i = 0; i < NODES; i++)
		sim.nodes[i].side = i < NODES / 2;
	sim.partitioned = true;
	sim_run(&sim, 5000);
	/* Each side holds the other dead. */
	for (int i = 0; i < NODES; i++)
		for (int j = 0; j < NODES; j++)
			CU_ASSERT_EQUAL(view(&sim, i, j),
					i == j ? WFS_SWIM_ALIVE
					: sim.nodes[i].side == sim.nodes[j].side
					? WFS_SWIM_ALIVE : WFS_SWIM_DEAD);
	sim.partitioned = false;
	t = run_until_converged(&sim, WFS_SWIM_DEAD, 20000);
	printf("\n    partition 3/3 healed after %llu ms ",
	       (unsigned long long)t);
	CU_ASSERT(t < 20000);
	sim_free(&sim);
}

static void test_restart_comes_back(void)
{
	struct sim sim;
	struct wfs_swim_member dead, back;
	unsigned char old[WFS_SWIM_PACKET_MAX];
	size_t old_len;
	uint64_t t;

	sim_init(&sim, NODES, wfs_test_seed() + 19);
	CU_ASSERT_FATAL(run_until_converged(&sim, WFS_SWIM_DEAD, 5000) < 5000);
	sim_run(&sim, 3000);
	CU_ASSERT_FATAL(sim.nodes[4].last_pp_len > 0);
	old_len = sim.nodes[4].last_pp_len;
	memcpy(old, sim.nodes[4].last_pp, old_len);
	CU_ASSERT_FATAL(kill_and_detect(&sim, 4) < 3000);
	/* Old news (its last push-pull, saying it is alive) changes nothing:
	 * the tombstone outranks it. */
	CU_ASSERT_EQUAL(wfs_swim_receive(sim.nodes[0].swim, sim.now,
					 sim.nodes[4].id, sim.nodes[4].addr,
					 old, old_len), 0);
	CU_ASSERT_EQUAL(view(&sim, 0, 4), WFS_SWIM_DEAD);
	CU_ASSERT_EQUAL(wfs_swim_member(sim.nodes[0].swim, sim.nodes[4].id,
					&dead), 0);
	/* Restarted from incarnation 1, it learns of its death and comes
	 * back above it. */
	wfs_swim_free(sim.nodes[4].swim);
	node_start(&sim, 4, 0, 0);
	t = run_until_converged(&sim, WFS_SWIM_DEAD, 5000);
	printf("\n    restarted node back after %llu ms ",
	       (unsigned long long)t);
	CU_ASSERT(t < 5000);
	CU_ASSERT_EQUAL(wfs_swim_member(sim.nodes[0].swim, sim.nodes[4].id,
					&back), 0);
	CU_ASSERT(back.incarnation > dead.incarnation);
	sim_free(&sim);
}

/* ---- crafted packets (the wire form of swim.c, written independently) */

struct cbuf {
	unsigned char data[4096];
	size_t len;
};

static int cput(void *data, const char *buf, size_t len)
{
	struct cbuf *b = data;

	if (len > sizeof(b->data) - b->len)
		return -1;
	if (len)
		memcpy(b->data + b->len, buf, len);
	b->len += len;
	return 0;
}

struct centry {
	const unsigned char *id;
	uint64_t inc;
	unsigned state;
	const char *addr;
	const char *meta;
};

static void pack_centry(msgpack_packer *pk, const struct centry *e)
{
	size_t ml = e->meta ? strlen(e->meta) : 0;

	msgpack_pack_array(pk, 5);
	msgpack_pack_bin(pk, WFS_SWIM_ID_LEN);
	msgpack_pack_bin_body(pk, e->id, WFS_SWIM_ID_LEN);
	msgpack_pack_uint64(pk, e->inc);
	msgpack_pack_uint32(pk, e->state);
	msgpack_pack_bin(pk, strlen(e->addr));
	msgpack_pack_bin_body(pk, e->addr, strlen(e->addr));
	msgpack_pack_bin(pk, ml);
	msgpack_pack_bin_body(pk, e->meta, ml);
}

/* A gossip packet (type 5) or push-pull push (type 4) with @n entries. */
static void craft(struct cbuf *b, unsigned type, const struct centry *e,
		  size_t n)
{
	msgpack_packer pk;

	b->len = 0;
	msgpack_packer_init(&pk, b, cput);
	msgpack_pack_array(&pk, type == 4 ? 4 : 3);
	msgpack_pack_uint32(&pk, 1);
	msgpack_pack_uint32(&pk, type);
	if (type == 4)
		msgpack_pack_uint32(&pk, 1);	/* a reply: no answer */
	msgpack_pack_array(&pk, n);
	for (size_t i = 0; i < n; i++)
		pack_centry(&pk, &e[i]);
}

struct lone {
	struct wfs_swim *swim;
	unsigned sent;
	unsigned changes;
	enum wfs_swim_state last_old, last_new;
};

static void lone_send(void *arg, const unsigned char *to_id, const char *addr,
		      const void *buf, size_t len)
{
	struct lone *l = arg;

	(void)to_id;
	(void)addr;
	(void)buf;
	(void)len;
	l->sent++;
}

static void lone_changed(void *arg, const struct wfs_swim_member *m,
			 enum wfs_swim_state old, enum wfs_swim_state now)
{
	struct lone *l = arg;

	(void)m;
	l->changes++;
	l->last_old = old;
	l->last_new = now;
}

static const unsigned char lone_id[WFS_SWIM_ID_LEN] = { 0xaa, 0x01 };
static const unsigned char peer_id[WFS_SWIM_ID_LEN] = { 0xbb, 0x02 };
static const unsigned char other_id[WFS_SWIM_ID_LEN] = { 0xcc, 0x03 };

static void lone_init(struct lone *l)
{
	struct wfs_swim_config cfg = {
		.id = lone_id, .addr = "10.0.0.1:1", .seed = 5,
		.ops = { lone_send, lone_changed }, .arg = l,
	};

	memset(l, 0, sizeof(*l));
	CU_ASSERT_EQUAL_FATAL(wfs_swim_new(&cfg, 0, &l->swim), 0);
}

/* Feed one crafted entry about other_id; return its state afterwards. */
static enum wfs_swim_state feed(struct lone *l, unsigned type, uint64_t inc,
				unsigned state, const char *meta)
{
	struct centry e = { other_id, inc, state, "10.0.0.3:3", meta };
	struct wfs_swim_member m;
	struct cbuf b;

	craft(&b, type, &e, 1);
	CU_ASSERT_EQUAL(wfs_swim_receive(l->swim, 10, peer_id, "10.0.0.2:2",
					 b.data, b.len), 0);
	if (wfs_swim_member(l->swim, other_id, &m) < 0)
		return WFS_SWIM_NONE;
	return m.state;
}

static void test_precedence(void)
{
	struct lone l;
	struct wfs_swim_member m;

	lone_init(&l);
	/* No tombstones for strangers. */
	CU_ASSERT_EQUAL(feed(&l, 5, 5, WFS_SWIM_DEAD, NULL), WFS_SWIM_NONE);
	CU_ASSERT_EQUAL(l.changes, 0);
	CU_ASSERT_EQUAL(feed(&l, 5, 5, WFS_SWIM_ALIVE, "m5"), WFS_SWIM_ALIVE);
	CU_ASSERT_EQUAL(l.last_old, WFS_SWIM_NONE);
	CU_ASSERT_EQUAL(feed(&l, 5, 4, WFS_SWIM_SUSPECT, NULL), WFS_SWIM_ALIVE);
	CU_ASSERT_EQUAL(feed(&l, 5, 5, WFS_SWIM_SUSPECT, NULL),
			WFS_SWIM_SUSPECT);
	CU_ASSERT_EQUAL(feed(&l, 5, 5, WFS_SWIM_ALIVE, "m5"),
			WFS_SWIM_SUSPECT);
	CU_ASSERT_EQUAL(feed(&l, 5, 6, WFS_SWIM_ALIVE, "m6"), WFS_SWIM_ALIVE);
	CU_ASSERT_EQUAL(wfs_swim_member(l.swim, other_id, &m), 0);
	CU_ASSERT_EQUAL(m.meta_version, 6);
	CU_ASSERT(m.meta_len == 2 && memcmp(m.meta, "m6", 2) == 0);
	/* A table's DEAD about a live member is only a suspicion here. */
	CU_ASSERT_EQUAL(feed(&l, 4, 6, WFS_SWIM_DEAD, NULL), WFS_SWIM_SUSPECT);
	CU_ASSERT_EQUAL(feed(&l, 5, 6, WFS_SWIM_DEAD, NULL), WFS_SWIM_DEAD);
	CU_ASSERT_EQUAL(feed(&l, 5, 6, WFS_SWIM_ALIVE, "m6"), WFS_SWIM_DEAD);
	CU_ASSERT_EQUAL(feed(&l, 5, 6, WFS_SWIM_LEFT, NULL), WFS_SWIM_LEFT);
	CU_ASSERT_EQUAL(feed(&l, 5, 6, WFS_SWIM_DEAD, NULL), WFS_SWIM_LEFT);
	/* Restarted above its tombstone: back, with its new meta. */
	CU_ASSERT_EQUAL(feed(&l, 5, 7, WFS_SWIM_ALIVE, "m7"), WFS_SWIM_ALIVE);
	CU_ASSERT_EQUAL(l.last_old, WFS_SWIM_LEFT);
	CU_ASSERT_EQUAL(wfs_swim_member(l.swim, other_id, &m), 0);
	CU_ASSERT(m.meta_len == 2 && memcmp(m.meta, "m7", 2) == 0);
	CU_ASSERT_STRING_EQUAL(m.addr, "10.0.0.3:3");
	wfs_swim_free(l.swim);
}

static void test_refutes_itself(void)
{
	struct lone l;
	struct wfs_swim_member me;
	struct wfs_swim_stats st;
	struct centry e = { lone_id, 1, WFS_SWIM_SUSPECT, "10.0.0.1:1", NULL };
	struct cbuf b;

	lone_init(&l);
	craft(&b, 5, &e, 1);
	CU_ASSERT_EQUAL(wfs_swim_receive(l.swim, 10, peer_id, "10.0.0.2:2",
					 b.data, b.len), 0);
	CU_ASSERT_EQUAL(wfs_swim_member(l.swim, lone_id, &me), 0);
	CU_ASSERT_EQUAL(me.incarnation, 2);
	CU_ASSERT_EQUAL(me.state, WFS_SWIM_ALIVE);
	CU_ASSERT(me.self);
	/* Its old incarnation declared dead, or alive with a later one from a
	 * previous life: it goes above either. */
	e.inc = 9;
	e.state = WFS_SWIM_ALIVE;
	craft(&b, 5, &e, 1);
	wfs_swim_receive(l.swim, 10, peer_id, "10.0.0.2:2", b.data, b.len);
	CU_ASSERT_EQUAL(wfs_swim_member(l.swim, lone_id, &me), 0);
	CU_ASSERT_EQUAL(me.incarnation, 10);
	/* Stale news is ignored. */
	e.inc = 3;
	e.state = WFS_SWIM_DEAD;
	craft(&b, 5, &e, 1);
	wfs_swim_receive(l.swim, 10, peer_id, "10.0.0.2:2", b.data, b.len);
	CU_ASSERT_EQUAL(wfs_swim_member(l.swim, lone_id, &me), 0);
	CU_ASSERT_EQUAL(me.incarnation, 10);
	wfs_swim_stats(l.swim, &st);
	CU_ASSERT_EQUAL(st.refutations, 2);
	CU_ASSERT_EQUAL(l.changes, 0);	/* never called about itself */
	wfs_swim_free(l.swim);
}

/* Bytes that break one rule each; every one must be refused. */
static void test_hostile_packets(void)
{
	static const struct {
		const char *what;
		unsigned char bytes[16];
		size_t len;
	} bad[] = {
		{ "empty", { 0 }, 0 },
		{ "array32 of 2^32-1", { 0xdd, 0xff, 0xff, 0xff, 0xff }, 5 },
		{ "array16 of 65535", { 0xdc, 0xff, 0xff }, 3 },
		{ "version 2", { 0x93, 0x02, 0x05, 0x90 }, 4 },
		{ "type 0", { 0x93, 0x01, 0x00, 0x90 }, 4 },
		{ "type 6", { 0x93, 0x01, 0x06, 0x90 }, 4 },
		{ "wrong count", { 0x94, 0x01, 0x05, 0x90, 0x90 }, 5 },
		{ "trailing byte", { 0x93, 0x01, 0x05, 0x90, 0x00 }, 5 },
		{ "truncated", { 0x93, 0x01, 0x05 }, 3 },
		{ "str not uint", { 0x93, 0xa1, 0x01, 0x05, 0x90 }, 5 },
		{ "negative int", { 0x93, 0xff, 0x05, 0x90 }, 4 },
		{ "map", { 0x83, 0x01, 0x05, 0x90 }, 4 },
		{ "news not array", { 0x93, 0x01, 0x05, 0xc0 }, 4 },
		{ "bin32 huge", { 0x95, 0x01, 0x01, 0x07, 0xc6, 0xff, 0xff,
				  0xff, 0xff }, 9 },
		{ "ping target short", { 0x95, 0x01, 0x01, 0x07, 0xc4, 0x01,
					 0xaa, 0x90 }, 8 },
		{ "uint64 seq", { 0x94, 0x01, 0x02, 0xcf, 0, 0, 0, 1, 0, 0, 0,
				  0, 0x90 }, 13 },
	};
	struct lone l;
	struct wfs_swim_stats st;
	struct cbuf b;
	struct centry e = { other_id, 1, WFS_SWIM_ALIVE, "10.0.0.3:3", "x" };

	lone_init(&l);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = wfs_swim_receive(l.swim, 1, peer_id, "10.0.0.2:2",
					  bad[i].bytes, bad[i].len);

		if (rc != -EPROTO)
			printf("\n    accepted: %s ", bad[i].what);
		CU_ASSERT_EQUAL(rc, -EPROTO);
	}
	/* Entry rules: inc 0, state 0 and 5, meta on a non-alive entry, an
	 * empty address, one with a NUL, and one too long. */
	e.inc = 0;
	craft(&b, 5, &e, 1);
	CU_ASSERT_EQUAL(wfs_swim_receive(l.swim, 1, peer_id, "a:1", b.data,
					 b.len), -EPROTO);
	e.inc = 1;
	for (unsigned s = 0; s <= 5; s += 5) {
		e.state = s;
		craft(&b, 5, &e, 1);
		CU_ASSERT_EQUAL(wfs_swim_receive(l.swim, 1, peer_id, "a:1",
						 b.data, b.len), -EPROTO);
	}
	e.state = WFS_SWIM_DEAD;
	craft(&b, 5, &e, 1);
	CU_ASSERT_EQUAL(wfs_swim_receive(l.swim, 1, peer_id, "a:1", b.data,
					 b.len), -EPROTO);
	e.state = WFS_SWIM_ALIVE;
	e.addr = "";
	craft(&b, 5, &e, 1);
	CU_ASSERT_EQUAL(wfs_swim_receive(l.swim, 1, peer_id, "a:1", b.data,
					 b.len), -EPROTO);
	e.addr = "0123456789012345678901234567890123456789012345678901234567"
		 "89:1234";
	craft(&b, 5, &e, 1);
	CU_ASSERT_EQUAL(wfs_swim_receive(l.swim, 1, peer_id, "a:1", b.data,
					 b.len), -EPROTO);
	e.addr = "10.0.0.3:3";
	craft(&b, 5, &e, 1);
	b.data[b.len - 6] = '\0';	/* inside the address */
	CU_ASSERT_EQUAL(wfs_swim_receive(l.swim, 1, peer_id, "a:1", b.data,
					 b.len), -EPROTO);
	/* The untouched packet passes, so the ones above failed for their
	 * own reason. */
	craft(&b, 5, &e, 1);
	CU_ASSERT_EQUAL(wfs_swim_receive(l.swim, 1, peer_id, "a:1", b.data,
					 b.len), 0);
	wfs_swim_stats(l.swim, &st);
	CU_ASSERT_EQUAL(st.rx_malformed, sizeof(bad) / sizeof(bad[0]) + 7);
	CU_ASSERT_EQUAL(l.changes, 1);	/* only the valid one applied */
	wfs_swim_free(l.swim);
}

static void test_misaddressed_ping(void)
{
	struct lone l;
	unsigned char ping[64] = { 0x95, 0x01, 0x01, 0x07, 0xc4, 0x20 };

	lone_init(&l);
	memcpy(ping + 6, other_id, WFS_SWIM_ID_LEN);
	ping[38] = 0x90;
	CU_ASSERT_EQUAL(wfs_swim_receive(l.swim, 1, peer_id, "a:1", ping, 39),
			-EXDEV);
	CU_ASSERT_EQUAL(l.sent, 0);
	memcpy(ping + 6, lone_id, WFS_SWIM_ID_LEN);
	CU_ASSERT_EQUAL(wfs_swim_receive(l.swim, 1, peer_id, "a:1", ping, 39),
			0);
	CU_ASSERT_EQUAL(l.sent, 1);	/* the ack */
	wfs_swim_free(l.swim);
}

/* Random bytes, and real packets cut, flipped and extended, into a live
 * cluster: nothing crashes (ASan watches), random bytes are refused, and
 * the cluster stays whole. */
static void test_random_packets(void)
{
	struct sim sim;
	uint64_t rng = wfs_test_seed() | 1;
	unsigned char buf[2048];
	struct wfs_swim_stats before, after;
	unsigned refused = 0;

	sim_init(&sim, NODES, wfs_test_seed() + 23);
	sim.capmax = 400;
	sim.cap = wfs_calloc(sim.capmax, sizeof(*sim.cap));
	sim.cap_len = wfs_calloc(sim.capmax, sizeof(*sim.cap_len));
	CU_ASSERT_FATAL(sim.cap && sim.cap_len);
	CU_ASSERT_FATAL(run_until_converged(&sim, WFS_SWIM_DEAD, 5000) < 5000);
	sim.fuzzing = true;
	wfs_swim_stats(sim.nodes[0].swim, &before);
	for (int i = 0; i < 20000; i++) {
		size_t len = wfs_test_rand(&rng) % sizeof(buf);

		wfs_test_fill(&rng, buf, len);
		if (i & 1)	/* look like a packet for longer */
			memcpy(buf, "\x93\x01\x05", len < 3 ? len : 3);
		refused += wfs_swim_receive(sim.nodes[0].swim, sim.now,
					    sim.nodes[1].id, sim.nodes[1].addr,
					    buf, len) == -EPROTO;
	}
	wfs_swim_stats(sim.nodes[0].swim, &after);
	CU_ASSERT_EQUAL(after.rx_malformed - before.rx_malformed, refused);
	CU_ASSERT(refused > 19900);
	for (size_t i = 0; i < sim.ncap; i++) {
		for (int k = 0; k < 8; k++) {
			size_t len = sim.cap_len[i];

			memcpy(buf, sim.cap[i], len);
			if (k & 1)
				buf[wfs_test_rand(&rng) % len] ^=
					1u << (wfs_test_rand(&rng) % 8);
			if (k & 2)
				len = wfs_test_rand(&rng) % len;
			if (k & 4 && len < sizeof(buf))
				buf[len++] = (unsigned char)wfs_test_rand(&rng);
			wfs_swim_receive(sim.nodes[0].swim, sim.now,
					 sim.nodes[1].id, sim.nodes[1].addr,
					 buf, len);
		}
	}
	sim.capmax = sim.ncap;	/* stop capturing */
	sim_run(&sim, 100);
	sim_free(&sim);
}

static void test_oom(void)
{
	struct lone l;
	struct wfs_swim_stats st;
	struct centry e = { other_id, 1, WFS_SWIM_ALIVE, "10.0.0.3:3", "x" };
	const char *seed = "10.0.0.9:9";
	struct wfs_swim_member *v, m;
	size_t n;
	struct cbuf b;
	int rc = -ENOMEM;

	for (long k = 0; rc == -ENOMEM && k < 10; k++) {
		struct wfs_swim_config cfg = {
			.id = lone_id, .addr = "10.0.0.1:1",
			.ops = { lone_send, lone_changed }, .arg = &l,
		};

		memset(&l, 0, sizeof(l));
		wfs_mem_fail_after(k);
		rc = wfs_swim_new(&cfg, 0, &l.swim);
		if (rc == 0)
			rc = wfs_swim_join(l.swim, &seed, 1);
		if (rc == 0)
			rc = wfs_swim_members(l.swim, &v, &n);
		wfs_mem_fail_after(-1);
		if (rc == 0)
			wfs_free(v);
		else if (l.swim)
			wfs_swim_free(l.swim);
		CU_ASSERT(rc == 0 || rc == -ENOMEM);
	}
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	/* News of a new member that cannot be stored is dropped, counted. */
	craft(&b, 5, &e, 1);
	wfs_mem_fail_after(0);
	CU_ASSERT_EQUAL(wfs_swim_receive(l.swim, 1, peer_id, "a:1", b.data,
					 b.len), 0);
	wfs_mem_fail_after(-1);
	wfs_swim_stats(l.swim, &st);
	CU_ASSERT_EQUAL(st.dropped_news, 1);
	CU_ASSERT_EQUAL(wfs_swim_member(l.swim, other_id, &m), -ENOENT);
	/* The news comes again (gossip retransmits): now it sticks. */
	CU_ASSERT_EQUAL(wfs_swim_receive(l.swim, 1, peer_id, "a:1", b.data,
					 b.len), 0);
	CU_ASSERT_EQUAL(l.changes, 1);
	wfs_swim_free(l.swim);
}

static void test_bad_config(void)
{
	struct wfs_swim *s = NULL;
	struct wfs_swim_config cfg = {
		.id = lone_id, .addr = "10.0.0.1:1",
		.ops = { lone_send, NULL },
	};
	const char *empty = "";

	cfg.params.probe_timeout_ms = 300;	/* >= period */
	CU_ASSERT_EQUAL(wfs_swim_new(&cfg, 0, &s), -EINVAL);
	cfg.params.probe_timeout_ms = 0;
	cfg.params.gossip_fanout = 9;
	CU_ASSERT_EQUAL(wfs_swim_new(&cfg, 0, &s), -EINVAL);
	cfg.params.gossip_fanout = 0;
	cfg.addr = "";
	CU_ASSERT_EQUAL(wfs_swim_new(&cfg, 0, &s), -EINVAL);
	cfg.addr = "10.0.0.1:1";
	cfg.meta_len = WFS_SWIM_META_MAX + 1;
	cfg.meta = "x";
	CU_ASSERT_EQUAL(wfs_swim_new(&cfg, 0, &s), -EINVAL);
	cfg.meta_len = 0;
	cfg.ops.send = NULL;
	CU_ASSERT_EQUAL(wfs_swim_new(&cfg, 0, &s), -EINVAL);
	cfg.ops.send = lone_send;
	CU_ASSERT_EQUAL_FATAL(wfs_swim_new(&cfg, 0, &s), 0);
	CU_ASSERT_EQUAL(wfs_swim_join(s, &empty, 1), -EINVAL);
	wfs_swim_free(s);
	wfs_swim_free(NULL);
}

static CU_TestInfo swim_tests[] = {
	{ "join of 6 converges", test_join_converges },
	{ "death seen by all within 3 s", test_death_detected },
	{ "20% loss and reordering", test_loss_and_reorder },
	{ "false suspicion refuted", test_false_suspicion_refuted },
	{ "leave spreads, tombstone expires", test_leave_spreads },
	{ "meta changes spread", test_meta_spreads },
	{ "partition 3/3 heals", test_partition_heals },
	{ "restart comes back, old news does not", test_restart_comes_back },
	{ "merge precedence", test_precedence },
	{ "refutes news about itself", test_refutes_itself },
	{ "hostile packets refused", test_hostile_packets },
	{ "misaddressed ping", test_misaddressed_ping },
	{ "random and mutated packets", test_random_packets },
	{ "out of memory", test_oom },
	{ "bad config", test_bad_config },
	CU_TEST_INFO_NULL,
};
WFS_TEST_SUITE("swim", swim_tests, NULL, NULL)
