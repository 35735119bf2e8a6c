#!/usr/bin/env bash
# programs: real programs on a WormFS mount.
#   tar     a generated tree of about 3,200 files (text, binary, empty and
#           multi-stripe files, symlinks, hard links, odd names, modes, a
#           deep path) extracted onto the mount; after a remount, diff -r
#           against the source and a listing of types, modes, sizes, link
#           counts, link targets and mtimes must match
#   git     init, add, commit, a second commit with changes, renames and
#           deletions, gc, fsck --full --strict, checkout of the first
#           commit; fsck again after a remount
#   sqlite3 a database created and filled with 10,000 rows in ten
#           transactions, queried, updated, trimmed, vacuumed, checked
#           (integrity_check); checked and queried again after a remount
# Usage: programs.sh BUILD_DIR
set -u
. "$(dirname "$0")/../lib.sh"
wfs_init "${1:-build}"
for p in tar git sqlite3 diff find; do
	command -v "$p" >/dev/null || wfs_fail "$p is not installed"
done
wfs_cluster_up 6
export HOME=$WFS_TMP/home LC_ALL=C
mkdir -p "$HOME"

# ---------------------------------------------------------------- tar
make_tree() {
	local src=$1 d i f
	mkdir -p "$src"
	for ((d = 0; d < 50; d++)); do
		mkdir "$src/d$d"
		for ((i = 0; i < 62; i++)); do
			f=$src/d$d/f$i
			if ((i % 13 == 0)); then
				: >"$f"
			elif ((i % 7 == 0)); then
				head -c $((1000 + d * 2000 + i * 37)) /dev/urandom >"$f"
			else
				printf 'file %d of dir %d\n%0*d\n' "$i" "$d" \
					$(((d * 62 + i) % 3000)) 0 >"$f"
			fi
		done
		chmod 600 "$src/d$d/f1"
		chmod 755 "$src/d$d/f2"
		chmod 444 "$src/d$d/f3"
		ln -s "f4" "$src/d$d/link-to-f4"
		ln -s "../d$(((d + 1) % 50))/f5" "$src/d$d/link-across"
		ln "$src/d$d/f6" "$src/d$d/hardlink-to-f6"
	done
	for ((i = 0; i < 3; i++)); do
		head -c $(((3 + 2 * i) * 1048576 + 12345)) /dev/urandom >"$src/big$i"
	done
	mkdir -p "$src/empty-dir" "$src/deep/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15"
	echo deep >"$src/deep/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/leaf"
	echo spaces >"$src/name with spaces"
	echo utf8 >"$src/ünïcödé-名前"
	echo long >"$src/$(printf 'L%.0s' {1..200})"
	ln -s "dangling-target" "$src/dangling"
	chmod 700 "$src/d7"
	touch -d '2001-02-03 04:05:06' "$src/d8/f9"
}

# One line per entry: path, type, mode, and for non-directories size, link
# count and target; mtimes (seconds) for files and directories.
listing() {
	(cd "$1" && find . \( -type d -printf '%p d %m %Ts\n' \) -o \
		\( -type l -printf '%p l %l\n' \) -o \
		-printf '%p %y %m %s %n %Ts\n' | sort)
}

wfs_step "tar: make a tree of files on the local disk and a tarball of it"
src=$WFS_TMP/src
make_tree "$src"
count=$(find "$src" | wc -l)
wfs_log "$count entries"
tar -C "$WFS_TMP" -cf "$WFS_TMP/tree.tar" src || wfs_fail "tar -c failed"

wfs_step "tar: extract it onto the mount"
mkdir "$WFS_MNT/tar"
start=$(date +%s)
timeout -k 10 600 tar -C "$WFS_MNT/tar" -xf "$WFS_TMP/tree.tar" ||
	wfs_fail "tar -x onto the mount failed"
wfs_log "extracted in $(($(date +%s) - start)) s"
# Directories tar left in place have their times set; take the source's
# listing now, after tar -c read it (atime only).
listing "$src" >"$WFS_TMP/want.list"

wfs_step "git: init, add, commit on the mount"
repo=$WFS_MNT/repo
g() { timeout -k 10 300 git -C "$repo" -c user.name=wormfs -c user.email=t@wormfs \
	-c init.defaultBranch=main "$@"; }
