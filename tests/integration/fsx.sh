#!/usr/bin/env bash
# fsx: random writes, truncates, reads, fsyncs and reopens at random offsets
# and sizes (tests/fs/fsx.c) on a file on a WormFS mount and on a reference
# copy on the local disk, compared after every read and in full every few
# thousand operations.  Two runs: a file up to 64 MiB (many stripes, holes,
# writes up to 4 MiB), and a file kept around the 4 MiB stripe size, where
# small-file replicas turn into coded stripes and back.  The seeds are
# printed; WFS_FSX_SEED replays both runs, WFS_FSX_OPS sets the count.
# Usage: fsx.sh BUILD_DIR
set -u
. "$(dirname "$0")/../lib.sh"
wfs_init "${1:-build}"
wfs_need fsx
wfs_cluster_up 6
ref=$WFS_TMP/ref
mkdir -p "$ref"
ops=${WFS_FSX_OPS:-10000}
seed=()
[ -n "${WFS_FSX_SEED:-}" ] && seed=(-s "$WFS_FSX_SEED")

wfs_step "fsx: $ops operations on a file up to 64 MiB"
timeout -k 10 400 "$WFS_BUILD/bin/fsx" -n "$ops" -l 64m -o 4m -c 2000 \
	"${seed[@]}" "$WFS_MNT" "$ref" || wfs_fail "fsx (64 MiB) found a difference"

wfs_step "fsx: $ops operations on a file around the stripe size"
timeout -k 10 300 "$WFS_BUILD/bin/fsx" -n "$ops" -l 9m -o 1m -c 2000 \
	"${seed[@]}" "$WFS_MNT" "$ref" || wfs_fail "fsx (9 MiB) found a difference"
wfs_pass "fsx: the mount agreed with the reference"
