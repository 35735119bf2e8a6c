/* fuse/ops: the wormfs mount's FUSE low-level operations (see ops.h).
 *
 * Handlers run on libfuse's worker threads and block on the client
 * library; each replies exactly once.  File handles (fi->fh) point at a
 * struct fhandle (an open struct wfs_file), directory handles at a struct dhandle (the last page of
 * entries fetched, so a listing read in several kernel buffers costs one
 * call per page, not per buffer).
 */
#include "fuse/ops.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include "log/log.h"
#include "mem/mem.h"

/* How long the mount trusts that an inode has no security.capability
 * xattr, which the kernel asks for before every write. */
#define NOCAP_NS 1000000000LL

/* Seconds the kernel may keep the attributes of a directory whose unlinks
 * are still being applied: any nonzero time is one or two clock ticks to
 * the kernel (a few ms), enough for the checks of one unlink. */
#define UNLINKING_ATTR_S 1e-6

struct fhandle {
	struct wfs_file *f;
};

struct dhandle {
	uint64_t ino;
	pthread_mutex_t lock;
	struct wfs_dirpage *page; /* the last page fetched; lock */
	unsigned next;		/* its first entry not yet returned; lock */
	uint64_t next_off;	/* the offset that entry follows; lock */
	uint64_t parent;	/* ".."; 0 until looked up; lock */
};

static struct wfs_mount *mnt(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* The requester's credentials; supplementary groups only for callers that
 * are not root and only when @groups (reading them costs a /proc read). */
static void cred_of(fuse_req_t req, struct wfs_cred *cred, bool groups)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	memset(cred, 0, offsetof(struct wfs_cred, groups));
	cred->uid = ctx->uid;
	cred->gid = ctx->gid;
	cred->pid = (uint32_t)ctx->pid;
	cred->umask = ctx->umask;
	if (groups && ctx->uid != 0) {
		gid_t list[WFS_CRED_GROUPS_MAX];
		int n = fuse_req_getgroups(req, WFS_CRED_GROUPS_MAX, list);

		if (n > WFS_CRED_GROUPS_MAX)
			n = WFS_CRED_GROUPS_MAX;
		for (int i = 0; i < n; i++)
			cred->groups[i] = list[i];
		cred->ngroups = n > 0 ? (uint32_t)n : 0;
	}
}

static const struct wfs_cred root_cred;

static void to_stat(const struct wfs_attr *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = a->ino;
	st->st_mode = a->mode;
	st->st_nlink = a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_rdev = a->rdev;
	st->st_size = (off_t)a->size;
	st->st_blksize = a->blksize ? a->blksize : 4096;
	st->st_blocks = (blkcnt_t)((a->bytes + 511) / 512);
	st->st_atim.tv_sec = a->atime_ns / 1000000000;
	st->st_atim.tv_nsec = a->atime_ns % 1000000000;
	st->st_mtim.tv_sec = a->mtime_ns / 1000000000;
	st->st_mtim.tv_nsec = a->mtime_ns % 1000000000;
	st->st_ctim.tv_sec = a->ctime_ns / 1000000000;
	st->st_ctim.tv_nsec = a->ctime_ns % 1000000000;
	/* Times before 1970: keep tv_nsec in [0, 1e9). */
	if (st->st_atim.tv_nsec < 0) {
		st->st_atim.tv_sec--;
		st->st_atim.tv_nsec += 1000000000;
	}
	if (st->st_mtim.tv_nsec < 0) {
		st->st_mtim.tv_sec--;
		st->st_mtim.tv_nsec += 1000000000;
	}
	if (st->st_ctim.tv_nsec < 0) {
		st->st_ctim.tv_sec--;
		st->st_ctim.tv_nsec += 1000000000;
	}
}

static void to_entry(const struct wfs_mount *m, const struct wfs_attr *a,
		     struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = a->ino;
	/* Always 0: the cluster never gives an inode number twice (a
	 * counter, and ReserveInos ranges), so the number alone names an
	 * inode, while the generation the node gives (the log index of the
	 * create) is not known to a create answered before it is applied
	 * (client/behind_internal.h), and the kernel takes an inode whose
	 * generation changes between two entries for a reused number and
	 * makes it bad (EIO for every open file of it). */
	e->generation = 0;
	to_stat(a, &e->attr);
	e->attr_timeout = m->attr_timeout;
	e->entry_timeout = m->entry_timeout;
}

