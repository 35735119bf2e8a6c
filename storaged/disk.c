/* storaged/disk: the layout of one disk directory, and the I/O on it.
 *
 * Layout of a disk directory <root>, format version 2:
 *
 *   <root>/wormfs-disk          format marker (below)
 *   <root>/clean-shutdown       empty flag: present only between a clean
 *                               detach and the next attach
 *   <root>/chunks/              made at format
 *   <root>/chunks/000 .. 999/   chunk folders, each made by the first write
 *                               into it
 *   <root>/chunks/NNN/<name>    one file per chunk (chunk/format.c layout)
 *   <root>/chunks/NNN/index     the folder's index (below)
 *   <root>/chunks/NNN/.tmp-*    temporary files of writes in flight
 *   <root>/.tmp-marker          the marker being written
 *
 * Folder.  Every chunk of stripe S lives in folder NNN = mix(S >> 6) mod
 * 1000, where mix is the splitmix64 finaliser:
 *   z = x + 0x9e3779b97f4a7c15
 *   z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
 *   z = (z ^ (z >> 27)) * 0x94d049bb133111eb
 *   mix(x) = z ^ (z >> 31)                     (all mod 2^64)
 * so a stripe's chunks on one disk share a folder (one lookup finds them
 * all), and so do those of a run of 64 consecutive stripe ids: the master
 * hands ids out in order, so files written together are read together,
 * and a cold read finds the folder's directory block and the inode-table
 * block its neighbours already brought in (small-file reads measured 20%
 * faster than with mix(S), which gave every stripe a folder of its own).
 * Folders still fill evenly whatever pattern stripe ids follow.  The
 * function is part of the format: changing it means a new version.
 *
 * Format 1 differed only in the folder: mix(S).  Attach moves the chunk
 * files of a format-1 disk to their format-2 folders (migrate_v1), with
 * <root>/migrating present from before the marker says 2 until every file
 * is in place: a build that reads only format 1 refuses the disk as newer
 * from the first file moved, and attach finishes a migration it finds
 * under way.
 *
 * Chunk file name: the stripe id, the stripe version (16 lower-case hex
 * digits each) and the chunk index (2), joined by '-':
 *   00000000000001a3-0000000000000002-05
 * The name alone says which chunk a file is, so a directory scan can list
 * a folder without opening its files.  The header inside must agree.
 *
 * Marker <root>/wormfs-disk: four lines of ASCII text, each ending in '\n':
 *   wormfs-disk 2                              format version, decimal
 *   disk-id 9f86d081884c7d659a2feaa0c55ad015   128 random bits, 32 hex
 *   node-id <id>                               the owning node, 1..64
 *                                              printable non-space bytes
 *   crc32c 1c291ca3                            CRC-32C of all bytes before
 *                                              this line, 8 hex digits
 * Nothing may follow.  It is written once, at format, atomically (written
 * to .tmp-marker, fsync, rename, fsync of the root), after chunks/, so a
 * directory with a marker always has its layout.  A folder is made when a
 * write first needs it (mkdir, fsync of chunks/), so an empty disk costs
 * no thousand directories; a folder that does not exist is empty.  What
 * tells a lost disk from a missing chunk is the root (same device and
 * inode as at attach) and chunks/ being there.
 *
 * Index <root>/chunks/NNN/index (absent in a folder that never held a
 * chunk): a 32-byte header, then 32-byte records, little-endian:
 *   header:  0 4  magic 'W' 'F' 'S' 'X'
 *            4 2  index version (1)
 *            6 2  record size (32)
 *            8 2  folder number NNN
 *           10 18 zero
 *           28 4  CRC-32C of bytes 0..27
 *   record:  0 1  type: 1 ADD (the file exists), 2 DEL (it was removed)
 *            1 1  chunk index
 *            2 2  zero
 *            4 4  data length (ADD), 0 (DEL)
 *            8 8  stripe id
 *           16 8  stripe version
 *           24 4  zero
 *           28 4  CRC-32C of bytes 0..27
 * Records are appended as chunks are written and removed; for one key the
 * last record wins.  The index is rewritten (temporary file, rename) with
 * only ADD records when it holds more than twice the records it needs, and
 * rebuilt from a scan of the folder when it is missing or damaged: a bad
 * header, any record failing its CRC, having non-zero reserved bytes or
 * naming a stripe of another folder, a length that is not a whole number of
 * records.  An index of another version is treated as damaged (a newer
 * layout would have a newer marker, which attach refuses first).
 *
 * The chunk files are the truth; the index makes listing and start-up fast.
 * Appends and rewrites are not fsync'ed.  Instead a clean detach flushes
 * the file system (syncfs) and then creates clean-shutdown, which promises
 * that every index is complete and no temporary file is left (the store
 * detaches uncleanly a disk where a write or an append failed); attach
 * removes it durably before anything changes.  So at attach:
 *   - clean-shutdown present: every index is trusted as is, no folder is
 *     listed (only a missing or damaged index is rebuilt from a scan);
 *   - absent (a crash, a power cut, a failed flush): every folder is
 *     scanned and reconciled with its index.  A chunk file the index lacks
 *     (a crash between the rename and the append) is added, its header read
 *     for the length; an index entry whose file is gone (a crash between
 *     the unlink and the append) is dropped; temporary files are removed.
 *
 * Version rule: the first line of the marker ("wormfs-disk N") keeps its
 * form in every version.  A change to anything above bumps N; attach
 * refuses a marker whose N is newer than it knows (-EPROTONOSUPPORT).
 */
