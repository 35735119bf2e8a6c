/* Unit tests for secchan: two channels talk in memory; every way of
 * tampering with the bytes between them must end the channel, and random
 * garbage must never crash it. */
#include "net/secchan.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "mem/mem.h"
#include "tests/unit.h"

#define MAX_CT (WFS_SECCHAN_FRAME_MAX + 16)

struct node {
	uint8_t pk[32];
	uint8_t sk[64];
};

/* What an admit callback accepts: one key, or any. */
struct allow {
	const uint8_t *pk;	/* NULL: refuse all unless @any */
	bool any;
	int calls;
};

static struct node alice, bob, eve;
static uint64_t rng;

static bool admit(void *arg, const uint8_t pk[32])
{
	struct allow *a = arg;

	a->calls++;
	return a->any || (a->pk && memcmp(a->pk, pk, 32) == 0);
}

static void make_node(struct node *n)
{
	uint8_t seed[crypto_sign_SEEDBYTES];

	wfs_test_fill(&rng, seed, sizeof(seed));
	crypto_sign_seed_keypair(n->pk, n->sk, seed);
}

static int suite_init(void)
{
	rng = wfs_test_seed();
	if (sodium_init() < 0)
		return -1;
	make_node(&alice);
	make_node(&bob);
	make_node(&eve);
	return 0;
}

/* Move everything @from has to send into @to.  Returns feed's result. */
static int move(struct wfs_secchan *from, struct wfs_secchan *to)
{
	const uint8_t *p;
	size_t n = wfs_secchan_output(from, &p);
	int rc = wfs_secchan_feed(to, p, n);

	wfs_secchan_consumed(from, n);
	return rc;
}

/* Shuttle bytes both ways until neither side has anything to send. */
static void pump(struct wfs_secchan *a, struct wfs_secchan *b)
{
	const uint8_t *p;

	while (wfs_secchan_output(a, &p) || wfs_secchan_output(b, &p)) {
		move(a, b);
		move(b, a);
	}
}

/* A client (alice) and a server (bob) that admit each other, handshaken. */
struct pair {
	struct allow ca, sa;
	struct wfs_secchan *c, *s;
};

static void pair_new(struct pair *p)
{
	p->ca = (struct allow){ .pk = bob.pk };
	p->sa = (struct allow){ .pk = alice.pk };
	CU_ASSERT_EQUAL_FATAL(wfs_secchan_new(WFS_SECCHAN_CLIENT, alice.pk,
					      alice.sk, admit, &p->ca, &p->c),
			      0);
	CU_ASSERT_EQUAL_FATAL(wfs_secchan_new(WFS_SECCHAN_SERVER, bob.pk,
					      bob.sk, admit, &p->sa, &p->s),
			      0);
}

static void pair_open(struct pair *p)
{
	pair_new(p);
	pump(p->c, p->s);
	CU_ASSERT_EQUAL_FATAL(wfs_secchan_state(p->c), WFS_SECCHAN_OPEN);
	CU_ASSERT_EQUAL_FATAL(wfs_secchan_state(p->s), WFS_SECCHAN_OPEN);
}

static void pair_free(struct pair *p)
{
	wfs_secchan_free(p->c);
	wfs_secchan_free(p->s);
}

/* Seal @len bytes on @from and copy the sealed frame out (caller frees). */
static uint8_t *seal_copy(struct wfs_secchan *from, const void *msg,
			  size_t len, size_t *out_len)
{
	const uint8_t *p;
	uint8_t *copy;
	size_t n;

	CU_ASSERT_EQUAL(wfs_secchan_seal(from, msg, len), 0);
	n = wfs_secchan_output(from, &p);
	copy = wfs_memdup(p, n);
	wfs_secchan_consumed(from, n);
	*out_len = n;
	return copy;
}

