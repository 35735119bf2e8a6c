MODULES += metadata
metadata_SRCS := metadata/op.c metadata/meta.c metadata/schema.c \
	metadata/stmt.c metadata/apply_ns.c metadata/apply_data.c \
	metadata/query.c
metadata_TESTS := metadata/op_test.c metadata/meta_test.c \
	metadata/apply_test.c
metadata_DEPS := mem log

BENCHES += bench_meta
bench_meta_MAIN := tests/bench/meta_bench.c
bench_meta_USES := metadata mem log
