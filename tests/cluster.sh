#!/usr/bin/env bash
# Start or stop the local cluster of `make run` / `make stop`.
# Usage: cluster.sh start|stop|status [BUILD_DIR]
#
# start: one storaged with six disk directories, everything under ./run/node1
#        (config storaged.yaml, data/, disks/d1..d6, storaged.log), and the
#        wormfs mount at ./mnt, then returns.  The daemons run on in the
#        background; their pids are in ./run/node1/storaged.pid and
#        ./run/wormfs.pid.  A second start while it runs says so and exits
#        0.  The data stays in ./run between a stop and the next start.
# stop:  unmounts ./mnt and stops both daemons; fine when nothing runs.
# Ports: 7700 (api), 7701 (peer), 7702 (gossip), 7780 (http) when free,
# else free ones probed on 127.0.0.1; the config keeps them.
set -u
cmd=${1:-} build=${2:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tests/lib.sh"
case $build in /*) WFS_BUILD=$build ;; *) WFS_BUILD=$top/$build ;; esac

run=$top/run
node=$run/node1
mnt=$top/mnt
mount_pidfile=$run/wormfs.pid
mount_log=$run/wormfs.log

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

# Write the config on the first start; later starts reuse it (and its data).
configure() {
	[ -f "$node/storaged.yaml" ] && return 0
	local ports=() p
	for p in 7700 7701 7702 7780; do
		pick_port "$p"
		ports+=("$WFS_PORT")
	done
	wfs_write_config "$node" node-1 6 "${ports[@]}"
}

start_node() {
	if pid_alive "$node/storaged.pid"; then
		echo "storaged already running (pid $(cat "$node/storaged.pid"))"
		return 0
	fi
	configure || { echo "cannot write $node/storaged.yaml" >&2; return 1; }
	local api port i
	api=$(wfs_config_get "$node" api)
	port=${api##*:}
	if wfs_port_open "$port"; then
		echo "something else already listens on $api (see $node/storaged.yaml)" >&2
		return 1
	fi
	# setsid: the daemons outlive make and the terminal.
	setsid "$WFS_BUILD/bin/storaged" -c "$node/storaged.yaml" \
		>>"$node/storaged.out" 2>&1 </dev/null &
	echo $! >"$node/storaged.pid"
	for ((i = 0; i < WFS_START_TIMEOUT * 10; i++)); do
		if ! pid_alive "$node/storaged.pid"; then
			echo "storaged exited at start; the end of its output:" >&2
			tail -n 20 "$node/storaged.out" "$node/storaged.log" >&2 2>/dev/null
			rm -f "$node/storaged.pid"
			return 1
		fi
		wfs_port_open "$port" && return 0
		sleep 0.1
	done
	echo "storaged did not answer on $api within ${WFS_START_TIMEOUT}s" >&2
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
	local api opts=() pid
	api=$(wfs_config_get "$node" api)
	mkdir -p "$mnt"
	[ -n "$WFS_MOUNT_OPTS" ] && opts=(-o "$WFS_MOUNT_OPTS")
	setsid "$WFS_BUILD/bin/wormfs" -f "${opts[@]}" "$api" "$mnt" \
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

stop_node() {
	local pid i
	pid_alive "$node/storaged.pid" || { rm -f "$node/storaged.pid"; return 0; }
	pid=$(cat "$node/storaged.pid")
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 300; i++)); do
		wfs_alive "$pid" || break
		sleep 0.1
	done
	if wfs_alive "$pid"; then
		echo "storaged $pid did not stop within 30s: killing it"
		kill -KILL "$pid" 2>/dev/null
	fi
	rm -f "$node/storaged.pid"
}

status() {
	local api
	api=$(wfs_config_get "$node" api 2>/dev/null)
	echo "WormFS local cluster, one node, six disks"
	echo "  mount point  $mnt $(wfs_is_mounted "$mnt" && echo "(mounted)" || echo "(not mounted)")"
	echo "  storaged     pid $(cat "$node/storaged.pid" 2>/dev/null || echo -), api ${api:-?}"
	echo "  config       $node/storaged.yaml"
	echo "  disks        $node/disks/d1 .. d6"
	echo "  node log     $node/storaged.log (stderr: $node/storaged.out)"
	echo "  mount log    $mount_log"
	echo "  stop it with 'make stop'"
}

case "$cmd" in
start)
	if [ ! -x "$WFS_BUILD/bin/storaged" ] || [ ! -x "$WFS_BUILD/bin/wormfs" ]; then
		echo "make run: storaged and the wormfs mount are not built yet" >&2
		echo "(they come with issue 3: storaged/ and the FUSE client)." >&2
		echo "Run 'make test' and 'make bench' to exercise what exists." >&2
		exit 1
	fi
	if pid_alive "$node/storaged.pid" && mount_ok; then
		echo "already running"
		status
		exit 0
	fi
	mkdir -p "$run"
	if ! start_node || ! start_mount; then
		echo "make run: start failed; stopping what was started" >&2
		stop_mount
		stop_node
		exit 1
	fi
	status
	;;
stop)
	stop_mount
	stop_node
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
