#!/usr/bin/env bash
# wormctl: the admin CLI against a one-node cluster (6 disks, 4+2, 1 MiB
# chunks), without a mount.  status shows the node, its 6 disks and a
# master; put writes a 10 MiB random file, a 100-byte file and a file from
# stdin, get reads each back identical (cmp); ls lists a directory of 603
# entries (several ReadDir pages) exactly once each; ls -l shows the stripes with
# where every chunk lives (k+m chunks on distinct disks for the full
# stripes, m+1 replicas for the small file and for a tail of at most one
# chunk); df shows
# capacity; every --json output parses; errors exit 1 naming what failed,
# usage errors exit 2.
# Usage: wormctl.sh BUILD_DIR
set -u
. "$(dirname "$0")/../lib.sh"
wfs_init "${1:-build}"
wfs_need storaged wormctl

wfs_step "start one storaged with 6 disks"
WFS_NODE=$WFS_TMP/node1
WFS_LOGS+=("$WFS_NODE/storaged.log" "$WFS_NODE/storaged.out")
for try in 1 2 3; do
	wfs_write_config "$WFS_NODE" node-1 6 || wfs_fail "cannot write the config"
	wfs_node_start "$WFS_NODE" && break
	wfs_node_stop "$WFS_NODE" KILL
	[ "$try" = 3 ] && wfs_fail "storaged did not start"
	wfs_log "retrying with other ports"
done
API=$(wfs_config_get "$WFS_NODE" api)
out=$WFS_TMP/out
mkdir -p "$out"

# ctl ARGS...: wormctl against the node, bounded in time.
ctl() {
	timeout -k 5 120 "$WFS_BUILD/bin/wormctl" --node "$API" "$@"
}

# check_json FILE PYTHON [ARG...]: FILE parses as JSON and PYTHON raises
# nothing, with d the parsed object and the ARGs in sys.argv[2:].
check_json() {
	local file=$1 code=$2
	shift 2
	python3 -m json.tool "$file" >/dev/null || wfs_fail "$file is not valid JSON"
	python3 -c "import json, sys
d = json.load(open(sys.argv[1]))
$code" "$file" "$@" || wfs_fail "$file: check failed"
}

# expect_rc WANT WHAT CMD...: run CMD, fail unless it exits WANT.
expect_rc() {
	local want=$1 what=$2 rc
	shift 2
	"$@" >"$out/rc.out" 2>"$out/rc.err"
	rc=$?
	[ "$rc" = "$want" ] || {
		cat "$out/rc.err"
		wfs_fail "$what: exit $rc, expected $want"
	}
}

wfs_step "status: wait for a master"
# A new node is elected first, then formats the file system and records
# itself and its disks: wait for all of it, not just the election.
master_ready() {
	ctl -t 2 status --json >"$out/status.json" 2>/dev/null &&
		python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
ok = d.get("master_id") and d.get("cluster_id") and d.get("nodes") and \
     len(d["nodes"][0].get("disks") or []) == 6
sys.exit(0 if ok else 1)' "$out/status.json"
}
wfs_wait 30 "a master" master_ready || {
	ctl status
	wfs_fail "no master within 30s"
}
check_json "$out/status.json" '
assert len(d["cluster_id"]) > 0
assert len(d["nodes"]) == 1, d["nodes"]
n = d["nodes"][0]
assert n["name"] == "node-1", n
assert n["master"] is True and d["master"] == "node-1", d
assert d["master_id"] == n["node_id"] == d["node_id"], d
assert d["raft_applied_index"] >= 1, d
assert len(n["disks"]) == 6, n["disks"]
for k in n["disks"]:
    assert k["capacity"] > 0 and 0 <= k["free"] <= k["capacity"], k
    assert k["path"].startswith(sys.argv[2] + "/disks/d"), k
' "$WFS_NODE"
ctl status >"$out/status.txt" || wfs_fail "wormctl status failed"
cat "$out/status.txt"
grep -Eq '^master +node-1 \(127\.0\.0\.1:[0-9]+\)$' "$out/status.txt" ||
	wfs_fail "status names no master"
[ "$(grep -c "$WFS_NODE/disks/d" "$out/status.txt")" = 6 ] ||
	wfs_fail "status does not show the 6 disks"