#include "storaged/disk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "erasure/crc32c.h"
#include "log/log.h"
#include "mem/mem.h"

#define MARKER_NAME "wormfs-disk"
#define MARKER_TMP ".tmp-marker"
#define MARKER_MAX 4096
#define CLEAN_NAME "clean-shutdown"
#define TMP_PREFIX ".tmp-"
#define INDEX_NAME "index"
#define MIGRATING_NAME "migrating"
#define INDEX_TMP ".tmp-index"
#define INDEX_VERSION 1
#define REC_SIZE 32
/* An index larger than this is taken as damaged rather than loaded: a
 * compacted folder index holds at most twice its live chunks. */
#define INDEX_MAX (256UL << 20)
/* Bytes read to find a header: more than any version needs (format.c caps
 * header lengths at 4096), so a newer header is seen whole. */
#define HEADER_READ 4096

static const uint8_t index_magic[4] = { 'W', 'F', 'S', 'X' };

/* ---- small I/O helpers ---- */

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static int is_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

int wfs_disk_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* pread() up to @len bytes at @off; returns the count (short only at end of
 * file) or a negative errno. */
static ssize_t pread_all(int fd, void *buf, size_t len, off_t off)
{
	char *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, p + done, len - done, off + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static int close_checked(int fd)
{
	return close(fd) != 0 && errno != EINTR ? -errno : 0;
}

/* "<root>/chunks/NNN" or "<root>/chunks/NNN/<name>" into @buf. */
static int folder_path(char *buf, size_t len, const char *root,
		       unsigned folder, const char *name)
{
	int n;

	if (name)
		n = snprintf(buf, len, "%s/chunks/%03u/%s", root, folder, name);
	else
		n = snprintf(buf, len, "%s/chunks/%03u", root, folder);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int wfs_disk_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -errno;
	rc = fsync(fd) != 0 ? -errno : 0;
	close(fd);
	return rc;
}

/* ---- identity: node ids, the marker ---- */

int wfs_disk_node_id_valid(const char *node_id)
{
	size_t n = strlen(node_id);

	if (n == 0 || n > WFS_DISK_NODE_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)node_id[i] <= 0x20 ||
		    (unsigned char)node_id[i] >= 0x7f)
			return 0;
	return 1;
}

static int is_lower_hex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') ||
		      (p[i] >= 'a' && p[i] <= 'f')))
			return 0;
	return 1;
}

static uint64_t hex_value(const char *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 4 | (uint64_t)(p[i] <= '9' ? p[i] - '0'
						    : p[i] - 'a' + 10);
	return v;
}

/* Take the line at *p if it starts with @prefix: *val and *vlen are what
 * follows the prefix up to the newline, and *p moves past it. */
static int take_line(const char **p, const char *end, const char *prefix,
		     const char **val, size_t *vlen)
{
	size_t plen = strlen(prefix);
	const char *nl;

	if ((size_t)(end - *p) < plen || memcmp(*p, prefix, plen) != 0)
		return 0;
	nl = memchr(*p + plen, '\n', (size_t)(end - *p) - plen);
	if (!nl)
		return 0;
	*val = *p + plen;
	*vlen = (size_t)(nl - *val);
	*p = nl + 1;
	return 1;
}

static int marker_parse(const char *buf, size_t len, struct wfs_disk_ident *id)
{
	const char *p = buf, *end = buf + len, *val, *crc_at;
	size_t vlen;
	unsigned long version = 0;

	if (!take_line(&p, end, "wormfs-disk ", &val, &vlen) || vlen == 0 ||
	    vlen > 9 || (val[0] == '0'))
		return -EBADMSG;
	for (size_t i = 0; i < vlen; i++) {
		if (val[i] < '0' || val[i] > '9')
			return -EBADMSG;
		version = version * 10 + (unsigned long)(val[i] - '0');
	}
	id->version = (unsigned)version;
	/* The first line means the same in every version: a newer one is
	 * refused as such even if we cannot parse the rest. */
	if (version > WFS_DISK_FORMAT_VERSION)
		return -EPROTONOSUPPORT;
	if (!take_line(&p, end, "disk-id ", &val, &vlen) ||
	    vlen != WFS_DISK_ID_LEN || !is_lower_hex(val, vlen))
		return -EBADMSG;
	memcpy(id->disk_id, val, vlen);
	id->disk_id[vlen] = '\0';
	if (!take_line(&p, end, "node-id ", &val, &vlen) || vlen == 0 ||
	    vlen > WFS_DISK_NODE_ID_MAX)
		return -EBADMSG;
	memcpy(id->node_id, val, vlen);
	id->node_id[vlen] = '\0';
	if (!wfs_disk_node_id_valid(id->node_id))
		return -EBADMSG;
	crc_at = p;
	if (!take_line(&p, end, "crc32c ", &val, &vlen) || vlen != 8 ||
	    !is_lower_hex(val, vlen) || p != end)
		return -EBADMSG;
	if (wfs_crc32c(0, buf, (size_t)(crc_at - buf)) != hex_value(val, 8))
		return -EBADMSG;
	return 0;
}

