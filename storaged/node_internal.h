/* storaged/node_internal: the node's context, shared by the daemon's
 * services (meta_service.c, stripe_service.c, chunk_service.c,
 * admin_service.c) and threads (node.c, gc.c, drain.c).  Only storaged/
 * includes it. */
#ifndef WFS_STORAGED_NODE_INTERNAL_H
#define WFS_STORAGED_NODE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "gossip/raftlog.h"
#include "metadata/meta.h"
#include "nodeconf/config.h"
#include "rpc/rpc.h"
#include "storaged/chunkstore.h"
#include "storaged/identity.h"
#include "storaged/leases.h"
#include "storaged/prefetch.h"
#include "storaged/locks.h"
#include "storaged/metafsm.h"
#include "storaged/node.h"

struct wfs_clustersvc;
struct wfs_drain;
struct wfs_forward;
struct wfs_net;
struct wfs_gc;
struct wfs_rpc_client;
struct wfs_stripesvc;

/* Values of the metadata's NODE_SET role and state fields. */
enum wfs_node_role {
	WFS_NODE_ROLE_VOTER = 1,
	WFS_NODE_ROLE_STANDBY = 2,
};

enum wfs_node_state {
	WFS_NODE_STATE_ALIVE = 0,
	WFS_NODE_STATE_DEAD = 1,
};

#define WFS_NODE_TRUSTED_MAX 8
#define ADMIT_CACHE 32

/* One answer of wfs_node_admitted, kept for a moment. */
struct admit_entry {
	unsigned char pk[WFS_IDENTITY_PK_LEN];
	bool ok;
	uint64_t until;		/* monotonic ms */
};

struct wfs_liveness;
struct wfs_transfer;

struct wfs_node {
	/* Set by start, then read-only until stop. */
	const struct wfs_config *cfg;	/* borrowed from the caller */
	struct wfs_node_opts opts;	/* with defaults filled in */
	struct wfs_identity id;
	char api_addr[WFS_META_ADDR_MAX + 1];	/* advertised host:port */
	char raft_addr[WFS_RAFTLOG_ADDR_MAX];	/* ip:port of listen.peer */
	char pk_hex[2 * WFS_IDENTITY_PK_LEN + 1]; /* the public key, in hex */
	struct wfs_store *store;
	struct wfs_metafsm *fsm;
	struct wfs_raftlog *raft;
	struct wfs_rpc_server *rpc;
	struct wfs_locks *locks;
	struct wfs_leases *leases;	/* the master's lease clocks */
	struct wfs_stripesvc *stripes;
	struct wfs_prefetch *prefetch;	/* first copies read ahead */
	struct wfs_gc *gc;
	struct wfs_drain *drain;	/* moves chunks off draining disks */
	struct wfs_forward *forward;
	struct wfs_clustersvc *clustersvc;
	struct wfs_net *net;		/* the node transport (listen.peer) */
	struct wfs_transfer *transfer;	/* chunk transfers over it */

	/* The store is formatted: metadata calls may be served (when
	 * leading).  Set once by the upkeep thread. */
	atomic_bool formatted;
	/* The term whose leadership has applied every entry before it (a
	 * read barrier completed): reads are served only then. */
	_Atomic uint64_t ready_term;

	/* The node is stopping: no new waits on locks.  Set once by stop. */
	atomic_bool closing;

	/* A voter change of wfs_cluster_balance is under way. */
	atomic_bool balancing;

	/* This node's copy of the metadata was seen formatted (it never goes
	 * back): wfs_node_admitted then trusts only the listed keys. */
	atomic_bool store_seen_formatted;

	/* The upkeep thread and what it signals. */
	pthread_t upkeep;
	bool upkeep_running;		/* owner thread only */
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* wakes upkeep; signals readiness */
	bool stopping;			/* protected by lock */
	bool registered;		/* node and disks recorded; lock */
	bool kick;			/* role changed: run now; lock */
	unsigned join_attempt;		/* upkeep thread only */
	unsigned char token_proof[32];	/* upkeep thread only */
	/* Masters this node joined through, let in on the node transport
	 * before its metadata lists the members; lock. */
	unsigned char trusted[WFS_NODE_TRUSTED_MAX][WFS_IDENTITY_PK_LEN];
	unsigned ntrusted, trusted_next;

	struct wfs_liveness *liveness;	/* gossip; set at start */
	pthread_mutex_t admit_lock;
	struct admit_entry admit_cache[ADMIT_CACHE];	/* admit_lock */
	unsigned admit_next;				/* admit_lock */
};

/* Completion of wfs_node_propose: @rc 0 with @res the applied entry's
 * result (its meta.status is the op's own outcome), or a negative errno
 * with @res NULL: -EAGAIN (not the leader, the entry was not appended),
 * -ECONNABORTED (leadership lost after appending: it may or may not
 * apply), -ECANCELED (the log stopped), -EIO (the state machine failed).
 * Runs on the raft thread; it may propose again but must not block. */
