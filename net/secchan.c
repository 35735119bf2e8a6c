/* secchan: the secure channel between two nodes (see secchan.h).
 *
 * Not for: sockets, framing of application messages (net/link.c puts a type
 * byte in front of each frame), or deciding who is admitted (the owner's
 * admit callback).
 *
 * Wire format, version 1.  Integers are big-endian unless said otherwise.
 *
 *   hello (plaintext, 40 bytes), sent by each side as soon as the channel
 *   exists, in both directions at once:
 *	0   4	magic "WFSN"
 *	4   1	version: the highest this side speaks (1)
 *	5   3	reserved: 0 when sent, ignored when received
 *	8  32	a fresh X25519 public key (crypto_kx), used for this
 *		connection only
 *
 *   frame, everything after the hello:
 *	0   4	L: length of what follows, 16 <= L <= FRAME_MAX + 16
 *	4   L	crypto_aead_chacha20poly1305_ietf ciphertext and 16-byte tag;
 *		additional data: the 4 length bytes; nonce: 4 zero bytes then
 *		this direction's frame counter (64-bit little-endian, from 0)
 *
 *   The first frame each way is the auth frame, plaintext 96 bytes:
 *	0  32	the sender's Ed25519 public key (its node identity)
 *	32 64	crypto_sign_detached over
 *		"WFSN auth v1" (12 bytes) || role byte ('C' client, 'S' server)
 *		|| transcript hash (32)
 *   Every later frame is a data frame: any plaintext up to FRAME_MAX bytes.
 *
 * Keys.  transcript hash = BLAKE2b-256(client hello || server hello).
 * crypto_kx over the two ephemeral keys gives one key per direction; each
 * is mixed with the transcript hash: key = BLAKE2b-256(key: kx key,
 * message: transcript hash).  So a hello altered in flight (a version
 * byte rewritten to force a downgrade, say) gives the two sides different
 * keys and the first frame fails; the signature binds the static identity
 * to this very exchange (not replayable on another connection) and to the
 * signer's role (a server's proof cannot be reflected back as a client's).
 * Only the ephemeral keys encrypt, so recorded traffic stays secret even if
 * a node's identity key later leaks (forward secrecy).
 *
 * Handshake order.  The server sends its auth frame as soon as it has the
 * client's hello; the client sends its own only after it checked the
 * server's, so a client never reveals its identity to a server it has not
 * verified.  This costs no round trip: the server's hello and auth reach the
 * client together.  The client is open once it verified the server (its data
 * frames may follow its auth frame at once); the server is open once it
 * verified the client.
 *
 * Because the counter is implicit and per direction, a frame replayed,
 * reordered or dropped fails to decrypt, as does any altered byte (the
 * length is authenticated as additional data).  Any failure ends the
 * channel for good.
 *
 * Version rule.  Each side announces the highest version it speaks and both
 * use the lower of the two; version 0 is refused (-EPROTO).  A later version
 * keeps the first 8 bytes of the hello as they are (magic, version byte,
 * reserved bytes a v1 node ignores) and must not change anything a v1 peer
 * sees when the lower version is 1.  Both hellos are covered by the
 * transcript hash, so a tampered version byte is caught at the auth frame.
 */
#include "net/secchan.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "mem/mem.h"

#define MAGIC "WFSN"
#define VERSION 1
#define HELLO_LEN 40
#define LEN_BYTES 4
#define TAG_LEN crypto_aead_chacha20poly1305_ietf_ABYTES
#define KEY_LEN crypto_aead_chacha20poly1305_ietf_KEYBYTES
#define NONCE_LEN crypto_aead_chacha20poly1305_ietf_NPUBBYTES
#define HASH_LEN 32
#define AUTH_CONTEXT "WFSN auth v1"
#define AUTH_CONTEXT_LEN 12
#define AUTH_LEN (WFS_SECCHAN_PK_LEN + crypto_sign_BYTES)
#define CT_MAX (WFS_SECCHAN_FRAME_MAX + TAG_LEN)

