#!/usr/bin/env bash
# Start or stop the local cluster of `make run` / `make stop`.
# Usage: cluster.sh start|stop|status [BUILD_DIR]
#
# start: six storaged nodes on 127.0.0.1, each with two disk directories,
#        everything under ./run/nodeN (config storaged.yaml, data/,
#        disks/d1 d2, storaged.log), then the wormfs mount at ./mnt, and
#        returns.  node1 founds the cluster; nodes 2-6 are admitted by their
#        keys (wormctl node add) and join through node1; three of them vote.
#        The daemons run on in the background; their pids are in
#        ./run/nodeN/storaged.pid and ./run/wormfs.pid.  A second start
#        while it runs says so and exits 0.  The data stays in ./run between
#        a stop and the next start.
# stop:  unmounts ./mnt and stops every daemon; fine when nothing runs.
# Ports: node N uses 7700+10(N-1) (api), +1 (peer), +2 (gossip) and
# 7780+N-1 (http) when free, else free ones probed on 127.0.0.1; each
# config keeps its ports.
set -u
cmd=${1:-} build=${2:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tests/lib.sh"
case $build in /*) WFS_BUILD=$build ;; *) WFS_BUILD=$top/$build ;; esac

NODES=6
DISKS=2
VOTERS=3
run=$top/run
mnt=$top/mnt
mount_pidfile=$run/wormfs.pid
mount_log=$run/wormfs.log

node_dir() { echo "$run/node$1"; }
pid_alive() { [ -f "$1" ] && wfs_alive "$(cat "$1")"; }

# Mounted and answering (a mount whose daemon died fails the stat).
mount_ok() { wfs_is_mounted "$mnt" && timeout 10 stat -f "$mnt" >/dev/null 2>&1; }

# The given port if it is free, else a probed one (in WFS_PORT).
pick_port() {
	if wfs_port_used "$1"; then
		wfs_free_port
	else
		WFS_PORT=$1
		WFS_PORTS_GIVEN+="$1 "
	fi
}

# Every node's API address, comma-separated.
all_apis() {
	local i apis=
	for ((i = 1; i <= NODES; i++)); do
		[ -f "$(node_dir "$i")/storaged.yaml" ] || continue
		apis+=${apis:+,}$(wfs_config_get "$(node_dir "$i")" api)
	done
	echo "$apis"
}

# Write node N's config on the first start; later starts reuse it (and
# its data).  Nodes after the first join through node1.
configure() {
	local i=$1 dir ports=() p base=$((7700 + 10 * ($1 - 1)))
	dir=$(node_dir "$i")
	[ -f "$dir/storaged.yaml" ] && return 0
	for p in "$base" $((base + 1)) $((base + 2)) $((7780 + i - 1)); do
		pick_port "$p"
		ports+=("$WFS_PORT")
	done
	local seeds=
	[ "$i" -gt 1 ] && seeds=$(wfs_config_get "$(node_dir 1)" api)
	WFS_CFG_VOTERS=$VOTERS WFS_CFG_SEEDS=$seeds \
		wfs_write_config "$dir" "node-$i" "$DISKS" "${ports[@]}"
}

# Admit node N's key on the cluster (again is harmless).
admit() {
	local dir key
	dir=$(node_dir "$1")
	key=$("$WFS_BUILD/bin/storaged" --show-key -c "$dir/storaged.yaml") ||
		return 1
	"$WFS_BUILD/bin/wormctl" -n "$(all_apis)" -t 20 node add "$key" \
		>/dev/null
}

start_node() {
	local i=$1 dir api port j
	dir=$(node_dir "$i")
	if pid_alive "$dir/storaged.pid"; then
		echo "node-$i already running (pid $(cat "$dir/storaged.pid"))"
		return 0
	fi
	# A node seen for the first time is admitted before it starts; on
	# later starts it is a member already (and the master may not be
	# elected before the voters are back).
	local fresh=0
	[ -f "$dir/storaged.yaml" ] || fresh=1
	configure "$i" || { echo "cannot write $dir/storaged.yaml" >&2; return 1; }
	api=$(wfs_config_get "$dir" api)
	port=${api##*:}
	if wfs_port_open "$port"; then
		echo "something else already listens on $api (see $dir/storaged.yaml)" >&2
		return 1
	fi
	if [ "$i" -gt 1 ] && [ "$fresh" = 1 ] && ! admit "$i"; then
		echo "cannot admit node-$i on the cluster" >&2
		return 1
	fi
	# setsid: the daemons outlive make and the terminal.
	setsid "$WFS_BUILD/bin/storaged" -c "$dir/storaged.yaml" \
		>>"$dir/storaged.out" 2>&1 </dev/null &
	echo $! >"$dir/storaged.pid"
	for ((j = 0; j < WFS_START_TIMEOUT * 10; j++)); do
		if ! pid_alive "$dir/storaged.pid"; then
			echo "node-$i exited at start; the end of its output:" >&2
			tail -n 20 "$dir/storaged.out" "$dir/storaged.log" >&2 2>/dev/null
			rm -f "$dir/storaged.pid"
			return 1
		fi
		wfs_port_open "$port" && return 0
		sleep 0.1
	done
	echo "node-$i did not answer on $api within ${WFS_START_TIMEOUT}s" >&2
	return 1
}

# Wait until every node is recorded alive and a master is known.
wait_settled() {
	local apis
	apis=$(all_apis)
	WFS_APIS=$apis wfs_wait 60 "all $NODES nodes alive" \
		wfs_cluster_settled "$NODES" "" && return 0
	echo "the cluster did not settle within 60s; see run/node*/storaged.log" >&2
	return 1
}

