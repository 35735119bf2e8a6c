/* raft_transport: a struct raft_uv_transport over wfs_net relays (see
 * raft_transport.h).
 *
 * Not for: raft itself (gossip/raftlog.c drives libraft), or carrying bytes
 * (net/link.c does).  This file only translates between the two, and is the
 * one place in net/ that includes libraft's headers.
 *
 * Lifetime.  struct rt is shared by two threads, so it is reference-counted:
 * one reference for the raft side (dropped by wfs_raft_transport_close) and
 * one per relay open still waiting for its done callback (the net calls it
 * exactly once).  The relay callback needs no reference of its own: the
 * raft side unregisters it in close(), and wfs_net_relay_listen returns
 * only once no call of it runs.
 *
 * Events from the net thread (a relay opened or failed, a relay arrived)
 * are queued on rt->events under rt->lock and the raft loop is woken with
 * uv_async_send, under the same lock, so the async handle cannot be closed
 * between the check of rt->closed and the send.  Once rt->closed is set the
 * net thread drops what it would have queued itself (closing sockets and
 * pumps).
 *
 * Pumps.  Every relay is a pump (net/link.h) run here, on raft's loop: one
 * uv_poll on its TCP socket and one on its end of the socketpair.  Raft's
 * write to its end of the socketpair makes ours readable in the same
 * thread, so a message costs the sender no thread switch, and the peer
 * just one (its raft thread wakes on the TCP socket).  Through relays run
 * by the net threads it woke three threads, and those wake-ups were most
 * of a commit's latency and CPU (tests/bench/raft_bench.c).  The handshake
 * still runs on the net thread; a pump comes over with the event that
 * says its relay is open.  Raft closes the transport before it is done
 * (raft_close), which stops the pumps still running: their links end (the
 * peers see a reset, as if this node went away) and the close completes
 * once their handles are closed.
 */
#include "net/raft_transport.h"

#include <errno.h>
#include <pthread.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "log/log.h"
#include "mem/mem.h"
#include "net/link.h"

#define SUB "raft-net"
#define HELLO_ID_LEN 8
#define HELLO_MAX (HELLO_ID_LEN + WFS_RAFT_TRANSPORT_ADDR_MAX)

_Static_assert(HELLO_MAX <= WFS_NET_RELAY_HELLO_MAX, "raft hello too long");

enum event_kind {
	EVENT_CONNECTED,	/* a relay we opened is open, or failed */
	EVENT_ACCEPTED,		/* a peer's relay arrived */
};

struct rt;

struct event {
	struct event *next;
	struct rt *rt;
	enum event_kind kind;
	uint64_t link;
	int status;		/* CONNECTED: 0 or the link's close reason */
	bool has_pk;
	uint8_t pk[WFS_SECCHAN_PK_LEN];
	int fd;			/* ACCEPTED: raft's end of the relay */
	struct wfs_net_pump *pump; /* the relay, once open */
	uint64_t id;		/* ACCEPTED: the peer's raft id */
	char addr[WFS_RAFT_TRANSPORT_ADDR_MAX + 1]; /* ACCEPTED */
};

/* A connect raft asked for, until its callback ran.  Raft thread only. */
struct conn {
	struct conn *next;
	struct raft_uv_connect *req;
	raft_uv_connect_cb cb;
	uint64_t id;		/* the raft id raft wants to reach */
	uint64_t link;
	int fd;			/* raft's end of the relay socket */
};

/* A relay's pump on raft's loop, until both its handles closed. */
struct rpump {
	struct rpump *next;	/* rt->pumps, while it runs */
	struct rt *rt;
	struct wfs_net_pump *pump;
	uv_poll_t sock_poll, fd_poll;
	int sock_events, fd_events; /* what each poll waits for now */
	unsigned handles;	/* initialised and not yet closed */
};

struct rt {
	/* Set by init, then read-only. */
	struct raft_uv_transport *t;
	struct wfs_net *net;
	uv_loop_t *loop;
	wfs_raft_transport_check_cb check;
	void *check_arg;

	pthread_mutex_t lock;
	/* protected by lock */
	int refs;
	bool closed;		/* events are no longer taken */
	struct event *events, **events_tail;

	/* raft thread only */
	uv_async_t async;
	bool async_open;
	bool listening;
	bool closing;
	raft_uv_accept_cb accept_cb;
	raft_uv_transport_close_cb close_cb;
	bool async_closing;
	bool close_done;	/* close_cb was called */
	struct conn *conns;
	struct rpump *pumps;	/* running */
	unsigned pumps_closing;	/* stopped, handles not yet closed */
	uint8_t hello[HELLO_MAX];
	size_t hello_len;
};

