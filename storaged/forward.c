/* storaged/forward: relaying master-only calls to the master (see
 * forward.h).
 *
 * A relayed call is answered later (wfs_rpc_reply_later): the gate copies
 * the request onto a queue and returns, so an API thread never waits on the
 * network.  Relay threads take jobs in order, find the master's API address
 * (the raft leader's node record), call it with the same method and bytes,
 * and finish the original call with the reply or the exact errno.  One rpc/
 * client per master address is kept; they connect lazily.
 */
#include "storaged/forward.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "log/log.h"
#include "mem/mem.h"
#include "storaged/node_internal.h"

#define SUB "forward"
#define DEFAULT_THREADS 8
/* A relayed call may be a lock wait (up to 30 s, see LockRequest); give it
 * that and some. */
#define RELAY_TIMEOUT_MS 45000
#define MAX_TARGETS 16
/* Relays waiting for a thread beyond which calls are turned away (the
 * client retries elsewhere or later): a master that stopped answering
 * must not pile up memory here. */
#define MAX_QUEUED 1024

struct job {
	struct job *next;
	const char *method;	/* the server's routed name: lives as long */
	unsigned hops;
	void *req;
	size_t len;
	struct wfs_rpc_call *call;
	char request_id[WFS_RPC_REQUEST_ID_MAX + 1]; /* "": none */
};

struct target {
	char addr[WFS_META_ADDR_MAX + 1];
	struct wfs_rpc_client *client;
};

struct wfs_forward {
	struct wfs_node *n;
	pthread_t *threads;
	unsigned nthreads;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *head, **tail;	/* lock */
	unsigned queued;		/* jobs on the queue; lock */
	bool stopping;			/* lock */
	struct target targets[MAX_TARGETS]; /* lock */
	unsigned ntargets;		/* lock */
};

/* Whether only the master may serve @method. */
static bool master_only(const char *method)
{
	static const char *const admin[] = {
		"/wormfs.Admin/NodeAdd", "/wormfs.Admin/NodeRemove",
		"/wormfs.Admin/Join", "/wormfs.Admin/JoinToken",
		/* draining (storaged/drain) and the collectors' reports */
		"/wormfs.Admin/DiskDrain", "/wormfs.Admin/PlaceChunk",
		"/wormfs.Admin/MoveChunk", "/wormfs.Admin/GcDone",
	};

	if (strncmp(method, "/wormfs.Meta/", 13) == 0)
		return true;
	for (size_t i = 0; i < sizeof(admin) / sizeof(admin[0]); i++)
		if (strcmp(method, admin[i]) == 0)
			return true;
	return false;
}

/* The rpc/ client of @addr, made on first use and kept until the relay is
 * freed (a client in use is never freed).  Past MAX_TARGETS masters (many
 * address changes) a client is made for the one call: *once is then set and
 * the caller frees it.  NULL: out of memory. */
static struct wfs_rpc_client *target_client(struct wfs_forward *f,
					    const char *addr, bool *once)
{
	struct wfs_rpc_client *c = NULL;
	struct target *t;

	*once = false;
	pthread_mutex_lock(&f->lock);
	for (unsigned i = 0; i < f->ntargets; i++)
		if (strcmp(f->targets[i].addr, addr) == 0) {
			c = f->targets[i].client;
			goto out_unlock;
		}
	if (f->ntargets == MAX_TARGETS) {
		*once = true;
		if (wfs_rpc_client_new(addr, &c) != 0)
			c = NULL;
		goto out_unlock;
	}
	t = &f->targets[f->ntargets];
	if (wfs_rpc_client_new(addr, &t->client) != 0)
		goto out_unlock;
	snprintf(t->addr, sizeof(t->addr), "%s", addr);
	c = t->client;
	f->ntargets++;
out_unlock:
	pthread_mutex_unlock(&f->lock);
	return c;
}

