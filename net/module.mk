MODULES += net
net_SRCS := net/secchan.c net/link.c net/relay.c net/keylimit.c net/mpread.c \
	net/raft_transport.c
net_TESTS := net/secchan_test.c net/link_test.c net/keylimit_test.c \
	net/mpread_test.c \
	net/raft_transport_test.c
net_DEPS := mem log
