/* posix_check: a POSIX behaviour suite run against a directory.
 *
 *   posix_check [-v] DIR
 *
 * Makes a scratch folder DIR/posix.<pid>, runs every check in it and removes
 * it.  Each check prints one line, "ok   <name>" or "FAIL <name>: <why>",
 * and the run ends with "posix: N passed, N failed"; the exit status is 1 if
 * any check failed, 2 if the suite could not start.  Checks marked optional
 * (behaviour POSIX leaves open or that FUSE may not offer: SEEK_DATA, ELOOP
 * depth, directory link counts, FIFOs) print "note" instead of failing.
 *
 * It is written to pass on a local Linux file system (ext4, tmpfs), the
 * reference, and is then run on a WormFS mount (tests/integration/posix.sh).
 * What it covers: open flags and their errors, directories and their errors,
 * rename (plain, over files and directories, RENAME_NOREPLACE and
 * RENAME_EXCHANGE through renameat2), hard links, symlinks, truncate up and
 * down with zero fill, holes (also past 4 GiB), an unlinked file still open,
 * timestamps, xattrs, fcntl and flock locks between processes, permissions
 * as another user (run as root: a forked child drops to uid/gid 65534; on a
 * FUSE mount that needs the mount's allow_other), ownership, statfs and
 * fsync.
 *
 * It is a test program: it prints, and it allocates through mem/ like
 * everything else.  It uses no WormFS code beyond mem and log.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "tests/fs/fullio.h"
#include "mem/mem.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

/* The user and group the permission checks run as (nobody/nogroup). */
#define OTHER_UID 65534
#define OTHER_GID 65534
/* A third owner for files neither root's nor the checker's. */
#define THIRD_UID 65533

#define MIB (1024L * 1024L)

struct suite {
	char root[PATH_MAX];	/* the scratch folder */
	unsigned passed;
	unsigned failed;
	unsigned notes;
	bool verbose;
};

/* ------------------------------------------------------------------ */
/* Reporting */

static void vreport(struct suite *s, const char *kind, const char *name,
		    const char *fmt, va_list ap)
{
	printf("%-4s %s", kind, name);
	if (fmt && *fmt) {
		printf(": ");
		vprintf(fmt, ap);
	}
	printf("\n");
	fflush(stdout);
	(void)s;
}

/* Count and print one check: passed when @cond holds; @fmt says why not. */
static bool check(struct suite *s, bool cond, const char *name,
		  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (cond) {
		s->passed++;
		vreport(s, "ok", name, s->verbose ? fmt : "", ap);
	} else {
		s->failed++;
		vreport(s, "FAIL", name, fmt, ap);
	}
	va_end(ap);
	return cond;
}

/* An optional behaviour: printed, never counted as a failure. */
static void note(struct suite *s, bool cond, const char *name, const char *fmt,
		 ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (cond) {
		s->passed++;
		vreport(s, "ok", name, "", ap);
	} else {
		s->notes++;
		vreport(s, "note", name, fmt, ap);
	}
	va_end(ap);
}

/* @rc is the result of a call that must succeed (>= 0).  Reads errno first
 * thing, so pass the call itself as the argument. */
static bool expect_ok(struct suite *s, const char *name, long rc)
{
	int err = errno;

	return check(s, rc >= 0, name, "returned %ld, errno %d (%s)", rc, err,
		     strerror(err));
}

/* @rc is the result of a call that must fail with errno @want. */
static bool expect_err(struct suite *s, const char *name, long rc, int want)
{
	int err = errno;

	if (rc >= 0)
		return check(s, false, name, "succeeded (%ld), expected %s", rc,
			     strerrorname_np(want));
	return check(s, err == want, name, "errno %s (%s), expected %s",
		     strerrorname_np(err) ? strerrorname_np(err) : "?",
		     strerror(err), strerrorname_np(want));
}

/* As expect_err, accepting either of two errnos (where POSIX allows both). */
static bool expect_err2(struct suite *s, const char *name, long rc, int want1,
			int want2)
{
	int err = errno;

	if (rc >= 0)
		return check(s, false, name, "succeeded (%ld), expected %s", rc,
			     strerrorname_np(want1));
	return check(s, err == want1 || err == want2, name,
		     "errno %s, expected %s or %s",
		     strerrorname_np(err) ? strerrorname_np(err) : "?",
		     strerrorname_np(want1), strerrorname_np(want2));
}

/* ------------------------------------------------------------------ */
/* Helpers */

/* @buf = root/name.  Names are short; a path that does not fit aborts the
 * run, as it is a bug in the suite. */
static char *path_of(const struct suite *s, char *buf, const char *name)
{
	int n = snprintf(buf, PATH_MAX, "%s/%s", s->root, name);

	if (n < 0 || n >= PATH_MAX) {
		fprintf(stderr, "posix_check: path too long: %s/%s\n", s->root,
			name);
		exit(2);
	}
	return buf;
}

/* Fill @len bytes with a pattern that differs by @seed and by position. */
static void pattern(void *buf, size_t len, unsigned seed)
{
	uint8_t *p = buf;
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

static bool all_zero(const void *buf, size_t len)
{
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* Create (or replace) @path with @len bytes of pattern @seed.  Returns 0 or
 * -errno. */
static int make_file(const char *path, size_t len, unsigned seed)
{
	char *buf = wfs_malloc(len ? len : 1);
	int fd, rc;

	if (!buf)
		return -ENOMEM;
	pattern(buf, len, seed);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		rc = -errno;
		goto out_free_buf;
	}
	rc = wfs_fsio_pwrite_all(fd, buf, len, 0);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
out_free_buf:
	wfs_free(buf);
	return rc;
}

/* 1 if @path holds exactly @len bytes of pattern @seed, 0 if not, -errno if
 * it cannot be read. */
static int file_is(const char *path, size_t len, unsigned seed)
{
	char *want = wfs_malloc(len + 1), *got = wfs_malloc(len + 1);
	int fd, rc = -ENOMEM;
	ssize_t n;

	if (!want || !got)
		goto out_free;
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		rc = -errno;
		goto out_free;
	}
	n = wfs_fsio_pread_all(fd, got, len + 1, 0);
	close(fd);
	if (n < 0) {
		rc = (int)n;
		goto out_free;
	}
	pattern(want, len, seed);
	rc = (size_t)n == len && memcmp(want, got, len) == 0;
out_free:
	wfs_free(want);
	wfs_free(got);
	return rc;
}

static int renameat2_(const char *from, const char *to, unsigned flags)
{
	return (int)syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, flags);
}

