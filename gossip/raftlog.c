/* raftlog: libraft (canonical raft 0.15) on its own thread, behind one queue.
 *
 * Threads.  wfs_raftlog_start() spawns the raft thread, which owns a libuv
 * loop and everything libraft touches: struct raft, raft_uv's I/O, the
 * transport, the fsm adapter below.  Other threads only ever take log->lock
 * to push a request on log->queue (and wake the loop with uv_async_send,
 * under the same lock so the handle cannot be closed under them) or to read
 * the published role and leader.
 *
 * A turn of the raft thread:
 *   wake_cb	(uv_async) takes the whole queue and hands each request to
 *		libraft: one raft_apply per entry, so each entry keeps its own
 *		completion; raft_uv writes the entries appended meanwhile in one
 *		batch, which is where throughput comes from.
 *   libraft	appends, replicates, commits, and calls fsm_apply for each
 *		committed entry and apply_done for each local proposal.
 *		apply_done only parks the request on log->done.  A leader's
 *		fsm_apply applies at once; a follower's only copies the entry
 *		to log->deferred (libraft applies in the middle of a
 *		follower's reply path; see fsm_apply).
 *   flush_cb	(uv_prepare: runs once per loop iteration, just before the
 *		loop waits for I/O, i.e. when this turn's work is drained)
 *		applies what a follower deferred, publishes role/leader
 *		changes, runs the parked done callbacks, then closes the
 *		owner's batch (batch_end) unless it is held open for a few
 *		more turns (see hold_batch).  Callbacks need not wait for the
 *		commit (see flush).
 *
 * Shutdown (stop, or the fsm failed): nothing new reaches libraft; raft is
 * closed at the first turn with no log write in flight (close_when_idle
 * says why), libraft fails what it still holds, the last flush runs, our
 * handles close, and raft_uv's memory is released only once the loop has
 * run dry.  The thread blocks every signal, SIGPIPE above all.
 *
 * Results.  libraft hands an entry's result pointer from fsm->apply straight
 * to the proposer's raft_apply callback, synchronously in the same call, so
 * one scratch buffer (log->scratch) carries it; apply_done checks the index
 * it was written for before copying it into the request.
 *
 * Ownership of libraft buffers: a proposal's bytes are raft_malloc'ed and
 * belong to libraft once raft_apply succeeds.  Snapshots use fsm version 2
 * (snapshot_finalize), so the owner's wfs_malloc'ed snapshot stays ours and
 * is freed in fsm_snapshot_finalize.  A restored snapshot's buffer passes to
 * the fsm on success, so fsm_restore frees it with raft_free.
 */
#include "gossip/raftlog.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "log/log.h"
#include "mem/mem.h"
#include "net/raft_transport.h"

#define SUB "raft"

#define DEFAULT_HEARTBEAT_MS 100
#define DEFAULT_ELECTION_MS 500
/* A metadata snapshot is an online copy of the whole SQLite store: take one
 * rarely, and keep enough log behind it that a follower restarted a little
 * late catches up from the log instead of fetching the copy. */
#define DEFAULT_SNAPSHOT_THRESHOLD 65536
#define DEFAULT_SNAPSHOT_TRAILING 8192
/* How long raft_uv waits before redialling a peer it could not reach: short,
 * so a restarted voter is back in the group quickly. */
#define CONNECT_RETRY_MS 250
/* How long a stop waits for raft's log writes in flight to finish before it
 * closes raft anyway (see close_when_idle). */
#define DRAIN_MS 5000
/* How long, and over how many entries, a batch stays open (see
 * hold_batch): long enough that a steady stream of one entry at a time
 * shares a commit among dozens of them, short enough that the store's file
 * is never more than a blink behind its log. */
#define BATCH_HOLD_MS 20
#define BATCH_HOLD_MAX 1024
/* Bytes of entries a follower keeps copied for apply_deferred at most: a
 * follower catching up commits thousands of entries in one turn, and
 * libraft holds them too. */
#define DEFERRED_BYTES_MAX (8u << 20)

enum req_kind {
	REQ_PROPOSE,
	REQ_BARRIER,
	REQ_ADD,
	REQ_REMOVE,
};

struct link {
	struct link *prev, *next;
};

/* One queued call.  It lives from the queueing call until its done callback
 * has run: on log->queue (under log->lock), then handed to libraft and on
 * log->inflight (raft thread), then on log->done (raft thread). */
struct req {
	struct req *next;		/* log->queue or log->done */
	struct link inflight;		/* while libraft holds it */
	struct wfs_raftlog *log;
	enum req_kind kind;
	int rc;
	bool has_result;
	bool assigning;			/* ADD: raft_add done */
	int role;			/* ADD: RAFT_VOTER or RAFT_STANDBY */
	wfs_raftlog_done_cb cb;
	void *arg;
	struct raft_buffer buf;		/* PROPOSE: ours until raft_apply */
	uint64_t id;			/* ADD/REMOVE */
	char *addr;			/* ADD */
	union {
		struct raft_apply apply;
		struct raft_barrier barrier;
		struct raft_change change;
	} u;
	unsigned char result[];		/* PROPOSE: fsm.result_size bytes */
};

/* A committed entry a follower applies at the end of the loop turn (see
 * fsm_apply).  Raft thread only. */
struct deferred {
	struct deferred *next;
	uint64_t index;
	size_t len;
	unsigned char data[];	/* the payload, unpadded */
};

struct wfs_raftlog {
	/* Set by wfs_raftlog_new, then read-only. */
	uint64_t id;
	char *addr;
	char *dir;
	struct wfs_raftlog_server *voters;	/* addrs owned */
	unsigned nvoters;
	unsigned heartbeat_ms, election_ms;
	unsigned snapshot_threshold, snapshot_trailing;
	struct wfs_net *net;		/* NULL: libraft's TCP */
	wfs_raft_transport_check_cb check;
	void *check_arg;
	struct wfs_raftlog_fsm fsm;
	void *fsm_arg;

	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* start handshake */

	/* protected by lock */
	bool started;		/* start succeeded or is under way */
	bool start_done;
	int start_rc;
	bool running;		/* the loop takes requests */
	bool stopping;
	struct req *queue, **queue_tail;
	enum wfs_raftlog_role role;
	uint64_t leader_id;
	uint64_t term;
	uint64_t start_index;	/* last entry in the log at start */
	char leader_addr[WFS_RAFTLOG_ADDR_MAX];
	struct wfs_raftlog_member *members; /* the latest configuration */
	unsigned nmembers;

