# tests/lib.sh: shell helpers of the integration tests, the FUSE bench and
# `make run` (tests/cluster.sh).  Source it from bash:
#
#   . "$(dirname "$0")/../lib.sh"
#   wfs_init "$1"              # build dir; scratch dir, cleanup trap
#   wfs_cluster_up 6           # one node with 6 disks, mounted at $WFS_MNT
#   ... test $WFS_MNT ...
#   wfs_pass "what passed"     # exit 0 (the trap still cleans up)
#
# A cluster here is one storaged on 127.0.0.1 with its config, data dir,
# disk dirs and log under one node directory, and a wormfs mount run in the
# foreground (-f) in the background, so that every process the helpers start
# has a pid they know.  wfs_init installs a trap that, on any exit (success,
# failure, a signal, `timeout` sending TERM), unmounts every mount made
# (fusermount3 -u, then umount -l), stops every process started (TERM, then
# KILL), prints the tail of the logs if the script failed, and removes the
# scratch dir (kept with WFS_KEEP=1).  Every wait is bounded in time.
#
# Environment:
#   WFS_TMPROOT     where scratch dirs go (default /var/tmp: on disk)
#   WFS_KEEP=1      keep the scratch dir (always printed)
#   WFS_MOUNT_OPTS  extra -o options for wormfs (default none: as root it
#                   mounts with allow_other and default_permissions itself)
#   WFS_START_TIMEOUT  seconds to wait for storaged / the mount (default 30)

WFS_BUILD=${WFS_BUILD:-build}
WFS_TMP=
WFS_MNT=
WFS_NODE=
WFS_PIDS=()		# processes started here, stopped by the cleanup
WFS_MOUNTS=()		# mount points made here, unmounted by the cleanup
declare -A WFS_MOUNT_PIDS	# mount point -> pid of the FUSE daemon on it
WFS_LOGS=()		# logs shown when a test fails
WFS_MOUNT_OPTS=${WFS_MOUNT_OPTS:-}
WFS_START_TIMEOUT=${WFS_START_TIMEOUT:-30}
WFS_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

wfs_log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*"; }
wfs_step() { printf '\n== %s\n' "$*"; }