static long stat_nlink(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return -errno;
	return (long)st.st_nlink;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/* Run @fn in a forked child, as @uid/@gid unless @uid is -1 (then with the
 * caller's credentials), and add its counts to @s.  A child that dies counts
 * as one failure named @what. */
static void in_child(struct suite *s, const char *what, int uid, int gid,
		     void (*fn)(struct suite *s, void *arg), void *arg)
{
	unsigned counts[3];
	int fds[2], status;
	pid_t pid;

	fflush(stdout);
	if (pipe(fds) < 0) {
		check(s, false, what, "pipe: %s", strerror(errno));
		return;
	}
	pid = fork();
	if (pid < 0) {
		check(s, false, what, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return;
	}
	if (pid == 0) {
		struct suite child = *s;

		close(fds[0]);
		child.passed = child.failed = child.notes = 0;
		if (uid >= 0 && (setgroups(0, NULL) < 0 ||
				 setresgid(gid, gid, gid) < 0 ||
				 setresuid(uid, uid, uid) < 0)) {
			fprintf(stderr, "posix_check: cannot become %d: %s\n",
				uid, strerror(errno));
			_exit(3);
		}
		fn(&child, arg);
		counts[0] = child.passed;
		counts[1] = child.failed;
		counts[2] = child.notes;
		fflush(stdout);
		if (write(fds[1], counts, sizeof(counts)) != sizeof(counts))
			_exit(4);
		_exit(0);
	}
	close(fds[1]);
	memset(counts, 0, sizeof(counts));
	ssize_t n = read(fds[0], counts, sizeof(counts));
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (n != sizeof(counts) || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		check(s, false, what, "child failed (status 0x%x)", status);
		return;
	}
	s->passed += counts[0];
	s->failed += counts[1];
	s->notes += counts[2];
}

/* ------------------------------------------------------------------ */
/* Open flags */

static void check_open(struct suite *s)
{
	char f[PATH_MAX], l[PATH_MAX], m[PATH_MAX], d[PATH_MAX];
	char buf[64];
	struct stat st;
	int got;
	int fd;

	path_of(s, f, "open.f");
	path_of(s, l, "open.dangling");
	path_of(s, m, "open.missing");
	path_of(s, d, "open.d");

	fd = open(f, O_WRONLY | O_CREAT | O_EXCL, 0666);
	expect_ok(s, "open O_CREAT|O_EXCL new file", fd);
	if (fd >= 0)
		close(fd);
	got = stat(f, &st);
	check(s, got == 0 && (st.st_mode & 07777) == 0644 &&
		      S_ISREG(st.st_mode) && st.st_size == 0,
	      "created mode is 0666 & ~umask 022", "mode %o size %lld",
	      st.st_mode, (long long)st.st_size);
	check(s, st.st_uid == geteuid() && st.st_gid == getegid(),
	      "created file owned by the caller", "uid %u gid %u", st.st_uid,
	      st.st_gid);
	expect_err(s, "open O_CREAT|O_EXCL existing -> EEXIST",
		   open(f, O_WRONLY | O_CREAT | O_EXCL, 0644), EEXIST);
	symlink("open.nowhere", l);
	expect_err(s, "open O_CREAT|O_EXCL dangling symlink -> EEXIST",
		   open(l, O_WRONLY | O_CREAT | O_EXCL, 0644), EEXIST);
	expect_err(s, "open missing -> ENOENT", open(m, O_RDONLY), ENOENT);

	make_file(f, 100, 1);
	fd = open(f, O_WRONLY | O_TRUNC);
	if (fd >= 0)
		close(fd);
	got = stat(f, &st);
	check(s, got == 0 && st.st_size == 0, "O_TRUNC empties",
	      "size %lld", (long long)st.st_size);

	make_file(f, 10, 2);
	fd = open(f, O_WRONLY | O_APPEND);
	if (fd >= 0) {
		lseek(fd, 0, SEEK_SET);
		check(s, write(fd, "abc", 3) == 3 && lseek(fd, 0, SEEK_CUR) == 13,
		      "O_APPEND write goes to the end", "offset %lld",
		      (long long)lseek(fd, 0, SEEK_CUR));
		pwrite(fd, "xyz", 3, 0);
		close(fd);
	}
	fd = open(f, O_RDONLY);
	memset(buf, 0, sizeof(buf));
	check(s, fd >= 0 && wfs_fsio_pread_all(fd, buf, sizeof(buf), 0) == 16 &&
		      memcmp(buf + 10, "abcxyz", 6) == 0,
	      "O_APPEND pwrite appends too (Linux)", "file is %.16s", buf);
	if (fd >= 0) {
		expect_err(s, "write on O_RDONLY -> EBADF", write(fd, "x", 1),
			   EBADF);
		check(s, pread(fd, buf, 10, 1000) == 0, "pread past EOF -> 0",
		      "");
		close(fd);
	}
	fd = open(f, O_WRONLY);
	if (fd >= 0) {
		expect_err(s, "read on O_WRONLY -> EBADF", read(fd, buf, 1),
			   EBADF);
		close(fd);
	}
	expect_err(s, "O_DIRECTORY on a file -> ENOTDIR",
		   open(f, O_RDONLY | O_DIRECTORY), ENOTDIR);
	mkdir(d, 0755);
	expect_err(s, "open a directory O_WRONLY -> EISDIR", open(d, O_WRONLY),
		   EISDIR);
	fd = open(d, O_RDONLY);
	if (fd >= 0) {
		expect_err(s, "read a directory fd -> EISDIR",
			   read(fd, buf, sizeof(buf)), EISDIR);
		close(fd);
	}
	expect_err(s, "O_NOFOLLOW on a symlink -> ELOOP",
		   open(l, O_RDONLY | O_NOFOLLOW), ELOOP);
}

/* Names of 255 bytes work, 256 are ENAMETOOLONG, for files and dirs. */
static void check_names(struct suite *s)
{
	char name[300], p[PATH_MAX], q[PATH_MAX], f[PATH_MAX];
	DIR *dir;
	struct dirent *de;
	bool found = false;
	int fd;

	memset(name, 'n', 255);
	name[255] = '\0';
	path_of(s, p, name);
	fd = open(p, O_WRONLY | O_CREAT, 0644);
	expect_ok(s, "create a 255-byte name", fd);
	if (fd >= 0)
		close(fd);
	dir = opendir(s->root);
	while (dir && (de = readdir(dir)))
		if (strlen(de->d_name) == 255)
			found = true;
	if (dir)
		closedir(dir);
	check(s, found, "readdir lists the 255-byte name", "");
	unlink(p);
	memset(name, 'n', 256);
	name[256] = '\0';
	path_of(s, q, name);
	expect_err(s, "create a 256-byte name -> ENAMETOOLONG",
		   open(q, O_WRONLY | O_CREAT, 0644), ENAMETOOLONG);
	expect_err(s, "mkdir a 256-byte name -> ENAMETOOLONG", mkdir(q, 0755),
		   ENAMETOOLONG);
	path_of(s, f, "names.f");
	make_file(f, 1, 3);
	expect_err(s, "rename to a 256-byte name -> ENAMETOOLONG",
		   rename(f, q), ENAMETOOLONG);
	expect_err(s, "stat a 256-byte name -> ENAMETOOLONG", access(q, F_OK),
		   ENAMETOOLONG);
}

/* ------------------------------------------------------------------ */
/* Directories */

/* Create @n entries in @dir, list it, and check each is listed once. */
static void check_readdir(struct suite *s, const char *dir, unsigned n)
{
	char p[PATH_MAX + 64], name[64];
	unsigned char *seen = wfs_calloc(n, 1);
	unsigned dots = 0, bad = 0, dup = 0, missing = 0, removed = 0;
	struct dirent *de;
	DIR *d;

	if (!seen)
		return;
	mkdir(dir, 0755);
	for (unsigned i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s/entry-with-a-longish-name-%06u", dir,
			 i);
		if (make_file(p, 0, 0) < 0)
			bad++;
	}
	check(s, bad == 0, "create entries in one directory", "%u failed",
	      bad);
	d = opendir(dir);
	while (d && (de = readdir(d))) {
		unsigned i;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) {
			dots++;
			continue;
		}
		if (sscanf(de->d_name, "entry-with-a-longish-name-%6u", &i) != 1 ||
		    i >= n) {
			bad++;
			continue;
		}
		if (seen[i]++)
			dup++;
	}
	if (d)
		closedir(d);
	for (unsigned i = 0; i < n; i++)
		missing += !seen[i];
	snprintf(name, sizeof(name), "readdir lists %u entries once each", n);
	check(s, d && dots == 2 && !bad && !dup && !missing, name,
	      "dots %u, unknown %u, duplicates %u, missing %u", dots, bad, dup,
	      missing);

	/* Unlink every third while a listing is open: entries that stay are
	 * listed exactly once. */
	memset(seen, 0, n);
	dup = missing = 0;
	d = opendir(dir);
	for (unsigned i = 0; i < n; i += 3) {
		snprintf(p, sizeof(p), "%s/entry-with-a-longish-name-%06u", dir,
			 i);
		removed += unlink(p) == 0;
	}
	while (d && (de = readdir(d))) {
		unsigned i;

		if (sscanf(de->d_name, "entry-with-a-longish-name-%6u", &i) == 1 &&
		    i < n && seen[i]++)
			dup++;
	}
	if (d)
		closedir(d);
	for (unsigned i = 0; i < n; i++)
		if (i % 3 && !seen[i])
			missing++;
	check(s, removed == (n + 2) / 3 && !dup && !missing,
	      "readdir during unlinks: the others once each",
	      "removed %u, duplicates %u, missing %u", removed, dup, missing);
	for (unsigned i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s/entry-with-a-longish-name-%06u", dir,
			 i);
		unlink(p);
	}
	wfs_free(seen);
}

