/* Unit tests for gossip/raftlog: a toy state machine (an in-memory list of
 * applied (index, value) pairs that checks indexes only grow) driven through
 * real libraft on loopback TCP and raft_uv files in the scratch folder.
 *
 * One voter: thousands of pipelined proposals from two threads, restart and
 * replay, snapshots, read barriers, a failing state machine, stop with work
 * in flight.  Three voters in one process: election, the not-leader error
 * naming the leader, replication, the leader's death and a new election.
 * Followers: applies after the reply, batches held across entries,
 * snapshots in between.  A leader's callbacks before its batch commits,
 * its batches held too.  Lists of proposals, all or nothing.
 * Membership: a joining node added as voter, then
 * removed.  Every wait is bounded, so a broken build fails instead of
 * hanging.
 */
#include "gossip/raftlog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mem/mem.h"
#include "tests/unit.h"

/* Not a multiple of 8 on purpose: libraft stores payloads in 8-byte words
 * and, unpadded, reads such entries back as corrupt at restart. */
#define ENTRY_LEN 61
#define WAIT_S 20		/* bound of any single wait */

/* ---- the toy state machine ---- */

struct toy_result {
	uint64_t index;
	uint64_t value;
};

struct toy {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t *idx, *val;	/* applied entries, in order */
	size_t n, cap;
	uint64_t last_index;
	unsigned order_errors;	/* an index that did not grow */
	unsigned bad_entries;	/* an entry that was not ours */
	bool in_batch;
	unsigned batch_errors;	/* begin inside a batch, end outside one */
	unsigned batches;
	unsigned applies_outside_batch;
	unsigned snapshots, restores;
	size_t fail_at;		/* apply fails when n reaches it (0: never) */
	enum wfs_raftlog_role role;
	unsigned state_calls;
};

static void toy_init(struct toy *t)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
}

static void toy_release(struct toy *t)
{
	wfs_free(t->idx);
	wfs_free(t->val);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
}

static int toy_push(struct toy *t, uint64_t index, uint64_t value)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 1024;
		uint64_t *i = wfs_realloc(t->idx, cap * sizeof(*i));

		if (!i)
			return -ENOMEM;
		t->idx = i;
		i = wfs_realloc(t->val, cap * sizeof(*i));
		if (!i)
			return -ENOMEM;
		t->val = i;
		t->cap = cap;
	}
	t->idx[t->n] = index;
	t->val[t->n] = value;
	t->n++;
	return 0;
}

static void make_entry(unsigned char *e, uint64_t value)
{
	memcpy(e, &value, 8);
	for (unsigned i = 8; i < ENTRY_LEN; i++)
		e[i] = (unsigned char)(value * 31 + i);
}

static int toy_apply(void *arg, uint64_t index, const void *buf, size_t len,
		     void *result)
{
	struct toy *t = arg;
	struct toy_result *res = result;
	unsigned char want[ENTRY_LEN];
	uint64_t value = 0;
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	if (t->fail_at && t->n + 1 == t->fail_at) {
		rc = -EIO;
		goto out;
	}
	if (len == ENTRY_LEN) {
		memcpy(&value, buf, 8);
		make_entry(want, value);
	}
	if (len != ENTRY_LEN || memcmp(want, buf, len) != 0)
		t->bad_entries++;
	if (index <= t->last_index)
		t->order_errors++;
	if (!t->in_batch)
		t->applies_outside_batch++;
	t->last_index = index;
	rc = toy_push(t, index, value);
	res->index = index;
	res->value = value;
	pthread_cond_broadcast(&t->cond);
out:
	pthread_mutex_unlock(&t->lock);
	return rc;
}

static int toy_batch_begin(void *arg)
{
	struct toy *t = arg;

	pthread_mutex_lock(&t->lock);
	if (t->in_batch)
		t->batch_errors++;
	t->in_batch = true;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

static int toy_batch_end(void *arg)
{
	struct toy *t = arg;

	pthread_mutex_lock(&t->lock);
	if (!t->in_batch)
		t->batch_errors++;
	t->in_batch = false;
	t->batches++;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

/* Snapshot: u64 count, then count (index, value) pairs. */
static int toy_snapshot(void *arg, uint64_t index, void **buf, size_t *len)
{
	struct toy *t = arg;
	uint64_t *p;

	pthread_mutex_lock(&t->lock);
	if (t->in_batch || index != t->last_index)
		t->batch_errors++;
	*len = (1 + 2 * t->n) * sizeof(uint64_t);
	p = wfs_malloc(*len);
	if (!p) {
		pthread_mutex_unlock(&t->lock);
		return -ENOMEM;
	}
	p[0] = t->n;
	for (size_t i = 0; i < t->n; i++) {
		p[1 + 2 * i] = t->idx[i];
		p[2 + 2 * i] = t->val[i];
	}
	t->snapshots++;
	pthread_mutex_unlock(&t->lock);
	*buf = p;
	return 0;
}

static int toy_restore(void *arg, const void *buf, size_t len)
{
	struct toy *t = arg;
	uint64_t n;
	int rc = 0;

	if (len < 8)
		return -EBADMSG;
	memcpy(&n, buf, 8);
	if (len != (1 + 2 * n) * 8)
		return -EBADMSG;
	pthread_mutex_lock(&t->lock);
	t->n = 0;
	t->last_index = 0;
	for (uint64_t i = 0; rc == 0 && i < n; i++) {
		uint64_t pair[2];

		memcpy(pair, (const char *)buf + 8 + 16 * i, 16);
		rc = toy_push(t, pair[0], pair[1]);
		t->last_index = pair[0];
	}
	t->restores++;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
	return rc;
}

static void toy_state(void *arg, enum wfs_raftlog_role role, uint64_t leader)
{
	struct toy *t = arg;

	(void)leader;
	pthread_mutex_lock(&t->lock);
	t->role = role;
	t->state_calls++;
	pthread_mutex_unlock(&t->lock);
}

static const struct wfs_raftlog_fsm toy_fsm = {
	.result_size = sizeof(struct toy_result),
	.apply = toy_apply,
	.batch_begin = toy_batch_begin,
	.batch_end = toy_batch_end,
	.snapshot = toy_snapshot,
	.restore = toy_restore,
	.state = toy_state,
};

static void deadline_in(struct timespec *ts, unsigned secs)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += secs;
}

/* Wait until the toy holds at least @n entries.  Returns whether it did. */
static bool toy_wait(struct toy *t, size_t n)
{
	struct timespec dl;
	bool ok;

	deadline_in(&dl, WAIT_S);
	pthread_mutex_lock(&t->lock);
	while (t->n < n &&
	       pthread_cond_timedwait(&t->cond, &t->lock, &dl) != ETIMEDOUT)
		;
	ok = t->n >= n;
	pthread_mutex_unlock(&t->lock);
	return ok;
}

static size_t toy_count(struct toy *t)
{
	size_t n;

	pthread_mutex_lock(&t->lock);
	n = t->n;
	pthread_mutex_unlock(&t->lock);
	return n;
}

/* Whether @a and @b applied the same entries at the same indexes. */
static bool toy_same(struct toy *a, struct toy *b)
{
	bool same;

	pthread_mutex_lock(&a->lock);
	pthread_mutex_lock(&b->lock);
	same = a->n == b->n &&
	       memcmp(a->idx, b->idx, a->n * sizeof(uint64_t)) == 0 &&
	       memcmp(a->val, b->val, a->n * sizeof(uint64_t)) == 0;
	pthread_mutex_unlock(&b->lock);
	pthread_mutex_unlock(&a->lock);
	return same;
}

/* ---- proposals and their completions ---- */

struct tally {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct toy *toy;	/* if set: an entry is applied before its callback */
	unsigned unapplied;	/* callbacks that came first */
	unsigned in_batch;	/* callbacks that ran before their batch ended */
	unsigned done, ok, canceled, io, remote, other;
	unsigned twice;		/* a callback that ran again */
	unsigned bad_result;	/* a result that is not the entry's */
};

struct prop {
	struct tally *t;
	uint64_t value;
	unsigned calls;
	int rc;
	uint64_t index;
};

static void tally_init(struct tally *t)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
}

