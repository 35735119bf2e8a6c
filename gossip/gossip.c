/* gossip: the swim core on an authenticated, encrypted UDP socket, run by
 * one thread on its own libev loop (gossip.h says who calls what).
 *
 * Keys.  A node's identity is its Ed25519 key pair.  For sealing, both
 * halves are converted to X25519 (crypto_sign_ed25519_pk_to_curve25519,
 * _sk_to_curve25519), and the shared key of each pair of nodes is computed
 * once (crypto_box_beforenm) and kept per peer.
 *
 * Envelope, version 1.  Every datagram starts with
 *
 *   0   1  version, 1 (a datagram of another version is dropped)
 *   1   1  kind: 1 sealed, 2 hello
 *
 * A sealed datagram carries one swim packet (swim.c has its format):
 *
 *   2  32  sender's Ed25519 public key, in clear, so the receiver can ask
 *          admit() and pick the shared key before any crypto
 *   34 24  nonce, random (randombytes_buf) for each datagram
 *   58  -  crypto_box_easy_afternm of the plaintext (16-byte MAC first)
 *
 *   plaintext:
 *   0   8  sequence, big-endian: the sender's counter, one per datagram
 *          sent to anyone, starting at its wall clock in microseconds when
 *          the runner was made (so a restarted node starts above its old
 *          numbers without storing them; a node whose clock went back by
 *          more than it was down is taken for a replay until its counter
 *          passes the old one)
 *   8  32  recipient's Ed25519 public key: the pair's shared key is the
 *          same both ways, so without this a datagram could be reflected
 *          back to its sender as if the peer had sent it
 *   40  -  the swim packet, 1..WFS_SWIM_PACKET_MAX bytes
 *
 * The receiver drops a datagram whose key admit() refuses, whose box does
 * not open, whose recipient is not itself, or whose sequence it has seen
 * or that is 64 or more behind the highest it has accepted from that
 * sender (a sliding window: reordering up to 64 packets is fine, replay is
 * not).  The window is checked after the box opens, so forgeries cannot
 * move it.
 *
 * A hello datagram (115 bytes) lets a node reach a seed, of which it knows
 * only an address, not the key to seal to:
 *
 *   2  32  sender's Ed25519 public key
 *   34  1  0: a request (answer with your own hello); 1: the answer
 *   35 16  random
 *   51 64  Ed25519 signature (crypto_sign_detached) of "wfs-gossip-hello"
 *          (16 bytes, no NUL) followed by bytes 0..50
 *
 * A joining node sends a request to the seed's address; the seed, if it
 * admits the key, answers (at most once per 200 ms per key, so hellos
 * cannot be used to amplify traffic) and both learn which key sits at
 * which address.  Then the next join attempt (swim retries every
 * join_retry_ms) is sealed like everything else.  A replayed hello can at
 * worst point an address at the wrong admitted key until the next hello or
 * sealed datagram from that address corrects it: it delays a join through
 * that seed, it cannot inject membership.  Hellos carry no membership.
 */
#include "gossip/gossip.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <sodium.h>

#include "log/log.h"
#include "mem/mem.h"

#define SUBSYS "gossip"

#define ENV_VERSION 1
#define KIND_SEALED 1
#define KIND_HELLO 2

#define PK_LEN WFS_GOSSIP_PK_LEN
#define NONCE_OFF (2 + PK_LEN)
#define BOX_OFF (NONCE_OFF + crypto_box_NONCEBYTES)
#define PLAIN_HEAD (8 + PK_LEN)
#define SEALED_MIN (BOX_OFF + crypto_box_MACBYTES + PLAIN_HEAD + 1)
#define SEALED_MAX (SEALED_MIN - 1 + WFS_SWIM_PACKET_MAX)

#define HELLO_FLAGS_OFF (2 + PK_LEN)
#define HELLO_SIG_OFF (HELLO_FLAGS_OFF + 1 + 16)
#define HELLO_LEN (HELLO_SIG_OFF + crypto_sign_BYTES)
#define HELLO_CTX "wfs-gossip-hello"
#define HELLO_CTX_LEN 16

