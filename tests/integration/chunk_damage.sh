#!/usr/bin/env bash
# chunk_damage: chunk files deleted or corrupted on the disks, after which
# reads still return the right bytes (from parity, or from another replica).
#
# On a one-node cluster with six disks (policy 4+2, 1 MiB chunks) it writes
# a 16 MiB + 100 KiB file (four coded stripes and a tail) and a 64 KiB file
# (replicas), finds their chunk files on the disks (<disk>/chunks/NNN/, the
# 80-byte header of each naming its file, stripe, version and index: see
# storaged/disk.c and chunk/format.c), then:
#   1. with storaged running: in one coded stripe deletes data chunk 0 and
#      corrupts data chunk 2 (two losses, as many as m = 2 allows), in
#      another corrupts data chunk 1; in the small file's stripe deletes one
#      replica and corrupts another;
#   2. remounts, drops caches and compares both files with their sources;
#   3. stops storaged, deletes data chunk 1 and corrupts data chunk 3 of a
#      third stripe, starts it again (its start-up scan sees the damage) and
#      compares again.
# Usage: chunk_damage.sh BUILD_DIR
set -u
. "$(dirname "$0")/../lib.sh"
wfs_init "${1:-build}"
wfs_cluster_up 6

big_size=$((16 * 1048576 + 102400))
small_size=$((65536 + 5))

wfs_step "write a $big_size-byte file and a $small_size-byte file"
head -c "$big_size" /dev/urandom >"$WFS_TMP/big.src"
head -c "$small_size" /dev/urandom >"$WFS_TMP/small.src"
for f in big small; do
	timeout -k 10 120 dd if="$WFS_TMP/$f.src" of="$WFS_MNT/$f" bs=1M \
		conv=fsync status=none || wfs_fail "writing $f failed"
done
big_ino=$(stat -c %i "$WFS_MNT/big")
small_ino=$(stat -c %i "$WFS_MNT/small")
wfs_umount "$WFS_MNT" || wfs_fail "cannot unmount"

# u64 LE at byte @2 of file @1.
u64() { od -An -v -t u8 -j "$2" -N 8 "$1" | tr -d ' '; }
u8() { od -An -v -t u1 -j "$2" -N 1 "$1" | tr -d ' '; }

