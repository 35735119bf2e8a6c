/* storaged/transfer: chunk transfers between nodes (see transfer.h).
 *
 * Not for: choosing where chunks go (placement, repair), the transport's
 * security (net/link.h), or the chunk files (storaged/chunkstore.h).
 *
 * Wire format, version 1.  Every message on channel WFS_NET_TYPE_CHUNK is
 * exactly one msgpack array, nothing before or after it:
 *
 *   [version, op, id, field...]
 *
 *   version  u32, 1.  The array and its first three elements are the one
 *            part no future version may change.
 *   op       u32: requests READ 1, WRITE 2, STAT 3, WRITE_TO 4; replies
 *            OK 0x80, ERR 0x81, STAT 0x82, READ 0x83, DATA 0x84.
 *   id       u64, chosen by the requester: unique among its requests on
 *            the link (a counter); every reply carries its request's id.
 *   field... exactly these per op:
 *     READ   stripe_id u64, version u64, index u32, off u64, len u64.
 *            Answered by one READ reply with the chunk's header and the
 *            first piece of data from @off, then DATA replies, each piece
 *            where the last ended, until min(len, data_len - off) bytes
 *            went; or by one ERR (EINVAL: off beyond the data).
 *     WRITE  header bytes, off u64, data bytes.  A chunk goes as one
 *            WRITE per piece of its data, in order, all with the same id
 *            and the same header: @off is where the piece starts (0, then
 *            where the last one ended); the piece that reaches the
 *            header's data length completes it (a chunk of no data is one
 *            empty piece).  Answered by OK once the receiver stored it
 *            durably, or ERR (EBADMSG: header or data fail their CRC).
 *            An ERR may come before the last piece went: the sender then
 *            stops, and the receiver drops pieces of writes it does not
 *            hold (a piece at @off > 0 of an unknown id).
 *     STAT   stripe_id u64, version u64, index u32.  Answered by STAT or
 *            ERR (ENOENT: not held).
 *     WRITE_TO header bytes, off u64, data bytes, disk bytes(1..32): a
 *            WRITE onto the receiver's disk of that id (as the disk's
 *            marker names it), never another: what a mover needs, since
 *            the metadata must name the disk a chunk is on.  Every piece
 *            names the same disk.  Answered as WRITE, or ERR ENOENT (no
 *            such disk there), EIO (it is offline), ENOSPC (full),
 *            EALREADY (that disk holds this chunk already), EEXIST (it
 *            holds another chunk of the stripe version, or another disk
 *            there holds this chunk).
 *            Unlike WRITE it never replaces a copy: a file the metadata
 *            does not name as the chunk's may be garbage its collector is
 *            about to delete, and must not become the mover's copy.
 *            Added as a new request op: a node that predates it answers
 *            ERR EOPNOTSUPP.
 *     OK     (none)
 *     ERR    errno u32: a Linux errno value, 1..4095.
 *     STAT   data_len u32: the chunk's bytes of data.
 *     READ   header bytes, off u64, data bytes
 *     DATA   off u64, data bytes
 *   header   bytes(8..4096): a chunk header as chunk/format.h encodes it
 *            (80 bytes in chunk format 1), its own CRC included.
 *   data     bytes(0..PIECE), PIECE = 256 KiB: pieces keep each message
 *            well under WFS_NET_MSG_MAX, and let the calls that share a
 *            link take turns.
 *
 * Elements use msgpack's own formats (multi-byte numbers big-endian):
 * u32/u64 any unsigned form (positive fixint 00-7f, cc, cd, ce, cf) whose
 * value fits; bytes bin8 c4, bin16 c5 or bin32 c6; arrays fixarray 90-9f,
 * array16 dc or array32 dd.  Nothing else appears (nil, bool, str, map,
 * signed forms, ext).  Example, STAT of stripe 7 version 1 index 2 with id
 * 5 (7 bytes):
 *
 *   96 01 03 05 07 01 02
 *
 * Version rule.  The version goes up with any change an older node would
 * misread.  A request of another version is answered ERR EPROTONOSUPPORT
 * (in version 1); a reply of another version fails its call with
 * -EPROTONOSUPPORT.  A new request op may be added without a new version:
 * a node that does not know it answers ERR EOPNOTSUPP.  Anything else that
 * breaks the rules above (a field missing, extra or of another form, a
 * length beyond the bytes left, trailing bytes, a WRITE piece out of order
 * or past its chunk, a reply that does not fit its request) is malformed:
 * the receiver logs one warning and closes the link.  A reply to an id
 * nobody waits for (its call timed out) is dropped quietly.
 *
 * Decoding is a small strict reader of exactly these forms rather than
 * msgpack-c's unpacker, which allocates room for an array's elements from
 * its header alone: nothing is allocated and every length is checked
 * against the bytes left.  Encoding uses msgpack-c's packer.
 *
 * Threads.  The net thread parses every message: it queues requests for
 * the workers (a WRITE once all its pieces arrived), and copies reply data
 * straight into the waiting call's buffer.  Workers do the store's disk
 * I/O and send replies with wfs_net_send.  Client calls run on their
 * callers' threads and sleep on their own condition variable.  One lock,
 * t->lock, guards all shared state; nobody holds it across disk I/O or
 * while sleeping; the net may be called with it held (the net never calls
 * us while holding a lock of its own that such a call needs).
 *
 * What the server holds for peers is bounded: at most MAX_PENDING requests
 * queued or half-received, and write data within the write budget (a
 * write that does not fit is answered EAGAIN, which clients retry after a
 * pause).  A half-received write is dropped after the timeout.
 */
#include "storaged/transfer.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <msgpack/pack.h>

#include "log/log.h"
#include "mem/mem.h"
#include "net/link.h"
#include "net/mpread.h"
#include "storaged/chunkstore.h"

#define SUB "transfer"
#define FORMAT_VERSION 1

enum op {
	OP_READ = 1,
	OP_WRITE = 2,
	OP_STAT = 3,
	OP_WRITE_TO = 4,
	OP_REQUESTS,		/* one past the last request */
	R_OK = 0x80,
	R_ERR,
	R_STAT,
	R_READ,
	R_DATA,
	R_END,			/* one past the last reply */
};

/* The fields after the id; F_KEY is three elements. */
enum field {
	F_END = 0,
	F_KEY,
	F_OFF,
	F_LEN,
	F_HDR,
	F_DATA,
	F_ERRNO,
	F_SIZE,
	F_DISK,
};

#define FIELDS_MAX 4
#define PIECE (256u << 10)
/* Widest message without its data bytes: array 1, version 5, op 5, id 9,
 * header 2 + 80, off 9, data length 5, disk 2 + 32. */
#define MSG_OVERHEAD 160
#define MSG_MAX (PIECE + MSG_OVERHEAD)
#define HEADER_BIN_MAX 4096
#define ERRNO_MAX 4095

