/* swim: SWIM-style cluster membership, as a protocol core without I/O.
 *
 * Each node runs one core.  The core never touches a socket or a clock: the
 * owner (gossip/gossip.c on a real node, a simulated network in
 * swim_test.c) hands it received packets and the current time in
 * milliseconds, calls wfs_swim_tick() when the time it returned has come,
 * and gets the packets to send through a callback.  So the protocol is
 * deterministic and runs under a virtual clock; authentication and
 * encryption belong to the owner (the core trusts the sender id it is
 * given).
 *
 * The protocol (Das, Gupta, Motivala: "SWIM", DSN 2002, with the
 * dissemination and push-pull of Hashicorp's memberlist):
 *
 *  - Every period the core pings one member, in a randomized round-robin
 *    order (shuffled again after each full pass).  No ack within the probe
 *    timeout: it asks up to indirect_probes other members to ping the
 *    target for it (ping-req) and relays their acks.  Still nothing by the
 *    end of the period: the target becomes SUSPECT.
 *  - A suspect that nobody clears within suspicion_ms is DEAD.  A live node
 *    that hears it is suspected (or declared dead) at its current
 *    incarnation refutes it by raising its incarnation: a higher
 *    incarnation's ALIVE beats any older news.  Suspect and dead members are
 *    told of their accusation in every packet sent to them, so they refute
 *    at once.
 *  - For one member and one incarnation, LEFT > DEAD > SUSPECT > ALIVE; a
 *    higher incarnation beats any state of a lower one.  That one rule
 *    orders all news, so lost, duplicated and reordered packets cannot undo
 *    anything.
 *  - Membership news is piggybacked on pings and acks, and pushed to
 *    gossip_fanout random members every gossip_ms while there is any; each
 *    piece is sent retransmit_mult * ceil(log2(n + 1)) times.
 *  - Every pushpull_ms the core exchanges its whole table with one random
 *    member, the dead ones included (anti-entropy; after a partition it is
 *    what brings the two sides back together).  A DEAD heard this way about
 *    a member still alive here is taken as SUSPECT only, so a partition's
 *    verdicts are re-checked rather than believed.
 *  - Dead and left members stay in the table as tombstones for
 *    tombstone_ms, so late news of their old life is ignored; a node that
 *    restarts with a higher incarnation comes back.
 *  - Joining: the core sends its table to every seed address until it knows
 *    a live member; then push-pull and gossip take over.
 *
 * Application data: each member carries an opaque @meta (addresses, role,
 * each disk's capacity, free space and health, encoded by the owner).  It is
 * part of the member's ALIVE news: setting it raises the node's own
 * incarnation, so a meta change spreads like a refutation and the same
 * ordering rule decides which meta is newest.  meta_version is the
 * incarnation it was published at.
 *
 * Default timings and why a killed node is DEAD everywhere within 3 s in a
 * cluster of six (five survivors, each probing one of five targets per
 * period):
 *
 *     first probe of the dead node   ~0.2-0.6 s (five probers; at most one
 *                                    pass, 5 x 200 ms = 1 s, in practice)
 *   + direct + indirect probe fails   0.2 s  (period_ms; ping-req at 100 ms)
 *   + suspicion timeout               1.0 s  (suspicion_ms)
 *   + DEAD reaches everyone           ~0.1-0.3 s (fanout 3 every 100 ms;
 *                                    the others' own suspicion timers, started
 *                                    when the SUSPECT reached them, end
 *                                    within ~0.3 s of the first anyway)
 *   = about 1.5-2.1 s typical, under 2.5 s when the first probe is late.
 *
 * (swim_test.c's simulated six-node cluster measures about 1.4 s on
 * average and 2.2 s at worst over thousands of crashes, with or without
 * 20% packet loss.)
 *
 * The suspicion timeout is the margin for a live node that merely lost
 * packets: 1 s is five periods to hear of its suspicion and refute it.  For
 * clusters much larger than ten nodes, raise suspicion_ms (detection grows
 * with log n).
 *
 * Threads: a core is not thread-safe; one thread at a time calls it.
 * Callbacks run only inside wfs_swim_tick() and wfs_swim_receive(), on
 * that thread, and must not call any wfs_swim_* function of the same core.
 */
