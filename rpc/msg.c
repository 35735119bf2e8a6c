/* msg: protobuf-c messages packed and unpacked with WormFS's allocator, for
 * callers and handlers of rpc/ (rpc/rpc.h).
 *
 * protobuf-c knows nothing of gRPC, so this file touches no gRPC API; it
 * lives in rpc/ because messages only ever travel through rpc/.  Unpacking
 * allocates through wfs_malloc so tests can fail an allocation and so
 * out-of-memory is told apart from a malformed message (protobuf-c answers
 * NULL for both).
 */
#include "rpc/rpc.h"

#include <errno.h>
#include <stdbool.h>

#include "mem/mem.h"

static void *pb_alloc(void *data, size_t size)
{
	bool *failed = data;
	void *p = wfs_malloc(size ? size : 1);

	if (!p && failed)
		*failed = true;
	return p;
}

static void pb_free(void *data, void *p)
{
	(void)data;
	wfs_free(p);
}

int wfs_rpc_msg_pack(const ProtobufCMessage *msg, void **buf, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	void *p = wfs_malloc(n ? n : 1);

	*buf = NULL;
	*len = 0;
	if (!p)
		return -ENOMEM;
	*len = protobuf_c_message_pack(msg, p);
	*buf = p;
	return 0;
}

int wfs_rpc_msg_unpack(const ProtobufCMessageDescriptor *desc, const void *buf,
		       size_t len, ProtobufCMessage **out)
{
	bool failed = false;
	ProtobufCAllocator a = { pb_alloc, pb_free, &failed };

	*out = protobuf_c_message_unpack(desc, &a, len,
					 buf ? buf : (const void *)"");
	if (*out)
		return 0;
	return failed ? -ENOMEM : -EPROTO;
}

void wfs_rpc_msg_free(ProtobufCMessage *msg)
{
	ProtobufCAllocator a = { pb_alloc, pb_free, NULL };

	if (msg)
		protobuf_c_message_free_unpacked(msg, &a);
}