/* readdir's d_type, where given, is the entry's type. */
static void check_dtype(struct suite *s)
{
	char d[PATH_MAX], p[PATH_MAX];
	struct dirent *de;
	int wrong = 0, known = 0;
	DIR *dir;

	path_of(s, d, "dtype");
	mkdir(d, 0755);
	path_of(s, p, "dtype/file");
	make_file(p, 1, 6);
	path_of(s, p, "dtype/dir");
	mkdir(p, 0755);
	path_of(s, p, "dtype/link");
	symlink("file", p);
	dir = opendir(d);
	while (dir && (de = readdir(dir))) {
		unsigned char want = !strcmp(de->d_name, "file") ? DT_REG
				     : !strcmp(de->d_name, "link") ? DT_LNK
				     : DT_DIR;

		if (de->d_type == DT_UNKNOWN)
			continue;
		known++;
		wrong += de->d_type != want;
	}
	if (dir)
		closedir(dir);
	check(s, dir && !wrong, "readdir d_type matches the entry type",
	      "%d of %d wrong", wrong, known);
}

static void check_dirs(struct suite *s)
{
	char d[PATH_MAX], sub[PATH_MAX], f[PATH_MAX], p[PATH_MAX];
	char big[PATH_MAX];
	struct stat st;
	int got;
	long before;

	path_of(s, d, "dir.d");
	path_of(s, sub, "dir.d/sub");
	path_of(s, f, "dir.f");
	expect_ok(s, "mkdir", mkdir(d, 0755));
	got = stat(d, &st);
	check(s, got == 0 && S_ISDIR(st.st_mode) &&
		      (st.st_mode & 07777) == 0755,
	      "mkdir mode 0755", "mode %o", st.st_mode);
	expect_err(s, "mkdir existing dir -> EEXIST", mkdir(d, 0755), EEXIST);
	make_file(f, 10, 4);
	expect_err(s, "mkdir over a file -> EEXIST", mkdir(f, 0755), EEXIST);
	path_of(s, p, "dir.missing/x");
	expect_err(s, "mkdir under a missing dir -> ENOENT", mkdir(p, 0755),
		   ENOENT);
	path_of(s, p, "dir.f/x");
	expect_err(s, "mkdir under a file -> ENOTDIR", mkdir(p, 0755),
		   ENOTDIR);
	expect_err(s, "open under a file -> ENOTDIR", open(p, O_RDONLY),
		   ENOTDIR);

	before = stat_nlink(d);
	mkdir(sub, 0755);
	note(s, before == 2 && stat_nlink(d) == 3,
	     "directory nlink counts subdirectories (optional)",
	     "nlink %ld then %ld", before, stat_nlink(d));
	path_of(s, p, "dir.d/sub/file");
	make_file(p, 1, 5);
	expect_err(s, "rmdir non-empty -> ENOTEMPTY", rmdir(sub), ENOTEMPTY);
	expect_err(s, "rmdir a file -> ENOTDIR", rmdir(f), ENOTDIR);
	expect_err(s, "unlink a directory -> EISDIR", unlink(sub), EISDIR);
	path_of(s, p, "dir.gone");
	expect_err(s, "rmdir missing -> ENOENT", rmdir(p), ENOENT);
	expect_err(s, "unlink missing -> ENOENT", unlink(p), ENOENT);
	path_of(s, p, "dir.d/sub/.");
	expect_err(s, "rmdir dir/. -> EINVAL", rmdir(p), EINVAL);
	path_of(s, p, "dir.d/sub/file");
	unlink(p);
	expect_ok(s, "rmdir empty dir", rmdir(sub));
	check(s, !exists(sub), "rmdir removes the name", "");
	note(s, stat_nlink(d) == 2, "rmdir drops the parent's nlink (optional)",
	     "nlink %ld", stat_nlink(d));

	path_of(s, big, "dir.big");
	check_readdir(s, big, 1000);
	expect_ok(s, "rmdir after unlinking every entry", rmdir(big));
}

/* ------------------------------------------------------------------ */
/* Rename */

static void check_rename_files(struct suite *s)
{
	char a[PATH_MAX], b[PATH_MAX], d1[PATH_MAX], d2[PATH_MAX];
	char x[PATH_MAX], y[PATH_MAX];
	struct stat sa, sb;

	path_of(s, d1, "ren.d1");
	path_of(s, d2, "ren.d2");
	mkdir(d1, 0755);
	mkdir(d2, 0755);
	path_of(s, a, "ren.d1/a");
	path_of(s, b, "ren.d2/b");
	make_file(a, 5000, 10);
	stat(a, &sa);
	expect_ok(s, "rename a file across directories", rename(a, b));
	check(s, !exists(a) && file_is(b, 5000, 10) == 1 &&
		      stat(b, &sb) == 0 && sb.st_ino == sa.st_ino,
	      "renamed file: old name gone, same inode and data", "");

	make_file(a, 300, 11);
	stat(a, &sa);
	expect_ok(s, "rename over an existing file", rename(a, b));
	check(s, !exists(a) && file_is(b, 300, 11) == 1 &&
		      stat(b, &sb) == 0 && sb.st_ino == sa.st_ino,
	      "rename over a file replaces it", "");

	path_of(s, x, "ren.d1/x");
	path_of(s, y, "ren.d1/y");
	make_file(x, 7, 12);
	link(x, y);
	expect_ok(s, "rename between two links of one inode", rename(x, y));
	check(s, exists(x) && exists(y), "links of one inode: both stay (POSIX)",
	      "");

	path_of(s, x, "ren.nothing");
	expect_err(s, "rename missing -> ENOENT", rename(x, b), ENOENT);
	expect_err(s, "rename a file over a dir -> EISDIR", rename(b, d1),
		   EISDIR);
	expect_err(s, "rename a dir over a file -> ENOTDIR", rename(d1, b),
		   ENOTDIR);
	expect_ok(s, "rename to itself", rename(b, b));
	check(s, file_is(b, 300, 11) == 1, "rename to itself keeps the file",
	      "");

	/* The file a rename replaces lives on while it is open. */
	make_file(a, 700, 14);
	{
		char buf[300];
		int fd = open(b, O_RDONLY);

		expect_ok(s, "rename over a file that is open", rename(a, b));
		check(s, fd >= 0 && wfs_fsio_pread_all(fd, buf, sizeof(buf), 0) == 300 &&
			      file_is(b, 700, 14) == 1,
		      "the replaced file stays readable through its fd", "");
		if (fd >= 0) {
			char want[300];

			pattern(want, sizeof(want), 11);
			check(s, !memcmp(buf, want, sizeof(want)),
			      "and still holds its old data", "");
			close(fd);
		}
	}
}

static void check_rename_dirs(struct suite *s)
{
	char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX], p[PATH_MAX], q[PATH_MAX];
	long before;

	path_of(s, a, "rend.a");
	path_of(s, b, "rend.b");
	path_of(s, c, "rend.c");
	mkdir(a, 0755);
	mkdir(b, 0755);
	path_of(s, p, "rend.a/inner");
	make_file(p, 123, 13);
	expect_ok(s, "rename a dir over an empty dir", rename(a, b));
	path_of(s, p, "rend.b/inner");
	check(s, !exists(a) && file_is(p, 123, 13) == 1,
	      "dir over empty dir: contents moved", "");

	mkdir(a, 0755);
	expect_err(s, "rename a dir over a non-empty dir -> ENOTEMPTY",
		   rename(a, b), ENOTEMPTY);
	path_of(s, p, "rend.b/sub");
	mkdir(p, 0755);
	path_of(s, q, "rend.b/sub/deeper");
	expect_err(s, "rename a dir into its own subtree -> EINVAL",
		   rename(b, q), EINVAL);
	expect_err(s, "rename a dir onto its own child dir -> EINVAL",
		   rename(b, p), EINVAL);

	/* Moving a subdir changes both parents' link counts. */
	mkdir(c, 0755);
	before = stat_nlink(b);
	path_of(s, q, "rend.c/sub");
	expect_ok(s, "rename a dir to another parent", rename(p, q));
	note(s, stat_nlink(b) == before - 1 && stat_nlink(c) == 3,
	     "moving a dir updates parents' nlink (optional)",
	     "old parent %ld (was %ld), new parent %ld", stat_nlink(b), before,
	     stat_nlink(c));
	path_of(s, p, "rend.c/sub/..");
	{
		struct stat sp, sc;
		int got;

		got = stat(p, &sp);
		check(s, got == 0 && stat(c, &sc) == 0 &&
			      sp.st_ino == sc.st_ino,
		      "moved dir's .. is its new parent", "");
	}
}

