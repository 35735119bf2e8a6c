/* server: the serving half of rpc/ (rpc/rpc.h), on the gRPC C core.
 *
 * The server's threads ("workers") all wait on one completion queue, s->cq.
 * For every routed method the server keeps one outstanding
 * grpc_server_request_registered_call per worker (a "slot", which also reads
 * the request message), plus one catch-all grpc_server_request_call that
 * answers UNIMPLEMENTED.  When a call arrives, whichever worker is idle takes
 * the event, runs the handler, sends the reply, status and trailer in one
 * batch, and only then requests the next call into that slot.
 *
 * Why one shared queue and not one per worker: gRPC matches an incoming call
 * to an outstanding request when it arrives, and a connection keeps trying
 * the same queue first.  With a queue per worker, a worker busy in a slow
 * handler still holds requests for every other method, so calls would wait
 * behind it while other workers sit idle (a test caught exactly that).  On
 * a shared queue an event goes to the first free worker.  The other cure,
 * one unregistered request per worker queue and the message received in a
 * second batch, measured no faster with two threads and slower with four
 * (more queues, more hand-offs between polling threads).
 *
 * Lifetime of a call (struct wfs_rpc_call): the worker holds a reference
 * while the handler runs; the final batch holds one until it completes and
 * releases the grpc_call; a handle from wfs_rpc_reply_later holds one until
 * wfs_rpc_call_finish.  Deferred calls sit on s->deferred so that stop can
 * cancel and release them ("orphan" them) when the grace runs out.
 *
 * Stop: grpc_server_shutdown_and_notify refuses new calls and posts a tag on
 * s->shutdown_cq once every connection has closed.  That is not enough: a
 * call whose client went away (deadline, cancel) no longer holds its
 * connection open, yet its handler may still be running, or its reply be
 * deferred, and would later start a batch on a queue that must not get new
 * work once shut down (gRPC aborts).  So the server also counts what may
 * still produce work on the queue (s->live: posted requests whose event is
 * not handled yet, and calls whose grpc_call is not released), and stop
 * waits for both, for the grace, then cancels what is left and waits again.
 * Only then is the queue shut down, the threads joined and the gRPC server
 * destroyed.  Requests are posted under s->lock and never once s->stopping
 * is set.
 */
#include "rpc/rpc.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "log/log.h"
#include "mem/mem.h"
#include "rpc/rpc_internal.h"

enum tag_kind {
	TAG_NEW_CALL,		/* a struct slot: a requested call arrived */
	TAG_CALL_DONE,		/* a struct wfs_rpc_call: its final batch */
};

/* Every pointer given to gRPC as a tag starts with one of these. */
struct tag {
	enum tag_kind kind;
};

struct method {
	char *name;
	void *handle;		/* from grpc_server_register_method */
	wfs_rpc_handler_cb cb;
	void *arg;
};

/* One outstanding request for the next call of one method.  Touched by
 * start before posting, then only by the worker that takes its event. */
struct slot {
	struct tag tag;
	struct wfs_rpc_server *s;
	struct method *m;	/* NULL: the catch-all for unknown methods */
	grpc_call *call;
	gpr_timespec deadline;
	grpc_metadata_array md;
	grpc_byte_buffer *payload;
	grpc_call_details details;	/* catch-all only */
};

struct worker {
	struct wfs_rpc_server *s;
	pthread_t thread;
	bool running;		/* the thread was started */
};

struct wfs_rpc_reply {
	void *buf;		/* reply bytes (wfs_malloc), or NULL */
	size_t len;
	bool later;		/* wfs_rpc_reply_later was called */
	bool has_request_id;
	char request_id[WFS_RPC_REQUEST_ID_MAX + 1];
};

