/* link: secchan links over TCP on a libev loop (see link.h).
 *
 * Not for: what messages mean (the users of each channel type), who is
 * admitted (the owner's admit callback), or the cryptography (secchan.c).
 *
 * Wire format.  Inside the secchan, every frame is one message:
 *	0   1	type: 1..127 a user's channel (the rest is the message,
 *		delivered to on_msg), or one of the link's own:
 *		0x80 relay hello: 1 byte channel type, then the opener's
 *		     hello bytes (at most WFS_NET_RELAY_HELLO_MAX); only as
 *		     the first message of a link, from the side that
 *		     connected
 *		0x81 relay data: bytes for the peer's relay socket
 *		0x82 relay end: the sender's relay socket reached EOF; no
 *		     relay data follows it (exactly 1 byte long)
 *	Anything else (type 0, other types, an empty frame, relay frames
 *	out of place) is malformed and ends the link.  New types may be
 *	added; a node that does not know one ends the link, so a new type is
 *	only sent to nodes known to speak it.
 *
 * Threads: everything below the public functions runs on the net thread,
 * except queue_cmd() and the public functions themselves, which only touch
 * net->lock's fields and wake the loop.
 *
 * Flow control.  A link's secchan output holds what the kernel did not take
 * yet.  While it holds more than WFS_NET_OUT_HIGH bytes, the link stops
 * sealing queued messages and stops reading its relay socket; while the
 * relay socket cannot take what arrived (to_fd not empty), it stops reading
 * the TCP socket.  So a relay holds at most about WFS_NET_OUT_HIGH + one
 * frame in memory per direction, and a slow reader slows the writer down
 * instead.  A pump (relay.c) keeps the same rules.
 *
 * Lifetime.  A link is freed only from the loop's prepare watcher (reap), so
 * a handler may close it and still look at its fields on the way out:
 * every handler checks l->closed after anything that may close the link.
 *
 * Relays.  The relay protocol itself (relay data and relay end, to and
 * from the relay socket, struct wfs_relay and the wfs_relay_* functions)
 * is in relay.c; this file runs it for a relay link from the net thread's
 * watchers, and hands relays to their users.
 *
 * Pumps.  A relay opened or taken as a pump leaves the net as soon as it
 * can carry bytes (the opener: once open, its hello sealed; the acceptor:
 * at the hello): link_detach moves its socket, channel and relay state
 * into a struct wfs_net_pump (relay.c) and closes the link without
 * touching them.  From then on its owner runs it (wfs_net_pump_run) with
 * the very relay functions the net uses, so the frames, the flow control
 * and the ends are the same either way.
 */
#include "net/link.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log/log.h"
#include "mem/mem.h"
#include "net/keylimit_internal.h"
#include "net/link_internal.h"

#define SUB "net"
#define DEFAULT_HANDSHAKE_MS 5000
/* How long the listener rests after running out of file descriptors. */
#define ACCEPT_PAUSE_S 1.0
/* Incoming connections still handshaking, beyond which new ones are
 * dropped at once: a flood of idle connections costs each of them up to
 * the handshake time, and must not cost unbounded memory. */
#define MAX_HANDSHAKING 256

enum cmd_kind {
	CMD_OPEN,
	CMD_SEND,
	CMD_CLOSE,
};

/* One queued call.  OPEN and SEND carry bytes in data[]: the message, or
 * the relay hello. */
struct cmd {
	struct cmd *next;
	enum cmd_kind kind;
	uint64_t link;
	/* OPEN */
	struct sockaddr_storage sa;
	socklen_t salen;
	char addr[WFS_NET_ADDR_MAX];
	bool has_expect;
	uint8_t expect[WFS_SECCHAN_PK_LEN];
	int fd;			/* relay: the net's socket, else -1 */
	wfs_net_done_cb done;	/* relay: at most one of the two */
	wfs_net_pump_open_cb pump_done;
	void *done_arg;
	/* SEND: the message type; OPEN of a relay: the channel type */
	uint8_t type;
	size_t len;
	uint8_t data[];
};

struct link {
	struct link *prev, *next;	/* net->links, or net->dead (next) */
	struct wfs_net *net;
	uint64_t id;
	char addr[WFS_NET_ADDR_MAX];	/* the peer's, for log lines */
	bool incoming;
	bool connecting;	/* TCP connect under way */
	bool open;		/* handshake done: peer[] is valid */
	bool closing;		/* wfs_net_close: close once flushed */
	bool closed;		/* sockets closed, callbacks called */
	bool has_expect;
	uint8_t expect[WFS_SECCHAN_PK_LEN];
	uint8_t peer[WFS_SECCHAN_PK_LEN];
	bool refused;		/* our admit refused refused_pk[] */
	uint8_t refused_pk[WFS_SECCHAN_PK_LEN];
	int sock;
	struct wfs_secchan *ch;
	ev_io sock_rd, sock_wr;
	ev_timer timer;		/* handshake deadline, then close linger */
	struct cmd *pending, **pending_tail;	/* SENDs not yet sealed */
	uint64_t frames_in;
	/* relay opener's, until called: one or the other */
	wfs_net_done_cb done;
	wfs_net_pump_open_cb pump_done;
	void *done_arg;

	/* relay */
	struct wfs_relay r;		/* r.fd -1: not a relay */
	struct cmd *hello;	/* opener: the OPEN, until its hello is sent */
	ev_io fd_rd, fd_wr;
};

/* Who takes relays of one channel type: at most one of the two. */
struct relay_reg {
	wfs_net_relay_cb cb;
	wfs_net_pump_cb pump_cb;
	void *arg;
};

struct wfs_net {
	/* Set by wfs_net_new, then read-only. */
	uint8_t pk[WFS_SECCHAN_PK_LEN];
	uint8_t sk[WFS_SECCHAN_SK_LEN];
	wfs_secchan_admit_cb admit;
	void *admit_arg;
	wfs_net_open_cb on_open;
	wfs_net_msg_cb on_msg;
	wfs_net_close_cb on_close;
	void *arg;
	double handshake_s;
	int listen_fd;		/* -1: none */
	char listen_addr[WFS_NET_ADDR_MAX];
	struct ev_loop *loop;
	pthread_t thread;

