/* storaged/chunkstore: the node's chunk store over its disks.
 *
 * In memory, each disk has 1000 folders (as on disk, disk.c), and each
 * folder a sorted array of 24-byte entries (stripe id, version, index,
 * data length, flags), so all chunks of a stripe on a disk sit side by side
 * in one array.  A node with millions of chunks spends about 30 bytes on
 * each, growth slack included.
 *
 * Locking:
 *   - st->locks[f] protects folder f's entry arrays on every disk.  An
 *     operation on stripe S takes only locks[folder(S)], and never holds it
 *     across I/O (it decides and reserves, then lets go).  Because it spans
 *     the disks, checking "no disk holds a chunk of this stripe version"
 *     and reserving the chosen disk is one atomic step.
 *   - folder->index_lock serialises the appends to and rewrites of one
 *     index file; it is held around that small I/O.  Order: index_lock,
 *     then locks[f] inside it.
 *   - disk->space_lock protects the cached space figures; taken inside
 *     locks[f] and never held across statvfs.
 *   - online, error, lock_fd, needs_scan and the counters are atomics.
 *
 * An entry flagged BUSY is being written or deleted: a write reserves its
 * entry (BUSY, not yet PRESENT) before any I/O, so concurrent writers of
 * one stripe see each other's choice; a second operation on a BUSY chunk
 * gets -EBUSY.  The index record of a change and the entry's new state are
 * made under the folder's index_lock, so an index rewrite (compaction) never
 * loses a change: it snapshots the entries under that lock, and any change
 * not in the snapshot appends its record after the rewrite.
 */
#include "storaged/chunkstore.h"
#include "storaged/chunkstore_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log/log.h"
#include "mem/mem.h"

#define FOLDERS WFS_DISK_FOLDERS

/* Space figures are measured again after this long or this many writes. */
#define SPACE_MAX_AGE_NS (5LL * 1000000000LL)
#define SPACE_MAX_WRITES 256

/* An index is compacted when it holds more than twice its live entries
 * plus this many records. */
#define COMPACT_SLACK 64

/* Streaming buffer of wfs_store_verify. */
#define VERIFY_SCRATCH (256u << 10)

enum entry_flags {
	ENTRY_PRESENT = 1 << 0,	/* the chunk file exists */
	ENTRY_BUSY = 1 << 1,	/* a write or delete is in flight */
};

struct entry {
	uint64_t stripe_id;
	uint64_t version;
	uint32_t data_len;
	uint8_t index;
	uint8_t flags;		/* enum entry_flags */
};
_Static_assert(sizeof(struct entry) == 24, "an entry is 24 bytes");

struct folder {
	struct entry *v;	/* sorted by key; protected by st->locks[f] */
	uint32_t n, cap;	/* protected by st->locks[f] */
	pthread_mutex_t index_lock;
	uint32_t records;	/* records in the index file; index_lock */
};

struct disk {
	char *root;
	struct wfs_disk_ident ident;	/* set at open, then read-only */
	struct folder *folders;	/* FOLDERS of them; NULL if never attached */
	atomic_int lock_fd;	/* the attach lock; -1 once released */
	atomic_int online;
	atomic_int error;	/* why it is offline */
	atomic_int needs_scan;	/* an index may lack a change: never mark
				 * this disk clean */
	atomic_uint_least64_t chunks, bytes;

	pthread_mutex_t space_lock;
	uint64_t capacity, avail;	/* space_lock */
	int64_t space_ns;	/* when measured; space_lock */
	unsigned space_writes;	/* writes since; space_lock */
	int space_pinned;	/* test seam; space_lock */
};

struct wfs_store {
	char node_id[WFS_DISK_NODE_ID_MAX + 1];
	unsigned ndisks;
	struct disk *disks;
	pthread_mutex_t locks[FOLDERS];
	atomic_uint_least64_t tmp_seq;	/* names temporary files */
	atomic_uint rotor;		/* rotates ties between disks */
};

/* What an open found on one disk, for its log line. */
struct load_stats {
	unsigned rebuilt, added, dropped;
};

/* ---- entries ---- */

/* Order of keys: stripe id, version, index. */
static int key_order(const struct wfs_chunk_key *a,
		     const struct wfs_chunk_key *b)
{
	if (a->stripe_id != b->stripe_id)
		return a->stripe_id < b->stripe_id ? -1 : 1;
	if (a->version != b->version)
		return a->version < b->version ? -1 : 1;
	if (a->index != b->index)
		return a->index < b->index ? -1 : 1;
	return 0;
}

static struct wfs_chunk_key entry_key(const struct entry *e)
{
	struct wfs_chunk_key k = { e->stripe_id, e->version, e->index };

	return k;
}

static int entry_cmp(const struct entry *e, const struct wfs_chunk_key *k)
{
	struct wfs_chunk_key ek = entry_key(e);

	return key_order(&ek, k);
}