_Static_assert(WFS_SECCHAN_OVERHEAD == LEN_BYTES + TAG_LEN, "overhead");
_Static_assert(crypto_sign_PUBLICKEYBYTES == WFS_SECCHAN_PK_LEN, "pk");
_Static_assert(crypto_sign_SECRETKEYBYTES == WFS_SECCHAN_SK_LEN, "sk");
_Static_assert(crypto_kx_SESSIONKEYBYTES == KEY_LEN, "kx key");

/* A byte queue: valid bytes are p[start, end). */
struct buf {
	uint8_t *p;
	size_t start, end, cap;
};

enum step {
	STEP_HELLO,	/* waiting for the peer's hello */
	STEP_AUTH,	/* waiting for the peer's auth frame */
	STEP_OPEN,
	STEP_FAILED,
};

struct wfs_secchan {
	enum wfs_secchan_role role;
	enum step step;
	int error;
	const char *reason;
	wfs_secchan_admit_cb admit;
	void *admit_arg;

	uint8_t pk[WFS_SECCHAN_PK_LEN];
	uint8_t sk[WFS_SECCHAN_SK_LEN];
	uint8_t eph_pk[crypto_kx_PUBLICKEYBYTES];
	uint8_t eph_sk[crypto_kx_SECRETKEYBYTES];
	uint8_t my_hello[HELLO_LEN];
	uint8_t transcript[HASH_LEN];
	uint8_t rx_key[KEY_LEN], tx_key[KEY_LEN];
	uint64_t rx_seq, tx_seq;
	uint8_t peer[WFS_SECCHAN_PK_LEN];

	struct buf in, out;
};

/* ---- byte queues ---- */

static size_t buf_len(const struct buf *b)
{
	return b->end - b->start;
}

/* Make room for @n more bytes at the end: slide the data to the front when
 * that is enough, else grow. */
static int buf_reserve(struct buf *b, size_t n)
{
	size_t len = buf_len(b), cap;
	uint8_t *p;

	if (b->cap - b->end >= n)
		return 0;
	if (b->start && b->cap - len >= n) {
		memmove(b->p, b->p + b->start, len);
		b->start = 0;
		b->end = len;
		return 0;
	}
	cap = b->cap ? b->cap : 4096;
	while (cap - len < n)
		cap *= 2;
	p = wfs_malloc(cap);
	if (!p)
		return -ENOMEM;
	if (len)
		memcpy(p, b->p + b->start, len);
	wfs_free(b->p);
	b->p = p;
	b->cap = cap;
	b->start = 0;
	b->end = len;
	return 0;
}

static void buf_consume(struct buf *b, size_t n)
{
	b->start += n;
	if (b->start == b->end)
		b->start = b->end = 0;
}

static void buf_release(struct buf *b)
{
	if (b->p)
		sodium_memzero(b->p, b->cap);
	wfs_free(b->p);
	memset(b, 0, sizeof(*b));
}

/* ---- failure ---- */

static int fail(struct wfs_secchan *ch, int error, const char *reason)
{
	if (ch->step == STEP_FAILED)
		return ch->error;
	ch->step = STEP_FAILED;
	ch->error = error;
	ch->reason = reason;
	/* Nothing more is sent or read: drop what was queued and the keys. */
	sodium_memzero(ch->rx_key, sizeof(ch->rx_key));
	sodium_memzero(ch->tx_key, sizeof(ch->tx_key));
	buf_consume(&ch->out, buf_len(&ch->out));
	return error;
}

/* ---- frames ---- */

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void make_nonce(uint8_t nonce[NONCE_LEN], uint64_t seq)
{
	memset(nonce, 0, NONCE_LEN);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(seq >> (8 * i));
}

/* Seal the pieces of @iov as the next frame of this direction.  Used for
 * the auth frame too, hence no state check here. */
