/* link: the node-to-node transport.  Every connection between two nodes is a
 * link: a TCP connection carrying a secchan (mutually authenticated,
 * encrypted; see net/secchan.h), run by one libev loop on its own thread.
 *
 * A link carries messages: each one is a channel type (1..127, so several
 * users share a link: WFS_NET_TYPE_*) and up to WFS_NET_MSG_MAX bytes,
 * delivered whole and in order to the peer's on_msg callback.
 *
 * A link can also be a relay: it bridges a local socket (one end of a
 * socketpair) to a socket on the peer, byte for byte in both directions,
 * so a library that wants a plain stream (libraft) gets one whose bytes
 * travel encrypted.  The side that opens a relay names a channel type and
 * gives a few opaque hello bytes (raft's id and address, say); the peer
 * hands its own end of a new socketpair, with those bytes, to the callback
 * registered for that type.  A relay does not buffer without bound: it
 * stops reading a socket while the other side cannot keep up.  Closing (or
 * shutting down for writing) a relay socket ends that direction; the link
 * closes once both directions ended.
 *
 * A relay can also leave the net thread once its link is open: opened with
 * wfs_net_relay_open_pump() (or taken with wfs_net_relay_listen_pump()), its
 * TCP socket, its channel and the net's end of its socketpair become a
 * pump that the user runs on its own loop (wfs_net_pump_run).  The bytes
 * on the wire are the same; what changes is who moves them.  Through a
 * relay the net runs, a message wakes three threads on its way (this net
 * thread, the peer's net thread, the peer's user); through pumps run by
 * the users' own loops it wakes one (the peer's user), and it no longer
 * waits behind whatever else the net threads carry (chunk transfers).
 * libraft's traffic (net/raft_transport.h) goes through pumps.
 *
 * Threads.  wfs_net_start() spawns the net thread, which owns the loop, the
 * sockets and every link.  Every other call may come from any thread,
 * including the net thread's own callbacks: it only queues a command (under
 * one lock) and wakes the loop with ev_async.  All callbacks run on the net
 * thread, one at a time; they must not block and must not call
 * wfs_net_stop() or wfs_net_free().
 *
 * Links are named by a uint64_t id (never 0, never reused by a net), not a
 * pointer, so a command for a link that closed meanwhile is harmlessly
 * dropped.  A link that ends for a protocol reason (an unknown key, an
 * altered or replayed frame, a malformed message, a handshake that takes too
 * long) is logged once at warn and closed; the net carries on.  A refused
 * key is named in its line, and a key that keeps trying gets at most one
 * warn line a minute, which counts the refusals since the last one.
 *
 * Close reasons (on_close, and a relay's done callback) are 0 when this side
 * closed it (wfs_net_close, or a relay whose both directions ended),
 * -ECONNRESET when the peer closed it or went away, -ECANCELED when the net
 * stopped, -ETIMEDOUT when the handshake took too long, an error of
 * net/secchan.h (-EACCES, -EBADMSG, -EPROTO, -EMSGSIZE), -EPROTO for a
 * malformed message, or the errno of a socket call (-ECONNREFUSED, ...).
 */
#ifndef WFS_NET_LINK_H
#define WFS_NET_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/secchan.h"

/* Channel types of messages and relays.  1..127 are users'; the rest are
 * the link's own. */
enum {
	WFS_NET_TYPE_RAFT = 1,		/* raft relay (net/raft_transport.h) */
	WFS_NET_TYPE_CHUNK = 2,		/* chunk transfer between nodes */
	WFS_NET_TYPE_CONTROL = 3,	/* control messages */
	WFS_NET_TYPE_MAX = 127,
};

#define WFS_NET_MSG_MAX (WFS_SECCHAN_FRAME_MAX - 1) /* bytes of a message */
#define WFS_NET_RELAY_HELLO_MAX 512	/* bytes of a relay's hello */
#define WFS_NET_ADDR_MAX 64		/* "[ipv6]:port" with its NUL */
/* Message bytes queued by wfs_net_send and not yet handed to a socket,
 * over all links, beyond which it refuses more (-ENOBUFS). */
#define WFS_NET_QUEUE_MAX (64u << 20)

struct wfs_net;

/* A link completed its handshake: @pk is the peer's key (borrowed for the
 * call); @incoming says the peer connected to us. */
typedef void (*wfs_net_open_cb)(void *arg, uint64_t link, const uint8_t *pk,
				bool incoming);

/* A message of channel @type arrived on @link from @pk.  @buf (@len bytes)
 * is borrowed for the call. */
typedef void (*wfs_net_msg_cb)(void *arg, uint64_t link, const uint8_t *pk,
			       uint8_t type, const void *buf, size_t len);

/* @link closed, for @reason (see above).  @pk is the peer's key if the
 * handshake had completed, else NULL.  Called once for every link, incoming
 * links that never completed their handshake included. */
typedef void (*wfs_net_close_cb)(void *arg, uint64_t link, const uint8_t *pk,
				 int reason);

/* A relay of a registered type arrived on @link from @pk: @hello (@len
 * bytes, borrowed) is what the opener gave, and @fd (blocking, close-on-exec)
 * is this side's socket of the relay, now owned by the callback. */
