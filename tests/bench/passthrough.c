/* fuse_passthrough: a plain FUSE passthrough of a local directory.
 *
 *   fuse_passthrough [-w] [-m MAX_WRITE] [-r READ_AHEAD_KB] [-t THREADS]
 *                    [-T TIMEOUT] [-o MOUNT_OPTS] [-d] SOURCE MOUNTPOINT
 *
 * The yardstick of the FUSE bench (tests/bench/fuse_bench.sh): what a FUSE
 * file system costs before it does anything of its own, so WormFS's figures
 * can be read against it.  It also lets the file system tests
 * (posix_check, fsx) be tried on a FUSE mount before WormFS exists.
 *
 * Low-level libfuse API, multithreaded (up to THREADS workers, default 64),
 * in the foreground until unmounted or sent SIGINT/SIGTERM.  One FUSE inode
 * per local inode (hard links share it), each holding an O_PATH descriptor
 * of the local file, found again by (st_dev, st_ino) so a lookup of a known
 * file reuses its node.  Every request is one system call or two on the
 * local file; open files and directories are real descriptors kept in the
 * FUSE file handle.  Files are created with the caller's uid and gid;
 * permissions are the kernel's (mount it with -o default_permissions, and
 * allow_other for other users).  Locks are left to the kernel (local to
 * the mount).
 *
 * Tuned only as WormFS's client (fuse/main.c, fuse/ops.c) is, so the
 * comparison is fair: writes of up to MAX_WRITE bytes (default 1 MiB) per
 * request, max_readahead 16 MiB and the mount's read_ahead_kb raised after
 * mounting (default 4096), 64 background requests (congestion at 48),
 * attribute and entry timeouts of TIMEOUT seconds (default 1), up to 64
 * worker threads, the writeback cache only with -w (WormFS does not use
 * it).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "mem/mem.h"

#define BUCKETS_MIN 1024
#define MAX_READAHEAD (16u << 20)	/* as the WormFS client asks */

/* A local inode the kernel knows.  Found by (dev, ino) in the table. */
struct pt_inode {
	int fd;			/* O_PATH descriptor of the local file */
	dev_t dev;
	ino_t ino;
	uint64_t nlookup;	/* protected by pt->lock */
	struct pt_inode *next;	/* hash chain, protected by pt->lock */
};

/* An open directory: the stream and where the last reply stopped. */
struct pt_dir {
	DIR *dp;
	off_t offset;		/* offset of the next entry to read */
	struct dirent *entry;	/* read but not sent yet (no room), or NULL */
};

struct pt {
	pthread_mutex_t lock;	/* protects the table and lookup counts */
	struct pt_inode root;	/* never forgotten */
	struct pt_inode **buckets;
	size_t nbuckets;
	size_t count;
	double timeout;		/* entry and attribute timeout, seconds */
	unsigned max_write;
	unsigned read_ahead_kb;
	bool writeback;
};

static struct pt *pt_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct pt_inode *inode_of(fuse_req_t req, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return &pt_of(req)->root;
	return (struct pt_inode *)(uintptr_t)ino;
}

static int fd_of(fuse_req_t req, fuse_ino_t ino)
{
	return inode_of(req, ino)->fd;
}

/* /proc/self/fd/N for an O_PATH descriptor: how calls that take no
 * descriptor (chmod, xattrs, open) reach the file. */
static void proc_path(char buf[64], int fd)
{
	snprintf(buf, 64, "/proc/self/fd/%d", fd);
}

/* ------------------------------------------------------------------ */
/* The inode table */

static size_t bucket_of(const struct pt *pt, dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ULL ^ (uint64_t)dev;

	return (size_t)(h >> 17) & (pt->nbuckets - 1);
}

/* Double the table when it is full.  Called with pt->lock held; a failed
 * allocation just leaves the chains longer. */
static void table_grow(struct pt *pt)
{
	size_t old = pt->nbuckets;
	struct pt_inode **nb = wfs_calloc(old * 2, sizeof(*nb));
	struct pt_inode **ob = pt->buckets;

	if (!nb)
		return;
	pt->buckets = nb;
	pt->nbuckets = old * 2;
	for (size_t i = 0; i < old; i++) {
		while (ob[i]) {
			struct pt_inode *n = ob[i];
			size_t b = bucket_of(pt, n->dev, n->ino);

			ob[i] = n->next;
			n->next = nb[b];
			nb[b] = n;
		}
	}
	wfs_free(ob);
}