static int marker_read(int rootfd, struct wfs_disk_ident *id)
{
	char buf[MARKER_MAX + 1];
	ssize_t n;
	int fd = openat(rootfd, MARKER_NAME, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = pread_all(fd, buf, sizeof(buf), 0);
	close(fd);
	if (n < 0)
		return (int)n;
	if (n > MARKER_MAX)
		return -EBADMSG;
	return marker_parse(buf, (size_t)n, id);
}

static int marker_write(int rootfd, const struct wfs_disk_ident *id)
{
	char buf[MARKER_MAX];
	int len, fd, rc;

	len = snprintf(buf, sizeof(buf), "wormfs-disk %u\ndisk-id %s\n"
			"node-id %s\n", WFS_DISK_FORMAT_VERSION, id->disk_id,
			id->node_id);
	len += snprintf(buf + len, sizeof(buf) - (size_t)len, "crc32c %08x\n",
			wfs_crc32c(0, buf, (size_t)len));
	fd = openat(rootfd, MARKER_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0644);
	if (fd < 0)
		return -errno;
	rc = wfs_disk_write_all(fd, buf, (size_t)len);
	if (rc == 0 && fsync(fd) != 0)
		rc = -errno;
	if (close_checked(fd) != 0 && rc == 0)
		rc = -EIO;
	if (rc == 0 && renameat(rootfd, MARKER_TMP, rootfd, MARKER_NAME) != 0)
		rc = -errno;
	if (rc == 0 && fsync(rootfd) != 0)
		rc = -errno;
	if (rc != 0)
		unlinkat(rootfd, MARKER_TMP, 0);
	return rc;
}

/* ---- format and attach ---- */

/* Open directory @name under @dirfd as a DIR stream. */
static DIR *open_dir_at(int dirfd, const char *name, int *err)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;

	if (fd < 0) {
		*err = -errno;
		return NULL;
	}
	d = fdopendir(fd);
	if (!d) {
		*err = -errno;
		close(fd);
	}
	return d;
}

/* Next entry other than "." and ".."; NULL at the end or on error (*err). */
static struct dirent *next_entry(DIR *d, int *err)
{
	struct dirent *e;

	for (;;) {
		errno = 0;
		e = readdir(d);
		if (!e) {
			*err = errno ? -errno : 0;
			return NULL;
		}
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			return e;
	}
}

/* Open chunk folder @f of @root for listing, its path into @path (PATH_MAX
 * bytes).  Returns 0 with *d, 0 with *d NULL when the folder does not exist
 * (it is empty), or a negative errno. */
static int folder_opendir(const char *root, unsigned f, char *path, DIR **d)
{
	int rc = folder_path(path, PATH_MAX, root, f, NULL);

	*d = NULL;
	if (rc != 0)
		return rc;
	*d = opendir(path);
	return *d || errno == ENOENT ? 0 : -errno;
}

static int is_folder_name(const char *s)
{
	return s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' &&
	       s[2] >= '0' && s[2] <= '9' && s[3] == '\0';
}

/* 0 if @name under @dirfd is an empty directory, -ENOTEMPTY otherwise. */
static int dir_empty_at(int dirfd, const char *name)
{
	int err = 0;
	DIR *d = open_dir_at(dirfd, name, &err);
	struct dirent *e;

	if (!d)
		return err == -ENOTDIR ? -ENOTEMPTY : err;
	e = next_entry(d, &err);
	closedir(d);
	if (e)
		return -ENOTEMPTY;
	return err;
}

/* A chunks folder left by an interrupted format: nothing but empty NNN
 * folders. */
static int chunks_blank(int rootfd)
{
	int err = 0, rc = 0;
	DIR *d = open_dir_at(rootfd, "chunks", &err);
	struct dirent *e;

	if (!d)
		return err == -ENOTDIR ? -ENOTEMPTY : err;
	while (rc == 0 && (e = next_entry(d, &err)) != NULL) {
		if (!is_folder_name(e->d_name))
			rc = -ENOTEMPTY;
		else
			rc = dir_empty_at(dirfd(d), e->d_name);
	}
	closedir(d);
	return rc ? rc : err;
}

/* A directory may be formatted when it holds nothing but lost+found (a
 * fresh ext4 mount point) and the leftovers of an interrupted format. */
static int check_blank(int rootfd)
{
	int err = 0, rc = 0;
	DIR *d = open_dir_at(rootfd, ".", &err);
	struct dirent *e;

	if (!d)
		return err;
	while (rc == 0 && (e = next_entry(d, &err)) != NULL) {
		if (strcmp(e->d_name, "lost+found") == 0 ||
		    strcmp(e->d_name, MARKER_TMP) == 0)
			continue;
		if (strcmp(e->d_name, "chunks") == 0)
			rc = chunks_blank(rootfd);
		else
			rc = -ENOTEMPTY;
	}
	closedir(d);
	return rc ? rc : err;
}

/* Make chunks/ if it is missing; *made says whether it was. */
static int chunks_ensure(int rootfd, int *made)
{
	*made = 0;
	if (mkdirat(rootfd, "chunks", 0755) != 0)
		return errno == EEXIST ? 0 : -errno;
	*made = 1;
	return fsync(rootfd) != 0 ? -errno : 0;
}

