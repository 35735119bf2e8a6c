/* storaged/identity: the node's key pair and the ids derived from it (see
 * identity.h).
 *
 * node.key, version 1: 44 bytes.
 *
 *   offset  size  field
 *        0     7  magic "WFSNKEY"
 *        7     1  format version, 1
 *        8    32  Ed25519 seed (crypto_sign_seed_keypair makes the pair)
 *       40     4  CRC-32C of bytes 0..39, little-endian
 *
 * Version rule: a reader refuses versions it does not know; a new version
 * keeps the magic and the version byte where they are.  The seed alone is
 * kept because the whole key pair follows from it.
 *
 * The file is written to node.key.tmp (O_EXCL, mode 0600), fsync'ed,
 * renamed over node.key and the folder fsync'ed, so a crash leaves either
 * no key or a whole one.  It is refused when its mode lets group or others
 * in: a secret anyone on the machine can read identifies nobody.
 */
#include "storaged/identity.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "erasure/crc32c.h"
#include "log/log.h"
#include "storaged/disk.h"

#define SUB "identity"
#define KEY_FILE_LEN 44
#define SEED_LEN 32
static const char magic[7] = { 'W', 'F', 'S', 'N', 'K', 'E', 'Y' };

_Static_assert(crypto_sign_PUBLICKEYBYTES == WFS_IDENTITY_PK_LEN, "pk");
_Static_assert(crypto_sign_SECRETKEYBYTES == WFS_IDENTITY_SK_LEN, "sk");
_Static_assert(crypto_sign_SEEDBYTES == SEED_LEN, "seed");

static int sodium_ready(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

static void put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

int wfs_identity_from_pk(const unsigned char pk[WFS_IDENTITY_PK_LEN],
			 struct wfs_identity *id)
{
	unsigned char h[crypto_generichash_BYTES];
	uint64_t raft = 0;
	int rc = sodium_ready();

	if (rc)
		return rc;
	memset(id, 0, sizeof(*id));
	memcpy(id->pk, pk, WFS_IDENTITY_PK_LEN);
	crypto_generichash(h, sizeof(h), pk, WFS_IDENTITY_PK_LEN, NULL, 0);
	sodium_bin2hex(id->node_id, sizeof(id->node_id), h,
		       WFS_IDENTITY_ID_LEN / 2);
	for (int i = 0; i < 8; i++)
		raft = raft << 8 | h[i];
	id->raft_id = raft ? raft : 1;
	return 0;
}

uint64_t wfs_identity_raft_id(const char *node_id, unsigned long len)
{
	uint64_t v = 0;

	if (len != WFS_IDENTITY_ID_LEN)
		return 0;
	for (int i = 0; i < 16; i++) {
		char c = node_id[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return 0;
		v = v << 4 | d;
	}
	return v ? v : 1;
}

/* Fill @id from a 32-byte seed. */
static int from_seed(const unsigned char *seed, struct wfs_identity *id)
{
	unsigned char pk[WFS_IDENTITY_PK_LEN], sk[WFS_IDENTITY_SK_LEN];
	int rc;

	crypto_sign_seed_keypair(pk, sk, seed);
	rc = wfs_identity_from_pk(pk, id);
	if (rc == 0)
		memcpy(id->sk, sk, sizeof(sk));
	sodium_memzero(sk, sizeof(sk));
	return rc;
}

static int read_key(int fd, const char *path, struct wfs_identity *id)
{
	unsigned char buf[KEY_FILE_LEN + 1];
	struct stat st;
	ssize_t n;
	int rc;

	if (fstat(fd, &st) != 0)
		return -errno;
	if (!S_ISREG(st.st_mode)) {
		wfs_log_error(SUB, "%s: not a regular file", path);
		return -EPERM;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		wfs_log_error(SUB, "%s: mode %04o lets group or others in; "
			      "the node key must be private (chmod 600 %s)",
			      path, (unsigned)(st.st_mode & 07777), path);
		return -EPERM;
	}
	n = read(fd, buf, sizeof(buf));
	if (n < 0)
		return -errno;
	if (n != KEY_FILE_LEN || memcmp(buf, magic, sizeof(magic)) != 0 ||
	    get_le32(buf + 40) != wfs_crc32c(0, buf, 40)) {
		wfs_log_error(SUB, "%s: not an intact node key", path);
		rc = -EBADMSG;
	} else if (buf[7] != 1) {
		wfs_log_error(SUB, "%s: key format version %u is not known",
			      path, buf[7]);
		rc = -EBADMSG;
	} else {
		rc = from_seed(buf + 8, id);
	}
	sodium_memzero(buf, sizeof(buf));
	return rc;
}

static int make_key(const char *dir, const char *path, struct wfs_identity *id)
{
	unsigned char buf[KEY_FILE_LEN];
	char tmp[PATH_MAX];
	int fd, rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(buf, magic, sizeof(magic));
	buf[7] = 1;
	randombytes_buf(buf + 8, SEED_LEN);
	put_le32(buf + 40, wfs_crc32c(0, buf, 40));
	unlink(tmp);	/* the leftover of a crash while writing */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto out_wipe;
	}
	rc = wfs_disk_write_all(fd, buf, sizeof(buf));
	if (rc == 0 && fsync(fd) != 0)
		rc = -errno;
	close(fd);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc == 0)
		rc = wfs_disk_fsync_dir(dir);
	if (rc == 0)
		rc = from_seed(buf + 8, id);
	if (rc)
		unlink(tmp);
out_wipe:
	sodium_memzero(buf, sizeof(buf));
	return rc;
}

int wfs_identity_load(const char *data_dir, struct wfs_identity *out,
		      bool *created)
{
	char path[PATH_MAX];
	int fd, rc;

	memset(out, 0, sizeof(*out));
	*created = false;
	rc = sodium_ready();
	if (rc)
		return rc;
	if (snprintf(path, sizeof(path), "%s/%s", data_dir,
		     WFS_IDENTITY_FILE) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		rc = make_key(data_dir, path, out);
		*created = rc == 0;
		return rc;
	}
	if (fd < 0)
		return errno == ELOOP ? -EPERM : -errno;
	rc = read_key(fd, path, out);
	close(fd);
	return rc;
}

void wfs_identity_release(struct wfs_identity *id)
{
	sodium_memzero(id, sizeof(*id));
}