static int seal_frame(struct wfs_secchan *ch, const struct iovec *iov, int n)
{
	uint8_t nonce[NONCE_LEN];
	size_t len = 0;
	uint8_t *p;
	int rc;

	for (int i = 0; i < n; i++) {
		if (iov[i].iov_len > WFS_SECCHAN_FRAME_MAX - len)
			return -EMSGSIZE;
		len += iov[i].iov_len;
	}
	/* 2^64 frames cannot happen; a wrapped counter must never reuse a
	 * nonce all the same. */
	if (ch->tx_seq == UINT64_MAX)
		return fail(ch, -EBADMSG, "frame counter exhausted");
	rc = buf_reserve(&ch->out, LEN_BYTES + len + TAG_LEN);
	if (rc != 0)
		return rc;
	p = ch->out.p + ch->out.end;
	put_be32(p, (uint32_t)(len + TAG_LEN));
	len = 0;
	for (int i = 0; i < n; i++) {
		if (iov[i].iov_len)
			memcpy(p + LEN_BYTES + len, iov[i].iov_base,
			       iov[i].iov_len);
		len += iov[i].iov_len;
	}
	make_nonce(nonce, ch->tx_seq++);
	/* In place: libsodium's AEAD allows the plaintext and ciphertext to
	 * be the same buffer. */
	crypto_aead_chacha20poly1305_ietf_encrypt_detached(
		p + LEN_BYTES, p + LEN_BYTES + len, NULL, p + LEN_BYTES, len,
		p, LEN_BYTES, NULL, nonce, ch->tx_key);
	ch->out.end += LEN_BYTES + len + TAG_LEN;
	return 0;
}

/* Decrypt the next frame of the input in place.  Returns 1 with *plain and
 * *len, 0 if it is not complete yet, or the error that failed the channel. */
static int open_frame(struct wfs_secchan *ch, uint8_t **plain, size_t *len)
{
	uint8_t nonce[NONCE_LEN];
	uint8_t *p = ch->in.p + ch->in.start;
	size_t have = buf_len(&ch->in);
	uint32_t clen;

	if (have < LEN_BYTES)
		return 0;
	clen = get_be32(p);
	/* Checked before waiting for the body: a huge length must not make
	 * us buffer it. */
	if (clen > CT_MAX)
		return fail(ch, -EMSGSIZE, "frame length over the limit");
	if (clen < TAG_LEN)
		return fail(ch, -EBADMSG, "frame shorter than its tag");
	if (have - LEN_BYTES < clen)
		return 0;
	make_nonce(nonce, ch->rx_seq);
	if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(
		    p + LEN_BYTES, NULL, p + LEN_BYTES, clen - TAG_LEN,
		    p + LEN_BYTES + clen - TAG_LEN, p, LEN_BYTES, nonce,
		    ch->rx_key) != 0)
		return fail(ch, -EBADMSG, "frame failed to authenticate");
	ch->rx_seq++;
	*plain = p + LEN_BYTES;
	*len = clen - TAG_LEN;
	buf_consume(&ch->in, LEN_BYTES + clen);
	return 1;
}

/* ---- handshake ---- */

static void make_hello(struct wfs_secchan *ch)
{
	uint8_t *h = ch->my_hello;

	memcpy(h, MAGIC, 4);
	h[4] = VERSION;
	h[5] = h[6] = h[7] = 0;
	memcpy(h + 8, ch->eph_pk, crypto_kx_PUBLICKEYBYTES);
}

/* What the auth signature covers, for the side playing @role. */
static void auth_message(const struct wfs_secchan *ch, char role,
			 uint8_t msg[AUTH_CONTEXT_LEN + 1 + HASH_LEN])
{
	memcpy(msg, AUTH_CONTEXT, AUTH_CONTEXT_LEN);
	msg[AUTH_CONTEXT_LEN] = (uint8_t)role;
	memcpy(msg + AUTH_CONTEXT_LEN + 1, ch->transcript, HASH_LEN);
}

static char my_role(const struct wfs_secchan *ch)
{
	return ch->role == WFS_SECCHAN_CLIENT ? 'C' : 'S';
}

static int send_auth(struct wfs_secchan *ch)
{
	uint8_t msg[AUTH_CONTEXT_LEN + 1 + HASH_LEN];
	uint8_t auth[AUTH_LEN];
	struct iovec iov = { auth, sizeof(auth) };

	auth_message(ch, my_role(ch), msg);
	memcpy(auth, ch->pk, WFS_SECCHAN_PK_LEN);
	crypto_sign_detached(auth + WFS_SECCHAN_PK_LEN, NULL, msg, sizeof(msg),
			     ch->sk);
	return seal_frame(ch, &iov, 1);
}