static void test_handshake_and_data(void)
{
	static uint8_t big[WFS_SECCHAN_FRAME_MAX];
	const uint8_t *f;
	size_t len;
	struct pair p;

	pair_open(&p);
	CU_ASSERT_EQUAL(p.ca.calls, 1);
	CU_ASSERT_EQUAL(p.sa.calls, 1);
	CU_ASSERT_EQUAL(memcmp(wfs_secchan_peer(p.c), bob.pk, 32), 0);
	CU_ASSERT_EQUAL(memcmp(wfs_secchan_peer(p.s), alice.pk, 32), 0);

	/* Nothing buffered yet. */
	CU_ASSERT_EQUAL(wfs_secchan_recv(p.s, &f, &len), 0);

	/* Client to server: two frames in one feed, one of them empty. */
	CU_ASSERT_EQUAL(wfs_secchan_seal(p.c, "hello", 5), 0);
	CU_ASSERT_EQUAL(wfs_secchan_seal(p.c, "", 0), 0);
	CU_ASSERT_EQUAL(move(p.c, p.s), 0);
	CU_ASSERT_EQUAL_FATAL(wfs_secchan_recv(p.s, &f, &len), 1);
	CU_ASSERT_EQUAL(len, 5);
	CU_ASSERT_EQUAL(memcmp(f, "hello", 5), 0);
	CU_ASSERT_EQUAL(wfs_secchan_recv(p.s, &f, &len), 1);
	CU_ASSERT_EQUAL(len, 0);
	CU_ASSERT_EQUAL(wfs_secchan_recv(p.s, &f, &len), 0);

	/* Server to client: the largest frame, from two pieces. */
	wfs_test_fill(&rng, big, sizeof(big));
	struct iovec iov[2] = { { big, 1 }, { big + 1, sizeof(big) - 1 } };
	CU_ASSERT_EQUAL(wfs_secchan_sealv(p.s, iov, 2), 0);
	CU_ASSERT_EQUAL(move(p.s, p.c), 0);
	CU_ASSERT_EQUAL_FATAL(wfs_secchan_recv(p.c, &f, &len), 1);
	CU_ASSERT_EQUAL(len, sizeof(big));
	CU_ASSERT_EQUAL(memcmp(f, big, sizeof(big)), 0);

	/* One byte more is refused and leaves the channel as it was. */
	struct iovec over[2] = { { big, sizeof(big) }, { big, 1 } };
	CU_ASSERT_EQUAL(wfs_secchan_sealv(p.s, over, 2), -EMSGSIZE);
	CU_ASSERT_EQUAL(wfs_secchan_state(p.s), WFS_SECCHAN_OPEN);
	CU_ASSERT_EQUAL(wfs_secchan_seal(p.s, "ok", 2), 0);
	CU_ASSERT_EQUAL(move(p.s, p.c), 0);
	CU_ASSERT_EQUAL(wfs_secchan_recv(p.c, &f, &len), 1);
	CU_ASSERT_EQUAL(len, 2);
	pair_free(&p);
}

static void test_seal_before_open(void)
{
	struct pair p;
	const uint8_t *f;
	size_t len;

	pair_new(&p);
	CU_ASSERT_EQUAL(wfs_secchan_state(p.c), WFS_SECCHAN_HANDSHAKE);
	CU_ASSERT_EQUAL(wfs_secchan_seal(p.c, "x", 1), -ENOTCONN);
	CU_ASSERT_EQUAL(wfs_secchan_recv(p.c, &f, &len), 0);
	CU_ASSERT_PTR_NULL(wfs_secchan_peer(p.c));
	CU_ASSERT_STRING_EQUAL(wfs_secchan_reason(p.c), "");
	pair_free(&p);
}

/* The server does not know the client: it refuses it; the client had
 * proven the server and is open, but nothing it sends is taken. */
static void test_unknown_client(void)
{
	struct allow ca = { .any = true }, sa = { .pk = alice.pk };
	struct wfs_secchan *c, *s;

	CU_ASSERT_EQUAL_FATAL(wfs_secchan_new(WFS_SECCHAN_CLIENT, eve.pk,
					      eve.sk, admit, &ca, &c), 0);
	CU_ASSERT_EQUAL_FATAL(wfs_secchan_new(WFS_SECCHAN_SERVER, bob.pk,
					      bob.sk, admit, &sa, &s), 0);
	pump(c, s);
	CU_ASSERT_EQUAL(wfs_secchan_state(s), WFS_SECCHAN_FAILED);
	CU_ASSERT_EQUAL(wfs_secchan_error(s), -EACCES);
	CU_ASSERT_STRING_EQUAL(wfs_secchan_reason(s), "unknown peer key");
	CU_ASSERT_PTR_NULL(wfs_secchan_peer(s));
	CU_ASSERT_EQUAL(sa.calls, 1);
	/* A failed channel stays failed and sends nothing more. */
	CU_ASSERT_EQUAL(wfs_secchan_feed(s, "x", 1), -EACCES);
	CU_ASSERT_EQUAL(wfs_secchan_seal(s, "x", 1), -EACCES);
	wfs_secchan_free(c);
	wfs_secchan_free(s);
}