	/* raft thread only */
	uv_loop_t loop;
	uv_async_t wake;
	uv_prepare_t flush;
	uv_timer_t hold;	/* ends a held batch */
	struct raft_uv_transport transport;
	struct raft_io io;
	struct raft_fsm rfsm;
	struct raft raft;
	bool io_open;		/* raft_uv and transport to release */
	bool raft_open;		/* raft_init done, raft_close not finished */
	bool raft_closing;
	bool close_wanted;	/* stopping or failed: close when idle */
	uint64_t close_deadline; /* loop time (ms) to close idle or not */
	bool handles_closing;
	bool stop_seen;
	bool batch_open;
	uint64_t batch_start;	/* loop time (ms) the batch opened */
	unsigned batch_entries;	/* applied in it */
	int failed;		/* the fsm's error once it failed, else 0 */
	struct req *done, **done_tail;
	struct deferred *deferred, **deferred_tail; /* to apply, in order */
	size_t deferred_bytes;		/* payload bytes in deferred */
	struct link inflight;
	void *scratch;		/* fsm.result_size bytes */
	uint64_t scratch_index;	/* the entry scratch holds the result of */
	enum wfs_raftlog_role seen_role;
	uint64_t seen_leader;
	uint64_t seen_conf_index;	/* configuration published */
	uint64_t seen_term;
};

#define REQ_OF_LINK(l) \
	((struct req *)((char *)(l) - offsetof(struct req, inflight)))

/* Map a libraft error code to a negative errno: the only place that knows
 * raft's codes. */
static int raft_errno(int rv)
{
	switch (rv) {
	case 0: return 0;
	case RAFT_NOMEM: return -ENOMEM;
	case RAFT_BADID: return -ENOENT;
	case RAFT_DUPLICATEID: return -EEXIST;
	case RAFT_DUPLICATEADDRESS: return -EEXIST;
	case RAFT_BADROLE: return -EINVAL;
	case RAFT_MALFORMED: return -EBADMSG;
	case RAFT_NOTLEADER: return -EREMOTE;
	case RAFT_LEADERSHIPLOST: return -ECONNABORTED;
	case RAFT_SHUTDOWN: return -ECANCELED;
	case RAFT_CANTBOOTSTRAP: return -EEXIST;
	case RAFT_CANTCHANGE: return -EBUSY;
	case RAFT_CORRUPT: return -EBADMSG;
	case RAFT_CANCELED: return -ECANCELED;
	case RAFT_NAMETOOLONG: return -ENAMETOOLONG;
	case RAFT_TOOBIG: return -EMSGSIZE;
	case RAFT_NOCONNECTION: return -ENOTCONN;
	case RAFT_BUSY: return -EBUSY;
	case RAFT_IOERR: return -EIO;
	case RAFT_NOTFOUND: return -ENOENT;
	case RAFT_INVALID: return -EINVAL;
	case RAFT_UNAUTHORIZED: return -EACCES;
	case RAFT_NOSPACE: return -ENOSPC;
	case RAFT_TOOMANY: return -EMFILE;
	default: return -EIO;
	}
}

/* The errno a request failed by libraft gets: stopping and a failed fsm
 * override what raft says (it fails everything at raft_close). */
static int req_errno(struct wfs_raftlog *log, int status)
{
	if (log->failed)
		return -EIO;
	if (log->stop_seen)
		return -ECANCELED;
	return raft_errno(status);
}

static void link_init(struct link *l)
{
	l->prev = l->next = l;
}

static void link_add(struct link *head, struct link *l)
{
	l->prev = head->prev;
	l->next = head;
	head->prev->next = l;
	head->prev = l;
}

static void link_del(struct link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	link_init(l);
}

static void req_free(struct req *req)
{
	if (req->buf.base)
		raft_free(req->buf.base);
	wfs_free(req->addr);
	wfs_free(req);
}

/* ---- raft thread: completions ---- */

/* Park @req with outcome @rc; flush() runs its callback. */
static void req_finish(struct wfs_raftlog *log, struct req *req, int rc)
{
	link_del(&req->inflight);
	req->rc = rc;
	req->next = NULL;
	*log->done_tail = req;
	log->done_tail = &req->next;
}

static void deliver(struct wfs_raftlog *log)
{
	struct req *req;

	while ((req = log->done) != NULL) {
		log->done = req->next;
		if (!log->done)
			log->done_tail = &log->done;
		req->cb(req->arg, req->rc,
			req->rc == 0 && req->has_result ? req->result : NULL);
		req_free(req);
	}
}

/* The fsm failed (@rc) on entry @index while @what: from now on nothing is
 * applied and the node leaves the group at the next flush. */
static void fail_fsm(struct wfs_raftlog *log, int rc, const char *what,
		     uint64_t index)
{
	if (log->failed)
		return;
	log->failed = rc < 0 ? rc : -EIO;
	wfs_log_error(SUB, "node %llu: state machine failed %s at entry %llu: "
		      "%s; this voter stops applying and leaves the group",
		      (unsigned long long)log->id, what,
		      (unsigned long long)index, strerror(-log->failed));
}

/* Close the owner's open batch.  If that fails, what the batch applied is
 * lost from the store (not from the log, which replays it at restart) and
 * the node leaves the group. */
static void end_batch(struct wfs_raftlog *log)
{
	int rc;

	if (!log->batch_open)
		return;
	log->batch_open = false;
	log->batch_entries = 0;
	uv_timer_stop(&log->hold);
	if (!log->fsm.batch_end)
		return;
	rc = log->fsm.batch_end(log->fsm_arg);
	if (rc != 0)
		fail_fsm(log, rc, "committing a batch", log->scratch_index);
}

/* ---- raft thread: the fsm adapter ---- */

#define ENTRY_WORD 8	/* libraft's payload unit; see wfs_raftlog_propose */

/* The length of the payload of entry @buf of @len bytes, or 0 if its
 * padding is not what wfs_raftlog_propose writes. */
static size_t entry_len(const void *buf, size_t len)
{
	const unsigned char *b = buf;
	size_t pad;

	if (len < ENTRY_WORD || len % ENTRY_WORD)
		return 0;
	pad = b[len - 1];
	if (pad < 1 || pad > ENTRY_WORD)
		return 0;
	for (size_t i = len - pad; i < len; i++)
		if (b[i] != pad)
			return 0;
	return len - pad;
}

/* Hand entry @index (@len payload bytes at @buf) to the owner's apply,
 * opening a batch first if none is open.  Returns 0 or RAFT_IOERR once the
 * fsm failed. */
static int apply_entry(struct wfs_raftlog *log, uint64_t index,
		       const void *buf, size_t len)
{
	int rc;

	if (log->failed)
		return RAFT_IOERR;
	if (!log->batch_open && log->fsm.batch_begin) {
		rc = log->fsm.batch_begin(log->fsm_arg);
		if (rc != 0) {
			fail_fsm(log, rc, "opening a batch", index);
			return RAFT_IOERR;
		}
	}
	if (!log->batch_open)
		log->batch_start = uv_now(&log->loop);
	log->batch_open = true;
	log->batch_entries++;
	if (log->scratch)
		memset(log->scratch, 0, log->fsm.result_size);
	rc = log->fsm.apply(log->fsm_arg, index, buf, len, log->scratch);
	if (rc != 0) {
		fail_fsm(log, rc, "applying", index);
		return RAFT_IOERR;
	}
	log->scratch_index = index;
	return 0;
}

/* Apply the entries a follower deferred (see fsm_apply), in log order.
 * Runs before anything else reaches the owner's state machine: the next
 * synchronous apply, a snapshot, a restore, and every flush. */
