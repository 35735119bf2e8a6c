/* bench_raft: commit speed of gossip/raftlog through real libraft, raft_uv
 * files under $WFS_BENCH_DIR (on disk):
 *
 *   BENCH raft_commit_1voter <entries/s> ops/s
 *	one voter on libraft's own loopback TCP: 200-byte entries proposed
 *	from one thread with up to WINDOW in flight; counted from the first
 *	proposal to the last completion (committed, applied, done callback
 *	run).
 *   BENCH raft_commit_latency_1voter <us> us
 *	mean time from propose to its done callback with one entry in
 *	flight at a time (each pays a full disk sync).
 *   BENCH raft_commit_3voters <entries/s> ops/s
 *   BENCH raft_commit_latency_3voters <us> us
 *	the same for a group of three voters, all in this process, their raft
 *	traffic carried as storaged carries it: each node has its own wfs_net
 *	(net/link.c, encrypted with net/secchan.c) on loopback and its
 *	raftlog uses it through net/raft_transport.c.  The latency is a full
 *	round: propose, the leader's write and AppendEntries to both
 *	followers, their writes and replies, commit, apply, done callback.
 *   BENCH raft_commit_latency_3v3s <us> us
 *	the same with three voters and three standbys (the layout of a
 *	six-node cluster): the leader replicates to five peers.
 *   BENCH raft_commit_latency_3v3s_sqlite <us> us
 *   BENCH raft_cpu_3v3s_sqlite <us> us
 *	the same again with a state machine that stores each entry the way
 *	the metadata store does (one SQLite database per node, WAL,
 *	synchronous=NORMAL, one transaction per batch), and the CPU time the
 *	whole group (every thread of this process) spent per entry.
 *
 * Otherwise the state machine only counts entries, so the figures are the
 * log's and the transport's own cost.  Every node runs on the same machine,
 * so a group's figures include the CPU the other nodes take.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gossip/raftlog.h"
#include "log/log.h"
#include "net/link.h"

#define ENTRY_LEN 200
#define PIPELINED 20000
#define WINDOW 2048
#define SEQUENTIAL 1000
/* A group: fewer entries (each costs a round trip or two), and a warm-up
 * so every node's links are open before the clock starts. */
#define GROUP_PIPELINED 10000
#define GROUP_SEQUENTIAL 1000
#define GROUP_WARMUP 50
#define MAX_NODES 6
#define WAIT_S 60

struct bench {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned long done, failed;
};

