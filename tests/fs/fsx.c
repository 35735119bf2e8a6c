/* fsx: random file operations checked against a reference copy.
 *
 *   fsx [-n OPS] [-s SEED] [-l MAXLEN] [-o MAXOP] [-c EVERY] [-v] DIR REFDIR
 *
 * Applies OPS (default 20,000) random operations to the file DIR/fsx.<pid>
 * and the same ones to REFDIR/fsx.<pid>.ref, a file on a local file system
 * taken as the truth, and compares what the two give back:
 *   write     at a random offset (past the end too, leaving holes; some
 *             offsets land just around 1 MiB and 4 MiB boundaries, where a
 *             striping file system splits chunks and stripes), 1 byte to
 *             MAXOP (default 4 MiB), the file kept under MAXLEN (64 MiB)
 *   truncate  to a random size, up or down
 *   read      a random range, compared byte for byte, short reads included
 *   fsync     or fdatasync
 *   reopen    close both files and open them again
 *   drop      posix_fadvise(DONTNEED) so the next reads come from the file
 *             system rather than the page cache
 * The sizes (fstat) are compared after every operation and the whole files
 * every EVERY operations (default 2,000) and at the end.
 *
 * The run is seeded: the seed is printed first and -s replays it.  On the
 * first difference it prints where, the bytes on both sides, and the last
 * operations, then exits 1; it keeps the files for a look (their paths are
 * printed).  A run that passes removes them and exits 0.  Usage errors and
 * files that cannot be made exit 2.
 *
 * A test program: it prints.  It uses no WormFS code beyond mem and log.
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

#include "tests/fs/fullio.h"
#include "mem/mem.h"

#define MIB (1024LL * 1024)
#define LOG_LEN 64		/* operations kept for the failure report */

enum op_type {
	OP_WRITE,
	OP_TRUNCATE,
	OP_READ,
	OP_FSYNC,
	OP_REOPEN,
	OP_DROP,
};

static const char *const op_names[] = {
	[OP_WRITE] = "write", [OP_TRUNCATE] = "truncate", [OP_READ] = "read",
	[OP_FSYNC] = "fsync", [OP_REOPEN] = "reopen", [OP_DROP] = "drop",
};

struct op_rec {
	unsigned long n;	/* operation number, from 1 */
	enum op_type type;
	int64_t off;		/* write/read offset, truncate size */
	int64_t len;		/* write/read length */
	int64_t size_before;	/* the reference size before the operation */
};

struct fsx {
	char path[PATH_MAX];	/* the file under test */
	char ref_path[PATH_MAX];	/* the reference */
	int fd;
	int ref_fd;
	uint64_t rng;
	int64_t size;		/* the reference file's size */
	int64_t maxlen;
	int64_t maxop;
	unsigned long every;	/* full compare period */
	bool verbose;
	uint8_t *wbuf;		/* maxop bytes each */
	uint8_t *rbuf;
	uint8_t *refbuf;
	struct op_rec log[LOG_LEN];
	unsigned long done;	/* operations run */
};

static uint64_t rnd(struct fsx *f)
{
	/* xorshift64* */
	f->rng ^= f->rng >> 12;
	f->rng ^= f->rng << 25;
	f->rng ^= f->rng >> 27;
	return f->rng * 2685821657736338717ULL;
}

/* Uniform in [0, n); n > 0. */
static int64_t below(struct fsx *f, int64_t n)
{
	return (int64_t)(rnd(f) % (uint64_t)n);
}

static void log_op(struct fsx *f, enum op_type type, int64_t off, int64_t len)
{
	struct op_rec *r = &f->log[f->done % LOG_LEN];

	r->n = f->done + 1;
	r->type = type;
	r->off = off;
	r->len = len;
	r->size_before = f->size;
	if (f->verbose)
		printf("%lu %s 0x%" PRIx64 " 0x%" PRIx64 " (size 0x%" PRIx64 ")\n",
		       r->n, op_names[type], off, len, f->size);
}