static void tally_release(struct tally *t)
{
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
}

static void count_rc(struct tally *t, int rc)
{
	if (rc == 0)
		t->ok++;
	else if (rc == -ECANCELED)
		t->canceled++;
	else if (rc == -EIO)
		t->io++;
	else if (rc == -EREMOTE)
		t->remote++;
	else
		t->other++;
	t->done++;
	pthread_cond_broadcast(&t->cond);
}

static void prop_done(void *arg, int rc, void *result)
{
	struct prop *p = arg;
	struct toy_result *res = result;
	struct tally *t = p->t;

	pthread_mutex_lock(&t->lock);
	if (p->calls++)
		t->twice++;
	p->rc = rc;
	if (rc == 0) {
		if (!res || res->value != p->value)
			t->bad_result++;
		else
			p->index = res->index;
		if (res && t->toy) {
			pthread_mutex_lock(&t->toy->lock);
			if (t->toy->last_index < res->index)
				t->unapplied++;
			if (t->toy->in_batch)
				t->in_batch++;
			pthread_mutex_unlock(&t->toy->lock);
		}
	} else if (res) {
		t->bad_result++;
	}
	count_rc(t, rc);
	pthread_mutex_unlock(&t->lock);
}

/* Completion of a barrier or membership change: arg is the tally. */
static void tally_done(void *arg, int rc, void *result)
{
	struct tally *t = arg;

	pthread_mutex_lock(&t->lock);
	if (result)
		t->bad_result++;
	count_rc(t, rc);
	pthread_mutex_unlock(&t->lock);
}

static bool tally_wait(struct tally *t, unsigned n)
{
	struct timespec dl;
	bool ok;

	deadline_in(&dl, WAIT_S);
	pthread_mutex_lock(&t->lock);
	while (t->done < n &&
	       pthread_cond_timedwait(&t->cond, &t->lock, &dl) != ETIMEDOUT)
		;
	ok = t->done >= n;
	pthread_mutex_unlock(&t->lock);
	return ok;
}

static int propose_cb(struct wfs_raftlog *log, struct prop *p,
		      wfs_raftlog_done_cb cb)
{
	unsigned char e[ENTRY_LEN];

	make_entry(e, p->value);
	return wfs_raftlog_propose(log, e, sizeof(e), cb, p);
}

static int propose(struct wfs_raftlog *log, struct prop *p)
{
	return propose_cb(log, p, prop_done);
}

/* Propose @n entries with values @first.. and wait for them all.  Returns
 * how many completed with rc 0. */
static unsigned propose_all(struct wfs_raftlog *log, uint64_t first,
			    unsigned n)
{
	struct prop *p = wfs_calloc(n, sizeof(*p));
	struct tally t;
	unsigned queued = 0, ok;

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	tally_init(&t);
	for (unsigned i = 0; i < n; i++) {
		p[i].t = &t;
		p[i].value = first + i;
		if (propose(log, &p[i]) == 0)
			queued++;
	}
	CU_ASSERT_EQUAL(queued, n);
	CU_ASSERT_TRUE(tally_wait(&t, queued));
	CU_ASSERT_EQUAL(t.twice, 0);
	CU_ASSERT_EQUAL(t.bad_result, 0);
	ok = t.ok;
	tally_release(&t);
	wfs_free(p);
	return ok;
}

/* ---- nodes ---- */

struct node {
	struct wfs_raftlog *log;
	struct toy toy;
	uint64_t id;
	char addr[32];
	char dir[512];
};

/* Pick @n free loopback ports (bind to port 0, read, close). */
static void pick_ports(unsigned n, unsigned *ports)
{
	int fds[8];

	CU_ASSERT_FATAL(n <= 8);
	for (unsigned i = 0; i < n; i++) {
		struct sockaddr_in sa = { .sin_family = AF_INET };
		socklen_t sl = sizeof(sa);

		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		CU_ASSERT_FATAL(fds[i] >= 0);
		CU_ASSERT_FATAL(bind(fds[i], (struct sockaddr *)&sa,
				     sizeof(sa)) == 0);
		CU_ASSERT_FATAL(getsockname(fds[i], (struct sockaddr *)&sa,
					    &sl) == 0);
		ports[i] = ntohs(sa.sin_port);
	}
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
}

static void node_setup(struct node *nd, uint64_t id, unsigned port,
		       const char *base)
{
	memset(nd, 0, sizeof(*nd));
	nd->id = id;
	snprintf(nd->addr, sizeof(nd->addr), "127.0.0.1:%u", port);
	snprintf(nd->dir, sizeof(nd->dir), "%s/node%llu", base,
		 (unsigned long long)id);
	toy_init(&nd->toy);
}

/* Make and start @nd's raft node with @voters (NULL, 0: join). */
static int node_start(struct node *nd, const struct wfs_raftlog_server *voters,
		      unsigned nvoters, unsigned threshold, unsigned trailing)
{
	struct wfs_raftlog_config cfg = {
		.id = nd->id, .addr = nd->addr, .dir = nd->dir,
		.voters = voters, .nvoters = nvoters,
		.snapshot_threshold = threshold,
		.snapshot_trailing = trailing,
	};
	int rc;

	rc = wfs_raftlog_new(&cfg, &toy_fsm, &nd->toy, &nd->log);
	if (rc != 0)
		return rc;
	rc = wfs_raftlog_start(nd->log);
	if (rc != 0) {
		wfs_raftlog_free(nd->log);
		nd->log = NULL;
	}
	return rc;
}

/* Stop and free the raft node; the toy stays for inspection. */
static void node_stop(struct node *nd)
{
	wfs_raftlog_free(nd->log);
	nd->log = NULL;
}

/* Wait until one of @n nodes (those with a log) is the leader and every
 * other running one knows it.  Returns its position or -1. */
static int wait_leader(struct node *nodes, unsigned n)
{
	for (unsigned tries = 0; tries < WAIT_S * 50; tries++) {
		int leader = -1;
		unsigned agree = 0, running = 0;

		for (unsigned i = 0; i < n; i++) {
			if (nodes[i].log && wfs_raftlog_is_leader(nodes[i].log))
				leader = (int)i;
		}
		for (unsigned i = 0; leader >= 0 && i < n; i++) {
			uint64_t id;

			if (!nodes[i].log)
				continue;
			running++;
			if (wfs_raftlog_leader(nodes[i].log, &id, NULL, 0) ==
			    0 && id == nodes[leader].id)
				agree++;
		}
		if (leader >= 0 && agree == running)
			return leader;
		usleep(20000);
	}
	return -1;
}