	pthread_mutex_t lock;
	/* protected by lock */
	bool started;
	bool stopping;
	bool joined;
	struct cmd *queue, **queue_tail;
	size_t queued;		/* SEND bytes queued, not yet sealed */
	uint64_t next_id;

	/* Recursive: held while a relay callback runs, so unregistering
	 * waits for it (and the callback itself may register). */
	pthread_mutex_t relay_lock;
	struct relay_reg relays[WFS_NET_TYPE_MAX + 1];	/* by relay_lock */

	/* net thread only (and wfs_net_new/free while no thread runs) */
	ev_async wake;
	ev_prepare reap;
	ev_io accept_io;
	ev_timer accept_pause;
	struct link links;	/* list head */
	struct link *dead;	/* closed, freed at the next reap */
	unsigned handshaking;	/* incoming links not yet open */
	struct wfs_keylimit refusals;	/* which refused keys get a line */
	uint8_t rbuf[WFS_NET_READ_CHUNK];
};

static void flush_out(struct link *l);
static void pump_in(struct link *l);

/* ---- addresses ---- */

/* Parse "a.b.c.d:port" or "[ipv6]:port". */
static int parse_addr(const char *s, struct sockaddr_storage *ss,
		      socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	const char *host = s, *port;
	char buf[INET6_ADDRSTRLEN];
	size_t hl;
	char *end;
	unsigned long p;

	if (!s)
		return -EINVAL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		host = s + 1;
		hl = (size_t)(close - host);
		port = close + 2;
	} else {
		const char *colon = strchr(s, ':');

		if (!colon || strchr(colon + 1, ':'))
			return -EINVAL;
		hl = (size_t)(colon - s);
		port = colon + 1;
	}
	if (hl == 0 || hl >= sizeof(buf) || *port < '0' || *port > '9')
		return -EINVAL;
	errno = 0;
	p = strtoul(port, &end, 10);
	if (errno || *end || p > 65535)
		return -EINVAL;
	memcpy(buf, host, hl);
	buf[hl] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (host == s && inet_pton(AF_INET, buf, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)p);
		*len = sizeof(*in4);
		return 0;
	}
	if (host != s && inet_pton(AF_INET6, buf, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)p);
		*len = sizeof(*in6);
		return 0;
	}
	return -EINVAL;
}

static void format_addr(const struct sockaddr_storage *ss, char *buf,
			size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		const struct sockaddr_in *in4 = (const void *)ss;

		inet_ntop(AF_INET, &in4->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(in4->sin_port));
	}
}

/* ---- the command queue (any thread) ---- */

/* Queue @c; @bytes count against WFS_NET_QUEUE_MAX.  Takes @c on success. */
static int queue_cmd(struct wfs_net *net, struct cmd *c, size_t bytes)
{
	pthread_mutex_lock(&net->lock);
	if (net->stopping) {
		pthread_mutex_unlock(&net->lock);
		return -ESHUTDOWN;
	}
	if (bytes && net->queued + bytes > WFS_NET_QUEUE_MAX) {
		pthread_mutex_unlock(&net->lock);
		return -ENOBUFS;
	}
	net->queued += bytes;
	c->next = NULL;
	*net->queue_tail = c;
	net->queue_tail = &c->next;
	/* Under the lock: wfs_net_free cannot destroy the loop meanwhile. */
	ev_async_send(net->loop, &net->wake);
	pthread_mutex_unlock(&net->lock);
	return 0;
}

/* @bytes of queued messages left the queue (sealed or dropped). */
static void unqueue(struct wfs_net *net, size_t bytes)
{
	if (!bytes)
		return;
	pthread_mutex_lock(&net->lock);
	net->queued -= bytes;
	pthread_mutex_unlock(&net->lock);
}

static uint64_t new_id(struct wfs_net *net)
{
	uint64_t id;

	pthread_mutex_lock(&net->lock);
	id = ++net->next_id;
	pthread_mutex_unlock(&net->lock);
	return id;
}

static struct cmd *cmd_new(enum cmd_kind kind, uint64_t link, size_t len)
{
	struct cmd *c = wfs_calloc(1, sizeof(*c) + len);

	if (!c)
		return NULL;
	c->kind = kind;
	c->link = link;
	c->fd = -1;
	c->len = len;
	return c;
}

/* ---- closing (net thread) ---- */

static void stop_watchers(struct link *l)
{
	struct ev_loop *loop = l->net->loop;

	ev_io_stop(loop, &l->sock_rd);
	ev_io_stop(loop, &l->sock_wr);
	ev_io_stop(loop, &l->fd_rd);
	ev_io_stop(loop, &l->fd_wr);
	ev_timer_stop(loop, &l->timer);
}

static void drop_pending(struct link *l)
{
	size_t bytes = 0;

	while (l->pending) {
		struct cmd *c = l->pending;

		l->pending = c->next;
		bytes += c->len;
		wfs_free(c);
	}
	l->pending_tail = &l->pending;
	unqueue(l->net, bytes);
}

/* Close @l for @reason: sockets, then the opener's done callback, then
 * on_close.  The memory waits for reap. */