static void rt_ref(struct rt *rt)
{
	pthread_mutex_lock(&rt->lock);
	rt->refs++;
	pthread_mutex_unlock(&rt->lock);
}

static void rt_unref(struct rt *rt)
{
	int refs;

	pthread_mutex_lock(&rt->lock);
	refs = --rt->refs;
	pthread_mutex_unlock(&rt->lock);
	if (refs)
		return;
	pthread_mutex_destroy(&rt->lock);
	wfs_free(rt);
}

/* An event nobody will take: give back what it holds.  Any thread. */
static void discard_event(struct event *e)
{
	if (e->kind == EVENT_ACCEPTED)
		close(e->fd);
	wfs_net_pump_free(e->pump);
	wfs_free(e);
}

/* Hand @e to the raft thread.  Net thread. */
static void push_event(struct rt *rt, struct event *e)
{
	pthread_mutex_lock(&rt->lock);
	if (rt->closed) {
		pthread_mutex_unlock(&rt->lock);
		discard_event(e);
		return;
	}
	e->next = NULL;
	*rt->events_tail = e;
	rt->events_tail = &e->next;
	uv_async_send(&rt->async);
	pthread_mutex_unlock(&rt->lock);
}

static struct event *take_events(struct rt *rt)
{
	struct event *e;

	pthread_mutex_lock(&rt->lock);
	e = rt->events;
	rt->events = NULL;
	rt->events_tail = &rt->events;
	pthread_mutex_unlock(&rt->lock);
	return e;
}

/* ---- net thread ---- */

static void relay_done(void *arg, uint64_t link, const uint8_t *pk,
		       struct wfs_net_pump *pump, int status)
{
	struct event *e = arg;
	struct rt *rt = e->rt;

	e->link = link;
	e->status = status;
	e->pump = pump;
	if (pk) {
		e->has_pk = true;
		memcpy(e->pk, pk, sizeof(e->pk));
	}
	push_event(rt, e);
	rt_unref(rt);
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void relay_arrived(void *arg, uint64_t link, const uint8_t *pk,
			  const void *hello, size_t len, int fd,
			  struct wfs_net_pump *pump)
{
	const uint8_t *h = hello;
	struct rt *rt = arg;
	struct event *e;

