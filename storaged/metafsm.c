/* storaged/metafsm: decode, apply, snapshot and restore the metadata for
 * the raft log (see metafsm.h).
 *
 * Snapshot descriptor, version 1 (what raft stores as the snapshot):
 *
 *   offset  size  field
 *        0     7  magic "WFSSNAP"
 *        7     1  version, 1
 *        8     8  raft index the snapshot was taken at
 *       16     8  the store's applied index inside the copy
 *       24     8  size of the copy in bytes
 *       32     4  CRC-32C of the copy's bytes
 *       36     2  length n of the copy's file name (1..64)
 *       38     n  file name, in <data_dir>/snapshots/ ("meta-<index>.db")
 *     38+n     4  CRC-32C of bytes 0..37+n
 *
 * Integers are little-endian.  A reader refuses an unknown version; a new
 * version keeps the magic and the version byte in place.
 *
 * Restoring swaps the copy in without ever leaving a half store: the store
 * is closed (which checkpoints and removes its write-ahead log), the copy
 * is copied to meta.db.restore and fsync'ed, a stale -wal/-shm is removed,
 * the copy is renamed over meta.db, the folder fsync'ed, and the store
 * reopened.  A crash at any point leaves the old store or the new one,
 * each complete, and raft replays the log after the snapshot either way.
 */
#include "storaged/metafsm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "erasure/crc32c.h"
#include "log/log.h"
#include "mem/mem.h"
#include "storaged/disk.h"

#define SUB "metafsm"
#define DESC_FIXED 38
#define DESC_NAME_MAX 64
#define COPY_BUF (1u << 20)
static const char desc_magic[7] = { 'W', 'F', 'S', 'S', 'N', 'A', 'P' };

struct wfs_metafsm {
	char *dir;		/* data_dir */
	char *db_path;		/* data_dir/meta.db */
	char *snap_dir;		/* data_dir/snapshots */
	/* The store.  Replaced only by restore (raft thread) under the write
	 * lock; others read it under the read lock. */
	struct wfs_meta *meta;
	pthread_rwlock_t swap;
	wfs_metafsm_state_cb state_cb;
	void *state_arg;
};

/* The decoded descriptor. */
struct desc {
	uint64_t raft_index, store_index, size;
	uint32_t crc;
	char name[DESC_NAME_MAX + 1];
};

static void put_le(unsigned char *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static char *path_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p = wfs_malloc(la + lb + 2);

	if (!p)
		return NULL;
	memcpy(p, a, la);
	p[la] = '/';
	memcpy(p + la + 1, b, lb + 1);
	return p;
}

/* ---- the descriptor ---- */

static int desc_encode(const struct desc *d, void **out, size_t *len)
{
	size_t n = strlen(d->name), total = DESC_FIXED + n + 4;
	unsigned char *b = wfs_malloc(total);

	if (!b)
		return -ENOMEM;
	memcpy(b, desc_magic, sizeof(desc_magic));
	b[7] = 1;
	put_le(b + 8, d->raft_index, 8);
	put_le(b + 16, d->store_index, 8);
	put_le(b + 24, d->size, 8);
	put_le(b + 32, d->crc, 4);
	put_le(b + 36, n, 2);
	memcpy(b + DESC_FIXED, d->name, n);
	put_le(b + DESC_FIXED + n, wfs_crc32c(0, b, DESC_FIXED + n), 4);
	*out = b;
	*len = total;
	return 0;
}

/* A copy's file name: "meta-" and 20 digits and ".db", nothing else. */
static int name_index(const char *name, uint64_t *index)
{
	char *end;

	if (strlen(name) != 28 || strncmp(name, "meta-", 5) != 0 ||
	    strcmp(name + 25, ".db") != 0)
		return -EINVAL;
	for (int i = 5; i < 25; i++)
		if (name[i] < '0' || name[i] > '9')
			return -EINVAL;
	*index = strtoull(name + 5, &end, 10);
	return 0;
}