#ifndef WFS_GOSSIP_SWIM_H
#define WFS_GOSSIP_SWIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WFS_SWIM_ID_LEN 32	/* a node id: its Ed25519 public key */
#define WFS_SWIM_NAME_LEN 13	/* printable id: 12 hex digits and a NUL */
#define WFS_SWIM_ADDR_MAX 64	/* "ip:port" or "[ipv6]:port", with its NUL */
#define WFS_SWIM_META_MAX 1024	/* bytes of a member's meta */

/* Largest packet the core sends or accepts.  A table that does not fit a
 * push-pull packet is sent in turns (a rotating window of members). */
#define WFS_SWIM_PACKET_MAX 16384

/* What pings, acks and gossip packets aim to stay under (one Ethernet
 * frame); a single piece of news larger than that is still sent. */
#define WFS_SWIM_MTU 1400

/* A member's state as this node sees it. */
enum wfs_swim_state {
	WFS_SWIM_NONE = 0,	/* not in the table (before it joined, after
				 * its tombstone expired) */
	WFS_SWIM_ALIVE,
	WFS_SWIM_SUSPECT,	/* missed its probes; may still refute */
	WFS_SWIM_DEAD,		/* declared failed; a tombstone */
	WFS_SWIM_LEFT,		/* said goodbye; a tombstone */
};

/* A copy of one member, a plain value. */
struct wfs_swim_member {
	unsigned char id[WFS_SWIM_ID_LEN];	/* node id (public key) */
	char name[WFS_SWIM_NAME_LEN];		/* short hex id, for logs */
	char addr[WFS_SWIM_ADDR_MAX];		/* where it gossips */
	uint64_t incarnation;			/* >= 1 */
	enum wfs_swim_state state;
	bool self;				/* this node */
	uint64_t meta_version;			/* incarnation @meta came
						 * with; 0: none known yet */
	size_t meta_len;
	unsigned char meta[WFS_SWIM_META_MAX];
};

/* Protocol timings and fan-outs.  A zero field takes the default given. */
struct wfs_swim_params {
	unsigned period_ms;		/* 200: one probe per period */
	unsigned probe_timeout_ms;	/* 100: direct ack wait before
					 * ping-req; < period_ms */
	unsigned indirect_probes;	/* 3: members asked to ping-req
					 * (at most 8) */
	unsigned suspicion_ms;		/* 1000: SUSPECT -> DEAD */
	unsigned gossip_ms;		/* 100: fanout of pending news */
	unsigned gossip_fanout;		/* 3: members per gossip round
					 * (at most 8) */
	unsigned retransmit_mult;	/* 4: lambda in lambda*log2(n+1) */
	unsigned pushpull_ms;		/* 2000: anti-entropy exchange */
	unsigned join_retry_ms;		/* 500: seed contact while alone */
	unsigned tombstone_ms;		/* 30000: DEAD/LEFT kept this long */
};

/* Callbacks; see "Threads" above. */
struct wfs_swim_ops {
	/* Send @len bytes at @buf (borrowed for the call) to @addr.  @to_id is
	 * the recipient's id, or NULL when only its address is known (a
	 * seed).  Best effort: a packet that cannot be sent is simply lost.
	 * Required. */
	void (*send)(void *arg, const unsigned char *to_id, const char *addr,
		     const void *buf, size_t len);

	/* Member @m (a copy valid during the call; never this node) went from
	 * @old to @now, or, with @old == @now, changed its address or meta.
	 * WFS_SWIM_NONE as @old: newly heard of; as @now: forgotten.
	 * Optional. */
	void (*changed)(void *arg, const struct wfs_swim_member *m,
			enum wfs_swim_state old, enum wfs_swim_state now);
};

/* How to make a core.  Everything is copied by wfs_swim_new(). */
struct wfs_swim_config {
	const unsigned char *id;	/* WFS_SWIM_ID_LEN bytes */
	const char *addr;		/* own "ip:port" as others reach it */
	uint64_t incarnation;		/* starting incarnation (0 counts as
					 * 1); a restarted node starting
					 * higher than before comes back at
					 * once, else it learns its old one
					 * from the others and refutes it */
	const void *meta;		/* initial meta, may be NULL */
	size_t meta_len;		/* <= WFS_SWIM_META_MAX */
	uint64_t seed;			/* random seed; 0: derived from @id */
	struct wfs_swim_params params;
	struct wfs_swim_ops ops;
	void *arg;			/* passed to the callbacks */
};

