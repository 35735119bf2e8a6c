#!/usr/bin/env bash
# drain: `wormctl disk drain` empties a disk, and no data is lost on the
# way.  Four nodes on 127.0.0.1 with two disks each (policy 4+2), a mount,
# files of mixed sizes (multi-stripe EC ones, small replicated ones) with
# their sha256.  One disk of the standby node (not a voter, so killing it
# leaves the metadata group alone) is drained:
#   - the refusals: already draining, no such disk;
#   - new files written while it drains never land on it;
#   - its node is killed with -9 mid-drain and restarted: the drain goes
#     on from where it was;
#   - status shows the chunks left on it go to 0, its node logs "drained",
#     and once the collector ran its chunks/ folder holds no chunk file;
#   - every file reads back with its hash through a fresh mount;
#   - undrain puts it back in service (and a second undrain is refused).
# Every wait is bounded.  Usage: drain.sh [BUILD_DIR].  Needs FUSE.
set -u
. "$(dirname "$0")/../lib.sh"
wfs_init "${1:-build}"
wfs_need storaged wormfs wormctl

ctl() { wfs_ctl -n "$WFS_APIS" -t 20 "$@"; }

# json_get EXPR: evaluate EXPR on `wormctl --json status` (as d).
json_get() {
	ctl --json status | python3 -c "
import json, sys
d = json.load(sys.stdin)
print($1)"
}

wfs_step "four nodes of two disks each, mounted"
wfs_cluster_nodes_up 4 2
mnt=$WFS_TMP/mnt
wfs_mount "$WFS_APIS" "$mnt" || wfs_fail "wormfs did not mount"
mkdir "$mnt/d" || wfs_fail "mkdir on the mount"

wfs_step "files of mixed sizes, with their hashes"
src=$WFS_TMP/src
mkdir "$src"
sums=$WFS_TMP/sums
: >"$sums"
sizes=(100 4096 70000 1048576 3000001 4194304 9437185 16777216 25165831
       5000 300000 2097152 8388608 12582917 33554432 777 1500000 6291459
       20971520 4194305)
for i in "${!sizes[@]}"; do
	head -c "${sizes[i]}" /dev/urandom >"$src/f$i"
	cp "$src/f$i" "$mnt/d/f$i" || wfs_fail "writing f$i"
	echo "$(sha256sum <"$src/f$i" | cut -d" " -f1)  d/f$i" >>"$sums"
done
# Many small ones too (three replicas each): moving a chunk costs about
# the same whatever its size, so these make the drain last long enough
# to kill its node in the middle of it.
mkdir "$src/s" "$mnt/d/s" || wfs_fail "mkdir for the small files"
head -c $((300 * 5000)) /dev/urandom | split -b 5000 -a 3 -d - "$src/s/s"
cp "$src"/s/s* "$mnt/d/s/" || wfs_fail "writing the small files"
(cd "$src" && sha256sum s/s* | sed 's| s/| d/s/|') >>"$sums"
sync
wfs_log "$(wc -l <"$sums") files written"

# The standby node (a non-voter) and its first disk.
victim=
for d in "${WFS_NODES[@]}"; do
	api=$(wfs_config_get "$d" api)
	role=$(json_get "[n['role'] for n in d['nodes'] if n['addr'] == '$api'][0]")
	[ "$role" = standby ] && { victim=$d; break; }
done
[ -n "$victim" ] || wfs_fail "no standby node to drain a disk of"
vname=$(basename "$victim" | sed 's/node/node-/')
vpath=$victim/disks/d1
disk=$(json_get "[k['disk_id'] for n in d['nodes'] for k in n['disks'] if k['path'] == '$vpath'][0]")
[ -n "$disk" ] || wfs_fail "no disk id for $vpath"
wfs_log "draining disk $disk ($vname:$vpath)"

chunk_files() {
	find "$vpath/chunks" -type f -name '*-*-*' ! -name '.tmp-*' 2>/dev/null |
		wc -l
}
before=$(chunk_files)
[ "$before" -gt 20 ] || wfs_fail "only $before chunks on $vpath: too few to drain"
wfs_log "$before chunk files on it"

left() {
	json_get "[k['chunks_left'] for n in d['nodes'] for k in n['disks'] if k['disk_id'] == '$disk'][0]"
}

wfs_step "drain it; the refusals"
ctl disk drain "$vname:$vpath" >"$WFS_TMP/drain.out" ||
	wfs_fail "disk drain failed"
cat "$WFS_TMP/drain.out"
grep -q draining "$WFS_TMP/drain.out" || wfs_fail "disk drain does not say draining"
if ctl disk drain "${disk:0:12}" 2>"$WFS_TMP/again.err"; then
	wfs_fail "a second drain was accepted"
fi
grep -q "already draining" "$WFS_TMP/again.err" ||
	wfs_fail "a second drain: $(cat "$WFS_TMP/again.err")"
if ctl disk drain "$vname:/no/such/disk" 2>"$WFS_TMP/none.err"; then
	wfs_fail "draining a disk that does not exist was accepted"
fi
grep -q "no such disk" "$WFS_TMP/none.err" ||
	wfs_fail "no such disk: $(cat "$WFS_TMP/none.err")"