mkdir "$repo"
g init -q || wfs_fail "git init failed"
cp -a "$src"/d1? "$repo"/ || wfs_fail "copying files into the repo failed"
g add -A || wfs_fail "git add failed"
g commit -qm "first" || wfs_fail "git commit failed"
first=$(g rev-parse HEAD)
for ((i = 0; i < 20; i++)); do echo "change $i" >>"$repo/d10/f$((i + 10))"; done
g mv d11 d11-renamed || wfs_fail "git mv failed"
g rm -q d12/f20 d12/f21 || wfs_fail "git rm failed"
head -c 300000 /dev/urandom >"$repo/binary.bin"
g add -A && g commit -qm "second" || wfs_fail "second git commit failed"
g gc -q || wfs_fail "git gc failed"
g fsck --full --strict || wfs_fail "git fsck failed"
[ "$(g rev-list --count HEAD)" = 2 ] || wfs_fail "git log does not show two commits"
[ -z "$(g status --porcelain)" ] || wfs_fail "git status is not clean"
g checkout -q "$first" || wfs_fail "git checkout of the first commit failed"
[ -d "$repo/d11" ] && [ ! -e "$repo/binary.bin" ] ||
	wfs_fail "checkout of the first commit did not restore its tree"
g checkout -q main || wfs_fail "git checkout main failed"

wfs_step "sqlite3: create, fill (10,000 rows), query"
db=$WFS_MNT/db/test.sqlite
mkdir "$WFS_MNT/db"
q() { timeout -k 10 300 sqlite3 -bail "$db" "$@"; }
q "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, v REAL, b BLOB);
   CREATE INDEX t_name ON t (name);" || wfs_fail "sqlite3 create failed"
for ((b = 0; b < 10; b++)); do
	q "BEGIN;
	   WITH RECURSIVE c(x) AS (SELECT $((b * 1000 + 1)) UNION ALL
	                           SELECT x + 1 FROM c WHERE x < $(((b + 1) * 1000)))
	   INSERT INTO t SELECT x, 'name-' || x, x * 1.5, randomblob(200) FROM c;
	   COMMIT;" || wfs_fail "sqlite3 insert batch $b failed"
done
got=$(q "SELECT count(*), sum(id), sum(v) FROM t;")
[ "$got" = "10000|50005000|75007500.0" ] || wfs_fail "sqlite3 sums: $got"
got=$(q "SELECT id FROM t WHERE name = 'name-7777';")
[ "$got" = 7777 ] || wfs_fail "sqlite3 index lookup: $got"
q "UPDATE t SET v = v + 1 WHERE id % 10 = 0; DELETE FROM t WHERE id > 9000;
   VACUUM;" || wfs_fail "sqlite3 update/delete/vacuum failed"
got=$(q "SELECT count(*), sum(v) FROM t; PRAGMA integrity_check;")
[ "$got" = "$(printf '9000|60757650.0\nok')" ] ||
	wfs_fail "sqlite3 after update/delete: $got"

wfs_step "remount, then check all three again from the file system"
wfs_remount
wfs_drop_caches
timeout -k 10 600 diff -r --no-dereference "$src" "$WFS_MNT/tar/src" ||
	wfs_fail "diff -r: the extracted tree differs from the source"
listing "$WFS_MNT/tar/src" >"$WFS_TMP/got.list"
diff "$WFS_TMP/want.list" "$WFS_TMP/got.list" | head -n 20
cmp -s "$WFS_TMP/want.list" "$WFS_TMP/got.list" ||
	wfs_fail "types, modes, sizes, links or mtimes differ (above: < source, > mount)"
wfs_log "tar: $count entries identical"
g fsck --full --strict || wfs_fail "git fsck after remount failed"
[ "$(g rev-list --count HEAD)" = 2 ] || wfs_fail "git history lost after remount"
got=$(q "PRAGMA integrity_check; SELECT count(*), sum(v) FROM t;")
[ "$got" = "$(printf 'ok\n9000|60757650.0')" ] ||
	wfs_fail "sqlite3 after remount: $got"
wfs_pass "tar, git and sqlite3 on the mount"