/* One node of a group. */
struct node {
	unsigned long applied;	/* its raft thread only */
	sqlite3 *db;		/* the SQLite state machine's, or NULL */
	sqlite3_stmt *insert;
	uint8_t pk[crypto_sign_PUBLICKEYBYTES];
	uint8_t sk[crypto_sign_SECRETKEYBYTES];
	struct wfs_net *net;
	struct wfs_raftlog *log;
	char addr[WFS_NET_ADDR_MAX];
	char dir[4096];
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int fsm_apply(void *arg, uint64_t index, const void *buf, size_t len,
		     void *result)
{
	struct node *n = arg;

	(void)index;
	(void)buf;
	(void)len;
	(void)result;
	n->applied++;		/* raft thread only */
	return 0;
}

static int fsm_snapshot(void *arg, uint64_t index, void **buf, size_t *len)
{
	(void)arg;
	(void)index;
	(void)buf;
	(void)len;
	return -EBUSY;		/* never: the bench stays below the threshold */
}

static int fsm_restore(void *arg, const void *buf, size_t len)
{
	(void)arg;
	(void)buf;
	(void)len;
	return -EINVAL;
}

static const struct wfs_raftlog_fsm bench_fsm = {
	.apply = fsm_apply,
	.snapshot = fsm_snapshot,
	.restore = fsm_restore,
};

/* ---- the SQLite state machine: a row per entry, as a create makes ---- */

static int sql_apply(void *arg, uint64_t index, const void *buf, size_t len,
		     void *result)
{
	struct node *n = arg;
	char name[32];
	int rc;

	(void)result;
	snprintf(name, sizeof(name), "f%llu", (unsigned long long)index);
	sqlite3_bind_int64(n->insert, 1, (sqlite3_int64)index);
	sqlite3_bind_text(n->insert, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(n->insert, 3, buf, (int)len, SQLITE_STATIC);
	rc = sqlite3_step(n->insert);
	sqlite3_reset(n->insert);
	n->applied++;
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static int sql_exec(struct node *n, const char *sql)
{
	return sqlite3_exec(n->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0
									: -EIO;
}

static int sql_begin(void *arg)
{
	return sql_exec(arg, "BEGIN");
}

static int sql_end(void *arg)
{
	return sql_exec(arg, "COMMIT");
}

static const struct wfs_raftlog_fsm sql_fsm = {
	.apply = sql_apply,
	.batch_begin = sql_begin,
	.batch_end = sql_end,
	.snapshot = fsm_snapshot,
	.restore = fsm_restore,
};

/* Open @n's database at @path, set up as metadata/meta.c sets its own. */
static int sql_open(struct node *n, const char *path)
{
	int rc;

	if (sqlite3_open(path, &n->db) != SQLITE_OK)
		return -EIO;
	rc = sql_exec(n, "PRAGMA locking_mode = EXCLUSIVE");
	if (rc == 0)
		rc = sql_exec(n, "PRAGMA journal_mode = WAL");
	if (rc == 0)
		rc = sql_exec(n, "PRAGMA synchronous = NORMAL");
	if (rc == 0)
		rc = sql_exec(n, "CREATE TABLE entries (idx INTEGER PRIMARY "
			      "KEY, name TEXT UNIQUE, data BLOB)");
	if (rc == 0 &&
	    sqlite3_prepare_v2(n->db, "INSERT INTO entries VALUES (?, ?, ?)",
			       -1, &n->insert, NULL) != SQLITE_OK)
		rc = -EIO;
	return rc;
}

static void sql_close(struct node *n)
{
	sqlite3_finalize(n->insert);
	sqlite3_close(n->db);
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

static void done(void *arg, int rc, void *result)
{
	struct bench *b = arg;

	(void)result;
	pthread_mutex_lock(&b->lock);
	b->done++;
	if (rc != 0)
		b->failed++;
	pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

/* Wait until at least @n proposals completed.  Returns 0 or -ETIMEDOUT. */
static int wait_done(struct bench *b, unsigned long n)
{
	struct timespec dl;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += WAIT_S;
	pthread_mutex_lock(&b->lock);
	while (b->done < n && rc == 0)
		rc = pthread_cond_timedwait(&b->cond, &b->lock, &dl);
	rc = b->done >= n ? 0 : -ETIMEDOUT;
	pthread_mutex_unlock(&b->lock);
	return rc;
}

static int propose(struct wfs_raftlog *log, struct bench *b, unsigned i)
{
	unsigned char e[ENTRY_LEN];

	memset(e, (int)(i & 0xff), sizeof(e));
	memcpy(e, &i, sizeof(i));
	return wfs_raftlog_propose(log, e, sizeof(e), done, b);
}

/* @n entries with up to WINDOW in flight; prints "BENCH @name". */
static int run_pipelined(struct wfs_raftlog *log, struct bench *b,
			 unsigned n, const char *name)
{
	unsigned long base = b->done;
	double t0 = now();
	int rc;

	for (unsigned i = 0; i < n; i++) {
		if (i >= WINDOW) {
			rc = wait_done(b, base + i - WINDOW + 1);
			if (rc != 0)
				return rc;
		}
		rc = propose(log, b, i);
		if (rc != 0)
			return rc;
	}
	rc = wait_done(b, base + n);
	if (rc != 0)
		return rc;
	if (name)
		printf("BENCH %s %.0f ops/s\n", name, n / (now() - t0));
	return 0;
}

/* @n entries one at a time; prints "BENCH @name" (NULL: a warm-up). */
static int run_sequential(struct wfs_raftlog *log, struct bench *b,
			  unsigned n, const char *name)
{
	unsigned long base = b->done;
	double t0 = now();
	int rc;

	for (unsigned i = 0; i < n; i++) {
		rc = propose(log, b, i);
		if (rc == 0)
			rc = wait_done(b, base + i + 1);
		if (rc != 0)
			return rc;
	}
	if (name)
		printf("BENCH %s %.0f us\n", name, (now() - t0) / n * 1e6);
	return 0;
}

static int free_port(unsigned *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int rc = 0;

	if (fd < 0)
		return -errno;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
		rc = -errno;
	*port = ntohs(sa.sin_port);
	close(fd);
	return rc;
}

/* Wait until one of the first @n logs leads; its index into *leader. */
static int wait_leader(struct node *nodes, unsigned n, unsigned *leader)
{
	for (unsigned t = 0; t < WAIT_S * 100; t++) {
		for (unsigned i = 0; i < n; i++) {
			if (wfs_raftlog_is_leader(nodes[i].log)) {
				*leader = i;
				return 0;
			}
		}
		usleep(10000);
	}
	return -ETIMEDOUT;
}

static int run_1voter(const char *dir, struct bench *b)
{
	char addr[32];
	struct wfs_raftlog_server self = { 1, addr };
	struct wfs_raftlog_config cfg = { .id = 1, .addr = addr, .dir = dir,
					  .voters = &self, .nvoters = 1 };
	struct node n = { .log = NULL };
	unsigned port = 0, leader;
	int rc;

	rc = free_port(&port);
	if (rc != 0)
		return rc;
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	rc = wfs_raftlog_new(&cfg, &bench_fsm, &n, &n.log);
	if (rc != 0)
		return rc;
	rc = wfs_raftlog_start(n.log);
	if (rc == 0)
		rc = wait_leader(&n, 1, &leader);
	if (rc == 0)
		rc = run_pipelined(n.log, b, PIPELINED, "raft_commit_1voter");
	if (rc == 0)
		rc = run_sequential(n.log, b, SEQUENTIAL,
				    "raft_commit_latency_1voter");
	wfs_raftlog_free(n.log);
	return rc;
}

/* ---- groups over the node transport ---- */

static bool admit_all(void *arg, const uint8_t pk[32])
{
	(void)arg;
	(void)pk;
	return true;
}

/* Node @i's keys (fixed seeds: runs compare), net and raft dir. */
static int start_net(struct node *n, unsigned i, const char *base,
		     const char *tag)
{
	uint8_t seed[crypto_sign_SEEDBYTES];
	struct wfs_net_config cfg = {
		.listen = "127.0.0.1:0", .pk = n->pk, .sk = n->sk,
		.admit = admit_all,
	};
	int rc;

	memset(seed, (int)(i + 1), sizeof(seed));
	crypto_sign_seed_keypair(n->pk, n->sk, seed);
	snprintf(n->dir, sizeof(n->dir), "%s/%s-%u", base, tag, i + 1);
	rc = wfs_net_new(&cfg, &n->net);
	if (rc == 0)
		rc = wfs_net_listen_addr(n->net, n->addr, sizeof(n->addr));
	if (rc == 0)
		rc = wfs_net_start(n->net);
	return rc;
}

/* Start node @i's raftlog with state machine @fsm: one of @nvoters
 * founders, or (@voters NULL) a node that waits to be added. */
static int start_raft(struct node *n, unsigned i,
		      const struct wfs_raftlog_server *voters,
		      unsigned nvoters, const struct wfs_raftlog_fsm *fsm)
{
	struct wfs_raftlog_config cfg = {
		.id = i + 1, .addr = n->addr, .dir = n->dir,
		.voters = voters, .nvoters = nvoters, .net = n->net,
	};
	char path[sizeof(n->dir) + 8];
	int rc;

	if (fsm == &sql_fsm) {
		snprintf(path, sizeof(path), "%s.db", n->dir);
		rc = sql_open(n, path);
		if (rc != 0)
			return rc;
	}
	rc = wfs_raftlog_new(&cfg, fsm, n, &n->log);
	if (rc == 0)
		rc = wfs_raftlog_start(n->log);
	return rc;
}

/* Add nodes [@from, @to) as standbys, one change at a time. */
static int add_standbys(struct node *nodes, unsigned leader, unsigned from,
			unsigned to, struct bench *b)
{
	int rc;

	for (unsigned i = from; i < to; i++) {
		unsigned long base, failed;

		pthread_mutex_lock(&b->lock);
		base = b->done;
		failed = b->failed;
		pthread_mutex_unlock(&b->lock);
		rc = wfs_raftlog_add_member(nodes[leader].log, i + 1,
					    nodes[i].addr,
					    WFS_RAFTLOG_MEMBER_STANDBY, done, b);
		if (rc == 0)
			rc = wait_done(b, base + 1);
		if (rc == 0 && b->failed != failed)
			rc = -EIO;
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Three voters and @nstandbys standbys with state machine @fsm; measures
 * what @names name (NULL: skipped): [0] pipelined throughput, [1]
 * sequential latency, [2] CPU per entry of the sequential run. */
static int run_group(const char *base, const char *tag, unsigned nstandbys,
		     const struct wfs_raftlog_fsm *fsm,
		     const char *const names[3], struct bench *b)
{
	struct wfs_raftlog_server voters[3];
	struct node nodes[MAX_NODES];
	unsigned n = 3 + nstandbys, leader = 0;
	double cpu;
	int rc = 0;

	memset(nodes, 0, sizeof(nodes));
	for (unsigned i = 0; rc == 0 && i < n; i++)
		rc = start_net(&nodes[i], i, base, tag);
	for (unsigned i = 0; i < 3; i++) {
		voters[i].id = i + 1;
		voters[i].addr = nodes[i].addr;
	}
	for (unsigned i = 0; rc == 0 && i < n; i++)
		rc = start_raft(&nodes[i], i, i < 3 ? voters : NULL,
				i < 3 ? 3 : 0, fsm);
	if (rc == 0)
		rc = wait_leader(nodes, 3, &leader);
	if (rc == 0)
		rc = add_standbys(nodes, leader, 3, n, b);
	if (rc == 0)
		rc = run_sequential(nodes[leader].log, b, GROUP_WARMUP, NULL);
	if (rc == 0 && names[0])
		rc = run_pipelined(nodes[leader].log, b, GROUP_PIPELINED,
				   names[0]);
	cpu = cpu_seconds();
	if (rc == 0 && names[1])
		rc = run_sequential(nodes[leader].log, b, GROUP_SEQUENTIAL,
				    names[1]);
	if (rc == 0 && names[2])
		printf("BENCH %s %.0f us\n", names[2],
		       (cpu_seconds() - cpu) / GROUP_SEQUENTIAL * 1e6);
	for (unsigned i = 0; i < n; i++)
		wfs_raftlog_free(nodes[i].log);
	for (unsigned i = 0; i < n; i++) {
		wfs_net_free(nodes[i].net);
		if (nodes[i].db)
			sql_close(&nodes[i]);
	}
	return rc;
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

static int run(const char *dir, struct bench *b)
{
	static const char *const three[3] = {
		"raft_commit_3voters", "raft_commit_latency_3voters", NULL,
	};
	static const char *const six[3] = {
		NULL, "raft_commit_latency_3v3s", NULL,
	};
	static const char *const six_sql[3] = {
		NULL, "raft_commit_latency_3v3s_sqlite", "raft_cpu_3v3s_sqlite",
	};
	char path[4096 + 16];
	int rc;

	if (mkdir(dir, 0700) != 0)
		return -errno;
	snprintf(path, sizeof(path), "%s/1voter", dir);
	rc = run_1voter(path, b);
	if (rc == 0)
		rc = run_group(dir, "3v", 0, &bench_fsm, three, b);
	if (rc == 0)
		rc = run_group(dir, "3v3s", 3, &bench_fsm, six, b);
	if (rc == 0)
		rc = run_group(dir, "3v3s-sql", 3, &sql_fsm, six_sql, b);
	if (rc == 0 && b->failed)
		rc = -EIO;
	return rc;
}

int main(void)
{
	const char *base = getenv("WFS_BENCH_DIR");
	struct bench b = { .lock = PTHREAD_MUTEX_INITIALIZER,
			   .cond = PTHREAD_COND_INITIALIZER };
	char dir[4096];
	int rc;

	wfs_log_set_level(WFS_LOG_WARN);
	if (sodium_init() < 0) {
		fprintf(stderr, "bench_raft: libsodium cannot start\n");
		return 1;
	}
	if (!base || !*base)
		base = "/var/tmp";
	mkdir(base, 0700);	/* run_bench.sh makes it; a bare run may not */
	snprintf(dir, sizeof(dir), "%s/raft-bench-%d", base, (int)getpid());
	rc = run(dir, &b);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (rc != 0) {
		fprintf(stderr, "bench_raft: %s\n", strerror(-rc));
		return 1;
	}
	return 0;
}
