#!/usr/bin/env bash
# Run each benchmark binary; each prints "BENCH <name> <value> <unit>" lines.
# Then the FUSE bench (tests/bench/fuse_bench.sh: WormFS and a plain
# passthrough mounted and measured in the same run) and the cluster bench
# (tests/bench/cluster_bench.sh: six nodes, failover and detection), given
# the build dir the binaries are in; WFS_SKIP_FUSE_BENCH=1 leaves both out.
# Scratch data goes under WFS_BENCH_DIR (default: a folder in /var/tmp, which
# is on disk, unlike a tmpfs /tmp), removed afterwards.
set -u
dir=${WFS_BENCH_DIR:-$(mktemp -d /var/tmp/wfs-bench.XXXXXX)}
mkdir -p "$dir"
trap 'rm -rf "$dir"' EXIT
status=0
build=build
for b in "$@"; do
	build=$(dirname "$(dirname "$b")")
	WFS_BENCH_DIR=$dir "$b" || { echo "bench $(basename "$b") failed" >&2; status=1; }
done
if [ "${WFS_SKIP_FUSE_BENCH:-0}" != 1 ]; then
	WFS_BENCH_DIR=$dir "$(dirname "$0")/bench/fuse_bench.sh" "$build" ||
		{ echo "bench fuse_bench failed" >&2; status=1; }
	WFS_BENCH_DIR=$dir "$(dirname "$0")/bench/cluster_bench.sh" "$build" ||
		{ echo "bench cluster_bench failed" >&2; status=1; }
fi
exit $status
