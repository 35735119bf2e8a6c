MODULES += rpc
rpc_SRCS := rpc/server.c rpc/client.c rpc/core.c rpc/msg.c
rpc_TESTS := rpc/rpc_test.c
# proto only for the suite's messages: rpc itself knows no message.
rpc_DEPS := mem log proto

BENCHES += bench_rpc
bench_rpc_MAIN := tests/bench/rpc_bench.c
bench_rpc_USES := rpc mem log
