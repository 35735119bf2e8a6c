#!/usr/bin/env bash
# cluster: six nodes, policy 4+2, each storaged in its own network namespace
# (tests/lib.sh wfs_netns_up), a mount in the switch namespace, and a
# continuous write-and-verify workload (workload.sh) through it while:
#   1. a node, then a second, is killed with -9 (then both come back);
#   2. the master is killed with -9 (and comes back);
#   3. the network is split 3/3, then 4/2: the side without a majority of
#      voters refuses metadata writes, the other carries on; after healing
#      every node is alive again;
#   4. a node whose key the cluster never admitted tries to join, and to
#      write, read and stat a chunk on a member: it is refused each time;
#      a node with the cluster's join token joins by itself.
# No error may reach the workload, and at the end every file written is
# read back (through a fresh mount) and checked against its hash.
#
# Usage: cluster.sh [BUILD_DIR].  Needs root (namespaces, FUSE).
set -u
. "$(dirname "$0")/../lib.sh"
wfs_init "${1:-build}"
wfs_need storaged wormfs wormctl wfs_intruder
here=$(cd "$(dirname "$0")" && pwd)
NODES=6

wfs_step "six nodes, each in its own network namespace"
wfs_netns_up $((NODES + 2))	# then the intruder, then a node with the token
wfs_cluster_nodes_up "$NODES" 2
mnt=$WFS_TMP/mnt
wfs_mount "$WFS_APIS" "$mnt" || wfs_fail "wormfs did not mount"
mkdir "$mnt/work" || wfs_fail "mkdir on the mount"

manifest=$WFS_TMP/manifest
errlog=$WFS_TMP/errors
stop=$WFS_TMP/stop
: >"$manifest"
: >"$errlog"
bash "$here/workload.sh" "$mnt/work" "$stop" "$manifest" "$errlog" 5000 &
workload=$!
WFS_PIDS+=("$workload")

# written COUNT-BEFORE SECONDS: wait until the manifest grew past
# COUNT-BEFORE + 3 (the workload made progress), at most SECONDS.
progress() {
	local before=$1 secs=$2 i
	for ((i = 0; i < secs * 10; i++)); do
		[ "$(wc -l <"$manifest")" -gt $((before + 3)) ] && return 0
		wfs_alive "$workload" || return 1
		sleep 0.1
	done
	return 1
}

no_errors() {
	if [ -s "$errlog" ]; then
		cat "$errlog"
		wfs_fail "the workload saw errors ($1)"
	fi
}

# The node dir whose API is the master's.
master_dir() {
	local addr d
	addr=$(wfs_ctl -n "$WFS_APIS" -t 10 --json status |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["master_addr"] or "")')
	for d in "${WFS_NODES[@]}"; do
		[ "$(wfs_config_get "$d" api)" = "$addr" ] && { echo "$d"; return 0; }
	done
	return 1
}

node_index() { local d=$1; echo "${d##*node}"; }

kill_node() {
	local d=$1
	kill -KILL "$(cat "$d/storaged.pid")" 2>/dev/null
	wait "$(cat "$d/storaged.pid")" 2>/dev/null
	wfs_log "killed $(basename "$d") with -9"
}

restart_node() {
	local d=$1
	WFS_NODE_NS=$(node_index "$d") wfs_node_start "$d" ||
		wfs_fail "$(basename "$d") did not restart"
}

# The master's status shows WANT alive nodes, three of them voters (a dead
# voter's seat given to a live standby).
wait_state() {
	local want_alive=$1
	wfs_wait 30 "$want_alive alive nodes, 3 voters" \
		wfs_cluster_settled "$want_alive" 3
}

progress "$(wc -l <"$manifest")" 60 || wfs_fail "the workload makes no progress"

wfs_step "kill -9 one node, then a second"
m=$(master_dir) || wfs_fail "no master"
victims=()
for d in "${WFS_NODES[@]}"; do
	[ "$d" = "$m" ] && continue
	victims+=("$d")
	[ "${#victims[@]}" = 2 ] && break