/* The client does not know the server: it refuses it before it ever sends
 * its own identity, so the server never learns who connected. */
static void test_unknown_server(void)
{
	struct allow ca = { .pk = bob.pk }, sa = { .any = true };
	struct wfs_secchan *c, *s;
	const uint8_t *p;

	CU_ASSERT_EQUAL_FATAL(wfs_secchan_new(WFS_SECCHAN_CLIENT, alice.pk,
					      alice.sk, admit, &ca, &c), 0);
	CU_ASSERT_EQUAL_FATAL(wfs_secchan_new(WFS_SECCHAN_SERVER, eve.pk,
					      eve.sk, admit, &sa, &s), 0);
	pump(c, s);
	CU_ASSERT_EQUAL(wfs_secchan_state(c), WFS_SECCHAN_FAILED);
	CU_ASSERT_EQUAL(wfs_secchan_error(c), -EACCES);
	CU_ASSERT_EQUAL(wfs_secchan_state(s), WFS_SECCHAN_HANDSHAKE);
	CU_ASSERT_EQUAL(sa.calls, 0);
	CU_ASSERT_EQUAL(wfs_secchan_output(c, &p), 0);
	wfs_secchan_free(c);
	wfs_secchan_free(s);
}

static void test_flipped_bits(void)
{
	uint8_t msg[100];
	const uint8_t *f;
	size_t n, len;
	uint8_t *frame, *bad;
	struct pair p;

	wfs_test_fill(&rng, msg, sizeof(msg));
	for (size_t byte = 0; byte < sizeof(msg) + 20; byte++) {
		for (int bit = 0; bit < 8; bit++) {
			uint32_t clen;
			int rc, want = -EBADMSG;

			pair_open(&p);
			frame = seal_copy(p.c, msg, sizeof(msg), &n);
			CU_ASSERT_EQUAL_FATAL(n, sizeof(msg) + 20);
			bad = wfs_memdup(frame, n);
			bad[byte] ^= (uint8_t)(1u << bit);
			clen = (uint32_t)bad[0] << 24 | (uint32_t)bad[1] << 16 |
			       (uint32_t)bad[2] << 8 | bad[3];
			if (clen > MAX_CT)
				want = -EMSGSIZE;
			CU_ASSERT_EQUAL(wfs_secchan_feed(p.s, bad, n), 0);
			rc = wfs_secchan_recv(p.s, &f, &len);
			/* A longer length waits for its bytes: give them. */
			if (rc == 0 && clen + 4 > n) {
				uint8_t *pad = wfs_calloc(1, clen + 4 - n);

				CU_ASSERT_EQUAL(wfs_secchan_feed(
					p.s, pad, clen + 4 - n), 0);
				wfs_free(pad);
				rc = wfs_secchan_recv(p.s, &f, &len);
			}
			CU_ASSERT_EQUAL(rc, want);
			CU_ASSERT_EQUAL(wfs_secchan_state(p.s),
					WFS_SECCHAN_FAILED);
			/* The genuine frame is refused too now. */
			CU_ASSERT_EQUAL(wfs_secchan_feed(p.s, frame, n), want);
			wfs_free(bad);
			wfs_free(frame);
			pair_free(&p);
		}
	}
}

/* Any bit flipped in the client's hello: the server refuses it, or the two
 * sides derive different keys and the first frame fails. */
static void test_altered_hello(void)
{
	const uint8_t *out;
	uint8_t hello[40];
	struct pair p;

	for (size_t byte = 0; byte < sizeof(hello); byte++) {
		for (int bit = 0; bit < 8; bit++) {
			pair_new(&p);
			CU_ASSERT_EQUAL_FATAL(wfs_secchan_output(p.c, &out),
					      40);
			memcpy(hello, out, 40);
			wfs_secchan_consumed(p.c, 40);
			hello[byte] ^= (uint8_t)(1u << bit);
			wfs_secchan_feed(p.s, hello, sizeof(hello));
			pump(p.c, p.s);
			CU_ASSERT_NOT_EQUAL(wfs_secchan_state(p.s),
					    WFS_SECCHAN_OPEN);
			CU_ASSERT_NOT_EQUAL(wfs_secchan_state(p.c),
					    WFS_SECCHAN_OPEN);
			if (byte < 4)
				CU_ASSERT_EQUAL(wfs_secchan_error(p.s),
						-EPROTO);
			pair_free(&p);
		}
	}
}