/* Derive this connection's keys from the two hellos. */
static int derive_keys(struct wfs_secchan *ch, const uint8_t *peer_hello)
{
	const uint8_t *ch_hello, *sv_hello, *peer_eph = peer_hello + 8;
	crypto_generichash_state st;
	uint8_t rx[KEY_LEN], tx[KEY_LEN];
	int rc;

	if (ch->role == WFS_SECCHAN_CLIENT) {
		ch_hello = ch->my_hello;
		sv_hello = peer_hello;
		rc = crypto_kx_client_session_keys(rx, tx, ch->eph_pk,
						   ch->eph_sk, peer_eph);
	} else {
		ch_hello = peer_hello;
		sv_hello = ch->my_hello;
		rc = crypto_kx_server_session_keys(rx, tx, ch->eph_pk,
						   ch->eph_sk, peer_eph);
	}
	/* crypto_kx refuses a low-order peer key (an all-zero result). */
	if (rc != 0)
		return fail(ch, -EBADMSG, "bad ephemeral key in hello");
	crypto_generichash_init(&st, NULL, 0, HASH_LEN);
	crypto_generichash_update(&st, ch_hello, HELLO_LEN);
	crypto_generichash_update(&st, sv_hello, HELLO_LEN);
	crypto_generichash_final(&st, ch->transcript, HASH_LEN);
	crypto_generichash(ch->rx_key, KEY_LEN, ch->transcript, HASH_LEN, rx,
			   KEY_LEN);
	crypto_generichash(ch->tx_key, KEY_LEN, ch->transcript, HASH_LEN, tx,
			   KEY_LEN);
	sodium_memzero(rx, sizeof(rx));
	sodium_memzero(tx, sizeof(tx));
	sodium_memzero(ch->eph_sk, sizeof(ch->eph_sk));
	return 0;
}

static int take_hello(struct wfs_secchan *ch)
{
	const uint8_t *h = ch->in.p + ch->in.start;
	int rc;

	if (buf_len(&ch->in) < HELLO_LEN)
		return 0;
	if (memcmp(h, MAGIC, 4) != 0)
		return fail(ch, -EPROTO, "not a wormfs node (bad magic)");
	/* Any version >= 1 is fine: we speak min(theirs, ours) = 1. */
	if (h[4] == 0)
		return fail(ch, -EPROTO, "unsupported protocol version");
	rc = derive_keys(ch, h);
	if (rc != 0)
		return rc;
	buf_consume(&ch->in, HELLO_LEN);
	ch->step = STEP_AUTH;
	if (ch->role == WFS_SECCHAN_SERVER) {
		rc = send_auth(ch);
		if (rc != 0)
			return fail(ch, rc, "out of memory");
	}
	return 1;
}

static int take_auth(struct wfs_secchan *ch)
{
	uint8_t msg[AUTH_CONTEXT_LEN + 1 + HASH_LEN];
	uint8_t *auth;
	size_t len;
	int rc;

	rc = open_frame(ch, &auth, &len);
	if (rc <= 0)
		return rc;
	if (len != AUTH_LEN)
		return fail(ch, -EBADMSG, "malformed auth frame");
	auth_message(ch, my_role(ch) == 'C' ? 'S' : 'C', msg);
	if (crypto_sign_verify_detached(auth + WFS_SECCHAN_PK_LEN, msg,
					sizeof(msg), auth) != 0)
		return fail(ch, -EBADMSG, "bad signature in auth frame");
	/* Admit only after the signature: the key is then proven to be the
	 * peer's, and the owner never judges a key nobody holds. */
	if (!ch->admit(ch->admit_arg, auth))
		return fail(ch, -EACCES, "unknown peer key");
	memcpy(ch->peer, auth, WFS_SECCHAN_PK_LEN);
	if (ch->role == WFS_SECCHAN_CLIENT) {
		rc = send_auth(ch);
		if (rc != 0)
			return fail(ch, rc, "out of memory");
	}
	ch->step = STEP_OPEN;
	return 1;
}

