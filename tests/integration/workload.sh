#!/usr/bin/env bash
# workload: write files of random content into DIR without end, and now and
# then read an earlier one back, until STOPFILE exists (or MAX files).
#
#   workload.sh DIR STOPFILE MANIFEST ERRLOG [MAX]
#
# Every file written whole and closed is added to MANIFEST as "sha256 name"
# only after its write succeeded; any failure (write, close, a read-back
# whose hash differs) goes to ERRLOG with the time, and the workload goes
# on.  Sizes cycle through a few shapes: small files (replicas), one stripe
# and a bit (EC plus a tail), several stripes.  Sources are kept in
# DIR/../src so the checker can tell what each file should hold.
set -u
dir=$1 stop=$2 manifest=$3 errlog=$4 max=${5:-100000}
src=$(dirname "$manifest")/src
mkdir -p "$src"
sizes=(4096 70000 4300000 9000000 150000)
i=0
while [ ! -e "$stop" ] && [ "$i" -lt "$max" ]; do
	name=w$i
	size=${sizes[i % ${#sizes[@]}]}
	head -c "$size" /dev/urandom >"$src/$name"
	sum=$(sha256sum <"$src/$name" | cut -d' ' -f1)
	if cp "$src/$name" "$dir/$name.tmp" 2>>"$errlog" &&
		mv "$dir/$name.tmp" "$dir/$name" 2>>"$errlog"; then
		echo "$sum $name" >>"$manifest"
	else
		echo "$(date +%T.%N) write of $name failed" >>"$errlog"
	fi
	rm -f "$src/$name"
	# Read back one file written earlier.
	if [ $((i % 5)) = 4 ]; then
		line=$(shuf -n 1 "$manifest" 2>/dev/null)
		if [ -n "$line" ]; then
			want=${line%% *}
			f=${line#* }
			got=$(sha256sum <"$dir/$f" 2>>"$errlog" | cut -d' ' -f1)
			[ "$got" = "$want" ] ||
				echo "$(date +%T.%N) read-back of $f: hash $got, want $want" >>"$errlog"
		fi
	fi
	i=$((i + 1))
done