static void test_replay(void)
{
	const uint8_t *f;
	size_t n, len;
	uint8_t *frame;
	struct pair p;

	pair_open(&p);
	frame = seal_copy(p.c, "once", 4, &n);
	CU_ASSERT_EQUAL(wfs_secchan_feed(p.s, frame, n), 0);
	CU_ASSERT_EQUAL(wfs_secchan_recv(p.s, &f, &len), 1);
	CU_ASSERT_EQUAL(wfs_secchan_feed(p.s, frame, n), 0);
	CU_ASSERT_EQUAL(wfs_secchan_recv(p.s, &f, &len), -EBADMSG);
	CU_ASSERT_STRING_EQUAL(wfs_secchan_reason(p.s),
			       "frame failed to authenticate");
	wfs_free(frame);
	pair_free(&p);
}

/* A frame from one connection means nothing on another, even between the
 * same two nodes. */
static void test_replay_across_connections(void)
{
	const uint8_t *f;
	size_t n, len;
	uint8_t *frame;
	struct pair p, q;

	pair_open(&p);
	pair_open(&q);
	frame = seal_copy(p.c, "elsewhere", 9, &n);
	CU_ASSERT_EQUAL(wfs_secchan_feed(q.s, frame, n), 0);
	CU_ASSERT_EQUAL(wfs_secchan_recv(q.s, &f, &len), -EBADMSG);
	wfs_free(frame);
	pair_free(&p);
	pair_free(&q);
}

static void test_reorder_and_drop(void)
{
	const uint8_t *f;
	size_t n1, n2, len;
	uint8_t *f1, *f2;
	struct pair p;

	/* Reordered. */
	pair_open(&p);
	f1 = seal_copy(p.c, "first", 5, &n1);
	f2 = seal_copy(p.c, "second", 6, &n2);
	CU_ASSERT_EQUAL(wfs_secchan_feed(p.s, f2, n2), 0);
	CU_ASSERT_EQUAL(wfs_secchan_feed(p.s, f1, n1), 0);
	CU_ASSERT_EQUAL(wfs_secchan_recv(p.s, &f, &len), -EBADMSG);
	wfs_free(f1);
	wfs_free(f2);
	pair_free(&p);

	/* Dropped. */
	pair_open(&p);
	f1 = seal_copy(p.c, "first", 5, &n1);
	f2 = seal_copy(p.c, "second", 6, &n2);
	CU_ASSERT_EQUAL(wfs_secchan_feed(p.s, f2, n2), 0);
	CU_ASSERT_EQUAL(wfs_secchan_recv(p.s, &f, &len), -EBADMSG);
	wfs_free(f1);
	wfs_free(f2);
	pair_free(&p);
}

/* A frame fed a byte at a time comes out once, whole, at its last byte. */
static void test_truncated(void)
{
	uint8_t msg[300];
	const uint8_t *f;
	size_t n, len;
	uint8_t *frame;
	struct pair p;

	wfs_test_fill(&rng, msg, sizeof(msg));
	pair_open(&p);
	frame = seal_copy(p.c, msg, sizeof(msg), &n);
	for (size_t i = 0; i + 1 < n; i++) {
		CU_ASSERT_EQUAL(wfs_secchan_feed(p.s, frame + i, 1), 0);
		CU_ASSERT_EQUAL(wfs_secchan_recv(p.s, &f, &len), 0);
	}
	CU_ASSERT_EQUAL(wfs_secchan_state(p.s), WFS_SECCHAN_OPEN);
	CU_ASSERT_EQUAL(wfs_secchan_feed(p.s, frame + n - 1, 1), 0);
	CU_ASSERT_EQUAL_FATAL(wfs_secchan_recv(p.s, &f, &len), 1);
	CU_ASSERT_EQUAL(len, sizeof(msg));
	CU_ASSERT_EQUAL(memcmp(f, msg, sizeof(msg)), 0);
	wfs_free(frame);
	pair_free(&p);
}

/* The handshake also survives being fed one byte at a time. */
static void test_handshake_byte_by_byte(void)
{
	struct pair p;
	const uint8_t *out;
	size_t n;

	pair_new(&p);
	for (int round = 0; round < 4; round++) {
		while ((n = wfs_secchan_output(p.c, &out)) > 0) {
			CU_ASSERT_EQUAL(wfs_secchan_feed(p.s, out, 1), 0);
			wfs_secchan_consumed(p.c, 1);
		}
		while ((n = wfs_secchan_output(p.s, &out)) > 0) {
			CU_ASSERT_EQUAL(wfs_secchan_feed(p.c, out, 1), 0);
			wfs_secchan_consumed(p.s, 1);
		}
	}
	CU_ASSERT_EQUAL(wfs_secchan_state(p.c), WFS_SECCHAN_OPEN);
	CU_ASSERT_EQUAL(wfs_secchan_state(p.s), WFS_SECCHAN_OPEN);
	pair_free(&p);
}