_Static_assert(MSG_MAX <= WFS_NET_MSG_MAX, "a piece must fit a message");

#define DEFAULT_WORKERS 2
#define MAX_WORKERS 8
#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_BUDGET (256u << 20)
/* Requests a server holds (queued, or writes half received) at once:
 * enough to keep the workers busy for every peer of a large cluster. */
#define MAX_PENDING 256
/* Links closed for a malformed message, remembered so the messages that
 * were already on their way do not log again. */
#define CLOSED_RING 64
#define SWEEP_MS 1000
/* Pauses: while the net's send queue is full, and between retries of a
 * busy peer (doubling). */
#define NOBUFS_PAUSE_MS 1
#define BUSY_PAUSE_MS 10
#define BUSY_PAUSE_MAX_MS 1000

/* One message, decoded; pointers point into the message. */
struct msg {
	uint32_t version;
	uint32_t op;
	uint64_t id;
	struct wfs_chunk_key key;
	uint64_t off, len;
	const uint8_t *hdr;
	uint32_t hdr_len;
	const uint8_t *data;
	uint32_t data_len;
	uint32_t err;
	uint32_t size;
	const uint8_t *disk;		/* WRITE_TO */
	uint32_t disk_len;
};

/* A request for the workers. */
struct job {
	struct job *next;
	uint64_t link, id;
	uint32_t op;
	bool cancelled;			/* by t->lock: the link ended */
	uint64_t deadline;		/* ms: give up sending replies */
	struct wfs_chunk_key key;	/* READ, STAT */
	uint64_t off, len;		/* READ */
	struct wfs_chunk_header hdr;	/* WRITE */
	uint8_t *data;			/* WRITE: hdr.data_len bytes, owned */
	size_t charged;			/* WRITE: bytes counted in t->held */
	char disk[WFS_DISK_ID_LEN + 1];	/* WRITE_TO: the disk; "" WRITE */
};

/* A WRITE whose pieces are still arriving. */
struct assembly {
	struct assembly *next;
	uint64_t link, id;
	uint64_t started;		/* ms */
	uint8_t raw[WFS_CHUNK_HEADER_SIZE];	/* the header as received */
	struct wfs_chunk_header hdr;
	uint8_t *data;			/* hdr.data_len bytes, owned */
	uint32_t got;
	size_t charged;
	uint32_t op;			/* OP_WRITE or OP_WRITE_TO */
	char disk[WFS_DISK_ID_LEN + 1];	/* WRITE_TO: the disk */
};

struct worker {
	struct wfs_transfer *t;
	pthread_t thread;
	uint8_t *out;			/* MSG_MAX bytes: replies built here */
	struct job *job;		/* running, by t->lock */
};

/* The link the client uses to one peer. */
struct peer {
	struct peer *next;
	uint8_t pk[WFS_SECCHAN_PK_LEN];
	char addr[WFS_NET_ADDR_MAX];
	uint64_t link;
};

/* A client call waiting for its reply; lives on its caller's stack.  The
 * net thread writes into it (and into buf) only while it is listed in
 * t->calls and not done, both under t->lock. */
struct call {
	struct call *next;
	uint64_t id, link;
	uint32_t op;
	bool done;
	int rc;
	pthread_cond_t cond;
	/* READ */
	struct wfs_chunk_key key;
	uint64_t off;
	size_t len, want, got;
	bool have_hdr;
	struct wfs_chunk_header *hdr;
	uint8_t *buf;
	/* STAT */
	uint32_t size;
};

/* What a client call asks, and what it got. */
struct req {
	uint32_t op;
	struct wfs_chunk_key key;	/* READ, STAT */
	uint64_t off;			/* READ */
	size_t len;
	struct wfs_chunk_header *hdr;
	void *buf;
	uint32_t data_len;		/* WRITE */
	const uint8_t *data;
	uint8_t raw[WFS_CHUNK_HEADER_SIZE];
	uint8_t *out;			/* WRITE: MSG_MAX bytes */
	const char *disk;		/* WRITE_TO: the disk id */
	size_t got;			/* READ: result */
	uint32_t size;			/* STAT: result */
};

struct wfs_transfer {
	/* set by wfs_transfer_new, then read-only */
	struct wfs_net *net;
	struct wfs_store *store;
	struct wfs_transfer_options opts;
	struct worker *workers;
	unsigned nworkers;

	pthread_mutex_t lock;
	pthread_cond_t work;		/* a job queued, or stopping */
	/* protected by lock */
	bool stopping;
	struct job *queue, **queue_tail;
	unsigned pending;		/* queued jobs + assemblies */
	struct assembly *assembling;
	size_t held;			/* write bytes held */
	uint64_t last_sweep;
	uint64_t closed[CLOSED_RING];
	unsigned closed_next;
	struct peer *peers;
	struct call *calls;
	uint64_t next_id;
};

/* ---- small helpers ---- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void pause_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The first bytes of a node key in hex, for log lines. */
static const char *pk_name(const uint8_t *pk, char buf[17])
{
	if (!pk)
		return "?";
	for (int i = 0; i < 8; i++)
		snprintf(buf + 2 * i, 3, "%02x", pk[i]);
	return buf;
}

static bool is_request(uint32_t op)
{
	return op >= 1 && op < R_OK;
}

/* ---- encoding ---- */

struct wbuf {
	uint8_t *data;
	size_t len, cap;
	bool overflow;
};

struct out {
	struct wbuf w;
	msgpack_packer pk;
};

static int put(void *data, const char *buf, size_t len)
{
	struct wbuf *w = data;

	if (len > w->cap - w->len) {
		w->overflow = true;
		return -1;
	}
	if (len)
		memcpy(w->data + w->len, buf, len);
	w->len += len;
	return 0;
}

/* Start a message of @op for request @id with @nelems elements after the
 * id, into @buf (@cap bytes). */
static void out_begin(struct out *o, uint8_t *buf, size_t cap, uint32_t op,
		      uint64_t id, unsigned nelems)
{
	o->w = (struct wbuf){ buf, 0, cap, false };
	msgpack_packer_init(&o->pk, &o->w, put);
	msgpack_pack_array(&o->pk, 3 + nelems);
	msgpack_pack_uint32(&o->pk, FORMAT_VERSION);
	msgpack_pack_uint32(&o->pk, op);
	msgpack_pack_uint64(&o->pk, id);
}

static void pack_bytes(struct out *o, const void *p, size_t len)
{
	msgpack_pack_bin(&o->pk, len);
	msgpack_pack_bin_body(&o->pk, p, len);
}

static void pack_key(struct out *o, const struct wfs_chunk_key *key)
{
	msgpack_pack_uint64(&o->pk, key->stripe_id);
	msgpack_pack_uint64(&o->pk, key->version);
	msgpack_pack_uint32(&o->pk, key->index);
}