static void print_log(const struct fsx *f)
{
	unsigned long first = f->done + 1 > LOG_LEN ? f->done + 1 - LOG_LEN : 0;

	printf("last operations (offsets and lengths in hex):\n");
	for (unsigned long i = first; i <= f->done; i++) {
		const struct op_rec *r = &f->log[i % LOG_LEN];

		if (r->n != i + 1)
			continue;
		printf("  %6lu %-8s off 0x%09" PRIx64 " len 0x%07" PRIx64
		       "   size was 0x%09" PRIx64 "\n",
		       r->n, op_names[r->type], r->off, r->len, r->size_before);
	}
}

/* Report a failure of the current operation and exit 1. */
static void __attribute__((noreturn, format(printf, 2, 3)))
fail(struct fsx *f, const char *fmt, ...)
{
	va_list ap;

	printf("fsx: FAILED at operation %lu: ", f->done + 1);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	print_log(f);
	printf("fsx: files kept: %s and reference %s\n", f->path, f->ref_path);
	fflush(stdout);
	exit(1);
}

/* Compare @len bytes at file offset @off; fail on the first difference. */
static void compare(struct fsx *f, const uint8_t *got, const uint8_t *want,
		    int64_t len, int64_t off, const char *what)
{
	int64_t i, end;

	for (i = 0; i < len && got[i] == want[i]; i++)
		;
	if (i == len)
		return;
	for (end = i; end < len && got[end] != want[end]; end++)
		;
	printf("fsx: %s differs at file offset 0x%" PRIx64 " (%" PRId64
	       " differing bytes in a row)\n", what, off + i, end - i);
	printf("  offset       file  reference\n");
	for (int64_t j = i; j < len && j < i + 16; j++)
		printf("  0x%09" PRIx64 "   %02x    %02x\n", off + j, got[j],
		       want[j]);
	fail(f, "%s: data mismatch", what);
}

static void check_size(struct fsx *f)
{
	struct stat st, rst;

	if (fstat(f->fd, &st) < 0)
		fail(f, "fstat: %s", strerror(errno));
	if (fstat(f->ref_fd, &rst) < 0)
		fail(f, "fstat of the reference: %s", strerror(errno));
	if (rst.st_size != f->size)
		fail(f, "reference size %lld, expected %" PRId64,
		     (long long)rst.st_size, f->size);
	if (st.st_size != f->size)
		fail(f, "size 0x%llx, reference 0x%" PRIx64,
		     (unsigned long long)st.st_size, f->size);
}

/* Read [off, off+len) from both and compare, including short reads. */
static void read_compare(struct fsx *f, int64_t off, int64_t len,
			 const char *what)
{
	ssize_t n = wfs_fsio_pread_all(f->fd, f->rbuf, (size_t)len, off);
	ssize_t rn = wfs_fsio_pread_all(f->ref_fd, f->refbuf, (size_t)len, off);

	if (n < 0)
		fail(f, "%s: pread 0x%" PRIx64 "+0x%" PRIx64 ": %s", what, off,
		     len, strerror((int)-n));
	if (rn < 0)
		fail(f, "%s: reference pread: %s", what, strerror((int)-rn));
	if (n != rn)
		fail(f, "%s: pread 0x%" PRIx64 "+0x%" PRIx64
		     " returned %zd bytes, reference %zd", what, off, len, n, rn);
	compare(f, f->rbuf, f->refbuf, n, off, what);
}

static void full_compare(struct fsx *f)
{
	for (int64_t off = 0; off < f->size; off += f->maxop) {
		int64_t len = f->size - off < f->maxop ? f->size - off : f->maxop;

		read_compare(f, off, len, "full compare");
	}
}

/* A random offset: often near a 1 MiB or 4 MiB boundary. */
static int64_t pick_offset(struct fsx *f, int64_t limit)
{
	int64_t off;

	if (limit <= 0)
		return 0;
	if (below(f, 4) == 0) {
		int64_t unit = below(f, 2) ? MIB : 4 * MIB;

		off = below(f, limit / unit + 1) * unit + below(f, 129) - 64;
		if (off < 0)
			off = 0;
		if (off >= limit)
			off = limit - 1;
		return off;
	}
	return below(f, limit);
}

