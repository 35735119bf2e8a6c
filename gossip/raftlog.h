/* raftlog: the replicated log whose leader is the metadata master.
 *
 * This module is the one wall around Debian's libraft (canonical raft 0.15);
 * nothing else includes <raft.h>.  It runs raft on its own libuv loop in its
 * own thread (the "raft thread"): log I/O through libraft's raft_uv, peer
 * traffic through a raft_uv_transport: the node transport's encrypted
 * relays (net/raft_transport) when the config names a wfs_net, else
 * libraft's plain TCP (tests of this module alone).  The rest of
 * the node talks to it through one locked queue: any thread may propose an
 * entry; the raft thread appends it, and once it is committed every voter
 * hands it to the owner's state machine (struct wfs_raftlog_fsm) in log order.
 *
 * It carries bytes, nothing more: what an entry or a snapshot means is the
 * owner's business (for metadata, an encoded wfs_meta_op and a descriptor of
 * a consistent SQLite copy).  A one-node cluster is a raft group of one voter
 * and goes through exactly the same code.
 *
 * Callbacks: every callback of this module (the fsm's and the done/state
 * callbacks) runs on the raft thread, one at a time.  They must not block for
 * long (elections stall) and must not call wfs_raftlog_stop() or
 * wfs_raftlog_free(); they may call wfs_raftlog_propose() and the other
 * queueing calls, which then run on the next turn of the loop.
 *
 * Errors seen by proposers:
 *   -EREMOTE	this node is not the leader; the entry was not appended.
 *		wfs_raftlog_leader() names the leader (if one is known) to
 *		retry there.
 *   -ECONNABORTED  leadership was lost after the entry was appended: it may
 *		or may not commit under the next leader.  Retry only what
 *		is safe to apply twice.
 *   -ECANCELED	the log was stopped before the entry completed (same
 *		uncertainty as -ECONNABORTED if it had been appended).
 *   -EIO	this node's state machine failed (see wfs_raftlog_fsm.apply);
 *		the node has left the group.
 */
#ifndef WFS_GOSSIP_RAFTLOG_H
#define WFS_GOSSIP_RAFTLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WFS_RAFTLOG_ADDR_MAX 264	/* bytes of an address, with its NUL */
#define WFS_RAFTLOG_ENTRY_MAX (4u << 20) /* largest entry in bytes */

struct wfs_raftlog;
struct wfs_net;

/* What this node is in the group, as seen from the raft thread. */
enum wfs_raftlog_role {
	WFS_RAFTLOG_STOPPED = 0,	/* not started, or stopped */
	WFS_RAFTLOG_FOLLOWER,
	WFS_RAFTLOG_CANDIDATE,
	WFS_RAFTLOG_LEADER,
	WFS_RAFTLOG_FAILED,	/* the state machine failed: left the group */
};

/* One member of the group. */
struct wfs_raftlog_server {
	uint64_t id;		/* raft id, > 0, unique in the group */
	const char *addr;	/* "ip:port" its raft transport listens on */
};

/* How to start one node.  Strings are copied by wfs_raftlog_new(). */
struct wfs_raftlog_config {
	uint64_t id;		/* this node's raft id, > 0 */
	const char *addr;	/* this node's "ip:port" (IPv4 dotted quad) */
	const char *dir;	/* raft's own files: created if absent (not its
				 * parents), never shared with anything else */
	/* The voters of a new group, this node among them.  Used only when
	 * @dir holds no raft state yet: then the group is bootstrapped with
	 * exactly these voters (every founding voter must be given the same
	 * list).  @nvoters 0 means "join an existing group": the node waits
	 * until the leader adds it (wfs_raftlog_add_member). */
	const struct wfs_raftlog_server *voters;
	unsigned nvoters;
	unsigned heartbeat_ms;	/* 0: 100; leader's idle ping to followers */
	unsigned election_ms;	/* 0: 500; a follower that hears no leader for
				 * a random time in [this, 2 * this] starts an
				 * election, so a dead leader is replaced within
				 * about 1-1.5 s */
	unsigned snapshot_threshold; /* 0: 65536; entries applied since the
				 * last snapshot that trigger a new one */
	unsigned snapshot_trailing;  /* 0: 8192; entries kept in the log
				 * after a snapshot, so a follower a little
				 * behind catches up without it */
	/* The node transport that carries raft's traffic, encrypted: it
	 * listens (on @addr, which must then be its listen address) and
	 * must be running from start until the log is stopped.  NULL: libraft
	 * listens on @addr itself, over plain TCP. */
	struct wfs_net *net;
	/* With @net: whether the peer that proved key @pk (32 bytes) may
	 * speak as raft server @raft_id (NULL: any key the net admitted). */
	bool (*check)(void *arg, uint64_t raft_id, const uint8_t *pk);
	void *check_arg;
};

