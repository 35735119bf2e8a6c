# The runner (tests/unit_main.c) is linked by the top-level unit rule; the
# benchmarks and integration tests are listed here.

# Test programs run by the integration tests (tests/integration/) against a
# mounted file system; they use nothing of WormFS but mem and log.
# Whole-buffer pread/pwrite shared by the test programs.
MODULES += fsio
fsio_SRCS := tests/fs/fullio.c

PROGRAMS += posix_check
posix_check_MAIN := tests/fs/posix_check.c
posix_check_USES := fsio mem log

PROGRAMS += fsx
fsx_MAIN := tests/fs/fsx.c
fsx_USES := fsio mem log

# A node the cluster never admitted, on the real node transport: it tries
# to write, read and stat a chunk on a member and reports whether it was
# refused (tests/integration/cluster.sh).  It links what storaged links:
# the transfer client wants a chunk store, the key file is identity.c's.
PROGRAMS += wfs_intruder
wfs_intruder_MAIN := tests/tools/intruder.c
wfs_intruder_USES := daemon storaged placement metadata gossip net rpc proto \
	nodeconf chunk erasure mem log

# The FUSE bench: a plain passthrough to measure WormFS against, and the
# file system bench run on both mounts by tests/bench/fuse_bench.sh.
PROGRAMS += fuse_passthrough
fuse_passthrough_MAIN := tests/bench/passthrough.c
fuse_passthrough_USES := mem log

PROGRAMS += fs_bench
fs_bench_MAIN := tests/bench/fs_bench.c
fs_bench_USES := mem log

# Integration tests: each mounts a one-node cluster for real (tests/lib.sh)
# and is one pass or fail in `make test`.  Together about 5 minutes here.
INTEGRATION += tests/integration/posix.sh
INTEGRATION += tests/integration/fsx.sh
INTEGRATION += tests/integration/big_file.sh
INTEGRATION += tests/integration/kill9.sh
INTEGRATION += tests/integration/chunk_damage.sh
INTEGRATION += tests/integration/programs.sh
INTEGRATION += tests/integration/wormctl.sh
INTEGRATION += tests/integration/drain.sh
INTEGRATION += tests/integration/cluster.sh