/* A random length: mostly small, sometimes up to maxop. */
static int64_t pick_length(struct fsx *f)
{
	int64_t r = below(f, 10);

	if (r < 5)
		return 1 + below(f, f->maxop < 65536 ? f->maxop : 65536);
	if (r < 9)
		return 1 + below(f, f->maxop < MIB ? f->maxop : MIB);
	return 1 + below(f, f->maxop);
}

static void do_write(struct fsx *f)
{
	int64_t off = pick_offset(f, f->maxlen), len = pick_length(f);
	int rc;

	if (off + len > f->maxlen)
		len = f->maxlen - off;
	log_op(f, OP_WRITE, off, len);
	for (int64_t i = 0; i < len; i += 8) {
		uint64_t v = rnd(f);

		memcpy(f->wbuf + i, &v, len - i < 8 ? (size_t)(len - i) : 8);
	}
	rc = wfs_fsio_pwrite_all(f->fd, f->wbuf, (size_t)len, off);
	if (rc < 0)
		fail(f, "pwrite 0x%" PRIx64 "+0x%" PRIx64 ": %s", off, len,
		     strerror(-rc));
	rc = wfs_fsio_pwrite_all(f->ref_fd, f->wbuf, (size_t)len, off);
	if (rc < 0)
		fail(f, "reference pwrite: %s", strerror(-rc));
	if (off + len > f->size)
		f->size = off + len;
}

static void do_truncate(struct fsx *f)
{
	/* Half the time near the current size, to move the end a little. */
	int64_t size = below(f, 2) ? pick_offset(f, f->maxlen)
				   : f->size + below(f, 2 * MIB + 1) - MIB;

	if (size < 0)
		size = 0;
	if (size > f->maxlen)
		size = f->maxlen;
	log_op(f, OP_TRUNCATE, size, 0);
	if (ftruncate(f->fd, size) < 0)
		fail(f, "ftruncate 0x%" PRIx64 ": %s", size, strerror(errno));
	if (ftruncate(f->ref_fd, size) < 0)
		fail(f, "reference ftruncate: %s", strerror(errno));
	f->size = size;
}

static void do_read(struct fsx *f)
{
	/* Reads may start or run past the end: both must stop there. */
	int64_t off = pick_offset(f, f->size + MIB), len = pick_length(f);

	log_op(f, OP_READ, off, len);
	read_compare(f, off, len, "read");
}

static void do_fsync(struct fsx *f)
{
	bool data = below(f, 2);

	log_op(f, OP_FSYNC, data, 0);
	if ((data ? fdatasync(f->fd) : fsync(f->fd)) < 0)
		fail(f, "%s: %s", data ? "fdatasync" : "fsync", strerror(errno));
}

static int open_files(struct fsx *f, int flags)
{
	f->fd = open(f->path, O_RDWR | flags, 0644);
	if (f->fd < 0)
		return -errno;
	f->ref_fd = open(f->ref_path, O_RDWR | flags, 0644);
	if (f->ref_fd < 0) {
		int rc = -errno;

		close(f->fd);
		f->fd = -1;
		return rc;
	}
	return 0;
}

static void do_reopen(struct fsx *f)
{
	int rc;

	log_op(f, OP_REOPEN, 0, 0);
	if (close(f->fd) < 0)
		fail(f, "close: %s", strerror(errno));
	close(f->ref_fd);
	rc = open_files(f, 0);
	if (rc < 0)
		fail(f, "reopen: %s", strerror(-rc));
}

static void do_drop(struct fsx *f)
{
	log_op(f, OP_DROP, 0, 0);
	/* Advice only: a file system may keep its pages, never an error. */
	posix_fadvise(f->fd, 0, 0, POSIX_FADV_DONTNEED);
}

static void run_one(struct fsx *f)
{
	int64_t r = below(f, 100);

	if (r < 38)
		do_write(f);
	else if (r < 48)
		do_truncate(f);
	else if (r < 83)
		do_read(f);
	else if (r < 88)
		do_fsync(f);
	else if (r < 92)
		do_reopen(f);
	else
		do_drop(f);
	check_size(f);
	f->done++;
	if (f->every && f->done % f->every == 0) {
		full_compare(f);
		printf("fsx: %lu operations, size 0x%" PRIx64 ", files agree\n",
		       f->done, f->size);
		fflush(stdout);
	}
}

