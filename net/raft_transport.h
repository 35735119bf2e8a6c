/* raft_transport: libraft's peer traffic through the node transport.
 *
 * libraft (canonical raft 0.15) talks to its peers through a pluggable
 * struct raft_uv_transport that hands it libuv streams.  This one makes each
 * of those streams a relay link of a wfs_net (net/link.h, channel
 * WFS_NET_TYPE_RAFT): raft reads and writes one end of a socketpair, the net
 * carries the bytes, encrypted and authenticated, to the peer node, whose
 * net hands the other end to raft there.  So raft's traffic gets the same
 * protection as every other byte between nodes, with no change to raft.
 *
 *   connect(id, address)	asks the net for a relay link to @address whose
 *				hello carries this node's raft id and address;
 *				once the link is open (and the peer's key
 *				passed @check for @id), raft gets a uv_pipe on
 *				the local end.  A link that fails is a failed
 *				connect: raft retries after its delay.
 *   listen(cb)		registers for raft relays; each one that arrives
 *				is handed to raft's accept callback with the
 *				raft id and address its hello carries, as a
 *				uv_pipe on the local end.
 *
 * Only the handshake runs on the net thread: every raft relay is a pump
 * (net/link.h) that this transport runs on raft's own loop, so a message
 * wakes one thread on its way instead of three.  The bytes on the wire are
 * those of any relay, so a node whose net runs its raft relays itself
 * talks to this one as before.
 *
 * Threads.  raft calls the transport on its own libuv thread; the net calls
 * back on its libev thread.  They meet at one queue in this module, under a
 * mutex, drained on raft's loop by a uv_async: nothing of raft is touched
 * from the net thread, nothing of the net but its thread-safe calls from
 * raft's.
 *
 * Relay hello: 8 bytes, the sender's raft id (big-endian, never 0), then
 * its raft address (1..WFS_RAFT_TRANSPORT_ADDR_MAX bytes, no NUL).
 *
 * This header does not include libraft's: a caller that fills a transport
 * includes <raft/uv.h> itself.
 */
#ifndef WFS_NET_RAFT_TRANSPORT_H
#define WFS_NET_RAFT_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

#define WFS_RAFT_TRANSPORT_ADDR_MAX 255	/* bytes of a raft address */

struct raft_uv_transport;
struct uv_loop_s;
struct wfs_net;

/* Whether the node that proved key @pk (32 bytes, borrowed) may speak as
 * raft server @raft_id: the owner checks that @raft_id is the one @pk
 * derives to, so an admitted node cannot pose as another voter.  Called on
 * raft's thread. */
typedef bool (*wfs_raft_transport_check_cb)(void *arg, uint64_t raft_id,
					    const uint8_t *pk);

/* Fill @t (caller's memory, zeroed or not) for raft_uv_init() with @loop,
 * raft's loop.  @net must be running (wfs_net_start) and must outlive the
 * transport; this transport takes the net's WFS_NET_TYPE_RAFT relays (one
 * raft transport per net).  @check (with @arg) vets each peer; NULL
 * admits any key the net admitted.  Raft thread (the thread that runs
 * @loop).  Returns 0 or -ENOMEM. */
int wfs_raft_transport_init(struct raft_uv_transport *t,
			    struct uv_loop_s *loop, struct wfs_net *net,
			    wfs_raft_transport_check_cb check, void *arg);

/* Release what wfs_raft_transport_init allocated.  Call it once raft has
 * closed the transport (raft_close completed and @loop ran dry), or if
 * raft never initialised it (raft_uv_init or raft_init failed).  What the
 * net may still call back holds its own reference, so this is safe while
 * links are still closing.  Raft thread. */
void wfs_raft_transport_close(struct raft_uv_transport *t);

#endif