#define WINDOW 64		/* replay window, in datagrams */
#define RX_BATCH 64		/* datagrams read per wake-up */
#define LOG_EVERY_MS 10000	/* one line per kind of drop per 10 s */
#define HELLO_GAP_MS 200	/* between two hello answers to one key */
#define ADDR_SLOTS 64		/* remembered address -> key pairs */
#define PEERS_MAX 4096		/* admitted keys we keep state for */

/* What we know of one admitted key; gossip thread only. */
struct peer {
	unsigned char pk[PK_LEN];
	unsigned char key[crypto_box_BEFORENMBYTES];
	uint64_t top;			/* highest sequence accepted */
	uint64_t seen;			/* bit i: top - i was accepted */
	uint64_t last_hello;		/* when we last answered its hello */
};

/* Which key sits at an address (for seeds); gossip thread only. */
struct addr_key {
	char addr[WFS_SWIM_ADDR_MAX];	/* "" when unused */
	unsigned char pk[PK_LEN];
};

struct event {
	struct wfs_swim_member m;
	enum wfs_swim_state old, now;
};

/* One log line per LOG_EVERY_MS for a kind of drop. */
struct ratelimit {
	uint64_t next;
	unsigned long suppressed;
};

struct wfs_gossip {
	/* Set by new(), then read-only. */
	unsigned char pk[PK_LEN];
	unsigned char sk[WFS_GOSSIP_SK_LEN];
	unsigned char xsk[crypto_box_SECRETKEYBYTES];
	char name[WFS_SWIM_NAME_LEN];
	char addr[WFS_SWIM_ADDR_MAX];
	int fd;
	wfs_gossip_admit_cb admit;
	wfs_gossip_change_cb changed;
	void *arg;
	struct ev_loop *loop;
	pthread_t thread;

	pthread_mutex_t lock;
	/* Protected by lock. */
	struct wfs_swim *swim;
	struct event *events;		/* changes not yet delivered */
	size_t nevents, cap_events;
	bool started, running, stopping;

	/* Gossip thread only (on_send runs there, with the lock held). */
	ev_io io;
	ev_timer timer;
	ev_async wake;
	struct peer **peers;
	size_t npeers, cap_peers;
	struct addr_key addrs[ADDR_SLOTS];
	unsigned addr_next;
	uint64_t tx_seq;
	struct ratelimit rl_refused, rl_auth, rl_replay, rl_malformed, rl_tx;
	unsigned char rx[65536];
	unsigned char rx_plain[PLAIN_HEAD + WFS_SWIM_PACKET_MAX];
	unsigned char tx_plain[PLAIN_HEAD + WFS_SWIM_PACKET_MAX];
	unsigned char tx[SEALED_MAX];

	/* Counters, updated and read atomically (any thread). */
	struct wfs_gossip_stats stats;
};

/* ---- small helpers ---- */

static uint64_t clock_ms(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t now_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

static void bump(uint64_t *counter)
{
	__atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

static bool ratelimit_pass(struct ratelimit *r, unsigned long *suppressed)
{
	uint64_t now = now_ms();

	if (now < r->next) {
		r->suppressed++;
		return false;
	}
	*suppressed = r->suppressed;
	r->suppressed = 0;
	r->next = now + LOG_EVERY_MS;
	return true;
}

static void put_be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t get_be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* ---- addresses ---- */

static int parse_port(const char *s, bool zero_ok, uint16_t *port)
{
	unsigned long v = 0;
	size_t n = 0;

	for (; s[n] >= '0' && s[n] <= '9' && n < 5; n++)
		v = v * 10 + (unsigned long)(s[n] - '0');
	if (n == 0 || s[n] != '\0' || v > 65535 || (v == 0 && !zero_ok))
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

static int set_v4(struct sockaddr_storage *ss, socklen_t *len,
		  const char *host, uint16_t port)
{
	struct sockaddr_in *a = (struct sockaddr_in *)ss;

	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	*len = sizeof(*a);
	return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -EINVAL;
}

static int set_v6(struct sockaddr_storage *ss, socklen_t *len,
		  const char *host, uint16_t port)
{
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

	a->sin6_family = AF_INET6;
	a->sin6_port = htons(port);
	*len = sizeof(*a);
	return inet_pton(AF_INET6, host, &a->sin6_addr) == 1 ? 0 : -EINVAL;
}

/* Parse "a.b.c.d:port" or "[v6]:port" (IP literals only: gossip must not
 * wait on DNS).  Returns 0 or -EINVAL. */
static int parse_addr(const char *s, bool zero_ok,
		      struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN];
	bool v6 = s[0] == '[';
	const char *end = v6 ? strchr(s, ']') : strrchr(s, ':');
	uint16_t port;

	if (!end || (v6 && end[1] != ':'))
		return -EINVAL;
	if (parse_port(end + (v6 ? 2 : 1), zero_ok, &port) < 0)
		return -EINVAL;
	s += v6;	/* past the '[' */
	if ((size_t)(end - s) >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, (size_t)(end - s));
	host[end - s] = '\0';
	memset(ss, 0, sizeof(*ss));
	return v6 ? set_v6(ss, len, host, port) : set_v4(ss, len, host, port);
}

/* The canonical text of @ss ("1.2.3.4:5", "[::1]:5") into @buf. */
static int format_addr(const struct sockaddr_storage *ss, char *buf,
		       size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;

		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(a->sin_port));
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ss;

		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(a->sin6_port));
		return 0;
	}
	return -EAFNOSUPPORT;
}

