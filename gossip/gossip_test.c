/* Unit tests for gossip: runners on 127.0.0.1 ephemeral ports in one
 * process.  They converge, find a stopped one dead (the time is printed,
 * asserted only against a generous bound), spread meta and leave; a key
 * the others do not admit is never accepted; and a fake node speaking the
 * envelope of gossip.c (written here independently, with crypto_box_easy)
 * checks tampering, replay, reflection, refused keys and hellos. */
#include "gossip/gossip.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "mem/mem.h"
#include "tests/unit.h"

#define MAXR 6
#define WAIT_MS 10000		/* generous bound for anything to happen */

struct cluster;

struct runner {
	struct cluster *c;
	int idx;
	struct wfs_gossip *g;
	unsigned dead_seen[MAXR];	/* changes to DEAD, by member */
	unsigned joins;
};

struct cluster {
	int n;
	unsigned char pk[MAXR][WFS_GOSSIP_PK_LEN];
	unsigned char sk[MAXR][WFS_GOSSIP_SK_LEN];
	bool admitted[MAXR];		/* fixed before any runner starts */
	/* One more admitted key, not a runner (the fake node). */
	unsigned char extra[WFS_GOSSIP_PK_LEN];
	bool has_extra;
	struct runner r[MAXR];
	pthread_mutex_t lock;		/* protects r[].dead_seen, joins */
};

static uint64_t mono_ms(void)
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
	struct cluster *c = arg;

	for (int i = 0; i < c->n; i++)
		if (c->admitted[i] && !memcmp(pk, c->pk[i], WFS_GOSSIP_PK_LEN))
			return true;
	return c->has_extra && !memcmp(pk, c->extra, WFS_GOSSIP_PK_LEN);
}

static bool admit_runner(void *arg, const unsigned char *pk)
{
	struct runner *r = arg;

	return admit(r->c, pk);
}

static void changed(void *arg, const struct wfs_swim_member *m,
		    enum wfs_swim_state old, enum wfs_swim_state now)
{
	struct runner *r = arg;
	struct cluster *c = r->c;

	pthread_mutex_lock(&c->lock);
	for (int j = 0; j < c->n; j++)
		if (!memcmp(m->id, c->pk[j], WFS_GOSSIP_PK_LEN) &&
		    now == WFS_SWIM_DEAD)
			r->dead_seen[j]++;
	if (old == WFS_SWIM_NONE)
		r->joins++;
	pthread_mutex_unlock(&c->lock);
}

static void make_key(unsigned char *pk, unsigned char *sk, uint64_t *rng)
{
	unsigned char seed[crypto_sign_SEEDBYTES];

	wfs_test_fill(rng, seed, sizeof(seed));
	crypto_sign_seed_keypair(pk, sk, seed);
}

static void cluster_init(struct cluster *c, int n, uint64_t seed)
{
	uint64_t rng = seed | 1;

	memset(c, 0, sizeof(*c));
	CU_ASSERT_FATAL(sodium_init() >= 0);
	c->n = n;
	pthread_mutex_init(&c->lock, NULL);
	for (int i = 0; i < n; i++) {
		make_key(c->pk[i], c->sk[i], &rng);
		c->admitted[i] = true;
		c->r[i].c = c;
		c->r[i].idx = i;
	}
}

/* Make and start runner @i on 127.0.0.1:0, joining through @seed (-1:
 * none). */
static void runner_start(struct cluster *c, int i, int seed)
{
	char meta[16];
	const char *seeds[1];
	struct wfs_gossip_config cfg = {
		.bind = "127.0.0.1:0", .pk = c->pk[i], .sk = c->sk[i],
		.meta = meta, .meta_len = (size_t)snprintf(meta, sizeof(meta),
							   "r%d", i),
		.admit = admit_runner, .changed = changed, .arg = &c->r[i],
	};

	if (seed >= 0) {
		seeds[0] = wfs_gossip_addr(c->r[seed].g);
		cfg.seeds = seeds;
		cfg.nseeds = 1;
	}
	CU_ASSERT_EQUAL_FATAL(wfs_gossip_new(&cfg, &c->r[i].g), 0);
	CU_ASSERT_EQUAL_FATAL(wfs_gossip_start(c->r[i].g), 0);
}

static void cluster_free(struct cluster *c)
{
	for (int i = 0; i < c->n; i++)
		wfs_gossip_free(c->r[i].g);
	pthread_mutex_destroy(&c->lock);
}

