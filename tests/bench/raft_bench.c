/* bench_raft: commit speed of gossip/raftlog with one voter, through real
 * libraft, raft_uv files under $WFS_BENCH_DIR (on disk) and loopback TCP:
 *
 *   BENCH raft_commit_1voter <entries/s> ops/s
 *	200-byte entries proposed from one thread with up to WINDOW in
 *	flight; counted from the first proposal to the last completion
 *	(committed, applied, done callback run).
 *   BENCH raft_commit_latency_1voter <us> us
 *	mean time from propose to its done callback with one entry in
 *	flight at a time (each pays a full disk sync).
 *
 * The state machine only counts entries, so the figures are the log's own
 * cost: queue, raft_apply, write + fdatasync, apply, callback.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gossip/raftlog.h"
#include "log/log.h"

#define ENTRY_LEN 200
#define PIPELINED 20000
#define WINDOW 2048
#define SEQUENTIAL 1000
#define WAIT_S 60

struct bench {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned long applied;
	unsigned long done, failed;
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
	struct bench *b = arg;

	(void)index;
	(void)buf;
	(void)len;
	(void)result;
	b->applied++;		/* raft thread only */
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

static int run_pipelined(struct wfs_raftlog *log, struct bench *b)
{
	unsigned long base = b->done;
	double t0 = now();
	int rc;

	for (unsigned i = 0; i < PIPELINED; i++) {
		if (i >= WINDOW) {
			rc = wait_done(b, base + i - WINDOW + 1);
			if (rc != 0)
				return rc;
		}
		rc = propose(log, b, i);
		if (rc != 0)
			return rc;
	}
	rc = wait_done(b, base + PIPELINED);
	if (rc != 0)
		return rc;
	printf("BENCH raft_commit_1voter %.0f ops/s\n",
	       PIPELINED / (now() - t0));
	return 0;
}

static int run_sequential(struct wfs_raftlog *log, struct bench *b)
{
	unsigned long base = b->done;
	double t0 = now();
	int rc;

	for (unsigned i = 0; i < SEQUENTIAL; i++) {
		rc = propose(log, b, i);
		if (rc == 0)
			rc = wait_done(b, base + i + 1);
		if (rc != 0)
			return rc;
	}
	printf("BENCH raft_commit_latency_1voter %.0f us\n",
	       (now() - t0) / SEQUENTIAL * 1e6);
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

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

/* Wait until the single voter leads (it elects itself at start). */
static int wait_leader(struct wfs_raftlog *log)
{
	for (unsigned i = 0; i < WAIT_S * 100; i++) {
		if (wfs_raftlog_is_leader(log))
			return 0;
		usleep(10000);
	}
	return -ETIMEDOUT;
}

static int run(const char *dir, struct bench *b)
{
	char addr[32];
	struct wfs_raftlog_server self = { 1, addr };
	struct wfs_raftlog_config cfg = { .id = 1, .addr = addr, .dir = dir,
					  .voters = &self, .nvoters = 1 };
	struct wfs_raftlog *log;
	unsigned port = 0;
	int rc;

	rc = free_port(&port);
	if (rc != 0)
		return rc;
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	rc = wfs_raftlog_new(&cfg, &bench_fsm, b, &log);
	if (rc != 0)
		return rc;
	rc = wfs_raftlog_start(log);
	if (rc == 0)
		rc = wait_leader(log);
	if (rc == 0)
		rc = run_pipelined(log, b);
	if (rc == 0)
		rc = run_sequential(log, b);
	wfs_raftlog_free(log);
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