static void link_close(struct link *l, int reason)
{
	struct wfs_net *net = l->net;
	wfs_net_done_cb done = l->done;
	wfs_net_pump_open_cb pump_done = l->pump_done;

	if (l->closed)
		return;
	l->closed = true;
	if (l->incoming && !l->open)
		net->handshaking--;
	stop_watchers(l);
	if (l->sock >= 0)
		close(l->sock);
	l->sock = -1;
	wfs_relay_release(&l->r);
	drop_pending(l);
	l->prev->next = l->next;
	l->next->prev = l->prev;
	l->next = net->dead;
	net->dead = l;
	wfs_log_debug(SUB, "link %llu %s %s closed: %s",
		      (unsigned long long)l->id, l->incoming ? "from" : "to",
		      l->addr, reason ? strerror(-reason) : "done");
	l->done = NULL;
	l->pump_done = NULL;
	if (done)
		done(l->done_arg, l->id, NULL, reason ? reason : -ECANCELED);
	if (pump_done)
		pump_done(l->done_arg, l->id, NULL, NULL,
			  reason ? reason : -ECANCELED);
	if (net->on_close)
		net->on_close(net->arg, l->id, l->open ? l->peer : NULL,
			      reason);
}

/* The one log line of a link ended by a protocol failure. */
static void link_fail(struct link *l, int reason, const char *why)
{
	if (l->closed)
		return;
	wfs_log_warn(SUB, "link %llu %s %s: %s; closing",
		     (unsigned long long)l->id, l->incoming ? "from" : "to",
		     l->addr, why);
	link_close(l, reason);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* link_fail for a key our admit refused: the line names the key (as
 * `wormctl node add` takes it), and a key that keeps trying gets one line
 * a minute, which counts the refusals not logged (keylimit_internal.h);
 * those go to debug. */
static void link_refuse(struct link *l, int reason)
{
	char hex[2 * WFS_SECCHAN_PK_LEN + 1];
	const char *dir = l->incoming ? "from" : "to";
	unsigned long long id = l->id;
	unsigned long more;

	sodium_bin2hex(hex, sizeof(hex), l->refused_pk, sizeof(l->refused_pk));
	if (!wfs_keylimit_pass(&l->net->refusals, l->refused_pk, now_ms(),
			       &more))
		wfs_log_debug(SUB, "link %llu %s %s: %s %s; closing "
			      "(rate-limited)", id, dir, l->addr,
			      wfs_secchan_reason(l->ch), hex);
	else if (more)
		wfs_log_warn(SUB, "link %llu %s %s: %s %s; closing (refused "
			     "%lu more times since the last line)", id, dir,
			     l->addr, wfs_secchan_reason(l->ch), hex, more);
	else
		wfs_log_warn(SUB, "link %llu %s %s: %s %s; closing", id, dir,
			     l->addr, wfs_secchan_reason(l->ch), hex);
	link_close(l, reason);
}

static void link_free(struct link *l)
{
	wfs_secchan_free(l->ch);
	wfs_free(l->hello);
	wfs_relay_release(&l->r);
	wfs_free(l);
}

/* Take @l's relay off the net: its socket, channel and relay state move
 * into a new pump, and the link closes (reason 0, on_close called) without
 * touching them.  Returns the pump, or NULL when out of memory: then @l
 * failed, which told its opener. */
static struct wfs_net_pump *link_detach(struct link *l)
{
	struct wfs_net_pump *p = wfs_net_pump_new(l->id, l->addr, l->incoming,
						  l->sock, l->ch, &l->r);

	if (!p) {
		link_fail(l, -ENOMEM, "out of memory for a relay pump");
		return NULL;
	}
	stop_watchers(l);
	l->sock = -1;
	l->ch = NULL;
	memset(&l->r, 0, sizeof(l->r));
	l->r.fd = -1;
	l->pump_done = NULL;	/* the caller hands the pump over */
	link_close(l, 0);
	return p;
}

static void reap_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct wfs_net *net = w->data;

	(void)loop;
	(void)revents;
	while (net->dead) {
		struct link *l = net->dead;

		net->dead = l->next;
		link_free(l);
	}
}

/* ---- link set-up (net thread) ---- */

static bool link_admit(void *arg, const uint8_t pk[32])
{
	struct link *l = arg;
	struct wfs_net *net = l->net;

	if ((l->has_expect &&
	     memcmp(pk, l->expect, sizeof(l->expect)) != 0) ||
	    !net->admit(net->admit_arg, pk)) {
		l->refused = true;
		memcpy(l->refused_pk, pk, sizeof(l->refused_pk));
		return false;
	}
	return true;
}

static void sock_rd_cb(struct ev_loop *loop, ev_io *w, int revents);
static void sock_wr_cb(struct ev_loop *loop, ev_io *w, int revents);
static void fd_rd_cb(struct ev_loop *loop, ev_io *w, int revents);
static void fd_wr_cb(struct ev_loop *loop, ev_io *w, int revents);
static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

static struct link *link_alloc(struct wfs_net *net, uint64_t id,
			       bool incoming, const char *addr)
{
	struct link *l = wfs_calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->net = net;
	l->id = id;
	l->incoming = incoming;
	l->sock = -1;
	l->r.fd = -1;
	snprintf(l->addr, sizeof(l->addr), "%s", addr);
	l->pending_tail = &l->pending;
	ev_io_init(&l->sock_rd, sock_rd_cb, -1, EV_READ);
	ev_io_init(&l->sock_wr, sock_wr_cb, -1, EV_WRITE);
	ev_io_init(&l->fd_rd, fd_rd_cb, -1, EV_READ);
	ev_io_init(&l->fd_wr, fd_wr_cb, -1, EV_WRITE);
	ev_timer_init(&l->timer, timer_cb, net->handshake_s, 0.);
	l->sock_rd.data = l->sock_wr.data = l;
	l->fd_rd.data = l->fd_wr.data = l->timer.data = l;
	l->next = net->links.next;
	l->prev = &net->links;
	l->next->prev = l;
	net->links.next = l;
	return l;
}