static void one_voter(struct node *nd, const char *base, unsigned threshold,
		      unsigned trailing)
{
	unsigned port;
	struct wfs_raftlog_server self;

	pick_ports(1, &port);
	node_setup(nd, 1, port, base);
	self = (struct wfs_raftlog_server){ 1, nd->addr };
	CU_ASSERT_EQUAL_FATAL(node_start(nd, &self, 1, threshold, trailing),
			      0);
	CU_ASSERT_FATAL(wait_leader(nd, 1) == 0);
}

/* ---- tests ---- */

static void test_config(void)
{
	struct wfs_raftlog_server v[2] = { { 1, "127.0.0.1:1" },
					   { 2, "127.0.0.1:2" } };
	struct wfs_raftlog_config cfg = { .id = 1, .addr = "127.0.0.1:1",
					  .dir = "/nonexistent/x",
					  .voters = v, .nvoters = 2 };
	struct wfs_raftlog_fsm bad = toy_fsm;
	struct wfs_raftlog *log = NULL;
	struct tally t;
	unsigned char e[ENTRY_LEN] = { 0 };
	uint64_t id;

	CU_ASSERT_EQUAL(wfs_raftlog_new(&cfg, &toy_fsm, NULL, &log), 0);
	/* Not started: nothing is queued, nothing is known. */
	tally_init(&t);
	CU_ASSERT_EQUAL(wfs_raftlog_propose(log, e, sizeof(e), tally_done,
					    &t), -ECANCELED);
	CU_ASSERT_EQUAL(wfs_raftlog_barrier(log, tally_done, &t), -ECANCELED);
	CU_ASSERT_EQUAL(wfs_raftlog_propose(log, e, 0, tally_done, &t),
			-EINVAL);
	CU_ASSERT_EQUAL(wfs_raftlog_add_member(log, 0, "127.0.0.1:3",
					       WFS_RAFTLOG_MEMBER_VOTER,
					       tally_done, &t), -EINVAL);
	CU_ASSERT_EQUAL(wfs_raftlog_add_member(log, 3, "127.0.0.1:3", 0,
					       tally_done, &t), -EINVAL);
	CU_ASSERT_EQUAL(wfs_raftlog_add_member(log, 3, "nope",
					       WFS_RAFTLOG_MEMBER_VOTER,
					       tally_done, &t), -EINVAL);
	CU_ASSERT_EQUAL(wfs_raftlog_leader(log, &id, NULL, 0), -ENOENT);
	CU_ASSERT_FALSE(wfs_raftlog_is_leader(log));
	CU_ASSERT_EQUAL(wfs_raftlog_role(log), WFS_RAFTLOG_STOPPED);
	wfs_raftlog_stop(log);
	wfs_raftlog_free(log);
	wfs_raftlog_free(NULL);
	CU_ASSERT_EQUAL(t.done, 0);
	tally_release(&t);

	cfg.id = 0;
	CU_ASSERT_EQUAL(wfs_raftlog_new(&cfg, &toy_fsm, NULL, &log), -EINVAL);
	cfg.id = 3;		/* not among the voters */
	CU_ASSERT_EQUAL(wfs_raftlog_new(&cfg, &toy_fsm, NULL, &log), -EINVAL);
	cfg.id = 2;		/* among them, at another address */
	CU_ASSERT_EQUAL(wfs_raftlog_new(&cfg, &toy_fsm, NULL, &log), -EINVAL);
	cfg.id = 1;
	v[1].id = 1;		/* duplicate id */
	CU_ASSERT_EQUAL(wfs_raftlog_new(&cfg, &toy_fsm, NULL, &log), -EINVAL);
	v[1].id = 2;
	cfg.dir = "";
	CU_ASSERT_EQUAL(wfs_raftlog_new(&cfg, &toy_fsm, NULL, &log), -EINVAL);
	cfg.dir = "/x";
	cfg.addr = "127.0.0.1";
	CU_ASSERT_EQUAL(wfs_raftlog_new(&cfg, &toy_fsm, NULL, &log), -EINVAL);
	cfg.addr = "127.0.0.1:1";
	bad.apply = NULL;
	CU_ASSERT_EQUAL(wfs_raftlog_new(&cfg, &bad, NULL, &log), -EINVAL);
	cfg.nvoters = 0;	/* joining needs no voter list */
	CU_ASSERT_EQUAL(wfs_raftlog_new(&cfg, &toy_fsm, NULL, &log), 0);
	wfs_raftlog_free(log);
}

static void test_new_nomem(void)
{
	struct wfs_raftlog_server v = { 1, "127.0.0.1:1" };
	struct wfs_raftlog_config cfg = { .id = 1, .addr = "127.0.0.1:1",
					  .dir = "/x", .voters = &v,
					  .nvoters = 1 };
	struct wfs_raftlog *log = NULL;
	int rc = -ENOMEM;

	for (long n = 0; n < 64 && rc != 0; n++) {
		wfs_mem_fail_after(n);
		rc = wfs_raftlog_new(&cfg, &toy_fsm, NULL, &log);
		wfs_mem_fail_after(-1);
		CU_ASSERT(rc == 0 || rc == -ENOMEM);
	}
	CU_ASSERT_EQUAL(rc, 0);
	wfs_raftlog_free(log);
}

static void test_start_errors(void)
{
	char base[256], file[300];
	struct node a, b;
	struct wfs_raftlog_server v;
	unsigned port;
	FILE *f;

	CU_ASSERT_FATAL(wfs_test_mkdtemp(base, sizeof(base)) == 0);
	pick_ports(1, &port);

	/* The raft dir is a regular file. */
	node_setup(&a, 1, port, base);
	snprintf(file, sizeof(file), "%s/file", base);
	f = fopen(file, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fclose(f);
	snprintf(a.dir, sizeof(a.dir), "%s", file);
	v = (struct wfs_raftlog_server){ 1, a.addr };
	CU_ASSERT_EQUAL(node_start(&a, &v, 1, 0, 0), -EINVAL);
	toy_release(&a.toy);

	/* Two nodes on one address: the second cannot listen. */
	node_setup(&a, 1, port, base);
	node_setup(&b, 1, port, base);
	snprintf(b.dir, sizeof(b.dir), "%s/other", base);
	CU_ASSERT_EQUAL_FATAL(node_start(&a, &v, 1, 0, 0), 0);
	CU_ASSERT_EQUAL(node_start(&b, &v, 1, 0, 0), -EIO);
	CU_ASSERT_EQUAL(wfs_raftlog_start(a.log), -EALREADY);
	node_stop(&a);
	toy_release(&a.toy);
	toy_release(&b.toy);
}

struct pusher {
	struct wfs_raftlog *log;
	struct prop *props;
	unsigned n;
	unsigned failed;
};

static void *push_thread(void *arg)
{
	struct pusher *p = arg;

	for (unsigned i = 0; i < p->n; i++)
		if (propose(p->log, &p->props[i]) != 0)
			p->failed++;
	return NULL;
}

/* Every value of @props appears once in @t, and each pusher's values in
 * the order it proposed them. */
static void check_applied(struct toy *t, struct prop *props, unsigned n,
			  unsigned per_thread)
{
	unsigned char *seen = wfs_calloc(n, 1);
	uint64_t *next = wfs_calloc(n / per_thread + 1, sizeof(uint64_t));
	unsigned dups = 0, out_of_order = 0, missing = 0, index_mismatch = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(seen);
	CU_ASSERT_PTR_NOT_NULL_FATAL(next);
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->n; i++) {
		uint64_t v = t->val[i];

		if (v >= n) {
			dups++;
			continue;
		}
		if (seen[v]++)
			dups++;
		if (v % per_thread != next[v / per_thread]++)
			out_of_order++;
		if (props[v].index != t->idx[i])
			index_mismatch++;
	}
	pthread_mutex_unlock(&t->lock);
	for (unsigned v = 0; v < n; v++)
		if (!seen[v])
			missing++;
	CU_ASSERT_EQUAL(dups, 0);
	CU_ASSERT_EQUAL(out_of_order, 0);
	CU_ASSERT_EQUAL(missing, 0);
	CU_ASSERT_EQUAL(index_mismatch, 0);
	wfs_free(seen);
	wfs_free(next);
}