done
kill_node "${victims[0]}"
# Three voters outlive one death at a time: the second waits until the
# first one's seat went to a live standby.
wait_state $((NODES - 1)) || wfs_fail "a dead node not seen as dead"
progress "$(wc -l <"$manifest")" 60 || wfs_fail "no progress with one node dead"
kill_node "${victims[1]}"
wait_state $((NODES - 2)) || wfs_fail "two dead nodes not seen as dead"
progress "$(wc -l <"$manifest")" 60 || wfs_fail "no progress with two nodes dead"
no_errors "two nodes dead"
# The stripes with chunks on the dead nodes wait for repair: status says so.
degraded=$(wfs_ctl -n "$WFS_APIS" -t 10 --json status |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["stripes_degraded"])')
[ "${degraded:-0}" -gt 0 ] ||
	wfs_fail "two nodes dead, yet status shows no degraded stripes"
wfs_log "$degraded stripes degraded with two nodes dead"
restart_node "${victims[0]}"
restart_node "${victims[1]}"
wait_state "$NODES" || wfs_fail "the two nodes did not come back"

wfs_step "kill -9 the master"
m=$(master_dir) || wfs_fail "no master"
kill_node "$m"
t0=$(date +%s%N)
new_master() { local d; d=$(master_dir) && [ "$d" != "$m" ]; }
wfs_wait 20 "a new master" new_master || wfs_fail "no new master"
wfs_log "new master $(basename "$(master_dir)") after $((($(date +%s%N) - t0) / 1000000)) ms"
progress "$(wc -l <"$manifest")" 60 || wfs_fail "no progress after the master died"
no_errors "master killed"
restart_node "$m"
wait_state "$NODES" || wfs_fail "the old master did not come back"

# apis_of "I J ...": the API addresses of those nodes.
apis_of() {
	local i out=
	for i in $1; do
		out+=${out:+,}$(wfs_config_get "$WFS_TMP/node$i" api)
	done
	echo "$out"
}

# side_leads "I J ...": do those nodes, asked alone, name a master among
# themselves?
side_leads() {
	local apis
	apis=$(apis_of "$1")
	wfs_ctl -n "$apis" -t 3 --json status 2>/dev/null | python3 -c '
import json, sys
st = json.load(sys.stdin)
sys.exit(0 if st.get("master_addr") in sys.argv[1].split(",") else 1)' "$apis"
}