	if (len <= HELLO_ID_LEN || len > HELLO_MAX || get_be64(h) == 0 ||
	    memchr(h + HELLO_ID_LEN, '\0', len - HELLO_ID_LEN)) {
		wfs_log_warn(SUB, "link %llu: malformed raft relay hello; "
			     "closing", (unsigned long long)link);
		goto out_drop;
	}
	e = wfs_calloc(1, sizeof(*e));
	if (!e)
		goto out_drop;	/* the peer's raft redials */
	e->rt = rt;
	e->kind = EVENT_ACCEPTED;
	e->link = link;
	e->fd = fd;
	e->pump = pump;
	e->id = get_be64(h);
	memcpy(e->addr, h + HELLO_ID_LEN, len - HELLO_ID_LEN);
	e->has_pk = true;
	memcpy(e->pk, pk, sizeof(e->pk));
	push_event(rt, e);
	return;

out_drop:
	close(fd);
	wfs_net_pump_free(pump);
}

/* ---- raft thread ---- */

static struct conn *take_conn(struct rt *rt, uint64_t link)
{
	for (struct conn **pc = &rt->conns; *pc; pc = &(*pc)->next) {
		struct conn *c = *pc;

		if (c->link == link) {
			*pc = c->next;
			return c;
		}
	}
	return NULL;
}

/* ---- raft thread: pumps ---- */

static void pump_poll_cb(uv_poll_t *h, int status, int events);
static void finish_close(struct rt *rt);

/* Make @h wait for @events (UV_READABLE | UV_WRITABLE), which it waits for
 * now in *cur: only a change touches the poll, because libuv turns each
 * uv_poll_start into an epoll_ctl.  Returns 0, or libuv's error when the
 * poll could not start (the pump would then wait for nothing). */
static int poll_set(uv_poll_t *h, int *cur, int events)
{
	int rc = 0;

	if (events == *cur)
		return 0;
	if (events)
		rc = uv_poll_start(h, events, pump_poll_cb);
	else
		uv_poll_stop(h);
	if (rc == 0)
		*cur = events;
	return rc;
}

/* The last handle of a stopped pump closed: free the pump (which ends its
 * link, and gives raft EOF on its end of the relay). */
static void pump_release(struct rpump *rp)
{
	struct rt *rt = rp->rt;

	wfs_net_pump_free(rp->pump);
	wfs_free(rp);
	rt->pumps_closing--;
	finish_close(rt);
}

static void pump_closed(uv_handle_t *h)
{
	struct rpump *rp = h->data;

	if (--rp->handles == 0)
		pump_release(rp);
}

/* Stop @rp: its handles close, then pump_release. */
static void pump_stop(struct rpump *rp)
{
	struct rt *rt = rp->rt;

	for (struct rpump **pp = &rt->pumps; *pp; pp = &(*pp)->next) {
		if (*pp == rp) {
			*pp = rp->next;
			break;
		}
	}
	rt->pumps_closing++;
	if (rp->handles == 0) {
		pump_release(rp);
		return;
	}
	uv_close((uv_handle_t *)&rp->sock_poll, pump_closed);
	if (rp->handles == 2)
		uv_close((uv_handle_t *)&rp->fd_poll, pump_closed);
}

/* Run @rp's pump with what fired, and wait for what it wants next. */
static void pump_go(struct rpump *rp, unsigned ready)
{
	unsigned want;

	/* A poll that cannot start ends the relay like a broken socket:
	 * raft reads EOF and dials again. */
	if (wfs_net_pump_run(rp->pump, ready, &want) != 0 ||
	    poll_set(&rp->sock_poll, &rp->sock_events,
		     (want & WFS_NET_PUMP_SOCK_RD ? UV_READABLE : 0) |
		     (want & WFS_NET_PUMP_SOCK_WR ? UV_WRITABLE : 0)) != 0 ||
	    poll_set(&rp->fd_poll, &rp->fd_events,
		     (want & WFS_NET_PUMP_FD_RD ? UV_READABLE : 0) |
		     (want & WFS_NET_PUMP_FD_WR ? UV_WRITABLE : 0)) != 0)
		pump_stop(rp);
}

static void pump_poll_cb(uv_poll_t *h, int status, int events)
{
	struct rpump *rp = h->data;
	bool sock = h == &rp->sock_poll;
	unsigned ready = 0;

	/* libuv reports POLLERR this way, having stopped the poll: the
	 * socket is broken (a TCP reset, say), and so is the relay. */
	if (status < 0) {
		pump_stop(rp);
		return;
	}
	if (events & (UV_READABLE | UV_DISCONNECT))
		ready |= sock ? WFS_NET_PUMP_SOCK_RD : WFS_NET_PUMP_FD_RD;
	if (events & UV_WRITABLE)
		ready |= sock ? WFS_NET_PUMP_SOCK_WR : WFS_NET_PUMP_FD_WR;
	pump_go(rp, ready);
}

/* Run @pump (now ours) on raft's loop: first at once (the opener's hello
 * waits in it, and the acceptor's first frames may), then as its
 * descriptors fire.  If it cannot start it is freed: raft reads EOF on its
 * end of the relay and redials, as after any broken connection. */
static void pump_start(struct rt *rt, struct wfs_net_pump *pump)
{
	struct rpump *rp = wfs_calloc(1, sizeof(*rp));
	int sock, fd;

	if (!rp) {
		wfs_net_pump_free(pump);
		return;
	}
	rp->rt = rt;
	rp->pump = pump;
	rp->next = rt->pumps;
	rt->pumps = rp;
	wfs_net_pump_fds(pump, &sock, &fd);
	if (uv_poll_init_socket(rt->loop, &rp->sock_poll, sock) == 0) {
		rp->sock_poll.data = rp;
		rp->handles++;
	}
	if (rp->handles == 1 &&
	    uv_poll_init_socket(rt->loop, &rp->fd_poll, fd) == 0) {
		rp->fd_poll.data = rp;
		rp->handles++;
	}
	if (rp->handles < 2) {
		pump_stop(rp);
		return;
	}
	pump_go(rp, 0);
}

/* Wrap @fd in a uv_pipe for raft, which frees it with raft_free after
 * uv_close (so it comes from raft_malloc).  On success the pipe owns @fd. */
static int open_pipe(struct rt *rt, int fd, struct uv_stream_s **out)
{
	uv_pipe_t *p = raft_malloc(sizeof(*p));
	int rv;

	if (!p)
		return RAFT_NOMEM;
	rv = uv_pipe_init(rt->loop, p, 0);
	if (rv != 0) {
		raft_free(p);
		return RAFT_IOERR;
	}
	rv = uv_pipe_open(p, fd);
	if (rv != 0) {
		uv_close((uv_handle_t *)p, (uv_close_cb)raft_free);
		return RAFT_IOERR;
	}
	*out = (struct uv_stream_s *)p;
	return 0;
}

static bool peer_ok(struct rt *rt, struct event *e, uint64_t id,
		    const char *where)
{
	if (!rt->check || rt->check(rt->check_arg, id, e->pk))
		return true;
	wfs_log_warn(SUB, "link %llu %s: the peer's key is not raft server "
		     "%llu's; closing", (unsigned long long)e->link, where,
		     (unsigned long long)id);
	return false;
}

/* Wrap raft's end @fd of the relay @e brought in a uv_pipe for raft, and
 * start the relay's pump.  Returns 0, or a raft error after which @fd is
 * closed (the pump stays in @e, for discard_event). */
static int open_relay(struct rt *rt, struct event *e, int fd,
		      struct uv_stream_s **stream)
{
	int rv = open_pipe(rt, fd, stream);