/* Find or add the inode of @st, taking one lookup reference, and consume
 * @fd (kept by a new inode, closed otherwise).  NULL if out of memory (@fd
 * is then closed). */
static struct pt_inode *table_get(struct pt *pt, int fd, const struct stat *st)
{
	struct pt_inode *n;
	size_t b;

	pthread_mutex_lock(&pt->lock);
	b = bucket_of(pt, st->st_dev, st->st_ino);
	for (n = pt->buckets[b]; n; n = n->next)
		if (n->dev == st->st_dev && n->ino == st->st_ino)
			break;
	if (n) {
		n->nlookup++;
		pthread_mutex_unlock(&pt->lock);
		close(fd);
		return n;
	}
	n = wfs_malloc(sizeof(*n));
	if (!n) {
		pthread_mutex_unlock(&pt->lock);
		close(fd);
		return NULL;
	}
	n->fd = fd;
	n->dev = st->st_dev;
	n->ino = st->st_ino;
	n->nlookup = 1;
	n->next = pt->buckets[b];
	pt->buckets[b] = n;
	if (++pt->count > pt->nbuckets)
		table_grow(pt);
	pthread_mutex_unlock(&pt->lock);
	return n;
}

static void table_forget(struct pt *pt, struct pt_inode *n, uint64_t count)
{
	struct pt_inode **p;

	if (n == &pt->root)
		return;
	pthread_mutex_lock(&pt->lock);
	n->nlookup -= count < n->nlookup ? count : n->nlookup;
	if (n->nlookup > 0) {
		pthread_mutex_unlock(&pt->lock);
		return;
	}
	for (p = &pt->buckets[bucket_of(pt, n->dev, n->ino)]; *p; p = &(*p)->next) {
		if (*p == n) {
			*p = n->next;
			break;
		}
	}
	pt->count--;
	pthread_mutex_unlock(&pt->lock);
	close(n->fd);
	wfs_free(n);
}

/* ------------------------------------------------------------------ */
/* Names */

/* Look @name up in @parent and fill @e (one lookup reference taken).
 * Returns 0 or an errno. */
static int do_lookup(fuse_req_t req, fuse_ino_t parent, const char *name,
		     struct fuse_entry_param *e)
{
	struct pt *pt = pt_of(req);
	struct pt_inode *n;
	int fd, err;

	memset(e, 0, sizeof(*e));
	fd = openat(fd_of(req, parent), name, O_PATH | O_NOFOLLOW);
	if (fd < 0)
		return errno;
	if (fstatat(fd, "", &e->attr, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		err = errno;
		close(fd);
		return err;
	}
	n = table_get(pt, fd, &e->attr);
	if (!n)
		return ENOMEM;
	e->ino = (uintptr_t)n;
	e->attr_timeout = pt->timeout;
	e->entry_timeout = pt->timeout;
	return 0;
}

static void reply_entry(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	int err = do_lookup(req, parent, name, &e);

	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_entry(req, &e);
}

static void pt_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	reply_entry(req, parent, name);
}

static void pt_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	table_forget(pt_of(req), inode_of(req, ino), nlookup);
	fuse_reply_none(req);
}

static void pt_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		table_forget(pt_of(req), inode_of(req, forgets[i].ino),
			     forgets[i].nlookup);
	fuse_reply_none(req);
}

/* Give what @parent/@name now is to the caller, then reply its entry. */
static void own_and_reply(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	if (fchownat(fd_of(req, parent), name, ctx->uid, ctx->gid,
		     AT_SYMLINK_NOFOLLOW) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	reply_entry(req, parent, name);
}

static void pt_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	if (mknodat(fd_of(req, parent), name, mode, rdev) < 0)
		fuse_reply_err(req, errno);
	else
		own_and_reply(req, parent, name);
}

static void pt_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	if (mkdirat(fd_of(req, parent), name, mode) < 0)
		fuse_reply_err(req, errno);
	else
		own_and_reply(req, parent, name);
}

