# storaged: the storage node.  So far its chunk store: the layout of one
# disk directory (disk.c) and the store over a node's disks (chunkstore.c).
MODULES += storaged
storaged_SRCS := storaged/disk.c storaged/chunkstore.c
storaged_TESTS := storaged/disk_test.c storaged/chunkstore_test.c
storaged_DEPS := chunk erasure mem log

BENCHES += bench_chunk
bench_chunk_MAIN := tests/bench/chunk_bench.c
bench_chunk_USES := storaged chunk erasure mem log

# daemon: the rest of storaged, wiring the modules into one node (node.c)
# and serving the API.  A module of its own so that the chunk store above
# (and bench_chunk) keep linking without the metadata, raft and rpc.
MODULES += daemon
daemon_SRCS := storaged/node.c storaged/identity.c storaged/metafsm.c \
	storaged/locks.c storaged/gc.c storaged/pidfile.c \
	storaged/meta_service.c storaged/meta_mutate.c storaged/meta_behind.c \
	storaged/stripe_service.c storaged/chunk_service.c \
	storaged/admin_service.c storaged/forward.c \
	storaged/cluster_service.c storaged/liveness.c storaged/transfer.c \
	storaged/nodemeta.c storaged/drain.c storaged/leases.c \
	storaged/prefetch.c
daemon_TESTS := storaged/locks_test.c storaged/identity_test.c \
	storaged/pidfile_test.c storaged/metafsm_test.c storaged/node_test.c \
	storaged/transfer_test.c storaged/nodemeta_test.c \
	storaged/drain_test.c
daemon_DEPS := storaged placement metadata gossip net rpc proto nodeconf chunk \
	erasure mem log

PROGRAMS += storaged
storaged_MAIN := storaged/main.c
storaged_USES := daemon storaged placement metadata gossip net rpc proto \
	nodeconf chunk erasure mem log