/* The owner's state machine.  All callbacks run on the raft thread, get the
 * @fsm_arg given to wfs_raftlog_new() as @arg, and return 0 or a negative
 * errno.  Only apply, snapshot and restore are required. */
struct wfs_raftlog_fsm {
	/* Bytes of the per-entry result apply may fill (0: none). */
	size_t result_size;

	/* Apply committed entry @index (@len bytes at @buf, borrowed for the
	 * call).  Indexes only grow; some are skipped (raft's own entries).
	 * A leader applies an entry as soon as it commits; a follower at the
	 * end of the loop turn that learnt it committed.
	 * @result is @result_size zeroed bytes, or NULL when @result_size is
	 * 0: what apply writes there reaches the proposer's done callback if
	 * the entry was proposed on this node.  The entry's own outcome (the
	 * op failed with -EEXIST, say) belongs in @result: apply returns an
	 * error only when the state machine itself failed (-EIO, -ENOSPC).
	 * That is fatal for this node: it is logged, nothing more is applied
	 * (the open batch is still ended, keeping the entries before it
	 * unless the state machine lost its whole transaction; the log
	 * replays what it lost at restart),
	 * pending proposals fail with -EIO and the node leaves the group
	 * (role WFS_RAFTLOG_FAILED) until it is restarted. */
	int (*apply)(void *arg, uint64_t index, const void *buf, size_t len,
		     void *result);

	/* Optional: open and close a batch of applies (one SQLite transaction
	 * per batch).  batch_begin runs before the first apply of a batch;
	 * batch_end runs when the raft thread has nothing more to do for now
	 * (before its loop waits for I/O), and also before snapshot, restore,
	 * and at stop.  Proposers' done callbacks run before batch_end: an
	 * entry is durable once it is committed in the log, and what a failed
	 * batch_end loses is replayed from the log at restart.  So whatever
	 * reads the state on other threads must see an applied entry at
	 * once, ended batch or not (one SQLite connection for applies and
	 * reads does).  A batch may stay open across turns, for up to about
	 * 20 ms of entries (it still ends before snapshot, restore and
	 * stop).  A failure of either is fatal, as for apply. */
	int (*batch_begin)(void *arg);
	int (*batch_end)(void *arg);

	/* Produce a snapshot of the state after applying entry @index (the
	 * last applied).  On success *buf is a wfs_malloc'ed buffer of *len
	 * (> 0) bytes that this module then owns.  Return -EBUSY to skip this
	 * time (raft asks again later); other errors are logged and raft
	 * retries later too. */
	int (*snapshot)(void *arg, uint64_t index, void **buf, size_t *len);

	/* Replace the whole state with a snapshot (@len bytes at @buf,
	 * borrowed): at start when raft's files hold one, or when the leader
	 * sends one to a follower that fell behind.  Entries after it are
	 * then applied as usual. */
	int (*restore)(void *arg, const void *buf, size_t len);

	/* Optional: this node's role or the leader it knows changed.
	 * @leader_id is 0 when no leader is known (an election). */
	void (*state)(void *arg, enum wfs_raftlog_role role, uint64_t leader_id);
};

