/* client: the calling half of rpc/ (rpc/rpc.h), on the gRPC C core.
 *
 * One gRPC channel per client, shared by every calling thread (channels are
 * thread-safe and multiplex calls over one HTTP/2 connection).  A call is one
 * batch (send metadata, message and half-close; receive metadata, message
 * and status) on a completion queue that the calling thread alone waits on.
 * Queues are not made per call: idle ones wait in a small pool, so the pool
 * grows to the number of threads calling at once and no further.
 *
 * Retries are off in gRPC: whether and when to retry is the caller's policy
 * (a metadata call during an election waits and retries; a chunk write picks
 * another node).  Reconnection backoff is capped at one second so a node
 * that restarts is reachable again quickly.
 */
#include "rpc/rpc.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "log/log.h"
#include "mem/mem.h"
#include "rpc/rpc_internal.h"

struct wfs_rpc_client {
	grpc_channel *ch;
	char *target;
	pthread_mutex_t cq_lock;
	grpc_completion_queue **idle;	/* protected by cq_lock */
	unsigned nidle, idle_cap;	/* protected by cq_lock */
};

static gpr_timespec forever(void)
{
	return gpr_inf_future(GPR_CLOCK_REALTIME);
}

static grpc_channel *make_channel(const char *target)
{
	grpc_arg args[6];
	grpc_channel_args cargs = { .num_args = 6, .args = args };
	grpc_channel_credentials *creds;
	grpc_channel *ch;
	static const struct {
		const char *key;
		int value;
	} ints[6] = {
		{ GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, WFS_RPC_MAX_MESSAGE },
		{ GRPC_ARG_ENABLE_RETRIES, 0 },
		/* Nodes talk directly, never through an http_proxy from the
		 * environment. */
		{ GRPC_ARG_ENABLE_HTTP_PROXY, 0 },
		{ GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100 },
		{ GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100 },
		{ GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000 },
	};

	memset(args, 0, sizeof(args));
	for (int i = 0; i < 6; i++) {
		args[i].type = GRPC_ARG_INTEGER;
		args[i].key = (char *)ints[i].key;
		args[i].value.integer = ints[i].value;
	}
	/* Plaintext: loopback only until the node transport issue brings
	 * encryption between nodes. */
	creds = grpc_insecure_credentials_create();
	ch = grpc_channel_create(target, creds, &cargs);
	grpc_channel_credentials_release(creds);
	return ch;
}

int wfs_rpc_client_new(const char *target, struct wfs_rpc_client **out)
{
	struct wfs_rpc_client *c;

	*out = NULL;
	if (!target || !*target)
		return -EINVAL;
	c = wfs_calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->target = wfs_strdup(target);
	if (!c->target) {
		wfs_free(c);
		return -ENOMEM;
	}
	pthread_mutex_init(&c->cq_lock, NULL);
	wfs_rpc_core_ref();
	c->ch = make_channel(target);
	*out = c;
	return 0;
}

static void destroy_cq(grpc_completion_queue *cq)
{
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_pluck(cq, NULL, forever(), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
}

void wfs_rpc_client_free(struct wfs_rpc_client *c)
{
	if (!c)
		return;
	grpc_channel_destroy(c->ch);
	for (unsigned i = 0; i < c->nidle; i++)
		destroy_cq(c->idle[i]);
	wfs_free(c->idle);
	pthread_mutex_destroy(&c->cq_lock);
	wfs_free(c->target);
	wfs_free(c);
	wfs_rpc_core_unref();
}

static grpc_completion_queue *cq_get(struct wfs_rpc_client *c)
{
	grpc_completion_queue *cq = NULL;

	pthread_mutex_lock(&c->cq_lock);
	if (c->nidle)
		cq = c->idle[--c->nidle];
	pthread_mutex_unlock(&c->cq_lock);
	return cq ? cq : grpc_completion_queue_create_for_pluck(NULL);
}

static void cq_put(struct wfs_rpc_client *c, grpc_completion_queue *cq)
{
	pthread_mutex_lock(&c->cq_lock);
	if (c->nidle == c->idle_cap) {
		unsigned cap = c->idle_cap ? 2 * c->idle_cap : 8;
		grpc_completion_queue **grown =
			wfs_realloc(c->idle, cap * sizeof(*grown));

		if (!grown) {
			pthread_mutex_unlock(&c->cq_lock);
			destroy_cq(cq);
			return;
		}
		c->idle = grown;
		c->idle_cap = cap;
	}
	c->idle[c->nidle++] = cq;
	pthread_mutex_unlock(&c->cq_lock);
}

static grpc_call *make_call(struct wfs_rpc_client *c, const char *method,
			    grpc_completion_queue *cq, int64_t timeout_ms)
{
	gpr_timespec deadline = forever();
	grpc_slice path;
	grpc_call *gc;

	if (timeout_ms > 0)
		deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
					gpr_time_from_millis(timeout_ms,
							     GPR_TIMESPAN));
	/* A copy: gRPC may keep the path past the call.  (Registering
	 * methods with grpc_channel_register_call measured no faster.) */
	path = grpc_slice_from_copied_string(method);
	gc = grpc_channel_create_call(c->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
				      path, NULL, deadline, NULL);
	grpc_slice_unref(path);
	return gc;
}