/* Reply with a new entry, counting the lookup the kernel now holds. */
static void reply_entry(fuse_req_t req, const struct wfs_attr *a)
{
	struct wfs_mount *m = mnt(req);
	struct fuse_entry_param e;

	to_entry(m, a, &e);
	wfs_itable_ref(m->itable, a->ino, 1);
	wfs_itable_told(m->itable, a->ino, a->mtime_ns, a->size);
	if (fuse_reply_entry(req, &e) != 0)
		wfs_itable_forget(m->itable, a->ino, 1);
}

static void reply_entry_rc(fuse_req_t req, int rc, const struct wfs_attr *a)
{
	if (rc)
		fuse_reply_err(req, -rc);
	else
		reply_entry(req, a);
}

static int64_t mono_ns(void);

/* attr_timeout in nanoseconds. */
static int64_t attr_ttl_ns(const struct wfs_mount *m)
{
	return (int64_t)(m->attr_timeout * 1e9);
}

void wfs_fuse_note_dir(void *mount, const struct wfs_attr *dir)
{
	struct wfs_mount *m = mount;
	int64_t now = mono_ns();

	wfs_itable_set_attr(m->itable, dir, now, now + attr_ttl_ns(m));
}

/* @ino changed in a way no reply told us the attributes of: what is kept
 * for it goes, and stays away for attr_timeout. */
static void drop_attr(struct wfs_mount *m, uint64_t ino)
{
	wfs_itable_drop_attr(m->itable, ino, mono_ns() + attr_ttl_ns(m));
}

/* The last name of @ino went away: release it now if the kernel holds no
 * lookup on it, else at its last forget. */
static void orphaned(struct wfs_mount *m, uint64_t ino)
{
	if (!wfs_itable_orphan(m->itable, ino))
		wfs_client_forget(m->client, &root_cred, ino);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct wfs_mount *m = userdata;
	unsigned want = FUSE_CAP_ASYNC_READ | FUSE_CAP_PARALLEL_DIROPS |
			FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO |
			FUSE_CAP_ATOMIC_O_TRUNC | FUSE_CAP_POSIX_LOCKS |
			FUSE_CAP_FLOCK_LOCKS | FUSE_CAP_ASYNC_DIO;

	conn->want |= want & conn->capable;
	/* The kernel clears setuid bits on write and chown itself; pages are
	 * invalidated at open (close-to-open), not whenever a getattr shows
	 * another mtime (own commits change it after the fact). */
	conn->want &= ~(FUSE_CAP_HANDLE_KILLPRIV | FUSE_CAP_AUTO_INVAL_DATA |
			FUSE_CAP_WRITEBACK_CACHE);
	conn->max_write = m->max_write;
	conn->max_readahead = m->max_readahead;
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	conn->time_gran = 1;
	/* The kernel never looks the root up nor forgets it: hold it, so it
	 * has an entry to keep attributes in. */
	wfs_itable_ref(m->itable, FUSE_ROOT_ID, 1);
	wfs_log_info("fuse", "kernel protocol %u.%u, max_write %u",
		     conn->proto_major, conn->proto_minor, conn->max_write);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct wfs_mount *m = mnt(req);
	struct wfs_cred cred;
	struct wfs_attr a;
	int rc;

	cred_of(req, &cred, true);
	rc = wfs_client_lookup(m->client, &cred, parent, name, &a);
	if (rc == -ENOENT) {
		/* A negative entry: the name stays absent for a while. */
		struct fuse_entry_param e = { .entry_timeout = m->entry_timeout };

		fuse_reply_entry(req, &e);
		return;
	}
	reply_entry_rc(req, rc, &a);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct wfs_mount *m = mnt(req);

	if (wfs_itable_forget(m->itable, ino, nlookup))
		wfs_client_forget(m->client, &root_cred, ino);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	struct wfs_mount *m = mnt(req);

	for (size_t i = 0; i < count; i++)
		if (wfs_itable_forget(m->itable, forgets[i].ino,
				      forgets[i].nlookup))
			wfs_client_forget(m->client, &root_cred,
					  forgets[i].ino);
	fuse_reply_none(req);
}