/* Completion of a proposal, barrier or membership change, on the raft thread,
 * exactly once.  @rc is 0 or a negative errno (see the top of this file).
 * @result: for a proposal with @rc 0, the fsm's result_size bytes that apply
 * wrote (valid during the callback only); NULL otherwise. */
typedef void (*wfs_raftlog_done_cb)(void *arg, int rc, void *result);

/* Make a raft node from @cfg (copied) with state machine @fsm (copied) and
 * its argument @fsm_arg (borrowed until wfs_raftlog_free).  Nothing runs
 * until wfs_raftlog_start().  On success *out is the node; release it with
 * wfs_raftlog_free().  Returns 0, -EINVAL for a bad config (id 0, an address
 * or dir missing or too long, a voter list without this node, a missing
 * required callback), or -ENOMEM.  Any thread. */
int wfs_raftlog_new(const struct wfs_raftlog_config *cfg,
		    const struct wfs_raftlog_fsm *fsm, void *fsm_arg,
		    struct wfs_raftlog **out);

/* Start the raft thread: open raft's files in the config's dir (bootstrapping
 * a new group or loading what is there: a snapshot is restored and committed
 * entries replayed through the fsm), listen on the node's address and join
 * the group.  At most once per node.  Returns 0, -EALREADY if it was started
 * before, or a negative errno after which the node is as before start:
 * -EINVAL (the dir is not a directory), -EIO (also when the address cannot
 * be bound: libraft does not say why; the log line has what it does say),
 * -EBADMSG (corrupt raft files), -ENOMEM.  Any thread but the raft thread;
 * blocks until raft has started or failed. */
int wfs_raftlog_start(struct wfs_raftlog *log);

/* Propose an entry: @len bytes at @buf (copied; 1..WFS_RAFTLOG_ENTRY_MAX).
 * Returns 0 and calls @cb(@arg, rc, result) later on the raft thread: rc 0
 * once the entry is committed and applied on this node (before its batch
 * ends: see wfs_raftlog_fsm.batch_begin), or
 * a negative errno (-EREMOTE when this node is not the leader).  Entries
 * proposed from one thread are appended in that order.  Returns -EINVAL (bad
 * @len), -ENOMEM, or -ECANCELED when the node is not running, and then @cb is
 * never called.  Thread-safe: any thread. */
int wfs_raftlog_propose(struct wfs_raftlog *log, const void *buf, size_t len,
			wfs_raftlog_done_cb cb, void *arg);

/* One entry of wfs_raftlog_propose_many. */
struct wfs_raftlog_prop {
	const void *buf;
	size_t len;
	wfs_raftlog_done_cb cb;
	void *arg;
};

/* Propose @n entries (1..WFS_RAFTLOG_PROPOSE_MANY) as wfs_raftlog_propose
 * does each, in order, but queued together: they reach libraft in one
 * turn of the raft thread, so they are written together (the first may go
 * alone if the log was idle) instead of trickling in turn by turn.  All or nothing:
 * returns 0 and calls every @cb later, or an error (as
 * wfs_raftlog_propose's, -EINVAL if any entry is bad) and calls none. */
#define WFS_RAFTLOG_PROPOSE_MANY 1024
int wfs_raftlog_propose_many(struct wfs_raftlog *log,
			     const struct wfs_raftlog_prop *props, unsigned n);

/* Read barrier: @cb(@arg, rc, NULL) once every entry committed before this
 * call is applied on this node and this node was still the leader when the
 * barrier committed, so a read of the state machine then is linearizable.
 * Returns and fails like wfs_raftlog_propose().  Thread-safe. */
int wfs_raftlog_barrier(struct wfs_raftlog *log, wfs_raftlog_done_cb cb,
			void *arg);

/* What a member of the group does.  A standby receives the log and keeps a
 * full copy of the state machine but does not vote, so promoting it to
 * voter is quick: it is already caught up. */
