/* Unit tests for storaged/chunkstore: round trips over several disks, the
 * one-chunk-of-a-stripe-per-disk rule, free-space choice, corruption,
 * refused disks, crash leftovers, a disk removed mid-run, threads, and
 * allocation failures. */
#include "storaged/chunkstore.h"
#include "storaged/chunkstore_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem/mem.h"
#include "tests/unit.h"

#define NODE "node-a"
#define MAXD 8
#define ROOT_LEN 512
#define GIB (1ULL << 30)

struct disks {
	char roots[MAXD][ROOT_LEN];
	const char *paths[MAXD];
	unsigned n;
};

static void __attribute__((format(printf, 2, 3)))
pathf(char *buf, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, PATH_MAX, fmt, ap);
	va_end(ap);
	CU_ASSERT_FATAL(n > 0 && n < PATH_MAX);
}

static void disks_new(struct disks *ds, unsigned n)
{
	ds->n = n;
	for (unsigned i = 0; i < n; i++) {
		CU_ASSERT_EQUAL_FATAL(wfs_test_mkdtemp(ds->roots[i], ROOT_LEN),
				      0);
		ds->paths[i] = ds->roots[i];
	}
}

static struct wfs_store *open_ok(const struct disks *ds)
{
	struct wfs_store *st = NULL;

	CU_ASSERT_EQUAL_FATAL(wfs_store_open(NODE, ds->paths, ds->n, &st), 0);
	return st;
}

static uint32_t len_of(uint64_t sid, uint32_t idx)
{
	return 1000 + (uint32_t)(sid % 7) * 301 + idx * 37;
}

/* The data of chunk (sid, ver, idx): a pure function of the key. */
static void fill_data(uint64_t sid, uint64_t ver, uint32_t idx, void *buf,
		      size_t len)
{
	uint64_t rng = (wfs_test_seed() ^ (sid * 1000003 + ver * 101 + idx)) |
		       1;

	wfs_test_fill(&rng, buf, len);
}

static void make_header(struct wfs_chunk_header *h, uint64_t sid,
			uint64_t ver, uint32_t idx, uint32_t k, uint32_t m,
			const void *data, uint32_t len)
{
	memset(h, 0, sizeof(*h));
	h->kind = WFS_CHUNK_EC;
	h->stripe_id = sid;
	h->stripe_version = ver;
	h->file_id = 1000 + sid;
	h->stripe_index = sid;
	h->chunk_index = idx;
	h->chunk_id = wfs_chunk_id(sid, idx);
	h->k = k;
	h->m = m;
	h->stripe_offset = sid * 4 * 1048576;
	h->stripe_data_len = (uint64_t)k * len;
	wfs_chunk_header_set_data(h, data, len);
}

/* Write chunk (sid, ver, idx) of a k+m stripe with its standard data. */
static int put_km(struct wfs_store *st, uint64_t sid, uint64_t ver,
		  uint32_t idx, uint32_t k, uint32_t m, unsigned *disk)
{
	static _Thread_local uint8_t buf[8192];
	struct wfs_chunk_header h;
	uint32_t len = len_of(sid, idx);

	fill_data(sid, ver, idx, buf, len);
	make_header(&h, sid, ver, idx, k, m, buf, len);
	return wfs_store_write(st, &h, buf, disk);
}

static int put(struct wfs_store *st, uint64_t sid, uint64_t ver, uint32_t idx,
	       unsigned *disk)
{
	return put_km(st, sid, ver, idx, 4, 2, disk);
}

/* Read chunk (sid, ver, idx) back and compare; returns read's result, or
 * -EILSEQ if it read different bytes. */
static int get(struct wfs_store *st, uint64_t sid, uint64_t ver, uint32_t idx)
{
	static _Thread_local uint8_t buf[8192], want[8192];
	struct wfs_chunk_key key = { sid, ver, idx };
	struct wfs_chunk_header h;
	uint32_t len = len_of(sid, idx);
	int rc = wfs_store_read(st, &key, &h, buf, sizeof(buf));

	if (rc != 0)
		return rc;
	fill_data(sid, ver, idx, want, len);
	if (h.data_len != len || memcmp(buf, want, len) != 0 ||
	    h.stripe_id != sid || h.chunk_index != idx)
		return -EILSEQ;
	return 0;
}

static int stat_disk(struct wfs_store *st, uint64_t sid, uint64_t ver,
		     uint32_t idx)
{
	struct wfs_chunk_key key = { sid, ver, idx };
	struct wfs_store_chunk c;
	int rc = wfs_store_stat(st, &key, &c);

	return rc ? rc : (int)c.disk;
}

static void chunk_path(char *p, const char *root, uint64_t sid, uint64_t ver,
		       uint32_t idx)
{
	struct wfs_chunk_key key = { sid, ver, idx };
	char name[WFS_DISK_CHUNK_NAME_LEN + 1];

	wfs_disk_chunk_name(&key, name);
	pathf(p, "%s/chunks/%03u/%s", root, wfs_disk_folder(sid), name);
}

