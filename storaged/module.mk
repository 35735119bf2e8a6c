# storaged: the storage node.  So far its chunk store: the layout of one
# disk directory (disk.c) and the store over a node's disks (chunkstore.c).
MODULES += storaged
storaged_SRCS := storaged/disk.c storaged/chunkstore.c
storaged_TESTS := storaged/disk_test.c storaged/chunkstore_test.c
storaged_DEPS := chunk erasure mem log

BENCHES += bench_chunk
bench_chunk_MAIN := tests/bench/chunk_bench.c
bench_chunk_USES := storaged chunk erasure mem log
