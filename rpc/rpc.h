/* rpc: unary remote calls between WormFS programs, over gRPC.
 *
 * This is the only module that sees the gRPC C core (DESIGN.md: its API
 * changes between releases, so it lives behind one wall).  It moves opaque
 * byte strings: a server registers a handler per full method name
 * ("/wormfs.Meta/Lookup", see proto/wormfs.proto), a client calls a method
 * with request bytes and gets reply bytes or an error.  The bytes are
 * serialized protobuf-c messages; the wfs_rpc_msg_* helpers at the end pack
 * and unpack them with WormFS's allocator, but this module knows no message
 * of its own.  Unary calls only: no streaming.
 *
 * Errors travel exactly.  A handler fails a call with a negative errno; the
 * server sends the nearest gRPC status (ENOENT -> NOT_FOUND, ...) for foreign
 * clients and the errno itself in the trailing metadata entry "wfs-errno",
 * and wfs_rpc_call returns that errno unchanged, so an error reaches the FUSE
 * client exactly as the metadata layer produced it.  Failures with no
 * "wfs-errno" (transport, deadline, a foreign server) are mapped from the
 * status: UNAVAILABLE -> -ENOTCONN, DEADLINE_EXCEEDED -> -ETIMEDOUT,
 * RESOURCE_EXHAUSTED (a message over the size limit) -> -EMSGSIZE,
 * UNIMPLEMENTED (unknown method) -> -EOPNOTSUPP, CANCELLED -> -ECANCELED.
 *
 * Transport security: calls use insecure (plaintext) credentials, which is
 * only acceptable on loopback and in tests.  Encryption between nodes comes
 * with the node transport issue and will be added here, behind the same API.
 */
#ifndef WFS_RPC_RPC_H
#define WFS_RPC_RPC_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* Largest request or reply in bytes: a 64 MiB stripe's worth of data plus
 * 1 MiB for the message's other fields.  Larger requests are refused by the
 * server (the client sees -EMSGSIZE), larger replies by both ends. */
#define WFS_RPC_MAX_MESSAGE ((64u << 20) + (1u << 20))

/* How long wfs_rpc_server_stop lets calls in flight finish, by default. */
#define WFS_RPC_STOP_GRACE_MS 5000

struct wfs_rpc_server;
struct wfs_rpc_client;

/* Where a handler puts its answer; owned by the server, valid until the
 * handler returns (or, after wfs_rpc_reply_later, until the call is
 * finished). */
struct wfs_rpc_reply;

/* A call whose reply comes later (see wfs_rpc_reply_later). */
struct wfs_rpc_call;

/* Serve one call.  @req/@req_len are the request bytes, borrowed for the
 * duration of the handler (never NULL, even when @req_len is 0).  On success
 * the handler may set reply bytes with wfs_rpc_reply_set (none: an empty
 * reply) and returns 0; on failure it returns a negative errno, which the
 * caller of wfs_rpc_call receives unchanged (reply bytes are then dropped).
 * Or it calls wfs_rpc_reply_later, returns 0, and answers later from any
 * thread with wfs_rpc_call_finish.  Runs on one of the server's threads;
 * handlers of different calls run concurrently, so @arg must be thread-safe.
 * A handler that blocks holds up one server thread: anything that waits for
 * long (a Raft commit, a lock) should reply later instead. */
typedef int (*wfs_rpc_handler_cb)(void *arg, const void *req, size_t req_len,
				  struct wfs_rpc_reply *reply);

/* Create a server that will listen on @listen_addr ("host:port"; port 0
 * picks a free port, see wfs_rpc_server_port) and run handlers on @nthreads
 * threads (at least 1).  The address is bound now; nothing is served before
 * wfs_rpc_server_start.  On success *out is the new server; release it with
 * wfs_rpc_server_free.  Returns 0, -EINVAL (NULL address, no threads),
 * -EADDRINUSE when gRPC cannot listen on the address (in use, or an address
 * it cannot parse or bind), or -ENOMEM.  Any thread. */
int wfs_rpc_server_new(const char *listen_addr, unsigned nthreads,
		       struct wfs_rpc_server **out);

/* The TCP port the server listens on (the one picked when asked for 0). */
int wfs_rpc_server_port(const struct wfs_rpc_server *s);

/* Route calls to @method (a full name, "/wormfs.Meta/Lookup"; copied) to
 * @cb with @arg (borrowed until the server is freed).  Calls to a method
 * with no handler fail with -EOPNOTSUPP at the caller.  Returns 0, -EINVAL
 * (not starting with '/'), -EEXIST (already routed), -EBUSY (the server has
 * started), or -ENOMEM.  Before wfs_rpc_server_start, from the thread that
 * owns the server. */