/* Runner @i's view of node @j. */
static enum wfs_swim_state view(struct cluster *c, int i, int j)
{
	struct wfs_swim_member *v;
	enum wfs_swim_state st = WFS_SWIM_NONE;
	size_t n;

	if (wfs_gossip_members(c->r[i].g, &v, &n) < 0)
		return WFS_SWIM_NONE;
	for (size_t k = 0; k < n; k++)
		if (!memcmp(v[k].id, c->pk[j], WFS_GOSSIP_PK_LEN))
			st = v[k].state;
	wfs_free(v);
	return st;
}

/* Whether every running runner in @set sees every runner in @set other than
 * itself as ALIVE, and @gone (if >= 0) as @gone_state. */
static bool agreed(struct cluster *c, unsigned set, int gone,
		   enum wfs_swim_state gone_state)
{
	for (int i = 0; i < c->n; i++) {
		if (!(set & (1u << i)))
			continue;
		for (int j = 0; j < c->n; j++) {
			if (j != i && (set & (1u << j)) &&
			    view(c, i, j) != WFS_SWIM_ALIVE)
				return false;
			if (j == gone && view(c, i, j) != gone_state)
				return false;
		}
	}
	return true;
}

/* Poll agreed() every 10 ms for at most WAIT_MS; returns the time it took
 * or UINT64_MAX. */
static uint64_t wait_agreed(struct cluster *c, unsigned set, int gone,
			    enum wfs_swim_state gone_state)
{
	uint64_t start = mono_ms();

	while (mono_ms() - start < WAIT_MS) {
		if (agreed(c, set, gone, gone_state))
			return mono_ms() - start;
		sleep_ms(10);
	}
	return UINT64_MAX;
}

static void test_converge_detect_leave(void)
{
	struct cluster c;
	struct wfs_swim_member *v;
	size_t n;
	uint64_t t;
	unsigned dead = 0;

	cluster_init(&c, 4, wfs_test_seed());
	runner_start(&c, 0, -1);
	for (int i = 1; i < 4; i++)
		runner_start(&c, i, 0);
	t = wait_agreed(&c, 0xf, -1, WFS_SWIM_NONE);
	printf("\n    4 runners converged after %llu ms ",
	       (unsigned long long)t);
	CU_ASSERT_FATAL(t < WAIT_MS);

	/* Meta spreads. */
	CU_ASSERT_EQUAL(wfs_gossip_set_meta(c.r[1].g, "disks=2", 7), 0);
	for (uint64_t s = mono_ms(); mono_ms() - s < WAIT_MS; sleep_ms(10)) {
		bool all = true;

		CU_ASSERT_EQUAL_FATAL(wfs_gossip_members(c.r[2].g, &v, &n), 0);
		for (size_t k = 0; k < n; k++)
			if (!memcmp(v[k].id, c.pk[1], WFS_GOSSIP_PK_LEN))
				all = v[k].meta_len == 7 &&
				      !memcmp(v[k].meta, "disks=2", 7);
		wfs_free(v);
		if (all)
			break;
	}
	CU_ASSERT_EQUAL(view(&c, 2, 1), WFS_SWIM_ALIVE);

	/* Stopped abruptly: the others find it dead. */
	wfs_gossip_stop(c.r[3].g);
	t = wait_agreed(&c, 0x7, 3, WFS_SWIM_DEAD);
	printf("\n    stopped runner seen dead by all after %llu ms ",
	       (unsigned long long)t);
	CU_ASSERT(t < WAIT_MS);
	pthread_mutex_lock(&c.lock);
	for (int i = 0; i < 3; i++)
		dead += c.r[i].dead_seen[3];
	CU_ASSERT(c.r[0].joins >= 3);
	pthread_mutex_unlock(&c.lock);
	CU_ASSERT_EQUAL(dead, 3);	/* the change callback said so */

	/* A clean goodbye. */
	CU_ASSERT_EQUAL(wfs_gossip_leave(c.r[2].g, 5000), 0);
	t = wait_agreed(&c, 0x3, 2, WFS_SWIM_LEFT);
	CU_ASSERT(t < WAIT_MS);
	wfs_gossip_stop(c.r[2].g);
	CU_ASSERT_EQUAL(wfs_gossip_leave(c.r[2].g, 10), -ENOTCONN);
	CU_ASSERT_EQUAL(wfs_gossip_start(c.r[2].g), -EALREADY);
	cluster_free(&c);
}