# Print "file_id stripe_index version kind chunk_index data_len path" for
# every chunk file of the node.
list_chunks() {
	local c
	for c in "$WFS_NODE"/disks/d*/chunks/[0-9][0-9][0-9]/*-*-*; do
		[ -f "$c" ] || continue
		printf '%s %s %s %s %s %s %s\n' "$(u64 "$c" 40)" "$(u64 "$c" 48)" \
			"$(u64 "$c" 32)" "$(u8 "$c" 8)" "$(u8 "$c" 9)" \
			"$(od -An -v -t u4 -j 12 -N 4 "$c" | tr -d ' ')" "$c"
	done
}

# The chunks of the newest version of stripe @2 of file @1, one
# "kind index len path" per line, by index.
stripe_chunks() {
	local v
	v=$(awk -v f="$1" -v s="$2" '$1 == f && $2 == s { print $3 }' \
		"$WFS_TMP/chunks" | sort -n | tail -n 1)
	[ -n "$v" ] || return 1
	awk -v f="$1" -v s="$2" -v v="$v" \
		'$1 == f && $2 == s && $3 == v { print $4, $5, $6, $7 }' \
		"$WFS_TMP/chunks" | sort -k2,2n
}

# chunk_path STRIPE_LINES INDEX: the path of chunk INDEX.
chunk_path() { awk -v i="$2" '$2 == i { print $4 }' <<<"$1"; }

corrupt() {
	local c=$1 len=$2 before
	before=$(sha256sum <"$c")
	printf 'CORRUPTED BY chunk_damage.sh %.0s' 1 2 |
		dd of="$c" bs=1 seek=$((80 + len / 2)) conv=notrunc status=none
	[ "$(sha256sum <"$c")" != "$before" ] || wfs_fail "could not corrupt $c"
	wfs_log "corrupted $c"
}

remove() {
	rm -f "$1" || wfs_fail "cannot delete $1"
	wfs_log "deleted $1"
}

# damage FILE_ID STRIPE_INDEX DELETE CORRUPT: delete chunk DELETE and
# corrupt chunk CORRUPT ("-" for none) of that stripe.
damage() {
	local lines path len
	lines=$(stripe_chunks "$1" "$2") ||
		wfs_fail "no chunks found for stripe $2 of file $1"
	if [ "$3" != - ]; then
		path=$(chunk_path "$lines" "$3")
		[ -n "$path" ] || wfs_fail "stripe $2 of file $1 has no chunk $3"
		remove "$path"
	fi
	if [ "$4" != - ]; then
		path=$(chunk_path "$lines" "$4")
		[ -n "$path" ] || wfs_fail "stripe $2 of file $1 has no chunk $4"
		len=$(awk -v i="$4" '$2 == i { print $3 }' <<<"$lines")
		corrupt "$path" "$len"
	fi
}

compare_files() {
	local f
	for f in big small; do
		timeout -k 10 120 cmp "$WFS_TMP/$f.src" "$WFS_MNT/$f" ||
			wfs_fail "$f reads back wrong after the damage"
	done
	wfs_log "both files read back intact"
}

wfs_step "find the chunk files on the disks"
list_chunks >"$WFS_TMP/chunks"
wfs_log "$(wc -l <"$WFS_TMP/chunks") chunk files"
# The file ids the headers carry are the inode numbers stat shows.
nbig=$(awk -v f="$big_ino" '$1 == f' "$WFS_TMP/chunks" | wc -l)
nsmall=$(awk -v f="$small_ino" '$1 == f' "$WFS_TMP/chunks" | wc -l)
wfs_log "file big (inode $big_ino): $nbig chunk files; small (inode $small_ino): $nsmall"
((nbig >= 18 && nsmall >= 2)) ||
	wfs_fail "too few chunks found for the files (headers' file ids vs st_ino?)"
ec_stripes=$(awk -v f="$big_ino" '$1 == f && $4 == 1 { print $2 }' \
	"$WFS_TMP/chunks" | sort -un)
[ "$(wc -w <<<"$ec_stripes")" -ge 3 ] ||
	wfs_fail "the big file has fewer than 3 coded stripes: $ec_stripes"
read -r s1 s2 s3 _ <<<"$(tr '\n' ' ' <<<"$ec_stripes")"
small_stripe=$(awk -v f="$small_ino" '$1 == f { print $2 }' "$WFS_TMP/chunks" |
	sort -un | head -n 1)
small_kind=$(stripe_chunks "$small_ino" "$small_stripe" | awk 'NR == 1 { print $1 }')

wfs_step "damage chunks while storaged runs"
damage "$big_ino" "$s1" 0 2
damage "$big_ino" "$s2" - 1
if [ "$small_kind" = 2 ]; then
	damage "$small_ino" "$small_stripe" 0 1
else
	damage "$small_ino" "$small_stripe" 0 2
fi

wfs_step "mount again, drop caches, read both files back"
wfs_drop_caches
wfs_mount "$WFS_API" "$WFS_MNT" || wfs_fail "wormfs did not mount"
compare_files
wfs_umount "$WFS_MNT" || wfs_fail "cannot unmount"

wfs_step "stop storaged, damage a third stripe, start it, read again"
wfs_node_stop "$WFS_NODE"
damage "$big_ino" "$s3" 1 3
wfs_node_start "$WFS_NODE" || wfs_fail "storaged did not restart"
wfs_drop_caches
wfs_mount "$WFS_API" "$WFS_MNT" || wfs_fail "wormfs did not mount"
compare_files
wfs_pass "reads return the right bytes with chunks deleted and corrupted"