static int format(int rootfd, const char *root, const char *node_id,
		  struct wfs_disk_ident *id)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[WFS_DISK_ID_LEN / 2];
	int made, rc;

	rc = check_blank(rootfd);
	if (rc != 0)
		return rc;
	rc = chunks_ensure(rootfd, &made);
	if (rc != 0)
		return rc;
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -EIO;
	for (size_t i = 0; i < sizeof(rnd); i++) {
		id->disk_id[2 * i] = hex[rnd[i] >> 4];
		id->disk_id[2 * i + 1] = hex[rnd[i] & 15];
	}
	id->disk_id[WFS_DISK_ID_LEN] = '\0';
	snprintf(id->node_id, sizeof(id->node_id), "%s", node_id);
	id->version = WFS_DISK_FORMAT_VERSION;
	rc = marker_write(rootfd, id);
	if (rc != 0)
		return rc;
	id->formatted = 1;
	wfs_log_info("disk", "disk %s (%s): formatted for node %s",
		     id->disk_id, root, node_id);
	return 0;
}

/* Consume the clean-shutdown flag, durably, before anything changes. */
static int clean_take(int rootfd, int *clean)
{
	*clean = 0;
	if (unlinkat(rootfd, CLEAN_NAME, 0) != 0)
		return errno == ENOENT ? 0 : -errno;
	*clean = 1;
	return fsync(rootfd) != 0 ? -errno : 0;
}

static int folder_make(const char *root, unsigned folder);

/* fsync every chunk folder that exists.  Returns 0 or a negative errno. */
static int fsync_folders(const char *root)
{
	char path[PATH_MAX];
	int rc = 0;

	for (unsigned f = 0; f < WFS_DISK_FOLDERS && rc == 0; f++) {
		rc = folder_path(path, sizeof(path), root, f, NULL);
		if (rc == 0)
			rc = wfs_disk_fsync_dir(path);
		if (rc == -ENOENT)
			rc = 0;
	}
	return rc;
}

/* Move the chunk files of folder @f that format 2 puts elsewhere, and
 * remove its index (it lists the old places; the store rebuilds it by
 * scanning).  Adds the files moved to *moved. */
static int migrate_folder(const char *root, unsigned f, uint64_t *moved)
{
	char path[PATH_MAX], dst[PATH_MAX];
	struct wfs_chunk_key key;
	struct dirent *e;
	int err = 0, rc;
	DIR *d;

	rc = folder_opendir(root, f, path, &d);
	if (rc != 0 || !d)
		return rc;
	while (rc == 0 && (e = next_entry(d, &err)) != NULL) {
		unsigned to;

		if (strcmp(e->d_name, INDEX_NAME) == 0) {
			if (unlinkat(dirfd(d), e->d_name, 0) != 0 &&
			    errno != ENOENT)
				rc = -errno;
			continue;
		}
		/* Temporary files are left for the scan to remove. */
		if (wfs_disk_chunk_name_parse(e->d_name, &key) != 0)
			continue;
		to = wfs_disk_folder(key.stripe_id);
		if (to == f)
			continue;
		rc = folder_make(root, to);
		if (rc == 0)
			rc = folder_path(dst, sizeof(dst), root, to, e->d_name);
		if (rc != 0)
			break;
		/* A file of that name there already is the same chunk, moved
		 * before a crash and then put back here by nobody: drop this
		 * one.  A file gone meanwhile is nothing to move. */
		if (renameat2(dirfd(d), e->d_name, AT_FDCWD, dst,
			      RENAME_NOREPLACE) == 0)
			(*moved)++;
		else if (errno == EEXIST)
			rc = unlinkat(dirfd(d), e->d_name, 0) == 0 ||
					     errno == ENOENT
				     ? 0 : -errno;
		else if (errno != ENOENT)
			rc = -errno;
	}
	closedir(d);
	return rc ? rc : err;
}