/* The exact errno from the "wfs-errno" trailer, or 0 if there is none. */
static int trailer_errno(const grpc_metadata_array *md)
{
	for (size_t i = 0; i < md->count; i++) {
		const grpc_metadata *e = &md->metadata[i];

		if (grpc_slice_str_cmp(e->key, WFS_RPC_ERRNO_KEY) == 0)
			return wfs_rpc_errno_parse(GRPC_SLICE_START_PTR(e->value),
						   GRPC_SLICE_LENGTH(e->value));
	}
	return 0;
}

/* Copy the message in @bb into one new wfs_malloc buffer. */
static int flatten(grpc_byte_buffer *bb, void **out, size_t *out_len)
{
	grpc_byte_buffer_reader r;
	grpc_slice *s;
	size_t total = 0, off = 0;
	char *buf;

	if (!grpc_byte_buffer_reader_init(&r, bb))
		return -EPROTO;
	while (grpc_byte_buffer_reader_peek(&r, &s))
		total += GRPC_SLICE_LENGTH(*s);
	grpc_byte_buffer_reader_destroy(&r);
	buf = wfs_malloc(total ? total : 1);
	if (!buf)
		return -ENOMEM;
	if (!grpc_byte_buffer_reader_init(&r, bb)) {
		wfs_free(buf);
		return -EPROTO;
	}
	while (grpc_byte_buffer_reader_peek(&r, &s)) {
		memcpy(buf + off, GRPC_SLICE_START_PTR(*s), GRPC_SLICE_LENGTH(*s));
		off += GRPC_SLICE_LENGTH(*s);
	}
	grpc_byte_buffer_reader_destroy(&r);
	*out = buf;
	*out_len = total;
	return 0;
}

/* What one call sends and receives; lives on the caller's stack. */
struct exchange {
	grpc_byte_buffer *req;
	grpc_byte_buffer *resp;
	grpc_metadata_array initial, trailing;
	grpc_status_code status;
	grpc_slice details;
	grpc_metadata md[2];	/* request metadata sent: hops, request id */
	size_t nmd;
	char hops[4];
};

/* Run the call's single batch and wait for it.  Returns the call's outcome
 * as 0 or a negative errno; on 0, x->resp holds the reply. */
static int run_batch(grpc_call *gc, grpc_completion_queue *cq,
		     struct exchange *x)
{
	grpc_op ops[6];
	grpc_call_error err;
	grpc_event ev;
	int rc;

	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = x->nmd;
	ops[0].data.send_initial_metadata.metadata = x->nmd ? x->md : NULL;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = x->req;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &x->initial;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &x->resp;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &x->trailing;
	ops[5].data.recv_status_on_client.status = &x->status;
	ops[5].data.recv_status_on_client.status_details = &x->details;
	err = grpc_call_start_batch(gc, ops, 6, x, NULL);
	if (err != GRPC_CALL_OK) {
		wfs_log_error("rpc", "cannot start a call: %s",
			      grpc_call_error_to_string(err));
		return -EIO;
	}
	/* The call's deadline bounds the wait; the status op always
	 * completes the batch. */
	ev = grpc_completion_queue_pluck(cq, x, forever(), NULL);
	if (ev.type != GRPC_OP_COMPLETE)
		return -EIO;
	if (x->status != GRPC_STATUS_OK) {
		rc = trailer_errno(&x->trailing);
		if (rc == 0)
			rc = wfs_rpc_errno_from_status(x->status);
		wfs_log_debug("rpc", "call failed with status %d (%.*s): %s",
			      (int)x->status,
			      (int)GRPC_SLICE_LENGTH(x->details),
			      (const char *)GRPC_SLICE_START_PTR(x->details),
			      strerror(-rc));
		return rc;
	}
	/* OK with no message breaks the unary contract. */
	return x->resp ? 0 : -EPROTO;
}