/* Hand a built message to the net once.  Returns as wfs_net_send. */
static int out_send(struct wfs_transfer *t, uint64_t link, struct out *o)
{
	if (o->w.overflow)
		return -EMSGSIZE;
	return wfs_net_send(t->net, link, WFS_NET_TYPE_CHUNK, o->w.data,
			    o->w.len);
}

/* ---- decoding ---- */

static int rd_u32(struct wfs_mpread *r, uint32_t *v)
{
	uint64_t x;

	if (wfs_mpread_uint(r, UINT32_MAX, &x) < 0)
		return -EPROTO;
	*v = (uint32_t)x;
	return 0;
}

static int rd_field(struct wfs_mpread *r, enum field f, struct msg *m)
{
	switch (f) {
	case F_KEY:
		if (wfs_mpread_uint(r, UINT64_MAX, &m->key.stripe_id) < 0 ||
		    wfs_mpread_uint(r, UINT64_MAX, &m->key.version) < 0)
			return -EPROTO;
		return rd_u32(r, &m->key.index);
	case F_OFF:
		return wfs_mpread_uint(r, UINT64_MAX, &m->off);
	case F_LEN:
		return wfs_mpread_uint(r, UINT64_MAX, &m->len);
	case F_HDR:
		return wfs_mpread_bin(r, WFS_CHUNK_HEADER_PREFIX, HEADER_BIN_MAX,
			      &m->hdr, &m->hdr_len);
	case F_DATA:
		return wfs_mpread_bin(r, 0, PIECE, &m->data, &m->data_len);
	case F_ERRNO:
		if (rd_u32(r, &m->err) < 0 || m->err == 0 ||
		    m->err > ERRNO_MAX)
			return -EPROTO;
		return 0;
	case F_SIZE:
		return rd_u32(r, &m->size);
	case F_DISK:
		return wfs_mpread_bin(r, 1, WFS_DISK_ID_LEN, &m->disk, &m->disk_len);
	default:
		return -EPROTO;
	}
}

struct layout {
	uint32_t op;
	unsigned char fields[FIELDS_MAX + 1];
};

static const struct layout layouts[] = {
	{ OP_READ, { F_KEY, F_OFF, F_LEN } },
	{ OP_WRITE, { F_HDR, F_OFF, F_DATA } },
	{ OP_STAT, { F_KEY } },
	{ OP_WRITE_TO, { F_HDR, F_OFF, F_DATA, F_DISK } },
	{ R_OK, { F_END } },
	{ R_ERR, { F_ERRNO } },
	{ R_STAT, { F_SIZE } },
	{ R_READ, { F_HDR, F_OFF, F_DATA } },
	{ R_DATA, { F_OFF, F_DATA } },
};

static const unsigned char *layout_of(uint32_t op)
{
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
		if (layouts[i].op == op)
			return layouts[i].fields;
	return NULL;
}

/* Decode the @len bytes at @buf into *m.  Returns 0; -EPROTO if malformed;
 * -EPROTONOSUPPORT for another version and -EOPNOTSUPP for an unknown
 * request op (then only version, op and id are read, and valid). */
static int parse(const void *buf, size_t len, struct msg *m)
{
	struct wfs_mpread r = { buf, (const uint8_t *)buf + len };
	const unsigned char *lay;
	uint32_t n, elems = 0;

	memset(m, 0, sizeof(*m));
	if (wfs_mpread_array(&r, &n) < 0 || n < 3 || rd_u32(&r, &m->version) < 0 ||
	    m->version == 0 || rd_u32(&r, &m->op) < 0 || m->op == 0 ||
	    wfs_mpread_uint(&r, UINT64_MAX, &m->id) < 0)
		return -EPROTO;
	if (m->version != FORMAT_VERSION)
		return -EPROTONOSUPPORT;
	lay = layout_of(m->op);
	if (!lay)
		return is_request(m->op) ? -EOPNOTSUPP : -EPROTO;
	for (int i = 0; lay[i] != F_END; i++)
		elems += lay[i] == F_KEY ? 3 : 1;
	if (n != 3 + elems)
		return -EPROTO;
	for (int i = 0; lay[i] != F_END; i++)
		if (rd_field(&r, lay[i], m) < 0)
			return -EPROTO;
	return r.p == r.end ? 0 : -EPROTO;
}

/* ---- the local store ---- */

/* Read local chunk @key into *buf (grown as needed; *cap its size; the
 * caller frees it) and its header into *hdr.  Returns as wfs_store_read,
 * or -EFBIG, -ENOMEM. */
static int read_local(struct wfs_store *st, const struct wfs_chunk_key *key,
		      struct wfs_chunk_header *hdr, uint8_t **buf, size_t *cap)
{
	struct wfs_store_chunk c;
	size_t size;
	int rc = wfs_store_stat(st, key, &c);

	if (rc != 0)
		return rc;
	size = c.data_len;
	/* The chunk may be replaced between stat and read: one more try
	 * with the size its header gave. */
	for (int tries = 0; tries < 2; tries++) {
		if (size > WFS_TRANSFER_DATA_MAX)
			return -EFBIG;
		if (size > *cap || !*buf) {
			wfs_free(*buf);
			*cap = 0;
			*buf = wfs_malloc(size ? size : 1);
			if (!*buf)
				return -ENOMEM;
			*cap = size;
		}
		rc = wfs_store_read(st, key, hdr, *buf, *cap);
		if (rc != -EOVERFLOW)
			return rc;
		size = hdr->data_len;
	}
	return rc;
}

/* ---- server: queue and links (t->lock held) ---- */

static void job_free(struct job *j)
{
	if (!j)
		return;
	wfs_free(j->data);
	wfs_free(j);
}

static void push_job(struct wfs_transfer *t, struct job *j)
{
	j->next = NULL;
	*t->queue_tail = j;
	t->queue_tail = &j->next;
	t->pending++;
	pthread_cond_signal(&t->work);
}

static void drop_assembly(struct wfs_transfer *t, struct assembly **pp)
{
	struct assembly *a = *pp;

	*pp = a->next;
	t->held -= a->charged;
	t->pending--;
	wfs_free(a->data);
	wfs_free(a);
}

/* Everything of @link goes: the client's calls fail with @reason, the
 * server's work for it is dropped or cancelled. */
static void link_gone(struct wfs_transfer *t, uint64_t link, int reason)
{
	for (struct peer **pp = &t->peers; *pp;) {
		struct peer *p = *pp;

		if (p->link == link) {
			*pp = p->next;
			wfs_free(p);
		} else {
			pp = &p->next;
		}
	}
	for (struct call *c = t->calls; c; c = c->next) {
		if (c->link != link || c->done)
			continue;
		c->done = true;
		c->rc = reason;
		pthread_cond_signal(&c->cond);
	}
	for (struct assembly **pp = &t->assembling; *pp;)
		if ((*pp)->link == link)
			drop_assembly(t, pp);
		else
			pp = &(*pp)->next;
	t->queue_tail = &t->queue;
	for (struct job **pp = &t->queue; *pp;) {
		struct job *j = *pp;

		if (j->link == link) {
			*pp = j->next;
			t->held -= j->charged;
			t->pending--;
			job_free(j);
		} else {
			t->queue_tail = &j->next;
			pp = &j->next;
		}
	}
	for (unsigned i = 0; i < t->nworkers; i++)
		if (t->workers[i].job && t->workers[i].job->link == link)
			t->workers[i].job->cancelled = true;
}

