/* storaged/identity: who this node is.
 *
 * Each node has a libsodium Ed25519 key pair, made at its first start and
 * kept in <data_dir>/node.key (mode 0600; the file format is in
 * identity.c).  Everything else about the node's identity derives from the
 * public key:
 *
 *   node id   lower-case hex of the first 16 bytes of
 *             crypto_generichash(public key) (32 characters): the name of
 *             the node in the metadata, on its disks' markers, in logs;
 *   raft id   the same first 8 bytes read as a big-endian uint64 (so it is
 *             the first 16 hex digits of the node id), 1 if that is 0:
 *             the node's id in the raft group.
 *
 * The secret key is for the node transport that comes next (it signs and,
 * converted to X25519, exchanges keys); nothing uses it yet.
 */
#ifndef WFS_STORAGED_IDENTITY_H
#define WFS_STORAGED_IDENTITY_H

#include <stdbool.h>
#include <stdint.h>

#define WFS_IDENTITY_PK_LEN 32		/* crypto_sign_PUBLICKEYBYTES */
#define WFS_IDENTITY_SK_LEN 64		/* crypto_sign_SECRETKEYBYTES */
#define WFS_IDENTITY_ID_LEN 32		/* hex characters of a node id */
#define WFS_IDENTITY_FILE "node.key"

/* A node's identity; a plain value owned by the caller. */
struct wfs_identity {
	unsigned char pk[WFS_IDENTITY_PK_LEN];	/* public key */
	unsigned char sk[WFS_IDENTITY_SK_LEN];	/* secret key (seed + pk) */
	char node_id[WFS_IDENTITY_ID_LEN + 1];	/* NUL-terminated */
	uint64_t raft_id;			/* never 0 */
};

/* Load the identity from <@data_dir>/node.key, or make a new key pair and
 * write it there (atomically, mode 0600) if the file does not exist; then
 * *created says which.  Returns 0; -EPERM if the file is accessible by
 * group or others (its secret would not be one: the operator must chmod it
 * 600) or is not a regular file; -EBADMSG if it is damaged (wrong size,
 * magic or checksum); -EIO if libsodium cannot start; or the negative
 * errno of file I/O (-ENOENT when @data_dir is missing, -EACCES, ...).
 * Blocks on file I/O; any thread. */
int wfs_identity_load(const char *data_dir, struct wfs_identity *out,
		      bool *created);

/* Derive the node id and raft id of @pk into @id (pk copied, secret key
 * zeroed).  Returns 0 or -EIO if libsodium cannot start.  Any thread. */
int wfs_identity_from_pk(const unsigned char pk[WFS_IDENTITY_PK_LEN],
			 struct wfs_identity *id);

/* The raft id a node id stands for (its first 16 hex digits), or 0 if
 * @node_id is not a node id. */
uint64_t wfs_identity_raft_id(const char *node_id, unsigned long len);

/* Wipe the secret key from memory and zero @id. */
void wfs_identity_release(struct wfs_identity *id);

#endif
