/* secchan: one end of an authenticated, encrypted channel between two nodes.
 *
 * Sans-I/O: it never touches a socket.  The owner feeds it the bytes it
 * received (wfs_secchan_feed), sends whatever it has to send
 * (wfs_secchan_output / wfs_secchan_consumed), pulls decrypted frames out
 * (wfs_secchan_recv) and seals its own frames in (wfs_secchan_seal).  So the
 * same code runs under libev, under a test feeding it by hand, or anywhere.
 *
 * A channel is made for one connection: the side that connected is the
 * client, the side that accepted is the server.  Both prove their Ed25519
 * node identity to each other; the peer's key must pass the owner's admit
 * callback.  Once a channel failed it stays failed: the connection must be
 * closed (there is no alert message; the peer sees the connection end).
 *
 * The wire format and the handshake are described in secchan.c.
 *
 * Threads: a channel is a plain object with no locks; use it from one thread
 * at a time.  Errors are negative errno:
 *   -EPROTO	the peer's hello has the wrong magic or version
 *   -EACCES	the peer's key was not admitted
 *   -EBADMSG	a frame failed to authenticate (altered, replayed, reordered,
 *		dropped, or keys that do not match) or is malformed; a bad
 *		signature
 *   -EMSGSIZE	an announced frame length beyond WFS_SECCHAN_FRAME_MAX
 *   -ENOMEM	out of memory
 */
#ifndef WFS_NET_SECCHAN_H
#define WFS_NET_SECCHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define WFS_SECCHAN_PK_LEN 32		/* Ed25519 public key */
#define WFS_SECCHAN_SK_LEN 64		/* Ed25519 secret key (seed + pk) */
/* Largest plaintext frame: 1 MiB, room for one chunk piece or one raft
 * relay read; a longer announced length ends the channel. */
#define WFS_SECCHAN_FRAME_MAX (1u << 20)
/* Bytes a sealed frame adds to its plaintext (length + tag). */
#define WFS_SECCHAN_OVERHEAD 20

struct wfs_secchan;

enum wfs_secchan_role {
	WFS_SECCHAN_CLIENT,	/* this side connected */
	WFS_SECCHAN_SERVER,	/* this side accepted */
};

enum wfs_secchan_state {
	WFS_SECCHAN_HANDSHAKE,	/* keys not yet agreed or peer not yet proven */
	WFS_SECCHAN_OPEN,	/* peer proven; frames flow both ways */
	WFS_SECCHAN_FAILED,	/* see wfs_secchan_error/reason; close it */
};

/* Whether the node with Ed25519 public key @pk may talk to us.  Called
 * during wfs_secchan_feed, on the feeding thread, at most once per channel;
 * @pk is borrowed for the call. */
typedef bool (*wfs_secchan_admit_cb)(void *arg, const uint8_t pk[32]);

/* Make a channel for one connection, as @role, with this node's identity
 * @pk/@sk (copied; the secret is wiped at free).  @admit (with @arg, kept
 * until free) judges the peer's key.  The channel's hello is already queued
 * in its output.  Returns 0 and *out, -ENOMEM, or -EIO if libsodium cannot
 * start.  Any thread. */
int wfs_secchan_new(enum wfs_secchan_role role,
		    const uint8_t pk[WFS_SECCHAN_PK_LEN],
		    const uint8_t sk[WFS_SECCHAN_SK_LEN],
		    wfs_secchan_admit_cb admit, void *arg,
		    struct wfs_secchan **out);

/* Wipe the keys and free the channel.  NULL is a no-op. */
void wfs_secchan_free(struct wfs_secchan *ch);

/* Take @len received bytes (copied) and run the handshake as far as they
 * allow.  Returns 0, or the channel's error once it failed (feeding a failed
 * channel returns its error again).  Data frames stay buffered until
 * wfs_secchan_recv takes them, so the owner can stop reading its socket
 * while it cannot take more. */
int wfs_secchan_feed(struct wfs_secchan *ch, const void *buf, size_t len);

/* Take the next complete data frame.  Returns 1 with *frame and *len pointing at
 * its plaintext inside the channel (valid until the next call on @ch; *len
 * may be 0), 0 if no complete frame is buffered (or still handshaking), or
 * the channel's error (it then fails: the frame was altered, replayed,
 * reordered or too long). */
int wfs_secchan_recv(struct wfs_secchan *ch, const uint8_t **frame,
		     size_t *len);

/* Encrypt one frame made of the @n pieces of @iov (copied) into the output.
 * Returns 0; -ENOTCONN while handshaking; -EMSGSIZE if the pieces add up to
 * more than WFS_SECCHAN_FRAME_MAX (nothing is queued); -ENOMEM; or the
 * channel's error once it failed. */
int wfs_secchan_sealv(struct wfs_secchan *ch, const struct iovec *iov, int n);

/* wfs_secchan_sealv of one piece. */
int wfs_secchan_seal(struct wfs_secchan *ch, const void *buf, size_t len);

/* The bytes waiting to be sent: *buf (inside the channel, valid until the
 * next call on @ch) and how many.  Returns that count (0: nothing). */
size_t wfs_secchan_output(struct wfs_secchan *ch, const uint8_t **buf);

/* Drop the first @n bytes of the output: they were sent.  @n must not exceed
 * what wfs_secchan_output returned. */
void wfs_secchan_consumed(struct wfs_secchan *ch, size_t n);

/* Where the channel is. */
enum wfs_secchan_state wfs_secchan_state(const struct wfs_secchan *ch);

/* The error that failed the channel (a negative errno), or 0. */
int wfs_secchan_error(const struct wfs_secchan *ch);

/* Why the channel failed, in a few words for a log line ("unknown peer
 * key", "frame failed to authenticate", ...); "" if it has not.  A static
 * string. */
const char *wfs_secchan_reason(const struct wfs_secchan *ch);

/* The peer's Ed25519 public key once the channel is open (32 bytes inside
 * the channel, valid until free), else NULL. */
const uint8_t *wfs_secchan_peer(const struct wfs_secchan *ch);

#endif
