# fuse: the wormfs FUSE mount (libfuse3 low-level API, multithreaded): the
# operations (ops.c) over the client library, the kernel inode table
# (itable.c), and the program (main.c).
MODULES += fuse
fuse_SRCS := fuse/ops.c fuse/itable.c
fuse_TESTS := fuse/itable_test.c
fuse_DEPS := client rpc proto erasure chunk mem log

PROGRAMS += wormfs
wormfs_MAIN := fuse/main.c
wormfs_USES := fuse client rpc proto erasure chunk mem log

# These include the generated proto header through client/ (spelled out:
# proto/module.mk is read after this file).
$(B)/fuse/ops.o $(B)/fuse/main.o: | $(B)/proto/wormfs.pb-c.h