static void test_not_admitted(void)
{
	struct cluster c;
	struct wfs_gossip_stats st;

	cluster_init(&c, 4, wfs_test_seed() + 1);
	c.admitted[3] = false;
	runner_start(&c, 0, -1);
	runner_start(&c, 1, 0);
	runner_start(&c, 2, 0);
	runner_start(&c, 3, 0);
	CU_ASSERT_FATAL(wfs_gossip_addr(c.r[3].g)[0] != '\0');
	CU_ASSERT(wait_agreed(&c, 0x7, -1, WFS_SWIM_NONE) < WAIT_MS);
	sleep_ms(1500);		/* three join attempts of the outsider */
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(view(&c, i, 3), WFS_SWIM_NONE);
	for (int j = 0; j < 3; j++)
		CU_ASSERT_EQUAL(view(&c, 3, j), WFS_SWIM_NONE);
	wfs_gossip_stats(c.r[0].g, &st);
	CU_ASSERT(st.rx_refused > 0);
	cluster_free(&c);
}

/* ---- a fake node speaking the envelope ---- */

#define ENV_NONCE 34
#define ENV_BOX 58
#define HELLO_LEN 115

struct fake {
	int fd;
	struct sockaddr_in to;		/* the runner under test */
	unsigned char pk[WFS_GOSSIP_PK_LEN], sk[WFS_GOSSIP_SK_LEN];
	unsigned char xsk[crypto_box_SECRETKEYBYTES];
};

static void fake_key(struct fake *f, uint64_t *rng)
{
	make_key(f->pk, f->sk, rng);
	crypto_sign_ed25519_sk_to_curve25519(f->xsk, f->sk);
}

/* Open the fake's socket on 127.0.0.1, aimed at @runner_addr. */
static void fake_open(struct fake *f, const char *runner_addr)
{
	struct sockaddr_in me = { .sin_family = AF_INET };
	char host[32];
	const char *colon = strrchr(runner_addr, ':');

	f->fd = socket(AF_INET, SOCK_DGRAM, 0);
	CU_ASSERT_FATAL(f->fd >= 0);
	me.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_FATAL(bind(f->fd, (struct sockaddr *)&me, sizeof(me)) == 0);
	snprintf(host, sizeof(host), "%.*s", (int)(colon - runner_addr),
		 runner_addr);
	f->to.sin_family = AF_INET;
	f->to.sin_port = htons((uint16_t)atoi(colon + 1));
	CU_ASSERT_FATAL(inet_pton(AF_INET, host, &f->to.sin_addr) == 1);
}

static void fake_send(struct fake *f, const void *buf, size_t len)
{
	CU_ASSERT(sendto(f->fd, buf, len, 0, (struct sockaddr *)&f->to,
			 sizeof(f->to)) == (ssize_t)len);
}

/* Seal @payload from @f to @to_pk, with @seq, naming @rcpt as recipient. */
static size_t seal(const struct fake *f, const unsigned char *to_pk,
		   const unsigned char *rcpt, uint64_t seq,
		   const unsigned char *payload, size_t plen,
		   unsigned char *out)
{
	unsigned char plain[256], xpk[crypto_box_PUBLICKEYBYTES];

	out[0] = 1;
	out[1] = 1;
	memcpy(out + 2, f->pk, WFS_GOSSIP_PK_LEN);
	randombytes_buf(out + ENV_NONCE, crypto_box_NONCEBYTES);
	for (int i = 0; i < 8; i++)
		plain[i] = (unsigned char)(seq >> (56 - 8 * i));
	memcpy(plain + 8, rcpt, WFS_GOSSIP_PK_LEN);
	memcpy(plain + 40, payload, plen);
	CU_ASSERT_FATAL(crypto_sign_ed25519_pk_to_curve25519(xpk, to_pk) == 0);
	CU_ASSERT_FATAL(crypto_box_easy(out + ENV_BOX, plain, 40 + plen,
					out + ENV_NONCE, xpk, f->xsk) == 0);
	return ENV_BOX + crypto_box_MACBYTES + 40 + plen;
}

/* A swim ping (swim.c's format) with @seq for @target, no news. */
static size_t ping(uint8_t seq, const unsigned char *target,
		   unsigned char *out)
{
	out[0] = 0x95;
	out[1] = 0x01;
	out[2] = 0x01;
	out[3] = seq;		/* < 128: a positive fixint */
	out[4] = 0xc4;
	out[5] = 0x20;
	memcpy(out + 6, target, WFS_GOSSIP_PK_LEN);
	out[38] = 0x90;
	return 39;
}