static void set_sock(struct link *l, int sock)
{
	int one = 1;

	l->sock = sock;
	ev_io_set(&l->sock_rd, sock, EV_READ);
	ev_io_set(&l->sock_wr, sock, EV_WRITE);
	/* Messages are small and latency matters (raft heartbeats): no
	 * Nagle delay. */
	setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void set_fd(struct link *l, int fd)
{
	l->r.fd = fd;
	ev_io_set(&l->fd_rd, fd, EV_READ);
	ev_io_set(&l->fd_wr, fd, EV_WRITE);
}

/* A link could not even be allocated: tell the opener all the same. */
static void open_failed(struct wfs_net *net, struct cmd *c, int reason)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->done)
		c->done(c->done_arg, c->link, NULL, reason);
	if (c->pump_done)
		c->pump_done(c->done_arg, c->link, NULL, NULL, reason);
	if (net->on_close)
		net->on_close(net->arg, c->link, NULL, reason);
	wfs_free(c);
}

static void start_open(struct wfs_net *net, struct cmd *c)
{
	struct link *l = link_alloc(net, c->link, false, c->addr);
	int rc, sock;

	if (!l) {
		open_failed(net, c, -ENOMEM);
		return;
	}
	l->has_expect = c->has_expect;
	memcpy(l->expect, c->expect, sizeof(l->expect));
	l->done = c->done;
	l->pump_done = c->pump_done;
	l->done_arg = c->done_arg;
	if (c->fd >= 0) {
		set_fd(l, c->fd);
		l->hello = c;	/* its bytes are sent once the link opens */
	}
	rc = wfs_secchan_new(WFS_SECCHAN_CLIENT, net->pk, net->sk, link_admit,
			     l, &l->ch);
	if (rc != 0)
		goto out_close;
	sock = socket(c->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		      SOCK_CLOEXEC, 0);
	if (sock < 0) {
		rc = -errno;
		goto out_close;
	}
	set_sock(l, sock);
	if (connect(sock, (struct sockaddr *)&c->sa, c->salen) != 0 &&
	    errno != EINPROGRESS) {
		rc = -errno;
		goto out_close;
	}
	if (!l->hello)
		wfs_free(c);
	l->connecting = true;
	ev_io_start(net->loop, &l->sock_wr);
	ev_timer_start(net->loop, &l->timer);
	return;

out_close:
	if (!l->hello)
		wfs_free(c);
	wfs_log_debug(SUB, "link %llu to %s: cannot connect: %s",
		      (unsigned long long)l->id, l->addr, strerror(-rc));
	link_close(l, rc);
}

static void finish_connect(struct link *l)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(l->sock, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err) {
		wfs_log_debug(SUB, "link %llu to %s: cannot connect: %s",
			      (unsigned long long)l->id, l->addr,
			      strerror(err));
		link_close(l, -err);
		return;
	}
	l->connecting = false;
	ev_io_start(l->net->loop, &l->sock_rd);
	flush_out(l);
}

static void accept_one(struct wfs_net *net, int sock,
		       const struct sockaddr_storage *ss)
{
	char addr[WFS_NET_ADDR_MAX];
	struct link *l;
	int rc;

	format_addr(ss, addr, sizeof(addr));
	if (net->handshaking >= MAX_HANDSHAKING) {
		wfs_log_debug(SUB, "connection from %s dropped: %u handshakes "
			      "under way", addr, net->handshaking);
		close(sock);
		return;
	}
	l = link_alloc(net, new_id(net), true, addr);
	if (!l) {
		close(sock);
		return;
	}
	net->handshaking++;
	set_sock(l, sock);
	rc = wfs_secchan_new(WFS_SECCHAN_SERVER, net->pk, net->sk, link_admit,
			     l, &l->ch);
	if (rc != 0) {
		link_close(l, rc);
		return;
	}
	ev_io_start(net->loop, &l->sock_rd);
	ev_timer_start(net->loop, &l->timer);
	flush_out(l);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct wfs_net *net = w->data;

	(void)revents;
	/* A few per wake-up, so a flood of connections cannot starve the
	 * links already open. */
	for (int i = 0; i < 16; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int sock = accept4(net->listen_fd, (struct sockaddr *)&ss, &len,
				   SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (sock >= 0) {
			accept_one(net, sock, &ss);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			/* The listener stays readable: rest a while instead
			 * of spinning on it. */
			wfs_log_warn(SUB, "accept on %s failed: %s; pausing",
				     net->listen_addr, strerror(errno));
			ev_io_stop(loop, &net->accept_io);
			ev_timer_start(loop, &net->accept_pause);
		}
		return;
	}
}

static void accept_pause_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct wfs_net *net = w->data;

	(void)revents;
	ev_io_start(loop, &net->accept_io);
}

/* ---- output (net thread) ---- */

/* Seal queued messages while the output has room. */
static void seal_pending(struct link *l)
{
	const uint8_t *p;

	while (l->pending && wfs_secchan_output(l->ch, &p) < WFS_NET_OUT_HIGH) {
		struct cmd *c = l->pending;
		struct iovec iov[2] = { { &c->type, 1 }, { c->data, c->len } };
		int rc;

		l->pending = c->next;
		if (!l->pending)
			l->pending_tail = &l->pending;
		rc = wfs_secchan_sealv(l->ch, iov, 2);
		unqueue(l->net, c->len);
		wfs_free(c);
		if (rc != 0) {
			link_fail(l, rc, "cannot seal a message");
			return;
		}
	}
}

/* Whether a link has nothing left to do, and close it then: a closing
 * link once flushed, a relay once both directions ended. */
static void maybe_finish(struct link *l)
{
	const uint8_t *p;

	if (l->closed || wfs_secchan_output(l->ch, &p) > 0)
		return;
	if (l->closing && !l->pending)
		link_close(l, 0);
	else if (wfs_relay_over(&l->r))
		link_close(l, 0);
}

/* Seal what may be sealed, hand the output to the kernel, and start or
 * stop the watchers that depend on how much is left. */