static bool link_was_failed(const struct wfs_transfer *t, uint64_t link)
{
	for (unsigned i = 0; i < CLOSED_RING; i++)
		if (t->closed[i] == link)
			return true;
	return false;
}

/* The one warning of a link that broke the protocol, and its end. */
static void fail_link(struct wfs_transfer *t, uint64_t link,
		      const uint8_t *pk, const char *why)
{
	char name[17];

	wfs_log_warn(SUB, "link %llu with node %s: %s; closing",
		     (unsigned long long)link, pk_name(pk, name), why);
	t->closed[t->closed_next++ % CLOSED_RING] = link;
	wfs_net_close(t->net, link);
	link_gone(t, link, -EPROTO);
}

/* Drop writes whose sender has given up on them (its call timed out). */
static void sweep(struct wfs_transfer *t)
{
	uint64_t now = now_ms();

	if (now - t->last_sweep < SWEEP_MS)
		return;
	t->last_sweep = now;
	for (struct assembly **pp = &t->assembling; *pp;) {
		if (now - (*pp)->started <= t->opts.timeout_ms) {
			pp = &(*pp)->next;
			continue;
		}
		wfs_log_debug(SUB, "link %llu: write %llu incomplete after "
			      "%u ms; dropped", (unsigned long long)(*pp)->link,
			      (unsigned long long)(*pp)->id,
			      t->opts.timeout_ms);
		drop_assembly(t, pp);
	}
}

/* An answer from the net thread, at once; if the net cannot take it now
 * the requester times out. */
static void reply_err_now(struct wfs_transfer *t, uint64_t link,
			  uint64_t id, int err)
{
	uint8_t buf[32];
	struct out o;
	int rc;

	out_begin(&o, buf, sizeof(buf), R_ERR, id, 1);
	msgpack_pack_uint32(&o.pk, (uint32_t)-err);
	rc = out_send(t, link, &o);
	if (rc != 0)
		wfs_log_debug(SUB, "link %llu: cannot answer request %llu: %s",
			      (unsigned long long)link,
			      (unsigned long long)id, strerror(-rc));
}

/* ---- server: requests (net thread, t->lock held) ---- */

/* Whether one more request of @bytes write data may be held. */
static bool may_hold(const struct wfs_transfer *t, size_t bytes)
{
	if (t->pending >= MAX_PENDING)
		return false;
	return bytes == 0 || t->held == 0 ||
	       t->held + bytes <= t->opts.write_budget;
}

static struct job *job_new(struct wfs_transfer *t, uint64_t link,
			   const struct msg *m)
{
	struct job *j = wfs_calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->link = link;
	j->id = m->id;
	j->op = m->op;
	j->deadline = now_ms() + t->opts.timeout_ms;
	return j;
}

/* READ and STAT: straight to the workers. */
static int on_lookup(struct wfs_transfer *t, uint64_t link,
		     const struct msg *m, const char **why)
{
	struct job *j;

	(void)why;
	if (!may_hold(t, 0)) {
		reply_err_now(t, link, m->id, -EAGAIN);
		return 0;
	}
	j = job_new(t, link, m);
	if (!j) {
		reply_err_now(t, link, m->id, -ENOMEM);
		return 0;
	}
	j->key = m->key;
	j->off = m->off;
	j->len = m->len;
	push_job(t, j);
	return 0;
}

/* A complete write for the workers, onto disk @disk ("": the store
 * picks); takes @data (and its @charged bytes, already counted in
 * t->held) whatever happens. */
static void queue_write(struct wfs_transfer *t, uint64_t link,
			const struct msg *m, const struct wfs_chunk_header *hdr,
			const char *disk, uint8_t *data, size_t charged)
{
	struct job *j = job_new(t, link, m);

	if (!j) {
		t->held -= charged;
		wfs_free(data);
		reply_err_now(t, link, m->id, -ENOMEM);
		return;
	}
	j->hdr = *hdr;
	j->data = data;
	j->charged = charged;
	snprintf(j->disk, sizeof(j->disk), "%s", disk);
	push_job(t, j);
}

/* The disk a WRITE_TO piece names, as a string into @out ("" for a
 * WRITE). */
static void piece_disk(const struct msg *m, char out[WFS_DISK_ID_LEN + 1])
{
	if (m->disk_len)
		memcpy(out, m->disk, m->disk_len);
	out[m->disk_len] = 0;
}

/* The first piece of a write: check the header, take the memory, and
 * either queue the write or wait for the rest. */
static int start_write(struct wfs_transfer *t, uint64_t link,
		       const struct msg *m, const char **why)
{
	char disk[WFS_DISK_ID_LEN + 1];
	struct wfs_chunk_header hdr;
	struct assembly *a;
	uint8_t *data;
	int rc = wfs_chunk_header_decode(m->hdr, m->hdr_len, &hdr);

	if (rc == 0 && m->hdr_len != WFS_CHUNK_HEADER_SIZE)
		rc = -EBADMSG;	/* bytes after a version 1 header */
	if (rc == 0 && hdr.data_len > WFS_TRANSFER_DATA_MAX)
		rc = -EFBIG;
	if (rc == 0 && m->data_len > hdr.data_len) {
		*why = "write piece past its chunk";
		return -EPROTO;
	}
	if (rc == 0 && !may_hold(t, hdr.data_len))
		rc = -EAGAIN;
	data = rc == 0 ? wfs_malloc(hdr.data_len ? hdr.data_len : 1) : NULL;
	if (rc == 0 && !data)
		rc = -ENOMEM;
	if (rc != 0) {
		wfs_log_debug(SUB, "link %llu: write %llu refused: %s",
			      (unsigned long long)link,
			      (unsigned long long)m->id, strerror(-rc));
		reply_err_now(t, link, m->id, rc);
		return 0;
	}
	memcpy(data, m->data, m->data_len);
	t->held += hdr.data_len;
	piece_disk(m, disk);
	if (m->data_len == hdr.data_len) {
		queue_write(t, link, m, &hdr, disk, data, hdr.data_len);
		return 0;
	}
	a = wfs_calloc(1, sizeof(*a));
	if (!a) {
		t->held -= hdr.data_len;
		wfs_free(data);
		reply_err_now(t, link, m->id, -ENOMEM);
		return 0;
	}
	*a = (struct assembly){ .next = t->assembling, .link = link,
				.id = m->id, .started = now_ms(), .hdr = hdr,
				.data = data, .got = m->data_len,
				.charged = hdr.data_len, .op = m->op };
	memcpy(a->raw, m->hdr, WFS_CHUNK_HEADER_SIZE);
	memcpy(a->disk, disk, sizeof(disk));
	t->assembling = a;
	t->pending++;
	return 0;
}