static void reply_attr_rc(fuse_req_t req, int rc, const struct wfs_attr *a)
{
	struct stat st;

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	to_stat(a, &st);
	wfs_itable_told(mnt(req)->itable, a->ino, a->mtime_ns, a->size);
	fuse_reply_attr(req, &st, mnt(req)->attr_timeout);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct wfs_mount *m = mnt(req);
	int64_t now = mono_ns(), until;
	struct wfs_cred cred;
	struct wfs_attr a;
	struct stat st;

	(void)fi;
	/* A directory this mount just changed: the change's reply said what
	 * it is now; the kernel caches it for what is left of its time.
	 * While unlinks answered early are still being applied there, what
	 * is kept lags them in mtime, ctime and size (not in owner or mode,
	 * which the kernel asks for before each unlink): it is given for
	 * about this one system call only (the kernel keeps it a clock tick
	 * or two, UNLINKING_ATTR_S; 0 would make it ask again for the second
	 * of the two permission checks of one unlink). */
	if (wfs_itable_attr(m->itable, ino, now, &a, &until)) {
		to_stat(&a, &st);
		fuse_reply_attr(req, &st,
				wfs_client_unlinking(m->client, ino)
					? UNLINKING_ATTR_S
					: (double)(until - now) / 1e9);
		return;
	}
	cred_of(req, &cred, false);
	reply_attr_rc(req, wfs_client_getattr(m->client, &cred, ino, &a), &a);
}

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct wfs_mount *m = mnt(req);
	struct wfs_setattr set = { 0 };
	struct wfs_cred cred;
	struct wfs_attr a;
	int rc;

	(void)fi;
	cred_of(req, &cred, true);
	if (to_set & FUSE_SET_ATTR_MODE) {
		set.valid |= WFS_SET_MODE;
		set.mode = attr->st_mode & 07777;
	}
	if (to_set & FUSE_SET_ATTR_UID) {
		set.valid |= WFS_SET_UID;
		set.uid = attr->st_uid;
	}
	if (to_set & FUSE_SET_ATTR_GID) {
		set.valid |= WFS_SET_GID;
		set.gid = attr->st_gid;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		set.valid |= WFS_SET_SIZE;
		set.size = (uint64_t)attr->st_size;
	}
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		set.valid |= WFS_SET_ATIME | WFS_SET_ATIME_NOW;
	else if (to_set & FUSE_SET_ATTR_ATIME) {
		set.valid |= WFS_SET_ATIME;
		set.atime_ns = ts_ns(&attr->st_atim);
	}
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		set.valid |= WFS_SET_MTIME | WFS_SET_MTIME_NOW;
	else if (to_set & FUSE_SET_ATTR_MTIME) {
		set.valid |= WFS_SET_MTIME;
		set.mtime_ns = ts_ns(&attr->st_mtim);
	}
	if (to_set & FUSE_SET_ATTR_CTIME) {
		set.valid |= WFS_SET_CTIME;
		set.ctime_ns = ts_ns(&attr->st_ctim);
	}
	rc = wfs_client_setattr(m->client, &cred, ino, &set, &a);
	/* What was kept for a directory goes, whatever its ctime says now
	 * (an explicit one may be older): the reply is what it is.  A
	 * failed call may still have changed it (a lost answer). */
	if (rc == 0) {
		wfs_itable_drop_attr(m->itable, ino, 0);
		wfs_fuse_note_dir(m, &a);
	} else {
		drop_attr(m, ino);
	}
	reply_attr_rc(req, rc, &a);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[PATH_MAX + 1];
	struct wfs_cred cred;
	int rc;

	cred_of(req, &cred, false);
	rc = wfs_client_readlink(mnt(req)->client, &cred, ino, buf,
				 sizeof(buf));
	if (rc < 0)
		fuse_reply_err(req, rc == -ERANGE ? ENAMETOOLONG : -rc);
	else
		fuse_reply_readlink(req, buf);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	struct wfs_cred cred;
	struct wfs_attr a;

	cred_of(req, &cred, true);
	reply_entry_rc(req, wfs_client_mknod(mnt(req)->client, &cred, parent,
					     name, mode, rdev, &a), &a);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	struct wfs_cred cred;
	struct wfs_attr a;

	cred_of(req, &cred, true);
	reply_entry_rc(req, wfs_client_mkdir(mnt(req)->client, &cred, parent,
					     name, mode, &a), &a);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	struct wfs_cred cred;
	struct wfs_attr a;

	cred_of(req, &cred, true);
	reply_entry_rc(req, wfs_client_symlink(mnt(req)->client, &cred,
					       parent, name, link, &a), &a);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	struct wfs_cred cred;
	struct wfs_attr a;

	cred_of(req, &cred, true);
	reply_entry_rc(req, wfs_client_link(mnt(req)->client, &cred, ino,
					    newparent, newname, &a), &a);
}