static void apply_deferred(struct wfs_raftlog *log)
{
	struct deferred *d;

	while ((d = log->deferred) != NULL) {
		log->deferred = d->next;
		if (!log->deferred)
			log->deferred_tail = &log->deferred;
		/* Once the fsm failed the rest is dropped: nothing more is
		 * applied on this node until it restarts and replays. */
		apply_entry(log, d->index, d->data, d->len);
		wfs_free(d);
	}
	log->deferred_bytes = 0;
}

/* Park entry @index for apply_deferred.  Returns false if out of memory
 * or past DEFERRED_BYTES_MAX (the caller then applies what is parked and
 * this one at once). */
static bool defer_entry(struct wfs_raftlog *log, uint64_t index,
			const void *buf, size_t len)
{
	struct deferred *d;

	if (log->deferred_bytes + len > DEFERRED_BYTES_MAX)
		return false;
	d = wfs_malloc(sizeof(*d) + len);
	if (!d)
		return false;
	log->deferred_bytes += len;
	d->next = NULL;
	d->index = index;
	d->len = len;
	memcpy(d->data, buf, len);
	*log->deferred_tail = d;
	log->deferred_tail = &d->next;
	return true;
}

/* libraft's apply.  A leader applies at once: the proposer's callback
 * takes the result from log->scratch in the same call.  A follower has no
 * proposer waiting, and libraft applies its entries in the middle of its
 * reply path: when the write of AppendEntries N+1 completes it first
 * applies what N+1 says is committed, and only then sends the reply the
 * leader's next commit waits for.  So a follower only copies the entry
 * here and applies it at the end of the loop turn (flush), after libraft
 * has written the reply.  With libraft's TCP transport that is after the
 * reply went out.  With ours (net/raft_transport) the reply waits in the
 * socketpair for the pump, which runs at the next poll, after flush: the
 * apply still precedes the send there; pumping before applying in flush
 * is the next step (found in review; the gain measured so far comes from
 * the fewer wake-ups and the held batch). */
static int fsm_apply(struct raft_fsm *rfsm, const struct raft_buffer *buf,
		     void **result)
{
	struct wfs_raftlog *log = rfsm->data;
	/* libraft advances last_applied after each entry it applies, so the
	 * entry in hand is the next one. */
	uint64_t index = raft_last_applied(&log->raft) + 1;
	size_t len;
	int rv;

	if (log->failed)
		return RAFT_IOERR;
	len = entry_len(buf->base, buf->len);
	if (len == 0) {
		fail_fsm(log, -EBADMSG, "unpadding", index);
		return RAFT_IOERR;
	}
	*result = NULL;
	if (raft_state(&log->raft) != RAFT_LEADER &&
	    defer_entry(log, index, buf->base, len))
		return 0;
	apply_deferred(log);
	rv = apply_entry(log, index, buf->base, len);
	if (rv == 0)
		*result = log->scratch;
	return rv;
}

static int fsm_snapshot(struct raft_fsm *rfsm, struct raft_buffer *bufs[],
			unsigned *n_bufs)
{
	struct wfs_raftlog *log = rfsm->data;
	uint64_t index = raft_last_applied(&log->raft);
	struct raft_buffer *arr;
	void *data = NULL;
	size_t len = 0;
	int rc;

	apply_deferred(log);
	end_batch(log);
	if (log->failed)
		return RAFT_IOERR;
	rc = log->fsm.snapshot(log->fsm_arg, index, &data, &len);
	if (rc == -EBUSY)
		return RAFT_BUSY;
	if (rc == 0 && len == 0) {
		wfs_free(data);
		rc = -EINVAL;
	}
	if (rc != 0) {
		wfs_log_warn(SUB, "node %llu: snapshot at entry %llu failed: %s",
			     (unsigned long long)log->id,
			     (unsigned long long)index, strerror(-rc));
		return RAFT_IOERR;
	}
	arr = wfs_malloc(sizeof(*arr));
	if (!arr) {
		wfs_free(data);
		return RAFT_NOMEM;
	}
	arr[0].base = data;
	arr[0].len = len;
	*bufs = arr;
	*n_bufs = 1;
	wfs_log_debug(SUB, "node %llu: snapshot at entry %llu, %zu bytes",
		      (unsigned long long)log->id, (unsigned long long)index,
		      len);
	return 0;
}

static int fsm_snapshot_finalize(struct raft_fsm *rfsm,
				 struct raft_buffer *bufs[], unsigned *n_bufs)
{
	(void)rfsm;
	for (unsigned i = 0; *bufs && i < *n_bufs; i++)
		wfs_free((*bufs)[i].base);
	wfs_free(*bufs);
	*bufs = NULL;
	*n_bufs = 0;
	return 0;
}

static int fsm_restore(struct raft_fsm *rfsm, struct raft_buffer *buf)
{
	struct wfs_raftlog *log = rfsm->data;
	int rc;

	/* Entries deferred before the snapshot are applied first: should the
	 * restore fail, the state is still the one raft believes applied. */
	apply_deferred(log);
	end_batch(log);
	if (log->failed)
		return RAFT_IOERR;
	rc = log->fsm.restore(log->fsm_arg, buf->base, buf->len);
	if (rc != 0) {
		wfs_log_error(SUB, "node %llu: restoring a snapshot of %zu "
			      "bytes failed: %s", (unsigned long long)log->id,
			      buf->len, strerror(-rc));
		return RAFT_IOERR;
	}
	/* On success libraft hands the buffer over to the fsm. */
	raft_free(buf->base);
	return 0;
}

/* ---- raft thread: libraft request callbacks ---- */

static void apply_done(struct raft_apply *areq, int status, void *result)
{
	struct req *req = areq->data;
	struct wfs_raftlog *log = req->log;
	int rc = req_errno(log, status);

	if (status == 0) {
		rc = 0;
		if (result != log->scratch ||
		    log->scratch_index != areq->index) {
			wfs_log_error(SUB, "node %llu: result of entry %llu "
				      "is not where it was expected",
				      (unsigned long long)log->id,
				      (unsigned long long)areq->index);
			rc = -EIO;
		} else if (log->scratch) {
			memcpy(req->result, log->scratch,
			       log->fsm.result_size);
			req->has_result = true;
		}
	}
	req_finish(log, req, rc);
}

static void barrier_done(struct raft_barrier *breq, int status)
{
	struct req *req = breq->data;

	req_finish(req->log, req, status ? req_errno(req->log, status) : 0);
}

static void change_done(struct raft_change *creq, int status);

/* Second half of an add: give the (now present) server its role. */
static int assign_role(struct wfs_raftlog *log, struct req *req)
{
	int rv;

	req->assigning = true;
	rv = raft_assign(&log->raft, &req->u.change, req->id, req->role,
			 change_done);
	/* It has that role already: nothing to change. */
	if (rv == RAFT_BADROLE)
		return 1;
	return rv ? req_errno(log, rv) : 0;
}