/* Wait up to @ms for a datagram; its length, or -1. */
static ssize_t fake_recv(struct fake *f, unsigned char *buf, size_t cap,
			 int ms)
{
	struct pollfd p = { .fd = f->fd, .events = POLLIN };

	if (poll(&p, 1, ms) != 1)
		return -1;
	return recv(f->fd, buf, cap, 0);
}

/* Expect the runner's sealed ack of ping @seq. */
static void expect_ack(struct fake *f, const unsigned char *runner_pk,
		       uint8_t seq)
{
	unsigned char buf[20000], plain[20000], xpk[crypto_box_PUBLICKEYBYTES];
	ssize_t n = fake_recv(f, buf, sizeof(buf), 2000);

	CU_ASSERT_FATAL(n > ENV_BOX + 16 + 40);
	CU_ASSERT(buf[0] == 1 && buf[1] == 1);
	CU_ASSERT(!memcmp(buf + 2, runner_pk, WFS_GOSSIP_PK_LEN));
	CU_ASSERT_FATAL(crypto_sign_ed25519_pk_to_curve25519(xpk, runner_pk) ==
			0);
	CU_ASSERT_FATAL(crypto_box_open_easy(plain, buf + ENV_BOX,
					     (size_t)n - ENV_BOX,
					     buf + ENV_NONCE, xpk,
					     f->xsk) == 0);
	CU_ASSERT(!memcmp(plain + 8, f->pk, WFS_GOSSIP_PK_LEN));
	/* [1, 2 (ack), seq, news] */
	CU_ASSERT(plain[40] == 0x94 && plain[41] == 1 && plain[42] == 2 &&
		  plain[43] == seq);
}

static void expect_silence(struct fake *f)
{
	unsigned char buf[2048];

	CU_ASSERT_EQUAL(fake_recv(f, buf, sizeof(buf), 300), -1);
}

/* Wait until the runner has read @n datagrams, then return its stats. */
static struct wfs_gossip_stats stats_after(struct wfs_gossip *g, uint64_t n)
{
	struct wfs_gossip_stats st;
	uint64_t start = mono_ms();

	do {
		wfs_gossip_stats(g, &st);
		if (st.rx_packets >= n)
			break;
		sleep_ms(5);
	} while (mono_ms() - start < WAIT_MS);
	CU_ASSERT(st.rx_packets >= n);
	return st;
}

static void check_hello(struct fake *f, const unsigned char *runner_pk)
{
	unsigned char h[HELLO_LEN], msg[16 + 51], buf[512];
	ssize_t n;

	h[0] = 1;
	h[1] = 2;
	memcpy(h + 2, f->pk, WFS_GOSSIP_PK_LEN);
	h[34] = 0;
	randombytes_buf(h + 35, 16);
	memcpy(msg, "wfs-gossip-hello", 16);
	memcpy(msg + 16, h, 51);
	crypto_sign_detached(h + 51, NULL, msg, sizeof(msg), f->sk);
	fake_send(f, h, sizeof(h));
	n = fake_recv(f, buf, sizeof(buf), 2000);
	CU_ASSERT_FATAL(n == HELLO_LEN);
	CU_ASSERT(buf[1] == 2 && buf[34] == 1);
	CU_ASSERT(!memcmp(buf + 2, runner_pk, WFS_GOSSIP_PK_LEN));
	memcpy(msg + 16, buf, 51);
	CU_ASSERT(crypto_sign_verify_detached(buf + 51, msg, sizeof(msg),
					      runner_pk) == 0);
}