static void flip_byte(const char *path, off_t off)
{
	int fd = open(path, O_RDWR);
	unsigned char c;

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(pread(fd, &c, 1, off), 1);
	c ^= 0x01;
	CU_ASSERT_EQUAL(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static uint64_t total_chunks(struct wfs_store *st)
{
	struct wfs_store_disk_info info;
	uint64_t n = 0;

	for (unsigned i = 0; i < wfs_store_disk_count(st); i++) {
		wfs_store_disk_info(st, i, &info);
		n += info.chunks;
	}
	return n;
}

/* List every chunk (all disks, or one) in pages of @page. */
static size_t list_all(struct wfs_store *st, int disk, size_t page,
		       struct wfs_store_chunk *out, size_t max)
{
	struct wfs_store_cursor cur = { 0 };
	size_t total = 0, n;

	do {
		CU_ASSERT_EQUAL_FATAL(wfs_store_list(st, disk, &cur,
						     out + total, page, &n),
				      0);
		total += n;
		CU_ASSERT_FATAL(total + page <= max);
	} while (n > 0);
	return total;
}

static void remove_clean_flags(const struct disks *ds)
{
	char p[PATH_MAX];

	for (unsigned d = 0; d < ds->n; d++) {
		pathf(p, "%s/clean-shutdown", ds->roots[d]);
		CU_ASSERT_EQUAL(unlink(p), 0);
	}
}

static int exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static void test_round_trip(void)
{
	static struct wfs_store_chunk listed[400];
	struct disks ds;
	struct wfs_store *st;
	struct wfs_store_disk_info info;
	char ids[6][WFS_DISK_ID_LEN + 1];
	unsigned disk, seen[21] = { 0 };
	size_t n, per_disk = 0;

	disks_new(&ds, 6);
	st = open_ok(&ds);
	CU_ASSERT_EQUAL(wfs_store_disk_count(st), 6);
	for (uint64_t s = 1; s <= 20; s++) {
		unsigned used = 0;

		for (uint32_t i = 0; i < 6; i++) {
			CU_ASSERT_EQUAL_FATAL(put(st, s, 1, i, &disk), 0);
			CU_ASSERT(!(used & 1u << disk));
			used |= 1u << disk;
		}
	}
	for (uint64_t s = 1; s <= 20; s++)
		for (uint32_t i = 0; i < 6; i++)
			CU_ASSERT_EQUAL(get(st, s, 1, i), 0);
	CU_ASSERT_EQUAL(total_chunks(st), 120);
	CU_ASSERT_EQUAL(stat_disk(st, 1, 2, 0), -ENOENT);
	CU_ASSERT_EQUAL(get(st, 21, 1, 0), -ENOENT);

	/* Listing, in small pages, finds each chunk once. */
	n = list_all(st, -1, 7, listed, 400);
	CU_ASSERT_EQUAL(n, 120);
	for (size_t i = 0; i < n; i++) {
		CU_ASSERT_FATAL(listed[i].key.stripe_id >= 1 &&
				listed[i].key.stripe_id <= 20);
		seen[listed[i].key.stripe_id] |= 1u << listed[i].key.index;
		CU_ASSERT_EQUAL(listed[i].data_len,
				len_of(listed[i].key.stripe_id,
				       listed[i].key.index));
		CU_ASSERT_EQUAL((int)listed[i].disk,
				stat_disk(st, listed[i].key.stripe_id, 1,
					  listed[i].key.index));
	}
	for (int s = 1; s <= 20; s++)
		CU_ASSERT_EQUAL(seen[s], 0x3f);
	for (int d = 0; d < 6; d++) {
		wfs_store_disk_info(st, (unsigned)d, &info);
		n = list_all(st, d, 5, listed, 400);
		CU_ASSERT_EQUAL(n, info.chunks);
		for (size_t i = 0; i < n; i++)
			CU_ASSERT_EQUAL(listed[i].disk, (unsigned)d);
		per_disk += n;
		CU_ASSERT(info.online);
		CU_ASSERT_EQUAL(info.error, 0);
		CU_ASSERT(info.capacity > 0);
		CU_ASSERT_STRING_EQUAL(info.path, ds.roots[d]);
		memcpy(ids[d], info.id, sizeof(ids[d]));
	}
	CU_ASSERT_EQUAL(per_disk, 120);
	CU_ASSERT_EQUAL(wfs_store_list(st, 6, &(struct wfs_store_cursor){ 0 },
				       listed, 1, &n), -EINVAL);
	wfs_store_close(st);

	/* Reopened (clean): the same disks, the same chunks. */
	st = open_ok(&ds);
	for (unsigned d = 0; d < 6; d++) {
		CU_ASSERT_EQUAL(wfs_store_disk_find(st, ids[d], &disk), 0);
		CU_ASSERT_EQUAL(disk, d);
	}
	CU_ASSERT_EQUAL(wfs_store_disk_find(st, "nope", &disk), -ENOENT);
	CU_ASSERT_EQUAL(total_chunks(st), 120);
	for (uint64_t s = 1; s <= 20; s++)
		for (uint32_t i = 0; i < 6; i++)
			CU_ASSERT_EQUAL(get(st, s, 1, i), 0);
	wfs_store_close(st);
	wfs_store_close(NULL);
}

static void test_stripe_rule(void)
{
	struct disks ds;
	struct wfs_store *st;
	struct wfs_chunk_header h;
	uint8_t data[100] = { 1, 2, 3 };
	unsigned disk, used = 0, first;

	disks_new(&ds, 6);
	st = open_ok(&ds);
	/* A 5+2 stripe has 7 chunks; six disks hold six of them. */
	for (uint32_t i = 0; i < 6; i++) {
		CU_ASSERT_EQUAL_FATAL(put_km(st, 9, 1, i, 5, 2, &disk), 0);
		CU_ASSERT(!(used & 1u << disk));
		used |= 1u << disk;
	}
	CU_ASSERT_EQUAL(put_km(st, 9, 1, 6, 5, 2, &disk), -ENOSPC);
	/* Another version of the stripe is another stripe. */
	CU_ASSERT_EQUAL(put_km(st, 9, 2, 6, 5, 2, &disk), 0);
	CU_ASSERT_EQUAL(get(st, 9, 2, 6), 0);
	/* Writing a chunk again replaces it where it is. */
	first = (unsigned)stat_disk(st, 9, 1, 0);
	CU_ASSERT_EQUAL(put_km(st, 9, 1, 0, 5, 2, &disk), 0);
	CU_ASSERT_EQUAL(disk, first);
	CU_ASSERT_EQUAL(total_chunks(st), 7);
	CU_ASSERT_EQUAL(get(st, 9, 1, 0), 0);

	/* Named disks obey the same rules. */
	make_header(&h, 9, 1, 6, 5, 2, data, sizeof(data));
	CU_ASSERT_EQUAL(wfs_store_write_to(st, first, &h, data, 0), -EEXIST);
	make_header(&h, 9, 1, 0, 5, 2, data, sizeof(data));
	CU_ASSERT_EQUAL(wfs_store_write_to(st, (first + 1) % 6, &h, data, 0),
			-EEXIST);
	CU_ASSERT_EQUAL(wfs_store_write_to(st, first, &h, data, 0), 0);
	/* ... unless told to refuse a copy the disk holds already */
	CU_ASSERT_EQUAL(wfs_store_write_to(st, first, &h, data,
					   WFS_STORE_WRITE_EXCL), -EALREADY);
	CU_ASSERT_EQUAL(wfs_store_write_to(st, (first + 1) % 6, &h, data,
					   WFS_STORE_WRITE_EXCL), -EEXIST);
	CU_ASSERT_EQUAL(wfs_store_write_to(st, 6, &h, data, 0), -EINVAL);
	make_header(&h, 10, 1, 0, 4, 2, data, sizeof(data));
	CU_ASSERT_EQUAL(wfs_store_write_to(st, 3, &h, data,
					   WFS_STORE_WRITE_EXCL), 0);
	CU_ASSERT_EQUAL(stat_disk(st, 10, 1, 0), 3);
	CU_ASSERT_EQUAL(wfs_store_write_to(st, 3, &h, data,
					   WFS_STORE_WRITE_EXCL), -EALREADY);
	CU_ASSERT_EQUAL(stat_disk(st, 10, 1, 0), 3);

	/* What a writer hands over is checked. */
	make_header(&h, 11, 1, 0, 4, 2, data, sizeof(data));
	data[5] ^= 1;
	CU_ASSERT_EQUAL(wfs_store_write(st, &h, data, &disk), -EBADMSG);
	data[5] ^= 1;
	h.kind = 7;
	CU_ASSERT_EQUAL(wfs_store_write(st, &h, data, &disk), -EINVAL);
	CU_ASSERT_EQUAL(wfs_store_write_to(st, 0, &h, data, 0), -EINVAL);
	/* An empty chunk is fine. */
	make_header(&h, 12, 1, 0, 4, 2, NULL, 0);
	h.stripe_data_len = 0;
	CU_ASSERT_EQUAL(wfs_store_write(st, &h, NULL, NULL), 0);
	wfs_store_close(st);
}

static void test_free_space_choice(void)
{
	struct disks ds;
	struct wfs_store *st;
	unsigned disk, used = 0;

	disks_new(&ds, 4);
	st = open_ok(&ds);
	wfs_store_test_set_space(st, 0, 100 * GIB, 50 * GIB);	/* 50% */
	wfs_store_test_set_space(st, 1, 1000 * GIB, 600 * GIB);	/* 60% */
	wfs_store_test_set_space(st, 2, 10 * GIB, 9 * GIB);	/* 90% */
	wfs_store_test_set_space(st, 3, 1000 * GIB, 100 * GIB);	/* 10% */
	CU_ASSERT_EQUAL(put(st, 1, 1, 0, &disk), 0);
	CU_ASSERT_EQUAL(disk, 2);
	/* The same stripe goes to the next best disk. */
	CU_ASSERT_EQUAL(put(st, 1, 1, 1, &disk), 0);
	CU_ASSERT_EQUAL(disk, 1);
	CU_ASSERT_EQUAL(put(st, 1, 1, 2, &disk), 0);
	CU_ASSERT_EQUAL(disk, 0);
	/* A disk below the reserve is full. */
	wfs_store_test_set_space(st, 2, 10 * GIB, WFS_STORE_RESERVE);
	CU_ASSERT_EQUAL(put(st, 2, 1, 0, &disk), 0);
	CU_ASSERT_EQUAL(disk, 1);
	for (unsigned d = 0; d < 4; d++)
		wfs_store_test_set_space(st, d, 10 * GIB, 1 << 20);
	CU_ASSERT_EQUAL(put(st, 3, 1, 0, &disk), -ENOSPC);
	/* Equal disks take turns: each write lowers its disk's free space. */
	for (unsigned d = 0; d < 4; d++)
		wfs_store_test_set_space(st, d, 1000 * GIB, 500 * GIB);
	for (uint64_t s = 100; s < 104; s++) {
		CU_ASSERT_EQUAL(put(st, s, 1, 0, &disk), 0);
		used |= 1u << disk;
	}
	CU_ASSERT_EQUAL(used, 0xf);
	wfs_store_close(st);
}

static void test_corruption(void)
{
	struct disks ds;
	struct wfs_store *st;
	struct wfs_chunk_key key = { 5, 1, 2 }, key3 = { 5, 1, 3 };
	char p[PATH_MAX];
	unsigned disk, disk3, again;

	disks_new(&ds, 6);
	st = open_ok(&ds);
	for (uint32_t i = 0; i < 6; i++)
		CU_ASSERT_EQUAL(put(st, 5, 1, i, NULL), 0);
	disk = (unsigned)stat_disk(st, 5, 1, 2);
	disk3 = (unsigned)stat_disk(st, 5, 1, 3);
	CU_ASSERT_EQUAL(wfs_store_verify(st, &key), 0);

	/* One data byte, one header byte. */
	chunk_path(p, ds.roots[disk], 5, 1, 2);
	flip_byte(p, WFS_CHUNK_HEADER_SIZE + 500);
	CU_ASSERT_EQUAL(get(st, 5, 1, 2), -EBADMSG);
	CU_ASSERT_EQUAL(wfs_store_verify(st, &key), -EBADMSG);
	chunk_path(p, ds.roots[disk3], 5, 1, 3);
	flip_byte(p, 30);
	CU_ASSERT_EQUAL(get(st, 5, 1, 3), -EBADMSG);
	CU_ASSERT_EQUAL(wfs_store_verify(st, &key3), -EBADMSG);
	/* The others are fine, and the disks stay online. */
	CU_ASSERT_EQUAL(get(st, 5, 1, 0), 0);
	CU_ASSERT_EQUAL(total_chunks(st), 6);
	/* Repair writes it again, in place. */
	CU_ASSERT_EQUAL(put(st, 5, 1, 2, &again), 0);
	CU_ASSERT_EQUAL(again, disk);
	CU_ASSERT_EQUAL(get(st, 5, 1, 2), 0);
	CU_ASSERT_EQUAL(wfs_store_verify(st, &key), 0);
	wfs_store_close(st);

	/* A chunk whose header is damaged is still known after a reopen that
	 * scans every folder (so repair can find it), and reads as damaged. */
	remove_clean_flags(&ds);
	st = open_ok(&ds);
	CU_ASSERT_EQUAL(stat_disk(st, 5, 1, 3), (int)disk3);
	CU_ASSERT_EQUAL(get(st, 5, 1, 3), -EBADMSG);
	CU_ASSERT_EQUAL(total_chunks(st), 6);
	wfs_store_close(st);
}

static void test_delete(void)
{
	struct disks ds;
	struct wfs_store *st;
	struct wfs_chunk_key key = { 8, 1, 4 };
	struct wfs_store_chunk listed[16];

	disks_new(&ds, 6);
	st = open_ok(&ds);
	for (uint32_t i = 0; i < 6; i++)
		CU_ASSERT_EQUAL(put(st, 8, 1, i, NULL), 0);
	CU_ASSERT_EQUAL(wfs_store_delete(st, &key), 0);
	CU_ASSERT_EQUAL(get(st, 8, 1, 4), -ENOENT);
	CU_ASSERT_EQUAL(stat_disk(st, 8, 1, 4), -ENOENT);
	CU_ASSERT_EQUAL(wfs_store_verify(st, &key), -ENOENT);
	CU_ASSERT_EQUAL(wfs_store_delete(st, &key), -ENOENT);
	CU_ASSERT_EQUAL(total_chunks(st), 5);
	CU_ASSERT_EQUAL(list_all(st, -1, 16, listed, 32), 5);
	/* Its disk may take another chunk of the stripe now. */
	CU_ASSERT_EQUAL(put(st, 8, 1, 4, NULL), 0);
	CU_ASSERT_EQUAL(wfs_store_delete(st, &key), 0);
	wfs_store_close(st);
	st = open_ok(&ds);
	CU_ASSERT_EQUAL(stat_disk(st, 8, 1, 4), -ENOENT);
	CU_ASSERT_EQUAL(get(st, 8, 1, 5), 0);
	CU_ASSERT_EQUAL(total_chunks(st), 5);
	wfs_store_close(st);
}

/* A copy on an offline disk and another on an online one (the chunk was
 * written again while its disk was away): deleting on a named disk
 * deletes that copy or nothing, never the other one. */
static void test_delete_on(void)
{
	struct wfs_chunk_key key = { 70, 1, 0 };
	struct disks ds;
	struct wfs_store *st;
	unsigned first, second;

	disks_new(&ds, 3);
	st = open_ok(&ds);
	CU_ASSERT_EQUAL_FATAL(put(st, 70, 1, 0, &first), 0);
	CU_ASSERT_EQUAL(wfs_store_delete_on(st, 3, &key), -EINVAL);
	CU_ASSERT_EQUAL(wfs_store_delete_on(st, (first + 1) % 3, &key),
			-ENOENT);
	/* its disk goes away; the chunk is written again elsewhere */
	CU_ASSERT_EQUAL(wfs_test_rmtree(ds.roots[first]), 0);
	CU_ASSERT_EQUAL(get(st, 70, 1, 0), -EIO);
	CU_ASSERT_EQUAL_FATAL(put(st, 70, 1, 0, &second), 0);
	CU_ASSERT_NOT_EQUAL(second, first);
	/* the offline copy cannot be deleted now; the other one stays */
	CU_ASSERT_EQUAL(wfs_store_delete_on(st, first, &key), -EIO);
	CU_ASSERT_EQUAL(get(st, 70, 1, 0), 0);
	CU_ASSERT_EQUAL(stat_disk(st, 70, 1, 0), (int)second);
	/* the online copy, named: deleted; the offline one is left */
	CU_ASSERT_EQUAL(wfs_store_delete_on(st, second, &key), 0);
	CU_ASSERT_EQUAL(wfs_store_delete_on(st, second, &key), -ENOENT);
	CU_ASSERT_EQUAL(get(st, 70, 1, 0), -EIO);
	wfs_store_close(st);
}

static void test_refused_disks(void)
{
	struct disks ds, fresh;
	struct wfs_store *st = NULL;
	struct wfs_store_disk_info info;
	const char *two[2];
	char p[PATH_MAX];

	disks_new(&ds, 1);
	st = open_ok(&ds);
	wfs_store_close(st);
	/* Another node's disk. */
	CU_ASSERT_EQUAL(wfs_store_open("node-b", ds.paths, 1, &st), -EEXIST);
	/* ... among good ones: kept offline, the rest carry on. */
	disks_new(&fresh, 1);
	two[0] = ds.paths[0];
	two[1] = fresh.paths[0];
	CU_ASSERT_EQUAL_FATAL(wfs_store_open("node-b", two, 2, &st), 0);
	wfs_store_disk_info(st, 0, &info);
	CU_ASSERT_EQUAL(info.online, 0);
	CU_ASSERT_EQUAL(info.error, -EEXIST);
	wfs_store_disk_info(st, 1, &info);
	CU_ASSERT_EQUAL(info.online, 1);
	CU_ASSERT_EQUAL(put(st, 1, 1, 0, NULL), 0);
	wfs_store_close(st);
	/* The same disk twice. */
	two[1] = ds.paths[0];
	CU_ASSERT_EQUAL_FATAL(wfs_store_open(NODE, two, 2, &st), 0);
	wfs_store_disk_info(st, 1, &info);
	CU_ASSERT_EQUAL(info.online, 0);
	CU_ASSERT_EQUAL(info.error, -EBUSY);
	wfs_store_close(st);
	/* A newer format. */
	pathf(p, "%s/wormfs-disk", ds.roots[0]);
	write_file(p, "wormfs-disk 3\nwho knows\n");
	CU_ASSERT_EQUAL(wfs_store_open(NODE, ds.paths, 1, &st),
			-EPROTONOSUPPORT);
	/* A damaged marker. */
	write_file(p, "wormfs-disk 1\ndisk-id 00\n");
	CU_ASSERT_EQUAL(wfs_store_open(NODE, ds.paths, 1, &st), -EBADMSG);
	/* A missing directory, a directory with someone else's files. */
	pathf(p, "%s/gone", fresh.roots[0]);
	two[0] = p;
	CU_ASSERT_EQUAL(wfs_store_open(NODE, two, 1, &st), -ENOENT);
	two[0] = ds.roots[0];
	pathf(p, "%s/wormfs-disk", ds.roots[0]);
	CU_ASSERT_EQUAL(unlink(p), 0);
	CU_ASSERT_EQUAL(wfs_store_open(NODE, two, 1, &st), -ENOTEMPTY);
	/* Bad arguments. */
	CU_ASSERT_EQUAL(wfs_store_open("a b", ds.paths, 1, &st), -EINVAL);
	CU_ASSERT_EQUAL(wfs_store_open(NODE, ds.paths, 0, &st), -EINVAL);
}

static void test_crash_leftovers(void)
{
	struct disks ds;
	struct wfs_store *st;
	struct wfs_chunk_header h;
	struct wfs_store_chunk listed[32];
	uint8_t data[4096];
	char tmp[PATH_MAX], p[PATH_MAX];
	unsigned dc, db;

	disks_new(&ds, 2);
	st = open_ok(&ds);
	for (uint64_t s = 1; s <= 3; s++)
		for (uint32_t i = 0; i < 2; i++)
			CU_ASSERT_EQUAL(put(st, s, 1, i, NULL), 0);
	dc = (unsigned)stat_disk(st, 3, 1, 1);
	db = (unsigned)stat_disk(st, 2, 1, 0);
	wfs_store_close(st);

	/* A crash: no clean flag; a temporary file left in a folder; a chunk
	 * renamed into place but never indexed; a chunk unlinked but still
	 * indexed. */
	remove_clean_flags(&ds);
	pathf(tmp, "%s/chunks/%03u/.tmp-00000000000000aa", ds.roots[0],
	      wfs_disk_folder(1));
	write_file(tmp, "half a chunk");
	fill_data(4, 1, 0, data, len_of(4, 0));
	make_header(&h, 4, 1, 0, 4, 2, data, len_of(4, 0));
	CU_ASSERT_EQUAL(wfs_disk_chunk_put(ds.roots[0], &h, data, 99), 0);
	chunk_path(p, ds.roots[dc], 3, 1, 1);
	CU_ASSERT_EQUAL(unlink(p), 0);

	st = open_ok(&ds);
	CU_ASSERT(!exists(tmp));
	CU_ASSERT_EQUAL(stat_disk(st, 4, 1, 0), 0);
	CU_ASSERT_EQUAL(get(st, 4, 1, 0), 0);
	CU_ASSERT_EQUAL(stat_disk(st, 3, 1, 1), -ENOENT);
	CU_ASSERT_EQUAL(get(st, 3, 1, 1), -ENOENT);
	CU_ASSERT_EQUAL(total_chunks(st), 6);
	CU_ASSERT_EQUAL(list_all(st, -1, 4, listed, 32), 6);
	wfs_store_close(st);

	/* The repaired indexes are trusted after a clean close. */
	st = open_ok(&ds);
	CU_ASSERT_EQUAL(total_chunks(st), 6);
	CU_ASSERT_EQUAL(get(st, 4, 1, 0), 0);
	wfs_store_close(st);

	/* A file removed behind the store's back after a clean close: the
	 * index still names it until a read finds it missing. */
	chunk_path(p, ds.roots[db], 2, 1, 0);
	CU_ASSERT_EQUAL(unlink(p), 0);
	st = open_ok(&ds);
	CU_ASSERT_EQUAL(stat_disk(st, 2, 1, 0), (int)db);
	CU_ASSERT_EQUAL(get(st, 2, 1, 0), -ENOENT);
	CU_ASSERT_EQUAL(stat_disk(st, 2, 1, 0), -ENOENT);
	CU_ASSERT_EQUAL(total_chunks(st), 5);
	wfs_store_close(st);

	/* A damaged index (with the clean flag) is rebuilt from its folder:
	 * chunk 4/1/0 was written to disk 0. */
	pathf(p, "%s/chunks/%03u/index", ds.roots[0], wfs_disk_folder(4));
	flip_byte(p, 40);
	st = open_ok(&ds);
	CU_ASSERT_EQUAL(stat_disk(st, 4, 1, 0), 0);
	CU_ASSERT_EQUAL(get(st, 4, 1, 0), 0);
	CU_ASSERT_EQUAL(total_chunks(st), 5);
	wfs_store_close(st);
}

static void test_disk_removed(void)
{
	struct disks ds;
	struct wfs_store *st;
	struct wfs_store_disk_info info;
	struct wfs_store_chunk listed[64];
	uint64_t on2 = 0, on3 = 0;
	unsigned disk, ok = 0;
	int rc;

	disks_new(&ds, 6);
	st = open_ok(&ds);
	for (uint64_t s = 1; s <= 4; s++)
		for (uint32_t i = 0; i < 6; i++)
			CU_ASSERT_EQUAL(put(st, s, 1, i, NULL), 0);
	for (uint64_t s = 1; s <= 4; s++)
		for (uint32_t i = 0; i < 6; i++) {
			if (stat_disk(st, s, 1, i) == 2)
				on2 = s << 8 | i;
			if (stat_disk(st, s, 1, i) == 3)
				on3 = s << 8 | i;
		}
	CU_ASSERT_FATAL(on2 && on3);

	/* Disk 2 vanishes while it is the emptiest: the write that picks
	 * it finds it gone, takes it offline and lands on the next best
	 * (disk 5; disk 3 is made the fullest, as it goes next). */
	for (unsigned d = 0; d < 6; d++)
		wfs_store_test_set_space(st, d, 1000 * GIB, (100 + d) * GIB);
	wfs_store_test_set_space(st, 2, 1000 * GIB, 999 * GIB);
	wfs_store_test_set_space(st, 3, 1000 * GIB, 50 * GIB);
	CU_ASSERT_EQUAL(wfs_test_rmtree(ds.roots[2]), 0);
	CU_ASSERT_EQUAL(put(st, 50, 1, 0, &disk), 0);
	CU_ASSERT_EQUAL(disk, 5);
	wfs_store_disk_info(st, 2, &info);
	CU_ASSERT_EQUAL(info.online, 0);
	CU_ASSERT_EQUAL(info.error, -ENOENT);
	CU_ASSERT_EQUAL(info.chunks, 4);
	/* Its chunks read as -EIO; the rest as before. */
	CU_ASSERT_EQUAL(get(st, on2 >> 8, 1, on2 & 0xff), -EIO);
	CU_ASSERT_EQUAL(stat_disk(st, on2 >> 8, 1, on2 & 0xff), -EIO);
	CU_ASSERT_EQUAL(get(st, on3 >> 8, 1, on3 & 0xff), 0);

	/* Disk 3 is replaced by a regular file: the first read notices. */
	CU_ASSERT_EQUAL(wfs_test_rmtree(ds.roots[3]), 0);
	write_file(ds.roots[3], "not a directory");
	CU_ASSERT_EQUAL(get(st, on3 >> 8, 1, on3 & 0xff), -EIO);
	wfs_store_disk_info(st, 3, &info);
	CU_ASSERT_EQUAL(info.online, 0);
	CU_ASSERT_EQUAL(info.error, -ENOTDIR);

	/* Four disks left: a new 4+2 stripe gets four chunks. */
	for (uint32_t i = 0; i < 6; i++) {
		rc = put(st, 60, 1, i, &disk);
		CU_ASSERT(rc == 0 || rc == -ENOSPC);
		ok += rc == 0;
		CU_ASSERT(rc != 0 || (disk != 2 && disk != 3));
	}
	CU_ASSERT_EQUAL(ok, 4);
	/* Offline disks still list what they held; deletes there fail. */
	CU_ASSERT_EQUAL(list_all(st, 2, 8, listed, 64), 4);
	CU_ASSERT_EQUAL(wfs_store_delete(st, &(struct wfs_chunk_key){
					    on2 >> 8, 1, on2 & 0xff }), -EIO);
	for (uint64_t s = 1; s <= 4; s++)
		for (uint32_t i = 0; i < 6; i++) {
			rc = get(st, s, 1, i);
			CU_ASSERT(rc == 0 || rc == -EIO);
		}
	wfs_store_close(st);

	/* Reopened without them: they stay offline, the store opens. */
	st = open_ok(&ds);
	wfs_store_disk_info(st, 2, &info);
	CU_ASSERT_EQUAL(info.online, 0);
	CU_ASSERT_EQUAL(info.error, -ENOENT);
	wfs_store_disk_info(st, 3, &info);
	CU_ASSERT_EQUAL(info.error, -ENOTDIR);
	CU_ASSERT_EQUAL(get(st, 50, 1, 0), 0);
	CU_ASSERT_EQUAL(get(st, on2 >> 8, 1, on2 & 0xff), -ENOENT);
	wfs_store_close(st);
	unlink(ds.roots[3]);
}

#define THREAD_STRIPES 40

struct worker {
	struct wfs_store *st;
	uint32_t index;		/* chunk index this writer owns; -1: reader */
	atomic_int *failures;
	atomic_int *stop;
};

static void *writer(void *arg)
{
	struct worker *w = arg;

	for (uint64_t s = 1; s <= THREAD_STRIPES; s++) {
		if (put(w->st, s, 1, w->index, NULL) != 0 ||
		    get(w->st, s, 1, w->index) != 0)
			atomic_fetch_add(w->failures, 1);
		/* Every third stripe loses this chunk again. */
		if (s % 3 == 0 &&
		    wfs_store_delete(w->st, &(struct wfs_chunk_key){
					     s, 1, w->index }) != 0)
			atomic_fetch_add(w->failures, 1);
	}
	return NULL;
}

static void *reader(void *arg)
{
	struct worker *w = arg;
	uint64_t rng = wfs_test_seed() | 1;

	while (!atomic_load(w->stop)) {
		uint64_t r = wfs_test_rand(&rng);
		int rc = get(w->st, 1 + r % THREAD_STRIPES, 1,
			     (uint32_t)(r >> 32) % 6);

		if (rc != 0 && rc != -ENOENT)
			atomic_fetch_add(w->failures, 1);
	}
	return NULL;
}

static void test_threads(void)
{
	struct disks ds;
	struct wfs_store *st;
	struct worker w[7];
	pthread_t t[7];
	atomic_int failures = 0, stop = 0;

	disks_new(&ds, 6);
	st = open_ok(&ds);
	for (int i = 0; i < 7; i++) {
		w[i] = (struct worker){ st, (uint32_t)i, &failures, &stop };
		CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL,
						     i < 6 ? writer : reader,
						     &w[i]), 0);
	}
	for (int i = 0; i < 6; i++)
		pthread_join(t[i], NULL);
	atomic_store(&stop, 1);
	pthread_join(t[6], NULL);
	CU_ASSERT_EQUAL(atomic_load(&failures), 0);

	/* The six chunks of each stripe, written at once by six threads,
	 * landed on six different disks. */
	for (uint64_t s = 1; s <= THREAD_STRIPES; s++) {
		unsigned used = 0;

		for (uint32_t i = 0; i < 6 && s % 3 != 0; i++) {
			int d = stat_disk(st, s, 1, i);

			CU_ASSERT_FATAL(d >= 0);
			CU_ASSERT(!(used & 1u << d));
			used |= 1u << d;
		}
	}
	CU_ASSERT_EQUAL(total_chunks(st), 6 * (THREAD_STRIPES -
					       THREAD_STRIPES / 3));
	wfs_store_close(st);
}