static void change_done(struct raft_change *creq, int status)
{
	struct req *req = creq->data;
	struct wfs_raftlog *log = req->log;
	int rc;

	if (status != 0) {
		req_finish(log, req, req_errno(log, status));
		return;
	}
	if (req->kind != REQ_ADD || req->assigning) {
		wfs_log_info(SUB, "node %llu: membership change for node %llu "
			     "committed", (unsigned long long)log->id,
			     (unsigned long long)req->id);
		req_finish(log, req, 0);
		return;
	}
	rc = assign_role(log, req);
	if (rc != 0)
		req_finish(log, req, rc > 0 ? 0 : rc);
}

/* Hand one queued request to libraft; on a synchronous failure park it
 * with its error. */
static void submit(struct wfs_raftlog *log, struct req *req)
{
	int rv = 0, rc = 0;

	link_add(&log->inflight, &req->inflight);
	if (log->failed || !log->raft_open || log->raft_closing ||
	    log->stop_seen) {
		req_finish(log, req, log->failed ? -EIO : -ECANCELED);
		return;
	}
	switch (req->kind) {
	case REQ_PROPOSE:
		req->u.apply.data = req;
		rv = raft_apply(&log->raft, &req->u.apply, &req->buf, 1,
				apply_done);
		if (rv == 0)
			req->buf.base = NULL;	/* libraft's now */
		break;
	case REQ_BARRIER:
		req->u.barrier.data = req;
		rv = raft_barrier(&log->raft, &req->u.barrier, barrier_done);
		break;
	case REQ_ADD:
		req->u.change.data = req;
		rv = raft_add(&log->raft, &req->u.change, req->id, req->addr,
			      change_done);
		/* Already a member: go on to assign. */
		if (rv == RAFT_DUPLICATEID) {
			rc = assign_role(log, req);
			if (rc != 0)
				req_finish(log, req, rc > 0 ? 0 : rc);
			return;
		}
		break;
	case REQ_REMOVE:
		req->u.change.data = req;
		rv = raft_remove(&log->raft, &req->u.change, req->id,
				 change_done);
		break;
	}
	if (rv != 0)
		req_finish(log, req, req_errno(log, rv));
}

/* ---- raft thread: state, flush, shutdown ---- */

static enum wfs_raftlog_role current_role(struct wfs_raftlog *log)
{
	if (log->failed)
		return WFS_RAFTLOG_FAILED;
	if (!log->raft_open || log->raft_closing)
		return WFS_RAFTLOG_STOPPED;
	switch (raft_state(&log->raft)) {
	case RAFT_FOLLOWER: return WFS_RAFTLOG_FOLLOWER;
	case RAFT_CANDIDATE: return WFS_RAFTLOG_CANDIDATE;
	case RAFT_LEADER: return WFS_RAFTLOG_LEADER;
	default: return WFS_RAFTLOG_STOPPED;
	}
}

static const char *role_name(enum wfs_raftlog_role role)
{
	switch (role) {
	case WFS_RAFTLOG_FOLLOWER: return "follower";
	case WFS_RAFTLOG_CANDIDATE: return "candidate";
	case WFS_RAFTLOG_LEADER: return "leader";
	case WFS_RAFTLOG_FAILED: return "failed";
	default: return "stopped";
	}
}

static void log_change(struct wfs_raftlog *log, enum wfs_raftlog_role role,
		       uint64_t leader, const char *addr)
{
	unsigned long long id = log->id;
	unsigned long long term;

	if (log->raft_open && !log->raft_closing)
		log->seen_term = log->raft.current_term;
	term = log->seen_term;
	if (role == WFS_RAFTLOG_LEADER && log->seen_role != role)
		wfs_log_info(SUB, "leader change: node %llu became leader at "
			     "term %llu", id, term);
	else if (log->seen_role == WFS_RAFTLOG_LEADER)
		wfs_log_info(SUB, "leader change: node %llu lost leadership at "
			     "term %llu (now %s)", id, term, role_name(role));
	else if (role == WFS_RAFTLOG_STOPPED || role == WFS_RAFTLOG_FAILED)
		return;	/* said where it happened */
	else if (leader)
		wfs_log_debug(SUB, "leader change: node %llu follows node %llu "
			      "(%s) at term %llu", id,
			      (unsigned long long)leader, addr, term);
	else
		wfs_log_debug(SUB, "leader change: node %llu knows no leader "
			      "at term %llu", id, term);
}

/* Publish role and leader for the other threads; tell the owner when they
 * changed. */
/* Leader: whether it heard from each member within an election timeout
 * (libraft's per-server progress), for wfs_raftlog_members(). */
static void update_reach(struct wfs_raftlog *log)
{
	const struct raft_configuration *c = &log->raft.configuration;
	bool leader = raft_state(&log->raft) == RAFT_LEADER &&
		      log->raft.leader_state.progress;

	pthread_mutex_lock(&log->lock);
	if (log->nmembers == c->n)
		for (unsigned i = 0; i < c->n; i++)
			log->members[i].reachable =
				leader && (c->servers[i].id == log->id ||
					   log->raft.leader_state.progress[i]
						   .recent_recv);
	pthread_mutex_unlock(&log->lock);
}

/* Copy raft's configuration for wfs_raftlog_members() when it changed. */
static void publish_members(struct wfs_raftlog *log)
{
	const struct raft_configuration *c = &log->raft.configuration;
	uint64_t index = log->raft.configuration_uncommitted_index
				 ? log->raft.configuration_uncommitted_index
				 : log->raft.configuration_index;
	struct wfs_raftlog_member *v = NULL, *old;

	if (!log->raft_open || log->raft_closing)
		return;
	if (index == log->seen_conf_index) {
		update_reach(log);
		return;
	}
	if (c->n) {
		v = wfs_calloc(c->n, sizeof(*v));
		if (!v)
			return;		/* next turn */
	}
	for (unsigned i = 0; i < c->n; i++) {
		v[i].id = c->servers[i].id;
		snprintf(v[i].addr, sizeof(v[i].addr), "%s",
			 c->servers[i].address);
		v[i].role = c->servers[i].role == RAFT_VOTER
				    ? WFS_RAFTLOG_MEMBER_VOTER
			    : c->servers[i].role == RAFT_STANDBY
				    ? WFS_RAFTLOG_MEMBER_STANDBY
				    : 0;
	}
	log->seen_conf_index = index;
	pthread_mutex_lock(&log->lock);
	old = log->members;
	log->members = v;
	log->nmembers = c->n;
	pthread_mutex_unlock(&log->lock);
	wfs_free(old);
	update_reach(log);
}