static void flush_out(struct link *l)
{
	struct ev_loop *loop = l->net->loop;
	const uint8_t *p;
	size_t n;

	if (l->closed || l->connecting)
		return;
	do {
		if (l->open)
			seal_pending(l);
		if (l->closed)
			return;
		while ((n = wfs_secchan_output(l->ch, &p)) > 0) {
			ssize_t w = send(l->sock, p, n, MSG_NOSIGNAL);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			if (w < 0) {
				int rc = -errno;

				link_close(l, rc == -EPIPE ? -ECONNRESET : rc);
				return;
			}
			wfs_secchan_consumed(l->ch, (size_t)w);
		}
		/* The kernel took everything: seal what waited behind
		 * WFS_NET_OUT_HIGH, or nothing would (sock_wr stops below). */
	} while (n == 0 && l->open && l->pending);
	if (n)
		ev_io_start(loop, &l->sock_wr);
	else
		ev_io_stop(loop, &l->sock_wr);
	if (l->open && l->r.fd >= 0 && !l->r.fd_eof) {
		if (n < WFS_NET_OUT_HIGH)
			ev_io_start(loop, &l->fd_rd);
		else
			ev_io_stop(loop, &l->fd_rd);
	}
	maybe_finish(l);
}

static void sock_wr_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct link *l = w->data;

	(void)loop;
	(void)revents;
	if (l->connecting)
		finish_connect(l);
	else
		flush_out(l);
}

/* ---- input (net thread) ---- */

/* A relay opened with wfs_net_relay_open_pump is open (its hello sealed):
 * it leaves the net. */
static void hand_over(struct link *l)
{
	wfs_net_pump_open_cb done = l->pump_done;
	void *arg = l->done_arg;
	struct wfs_net_pump *p = link_detach(l);

	if (p)
		done(arg, l->id, l->peer, p, 0);
}

/* The relay hello of a relay whose type takes pumps arrived: it leaves the
 * net, with @fd, the user's end of its socketpair. */
static void hand_relay(struct link *l, const struct relay_reg *reg,
		       const uint8_t *hello, size_t len, int fd)
{
	uint8_t copy[WFS_NET_RELAY_HELLO_MAX];
	struct wfs_net_pump *p;

	/* The hello lies in the channel's buffer, which the pump takes. */
	memcpy(copy, hello, len);
	p = link_detach(l);
	if (!p) {
		close(fd);
		return;
	}
	reg->pump_cb(reg->arg, l->id, l->peer, copy, len, fd, p);
}

static void link_opened(struct link *l)
{
	struct wfs_net *net = l->net;
	wfs_net_done_cb done = l->done;

	ev_timer_stop(net->loop, &l->timer);
	if (l->incoming)
		net->handshaking--;
	l->open = true;
	memcpy(l->peer, wfs_secchan_peer(l->ch), sizeof(l->peer));
	if (l->hello) {
		uint8_t kind = WFS_NET_FRAME_RELAY_HELLO;
		struct iovec iov[3] = {
			{ &kind, 1 },
			{ &l->hello->type, 1 },
			{ l->hello->data, l->hello->len },
		};
		int rc = wfs_secchan_sealv(l->ch, iov, 3);

		wfs_free(l->hello);
		l->hello = NULL;
		if (rc != 0) {
			link_fail(l, rc, "cannot seal the relay hello");
			return;
		}
	}
	wfs_log_debug(SUB, "link %llu %s %s open", (unsigned long long)l->id,
		      l->incoming ? "from" : "to", l->addr);
	if (done) {
		l->done = NULL;
		done(l->done_arg, l->id, l->peer, 0);
	}
	if (net->on_open)
		net->on_open(net->arg, l->id, l->peer, l->incoming);
	if (l->pump_done && !l->closed)
		hand_over(l);
}

/* The first message of an incoming relay: make the socketpair and hand one
 * end to the callback registered for its channel type. */
static void take_relay_hello(struct link *l, const uint8_t *f, size_t len)
{
	struct wfs_net *net = l->net;
	struct relay_reg reg;
	uint8_t type;
	int sv[2];

	if (!l->incoming || l->frames_in != 1 || len < 2 ||
	    len - 2 > WFS_NET_RELAY_HELLO_MAX || f[1] == 0 ||
	    f[1] > WFS_NET_TYPE_MAX) {
		link_fail(l, -EPROTO, "malformed relay hello");
		return;
	}
	type = f[1];
	pthread_mutex_lock(&net->relay_lock);
	reg = net->relays[type];
	if (!reg.cb && !reg.pump_cb) {
		pthread_mutex_unlock(&net->relay_lock);
		/* Not an attack: a service this node does not run (yet), or
		 * no longer; the peer may retry often, so info. */
		wfs_log_info(SUB, "link %llu from %s: no relay for channel %u; "
			     "closing", (unsigned long long)l->id, l->addr,
			     type);
		link_close(l, -EPROTO);
		return;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		int rc = -errno;

		pthread_mutex_unlock(&net->relay_lock);
		wfs_log_warn(SUB, "link %llu from %s: cannot make a relay "
			     "socket: %s", (unsigned long long)l->id, l->addr,
			     strerror(-rc));
		link_close(l, rc);
		return;
	}
	set_fd(l, sv[0]);
	/* Ours never blocks the loop; the owner's end stays blocking. */
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK) != 0)
		wfs_log_warn(SUB, "relay socket: cannot make it non-blocking");
	if (reg.pump_cb)
		hand_relay(l, &reg, f + 2, len - 2, sv[1]);
	else
		reg.cb(reg.arg, l->id, l->peer, f + 2, len - 2, sv[1]);
	pthread_mutex_unlock(&net->relay_lock);
}

/* Relay data for our relay socket; while some wait in r.to_fd, pump_in
 * reads no more frames and the TCP socket is not read. */
static void link_relay_data(struct link *l, const uint8_t *data, size_t len)
{
	int rc;

	if (l->r.fd < 0 || l->r.end_rcvd || l->hello) {
		link_fail(l, -EPROTO, "relay data outside a relay");
		return;
	}
	rc = wfs_relay_put(&l->r, data, len);
	if (rc > 0) {
		wfs_log_debug(SUB, "link %llu: relay socket closed",
			      (unsigned long long)l->id);
		link_close(l, 0);
	} else if (rc < 0) {
		link_fail(l, rc, "out of memory for relay data");
	} else if (l->r.to_fd_len) {
		ev_io_start(l->net->loop, &l->fd_wr);
	}
}