struct wfs_rpc_call {
	struct tag tag;
	struct wfs_rpc_server *s;
	grpc_call *gcall;	/* NULL once released */
	atomic_uint refs;
	struct wfs_rpc_reply reply;
	bool orphaned;		/* given up at stop; protected by s->lock */
	struct wfs_rpc_call *prev, *next; /* on s->deferred; s->lock */
	/* What the final batch sends, kept until it completes. */
	grpc_byte_buffer *resp;
	grpc_metadata trailer;
	bool has_trailer;
	int cancelled;
};

struct wfs_rpc_server {
	grpc_server *gs;	/* NULL once destroyed */
	grpc_completion_queue *cq;	/* the workers' */
	grpc_completion_queue *shutdown_cq;
	int shutdown_tag;	/* its address is the shutdown's tag */
	struct worker *workers;
	unsigned nworkers;
	struct method *methods;
	unsigned nmethods;
	struct slot *slots;	/* nworkers per method, then the catch-all */
	unsigned nslots;
	char *addr;
	int port;
	int64_t grace_ms;
	wfs_rpc_gate_cb gate;	/* set before start */
	void *gate_arg;
	bool started;		/* owner thread only */
	bool stopped;		/* stop has run; owner thread only */
	bool shut;		/* the shutdown tag came; owner thread only */
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* live or handles reached 0 */
	bool stopping;		/* protected by lock */
	unsigned live;		/* see the top comment; protected by lock */
	struct wfs_rpc_call *deferred;	/* protected by lock */
	unsigned handles;	/* unfinished later-handles; protected by lock */
};

#define CALL_OF_REPLY(r)                                                      \
	((struct wfs_rpc_call *)((char *)(r) -                                \
				 offsetof(struct wfs_rpc_call, reply)))

static gpr_timespec forever(void)
{
	return gpr_inf_future(GPR_CLOCK_REALTIME);
}

/* One thing fewer that may produce work on s->cq.  Caller holds
 * s->lock. */
static void live_drop_locked(struct wfs_rpc_server *s)
{
	if (--s->live == 0)
		pthread_cond_broadcast(&s->cond);
}

static struct wfs_rpc_call *call_new(struct wfs_rpc_server *s, grpc_call *gc)
{
	struct wfs_rpc_call *call = wfs_calloc(1, sizeof(*call));

	if (!call)
		return NULL;
	call->tag.kind = TAG_CALL_DONE;
	call->s = s;
	call->gcall = gc;
	atomic_init(&call->refs, 1);
	pthread_mutex_lock(&s->lock);
	s->live++;
	pthread_mutex_unlock(&s->lock);
	return call;
}

static void call_unref(struct wfs_rpc_call *call)
{
	if (atomic_fetch_sub(&call->refs, 1) != 1)
		return;
	wfs_free(call->reply.buf);
	wfs_free(call);
}

/* The final batch completed (or could not start): release what it sent,
 * the grpc_call, and the batch's reference.  Once live drops the server may
 * finish stopping, so nothing is touched after it. */
static void call_done(struct wfs_rpc_call *call)
{
	struct wfs_rpc_server *s = call->s;

	if (call->resp)
		grpc_byte_buffer_destroy(call->resp);
	call->resp = NULL;
	if (call->has_trailer)
		grpc_slice_unref(call->trailer.value);
	call->has_trailer = false;
	grpc_call_unref(call->gcall);
	call->gcall = NULL;
	call_unref(call);
	pthread_mutex_lock(&s->lock);
	live_drop_locked(s);
	pthread_mutex_unlock(&s->lock);
}

/* The reply bytes as a byte buffer that frees them with wfs_free once gRPC
 * has sent them: no copy. */
static grpc_byte_buffer *reply_buffer(void *buf, size_t len)
{
	grpc_slice slice;
	grpc_byte_buffer *bb;

	if (len == 0) {
		wfs_free(buf);
		slice = grpc_empty_slice();
	} else {
		slice = grpc_slice_new(buf, len, wfs_free);
	}
	bb = grpc_raw_byte_buffer_create(&slice, 1);
	grpc_slice_unref(slice);
	return bb;
}

/* Send the call's outcome: the reply on @rc 0, else the status mapped from
 * @rc with the exact errno in the trailer.  Consumes one reference of the
 * caller's, which the batch holds until call_done. */