static void test_bad_magic_and_version(void)
{
	struct allow any = { .any = true };
	struct wfs_secchan *s;
	uint8_t hello[40] = "WFSN";

	/* Wrong magic: an HTTP client, say. */
	CU_ASSERT_EQUAL_FATAL(wfs_secchan_new(WFS_SECCHAN_SERVER, bob.pk,
					      bob.sk, admit, &any, &s), 0);
	CU_ASSERT_EQUAL(wfs_secchan_feed(s, "GET / HTTP/1.1\r\n\r\n"
					    "......................", 40),
			-EPROTO);
	CU_ASSERT_EQUAL(wfs_secchan_state(s), WFS_SECCHAN_FAILED);
	wfs_secchan_free(s);

	/* Version 0 does not exist. */
	hello[4] = 0;
	wfs_test_fill(&rng, hello + 8, 32);
	CU_ASSERT_EQUAL_FATAL(wfs_secchan_new(WFS_SECCHAN_SERVER, bob.pk,
					      bob.sk, admit, &any, &s), 0);
	CU_ASSERT_EQUAL(wfs_secchan_feed(s, hello, sizeof(hello)), -EPROTO);
	CU_ASSERT_STRING_EQUAL(wfs_secchan_reason(s),
			       "unsupported protocol version");
	wfs_secchan_free(s);

	/* A later version is answered in version 1: the hello is taken and
	 * the server goes on to its auth frame. */
	hello[4] = 7;
	CU_ASSERT_EQUAL_FATAL(wfs_secchan_new(WFS_SECCHAN_SERVER, bob.pk,
					      bob.sk, admit, &any, &s), 0);
	CU_ASSERT_EQUAL(wfs_secchan_feed(s, hello, sizeof(hello)), 0);
	CU_ASSERT_EQUAL(wfs_secchan_state(s), WFS_SECCHAN_HANDSHAKE);
	wfs_secchan_free(s);
}

static void test_oversized_length(void)
{
	const uint8_t *f;
	size_t len;
	struct pair p;
	uint8_t hdr[4];
	uint32_t too_long = MAX_CT + 1;

	pair_open(&p);
	hdr[0] = too_long >> 24;
	hdr[1] = too_long >> 16;
	hdr[2] = too_long >> 8;
	hdr[3] = too_long;
	/* Refused from the 4 length bytes alone, without waiting for them. */
	CU_ASSERT_EQUAL(wfs_secchan_feed(p.s, hdr, 4), 0);
	CU_ASSERT_EQUAL(wfs_secchan_recv(p.s, &f, &len), -EMSGSIZE);
	pair_free(&p);

	/* Shorter than a tag cannot be a frame. */
	pair_open(&p);
	memset(hdr, 0, 4);
	hdr[3] = 15;
	CU_ASSERT_EQUAL(wfs_secchan_feed(p.s, hdr, 4), 0);
	CU_ASSERT_EQUAL(wfs_secchan_recv(p.s, &f, &len), -EBADMSG);
	pair_free(&p);

	/* Also in the handshake: an auth frame announced too long reaches
	 * the client right after the server's genuine hello. */
	pair_new(&p);
	move(p.c, p.s);
	{
		const uint8_t *out;

		CU_ASSERT_FATAL(wfs_secchan_output(p.s, &out) > 40);
		CU_ASSERT_EQUAL(wfs_secchan_feed(p.c, out, 40), 0);
		hdr[0] = too_long >> 24;
		hdr[1] = too_long >> 16;
		hdr[2] = too_long >> 8;
		hdr[3] = too_long;
		CU_ASSERT_EQUAL(wfs_secchan_feed(p.c, hdr, 4), -EMSGSIZE);
	}
	pair_free(&p);
}

/* Random bytes from the first byte on, and random bytes after a genuine
 * hello: never a crash, never an open channel. */