static void link_relay_end(struct link *l, size_t len)
{
	if (l->r.fd < 0 || l->hello || wfs_relay_end(&l->r, len) != 0) {
		link_fail(l, -EPROTO, "relay end outside a relay");
		return;
	}
	maybe_finish(l);
}

static void handle_frame(struct link *l, const uint8_t *f, size_t len)
{
	struct wfs_net *net = l->net;

	if (len == 0) {
		link_fail(l, -EPROTO, "empty message");
		return;
	}
	if (f[0] >= 1 && f[0] <= WFS_NET_TYPE_MAX) {
		if (net->on_msg)
			net->on_msg(net->arg, l->id, l->peer, f[0], f + 1,
				    len - 1);
		return;
	}
	switch (f[0]) {
	case WFS_NET_FRAME_RELAY_HELLO:
		take_relay_hello(l, f, len);
		break;
	case WFS_NET_FRAME_RELAY_DATA:
		link_relay_data(l, f + 1, len - 1);
		break;
	case WFS_NET_FRAME_RELAY_END:
		link_relay_end(l, len);
		break;
	default:
		link_fail(l, -EPROTO, "unknown message type");
		break;
	}
}

/* Take the frames the secchan holds, unless the relay socket is full. */
static void pump_in(struct link *l)
{
	const uint8_t *f;
	size_t len;
	int rc;

	while (!l->closed && l->r.to_fd_len == 0) {
		rc = wfs_secchan_recv(l->ch, &f, &len);
		if (rc == 0)
			break;
		if (rc < 0) {
			link_fail(l, rc, wfs_secchan_reason(l->ch));
			return;
		}
		l->frames_in++;
		handle_frame(l, f, len);
	}
	if (l->closed || l->connecting)
		return;
	if (l->r.to_fd_len)
		ev_io_stop(l->net->loop, &l->sock_rd);
	else
		ev_io_start(l->net->loop, &l->sock_rd);
}

static void sock_rd_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct link *l = w->data;
	struct wfs_net *net = l->net;
	ssize_t n;
	int rc;

	(void)loop;
	(void)revents;
	n = recv(l->sock, net->rbuf, sizeof(net->rbuf), 0);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			link_close(l, -errno);
		return;
	}
	if (n == 0) {
		/* Clean only for a relay whose both ends had ended. */
		link_close(l, l->r.end_sent && l->r.end_rcvd ? 0
							       : -ECONNRESET);
		return;
	}
	rc = wfs_secchan_feed(l->ch, net->rbuf, (size_t)n);
	if (rc == -EACCES && l->refused) {
		link_refuse(l, rc);
		return;
	}
	if (rc != 0) {
		link_fail(l, rc, wfs_secchan_reason(l->ch));
		return;
	}
	if (!l->open && wfs_secchan_state(l->ch) == WFS_SECCHAN_OPEN)
		link_opened(l);
	pump_in(l);
	flush_out(l);
}

/* Our relay socket has bytes for the peer. */
static void fd_rd_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct link *l = w->data;
	int rc;

	(void)revents;
	rc = wfs_relay_read(&l->r, l->ch, l->net->rbuf, sizeof(l->net->rbuf));
	if (l->r.fd_eof)
		ev_io_stop(loop, &l->fd_rd);
	if (rc != 0) {
		link_fail(l, rc, "cannot seal relay data");
		return;
	}
	flush_out(l);
}

/* Our relay socket can take what waited in r.to_fd. */
static void fd_wr_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct link *l = w->data;

	(void)revents;
	if (wfs_relay_drain(&l->r) != 0) {
		wfs_log_debug(SUB, "link %llu: relay socket closed",
			      (unsigned long long)l->id);
		link_close(l, 0);
		return;
	}
	if (l->r.to_fd_len)
		return;
	ev_io_stop(loop, &l->fd_wr);
	/* Frames may be waiting in the secchan: take them first, then read
	 * the TCP socket again (pump_in restarts it). */
	pump_in(l);
	flush_out(l);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct link *l = w->data;

	(void)loop;
	(void)revents;
	if (l->open) {
		/* The close linger ran out: the peer does not read. */
		link_close(l, 0);
	} else if (l->connecting) {
		wfs_log_info(SUB, "link %llu to %s: connect timed out",
			     (unsigned long long)l->id, l->addr);
		link_close(l, -ETIMEDOUT);
	} else {
		link_fail(l, -ETIMEDOUT, "handshake timed out");
	}
}

/* ---- commands (net thread) ---- */

static struct link *find_link(struct wfs_net *net, uint64_t id)
{
	/* A node has links to a few dozen peers: a list is enough. */
	for (struct link *l = net->links.next; l != &net->links; l = l->next)
		if (l->id == id)
			return l;
	return NULL;
}

static void do_send(struct wfs_net *net, struct cmd *c)
{
	struct link *l = find_link(net, c->link);

	if (!l || l->closing) {
		unqueue(net, c->len);
		wfs_free(c);
		return;
	}
	c->next = NULL;
	*l->pending_tail = c;
	l->pending_tail = &c->next;
	flush_out(l);
}

static void do_close(struct wfs_net *net, struct cmd *c)
{
	struct link *l = find_link(net, c->link);

	wfs_free(c);
	if (!l || l->closing)
		return;
	/* A relay's bytes belong to its socket's owner, who closes that to
	 * end it cleanly; an explicit close just cuts it. */
	if (!l->open || l->r.fd >= 0) {
		link_close(l, 0);
		return;
	}
	l->closing = true;
	ev_timer_set(&l->timer, net->handshake_s, 0.);
	ev_timer_start(net->loop, &l->timer);
	flush_out(l);
}

