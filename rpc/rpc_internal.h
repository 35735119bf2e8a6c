/* rpc_internal: what the server and client halves of rpc/ share (rpc/core.c):
 * the gRPC library's reference count, the mapping between errno values and
 * gRPC status codes, and the trailing metadata entry that carries a
 * handler's exact errno.  Only for rpc/.
 */
#ifndef WFS_RPC_RPC_INTERNAL_H
#define WFS_RPC_RPC_INTERNAL_H

#include <grpc/grpc.h>
#include <grpc/status.h>

/* Trailing metadata key whose value is the handler's errno, as a positive
 * decimal number ("2" for ENOENT).  Lower case, as HTTP/2 requires. */
#define WFS_RPC_ERRNO_KEY "wfs-errno"
/* Request metadata: how many servers relayed the call (absent: none). */
#define WFS_RPC_HOPS_KEY "wfs-hops"
#define WFS_RPC_HOPS_MAX 8
/* Request metadata: the caller's name for a logical request. */
#define WFS_RPC_REQUEST_KEY "wfs-request"

/* Take and drop a reference on the gRPC library (grpc_init and
 * grpc_shutdown); the first also routes gRPC's log lines to wfs_log.  Every
 * server and client holds one for its lifetime.  Any thread but gRPC's. */
void wfs_rpc_core_ref(void);
void wfs_rpc_core_unref(void);

/* The status a handler's error @err (a negative errno) is sent as. */
grpc_status_code wfs_rpc_status_from_errno(int err);

/* The negative errno for a call that ended with @code and no "wfs-errno"
 * entry (0 for GRPC_STATUS_OK). */
int wfs_rpc_errno_from_status(grpc_status_code code);

/* Parse a "wfs-errno" value of @len bytes at @p.  Returns the negative
 * errno, or 0 when the value is not a plausible errno (1..4095). */
int wfs_rpc_errno_parse(const void *p, size_t len);

#endif
