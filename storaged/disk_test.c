/* Unit tests for storaged/disk: names and folders, the marker (format,
 * refusals), chunk files, folder indexes and scans, health checks. */
#include "storaged/disk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "erasure/crc32c.h"
#include "mem/mem.h"
#include "tests/unit.h"

#define NODE "node-a"

/* Format a path into @buf (PATH_MAX bytes); fails the test if it does not
 * fit. */
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

static void path_of(char *buf, const char *root, const char *rel)
{
	pathf(buf, "%s/%s", root, rel);
}

static int exists(const char *root, const char *rel)
{
	char p[PATH_MAX];
	struct stat st;

	path_of(p, root, rel);
	return stat(p, &st) == 0;
}

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static size_t read_file(const char *path, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	CU_ASSERT_FATAL(fd >= 0);
	n = read(fd, buf, len);
	close(fd);
	CU_ASSERT_FATAL(n >= 0);
	return (size_t)n;
}

/* Flip one byte of the file at @path, at @off. */
static void flip_byte(const char *path, off_t off)
{
	int fd = open(path, O_RDWR);
	unsigned char c;

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(pread(fd, &c, 1, off), 1);
	c ^= 0x40;
	CU_ASSERT_EQUAL(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

/* A formatted, attached disk in a new directory. */
static int attach_new(char *root, struct wfs_disk_ident *id)
{
	int fd = -1;

	CU_ASSERT_EQUAL_FATAL(wfs_test_mkdtemp(root, PATH_MAX), 0);
	CU_ASSERT_EQUAL_FATAL(wfs_disk_attach(root, NODE, id, &fd), 0);
	return fd;
}

static void test_names(void)
{
	struct wfs_chunk_key k = { 0x1a3, 2, 5 }, got;
	char name[WFS_DISK_CHUNK_NAME_LEN + 1];
	static const char *bad[] = {
		"index", ".tmp-0000000000000001", "",
		"00000000000001a3-0000000000000002-5",
		"00000000000001A3-0000000000000002-05",
		"00000000000001a3_0000000000000002-05",
		"00000000000001a3-0000000000000002-05x",
		"0000000000001a3-00000000000000002-05",
	};

	wfs_disk_chunk_name(&k, name);
	CU_ASSERT_STRING_EQUAL(name, "00000000000001a3-0000000000000002-05");
	CU_ASSERT_EQUAL(wfs_disk_chunk_name_parse(name, &got), 0);
	CU_ASSERT(got.stripe_id == k.stripe_id && got.version == k.version &&
		  got.index == k.index);
	k = (struct wfs_chunk_key){ UINT64_MAX, UINT64_MAX, 254 };
	wfs_disk_chunk_name(&k, name);
	CU_ASSERT_EQUAL(wfs_disk_chunk_name_parse(name, &got), 0);
	CU_ASSERT(got.stripe_id == UINT64_MAX && got.index == 254);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_EQUAL(wfs_disk_chunk_name_parse(bad[i], &got),
				-EINVAL);
}

/* The folder function is part of the on-disk format: pinned values
 * (checked against an independent implementation of disk.c's formula). */
static void test_folder(void)
{
	unsigned hist[10] = { 0 };

	CU_ASSERT_EQUAL(wfs_disk_folder(0), 535);
	CU_ASSERT_EQUAL(wfs_disk_folder(1), 535);
	CU_ASSERT_EQUAL(wfs_disk_folder(63), 535);
	CU_ASSERT_EQUAL(wfs_disk_folder(64), 465);
	CU_ASSERT_EQUAL(wfs_disk_folder(12345), 408);
	CU_ASSERT_EQUAL(wfs_disk_folder(UINT64_MAX), 220);
	/* Sequential and strided ids spread over the folders. */
	for (uint64_t s = 0; s < 10000; s++)
		hist[wfs_disk_folder(s * 1000) / 100]++;
	for (int i = 0; i < 10; i++)
		CU_ASSERT(hist[i] > 800 && hist[i] < 1200);
}

static void test_format_and_reattach(void)
{
	char root[PATH_MAX], p[PATH_MAX];
	struct wfs_disk_ident id, again;
	int fd;

	fd = attach_new(root, &id);
	CU_ASSERT_EQUAL(id.formatted, 1);
	CU_ASSERT_EQUAL(id.clean, 0);
	CU_ASSERT_EQUAL(strlen(id.disk_id), WFS_DISK_ID_LEN);
	CU_ASSERT_STRING_EQUAL(id.node_id, NODE);
	CU_ASSERT(exists(root, "wormfs-disk"));
	CU_ASSERT(exists(root, "chunks"));
	CU_ASSERT(!exists(root, "chunks/000"));	/* made when needed */
	/* Locked: a second attach is refused while the first holds it. */
	CU_ASSERT_EQUAL(wfs_disk_attach(root, NODE, &again, &fd), -EBUSY);
	CU_ASSERT_EQUAL(wfs_disk_detach(fd, 1), 0);
	CU_ASSERT(exists(root, "clean-shutdown"));

	CU_ASSERT_EQUAL_FATAL(wfs_disk_attach(root, NODE, &again, &fd), 0);
	CU_ASSERT_EQUAL(again.formatted, 0);
	CU_ASSERT_EQUAL(again.clean, 1);
	CU_ASSERT(!exists(root, "clean-shutdown"));
	CU_ASSERT_STRING_EQUAL(again.disk_id, id.disk_id);
	CU_ASSERT_EQUAL(again.repaired, 0);
	/* A missing chunks/ is put back (and said so). */
	path_of(p, root, "chunks");
	CU_ASSERT_EQUAL(rmdir(p), 0);
	CU_ASSERT_EQUAL(wfs_disk_detach(fd, 0), 0);
	CU_ASSERT_EQUAL_FATAL(wfs_disk_attach(root, NODE, &again, &fd), 0);
	CU_ASSERT_EQUAL(again.clean, 0);
	CU_ASSERT_EQUAL(again.repaired, 1);
	CU_ASSERT(exists(root, "chunks"));
	wfs_disk_detach(fd, 0);
}

static void test_refusals(void)
{
	char root[PATH_MAX], p[PATH_MAX], buf[256];
	struct wfs_disk_ident id;
	size_t len;
	int fd;

	fd = attach_new(root, &id);
	wfs_disk_detach(fd, 1);
	/* Another node's disk. */
	CU_ASSERT_EQUAL(wfs_disk_attach(root, "node-b", &id, &fd), -EEXIST);
	CU_ASSERT_STRING_EQUAL(id.node_id, NODE);
	/* A bad node id. */
	CU_ASSERT_EQUAL(wfs_disk_attach(root, "has space", &id, &fd),
			-EINVAL);
	CU_ASSERT_EQUAL(wfs_disk_attach(root, "", &id, &fd), -EINVAL);
	/* A damaged marker: one byte changed. */
	path_of(p, root, "wormfs-disk");
	len = read_file(p, buf, sizeof(buf));
	flip_byte(p, 40);
	CU_ASSERT_EQUAL(wfs_disk_attach(root, NODE, &id, &fd), -EBADMSG);
	/* Cut short. */
	write_file(p, buf, len - 3);
	CU_ASSERT_EQUAL(wfs_disk_attach(root, NODE, &id, &fd), -EBADMSG);
	/* Garbage. */
	write_file(p, "hello\n", 6);
	CU_ASSERT_EQUAL(wfs_disk_attach(root, NODE, &id, &fd), -EBADMSG);
	/* A newer version, whatever follows. */
	write_file(p, "wormfs-disk 3\nsomething new\n", 28);
	CU_ASSERT_EQUAL(wfs_disk_attach(root, NODE, &id, &fd),
			-EPROTONOSUPPORT);
	CU_ASSERT_EQUAL(id.version, 3);
	/* The original bytes are accepted again. */
	write_file(p, buf, len);
	CU_ASSERT_EQUAL_FATAL(wfs_disk_attach(root, NODE, &id, &fd), 0);
	wfs_disk_detach(fd, 0);

	/* A directory that is not blank is not formatted. */
	CU_ASSERT_EQUAL_FATAL(wfs_test_mkdtemp(root, sizeof(root)), 0);
	path_of(p, root, "somebody's file");
	write_file(p, "x", 1);
	CU_ASSERT_EQUAL(wfs_disk_attach(root, NODE, &id, &fd), -ENOTEMPTY);
	CU_ASSERT(!exists(root, "wormfs-disk"));
	/* Nor is a directory whose chunks/ holds something. */
	CU_ASSERT_EQUAL_FATAL(wfs_test_mkdtemp(root, sizeof(root)), 0);
	path_of(p, root, "chunks");
	CU_ASSERT_EQUAL(mkdir(p, 0755), 0);
	path_of(p, root, "chunks/007");
	CU_ASSERT_EQUAL(mkdir(p, 0755), 0);
	path_of(p, root, "chunks/007/x");
	write_file(p, "x", 1);
	CU_ASSERT_EQUAL(wfs_disk_attach(root, NODE, &id, &fd), -ENOTEMPTY);

	/* Missing, or a file. */
	path_of(p, root, "nothing-here");
	CU_ASSERT_EQUAL(wfs_disk_attach(p, NODE, &id, &fd), -ENOENT);
	path_of(p, root, "chunks/007/x");
	CU_ASSERT_EQUAL(wfs_disk_attach(p, NODE, &id, &fd), -ENOTDIR);
}

/* lost+found and the leftovers of an interrupted format are blank. */
static void test_blank_leftovers(void)
{
	char root[PATH_MAX], p[PATH_MAX];
	struct wfs_disk_ident id;
	int fd;

	CU_ASSERT_EQUAL_FATAL(wfs_test_mkdtemp(root, sizeof(root)), 0);
	path_of(p, root, "lost+found");
	CU_ASSERT_EQUAL(mkdir(p, 0700), 0);
	path_of(p, root, "chunks");
	CU_ASSERT_EQUAL(mkdir(p, 0755), 0);
	path_of(p, root, "chunks/000");
	CU_ASSERT_EQUAL(mkdir(p, 0755), 0);
	path_of(p, root, ".tmp-marker");
	write_file(p, "wormfs-di", 9);
	CU_ASSERT_EQUAL_FATAL(wfs_disk_attach(root, NODE, &id, &fd), 0);
	CU_ASSERT_EQUAL(id.formatted, 1);
	CU_ASSERT(!exists(root, ".tmp-marker"));
	CU_ASSERT(exists(root, "chunks/000"));	/* kept: it was empty */
	wfs_disk_detach(fd, 0);
}

static void make_header(struct wfs_chunk_header *h, uint64_t sid,
			uint32_t idx, const void *data, size_t len)
{
	memset(h, 0, sizeof(*h));
	h->kind = WFS_CHUNK_EC;
	h->stripe_id = sid;
	h->stripe_version = 1;
	h->file_id = 9;
	h->chunk_index = idx;
	h->chunk_id = wfs_chunk_id(sid, idx);
	h->k = 4;
	h->m = 2;
	h->stripe_data_len = len;
	wfs_chunk_header_set_data(h, data, len);
}

static void chunk_file(char *p, const char *root,
		       const struct wfs_chunk_key *k)
{
	char name[WFS_DISK_CHUNK_NAME_LEN + 1];

	wfs_disk_chunk_name(k, name);
	pathf(p, "%s/chunks/%03u/%s", root,
		 wfs_disk_folder(k->stripe_id), name);
}

static void test_chunk_files(void)
{
	char root[PATH_MAX], p[PATH_MAX], q[PATH_MAX];
	struct wfs_disk_ident id;
	struct wfs_chunk_header h, got;
	uint8_t data[5000], buf[5000], scratch[4096];
	uint64_t rng = wfs_test_seed();
	struct wfs_chunk_key k = { 77, 1, 3 }, other = { 77, 1, 4 };
	int fd = attach_new(root, &id);

	wfs_test_fill(&rng, data, sizeof(data));
	make_header(&h, 77, 3, data, sizeof(data));
	CU_ASSERT_EQUAL_FATAL(wfs_disk_chunk_put(root, &h, data, 1), 0);
	memset(buf, 0, sizeof(buf));
	CU_ASSERT_EQUAL(wfs_disk_chunk_read(root, &k, &got, buf, sizeof(buf)),
			0);
	CU_ASSERT_EQUAL(memcmp(buf, data, sizeof(data)), 0);
	CU_ASSERT_EQUAL(got.data_crc, h.data_crc);
	CU_ASSERT_EQUAL(wfs_disk_chunk_stat(root, &k, &got), 0);
	CU_ASSERT_EQUAL(got.data_len, sizeof(data));
	CU_ASSERT_EQUAL(wfs_disk_chunk_verify(root, &k, &got, scratch,
					      sizeof(scratch)), 0);
	CU_ASSERT_EQUAL(wfs_disk_chunk_read(root, &k, &got, buf, 100),
			-EOVERFLOW);
	CU_ASSERT_EQUAL(wfs_disk_chunk_read(root, &other, &got, buf,
					    sizeof(buf)), -ENOENT);

	/* A data byte changed: read and verify both notice. */
	chunk_file(p, root, &k);
	flip_byte(p, WFS_CHUNK_HEADER_SIZE + 4321);
	CU_ASSERT_EQUAL(wfs_disk_chunk_read(root, &k, &got, buf, sizeof(buf)),
			-EBADMSG);
	CU_ASSERT_EQUAL(wfs_disk_chunk_verify(root, &k, &got, scratch,
					      sizeof(scratch)), -EBADMSG);
	CU_ASSERT_EQUAL(wfs_disk_chunk_stat(root, &k, &got), 0);
	/* Rewritten: replaced atomically. */
	CU_ASSERT_EQUAL(wfs_disk_chunk_put(root, &h, data, 2), 0);
	CU_ASSERT_EQUAL(wfs_disk_chunk_read(root, &k, &got, buf, sizeof(buf)),
			0);
	/* A file under another chunk's name does not pass as that chunk. */
	chunk_file(q, root, &other);
	CU_ASSERT_EQUAL(link(p, q), 0);
	CU_ASSERT_EQUAL(wfs_disk_chunk_read(root, &other, &got, buf,
					    sizeof(buf)), -EBADMSG);
	CU_ASSERT_EQUAL(wfs_disk_chunk_stat(root, &other, &got), -EBADMSG);
	/* Cut short, or with a byte too many. */
	CU_ASSERT_EQUAL(truncate(p, WFS_CHUNK_HEADER_SIZE + 10), 0);
	CU_ASSERT_EQUAL(wfs_disk_chunk_read(root, &k, &got, buf, sizeof(buf)),
			-EBADMSG);
	CU_ASSERT_EQUAL(truncate(p, WFS_CHUNK_HEADER_SIZE + sizeof(data) + 1),
			0);
	CU_ASSERT_EQUAL(wfs_disk_chunk_stat(root, &k, &got), -EBADMSG);
	CU_ASSERT_EQUAL(truncate(p, 20), 0);
	CU_ASSERT_EQUAL(wfs_disk_chunk_stat(root, &k, &got), -EBADMSG);

	CU_ASSERT_EQUAL(wfs_disk_chunk_unlink(root, &k), 0);
	CU_ASSERT_EQUAL(wfs_disk_chunk_unlink(root, &k), -ENOENT);
	CU_ASSERT(!exists(root, "chunks/.tmp-0000000000000001"));
	wfs_disk_detach(fd, 0);
}

/* Format 1's folder of stripe @sid: mix(sid) mod 1000, where format 2
 * mixes sid >> 6 (see disk.c). */
static unsigned folder_v1(uint64_t sid)
{
	uint64_t z = sid + 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (unsigned)((z ^ (z >> 31)) % WFS_DISK_FOLDERS);
}

/* Put chunk (@sid, 1, 0) of @root in its format-1 folder: moved there, or
 * with @keep also left where format 2 puts it (a hard link).  Returns 1, or
 * 0 when both formats pick the same folder (nothing done). */
static unsigned to_v1_folder(const char *root, uint64_t sid, bool keep)
{
	struct wfs_chunk_key k = { sid, 1, 0 };
	char name[WFS_DISK_CHUNK_NAME_LEN + 1], p[PATH_MAX], q[PATH_MAX];

	if (folder_v1(sid) == wfs_disk_folder(sid))
		return 0;
	wfs_disk_chunk_name(&k, name);
	chunk_file(p, root, &k);
	pathf(q, "%s/chunks/%03u", root, folder_v1(sid));
	mkdir(q, 0755);
	pathf(q, "%s/chunks/%03u/%s", root, folder_v1(sid), name);
	CU_ASSERT_EQUAL_FATAL(keep ? link(p, q) : rename(p, q), 0);
	return 1;
}

/* Chunks 1..@n of test_migrate_v1 read back from their format-2 folders,
 * and no chunk file is left in another folder. */
static void check_migrated(const char *root, uint64_t n)
{
	uint8_t data[300], buf[300];
	struct wfs_chunk_header got;
	int count = 0;

	for (uint64_t sid = 1; sid <= n; sid++) {
		struct wfs_chunk_key k = { sid, 1, 0 };

		memset(data, (int)sid, sizeof(data));
		CU_ASSERT_EQUAL(wfs_disk_chunk_read(root, &k, &got, buf,
						    sizeof(buf)), 0);
		CU_ASSERT_EQUAL(memcmp(buf, data, sizeof(data)), 0);
	}
	/* Every chunk file in any folder, each exactly once. */
	for (unsigned f = 0; f < WFS_DISK_FOLDERS; f++) {
		struct wfs_chunk_key k;
		char p[PATH_MAX];
		struct dirent *e;
		DIR *d;

		pathf(p, "%s/chunks/%03u", root, f);
		d = opendir(p);
		if (!d)
			continue;
		while ((e = readdir(d)) != NULL) {
			if (wfs_disk_chunk_name_parse(e->d_name, &k) != 0)
				continue;
			CU_ASSERT_EQUAL(wfs_disk_folder(k.stripe_id), f);
			count++;
		}
		closedir(d);
	}
	CU_ASSERT_EQUAL(count, (int)n);
}

/* A disk of format 1, part-way through a migration that crashed: some
 * chunk files in their format-1 folders, some moved already, a stale
 * index.  Attach moves the rest, drops the index, says format 2. */
static void test_migrate_v1(void)
{
	enum { N = 200 };
	char root[PATH_MAX], p[PATH_MAX], marker[256];
	struct wfs_disk_ident id;
	struct wfs_chunk_header h;
	uint8_t data[300], buf[300];
	unsigned moved = 0;
	int fd = attach_new(root, &id), len;

	for (uint64_t sid = 1; sid <= N; sid++) {
		memset(data, (int)sid, sizeof(data));
		make_header(&h, sid, 0, data, sizeof(data));
		CU_ASSERT_EQUAL_FATAL(wfs_disk_chunk_put(root, &h, data, sid),
				      0);
	}
	wfs_disk_detach(fd, 1);
	for (uint64_t sid = 1; sid <= N; sid += 2)
		moved += to_v1_folder(root, sid, false);
	CU_ASSERT(moved > N / 4);
	/* A chunk in both folders (a crash after its move, with the old
	 * entry back from an unsynced directory). */
	for (uint64_t sid = 2; sid <= N; sid += 2)
		if (to_v1_folder(root, sid, true))
			break;
	/* A real index naming the old places. */
	{
		struct wfs_disk_rec rec = { WFS_DISK_REC_ADD, sizeof(data),
					    { 1, 1, 0 } };

		CU_ASSERT_EQUAL(wfs_disk_index_append(root, folder_v1(1),
						      &rec), 0);
	}
	len = snprintf(marker, sizeof(marker),
		       "wormfs-disk 1\ndisk-id %s\nnode-id %s\n",
		       id.disk_id, NODE);
	len += snprintf(marker + len, sizeof(marker) - (size_t)len,
			"crc32c %08x\n", wfs_crc32c(0, marker, (size_t)len));
	path_of(p, root, "wormfs-disk");
	write_file(p, marker, (size_t)len);

	CU_ASSERT_EQUAL_FATAL(wfs_disk_attach(root, NODE, &id, &fd), 0);
	CU_ASSERT_EQUAL(id.version, WFS_DISK_FORMAT_VERSION);
	CU_ASSERT_EQUAL(id.clean, 1);
	path_of(p, root, "wormfs-disk");
	CU_ASSERT(read_file(p, buf, sizeof(buf)) > 14 &&
		  memcmp(buf, "wormfs-disk 2\n", 14) == 0);
	CU_ASSERT(!exists(root, "migrating"));
	CU_ASSERT(!exists(root, "clean-shutdown"));
	pathf(p, "%s/chunks/%03u/index", root, folder_v1(1));
	CU_ASSERT(access(p, F_OK) != 0);
	check_migrated(root, N);
	wfs_disk_detach(fd, 0);

	/* A migration under way (format 2 already, <root>/migrating there)
	 * is finished; then attach changes nothing more. */
	CU_ASSERT_FATAL(to_v1_folder(root, 7, false));
	path_of(p, root, "migrating");
	write_file(p, "", 0);
	CU_ASSERT_EQUAL_FATAL(wfs_disk_attach(root, NODE, &id, &fd), 0);
	CU_ASSERT(!exists(root, "migrating"));
	check_migrated(root, N);
	wfs_disk_detach(fd, 0);
	CU_ASSERT_EQUAL_FATAL(wfs_disk_attach(root, NODE, &id, &fd), 0);
	CU_ASSERT_EQUAL(id.version, WFS_DISK_FORMAT_VERSION);
	check_migrated(root, N);
	wfs_disk_detach(fd, 0);
}

static int count_key(const struct wfs_chunk_key *key, void *arg)
{
	(void)key;
	(*(int *)arg)++;
	return 0;
}

static void test_index(void)
{
	char root[PATH_MAX], p[PATH_MAX];
	struct wfs_disk_ident id;
	struct wfs_disk_rec recs[3], *got = NULL;
	uint64_t sid[3];
	size_t n = 0, found = 0, len;
	uint8_t copy[256];
	unsigned f = wfs_disk_folder(5);
	int fd = attach_new(root, &id);

	/* Three stripe ids that share folder f. */
	for (uint64_t s = 5; found < 3; s++)
		if (wfs_disk_folder(s) == f)
			sid[found++] = s;
	for (int i = 0; i < 3; i++)
		recs[i] = (struct wfs_disk_rec){ WFS_DISK_REC_ADD, 100u + i,
						 { sid[i], 1, (uint32_t)i } };
	recs[2].type = WFS_DISK_REC_DEL;
	recs[2].data_len = 0;

	CU_ASSERT_EQUAL(wfs_disk_index_read(root, f, &got, &n), -ENOENT);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(wfs_disk_index_append(root, f, &recs[i]), 0);
	CU_ASSERT_EQUAL_FATAL(wfs_disk_index_read(root, f, &got, &n), 0);
	CU_ASSERT_EQUAL_FATAL(n, 3);
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(got[i].type, recs[i].type);
		CU_ASSERT_EQUAL(got[i].data_len, recs[i].data_len);
		CU_ASSERT_EQUAL(got[i].key.stripe_id, sid[i]);
		CU_ASSERT_EQUAL(got[i].key.index, (uint32_t)i);
	}
	wfs_free(got);

	/* Every damaged byte is noticed. */
	pathf(p, "%s/chunks/%03u/index", root, f);
	for (off_t off = 0; off < 4 * 32; off++) {
		flip_byte(p, off);
		CU_ASSERT_EQUAL(wfs_disk_index_read(root, f, &got, &n),
				-EBADMSG);
		flip_byte(p, off);
	}
	/* A torn last record. */
	CU_ASSERT_EQUAL(truncate(p, 3 * 32 + 7), 0);
	CU_ASSERT_EQUAL(wfs_disk_index_read(root, f, &got, &n), -EBADMSG);
	/* An index copied into another folder. */
	CU_ASSERT_EQUAL(wfs_disk_index_write(root, f, recs, 2), 0);
	pathf(p, "%s/chunks/%03u/index", root, f);
	len = read_file(p, copy, sizeof(copy));
	pathf(p, "%s/chunks/%03u", root, (f + 1) % 1000);
	CU_ASSERT_EQUAL(mkdir(p, 0755), 0);
	pathf(p, "%s/chunks/%03u/index", root, (f + 1) % 1000);
	write_file(p, copy, len);
	CU_ASSERT_EQUAL(wfs_disk_index_read(root, (f + 1) % 1000, &got, &n),
			-EBADMSG);
	/* The rewrite holds what it was given. */
	CU_ASSERT_EQUAL_FATAL(wfs_disk_index_read(root, f, &got, &n), 0);
	CU_ASSERT_EQUAL(n, 2);
	wfs_free(got);
	CU_ASSERT_EQUAL(wfs_disk_index_write(root, f, NULL, 0), 0);
	CU_ASSERT_EQUAL(wfs_disk_index_read(root, f, &got, &n), 0);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_PTR_NULL(got);
	wfs_disk_detach(fd, 0);
}

static void test_scan(void)
{
	char root[PATH_MAX], p[PATH_MAX];
	struct wfs_disk_ident id;
	struct wfs_chunk_header h;
	struct wfs_disk_rec rec = { WFS_DISK_REC_ADD, 0, { 500, 1, 0 } };
	unsigned f = wfs_disk_folder(500);
	int fd = attach_new(root, &id), count = 0;

	for (uint32_t i = 0; i < 3; i++) {
		make_header(&h, 500, i, "abc", 3);
		CU_ASSERT_EQUAL(wfs_disk_chunk_put(root, &h, "abc", i), 0);
	}
	CU_ASSERT_EQUAL(wfs_disk_index_append(root, f, &rec), 0);
	pathf(p, "%s/chunks/%03u/.tmp-00000000000000ff", root, f);
	write_file(p, "partial", 7);
	pathf(p, "%s/chunks/%03u/.tmp-index", root, f);
	write_file(p, "partial", 7);
	pathf(p, "%s/chunks/%03u/README", root, f);
	write_file(p, "not ours", 8);
	/* A chunk name that hashes to another folder is not counted. */
	pathf(p, "%s/chunks/%03u/%016x-%016x-00", root, f,
		 wfs_disk_folder(564) == f ? 628 : 564, 1);
	write_file(p, "x", 1);
	CU_ASSERT_EQUAL(wfs_disk_folder_scan(root, f, count_key, &count), 0);
	CU_ASSERT_EQUAL(count, 3);
	pathf(p, "chunks/%03u/.tmp-00000000000000ff", f);
	CU_ASSERT(!exists(root, p));
	pathf(p, "chunks/%03u/.tmp-index", f);
	CU_ASSERT(!exists(root, p));
	pathf(p, "chunks/%03u/README", f);
	CU_ASSERT(exists(root, p));
	wfs_disk_detach(fd, 0);
}

static void test_check_and_space(void)
{
	char root[PATH_MAX], p[PATH_MAX];
	struct wfs_disk_ident id;
	uint64_t cap = 0, avail = 0;
	int fd = attach_new(root, &id);

	CU_ASSERT_EQUAL(wfs_disk_check(root, &id), 0);
	CU_ASSERT_EQUAL(wfs_disk_space(root, &cap, &avail), 0);
	CU_ASSERT(cap > 0 && avail <= cap);
	path_of(p, root, "chunks");
	CU_ASSERT_EQUAL(rmdir(p), 0);
	CU_ASSERT_EQUAL(wfs_disk_check(root, &id), -ENOENT);
	write_file(p, "x", 1);
	CU_ASSERT_EQUAL(wfs_disk_check(root, &id), -ENOTDIR);
	CU_ASSERT_EQUAL(unlink(p), 0);
	CU_ASSERT_EQUAL(mkdir(p, 0755), 0);
	CU_ASSERT_EQUAL(wfs_disk_check(root, &id), 0);
	wfs_disk_detach(fd, 0);
	/* Moved away, and another directory made in its place. */
	pathf(p, "%s.old", root);
	CU_ASSERT_EQUAL(rename(root, p), 0);
	CU_ASSERT_EQUAL(wfs_disk_check(root, &id), -ENOENT);
	CU_ASSERT_EQUAL(mkdir(root, 0700), 0);
	CU_ASSERT_EQUAL(wfs_disk_check(root, &id), -ESTALE);
	CU_ASSERT_EQUAL(rmdir(root), 0);
	CU_ASSERT_EQUAL(wfs_test_rmtree(p), 0);
	write_file(root, "x", 1);
	CU_ASSERT_EQUAL(wfs_disk_check(root, &id), -ENOTDIR);
	CU_ASSERT_EQUAL(unlink(root), 0);
}

static CU_TestInfo disk_tests[] = {
	{ "chunk names", test_names },
	{ "folder function", test_folder },
	{ "format and reattach", test_format_and_reattach },
	{ "refused markers and directories", test_refusals },
	{ "format 1 disks migrate", test_migrate_v1 },
	{ "blank with leftovers", test_blank_leftovers },
	{ "chunk files", test_chunk_files },
	{ "folder index", test_index },
	{ "folder scan", test_scan },
	{ "health check and space", test_check_and_space },
	CU_TEST_INFO_NULL,
};
WFS_TEST_SUITE("storaged_disk", disk_tests, NULL, NULL)