static int on_write(struct wfs_transfer *t, uint64_t link,
		    const struct msg *m, const char **why)
{
	struct assembly **pp = &t->assembling, *a;
	char disk[WFS_DISK_ID_LEN + 1];

	while (*pp && ((*pp)->link != link || (*pp)->id != m->id))
		pp = &(*pp)->next;
	a = *pp;
	if (!a && m->off == 0)
		return start_write(t, link, m, why);
	if (!a) {
		/* The rest of a write refused or dropped before. */
		wfs_log_debug(SUB, "link %llu: piece of write %llu dropped",
			      (unsigned long long)link,
			      (unsigned long long)m->id);
		return 0;
	}
	piece_disk(m, disk);
	if (m->hdr_len != WFS_CHUNK_HEADER_SIZE ||
	    memcmp(m->hdr, a->raw, WFS_CHUNK_HEADER_SIZE) != 0 ||
	    m->op != a->op || strcmp(disk, a->disk) != 0 ||
	    m->off != a->got || m->data_len > a->hdr.data_len - a->got) {
		*why = "write piece out of order";
		return -EPROTO;
	}
	memcpy(a->data + a->got, m->data, m->data_len);
	a->got += m->data_len;
	if (a->got < a->hdr.data_len)
		return 0;
	*pp = a->next;
	t->pending--;
	queue_write(t, link, m, &a->hdr, a->disk, a->data, a->charged);
	wfs_free(a);
	return 0;
}

typedef int (*request_fn)(struct wfs_transfer *t, uint64_t link,
			  const struct msg *m, const char **why);

static const request_fn requests[OP_REQUESTS] = {
	[OP_READ] = on_lookup,
	[OP_WRITE] = on_write,
	[OP_STAT] = on_lookup,
	[OP_WRITE_TO] = on_write,
};

/* ---- client: replies (net thread, t->lock held) ---- */

static void complete(struct call *c, int rc)
{
	c->done = true;
	c->rc = rc;
	pthread_cond_signal(&c->cond);
}

static int rep_ok(struct call *c, const struct msg *m)
{
	(void)m;
	if (c->op != OP_WRITE && c->op != OP_WRITE_TO)
		return -EPROTO;
	complete(c, 0);
	return 0;
}

static int rep_err(struct call *c, const struct msg *m)
{
	complete(c, -(int)m->err);
	return 0;
}

static int rep_stat(struct call *c, const struct msg *m)
{
	if (c->op != OP_STAT)
		return -EPROTO;
	c->size = m->size;
	complete(c, 0);
	return 0;
}

/* A piece of read data at @off. */
static int take_piece(struct call *c, const struct msg *m)
{
	if (m->off != c->off + c->got || m->data_len > c->want - c->got)
		return -EPROTO;
	memcpy(c->buf + c->got, m->data, m->data_len);
	c->got += m->data_len;
	if (c->got == c->want)
		complete(c, 0);
	return 0;
}

static int rep_read(struct call *c, const struct msg *m)
{
	struct wfs_chunk_key k;
	int rc;

	if (c->op != OP_READ || c->have_hdr)
		return -EPROTO;
	rc = wfs_chunk_header_decode(m->hdr, m->hdr_len, c->hdr);
	if (rc != 0) {
		/* The peer's copy, not the protocol (or a newer format). */
		complete(c, rc);
		return 0;
	}
	k = wfs_chunk_header_key(c->hdr);
	if (k.stripe_id != c->key.stripe_id || k.version != c->key.version ||
	    k.index != c->key.index || c->off > c->hdr->data_len)
		return -EPROTO;
	c->have_hdr = true;
	c->want = c->hdr->data_len - c->off;
	if (c->want > c->len)
		c->want = c->len;
	return take_piece(c, m);
}

static int rep_data(struct call *c, const struct msg *m)
{
	if (c->op != OP_READ || !c->have_hdr)
		return -EPROTO;
	return take_piece(c, m);
}

typedef int (*reply_fn)(struct call *c, const struct msg *m);

static const reply_fn replies[R_END - R_OK] = {
	[R_OK - R_OK] = rep_ok,
	[R_ERR - R_OK] = rep_err,
	[R_STAT - R_OK] = rep_stat,
	[R_READ - R_OK] = rep_read,
	[R_DATA - R_OK] = rep_data,
};

static int on_reply(struct wfs_transfer *t, uint64_t link,
		    const struct msg *m, int parsed, const char **why)
{
	struct call *c = t->calls;

	while (c && (c->id != m->id || c->link != link || c->done))
		c = c->next;
	if (!c) {
		wfs_log_debug(SUB, "link %llu: reply to %llu, which nobody "
			      "waits for", (unsigned long long)link,
			      (unsigned long long)m->id);
		return 0;
	}
	if (parsed == -EPROTONOSUPPORT) {
		complete(c, -EPROTONOSUPPORT);
		return 0;
	}
	if (replies[m->op - R_OK](c, m) != 0) {
		*why = "reply does not fit its request";
		return -EPROTO;
	}
	return 0;
}

void wfs_transfer_on_msg(struct wfs_transfer *t, uint64_t link,
			 const uint8_t *pk, const void *buf, size_t len)
{
	const char *why = "malformed message";
	struct msg m;
	int parsed = parse(buf, len, &m), rc = parsed;

	pthread_mutex_lock(&t->lock);
	if (link_was_failed(t, link))
		goto out_unlock;
	sweep(t);
	if (parsed == -EPROTO)
		goto out_fail;
	if (!is_request(m.op))
		rc = on_reply(t, link, &m, parsed, &why);
	else if (parsed != 0)
		reply_err_now(t, link, m.id, parsed);
	else
		rc = requests[m.op](t, link, &m, &why);
	if (rc != -EPROTO)
		goto out_unlock;
out_fail:
	fail_link(t, link, pk, why);
out_unlock:
	pthread_mutex_unlock(&t->lock);
}

void wfs_transfer_on_close(struct wfs_transfer *t, uint64_t link,
			   const uint8_t *pk, int reason)
{
	(void)pk;
	pthread_mutex_lock(&t->lock);
	/* 0: this side closed it (a peer that moved, see get_link). */
	link_gone(t, link, reason ? reason : -ECONNABORTED);
	pthread_mutex_unlock(&t->lock);
}

/* ---- server: workers ---- */

/* Whether @j's link ended or the service stops: nobody wants its work. */
static bool job_stopped(struct wfs_transfer *t, struct job *j)
{
	bool stop;

	pthread_mutex_lock(&t->lock);
	stop = j->cancelled || t->stopping;
	pthread_mutex_unlock(&t->lock);
	return stop;
}

