/* relay: the byte-stream half of a relay link, and pumps (see link.h).
 *
 * A relay bridges a local socket (one end of a socketpair) to the peer's,
 * through the link's secchan: what our relay socket gives is sealed as
 * relay data frames, relay data from the peer goes to our relay socket,
 * and EOF on either side is a relay end frame (the frames are described at
 * the top of link.c).  The wfs_relay_* functions below are that protocol
 * and its flow control, on a struct wfs_relay and a channel, with no event
 * loop: link.c runs them for a relay link on the net thread (from its
 * libev watchers), and the pumps below run them on their owner's thread.
 *
 * Pumps.  A relay opened or taken as a pump leaves the net as soon as it
 * can carry bytes: link.c's link_detach moves the link's TCP socket,
 * channel and relay state into a struct wfs_net_pump (wfs_net_pump_new)
 * and closes the link without touching them.  From then on its owner runs
 * it (wfs_net_pump_run, from its own loop), so the frames, the flow
 * control and the ends are the same either way; only who moves the bytes
 * changes.
 *
 * Not for: opening links, handshakes, handing relays to their users
 * (link.c), or the cryptography (secchan.c).
 *
 * Threads: no locks.  A relay belongs to one thread at a time: the net
 * thread while its link runs it, then the pump's owner.
 */
#include "net/link_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log/log.h"
#include "mem/mem.h"

#define SUB "net"

/* ---- the relay protocol (the net thread, or a pump's owner) ---- */

int wfs_relay_put(struct wfs_relay *r, const uint8_t *data, size_t len)
{
	ssize_t n = 0;

	while (len && (n = send(r->fd, data, len, MSG_NOSIGNAL)) < 0 &&
	       errno == EINTR)
		;
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
		return 1;
	if (n < 0)
		n = 0;
	if ((size_t)n == len)
		return 0;
	r->to_fd = wfs_memdup(data + n, len - (size_t)n);
	if (!r->to_fd)
		return -ENOMEM;
	r->to_fd_off = 0;
	r->to_fd_len = len - (size_t)n;
	return 0;
}

int wfs_relay_drain(struct wfs_relay *r)
{
	ssize_t n = send(r->fd, r->to_fd + r->to_fd_off, r->to_fd_len,
			 MSG_NOSIGNAL);

	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ||
		       errno == EINTR ? 0 : 1;
	r->to_fd_off += (size_t)n;
	r->to_fd_len -= (size_t)n;
	if (r->to_fd_len)
		return 0;
	wfs_free(r->to_fd);
	r->to_fd = NULL;
	if (r->end_rcvd)
		shutdown(r->fd, SHUT_WR);
	return 0;
}

int wfs_relay_end(struct wfs_relay *r, size_t len)
{
	if (r->end_rcvd || len != 1)
		return -EPROTO;
	r->end_rcvd = true;
	if (r->to_fd_len == 0)
		shutdown(r->fd, SHUT_WR);
	return 0;
}

int wfs_relay_read(struct wfs_relay *r, struct wfs_secchan *ch, uint8_t *buf,
		   size_t cap)
{
	ssize_t n = recv(r->fd, buf + 1, cap - 1, 0);
	int rc;

	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		/* A broken local socket ends our direction like EOF. */
		n = 0;
	}
	if (n > 0) {
		buf[0] = WFS_NET_FRAME_RELAY_DATA;
		return wfs_secchan_seal(ch, buf, (size_t)n + 1);
	}
	r->fd_eof = true;
	buf[0] = WFS_NET_FRAME_RELAY_END;
	rc = wfs_secchan_seal(ch, buf, 1);
	r->end_sent = rc == 0;
	return rc;
}

bool wfs_relay_over(const struct wfs_relay *r)
{
	return r->end_sent && r->end_rcvd && r->to_fd_len == 0;
}