static void test_garbage(void)
{
	struct allow any = { .any = true };
	uint8_t junk[512];
	const uint8_t *f, *hello;
	size_t len;

	for (int i = 0; i < 2000; i++) {
		struct wfs_secchan *s, *c = NULL;
		size_t n = wfs_test_rand(&rng) % sizeof(junk);
		bool after_hello = i & 1;

		wfs_test_fill(&rng, junk, n);
		/* Half the time the junk length word is small enough that the
		 * channel waits for a body; make some of it look plausible. */
		if (n >= 4 && (i & 2))
			junk[0] = junk[1] = 0;
		CU_ASSERT_EQUAL_FATAL(wfs_secchan_new(WFS_SECCHAN_SERVER,
						      bob.pk, bob.sk, admit,
						      &any, &s), 0);
		if (after_hello) {
			CU_ASSERT_EQUAL_FATAL(wfs_secchan_new(
				WFS_SECCHAN_CLIENT, alice.pk, alice.sk, admit,
				&any, &c), 0);
			CU_ASSERT_EQUAL(wfs_secchan_output(c, &hello), 40);
			CU_ASSERT_EQUAL(wfs_secchan_feed(s, hello, 40), 0);
		}
		for (size_t off = 0; off < n;) {
			size_t step = 1 + wfs_test_rand(&rng) % 64;

			if (step > n - off)
				step = n - off;
			wfs_secchan_feed(s, junk + off, step);
			off += step;
			while (wfs_secchan_recv(s, &f, &len) == 1)
				CU_FAIL("garbage yielded a frame");
		}
		CU_ASSERT_NOT_EQUAL(wfs_secchan_state(s), WFS_SECCHAN_OPEN);
		if (wfs_secchan_state(s) == WFS_SECCHAN_FAILED)
			CU_ASSERT(wfs_secchan_error(s) < 0);
		CU_ASSERT_EQUAL(any.calls, 0);
		wfs_secchan_free(s);
		wfs_secchan_free(c);
	}
}

/* Out of memory at each allocation of a handshake and a frame: every step
 * fails cleanly (SAN=1 checks nothing leaks), then all works again. */
static void test_out_of_memory(void)
{
	struct allow any = { .any = true };
	struct wfs_secchan *s;

	for (long n = 0; n < 2; n++) {
		wfs_mem_fail_after(n);
		CU_ASSERT_EQUAL(wfs_secchan_new(WFS_SECCHAN_SERVER, bob.pk,
						bob.sk, admit, &any, &s),
				-ENOMEM);
		wfs_mem_fail_after(-1);
	}
	for (long n = 0; n < 8; n++) {
		struct pair p;

		pair_new(&p);
		wfs_mem_fail_after(n);
		pump(p.c, p.s);
		if (wfs_secchan_state(p.s) == WFS_SECCHAN_OPEN)
			wfs_secchan_seal(p.s, "x", 1);
		wfs_mem_fail_after(-1);
		if (wfs_secchan_state(p.c) == WFS_SECCHAN_FAILED ||
		    wfs_secchan_state(p.s) == WFS_SECCHAN_FAILED)
			CU_ASSERT(wfs_secchan_error(p.c) == -ENOMEM ||
				  wfs_secchan_error(p.s) == -ENOMEM);
		pair_free(&p);
	}
	{
		struct pair p;

		pair_open(&p);
		wfs_mem_fail_after(0);
		CU_ASSERT_EQUAL(wfs_secchan_seal(p.c, "x", 1), 0);
		CU_ASSERT_EQUAL(wfs_secchan_seal(p.c, (char[8192]){ 0 }, 8192),
				-ENOMEM);
		wfs_mem_fail_after(-1);
		CU_ASSERT_EQUAL(wfs_secchan_state(p.c), WFS_SECCHAN_OPEN);
		pair_free(&p);
	}
}

static CU_TestInfo secchan_tests[] = {
	{ "handshake and data both ways", test_handshake_and_data },
	{ "seal before open", test_seal_before_open },
	{ "unknown client refused", test_unknown_client },
	{ "unknown server refused", test_unknown_server },
	{ "flipped bit in every byte", test_flipped_bits },
	{ "altered hello", test_altered_hello },
	{ "replayed frame", test_replay },
	{ "replay across connections", test_replay_across_connections },
	{ "reordered and dropped frames", test_reorder_and_drop },
	{ "truncated stream", test_truncated },
	{ "handshake byte by byte", test_handshake_byte_by_byte },
	{ "bad magic and version", test_bad_magic_and_version },
	{ "oversized length", test_oversized_length },
	{ "garbage", test_garbage },
	{ "out of memory", test_out_of_memory },
	CU_TEST_INFO_NULL,
};

WFS_TEST_SUITE("secchan", secchan_tests, suite_init, NULL)
