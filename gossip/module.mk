MODULES += gossip
gossip_SRCS := gossip/raftlog.c
gossip_TESTS := gossip/raftlog_test.c
gossip_DEPS := mem log net

BENCHES += bench_raft
bench_raft_MAIN := tests/bench/raft_bench.c
bench_raft_USES := gossip net mem log