static int desc_decode(const void *buf, size_t len, struct desc *d)
{
	const unsigned char *b = buf;
	uint64_t idx;
	size_t n;

	if (len < DESC_FIXED + 4 || memcmp(b, desc_magic, 7) != 0 || b[7] != 1)
		return -EBADMSG;
	n = get_le(b + 36, 2);
	if (n == 0 || n > DESC_NAME_MAX || len != DESC_FIXED + n + 4 ||
	    get_le(b + DESC_FIXED + n, 4) != wfs_crc32c(0, b, DESC_FIXED + n))
		return -EBADMSG;
	memset(d, 0, sizeof(*d));
	d->raft_index = get_le(b + 8, 8);
	d->store_index = get_le(b + 16, 8);
	d->size = get_le(b + 24, 8);
	d->crc = (uint32_t)get_le(b + 32, 4);
	memcpy(d->name, b + DESC_FIXED, n);
	return name_index(d->name, &idx) == 0 ? 0 : -EBADMSG;
}

/* Size and CRC-32C of the file at @path. */
static int file_crc(const char *path, uint64_t *size, uint32_t *crc)
{
	unsigned char *buf = wfs_malloc(COPY_BUF);
	int fd, rc = 0;
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		goto out_free;
	}
	*size = 0;
	*crc = 0;
	while ((n = read(fd, buf, COPY_BUF)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		*crc = wfs_crc32c(*crc, buf, (size_t)n);
		*size += (uint64_t)n;
	}
	close(fd);
out_free:
	wfs_free(buf);
	return rc;
}

/* ---- snapshots ---- */

/* Remove all but the newest WFS_METAFSM_KEEP copies. */
static void prune(struct wfs_metafsm *f)
{
	uint64_t keep[WFS_METAFSM_KEEP] = { 0 }, idx;
	struct dirent *e;
	DIR *d = opendir(f->snap_dir);

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (name_index(e->d_name, &idx) != 0)
			continue;
		for (int i = 0; i < WFS_METAFSM_KEEP; i++) {
			if (idx > keep[i]) {
				uint64_t t = keep[i];

				keep[i] = idx;
				idx = t;
			}
		}
	}
	rewinddir(d);
	while ((e = readdir(d))) {
		char *p;

		if (name_index(e->d_name, &idx) != 0 ||
		    idx >= keep[WFS_METAFSM_KEEP - 1])
			continue;
		p = path_join(f->snap_dir, e->d_name);
		if (p && unlink(p) != 0)
			wfs_log_warn(SUB, "cannot remove old snapshot %s: %s",
				     p, strerror(errno));
		wfs_free(p);
	}
	closedir(d);
}

static int fsm_snapshot(void *arg, uint64_t index, void **buf, size_t *len)
{
	struct wfs_metafsm *f = arg;
	struct desc d = { .raft_index = index };
	char *path;
	int rc;

	if (!f->meta)
		return -EIO;	/* a restore failed: the node has stopped */
	snprintf(d.name, sizeof(d.name), "meta-%020" PRIu64 ".db", index);
	path = path_join(f->snap_dir, d.name);
	if (!path)
		return -ENOMEM;
	rc = wfs_meta_backup(f->meta, path, &d.store_index);
	if (rc == 0)
		rc = file_crc(path, &d.size, &d.crc);
	if (rc == 0)
		rc = wfs_disk_fsync_dir(f->snap_dir);
	if (rc == 0)
		rc = desc_encode(&d, buf, len);
	if (rc == 0) {
		wfs_log_info(SUB, "snapshot at entry %" PRIu64 ": %s, %" PRIu64
			     " bytes", index, d.name, d.size);
		prune(f);
	} else if (rc != -EBUSY) {
		wfs_log_warn(SUB, "snapshot at entry %" PRIu64 " into %s "
			     "failed: %s", index, path, strerror(-rc));
		unlink(path);
	}
	wfs_free(path);
	return rc;
}

static int copy_file(const char *src, const char *dst)
{
	unsigned char *buf = wfs_malloc(COPY_BUF);
	int in = -1, out = -1, rc = 0;
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		rc = -errno;
		goto out_free;
	}
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		rc = -errno;
		goto out_close_in;
	}
	while (rc == 0 && (n = read(in, buf, COPY_BUF)) != 0) {
		if (n < 0) {
			rc = errno == EINTR ? 0 : -errno;
			continue;
		}
		for (ssize_t off = 0; rc == 0 && off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));

			if (w < 0)
				rc = errno == EINTR ? 0 : -errno;
			else
				off += w;
		}
	}
	if (rc == 0 && fsync(out) != 0)
		rc = -errno;
	close(out);
	if (rc)
		unlink(dst);
