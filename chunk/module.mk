# chunk: the chunk file header (format, version rule, CRC-32C checks).
MODULES += chunk
chunk_SRCS := chunk/format.c
chunk_TESTS := chunk/format_test.c
chunk_DEPS := erasure mem log