static void send_final(struct wfs_rpc_call *call, int rc)
{
	void *buf = call->reply.buf;
	size_t len = call->reply.len;
	grpc_op ops[4];
	grpc_slice details;
	grpc_call_error err;
	size_t n = 0;

	call->reply.buf = NULL;
	call->reply.len = 0;
	if (rc == 0 && len > WFS_RPC_MAX_MESSAGE) {
		wfs_log_error("rpc", "reply of %zu bytes is over the %u limit",
			      len, WFS_RPC_MAX_MESSAGE);
		rc = -EMSGSIZE;
	}
	memset(ops, 0, sizeof(ops));
	ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
	if (rc == 0) {
		call->resp = reply_buffer(buf, len);
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = call->resp;
	} else {
		char num[16];
		const char *desc = strerrordesc_np(-rc);

		wfs_free(buf);
		snprintf(num, sizeof(num), "%d", -rc);
		call->trailer.key =
			grpc_slice_from_static_string(WFS_RPC_ERRNO_KEY);
		call->trailer.value = grpc_slice_from_copied_string(num);
		call->has_trailer = true;
		details = grpc_slice_from_static_string(desc ? desc : "error");
		ops[n].data.send_status_from_server.trailing_metadata_count = 1;
		ops[n].data.send_status_from_server.trailing_metadata =
			&call->trailer;
		ops[n].data.send_status_from_server.status_details = &details;
	}
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n++].data.send_status_from_server.status =
		wfs_rpc_status_from_errno(rc);
	ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[n++].data.recv_close_on_server.cancelled = &call->cancelled;
	err = grpc_call_start_batch(call->gcall, ops, n, &call->tag, NULL);
	if (err != GRPC_CALL_OK) {
		wfs_log_error("rpc", "cannot send a reply: %s",
			      grpc_call_error_to_string(err));
		call_done(call);
	}
}

/* The request bytes of a call, contiguous: borrowed from gRPC when the
 * message came in one slice (the common case for small messages), else
 * gathered into one slice. */
struct req_view {
	grpc_byte_buffer_reader reader;
	bool has_reader;
	grpc_slice joined;
	bool has_joined;
	const void *p;
	size_t len;
};

static int req_view_init(struct req_view *v, grpc_byte_buffer *bb)
{
	grpc_slice *first, *second;

	memset(v, 0, sizeof(*v));
	v->p = "";
	if (!grpc_byte_buffer_reader_init(&v->reader, bb))
		return -EPROTO;	/* e.g. undecodable compression */
	v->has_reader = true;
	if (!grpc_byte_buffer_reader_peek(&v->reader, &first))
		return 0;
	if (!grpc_byte_buffer_reader_peek(&v->reader, &second)) {
		v->p = GRPC_SLICE_START_PTR(*first);
		v->len = GRPC_SLICE_LENGTH(*first);
		return 0;
	}
	grpc_byte_buffer_reader_destroy(&v->reader);
	v->has_reader = grpc_byte_buffer_reader_init(&v->reader, bb);
	if (!v->has_reader)
		return -EPROTO;
	v->joined = grpc_byte_buffer_reader_readall(&v->reader);
	v->has_joined = true;
	v->p = GRPC_SLICE_START_PTR(v->joined);
	v->len = GRPC_SLICE_LENGTH(v->joined);
	return 0;
}

static void req_view_release(struct req_view *v)
{
	if (v->has_joined)
		grpc_slice_unref(v->joined);
	if (v->has_reader)
		grpc_byte_buffer_reader_destroy(&v->reader);
}