static void publish_state(struct wfs_raftlog *log)
{
	enum wfs_raftlog_role role = current_role(log);
	raft_id leader = 0;
	const char *addr = NULL;
	uint64_t term = log->raft_open && !log->raft_closing
				? log->raft.current_term : log->seen_term;

	publish_members(log);
	if (role != WFS_RAFTLOG_STOPPED && role != WFS_RAFTLOG_FAILED)
		raft_leader(&log->raft, &leader, &addr);
	/* A follower keeps the leader it last heard of; a standby never runs
	 * for election, so it would keep one it was cut off from for good.
	 * Silence for two election timeouts means no leader is known. */
	if (role == WFS_RAFTLOG_FOLLOWER && addr &&
	    log->io.time(&log->io) - log->raft.election_timer_start >
		    2 * (raft_time)log->raft.election_timeout)
		addr = NULL;
	if (!addr)
		leader = 0;

	if (role == log->seen_role && leader == log->seen_leader &&
	    term == log->seen_term)
		return;
	if (role != log->seen_role || leader != log->seen_leader)
		log_change(log, role, leader, addr ? addr : "");
	log->seen_role = role;
	log->seen_leader = leader;
	log->seen_term = term;
	pthread_mutex_lock(&log->lock);
	log->role = role;
	log->leader_id = leader;
	log->term = log->seen_term;
	snprintf(log->leader_addr, sizeof(log->leader_addr), "%s",
		 addr ? addr : "");
	pthread_mutex_unlock(&log->lock);
	if (log->fsm.state)
		log->fsm.state(log->fsm_arg, role, leader);
}

static void handle_closed(uv_handle_t *h)
{
	(void)h;
}

static void close_handles(struct wfs_raftlog *log)
{
	if (log->handles_closing)
		return;
	log->handles_closing = true;
	uv_close((uv_handle_t *)&log->wake, handle_closed);
	uv_close((uv_handle_t *)&log->flush, handle_closed);
	uv_close((uv_handle_t *)&log->hold, handle_closed);
}

/* The one place that picks raft's transport.  Today libraft's own TCP one;
 * the encrypted node transport replaces these two functions. */
static int transport_init(struct wfs_raftlog *log)
{
	if (log->net)
		return wfs_raft_transport_init(&log->transport, &log->loop,
					       log->net, log->check,
					       log->check_arg);
	return raft_errno(raft_uv_tcp_init(&log->transport, &log->loop));
}

static void transport_close(struct wfs_raftlog *log)
{
	if (log->net)
		wfs_raft_transport_close(&log->transport);
	else
		raft_uv_tcp_close(&log->transport);
}

static void flush(struct wfs_raftlog *log);

/* Free raft_uv's and the transport's memory.  Only once the loop has run
 * dry: raft_uv may still finish closing its own handles after it reported
 * raft closed, and those callbacks read its memory. */
static void release_io(struct wfs_raftlog *log)
{
	if (!log->io_open)
		return;
	log->io_open = false;
	raft_uv_close(&log->io);
	transport_close(log);
}

static void raft_closed(struct raft *raft)
{
	struct wfs_raftlog *log = raft->data;

	log->raft_open = false;
	log->raft_closing = false;
	/* libraft failed what it held; anything it did not call back is
	 * cancelled here, now that it can no longer touch it. */
	while (log->inflight.next != &log->inflight)
		req_finish(log, REQ_OF_LINK(log->inflight.next),
			   log->failed ? -EIO : -ECANCELED);
	flush(log);
	if (log->stop_seen)
		close_handles(log);
}

static void close_raft(struct wfs_raftlog *log)
{
	if (!log->raft_open || log->raft_closing)
		return;
	log->raft_closing = true;
	raft_close(&log->raft, raft_closed);
}

/* Whether libraft has no log write or snapshot in flight. */
static bool raft_idle(struct wfs_raftlog *log)
{
	struct raft *r = &log->raft;

	return r->last_stored >= raft_last_index(r) &&
	       r->snapshot.put.data == NULL && r->snapshot.pending.term == 0;
}

/* libraft 0.15 may complete a log write after raft_close has torn down its
 * in-memory log, and then crashes; so raft is closed at the first turn of
 * the loop with no write in flight (nothing new is submitted meanwhile),
 * or after DRAIN_MS if the disk never answers. */
static void close_when_idle(struct wfs_raftlog *log)
{
	if (!log->close_wanted) {
		log->close_wanted = true;
		log->close_deadline = uv_now(&log->loop) + DRAIN_MS;
	}
	if (!log->raft_open || log->raft_closing)
		return;
	if (!raft_idle(log)) {
		if (uv_now(&log->loop) < log->close_deadline)
			return;
		wfs_log_warn(SUB, "node %llu: log writes still in flight "
			     "after %u ms; closing raft anyway",
			     (unsigned long long)log->id, DRAIN_MS);
	}
	close_raft(log);
}

/* The hold is over.  Callbacks still parked (entries applied at the last
 * poll; libuv runs timers before the prepare that delivers them) run
 * first: that flush, in this same loop iteration, ends the batch after
 * them, the batch being old enough by then. */
static void hold_cb(uv_timer_t *h)
{
	struct wfs_raftlog *log = h->data;

	if (!log->done)
		end_batch(log);
}

/* Whether the open batch may stay open past this turn.  One entry at a
 * time (what a client creating files one after another makes) would cost
 * a store commit per entry: on a leader that was a third of the node's CPU
 * per create, on a small machine running several nodes most of what a
 * follower does for an entry.  Nobody waits for the commit (see flush), so
 * the batch stays open for up to BATCH_HOLD_MS (hold_cb ends it then) or
 * BATCH_HOLD_MAX entries.  Anything that needs the store's file settled
 * ends the batch itself: a snapshot, a restore, the stop, a failure. */
static bool hold_batch(struct wfs_raftlog *log)
{
	uint64_t age = uv_now(&log->loop) - log->batch_start;

	if (!log->batch_open || log->failed || log->close_wanted ||
	    log->stop_seen || log->handles_closing ||
	    !log->raft_open || log->raft_closing ||
	    log->batch_entries >= BATCH_HOLD_MAX || age >= BATCH_HOLD_MS)
		return false;
	if (!uv_is_active((uv_handle_t *)&log->hold))
		uv_timer_start(&log->hold, hold_cb, BATCH_HOLD_MS - age, 0);
	return true;
}

/* Apply what a follower deferred, publish the state (so a proposer told
 * -EREMOTE finds the leader it should ask), run the parked callbacks, then
 * end the batch (unless it is held).  The callbacks come first because
 * nobody needs to wait for the store's commit: an entry is durable once the
 * log has it, the owner's readers see what apply did before the commit
 * (wfs_raftlog_fsm says so), and a failed commit is replayed from the log
 * at restart.  On a leader that takes the commit off the reply's path. */
static void flush(struct wfs_raftlog *log)
{
	apply_deferred(log);
	publish_state(log);
	deliver(log);
	if (!hold_batch(log))
		end_batch(log);
	if (log->failed || log->close_wanted) {
		close_when_idle(log);
		publish_state(log);
		deliver(log);
	}
}

static void flush_cb(uv_prepare_t *h)
{
	flush(h->data);
}

static void wake_cb(uv_async_t *h)
{
	struct wfs_raftlog *log = h->data;
	struct req *req, *next;

	pthread_mutex_lock(&log->lock);
	req = log->queue;
	log->queue = NULL;
	log->queue_tail = &log->queue;
	if (log->stopping)
		log->stop_seen = true;
	pthread_mutex_unlock(&log->lock);

	for (; req; req = next) {
		next = req->next;
		submit(log, req);
	}
	if (!log->stop_seen)
		return;
	if (log->raft_open) {
		close_when_idle(log);
	} else {
		flush(log);
		close_handles(log);
	}
}

/* ---- raft thread: start-up ---- */