# Print a failure and exit 1 (the trap cleans up).
WFS_FAIL_MSG=
wfs_fail() {
	WFS_FAIL_MSG=$*
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

wfs_pass() {
	printf '\nPASS: %s\n' "$*"
	exit 0
}

# wfs_init BUILD_DIR: resolve the build dir, make the scratch dir, set the
# cleanup trap.
wfs_init() {
	WFS_BUILD=${1:-build}
	# Relative to the current directory, else to the top of the tree.
	if [ -d "$WFS_BUILD" ]; then
		WFS_BUILD=$(cd "$WFS_BUILD" && pwd)
	else
		WFS_BUILD=$WFS_TOP/$WFS_BUILD
	fi
	local root=${WFS_TMPROOT:-/var/tmp}
	mkdir -p "$root"
	WFS_TMP=$(mktemp -d "$root/wfs-test.XXXXXX") ||
		wfs_fail "cannot make a scratch dir under $root"
	chmod 755 "$WFS_TMP"
	trap 'wfs_cleanup $?' EXIT
	trap 'exit 143' TERM
	trap 'exit 130' INT
	wfs_log "scratch dir $WFS_TMP"
}

# wfs_need PROGRAM...: fail unless each is in the build's bin dir.
wfs_need() {
	local p
	for p in "$@"; do
		[ -x "$WFS_BUILD/bin/$p" ] ||
			wfs_fail "$WFS_BUILD/bin/$p is not built (storaged and wormfs come from issue 3)"
	done
}

# wfs_wait SECONDS WHAT COMMAND...: poll COMMAND every 0.1 s until it
# succeeds; return 1 after SECONDS.
wfs_wait() {
	local secs=$1 what=$2 i
	shift 2
	for ((i = 0; i < secs * 10; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	wfs_log "timed out after ${secs}s waiting for $what"
	return 1
}

wfs_alive() { kill -0 "$1" 2>/dev/null; }

# wfs_port_used PORT: is PORT bound on any address, TCP or UDP?
wfs_port_used() {
	[ -n "$(ss -Htuan "( sport = :$1 )" 2>/dev/null)" ]
}

# wfs_free_port: set WFS_PORT to a port free on 127.0.0.1, TCP and UDP, and
# not handed out before by this shell (so call it in this shell, not in a
# $(...) subshell).  Probes random ports in 20000..59999.
WFS_PORT=
WFS_PORTS_GIVEN=" "
wfs_free_port() {
	local i p
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		case $WFS_PORTS_GIVEN in *" $p "*) continue ;; esac
		wfs_port_used "$p" && continue
		WFS_PORTS_GIVEN+="$p "
		WFS_PORT=$p
		return 0
	done
	wfs_fail "no free port found on 127.0.0.1"
}

# wfs_port_open PORT: does something accept TCP connections on it?
wfs_port_open() {
	timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# wfs_addr_open HOST:PORT: the same for any address; a 10.77.x.x address
# is tried from the switch namespace (wfs_netns_up).
wfs_addr_open() {
	local host=${1%:*} port=${1##*:} wrap=()
	case $host in 10.77.*) wrap=(nsenter --net="/run/netns/$WFS_NETNS_PREFIX-sw") ;; esac
	"${wrap[@]}" timeout 2 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null
}

# wfs_write_config NODEDIR NAME NDISKS [API PEER GOSSIP HTTP]: write
# NODEDIR/storaged.yaml for a one-node cluster (one voter, policy 4+2) with
# NDISKS disk dirs NODEDIR/disks/d1.., data in NODEDIR/data, the log in
# NODEDIR/storaged.log; ports are probed unless given.  Makes the dirs.
# For a node of a bigger cluster: WFS_CFG_VOTERS (the voters the cluster
# aims for, default 1), WFS_CFG_SEEDS (API addresses to join through,
# comma-separated; empty: this node founds the cluster), WFS_CFG_TOKEN
# (cluster.join_token, with seeds) and WFS_CFG_HOST (the address it
# listens on, default 127.0.0.1).
wfs_write_config() {
	local dir=$1 name=$2 ndisks=$3 i ports=() k
	for k in 4 5 6 7; do
		if [ -n "${!k:-}" ]; then
			ports+=("${!k}")
		else
			wfs_free_port
			ports+=("$WFS_PORT")
		fi
	done
	local api=${ports[0]} peer=${ports[1]} gossip=${ports[2]} http=${ports[3]}
	mkdir -p "$dir/data" || return 1
	{
		echo "# written by tests/lib.sh"
		echo "node:"
		echo "  name: $name"
		echo "  data_dir: $dir/data"
		local host=${WFS_CFG_HOST:-127.0.0.1}
		echo "listen:"
		echo "  api: $host:$api"
		echo "  peer: $host:$peer"
		echo "  gossip: $host:$gossip"
		echo "  http: $host:$http"
		echo "disks:"
		for ((i = 1; i <= ndisks; i++)); do
			mkdir -p "$dir/disks/d$i" || return 1
			echo "  - $dir/disks/d$i"
		done
		echo "metadata:"
		echo "  voter: true"
		echo "  voters: ${WFS_CFG_VOTERS:-1}"
		if [ -n "${WFS_CFG_SEEDS:-}" ]; then
			echo "cluster:"
			echo "  seeds:"
			local s
			for s in ${WFS_CFG_SEEDS//,/ }; do
				echo "    - $s"
			done
			[ -n "${WFS_CFG_TOKEN:-}" ] &&
				echo "  join_token: $WFS_CFG_TOKEN"
		fi
		echo "policy:"
		echo "  k: 4"
		echo "  m: 2"
		echo "  chunk_size: 1MiB"
		echo "repair:"
		echo "  delay: 15m"
		echo "log:"
		echo "  level: ${WFS_LOG_LEVEL:-info}"
		echo "  file: $dir/storaged.log"
	} >"$dir/storaged.yaml"
}

# wfs_config_get NODEDIR KEY: the host:port of listen.KEY in its config.
wfs_config_get() {
	sed -n "s/^  $2: *//p" "$1/storaged.yaml" | head -n 1
}

# wfs_node_start NODEDIR: start storaged on NODEDIR/storaged.yaml in the
# background (stdout/stderr to NODEDIR/storaged.out, pid in
# NODEDIR/storaged.pid and $WFS_NODE_PID) and wait until its API port
# accepts connections.  Returns 1 if it exits or does not answer in time.
# With WFS_NODE_NS=i it runs in node i's network namespace (wfs_netns_up).
WFS_NODE_PID=
wfs_node_start() {
	local dir=$1 api port wrap=()
	api=$(wfs_config_get "$dir" api)
	port=${api##*:}
	[ -n "${WFS_NODE_NS:-}" ] &&
		wrap=(nsenter --net="/run/netns/$WFS_NETNS_PREFIX-n$WFS_NODE_NS")
	"${wrap[@]}" "$WFS_BUILD/bin/storaged" -c "$dir/storaged.yaml" \
		>>"$dir/storaged.out" 2>&1 </dev/null &
	WFS_NODE_PID=$!
	WFS_PIDS+=("$WFS_NODE_PID")
	echo "$WFS_NODE_PID" >"$dir/storaged.pid"
	wfs_log "storaged pid $WFS_NODE_PID, api $api, log $dir/storaged.log"
	local i
	for ((i = 0; i < WFS_START_TIMEOUT * 10; i++)); do
		if ! wfs_alive "$WFS_NODE_PID"; then
			wfs_log "storaged exited during start-up; its output:"
			tail -n 20 "$dir/storaged.out" "$dir/storaged.log" 2>/dev/null
			return 1
		fi
		wfs_addr_open "$api" && return 0
		sleep 0.1
	done
	wfs_log "storaged did not answer on $api within ${WFS_START_TIMEOUT}s"
	return 1
}

# wfs_node_stop NODEDIR [SIGNAL]: send SIGNAL (default TERM) to the node's
# storaged and wait for it to exit (KILL after 20 s).
wfs_node_stop() {
	local dir=$1 sig=${2:-TERM} pid i
	pid=$(cat "$dir/storaged.pid" 2>/dev/null) || return 0
	[ -n "$pid" ] || return 0
	kill "-$sig" "$pid" 2>/dev/null
	for ((i = 0; i < 200; i++)); do
		wfs_alive "$pid" || break
		sleep 0.1
	done
	if wfs_alive "$pid"; then
		wfs_log "storaged $pid still running 20s after SIG$sig: killing it"
		kill -KILL "$pid" 2>/dev/null
		sleep 0.5
	fi
	wait "$pid" 2>/dev/null
	rm -f "$dir/storaged.pid"
}

# wfs_is_mounted MNT: is MNT a mount point (without touching the file
# system behind it, which may hang)?
wfs_is_mounted() {
	local m
	m=$(realpath -m -s "$1")
	awk -v m="$m" '$2 == m { found = 1 } END { exit !found }' /proc/self/mounts
}

# wfs_mount NODES MNT [LOG]: mount wormfs (NODES is host:port[,host:port])
# on MNT, in the foreground (-f) in the background so its pid is known
# ($WFS_MOUNT_PID), and wait until MNT is mounted and answers a stat.
# After wfs_netns_up it runs in the switch namespace.
WFS_MOUNT_PID=
wfs_mount() {
	local nodes=$1 mnt=$2 log=${3:-$WFS_TMP/wormfs.log} opts=() wrap=()
	mkdir -p "$mnt"
	[ -n "$WFS_MOUNT_OPTS" ] && opts=(-o "$WFS_MOUNT_OPTS")
	[ -n "$WFS_NETNS_PREFIX" ] &&
		wrap=(nsenter --net="/run/netns/$WFS_NETNS_PREFIX-sw")
	"${wrap[@]}" "$WFS_BUILD/bin/wormfs" -f "${opts[@]}" "$nodes" "$mnt" \
		>>"$log" 2>&1 </dev/null &
	WFS_MOUNT_PID=$!
	wfs_track_mount "$mnt" "$WFS_MOUNT_PID" "$log"
	wfs_wait_mounted "$mnt" "$WFS_MOUNT_PID" "$log" wormfs
}

# wfs_track_mount MNT PID LOG: let the cleanup unmount MNT, stop PID (the
# daemon serving it) and show LOG on failure.
wfs_track_mount() {
	WFS_PIDS+=("$2")
	WFS_MOUNTS+=("$1")
	WFS_MOUNT_PIDS[$1]=$2
	case " ${WFS_LOGS[*]} " in *" $3 "*) ;; *) WFS_LOGS+=("$3") ;; esac
}

# wfs_wait_mounted MNT PID LOG NAME: wait until MNT is mounted and answers
# a stat, while PID (its daemon, called NAME) lives.
wfs_wait_mounted() {
	local mnt=$1 pid=$2 log=$3 name=$4 i
	for ((i = 0; i < WFS_START_TIMEOUT * 10; i++)); do
		if ! wfs_alive "$pid"; then
			wfs_log "$name exited before mounting $mnt; its output:"
			tail -n 20 "$log"
			return 1
		fi
		if wfs_is_mounted "$mnt" && timeout 10 stat -f "$mnt" >/dev/null 2>&1; then
			wfs_log "$name pid $pid mounted $mnt"
			return 0
		fi
		sleep 0.1
	done
	wfs_log "$name did not mount $mnt within ${WFS_START_TIMEOUT}s"
	return 1
}

# wfs_umount MNT: unmount (fusermount3 -u, retried for a few seconds while
# busy, then umount -l) and wait for the wormfs started on it to exit.
wfs_umount() {
	local mnt=$1 i
	for ((i = 0; i < 30; i++)); do
		wfs_is_mounted "$mnt" || break
		timeout 10 fusermount3 -u "$mnt" 2>/dev/null && break
		sleep 0.2
	done
	if wfs_is_mounted "$mnt"; then
		wfs_log "$mnt still busy: lazy unmount"
		timeout 10 fusermount3 -uz "$mnt" 2>/dev/null ||
			timeout 10 umount -l "$mnt" 2>/dev/null
	fi
	local pid=${WFS_MOUNT_PIDS[$mnt]:-}
	if [ -n "$pid" ]; then
		for ((i = 0; i < 100; i++)); do
			wfs_alive "$pid" || break
			sleep 0.1
		done
		if wfs_alive "$pid"; then
			wfs_log "FUSE daemon $pid still running after unmount: killing it"
			kill -KILL "$pid" 2>/dev/null
		fi
		wait "$pid" 2>/dev/null
		unset "WFS_MOUNT_PIDS[$mnt]"
	fi
	! wfs_is_mounted "$mnt"
}

# wfs_cluster_up NDISKS: a one-node cluster under $WFS_TMP/node1 mounted at
# $WFS_TMP/mnt ($WFS_NODE is its node dir, $WFS_MNT the mount, $WFS_API its
# API address).  Ports taken by someone else in the meantime make storaged
# fail; it is tried three times with new ports.
WFS_API=
wfs_cluster_up() {
	local ndisks=${1:-6} try
	wfs_need storaged wormfs
	WFS_NODE=$WFS_TMP/node1
	WFS_MNT=$WFS_TMP/mnt
	WFS_LOGS+=("$WFS_NODE/storaged.log" "$WFS_NODE/storaged.out")
	for try in 1 2 3; do
		wfs_write_config "$WFS_NODE" node-1 "$ndisks" ||
			wfs_fail "cannot write the config"
		wfs_node_start "$WFS_NODE" && break
		wfs_node_stop "$WFS_NODE" KILL
		[ "$try" = 3 ] && wfs_fail "storaged did not start"
		wfs_log "retrying with other ports"
	done
	WFS_API=$(wfs_config_get "$WFS_NODE" api)
	wfs_mount "$WFS_API" "$WFS_MNT" || wfs_fail "wormfs did not mount"
}

# wfs_cluster_nodes_up COUNT NDISKS: a cluster of COUNT nodes on 127.0.0.1
# (or, after wfs_netns_up, node i on 10.77.i.2 in its own namespace), each
# with NDISKS disks, under $WFS_TMP/nodeN, aiming for 3 voters (1 for
# fewer than 3 nodes).  node1 founds it; every other node is admitted by its key
# (wormctl node add) and joins through node1.  Returns once every node is
# recorded alive and the voters are in place.  Sets WFS_NODES (node dirs),
# WFS_NODE_PIDS and WFS_APIS (every API address, comma-separated).
WFS_NODES=()
WFS_APIS=
declare -A WFS_NODE_PIDS
wfs_cluster_nodes_up() {
	local count=$1 ndisks=$2 i dir key voters=3 api1 try
	wfs_need storaged wormctl
	[ "$count" -lt 3 ] && voters=1
	WFS_NODES=()
	WFS_APIS=
	for ((i = 1; i <= count; i++)); do
		dir=$WFS_TMP/node$i
		WFS_NODES+=("$dir")
		WFS_LOGS+=("$dir/storaged.log")
		for try in 1 2 3; do
			if [ -n "$WFS_NETNS_PREFIX" ]; then
				WFS_CFG_VOTERS=$voters WFS_CFG_SEEDS=${api1:-} \
					WFS_CFG_HOST=10.77.$i.2 \
					wfs_write_config "$dir" "node-$i" "$ndisks" \
					7700 7701 7702 7780
			else
				WFS_CFG_VOTERS=$voters WFS_CFG_SEEDS=${api1:-} \
					wfs_write_config "$dir" "node-$i" "$ndisks"
			fi || wfs_fail "cannot write the config of node $i"
			if [ "$i" -gt 1 ]; then
				key=$("$WFS_BUILD/bin/storaged" --show-key \
					-c "$dir/storaged.yaml") ||
					wfs_fail "no key for node $i"
				wfs_ctl -n "$api1" -t 20 node add "$key" \
					>/dev/null ||
					wfs_fail "cannot admit node $i"
			fi
			WFS_NODE_NS=${WFS_NETNS_PREFIX:+$i} wfs_node_start "$dir" &&
				break
			wfs_node_stop "$dir" KILL
			[ "$try" = 3 ] && wfs_fail "node $i did not start"
			wfs_log "retrying node $i with other ports"
		done
		WFS_NODE_PIDS[$dir]=$WFS_NODE_PID
		[ "$i" = 1 ] && api1=$(wfs_config_get "$dir" api)
		WFS_APIS+=${WFS_APIS:+,}$(wfs_config_get "$dir" api)
	done
	wfs_wait 60 "$count nodes alive, $voters voters" \
		wfs_cluster_settled "$count" "$voters" ||
		wfs_fail "the cluster did not settle"
}

# ---- nodes in network namespaces ----
#
# wfs_netns_up COUNT makes a switch namespace and COUNT node namespaces, all
# named after this shell's pid: node i has eth0 = 10.77.i.2/24, joined by a
# veth pair to the switch's p<i> = 10.77.i.1/24, which routes between them.
# The switch is where the test's own programs (the mount, wormctl) run:
# wfs_in_switch CMD..., and storaged of node i: wfs_in_node i CMD....  Only
# network namespaces are entered (nsenter --net), so mounts made inside are
# the test's own.  wfs_netns_split "1 2 3" "4 5 6" drops every packet
# between the two groups (policy rules in the switch); wfs_netns_heal
# lifts it.  The cleanup deletes the namespaces (which removes the veths).
WFS_NETNS_PREFIX=
WFS_NETNS=()
wfs_netns_up() {
	local count=$1 i
	WFS_NETNS_PREFIX=wfs$$
	ip netns add "$WFS_NETNS_PREFIX-sw" || wfs_fail "cannot make a netns"
	WFS_NETNS+=("$WFS_NETNS_PREFIX-sw")
	wfs_in_switch ip link set lo up
	wfs_in_switch sysctl -qw net.ipv4.ip_forward=1 ||
		wfs_fail "cannot enable forwarding in the switch namespace"
	for ((i = 1; i <= count; i++)); do
		local ns=$WFS_NETNS_PREFIX-n$i
		ip netns add "$ns" || wfs_fail "cannot make netns $ns"
		WFS_NETNS+=("$ns")
		ip link add "wfs$$p$i" netns "$WFS_NETNS_PREFIX-sw" type veth \
			peer name eth0 netns "$ns" ||
			wfs_fail "cannot make the veth pair of node $i"
		wfs_in_switch ip addr add "10.77.$i.1/24" dev "wfs$$p$i"
		wfs_in_switch ip link set "wfs$$p$i" up
		wfs_in_node "$i" ip link set lo up
		wfs_in_node "$i" ip addr add "10.77.$i.2/24" dev eth0
		wfs_in_node "$i" ip link set eth0 up
		wfs_in_node "$i" ip route add default via "10.77.$i.1"
	done
}

wfs_in_switch() { nsenter --net="/run/netns/$WFS_NETNS_PREFIX-sw" "$@"; }
wfs_in_node() { local i=$1; shift; nsenter --net="/run/netns/$WFS_NETNS_PREFIX-n$i" "$@"; }

# wfs_netns_split "A..." "B...": no packet between a node of A and one of B.
wfs_netns_split() {
	local a b
	for a in $1; do
		for b in $2; do
			wfs_in_switch ip rule add from "10.77.$a.0/24" \
				to "10.77.$b.0/24" prio 100 blackhole
			wfs_in_switch ip rule add from "10.77.$b.0/24" \
				to "10.77.$a.0/24" prio 100 blackhole
		done
	done
}

wfs_netns_heal() {
	local i
	for ((i = 0; i < 200; i++)); do
		wfs_in_switch ip rule del prio 100 2>/dev/null || break
	done
}

wfs_netns_cleanup() {
	local ns
	for ns in "${WFS_NETNS[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	WFS_NETNS=()
}

# wfs_ctl ARGS...: wormctl, from the switch namespace when there is one.
wfs_ctl() {
	if [ -n "$WFS_NETNS_PREFIX" ]; then
		wfs_in_switch "$WFS_BUILD/bin/wormctl" "$@"
	else
		"$WFS_BUILD/bin/wormctl" "$@"
	fi
}

# wfs_cluster_settled COUNT [VOTERS]: does Admin.Status show COUNT alive
# nodes, VOTERS of them voters (when given), and a master?
wfs_cluster_settled() {
	wfs_ctl -n "$WFS_APIS" -t 5 --json status |
		python3 -c '
import json, sys
st = json.load(sys.stdin)
nodes = st.get("nodes", [])
alive = [n for n in nodes if n.get("state") == "alive"]
voters = [n for n in alive if n.get("role") == "voter"]
ok = len(alive) == int(sys.argv[1]) and st.get("master") and \
	(not sys.argv[2] or len(voters) == int(sys.argv[2]))
sys.exit(0 if ok else 1)' "$1" "${2:-}"
}

# wfs_remount: unmount $WFS_MNT and mount it again (drops every cache the
# client and the kernel hold for it).
wfs_remount() {
	wfs_umount "$WFS_MNT" || wfs_fail "cannot unmount $WFS_MNT"
	wfs_mount "$WFS_API" "$WFS_MNT" || wfs_fail "wormfs did not mount again"
}

# wfs_drop_caches: flush and drop the kernel's page cache (root only).
wfs_drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
}

# The EXIT trap: unmount, stop, show logs on failure, remove the scratch
# dir.  Safe to run with nothing started.
wfs_cleanup() {
	local status=$1 i m p
	trap - EXIT TERM INT
	for ((i = ${#WFS_MOUNTS[@]} - 1; i >= 0; i--)); do
		m=${WFS_MOUNTS[i]}
		wfs_is_mounted "$m" || continue
		timeout 10 fusermount3 -u "$m" 2>/dev/null ||
			timeout 10 fusermount3 -uz "$m" 2>/dev/null ||
			timeout 10 umount -l "$m" 2>/dev/null
	done
	for p in "${WFS_PIDS[@]}"; do
		wfs_alive "$p" && kill -TERM "$p" 2>/dev/null
	done
	for ((i = 0; i < 100; i++)); do
		local left=0
		for p in "${WFS_PIDS[@]}"; do
			wfs_alive "$p" && left=1
		done
		[ "$left" = 0 ] && break
		sleep 0.1
	done
	for p in "${WFS_PIDS[@]}"; do
		if wfs_alive "$p"; then
			echo "cleanup: pid $p ignored TERM for 10s: killing it"
			kill -KILL "$p" 2>/dev/null
		fi
		wait "$p" 2>/dev/null
	done
	wfs_netns_cleanup
	if [ "$status" != 0 ]; then
		for m in "${WFS_LOGS[@]}"; do
			[ -s "$m" ] || continue
			echo "---- last lines of $m"
			tail -n 15 "$m"
		done
		# Again at the end, where a runner showing the tail sees it.
		echo "----"
		echo "FAIL: ${WFS_FAIL_MSG:-exit status $status}"
	fi
	local busy=0
	for m in "${WFS_MOUNTS[@]}"; do
		wfs_is_mounted "$m" && busy=1
	done
	if [ -n "$WFS_TMP" ] && [ -d "$WFS_TMP" ]; then
		if [ "$busy" = 1 ]; then
			echo "cleanup: a mount under $WFS_TMP could not be removed: kept"
		elif [ "${WFS_KEEP:-0}" = 1 ]; then
			echo "cleanup: kept $WFS_TMP"
		else
			rm -rf "$WFS_TMP"
		fi
	fi
	exit "$status"
}