static void test_envelope(void)
{
	struct cluster c;
	struct fake f, u;
	unsigned char p[64], pkt[512], first[512];
	size_t plen, len, first_len;
	struct wfs_gossip_stats st;
	uint64_t rng = wfs_test_seed() * 3 + 1;
	const unsigned char *rpk;

	cluster_init(&c, 1, wfs_test_seed() + 2);
	fake_key(&f, &rng);
	fake_key(&u, &rng);		/* not admitted */
	memcpy(c.extra, f.pk, WFS_GOSSIP_PK_LEN);
	c.has_extra = true;
	runner_start(&c, 0, -1);
	rpk = c.pk[0];
	fake_open(&f, wfs_gossip_addr(c.r[0].g));
	fake_open(&u, wfs_gossip_addr(c.r[0].g));

	/* A valid ping is answered. */
	plen = ping(7, rpk, p);
	first_len = seal(&f, rpk, rpk, 1000, p, plen, first);
	fake_send(&f, first, first_len);
	expect_ack(&f, rpk, 7);
	/* One flipped bit in the box: dropped, and the window unmoved. */
	len = seal(&f, rpk, rpk, 1001, p, plen, pkt);
	pkt[ENV_BOX + 20] ^= 0x04;
	fake_send(&f, pkt, len);
	expect_silence(&f);
	st = stats_after(c.r[0].g, 2);
	CU_ASSERT_EQUAL(st.rx_bad_auth, 1);
	/* The same datagram again: a replay. */
	fake_send(&f, first, first_len);
	expect_silence(&f);
	st = stats_after(c.r[0].g, 3);
	CU_ASSERT_EQUAL(st.rx_replay, 1);
	/* Late but inside the window of 64: fine; too late: refused. */
	plen = ping(8, rpk, p);
	len = seal(&f, rpk, rpk, 990, p, plen, pkt);
	fake_send(&f, pkt, len);
	expect_ack(&f, rpk, 8);
	len = seal(&f, rpk, rpk, 900, p, plen, pkt);
	fake_send(&f, pkt, len);
	expect_silence(&f);
	st = stats_after(c.r[0].g, 5);
	CU_ASSERT_EQUAL(st.rx_replay, 2);
	/* Sealed to the runner but naming another recipient (a reflected
	 * datagram looks like this). */
	len = seal(&f, rpk, f.pk, 1002, p, plen, pkt);
	fake_send(&f, pkt, len);
	expect_silence(&f);
	st = stats_after(c.r[0].g, 6);
	CU_ASSERT_EQUAL(st.rx_bad_auth, 2);
	/* A key the runner does not admit. */
	len = seal(&u, rpk, rpk, 5000, p, plen, pkt);
	fake_send(&u, pkt, len);
	st = stats_after(c.r[0].g, 7);
	CU_ASSERT_EQUAL(st.rx_refused, 1);
	/* Garbage: wrong version, unknown kind, too short. */
	fake_send(&f, "\x02\x01garbage", 9);
	fake_send(&f, "\x01\x07", 2);
	fake_send(&f, "\x01", 1);
	fake_send(&f, "\x01\x01short", 7);
	st = stats_after(c.r[0].g, 11);
	CU_ASSERT_EQUAL(st.rx_malformed, 4);
	expect_silence(&f);
	/* A hello is answered with a signed hello. */
	check_hello(&f, rpk);
	st = stats_after(c.r[0].g, 12);
	CU_ASSERT_EQUAL(st.hello_rx, 1);
	CU_ASSERT_EQUAL(st.hello_tx, 1);
	CU_ASSERT_EQUAL(st.swim.rx_packets, 2);	/* the two valid pings */
	close(f.fd);
	close(u.fd);
	cluster_free(&c);
}

static void test_bad_config(void)
{
	struct cluster c;
	struct wfs_gossip *g = NULL, *g2 = NULL;
	const char *seeds[] = { "localhost:7000" };
	struct wfs_gossip_config cfg;

	cluster_init(&c, 2, wfs_test_seed() + 3);
	cfg = (struct wfs_gossip_config){
		.bind = "127.0.0.1:0", .pk = c.pk[0], .sk = c.sk[0],
		.admit = admit, .arg = &c,
	};
	cfg.sk = c.sk[1];
	CU_ASSERT_EQUAL(wfs_gossip_new(&cfg, &g), -EINVAL);	/* mismatch */
	cfg.sk = c.sk[0];
	cfg.admit = NULL;
	CU_ASSERT_EQUAL(wfs_gossip_new(&cfg, &g), -EINVAL);
	cfg.admit = admit;
	cfg.bind = "0.0.0.0:0";		/* wildcard, no advertise */
	CU_ASSERT_EQUAL(wfs_gossip_new(&cfg, &g), -EINVAL);
	cfg.bind = "127.0.0.1";
	CU_ASSERT_EQUAL(wfs_gossip_new(&cfg, &g), -EINVAL);
	cfg.bind = "127.0.0.1:70000";
	CU_ASSERT_EQUAL(wfs_gossip_new(&cfg, &g), -EINVAL);
	cfg.bind = "[::1:0";
	CU_ASSERT_EQUAL(wfs_gossip_new(&cfg, &g), -EINVAL);
	cfg.bind = "127.0.0.1:0";
	cfg.seeds = seeds;		/* names are not resolved */
	cfg.nseeds = 1;
	CU_ASSERT_EQUAL(wfs_gossip_new(&cfg, &g), -EINVAL);
	cfg.nseeds = 0;
	cfg.bind = "0.0.0.0:0";
	cfg.advertise = "127.000.0.1:7";
	CU_ASSERT_EQUAL(wfs_gossip_new(&cfg, &g), -EINVAL);
	cfg.advertise = "127.0.0.1:7";
	CU_ASSERT_EQUAL_FATAL(wfs_gossip_new(&cfg, &g), 0);
	CU_ASSERT_STRING_EQUAL(wfs_gossip_addr(g), "127.0.0.1:7");
	wfs_gossip_free(g);
	/* The port taken: bind's own error. */
	cfg.advertise = NULL;
	cfg.bind = "127.0.0.1:0";
	CU_ASSERT_EQUAL_FATAL(wfs_gossip_new(&cfg, &g), 0);
	cfg.bind = wfs_gossip_addr(g);
	CU_ASSERT_EQUAL(wfs_gossip_new(&cfg, &g2), -EADDRINUSE);
	wfs_gossip_stop(g);		/* never started: a no-op */
	wfs_gossip_free(g);
	wfs_gossip_free(NULL);
	cluster_free(&c);
}