/* Parse and re-format @in, so equal addresses are equal strings. */
static int canonical(const char *in, char out[WFS_SWIM_ADDR_MAX])
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (!in || parse_addr(in, false, &ss, &len) < 0)
		return -EINVAL;
	return format_addr(&ss, out, WFS_SWIM_ADDR_MAX);
}

static bool is_wildcard(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr ==
		       htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(
		&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

/* Remember that @pk answers at @addr (a seed reached before its key was
 * known).  Oldest slot reused when full. */
static void learn_addr(struct wfs_gossip *g, const char *addr,
		       const unsigned char *pk)
{
	struct addr_key *slot = NULL;

	for (unsigned i = 0; i < ADDR_SLOTS && !slot; i++)
		if (strcmp(g->addrs[i].addr, addr) == 0)
			slot = &g->addrs[i];
	if (!slot)
		slot = &g->addrs[g->addr_next++ % ADDR_SLOTS];
	snprintf(slot->addr, sizeof(slot->addr), "%s", addr);
	memcpy(slot->pk, pk, PK_LEN);
}

static const unsigned char *key_at(const struct wfs_gossip *g,
				   const char *addr)
{
	for (unsigned i = 0; i < ADDR_SLOTS; i++)
		if (g->addrs[i].addr[0] && strcmp(g->addrs[i].addr, addr) == 0)
			return g->addrs[i].pk;
	return NULL;
}

/* ---- peers ---- */

/* The state of admitted key @pk, made on first use.  NULL if the key is
 * not a valid curve point, too many peers are known, or out of memory. */
static struct peer *peer_get(struct wfs_gossip *g, const unsigned char *pk)
{
	unsigned char xpk[crypto_box_PUBLICKEYBYTES];
	struct peer *p;

	for (size_t i = 0; i < g->npeers; i++)
		if (memcmp(g->peers[i]->pk, pk, PK_LEN) == 0)
			return g->peers[i];
	if (g->npeers == PEERS_MAX)
		return NULL;
	if (g->npeers == g->cap_peers) {
		size_t cap = g->cap_peers ? 2 * g->cap_peers : 16;
		struct peer **v = wfs_realloc(g->peers, cap * sizeof(*v));

		if (!v)
			return NULL;
		g->peers = v;
		g->cap_peers = cap;
	}
	p = wfs_calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	memcpy(p->pk, pk, PK_LEN);
	if (crypto_sign_ed25519_pk_to_curve25519(xpk, pk) != 0 ||
	    crypto_box_beforenm(p->key, xpk, g->xsk) != 0) {
		wfs_free(p);
		return NULL;
	}
	g->peers[g->npeers++] = p;
	return p;
}

/* Accept @seq from @p once: a sliding window of WINDOW behind the top. */
static bool window_accept(struct peer *p, uint64_t seq)
{
	uint64_t back;

	if (seq > p->top) {
		back = seq - p->top;
		p->seen = back >= WINDOW ? 0 : p->seen << back;
		p->seen |= 1;
		p->top = seq;
		return true;
	}
	back = p->top - seq;
	if (back >= WINDOW || (p->seen & (1ULL << back)))
		return false;
	p->seen |= 1ULL << back;
	return true;
}

/* ---- sending ---- */

static void send_datagram(struct wfs_gossip *g, const void *buf, size_t len,
			  const struct sockaddr_storage *to, socklen_t tolen)
{
	unsigned long more;
	char addr[WFS_SWIM_ADDR_MAX];

	if (sendto(g->fd, buf, len, 0, (const struct sockaddr *)to,
		   tolen) >= 0) {
		bump(&g->stats.tx_packets);
		return;
	}
	bump(&g->stats.tx_errors);
	if (ratelimit_pass(&g->rl_tx, &more)) {
		format_addr(to, addr, sizeof(addr));
		wfs_log_warn(SUBSYS, "node %s: send to %s failed: %s (%lu "
			     "more since the last report)", g->name, addr,
			     strerror(errno), more);
	}
}

static void send_hello(struct wfs_gossip *g, unsigned char flags,
		       const struct sockaddr_storage *to, socklen_t tolen)
{
	unsigned char msg[HELLO_CTX_LEN + HELLO_SIG_OFF];
	unsigned char *h = msg + HELLO_CTX_LEN;
	unsigned char out[HELLO_LEN];

	memcpy(msg, HELLO_CTX, HELLO_CTX_LEN);
	h[0] = ENV_VERSION;
	h[1] = KIND_HELLO;
	memcpy(h + 2, g->pk, PK_LEN);
	h[HELLO_FLAGS_OFF] = flags;
	randombytes_buf(h + HELLO_FLAGS_OFF + 1, 16);
	memcpy(out, h, HELLO_SIG_OFF);
	crypto_sign_detached(out + HELLO_SIG_OFF, NULL, msg, sizeof(msg),
			     g->sk);
	bump(&g->stats.hello_tx);
	send_datagram(g, out, sizeof(out), to, tolen);
}

static void send_sealed(struct wfs_gossip *g, struct peer *p,
			const void *buf, size_t len,
			const struct sockaddr_storage *to, socklen_t tolen)
{
	unsigned char *out = g->tx;

	out[0] = ENV_VERSION;
	out[1] = KIND_SEALED;
	memcpy(out + 2, g->pk, PK_LEN);
	randombytes_buf(out + NONCE_OFF, crypto_box_NONCEBYTES);
	put_be64(g->tx_plain, ++g->tx_seq);
	memcpy(g->tx_plain + 8, p->pk, PK_LEN);
	memcpy(g->tx_plain + PLAIN_HEAD, buf, len);
	crypto_box_easy_afternm(out + BOX_OFF, g->tx_plain, PLAIN_HEAD + len,
				out + NONCE_OFF, p->key);
	send_datagram(g, out, BOX_OFF + crypto_box_MACBYTES + PLAIN_HEAD + len,
		      to, tolen);
}

/* The swim core's send callback: gossip thread, lock held. */
static void on_send(void *arg, const unsigned char *to_id, const char *addr,
		    const void *buf, size_t len)
{
	struct wfs_gossip *g = arg;
	struct sockaddr_storage to;
	socklen_t tolen;
	struct peer *p;

	if (parse_addr(addr, false, &to, &tolen) < 0 ||
	    len > WFS_SWIM_PACKET_MAX) {
		bump(&g->stats.tx_errors);
		return;
	}
	if (!to_id) {
		/* A seed: ask for its key every time, so a seed that was
		 * reinstalled with a new key is found again. */
		send_hello(g, 0, &to, tolen);
		to_id = key_at(g, addr);
		if (!to_id)
			return;
	}
	if (!g->admit(g->arg, to_id)) {
		bump(&g->stats.tx_refused);
		return;
	}
	p = peer_get(g, to_id);
	if (!p) {
		bump(&g->stats.tx_errors);
		return;
	}
	send_sealed(g, p, buf, len, &to, tolen);
}

/* The swim core's change callback: lock held.  Queued, and delivered by
 * deliver() once the lock is released. */
static void on_changed(void *arg, const struct wfs_swim_member *m,
		       enum wfs_swim_state old, enum wfs_swim_state now)
{
	struct wfs_gossip *g = arg;

	if (!g->changed)
		return;
	if (g->nevents == g->cap_events) {
		size_t cap = g->cap_events ? 2 * g->cap_events : 8;
		struct event *v = wfs_realloc(g->events, cap * sizeof(*v));

		if (!v) {
			wfs_log_error(SUBSYS, "node %s: change of member %s "
				      "not delivered: out of memory", g->name,
				      m->name);
			return;
		}
		g->events = v;
		g->cap_events = cap;
	}
	g->events[g->nevents++] = (struct event){ *m, old, now };
}

/* ---- the gossip thread ---- */

static void deliver(struct wfs_gossip *g)
{
	struct event *ev;
	size_t n;

	pthread_mutex_lock(&g->lock);
	ev = g->events;
	n = g->nevents;
	g->events = NULL;
	g->nevents = g->cap_events = 0;
	pthread_mutex_unlock(&g->lock);
	for (size_t i = 0; i < n; i++)
		g->changed(g->arg, &ev[i].m, ev[i].old, ev[i].now);
	wfs_free(ev);
}

/* Run what is due, re-arm the timer for the next deadline, hand out the
 * changes. */
static void run_core(struct wfs_gossip *g)
{
	uint64_t now, next;

	pthread_mutex_lock(&g->lock);
	now = now_ms();
	next = wfs_swim_tick(g->swim, now);
	pthread_mutex_unlock(&g->lock);
	ev_timer_stop(g->loop, &g->timer);
	ev_timer_set(&g->timer, (double)(next - now) / 1000.0, 0.0);
	ev_timer_start(g->loop, &g->timer);
	deliver(g);
}

static void log_drop(struct wfs_gossip *g, struct ratelimit *rl,
		     const char *why, const unsigned char *pk,
		     const char *from)
{
	char name[WFS_SWIM_NAME_LEN];
	unsigned long more;

	if (!ratelimit_pass(rl, &more))
		return;
	wfs_swim_id_name(pk, name);
	wfs_log_warn(SUBSYS, "node %s: datagram from key %s at %s dropped: %s "
		     "(%lu more since the last report)", g->name, name, from,
		     why, more);
}

static void on_hello(struct wfs_gossip *g, const unsigned char *d,
		     size_t len, const char *from,
		     const struct sockaddr_storage *ss, socklen_t sslen)
{
	unsigned char msg[HELLO_CTX_LEN + HELLO_SIG_OFF];
	const unsigned char *pk = d + 2;
	struct peer *p;

	if (len != HELLO_LEN || d[HELLO_FLAGS_OFF] > 1) {
		bump(&g->stats.rx_malformed);
		return;
	}
	bump(&g->stats.hello_rx);
	if (!g->admit(g->arg, pk)) {
		bump(&g->stats.rx_refused);
		log_drop(g, &g->rl_refused, "key not admitted", pk, from);
		return;
	}
	memcpy(msg, HELLO_CTX, HELLO_CTX_LEN);
	memcpy(msg + HELLO_CTX_LEN, d, HELLO_SIG_OFF);
	if (crypto_sign_verify_detached(d + HELLO_SIG_OFF, msg, sizeof(msg),
					pk) != 0) {
		bump(&g->stats.rx_bad_auth);
		log_drop(g, &g->rl_auth, "bad hello signature", pk, from);
		return;
	}
	if (memcmp(pk, g->pk, PK_LEN) == 0)
		return;
	learn_addr(g, from, pk);
	p = peer_get(g, pk);
	if (d[HELLO_FLAGS_OFF] == 0 && p &&
	    now_ms() >= p->last_hello + HELLO_GAP_MS) {
		p->last_hello = now_ms();
		send_hello(g, 1, ss, sslen);
	}
}

static void on_sealed(struct wfs_gossip *g, const unsigned char *d,
		      size_t len, const char *from)
{
	const unsigned char *pk = d + 2;
	size_t plen;
	struct peer *p;
	int rc;

	if (len < SEALED_MIN || len > SEALED_MAX) {
		bump(&g->stats.rx_malformed);
		return;
	}
	plen = len - BOX_OFF - crypto_box_MACBYTES;
	if (!g->admit(g->arg, pk)) {
		bump(&g->stats.rx_refused);
		log_drop(g, &g->rl_refused, "key not admitted", pk, from);
		return;
	}
	p = peer_get(g, pk);
	if (!p || crypto_box_open_easy_afternm(g->rx_plain, d + BOX_OFF,
					       len - BOX_OFF, d + NONCE_OFF,
					       p->key) != 0 ||
	    memcmp(g->rx_plain + 8, g->pk, PK_LEN) != 0) {
		bump(&g->stats.rx_bad_auth);
		log_drop(g, &g->rl_auth, "failed authentication", pk, from);
		return;
	}
	if (!window_accept(p, get_be64(g->rx_plain))) {
		bump(&g->stats.rx_replay);
		log_drop(g, &g->rl_replay, "replayed or too old", pk, from);
		return;
	}
	learn_addr(g, from, pk);
	pthread_mutex_lock(&g->lock);
	rc = wfs_swim_receive(g->swim, now_ms(), pk, from,
			      g->rx_plain + PLAIN_HEAD, plen - PLAIN_HEAD);
	pthread_mutex_unlock(&g->lock);
	if (rc == -EPROTO)
		log_drop(g, &g->rl_malformed, "not a valid swim packet", pk,
			 from);
}

static void on_datagram(struct wfs_gossip *g, size_t len,
			const struct sockaddr_storage *ss, socklen_t sslen)
{
	char from[WFS_SWIM_ADDR_MAX];

	if (len < 2 || len > sizeof(g->rx) || g->rx[0] != ENV_VERSION ||
	    format_addr(ss, from, sizeof(from)) < 0) {
		bump(&g->stats.rx_malformed);
		return;
	}
	if (g->rx[1] == KIND_SEALED)
		on_sealed(g, g->rx, len, from);
	else if (g->rx[1] == KIND_HELLO)
		on_hello(g, g->rx, len, from, ss, sslen);
	else
		bump(&g->stats.rx_malformed);
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct wfs_gossip *g = w->data;

	(void)loop;
	(void)revents;
	for (int i = 0; i < RX_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t sslen = sizeof(ss);
		ssize_t n = recvfrom(g->fd, g->rx, sizeof(g->rx), MSG_TRUNC,
				     (struct sockaddr *)&ss, &sslen);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;	/* EAGAIN, or an ICMP error: nothing to do */
		bump(&g->stats.rx_packets);
		on_datagram(g, (size_t)n, &ss, sslen);
	}
	run_core(g);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	run_core(w->data);
}

/* Woken by an owner thread: to stop, or because the core has news to send
 * (meta, leave) and its deadlines moved. */
static void on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
	struct wfs_gossip *g = w->data;
	bool stopping;

	(void)revents;
	pthread_mutex_lock(&g->lock);
	stopping = g->stopping;
	pthread_mutex_unlock(&g->lock);
	if (stopping)
		ev_break(loop, EVBREAK_ALL);
	else
		run_core(g);
}

static void *gossip_thread(void *arg)
{
	struct wfs_gossip *g = arg;
	sigset_t all;

	/* Signals belong to the program's main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_setname_np(pthread_self(), "wfs-gossip");
	run_core(g);
	ev_run(g->loop, 0);
	return NULL;
}

/* ---- the API ---- */

static int check_config(const struct wfs_gossip_config *cfg)
{
	if (!cfg->bind || !cfg->pk || !cfg->sk || !cfg->admit ||
	    cfg->meta_len > WFS_SWIM_META_MAX ||
	    (cfg->nseeds && !cfg->seeds))
		return -EINVAL;
	/* A libsodium secret key is seed || public key. */
	if (memcmp(cfg->sk + 32, cfg->pk, PK_LEN) != 0)
		return -EINVAL;
	return 0;
}

/* Make, bind and name the socket. */
static int open_socket(struct wfs_gossip *g,
		       const struct wfs_gossip_config *cfg)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int rc;

	if (parse_addr(cfg->bind, true, &ss, &len) < 0)
		return -EINVAL;
	g->fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       0);
	if (g->fd < 0)
		return -errno;
	if (bind(g->fd, (struct sockaddr *)&ss, len) != 0 ||
	    getsockname(g->fd, (struct sockaddr *)&ss, &len) != 0) {
		rc = -errno;
		goto out_close_fd;
	}
	if (cfg->advertise)
		rc = canonical(cfg->advertise, g->addr);
	else if (is_wildcard(&ss))
		rc = -EINVAL;	/* others cannot send to 0.0.0.0 */
	else
		rc = format_addr(&ss, g->addr, sizeof(g->addr));
	if (rc == 0)
		return 0;
out_close_fd:
	close(g->fd);
	g->fd = -1;
	return rc;
}

