# client: the WormFS client library (client/client.h): metadata calls with
# retries, write-back stripe buffers, EC encoding, parallel chunk I/O,
# reconstruction; what the FUSE mount (fuse/) and wormctl are built on.
MODULES += client
client_SRCS := client/conn.c client/meta.c client/file.c client/flush.c client/layout.c \
	client/chunkio.c client/stripe.c client/geom.c client/pool.c \
	client/statahead.c client/dirnames.c client/behind.c \
	client/leases.c
client_TESTS := client/geom_test.c client/stripe_test.c client/file_test.c \
	client/statahead_test.c client/dirnames_test.c
client_DEPS := rpc proto erasure chunk mem log

# Objects that include the generated proto header wait for it (spelled out:
# proto/module.mk is read after this file).
$(patsubst %.c,$(B)/%.o,$(client_SRCS) $(client_TESTS)): | \
	$(B)/proto/wormfs.pb-c.h