/* Durably create (@on) or remove <root>/migrating. */
static int migrating_set(int rootfd, bool on)
{
	int fd;

	if (on) {
		fd = openat(rootfd, MIGRATING_NAME,
			    O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			return -errno;
		close(fd);
	} else if (unlinkat(rootfd, MIGRATING_NAME, 0) != 0 &&
		   errno != ENOENT) {
		return -errno;
	}
	return fsync(rootfd) != 0 ? -errno : 0;
}

/* Passes over the folders a migration makes at most: one moves every file
 * on the file systems we know; a second finds any a directory listing
 * missed while files were renamed out of it. */
#define MIGRATE_PASSES 3

/* A disk of format 1 (chunk folders by mix(S), see the top of this file),
 * or one whose migration was under way (<root>/migrating): mark it
 * migrating and format 2 (from then on a format-1 build refuses it), move
 * every chunk file to its format-2 folder, drop the indexes (the store
 * rebuilds them by scanning), make all of it durable, and only then remove
 * the mark.  Each step can be done again, so a crash part-way leaves a
 * disk the next attach finishes. */
static int migrate_v1(int rootfd, const char *root, struct wfs_disk_ident *id)
{
	uint64_t moved = 0, before;
	int rc = 0, pass = 0;

	wfs_log_info("disk", "disk %s (%s): format %u, moving its chunk files "
		     "to the folders of format %u (once; this may take a "
		     "while on a full disk)", id->disk_id, root, id->version,
		     WFS_DISK_FORMAT_VERSION);
	rc = migrating_set(rootfd, true);
	if (rc == 0 && id->version < WFS_DISK_FORMAT_VERSION) {
		id->version = WFS_DISK_FORMAT_VERSION;
		rc = marker_write(rootfd, id);
	}
	do {
		before = moved;
		for (unsigned f = 0; f < WFS_DISK_FOLDERS && rc == 0; f++)
			rc = migrate_folder(root, f, &moved);
	} while (rc == 0 && moved != before && ++pass < MIGRATE_PASSES);
	if (rc == 0)
		rc = fsync_folders(root);
	if (rc == 0)
		rc = migrating_set(rootfd, false);
	if (rc != 0) {
		wfs_log_error("disk", "disk %s (%s): moving chunk files to "
			      "format %u failed: %s; the next start tries "
			      "again", id->disk_id, root,
			      WFS_DISK_FORMAT_VERSION, strerror(-rc));
		return rc;
	}
	wfs_log_info("disk", "disk %s (%s): now format %u (%llu chunk files "
		     "moved)", id->disk_id, root, id->version,
		     (unsigned long long)moved);
	return 0;
}

int wfs_disk_attach(const char *root, const char *node_id,
		    struct wfs_disk_ident *id, int *lock_fd)
{
	struct stat st;
	int fd, rc;

	memset(id, 0, sizeof(*id));
	if (!wfs_disk_node_id_valid(node_id))
		return -EINVAL;
	if (strlen(root) > WFS_DISK_ROOT_MAX)
		return -ENAMETOOLONG;
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		goto out_close;
	}
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		goto out_close;
	}
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	rc = marker_read(fd, id);
	if (rc == -ENOENT)
		rc = format(fd, root, node_id, id);
	if (rc != 0)
		goto out_close;
	if (strcmp(id->node_id, node_id) != 0) {
		rc = -EEXIST;
		goto out_close;
	}
	rc = chunks_ensure(fd, &id->repaired);
	if (rc != 0)
		goto out_close;
	if (id->repaired && !id->formatted)
		wfs_log_warn("disk", "disk %s (%s): chunks/ was missing and is "
			     "made again", id->disk_id, root);
	rc = clean_take(fd, &id->clean);
	if (rc != 0)
		goto out_close;
	/* After the clean flag is gone: a migration drops the indexes that
	 * flag vouches for. */
	if (id->version < WFS_DISK_FORMAT_VERSION ||
	    faccessat(fd, MIGRATING_NAME, F_OK, 0) == 0) {
		rc = migrate_v1(fd, root, id);
		if (rc != 0)
			goto out_close;
	}
	*lock_fd = fd;
	return 0;

out_close:
	close(fd);
	return rc;
}

int wfs_disk_detach(int lock_fd, int clean)
{
	int rc = 0, fd;

	if (clean) {
		if (syncfs(lock_fd) != 0)
			rc = -errno;
		if (rc == 0) {
			fd = openat(lock_fd, CLEAN_NAME,
				    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
				    0644);
			if (fd < 0)
				rc = -errno;
			else
				close(fd);
		}
		if (rc == 0 && fsync(lock_fd) != 0)
			rc = -errno;
	}
	close(lock_fd);
	return rc;
}