/* Send a reply of @j, waiting while the net's queue is full, unless the
 * link ends (the net would drop it), the service stops or the job's time
 * is up. */
static int job_send(struct worker *w, struct job *j, struct out *o)
{
	struct wfs_transfer *t = w->t;
	int rc;

	for (;;) {
		if (job_stopped(t, j))
			return -ECANCELED;
		rc = out_send(t, j->link, o);
		if (rc != -ENOBUFS)
			return rc;
		if (now_ms() >= j->deadline)
			return -ETIMEDOUT;
		pause_ms(NOBUFS_PAUSE_MS);
	}
}

static int job_err(struct worker *w, struct job *j, int err)
{
	struct out o;

	out_begin(&o, w->out, MSG_MAX, R_ERR, j->id, 1);
	msgpack_pack_uint32(&o.pk, (uint32_t)-err);
	return job_send(w, j, &o);
}

static void job_stat(struct worker *w, struct job *j)
{
	struct wfs_store_chunk c;
	struct out o;
	int rc = wfs_store_stat(w->t->store, &j->key, &c);

	if (rc != 0) {
		job_err(w, j, rc);
		return;
	}
	out_begin(&o, w->out, MSG_MAX, R_STAT, j->id, 1);
	msgpack_pack_uint32(&o.pk, c.data_len);
	job_send(w, j, &o);
}

static void job_write(struct worker *w, struct job *j)
{
	struct wfs_transfer *t = w->t;
	struct out o;
	int rc;

	unsigned disk;

	if (job_stopped(t, j))
		return;		/* its sender has failed it already */
	rc = wfs_chunk_verify(&j->hdr, j->data, j->hdr.data_len);
	if (rc == 0 && j->disk[0]) {
		rc = wfs_store_disk_find(t->store, j->disk, &disk);
		if (rc == 0)
			rc = wfs_store_write_to(t->store, disk, &j->hdr,
						j->data,
						WFS_STORE_WRITE_EXCL);
	} else if (rc == 0) {
		rc = wfs_store_write(t->store, &j->hdr, j->data, NULL);
	}
	if (rc != 0) {
		wfs_log_debug(SUB, "chunk %" PRIx64 " v%" PRIu64 "/%u from "
			      "link %llu refused: %s", j->hdr.stripe_id,
			      j->hdr.stripe_version, j->hdr.chunk_index,
			      (unsigned long long)j->link, strerror(-rc));
		job_err(w, j, rc);
		return;
	}
	out_begin(&o, w->out, MSG_MAX, R_OK, j->id, 0);
	job_send(w, j, &o);
}

/* Send @n bytes of @data (the chunk's, from @off on) in pieces. */
static void send_pieces(struct worker *w, struct job *j,
			const struct wfs_chunk_header *hdr,
			const uint8_t *data, size_t n)
{
	uint8_t raw[WFS_CHUNK_HEADER_SIZE];
	size_t sent = 0, piece;
	struct out o;

	wfs_chunk_header_encode(hdr, raw);
	do {
		piece = n - sent < PIECE ? n - sent : PIECE;
		if (sent == 0) {
			out_begin(&o, w->out, MSG_MAX, R_READ, j->id, 3);
			pack_bytes(&o, raw, sizeof(raw));
		} else {
			out_begin(&o, w->out, MSG_MAX, R_DATA, j->id, 2);
		}
		msgpack_pack_uint64(&o.pk, j->off + sent);
		pack_bytes(&o, data + j->off + sent, piece);
		if (job_send(w, j, &o) != 0)
			return;
		sent += piece;
	} while (sent < n);
}

static void job_read(struct worker *w, struct job *j)
{
	struct wfs_chunk_header hdr;
	uint8_t *data = NULL;
	size_t cap = 0, n;
	int rc = read_local(w->t->store, &j->key, &hdr, &data, &cap);

	if (rc == 0 && j->off > hdr.data_len)
		rc = -EINVAL;
	if (rc != 0) {
		wfs_log_debug(SUB, "chunk %" PRIx64 " v%" PRIu64 "/%u for link "
			      "%llu: %s", j->key.stripe_id, j->key.version,
			      j->key.index, (unsigned long long)j->link,
			      strerror(-rc));
		job_err(w, j, rc);
		goto out_free_data;
	}
	n = hdr.data_len - j->off;
	if (n > j->len)
		n = j->len;
	send_pieces(w, j, &hdr, data, n);
out_free_data:
	wfs_free(data);
}

typedef void (*job_fn)(struct worker *w, struct job *j);

