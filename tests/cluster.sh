#!/usr/bin/env bash
# Start or stop the local cluster of `make run` / `make stop`.
# Usage: cluster.sh start|stop BUILD_DIR
set -u
cmd=${1:-} build=${2:-build}
top=$(cd "$(dirname "$0")/.." && pwd)

case "$cmd" in
start)
	if [ ! -x "$build/bin/storaged" ] || [ ! -x "$build/bin/wormfs" ]; then
		echo "make run: storaged and the wormfs mount are not built yet (issue 3);" >&2
		echo "this tree has the foundation only: codec, chunk store, metadata store." >&2
		echo "Run 'make test' and 'make bench' to exercise them." >&2
		exit 1
	fi
	;;
stop)
	if mountpoint -q "$top/mnt" 2>/dev/null; then
		fusermount3 -u "$top/mnt" 2>/dev/null || umount -l "$top/mnt"
	fi
	for pidfile in "$top"/run/*/storaged.pid; do
		[ -f "$pidfile" ] || continue
		kill "$(cat "$pidfile")" 2>/dev/null
		rm -f "$pidfile"
	done
	echo "stopped"
	;;
*)
	echo "usage: $0 start|stop BUILD_DIR" >&2
	exit 2
	;;
esac