static void pt_symlink(fuse_req_t req, const char *target, fuse_ino_t parent,
		       const char *name)
{
	if (symlinkat(target, fd_of(req, parent), name) < 0)
		fuse_reply_err(req, errno);
	else
		own_and_reply(req, parent, name);
}

static void pt_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	char path[64];

	proc_path(path, fd_of(req, ino));
	if (linkat(AT_FDCWD, path, fd_of(req, newparent), newname,
		   AT_SYMLINK_FOLLOW) < 0)
		fuse_reply_err(req, errno);
	else
		reply_entry(req, newparent, newname);
}

static void pt_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	int rc = unlinkat(fd_of(req, parent), name, 0);

	fuse_reply_err(req, rc < 0 ? errno : 0);
}

static void pt_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	int rc = unlinkat(fd_of(req, parent), name, AT_REMOVEDIR);

	fuse_reply_err(req, rc < 0 ? errno : 0);
}

static void pt_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	long rc = syscall(SYS_renameat2, fd_of(req, parent), name,
			  fd_of(req, newparent), newname, flags);

	fuse_reply_err(req, rc < 0 ? errno : 0);
}

static void pt_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[PATH_MAX + 1];
	ssize_t n = readlinkat(fd_of(req, ino), "", buf, sizeof(buf));

	if (n < 0)
		fuse_reply_err(req, errno);
	else if (n >= (ssize_t)sizeof(buf))
		fuse_reply_err(req, ENAMETOOLONG);
	else {
		buf[n] = '\0';
		fuse_reply_readlink(req, buf);
	}
}

/* ------------------------------------------------------------------ */
/* Attributes */

static void pt_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	if (fstatat(fd_of(req, ino), "", &st,
		    AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_attr(req, &st, pt_of(req)->timeout);
}

static int set_times(int fd, const struct stat *attr, int valid,
		     struct fuse_file_info *fi)
{
	struct timespec tv[2] = { { 0, UTIME_OMIT }, { 0, UTIME_OMIT } };
	char path[64];

	if (valid & FUSE_SET_ATTR_ATIME_NOW)
		tv[0].tv_nsec = UTIME_NOW;
	else if (valid & FUSE_SET_ATTR_ATIME)
		tv[0] = attr->st_atim;
	if (valid & FUSE_SET_ATTR_MTIME_NOW)
		tv[1].tv_nsec = UTIME_NOW;
	else if (valid & FUSE_SET_ATTR_MTIME)
		tv[1] = attr->st_mtim;
	if (fi)
		return futimens((int)fi->fh, tv);
	proc_path(path, fd);
	return utimensat(AT_FDCWD, path, tv, 0);
}

static void pt_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int valid, struct fuse_file_info *fi)
{
	int fd = fd_of(req, ino), rc = 0;
	char path[64];

	proc_path(path, fd);
	if (valid & FUSE_SET_ATTR_MODE)
		rc = fi ? fchmod((int)fi->fh, attr->st_mode)
			: chmod(path, attr->st_mode);
	if (!rc && (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		rc = fchownat(fd, "",
			      valid & FUSE_SET_ATTR_UID ? attr->st_uid : (uid_t)-1,
			      valid & FUSE_SET_ATTR_GID ? attr->st_gid : (gid_t)-1,
			      AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
	if (!rc && (valid & FUSE_SET_ATTR_SIZE))
		rc = fi ? ftruncate((int)fi->fh, attr->st_size)
			: truncate(path, attr->st_size);
	if (!rc && (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)))
		rc = set_times(fd, attr, valid, fi);
	if (rc < 0)
		fuse_reply_err(req, errno);
	else
		pt_getattr(req, ino, fi);
}

static void pt_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	if (fstatvfs(fd_of(req, ino), &sv) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}

/* ------------------------------------------------------------------ */
/* Files */

/* In writeback mode the kernel reads pages of write-only files and does
 * O_APPEND itself. */
static int open_flags(const struct pt *pt, int flags)
{
	flags &= ~O_NOFOLLOW;
	if (pt->writeback) {
		if ((flags & O_ACCMODE) == O_WRONLY)
			flags = (flags & ~O_ACCMODE) | O_RDWR;
		flags &= ~O_APPEND;
	}
	return flags;
}

static void pt_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	char path[64];
	int fd;

	proc_path(path, fd_of(req, ino));
	fd = open(path, open_flags(pt_of(req), fi->flags));
	if (fd < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	fi->fh = (uint64_t)fd;
	fuse_reply_open(req, fi);
}

static void pt_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct fuse_entry_param e;
	int fd, err;

	fd = openat(fd_of(req, parent), name,
		    open_flags(pt_of(req), fi->flags) | O_CREAT, mode);
	if (fd < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	err = fchown(fd, ctx->uid, ctx->gid) < 0 ? errno : 0;
	if (!err)
		err = do_lookup(req, parent, name, &e);
	if (err) {
		close(fd);
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uint64_t)fd;
	fuse_reply_create(req, &e, fi);
}

static void pt_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	(void)ino;
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = (int)fi->fh;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static void pt_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	ssize_t n = pwrite((int)fi->fh, buf, size, off);

	(void)ino;
	if (n < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_write(req, (size_t)n);
}

static void pt_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	/* Closing a duplicate is what close(2) would do to the local file:
	 * it drops the process's POSIX locks and reports write-back errors. */
	int rc = close(dup((int)fi->fh));

	(void)ino;
	fuse_reply_err(req, rc < 0 ? errno : 0);
}

static void pt_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	(void)ino;
	close((int)fi->fh);
	fuse_reply_err(req, 0);
}

