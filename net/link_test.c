/* Unit tests for link: nets in one process talk over 127.0.0.1 (ephemeral
 * ports): messages, relays, relay pumps (run here by a poll loop on a
 * thread of their own, paired with relays the net runs), refused keys
 * (named, one line a minute per key however often it retries), garbage,
 * shutdown with links open.  Waits have a generous deadline only so a bug
 * fails the test instead of hanging it; nothing asserts on time. */
#include "net/link.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log/log.h"
#include "mem/mem.h"
#include "tests/unit.h"

#define WAIT_S 20
#define MAX_EVENTS 2048

struct msg {
	uint64_t link;
	uint8_t type;
	bool pk_ok;		/* the sender's key was the expected one */
	size_t len;
	uint8_t *data;
};

struct closed {
	uint64_t link;
	int reason;
	bool had_pk;
};

struct peer {
	uint8_t pk[32], sk[64];
	const uint8_t *admits[4];	/* keys this peer admits */
	int nadmits;
	const uint8_t *sender;		/* expected key of message senders */
	bool echo;			/* send every message back */
	struct wfs_net *net;
	char addr[WFS_NET_ADDR_MAX];

	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* protected by lock */
	int opened;
	uint64_t open_link;
	bool open_incoming;
	int nmsgs;
	struct msg msgs[MAX_EVENTS];
	int nclosed;
	struct closed closed[64];
	int relay_fd;
	uint64_t relay_link;
	uint8_t relay_hello[WFS_NET_RELAY_HELLO_MAX];
	size_t relay_hello_len;
	int ndone;
	int done_status;
	struct wfs_net_pump *pump;	/* the last one handed over */
};

static uint64_t rng;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int warns;
static char last_warn[512];
static enum wfs_log_level saved_level;

static void sink(enum wfs_log_level level, const char *sub, const char *line,
		 void *arg)
{
	(void)arg;
	if (getenv("WFS_TEST_LOG"))
		fprintf(stderr, "%s %s: %s\n", wfs_log_level_name(level), sub,
			line);
	if (level != WFS_LOG_WARN || strcmp(sub, "net") != 0)
		return;
	pthread_mutex_lock(&log_lock);
	warns++;
	snprintf(last_warn, sizeof(last_warn), "%s", line);
	pthread_mutex_unlock(&log_lock);
}

static int warn_count(void)
{
	int n;

	pthread_mutex_lock(&log_lock);
	n = warns;
	pthread_mutex_unlock(&log_lock);
	return n;
}

static void reset_warns(void)
{
	pthread_mutex_lock(&log_lock);
	warns = 0;
	last_warn[0] = '\0';
	pthread_mutex_unlock(&log_lock);
}

static int suite_init(void)
{
	rng = wfs_test_seed() ^ 0x6e6574;
	if (sodium_init() < 0)
		return -1;
	saved_level = wfs_log_threshold;
	if (saved_level < WFS_LOG_WARN)
		wfs_log_set_level(WFS_LOG_WARN);
	wfs_log_set_sink(sink, NULL);
	return 0;
}

static int suite_cleanup(void)
{
	wfs_log_set_sink(NULL, NULL);
	wfs_log_set_level(saved_level);
	return 0;
}

/* ---- callbacks (net thread) ---- */

static bool admit(void *arg, const uint8_t pk[32])
{
	struct peer *p = arg;

	for (int i = 0; i < p->nadmits; i++)
		if (memcmp(p->admits[i], pk, 32) == 0)
			return true;
	return false;
}