grep -Eq '^node-1 +master +' "$out/status.txt" ||
	wfs_fail "status does not show node-1 as master in its table"

wfs_step "put a 10 MiB random file, a 100-byte file and one from stdin"
head -c $((10 << 20)) /dev/urandom >"$out/big.src"
head -c 100 /dev/urandom >"$out/small.src"
head -c 300000 /dev/urandom >"$out/stdin.src"
chmod 0640 "$out/small.src"
ctl put -v "$out/big.src" /big 2>"$out/put.err" || {
	cat "$out/put.err"
	wfs_fail "put of the 10 MiB file failed"
}
cat "$out/put.err"
grep -Eq '^wormctl: put /big: 10485760 bytes in .* MB/s$' "$out/put.err" ||
	wfs_fail "put -v did not report bytes and MB/s"
ctl put "$out/small.src" / || wfs_fail "put of the small file into / failed"
ctl put - /stdin.bin <"$out/stdin.src" || wfs_fail "put from stdin failed"

wfs_step "put refuses to overwrite without -f"
expect_rc 1 "put over an existing file" ctl put "$out/small.src" /big
grep -q '^wormctl: put /big: File exists (use -f to overwrite)$' "$out/rc.err" ||
	wfs_fail "unclear message: $(cat "$out/rc.err")"
ctl put -f "$out/small.src" /small.src || wfs_fail "put -f failed"

wfs_step "get each back and compare"
ctl get -v /big "$out/big.got" || wfs_fail "get of the 10 MiB file failed"
cmp "$out/big.src" "$out/big.got" || wfs_fail "the 10 MiB file differs"
ctl get /small.src - >"$out/small.got" || wfs_fail "get to stdout failed"
cmp "$out/small.src" "$out/small.got" || wfs_fail "the small file differs"
ctl get /stdin.bin "$out/stdin.got" || wfs_fail "get of the stdin file failed"
cmp "$out/stdin.src" "$out/stdin.got" || wfs_fail "the stdin file differs"
expect_rc 1 "get over an existing local file" ctl get /big "$out/big.got"
mkdir "$out/into"
ctl get /big "$out/into" && cmp "$out/big.src" "$out/into/big" ||
	wfs_fail "get into a local directory failed"

wfs_step "ls of the root, with 600 more files: a listing of several pages"
seq -f '/many-%04g' 1 600 |
	timeout -k 5 300 xargs -P 4 -I{} "$WFS_BUILD/bin/wormctl" --node "$API" \
		put /dev/null {} || wfs_fail "putting 600 empty files failed"
ctl ls / >"$out/ls.txt" || wfs_fail "ls / failed"
for f in big small.src stdin.bin many-0001 many-0600; do
	grep -qx "$f" "$out/ls.txt" || wfs_fail "ls / does not show $f"
done
[ "$(wc -l <"$out/ls.txt")" = 603 ] && [ "$(sort -u "$out/ls.txt" | wc -l)" = 603 ] ||
	wfs_fail "ls / shows $(wc -l <"$out/ls.txt") lines, expected 603 distinct names"
ctl ls -l / >"$out/lsl.txt" || wfs_fail "ls -l / failed"
grep -v many- "$out/lsl.txt"
[ "$(grep -c '^-rw-r--r-- .* 0 .* many-' "$out/lsl.txt")" = 600 ] ||
	wfs_fail "ls -l / does not show the 600 empty files"
grep -Eq '^-rw-r----- +1 +[0-9]+ +[0-9]+ +100 +[0-9-]+ [0-9:]+ +small\.src$' \
	"$out/lsl.txt" || wfs_fail "ls -l does not show small.src as ls -l would"
ctl ls -l / --json >"$out/lsl.json" || wfs_fail "ls -l / --json failed"
check_json "$out/lsl.json" '
assert len(d["entries"]) == 603, len(d["entries"])
e = {x["name"]: x for x in d["entries"]}
assert len(e) == 603, len(e)
assert e["big"]["size"] == 10 << 20 and e["big"]["type"] == "file", e
assert e["small.src"]["mode"] & 0o7777 == 0o640, e["small.src"]
assert e["stdin.bin"]["mode"] & 0o7777 == 0o644, e["stdin.bin"]
'

