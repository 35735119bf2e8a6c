/* fs_bench: file system figures measured on a directory.
 *
 *   fs_bench [-p PREFIX] [-s SEQ_BYTES] [-n FILES] [-k SMALL_FILES]
 *            [-b SMALL_BYTES] DIR
 *
 * Run by tests/bench/fuse_bench.sh on a WormFS mount and on a plain FUSE
 * passthrough (and on anything else: it only needs a directory).  In a
 * scratch folder DIR/fs_bench.<pid>, removed at the end, it measures:
 *
 *   PREFIX_seq_write   MB/s   one file of SEQ_BYTES (default 2 GiB) written
 *                             in 1 MiB blocks, fsync and close included
 *   PREFIX_seq_read    MB/s   read back in 1 MiB blocks after the page cache
 *                             is dropped (sync; drop_caches, and fadvise
 *                             DONTNEED on the file); each block's stamp is
 *                             checked
 *   PREFIX_create      ops/s  FILES (default 10,000) empty files made in one
 *                             directory (open O_CREAT|O_EXCL, close)
 *   PREFIX_stat        ops/s  stat of each, caches dropped first
 *   PREFIX_unlink      ops/s  unlink of each
 *   PREFIX_small_write files/s  SMALL_FILES (default 2,000) files of
 *                             SMALL_BYTES (default 64 KiB): create, one
 *                             write, close
 *   PREFIX_small_read  files/s  each read back whole (open, read, close)
 *                             after the caches are dropped, contents checked
 *
 * printed as "BENCH PREFIX_name value unit" (PREFIX defaults to "fs").
 * MB are 10^6 bytes, as in the other benches.  Exits 1 if an operation
 * fails or data comes back wrong (the BENCH lines printed so far stand).
 * Dropping caches needs root; without it only fadvise is used and a line on
 * stderr says so.
 *
 * A bench program: it prints.  It uses no WormFS code beyond mem and log.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mem/mem.h"

#define BLOCK (1u << 20)

struct bench {
	const char *prefix;
	char dir[PATH_MAX / 2];	/* the scratch folder */
	uint64_t seq_bytes;
	unsigned files;
	unsigned small_files;
	size_t small_bytes;
	uint8_t *buf;		/* BLOCK bytes, or small_bytes if larger */
	uint8_t *rbuf;
	bool warned;		/* drop_caches refused once already */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void __attribute__((format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fs_bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

static void report(const struct bench *b, const char *name, double value,
		   const char *unit)
{
	printf("BENCH %s_%s %.1f %s\n", b->prefix, name, value, unit);
	fflush(stdout);
}

/* Flush everything and drop the page, dentry and inode caches. */
static void drop_caches(struct bench *b)
{
	int fd;

	sync();
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd >= 0 && write(fd, "3", 1) == 1) {
		close(fd);
		return;
	}
	if (fd >= 0)
		close(fd);
	if (!b->warned)
		fprintf(stderr, "fs_bench: cannot drop caches (not root?): "
			"reads may come from the page cache\n");
	b->warned = true;
}

static void file_name(const struct bench *b, char *buf, const char *kind,
		      unsigned i)
{
	snprintf(buf, PATH_MAX, "%s/%s/f%06u", b->dir, kind, i);
}

/* Put the block number into the first 8 bytes of each 4 KiB of @buf, so a
 * block read from the wrong place is noticed. */
static void stamp(uint8_t *buf, size_t len, uint64_t n)
{
	for (size_t off = 0; off + 8 <= len; off += 4096)
		memcpy(buf + off, &n, 8);
}

static void seq_write(struct bench *b, const char *path)
{
	uint64_t blocks = b->seq_bytes / BLOCK;
	double t0 = now();
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		die("create %s: %s", path, strerror(errno));
	for (uint64_t i = 0; i < blocks; i++) {
		stamp(b->buf, BLOCK, i);
		if (pwrite(fd, b->buf, BLOCK, (off_t)(i * BLOCK)) != BLOCK)
			die("write %s block %" PRIu64 ": %s", path, i,
			    strerror(errno));
	}
	if (fsync(fd) < 0 || close(fd) < 0)
		die("fsync/close %s: %s", path, strerror(errno));
	report(b, "seq_write", (double)blocks * BLOCK / 1e6 / (now() - t0),
	       "MB/s");
}

static void seq_read(struct bench *b, const char *path)
{
	uint64_t blocks = b->seq_bytes / BLOCK;
	double t0;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	drop_caches(b);
	t0 = now();
	for (uint64_t i = 0; i < blocks; i++) {
		ssize_t n = read(fd, b->rbuf, BLOCK);
		uint64_t got;

		if (n != BLOCK)
			die("read %s block %" PRIu64 ": %zd, %s", path, i, n,
			    n < 0 ? strerror(errno) : "short read");
		memcpy(&got, b->rbuf + 4096 * (i % 256), 8);
		if (got != i)
			die("%s block %" PRIu64 " reads as block %" PRIu64,
			    path, i, got);
	}
	report(b, "seq_read", (double)blocks * BLOCK / 1e6 / (now() - t0),
	       "MB/s");
	close(fd);
}

static void meta_ops(struct bench *b)
{
	char path[PATH_MAX];
	struct stat st;
	double t0;

	snprintf(path, sizeof(path), "%s/meta", b->dir);
	if (mkdir(path, 0755) < 0)
		die("mkdir %s: %s", path, strerror(errno));
	t0 = now();
	for (unsigned i = 0; i < b->files; i++) {
		int fd;

		file_name(b, path, "meta", i);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0 || close(fd) < 0)
			die("create %s: %s", path, strerror(errno));
	}
	report(b, "create", b->files / (now() - t0), "ops/s");
	drop_caches(b);
	t0 = now();
	for (unsigned i = 0; i < b->files; i++) {
		file_name(b, path, "meta", i);
		if (stat(path, &st) < 0)
			die("stat %s: %s", path, strerror(errno));
	}
	report(b, "stat", b->files / (now() - t0), "ops/s");
	t0 = now();
	for (unsigned i = 0; i < b->files; i++) {
		file_name(b, path, "meta", i);
		if (unlink(path) < 0)
			die("unlink %s: %s", path, strerror(errno));
	}
	report(b, "unlink", b->files / (now() - t0), "ops/s");
	snprintf(path, sizeof(path), "%s/meta", b->dir);
	rmdir(path);
}

