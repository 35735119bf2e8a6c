#!/usr/bin/env bash
# posix: the POSIX behaviour suite (tests/fs/posix_check.c) on a WormFS
# mount of a one-node cluster: open flags, directories, rename (with
# RENAME_NOREPLACE and RENAME_EXCHANGE), hard links, symlinks, truncate,
# holes, an unlinked open file, timestamps, xattrs, fcntl and flock locks,
# permissions as another user, statfs, fsync, and the errno of every error
# case.  Then two mounts of the cluster: names one mount read ahead while
# stat'ing a directory (client/statahead), and the lists of names that
# answer lookups of absent ones (client/dirnames), never hide a change
# made through it, and go stale no longer than the attribute timeouts
# after a change made through the other.  Usage: posix.sh BUILD_DIR
set -u
. "$(dirname "$0")/../lib.sh"
wfs_init "${1:-build}"
wfs_need posix_check
wfs_cluster_up 6

wfs_step "posix_check on $WFS_MNT"
timeout -k 10 300 "$WFS_BUILD/bin/posix_check" "$WFS_MNT" ||
	wfs_fail "posix_check failed on the mount"

wfs_step "stat through a second mount, while the first changes the files"
mnt2=$WFS_TMP/mnt2
wfs_mount "$WFS_API" "$mnt2" "$WFS_TMP/wormfs2.log" ||
	wfs_fail "the second mount did not come up"
d=$WFS_MNT/walk d2=$mnt2/walk
mkdir "$d" || wfs_fail "mkdir"
for i in $(seq 0 59); do echo "$i" >"$d/f$i"; done
sync
echo 2 >/proc/sys/vm/drop_caches
# Every name, in listing order, through the second mount: read ahead.
for i in $(seq 0 59); do
	[ "$(stat -c %s "$d2/f$i")" = "$(echo "$i" | wc -c)" ] ||
		wfs_fail "f$i: wrong size through the second mount"
done
# Changes through the second mount show through it at once.
rm "$d2/f40" && chmod 600 "$d2/f41" && echo more >>"$d2/f42" ||
	wfs_fail "changing files through the second mount"
[ -e "$d2/f40" ] && wfs_fail "f40 removed, still there through its mount"
[ "$(stat -c %a "$d2/f41")" = 600 ] || wfs_fail "f41's chmod not seen through its mount"
[ "$(stat -c %s "$d2/f42")" = 8 ] || wfs_fail "f42's append not seen through its mount"
# Changes through the first: seen through the second once the attribute
# timeouts (1 s; names read ahead half that) have passed.
rm "$d/f10" && chmod 600 "$d/f20" && echo more >>"$d/f30" ||
	wfs_fail "changing files through the first mount"
sleep 2
[ -e "$d2/f10" ] && wfs_fail "f10 removed through the other mount, still there 2 s later"
[ "$(stat -c %a "$d2/f20")" = 600 ] || wfs_fail "f20's chmod not seen 2 s later"
[ "$(stat -c %s "$d2/f30")" = 8 ] || wfs_fail "f30's append not seen 2 s later"
# Only what the caller may see: another user stat'ing walks nothing it
# cannot search.
chmod 700 "$d"
sleep 2
echo 2 >/proc/sys/vm/drop_caches
for i in 0 1 2 3 4 5; do
	setpriv --reuid=65534 --regid=65534 --clear-groups stat "$d2/f$i" \
		>/dev/null 2>&1 && wfs_fail "nobody could stat f$i in a 0700 directory"
done

wfs_step "close-to-open: what one mount wrote and closed, another opening it reads whole at once"
# The second mount holds the file's attributes (its size) for the 1 s
# attribute timeout, from a stat or from reading it; its next open must
# learn the new size all the same.
c1=$WFS_MNT/cto c2=$mnt2/cto
echo 0 >"$c1" || wfs_fail "writing $c1"
want=0
for i in 1 2 3 4 5 6; do
	if [ $((i % 2)) = 0 ]; then
		stat "$c2" >/dev/null || wfs_fail "stat $c2"
	else
		[ "$(cat "$c2")" = "$want" ] ||
			wfs_fail "the second mount reads '$(cat "$c2")' of cto, not '$want'"
	fi
	echo "$i" >>"$c1" || wfs_fail "appending to $c1"
	want=$(printf '%s\n%s' "$want" "$i")
	got=$(cat "$c2")
	[ "$got" = "$want" ] ||
		wfs_fail "the second mount reads '$got' of cto just closed, not '$want'"