static void unlinked(void *arg, int rc, uint64_t ino, uint32_t nlink)
{
	if (rc == 0 && nlink == 0 && ino)
		orphaned(arg, ino);
}

/* Answered once queued (client/behind_internal.h), unless the mount says
 * sync_meta: the kernel has checked, with default_permissions, what the
 * node would (the entry, its type, the caller's rights on the directory),
 * and a directory's unlinks come one at a time, so only answering early
 * lets them share calls and commits.  fsyncdir makes them durable. */
static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct wfs_mount *m = mnt(req);
	struct wfs_cred cred;
	uint64_t ino = 0;
	uint32_t nlink = 1;
	int rc;

	cred_of(req, &cred, true);
	if (!m->sync_meta) {
		fuse_reply_err(req, -wfs_client_unlink_behind(m->client, &cred,
							      parent, name,
							      unlinked, m));
		return;
	}
	rc = wfs_client_unlink(m->client, &cred, parent, name, &ino, &nlink);
	if (rc == 0 && nlink == 0 && ino)
		orphaned(m, ino);
	fuse_reply_err(req, -rc);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct wfs_mount *m = mnt(req);
	struct wfs_cred cred;
	uint64_t ino = 0;
	uint32_t nlink = 1;
	int rc;

	cred_of(req, &cred, true);
	rc = wfs_client_rmdir(m->client, &cred, parent, name, &ino, &nlink);
	if (rc == 0 && ino)
		drop_attr(m, ino);
	if (rc == 0 && nlink == 0 && ino)
		orphaned(m, ino);
	fuse_reply_err(req, -rc);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	struct wfs_mount *m = mnt(req);
	struct wfs_cred cred;
	uint64_t moved = 0, replaced = 0;
	uint32_t nlink = 1;
	int rc;

	cred_of(req, &cred, true);
	rc = wfs_client_rename(m->client, &cred, parent, name, newparent,
			       newname, flags, &moved, &replaced, &nlink);
	/* Both changed (ctime, a directory's "..", a link gone). */
	if (rc == 0 && moved)
		drop_attr(m, moved);
	if (rc == 0 && replaced)
		drop_attr(m, replaced);
	if (rc == 0 && replaced && nlink == 0)
		orphaned(m, replaced);
	fuse_reply_err(req, -rc);
}

/* ---- files ---- */

static struct fhandle *fh_of(struct fuse_file_info *fi)
{
	return (struct fhandle *)(uintptr_t)fi->fh;
}

/* Hand an open file to the kernel: keep its cached pages when they match
 * what the file holds now. */
static void fill_open(struct wfs_mount *m, struct fuse_file_info *fi,
		      struct fhandle *fh, const struct wfs_attr *a,
		      bool fresh)
{
	fi->fh = (uint64_t)(uintptr_t)fh;
	fi->keep_cache = !fresh && wfs_itable_cache_valid(m->itable, a->ino,
							  a->mtime_ns,
							  a->size);
	/* O_DIRECT asks for no cache: the kernel then passes every read and
	 * write through as it comes. */
	fi->direct_io = (fi->flags & O_DIRECT) != 0;
	wfs_itable_set_cached(m->itable, a->ino, a->mtime_ns, a->size);
}

static void op_open(fuse_req_t req, fuse_ino_t ino,
		    struct fuse_file_info *fi)
{
	struct wfs_mount *m = mnt(req);
	struct fhandle *fh = wfs_calloc(1, sizeof(*fh));
	struct wfs_cred cred;
	struct wfs_attr a;
	bool cached;
	int rc;

	if (!fh) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	cred_of(req, &cred, false);
	/* O_DIRECT reads bypass the pages: they will come. */
	cached = !(fi->flags & O_DIRECT) &&
		 wfs_itable_pages_cached(m->itable, ino);
	rc = wfs_file_open(m->client, &cred, ino,
			   fi->flags | (cached ? WFS_O_CACHED : 0), &a,
			   &fh->f);
	if (rc) {
		wfs_free(fh);
		fuse_reply_err(req, -rc);
		return;
	}
	fill_open(m, fi, fh, &a, (fi->flags & O_TRUNC) != 0);
	/* Close-to-open: the kernel may hold attributes older than those
	 * the open just fetched (another mount wrote and closed the file
	 * within attr_timeout); reads it would cut at the old size.  It
	 * asks again once told they are stale.  Only the attributes: the
	 * pages were dealt with by keep_cache. */
	if (m->se && wfs_itable_told_other(m->itable, ino, a.mtime_ns,
					   a.size))
		fuse_lowlevel_notify_inval_inode(m->se, ino, -1, 0);
	if (fuse_reply_open(req, fi) != 0) {
		wfs_file_close(fh->f);	/* interrupted: no release comes */
		wfs_free(fh);
	}
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct wfs_mount *m = mnt(req);
	struct fhandle *fh = wfs_calloc(1, sizeof(*fh));
	struct fuse_entry_param e;
	struct wfs_cred cred;
	struct wfs_attr a;
	bool created = false;
	int rc;