static void pt_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	int fd = (int)fi->fh;
	int rc = datasync ? fdatasync(fd) : fsync(fd);

	(void)ino;
	fuse_reply_err(req, rc < 0 ? errno : 0);
}

static void pt_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
			 off_t len, struct fuse_file_info *fi)
{
	int rc = fallocate((int)fi->fh, mode, off, len);

	(void)ino;
	fuse_reply_err(req, rc < 0 ? errno : 0);
}

static void pt_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	off_t res = lseek((int)fi->fh, off, whence);

	(void)ino;
	if (res < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_lseek(req, res);
}

/* ------------------------------------------------------------------ */
/* Directories */

static struct pt_dir *dir_of(struct fuse_file_info *fi)
{
	return (struct pt_dir *)(uintptr_t)fi->fh;
}

static void pt_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct pt_dir *d = wfs_calloc(1, sizeof(*d));
	int fd, err;

	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fd = openat(fd_of(req, ino), ".", O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		goto out_err;
	d->dp = fdopendir(fd);
	if (!d->dp) {
		err = errno;
		close(fd);
		errno = err;
		goto out_err;
	}
	fi->fh = (uintptr_t)d;
	fuse_reply_open(req, fi);
	return;
out_err:
	err = errno;
	wfs_free(d);
	fuse_reply_err(req, err);
}

static void pt_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct pt_dir *d = dir_of(fi);
	char *buf = wfs_malloc(size), *p = buf;
	size_t left = size;

	(void)ino;
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (off != d->offset) {
		seekdir(d->dp, off);
		d->entry = NULL;
		d->offset = off;
	}
	for (;;) {
		struct stat st = { 0 };
		size_t n;

		if (!d->entry) {
			errno = 0;
			d->entry = readdir(d->dp);
			if (!d->entry) {
				if (errno && p == buf) {
					fuse_reply_err(req, errno);
					wfs_free(buf);
					return;
				}
				break;
			}
		}
		st.st_ino = d->entry->d_ino;
		st.st_mode = (mode_t)d->entry->d_type << 12;
		n = fuse_add_direntry(req, p, left, d->entry->d_name, &st,
				      d->entry->d_off);
		if (n > left)
			break;
		p += n;
		left -= n;
		d->offset = d->entry->d_off;
		d->entry = NULL;
	}
	fuse_reply_buf(req, buf, size - left);
	wfs_free(buf);
}

static void pt_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct pt_dir *d = dir_of(fi);

	(void)ino;
	closedir(d->dp);
	wfs_free(d);
	fuse_reply_err(req, 0);
}

static void pt_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	int fd = dirfd(dir_of(fi)->dp);
	int rc = datasync ? fdatasync(fd) : fsync(fd);

	(void)ino;
	fuse_reply_err(req, rc < 0 ? errno : 0);
}

/* ------------------------------------------------------------------ */
/* Extended attributes */

