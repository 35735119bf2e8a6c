/* wormctl/io: put and get, copying whole files between the local file
 * system (or stdin/stdout) and WormFS through the client library, without
 * a mount.  Data moves in blocks of whole stripes so the client encodes
 * full stripes as they arrive.
 */
#include "wormctl/ctl_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mem/mem.h"
#include "wormctl/path.h"

/* Bytes moved per call: about this many, in whole stripes. */
#define IO_BLOCK (16u << 20)

/* Longest path of a target built from a folder and a name. */
#define IO_PATH_MAX 4096

/* A copy in progress, for the -v report. */
struct copy {
	const char *what;	/* "put" or "get" */
	const char *path;	/* the WormFS path */
	uint64_t bytes;
	struct timespec start;
};

static size_t block_size(uint32_t blksize)
{
	if (blksize == 0 || blksize >= IO_BLOCK)
		return blksize ? blksize : IO_BLOCK;
	return IO_BLOCK / blksize * blksize;
}

static void report(const struct wfs_ctl *ctl, const struct copy *cp)
{
	struct timespec end;
	double secs;

	if (!(ctl->args->opts & WFS_CTL_OPT_VERBOSE))
		return;
	clock_gettime(CLOCK_MONOTONIC, &end);
	secs = (double)(end.tv_sec - cp->start.tv_sec) +
	       (double)(end.tv_nsec - cp->start.tv_nsec) / 1e9;
	fprintf(stderr, "wormctl: %s %s: %llu bytes in %.2f s, %.1f MB/s\n",
		cp->what, cp->path, (unsigned long long)cp->bytes, secs,
		secs > 0 ? (double)cp->bytes / secs / 1e6 : 0.0);
}