/* The core, joined to the seeds (in canonical form). */
static int make_core(struct wfs_gossip *g, const struct wfs_gossip_config *cfg)
{
	struct wfs_swim_config sc = {
		.id = g->pk, .addr = g->addr,
		/* A restart starts above the incarnation it died with. */
		.incarnation = clock_ms(CLOCK_REALTIME),
		.meta = cfg->meta, .meta_len = cfg->meta_len,
		.params = cfg->params,
		.ops = { on_send, on_changed }, .arg = g,
	};
	char (*seeds)[WFS_SWIM_ADDR_MAX] = NULL;
	const char **ptrs = NULL;
	int rc = -ENOMEM;

	randombytes_buf(&sc.seed, sizeof(sc.seed));
	if (cfg->nseeds) {
		seeds = wfs_calloc(cfg->nseeds, sizeof(*seeds));
		ptrs = wfs_calloc(cfg->nseeds, sizeof(*ptrs));
		if (!seeds || !ptrs)
			goto out_free_seeds;
	}
	for (size_t i = 0; i < cfg->nseeds; i++) {
		rc = canonical(cfg->seeds[i], seeds[i]);
		if (rc < 0)
			goto out_free_seeds;
		ptrs[i] = seeds[i];
	}
	rc = wfs_swim_new(&sc, now_ms(), &g->swim);
	if (rc == 0) {
		rc = wfs_swim_join(g->swim, ptrs, cfg->nseeds);
		if (rc < 0) {
			wfs_swim_free(g->swim);
			g->swim = NULL;
		}
	}
out_free_seeds:
	wfs_free(ptrs);
	wfs_free(seeds);
	return rc;
}