static void test_one_voter_pipelined(void)
{
	enum { PER = 5000, N = 2 * PER };
	char base[256];
	struct node nd;
	struct toy fresh;
	struct tally t;
	struct prop *props = wfs_calloc(N, sizeof(*props));
	struct pusher push[2];
	pthread_t th[2];
	uint64_t last;

	CU_ASSERT_PTR_NOT_NULL_FATAL(props);
	CU_ASSERT_FATAL(wfs_test_mkdtemp(base, sizeof(base)) == 0);
	one_voter(&nd, base, 0, 0);
	tally_init(&t);
	t.toy = &nd.toy;
	for (unsigned i = 0; i < N; i++)
		props[i] = (struct prop){ .t = &t, .value = i };
	for (unsigned k = 0; k < 2; k++) {
		push[k] = (struct pusher){ nd.log, props + k * PER, PER, 0 };
		CU_ASSERT_FATAL(pthread_create(&th[k], NULL, push_thread,
					       &push[k]) == 0);
	}
	for (unsigned k = 0; k < 2; k++) {
		pthread_join(th[k], NULL);
		CU_ASSERT_EQUAL(push[k].failed, 0);
	}
	CU_ASSERT_TRUE(tally_wait(&t, N));
	CU_ASSERT_EQUAL(t.ok, N);
	CU_ASSERT_EQUAL(t.twice, 0);
	CU_ASSERT_EQUAL(t.bad_result, 0);
	CU_ASSERT_EQUAL(t.unapplied, 0);
	CU_ASSERT_EQUAL(toy_count(&nd.toy), N);
	check_applied(&nd.toy, props, N, PER);
	CU_ASSERT_EQUAL(nd.toy.order_errors, 0);
	CU_ASSERT_EQUAL(nd.toy.bad_entries, 0);
	CU_ASSERT_EQUAL(nd.toy.batch_errors, 0);
	CU_ASSERT_EQUAL(nd.toy.applies_outside_batch, 0);
	CU_ASSERT(nd.toy.batches >= 1 && nd.toy.batches < N);
	CU_ASSERT(nd.toy.state_calls >= 1);
	CU_ASSERT_EQUAL(nd.toy.role, WFS_RAFTLOG_LEADER);
	node_stop(&nd);
	CU_ASSERT_EQUAL(t.done, N);	/* nothing ran after stop */
	CU_ASSERT_FALSE(nd.toy.in_batch);

	/* Restart from the same files into an empty state machine: the log
	 * replays, then new entries follow. */
	fresh = nd.toy;
	toy_init(&nd.toy);
	CU_ASSERT_EQUAL_FATAL(node_start(&nd, &(struct wfs_raftlog_server){
					 1, nd.addr }, 1, 0, 0), 0);
	CU_ASSERT(wfs_raftlog_start_index(nd.log) >= fresh.last_index);
	CU_ASSERT_TRUE(toy_wait(&nd.toy, N));
	CU_ASSERT_TRUE(toy_same(&nd.toy, &fresh));
	CU_ASSERT_EQUAL(nd.toy.restores, 0);
	last = nd.toy.last_index;
	CU_ASSERT_FATAL(wait_leader(&nd, 1) == 0);
	CU_ASSERT_EQUAL(propose_all(nd.log, N, 100), 100);
	CU_ASSERT_EQUAL(toy_count(&nd.toy), N + 100);
	CU_ASSERT(nd.toy.idx[N] > last);
	CU_ASSERT_EQUAL(nd.toy.order_errors, 0);
	node_stop(&nd);
	toy_release(&nd.toy);
	toy_release(&fresh);
	tally_release(&t);
	wfs_free(props);
}

static void test_snapshots(void)
{
	enum { N = 3000 };
	char base[256];
	struct node nd;
	struct toy old;

	CU_ASSERT_FATAL(wfs_test_mkdtemp(base, sizeof(base)) == 0);
	one_voter(&nd, base, 64, 16);
	CU_ASSERT_EQUAL(propose_all(nd.log, 0, N), N);
	CU_ASSERT(nd.toy.snapshots >= 1);
	CU_ASSERT_EQUAL(nd.toy.batch_errors, 0);
	node_stop(&nd);

	/* The restart restores the last snapshot and replays what follows. */
	old = nd.toy;
	toy_init(&nd.toy);
	CU_ASSERT_EQUAL_FATAL(node_start(&nd, &(struct wfs_raftlog_server){
					 1, nd.addr }, 1, 64, 16), 0);
	CU_ASSERT_TRUE(toy_wait(&nd.toy, N));
	CU_ASSERT_EQUAL(nd.toy.restores, 1);
	CU_ASSERT_TRUE(toy_same(&nd.toy, &old));
	CU_ASSERT_FATAL(wait_leader(&nd, 1) == 0);
	CU_ASSERT_EQUAL(propose_all(nd.log, N, 200), 200);
	CU_ASSERT_EQUAL(toy_count(&nd.toy), N + 200);
	CU_ASSERT_EQUAL(nd.toy.order_errors, 0);
	CU_ASSERT_EQUAL(nd.toy.bad_entries, 0);
	node_stop(&nd);
	toy_release(&nd.toy);
	toy_release(&old);
}

struct barrier_check {
	struct tally t;
	struct toy *toy;
	size_t seen;		/* entries applied when the barrier completed */
};

static void barrier_done(void *arg, int rc, void *result)
{
	struct barrier_check *b = arg;

	b->seen = toy_count(b->toy);
	tally_done(&b->t, rc, result);
}

static void test_barrier(void)
{
	enum { N = 300 };
	char base[256];
	struct node nd;
	struct prop props[N];
	struct tally t;
	struct barrier_check b;

	CU_ASSERT_FATAL(wfs_test_mkdtemp(base, sizeof(base)) == 0);
	one_voter(&nd, base, 0, 0);
	tally_init(&t);
	tally_init(&b.t);
	b.toy = &nd.toy;
	for (unsigned i = 0; i < N; i++) {
		props[i] = (struct prop){ .t = &t, .value = i };
		CU_ASSERT_EQUAL(propose(nd.log, &props[i]), 0);
	}
	CU_ASSERT_EQUAL(wfs_raftlog_barrier(nd.log, barrier_done, &b), 0);
	CU_ASSERT_TRUE(tally_wait(&b.t, 1));
	CU_ASSERT_EQUAL(b.t.ok, 1);
	CU_ASSERT_EQUAL(b.seen, N);
	CU_ASSERT_TRUE(tally_wait(&t, N));
	CU_ASSERT_EQUAL(t.ok, N);
	node_stop(&nd);
	tally_release(&t);
	tally_release(&b.t);
	toy_release(&nd.toy);
}