start_mount() {
	if mount_ok; then
		echo "$mnt already mounted"
		return 0
	fi
	if wfs_is_mounted "$mnt"; then
		echo "$mnt is a dead mount: unmounting it first"
		stop_mount
	fi
	local opts=() pid
	mkdir -p "$mnt"
	[ -n "$WFS_MOUNT_OPTS" ] && opts=(-o "$WFS_MOUNT_OPTS")
	setsid "$WFS_BUILD/bin/wormfs" -f "${opts[@]}" "$(all_apis)" "$mnt" \
		>>"$mount_log" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$mount_pidfile"
	wfs_wait_mounted "$mnt" "$pid" "$mount_log" wormfs >/dev/null && return 0
	tail -n 20 "$mount_log" >&2
	return 1
}

stop_mount() {
	local i pid
	if wfs_is_mounted "$mnt"; then
		for ((i = 0; i < 25; i++)); do
			timeout 10 fusermount3 -u "$mnt" 2>/dev/null && break
			sleep 0.2
		done
		if wfs_is_mounted "$mnt"; then
			echo "$mnt is busy: unmounting it lazily"
			timeout 10 fusermount3 -uz "$mnt" 2>/dev/null ||
				timeout 10 umount -l "$mnt"
		fi
	fi
	if pid_alive "$mount_pidfile"; then
		pid=$(cat "$mount_pidfile")
		for ((i = 0; i < 100; i++)); do
			wfs_alive "$pid" || break
			sleep 0.1
		done
		wfs_alive "$pid" && kill -TERM "$pid" 2>/dev/null
		sleep 0.5
		wfs_alive "$pid" && kill -KILL "$pid" 2>/dev/null
	fi
	rm -f "$mount_pidfile"
}

# Stop every node at once (TERM), then wait for each.
stop_nodes() {
	local i pid pids=() j dir
	for ((i = 1; i <= NODES; i++)); do
		dir=$(node_dir "$i")
		if pid_alive "$dir/storaged.pid"; then
			pid=$(cat "$dir/storaged.pid")
			kill -TERM "$pid" 2>/dev/null
			pids+=("$pid")
		fi
		rm -f "$dir/storaged.pid"
	done
	for pid in "${pids[@]}"; do
		for ((j = 0; j < 300; j++)); do
			wfs_alive "$pid" || break
			sleep 0.1
		done
		if wfs_alive "$pid"; then
			echo "storaged $pid did not stop within 30s: killing it"
			kill -KILL "$pid" 2>/dev/null
		fi
	done
}

status() {
	local i dir
	echo "WormFS local cluster: $NODES nodes, $DISKS disks each, $VOTERS voters"
	echo "  mount point  $mnt $(wfs_is_mounted "$mnt" && echo "(mounted)" || echo "(not mounted)")"
	for ((i = 1; i <= NODES; i++)); do
		dir=$(node_dir "$i")
		echo "  node-$i       pid $(cat "$dir/storaged.pid" 2>/dev/null || echo -), api $(wfs_config_get "$dir" api 2>/dev/null), log $dir/storaged.log"
	done
	echo "  mount log    $mount_log"
	echo "  see it with  build/bin/wormctl -n $(all_apis) status"
	echo "  web UI       none yet (the admin REST API and web UI are not built)"
	echo "  stop it with 'make stop'"
}

case "$cmd" in
start)
	if [ ! -x "$WFS_BUILD/bin/storaged" ] || [ ! -x "$WFS_BUILD/bin/wormfs" ]; then
		echo "make run: storaged and the wormfs mount are not built" >&2
		exit 1
	fi
	running=1
	for ((i = 1; i <= NODES; i++)); do
		pid_alive "$(node_dir "$i")/storaged.pid" || running=0
	done
	if [ "$running" = 1 ] && mount_ok; then
		echo "already running"
		status
		exit 0
	fi
	mkdir -p "$run"
	ok=1
	for ((i = 1; i <= NODES; i++)); do
		start_node "$i" || { ok=0; break; }
	done
	if [ "$ok" = 0 ] || ! wait_settled || ! start_mount; then
		echo "make run: start failed; stopping what was started" >&2
		stop_mount
		stop_nodes
		exit 1
	fi
	status
	;;
stop)
	stop_mount
	stop_nodes
	echo "stopped (the data stays in $run; remove it for a fresh cluster)"
	;;
status)
	status
	;;
*)
	echo "usage: $0 start|stop|status [BUILD_DIR]" >&2
	exit 2
	;;
esac