static void check_rename2(struct suite *s)
{
	char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX], d[PATH_MAX];
	struct stat sa, sb, sa2, sb2;
	int rc;

	path_of(s, a, "ren2.a");
	path_of(s, b, "ren2.b");
	path_of(s, c, "ren2.c");
	path_of(s, d, "ren2.dir");
	make_file(a, 1000, 20);
	make_file(b, 2000, 21);
	rc = renameat2_(a, b, RENAME_NOREPLACE);
	if (rc < 0 && errno == EINVAL) {
		note(s, false, "renameat2 flags (optional)",
		     "the file system refuses renameat2 flags (EINVAL)");
		return;
	}
	expect_err(s, "RENAME_NOREPLACE onto an existing name -> EEXIST", rc,
		   EEXIST);
	check(s, file_is(a, 1000, 20) == 1 && file_is(b, 2000, 21) == 1,
	      "failed RENAME_NOREPLACE changes nothing", "");
	expect_ok(s, "RENAME_NOREPLACE onto a free name",
		  renameat2_(a, c, RENAME_NOREPLACE));
	check(s, !exists(a) && file_is(c, 1000, 20) == 1,
	      "RENAME_NOREPLACE moves the file", "");

	stat(c, &sa);
	stat(b, &sb);
	expect_ok(s, "RENAME_EXCHANGE two files",
		  renameat2_(c, b, RENAME_EXCHANGE));
	check(s, file_is(c, 2000, 21) == 1 && file_is(b, 1000, 20) == 1 &&
		      stat(c, &sa2) == 0 && stat(b, &sb2) == 0 &&
		      sa2.st_ino == sb.st_ino && sb2.st_ino == sa.st_ino,
	      "RENAME_EXCHANGE swaps names and data", "");
	mkdir(d, 0755);
	expect_ok(s, "RENAME_EXCHANGE a file and a dir",
		  renameat2_(c, d, RENAME_EXCHANGE));
	stat(c, &sa2);
	check(s, S_ISDIR(sa2.st_mode) && file_is(d, 2000, 21) == 1,
	      "RENAME_EXCHANGE file and dir swap", "");
	expect_err(s, "RENAME_EXCHANGE with a missing name -> ENOENT",
		   renameat2_(a, b, RENAME_EXCHANGE), ENOENT);
}

/* ------------------------------------------------------------------ */
/* Links */

static void check_links(struct suite *s)
{
	char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX], d[PATH_MAX];
	struct stat sa, sb;
	int got;
	int fd;

	path_of(s, a, "link.a");
	path_of(s, b, "link.b");
	path_of(s, c, "link.c");
	path_of(s, d, "link.dir");
	make_file(a, 4000, 30);
	expect_ok(s, "link", link(a, b));
	got = stat(a, &sa);
	check(s, got == 0 && stat(b, &sb) == 0 &&
		      sa.st_ino == sb.st_ino && sa.st_nlink == 2 &&
		      sb.st_nlink == 2,
	      "link: same inode, nlink 2 on both", "nlink %lu/%lu",
	      (unsigned long)sa.st_nlink, (unsigned long)sb.st_nlink);
	link(a, c);
	check(s, stat_nlink(b) == 3, "a third link: nlink 3", "nlink %ld",
	      stat_nlink(b));
	fd = open(b, O_WRONLY);
	if (fd >= 0) {
		pwrite(fd, "SHARED", 6, 100);
		close(fd);
	}
	{
		char buf[6] = { 0 };

		fd = open(c, O_RDONLY);
		check(s, fd >= 0 && pread(fd, buf, 6, 100) == 6 &&
			      !memcmp(buf, "SHARED", 6),
		      "data written through one name is read through another",
		      "");
		if (fd >= 0)
			close(fd);
	}
	expect_ok(s, "unlink one name", unlink(a));
	check(s, !exists(a) && stat_nlink(b) == 2 && stat_nlink(c) == 2,
	      "unlink keeps the other names, nlink 2", "nlink %ld",
	      stat_nlink(b));
	unlink(c);
	check(s, stat_nlink(b) == 1, "nlink back to 1", "nlink %ld",
	      stat_nlink(b));
	mkdir(d, 0755);
	path_of(s, a, "link.dirlink");
	expect_err(s, "link to a directory -> EPERM", link(d, a), EPERM);
	path_of(s, a, "link.none");
	expect_err(s, "link from a missing file -> ENOENT", link(a, c), ENOENT);
	make_file(c, 1, 31);
	expect_err(s, "link onto an existing name -> EEXIST", link(b, c),
		   EEXIST);
}

/* ------------------------------------------------------------------ */
/* Symlinks */

static void check_symlinks(struct suite *s)
{
	char t[PATH_MAX], l[PATH_MAX], x[PATH_MAX], y[PATH_MAX];
	char buf[PATH_MAX];
	const char *target = "sym.target";
	struct stat st;
	int got;
	ssize_t n;

	path_of(s, t, "sym.target");
	path_of(s, l, "sym.link");
	make_file(t, 500, 40);
	expect_ok(s, "symlink", symlink(target, l));
	memset(buf, 'Z', sizeof(buf));
	n = readlink(l, buf, sizeof(buf));
	check(s, n == (ssize_t)strlen(target) && !memcmp(buf, target, n) &&
		      buf[n] == 'Z',
	      "readlink returns the target, no NUL", "got %zd bytes", n);
	got = lstat(l, &st);
	check(s, got == 0 && S_ISLNK(st.st_mode) &&
		      st.st_size == (off_t)strlen(target),
	      "lstat: a link whose size is the target length",
	      "mode %o size %lld", st.st_mode, (long long)st.st_size);
	got = stat(l, &st);
	check(s, got == 0 && S_ISREG(st.st_mode) && st.st_size == 500,
	      "stat follows the link", "");
	check(s, file_is(l, 500, 40) == 1, "open follows the link", "");
	expect_err(s, "symlink onto an existing name -> EEXIST",
		   symlink("x", t), EEXIST);
	expect_err(s, "readlink of a file -> EINVAL",
		   readlink(t, buf, sizeof(buf)), EINVAL);
	path_of(s, x, "sym.empty");
	expect_err(s, "symlink with an empty target -> ENOENT", symlink("", x),
		   ENOENT);
	unlink(t);
	expect_err(s, "stat through a dangling link -> ENOENT", stat(l, &st),
		   ENOENT);
	got = lstat(l, &st);
	check(s, got == 0, "lstat of a dangling link works", "");

	path_of(s, x, "sym.loop1");
	path_of(s, y, "sym.loop2");
	symlink("sym.loop2", x);
	symlink("sym.loop1", y);
	{
		int fd = open(x, O_RDONLY);
		int err = errno;

		note(s, fd < 0 && err == ELOOP, "symlink loop -> ELOOP (optional)",
		     "fd %d errno %s", fd, strerrorname_np(err));
		if (fd >= 0)
			close(fd);
	}
	/* A long target, as tools (and git) make. */
	memset(buf, 'p', 1000);
	buf[1000] = '\0';
	path_of(s, x, "sym.long");
	symlink(buf, x);
	{
		char got[PATH_MAX];

		n = readlink(x, got, sizeof(got));
		check(s, n == 1000 && !memcmp(got, buf, 1000),
		      "a 1000-byte symlink target round-trips", "got %zd", n);
	}
}

/* ------------------------------------------------------------------ */
/* Truncate and holes */

/* Whether bytes [from, to) of @fd are zero, and [0, from) match @ref. */
static bool prefix_then_zeros(int fd, const char *ref, size_t from, size_t to)
{
	char *buf = wfs_malloc(to ? to : 1);
	bool ok;

	if (!buf)
		return false;
	ok = wfs_fsio_pread_all(fd, buf, to, 0) == (ssize_t)to &&
	     !memcmp(buf, ref, from) && all_zero(buf + from, to - from);
	wfs_free(buf);
	return ok;
}

