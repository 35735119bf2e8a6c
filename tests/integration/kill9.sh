#!/usr/bin/env bash
# kill9: storaged killed with SIGKILL while files are being written, three
# times, and restarted each time; afterwards every file whose fsync
# succeeded is intact.
#
# A writer loop writes files of 4 KiB to 16 MiB (small-file replicas and
# coded stripes) with dd conv=fsync, each from a random source kept on the
# local disk, and logs the files whose dd (write, fsync, close) succeeded.
# Each kill comes while a file of 5 MiB or more is being written.  Writes
# caught by a kill may fail or wait for the node to return: both are fine,
# only a logged file must be intact.  The mount is given the chance to
# recover by itself (the client retries); if it does not answer, it is
# remounted.  Every logged file is then compared with its source through a
# fresh mount (remount, caches dropped).  The writer must have made
# progress after the last restart.
# Usage: kill9.sh BUILD_DIR
set -u
. "$(dirname "$0")/../lib.sh"
wfs_init "${1:-build}"
wfs_cluster_up 6

srcdir=$WFS_TMP/src
synced=$WFS_TMP/synced
mkdir -p "$srcdir" "$WFS_MNT/k9"
: >"$synced"
sizes=(4096 100000 1048583 5242883 16777259)

# Runs in the background until $WFS_TMP/writing goes away (or 20,000 files).
writer() {
	local i=0 size
	while [ -e "$WFS_TMP/writing" ] && ((i < 20000)); do
		i=$((i + 1))
		size=${sizes[i % ${#sizes[@]}]}
		head -c "$size" /dev/urandom >"$srcdir/f$i"
		echo "$i $size" >"$WFS_TMP/inflight"
		if timeout -k 5 60 dd if="$srcdir/f$i" of="$WFS_MNT/k9/f$i" \
			bs=1M conv=fsync status=none 2>>"$WFS_TMP/writer.err"; then
			echo "$i" >>"$synced"
		else
			echo "f$i: not synced" >>"$WFS_TMP/writer.err"
		fi
		rm -f "$WFS_TMP/inflight"
	done
}

nsynced() { wc -l <"$synced"; }

# Wait (up to 60 s) until a file of 5 MiB or more is being written; its
# number is left in $big.
big=
wait_big_write() {
	local i size
	for ((i = 0; i < 3000; i++)); do
		read -r big size 2>/dev/null <"$WFS_TMP/inflight" &&
			[ "${size:-0}" -ge 5000000 ] && return 0
		sleep 0.02
	done
	return 1
}

# wait_synced N SECONDS: until at least N files are synced.
wait_synced() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		[ "$(nsynced)" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

wfs_step "start writing files with fsync"
touch "$WFS_TMP/writing"
writer &
wpid=$!
WFS_PIDS+=("$wpid")

for round in 1 2 3; do
	n=$(nsynced)
	wait_synced $((n + 5)) 120 ||
		wfs_fail "the writer synced no 5 files in 120 s (round $round, $(nsynced) so far)"
	wait_big_write || wfs_fail "no large write started in 60 s"
	sleep 0.05
	wfs_step "round $round: kill -9 storaged while f$big is written, $(nsynced) files synced"
	wfs_node_stop "$WFS_NODE" KILL
	sleep 2
	wfs_node_start "$WFS_NODE" || wfs_fail "storaged did not restart"
done

n=$(nsynced)
wait_synced $((n + 3)) 120 ||
	wfs_fail "no file was synced in 120 s after the last restart"
wfs_log "writer still making progress: $(nsynced) files synced"
rm -f "$WFS_TMP/writing"
for ((i = 0; i < 900; i++)); do
	wfs_alive "$wpid" || break
	sleep 0.1
done
if wfs_alive "$wpid"; then
	wfs_log "writer still busy after 90 s: stopping it"
	kill -KILL "$wpid" 2>/dev/null
fi
wait "$wpid" 2>/dev/null
total=$(ls "$srcdir" | wc -l)
failed=$(grep -c 'not synced' "$WFS_TMP/writer.err" 2>/dev/null)
wfs_log "$(nsynced) of $total files synced, ${failed:-0} failed (killed mid-write)"

wfs_step "is the mount still answering?"
if timeout -k 5 30 ls "$WFS_MNT/k9" >/dev/null 2>&1; then
	wfs_log "the mount recovered by itself"
else
	wfs_log "the mount does not answer: it will be remounted"
fi

wfs_step "remount, drop caches, compare every synced file with its source"
wfs_remount
wfs_drop_caches
bad=0
while read -r i; do
	if ! timeout -k 5 60 cmp -s "$srcdir/f$i" "$WFS_MNT/k9/f$i"; then
		bad=$((bad + 1))
		if ((bad <= 10)); then
			echo "f$i ($(stat -c %s "$srcdir/f$i") bytes) differs or is unreadable:"
			timeout 60 cmp "$srcdir/f$i" "$WFS_MNT/k9/f$i" 2>&1 | head -n 2
		fi
	fi
done <"$synced"
[ "$bad" = 0 ] || wfs_fail "$bad of $(nsynced) synced files are not intact"
wfs_pass "$(nsynced) synced files intact after 3 kill -9 of storaged"