int wfs_rpc_server_handle(struct wfs_rpc_server *s, const char *method,
			  wfs_rpc_handler_cb cb, void *arg);

/* What a gate says to a call: serve it here, or it dealt with the call. */
#define WFS_RPC_GATE_PASS 1

/* A gate sees every call to a routed method before its handler, with the
 * method's full name and how many servers relayed the call before
 * (struct wfs_rpc_call_opts; 0 from a client).  It returns WFS_RPC_GATE_PASS
 * to run the handler, or else acts as the handler itself (a reply set and
 * 0, wfs_rpc_reply_later and 0, or a negative errno): a node that is not
 * the metadata master relays the call to the master this way.  Same
 * threads and rules as a handler. */
typedef int (*wfs_rpc_gate_cb)(void *arg, const char *method, unsigned hops,
			       const void *req, size_t req_len,
			       struct wfs_rpc_reply *reply);

/* Put @cb (with @arg, borrowed until the server is freed) in front of every
 * handler.  Before wfs_rpc_server_start, from the owning thread.  Returns
 * 0 or -EBUSY once started. */
int wfs_rpc_server_set_gate(struct wfs_rpc_server *s, wfs_rpc_gate_cb cb,
			    void *arg);

/* How long wfs_rpc_server_stop waits for calls in flight (default
 * WFS_RPC_STOP_GRACE_MS).  Any time before stop, from the owning thread. */
void wfs_rpc_server_set_stop_grace(struct wfs_rpc_server *s, int64_t grace_ms);

/* Start serving: the server threads start and the port accepts calls.
 * Returns 0, -EALREADY if started before, -ENOMEM, or another negative errno
 * if a thread cannot start (then the server is stopped).  Owning thread. */
int wfs_rpc_server_start(struct wfs_rpc_server *s);

/* Stop serving, gracefully: new calls are refused (callers see -ENOTCONN)
 * while calls in flight, including those replying later, get the stop grace
 * to finish.  After it the rest are cancelled (their callers see an error)
 * and their handles orphaned: wfs_rpc_call_finish on one then only frees it.
 * Returns once the server threads have exited; handlers still running at the
 * deadline are waited for.  Idempotent; a server never started is a no-op.
 * Owning thread; never from a handler. */
void wfs_rpc_server_stop(struct wfs_rpc_server *s);

/* Stop the server if needed and release it.  Every handle returned by
 * wfs_rpc_reply_later must have been finished (finish it even after a stop;
 * free waits for the last one).  NULL is a no-op.  Owning thread. */
void wfs_rpc_server_free(struct wfs_rpc_server *s);

/* Set the reply bytes: @buf (from wfs_malloc, or NULL when @len is 0) now
 * belongs to the server, which frees it; a second call replaces (and frees)
 * the first buffer.  Replies over WFS_RPC_MAX_MESSAGE fail the call with
 * -EMSGSIZE.  From the handler, on its thread. */
void wfs_rpc_reply_set(struct wfs_rpc_reply *reply, void *buf, size_t len);

/* The request id the caller sent (struct wfs_rpc_call_opts), or NULL.
 * Valid while the handler runs (copy it to keep it).  From the handler or
 * the gate, on its thread. */
const char *wfs_rpc_reply_request_id(const struct wfs_rpc_reply *reply);

/* Pack the protobuf-c message @msg as the reply.  Returns 0 or -ENOMEM.  From
 * the handler, on its thread. */
int wfs_rpc_reply_set_msg(struct wfs_rpc_reply *reply,
			  const ProtobufCMessage *msg);

/* Answer this call later: the returned handle must be passed exactly once to
 * wfs_rpc_call_finish, from any thread, after which it is gone.  The handler
 * then returns 0 (its return value and any reply bytes set are ignored).
 * Calling it again returns the same handle.  Never fails.  From the handler,
 * on its thread. */
struct wfs_rpc_call *wfs_rpc_reply_later(struct wfs_rpc_reply *reply);

/* Answer a call deferred with wfs_rpc_reply_later: @rc 0 with reply bytes
 * @buf/@len (owned by the server from now on, whatever the outcome, like
 * wfs_rpc_reply_set), or a negative errno (@buf is then freed and not sent).
 * Releases @call.  Returns 0 when the answer was handed to gRPC (a caller
 * that has gone away simply does not get it), or -ECANCELED when the server
 * had already given up on the call at stop.  Any thread, once per handle. */
int wfs_rpc_call_finish(struct wfs_rpc_call *call, int rc, void *buf,
			size_t len);

