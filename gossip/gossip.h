/* gossip: the node's membership service: the swim core (gossip/swim.h) on a
 * UDP socket, every packet authenticated and encrypted.
 *
 * A runner owns one UDP socket and one thread (the "gossip thread") that
 * runs its own libev loop: it reads packets, opens them, feeds the swim core
 * and fires its timers.  The owner's threads call the API below; they share
 * the core with the gossip thread under one lock.  The wire envelope (a
 * crypto_box per packet, keyed by the nodes' Ed25519 identities converted to
 * X25519, a sequence number against replay, and a signed HELLO for seeds
 * whose key is not known yet) is described at the top of gossip.c.
 *
 * Who may talk is the owner's decision: every packet received, and every
 * packet about to be sent, names a peer's Ed25519 public key, and the
 * owner's admit callback says yes or no.  Packets from refused keys are
 * dropped (and logged, at most once per 10 s); nothing is sent to them.
 *
 * Callbacks:
 *   admit    on the gossip thread, for every packet in and out, sometimes
 *            with the runner's lock held: it must be quick, thread-safe
 *            against the owner, and call no wfs_gossip_* function.
 *   changed  on the gossip thread, without the lock, one at a time, in
 *            order; it may call wfs_gossip_set_meta, _members and _stats,
 *            not _leave, _stop or _free.
 */
#ifndef WFS_GOSSIP_GOSSIP_H
#define WFS_GOSSIP_GOSSIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gossip/swim.h"

#define WFS_GOSSIP_PK_LEN 32	/* crypto_sign_PUBLICKEYBYTES */
#define WFS_GOSSIP_SK_LEN 64	/* crypto_sign_SECRETKEYBYTES */

/* Whether the node with Ed25519 public key @pk (WFS_GOSSIP_PK_LEN bytes)
 * belongs to the cluster. */
typedef bool (*wfs_gossip_admit_cb)(void *arg, const unsigned char *pk);

/* Member @m changed from @old to @now (see struct wfs_swim_ops.changed);
 * @m is a copy valid during the call. */
typedef void (*wfs_gossip_change_cb)(void *arg,
				     const struct wfs_swim_member *m,
				     enum wfs_swim_state old,
				     enum wfs_swim_state now);

/* How to make a runner.  Everything is copied by wfs_gossip_new(). */
struct wfs_gossip_config {
	const char *bind;		/* "a.b.c.d:port" or "[v6]:port" to
					 * listen on (UDP); port 0 picks a
					 * free one */
	const char *advertise;		/* the address others send to, same
					 * forms; NULL: the bound address,
					 * which then must not be a wildcard */
	const unsigned char *pk;	/* this node's Ed25519 key pair: */
	const unsigned char *sk;	/* WFS_GOSSIP_PK_LEN, _SK_LEN bytes */
	const char *const *seeds;	/* gossip addresses of nodes to join
					 * through; may be empty on the first
					 * node */
	size_t nseeds;
	const void *meta;		/* initial meta, may be NULL */
	size_t meta_len;		/* <= WFS_SWIM_META_MAX */
	wfs_gossip_admit_cb admit;	/* required */
	wfs_gossip_change_cb changed;	/* optional */
	void *arg;			/* passed to both callbacks */
	struct wfs_swim_params params;	/* zero fields: swim.h defaults */
};

/* Counters since the runner was made. */
struct wfs_gossip_stats {
	uint64_t rx_packets;		/* datagrams read */
	uint64_t rx_malformed;		/* bad envelope (size, version, kind) */
	uint64_t rx_refused;		/* sender's key not admitted */
	uint64_t rx_bad_auth;		/* box did not open, bad signature,
					 * or sealed for another node */
	uint64_t rx_replay;		/* sequence already seen or too old */
	uint64_t tx_packets;		/* datagrams sent */
	uint64_t tx_refused;		/* not sent: recipient not admitted */
	uint64_t tx_errors;		/* not sent: bad address, sendto
					 * failed, unusable key */
	uint64_t hello_rx, hello_tx;	/* HELLOs (see gossip.c) */
	struct wfs_swim_stats swim;	/* the core's own counters */
};

struct wfs_gossip;

/* Check @cfg, bind the socket and make the core.  Nothing runs until
 * wfs_gossip_start().  On success *out is the runner; release it with
 * wfs_gossip_free().  Returns 0; -EINVAL for a bad config (an address that
 * is not an IP literal with a port, a wildcard bind without advertise, sk
 * not matching pk, no admit callback, meta too long, swim parameters out of
 * range); -EIO if libsodium cannot start; the negative errno of socket() or
 * bind() (-EADDRINUSE, -EADDRNOTAVAIL, -EAFNOSUPPORT, ...); -ENOMEM.  Any
 * thread. */
int wfs_gossip_new(const struct wfs_gossip_config *cfg,
		   struct wfs_gossip **out);

/* Start the gossip thread: the node announces itself and joins through its
 * seeds.  Returns 0, -EALREADY if started before (even if stopped since),
 * or the negative errno of pthread_create.  Any thread. */
int wfs_gossip_start(struct wfs_gossip *g);

/* The address this node advertises, canonical "ip:port" (with the real port
 * when bound to port 0).  Valid until wfs_gossip_free().  Any thread. */
const char *wfs_gossip_addr(const struct wfs_gossip *g);

/* Publish new meta (@len bytes at @meta, copied); it reaches every node
 * like any news.  Returns 0 or -EINVAL if @len is over WFS_SWIM_META_MAX.
 * Thread-safe. */
int wfs_gossip_set_meta(struct wfs_gossip *g, const void *meta, size_t len);

/* Join through @nseeds gossip addresses (copied, replacing the seeds given
 * before; see wfs_swim_join): seeds learnt after the start, such as the
 * master's address a node gets when it joins the cluster.  Returns 0 or
 * the error of wfs_swim_join.  Thread-safe. */
int wfs_gossip_join(struct wfs_gossip *g, const char *const *seeds,
		    size_t nseeds);

/* A copy of the membership table, this node first (see wfs_swim_members):
 * *out is a wfs_malloc'ed array of *n entries for the caller to wfs_free().
 * Returns 0 or -ENOMEM.  Thread-safe. */
int wfs_gossip_members(struct wfs_gossip *g, struct wfs_swim_member **out,
		       size_t *n);

/* Leave the cluster for good: announce it and wait until the news has
 * been sent enough times, at most @timeout_ms.  The runner then stays
 * quiet; stop and free it.  Returns 0, -ETIMEDOUT (the news may not have
 * reached everyone; they will find the node dead instead), or -ENOTCONN if
 * the runner is not running.  Any thread but the gossip thread; blocks. */
int wfs_gossip_leave(struct wfs_gossip *g, unsigned timeout_ms);

/* Copy the counters into *out.  Thread-safe. */
void wfs_gossip_stats(struct wfs_gossip *g, struct wfs_gossip_stats *out);

/* Stop the gossip thread at once, without a goodbye (others will find the
 * node dead; call wfs_gossip_leave first for a clean exit).  Changes not
 * yet delivered are dropped; afterwards no callback runs.  Idempotent; a
 * runner never started is a no-op.  Not from the gossip thread, and not
 * concurrently with itself. */
void wfs_gossip_stop(struct wfs_gossip *g);

/* Stop if running, close the socket and release everything.  NULL is a
 * no-op.  Not from the gossip thread. */
void wfs_gossip_free(struct wfs_gossip *g);

#endif