int wfs_disk_check(const char *root, const struct wfs_disk_ident *id)
{
	char path[PATH_MAX];
	struct stat st;
	int n;

	if (stat(root, &st) != 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (st.st_dev != id->dev || st.st_ino != id->ino)
		return -ESTALE;
	n = snprintf(path, sizeof(path), "%s/chunks", root);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	if (stat(path, &st) != 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int wfs_disk_space(const char *root, uint64_t *capacity, uint64_t *avail)
{
	struct statvfs vfs;

	if (statvfs(root, &vfs) != 0)
		return -errno;
	*capacity = (uint64_t)vfs.f_blocks * vfs.f_frsize;
	*avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	return 0;
}

/* ---- names ---- */

unsigned wfs_disk_folder(uint64_t stripe_id)
{
	uint64_t z = (stripe_id >> 6) + 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return (unsigned)(z % WFS_DISK_FOLDERS);
}

void wfs_disk_chunk_name(const struct wfs_chunk_key *key,
			 char buf[WFS_DISK_CHUNK_NAME_LEN + 1])
{
	snprintf(buf, WFS_DISK_CHUNK_NAME_LEN + 1, "%016llx-%016llx-%02x",
		 (unsigned long long)key->stripe_id,
		 (unsigned long long)key->version, key->index & 0xff);
}

int wfs_disk_chunk_name_parse(const char *name, struct wfs_chunk_key *key)
{
	if (strlen(name) != WFS_DISK_CHUNK_NAME_LEN || name[16] != '-' ||
	    name[33] != '-' || !is_lower_hex(name, 16) ||
	    !is_lower_hex(name + 17, 16) || !is_lower_hex(name + 34, 2))
		return -EINVAL;
	key->stripe_id = hex_value(name, 16);
	key->version = hex_value(name + 17, 16);
	key->index = (uint32_t)hex_value(name + 34, 2);
	return 0;
}

static int chunk_path(char *buf, size_t len, const char *root,
		      const struct wfs_chunk_key *key)
{
	char name[WFS_DISK_CHUNK_NAME_LEN + 1];

	wfs_disk_chunk_name(key, name);
	return folder_path(buf, len, root, wfs_disk_folder(key->stripe_id),
			   name);
}

/* ---- chunk files ---- */

/* Make chunk folder @folder, durably (its entry lives in chunks/). */
static int folder_make(const char *root, unsigned folder)
{
	char path[PATH_MAX];
	int rc = folder_path(path, sizeof(path), root, folder, NULL);

	if (rc != 0)
		return rc;
	if (mkdir(path, 0755) != 0)
		return errno == EEXIST ? 0 : -errno;
	*strrchr(path, '/') = '\0';
	return wfs_disk_fsync_dir(path);
}

int wfs_disk_chunk_put(const char *root, const struct wfs_chunk_header *hdr,
		       const void *data, uint64_t tmp_seq)
{
	struct wfs_chunk_key key = wfs_chunk_header_key(hdr);
	unsigned folder = wfs_disk_folder(key.stripe_id);
	char tmp[PATH_MAX], path[PATH_MAX], name[32];
	uint8_t head[WFS_CHUNK_HEADER_SIZE];
	int fd, rc;

	snprintf(name, sizeof(name), TMP_PREFIX "%016llx",
		 (unsigned long long)tmp_seq);
	rc = folder_path(tmp, sizeof(tmp), root, folder, name);
	if (rc == 0)
		rc = chunk_path(path, sizeof(path), root, &key);
	if (rc != 0)
		return rc;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 && errno == ENOENT) {
		rc = folder_make(root, folder);
		if (rc != 0)
			return rc;
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	}
	if (fd < 0)
		return -errno;
	wfs_chunk_header_encode(hdr, head);
	rc = wfs_disk_write_all(fd, head, sizeof(head));
	if (rc == 0)
		rc = wfs_disk_write_all(fd, data, hdr->data_len);
	if (rc == 0 && fdatasync(fd) != 0)
		rc = -errno;
	if (close_checked(fd) != 0 && rc == 0)
		rc = -EIO;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc != 0) {
		unlink(tmp);
		return rc;
	}
	rc = folder_path(tmp, sizeof(tmp), root, folder, NULL);
	return rc ? rc : wfs_disk_fsync_dir(tmp);
}

/* Read and check the header of the open chunk file @fd, which should be
 * @key.  *size gets the file's length. */
static int read_header(int fd, const struct wfs_chunk_key *key,
		       struct wfs_chunk_header *hdr)
{
	uint8_t buf[HEADER_READ];
	struct stat st;
	size_t want;
	ssize_t n;
	int rc;

	if (fstat(fd, &st) != 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EBADMSG;
	want = (uint64_t)st.st_size < sizeof(buf) ? (size_t)st.st_size
						  : sizeof(buf);
	n = pread_all(fd, buf, want, 0);
	if (n < 0)
		return (int)n;
	rc = wfs_chunk_header_decode(buf, (size_t)n, hdr);
	if (rc != 0)
		return rc;
	if (hdr->stripe_id != key->stripe_id ||
	    hdr->stripe_version != key->version ||
	    hdr->chunk_index != key->index)
		return -EBADMSG;
	if ((uint64_t)st.st_size != WFS_CHUNK_HEADER_SIZE + (uint64_t)hdr->data_len)
		return -EBADMSG;
	return 0;
}

static int open_chunk(const char *root, const struct wfs_chunk_key *key)
{
	char path[PATH_MAX];
	int rc = chunk_path(path, sizeof(path), root, key);
	int fd;

	if (rc != 0)
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Read header and data of a chunk that fits @buf in one preadv (a small
 * chunk is then one disk read, not two dependent ones).  Returns 0 and the
 * checked chunk, 1 when the one read does not do (the file is larger than
 * @buf, or a short read): the caller reads it the long way; or an error. */
static int read_whole(int fd, const struct wfs_chunk_key *key,
		      struct wfs_chunk_header *hdr, void *buf, size_t buflen)
{
	uint8_t hbuf[WFS_CHUNK_HEADER_SIZE];
	struct iovec iov[2];
	struct stat st;
	size_t dlen;
	ssize_t n;
	int rc;

	if (fstat(fd, &st) != 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size < WFS_CHUNK_HEADER_SIZE)
		return -EBADMSG;
	dlen = (size_t)st.st_size - WFS_CHUNK_HEADER_SIZE;
	if (dlen > buflen)
		return 1;
	iov[0] = (struct iovec){ hbuf, sizeof(hbuf) };
	iov[1] = (struct iovec){ buf, dlen };
	do
		n = preadv(fd, iov, 2, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n != sizeof(hbuf) + dlen)
		return 1;
	rc = wfs_chunk_header_decode(hbuf, sizeof(hbuf), hdr);
	if (rc != 0)
		return rc;
	if (hdr->stripe_id != key->stripe_id ||
	    hdr->stripe_version != key->version ||
	    hdr->chunk_index != key->index || hdr->data_len != dlen)
		return -EBADMSG;
	return wfs_chunk_verify(hdr, buf, dlen);
}

int wfs_disk_chunk_prefetch(const char *root, const struct wfs_chunk_key *key)
{
	int fd = open_chunk(root, key);
	int rc;

	if (fd < 0)
		return fd;
	rc = -posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
	close(fd);
	return rc;
}

int wfs_disk_chunk_read(const char *root, const struct wfs_chunk_key *key,
			struct wfs_chunk_header *hdr, void *buf,
			size_t buflen)
{
	int fd = open_chunk(root, key);
	ssize_t n;
	int rc;

	if (fd < 0)
		return fd;
	rc = read_whole(fd, key, hdr, buf, buflen);
	if (rc <= 0)
		goto out_close;
	rc = read_header(fd, key, hdr);
	if (rc != 0)
		goto out_close;
	if (hdr->data_len > buflen) {
		rc = -EOVERFLOW;
		goto out_close;
	}
	n = pread_all(fd, buf, hdr->data_len, WFS_CHUNK_HEADER_SIZE);
	if (n < 0)
		rc = (int)n;
	else
		rc = wfs_chunk_verify(hdr, buf, (size_t)n);
out_close:
	close(fd);
	return rc;
}

int wfs_disk_chunk_stat(const char *root, const struct wfs_chunk_key *key,
			struct wfs_chunk_header *hdr)
{
	int fd = open_chunk(root, key);
	int rc;

	if (fd < 0)
		return fd;
	rc = read_header(fd, key, hdr);
	close(fd);
	return rc;
}

int wfs_disk_chunk_verify(const char *root, const struct wfs_chunk_key *key,
			  struct wfs_chunk_header *hdr, void *scratch,
			  size_t scratch_len)
{
	int fd = open_chunk(root, key);
	uint32_t crc = 0;
	uint64_t off = 0;
	int rc;

	if (fd < 0)
		return fd;
	rc = read_header(fd, key, hdr);
	while (rc == 0 && off < hdr->data_len) {
		size_t want = hdr->data_len - off < scratch_len
				      ? (size_t)(hdr->data_len - off)
				      : scratch_len;
		ssize_t n = pread_all(fd, scratch, want,
				      (off_t)(WFS_CHUNK_HEADER_SIZE + off));

		if (n < 0)
			rc = (int)n;
		else if ((size_t)n < want)
			rc = -EBADMSG;
		else
			crc = wfs_crc32c(crc, scratch, want);
		off += want;
	}
	if (rc == 0 && crc != hdr->data_crc)
		rc = -EBADMSG;
	close(fd);
	return rc;
}

int wfs_disk_chunk_unlink(const char *root, const struct wfs_chunk_key *key)
{
	char path[PATH_MAX];
	int rc = chunk_path(path, sizeof(path), root, key);

	if (rc != 0)
		return rc;
	if (unlink(path) != 0)
		return -errno;
	rc = folder_path(path, sizeof(path), root,
			 wfs_disk_folder(key->stripe_id), NULL);
	return rc ? rc : wfs_disk_fsync_dir(path);
}

/* ---- folder indexes ---- */

static void index_header(uint8_t *p, unsigned folder)
{
	memset(p, 0, REC_SIZE);
	memcpy(p, index_magic, 4);
	p[4] = INDEX_VERSION;
	p[6] = REC_SIZE;
	p[8] = (uint8_t)folder;
	p[9] = (uint8_t)(folder >> 8);
	put32(p + 28, wfs_crc32c(0, p, 28));
}

static int index_header_ok(const uint8_t *p, unsigned folder)
{
	return memcmp(p, index_magic, 4) == 0 && p[4] == INDEX_VERSION &&
	       p[5] == 0 && p[6] == REC_SIZE && p[7] == 0 &&
	       p[8] == (uint8_t)folder && p[9] == (uint8_t)(folder >> 8) &&
	       is_zero(p + 10, 18) && get32(p + 28) == wfs_crc32c(0, p, 28);
}

static void rec_encode(uint8_t *p, const struct wfs_disk_rec *rec)
{
	memset(p, 0, REC_SIZE);
	p[0] = (uint8_t)rec->type;
	p[1] = (uint8_t)rec->key.index;
	put32(p + 4, rec->type == WFS_DISK_REC_ADD ? rec->data_len : 0);
	put64(p + 8, rec->key.stripe_id);
	put64(p + 16, rec->key.version);
	put32(p + 28, wfs_crc32c(0, p, 28));
}

static int rec_decode(const uint8_t *p, unsigned folder,
		      struct wfs_disk_rec *rec)
{
	if (get32(p + 28) != wfs_crc32c(0, p, 28))
		return -EBADMSG;
	if ((p[0] != WFS_DISK_REC_ADD && p[0] != WFS_DISK_REC_DEL) ||
	    p[2] || p[3] || !is_zero(p + 24, 4))
		return -EBADMSG;
	rec->type = p[0];
	rec->key.index = p[1];
	rec->data_len = get32(p + 4);
	rec->key.stripe_id = get64(p + 8);
	rec->key.version = get64(p + 16);
	if (wfs_disk_folder(rec->key.stripe_id) != folder)
		return -EBADMSG;
	return 0;
}

static int index_decode_all(int fd, unsigned folder, struct wfs_disk_rec *recs,
			    size_t n)
{
	uint8_t buf[256 * REC_SIZE];
	size_t done = 0;

	while (done < n) {
		size_t want = n - done < 256 ? n - done : 256;
		ssize_t got = pread_all(fd, buf, want * REC_SIZE,
					(off_t)((done + 1) * REC_SIZE));

		if (got < 0)
			return (int)got;
		if ((size_t)got < want * REC_SIZE)
			return -EBADMSG;
		for (size_t i = 0; i < want; i++)
			if (rec_decode(buf + i * REC_SIZE, folder,
				       &recs[done + i]) != 0)
				return -EBADMSG;
		done += want;
	}
	return 0;
}

int wfs_disk_index_read(const char *root, unsigned folder,
			struct wfs_disk_rec **recs, size_t *n)
{
	char path[PATH_MAX];
	uint8_t head[REC_SIZE];
	struct wfs_disk_rec *v = NULL;
	struct stat st;
	size_t count;
	int fd, rc;

	*recs = NULL;
	*n = 0;
	rc = folder_path(path, sizeof(path), root, folder, INDEX_NAME);
	if (rc != 0)
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		goto out_close;
	}
	if (st.st_size < REC_SIZE || st.st_size % REC_SIZE != 0 ||
	    (uint64_t)st.st_size > INDEX_MAX ||
	    pread_all(fd, head, REC_SIZE, 0) != REC_SIZE ||
	    !index_header_ok(head, folder)) {
		rc = -EBADMSG;
		goto out_close;
	}
	count = (size_t)st.st_size / REC_SIZE - 1;
	if (count) {
		v = wfs_calloc(count, sizeof(*v));
		if (!v) {
			rc = -ENOMEM;
			goto out_close;
		}
		rc = index_decode_all(fd, folder, v, count);
		if (rc != 0) {
			wfs_free(v);
			goto out_close;
		}
	}
	*recs = v;
	*n = count;
out_close:
	close(fd);
	return rc;
}

int wfs_disk_index_append(const char *root, unsigned folder,
			  const struct wfs_disk_rec *rec)
{
	uint8_t buf[2 * REC_SIZE];
	char path[PATH_MAX];
	size_t len = 0;
	off_t end;
	int fd, rc;

	rc = folder_path(path, sizeof(path), root, folder, INDEX_NAME);
	if (rc != 0)
		return rc;
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		rc = folder_make(root, folder);
		if (rc != 0)
			return rc;
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
			  0644);
	}
	if (fd < 0)
		return -errno;
	end = lseek(fd, 0, SEEK_END);
	if (end < 0) {
		rc = -errno;
		goto out_close;
	}
	if (end == 0) {
		index_header(buf, folder);
		len = REC_SIZE;
	}
	rec_encode(buf + len, rec);
	len += REC_SIZE;
	rc = wfs_disk_write_all(fd, buf, len);
	if (rc != 0 && ftruncate(fd, end) != 0)
		wfs_log_debug("disk", "%s: cannot cut back a failed append: %s",
			      path, strerror(errno));
out_close:
	if (close_checked(fd) != 0 && rc == 0)
		rc = -EIO;
	return rc;
}