static void check_truncate(struct suite *s)
{
	const size_t len = 9 * MIB + 1234;	/* over two 4 MiB stripes */
	char f[PATH_MAX], d[PATH_MAX];
	char *ref = wfs_malloc(len);
	struct stat st;
	int got;
	int fd;

	if (!ref)
		return;
	path_of(s, f, "trunc.f");
	path_of(s, d, "trunc.d");
	pattern(ref, len, 50);
	make_file(f, len, 50);
	expect_ok(s, "truncate down into a stripe", truncate(f, 5 * MIB + 17));
	got = stat(f, &st);
	check(s, got == 0 && st.st_size == 5 * MIB + 17,
	      "truncate down sets the size", "size %lld", (long long)st.st_size);
	expect_ok(s, "truncate up past the old data", truncate(f, len));
	fd = open(f, O_RDWR);
	check(s, fd >= 0 && prefix_then_zeros(fd, ref, 5 * MIB + 17, len),
	      "truncate down then up: the cut bytes read as zeros", "");
	if (fd >= 0) {
		expect_ok(s, "ftruncate down to 100", ftruncate(fd, 100));
		expect_ok(s, "ftruncate up to 3 MiB", ftruncate(fd, 3 * MIB));
		check(s, prefix_then_zeros(fd, ref, 100, 3 * MIB),
		      "ftruncate down then up: zeros", "");
		/* Write past the end after a cut: the gap reads zero. */
		wfs_fsio_pwrite_all(fd, ref, 10, 4 * MIB + 5);
		got = fstat(fd, &st);
		check(s, got == 0 && st.st_size == 4 * MIB + 15 &&
			      prefix_then_zeros(fd, ref, 100, 4 * MIB + 5),
		      "write past EOF after truncate: the gap reads zeros", "");
		expect_ok(s, "ftruncate to 0", ftruncate(fd, 0));
		got = fstat(fd, &st);
		check(s, got == 0 && st.st_size == 0,
		      "ftruncate to 0: empty", "");
		expect_err(s, "ftruncate negative -> EINVAL", ftruncate(fd, -1),
			   EINVAL);
		close(fd);
	}
	fd = open(f, O_RDONLY);
	if (fd >= 0) {
		expect_err2(s, "ftruncate a read-only fd -> EINVAL or EBADF",
			    ftruncate(fd, 10), EINVAL, EBADF);
		close(fd);
	}
	mkdir(d, 0755);
	expect_err(s, "truncate a directory -> EISDIR", truncate(d, 0), EISDIR);
	path_of(s, d, "trunc.none");
	expect_err(s, "truncate a missing file -> ENOENT", truncate(d, 0),
		   ENOENT);
	wfs_free(ref);
}

static void check_holes(struct suite *s)
{
	const off_t far = 5LL * 1024 * MIB + 3;		/* past 4 GiB */
	char f[PATH_MAX], g[PATH_MAX];
	char *buf = wfs_malloc(MIB);
	struct stat st;
	int got;
	off_t o;
	int fd;

	if (!buf)
		return;
	path_of(s, f, "hole.f");
	path_of(s, g, "hole.far");
	fd = open(f, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		check(s, false, "create a sparse file", "%s", strerror(errno));
		wfs_free(buf);
		return;
	}
	wfs_fsio_pwrite_all(fd, "head", 4, 0);
	wfs_fsio_pwrite_all(fd, "tail", 4, 10 * MIB);
	fsync(fd);
	got = fstat(fd, &st);
	check(s, got == 0 && st.st_size == 10 * MIB + 4,
	      "write past EOF extends the size", "size %lld",
	      (long long)st.st_size);
	check(s, wfs_fsio_pread_all(fd, buf, MIB, 3 * MIB) == MIB && all_zero(buf, MIB),
	      "a hole reads as zeros", "");
	check(s, wfs_fsio_pread_all(fd, buf, 8, 10 * MIB - 4) == 8 &&
		      all_zero(buf, 4) && !memcmp(buf + 4, "tail", 4),
	      "data after a hole is intact", "");
	check(s, wfs_fsio_pread_all(fd, buf, 4096, 0) == 4096 &&
		      !memcmp(buf, "head", 4) && all_zero(buf + 4, 4092),
	      "zeros after data in the first block", "");
	check(s, (long long)st.st_blocks * 512 < st.st_size,
	      "st_blocks of a sparse file is less than its size",
	      "blocks %lld size %lld", (long long)st.st_blocks,
	      (long long)st.st_size);
	o = lseek(fd, 0, SEEK_DATA);
	note(s, o == 0, "SEEK_DATA from 0 -> 0 (optional)", "got %lld",
	     (long long)o);
	o = lseek(fd, 0, SEEK_HOLE);
	note(s, o > 0 && o <= 10 * MIB + 4, "SEEK_HOLE within the file (optional)",
	     "got %lld", (long long)o);
	errno = 0;
	o = lseek(fd, 11 * MIB, SEEK_DATA);
	note(s, o < 0 && errno == ENXIO, "SEEK_DATA past EOF -> ENXIO (optional)",
	     "got %lld errno %d", (long long)o, errno);
	close(fd);

	fd = open(g, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		expect_ok(s, "pwrite at 5 GiB", pwrite(fd, "far", 3, far));
		got = fstat(fd, &st);
		check(s, got == 0 && st.st_size == far + 3,
		      "64-bit size past 4 GiB", "size %lld",
		      (long long)st.st_size);
		check(s, wfs_fsio_pread_all(fd, buf, 3, far) == 3 &&
			      !memcmp(buf, "far", 3),
		      "read back at 5 GiB", "");
		check(s, wfs_fsio_pread_all(fd, buf, 4096, 4LL * 1024 * MIB - 2048) ==
				  4096 && all_zero(buf, 4096),
		      "hole across the 4 GiB boundary reads zeros", "");
		close(fd);
	}
	unlink(g);
	wfs_free(buf);
}

/* An unlinked file stays readable and writable through its open fds. */
static void check_unlinked_open(struct suite *s)
{
	char f[PATH_MAX];
	char buf[4096], want[4096];
	struct stat st;
	int got;
	int fd;

	path_of(s, f, "orphan.f");
	make_file(f, sizeof(want), 60);
	pattern(want, sizeof(want), 60);
	fd = open(f, O_RDWR);
	if (fd < 0) {
		check(s, false, "open a file to unlink", "%s", strerror(errno));
		return;
	}
	expect_ok(s, "unlink an open file", unlink(f));
	check(s, !exists(f), "its name is gone", "");
	got = fstat(fd, &st);
	check(s, got == 0 && st.st_nlink == 0,
	      "fstat of an unlinked file: nlink 0", "nlink %lu",
	      (unsigned long)st.st_nlink);
	check(s, wfs_fsio_pread_all(fd, buf, sizeof(buf), 0) == sizeof(buf) &&
		      !memcmp(buf, want, sizeof(buf)),
	      "an unlinked open file is still readable", "");
	make_file(f, 10, 61);
	wfs_fsio_pwrite_all(fd, "more", 4, sizeof(buf));
	check(s, wfs_fsio_pread_all(fd, buf, 4, sizeof(buf)) == 4 &&
		      !memcmp(buf, "more", 4) && file_is(f, 10, 61) == 1,
	      "writable too, and a new file of that name is separate", "");
	close(fd);
}

/* Unlinks are answered before the cluster applies them (wormfs): whatever
 * comes next must still see them done, in order. */
