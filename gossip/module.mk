MODULES += gossip
gossip_SRCS := gossip/raftlog.c gossip/swim.c gossip/gossip.c
gossip_TESTS := gossip/raftlog_test.c gossip/swim_test.c gossip/gossip_test.c
gossip_DEPS := mem log net

BENCHES += bench_raft
bench_raft_MAIN := tests/bench/raft_bench.c
bench_raft_USES := gossip net mem log

BENCHES += bench_gossip
bench_gossip_MAIN := tests/bench/gossip_bench.c
bench_gossip_USES := gossip net mem log