typedef void (*wfs_net_relay_cb)(void *arg, uint64_t link, const uint8_t *pk,
				 const void *hello, size_t len, int fd);

/* The outcome of wfs_net_relay_open: @status 0 once the link is open (@pk
 * the peer's key, borrowed), else the reason it closed first (@pk NULL).
 * Called exactly once per successful wfs_net_relay_open, even when the net
 * stops or is freed first (then with -ECANCELED, on the thread that stops
 * or frees it). */
typedef void (*wfs_net_done_cb)(void *arg, uint64_t link, const uint8_t *pk,
				int status);

/* A relay taken off the net (see the top of this file): owned by its user
 * from the callback that hands it over until wfs_net_pump_free. */
struct wfs_net_pump;

/* The outcome of wfs_net_relay_open_pump: @status 0 once the link is open,
 * with @pk the peer's key (borrowed for the call) and @pump the relay, now
 * the callback's (it may pass it to another thread); else the reason it
 * closed first, with @pk and @pump NULL.  Called exactly once, as
 * wfs_net_done_cb is. */
typedef void (*wfs_net_pump_open_cb)(void *arg, uint64_t link,
				     const uint8_t *pk,
				     struct wfs_net_pump *pump, int status);

/* A relay of a type registered with wfs_net_relay_listen_pump arrived on
 * @link from @pk: @hello (@len bytes, borrowed) is what the opener gave,
 * @fd (blocking, close-on-exec) is this side's socket of the relay and
 * @pump runs its other end; both are now owned by the callback. */
typedef void (*wfs_net_pump_cb)(void *arg, uint64_t link, const uint8_t *pk,
				const void *hello, size_t len, int fd,
				struct wfs_net_pump *pump);

/* What a pump waits for (wfs_net_pump_run), on the two descriptors of
 * wfs_net_pump_fds. */
enum wfs_net_pump_events {
	WFS_NET_PUMP_SOCK_RD = 1 << 0,	/* the TCP socket is readable */
	WFS_NET_PUMP_SOCK_WR = 1 << 1,	/* ... writable */
	WFS_NET_PUMP_FD_RD = 1 << 2,	/* the relay socket is readable */
	WFS_NET_PUMP_FD_WR = 1 << 3,	/* ... writable */
};

/* How to make a net.  Pointers are borrowed by wfs_net_new (strings and keys
 * are copied); the callbacks' args are kept until wfs_net_free. */
struct wfs_net_config {
	/* Where to listen: "a.b.c.d:port" or "[ipv6]:port"; port 0 picks a
	 * free one (see wfs_net_listen_addr).  NULL: no listener. */
	const char *listen;
	const uint8_t *pk;	/* this node's Ed25519 public key (32 bytes) */
	const uint8_t *sk;	/* and secret key (64 bytes) */
	/* Which peer keys may talk to us at all; called on the net thread
	 * during every handshake.  Required. */
	wfs_secchan_admit_cb admit;
	void *admit_arg;
	/* Link events; each may be NULL.  @arg is passed to all three. */
	wfs_net_open_cb on_open;
	wfs_net_msg_cb on_msg;
	wfs_net_close_cb on_close;
	void *arg;
	/* Longest a link may take from its creation to an open channel
	 * (connect and handshake); 0: 5000. */
	unsigned handshake_ms;
};

/* Make a net: its loop, and its listener bound and listening (so
 * wfs_net_listen_addr works at once), nothing running yet.  Returns 0 and
 * *out; -EINVAL for a bad address or missing key or admit; the errno of
 * socket/bind/listen (-EADDRINUSE, ...); -ENOMEM.  Any thread. */
int wfs_net_new(const struct wfs_net_config *cfg, struct wfs_net **out);

/* Spawn the net thread.  Commands queued before run then.  Returns 0, the
 * errno of pthread_create, or -EALREADY if it was started before (a net
 * runs once).  Not from the net thread. */
int wfs_net_start(struct wfs_net *net);

/* Close every link (on_close with -ECANCELED, on the net thread) and join
 * the net thread.  Afterwards every call that queues returns -ESHUTDOWN.
 * Idempotent; a net never started just refuses further commands.  Not from
 * the net thread. */
void wfs_net_stop(struct wfs_net *net);

/* Stop, then free everything.  Commands still queued are dropped (relay
 * opens get their done callback with -ECANCELED, here).  NULL is a no-op.
 * Not from the net thread. */
void wfs_net_free(struct wfs_net *net);

/* Write the listener's bound address ("127.0.0.1:41234", "[::1]:41234")
 * into @buf.  Returns 0, -ENOTCONN if there is no listener, -ENAMETOOLONG
 * if @len is too small.  Any thread. */
int wfs_net_listen_addr(struct wfs_net *net, char *buf, size_t len);

/* Open a link to @addr ("a.b.c.d:port" or "[ipv6]:port").  If @expect_pk
 * is not NULL the peer must hold that key (and be admitted); else any
 * admitted key goes.  On success *link names the new link at once: sends
 * queued on it go out once it is open; on_open or on_close tells how it
 * went.  Returns 0, -EINVAL for a bad address, -ESHUTDOWN once stopped,
 * -ENOMEM.  Any thread. */