done

wfs_step "names added through one mount show through another that lists the directory"
# Lookups of absent names in a row make the second mount list the
# directory and answer the next ones itself (client/dirnames); names made
# through it must show at once (looked up again once the kernel dropped
# its entries), and names the first mount adds within 1.5 entry timeouts
# (1 s; the list lives half that).
n=$WFS_MNT/names n2=$mnt2/names
mkdir "$n" && echo x >"$n/old" || wfs_fail "mkdir $n"
sleep 2
for i in $(seq 0 9); do
	[ -e "$n2/absent$i" ] && wfs_fail "absent$i is there through the second mount"
done
[ -f "$n2/old" ] || wfs_fail "old not seen through the second mount"
for i in $(seq 0 9); do
	echo "$i" >"$n2/mine$i" || wfs_fail "creating mine$i through the second mount"
	[ "$(cat "$n2/mine$i")" = "$i" ] || wfs_fail "mine$i not read back at once"
done
mv "$n2/mine0" "$n2/moved" && mkdir "$n2/sub" && ln -s old "$n2/sym" &&
	ln "$n2/old" "$n2/hard" || wfs_fail "rename, mkdir, symlink, link through the second mount"
echo 2 >/proc/sys/vm/drop_caches
for x in mine1 mine9 moved sub sym hard; do
	[ -e "$n2/$x" ] || wfs_fail "$x made through the second mount is not there"
done
echo theirs >"$n/theirs" && echo x >"$n/src" && mv "$n/src" "$n/dst" ||
	wfs_fail "creating through the first mount"
sleep 2
[ "$(cat "$n2/theirs" 2>/dev/null)" = theirs ] ||
	wfs_fail "theirs, made through the first mount, not seen through the second 2 s later"
[ -e "$n2/dst" ] || wfs_fail "dst, renamed into place through the first mount, not seen 2 s later"
[ "$(ls "$n2" | wc -l)" = 16 ] || wfs_fail "the second mount lists $(ls "$n2" | wc -l) names, not 16"

wfs_step "an unlink answered early but failed on the node fails the next fsync of its directory"
# The second mount's kernel trusts its entry for x (entry_timeout) after the
# first mount replaced the file x with a directory, so it sends the unlink;
# the node finds a directory there (EISDIR).
u=$WFS_MNT/early u2=$mnt2/early
mkdir "$u" && echo x >"$u/x" || wfs_fail "mkdir $u"
[ -f "$u2/x" ] || wfs_fail "x not seen through the second mount"
rm "$u/x" && mkdir "$u/x" || wfs_fail "replacing x with a directory"
rm -f "$u2/x" 2>/dev/null
if python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
os.fsync(fd)' "$u2" 2>"$WFS_TMP/fsync.err"; then
	# The kernel may have looked x up again and refused the unlink itself
	# (EISDIR): then nothing was answered early.
	echo "the kernel refused the unlink itself; nothing to settle"
else
	grep -q "Input/output error" "$WFS_TMP/fsync.err" ||
		wfs_fail "fsync of the directory: $(cat "$WFS_TMP/fsync.err")"
	grep -q "answered before it was applied) failed: Is a directory" \
		"$WFS_TMP/wormfs2.log" ||
		wfs_fail "the failed unlink is not in the mount's log"
fi
[ -d "$u/x" ] || wfs_fail "the directory x is gone"
python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
os.fsync(fd)' "$u2" || wfs_fail "a second fsync fails again: the error was reported once"

