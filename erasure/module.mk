# erasure: the Reed-Solomon codec and CRC-32C, both on ISA-L.
MODULES += erasure
erasure_SRCS := erasure/codec.c erasure/crc32c.c
erasure_TESTS := erasure/codec_test.c erasure/crc32c_test.c
erasure_DEPS := mem log

BENCHES += bench_ec
bench_ec_MAIN := tests/bench/ec_bench.c
bench_ec_USES := erasure mem log