static int make_loop(struct wfs_gossip *g)
{
	g->loop = ev_loop_new(EVFLAG_AUTO);
	if (!g->loop)
		return -ENOMEM;
	ev_io_init(&g->io, on_readable, g->fd, EV_READ);
	ev_timer_init(&g->timer, on_timer, 0.0, 0.0);
	ev_async_init(&g->wake, on_wake);
	g->io.data = g;
	g->timer.data = g;
	g->wake.data = g;
	return 0;
}

int wfs_gossip_new(const struct wfs_gossip_config *cfg,
		   struct wfs_gossip **out)
{
	struct wfs_gossip *g;
	int rc;

	rc = check_config(cfg);
	if (rc < 0)
		return rc;
	if (sodium_init() < 0)
		return -EIO;
	g = wfs_calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	memcpy(g->pk, cfg->pk, PK_LEN);
	memcpy(g->sk, cfg->sk, WFS_GOSSIP_SK_LEN);
	wfs_swim_id_name(g->pk, g->name);
	g->admit = cfg->admit;
	g->changed = cfg->changed;
	g->arg = cfg->arg;
	g->tx_seq = clock_ms(CLOCK_REALTIME) * 1000;
	rc = -EINVAL;
	if (crypto_sign_ed25519_sk_to_curve25519(g->xsk, g->sk) != 0)
		goto out_free_g;
	rc = open_socket(g, cfg);
	if (rc < 0)
		goto out_free_g;
	rc = make_core(g, cfg);
	if (rc < 0)
		goto out_close_fd;
	rc = -pthread_mutex_init(&g->lock, NULL);
	if (rc < 0)
		goto out_free_swim;
	rc = make_loop(g);
	if (rc < 0)
		goto out_destroy_lock;
	*out = g;
	return 0;
out_destroy_lock:
	pthread_mutex_destroy(&g->lock);
out_free_swim:
	wfs_swim_free(g->swim);
out_close_fd:
	close(g->fd);
out_free_g:
	sodium_memzero(g, sizeof(*g));
	wfs_free(g);
	return rc;
}