enum wfs_raftlog_member_role {
	WFS_RAFTLOG_MEMBER_VOTER = 1,
	WFS_RAFTLOG_MEMBER_STANDBY,
};

/* Leader only: make server @id at @addr a member in @role (added to the
 * group if it is not in it yet, then its role set; raft first catches a new
 * voter up with the log).  A voter may be made a standby too.
 * @cb(@arg, rc, NULL) when the new configuration is committed: rc 0 (also
 * if it already had that role), -EREMOTE, -EBUSY if another membership
 * change is under way, -EEXIST if @addr belongs to another id, or another
 * negative errno if it could not catch up.  One change at a time.  Returns
 * and fails like wfs_raftlog_propose(), also -EINVAL for id 0, a bad @addr
 * or @role.  Thread-safe. */
int wfs_raftlog_add_member(struct wfs_raftlog *log, uint64_t id,
			   const char *addr,
			   enum wfs_raftlog_member_role role,
			   wfs_raftlog_done_cb cb, void *arg);

/* One member of the group's latest configuration (committed or not). */
struct wfs_raftlog_member {
	uint64_t id;
	char addr[WFS_RAFTLOG_ADDR_MAX];
	enum wfs_raftlog_member_role role; /* 0: a spare (no log, no vote) */
	bool reachable;		/* on the leader: it heard from this member
				 * within an election timeout (the leader
				 * itself counts); false on other nodes */
};

/* Copy the group's latest configuration, as of the raft thread's last
 * turn, into @out (room for @cap members).  Returns the number of members
 * (which may exceed @cap: then only @cap were copied), 0 before start.
 * Thread-safe. */
unsigned wfs_raftlog_members(struct wfs_raftlog *log,
			     struct wfs_raftlog_member *out, unsigned cap);

/* Leader only: remove server @id from the group (a leader removing itself
 * steps down once that commits).  @cb as for wfs_raftlog_add_member, with
 * -ENOENT if @id is not a member.  Thread-safe. */
int wfs_raftlog_remove_voter(struct wfs_raftlog *log, uint64_t id,
			     wfs_raftlog_done_cb cb, void *arg);

/* Whether this node is the leader, as of the raft thread's last turn.
 * Thread-safe. */
bool wfs_raftlog_is_leader(struct wfs_raftlog *log);

/* This node's role, as of the raft thread's last turn.  Thread-safe. */
enum wfs_raftlog_role wfs_raftlog_role(struct wfs_raftlog *log);

/* The Raft term as of the raft thread's last turn (0 before start).
 * Thread-safe. */
uint64_t wfs_raftlog_term(struct wfs_raftlog *log);

/* The index of the last entry this node's log held when it started (0
 * before start, or for an empty log).  A state machine that lost applied
 * entries in a crash has them back once it has applied this far.
 * Thread-safe. */
uint64_t wfs_raftlog_start_index(struct wfs_raftlog *log);

/* The leader this node knows: its id into *id and its address into @addr
 * (@cap bytes, NUL-terminated; @addr NULL and @cap 0 ask for the id only).
 * Returns 0, -ENOENT when no leader is known (an election, or not running),
 * -ERANGE if @cap is too small (then *id is still set).  Thread-safe. */
int wfs_raftlog_leader(struct wfs_raftlog *log, uint64_t *id, char *addr,
		       size_t cap);

/* Stop: fail queued proposals with -ECANCELED, let the log writes in flight
 * finish (at most a few seconds), close raft (what it still holds completes
 * with -ECANCELED), end the open batch, deliver every pending callback, and
 * join the raft thread.  Afterwards no callback runs.  Idempotent; a node
 * never started is a no-op.  Any thread but the raft thread, and not
 * concurrently with itself. */
void wfs_raftlog_stop(struct wfs_raftlog *log);

/* Stop if running, then release the node.  NULL is a no-op.  Not from the
 * raft thread. */
void wfs_raftlog_free(struct wfs_raftlog *log);

#endif