void wfs_relay_release(struct wfs_relay *r)
{
	if (r->fd >= 0)
		close(r->fd);
	wfs_free(r->to_fd);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

/* ---- pumps (their owner's thread) ---- */

/* A relay off the net: everything of its link that still matters. */
struct wfs_net_pump {
	uint64_t id;			/* the link's, for log lines */
	char addr[WFS_NET_ADDR_MAX];	/* the peer's, for log lines */
	bool incoming;
	int sock;
	struct wfs_secchan *ch;
	struct wfs_relay r;
	int result;		/* what run returns once it is over, else 0 */
	uint8_t buf[WFS_NET_READ_CHUNK];
};

/* Read the TCP socket once into the channel.  Returns 0, 1 when the peer
 * closed after both directions ended, or a negative errno. */
static int pump_recv(struct wfs_net_pump *p)
{
	ssize_t n = recv(p->sock, p->buf, sizeof(p->buf), 0);

	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ||
		       errno == EINTR ? 0 : -errno;
	if (n == 0)
		return p->r.end_sent && p->r.end_rcvd ? 1 : -ECONNRESET;
	return wfs_secchan_feed(p->ch, p->buf, (size_t)n);
}

/* Deliver the frames the channel holds while the relay socket takes
 * them.  Returns 0, 1 if the user closed its socket, or a negative errno
 * (-EPROTO: anything but relay data and relay end). */
static int pump_frames(struct wfs_net_pump *p)
{
	const uint8_t *f;
	size_t len;
	int rc = 0;

	while (rc == 0 && p->r.to_fd_len == 0) {
		rc = wfs_secchan_recv(p->ch, &f, &len);
		if (rc <= 0)
			return rc;
		if (len > 0 && f[0] == WFS_NET_FRAME_RELAY_DATA &&
		    !p->r.end_rcvd)
			rc = wfs_relay_put(&p->r, f + 1, len - 1);
		else if (len > 0 && f[0] == WFS_NET_FRAME_RELAY_END)
			rc = wfs_relay_end(&p->r, len);
		else
			rc = -EPROTO;
	}
	return rc;
}

/* Hand the kernel what the channel has to send.  Returns 0 or a negative
 * errno. */
static int pump_send(struct wfs_net_pump *p)
{
	const uint8_t *o;
	size_t n;

	while ((n = wfs_secchan_output(p->ch, &o)) > 0) {
		ssize_t w = send(p->sock, o, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (w < 0)
			return errno == EPIPE ? -ECONNRESET : -errno;
		wfs_secchan_consumed(p->ch, (size_t)w);
	}
	return 0;
}

/* One round of wfs_net_pump_run: 0 while it runs, else its result. */
static int pump_step(struct wfs_net_pump *p, unsigned ready)
{
	const uint8_t *o;
	int rc = 0;

	if ((ready & WFS_NET_PUMP_FD_WR) && p->r.to_fd_len)
		rc = wfs_relay_drain(&p->r);
	if (rc == 0 && (ready & WFS_NET_PUMP_SOCK_RD) && !p->r.to_fd_len)
		rc = pump_recv(p);
	if (rc == 0)
		rc = pump_frames(p);
	if (rc == 0 && (ready & WFS_NET_PUMP_FD_RD) && !p->r.fd_eof &&
	    wfs_secchan_output(p->ch, &o) < WFS_NET_OUT_HIGH)
		rc = wfs_relay_read(&p->r, p->ch, p->buf, sizeof(p->buf));
	if (rc == 0)
		rc = pump_send(p);
	if (rc == 0 && wfs_relay_over(&p->r) && !wfs_secchan_output(p->ch, &o))
		rc = 1;
	return rc;
}

/* What link.c's flush_out and pump_in watch for a relay link, for a pump:
 * the same flow control (see the top of link.c). */
static unsigned pump_want(struct wfs_net_pump *p)
{
	const uint8_t *o;
	size_t out = wfs_secchan_output(p->ch, &o);
	unsigned want = 0;

	if (!p->r.to_fd_len)
		want |= WFS_NET_PUMP_SOCK_RD;
	else
		want |= WFS_NET_PUMP_FD_WR;
	if (out)
		want |= WFS_NET_PUMP_SOCK_WR;
	if (!p->r.fd_eof && out < WFS_NET_OUT_HIGH)
		want |= WFS_NET_PUMP_FD_RD;
	return want;
}

static void pump_ended(struct wfs_net_pump *p, int rc)
{
	const char *dir = p->incoming ? "from" : "to";
	unsigned long long id = p->id;

	if (rc > 0)
		wfs_log_debug(SUB, "link %llu %s %s: relay done", id, dir,
			      p->addr);
	else if (wfs_secchan_state(p->ch) == WFS_SECCHAN_FAILED)
		wfs_log_warn(SUB, "link %llu %s %s: %s; closing", id, dir,
			     p->addr, wfs_secchan_reason(p->ch));
	else if (rc == -EPROTO)
		wfs_log_warn(SUB, "link %llu %s %s: malformed relay frame; "
			     "closing", id, dir, p->addr);
	else
		wfs_log_debug(SUB, "link %llu %s %s closed: %s", id, dir,
			      p->addr, strerror(-rc));
}

struct wfs_net_pump *wfs_net_pump_new(uint64_t id, const char *addr,
				      bool incoming, int sock,
				      struct wfs_secchan *ch,
				      const struct wfs_relay *r)
{
	struct wfs_net_pump *p = wfs_calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->id = id;
	snprintf(p->addr, sizeof(p->addr), "%s", addr);
	p->incoming = incoming;
	p->sock = sock;
	p->ch = ch;
	p->r = *r;
	return p;
}

void wfs_net_pump_fds(const struct wfs_net_pump *pump, int *sock, int *fd)
{
	*sock = pump->sock;
	*fd = pump->r.fd;
}

int wfs_net_pump_run(struct wfs_net_pump *pump, unsigned ready,
		     unsigned *want)
{
	int rc = pump->result;

	*want = 0;
	if (rc != 0)
		return rc;
	rc = pump_step(pump, ready);
	if (rc == 0) {
		*want = pump_want(pump);
		return 0;
	}
	pump->result = rc;
	pump_ended(pump, rc);
	return rc;
}

void wfs_net_pump_free(struct wfs_net_pump *pump)
{
	if (!pump)
		return;
	if (pump->sock >= 0)
		close(pump->sock);
	wfs_relay_release(&pump->r);
	wfs_secchan_free(pump->ch);
	wfs_free(pump);
}