static int bootstrap(struct wfs_raftlog *log)
{
	struct raft_configuration conf;
	int rv = 0;

	raft_configuration_init(&conf);
	for (unsigned i = 0; rv == 0 && i < log->nvoters; i++)
		rv = raft_configuration_add(&conf, log->voters[i].id,
					    log->voters[i].addr, RAFT_VOTER);
	if (rv == 0)
		rv = raft_bootstrap(&log->raft, &conf);
	raft_configuration_close(&conf);
	/* The dir already holds raft state: a restart, not a new group. */
	if (rv == RAFT_CANTBOOTSTRAP)
		return 0;
	if (rv != 0)
		wfs_log_error(SUB, "node %llu: bootstrap in %s failed: %s",
			      (unsigned long long)log->id, log->dir,
			      raft_errmsg(&log->raft));
	return raft_errno(rv);
}

static void tune(struct wfs_raftlog *log)
{
	raft_uv_set_connect_retry_delay(&log->io, CONNECT_RETRY_MS);
	/* Snapshots are small descriptors: compressing them buys nothing. */
	raft_uv_set_snapshot_compression(&log->io, false);
	raft_set_heartbeat_timeout(&log->raft, log->heartbeat_ms);
	raft_set_election_timeout(&log->raft, log->election_ms);
	raft_set_snapshot_threshold(&log->raft, log->snapshot_threshold);
	raft_set_snapshot_trailing(&log->raft, log->snapshot_trailing);
	/* A voter cut off for a while must not depose a healthy leader when
	 * it comes back (Raft thesis 9.6). */
	raft_set_pre_vote(&log->raft, true);
}

/* Start raft proper on the loop's handles: on failure everything it opened
 * is closed again (running the loop to finish raft_close). */
static int open_raft(struct wfs_raftlog *log)
{
	int rc;

	rc = transport_init(log);
	if (rc != 0)
		return rc;
	rc = raft_errno(raft_uv_init(&log->io, &log->loop, log->dir,
				     &log->transport));
	if (rc != 0) {
		wfs_log_error(SUB, "node %llu: cannot use %s for the raft log: "
			      "%s", (unsigned long long)log->id, log->dir,
			      log->io.errmsg);
		goto out_close_transport;
	}
	rc = raft_errno(raft_init(&log->raft, &log->io, &log->rfsm, log->id,
				  log->addr));
	if (rc != 0) {
		wfs_log_error(SUB, "node %llu: raft init failed: %s",
			      (unsigned long long)log->id,
			      raft_errmsg(&log->raft));
		goto out_close_io;
	}
	log->raft.data = log;
	log->raft_open = true;
	log->io_open = true;
	tune(log);
	if (log->nvoters) {
		rc = bootstrap(log);
		if (rc != 0)
			goto out_close_raft;
	}
	rc = raft_errno(raft_start(&log->raft));
	if (rc != 0) {
		wfs_log_error(SUB, "node %llu: raft start on %s in %s failed: "
			      "%s (%s)", (unsigned long long)log->id, log->addr,
			      log->dir, strerror(-rc), raft_errmsg(&log->raft));
		goto out_close_raft;
	}
	pthread_mutex_lock(&log->lock);
	log->start_index = raft_last_index(&log->raft);
	pthread_mutex_unlock(&log->lock);
	return 0;

out_close_raft:
	/* The caller runs the loop dry and then calls release_io(). */
	close_raft(log);
	while (log->raft_open)
		uv_run(&log->loop, UV_RUN_ONCE);
	return rc;
out_close_io:
	raft_uv_close(&log->io);
out_close_transport:
	transport_close(log);
	return rc;
}

static void start_result(struct wfs_raftlog *log, int rc)
{
	pthread_mutex_lock(&log->lock);
	log->start_rc = rc;
	log->start_done = true;
	log->running = rc == 0;
	pthread_cond_broadcast(&log->cond);
	pthread_mutex_unlock(&log->lock);
}

/* Signals are the program's business: keep them all off this thread.  This
 * matters for SIGPIPE above all: libuv writes to peers' sockets with plain
 * write(2), and a peer that died would otherwise kill the process; blocked,
 * the write just fails with EPIPE and raft redials. */
static void block_signals(void)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
}

static void *raft_thread(void *arg)
{
	struct wfs_raftlog *log = arg;
	int rc;

	pthread_setname_np(pthread_self(), "wfs-raft");
	block_signals();
	rc = uv_loop_init(&log->loop);
	if (rc != 0)
		goto out_report;
	rc = uv_async_init(&log->loop, &log->wake, wake_cb);
	if (rc != 0)
		goto out_close_loop;
	log->wake.data = log;
	rc = uv_prepare_init(&log->loop, &log->flush);
	if (rc == 0)
		rc = uv_prepare_start(&log->flush, flush_cb);
	if (rc != 0)
		goto out_close_wake;
	log->flush.data = log;
	uv_timer_init(&log->loop, &log->hold);	/* cannot fail */
	log->hold.data = log;
	rc = open_raft(log);
	if (rc != 0)
		goto out_close_handles;
	wfs_log_info(SUB, "node %llu: raft started on %s, log in %s",
		     (unsigned long long)log->id, log->addr, log->dir);
	/* Running before the first state callback, which may queue a call
	 * (storaged asks a new leader's read barrier there). */
	pthread_mutex_lock(&log->lock);
	log->running = true;
	pthread_mutex_unlock(&log->lock);
	publish_state(log);
	start_result(log, 0);
	uv_run(&log->loop, UV_RUN_DEFAULT);
	release_io(log);
	rc = uv_loop_close(&log->loop);
	if (rc != 0)
		wfs_log_error(SUB, "node %llu: raft loop closed with handles "
			      "open: %s", (unsigned long long)log->id,
			      uv_strerror(rc));
	return NULL;

out_close_handles:
	/* Nothing was handed to the owner yet but a callback parked by a
	 * failed start (none can be queued before start returns). */
	deliver(log);
	close_handles(log);
	uv_run(&log->loop, UV_RUN_DEFAULT);
	release_io(log);
	goto out_close_loop;
out_close_wake:
	uv_close((uv_handle_t *)&log->wake, handle_closed);
	uv_run(&log->loop, UV_RUN_DEFAULT);
out_close_loop:
	uv_loop_close(&log->loop);
out_report:
	start_result(log, rc);
	return NULL;
}

/* ---- any thread ---- */

static bool addr_ok(const char *addr)
{
	size_t n = addr ? strnlen(addr, WFS_RAFTLOG_ADDR_MAX) : 0;

	return n > 0 && n < WFS_RAFTLOG_ADDR_MAX && strchr(addr, ':');
}

