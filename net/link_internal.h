/* link_internal: what net/link.c (links on the net thread) and net/relay.c
 * (the relay protocol and pumps) share.  Internal to net/.
 *
 * A relay's half of the protocol (relay data, relay end, flow control;
 * the frames are described at the top of link.c) runs in two places: on a
 * link, driven by the net thread's watchers, and on a pump, driven by its
 * owner's loop.  Both use struct wfs_relay and the wfs_relay_* functions,
 * so they speak the same protocol.  None of this locks: a relay belongs to
 * one thread at a time (the net thread, then the pump's owner).
 */
#ifndef WFS_NET_LINK_INTERNAL_H
#define WFS_NET_LINK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/link.h"
#include "net/secchan.h"

/* The link's own frame types (the wire format is at the top of link.c). */
enum {
	WFS_NET_FRAME_RELAY_HELLO = 0x80,
	WFS_NET_FRAME_RELAY_DATA = 0x81,
	WFS_NET_FRAME_RELAY_END = 0x82,
};

/* One read from a socket; also the largest relay data frame. */
#define WFS_NET_READ_CHUNK (64u << 10)
/* Output a link or pump may hold before it stops producing more (see
 * "Flow control" at the top of link.c). */
#define WFS_NET_OUT_HIGH (1u << 20)

/* The relay half of a link or pump: the relay socket and what each
 * direction has done.  fd is -1 when there is none. */
struct wfs_relay {
	int fd;			/* our end of the relay socket, or -1 */
	bool fd_eof;		/* it gave EOF */
	bool end_sent;		/* ... and WFS_NET_FRAME_RELAY_END was sealed */
	bool end_rcvd;		/* the peer's relay socket ended */
	uint8_t *to_fd;		/* bytes the relay socket did not take yet */
	size_t to_fd_off, to_fd_len;
};

/* Relay data from the peer (@data, @len bytes, borrowed) for our socket:
 * what it does not take now is copied to to_fd (and the caller reads no
 * more frames until it is gone).  Returns 0, 1 if our user closed its end
 * (nobody will read the rest: the relay is over), or -ENOMEM. */
int wfs_relay_put(struct wfs_relay *r, const uint8_t *data, size_t len);

/* Hand our socket what waited in to_fd (to_fd_len must not be 0).
 * Returns 0 (to_fd_len says what is left), or 1 if our user closed its
 * end. */
int wfs_relay_drain(struct wfs_relay *r);

/* The peer's relay socket ended (a WFS_NET_FRAME_RELAY_END of @len bytes).
 * Returns 0, or -EPROTO for a second end or a frame of the wrong size. */
int wfs_relay_end(struct wfs_relay *r, size_t len);

/* Read our socket once into @buf (@cap bytes; the first is for the frame
 * type) and seal what came into @ch: relay data, or relay end at EOF.
 * Returns 0 (also when there was nothing to read) or the seal's error. */
int wfs_relay_read(struct wfs_relay *r, struct wfs_secchan *ch, uint8_t *buf,
		   size_t cap);

/* Both directions ended and our socket has everything. */
bool wfs_relay_over(const struct wfs_relay *r);

/* Close the relay socket (if fd is not -1), drop what it did not take,
 * and leave @r with no socket (fd -1). */
void wfs_relay_release(struct wfs_relay *r);

/* Make a pump of a link that leaves the net (link.c's link_detach): @id
 * and @addr (copied) name it in log lines, @incoming says the peer
 * connected to us.  On success it owns @sock (the TCP socket), @ch (its
 * open channel) and what @r holds (the relay socket, bytes waiting for
 * it); the caller must forget them.  Returns the pump, or NULL when out of
 * memory (then the caller still owns all of them).  Any thread. */
struct wfs_net_pump *wfs_net_pump_new(uint64_t id, const char *addr,
				      bool incoming, int sock,
				      struct wfs_secchan *ch,
				      const struct wfs_relay *r);

#endif
