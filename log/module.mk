MODULES += log
log_SRCS := log/log.c
log_TESTS := log/log_test.c
log_DEPS := mem
