/* core: what the server and client halves of rpc/ share about the gRPC C
 * core: the library's reference count and log routing, and the mapping
 * between errno and gRPC status codes.
 *
 * gRPC prints its own errors on stderr; libraries must not print, so its
 * log lines are routed to wfs_log under the subsystem "grpc" (gRPC's own
 * filter, GRPC_VERBOSITY, still decides which it emits: errors by default).
 *
 * WormFS callers never see status codes: a handler's errno travels exactly
 * in the "wfs-errno" trailer, and the status is only the nearest gRPC code,
 * for foreign clients (grpcurl, other languages) and for logs.  The reverse
 * map is for failures that carry no trailer: the transport, deadlines, size
 * limits, unknown methods, or a server that is not WormFS.
 */
#include "rpc/rpc_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>

#include <grpc/support/log.h>

#include "log/log.h"

static pthread_once_t log_once = PTHREAD_ONCE_INIT;

static void grpc_log_line(gpr_log_func_args *a)
{
	enum wfs_log_level level = WFS_LOG_DEBUG;

	if (a->severity == GPR_LOG_SEVERITY_ERROR)
		level = WFS_LOG_ERROR;
	else if (a->severity == GPR_LOG_SEVERITY_INFO)
		level = WFS_LOG_INFO;
	wfs_log(level, "grpc", "%s (%s:%d)", a->message, a->file, a->line);
}

static void route_log(void)
{
	gpr_set_log_function(grpc_log_line);
}

void wfs_rpc_core_ref(void)
{
	pthread_once(&log_once, route_log);
	grpc_init();
}

void wfs_rpc_core_unref(void)
{
	grpc_shutdown();
}

grpc_status_code wfs_rpc_status_from_errno(int err)
{
	switch (-err) {
	case 0:
		return GRPC_STATUS_OK;
	case ENOENT:
	case ENODATA:
		return GRPC_STATUS_NOT_FOUND;
	case EEXIST:
		return GRPC_STATUS_ALREADY_EXISTS;
	case EINVAL:
	case EPROTO:
	case ENAMETOOLONG:
		return GRPC_STATUS_INVALID_ARGUMENT;
	case EACCES:
	case EPERM:
		return GRPC_STATUS_PERMISSION_DENIED;
	case ETIMEDOUT:
		return GRPC_STATUS_DEADLINE_EXCEEDED;
	case EAGAIN:
	case ENOTCONN:
	case ECONNREFUSED:
	case EHOSTUNREACH:
		return GRPC_STATUS_UNAVAILABLE;
	case ENOSPC:
	case EDQUOT:
	case EMSGSIZE:
		return GRPC_STATUS_RESOURCE_EXHAUSTED;
	case ESTALE:
		return GRPC_STATUS_ABORTED;
	case ECANCELED:
		return GRPC_STATUS_CANCELLED;
	case EOPNOTSUPP:
	case ENOSYS:
		return GRPC_STATUS_UNIMPLEMENTED;
	case ERANGE:
	case EFBIG:
		return GRPC_STATUS_OUT_OF_RANGE;
	case ENOTEMPTY:
	case ENOTDIR:
	case EISDIR:
	case EBUSY:
	case EXDEV:
		return GRPC_STATUS_FAILED_PRECONDITION;
	case EBADMSG:
		return GRPC_STATUS_DATA_LOSS;
	default:
		return GRPC_STATUS_INTERNAL;
	}
}

int wfs_rpc_errno_from_status(grpc_status_code code)
{
	switch (code) {
	case GRPC_STATUS_OK:
		return 0;
	case GRPC_STATUS_CANCELLED:
		return -ECANCELED;
	case GRPC_STATUS_INVALID_ARGUMENT:
		return -EINVAL;
	case GRPC_STATUS_DEADLINE_EXCEEDED:
		return -ETIMEDOUT;
	case GRPC_STATUS_NOT_FOUND:
		return -ENOENT;
	case GRPC_STATUS_ALREADY_EXISTS:
		return -EEXIST;
	case GRPC_STATUS_PERMISSION_DENIED:
	case GRPC_STATUS_UNAUTHENTICATED:
		return -EACCES;
	case GRPC_STATUS_RESOURCE_EXHAUSTED:
		/* Without a trailer this is gRPC's own message size limit
		 * ("received message larger than max"). */
		return -EMSGSIZE;
	case GRPC_STATUS_FAILED_PRECONDITION:
		return -EINVAL;
	case GRPC_STATUS_ABORTED:
		return -ESTALE;
	case GRPC_STATUS_OUT_OF_RANGE:
		return -ERANGE;
	case GRPC_STATUS_UNIMPLEMENTED:
		/* Not ENOSYS: FUSE takes that as "never call this again", and
		 * a node that lacks a method may be upgraded a minute later. */
		return -EOPNOTSUPP;
	case GRPC_STATUS_UNAVAILABLE:
		return -ENOTCONN;
	case GRPC_STATUS_DATA_LOSS:
		return -EBADMSG;
	default:
		return -EIO;
	}
}

int wfs_rpc_errno_parse(const void *p, size_t len)
{
	const char *s = p;
	int v = 0;

	if (len == 0 || len > 4)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	return v >= 1 && v <= 4095 ? -v : 0;
}