wfs_step "two mounts create the same names at once: O_EXCL wins exactly once per name"
# Each mount answers creates early in a directory it holds the lease of
# (client/behind.c); the other's creates there wait until it gives the
# lease back.  Whatever the interleaving, each name must be made by
# exactly one of them, hold what its maker wrote, and read the same
# through both mounts.
r=$WFS_MNT/race r2=$mnt2/race
mkdir "$r" || wfs_fail "mkdir $r"
race_py='
import os, sys, time
d, tag, out = sys.argv[1], sys.argv[2], sys.argv[3]
won = []
t_end = time.monotonic() + 120
for i in range(400):
    if time.monotonic() > t_end:
        sys.exit("out of time")
    p = "%s/n%d" % (d, i)
    try:
        fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        continue
    os.write(fd, tag.encode())
    os.close(fd)
    won.append(i)
open(out, "w").write(" ".join(map(str, won)))
'
timeout -k 5 150 python3 -c "$race_py" "$r" one "$WFS_TMP/won1" &
p1=$!
timeout -k 5 150 python3 -c "$race_py" "$r2" two "$WFS_TMP/won2" &
p2=$!
wait "$p1" || wfs_fail "the first mount's creates failed"
wait "$p2" || wfs_fail "the second mount's creates failed"
# A mount that lost a name may have looked it up while its maker was still
# writing: its open reads it whole all the same (close-to-open).
python3 - "$r" "$r2" "$WFS_TMP/won1" "$WFS_TMP/won2" <<'PYEOF' || wfs_fail "names made twice, or lost"
import os, sys
d1, d2, f1, f2 = sys.argv[1:5]
won = [set(map(int, open(f).read().split())) for f in (f1, f2)]
both = won[0] & won[1]
assert not both, "made by both mounts: %s" % sorted(both)[:10]
assert won[0] | won[1] == set(range(400)), "made by neither: %s" % sorted(set(range(400)) - won[0] - won[1])[:10]
for i in range(400):
    want = "one" if i in won[0] else "two"
    for d in (d1, d2):
        got = open("%s/n%d" % (d, i)).read()
        assert got == want, "%s/n%d holds %r, its maker wrote %r" % (d, i, got, want)
print("mount one made %d names, mount two %d" % (len(won[0]), len(won[1])))
PYEOF
[ "$(ls "$r2" | wc -l)" = 400 ] || wfs_fail "the second mount lists $(ls "$r2" | wc -l) names, not 400"
python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
os.fsync(fd)' "$r" || wfs_fail "fsync of the race directory reports a failed early create"
python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
os.fsync(fd)' "$r2" || wfs_fail "fsync through the second mount reports a failed early create"

wfs_step "with -o sync_meta the same unlink fails in unlink() itself"
mnt3=$WFS_TMP/mnt3
WFS_MOUNT_OPTS=sync_meta wfs_mount "$WFS_API" "$mnt3" "$WFS_TMP/wormfs3.log" ||
	wfs_fail "the sync_meta mount did not come up"
u3=$mnt3/early
echo y >"$u/y" || wfs_fail "create y"
[ -f "$u3/y" ] || wfs_fail "y not seen through the third mount"
rm "$u/y" && mkdir "$u/y" || wfs_fail "replacing y with a directory"
if rm -f "$u3/y" 2>"$WFS_TMP/rm.err"; then
	# Only if the kernel looked y up again and found the directory.
	[ -d "$u/y" ] || wfs_fail "rm of y succeeded and the directory is gone"
else
	grep -q "Is a directory" "$WFS_TMP/rm.err" ||
		wfs_fail "rm through the sync_meta mount: $(cat "$WFS_TMP/rm.err")"
fi
grep -q "answered before it was applied" "$WFS_TMP/wormfs3.log" &&
	wfs_fail "the sync_meta mount answered an unlink early"
wfs_umount "$mnt3" || wfs_fail "cannot unmount the third mount"
wfs_umount "$mnt2" || wfs_fail "cannot unmount the second mount"

wfs_pass "POSIX behaviour suite on the mount; read-ahead names stay true"
