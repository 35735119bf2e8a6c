# wormctl: the admin CLI.  Two modules: wormctl holds the parts that need
# no cluster (arguments, paths, value formats, the text/JSON output) and
# has the unit suites; wormctl_cmds holds the commands, which talk to a
# cluster through the client library and are tested by
# tests/integration/wormctl.sh.
MODULES += wormctl
wormctl_SRCS := wormctl/args.c wormctl/fmt.c wormctl/out.c wormctl/path.c
wormctl_TESTS := wormctl/args_test.c wormctl/fmt_test.c wormctl/out_test.c \
	wormctl/path_test.c
wormctl_DEPS := mem log

MODULES += wormctl_cmds
wormctl_cmds_SRCS := wormctl/session.c wormctl/status.c wormctl/ls.c \
	wormctl/io.c wormctl/node.c wormctl/disk.c
wormctl_cmds_DEPS := wormctl client rpc proto erasure chunk mem log

PROGRAMS += wormctl
wormctl_MAIN := wormctl/main.c
wormctl_USES := wormctl wormctl_cmds client rpc proto erasure chunk mem log

# The commands include the generated proto header (see proto/module.mk).
# Spelled out: the Makefile's objs function is defined after module.mk
# files are read.
$(B)/wormctl/session.o $(B)/wormctl/status.o $(B)/wormctl/ls.o \
	$(B)/wormctl/io.o $(B)/wormctl/node.o $(B)/wormctl/disk.o \
	$(B)/wormctl/main.o: | \
	$(B)/proto/wormfs.pb-c.h