static int check_config(const struct wfs_raftlog_config *cfg,
			const struct wfs_raftlog_fsm *fsm)
{
	bool self = false;

	if (!cfg || !fsm || cfg->id == 0 || !addr_ok(cfg->addr) ||
	    !cfg->dir || !cfg->dir[0] || strlen(cfg->dir) >= PATH_MAX)
		return -EINVAL;
	if (!fsm->apply || !fsm->snapshot || !fsm->restore)
		return -EINVAL;
	if (cfg->nvoters && !cfg->voters)
		return -EINVAL;
	for (unsigned i = 0; i < cfg->nvoters; i++) {
		const struct wfs_raftlog_server *v = &cfg->voters[i];

		if (v->id == 0 || !addr_ok(v->addr))
			return -EINVAL;
		for (unsigned j = 0; j < i; j++)
			if (cfg->voters[j].id == v->id ||
			    strcmp(cfg->voters[j].addr, v->addr) == 0)
				return -EINVAL;
		if (v->id == cfg->id) {
			if (strcmp(v->addr, cfg->addr) != 0)
				return -EINVAL;
			self = true;
		}
	}
	return cfg->nvoters && !self ? -EINVAL : 0;
}

static void free_voters(struct wfs_raftlog *log)
{
	for (unsigned i = 0; log->voters && i < log->nvoters; i++)
		wfs_free((char *)log->voters[i].addr);
	wfs_free(log->voters);
}

static int copy_voters(struct wfs_raftlog *log,
		       const struct wfs_raftlog_config *cfg)
{
	if (!cfg->nvoters)
		return 0;
	log->voters = wfs_calloc(cfg->nvoters, sizeof(*log->voters));
	if (!log->voters)
		return -ENOMEM;
	log->nvoters = cfg->nvoters;
	for (unsigned i = 0; i < cfg->nvoters; i++) {
		log->voters[i].id = cfg->voters[i].id;
		log->voters[i].addr = wfs_strdup(cfg->voters[i].addr);
		if (!log->voters[i].addr)
			return -ENOMEM;
	}
	return 0;
}

static unsigned or_default(unsigned v, unsigned def)
{
	return v ? v : def;
}

static void init_fields(struct wfs_raftlog *log,
			const struct wfs_raftlog_config *cfg,
			const struct wfs_raftlog_fsm *fsm, void *fsm_arg)
{
	log->id = cfg->id;
	log->heartbeat_ms = or_default(cfg->heartbeat_ms, DEFAULT_HEARTBEAT_MS);
	log->election_ms = or_default(cfg->election_ms, DEFAULT_ELECTION_MS);
	log->snapshot_threshold = or_default(cfg->snapshot_threshold,
					     DEFAULT_SNAPSHOT_THRESHOLD);
	log->snapshot_trailing = or_default(cfg->snapshot_trailing,
					    DEFAULT_SNAPSHOT_TRAILING);
	log->fsm = *fsm;
	log->fsm_arg = fsm_arg;
	log->queue_tail = &log->queue;
	log->done_tail = &log->done;
	log->deferred_tail = &log->deferred;
	link_init(&log->inflight);
	log->rfsm.version = 2;
	log->rfsm.data = log;
	log->rfsm.apply = fsm_apply;
	log->rfsm.snapshot = fsm_snapshot;
	log->rfsm.restore = fsm_restore;
	log->rfsm.snapshot_finalize = fsm_snapshot_finalize;
}

int wfs_raftlog_new(const struct wfs_raftlog_config *cfg,
		    const struct wfs_raftlog_fsm *fsm, void *fsm_arg,
		    struct wfs_raftlog **out)
{
	struct wfs_raftlog *log;
	int rc;

	rc = check_config(cfg, fsm);
	if (rc != 0)
		return rc;
	log = wfs_calloc(1, sizeof(*log));
	if (!log)
		return -ENOMEM;
	init_fields(log, cfg, fsm, fsm_arg);
	log->net = cfg->net;
	log->check = cfg->check;
	log->check_arg = cfg->check_arg;
	rc = -ENOMEM;
	log->addr = wfs_strdup(cfg->addr);
	log->dir = wfs_strdup(cfg->dir);
	if (!log->addr || !log->dir)
		goto out_free;
	if (copy_voters(log, cfg) != 0)
		goto out_free;
	if (fsm->result_size) {
		log->scratch = wfs_malloc(fsm->result_size);
		if (!log->scratch)
			goto out_free;
	}
	rc = -pthread_mutex_init(&log->lock, NULL);
	if (rc != 0)
		goto out_free;
	rc = -pthread_cond_init(&log->cond, NULL);
	if (rc != 0)
		goto out_destroy_lock;
	*out = log;
	return 0;

out_destroy_lock:
	pthread_mutex_destroy(&log->lock);
out_free:
	wfs_free(log->scratch);
	free_voters(log);
	wfs_free(log->dir);
	wfs_free(log->addr);
	wfs_free(log);
	return rc;
}

int wfs_raftlog_start(struct wfs_raftlog *log)
{
	int rc;

	pthread_mutex_lock(&log->lock);
	if (log->started) {
		pthread_mutex_unlock(&log->lock);
		return -EALREADY;
	}
	log->started = true;
	log->start_done = false;
	pthread_mutex_unlock(&log->lock);

	if (mkdir(log->dir, 0700) != 0 && errno != EEXIST) {
		rc = -errno;
		wfs_log_error(SUB, "node %llu: cannot create %s: %s",
			      (unsigned long long)log->id, log->dir,
			      strerror(-rc));
		goto out_unstart;
	}
	rc = -pthread_create(&log->thread, NULL, raft_thread, log);
	if (rc != 0)
		goto out_unstart;
	pthread_mutex_lock(&log->lock);
	while (!log->start_done)
		pthread_cond_wait(&log->cond, &log->lock);
	rc = log->start_rc;
	pthread_mutex_unlock(&log->lock);
	if (rc == 0)
		return 0;
	pthread_join(log->thread, NULL);
out_unstart:
	pthread_mutex_lock(&log->lock);
	log->started = false;
	pthread_mutex_unlock(&log->lock);
	return rc;
}

/* Queue the list @first..@last (linked by next) and wake the raft thread
 * once.  On -ECANCELED the list is freed. */
static int enqueue_list(struct wfs_raftlog *log, struct req *first,
			struct req *last)
{
	struct req *req, *next;

	pthread_mutex_lock(&log->lock);
	if (!log->running || log->stopping) {
		pthread_mutex_unlock(&log->lock);
		for (req = first; req; req = next) {
			next = req->next;
			req_free(req);
		}
		return -ECANCELED;
	}
	last->next = NULL;
	*log->queue_tail = first;
	log->queue_tail = &last->next;
	/* Under the lock: the raft thread closes the handle only after it
	 * saw stopping, which is set under this lock. */
	uv_async_send(&log->wake);
	pthread_mutex_unlock(&log->lock);
	return 0;
}

/* Queue @req for the raft thread, or free it and fail when not running. */
static int enqueue(struct wfs_raftlog *log, struct req *req)
{
	req->next = NULL;
	return enqueue_list(log, req, req);
}

static struct req *req_new(struct wfs_raftlog *log, enum req_kind kind,
			   size_t extra, wfs_raftlog_done_cb cb, void *arg)
{
	struct req *req = wfs_calloc(1, sizeof(*req) + extra);

	if (!req)
		return NULL;
	req->log = log;
	req->kind = kind;
	req->cb = cb;
	req->arg = arg;
	link_init(&req->inflight);
	return req;
}