static void small_files(struct bench *b)
{
	char path[PATH_MAX];
	double t0;

	snprintf(path, sizeof(path), "%s/small", b->dir);
	if (mkdir(path, 0755) < 0)
		die("mkdir %s: %s", path, strerror(errno));
	t0 = now();
	for (unsigned i = 0; i < b->small_files; i++) {
		int fd;

		file_name(b, path, "small", i);
		stamp(b->buf, b->small_bytes, i);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0 ||
		    write(fd, b->buf, b->small_bytes) != (ssize_t)b->small_bytes ||
		    close(fd) < 0)
			die("write %s: %s", path, strerror(errno));
	}
	report(b, "small_write", b->small_files / (now() - t0), "files/s");
	drop_caches(b);
	t0 = now();
	for (unsigned i = 0; i < b->small_files; i++) {
		ssize_t n;
		uint64_t got;
		int fd;

		file_name(b, path, "small", i);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			die("open %s: %s", path, strerror(errno));
		/* Ask for one byte more: the file must end where it should. */
		n = read(fd, b->rbuf, b->small_bytes + 1);
		close(fd);
		memcpy(&got, b->rbuf, 8);
		if (n != (ssize_t)b->small_bytes || got != i)
			die("%s read back wrong (%zd bytes)", path, n);
	}
	report(b, "small_read", b->small_files / (now() - t0), "files/s");
	for (unsigned i = 0; i < b->small_files; i++) {
		file_name(b, path, "small", i);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/small", b->dir);
	rmdir(path);
}

static uint64_t parse_size(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 0);

	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end || end == s)
		die("bad size: %s", s);
	return v;
}

static void usage(void)
{
	fprintf(stderr, "usage: fs_bench [-p PREFIX] [-s SEQ_BYTES] [-n FILES] "
		"[-k SMALL_FILES] [-b SMALL_BYTES] DIR\n"
		"  defaults: -p fs -s 2g -n 10000 -k 2000 -b 64k\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct bench b = { .prefix = "fs", .seq_bytes = 2ULL << 30,
			   .files = 10000, .small_files = 2000,
			   .small_bytes = 64 << 10 };
	char path[PATH_MAX];
	size_t buflen;
	int opt;

	while ((opt = getopt(argc, argv, "p:s:n:k:b:")) != -1) {
		switch (opt) {
		case 'p': b.prefix = optarg; break;
		case 's': b.seq_bytes = parse_size(optarg); break;
		case 'n': b.files = (unsigned)parse_size(optarg); break;
		case 'k': b.small_files = (unsigned)parse_size(optarg); break;
		case 'b': b.small_bytes = parse_size(optarg); break;
		default: usage();
		}
	}
	if (optind != argc - 1 || b.seq_bytes < BLOCK || b.small_bytes < 8 ||
	    !b.files || !b.small_files)
		usage();
	if (strlen(argv[optind]) > sizeof(b.dir) - 32)
		die("path too long: %s", argv[optind]);
	snprintf(b.dir, sizeof(b.dir), "%s/fs_bench.%d", argv[optind],
		 (int)getpid());
	buflen = b.small_bytes > BLOCK ? b.small_bytes : BLOCK;
	b.buf = wfs_aligned_alloc(4096, buflen);
	b.rbuf = wfs_aligned_alloc(4096, buflen + 1);
	if (!b.buf || !b.rbuf)
		die("out of memory");
	/* Data that neither compresses nor looks like holes. */
	for (size_t i = 0; i < buflen; i++)
		b.buf[i] = (uint8_t)(i * 2654435761u >> 13) | 1;
	if (mkdir(b.dir, 0755) < 0)
		die("mkdir %s: %s", b.dir, strerror(errno));

	snprintf(path, sizeof(path), "%s/seq", b.dir);
	seq_write(&b, path);
	seq_read(&b, path);
	if (unlink(path) < 0)
		die("unlink %s: %s", path, strerror(errno));
	meta_ops(&b);
	small_files(&b);
	if (rmdir(b.dir) < 0)
		die("rmdir %s: %s", b.dir, strerror(errno));
	wfs_free(b.buf);
	wfs_free(b.rbuf);
	return 0;
}