/* The request id in @md, if it has a well-formed one, into @reply. */
static void request_id_of(const grpc_metadata_array *md,
			  struct wfs_rpc_reply *reply)
{
	for (size_t i = 0; i < md->count; i++) {
		const grpc_metadata *e = &md->metadata[i];
		const unsigned char *p = GRPC_SLICE_START_PTR(e->value);
		size_t len = GRPC_SLICE_LENGTH(e->value);

		if (grpc_slice_str_cmp(e->key, WFS_RPC_REQUEST_KEY) != 0)
			continue;
		if (len == 0 || len > WFS_RPC_REQUEST_ID_MAX)
			return;
		for (size_t j = 0; j < len; j++)
			if (p[j] < 0x21 || p[j] > 0x7e)
				return;
		memcpy(reply->request_id, p, len);
		reply->request_id[len] = 0;
		reply->has_request_id = true;
		return;
	}
}

const char *wfs_rpc_reply_request_id(const struct wfs_rpc_reply *reply)
{
	return reply->has_request_id ? reply->request_id : NULL;
}

/* How many servers relayed the call whose request metadata is @md. */
static unsigned hops_of(const grpc_metadata_array *md)
{
	for (size_t i = 0; i < md->count; i++) {
		const grpc_metadata *e = &md->metadata[i];
		const unsigned char *p = GRPC_SLICE_START_PTR(e->value);
		size_t len = GRPC_SLICE_LENGTH(e->value);
		unsigned v = 0;

		if (grpc_slice_str_cmp(e->key, WFS_RPC_HOPS_KEY) != 0)
			continue;
		/* Garbage or a huge count reads as "too many". */
		if (len == 0 || len > 2)
			return WFS_RPC_HOPS_MAX;
		for (size_t j = 0; j < len; j++) {
			if (p[j] < '0' || p[j] > '9')
				return WFS_RPC_HOPS_MAX;
			v = v * 10 + (unsigned)(p[j] - '0');
		}
		return v;
	}
	return 0;
}

/* Run @m's handler on a new call and send its answer (now or later). */
static void serve(struct wfs_rpc_server *s, struct method *m, grpc_call *gc,
		  const grpc_metadata_array *md, grpc_byte_buffer *payload)
{
	struct wfs_rpc_call *call = call_new(s, gc);
	struct req_view v;
	int rc;

	/* Out of memory: UNAVAILABLE, which callers retry (RESOURCE_EXHAUSTED
	 * would read as a message over the size limit). */
	if (!call) {
		grpc_call_cancel_with_status(gc, GRPC_STATUS_UNAVAILABLE,
					     "out of memory", NULL);
		grpc_call_unref(gc);
		return;
	}
	/* No payload: the client sent none, or gRPC dropped it (over the
	 * size limit, in which case the call is already failed). */
	if (!payload) {
		send_final(call, -EPROTO);
		return;
	}
	request_id_of(md, &call->reply);
	rc = req_view_init(&v, payload);
	if (rc == 0 && s->gate)
		rc = s->gate(s->gate_arg, m->name, hops_of(md), v.p, v.len,
			     &call->reply);
	else if (rc == 0)
		rc = WFS_RPC_GATE_PASS;
	if (rc == WFS_RPC_GATE_PASS)
		rc = m->cb(m->arg, v.p, v.len, &call->reply);
	req_view_release(&v);
	if (call->reply.later) {
		call_unref(call);
		return;
	}
	if (rc > 0) {
		wfs_log_error("rpc", "handler of %s returned %d, not an errno",
			      m->name, rc);
		rc = -EIO;
	}
	send_final(call, rc);
}

static void refuse_unknown(struct wfs_rpc_server *s, struct slot *sl)
{
	struct wfs_rpc_call *call;

	wfs_log_debug("rpc", "call to unknown method %.*s",
		      (int)GRPC_SLICE_LENGTH(sl->details.method),
		      (const char *)GRPC_SLICE_START_PTR(sl->details.method));
	call = call_new(s, sl->call);
	if (!call) {
		grpc_call_cancel_with_status(sl->call, GRPC_STATUS_UNIMPLEMENTED,
					     "unknown method", NULL);
		grpc_call_unref(sl->call);
		return;
	}
	send_final(call, -EOPNOTSUPP);
}

