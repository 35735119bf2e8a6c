#!/usr/bin/env bash
# big_file: a 1 GiB file of random bytes written to a WormFS mount with dd
# (1 MiB blocks, fsync at the end) reads back, after a remount and with the
# page cache dropped, with the same SHA-256 and size; on a mismatch cmp says
# where.  WFS_BIG_MIB sets the size in MiB (default 1024).
# Usage: big_file.sh BUILD_DIR
set -u
. "$(dirname "$0")/../lib.sh"
wfs_init "${1:-build}"
mib=${WFS_BIG_MIB:-1024}
wfs_cluster_up 6

wfs_step "make $mib MiB of random data on the local disk"
src=$WFS_TMP/big.src
head -c $((mib << 20)) /dev/urandom >"$src" || wfs_fail "cannot make the source"
want=$(sha256sum <"$src" | cut -d' ' -f1)
wfs_log "sha256 $want"

wfs_step "write it to the mount with dd (1 MiB blocks, conv=fsync)"
start=$(date +%s%N)
timeout -k 10 600 dd if="$src" of="$WFS_MNT/big" bs=1M conv=fsync status=none ||
	wfs_fail "dd to the mount failed"
wfs_log "written in $((($(date +%s%N) - start) / 1000000)) ms"
size=$(stat -c %s "$WFS_MNT/big")
[ "$size" = $((mib << 20)) ] || wfs_fail "size $size after writing, expected $((mib << 20))"

wfs_step "remount, drop caches, read back"
wfs_remount
wfs_drop_caches
size=$(stat -c %s "$WFS_MNT/big")
[ "$size" = $((mib << 20)) ] || wfs_fail "size $size after remount, expected $((mib << 20))"
got=$(timeout -k 10 600 dd if="$WFS_MNT/big" bs=1M status=none | sha256sum | cut -d' ' -f1)
wfs_log "sha256 $got"
if [ "$got" != "$want" ]; then
	cmp "$src" "$WFS_MNT/big" | head -n 5
	wfs_fail "the file read back differs from what was written"
fi
wfs_pass "$mib MiB written and read back with the same SHA-256"