static void test_compaction(void)
{
	struct disks ds;
	struct wfs_store *st;
	static struct wfs_store_chunk listed[128];
	char p[PATH_MAX];
	struct stat sb;

	disks_new(&ds, 1);
	st = open_ok(&ds);
	/* All versions of one stripe share one folder, so its index sees
	 * 600 writes and 540 deletes. */
	for (uint64_t v = 1; v <= 600; v++) {
		CU_ASSERT_EQUAL_FATAL(put(st, 77, v, 0, NULL), 0);
		if (v % 10 != 0)
			CU_ASSERT_EQUAL_FATAL(wfs_store_delete(
				st, &(struct wfs_chunk_key){ 77, v, 0 }), 0);
	}
	pathf(p, "%s/chunks/%03u/index", ds.roots[0], wfs_disk_folder(77));
	CU_ASSERT_EQUAL_FATAL(stat(p, &sb), 0);
	CU_ASSERT(sb.st_size <= (1 + 2 * 60 + 64 + 1) * 32);
	CU_ASSERT_EQUAL(total_chunks(st), 60);
	wfs_store_close(st);
	st = open_ok(&ds);
	CU_ASSERT_EQUAL(list_all(st, -1, 16, listed, 128), 60);
	for (uint64_t v = 10; v <= 600; v += 10)
		CU_ASSERT_EQUAL(get(st, 77, v, 0), 0);
	wfs_store_close(st);
	remove_clean_flags(&ds);
	st = open_ok(&ds);
	CU_ASSERT_EQUAL(total_chunks(st), 60);
	wfs_store_close(st);
}