static void check_unlink_order(struct suite *s)
{
	char d[PATH_MAX], f[PATH_MAX + 32], g[PATH_MAX + 32];
	unsigned bad = 0, listed = 0;
	struct dirent *de;
	int fd, got;
	DIR *dir;

	path_of(s, d, "unlink-order");
	if (mkdir(d, 0755) < 0) {
		check(s, false, "mkdir for the unlink order checks", "%s",
		      strerror(errno));
		return;
	}
	for (unsigned i = 0; i < 200; i++) {
		snprintf(f, sizeof(f), "%s/f%u", d, i);
		if (make_file(f, i % 3 ? 0 : 100, i) < 0)
			bad++;
	}
	for (unsigned i = 0; i < 200; i++) {
		snprintf(f, sizeof(f), "%s/f%u", d, i);
		if (i % 2 && unlink(f) < 0)
			bad++;
	}
	dir = opendir(d);
	while (dir && (de = readdir(dir)))
		if (de->d_name[0] == 'f')
			listed++;
	if (dir)
		closedir(dir);
	check(s, bad == 0 && listed == 100,
	      "a listing right after unlinks shows none of them",
	      "%u listed, %u failed", listed, bad);
	snprintf(f, sizeof(f), "%s/f1", d);
	check(s, !exists(f), "a stat right after an unlink: ENOENT", "");
	expect_err(s, "unlink right after an unlink -> ENOENT", unlink(f),
		   ENOENT);
	fd = open(f, O_WRONLY | O_CREAT | O_EXCL, 0644);
	check(s, fd >= 0, "O_EXCL create of a name just unlinked", "%s",
	      fd < 0 ? strerror(errno) : "");
	if (fd >= 0)
		close(fd);
	snprintf(f, sizeof(f), "%s/f0", d);
	snprintf(g, sizeof(g), "%s/f0-link", d);
	expect_ok(s, "link", link(f, g));
	expect_ok(s, "unlink the first name", unlink(f));
	check(s, stat_nlink(g) == 1, "right after: the other name has nlink 1",
	      "nlink %ld", stat_nlink(g));
	expect_ok(s, "rename onto the name just unlinked", rename(g, f));
	check(s, file_is(f, 100, 0) == 1, "and it holds the renamed file", "");
	/* Empty the directory, then remove it at once. */
	bad = 0;
	for (unsigned i = 0; i < 200; i++) {
		snprintf(f, sizeof(f), "%s/f%u", d, i);
		if (!(i % 2) && unlink(f) < 0)
			bad++;
	}
	snprintf(f, sizeof(f), "%s/f1", d);
	if (unlink(f) < 0)
		bad++;
	fd = open(d, O_RDONLY | O_DIRECTORY);
	got = fd >= 0 ? fsync(fd) : -1;
	check(s, got == 0, "fsync of the directory after unlinks", "%s",
	      got ? strerror(errno) : "");
	if (fd >= 0)
		close(fd);
	check(s, bad == 0 && rmdir(d) == 0,
	      "rmdir right after unlinking everything in it", "%s",
	      bad ? "an unlink failed" : strerror(errno));
}

/* ------------------------------------------------------------------ */
/* Timestamps */

static bool later(const struct timespec *a, const struct timespec *b)
{
	return ts_ns(a) > ts_ns(b);
}

static void check_times(struct suite *s)
{
	char w[PATH_MAX], c[PATH_MAX], t[PATH_MAX], d[PATH_MAX], p[PATH_MAX];
	struct stat sw, sc, st, sd, now_st;
	struct timespec ts[2], now;
	int fd;

	path_of(s, w, "time.w");
	path_of(s, c, "time.c");
	path_of(s, t, "time.t");
	path_of(s, d, "time.d");
	make_file(w, 100, 70);
	make_file(c, 100, 71);
	make_file(t, 100, 72);
	mkdir(d, 0755);
	stat(w, &sw);
	stat(c, &sc);
	stat(t, &st);
	stat(d, &sd);
	/* Past any timestamp granularity a file system may have. */
	usleep(1100 * 1000);

	fd = open(w, O_WRONLY);
	if (fd >= 0) {
		pwrite(fd, "x", 1, 10);
		close(fd);
	}
	stat(w, &now_st);
	check(s, later(&now_st.st_mtim, &sw.st_mtim) &&
		      later(&now_st.st_ctim, &sw.st_ctim),
	      "write updates mtime and ctime", "");
	chmod(c, 0600);
	stat(c, &now_st);
	check(s, later(&now_st.st_ctim, &sc.st_ctim) &&
		      ts_ns(&now_st.st_mtim) == ts_ns(&sc.st_mtim),
	      "chmod updates ctime, not mtime", "");
	truncate(t, 10);
	stat(t, &now_st);
	check(s, later(&now_st.st_mtim, &st.st_mtim) &&
		      later(&now_st.st_ctim, &st.st_ctim),
	      "truncate updates mtime and ctime", "");
	path_of(s, p, "time.d/new");
	make_file(p, 0, 0);
	stat(d, &now_st);
	check(s, later(&now_st.st_mtim, &sd.st_mtim),
	      "creating an entry updates the dir's mtime", "");

	ts[0].tv_sec = 1000000000;
	ts[0].tv_nsec = 500000000;
	ts[1].tv_sec = 1234567890;
	ts[1].tv_nsec = 123456789;
	expect_ok(s, "utimensat explicit times", utimensat(AT_FDCWD, w, ts, 0));
	stat(w, &now_st);
	check(s, ts_ns(&now_st.st_atim) == ts_ns(&ts[0]) &&
		      ts_ns(&now_st.st_mtim) == ts_ns(&ts[1]),
	      "explicit atime and mtime, to the ns", "atime %lld.%09ld mtime %lld.%09ld",
	      (long long)now_st.st_atim.tv_sec, now_st.st_atim.tv_nsec,
	      (long long)now_st.st_mtim.tv_sec, now_st.st_mtim.tv_nsec);
	ts[0].tv_nsec = UTIME_NOW;
	ts[1].tv_nsec = UTIME_OMIT;
	clock_gettime(CLOCK_REALTIME, &now);
	expect_ok(s, "utimensat UTIME_NOW/UTIME_OMIT",
		  utimensat(AT_FDCWD, w, ts, 0));
	stat(w, &now_st);
	check(s, llabs(now_st.st_atim.tv_sec - now.tv_sec) <= 2 &&
		      ts_ns(&now_st.st_mtim) == 1234567890123456789LL,
	      "UTIME_NOW sets atime to now, UTIME_OMIT keeps mtime",
	      "atime %lld (now %lld) mtime %lld", (long long)now_st.st_atim.tv_sec,
	      (long long)now.tv_sec, (long long)now_st.st_mtim.tv_sec);
	expect_ok(s, "utimensat NULL (both now)", utimensat(AT_FDCWD, w, NULL, 0));
	stat(w, &now_st);
	check(s, llabs(now_st.st_mtim.tv_sec - now.tv_sec) <= 2,
	      "NULL times set mtime to now", "");
}

/* ------------------------------------------------------------------ */
/* Extended attributes */

/* listxattr, removexattr, the VFS limits, directories, rename. */
static void check_xattr_list(struct suite *s, const char *f, const char *d,
			     const char *big, size_t biglen)
{
	char buf[8192], list[4096];
	ssize_t n;

	n = listxattr(f, list, sizeof(list));
	{
		int found = 0;

		for (ssize_t i = 0; n > 0 && i < n; i += strlen(list + i) + 1)
			found += !strcmp(list + i, "user.one") ||
				 !strcmp(list + i, "user.empty") ||
				 !strcmp(list + i, "user.big");
		check(s, found == 3, "listxattr lists the three names",
		      "found %d of 3 in %zd bytes", found, n);
	}
	check(s, listxattr(f, NULL, 0) == n, "listxattr size query", "");
	expect_err(s, "listxattr with a small buffer -> ERANGE",
		   listxattr(f, list, 5), ERANGE);
	expect_ok(s, "removexattr", removexattr(f, "user.one"));
	expect_err(s, "getxattr after remove -> ENODATA",
		   getxattr(f, "user.one", buf, sizeof(buf)), ENODATA);
	expect_err(s, "removexattr missing -> ENODATA",
		   removexattr(f, "user.one"), ENODATA);
	expect_err(s, "getxattr never set -> ENODATA",
		   getxattr(f, "user.never", buf, sizeof(buf)), ENODATA);
	{
		char name[300] = "user.";

		memset(name + 5, 'x', 260);
		name[265] = '\0';
		expect_err(s, "setxattr a 265-byte name -> ERANGE",
			   setxattr(f, name, "v", 1, 0), ERANGE);
	}
	{
		size_t len = 65537;
		char *huge = wfs_calloc(1, len);

		if (huge)
			expect_err(s, "setxattr a 64 KiB + 1 value -> E2BIG",
				   setxattr(f, "user.huge", huge, len, 0), E2BIG);
		wfs_free(huge);
	}
	expect_ok(s, "setxattr on a directory",
		  setxattr(d, "user.dir", "dv", 2, 0));
	n = getxattr(d, "user.dir", buf, sizeof(buf));
	check(s, n == 2 && !memcmp(buf, "dv", 2), "directory xattr read back",
	      "");
	{
		char g[PATH_MAX];

		path_of(s, g, "xattr.moved");
		rename(f, g);
		n = getxattr(g, "user.big", buf, sizeof(buf));
		check(s, n == (ssize_t)biglen && !memcmp(buf, big, biglen),
		      "xattrs follow the inode through rename", "");
	}
}