static void wake_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct wfs_net *net = w->data;
	struct cmd *c, *next;
	bool stopping;

	(void)revents;
	pthread_mutex_lock(&net->lock);
	c = net->queue;
	net->queue = NULL;
	net->queue_tail = &net->queue;
	stopping = net->stopping;
	pthread_mutex_unlock(&net->lock);

	for (; c; c = next) {
		next = c->next;
		switch (c->kind) {
		case CMD_OPEN:
			start_open(net, c);
			break;
		case CMD_SEND:
			do_send(net, c);
			break;
		case CMD_CLOSE:
			do_close(net, c);
			break;
		}
	}
	if (!stopping)
		return;
	while (net->links.next != &net->links)
		link_close(net->links.next, -ECANCELED);
	ev_io_stop(loop, &net->accept_io);
	ev_timer_stop(loop, &net->accept_pause);
	ev_break(loop, EVBREAK_ALL);
}

static void *net_thread(void *arg)
{
	struct wfs_net *net = arg;
	sigset_t all;

	/* Signals are the program's; SIGPIPE above all must not kill us
	 * (sends use MSG_NOSIGNAL as well). */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_setname_np(pthread_self(), "wfs-net");
	ev_run(net->loop, 0);
	reap_cb(net->loop, &net->reap, 0);
	return NULL;
}

/* ---- public ---- */

static int make_listener(struct wfs_net *net, const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, rc, fd;

	rc = parse_addr(addr, &ss, &len);
	if (rc != 0)
		return rc;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 ||
	    listen(fd, 128) != 0) {
		rc = -errno;
		goto out_close_fd;
	}
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
		rc = -errno;
		goto out_close_fd;
	}
	format_addr(&ss, net->listen_addr, sizeof(net->listen_addr));
	net->listen_fd = fd;
	return 0;

out_close_fd:
	close(fd);
	return rc;
}

int wfs_net_new(const struct wfs_net_config *cfg, struct wfs_net **out)
{
	struct wfs_net *net;
	pthread_mutexattr_t attr;
	int rc;

	if (!cfg->pk || !cfg->sk || !cfg->admit)
		return -EINVAL;
	net = wfs_calloc(1, sizeof(*net));
	if (!net)
		return -ENOMEM;
	memcpy(net->pk, cfg->pk, sizeof(net->pk));
	memcpy(net->sk, cfg->sk, sizeof(net->sk));
	net->admit = cfg->admit;
	net->admit_arg = cfg->admit_arg;
	net->on_open = cfg->on_open;
	net->on_msg = cfg->on_msg;
	net->on_close = cfg->on_close;
	net->arg = cfg->arg;
	net->handshake_s = (cfg->handshake_ms ? cfg->handshake_ms
					      : DEFAULT_HANDSHAKE_MS) / 1000.;
	net->listen_fd = -1;
	net->queue_tail = &net->queue;
	net->links.next = net->links.prev = &net->links;
	if (cfg->listen) {
		rc = make_listener(net, cfg->listen);
		if (rc != 0)
			goto out_free;
	}
	/* No signal handling: the net thread blocks every signal. */
	net->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (!net->loop) {
		rc = -ENOMEM;
		goto out_close_listener;
	}
	pthread_mutex_init(&net->lock, NULL);
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&net->relay_lock, &attr);
	pthread_mutexattr_destroy(&attr);
	ev_async_init(&net->wake, wake_cb);
	net->wake.data = net;
	ev_async_start(net->loop, &net->wake);
	ev_prepare_init(&net->reap, reap_cb);
	net->reap.data = net;
	ev_prepare_start(net->loop, &net->reap);
	ev_timer_init(&net->accept_pause, accept_pause_cb, ACCEPT_PAUSE_S, 0.);
	net->accept_pause.data = net;
	if (net->listen_fd >= 0) {
		ev_io_init(&net->accept_io, accept_cb, net->listen_fd, EV_READ);
		net->accept_io.data = net;
		ev_io_start(net->loop, &net->accept_io);
	}
	*out = net;
	return 0;

out_close_listener:
	if (net->listen_fd >= 0)
		close(net->listen_fd);
out_free:
	sodium_memzero(net->sk, sizeof(net->sk));
	wfs_free(net);
	return rc;
}

int wfs_net_start(struct wfs_net *net)
{
	int rc;

	pthread_mutex_lock(&net->lock);
	if (net->started || net->stopping) {
		pthread_mutex_unlock(&net->lock);
		return -EALREADY;
	}
	net->started = true;
	pthread_mutex_unlock(&net->lock);
	rc = -pthread_create(&net->thread, NULL, net_thread, net);
	if (rc != 0) {
		pthread_mutex_lock(&net->lock);
		net->started = false;
		pthread_mutex_unlock(&net->lock);
	}
	return rc;
}

void wfs_net_stop(struct wfs_net *net)
{
	bool join;

	pthread_mutex_lock(&net->lock);
	net->stopping = true;
	join = net->started && !net->joined;
	net->joined = true;
	if (join)
		ev_async_send(net->loop, &net->wake);
	pthread_mutex_unlock(&net->lock);
	if (join)
		pthread_join(net->thread, NULL);
}

void wfs_net_free(struct wfs_net *net)
{
	struct cmd *c, *next;

	if (!net)
		return;
	wfs_net_stop(net);
	/* Only a net never started can still hold commands. */
	for (c = net->queue; c; c = next) {
		next = c->next;
		if (c->kind == CMD_OPEN)
			open_failed(net, c, -ECANCELED);
		else
			wfs_free(c);
	}
	ev_io_stop(net->loop, &net->accept_io);
	ev_timer_stop(net->loop, &net->accept_pause);
	ev_async_stop(net->loop, &net->wake);
	ev_prepare_stop(net->loop, &net->reap);
	reap_cb(net->loop, &net->reap, 0);
	ev_loop_destroy(net->loop);
	if (net->listen_fd >= 0)
		close(net->listen_fd);
	pthread_mutex_destroy(&net->lock);
	pthread_mutex_destroy(&net->relay_lock);
	sodium_memzero(net->sk, sizeof(net->sk));
	wfs_free(net);
}