	if (!fh) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	cred_of(req, &cred, true);
	rc = wfs_file_create(m->client, &cred, parent, name, mode, fi->flags,
			     &a, &created, &fh->f);
	if (rc) {
		wfs_free(fh);
		fuse_reply_err(req, -rc);
		return;
	}
	wfs_itable_ref(m->itable, a.ino, 1);
	/* A file just made has no xattrs: spare the kernel's question before
	 * the first write. */
	if (created)
		wfs_itable_set_nocap(m->itable, a.ino, mono_ns() + NOCAP_NS);
	fill_open(m, fi, fh, &a, created || (fi->flags & O_TRUNC));
	wfs_itable_told(m->itable, a.ino, a.mtime_ns, a.size);
	to_entry(m, &a, &e);
	if (fuse_reply_create(req, &e, fi) != 0) {
		wfs_itable_forget(m->itable, a.ino, 1);
		wfs_file_close(fh->f);
		wfs_free(fh);
	}
}

/* A read buffer per worker thread, kept between requests. */
static pthread_key_t rbuf_key;
static pthread_once_t rbuf_once = PTHREAD_ONCE_INIT;

struct rbuf {
	size_t cap;
	unsigned char data[];
};

static void rbuf_key_init(void)
{
	pthread_key_create(&rbuf_key, wfs_free);
}

static unsigned char *read_buffer(size_t size)
{
	struct rbuf *b;

	pthread_once(&rbuf_once, rbuf_key_init);
	b = pthread_getspecific(rbuf_key);
	if (b && b->cap >= size)
		return b->data;
	wfs_free(b);
	b = wfs_malloc(sizeof(*b) + size);
	pthread_setspecific(rbuf_key, b);
	if (!b)
		return NULL;
	b->cap = size;
	return b->data;
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	unsigned char *buf = read_buffer(size);
	ssize_t n;

	(void)ino;
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = wfs_file_read(fh_of(fi)->f, buf, size, (uint64_t)off);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, (const char *)buf, (size_t)n);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	ssize_t n;

	(void)ino;
	n = wfs_file_write(fh_of(fi)->f, buf, size, (uint64_t)off);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}

/* Drop every POSIX lock @owner holds on @ino (close(2) of any descriptor
 * of the file ends them). */
static void unlock_posix(struct wfs_mount *m, fuse_ino_t ino, uint64_t owner)
{
	struct wfs_lock lk = {
		.kind = WFS_LOCK_POSIX, .type = WFS_LOCK_UNLOCK,
		.start = 0, .end = UINT64_MAX, .owner = owner,
	};

	wfs_client_lock(m->client, &root_cred, ino, WFS_LOCK_SET, &lk);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino,
		     struct fuse_file_info *fi)
{
	struct wfs_mount *m = mnt(req);
	struct fhandle *fh = fh_of(fi);
	int rc = wfs_file_flush(fh->f);

	if (wfs_itable_locked(m->itable, ino))
		unlock_posix(m, ino, fi->lock_owner);
	fuse_reply_err(req, -rc);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct wfs_mount *m = mnt(req);
	struct fhandle *fh = fh_of(fi);
	struct wfs_attr a;