int wfs_net_open(struct wfs_net *net, const char *addr,
		 const uint8_t *expect_pk, uint64_t *link);

/* Queue a message of channel @type (1..WFS_NET_TYPE_MAX) and @len bytes
 * (copied; at most WFS_NET_MSG_MAX) on @link.  It is sent once the link is
 * open, in order with the other messages of this link; if the link closes
 * first it is dropped (on_close tells).  Returns 0; -EINVAL for a bad type,
 * -EMSGSIZE, -ENOBUFS when WFS_NET_QUEUE_MAX bytes wait already (try
 * again later), -ESHUTDOWN, -ENOMEM.  Any thread. */
int wfs_net_send(struct wfs_net *net, uint64_t link, uint8_t type,
		 const void *buf, size_t len);

/* Close @link: messages queued before are sent first (for at most the
 * handshake time), then the link closes with reason 0.  A link still
 * handshaking closes at once.  Unknown or closed links are ignored.
 * Returns 0 or -ESHUTDOWN / -ENOMEM.  Any thread. */
int wfs_net_close(struct wfs_net *net, uint64_t link);

/* Open a relay link to @addr (as wfs_net_open) for channel @type, carrying
 * @hello (@len <= WFS_NET_RELAY_HELLO_MAX bytes, copied) to the peer's
 * relay callback.  On success *fd is this side's socket of the relay
 * (blocking, close-on-exec; owned by the caller), usable at once: what is
 * written before the link opens waits in the socket.  If the link fails,
 * the net closes its end (the caller reads EOF).  @done (with @arg) says
 * whether the link opened; it may be NULL.  Returns 0, -EINVAL, -EMSGSIZE,
 * -ESHUTDOWN, -ENOMEM or a socketpair errno.  Any thread. */
int wfs_net_relay_open(struct wfs_net *net, const char *addr,
		       const uint8_t *expect_pk, uint8_t type,
		       const void *hello, size_t len, wfs_net_done_cb done,
		       void *arg, int *fd, uint64_t *link);

/* Register @cb (with @arg) for relays of channel @type opened by peers;
 * NULL unregisters.  A relay of a type with no callback is refused (the
 * link closes, logged).  When this returns, the previous callback of @type
 * is not running and will not be called again.  Returns 0 or -EINVAL for a
 * bad type.  Any thread. */
int wfs_net_relay_listen(struct wfs_net *net, uint8_t type,
			 wfs_net_relay_cb cb, void *arg);

/* As wfs_net_relay_open, except that once the link is open it leaves the
 * net: @done gets the pump that carries the relay from then on (and the
 * net calls on_open, then on_close with reason 0, for the link).  *fd is
 * usable at once, as with wfs_net_relay_open.  Returns as
 * wfs_net_relay_open.  Any thread. */
int wfs_net_relay_open_pump(struct wfs_net *net, const char *addr,
			    const uint8_t *expect_pk, uint8_t type,
			    const void *hello, size_t len,
			    wfs_net_pump_open_cb done, void *arg, int *fd,
			    uint64_t *link);

/* As wfs_net_relay_listen, but relays of @type leave the net as they
 * arrive: @cb gets a pump with each (the net calls on_close with reason 0
 * for the link then).  Registering either kind for a type replaces the
 * other.  Returns 0 or -EINVAL for a bad type.  Any thread. */
int wfs_net_relay_listen_pump(struct wfs_net *net, uint8_t type,
			      wfs_net_pump_cb cb, void *arg);

/* The pump's TCP socket into *sock and its end of the relay socketpair
 * into *fd, to watch for wfs_net_pump_events (both non-blocking; the pump
 * owns them: never read, write or close them).  Valid until
 * wfs_net_pump_free.  The pump's thread. */
void wfs_net_pump_fds(const struct wfs_net_pump *pump, int *sock, int *fd);

/* Move what can be moved now, without blocking: bytes the relay socket
 * holds go sealed to the peer, frames from the peer go to the relay
 * socket, with the same flow control as a relay the net runs.  @ready says
 * which WFS_NET_PUMP_* events fired (0 is fine: call it once with 0 when
 * the pump is new, to send what the handshake left and deliver frames that
 * came with it).  *want is what to wait for before the next call (0 once
 * it is over).  Returns 0 while the relay runs; 1 once it is over cleanly
 * (both directions ended, or the user closed its socket with bytes still
 * coming); or the negative errno that ended the link (see the top of this
 * file; a protocol failure is logged).  Once it returned non-zero it
 * returns the same again; free the pump (which closes the TCP socket, so
 * the peer sees the link end, and the net's end of the socketpair, so the
 * user reads EOF).  One thread at a time. */
int wfs_net_pump_run(struct wfs_net_pump *pump, unsigned ready,
		     unsigned *want);

/* Close the pump's sockets (a relay still running ends: the peer sees
 * -ECONNRESET) and free it.  NULL is a no-op.  Any one thread. */
void wfs_net_pump_free(struct wfs_net_pump *pump);

#endif