static int64_t parse_num(const char *s, const char *what)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno || end == s || v < 0) {
		fprintf(stderr, "fsx: bad %s: %s\n", what, s);
		exit(2);
	}
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end) {
		fprintf(stderr, "fsx: bad %s: %s\n", what, s);
		exit(2);
	}
	return v;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: fsx [-n OPS] [-s SEED] [-l MAXLEN] [-o MAXOP] [-c EVERY] "
		"[-v] DIR REFDIR\n"
		"  sizes take k, m, g suffixes; defaults -n 20000 -l 64m -o 4m "
		"-c 2000\n");
	exit(2);
}

static void parse_args(struct fsx *f, int argc, char **argv, uint64_t *seed,
		       unsigned long *ops)
{
	int opt;

	while ((opt = getopt(argc, argv, "n:s:l:o:c:v")) != -1) {
		switch (opt) {
		case 'n': *ops = (unsigned long)parse_num(optarg, "-n"); break;
		case 's': *seed = (uint64_t)parse_num(optarg, "-s"); break;
		case 'l': f->maxlen = parse_num(optarg, "-l"); break;
		case 'o': f->maxop = parse_num(optarg, "-o"); break;
		case 'c': f->every = (unsigned long)parse_num(optarg, "-c"); break;
		case 'v': f->verbose = true; break;
		default: usage();
		}
	}
	if (optind != argc - 2 || f->maxlen < 1 || f->maxop < 1 ||
	    f->maxop > 256 * MIB)
		usage();
	snprintf(f->path, sizeof(f->path), "%s/fsx.%d", argv[optind],
		 (int)getpid());
	snprintf(f->ref_path, sizeof(f->ref_path), "%s/fsx.%d.ref",
		 argv[optind + 1], (int)getpid());
}

int main(int argc, char **argv)
{
	struct fsx f = { .maxlen = 64 * MIB, .maxop = 4 * MIB, .every = 2000,
			 .fd = -1, .ref_fd = -1 };
	uint64_t seed = 0;
	unsigned long ops = 20000;
	struct timespec ts;
	int rc;

	clock_gettime(CLOCK_REALTIME, &ts);
	seed = ((uint64_t)ts.tv_sec * 1000003u) ^ (uint64_t)ts.tv_nsec ^
	       ((uint64_t)getpid() << 32);
	seed %= 1000000000;
	parse_args(&f, argc, argv, &seed, &ops);
	setvbuf(stdout, NULL, _IOLBF, 0);
	f.rng = seed * 0x9e3779b97f4a7c15ULL + 1;
	printf("fsx: seed %" PRIu64 " (replay with -s %" PRIu64 "), %lu "
	       "operations, file up to %" PRId64 " bytes, operations up to %"
	       PRId64 "\n", seed, seed, ops, f.maxlen, f.maxop);
	printf("fsx: file %s, reference %s\n", f.path, f.ref_path);
	f.wbuf = wfs_malloc((size_t)f.maxop);
	f.rbuf = wfs_malloc((size_t)f.maxop);
	f.refbuf = wfs_malloc((size_t)f.maxop);
	if (!f.wbuf || !f.rbuf || !f.refbuf) {
		fprintf(stderr, "fsx: out of memory\n");
		return 2;
	}
	rc = open_files(&f, O_CREAT | O_TRUNC | O_EXCL);
	if (rc < 0) {
		fprintf(stderr, "fsx: cannot create the files: %s\n",
			strerror(-rc));
		return 2;
	}
	while (f.done < ops)
		run_one(&f);
	do_reopen(&f);
	full_compare(&f);
	if (close(f.fd) < 0)
		fail(&f, "final close: %s", strerror(errno));
	close(f.ref_fd);
	unlink(f.path);
	unlink(f.ref_path);
	wfs_free(f.wbuf);
	wfs_free(f.rbuf);
	wfs_free(f.refbuf);
	printf("fsx: %lu operations passed, seed %" PRIu64 "\n", ops, seed);
	return 0;
}