wfs_step "ls -l of a file: stripes and where every chunk lives"
ctl ls -l /big >"$out/big.txt" || wfs_fail "ls -l /big failed"
cat "$out/big.txt"
grep -q 'ec 4+2' "$out/big.txt" || wfs_fail "ls -l /big shows no EC stripe"
grep -q "$API" "$out/big.txt" || wfs_fail "ls -l /big shows no chunk address"
ctl ls -l /big --json >"$out/big.json" || wfs_fail "ls -l /big --json failed"
check_json "$out/big.json" '
s = d["stripes"]
assert [x["sidx"] for x in s] == [0, 1, 2], s
assert sum(x["length"] for x in s) == 10 << 20, s
for x in s[:2]:
    assert x["kind"] == "ec" and (x["k"], x["m"]) == (4, 2), x
    assert [c["index"] for c in x["chunks"]] == list(range(6)), x
    assert len({c["disk_id"] for c in x["chunks"]}) == 6, x
# The 2 MiB tail (longer than one chunk): m+1 full replicas.
tail = s[2]
assert tail["length"] == 2 << 20, tail
assert tail["kind"] == "replica" and len(tail["chunks"]) == 3, tail
assert len({c["disk_id"] for c in tail["chunks"]}) == 3, tail
for x in s:
    for c in x["chunks"]:
        assert c["state"] == "ok" and c["node"] == "node-1", c
        assert c["addr"] == sys.argv[2] and c["disk_id"], c
        assert c["disk_path"], c
' "$API"
ctl ls -l /small.src >"$out/small.txt" || wfs_fail "ls -l /small.src failed"
cat "$out/small.txt"
[ "$(grep -c ' replica x3 ' "$out/small.txt")" = 1 ] ||
	wfs_fail "ls -l /small.src shows no stripe of 3 replicas"
ctl ls -l /small.src --json >"$out/small.json" || wfs_fail "ls -l /small.src --json failed"
check_json "$out/small.json" '
s = d["stripes"]
assert len(s) == 1 and s[0]["kind"] == "replica" and s[0]["length"] == 100, s
assert len(s[0]["chunks"]) == s[0]["m"] + 1 == 3, s
assert len({c["disk_id"] for c in s[0]["chunks"]}) == 3, s
'

wfs_step "df"
ctl df >"$out/df.txt" || wfs_fail "df failed"
cat "$out/df.txt"
grep -Eq '^capacity +[0-9.]+[KMGTPE]$' "$out/df.txt" || wfs_fail "df shows no capacity"
grep -Eq '^inodes used +[0-9]+$' "$out/df.txt" || wfs_fail "df shows no inode count"
ctl df --json >"$out/df.json" || wfs_fail "df --json failed"
check_json "$out/df.json" '
assert d["capacity"] > 0 and d["used"] + d["free"] == d["capacity"], d
assert d["inodes_used"] >= 4, d
assert len(d["nodes"]) == 1 and len(d["nodes"][0]["disks"]) == 6, d
'

wfs_step "errors: exit 1 naming what and why, usage errors exit 2"
expect_rc 1 "get of a missing file" ctl get /nope "$out/nope"
grep -qx 'wormctl: get /nope: No such file or directory' "$out/rc.err" ||
	wfs_fail "unclear message: $(cat "$out/rc.err")"
[ ! -e "$out/nope" ] || wfs_fail "a failed get left a local file"
expect_rc 1 "ls of a missing path" ctl ls /big/x
grep -qx 'wormctl: ls /big/x: Not a directory' "$out/rc.err" ||
	wfs_fail "unclear message: $(cat "$out/rc.err")"
expect_rc 1 "get of a directory" ctl get / "$out/root"
expect_rc 2 "an unknown command" ctl frobnicate
expect_rc 2 "a missing argument" ctl put "$out/big.src"
expect_rc 2 "an option the command does not take" ctl status -l
for j in status.json lsl.json big.json small.json df.json; do
	python3 -m json.tool "$out/$j" >/dev/null || wfs_fail "$j does not parse"
done

wfs_pass "wormctl status, df, ls -l with chunk locations, put/get and --json"