	if (rv != 0) {
		close(fd);
		return rv;
	}
	pump_start(rt, e->pump);
	e->pump = NULL;
	return 0;
}

static void connected(struct rt *rt, struct event *e)
{
	struct conn *c = take_conn(rt, e->link);
	struct uv_stream_s *stream = NULL;
	int rv = RAFT_NOCONNECTION;

	/* Cancelled meanwhile: close() already closed its socket. */
	if (!c) {
		discard_event(e);
		return;
	}
	if (e->status == 0 && peer_ok(rt, e, c->id, "(outgoing)"))
		rv = open_relay(rt, e, c->fd, &stream);
	else
		close(c->fd);
	if (rv != 0) {
		stream = NULL;
		rv = RAFT_NOCONNECTION;
	}
	c->cb(c->req, stream, rv);
	wfs_free(c);
	discard_event(e);	/* what is left of it */
}

static void accepted(struct rt *rt, struct event *e)
{
	struct uv_stream_s *stream;

	if (rt->closing || !rt->accept_cb ||
	    !peer_ok(rt, e, e->id, "(incoming)")) {
		discard_event(e);
		return;
	}
	if (open_relay(rt, e, e->fd, &stream) == 0)
		rt->accept_cb(rt->t, e->id, e->addr, stream);
	wfs_net_pump_free(e->pump);	/* only if it did not start */
	wfs_free(e);
}

static void async_cb(uv_async_t *a)
{
	struct rt *rt = a->data;
	struct event *e, *next;

	for (e = take_events(rt); e; e = next) {
		next = e->next;
		if (e->kind == EVENT_CONNECTED)
			connected(rt, e);
		else
			accepted(rt, e);
	}
}

/* ---- the raft_uv_transport interface (raft thread) ---- */

static int t_init(struct raft_uv_transport *t, raft_id id,
		  const char *address)
{
	struct rt *rt = t->impl;
	size_t len = strlen(address);
	int rv;

	if (len == 0 || len > WFS_RAFT_TRANSPORT_ADDR_MAX) {
		snprintf(t->errmsg, sizeof(t->errmsg), "bad raft address");
		return RAFT_NAMETOOLONG;
	}
	for (int i = 0; i < 8; i++)
		rt->hello[i] = (uint8_t)(id >> (56 - 8 * i));
	memcpy(rt->hello + HELLO_ID_LEN, address, len);
	rt->hello_len = HELLO_ID_LEN + len;
	/* Made here, not in wfs_raft_transport_init: once raft initialised
	 * the transport it always closes it, which closes this handle. */
	rv = uv_async_init(rt->loop, &rt->async, async_cb);
	if (rv != 0) {
		snprintf(t->errmsg, sizeof(t->errmsg), "uv_async_init: %s",
			 uv_strerror(rv));
		return RAFT_IOERR;
	}
	rt->async.data = rt;
	rt->async_open = true;
	return 0;
}

static int t_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
	struct rt *rt = t->impl;
	int rc;

	rt->accept_cb = cb;
	rc = wfs_net_relay_listen_pump(rt->net, WFS_NET_TYPE_RAFT,
				       relay_arrived, rt);
	if (rc != 0)
		return RAFT_IOERR;
	rt->listening = true;
	return 0;
}