/* Create a client of the server at @target ("host:port").  Connecting is
 * lazy: an unreachable target shows at the first call, not here.  On success
 * *out is the new client; release it with wfs_rpc_client_free.  Returns 0,
 * -EINVAL (NULL or empty target), or -ENOMEM.  Any thread. */
int wfs_rpc_client_new(const char *target, struct wfs_rpc_client **out);

/* Call @method (full name, "/wormfs.Meta/Lookup") with the @len request
 * bytes at @req (borrowed; may be NULL when @len is 0), waiting at most
 * @timeout_ms (<= 0: no deadline; meant only for calls that may rightly wait
 * without bound).  On success *resp is a new buffer from wfs_malloc holding
 * the reply (release it with wfs_free; never NULL, even for an empty reply)
 * and *resp_len its length; @resp may be NULL to drop the reply.  Returns 0,
 * the exact negative errno the handler returned, or for failures outside the
 * handler: -ENOTCONN (no server there, or it is stopping), -ETIMEDOUT
 * (deadline), -EMSGSIZE (a message over WFS_RPC_MAX_MESSAGE), -EOPNOTSUPP
 * (no such method), -ECANCELED, -EIO (anything else), -ENOMEM.  Fails fast
 * while the server is unreachable; retrying is the caller's policy.
 * Thread-safe: any number of threads may call at once on one client; each
 * call blocks only its own thread. */
int wfs_rpc_call(struct wfs_rpc_client *c, const char *method, const void *req,
		 size_t len, int64_t timeout_ms, void **resp, size_t *resp_len);

/* Longest request id (see struct wfs_rpc_call_opts), without its NUL. */
#define WFS_RPC_REQUEST_ID_MAX 64

/* What a call may carry besides its bytes (zero: nothing). */
struct wfs_rpc_call_opts {
	/* How many servers relayed the call before this one (a server
	 * relaying a call it received passes what it got plus one), so the
	 * next server can refuse to relay it again (wfs_rpc_server_set_gate).
	 * 0: the call comes from a client. */
	unsigned hops;
	/* NULL, or 1..WFS_RPC_REQUEST_ID_MAX printable characters naming one
	 * logical request: a client retrying a request sends the same id, so
	 * the server can tell a retry from a new request
	 * (wfs_rpc_reply_request_id). */
	const char *request_id;
};

/* wfs_rpc_call with @o (NULL: as wfs_rpc_call); -EINVAL for a request id
 * that is empty or too long. */
int wfs_rpc_call_opts(struct wfs_rpc_client *c, const char *method,
		      const void *req, size_t len, int64_t timeout_ms,
		      const struct wfs_rpc_call_opts *o, void **resp,
		      size_t *resp_len);

/* wfs_rpc_call_msg with @o (see wfs_rpc_call_opts). */
int wfs_rpc_call_msg_opts(struct wfs_rpc_client *c, const char *method,
			  const ProtobufCMessage *req,
			  const ProtobufCMessageDescriptor *resp_desc,
			  int64_t timeout_ms,
			  const struct wfs_rpc_call_opts *o,
			  ProtobufCMessage **resp);

/* wfs_rpc_call with protobuf-c messages: packs @req, and on success unpacks
 * the reply as a @resp_desc message into *resp (release with
 * wfs_rpc_msg_free).  Returns what wfs_rpc_call returns, or -EPROTO when the
 * reply is not a valid @resp_desc message.  Thread-safe like wfs_rpc_call. */
int wfs_rpc_call_msg(struct wfs_rpc_client *c, const char *method,
		     const ProtobufCMessage *req,
		     const ProtobufCMessageDescriptor *resp_desc,
		     int64_t timeout_ms, ProtobufCMessage **resp);

/* Release the client.  No call may be in progress on it.  NULL is a no-op. */
void wfs_rpc_client_free(struct wfs_rpc_client *c);

/* Pack @msg into a new buffer from wfs_malloc (*buf, never NULL; *len may be
 * 0).  Returns 0 or -ENOMEM.  Any thread. */
int wfs_rpc_msg_pack(const ProtobufCMessage *msg, void **buf, size_t *len);

/* Unpack @len bytes at @buf (borrowed) as a @desc message into *out, a new
 * message allocated with wfs_malloc (release with wfs_rpc_msg_free).
 * Returns 0, -EPROTO if the bytes are not such a message, or -ENOMEM.  Any
 * thread. */
int wfs_rpc_msg_unpack(const ProtobufCMessageDescriptor *desc, const void *buf,
		       size_t len, ProtobufCMessage **out);

/* Release a message from wfs_rpc_msg_unpack or wfs_rpc_call_msg; NULL is a
 * no-op. */
void wfs_rpc_msg_free(ProtobufCMessage *msg);

#endif
