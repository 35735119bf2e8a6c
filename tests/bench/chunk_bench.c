/* chunk_bench: throughput of the chunk store on real disk directories.
 *
 * Writes 256 chunks of 1 MiB (each of another 4+2 stripe) through
 * wfs_store_write with
 * two worker threads, fsync included, over four disk directories under
 * $WFS_BENCH_DIR (default /var/tmp); closes the store (which flushes it),
 * drops the page cache (drop_caches when allowed, and posix_fadvise
 * DONTNEED on every chunk file either way) so reads come from the disk,
 * then reads every chunk back with wfs_store_read (both CRCs checked).
 * Prints:
 *   BENCH chunk_write <MB/s> MB/s
 *   BENCH chunk_read <MB/s> MB/s
 * and removes its files.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log/log.h"
#include "mem/mem.h"
#include "storaged/chunkstore.h"

#define DISKS 4
#define THREADS 2
#define CHUNKS 256
#define CHUNK_SIZE (1u << 20)
#define K 4
#define M 2

struct bench {
	struct wfs_store *st;
	char roots[DISKS][PATH_MAX / 4];
	int failed;
};

struct job {
	struct bench *b;
	unsigned first;		/* chunks first, first + THREADS, ... */
	uint8_t *buf;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Chunk @i is one chunk of stripe i + 1, as a node of a cluster of k + m
 * nodes holds one chunk of each stripe. */
static struct wfs_chunk_key key_of(unsigned i)
{
	struct wfs_chunk_key k = { 1 + i, 1, i % (K + M) };

	return k;
}

/* Chunk @i's data: the shared random buffer with its number on top. */
static void make_chunk(unsigned i, uint8_t *buf, struct wfs_chunk_header *h)
{
	struct wfs_chunk_key k = key_of(i);

	memcpy(buf, &i, sizeof(i));
	memset(h, 0, sizeof(*h));
	h->kind = WFS_CHUNK_EC;
	h->stripe_id = k.stripe_id;
	h->stripe_version = k.version;
	h->chunk_index = k.index;
	h->chunk_id = wfs_chunk_id(k.stripe_id, k.index);
	h->file_id = 1;
	h->stripe_index = k.stripe_id - 1;
	h->k = K;
	h->m = M;
	h->stripe_offset = h->stripe_index * K * (uint64_t)CHUNK_SIZE;
	h->stripe_data_len = K * (uint64_t)CHUNK_SIZE;
	wfs_chunk_header_set_data(h, buf, CHUNK_SIZE);
}

static void *writer(void *arg)
{
	struct job *j = arg;
	struct wfs_chunk_header h;

	for (unsigned i = j->first; i < CHUNKS; i += THREADS) {
		int rc;

		make_chunk(i, j->buf, &h);
		rc = wfs_store_write(j->b->st, &h, j->buf, NULL);
		if (rc != 0) {
			fprintf(stderr, "chunk_bench: write %u: %s\n", i,
				strerror(-rc));
			j->b->failed = 1;
			break;
		}
	}
	return NULL;
}

static void *reader(void *arg)
{
	struct job *j = arg;
	struct wfs_chunk_header h;

	for (unsigned i = j->first; i < CHUNKS; i += THREADS) {
		struct wfs_chunk_key k = key_of(i);
		unsigned got;
		int rc = wfs_store_read(j->b->st, &k, &h, j->buf, CHUNK_SIZE);

		memcpy(&got, j->buf, sizeof(got));
		if (rc != 0 || got != i) {
			fprintf(stderr, "chunk_bench: read %u: %s\n", i,
				rc ? strerror(-rc) : "wrong data");
			j->b->failed = 1;
			break;
		}
	}
	return NULL;
}

/* Run @fn on THREADS threads, each with its own 1 MiB buffer holding
 * @pattern; returns the seconds taken. */
static double run(struct bench *b, void *(*fn)(void *), const uint8_t *pattern)
{
	struct job jobs[THREADS];
	pthread_t t[THREADS];
	double t0 = 0;
	int n = 0;

	for (int i = 0; i < THREADS; i++) {
		jobs[i] = (struct job){ b, (unsigned)i,
					wfs_malloc(CHUNK_SIZE) };
		if (!jobs[i].buf) {
			b->failed = 1;
			goto out_free;
		}
		memcpy(jobs[i].buf, pattern, CHUNK_SIZE);
	}
	t0 = now();
	for (n = 0; n < THREADS; n++)
		if (pthread_create(&t[n], NULL, fn, &jobs[n]) != 0) {
			b->failed = 1;
			break;
		}
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	t0 = now() - t0;
out_free:
	for (int i = 0; i < THREADS; i++)
		wfs_free(jobs[i].buf);
	return t0;
}

/* Push the chunk files out of the page cache so reads hit the disk. */
static void drop_cache(struct bench *b)
{
	int fd;

	sync();
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "1", 1) != 1)
			fprintf(stderr, "chunk_bench: drop_caches refused, "
				"using fadvise only\n");
		close(fd);
	}
	for (unsigned i = 0; i < CHUNKS; i++) {
		struct wfs_chunk_key k = key_of(i);
		char name[WFS_DISK_CHUNK_NAME_LEN + 1], path[PATH_MAX];
		struct wfs_store_chunk c;

		if (wfs_store_stat(b->st, &k, &c) != 0)
			continue;
		wfs_disk_chunk_name(&k, name);
		snprintf(path, sizeof(path), "%s/chunks/%03u/%s",
			 b->roots[c.disk], wfs_disk_folder(k.stripe_id), name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

int main(void)
{
	static struct bench b;
	const char *dir = getenv("WFS_BENCH_DIR");
	const char *paths[DISKS];
	char base[PATH_MAX / 8];
	uint8_t *pattern;
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	double mb = CHUNKS * (double)CHUNK_SIZE / 1e6, tw = 0, tr = 0;
	int rc;

	wfs_log_set_level(WFS_LOG_WARN);
	snprintf(base, sizeof(base), "%s/chunk-bench-%d",
		 dir && *dir ? dir : "/var/tmp", (int)getpid());
	if (mkdir(base, 0755) != 0 && errno != EEXIST) {
		perror(base);
		return 1;
	}
	for (int i = 0; i < DISKS; i++) {
		snprintf(b.roots[i], sizeof(b.roots[i]), "%s/d%d", base, i);
		mkdir(b.roots[i], 0755);
		paths[i] = b.roots[i];
	}
	pattern = wfs_malloc(CHUNK_SIZE);
	if (!pattern)
		return 1;
	for (size_t i = 0; i < CHUNK_SIZE; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(pattern + i, &x, 8);
	}

	rc = wfs_store_open("bench-node", paths, DISKS, &b.st);
	if (rc == 0) {
		tw = run(&b, writer, pattern);
		wfs_store_close(b.st);
		rc = wfs_store_open("bench-node", paths, DISKS, &b.st);
	}
	if (rc == 0 && !b.failed) {
		drop_cache(&b);
		tr = run(&b, reader, pattern);
		wfs_store_close(b.st);
	}
	if (rc != 0)
		fprintf(stderr, "chunk_bench: open: %s\n", strerror(-rc));
	wfs_free(pattern);
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (rc != 0 || b.failed)
		return 1;
	printf("BENCH chunk_write %.1f MB/s\n", mb / tw);
	printf("BENCH chunk_read %.1f MB/s\n", mb / tr);
	return 0;
}
