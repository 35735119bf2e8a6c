#!/usr/bin/env bash
# Run each benchmark binary; each prints "BENCH <name> <value> <unit>" lines.
# Scratch data goes under WFS_BENCH_DIR (default: a folder in /var/tmp, which
# is on disk, unlike a tmpfs /tmp), removed afterwards.
set -u
dir=${WFS_BENCH_DIR:-$(mktemp -d /var/tmp/wfs-bench.XXXXXX)}
mkdir -p "$dir"
trap 'rm -rf "$dir"' EXIT
status=0
for b in "$@"; do
	WFS_BENCH_DIR=$dir "$b" || { echo "bench $(basename "$b") failed" >&2; status=1; }
done
exit $status