static const job_fn jobs[OP_REQUESTS] = {
	[OP_READ] = job_read,
	[OP_WRITE] = job_write,
	[OP_STAT] = job_stat,
	[OP_WRITE_TO] = job_write,
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct wfs_transfer *t = w->t;
	struct job *j;

	pthread_setname_np(pthread_self(), "wfs-transfer");
	pthread_mutex_lock(&t->lock);
	for (;;) {
		while (!t->queue && !t->stopping)
			pthread_cond_wait(&t->work, &t->lock);
		if (t->stopping)
			break;
		j = t->queue;
		t->queue = j->next;
		if (!t->queue)
			t->queue_tail = &t->queue;
		t->pending--;
		w->job = j;
		pthread_mutex_unlock(&t->lock);
		jobs[j->op](w, j);
		pthread_mutex_lock(&t->lock);
		w->job = NULL;
		t->held -= j->charged;
		job_free(j);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

/* ---- life cycle ---- */

static void stop_workers(struct wfs_transfer *t, unsigned started)
{
	pthread_mutex_lock(&t->lock);
	t->stopping = true;
	pthread_cond_broadcast(&t->work);
	pthread_mutex_unlock(&t->lock);
	for (unsigned i = 0; i < started; i++)
		pthread_join(t->workers[i].thread, NULL);
}

static void free_state(struct wfs_transfer *t)
{
	while (t->queue) {
		struct job *j = t->queue;

		t->queue = j->next;
		job_free(j);
	}
	while (t->assembling)
		drop_assembly(t, &t->assembling);
	while (t->peers) {
		struct peer *p = t->peers;

		t->peers = p->next;
		wfs_free(p);
	}
	for (unsigned i = 0; i < t->nworkers; i++)
		wfs_free(t->workers[i].out);
	wfs_free(t->workers);
	pthread_cond_destroy(&t->work);
	pthread_mutex_destroy(&t->lock);
	wfs_free(t);
}

static int set_options(struct wfs_transfer_options *o,
		       const struct wfs_transfer_options *in)
{
	if (in)
		*o = *in;
	else
		memset(o, 0, sizeof(*o));
	if (o->workers > MAX_WORKERS)
		return -EINVAL;
	if (!o->workers)
		o->workers = DEFAULT_WORKERS;
	if (!o->timeout_ms)
		o->timeout_ms = DEFAULT_TIMEOUT_MS;
	if (!o->write_budget)
		o->write_budget = DEFAULT_BUDGET;
	return 0;
}

int wfs_transfer_new(struct wfs_net *net, struct wfs_store *store,
		     const struct wfs_transfer_options *opts,
		     struct wfs_transfer **out)
{
	struct wfs_transfer *t;
	unsigned started = 0;
	int rc;

	if (!net || !store)
		return -EINVAL;
	t = wfs_calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	rc = set_options(&t->opts, opts);
	if (rc != 0) {
		wfs_free(t);
		return rc;
	}
	t->net = net;
	t->store = store;
	t->queue_tail = &t->queue;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->work, NULL);
	t->workers = wfs_calloc(t->opts.workers, sizeof(*t->workers));
	if (!t->workers) {
		rc = -ENOMEM;
		goto out_free_state;
	}
	t->nworkers = t->opts.workers;
	for (unsigned i = 0; i < t->nworkers; i++) {
		t->workers[i].t = t;
		t->workers[i].out = wfs_malloc(MSG_MAX);
		if (!t->workers[i].out) {
			rc = -ENOMEM;
			goto out_free_state;
		}
	}
	for (; started < t->nworkers; started++) {
		rc = -pthread_create(&t->workers[started].thread, NULL,
				     worker_main, &t->workers[started]);
		if (rc != 0)
			goto out_stop_workers;
	}
	*out = t;
	return 0;

out_stop_workers:
	stop_workers(t, started);
out_free_state:
	free_state(t);
	return rc;
}

void wfs_transfer_free(struct wfs_transfer *t)
{
	if (!t)
		return;
	stop_workers(t, t->nworkers);
	free_state(t);
}

/* ---- client: calls ---- */

/* The link to the peer holding @pk at @addr, opened if there is none
 * (t->lock held).  A peer met at a new address gets a new link; the old
 * one closes once what was queued on it went. */
static int get_link(struct wfs_transfer *t, const char *addr,
		    const uint8_t *pk, uint64_t *link)
{
	struct peer **pp = &t->peers, *p;
	int rc;

	while (*pp && memcmp((*pp)->pk, pk, WFS_SECCHAN_PK_LEN) != 0)
		pp = &(*pp)->next;
	p = *pp;
	if (p && strcmp(p->addr, addr) != 0) {
		*pp = p->next;
		wfs_net_close(t->net, p->link);
		wfs_free(p);
		p = NULL;
	}
	if (!p) {
		if (strlen(addr) >= WFS_NET_ADDR_MAX)
			return -EINVAL;
		p = wfs_calloc(1, sizeof(*p));
		if (!p)
			return -ENOMEM;
		rc = wfs_net_open(t->net, addr, pk, &p->link);
		if (rc != 0) {
			wfs_free(p);
			return rc;
		}
		memcpy(p->pk, pk, WFS_SECCHAN_PK_LEN);
		snprintf(p->addr, sizeof(p->addr), "%s", addr);
		p->next = t->peers;
		t->peers = p;
	}
	*link = p->link;
	return 0;
}

/* List @c as waiting on the link to the peer, with a new id. */
static int call_begin(struct wfs_transfer *t, const char *addr,
		      const uint8_t *pk, struct call *c)
{
	int rc = -ESHUTDOWN;

	pthread_mutex_lock(&t->lock);
	if (!t->stopping)
		rc = get_link(t, addr, pk, &c->link);
	if (rc == 0) {
		c->id = ++t->next_id;
		c->next = t->calls;
		t->calls = c;
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

static void call_end(struct wfs_transfer *t, struct call *c)
{
	struct call **pp;

	pthread_mutex_lock(&t->lock);
	for (pp = &t->calls; *pp != c; pp = &(*pp)->next)
		;
	*pp = c->next;
	pthread_mutex_unlock(&t->lock);
}

static bool call_done(struct wfs_transfer *t, struct call *c)
{
	bool done;

	pthread_mutex_lock(&t->lock);
	done = c->done;
	pthread_mutex_unlock(&t->lock);
	return done;
}

/* Send a request message, waiting while the net's queue is full.
 * Returns 0 (also when the call ended meanwhile: its result tells),
 * -ETIMEDOUT, or the error of wfs_net_send. */
static int call_send(struct wfs_transfer *t, struct call *c, struct out *o,
		     uint64_t deadline)
{
	int rc;

	for (;;) {
		rc = out_send(t, c->link, o);
		if (rc != -ENOBUFS || call_done(t, c))
			return rc == -ENOBUFS ? 0 : rc;
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		pause_ms(NOBUFS_PAUSE_MS);
	}
}

/* Wait for @c's end until @deadline (ms); then it is done either way, so
 * the net thread leaves it alone.  Returns its result. */
static int call_wait(struct wfs_transfer *t, struct call *c,
		     uint64_t deadline)
{
	struct timespec ts = { (time_t)(deadline / 1000),
			       (long)(deadline % 1000) * 1000000 };
	int rc;

	pthread_mutex_lock(&t->lock);
	while (!c->done)
		if (pthread_cond_timedwait(&c->cond, &t->lock, &ts) ==
		    ETIMEDOUT && !c->done)
			complete(c, -ETIMEDOUT);
	rc = c->rc;
	pthread_mutex_unlock(&t->lock);
	return rc;
}

static int send_read(struct wfs_transfer *t, struct call *c,
		     struct req *r, uint64_t deadline)
{
	uint8_t buf[64];
	struct out o;

	out_begin(&o, buf, sizeof(buf), OP_READ, c->id, 5);
	pack_key(&o, &r->key);
	msgpack_pack_uint64(&o.pk, r->off);
	msgpack_pack_uint64(&o.pk, r->len);
	return call_send(t, c, &o, deadline);
}

static int send_stat(struct wfs_transfer *t, struct call *c,
		     struct req *r, uint64_t deadline)
{
	uint8_t buf[64];
	struct out o;

	out_begin(&o, buf, sizeof(buf), OP_STAT, c->id, 3);
	pack_key(&o, &r->key);
	return call_send(t, c, &o, deadline);
}

/* The pieces of a write, until all went or the call ended (an early
 * refusal, the link gone). */
static int send_write(struct wfs_transfer *t, struct call *c,
		      struct req *r, uint64_t deadline)
{
	size_t off = 0, piece;
	struct out o;
	int rc;

	do {
		piece = r->data_len - off < PIECE ? r->data_len - off : PIECE;
		out_begin(&o, r->out, MSG_MAX, r->op, c->id,
			  r->op == OP_WRITE_TO ? 4 : 3);
		pack_bytes(&o, r->raw, sizeof(r->raw));
		msgpack_pack_uint64(&o.pk, off);
		pack_bytes(&o, r->data + off, piece);
		if (r->op == OP_WRITE_TO)
			pack_bytes(&o, r->disk, strlen(r->disk));
		rc = call_send(t, c, &o, deadline);
		if (rc != 0)
			return rc;
		off += piece;
	} while (off < r->data_len && !call_done(t, c));
	return 0;
}

typedef int (*send_fn)(struct wfs_transfer *t, struct call *c,
		       struct req *r, uint64_t deadline);

static const send_fn senders[OP_REQUESTS] = {
	[OP_READ] = send_read,
	[OP_WRITE] = send_write,
	[OP_STAT] = send_stat,
	[OP_WRITE_TO] = send_write,
};

/* One try of request @r. */
static int attempt(struct wfs_transfer *t, const char *addr,
		   const uint8_t *pk, struct req *r, uint64_t deadline)
{
	struct call c = { .op = r->op, .key = r->key, .off = r->off,
			  .len = r->len, .hdr = r->hdr, .buf = r->buf };
	pthread_condattr_t attr;
	int rc;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&c.cond, &attr);
	pthread_condattr_destroy(&attr);
	rc = call_begin(t, addr, pk, &c);
	if (rc != 0)
		goto out_destroy_cond;
	rc = senders[r->op](t, &c, r, deadline);
	if (rc == 0)
		rc = call_wait(t, &c, deadline);
	call_end(t, &c);
	r->got = c.got;
	r->size = c.size;
out_destroy_cond:
	pthread_cond_destroy(&c.cond);
	return rc;
}

/* Run request @r, asking again while the peer is busy, within one
 * timeout. */
static int run(struct wfs_transfer *t, const char *addr, const uint8_t *pk,
	       struct req *r)
{
	uint64_t deadline = now_ms() + t->opts.timeout_ms;
	unsigned pause = BUSY_PAUSE_MS;
	int rc;

	if (!addr || !pk)
		return -EINVAL;
	for (;;) {
		rc = attempt(t, addr, pk, r, deadline);
		if (rc != -EAGAIN || now_ms() + pause >= deadline)
			return rc;
		pause_ms(pause);
		if (pause < BUSY_PAUSE_MAX_MS)
			pause *= 2;
	}
}

int wfs_transfer_read(struct wfs_transfer *t, const char *addr,
		      const uint8_t *pk, const struct wfs_chunk_key *key,
		      uint64_t off, size_t len, struct wfs_chunk_header *hdr,
		      void *buf, size_t *got)
{
	struct req r = { .op = OP_READ, .key = *key, .off = off, .len = len,
			 .hdr = hdr, .buf = buf };
	int rc;

	if (len && !buf)
		return -EINVAL;
	rc = run(t, addr, pk, &r);
	if (rc != 0)
		return rc;
	/* The peer's store checked it; a whole read is checked again here,
	 * end to end. */
	if (off == 0 && r.got == hdr->data_len) {
		rc = wfs_chunk_verify(hdr, buf, r.got);
		if (rc != 0)
			return rc;
	}
	*got = r.got;
	return 0;
}

/* WRITE, or WRITE_TO with @disk not NULL. */
static int write_chunk(struct wfs_transfer *t, const char *addr,
		       const uint8_t *pk, const char *disk,
		       const struct wfs_chunk_header *hdr, const void *data)
{
	struct req r = { .op = disk ? OP_WRITE_TO : OP_WRITE,
			 .data_len = hdr->data_len, .data = data,
			 .disk = disk };
	int rc;

	if (wfs_chunk_header_check(hdr) != 0 || (hdr->data_len && !data))
		return -EINVAL;
	if (disk && (!disk[0] || strlen(disk) > WFS_DISK_ID_LEN))
		return -EINVAL;
	if (hdr->data_len > WFS_TRANSFER_DATA_MAX)
		return -EFBIG;
	wfs_chunk_header_encode(hdr, r.raw);
	r.out = wfs_malloc(MSG_MAX);
	if (!r.out)
		return -ENOMEM;
	rc = run(t, addr, pk, &r);
	wfs_free(r.out);
	return rc;
}

int wfs_transfer_write(struct wfs_transfer *t, const char *addr,
		       const uint8_t *pk, const struct wfs_chunk_header *hdr,
		       const void *data)
{
	return write_chunk(t, addr, pk, NULL, hdr, data);
}

int wfs_transfer_write_to(struct wfs_transfer *t, const char *addr,
			  const uint8_t *pk, const char *disk_id,
			  const struct wfs_chunk_header *hdr, const void *data)
{
	if (!disk_id)
		return -EINVAL;
	return write_chunk(t, addr, pk, disk_id, hdr, data);
}

int wfs_transfer_stat(struct wfs_transfer *t, const char *addr,
		      const uint8_t *pk, const struct wfs_chunk_key *key,
		      uint32_t *data_len)
{
	struct req r = { .op = OP_STAT, .key = *key };
	int rc = run(t, addr, pk, &r);

	if (rc == 0)
		*data_len = r.size;
	return rc;
}

/* Move one chunk; *moved is its data length.  *buf, *cap: a buffer kept
 * across chunks. */
static int move_one(struct wfs_transfer *t, const char *addr,
		    const uint8_t *pk, const struct wfs_chunk_key *key,
		    uint8_t **buf, size_t *cap, uint32_t *moved)
{
	struct wfs_chunk_header hdr;
	uint32_t there;
	char name[17];
	int rc = read_local(t->store, key, &hdr, buf, cap);

	if (rc == 0)
		rc = wfs_transfer_write(t, addr, pk, &hdr, *buf);
	if (rc == 0)
		rc = wfs_transfer_stat(t, addr, pk, key, &there);
	if (rc == 0 && there != hdr.data_len) {
		wfs_log_debug(SUB, "chunk %" PRIx64 " v%" PRIu64 "/%u on node "
			      "%s: %u bytes there, %u here; kept",
			      key->stripe_id, key->version, key->index,
			      pk_name(pk, name), there, hdr.data_len);
		rc = -EIO;
	}
	if (rc != 0)
		return rc;
	*moved = hdr.data_len;
	rc = wfs_store_delete(t->store, key);
	/* Gone meanwhile: the peer holds it, which is what was asked. */
	return rc == -ENOENT ? 0 : rc;
}

int wfs_transfer_move(struct wfs_transfer *t, const char *addr,
		      const uint8_t *pk, const struct wfs_chunk_key *keys,
		      size_t n, wfs_transfer_progress_cb progress, void *arg)
{
	uint8_t *buf = NULL;
	size_t cap = 0;
	uint64_t bytes = 0;
	uint32_t moved;
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = move_one(t, addr, pk, &keys[i], &buf, &cap, &moved);
		if (rc != 0)
			break;
		bytes += moved;
		if (progress)
			rc = progress(arg, i + 1, n, bytes);
		if (rc > 0)
			rc = -ECANCELED;
	}
	wfs_free(buf);
	return rc;
}