/* Counters since the core was made. */
struct wfs_swim_stats {
	uint64_t rx_packets;		/* handed to wfs_swim_receive */
	uint64_t rx_malformed;		/* dropped: not a valid packet */
	uint64_t rx_misaddressed;	/* dropped: a ping for another id */
	uint64_t tx_packets;
	uint64_t probes;		/* direct pings of a probe */
	uint64_t probes_failed;		/* probes that ended in SUSPECT */
	uint64_t refutations;		/* own incarnation raised */
	uint64_t dropped_news;		/* news lost to out of memory */
};

struct wfs_swim;

/* Make a core from @cfg at time @now_ms (the owner's monotonic clock; all
 * later times must come from the same clock).  On success *out is the core;
 * release it with wfs_swim_free().  Returns 0, -EINVAL (missing id, addr or
 * send callback, an address too long or empty, meta too long, a parameter
 * out of range) or -ENOMEM.  Nothing is sent before the first tick. */
int wfs_swim_new(const struct wfs_swim_config *cfg, uint64_t now_ms,
		 struct wfs_swim **out);

/* Release a core.  NULL is a no-op. */
void wfs_swim_free(struct wfs_swim *s);

/* Join through @nseeds seed addresses (copied; replacing earlier ones;
 * entries equal to the own address are skipped).  From the next tick the
 * core contacts every seed each join_retry_ms for as long as it knows no
 * live member, so it is also how a node that lost everyone finds its way
 * back.  Returns 0, -EINVAL for an empty or too long address, -ENOMEM. */
int wfs_swim_join(struct wfs_swim *s, const char *const *seeds,
		  size_t nseeds);

/* Do what is due at @now_ms: probes, suspicion timeouts, gossip,
 * push-pull, seed contact, tombstone expiry.  Returns the time at which it
 * must be called next (it may be called earlier, and must be called again
 * after wfs_swim_receive, which can bring deadlines forward). */
uint64_t wfs_swim_tick(struct wfs_swim *s, uint64_t now_ms);

/* Handle one packet (@len bytes at @buf, borrowed) received at @now_ms from
 * the node @from_id (WFS_SWIM_ID_LEN bytes, as authenticated by the owner)
 * at @from_addr (the packet's source address; replies go there).  Returns 0,
 * or -EPROTO for a packet that is not valid (then nothing of it was
 * applied; counted in rx_malformed) or -EXDEV for a ping meant for another
 * node or a packet that claims to come from this one (rx_misaddressed). */
int wfs_swim_receive(struct wfs_swim *s, uint64_t now_ms,
		     const unsigned char *from_id, const char *from_addr,
		     const void *buf, size_t len);

/* Publish new meta (@len bytes at @meta, copied): raises the own
 * incarnation and queues the news.  Returns 0 or -EINVAL if @len is over
 * WFS_SWIM_META_MAX. */
int wfs_swim_set_meta(struct wfs_swim *s, const void *meta, size_t len);

/* Leave the cluster: queue LEFT news about this node and stop probing.  Keep
 * ticking until wfs_swim_leave_done() so the news gets out, then stop.  A
 * left core cannot rejoin; make a new one (with a higher incarnation). */
void wfs_swim_leave(struct wfs_swim *s);

/* Whether the LEFT news has been sent as many times as news is (or there is
 * nobody left to tell). */
bool wfs_swim_leave_done(const struct wfs_swim *s);

/* A copy of the whole table, this node first (self set), then every member
 * including suspects and tombstones.  On success *out is a wfs_malloc'ed
 * array of *n entries that the caller frees with wfs_free().  Returns 0 or
 * -ENOMEM. */
int wfs_swim_members(const struct wfs_swim *s, struct wfs_swim_member **out,
		     size_t *n);

/* Copy the member with @id (this node too) into *out.  Returns 0 or
 * -ENOENT. */
int wfs_swim_member(const struct wfs_swim *s, const unsigned char *id,
		    struct wfs_swim_member *out);

/* Copy the counters into *out. */
void wfs_swim_stats(const struct wfs_swim *s, struct wfs_swim_stats *out);

/* Write the short printable form of @id (WFS_SWIM_ID_LEN bytes) into @out:
 * the hex of its first 6 bytes. */
void wfs_swim_id_name(const unsigned char *id, char out[WFS_SWIM_NAME_LEN]);

/* The name of @state: "alive", "suspect", "dead", "left" or "none". */
const char *wfs_swim_state_name(enum wfs_swim_state state);

#endif