struct chain {
	struct wfs_raftlog *log;
	struct tally t;
	struct prop props[200];
	unsigned next;
	unsigned refused;
};

/* Done callback that proposes the next entry, from the raft thread. */
static void chain_done(void *arg, int rc, void *result)
{
	struct prop *p = arg;
	struct chain *c = (struct chain *)((char *)p->t -
					   offsetof(struct chain, t));

	prop_done(arg, rc, result);
	if (c->next == 200)
		return;
	c->props[c->next] = (struct prop){ .t = &c->t, .value = c->next };
	c->next++;
	if (propose_cb(c->log, &c->props[c->next - 1], chain_done) != 0)
		c->refused++;
}

static void test_propose_from_callback(void)
{
	char base[256];
	struct node nd;
	struct chain *c = wfs_calloc(1, sizeof(*c));

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_FATAL(wfs_test_mkdtemp(base, sizeof(base)) == 0);
	one_voter(&nd, base, 0, 0);
	tally_init(&c->t);
	c->t.toy = &nd.toy;
	c->log = nd.log;
	c->props[0] = (struct prop){ .t = &c->t, .value = 0 };
	c->next = 1;
	CU_ASSERT_EQUAL(propose_cb(c->log, &c->props[0], chain_done), 0);
	CU_ASSERT_TRUE(tally_wait(&c->t, 200));
	CU_ASSERT_EQUAL(c->t.ok, 200);
	CU_ASSERT_EQUAL(c->t.unapplied, 0);
	CU_ASSERT_EQUAL(c->refused, 0);
	node_stop(&nd);
	CU_ASSERT_EQUAL(toy_count(&nd.toy), 200);
	for (unsigned i = 0; i < 200; i++)
		CU_ASSERT_EQUAL(nd.toy.val[i], i);
	tally_release(&c->t);
	toy_release(&nd.toy);
	wfs_free(c);
}

static void test_fsm_failure(void)
{
	enum { N = 10, FAIL_AT = 5 };
	char base[256];
	struct node nd;
	struct prop props[N], late;
	struct tally t;

	CU_ASSERT_FATAL(wfs_test_mkdtemp(base, sizeof(base)) == 0);
	one_voter(&nd, base, 0, 0);
	nd.toy.fail_at = FAIL_AT;
	tally_init(&t);
	for (unsigned i = 0; i < N; i++) {
		props[i] = (struct prop){ .t = &t, .value = i };
		CU_ASSERT_EQUAL(propose(nd.log, &props[i]), 0);
	}
	CU_ASSERT_TRUE(tally_wait(&t, N));
	CU_ASSERT_EQUAL(t.ok, FAIL_AT - 1);
	CU_ASSERT_EQUAL(t.io, N - (FAIL_AT - 1));
	for (unsigned i = 0; i < N; i++)
		CU_ASSERT_EQUAL(props[i].rc, i < FAIL_AT - 1 ? 0 : -EIO);
	CU_ASSERT_EQUAL(toy_count(&nd.toy), FAIL_AT - 1);

	/* The node has left the group: it says so and refuses new work. */
	for (unsigned i = 0; i < 500; i++) {
		if (wfs_raftlog_role(nd.log) == WFS_RAFTLOG_FAILED)
			break;
		usleep(10000);
	}
	CU_ASSERT_EQUAL(wfs_raftlog_role(nd.log), WFS_RAFTLOG_FAILED);
	CU_ASSERT_FALSE(wfs_raftlog_is_leader(nd.log));
	late = (struct prop){ .t = &t, .value = N };
	CU_ASSERT_EQUAL(propose(nd.log, &late), 0);
	CU_ASSERT_TRUE(tally_wait(&t, N + 1));
	CU_ASSERT_EQUAL(late.rc, -EIO);
	node_stop(&nd);
	CU_ASSERT_EQUAL(t.twice, 0);
	CU_ASSERT_FALSE(nd.toy.in_batch);
	tally_release(&t);
	toy_release(&nd.toy);
}

static void test_stop_in_flight(void)
{
	enum { N = 3000 };
	char base[256];
	struct node nd;
	struct prop *props = wfs_calloc(N, sizeof(*props));
	struct tally t;
	unsigned ok, missing = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(props);
	CU_ASSERT_FATAL(wfs_test_mkdtemp(base, sizeof(base)) == 0);
	one_voter(&nd, base, 0, 0);
	tally_init(&t);
	for (unsigned i = 0; i < N; i++) {
		props[i] = (struct prop){ .t = &t, .value = i };
		CU_ASSERT_EQUAL(propose(nd.log, &props[i]), 0);
	}
	node_stop(&nd);
	/* Every callback ran exactly once, before stop returned. */
	CU_ASSERT_EQUAL(t.done, N);
	CU_ASSERT_EQUAL(t.ok + t.canceled, N);
	CU_ASSERT_EQUAL(t.twice, 0);
	CU_ASSERT_EQUAL(toy_count(&nd.toy), t.ok);
	ok = t.ok;

	/* Whatever was confirmed is in the log after a restart. */
	toy_release(&nd.toy);
	toy_init(&nd.toy);
	CU_ASSERT_EQUAL_FATAL(node_start(&nd, &(struct wfs_raftlog_server){
					 1, nd.addr }, 1, 0, 0), 0);
	CU_ASSERT_TRUE(toy_wait(&nd.toy, ok));
	node_stop(&nd);
	pthread_mutex_lock(&nd.toy.lock);
	for (unsigned i = 0; i < N; i++) {
		bool found = false;

		if (props[i].rc != 0)
			continue;
		for (size_t j = 0; j < nd.toy.n && !found; j++)
			found = nd.toy.idx[j] == props[i].index &&
				nd.toy.val[j] == props[i].value;
		missing += !found;
	}
	pthread_mutex_unlock(&nd.toy.lock);
	CU_ASSERT_EQUAL(missing, 0);
	CU_ASSERT_EQUAL(nd.toy.order_errors, 0);
	tally_release(&t);
	toy_release(&nd.toy);
	wfs_free(props);
}