int wfs_disk_index_write(const char *root, unsigned folder,
			 const struct wfs_disk_rec *recs, size_t n)
{
	uint8_t buf[256 * REC_SIZE];
	char tmp[PATH_MAX], path[PATH_MAX];
	size_t used;
	int fd, rc;

	rc = folder_path(tmp, sizeof(tmp), root, folder, INDEX_TMP);
	if (rc == 0)
		rc = folder_path(path, sizeof(path), root, folder, INDEX_NAME);
	if (rc != 0)
		return rc;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	index_header(buf, folder);
	used = REC_SIZE;
	for (size_t i = 0; i < n && rc == 0; i++) {
		rec_encode(buf + used, &recs[i]);
		used += REC_SIZE;
		if (used == sizeof(buf)) {
			rc = wfs_disk_write_all(fd, buf, used);
			used = 0;
		}
	}
	if (rc == 0 && used)
		rc = wfs_disk_write_all(fd, buf, used);
	if (close_checked(fd) != 0 && rc == 0)
		rc = -EIO;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc != 0)
		unlink(tmp);
	return rc;
}

int wfs_disk_folder_scan(const char *root, unsigned folder,
			 wfs_disk_scan_cb cb, void *arg)
{
	char path[PATH_MAX];
	struct wfs_chunk_key key;
	struct dirent *e;
	int err = 0, rc;
	DIR *d;

	rc = folder_opendir(root, folder, path, &d);
	if (rc != 0 || !d)
		return rc;
	while (rc == 0 && (e = next_entry(d, &err)) != NULL) {
		if (strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0) {
			if (unlinkat(dirfd(d), e->d_name, 0) != 0 &&
			    errno != ENOENT)
				rc = -errno;
			else
				wfs_log_debug("disk", "%s/%s: leftover removed",
					      path, e->d_name);
			continue;
		}
		if (wfs_disk_chunk_name_parse(e->d_name, &key) != 0)
			continue;	/* the index, or not ours */
		if (wfs_disk_folder(key.stripe_id) != folder) {
			wfs_log_warn("disk", "%s/%s: chunk in the wrong folder, "
				     "ignored", path, e->d_name);
			continue;
		}
		rc = cb(&key, arg);
	}
	closedir(d);
	return rc ? rc : err;
}
