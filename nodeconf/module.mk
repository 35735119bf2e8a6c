MODULES += nodeconf
nodeconf_SRCS := nodeconf/config.c
nodeconf_TESTS := nodeconf/config_test.c
nodeconf_DEPS := mem log erasure
