#!/usr/bin/env bash
# cluster_bench: the figures of a six-node cluster on this machine (each
# node on 127.0.0.1 with two disks, three voters, policy 4+2, raft over the
# encrypted node transport), mounted with wormfs:
#
#   BENCH cluster_<name> ...   fs_bench through the mount (seq_write and
#                              seq_read MB/s on a 2 GiB file, create, stat,
#                              unlink ops/s, small_write/small_read files/s)
#   BENCH failover_ms <ms> ms  master killed with -9 to the first metadata
#                              write (a mkdir through the mount) that
#                              succeeds; median of 3
#   BENCH detect_ms <ms> ms    a node killed with -9 to every other node
#                              showing it dead in its own status (gossip);
#                              median of 3
#
# Usage: cluster_bench.sh BUILD_DIR.  Scratch under WFS_BENCH_DIR (default
# /var/tmp), removed afterwards.  WFS_FUSE_BENCH_SIZE sets the sequential
# file size (default 2g).  Needs root (FUSE).
set -u
exec 3>&1 1>&2
. "$(dirname "$0")/../lib.sh"
WFS_TMPROOT=${WFS_BENCH_DIR:-/var/tmp}
wfs_init "${1:-build}"
wfs_need storaged wormfs wormctl fs_bench
size=${WFS_FUSE_BENCH_SIZE:-2g}
RUNS=3

wfs_cluster_nodes_up 6 2
mnt=$WFS_TMP/mnt
wfs_mount "$WFS_APIS" "$mnt" || wfs_fail "wormfs did not mount"
mkdir "$mnt/bench" || wfs_fail "mkdir on the mount"
timeout -k 10 1800 "$WFS_BUILD/bin/fs_bench" -p cluster -s "$size" \
	"$mnt/bench" >&3 || wfs_fail "fs_bench on the cluster failed"

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# The node dir of the master, or of any other node (not the master).
status_json() { wfs_ctl -n "$WFS_APIS" -t 10 --json status; }
master_dir() {
	local addr d
	addr=$(status_json | python3 -c 'import json,sys; print(json.load(sys.stdin)["master_addr"] or "")')
	for d in "${WFS_NODES[@]}"; do
		[ "$(wfs_config_get "$d" api)" = "$addr" ] && { echo "$d"; return 0; }
	done
	return 1
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

kill_dir() {
	local pid
	pid=$(cat "$1/storaged.pid")
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
}

settle() {
	wfs_wait 60 "six nodes alive, three voters" wfs_cluster_settled 6 3 ||
		wfs_fail "the cluster did not settle"
}

# failover_ms: kill the master, time a mkdir through the mount (the
# client waits through the election and retries).
fo=()
for ((r = 1; r <= RUNS; r++)); do
	settle
	m=$(master_dir) || wfs_fail "no master"
	kill_dir "$m"
	t0=$(now_ms)
	mkdir "$mnt/failover-$r" || wfs_fail "mkdir after the master died"
	fo+=($(($(now_ms) - t0)))
	wfs_log "failover $r: ${fo[-1]} ms ($(basename "$m") killed)"
	wfs_node_start "$m" || wfs_fail "$(basename "$m") did not restart"
done
echo "BENCH failover_ms $(printf '%s\n' "${fo[@]}" | median) ms" >&3

# detect_ms: kill a node that is not the master, poll every other node's
# own view until all of them show it dead.
sees_dead() {
	local api=$1 victim=$2
	wfs_ctl -n "$api" -t 2 --json status 2>/dev/null | python3 -c '
import json, sys
st = json.load(sys.stdin)
sys.exit(0 if any(n["addr"] == sys.argv[1] and n["state"] == "dead"
		  for n in st["nodes"]) else 1)' "$victim"
}
det=()
for ((r = 1; r <= RUNS; r++)); do
	settle
	m=$(master_dir) || wfs_fail "no master"
	v=
	for d in "${WFS_NODES[@]}"; do
		[ "$d" != "$m" ] && [ "$d" != "${last_victim:-}" ] && { v=$d; break; }
	done
	last_victim=$v
	vapi=$(wfs_config_get "$v" api)
	others=()
	for d in "${WFS_NODES[@]}"; do
		[ "$d" != "$v" ] && others+=("$(wfs_config_get "$d" api)")
	done
	kill_dir "$v"
	t0=$(now_ms)
	# One poller per node, each noting when its node first shows the
	# victim dead; the figure is the last of them.
	pollers=()
	for api in "${others[@]}"; do
		(
			for ((i = 0; i < 400; i++)); do
				if sees_dead "$api" "$vapi"; then
					now_ms >"$WFS_TMP/seen.$api"
					exit 0
				fi
				sleep 0.02
			done
			exit 1
		) &
		pollers+=($!)
	done
	for p in "${pollers[@]}"; do
		wait "$p" || wfs_fail "not every node saw $(basename "$v") dead"
	done
	done_at=$(cat "$WFS_TMP"/seen.* | sort -n | tail -n 1)
	rm -f "$WFS_TMP"/seen.*
	det+=($((done_at - t0)))
	wfs_log "detect $r: ${det[-1]} ms ($(basename "$v") killed)"
	wfs_node_start "$v" || wfs_fail "$(basename "$v") did not restart"
done
echo "BENCH detect_ms $(printf '%s\n' "${det[@]}" | median) ms" >&3
exit 0