	if (fi->flock_release) {
		struct wfs_lock lk = {
			.kind = WFS_LOCK_FLOCK, .type = WFS_LOCK_UNLOCK,
			.owner = fi->lock_owner,
		};

		wfs_client_lock(m->client, &root_cred, ino, WFS_LOCK_SET, &lk);
	}
	/* The pages the kernel holds now match the file as flushed. */
	if (wfs_file_flush(fh->f) == 0) {
		wfs_file_getattr(fh->f, &a);
		wfs_itable_set_cached(m->itable, ino, a.mtime_ns, a.size);
	}
	wfs_file_close(fh->f);
	wfs_free(fh);
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	(void)ino;
	fuse_reply_err(req, -wfs_file_fsync(fh_of(fi)->f, datasync != 0));
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
			 off_t offset, off_t length, struct fuse_file_info *fi)
{
	struct wfs_attr a;
	int rc = 0;

	(void)ino;
	/* Space is not reserved ahead in WormFS; allocating only has to make
	 * the file as long as asked (unless told to keep the size). */
	if (mode & ~FALLOC_FL_KEEP_SIZE) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (!(mode & FALLOC_FL_KEEP_SIZE)) {
		struct wfs_cred cred;

		cred_of(req, &cred, false);
		wfs_file_getattr(fh_of(fi)->f, &a);
		if ((uint64_t)(offset + length) > a.size)
			rc = wfs_file_truncate(fh_of(fi)->f, &cred,
					       (uint64_t)(offset + length),
					       &a);
	}
	fuse_reply_err(req, -rc);
}

/* ---- directories ---- */

static struct dhandle *dh_of(struct fuse_file_info *fi)
{
	return (struct dhandle *)(uintptr_t)fi->fh;
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct dhandle *dh = wfs_calloc(1, sizeof(*dh));

	if (!dh) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	dh->ino = ino;
	pthread_mutex_init(&dh->lock, NULL);
	fi->fh = (uint64_t)(uintptr_t)dh;
	if (fuse_reply_open(req, fi) != 0) {
		pthread_mutex_destroy(&dh->lock);
		wfs_free(dh);
	}
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct dhandle *dh = dh_of(fi);

	(void)ino;
	wfs_dirpage_free(dh->page);
	pthread_mutex_destroy(&dh->lock);
	wfs_free(dh);
	fuse_reply_err(req, 0);
}

/* A listing being filled into one kernel buffer. */
struct dirfill {
	fuse_req_t req;
	struct wfs_mount *m;
	char *buf;
	size_t size, pos;
	bool plus;
};

/* Add one entry; false when it does not fit (nothing added). */
static bool add_entry(struct dirfill *d, const char *name, uint64_t ino,
		      uint32_t mode, const struct wfs_attr *a, uint64_t off,
		      bool counted)
{
	size_t room = d->size - d->pos, n;

	if (d->plus) {
		struct fuse_entry_param e;

		memset(&e, 0, sizeof(e));
		if (a && counted)
			to_entry(d->m, a, &e);
		e.attr.st_ino = ino;
		e.attr.st_mode = mode;
		n = fuse_add_direntry_plus(d->req, d->buf + d->pos, room, name,
					   &e, (off_t)off);
		if (n <= room && e.ino) {
			wfs_itable_ref(d->m->itable, e.ino, 1);
			wfs_itable_told(d->m->itable, e.ino, a->mtime_ns,
					a->size);
		}
	} else {
		struct stat st = { .st_ino = ino, .st_mode = mode };

		n = fuse_add_direntry(d->req, d->buf + d->pos, room, name, &st,
				      (off_t)off);
	}
	if (n > room)
		return false;
	d->pos += n;
	return true;
}

/* "." and "..", at offsets 1 and 2 (the cluster's cookies start at 3). */
static bool add_dots(struct dirfill *d, struct dhandle *dh, uint64_t off,
		     const struct wfs_cred *cred)
{
	if (off < 1 && !add_entry(d, ".", dh->ino, S_IFDIR, NULL, 1, false))
		return false;
	if (off < 2) {
		if (!dh->parent) {
			struct wfs_attr a;

			dh->parent = wfs_client_lookup(d->m->client, cred,
						       dh->ino, "..", &a) == 0
					     ? a.ino : dh->ino;
		}
		if (!add_entry(d, "..", dh->parent, S_IFDIR, NULL, 2, false))
			return false;
	}
	return true;
}

/* Entries per page fetched: about what a kernel buffer of @size holds. */
static unsigned page_limit(size_t size, bool plus)
{
	size_t n = size / (plus ? 160 : 40) + 1;

	return n < 16 ? 16 : n > 1024 ? 1024 : (unsigned)n;
}