static void test_out_of_memory(void)
{
	struct cluster c;
	struct wfs_gossip *g = NULL;
	struct wfs_gossip_config cfg;
	const char *seeds[] = { "127.0.0.1:9" };
	int rc = -ENOMEM;

	cluster_init(&c, 1, wfs_test_seed() + 4);
	cfg = (struct wfs_gossip_config){
		.bind = "127.0.0.1:0", .pk = c.pk[0], .sk = c.sk[0],
		.seeds = seeds, .nseeds = 1, .admit = admit, .arg = &c,
	};
	for (long k = 0; rc == -ENOMEM && k < 50; k++) {
		wfs_mem_fail_after(k);
		rc = wfs_gossip_new(&cfg, &g);
		wfs_mem_fail_after(-1);
		CU_ASSERT(rc == 0 || rc == -ENOMEM);
	}
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	wfs_gossip_free(g);
	cluster_free(&c);
}

static void test_ipv6(void)
{
	struct cluster c;
	struct wfs_gossip_config cfg;
	struct wfs_gossip *probe = NULL;
	int rc;

	cluster_init(&c, 2, wfs_test_seed() + 5);
	cfg = (struct wfs_gossip_config){
		.bind = "[::1]:0", .pk = c.pk[0], .sk = c.sk[0],
		.admit = admit, .arg = &c,
	};
	rc = wfs_gossip_new(&cfg, &probe);
	if (rc == -EAFNOSUPPORT || rc == -EADDRNOTAVAIL) {
		printf("\n    no IPv6 loopback here: skipped ");
		cluster_free(&c);
		return;
	}
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT(!strncmp(wfs_gossip_addr(probe), "[::1]:", 6));
	c.r[0].g = probe;
	CU_ASSERT_EQUAL_FATAL(wfs_gossip_start(probe), 0);
	{
		const char *seeds[] = { wfs_gossip_addr(probe) };
		struct wfs_gossip_config cfg1 = {
			.bind = "[::1]:0", .pk = c.pk[1], .sk = c.sk[1],
			.seeds = seeds, .nseeds = 1,
			.admit = admit_runner, .arg = &c.r[1],
		};

		CU_ASSERT_EQUAL_FATAL(wfs_gossip_new(&cfg1, &c.r[1].g), 0);
		CU_ASSERT_EQUAL_FATAL(wfs_gossip_start(c.r[1].g), 0);
	}
	CU_ASSERT(wait_agreed(&c, 0x3, -1, WFS_SWIM_NONE) < WAIT_MS);
	cluster_free(&c);
}

static CU_TestInfo gossip_tests[] = {
	{ "converge, detect, meta, leave", test_converge_detect_leave },
	{ "key not admitted", test_not_admitted },
	{ "envelope: tamper, replay, refuse", test_envelope },
	{ "bad config", test_bad_config },
	{ "out of memory", test_out_of_memory },
	{ "ipv6", test_ipv6 },
	CU_TEST_INFO_NULL,
};
WFS_TEST_SUITE("gossip", gossip_tests, NULL, NULL)