static void relay(struct wfs_forward *f, struct job *j)
{
	struct wfs_rpc_call_opts o = {
		.hops = j->hops + 1,
		.request_id = j->request_id[0] ? j->request_id : NULL,
	};
	char addr[WFS_META_ADDR_MAX + 1];
	struct wfs_rpc_client *c;
	bool once;
	void *resp = NULL;
	size_t resp_len = 0;
	int rc;

	rc = wfs_node_leader_api(f->n, addr, sizeof(addr));
	if (rc == 0) {
		c = target_client(f, addr, &once);
		rc = c ? wfs_rpc_call_opts(c, j->method, j->req, j->len,
					   RELAY_TIMEOUT_MS, &o, &resp,
					   &resp_len)
		       : -ENOMEM;
		if (once)
			wfs_rpc_client_free(c);
		/* The master is gone or changing: the client waits for the
		 * next one, as during an election. */
		if (rc == -ENOTCONN || rc == -ETIMEDOUT)
			rc = -EHOSTUNREACH;
	} else {
		rc = -EHOSTUNREACH;
	}
	if (rc)
		wfs_log_debug(SUB, "%s: relay to the master: %s", j->method,
			      strerror(-rc));
	wfs_rpc_call_finish(j->call, rc, resp, resp_len);
}

static void *relay_main(void *arg)
{
	struct wfs_forward *f = arg;

	pthread_mutex_lock(&f->lock);
	for (;;) {
		struct job *j;

		while (!f->head && !f->stopping)
			pthread_cond_wait(&f->cond, &f->lock);
		if (!f->head)
			break;
		j = f->head;
		f->head = j->next;
		if (!f->head)
			f->tail = &f->head;
		f->queued--;
		pthread_mutex_unlock(&f->lock);
		relay(f, j);
		wfs_free(j->req);
		wfs_free(j);
		pthread_mutex_lock(&f->lock);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

int wfs_forward_gate(void *arg, const char *method, unsigned hops,
		     const void *req, size_t len, struct wfs_rpc_reply *reply)
{
	struct wfs_forward *f = arg;
	struct job *j;

	if (!master_only(method) || wfs_node_serving(f->n) == 0)
		return WFS_RPC_GATE_PASS;
	/* Relayed here by a node that took this one for the master: its
	 * view is stale, and relaying on could go round in circles. */
	if (hops > 0)
		return -EHOSTUNREACH;
	j = wfs_calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->req = wfs_malloc(len ? len : 1);
	if (!j->req) {
		wfs_free(j);
		return -ENOMEM;
	}
	memcpy(j->req, req, len);
	j->len = len;
	j->method = method;
	j->hops = hops;
	if (wfs_rpc_reply_request_id(reply))
		snprintf(j->request_id, sizeof(j->request_id), "%s",
			 wfs_rpc_reply_request_id(reply));
	pthread_mutex_lock(&f->lock);
	if (f->stopping || f->queued >= MAX_QUEUED) {
		pthread_mutex_unlock(&f->lock);
		wfs_free(j->req);
		wfs_free(j);
		return -EHOSTUNREACH;
	}
	f->queued++;
	j->call = wfs_rpc_reply_later(reply);
	*f->tail = j;
	f->tail = &j->next;
	pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->lock);
	return 0;
}

int wfs_forward_new(struct wfs_node *n, unsigned threads,
		    struct wfs_forward **out)
{
	struct wfs_forward *f = wfs_calloc(1, sizeof(*f));
	int rc = 0;

	*out = NULL;
	if (!f)
		return -ENOMEM;
	f->n = n;
	f->tail = &f->head;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	threads = threads ? threads : DEFAULT_THREADS;
	f->threads = wfs_calloc(threads, sizeof(*f->threads));
	if (!f->threads) {
		wfs_forward_free(f);
		return -ENOMEM;
	}
	for (; f->nthreads < threads; f->nthreads++) {
		rc = -pthread_create(&f->threads[f->nthreads], NULL,
				     relay_main, f);
		if (rc)
			break;
	}
	if (rc) {
		wfs_forward_free(f);
		return rc;
	}
	*out = f;
	return 0;
}

void wfs_forward_free(struct wfs_forward *f)
{
	struct job *j;

	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->stopping = true;
	/* Queued relays fail now; running ones finish (bounded by their
	 * timeout) before the threads exit. */
	while ((j = f->head)) {
		f->head = j->next;
		wfs_rpc_call_finish(j->call, -EHOSTUNREACH, NULL, 0);
		wfs_free(j->req);
		wfs_free(j);
	}
	f->tail = &f->head;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	for (unsigned i = 0; i < f->nthreads; i++)
		pthread_join(f->threads[i], NULL);
	for (unsigned i = 0; i < f->ntargets; i++)
		wfs_rpc_client_free(f->targets[i].client);
	wfs_free(f->threads);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	wfs_free(f);
}