static void test_three_voters(void)
{
	enum { N1 = 500, N2 = 200 };
	char base[256], addr[WFS_RAFTLOG_ADDR_MAX];
	struct node nodes[3];
	struct wfs_raftlog_server v[3];
	unsigned ports[3];
	struct prop p;
	struct tally t;
	uint64_t id, term;
	int l, f, l2;

	CU_ASSERT_FATAL(wfs_test_mkdtemp(base, sizeof(base)) == 0);
	pick_ports(3, ports);
	for (unsigned i = 0; i < 3; i++) {
		node_setup(&nodes[i], i + 1, ports[i], base);
		v[i] = (struct wfs_raftlog_server){ i + 1, nodes[i].addr };
	}
	for (unsigned i = 0; i < 3; i++)
		CU_ASSERT_EQUAL_FATAL(node_start(&nodes[i], v, 3, 0, 0), 0);
	l = wait_leader(nodes, 3);
	CU_ASSERT(l < 0 || wfs_raftlog_term(nodes[l].log) >= 1);
	CU_ASSERT_FATAL(l >= 0);

	/* A follower refuses, naming the leader. */
	f = (l + 1) % 3;
	tally_init(&t);
	p = (struct prop){ .t = &t, .value = 1000000 };
	CU_ASSERT_EQUAL(propose(nodes[f].log, &p), 0);
	CU_ASSERT_TRUE(tally_wait(&t, 1));
	CU_ASSERT_EQUAL(p.rc, -EREMOTE);
	CU_ASSERT_EQUAL(wfs_raftlog_leader(nodes[f].log, &id, addr,
					   sizeof(addr)), 0);
	CU_ASSERT_EQUAL(id, nodes[l].id);
	CU_ASSERT_STRING_EQUAL(addr, nodes[l].addr);
	CU_ASSERT_EQUAL(wfs_raftlog_leader(nodes[f].log, &id, addr, 4),
			-ERANGE);
	CU_ASSERT_EQUAL(wfs_raftlog_barrier(nodes[f].log, tally_done, &t), 0);
	CU_ASSERT_TRUE(tally_wait(&t, 2));
	CU_ASSERT_EQUAL(t.remote, 2);
	tally_release(&t);

	/* The leader's entries reach every voter, in the same order. */
	CU_ASSERT_EQUAL(propose_all(nodes[l].log, 0, N1), N1);
	for (unsigned i = 0; i < 3; i++) {
		CU_ASSERT_TRUE(toy_wait(&nodes[i].toy, N1));
		CU_ASSERT_EQUAL(nodes[i].toy.order_errors, 0);
	}
	CU_ASSERT_TRUE(toy_same(&nodes[0].toy, &nodes[1].toy));
	CU_ASSERT_TRUE(toy_same(&nodes[0].toy, &nodes[2].toy));

	/* The leader dies: the other two elect one of them and go on. */
	term = wfs_raftlog_term(nodes[l].log);
	node_stop(&nodes[l]);
	l2 = wait_leader(nodes, 3);
	/* A new election is a new term. */
	CU_ASSERT(l2 < 0 || wfs_raftlog_term(nodes[l2].log) > term);
	CU_ASSERT_FATAL(l2 >= 0 && l2 != l);
	CU_ASSERT_EQUAL(propose_all(nodes[l2].log, N1, N2), N2);
	for (unsigned i = 0; i < 3; i++) {
		if (!nodes[i].log)
			continue;
		CU_ASSERT_TRUE(toy_wait(&nodes[i].toy, N1 + N2));
		CU_ASSERT_EQUAL(nodes[i].toy.order_errors, 0);
		CU_ASSERT_EQUAL(nodes[i].toy.bad_entries, 0);
	}
	CU_ASSERT_TRUE(toy_same(&nodes[(l + 1) % 3].toy,
				&nodes[(l + 2) % 3].toy));

	/* Alone, the leader cannot commit: it steps down once it has heard
	 * from no majority for an election timeout, and the entry it holds
	 * fails as "outcome unknown". */
	node_stop(&nodes[3 - l - l2]);
	tally_init(&t);
	p = (struct prop){ .t = &t, .value = 2000000 };
	CU_ASSERT_EQUAL(propose(nodes[l2].log, &p), 0);
	CU_ASSERT_TRUE(tally_wait(&t, 1));
	CU_ASSERT_EQUAL(p.rc, -ECONNABORTED);
	CU_ASSERT_FALSE(wfs_raftlog_is_leader(nodes[l2].log));
	tally_release(&t);
	for (unsigned i = 0; i < 3; i++) {
		node_stop(&nodes[i]);
		toy_release(&nodes[i].toy);
	}
}

/* Whether @t's batch is closed, waiting up to WAIT_S for it. */
static bool toy_settles(struct toy *t)
{
	for (unsigned i = 0; i < WAIT_S * 100; i++) {
		bool open;

		pthread_mutex_lock(&t->lock);
		open = t->in_batch;
		pthread_mutex_unlock(&t->lock);
		if (!open)
			return true;
		usleep(10000);
	}
	return false;
}

/* Followers apply late (after their reply to the leader went out) and keep
 * a batch open across entries (raftlog.c: fsm_apply, hold_batch).  Their
 * state machines must still see every entry once, in order, inside a
 * batch; a snapshot must come at exactly the last entry applied, outside
 * a batch; and a held batch must end by itself once entries stop. */
static void test_follower_batches(void)
{
	enum { SEQ = 150, PIPE = 450 };
	char base[256];
	struct node nodes[3];
	struct wfs_raftlog_server v[3];
	unsigned ports[3];
	int l;

	CU_ASSERT_FATAL(wfs_test_mkdtemp(base, sizeof(base)) == 0);
	pick_ports(3, ports);
	for (unsigned i = 0; i < 3; i++) {
		node_setup(&nodes[i], i + 1, ports[i], base);
		v[i] = (struct wfs_raftlog_server){ i + 1, nodes[i].addr };
	}
	for (unsigned i = 0; i < 3; i++)
		CU_ASSERT_EQUAL_FATAL(node_start(&nodes[i], v, 3, 64, 16), 0);
	l = wait_leader(nodes, 3);
	CU_ASSERT_FATAL(l >= 0);

	/* One at a time: each reaches the followers in a turn of its own. */
	for (unsigned i = 0; i < SEQ; i++)
		CU_ASSERT_EQUAL(propose_all(nodes[l].log, i, 1), 1);
	/* Then many at once, across several snapshots. */
	CU_ASSERT_EQUAL(propose_all(nodes[l].log, SEQ, PIPE), PIPE);
	for (unsigned i = 0; i < 3; i++) {
		struct toy *t = &nodes[i].toy;

		CU_ASSERT_TRUE(toy_wait(t, SEQ + PIPE));
		CU_ASSERT_TRUE(toy_settles(t));
		pthread_mutex_lock(&t->lock);
		CU_ASSERT_EQUAL(t->order_errors, 0);
		CU_ASSERT_EQUAL(t->bad_entries, 0);
		CU_ASSERT_EQUAL(t->batch_errors, 0);
		CU_ASSERT_EQUAL(t->applies_outside_batch, 0);
		CU_ASSERT(t->snapshots >= 1);
		CU_ASSERT(t->batches >= 1 && t->batches <= SEQ + PIPE);
		pthread_mutex_unlock(&t->lock);
	}
	CU_ASSERT_TRUE(toy_same(&nodes[0].toy, &nodes[1].toy));
	CU_ASSERT_TRUE(toy_same(&nodes[0].toy, &nodes[2].toy));
	for (unsigned i = 0; i < 3; i++) {
		node_stop(&nodes[i]);
		toy_release(&nodes[i].toy);
	}
}

/* A leader runs each proposal's callback once its entry is applied and
 * before the batch commits (raftlog.c: flush): a reply never waits for the
 * store's commit.  One proposal at a time, so every one is a turn of its
 * own, and the batch is held across them (hold_batch) and ends by itself
 * once they stop. */