/* Ask gRPC for the next call into @sl, unless the server is stopping.  A
 * posted slot counts in s->live until its event is handled; @counted says
 * whether @sl still counts from its previous post (a re-post after a call):
 * it then keeps counting, or stops if nothing is posted. */
static void post(struct slot *sl, bool counted)
{
	struct wfs_rpc_server *s = sl->s;
	grpc_call_error err = GRPC_CALL_OK;
	bool posted = false;

	pthread_mutex_lock(&s->lock);
	if (!s->stopping && sl->m)
		err = grpc_server_request_registered_call(
			s->gs, sl->m->handle, &sl->call, &sl->deadline, &sl->md,
			&sl->payload, s->cq, s->cq, &sl->tag);
	else if (!s->stopping)
		err = grpc_server_request_call(s->gs, &sl->call, &sl->details,
					       &sl->md, s->cq, s->cq, &sl->tag);
	posted = !s->stopping && err == GRPC_CALL_OK;
	if (posted && !counted)
		s->live++;
	else if (!posted && counted)
		live_drop_locked(s);
	pthread_mutex_unlock(&s->lock);
	if (err != GRPC_CALL_OK)
		wfs_log_error("rpc", "server on %s: cannot request calls of %s: %s",
			      s->addr, sl->m ? sl->m->name : "other methods",
			      grpc_call_error_to_string(err));
}

static void slot_reset(struct slot *sl)
{
	grpc_metadata_array_destroy(&sl->md);
	grpc_metadata_array_init(&sl->md);
	if (!sl->m) {
		grpc_call_details_destroy(&sl->details);
		grpc_call_details_init(&sl->details);
	}
	sl->call = NULL;
	sl->payload = NULL;
}

static void on_new_call(struct slot *sl, int ok)
{
	struct wfs_rpc_server *s = sl->s;
	grpc_byte_buffer *payload = sl->payload;

	/* A failed request means the server is shutting down: the slot
	 * stays idle. */
	if (!ok) {
		if (payload)
			grpc_byte_buffer_destroy(payload);
		slot_reset(sl);
		pthread_mutex_lock(&s->lock);
		live_drop_locked(s);
		pthread_mutex_unlock(&s->lock);
		return;
	}
	if (sl->m)
		serve(s, sl->m, sl->call, &sl->md, payload);
	else
		refuse_unknown(s, sl);
	if (payload)
		grpc_byte_buffer_destroy(payload);
	slot_reset(sl);
	post(sl, true);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (;;) {
		grpc_event ev = grpc_completion_queue_next(w->s->cq, forever(),
							   NULL);
		struct tag *t;

		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type != GRPC_OP_COMPLETE)
			continue;
		t = ev.tag;
		if (t->kind == TAG_NEW_CALL)
			on_new_call((struct slot *)t, ev.success);
		else
			call_done((struct wfs_rpc_call *)t);
	}
	return NULL;
}

static grpc_server *create_grpc_server(void)
{
	grpc_arg args[3];
	grpc_channel_args cargs = { .num_args = 3, .args = args };

	memset(args, 0, sizeof(args));
	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	args[0].value.integer = WFS_RPC_MAX_MESSAGE;
	args[1].type = GRPC_ARG_INTEGER;
	args[1].key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
	args[1].value.integer = WFS_RPC_MAX_MESSAGE;
	/* Two daemons configured with one port must not silently share it. */
	args[2].type = GRPC_ARG_INTEGER;
	args[2].key = GRPC_ARG_ALLOW_REUSEPORT;
	args[2].value.integer = 0;
	return grpc_server_create(&cargs, NULL);
}

/* Wait until @deadline for the tag of grpc_server_shutdown_and_notify, the
 * only event s->shutdown_cq ever gets.  Returns whether it came. */
static bool wait_shutdown(struct wfs_rpc_server *s, gpr_timespec deadline)
{
	grpc_event ev;

	if (s->shut)
		return true;
	ev = grpc_completion_queue_next(s->shutdown_cq, deadline, NULL);
	s->shut = ev.type == GRPC_OP_COMPLETE;
	return s->shut;
}

