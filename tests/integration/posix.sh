#!/usr/bin/env bash
# posix: the POSIX behaviour suite (tests/fs/posix_check.c) on a WormFS
# mount of a one-node cluster: open flags, directories, rename (with
# RENAME_NOREPLACE and RENAME_EXCHANGE), hard links, symlinks, truncate,
# holes, an unlinked open file, timestamps, xattrs, fcntl and flock locks,
# permissions as another user, statfs, fsync, and the errno of every error
# case.  Usage: posix.sh BUILD_DIR
set -u
. "$(dirname "$0")/../lib.sh"
wfs_init "${1:-build}"
wfs_need posix_check
wfs_cluster_up 6

wfs_step "posix_check on $WFS_MNT"
timeout -k 10 300 "$WFS_BUILD/bin/posix_check" "$WFS_MNT" ||
	wfs_fail "posix_check failed on the mount"
wfs_pass "POSIX behaviour suite on the mount"