static void test_leader_replies_before_commit(void)
{
	enum { N = 60 };
	char base[256];
	struct node nd;
	struct tally t;
	struct prop props[N];

	CU_ASSERT_FATAL(wfs_test_mkdtemp(base, sizeof(base)) == 0);
	one_voter(&nd, base, 0, 0);
	tally_init(&t);
	t.toy = &nd.toy;
	for (unsigned i = 0; i < N; i++) {
		props[i] = (struct prop){ .t = &t, .value = i };
		CU_ASSERT_EQUAL_FATAL(propose(nd.log, &props[i]), 0);
		CU_ASSERT_TRUE_FATAL(tally_wait(&t, i + 1));
	}
	CU_ASSERT_EQUAL(t.ok, N);
	CU_ASSERT_EQUAL(t.unapplied, 0);
	CU_ASSERT_EQUAL(t.in_batch, N);
	CU_ASSERT_TRUE(toy_settles(&nd.toy));
	pthread_mutex_lock(&nd.toy.lock);
	CU_ASSERT_EQUAL(nd.toy.n, N);
	CU_ASSERT_EQUAL(nd.toy.batch_errors, 0);
	CU_ASSERT_EQUAL(nd.toy.applies_outside_batch, 0);
	/* 20 ms of entries share a batch; a log write takes well under 1 ms
	 * even on a busy machine, so 60 of them need far fewer than 30. */
	CU_ASSERT(nd.toy.batches >= 1 && nd.toy.batches <= N / 2);
	pthread_mutex_unlock(&nd.toy.lock);
	node_stop(&nd);
	tally_release(&t);
	toy_release(&nd.toy);
}

/* ---- kill -9 ---- */

/* The one proposal in flight in the child of test_crash_replay. */
struct crash_ack {
	int fd;			/* acknowledged values go down this pipe */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int rc;
};

static void crash_done(void *arg, int rc, void *result)
{
	struct crash_ack *a = arg;
	const struct toy_result *res = result;

	if (rc == 0 && (!res || write(a->fd, &res->value, 8) != 8))
		rc = -EIO;
	pthread_mutex_lock(&a->lock);
	a->rc = rc;
	a->done = true;
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->lock);
}

/* The child: one voter on @nd, proposing values 0, 1, ... one at a time
 * (so a leader's batch is held across many of them) and sending each one
 * acknowledged to the parent, until killed.  Exits nonzero if it cannot
 * go on (the parent then sees too few values). */
static void crash_child(struct node *nd, int fd)
{
	struct wfs_raftlog_server self = { 1, nd->addr };
	struct crash_ack a = { .fd = fd };
	unsigned char e[ENTRY_LEN];
	struct timespec dl;

	pthread_mutex_init(&a.lock, NULL);
	pthread_cond_init(&a.cond, NULL);
	if (node_start(nd, &self, 1, 0, 0) != 0 || wait_leader(nd, 1) != 0)
		_exit(2);
	for (uint64_t v = 0; v < 1000000; v++) {
		a.done = false;
		make_entry(e, v);
		if (wfs_raftlog_propose(nd->log, e, sizeof(e), crash_done, &a))
			_exit(3);
		deadline_in(&dl, WAIT_S);
		pthread_mutex_lock(&a.lock);
		while (!a.done &&
		       pthread_cond_timedwait(&a.cond, &a.lock, &dl) == 0)
			;
		pthread_mutex_unlock(&a.lock);
		if (!a.done || a.rc)
			_exit(4);
	}
	_exit(0);
}

/* A node killed with -9 in the middle of its proposals (its batch held
 * open, callbacks already run for entries the state machine had not
 * committed) loses none it acknowledged: restarted on the same files, the
 * log replays every one of them. */
static void test_crash_replay(void)
{
	uint64_t rng = wfs_test_seed() | 1;
	unsigned want = 50 + (unsigned)(wfs_test_rand(&rng) % 300);
	struct wfs_raftlog_server self;
	uint64_t *acked = wfs_calloc(1000000, sizeof(*acked));
	size_t nacked = 0;
	char base[256];
	struct node nd;
	unsigned port;
	int pfd[2], status;
	pid_t pid;

	CU_ASSERT_PTR_NOT_NULL_FATAL(acked);
	CU_ASSERT_FATAL(wfs_test_mkdtemp(base, sizeof(base)) == 0);
	pick_ports(1, &port);
	node_setup(&nd, 1, port, base);
	CU_ASSERT_FATAL(pipe(pfd) == 0);
	fflush(NULL);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		crash_child(&nd, pfd[1]);
	}
	close(pfd[1]);
	/* Read acknowledgements until there are enough, then kill; what
	 * the child acknowledged before it died is still in the pipe. */
	for (int waited = 0; waited < WAIT_S * 10;) {
		struct pollfd pf = { .fd = pfd[0], .events = POLLIN };
		ssize_t got;

		if (nacked >= want && pid > 0) {
			kill(pid, SIGKILL);
			CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
			CU_ASSERT_TRUE(WIFSIGNALED(status));
			pid = 0;
		}
		if (poll(&pf, 1, 100) == 0) {
			waited++;
			continue;
		}
		got = read(pfd[0], &acked[nacked], 8);
		if (got != 8)
			break;		/* EOF: the child is gone */
		nacked++;
	}
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	close(pfd[0]);
	CU_ASSERT_FATAL(nacked >= want);
	for (size_t i = 0; i < nacked; i++)
		CU_ASSERT_EQUAL_FATAL(acked[i], i);

	self = (struct wfs_raftlog_server){ 1, nd.addr };
	CU_ASSERT_EQUAL_FATAL(node_start(&nd, &self, 1, 0, 0), 0);
	CU_ASSERT_TRUE(toy_wait(&nd.toy, nacked));
	pthread_mutex_lock(&nd.toy.lock);
	CU_ASSERT(nd.toy.n >= nacked);
	for (size_t i = 0; i < nacked && i < nd.toy.n; i++)
		if (nd.toy.val[i] != i) {
			CU_FAIL("an acknowledged entry was not replayed");
			break;
		}
	CU_ASSERT_EQUAL(nd.toy.order_errors, 0);
	CU_ASSERT_EQUAL(nd.toy.bad_entries, 0);
	pthread_mutex_unlock(&nd.toy.lock);
	node_stop(&nd);
	toy_release(&nd.toy);
	wfs_free(acked);
}

/* wfs_raftlog_propose_many: every entry applied once, in order, each
 * callback with its own result; a bad list calls no callback at all. */
static void test_propose_many(void)
{
	enum { N = 200 };
	char base[256];
	struct node nd;
	struct tally t;
	struct prop props[N];
	unsigned char (*e)[ENTRY_LEN] = wfs_calloc(N, ENTRY_LEN);
	struct wfs_raftlog_prop rp[N];

	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_FATAL(wfs_test_mkdtemp(base, sizeof(base)) == 0);
	one_voter(&nd, base, 0, 0);
	tally_init(&t);
	t.toy = &nd.toy;
	for (unsigned i = 0; i < N; i++) {
		props[i] = (struct prop){ .t = &t, .value = i };
		make_entry(e[i], i);
		rp[i] = (struct wfs_raftlog_prop){ e[i], ENTRY_LEN, prop_done,
						   &props[i] };
	}
	/* Refused whole: nothing, too many, one entry bad. */
	CU_ASSERT_EQUAL(wfs_raftlog_propose_many(nd.log, rp, 0), -EINVAL);
	CU_ASSERT_EQUAL(wfs_raftlog_propose_many(nd.log, NULL, 1), -EINVAL);
	CU_ASSERT_EQUAL(wfs_raftlog_propose_many(
		nd.log, rp, WFS_RAFTLOG_PROPOSE_MANY + 1), -EINVAL);
	rp[7].len = 0;
	CU_ASSERT_EQUAL(wfs_raftlog_propose_many(nd.log, rp, N), -EINVAL);
	rp[7].len = ENTRY_LEN;
	rp[9].cb = NULL;
	CU_ASSERT_EQUAL(wfs_raftlog_propose_many(nd.log, rp, N), -EINVAL);
	rp[9].cb = prop_done;
	usleep(50000);
	CU_ASSERT_EQUAL(t.done, 0);
	/* Two lists, in order. */
	CU_ASSERT_EQUAL(wfs_raftlog_propose_many(nd.log, rp, N / 2), 0);
	CU_ASSERT_EQUAL(wfs_raftlog_propose_many(nd.log, rp + N / 2, N / 2),
			0);
	CU_ASSERT_TRUE(tally_wait(&t, N));
	CU_ASSERT_EQUAL(t.ok, N);
	CU_ASSERT_EQUAL(t.twice, 0);
	CU_ASSERT_EQUAL(t.bad_result, 0);
	CU_ASSERT_EQUAL(t.unapplied, 0);
	check_applied(&nd.toy, props, N, N);
	/* A stopped node takes none. */
	wfs_raftlog_stop(nd.log);
	CU_ASSERT_EQUAL(wfs_raftlog_propose_many(nd.log, rp, 3), -ECANCELED);
	node_stop(&nd);
	CU_ASSERT_EQUAL(t.done, N);
	tally_release(&t);
	toy_release(&nd.toy);
	wfs_free(e);
}