int wfs_gossip_start(struct wfs_gossip *g)
{
	int rc;

	pthread_mutex_lock(&g->lock);
	if (g->started) {
		pthread_mutex_unlock(&g->lock);
		return -EALREADY;
	}
	g->started = true;
	ev_io_start(g->loop, &g->io);
	ev_async_start(g->loop, &g->wake);
	rc = -pthread_create(&g->thread, NULL, gossip_thread, g);
	if (rc == 0)
		g->running = true;
	else
		g->started = false;
	pthread_mutex_unlock(&g->lock);
	if (rc == 0)
		wfs_log_info(SUBSYS, "node %s: gossiping at %s", g->name,
			     g->addr);
	return rc;
}

const char *wfs_gossip_addr(const struct wfs_gossip *g)
{
	return g->addr;
}

/* Wake the gossip thread if it runs.  Lock held. */
static void wake_locked(struct wfs_gossip *g)
{
	if (g->running && !g->stopping)
		ev_async_send(g->loop, &g->wake);
}

int wfs_gossip_set_meta(struct wfs_gossip *g, const void *meta, size_t len)
{
	int rc;

	pthread_mutex_lock(&g->lock);
	rc = wfs_swim_set_meta(g->swim, meta, len);
	if (rc == 0)
		wake_locked(g);
	pthread_mutex_unlock(&g->lock);
	return rc;
}