static void pt_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	char path[64];
	int rc;

	proc_path(path, fd_of(req, ino));
	rc = setxattr(path, name, value, size, flags);
	fuse_reply_err(req, rc < 0 ? errno : 0);
}

/* getxattr and listxattr: a size query when @size is 0, else the data. */
static void reply_xattr_data(fuse_req_t req, ssize_t n, const char *buf,
			     size_t size)
{
	if (n < 0)
		fuse_reply_err(req, errno);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

static void pt_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	char path[64], *buf = NULL;
	ssize_t n;

	proc_path(path, fd_of(req, ino));
	if (size && !(buf = wfs_malloc(size))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = getxattr(path, name, buf, size);
	reply_xattr_data(req, n, buf, size);
	wfs_free(buf);
}

static void pt_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	char path[64], *buf = NULL;
	ssize_t n;

	proc_path(path, fd_of(req, ino));
	if (size && !(buf = wfs_malloc(size))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = listxattr(path, buf, size);
	reply_xattr_data(req, n, buf, size);
	wfs_free(buf);
}

static void pt_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	char path[64];
	int rc;

	proc_path(path, fd_of(req, ino));
	rc = removexattr(path, name);
	fuse_reply_err(req, rc < 0 ? errno : 0);
}

/* ------------------------------------------------------------------ */