static int fill_dir(struct dirfill *d, struct dhandle *dh, uint64_t off,
		    const struct wfs_cred *cred)
{
	if (!add_dots(d, dh, off, cred))
		return 0;
	if (off < 2)
		off = 0;
	for (;;) {
		struct wfs_dirpage *p = dh->page;
		bool cont = p && dh->next_off == off;

		if (cont && dh->next >= wfs_dirpage_count(p) &&
		    wfs_dirpage_eof(p))
			return 0;	/* the end of the directory */
		if (!cont || dh->next >= wfs_dirpage_count(p)) {
			int rc;

			wfs_dirpage_free(dh->page);
			dh->page = NULL;
			rc = wfs_client_readdir(d->m->client, cred, dh->ino, off,
						page_limit(d->size, d->plus),
						d->plus, &dh->page);
			if (rc)
				return rc;
			p = dh->page;
			dh->next = 0;
			dh->next_off = off;
			if (wfs_dirpage_count(p) == 0)
				return 0;
		}
		for (unsigned i = dh->next; i < wfs_dirpage_count(p); i++) {
			const struct wfs_dirent *e = wfs_dirpage_entry(p, i);

			if (!add_entry(d, e->name, e->ino, e->mode, e->attr,
				       e->cookie, true))
				return 0;
			dh->next = i + 1;
			dh->next_off = off = e->cookie;
		}
	}
}

static void do_readdir(fuse_req_t req, size_t size, off_t off,
		       struct fuse_file_info *fi, bool plus)
{
	struct dhandle *dh = dh_of(fi);
	struct dirfill d = { req, mnt(req), NULL, size, 0, plus };
	struct wfs_cred cred;
	int rc;

