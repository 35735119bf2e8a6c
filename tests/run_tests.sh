#!/usr/bin/env bash
# Run every unit binary, then every integration test, and close with one
# line "N passed, N failed" over all of them.  Exit non-zero if anything
# failed.  Usage: run_tests.sh "UNIT_BINS" "INTEGRATION_SCRIPTS" BUILD_DIR
set -u
units=$1 integration=$2 build=$3
passed=0 failed=0 broken=()
log=$(mktemp -d /tmp/wfs-tests.XXXXXX)
trap 'rm -rf "$log"' EXIT

for u in $units; do
	name=$(basename "$u")
	if timeout 600 "$u" >"$log/$name" 2>&1; then :; else broken+=("$u"); fi
	line=$(grep -E '^unit .*: [0-9]+ passed, [0-9]+ failed$' "$log/$name" | tail -n 1)
	if [ -z "$line" ]; then
		echo "unit $name: crashed or timed out; its output:"
		tail -n 40 "$log/$name"
		failed=$((failed + 1))
		continue
	fi
	p=$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed$/\1/' <<<"$line")
	f=$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed$/\2/' <<<"$line")
	passed=$((passed + p)) failed=$((failed + f))
	if [ "$f" != 0 ]; then
		grep -E -B2 -A8 'FAILED|Test: .*\.\.\.FAILED' "$log/$name" | head -n 80
	fi
	echo "$line"
done

for t in $integration; do
	name=$(basename "$t" .sh)
	start=$(date +%s)
	if timeout 900 "$t" "$build" >"$log/$name" 2>&1; then
		echo "integration $name: passed ($(( $(date +%s) - start ))s)"
		passed=$((passed + 1))
	else
		echo "integration $name: FAILED; the last lines of its output:"
		tail -n 60 "$log/$name"
		failed=$((failed + 1))
	fi
done

echo
echo "tests: $passed passed, $failed failed"
[ "$failed" = 0 ]