out_close_in:
	close(in);
out_free:
	wfs_free(buf);
	return rc;
}

/* Put the copy at @src in place of meta.db and reopen; the caller holds
 * the write lock and has closed the store. */
static int swap_in(struct wfs_metafsm *f, const char *src)
{
	char tmp[PATH_MAX], side[PATH_MAX];
	int rc;

	snprintf(tmp, sizeof(tmp), "%s.restore", f->db_path);
	rc = copy_file(src, tmp);
	if (rc)
		return rc;
	snprintf(side, sizeof(side), "%s-wal", f->db_path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", f->db_path);
	unlink(side);
	if (rename(tmp, f->db_path) != 0) {
		rc = -errno;
		unlink(tmp);
		return rc;
	}
	rc = wfs_disk_fsync_dir(f->dir);
	if (rc)
		return rc;
	return wfs_meta_open(f->db_path, &f->meta);
}

/* Check the copy @d names against it; returns its path (wfs_free) in
 * *path. */
static int check_copy(struct wfs_metafsm *f, const struct desc *d,
		      char **path)
{
	uint64_t size;
	uint32_t crc;
	int rc;

	*path = path_join(f->snap_dir, d->name);
	if (!*path)
		return -ENOMEM;
	rc = file_crc(*path, &size, &crc);
	if (rc == 0 && (size != d->size || crc != d->crc))
		rc = -EBADMSG;
	if (rc)
		wfs_log_error(SUB, "snapshot at entry %" PRIu64 ": copy %s "
			      "unusable: %s", d->raft_index, *path,
			      strerror(-rc));
	return rc;
}

static int fsm_restore(void *arg, const void *buf, size_t len)
{
	struct wfs_metafsm *f = arg;
	char *path = NULL;
	struct desc d;
	uint64_t have;
	int rc;

	if (!f->meta)
		return -EIO;
	have = wfs_meta_applied_index(f->meta);
	rc = desc_decode(buf, len, &d);
	if (rc) {
		wfs_log_error(SUB, "snapshot descriptor of %zu bytes is "
			      "damaged", len);
		return rc;
	}
	if (have >= d.store_index) {
		wfs_log_info(SUB, "snapshot at entry %" PRIu64 " is not newer "
			     "than the store (entry %" PRIu64 "): store kept",
			     d.raft_index, have);
		return 0;
	}
	rc = check_copy(f, &d, &path);
	if (rc)
		goto out_free;
	pthread_rwlock_wrlock(&f->swap);
	wfs_meta_close(f->meta);
	f->meta = NULL;
	rc = swap_in(f, path);
	if (rc == 0 && wfs_meta_applied_index(f->meta) != d.store_index)
		rc = -EBADMSG;
	pthread_rwlock_unlock(&f->swap);
	if (rc)
		wfs_log_error(SUB, "restoring snapshot %s failed: %s", path,
			      strerror(-rc));
	else
		wfs_log_info(SUB, "restored snapshot at entry %" PRIu64
			     " from %s", d.raft_index, path);
out_free:
	wfs_free(path);
	return rc;
}

/* ---- entries ---- */

/* ---- applying ---- */

/* RENAME: what the new name leads to now, before the op applies. */
static uint64_t rename_target(struct wfs_meta *m, const struct wfs_meta_op *op)
{
	struct wfs_meta_attr a;

	if (wfs_meta_lookup(m, op->u.rename.new_parent, op->u.rename.new_name,
			    &a) != 0)
		return 0;
	return a.ino;
}

static int fsm_apply(void *arg, uint64_t index, const void *buf, size_t len,
		     void *result)
{
	struct wfs_metafsm *f = arg;
	struct wfs_metafsm_result *res = result;
	struct wfs_meta_op op;
	uint64_t replaced = 0;
	int rc;

	if (!f->meta)
		return -EIO;
	rc = wfs_meta_op_decode(buf, len, &op);
	if (rc == -ENOMEM)
		return rc;
	/* An op this code cannot read (a newer format from an upgraded
	 * voter, or damage): applying the ops after it would make this
	 * copy differ from the others, so this voter stops applying. */
	if (rc) {
		wfs_log_error(SUB, "entry %" PRIu64 " (%zu bytes) is not a "
			      "metadata op this version reads (%s): this node "
			      "stops applying; upgrade it", index, len,
			      strerror(-rc));
		return -EIO;
	}
	if (op.type == WFS_META_OP_RENAME)
		replaced = rename_target(f->meta, &op);
	rc = wfs_meta_apply(f->meta, index, &op, &res->meta);
	if (rc == 0 && res->meta.status == 0 && replaced &&
	    replaced != res->meta.attr.ino) {
		struct wfs_meta_attr a;

		res->replaced_ino = replaced;
		if (wfs_meta_getattr(f->meta, replaced, &a) == 0)
			res->replaced_nlink = a.nlink;
	}
	if (rc)
		wfs_log_error(SUB, "entry %" PRIu64 " (%s): the store failed: "
			      "%s", index, wfs_meta_op_name(op.type),
			      strerror(-rc));
	wfs_meta_op_release(&op);
	return rc;
}

static int fsm_batch_begin(void *arg)
{
	struct wfs_metafsm *f = arg;

	return f->meta ? wfs_meta_batch_begin(f->meta) : -EIO;
}

static int fsm_batch_end(void *arg)
{
	struct wfs_metafsm *f = arg;

	return f->meta ? wfs_meta_batch_end(f->meta) : -EIO;
}

static void fsm_state(void *arg, enum wfs_raftlog_role role, uint64_t leader)
{
	struct wfs_metafsm *f = arg;

	if (f->state_cb)
		f->state_cb(f->state_arg, role, leader);
}

/* ---- life and reads ---- */

int wfs_metafsm_open(const char *data_dir, struct wfs_metafsm **out)
{
	struct wfs_metafsm *f = wfs_calloc(1, sizeof(*f));
	pthread_rwlockattr_t ra;
	int rc = -ENOMEM;

	*out = NULL;
	if (!f)
		return -ENOMEM;
	f->dir = wfs_strdup(data_dir);
	f->db_path = path_join(data_dir, WFS_METAFSM_DB);
	f->snap_dir = path_join(data_dir, WFS_METAFSM_SNAPSHOTS);
	if (!f->dir || !f->db_path || !f->snap_dir)
		goto out_free;
	if (mkdir(f->snap_dir, 0700) != 0 && errno != EEXIST) {
		rc = -errno;
		goto out_free;
	}
	rc = wfs_meta_open(f->db_path, &f->meta);
	if (rc)
		goto out_free;
	/* Writers first: a restore must not starve behind a stream of
	 * reads (readers never nest, so this cannot deadlock). */
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra,
		PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&f->swap, &ra);
	pthread_rwlockattr_destroy(&ra);
	*out = f;
	return 0;

out_free:
	wfs_free(f->snap_dir);
	wfs_free(f->db_path);
	wfs_free(f->dir);
	wfs_free(f);
	return rc;
}