int wfs_gossip_join(struct wfs_gossip *g, const char *const *seeds,
		    size_t nseeds)
{
	int rc;

	pthread_mutex_lock(&g->lock);
	rc = wfs_swim_join(g->swim, seeds, nseeds);
	if (rc == 0)
		wake_locked(g);
	pthread_mutex_unlock(&g->lock);
	return rc;
}

int wfs_gossip_members(struct wfs_gossip *g, struct wfs_swim_member **out,
		       size_t *n)
{
	int rc;

	pthread_mutex_lock(&g->lock);
	rc = wfs_swim_members(g->swim, out, n);
	pthread_mutex_unlock(&g->lock);
	return rc;
}

int wfs_gossip_leave(struct wfs_gossip *g, unsigned timeout_ms)
{
	uint64_t deadline = now_ms() + timeout_ms;
	const struct timespec tick = { 0, 10 * 1000 * 1000 };
	bool done;

	pthread_mutex_lock(&g->lock);
	if (!g->running || g->stopping) {
		pthread_mutex_unlock(&g->lock);
		return -ENOTCONN;
	}
	wfs_swim_leave(g->swim);
	wake_locked(g);
	pthread_mutex_unlock(&g->lock);
	for (;;) {
		pthread_mutex_lock(&g->lock);
		done = wfs_swim_leave_done(g->swim);
		pthread_mutex_unlock(&g->lock);
		if (done)
			return 0;
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		nanosleep(&tick, NULL);
	}
}