/* The first entry not below @k. */
static uint32_t lower_bound(const struct folder *fo,
			    const struct wfs_chunk_key *k)
{
	uint32_t lo = 0, hi = fo->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (entry_cmp(&fo->v[mid], k) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct entry *find(const struct folder *fo,
			  const struct wfs_chunk_key *k)
{
	uint32_t pos = lower_bound(fo, k);

	return pos < fo->n && entry_cmp(&fo->v[pos], k) == 0 ? &fo->v[pos]
							       : NULL;
}

/* Does @fo hold (or reserve) any chunk of stripe @k's stripe version? */
static int holds_stripe(const struct folder *fo,
			const struct wfs_chunk_key *k)
{
	struct wfs_chunk_key first = { k->stripe_id, k->version, 0 };
	uint32_t pos = lower_bound(fo, &first);

	return pos < fo->n && fo->v[pos].stripe_id == k->stripe_id &&
	       fo->v[pos].version == k->version;
}

static int insert(struct folder *fo, const struct wfs_chunk_key *k,
		  uint32_t data_len, uint8_t flags)
{
	uint32_t pos = lower_bound(fo, k);

	if (fo->n == fo->cap) {
		uint32_t cap = fo->cap ? fo->cap + fo->cap / 2 + 1 : 4;
		struct entry *v = wfs_realloc(fo->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		fo->v = v;
		fo->cap = cap;
	}
	memmove(&fo->v[pos + 1], &fo->v[pos],
		(fo->n - pos) * sizeof(fo->v[0]));
	fo->v[pos] = (struct entry){ k->stripe_id, k->version, data_len,
				     (uint8_t)k->index, flags };
	fo->n++;
	return 0;
}

static void erase(struct folder *fo, struct entry *e)
{
	uint32_t pos = (uint32_t)(e - fo->v);

	memmove(&fo->v[pos], &fo->v[pos + 1],
		(fo->n - pos - 1) * sizeof(fo->v[0]));
	fo->n--;
	/* Give memory back when a folder shrinks a lot; failing to is fine. */
	if (fo->cap > 16 && fo->n < fo->cap / 4) {
		uint32_t cap = fo->n + fo->n / 2 + 4;
		struct entry *v = wfs_realloc(fo->v, cap * sizeof(*v));

		if (v) {
			fo->v = v;
			fo->cap = cap;
		}
	}
}

/* ---- disk state ---- */

static int is_online(struct disk *d)
{
	return atomic_load(&d->online);
}

static const char *disk_name(const struct disk *d)
{
	return d->ident.disk_id[0] ? d->ident.disk_id : "-";
}

static void set_offline(struct disk *d, int rc, const char *what)
{
	int expect = 1, fd;

	if (!atomic_compare_exchange_strong(&d->online, &expect, 0))
		return;
	atomic_store(&d->error, rc);
	wfs_log_warn("store", "disk %s (%s) offline: %s: %s", disk_name(d),
		     d->root, what, strerror(-rc));
	/* Let go of the directory so the operator can unmount it. */
	fd = atomic_exchange(&d->lock_fd, -1);
	if (fd >= 0)
		close(fd);
}

/* Decide whether @rc from I/O on @d means the disk failed; if so take it
 * offline and return -EIO, else return @rc.  A missing file or folder
 * means failure only if the root or its chunks/ is gone or replaced. */
static int disk_failed(struct disk *d, int rc, const char *what)
{
	int hc;

	switch (-rc) {
	case EIO:
	case EROFS:
	case ENODEV:
	case ENXIO:
	case ESTALE:
	case ENOTCONN:
	case EUCLEAN:
	case EACCES:
	case EPERM:
		set_offline(d, rc, what);
		return -EIO;
	case ENOENT:
	case ENOTDIR:
		hc = wfs_disk_check(d->root, &d->ident);
		if (hc == 0)
			return rc;
		set_offline(d, hc, what);
		return -EIO;
	default:
		return is_online(d) ? rc : -EIO;
	}
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Measure @d's space if the cached figures are stale (or @force). */
static void space_update(struct disk *d, int force)
{
	uint64_t cap, avail;
	int64_t now = now_ns();
	int stale, rc;

	pthread_mutex_lock(&d->space_lock);
	stale = !d->space_pinned &&
		(force || d->space_ns == 0 ||
		 now - d->space_ns >= SPACE_MAX_AGE_NS ||
		 d->space_writes >= SPACE_MAX_WRITES);
	pthread_mutex_unlock(&d->space_lock);
	if (!stale || !is_online(d))
		return;
	rc = wfs_disk_space(d->root, &cap, &avail);
	if (rc != 0) {
		disk_failed(d, rc, "statvfs");
		return;
	}
	pthread_mutex_lock(&d->space_lock);
	if (!d->space_pinned) {
		d->capacity = cap;
		d->avail = avail;
		d->space_ns = now;
		d->space_writes = 0;
	}
	pthread_mutex_unlock(&d->space_lock);
}

static void space_get(struct disk *d, uint64_t *cap, uint64_t *avail)
{
	pthread_mutex_lock(&d->space_lock);
	*cap = d->capacity;
	*avail = d->avail;
	pthread_mutex_unlock(&d->space_lock);
}

/* A write of @bytes landed (or, with @full, the disk said ENOSPC). */
static void space_charge(struct disk *d, uint64_t bytes, int full)
{
	pthread_mutex_lock(&d->space_lock);
	d->avail = full || bytes > d->avail ? 0 : d->avail - bytes;
	d->space_writes++;
	pthread_mutex_unlock(&d->space_lock);
}

static int space_fits(struct disk *d, uint64_t need)
{
	uint64_t cap, avail;

	space_get(d, &cap, &avail);
	return avail >= need + WFS_STORE_RESERVE;
}

static uint64_t file_bytes(uint32_t data_len)
{
	return WFS_CHUNK_HEADER_SIZE + (uint64_t)data_len;
}

/* ---- index upkeep ---- */

/* Rewrite folder @f's index of @d from its entries.  Called with the
 * folder's index_lock held.  Returns 0 or a negative errno (the old index
 * then stays). */
static int index_rewrite(struct wfs_store *st, struct disk *d, unsigned f)
{
	struct folder *fo = &d->folders[f];
	struct wfs_disk_rec *recs = NULL;
	size_t n = 0;
	int rc = 0;

	pthread_mutex_lock(&st->locks[f]);
	if (fo->n) {
		recs = wfs_malloc(fo->n * sizeof(*recs));
		if (!recs)
			rc = -ENOMEM;
	}
	if (recs) {
		for (uint32_t i = 0; i < fo->n; i++) {
			if (!(fo->v[i].flags & ENTRY_PRESENT))
				continue;
			recs[n].type = WFS_DISK_REC_ADD;
			recs[n].data_len = fo->v[i].data_len;
			recs[n].key = entry_key(&fo->v[i]);
			n++;
		}
	}
	pthread_mutex_unlock(&st->locks[f]);
	if (rc != 0)
		return rc;
	rc = wfs_disk_index_write(d->root, f, recs, n);
	wfs_free(recs);
	if (rc == 0)
		fo->records = (uint32_t)n;
	return rc;
}

/* Record a change of chunk @k in folder @f of @d: append its index record,
 * then settle its entry (BUSY on entry): an ADD makes it PRESENT with
 * @data_len, a DEL removes it.  Compacts the index when it has grown.
 * Returns 0, or -EIO if the disk failed meanwhile (the entry is settled
 * anyway: the file change is done). */
static int settle(struct wfs_store *st, struct disk *d, unsigned f,
		  const struct wfs_chunk_key *k, uint32_t type,
		  uint32_t data_len)
{
	struct folder *fo = &d->folders[f];
	struct wfs_disk_rec rec = { type, data_len, *k };
	struct entry *e;
	uint64_t old_bytes = 0;
	int rc, was_present = 0, compact;

	pthread_mutex_lock(&fo->index_lock);
	rc = wfs_disk_index_append(d->root, f, &rec);
	if (rc == 0) {
		fo->records++;
	} else {
		/* The index now lacks this change: rebuild it next open. */
		atomic_store(&d->needs_scan, 1);
		rc = disk_failed(d, rc, "index append");
		if (rc != -EIO)
			rc = 0;
	}
	pthread_mutex_lock(&st->locks[f]);
	e = find(fo, k);
	if (e) {
		was_present = e->flags & ENTRY_PRESENT;
		old_bytes = was_present ? file_bytes(e->data_len) : 0;
		if (type == WFS_DISK_REC_ADD) {
			e->flags = ENTRY_PRESENT;
			e->data_len = data_len;
		} else {
			erase(fo, e);
		}
	}
	compact = fo->records > 2 * fo->n + COMPACT_SLACK;
	pthread_mutex_unlock(&st->locks[f]);
	if (type == WFS_DISK_REC_ADD) {
		if (!was_present)
			atomic_fetch_add(&d->chunks, 1);
		atomic_fetch_add(&d->bytes, file_bytes(data_len));
	} else if (was_present) {
		atomic_fetch_sub(&d->chunks, 1);
	}
	atomic_fetch_sub(&d->bytes, old_bytes);
	/* A failed compaction leaves the old index, still right; it is
	 * tried again on the next change. */
	if (rc == 0 && compact) {
		int crc = index_rewrite(st, d, f);

		if (crc != 0 && crc != -ENOMEM)
			rc = disk_failed(d, crc, "index compaction") == -EIO
				     ? -EIO : 0;
	}
	pthread_mutex_unlock(&fo->index_lock);
	return rc;
}

/* Drop the BUSY mark of a change that did not happen: a reserved entry
 * that never became PRESENT goes away. */
static void unreserve(struct wfs_store *st, struct disk *d, unsigned f,
		      const struct wfs_chunk_key *k)
{
	struct folder *fo = &d->folders[f];
	struct entry *e;

	pthread_mutex_lock(&st->locks[f]);
	e = find(fo, k);
	if (e && (e->flags & ENTRY_PRESENT))
		e->flags = ENTRY_PRESENT;
	else if (e)
		erase(fo, e);
	pthread_mutex_unlock(&st->locks[f]);
}

/* ---- open: loading and reconciling folders ---- */

struct sortrec {
	struct wfs_disk_rec rec;
	size_t seq;
};

static int sortrec_cmp(const void *a, const void *b)
{
	const struct sortrec *x = a, *y = b;
	int c = key_order(&x->rec.key, &y->rec.key);

	if (c)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Build @fo's entries from index records in file order: for each key the
 * last record wins. */
static int entries_from_records(struct folder *fo,
				const struct wfs_disk_rec *recs, size_t n)
{
	struct sortrec *s;
	size_t live = 0;

	if (n == 0)
		return 0;
	s = wfs_malloc(n * sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		s[i] = (struct sortrec){ recs[i], i };
	qsort(s, n, sizeof(*s), sortrec_cmp);
	fo->v = wfs_malloc(n * sizeof(*fo->v));
	if (!fo->v) {
		wfs_free(s);
		return -ENOMEM;
	}
	fo->cap = (uint32_t)n;
	for (size_t i = 0; i < n; i++) {
		const struct wfs_disk_rec *r = &s[i].rec;

		if (i + 1 < n && key_order(&r->key, &s[i + 1].rec.key) == 0)
			continue;	/* a later record of this key follows */
		if (r->type != WFS_DISK_REC_ADD)
			continue;
		fo->v[live++] = (struct entry){ r->key.stripe_id,
						r->key.version, r->data_len,
						(uint8_t)r->key.index,
						ENTRY_PRESENT };
	}
	fo->n = (uint32_t)live;
	wfs_free(s);
	return 0;
}

struct keylist {
	struct wfs_chunk_key *v;
	size_t n, cap;
};

static int collect_key(const struct wfs_chunk_key *key, void *arg)
{
	struct keylist *kl = arg;

	if (kl->n == kl->cap) {
		size_t cap = kl->cap ? kl->cap * 2 : 64;
		struct wfs_chunk_key *v = wfs_realloc(kl->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		kl->v = v;
		kl->cap = cap;
	}
	kl->v[kl->n++] = *key;
	return 0;
}

static int key_cmp(const void *a, const void *b)
{
	return key_order(a, b);
}

/* The data length of a chunk file the index did not know, from its header.
 * A damaged header still counts as a chunk (its name says which): reads
 * will report it and repair will replace it.  Returns 0, 1 if the file
 * vanished, or a negative errno. */
static int found_len(struct disk *d, const struct wfs_chunk_key *k,
		     uint32_t *len)
{
	struct wfs_chunk_header hdr;
	char name[WFS_DISK_CHUNK_NAME_LEN + 1];
	int rc = wfs_disk_chunk_stat(d->root, k, &hdr);

	*len = 0;
	if (rc == 0)
		*len = hdr.data_len;
	if (rc == 0)
		return 0;
	if (rc == -ENOENT)
		return 1;
	if (rc != -EBADMSG && rc != -EPROTONOSUPPORT)
		return rc;
	wfs_disk_chunk_name(k, name);
	wfs_log_warn("store", "disk %s: chunk %s: %s, kept for repair",
		     disk_name(d), name, strerror(-rc));
	return 0;
}

/* Merge the chunk files found in folder @f (@kl, sorted) with the entries
 * loaded from its index: files the index lacks are added, entries without
 * a file dropped.  *changed says whether anything was. */
static int merge_found(struct disk *d, unsigned f, const struct keylist *kl,
		       struct load_stats *ls, int *changed)
{
	struct folder *fo = &d->folders[f];
	size_t i = 0, j = 0, n = 0, cap = fo->n + kl->n ? fo->n + kl->n : 1;
	struct entry *v;
	int rc = 0;

	if (fo->n == 0 && kl->n == 0)
		return 0;
	v = wfs_malloc(cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	while (rc == 0 && (i < fo->n || j < kl->n)) {
		int c = i == fo->n ? 1
			: j == kl->n ? -1
				     : entry_cmp(&fo->v[i], &kl->v[j]);
		uint32_t len;

		if (c == 0) {
			v[n++] = fo->v[i++];
			j++;
		} else if (c < 0) {
			i++;		/* indexed, but the file is gone */
			ls->dropped++;
			*changed = 1;
		} else {
			rc = found_len(d, &kl->v[j], &len);
			if (rc == 0) {
				v[n++] = (struct entry){
					kl->v[j].stripe_id, kl->v[j].version,
					len, (uint8_t)kl->v[j].index,
					ENTRY_PRESENT };
				ls->added++;
				*changed = 1;
			}
			rc = rc > 0 ? 0 : rc;
			j++;
		}
	}
	if (rc != 0) {
		wfs_free(v);
		return rc;
	}
	wfs_free(fo->v);
	fo->v = v;
	fo->cap = (uint32_t)cap;
	fo->n = (uint32_t)n;
	return 0;
}

/* Scan folder @f's directory and reconcile its entries with it. */
static int reconcile(struct disk *d, unsigned f, struct load_stats *ls,
		     int *changed)
{
	struct keylist kl = { 0 };
	int rc = wfs_disk_folder_scan(d->root, f, collect_key, &kl);

	if (rc == 0) {
		if (kl.n)
			qsort(kl.v, kl.n, sizeof(kl.v[0]), key_cmp);
		rc = merge_found(d, f, &kl, ls, changed);
	}
	wfs_free(kl.v);
	return rc;
}

/* Load folder @f of @d: from its index, reconciled with the directory
 * unless the last shutdown was clean and the index is sound. */
static int folder_load(struct wfs_store *st, struct disk *d, unsigned f,
		       struct load_stats *ls)
{
	struct folder *fo = &d->folders[f];
	struct wfs_disk_rec *recs = NULL;
	size_t nrec = 0;
	int rc, changed = 0, sound, missing;

	rc = wfs_disk_index_read(d->root, f, &recs, &nrec);
	if (rc != 0 && rc != -ENOENT && rc != -EBADMSG)
		return rc;
	sound = rc == 0;
	missing = rc == -ENOENT;
	if (rc == -EBADMSG) {
		ls->rebuilt++;
		wfs_log_warn("store", "disk %s: chunks/%03u/index damaged, "
			     "rebuilding it from the folder", disk_name(d), f);
	}
	if (sound) {
		rc = entries_from_records(fo, recs, nrec);
		wfs_free(recs);
		if (rc != 0)
			return rc;
	}
	if (!sound || !d->ident.clean) {
		rc = reconcile(d, f, ls, &changed);
		if (rc != 0)
			return rc;
	}
	fo->records = sound ? (uint32_t)nrec : 0;
	for (uint32_t i = 0; i < fo->n; i++)
		atomic_fetch_add(&d->bytes, file_bytes(fo->v[i].data_len));
	atomic_fetch_add(&d->chunks, fo->n);
	/* A folder that never held a chunk needs no index: a missing one
	 * costs the same to scan as an index to read. */
	if (missing && fo->n == 0)
		return 0;
	if (!sound || changed || fo->records > 2 * fo->n + COMPACT_SLACK)
		rc = index_rewrite(st, d, f);
	return rc;
}

/* Log why disk @d could not be attached, and keep it offline. */
static void refuse(struct disk *d, int rc, const char *node_id)
{
	atomic_store(&d->error, rc);
	switch (-rc) {
	case EEXIST:
		wfs_log_error("store", "disk %s (%s) refused: it belongs to "
			      "node %s, this node is %s", disk_name(d),
			      d->root, d->ident.node_id, node_id);
		break;
	case EPROTONOSUPPORT:
		wfs_log_error("store", "disk (%s) refused: its format version "
			      "%u is newer than this program's %u", d->root,
			      d->ident.version, WFS_DISK_FORMAT_VERSION);
		break;
	case EBADMSG:
		wfs_log_error("store", "disk (%s) refused: its marker "
			      "%s/wormfs-disk is damaged", d->root, d->root);
		break;
	case ENOTEMPTY:
		wfs_log_error("store", "disk (%s) refused: it has no marker "
			      "and is not empty; format only empty "
			      "directories", d->root);
		break;
	case EBUSY:
		wfs_log_error("store", "disk (%s) refused: another process "
			      "or path already uses it", d->root);
		break;
	default:
		wfs_log_warn("store", "disk %s (%s) offline: attach: %s",
			     disk_name(d), d->root, strerror(-rc));
	}
}

/* Another path to a disk already open (a copied or bind-mounted disk). */
static int duplicate_of(struct wfs_store *st, unsigned i)
{
	for (unsigned j = 0; j < i; j++)
		if (st->disks[j].folders &&
		    strcmp(st->disks[j].ident.disk_id,
			   st->disks[i].ident.disk_id) == 0)
			return (int)j;
	return -1;
}

/* Attach and load disk @i.  A disk that cannot be used stays offline;
 * only -ENOMEM is returned (the open fails as a whole). */
static int disk_open(struct wfs_store *st, unsigned i)
{
	struct disk *d = &st->disks[i];
	struct load_stats ls = { 0 };
	int fd, rc, dup, incomplete = 0;

	rc = wfs_disk_attach(d->root, st->node_id, &d->ident, &fd);
	if (rc != 0) {
		refuse(d, rc, st->node_id);
		return 0;
	}
	atomic_store(&d->lock_fd, fd);
	dup = duplicate_of(st, i);
	if (dup >= 0) {
		wfs_log_error("store", "disk %s (%s) refused: the same disk "
			      "as %s", disk_name(d), d->root,
			      st->disks[dup].root);
		atomic_store(&d->error, -EEXIST);
		close(atomic_exchange(&d->lock_fd, -1));
		return 0;
	}
	d->folders = wfs_calloc(FOLDERS, sizeof(*d->folders));
	if (!d->folders)
		return -ENOMEM;
	for (unsigned f = 0; f < FOLDERS; f++)
		pthread_mutex_init(&d->folders[f].index_lock, NULL);
	/* Until every folder is loaded, a close must not mark it clean. */
	atomic_store(&d->needs_scan, 1);
	atomic_store(&d->online, 1);
	for (unsigned f = 0; f < FOLDERS && is_online(d); f++) {
		rc = folder_load(st, d, f, &ls);
		if (rc == -ENOMEM)
			return rc;
		if (rc != 0 && disk_failed(d, rc, "load") != -EIO) {
			/* Not a disk failure, but the folder is unknown. */
			incomplete = 1;
			wfs_log_warn("store", "disk %s: chunks/%03u: load "
				     "failed: %s", disk_name(d), f,
				     strerror(-rc));
		}
	}
	if (!is_online(d))
		return 0;
	if (!incomplete)
		atomic_store(&d->needs_scan, 0);
	space_update(d, 1);
	wfs_log_info("store", "disk %s (%s) online: %llu chunks%s; %u "
		     "indexes rebuilt, %u chunks found, %u lost", disk_name(d),
		     d->root, (unsigned long long)atomic_load(&d->chunks),
		     d->ident.clean ? "" : ", scanned after an unclean stop",
		     ls.rebuilt, ls.added, ls.dropped);
	return 0;
}

static void disk_release(struct disk *d)
{
	int fd = atomic_exchange(&d->lock_fd, -1);

	if (fd >= 0) {
		int clean = is_online(d) && !atomic_load(&d->needs_scan);
		int rc = wfs_disk_detach(fd, clean);

		if (rc != 0)
			wfs_log_warn("store", "disk %s (%s): flush at close "
				     "failed, it will be scanned at next "
				     "open: %s", disk_name(d), d->root,
				     strerror(-rc));
	}
	if (d->folders) {
		for (unsigned f = 0; f < FOLDERS; f++) {
			wfs_free(d->folders[f].v);
			pthread_mutex_destroy(&d->folders[f].index_lock);
		}
		wfs_free(d->folders);
	}
	pthread_mutex_destroy(&d->space_lock);
	wfs_free(d->root);
}

void wfs_store_close(struct wfs_store *st)
{
	if (!st)
		return;
	for (unsigned i = 0; i < st->ndisks; i++)
		disk_release(&st->disks[i]);
	for (unsigned f = 0; f < FOLDERS; f++)
		pthread_mutex_destroy(&st->locks[f]);
	wfs_free(st->disks);
	wfs_free(st);
}

int wfs_store_open(const char *node_id, const char *const *paths,
		   unsigned npaths, struct wfs_store **out)
{
	struct wfs_store *st;
	unsigned online = 0;
	int rc = 0;

	if (!node_id || !wfs_disk_node_id_valid(node_id) || npaths == 0 ||
	    npaths > WFS_STORE_DISKS_MAX)
		return -EINVAL;
	st = wfs_calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	snprintf(st->node_id, sizeof(st->node_id), "%s", node_id);
	for (unsigned f = 0; f < FOLDERS; f++)
		pthread_mutex_init(&st->locks[f], NULL);
	st->disks = wfs_calloc(npaths, sizeof(*st->disks));
	if (!st->disks) {
		wfs_store_close(st);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < npaths; i++) {
		struct disk *d = &st->disks[i];

		atomic_init(&d->lock_fd, -1);
		pthread_mutex_init(&d->space_lock, NULL);
		st->ndisks = i + 1;
		d->root = wfs_strdup(paths[i]);
		if (!d->root) {
			rc = -ENOMEM;
			break;
		}
	}
	for (unsigned i = 0; i < st->ndisks && rc == 0; i++) {
		rc = disk_open(st, i);
		online += rc == 0 && is_online(&st->disks[i]);
	}
	if (rc == 0 && online == 0) {
		rc = atomic_load(&st->disks[0].error);
		if (rc == 0)
			rc = -EIO;
	}
	if (rc != 0) {
		wfs_store_close(st);
		return rc;
	}
	*out = st;
	return 0;
}

/* ---- writes ---- */

/* Check what a writer hands us before touching any disk. */
static int check_write(const struct wfs_chunk_header *hdr, const void *data)
{
	if (wfs_chunk_header_check(hdr) != 0)
		return -EINVAL;
	if (hdr->data_len && !data)
		return -EINVAL;
	return wfs_chunk_verify(hdr, data, hdr->data_len);
}

/* Choose a disk for chunk @k in folder @f; locks[f] held.  Returns 0 with
 * *out (and *overwrite set if it replaces the copy held there), -EBUSY,
 * or -ENOSPC. */
static int pick(struct wfs_store *st, unsigned f,
		const struct wfs_chunk_key *k, uint64_t need,
		const uint8_t *excluded, unsigned *out, int *overwrite)
{
	uint64_t best_cap = 0, best_avail = 0, cap, avail;
	unsigned start = atomic_fetch_add(&st->rotor, 1);
	int best = -1;

	for (unsigned i = 0; i < st->ndisks; i++) {
		struct disk *d = &st->disks[i];
		struct entry *e = d->folders ? find(&d->folders[f], k) : NULL;

		if (e && (e->flags & ENTRY_BUSY))
			return -EBUSY;
		if (e && is_online(d)) {
			if (excluded[i] || !space_fits(d, need))
				return -ENOSPC;
			*out = i;
			*overwrite = 1;
			return 0;
		}
	}
	for (unsigned j = 0; j < st->ndisks; j++) {
		unsigned i = (start + j) % st->ndisks;
		struct disk *d = &st->disks[i];

		if (!is_online(d) || excluded[i] ||
		    holds_stripe(&d->folders[f], k))
			continue;
		space_get(d, &cap, &avail);
		if (avail < need + WFS_STORE_RESERVE)
			continue;
		if (best < 0 || (unsigned __int128)avail * best_cap >
					(unsigned __int128)best_avail * cap) {
			best = (int)i;
			best_cap = cap;
			best_avail = avail;
		}
	}
	if (best < 0)
		return -ENOSPC;
	*out = (unsigned)best;
	*overwrite = 0;
	return 0;
}

/* Reserve chunk @k on folder @f of @d (locks[f] held). */
static int reserve(struct disk *d, unsigned f, const struct wfs_chunk_key *k,
		   int overwrite)
{
	struct folder *fo = &d->folders[f];

	if (overwrite) {
		find(fo, k)->flags |= ENTRY_BUSY;
		return 0;
	}
	return insert(fo, k, 0, ENTRY_BUSY);
}

/* Write the file of a reserved chunk and record it.  On failure the
 * reservation is dropped. */
static int put(struct wfs_store *st, struct disk *d,
	       const struct wfs_chunk_header *hdr, const void *data)
{
	struct wfs_chunk_key k = wfs_chunk_header_key(hdr);
	unsigned f = wfs_disk_folder(k.stripe_id);
	int rc;

	rc = wfs_disk_chunk_put(d->root, hdr, data,
				atomic_fetch_add(&st->tmp_seq, 1));
	if (rc != 0) {
		/* A temporary file may be left, or a renamed file not be
		 * durable: have the next open scan this disk. */
		atomic_store(&d->needs_scan, 1);
		unreserve(st, d, f, &k);
		if (rc == -ENOSPC)
			space_charge(d, 0, 1);
		return disk_failed(d, rc, "chunk write");
	}
	space_charge(d, file_bytes(hdr->data_len), 0);
	return settle(st, d, f, &k, WFS_DISK_REC_ADD, hdr->data_len);
}

static void space_update_all(struct wfs_store *st)
{
	for (unsigned i = 0; i < st->ndisks; i++)
		space_update(&st->disks[i], 0);
}

int wfs_store_write(struct wfs_store *st, const struct wfs_chunk_header *hdr,
		    const void *data, unsigned *disk)
{
	struct wfs_chunk_key k = wfs_chunk_header_key(hdr);
	unsigned f = wfs_disk_folder(k.stripe_id), target = 0;
	uint8_t excluded[WFS_STORE_DISKS_MAX] = { 0 };
	int rc, overwrite = 0;

	rc = check_write(hdr, data);
	if (rc != 0)
		return rc;
	space_update_all(st);
	for (;;) {
		pthread_mutex_lock(&st->locks[f]);
		rc = pick(st, f, &k, file_bytes(hdr->data_len), excluded,
			  &target, &overwrite);
		if (rc == 0)
			rc = reserve(&st->disks[target], f, &k, overwrite);
		pthread_mutex_unlock(&st->locks[f]);
		if (rc != 0)
			return rc;
		rc = put(st, &st->disks[target], hdr, data);
		if (rc == 0)
			break;
		/* A disk that failed or filled up: try the next best. */
		if (rc != -EIO && rc != -ENOSPC)
			return rc;
		excluded[target] = 1;
	}
	if (disk)
		*disk = target;
	return 0;
}

int wfs_store_write_to(struct wfs_store *st, unsigned disk,
		       const struct wfs_chunk_header *hdr, const void *data,
		       unsigned flags)
{
	struct wfs_chunk_key k = wfs_chunk_header_key(hdr);
	unsigned f = wfs_disk_folder(k.stripe_id);
	struct disk *d;
	struct entry *e, *mine = NULL;
	int rc = 0;

	if (disk >= st->ndisks)
		return -EINVAL;
	rc = check_write(hdr, data);
	if (rc != 0)
		return rc;
	d = &st->disks[disk];
	space_update(d, 0);
	pthread_mutex_lock(&st->locks[f]);
	for (unsigned i = 0; i < st->ndisks && rc == 0; i++) {
		struct disk *o = &st->disks[i];

		e = o->folders ? find(&o->folders[f], &k) : NULL;
		if (e && (e->flags & ENTRY_BUSY))
			rc = -EBUSY;
		else if (e && i == disk && (flags & WFS_STORE_WRITE_EXCL))
			rc = -EALREADY;
		else if (e && i == disk)
			mine = e;
		else if (e && is_online(o))
			rc = -EEXIST;
	}
	if (rc == 0 && !is_online(d))
		rc = -EIO;
	if (rc == 0 && !mine && holds_stripe(&d->folders[f], &k))
		rc = -EEXIST;
	if (rc == 0 && !space_fits(d, file_bytes(hdr->data_len)))
		rc = -ENOSPC;
	if (rc == 0)
		rc = reserve(d, f, &k, mine != NULL);
	pthread_mutex_unlock(&st->locks[f]);
	return rc ? rc : put(st, d, hdr, data);
}

/* ---- reads and deletes ---- */

/* Find the disk holding chunk @k (locks[f] held): an online copy first.
 * With @claim, mark it BUSY for a delete.  Returns 0 and *disk, -ENOENT,
 * -EIO (only on offline disks) or -EBUSY (claim of a busy chunk). */
static int locate(struct wfs_store *st, unsigned f,
		  const struct wfs_chunk_key *k, int claim, unsigned *disk,
		  struct entry *copy)
{
	int rc = -ENOENT;

	for (unsigned i = 0; i < st->ndisks; i++) {
		struct disk *d = &st->disks[i];
		struct entry *e = d->folders ? find(&d->folders[f], k) : NULL;

		if (!e || !(e->flags & ENTRY_PRESENT))
			continue;
		if (!is_online(d)) {
			rc = -EIO;
			continue;
		}
		if (claim && (e->flags & ENTRY_BUSY))
			return -EBUSY;
		if (claim)
			e->flags |= ENTRY_BUSY;
		if (copy)
			*copy = *e;
		*disk = i;
		return 0;
	}
	return rc;
}

static int locate_locked(struct wfs_store *st, const struct wfs_chunk_key *k,
			 int claim, unsigned *disk, struct entry *copy)
{
	unsigned f = wfs_disk_folder(k->stripe_id);
	int rc;

	pthread_mutex_lock(&st->locks[f]);
	rc = locate(st, f, k, claim, disk, copy);
	pthread_mutex_unlock(&st->locks[f]);
	return rc;
}

/* Chunk @k's file was not found on @d: either the disk went away (offline,
 * -EIO) or the file did (dropped from the map, -ENOENT). */
static int vanished(struct wfs_store *st, struct disk *d,
		    const struct wfs_chunk_key *k)
{
	unsigned f = wfs_disk_folder(k->stripe_id);
	char name[WFS_DISK_CHUNK_NAME_LEN + 1];
	struct entry *e;
	int rc = disk_failed(d, -ENOENT, "chunk read");
	int claimed = 0;

	if (rc != -ENOENT)
		return rc;
	pthread_mutex_lock(&st->locks[f]);
	e = find(&d->folders[f], k);
	if (e && e->flags == ENTRY_PRESENT) {
		e->flags |= ENTRY_BUSY;
		claimed = 1;
	}
	pthread_mutex_unlock(&st->locks[f]);
	if (claimed) {
		wfs_disk_chunk_name(k, name);
		wfs_log_warn("store", "disk %s: chunk %s: file missing, "
			     "dropped", disk_name(d), name);
		settle(st, d, f, k, WFS_DISK_REC_DEL, 0);
	}
	return -ENOENT;
}

/* Map the result of reading chunk @k on @d. */
static int read_result(struct wfs_store *st, struct disk *d,
		       const struct wfs_chunk_key *k, int rc)
{
	if (rc == 0 || rc == -EBADMSG || rc == -EPROTONOSUPPORT ||
	    rc == -EOVERFLOW || rc == -ENOMEM)
		return rc;
	if (rc == -ENOENT)
		return vanished(st, d, k);
	return disk_failed(d, rc, "chunk read");
}

int wfs_store_read(struct wfs_store *st, const struct wfs_chunk_key *key,
		   struct wfs_chunk_header *hdr, void *buf, size_t buflen)
{
	unsigned disk;
	int rc = locate_locked(st, key, 0, &disk, NULL);

	if (rc != 0)
		return rc;
	rc = wfs_disk_chunk_read(st->disks[disk].root, key, hdr, buf, buflen);
	return read_result(st, &st->disks[disk], key, rc);
}

int wfs_store_prefetch(struct wfs_store *st, const struct wfs_chunk_key *key)
{
	unsigned disk;
	int rc = locate_locked(st, key, 0, &disk, NULL);

	return rc ? rc : wfs_disk_chunk_prefetch(st->disks[disk].root, key);
}

int wfs_store_verify(struct wfs_store *st, const struct wfs_chunk_key *key)
{
	struct wfs_chunk_header hdr;
	unsigned disk;
	void *scratch;
	int rc = locate_locked(st, key, 0, &disk, NULL);

	if (rc != 0)
		return rc;
	scratch = wfs_malloc(VERIFY_SCRATCH);
	if (!scratch)
		return -ENOMEM;
	rc = wfs_disk_chunk_verify(st->disks[disk].root, key, &hdr, scratch,
				   VERIFY_SCRATCH);
	wfs_free(scratch);
	return read_result(st, &st->disks[disk], key, rc);
}

int wfs_store_stat(struct wfs_store *st, const struct wfs_chunk_key *key,
		   struct wfs_store_chunk *out)
{
	struct entry e;
	unsigned disk;
	int rc = locate_locked(st, key, 0, &disk, &e);

	if (rc != 0)
		return rc;
	out->key = *key;
	out->data_len = e.data_len;
	out->disk = disk;
	return 0;
}

/* Delete chunk @key from @disk, which the caller claimed (BUSY). */
static int delete_claimed(struct wfs_store *st, unsigned disk,
			  const struct wfs_chunk_key *key)
{
	unsigned f = wfs_disk_folder(key->stripe_id);
	struct disk *d = &st->disks[disk];
	int rc;

	rc = wfs_disk_chunk_unlink(d->root, key);
	if (rc == -ENOENT)
		rc = disk_failed(d, rc, "chunk delete") == -EIO ? -EIO : 0;
	else if (rc != 0)
		rc = disk_failed(d, rc, "chunk delete");
	if (rc != 0) {
		unreserve(st, d, f, key);
		return rc;
	}
	return settle(st, d, f, key, WFS_DISK_REC_DEL, 0);
}

int wfs_store_delete(struct wfs_store *st, const struct wfs_chunk_key *key)
{
	unsigned disk;
	int rc = locate_locked(st, key, 1, &disk, NULL);

	return rc ? rc : delete_claimed(st, disk, key);
}

/* Claim chunk @key on @disk alone for a delete (locks[f] taken here). */
static int claim_on(struct wfs_store *st, unsigned disk,
		    const struct wfs_chunk_key *key)
{
	unsigned f = wfs_disk_folder(key->stripe_id);
	struct disk *d = &st->disks[disk];
	struct entry *e;
	int rc = 0;

	pthread_mutex_lock(&st->locks[f]);
	e = d->folders ? find(&d->folders[f], key) : NULL;
	if (!e || !(e->flags & ENTRY_PRESENT))
		rc = -ENOENT;
	else if (!is_online(d))
		rc = -EIO;
	else if (e->flags & ENTRY_BUSY)
		rc = -EBUSY;
	else
		e->flags |= ENTRY_BUSY;
	pthread_mutex_unlock(&st->locks[f]);
	return rc;
}

int wfs_store_delete_on(struct wfs_store *st, unsigned disk,
			const struct wfs_chunk_key *key)
{
	int rc;

	if (disk >= st->ndisks)
		return -EINVAL;
	rc = claim_on(st, disk, key);
	return rc ? rc : delete_claimed(st, disk, key);
}

/* ---- listing and disk info ---- */

int wfs_store_list(struct wfs_store *st, int disk,
		   struct wfs_store_cursor *cur, struct wfs_store_chunk *out,
		   size_t max, size_t *n)
{
	*n = 0;
	if (disk >= (int)st->ndisks || disk < -1)
		return -EINVAL;
	if (disk >= 0 && cur->disk < (unsigned)disk)
		*cur = (struct wfs_store_cursor){ .disk = (uint32_t)disk };
	while (*n < max && cur->disk < st->ndisks &&
	       (disk < 0 || cur->disk == (unsigned)disk)) {
		struct disk *d = &st->disks[cur->disk];
		unsigned f = cur->folder;
		struct folder *fo;
		uint32_t pos;

		if (!d->folders || f >= FOLDERS) {
			*cur = (struct wfs_store_cursor){ .disk = cur->disk + 1 };
			continue;
		}
		fo = &d->folders[f];
		pthread_mutex_lock(&st->locks[f]);
		pos = cur->has_after ? lower_bound(fo, &cur->after) : 0;
		if (cur->has_after && pos < fo->n &&
		    entry_cmp(&fo->v[pos], &cur->after) == 0)
			pos++;
		for (; pos < fo->n && *n < max; pos++) {
			if (!(fo->v[pos].flags & ENTRY_PRESENT))
				continue;
			out[*n].key = entry_key(&fo->v[pos]);
			out[*n].data_len = fo->v[pos].data_len;
			out[*n].disk = cur->disk;
			cur->after = out[*n].key;
			cur->has_after = 1;
			(*n)++;
		}
		if (pos >= fo->n) {
			cur->folder++;
			cur->has_after = 0;
		}
		pthread_mutex_unlock(&st->locks[f]);
	}
	return 0;
}

unsigned wfs_store_disk_count(const struct wfs_store *st)
{
	return st->ndisks;
}

int wfs_store_disk_info(struct wfs_store *st, unsigned disk,
			struct wfs_store_disk_info *out)
{
	struct disk *d;

	if (disk >= st->ndisks)
		return -EINVAL;
	d = &st->disks[disk];
	memset(out, 0, sizeof(*out));
	out->path = d->root;
	memcpy(out->id, d->ident.disk_id, sizeof(out->id));
	out->online = is_online(d);
	out->error = atomic_load(&d->error);
	space_get(d, &out->capacity, &out->avail);
	out->chunks = atomic_load(&d->chunks);
	out->bytes = atomic_load(&d->bytes);
	return 0;
}

int wfs_store_disk_find(struct wfs_store *st, const char *disk_id,
			unsigned *disk)
{
	for (unsigned i = 0; i < st->ndisks; i++) {
		if (st->disks[i].ident.disk_id[0] &&
		    strcmp(st->disks[i].ident.disk_id, disk_id) == 0) {
			*disk = i;
			return 0;
		}
	}
	return -ENOENT;
}

void wfs_store_refresh(struct wfs_store *st)
{
	for (unsigned i = 0; i < st->ndisks; i++)
		space_update(&st->disks[i], 1);
}

void wfs_store_test_set_space(struct wfs_store *st, unsigned disk,
			      uint64_t capacity, uint64_t avail)
{
	struct disk *d;

	if (disk >= st->ndisks)
		return;
	d = &st->disks[disk];
	pthread_mutex_lock(&d->space_lock);
	d->capacity = capacity;
	d->avail = avail;
	d->space_pinned = 1;
	pthread_mutex_unlock(&d->space_lock);
}