static void check_xattrs(struct suite *s)
{
	char f[PATH_MAX], d[PATH_MAX];
	char buf[8192], big[4000];
	ssize_t n;
	int rc;

	path_of(s, f, "xattr.f");
	path_of(s, d, "xattr.d");
	make_file(f, 10, 80);
	mkdir(d, 0755);
	rc = setxattr(f, "user.one", "value-1", 7, 0);
	if (rc < 0 && (errno == ENOTSUP || errno == ENOSYS)) {
		check(s, false, "setxattr user.*", "not supported: %s",
		      strerror(errno));
		return;
	}
	expect_ok(s, "setxattr user.one", rc);
	n = getxattr(f, "user.one", buf, sizeof(buf));
	check(s, n == 7 && !memcmp(buf, "value-1", 7), "getxattr returns it",
	      "n %zd", n);
	check(s, getxattr(f, "user.one", NULL, 0) == 7,
	      "getxattr size query -> 7", "");
	expect_err(s, "getxattr with a small buffer -> ERANGE",
		   getxattr(f, "user.one", buf, 3), ERANGE);
	expect_err(s, "XATTR_CREATE on an existing name -> EEXIST",
		   setxattr(f, "user.one", "x", 1, XATTR_CREATE), EEXIST);
	expect_err(s, "XATTR_REPLACE on a missing name -> ENODATA",
		   setxattr(f, "user.two", "x", 1, XATTR_REPLACE), ENODATA);
	expect_ok(s, "XATTR_REPLACE on an existing name",
		  setxattr(f, "user.one", "v2", 2, XATTR_REPLACE));
	n = getxattr(f, "user.one", buf, sizeof(buf));
	check(s, n == 2 && !memcmp(buf, "v2", 2), "replaced value read back",
	      "");
	expect_ok(s, "setxattr an empty value", setxattr(f, "user.empty", "", 0, 0));
	check(s, getxattr(f, "user.empty", buf, sizeof(buf)) == 0,
	      "empty value has length 0", "");
	pattern(big, sizeof(big), 81);
	big[10] = '\0';
	expect_ok(s, "setxattr a 4000-byte binary value",
		  setxattr(f, "user.big", big, sizeof(big), 0));
	n = getxattr(f, "user.big", buf, sizeof(buf));
	check(s, n == sizeof(big) && !memcmp(buf, big, sizeof(big)),
	      "binary value with NULs read back", "n %zd", n);

	check_xattr_list(s, f, d, big, sizeof(big));
}

/* ------------------------------------------------------------------ */
/* Locks */

struct lock_arg {
	const char *path;
};

static void lock_child(struct suite *s, void *arg)
{
	const struct lock_arg *la = arg;
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
			    .l_start = 50, .l_len = 10 };
	int fd = open(la->path, O_RDWR);

	if (fd < 0) {
		check(s, false, "child opens the lock file", "%s",
		      strerror(errno));
		return;
	}
	expect_err2(s, "F_SETLK on a locked range -> EAGAIN",
		    fcntl(fd, F_SETLK, &fl), EAGAIN, EACCES);
	fl.l_type = F_WRLCK;
	fl.l_start = 50;
	fl.l_len = 10;
	fl.l_pid = 0;
	expect_ok(s, "F_GETLK", fcntl(fd, F_GETLK, &fl));
	check(s, fl.l_type == F_WRLCK && fl.l_start == 0 && fl.l_len == 100 &&
		      fl.l_pid == getppid(),
	      "F_GETLK reports the holder's lock and pid",
	      "type %d start %lld len %lld pid %d (parent %d)", fl.l_type,
	      (long long)fl.l_start, (long long)fl.l_len, fl.l_pid, getppid());
	fl.l_type = F_WRLCK;
	fl.l_start = 100;
	fl.l_len = 100;
	expect_ok(s, "F_SETLK on a free range", fcntl(fd, F_SETLK, &fl));
	fl.l_type = F_RDLCK;
	fl.l_start = 1000;
	fl.l_len = 10;
	expect_ok(s, "F_RDLCK shared with the holder's read lock",
		  fcntl(fd, F_SETLK, &fl));
	expect_err(s, "flock LOCK_EX|LOCK_NB against the holder -> EWOULDBLOCK",
		   flock(fd, LOCK_EX | LOCK_NB), EWOULDBLOCK);
	close(fd);
}

static void unlock_child(struct suite *s, void *arg)
{
	const struct lock_arg *la = arg;
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
			    .l_start = 0, .l_len = 100 };
	int fd = open(la->path, O_RDWR);

	if (fd < 0)
		return;
	expect_ok(s, "F_SETLK once the holder closed its fd",
		  fcntl(fd, F_SETLK, &fl));
	expect_ok(s, "flock once the holder unlocked",
		  flock(fd, LOCK_EX | LOCK_NB));
	close(fd);
}

static void check_locks(struct suite *s)
{
	char f[PATH_MAX];
	struct lock_arg la = { .path = f };
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
			    .l_start = 0, .l_len = 100 };
	int fd, fd2, ffd;

	path_of(s, f, "lock.f");
	make_file(f, 4096, 90);
	fd = open(f, O_RDWR);
	ffd = open(f, O_RDWR);
	if (fd < 0 || ffd < 0) {
		check(s, false, "open the lock file", "%s", strerror(errno));
		goto out_close;
	}
	/* flock first: closing fd2 would drop fcntl locks taken before. */
	expect_ok(s, "flock LOCK_EX", flock(ffd, LOCK_EX | LOCK_NB));
	fd2 = open(f, O_RDWR);
	if (fd2 >= 0) {
		expect_err(s, "flock on a second open file -> EWOULDBLOCK",
			   flock(fd2, LOCK_EX | LOCK_NB), EWOULDBLOCK);
		close(fd2);
	}
	expect_ok(s, "F_SETLK write lock on 0..99", fcntl(fd, F_SETLK, &fl));
	fl.l_type = F_RDLCK;
	fl.l_start = 1000;
	fl.l_len = 10;
	expect_ok(s, "F_SETLK read lock on 1000..1009", fcntl(fd, F_SETLK, &fl));
	in_child(s, "lock conflicts seen from another process", -1, -1,
		 lock_child, &la);
	/* Closing any fd of the file drops this process's fcntl locks. */
	fd2 = open(f, O_RDONLY);
	if (fd2 >= 0)
		close(fd2);
	flock(ffd, LOCK_UN);
	in_child(s, "locks released", -1, -1, unlock_child, &la);
out_close:
	if (fd >= 0)
		close(fd);
	if (ffd >= 0)
		close(ffd);
}

/* ------------------------------------------------------------------ */
/* Permissions and ownership */