int wfs_net_listen_addr(struct wfs_net *net, char *buf, size_t len)
{
	if (net->listen_fd < 0)
		return -ENOTCONN;
	if ((size_t)snprintf(buf, len, "%s", net->listen_addr) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* Build an OPEN command for @addr with @len bytes of payload. */
static int open_cmd(struct wfs_net *net, const char *addr,
		    const uint8_t *expect_pk, size_t len, struct cmd **out)
{
	struct cmd *c = cmd_new(CMD_OPEN, 0, len);
	int rc;

	if (!c)
		return -ENOMEM;
	rc = parse_addr(addr, &c->sa, &c->salen);
	if (rc != 0) {
		wfs_free(c);
		return rc;
	}
	snprintf(c->addr, sizeof(c->addr), "%s", addr);
	if (expect_pk) {
		c->has_expect = true;
		memcpy(c->expect, expect_pk, sizeof(c->expect));
	}
	c->link = new_id(net);
	*out = c;
	return 0;
}

int wfs_net_open(struct wfs_net *net, const char *addr,
		 const uint8_t *expect_pk, uint64_t *link)
{
	struct cmd *c;
	int rc;

	rc = open_cmd(net, addr, expect_pk, 0, &c);
	if (rc != 0)
		return rc;
	*link = c->link;
	rc = queue_cmd(net, c, 0);
	if (rc != 0)
		wfs_free(c);
	return rc;
}

int wfs_net_send(struct wfs_net *net, uint64_t link, uint8_t type,
		 const void *buf, size_t len)
{
	struct cmd *c;
	int rc;

	if (type == 0 || type > WFS_NET_TYPE_MAX)
		return -EINVAL;
	if (len > WFS_NET_MSG_MAX)
		return -EMSGSIZE;
	c = cmd_new(CMD_SEND, link, len);
	if (!c)
		return -ENOMEM;
	c->type = type;
	if (len)
		memcpy(c->data, buf, len);
	rc = queue_cmd(net, c, len);
	if (rc != 0)
		wfs_free(c);
	return rc;
}

int wfs_net_close(struct wfs_net *net, uint64_t link)
{
	struct cmd *c = cmd_new(CMD_CLOSE, link, 0);
	int rc;

	if (!c)
		return -ENOMEM;
	rc = queue_cmd(net, c, 0);
	if (rc != 0)
		wfs_free(c);
	return rc;
}

/* wfs_net_relay_open and wfs_net_relay_open_pump: one of @done and
 * @pump_done is set. */
static int relay_open(struct wfs_net *net, const char *addr,
		      const uint8_t *expect_pk, uint8_t type,
		      const void *hello, size_t len, wfs_net_done_cb done,
		      wfs_net_pump_open_cb pump_done, void *arg, int *fd,
		      uint64_t *link)
{
	struct cmd *c;
	int sv[2], rc;

	if (type == 0 || type > WFS_NET_TYPE_MAX)
		return -EINVAL;
	if (len > WFS_NET_RELAY_HELLO_MAX)
		return -EMSGSIZE;
	rc = open_cmd(net, addr, expect_pk, len, &c);
	if (rc != 0)
		return rc;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		rc = -errno;
		goto out_free_cmd;
	}
	if (fcntl(sv[1], F_SETFL, O_NONBLOCK) != 0) {
		rc = -errno;
		goto out_close_pair;
	}
	c->fd = sv[1];
	c->type = type;
	if (len)
		memcpy(c->data, hello, len);
	c->done = done;
	c->pump_done = pump_done;
	c->done_arg = arg;
	*link = c->link;
	rc = queue_cmd(net, c, 0);
	if (rc != 0)
		goto out_close_pair;
	*fd = sv[0];
	return 0;

out_close_pair:
	close(sv[0]);
	close(sv[1]);
out_free_cmd:
	wfs_free(c);
	return rc;
}

int wfs_net_relay_open(struct wfs_net *net, const char *addr,
		       const uint8_t *expect_pk, uint8_t type,
		       const void *hello, size_t len, wfs_net_done_cb done,
		       void *arg, int *fd, uint64_t *link)
{
	return relay_open(net, addr, expect_pk, type, hello, len, done, NULL,
			  arg, fd, link);
}

int wfs_net_relay_open_pump(struct wfs_net *net, const char *addr,
			    const uint8_t *expect_pk, uint8_t type,
			    const void *hello, size_t len,
			    wfs_net_pump_open_cb done, void *arg, int *fd,
			    uint64_t *link)
{
	if (!done)
		return -EINVAL;
	return relay_open(net, addr, expect_pk, type, hello, len, NULL, done,
			  arg, fd, link);
}

int wfs_net_relay_listen(struct wfs_net *net, uint8_t type,
			 wfs_net_relay_cb cb, void *arg)
{
	if (type == 0 || type > WFS_NET_TYPE_MAX)
		return -EINVAL;
	pthread_mutex_lock(&net->relay_lock);
	net->relays[type].cb = cb;
	net->relays[type].pump_cb = NULL;
	net->relays[type].arg = arg;
	pthread_mutex_unlock(&net->relay_lock);
	return 0;
}

int wfs_net_relay_listen_pump(struct wfs_net *net, uint8_t type,
			      wfs_net_pump_cb cb, void *arg)
{
	if (type == 0 || type > WFS_NET_TYPE_MAX)
		return -EINVAL;
	pthread_mutex_lock(&net->relay_lock);
	net->relays[type].cb = NULL;
	net->relays[type].pump_cb = cb;
	net->relays[type].arg = arg;
	pthread_mutex_unlock(&net->relay_lock);
	return 0;
}