/* Request metadata entry @key = @value (copied) into @x. */
static void md_add(struct exchange *x, const char *key, const char *value)
{
	x->md[x->nmd].key = grpc_slice_from_static_string(key);
	x->md[x->nmd].value = grpc_slice_from_copied_string(value);
	x->nmd++;
}

static int call(struct wfs_rpc_client *c, const char *method, const void *req,
		size_t len, int64_t timeout_ms,
		const struct wfs_rpc_call_opts *o, void **resp,
		size_t *resp_len)
{
	struct exchange x;
	grpc_completion_queue *cq;
	grpc_slice slice;
	grpc_call *gc;
	int rc;

	if (resp)
		*resp = NULL;
	if (resp_len)
		*resp_len = 0;
	if (!method || method[0] != '/' || (!req && len))
		return -EINVAL;
	if (o && o->request_id && (!*o->request_id ||
				   strlen(o->request_id) > WFS_RPC_REQUEST_ID_MAX))
		return -EINVAL;
	memset(&x, 0, sizeof(x));
	if (o && o->hops) {
		snprintf(x.hops, sizeof(x.hops), "%u",
			 o->hops < WFS_RPC_HOPS_MAX ? o->hops
						    : WFS_RPC_HOPS_MAX);
		md_add(&x, WFS_RPC_HOPS_KEY, x.hops);
	}
	if (o && o->request_id)
		md_add(&x, WFS_RPC_REQUEST_KEY, o->request_id);
	cq = cq_get(c);
	gc = make_call(c, method, cq, timeout_ms);
	if (!gc) {
		cq_put(c, cq);
		return -ENOMEM;
	}
	/* gRPC may still hold the request after the call ends (a write in
	 * progress on a cancelled stream), so it gets its own copy. */
	slice = grpc_slice_from_copied_buffer(req ? req : "", len);
	x.req = grpc_raw_byte_buffer_create(&slice, 1);
	grpc_slice_unref(slice);
	grpc_metadata_array_init(&x.initial);
	grpc_metadata_array_init(&x.trailing);
	x.details = grpc_empty_slice();
	rc = run_batch(gc, cq, &x);
	if (rc == 0 && resp) {
		size_t n;

		rc = flatten(x.resp, resp, &n);
		if (rc == 0 && resp_len)
			*resp_len = n;
	}
	if (x.resp)
		grpc_byte_buffer_destroy(x.resp);
	grpc_byte_buffer_destroy(x.req);
	grpc_slice_unref(x.details);
	grpc_metadata_array_destroy(&x.initial);
	grpc_metadata_array_destroy(&x.trailing);
	for (size_t i = 0; i < x.nmd; i++) {
		grpc_slice_unref(x.md[i].key);
		grpc_slice_unref(x.md[i].value);
	}
	grpc_call_unref(gc);
	cq_put(c, cq);
	return rc;
}

int wfs_rpc_call(struct wfs_rpc_client *c, const char *method, const void *req,
		 size_t len, int64_t timeout_ms, void **resp, size_t *resp_len)
{
	return call(c, method, req, len, timeout_ms, NULL, resp, resp_len);
}

int wfs_rpc_call_opts(struct wfs_rpc_client *c, const char *method,
		      const void *req, size_t len, int64_t timeout_ms,
		      const struct wfs_rpc_call_opts *o, void **resp,
		      size_t *resp_len)
{
	return call(c, method, req, len, timeout_ms, o, resp, resp_len);
}

int wfs_rpc_call_msg(struct wfs_rpc_client *c, const char *method,
		     const ProtobufCMessage *req,
		     const ProtobufCMessageDescriptor *resp_desc,
		     int64_t timeout_ms, ProtobufCMessage **resp)
{
	return wfs_rpc_call_msg_opts(c, method, req, resp_desc, timeout_ms,
				     NULL, resp);
}

int wfs_rpc_call_msg_opts(struct wfs_rpc_client *c, const char *method,
			  const ProtobufCMessage *req,
			  const ProtobufCMessageDescriptor *resp_desc,
			  int64_t timeout_ms,
			  const struct wfs_rpc_call_opts *o,
			  ProtobufCMessage **resp)
{
	void *out, *in;
	size_t out_len, in_len;
	int rc;

	*resp = NULL;
	rc = wfs_rpc_msg_pack(req, &out, &out_len);
	if (rc)
		return rc;
	rc = call(c, method, out, out_len, timeout_ms, o, &in, &in_len);
	wfs_free(out);
	if (rc)
		return rc;
	rc = wfs_rpc_msg_unpack(resp_desc, in, in_len, resp);
	wfs_free(in);
	return rc;
}