typedef void (*wfs_node_done_cb)(void *arg, int rc,
				 const struct wfs_metafsm_result *res);

/* Encode @op and propose it to the raft log.  Returns 0 and calls @cb
 * exactly once later, or a negative errno (-EAGAIN, -EINVAL for an op
 * encode refuses, -ENOMEM, -ECANCELED) and never calls it.  Any thread. */
int wfs_node_propose(struct wfs_node *n, const struct wfs_meta_op *op,
		     wfs_node_done_cb cb, void *arg);

/* Propose @count ops (1..WFS_RAFTLOG_PROPOSE_MANY) at once, so that they
 * reach the log in one turn and are written together: @cb(@args[i], ...) for @ops[i], in order.  All or
 * nothing: returns 0 and calls @cb once per op later, or an error as
 * wfs_node_propose's and calls it for none.  Any thread. */
int wfs_node_propose_many(struct wfs_node *n, unsigned count,
			  const struct wfs_meta_op *const ops[],
			  wfs_node_done_cb cb, void *const args[]);

/* Propose @op and wait for it: returns the op's status (0 or its negative
 * errno, with *res filled when @res is not NULL) or the proposal's error.
 * Background threads only (never the raft thread, never a server thread:
 * they must not wait for raft). */
int wfs_node_propose_wait(struct wfs_node *n, const struct wfs_meta_op *op,
			  struct wfs_metafsm_result *res);

/* 0 if this node can serve metadata now (it leads and the store is
 * formatted), else -EAGAIN.  Reads and proposals are served only by the
 * leader; other nodes relay such calls to it (storaged/forward).  Any
 * thread. */
int wfs_node_serving(struct wfs_node *n);

/* The API address of the metadata master into @addr (@cap bytes): the
 * record of the raft leader's node.  Returns 0, -EAGAIN when no leader is
 * known or its record has no address yet, -ERANGE.  Any thread. */
int wfs_node_leader_api(struct wfs_node *n, char *addr, size_t cap);

/* Whether the node of Ed25519 key @pk (32 bytes) may talk to this one on
 * the node transport and in gossip: this node itself, a node the metadata
 * lists (admitted by wormctl node add), or a master this node joined
 * through while its own copy of the metadata is still empty.  Any
 * thread. */
bool wfs_node_admitted(struct wfs_node *n, const uint8_t *pk);

/* A node's record in the metadata (NODE_SET), copied out. */
struct wfs_node_record {
	bool found;
	uint32_t role, state;		/* enum wfs_node_role, _state */
	char name[WFS_META_NAME_MAX + 1];
	char addr[WFS_META_ADDR_MAX + 1];
};

/* Find the record of node @id (hex node id) in this node's copy of the
 * metadata: 0 with rec->found saying whether there is one, or -EIO.  Any
 * thread. */
int wfs_node_record_find(struct wfs_node *n, const char *id,
			 struct wfs_node_record *rec);

/* Propose (and wait for) the record of node @id: NODE_SET with these
 * fields.  Returns as wfs_node_propose_wait. */
int wfs_node_record_set(struct wfs_node *n, const char *id, const char *name,
			const char *addr, uint32_t role, uint32_t state);

/* Measure this node's disks now (wfs_store_refresh: statvfs of each) and
 * describe into @out, which has room for @cap, every disk that has an id
 * (it was attached once), in the store's order.  Returns how many.  The
 * one way the node gathers its disks' figures, for Join, its own disk
 * records and gossip.  Upkeep thread (or start): it may block on a disk. */
unsigned wfs_node_disks(struct wfs_node *n, struct wfs_store_disk_info *out,
			unsigned cap);

/* The placement state (enum wfs_place_disk_state) of a disk @info
 * describes: online or offline. */
uint32_t wfs_node_disk_state(const struct wfs_store_disk_info *info);

/* The state placement sees for a disk whose state is @state (recorded,
 * with gossip's fresher one laid over it: online or offline) and whose
 * record says @draining: offline stays offline (nothing can be read or
 * written there, and repair counts it lost), else draining when an
 * operator drains it.  Applied after gossip's overlay, which knows
 * nothing of draining and so can never clear it.  Any thread. */
uint32_t wfs_node_place_state(uint32_t state, bool draining);

/* Wake the upkeep thread now (a membership change). */
void wfs_node_kick(struct wfs_node *n);

/* Wall-clock nanoseconds (CLOCK_REALTIME): the time ops carry. */
int64_t wfs_node_now_ns(void);

/* Monotonic milliseconds: lock deadlines. */
uint64_t wfs_node_mono_ms(void);

#endif