/* A proposal of @len payload bytes at @buf, or NULL (out of memory). */
static struct req *propose_req(struct wfs_raftlog *log, const void *buf,
			       size_t len, wfs_raftlog_done_cb cb, void *arg)
{
	struct req *req;
	size_t pad;

	req = req_new(log, REQ_PROPOSE, log->fsm.result_size, cb, arg);
	if (!req)
		return NULL;
	/* libraft 0.15 stores payloads in 8-byte words and, at the next
	 * start, reads a segment holding a payload of any other length as
	 * corrupt (and drops it).  So every entry is padded to a word: 1 to 8
	 * bytes, each holding the pad's length; fsm_apply strips it. */
	pad = ENTRY_WORD - len % ENTRY_WORD;
	req->buf.base = raft_malloc(len + pad);
	if (!req->buf.base) {
		req_free(req);
		return NULL;
	}
	memcpy(req->buf.base, buf, len);
	memset((char *)req->buf.base + len, (int)pad, pad);
	req->buf.len = len + pad;
	return req;
}

int wfs_raftlog_propose_many(struct wfs_raftlog *log,
			     const struct wfs_raftlog_prop *props, unsigned n)
{
	struct req *first = NULL, **tail = &first, *last = NULL, *next;

	if (!props || n == 0 || n > WFS_RAFTLOG_PROPOSE_MANY)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		if (props[i].len == 0 || props[i].len > WFS_RAFTLOG_ENTRY_MAX ||
		    !props[i].buf || !props[i].cb)
			return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		last = propose_req(log, props[i].buf, props[i].len,
				   props[i].cb, props[i].arg);
		if (!last) {
			for (; first; first = next) {
				next = first->next;
				req_free(first);
			}
			return -ENOMEM;
		}
		*tail = last;
		tail = &last->next;
	}
	return enqueue_list(log, first, last);
}

int wfs_raftlog_propose(struct wfs_raftlog *log, const void *buf, size_t len,
			wfs_raftlog_done_cb cb, void *arg)
{
	struct wfs_raftlog_prop one = { buf, len, cb, arg };

	return wfs_raftlog_propose_many(log, &one, 1);
}

int wfs_raftlog_barrier(struct wfs_raftlog *log, wfs_raftlog_done_cb cb,
			void *arg)
{
	struct req *req;

	if (!cb)
		return -EINVAL;
	req = req_new(log, REQ_BARRIER, 0, cb, arg);
	if (!req)
		return -ENOMEM;
	return enqueue(log, req);
}

int wfs_raftlog_add_member(struct wfs_raftlog *log, uint64_t id,
			   const char *addr,
			   enum wfs_raftlog_member_role role,
			   wfs_raftlog_done_cb cb, void *arg)
{
	struct req *req;

	if (id == 0 || !addr_ok(addr) || !cb ||
	    (role != WFS_RAFTLOG_MEMBER_VOTER &&
	     role != WFS_RAFTLOG_MEMBER_STANDBY))
		return -EINVAL;
	req = req_new(log, REQ_ADD, 0, cb, arg);
	if (!req)
		return -ENOMEM;
	req->id = id;
	req->role = role == WFS_RAFTLOG_MEMBER_VOTER ? RAFT_VOTER
						     : RAFT_STANDBY;
	req->addr = wfs_strdup(addr);
	if (!req->addr) {
		req_free(req);
		return -ENOMEM;
	}
	return enqueue(log, req);
}

int wfs_raftlog_remove_voter(struct wfs_raftlog *log, uint64_t id,
			     wfs_raftlog_done_cb cb, void *arg)
{
	struct req *req;

	if (id == 0 || !cb)
		return -EINVAL;
	req = req_new(log, REQ_REMOVE, 0, cb, arg);
	if (!req)
		return -ENOMEM;
	req->id = id;
	return enqueue(log, req);
}

unsigned wfs_raftlog_members(struct wfs_raftlog *log,
			     struct wfs_raftlog_member *out, unsigned cap)
{
	unsigned n;

	pthread_mutex_lock(&log->lock);
	n = log->nmembers;
	if (out && n && cap)
		memcpy(out, log->members,
		       (n < cap ? n : cap) * sizeof(*out));
	pthread_mutex_unlock(&log->lock);
	return n;
}

enum wfs_raftlog_role wfs_raftlog_role(struct wfs_raftlog *log)
{
	enum wfs_raftlog_role role;

	pthread_mutex_lock(&log->lock);
	role = log->running ? log->role : WFS_RAFTLOG_STOPPED;
	pthread_mutex_unlock(&log->lock);
	return role;
}

bool wfs_raftlog_is_leader(struct wfs_raftlog *log)
{
	return wfs_raftlog_role(log) == WFS_RAFTLOG_LEADER;
}

uint64_t wfs_raftlog_start_index(struct wfs_raftlog *log)
{
	uint64_t index;

	pthread_mutex_lock(&log->lock);
	index = log->start_index;
	pthread_mutex_unlock(&log->lock);
	return index;
}

uint64_t wfs_raftlog_term(struct wfs_raftlog *log)
{
	uint64_t term;

	pthread_mutex_lock(&log->lock);
	term = log->term;
	pthread_mutex_unlock(&log->lock);
	return term;
}

int wfs_raftlog_leader(struct wfs_raftlog *log, uint64_t *id, char *addr,
		       size_t cap)
{
	int rc = 0;

	pthread_mutex_lock(&log->lock);
	*id = log->running ? log->leader_id : 0;
	if (*id == 0)
		rc = -ENOENT;
	else if (!addr && cap == 0)
		rc = 0;		/* only the id was asked for */
	else if (strlen(log->leader_addr) >= cap)
		rc = -ERANGE;
	else
		memcpy(addr, log->leader_addr, strlen(log->leader_addr) + 1);
	pthread_mutex_unlock(&log->lock);
	return rc;
}

void wfs_raftlog_stop(struct wfs_raftlog *log)
{
	pthread_mutex_lock(&log->lock);
	if (!log->running) {
		pthread_mutex_unlock(&log->lock);
		return;
	}
	log->stopping = true;
	uv_async_send(&log->wake);
	pthread_mutex_unlock(&log->lock);

	pthread_join(log->thread, NULL);

	pthread_mutex_lock(&log->lock);
	log->running = false;
	log->role = WFS_RAFTLOG_STOPPED;
	log->leader_id = 0;
	pthread_mutex_unlock(&log->lock);
	wfs_log_info(SUB, "node %llu: raft stopped",
		     (unsigned long long)log->id);
}

void wfs_raftlog_free(struct wfs_raftlog *log)
{
	if (!log)
		return;
	wfs_raftlog_stop(log);
	/* The last flush applied them all; a start that failed half-way may
	 * leave some. */
	while (log->deferred) {
		struct deferred *d = log->deferred;

		log->deferred = d->next;
		wfs_free(d);
	}
	pthread_cond_destroy(&log->cond);
	pthread_mutex_destroy(&log->lock);
	wfs_free(log->scratch);
	wfs_free(log->members);
	free_voters(log);
	wfs_free(log->dir);
	wfs_free(log->addr);
	wfs_free(log);
}