static void perm_child(struct suite *s, void *arg)
{
	char p[PATH_MAX], q[PATH_MAX];
	struct stat st;
	int got;
	int fd;

	(void)arg;
	path_of(s, p, "perm.open/mine");
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0640);
	if (!expect_ok(s, "other user creates a file in a 0777 dir", fd))
		printf("     (on a FUSE mount this needs -o allow_other)\n");
	if (fd >= 0)
		close(fd);
	got = stat(p, &st);
	check(s, got == 0 && st.st_uid == OTHER_UID &&
		      st.st_gid == OTHER_GID,
	      "it is owned by that user", "uid %u gid %u", st.st_uid,
	      st.st_gid);
	path_of(s, p, "perm.open/secret");
	expect_err(s, "reading another's 0600 file -> EACCES",
		   open(p, O_RDONLY), EACCES);
	path_of(s, p, "perm.open/public");
	expect_err(s, "writing another's 0644 file -> EACCES",
		   open(p, O_WRONLY), EACCES);
	check(s, file_is(p, 10, 101) == 1, "reading another's 0644 file", "");
	expect_err(s, "access W_OK on another's 0644 file -> EACCES",
		   access(p, W_OK), EACCES);
	expect_err(s, "chmod another's file -> EPERM", chmod(p, 0666), EPERM);
	expect_err(s, "truncate another's 0644 file -> EACCES", truncate(p, 0),
		   EACCES);
	expect_err(s, "chown another's file -> EPERM",
		   chown(p, OTHER_UID, OTHER_GID), EPERM);
	expect_err(s, "utimensat explicit times on another's file -> EPERM",
		   utimensat(AT_FDCWD, p, (struct timespec[2]){ { 1, 0 }, { 1, 0 } },
			     0), EPERM);
	path_of(s, p, "perm.closed/x");
	expect_err(s, "create in another's 0755 dir -> EACCES",
		   open(p, O_WRONLY | O_CREAT, 0644), EACCES);
	path_of(s, p, "perm.private/inside");
	expect_err(s, "open through another's 0700 dir -> EACCES",
		   open(p, O_RDONLY), EACCES);
	path_of(s, p, "perm.private");
	expect_err(s, "list another's 0700 dir -> EACCES",
		   open(p, O_RDONLY | O_DIRECTORY), EACCES);
	path_of(s, p, "perm.open/theirs");
	expect_ok(s, "unlink another's file in a 0777 dir", unlink(p));
	path_of(s, p, "perm.sticky/theirs");
	expect_err(s, "unlink another's file in a sticky dir -> EPERM",
		   unlink(p), EPERM);
	path_of(s, q, "perm.sticky/moved");
	expect_err(s, "rename another's file in a sticky dir -> EPERM",
		   rename(p, q), EPERM);
	path_of(s, p, "perm.sticky/mine");
	fd = open(p, O_WRONLY | O_CREAT, 0644);
	if (fd >= 0)
		close(fd);
	expect_ok(s, "unlink my own file in a sticky dir", unlink(p));
	path_of(s, p, "perm.open/mine");
	expect_ok(s, "chmod my own file", chmod(p, 0600));
	expect_err(s, "chown my file to another user -> EPERM",
		   chown(p, THIRD_UID, -1), EPERM);
}

static void check_perms(struct suite *s)
{
	char p[PATH_MAX];
	struct stat st;
	int got;

	if (geteuid() != 0) {
		printf("skip permissions: needs root to act as another user\n");
		return;
	}
	path_of(s, p, "perm.open");
	mkdir(p, 0777);
	chmod(p, 0777);
	path_of(s, p, "perm.open/secret");
	make_file(p, 10, 100);
	chmod(p, 0600);
	path_of(s, p, "perm.open/public");
	make_file(p, 10, 101);
	chmod(p, 0644);
	path_of(s, p, "perm.open/theirs");
	make_file(p, 10, 102);
	chown(p, THIRD_UID, THIRD_UID);
	path_of(s, p, "perm.open/public");
	expect_err(s, "root: access X_OK on a 0644 file -> EACCES",
		   access(p, X_OK), EACCES);
	path_of(s, p, "perm.closed");
	mkdir(p, 0755);
	path_of(s, p, "perm.private");
	mkdir(p, 0700);
	path_of(s, p, "perm.private/inside");
	make_file(p, 10, 103);
	chmod(p, 0644);
	path_of(s, p, "perm.sticky");
	mkdir(p, 0777);
	chmod(p, 01777);
	got = stat(p, &st);
	check(s, got == 0 && (st.st_mode & 07777) == 01777,
	      "chmod sets the sticky bit", "mode %o", st.st_mode);
	path_of(s, p, "perm.sticky/theirs");
	make_file(p, 10, 104);
	chown(p, THIRD_UID, THIRD_UID);
	got = stat(p, &st);
	check(s, got == 0 && st.st_uid == THIRD_UID &&
		      st.st_gid == THIRD_UID,
	      "root chowns a file", "uid %u gid %u", st.st_uid, st.st_gid);
	expect_ok(s, "chown -1 -1 changes nothing", chown(p, -1, -1));
	got = stat(p, &st);
	check(s, got == 0 && st.st_uid == THIRD_UID,
	      "owner kept after chown -1", "");
	in_child(s, "permission checks as another user", OTHER_UID, OTHER_GID,
		 perm_child, NULL);
}

/* ------------------------------------------------------------------ */
/* statfs, fsync, FIFOs */

static void check_misc(struct suite *s)
{
	char f[PATH_MAX], d[PATH_MAX], p[PATH_MAX];
	struct statvfs sv;
	int got;
	int fd;

	got = statvfs(s->root, &sv);
	check(s, got == 0 && sv.f_blocks > 0 &&
		      sv.f_bsize > 0 && sv.f_bfree <= sv.f_blocks &&
		      sv.f_bavail <= sv.f_blocks,
	      "statfs is sane", "blocks %llu bfree %llu bsize %lu",
	      (unsigned long long)sv.f_blocks,
	      (unsigned long long)sv.f_bfree, sv.f_bsize);
	note(s, sv.f_namemax >= 255, "statfs namemax >= 255 (optional)",
	     "namemax %lu", sv.f_namemax);
	path_of(s, f, "misc.f");
	path_of(s, d, "misc.d");
	make_file(f, 1000, 110);
	mkdir(d, 0755);
	fd = open(f, O_RDWR);
	if (fd >= 0) {
		expect_ok(s, "fsync a file", fsync(fd));
		expect_ok(s, "fdatasync a file", fdatasync(fd));
		close(fd);
	}
	fd = open(d, O_RDONLY | O_DIRECTORY);
	if (fd >= 0) {
		expect_ok(s, "fsync a directory", fsync(fd));
		close(fd);
	}
	path_of(s, p, "misc.fifo");
	{
		int rc = mkfifo(p, 0644);
		int err = errno;
		struct stat st;

		note(s, rc == 0 && stat(p, &st) == 0 && S_ISFIFO(st.st_mode),
		     "mkfifo (optional)", "rc %d errno %s", rc,
		     strerrorname_np(err));
	}
}

/* ------------------------------------------------------------------ */

static int rm_tree(const char *path)
{
	char cmd[PATH_MAX + 32];

	/* Through the shell: the tree holds names of every kind the suite
	 * made, and rm -rf already knows how to remove them. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	return system(cmd);
}

static void usage(void)
{
	fprintf(stderr, "usage: posix_check [-v] DIR\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct suite s = { 0 };
	int opt;

	while ((opt = getopt(argc, argv, "v")) != -1) {
		if (opt == 'v')
			s.verbose = true;
		else
			usage();
	}
	if (optind != argc - 1)
		usage();
	if (strchr(argv[optind], '\'')) {
		fprintf(stderr, "posix_check: quote in the path\n");
		return 2;
	}
	snprintf(s.root, sizeof(s.root), "%s/posix.%d", argv[optind],
		 (int)getpid());
	umask(022);
	if (mkdir(s.root, 0755) < 0 || chmod(s.root, 0755) < 0) {
		fprintf(stderr, "posix_check: cannot make %s: %s\n", s.root,
			strerror(errno));
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("posix_check on %s\n", s.root);

	check_open(&s);
	check_names(&s);
	check_dirs(&s);
	check_dtype(&s);
	check_rename_files(&s);
	check_rename_dirs(&s);
	check_rename2(&s);
	check_links(&s);
	check_symlinks(&s);
	check_truncate(&s);
	check_holes(&s);
	check_unlinked_open(&s);
	check_unlink_order(&s);
	check_times(&s);
	check_xattrs(&s);
	check_locks(&s);
	check_perms(&s);
	check_misc(&s);

	if (rm_tree(s.root) != 0)
		check(&s, false, "remove the scratch folder", "rm -rf failed");
	printf("posix: %u passed, %u failed", s.passed, s.failed);
	if (s.notes)
		printf(" (%u optional behaviours missing, see note lines)",
		       s.notes);
	printf("\n");
	return s.failed ? 1 : 0;
}