static void pt_init(void *userdata, struct fuse_conn_info *conn)
{
	struct pt *pt = userdata;

	conn->max_write = pt->max_write;
	conn->max_readahead = MAX_READAHEAD;
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	if (pt->writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	else
		pt->writeback = false;
}

static const struct fuse_lowlevel_ops pt_ops = {
	.init = pt_init,
	.lookup = pt_lookup,
	.forget = pt_forget,
	.forget_multi = pt_forget_multi,
	.getattr = pt_getattr,
	.setattr = pt_setattr,
	.readlink = pt_readlink,
	.mknod = pt_mknod,
	.mkdir = pt_mkdir,
	.symlink = pt_symlink,
	.unlink = pt_unlink,
	.rmdir = pt_rmdir,
	.rename = pt_rename,
	.link = pt_link,
	.open = pt_open,
	.read = pt_read,
	.write = pt_write,
	.flush = pt_flush,
	.release = pt_release,
	.fsync = pt_fsync,
	.opendir = pt_opendir,
	.readdir = pt_readdir,
	.releasedir = pt_releasedir,
	.fsyncdir = pt_fsyncdir,
	.statfs = pt_statfs,
	.setxattr = pt_setxattr,
	.getxattr = pt_getxattr,
	.listxattr = pt_listxattr,
	.removexattr = pt_removexattr,
	.create = pt_create,
	.fallocate = pt_fallocate,
	.lseek = pt_lseek,
};

/* Raise the read-ahead of the mount at @mnt to @kb KiB, as WormFS's client
 * does: find its device in /proc/self/mountinfo (no request to ourselves,
 * which could not be answered yet) and write its bdi's read_ahead_kb. */
static void set_read_ahead(const char *mnt, unsigned kb)
{
	char line[4096], dev[64] = "", where[PATH_MAX], path[128];
	FILE *f = fopen("/proc/self/mountinfo", "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char d[64], m[PATH_MAX];

		if (sscanf(line, "%*u %*u %63s %*s %4095s", d, m) == 2 &&
		    !strcmp(m, mnt) && strstr(line, " - fuse"))
			snprintf(dev, sizeof(dev), "%s", d);
	}
	fclose(f);
	snprintf(where, sizeof(where), "%s", mnt);
	if (!dev[0]) {
		fprintf(stderr, "fuse_passthrough: %s not in mountinfo; "
			"read_ahead_kb left as is\n", where);
		return;
	}
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
	f = fopen(path, "w");
	if (!f || fprintf(f, "%u\n", kb) < 0 || fclose(f) != 0)
		fprintf(stderr, "fuse_passthrough: cannot set %s: %s\n", path,
			strerror(errno));
}

struct options {
	const char *source;
	const char *mountpoint;
	const char *mount_opts;
	unsigned threads;
	bool debug;
};

static void usage(void)
{
	fprintf(stderr,
		"usage: fuse_passthrough [-w] [-m MAX_WRITE] [-r READ_AHEAD_KB] "
		"[-t THREADS]\n"
		"                        [-T TIMEOUT] [-o MOUNT_OPTS] [-d] "
		"SOURCE MOUNTPOINT\n");
	exit(2);
}

static void parse_args(int argc, char **argv, struct pt *pt,
		       struct options *o)
{
	int opt;

	while ((opt = getopt(argc, argv, "wm:r:t:T:o:d")) != -1) {
		switch (opt) {
		case 'w': pt->writeback = true; break;
		case 'm': pt->max_write = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'r': pt->read_ahead_kb = (unsigned)strtoul(optarg, NULL, 0); break;
		case 't': o->threads = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'T': pt->timeout = strtod(optarg, NULL); break;
		case 'o': o->mount_opts = optarg; break;
		case 'd': o->debug = true; break;
		default: usage();
		}
	}
	if (optind != argc - 2 || pt->max_write < 4096 || o->threads < 1)
		usage();
	o->source = argv[optind];
	o->mountpoint = argv[optind + 1];
}

static int run(struct pt *pt, const struct options *o, const char *argv0)
{
	char opts[PATH_MAX + 256];
	char *args_v[5];
	struct fuse_args args = FUSE_ARGS_INIT(0, args_v);
	struct fuse_loop_config *cfg;
	struct fuse_session *se;
	int rc = 1;

	snprintf(opts, sizeof(opts), "fsname=passthrough,subtype=passthrough%s%s",
		 o->mount_opts ? "," : "", o->mount_opts ? o->mount_opts : "");
	args_v[args.argc++] = (char *)argv0;
	args_v[args.argc++] = "-o";
	args_v[args.argc++] = opts;
	if (o->debug)
		args_v[args.argc++] = "-d";
	args_v[args.argc] = NULL;
	se = fuse_session_new(&args, &pt_ops, sizeof(pt_ops), pt);
	if (!se) {
		fuse_opt_free_args(&args);
		return 1;
	}
	if (fuse_set_signal_handlers(se) != 0)
		goto out_destroy;
	if (fuse_session_mount(se, o->mountpoint) != 0)
		goto out_signals;
	set_read_ahead(o->mountpoint, pt->read_ahead_kb);
	cfg = fuse_loop_cfg_create();
	if (!cfg)
		goto out_unmount;
	fuse_loop_cfg_set_max_threads(cfg, o->threads);
	fuse_loop_cfg_set_clone_fd(cfg, 0);
	rc = fuse_session_loop_mt(se, cfg) ? 1 : 0;
	fuse_loop_cfg_destroy(cfg);
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_destroy:
	fuse_session_destroy(se);
	fuse_opt_free_args(&args);
	return rc;
}

int main(int argc, char **argv)
{
	static struct pt pt = { .timeout = 1.0, .max_write = 1 << 20,
				.read_ahead_kb = 4096 };
	struct options o = { .threads = 64 };
	char mnt[PATH_MAX];
	struct stat st;
	int rc;

	parse_args(argc, argv, &pt, &o);
	if (!realpath(o.mountpoint, mnt)) {
		fprintf(stderr, "fuse_passthrough: %s: %s\n", o.mountpoint,
			strerror(errno));
		return 1;
	}
	o.mountpoint = mnt;
	pt.root.fd = open(o.source, O_PATH | O_DIRECTORY);
	if (pt.root.fd < 0 || fstat(pt.root.fd, &st) < 0) {
		fprintf(stderr, "fuse_passthrough: %s: %s\n", o.source,
			strerror(errno));
		return 1;
	}
	pt.root.dev = st.st_dev;
	pt.root.ino = st.st_ino;
	pt.root.nlookup = 1;
	pthread_mutex_init(&pt.lock, NULL);
	pt.nbuckets = BUCKETS_MIN;
	pt.buckets = wfs_calloc(pt.nbuckets, sizeof(*pt.buckets));
	if (!pt.buckets)
		return 1;
	/* The root is in the table too, so a lookup that reaches it (NFS
	 * style "..") finds the same node. */
	pt.buckets[bucket_of(&pt, pt.root.dev, pt.root.ino)] = &pt.root;
	pt.count = 1;
	/* Modes arrive with the caller's umask applied by the kernel. */
	umask(0);
	rc = run(&pt, &o, argv[0]);
	return rc;
}