/* Whether @log sees nodes 1 (a voter) and 2 (in @role), waiting up to 5 s
 * for its raft thread to publish the change. */
static bool members_are(struct wfs_raftlog *log,
			enum wfs_raftlog_member_role role)
{
	for (int i = 0; i < 500; i++) {
		struct wfs_raftlog_member v[4];
		unsigned n = wfs_raftlog_members(log, v, 4);

		if (n == 2 && v[0].id == 1 &&
		    v[0].role == WFS_RAFTLOG_MEMBER_VOTER && v[1].id == 2 &&
		    v[1].role == role && strchr(v[1].addr, ':'))
			return true;
		usleep(10000);
	}
	return false;
}

static void test_membership(void)
{
	char base[256];
	struct node nodes[2];
	struct wfs_raftlog_server self;
	unsigned ports[2];
	struct tally t;

	CU_ASSERT_FATAL(wfs_test_mkdtemp(base, sizeof(base)) == 0);
	pick_ports(2, ports);
	node_setup(&nodes[0], 1, ports[0], base);
	node_setup(&nodes[1], 2, ports[1], base);
	self = (struct wfs_raftlog_server){ 1, nodes[0].addr };
	CU_ASSERT_EQUAL_FATAL(node_start(&nodes[0], &self, 1, 0, 0), 0);
	CU_ASSERT_FATAL(wait_leader(nodes, 1) == 0);
	CU_ASSERT_EQUAL(propose_all(nodes[0].log, 0, 50), 50);

	/* A new node joins empty as a standby: it gets the history without
	 * a vote, then is promoted. */
	CU_ASSERT_EQUAL_FATAL(node_start(&nodes[1], NULL, 0, 0, 0), 0);
	tally_init(&t);
	CU_ASSERT_EQUAL(wfs_raftlog_add_member(nodes[0].log, 2, nodes[1].addr,
					       WFS_RAFTLOG_MEMBER_STANDBY,
					       tally_done, &t), 0);
	CU_ASSERT_TRUE(tally_wait(&t, 1));
	CU_ASSERT_EQUAL(t.ok, 1);
	CU_ASSERT_EQUAL(propose_all(nodes[0].log, 50, 50), 50);
	CU_ASSERT_TRUE(toy_wait(&nodes[1].toy, 100));
	CU_ASSERT_TRUE(toy_same(&nodes[0].toy, &nodes[1].toy));
	CU_ASSERT_TRUE(members_are(nodes[0].log, WFS_RAFTLOG_MEMBER_STANDBY));
	CU_ASSERT_EQUAL(wfs_raftlog_add_member(nodes[0].log, 2, nodes[1].addr,
					       WFS_RAFTLOG_MEMBER_VOTER,
					       tally_done, &t), 0);
	CU_ASSERT_TRUE(tally_wait(&t, 2));
	CU_ASSERT_EQUAL(t.ok, 2);
	CU_ASSERT_TRUE(members_are(nodes[0].log, WFS_RAFTLOG_MEMBER_VOTER));
	CU_ASSERT_TRUE(members_are(nodes[1].log, WFS_RAFTLOG_MEMBER_VOTER));
	CU_ASSERT_FATAL(wait_leader(nodes, 2) == 0);

	/* Adding it again changes nothing; a follower cannot change members. */
	CU_ASSERT_EQUAL(wfs_raftlog_add_member(nodes[0].log, 2, nodes[1].addr,
					       WFS_RAFTLOG_MEMBER_VOTER,
					       tally_done, &t), 0);
	CU_ASSERT_TRUE(tally_wait(&t, 3));
	CU_ASSERT_EQUAL(t.ok, 3);
	CU_ASSERT_EQUAL(wfs_raftlog_remove_voter(nodes[1].log, 1, tally_done,
						 &t), 0);
	CU_ASSERT_TRUE(tally_wait(&t, 4));
	CU_ASSERT_EQUAL(t.remote, 1);

	/* Removed again, the leader commits alone. */
	CU_ASSERT_EQUAL(wfs_raftlog_remove_voter(nodes[0].log, 2, tally_done,
						 &t), 0);
	CU_ASSERT_TRUE(tally_wait(&t, 5));
	CU_ASSERT_EQUAL(t.ok, 4);
	node_stop(&nodes[1]);
	CU_ASSERT_EQUAL(propose_all(nodes[0].log, 100, 20), 20);
	CU_ASSERT_EQUAL(wfs_raftlog_members(nodes[0].log, NULL, 0), 1);
	CU_ASSERT_EQUAL(wfs_raftlog_remove_voter(nodes[0].log, 9, tally_done,
						 &t), 0);
	CU_ASSERT_TRUE(tally_wait(&t, 6));
	CU_ASSERT_EQUAL(t.ok + t.remote, 5);
	CU_ASSERT_EQUAL(t.other, 1);
	node_stop(&nodes[0]);
	tally_release(&t);
	toy_release(&nodes[0].toy);
	toy_release(&nodes[1].toy);
}

static CU_TestInfo raftlog_tests[] = {
	{ "config checks", test_config },
	{ "new out of memory", test_new_nomem },
	{ "start errors", test_start_errors },
	{ "one voter, 2 threads, restart", test_one_voter_pipelined },
	{ "snapshots and restore", test_snapshots },
	{ "read barrier", test_barrier },
	{ "propose from a callback", test_propose_from_callback },
	{ "state machine failure", test_fsm_failure },
	{ "stop with entries in flight", test_stop_in_flight },
	{ "three voters, leader dies", test_three_voters },
	{ "followers: late applies, held batches", test_follower_batches },
	{ "leader: callbacks before the commit, batches held",
	  test_leader_replies_before_commit },
	{ "propose many: in order, all or nothing", test_propose_many },
	{ "kill -9 while batches are held: nothing acknowledged is lost",
	  test_crash_replay },
	{ "add and remove a voter", test_membership },
	CU_TEST_INFO_NULL,
};

WFS_TEST_SUITE("raftlog", raftlog_tests, NULL, NULL)