static void on_open(void *arg, uint64_t link, const uint8_t *pk,
		    bool incoming)
{
	struct peer *p = arg;

	(void)pk;
	pthread_mutex_lock(&p->lock);
	p->opened++;
	p->open_link = link;
	p->open_incoming = incoming;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static void on_msg(void *arg, uint64_t link, const uint8_t *pk, uint8_t type,
		   const void *buf, size_t len)
{
	struct peer *p = arg;
	struct msg *m;

	if (p->echo) {
		int rc = wfs_net_send(p->net, link, type, buf, len);

		/* -ESHUTDOWN: the test is freeing this net. */
		CU_ASSERT(rc == 0 || rc == -ESHUTDOWN);
	}
	pthread_mutex_lock(&p->lock);
	if (p->nmsgs < MAX_EVENTS) {
		m = &p->msgs[p->nmsgs++];
		m->link = link;
		m->type = type;
		m->pk_ok = !p->sender || memcmp(pk, p->sender, 32) == 0;
		m->len = len;
		m->data = wfs_memdup(buf, len ? len : 1);
	}
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static void on_close(void *arg, uint64_t link, const uint8_t *pk, int reason)
{
	struct peer *p = arg;

	pthread_mutex_lock(&p->lock);
	if (p->nclosed < 64)
		p->closed[p->nclosed++] = (struct closed){ link, reason,
							   pk != NULL };
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static void on_relay(void *arg, uint64_t link, const uint8_t *pk,
		     const void *hello, size_t len, int fd)
{
	struct peer *p = arg;

	(void)pk;
	pthread_mutex_lock(&p->lock);
	p->relay_fd = fd;
	p->relay_link = link;
	memcpy(p->relay_hello, hello, len);
	p->relay_hello_len = len;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static void on_done(void *arg, uint64_t link, const uint8_t *pk, int status)
{
	struct peer *p = arg;

	(void)link;
	CU_ASSERT((status == 0) == (pk != NULL));
	pthread_mutex_lock(&p->lock);
	p->ndone++;
	p->done_status = status;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

/* ---- fixture ---- */

static void peer_keys(struct peer *p)
{
	uint8_t seed[crypto_sign_SEEDBYTES];

	memset(p, 0, sizeof(*p));
	wfs_test_fill(&rng, seed, sizeof(seed));
	crypto_sign_seed_keypair(p->pk, p->sk, seed);
	p->relay_fd = -1;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
}

static int peer_start_on(struct peer *p, const char *listen,
			 unsigned handshake_ms)
{
	struct wfs_net_config cfg = {
		.listen = listen,
		.pk = p->pk,
		.sk = p->sk,
		.admit = admit,
		.admit_arg = p,
		.on_open = on_open,
		.on_msg = on_msg,
		.on_close = on_close,
		.arg = p,
		.handshake_ms = handshake_ms,
	};
	int rc = wfs_net_new(&cfg, &p->net);

	if (rc != 0)
		return rc;
	if (listen)
		CU_ASSERT_EQUAL(wfs_net_listen_addr(p->net, p->addr,
						    sizeof(p->addr)), 0);
	return wfs_net_start(p->net);
}

static void peer_start(struct peer *p)
{
	CU_ASSERT_EQUAL_FATAL(peer_start_on(p, "127.0.0.1:0", 0), 0);
}

static void peer_free(struct peer *p)
{
	wfs_net_free(p->net);
	p->net = NULL;
	for (int i = 0; i < p->nmsgs; i++)
		wfs_free(p->msgs[i].data);
	if (p->relay_fd >= 0)
		close(p->relay_fd);
	wfs_net_pump_free(p->pump);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
}

static void admits(struct peer *p, const struct peer *q)
{
	p->admits[p->nadmits++] = q->pk;
}

static void deadline(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += WAIT_S;
}

/* Wait until *@field (under p->lock) reaches @want.  Returns whether it
 * did before the deadline. */
static bool wait_count(struct peer *p, const int *field, int want)
{
	struct timespec ts;
	bool ok;

	deadline(&ts);
	pthread_mutex_lock(&p->lock);
	while (*field < want)
		if (pthread_cond_timedwait(&p->cond, &p->lock, &ts) != 0)
			break;
	ok = *field >= want;
	pthread_mutex_unlock(&p->lock);
	return ok;
}

/* Wait for @link to close on @p; returns its reason, or 1 if it did not. */
static int wait_closed(struct peer *p, uint64_t link)
{
	struct timespec ts;
	int reason = 1;

	deadline(&ts);
	pthread_mutex_lock(&p->lock);
	for (;;) {
		for (int i = 0; i < p->nclosed; i++)
			if (p->closed[i].link == link || link == 0)
				reason = p->closed[i].reason;
		if (reason != 1 ||
		    pthread_cond_timedwait(&p->cond, &p->lock, &ts) != 0)
			break;
	}
	pthread_mutex_unlock(&p->lock);
	return reason;
}

static int wait_relay_fd(struct peer *p)
{
	struct timespec ts;
	int fd;

	deadline(&ts);
	pthread_mutex_lock(&p->lock);
	while (p->relay_fd < 0)
		if (pthread_cond_timedwait(&p->cond, &p->lock, &ts) != 0)
			break;
	fd = p->relay_fd;
	p->relay_fd = -1;	/* the test owns it now */
	pthread_mutex_unlock(&p->lock);
	return fd;
}

/* Connect a plain TCP socket to @addr ("127.0.0.1:port"). */
static int raw_connect(const char *addr)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	const char *colon = strrchr(addr, ':');
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	CU_ASSERT_EQUAL(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* ---- tests ---- */

static void test_messages(void)
{
	static uint8_t big[WFS_NET_MSG_MAX];
	struct peer a, b;
	uint64_t link;

	reset_warns();
	peer_keys(&a);
	peer_keys(&b);
	admits(&a, &b);
	admits(&b, &a);
	a.echo = true;
	a.sender = b.pk;
	b.sender = a.pk;
	peer_start(&a);
	peer_start(&b);
	wfs_test_fill(&rng, big, sizeof(big));

	CU_ASSERT_EQUAL_FATAL(wfs_net_open(b.net, a.addr, a.pk, &link), 0);
	/* Queued before the link is open: sent once it is. */
	CU_ASSERT_EQUAL(wfs_net_send(b.net, link, WFS_NET_TYPE_CONTROL,
				     "ping", 4), 0);
	CU_ASSERT_EQUAL(wfs_net_send(b.net, link, WFS_NET_TYPE_CHUNK, "", 0),
			0);
	CU_ASSERT_EQUAL(wfs_net_send(b.net, link, WFS_NET_TYPE_CHUNK, big,
				     sizeof(big)), 0);
	CU_ASSERT_FATAL(wait_count(&b, &b.nmsgs, 3));
	CU_ASSERT_TRUE(wait_count(&a, &a.nmsgs, 3));

	pthread_mutex_lock(&b.lock);
	CU_ASSERT_EQUAL(b.opened, 1);
	CU_ASSERT_EQUAL(b.open_link, link);
	CU_ASSERT_FALSE(b.open_incoming);
	CU_ASSERT_EQUAL(b.msgs[0].type, WFS_NET_TYPE_CONTROL);
	CU_ASSERT_EQUAL(b.msgs[0].len, 4);
	CU_ASSERT_EQUAL(memcmp(b.msgs[0].data, "ping", 4), 0);
	CU_ASSERT_EQUAL(b.msgs[1].len, 0);
	CU_ASSERT_EQUAL(b.msgs[2].len, sizeof(big));
	CU_ASSERT_EQUAL(memcmp(b.msgs[2].data, big, sizeof(big)), 0);
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(b.msgs[i].link, link);
		CU_ASSERT_TRUE(b.msgs[i].pk_ok);
	}
	pthread_mutex_unlock(&b.lock);
	pthread_mutex_lock(&a.lock);
	CU_ASSERT_EQUAL(a.opened, 1);
	CU_ASSERT_TRUE(a.open_incoming);
	CU_ASSERT_TRUE(a.msgs[0].pk_ok);
	pthread_mutex_unlock(&a.lock);

	/* A thousand small ones keep their order. */
	for (uint32_t i = 0; i < 1000; i++)
		CU_ASSERT_EQUAL(wfs_net_send(b.net, link, WFS_NET_TYPE_CONTROL,
					     &i, sizeof(i)), 0);
	CU_ASSERT_FATAL(wait_count(&b, &b.nmsgs, 1003));
	pthread_mutex_lock(&b.lock);
	for (uint32_t i = 0; i < 1000; i++)
		CU_ASSERT_EQUAL(memcmp(b.msgs[3 + i].data, &i, 4), 0);
	pthread_mutex_unlock(&b.lock);

	/* b closes: b sees 0, a sees the peer go. */
	CU_ASSERT_EQUAL(wfs_net_close(b.net, link), 0);
	CU_ASSERT_EQUAL(wait_closed(&b, link), 0);
	CU_ASSERT_EQUAL(wait_closed(&a, 0), -ECONNRESET);
	/* A send on a closed link is dropped quietly. */
	CU_ASSERT_EQUAL(wfs_net_send(b.net, link, 3, "x", 1), 0);
	CU_ASSERT_EQUAL(warn_count(), 0);
	peer_free(&a);
	peer_free(&b);
}

struct writer {
	int fd;
	const uint8_t *buf;
	size_t len;
};

static void *write_all(void *arg)
{
	struct writer *w = arg;
	size_t off = 0;

	while (off < w->len) {
		ssize_t n = write(w->fd, w->buf + off, w->len - off);

		if (n <= 0)
			break;
		off += (size_t)n;
	}
	shutdown(w->fd, SHUT_WR);
	return NULL;
}

/* Read @fd to EOF into @buf (at most @cap bytes); returns the count. */
static size_t read_all(int fd, uint8_t *buf, size_t cap)
{
	size_t off = 0;

	for (;;) {
		ssize_t n = read(fd, buf + off, cap - off);

		if (n <= 0)
			break;
		off += (size_t)n;
		if (off == cap) {
			uint8_t extra;

			/* Must be at EOF now. */
			if (read(fd, &extra, 1) > 0)
				off++;
			break;
		}
	}
	return off;
}

static void test_relay(void)
{
	const size_t len = 8u << 20;
	uint8_t *out1 = wfs_malloc(len), *out2 = wfs_malloc(len);
	uint8_t *in1 = wfs_malloc(len), *in2 = wfs_malloc(len);
	struct writer w1, w2;
	pthread_t t1, t2;
	struct peer a, b;
	uint64_t link;
	int fa, fb;

	reset_warns();
	peer_keys(&a);
	peer_keys(&b);
	admits(&a, &b);
	admits(&b, &a);
	peer_start(&a);
	peer_start(&b);
	CU_ASSERT_EQUAL(wfs_net_relay_listen(a.net, WFS_NET_TYPE_RAFT,
					     on_relay, &a), 0);
	wfs_test_fill(&rng, out1, len);
	wfs_test_fill(&rng, out2, len);

	CU_ASSERT_EQUAL_FATAL(wfs_net_relay_open(b.net, a.addr, a.pk,
						 WFS_NET_TYPE_RAFT, "id 7", 4,
						 on_done, &b, &fb, &link), 0);
	fa = wait_relay_fd(&a);
	CU_ASSERT_FATAL(fa >= 0);
	CU_ASSERT_TRUE(wait_count(&b, &b.ndone, 1));
	CU_ASSERT_EQUAL(b.done_status, 0);
	CU_ASSERT_EQUAL(a.relay_hello_len, 4);
	CU_ASSERT_EQUAL(memcmp(a.relay_hello, "id 7", 4), 0);

	w1 = (struct writer){ fb, out1, len };
	w2 = (struct writer){ fa, out2, len };
	pthread_create(&t1, NULL, write_all, &w1);
	pthread_create(&t2, NULL, write_all, &w2);
	CU_ASSERT_EQUAL(read_all(fa, in1, len), len);
	CU_ASSERT_EQUAL(read_all(fb, in2, len), len);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	CU_ASSERT_EQUAL(memcmp(in1, out1, len), 0);
	CU_ASSERT_EQUAL(memcmp(in2, out2, len), 0);

	/* Both directions ended: the link closes cleanly on both sides. */
	CU_ASSERT_EQUAL(wait_closed(&b, link), 0);
	CU_ASSERT_EQUAL(wait_closed(&a, 0), 0);
	close(fa);
	close(fb);
	CU_ASSERT_EQUAL(warn_count(), 0);
	peer_free(&a);
	peer_free(&b);
	wfs_free(out1);
	wfs_free(out2);
	wfs_free(in1);
	wfs_free(in2);
}

/* A relay whose reader does not read must stop its writer, not buffer. */
static void test_relay_backpressure(void)
{
	const size_t cap = 64u << 20;
	uint8_t *out = wfs_malloc(cap), *in = wfs_malloc(cap);
	struct peer a, b;
	size_t total = 0;
	uint64_t link;
	int fa, fb;

	peer_keys(&a);
	peer_keys(&b);
	admits(&a, &b);
	admits(&b, &a);
	peer_start(&a);
	peer_start(&b);
	wfs_net_relay_listen(a.net, WFS_NET_TYPE_CHUNK, on_relay, &a);
	wfs_test_fill(&rng, out, cap);
	CU_ASSERT_EQUAL_FATAL(wfs_net_relay_open(b.net, a.addr, NULL,
						 WFS_NET_TYPE_CHUNK, NULL, 0,
						 NULL, NULL, &fb, &link), 0);
	fa = wait_relay_fd(&a);
	CU_ASSERT_FATAL(fa >= 0);
	fcntl(fb, F_SETFL, O_NONBLOCK);
	/* Write until the relay has taken nothing for a second. */
	for (;;) {
		struct pollfd pfd = { .fd = fb, .events = POLLOUT };
		ssize_t n;

		if (total == cap || poll(&pfd, 1, 1000) != 1)
			break;
		n = write(fb, out + total, cap - total < 65536 ? cap - total
							       : 65536);
		if (n > 0)
			total += (size_t)n;
	}
	/* Kernel buffers on both sockets plus about OUT_HIGH and a frame per
	 * side: far below what the writer would have written. */
	CU_ASSERT(total > 0);
	CU_ASSERT(total < 32u << 20);
	shutdown(fb, SHUT_WR);
	CU_ASSERT_EQUAL(read_all(fa, in, cap), total);
	CU_ASSERT_EQUAL(memcmp(in, out, total), 0);
	close(fa);
	close(fb);
	CU_ASSERT_EQUAL(wait_closed(&b, link), 0);
	peer_free(&a);
	peer_free(&b);
	wfs_free(out);
	wfs_free(in);
}

/* Whether the last warn line is the refusal of @pk, "from" or "to"
 * 127.0.0.1 as @dir says, with nothing after "closing". */
static bool warned_refusal(const uint8_t *pk, const char *dir)
{
	char hex[65], want[128];
	unsigned long long id;
	unsigned port;
	int end = 0;
	bool ok;

	sodium_bin2hex(hex, sizeof(hex), pk, 32);
	snprintf(want, sizeof(want), "link %%llu %s 127.0.0.1:%%u: unknown "
		 "peer key %s; closing%%n", dir, hex);
	pthread_mutex_lock(&log_lock);
	ok = sscanf(last_warn, want, &id, &port, &end) == 2 && end > 0 &&
	     last_warn[end] == '\0';
	pthread_mutex_unlock(&log_lock);
	return ok;
}

static void test_unknown_key(void)
{
	struct peer a, b, c, d;
	uint64_t link;

	reset_warns();
	peer_keys(&a);
	peer_keys(&b);
	peer_keys(&c);
	peer_keys(&d);
	admits(&a, &b);
	admits(&b, &a);
	admits(&c, &a);
	admits(&d, &a);
	a.echo = true;
	peer_start(&a);
	peer_start(&b);
	peer_start(&c);
	peer_start(&d);

	/* c proves a's key, but a does not know c: the line names c's key,
	 * as `wormctl node add` takes it. */
	CU_ASSERT_EQUAL_FATAL(wfs_net_open(c.net, a.addr, NULL, &link), 0);
	CU_ASSERT_EQUAL(wfs_net_send(c.net, link, 3, "let me in", 9), 0);
	CU_ASSERT_EQUAL(wait_closed(&a, 0), -EACCES);
	CU_ASSERT_EQUAL(wait_closed(&c, link), -ECONNRESET);
	CU_ASSERT_EQUAL(warn_count(), 1);
	CU_ASSERT_TRUE(warned_refusal(c.pk, "from"));
	CU_ASSERT_EQUAL(a.nmsgs, 0);
	CU_ASSERT_FALSE(a.closed[0].had_pk);

	/* c retries at once: refused each time, but a key gets one line a
	 * minute (the count of the rest is tested in keylimit_test.c). */
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL_FATAL(wfs_net_open(c.net, a.addr, NULL,
						   &link), 0);
		CU_ASSERT_EQUAL(wait_closed(&c, link), -ECONNRESET);
	}
	CU_ASSERT_TRUE(wait_count(&a, &a.nclosed, 4));
	CU_ASSERT_EQUAL(a.closed[3].reason, -EACCES);
	CU_ASSERT_EQUAL(warn_count(), 1);

	/* Another unknown key gets a line of its own. */
	CU_ASSERT_EQUAL_FATAL(wfs_net_open(d.net, a.addr, NULL, &link), 0);
	CU_ASSERT_EQUAL(wait_closed(&d, link), -ECONNRESET);
	CU_ASSERT_TRUE(wait_count(&a, &a.nclosed, 5));
	CU_ASSERT_EQUAL(warn_count(), 2);
	CU_ASSERT_TRUE(warned_refusal(d.pk, "from"));

	/* a carries on and takes a good peer. */
	CU_ASSERT_EQUAL_FATAL(wfs_net_open(b.net, a.addr, a.pk, &link), 0);
	CU_ASSERT_EQUAL(wfs_net_send(b.net, link, 3, "hi", 2), 0);
	CU_ASSERT_TRUE(wait_count(&b, &b.nmsgs, 1));
	CU_ASSERT_EQUAL(warn_count(), 2);

	/* Expecting another key than the one the peer proves: refused by
	 * the opener, whose line names the key the peer proved. */
	CU_ASSERT_EQUAL_FATAL(wfs_net_open(b.net, a.addr, c.pk, &link), 0);
	CU_ASSERT_EQUAL(wait_closed(&b, link), -EACCES);
	CU_ASSERT_EQUAL(warn_count(), 3);
	CU_ASSERT_TRUE(warned_refusal(a.pk, "to"));
	peer_free(&a);
	peer_free(&b);
	peer_free(&c);
	peer_free(&d);
}

static void test_garbage(void)
{
	uint8_t junk[256], hello[40] = "WFSN\1";
	struct peer a, b, slow;
	uint64_t link;
	int fd;

	reset_warns();
	peer_keys(&a);
	peer_keys(&b);
	admits(&a, &b);
	admits(&b, &a);
	a.echo = true;
	peer_start(&a);
	peer_start(&b);

	/* Not our protocol at all. */
	fd = raw_connect(a.addr);
	CU_ASSERT_EQUAL(write(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
				  "..............", 40), 40);
	CU_ASSERT_EQUAL(wait_closed(&a, 0), -EPROTO);
	CU_ASSERT_EQUAL(warn_count(), 1);
	close(fd);

	/* A well-formed hello, then random frames. */
	fd = raw_connect(a.addr);
	wfs_test_fill(&rng, hello + 8, 32);
	wfs_test_fill(&rng, junk, sizeof(junk));
	junk[0] = junk[1] = junk[2] = 0;
	junk[3] = 100;
	CU_ASSERT_EQUAL(write(fd, hello, sizeof(hello)), 40);
	CU_ASSERT_EQUAL(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	CU_ASSERT_TRUE(wait_count(&a, &a.nclosed, 2));
	CU_ASSERT_EQUAL(a.closed[1].reason, -EBADMSG);
	CU_ASSERT_EQUAL(warn_count(), 2);
	close(fd);

	/* Still serving. */
	CU_ASSERT_EQUAL_FATAL(wfs_net_open(b.net, a.addr, a.pk, &link), 0);
	CU_ASSERT_EQUAL(wfs_net_send(b.net, link, 3, "still there?", 12), 0);
	CU_ASSERT_TRUE(wait_count(&b, &b.nmsgs, 1));
	CU_ASSERT_EQUAL(warn_count(), 2);

	/* A connection that says nothing is dropped at the deadline. */
	peer_keys(&slow);
	CU_ASSERT_EQUAL_FATAL(peer_start_on(&slow, "127.0.0.1:0", 200), 0);
	fd = raw_connect(slow.addr);
	CU_ASSERT_EQUAL(wait_closed(&slow, 0), -ETIMEDOUT);
	CU_ASSERT_EQUAL(warn_count(), 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(last_warn, "handshake timed out"));
	close(fd);
	peer_free(&slow);
	peer_free(&a);
	peer_free(&b);
}

static void test_refused(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	char addr[64];
	struct peer b;
	uint64_t link;
	uint8_t byte;
	int s, fd;

	/* A port nobody listens on: bind one, note it, close it. */
	s = socket(AF_INET, SOCK_STREAM, 0);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	CU_ASSERT_EQUAL_FATAL(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	getsockname(s, (struct sockaddr *)&sa, &len);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(sa.sin_port));
	close(s);

	peer_keys(&b);
	CU_ASSERT_EQUAL_FATAL(peer_start_on(&b, NULL, 0), 0);
	CU_ASSERT_EQUAL(wfs_net_listen_addr(b.net, addr + 32, 32), -ENOTCONN);
	CU_ASSERT_EQUAL_FATAL(wfs_net_open(b.net, addr, NULL, &link), 0);
	CU_ASSERT_EQUAL(wait_closed(&b, link), -ECONNREFUSED);
	CU_ASSERT_EQUAL_FATAL(wfs_net_relay_open(b.net, addr, NULL, 1, "h", 1,
						 on_done, &b, &fd, &link), 0);
	CU_ASSERT_TRUE(wait_count(&b, &b.ndone, 1));
	CU_ASSERT_EQUAL(b.done_status, -ECONNREFUSED);
	CU_ASSERT_EQUAL(read(fd, &byte, 1), 0);	/* the relay is cut */
	close(fd);
	peer_free(&b);
}

static void test_bad_arguments(void)
{
	static const char *bad[] = {
		"127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
		"127.0.0.1:80x", "::1:80", "[::1]80", "[127.0.0.1]:80",
		"localhost:80", ":80", "[]:80", "",
	};
	uint8_t big[16] = { 0 };
	struct peer p;
	uint64_t link;
	int fd;

	peer_keys(&p);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct wfs_net_config cfg = { .listen = bad[i], .pk = p.pk,
					      .sk = p.sk, .admit = admit };
		struct wfs_net *net;

		CU_ASSERT_EQUAL(wfs_net_new(&cfg, &net), -EINVAL);
	}
	CU_ASSERT_EQUAL_FATAL(peer_start_on(&p, NULL, 0), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_EQUAL(wfs_net_open(p.net, bad[i], NULL, &link),
				-EINVAL);
	CU_ASSERT_EQUAL(wfs_net_send(p.net, 1, 0, big, 1), -EINVAL);
	CU_ASSERT_EQUAL(wfs_net_send(p.net, 1, 128, big, 1), -EINVAL);
	CU_ASSERT_EQUAL(wfs_net_send(p.net, 1, 3, big, WFS_NET_MSG_MAX + 1),
			-EMSGSIZE);
	CU_ASSERT_EQUAL(wfs_net_relay_open(p.net, "127.0.0.1:1", NULL, 1, big,
					   WFS_NET_RELAY_HELLO_MAX + 1, NULL,
					   NULL, &fd, &link), -EMSGSIZE);
	CU_ASSERT_EQUAL(wfs_net_relay_listen(p.net, 200, on_relay, &p),
			-EINVAL);
	CU_ASSERT_EQUAL(wfs_net_start(p.net), -EALREADY);
	wfs_net_stop(p.net);
	wfs_net_stop(p.net);
	CU_ASSERT_EQUAL(wfs_net_send(p.net, 1, 3, big, 1), -ESHUTDOWN);
	CU_ASSERT_EQUAL(wfs_net_open(p.net, "127.0.0.1:1", NULL, &link),
			-ESHUTDOWN);
	CU_ASSERT_EQUAL(wfs_net_close(p.net, 1), -ESHUTDOWN);
	CU_ASSERT_EQUAL(wfs_net_relay_open(p.net, "127.0.0.1:1", NULL, 1, "h",
					   1, NULL, NULL, &fd, &link),
			-ESHUTDOWN);
	peer_free(&p);

	/* A port another net listens on. */
	peer_keys(&p);
	peer_start(&p);
	{
		struct wfs_net_config cfg = { .listen = p.addr, .pk = p.pk,
					      .sk = p.sk, .admit = admit };
		struct wfs_net *net;

		CU_ASSERT_EQUAL(wfs_net_new(&cfg, &net), -EADDRINUSE);
		cfg.admit = NULL;
		CU_ASSERT_EQUAL(wfs_net_new(&cfg, &net), -EINVAL);
	}
	peer_free(&p);
}

/* A net freed without ever starting still answers what was queued. */
static void test_never_started(void)
{
	struct wfs_net_config cfg = { 0 };
	struct peer p;
	uint64_t link;
	int fd;

	peer_keys(&p);
	cfg.pk = p.pk;
	cfg.sk = p.sk;
	cfg.admit = admit;
	cfg.admit_arg = &p;
	cfg.on_close = on_close;
	cfg.arg = &p;
	CU_ASSERT_EQUAL_FATAL(wfs_net_new(&cfg, &p.net), 0);
	CU_ASSERT_EQUAL(wfs_net_open(p.net, "127.0.0.1:1", NULL, &link), 0);
	CU_ASSERT_EQUAL(wfs_net_send(p.net, link, 3, "x", 1), 0);
	CU_ASSERT_EQUAL(wfs_net_relay_open(p.net, "127.0.0.1:1", NULL, 1, "h",
					   1, on_done, &p, &fd, &link), 0);
	wfs_net_free(p.net);
	p.net = NULL;
	CU_ASSERT_EQUAL(p.ndone, 1);
	CU_ASSERT_EQUAL(p.done_status, -ECANCELED);
	CU_ASSERT_EQUAL(p.nclosed, 2);
	close(fd);
	peer_free(&p);
}

/* Stop with links open, a relay among them: every link is closed with
 * -ECANCELED and nothing leaks (SAN=1). */
static void test_shutdown_with_links(void)
{
	struct peer a, b;
	uint64_t l1, l2;
	int fa, fb;

	peer_keys(&a);
	peer_keys(&b);
	admits(&a, &b);
	admits(&b, &a);
	a.echo = true;
	peer_start(&a);
	peer_start(&b);
	wfs_net_relay_listen(a.net, WFS_NET_TYPE_RAFT, on_relay, &a);
	CU_ASSERT_EQUAL_FATAL(wfs_net_open(b.net, a.addr, NULL, &l1), 0);
	CU_ASSERT_EQUAL_FATAL(wfs_net_relay_open(b.net, a.addr, NULL, 1, "r",
						 1, NULL, NULL, &fb, &l2), 0);
	fa = wait_relay_fd(&a);
	CU_ASSERT_FATAL(fa >= 0);
	CU_ASSERT_EQUAL(write(fb, "in flight", 9), 9);
	/* Messages in flight as the nets go. */
	for (int i = 0; i < 100; i++)
		wfs_net_send(b.net, l1, 3, "bye", 3);
	CU_ASSERT_TRUE(wait_count(&b, &b.opened, 2));
	wfs_net_free(b.net);
	b.net = NULL;
	CU_ASSERT_EQUAL(b.nclosed, 2);
	for (int i = 0; i < b.nclosed; i++)
		CU_ASSERT_EQUAL(b.closed[i].reason, -ECANCELED);
	wfs_net_free(a.net);
	a.net = NULL;
	CU_ASSERT_EQUAL(a.nclosed, 2);
	close(fa);
	close(fb);
	peer_free(&a);
	peer_free(&b);
}

/* ---- relay pumps ---- */

/* Runs one pump on a thread of its own, as raft's loop does, until it is
 * over (or, so a bug fails instead of hanging, nothing moved for WAIT_S). */
struct pumper {
	struct wfs_net_pump *pump;
	pthread_t thread;
	int result;
};

static short poll_events(unsigned want, unsigned rd, unsigned wr)
{
	return (short)((want & rd ? POLLIN : 0) | (want & wr ? POLLOUT : 0));
}

static unsigned ready_bits(short revents, unsigned rd, unsigned wr)
{
	return (revents & (POLLIN | POLLHUP | POLLERR) ? rd : 0) |
	       (revents & POLLOUT ? wr : 0);
}

static void *pump_main(void *arg)
{
	struct pumper *pu = arg;
	struct pollfd pfd[2];
	unsigned want;
	int rc;

	wfs_net_pump_fds(pu->pump, &pfd[0].fd, &pfd[1].fd);
	rc = wfs_net_pump_run(pu->pump, 0, &want);
	while (rc == 0) {
		pfd[0].events = poll_events(want, WFS_NET_PUMP_SOCK_RD,
					    WFS_NET_PUMP_SOCK_WR);
		pfd[1].events = poll_events(want, WFS_NET_PUMP_FD_RD,
					    WFS_NET_PUMP_FD_WR);
		if (poll(pfd, 2, WAIT_S * 1000) <= 0) {
			rc = -ETIMEDOUT;
			break;
		}
		rc = wfs_net_pump_run(
			pu->pump,
			ready_bits(pfd[0].revents, WFS_NET_PUMP_SOCK_RD,
				   WFS_NET_PUMP_SOCK_WR) |
				ready_bits(pfd[1].revents, WFS_NET_PUMP_FD_RD,
					   WFS_NET_PUMP_FD_WR),
			&want);
	}
	pu->result = rc;
	return NULL;
}

static void pumper_start(struct pumper *pu, struct wfs_net_pump *pump)
{
	pu->pump = pump;
	pu->result = 1000;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&pu->thread, NULL, pump_main, pu),
			      0);
}

/* Join the pump's thread, free the pump; returns what the pump ended
 * with. */
static int pumper_end(struct pumper *pu)
{
	pthread_join(pu->thread, NULL);
	wfs_net_pump_free(pu->pump);
	pu->pump = NULL;
	return pu->result;
}

static void on_pump_done(void *arg, uint64_t link, const uint8_t *pk,
			 struct wfs_net_pump *pump, int status)
{
	struct peer *p = arg;

	(void)link;
	CU_ASSERT((status == 0) == (pk != NULL));
	CU_ASSERT((status == 0) == (pump != NULL));
	pthread_mutex_lock(&p->lock);
	p->ndone++;
	p->done_status = status;
	p->pump = pump;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static void on_relay_pump(void *arg, uint64_t link, const uint8_t *pk,
			  const void *hello, size_t len, int fd,
			  struct wfs_net_pump *pump)
{
	struct peer *p = arg;

	CU_ASSERT_PTR_NOT_NULL(pump);
	pthread_mutex_lock(&p->lock);
	p->pump = pump;
	pthread_mutex_unlock(&p->lock);
	on_relay(arg, link, pk, hello, len, fd);
}

/* The pump @p got (a relay's done or arrival callback ran). */
static struct wfs_net_pump *take_pump(struct peer *p)
{
	struct wfs_net_pump *pump;

	pthread_mutex_lock(&p->lock);
	pump = p->pump;
	p->pump = NULL;
	pthread_mutex_unlock(&p->lock);
	return pump;
}

/* b opens a relay to a, as a pump or run by b's net, and a takes it as a
 * pump or as a plain relay; @len random bytes go each way, then both
 * sides end and the relay closes cleanly. */
static void relay_round(bool open_pump, bool listen_pump, size_t len)
{
	uint8_t *out1 = wfs_malloc(len), *out2 = wfs_malloc(len);
	uint8_t *in1 = wfs_malloc(len), *in2 = wfs_malloc(len);
	struct pumper pa = { 0 }, pb = { 0 };
	struct writer w1, w2;
	pthread_t t1, t2;
	struct peer a, b;
	uint64_t link;
	int fa, fb, rc;

	reset_warns();
	peer_keys(&a);
	peer_keys(&b);
	admits(&a, &b);
	admits(&b, &a);
	peer_start(&a);
	peer_start(&b);
	rc = listen_pump ? wfs_net_relay_listen_pump(a.net, WFS_NET_TYPE_RAFT,
						      on_relay_pump, &a)
			 : wfs_net_relay_listen(a.net, WFS_NET_TYPE_RAFT,
						on_relay, &a);
	CU_ASSERT_EQUAL(rc, 0);
	wfs_test_fill(&rng, out1, len);
	wfs_test_fill(&rng, out2, len);
	rc = open_pump ? wfs_net_relay_open_pump(b.net, a.addr, a.pk,
						 WFS_NET_TYPE_RAFT, "id 9", 4,
						 on_pump_done, &b, &fb, &link)
		       : wfs_net_relay_open(b.net, a.addr, a.pk,
					    WFS_NET_TYPE_RAFT, "id 9", 4,
					    on_done, &b, &fb, &link);
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	/* Written before the link is open: waits in the socket. */
	CU_ASSERT_EQUAL(write(fb, out1, 1), 1);
	CU_ASSERT_TRUE_FATAL(wait_count(&b, &b.ndone, 1));
	CU_ASSERT_EQUAL_FATAL(b.done_status, 0);
	/* The hello waits in b's pump until it first runs. */
	if (open_pump)
		pumper_start(&pb, take_pump(&b));
	fa = wait_relay_fd(&a);
	CU_ASSERT_FATAL(fa >= 0);
	CU_ASSERT_EQUAL(a.relay_hello_len, 4);
	CU_ASSERT_EQUAL(memcmp(a.relay_hello, "id 9", 4), 0);
	if (listen_pump)
		pumper_start(&pa, take_pump(&a));

	w1 = (struct writer){ fb, out1 + 1, len - 1 };
	w2 = (struct writer){ fa, out2, len };
	pthread_create(&t1, NULL, write_all, &w1);
	pthread_create(&t2, NULL, write_all, &w2);
	CU_ASSERT_EQUAL(read_all(fa, in1, len), len);
	CU_ASSERT_EQUAL(read_all(fb, in2, len), len);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	CU_ASSERT_EQUAL(memcmp(in1, out1, len), 0);
	CU_ASSERT_EQUAL(memcmp(in2, out2, len), 0);

	/* Both directions ended: over cleanly on both sides.  A pump's link
	 * left its net with reason 0 as it was handed over. */
	if (open_pump) {
		CU_ASSERT_EQUAL(pumper_end(&pb), 1);
	}
	if (listen_pump) {
		CU_ASSERT_EQUAL(pumper_end(&pa), 1);
	}
	CU_ASSERT_EQUAL(wait_closed(&b, link), 0);
	CU_ASSERT_EQUAL(wait_closed(&a, 0), 0);
	close(fa);
	close(fb);
	CU_ASSERT_EQUAL(warn_count(), 0);
	peer_free(&a);
	peer_free(&b);
	wfs_free(out1);
	wfs_free(out2);
	wfs_free(in1);
	wfs_free(in2);
}

/* Pumps speak the protocol of relays the net runs (the wire is the same):
 * every pairing, so a node with pumps works with one without. */
static void test_pumps(void)
{
	relay_round(true, true, 4u << 20);
	relay_round(true, false, 1u << 20);
	relay_round(false, true, 1u << 20);
}

/* A pumped relay whose reader does not read stops its writer too. */
static void test_pump_backpressure(void)
{
	const size_t cap = 64u << 20;
	uint8_t *out = wfs_malloc(cap), *in = wfs_malloc(cap);
	struct pumper pb = { 0 };
	struct peer a, b;
	size_t total = 0;
	uint64_t link;
	int fa, fb;

	peer_keys(&a);
	peer_keys(&b);
	admits(&a, &b);
	admits(&b, &a);
	peer_start(&a);
	peer_start(&b);
	wfs_net_relay_listen(a.net, WFS_NET_TYPE_CHUNK, on_relay, &a);
	wfs_test_fill(&rng, out, cap);
	CU_ASSERT_EQUAL_FATAL(wfs_net_relay_open_pump(b.net, a.addr, NULL,
						      WFS_NET_TYPE_CHUNK, NULL,
						      0, on_pump_done, &b,
						      &fb, &link), 0);
	CU_ASSERT_TRUE_FATAL(wait_count(&b, &b.ndone, 1));
	pumper_start(&pb, take_pump(&b));
	fa = wait_relay_fd(&a);
	CU_ASSERT_FATAL(fa >= 0);
	fcntl(fb, F_SETFL, O_NONBLOCK);
	for (;;) {
		struct pollfd pfd = { .fd = fb, .events = POLLOUT };
		ssize_t n;

		if (total == cap || poll(&pfd, 1, 1000) != 1)
			break;
		n = write(fb, out + total, cap - total < 65536 ? cap - total
							       : 65536);
		if (n > 0)
			total += (size_t)n;
	}
	CU_ASSERT(total > 0);
	CU_ASSERT(total < 32u << 20);
	shutdown(fb, SHUT_WR);
	CU_ASSERT_EQUAL(read_all(fa, in, cap), total);
	CU_ASSERT_EQUAL(memcmp(in, out, total), 0);
	close(fa);
	CU_ASSERT_EQUAL(pumper_end(&pb), 1);
	close(fb);
	peer_free(&a);
	peer_free(&b);
	wfs_free(out);
	wfs_free(in);
}

/* How pumps end when things go wrong, and what their callers see. */
static void test_pump_failures(void)
{
	struct pumper pb = { 0 };
	struct peer a, b;
	uint64_t link;
	uint8_t byte;
	int fa, fb;

	reset_warns();
	peer_keys(&a);
	peer_keys(&b);
	admits(&a, &b);
	admits(&b, &a);
	peer_start(&a);
	peer_start(&b);
	CU_ASSERT_EQUAL(wfs_net_relay_listen_pump(a.net, WFS_NET_TYPE_RAFT,
						  on_relay_pump, &a), 0);

	/* One side's pump goes (its node died): the other's ends with
	 * -ECONNRESET, and each user reads EOF once its pump is freed. */
	CU_ASSERT_EQUAL_FATAL(wfs_net_relay_open_pump(b.net, a.addr, NULL,
						      WFS_NET_TYPE_RAFT, "x",
						      1, on_pump_done, &b,
						      &fb, &link), 0);
	CU_ASSERT_TRUE_FATAL(wait_count(&b, &b.ndone, 1));
	pumper_start(&pb, take_pump(&b));
	fa = wait_relay_fd(&a);
	CU_ASSERT_FATAL(fa >= 0);
	wfs_net_pump_free(take_pump(&a));
	CU_ASSERT_EQUAL(read(fa, &byte, 1), 0);
	CU_ASSERT_EQUAL(pumper_end(&pb), -ECONNRESET);
	CU_ASSERT_EQUAL(read(fb, &byte, 1), 0);
	close(fa);
	close(fb);
	CU_ASSERT_EQUAL(warn_count(), 0);

	/* A message on a relay link (a plain relay allows it; a pump does
	 * not take it): the pump ends with -EPROTO, said once. */
	CU_ASSERT_EQUAL_FATAL(wfs_net_relay_open(b.net, a.addr, NULL,
						 WFS_NET_TYPE_RAFT, "y", 1,
						 NULL, NULL, &fb, &link), 0);
	fa = wait_relay_fd(&a);
	CU_ASSERT_FATAL(fa >= 0);
	CU_ASSERT_EQUAL(wfs_net_send(b.net, link, 3, "hi", 2), 0);
	pumper_start(&pb, take_pump(&a));
	CU_ASSERT_EQUAL(pumper_end(&pb), -EPROTO);
	CU_ASSERT_EQUAL(warn_count(), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(last_warn, "malformed relay frame"));
	CU_ASSERT_EQUAL(read(fa, &byte, 1), 0);
	CU_ASSERT_EQUAL(wait_closed(&b, link), -ECONNRESET);
	close(fa);
	close(fb);
	peer_free(&a);

	/* A relay that never opens: the done callback says why, no pump. */
	b.ndone = 0;
	CU_ASSERT_EQUAL_FATAL(wfs_net_relay_open_pump(b.net, a.addr, NULL,
						      WFS_NET_TYPE_RAFT, "z",
						      1, on_pump_done, &b,
						      &fb, &link), 0);
	CU_ASSERT_TRUE(wait_count(&b, &b.ndone, 1));
	CU_ASSERT_EQUAL(b.done_status, -ECONNREFUSED);
	CU_ASSERT_EQUAL(read(fb, &byte, 1), 0);
	close(fb);
	CU_ASSERT_EQUAL(wfs_net_relay_open_pump(b.net, a.addr, NULL, 1, "z",
						1, NULL, NULL, &fb, &link),
			-EINVAL);
	CU_ASSERT_EQUAL(wfs_net_relay_listen_pump(b.net, 200, on_relay_pump,
						  &b), -EINVAL);
	peer_free(&b);

	/* A net freed before the relay could open cancels it. */
	peer_keys(&b);
	b.net = NULL;
	{
		struct wfs_net_config cfg = { .pk = b.pk, .sk = b.sk,
					      .admit = admit,
					      .admit_arg = &b };

		CU_ASSERT_EQUAL_FATAL(wfs_net_new(&cfg, &b.net), 0);
	}
	CU_ASSERT_EQUAL(wfs_net_relay_open_pump(b.net, "127.0.0.1:1", NULL, 1,
						"h", 1, on_pump_done, &b, &fb,
						&link), 0);
	wfs_net_free(b.net);
	b.net = NULL;
	CU_ASSERT_EQUAL(b.ndone, 1);
	CU_ASSERT_EQUAL(b.done_status, -ECANCELED);
	close(fb);
	peer_free(&b);
}

static void test_ipv6(void)
{
	struct peer a, b;
	uint64_t link;
	int rc;

	peer_keys(&a);
	peer_keys(&b);
	admits(&a, &b);
	admits(&b, &a);
	a.echo = true;
	rc = peer_start_on(&a, "[::1]:0", 0);
	if (rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT) {
		/* No IPv6 loopback in this sandbox: nothing to test. */
		fprintf(stderr, "(no ::1 here: %s) ", strerror(-rc));
		peer_free(&a);
		peer_free(&b);
		return;
	}
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_EQUAL(strncmp(a.addr, "[::1]:", 6), 0);
	CU_ASSERT_EQUAL_FATAL(peer_start_on(&b, NULL, 0), 0);
	CU_ASSERT_EQUAL_FATAL(wfs_net_open(b.net, a.addr, a.pk, &link), 0);
	CU_ASSERT_EQUAL(wfs_net_send(b.net, link, 3, "v6", 2), 0);
	CU_ASSERT_TRUE(wait_count(&b, &b.nmsgs, 1));
	peer_free(&a);
	peer_free(&b);
}

static CU_TestInfo link_tests[] = {
	{ "messages both ways", test_messages },
	{ "relay 8 MiB both ways", test_relay },
	{ "relay backpressure", test_relay_backpressure },
	{ "unknown key refused, net carries on", test_unknown_key },
	{ "garbage and silent connections dropped", test_garbage },
	{ "connection refused", test_refused },
	{ "bad arguments", test_bad_arguments },
	{ "never started", test_never_started },
	{ "shutdown with links open", test_shutdown_with_links },
	{ "ipv6 loopback", test_ipv6 },
	{ "relay pumps, with and without", test_pumps },
	{ "relay pump backpressure", test_pump_backpressure },
	{ "relay pump failures", test_pump_failures },
	CU_TEST_INFO_NULL,
};

WFS_TEST_SUITE("link", link_tests, suite_init, suite_cleanup)