	d.buf = wfs_malloc(size ? size : 1);
	if (!d.buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	cred_of(req, &cred, false);
	pthread_mutex_lock(&dh->lock);
	rc = fill_dir(&d, dh, (uint64_t)off, &cred);
	pthread_mutex_unlock(&dh->lock);
	/* Entries already added are returned; the error comes next time. */
	if (rc && d.pos == 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, d.buf, d.pos);
	wfs_free(d.buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)ino;
	do_readdir(req, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	do_readdir(req, size, off, fi, true);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	/* Directory changes are durable when their calls return, but for
	 * unlinks and creates answered before (op_unlink, and
	 * wfs_file_create with the client's early_creates). */
	fuse_reply_err(req, -wfs_client_settle(mnt(req)->client));
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct wfs_statfs s;
	struct statvfs st;
	struct wfs_cred cred;
	int rc;

	cred_of(req, &cred, false);
	rc = wfs_client_statfs(mnt(req)->client, &cred, ino, &s);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	memset(&st, 0, sizeof(st));
	st.f_bsize = s.bsize;
	st.f_frsize = s.frsize;
	st.f_blocks = s.blocks;
	st.f_bfree = s.bfree;
	st.f_bavail = s.bavail;
	st.f_files = s.files;
	st.f_ffree = s.ffree;
	st.f_favail = s.ffree;
	st.f_namemax = s.namemax;
	fuse_reply_statfs(req, &st);
}

/* ---- xattrs ---- */

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool is_cap(const char *name)
{
	return strcmp(name, "security.capability") == 0;
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	struct wfs_mount *m = mnt(req);
	struct wfs_cred cred;

	int rc;

	cred_of(req, &cred, true);
	if (is_cap(name))
		wfs_itable_set_nocap(m->itable, ino, 0);
	rc = wfs_client_setxattr(m->client, &cred, ino, name, value, size,
				 flags);
	drop_attr(m, ino);	/* its ctime moved */
	fuse_reply_err(req, -rc);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	struct wfs_mount *m = mnt(req);
	struct wfs_cred cred;
	char *buf = NULL;
	int rc;

	if (is_cap(name) && wfs_itable_nocap(m->itable, ino, mono_ns())) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	if (size) {
		buf = wfs_malloc(size);
		if (!buf) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
	}
	cred_of(req, &cred, true);
	rc = wfs_client_getxattr(m->client, &cred, ino, name, buf, size);
	if (rc == -ENODATA && is_cap(name))
		wfs_itable_set_nocap(m->itable, ino, mono_ns() + NOCAP_NS);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else if (size)
		fuse_reply_buf(req, buf, (size_t)rc);
	else
		fuse_reply_xattr(req, (size_t)rc);
	wfs_free(buf);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct wfs_mount *m = mnt(req);
	struct wfs_cred cred;
	char *buf = NULL;
	int rc;

	if (size) {
		buf = wfs_malloc(size);
		if (!buf) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
	}
	cred_of(req, &cred, true);
	rc = wfs_client_listxattr(m->client, &cred, ino, buf, size);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else if (size)
		fuse_reply_buf(req, buf, (size_t)rc);
	else
		fuse_reply_xattr(req, (size_t)rc);
	wfs_free(buf);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct wfs_mount *m = mnt(req);
	struct wfs_cred cred;

	int rc;

	cred_of(req, &cred, true);
	rc = wfs_client_removexattr(m->client, &cred, ino, name);
	drop_attr(m, ino);	/* its ctime moved */
	fuse_reply_err(req, -rc);
}

/* ---- locks ---- */

static uint32_t lock_type(short t)
{
	return t == F_RDLCK ? WFS_LOCK_READ
	       : t == F_WRLCK ? WFS_LOCK_WRITE : WFS_LOCK_UNLOCK;
}

static void lock_range(const struct flock *fl, struct wfs_lock *lk)
{
	lk->start = (uint64_t)fl->l_start;
	lk->end = fl->l_len == 0 ? UINT64_MAX
				 : (uint64_t)(fl->l_start + fl->l_len - 1);
}

/* Take a lock, waiting when asked to: the cluster bounds each wait, so
 * this asks again until granted or the requester is interrupted. */
static int take_lock(fuse_req_t req, fuse_ino_t ino, struct wfs_lock *lk,
		     bool wait)
{
	struct wfs_mount *m = mnt(req);
	struct wfs_cred cred;
	int rc;

	cred_of(req, &cred, false);
	do {
		rc = wfs_client_lock(m->client, &cred, ino,
				     wait ? WFS_LOCK_SET_WAIT : WFS_LOCK_SET,
				     lk);
		if (rc == -ETIMEDOUT && fuse_req_interrupted(req))
			return -EINTR;
	} while (rc == -ETIMEDOUT && wait);
	return rc;
}

static void op_getlk(fuse_req_t req, fuse_ino_t ino,
		     struct fuse_file_info *fi, struct flock *lock)
{
	struct wfs_lock lk = { .kind = WFS_LOCK_POSIX };
	struct wfs_cred cred;
	int rc;

	lk.type = lock_type(lock->l_type);
	lock_range(lock, &lk);
	lk.owner = fi->lock_owner;
	cred_of(req, &cred, false);
	rc = wfs_client_lock(mnt(req)->client, &cred, ino, WFS_LOCK_GET, &lk);
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (lk.type == WFS_LOCK_UNLOCK) {
		lock->l_type = F_UNLCK;
	} else {
		lock->l_type = lk.type == WFS_LOCK_READ ? F_RDLCK : F_WRLCK;
		lock->l_start = (off_t)lk.start;
		lock->l_len = lk.end == UINT64_MAX
				      ? 0 : (off_t)(lk.end - lk.start + 1);
		lock->l_pid = (pid_t)lk.pid;
	}
	fuse_reply_lock(req, lock);
}

static void op_setlk(fuse_req_t req, fuse_ino_t ino,
		     struct fuse_file_info *fi, struct flock *lock, int sleep)
{
	struct wfs_lock lk = { .kind = WFS_LOCK_POSIX };
	int rc;

	lk.type = lock_type(lock->l_type);
	lock_range(lock, &lk);
	lk.owner = fi->lock_owner;
	rc = take_lock(req, ino, &lk, sleep && lk.type != WFS_LOCK_UNLOCK);
	if (rc == 0 && lk.type != WFS_LOCK_UNLOCK)
		wfs_itable_set_locked(mnt(req)->itable, ino);
	fuse_reply_err(req, -rc);
}

static void op_flock(fuse_req_t req, fuse_ino_t ino,
		     struct fuse_file_info *fi, int op)
{
	struct wfs_lock lk = { .kind = WFS_LOCK_FLOCK, .end = UINT64_MAX };
	int how = op & ~LOCK_NB;

	lk.type = how == LOCK_SH ? WFS_LOCK_READ
		  : how == LOCK_EX ? WFS_LOCK_WRITE : WFS_LOCK_UNLOCK;
	lk.owner = fi->lock_owner;
	fuse_reply_err(req, -take_lock(req, ino, &lk,
				       !(op & LOCK_NB) &&
					       lk.type != WFS_LOCK_UNLOCK));
}

static const struct fuse_lowlevel_ops ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.symlink = op_symlink,
	.link = op_link,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.rename = op_rename,
	.open = op_open,
	.create = op_create,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.fallocate = op_fallocate,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.getlk = op_getlk,
	.setlk = op_setlk,
	.flock = op_flock,
};

const struct fuse_lowlevel_ops *wfs_fuse_ops(void)
{
	return &ops;
}