/* Wait until s->live is 0, at most until @deadline (CLOCK_MONOTONIC; NULL:
 * no limit).  Returns whether it is. */
static bool wait_idle(struct wfs_rpc_server *s, const struct timespec *deadline)
{
	bool idle;

	pthread_mutex_lock(&s->lock);
	while (s->live) {
		if (!deadline)
			pthread_cond_wait(&s->cond, &s->lock);
		else if (pthread_cond_timedwait(&s->cond, &s->lock, deadline))
			break;
	}
	idle = s->live == 0;
	pthread_mutex_unlock(&s->lock);
	return idle;
}

/* Shut the gRPC server down at once (nothing is in flight: it never
 * started, or stop has drained it) and destroy it. */
static void destroy_grpc_server(struct wfs_rpc_server *s)
{
	if (!s->gs)
		return;
	if (!s->shut) {
		grpc_server_shutdown_and_notify(s->gs, s->shutdown_cq,
						&s->shutdown_tag);
		wait_shutdown(s, forever());
	}
	grpc_server_destroy(s->gs);
	s->gs = NULL;
}

/* Shut down, drain and destroy a completion queue nobody else polls. */
static void drain_cq(grpc_completion_queue *cq)
{
	if (!cq)
		return;
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_next(cq, forever(), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
}

static void make_queues(struct wfs_rpc_server *s)
{
	s->cq = grpc_completion_queue_create_for_next(NULL);
	grpc_server_register_completion_queue(s->gs, s->cq, NULL);
	s->shutdown_cq = grpc_completion_queue_create_for_next(NULL);
	grpc_server_register_completion_queue(s->gs, s->shutdown_cq, NULL);
	for (unsigned i = 0; i < s->nworkers; i++)
		s->workers[i].s = s;
}

static int listen_on(struct wfs_rpc_server *s)
{
	grpc_server_credentials *creds;

	/* Plaintext: loopback only until the node transport issue brings
	 * encryption between nodes. */
	creds = grpc_insecure_server_credentials_create();
	s->port = grpc_server_add_http2_port(s->gs, s->addr, creds);
	grpc_server_credentials_release(creds);
	if (s->port <= 0) {
		wfs_log_error("rpc", "cannot listen on %s", s->addr);
		return -EADDRINUSE;
	}
	return 0;
}

int wfs_rpc_server_new(const char *listen_addr, unsigned nthreads,
		       struct wfs_rpc_server **out)
{
	struct wfs_rpc_server *s;
	pthread_condattr_t ca;
	int rc = -ENOMEM;

	*out = NULL;
	if (!listen_addr || !*listen_addr || nthreads == 0)
		return -EINVAL;
	s = wfs_calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->addr = wfs_strdup(listen_addr);
	s->workers = wfs_calloc(nthreads, sizeof(*s->workers));
	if (!s->addr || !s->workers)
		goto out_free;
	s->nworkers = nthreads;
	s->grace_ms = WFS_RPC_STOP_GRACE_MS;
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	wfs_rpc_core_ref();
	s->gs = create_grpc_server();
	make_queues(s);
	rc = listen_on(s);
	if (rc)
		goto out_destroy;
	*out = s;
	return 0;

out_destroy:
	wfs_rpc_server_free(s);
	return rc;
out_free:
	wfs_free(s->workers);
	wfs_free(s->addr);
	wfs_free(s);
	return rc;
}

int wfs_rpc_server_port(const struct wfs_rpc_server *s)
{
	return s->port;
}

void wfs_rpc_server_set_stop_grace(struct wfs_rpc_server *s, int64_t grace_ms)
{
	s->grace_ms = grace_ms < 0 ? 0 : grace_ms;
}

int wfs_rpc_server_set_gate(struct wfs_rpc_server *s, wfs_rpc_gate_cb cb,
			    void *arg)
{
	if (s->started)
		return -EBUSY;
	s->gate = cb;
	s->gate_arg = arg;
	return 0;
}

int wfs_rpc_server_handle(struct wfs_rpc_server *s, const char *method,
			  wfs_rpc_handler_cb cb, void *arg)
{
	struct method *grown, *m;

	if (!method || method[0] != '/' || !cb)
		return -EINVAL;
	if (s->started)
		return -EBUSY;
	for (unsigned i = 0; i < s->nmethods; i++)
		if (strcmp(s->methods[i].name, method) == 0)
			return -EEXIST;
	grown = wfs_realloc(s->methods, (s->nmethods + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	s->methods = grown;
	m = &s->methods[s->nmethods];
	memset(m, 0, sizeof(*m));
	m->name = wfs_strdup(method);
	if (!m->name)
		return -ENOMEM;
	m->handle = grpc_server_register_method(
		s->gs, method, NULL, GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER,
		0);
	if (!m->handle) {
		wfs_free(m->name);
		return -EEXIST;
	}
	m->cb = cb;
	m->arg = arg;
	s->nmethods++;
	return 0;
}

static int make_slots(struct wfs_rpc_server *s)
{
	s->nslots = s->nmethods * s->nworkers + 1;
	s->slots = wfs_calloc(s->nslots, sizeof(*s->slots));
	if (!s->slots)
		return -ENOMEM;
	for (unsigned i = 0; i < s->nslots; i++) {
		struct slot *sl = &s->slots[i];

		sl->tag.kind = TAG_NEW_CALL;
		sl->s = s;
		sl->m = i + 1 < s->nslots ? &s->methods[i % s->nmethods] : NULL;
		grpc_metadata_array_init(&sl->md);
		grpc_call_details_init(&sl->details);
	}
	return 0;
}

int wfs_rpc_server_start(struct wfs_rpc_server *s)
{
	int rc;

	if (s->started)
		return -EALREADY;
	rc = make_slots(s);
	if (rc)
		return rc;
	grpc_server_start(s->gs);
	s->started = true;
	for (unsigned i = 0; i < s->nworkers; i++) {
		struct worker *w = &s->workers[i];

		rc = -pthread_create(&w->thread, NULL, worker_main, w);
		if (rc) {
			wfs_log_error("rpc", "server on %s: cannot start a thread: %s",
				      s->addr, strerror(-rc));
			wfs_rpc_server_stop(s);
			return rc;
		}
		w->running = true;
	}
	for (unsigned i = 0; i < s->nslots; i++)
		post(&s->slots[i], false);
	return 0;
}

/* Give up on the calls still waiting for wfs_rpc_call_finish: release their
 * grpc_call (so the shutdown can complete) but keep the handles, which
 * finish will free. */
static void orphan_deferred(struct wfs_rpc_server *s)
{
	pthread_mutex_lock(&s->lock);
	while (s->deferred) {
		struct wfs_rpc_call *call = s->deferred;

		s->deferred = call->next;
		call->prev = call->next = NULL;
		call->orphaned = true;
		grpc_call_cancel(call->gcall, NULL);
		grpc_call_unref(call->gcall);
		call->gcall = NULL;
		live_drop_locked(s);
	}
	pthread_mutex_unlock(&s->lock);
}

void wfs_rpc_server_stop(struct wfs_rpc_server *s)
{
	gpr_timespec deadline;
	struct timespec until;

	if (!s || !s->started || s->stopped)
		return;
	s->stopped = true;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_mutex_unlock(&s->lock);
	grpc_server_shutdown_and_notify(s->gs, s->shutdown_cq, &s->shutdown_tag);
	deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
				gpr_time_from_millis(s->grace_ms, GPR_TIMESPAN));
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += s->grace_ms / 1000;
	until.tv_nsec += (s->grace_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	if (!wait_shutdown(s, deadline) || !wait_idle(s, &until)) {
		wfs_log_warn("rpc", "server on %s: calls still running after %lld ms, cancelling them",
			     s->addr, (long long)s->grace_ms);
		grpc_server_cancel_all_calls(s->gs);
		orphan_deferred(s);
		wait_shutdown(s, forever());
		wait_idle(s, NULL);
	}
	grpc_completion_queue_shutdown(s->cq);
	for (unsigned i = 0; i < s->nworkers; i++) {
		if (s->workers[i].running)
			pthread_join(s->workers[i].thread, NULL);
		s->workers[i].running = false;
	}
	destroy_grpc_server(s);
}

static void free_slots(struct wfs_rpc_server *s)
{
	if (!s->slots)
		return;
	for (unsigned i = 0; i < s->nslots; i++) {
		grpc_metadata_array_destroy(&s->slots[i].md);
		grpc_call_details_destroy(&s->slots[i].details);
	}
	wfs_free(s->slots);
	s->slots = NULL;
}

void wfs_rpc_server_free(struct wfs_rpc_server *s)
{
	if (!s)
		return;
	wfs_rpc_server_stop(s);
	pthread_mutex_lock(&s->lock);
	while (s->handles)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
	destroy_grpc_server(s);
	drain_cq(s->cq);
	drain_cq(s->shutdown_cq);
	free_slots(s);
	for (unsigned i = 0; i < s->nmethods; i++)
		wfs_free(s->methods[i].name);
	wfs_free(s->methods);
	wfs_free(s->workers);
	wfs_free(s->addr);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	wfs_free(s);
	wfs_rpc_core_unref();
}

void wfs_rpc_reply_set(struct wfs_rpc_reply *reply, void *buf, size_t len)
{
	if (reply->buf != buf)
		wfs_free(reply->buf);
	reply->buf = buf;
	reply->len = buf ? len : 0;
}

int wfs_rpc_reply_set_msg(struct wfs_rpc_reply *reply,
			  const ProtobufCMessage *msg)
{
	void *buf;
	size_t len;
	int rc = wfs_rpc_msg_pack(msg, &buf, &len);

	if (rc)
		return rc;
	wfs_rpc_reply_set(reply, buf, len);
	return 0;
}

struct wfs_rpc_call *wfs_rpc_reply_later(struct wfs_rpc_reply *reply)
{
	struct wfs_rpc_call *call = CALL_OF_REPLY(reply);
	struct wfs_rpc_server *s = call->s;

	if (reply->later)
		return call;
	reply->later = true;
	wfs_free(reply->buf);
	reply->buf = NULL;
	reply->len = 0;
	atomic_fetch_add(&call->refs, 1);
	pthread_mutex_lock(&s->lock);
	call->prev = NULL;
	call->next = s->deferred;
	if (s->deferred)
		s->deferred->prev = call;
	s->deferred = call;
	s->handles++;
	pthread_mutex_unlock(&s->lock);
	return call;
}

/* One handle fewer; wakes wfs_rpc_server_free.  The last use of @s by a
 * finishing thread. */
static void handle_done(struct wfs_rpc_server *s)
{
	pthread_mutex_lock(&s->lock);
	if (--s->handles == 0)
		pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

int wfs_rpc_call_finish(struct wfs_rpc_call *call, int rc, void *buf,
			size_t len)
{
	struct wfs_rpc_server *s = call->s;
	bool orphaned;

	pthread_mutex_lock(&s->lock);
	orphaned = call->orphaned;
	if (!orphaned) {
		if (call->prev)
			call->prev->next = call->next;
		else
			s->deferred = call->next;
		if (call->next)
			call->next->prev = call->prev;
		call->prev = call->next = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	if (orphaned) {
		wfs_free(buf);
		call_unref(call);
		handle_done(s);
		return -ECANCELED;
	}
	/* The server cannot finish stopping before this call's batch
	 * completes, and free waits for handle_done, so @s stays valid. */
	wfs_rpc_reply_set(&call->reply, buf, len);
	if (rc > 0)
		rc = -EIO;
	send_final(call, rc);
	handle_done(s);
	return 0;
}
