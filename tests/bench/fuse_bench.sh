#!/usr/bin/env bash
# fuse_bench: the file system figures of a WormFS mount and of a plain FUSE
# passthrough of a local directory, measured in the same run with the same
# program (fs_bench), so one can be read against the other.
#
#   BENCH passthrough_<name> ...   fuse_passthrough over a directory
#   BENCH fuse_<name> ...          wormfs on a one-node cluster, six disks
#   BENCH storaged_rss_max <MiB> MiB   storaged's peak resident size (VmHWM)
#                                  over the whole WormFS run
#   BENCH wormfs_rss_max <MiB> MiB     the same for the wormfs client
# where <name> is seq_write, seq_read (MB/s, 1 MiB blocks, caches dropped
# before reading), create, stat, unlink (ops/s over 10,000 files in one
# directory), small_write, small_read (files/s, 64 KiB files).
#
# Usage: fuse_bench.sh BUILD_DIR.  Everything goes under WFS_BENCH_DIR
# (default /var/tmp: on disk) and is removed afterwards.  WFS_FUSE_BENCH_SIZE
# sets the sequential file size (default 2g).  Without storaged and wormfs
# (before issue 3) only the passthrough figures are printed.  Needs root
# (FUSE mounts, drop_caches).
set -u
# BENCH lines go to the real stdout (fd 3); everything else to stderr.
exec 3>&1 1>&2
. "$(dirname "$0")/../lib.sh"
WFS_TMPROOT=${WFS_BENCH_DIR:-/var/tmp}
wfs_init "${1:-build}"
wfs_need fs_bench fuse_passthrough
size=${WFS_FUSE_BENCH_SIZE:-2g}

# The peak resident size of process @1 in MiB, from /proc (VmHWM).
rss_max_mib() {
	awk '/^VmHWM:/ { printf "%.1f\n", $2 / 1024 }' "/proc/$1/status" 2>/dev/null
}

bench() {
	timeout -k 10 1800 "$WFS_BUILD/bin/fs_bench" -p "$1" -s "$size" "$2" >&3 ||
		wfs_fail "fs_bench on $2 failed"
}

# Plain passthrough: the same max_write (1 MiB) and read_ahead_kb (4096) as
# the WormFS client sets.
src=$WFS_TMP/pt-src
mnt=$WFS_TMP/pt-mnt
mkdir -p "$src" "$mnt"
"$WFS_BUILD/bin/fuse_passthrough" -m 1048576 -r 4096 -o default_permissions \
	"$src" "$mnt" >>"$WFS_TMP/passthrough.log" 2>&1 </dev/null &
pt_pid=$!
wfs_track_mount "$mnt" "$pt_pid" "$WFS_TMP/passthrough.log"
wfs_wait_mounted "$mnt" "$pt_pid" "$WFS_TMP/passthrough.log" fuse_passthrough ||
	wfs_fail "the passthrough did not mount"
bench passthrough "$mnt"
wfs_umount "$mnt" || wfs_fail "cannot unmount the passthrough"

if [ ! -x "$WFS_BUILD/bin/storaged" ] || [ ! -x "$WFS_BUILD/bin/wormfs" ]; then
	echo "fuse_bench: storaged/wormfs not built (issue 3): fuse_* skipped" >&2
	exit 0
fi
wfs_cluster_up 6
bench fuse "$WFS_MNT"
node_rss=$(rss_max_mib "$WFS_NODE_PID")
client_rss=$(rss_max_mib "$WFS_MOUNT_PID")
[ -n "$node_rss" ] || wfs_fail "storaged is gone: it did not survive the bench"
echo "BENCH storaged_rss_max $node_rss MiB" >&3
awk -v r="$node_rss" 'BEGIN { exit !(r >= 200) }' &&
	echo "fuse_bench: storaged peaked at $node_rss MiB, over its 200 MiB budget"
[ -n "$client_rss" ] && echo "BENCH wormfs_rss_max $client_rss MiB" >&3
exit 0