void wfs_metafsm_close(struct wfs_metafsm *f)
{
	if (!f)
		return;
	wfs_meta_close(f->meta);
	pthread_rwlock_destroy(&f->swap);
	wfs_free(f->snap_dir);
	wfs_free(f->db_path);
	wfs_free(f->dir);
	wfs_free(f);
}

void wfs_metafsm_raft_fsm(struct wfs_metafsm *f, wfs_metafsm_state_cb state,
			  void *arg, struct wfs_raftlog_fsm *out)
{
	f->state_cb = state;
	f->state_arg = arg;
	memset(out, 0, sizeof(*out));
	out->result_size = sizeof(struct wfs_metafsm_result);
	out->apply = fsm_apply;
	out->batch_begin = fsm_batch_begin;
	out->batch_end = fsm_batch_end;
	out->snapshot = fsm_snapshot;
	out->restore = fsm_restore;
	out->state = fsm_state;
}

struct wfs_meta *wfs_metafsm_read_begin(struct wfs_metafsm *f)
{
	pthread_rwlock_rdlock(&f->swap);
	return f->meta;
}

void wfs_metafsm_read_end(struct wfs_metafsm *f)
{
	pthread_rwlock_unlock(&f->swap);
}

uint64_t wfs_metafsm_applied(struct wfs_metafsm *f)
{
	struct wfs_meta *m = wfs_metafsm_read_begin(f);
	uint64_t index = m ? wfs_meta_applied_index(m) : 0;

	wfs_metafsm_read_end(f);
	return index;
}
