/* bench_meta: how fast the metadata store applies creates and answers
 * lookups, and whether lookups hold their rate as the file table grows.
 *
 *   BENCH meta_create <ops/s> ops/s      MKNOD applied as the log delivers
 *                                        them: batches of 256 entries, one
 *                                        transaction each, 100,000 files in
 *                                        100 directories of 1,000
 *   BENCH meta_lookup <ops/s> ops/s      random wfs_meta_lookup of an
 *                                        existing name, 100,000 files
 *   BENCH meta_create_grow <ops/s> ops/s the same creates from 100,000 to
 *                                        1,000,000 files (900 more dirs)
 *   BENCH meta_lookup_1m <ops/s> ops/s   random lookups at 1,000,000 files
 *   BENCH meta_store_bytes_per_file <B> B  database size / files, after a
 *                                        checkpoint
 *
 * Directories of 1,000 entries are what home and project trees look like;
 * the names are "file-NNNNNNN.dat".  Lookups pick a directory and a name in
 * it from a fixed-seed generator, so every run asks the same questions.
 * The store lives in a scratch folder under $WFS_BENCH_DIR (/var/tmp if
 * unset), removed at the end.  Wall time is about 10 s on 2 cores.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log/log.h"
#include "mem/mem.h"
#include "metadata/meta.h"

#define PER_DIR 1000
#define BATCH 256
#define SMALL_FILES 100000
#define LARGE_FILES 1000000
#define LOOKUPS 300000

struct bench {
	struct wfs_meta *m;
	uint64_t index;		/* last log index applied */
	uint64_t dirs[LARGE_FILES / PER_DIR];
	uint64_t files;		/* files created so far */
	uint64_t rng;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static int name_of(uint64_t n, char *buf, size_t len)
{
	return snprintf(buf, len, "file-%07llu.dat", (unsigned long long)n);
}

static int apply(struct bench *b, struct wfs_meta_op *op,
		 struct wfs_meta_result *r)
{
	int rc = wfs_meta_apply(b->m, ++b->index, op, r);

	if (rc == 0 && r->status != 0)
		rc = r->status;
	if (rc < 0)
		fprintf(stderr, "bench_meta: entry %llu failed: %s\n",
			(unsigned long long)b->index, strerror(-rc));
	return rc;
}

static int format(struct bench *b)
{
	struct wfs_meta_result r;
	struct wfs_meta_op op;

	memset(&op, 0, sizeof(op));
	op.type = WFS_META_OP_FORMAT;
	op.u.format.root_mode = 0755;
	op.u.format.k = 4;
	op.u.format.m = 2;
	op.u.format.chunk_size = 1 << 20;
	op.u.format.cluster_id = (struct wfs_meta_bytes){ "bench", 5 };
	return apply(b, &op, &r);
}

/* Create directories and files until there are @target files: file n goes
 * in directory n / PER_DIR, made just before its first file.  Entries go in
 * batches of BATCH, as the log hands them over. */
static int create_until(struct bench *b, uint64_t target)
{
	struct wfs_meta_result r;
	struct wfs_meta_op op;
	char name[32];
	int rc = 0, in_batch = 0;

	memset(&op, 0, sizeof(op));
	while (b->files < target && rc == 0) {
		uint64_t d = b->files / PER_DIR;

		if (in_batch == 0 && (rc = wfs_meta_batch_begin(b->m)) < 0)
			break;
		op.time_ns = (int64_t)b->index;
		if (b->files % PER_DIR == 0 && b->dirs[d] == 0) {
			op.type = WFS_META_OP_MKDIR;
			op.u.create.parent = WFS_META_ROOT_INO;
			op.u.create.mode = 0755;
			snprintf(name, sizeof(name), "dir-%05llu",
				 (unsigned long long)d);
			op.u.create.name = (struct wfs_meta_bytes){
				name, strlen(name) };
			rc = apply(b, &op, &r);
			b->dirs[d] = r.attr.ino;
		} else {
			op.type = WFS_META_OP_MKNOD;
			op.u.create.parent = b->dirs[d];
			op.u.create.mode = S_IFREG | 0644;
			op.u.create.name = (struct wfs_meta_bytes){
				name, (size_t)name_of(b->files, name,
						      sizeof(name)) };
			rc = apply(b, &op, &r);
			b->files++;
		}
		if (++in_batch == BATCH || b->files == target || rc < 0) {
			int end = wfs_meta_batch_end(b->m);

			rc = rc < 0 ? rc : end;
			in_batch = 0;
		}
	}
	return rc;
}

/* @n random lookups among the first b->files files. */
static int lookups(struct bench *b, unsigned n)
{
	struct wfs_meta_attr a;
	char name[32];

	for (unsigned i = 0; i < n; i++) {
		uint64_t f = next_rand(&b->rng) % b->files;
		struct wfs_meta_bytes nm = { name, 0 };
		int rc;

		nm.len = (size_t)name_of(f, name, sizeof(name));
		rc = wfs_meta_lookup(b->m, b->dirs[f / PER_DIR], nm, &a);
		if (rc < 0) {
			fprintf(stderr, "bench_meta: lookup of %s: %s\n", name,
				strerror(-rc));
			return rc;
		}
	}
	return 0;
}

static int timed_create(struct bench *b, uint64_t target, const char *what)
{
	uint64_t before = b->files;
	double t = now();
	int rc = create_until(b, target);

	if (rc == 0)
		printf("BENCH %s %.0f ops/s\n", what,
		       (double)(b->files - before) / (now() - t));
	return rc;
}

static int timed_lookups(struct bench *b, const char *what)
{
	double t;
	int rc;

	rc = lookups(b, LOOKUPS / 10);	/* warm the cache */
	t = now();
	if (rc == 0)
		rc = lookups(b, LOOKUPS);
	if (rc == 0)
		printf("BENCH %s %.0f ops/s\n", what, LOOKUPS / (now() - t));
	return rc;
}

static void remove_store(const char *dir, const char *path)
{
	char p[600];

	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
	rmdir(dir);
}

int main(void)
{
	const char *base = getenv("WFS_BENCH_DIR");
	char dir[512], path[560];
	struct bench *b;
	struct stat st;
	int rc;

	wfs_log_set_level(WFS_LOG_ERROR);
	if (!base || !*base)
		base = "/var/tmp";
	snprintf(dir, sizeof(dir), "%s/meta-bench-%d", base, (int)getpid());
	if (mkdir(dir, 0700) != 0) {
		perror(dir);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/meta.db", dir);
	b = wfs_calloc(1, sizeof(*b));
	if (!b)
		return 1;
	b->rng = 0x9e3779b97f4a7c15ULL;
	rc = wfs_meta_open(path, &b->m);
	if (rc == 0)
		rc = format(b);
	if (rc == 0)
		rc = timed_create(b, SMALL_FILES, "meta_create");
	if (rc == 0)
		rc = timed_lookups(b, "meta_lookup");
	if (rc == 0)
		rc = timed_create(b, LARGE_FILES, "meta_create_grow");
	if (rc == 0)
		rc = timed_lookups(b, "meta_lookup_1m");
	if (rc == 0)
		rc = wfs_meta_checkpoint(b->m);
	if (rc == 0 && stat(path, &st) == 0)
		printf("BENCH meta_store_bytes_per_file %.0f B\n",
		       (double)st.st_size / (double)b->files);
	wfs_meta_close(b->m);
	remove_store(dir, path);
	wfs_free(b);
	if (rc < 0)
		fprintf(stderr, "bench_meta: %s\n", strerror(-rc));
	return rc < 0 ? 1 : 0;
}
