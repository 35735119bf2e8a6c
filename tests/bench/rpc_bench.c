/* bench_rpc: unary gRPC calls through rpc/ on loopback (127.0.0.1, a port
 * the kernel picks), server and client in this process:
 *
 *   BENCH rpc_unary_rtt <us> us
 *	mean round trip of a 64-byte request and reply, one call at a time
 *	from one thread (a metadata call's floor).
 *   BENCH rpc_unary_ops <calls/s> ops/s
 *	the same call from CALLERS threads at once over one client.
 *   BENCH rpc_bulk <MB/s> MB/s
 *	1 MiB requests with an empty reply from BULK_CALLERS threads (a chunk
 *	write's transport cost); MB = 10^6 bytes.
 *
 * The server has SERVER_THREADS threads and a handler that only copies, so
 * the figures are the RPC layer's own cost.  Nothing is written to disk.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log/log.h"
#include "mem/mem.h"
#include "rpc/rpc.h"

#define SERVER_THREADS 2
#define CALLERS 4
#define SMALL 64
#define RTT_CALLS 5000
#define OPS_CALLS 5000		/* per caller */
#define BULK_LEN (1 << 20)
#define BULK_CALLERS 2
#define BULK_CALLS 200		/* per caller */
#define CALL_MS 30000

#define M_ECHO "/bench.B/Echo"
#define M_SINK "/bench.B/Sink"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int h_echo(void *arg, const void *req, size_t len,
		  struct wfs_rpc_reply *reply)
{
	void *out = wfs_memdup(req, len ? len : 1);

	(void)arg;
	if (!out)
		return -ENOMEM;
	wfs_rpc_reply_set(reply, out, len);
	return 0;
}

static int h_sink(void *arg, const void *req, size_t len,
		  struct wfs_rpc_reply *reply)
{
	(void)arg;
	(void)req;
	(void)len;
	(void)reply;
	return 0;
}

struct caller {
	struct wfs_rpc_client *c;
	const char *method;
	size_t len;
	unsigned calls;
	int rc;
	pthread_t thread;
};

static void *caller_main(void *arg)
{
	struct caller *k = arg;
	char *req = wfs_calloc(1, k->len);
	void *resp;
	size_t resp_len;

	k->rc = req ? 0 : -ENOMEM;
	for (unsigned i = 0; i < k->calls && k->rc == 0; i++) {
		k->rc = wfs_rpc_call(k->c, k->method, req, k->len, CALL_MS,
				     &resp, &resp_len);
		if (k->rc == 0)
			wfs_free(resp);
	}
	wfs_free(req);
	return NULL;
}

/* @n threads each making @calls calls; returns the elapsed seconds, or a
 * negative value when a call failed. */
static double run(struct wfs_rpc_client *c, const char *method, size_t len,
		  unsigned n, unsigned calls)
{
	struct caller k[CALLERS];
	double t0 = now(), t;
	int rc = 0;

	for (unsigned i = 0; i < n; i++) {
		k[i] = (struct caller){ .c = c, .method = method, .len = len,
					.calls = calls };
		if (pthread_create(&k[i].thread, NULL, caller_main, &k[i]) != 0)
			return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		pthread_join(k[i].thread, NULL);
		if (k[i].rc)
			rc = k[i].rc;
	}
	t = now() - t0;
	if (rc) {
		fprintf(stderr, "bench_rpc: call failed: %s\n", strerror(-rc));
		return -1;
	}
	return t;
}

static int serve(struct wfs_rpc_server **s, struct wfs_rpc_client **c)
{
	char target[64];
	int rc;

	rc = wfs_rpc_server_new("127.0.0.1:0", SERVER_THREADS, s);
	if (rc == 0)
		rc = wfs_rpc_server_handle(*s, M_ECHO, h_echo, NULL);
	if (rc == 0)
		rc = wfs_rpc_server_handle(*s, M_SINK, h_sink, NULL);
	if (rc == 0)
		rc = wfs_rpc_server_start(*s);
	if (rc)
		return rc;
	snprintf(target, sizeof(target), "127.0.0.1:%d",
		 wfs_rpc_server_port(*s));
	return wfs_rpc_client_new(target, c);
}

int main(void)
{
	struct wfs_rpc_server *s = NULL;
	struct wfs_rpc_client *c = NULL;
	double t;
	int rc;

	wfs_log_to_stderr();
	wfs_log_set_level(WFS_LOG_WARN);
	rc = serve(&s, &c);
	if (rc) {
		fprintf(stderr, "bench_rpc: cannot start: %s\n", strerror(-rc));
		goto out;
	}
	rc = 1;
	/* Warm up: connect, register the methods, fill the queue pool. */
	if (run(c, M_ECHO, SMALL, CALLERS, 200) < 0)
		goto out;
	t = run(c, M_ECHO, SMALL, 1, RTT_CALLS);
	if (t < 0)
		goto out;
	printf("BENCH rpc_unary_rtt %.1f us\n", t / RTT_CALLS * 1e6);
	t = run(c, M_ECHO, SMALL, CALLERS, OPS_CALLS);
	if (t < 0)
		goto out;
	printf("BENCH rpc_unary_ops %.0f ops/s\n", CALLERS * OPS_CALLS / t);
	t = run(c, M_SINK, BULK_LEN, BULK_CALLERS, BULK_CALLS);
	if (t < 0)
		goto out;
	printf("BENCH rpc_bulk %.0f MB/s\n",
	       (double)BULK_CALLERS * BULK_CALLS * BULK_LEN / t / 1e6);
	rc = 0;
out:
	wfs_rpc_client_free(c);
	wfs_rpc_server_free(s);
	return rc ? 1 : 0;
}