static void test_alloc_failures(void)
{
	struct disks ds;
	struct wfs_store *st = NULL;
	struct wfs_chunk_key key = { 3, 1, 0 };
	long n;
	int rc = -ENOMEM;

	disks_new(&ds, 2);
	st = open_ok(&ds);
	for (uint64_t s = 1; s <= 6; s++)
		for (uint32_t i = 0; i < 2; i++)
			CU_ASSERT_EQUAL(put(st, s, 1, i, NULL), 0);
	wfs_store_close(st);

	/* Open: every allocation in turn fails; each failure is a clean
	 * -ENOMEM, and the store opens in the end with all its chunks. */
	for (n = 0; n < 5000; n++) {
		wfs_mem_fail_after(n);
		rc = wfs_store_open(NODE, ds.paths, ds.n, &st);
		wfs_mem_fail_after(-1);
		if (rc != -ENOMEM)
			break;
	}
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT(n > 3);
	CU_ASSERT_EQUAL(total_chunks(st), 12);
	CU_ASSERT_EQUAL(get(st, 6, 1, 1), 0);

	/* Write: a failed one leaves nothing behind. */
	for (n = 0; n < 100; n++) {
		wfs_mem_fail_after(n);
		rc = put(st, 40, 1, 0, NULL);
		wfs_mem_fail_after(-1);
		if (rc != -ENOMEM)
			break;
		CU_ASSERT_EQUAL(stat_disk(st, 40, 1, 0), -ENOENT);
	}
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(get(st, 40, 1, 0), 0);

	wfs_mem_fail_after(0);
	rc = wfs_store_verify(st, &key);
	wfs_mem_fail_after(-1);
	CU_ASSERT_EQUAL(rc, -ENOMEM);
	CU_ASSERT_EQUAL(wfs_store_verify(st, &key), 0);
	wfs_store_close(st);

	/* After all that the disks are consistent. */
	st = open_ok(&ds);
	CU_ASSERT_EQUAL(total_chunks(st), 13);
	wfs_store_close(st);
}

static CU_TestInfo store_tests[] = {
	{ "round trip on six disks", test_round_trip },
	{ "one chunk of a stripe per disk", test_stripe_rule },
	{ "free space choice", test_free_space_choice },
	{ "corrupt chunk", test_corruption },
	{ "delete", test_delete },
	{ "delete on a named disk", test_delete_on },
	{ "refused disks", test_refused_disks },
	{ "crash leftovers", test_crash_leftovers },
	{ "disk removed mid-run", test_disk_removed },
	{ "threads", test_threads },
	{ "index compaction", test_compaction },
	{ "allocation failures", test_alloc_failures },
	CU_TEST_INFO_NULL,
};
WFS_TEST_SUITE("storaged_store", store_tests, NULL, NULL)