/* Run the handshake on what the input holds. */
static int advance(struct wfs_secchan *ch)
{
	int rc = 1;

	while (rc > 0) {
		if (ch->step == STEP_HELLO)
			rc = take_hello(ch);
		else if (ch->step == STEP_AUTH)
			rc = take_auth(ch);
		else
			break;
	}
	return rc < 0 ? rc : 0;
}

/* ---- public ---- */

int wfs_secchan_new(enum wfs_secchan_role role,
		    const uint8_t pk[WFS_SECCHAN_PK_LEN],
		    const uint8_t sk[WFS_SECCHAN_SK_LEN],
		    wfs_secchan_admit_cb admit, void *arg,
		    struct wfs_secchan **out)
{
	struct wfs_secchan *ch;
	int rc;

	if (sodium_init() < 0)
		return -EIO;
	ch = wfs_calloc(1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	ch->role = role;
	ch->step = STEP_HELLO;
	ch->reason = "";
	ch->admit = admit;
	ch->admit_arg = arg;
	memcpy(ch->pk, pk, WFS_SECCHAN_PK_LEN);
	memcpy(ch->sk, sk, WFS_SECCHAN_SK_LEN);
	crypto_kx_keypair(ch->eph_pk, ch->eph_sk);
	make_hello(ch);
	rc = buf_reserve(&ch->out, HELLO_LEN);
	if (rc != 0) {
		wfs_secchan_free(ch);
		return rc;
	}
	memcpy(ch->out.p, ch->my_hello, HELLO_LEN);
	ch->out.end = HELLO_LEN;
	*out = ch;
	return 0;
}

void wfs_secchan_free(struct wfs_secchan *ch)
{
	if (!ch)
		return;
	buf_release(&ch->in);
	buf_release(&ch->out);
	sodium_memzero(ch, sizeof(*ch));
	wfs_free(ch);
}

int wfs_secchan_feed(struct wfs_secchan *ch, const void *buf, size_t len)
{
	int rc;

	if (ch->step == STEP_FAILED)
		return ch->error;
	rc = buf_reserve(&ch->in, len);
	if (rc != 0)
		return fail(ch, rc, "out of memory");
	if (len)
		memcpy(ch->in.p + ch->in.end, buf, len);
	ch->in.end += len;
	return advance(ch);
}

int wfs_secchan_recv(struct wfs_secchan *ch, const uint8_t **frame,
		     size_t *len)
{
	uint8_t *plain;
	int rc;

	if (ch->step == STEP_FAILED)
		return ch->error;
	if (ch->step != STEP_OPEN)
		return 0;
	rc = open_frame(ch, &plain, len);
	if (rc == 1)
		*frame = plain;
	return rc;
}

int wfs_secchan_sealv(struct wfs_secchan *ch, const struct iovec *iov, int n)
{
	if (ch->step == STEP_FAILED)
		return ch->error;
	if (ch->step != STEP_OPEN)
		return -ENOTCONN;
	return seal_frame(ch, iov, n);
}

int wfs_secchan_seal(struct wfs_secchan *ch, const void *buf, size_t len)
{
	struct iovec iov = { (void *)buf, len };

	return wfs_secchan_sealv(ch, &iov, 1);
}

size_t wfs_secchan_output(struct wfs_secchan *ch, const uint8_t **buf)
{
	*buf = ch->out.p + ch->out.start;
	return buf_len(&ch->out);
}

void wfs_secchan_consumed(struct wfs_secchan *ch, size_t n)
{
	buf_consume(&ch->out, n);
}

enum wfs_secchan_state wfs_secchan_state(const struct wfs_secchan *ch)
{
	switch (ch->step) {
	case STEP_OPEN: return WFS_SECCHAN_OPEN;
	case STEP_FAILED: return WFS_SECCHAN_FAILED;
	default: return WFS_SECCHAN_HANDSHAKE;
	}
}

int wfs_secchan_error(const struct wfs_secchan *ch)
{
	return ch->error;
}

const char *wfs_secchan_reason(const struct wfs_secchan *ch)
{
	return ch->reason;
}

const uint8_t *wfs_secchan_peer(const struct wfs_secchan *ch)
{
	return ch->step == STEP_OPEN ? ch->peer : NULL;
}