static int t_connect(struct raft_uv_transport *t, struct raft_uv_connect *req,
		     raft_id id, const char *address, raft_uv_connect_cb cb)
{
	struct rt *rt = t->impl;
	struct conn *c;
	struct event *e;
	int rc;

	if (rt->closing)
		return RAFT_CANCELED;
	c = wfs_calloc(1, sizeof(*c));
	/* Allocated now so the net thread never has to, and raft's connect
	 * always completes. */
	e = wfs_calloc(1, sizeof(*e));
	if (!c || !e) {
		rc = -ENOMEM;
		goto out_free;
	}
	e->rt = rt;
	e->kind = EVENT_CONNECTED;
	rt_ref(rt);
	rc = wfs_net_relay_open_pump(rt->net, address, NULL,
				     WFS_NET_TYPE_RAFT, rt->hello,
				     rt->hello_len, relay_done, e, &c->fd,
				     &c->link);
	if (rc != 0) {
		rt_unref(rt);
		goto out_free;
	}
	c->req = req;
	c->cb = cb;
	c->id = id;
	c->next = rt->conns;
	rt->conns = c;
	return 0;

out_free:
	wfs_free(c);
	wfs_free(e);
	snprintf(t->errmsg, sizeof(t->errmsg), "connect to %s: %s", address,
		 strerror(-rc));
	return rc == -ENOMEM ? RAFT_NOMEM : RAFT_NOCONNECTION;
}

/* Stop taking events and drop those queued.  Raft thread. */
static void shut(struct rt *rt)
{
	struct event *e, *next;

	if (rt->listening) {
		wfs_net_relay_listen_pump(rt->net, WFS_NET_TYPE_RAFT, NULL,
					  NULL);
		rt->listening = false;
	}
	pthread_mutex_lock(&rt->lock);
	rt->closed = true;
	pthread_mutex_unlock(&rt->lock);
	for (e = take_events(rt); e; e = next) {
		next = e->next;
		discard_event(e);
	}
}

/* Once the async handle and every pump's handles are closed nothing can
 * reach raft from us any more: cancel the connects still pending (raft
 * expects RAFT_CANCELED), then tell raft the transport may go. */
static void finish_close(struct rt *rt)
{
	if (!rt->closing || rt->close_done || rt->async_closing ||
	    rt->pumps_closing)
		return;
	rt->close_done = true;
	while (rt->conns) {
		struct conn *c = rt->conns;

		rt->conns = c->next;
		c->cb(c->req, NULL, RAFT_CANCELED);
		wfs_free(c);
	}
	if (rt->close_cb)
		rt->close_cb(rt->t);
}

static void async_closed(uv_handle_t *h)
{
	struct rt *rt = h->data;

	rt->async_closing = false;
	finish_close(rt);
}

static void t_close(struct raft_uv_transport *t,
		    raft_uv_transport_close_cb cb)
{
	struct rt *rt = t->impl;

	rt->closing = true;
	rt->close_cb = cb;
	shut(rt);
	/* The links of pending connects go now; their done callbacks find
	 * rt closed and drop what they bring. */
	for (struct conn *c = rt->conns; c; c = c->next) {
		close(c->fd);
		wfs_net_close(rt->net, c->link);
	}
	while (rt->pumps)
		pump_stop(rt->pumps);
	if (rt->async_open) {
		rt->async_open = false;
		rt->async_closing = true;
		uv_close((uv_handle_t *)&rt->async, async_closed);
	}
	finish_close(rt);
}

/* ---- public ---- */

int wfs_raft_transport_init(struct raft_uv_transport *t,
			    struct uv_loop_s *loop, struct wfs_net *net,
			    wfs_raft_transport_check_cb check, void *arg)
{
	struct rt *rt = wfs_calloc(1, sizeof(*rt));

	if (!rt)
		return -ENOMEM;
	rt->t = t;
	rt->net = net;
	rt->loop = loop;
	rt->check = check;
	rt->check_arg = arg;
	rt->refs = 1;
	rt->events_tail = &rt->events;
	rt->async.data = rt;
	pthread_mutex_init(&rt->lock, NULL);
	memset(t, 0, sizeof(*t));
	t->impl = rt;
	t->init = t_init;
	t->listen = t_listen;
	t->connect = t_connect;
	t->close = t_close;
	return 0;
}

void wfs_raft_transport_close(struct raft_uv_transport *t)
{
	struct rt *rt = t->impl;

	if (!rt)
		return;
	/* Raft never got as far as closing us: nothing of raft's is
	 * pending, but the net may still hold our relay callback. */
	if (!rt->closing)
		shut(rt);
	while (rt->conns) {
		struct conn *c = rt->conns;

		rt->conns = c->next;
		wfs_free(c);
	}
	t->impl = NULL;
	rt_unref(rt);
}