static uint64_t load(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

void wfs_gossip_stats(struct wfs_gossip *g, struct wfs_gossip_stats *out)
{
	const struct wfs_gossip_stats *st = &g->stats;

	out->rx_packets = load(&st->rx_packets);
	out->rx_malformed = load(&st->rx_malformed);
	out->rx_refused = load(&st->rx_refused);
	out->rx_bad_auth = load(&st->rx_bad_auth);
	out->rx_replay = load(&st->rx_replay);
	out->tx_packets = load(&st->tx_packets);
	out->tx_refused = load(&st->tx_refused);
	out->tx_errors = load(&st->tx_errors);
	out->hello_rx = load(&st->hello_rx);
	out->hello_tx = load(&st->hello_tx);
	pthread_mutex_lock(&g->lock);
	wfs_swim_stats(g->swim, &out->swim);
	pthread_mutex_unlock(&g->lock);
}

void wfs_gossip_stop(struct wfs_gossip *g)
{
	pthread_mutex_lock(&g->lock);
	if (!g->running) {
		pthread_mutex_unlock(&g->lock);
		return;
	}
	g->stopping = true;
	ev_async_send(g->loop, &g->wake);
	pthread_mutex_unlock(&g->lock);
	pthread_join(g->thread, NULL);
	pthread_mutex_lock(&g->lock);
	g->running = false;
	pthread_mutex_unlock(&g->lock);
	wfs_log_info(SUBSYS, "node %s: gossip stopped", g->name);
}

void wfs_gossip_free(struct wfs_gossip *g)
{
	if (!g)
		return;
	wfs_gossip_stop(g);
	ev_loop_destroy(g->loop);
	close(g->fd);
	wfs_swim_free(g->swim);
	for (size_t i = 0; i < g->npeers; i++)
		wfs_free(g->peers[i]);
	wfs_free(g->peers);
	wfs_free(g->events);
	pthread_mutex_destroy(&g->lock);
	sodium_memzero(g, sizeof(*g));
	wfs_free(g);
}