/* Read up to @len bytes, as many as there are before end of file. */
static ssize_t read_full(int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static int write_full(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Report a failed @what ("put", "get") of @path (and @local, may be
 * NULL), with a hint when it failed because the target exists. */
static int fail_exists(int rc, const char *what, const char *path,
		       const char *local)
{
	const char *hint = rc == -EEXIST ? " (use -f to overwrite)" : "";

	fprintf(stderr, "wormctl: %s %s%s%s: %s%s\n", what, path,
		local ? ": " : "", local ? local : "", strerror(-rc), hint);
	return WFS_CTL_FAILED;
}

/* ---- put ---- */

/* Where put writes: the parent directory's inode, the name in it, and the
 * full WormFS path for messages. */
struct target {
	uint64_t parent;
	char name[WFS_CTL_NAME_MAX + 1];
	char path[IO_PATH_MAX];
	bool exists;
};

/* Find where @remote leads: into it when it is a directory (named after
 * @local, as cp does), else to its parent and last name.  Returns 0 or an
 * error for t->path. */
static int put_target(struct wfs_ctl *ctl, const char *remote,
		      const char *local, struct target *t)
{
	char dir[IO_PATH_MAX], unused[IO_PATH_MAX];
	size_t len = strlen(remote);
	struct wfs_attr a;
	int rc;

	snprintf(t->path, sizeof(t->path), "%s", remote);
	rc = wfs_ctl_resolve(ctl, remote, &a);
	if (rc && rc != -ENOENT)
		return rc;
	if (rc == 0 && S_ISDIR(a.mode)) {
		if (strcmp(local, "-") == 0)
			return -EISDIR;
		rc = wfs_ctl_path_split(local, unused, sizeof(unused), t->name,
					sizeof(t->name));
		if (rc)
			return rc;
		snprintf(t->path, sizeof(t->path), "%s%s%s", remote,
			 len && remote[len - 1] == '/' ? "" : "/", t->name);
	} else {
		rc = wfs_ctl_path_split(remote, dir, sizeof(dir), t->name,
					sizeof(t->name));
		if (rc == 0)
			rc = wfs_ctl_resolve(ctl, dir, &a);
		if (rc == 0 && !S_ISDIR(a.mode))
			rc = -ENOTDIR;
		if (rc)
			return rc;
	}
	t->parent = a.ino;
	rc = wfs_client_lookup(ctl->client, &ctl->cred, t->parent, t->name,
			       &a);
	if (rc && rc != -ENOENT)
		return rc;
	t->exists = rc == 0;
	return t->exists && S_ISDIR(a.mode) ? -EISDIR : 0;
}

/* A put that failed after creating its file takes the file away again, so
 * no truncated copy is left looking complete. */
static void put_undo(struct wfs_ctl *ctl, const struct target *t)
{
	uint64_t ino;
	uint32_t nlink;

	if (wfs_client_unlink(ctl->client, &ctl->cred, t->parent, t->name,
			      &ino, &nlink) == 0 && nlink == 0)
		wfs_client_forget(ctl->client, &ctl->cred, ino);
}

/* Copy @fd into the new file @f. */
static int put_data(int fd, struct wfs_file *f, size_t block,
		    struct copy *cp, const char *local)
{
	char *buf = wfs_malloc(block);
	ssize_t n;
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	while ((n = read_full(fd, buf, block)) > 0) {
		ssize_t w = wfs_file_write(f, buf, (size_t)n, cp->bytes);

		if (w < 0) {
			rc = wfs_ctl_fail((int)w, "put %s", cp->path);
			goto out_free_buf;
		}
		cp->bytes += (uint64_t)n;
	}
	if (n < 0)
		rc = wfs_ctl_fail((int)n, "put %s: read %s", cp->path, local);
out_free_buf:
	wfs_free(buf);
	return rc;
}

/* Open @local for reading ("-": stdin); *mode gets the mode to create
 * with. */
static int open_local(const char *local, uint32_t *mode)
{
	struct stat st;
	int fd;

	*mode = 0644;
	if (strcmp(local, "-") == 0)
		return STDIN_FILENO;
	fd = open(local, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		return -EISDIR;
	}
	if (S_ISREG(st.st_mode))
		*mode = st.st_mode & 07777;
	return fd;
}

int wfs_ctl_cmd_put(struct wfs_ctl *ctl)
{
	const char *local = ctl->args->args[0], *remote = ctl->args->args[1];
	bool force = ctl->args->opts & WFS_CTL_OPT_FORCE;
	struct copy cp = { .what = "put" };
	struct wfs_file *f;
	struct wfs_attr a;
	struct target t;
	uint32_t mode;
	int fd, rc, crc;

	fd = open_local(local, &mode);
	if (fd < 0)
		return wfs_ctl_fail(fd, "put: %s", local);
	rc = put_target(ctl, remote, local, &t);
	cp.path = t.path;
	if (rc == 0 && t.exists && !force)
		rc = -EEXIST;
	clock_gettime(CLOCK_MONOTONIC, &cp.start);
	if (rc == 0)
		rc = wfs_file_create(ctl->client, &ctl->cred, t.parent, t.name,
				     mode, O_WRONLY | O_CREAT |
				     (force ? O_TRUNC : O_EXCL), &a, NULL, &f);
	if (rc) {
		rc = fail_exists(rc, "put", t.path, NULL);
		goto out_close_fd;
	}
	rc = put_data(fd, f, block_size(a.blksize), &cp, local);
	/* Closing flushes: the data is committed only when it succeeds. */
	crc = wfs_file_close(f);
	if (rc == 0 && crc)
		rc = wfs_ctl_fail(crc, "put %s", t.path);
	if (rc)
		put_undo(ctl, &t);
	else
		report(ctl, &cp);
out_close_fd:
	if (fd != STDIN_FILENO)
		close(fd);
	return rc;
}

/* ---- get ---- */

/* Copy the open file @f into @fd. */
static int get_data(struct wfs_file *f, int fd, size_t block,
		    struct copy *cp, const char *local)
{
	char *buf = wfs_malloc(block);
	ssize_t n;
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	while ((n = wfs_file_read(f, buf, block, cp->bytes)) > 0) {
		rc = write_full(fd, buf, (size_t)n);
		if (rc) {
			rc = wfs_ctl_fail(rc, "get %s: write %s", cp->path,
					  local);
			goto out_free_buf;
		}
		cp->bytes += (uint64_t)n;
	}
	if (n < 0)
		rc = wfs_ctl_fail((int)n, "get %s", cp->path);
out_free_buf:
	wfs_free(buf);
	return rc;
}

/* Open the local file to write ("-": stdout; a directory: the remote
 * file's name in it); @local_buf receives the name actually used. */
static int create_local(const char *local, const char *remote, bool force,
			uint32_t mode, char *local_buf, size_t size)
{
	char unused[IO_PATH_MAX], name[WFS_CTL_NAME_MAX + 1];
	struct stat st;
	int fd;

	snprintf(local_buf, size, "%s", local);
	if (strcmp(local, "-") == 0)
		return STDOUT_FILENO;
	if (stat(local, &st) == 0 && S_ISDIR(st.st_mode)) {
		int rc = wfs_ctl_path_split(remote, unused, sizeof(unused),
					    name, sizeof(name));

		if (rc)
			return rc;
		snprintf(local_buf, size, "%s/%s", local, name);
	}
	fd = open(local_buf, O_WRONLY | O_CREAT | O_CLOEXEC |
		  (force ? O_TRUNC : O_EXCL), mode & 0777);
	return fd < 0 ? -errno : fd;
}

int wfs_ctl_cmd_get(struct wfs_ctl *ctl)
{
	const char *remote = ctl->args->args[0], *local = ctl->args->args[1];
	bool force = ctl->args->opts & WFS_CTL_OPT_FORCE;
	struct copy cp = { .what = "get", .path = remote };
	char local_path[IO_PATH_MAX];
	struct wfs_file *f;
	struct wfs_attr a;
	int fd, rc;

	rc = wfs_ctl_resolve(ctl, remote, &a);
	if (rc == 0 && S_ISDIR(a.mode))
		rc = -EISDIR;
	if (rc)
		return wfs_ctl_fail(rc, "get %s", remote);
	clock_gettime(CLOCK_MONOTONIC, &cp.start);
	rc = wfs_file_open(ctl->client, &ctl->cred, a.ino, O_RDONLY, &a, &f);
	if (rc)
		return wfs_ctl_fail(rc, "get %s", remote);
	fd = create_local(local, remote, force, a.mode, local_path,
			  sizeof(local_path));
	if (fd < 0) {
		rc = fail_exists(fd, "get", remote, local_path);
		goto out_close_file;
	}
	rc = get_data(f, fd, block_size(a.blksize), &cp, local_path);
	if (fd != STDOUT_FILENO && close(fd) && rc == 0)
		rc = wfs_ctl_fail(-errno, "get %s: close %s", remote,
				  local_path);
	/* No partial copy is left looking complete. */
	if (rc && fd != STDOUT_FILENO)
		unlink(local_path);
	if (rc == 0)
		report(ctl, &cp);
out_close_file:
	wfs_file_close(f);
	return rc;
}