# Draining is a flag of its own: the state still says what the disk is.
state=$(json_get "[(k['state'], k['draining']) for n in d['nodes'] for k in n['disks'] if k['disk_id'] == '$disk'][0]")
[ "$state" = "('online', True)" ] ||
	wfs_fail "status shows the disk $state, not online and draining"

wfs_step "kill -9 its node mid-drain, restart it"
total=$(left)
wfs_log "$total chunks to move"
moving() { local l; l=$(left); [ "$l" -lt "$total" ]; }
wfs_wait 30 "the drain moving chunks" moving ||
	wfs_fail "the drain did not start"
l=$(left)
[ "$l" -gt 0 ] || wfs_fail "the drain was over before the kill: nothing to test"
kill -KILL "$(cat "$victim/storaged.pid")"
wait "$(cat "$victim/storaged.pid")" 2>/dev/null
wfs_log "killed $(basename "$victim") with -9, about $l chunks left"
# Its mover was the only one: once what was in flight settled, nothing
# moves while it is down.
sleep 1
l1=$(left)
sleep 2
l2=$(left)
wfs_log "$l1, then $l2 chunks left with its node down"
[ "$l1" = "$l2" ] || wfs_fail "chunks moved while their node was down"
[ "$l2" -gt 0 ] || wfs_fail "the drain was over at the kill: nothing to resume"
wfs_node_start "$victim" || wfs_fail "$(basename "$victim") did not restart"
wfs_wait 60 "4 nodes alive again" wfs_cluster_settled 4 3 ||
	wfs_fail "the cluster did not settle after the restart"

wfs_step "new files while it drains never land on it"
for i in 0 1 2 3; do
	head -c $((3000000 + i * 1000000)) /dev/urandom >"$src/n$i"
	cp "$src/n$i" "$mnt/d/n$i" || wfs_fail "writing n$i"
	echo "$(sha256sum <"$src/n$i" | cut -d" " -f1)  d/n$i" >>"$sums"
	ctl --json ls -l "/d/n$i" | python3 -c '
import json, sys
d = json.load(sys.stdin)
on = [c for s in d["stripes"] for c in s["chunks"] if c["disk_id"] == sys.argv[1]]
sys.exit(1 if on else 0)' "$disk" || wfs_fail "a chunk of n$i went to the draining disk"
done

wfs_step "the drain resumes and ends"
drained() { [ "$(left)" = 0 ]; }
wfs_wait 60 "0 chunks left on the disk" drained ||
	wfs_fail "the drain did not finish: $(left) chunks left"
said_drained() { grep -q "disk $disk drained" "$victim/storaged.log"; }
wfs_wait 20 "its node saying the disk is drained" said_drained ||
	wfs_fail "the node did not log that the disk was drained"
grep "disk $disk" "$victim/storaged.log" | tail -n 5
no_chunks() { [ "$(chunk_files)" = 0 ]; }
wfs_wait 40 "no chunk file left on $vpath (collector)" no_chunks ||
	wfs_fail "$(chunk_files) chunk files still on $vpath"

wfs_step "every file through a fresh mount"
wfs_umount "$mnt" || wfs_fail "cannot unmount"
wfs_drop_caches
wfs_mount "$WFS_APIS" "$mnt" || wfs_fail "wormfs did not mount again"
(cd "$mnt" && sha256sum -c --quiet "$sums") ||
	wfs_fail "a file differs after the drain"
wfs_log "$(wc -l <"$sums") files read back intact"

wfs_step "undrain"
ctl disk undrain "$disk" || wfs_fail "disk undrain failed"
state=$(json_get "[(k['state'], k['draining']) for n in d['nodes'] for k in n['disks'] if k['disk_id'] == '$disk'][0]")
[ "$state" = "('online', False)" ] ||
	wfs_fail "after undrain status shows the disk $state"
# Its node's reports (every few seconds) leave the undrain as it is.
sleep 3
state=$(json_get "[k['draining'] for n in d['nodes'] for k in n['disks'] if k['disk_id'] == '$disk'][0]")
[ "$state" = False ] || wfs_fail "the disk drains again after its undrain"
if ctl disk undrain "$disk" 2>"$WFS_TMP/undrain.err"; then
	wfs_fail "undraining a disk that is not draining was accepted"
fi
grep -q "not draining" "$WFS_TMP/undrain.err" ||
	wfs_fail "a second undrain: $(cat "$WFS_TMP/undrain.err")"

wfs_step "a disk that is offline cannot be drained"
for d in "${WFS_NODES[@]}"; do [ "$d" != "$victim" ] && { other=$d; break; }; done
opath=$other/disks/d2
oname=$(basename "$other" | sed 's/node/node-/')
mv "$opath" "$opath.gone"
disk_state() {
	json_get "' '.join(k['state'] for n in d['nodes'] for k in n['disks'] if k['path'] == '$opath')"
}
offline() { [ "$(disk_state)" = offline ]; }
wfs_wait 10 "$oname:$opath offline" offline ||
	wfs_fail "$oname:$opath shows $(disk_state) once gone"
if ctl disk drain "$oname:$opath" 2>"$WFS_TMP/offline.err"; then
	wfs_fail "draining an offline disk was accepted"
fi
grep -q "is offline" "$WFS_TMP/offline.err" ||
	wfs_fail "draining an offline disk: $(cat "$WFS_TMP/offline.err")"
cat "$WFS_TMP/offline.err"

wfs_pass "a disk drained, its node killed mid-drain, nothing lost"
