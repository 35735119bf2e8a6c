MODULES += mem
mem_SRCS := mem/mem.c
mem_TESTS := mem/mem_test.c
mem_DEPS := log