# split "A" "B": cut the network between groups A and B of node indexes;
# the side without the master (it has too few voters to elect one) must
# refuse a metadata write made through one of its nodes; the workload,
# whose mount reaches every node, goes on.
split() {
	local a=$1 b=$2 minority= i
	wfs_netns_split "$a" "$b"
	wfs_log "network split: {$a} | {$b}"
	# A master cut off from most voters steps down after an election
	# timeout (about 1 s) and the other side elects one: give it time,
	# then find the side whose nodes name a master among themselves.
	sleep 4
	for ((i = 0; i < 30; i++)); do
		[ -n "$minority" ] && break
		if side_leads "$a" && ! side_leads "$b"; then
			minority=$b
		elif side_leads "$b" && ! side_leads "$a"; then
			minority=$a
		else
			sleep 1
		fi
	done
	[ -n "$minority" ] || wfs_fail "neither side of {$a} | {$b} has a master"
	i=${minority%% *}
	# A write through the minority alone must not succeed.
	echo x >"$WFS_TMP/x"
	if wfs_ctl -n "$(wfs_config_get "$WFS_TMP/node$i" api)" -t 8 put \
		"$WFS_TMP/x" "/minority-$i" >/dev/null 2>&1; then
		wfs_fail "node $i, on the minority side {$minority}, took a metadata write"
	fi
	wfs_log "node $i on the minority side refused the write"
	# The master's side carries on when it can: 4+2 stripes need six
	# disks (two per node here); with fewer, writes wait for the heal.
	local majority=$a
	[ "$minority" = "$a" ] && majority=$b
	set -- $majority
	if [ $(($# * 2)) -ge 6 ]; then
		progress "$(wc -l <"$manifest")" 60 ||
			wfs_fail "no progress while split {$a} | {$b}"
	else
		wfs_log "the master's side {$majority} has too few disks for 4+2: writes wait for the heal"
		sleep 5
	fi
	wfs_netns_heal
	wfs_log "network healed"
	wait_state "$NODES" || wfs_fail "the nodes did not all come back after the split"
	progress "$(wc -l <"$manifest")" 60 || wfs_fail "no progress after healing"
	no_errors "split {$a} | {$b}"
}

wfs_step "split 3/3, heal"
split "1 2 3" "4 5 6"
wfs_step "split 4/2, heal"
split "1 2 3 4" "5 6"

wfs_step "a node with a key never admitted"
intruder=$WFS_TMP/node$((NODES + 1))
WFS_CFG_VOTERS=3 WFS_CFG_SEEDS=$(wfs_config_get "$WFS_TMP/node1" api) \
	WFS_CFG_HOST=10.77.$((NODES + 1)).2 \
	wfs_write_config "$intruder" intruder 1 7700 7701 7702 7780 ||
	wfs_fail "cannot write the intruder's config"
WFS_LOGS+=("$intruder/storaged.log")
WFS_NODE_NS=$((NODES + 1)) wfs_node_start "$intruder" ||
	wfs_fail "the intruder's storaged did not start"
wfs_wait 20 "the intruder to be refused" \
	grep -q "refuses this node's key" "$intruder/storaged.log" ||
	wfs_fail "the intruder was not told its key is refused"
# Nor is it listed among the nodes.
ikey=$("$WFS_BUILD/bin/storaged" --show-key -c "$intruder/storaged.yaml")
wfs_ctl -n "$WFS_APIS" -t 10 --json status | grep -q "\"intruder\"" &&
	wfs_fail "the intruder appears among the nodes"
wfs_log "intruder refused (key ${ikey:0:16}...)"
wfs_node_stop "$intruder" KILL
# On the node transport, with the same key and from the same namespace, it
# tries to write, read and stat a chunk on a member (tests/tools/intruder.c):
# each link is refused after the handshake, the member logs the refusal
# once, naming the key (further refusals of that key within a minute are
# only counted), and no file of that chunk appears on any disk.  Its storaged is
# gone, so the member's lines from 10.77.7.2 from now on are the tool's.
target=${WFS_NODES[0]}
tpeer=$(wfs_config_get "$target" peer)
tkey=$("$WFS_BUILD/bin/storaged" --show-key -c "$target/storaged.yaml")
sid=0x00badc0de0badc0d	# no stripe the workload gets has such an id
chunk_files() { find "${WFS_NODES[@]/%//disks}" -name "$(printf '%016x' "$sid")-*"; }
[ -z "$(chunk_files)" ] || wfs_fail "stripe $sid is on a disk before the intruder came"
mark=$(wc -l <"$target/storaged.log")
out=$(TMPDIR=$WFS_TMP wfs_in_node $((NODES + 1)) "$WFS_BUILD/bin/wfs_intruder" \
	-k "$intruder/data" -s "$sid" "$tpeer" "$tkey" 2>&1)
rc=$?
printf '%s\n' "$out"
[ "$rc" = 0 ] || wfs_fail "the intruder's chunk requests were not all refused (wfs_intruder exit $rc)"
refused=$(tail -n +$((mark + 1)) "$target/storaged.log" |
	grep -c "warn  net: link [0-9]* from 10\.77\.$((NODES + 1))\.2:[0-9]*: unknown peer key $ikey; closing$")
others=$(tail -n +$((mark + 1)) "$target/storaged.log" |
	grep -E " (net|transfer): .*10\.77\.$((NODES + 1))\.2" | grep -vc "unknown peer key")
[ "$refused" = 1 ] && [ "$others" = 0 ] ||
	wfs_fail "$(basename "$target") logged $refused refusals naming the intruder's key for its 3 links, want 1 (and $others other lines about it)"
[ -z "$(chunk_files)" ] || wfs_fail "the intruder's chunk is on a disk: $(chunk_files)"
# The control: an admitted key (node2's) on the same path is answered, so
# what refused the intruder was its key.
TMPDIR=$WFS_TMP wfs_in_node $((NODES + 1)) "$WFS_BUILD/bin/wfs_intruder" -o stat \
	-k "${WFS_NODES[1]}/data" -s "$sid" "$tpeer" "$tkey" >"$WFS_TMP/control" 2>&1
rc=$?
[ "$rc" = 1 ] && grep -q "^stat: admitted: the target answered (No such file" "$WFS_TMP/control" || {
	cat "$WFS_TMP/control"
	wfs_fail "an admitted key was not answered on the intruder's path (wfs_intruder exit $rc)"
}
wfs_log "the intruder's chunk write, read and stat refused by $(basename "$target"), logged once with its key"
no_errors "intruder"

wfs_step "a node with the join token admits itself"
token=$(wfs_ctl -n "$WFS_APIS" -t 20 --json join-token |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])') ||
	wfs_fail "no join token"
[ "${#token}" = 64 ] || wfs_fail "a join token of ${#token} characters"
tnode=$WFS_TMP/node$((NODES + 2))
WFS_CFG_VOTERS=3 WFS_CFG_SEEDS=$(wfs_config_get "$WFS_TMP/node1" api) \
	WFS_CFG_TOKEN=$token WFS_CFG_HOST=10.77.$((NODES + 2)).2 \
	wfs_write_config "$tnode" token-node 2 7700 7701 7702 7780 ||
	wfs_fail "cannot write the token node's config"
WFS_LOGS+=("$tnode/storaged.log")
WFS_NODE_NS=$((NODES + 2)) wfs_node_start "$tnode" ||
	wfs_fail "the token node's storaged did not start"
wfs_wait 30 "the token node to join" wfs_cluster_settled $((NODES + 1)) 3 ||
	wfs_fail "the node with the join token did not join"
# Renewed, the token changes (the old one no longer admits anyone).
token2=$(wfs_ctl -n "$WFS_APIS" -t 20 --json join-token renew |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
[ -n "$token2" ] && [ "$token2" != "$token" ] ||
	wfs_fail "join-token renew did not make a new token"
wfs_log "token node joined; token renewed"
wfs_node_stop "$tnode" TERM
no_errors "token node"

wfs_step "stop the workload, check every file through a fresh mount"
touch "$stop"
for ((i = 0; i < 600; i++)); do
	wfs_alive "$workload" || break
	sleep 0.1
done
wfs_alive "$workload" && wfs_fail "the workload did not stop"
no_errors "end"
wfs_umount "$mnt" || wfs_fail "cannot unmount"
wfs_mount "$WFS_APIS" "$mnt" || wfs_fail "wormfs did not mount again"
count=$(wc -l <"$manifest")
[ "$count" -ge 20 ] || wfs_fail "only $count files were written"
bad=0
while read -r sum name; do
	got=$(sha256sum <"$mnt/work/$name" | cut -d' ' -f1)
	[ "$got" = "$sum" ] || { echo "$name: $got, want $sum"; bad=$((bad + 1)); }
done <"$manifest"
[ "$bad" = 0 ] || wfs_fail "$bad of $count files differ from what was written"
extra=$(ls "$mnt/work" | grep -vc '\.tmp$')
[ "$extra" = "$count" ] || wfs_fail "$extra files in the directory, $count written"

wfs_step "a disk goes offline: the master shows it within 3 s (gossip)"
m=$(master_dir) || wfs_fail "no master"
for d in "${WFS_NODES[@]}"; do [ "$d" != "$m" ] && { v=$d; break; }; done
disk_state() {
	wfs_ctl -n "$(wfs_config_get "$m" api)" -t 5 --json status | python3 -c '
import json, sys
print(" ".join(d["state"] for n in json.load(sys.stdin)["nodes"]
	       for d in n.get("disks", []) if d["path"] == sys.argv[1]))' "$1"
}
[ "$(disk_state "$v/disks/d1")" = online ] ||
	wfs_fail "$(basename "$v")'s d1 is not online before: $(disk_state "$v/disks/d1")"
# Gone from under the node: its store takes the disk offline.
mv "$v/disks/d1" "$v/disks/d1.gone"
t0=$(date +%s%N)
d1_offline() { [ "$(disk_state "$v/disks/d1")" = offline ]; }
wfs_wait 3 "d1 of $(basename "$v") offline on the master" d1_offline ||
	wfs_fail "the master shows $(basename "$v")'s d1 $(disk_state "$v/disks/d1") 3 s after it went"
wfs_log "the master saw d1 of $(basename "$v") offline after $((($(date +%s%N) - t0) / 1000000)) ms"

wfs_pass "six nodes: $count files written through kills, a master's death and splits, all intact"
